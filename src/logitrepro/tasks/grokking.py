"""Grokking at the edge of numerical stability (Prieto et al., arXiv 2501.04697): modular
arithmetic trained full batch without regularisation, with Softmax or StableMax, in float32 or
float64, with or without the paper's perpendicular gradient (⊥Grad).

The data are every pair (a, b) of residues mod p with the label a + b (or a * b) mod p; a
`train_fraction` of them, drawn by torch.randperm under the run's seed before the model's weights
(the authors' random_split, so seed 42 gives their split), is trained on, the rest is the test
set (the authors have no validation split: 'val', the curves, reads the test split too; nothing
is selected on it). Every step is one full batch, in an order reshuffled from (seed, step) as the
authors reshuffle theirs.

⊥Grad (the paper's Section 6; `perp_grad`) removes from each weight tensor's gradient its
component along that tensor, g - (w.g / w.w) w, before the optimiser sees it, and (the authors'
code, `perp_rescale`) scales the result back to the gradient's norm.

Metrics (accuracies and shares in percent):
  train_acc, test_acc, train_loss, test_loss   after the last step (loss in the arm's precision)
  val_acc                                      the test split's accuracy during training (curves)
  sc_pct        the share of training samples in Softmax Collapse: the output function's normaliser,
                summed in the loss precision, equals its largest term alone
                (logitrepro.models.grokking.absorbed)
  nlm_cos       cosine of the negative full-batch gradient with the weights, all tensors as one
                vector: for the bias-free MLP, scaling the weights is the naive-loss-minimisation
                direction (it scales the logits without changing a prediction), so 1 means the
                gradient only scales the logits
  weight_norm   the L2 norm of all weights
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from logitrepro.hparams import HIGHER, LOWER, NEITHER, LoopHParams, Metric, hp
from logitrepro.minibatches import batch_indices
from logitrepro.models.grokking import MLP, Transformer, absorbed, cross_entropy
from logitrepro.tasks.base import Task as BaseTask

DTYPES = {32: torch.float32, 64: torch.float64}


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    operation: Literal["add", "product"] = "add"  # the label: (a + b) mod p or (a * b) mod p
    modulus: int = hp(113, min=2)  # p
    train_fraction: float = hp(0.4, above=0, max=1)  # share of the p^2 pairs trained on
    model: Literal["mlp", "transformer"] = "mlp"
    hidden: tuple[int, ...] = (200, 200)  # MLP hidden widths
    d_model: int = hp(128, min=1)  # transformer width, heads and depth
    heads: int = hp(4, min=1)
    layers: int = hp(1, min=1)
    head: Literal["softmax", "stablemax"] = "softmax"  # the output function of the loss
    softmax_precision: Literal[32, 64] = 32  # bits the loss (and Softmax Collapse) is computed in
    train_precision: Literal[32, 64] = 32  # bits of the weights and the forward pass
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = hp(1e-2, above=0)
    beta2: float = hp(0.99, min=0, max=1)  # AdamW's betas are (0.9, beta2)
    adam_eps: float = hp(1e-25, above=0)
    weight_decay: float = hp(0.0, min=0)  # AdamW's decoupled weight decay
    momentum: float = hp(0.0, min=0, max=1)  # SGD
    perp_grad: bool = False  # ⊥Grad: each tensor's gradient without its component along the tensor
    perp_rescale: bool = True  # ... scaled back to the gradient's norm (the authors' code)

    def check(self) -> list[tuple[str, str]]:
        if self.model == "transformer" and self.operation == "product":
            return [("operation", "the authors' transformer data (residues 1..p-1) is built for add only here")]
        return []

    def produces(self) -> dict[str, Metric]:
        scores = {"train_acc": HIGHER, "test_acc": HIGHER, "val_acc": HIGHER, "train_loss": LOWER, "test_loss": LOWER}
        # what the paper reads off a run, each a diagnostic a claim states the side of
        return super().produces() | scores | dict.fromkeys(("sc_pct", "nlm_cos", "weight_norm"), NEITHER)


def modular_pairs(p: int, operation: str, model: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of every pair in the authors' order (a outer, b inner). The MLP sees a and b
    one-hot side by side over residues 0..p-1; the transformer sees the tokens a, b over 1..p-1
    (the authors' AlgorithmicDatasetTransformer leaves 0 out)."""
    first = 0 if model == "mlp" else 1
    a = torch.arange(first, p).repeat_interleave(p - first)
    b = torch.arange(first, p).repeat(p - first)
    labels = (a + b) % p if operation == "add" else (a * b) % p
    if model == "transformer":
        return torch.stack([a, b], 1), labels
    return torch.cat([F.one_hot(a, p), F.one_hot(b, p)], 1).float(), labels


