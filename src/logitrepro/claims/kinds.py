"""The claim kinds: one class per kind, holding all that differs between kinds, so that changing
how one kind is judged is changing its class.

A kind says which arms a claim names (its roles), what one seed contributes (its statistic), how
the seeds' statistics become a verdict, what the config loader checks of a claim of the kind
beyond the schema, how an effect too small to matter is set for its power, and how the tables
word it. What kinds share lives in the base classes:

  ClaimKind     roles, the region, config checks, table words
  IntervalKind  per-seed values, mean and a 95% t-interval against the accepted region (linear)
  LogRatioKind  per-seed ratios, the mean of their logs and its t-interval transformed back (a
                geometric mean; a ratio of 2 and one of 1/2 cancel, as they should)
  Never         universal: any violation in any seed disproves the claim; no interval
  FewerEvents   events per arm, summed over seeds, compared by an exact binomial test

The config loader imports this module on every Snakemake start: scipy (logitrepro.claims.stats and
.power) is imported inside the methods that judge, never at the top.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from logitrepro.claims.evidence import Evidence, cost_at, excluded, usable
from logitrepro.claims.words import fmt, fmt_bounds, fmt_interval, fmt_num
from logitrepro.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

CLASSES = ("paper", "proxy", "sanity", "extension")
CLASS_TITLES = {
    "paper": "Paper claims",
    "proxy": "Proxies (this machine's measurement standing in for the paper's setting; not counted)",
    "sanity": "Sanity checks (hold by construction; not counted)",
    "extension": "Extensions (our own variants and questions; not counted)",
}
# cost_to_target keys that measure optimisation progress; a time is a separate, labelled claim
PROGRESS_COSTS = ("step", "tokens", "expert_queries", "val_expert_queries")


@dataclass(frozen=True)
class Judged:
    """A verdict with what it rests on: the statistic shown, the power, and for an absolute number
    the interval of ours - theirs."""

    verdict: str
    reason: str
    measured: dict | None
    power: dict | None
    difference: dict | None = None


# Claims reach the judging methods as logitrepro.claims.claim.Claim (fields, not keys), and the
# config checks as the loader's dicts (before a Claim can be built). Claim is not imported here:
# it imports this module.


class ClaimKind(ABC):
    """What every kind has; a subclass sets the class attributes and its statistic."""

    name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]  # the arm keys a claim of this kind names
    statistic: ClassVar[str]  # what one seed contributes, in words (tables, docs)
    space: ClassVar[str]  # linear | log | universal | count
    needs_better: ClassVar[bool] = False  # compares two states: the claim must say which way is better
    banded: ClassVar[bool] = False  # may carry claimed +- tolerance (or a one-sided `sided` region)
    default_region: ClassVar[tuple[float, float] | None] = None  # neither claimed nor accept given
    no_effect: ClassVar[float | None] = None  # the statistic when method and baseline do not differ
    extra: ClassVar[tuple[str, ...]] = ()  # further keys a claim of this kind needs
    measured_in_units: ClassVar[bool] = True  # the measured value is in the claim's units (tables)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ------------------------------------------------------------------------------ the config

    def region(self, claimed, tolerance: float | None, sided: str, accept) -> tuple[float, float]:
        """The accepted region [low, high] of the statistic (display units): `accept`, else the
        band claimed +- tolerance (one side of it for `sided`), else the kind's default."""
        if accept is not None:
            low, high = accept
            return (-math.inf if low is None else float(low)), (math.inf if high is None else float(high))
        if self.banded and claimed is not None:
            c = float(claimed)
            low = -math.inf if sided == "at_most" else c - tolerance
            high = math.inf if sided == "at_least" else c + tolerance
            return self._clip(low, high)
        if self.default_region is not None:
            return self.default_region
        return -math.inf, math.inf

    def _clip(self, low: float, high: float) -> tuple[float, float]:
        return low, high

    def config_problems(self, claim: dict, at: str) -> list[str]:
        """The lines check_claims adds for this kind's own keys (claim: the loader's dict)."""
        if "baseline_factor" in claim:
            return [f"{at}.baseline_factor: only a direction claim scales its baseline"]
        return []

    def space_problems(self, claim: dict, at: str) -> list[str]:
        """A region that cannot hold this kind's statistic at all."""
        return []

    def metrics_read(self, claim, role: str) -> set[str]:
        """The metrics a role's arm must report for the claim to be judged (the config checks them
        against the task's metrics)."""
        return {claim.metric_of(role)}

    # ------------------------------------------------------------------------------ judging

    @abstractmethod
    def per_seed(self, claim, runs: dict, expected: list[int], ev: Evidence) -> dict[int, float]:
        """The statistic per seed (display units: a ratio is a ratio, not its log); seeds that
        cannot give it go to ev.left_out."""

    def shown(self, values: dict[int, float]) -> dict | None:
        """The statistic over seeds shown at every scale, before (and without) a verdict."""
        return None

    @abstractmethod
    def judge(self, claim, ev: Evidence, runs: dict, expected: list[int], shown: dict | None) -> Judged:
        """The verdict from the seeds' statistics (ev), once the scale judges the claim and its
        premises hold; `shown` is the statistic shown without a verdict."""

    def measures_paper_number(self, claimed) -> bool:
        """A number the authors measured (judged only at the budget it was measured at, and shown
        beside the arm's results)."""
        return False

    # ------------------------------------------------------------------------------ tables

    def describe(self, record: dict) -> str:
        """The test in words (the premises are added by the tables)."""
        text = f"{self.name} in {fmt_bounds(record['region'])}"
        if record.get("tolerance_rule"):
            text += f" ({record['tolerance_rule']})"
        return text

    def show_measured(self, record: dict) -> str | None:
        """The measured value where this kind shows it its own way; None: mean and CI."""
        return None


