"""Kernel tests: Triton kernels run under the interpreter on CPU-only machines.

TRITON_INTERPRET must be set before the first kernel is compiled (our kernels
are jitted lazily, at first launch, so setting it here, at collection time, is
early enough even if another test module imported triton first).  On a CUDA
machine the kernels run natively on the GPU instead.
"""

import os

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

DEVICE = "cuda" if CUDA else "cpu"


@pytest.fixture
def device():
    return DEVICE


@pytest.fixture
def triton_backend(monkeypatch):
    """Force the Triton path (interpreter on CPU)."""
    monkeypatch.setenv("LOGITREPRO_KERNEL_BACKEND", "triton")


@pytest.fixture
def fast_backend(monkeypatch):
    """The default dispatch on CPU tensors: the op's CPU path."""
    monkeypatch.setenv("LOGITREPRO_KERNEL_BACKEND", "auto")


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def fwd_bwd(fn, inputs, seed=0):
    """Run ``fn(*inputs)`` on leaf copies, backprop a fixed random upstream
    gradient through every differentiable output; return (outputs, grads)."""
    leaves = [x.detach().clone().requires_grad_(x.is_floating_point()) for x in inputs]
    outs = _as_tuple(fn(*leaves))
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for o in outs:
        if o.requires_grad:
            up = torch.randn(o.shape, generator=gen, dtype=torch.float32).to(o.device, o.dtype)
            total = total + (o.float() * up.float()).sum()
    total.backward()
    grads = [x.grad for x in leaves if x.requires_grad]
    return [o.detach() for o in outs], grads


def assert_all_close(got, want, atol, rtol, what=""):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g is not None and w is not None, f"{what}[{i}]: missing gradient"
        torch.testing.assert_close(g.float(), w.float(), atol=atol, rtol=rtol, msg=lambda m, i=i: f"{what}[{i}]: {m}")


def max_err(a, b):
    return (a.float() - b.float()).abs().max().item()


def assert_lowp_ok(fast_outs, torch_outs, ref_outs, what=""):
    """flash-attention style: the kernel's low-precision error against the fp32
    reference is at most twice PyTorch's own error in the same dtype, plus one
    unit of rounding of the output dtype (a scalar loss that PyTorch happens to
    round onto the exact value must not fail a kernel that lands one ulp away)."""
    for i, (f, t, r) in enumerate(zip(fast_outs, torch_outs, ref_outs)):
        ef, et = max_err(f, r), max_err(t, r)
        ulp = max(1e-5, torch.finfo(f.dtype).eps) * (1 + r.float().abs().max().item())
        assert ef <= 2 * et + ulp, f"{what}[{i}]: kernel err {ef:.3g} vs torch err {et:.3g}"


gpu = pytest.mark.skipif(not CUDA, reason="needs CUDA")


@pytest.fixture(name="fwd_bwd")
def _fwd_bwd_fixture():
    return fwd_bwd


@pytest.fixture(name="assert_all_close")
def _assert_all_close_fixture():
    return assert_all_close


@pytest.fixture(name="assert_lowp_ok")
def _assert_lowp_fixture():
    return assert_lowp_ok
