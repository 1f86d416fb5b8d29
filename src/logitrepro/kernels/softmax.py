"""Row softmax over the last dimension.

Two Triton paths: rows that fit in one block are loaded once (max, exp, sum,
store); longer rows use an online two-pass scheme (pass 1: running max and
rescaled sum; pass 2: write exp(x - m) / s), so any row length works with a
bounded block.  Backward: dx = y * (dy - sum(y * dy)), same one/two-pass split.
The CPU path is ``torch.softmax``; ``softmax_ref`` spells out the formula.
"""

from __future__ import annotations

import torch

from .dispatch import import_tl, lazy_jit, next_power_of_2, select_path, upcast

tl = import_tl()

# Rows longer than this take the online two-pass path (tests lower it).
MAX_FUSED_COLS = 8192


def softmax_ref(x: torch.Tensor) -> torch.Tensor:
    """exp(x - max) / sum, in fp32, over the last dim."""
    xf = upcast(x)
    e = torch.exp(xf - xf.amax(dim=-1, keepdim=True))
    return (e / e.sum(dim=-1, keepdim=True)).to(x.dtype)


# ----------------------------------------------------------------------------- Triton


@lazy_jit
def _softmax_fwd_kernel(X, Y, stride_x, stride_y, V, BLOCK_V: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = X + row * stride_x
    y_row = Y + row * stride_y
    if ONE_PASS:
        cols = tl.arange(0, BLOCK_V)
        mask = cols < V
        x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
        e = tl.exp(x - tl.max(x, axis=0))
        tl.store(y_row + cols, e / tl.sum(e, axis=0), mask=mask)
    else:
        m = float("-inf")
        s = 0.0
        for start in range(0, V, BLOCK_V):
            cols = start + tl.arange(0, BLOCK_V)
            x = tl.load(x_row + cols, mask=cols < V, other=float("-inf")).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, axis=0))
            m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
            s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe), axis=0)
            m = m_new
        inv_s = 1.0 / s
        for start in range(0, V, BLOCK_V):
            cols = start + tl.arange(0, BLOCK_V)
            mask = cols < V
            x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
            tl.store(y_row + cols, tl.exp(x - m) * inv_s, mask=mask)


@lazy_jit
def _softmax_bwd_kernel(Y, DY, DX, stride_y, stride_dy, stride_dx, V, BLOCK_V: tl.constexpr, ONE_PASS: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    y_row = Y + row * stride_y
    dy_row = DY + row * stride_dy
    dx_row = DX + row * stride_dx
    if ONE_PASS:
        cols = tl.arange(0, BLOCK_V)
        mask = cols < V
        y = tl.load(y_row + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_row + cols, mask=mask, other=0.0).to(tl.float32)
        tl.store(dx_row + cols, y * (dy - tl.sum(y * dy, axis=0)), mask=mask)
    else:
        dot = 0.0
        for start in range(0, V, BLOCK_V):
            cols = start + tl.arange(0, BLOCK_V)
            mask = cols < V
            y = tl.load(y_row + cols, mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dy_row + cols, mask=mask, other=0.0).to(tl.float32)
            dot += tl.sum(y * dy, axis=0)
        for start in range(0, V, BLOCK_V):
            cols = start + tl.arange(0, BLOCK_V)
            mask = cols < V
            y = tl.load(y_row + cols, mask=mask, other=0.0).to(tl.float32)
            dy = tl.load(dy_row + cols, mask=mask, other=0.0).to(tl.float32)
            tl.store(dx_row + cols, y * (dy - dot), mask=mask)


def _blocking(v: int):
    one_pass = v <= MAX_FUSED_COLS
    block = next_power_of_2(v) if one_pass else next_power_of_2(min(v, MAX_FUSED_COLS))
    num_warps = 4 if block <= 2048 else (8 if block <= 8192 else 16)
    return block, one_pass, num_warps


def _fwd(x2: torch.Tensor) -> torch.Tensor:
    n, v = x2.shape
    y = torch.empty_like(x2)
    block, one_pass, num_warps = _blocking(v)
    _softmax_fwd_kernel[(n,)](
        x2, y, x2.stride(0), y.stride(0), v, BLOCK_V=block, ONE_PASS=one_pass, num_warps=num_warps
    )
    return y


def _bwd(y2: torch.Tensor, dy2: torch.Tensor) -> torch.Tensor:
    n, v = y2.shape
    dx = torch.empty_like(y2)
    block, one_pass, num_warps = _blocking(v)
    _softmax_bwd_kernel[(n,)](
        y2, dy2, dx, y2.stride(0), dy2.stride(0), dx.stride(0), v, BLOCK_V=block, ONE_PASS=one_pass, num_warps=num_warps
    )
    return dx


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        shape = x.shape
        y = _fwd(x.reshape(-1, shape[-1]).contiguous())
        ctx.save_for_backward(y)
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy):
        (y,) = ctx.saved_tensors
        dx = _bwd(y, dy.reshape(y.shape).contiguous())
        return dx.view(dy.shape)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension of ``x`` (any leading shape)."""
    path = select_path(x)
    if path == "triton":
        return Softmax.apply(x)
    if path == "reference":
        return softmax_ref(x)
    return torch.softmax(x, dim=-1)
