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
step, and the schedule scales the accepted step), Adam and Adagrad (torch's, `lr`, constant: their
check_args in main.py allows no other schedule for them).

"1/L", the step the authors' SGD takes where their sweeps do not tune it (loaders/load_exp.py,
load_model; main.py): L = 2 x c_loss x L_MAP[dataset], where L_MAP is a per-dataset constant
(mushrooms 87057.2422, ijcnn 3476.3210, rcv1 166.4695: the largest eigenvalue of X^T X of the
whole file, the summed form; mnist 1000, a placeholder for the MLP) and c_loss is 4 for the
logistic loss, 2 for (f - y)^2 and 2 (1 - 1/K) for K-class cross-entropy; that step is then taken
on the batch mean loss (`normalize_training_loss`). `authors_sgd_step` computes it.

A failed line search (no acceptable step in 100 tries, or a step below 1e-6) applies the step it
ended with, as their LSOpt does (the last one tried, times beta).

A linear model's SSO inner loop is computed in closed form (`LinearSurrogate`): its outputs are
linear in the parameters, so the surrogate along the search direction is a quadratic in the step,
S(a) = S(0) - a ||G||^2 + a^2 mean(D^2) with D the change of the outputs per unit step. The same
Armijo search then costs a few scalar operations per try instead of a forward pass, in float64;
the iterates are the generic path's to float precision (tests/tasks/test_sso_supervised.py), at
about a tenth of its cost.

The surrogate upper-bounds the summed loss when s <= 2 / L (L: the per-example smoothness of the
loss in z: 1/4 logistic, 1/2 cross-entropy, 2 for the squared loss without a 1/2): every inner
iterate is checked against the majoriser it implies, sum_i loss_i(z_i) + g_i (f_i - z_i) +
||f_i - z_i||^2 / s (sso.theory). Only iterates with s_t <= 2/L count as checks and violations
(a tuned s may lie above it, where no bound is claimed); the worst gap is kept over all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from logitrepro.hparams import LOWER, NEITHER, LoopHParams, Metric, hp

SCHEDULES = ("constant", "sqrt", "exponential")


@dataclass(frozen=True, kw_only=True)
class ArmHParams(LoopHParams):
    """What an SSO arm spends its expensive gradient on; shared by the SSO tasks."""

    # SGD, SGD + Armijo line search (SLS), Adam, Adagrad, SSO
    optimizer: Literal["sgd", "sls", "adam", "adagrad", "sso"] = hp()
    lr: float = hp(1e-3, above=0)  # SGD's step, SLS's first step, Adam's and Adagrad's rate (the authors' 10^log_lr)
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
        problems = []
        if self.optimizer == "sso" and self.inner_steps is None:
            problems.append(("inner_steps", "an sso arm needs inner_steps (m)"))
        if self.optimizer in ("adam", "adagrad") and self.schedule != "constant":
            problems.append(("schedule", f"{self.optimizer} runs at a constant rate (the authors' check_args)"))
        return problems

    def produces(self) -> dict[str, Metric]:
        out = super().produces() | {"armijo_failures": LOWER}
        if self.optimizer == "sso":  # the checks are a count of chances; the worst gap a diagnostic
            out |= {"surrogate_checks": NEITHER, "surrogate_violations": LOWER, "surrogate_worst_gap": NEITHER}
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


# c_loss of the authors' L = 2 x c_loss x L_MAP (loaders/load_exp.py, load_model)
# the per-example smoothness in target space of each loss: the majorisation needs s <= 2 / L
TARGET_SMOOTHNESS = {"logistic": 0.25, "cross_entropy": 0.5, "squared": 2.0}


def _loss_factor(kind: str, classes: int) -> float:
    if kind == "logistic":
        return 4.0
    if kind == "squared":
        return 2.0
    if kind == "cross_entropy":
        return 2.0 * (1.0 - 1.0 / classes)
    raise ValueError(f"unknown loss {kind!r}")


def authors_sgd_step(kind: str, classes: int, l_map: float) -> float:
    """The authors' SGD step "1/L": L = 2 x c_loss x L_MAP (see the module docstring), taken on
    the batch mean loss."""
    return 1.0 / (2.0 * _loss_factor(kind, classes) * l_map)


