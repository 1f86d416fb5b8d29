"""Provenance of a run: git commit, package versions, device, data checksum."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("torch", "triton", "numpy", "mlflow", "snakemake", "dvc")


@functools.cache  # per process: a job's runs all run the code it started with
def git_commit(cwd: str | Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() if out.returncode == 0 else "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("-dirty" if dirty and commit != "unknown" else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    return dict(_installed_versions(names))  # a copy: callers may change theirs


@functools.cache  # per process: reading package metadata costs ~7 ms, twice per run of a job of hundreds
def _installed_versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def device_description() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _manifest(data_dir: str | Path | None) -> dict | None:
    """The prepared folder's manifest (data/store.py writes it); None when there is none. A
    damaged one stops with its name and how to restore the folder (store.CorruptData)."""
    from logitrepro.data.store import read_manifest

    return None if data_dir is None else read_manifest(data_dir)


def data_checksum(data_dir: str | Path | None) -> str:
    if data_dir is None:
        return "synthetic (generated from the run's seed)"
    manifest = _manifest(data_dir)
    return manifest.get("sha256", "unknown") if manifest is not None else "unknown"


def data_source(data_dir: str | Path | None) -> str:
    """Where the prepared dataset came from, as its manifest records it."""
    manifest = _manifest(data_dir)
    if manifest is None:
        return ""
    if "tokenizer" in manifest:  # a tokenized corpus: made here from a prepared dataset
        return f"{manifest['dataset']}, {manifest['tokenizer']} with {manifest['vocab_size']} tokens"
    return str(manifest.get("source", ""))
