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

import dataclasses
import math

from logitrepro.budgets import budget_arm, parse_budget_arm
from logitrepro.claims.claim import Claim, Premise, as_claim, claims_of
from logitrepro.claims.evidence import DIVERGED, Evidence, cost_at
from logitrepro.claims.kinds import interval_verdict
from logitrepro.claims.stats import log_seed_stats, seed_stats
from logitrepro.claims.words import fmt
from logitrepro.claims.words import fmt_interval as fmt_region
from logitrepro.verdicts import INCONCLUSIVE, NOT_CHECKED, NOT_REPRODUCED, REPRODUCED, VERDICTS

# the names this module has always offered, now at home in the modules that own them
__all__ = [
    "DIVERGED",
    "INCONCLUSIVE",
    "NOT_CHECKED",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "VERDICTS",
    "Evidence",
    "at_budget",
    "arms_read",
    "cost_at",
    "evidence",
    "index_runs",
    "interval_verdict",
    "judge",
    "judge_claim",
    "judge_paper",
    "select_tuned",
]


def evidence(claim: Claim | dict, runs: dict[str, dict[int, dict]], expected: list[int]) -> Evidence:
    """Per seed, the claim's statistic (display units: a ratio is a ratio, not its log), as its
    kind computes it."""
    claim, ev = as_claim(claim), Evidence()
    ev.values = claim.kind.per_seed(claim, runs, expected, ev)
    for seed in list(ev.left_out):
        ev.values.pop(seed, None)
    return ev


# ---------------------------------------------------------------------------------------- premises


def _premise_values(premise: Premise, runs: dict[str, dict[int, dict]], expected: list[int]) -> dict[int, float]:
    """Per seed, the premise's statistic: the arm's metric, or its ratio to another arm's
    (`ratio_to`, paired by seed)."""
    metric = premise.metric

    def values(name: str) -> dict[int, float]:
        return {
            s: float(m[metric])
            for s, m in sorted(runs.get(name, {}).items())
            if s in expected and isinstance(m.get(metric), (int, float)) and math.isfinite(m[metric])
        }

    own = values(premise.arm)
    if premise.ratio_to is None:
        return own
    other = values(premise.ratio_to)
    return {s: own[s] / other[s] for s in own if s in other and other[s] > 0 and own[s] > 0}


def check_premise(premise: Premise | dict, runs: dict[str, dict[int, dict]], expected: list[int]) -> tuple[bool, str]:
    """(holds, what was measured). Diverged runs count: they are evidence about the arm."""
    premise = premise if isinstance(premise, Premise) else Premise.from_config(premise)
    by_seed = _premise_values(premise, runs, expected)
    vals = list(by_seed.values())
    what = premise.why or f"{premise.arm}'s {premise.metric}"
    if premise.total_at_least is not None:
        need = premise.total_at_least
        total = sum(vals)
        return total >= need, f"{what}: {fmt(total)} in total over {len(vals)} seeds (needs at least {fmt(need)})"
    if premise.each_above is not None:
        x, missing = premise.each_above, sorted(set(expected) - set(by_seed))
        low = sorted((s for s, v in by_seed.items() if not v > x))
        listed = ", ".join(f"seed {s}: {fmt(v)}" for s, v in sorted(by_seed.items()))
        holds = not low and not missing and bool(by_seed)
        gap = f"; not in seeds {', '.join(map(str, low + missing))}" if not holds else ""
        return holds, f"{what}: {listed or 'no seed'} (each needs to lie above {fmt(x)}){gap}"
    if len(vals) < 2:
        return False, f"{what}: {len(vals)} seed(s) with {premise.metric}, too few for an interval"
    st = log_seed_stats(vals) if premise.ratio_to is not None else seed_stats(vals)
    if premise.ci_above is not None:
        x = premise.ci_above
        return (
            st.ci_low > x,
            f"{what}: 95% CI {fmt_region(st.ci_low, st.ci_high)} over {st.n} seeds, needs to lie above {fmt(x)}",
        )
    x = premise.ci_below
    return (
        st.ci_high < x,
        f"{what}: 95% CI {fmt_region(st.ci_low, st.ci_high)} over {st.n} seeds, needs to lie below {fmt(x)}",
    )


# ---------------------------------------------------------------------------------------- verdicts


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


def _skeleton(claim: Claim, scale: str, paper: dict | None) -> dict:
    """The record's echo of the claim; records are files, so their keys and values stay as they were."""
    return {
        "id": claim.id,
        "class": claim.class_,
        "statement": claim.statement,
        "source": claim.source,
        "kind": claim.kind.name,
        "experiment": claim.experiment,
        "metric": claim.metric,
        "baseline_metric": claim.baseline_metric,
        "better": claim.better,
        "claimed": claim.claimed,
        "tolerance": claim.tolerance,
        "tolerance_rule": claim.tolerance_rule,
        "sided": claim.sided,
        "accept": None if claim.accept is None else list(claim.accept),
        "units": claim.units,
        "scale": scale,
        "region": [None if math.isinf(v) else v for v in claim.region],
        "arms": dict(claim.roles),
        "premises": [dict(p.record) for p in claim.premises],
        "judged_at": list(claim.judged_at),
        "paper": (paper or {}).get("id"),
        "arxiv": (paper or {}).get("arxiv"),
    }


