"""Timing helpers shared by the benchmark sections: interleaved medians, fastest option, slope.

Every timed side gets one untimed warm-up run first (first-call allocations, thread pools, lazy
imports), then ``repeats`` timed runs; the sides alternate within each round so that a change of
load on a shared machine hits all of them alike and the ratios stay meaningful. What a side
needs before its timed call (building a model object, drawing data) is done by its ``prepare``
step, outside the timer.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: a side of a comparison: ``prepare(round)`` (untimed; round 0 is the warm-up, 1... the timed
#: rounds) returns the call that is timed
Prepare = Callable[[int], Callable[[], Any]]


@dataclass(frozen=True)
class Timings:
    """Wall times and results of the timed runs (warm-up excluded), by side."""

    seconds: dict[Any, list[float]]
    results: dict[Any, list[Any]]

    def median(self, name: Any) -> float:
        """Median wall seconds of side ``name``."""
        return statistics.median(self.seconds[name])

    def last(self, name: Any) -> Any:
        """The result of the last timed run of side ``name``."""
        return self.results[name][-1]


def interleaved_times(sides: Mapping[Any, Prepare], repeats: int) -> Timings:
    """One warm-up round, then ``repeats`` timed rounds; each round runs every side once.

    Args:
        sides: name -> prepare step; ``prepare(round)`` runs untimed and returns the
            zero-argument call whose wall time is measured (its return value is kept).
        repeats: timed rounds, >= 1.

    Returns:
        :class:`Timings`: ``repeats`` wall times and results per side.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for prepare in sides.values():  # warm-up round
        prepare(0)()
    seconds: dict[Any, list[float]] = {name: [] for name in sides}
    results: dict[Any, list[Any]] = {name: [] for name in sides}
    for round_ in range(1, repeats + 1):
        for name, prepare in sides.items():
            run = prepare(round_)
            start = time.perf_counter()
            result = run()
            seconds[name].append(time.perf_counter() - start)
            results[name].append(result)
    return Timings(seconds, results)


def fastest(seconds: Mapping[Any, Sequence[float]]) -> Any:
    """The option whose median time is smallest (the first one listed on ties).

    Args:
        seconds: option -> its measured wall times (non-empty).
    """
    if not seconds:
        raise ValueError("no options to choose from")
    return min(seconds, key=lambda option: statistics.median(seconds[option]))


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares line ``y = slope * x + intercept`` through at least two points.

    Returns:
        ``(slope, intercept)``; ``(nan, nan)`` with fewer than two points or all ``x`` equal.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    n = len(x)
    if n < 2:
        return math.nan, math.nan
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((xi - mean_x) ** 2 for xi in x)
    if sxx == 0:
        return math.nan, math.nan
    slope = sum((xi - mean_x) * (yi - mean_y) for xi, yi in zip(x, y)) / sxx
    return slope, mean_y - slope * mean_x
