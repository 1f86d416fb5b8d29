import math

import pytest
import torch

from logitrepro.kernels import bin_centers, fourier_head_logpmf, fourier_head_logpmf_ref, fourier_regularizer
from logitrepro.kernels.fourier_head import as_complex


def _coeffs(b, n_freq, device="cpu", dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 2 * (n_freq + 1), generator=g).to(device, dtype)


def _errors_vs_fp64(fwd_bwd, fn, coeffs, n_bins, seed=0):
    """Kernel error in fp32 measured against the fp64 reference, next to the
    fp32 reference's own error: log(pmf + 1e-5) amplifies rounding where the
    density is near zero, so a fixed tolerance would be arbitrary."""
    exact = fwd_bwd(lambda a: fourier_head_logpmf_ref(a, n_bins), [coeffs.double()], seed)
    ref32 = fwd_bwd(lambda a: fourier_head_logpmf_ref(a, n_bins), [coeffs.float()], seed)
    got = fwd_bwd(lambda a: fn(a, n_bins), [coeffs.float()], seed)
    flat = lambda r: list(r[0]) + list(r[1])
    return flat(got), flat(ref32), flat(exact)


@pytest.mark.parametrize("n_freq,n_bins", [(8, 50), (3, 37)])
def test_triton_matches_ref(triton_backend, device, fwd_bwd, assert_lowp_ok, n_freq, n_bins):
    coeffs = _coeffs(5, n_freq, device)
    got, ref32, exact = _errors_vs_fp64(fwd_bwd, fourier_head_logpmf, coeffs, n_bins)
    # outputs: logits, c; grads: d coeffs  -- each within 2x the fp32 reference's own error
    assert_lowp_ok(got, ref32, exact, "fourier triton")
    torch.testing.assert_close(got[0].double(), exact[0], atol=1e-3, rtol=1e-3)


def test_cpu_fast_path_matches_ref_fp64(fast_backend, fwd_bwd, assert_all_close):
    coeffs = _coeffs(7, 12, dtype=torch.float64)
    outs, grads = fwd_bwd(lambda a: fourier_head_logpmf(a, 50), [coeffs])
    outs_r, grads_r = fwd_bwd(lambda a: fourier_head_logpmf_ref(a, 50), [coeffs])
    assert_all_close(outs, outs_r, atol=1e-10, rtol=1e-10, what="logits,c")
    assert_all_close(grads, grads_r, atol=1e-10, rtol=1e-10, what="grad")


def test_cpu_fast_path_fp32(fast_backend, fwd_bwd, assert_lowp_ok):
    got, ref32, exact = _errors_vs_fp64(fwd_bwd, fourier_head_logpmf, _coeffs(6, 10), 64)
    assert_lowp_ok(got, ref32, exact, "fourier fast fp32")


def test_ref_gradcheck():
    coeffs = _coeffs(3, 4, dtype=torch.float64, seed=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: fourier_head_logpmf_ref(a, 9), (coeffs,))


def test_ref_matches_explicit_sums():
    # O(N^2) autocorrelation and the density as explicit real sums, one row at a time.
    n_freq, n_bins = 5, 16
    coeffs = _coeffs(2, n_freq, dtype=torch.float64, seed=3)
    logits, c = fourier_head_logpmf_ref(coeffs, n_bins)
    c = as_complex(c)
    x = bin_centers(n_bins, dtype=torch.float64)
    for row in range(2):
        a = [complex(coeffs[row, j], coeffs[row, n_freq + 1 + j]) for j in range(n_freq + 1)]
        ck = [sum(a[j + k] * a[j].conjugate() for j in range(n_freq + 1 - k)) for k in range(n_freq + 1)]
        ck = [v / ck[0].real for v in ck]
        for k in range(n_freq + 1):
            assert complex(c[row, k]) == pytest.approx(ck[k], abs=1e-12)
        p = [
            0.5
            + sum(
                (ck[k] * complex(math.cos(math.pi * k * xi), math.sin(math.pi * k * xi))).real
                for k in range(1, n_freq + 1)
            )
            for xi in x.tolist()
        ]
        assert min(p) >= -1e-12  # the autocorrelation keeps the density non-negative
        pmf = [pi / sum(p) for pi in p]
        expect = torch.tensor([math.log(v + 1e-5) for v in pmf], dtype=torch.float64)
        torch.testing.assert_close(logits[row], expect, atol=1e-12, rtol=1e-10)


def test_pmf_is_normalised(fast_backend):
    logits, _ = fourier_head_logpmf(_coeffs(4, 6, dtype=torch.float64), 30)
    pmf = logits.exp() - 1e-5
    torch.testing.assert_close(pmf.sum(-1), torch.ones(4, dtype=torch.float64))


def test_regularizer_matches_loop():
    c = _coeffs(3, 4, dtype=torch.float64, seed=4)
    cc = as_complex(c)
    expect = 2 * sum(sum(2 * math.pi**2 * k**2 * abs(complex(cc[b, k])) ** 2 for k in range(5)) for b in range(3)) / 3
    assert fourier_regularizer(c).item() == pytest.approx(expect, rel=1e-12)
    assert fourier_regularizer(cc).item() == pytest.approx(expect, rel=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision(triton_backend, fwd_bwd, assert_lowp_ok, dtype):
    coeffs = _coeffs(256, 64, "cuda")
    ref = fwd_bwd(lambda a: fourier_head_logpmf_ref(a, 512), [coeffs])
    # No complex bf16 in PyTorch: its "same dtype" run is the fp32 maths on rounded inputs, outputs rounded.
    torch_lp = fwd_bwd(
        lambda a: tuple(o.to(dtype) for o in fourier_head_logpmf_ref(a.float(), 512)), [coeffs.to(dtype)]
    )
    fast = fwd_bwd(lambda a: fourier_head_logpmf(a, 512), [coeffs.to(dtype)])
    assert_lowp_ok(fast[0] + fast[1], torch_lp[0] + torch_lp[1], ref[0] + ref[1], "fourier")
