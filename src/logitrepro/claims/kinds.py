"""The claim kinds: the one table that says what each kind compares and how it is judged.

The config loader (which checks claims), the engine (which judges them) and the tables (which
describe them) all read this table; nothing else spells a kind's properties.

space says which statistics fit the kind:
  linear     per-seed values, mean and a 95% t-interval
  log        per-seed ratios, the mean of their logs and its t-interval transformed back
             (a geometric mean; a ratio of 2 and one of 1/2 cancel, as they should)
  universal  "never": any violation in any seed disproves the claim; no interval
  count      events per arm, summed over seeds, compared by an exact binomial test
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLASSES = ("paper", "proxy", "sanity", "extension")
CLASS_TITLES = {
    "paper": "Paper claims",
    "proxy": "Proxies (this machine's measurement standing in for the paper's setting; not counted)",
    "sanity": "Sanity checks (hold by construction; not counted)",
    "extension": "Extensions (our own variants and questions; not counted)",
}


@dataclass(frozen=True)
class Kind:
    name: str
    roles: tuple[str, ...]  # the arm keys a claim of this kind names
    statistic: str  # what one seed contributes, in words (tables, docs)
    space: str  # linear | log | universal | count
    needs_better: bool  # compares two states: the claim must say which way is better
    banded: bool  # may carry claimed +- tolerance (or a one-sided `sided` region)
    default_region: tuple[float, float] | None = None  # the region when neither claimed nor accept is given
    no_effect: float | None = None  # the statistic when method and baseline do not differ
    extra: tuple[str, ...] = ()  # further keys a claim of this kind needs


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("absolute", ("arm",), "the metric", "linear", False, True),
        Kind(
            "difference",
            ("method", "baseline"),
            "method - baseline, paired by seed",
            "linear",
            True,
            True,
            no_effect=0.0,
        ),
        Kind("ratio", ("method", "baseline"), "method / baseline, paired by seed", "log", True, True, no_effect=1.0),
        Kind(
            "direction",
            ("method", "baseline"),
            "the method's margin over the baseline, in the better direction",
            "linear",
            True,
            False,
            default_region=(0.0, math.inf),
            no_effect=0.0,
        ),
        Kind(
            "bound",
            ("arm",),
            "metric - bound_metric",
            "linear",
            False,
            False,
            default_region=(0.0, math.inf),
            no_effect=0.0,
            extra=("bound_metric",),
        ),
        Kind(
            "cost_to_target",
            ("method", "baseline"),
            "the method's cost to reach the baseline's final value / the baseline's own cost",
            "log",
            True,
            True,
            no_effect=1.0,
            extra=("cost",),
        ),
        Kind("never", ("arm",), "violations (any in any seed disproves the claim)", "universal", False, False),
        Kind(
            "fewer_events",
            ("method", "baseline"),
            "events summed over seeds, exact binomial test",
            "count",
            False,
            False,
        ),
    )
}

BANDED = tuple(name for name, k in KINDS.items() if k.banded)
# cost_to_target keys that measure optimisation progress; a time is a separate, labelled claim
PROGRESS_COSTS = ("step", "tokens", "expert_queries", "val_expert_queries")


def kind(name: str) -> Kind:
    if name not in KINDS:
        raise KeyError(f"unknown claim kind {name!r}; known: {sorted(KINDS)}")
    return KINDS[name]


def arms_of(claim: dict) -> list[str]:
    """The arms a claim reads, in role order."""
    return [claim[r] for r in kind(claim["kind"]).roles if r in claim]
