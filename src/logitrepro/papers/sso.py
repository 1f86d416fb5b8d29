"""Target-based surrogates for stochastic optimisation (SSO; Lavington et al., ICML 2023,
arXiv 2302.02607).

Per minibatch, SSO computes the targets z = f_theta(X) and one expensive target-space gradient
g = d loss(z, y) / dz, then takes m cheap inner steps on the surrogate

    s(theta) = loss(z) + <g, f_theta(X) - z> + 1 / (2 eta) * mean_i ||f_theta(X)_i - z_i||^2

each with an Armijo backtracking line search (step reset at every outer step). The x-axis of
every claim is the number of expensive gradients (= outer steps); wall time is recorded too.
The baselines spend one expensive gradient per step: SGD with the same Armijo line search on
the minibatch loss (SLS), and Adam.

With eta at most 1 / L, L the per-example smoothness of the loss in z (1/4 for the logistic
loss, 1/2 for softmax cross-entropy), the surrogate upper-bounds the minibatch loss at every
theta (sso.theory); each inner step checks it and counts violations.

Data: any prepared folder `load_tabular` reads. A sparse (CSR) x, as rcv1's 47,236 columns are
stored, stays sparse end to end: batches are rows gathered from a torch CSR tensor and the
linear layer multiplies it sparse x dense. Such inputs are not standardised: centring would
densify them, and LIBSVM's sets come preprocessed (rcv1's rows are normalised to unit length,
mushrooms' features are 0/1 indicators); the SSO authors train on them as they are.
`scale_inputs: none` gives the same on dense inputs.
"""
from __future__ import annotations

import math

import scipy.sparse
import torch
import torch.nn.functional as F
from torch import nn

from logitrepro.data.libsvm import load_tabular
from logitrepro.models.sparse_linear import Linear, csr_rows, to_csr_tensor
from logitrepro.papers.batching import batch_indices


