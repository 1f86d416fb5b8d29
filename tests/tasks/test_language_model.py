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


def test_summarise_history_gives_peak_last_and_slope_per_100_steps():
    from logitrepro.tasks.language_model import Task as LMTask

    rows = [{"step": s, "max_logit": 10.0 + 0.5 * s} for s in (10, 20, 30, 40)] + [{"step": 45, "val_ppl": 3.0}]
    out = LMTask.summarise_history(None, rows)
    assert out["max_logit_peak"] == 30.0 and out["max_logit_final"] == 30.0
    assert out["max_logit_growth"] == pytest.approx(50.0)  # 0.5 per step
    assert LMTask.summarise_history(None, [{"step": 1, "val_ppl": 2.0}]) == {}
