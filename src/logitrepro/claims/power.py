"""How sure a verdict is: by simulation, the probability that the engine judges a replication
"reproduced" when its true effect is

  perfect     the paper's: the claimed value, or the paper's effect size for a direction claim
              where the config gives one. Where the paper gives no effect size the observed mean
              stands in, and the record says it is post-hoc power (it can only echo the verdict);
  negligible  too small to matter, stated per claim (`negligible:` in the paper config) or, by
              default, a quarter of the paper's effect (from no effect towards it), else 1% of
              the baseline for a comparison. Its pass probability is what the header "P(pass |
              no effect)" promises: how often a replication of an effect nobody would care about
              is called reproduced (for a one-sided claim, the bare no-effect point would give
              about 2.5% by construction and say nothing),

each with the seed count the claim expects and the same interval rule the verdict uses. The seed
spread is taken at its one-sided 80% upper confidence bound (chi-square on n - 1 degrees of
freedom, as Browne (1995) recommends for a pilot's spread), not at the 2-df estimate as if it were
known. A claim that a perfect replication would pass less than 80% of the time is underpowered,
and the smallest seed count that would bring it to 80% is reported.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sstats

from logitrepro.claims.stats import ALPHA, CONFIDENCE

TARGET = 0.8
DRAWS = 4000
MAX_SEEDS = 64
SD_UPPER_LEVEL = 0.8  # the one-sided confidence of the seed spread's upper bound
NEGLIGIBLE_SHARE = 0.25  # a quarter of the paper's effect: too small to matter
NEGLIGIBLE_RELATIVE = 0.01  # without an effect size: 1% of the baseline


def sd_upper(sd: float, n: int, level: float = SD_UPPER_LEVEL) -> float:
    """The one-sided `level` upper confidence bound of a standard deviation estimated from n values."""
    if n < 2 or not math.isfinite(sd):
        return sd
    return sd * math.sqrt((n - 1) / float(sstats.chi2.ppf(1 - level, n - 1)))


def pass_probability(
    mu: float,
    sd: float,
    n: int,
    region: tuple[float, float],
    draws: int = DRAWS,
    seed: int = 0,
    reference_se: float = 0.0,
    reference_df: float = math.inf,
) -> float:
    """P(the n-seed interval of N(mu, sd) draws lies inside `region`), all in the statistic's space.
    With `reference_se` the interval is the Welch interval of the difference to a reported number of
    that standard error (`reference_df` degrees of freedom), as absolute claims are judged."""
    low, high = region
    if n < 2:
        return float("nan")
    if (sd == 0 or not math.isfinite(sd)) and reference_se == 0:
        return float(low <= mu <= high)
    rng = np.random.default_rng(seed)
    x = rng.normal(mu, sd, size=(draws, n))
    mean, var = x.mean(1), x.var(1, ddof=1)
    se = np.sqrt(var / n + reference_se**2)
    if reference_se == 0:
        df = np.full(draws, n - 1.0)
    else:
        tail = 0.0 if math.isinf(reference_df) else reference_se**4 / reference_df
        denominator = (var / n) ** 2 / (n - 1) + tail
        df = np.where(denominator > 0, (var / n + reference_se**2) ** 2 / np.maximum(denominator, 1e-300), np.inf)
    half = sstats.t.ppf(0.5 + CONFIDENCE / 2, df=df) * se
    return float(np.mean((mean - half >= low) & (mean + half <= high)))


def seeds_needed(mu: float, sd: float, region: tuple[float, float], start: int = 2, **reference) -> int | None:
    """The smallest seed count at which a replication with true effect mu passes >= 80%; None above 64."""
    for n in range(max(2, start), MAX_SEEDS + 1):
        if pass_probability(mu, sd, n, region, draws=2000, **reference) >= TARGET:
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
    n_sd: int,
    n: int,
    region: tuple[float, float],
    basis: str,
    null_basis: str = "",
    to_display=lambda v: v,
    **reference,
) -> dict:
    """The power record of an interval-judged claim; perfect, null, sd and region in the statistic's
    space, `sd` estimated from n_sd seeds (taken at its upper bound), n the seeds the claim expects."""
    sd_used = sd_upper(sd, n_sd)
    out = {
        "basis": basis,
        "post_hoc": basis.startswith("post-hoc"),
        "n": n,
        "sd": sd,
        "sd_used": sd_used,
        "sd_rule": f"{SD_UPPER_LEVEL:.0%} upper confidence bound of the seed sd over {n_sd} seeds",
        "perfect_at": to_display(perfect),
        "perfect": pass_probability(perfect, sd_used, n, region, **reference),
    }
    if null is not None and math.isfinite(null):
        out.update(
            null_at=to_display(null),
            null_basis=null_basis,
            null=pass_probability(null, sd_used, n, region, **reference),
        )
    if n >= 2 and math.isfinite(out["perfect"]):
        out["underpowered"] = out["perfect"] < TARGET
        if out["underpowered"]:
            out["seeds_needed"] = seeds_needed(perfect, sd_used, region, start=n + 1, **reference)
    return out


def count_power(method_rate: float, baseline_rate: float, n: int) -> dict:
    pooled = (method_rate + baseline_rate) / 2
    out = {
        "basis": "post-hoc: the observed event rates",
        "post_hoc": True,
        "n": n,
        "perfect_at": [method_rate, baseline_rate],
        "perfect": count_pass_probability(method_rate, baseline_rate, n),
        "null_at": [pooled, pooled],
        "null_basis": "both arms at the pooled rate",
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


def expected_by_chance(records: list[dict]) -> tuple[float, int]:
    """(the expected number of passes if every judged effect were negligible, how many judged claims
    carry that probability): the sum of their P(pass | negligible), to set beside the tally."""
    nulls = [
        r["power"]["null"]
        for r in records
        if r.get("power") and isinstance(r["power"].get("null"), float) and math.isfinite(r["power"]["null"])
    ]
    return float(sum(nulls)), len(nulls)
