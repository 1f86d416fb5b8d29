"""Target-based surrogates for stochastic optimisation (SSO; Lavington et al., ICML 2023,
arXiv 2302.02607): the machinery both SSO tasks (supervised, online imitation) share.

Per minibatch, SSO computes the targets z = f_theta(X) and one expensive target-space gradient
g = d loss(z, y) / dz, then takes m cheap inner steps on the surrogate

    s(theta) = loss(z) + <g, f_theta(X) - z> + 1 / (2 eta) * mean_i ||f_theta(X)_i - z_i||^2

each with an Armijo backtracking line search (step reset at every outer step). The baselines
spend one expensive gradient per step: SGD with the same Armijo line search on the minibatch
loss (SLS), and Adam.

With eta at most 1 / L, L the per-example smoothness of the loss in z (1/4 for the logistic
loss, 1/2 for softmax cross-entropy), the surrogate upper-bounds the minibatch loss at every
theta (sso.theory); each inner step checks it and counts violations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from logitrepro.tasks.hparams import LoopHParams, hp


@dataclass(frozen=True, kw_only=True)
class ArmHParams(LoopHParams):
    """What an SSO arm spends its expensive gradient on; shared by the SSO tasks."""

    optimizer: Literal["sls", "adam", "sso"] = hp()  # SGD + Armijo line search, Adam, or SSO
    eta: float = hp(above=0)  # SSO's target-space step (the authors' 'optimal' value for the loss)
    inner_steps: int | None = hp(None, min=1)  # SSO: surrogate steps per expensive gradient (m)
    lr: float = hp(1e-3, above=0)  # Adam only
    alpha_max: float = hp(1.0, above=0)  # the line search's first step, at every outer step
    armijo_c: float = hp(0.1, above=0, max=1)  # sufficient decrease
    armijo_beta: float = hp(0.9, above=0, max=0.999)  # backtracking factor

    def check(self) -> list[tuple[str, str]]:
        if self.optimizer == "sso" and self.inner_steps is None:
            return [("inner_steps", "an sso arm needs inner_steps (m)")]
        return []

    def produces(self) -> set[str]:
        out = set(super().produces())
        if self.optimizer == "sso":
            out |= {"surrogate_checks", "surrogate_violations", "surrogate_worst_gap"}
        return out


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


class ArmUpdate:
    """One expensive target-space gradient and what the arm does with it, with the count of
    surrogate-bound checks and violations (kept in every checkpoint)."""

    def __init__(self, model: torch.nn.Module, hparams: ArmHParams, loss_kind: str):
        self.model, self.hp, self.loss_kind = model, hparams, loss_kind
        self.search = ArmijoSearch(hparams.alpha_max, hparams.armijo_c, hparams.armijo_beta)
        self.bound_checks = 0
        self.bound_violations = 0
        self.bound_worst = -math.inf  # largest loss - surrogate seen (> 0 is a violation)

    def optimizer(self):
        """Adam for the adam arm; the line-search arms update the parameters themselves."""
        if self.hp.optimizer == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.hp.lr)
        return NoOptimizer()

    def loss(self, batch) -> torch.Tensor:
        x, y = batch
        return target_loss(self.model(x), y, self.loss_kind)

    def step(self, batch, optimizer) -> tuple[torch.Tensor, dict[str, float]]:
        opt = self.hp.optimizer
        if opt == "adam":
            loss = self.loss(batch)
            if torch.isfinite(loss):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return loss.detach(), {"train_loss": loss.item()}
        x, y = batch
        params = list(self.model.parameters())
        if opt == "sls":  # SGD with an Armijo line search on the minibatch loss
            _, value = self.search.step(params, lambda: self.loss(batch), self.search.alpha_max)
            return torch.tensor(value), {"train_loss": value}
        with torch.no_grad():
            z = self.model(x)  # (B, K) targets
        z_var = z.clone().requires_grad_(True)
        loss_z = target_loss(z_var, y, self.loss_kind)
        (g,) = torch.autograd.grad(loss_z, z_var)  # the expensive gradient, (B, K)
        loss_z, eta = loss_z.detach(), self.hp.eta

        def surrogate_at(f):  # f (B, K): the model's outputs at the current parameters
            return loss_z + (g * (f - z)).sum() + (f - z).pow(2).sum(1).mean() / (2 * eta)

        alpha = self.search.alpha_max  # reset at every outer step
        end = float("nan")
        for _ in range(int(self.hp.inner_steps)):
            alpha, _ = self.search.step(params, lambda: surrogate_at(self.model(x)), alpha)
            end = self._check_bound(surrogate_at, x, y)
        return loss_z, {"train_loss": float(loss_z), "surrogate_end": end}

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

    def state(self) -> dict:
        return {"checks": self.bound_checks, "violations": self.bound_violations, "worst": self.bound_worst}

    def load_state(self, state: dict) -> None:
        self.bound_checks, self.bound_violations, self.bound_worst = (
            state["checks"],
            state["violations"],
            state["worst"],
        )

    def metrics(self) -> dict[str, float]:
        if self.hp.optimizer != "sso":
            return {}
        return {
            "surrogate_checks": self.bound_checks,
            "surrogate_violations": self.bound_violations,
            "surrogate_worst_gap": self.bound_worst,
        }
