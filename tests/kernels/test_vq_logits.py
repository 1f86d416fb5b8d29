import pytest
import torch
import torch.nn.functional as F

from logitrepro.kernels import vq_code_log_weights, vq_logits_loss, vq_logits_loss_ref, vq_scatter_logits


def _inputs(n, k, v, d, device="cpu", dtype=torch.float32, seed=0, empty_codes=2):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g).to(device, dtype)
    codebook = (0.5 * torch.randn(k, d, generator=g)).to(device, dtype)
    # The last `empty_codes` codes get no token: their weight is -inf and must not produce NaNs.
    code_of_token = torch.randint(0, k - empty_codes, (v,), generator=g).to(device)
    target = torch.randint(0, v, (n,), generator=g).to(device)
    bias = torch.randn(v, generator=g).to(device, dtype)
    return h, codebook, code_of_token, target, bias


@pytest.mark.parametrize("with_bias", [False, True])
def test_triton_matches_ref(triton_backend, device, fwd_bwd, assert_all_close, with_bias):
    h, cb, m, y, b = _inputs(37, 13, 131, 16, device)
    ins = [h, cb, b] if with_bias else [h, cb]
    fn = lambda h, c, b=None: vq_logits_loss(h, c, m, y, b)
    ref = lambda h, c, b=None: vq_logits_loss_ref(h, c, m, y, b)
    outs, grads = fwd_bwd(fn, ins)
    outs_r, grads_r = fwd_bwd(ref, ins)
    assert torch.isfinite(outs[0]).all()
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grads h,C,b")


@pytest.mark.parametrize("with_bias", [False, True])
def test_cpu_path_matches_ref(fast_backend, fwd_bwd, assert_all_close, with_bias):
    h, cb, m, y, b = _inputs(37, 13, 131, 16)
    ins = [h, cb, b] if with_bias else [h, cb]
    outs, grads = fwd_bwd(lambda h, c, b=None: vq_logits_loss(h, c, m, y, b), ins)
    outs_r, grads_r = fwd_bwd(lambda h, c, b=None: vq_logits_loss_ref(h, c, m, y, b), ins)
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grads h,C,b")


def test_ref_gradcheck():
    h, cb, m, y, b = _inputs(5, 4, 11, 3, dtype=torch.float64, seed=1, empty_codes=1)
    ins = tuple(x.requires_grad_(True) for x in (h, cb, b))
    assert torch.autograd.gradcheck(lambda h, c, b: vq_logits_loss_ref(h, c, m, y, b), ins)
    assert torch.autograd.gradcheck(lambda h, c: vq_logits_loss_ref(h, c, m, y), ins[:2])


@pytest.mark.parametrize("with_bias", [False, True])
def test_ref_matches_dense_vocabulary_loss(fwd_bwd, assert_all_close, with_bias):
    # The O(N*K) form must equal cross-entropy over the materialised [N, V] logits.
    h, cb, m, y, b = _inputs(9, 6, 40, 5, dtype=torch.float64, seed=2)
    ins = [h, cb, b] if with_bias else [h, cb]
    outs, grads = fwd_bwd(lambda h, c, b=None: vq_logits_loss_ref(h, c, m, y, b), ins)
    dense = lambda h, c, b=None: F.cross_entropy(vq_scatter_logits(h, c, m, b), y)
    outs_d, grads_d = fwd_bwd(dense, ins)
    assert_all_close(outs, outs_d, atol=1e-12, rtol=1e-10, what="loss")
    assert_all_close(grads, grads_d, atol=1e-12, rtol=1e-10, what="grads")


def test_scatter_logits_shares_code_logit():
    h, cb, m, y, b = _inputs(3, 4, 10, 5)
    logits = vq_scatter_logits(h, cb, m)  # [N, V]
    for i in range(10):
        torch.testing.assert_close(logits[:, i], h @ cb[m[i]])
    torch.testing.assert_close(vq_scatter_logits(h, cb, m, b), logits + b)


def test_code_log_weights():
    m = torch.tensor([0, 0, 2, 2, 2])
    b = torch.tensor([0.0, 1.0, -1.0, 2.0, 3.0], dtype=torch.float64)
    w = vq_code_log_weights(m, 4, b, torch.float64)
    assert w[0].item() == pytest.approx(torch.log(1 + torch.exp(torch.tensor(1.0))).item())
    assert w[1].item() == float("-inf") and w[3].item() == float("-inf")
    assert w[2].item() == pytest.approx(torch.logsumexp(b[2:], 0).item())
    assert torch.equal(vq_code_log_weights(m, 3), torch.log(torch.tensor([2.0, 0.0, 3.0])))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype):
    h, cb, m, y, b = _inputs(4096, 1024, 50257, 256, "cuda")
    fn = lambda h, c, b: vq_logits_loss(h, c, m, y, b)
    ref_fn = lambda h, c, b: vq_logits_loss_ref(h, c, m, y, b)
    ref = fwd_bwd(ref_fn, [h, cb, b])
    torch_lp = fwd_bwd(ref_fn, [x.to(dtype) for x in (h, cb, b)])
    fast = fwd_bwd(fn, [x.to(dtype) for x in (h, cb, b)])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "vq")
