"""LIBSVM sets (the SSO paper's mushrooms, ijcnn1, rcv1): parser, sources, storage, and the SSO
task on a sparse set. All files here are generated; the real ones are paper scale only."""
import bz2
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from logitrepro.data.libsvm import (
    DENSE_MAX_FEATURES,
    LibsvmFolder,
    LibsvmURL,
    binary_labels,
    load_tabular,
    parse_svmlight,
    write_libsvm_splits,
)
from logitrepro.data.prepare import DataUnavailable, prepare
from logitrepro.data.registry import DATASETS, Dataset
from logitrepro.data.sources import SourceUnavailable
from logitrepro.papers.sso import SSOTask, csr_rows, make_model, to_csr_tensor

QUIET = dict(log=lambda *a: None)

# Row 2 has no features at all, row 3 skips columns 1-3; a comment, CRLF, a blank line, '+1'.
HAND_WRITTEN = b"""+1 1:0.5 3:-2 4:1e-3
-1
-1 4:7   6:0.25 # a comment
\r
+1 2:1\r
"""
HAND_DENSE = np.array([
    [0.5, 0, -2, 1e-3, 0, 0],
    [0, 0, 0, 0, 0, 0],
    [0, 0, 0, 7, 0, 0.25],
    [0, 1, 0, 0, 0, 0],
])


def write_libsvm(path: Path, x, labels, compress: bool = False) -> Path:
    """x (dense or CSR) -> a LIBSVM text file, 1-based columns; .bz2-compressed if asked."""
    x = scipy.sparse.csr_matrix(x)
    lines = []
    for i, label in enumerate(labels):
        row = x[i]
        pairs = " ".join(f"{j + 1}:{v:.9g}" for j, v in zip(row.indices, row.data))
        lines.append(f"{label:g} {pairs}".rstrip())
    text = ("\n".join(lines) + "\n").encode()
    path.write_bytes(bz2.compress(text) if compress else text)
    return path


def random_set(n: int, d: int, nnz_per_row: int, seed: int):
    """A sparse set a linear model can learn: labels from a random hyperplane, as -1/+1."""
    rng = np.random.default_rng(seed)
    x = scipy.sparse.random(n, d, density=nnz_per_row / d, format="csr", random_state=rng, dtype=np.float64)
    x.data = np.round(x.data * 64) / 64 + 1 / 64  # exact in float32 and never 0
    w = rng.standard_normal(d)
    labels = np.where(x @ w > 0, 1, -1)
    return x, labels


@pytest.mark.parametrize("compress", [False, True])
def test_parser_reads_values_one_based_indices_and_empty_rows(tmp_path, compress):
    path = tmp_path / "hand.txt"
    path.write_bytes(bz2.compress(HAND_WRITTEN) if compress else HAND_WRITTEN)
    parsed = parse_svmlight(path)
    x = scipy.sparse.csr_matrix((parsed.data, parsed.indices, parsed.indptr), shape=parsed.shape)
    assert parsed.shape == (4, 6) and parsed.indices.min() == 0  # column 1 of the file is column 0
    np.testing.assert_array_equal(x.toarray(), HAND_DENSE)
    np.testing.assert_array_equal(parsed.labels, [1, -1, -1, 1])
    np.testing.assert_array_equal(parsed.indptr, [0, 3, 3, 5, 6])


def test_parser_agrees_with_scikit_learn_across_block_boundaries(tmp_path):
    """A random file, parsed in blocks far smaller than a line and in one block, against
    scikit-learn's reader (a test-only oracle)."""
    from sklearn.datasets import load_svmlight_file

    x, labels = random_set(200, 300, 12, seed=1)
    path = write_libsvm(tmp_path / "r.bz2", x, labels, compress=True)
    ref_x, ref_y = load_svmlight_file(str(path), n_features=300, zero_based=False)
    for chunk in (97, 1 << 20):
        parsed = parse_svmlight(path, chunk_bytes=chunk)
        ours = scipy.sparse.csr_matrix((parsed.data, parsed.indices, parsed.indptr), shape=(len(parsed.labels), 300))
        assert (ours != ref_x).nnz == 0
        np.testing.assert_array_equal(parsed.labels, ref_y)


@pytest.mark.parametrize("bad, what", [
    (b"+1 0:1 2:1\n", "index 0"),                        # a 0-based file
    (b"+1 3:1 2:1\n", "not strictly ascending"),
    (b"+1 2:1 2:1\n", "not strictly ascending"),         # a duplicate column
    (b"+1 1:1 2:\n", "':'"),                            # a missing value
    (b"+1 1:1 oops\n", "not in LIBSVM format"),
    (b"+1 qid:3 1:1\n", "qid"),
])
def test_parser_rejects_malformed_lines_and_names_the_line(tmp_path, bad, what):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"-1 1:1\n\n" + bad)
    with pytest.raises(ValueError, match=what) as err:
        parse_svmlight(path)
    assert "line 3" in str(err.value) or "qid" in what


