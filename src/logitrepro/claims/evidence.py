"""What a claim's statistic is computed from: the runs of its arms that count, seed by seed, and
why each other expected seed is left out. The kinds (logitrepro.claims.kinds) turn these into
their per-seed statistic; no scipy here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DIVERGED = "diverged"


@dataclass
class Evidence:
    """The claim's statistic per usable seed, and why each other expected seed is left out."""

    values: dict[int, float] = field(default_factory=dict)
    left_out: dict[int, str] = field(default_factory=dict)
    counts: dict[str, dict[int, float]] = field(default_factory=dict)  # count claims: per role, per seed
    diverged_included: list[int] = field(default_factory=list)


def excluded(claim, run: dict) -> bool:
    """A diverged run is left out of the statistic, except where divergence is the claim's subject."""
    return run.get("status") == DIVERGED and claim.diverged != "outcome"


def usable(
    claim, runs: dict, arm: str, key: str, expected: list[int], ev: Evidence, allow_inf: bool = False
) -> dict[int, float]:
    """{seed: value of `key`} for the arm's runs that count; the others go to ev.left_out."""
    arm_runs = runs.get(arm, {})
    out = {}
    for seed in expected:
        m = arm_runs.get(seed)
        if m is None:
            ev.left_out.setdefault(seed, f"{arm}: no run")
            continue
        if excluded(claim, m):
            ev.left_out.setdefault(seed, f"{arm}: diverged (excluded)")
            continue
        value = m.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            ev.left_out.setdefault(seed, f"{arm}: no {key}")
            continue
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            ev.left_out.setdefault(seed, f"{arm}: {key} is {value}")
            continue
        if m.get("status") == DIVERGED:
            ev.diverged_included.append(seed)
        out[seed] = float(value)
    return out


def cost_at(curve: dict, metric: str, cost: str, target: float, lower_is_better: bool = True) -> float:
    """The cost (e.g. steps) at which a validation curve first reaches `target`, interpolated
    linearly between the two evaluations around the crossing; inf if it never does."""
    xs, ys = curve.get(cost) or [], curve.get(metric) or []
    pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None and math.isfinite(y)]
    sign = 1.0 if lower_is_better else -1.0
    prev = (0.0, None)
    for x, y in pts:
        if sign * y <= sign * target:
            x0, y0 = prev
            if y0 is None or y0 == y:
                return float(x)
            return float(x0 + (x - x0) * (y0 - target) / (y0 - y))
        prev = (x, y)
    return math.inf
