"""The claim kinds as classes: each computes its own statistic, the schema offers exactly the kinds
there are, and a Claim is a frozen value the engine can rename for another budget."""

from __future__ import annotations

import dataclasses
import math

import pytest
import yaml

from logitrepro.claims.claim import Claim
from logitrepro.claims.engine import at_budget, evidence
from logitrepro.claims.kinds import CLASSES, KINDS
from logitrepro.claims.spec import check_claims
from tests.support import PROJECT, claim


def schema_claim() -> dict:
    schema = yaml.safe_load((PROJECT / "workflow" / "schemas" / "paper.schema.yaml").read_text())
    return schema["$defs"]["claim"]["properties"]


def test_the_paper_schema_offers_exactly_the_kinds_and_classes_the_engine_knows():
    """A kind added as a class but not to the schema could never be written; one in the schema
    but without a class would fail only when judged."""
    props = schema_claim()
    assert set(props["kind"]["enum"]) == set(KINDS)
    assert set(props["class"]["enum"]) == set(CLASSES)


def curve(steps, values):
    return {"status": "completed", "curve": {"step": list(steps), "loss": list(values)}}


# Per kind: a claim, runs on seeds 1 and 2, and the statistic each seed must give.
CASES = {
    "absolute": (claim("a", "absolute", arm="x"), {"x": {1: {"acc": 0.5}, 2: {"acc": 0.7}}}, {1: 0.5, 2: 0.7}),
    "difference": (
        claim("d", "difference", method="m", baseline="b", better="higher"),
        {"m": {1: {"acc": 3.0}, 2: {"acc": 5.0}}, "b": {1: {"acc": 1.0}, 2: {"acc": 2.0}}},
        {1: 2.0, 2: 3.0},
    ),
    "ratio": (
        claim("r", "ratio", method="m", baseline="b", better="higher"),
        {"m": {1: {"acc": 3.0}, 2: {"acc": 5.0}}, "b": {1: {"acc": 1.0}, 2: {"acc": 2.0}}},
        {1: 3.0, 2: 2.5},
    ),
    # lower is better, and the method must beat half the baseline: the margin is -(m - b / 2)
    "direction": (
        claim("dir", "direction", method="m", baseline="b", better="lower", baseline_factor=0.5),
        {"m": {1: {"acc": 3.0}, 2: {"acc": 5.0}}, "b": {1: {"acc": 4.0}, 2: {"acc": 6.0}}},
        {1: -1.0, 2: -2.0},
    ),
    "bound": (
        claim("bd", "bound", arm="x", bound_metric="floor"),
        {"x": {1: {"acc": 3.0, "floor": 1.0}, 2: {"acc": 5.0, "floor": 1.5}}},
        {1: 2.0, 2: 3.5},
    ),
    # the baseline ends at loss 3 after 20 steps; the method gets there at step 10, then at step 20
    "cost_to_target": (
        claim("c", "cost_to_target", method="m", baseline="b", better="lower", metric="loss", cost="step"),
        {
            "m": {1: curve([10, 20], [3.0, 2.0]), 2: curve([10, 20], [4.0, 3.0])},
            "b": {1: curve([10, 20], [5.0, 3.0]), 2: curve([10, 20], [5.0, 3.0])},
        },
        {1: 0.5, 2: 1.0},
    ),
    "never": (claim("n", "never", arm="x"), {"x": {1: {"acc": 0.0}, 2: {"acc": 2.0}}}, {1: 0.0, 2: 2.0}),
    "fewer_events": (
        claim("f", "fewer_events", method="m", baseline="b"),
        {"m": {1: {"acc": 1.0}, 2: {"acc": 2.0}}, "b": {1: {"acc": 3.0}, 2: {"acc": 5.0}}},
        {1: -2.0, 2: -3.0},
    ),
}


def test_every_kind_has_a_case():
    assert set(CASES) == set(KINDS)


