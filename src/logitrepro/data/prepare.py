"""Prepare one dataset into data/<name>/: split arrays (.npy) and manifest.json.

Written to a temporary sibling folder and renamed at the end, so an interrupted
prepare never leaves a half-written dataset behind.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .checksum import content_sha256
from .registry import Dataset, get_dataset
from .sources import SourceUnavailable
from .text import write_text_splits

MANIFEST = "manifest.json"


class DataUnavailable(RuntimeError):
    pass


def read_manifest(out_dir: str | Path) -> dict | None:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


def _write_image_splits(dataset: Dataset, arrays: dict, out: Path) -> dict:
    n_val = dataset.val_size
    splits = {
        # TF's MNIST reader (used by the authors) takes the first 5k training images as validation.
        "train": (arrays["train_x"][n_val:], arrays["train_y"][n_val:]),
        "val": (arrays["train_x"][:n_val], arrays["train_y"][:n_val]),
        "test": (arrays["test_x"], arrays["test_y"]),
    }
    for split, (x, y) in splits.items():
        np.save(out / f"{split}_x.npy", x)
        np.save(out / f"{split}_y.npy", y)
    return {
        "splits": {s: int(len(y)) for s, (_, y) in splits.items()},
        "classes": dataset.classes,
        "label_counts": {s: np.bincount(y, minlength=dataset.classes).tolist() for s, (_, y) in splits.items()},
    }


def _write_tabular_splits(dataset: Dataset, arrays: dict, out: Path) -> dict:
    """A fixed 80/20 train/test split (permutation seed 0); features as given (the task scales them)."""
    n = len(arrays["y"])
    order = np.random.default_rng(0).permutation(n)
    cut = int(0.8 * n)
    splits = {"train": order[:cut], "test": order[cut:]}
    for split, idx in splits.items():
        np.save(out / f"{split}_x.npy", arrays["x"][idx])
        np.save(out / f"{split}_y.npy", arrays["y"][idx])
    return {"splits": {s: int(len(i)) for s, i in splits.items()}, "classes": dataset.classes,
            "features": int(arrays["x"].shape[1])}


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of a prepared split."""
    d = Path(data_dir)
    if read_manifest(d) is None:
        raise DataUnavailable(f"{d} is not a prepared dataset (no {MANIFEST}); run: logitrepro prepare --dataset {d.name} --out {d}")
    return np.load(d / f"{split}_x.npy"), np.load(d / f"{split}_y.npy").astype(np.int64)


def fetch(dataset: Dataset, override: dict | None, timeout_s: float, log=print) -> tuple[dict, str, str]:
    """Try each source in order; return (arrays, source description, checksum)."""
    sources = [dataset.override_source(override["dir"])] if override else dataset.sources
    expected = (override or {}).get("sha256") or dataset.sha256
    tried = []
    for source in sources:
        log(f"[{dataset.name}] trying {source.describe()}")
        try:
            arrays = source.load(timeout_s)
        except SourceUnavailable as e:
            tried.append(f"  - {source.describe()}: {e}")
            continue
        digest = content_sha256(arrays)
        if expected and digest != expected:
            tried.append(f"  - {source.describe()}: checksum mismatch (got {digest}, expected {expected})")
            continue
        return arrays, source.describe(), digest
    raise DataUnavailable(
        f"dataset {dataset.name!r}: no source gave verified data. Tried:\n" + "\n".join(tried)
        + f"\nTo fix: {dataset.how_to_get}; or `dvc pull data/{dataset.name}` from a remote that has it"
        + ("" if dataset.folder_source or dataset.layout != "images"
           else f"; or set data.sources.{dataset.name}.dir to a folder with the four IDX files") + "."
    )


def prepare(name: str, out_dir: str | Path, override: dict | None = None, timeout_s: float = 15, log=print) -> dict:
    dataset = get_dataset(name)
    out_dir = Path(out_dir)
    expected = (override or {}).get("sha256") or dataset.sha256
    existing = read_manifest(out_dir)
    if existing and existing.get("sha256") == expected and expected:
        log(f"[{name}] {out_dir} already holds verified data ({existing['source']}); nothing to do")
        return existing
    arrays, source, digest = fetch(dataset, override, timeout_s, log)
    tmp = out_dir.with_name(out_dir.name + ".tmp-prepare")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if dataset.writer is not None:
        writer = lambda a, d: dataset.writer(dataset, a, d)  # noqa: E731
    elif dataset.layout == "text":
        writer = lambda a, d: write_text_splits(a, d, given_splits=dataset.given_splits)  # noqa: E731
    elif dataset.layout == "tabular":
        writer = lambda a, d: _write_tabular_splits(dataset, a, d)  # noqa: E731
    else:
        writer = lambda a, d: _write_image_splits(dataset, a, d)  # noqa: E731
    manifest = {"dataset": name, "description": dataset.description, "source": source, "sha256": digest,
                **writer(arrays, tmp)}
    with open(tmp / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=2)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log(f"[{name}] prepared {manifest['splits']} from {source} -> {out_dir}")
    return manifest
