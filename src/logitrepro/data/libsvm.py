"""LIBSVM / svmlight text files: a parser, where to get the files, and how they are stored.

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
"""
from __future__ import annotations

import bz2
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .sources import SourceUnavailable, download

if TYPE_CHECKING:
    from .registry import Dataset

LIBSVM_BINARY_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/binary"

# What each set is on the LIBSVM page. Sizes are the page's (and, for the files the SSO authors
# loaded, theirs): mushrooms 8124 rows; ijcnn1.tr 35,000 (the authors' file, not ijcnn1 =
# tr + val, 49,990), ijcnn1.t 91,701; rcv1_train.binary 20,242, rcv1_test.binary 677,399.
# n_features fixes the column count, so a split that never uses the last columns keeps the shape.
LIBSVM_SETS: dict[str, dict] = {
    "mushrooms": {"files": {"all": "mushrooms"}, "label_values": (1.0, 2.0), "n_features": 112},
    "ijcnn1": {"files": {"train": "ijcnn1.tr.bz2", "test": "ijcnn1.t.bz2"}, "label_values": (-1.0, 1.0),
               "n_features": 22},
    "rcv1": {"files": {"train": "rcv1_train.binary.bz2", "test": "rcv1_test.binary.bz2"}, "label_values": (-1.0, 1.0),
             "n_features": 47236},
}

# Up to this many features a split is stored dense (.npy): a dense row then costs at most 4 KB,
# loading is a plain np.load, and the task keeps its dense path (mushrooms 112, ijcnn1 22).
# Wider sets (rcv1, 47,236 features, about 0.16% non-zero) stay CSR (.npz): dense, rcv1's train
# split alone would be 3.8 GB.
DENSE_MAX_FEATURES = 1000
CHUNK_BYTES = 1 << 25  # parse 32 MB of text at a time: bounded memory on rcv1's ~1 GB test file

_COLON_TO_SPACE = bytes.maketrans(b":", b" ")
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[list(b" \t\r\n\v\f")] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True


@dataclass
class SvmlightFile:
    """One parsed file: a CSR matrix's parts (0-based columns) and the raw labels."""

    data: np.ndarray  # (nnz,) float64, or the dtype asked for
    indices: np.ndarray  # int32 (nnz,), 0-based (LIBSVM's widest sets stay far below 2^31 columns)
    indptr: np.ndarray  # int64 (rows + 1,)
    labels: np.ndarray  # float64 (rows,), as written in the file
    n_features: int  # 1 + the largest index seen (0 for a file without features)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.labels), self.n_features


def _chunks(stream, size: int) -> Iterator[bytes]:
    """Blocks of whole lines (each ends at a newline, except possibly the last)."""
    rest = b""
    while True:
        block = stream.read(size)
        if not block:
            if rest.strip():
                yield rest
            return
        block = rest + block
        cut = block.rfind(b"\n")
        if cut < 0:
            rest = block
            continue
        yield block[: cut + 1]
        rest = block[cut + 1 :]


def _first_bad_line(text: bytes) -> tuple[int, str]:
    """Only on the error path: the first line (1-based within `text`) that is not well formed."""
    for number, line in enumerate(text.split(b"\n"), 1):
        tokens = line.split(b"#", 1)[0].split()
        if not tokens:
            continue
        try:
            float(tokens[0])
            for token in tokens[1:]:
                index, value = token.split(b":")
                int(index), float(value)
        except ValueError:
            return number, line[:80].decode("utf-8", "replace")
    return 0, ""


