"""Resolve every plugin setting, CLI -> environment -> ini -> default, in one place."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from qahub_contract import RUN_NAME_LIMIT, RUN_TAG_LIMITS

from .delivery.ci import in_ci
from .journal import DEFAULT_KEEP, KeepJournals
from .validation import bearer_token, collector_url, run_label

T = TypeVar("T")

UNMAPPED_CHOICES = ("skip", "create")
SCREENSHOT_CHOICES = ("failed", "off")
#: Seconds the delivery process stays for the next session, outside CI (in CI: 0, it exits).
KEEP_WARM_S = 600.0
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    """The plugin's resolved, validated settings."""

    run: str | None  # None: the session creates a run named `run_name`
    url: str | None
    token: str | None
    batch_size: int = 100
    unmapped: str = "skip"
    strict: bool = False
    framework: str = "pytest"
    flush_timeout: float = 10.0
    screenshots: str = "failed"
    keep_journals: KeepJournals = DEFAULT_KEEP
    run_name: str | None = None
    #: environment, branch, commit, build_url as the user gave them (not detected ones).
    run_tags: dict[str, str] = field(default_factory=dict)
    #: Mark the run COMPLETED at the end; None: only an embedded run the session created.
    complete: bool | None = None
    run_id_file: Path | None = None
    #: The token came from ``--qahub-token``, where every user of the machine can read it.
    token_on_command_line: bool = False
    #: Seconds the delivery process stays after the session to serve the next (0: it exits).
    keep_warm: float = KEEP_WARM_S

    @property
    def embedded(self) -> bool:
        """True when no URL is set: results go to the embedded collector."""
        return self.url is None

    @property
    def completes(self) -> bool:
        """Whether the run is marked COMPLETED once everything is delivered."""
        if self.complete is not None:
            return self.complete
        return self.embedded and self.run is None

    @property
    def creates_cases(self) -> bool:
        """Whether missing test cases are created (for marker and hook codes too)."""
        return self.embedded or self.unmapped == "create"


@dataclass(frozen=True)
class _Spec:
    """Where one setting can come from."""

    option: str  # the CLI flag, also the setting's name in messages
    dest: str
    env: str | None
    ini: str | None
    secret: bool = False  # never shown in a message


SPECS: dict[str, _Spec] = {
    "run": _Spec("--qahub-run", "qahub_run", "QAHUB_RUN", "qahub_run"),
    "run_name": _Spec("--qahub-run-name", "qahub_run_name", "QAHUB_RUN_NAME", "qahub_run_name"),
    "url": _Spec("--qahub-url", "qahub_url", "QAHUB_URL", "qahub_url"),
    # Secrets stay out of files: no ini for the token.
    "token": _Spec("--qahub-token", "qahub_token", "QAHUB_TOKEN", None, secret=True),
    "batch_size": _Spec("--qahub-batch-size", "qahub_batch_size", "QAHUB_BATCH_SIZE", "qahub_batch_size"),
    "unmapped": _Spec("--qahub-unmapped", "qahub_unmapped", "QAHUB_UNMAPPED", "qahub_unmapped"),
    "strict": _Spec("--qahub-strict", "qahub_strict", "QAHUB_STRICT", "qahub_strict"),
    "framework": _Spec("--qahub-framework", "qahub_framework", "QAHUB_FRAMEWORK", "qahub_framework"),
    "flush_timeout": _Spec(
        "--qahub-flush-timeout", "qahub_flush_timeout", "QAHUB_FLUSH_TIMEOUT", "qahub_flush_timeout"
    ),
    "screenshots": _Spec(
        "--qahub-screenshots", "qahub_screenshots", "QAHUB_SCREENSHOTS", "qahub_screenshots"
    ),
    "keep_journals": _Spec(
        "--qahub-keep-journals", "qahub_keep_journals", "QAHUB_KEEP_JOURNALS", "qahub_keep_journals"
    ),
    "environment": _Spec(
        "--qahub-environment", "qahub_environment", "QAHUB_ENVIRONMENT", "qahub_environment"
    ),
    "branch": _Spec("--qahub-branch", "qahub_branch", "QAHUB_BRANCH", "qahub_branch"),
    "commit": _Spec("--qahub-commit", "qahub_commit", "QAHUB_COMMIT", "qahub_commit"),
    "build_url": _Spec("--qahub-build-url", "qahub_build_url", "QAHUB_BUILD_URL", "qahub_build_url"),
    "complete": _Spec("--qahub-complete", "qahub_complete", "QAHUB_COMPLETE", "qahub_complete"),
    "run_id_file": _Spec(
        "--qahub-run-id-file", "qahub_run_id_file", "QAHUB_RUN_ID_FILE", "qahub_run_id_file"
    ),
    "keep_warm": _Spec("--qahub-keep-warm", "qahub_keep_warm", "QAHUB_KEEP_WARM", "qahub_keep_warm"),
}


