"""LIBSVM / svmlight text files: how they are decoded, where to get them, and how they are stored.

The SSO paper's linear-model sets (mushrooms, ijcnn1, rcv1) come from the LIBSVM binary page
as text files, one example a line: `<label> <index>:<value> ...`, indices 1-based and
ascending, features absent from a line are zero; optionally bzip2-compressed.

Decoded form (what a source returns, and what the content checksum covers), per split s:
  s_data float32, s_indices int32 (0-based columns), s_indptr int64, s_shape int64 [rows, features]
  (the parts of a CSR matrix), and s_y int64 in {0, 1}.
Splits are `train`/`test` where the page ships both files, or `all` where it ships one
(mushrooms); the writer then cuts a fixed 80/20 split. The dtypes are part of the checksum, so
they stay fixed once a checksum has been recorded.

Labels: the sets use -1/+1 (ijcnn1, rcv1) or 1/2 (mushrooms). Each dataset names its
(negative, positive) pair, mapped to 0 and 1: the smaller value becomes 0, as in the SSO
authors' loader (they map the sorted unique labels to 0, 1). A label outside the pair is an error,
not a guess.

Reading is scikit-learn's svmlight reader (a project dependency); this module fixes the decoded
form around it, so the content checksums recorded with the old hand-written parser still hold.
"""

from __future__ import annotations

import bz2
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import SourceUnavailable, download
from .store import tabular_split

LIBSVM_BINARY_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary"

# What each set is on the LIBSVM page. Sizes are the page's (and, for the files the SSO authors
# loaded, theirs): mushrooms 8124 rows; ijcnn1.tr 35,000 (the authors' file, not ijcnn1 =
# tr + val, 49,990), ijcnn1.t 91,701; rcv1_train.binary 20,242, rcv1_test.binary 677,399.
# n_features fixes the column count, so a split that never uses the last columns keeps the shape.
LIBSVM_SETS: dict[str, dict] = {
    "mushrooms": {"files": {"all": "mushrooms"}, "label_values": (1.0, 2.0), "n_features": 112},
    "ijcnn1": {
        "files": {"train": "ijcnn1.tr.bz2", "test": "ijcnn1.t.bz2"},
        "label_values": (-1.0, 1.0),
        "n_features": 22,
    },
    "rcv1": {
        "files": {"train": "rcv1_train.binary.bz2", "test": "rcv1_test.binary.bz2"},
        "label_values": (-1.0, 1.0),
        "n_features": 47236,
    },
}

# Up to this many features a split is stored dense (.npy): a dense row then costs at most 4 KB,
# loading is a plain np.load, and the task keeps its dense path (mushrooms 112, ijcnn1 22).
# Wider sets (rcv1, 47,236 features, about 0.16% non-zero) stay CSR (.npz): dense, rcv1's train
# split alone would be 3.8 GB.
DENSE_MAX_FEATURES = 1000


@dataclass
class SvmlightFile:
    """One decoded file: a CSR matrix's parts (0-based columns) and the raw labels."""

    data: np.ndarray  # (nnz,) float64, or the dtype asked for
    indices: np.ndarray  # int32 (nnz,), 0-based (LIBSVM's widest sets stay far below 2^31 columns)
    indptr: np.ndarray  # int64 (rows + 1,)
    labels: np.ndarray  # float64 (rows,), as written in the file
    n_features: int  # 1 + the largest index used (0 for a file without features)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.labels), self.n_features


def _open(path: Path):
    """The file's byte stream: bzip2 by its magic bytes (a user may have renamed it), else plain.
    (scikit-learn would go by the name's extension.)"""
    with open(path, "rb") as f:
        magic = f.read(3)
    return bz2.open(path, "rb") if magic == b"BZh" else open(path, "rb")


