"""Collector settings: defaults overridden by the environment, validated once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.errors import SettingsError

DEFAULT_DATABASE_URL = "sqlite:///.qahub/qahub.db"
MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything the collector can be told from the environment.

    Tests build ``Settings(...)`` directly instead of patching the environment.
    """

    model_config = SettingsConfigDict(env_prefix="QAHUB_", frozen=True, extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, min_length=1)
    storage_dir: Path = Path(".qahub/attachments")
    #: ``s3://bucket/prefix``: attachments in an S3-compatible store instead of ``storage_dir``.
    storage_url: str | None = None
    #: Answer downloads with a redirect to a presigned URL of the store (S3 only).
    storage_presign: bool = False
    storage_presign_ttl_s: int = Field(default=60, gt=0, le=7 * 24 * 3600)
    attachment_max_bytes: int = Field(
        default=10 * MIB,
        gt=0,
        validation_alias=AliasChoices("ATTACHMENT_MAX_BYTES", "QAHUB_ATTACHMENT_MAX_BYTES"),
    )
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
    """Read settings from the environment; explain a bad value in one sentence each."""
    try:
        return Settings(**overrides)
    except ValidationError as ex:
        problems = []
        for error in ex.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            env = "ATTACHMENT_MAX_BYTES" if name == "attachment_max_bytes" else f"QAHUB_{name.upper()}"
            problems.append(f"{env}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("Invalid setting " + "; ".join(problems)) from ex
