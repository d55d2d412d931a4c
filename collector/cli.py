"""The ``qahub`` command: serve the collector and manage projects, tokens, runs and cases."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from collector import serve
from collector.config import Settings, SettingsError, load_settings
from collector.db import DatabaseURLError, open_database
from collector.errors import CollectorError
from collector.schema import upgrade


class UsageError(Exception):
    """A command was given something it cannot use."""


def _open(settings: Settings):
    db = open_database(settings)
    upgrade(db)
    return db


def cmd_serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    return serve.command(args, settings, out, _open)


def cmd_project_create(args, settings, out) -> int:
    from collector.errors import BadRequest
    from collector.projects import create_project

    db = _open(settings)
    with db.connection_context():
        try:
            project = create_project(args.key, args.name or "")
        except BadRequest as ex:
            raise UsageError(ex.message) from ex
    print(project.key, file=out)
    return 0


def cmd_token_create(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.tokens import create_token, parse_scopes

    try:
        scopes = parse_scopes(args.scopes)
    except ValueError as ex:
        raise UsageError(f"--scopes {args.scopes!r}: {ex}") from ex
    db = _open(settings)
    with db.connection_context():
        _, text = create_token(get_project(args.project), scopes, args.name or "")
    print(text, file=out)
    return 0


def cmd_token_list(args, settings, out) -> int:
    from collector.models import ApiToken, Project

    db = _open(settings)
    with db.connection_context():
        rows = [
            (
                t.prefix,
                t.project.key,
                t.scopes,
                t.name,
                str(t.created_at)[:19],
                "revoked" if t.revoked_at else "active",
            )
            for t in ApiToken.select(ApiToken, Project).join(Project).order_by(ApiToken.created_at)
        ]
    _table(("PREFIX", "PROJECT", "SCOPES", "NAME", "CREATED", "STATE"), rows, out)
    return 0


def cmd_token_revoke(args, settings, out) -> int:
    from collector.tokens import revoke

    db = _open(settings)
    with db.connection_context():
        revoke(args.prefix)
    print(f"Revoked {args.prefix}", file=out)
    return 0


def cmd_run_create(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.runs import create_run

    db = _open(settings)
    with db.connection_context():
        run = create_run(get_project(args.project), args.name or "")
    print(run.id, file=out)
    return 0


def cmd_run_list(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.runs import list_runs

    db = _open(settings)
    with db.connection_context():
        runs, _ = list_runs(get_project(args.project), args.limit, 0)
        rows = [(r.id, r.name, r.status, str(r.created_at)[:19]) for r in runs]
    _table(("ID", "NAME", "STATUS", "CREATED"), rows, out)
    return 0


def cmd_run_complete(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.runs import get_run, update_run

    db = _open(settings)
    with db.connection_context():
        update_run(get_run(get_project(args.project), args.run_id), status="COMPLETED")
    print(f"Run {args.run_id} is COMPLETED", file=out)
    return 0


def cmd_case_create(args, settings, out) -> int:
    from collector.cases import create_case
    from collector.projects import get_project

    db = _open(settings)
    with db.connection_context():
        case = create_case(get_project(args.project), args.code, args.title)
    print(case.id, file=out)
    return 0


def _read_cases(path: Path) -> list[tuple[str, str]]:
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


def cmd_case_import(args, settings, out) -> int:
    from collector.cases import import_cases
    from collector.projects import get_project

    rows = _read_cases(Path(args.file))
    db = _open(settings)
    with db.connection_context():
        created = import_cases(get_project(args.project), rows)
    print(f"Imported {created} new test cases ({len(rows) - created} already existed)", file=out)
    return 0


def cmd_results(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.results import iter_results
    from collector.runs import get_run

    db = _open(settings)
    counts: dict[str, int] = {}
    rows = []
    with db.connection_context():
        run = get_run(get_project(args.project), args.run_id)
        for r in iter_results(run, args.status):
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            message = (r["error_message"] or "").splitlines()[0][:60] if r["error_message"] else ""
            duration = "" if r["duration_ms"] is None else f"{r['duration_ms']} ms"
            rows.append((r["test_case_code"], r["status"], duration, message))
        print(f"Run {run.id} ({run.name or 'unnamed'}): {run.status}", file=out)
    rows.sort(key=lambda row: row[0])
    _table(("CODE", "STATUS", "DURATION", "ERROR"), rows, out)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "no results"
    print(f"{len(rows)} results: {summary}", file=out)
    return 0


def cmd_prune(args, settings, out) -> int:
    from collector.projects import get_project
    from collector.retention import describe_run, prune, summarise
    from collector.storage import open_storage

    db = _open(settings)
    storage = open_storage(settings)
    with db.connection_context():
        project = get_project(args.project) if args.project else None
        report = prune(
            storage,
            args.older_than,
            args.keep_last,
            dry_run=args.dry_run,
            project=project,
            on_run=lambda run: print(describe_run(run, args.dry_run), file=out, flush=True),
        )
    for line in summarise(report, args.keep_last):
        print(line, file=out)
    return 1 if report.files_failed else 0


def _days(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days") from None
    if not 0 <= number <= 100_000:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of days from 0 up")
    return number


def _runs(value: str) -> int:
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of runs from 0 up")
    return int(value)


def cmd_replay(args, settings, out) -> int:
    # The journal and its sender belong to the plugin; the CLI only gives them a command.
    import os

    from pytest_qahub.replay import replay

    token = args.token or os.environ.get("QAHUB_TOKEN")
    return replay([Path(p) for p in args.paths], args.url, token, out, args.run, verbose=args.verbose)


def _table(headers: Sequence[str], rows: list[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(v)) for v in col) for col in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def build_parser() -> argparse.ArgumentParser:
    """Describe every command and its options."""
    parser = argparse.ArgumentParser(
        prog="qahub",
        description="QAHub collector: serve the results API and manage its data. "
        "Settings come from the environment (QAHUB_DATABASE_URL, QAHUB_STORAGE_DIR, "
        "ATTACHMENT_MAX_BYTES, QAHUB_MAX_BATCH).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent, name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def project_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--project", metavar="KEY", help="project key (default: the default project)")

    p = add(sub, "serve", cmd_serve, "Run the collector over HTTP (waitress).")
    serve.add_arguments(p)

    projects = sub.add_parser("project", help="Manage projects.").add_subparsers(dest="action", required=True)
    p = add(projects, "create", cmd_project_create, "Create a project.")
    p.add_argument("key", help="short unique key, e.g. web")
    p.add_argument("--name", help="display name")

    toks = sub.add_parser("token", help="Manage API tokens.").add_subparsers(dest="action", required=True)
    p = add(toks, "create", cmd_token_create, "Create a token and print it once, alone on its line.")
    project_opt(p)
    p.add_argument("--scopes", default="read,write", help="comma-separated: read, write (default both)")
    p.add_argument("--name", help="what the token is for, e.g. ci")
    add(toks, "list", cmd_token_list, "List tokens by prefix (secrets are never shown).")
    p = add(toks, "revoke", cmd_token_revoke, "Revoke the token with this prefix.")
    p.add_argument("prefix")

    runs = sub.add_parser("run", help="Manage test runs.").add_subparsers(dest="action", required=True)
    p = add(runs, "create", cmd_run_create, "Create a run and print its id alone.")
    project_opt(p)
    p.add_argument("--name", help="run name, e.g. nightly")
    p = add(runs, "list", cmd_run_list, "List runs, newest first.")
    project_opt(p)
    p.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    p = add(runs, "complete", cmd_run_complete, "Mark a run COMPLETED (it then takes no more results).")
    project_opt(p)
    p.add_argument("run_id")

    cases = sub.add_parser("case", help="Manage test cases.").add_subparsers(dest="action", required=True)
    p = add(cases, "create", cmd_case_create, "Create a test case and print its id.")
    project_opt(p)
    p.add_argument("code")
    p.add_argument("title")
    p = add(
        cases,
        "import",
        cmd_case_import,
        "Import cases from JSON [{code, title}] or CSV (code,title).",
    )
    project_opt(p)
    p.add_argument("file")

    p = add(sub, "results", cmd_results, "Print a run's results as a table.")
    project_opt(p)
    p.add_argument("run_id")
    p.add_argument("--status", choices=("PASSED", "FAILED", "BROKEN", "SKIPPED", "UNKNOWN"))
    p = add(
        sub,
        "replay",
        cmd_replay,
        "Send the results pytest journaled but could not deliver (safe to run twice).",
    )
    p.add_argument("--url", help="collector base URL (default: the one recorded in each journal)")
    p.add_argument("--token", help="API token (default: $QAHUB_TOKEN)")
    p.add_argument(
        "--run",
        metavar="ID",
        help="run to send to (default: the journal's); with another "
        "--url or --run every journaled result is copied there",
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="journal files or folders (default .qahub/journal)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="also name the journals delivered earlier")
    p = add(
        sub,
        "prune",
        cmd_prune,
        "Delete old runs with their results and attachment files; print what went (or would).",
    )
    p.add_argument(
        "--older-than",
        type=_days,
        required=True,
        metavar="DAYS",
        help="delete runs created more than DAYS days ago",
    )
    p.add_argument(
        "--keep-last",
        type=_runs,
        default=0,
        metavar="N",
        help="keep the N newest runs of each branch whatever their age (default 0)",
    )
    p.add_argument("--dry-run", action="store_true", help="only print what would be deleted")
    p.add_argument("--project", metavar="KEY", help="prune this project only (default: every project)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one ``qahub`` command; return its exit code."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        return args.func(args, settings, out)
    except (SettingsError, DatabaseURLError, UsageError, serve.ServeError) as ex:
        print(f"qahub: error: {ex}", file=sys.stderr)
        return 2
    except CollectorError as ex:
        print(f"qahub: {ex.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