def _parse_block(text: bytes, first_line: int) -> tuple[np.ndarray, ...]:
    """(labels, nnz per row, 1-based indices as float, values, line number of each row) of a
    block of whole lines.

    Vectorised: the block becomes one flat run of numbers (label, index, value, index, value, ...,
    label, ...) through numpy's C number reader, and the colons per line say where each row's
    pairs end. Python only loops over lines when the block has `#` comments."""
    if b"qid:" in text:
        raise ValueError(f"line {first_line}+: qid (ranking) entries are not supported")
    if b"#" in text:  # svmlight allows trailing comments; strip them line by line
        text = b"\n".join(line.split(b"#", 1)[0] for line in text.split(b"\n"))
    if not text.endswith(b"\n"):
        text += b"\n"
    raw = np.frombuffer(text, dtype=np.uint8)
    newline = np.flatnonzero(raw == ord("\n"))
    bounds = np.concatenate([[0], newline + 1])
    # Blank lines are skipped. Only a line that starts with whitespace can be blank, and those
    # are rare, so only they are looked at one by one (a per-character pass costs more).
    keep = np.ones(len(newline), dtype=bool)
    for k in np.flatnonzero(_WHITESPACE[raw[bounds[:-1]]]):
        keep[k] = bool(text[bounds[k] : newline[k]].strip())
    # A line's colons are its pairs.
    colons_at = np.flatnonzero(raw == ord(":"))
    nnz = np.diff(np.searchsorted(colons_at, bounds))[keep]
    if not keep.any():  # numpy's reader complains about a run with no number at all
        empty = np.zeros(0)
        return empty, nnz, empty, empty, np.zeros(0, dtype=np.int64)
    # Every colon must sit between an index digit and a value ("3:" or " :4" would shift the run).
    if colons_at.size and (
        colons_at[0] == 0 or not _DIGIT[raw[colons_at - 1]].all() or _WHITESPACE[raw[colons_at + 1]].any()
    ):
        bad = colons_at[~(_DIGIT[raw[colons_at - 1]] & ~_WHITESPACE[raw[colons_at + 1]])][0]
        line = first_line + int(np.searchsorted(newline, bad))
        raise ValueError(f"line {line}: a ':' without an index before it or a value after it")
    with warnings.catch_warnings():
        # numpy warns (and stops) at the first token it cannot read; make that an error.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            flat = np.fromstring(text.translate(_COLON_TO_SPACE), dtype=np.float64, sep=" ")
        except (DeprecationWarning, ValueError):
            flat = None
    expected = int(keep.sum()) + 2 * int(nnz.sum())
    if flat is None or flat.size != expected:
        number, line = _first_bad_line(text)
        where = f"line {first_line + number - 1}: {line!r}" if number else f"lines {first_line}+"
        raise ValueError(f"not in LIBSVM format at {where}")
    starts = np.arange(len(nnz)) + 2 * (np.cumsum(nnz) - nnz)  # where each row's label sits in `flat`
    labels = flat[starts]
    pairs = np.delete(flat, starts).reshape(-1, 2)
    return labels, nnz, pairs[:, 0], pairs[:, 1], first_line + np.flatnonzero(keep)


def _check_indices(index: np.ndarray, nnz: np.ndarray, lines: np.ndarray) -> None:
    """1-based, whole numbers, strictly ascending within a row (the LIBSVM format's rules;
    a 0 means a 0-based file, which we refuse rather than shift every column)."""
    if index.size == 0:
        return
    row_of = lambda k: int(lines[np.searchsorted(np.cumsum(nnz), k, side="right")])  # noqa: E731
    bad = np.flatnonzero((index < 1) | (index != np.floor(index)) | (index > np.iinfo(np.int32).max))
    if bad.size:
        raise ValueError(f"line {row_of(bad[0])}: feature index {index[bad[0]]:g} (indices are whole numbers from 1)")
    ascending = np.diff(index) > 0
    row_starts = np.cumsum(nnz) - nnz
    row_starts = row_starts[(row_starts > 0) & (row_starts < index.size)]
    ascending[row_starts - 1] = True  # a new row may start anywhere
    if not ascending.all():
        k = int(np.flatnonzero(~ascending)[0]) + 1
        raise ValueError(f"line {row_of(k)}: feature indices are not strictly ascending")


def _open(path: Path):
    """The file's text stream: bzip2 by its magic bytes (a user may have renamed it), else plain."""
    with open(path, "rb") as f:
        magic = f.read(3)
    return bz2.open(path, "rb") if magic == b"BZh" else open(path, "rb")


