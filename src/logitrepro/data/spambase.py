"""The UCI Spambase set (4,601 e-mails x 57 features, spam or not): a larger tabular set for
SSO's logistic regression.

Sources, same decoded arrays (x float64 (4601, 57), y int64 with 1 = spam):
  * UCI's archive (canonical): spambase.zip, a CSV whose last column is the label
  * Debian's r-cran-kernlab, which ships the same data as an R dataset (`spam.rda`);
    `make setup` downloads the .deb (apt-get download: no installation, no R) and the file is
    read with PyPI `rdata`
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import SourceUnavailable, download

UCI_SPAMBASE_URL = "https://archive.ics.uci.edu/static/public/94/spambase.zip"
KERNLAB_DEB_GLOB = "r-cran-kernlab_*.deb"
KERNLAB_SPAM = "./usr/lib/R/site-library/kernlab/data/spam.rda"


def from_csv(text: str) -> dict[str, np.ndarray]:
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64)  # (4601, 58)
    return {"x": table[:, :-1], "y": table[:, -1].astype(np.int64)}


@dataclass
class SpambaseZipURL:
    url: str = UCI_SPAMBASE_URL

    def describe(self) -> str:
        return f"canonical URL {self.url}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        with tempfile.TemporaryFile() as tmp:
            download(self.url, tmp, timeout_s)
            tmp.seek(0)
            try:
                with zipfile.ZipFile(tmp) as z:
                    return from_csv(z.read("spambase.data").decode())
            except (zipfile.BadZipFile, KeyError) as e:
                raise SourceUnavailable(f"{self.url}: no spambase.data in the archive ({e})") from e


def from_rda(blob: bytes) -> dict[str, np.ndarray]:
    """kernlab's `spam` data frame: 57 numeric columns, then the factor `type` (nonspam/spam)."""
    try:
        import rdata
    except ImportError as e:
        raise SourceUnavailable("PyPI rdata is not installed (a project dependency)") from e
    frame = rdata.conversion.convert(rdata.parser.parse_data(blob))["spam"]
    return {
        "x": frame.iloc[:, :-1].to_numpy(dtype=np.float64),
        "y": (frame["type"].astype(str) == "spam").to_numpy().astype(np.int64),
    }


@dataclass
class KernlabDeb:
    """spam.rda inside a downloaded r-cran-kernlab .deb in `folder` (read with dpkg-deb)."""

    folder: str
    label: str = "Debian package r-cran-kernlab downloaded by make setup in"

    def describe(self) -> str:
        return f"{self.label} {self.folder}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        debs = sorted(Path(self.folder).glob(KERNLAB_DEB_GLOB))
        if not debs:
            raise SourceUnavailable(
                f"no {KERNLAB_DEB_GLOB} in {self.folder} (make setup runs apt-get download r-cran-kernlab)"
            )
        try:
            tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[-1])], capture_output=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise SourceUnavailable(f"cannot unpack {debs[-1].name} with dpkg-deb: {e}") from e
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            try:
                blob = archive.extractfile(KERNLAB_SPAM).read()
            except KeyError as e:
                raise SourceUnavailable(f"{debs[-1].name} has no {KERNLAB_SPAM}") from e
        return from_rda(blob)
