import math

import pytest
import torch
import torch.nn.functional as F

from logitrepro.kernels import (
    ls_attention,
    ls_attention_ref,
    max_attention_logit,
    max_attention_logits,
    sliding_window_attention,
    sliding_window_attention_ref,
)
from logitrepro.kernels.sliding_window_attention import _SWACpu


def _qkv(b, h, t, d, device="cpu", dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, t, d, generator=g).to(device, dtype) for _ in range(3)]


def _band(t, window, device="cpu"):
    i = torch.arange(t, device=device)
    rel = i[None, :] - i[:, None]  # key - query
    return (rel <= 0) & (rel > -window)  # [T, T]


def _dense_naive(q, k, v, window):
    # The N x N masked attention the fast paths must never build.
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~_band(q.shape[2], window, q.device), float("-inf"))
    return torch.softmax(s, -1) @ v


@pytest.mark.parametrize("b,h,t,d,window", [(2, 2, 45, 16, 7), (1, 1, 45, 24, 20), (1, 2, 33, 16, 64)])
def test_triton_matches_ref(triton_backend, device, fwd_bwd, assert_all_close, b, h, t, d, window):
    qkv = _qkv(b, h, t, d, device)
    outs, grads = fwd_bwd(lambda q, k, v: sliding_window_attention(q, k, v, window), qkv)
    outs_r, grads_r = fwd_bwd(lambda q, k, v: sliding_window_attention_ref(q, k, v, window), qkv)
    assert_all_close(outs, outs_r, atol=2e-5, rtol=1e-4, what="out")
    assert_all_close(grads, grads_r, atol=2e-5, rtol=1e-4, what="dq,dk,dv")


@pytest.mark.parametrize("n_global", [1, 2])
def test_triton_ls_matches_ref(triton_backend, device, fwd_bwd, assert_all_close, n_global):
    qkv = _qkv(1, 3, 45, 16, device, seed=1)
    outs, grads = fwd_bwd(lambda q, k, v: ls_attention(q, k, v, 7, n_global), qkv)
    outs_r, grads_r = fwd_bwd(lambda q, k, v: ls_attention_ref(q, k, v, 7, n_global), qkv)
    assert_all_close(outs, outs_r, atol=2e-5, rtol=1e-4, what="out")
    assert_all_close(grads, grads_r, atol=2e-5, rtol=1e-4, what="dq,dk,dv")


@pytest.mark.parametrize("t,window", [(45, 7), (45, 1), (45, 45), (10, 64), (130, 32), (200, 70)])
def test_cpu_path_matches_ref(fast_backend, fwd_bwd, assert_all_close, t, window):
    qkv = _qkv(2, 3, t, 8, seed=2)
    outs, grads = fwd_bwd(lambda q, k, v: sliding_window_attention(q, k, v, window), qkv)
    outs_r, grads_r = fwd_bwd(lambda q, k, v: sliding_window_attention_ref(q, k, v, window), qkv)
    assert_all_close(outs, outs_r, atol=2e-5, rtol=1e-4, what="out")
    assert_all_close(grads, grads_r, atol=2e-5, rtol=1e-4, what="dq,dk,dv")


def test_cpu_ls_matches_ref(fast_backend, fwd_bwd, assert_all_close):
    qkv = _qkv(1, 4, 45, 8, seed=3)
    outs, grads = fwd_bwd(lambda q, k, v: ls_attention(q, k, v, 7, 1), qkv)
    outs_r, grads_r = fwd_bwd(lambda q, k, v: ls_attention_ref(q, k, v, 7, 1), qkv)
    assert_all_close(outs, outs_r, atol=2e-5, rtol=1e-4, what="out")
    assert_all_close(grads, grads_r, atol=2e-5, rtol=1e-4, what="dq,dk,dv")


def test_gradcheck_ref_and_cpu_backward():
    qkv = tuple(x.requires_grad_(True) for x in _qkv(1, 2, 10, 4, dtype=torch.float64, seed=4))
    assert torch.autograd.gradcheck(lambda q, k, v: sliding_window_attention_ref(q, k, v, 3), qkv)
    assert torch.autograd.gradcheck(lambda q, k, v: ls_attention_ref(q, k, v, 3, 1), qkv)
    # The CPU path has a hand-written backward: check it directly too.
    assert torch.autograd.gradcheck(lambda q, k, v: _SWACpu.apply(q, k, v, 3), qkv)


@pytest.mark.parametrize("window", [1, 4, 50])
def test_ref_matches_dense_masked_attention(window):
    q, k, v = _qkv(2, 2, 23, 5, dtype=torch.float64, seed=5)
    torch.testing.assert_close(sliding_window_attention_ref(q, k, v, window), _dense_naive(q, k, v, window))
    torch.testing.assert_close(ls_attention_ref(q, k, v, window, 1)[:, 1:], _dense_naive(q, k, v, 23)[:, 1:])


@pytest.mark.parametrize("window", [None, 5])
def test_max_attention_logit(window):
    q, k, _ = _qkv(2, 3, 40, 8, seed=6)
    s = q @ k.transpose(-1, -2) / math.sqrt(8)
    allowed = _band(40, 40 if window is None else window)
    expect = s.masked_fill(~allowed, float("-inf")).amax(dim=(-1, -2))
    torch.testing.assert_close(max_attention_logit(q, k, window, block=16), expect)


@pytest.mark.parametrize("t, block", [(40, 16), (40, 64), (37, 8)])
def test_max_attention_logits_are_both_maxima_to_the_bit(t, block):
    # One Q K^T for both maxima: the numbers of the two separate calls (and of a dense masked
    # max), bit for bit, across query blocks and for a slice of the heads.
    q, k, _ = _qkv(2, 4, t, 8, seed=8)
    full, windowed = max_attention_logits(q, k, 5, block=block)
    assert torch.equal(full, max_attention_logit(q, k, block=block))
    assert torch.equal(windowed, max_attention_logit(q, k, 5, block=block))
    assert torch.equal(windowed[:, :3], max_attention_logit(q[:, :3], k[:, :3], 5, block=block))
    s = q @ k.transpose(-1, -2) / math.sqrt(8)
    torch.testing.assert_close(windowed, s.masked_fill(~_band(t, 5), float("-inf")).amax(dim=(-1, -2)))
    assert (full >= windowed).all() and (full > windowed).any()


def test_window_limits_attention():
    # Changing a key outside every query's window must not change any output.
    q, k, v = _qkv(1, 1, 20, 4, seed=7)
    out = sliding_window_attention(q, k, v, 3)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 5], v2[:, :, 5] = 100.0, 100.0  # seen only by queries 5, 6, 7
    out2 = sliding_window_attention(q, k2, v2, 3)
    changed = (out2 - out).abs().amax(dim=(0, 1, 3)) > 0
    assert changed.nonzero().flatten().tolist() == [5, 6, 7]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype):
    qkv = _qkv(2, 4, 1024, 64, "cuda")
    mask = _band(1024, 128, "cuda")
    sdpa = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref = fwd_bwd(sdpa, qkv)
    torch_lp = fwd_bwd(sdpa, [x.to(dtype) for x in qkv])
    fast = fwd_bwd(lambda q, k, v: ls_attention(q, k, v, 128, 0), [x.to(dtype) for x in qkv])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "swa")
