"""Wall-clock timing of competing implementations, measured in turns.

Jobs of the pipeline share the machine, so a timing taken minutes apart in two jobs mixes in
whatever else ran then. Timing the candidates in the same process, one call of each in turn,
exposes them to the same load; the median over rounds drops the rounds a neighbour disturbed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved_medians(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 7,
    warmup: int = 2,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median seconds per call of each candidate, calling them in turn for `rounds` rounds
    after `warmup` untimed rounds (allocator, caches, lazy compilation)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for r in range(warmup + rounds):
        for name, fn in candidates.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}
