"""``/results/{id}/attachments`` and ``/attachments/{id}``: upload, list and download files."""

from __future__ import annotations

import unicodedata
from functools import partial
from typing import BinaryIO
from urllib.parse import quote

import falcon

from collector import attachments, multipart, responses
from collector.config import Settings
from collector.models import Attachment
from collector.resources.common import send
from collector.storage import Storage

#: Nothing in a downloaded file may run or load anything, even if a browser renders it.
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_RFC5987_SAFE = "!#$&+-.^_`|~"
DOWNLOAD_READ_BYTES = 256 * 1024
#: Raster images a browser may show in place; never SVG, which is active content.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class CappedReader:
    """A read-only file whose every read returns at most ``cap`` bytes.

    waitress's ``wsgi.file_wrapper`` reads as much as the socket's send buffer holds per send
    (``SO_SNDBUF``, up to 4 MiB on Linux), then reads it again to skip what went out; capping
    the reads keeps a download's memory near the cap instead.
    """

    def __init__(self, raw: BinaryIO, cap: int = DOWNLOAD_READ_BYTES) -> None:
        self.raw = raw
        self.cap = cap

    def read(self, size: int | None = -1) -> bytes:
        return self.raw.read(self.cap if size is None or size < 0 else min(size, self.cap))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def seekable(self) -> bool:
        return self.raw.seekable()

    def close(self) -> None:
        self.raw.close()


def content_disposition(file_name: str, kind: str = "attachment") -> str:
    """Build ``attachment`` (or ``inline``) with an ASCII fallback and the UTF-8 name (RFC 6266/5987)."""
    folded = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(c if c.isprintable() and c not in '"\\%' else "_" for c in folded)
    fallback = fallback.strip() or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe=_RFC5987_SAFE)}"


def _download_type(mime_type: str) -> str:
    # Text was checked to be UTF-8 on upload; saying so keeps clients from guessing.
    return f"{mime_type}; charset=utf-8" if mime_type == "text/plain" else mime_type


class ResultAttachments:
    """Upload files to a result; list a result's files."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.storage = storage
        self.limits = attachments.upload_limits(settings)

    def on_get(self, req: falcon.Request, resp: falcon.Response, result_id: str) -> None:
        found = attachments.list_attachments(req.context.project, result_id)
        send(resp, responses.AttachmentList(data=found))

    def on_post(self, req: falcon.Request, resp: falcon.Response, result_id: str) -> None:
        body = partial(multipart.receive_files, req.bounded_stream, req.content_type, req.content_length)
        saved = attachments.upload(req.context.project, result_id, body, self.storage, self.limits)
        send(resp, responses.AttachmentList(data=saved), falcon.HTTP_201)


class AttachmentItem:
    """Download one attachment's bytes with headers that keep a browser from running them.

    When the storage presigns (``QAHUB_STORAGE_PRESIGN=1``), the answer is a redirect to a
    short-lived URL of the object store that serves the file with the same type and disposition.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def on_get(self, req: falcon.Request, resp: falcon.Response, attachment_id: str) -> None:
        attachment = attachments.get_attachment(req.context.project, attachment_id)
        url = self.storage.download_url(
            attachment.storage_key,
            attachment.file_name,
            _download_type(attachment.mime_type),
            content_disposition(attachment.file_name),
        )
        if url is None:
            send_attachment(resp, self.storage, attachment)
            return
        resp.status = falcon.HTTP_307
        resp.location = url
        resp.set_headers({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def send_attachment(
    resp: falcon.Response, storage: Storage, attachment: Attachment, inline_images: bool = False
) -> None:
    """Stream an attachment with the safe headers; ``inline_images`` shows raster images in place."""
    kind = "inline" if inline_images and attachment.mime_type in INLINE_IMAGE_TYPES else "attachment"
    resp.stream = CappedReader(attachments.open_attachment(storage, attachment))
    resp.content_length = attachment.size
    resp.content_type = _download_type(attachment.mime_type)
    resp.set_headers(
        {
            "Content-Disposition": content_disposition(attachment.file_name, kind),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": DOWNLOAD_CSP,
            "Cache-Control": "private",
        }
    )
