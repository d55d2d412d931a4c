"""The test process's own cost in CPU instructions: bare pytest vs. ours vs. allure-pytest.

    python bench/instructions.py [--tests 1000] [--only pass|fail] [--variants bare,floor,...]
                                 [--base [LABEL=]DIR ...]

Wall time on a shared machine moves by ±15 % from one run to the next, more than the 5 %
the plugin may add, so this counts instead what the pytest process itself executes, with
``valgrind --tool=callgrind`` (the same count for the same run, whatever else the machine
is doing). Each variant of ``bench/overhead.py`` runs once on a project of ``--tests``
trivial mapped tests (after a warm-up run that writes the bytecode caches), and once on a
project of 10 tests, which splits the count into a fixed part (start-up, imports, the end
of the session) and a part per test.

Only the pytest process is counted: not ``qahub serve`` (HTTP) and not the plugin's
delivery process, which run beside it. Under valgrind a run takes about 40 times longer, so
the variants run two at a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import base_copy, callgrind, callgrind_count, table
from overhead import OURS, VARIANTS, YARDSTICKS, Bench

SMALL = 10


def count(bench: Bench, project: str, variant: str) -> int:
    """Instructions the pytest process executed for one run of variant."""
    log = bench.workdir / f"callgrind-{project}-{variant}.log"
    bench.run(project, variant, prefix=callgrind(log))
    return callgrind_count(log)


def measure(bench: Bench, project: str, variants: list[str]) -> dict[str, int]:
    for variant in variants:  # warm-up: bytecode caches, the server's first requests
        bench.run(project, variant)
    with ThreadPoolExecutor(2) as pool:
        counts = pool.map(lambda v: count(bench, project, v), variants)
    return dict(zip(variants, counts, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--only", choices=("pass", "fail"), default="pass")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of " + ", ".join(VARIANTS + YARDSTICKS),
    )
    parser.add_argument(
        "--base",
        metavar="[LABEL=]DIR",
        action="append",
        type=base_copy,
        help="count ours also from DIR (a copy of pytest_qahub/ and collector/, e.g. before a change) "
        "as http@LABEL, embedded@LABEL (LABEL defaults to 'base'); may be repeated",
    )
    args = parser.parse_args()
    variants = ["bare", *(v for v in args.variants.split(",") if v and v != "bare")]
    bases = dict(args.base or ())
    variants += [f"{v}@{label}" for label in bases for v in OURS if v in variants]
    with tempfile.TemporaryDirectory() as tmp:
        big = Bench(Path(tmp) / "big", args.tests, max(1, args.tests // 100))
        small = Bench(Path(tmp) / "small", SMALL, 1)
        big.bases = small.bases = bases
        try:
            counts = measure(big, args.only, variants)
            fixed = measure(small, args.only, variants)
        finally:
            big.server.stop()
            small.server.stop()
    per_test_bare = (counts["bare"] - fixed["bare"]) / (args.tests - SMALL)
    at_5000_bare = project(fixed["bare"], counts["bare"], args.tests, 5000)
    rows = []
    for variant in variants:
        per_test = (counts[variant] - fixed[variant]) / (args.tests - SMALL)
        at_5000 = project(fixed[variant], counts[variant], args.tests, 5000)
        rows.append(
            (
                variant,
                f"{counts[variant] / 1e6:,.0f} M",
                f"{counts[variant] / counts['bare']:.3f}x",
                "-" if variant == "bare" else f"{(fixed[variant] - fixed['bare']) / 1e6:+,.0f} M",
                f"{per_test / 1e3:,.0f} k",
                f"{per_test / per_test_bare:.3f}x",
                f"{at_5000 / at_5000_bare:.3f}x",
            )
        )
    kind = "10% failing" if args.only == "fail" else "all passing"
    print(f"\n{args.tests:,} tests, {kind}: instructions of the pytest process (callgrind)")
    headers = ("variant", "total", "vs bare", "fixed vs bare", "per test", "vs bare", "5,000 tests vs bare")
    print(table(headers, rows))


def project(fixed: int, total: int, tests: int, target: int) -> float:
    """The count for target tests, from a run of SMALL tests and one of tests tests."""
    return fixed + (total - fixed) / (tests - SMALL) * (target - SMALL)


if __name__ == "__main__":
    main()
