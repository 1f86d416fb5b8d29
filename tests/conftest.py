"""Shared fixtures. Helpers live in tests/support.py."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.support import make_arrays, write_idx_folder

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# Triton kernels run under the interpreter on CPU-only machines (tests/kernels/conftest.py).
# Set before any test module is collected: loading the configs imports the task modules, and
# with them triton, in modules collected before the kernel tests' own conftest runs.
if not importlib.util.find_spec("torch") or not __import__("torch").cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(scope="session")
def idx_sources(tmp_path_factory) -> dict[str, dict]:
    """{dataset: {dir, sha256}} for mnist and fashion_mnist, small generated IDX folders."""
    root = tmp_path_factory.mktemp("idx")
    out = {}
    for i, name in enumerate(("mnist", "fashion_mnist")):
        folder = root / name
        sha = write_idx_folder(folder, make_arrays(seed=i))
        out[name] = {"dir": str(folder), "sha256": sha}
    return out


@pytest.fixture(scope="session")
def prepared_mnist(tmp_path_factory, idx_sources) -> Path:
    from logitrepro.data.prepare import prepare

    out = tmp_path_factory.mktemp("data") / "mnist"
    prepare("mnist", out, override=idx_sources["mnist"], log=lambda *a: None)
    return out