def _lookup(config: pytest.Config, spec: _Spec, environ: Mapping[str, str]) -> tuple[Any, str] | None:
    """Return the first given raw value of a setting and where it came from."""
    value = config.getoption(spec.dest, default=None)
    if value is not None:
        return value, spec.option
    if spec.env is not None and environ.get(spec.env, "") != "":
        return environ[spec.env], spec.env
    if spec.ini is not None:
        value = config.getini(spec.ini)
        if value not in (None, ""):
            where = f"ini {spec.ini} in {config.inipath}" if config.inipath else f"ini {spec.ini}"
            return value, where
    return None


def _resolve(
    config: pytest.Config,
    name: str,
    convert: Callable[[Any], T],
    default: T,
    environ: Mapping[str, str],
) -> T:
    found = _lookup(config, SPECS[name], environ)
    if found is None:
        return default
    value, where = found
    spec = SPECS[name]
    try:
        return convert(value)
    except ValueError as ex:
        shown = "" if spec.secret else f" {value!r}"
        raise pytest.UsageError(f"Invalid {spec.option}{shown} (from {where}): {ex}") from ex


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _url(value: Any) -> str:
    return collector_url(_text(value))


def _token(value: Any) -> str:
    return bearer_token(str(value))


def _framework(value: Any) -> str:
    """A result's ``framework``: what the results API accepts (1 to 100 characters, printable)."""
    text = _text(value)
    if len(text) > 100:
        raise ValueError("must be at most 100 characters")
    if not text.isprintable():
        raise ValueError("must not contain control characters")
    return text