def largest_gram_eigenvalue(x: torch.Tensor) -> float:
    """lambda_max(X^T X) of the inputs as the model sees them (dense (N, d)): the authors' L_MAP
    for a dataset they did not list, computed as theirs (the summed form, no bias column)."""
    x64 = x.double()
    return float(torch.linalg.eigvalsh(x64.T @ x64)[-1])


def best_drop_frac(rows: list[dict], key: str, initial: float) -> dict[str, float]:
    """{'best_drop_frac': the share of the initial loss gone at the run's best evaluation of `key`}:
    the premise that a baseline trains. A baseline that never moves fails it; one that makes
    progress and then loses it passes (its instability is part of the comparison)."""
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return {"best_drop_frac": 1.0 - min(values) / initial} if values else {}


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
    f(w - a g) > f(w) - c a ||g||^2, at most `max_backtracks` tries, giving up below `min_step`.
    Counts the searches that gave up; their code then applies the step it ended with (the last
    one tried, times beta), and so does this one."""

    def __init__(self, c: float, beta: float, max_backtracks: int = 100, min_step: float = 1e-6):
        self.c, self.beta, self.max_backtracks, self.min_step = c, beta, max_backtracks, min_step
        self.failures = 0

    def backtrack(self, value_at, value: float, norm2: float, step: float) -> tuple[float, bool]:
        """(the step the search ends with, whether it met the condition); `value_at(a)` is the
        objective after a step of a along the negative gradient."""
        for _ in range(self.max_backtracks):
            if value_at(step) <= value - self.c * step * norm2:
                return step, True
            step *= self.beta
            if step < self.min_step:
                break
        self.failures += 1
        return step, False

    def step(self, params: list[torch.Tensor], objective, step: float, scale: float = 1.0) -> tuple[float, float]:
        """One step on `objective()` from the current params, trying `step` first; the update is
        `scale` x the accepted step (a schedule). Returns (accepted step, objective before)."""
        value = objective()
        grads = torch.autograd.grad(value, params)
        norm2 = sum(float(g.pow(2).sum()) for g in grads)
        start = [p.detach().clone() for p in params]

        def move(a: float) -> None:
            for p, p0, g in zip(params, start, grads):
                p.copy_(p0 - a * g)

        def value_at(a: float) -> float:
            move(a)
            return float(objective())

        with torch.no_grad():
            step, found = self.backtrack(value_at, float(value), norm2, step)
            if scale != 1.0 or not found:  # the params sit at the last step tried
                move(scale * step)
        return step, float(value.detach())


class LinearSurrogate:
    """SSO's inner loop on a linear model f = X W^T + b, in closed form and float64 (see the
    module docstring): the same surrogate, the same Armijo search. It tracks u = f - z, the
    outputs' move from the targets, and the surrogate's value along the accepted steps."""

    def __init__(self, layer: torch.nn.Linear, x: torch.Tensor, z: torch.Tensor, g: torch.Tensor, s: float):
        n, k = z.shape
        self.layer = layer
        self.x1 = torch.cat([x.double(), x.new_ones(n, 1, dtype=torch.float64)], 1)  # (B, d + 1): a bias column
        self.theta = torch.cat([layer.weight.detach().double(), layer.bias.detach().double()[:, None]], 1)  # (K, d+1)
        self.z, self.g = z.double(), g.double()  # (B, K) targets and per-example gradients
        self.sg = s * self.g
        self.size = n * k  # the surrogate is a mean over B x K entries
        self.u = self.x1 @ self.theta.T - self.z  # (B, K); ~0: z are these outputs in float32
        self.value = float((self.sg * (self.z + self.u) + self.u.pow(2)).sum()) / self.size

    @property
    def f(self) -> torch.Tensor:
        """(B, K) the outputs at the current parameters."""
        return self.z + self.u

    def step(self, search: ArmijoSearch, step: float) -> float:
        """One Armijo step on the surrogate from the current parameters, trying `step` first;
        returns the step it took."""
        grad = (torch.add(self.sg, self.u, alpha=2.0).T @ self.x1).div_(self.size)  # (K, d + 1): dS/dtheta
        norm2 = float(torch.dot(grad.flatten(), grad.flatten()))
        d = self.x1 @ grad.T  # (B, K): the outputs' change per unit step
        curvature = float(torch.dot(d.flatten(), d.flatten())) / self.size
        value = self.value

        def along(a: float) -> float:  # S(theta - a grad): exact, the outputs being linear in theta
            return value - a * norm2 + a * a * curvature

        step, _ = search.backtrack(along, value, norm2, step)
        self.theta.sub_(grad, alpha=step)
        self.u.sub_(d, alpha=step)
        self.value = along(step)
        return step

    def write_back(self) -> None:
        with torch.no_grad():
            self.layer.weight.copy_(self.theta[:, :-1])
            self.layer.bias.copy_(self.theta[:, -1])


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
        lr: float | None = None,
    ):
        """`lr`: the step of the SGD, Adam and Adagrad arms when the task sets it (the authors'
        1/L); None takes the arm's `lr`."""
        self.model, self.hp, self.loss_kind, self.total = model, hparams, loss_kind, total_steps
        self.lr = hparams.lr if lr is None else lr
        # the line searches' growth before each step: the authors' expand_coeff 2 per epoch
        self.expand = hparams.search_expand or 2.0 ** (1.0 / batches_per_epoch)
        self.search = ArmijoSearch(hparams.armijo_c, hparams.armijo_beta)
        self.sls_step = hparams.lr  # SLS's step carries over between outer steps
        self.inner_step = hparams.inner_init_step  # SSO's, when it is not reset
        self.t = 0
        self.bound_checks = 0
        self.bound_violations = 0
        self.bound_worst = -math.inf  # largest loss - majoriser seen (> 0 is a violation where s <= 2/L)
        self.s_max = 2.0 / TARGET_SMOOTHNESS[loss_kind]  # the largest s whose surrogate majorises the loss

    def optimizer(self):
        """SGD, Adam and Adagrad as torch optimizers; the line-search arms update the parameters themselves."""
        kinds = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}
        if self.hp.optimizer in kinds:
            return kinds[self.hp.optimizer](self.model.parameters(), lr=self.lr)
        return NoOptimizer()

    def loss(self, batch) -> torch.Tensor:
        x, y = batch
        return target_loss(self.model(x), y, self.loss_kind)

    def step(self, batch, optimizer) -> tuple[torch.Tensor, dict[str, float]]:
        self.t += 1
        opt = self.hp.optimizer
        if opt in ("adam", "adagrad", "sgd"):
            if opt == "sgd":
                for group in optimizer.param_groups:
                    group["lr"] = scheduled(self.lr, self.hp.schedule, self.t, self.total)
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

        loss_z = float(per_example_loss(z.double(), y, self.loss_kind).sum())  # the bound's constant, in float64
        step = self.hp.inner_init_step if self.hp.inner_reset else self.inner_step
        if self._closed_form(x):
            closed = LinearSurrogate(self.model, x, z, g, s)
            for _ in range(int(self.hp.inner_steps)):
                step = closed.step(self.search, step * self.expand)
                end = self._check_bound(closed.f, y, closed.z, closed.g, s, loss_z)
            closed.write_back()
        else:
            for _ in range(int(self.hp.inner_steps)):
                step, _ = self.search.step(params, lambda: surrogate(self.model(x)), step * self.expand)
                with torch.no_grad():
                    end = self._check_bound(self.model(x), y, z, g, s, loss_z)
        self.inner_step = step
        mean = float(loss_sum.detach()) / len(y)
        return torch.tensor(mean), {"train_loss": mean, "surrogate_end": end}

    def _closed_form(self, x: torch.Tensor) -> bool:
        """Whether the model is one linear layer on dense inputs (LinearSurrogate's case)."""
        m = self.model
        return isinstance(m, torch.nn.Linear) and m.bias is not None and x.layout == torch.strided

    @torch.no_grad()
    def _check_bound(self, f, y, z, g, s, loss_sum_z) -> float:
        """Whether the summed loss at the outputs f (B, K) of the current parameters exceeds the
        majoriser the surrogate stands for: loss(z) + <g, f - z> + ||f - z||^2 / s. In float64:
        at s = 2/L of the squared loss the two are equal, and float32 sums would decide the check.
        Returns the majoriser per example."""
        f = f.double()
        u, g = (f - z.double()).flatten(), g.double().flatten()
        bound = loss_sum_z + float(torch.dot(g, u)) + float(torch.dot(u, u)) / s
        gap = float(per_example_loss(f, y, self.loss_kind).sum()) - bound
        self.bound_worst = max(self.bound_worst, gap / len(y))
        if s <= self.s_max * (1 + 1e-12):  # the theory's range: here a violation is a bug
            self.bound_checks += 1
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
