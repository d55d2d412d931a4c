"""What the embedded delivery spends per result, without a test process beside it.

    python bench/delivery.py [--results 5000] [--rounds 7] [--instructions] [--base [LABEL=]DIR ...]

The delivery process's own work on one session's journal: a journal written by the plugin's
`Journal` (passing results as `status.passed_payload` builds them; every tenth one failed, with
a message), read by its `Follower` and sent by its `Batches`, 500 results a batch, to the
embedded collector on a fresh copy of a database that holds the cases (WAL,
``synchronous=FULL``, as in a session). Each variant runs in a subprocess of its own, the
current code and every ``--base`` copy (ahead on ``PYTHONPATH``), once per round in shuffled
order; ratios are taken round by round.

Reports the CPU time of one delivery (median of ``--rounds``; set-up, imports and the
database copy excluded) and, with ``--instructions``, the instructions per result counted by
``valgrind --tool=callgrind``: a run of three deliveries minus a run of one, over two, so the
count is one delivery's (with its run's creation, a few million) and does not move with the
machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import alternate, base_copy, callgrind, callgrind_count, median, paired_ratios, table

BATCH = 500


def code(n: int) -> str:
    return f"D-{n:05}"


def prepare(workdir: Path, results: int) -> tuple[Path, Path]:
    """Write the database with the cases, and the journal of one session; return both paths."""
    from pytest_qahub.delivery.embedded import EmbeddedTransport
    from pytest_qahub.journal import Journal
    from pytest_qahub.status import passed_payload

    database = workdir / "template.db"
    transport = EmbeddedTransport(workdir, f"sqlite:///{database}")
    transport.import_cases([(code(n), f"delivery {n}") for n in range(1, results + 1)])
    transport.close()
    journal = Journal.create(workdir / "journal", url=None, run_id="bench")
    stamp = dt.datetime.now(dt.UTC)
    for n in range(1, results + 1):
        at = (stamp + dt.timedelta(milliseconds=n)).isoformat(timespec="milliseconds")
        payload = passed_payload(code(n), at, n % 7, None)
        if n % 10 == 0:
            payload.update(
                status="FAILED", error_message="assert 1 == 2", error_stack="test.py:3: AssertionError"
            )
        journal.append_payload(payload)
    journal.close()
    return database, journal.path


def deliver_once(template: Path, journal_template: Path, expected: int) -> float:
    """Deliver the journal into a fresh copy of the database; return the CPU seconds it took."""
    from pytest_qahub.delivery.batches import Batches, send_all
    from pytest_qahub.delivery.embedded import EmbeddedTransport
    from pytest_qahub.journal import Follower, Journal

    with tempfile.TemporaryDirectory(prefix="qahub-delivery-") as where:
        root = Path(where)
        shutil.copy(template, root / "qahub.db")
        journal = root / "session.jsonl"
        shutil.copy(journal_template, journal)
        transport = EmbeddedTransport(root, f"sqlite:///{root / 'qahub.db'}")
        run_id = transport.create_run("bench", {})["id"]
        known = transport.case_codes()
        start = time.process_time()
        follower = Follower(journal)
        entries, _ = follower.read()
        batches = Batches(transport, Journal.for_marks(journal), run_id, known)
        for first in range(0, len(entries), BATCH):
            _, error = send_all(batches, entries[first : first + BATCH], BATCH)
            if error is not None:
                raise RuntimeError(f"delivery failed: {error}")
        spent = time.process_time() - start
        follower.close()
        batches.journal.close()
        transport.close()
    if batches.stats.sent != expected:
        raise RuntimeError(f"{batches.stats.sent} of {expected} results delivered")
    return spent


def worker(args: argparse.Namespace) -> None:
    """Run ``--deliveries`` deliveries in this process; print their CPU seconds as JSON."""
    print(
        json.dumps([deliver_once(args.template, args.journal, args.results) for _ in range(args.deliveries)])
    )


def _worker(path: str | None, files: tuple[Path, Path], results: int, deliveries: int, prefix=()) -> str:
    """Run a worker subprocess on the copy at ``path`` (None: the current code); its output."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if path:
        env["PYTHONPATH"] = path
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--deliveries",
        str(deliveries),
        "--results",
        str(results),
    ]
    command += ["--template", str(files[0]), "--journal", str(files[1])]
    done = subprocess.run([*prefix, *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the worker ({path or 'current'}) failed\n{done.stderr[-3000:]}")
    return done.stdout


def cpu_seconds(path: str | None, files: tuple[Path, Path], results: int) -> float:
    """The CPU seconds of one delivery."""
    [spent] = json.loads(_worker(path, files, results, 1))
    return spent


def instructions_per_result(label: str, path: str | None, files: tuple[Path, Path], results: int) -> float:
    """One delivery's instructions per result: three deliveries minus one, over two."""
    counts = []
    for deliveries in (1, 3):
        log = files[0].parent / f"callgrind-{label}-{deliveries}.log"
        _worker(path, files, results, deliveries, prefix=callgrind(log))
        counts.append(callgrind_count(log))
    return (counts[1] - counts[0]) / 2 / results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    parser.add_argument("--base", type=base_copy, action="append", default=[], metavar="[LABEL=]DIR")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deliveries", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--template", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--journal", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    paths: dict[str, str | None] = {"current": None, **dict(args.base)}
    with tempfile.TemporaryDirectory(prefix="qahub-bench-delivery-") as where:
        files = prepare(Path(where), args.results)
        cpu = alternate(
            list(paths), args.rounds, lambda label: cpu_seconds(paths[label], files, args.results)
        )
        counts = {
            label: instructions_per_result(label, path, files, args.results)
            for label, path in (paths.items() if args.instructions else ())
        }
    headers = ["variant", "cpu per delivery", "per result", "vs current (quartiles)"]
    if counts:
        headers += ["instructions per result", "vs current"]
    rows = []
    for label in paths:
        spent = median(cpu[label])
        ratio, low, high = paired_ratios(cpu[label], cpu["current"])
        row = [
            label,
            f"{spent * 1e3:.0f} ms",
            f"{spent / args.results * 1e6:.1f} µs",
            f"{ratio:.2f} ({low:.2f}-{high:.2f})",
        ]
        if counts:
            row += [f"{counts[label] / 1e3:,.1f} k", f"{counts[label] / counts['current']:.3f}"]
        rows.append(row)
    print(
        f"{args.results:,} results delivered in process, batches of {BATCH}, {args.rounds} rounds (medians)"
    )
    print(table(headers, rows))


if __name__ == "__main__":
    main()
