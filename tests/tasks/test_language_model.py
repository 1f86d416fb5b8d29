import math

import numpy as np
import pytest
import torch

from logitrepro.tasks.language_model import cross_entropy_bound, frequency_code_map


def test_frequency_map_gives_frequent_tokens_their_own_code_and_uses_every_code():
    rng = np.random.default_rng(0)
    ids = rng.zipf(1.3, 50_000) % 500  # heavy-tailed unigram
    m = frequency_code_map(ids, 500, 32)
    assert m.shape == (500,) and set(m.tolist()) == set(range(32))
    counts = np.bincount(ids, minlength=500)
    top = np.argsort(-counts, kind="stable")[:16]
    sizes = torch.bincount(m, minlength=32)
    assert all(sizes[m[t]] == 1 for t in top)  # singletons for the 16 most frequent tokens


def test_cross_entropy_bound_is_mean_log_cluster_size():
    m = torch.tensor([0, 0, 1, 1, 1, 2])  # code sizes 2, 3, 1
    y = np.array([0, 2, 5, 5])
    assert cross_entropy_bound(m, y) == (math.log(2) + math.log(3) + 0 + 0) / 4


def test_the_logit_trajectory_is_summarised_by_its_explosion_not_a_straight_line():
    """A rise and a recovery: a straight line through the run says 10 per 100 steps; the explosion
    from the first logged value (1) to the peak (16 at step 30) is ln 16, the rise 75 per 100 steps."""
    from logitrepro.tasks.language_model import Task as LMTask

    rows = [{"step": s, "max_logit": v} for s, v in zip((10, 20, 30, 40, 50), (1.0, 4.0, 16.0, 8.0, 4.0))]
    out = LMTask.summarise_history(None, rows + [{"step": 45, "val_ppl": 3.0}])
    assert out["max_logit_early"] == 1.0 and out["max_logit_peak"] == 16.0 and out["max_logit_final"] == 4.0
    assert out["max_logit_explosion"] == pytest.approx(math.log(16.0))
    assert out["max_logit_mean"] == pytest.approx(6.6)
    assert out["max_logit_rise_growth"] == pytest.approx((16 - 1) / (30 - 10) * 100)
    assert out["max_logit_growth"] == pytest.approx(10.0)  # sum (x - 30)(y - 6.6) = 100 over sum (x - 30)^2 = 1000
    flat = LMTask.summarise_history(None, [{"step": s, "max_logit": 5.0 - 0.1 * s} for s in (10, 20)])
    assert flat["max_logit_rise_growth"] == 0.0  # the peak is the first value: no rising phase
    assert LMTask.summarise_history(None, [{"step": 1, "val_ppl": 2.0}]) == {}
