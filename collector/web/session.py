"""The web page's session: a signed cookie holding a token's id and a CSRF value, never the token.

The cookie is signed (not encrypted) with the collector's secret key: ``QAHUB_SECRET_KEY`` when
set, else a random key kept in a ``secret_key`` file next to the attachments directory, so a
restart keeps everyone signed in. Several collectors behind one load balancer need the same
``QAHUB_SECRET_KEY``. The token row is looked up on every request, so revoking a token ends its
sessions at once.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import falcon
from itsdangerous import BadSignature, URLSafeTimedSerializer

from collector.config import Settings, SettingsError
from collector.models import ApiToken, Project

COOKIE = "qahub_session"
KEY_FILE = "secret_key"
MIN_KEY_CHARS = 16
_SALT = "qahub.web.session"


@dataclass(frozen=True)
class Session:
    """What the cookie says: a CSRF value, and the signed-in token's id (``None`` before sign-in)."""

    csrf: str
    token_id: str | None = None


def secret_key(settings: Settings) -> str:
    """Return the configured key, or the key kept next to the storage directory (made once)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.storage_dir).expanduser().resolve().parent / KEY_FILE
    if not path.exists():
        _make_key_file(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < MIN_KEY_CHARS:
        raise SettingsError(
            f"{path} holds no usable key: delete it to make a new one, or set QAHUB_SECRET_KEY"
        )
    return key


def _make_key_file(path: Path) -> None:
    """Write a random key readable by the owner only; a collector starting alongside may win."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48))
        handle.flush()
        os.fsync(handle.fileno())  # the key is on disk before its name is
    try:
        os.link(temp, path)  # atomic and never overwrites an existing key
    except FileExistsError:
        pass  # another process made the key first; everyone uses that one
    finally:
        temp.unlink()


class SessionCodec:
    """Reads and writes the session cookie."""

    def __init__(self, settings: Settings) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key(settings), salt=_SALT)
        self.max_age = settings.session_max_age

    def read(self, req: falcon.Request) -> Session | None:
        """Return the request's session, or ``None`` when it has none, a forged or an expired one."""
        values = req.get_cookie_values(COOKIE) or []
        for value in values:
            try:
                data = self.serializer.loads(value, max_age=self.max_age)
            except BadSignature:
                continue
            if isinstance(data, dict) and isinstance(data.get("c"), str):
                token_id = data.get("t")
                return Session(data["c"], token_id if isinstance(token_id, str) else None)
        return None

    def write(self, req: falcon.Request, resp: falcon.Response, session: Session) -> None:
        """Set the cookie: HttpOnly, SameSite=Strict, whole site, Secure when served over https."""
        data = {"c": session.csrf} if session.token_id is None else {"c": session.csrf, "t": session.token_id}
        resp.set_cookie(
            COOKIE,
            self.serializer.dumps(data),
            max_age=self.max_age,
            path="/",
            secure=req.forwarded_scheme == "https",
            http_only=True,
            same_site="Strict",
        )

    def clear(self, resp: falcon.Response) -> None:
        """Remove the cookie."""
        resp.unset_cookie(COOKIE, path="/", same_site="Strict")


def new_session(token_id: str | None = None) -> Session:
    """Start a session with a fresh CSRF value (also on sign-in, so an old value dies with it)."""
    return Session(secrets.token_urlsafe(24), token_id)


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    """Tell whether a form carried its session's CSRF value."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def live_token(session: Session | None) -> ApiToken | None:
    """Return the session's token if it still exists, is not revoked and may read."""
    if session is None or session.token_id is None:
        return None
    token = ApiToken.select(ApiToken, Project).join(Project).where(ApiToken.id == session.token_id).first()
    if token is None or token.revoked_at is not None or "read" not in token.scope_set:
        return None
    return token
