import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import logitrepro
from logitrepro.kernels import cross_entropy, dispatch, use_backend


def test_invalid_backend_is_rejected(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match="LOGITREPRO_KERNEL_BACKEND"):
        dispatch.kernel_backend()


def test_auto_sends_cpu_tensors_to_torch(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "auto")
    assert dispatch.select_path(torch.zeros(1)) == "fast"
    with use_backend("reference"):
        assert dispatch.select_path(torch.zeros(1)) == "reference"


def test_forced_triton_without_interpreter_raises(monkeypatch):
    monkeypatch.setenv(dispatch.ENV_VAR, "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(dispatch, "_materialized_interpreted", None)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        cross_entropy(torch.randn(3, 4), torch.tensor([0, 1, 2]))


def test_import_is_lazy_and_env_can_be_set_late():
    # Fresh interpreter: importing the package compiles no kernel, and the
    # backend variable set after the import is honoured on the next call.
    code = (
        "import os, torch\n"
        "import logitrepro.kernels as K\n"
        "from logitrepro.kernels import dispatch\n"
        "import importlib\n"
        "m = importlib.import_module('logitrepro.kernels.squared_hinge')\n"
        "assert isinstance(m._sq_hinge_kernel, dispatch.LazyJit)\n"
        "os.environ['LOGITREPRO_KERNEL_BACKEND'] = 'reference'\n"
        "x = torch.randn(4, 3); t = torch.tensor([0, 1, 2, 0])\n"
        "assert dispatch.select_path(x) == 'reference'\n"
        "print(float(K.squared_hinge_loss(x, t)))\n"
        "os.environ['LOGITREPRO_KERNEL_BACKEND'] = 'triton'\n"
        "try:\n    K.squared_hinge_loss(x, t)\n"
        "except RuntimeError as e:\n    assert 'TRITON_INTERPRET' in str(e); print('raised')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", dispatch.ENV_VAR)}
    src = str(Path(logitrepro.__file__).resolve().parents[1])  # works installed or from a checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("raised")
