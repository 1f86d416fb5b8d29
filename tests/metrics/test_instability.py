"""Loss spikes against the other arms on the same batch (logitrepro.metrics.instability)."""

import numpy as np
import pytest

from logitrepro.metrics.instability import add_spike_episodes, episodes, rise_over_running_average


def run(arm, seed, losses, status="completed"):
    return {
        "spec": {"experiment": "lm", "arm": arm, "seed": seed},
        "metrics": {"status": status, "loss_trace": {"losses": losses, "spike_nats": 0.5, "spike_burnin": 2}},
    }


def test_the_rise_is_measured_against_the_running_average_of_the_steps_before():
    # by hand: ema after 2.0 is 2.0; after 3.0: 0.9 * 2 + 0.1 * 3 = 2.1
    assert rise_over_running_average(np.array([2.0, 3.0, 2.1])) == pytest.approx([0.0, 1.0, 0.0])


def test_consecutive_spike_steps_are_one_episode():
    assert episodes(np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1], bool)) == 3
    assert episodes(np.array([1, 1, 0], bool)) == 1 and episodes(np.array([], bool)) == 0


def test_a_hard_batch_that_lifts_every_arm_is_no_spike_and_an_arm_of_its_own_is():
    flat = [3.0] * 12
    hard = list(flat)
    hard[6] = 4.0  # step 7: every arm's loss jumps by a nat on the same batch
    own = list(hard)
    own[9], own[10] = 4.5, 4.4  # steps 10-11: this arm alone, two steps: one episode
    evals = [run("mha", 0, own), run("ls", 0, hard), run("qk_norm", 0, hard), run("mha", 1, own, status="diverged")]
    evals.append({"spec": {"experiment": "lm", "arm": "mha", "seed": 2}, "metrics": {"status": "completed"}})
    add_spike_episodes(evals)
    mha, ls, _, alone, untraced = (e["metrics"] for e in evals)
    assert ls["spike_episodes"] == 0 and mha["spike_episodes"] == 1 and mha["instability_episodes"] == 1
    # seed 1 has no other arm to compare with: its own rises count, and its divergence is one more event
    assert alone["spike_episodes"] == 2 and alone["instability_episodes"] == 3
    assert "spike_episodes" not in untraced  # a run without a trace is left as it is


def test_the_judge_counts_instability_against_the_other_arms_before_judging_the_claim():
    """ls.instability from the real config, judged from loss traces alone: MHA spikes on batches of
    its own (two episodes a seed, 6 in all), LS and the stabilisers only on one hard batch all share."""
    from logitrepro.claims import REPRODUCED
    from logitrepro.config import load_config
    from logitrepro.judging import build_claims_file
    from tests.support import PROJECT

    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    pc = cfg.paper("ls_attention")
    pc = {**pc, "claims": [c for c in pc["claims"] if c["id"] == "ls.instability"]}
    hard = [3.0] * 60
    hard[30] = 4.5  # one batch lifts every arm
    mha = list(hard)
    for t in (40, 41, 50):  # two episodes of MHA's own
        mha[t] = 4.5
    evals = []
    for seed in (0, 1, 2):
        for arm, losses in (("mha", mha), ("ls", hard), ("qk_norm", hard), ("softcap", hard)):
            trace = {"losses": losses, "spike_nats": 0.5, "spike_burnin": 20}
            evals.append(
                {
                    "spec": {"experiment": "lm", "arm": arm, "seed": seed},
                    "metrics": {"status": "completed", "loss_trace": trace},
                }
            )
    (rec,) = build_claims_file(pc, "cpu", evals, cfg.judge_context("ls_attention"))["claims"]
    assert rec["measured"]["method_events"] == 0 and rec["measured"]["baseline_events"] == 6
    assert rec["verdict"] == REPRODUCED
