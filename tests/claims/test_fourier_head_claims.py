"""The Fourier-head toy claims as the real config states them (loaded through the config loader),
judged on runs planted to pass and to fail, on runs whose heads did not fit their training data
(the premise), and at the budgets they are judged at: the authors' 500 epochs, and 20 epochs as
the robustness row."""

from __future__ import annotations

import functools

import pytest

from logitrepro.claims import INCONCLUSIVE, NOT_CHECKED, NOT_REPRODUCED, REPRODUCED, judge_claim
from logitrepro.config import load_config
from tests.claims.planting import FAIL, PASS, plant
from tests.support import PROJECT

DENSITIES = ("gaussian", "gmm2", "beta")
SEEDS = [1, 2, 3, 42]


@functools.cache
def config_at(scale: str):
    return load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": scale}, root=PROJECT)


def real(claim_id: str, scale: str = "cpu"):
    cfg = config_at(scale)
    claim = next(c for c in cfg.paper("fourier_head")["claims"] if c["id"] == claim_id)
    return claim, cfg.judge_context("fourier_head")[claim["experiment"]], cfg.paper("fourier_head")["paper"]


def judge(claim_id: str, runs: dict, scale: str = "cpu") -> dict:
    claim, ctx, meta = real(claim_id, scale)
    return judge_claim(claim, runs, scale, meta, ctx)


def toy_claims() -> list[str]:
    ids = [f"fh.toy.{d}" for d in DENSITIES] + [f"fh.toy.{d}.smooth" for d in DENSITIES]
    return ids + [f"fh.toy.{d}.kl-{h}" for d in DENSITIES for h in ("linear", "fourier")]


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_both_scales_train_the_toy_at_the_authors_500_epochs(scale):
    ctx = config_at(scale).judge_context("fourier_head")["gaussian"]
    assert ctx["budget_steps"] == ctx["authors_budget"] == 500 * 125
    assert ctx["seeds"] == SEEDS


@pytest.mark.parametrize("claim_id", toy_claims())
@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_every_toy_claim_passes_and_fails_on_planted_runs_at_the_authors_budget(claim_id, scale):
    claim, ctx, _ = real(claim_id, scale)
    for target, verdict in ((PASS, REPRODUCED), (FAIL, NOT_REPRODUCED)):
        rec = judge(claim_id, plant(claim, target, SEEDS), scale)
        assert rec["verdict"] == verdict, (target, rec["reason"])
        assert rec["budget"]["multiple"] == 1 and rec["budget"]["authors"] == 1


@pytest.mark.parametrize("claim_id", toy_claims())
def test_a_head_that_did_not_fit_its_training_data_makes_the_claim_inconclusive(claim_id):
    claim, _, _ = real(claim_id)
    for metric in ("train_ce_gap_fourier_n12_g0", "train_ce_gap_linear"):
        runs = plant(claim, PASS, SEEDS)
        for i, seed in enumerate(SEEDS):  # the 20-epoch Fourier head on gaussian: 0.29 to 0.41 nats above
            runs["headline"][seed][metric] = 0.29 + 0.04 * i
        rec = judge(claim_id, runs)
        assert rec["verdict"] == INCONCLUSIVE and rec["reason"].startswith("premise not met"), rec["reason"]
        assert metric.removeprefix("train_ce_gap_").replace("fourier_n12_g0", "Fourier head (N=12)") in rec["reason"]


def test_the_authors_own_fit_meets_the_premise():
    """The authors' logged final-epoch losses minus the data's conditional entropy (gmm2, the loosest:
    saved_pmfs/gmm2.csv, linear head 2.9646, 2.8784, 2.9948, 3.0164; entropy of their true pmfs
    about 2.846): their runs must be admitted."""
    runs = plant(real("fh.toy.gmm2")[0], PASS, SEEDS)
    for seed, loss in zip(SEEDS, (2.9646, 2.8784, 2.9948, 3.0164)):
        runs["headline"][seed]["train_ce_gap_linear"] = loss - 2.846
    assert judge("fh.toy.gmm2", runs)["verdict"] == REPRODUCED


def kl_runs(arm: str, linear: list[float], fourier: list[float], gap: float = 0.1) -> dict:
    return {
        arm: {
            s: {
                "status": "completed",
                "test_kl_linear": lin,
                "test_kl_fourier_n12_g0": four,
                "train_ce_gap_linear": gap,
                "train_ce_gap_fourier_n12_g0": gap,
            }
            for s, lin, four in zip(SEEDS, linear, fourier)
        }
    }


