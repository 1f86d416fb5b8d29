"""Verdicts computed from runs: each claim's statistic per seed, the interval or test that fits
the claim (logitrepro.claims.kinds), its premises, and how sure the verdict is.

  reproduced      the interval lies inside the accepted region; a "never" claim saw no violation;
                  a count claim's exact test finds the method with fewer events (p < 0.05)
  not reproduced  the interval lies outside it; any violation of a "never" claim; the count test
                  finds the method with more events
  inconclusive    the interval straddles a boundary, a premise failed at this scale, or the seeds
                  cannot decide; the reason says which, and what would decide it
  not checked at this scale   the claim's `judged_at` does not include the running scale

Every claim expects its experiment's seeds at the running scale. A seed without a run is named;
a diverged run is left out of the statistic and named, except where divergence is the claim's
subject (`diverged: outcome`), where it is the measured outcome. The verdict says what it rests on.

A claim judged at several training budgets (`budgets`) gets one primary verdict: at the authors'
budget where the scale reaches it (the experiment's `authors_budget`), else at the largest; the
others form its robustness row. An absolute number is judged only at the budget it was measured at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from logitrepro.budgets import budget_arm, parse_budget_arm
from logitrepro.claims import power as P
from logitrepro.claims.kinds import kind
from logitrepro.claims.spec import region_of
from logitrepro.claims.stats import ALPHA, count_test, difference_stats, events_needed, log_seed_stats, seed_stats

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_CHECKED = "not checked at this scale"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CHECKED)
DIVERGED = "diverged"


def fmt(x: float) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.4g}"


def fmt_region(low: float, high: float) -> str:
    return f"[{fmt(low)}, {fmt(high)}]"


# ---------------------------------------------------------------------------------------- evidence


@dataclass
class Evidence:
    """The claim's statistic per usable seed, and why each other expected seed is left out."""

    values: dict[int, float] = field(default_factory=dict)
    left_out: dict[int, str] = field(default_factory=dict)
    counts: dict[str, dict[int, float]] = field(default_factory=dict)  # count claims: per role, per seed
    diverged_included: list[int] = field(default_factory=list)


def _usable(
    claim: dict, runs: dict, arm: str, key: str, expected: list[int], ev: Evidence, allow_inf: bool = False
) -> dict[int, float]:
    """{seed: value of `key`} for the arm's runs that count; the others go to ev.left_out."""
    outcome = claim.get("diverged", "exclude") == "outcome"
    arm_runs = runs.get(arm, {})
    out = {}
    for seed in expected:
        m = arm_runs.get(seed)
        if m is None:
            ev.left_out.setdefault(seed, f"{arm}: no run")
            continue
        if m.get("status") == DIVERGED and not outcome:
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


def _cost_ratios(claim: dict, runs: dict, expected: list[int], ev: Evidence) -> dict[int, float]:
    """Per seed: the method's cost to reach the baseline's final value of `metric`, divided by the
    baseline's own cost to first reach it (inf when the method never gets there)."""
    metric, cost, lower = claim["metric"], claim["cost"], claim["better"] == "lower"
    curves = {role: {} for role in ("method", "baseline")}
    for role in curves:
        arm = claim[role]
        for seed, m in runs.get(arm, {}).items():
            if seed in expected and not (m.get("status") == DIVERGED and claim.get("diverged") != "outcome"):
                curves[role][seed] = m.get("curve") or {}
    out = {}
    for seed in expected:
        for role in curves:
            if seed not in curves[role]:
                arm = claim[role]
                ran = seed in runs.get(arm, {})
                ev.left_out.setdefault(seed, f"{arm}: diverged (excluded)" if ran else f"{arm}: no run")
        if seed in ev.left_out:
            continue
        finals = [y for y in curves["baseline"][seed].get(metric) or [] if y is not None and math.isfinite(y)]
        if not finals:
            ev.left_out[seed] = f"{claim['baseline']}: no {metric} curve"
            continue
        base_cost = cost_at(curves["baseline"][seed], metric, cost, finals[-1], lower)
        if not base_cost > 0:
            ev.left_out[seed] = f"{claim['baseline']}: reached its own final value at zero cost"
            continue
        out[seed] = cost_at(curves["method"][seed], metric, cost, finals[-1], lower) / base_cost
    return out


