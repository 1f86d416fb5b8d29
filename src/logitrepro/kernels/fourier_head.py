"""Fourier head (Gillman et al., arXiv 2410.22269): a smooth pmf over m bins of [-1, 1].

Layout.  ``coeffs`` is what the preceding ``nn.Linear(d, 2 * (N + 1))`` emits:
``coeffs[:, :N+1]`` are the real parts and ``coeffs[:, N+1:]`` the imaginary
parts of a_0..a_N.  The returned coefficients ``c`` use the same layout:
``c[:, :N+1] = Re c~_k``, ``c[:, N+1:] = Im c~_k`` (use ``as_complex``).

    c_k   = sum_{j=0}^{N-k} a_{j+k} conj(a_j)                (autocorrelation, k = 0..N)
    c~_k  = c_k / Re(c_0)                                   (c~_0 = 1)
    p(x)  = 1/2 + Re sum_{k=1}^{N} c~_k exp(i pi k x)  >= 0  (|sum_j a_j e^{i pi j x}|^2 / (2 c_0))
    pmf_j = p(x_j) / sum_l p(x_l),  x_j = -1 + (2j + 1) / m  (bin centres)
    logits = log(pmf + 1e-5)

Angles are reduced exactly in integers before the cosine: pi k x_j =
pi (k (2j+1) mod 2m) / m - pi k, so large k * m stays accurate in fp32.
The regulariser (multiply by gamma outside) is
``fourier_regularizer(c) = 2 * mean_batch sum_k 2 pi^2 k^2 |c~_k|^2``.

The power form.  Since c_k is the autocorrelation of a,
``|S(x)|^2 = |sum_j a_j e^{i pi j x}|^2 = c_0 + 2 Re sum_{k>=1} c_k e^{i pi k x}``, so
p(x) = |S(x)|^2 / (2 c_0) and pmf_j = |S(x_j)|^2 / sum_l |S(x_l)|^2: the same pmf from one real
matrix product, no autocorrelation and no complex numbers (``fourier_head_logpmf_power``, used
by the toy example). Where the regulariser needs c_k, m > 2N samples of |S|^2 determine them
exactly (``autocorrelation_from_power``; ``autocorrelation`` is the direct FFT definition).
"""

from __future__ import annotations

import functools
import math

import torch

from .dispatch import import_tl, lazy_jit, next_power_of_2, select_path

tl = import_tl()

EPS = 1e-5


