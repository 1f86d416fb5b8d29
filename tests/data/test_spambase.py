"""UCI Spambase for SSO: the canonical CSV archive and Debian's R copy decode to the same arrays."""

import io
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest

from logitrepro.data import spambase
from logitrepro.data.sources import SourceUnavailable

ROWS = [[0.0, 0.64, 278.0, 1], [0.21, 0.28, 1028.0, 1], [0.06, 0.0, 7.0, 0]]  # 3 features, then the label


def write_kernlab_deb(folder, rows):
    """A .deb in r-cran-kernlab's layout holding data/spam.rda (an R data frame with a factor)."""
    import rdata

    frame = pd.DataFrame({f"f{i}": [r[i] for r in rows] for i in range(3)})
    frame["type"] = pd.Categorical(["spam" if r[-1] else "nonspam" for r in rows], categories=["nonspam", "spam"])
    root = folder / "pkg"
    data = root / spambase.KERNLAB_SPAM.lstrip("./").rsplit("/", 1)[0]
    data.mkdir(parents=True)
    rdata.write_rda(data / "spam.rda", {"spam": frame})
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        "Package: r-cran-kernlab\nVersion: 0.9-32-1\nArchitecture: amd64\nMaintainer: test <t@t>\nDescription: test\n"
    )
    subprocess.run(
        ["dpkg-deb", "--build", "-Zgzip", str(root), str(folder / "r-cran-kernlab_0.9-32-1_amd64.deb")],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(subprocess.run(["which", "dpkg-deb"], capture_output=True).returncode, reason="needs dpkg-deb")
def test_debian_r_copy_and_uci_csv_give_the_same_arrays(tmp_path):
    write_kernlab_deb(tmp_path, ROWS)
    from_deb = spambase.KernlabDeb(str(tmp_path)).load(timeout_s=5)
    csv = "\n".join(",".join(repr(v) for v in r[:-1]) + f",{r[-1]}" for r in ROWS)
    with zipfile.ZipFile(tmp_path / "spambase.zip", "w") as z:
        z.writestr("spambase.data", csv)
    from_uci = spambase.SpambaseZipURL((tmp_path / "spambase.zip").as_uri()).load(timeout_s=5)
    for arrays in (from_deb, from_uci):
        assert arrays["x"].dtype == np.float64 and arrays["x"].shape == (3, 3)
        assert arrays["y"].tolist() == [1, 1, 0]
    from logitrepro.data.checksum import content_sha256

    assert content_sha256(from_deb) == content_sha256(from_uci)


def test_missing_sources_say_what_to_do(tmp_path):
    with pytest.raises(SourceUnavailable, match="apt-get download r-cran-kernlab"):
        spambase.KernlabDeb(str(tmp_path)).load(timeout_s=5)
    with pytest.raises(SourceUnavailable, match="spambase.zip"):
        spambase.SpambaseZipURL((tmp_path / "spambase.zip").as_uri()).load(timeout_s=5)
    (tmp_path / "other.zip").write_bytes(io.BytesIO().getvalue() or b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    with pytest.raises(SourceUnavailable, match="no spambase.data"):
        spambase.SpambaseZipURL((tmp_path / "other.zip").as_uri()).load(timeout_s=5)
