"""Cross-entropy on logits with an online softmax and optional z-loss.

    loss = mean_{valid rows} [ lse_n - x[n, t_n] + z_loss * lse_n^2 ],   lse_n = logsumexp_v x[n, v]

The Triton kernel makes one pass over a row for the running max and sum
(online softmax: rescale the running sum whenever the max grows) and a second
pass that writes the gradient (softmax * (1 + 2 z lse) - onehot), so the
backward is one multiply.  Rows whose target equals ``ignore_index`` count for
nothing.  ``lse`` is returned detached (for logging / monitoring z-loss).

The same row kernel takes an optional per-column additive bias: the VQ-Logits
loss (vq_logits.py) is a cross-entropy over codes with log code weights added.
"""

from __future__ import annotations

import torch

from .dispatch import import_tl, is_interpreter, lazy_jit, next_power_of_2, select_path, upcast

tl = import_tl()

# Largest column block one program holds on chip; longer rows loop over blocks.
# Tests lower it to exercise the multi-block online path at small V.
MAX_BLOCK_V = 8192


# ----------------------------------------------------------------------------- reference


def cross_entropy_ref(logits: torch.Tensor, target: torch.Tensor, z_loss: float = 0.0, ignore_index: int = -100):
    """Plain PyTorch: logsumexp, gather, masked mean.  Returns (loss, lse.detach())."""
    x = upcast(logits)
    lse = torch.logsumexp(x, dim=1)  # [N]
    valid = target != ignore_index  # [N]
    safe_t = torch.where(valid, target, torch.zeros_like(target))
    x_t = x.gather(1, safe_t[:, None]).squeeze(1)  # [N]
    per_row = (lse - x_t + z_loss * lse * lse) * valid
    loss = per_row.sum() / valid.sum().clamp(min=1)
    return loss.to(logits.dtype), lse.detach()


# ----------------------------------------------------------------------------- Triton


