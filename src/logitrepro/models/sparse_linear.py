"""Sparse inputs end to end: CSR batches gathered on the device and a linear layer that
multiplies them without densifying (rcv1 has 47,236 columns)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse
import torch
from torch import nn


class Linear(nn.Linear):
    """nn.Linear (same parameters, initialisation and dense forward) that also takes a sparse
    CSR batch: densifying an rcv1 batch would cost B x 47,236 floats at every inner step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.layout != torch.sparse_csr:
            return super().forward(x)
        out = torch.sparse.mm(x, self.weight.t())  # (B, d) sparse @ (d, K) -> (B, K) dense
        return out if self.bias is None else out + self.bias


def csr_tensor(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape) -> torch.Tensor:
    with warnings.catch_warnings():  # torch flags CSR support as beta; matmul and autograd are what we use
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=tuple(shape), check_invariants=False)


def to_csr_tensor(x: scipy.sparse.csr_matrix, device) -> torch.Tensor:
    x = x.tocsr()
    x.sort_indices()
    as_long = lambda a: torch.from_numpy(np.asarray(a, dtype=np.int64))
    return csr_tensor(
        as_long(x.indptr), as_long(x.indices), torch.from_numpy(np.asarray(x.data, dtype=np.float32)), x.shape
    ).to(device)


def csr_rows(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """x[rows] for a CSR tensor, gathered on x's device in O(non-zeros of those rows)."""
    crow, col, values = x.crow_indices(), x.col_indices(), x.values()
    start = crow[rows]
    counts = crow[rows + 1] - start
    new_crow = torch.zeros(len(rows) + 1, dtype=crow.dtype, device=crow.device)
    new_crow[1:] = torch.cumsum(counts, 0)
    total = int(new_crow[-1])
    # Element j of the batch sits at start[row] + (j - new_crow[row]) in x.
    at = torch.repeat_interleave(start - new_crow[:-1], counts, output_size=total)
    at = at + torch.arange(total, device=crow.device)
    return csr_tensor(new_crow, col[at], values[at], (len(rows), x.shape[1]))