def evidence(claim: dict, runs: dict[str, dict[int, dict]], expected: list[int]) -> Evidence:
    """Per seed, the claim's statistic (display units: a ratio is a ratio, not its log)."""
    k, metric, ev = kind(claim["kind"]), claim["metric"], Evidence()
    if k.name in ("absolute", "never"):
        ev.values = _usable(claim, runs, claim["arm"], metric, expected, ev)
    elif k.name == "bound":
        value = _usable(claim, runs, claim["arm"], metric, expected, ev)
        bound = _usable(claim, runs, claim["arm"], claim["bound_metric"], expected, ev)
        ev.values = {s: value[s] - bound[s] for s in sorted(set(value) & set(bound))}
    elif k.name == "cost_to_target":
        ev.values = _cost_ratios(claim, runs, expected, ev)
    else:
        method = _usable(claim, runs, claim["method"], metric, expected, ev)
        base = _usable(claim, runs, claim["baseline"], claim.get("baseline_metric", metric), expected, ev)
        seeds = sorted(set(method) & set(base))  # paired by seed
        if k.name == "fewer_events":
            ev.counts = {"method": {s: method[s] for s in seeds}, "baseline": {s: base[s] for s in seeds}}
            ev.values = {s: method[s] - base[s] for s in seeds}
        elif k.name == "ratio":
            ev.values = {s: method[s] / base[s] if base[s] != 0 else math.copysign(math.inf, method[s]) for s in seeds}
        elif k.name == "direction":
            sign = 1.0 if claim["better"] == "higher" else -1.0
            factor = float(claim.get("baseline_factor", 1.0))
            ev.values = {s: sign * (method[s] - factor * base[s]) for s in seeds}
        else:  # difference
            ev.values = {s: method[s] - base[s] for s in seeds}
    for seed in list(ev.left_out):
        ev.values.pop(seed, None)
    return ev


# ---------------------------------------------------------------------------------------- premises


def _premise_values(premise: dict, runs: dict[str, dict[int, dict]], expected: list[int]) -> dict[int, float]:
    """Per seed, the premise's statistic: the arm's metric, or its ratio to another arm's
    (`ratio_to`, paired by seed)."""
    arm, metric = premise["arm"], premise["metric"]

    def values(name: str) -> dict[int, float]:
        return {
            s: float(m[metric])
            for s, m in sorted(runs.get(name, {}).items())
            if s in expected and isinstance(m.get(metric), (int, float)) and math.isfinite(m[metric])
        }

    own = values(arm)
    if "ratio_to" not in premise:
        return own
    other = values(premise["ratio_to"])
    return {s: own[s] / other[s] for s in own if s in other and other[s] > 0 and own[s] > 0}


def check_premise(premise: dict, runs: dict[str, dict[int, dict]], expected: list[int]) -> tuple[bool, str]:
    """(holds, what was measured). Diverged runs count: they are evidence about the arm."""
    by_seed = _premise_values(premise, runs, expected)
    vals = list(by_seed.values())
    what = premise.get("why") or f"{premise['arm']}'s {premise['metric']}"
    if "total_at_least" in premise:
        need = premise["total_at_least"]
        total = sum(vals)
        return total >= need, f"{what}: {fmt(total)} in total over {len(vals)} seeds (needs at least {fmt(need)})"
    if "each_above" in premise:
        x, missing = premise["each_above"], sorted(set(expected) - set(by_seed))
        low = sorted((s for s, v in by_seed.items() if not v > x))
        listed = ", ".join(f"seed {s}: {fmt(v)}" for s, v in sorted(by_seed.items()))
        holds = not low and not missing and bool(by_seed)
        gap = f"; not in seeds {', '.join(map(str, low + missing))}" if not holds else ""
        return holds, f"{what}: {listed or 'no seed'} (each needs to lie above {fmt(x)}){gap}"
    if len(vals) < 2:
        return False, f"{what}: {len(vals)} seed(s) with {premise['metric']}, too few for an interval"
    st = log_seed_stats(vals) if "ratio_to" in premise else seed_stats(vals)
    if "ci_above" in premise:
        x = premise["ci_above"]
        return (
            st.ci_low > x,
            f"{what}: 95% CI {fmt_region(st.ci_low, st.ci_high)} over {st.n} seeds, needs to lie above {fmt(x)}",
        )
    x = premise["ci_below"]
    return (
        st.ci_high < x,
        f"{what}: 95% CI {fmt_region(st.ci_low, st.ci_high)} over {st.n} seeds, needs to lie below {fmt(x)}",
    )