def parse_svmlight(path: str | Path, dtype=np.float64) -> SvmlightFile:
    """Decode a LIBSVM/svmlight file (plain or bzip2) into values of `dtype`, int32 0-based
    columns and int64 row pointers. Indices must be 1-based and strictly ascending within a row
    (a 0 means a 0-based file, refused rather than shifting every column); `#` comments and
    blank lines are allowed. Raises ValueError naming the file on bad input (the reader does
    not say which line). Values are read as float64 and then rounded to `dtype`."""
    # Imported here: the registry imports this module, every CLI command imports the registry,
    # and sklearn.datasets takes about a second to import.
    from sklearn.datasets import load_svmlight_file

    path = Path(path)
    try:
        with _open(path) as stream:
            x, labels, qid = load_svmlight_file(stream, dtype=dtype, zero_based=False, query_id=True)
    except (ValueError, OSError, EOFError) as e:  # bz2 raises OSError/EOFError on a damaged file
        raise ValueError(f"{path}: not in LIBSVM format or damaged ({e})") from e
    if qid.size:
        raise ValueError(f"{path}: qid (ranking) entries are not supported")
    if x.indices.size and x.indices.max() >= np.iinfo(np.int32).max:
        raise ValueError(f"{path}: feature index {int(x.indices.max()) + 1} does not fit the int32 columns")
    indices = x.indices.astype(np.int32)
    return SvmlightFile(
        data=x.data.astype(dtype, copy=False),
        indices=indices,
        indptr=x.indptr.astype(np.int64),
        labels=np.asarray(labels, dtype=np.float64),
        # from the indices: scikit-learn says 1 column for a file without features
        n_features=int(indices.max()) + 1 if indices.size else 0,
    )


def binary_labels(raw: np.ndarray, negative: float, positive: float) -> np.ndarray:
    """int64 {0, 1}: `negative` -> 0, `positive` -> 1; anything else is an error."""
    stray = ~np.isin(raw, (negative, positive))
    if stray.any():
        raise ValueError(f"label {raw[stray][0]:g} is neither {negative:g} nor {positive:g}")
    return (raw == positive).astype(np.int64)


def decode_files(
    paths: dict[str, Path], label_values: tuple[float, float], n_features: int | None = None
) -> dict[str, np.ndarray]:
    """{split: file} -> the decoded arrays (module docstring), with one column count for all
    splits. ValueError naming the file on a malformed file or a label outside the pair."""
    parsed = {split: parse_svmlight(path, dtype=np.float32) for split, path in paths.items()}
    empty = [str(paths[s]) for s, p in parsed.items() if len(p.labels) == 0]
    if empty:
        raise ValueError(f"{', '.join(empty)}: no examples")
    widest = max(p.n_features for p in parsed.values())
    if n_features is not None and widest > n_features:
        raise ValueError(f"a file uses feature {widest}, beyond the set's {n_features}")
    d = n_features if n_features is not None else widest
    arrays = {}
    for split, p in parsed.items():
        arrays[f"{split}_data"] = p.data
        arrays[f"{split}_indices"] = p.indices
        arrays[f"{split}_indptr"] = p.indptr
        arrays[f"{split}_shape"] = np.array([len(p.labels), d], dtype=np.int64)
        try:
            arrays[f"{split}_y"] = binary_labels(p.labels, *label_values)
        except ValueError as e:
            raise ValueError(f"{paths[split]}: {e}") from e
    return arrays


def _decode_or_unavailable(paths: dict[str, Path], label_values, n_features) -> dict[str, np.ndarray]:
    try:
        return decode_files(paths, label_values, n_features)
    except ValueError as e:  # parse_svmlight turns a damaged file's OSError/EOFError into one too
        raise SourceUnavailable(f"cannot decode: {e}") from e


@dataclass
class LibsvmURL:
    """Files under one base URL (the LIBSVM page; file:// works too), downloaded to a temporary
    folder in a stream (a timeout per socket read, not for the whole file) and then parsed."""

    base_url: str
    files: dict  # {split: file name}; split "all" when the page has no test file
    label_values: tuple = (-1.0, 1.0)  # (negative, positive) as written in the files
    n_features: int | None = None

    def describe(self) -> str:
        return f"canonical URL {self.base_url} ({', '.join(self.files.values())})"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="logitrepro-libsvm-") as tmp:
            paths = {}
            for split, name in self.files.items():
                paths[split] = Path(tmp) / name
                with open(paths[split], "wb") as f:
                    download(self.base_url.rstrip("/") + "/" + name, f, timeout_s)
            return _decode_or_unavailable(paths, self.label_values, self.n_features)


