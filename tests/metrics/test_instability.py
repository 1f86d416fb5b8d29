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