def _positive_int(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError("must be a whole number") from None
    if not 1 <= number <= 1000:
        raise ValueError("must be between 1 and 1000")
    return number


def _seconds(value: Any) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not 0 <= number <= 3600:
        raise ValueError("must be between 0 and 3600")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("must be true or false")


def _limited(limit: int) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        return run_label(str(value), limit)

    return convert


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return convert


def resolve_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> Settings | None:
    """Resolve the plugin's settings, or return None when no run is given (plugin off).

    Raises:
        pytest.UsageError: A value is invalid; the message names the setting and its source.
    """
    env = os.environ if environ is None else environ
    run = _resolve(config, "run", _text, None, env)
    run_name = _resolve(config, "run_name", _limited(RUN_NAME_LIMIT), None, env)
    if run is None and run_name is None:
        return None
    if run is not None and run_name is not None:
        where = {name: (_lookup(config, SPECS[name], env) or (None, "?"))[1] for name in ("run", "run_name")}
        raise pytest.UsageError(
            f"Both --qahub-run (from {where['run']}) and --qahub-run-name (from {where['run_name']}) "
            "are set: give --qahub-run to report to an existing run, or --qahub-run-name to create one"
        )
    url = _resolve(config, "url", _url, None, env)
    tags = {
        name: _resolve(config, name, _limited(limit), None, env) for name, limit in RUN_TAG_LIMITS.items()
    }
    run_id_file = _resolve(config, "run_id_file", _text, None, env)
    return Settings(
        run=run,
        url=url,
        token=_resolve(config, "token", _token, None, env),
        batch_size=_resolve(config, "batch_size", _positive_int, 100, env),
        # Embedded, every test is reported; a server's project keeps only the tests mapped to it.
        unmapped=_resolve(
            config, "unmapped", _choice(UNMAPPED_CHOICES), "create" if url is None else "skip", env
        ),
        strict=_resolve(config, "strict", _boolean, False, env),
        framework=_resolve(config, "framework", _framework, "pytest", env),
        flush_timeout=_resolve(config, "flush_timeout", _seconds, 10.0, env),
        screenshots=_resolve(config, "screenshots", _choice(SCREENSHOT_CHOICES), "failed", env),
        keep_journals=_resolve(config, "keep_journals", KeepJournals.parse, DEFAULT_KEEP, env),
        run_name=run_name,
        run_tags={name: value for name, value in tags.items() if value is not None},
        complete=_resolve(config, "complete", _boolean, None, env),
        run_id_file=config.invocation_params.dir / run_id_file if run_id_file else None,
        token_on_command_line=config.getoption("qahub_token", default=None) is not None,
        keep_warm=_resolve(config, "keep_warm", _seconds, 0.0 if in_ci(env) else KEEP_WARM_S, env),
    )


def add_options(parser: pytest.Parser) -> None:
    """Declare the ``qahub`` option group and ini keys."""
    group = parser.getgroup("qahub", "report results to a QAHub collector")
    group.addoption(
        "--qahub-run",
        dest="qahub_run",
        metavar="ID",
        help="QAHub run to report to; the plugin is off without it [QAHUB_RUN]",
    )
    group.addoption(
        "--qahub-run-name",
        dest="qahub_run_name",
        metavar="NAME",
        help="create a new run with this name at session start, instead of --qahub-run [QAHUB_RUN_NAME]",
    )
    group.addoption(
        "--qahub-url",
        dest="qahub_url",
        metavar="URL",
        help="collector base URL, e.g. https://qahub.example.com [QAHUB_URL]",
    )
    group.addoption(
        "--qahub-token",
        dest="qahub_token",
        metavar="TOKEN",
        help="API token with read,write scopes; prefer QAHUB_TOKEN: other users of the machine "
        "can read a command line [QAHUB_TOKEN; never from ini]",
    )
    group.addoption(
        "--qahub-batch-size",
        dest="qahub_batch_size",
        metavar="N",
        help="results per request, 1-1000 (default 100)",
    )
    group.addoption(
        "--qahub-unmapped",
        dest="qahub_unmapped",
        metavar="skip|create",
        help="tests without a case code: skip them or create cases (default: skip; create when embedded)",
    )
    group.addoption(
        "--qahub-strict",
        dest="qahub_strict",
        action="store_true",
        default=None,
        help="fail the session when results are rejected or not delivered",
    )
    group.addoption(
        "--qahub-framework",
        dest="qahub_framework",
        metavar="NAME",
        help='framework label sent with each result (default "pytest")',
    )
    group.addoption(
        "--qahub-flush-timeout",
        dest="qahub_flush_timeout",
        metavar="SECONDS",
        help="how long the session may wait at the end to deliver (default 10)",
    )
    group.addoption(
        "--qahub-screenshots",
        dest="qahub_screenshots",
        metavar="failed|off",
        help="upload screenshots of failed browser tests (default failed)",
    )
    group.addoption(
        "--qahub-keep-journals",
        dest="qahub_keep_journals",
        metavar="N|Nd",
        help=f"delivered journals to keep: the last N sessions', or Nd days' (default {DEFAULT_KEEP})",
    )
    for name in RUN_TAG_LIMITS:
        option = f"--qahub-{name.replace('_', '-')}"
        group.addoption(
            option,
            dest=f"qahub_{name}",
            metavar=name.upper(),
            help=f"the {name.replace('_', ' ')} of a run the session creates or reports to "
            + ("" if name == "environment" else "(default: from the CI's variables, else git) ")
            + f"[QAHUB_{name.upper()}]",
        )
    group.addoption(
        "--qahub-complete",
        dest="qahub_complete",
        action="store_true",
        default=None,
        help="mark the run COMPLETED once every result is delivered "
        "(default: only an embedded run created by --qahub-run-name) [QAHUB_COMPLETE]",
    )
    group.addoption(
        "--qahub-no-complete",
        dest="qahub_complete",
        action="store_false",
        default=None,
        help="leave the run open at the end, even an embedded one created by --qahub-run-name",
    )
    group.addoption(
        "--qahub-run-id-file",
        dest="qahub_run_id_file",
        metavar="PATH",
        help="write the run's id to this file once it is known (for a later CI step) [QAHUB_RUN_ID_FILE]",
    )
    group.addoption(
        "--qahub-keep-warm",
        dest="qahub_keep_warm",
        metavar="SECONDS",
        help="how long the delivery process stays after the session, to serve the next one at once; "
        f"0: it exits (default {KEEP_WARM_S:g}, 0 in CI) [QAHUB_KEEP_WARM]",
    )
    for spec in SPECS.values():
        if spec.ini is not None:
            parser.addini(spec.ini, f"QAHub: same as {spec.option}", default=None)
