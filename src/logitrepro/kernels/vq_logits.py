"""VQ-Logits loss in O(N*K), never touching the V-sized vocabulary logits.

Model (docs/papers.md, VQ-Logits): codebook C [K, d], token->code map M [V], optional
per-token bias b [V].  Vocabulary logits

    L_v[n, i] = (h C^T)[n, M(i)] + b_i.

Tokens of one code share L_c, so the softmax normaliser over V collapses to
one over K with log code weights w_k = log sum_{i: M(i)=k} exp(b_i)
(= log n_k without bias, -inf for an empty code):

    lse_n = log sum_i exp(L_v[n, i]) = logsumexp_k (L_c[n, k] + w_k)
    loss  = mean_n (lse_n - L_c[n, M(y_n)] - b_{y_n})

Gradients, with P = softmax_k(L_c + w) [N, K] and G = P - onehot(M(y)):
    dL/dh = G C / N,   dL/dC = G^T h / N,
    dL/db_i = (sum_n P[n, M(i)] * q_i - count(y == i)) / N,   q_i = exp(b_i - w_{M(i)}).

The row part (logsumexp, target gather, G written over L_c in place) is the
cross-entropy row kernel with w as a column bias; the two [N,K]x[K,d] products
stay with cuBLAS / MKL.  ``vq_scatter_logits`` materialises [N, V] for
evaluation and sampling only.
"""

from __future__ import annotations

import torch

from .cross_entropy import ce_rows_torch, ce_rows_triton
from .dispatch import select_path, upcast


def vq_code_log_weights(
    code_of_token: torch.Tensor, n_codes: int, bias: torch.Tensor | None = None, dtype=torch.float32
) -> torch.Tensor:
    """w [K] = log sum_{i in code k} exp(b_i) (log n_k without bias); differentiable in b.
    Computed in ``dtype`` (fp32, or fp64 for gradcheck) or the bias's dtype if wider."""
    if bias is None:
        counts = torch.bincount(code_of_token, minlength=n_codes).to(dtype)
        return counts.log()  # log 0 = -inf for empty codes
    b = bias.to(torch.promote_types(bias.dtype, dtype))
    # Stable per-code logsumexp: subtract the per-code max before exponentiating.
    bmax = torch.full((n_codes,), float("-inf"), device=b.device, dtype=b.dtype).scatter_reduce(
        0, code_of_token, b, "amax"
    )
    bmax = bmax.detach()
    shifted = torch.exp(b - bmax[code_of_token])  # [V]
    sums = torch.zeros(n_codes, device=b.device, dtype=b.dtype).index_add(0, code_of_token, shifted)
    return torch.where(sums > 0, bmax + sums.log(), torch.full_like(sums, float("-inf")))


# ----------------------------------------------------------------------------- reference


def vq_logits_loss_ref(h, codebook, code_of_token, target, bias=None):
    """Plain PyTorch O(N*K) form; autograd does the backward."""
    k = codebook.shape[0]
    lc = upcast(h @ codebook.T)  # [N, K]
    w = vq_code_log_weights(code_of_token, k, bias, lc.dtype)  # [K]
    lse = torch.logsumexp(lc + w, dim=1)  # [N]
    tgt = lc.gather(1, code_of_token[target][:, None]).squeeze(1)  # [N]
    if bias is not None:
        tgt = tgt + upcast(bias)[target]
    return (lse - tgt).mean().to(h.dtype)


def vq_scatter_logits(h, codebook, code_of_token, bias=None):
    """Vocabulary logits [N, V] = (h C^T)[:, M] (+ b).  A gather, so index_select
    (one memory-bound kernel) is already the right tool on every device."""
    lc = h @ codebook.T  # [N, K]
    logits = lc.index_select(1, code_of_token)  # [N, V]
    return logits + bias if bias is not None else logits


# ----------------------------------------------------------------------------- autograd


class VQLogitsLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, codebook, code_of_token, target, bias, triton_path):
        n, k = h.shape[0], codebook.shape[0]
        with torch.no_grad():
            lc = upcast(h @ codebook.T).contiguous()  # [N, K] fp32; becomes G in place
            w = vq_code_log_weights(code_of_token, k, bias, lc.dtype)  # [K]
            tcode = code_of_token[target]  # [N] target codes
            if triton_path:
                loss_rows, _, g = ce_rows_triton(lc, tcode, w, grad_out=lc)
            else:
                loss_rows, _, g = ce_rows_torch(lc, tcode, w, in_place=True)
            # Row loss above is lse - L_c[t] - w[t]; the true loss has - b_y instead of - w[t].
            correction = w[tcode] - (upcast(bias)[target] if bias is not None else 0.0)
            loss = (loss_rows + correction).sum() / n
        ctx.save_for_backward(h, codebook, code_of_token, target, tcode, bias, w, g)
        return loss.to(h.dtype)

    @staticmethod
    def backward(ctx, grad_loss):
        h, codebook, code_of_token, target, tcode, bias, w, g = ctx.saved_tensors
        n, k = g.shape
        scale = upcast(grad_loss) / n
        grad_h = grad_c = grad_b = None
        if ctx.needs_input_grad[4]:
            # sum_n P[n, k] = sum_n G[n, k] + count(target code == k)
            colsum_p = g.sum(0) + torch.bincount(tcode, minlength=k).to(g.dtype)  # [K]
            q = torch.exp(upcast(bias) - w[code_of_token])  # share of the token in its code
            counts_y = torch.bincount(target, minlength=bias.shape[0]).to(g.dtype)  # [V]
            grad_b = ((colsum_p[code_of_token] * q - counts_y) * scale).to(bias.dtype)
        g = g.mul_(scale)  # in place: our buffer, used once
        if ctx.needs_input_grad[0]:
            grad_h = (g.to(codebook.dtype) @ codebook).to(h.dtype)  # [N, d]
        if ctx.needs_input_grad[1]:
            grad_c = (g.T.to(h.dtype) @ h).to(codebook.dtype)  # [K, d]
        return grad_h, grad_c, None, None, grad_b, None


def vq_logits_loss(h, codebook, code_of_token, target, bias=None):
    """Mean VQ-Logits cross-entropy. h [N, d], codebook [K, d], code_of_token [V]
    int64, target [N] int64 token ids, bias [V] or None.  Gradients to h, C, b."""
    if h.dim() != 2 or codebook.dim() != 2 or h.shape[1] != codebook.shape[1]:
        raise ValueError(f"expected h [N, d] and codebook [K, d], got {tuple(h.shape)} and {tuple(codebook.shape)}")
    path = select_path(h)
    if path == "reference":
        return vq_logits_loss_ref(h, codebook, code_of_token, target, bias)
    return VQLogitsLoss.apply(h, codebook, code_of_token, target, bias, path == "triton")
