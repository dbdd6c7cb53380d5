"""Latency summaries shared by every benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``samples``; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> LatencySummary:
        millis = [sample * 1000 for sample in samples]
        return cls(
            count=len(millis),
            p50_ms=percentile(millis, 0.50),
            p99_ms=percentile(millis, 0.99),
            mean_ms=sum(millis) / len(millis) if millis else math.nan,
            max_ms=max(millis, default=math.nan),
        )
