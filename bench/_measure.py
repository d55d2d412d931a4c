"""Helpers shared by the benchmarks: medians of alternating runs, and table printing."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def alternate(variants: Sequence[str], repeats: int, run: Callable[[str], T]) -> dict[str, list[T]]:
    """Run every variant once per round (A B C A B C …) so load on the machine hits all alike."""
    results: dict[str, list[T]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name in variants:
            results[name].append(run(name))
    return results


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


def parse_bases(values: Sequence[str] | None) -> dict[str, str]:
    """``--base [LABEL=]DIR`` values as {label: directory}; a bare DIR is labelled "base"."""
    bases = {}
    for value in values or ():
        label, sep, directory = value.partition("=")
        if not sep:
            label, directory = "base", value
        bases[label] = str(Path(directory).resolve())
    return bases
