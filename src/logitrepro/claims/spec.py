"""Claims as the paper configs write them: templates, tolerance rules, accepted regions, checks.

The config loader calls `expand_claims` and `check_claims`; the engine calls `region_of`. After
loading, every claim carries its numeric `tolerance` (from its rule), a readable `tolerance_rule`,
and its accepted `region` [low, high] (None for unbounded).

Templates. A claim with `matrix: {name: [values...]}` stands for one claim per combination of
the values (as DVC's `matrix:` stages): `${name}` in any string is replaced by the value, and
`${name.key}` by a key of a mapping value; a field that is exactly `${name}` takes the value
itself (a list or a number). Lists inside a value list are joined ([*anchor_a, *anchor_b]).

Tolerance rules. A band around a claimed value always comes from one of these rules, so that
every band in every paper is set the same way and can be read beside the claim:
  seed_sd             k (default 2) x the run-to-run standard deviation that the paper's number
                      carries: the authors' own seed spread where they report one, else a
                      published spread for the setup (`sd`, with `sd_source`)
  reported_precision  half a unit in the last digit the paper reports (`digits` after the point):
                      for arithmetic and for "up to" headlines
  stated              the paper's own hedge ("about 4%"), as a number with the words it reads (`why`)
A one-sided claim ("up to 6x faster") sets `sided: at_least` or `at_most`: the band applies on the
side that could disprove it only. Regions that are not a band (`accept: [low, high]`) carry
`accept_why`.
"""

from __future__ import annotations

import copy
import itertools
import math
import re

from logitrepro.claims.kinds import KINDS, kind
from logitrepro.yaml_bounded import MAX_VALUES, expanded_size, value_children

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\}")


