"""The ``qahub`` commands that read and write a collector's data: runs, cases, results, replay.

Each is written once, on the `Transport`: with a collector URL (``--url`` or ``QAHUB_URL``,
the token in ``QAHUB_TOKEN``) it talks to the collector's API, without one it works on the
local database (``QAHUB_DATABASE_URL``, default ``.qahub/qahub.db``) through the embedded
collector. The ``qahub`` program (``collector/cli.py``) finds them through the
``qahub.commands`` entry point group (see ``setup.cfg``), so the collector never imports the
plugin; each entry point adds its command to the program's sub-command parsers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from qahub_contract import RUN_NAME_LIMIT, RUN_TAG_LIMITS

from ..errors import TRANSIENT_ERRORS, ClientError, QAHubError, ResponseError, SetupError
from ..validation import collector_url, run_label
from . import ci
from .checks import check_access
from .connect import connect
from .transport import Transport

#: Where the commands take a token from, for messages.
TOKEN_HINT = "QAHUB_TOKEN"

Action = Callable[[Transport, argparse.Namespace, TextIO], int]


class UsageError(QAHubError):
    """A command was given something it cannot use (exit code 2)."""


def _fail(message: str, code: int) -> int:
    print(f"qahub: {'error: ' if code == 2 else ''}{message}", file=sys.stderr)
    return code


@contextmanager
def _transport(args: argparse.Namespace, needs: tuple[str, ...]) -> Iterator[Transport]:
    """The collector the command works on: its API when a URL is given, else the local database.

    Raises:
        UsageError: The URL or a setting of the local database is invalid.
        SetupError: The URL is not a collector's, the token is missing, refused or lacks a
            scope in ``needs``, or ``--project`` names another project than the token's.
    """
    url = args.url or os.environ.get("QAHUB_URL") or None
    if url:
        where = "--url" if args.url else "QAHUB_URL"
        try:
            url = collector_url(url)
        except ValueError as ex:
            raise UsageError(f"Invalid {where} {url!r}: {ex}") from None
    token = os.environ.get("QAHUB_TOKEN") or None
    try:
        transport = connect(url, token, Path.cwd(), project=args.project)
    except ClientError as ex:  # a bad local setting, a missing CA bundle, no such project
        if ex.status == 404:
            raise
        raise UsageError(ex.message) from ex
    try:
        if url:
            me = check_access(transport, token is not None, needs, TOKEN_HINT)
            key = (me.get("project") or {}).get("key")
            if args.project and args.project != key:
                raise SetupError(
                    f"--project {args.project}: the token belongs to project {key!r}; "
                    "over the API the token decides the project"
                )
        yield transport
    finally:
        transport.close()


def _command(action: Action, needs: tuple[str, ...]) -> Callable[[argparse.Namespace, TextIO], int]:
    """Wrap an action: open its transport, turn every error into a message and an exit code."""

    def main(args: argparse.Namespace, out: TextIO) -> int:
        try:
            with _transport(args, needs) as transport:
                return action(transport, args, out)
        except (UsageError, SetupError) as ex:
            return _fail(str(ex), 2)
        except TRANSIENT_ERRORS as ex:
            return _fail(f"the collector cannot be reached or failed: {ex}", 1)
        except ResponseError as ex:  # a 400 is a request the command should not have made: usage
            return _fail(ex.message, 2 if ex.status == 400 else 1)
        except QAHubError as ex:
            return _fail(str(ex), 1)

    return main


def _table(headers: Sequence[str], rows: list[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(v)) for v in col) for col in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _when(iso: str | None) -> str:
    """``2026-05-13T12:00:00.000Z`` as ``2026-05-13 12:00:00``."""
    return (iso or "")[:19].replace("T", " ")


# --- run -------------------------------------------------------------------------------------


def _run_create(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    tags = ci.run_tags(os.environ, Path.cwd())
    for name, limit in RUN_TAG_LIMITS.items():
        value = getattr(args, name)
        if value is not None:
            try:
                tags[name] = run_label(value, limit)
            except ValueError as ex:
                raise UsageError(f"--{name.replace('_', '-')} {value!r}: {ex}") from None
    name = args.name or ""
    if name:
        try:
            name = run_label(name, RUN_NAME_LIMIT)
        except ValueError as ex:
            raise UsageError(f"--name {args.name!r}: {ex}") from None
    print(transport.create_run(name, tags)["id"], file=out)
    return 0


def _run_list(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    if not 1 <= args.limit <= 10_000:
        raise UsageError(f"--limit {args.limit}: must be between 1 and 10000")
    rows = [
        (
            run["id"],
            run.get("name") or "",
            run.get("status") or "",
            run.get("branch") or "",
            (run.get("commit") or "")[:12],
            _when(run.get("created_at")),
        )
        for run in transport.list_runs(args.limit)
    ]
    _table(("ID", "NAME", "STATUS", "BRANCH", "COMMIT", "CREATED"), rows, out)
    return 0


def _run_complete(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    transport.update_run(args.run_id, status="COMPLETED")
    print(f"Run {args.run_id} is COMPLETED", file=out)
    return 0


def add_run(commands: argparse._SubParsersAction) -> None:
    """Add ``qahub run create|list|complete``."""
    group = commands.add_parser("run", help="Manage test runs.")
    runs = group.add_subparsers(dest="action", required=True)
    p = _add(runs, "create", "Create a run and print its id alone.", _run_create, ("write",))
    p.add_argument("--name", help="run name, e.g. nightly")
    p.add_argument("--environment", help="where the tests ran, e.g. staging")
    for tag in ("branch", "commit", "build_url"):
        p.add_argument(
            f"--{tag.replace('_', '-')}",
            dest=tag,
            help=f"the run's {tag.replace('_', ' ')} (default: from the CI's variables, else git)",
        )
    p = _add(runs, "list", "List runs, newest first.", _run_list, ("read",))
    p.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    p = _add(
        runs, "complete", "Mark a run COMPLETED (it then takes no more results).", _run_complete, ("write",)
    )
    p.add_argument("run_id", metavar="ID")


# --- case ------------------------------------------------------------------------------------


def read_cases(path: Path) -> list[tuple[str, str]]:
    """Read ``(code, title)`` pairs from a JSON list of objects or a CSV with a header.

    Raises:
        UsageError: The file cannot be read, or an entry (named by its position) is bad.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        raise UsageError(f"Cannot read {path}: {ex}") from ex
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as ex:
            raise UsageError(f"{path} is not valid JSON: {ex}") from ex
        if not isinstance(data, list):
            raise UsageError(f"{path}: expected a JSON list of {{code, title}} objects")
        rows = [(d.get("code"), d.get("title", "")) if isinstance(d, dict) else (None, "") for d in data]
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "code" not in reader.fieldnames:
            raise UsageError(f"{path}: the CSV needs a header row with 'code' and 'title' columns")
        rows = [(r.get("code"), r.get("title") or "") for r in reader]
    for number, (code, title) in enumerate(rows, start=1):
        if not isinstance(code, str) or not code.strip() or len(code) > 200 or not isinstance(title, str):
            raise UsageError(f"{path}: entry {number} needs a code (1-200 characters) and a text title")
    return [(code.strip(), title) for code, title in rows]


