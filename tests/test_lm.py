import math

import numpy as np
import torch

from logitrepro.papers.lm import cross_entropy_bound, frequency_code_map


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
