import pytest
import torch

from logitrepro.kernels import squared_hinge_loss, squared_hinge_loss_ref


def _inputs(n, c, device, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (1.5 * torch.randn(n, c, generator=g)).to(device, dtype)
    target = torch.randint(0, c, (n,), generator=g).to(device)
    return logits, target


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,c", [(37, 131), (5, 10)])
def test_triton_matches_ref(triton_backend, device, fwd_bwd, assert_all_close, reduction, n, c):
    logits, target = _inputs(n, c, device)
    outs, grads = fwd_bwd(lambda x: squared_hinge_loss(x, target, reduction), [logits])
    outs_r, grads_r = fwd_bwd(lambda x: squared_hinge_loss_ref(x, target, reduction), [logits])
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grad")


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cpu_path_matches_ref(fast_backend, fwd_bwd, assert_all_close, reduction):
    logits, target = _inputs(37, 131, "cpu")
    outs, grads = fwd_bwd(lambda x: squared_hinge_loss(x, target, reduction), [logits])
    outs_r, grads_r = fwd_bwd(lambda x: squared_hinge_loss_ref(x, target, reduction), [logits])
    assert_all_close(outs, outs_r, atol=1e-5, rtol=1e-5, what="loss")
    assert_all_close(grads, grads_r, atol=1e-6, rtol=1e-5, what="grad")


def test_ref_gradcheck():
    logits, target = _inputs(6, 5, "cpu", torch.float64, seed=1)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: squared_hinge_loss_ref(x, target), (logits,))
    assert torch.autograd.gradcheck(lambda x: squared_hinge_loss_ref(x, target, "none"), (logits,))


def test_ref_matches_explicit_loops():
    # The paper's definition, element by element (CNN-SVM, C = 1).
    logits, target = _inputs(5, 4, "cpu", torch.float64, seed=2)
    total = 0.0
    for n in range(5):
        for c in range(4):
            y = 1.0 if c == target[n] else -1.0
            total += max(0.0, 1.0 - y * logits[n, c].item()) ** 2
    assert squared_hinge_loss_ref(logits, target).item() == pytest.approx(total / 20, rel=1e-12)


def test_rejects_bad_reduction():
    logits, target = _inputs(3, 4, "cpu")
    with pytest.raises(ValueError):
        squared_hinge_loss(logits, target, "avg")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype):
    logits, target = _inputs(4096, 1000, "cuda")
    ref = fwd_bwd(lambda x: squared_hinge_loss_ref(x, target), [logits])
    torch_lp = fwd_bwd(lambda x: squared_hinge_loss_ref(x, target), [logits.to(dtype)])
    fast = fwd_bwd(lambda x: squared_hinge_loss(x, target), [logits.to(dtype)])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "sq_hinge")
