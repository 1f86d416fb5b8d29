"""A prepared folder (data/<name>/, or a tokenized corpus): its manifest, its integrity check,
the generic layouts (images, tabular, tokens) and their loaders.

A prepared folder is what a writer wrote plus manifest.json, which holds where the data came
from, the content checksum of the decoded source arrays ("sha256"), the writer's own entries
("splits" at least) and, for every file the writer wrote, its size and SHA-256 ("files").

The two checksums answer different questions. The content checksum says the source gave the
right data; the file records say the folder still holds what was written from it. A byte
flipped on disk, a truncated copy or an interrupted `dvc checkout` changes a file and not the
manifest, and a run would then train on damaged arrays while its run.json records the clean
content checksum. So every loader verifies the files first (once per process per folder: see
`verify`).

Generic layouts, per split s:
  images   s_x.npy uint8 (N, 28, 28), s_y.npy uint8; splits train/val/test (the MNIST family)
  tabular  s_x.npy (N, d) as given, s_y.npy int64; a fixed 80/20 train/test split (seed 0).
           libsvm.py writes the same names, with s_x.npz (CSR) for wide sparse sets.
  tokens   s.npy uint16/uint32 token ids, tokenizer.json, tokenizer_info.json (text.train_bpe)
Other layouts (series, trajectories, expert) belong to their format modules, which call
`verify` before reading.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from logitrepro.files import atomic_write_text, read_json, sha256_file

MANIFEST = "manifest.json"
TOKENIZER_INFO = "tokenizer_info.json"
# The tabular split: a permutation with a fixed seed, 80% train. Part of what a prepared folder
# means, so changing it changes every tabular set's splits.
TABULAR_SPLIT_SEED = 0
TABULAR_TRAIN_FRACTION = 0.8


class DataUnavailable(RuntimeError):
    """No usable data: the folder is not prepared, cannot be verified, or no source gave verified data."""


class CorruptData(DataUnavailable):
    """A file of a prepared folder differs from what its manifest recorded (or cannot be read)."""

    def __init__(self, folder: Path, name: str, problem: str, restore: str):
        self.path, self.problem = Path(folder) / name, problem
        super().__init__(f"{self.path} is damaged: {problem}. {restore}")


# ----------------------------------------------------------------------------- the manifest


def read_manifest(folder: str | Path) -> dict | None:
    """The folder's manifest, or None when it has none (not prepared)."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # a damaged manifest is a damaged folder
        raise CorruptData(Path(folder), MANIFEST, f"not readable JSON ({e})", restore_hint(folder, None)) from e


def file_sha256(path: str | Path) -> str:
    return sha256_file(path)


def write_manifest(folder: str | Path, entries: dict) -> dict:
    """Write manifest.json: `entries` plus "files", the size and SHA-256 of every other file in
    the folder. Call it last, once the writer is done. Returns the manifest."""
    folder = Path(folder)
    files = {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p != folder / MANIFEST
    }
    manifest = {**entries, "files": files}
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))  # a folder is prepared once this lands
    return manifest


def remake_command(folder: str | Path, manifest: dict | None) -> str:
    """The command that makes the folder again from its sources."""
    folder, manifest = Path(folder), manifest or {}
    if "tokenizer" in manifest:  # a tokenized corpus (text.train_bpe), made next to its corpus
        corpus = folder.parent / manifest.get("dataset", "<corpus>")
        return (
            f"logitrepro tokenize --data {corpus} --vocab {manifest.get('requested_vocab_size', '<V>')} --out {folder}"
        )
    return f"logitrepro prepare --dataset {manifest.get('dataset', folder.name)} --out {folder} --force"


def restore_hint(folder: str | Path, manifest: dict | None) -> str:
    return (
        f"To restore it: dvc checkout {folder} (where DVC tracks it), or make it again: "
        f"{remake_command(folder, manifest)}"
    )


# ----------------------------------------------------------------------------- verification

# Folders verified in this process, by the state of their files when they were: hashing a
# paper-scale folder takes seconds, and a job loads each split separately.
_verified: set[tuple] = set()


