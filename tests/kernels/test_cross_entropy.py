import importlib

import pytest
import torch
import torch.nn.functional as F

from logitrepro.kernels import cross_entropy, cross_entropy_ref

ce_mod = importlib.import_module("logitrepro.kernels.cross_entropy")  # the package attribute is the function


def _inputs(n, v, device, dtype=torch.float32, seed=0, n_ignored=3):
    g = torch.Generator().manual_seed(seed)
    logits = (2.0 * torch.randn(n, v, generator=g)).to(device, dtype)
    target = torch.randint(0, v, (n,), generator=g)
    target[:n_ignored] = -100
    return logits, target.to(device)


@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
@pytest.mark.parametrize("max_block", [32, 8192])  # multi-block online softmax vs one block
def test_triton_matches_ref(triton_backend, device, monkeypatch, fwd_bwd, assert_all_close, z_loss, max_block):
    monkeypatch.setattr(ce_mod, "MAX_BLOCK_V", max_block)
    logits, target = _inputs(37, 131, device)
    outs, grads = fwd_bwd(lambda x: cross_entropy(x, target, z_loss=z_loss), [logits])
    outs_r, grads_r = fwd_bwd(lambda x: cross_entropy_ref(x, target, z_loss=z_loss), [logits])
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss,lse")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grad")


@pytest.mark.parametrize("z_loss", [0.0, 1e-2])
def test_cpu_path_matches_ref(fast_backend, fwd_bwd, assert_all_close, z_loss):
    logits, target = _inputs(37, 131, "cpu")
    outs, grads = fwd_bwd(lambda x: cross_entropy(x, target, z_loss=z_loss), [logits])
    outs_r, grads_r = fwd_bwd(lambda x: cross_entropy_ref(x, target, z_loss=z_loss), [logits])
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss,lse")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grad")


def test_cpu_path_leaves_logits_untouched(fast_backend):
    logits, target = _inputs(8, 16, "cpu")
    x = logits.clone().requires_grad_(True)
    cross_entropy(x, target)[0].backward()
    assert torch.equal(x.detach(), logits)


def test_ref_gradcheck():
    logits, target = _inputs(6, 7, "cpu", torch.float64, seed=1, n_ignored=1)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: cross_entropy_ref(x, target, z_loss=0.1)[0], (logits,))


def test_ref_matches_naive():
    logits, target = _inputs(9, 11, "cpu", torch.float64, seed=3, n_ignored=2)
    z = 0.05
    loss, lse = cross_entropy_ref(logits, target, z_loss=z)
    naive_lse = torch.log(torch.exp(logits).sum(1))
    valid = target != -100
    naive = F.cross_entropy(logits, target, ignore_index=-100) + z * (naive_lse[valid] ** 2).mean()
    torch.testing.assert_close(lse, naive_lse)
    torch.testing.assert_close(loss, naive)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype):
    logits, target = _inputs(2048, 32000, "cuda")
    ref = fwd_bwd(lambda x: cross_entropy_ref(x, target, 1e-4)[0], [logits])
    torch_lp = fwd_bwd(lambda x: cross_entropy_ref(x, target, 1e-4)[0], [logits.to(dtype)])
    fast = fwd_bwd(lambda x: cross_entropy(x, target, 1e-4)[0], [logits.to(dtype)])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "ce")