def test_labels_map_the_named_negative_to_0_and_reject_strays():
    np.testing.assert_array_equal(binary_labels(np.array([-1.0, 1, 1, -1]), -1, 1), [0, 1, 1, 0])
    np.testing.assert_array_equal(binary_labels(np.array([2.0, 1, 2]), 1, 2), [1, 0, 1])  # mushrooms' 1/2
    with pytest.raises(ValueError, match="label 3"):
        binary_labels(np.array([1.0, 3.0]), 1, 2)


def test_url_source_downloads_bz2_files_over_file_urls(tmp_path):
    x_train, y_train = random_set(30, 20, 4, seed=2)
    x_test, y_test = random_set(10, 19, 4, seed=3)  # never uses column 20: n_features keeps the shape
    write_libsvm(tmp_path / "toy.tr.bz2", x_train, y_train, compress=True)
    write_libsvm(tmp_path / "toy.t.bz2", x_test, y_test, compress=True)
    source = LibsvmURL(tmp_path.as_uri(), {"train": "toy.tr.bz2", "test": "toy.t.bz2"}, (-1.0, 1.0), n_features=20)
    arrays = source.load(timeout_s=5)
    assert arrays["train_data"].dtype == np.float32 and arrays["train_indices"].dtype == np.int32
    np.testing.assert_array_equal(arrays["test_shape"], [10, 20])
    np.testing.assert_array_equal(arrays["train_y"], (y_train > 0).astype(np.int64))
    got = scipy.sparse.csr_matrix((arrays["train_data"], arrays["train_indices"], arrays["train_indptr"]), shape=(30, 20))
    np.testing.assert_allclose(got.toarray(), x_train.toarray())

    with pytest.raises(SourceUnavailable, match="toy.val.bz2"):
        LibsvmURL(tmp_path.as_uri(), {"train": "toy.val.bz2"}).load(timeout_s=5)
    (tmp_path / "broken.bz2").write_bytes(bz2.compress(b"+1 1:1\n" * 50)[:-20])  # truncated download
    with pytest.raises(SourceUnavailable, match="cannot decode"):
        LibsvmURL(tmp_path.as_uri(), {"train": "broken.bz2"}).load(timeout_s=5)
    with pytest.raises(SourceUnavailable, match="beyond the set's 10"):
        LibsvmURL(tmp_path.as_uri(), {"train": "toy.tr.bz2"}, n_features=10).load(timeout_s=5)


def test_folder_source_takes_a_decompressed_copy(tmp_path):
    x, y = random_set(12, 8, 3, seed=4)
    write_libsvm(tmp_path / "toy.tr", x, y)  # the user ran bunzip2
    arrays = LibsvmFolder(str(tmp_path), {"train": "toy.tr.bz2"}).load(timeout_s=5)
    assert arrays["train_y"].tolist() == (y > 0).astype(int).tolist()
    with pytest.raises(SourceUnavailable, match="does not exist"):
        LibsvmFolder(str(tmp_path / "nowhere"), {"train": "toy.tr.bz2"}).load(timeout_s=5)


def test_mushrooms_entry_prepares_from_a_folder_and_rejects_a_wrong_checksum(tmp_path):
    """The registry entry end to end: labels 1/2, one file, 80/20 split, 112 features kept."""
    x, y = random_set(50, 100, 6, seed=5)
    write_libsvm(tmp_path / "mushrooms", x, np.where(y > 0, 2, 1))
    manifest = prepare("mushrooms", tmp_path / "out", override={"dir": str(tmp_path)}, **QUIET)
    assert manifest["splits"] == {"train": 40, "test": 10} and manifest["features"] == 112
    assert manifest["sparse"] is False and manifest["classes"] == 2
    train_x, train_y = load_tabular(tmp_path / "out", "train")
    assert train_x.shape == (40, 112) and train_x.dtype == np.float32 and set(train_y) <= {0, 1}
    order = np.random.default_rng(0).permutation(50)  # the documented split
    np.testing.assert_array_equal(train_y, (y[order[:40]] > 0).astype(np.int64))

    with pytest.raises(DataUnavailable, match="checksum mismatch"):
        prepare("mushrooms", tmp_path / "again", override={"dir": str(tmp_path), "sha256": "0" * 64}, **QUIET)
    assert not (tmp_path / "again").exists()
    verified = prepare("mushrooms", tmp_path / "again", override={"dir": str(tmp_path), "sha256": manifest["sha256"]},
                       **QUIET)
    assert verified["sha256"] == manifest["sha256"]