@torch.no_grad()
def perpendicular_(params, rescale: bool = True) -> None:
    """⊥Grad in place: each tensor's gradient g becomes g - (w.g / w.w) w, the part of g that
    neither grows nor shrinks w; with `rescale`, scaled back to |g|. A zero tensor (w.w = 0) or a
    gradient along w alone (nothing left) is left as it is, where the authors' 1e-30 guards give
    the same to float precision."""
    for w in params:
        if w.grad is None:
            continue
        g, v = w.grad.reshape(-1), w.detach().reshape(-1)
        vv = v @ v
        if vv == 0:
            continue
        g_perp = g - (v @ g) / vv * v
        if rescale:
            norm = g_perp.norm()
            if norm == 0:
                continue
            g_perp = g_perp * (g.norm() / norm)
        w.grad.copy_(g_perp.view_as(w.grad))


def gradient_weight_cosine(params) -> float:
    """cos(-g, w) over every tensor with a gradient, as one vector."""
    params = [w for w in params if w.grad is not None]
    g = torch.cat([w.grad.reshape(-1).double() for w in params])
    v = torch.cat([w.detach().reshape(-1).double() for w in params])
    return float(-(g @ v) / (g.norm() * v.norm()).clamp_min(1e-300))


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        self.dtype = DTYPES[hp.train_precision]
        self.loss_dtype = DTYPES[hp.softmax_precision]
        inputs, labels = modular_pairs(hp.modulus, hp.operation, hp.model)
        order = torch.randperm(len(labels))  # the split first, then the weights, as the authors' order
        n_train = int(hp.train_fraction * len(labels))
        if hp.model == "mlp":
            inputs = inputs.to(self.dtype)
            self.model = MLP(hp.modulus, hp.hidden)
        else:
            self.model = Transformer(hp.modulus, hp.d_model, hp.heads, hp.layers)
        self.model = self.model.to(device=self.device, dtype=self.dtype)
        self.data = {
            split: (inputs[idx].to(self.device), labels[idx].to(self.device))
            for split, idx in (("train", order[:n_train]), ("test", order[n_train:]))
        }

    def optimizer(self) -> torch.optim.Optimizer:
        hp = self.hp
        if hp.optimizer == "sgd":
            return torch.optim.SGD(self.model.parameters(), lr=hp.lr, momentum=hp.momentum)
        return torch.optim.AdamW(
            self.model.parameters(), lr=hp.lr, betas=(0.9, hp.beta2), eps=hp.adam_eps, weight_decay=hp.weight_decay
        )

    def batch(self, step: int):
        """The whole training set, in an order drawn from (seed, step)."""
        x, y = self.data["train"]
        idx = torch.from_numpy(batch_indices(len(y), len(y), self.seed, step)).to(self.device)
        return x[idx], y[idx]

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        logits = self.model(x)
        per_sample = cross_entropy(logits, y, self.hp.head, self.loss_dtype)
        loss = per_sample.mean()
        logs = {"train_loss": loss.item()}
        if detailed:
            logs |= self._output_scores(logits.detach(), y)
        return loss, logs

    def train_step(self, batch, optimizer, detailed: bool = False):
        """The base step, with the gradient's alignment logged before ⊥Grad removes it, and ⊥Grad
        applied between backward and the optimiser's step."""
        loss, logs = self.loss(batch, detailed)
        if not torch.isfinite(loss):
            return loss, logs
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if detailed:
            logs |= {"nlm_cos": gradient_weight_cosine(self.model.parameters()), "weight_norm": self._weight_norm()}
        if self.hp.perp_grad:
            perpendicular_(self.model.parameters(), self.hp.perp_rescale)
        optimizer.step()
        return loss, logs

    def _output_scores(self, logits: torch.Tensor, y: torch.Tensor, split: str = "train") -> dict[str, float]:
        out = {f"{split}_acc": (logits.argmax(-1) == y).double().mean().item() * 100}
        if split == "train":
            out["sc_pct"] = absorbed(logits, self.hp.head, self.loss_dtype).double().mean().item() * 100
        return out

    def _weight_norm(self) -> float:
        return float(torch.cat([w.detach().reshape(-1).double() for w in self.model.parameters()]).norm())

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        self.model.eval()
        x, y = self.data["test"]
        if split == "val":
            return {"val_acc": (self.model(x).argmax(-1) == y).double().mean().item() * 100}
        out = {}
        for part in ("train", "test"):
            x, y = self.data[part]
            logits = self.model(x)
            out[f"{part}_loss"] = cross_entropy(logits, y, self.hp.head, self.loss_dtype).mean().item()
            out |= self._output_scores(logits, y, part)
        # the final weights' full-batch gradient (eval mode: no dropout), for its alignment
        with torch.enable_grad():
            self.model.zero_grad(set_to_none=True)
            x, y = self.data["train"]
            cross_entropy(self.model(x), y, self.hp.head, self.loss_dtype).mean().backward()
        out["nlm_cos"] = gradient_weight_cosine(self.model.parameters())
        self.model.zero_grad(set_to_none=True)
        out["weight_norm"] = self._weight_norm()
        return out