def _paired(claim, runs: dict, expected: list[int], ev: Evidence) -> tuple[dict, dict, list[int]]:
    """(the method's values, the baseline's, the seeds both have): comparisons are paired by seed."""
    method = usable(claim, runs, claim.roles["method"], claim.metric, expected, ev)
    base = usable(claim, runs, claim.roles["baseline"], claim.metric_of("baseline"), expected, ev)
    return method, base, sorted(set(method) & set(base))


# ---------------------------------------------------------------------------------------- intervals


def interval_verdict(low: float, high: float, accept_low: float, accept_high: float) -> str:
    """Compare a confidence interval with the accepted region [accept_low, accept_high]."""
    if accept_low <= low and high <= accept_high:
        return REPRODUCED
    if high < accept_low or low > accept_high:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _interval_reason(verdict: str, st, region: tuple[float, float]) -> str:
    low_ok, high_ok = region
    ci = f"95% CI {fmt_interval(st.ci_low, st.ci_high)} over {st.n} seeds"
    if verdict == REPRODUCED:
        return f"{ci} lies inside the accepted {fmt_interval(low_ok, high_ok)}"
    if verdict == NOT_REPRODUCED:
        side = "above" if st.ci_low > high_ok else "below"
        return f"{ci} lies {side} the accepted {fmt_interval(low_ok, high_ok)}"
    edges = [fmt(e) for e in (low_ok, high_ok) if math.isfinite(e) and st.ci_low < e < st.ci_high]
    return f"{ci} straddles the boundary {' and '.join(edges)} of the accepted {fmt_interval(low_ok, high_ok)}"


def _baseline_mean(claim, runs: dict, expected: list[int]) -> float | None:
    key = claim.metric_of("baseline")
    vals = [
        float(m[key])
        for s, m in runs.get(claim.roles.get("baseline"), {}).items()
        if s in expected and isinstance(m.get(key), (int, float)) and math.isfinite(m[key])
    ]
    return sum(vals) / len(vals) if vals else None