def _case_create(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    print(transport.create_case(args.code, args.title)["id"], file=out)
    return 0


def _case_import(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    rows = args.rows
    created = transport.import_cases(rows)
    print(f"Imported {created} new test cases ({len(rows) - created} already existed)", file=out)
    return 0


def add_case(commands: argparse._SubParsersAction) -> None:
    """Add ``qahub case create|import``."""
    cases = commands.add_parser("case", help="Manage test cases.").add_subparsers(
        dest="action", required=True
    )
    p = _add(cases, "create", "Create a test case and print its id.", _case_create, ("write",))
    p.add_argument("code")
    p.add_argument("title")
    p = _add(
        cases,
        "import",
        "Import cases from JSON [{code, title}] or CSV (code,title).",
        _case_import,
        ("read", "write"),
        prepare=lambda args: setattr(args, "rows", read_cases(Path(args.file))),
    )
    p.add_argument("file")


# --- results ---------------------------------------------------------------------------------


def _results(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    run = transport.get_run(args.run_id)
    counts: dict[str, int] = {}
    rows = []
    for result in transport.list_results(args.run_id, args.status):
        status = str(result.get("status"))
        counts[status] = counts.get(status, 0) + 1
        error = result.get("error_message")
        message = error.splitlines()[0][:60] if error else ""
        duration = "" if result.get("duration_ms") is None else f"{result['duration_ms']} ms"
        rows.append((str(result.get("test_case_code")), status, duration, message))
    rows.sort(key=lambda row: row[0])
    print(f"Run {run['id']} ({run.get('name') or 'unnamed'}): {run.get('status')}", file=out)
    _table(("CODE", "STATUS", "DURATION", "ERROR"), rows, out)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no results"
    print(f"{len(rows)} results: {summary}", file=out)
    return 0


def add_results(commands: argparse._SubParsersAction) -> None:
    """Add ``qahub results RUN``."""
    p = _add(commands, "results", "Print a run's results as a table.", _results, ("read",))
    p.add_argument("run_id", metavar="RUN")
    p.add_argument(
        "--status",
        type=str.upper,
        help="only the results of this status, e.g. FAILED (the collector knows the five)",
    )


# --- diff ------------------------------------------------------------------------------------


def _diff(transport: Transport, args: argparse.Namespace, out: TextIO) -> int:
    """Print what changed since the base run; 1 when a new failure is not known to be flaky."""
    answer = transport.compare(args.run_id, args.base)
    base = answer.get("base")
    if base is None:
        print(
            f"Run {args.run_id}: no earlier run to compare with ({answer.get('base_chosen') or 'none'})",
            file=out,
        )
        return 0
    flaky = set(answer.get("flaky") or ())
    print(f"Run {args.run_id} compared with {base['id']} ({base.get('name') or 'unnamed'}):", file=out)
    for key, label in (
        ("new_failures", "new failures"),
        ("fixed", "fixed"),
        ("still_failing", "still failing"),
        ("added", "added"),
        ("missing", "missing"),
    ):
        codes = answer.get(key) or []
        print(f"  {label}: {len(codes)}", file=out)
        for code in codes:
            print(f"    {code}{'  (flaky)' if code in flaky else ''}", file=out)
    blocking = answer.get("blocking") or []
    if blocking:
        print(f"{len(blocking)} new failure(s) not known to be flaky: failing", file=out)
        return 1
    return 0


def add_diff(commands: argparse._SubParsersAction) -> None:
    """Add ``qahub diff RUN [--base RUN]``: the CI gate on new, non-flaky failures."""
    p = _add(
        commands,
        "diff",
        "Compare a run with its base run; exit 1 on new failures that are not known to be flaky.",
        _diff,
        ("read",),
    )
    p.add_argument("run_id", metavar="RUN")
    p.add_argument(
        "--base", metavar="RUN", help="the run to compare with (default: the previous run of its branch)"
    )


# --- replay ----------------------------------------------------------------------------------


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    from .replay import replay

    if args.token:
        print(
            "qahub: warning: a token given with --token is visible to every user of this machine "
            "(in the process list); put it in QAHUB_TOKEN instead",
            file=sys.stderr,
        )
    token = args.token or os.environ.get("QAHUB_TOKEN")
    return replay(
        [Path(p) for p in args.paths],
        args.url,
        token,
        out,
        args.run,
        verbose=args.verbose,
        progress=sys.stderr,
    )


def add_replay(commands: argparse._SubParsersAction) -> None:
    """Add ``qahub replay``."""
    help_text = "Send the results pytest journaled but could not deliver (safe to run twice)."
    p = commands.add_parser("replay", help=help_text, description=help_text)
    p.set_defaults(main=_replay)
    p.add_argument("-v", "--verbose", action="store_true", help="also name the journals delivered earlier")
    p.add_argument(
        "--url",
        help="collector base URL (default: the one each journal was written for; QAHUB_URL is not read)",
    )
    p.add_argument(
        "--token",
        help="API token; visible to other users in the process list, prefer QAHUB_TOKEN (the default)",
    )
    p.add_argument(
        "--run",
        metavar="ID",
        help="run to send to (default: the journal's); with another "
        "--url or --run every journaled result is copied there",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="journal files or folders (default .qahub/journal)"
    )


# ---------------------------------------------------------------------------------------------


def _add(
    parent: argparse._SubParsersAction,
    name: str,
    help_text: str,
    action: Action,
    needs: tuple[str, ...],
    prepare: Callable[[argparse.Namespace], None] | None = None,
) -> argparse.ArgumentParser:
    """Add a data command: ``--url`` and ``--project`` and its action on the transport."""
    p = parent.add_parser(name, help=help_text, description=help_text)
    command = _command(action, needs)
    if prepare is not None:
        command = _prepared(prepare, command)
    p.set_defaults(main=command)
    p.add_argument(
        "--url",
        help="the collector's base URL (default: QAHUB_URL; neither: the local database); "
        "the token comes from QAHUB_TOKEN",
    )
    p.add_argument("--project", metavar="KEY", help="project key on the local database (default: default)")
    return p


def _prepared(
    prepare: Callable[[argparse.Namespace], None], command: Callable[[argparse.Namespace, TextIO], int]
) -> Callable[[argparse.Namespace, TextIO], int]:
    """Run ``prepare(args)`` (read a file) before the command opens its collector."""

    def main(args: argparse.Namespace, out: TextIO) -> int:
        try:
            prepare(args)
        except UsageError as ex:
            return _fail(str(ex), 2)
        return command(args, out)

    return main
