"""The ``qahub`` command: serve the collector and manage its projects and tokens.

The commands that read and write a collector's data (``run``, ``case``, ``results``,
``replay``) come from the ``qahub.commands`` entry point group: the plugin declares them, and
they work on a collector's API as well as on the local database. The collector never imports
the plugin; the admin commands here work on the local database only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import TextIO

from collector import serve
from collector.config import Settings, load_settings
from collector.errors import BadRequest, CollectorError, SettingsError
from collector.migrations import open_upgraded
from collector.projects import create_project, get_project
from collector.retention import describe_run, prune, summarise
from collector.storage import open_storage
from collector.tokens import create_token, list_tokens, parse_scopes, revoke

#: The entry point group of commands defined outside the collector (the plugin's data commands).
COMMANDS_GROUP = "qahub.commands"
#: The commands that need the database itself: never run over the API.
LOCAL_ONLY = ("token", "project", "prune")


class UsageError(Exception):
    """A command was given something it cannot use."""


@contextmanager
def local_database(settings: Settings) -> Iterator[None]:
    """Hold a connection to the collector's own database (its schema upgraded) for one command."""
    db = open_upgraded(settings)
    try:
        with db.connection_context():
            yield
    finally:
        db.close_all()


def cmd_serve(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    return serve.command(args, settings, out)


def cmd_project_create(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with local_database(settings):
        try:
            project = create_project(args.key, args.name or "")
        except BadRequest as ex:
            raise UsageError(ex.message) from ex
    print(project.key, file=out)
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    try:
        scopes = parse_scopes(args.scopes)
    except ValueError as ex:
        raise UsageError(f"--scopes {args.scopes!r}: {ex}") from ex
    with local_database(settings):
        _, text = create_token(get_project(args.project), scopes, args.name or "")
    print(text, file=out)
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with local_database(settings):
        found = list_tokens()
    rows = [
        (
            token.prefix,
            token.project.key,
            token.scopes,
            token.name,
            str(token.created_at)[:19],
            "revoked" if token.revoked_at else "active",
        )
        for token in found
    ]
    _table(("PREFIX", "PROJECT", "SCOPES", "NAME", "CREATED", "STATE"), rows, out)
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with local_database(settings):
        revoke(args.prefix)
    print(f"Revoked {args.prefix}", file=out)
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    storage = open_storage(settings)
    with local_database(settings):
        report = prune(
            storage,
            args.older_than,
            args.keep_last,
            dry_run=args.dry_run,
            project=get_project(args.project) if args.project else None,
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


def _table(headers: Sequence[str], rows: list[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(str(v)) for v in col) for col in zip(headers, *rows, strict=True)]
    for row in (headers, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _add_plugin_commands(sub: argparse._SubParsersAction) -> None:
    """Add each command an installed package declares in the ``qahub.commands`` group."""
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name not in sub.choices:  # a package cannot replace a command of the collector
            entry.load()(sub)


def _refuse_remote(args: argparse.Namespace) -> None:
    """The admin commands change the database itself: say so when a collector URL is set."""
    url = os.environ.get("QAHUB_URL")
    if args.command in LOCAL_ONLY and url:
        command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
        raise UsageError(
            f"qahub {command} works on the collector's own database only, and "
            f"QAHUB_URL is set ({url}): run it on the collector's host, without QAHUB_URL"
        )


def build_parser() -> argparse.ArgumentParser:
    """Describe every command and its options."""
    parser = argparse.ArgumentParser(
        prog="qahub",
        description="QAHub collector: serve the results API and manage its data. "
        "Settings come from the environment (QAHUB_DATABASE_URL, QAHUB_STORAGE_DIR, "
        "ATTACHMENT_MAX_BYTES, QAHUB_MAX_BATCH). The data commands (run, case, results) "
        "work on a collector's API when QAHUB_URL (or --url) is set, with QAHUB_TOKEN.",
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

    _add_plugin_commands(sub)
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
        if hasattr(args, "main"):  # a command from the entry point group: it reports its own errors
            return args.main(args, out)
        _refuse_remote(args)
        settings = load_settings()
        return args.func(args, settings, out)
    except (SettingsError, UsageError, serve.ServeError) as ex:
        print(f"qahub: error: {ex}", file=sys.stderr)
        return 2
    except CollectorError as ex:
        print(f"qahub: {ex.message}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`qahub results RUN | head`): stop quietly, as `cat` does.
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush
        return 0


if __name__ == "__main__":
    sys.exit(main())
