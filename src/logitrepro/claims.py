"""Claims as data: seed statistics and computed verdicts.

A claim compares a statistic over seeds with what the paper says. The statistic depends on
the kind: the metric itself (absolute), the paired per-seed difference or ratio between a
method arm and a baseline arm (difference, ratio, direction), or the margin to an analytic
bound (bound). Its 95% t-interval over seeds is set against the accepted region:
inside -> reproduced; outside -> not reproduced; straddling a boundary -> inconclusive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_CHECKED = "not checked at this scale"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CHECKED)


@dataclass(frozen=True)
class SeedStats:
    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high}


def seed_stats(values, confidence: float = 0.95) -> SeedStats:
    """Mean and t-based confidence interval; with one value the interval is unbounded."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("no values to summarise")
    mean = float(v.mean())
    if v.size == 1:
        return SeedStats(1, mean, float("nan"), -math.inf, math.inf)
    sd = float(v.std(ddof=1))
    half = float(sstats.t.ppf(0.5 + confidence / 2, df=v.size - 1)) * sd / math.sqrt(v.size)
    return SeedStats(int(v.size), mean, sd, mean - half, mean + half)


def interval_verdict(low: float, high: float, accept_low: float, accept_high: float) -> str:
    """Compare a confidence interval with the accepted region [accept_low, accept_high]."""
    if accept_low <= low and high <= accept_high:
        return REPRODUCED
    if high < accept_low or low > accept_high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def accepted_region(claim: dict) -> tuple[float, float]:
    kind = claim["kind"]
    if kind in ("absolute", "difference", "ratio"):
        return claim["claimed"] - claim["tolerance"], claim["claimed"] + claim["tolerance"]
    # direction: the method beats the baseline (margin >= 0); bound: the value respects the bound.
    return 0.0, math.inf


def per_seed_values(claim: dict, runs: dict[str, dict[int, dict]]) -> dict[int, float]:
    """The claim's statistic per seed. `runs[arm][seed]` is that run's metrics dict."""
    kind, metric = claim["kind"], claim["metric"]

    def metric_of(arm: str) -> dict[int, float]:
        return {seed: float(m[metric]) for seed, m in runs.get(arm, {}).items() if metric in m}

    if kind == "absolute":
        return metric_of(claim["arm"])
    if kind == "bound":
        arm = runs.get(claim["arm"], {})
        return {s: float(m[metric]) - float(m[claim["bound_metric"]]) for s, m in arm.items()
                if metric in m and claim["bound_metric"] in m}
    method, baseline = metric_of(claim["method"]), metric_of(claim["baseline"])
    seeds = sorted(set(method) & set(baseline))  # paired by seed
    if kind == "ratio":
        return {s: method[s] / baseline[s] for s in seeds}
    diff = {s: method[s] - baseline[s] for s in seeds}
    if kind == "direction" and not claim.get("higher_is_better", True):
        diff = {s: -d for s, d in diff.items()}
    return diff


def judge(claim: dict, runs: dict[str, dict[int, dict]], scale: str, paper: dict | None = None) -> dict:
    """A claim record with its verdict, computed from the runs of its experiment."""
    record = {
        "id": claim["id"], "statement": claim["statement"], "source": claim["source"], "kind": claim["kind"],
        "experiment": claim["experiment"], "metric": claim["metric"], "claimed": claim.get("claimed"),
        "tolerance": claim.get("tolerance"), "units": claim.get("units", ""), "scale": scale,
        "arms": {k: claim[k] for k in ("arm", "method", "baseline") if k in claim},
        "paper": (paper or {}).get("id"), "arxiv": (paper or {}).get("arxiv"),
    }
    arm_stats = {}
    for arm in record["arms"].values():
        vals = [float(m[claim["metric"]]) for m in runs.get(arm, {}).values() if claim["metric"] in m]
        if vals:
            arm_stats[arm] = seed_stats(vals).as_dict()
    record["arm_stats"] = arm_stats
    values = per_seed_values(claim, runs)
    record["per_seed"] = {str(s): v for s, v in sorted(values.items())}
    low_ok, high_ok = accepted_region(claim)
    record["accepted"] = [low_ok, high_ok]
    finite = bool(values) and all(math.isfinite(v) for v in values.values())
    # The numbers are shown at every scale; only the verdict waits for a scale that can judge it.
    record["measured"] = seed_stats(values.values()).as_dict() if finite else None
    if scale not in claim["judged_at"]:
        record.update(verdict=NOT_CHECKED, reason=f"judged at {', '.join(claim['judged_at'])} scale; this run is {scale}",
                      check_with=claim.get("check_with", f"--config scale={claim['judged_at'][0]}"))
        return record
    if not values:
        record.update(verdict=INCONCLUSIVE, reason="no finished runs carry this metric")
        return record
    if not finite:
        record.update(verdict=INCONCLUSIVE, reason="a run produced a non-finite value (diverged?)")
        return record
    st = seed_stats(values.values())
    record["verdict"] = interval_verdict(st.ci_low, st.ci_high, low_ok, high_ok)
    record["reason"] = (
        f"95% CI [{st.ci_low:.4g}, {st.ci_high:.4g}] over {st.n} seeds vs accepted [{low_ok:.4g}, {high_ok:.4g}]"
        if st.n > 1 else "one seed: no confidence interval"
    )
    return record


def index_runs(evaluations: list[dict]) -> dict[str, dict[str, dict[int, dict]]]:
    """{experiment: {arm: {seed: metrics}}} from evaluate outputs ({'spec':..., 'metrics':...})."""
    out: dict = {}
    for ev in evaluations:
        spec = ev["spec"]
        out.setdefault(spec["experiment"], {}).setdefault(spec["arm"], {})[int(spec["seed"])] = ev["metrics"]
    return out


def judge_paper(paper_cfg: dict, evaluations: list[dict], scale: str) -> list[dict]:
    runs = index_runs(evaluations)
    return [judge(c, runs.get(c["experiment"], {}), scale, paper_cfg["paper"]) for c in paper_cfg["claims"]]
