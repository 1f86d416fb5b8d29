"""Runs planted to make a claim pass, fail or straddle its accepted region, for any claim of any
kind, so that every claim of the real configs can be judged on evidence whose verdict is known."""

from __future__ import annotations

import math

from logitrepro.budgets import budget_arm
from logitrepro.claims import kind

PASS, FAIL, STRADDLE = "pass", "fail", "straddle"


def _spread(n: int) -> list[float]:
    """n offsets with mean 0 and a unit-sized spread: -1, +1, -0.5, +0.5, ..."""
    base = [-1.0, 1.0, -0.5, 0.5, -0.25, 0.25, 0.0]
    out = base[:n] if n != 3 else [-1.0, 1.0, 0.0]
    return out + [0.0] * (n - len(out))


def _region(claim: dict) -> tuple[float, float]:
    low, high = claim["region"]
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def statistic_values(claim: dict, target: str, n: int) -> list[float]:
    """Per-seed values of the claim's statistic (display units) that give the target verdict."""
    log = kind(claim["kind"]).space == "log"
    low, high = _region(claim)
    if log:  # plant in log space
        low = math.log(low) if low > 0 else -math.inf
        high = math.log(high) if math.isfinite(high) else math.inf
    if target == PASS:
        if math.isfinite(low) and math.isfinite(high):
            centre, width = (low + high) / 2, (high - low) / 2
        elif math.isfinite(low):
            centre, width = low + max(1.0, abs(low)), 1.0
        else:
            centre, width = high - max(1.0, abs(high)), 1.0
        values = [centre + 1e-3 * width * d for d in _spread(n)]
    elif target == FAIL:
        edge = high if math.isfinite(high) else low
        step = max(1.0, abs(edge))
        centre = edge + step if math.isfinite(high) else edge - step
        values = [centre + 1e-3 * step * d for d in _spread(n)]
    else:
        edge = high if math.isfinite(high) else low
        width = 0.5 * max(1.0, abs(edge))
        values = [edge + width * d for d in _spread(n)]
    return [math.exp(v) for v in values] if log else values


def _put(runs: dict, arm: str, seed: int, key: str, value) -> None:
    runs.setdefault(arm, {}).setdefault(seed, {"status": "completed"})[key] = value


def _baseline_value(claim: dict, metric: str) -> float:
    """The baseline's planted value: 10, unless a premise asks something of the same arm and metric
    (the CNN reaching its accuracy), in which case a value that meets it."""
    for premise in claim.get("premises", []):
        if premise["arm"] == claim.get("baseline") and premise["metric"] == metric and "ratio_to" not in premise:
            if "ci_above" in premise:
                return float(premise["ci_above"]) + 1.0
            if "ci_below" in premise and premise["ci_below"] <= 10.0:
                return float(premise["ci_below"]) / 2
    return 10.0


def plant(claim: dict, target: str, seeds: list[int], budgets: list[float] | None = None) -> dict:
    """{arm: {seed: metrics}} (every budget variant of the claim's arms) giving `target`."""
    runs: dict = {}
    n = len(seeds)
    k = claim["kind"]
    for budget in budgets or claim.get("budgets") or [1]:
        arm = {r: budget_arm(claim[r], budget) for r in ("arm", "method", "baseline") if r in claim}
        metric, base_metric = claim["metric"], claim.get("baseline_metric", claim["metric"])
        if k == "never":
            violations = {PASS: [0] * n, FAIL: [0] * (n - 1) + [5], STRADDLE: [0] * n}[target]
            checks = 0 if target == STRADDLE else 1000  # the check that never ran decides nothing
            for s, v in zip(seeds, violations):
                _put(runs, arm["arm"], s, metric, v)
                if claim.get("checks_metric"):
                    _put(runs, arm["arm"], s, claim["checks_metric"], checks)
        elif k == "fewer_events":
            method, base = {  # the baseline's events enough for a count premise (5 in all) in every case
                PASS: ([0] * n, [3] * n),
                FAIL: ([8] * n, [2] * n),
                STRADDLE: ([1] * n, [2] * n),
            }[target]
            for s, m, b in zip(seeds, method, base):
                _put(runs, arm["method"], s, metric, m)
                _put(runs, arm["baseline"], s, base_metric, b)
        else:
            values = statistic_values(claim, target, n)
            base_value = _baseline_value(claim, base_metric)
            for s, v in zip(seeds, values):
                if k in ("absolute",):
                    _put(runs, arm["arm"], s, metric, v)
                elif k == "bound":
                    _put(runs, arm["arm"], s, claim["bound_metric"], 10.0)
                    _put(runs, arm["arm"], s, metric, 10.0 + v)
                elif k == "difference":
                    _put(runs, arm["baseline"], s, base_metric, base_value)
                    _put(runs, arm["method"], s, metric, base_value + v)
                elif k == "ratio":
                    _put(runs, arm["baseline"], s, base_metric, base_value)
                    _put(runs, arm["method"], s, metric, base_value * v)
                elif k == "direction":
                    sign = 1.0 if claim["better"] == "higher" else -1.0
                    factor = claim.get("baseline_factor", 1.0)
                    _put(runs, arm["baseline"], s, base_metric, base_value)
                    _put(runs, arm["method"], s, metric, factor * base_value + sign * v)
                elif k == "cost_to_target":
                    # the baseline reaches its final value at cost 100; the method at v x 100
                    target_value = 100.0
                    _put(runs, arm["baseline"], s, "curve", {claim["cost"]: [100.0], metric: [target_value]})
                    _put(runs, arm["method"], s, "curve", {claim["cost"]: [100.0 * v], metric: [target_value]})
        for premise in claim.get("premises", []):
            p_arm = budget_arm(premise["arm"], budget)
            ref = budget_arm(premise["ratio_to"], budget) if "ratio_to" in premise else None
            for s in seeds:
                have = runs.get(p_arm, {}).get(s, {})
                if premise["metric"] in have and (ref is None or premise["metric"] in runs.get(ref, {}).get(s, {})):
                    continue
                if "ci_above" in premise:
                    value = premise["ci_above"] + 1.0 + 0.01 * _spread(n)[seeds.index(s)]
                elif "ci_below" in premise:
                    value = premise["ci_below"] - 1.0 + 0.01 * _spread(n)[seeds.index(s)]
                elif "each_above" in premise:
                    value = premise["each_above"] + 1.0
                else:
                    value = premise["total_at_least"]
                if ref is not None:  # the ratio to the reference arm is the value planted
                    own = runs.get(p_arm, {}).get(s, {}).get(premise["metric"])
                    base = runs.get(ref, {}).get(s, {}).get(premise["metric"])
                    if own is not None:  # the claim planted this arm already: plant the reference
                        _put(runs, ref, s, premise["metric"], own / value)
                    else:
                        _put(runs, ref, s, premise["metric"], 10.0 if base is None else base)
                        _put(runs, p_arm, s, premise["metric"], (10.0 if base is None else base) * value)
                else:
                    _put(runs, p_arm, s, premise["metric"], value)
    return runs
