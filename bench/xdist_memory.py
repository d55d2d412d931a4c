"""The xdist controller's memory: a large suite with ``-n 2``, plain and with the plugin embedded.

    python bench/xdist_memory.py [--tests 64000] [--files 64] [--workers 2] [--repeats 1]
                                 [--base [LABEL=]DIR ...]

Generates a project of ``--tests`` trivial tests (``def test_00001(): pass`` …) in ``--files``
files, unmapped (the embedded collector reports them under their node ids), and runs it with
``-n 2`` as its own ``pytest`` subprocess:

- ``plain``: pytest and pytest-xdist alone (``-p no:qahub``);
- ``embedded``: ``--qahub-run`` without a URL (the project's ``.qahub/qahub.db``), with up to
  600 s to deliver at the end (``--qahub-flush-timeout``); after each run the script checks
  with ``qahub results`` that every test's result arrived.

pytest keeps every report it logs (``terminalreporter.stats``) until the session ends, so
whatever a plugin leaves on the reports that the workers send grows the controller by the
suite's size. The figure is the controller's peak RSS (``ru_maxrss`` of the pytest process
itself, written at ``pytest_unconfigure`` by ``_rss_probe.py``), and its ratio to plain's in
the same round; the largest process of the tree (``wait4``: a worker, or the delivery process)
and the wall time are printed beside it. Plugin auto-loading is off in every variant and each
loads only what it needs (xdist, ours, the probe).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import alternate, base_copy, median, paired_ratios, table
from _rss_probe import FILE_ENV as RSS_FILE_ENV

BENCH_DIR = Path(__file__).resolve().parent
VARIANTS = ("plain", "embedded")


def generate(root: Path, tests: int, files: int) -> None:
    """Write the project: ``tests`` trivial passing tests spread over ``files`` files."""
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per_file = -(-tests // files)
    for f in range(files):
        numbers = range(f * per_file + 1, min((f + 1) * per_file, tests) + 1)
        body = "".join(f"def test_{n:05}():\n    pass\n\n\n" for n in numbers)
        (root / f"test_mem_{f:03}.py").write_text(body)


@dataclass
class Outcome:
    controller_kib: int
    tree_kib: int  # the largest process of the tree
    wall: float


class Bench:
    def __init__(self, workdir: Path, tests: int, files: int, workers: int) -> None:
        self.workdir = workdir
        self.tests = tests
        self.workers = workers
        self.root = workdir / "project"
        generate(self.root, tests, files)
        self.bases: dict[str, str] = {}
        self._number = 0

    def run(self, variant: str) -> Outcome:
        variant, _, base = variant.partition("@")
        self._number += 1
        run_id = f"mem-{self._number}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("QAHUB_")}
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # cache bytecode as Python does by default
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [self.bases.get(base), str(BENCH_DIR)]))
        database = self.workdir / f"qahub-{self._number}.db"
        env["QAHUB_DATABASE_URL"] = f"sqlite:///{database}"
        rss_file = self.workdir / f"rss-{self._number}"
        env[RSS_FILE_ENV] = str(rss_file)
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "xdist.plugin"]
        args += ["-p", "_rss_probe", "-n", str(self.workers)]
        if variant == "embedded":
            # Time to deliver everything, however loaded the machine: the check below counts it.
            args += ["-p", "pytest_qahub.plugin", f"--qahub-run={run_id}", "--qahub-flush-timeout=600"]
        else:
            args += ["-p", "no:qahub"]
        log = self.workdir / f"pytest-{self._number}.log"
        with log.open("w") as out:
            start = time.monotonic()
            process = subprocess.Popen(args, cwd=self.root, env=env, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.monotonic() - start
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0:
            raise RuntimeError(f"{variant}: pytest exited {exit_code}\n{log.read_text()[-3000:]}")
        if variant == "embedded":
            self.verify(env, run_id, log)
        return Outcome(int(rss_file.read_text()), usage.ru_maxrss, wall)

    def verify(self, env: dict[str, str], run_id: str, log: Path) -> None:
        """Check that every test's result is in the embedded database."""
        command = [sys.executable, "-m", "collector.cli", "results", run_id]
        listing = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        last = listing.rstrip().splitlines()[-1]
        if last != f"{self.tests} results: {self.tests} passed":
            raise RuntimeError(f"{run_id}: {last!r}, expected {self.tests} passed\n{log.read_text()[-3000:]}")


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def report(tests: int, workers: int, outcomes: dict[str, list[Outcome]]) -> None:
    plain = outcomes["plain"]
    rows = []
    for variant, runs in outcomes.items():
        controller = median([o.controller_kib for o in runs])
        ratio, low, high = paired_ratios([o.controller_kib for o in runs], [o.controller_kib for o in plain])
        wall_ratio, _, _ = paired_ratios([o.wall for o in runs], [o.wall for o in plain])
        rows.append(
            (
                variant,
                mib(controller),
                "-" if variant == "plain" else f"{ratio:.3f}x ({low:.3f}-{high:.3f})",
                mib(median([o.tree_kib for o in runs])),
                f"{median([o.wall for o in runs]):.1f} s",
                "-" if variant == "plain" else f"{wall_ratio:.2f}x",
            )
        )
    print(f"\n{tests:,} trivial tests, -n {workers} (medians; ratios to plain in the same round)")
    headers = ("variant", "controller peak RSS", "vs plain", "largest process", "wall", "vs plain")
    print(table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=64_000)
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of alternating runs (default 1)")
    parser.add_argument(
        "--base",
        metavar="[LABEL=]DIR",
        action="append",
        type=base_copy,
        help="also run ours from DIR (a copy of pytest_qahub/ and collector/, e.g. before a change) "
        "as embedded@LABEL; may be repeated",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), args.tests, args.files, args.workers)
        bench.bases = dict(args.base or ())
        variants = [*VARIANTS, *(f"embedded@{label}" for label in bench.bases)]
        outcomes = alternate(variants, args.repeats, bench.run)
        report(args.tests, args.workers, outcomes)


if __name__ == "__main__":
    main()
