"""Fourier head (Gillman et al., arXiv 2410.22269): a Fourier-series density head against a
linear head, on the authors' synthetic conditional densities (fh.toy, fh.freqs).

One run trains an arm's members (logitrepro.models.toy_heads) on one dataset and seed: the
`headline` arm holds the linear head and the Fourier head the paper reports (N = 12), the
`sweep` arm every N in 2..20 with and without the regulariser. Metrics, per member, on the
test split after the last step, as the authors compute them:
  test_kl_<member>      KL(true || predicted) averaged over test rows, log(predicted + 1e-10)
  smoothness_<member>   sum_{s=1..100} 6 / (pi^2 s^2) * ||p - GaussianFilter_s(p)||_2, mean over rows
                        (periodic Gaussian filter of radius m - 1, as theirs)
and for the sweep, per regulariser value, the Spearman correlation of N with each of them.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy import stats as sstats

from logitrepro.data.toy_densities import N_BINS, generate
from logitrepro.models.toy_heads import Member, ToyEnsemble
from logitrepro.papers.batching import batch_indices


def members_of(hp: dict) -> list[Member]:
    """The arm's members from its hparams: `linear: true` and/or Fourier `freqs` x `gammas`."""
    members = [Member("linear")] if hp.get("linear", True) else []
    members += [Member("fourier", int(n), float(g)) for n in hp.get("freqs", []) for g in hp.get("gammas", [])]
    if not members:
        raise ValueError("a Fourier-head toy arm needs linear: true or at least one of freqs x gammas")
    return members


def kl_per_row(true_pmf: np.ndarray, pred_pmf: np.ndarray) -> np.ndarray:
    """KL(true || predicted) per row, with the authors' log(predicted + 1e-10)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(true_pmf > 0, true_pmf * (np.log(true_pmf) - np.log(pred_pmf + 1e-10)), 0.0)
    return terms.sum(axis=1)


def smoothness(pmf: np.ndarray, sigmas: int = 100) -> float:
    """The authors' smoothness metric (lower is smoother), averaged over rows of (n, m)."""
    total = np.zeros(pmf.shape[0])
    for s in range(1, sigmas + 1):
        # the authors' filter: periodic boundary, kernel radius m - 1
        blurred = ndimage.gaussian_filter1d(pmf, sigma=s, axis=1, mode="wrap", radius=pmf.shape[1] - 1)
        total += 6.0 / (math.pi**2 * s**2) * np.linalg.norm(pmf - blurred, axis=1)
    return float(total.mean())


class FourierToyTask:
    def __init__(self, spec: dict):
        hp = spec["hparams"]
        self.spec, self.hp = spec, hp
        self.device = torch.device(spec.get("device", "cpu"))
        data = generate(hp["toy"], seed=spec["seed"], n=hp.get("samples", 5000))  # data seed = run seed
        self.data = {s: {k: torch.from_numpy(v).to(self.device) for k, v in d.items()} for s, d in data.items()}
        torch.manual_seed(spec["seed"])
        self.members = members_of(hp)
        self.model = ToyEnsemble(self.members, N_BINS, hp.get("fourier_init_scale", 0.01)).to(self.device)

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.hp["lr"])

    def batch(self, step: int):
        """The authors' loader: shuffled every epoch, batches of batch_size, last partial batch kept."""
        n = len(self.data["train"]["target"])
        idx = batch_indices(n, self.hp["batch_size"], self.spec["seed"], step, keep_last=True)
        idx = torch.from_numpy(idx).to(self.device)
        return self.data["train"]["inputs"][idx], self.data["train"]["target"][idx]

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        logits, coeffs = self.model(x)  # (E, B, m)
        e, b, m = logits.shape
        # every member's own mean cross-entropy, summed: each member's gradient is what it gets alone
        ce = F.cross_entropy(logits.reshape(e * b, m), y.repeat(e), reduction="none").view(e, b).mean(1)  # (E,)
        loss = ce.sum()
        if coeffs is not None:
            loss = loss + self.model.regulariser(coeffs)
        logs = {"train_loss": float(ce.detach().mean())}
        if detailed:
            logs.update({f"train_ce_{mem.name}": float(v) for mem, v in zip(self.members, ce.detach())})
        return loss, logs

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """The authors split 80/20 with no validation part: 'val' (the curves during training) reads
        the test split too. Nothing is selected on it; the claims use the last step only."""
        self.model.eval()
        d = self.data["test"]
        pred = self.model.pmf(d["inputs"]).cpu().numpy()  # (E, n, m)
        true = d["pmf"].cpu().numpy()
        out = {}
        for mem, p in zip(self.members, pred):
            out[f"{split}_kl_{mem.name}"] = float(kl_per_row(true, p).mean())
            if split == "test":
                out[f"smoothness_{mem.name}"] = smoothness(p)
        if split == "test":
            out.update(self._frequency_trends(out))
        return out

    def _frequency_trends(self, metrics: dict) -> dict[str, float]:
        """Per regulariser value with at least three N: Spearman rho of N against KL and smoothness."""
        out = {}
        for gamma in sorted({m.gamma for m in self.members if m.head == "fourier"}):
            sweep = sorted((m for m in self.members if m.head == "fourier" and m.gamma == gamma), key=lambda m: m.n_freqs)
            if len(sweep) < 3:
                continue
            ns = [m.n_freqs for m in sweep]
            for metric, key in (("test_kl", "kl"), ("smoothness", "smoothness")):
                rho = sstats.spearmanr(ns, [metrics[f"{metric}_{m.name}"] for m in sweep]).statistic
                out[f"{key}_vs_freqs_rho_g{gamma:g}"] = float(rho)
        return out


def make_task(spec: dict):
    task = spec["hparams"].get("task", "toy")
    if task == "toy":
        return FourierToyTask(spec)
    if task == "chronos":
        from logitrepro.papers.fh_chronos import make_chronos_task

        return make_chronos_task(spec)
    if task == "atari":
        from logitrepro.papers.fh_atari import make_atari_task  # imports ale-py and gymnasium

        return make_atari_task(spec)
    raise ValueError(f"fourier_head: unknown task {task!r} (known: toy, chronos, atari)")
