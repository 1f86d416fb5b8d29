"""Minibatches drawn from (seed, step) alone, so a resumed run sees exactly the batches an
uninterrupted one would: the data is reshuffled every epoch with a generator seeded by
(run seed, epoch), and step i of the epoch takes the i-th slice of that permutation."""
from __future__ import annotations

import math

import numpy as np


def batch_indices(n: int, batch_size: int, seed: int, step: int, keep_last: bool = False) -> np.ndarray:
    """Row indices of the batch at `step`. With `keep_last` an epoch ends with the partial batch
    (a DataLoader with drop_last=False); without, the remainder of each epoch is skipped."""
    per_epoch = math.ceil(n / batch_size) if keep_last else n // batch_size
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[i * batch_size : (i + 1) * batch_size]