def _libsvm_dataset(monkeypatch, tmp_path, name, d, n=60, seed=0) -> tuple[Path, scipy.sparse.csr_matrix, np.ndarray]:
    """A registry entry for generated train/test files of width d, prepared into tmp_path/name."""
    x, y = random_set(n, d, 10, seed=seed)
    src = tmp_path / f"{name}-src"
    src.mkdir()
    cut = int(0.75 * n)
    write_libsvm(src / "t.tr.bz2", x[:cut], y[:cut], compress=True)
    write_libsvm(src / "t.t.bz2", x[cut:], y[cut:], compress=True)
    files = {"train": "t.tr.bz2", "test": "t.t.bz2"}
    ds = Dataset(name=name, description="generated", layout="tabular", classes=2,
                 sources=[LibsvmFolder(str(src), files, n_features=d)], writer=write_libsvm_splits)
    monkeypatch.setitem(DATASETS, name, ds)
    prepare(name, tmp_path / name, **QUIET)
    return tmp_path / name, x, y


@pytest.mark.parametrize("d, sparse", [(30, False), (DENSE_MAX_FEATURES + 500, True)])
def test_writer_and_loader_round_trip_dense_and_sparse(monkeypatch, tmp_path, d, sparse):
    out, x, y = _libsvm_dataset(monkeypatch, tmp_path, "toy", d)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sparse"] is sparse and manifest["features"] == d and manifest["splits"] == {"train": 45, "test": 15}
    assert (out / f"train_x.{'npz' if sparse else 'npy'}").exists()
    for split, rows in (("train", slice(0, 45)), ("test", slice(45, 60))):
        got_x, got_y = load_tabular(out, split)
        assert scipy.sparse.issparse(got_x) is sparse and got_x.dtype == np.float32
        dense = got_x.toarray() if sparse else got_x
        np.testing.assert_array_equal(dense, x[rows].toarray().astype(np.float32))
        np.testing.assert_array_equal(got_y, (y[rows] > 0).astype(np.int64))


def test_loader_reads_the_existing_dense_tabular_folders(tmp_path):
    prepare("breast_cancer", tmp_path / "bc", **QUIET)
    x, y = load_tabular(tmp_path / "bc", "test")
    np.testing.assert_array_equal(x, np.load(tmp_path / "bc" / "test_x.npy").astype(np.float32))
    assert x.shape == (114, 30) and y.dtype == np.int64
    with pytest.raises(DataUnavailable, match="not a prepared dataset"):
        load_tabular(tmp_path, "train")


def test_csr_row_gather_and_sparse_linear_match_the_dense_computation():
    x, _ = random_set(40, 25, 3, seed=6)
    x.data[x.indptr[7] : x.indptr[8]] = 0  # an empty row
    x.eliminate_zeros()
    assert x[7].nnz == 0
    xt = to_csr_tensor(x, "cpu")
    rows = torch.tensor([7, 3, 3, 39, 0, 7])  # repeats and empty rows
    np.testing.assert_array_equal(csr_rows(xt, rows).to_dense().numpy(), x[rows.numpy()].toarray().astype(np.float32))
    torch.manual_seed(0)
    model = make_model("linear", 25, 1)
    dense = torch.from_numpy(x.toarray().astype(np.float32))
    torch.testing.assert_close(model(xt), model(dense))
    (g_sparse,) = torch.autograd.grad(model(xt).square().sum(), model.weight)
    (g_dense,) = torch.autograd.grad(model(dense).square().sum(), model.weight)
    torch.testing.assert_close(g_sparse, g_dense)


@pytest.mark.parametrize("optimizer", ["sso", "sls"])
def test_sso_task_trains_on_a_sparse_set_without_densifying_it(monkeypatch, tmp_path, optimizer):
    data_dir, _, _ = _libsvm_dataset(monkeypatch, tmp_path, "sparse_toy", DENSE_MAX_FEATURES + 500, n=400, seed=7)
    hp = dict(model="linear", loss="logistic", classes=2, eta=2.0, batch_size=32, alpha_max=1.0, armijo_c=0.1,
              armijo_beta=0.9, lr=1e-3, optimizer=optimizer, inner_steps=5)
    task = SSOTask({"seed": 0, "data_dir": str(data_dir), "hparams": hp})
    assert task.splits["train"][0].layout == torch.sparse_csr and task.batch(0)[0].layout == torch.sparse_csr
    start = task.evaluate("val")["val_train_objective"]
    opt = task.optimizer()
    for step in range(40):
        task.train_step(task.batch(step), opt)
    m = task.evaluate("test")
    assert m["train_objective"] < 0.9 * start
    if optimizer == "sso":
        assert m["surrogate_checks"] == 200 and m["surrogate_violations"] == 0

    with pytest.raises(ValueError, match="needs dense inputs"):
        SSOTask({"seed": 0, "data_dir": str(data_dir), "hparams": {**hp, "scale_inputs": "standardize"}})