def make_model(kind: str, d_in: int, d_out: int, hidden: int = 0) -> nn.Module:
    if kind == "linear":
        return Linear(d_in, d_out)
    if kind == "mlp":
        return nn.Sequential(Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    raise ValueError(f"sso model must be 'linear' or 'mlp', got {kind!r}")


def target_loss(z: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean loss over the batch in target space: z (B, K) logits/outputs, y (B,)."""
    if kind == "logistic":  # binary, y in {0, 1}, one output
        return F.binary_cross_entropy_with_logits(z[:, 0], y.float())
    if kind == "cross_entropy":
        return F.cross_entropy(z, y)
    if kind == "squared":  # y (B,) against one output, or (B, D) against D outputs
        target = y.float()[:, None] if y.dim() == 1 else y.float()
        return 0.5 * (z[:, : target.shape[1]] - target).pow(2).sum(1).mean()
    raise ValueError(f"unknown loss {kind!r}")


class NoOptimizer:
    """The training loop's optimizer slot for arms that update the parameters themselves: no
    state to step or save. (A torch optimizer as a placeholder would import torch._dynamo on
    creation, about 2 s of every job's start-up.)"""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


class ArmijoSearch:
    """Backtracking line search: the largest step alpha = alpha_max * beta^j with
    f(theta - alpha grad) <= f(theta) - c alpha ||grad||^2 (at most `max_backtracks` halvings)."""

    def __init__(self, alpha_max: float, c: float, beta: float, max_backtracks: int = 30):
        self.alpha_max, self.c, self.beta, self.max_backtracks = alpha_max, c, beta, max_backtracks

    def step(self, params: list[torch.Tensor], objective, alpha: float) -> tuple[float, float]:
        """One step on `objective()` from the current params, trying alpha first; returns (alpha, value)."""
        value = objective()
        grads = torch.autograd.grad(value, params)
        norm2 = sum(float(g.pow(2).sum()) for g in grads)
        start = [p.detach().clone() for p in params]
        with torch.no_grad():
            for _ in range(self.max_backtracks):
                for p, p0, g in zip(params, start, grads):
                    p.copy_(p0 - alpha * g)
                if float(objective()) <= float(value) - self.c * alpha * norm2:
                    break
                alpha *= self.beta
        return alpha, float(value.detach())


class SSOTask:
    def __init__(self, spec: dict):
        hp = spec["hparams"]
        self.spec, self.hp = spec, hp
        self.device = torch.device(spec.get("device", "cpu"))
        self.loss_kind = hp["loss"]
        self.splits = self._load_splits()
        x = self.splits["train"][0]
        self.n_classes = int(hp.get("classes", 2))
        d_out = 1 if self.loss_kind in ("logistic", "squared") else self.n_classes
        torch.manual_seed(spec["seed"])
        self.model = make_model(hp["model"], x.shape[1], d_out, hp.get("hidden", 0)).to(self.device)
        self.search = ArmijoSearch(hp.get("alpha_max", 1.0), hp.get("armijo_c", 0.1), hp.get("armijo_beta", 0.9))
        self.bound_checks = 0
        self.bound_violations = 0
        self.bound_worst = -math.inf  # largest loss - surrogate seen (> 0 is a violation)

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Train and test as (x (N, d) float32, y (N,) int64): pixels / 255, features
        standardised with the training split's statistics, or as stored (`scale_inputs: none`,
        and always for sparse x: see the module docstring)."""
        loaded = {split: load_tabular(self.spec["data_dir"], split) for split in ("train", "test")}
        mode = self.hp.get("scale_inputs")
        if scipy.sparse.issparse(loaded["train"][0]):
            if mode not in (None, "none"):
                raise ValueError(f"scale_inputs={mode!r} needs dense inputs; sparse inputs are used as stored")
            return {s: (to_csr_tensor(x, self.device), torch.from_numpy(y).to(self.device))
                    for s, (x, y) in loaded.items()}
        raw = {s: (torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in loaded.items()}
        if mode == "pixels":
            scale = lambda x: x / 255.0  # noqa: E731
        elif mode == "none":
            scale = lambda x: x  # noqa: E731
        else:
            train_x = raw["train"][0]
            mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-8)
            scale = lambda x: (x - mean) / std  # noqa: E731
        return {s: (scale(x).to(self.device), y.to(self.device)) for s, (x, y) in raw.items()}

    def optimizer(self):
        """Adam for the adam arm; the line-search arms update the parameters themselves."""
        if self.hp["optimizer"] == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.hp["lr"])
        return NoOptimizer()

    def batch(self, step: int):
        x, y = self.splits["train"]
        idx = torch.from_numpy(batch_indices(len(y), self.hp["batch_size"], self.spec["seed"], step)).to(self.device)
        return (csr_rows(x, idx) if x.layout == torch.sparse_csr else x[idx]), y[idx]

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        loss = target_loss(self.model(x), y, self.loss_kind)
        return loss, {"train_loss": loss.item()}

    def train_step(self, batch, optimizer, detailed: bool = False):
        """One expensive target-space gradient and what the arm does with it."""
        opt = self.hp["optimizer"]
        if opt == "adam":
            loss, logs = self.loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach(), logs
        x, y = batch
        params = [p for p in self.model.parameters()]
        if opt == "sls":  # SGD with an Armijo line search on the minibatch loss
            _, value = self.search.step(params, lambda: target_loss(self.model(x), y, self.loss_kind),
                                        self.search.alpha_max)
            return torch.tensor(value), {"train_loss": value}
        if opt != "sso":
            raise ValueError(f"unknown optimizer {opt!r}")
        with torch.no_grad():
            z = self.model(x)  # (B, K) targets
        z_var = z.clone().requires_grad_(True)
        loss_z = target_loss(z_var, y, self.loss_kind)
        (g,) = torch.autograd.grad(loss_z, z_var)  # the expensive gradient, (B, K)
        loss_z, eta = loss_z.detach(), self.hp["eta"]

        def surrogate_at(f):  # f (B, K): the model's outputs at the current parameters
            return loss_z + (g * (f - z)).sum() + (f - z).pow(2).sum(1).mean() / (2 * eta)

        alpha = self.search.alpha_max  # reset at every outer step
        for _ in range(int(self.hp["inner_steps"])):
            alpha, _ = self.search.step(params, lambda: surrogate_at(self.model(x)), alpha)
            end = self._check_bound(surrogate_at, x, y)
        return loss_z, {"train_loss": float(loss_z), "surrogate_end": end}

    def extra_state(self) -> dict:
        return {"checks": self.bound_checks, "violations": self.bound_violations, "worst": self.bound_worst}

    def load_extra_state(self, state: dict) -> None:
        self.bound_checks, self.bound_violations, self.bound_worst = state["checks"], state["violations"], state["worst"]

    @torch.no_grad()
    def _check_bound(self, surrogate_at, x, y) -> float:
        """Count whether the loss exceeds the surrogate at the current parameters; returns the surrogate."""
        f = self.model(x)  # one forward for both sides
        surrogate = float(surrogate_at(f))
        gap = float(target_loss(f, y, self.loss_kind)) - surrogate
        self.bound_checks += 1
        self.bound_worst = max(self.bound_worst, gap)
        self.bound_violations += int(gap > 1e-6 * max(1.0, abs(surrogate)))
        return surrogate

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """The claims are about the training objective: the full training set's mean loss
        (`train_objective`), with test accuracy beside it. The sets have no validation part, so
        the curves during training ('val') carry the same two numbers; nothing is selected on them."""
        x, y = self.splits["train"]
        prefix = "val_" if split == "val" else ""
        out = {f"{prefix}train_objective": float(target_loss(self.model(x), y, self.loss_kind))}
        xt, yt = self.splits["test"]
        zt = self.model(xt)
        pred = (zt[:, 0] > 0).long() if zt.shape[1] == 1 else zt.argmax(1)
        out[f"{prefix}test_acc"] = float((pred == yt).float().mean()) * 100
        if split == "test" and self.hp["optimizer"] == "sso":
            out.update(surrogate_checks=self.bound_checks, surrogate_violations=self.bound_violations,
                       surrogate_worst_gap=self.bound_worst)
        return out


def make_task(spec: dict) -> SSOTask:
    task = spec["hparams"].get("task", "supervised")
    if task == "supervised":
        return SSOTask(spec)
    if task == "imitation":
        from logitrepro.papers.sso_imitation import ImitationTask  # imports gymnasium

        return ImitationTask(spec)
    raise ValueError(f"sso: unknown task {task!r} (known: supervised, imitation)")