def _substitute(value, bindings: dict, where: str):
    if isinstance(value, dict):
        return {k: _substitute(v, bindings, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, bindings, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(m: re.Match):
        name, key = m.group(1), m.group(2)
        if name not in bindings:
            raise ValueError(f"{where}: ${{{name}}} is not a matrix name (matrix: {sorted(bindings)})")
        bound = bindings[name]
        if key is None:
            return bound
        if not isinstance(bound, dict) or key not in bound:
            raise ValueError(f"{where}: ${{{name}.{key}}}: the matrix value {bound!r} has no key {key!r}")
        return bound[key]

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:  # the field is the placeholder: keep the value's type (a list, a number), whose own
        # placeholders (a premise naming ${r.less}) are filled from the same combination
        found = lookup(whole)
        return found if isinstance(found, str) else _substitute(copy.deepcopy(found), bindings, where)
    return _PLACEHOLDER.sub(lambda m: str(lookup(m)), value)


def expand_claims(claims: list[dict]) -> list[dict]:
    """Every template expanded into its claims, in order; plain claims pass through."""
    out = []
    for i, claim in enumerate(claims):
        matrix = claim.get("matrix")
        if not matrix:
            out.append(claim)
            continue
        where = f"claims.{i} ({claim.get('id', '?')})"
        body = {k: v for k, v in claim.items() if k != "matrix"}
        names = list(matrix)
        # a list of lists (YAML anchors side by side: [*a, *b]) is one list
        values = [[v for item in matrix[n] for v in (item if isinstance(item, list) else [item])] for n in names]
        _check_template_size(body, matrix, values, where)
        for combo in itertools.product(*values):
            out.append(_substitute(copy.deepcopy(body), dict(zip(names, combo)), where))
    return out


def _check_template_size(body: dict, matrix: dict, values: list[list], where: str) -> None:
    """Refuse a template whose claims would hold more than MAX_VALUES values in all, before
    making them: every combination copies the body and may take in any of the matrix values."""
    combinations = math.prod(len(v) for v in values)
    each = expanded_size(body, value_children) + expanded_size(matrix, value_children)
    if combinations * each > MAX_VALUES:
        raise ValueError(
            f"{where}: its matrix makes {combinations:,} claims of up to {each:,} values each, more than "
            f"{MAX_VALUES:,} in all; split the template or list fewer values"
        )


def tolerance_from_rule(rule: dict) -> tuple[float, str]:
    """(half-width, the rule in words)."""
    name = rule["rule"]
    if name == "seed_sd":
        k, n = float(rule.get("k", 2)), int(rule.get("n", 1))
        over = f" over {n} runs" if n > 1 else ""
        return k * float(rule["sd"]), f"{k:g} x sd {rule['sd']:g}{over} ({rule['sd_source']})"
    if name == "reported_precision":
        digits = int(rule["digits"])
        return 0.5 * 10.0**-digits, f"half the last reported digit ({digits} decimals)"
    if name == "stated":
        return float(rule["value"]), f"stated: {rule['why']}"
    raise ValueError(f"unknown tolerance rule {name!r}")


def _bound(x):
    return None if x is None or (isinstance(x, float) and math.isinf(x)) else round(x, 12)


def region_of(claim: dict) -> tuple[float, float]:
    """The accepted region [low, high] of the claim's statistic (display units); its kind says how
    (logitrepro.claims.kinds.ClaimKind.region)."""
    tol = claim.get("tolerance")
    if isinstance(tol, dict):
        tol = tolerance_from_rule(tol)[0]
    return kind(claim["kind"]).region(claim.get("claimed"), tol, claim.get("sided", "two_sided"), claim.get("accept"))


def normalise(claim: dict) -> dict:
    """The loaded claim with its numeric tolerance, the rule in words, and its region."""
    out = dict(claim)
    out.setdefault("class", "paper")
    tol = claim.get("tolerance")
    if isinstance(tol, dict):
        out["tolerance_spec"] = tol  # the rule itself: seed_sd also gives the paper's number its uncertainty
        out["tolerance"], out["tolerance_rule"] = tolerance_from_rule(tol)
        out["tolerance"] = round(out["tolerance"], 12)
    if claim.get("accept") is not None:
        out["tolerance_rule"] = claim.get("accept_why", "")
    out["region"] = [_bound(v) for v in region_of(out)]
    return out


def _arm_exists(exp: dict, arm: str) -> bool:
    return arm in exp["arms"]


def _region_problems(claim: dict, k, has_band: bool, at: str) -> list[str]:
    """A region that cannot hold what it is for: one the kind's statistic cannot lie in (a ratio at
    or below 0), or the paper's own number outside it (the paper would be judged not reproducing
    itself)."""
    problems = k.space_problems(claim, at)
    accept = claim.get("accept")
    if problems or claim.get("claimed") is None or not (accept is not None or (k.banded and has_band)):
        return problems
    if accept is not None and None not in accept and accept[0] > accept[1]:
        return problems  # an inverted region is reported as such
    low, high = region_of(claim)
    if not low <= claim["claimed"] <= high:
        shown = [None if math.isinf(b) else b for b in (low, high)]
        problems.append(
            f"{at}.claimed: {claim['claimed']} lies outside the claim's own accepted region {shown}, so the paper's "
            f"number itself would not reproduce; correct claimed, or the region (accept, tolerance, sided)"
        )
    return problems


def check_claims(paper: dict, scales: tuple[str, ...]) -> list[str]:
    """Cross-references and rules JSON-Schema cannot express, one line per problem, each naming
    the claim by its id. `scales`: an experiment without `run_at` runs at all of them."""
    problems = []
    for claim in paper["claims"]:
        at = f"  claim {claim['id']}"
        k = KINDS[claim["kind"]]
        exp = paper["experiments"].get(claim["experiment"])
        if exp is None:
            problems.append(f"{at}.experiment: no experiment {claim['experiment']!r}")
            continue
        for key in k.roles + k.extra:
            if key not in claim:
                problems.append(f"{at}: a {k.name} claim needs '{key}'")
            elif key in k.roles and not _arm_exists(exp, claim[key]):
                problems.append(f"{at}.{key}: no arm {claim[key]!r} in experiment {claim['experiment']!r}")
        stray = [r for r in ("arm", "method", "baseline") if r in claim and r not in k.roles]
        if stray:
            problems.append(f"{at}: a {k.name} claim names {stray}, which it does not use (it reads {list(k.roles)})")
        if k.needs_better and claim.get("better") not in ("higher", "lower"):
            problems.append(
                f"{at}.better: a {k.name} claim compares two states and must say which way is better "
                f"(better: higher or better: lower); there is no default"
            )
        has_band = claim.get("claimed") is not None and "tolerance" in claim
        if k.banded and claim.get("accept") is None and not has_band:
            problems.append(f"{at}: a {k.name} claim needs claimed with a tolerance rule, or an accept region")
        if "tolerance" in claim and not k.banded:
            problems.append(f"{at}.tolerance: a {k.name} claim has no band (use accept for a margin)")
        if "tolerance" in claim and claim.get("claimed") is None:
            problems.append(f"{at}.tolerance: a band needs the claimed value it is around")
        if claim.get("accept") is not None:
            low, high = claim["accept"]
            if low is not None and high is not None and low > high:
                problems.append(f"{at}.accept: low ({low}) is above high ({high})")
            if not claim.get("accept_why"):
                problems.append(f"{at}.accept_why: say which rule or words of the paper give the region")
        problems += k.config_problems(claim, at)  # its own keys: cost, baseline_factor
        for j, premise in enumerate(claim.get("premises", [])):
            for key in ("arm", "ratio_to"):
                if key in premise and not _arm_exists(exp, premise[key]):
                    problems.append(
                        f"{at}.premises.{j}.{key}: no arm {premise[key]!r} in experiment {claim['experiment']!r}"
                    )
        problems += _region_problems(claim, k, has_band, at)
        if "method" in k.roles and claim.get("method") is not None and claim.get("method") == claim.get("baseline"):
            if claim.get("baseline_metric", claim["metric"]) == claim["metric"]:
                problems.append(
                    f"{at}.baseline: the method and the baseline are both arm {claim['method']!r}, so the claim "
                    f"compares a metric with itself; name another arm as baseline, or set baseline_metric to "
                    f"compare two metrics of that arm"
                )
        if not claim["judged_at"]:
            problems.append(
                f"{at}.judged_at: empty, so no scale ever judges the claim; list the scales whose budget can "
                f"judge it (e.g. [paper])"
            )
        not_run = sorted(set(claim["judged_at"]) - set(exp.get("run_at", scales)))
        if not_run:
            problems.append(
                f"{at}.judged_at: experiment {claim['experiment']!r} does not run at {not_run} (its run_at)"
            )
        if claim.get("budgets", [1]) != [1] and 1 not in claim["budgets"]:
            problems.append(f"{at}.budgets: must include 1 (the scale's own budget)")
    ids = [c["id"] for c in paper["claims"]]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"  claims: id {dup!r} appears more than once")
    return problems
