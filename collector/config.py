"""Collector settings: defaults overridden by the environment, validated once at start.

The environment is read by `from_environment` (``QAHUB_<FIELD>``, any case) and the values are
validated by pydantic. pydantic-settings did the same with a tenth of a second of imports
(asyncio among them), which every pytest session's delivery process paid for the embedded
collector.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from collector.errors import SettingsError

DEFAULT_DATABASE_URL = "sqlite:///.qahub/qahub.db"
MIB = 1024 * 1024


#: Other names a setting is read under, first found wins (the seed's name for the attachment limit).
ENV_NAMES = {"attachment_max_bytes": ("ATTACHMENT_MAX_BYTES", "QAHUB_ATTACHMENT_MAX_BYTES")}


def env_names(field: str) -> tuple[str, ...]:
    """The environment variables that set a field, the first found winning (the first, for messages)."""
    return ENV_NAMES.get(field, (f"QAHUB_{field.upper()}",))


def from_environment(model: type[BaseModel], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The values of model's fields that the environment sets (``QAHUB_<FIELD>``, any case)."""
    upper = {key.upper(): value for key, value in (os.environ if environ is None else environ).items()}
    found: dict[str, Any] = {}
    for field in model.model_fields:
        for key in env_names(field):
            if key in upper:
                found[field] = upper[key]
                break
    return found


class Settings(BaseModel):
    """Everything the collector can be told from the environment (`load_settings`).

    Tests build ``Settings(...)`` directly: the environment is not read then.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, min_length=1)
    storage_dir: Path = Path(".qahub/attachments")
    #: ``s3://bucket/prefix``: attachments in an S3-compatible store instead of ``storage_dir``.
    storage_url: str | None = None
    #: Answer downloads with a redirect to a presigned URL of the store (S3 only).
    storage_presign: bool = False
    storage_presign_ttl_s: int = Field(default=60, gt=0, le=7 * 24 * 3600)
    attachment_max_bytes: int = Field(default=10 * MIB, gt=0)
    max_batch: int = Field(default=1000, gt=0, le=100_000)
    max_body_bytes: int = Field(default=16 * MIB, gt=0)
    db_pool_size: int = Field(default=16, gt=0)
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0)
    #: Writes per second allowed per token; 0 switches the rate limit off.
    rate_limit_writes: float = Field(default=0.0, ge=0)
    rate_limit_burst: int = Field(default=50, gt=0)
    #: Signs the web page's session cookie; unset: a random key kept next to ``storage_dir``.
    secret_key: str | None = Field(default=None, min_length=16)
    session_max_age: int = Field(default=12 * 3600, gt=0)
    #: ``qahub serve`` prunes runs older than this many days once a day; 0 switches it off.
    retention_days: int = Field(default=0, ge=0)
    #: What the daily prune keeps whatever its age: the newest runs of each branch.
    retention_keep_last: int = Field(default=0, ge=0)

    @field_validator("storage_url")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        from collector.s3storage import parse_s3_url

        parse_s3_url(value)  # raises ValueError with the reason
        return value.strip()


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, under ``overrides``; explain a bad value in one sentence each."""
    try:
        return Settings(**{**from_environment(Settings), **overrides})
    except ValidationError as ex:
        problems = []
        for error in ex.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{env_names(name)[0]}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("Invalid setting " + "; ".join(problems)) from ex
