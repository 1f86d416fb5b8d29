"""LIBSVM sets (the SSO paper's mushrooms, ijcnn1, rcv1): decoding, sources, storage, and the SSO
task on a sparse set. All files here are generated; the real ones are paper scale only."""

import bz2
import json
import random
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from logitrepro.data.checksum import content_sha256
from logitrepro.data.download import SourceUnavailable
from logitrepro.data.libsvm import (
    DENSE_MAX_FEATURES,
    LibsvmFolder,
    LibsvmURL,
    binary_labels,
    decode_files,
    parse_svmlight,
    write_libsvm_splits,
)
from logitrepro.data.prepare import prepare
from logitrepro.data.registry import DATASETS, Dataset
from logitrepro.data.store import DataUnavailable, load_tabular

QUIET = dict(log=lambda *a: None)

# Row 2 has no features at all, row 3 skips columns 1-3; a comment, CRLF, a blank line, '+1'.
HAND_WRITTEN = b"""+1 1:0.5 3:-2 4:1e-3
-1
-1 4:7   6:0.25 # a comment
\r
+1 2:1\r
"""
HAND_DENSE = np.array(
    [
        [0.5, 0, -2, 1e-3, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 7, 0, 0.25],
        [0, 1, 0, 0, 0, 0],
    ]
)


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


def generated_libsvm_text(seed: int, rows: int, features: int, labels: tuple[str, str]) -> bytes:
    """A LIBSVM file with what real files hold and some of what they might: empty rows (with a
    trailing space), explicit zeros, plain and exponent values of up to 7 digits, comments, CRLF,
    blank lines. Python's random (not numpy's) and integer-built strings: the same bytes on every
    platform and version, so a checksum of the decoded form can be kept in this file."""
    rnd = random.Random(seed)
    lines = []
    for _ in range(rows):
        cols = sorted(rnd.sample(range(1, features + 1), int(rnd.random() * min(features, 9))))
        values = []
        for _ in cols:
            mantissa, exponent = int(rnd.random() * 2_000_001) - 1_000_000, int(rnd.random() * 25) - 12
            kind = int(rnd.random() * 4)
            values.append(("0", str(mantissa), f"{mantissa}e{exponent}", f"{mantissa}.{abs(exponent):02d}")[kind])
        line = f"{labels[int(rnd.random() * 2)]} " + " ".join(f"{c}:{v}" for c, v in zip(cols, values))
        extra = int(rnd.random() * 20)
        lines.append(line + (" # a comment 9:9" if extra == 0 else "\r" if extra == 1 else ""))
        if extra == 2:
            lines.append("")
    return ("\n".join(lines) + "\n").encode()


# content_sha256 of the decoded form of the generated files below, as the hand-written parser
# that came before scikit-learn's reader decoded them: the recorded checksums of real sets stay
# valid only while these hold.
GENERATED_TRAIN_TEST_SHA256 = "debf652d6beecd9642537960f426297c25215073b0144ba1c656b4ecbeb352cb"
GENERATED_SINGLE_FILE_SHA256 = "666c11411a4b85ba5ca2da44c92f43ad34315d80e394f400e1af0f4dcb80c861"


@pytest.mark.parametrize("compress", [False, True])
def test_decoded_form_and_checksums_are_those_of_the_previous_parser(tmp_path, compress):
    pack = bz2.compress if compress else (lambda b: b)
    (tmp_path / "g.tr").write_bytes(pack(generated_libsvm_text(1, 120, 40, ("-1", "+1"))))
    (tmp_path / "g.t.bz2").write_bytes(bz2.compress(generated_libsvm_text(2, 50, 40, ("-1", "+1"))))
    (tmp_path / "m").write_bytes(pack(generated_libsvm_text(3, 80, 112, ("1", "2"))))
    arrays = decode_files({"train": tmp_path / "g.tr", "test": tmp_path / "g.t.bz2"}, (-1.0, 1.0), 40)
    assert {k: str(a.dtype) for k, a in arrays.items() if k.startswith("train")} == {
        "train_data": "float32",
        "train_indices": "int32",
        "train_indptr": "int64",
        "train_shape": "int64",
        "train_y": "int64",
    }
    assert arrays["train_shape"].tolist() == [120, 40] and set(arrays["train_y"]) == {0, 1}
    assert content_sha256(arrays) == GENERATED_TRAIN_TEST_SHA256
    single = decode_files({"all": tmp_path / "m"}, (1.0, 2.0), 112)
    assert content_sha256(single) == GENERATED_SINGLE_FILE_SHA256