class IntervalKind(ClaimKind):
    """Per-seed values, their mean and 95% t-interval, judged against the accepted region."""

    space = "linear"

    def to_space(self, v: float) -> float:
        """A display value in the space the interval is computed in."""
        return v

    def from_space(self, v: float) -> float:
        return v

    def summarise(self, values):
        from logitrepro.claims.stats import seed_stats

        return seed_stats(values)

    def unfit(self, values: dict[int, float]) -> str | None:
        """Why these finite values have no interval in this kind's space; None: they have one."""
        return None

    def shown(self, values: dict[int, float]) -> dict | None:
        if len(values) >= 1 and all(math.isfinite(v) for v in values.values()):
            try:
                return self.summarise(values.values()).as_dict()
            except ValueError:
                return None
        return None

    def judge(self, claim, ev: Evidence, runs: dict, expected: list[int], shown: dict | None) -> Judged:
        """The interval of the statistic against the region; with an inconclusive verdict, how
        often a perfect replication would pass and how many seeds would decide it."""
        from logitrepro.claims import power as P

        vals, region = ev.values, claim.region
        if len(vals) < 2:
            return Judged(INCONCLUSIVE, f"{len(vals)} usable seed(s): an interval needs at least 2", shown, None)
        finite = {s: v for s, v in vals.items() if math.isfinite(v)}
        if len(finite) < len(vals):  # e.g. a method that never reached the target
            stuck = ", ".join(map(str, sorted(s for s in vals if s not in finite)))
            if all(v > region[1] for v in vals.values()) or all(v < region[0] for v in vals.values()):
                why = f"every seed lies outside {fmt_interval(*region)}; seeds {stuck} never reached the target"
                return Judged(NOT_REPRODUCED, why, shown, None)
            why = (
                f"seeds {stuck} have an unbounded value (never reached the target) while others lie inside "
                f"{fmt_interval(*region)}"
            )
            return Judged(INCONCLUSIVE, why, shown, None)
        unfit = self.unfit(vals)
        if unfit:
            return Judged(INCONCLUSIVE, unfit, shown, None)
        st = self.summarise(vals.values())
        verdict, reason, difference = self.verdict_on(claim, st, vals)
        pw = self.power(claim, st, len(expected), _baseline_mean(claim, runs, expected))
        if verdict == INCONCLUSIVE and P.describe(pw):  # what would decide it
            reason += "; " + P.describe(pw)
        return Judged(verdict, reason, st.as_dict(), pw, difference)

    def verdict_on(self, claim, st, values: dict[int, float]) -> tuple[str, str, dict | None]:
        """(verdict, reason, the difference to the paper's number or None) from the interval."""
        verdict = interval_verdict(st.ci_low, st.ci_high, *claim.region)
        return verdict, _interval_reason(verdict, st, claim.region), None

    # ------------------------------------------------------------------------------ power

    def shift(self, claim) -> float:
        """Where the statistic's 0 lies in display units (an absolute number: the paper's)."""
        return 0.0

    def reference(self, claim) -> dict:
        """The uncertainty of the paper's own number where the interval carries it."""
        return {}

    def perfect_effect(self, claim) -> tuple[float, str] | None:
        """(the statistic of a perfect replication, in words), or None where the paper gives none."""
        if claim.claimed is not None:
            return float(claim.claimed), "the claimed value"
        if claim.paper_effect is not None:
            return float(claim.paper_effect), "the paper's effect"
        return None

    def paper_effect_for_negligible(self, claim):
        return claim.claimed

    def origin(self, claim) -> float | None:
        """The statistic under no effect, from which a negligible effect is measured."""
        return self.no_effect

    def quarter_towards(self, effect: float, origin: float) -> float:
        from logitrepro.claims import power as P

        return origin + P.NEGLIGIBLE_SHARE * (float(effect) - origin)

    def negligible_without_effect(self, claim, region, baseline_mean, origin) -> tuple[float | None, str]:
        return None, "no negligible effect stated for this number"

    def negligible_effect(self, claim, region: tuple[float, float], baseline_mean: float | None):
        """(the statistic under an effect too small to matter, in display units, and the rule in
        words), or (None, why not). Stated per claim (`negligible`), else a quarter of the paper's
        effect from no effect, else what the kind falls back on (logitrepro.claims.power)."""
        if claim.negligible is not None:
            return float(claim.negligible["value"]), f"stated: {claim.negligible['why']}"
        effect, origin = self.paper_effect_for_negligible(claim), self.origin(claim)
        if effect is not None and origin is not None:
            return self.quarter_towards(effect, origin), f"a quarter of the paper's effect ({effect:g})"
        return self.negligible_without_effect(claim, region, baseline_mean, origin)

    def power(self, claim, st, n_expected: int, baseline_mean: float | None = None) -> dict | None:
        """Pass probabilities of a perfect and of a negligible replication (logitrepro.claims.power),
        in the interval's space, relative to the kind's shift."""
        from logitrepro.claims import power as P

        if st is None or st.n < 2 or n_expected < 2:
            return None
        region, shift, reference = claim.region, self.shift(claim), self.reference(claim)
        space_region = (self.to_space(region[0] - shift), self.to_space(region[1] - shift))
        effect = self.perfect_effect(claim)
        if effect is not None:
            perfect, basis = self.to_space(effect[0] - shift), effect[1]
        else:
            perfect, basis = self.to_space(st.mean - shift), "post-hoc: the observed effect"
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
        null_display, null_basis = self.negligible_effect(claim, region, baseline_mean)
        null = None if null_display is None else self.to_space(null_display - shift)
        out = P.interval_power(
            perfect,
            null,
            st.sd,
            st.n,
            n_expected,
            space_region,
            basis,
            null_basis,
            lambda v: self.from_space(v) + shift,
            **reference,
        )
        if null is None:
            out["null_basis"] = null_basis
        return out