# ---------------------------------------------------------------------------------------- verdicts


def interval_verdict(low: float, high: float, accept_low: float, accept_high: float) -> str:
    """Compare a confidence interval with the accepted region [accept_low, accept_high]."""
    if accept_low <= low and high <= accept_high:
        return REPRODUCED
    if high < accept_low or low > accept_high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _interval_reason(verdict: str, st, region: tuple[float, float]) -> str:
    low_ok, high_ok = region
    ci = f"95% CI {fmt_region(st.ci_low, st.ci_high)} over {st.n} seeds"
    if verdict == REPRODUCED:
        return f"{ci} lies inside the accepted {fmt_region(low_ok, high_ok)}"
    if verdict == NOT_REPRODUCED:
        side = "above" if st.ci_low > high_ok else "below"
        return f"{ci} lies {side} the accepted {fmt_region(low_ok, high_ok)}"
    edges = [fmt(e) for e in (low_ok, high_ok) if math.isfinite(e) and st.ci_low < e < st.ci_high]
    return f"{ci} straddles the boundary {' and '.join(edges)} of the accepted {fmt_region(low_ok, high_ok)}"


def reference_of(claim: dict) -> dict:
    """The uncertainty of the paper's own number for an absolute claim: the standard error of a
    mean of `n` runs with the seed spread its tolerance rule names (`seed_sd`); none where the
    paper's number is exact to its reported digits."""
    rule = claim.get("tolerance_spec") or {}
    if claim["kind"] != "absolute" or claim.get("claimed") is None or rule.get("rule") != "seed_sd":
        return {}
    n = int(rule.get("n", 1))
    # a spread published for the setup (one run of theirs) is taken as known; their own seeds' sd
    # is an estimate with n - 1 degrees of freedom
    return {"reference_se": float(rule["sd"]) / math.sqrt(n), "reference_df": math.inf if n < 2 else float(n - 1)}


def _baseline_mean(claim: dict, runs: dict, expected: list[int]) -> float | None:
    key = claim.get("baseline_metric", claim["metric"])
    vals = [
        float(m[key])
        for s, m in runs.get(claim.get("baseline"), {}).items()
        if s in expected and isinstance(m.get(key), (int, float)) and math.isfinite(m[key])
    ]
    return sum(vals) / len(vals) if vals else None


def negligible_effect(claim: dict, k, region: tuple[float, float], baseline_mean: float | None):
    """(the statistic under an effect too small to matter, in display units, and the rule in words),
    or (None, why not). Stated per claim (`negligible`), else a quarter of the paper's effect from
    no effect, else for a comparison 1% of the baseline (logitrepro.claims.power)."""
    stated = claim.get("negligible")
    if stated is not None:
        return float(stated["value"]), f"stated: {stated['why']}"
    share, rel = P.NEGLIGIBLE_SHARE, P.NEGLIGIBLE_RELATIVE
    effect = claim.get("claimed") if k.name != "direction" else claim.get("paper_effect")
    origin = k.no_effect if k.name != "absolute" else claim.get("no_effect")
    if effect is not None and origin is not None:
        if k.space == "log":
            return math.exp(share * math.log(float(effect))), f"a quarter of the paper's effect ({effect:g})"
        return origin + share * (float(effect) - origin), f"a quarter of the paper's effect ({effect:g})"
    if k.space == "log":
        better_above = region[0] >= 1.0 or (region[1] == math.inf and region[0] > 0)
        return (1 + rel if better_above else 1 - rel), f"{rel:.0%} better than no effect (no effect size in the paper)"
    if k.name == "direction" and baseline_mean is not None:
        factor = float(claim.get("baseline_factor", 1.0))
        return rel * abs(factor * baseline_mean), f"a margin of {rel:.0%} of the baseline (no effect size in the paper)"
    if k.name == "absolute" and origin is not None:
        return float(origin), "no effect (the claim's no_effect value; no effect size in the paper)"
    return None, "no negligible effect stated for this number"


