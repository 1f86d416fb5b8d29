"""The Fourier-head paper's synthetic conditional densities (Gillman et al., arXiv 2410.22269,
toy example), generated as the authors' script does, draw for draw.

Each sample is (x, y, z): the model sees the bin indices of x and y (0..49, as floats, not the
raw values) and predicts the distribution of z over 50 equal bins of [-1, 1]. The data is
regenerated from the run's seed; the 80/20 train/test split always uses seed 42. The true pmf
of a row is the density of z given (x, y) at the bin centres, normalised.

Same numbers as the authors' (toy-example-synthetic/scripts/generate_datasets.py and
toy_synthetic.py): numpy's default_rng(seed), drawn in their order (gmm2 and beta draw row by
row), and scikit-learn's train_test_split(test_size=0.2, random_state=42), whose rows are the
first 20% of RandomState(42).permutation(n) for the test split and the rest for training. The
test pmfs this gives equal the authors' committed true_<seed>.npy (saved_pmfs/<dataset>/) for
all three datasets and their four seeds to 1e-15.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

DATASETS = ("gaussian", "gmm2", "beta")
VARIANCE = 0.01
N_BINS = 50
N_SAMPLES = 5000
SPLIT_SEED = 42
TEST_FRACTION = 0.2


def bin_edges(n_bins: int = N_BINS) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n_bins + 1)


def bin_centres(n_bins: int = N_BINS) -> np.ndarray:
    edges = bin_edges(n_bins)
    return (edges[:-1] + edges[1:]) / 2


def to_bins(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin index of each value; values outside [-1, 1] fall in the end bins."""
    return np.clip(np.digitize(values, bin_edges(n_bins)[1:-1]), 0, n_bins - 1)


def _sample(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, z of n samples, drawn in the authors' order so that a seed gives their numbers."""
    sd = np.sqrt(VARIANCE)
    if name == "gaussian":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.normal(x, sd)
        z = rng.normal(y, sd)
    elif name == "gmm2":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.uniform(-0.8, 0.8, n)
        z = np.empty(n)
        for i in range(n):  # row by row: a component draw, then that component's normal draw
            z[i] = rng.normal(x[i], sd) if rng.uniform(0, 1) < 0.5 else rng.normal(y[i], sd)
    elif name == "beta":
        x = rng.uniform(-0.8, 0.8, n)
        y = rng.normal(x, sd)
        sign = rng.choice([1, -1], size=n)
        z = np.array([sign[i] * rng.beta(np.abs(100 * x[i]), np.abs(100 * y[i])) for i in range(n)])
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


def authors_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) as scikit-learn's train_test_split(test_size=0.2, random_state=42):
    the test rows are the first ceil(0.2 n) of RandomState(42).permutation(n), the train rows the rest."""
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    n_test = math.ceil(TEST_FRACTION * n)
    return order[n_test:], order[:n_test]


def rippled(pmf: np.ndarray, freq: int, amp: float) -> np.ndarray:
    """(n, m): each row of pmf times 1 + amp cos(pi freq c) at the bin centres c, normalised.

    High-frequency noise on the density (ours, not the authors': the paper's claim that the Fourier
    head ignores such noise rests on theory, and their code has no noisy toy). A Fourier head with
    N frequencies has a density of frequencies up to N, so it cannot represent the ripple when
    freq > N; the 50-bin linear head can, up to freq 24 (two bins a period is the Nyquist limit)."""
    c = bin_centres(pmf.shape[1])[None, :]  # (1, m)
    d = pmf * (1.0 + amp * np.cos(np.pi * freq * c))
    return d / d.sum(axis=1, keepdims=True)


def _draw_bins(pmf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) one bin per row, drawn from that row's pmf (inverse CDF)."""
    cdf = np.cumsum(pmf, axis=1)
    u = rng.uniform(0.0, 1.0, (pmf.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(axis=1), pmf.shape[1] - 1)


def generate(
    name: str, seed: int, n: int = N_SAMPLES, n_bins: int = N_BINS, ripple: tuple[int, float] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """{'train'|'test': {'inputs' (n, 2) float32 bin indices of x and y, 'target' (n,) bin of z,
    'pmf' (n, n_bins) true pmf}}.

    With ripple = (freq, amp) the training targets are drawn instead from the rippled density
    (rippled(), from a generator of its own, so x and y stay the authors' draws) and the training
    pmf is that density (what the labels follow); the test pmf stays the clean one, the signal a
    head should learn, and the test split gains 'noisy_pmf', the rippled density of its rows."""
    x, y, z = _sample(name, n, np.random.default_rng(seed))
    inputs = np.stack([to_bins(x, n_bins), to_bins(y, n_bins)], axis=1).astype(np.float32)
    target = to_bins(z, n_bins).astype(np.int64)
    clean = true_pmf(name, x, y, n_bins)
    train, test = authors_split(n)
    out = {
        "train": {"inputs": inputs[train], "target": target[train], "pmf": clean[train].astype(np.float32)},
        "test": {"inputs": inputs[test], "target": target[test], "pmf": clean[test].astype(np.float32)},
    }
    if ripple is not None:
        noisy = rippled(clean, *ripple)
        out["train"]["pmf"] = noisy[train].astype(np.float32)
        out["train"]["target"] = _draw_bins(noisy[train], np.random.default_rng([seed, 1])).astype(np.int64)
        out["test"]["noisy_pmf"] = noisy[test].astype(np.float32)
    return out
