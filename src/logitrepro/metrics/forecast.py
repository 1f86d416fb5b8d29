"""Point and probabilistic forecast scores as the Chronos benchmarks compute them, and the
seasonal-naive baseline they are reported relative to.

  MASE  mean over the horizon of |y - median forecast|, divided by the series' in-sample mean
        absolute seasonal difference (season m; m = 1 when the history is not longer than m);
        averaged over the series of a dataset
  WQL   weighted quantile loss: for q in 0.1..0.9, 2 * sum |pinball_q| / sum |y| over every
        series and step of a dataset, averaged over q
Relative scores divide a model's dataset score by seasonal naive's; Chronos aggregates the
relative scores of several datasets with a geometric mean.
"""

from __future__ import annotations

import math

import numpy as np

QUANTILES = np.round(np.arange(0.1, 1.0, 0.1), 1)


def seasonal_naive(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Repeat the last season (the last value when the history is shorter than a season)."""
    m = period if len(history) > period else 1
    last = history[-m:]
    return np.resize(last, horizon)  # np.resize repeats the season cyclically


def seasonal_scale(history: np.ndarray, period: int) -> float:
    m = period if len(history) > period else 1
    return float(np.mean(np.abs(history[m:] - history[:-m]))) if len(history) > m else float("nan")


def mase(history: np.ndarray, actual: np.ndarray, point: np.ndarray, period: int) -> float:
    scale = seasonal_scale(history, period)
    if not scale > 0:  # a constant history: MASE is undefined (GluonTS gives inf; we skip the series)
        return float("nan")
    return float(np.mean(np.abs(actual - point)) / scale)


def quantile_losses(actual: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Per quantile level, sum over steps of 2 * pinball loss; quantiles (Q, h) -> (Q,)."""
    diff = actual[None, :] - quantiles  # (Q, h)
    q = QUANTILES[:, None]
    return 2.0 * np.sum(np.maximum(q * diff, (q - 1.0) * diff), axis=1)


def dataset_scores(series, forecasts) -> dict[str, float]:
    """series: [(history, actual, period)], forecasts: [(point (h,), quantiles (Q, h))].
    Returns {'mase', 'wql'} for the dataset."""
    mases, ql, denom = [], np.zeros(len(QUANTILES)), 0.0
    for (history, actual, period), (point, quantiles) in zip(series, forecasts):
        mases.append(mase(history, actual, point, period))
        ql += quantile_losses(actual, quantiles)
        denom += float(np.abs(actual).sum())
    return {"mase": float(np.nanmean(mases)), "wql": float(np.mean(ql / denom))}


def naive_forecasts(series) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seasonal naive as a forecaster: every quantile is the point forecast."""
    out = []
    for history, actual, period in series:
        point = seasonal_naive(history, len(actual), period)
        out.append((point, np.repeat(point[None, :], len(QUANTILES), axis=0)))
    return out


def from_samples(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample paths (S, h) -> (median (h,), quantiles (Q, h))."""
    return np.median(samples, axis=0), np.quantile(samples, QUANTILES, axis=0)


def geometric_mean(values) -> float:
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return float(math.exp(np.mean(np.log(values)))) if values else float("nan")