def test_the_primary_verdict_is_at_500_epochs_and_20_epochs_is_the_robustness_row():
    # measured here on gaussian: Fourier behind at 20 epochs (its head not fitted), ahead at 500
    runs = kl_runs("headline_x0p04", [0.178, 0.180, 0.143, 0.126], [0.317, 0.320, 0.260, 0.448], gap=0.35)
    runs |= kl_runs("headline", [0.131, 0.101, 0.125, 0.172], [0.097, 0.079, 0.069, 0.085])
    rec = judge("fh.toy.gaussian", runs)
    assert rec["verdict"] == REPRODUCED and rec["budget"]["authors"] == 1
    rows = {r["budget"]["authors"]: r for r in rec["robustness"]}
    assert set(rows) == {0.04, 1}
    assert rows[0.04]["verdict"] == INCONCLUSIVE and "premise not met" in rows[0.04]["reason"]
    # the same 20-epoch numbers with fitted heads would have been a "not reproduced"
    fitted = kl_runs("headline_x0p04", [0.178, 0.180, 0.143, 0.126], [0.317, 0.320, 0.260, 0.448])
    rec = judge("fh.toy.gaussian", {**runs, **fitted})
    rows = {r["budget"]["authors"]: r for r in rec["robustness"]}
    assert rows[0.04]["verdict"] == NOT_REPRODUCED and rec["verdict"] == REPRODUCED


def test_an_absolute_kl_is_judged_at_500_epochs_only():
    # near the authors' 0.116: one interval for ours - theirs with their standard error (0.043 / 2)
    runs = kl_runs("headline", [0.131, 0.101, 0.125, 0.172], [0.112, 0.121, 0.114, 0.118])
    rec = judge("fh.toy.gaussian.kl-fourier", runs)
    assert rec["verdict"] == REPRODUCED and rec["robustness"] == []
    # a scale that does not reach the authors' budget does not judge the number
    smoke_claim = real("fh.toy.gaussian.kl-fourier", "paper")[0]
    smoke_ctx = config_at("smoke").judge_context("fourier_head")["gaussian"]
    rec = judge_claim({**smoke_claim, "judged_at": ["smoke"]}, runs, "smoke", None, smoke_ctx)
    assert rec["verdict"] == NOT_CHECKED and "62500 steps" in rec["reason"]


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("trend", ["kl", "smooth"])
def test_the_frequency_trends_are_judged_where_the_sweep_is_trained(density, trend):
    claim_id = f"fh.freqs.{density}.{trend}"
    claim, _, _ = real(claim_id, "paper")
    assert claim["arm"] == "headline" and claim["judged_at"] == ["paper"]
    assert judge(claim_id, plant(claim, PASS, SEEDS), "paper")["verdict"] == REPRODUCED
    assert judge(claim_id, plant(claim, FAIL, SEEDS), "paper")["verdict"] == NOT_REPRODUCED
    rec = judge(claim_id, plant(claim, PASS, SEEDS), "cpu")
    assert rec["verdict"] == NOT_CHECKED and "paper" in rec["check_with"]
    sweep = config_at("paper").job_spec("fourier_head", density, "headline", 1)["hparams"]
    assert sweep["freqs"] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20] and sweep["gammas"] == [0.0, 1.0e-6]
    # cpu: the two compared heads only, at the authors' 500 epochs
    cpu = config_at("cpu").job_spec("fourier_head", density, "headline", 1)["hparams"]
    assert cpu["freqs"] == [12] and cpu["gammas"] == [0.0] and cpu["steps"] == 62500


@pytest.mark.parametrize("claim_id", ["fh.noise.kl", "fh.noise.ripple"])
def test_the_noise_claims_are_judged_on_the_rippled_toy_at_smoke_and_paper_with_the_fit_premise(claim_id):
    claim, _, _ = real(claim_id, "paper")
    assert claim["experiment"] == "gaussian_ripple" and claim["class"] == "extension"
    # the default cpu run leaves this extension of ours to the papers' own claims, and says where it runs
    assert claim["judged_at"] == ["smoke", "paper"] and "scale=paper" in claim["check_with"]
    assert "gaussian_ripple" not in config_at("cpu").experiments("fourier_head")
    for scale in ("smoke", "paper"):
        spec = config_at(scale).job_spec("fourier_head", "gaussian_ripple", "headline", 1)
        # the ripple lies above every Fourier member's N at every scale, or the claim is moot
        assert spec["hparams"]["ripple_amp"] > 0 and max(spec["hparams"]["freqs"]) < spec["hparams"]["ripple_freq"]
    runs = plant(claim, PASS, SEEDS)
    for seed in SEEDS:
        runs["headline"][seed]["train_ce_gap_linear"] = 0.35  # an undertrained linear head
    rec = judge(claim_id, runs, "paper")
    assert rec["verdict"] == INCONCLUSIVE and rec["reason"].startswith("premise not met"), rec["reason"]


@pytest.mark.parametrize("claim_id", ["fh.atari", "fh.atari.gain"])
def test_the_atari_head_effect_waits_on_a_linear_agent_trained_as_the_authors(claim_id):
    claim, ctx, _ = real(claim_id, "paper")
    runs = plant(claim, PASS, ctx["seeds"])
    assert judge(claim_id, runs, "paper")["verdict"] == REPRODUCED
    # an undertrained baseline (normalised return near 0.5): any head looks better against it
    for seed in ctx["seeds"]:
        scale = 0.5 / runs["linear"][seed]["best_return_normalised"]
        runs["linear"][seed]["best_return_normalised"] *= scale
        runs["fourier"][seed]["best_return_normalised"] *= scale
    rec = judge(claim_id, runs, "paper")
    assert rec["verdict"] == INCONCLUSIVE and "linear-head agent is trained as the authors'" in rec["reason"], rec
