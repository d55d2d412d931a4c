"""The web page's session: a signed cookie holding a CSRF value and, once signed in, a session id.

Signing in stores a session row (a hash of its random id, the token's id, an expiry) and puts
the id in the cookie, never the token; signing out deletes the row, so a copy of the cookie
stops working at once. The cookie is signed (not encrypted) with the collector's secret key:
``QAHUB_SECRET_KEY`` when set, else a random key kept in a ``secret_key`` file next to the
attachments directory, so a restart keeps everyone signed in. Several collectors behind one
load balancer need the same ``QAHUB_SECRET_KEY``. The session and its token are looked up on
every request, so revoking a token ends its sessions at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import falcon
from itsdangerous import BadSignature, URLSafeTimedSerializer

from collector.config import Settings
from collector.db import write_transaction
from collector.errors import SettingsError
from collector.models import ApiToken, Project, WebSession, utcnow
from collector.storage import make_private_dirs

COOKIE = "qahub_session"
KEY_FILE = "secret_key"
MIN_KEY_CHARS = 16
_SALT = "qahub.web.session"


@dataclass(frozen=True)
class Session:
    """What the cookie says: a CSRF value, and the session id once signed in (``None`` before)."""

    csrf: str
    session_id: str | None = None


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
    make_private_dirs(path.parent)
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
                session_id = data.get("s")
                return Session(data["c"], session_id if isinstance(session_id, str) else None)
        return None

    def write(self, req: falcon.Request, resp: falcon.Response, session: Session) -> None:
        """Set the cookie: HttpOnly, SameSite=Strict, whole site, Secure when served over https."""
        data = (
            {"c": session.csrf}
            if session.session_id is None
            else {"c": session.csrf, "s": session.session_id}
        )
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


def new_session() -> Session:
    """Start an anonymous session: a fresh CSRF value for the sign-in form."""
    return Session(secrets.token_urlsafe(24))


def _row_id(session_id: str) -> str:
    # The row keeps a hash: reading the database does not yield a cookie that signs anyone in.
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(token: ApiToken, max_age: int) -> Session:
    """Store a signed-in session for ``token`` (and drop expired ones); return it, fresh CSRF value too."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction():
        WebSession.delete().where(WebSession.expires_at < now).execute()
        WebSession.create(
            id=_row_id(session_id),
            token=token.id,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=max_age),
        )
    return Session(secrets.token_urlsafe(24), session_id)


def sign_out(session: Session | None) -> None:
    """End a signed-in session on the server: its cookie, and every copy of it, stops working."""
    if session is not None and session.session_id is not None:
        with write_transaction():
            WebSession.delete().where(WebSession.id == _row_id(session.session_id)).execute()


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    """Tell whether a form carried its session's CSRF value."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def live_token(session: Session | None) -> ApiToken | None:
    """Return the session's token if the session is live and the token exists, is not revoked and may read."""
    if session is None or session.session_id is None:
        return None
    token = (
        ApiToken.select(ApiToken, Project)
        .join_from(ApiToken, Project)
        .join_from(ApiToken, WebSession)
        .where((WebSession.id == _row_id(session.session_id)) & (WebSession.expires_at > utcnow()))
        .first()
    )
    if token is None or token.revoked_at is not None or "read" not in token.scope_set:
        return None
    return token
