"""Target-based surrogates for stochastic optimisation (SSO; Lavington et al., ICML 2023,
arXiv 2302.02607), as the authors' code runs it, and the baselines they compare against: the
machinery both SSO tasks (supervised, online imitation) share.

The authors' parametrisation (WilderLavington/Target-Based-Surrogates-For-Stochastic-Optimization,
optimizers/sgd_fmdopt.py, loaders/load_optim.py), followed here:
  loss      summed over the batch for SSO; the baselines train on the batch mean
            (their `normalize_training_loss`)
  targets   z = f_theta(X) and the per-example target gradient g_i = d loss_i / d z_i
  surrogate mean over the B x K entries of  s * g * f_theta(X) + (f_theta(X) - z)^2, where s is
            their `stepsize` (`eta` = 1 / s in their code). Its target-space minimiser is
            f_i = z_i - (s / 2) g_i: their "optimal" s (2 for the logistic loss, 1 / (1 - 1/K) for
            K-class cross-entropy, 1/4 for the squared loss) moves the targets by s/2 per-example
            gradients, half of what the same number would mean as the eta of a mean-form surrogate.
  schedule  s_t = s (constant), s / sqrt(t) (their "stochastic"), or s (1/T)^(t/T) (exponential)
  inner     m steps of their Armijo line search (optimizers/lsopt.py): the step starts at 10 at
            every outer step (`reset_lr_on_step`), is multiplied by 2^(B/N) before each inner step,
            backtracks by 0.9 while f(w - a g) > f(w) - c a ||g||^2 (c = 0.1, at most 100 tries,
            giving up below 1e-6) and carries over between the m inner steps
Baselines, one expensive gradient per step: SGD (step `lr`, the same schedules), SLS (their
LSOpt: the step starts at `lr`, carries over between steps, is multiplied by 2^(B/N) before each
step, and the schedule scales the accepted step), and Adam (`lr`, constant).

The surrogate upper-bounds the summed loss when s <= 2 / L (L: the per-example smoothness of the
loss in z: 1/4 logistic, 1/2 cross-entropy, 2 for the squared loss without a 1/2): every inner
iterate is checked against the majoriser it implies, sum_i loss_i(z_i) + g_i (f_i - z_i) +
||f_i - z_i||^2 / s (sso.theory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from logitrepro.tasks.hparams import LoopHParams, hp

SCHEDULES = ("constant", "sqrt", "exponential")


@dataclass(frozen=True, kw_only=True)
class ArmHParams(LoopHParams):
    """What an SSO arm spends its expensive gradient on; shared by the SSO tasks."""

    optimizer: Literal["sgd", "sls", "adam", "sso"] = hp()  # SGD, SGD + Armijo line search (SLS), Adam, SSO
    lr: float = hp(1e-3, above=0)  # SGD's step, SLS's first step, Adam's learning rate (the authors' 10^log_lr)
    target_stepsize: float = hp(1.0, above=0)  # SSO: the authors' `stepsize` s (their eta = 1/s)
    inner_steps: int | None = hp(None, min=1)  # SSO: surrogate steps per expensive gradient (m)
    schedule: Literal["constant", "sqrt", "exponential"] = "constant"  # SGD's and SSO's step over steps
    armijo_c: float = hp(0.1, above=0, max=1)  # sufficient decrease
    armijo_beta: float = hp(0.9, above=0, max=0.999)  # backtracking factor
    inner_init_step: float = hp(10.0, above=0)  # SSO's inner line search starts here ...
    inner_reset: bool = True  # ... at every outer step (supervised); False: it carries over (imitation)
    # the line searches' growth before each step: None is 2^(B/N), the authors' supervised setting
    search_expand: float | None = hp(None, min=1)

    def check(self) -> list[tuple[str, str]]:
        if self.optimizer == "sso" and self.inner_steps is None:
            return [("inner_steps", "an sso arm needs inner_steps (m)")]
        return []

    def produces(self) -> set[str]:
        out = set(super().produces()) | {"armijo_failures"}
        if self.optimizer == "sso":
            out |= {"surrogate_checks", "surrogate_violations", "surrogate_worst_gap"}
        return out


def per_example_loss(z: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """(B,) losses in target space: z (B, K) logits/outputs, y (B,) labels or (B, D) targets.
    The squared loss is (f - y)^2 without a 1/2, as the authors' MSELoss(reduction='sum')."""
    if kind == "logistic":  # binary, y in {0, 1}, one output
        return F.binary_cross_entropy_with_logits(z[:, 0], y.float(), reduction="none")
    if kind == "cross_entropy":
        return F.cross_entropy(z, y, reduction="none")
    if kind == "squared":  # y (B,) against one output, or (B, D) against D outputs
        target = y.float()[:, None] if y.dim() == 1 else y.float()
        return (z[:, : target.shape[1]] - target).pow(2).sum(1)
    raise ValueError(f"unknown loss {kind!r}")


