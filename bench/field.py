"""Field benchmark: real open-source test suites, plain and with the plugin, outcomes and costs.

    python bench/field.py [--projects packaging,python-dateutil,...] [--modes embedded,http,xdist,unreachable]
                          [--repeats 1] [--cache ~/.cache/qahub-field] [--timeout 1800]

For each project (pinned below: an exact release, fetched as its source distribution with
``pip download --no-binary :all: --no-deps``, whose tests it holds) the script keeps, under
``--cache``, the unpacked source and a virtual environment with the project, its test
requirements (pinned), pytest-xdist and this repository (``pip install -e``). It runs the
suite the way the project's own configuration and CI run it, as a ``pytest`` subprocess in the
source folder (``PYTHONHASHSEED=0``: one seed for all of a session's processes, as tox sets it):

- ``plain``: without the plugin (``-p no:qahub``), the baseline of the modes below;
- ``embedded``: ``--qahub-run=field-embedded`` (the embedded collector, ``.qahub/qahub.db``);
- ``http``: a real ``qahub serve`` on 127.0.0.1 (a free port, a token from
  ``qahub token create --scopes read,write``, a run created over the API before each session);
- ``xdist``: ``-n 2`` embedded, against ``plain -n 2``;
- ``unreachable``: ``--qahub-url`` naming a closed port on 127.0.0.1; afterwards the journal is
  replayed (``qahub replay --url --run``) to the server above, and counted there.

Every mode reports unmapped tests too (``--qahub-unmapped=create``) and waits up to 120 s at the
end to deliver (``--qahub-flush-timeout=120``, instead of 10: a loaded machine must not turn into
missing results). Before the runs, ``pytest --collect-only`` warms the bytecode caches and
gives each item's case code (``_field_probe.py``).

Per project and mode it prints: the exit code and the counts of pytest's final line (passed,
failed, skipped, xfailed, xpassed, errors, warnings), a ``!`` marking each that differs from
the baseline's; the results stored against those expected (one per case code: the node id
without its parametrization; a code's status is the worst of its items' outcomes in the plain
run: failed, then passed, then skipped); the wall time, the peak RSS of the process tree (its
largest process, from ``wait4`` in ``_launch.py``) and of the pytest process itself (the xdist
controller; ``VmHWM``, ``_rss_probe.py``), each as a ratio to the baseline's in the same
round (the median over rounds). The server's memory is not in the tree. Each run's output is
kept in ``<cache>/logs/<project>/``.

It exits 1 when any exit code or count differs from the baseline's, when something is printed
after pytest's final line that the baseline does not print (a ``pytest_unconfigure`` that
raised, which a failing suite's exit code hides), or when any result is missing, extra or of
another outcome: it is a check as well as a benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _field_probe import FILE_ENV as FIELD_FILE_ENV
from _measure import alternate, median, paired_ratios, stop_delivery_processes, table
from _rss_probe import FILE_ENV as RSS_FILE_ENV
from _server import Server

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PROBES = ("_field_probe.py", "_rss_probe.py")

#: In every project's environment (pytest as the repository's own environment has it).
COMMON = ("pytest==9.2.0", "pytest-xdist==3.8.0")


@dataclass(frozen=True)
class Project:
    """A project whose released source distribution holds its tests."""

    name: str
    version: str
    requirements: tuple[str, ...]  # its test requirements, pinned
    args: tuple[str, ...]  # as its own configuration or CI runs the suite
    about: str  # what it brings to the benchmark


PROJECTS = {
    p.name: p
    for p in (
        Project(
            "packaging", "25.0", ("pretend==1.0.9",), (),
            "26,948 tests in 336 cases (parametrized by the thousand); 6 warnings",
        ),
        Project(
            "python-dateutil", "4.0.0",
            ("hypothesis==6.170.17", "freezegun==1.5.5", "pytest-cov==7.1.0", "attrs==26.1.0"),
            ("--hypothesis-profile=ci",),  # as on CI: derandomized, no deadline (a loaded machine)
            "filterwarnings = error, xfail_strict, hypothesis; fails, skips and xfails on this machine",
        ),
        Project("pluggy", "1.7.0", (), (), "filterwarnings = error (tox.ini)"),
        Project(
            "toolz", "1.2.0", (), (),
            "filterwarnings = error, --strict-config, live logging (log_cli_level = info)",
        ),
        Project(
            "boltons", "26.2.0", (), ("--doctest-modules", "boltons", "tests"),
            "doctests (--doctest-modules, as its tox.ini runs it)",
        ),
    )
}  # fmt: skip

MODES = ("embedded", "http", "xdist", "unreachable")
BASELINE = {"embedded": "plain", "http": "plain", "xdist": "plain -n 2", "unreachable": "plain"}
COUNTED = ("passed", "failed", "skipped", "xfailed", "xpassed", "errors", "warnings")
#: What each stored status says of the outcome (see ``_field_probe.py``).
OUTCOME_OF = {"PASSED": "passed", "SKIPPED": "skipped", "FAILED": "failed", "BROKEN": "failed"}
FINAL_LINE = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+|no tests ran).* in [\d.]+s")
EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|ExceptionGroup|Warning): ")
QAHUB_OPTIONS = ("--qahub-unmapped=create", "--qahub-flush-timeout=120")


def final_line(output: str) -> tuple[dict[str, int] | None, str]:
    """The counts of pytest's final line (``3 failed, 5060 passed, 6 warnings in 26.50s``), and
    what was printed after it (a ``pytest_unconfigure`` that raised): its exception, if any."""
    lines = output.splitlines()
    for number in range(len(lines) - 1, -1, -1):
        match = FINAL_LINE.match(lines[number].strip())
        if match:
            counts = dict.fromkeys(COUNTED, 0)
            for count, word in re.findall(r"(\d+) (\w+)", match.group(1)):
                word = {"error": "errors", "warning": "warnings"}.get(word, word)
                counts[word] = counts.get(word, 0) + int(count)
            after = [line.strip(" |+") for line in lines[number + 1 :] if line.strip(" |+-")]
            raised = [line for line in after if EXCEPTION_LINE.match(line)]
            return counts, (raised or after or [""])[0]
    return None, ""


@dataclass
class Outcome:
    """One pytest session."""

    exit_code: int
    counts: dict[str, int] | None
    after: str  # the last line printed after pytest's final line
    wall: float
    tree_kib: int
    controller_kib: int
    outcomes: dict[str, str]  # node id -> passed, failed, skipped (the probe's)
    log: Path
    stored: dict[str, str] | None = None  # code -> status, where results went
    problem: str = ""  # why the stored results could not be read


@dataclass
class Field:
    """One project: its source, its environment, and one pytest session per call."""

    project: Project
    cache: Path
    server: Server | None
    timeout: float
    src: Path = field(init=False)
    venv: Path = field(init=False)
    codes: dict[str, str] = field(init=False, default_factory=dict)  # node id -> case code
    logs: Path = field(init=False)
    probes: Path = field(init=False)
    _number: int = 0

    def prepare(self) -> None:
        """Fetch and unpack the source distribution, build the environment, warm the caches."""
        self.src = self._unpack(self._download())
        self.venv = self._environment()
        self.logs = self.cache / "logs" / self.project.name
        shutil.rmtree(self.logs, ignore_errors=True)
        self.logs.mkdir(parents=True)
        self.probes = self.cache / "probes"
        self.probes.mkdir(exist_ok=True)
        for name in PROBES:
            shutil.copy(BENCH_DIR / name, self.probes / name)
        probe = self.logs / "collect.json"
        log = self.logs / "collect.log"
        command = [str(self.venv / "bin" / "pytest"), *self.project.args, "--collect-only", "-q"]
        self._pytest([*command, "-p", "no:qahub"], {FIELD_FILE_ENV: str(probe)}, log)
        self.codes = json.loads(probe.read_text())["codes"] if probe.exists() else {}
        if not self.codes:
            raise RuntimeError(f"{self.project.name}: nothing collected, see {log}")

    def _download(self) -> Path:
        folder = self.cache / "sdist" / f"{self.project.name}-{self.project.version}"
        archives = sorted(folder.glob("*.tar.gz"))
        if not archives:
            folder.mkdir(parents=True, exist_ok=True)
            spec = f"{self.project.name}=={self.project.version}"
            pip = [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps"]
            subprocess.run([*pip, "-d", str(folder), spec], check=True, capture_output=True)
            archives = sorted(folder.glob("*.tar.gz"))
        return archives[0]

    def _unpack(self, archive: Path) -> Path:
        target = self.cache / "src"
        with tarfile.open(archive) as tar:
            top = tar.getnames()[0].split("/")[0]
            if not (target / top).is_dir():
                tar.extractall(target, filter="data")
        return target / top

    def _environment(self) -> Path:
        """A virtual environment with the project, its test requirements and this repository."""
        venv = self.cache / "venv" / f"{self.project.name}-{self.project.version}"
        wanted = [*COMMON, *self.project.requirements, str(self.src), "-e", str(REPO)]
        stamp = venv / "field-requirements.json"
        if stamp.exists() and json.loads(stamp.read_text()) == wanted:
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *wanted]
        installed = subprocess.run(pip, capture_output=True, text=True)
        if installed.returncode != 0:
            raise RuntimeError(f"{self.project.name}: pip install failed\n{installed.stderr[-3000:]}")
        compile_all = [str(venv / "bin" / "python"), "-m", "compileall", "-q", str(venv / "lib")]
        subprocess.run(compile_all, check=False, capture_output=True)
        stamp.write_text(json.dumps(wanted))
        return venv

    def _pytest(self, command: list[str], extra_env: dict[str, str], log: Path) -> tuple[int, float, int]:
        """Run pytest in the source folder; return its exit code, wall time and tree's peak RSS."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("QAHUB_", "PYTEST_")) and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
        }
        # One hash seed for every process of a session, as tox sets it: a suite that parametrizes
        # from a set (packaging does) collects the same tests in each xdist worker.
        env |= {"PYTHONPATH": str(self.probes), "PYTHONHASHSEED": "0", "COLUMNS": "120", **extra_env}
        command = [*command, "-p", "_rss_probe", "-p", "_field_probe"]
        usage = log.with_suffix(".usage")
        usage.unlink(missing_ok=True)
        launch = [sys.executable, "-I", "-S", str(BENCH_DIR / "_launch.py"), str(usage)]
        with log.open("w") as out:
            out.write(" ".join(command) + "\n\n")
            out.flush()
            start = time.monotonic()
            process = subprocess.Popen(
                [*launch, *command], cwd=self.src, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            timer = threading.Timer(self.timeout, os.killpg, (process.pid, signal.SIGKILL))
            timer.start()
            process.wait()
            wall = time.monotonic() - start
            timer.cancel()
        if not usage.exists():  # killed
            return process.returncode, wall, 0
        exit_code, tree_kib = usage.read_text().split()
        return int(exit_code), wall, int(tree_kib)

    def run(self, variant: str) -> Outcome:
        """One session of the suite in this variant (a mode, or a baseline)."""
        self._number += 1
        label = variant.replace(" ", "")
        log = self.logs / f"{self._number:02}-{label}.log"
        stem = self.logs / f"{self._number:02}-{label}"
        probe, rss = stem.with_suffix(".json"), stem.with_suffix(".rss")
        shutil.rmtree(self.src / ".qahub", ignore_errors=True)  # a fresh embedded database and journal
        env = {FIELD_FILE_ENV: str(probe), RSS_FILE_ENV: str(rss)}
        run_id = f"field-{variant}"
        command = [str(self.venv / "bin" / "pytest"), *self.project.args]
        if variant.startswith("plain"):
            command += ["-p", "no:qahub"]
        elif variant == "http":
            assert self.server is not None
            run_id = self._create_run(f"field-http {self.project.name}")
            env["QAHUB_TOKEN"] = self.server.token
            command += [f"--qahub-url={self.server.url}", f"--qahub-run={run_id}", *QAHUB_OPTIONS]
        elif variant == "unreachable":
            assert self.server is not None
            env["QAHUB_TOKEN"] = self.server.token
            closed = f"http://127.0.0.1:{closed_port()}"
            command += [f"--qahub-url={closed}", f"--qahub-run={run_id}", *QAHUB_OPTIONS]
        else:  # embedded, xdist
            command += [f"--qahub-run={run_id}", *QAHUB_OPTIONS]
        if variant in ("xdist", "plain -n 2"):
            command += ["-n", "2"]
        exit_code, wall, tree_kib = self._pytest(command, env, log)
        reported = json.loads(probe.read_text()) if probe.exists() else {"outcomes": {}}
        counts, after = final_line(log.read_text(errors="replace"))
        outcome = Outcome(
            exit_code=exit_code,
            counts=counts,
            after=after,
            wall=wall,
            tree_kib=tree_kib,
            controller_kib=int(rss.read_text()) if rss.exists() else 0,
            outcomes=reported["outcomes"],
            log=log,
        )
        if not variant.startswith("plain"):
            try:
                outcome.stored = self._stored(variant, run_id)
            except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as ex:
                outcome.problem = f"results could not be read: {ex}"
        return outcome

    def _create_run(self, name: str) -> str:
        assert self.server is not None
        response = self.server.session.post(f"{self.server.api}/runs", json={"name": name}, timeout=30)
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def _stored(self, variant: str, run_id: str) -> dict[str, str]:
        """The results the session left, by code: in the embedded database, or on the server."""
        if variant == "unreachable":  # all of it waits in the journal: send it to the server
            assert self.server is not None
            run_id = self._create_run(f"field-unreachable {self.project.name} (replayed)")
            env = {**os.environ, "QAHUB_TOKEN": self.server.token}
            replay = [sys.executable, "-m", "collector.cli", "replay", "--url", self.server.url]
            replay += ["--run", run_id, str(self.src / ".qahub" / "journal")]
            subprocess.run(replay, env=env, check=True, capture_output=True, cwd=self.src)
        if variant in ("http", "unreachable"):
            assert self.server is not None
            response = self.server.session.get(f"{self.server.api}/runs/{run_id}/results", timeout=120)
            response.raise_for_status()
            return {row["test_case_code"]: row["status"] for row in response.json()["data"]}
        env = {**os.environ, "QAHUB_DATABASE_URL": f"sqlite:///{self.src / '.qahub' / 'qahub.db'}"}
        listing = subprocess.run(
            [sys.executable, "-m", "collector.cli", "results", run_id],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        header = next(i for i, line in enumerate(listing) if line.startswith("CODE "))
        status_at = listing[header].index("STATUS")
        rows = listing[header + 1 : -1]  # the last line sums them up
        return {row[:status_at].rstrip(): row[status_at:].split()[0] for row in rows}

    def expected(self, plain: Outcome) -> dict[str, str]:
        """Each case code and its outcome: the worst of its items' in the plain run."""
        rank = {"failed": 2, "passed": 1, "skipped": 0}
        cases: dict[str, str] = {}
        for nodeid, outcome in plain.outcomes.items():
            code = self.codes.get(nodeid)
            if code is not None and rank[outcome] >= rank.get(cases.get(code, "skipped"), 0):
                cases[code] = outcome
        return cases


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compare(outcome: Outcome, baseline: Outcome, base_name: str, expected: dict[str, str]) -> list[str]:
    """What differs from the baseline: exit code, counts, results; empty when nothing does."""
    problems = []
    if outcome.exit_code != baseline.exit_code:
        problems.append(f"exit code {outcome.exit_code}, {base_name} {baseline.exit_code}")
    if outcome.counts is None:
        problems.append("no final line of pytest's")
    elif baseline.counts is not None:
        for name in COUNTED:
            if outcome.counts[name] != baseline.counts[name]:
                problems.append(f"{name} {outcome.counts[name]}, {base_name} {baseline.counts[name]}")
    if outcome.after and not baseline.after:
        problems.append(f"after pytest's final line: {outcome.after[:200]}")
    if outcome.problem:
        problems.append(outcome.problem)
    if outcome.stored is not None:
        problems += result_problems(outcome.stored, expected)
    return problems


def result_problems(stored: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Results missing, not expected, or of another outcome than the plain run's."""
    missing = sorted(expected.keys() - stored.keys())
    extra = sorted(stored.keys() - expected.keys())
    other = sorted(
        f"{code}: {stored[code]}, plain {expected[code]}"
        for code in expected.keys() & stored.keys()
        if OUTCOME_OF.get(stored[code]) != expected[code]
    )
    return [
        f"{len(codes)} result(s) {what}, e.g. {'; '.join(codes[:3])}"
        for what, codes in (("missing", missing), ("not expected", extra), ("of another outcome", other))
        if codes
    ]


def mark(value: object, differs: bool) -> str:
    return f"{value}!" if differs else str(value)


def report(project: Project, bench: Field, variants: list[str], runs: dict[str, list[Outcome]]) -> bool:
    """Print the project's table and what differed; return whether anything did."""
    cases = len(set(bench.codes.values()))
    print(f"\n{project.name} {project.version} ({project.about})")
    print(f"{len(bench.codes):,} tests, {cases:,} cases")
    headers = ("mode", "exit", *COUNTED, "results", "wall", "x", "RSS tree", "x", "RSS pytest", "x")
    rows, notes, differs = [], [], False
    for variant in variants:
        base_name = BASELINE.get(variant, variant)
        outcomes, baselines = runs[variant], runs[base_name]
        problems = []
        for number, (outcome, baseline) in enumerate(zip(outcomes, baselines, strict=True), 1):
            expected = bench.expected(runs["plain"][number - 1])
            found = compare(outcome, baseline, base_name, expected) if variant != base_name else []
            if base_name == variant and outcome.counts is None:
                found = ["no final line of pytest's"]
            if found:
                where = f"round {number}, " if len(outcomes) > 1 else ""
                problems.append(f"  {variant} ({where}{outcome.log}): " + "; ".join(found))
        differs |= bool(problems)
        notes += problems
        first, base = outcomes[0], baselines[0]
        counts = first.counts or {}
        cells = [variant, mark(first.exit_code, first.exit_code != base.exit_code)]
        cells += [mark(counts.get(n, "?"), counts.get(n) != (base.counts or {}).get(n)) for n in COUNTED]
        if first.stored is None:
            cells.append("-" if variant == base_name else "?")
        else:
            expected = bench.expected(runs["plain"][0])
            wrong = bool(first.problem or result_problems(first.stored, expected))
            cells.append(mark(f"{len(first.stored):,}/{len(expected):,}", wrong))
        for value, unit in (("wall", "s"), ("tree_kib", "MiB"), ("controller_kib", "MiB")):
            values = [getattr(o, value) for o in outcomes]
            base_values = [getattr(o, value) for o in baselines]
            if not all(values + base_values):  # the probe did not write it
                cells += ["?", "?"]
                continue
            shown = f"{median(values):.1f} s" if unit == "s" else f"{median(values) / 1024:.0f} MiB"
            ratio = paired_ratios(values, base_values)[0]
            cells += [shown, "-" if variant == base_name else f"{ratio:.2f}"]
        rows.append(cells)
    print(table(headers, rows))
    for variant in variants:
        stored = runs[variant][0].stored
        if stored is not None:
            statuses = Counter(stored.values())
            print(f"  {variant} results: " + ", ".join(f"{n:,} {s}" for s, n in sorted(statuses.items())))
    if notes:
        print("Differences:")
        print("\n".join(notes))
    return differs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--projects", default=",".join(PROJECTS), help="comma-separated: " + ", ".join(PROJECTS)
    )
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--repeats", type=int, default=1, help="rounds of alternating runs (default 1)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "qahub-field")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a session is killed")
    args = parser.parse_args()
    projects = [p for p in args.projects.split(",") if p]
    modes = [m for m in args.modes.split(",") if m]
    unknown = [p for p in projects if p not in PROJECTS] + [m for m in modes if m not in MODES]
    if unknown or not projects:
        parser.error(f"unknown project or mode: {', '.join(unknown) or '(none given)'}")
    variants = ["plain"]
    for mode in modes:
        if mode == "xdist":
            variants.append("plain -n 2")
        variants.append(mode)
    args.cache.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on kill too
    python = sys.version.split()[0]
    print(f"{time.strftime('%Y-%m-%d')}, Python {python}, {os.cpu_count()} CPUs, cache {args.cache}")
    differs = False
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "server") if {"http", "unreachable"} & set(modes) else None
        try:
            for name in projects:
                bench = Field(PROJECTS[name], args.cache, server, args.timeout)
                bench.prepare()
                runs = alternate(variants, args.repeats, bench.run)
                differs |= report(PROJECTS[name], bench, variants, runs)
        finally:
            if server is not None:
                server.stop()
            stop_delivery_processes(args.cache)  # left warm by the runs in the projects' folders
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