def _stat_key(st) -> tuple:
    # Size, mtime, ctime and inode: a rewrite or a checkout changes at least one of them.
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def verify(folder: str | Path, *, unprepared_ok: bool = False) -> dict | None:
    """Check every file the manifest lists: present, its recorded size, its recorded SHA-256.
    Returns the manifest. Raises DataUnavailable when the folder is not prepared or was prepared
    before files were recorded, CorruptData naming the first bad file otherwise.

    Files the manifest does not list are not looked at (a tokenized corpus may sit inside its
    corpus folder). Sizes are checked on every call; hashes once per process for a given state
    of the manifest and the files (path, size, mtime, ctime, inode).

    `unprepared_ok`: a folder without any manifest gives None instead of an error. Only for the
    format modules' loaders, which also read a writer's output used on its own (write_series(None,
    arrays, folder)); a folder that has a manifest is always verified."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        if unprepared_ok:
            return None
        raise DataUnavailable(
            f"{folder} is not a prepared dataset (no {MANIFEST}); run: "
            f"logitrepro prepare --dataset {folder.name} --out {folder}, or dvc pull {folder}"
        )
    manifest = read_manifest(folder)
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise DataUnavailable(
            f"{folder} was prepared by an older version: its {MANIFEST} records no file sizes or hashes, so "
            f"a damaged file could not be detected. Make it again: {remake_command(folder, manifest)}"
        )
    restore = restore_hint(folder, manifest)
    state = []
    for name, record in sorted(files.items()):
        try:
            st = (folder / name).stat()
        except FileNotFoundError:
            raise CorruptData(folder, name, f"missing (listed in {MANIFEST})", restore) from None
        if st.st_size != record["bytes"]:
            raise CorruptData(
                folder,
                name,
                f"size differs: {st.st_size} bytes found, {record['bytes']} expected (recorded in {MANIFEST})",
                restore,
            )
        state.append((name, *_stat_key(st)))
    key = (str(manifest_path.resolve()), *_stat_key(manifest_path.stat()), tuple(state))
    if key in _verified:
        return manifest
    for name, record in sorted(files.items()):
        found = file_sha256(folder / name)
        if found != record["sha256"]:
            raise CorruptData(
                folder,
                name,
                f"SHA-256 differs: {found} found, {record['sha256']} expected (recorded in {MANIFEST})",
                restore,
            )
    _verified.add(key)
    return manifest


def load_array(folder: str | Path, name: str, manifest: dict | None, mmap_mode: str | None = None) -> np.ndarray:
    """np.load of one file of a folder, naming the file (and how to restore it) when it cannot
    be read; numpy's own message names none. Call verify first: this checks nothing itself."""
    folder = Path(folder)
    try:
        return np.load(folder / name, mmap_mode=mmap_mode, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise CorruptData(folder, name, f"not a readable array ({e})", restore_hint(folder, manifest)) from e


def _require_split(folder: Path, manifest: dict, split: str, file: str) -> None:
    if file not in manifest["files"]:
        raise DataUnavailable(
            f"{folder} has no {split!r} split (no {file}); its splits: {sorted(manifest.get('splits', {}))}"
        )


# ----------------------------------------------------------------------------- images


def write_image_splits(dataset, arrays: dict, out: Path) -> dict:
    """The Dataset.writer of the MNIST family: train/val/test from the source's train/test arrays."""
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


def load_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of a prepared split, after verify."""
    folder = Path(folder)
    manifest = verify(folder)
    _require_split(folder, manifest, split, f"{split}_x.npy")
    return load_array(folder, f"{split}_x.npy", manifest), load_array(folder, f"{split}_y.npy", manifest).astype(
        np.int64
    )


# ----------------------------------------------------------------------------- tabular


def tabular_split(n: int) -> dict[str, np.ndarray]:
    """{'train', 'test'}: row indices of the fixed 80/20 split of n rows (permutation seed 0)."""
    order = np.random.default_rng(TABULAR_SPLIT_SEED).permutation(n)
    cut = int(TABULAR_TRAIN_FRACTION * n)
    return {"train": order[:cut], "test": order[cut:]}


def write_tabular_splits(dataset, arrays: dict, out: Path) -> dict:
    """The Dataset.writer of a dense {x, y} set: the fixed 80/20 split; features as given (the task scales them)."""
    splits = tabular_split(len(arrays["y"]))
    for split, idx in splits.items():
        np.save(out / f"{split}_x.npy", arrays["x"][idx])
        np.save(out / f"{split}_y.npy", arrays["y"][idx])
    return {
        "splits": {s: int(len(i)) for s, i in splits.items()},
        "classes": dataset.classes,
        "features": int(arrays["x"].shape[1]),
    }


def load_tabular(folder: str | Path, split: str):
    """(x, y) of a prepared split, after verify: x a dense float32 (N, d) array (any folder with
    {split}_x.npy: the tabular and image layouts, images flattened) or a scipy CSR float32 matrix
    ({split}_x.npz, libsvm.py's wide sets); y int64 (N,)."""
    folder = Path(folder)
    manifest = verify(folder)
    _require_split(folder, manifest, split, f"{split}_y.npy")
    y = load_array(folder, f"{split}_y.npy", manifest).astype(np.int64)
    if f"{split}_x.npz" in manifest["files"]:
        # Imported here: scipy.sparse alone would double the import time of every CLI command.
        import scipy.sparse

        try:
            x = scipy.sparse.load_npz(folder / f"{split}_x.npz")
        except (ValueError, OSError, EOFError) as e:
            raise CorruptData(
                folder, f"{split}_x.npz", f"not a readable sparse matrix ({e})", restore_hint(folder, manifest)
            ) from e
        return x.tocsr().astype(np.float32), y
    return np.asarray(load_array(folder, f"{split}_x.npy", manifest), dtype=np.float32).reshape(len(y), -1), y


# ----------------------------------------------------------------------------- tokens


def _tokenized(folder: Path) -> dict:
    if not (folder / MANIFEST).exists():
        raise DataUnavailable(
            f"{folder} is not a tokenized corpus (no {MANIFEST}); tokenize the corpus first: "
            f"logitrepro tokenize --data <corpus folder> --vocab <V> --out {folder}"
        )
    return verify(folder)


def load_tokens(folder: str | Path, split: str) -> np.ndarray:
    """The token ids of one split of a tokenized corpus (text.train_bpe), after verify."""
    folder = Path(folder)
    manifest = _tokenized(folder)
    _require_split(folder, manifest, split, f"{split}.npy")
    return load_array(folder, f"{split}.npy", manifest)


def tokenizer_info(folder: str | Path) -> dict:
    """tokenizer_info.json of a tokenized corpus (vocab_size, token counts, checksums), after verify."""
    folder = Path(folder)
    _tokenized(folder)
    return read_json(folder / TOKENIZER_INFO, restore_hint(folder, None))