def _power_of(claim: dict, k, st, region: tuple[float, float], n_expected: int, baseline_mean=None) -> dict | None:
    """Pass probabilities of a perfect and of a negligible replication (logitrepro.claims.power).
    An absolute claim with a claimed value is judged on ours - theirs: its statistic is that
    difference, its perfect replication a difference of 0."""
    if st is None or st.n < 2 or n_expected < 2:
        return None
    log = k.space == "log"
    to_space = (lambda v: math.log(v) if v > 0 else -math.inf) if log else (lambda v: v)
    to_display = math.exp if log else (lambda v: v)
    reference = reference_of(claim)
    shift = float(claim["claimed"]) if k.name == "absolute" and claim.get("claimed") is not None else 0.0
    space_region = (
        to_space(region[0] - shift) if region[0] > 0 or not log else -math.inf,
        to_space(region[1] - shift),
    )
    measured_mean = math.log(st.mean) if log else st.mean - shift
    if claim.get("claimed") is not None and k.name != "direction":
        perfect, basis = to_space(float(claim["claimed"]) - shift), "the claimed value"
    elif claim.get("paper_effect") is not None:
        perfect, basis = to_space(float(claim["paper_effect"])), "the paper's effect"
    else:
        perfect, basis = measured_mean, "post-hoc: the observed effect"
        if not space_region[0] <= perfect <= space_region[1]:
            # no effect size from the paper, and the observed one argues against the claim: a
            # "perfect replication" has nothing to stand on
            return {
                "basis": basis,
                "post_hoc": True,
                "n": n_expected,
                "sd": st.sd,
                "perfect": None,
                "note": "the paper states no effect size and the observed effect lies outside the region",
            }
    null_display, null_basis = negligible_effect(claim, k, region, baseline_mean)
    null = None if null_display is None else to_space(null_display - shift)
    out = P.interval_power(
        perfect,
        null,
        st.sd,
        st.n,
        n_expected,
        space_region,
        basis,
        null_basis,
        (lambda v: v + shift) if not log else to_display,
        **reference,
    )
    if null is None:
        out["null_basis"] = null_basis
    return out


def _seeds_clause(ev: Evidence, expected: list[int]) -> str:
    parts = []
    if ev.left_out:
        parts.append("left out: " + "; ".join(f"seed {s} ({why})" for s, why in sorted(ev.left_out.items())))
    if ev.diverged_included:
        parts.append("diverged seeds counted as the outcome: " + ", ".join(map(str, sorted(ev.diverged_included))))
    if not parts:
        return ""
    used = sorted(ev.values) if ev.values else sorted(set(ev.counts.get("method", {})))
    return f"rests on seeds {', '.join(map(str, used)) or 'none'} of {len(expected)}; " + "; ".join(parts)


def _judge_interval(claim, k, ev, region, expected, baseline_mean=None):
    """(verdict, reason, the statistic's interval, power, the difference to the paper's number or None)."""
    vals = ev.values
    if len(vals) < 2:
        return INCONCLUSIVE, f"{len(vals)} usable seed(s): an interval needs at least 2", None, None, None
    finite = {s: v for s, v in vals.items() if math.isfinite(v)}
    if len(finite) < len(vals):  # e.g. a method that never reached the target
        stuck = sorted(s for s in vals if s not in finite)
        if all(v > region[1] for v in vals.values()) or all(v < region[0] for v in vals.values()):
            return (
                NOT_REPRODUCED,
                (
                    f"every seed lies outside {fmt_region(*region)}; seeds "
                    f"{', '.join(map(str, stuck))} never reached the target"
                ),
                None,
                None,
                None,
            )
        return (
            INCONCLUSIVE,
            (
                f"seeds {', '.join(map(str, stuck))} have an unbounded value (never reached the "
                f"target) while others lie inside {fmt_region(*region)}"
            ),
            None,
            None,
            None,
        )
    if k.space == "log":
        bad = sorted(s for s, v in vals.items() if v <= 0)
        if bad:
            return (
                INCONCLUSIVE,
                (
                    f"a ratio of values of opposite sign (seeds {', '.join(map(str, bad))}) has no "
                    f"meaning as a ratio; compare a difference instead"
                ),
                None,
                None,
                None,
            )
        st = log_seed_stats(vals.values())
    else:
        st = seed_stats(vals.values())
    diff = None
    if k.name == "absolute" and claim.get("claimed") is not None:
        # one interval for ours - theirs, with the uncertainty of their number where the paper gives it
        claimed, reference = float(claim["claimed"]), reference_of(claim)
        diff = difference_stats(vals.values(), claimed, **reference)
        verdict = interval_verdict(diff.ci_low, diff.ci_high, region[0] - claimed, region[1] - claimed)
        reason = _difference_reason(verdict, diff, claimed, region, reference)
    else:
        verdict = interval_verdict(st.ci_low, st.ci_high, *region)
        reason = _interval_reason(verdict, st, region)
    pw = _power_of(claim, k, st, region, len(expected), baseline_mean)
    if verdict == INCONCLUSIVE and P.describe(pw):  # what would decide it
        reason += "; " + P.describe(pw)
    return verdict, reason, st.as_dict(), pw, None if diff is None else {**diff.as_dict(), **reference}


