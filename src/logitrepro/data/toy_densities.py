"""The Fourier-head paper's synthetic conditional densities (Gillman et al., arXiv 2410.22269,
toy example), generated as the authors' script does.

Each sample is (x, y, z): the model sees the bin indices of x and y (0..49, as floats, not the
raw values) and predicts the distribution of z over 50 equal bins of [-1, 1]. The data is
regenerated from the run's seed; the 80/20 train/test split always uses seed 42. The true pmf
of a row is the density of z given (x, y) at the bin centres, normalised.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

DATASETS = ("gaussian", "gmm2", "beta")
VARIANCE = 0.01
N_BINS = 50
N_SAMPLES = 5000
SPLIT_SEED = 42
TRAIN_FRACTION = 0.8


def bin_edges(n_bins: int = N_BINS) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n_bins + 1)


def bin_centres(n_bins: int = N_BINS) -> np.ndarray:
    edges = bin_edges(n_bins)
    return (edges[:-1] + edges[1:]) / 2


def to_bins(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin index of each value; values outside [-1, 1] fall in the end bins."""
    return np.clip(np.digitize(values, bin_edges(n_bins)[1:-1]), 0, n_bins - 1)


def _sample(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sd = np.sqrt(VARIANCE)
    if name == "gaussian":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.normal(x, sd)
        z = rng.normal(y, sd)
    elif name == "gmm2":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.uniform(-0.8, 0.8, n)
        z = np.where(rng.random(n) < 0.5, rng.normal(x, sd), rng.normal(y, sd))
    elif name == "beta":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.normal(x, sd)
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        z = sign * rng.beta(100 * np.abs(x), 100 * np.abs(y))
    else:
        raise ValueError(f"unknown toy dataset {name!r}; known: {DATASETS}")
    return x, y, z


def true_pmf(name: str, x: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """(n, n_bins): the density of z given (x, y) at the bin centres, normalised per row."""
    c = bin_centres(n_bins)[None, :]  # (1, m)
    x, y = x[:, None], y[:, None]
    sd = np.sqrt(VARIANCE)

    def normalised(d):
        return d / d.sum(axis=1, keepdims=True)

    if name == "gaussian":
        dens = stats.norm.pdf(c, loc=y, scale=sd)
    elif name == "gmm2":  # as the authors do: the mean of the two components' pmfs, each normalised
        dens = 0.5 * normalised(stats.norm.pdf(c, loc=x, scale=sd)) + 0.5 * normalised(
            stats.norm.pdf(c, loc=y, scale=sd)
        )
    elif name == "beta":  # z = +-Beta(a, b): the Beta density mirrored onto the negative half
        dens = 0.5 * stats.beta.pdf(np.abs(c), 100 * np.abs(x), 100 * np.abs(y))
    else:
        raise ValueError(f"unknown toy dataset {name!r}; known: {DATASETS}")
    return normalised(dens)


def generate(name: str, seed: int, n: int = N_SAMPLES, n_bins: int = N_BINS) -> dict[str, dict[str, np.ndarray]]:
    """{'train'|'test': {'inputs' (n, 2) float32 bin indices of x and y, 'target' (n,) bin of z,
    'pmf' (n, n_bins) true pmf}}."""
    x, y, z = _sample(name, n, np.random.default_rng(seed))
    inputs = np.stack([to_bins(x, n_bins), to_bins(y, n_bins)], axis=1).astype(np.float32)
    target = to_bins(z, n_bins).astype(np.int64)
    pmf = true_pmf(name, x, y, n_bins).astype(np.float32)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    cut = int(TRAIN_FRACTION * n)
    parts = {"train": order[:cut], "test": order[cut:]}
    return {s: {"inputs": inputs[i], "target": target[i], "pmf": pmf[i]} for s, i in parts.items()}
