"""Claims as data: seed statistics and computed verdicts.

A claim compares a statistic over seeds with what the paper says. The statistic depends on
the kind: the metric itself (absolute), the paired per-seed difference or ratio between a
method arm and a baseline arm (difference, ratio, direction), the margin to an analytic
bound (bound), or the compute a method spends to reach the baseline's final validation
metric, as a ratio to the baseline's own (cost_to_target). Its 95% t-interval over seeds is
set against the accepted region: inside -> reproduced; outside -> not reproduced; straddling
a boundary -> inconclusive. The region is claimed +- tolerance, or for direction and bound
claims [0, inf); a claim's own `accept: [low, high]` (null for unbounded) replaces either.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from logitrepro.config import budget_arm

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
    if claim.get("accept") is not None:
        low, high = claim["accept"]
        return (-math.inf if low is None else float(low)), (math.inf if high is None else float(high))
    if kind in ("absolute", "difference", "ratio", "cost_to_target"):
        return claim["claimed"] - claim["tolerance"], claim["claimed"] + claim["tolerance"]
    # direction: the method beats the baseline (margin >= 0); bound: the value respects the bound.
    return 0.0, math.inf


def per_seed_values(claim: dict, runs: dict[str, dict[int, dict]]) -> dict[int, float]:
    """The claim's statistic per seed. `runs[arm][seed]` is that run's metrics dict."""
    kind, metric = claim["kind"], claim["metric"]

    def metric_of(arm: str, key: str = metric) -> dict[int, float]:
        return {seed: float(m[key]) for seed, m in runs.get(arm, {}).items() if key in m}

    if kind == "absolute":
        return metric_of(claim["arm"])
    if kind == "bound":
        arm = runs.get(claim["arm"], {})
        return {s: float(m[metric]) - float(m[claim["bound_metric"]]) for s, m in arm.items()
                if metric in m and claim["bound_metric"] in m}
    if kind == "cost_to_target":
        return cost_ratios(claim, runs)
    # the baseline may be another metric of the same arm (e.g. two heads trained in one run)
    method, baseline = metric_of(claim["method"]), metric_of(claim["baseline"], claim.get("baseline_metric", metric))
    seeds = sorted(set(method) & set(baseline))  # paired by seed
    if kind == "ratio":
        return {s: method[s] / baseline[s] for s in seeds}
    diff = {s: method[s] - baseline[s] for s in seeds}
    if kind == "direction" and not claim.get("higher_is_better", True):
        diff = {s: -d for s, d in diff.items()}
    return diff


def cost_at(curve: dict, metric: str, cost: str, target: float, lower_is_better: bool = True) -> float:
    """The cost (e.g. training seconds) at which a validation curve first reaches `target`,
    interpolated linearly between the two evaluations around the crossing; inf if it never does."""
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


def cost_ratios(claim: dict, runs: dict[str, dict[int, dict]]) -> dict[int, float]:
    """Per seed: the method's cost to reach the baseline's final value of `metric`, divided by the
    baseline's own cost to first reach it (inf when the method never gets there)."""
    metric, cost = claim["metric"], claim["cost"]
    lower = not claim.get("higher_is_better", False)
    method, baseline = runs.get(claim["method"], {}), runs.get(claim["baseline"], {})
    out = {}
    for seed in sorted(set(method) & set(baseline)):
        base_curve, method_curve = baseline[seed].get("curve") or {}, method[seed].get("curve") or {}
        finals = [y for y in base_curve.get(metric) or [] if y is not None and math.isfinite(y)]
        if not finals:
            continue
        base_cost = cost_at(base_curve, metric, cost, finals[-1], lower)
        out[seed] = cost_at(method_curve, metric, cost, finals[-1], lower) / base_cost if base_cost > 0 else math.nan
    return out


def judge(claim: dict, runs: dict[str, dict[int, dict]], scale: str, paper: dict | None = None) -> dict:
    """A claim record with its verdict, computed from the runs of its experiment."""
    record = {
        "id": claim["id"], "statement": claim["statement"], "source": claim["source"], "kind": claim["kind"],
        "experiment": claim["experiment"], "metric": claim["metric"], "baseline_metric": claim.get("baseline_metric"),
        "claimed": claim.get("claimed"),
        "tolerance": claim.get("tolerance"), "accept": claim.get("accept"), "units": claim.get("units", ""),
        "scale": scale,
        "arms": {k: claim[k] for k in ("arm", "method", "baseline") if k in claim},
        "paper": (paper or {}).get("id"), "arxiv": (paper or {}).get("arxiv"),
    }
    arm_stats = {}
    for role, arm in record["arms"].items():
        key = claim.get("baseline_metric", claim["metric"]) if role == "baseline" else claim["metric"]
        vals = [float(m[key]) for m in runs.get(arm, {}).values() if key in m]
        if vals:
            arm_stats[arm if key == claim["metric"] else f"{arm}:{key}"] = seed_stats(vals).as_dict()
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
        # e.g. a method that never reached the target: infinitely far outside a bounded region
        vals = list(values.values())
        if all(v > high_ok for v in vals) or all(v < low_ok for v in vals):
            record.update(verdict=NOT_REPRODUCED, reason=f"every seed lies outside [{low_ok:.4g}, {high_ok:.4g}] "
                          f"(non-finite values: {sum(not math.isfinite(v) for v in vals)})")
        else:
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


def at_budget(claim: dict, budget: float) -> dict:
    """The claim as judged from the runs trained at `budget` times the scale's budget: the same
    statistic over the budget variants of its arms, under the id `<id>@<budget>x`."""
    if budget == 1:
        return {**claim, "budget": 1}
    out = {**claim, "id": f"{claim['id']}@{budget:g}x", "budget": budget, "base_id": claim["id"]}
    for key in ("arm", "method", "baseline"):
        if key in claim:
            out[key] = budget_arm(claim[key], budget)
    return out


def judge_paper(paper_cfg: dict, evaluations: list[dict], scale: str) -> list[dict]:
    """Every claim at every budget it lists (one record each)."""
    runs = index_runs(evaluations)
    records = []
    for c in paper_cfg["claims"]:
        for budget in c.get("budgets", [1]):
            variant = at_budget(c, budget)
            rec = judge(variant, runs.get(c["experiment"], {}), scale, paper_cfg["paper"])
            rec.update(budget=budget, base_id=c["id"])
            records.append(rec)
    return records
