"""``qahub replay``: send what journals still hold, and mark it delivered."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .delivery import Delivery, send_all
from .errors import ClientError
from .journal import Journal, default_directory, load
from .transport import transport_for_url

BATCH_SIZE = 100


def journal_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to the journals in them; no paths means ``./.qahub/journal``."""
    given = list(paths)
    if not given:
        default = default_directory(Path.cwd())
        given = [default] if default.is_dir() else []
    files: list[Path] = []
    for path in given:
        files.extend(sorted(path.glob("*.jsonl")) if path.is_dir() else [path])
    return files


def replay(paths: list[Path], url: str | None, token: str | None, out: TextIO) -> int:
    """Send every journal's undelivered results; return an exit code.

    Safe to run twice: delivered results are marked and skipped, and the server's
    upsert never lets an older result overwrite a newer one.

    Returns:
        0 when nothing is left to send, 1 when something could not be delivered or
        was rejected, 2 when a journal cannot be read or has no URL to send to.
    """
    code = 0
    files = journal_files(paths)
    if not files:
        out.write("qahub replay: no journals found\n")
        return 0
    for path in files:
        code = max(code, _replay_one(path, url, token, out))
    return code


def _replay_one(path: Path, url: str | None, token: str | None, out: TextIO) -> int:
    try:
        state = load(path)
    except (OSError, ValueError) as ex:
        out.write(f"{path}: cannot read: {ex}\n")
        return 2
    if not state.pending:
        out.write(f"{path}: nothing to send ({state.delivered} delivered earlier)\n")
        return 0
    target = url or state.url
    if not target or not state.run_id:
        out.write(f"{path}: no URL to send to; pass --url\n")
        return 2
    try:
        transport = transport_for_url(target, token)
    except ClientError as ex:
        out.write(f"{path}: cannot open {target}: {ex.message}\n")
        return 2
    journal = Journal.reopen(state)
    try:
        delivery = Delivery(transport, journal, state.run_id, known_codes=None)
        remaining, error = send_all(delivery, state.pending, BATCH_SIZE)
    finally:
        journal.close()
        transport.close()
    stats = delivery.stats
    out.write(
        f"{path}: run {state.run_id} at {transport.url}: sent {stats.sent}, "
        f"rejected {len(stats.rejected)}, not delivered {len(remaining)}\n"
    )
    for code, message in stats.rejected:
        out.write(f"  rejected {code}: {message}\n")
    if error is not None:
        out.write(f"  not delivered: {error}\n")
    return 1 if remaining or stats.rejected else 0
