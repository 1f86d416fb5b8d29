"""A claim as the engine reads it: a frozen `Claim` built once from the loaded config's dict (as the
tasks build their typed hyper-parameters), with its kind as an object and its accepted region
resolved. The engine reads fields, never keys; the judged records stay dicts (they are files).

The loaded config keeps the dicts (it is serialised and digested); `claims_of` builds the Claims
of a paper config.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from logitrepro.claims.kinds import ClaimKind, kind
from logitrepro.claims.spec import region_of


@dataclass(frozen=True)
class Premise:
    """What must hold of an arm for the claim to be testable at all: one of the four tests on its
    metric (or on its ratio to another arm's, `ratio_to`)."""

    arm: str
    metric: str
    ratio_to: str | None = None
    ci_above: float | None = None
    ci_below: float | None = None
    total_at_least: float | None = None
    each_above: float | None = None
    why: str | None = None
    record: Mapping = field(default_factory=dict, compare=False, repr=False)  # as the config writes it

    @classmethod
    def from_config(cls, d: dict) -> Premise:
        names = {f.name for f in dataclasses.fields(cls)} - {"record"}
        return cls(**{k: v for k, v in d.items() if k in names}, record=types.MappingProxyType(dict(d)))

    def at_budget(self, rename) -> Premise:
        """The premise on the arms `rename` gives (another training budget's runs)."""
        arms = {"arm": rename(self.arm)} | ({"ratio_to": rename(self.ratio_to)} if self.ratio_to else {})
        return dataclasses.replace(self, **arms, record=types.MappingProxyType({**self.record, **arms}))

    def arms(self) -> list[str]:
        return [a for a in (self.arm, self.ratio_to) if a]


# fields from_config builds itself rather than copying them from the dict as they are
_BUILT = {"id", "kind", "statement", "source", "experiment", "metric", "judged_at", "roles", "region", "accept"}
_BUILT |= {"premises", "budgets"}


@dataclass(frozen=True)
class Claim:
    """One claim of a paper config (workflow/schemas/paper.schema.yaml says what each key means)."""

    id: str
    kind: ClaimKind
    statement: str
    source: str
    experiment: str
    metric: str
    judged_at: tuple[str, ...]
    roles: Mapping[str, str]  # role (arm, method, baseline) -> arm, in the kind's role order
    region: tuple[float, float]  # accepted [low, high] of the statistic, display units; inf: unbounded
    class_: str = "paper"  # `class` in the config: paper, proxy, sanity, extension
    baseline_metric: str | None = None
    better: str | None = None  # higher | lower
    claimed: float | None = None  # as the config writes it (an int stays an int in the records)
    tolerance: Any = None  # the band's half-width (the loader resolves its rule)
    tolerance_rule: str | None = None  # the rule in words
    tolerance_spec: dict | None = None  # the rule itself
    sided: str = "two_sided"
    accept: tuple | None = None
    accept_why: str | None = None
    units: str = ""
    premises: tuple[Premise, ...] = ()
    budgets: tuple[float, ...] = (1,)
    diverged: str = "exclude"  # exclude | outcome
    negligible: dict | None = None  # {value, why}
    paper_effect: float | None = None
    no_effect: float | None = None
    baseline_factor: float | None = None
    bound_metric: str | None = None
    cost: str | None = None
    cost_why: str | None = None
    checks_metric: str | None = None
    check_with: str | None = None

    @classmethod
    def from_config(cls, d: dict) -> Claim:
        """The claim of a loaded (normalised) config dict; a claim dict written by hand works too,
        with the config's defaults."""
        k = kind(d["kind"])
        optional = {
            f.name: d[f.name]
            for f in dataclasses.fields(cls)
            if f.name not in _BUILT and f.name in d and d[f.name] is not None
        }
        accept = d.get("accept")
        return cls(
            id=d["id"],
            kind=k,
            statement=d["statement"],
            source=d["source"],
            experiment=d["experiment"],
            metric=d["metric"],
            judged_at=tuple(d["judged_at"]),
            roles=types.MappingProxyType({r: d[r] for r in k.roles if r in d}),
            region=region_of(d),
            **{
                **optional,
                "class_": d.get("class", "paper"),
                "accept": None if accept is None else tuple(accept),
                "premises": tuple(Premise.from_config(p) for p in d.get("premises") or ()),
                "budgets": tuple(d.get("budgets") or (1,)),
            },
        )

    def metric_of(self, role: str) -> str:
        """The metric a role's arm is read on: the baseline's own where it differs."""
        return (self.baseline_metric or self.metric) if role == "baseline" else self.metric

    def arms(self) -> list[str]:
        """The arms its roles name, in role order."""
        return list(self.roles.values())


def as_claim(claim: Claim | dict) -> Claim:
    """A Claim, from a Claim or a claim dict."""
    return claim if isinstance(claim, Claim) else Claim.from_config(claim)


def claims_of(paper_cfg: dict) -> tuple[Claim, ...]:
    """The Claims of a paper config, in its order."""
    return tuple(Claim.from_config(d) for d in paper_cfg["claims"])
