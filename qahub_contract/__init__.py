"""The results API's shared facts, defined once for the plugin and the collector.

``pytest_qahub`` and ``collector`` never import each other's code for these: both import this
package, which holds only constants and imports nothing.
"""

from __future__ import annotations

PASSED = "PASSED"
FAILED = "FAILED"
BROKEN = "BROKEN"
SKIPPED = "SKIPPED"
UNKNOWN = "UNKNOWN"
#: Every status a result can have.
RESULT_STATUSES = (PASSED, FAILED, BROKEN, SKIPPED, UNKNOWN)

#: The attachment types the collector accepts: label -> (MIME type, the extensions its names take).
ATTACHMENT_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "PNG": ("image/png", (".png",)),
    "JPG": ("image/jpeg", (".jpg", ".jpeg")),
    "GIF": ("image/gif", (".gif",)),
    "WebP": ("image/webp", (".webp",)),
    "SVG": ("image/svg+xml", (".svg",)),
    "PDF": ("application/pdf", (".pdf",)),
    "TXT": ("text/plain", (".txt", ".log")),
    "JSON": ("application/json", (".json",)),
    "ZIP": ("application/zip", (".zip",)),
    "MP4": ("video/mp4", (".mp4",)),
    "WebM": ("video/webm", (".webm",)),
}

#: The longest run name, and the longest value of each run tag, the collector accepts.
RUN_NAME_LIMIT = 200
RUN_TAG_LIMITS = {"environment": 200, "branch": 255, "commit": 100, "build_url": 2048}
