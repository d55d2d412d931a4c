"""Plugin overhead: 5,000 trivial mapped tests, bare pytest vs. ours vs. allure-pytest.

    python bench/overhead.py [--tests 5000] [--files 50] [--repeats 3] [--only pass|fail]
                             [--variants bare,floor,http,...] [--base [LABEL=]DIR ...]

Generates a project of ``--tests`` tests marked ``@pytest.mark.qahub("B-00001")`` … in
``--files`` files (plus a copy where every tenth test fails), and runs it in subprocesses,
each variant once per round (in a shuffled order), reporting the medians and each variant's
median ratio to bare pytest's run of the same round:

- ``bare``: pytest alone (``-p no:qahub``);
- ``http``: ``--qahub-run`` reporting to a real local ``qahub serve`` (token in QAHUB_TOKEN);
- ``embedded``: ``--qahub-run`` without a URL (the project's ``.qahub/qahub.db``);
- ``http-cold``, ``embedded-cold``: the same with ``QAHUB_KEEP_WARM=0``, as in CI: every session
  starts its own delivery process (the others are served by the one the previous session
  left warm, as on a developer's machine; not run unless named in ``--variants``);
- ``allure``: allure-pytest writing its result files (``--alluredir``);
- ``floor``: ``_floor_plugin.py``, a yardstick: one journal line per test from three plain
  ``pytest_runtest_logreport`` calls and nothing else (not run unless named in ``--variants``).

Bytecode is cached as Python does by default (the warm-up round writes it), even where
``PYTHONDONTWRITEBYTECODE`` is set. Plugin auto-loading is off in every variant
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``) and each loads only its own plugin, so the other
plugins installed here do not dilute the ratios.
After each run of ours the results are counted where they landed (the server's listing, the
embedded database). The generated conftest records when the session started, when collection
ended, when the first test began, when the last one ended (with the main thread's CPU time
over the tests, and how long it waited for a CPU while ready to run, from Linux's
``/proc/thread-self/schedstat``) and when every plugin's ``pytest_sessionfinish`` had returned (ours flushes
there: "sessionfinish" is the final flush, without pytest's own report of the failures that
follows it); the time from the last test's end to the subprocess's exit is the session's end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _floor_plugin import FILE_ENV as FLOOR_FILE_ENV
from _measure import alternate, base_copy, median, paired_ratios, stop_delivery_processes, table
from _server import Server

BENCH_DIR = Path(__file__).resolve().parent

VARIANTS = ("bare", "http", "embedded", "allure")
#: Run only when asked for: the least any journaling plugin costs (``_floor_plugin.py``), and
#: ours without a warm delivery process.
YARDSTICKS = ("floor", "http-cold", "embedded-cold")
#: Seconds the delivery process stays warm in the ``http`` and ``embedded`` variants.
KEEP_WARM_S = "600"
OURS = ("http", "embedded")
LAST_FILE_ENV = "BENCH_LAST_TEST_FILE"

CONFTEST = f'''
import json
import os
import time

import pytest

_marks = {{}}
_last = None


def _run_queue_wait():
    """Seconds this thread has waited for a CPU while ready to run (Linux's schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def pytest_sessionstart(session):
    _marks["sessionstart"] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session):
    global _last
    _marks["collected"] = time.time()
    yield
    _last = session.items[-1].nodeid if session.items else None
    _marks["first_test"] = time.time()
    _marks["first_test_cpu"] = time.thread_time()
    _marks["first_test_wait"] = _run_queue_wait()


def pytest_runtest_logfinish(nodeid, location):
    if nodeid == _last:
        _marks["last_test_end"] = time.time()
        _marks["last_test_cpu"] = time.thread_time()
        _marks["last_test_wait"] = _run_queue_wait()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session):
    try:
        return (yield)
    finally:  # after every plugin's sessionfinish: ours flushes there
        _marks["sessionfinish_end"] = time.time()
        with open(os.environ["{LAST_FILE_ENV}"], "w") as out:
            json.dump(_marks, out)