class LogRatioKind(IntervalKind):
    """Positive ratios: the interval of their logs, transformed back (a geometric mean)."""

    space = "log"
    needs_better = True
    banded = True
    no_effect = 1.0

    def to_space(self, v: float) -> float:
        return math.log(v) if v > 0 else -math.inf

    def from_space(self, v: float) -> float:
        return math.exp(v)

    def summarise(self, values):
        from logitrepro.claims.stats import log_seed_stats

        return log_seed_stats(values)

    def unfit(self, values: dict[int, float]) -> str | None:
        bad = sorted(s for s, v in values.items() if v <= 0)
        if bad:
            return (
                f"a ratio of values of opposite sign (seeds {', '.join(map(str, bad))}) has no meaning as a "
                f"ratio; compare a difference instead"
            )
        return None

    def _clip(self, low: float, high: float) -> tuple[float, float]:
        return max(low, 0.0), high

    def space_problems(self, claim: dict, at: str) -> list[str]:
        """A ratio lies above 0: a claimed value or a region at or below it cannot hold one."""
        problems, accept = [], claim.get("accept")
        if claim.get("claimed") is not None and claim["claimed"] <= 0:
            problems.append(
                f"{at}.claimed: {claim['claimed']} is not above 0, and a {self.name} claim's statistic is a ratio; "
                f"give the paper's ratio (e.g. 0.5 for half)"
            )
        if accept is not None and (
            (accept[1] is not None and accept[1] <= 0) or (accept[0] is not None and accept[0] < 0)
        ):
            problems.append(
                f"{at}.accept: {accept} reaches below 0, where no ratio of a {self.name} claim can be; give bounds "
                f"above 0 (null for no bound)"
            )
        return problems

    def quarter_towards(self, effect: float, origin: float) -> float:
        from logitrepro.claims import power as P

        return math.exp(P.NEGLIGIBLE_SHARE * math.log(float(effect)))

    def negligible_without_effect(self, claim, region, baseline_mean, origin) -> tuple[float | None, str]:
        from logitrepro.claims import power as P

        rel = P.NEGLIGIBLE_RELATIVE
        better_above = region[0] >= 1.0 or (region[1] == math.inf and region[0] > 0)
        return (1 + rel if better_above else 1 - rel), f"{rel:.0%} better than no effect (no effect size in the paper)"


# ---------------------------------------------------------------------------------------- the kinds