def _difference_reason(verdict: str, diff, claimed: float, region, reference: dict) -> str:
    low, high = region[0] - claimed, region[1] - claimed
    theirs = f"; theirs ± {fmt(reference['reference_se'])} (s.e.) included" if reference.get("reference_se") else ""
    ci = f"ours - theirs ({fmt(claimed)}): 95% CI {fmt_region(diff.ci_low, diff.ci_high)} over {diff.n} seeds{theirs}"
    if verdict == REPRODUCED:
        return f"{ci}, inside the tolerance {fmt_region(low, high)}"
    if verdict == NOT_REPRODUCED:
        side = "above" if diff.ci_low > high else "below"
        return f"{ci}, {side} the tolerance {fmt_region(low, high)}"
    edges = [fmt(e) for e in (low, high) if math.isfinite(e) and diff.ci_low < e < diff.ci_high]
    return f"{ci} straddles the edge {' and '.join(edges)} of the tolerance {fmt_region(low, high)}"


def _judge_never(claim, ev, runs, expected) -> tuple[str, str, dict | None]:
    vals = ev.values
    if not vals:
        return INCONCLUSIVE, "no seed reports the check", None
    bad = {s: v for s, v in vals.items() if v > 0}
    checks = None
    if claim.get("checks_metric"):
        checks = sum(float(runs.get(claim["arm"], {}).get(s, {}).get(claim["checks_metric"], 0)) for s in vals)
    if bad:
        listed = ", ".join(f"seed {s}: {fmt(v)}" for s, v in sorted(bad.items()))
        return NOT_REPRODUCED, f"violations in {len(bad)} of {len(vals)} seeds ({listed}); one disproves 'never'", None
    if checks == 0:
        return INCONCLUSIVE, "the check never ran (0 checks): no evidence either way", None
    if checks:
        # with 0 events in n trials the 95% upper bound on the rate is about 3/n (rule of three)
        return (
            REPRODUCED,
            (
                f"no violation in {fmt(checks)} checks over {len(vals)} seeds (95% upper bound on the "
                f"violation rate: {fmt(3 / checks)})"
            ),
            {"perfect": 1.0, "basis": "deterministic"},
        )
    return REPRODUCED, f"no violation in {len(vals)} seeds", {"perfect": 1.0, "basis": "deterministic"}


def _judge_counts(claim, ev, expected) -> tuple[str, str, dict | None, dict | None]:
    m, b = ev.counts.get("method", {}), ev.counts.get("baseline", {})
    if not m:
        return INCONCLUSIVE, "no seed has both arms' counts", None, None
    test = count_test(int(round(sum(m.values()))), int(round(sum(b.values()))))
    n = len(m)
    measured = {
        "n": n,
        "method_events": test.method,
        "baseline_events": test.baseline,
        "p_fewer": test.p_fewer,
        "p_more": test.p_more,
        "mean": (test.method - test.baseline) / n,
    }
    pw = P.count_power(test.method / n, test.baseline / n, max(n, len(expected)))
    what = f"{test.method} events ({claim['method']}) against {test.baseline} ({claim['baseline']}) over {n} seeds"
    if test.p_fewer < ALPHA:
        return REPRODUCED, f"{what}: exact binomial test p = {test.p_fewer:.3g} < {ALPHA:g}", measured, pw
    if test.p_more < ALPHA:
        return (
            NOT_REPRODUCED,
            (f"{what}: the method has more events, exact binomial test p = {test.p_more:.3g}"),
            measured,
            pw,
        )
    need = events_needed()
    reason = (
        f"{what}: exact binomial test p = {test.p_fewer:.3g}, not below {ALPHA:g} (it takes at least "
        f"{need} events in the baseline and none in the method)"
    )
    if pw.get("seeds_needed"):
        reason += f"; at the observed rates {pw['seeds_needed']} seeds would decide it 80% of the time"
    return INCONCLUSIVE, reason, measured, pw