def parse_svmlight(path: str | Path, dtype=np.float64, chunk_bytes: int = CHUNK_BYTES) -> SvmlightFile:
    """Parse a LIBSVM/svmlight file (plain or .bz2) into values of `dtype`, int32 0-based columns
    and int64 row pointers. Raises ValueError (with the line) on bad input. Each block is cast
    as soon as it is read, so the peak memory is about the final arrays' (rcv1's test file has
    49 M non-zeros)."""
    labels, nnz, index, value = [], [], [], []
    line = 1
    with _open(Path(path)) as stream:
        for block in _chunks(stream, chunk_bytes):
            block_labels, block_nnz, block_index, block_value, block_lines = _parse_block(block, line)
            _check_indices(block_index, block_nnz, block_lines)
            labels.append(block_labels)
            nnz.append(block_nnz)
            index.append((block_index - 1).astype(np.int32))
            value.append(block_value.astype(dtype))
            line += block.count(b"\n")
    cat = lambda parts, kind: np.concatenate(parts).astype(kind, copy=False) if parts else np.zeros(0, kind)  # noqa: E731
    indices = cat(index, np.int32)
    indptr = np.concatenate([[0], np.cumsum(cat(nnz, np.int64))]).astype(np.int64)
    return SvmlightFile(data=cat(value, dtype), indices=indices, indptr=indptr,
                        labels=cat(labels, np.float64), n_features=int(indices.max()) + 1 if indices.size else 0)


def binary_labels(raw: np.ndarray, negative: float, positive: float) -> np.ndarray:
    """int64 {0, 1}: `negative` -> 0, `positive` -> 1; anything else is an error."""
    stray = ~np.isin(raw, (negative, positive))
    if stray.any():
        raise ValueError(f"label {raw[stray][0]:g} is neither {negative:g} nor {positive:g}")
    return (raw == positive).astype(np.int64)


def decode_files(paths: dict[str, Path], label_values: tuple[float, float],
                 n_features: int | None = None) -> dict[str, np.ndarray]:
    """{split: file} -> the decoded arrays (module docstring), with one column count for all splits."""
    parsed = {}
    for split, path in paths.items():
        try:
            parsed[split] = parse_svmlight(path, dtype=np.float32)
        except ValueError as e:
            raise ValueError(f"{Path(path).name}: {e}") from e
    empty = [paths[s].name for s, p in parsed.items() if len(p.labels) == 0]
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
        arrays[f"{split}_y"] = binary_labels(p.labels, *label_values)
    return arrays


def _decode_or_unavailable(paths: dict[str, Path], label_values, n_features) -> dict[str, np.ndarray]:
    try:
        return decode_files(paths, label_values, n_features)
    except (ValueError, OSError, EOFError) as e:  # bz2 raises OSError/EOFError on a damaged file
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
# On disk: data/<name>/{split}_x.npy (dense float32) or {split}_x.npz (CSR float32), {split}_y.npy
# scipy.sparse is imported where it is used: the registry imports this module, and every CLI
# command imports the registry; scipy.sparse alone would double that import time.


def _csr(arrays: dict, split: str):
    import scipy.sparse

    shape = tuple(int(v) for v in arrays[f"{split}_shape"])
    return scipy.sparse.csr_matrix(
        (arrays[f"{split}_data"], arrays[f"{split}_indices"], arrays[f"{split}_indptr"]), shape=shape)


def write_libsvm_splits(dataset: "Dataset", arrays: dict, out: Path) -> dict:
    """Save train/test (a fixed 80/20 cut, permutation seed 0, when the source has only `all`;
    the same rule as the other tabular sets) and return the manifest entries."""
    import scipy.sparse

    if "all_y" in arrays:
        x, y = _csr(arrays, "all"), arrays["all_y"]
        order = np.random.default_rng(0).permutation(len(y))
        cut = int(0.8 * len(y))
        splits = {"train": (x[order[:cut]], y[order[:cut]]), "test": (x[order[cut:]], y[order[cut:]])}
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


def load_tabular(data_dir: str | Path, split: str):
    """(x, y) of a prepared split: x a dense float32 (N, d) array (any folder with {split}_x.npy:
    the tabular and image layouts, images flattened) or a scipy CSR float32 matrix
    ({split}_x.npz); y int64 (N,)."""
    # Imported here: prepare imports the registry, which imports this module.
    from .prepare import MANIFEST, DataUnavailable

    d = Path(data_dir)
    if not (d / MANIFEST).exists():
        raise DataUnavailable(f"{d} is not a prepared dataset (no {MANIFEST}); run: logitrepro prepare --dataset {d.name} --out {d}")
    y = np.load(d / f"{split}_y.npy").astype(np.int64)
    if (d / f"{split}_x.npz").exists():
        import scipy.sparse

        return scipy.sparse.load_npz(d / f"{split}_x.npz").tocsr().astype(np.float32), y
    return np.asarray(np.load(d / f"{split}_x.npy"), dtype=np.float32).reshape(len(y), -1), y
