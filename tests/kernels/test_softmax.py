import importlib

import numpy as np
import pytest
import torch

from logitrepro.kernels import softmax, softmax_ref

sm_mod = importlib.import_module("logitrepro.kernels.softmax")  # the package attribute is the function


def _x(shape, device="cpu", dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (3.0 * torch.randn(shape, generator=g)).to(device, dtype)


@pytest.mark.parametrize("max_fused", [32, 8192])  # online two-pass vs one pass
@pytest.mark.parametrize("shape", [(37, 131), (3, 5, 33)])
def test_triton_matches_ref(triton_backend, device, monkeypatch, fwd_bwd, assert_all_close, max_fused, shape):
    monkeypatch.setattr(sm_mod, "MAX_FUSED_COLS", max_fused)
    x = _x(shape, device)
    outs, grads = fwd_bwd(softmax, [x])
    outs_r, grads_r = fwd_bwd(softmax_ref, [x])
    assert_all_close(outs, outs_r, atol=1e-6, rtol=1e-5, what="y")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="dx")


def test_cpu_path_matches_ref(fast_backend, fwd_bwd, assert_all_close):
    x = _x((37, 131))
    outs, grads = fwd_bwd(softmax, [x])
    outs_r, grads_r = fwd_bwd(softmax_ref, [x])
    assert_all_close(outs, outs_r, atol=1e-6, rtol=1e-5, what="y")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="dx")


def test_ref_gradcheck():
    x = _x((4, 6), dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(softmax_ref, (x,))


def test_ref_matches_numpy():
    x = _x((5, 9), dtype=torch.float64)
    e = np.exp(x.numpy())
    np.testing.assert_allclose(softmax_ref(x).numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("v", [1000, 50257])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype, v):
    x = _x((512, v), "cuda")
    ref = fwd_bwd(softmax_ref, [x])
    torch_lp = fwd_bwd(lambda t: torch.softmax(t, -1), [x.to(dtype)])
    fast = fwd_bwd(softmax, [x.to(dtype)])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "softmax")
