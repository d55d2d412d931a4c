"""Helpers shared by the benchmarks: medians of alternating runs, table printing, clean-up."""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def alternate(variants: Sequence[str], repeats: int, run: Callable[[str], T]) -> dict[str, list[T]]:
    """Run every variant once per round, so load on the machine hits all alike.

    The order within a round is shuffled (seeded: the same every time), so that no variant
    always follows the same one and inherits what it left behind (dirty pages being written
    back, a busy server). Each variant's list holds its runs in round order.
    """
    results: dict[str, list[T]] = {name: [] for name in variants}
    order = list(variants)
    shuffler = random.Random(0)
    for _ in range(repeats):
        for name in order:
            results[name].append(run(name))
        shuffler.shuffle(order)
    return results


def callgrind(log: Path) -> tuple[str, ...]:
    """The prefix that runs a command under callgrind, its summary written to ``log``."""
    return ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={log}")


def callgrind_count(log: Path) -> int:
    """The instructions a run under `callgrind` executed, from its summary."""
    found = re.search(r"Collected : (\d+)", log.read_text())
    if found is None:
        raise RuntimeError(f"no instruction count in {log}:\n{log.read_text()[-2000:]}")
    return int(found.group(1))


def paired_ratios(runs: Sequence[float], baseline: Sequence[float]) -> tuple[float, float, float]:
    """Each round's run over the same round's baseline: the median and the quartiles.

    Load on a shared machine drifts over minutes; a ratio within one round cancels most of it.
    """
    ratios = [run / base for run, base in zip(runs, baseline, strict=True)]
    if len(ratios) < 2:
        return ratios[0], ratios[0], ratios[0]
    low, _, high = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), low, high


def median(values: Sequence[float]) -> float:
    """The median of values."""
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with right-aligned columns after the first."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def base_copy(value: str) -> tuple[str, str]:
    """An argparse type for ``--base [LABEL=]DIR``: (label, directory); a bare DIR is labelled "base".

    The directory must hold a copy of ``pytest_qahub/``: otherwise the runs labelled with it
    would quietly measure the installed code.
    """
    label, sep, directory = value.partition("=")
    if not sep:
        label, directory = "base", value
    path = Path(directory).resolve()
    if not (path / "pytest_qahub" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"{directory} holds no copy of pytest_qahub/")
    return label, str(path)


def stop_delivery_processes(under: Path) -> None:
    """Stop the warm delivery processes the runs left (their working directory is under ``under``)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if not entry.name.isdigit() or b"pytest_qahub.delivery" not in (entry / "cmdline").read_bytes():
                continue
            if Path(os.readlink(entry / "cwd")).is_relative_to(under):
                os.kill(int(entry.name), signal.SIGTERM)