def _skeleton(claim: dict, scale: str, paper: dict | None, region: tuple[float, float]) -> dict:
    k = kind(claim["kind"])
    return {
        "id": claim["id"],
        "class": claim.get("class", "paper"),
        "statement": claim["statement"],
        "source": claim["source"],
        "kind": claim["kind"],
        "experiment": claim["experiment"],
        "metric": claim["metric"],
        "baseline_metric": claim.get("baseline_metric"),
        "better": claim.get("better"),
        "claimed": claim.get("claimed"),
        "tolerance": claim.get("tolerance"),
        "tolerance_rule": claim.get("tolerance_rule"),
        "sided": claim.get("sided", "two_sided"),
        "accept": claim.get("accept"),
        "units": claim.get("units", ""),
        "scale": scale,
        "region": [None if math.isinf(v) else v for v in region],
        "arms": {r: claim[r] for r in k.roles if r in claim},
        "premises": claim.get("premises", []),
        "judged_at": claim["judged_at"],
        "paper": (paper or {}).get("id"),
        "arxiv": (paper or {}).get("arxiv"),
    }


def judge(
    claim: dict, runs: dict[str, dict[int, dict]], scale: str, paper: dict | None = None, context: dict | None = None
) -> dict:
    """A claim record with its verdict, computed from the runs of its experiment at one budget.
    `context` gives the seeds the experiment runs at this scale (else: the seeds present)."""
    k = kind(claim["kind"])
    region = region_of(claim)
    expected = sorted(
        (context or {}).get("seeds") or {s for r in k.roles if r in claim for s in runs.get(claim[r], {})}
    )
    record = _skeleton(claim, scale, paper, region)
    ev = evidence(claim, runs, expected)
    record["per_seed"] = {str(s): v for s, v in sorted(ev.values.items())}
    record["seeds"] = {
        "expected": expected,
        "used": sorted(ev.values),
        "left_out": {str(s): why for s, why in sorted(ev.left_out.items())},
    }
    arm_stats = {}
    for role, arm in record["arms"].items():
        key = claim.get("baseline_metric", claim["metric"]) if role == "baseline" else claim["metric"]
        vals = [
            float(m[key])
            for m in runs.get(arm, {}).values()
            if isinstance(m.get(key), (int, float)) and math.isfinite(m[key])
        ]
        if vals:
            arm_stats[arm if key == claim["metric"] else f"{arm}:{key}"] = seed_stats(vals).as_dict()
    record["arm_stats"] = arm_stats
    seeds_note = _seeds_clause(ev, expected)

    # The numbers are shown at every scale; only the verdict waits for a scale that can judge it.
    measured, pw = None, None
    if k.space in ("linear", "log") and len(ev.values) >= 1 and all(math.isfinite(v) for v in ev.values.values()):
        try:
            measured = (log_seed_stats if k.space == "log" else seed_stats)(ev.values.values()).as_dict()
        except ValueError:
            measured = None
    record["measured"] = measured
    if scale not in claim["judged_at"]:
        record.update(
            verdict=NOT_CHECKED,
            reason=f"judged at {', '.join(claim['judged_at'])} scale; this run is {scale}",
            check_with=claim.get("check_with", f"--config scale={claim['judged_at'][0]}"),
            power=None,
        )
        return record
    for premise in claim.get("premises", []):
        holds, what = check_premise(premise, runs, expected)
        if not holds:
            record.update(verdict=INCONCLUSIVE, reason=f"premise not met at this scale: {what}", power=None)
            return record

    if k.space == "universal":
        verdict, reason, pw = _judge_never(claim, ev, runs, expected)
        record["measured"] = seed_stats(ev.values.values()).as_dict() if ev.values else None
    elif k.space == "count":
        verdict, reason, record["measured"], pw = _judge_counts(claim, ev, expected)
    else:
        verdict, reason, st, pw, diff = _judge_interval(
            claim, k, ev, region, expected, _baseline_mean(claim, runs, expected)
        )
        record["measured"] = st or measured
        if diff is not None:
            record["difference"] = diff
    if seeds_note:
        reason += f" ({seeds_note})"
    record.update(verdict=verdict, reason=reason, power=pw)
    return record


