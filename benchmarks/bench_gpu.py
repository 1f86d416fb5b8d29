"""GPU check and benchmark of the Triton kernels (run through benchmarks/gpu.sh).

1. Correctness: every op, forward and all gradients, Triton vs ``<op>_ref`` in
   fp32, and in bf16 with the issue-3 tolerance (error against the fp32
   reference at most twice PyTorch's own bf16 error).
2. Speed: ``triton.testing.do_bench`` (median, p20, p80) of forward and
   forward + backward against the best PyTorch paths: FlexAttention with a
   sliding-window block mask, SDPA (causal flash, and a dense band mask),
   torch.compile of the reference, dense linear + cross-entropy.  Throughput is
   "useful" work: band FLOPs for attention (what a perfect sliding-window kernel
   must do, the same for every method), 6 N K d for VQ-Logits, and the minimal
   bytes (read the input once, write the gradient once) for the memory-bound
   ops; percentages are against an H200's ~989 dense bf16 TFLOP/s and 4.8 TB/s.

``--cpu-smoke`` runs the same code end to end on CPU under the Triton
interpreter at tiny sizes (fp32 only, wall-clock timing, torch.compile with the
eager backend, FlexAttention uncompiled) to check the script itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

SMOKE = "--cpu-smoke" in sys.argv
if SMOKE:  # must precede the first Triton kernel compilation
    os.environ["TRITON_INTERPRET"] = "1"
os.environ["LOGITREPRO_KERNEL_BACKEND"] = "triton"

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine_columns, print_table, quantiles, write_csv  # noqa: E402
from logitrepro.kernels import (  # noqa: E402
    cross_entropy,
    cross_entropy_ref,
    fourier_head_logpmf,
    fourier_head_logpmf_ref,
    ls_attention,
    ls_attention_ref,
    softmax,
    softmax_ref,
    squared_hinge_loss,
    squared_hinge_loss_ref,
    vq_logits_loss,
    vq_logits_loss_ref,
)
from logitrepro.kernels.fourier_head import _logpmf_fast  # noqa: E402

PEAK_TFLOPS = 989.0  # H200 dense bf16
PEAK_GBPS = 4800.0

SIZES = {
    "gpu": dict(
        swa=dict(B=4, H=16, T=8192, D=64, w=256, n_global=0),
        ls=dict(B=4, H=12, T=4096, D=64, w=256, n_global=4),
        ce=dict(N=16384, V=128256),
        vq=dict(N=16384, K=1024, V=50257, d=512),
        sq_hinge=dict(N=65536, C=1000),
        softmax=dict(N=16384, V=50257),
        fourier=dict(B=32768, NF=65, m=1024),
    ),
    # correctness at moderate sizes: the fp32 references must fit and run quickly
    "check": dict(
        swa=dict(B=2, H=4, T=2048, D=64, w=256, n_global=0),
        ls=dict(B=2, H=6, T=2048, D=64, w=256, n_global=2),
        ce=dict(N=2048, V=128256),
        vq=dict(N=4096, K=1024, V=50257, d=512),
        sq_hinge=dict(N=16384, C=1000),
        softmax=dict(N=4096, V=50257),
        fourier=dict(B=1024, NF=65, m=1024),
    ),
    "smoke": dict(
        swa=dict(B=1, H=2, T=64, D=16, w=16, n_global=0),
        ls=dict(B=1, H=3, T=48, D=16, w=8, n_global=1),
        ce=dict(N=8, V=300),
        vq=dict(N=8, K=16, V=100, d=16),
        sq_hinge=dict(N=16, C=10),
        softmax=dict(N=8, V=300),
        fourier=dict(B=4, NF=9, m=50),
    ),
}


def build(op, s, device, dtype):
    """-> (leaves, {method: fn}, useful flops, useful bytes).  First method: ours."""
    g = torch.Generator(device="cpu").manual_seed(0)
    rnd = lambda *shape, scale=1.0: (scale * torch.randn(*shape, generator=g)).to(device, dtype)
    compile_fn = (lambda f: torch.compile(f, backend="eager")) if SMOKE else torch.compile
    elt = torch.finfo(dtype).bits // 8
    if op in ("swa", "ls"):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        B, H, T, D, w, ng = (s[k] for k in ("B", "H", "T", "D", "w", "n_global"))
        q, k, v = rnd(B, H, T, D), rnd(B, H, T, D), rnd(B, H, T, D)
        n_local = H - ng

        def keep(b, h, q_idx, kv_idx):  # FlexAttention mask_mod: band for local heads, causal for global
            return (kv_idx <= q_idx) & ((q_idx - kv_idx < w) | (h >= n_local))

        block_mask = create_block_mask(keep, B=None, H=H, Q_LEN=T, KV_LEN=T, device=device)
        flex = flex_attention if SMOKE else torch.compile(flex_attention)
        i = torch.arange(T, device=device)
        band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < w)
        dense_mask = band.expand(H, T, T).clone()
        dense_mask[n_local:] = i[None, :] <= i[:, None]
        pairs_local = sum(min(t + 1, w) for t in range(T))
        pairs = n_local * pairs_local + ng * T * (T + 1) // 2
        flops = 4 * B * pairs * D  # QK^T and PV, 2 flops per MAC
        methods = {
            "ours_triton": lambda q, k, v: ls_attention(q, k, v, w, ng),
            "flex_attention": lambda q, k, v: flex(q, k, v, block_mask=block_mask),
            "sdpa_dense_mask": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=dense_mask),
            "sdpa_causal_full": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        }
        return [q, k, v], methods, flops, None, lambda q, k, v: ls_attention_ref(q, k, v, w, ng)
    if op == "ce":
        x = rnd(s["N"], s["V"], scale=2.0)
        t = torch.randint(0, s["V"], (s["N"],), generator=g).to(device)
        ref = lambda x: cross_entropy_ref(x, t, 1e-4)[0]
        return (
            [x],
            {
                "ours_triton": lambda x: cross_entropy(x, t, 1e-4)[0],
                "F.cross_entropy+zloss_eager": lambda x: (
                    F.cross_entropy(x, t) + 1e-4 * (torch.logsumexp(x.float(), 1) ** 2).mean()
                ),
                "compiled_ref": compile_fn(ref),
            },
            None,
            2 * x.numel() * elt,
            ref,
        )
    if op == "vq":
        N, K, V, d = s["N"], s["K"], s["V"], s["d"]
        h, cb, bias = rnd(N, d), rnd(K, d, scale=0.1), rnd(V, scale=0.1)
        W = rnd(V, d, scale=0.1)
        code = torch.randint(0, K, (V,), generator=g).to(device)
        y = torch.randint(0, V, (N,), generator=g).to(device)
        ref = lambda h, c, b, W: vq_logits_loss_ref(h, c, code, y, b)
        return (
            [h, cb, bias, W],
            {
                "ours_triton": lambda h, c, b, W: vq_logits_loss(h, c, code, y, b),
                "compiled_ref": compile_fn(ref),
                "dense_linear_ce": lambda h, c, b, W: F.cross_entropy(F.linear(h, W, b), y),
            },
            6 * N * K * d,
            None,
            ref,
        )
    if op == "sq_hinge":
        x = rnd(s["N"], s["C"])
        t = torch.randint(0, s["C"], (s["N"],), generator=g).to(device)
        ref = lambda x: squared_hinge_loss_ref(x, t)
        return (
            [x],
            {"ours_triton": lambda x: squared_hinge_loss(x, t), "eager_ref": ref, "compiled_ref": compile_fn(ref)},
            None,
            2 * x.numel() * elt,
            ref,
        )
    if op == "softmax":
        x = rnd(s["N"], s["V"], scale=3.0)
        return (
            [x],
            {
                "ours_triton": softmax,
                "torch.softmax": lambda x: torch.softmax(x, -1),
                "compiled_ref": compile_fn(softmax_ref),
            },
            None,
            2 * x.numel() * elt,
            softmax_ref,
        )
    if op == "fourier":
        a = rnd(s["B"], 2 * s["NF"])
        m = s["m"]
        ref = lambda a: fourier_head_logpmf_ref(a, m)[0]
        torch_fast = lambda a: _logpmf_fast(a, m)[0]  # the vectorised PyTorch path (FFT + matmuls)
        return (
            [a],
            {
                "ours_triton": lambda a: fourier_head_logpmf(a, m)[0],
                "torch_fft_path": torch_fast,
                "compiled_torch_fft_path": compile_fn(torch_fast),
            },
            None,
            (a.numel() + s["B"] * m) * elt,
            ref,
        )
    raise KeyError(op)


def fwd_bwd(fn, leaves, upstream):
    out = fn(*leaves)
    return torch.autograd.grad(out, leaves, upstream, allow_unused=True)


def timer(fn, device):
    if device == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, quantiles=[0.5, 0.2, 0.8])  # ms
    fn()
    xs = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        xs.append(1e3 * (time.perf_counter() - t0))
    return quantiles(xs)


def max_err(a, b):
    return 0.0 if a is None and b is None else (a.float() - b.float()).abs().max().item()


def check(op, s, device, dtypes):
    """Triton vs reference; returns rows with the errors and a pass flag."""
    rows = []
    for dtype in dtypes:
        leaves32, methods, _, _, ref = build(op, s, device, torch.float32)
        ours = methods["ours_triton"]
        ins32 = [x.detach().requires_grad_(True) for x in leaves32]
        out_ref = ref(*ins32)
        up = torch.randn_like(out_ref)
        g_ref = fwd_bwd(ref, ins32, up)
        ins = [x.detach().to(dtype).requires_grad_(True) for x in leaves32]
        out = ours(*ins)
        g = fwd_bwd(ours, ins, up.to(out.dtype))
        errs = [max_err(out, out_ref)] + [max_err(a, b) for a, b in zip(g, g_ref) if b is not None]
        if dtype == torch.float32:
            scale = max(out_ref.abs().max().item(), *(b.abs().max().item() for b in g_ref if b is not None))
            ok = max(errs) <= 1e-4 * max(1.0, scale)
            bound = 1e-4 * max(1.0, scale)
        else:  # PyTorch itself in the same dtype
            ref_lp = ref
            if op == "fourier":  # no complex bf16 in PyTorch: fp32 maths on the rounded inputs, rounded output
                ref_lp = lambda a, ref=ref, dtype=dtype: ref(a.float()).to(dtype)
            out_t = ref_lp(*ins)
            g_t = fwd_bwd(ref_lp, ins, up.to(out_t.dtype))
            errs_t = [max_err(out_t, out_ref)] + [max_err(a, b) for a, b in zip(g_t, g_ref) if b is not None]
            # twice PyTorch's own error, plus one rounding unit of the dtype (see tests/kernels/conftest.py)
            refs = [out_ref] + [b for b in g_ref if b is not None]
            bounds = [2 * et + torch.finfo(dtype).eps * (1 + r.abs().max().item()) for et, r in zip(errs_t, refs)]
            ok = all(e <= bd for e, bd in zip(errs, bounds))
            bound = max(bounds)
        rows.append(
            {"op": op, "dtype": str(dtype).replace("torch.", ""), "max_err": max(errs), "bound": bound, "ok": ok}
        )
    return rows


def bench(op, s, device, dtype):
    leaves, methods, flops, nbytes, _ = build(op, s, device, dtype)
    leaves = [x.detach().requires_grad_(True) for x in leaves]
    rows = []
    for name, fn in methods.items():
        for mode in ("fwd", "fwd_bwd"):
            try:
                if mode == "fwd":  # inference: no autograd graph, for every method alike

                    def run(fn=fn):
                        with torch.no_grad():
                            return fn(*[x.detach() for x in leaves])
                else:
                    with torch.no_grad():
                        up = torch.randn_like(fn(*leaves))
                    run = lambda fn=fn, up=up: fwd_bwd(fn, leaves, up)
                med, p20, p80 = timer(run, device)
            except Exception as e:  # a baseline that cannot run here is reported, not fatal
                rows.append({"op": op, "method": name, "mode": mode, "error": f"{type(e).__name__}: {e}"[:200]})
                continue
            row = {
                "op": op,
                "method": name,
                "mode": mode,
                "dtype": str(dtype).replace("torch.", ""),
                "size": str(s),
                "ms_median": med,
                "ms_p20": p20,
                "ms_p80": p80,
            }
            mult = 1.0 if mode == "fwd" else 3.5  # backward ~2.5x forward (flash-attention convention)
            if flops:
                row["tflops"] = mult * flops / (med * 1e-3) / 1e12
                row["pct_peak_flops"] = 100 * row["tflops"] / PEAK_TFLOPS
            if nbytes:
                row["gbps"] = (1.0 if mode == "fwd" else 1.5) * nbytes / (med * 1e-3) / 1e9
                row["pct_peak_bw"] = 100 * row["gbps"] / PEAK_GBPS
            rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", action="store_true")
    ap.add_argument("--ops", default="swa,ls,ce,vq,sq_hinge,softmax,fourier")
    ap.add_argument("--skip-check", action="store_true")
    args = ap.parse_args()
    device = "cpu" if args.cpu_smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run `bash benchmarks/gpu.sh --cpu-smoke` to test the script on CPU")
    sizes = SIZES["smoke" if args.cpu_smoke else "gpu"]
    ops = args.ops.split(",")
    dtypes = [torch.float32] if args.cpu_smoke else [torch.float32, torch.bfloat16]
    bench_dtype = torch.float32 if args.cpu_smoke else torch.bfloat16
    torch.manual_seed(0)

    check_rows = []
    if not args.skip_check:
        check_sizes = SIZES["smoke" if args.cpu_smoke else "check"]
        for op in ops:
            check_rows += check(op, check_sizes[op], device, dtypes)
        print_table(check_rows, ["op", "dtype", "max_err", "bound", "ok"])
    rows = []
    for op in ops:
        print(f"[bench] {op} {sizes[op]}", flush=True)
        rows += bench(op, sizes[op], device, bench_dtype)
    machine = machine_columns(device)
    out_dir = Path(os.environ["OUT"]) if os.environ.get("OUT") else RESULTS
    name = "gpu_cpu_smoke.csv" if args.cpu_smoke else "gpu.csv"
    path = write_csv(out_dir / name, [dict(r, **machine) for r in rows])
    write_csv(
        out_dir / name.replace(".csv", "_check.csv"), [dict(r, **machine) for r in check_rows]
    ) if check_rows else None
    print_table(
        rows,
        [
            "op",
            "method",
            "mode",
            "ms_median",
            "ms_p20",
            "ms_p80",
            "tflops",
            "pct_peak_flops",
            "gbps",
            "pct_peak_bw",
            "error",
        ],
    )
    if check_rows:
        print_table(check_rows, ["op", "dtype", "max_err", "bound", "ok"])
    print(f"wrote {path}")
    if not all(r["ok"] for r in check_rows):
        sys.exit("correctness check FAILED (see the table above)")


if __name__ == "__main__":
    main()
