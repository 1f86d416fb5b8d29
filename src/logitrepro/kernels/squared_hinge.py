"""Squared hinge (L2-SVM, one-vs-rest) loss on logits, as in CNN-SVM (Agarap).

    loss = mean over N*C of max(0, 1 - y * o)^2,   y = +1 for the target class, -1 otherwise

The Triton kernel reads the logits once and writes both the per-row loss and
the gradient d loss / d o = -2 y max(0, 1 - y o) (unscaled), so the backward
is a single multiply by the upstream gradient and nothing else is kept.

Reductions: "mean" (over N*C, the paper's), "sum", and "none" which returns
the per-sample loss summed over classes, shape [N].
"""

from __future__ import annotations

import torch

from .dispatch import cdiv, import_tl, is_interpreter, lazy_jit, next_power_of_2, select_path, upcast

tl = import_tl()

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- reference


def squared_hinge_loss_ref(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Plain PyTorch composition; autograd does the backward."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}")
    y = -torch.ones_like(logits)  # [N, C]
    y.scatter_(1, target[:, None], 1.0)
    elem = torch.clamp(1.0 - y * logits, min=0.0) ** 2  # [N, C]
    if reduction == "mean":
        return elem.mean()
    if reduction == "sum":
        return elem.sum()
    return elem.sum(dim=1)


# ----------------------------------------------------------------------------- Triton


@lazy_jit
def _sq_hinge_kernel(
    X,
    stride_xn,
    TARGET,
    LOSS_ROWS,
    G,
    stride_gn,
    N,
    C,
    BLOCK_N: tl.constexpr,
    BLOCK_C: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
):
    # One program owns BLOCK_N rows and walks over the classes in BLOCK_C chunks.
    pid = tl.program_id(0)
    rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)  # [BN]
    row_mask = rows < N
    t = tl.load(TARGET + rows, mask=row_mask, other=-1)  # [BN]
    rows64 = rows.to(tl.int64)
    acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    for start in range(0, C, BLOCK_C):
        cols = start + tl.arange(0, BLOCK_C)  # [BC]
        mask = row_mask[:, None] & (cols[None, :] < C)  # [BN, BC]
        x = tl.load(X + rows64[:, None] * stride_xn + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        y = tl.where(cols[None, :] == t[:, None], 1.0, -1.0)
        r = tl.where(mask, tl.maximum(1.0 - y * x, 0.0), 0.0)  # hinge margin, [BN, BC]
        acc += tl.sum(r * r, axis=1)
        if WRITE_GRAD:
            tl.store(G + rows64[:, None] * stride_gn + cols[None, :], -2.0 * y * r, mask=mask)
    tl.store(LOSS_ROWS + rows, acc, mask=row_mask)


def _launch(logits: torch.Tensor, target: torch.Tensor, write_grad: bool):
    n, c = logits.shape
    loss_rows = torch.empty(n, device=logits.device, dtype=torch.float32)
    grad = torch.empty_like(logits) if write_grad else loss_rows  # dummy pointer when unused
    block_c = min(next_power_of_2(c), 1024)
    # Enough rows per program that a block holds ~4k elements (fewer, larger programs
    # also keep the interpreter fast).
    block_n = max(1, min(128 if not is_interpreter(logits) else 64, 4096 // block_c))
    _sq_hinge_kernel[(cdiv(n, block_n),)](
        logits,
        logits.stride(0),
        target,
        loss_rows,
        grad,
        grad.stride(0),
        n,
        c,
        BLOCK_N=block_n,
        BLOCK_C=block_c,
        WRITE_GRAD=write_grad,
    )
    return loss_rows, (grad if write_grad else None)


# ----------------------------------------------------------------------------- CPU fast path


def _cpu_loss_and_grad(logits: torch.Tensor, target: torch.Tensor, write_grad: bool):
    # Same fused maths as the kernel with in-place torch ops and a single [N, C]
    # buffer: the margin 1 - y*o is 1 + o off the target column and 1 - o on it.
    rows = torch.arange(logits.shape[0], device=logits.device)
    r = logits + 1.0  # [N, C]
    r[rows, target] = 1.0 - logits[rows, target]
    r.clamp_(min=0.0)
    # Row sums of r^2 as a batched dot product: no [N, C] temporary for r * r.
    loss_rows = upcast(torch.bmm(r[:, None, :], r[:, :, None]).view(-1))  # [N]
    grad = None
    if write_grad:
        grad = r.mul_(2.0)  # d/do = -2 y r, reusing r's storage
        grad[rows, target] *= -1.0
    return loss_rows, grad


# ----------------------------------------------------------------------------- autograd


class SquaredHingeLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, reduction, triton_path):
        logits = logits.contiguous() if logits.stride(-1) != 1 else logits
        need_grad = ctx.needs_input_grad[0]
        if triton_path:
            loss_rows, grad = _launch(logits, target, need_grad)
        else:
            loss_rows, grad = _cpu_loss_and_grad(logits, target, need_grad)
        n, c = logits.shape
        ctx.reduction = reduction
        ctx.scale = 1.0 / (n * c) if reduction == "mean" else 1.0
        ctx.save_for_backward(grad)
        if reduction == "none":
            return loss_rows.to(logits.dtype)
        return (loss_rows.sum() * ctx.scale).to(logits.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        # In place: the buffer is ours and used once (a second backward through a
        # retained graph fails loudly on the version counter instead of silently).
        if ctx.reduction == "none":
            g = grad.mul_(grad_out[:, None].to(grad.dtype))
        else:
            g = grad.mul_((grad_out * ctx.scale).to(grad.dtype))
        return g, None, None, None


def squared_hinge_loss(logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """One-vs-rest squared hinge loss. logits [N, C] float, target [N] int64."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}")
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits [N, C] and target [N], got {tuple(logits.shape)} and {tuple(target.shape)}")
    path = select_path(logits)
    if path == "reference":
        return squared_hinge_loss_ref(logits, target, reduction)
    return SquaredHingeLoss.apply(logits, target, reduction, path == "triton")
