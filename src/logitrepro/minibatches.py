"""Minibatches drawn from (seed, step) alone, so a resumed run sees exactly the batches an
uninterrupted one would: the data is reshuffled every epoch with a generator seeded by
(run seed, epoch), and step i of the epoch takes the i-th slice of that permutation."""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's permutation, drawn once per epoch rather than at every step (read-only)."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    perm.flags.writeable = False
    return perm


def batch_indices(n: int, batch_size: int, seed: int, step: int, keep_last: bool = False) -> np.ndarray:
    """Row indices of the batch at `step`. With `keep_last` an epoch ends with the partial batch
    (a DataLoader with drop_last=False); without, the remainder of each epoch is skipped."""
    per_epoch = math.ceil(n / batch_size) if keep_last else n // batch_size
    epoch, i = divmod(step, per_epoch)
    return _epoch_order(n, seed, epoch)[i * batch_size : (i + 1) * batch_size].copy()