@pytest.mark.parametrize("name", list(CASES))
def test_each_kind_computes_its_own_statistic_seed_by_seed(name):
    config, runs, want = CASES[name]
    ev = evidence(Claim.from_config(config), runs, [1, 2])
    assert ev.values == pytest.approx(want) and not ev.left_out
    if name == "fewer_events":  # the exact test sums each arm's events
        assert ev.counts == {"method": {1: 1.0, 2: 2.0}, "baseline": {1: 3.0, 2: 5.0}}


def test_a_seed_without_a_run_is_named_and_left_out_whatever_the_kind():
    for name, (config, runs, _) in CASES.items():
        arm = next(iter(runs))
        partial = {**runs, arm: {1: runs[arm][1]}}
        ev = evidence(Claim.from_config(config), partial, [1, 2])
        assert set(ev.values) == {1} and ev.left_out == {2: f"{arm}: no run"}, name


def test_a_claim_is_frozen_and_another_budget_renames_its_arms_and_premises_only():
    premise = {"arm": "b", "metric": "acc", "ratio_to": "m", "ci_above": 1.0}
    c = Claim.from_config(claim("d", "difference", method="m", baseline="b", better="higher", premises=[premise]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.metric = "loss"
    doubled = at_budget(c, 2)
    assert dict(doubled.roles) == {"method": "m_x2", "baseline": "b_x2"}
    (renamed,) = doubled.premises
    assert (renamed.arm, renamed.ratio_to, renamed.ci_above) == ("b_x2", "m_x2", 1.0)
    assert dict(renamed.record) == {**premise, "arm": "b_x2", "ratio_to": "m_x2"}  # what the record echoes
    assert dict(c.roles) == {"method": "m", "baseline": "b"} and dict(c.premises[0].record) == premise
    assert dataclasses.replace(doubled, roles=c.roles, premises=c.premises) == c


def test_a_ratio_region_is_clipped_at_zero_and_a_difference_region_is_not():
    ratio = Claim.from_config(
        claim("r", "ratio", method="m", baseline="b", better="higher", claimed=0.5, tolerance=1.0)
    )
    diff = Claim.from_config(
        claim("d", "difference", method="m", baseline="b", better="higher", claimed=0.5, tolerance=1.0)
    )
    assert ratio.region == (0.0, 1.5) and diff.region == (-0.5, 1.5)
    assert Claim.from_config(claim("n", "never", arm="x")).region == (-math.inf, math.inf)


def test_only_a_direction_claim_may_scale_its_baseline():
    paper = {"experiments": {"e": {"arms": {"m": {}, "b": {}}}}, "claims": []}
    for name in ("direction", "difference"):
        c = claim("p.c", name, method="m", baseline="b", better="higher", baseline_factor=0.5)
        c |= {"accept": [0, None], "accept_why": "test"} if name == "difference" else {}
        problems = check_claims({**paper, "claims": [c]}, ("cpu",))
        scaled = [p for p in problems if "baseline_factor" in p]
        assert scaled == (
            [] if name == "direction" else ["  claim p.c.baseline_factor: only a direction claim scales its baseline"]
        )


def test_each_kind_names_the_metrics_its_arms_must_report():
    """The config loader refuses a claim that reads a metric its task never reports; the kind says
    which metrics those are."""

    def reads(config: dict, role: str) -> set[str]:
        c = Claim.from_config(config)
        return c.kind.metrics_read(c, role)

    assert reads(claim("b", "bound", arm="x", bound_metric="floor"), "arm") == {"acc", "floor"}
    assert reads(claim("n", "never", arm="x", checks_metric="checks"), "arm") == {"acc", "checks"}
    assert reads(claim("n", "never", arm="x"), "arm") == {"acc"}
    two_heads = {"method": "m", "baseline": "b", "better": "lower", "baseline_metric": "acc_b"}
    assert reads(claim("d", "difference", **two_heads), "baseline") == {"acc_b"}
    assert reads(claim("d", "difference", **two_heads), "method") == {"acc"}
    # a cost-to-target claim reads both arms' validation curves of the one metric
    assert reads(claim("c", "cost_to_target", cost="step", **two_heads), "baseline") == {"acc"}