def target_loss(z: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """The mean loss over the batch: what every curve and claim reports (the training objective)."""
    return per_example_loss(z, y, kind).mean()


def scheduled(step0: float, schedule: str, t: int, total: int) -> float:
    """The step at outer step t (1-based) of `total`, as the authors' schedules set it."""
    if schedule == "constant":
        return step0
    if schedule == "sqrt":
        return step0 / math.sqrt(t)
    return step0 * (1.0 / total) ** (t / total)  # exponential: from step0 down to step0 / total


class NoOptimizer:
    """The training loop's optimizer slot for arms that update the parameters themselves: no
    state to step or save beyond what the arm keeps. (A torch optimizer as a placeholder would
    import torch._dynamo on creation, about 2 s of every job's start-up.)"""

    def __init__(self, state: dict | None = None):
        self.state = state if state is not None else {}

    def state_dict(self) -> dict:
        return dict(self.state)

    def load_state_dict(self, state: dict) -> None:
        self.state.clear()
        self.state.update(state)

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass


class ArmijoSearch:
    """The authors' Armijo line search (optimizers/lsopt.py): from `step`, backtrack by beta while
    f(w - a g) > f(w) - c a ||g||^2, at most `max_backtracks` times, giving up below `min_step`.
    Counts the searches that gave up (their code then keeps the last, tiny step)."""

    def __init__(self, c: float, beta: float, max_backtracks: int = 100, min_step: float = 1e-6):
        self.c, self.beta, self.max_backtracks, self.min_step = c, beta, max_backtracks, min_step
        self.failures = 0

    def step(self, params: list[torch.Tensor], objective, step: float, scale: float = 1.0) -> tuple[float, float]:
        """One step on `objective()` from the current params, trying `step` first; the update is
        `scale` x the accepted step (a schedule). Returns (accepted step, objective before)."""
        value = objective()
        grads = torch.autograd.grad(value, params)
        norm2 = sum(float(g.pow(2).sum()) for g in grads)
        start = [p.detach().clone() for p in params]
        found = False
        with torch.no_grad():
            for _ in range(self.max_backtracks):
                for p, p0, g in zip(params, start, grads):
                    p.copy_(p0 - step * g)
                if float(objective()) <= float(value) - self.c * step * norm2:
                    found = True
                    break
                step *= self.beta
                if step < self.min_step:
                    break
            self.failures += int(not found)
            if scale != 1.0:
                for p, p0, g in zip(params, start, grads):
                    p.copy_(p0 - scale * step * g)
        return step, float(value.detach())


class ArmUpdate:
    """One expensive target-space gradient and what the arm does with it; keeps the count of
    surrogate-bound checks and violations and of failed line searches (in every checkpoint)."""

    def __init__(
        self,
        model: torch.nn.Module,
        hparams: ArmHParams,
        loss_kind: str,
        total_steps: int,
        batches_per_epoch: float = 1.0,
    ):
        self.model, self.hp, self.loss_kind, self.total = model, hparams, loss_kind, total_steps
        # the line searches' growth before each step: the authors' expand_coeff 2 per epoch
        self.expand = hparams.search_expand or 2.0 ** (1.0 / batches_per_epoch)
        self.search = ArmijoSearch(hparams.armijo_c, hparams.armijo_beta)
        self.sls_step = hparams.lr  # SLS's step carries over between outer steps
        self.inner_step = hparams.inner_init_step  # SSO's, when it is not reset
        self.t = 0
        self.bound_checks = 0
        self.bound_violations = 0
        self.bound_worst = -math.inf  # largest loss - majoriser seen (> 0 is a violation)

    def optimizer(self):
        """SGD and Adam as torch optimizers; the line-search arms update the parameters themselves."""
        if self.hp.optimizer == "adam":
            return torch.optim.Adam(self.model.parameters(), lr=self.hp.lr)
        if self.hp.optimizer == "sgd":
            return torch.optim.SGD(self.model.parameters(), lr=self.hp.lr)
        return NoOptimizer()

    def loss(self, batch) -> torch.Tensor:
        x, y = batch
        return target_loss(self.model(x), y, self.loss_kind)

    def step(self, batch, optimizer) -> tuple[torch.Tensor, dict[str, float]]:
        self.t += 1
        opt = self.hp.optimizer
        if opt in ("adam", "sgd"):
            if opt == "sgd":
                for group in optimizer.param_groups:
                    group["lr"] = scheduled(self.hp.lr, self.hp.schedule, self.t, self.total)
            loss = self.loss(batch)
            if torch.isfinite(loss):
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            return loss.detach(), {"train_loss": loss.item()}
        x, y = batch
        params = list(self.model.parameters())
        if opt == "sls":  # the authors' LSOpt on the minibatch mean loss
            scale = scheduled(1.0, self.hp.schedule, self.t, self.total)
            self.sls_step, value = self.search.step(
                params, lambda: self.loss(batch), self.sls_step * self.expand, scale
            )
            return torch.tensor(value), {"train_loss": value}
        return self._sso_step(x, y, params)

    def _sso_step(self, x, y, params) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.no_grad():
            z = self.model(x)  # (B, K) targets
        z_var = z.clone().requires_grad_(True)
        loss_sum = per_example_loss(z_var, y, self.loss_kind).sum()
        (g,) = torch.autograd.grad(loss_sum, z_var)  # the expensive gradient: per example, (B, K)
        s = scheduled(self.hp.target_stepsize, self.hp.schedule, self.t, self.total)

        def surrogate(f):  # the authors' objective: mean over B x K of s g f + (f - z)^2
            return (s * g * f + (f - z).pow(2)).mean()

        step = self.hp.inner_init_step if self.hp.inner_reset else self.inner_step
        for _ in range(int(self.hp.inner_steps)):
            step, _ = self.search.step(params, lambda: surrogate(self.model(x)), step * self.expand)
            end = self._check_bound(x, y, z, g, s, loss_sum.detach())
        self.inner_step = step
        mean = float(loss_sum.detach()) / len(y)
        return torch.tensor(mean), {"train_loss": mean, "surrogate_end": end}

    @torch.no_grad()
    def _check_bound(self, x, y, z, g, s, loss_sum_z) -> float:
        """Whether the summed loss exceeds the majoriser the surrogate stands for, at the current
        parameters: loss(z) + <g, f - z> + ||f - z||^2 / s. Returns the majoriser per example."""
        f = self.model(x)
        bound = float(loss_sum_z + (g * (f - z)).sum() + (f - z).pow(2).sum() / s)
        gap = float(per_example_loss(f, y, self.loss_kind).sum()) - bound
        self.bound_checks += 1
        self.bound_worst = max(self.bound_worst, gap / len(y))
        self.bound_violations += int(gap > 1e-6 * max(1.0, abs(bound)))
        return bound / len(y)

    def state(self) -> dict:
        return {
            "checks": self.bound_checks,
            "violations": self.bound_violations,
            "worst": self.bound_worst,
            "failures": self.search.failures,
            "sls_step": self.sls_step,
            "inner_step": self.inner_step,
            "t": self.t,
        }

    def load_state(self, state: dict) -> None:
        self.bound_checks, self.bound_violations, self.bound_worst = (
            state["checks"],
            state["violations"],
            state["worst"],
        )
        self.search.failures = state.get("failures", 0)
        self.sls_step, self.t = state.get("sls_step", self.hp.lr), state.get("t", 0)
        self.inner_step = state.get("inner_step", self.hp.inner_init_step)

    def metrics(self) -> dict[str, float]:
        out = {"armijo_failures": float(self.search.failures)}
        if self.hp.optimizer == "sso":
            out.update(
                surrogate_checks=self.bound_checks,
                surrogate_violations=self.bound_violations,
                surrogate_worst_gap=self.bound_worst,
            )
        return out