@pytest.mark.parametrize(
    "bad",
    [
        b"+1 0:1 2:1\n",  # a 0-based file: refused, not shifted
        b"+1 3:1 2:1\n",  # indices not ascending
        b"+1 2:1 2:1\n",  # a duplicate column
        b"+1 1:1 2:\n",  # a missing value
        b"+1 1:1 oops\n",
        b"+1 1.5:1\n",  # an index that is not a whole number
    ],
)
def test_malformed_files_are_refused_naming_the_file(tmp_path, bad):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"-1 1:1\n\n" + bad)
    with pytest.raises(ValueError, match="not in LIBSVM format") as err:
        parse_svmlight(path)
    assert str(path) in str(err.value)


def test_ranking_files_and_stray_labels_are_refused_naming_the_file(tmp_path):
    (tmp_path / "qid.txt").write_bytes(b"+1 qid:3 1:1\n")
    with pytest.raises(ValueError, match="qid") as err:
        parse_svmlight(tmp_path / "qid.txt")
    assert str(tmp_path / "qid.txt") in str(err.value)
    (tmp_path / "three.txt").write_bytes(b"1 1:1\n3 2:1\n")
    with pytest.raises(ValueError, match="label 3 is neither 1 nor 2") as err:
        decode_files({"all": tmp_path / "three.txt"}, (1.0, 2.0))
    assert str(tmp_path / "three.txt") in str(err.value)


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
    got = scipy.sparse.csr_matrix(
        (arrays["train_data"], arrays["train_indices"], arrays["train_indptr"]), shape=(30, 20)
    )
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
    verified = prepare(
        "mushrooms", tmp_path / "again", override={"dir": str(tmp_path), "sha256": manifest["sha256"]}, **QUIET
    )
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
    ds = Dataset(
        name=name,
        description="generated",
        classes=2,
        sources=[LibsvmFolder(str(src), files, n_features=d)],
        writer=write_libsvm_splits,
    )
    monkeypatch.setitem(DATASETS, name, ds)
    prepare(name, tmp_path / name, **QUIET)
    return tmp_path / name, x, y


@pytest.mark.parametrize("d, sparse", [(30, False), (DENSE_MAX_FEATURES + 500, True)])
def test_writer_and_loader_round_trip_dense_and_sparse(monkeypatch, tmp_path, d, sparse):
    out, x, y = _libsvm_dataset(monkeypatch, tmp_path, "toy", d)
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["sparse"] is sparse and manifest["features"] == d and manifest["splits"] == {"train": 45, "test": 15}
    )
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


# The SSO task on a sparse set: what the CSR storage is for. (Task-side code, imported where used.)


def test_csr_row_gather_and_sparse_linear_match_the_dense_computation():
    from logitrepro.models.sparse_linear import csr_rows, to_csr_tensor
    from logitrepro.tasks.sso_supervised import make_model

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
    from logitrepro.tasks import make_task
    from tests.support import smoke_spec

    data_dir, _, _ = _libsvm_dataset(monkeypatch, tmp_path, "sparse_toy", DENSE_MAX_FEATURES + 500, n=400, seed=7)
    # the config's rcv1 run (wide and sparse) at the grid point 10^0: SSO's s = 1, SLS's first step 1
    spec = smoke_spec("sso", "rcv1", {"sso": "sso_m5__t3", "sls": "sls__t3"}[optimizer], data_dir=data_dir)
    task = make_task(spec)
    assert task.splits["train"][0].layout == torch.sparse_csr and task.batch(0)[0].layout == torch.sparse_csr
    start = task.evaluate("val")["val_train_objective"]
    opt = task.optimizer()
    for step in range(40):
        task.train_step(task.batch(step), opt)
    m = task.evaluate("test")
    assert m["train_objective"] < 0.9 * start
    if optimizer == "sso":
        assert m["surrogate_checks"] == 40 * task.hp.inner_steps and m["surrogate_violations"] == 0

    with pytest.raises(ValueError, match="needs dense inputs"):
        make_task({**spec, "hparams": {**spec["hparams"], "scale_inputs": "pixels"}})
