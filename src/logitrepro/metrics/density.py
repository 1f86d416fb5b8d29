"""How well a predicted pmf over bins fits, and how smooth it is: the Fourier-head authors'
KL divergence and smoothness metric (used by the toy densities and the Decision Transformer)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def kl_per_row(true_pmf: np.ndarray, pred_pmf: np.ndarray) -> np.ndarray:
    """KL(true || predicted) per row, with the authors' log(predicted + 1e-10)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(true_pmf > 0, true_pmf * (np.log(true_pmf) - np.log(pred_pmf + 1e-10)), 0.0)
    return terms.sum(axis=1)


def entropy_per_row(pmf: np.ndarray) -> np.ndarray:
    """Entropy of each row's pmf in nats (0 log 0 = 0): the cross-entropy of a model that predicts
    the true pmf exactly, on samples drawn from it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(pmf > 0, pmf * np.log(pmf), 0.0).sum(axis=1)


def smoothness(pmf: np.ndarray, sigmas: int = 100) -> float:
    """The authors' smoothness metric (lower is smoother), averaged over rows of (n, m)."""
    total = np.zeros(pmf.shape[0])
    for s in range(1, sigmas + 1):
        # the authors' filter: periodic boundary, kernel radius m - 1
        blurred = ndimage.gaussian_filter1d(pmf, sigma=s, axis=1, mode="wrap", radius=pmf.shape[1] - 1)
        total += 6.0 / (math.pi**2 * s**2) * np.linalg.norm(pmf - blurred, axis=1)
    return float(total.mean())


def ripple_fit(pred_pmf: np.ndarray, clean_pmf: np.ndarray, noisy_pmf: np.ndarray) -> float:
    """How much of the noise a model reproduced: the least-squares coefficient of its departure from
    the clean pmf on the noise (noisy - clean), over all rows and bins of (n, m). 0: the model
    ignored the noise; 1: it learnt the noisy density's departure in full."""
    noise = noisy_pmf - clean_pmf
    return float(((pred_pmf - clean_pmf) * noise).sum() / (noise * noise).sum())
