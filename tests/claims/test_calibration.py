"""Calibration: every claim of the real configs, loaded through the config loader, judged on
runs planted to pass, to fail and to straddle its accepted region. A claim that cannot produce
each verdict (a claim that cannot fail is a sanity check, not a reproduction) fails here by id."""

from __future__ import annotations

import functools

import pytest

from logitrepro.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, judge_claim
from logitrepro.config import load_config
from tests.claims.planting import FAIL, PASS, STRADDLE, plant
from tests.support import PROJECT

EXPECTED = {PASS: REPRODUCED, FAIL: NOT_REPRODUCED, STRADDLE: INCONCLUSIVE}


@functools.cache
def config_at(scale: str):
    return load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": scale}, root=PROJECT)


def every_claim():
    cfg = config_at("cpu")
    return [(paper, c["id"]) for paper, pc in cfg.papers.items() for c in pc["claims"]]


@pytest.mark.parametrize("target", [PASS, FAIL, STRADDLE])
@pytest.mark.parametrize("paper, claim_id", every_claim(), ids=lambda x: str(x))
def test_every_real_claim_can_pass_fail_and_straddle(paper, claim_id, target):
    claim = next(c for c in config_at("cpu").paper(paper)["claims"] if c["id"] == claim_id)
    scale = next((s for s in claim["judged_at"] if s != "smoke"), claim["judged_at"][0])  # judges it with seeds
    cfg = config_at(scale)
    claim = next(c for c in cfg.paper(paper)["claims"] if c["id"] == claim_id)
    context = cfg.judge_context(paper)[claim["experiment"]]
    runs = plant(claim, target, context["seeds"])
    record = judge_claim(claim, runs, scale, cfg.paper(paper)["paper"], context)
    assert record["verdict"] == EXPECTED[target], f"{claim_id} planted to {target}: {record['reason']}"
    if record["verdict"] == INCONCLUSIVE:
        assert record["reason"], claim_id  # an inconclusive verdict always says why


def test_the_suite_covers_every_paper_and_kind():
    cfg = config_at("cpu")
    kinds = {c["kind"] for pc in cfg.papers.values() for c in pc["claims"]}
    assert set(cfg.papers) == {p.stem for p in (PROJECT / "configs" / "papers").glob("*.yaml")}
    assert kinds == {"absolute", "difference", "ratio", "direction", "bound", "cost_to_target", "never", "fewer_events"}