def judge(
    claim: Claim | dict,
    runs: dict[str, dict[int, dict]],
    scale: str,
    paper: dict | None = None,
    context: dict | None = None,
) -> dict:
    """A claim record with its verdict, computed from the runs of its experiment at one budget.
    `context` gives the seeds the experiment runs at this scale (else: the seeds present)."""
    claim = as_claim(claim)
    k = claim.kind
    expected = sorted((context or {}).get("seeds") or {s for arm in claim.arms() for s in runs.get(arm, {})})
    record = _skeleton(claim, scale, paper)
    ev = evidence(claim, runs, expected)
    record["per_seed"] = {str(s): v for s, v in sorted(ev.values.items())}
    record["seeds"] = {
        "expected": expected,
        "used": sorted(ev.values),
        "left_out": {str(s): why for s, why in sorted(ev.left_out.items())},
    }
    arm_stats = {}
    for role, arm in record["arms"].items():
        key = claim.metric_of(role)
        vals = [
            float(m[key])
            for m in runs.get(arm, {}).values()
            if isinstance(m.get(key), (int, float)) and math.isfinite(m[key])
        ]
        if vals:
            arm_stats[arm if key == claim.metric else f"{arm}:{key}"] = seed_stats(vals).as_dict()
    record["arm_stats"] = arm_stats
    seeds_note = _seeds_clause(ev, expected)

    # The numbers are shown at every scale; only the verdict waits for a scale that can judge it.
    shown = k.shown(ev.values)
    record["measured"] = shown
    if scale not in claim.judged_at:
        record.update(
            verdict=NOT_CHECKED,
            reason=f"judged at {', '.join(claim.judged_at)} scale; this run is {scale}",
            check_with=_check_with(claim, f"--config scale={claim.judged_at[0]}"),
            power=None,
        )
        return record
    for premise in claim.premises:
        holds, what = check_premise(premise, runs, expected)
        if not holds:
            record.update(verdict=INCONCLUSIVE, reason=f"premise not met at this scale: {what}", power=None)
            return record

    judged = k.judge(claim, ev, runs, expected, shown)
    record["measured"] = judged.measured
    if judged.difference is not None:
        record["difference"] = judged.difference
    reason = judged.reason + (f" ({seeds_note})" if seeds_note else "")
    record.update(verdict=judged.verdict, reason=reason, power=judged.power)
    return record


def _check_with(claim: Claim, default: str) -> str:
    """What would check a claim this scale does not judge: the claim's own words, else `default`."""
    return default if claim.check_with is None else claim.check_with


# ---------------------------------------------------------------------------------------- budgets


def index_runs(evaluations: list[dict]) -> dict[str, dict[str, dict[int, dict]]]:
    """{experiment: {arm: {seed: metrics}}} from evaluate outputs ({'spec':..., 'metrics':...})."""
    out: dict = {}
    for ev in evaluations:
        spec = ev["spec"]
        out.setdefault(spec["experiment"], {}).setdefault(spec["arm"], {})[int(spec["seed"])] = ev["metrics"]
    return out


def at_budget(claim: Claim | dict, budget: float) -> Claim:
    """The claim as judged from the runs trained at `budget` times the scale's budget."""
    claim = as_claim(claim)
    if budget == 1:
        return claim
    premises = tuple(p.at_budget(lambda arm: budget_arm(arm, budget)) for p in claim.premises)
    roles = {role: budget_arm(arm, budget) for role, arm in claim.roles.items()}
    return dataclasses.replace(claim, roles=type(claim.roles)(roles), premises=premises)


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
    claim: Claim | dict,
    runs: dict[str, dict[int, dict]],
    scale: str,
    paper: dict | None = None,
    context: dict | None = None,
) -> dict:
    """The claim's primary record, with the other budgets it is judged at as its robustness row."""
    claim, ctx = as_claim(claim), context or {}
    budgets = sorted(claim.budgets)
    steps, authors = ctx.get("budget_steps"), ctx.get("authors_budget")

    def info(b: float) -> dict:
        out = {"multiple": b, "steps": None if steps is None else b * steps, "authors": None}
        if steps and authors:
            out["authors"] = round(b * steps / authors, 6)
        return out

    infos = {b: info(b) for b in budgets}
    at_authors = [b for b in budgets if infos[b]["authors"] == 1]
    primary = at_authors[0] if at_authors else budgets[-1]
    if claim.kind.measures_paper_number(claim.claimed):
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
                check_with=_check_with(claim, "--config scale=paper"),
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


def arms_read(claim: Claim | dict, context: dict) -> list[str]:
    """Every arm of its experiment the claim's verdict rests on: its roles and premises at each of
    its budgets, a tuned arm standing for its whole grid (the search is part of the evidence)."""
    claim = as_claim(claim)
    tune = context.get("tune") or {}
    out = set()
    for b in claim.budgets:
        c = at_budget(claim, b)
        premise_arms = [a for p in c.premises for a in p.arms()]
        for arm in c.arms() + premise_arms:
            family, budget = parse_budget_arm(arm)
            out |= {budget_arm(m, budget) for m in tune[family]} if family in tune else {arm}
    return sorted(out)


def judge_paper(paper_cfg: dict, evaluations: list[dict], scale: str, context: dict | None = None) -> list[dict]:
    """One record per claim. `context[experiment]` holds the experiment's seeds at this scale, the
    scale's budget (`budget_steps`, in `budget_key` units), the authors' (`authors_budget`), and
    its tuned arms (`tune`, `select_by`)."""
    runs = index_runs(evaluations)
    records = []
    for c in claims_of(paper_cfg):
        ctx = (context or {}).get(c.experiment) or {}
        exp_runs, picked = select_tuned(runs.get(c.experiment, {}), ctx)
        record = judge_claim(c, exp_runs, scale, paper_cfg["paper"], ctx)
        record["reads"] = arms_read(c, ctx)
        roles = c.arms()
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