# ---------------------------------------------------------------------------------------- budgets


def index_runs(evaluations: list[dict]) -> dict[str, dict[str, dict[int, dict]]]:
    """{experiment: {arm: {seed: metrics}}} from evaluate outputs ({'spec':..., 'metrics':...})."""
    out: dict = {}
    for ev in evaluations:
        spec = ev["spec"]
        out.setdefault(spec["experiment"], {}).setdefault(spec["arm"], {})[int(spec["seed"])] = ev["metrics"]
    return out


def at_budget(claim: dict, budget: float) -> dict:
    """The claim as judged from the runs trained at `budget` times the scale's budget."""
    if budget == 1:
        return claim
    out = dict(claim)
    for key in ("arm", "method", "baseline"):
        if key in claim:
            out[key] = budget_arm(claim[key], budget)
    out["premises"] = [
        {
            **p,
            "arm": budget_arm(p["arm"], budget),
            **({"ratio_to": budget_arm(p["ratio_to"], budget)} if "ratio_to" in p else {}),
        }
        for p in claim.get("premises", [])
    ]
    return out


def budget_label(info: dict) -> str:
    if info.get("authors") is not None:
        return f"{info['authors']:g}× authors'"
    return f"{info['multiple']:g}× scale"


def robustness_summary(rows: list[dict]) -> str:
    verdicts = [r["verdict"] for r in rows]
    if len(set(verdicts)) == 1:
        return "holds at every budget" if verdicts[0] == REPRODUCED else f"{verdicts[0]} at every budget"
    flips = [
        f"flips between {budget_label(a['budget'])} and {budget_label(b['budget'])} ({a['verdict']} → {b['verdict']})"
        for a, b in zip(rows, rows[1:])
        if a["verdict"] != b["verdict"]
    ]
    return "; ".join(flips)


def judge_claim(
    claim: dict, runs: dict[str, dict[int, dict]], scale: str, paper: dict | None = None, context: dict | None = None
) -> dict:
    """The claim's primary record, with the other budgets it is judged at as its robustness row."""
    ctx = context or {}
    budgets = sorted(claim.get("budgets") or [1])
    steps, authors = ctx.get("budget_steps"), ctx.get("authors_budget")

    def info(b: float) -> dict:
        out = {"multiple": b, "steps": None if steps is None else b * steps, "authors": None}
        if steps and authors:
            out["authors"] = round(b * steps / authors, 6)
        return out

    infos = {b: info(b) for b in budgets}
    at_authors = [b for b in budgets if infos[b]["authors"] == 1]
    primary = at_authors[0] if at_authors else budgets[-1]
    if claim["kind"] == "absolute" and claim.get("claimed") is not None:  # a number the authors measured
        if authors and not at_authors:
            record = judge(at_budget(claim, primary), runs, scale, paper, ctx)
            reached = ", ".join(budget_label(infos[b]) for b in budgets)
            record.update(
                verdict=NOT_CHECKED,
                budget=infos[primary],
                robustness=[],
                robustness_summary="",
                reason=f"an absolute number is judged at the budget it was measured at: the authors' "
                f"{authors:g} {ctx.get('budget_key', 'steps')} ({ctx.get('authors_budget_what', '')}); "
                f"this scale trains {reached}",
                check_with=claim.get("check_with", "--config scale=paper"),
                power=None,
            )
            return record
        budgets = [primary]
    records = {b: judge(at_budget(claim, b), runs, scale, paper, ctx) for b in budgets}
    record = records[primary]
    record["budget"] = infos[primary]
    rows = [
        {
            "budget": infos[b],
            "verdict": records[b]["verdict"],
            "measured": records[b]["measured"],
            "reason": records[b]["reason"],
        }
        for b in budgets
    ]
    record["robustness"] = rows if len(rows) > 1 else []
    record["robustness_summary"] = robustness_summary(rows) if len(rows) > 1 else ""
    return record


