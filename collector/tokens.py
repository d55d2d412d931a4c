"""API tokens: ``qh_<prefix>_<secret>``; only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from functools import cache

from collector.db import database, write_transaction
from collector.errors import Forbidden, NotFound, Unauthorized
from collector.models import ApiToken, Project, utcnow

SCOPES = ("read", "write")
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN_RE = re.compile(r"^qh_([a-z0-9]{8})_([A-Za-z0-9_-]{20,128})$")


def _hash(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is as strong as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(text: str) -> tuple[str, ...]:
    """Turn ``"read,write"`` into a tuple, refusing unknown scopes."""
    scopes = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be a comma-separated list of {', '.join(SCOPES)}")
    return scopes


def create_token(project: Project, scopes: tuple[str, ...], name: str = "") -> tuple[ApiToken, str]:
    """Create a token; return the row and the full token text (shown once, never stored)."""
    secret = secrets.token_urlsafe(32)
    with write_transaction():
        while True:
            prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
            if not ApiToken.select().where(ApiToken.prefix == prefix).exists():
                break
        token = ApiToken.create(
            project=project,
            prefix=prefix,
            secret_hash=_hash(secret),
            name=name,
            scopes=",".join(scopes),
        )
    return token, f"qh_{prefix}_{secret}"


def list_tokens() -> list[ApiToken]:
    """Every token of every project, oldest first, each with its project."""
    return list(ApiToken.select(ApiToken, Project).join(Project).order_by(ApiToken.created_at))


def authenticate(header: str | None) -> ApiToken:
    """Return the live token named by an ``Authorization`` header, or raise 401."""
    if not header:
        raise Unauthorized("Missing Authorization header: send 'Authorization: Bearer qh_...'")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization must be 'Bearer qh_<prefix>_<secret>'")
    match = _TOKEN_RE.match(value.strip())
    if not match:
        raise Unauthorized("Malformed token: expected qh_<prefix>_<secret>")
    prefix, secret = match.groups()
    token = _token_by_prefix(prefix)
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
        raise Unauthorized("Unknown token")
    if token.revoked_at is not None:
        raise Unauthorized("This token has been revoked")
    return token


_TOKEN_COLUMNS = ("id", "prefix", "secret_hash", "name", "scopes", "created_at", "revoked_at")
_PROJECT_COLUMNS = ("id", "key", "name", "created_at")


@cache
def _token_sql(param: str) -> str:
    picks = [f't."{c}"' for c in _TOKEN_COLUMNS] + [f'p."{c}"' for c in _PROJECT_COLUMNS]
    return (
        f'SELECT {", ".join(picks)} FROM "{ApiToken._meta.table_name}" t '
        f'JOIN "{Project._meta.table_name}" p ON p."id" = t."project_id" WHERE t."prefix" = {param}'
    )


def _token_by_prefix(prefix: str) -> ApiToken | None:
    """The token with ``prefix`` and its project, in one statement written once (every request asks)."""
    row = database.execute_sql(_token_sql(database.param), (prefix,)).fetchone()
    if row is None:
        return None
    split = len(_TOKEN_COLUMNS)
    project = Project.from_row(_PROJECT_COLUMNS, row[split:])
    return ApiToken.from_row(_TOKEN_COLUMNS, row[:split], project=project)


def require_scope(token: ApiToken, scope: str) -> None:
    """Raise 403 unless ``token`` carries ``scope``."""
    if scope not in token.scope_set:
        raise Forbidden(f"This token lacks the '{scope}' scope")


def revoke(prefix: str) -> ApiToken:
    """Revoke the token with ``prefix``; revoking twice is harmless."""
    with write_transaction():
        token = ApiToken.get_or_none(ApiToken.prefix == prefix)
        if token is None:
            raise NotFound(f"No token with prefix '{prefix}'")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            token.save()
    return token
