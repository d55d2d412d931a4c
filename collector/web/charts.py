"""Small charts drawn on the server as inline SVG: a page needs no script to show them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sparkline:
    """A line through values, scaled to a ``width`` by ``height`` box (y grows downwards)."""

    points: str
    width: int
    height: int
    low: int
    high: int
    last: tuple[float, float]


def sparkline(values: Sequence[int | None], width: int = 300, height: int = 40) -> Sparkline | None:
    """Scale the values (``None`` ones are left out, keeping their place) to a polyline; ``None`` if none."""
    known = [(n, v) for n, v in enumerate(values) if v is not None]
    if not known:
        return None
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or 1
    pad = 3  # room for the stroke and the dot at the ends
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    xy = [(pad + n * step, pad + (height - 2 * pad) * (1 - (v - low) / span)) for n, v in known]
    if high == low:
        xy = [(x, height / 2) for x, _ in xy]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    return Sparkline(points, width, height, low, high, xy[-1])