class Absolute(IntervalKind):
    """The metric of one arm; with a claimed value, judged on one interval for ours - theirs that
    carries the paper's own standard error where its tolerance rule gives a seed spread."""

    name = "absolute"
    roles = ("arm",)
    statistic = "the metric"
    banded = True

    def per_seed(self, claim, runs, expected, ev):
        return usable(claim, runs, claim.roles["arm"], claim.metric, expected, ev)

    def measures_paper_number(self, claimed) -> bool:
        return claimed is not None

    def reference(self, claim) -> dict:
        """A mean of `n` runs with the seed spread its tolerance rule names (`seed_sd`); none where
        the paper's number is exact to its reported digits."""
        rule = claim.tolerance_spec or {}
        if claim.claimed is None or rule.get("rule") != "seed_sd":
            return {}
        n = int(rule.get("n", 1))
        # a spread published for the setup (one run of theirs) is taken as known; their own seeds'
        # sd is an estimate with n - 1 degrees of freedom
        return {"reference_se": float(rule["sd"]) / math.sqrt(n), "reference_df": math.inf if n < 2 else float(n - 1)}

    def shift(self, claim) -> float:
        return float(claim.claimed) if claim.claimed is not None else 0.0

    def verdict_on(self, claim, st, values):
        if claim.claimed is None:
            return super().verdict_on(claim, st, values)
        from logitrepro.claims.stats import difference_stats

        claimed, reference, region = float(claim.claimed), self.reference(claim), claim.region
        diff = difference_stats(values.values(), claimed, **reference)
        low, high = region[0] - claimed, region[1] - claimed
        verdict = interval_verdict(diff.ci_low, diff.ci_high, low, high)
        theirs = f"; theirs ± {fmt(reference['reference_se'])} (s.e.) included" if reference.get("reference_se") else ""
        ci = f"ours - theirs ({fmt(claimed)}): 95% CI {fmt_interval(diff.ci_low, diff.ci_high)} over {diff.n} seeds"
        ci += theirs
        if verdict == REPRODUCED:
            reason = f"{ci}, inside the tolerance {fmt_interval(low, high)}"
        elif verdict == NOT_REPRODUCED:
            side = "above" if diff.ci_low > high else "below"
            reason = f"{ci}, {side} the tolerance {fmt_interval(low, high)}"
        else:
            edges = [fmt(e) for e in (low, high) if math.isfinite(e) and diff.ci_low < e < diff.ci_high]
            reason = f"{ci} straddles the edge {' and '.join(edges)} of the tolerance {fmt_interval(low, high)}"
        return verdict, reason, {**diff.as_dict(), **reference}

    def origin(self, claim) -> float | None:
        return claim.no_effect

    def negligible_without_effect(self, claim, region, baseline_mean, origin):
        if origin is not None:
            return float(origin), "no effect (the claim's no_effect value; no effect size in the paper)"
        return super().negligible_without_effect(claim, region, baseline_mean, origin)

    def describe(self, record: dict) -> str:
        if record.get("claimed") is None:
            return super().describe(record)
        low, high = (None if v is None else round(v - record["claimed"], 12) for v in record["region"])
        text = f"ours - theirs in {fmt_bounds((low, high))}, one interval with the paper's s.e."
        if record.get("tolerance_rule"):
            text += f" ({record['tolerance_rule']})"
        return text


class Difference(IntervalKind):
    name = "difference"
    roles = ("method", "baseline")
    statistic = "method - baseline, paired by seed"
    needs_better = True
    banded = True
    no_effect = 0.0

    def per_seed(self, claim, runs, expected, ev):
        method, base, seeds = _paired(claim, runs, expected, ev)
        return {s: method[s] - base[s] for s in seeds}


class Ratio(LogRatioKind):
    name = "ratio"
    roles = ("method", "baseline")
    statistic = "method / baseline, paired by seed"

    def per_seed(self, claim, runs, expected, ev):
        method, base, seeds = _paired(claim, runs, expected, ev)
        return {s: method[s] / base[s] if base[s] != 0 else math.copysign(math.inf, method[s]) for s in seeds}


class Direction(IntervalKind):
    """The method beats the baseline (or `baseline_factor` times it) in the better direction."""

    name = "direction"
    roles = ("method", "baseline")
    statistic = "the method's margin over the baseline, in the better direction"
    needs_better = True
    default_region = (0.0, math.inf)
    no_effect = 0.0

    def per_seed(self, claim, runs, expected, ev):
        method, base, seeds = _paired(claim, runs, expected, ev)
        sign = 1.0 if claim.better == "higher" else -1.0
        factor = self.factor(claim)
        return {s: sign * (method[s] - factor * base[s]) for s in seeds}

    @staticmethod
    def factor(claim) -> float:
        return float(claim.baseline_factor if claim.baseline_factor is not None else 1.0)

    def config_problems(self, claim: dict, at: str) -> list[str]:
        return []  # a direction claim may scale its baseline

    def perfect_effect(self, claim):
        # a direction claim's claimed value is no effect size: the paper's effect is stated apart
        if claim.paper_effect is not None:
            return float(claim.paper_effect), "the paper's effect"
        return None

    def paper_effect_for_negligible(self, claim):
        return claim.paper_effect

    def negligible_without_effect(self, claim, region, baseline_mean, origin):
        from logitrepro.claims import power as P

        if baseline_mean is not None:
            rel = P.NEGLIGIBLE_RELATIVE
            margin = rel * abs(self.factor(claim) * baseline_mean)
            return margin, f"a margin of {rel:.0%} of the baseline (no effect size in the paper)"
        return super().negligible_without_effect(claim, region, baseline_mean, origin)

    def describe(self, record: dict) -> str:
        factor = "" if (record.get("baseline_factor") or 1) == 1 else f" × {record['baseline_factor']:g}"
        arms = record["arms"]
        return f"{arms['method']} beats {arms['baseline']}{factor} ({record.get('better')} is better)"


