import math

import pytest
import torch

from logitrepro.kernels import bin_centers, fourier_head_logpmf, fourier_head_logpmf_ref, fourier_regularizer
from logitrepro.kernels.fourier_head import (
    as_complex,
    autocorrelation,
    autocorrelation_from_power,
    fourier_head_logpmf_power,
    fourier_power,
)


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


# ---------------------------------------------------------------- the paper's definition, by hand
# a = (1, 0.5, 0.25i): N = 2. Autocorrelation c_k = sum_j a_{j+k} conj(a_j), worked out on paper:
#   c_0 = 1 + 0.25 + 0.0625 = 1.3125,  c_1 = 0.5 * 1 + 0.25i * 0.5 = 0.5 + 0.125i,  c_2 = 0.25i * 1 = 0.25i.
# Density p(x) = 1/2 + Re(c_1 e^{i pi x} + c_2 e^{2 i pi x}) / c_0
#              = 1/2 + (0.5 cos(pi x) - 0.125 sin(pi x) - 0.25 sin(2 pi x)) / 1.3125,
# at the m = 4 bin centres x = -3/4, -1/4, 1/4, 3/4, where cos(pi x) = -r, r, r, -r, sin(pi x) = -r, -r, r, r
# (r = sqrt(2)/2) and sin(2 pi x) = 1, -1, 1, -1. Their sum is m/2 = 2 (sum_j e^{i pi k x_j} = 0 for 0 < k < 2m).
# Regulariser 2 * mean_batch sum_k 2 pi^2 k^2 |c_k|^2 = 4 pi^2 (|c_1|^2 + 4 |c_2|^2) = 4 pi^2 (0.265625 + 0.25).

R = math.sqrt(2) / 2
HAND_C = [1.3125, complex(0.5, 0.125), complex(0, 0.25)]
HAND_P = [
    0.5 + (0.5 * -R - 0.125 * -R - 0.25 * 1) / 1.3125,
    0.5 + (0.5 * R - 0.125 * -R - 0.25 * -1) / 1.3125,
    0.5 + (0.5 * R - 0.125 * R - 0.25 * 1) / 1.3125,
    0.5 + (0.5 * -R - 0.125 * R - 0.25 * -1) / 1.3125,
]
HAND_REG = 4 * math.pi**2 * (0.265625 + 0.25)


def _hand_coeffs(dtype=torch.float64):
    return torch.tensor([[1.0, 0.5, 0.0, 0.0, 0.0, 0.25]], dtype=dtype)  # real parts, then imaginary parts


def test_the_hand_example_is_a_density_at_the_bin_centres():
    assert sum(HAND_P) == pytest.approx(2.0, abs=1e-12) and min(HAND_P) > 0


def test_autocorrelation_matches_the_hand_derivation():
    c = as_complex(autocorrelation(_hand_coeffs()))[0]
    for k in range(3):
        assert complex(c[k]) == pytest.approx(HAND_C[k], abs=1e-12)
    _, c_ref = fourier_head_logpmf_ref(_hand_coeffs(), 4)  # the kernels' c is normalised by Re(c_0)
    for k in range(3):
        assert complex(as_complex(c_ref)[0, k]) == pytest.approx(HAND_C[k] / 1.3125, abs=1e-12)


@pytest.mark.parametrize("path", ["power", "reference", "fast"])
def test_every_path_gives_the_hand_pmf_at_the_bin_centres(path, fast_backend):
    expect = torch.tensor([[math.log(p / 2.0 + 1e-5) for p in HAND_P]], dtype=torch.float64)
    if path == "power":
        logits = fourier_head_logpmf_power(_hand_coeffs(), 4)
    elif path == "reference":
        logits, _ = fourier_head_logpmf_ref(_hand_coeffs(), 4)
    else:
        logits, _ = fourier_head_logpmf(_hand_coeffs(), 4)
    torch.testing.assert_close(logits, expect, atol=1e-12, rtol=1e-12)


def test_the_power_form_is_twice_c0_times_the_density():
    # |S(x)|^2 = 2 c_0 p(x): the power form's samples are the density up to the constant 2 c_0
    power = fourier_power(_hand_coeffs(), 4)[0]
    torch.testing.assert_close(power, torch.tensor(HAND_P, dtype=torch.float64) * 2 * 1.3125, atol=1e-12, rtol=0)


def test_the_regulariser_matches_the_hand_value_and_averages_over_the_batch():
    a = _hand_coeffs()
    assert fourier_regularizer(autocorrelation(a)).item() == pytest.approx(HAND_REG, rel=1e-12)
    # 2a has the same pmf but c_k 4 times larger: 16 times the penalty; the batch mean is (1 + 16) / 2
    both = torch.cat([a, 2 * a])
    assert fourier_regularizer(autocorrelation(both)).item() == pytest.approx(8.5 * HAND_REG, rel=1e-12)


def test_c_k_from_m_samples_of_the_power_is_exact_below_half_the_bins():
    a = _coeffs(6, 20, dtype=torch.float64, seed=5)  # N = 20 < 50 / 2
    from_power = autocorrelation_from_power(fourier_power(a, 50), 21)
    torch.testing.assert_close(from_power, autocorrelation(a), atol=1e-10, rtol=1e-10)
    assert autocorrelation_from_power(fourier_power(_hand_coeffs(), 5), 3)[0, :3].tolist() == pytest.approx(
        [1.3125, 0.5, 0.0], abs=1e-12
    )
    with pytest.raises(ValueError, match="N < m/2"):
        autocorrelation_from_power(fourier_power(a, 40), 21)  # 2N = 40: frequencies alias


def test_the_power_form_equals_the_reference_and_is_closer_to_fp64_in_fp32():
    a = _coeffs(64, 12, seed=6) * 0.01  # the toy's initial scale
    exact, _ = fourier_head_logpmf_ref(a.double(), 50)
    torch.testing.assert_close(fourier_head_logpmf_power(a.double(), 50), exact, atol=1e-10, rtol=1e-10)
    err_power = (fourier_head_logpmf_power(a, 50).double() - exact).abs().max()
    err_ref32 = (fourier_head_logpmf_ref(a, 50)[0].double() - exact).abs().max()
    assert err_power < err_ref32 / 10, (err_power, err_ref32)


def test_the_power_form_takes_leading_dimensions_and_differentiates():
    a = _coeffs(6, 4, dtype=torch.float64, seed=7).view(2, 3, 10).requires_grad_(True)
    out = fourier_head_logpmf_power(a, 9)
    torch.testing.assert_close(out.reshape(6, 9), fourier_head_logpmf_ref(a.detach().reshape(6, 10), 9)[0])
    assert torch.autograd.gradcheck(lambda z: fourier_head_logpmf_power(z, 9), (a,))