'''

PYTEST_INI = """[pytest]
markers =
    qahub(code): QAHub test case (registered here so bare pytest does not warn)
"""


def code(n: int) -> str:
    return f"B-{n:05}"


def generate(root: Path, tests: int, files: int, failing: bool) -> None:
    """Write the project: tests spread over files; with failing, every tenth test fails."""
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    (root / "conftest.py").write_text(CONFTEST)
    per_file = -(-tests // files)
    for f in range(files):
        numbers = range(f * per_file + 1, min((f + 1) * per_file, tests) + 1)
        body = ["import pytest", ""]
        for n in numbers:
            check = "assert n == 0" if failing and n % 10 == 0 else "pass"
            body += [
                "",
                f'@pytest.mark.qahub("{code(n)}")',
                f"def test_{n:05}():",
                f"    n = {n}",
                f"    {check}",
                "",
            ]
        (root / f"test_bench_{f:03}.py").write_text("\n".join(body))


@dataclass
class Outcome:
    wall: float
    tail: float  # from the last test's end to the process's exit
    cpu: float  # the pytest process's user + system time
    #: start-up, collection, before the first test, the tests, their main-thread CPU, the main
    #: thread's wait for a CPU during them, and from the last test's end to the end of
    #: pytest_sessionfinish (ours: the final flush), in seconds
    phases: tuple[float, float, float, float, float, float, float]


class Bench:
    """The server, the two projects, and one subprocess run per call."""

    def __init__(self, workdir: Path, tests: int, files: int) -> None:
        self.workdir = workdir
        self.tests = tests
        self.server = Server(workdir / "server")
        cases = workdir / "cases.json"
        cases.write_text(json.dumps([{"code": code(n), "title": f"bench {n}"} for n in range(1, tests + 1)]))
        self.server.qahub("case", "import", str(cases))
        self.projects = {}
        for name, failing in (("pass", False), ("fail", True)):
            root = workdir / name
            generate(root, tests, files, failing)
            self.projects[name] = root
            # The embedded collector's database, with the same codes already there.
            self._embedded_cli(root, "case", "import", str(cases))
        self._counter = itertools.count(1)
        #: label -> a directory holding other copies of pytest_qahub/ and collector/
        self.bases: dict[str, str] = {}

    def _embedded_cli(self, root: Path, *args: str) -> str:
        env = {**os.environ, "QAHUB_DATABASE_URL": f"sqlite:///{root / '.qahub' / 'qahub.db'}"}
        command = [sys.executable, "-m", "collector.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout

    def run(self, project: str, variant: str, prefix: tuple[str, ...] = ()) -> Outcome:
        """Run one variant on one project; prefix wraps the command (e.g. valgrind)."""
        root = self.projects[project]
        variant, _, base = variant.partition("@")
        cold = variant.endswith("-cold")
        variant = variant.removesuffix("-cold")
        number = next(self._counter)  # runs may go two at a time: each has its own files
        run_id = f"bench-{variant}-{number}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        # The warm delivery process listens in the bench's own folder; cleaned up at the end.
        env["XDG_RUNTIME_DIR"] = str(self.workdir)
        env["QAHUB_KEEP_WARM"] = "0" if cold else KEEP_WARM_S
        # Cache bytecode as Python does by default: otherwise every run compiles the plugin
        # and pytest rewrites every test module again, which no developer machine or CI pays.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if base:  # another copy of pytest_qahub and collector, ahead of the installed ones
            env["PYTHONPATH"] = self.bases[base]
        last_file = self.workdir / f"last-test-end-{number}"
        env[LAST_FILE_ENV] = str(last_file)
        args = [sys.executable, "-m", "pytest", "-p", "no:qahub"]
        if variant == "http":
            response = self.server.session.post(f"{self.server.api}/runs", json={"name": run_id}, timeout=10)
            response.raise_for_status()
            run_id = response.json()["data"]["id"]
            env["QAHUB_TOKEN"] = self.server.token
            args = [sys.executable, "-m", "pytest", "-p", "pytest_qahub.plugin"]
            args += [f"--qahub-run={run_id}", f"--qahub-url={self.server.url}"]
        elif variant == "embedded":
            args = [sys.executable, "-m", "pytest", "-p", "pytest_qahub.plugin", f"--qahub-run={run_id}"]
        elif variant == "allure":
            args += [
                "-p",
                "allure_pytest.plugin",
                f"--alluredir={self.workdir / 'allure' / str(number)}",
            ]
        elif variant == "floor":
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
            env[FLOOR_FILE_ENV] = str(self.floor_file(number))
            args += ["-p", "_floor_plugin"]
        log = self.workdir / f"pytest-{number}.log"
        with log.open("w") as out:
            start = time.time()
            process = subprocess.Popen(
                [*prefix, *args], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            _, status, usage = os.wait4(process.pid, 0)
            end = time.time()
        exit_code = os.waitstatus_to_exitcode(status)
        expected = 1 if project == "fail" else 0
        if exit_code != expected:
            raise RuntimeError(f"{variant}/{project}: pytest exited {exit_code}\n{log.read_text()[-3000:]}")
        self.verify(project, variant, run_id, root, log, number)
        marks = json.loads(last_file.read_text())
        phases = (
            marks["sessionstart"] - start,
            marks["collected"] - marks["sessionstart"],
            marks["first_test"] - marks["collected"],
            marks["last_test_end"] - marks["first_test"],
            marks["last_test_cpu"] - marks["first_test_cpu"],
            marks["last_test_wait"] - marks["first_test_wait"],
            marks["sessionfinish_end"] - marks["last_test_end"],
        )
        return Outcome(end - start, end - marks["last_test_end"], usage.ru_utime + usage.ru_stime, phases)

    def floor_file(self, number: int) -> Path:
        return self.workdir / f"floor-{number}.jsonl"

    def verify(self, project: str, variant: str, run_id: str, root: Path, log: Path, number: int) -> None:
        """Check that every result arrived before pytest exited (ours; the yardstick's file)."""
        failed_expected = self.tests // 10 if project == "fail" else 0
        if variant == "floor":
            lines = self.floor_file(number).read_bytes().splitlines()
            statuses = ["FAILED" if b'"outcome":"failed"' in line else "PASSED" for line in lines]
        elif variant == "http":
            response = self.server.session.get(f"{self.server.api}/runs/{run_id}/results", timeout=60)
            statuses = [r["status"] for r in response.json()["data"]]
        elif variant == "embedded":
            lines = self._embedded_cli(root, "results", run_id).splitlines()
            statuses = [line.split()[1] for line in lines if line.startswith("B-")]
        else:
            return
        if len(statuses) != self.tests or statuses.count("FAILED") != failed_expected:
            raise RuntimeError(
                f"{variant}/{project}: {len(statuses)} results ({statuses.count('FAILED')} failed) "
                f"arrived, expected {self.tests} ({failed_expected})\n{log.read_text()[-3000:]}"
            )


def report(project: str, tests: int, outcomes: dict[str, list[Outcome]]) -> None:
    bare_walls = [o.wall for o in outcomes["bare"]]
    bare = median(bare_walls)
    bare_tail = median([o.tail for o in outcomes["bare"]])
    bare_cpu = median([o.cpu for o in outcomes["bare"]])
    rows = []
    for variant, runs in outcomes.items():
        wall = median([o.wall for o in runs])
        tail = median([o.tail for o in runs])
        cpu = median([o.cpu for o in runs])
        per_test = (wall - bare) / tests * 1e6
        paired, low, high = paired_ratios([o.wall for o in runs], bare_walls)
        rows.append(
            (
                variant,
                f"{wall:.2f} s",
                f"{wall / bare:.3f}x",
                "-" if variant == "bare" else f"{paired:.3f}x ({low:.3f}-{high:.3f})",
                "-" if variant == "bare" else f"{per_test:+.0f} us",
                f"{cpu:.2f} s",
                f"{cpu / bare_cpu:.3f}x",
                f"{tail:.3f} s",
                "-" if variant == "bare" else f"{tail - bare_tail:+.3f} s",
                " ".join(f"{o.wall:.2f}" for o in runs),
            )
        )
    print(f"\n{tests:,} tests, {'10% failing' if project == 'fail' else 'all passing'} (medians)")
    headers = (
        "variant",
        "wall",
        "vs bare",
        "same round (quartiles)",
        "per test",
        "cpu",
        "vs bare",
        "last test->exit",
        "vs bare",
        "runs (s)",
    )
    print(table(headers, rows))
    print_phases(outcomes)


PHASES = (
    "start-up",
    "collection",
    "before 1st test",
    "tests",
    "tests: main thread CPU",
    "tests: waiting for a CPU",
    "sessionfinish",
)


def print_phases(outcomes: dict[str, list[Outcome]]) -> None:
    """Where the time goes: each phase's median, and its difference from bare pytest's."""
    bare = [median([o.phases[i] for o in outcomes["bare"]]) for i in range(len(PHASES))]
    rows = []
    for variant, runs in outcomes.items():
        cells = [variant]
        for i in range(len(PHASES)):
            value = median([o.phases[i] for o in runs])
            cells.append(f"{value:.3f}" if variant == "bare" else f"{value:.3f} ({value - bare[i]:+.3f})")
        rows.append(cells)
    print("\nWhere the time goes (medians, seconds; in brackets the difference from bare)")
    print(table(("variant", *PHASES), rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of alternating runs (default 3)")
    parser.add_argument("--only", choices=("pass", "fail"), help="run one of the two projects")
    parser.add_argument(
        "--base",
        metavar="[LABEL=]DIR",
        action="append",
        type=base_copy,
        help="also run ours from DIR (a copy of pytest_qahub/ and collector/, e.g. before a change) as "
        "http@LABEL, embedded@LABEL (LABEL defaults to 'base'); may be repeated",
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of " + ", ".join(VARIANTS + YARDSTICKS),
    )
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    if "bare" not in variants:
        variants.insert(0, "bare")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server on kill too
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.tests, args.files)
        bench.bases = dict(args.base or ())
        variants += [f"{v}@{label}" for label in bench.bases for v in OURS if v in variants]
        try:
            projects = [args.only] if args.only else ["pass", "fail"]
            for project in projects:
                for variant in variants:  # warm-up: bytecode caches, the server's first requests
                    bench.run(project, variant)
                outcomes = alternate(variants, args.repeats, lambda v, p=project: bench.run(p, v))
                report(project, args.tests, outcomes)
        finally:
            bench.server.stop()
            stop_delivery_processes(Path(tmp))


if __name__ == "__main__":
    main()