class Bound(IntervalKind):
    name = "bound"
    roles = ("arm",)
    statistic = "metric - bound_metric"
    default_region = (0.0, math.inf)
    no_effect = 0.0
    extra = ("bound_metric",)

    def per_seed(self, claim, runs, expected, ev):
        value = usable(claim, runs, claim.roles["arm"], claim.metric, expected, ev)
        bound = usable(claim, runs, claim.roles["arm"], claim.bound_metric, expected, ev)
        return {s: value[s] - bound[s] for s in sorted(set(value) & set(bound))}

    def metrics_read(self, claim, role: str) -> set[str]:
        return {claim.metric, claim.bound_metric}

    def describe(self, record: dict) -> str:
        return "≥ bound"


class CostToTarget(LogRatioKind):
    """Per seed: the method's cost to reach the baseline's final value of the metric, divided by
    the baseline's own cost to first reach it (inf when the method never gets there)."""

    name = "cost_to_target"
    roles = ("method", "baseline")
    statistic = "the method's cost to reach the baseline's final value / the baseline's own cost"
    extra = ("cost",)

    def per_seed(self, claim, runs, expected, ev):
        metric, cost, lower = claim.metric, claim.cost, claim.better == "lower"
        curves = {role: {} for role in ("method", "baseline")}
        for role in curves:
            for seed, m in runs.get(claim.roles[role], {}).items():
                if seed in expected and not excluded(claim, m):
                    curves[role][seed] = m.get("curve") or {}
        out = {}
        for seed in expected:
            for role in curves:
                if seed not in curves[role]:
                    arm = claim.roles[role]
                    ran = seed in runs.get(arm, {})
                    ev.left_out.setdefault(seed, f"{arm}: diverged (excluded)" if ran else f"{arm}: no run")
            if seed in ev.left_out:
                continue
            finals = [y for y in curves["baseline"][seed].get(metric) or [] if y is not None and math.isfinite(y)]
            if not finals:
                ev.left_out[seed] = f"{claim.roles['baseline']}: no {metric} curve"
                continue
            base_cost = cost_at(curves["baseline"][seed], metric, cost, finals[-1], lower)
            if not base_cost > 0:
                ev.left_out[seed] = f"{claim.roles['baseline']}: reached its own final value at zero cost"
                continue
            out[seed] = cost_at(curves["method"][seed], metric, cost, finals[-1], lower) / base_cost
        return out

    def config_problems(self, claim: dict, at: str) -> list[str]:
        problems = []
        if claim.get("cost") not in PROGRESS_COSTS and not claim.get("cost_why"):
            problems.append(
                f"{at}.cost: cost-to-target claims measure progress ({', '.join(PROGRESS_COSTS)}); "
                f"a time needs cost_why saying why the arms' implementations are comparable"
            )
        return problems + super().config_problems(claim, at)

    def metrics_read(self, claim, role: str) -> set[str]:
        return {claim.metric}  # both arms' validation curves of the one metric


