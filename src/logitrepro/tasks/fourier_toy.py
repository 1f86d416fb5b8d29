"""Fourier head (Gillman et al., arXiv 2410.22269): a Fourier-series density head against a
linear head, on the authors' synthetic conditional densities (fh.toy, fh.freqs).

One run trains an arm's members (logitrepro.models.toy_heads) on one dataset and seed: the
linear head if `linear`, and a Fourier head for every N in `freqs` and regulariser weight in
`gammas` (the config's headline arm: the authors' whole grid at paper scale, the linear head and
N = 12 at cpu scale). Metrics, per member, on the test split after the last step, as the
authors compute them (logitrepro.metrics.density):
  test_kl_<member>      KL(true || predicted) averaged over test rows, log(predicted + 1e-10)
  smoothness_<member>   sum_{s=1..100} 6 / (pi^2 s^2) * ||p - GaussianFilter_s(p)||_2, mean over rows
                        (periodic Gaussian filter of radius m - 1, as theirs)
and, per regulariser value with at least three N, the Spearman correlation of N with each of them.
With `ripple_amp` > 0 the training labels follow the density with a high-frequency ripple
(logitrepro.data.toy_densities.rippled; our test of the paper's "ignores high-frequency noise"),
test_kl is measured against the clean density (the signal), and per member
  ripple_fit_<member>   the share of the ripple the head reproduced on the test rows
                        (logitrepro.metrics.density.ripple_fit: 0 ignored, 1 learnt in full)
How far each member fitted its training data, the premise of the claims:
  train_ce_last_epoch_<member>  mean cross-entropy over the last epoch's batches, as the authors'
                                logged "loss" (toy_synthetic.py: running_loss / len(train_loader))
  train_ce_gap_<member>         that minus the training rows' conditional entropy (the mean entropy
                                of their true pmfs: the cross-entropy a model that knew the true
                                density would have)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from scipy import stats as sstats

from logitrepro.data.toy_densities import N_BINS, generate
from logitrepro.hparams import LOWER, NEITHER, LoopHParams, Metric, hp
from logitrepro.metrics.density import entropy_per_row, kl_per_row, ripple_fit, smoothness
from logitrepro.minibatches import batch_indices
from logitrepro.models.toy_heads import Member, ToyEnsemble
from logitrepro.tasks.base import Task as BaseTask


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    toy: Literal["gaussian", "gmm2", "beta"] = hp()  # the synthetic conditional density
    samples: int = hp(5000, min=10)  # generated from the run's seed, split 80/20 with seed 42
    lr: float = hp(1e-3, above=0)  # Adam
    batch_size: int = hp(32, min=1)
    fourier_init_scale: float = hp(0.01, above=0)  # the Fourier head's linear layer at 1/100 of the default init
    linear: bool = True  # a linear-head member
    freqs: tuple[int, ...] = ()  # Fourier members: N for each of these ...
    gammas: tuple[float, ...] = ()  # ... and each regulariser weight
    gamma_freqs: tuple[int, ...] | None = None  # the N that get the nonzero gammas (None: every N of freqs)
    # label noise: the density times 1 + amp cos(pi freq z); 0 = none; below 1 keeps it positive
    ripple_amp: float = hp(0.0, min=0, max=0.9)
    ripple_freq: int = hp(20, min=1, max=N_BINS // 2 - 1)  # its frequency; the 50 bins resolve up to 24

    def check(self) -> list[tuple[str, str]]:
        if not self.linear and not (self.freqs and self.gammas):
            return [("linear", "an arm needs linear: true or at least one of freqs x gammas")]
        if any(n < 1 for n in self.freqs):
            return [("freqs", f"{list(self.freqs)}: every N must be at least 1")]
        if self.gamma_freqs is not None and not set(self.gamma_freqs) <= set(self.freqs):
            return [("gamma_freqs", f"{list(self.gamma_freqs)}: every N must be one of freqs {list(self.freqs)}")]
        if self.ripple_amp > 0 and any(n >= self.ripple_freq for n in self.freqs):
            return [
                (
                    "ripple_freq",
                    f"{self.ripple_freq}: the ripple must lie above every Fourier member's N {list(self.freqs)}, "
                    "or the test asks a head to ignore what it is built to fit",
                )
            ]
        return []

    @property
    def ripple(self) -> tuple[int, float] | None:
        return (self.ripple_freq, self.ripple_amp) if self.ripple_amp > 0 else None

    def members(self) -> list[Member]:
        """The arm's members: `linear: true` and/or Fourier `freqs` x `gammas` (a nonzero gamma only
        for the N in `gamma_freqs`, when given)."""
        members = [Member("linear")] if self.linear else []
        return members + [
            Member("fourier", int(n), float(g))
            for n in self.freqs
            for g in self.gammas
            if g == 0 or self.gamma_freqs is None or n in self.gamma_freqs
        ]

    def produces(self) -> dict[str, Metric]:
        out = super().produces()
        for m in self.members():
            out |= dict.fromkeys((f"val_kl_{m.name}", f"test_kl_{m.name}", f"smoothness_{m.name}"), LOWER)
            out |= dict.fromkeys((f"train_ce_last_epoch_{m.name}", f"train_ce_gap_{m.name}"), LOWER)
            if self.ripple:  # how much of the noise a head learnt: a fit to the labels, or a fit to noise
                out[f"ripple_fit_{m.name}"] = NEITHER
        for gamma in self.gammas:
            if len([m for m in self.members() if m.head == "fourier" and m.gamma == gamma]) >= 3:
                # rank correlations with N: a trend, whose sign a claim states
                out |= dict.fromkeys((f"kl_vs_freqs_rho_g{gamma:g}", f"smoothness_vs_freqs_rho_g{gamma:g}"), NEITHER)
        return out


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        data = generate(self.hp.toy, seed=self.seed, n=self.hp.samples, ripple=self.hp.ripple)  # data seed = run seed
        self.data = {s: {k: torch.from_numpy(v).to(self.device) for k, v in d.items()} for s, d in data.items()}
        torch.manual_seed(self.seed)
        self.model = ToyEnsemble(self.hp.members(), N_BINS, self.hp.fourier_init_scale).to(self.device)
        self.members = self.model.members  # the stack's order: linear, then Fourier without and with gamma
        n_train = len(self.data["train"]["target"])
        self.steps_per_epoch = math.ceil(n_train / self.hp.batch_size)
        # the cross-entropy a model that knew the true density would have on the training rows
        self.train_entropy = float(entropy_per_row(data["train"]["pmf"]).mean())
        self.last_epoch_ce = torch.zeros(len(self.members), dtype=torch.float64)  # summed over its batches
        self.last_epoch_batches = 0
        self.step = 0

    def optimizer(self) -> torch.optim.Optimizer:
        """The authors' Adam (lr 1e-3, PyTorch's defaults otherwise). The fused implementation makes
        the same update in one kernel per step, a fifth of a toy step's time on CPU; it rounds in
        another order than the per-tensor loop, so a run is not bitwise the loop's run."""
        return torch.optim.Adam(self.model.parameters(), lr=self.hp.lr, fused=True)

    def batch(self, step: int):
        """The authors' loader: shuffled every epoch, batches of batch_size, last partial batch kept."""
        self.step = step
        n = len(self.data["train"]["target"])
        idx = batch_indices(n, self.hp.batch_size, self.seed, step, keep_last=True)
        idx = torch.from_numpy(idx).to(self.device)
        return self.data["train"]["inputs"][idx], self.data["train"]["target"][idx]

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        logits, coeffs = self.model(x)  # (E, B, m)
        e, b, m = logits.shape
        # every member's own mean cross-entropy, summed: each member's gradient is what it gets alone
        ce = F.cross_entropy(logits.reshape(e * b, m), y.repeat(e), reduction="none").view(e, b).mean(1)  # (E,)
        loss = ce.sum() + self.model.regulariser(coeffs)
        if self.step >= self.hp.steps - self.steps_per_epoch:  # the last epoch: the authors' logged loss
            self.last_epoch_ce += ce.detach().cpu().double()
            self.last_epoch_batches += 1
        logs = {"train_loss": float(ce.detach().mean())}
        if detailed:
            logs.update({f"train_ce_{mem.name}": float(v) for mem, v in zip(self.members, ce.detach())})
        return loss, logs

    def extra_state(self) -> dict:
        """The last epoch's running cross-entropy, so that a run resumed inside it reports the same."""
        return {"last_epoch_ce": self.last_epoch_ce.clone(), "last_epoch_batches": self.last_epoch_batches}

    def load_extra_state(self, state: dict) -> None:
        self.last_epoch_ce = state["last_epoch_ce"].cpu().double()
        self.last_epoch_batches = int(state["last_epoch_batches"])

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
                if "noisy_pmf" in d:
                    out[f"ripple_fit_{mem.name}"] = ripple_fit(p, true, d["noisy_pmf"].cpu().numpy())
        if split == "test":
            out.update(self._frequency_trends(out))
            out.update(self._training_fit())
        return out

    def _training_fit(self) -> dict[str, float]:
        """Per member: the mean training cross-entropy of the last epoch and its gap to the training
        rows' conditional entropy (nothing before the last epoch has been trained)."""
        if self.last_epoch_batches == 0:
            return {}
        ce = (self.last_epoch_ce / self.last_epoch_batches).tolist()
        out = {f"train_ce_last_epoch_{mem.name}": v for mem, v in zip(self.members, ce)}
        out |= {f"train_ce_gap_{mem.name}": v - self.train_entropy for mem, v in zip(self.members, ce)}
        return out

    def _frequency_trends(self, metrics: dict) -> dict[str, float]:
        """Per regulariser value with at least three N: Spearman rho of N against KL and smoothness."""
        out = {}
        for gamma in sorted({m.gamma for m in self.members if m.head == "fourier"}):
            sweep = sorted(
                (m for m in self.members if m.head == "fourier" and m.gamma == gamma), key=lambda m: m.n_freqs
            )
            if len(sweep) < 3:
                continue
            ns = [m.n_freqs for m in sweep]
            for metric, key in (("test_kl", "kl"), ("smoothness", "smoothness")):
                rho = sstats.spearmanr(ns, [metrics[f"{metric}_{m.name}"] for m in sweep]).statistic
                out[f"{key}_vs_freqs_rho_g{gamma:g}"] = float(rho)
        return out