def select_tuned(runs: dict[str, dict[int, dict]], context: dict) -> tuple[dict, dict]:
    """Runs with each tuned arm standing for the best point of its grid (at every budget), and
    what was picked: the point whose mean of `select_by.metric` is best; a point with a diverged or
    missing seed never wins, as the authors keep configurations that finished.

    With held-out selection seeds (`select_seeds`) the point is picked on those and the arm then
    stands for the chosen point's runs on the judged seeds only, so the luck of the pick does not
    carry into the verdict; without them it is picked on the judged seeds, and the record says so."""
    tune, rule = context.get("tune") or {}, context.get("select_by") or {}
    held_out = list(context.get("select_seeds") or [])
    judged = set(context.get("seeds") or [])
    out, picked = dict(runs), {}
    for family, points in tune.items():
        budgets = {parse_budget_arm(a)[1] for a in runs if parse_budget_arm(a)[0] in points}
        for b in sorted(budgets):
            scores = {}
            for member in points:
                seeds = runs.get(budget_arm(member, b), {})
                picking = {s: m for s, m in seeds.items() if s in held_out} if held_out else seeds
                vals = [m.get(rule["metric"]) for m in picking.values()]
                ok = (
                    picking
                    and (not held_out or set(picking) == set(held_out))
                    and all(m.get("status") != DIVERGED for m in picking.values())
                    and all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)
                )
                scores[member] = float(sum(vals) / len(vals)) if ok else None
            eligible = {m: v for m, v in scores.items() if v is not None}
            alias = budget_arm(family, b)
            on = f"held-out seeds {', '.join(map(str, held_out))}" if held_out else "the judged seeds"
            if not eligible:
                picked[alias] = {
                    "grid": points,
                    "scores": scores,
                    "chosen": None,
                    "picked_on": on,
                    "why": f"no point of {family}'s grid finished on every seed it is picked on ({on})",
                }
                continue
            best = (min if rule["better"] == "lower" else max)(eligible, key=eligible.get)
            chosen = runs[budget_arm(best, b)]
            out[alias] = {s: m for s, m in chosen.items() if s in judged} if held_out and judged else chosen
            picked[alias] = {
                "chosen": points[best],
                "run": budget_arm(best, b),
                "by": rule["metric"],
                "picked_on": on,
                "scores": {str(points[m]): v for m, v in scores.items()},
            }
    return out, picked


def arms_read(claim: dict, context: dict) -> list[str]:
    """Every arm of its experiment the claim's verdict rests on: its roles and premises at each of
    its budgets, a tuned arm standing for its whole grid (the search is part of the evidence)."""
    k = kind(claim["kind"])
    tune = context.get("tune") or {}
    out = set()
    for b in claim.get("budgets") or [1]:
        c = at_budget(claim, b)
        premise_arms = [a for p in c.get("premises", []) for a in (p["arm"], p.get("ratio_to")) if a]
        for arm in [c[r] for r in k.roles if r in c] + premise_arms:
            family, budget = parse_budget_arm(arm)
            out |= {budget_arm(m, budget) for m in tune[family]} if family in tune else {arm}
    return sorted(out)


def judge_paper(paper_cfg: dict, evaluations: list[dict], scale: str, context: dict | None = None) -> list[dict]:
    """One record per claim. `context[experiment]` holds the experiment's seeds at this scale, the
    scale's budget (`budget_steps`, in `budget_key` units), the authors' (`authors_budget`), and
    its tuned arms (`tune`, `select_by`)."""
    runs = index_runs(evaluations)
    records = []
    for c in paper_cfg["claims"]:
        ctx = (context or {}).get(c["experiment"]) or {}
        exp_runs, picked = select_tuned(runs.get(c["experiment"], {}), ctx)
        record = judge_claim(c, exp_runs, scale, paper_cfg["paper"], ctx)
        record["reads"] = arms_read(c, ctx)
        roles = [c[r] for r in ("arm", "method", "baseline") if r in c]
        tuned = {a: p for a, p in picked.items() if parse_budget_arm(a)[0] in roles}
        if tuned:
            record["tuning"] = tuned
            chosen = [
                f"{a}: {p['chosen']}"
                for a, p in tuned.items()
                if parse_budget_arm(a)[1] == record.get("budget", {}).get("multiple", 1)
            ]
            if chosen:
                on = next(iter(tuned.values())).get("picked_on", "the judged seeds")
                record["reason"] += f" (tuned over the authors' grid, best final {ctx['select_by']['metric']} on {on}: "
                record["reason"] += "; ".join(chosen) + ")"
        records.append(record)
    return records