class Never(ClaimKind):
    """Violations per seed: any in any seed disproves the claim; no interval."""

    name = "never"
    roles = ("arm",)
    statistic = "violations (any in any seed disproves the claim)"
    space = "universal"
    measured_in_units = False

    def per_seed(self, claim, runs, expected, ev):
        return usable(claim, runs, claim.roles["arm"], claim.metric, expected, ev)

    def metrics_read(self, claim, role: str) -> set[str]:
        return {claim.metric} | ({claim.checks_metric} if claim.checks_metric else set())

    def judge(self, claim, ev, runs, expected, shown):
        from logitrepro.claims.stats import seed_stats

        vals = ev.values
        measured = seed_stats(vals.values()).as_dict() if vals else None
        deterministic = {"perfect": 1.0, "basis": "deterministic"}
        if not vals:
            return Judged(INCONCLUSIVE, "no seed reports the check", measured, None)
        bad = {s: v for s, v in vals.items() if v > 0}
        checks = None
        if claim.checks_metric:
            arm = runs.get(claim.roles["arm"], {})
            checks = sum(float(arm.get(s, {}).get(claim.checks_metric, 0)) for s in vals)
        if bad:
            listed = ", ".join(f"seed {s}: {fmt(v)}" for s, v in sorted(bad.items()))
            why = f"violations in {len(bad)} of {len(vals)} seeds ({listed}); one disproves 'never'"
            return Judged(NOT_REPRODUCED, why, measured, None)
        if checks == 0:
            return Judged(INCONCLUSIVE, "the check never ran (0 checks): no evidence either way", measured, None)
        if checks:
            # with 0 events in n trials the 95% upper bound on the rate is about 3/n (rule of three)
            why = (
                f"no violation in {fmt(checks)} checks over {len(vals)} seeds (95% upper bound on the "
                f"violation rate: {fmt(3 / checks)})"
            )
            return Judged(REPRODUCED, why, measured, deterministic)
        return Judged(REPRODUCED, f"no violation in {len(vals)} seeds", measured, deterministic)

    def describe(self, record: dict) -> str:
        return "never: no violation in any seed"

    def show_measured(self, record: dict) -> str | None:
        if not record.get("per_seed"):
            return None
        total = sum(record["per_seed"].values())
        return f"{fmt_num(total, 0)} violations (n={len(record['per_seed'])})"


class FewerEvents(ClaimKind):
    """Events per arm, summed over seeds, compared by an exact binomial test."""

    name = "fewer_events"
    roles = ("method", "baseline")
    statistic = "events summed over seeds, exact binomial test"
    space = "count"
    measured_in_units = False

    def per_seed(self, claim, runs, expected, ev):
        method, base, seeds = _paired(claim, runs, expected, ev)
        ev.counts = {"method": {s: method[s] for s in seeds}, "baseline": {s: base[s] for s in seeds}}
        return {s: method[s] - base[s] for s in seeds}

    def judge(self, claim, ev, runs, expected, shown):
        from logitrepro.claims import power as P
        from logitrepro.claims.stats import ALPHA, count_test, events_needed

        m, b = ev.counts.get("method", {}), ev.counts.get("baseline", {})
        if not m:
            return Judged(INCONCLUSIVE, "no seed has both arms' counts", None, None)
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
        arms = claim.roles
        what = f"{test.method} events ({arms['method']}) against {test.baseline} ({arms['baseline']}) over {n} seeds"
        if test.p_fewer < ALPHA:
            return Judged(REPRODUCED, f"{what}: exact binomial test p = {test.p_fewer:.3g} < {ALPHA:g}", measured, pw)
        if test.p_more < ALPHA:
            why = f"{what}: the method has more events, exact binomial test p = {test.p_more:.3g}"
            return Judged(NOT_REPRODUCED, why, measured, pw)
        reason = (
            f"{what}: exact binomial test p = {test.p_fewer:.3g}, not below {ALPHA:g} (it takes at least "
            f"{events_needed()} events in the baseline and none in the method)"
        )
        if pw.get("seeds_needed"):
            reason += f"; at the observed rates {pw['seeds_needed']} seeds would decide it 80% of the time"
        return Judged(INCONCLUSIVE, reason, measured, pw)

    def describe(self, record: dict) -> str:
        return "fewer events than the baseline (exact binomial test, p < 0.05)"

    def show_measured(self, record: dict) -> str | None:
        m = record.get("measured")
        if not (m and "method_events" in m):
            return None
        arms = record["arms"]
        return f"{arms['method']} {m['method_events']} vs {arms['baseline']} {m['baseline_events']} events (n={m['n']})"


KINDS: dict[str, ClaimKind] = {
    k.name: k for k in (Absolute(), Difference(), Ratio(), Direction(), Bound(), CostToTarget(), Never(), FewerEvents())
}

BANDED = tuple(name for name, k in KINDS.items() if k.banded)


def kind(name: str) -> ClaimKind:
    if name not in KINDS:
        raise KeyError(f"unknown claim kind {name!r}; known: {sorted(KINDS)}")
    return KINDS[name]


def arms_of(claim: dict) -> list[str]:
    """The arms a claim reads, in role order."""
    return [claim[r] for r in kind(claim["kind"]).roles if r in claim]
