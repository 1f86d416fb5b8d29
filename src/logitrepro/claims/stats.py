"""Statistics over seeds: t-intervals, log-ratio intervals and an exact test for event counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE


@dataclass(frozen=True)
class SeedStats:
    """Mean and 95% interval over seeds. For log-space statistics (`log=True`) the mean is the
    geometric mean and the interval the t-interval of the logs transformed back; `sd` is then the
    standard deviation of the logs."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    log: bool = False

    def as_dict(self) -> dict:
        out = {"n": self.n, "mean": self.mean, "sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high}
        if self.log:
            out["log"] = True
        return out


def t_half_width(sd: float, n: int, confidence: float = CONFIDENCE) -> float:
    return float(sstats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sd / math.sqrt(n)


def seed_stats(values, confidence: float = CONFIDENCE) -> SeedStats:
    """Mean and t-based confidence interval; with one value the interval is unbounded."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("no values to summarise")
    mean = float(v.mean())
    if v.size == 1:
        return SeedStats(1, mean, float("nan"), -math.inf, math.inf)
    sd = float(v.std(ddof=1))
    half = t_half_width(sd, v.size, confidence)
    return SeedStats(int(v.size), mean, sd, mean - half, mean + half)


def log_seed_stats(values, confidence: float = CONFIDENCE) -> SeedStats:
    """For positive ratios: the t-interval of the logs, transformed back (geometric mean)."""
    v = np.asarray(list(values), dtype=float)
    if np.any(v <= 0):
        raise ValueError("log statistics need positive values")
    st = seed_stats(np.log(v), confidence)
    return SeedStats(
        st.n,
        math.exp(st.mean),
        st.sd,
        math.exp(st.ci_low) if math.isfinite(st.ci_low) else 0.0,
        math.exp(st.ci_high) if math.isfinite(st.ci_high) else math.inf,
        log=True,
    )


def welch_df(var_a: float, n_a: int, var_b: float, df_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two means: `var_a` the sample
    variance of n_a values, `var_b` the squared standard error of the other mean with df_b degrees
    of freedom (inf for a spread taken as known)."""
    a = var_a / n_a
    tail_b = 0.0 if math.isinf(df_b) else var_b**2 / df_b
    denominator = a**2 / (n_a - 1) + tail_b
    return math.inf if denominator == 0 else (a + var_b) ** 2 / denominator


def difference_stats(
    values, reference: float, reference_se: float = 0.0, reference_df: float = math.inf, confidence: float = CONFIDENCE
) -> SeedStats:
    """Our mean minus a reported one, with one interval for both uncertainties: our seeds' and, where
    the paper gives its spread, the standard error of its number (Welch)."""
    v = np.asarray(list(values), dtype=float)
    if v.size < 2:
        raise ValueError("a difference interval needs at least two of our seeds")
    var = float(v.var(ddof=1))
    se = math.sqrt(var / v.size + reference_se**2)
    df = welch_df(var, v.size, reference_se**2, reference_df)
    mean = float(v.mean()) - reference
    if se == 0:
        return SeedStats(int(v.size), mean, 0.0, mean, mean)
    half = float(sstats.t.ppf(0.5 + confidence / 2, df=df)) * se
    return SeedStats(int(v.size), mean, math.sqrt(var), mean - half, mean + half)


@dataclass(frozen=True)
class CountTest:
    """Events of a method and a baseline over the same number of seeds and steps. Under 'no
    difference' each event falls in either arm with probability 1/2, so the method's share is
    Binomial(total, 1/2): an exact, conditional test for two Poisson counts of equal exposure."""

    method: int
    baseline: int
    p_fewer: float  # P(method's share <= observed): small when the method has fewer events
    p_more: float  # P(method's share >= observed): small when the method has more

    @property
    def total(self) -> int:
        return self.method + self.baseline


def count_test(method_events: int, baseline_events: int) -> CountTest:
    total = method_events + baseline_events
    if total == 0:
        return CountTest(0, 0, 1.0, 1.0)
    p_fewer = float(sstats.binom.cdf(method_events, total, 0.5))
    p_more = float(sstats.binom.sf(method_events - 1, total, 0.5))
    return CountTest(int(method_events), int(baseline_events), p_fewer, p_more)


def events_needed() -> int:
    """The fewest events, all in the baseline, that the count test can call significant."""
    return math.ceil(math.log(ALPHA) / math.log(0.5))