def bin_centers(n_bins: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The m bin centres of [-1, 1]."""
    return -1.0 + (2.0 * torch.arange(n_bins, device=device, dtype=dtype) + 1.0) / n_bins


def as_complex(c: torch.Tensor) -> torch.Tensor:
    """[B, 2(N+1)] real/imag layout -> [B, N+1] complex."""
    nf = c.shape[-1] // 2
    return torch.complex(c[..., :nf], c[..., nf:])


def fourier_regularizer(c: torch.Tensor) -> torch.Tensor:
    """2 * mean over batch of sum_k 2 pi^2 k^2 |c_k|^2; ``c`` complex [B, N+1] or real [B, 2(N+1)]."""
    mag2 = c.abs() ** 2 if c.is_complex() else as_complex(c).abs() ** 2  # [B, N+1]
    k = torch.arange(mag2.shape[-1], device=mag2.device, dtype=mag2.dtype)
    return 2.0 * (2.0 * math.pi**2 * k**2 * mag2).sum(-1).mean()


def _check(coeffs: torch.Tensor, n_bins: int) -> int:
    if coeffs.dim() != 2 or coeffs.shape[1] % 2 or coeffs.shape[1] < 4:
        raise ValueError(f"coeffs must be [B, 2(N+1)] with N >= 1, got {tuple(coeffs.shape)}")
    if n_bins < 1:
        raise ValueError("n_bins must be positive")
    return coeffs.shape[1] // 2


# ----------------------------------------------------------------------------- reference


def fourier_head_logpmf_ref(coeffs: torch.Tensor, n_bins: int):
    """Direct transcription of the formulas (complex arithmetic, loop over k)."""
    nf = _check(coeffs, n_bins)
    a = torch.complex(coeffs[:, :nf], coeffs[:, nf:])  # [B, N+1]
    c = torch.stack([(a[:, k:] * a[:, : nf - k].conj()).sum(-1) for k in range(nf)], dim=1)  # [B, N+1]
    c = c / c[:, :1].real
    x = bin_centers(n_bins, coeffs.device, coeffs.dtype)  # [m]
    k = torch.arange(1, nf, device=coeffs.device, dtype=coeffs.dtype)  # [N]
    waves = torch.exp(1j * math.pi * k[:, None] * x[None, :])  # [N, m]
    p = 0.5 + (c[:, 1:, None] * waves[None]).sum(1).real  # [B, m]
    pmf = p / p.sum(-1, keepdim=True)
    return torch.log(pmf + EPS), torch.cat([c.real, c.imag], dim=1)


# ----------------------------------------------------------------------------- CPU fast path


@functools.lru_cache(maxsize=16)
def _basis(nf: int, n_bins: int, device: str, dtype: torch.dtype):
    """cos / sin of pi k x_j for k = 1..N, [N, m], with exact integer angle reduction."""
    k = torch.arange(1, nf, dtype=torch.int64)[:, None]
    j = torch.arange(n_bins, dtype=torch.int64)[None, :]
    phase = (k * (2 * j + 1)) % (2 * n_bins)  # exact
    theta = math.pi * phase.double() / n_bins - math.pi * k.double()
    return torch.cos(theta).to(device, dtype), torch.sin(theta).to(device, dtype)


def _logpmf_fast(coeffs: torch.Tensor, n_bins: int):
    """Vectorised over the batch: FFT autocorrelation, density as two matmuls."""
    nf = _check(coeffs, n_bins)
    a = torch.complex(coeffs[:, :nf], coeffs[:, nf:])  # [B, N+1]
    L = next_power_of_2(2 * nf - 1)  # zero padding turns circular correlation into linear
    spec = torch.fft.fft(a, n=L, dim=1)
    c = torch.fft.ifft(spec * spec.conj(), dim=1)[:, :nf]  # [B, N+1]
    c = c / c[:, :1].real
    cr, ci = c.real, c.imag
    cos_b, sin_b = _basis(nf, n_bins, str(coeffs.device), coeffs.dtype)
    p = 0.5 + cr[:, 1:] @ cos_b - ci[:, 1:] @ sin_b  # [B, m]
    pmf = p / p.sum(-1, keepdim=True)
    return torch.log(pmf + EPS), torch.cat([cr, ci], dim=1)


# ----------------------------------------------------------------------------- power form


@functools.lru_cache(maxsize=16)
def _power_basis(nf: int, n_bins: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """[[cos, sin], [-sin, cos]] of pi j x_m for j = 0..N, (2(N+1), 2m): [u, v] @ it = [Re S, Im S]
    at the bin centres, with the same exact integer angle reduction as ``_basis``."""
    j = torch.arange(nf, dtype=torch.int64)[:, None]
    m = torch.arange(n_bins, dtype=torch.int64)[None, :]
    theta = math.pi * ((j * (2 * m + 1)) % (2 * n_bins)).double() / n_bins - math.pi * j.double()
    cos, sin = torch.cos(theta), torch.sin(theta)  # [N+1, m]
    return torch.cat([torch.cat([cos, sin], 1), torch.cat([-sin, cos], 1)], 0).to(device, dtype)


def fourier_power(coeffs: torch.Tensor, n_bins: int) -> torch.Tensor:
    """coeffs [..., 2(N+1)] (real parts, then imaginary parts) -> |S(x_j)|^2 [..., m] at the bin
    centres, S(x) = sum_j a_j e^{i pi j x}. Any leading dimensions; plain tensor operations, so it
    runs (and differentiates) on every device."""
    if coeffs.shape[-1] % 2 or coeffs.shape[-1] < 4:
        raise ValueError(f"coeffs must be [..., 2(N+1)] with N >= 1, got {tuple(coeffs.shape)}")
    basis = _power_basis(coeffs.shape[-1] // 2, n_bins, str(coeffs.device), coeffs.dtype)
    s = coeffs @ basis  # [..., 2m]: Re S(x_j), then Im S(x_j)
    return s[..., :n_bins].square() + s[..., n_bins:].square()  # [..., m], >= 0


def logpmf_from_power(power: torch.Tensor) -> torch.Tensor:
    """|S(x_j)|^2 [..., m] -> logits log(pmf + 1e-5), pmf_j = |S(x_j)|^2 / sum_l |S(x_l)|^2 (the 2 c_0
    of p(x) cancels in the normalisation)."""
    return torch.log(power / power.sum(-1, keepdim=True) + EPS)


def fourier_head_logpmf_power(coeffs: torch.Tensor, n_bins: int) -> torch.Tensor:
    """coeffs [..., 2(N+1)] -> logits [..., m] = log(pmf + 1e-5) in the power form (module docstring)."""
    return logpmf_from_power(fourier_power(coeffs, n_bins))


def autocorrelation_from_power(power: torch.Tensor, n_coeffs: int) -> torch.Tensor:
    """|S(x_j)|^2 [..., m] -> the unnormalised c_k, k = 0..N (n_coeffs = N + 1), in the real/imag
    layout [..., 2(N+1)]: |S|^2 is the trigonometric polynomial sum_{|k|<=N} c_k e^{i pi k x}, and
    m equispaced samples of it give c_k = (1/m) sum_j |S(x_j)|^2 e^{-i pi k x_j} exactly while no
    two of its 2N + 1 frequencies alias, i.e. while m > 2N (the authors' regime, N < m/2)."""
    n_bins = power.shape[-1]
    if n_bins <= 2 * (n_coeffs - 1):
        raise ValueError(f"c_k from {n_bins} samples of |S|^2 needs N < m/2, got N = {n_coeffs - 1}")
    basis = _power_basis(n_coeffs, n_bins, str(power.device), power.dtype)  # [[cos, sin], [-sin, cos]]
    cos, sin = basis[:n_coeffs, :n_bins], basis[:n_coeffs, n_bins:]  # [N+1, m] each
    return torch.cat([power @ cos.T, -(power @ sin.T)], dim=-1) / n_bins  # [..., 2(N+1)]


def autocorrelation(coeffs: torch.Tensor) -> torch.Tensor:
    """coeffs [..., 2(N+1)] -> the unnormalised c_k = sum_j a_{j+k} conj(a_j), k = 0..N, in the same
    real/imag layout [..., 2(N+1)] (what the authors' regulariser weighs)."""
    nf = coeffs.shape[-1] // 2
    a = torch.complex(coeffs[..., :nf], coeffs[..., nf:])  # [..., N+1]
    length = next_power_of_2(2 * nf - 1)  # zero padding turns circular correlation into linear
    spec = torch.fft.fft(a, n=length, dim=-1)
    c = torch.fft.ifft(spec * spec.conj(), dim=-1)[..., :nf]  # [..., N+1]
    return torch.cat([c.real, c.imag], dim=-1)


# ----------------------------------------------------------------------------- Triton


@lazy_jit
def _autocorr(a_row, NF, BLOCK_F: tl.constexpr):
    # c_k as a vector over k: c += a_{j+k} * conj(a_j), looping over j.
    kk = tl.arange(0, BLOCK_F)
    cr = tl.zeros([BLOCK_F], dtype=tl.float32)
    ci = tl.zeros([BLOCK_F], dtype=tl.float32)
    for j in range(0, NF):
        uj = tl.load(a_row + j).to(tl.float32)
        vj = tl.load(a_row + NF + j).to(tl.float32)
        m = (j + kk) < NF
        u = tl.load(a_row + j + kk, mask=m, other=0.0).to(tl.float32)
        v = tl.load(a_row + NF + j + kk, mask=m, other=0.0).to(tl.float32)
        cr += u * uj + v * vj
        ci += v * uj - u * vj
    c0 = tl.sum(tl.where(kk == 0, cr, 0.0), axis=0)
    return cr / c0, ci / c0, c0


@lazy_jit
def _cos_sin(start, M, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr):
    # cos / sin of pi k x_j on a [BLOCK_M, BLOCK_F] tile, exact integer angle reduction.
    jj = start + tl.arange(0, BLOCK_M)
    kk = tl.arange(0, BLOCK_F)
    phase = (kk[None, :] * (2 * jj[:, None] + 1)) % (2 * M)
    theta = 3.141592653589793 * (phase.to(tl.float32) / M - (kk[None, :] % 2).to(tl.float32))
    return tl.cos(theta), tl.sin(theta), jj < M


@lazy_jit
def _density(crk, cik, start, M, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr):
    cos_t, sin_t, jmask = _cos_sin(start, M, BLOCK_M, BLOCK_F)
    p = 0.5 + tl.sum(crk[None, :] * cos_t - cik[None, :] * sin_t, axis=1)
    return tl.where(jmask, p, 0.0), cos_t, sin_t, jmask


@lazy_jit
def _fourier_fwd_kernel(
    A,
    stride_a,
    OUT,
    stride_o,
    CN,
    stride_c,
    NF,
    M,
    eps,
    BLOCK_F: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    a_row = A + row * stride_a
    kk = tl.arange(0, BLOCK_F)
    kmask = kk < NF
    crn, cin, c0 = _autocorr(a_row, NF, BLOCK_F)
    tl.store(CN + row * stride_c + kk, crn, mask=kmask)
    tl.store(CN + row * stride_c + NF + kk, cin, mask=kmask)
    crk = tl.where(kmask & (kk >= 1), crn, 0.0)  # the constant 1/2 stands for k = 0
    cik = tl.where(kmask & (kk >= 1), cin, 0.0)
    total = 0.0
    for start in range(0, M, BLOCK_M):
        p, _c, _s, _m = _density(crk, cik, start, M, BLOCK_M, BLOCK_F)
        total += tl.sum(p, axis=0)
    for start in range(0, M, BLOCK_M):  # recompute rather than re-read: no barrier needed
        p, _c, _s, jmask = _density(crk, cik, start, M, BLOCK_M, BLOCK_F)
        jj = start + tl.arange(0, BLOCK_M)
        tl.store(OUT + row * stride_o + jj, tl.log(p / total + eps), mask=jmask)


@lazy_jit
def _fourier_bwd_kernel(
    A,
    stride_a,
    DOUT,
    stride_do,
    DCN,
    stride_dc,
    DA,
    stride_da,
    NF,
    M,
    eps,
    BLOCK_F: tl.constexpr,
    BLOCK_M: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    a_row = A + row * stride_a
    kk = tl.arange(0, BLOCK_F)
    kmask = kk < NF
    crn, cin, c0 = _autocorr(a_row, NF, BLOCK_F)
    crk = tl.where(kmask & (kk >= 1), crn, 0.0)
    cik = tl.where(kmask & (kk >= 1), cin, 0.0)
    total = 0.0
    for start in range(0, M, BLOCK_M):
        p, _c, _s, _m = _density(crk, cik, start, M, BLOCK_M, BLOCK_F)
        total += tl.sum(p, axis=0)
    # d logit_j / d pmf_j = 1 / (pmf_j + eps); pmf = p / total couples all bins through total.
    dot = 0.0
    for start in range(0, M, BLOCK_M):
        p, _c, _s, jmask = _density(crk, cik, start, M, BLOCK_M, BLOCK_F)
        jj = start + tl.arange(0, BLOCK_M)
        g = tl.load(DOUT + row * stride_do + jj, mask=jmask, other=0.0).to(tl.float32)
        pmf = p / total
        dot += tl.sum(g / (pmf + eps) * pmf, axis=0)
    dcr = tl.zeros([BLOCK_F], dtype=tl.float32)
    dci = tl.zeros([BLOCK_F], dtype=tl.float32)
    for start in range(0, M, BLOCK_M):
        p, cos_t, sin_t, jmask = _density(crk, cik, start, M, BLOCK_M, BLOCK_F)
        jj = start + tl.arange(0, BLOCK_M)
        g = tl.load(DOUT + row * stride_do + jj, mask=jmask, other=0.0).to(tl.float32)
        pmf = p / total
        dp = tl.where(jmask, (g / (pmf + eps) - dot) / total, 0.0)  # [BM]
        dcr += tl.sum(dp[:, None] * cos_t, axis=0)
        dci -= tl.sum(dp[:, None] * sin_t, axis=0)
    kpos = kmask & (kk >= 1)
    dcr = tl.where(kpos, dcr, 0.0) + tl.load(DCN + row * stride_dc + kk, mask=kmask, other=0.0).to(tl.float32)
    dci = tl.where(kpos, dci, 0.0) + tl.load(DCN + row * stride_dc + NF + kk, mask=kmask, other=0.0).to(tl.float32)
    # c~ = c / Re c_0: d/dc_k = dc~_k / c0, and Re c_0 also gets - sum_k dc~_k . c~_k / c0.
    extra = -tl.sum(dcr * crn + dci * cin, axis=0) / c0
    R = dcr / c0 + tl.where(kk == 0, extra, 0.0)  # d loss / d Re c_k
    I = dci / c0  # d loss / d Im c_k
    # Through c_k = sum_j a_{j+k} conj(a_j), with a = u + i v:
    #   du_m = sum_k R_k (u_{m-k} + u_{m+k}) + I_k (v_{m+k} - v_{m-k})
    #   dv_m = sum_k R_k (v_{m-k} + v_{m+k}) + I_k (u_{m-k} - u_{m+k})
    du = tl.zeros([BLOCK_F], dtype=tl.float32)
    dv = tl.zeros([BLOCK_F], dtype=tl.float32)
    for k in range(0, NF):
        rk = tl.sum(tl.where(kk == k, R, 0.0), axis=0)
        ik = tl.sum(tl.where(kk == k, I, 0.0), axis=0)
        lo = (kk - k >= 0) & kmask
        hi = (kk + k) < NF
        u_lo = tl.load(a_row + kk - k, mask=lo, other=0.0).to(tl.float32)
        v_lo = tl.load(a_row + NF + kk - k, mask=lo, other=0.0).to(tl.float32)
        u_hi = tl.load(a_row + kk + k, mask=hi, other=0.0).to(tl.float32)
        v_hi = tl.load(a_row + NF + kk + k, mask=hi, other=0.0).to(tl.float32)
        du += rk * (u_lo + u_hi) + ik * (v_hi - v_lo)
        dv += rk * (v_lo + v_hi) + ik * (u_lo - u_hi)
    tl.store(DA + row * stride_da + kk, du, mask=kmask)
    tl.store(DA + row * stride_da + NF + kk, dv, mask=kmask)


def _blocks(nf: int, m: int):
    block_f = max(16, next_power_of_2(nf))
    block_m = max(16, min(next_power_of_2(m), max(16, 8192 // block_f)))
    return block_f, block_m


class FourierHeadLogPMF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, coeffs, n_bins):
        coeffs = coeffs.contiguous()
        b, two_nf = coeffs.shape
        nf = two_nf // 2
        out = torch.empty(b, n_bins, device=coeffs.device, dtype=coeffs.dtype)
        cn = torch.empty_like(coeffs)
        block_f, block_m = _blocks(nf, n_bins)
        _fourier_fwd_kernel[(b,)](
            coeffs,
            coeffs.stride(0),
            out,
            out.stride(0),
            cn,
            cn.stride(0),
            nf,
            n_bins,
            EPS,
            BLOCK_F=block_f,
            BLOCK_M=block_m,
        )
        ctx.save_for_backward(coeffs)
        ctx.n_bins = n_bins
        return out, cn

    @staticmethod
    def backward(ctx, dout, dcn):
        (coeffs,) = ctx.saved_tensors
        b, two_nf = coeffs.shape
        nf = two_nf // 2
        dout = torch.zeros(b, ctx.n_bins, device=coeffs.device) if dout is None else dout.contiguous()
        dcn = torch.zeros_like(coeffs) if dcn is None else dcn.contiguous()
        da = torch.empty_like(coeffs)
        block_f, block_m = _blocks(nf, ctx.n_bins)
        _fourier_bwd_kernel[(b,)](
            coeffs,
            coeffs.stride(0),
            dout,
            dout.stride(0),
            dcn,
            dcn.stride(0),
            da,
            da.stride(0),
            nf,
            ctx.n_bins,
            EPS,
            BLOCK_F=block_f,
            BLOCK_M=block_m,
        )
        return da, None


def fourier_head_logpmf(coeffs: torch.Tensor, n_bins: int):
    """coeffs [B, 2(N+1)] (real parts, then imaginary parts) -> (logits [B, m], c [B, 2(N+1)])."""
    _check(coeffs, n_bins)
    path = select_path(coeffs)
    if path == "triton":
        return FourierHeadLogPMF.apply(coeffs, int(n_bins))
    if path == "reference":
        return fourier_head_logpmf_ref(coeffs, n_bins)
    return _logpmf_fast(coeffs, n_bins)