@dataclass
class LibsvmFolder:
    """A folder holding the same files (downloaded by hand). Each may also be there decompressed
    (name without .bz2); the parser tells the two apart by content, not by name."""

    folder: str
    files: dict
    label_values: tuple = (-1.0, 1.0)
    n_features: int | None = None
    label: str = "folder"

    def describe(self) -> str:
        return f"{self.label} {self.folder} ({', '.join(self.files.values())})"

    def _find(self, name: str) -> Path:
        folder = Path(self.folder)
        for candidate in (folder / name, folder / name.removesuffix(".bz2"), folder / (name + ".bz2")):
            if candidate.is_file():
                return candidate
        raise SourceUnavailable(f"{folder / name} not found")

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        if not Path(self.folder).is_dir():
            raise SourceUnavailable(f"{self.folder} does not exist")
        paths = {split: self._find(name) for split, name in self.files.items()}
        return _decode_or_unavailable(paths, self.label_values, self.n_features)


def libsvm_url(name: str, base_url: str = LIBSVM_BINARY_URL) -> LibsvmURL:
    return LibsvmURL(base_url, **LIBSVM_SETS[name])


def libsvm_folder(name: str, folder: str, label: str = "configured folder") -> LibsvmFolder:
    return LibsvmFolder(folder, **LIBSVM_SETS[name], label=label)


# ---------------------------------------------------------------------------------------------
# On disk: data/<name>/{split}_x.npy (dense float32) or {split}_x.npz (CSR float32), {split}_y.npy,
# read back by store.load_tabular. scipy.sparse is imported where it is used: the registry
# imports this module, and every CLI command imports the registry; scipy.sparse alone would
# double that import time.


def _csr(arrays: dict, split: str):
    import scipy.sparse

    shape = tuple(int(v) for v in arrays[f"{split}_shape"])
    return scipy.sparse.csr_matrix(
        (arrays[f"{split}_data"], arrays[f"{split}_indices"], arrays[f"{split}_indptr"]), shape=shape
    )


def write_libsvm_splits(dataset, arrays: dict, out: Path) -> dict:
    """The Dataset.writer of the LIBSVM sets: train/test (store.tabular_split, the fixed 80/20
    cut of the other tabular sets, when the source has only `all`); returns the manifest entries.
    Read back with store.load_tabular."""
    import scipy.sparse

    if "all_y" in arrays:
        x, y = _csr(arrays, "all"), arrays["all_y"]
        splits = {s: (x[rows], y[rows]) for s, rows in tabular_split(len(y)).items()}
        origin = "80/20 of the single file (permutation seed 0)"
    else:
        splits = {s: (_csr(arrays, s), arrays[f"{s}_y"]) for s in ("train", "test")}
        origin = "the source's own train and test files"
    d = splits["train"][0].shape[1]
    sparse = d > DENSE_MAX_FEATURES
    for split, (x, y) in splits.items():
        x = x.astype(np.float32, copy=False)
        if sparse:
            x.sort_indices()
            # Uncompressed: every training job loads the split, and load time beats disk here.
            scipy.sparse.save_npz(out / f"{split}_x.npz", x, compressed=False)
        else:
            np.save(out / f"{split}_x.npy", x.toarray())
        np.save(out / f"{split}_y.npy", y.astype(np.int64))
    return {
        "splits": {s: int(len(y)) for s, (_, y) in splits.items()},
        "classes": dataset.classes,
        "features": int(d),
        "sparse": bool(sparse),
        "split_from": origin,
        "label_counts": {s: np.bincount(y, minlength=2).tolist() for s, (_, y) in splits.items()},
        "nonzeros": {s: int(x.nnz) for s, (x, _) in splits.items()},
    }