@lazy_jit
def _ce_row_kernel(
    X,
    stride_xn,
    TARGET,
    COL_BIAS,
    LOSS_ROWS,
    LSE,
    G,
    stride_gn,
    V,
    ignore_index,
    z_loss,
    HAS_COL_BIAS: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    BLOCK_V: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    x_row = X + row * stride_xn
    t = tl.load(TARGET + row)
    valid = t != ignore_index

    # Pass 1: online max / sum-of-exp over the row, one read of the logits.
    m = float("-inf")
    s = 0.0
    for start in range(0, V, BLOCK_V):
        cols = start + tl.arange(0, BLOCK_V)
        mask = cols < V
        x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
        if HAS_COL_BIAS:
            x += tl.load(COL_BIAS + cols, mask=mask, other=0.0)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # an all -inf block so far
        s = s * tl.exp(m - m_safe) + tl.sum(tl.exp(x - m_safe), axis=0)
        m = m_new
    lse = m + tl.log(s)

    x_t = tl.load(x_row + t, mask=valid, other=0.0).to(tl.float32)
    if HAS_COL_BIAS:
        x_t += tl.load(COL_BIAS + t, mask=valid, other=0.0)
    loss = tl.where(valid, lse - x_t + z_loss * lse * lse, 0.0)
    tl.store(LOSS_ROWS + row, loss)
    tl.store(LSE + row, lse)

    if WRITE_GRAD:
        # Pass 2: d loss_row / d x = softmax * (1 + 2 z lse) - onehot(t); zero when ignored.
        g_row = G + row * stride_gn
        p_scale = tl.where(valid, 1.0 + 2.0 * z_loss * lse, 0.0)
        for start in range(0, V, BLOCK_V):
            cols = start + tl.arange(0, BLOCK_V)
            mask = cols < V
            x = tl.load(x_row + cols, mask=mask, other=float("-inf")).to(tl.float32)
            if HAS_COL_BIAS:
                x += tl.load(COL_BIAS + cols, mask=mask, other=0.0)
            g = tl.exp(x - lse) * p_scale - tl.where((cols == t) & valid, 1.0, 0.0)
            tl.store(g_row + cols, g, mask=mask)


def ce_rows_triton(x, target, col_bias=None, z_loss=0.0, ignore_index=-100, write_grad=True, grad_out=None):
    """Launch the row kernel.  x [N, V] (unit column stride).  Returns
    (loss_rows fp32 [N], lse fp32 [N], grad [N, V] unscaled or None).
    ``grad_out`` may be ``x`` itself to write the gradient in place."""
    n, v = x.shape
    loss_rows = torch.empty(n, device=x.device, dtype=torch.float32)
    lse = torch.empty(n, device=x.device, dtype=torch.float32)
    grad = None
    if write_grad:
        grad = grad_out if grad_out is not None else torch.empty_like(x)
    block_v = min(next_power_of_2(v), MAX_BLOCK_V)
    num_warps = 4 if is_interpreter(x) else (8 if block_v <= 4096 else 16)
    _ce_row_kernel[(n,)](
        x,
        x.stride(0),
        target,
        col_bias if col_bias is not None else lse,
        loss_rows,
        lse,
        grad if grad is not None else lse,
        grad.stride(0) if grad is not None else 0,
        v,
        ignore_index,
        float(z_loss),
        HAS_COL_BIAS=col_bias is not None,
        WRITE_GRAD=write_grad,
        BLOCK_V=block_v,
        num_warps=num_warps,
    )
    return loss_rows, lse, grad


# ----------------------------------------------------------------------------- CPU fast path


def ce_rows_torch(x, target, col_bias=None, z_loss=0.0, ignore_index=-100, write_grad=True, in_place=False):
    """Same contract as ``ce_rows_triton`` with torch ops and one [N, V] buffer.
    ``in_place=True`` overwrites ``x`` (fp32) with the gradient."""
    z = upcast(x)
    private = z is not x or in_place  # may we overwrite z?
    if col_bias is not None:
        z = z.add_(col_bias) if private else z + col_bias
        private = True
    lse = torch.logsumexp(z, dim=1)  # [N]
    valid = target != ignore_index
    safe_t = torch.where(valid, target, torch.zeros_like(target))
    z_t = z.gather(1, safe_t[:, None]).squeeze(1)
    loss_rows = (lse - z_t + z_loss * lse * lse) * valid
    grad = None
    if write_grad:
        # Reuse z's storage when it is already a private copy (or in place was asked).
        grad = z.sub_(lse[:, None]) if private else z - lse[:, None]
        grad.exp_()  # softmax, [N, V]
        p_scale = torch.where(valid, 1.0 + 2.0 * z_loss * lse, torch.zeros_like(lse))
        grad.mul_(p_scale[:, None])
        rows = torch.arange(x.shape[0], device=x.device)
        grad[rows, safe_t] -= valid.to(grad.dtype)
    return loss_rows, lse, grad


# ----------------------------------------------------------------------------- autograd


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, z_loss, ignore_index, triton_path):
        if logits.stride(-1) != 1:
            logits = logits.contiguous()
        need_grad = ctx.needs_input_grad[0]
        if triton_path:
            loss_rows, lse, grad = ce_rows_triton(logits, target, None, z_loss, ignore_index, need_grad)
        else:
            loss_rows, lse, grad = ce_rows_torch(logits, target, None, z_loss, ignore_index, need_grad)
            if grad is not None:
                grad = grad.to(logits.dtype)
        # A tensor, not .item(): no host sync on GPU.
        n_valid = (target != ignore_index).sum().clamp(min=1).to(torch.float32)
        ctx.save_for_backward(grad, n_valid)
        ctx.mark_non_differentiable(lse)
        return (loss_rows.sum() / n_valid).to(logits.dtype), lse

    @staticmethod
    def backward(ctx, grad_loss, grad_lse):
        grad, n_valid = ctx.saved_tensors
        # In place on our own buffer (see squared_hinge.py for why this is safe).
        return grad.mul_((grad_loss / n_valid).to(grad.dtype)), None, None, None, None


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, z_loss: float = 0.0, ignore_index: int = -100):
    """Mean cross-entropy (+ z_loss * mean lse^2) over rows whose target is not
    ``ignore_index``.  logits [N, V], target [N] int64.  Returns (loss, lse [N] fp32, detached)."""
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits [N, V] and target [N], got {tuple(logits.shape)} and {tuple(target.shape)}")
    path = select_path(logits)
    if path == "reference":
        return cross_entropy_ref(logits, target, z_loss, ignore_index)
    return CrossEntropy.apply(logits, target, float(z_loss), int(ignore_index), path == "triton")
