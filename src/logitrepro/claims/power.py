"""How sure a verdict is: by simulation from the measured seed spread, the probability that the
engine judges a replication "reproduced"

  perfect  when the true effect is the paper's (the claimed value; the paper's effect size for a
           direction claim where the config gives one; otherwise the measured mean, called
           "observed"), and
  null     when there is no effect (method = baseline) or, for an absolute claim, when the true
           value sits at the edge of the accepted region,

each with the seed count the claim expects and the same interval rule the verdict uses. A claim
that a perfect replication would pass less than 80% of the time is underpowered, and the
smallest seed count that would bring it to 80% is reported.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sstats

from logitrepro.claims.stats import ALPHA, CONFIDENCE

TARGET = 0.8
DRAWS = 4000
MAX_SEEDS = 64


def _t_quantile(n: int) -> float:
    return float(sstats.t.ppf(0.5 + CONFIDENCE / 2, df=n - 1))


def pass_probability(
    mu: float, sd: float, n: int, region: tuple[float, float], draws: int = DRAWS, seed: int = 0
) -> float:
    """P(the n-seed t-interval of N(mu, sd) draws lies inside `region`), all in the statistic's space."""
    low, high = region
    if n < 2:
        return float("nan")
    if sd == 0 or not math.isfinite(sd):
        return float(low <= mu <= high)
    rng = np.random.default_rng(seed)
    x = rng.normal(mu, sd, size=(draws, n))
    mean, s = x.mean(1), x.std(1, ddof=1)
    half = _t_quantile(n) * s / math.sqrt(n)
    return float(np.mean((mean - half >= low) & (mean + half <= high)))


def seeds_needed(mu: float, sd: float, region: tuple[float, float], start: int = 2) -> int | None:
    """The smallest seed count at which a replication with true effect mu passes >= 80%; None above 64."""
    for n in range(max(2, start), MAX_SEEDS + 1):
        if pass_probability(mu, sd, n, region, draws=2000) >= TARGET:
            return n
    return None


def count_pass_probability(
    method_rate: float, baseline_rate: float, n: int, draws: int = DRAWS, seed: int = 0
) -> float:
    """P(the exact count test finds the method with significantly fewer events), per-seed Poisson counts."""
    rng = np.random.default_rng(seed)
    m = rng.poisson(method_rate, size=(draws, n)).sum(1)
    b = rng.poisson(baseline_rate, size=(draws, n)).sum(1)
    total = m + b
    p = np.where(total > 0, sstats.binom.cdf(m, np.maximum(total, 1), 0.5), 1.0)
    return float(np.mean(p < ALPHA))


def interval_power(
    perfect: float,
    null: float | None,
    sd: float,
    n: int,
    region: tuple[float, float],
    basis: str,
    to_display=lambda v: v,
) -> dict:
    """The power record of an interval-judged claim; perfect, null, sd and region in the statistic's space."""
    out = {
        "basis": basis,
        "n": n,
        "sd": sd,
        "perfect_at": to_display(perfect),
        "perfect": pass_probability(perfect, sd, n, region),
    }
    if null is not None and math.isfinite(null):
        out.update(null_at=to_display(null), null=pass_probability(null, sd, n, region))
    if n >= 2 and math.isfinite(out["perfect"]):
        out["underpowered"] = out["perfect"] < TARGET
        if out["underpowered"]:
            out["seeds_needed"] = seeds_needed(perfect, sd, region, start=n + 1)
    return out


def count_power(method_rate: float, baseline_rate: float, n: int) -> dict:
    pooled = (method_rate + baseline_rate) / 2
    out = {
        "basis": "observed",
        "n": n,
        "perfect_at": [method_rate, baseline_rate],
        "perfect": count_pass_probability(method_rate, baseline_rate, n),
        "null_at": [pooled, pooled],
        "null": count_pass_probability(pooled, pooled, n),
    }
    out["underpowered"] = out["perfect"] < TARGET
    if out["underpowered"] and baseline_rate > method_rate:
        out["seeds_needed"] = next(
            (
                k
                for k in range(n + 1, MAX_SEEDS + 1)
                if count_pass_probability(method_rate, baseline_rate, k, draws=2000) >= TARGET
            ),
            None,
        )
    return out


def describe(power: dict | None) -> str:
    """One clause for a verdict's reason: how often a perfect replication passes, and what would fix it."""
    if not power or power.get("perfect") is None or not math.isfinite(power["perfect"]):
        return power.get("note", "") if power else ""
    text = f"a perfect replication ({power['basis']}) passes {power['perfect']:.0%} of the time at {power['n']} seeds"
    if power.get("underpowered"):
        needed = power.get("seeds_needed")
        text += f"; underpowered: {needed} seeds would reach 80%" if needed else "; underpowered even at 64 seeds"
    return text
