"""SSO in supervised learning (sso.supervised, sso.monotone, sso.theory): linear models with the
logistic or squared loss and an MLP with cross-entropy, every arm spending one expensive
target-space gradient per step (logitrepro.optim.surrogate, the authors' parametrisation), so
`steps` is the x-axis of the claims; wall time is recorded too. `batch_size: null` is the full
batch (the majorisation-minimisation runs: the training loss then never rises, sso.mm).

Data: any prepared tabular folder (logitrepro.data.store.load_tabular). A sparse (CSR) x, as
rcv1's 47,236 columns are stored, stays sparse end to end: batches are rows gathered from a torch
CSR tensor and the linear layer multiplies it sparse x dense. Such inputs are not standardised:
centring would densify them, and LIBSVM's sets come preprocessed (rcv1's rows are normalised to
unit length, mushrooms' features are 0/1 indicators); the SSO authors train on them as they are.
`scale_inputs: none` gives the same on dense inputs.

`sgd_step: 1/L` gives an SGD arm the authors' step where their sweeps do not tune it
(logitrepro.optim.surrogate.authors_sgd_step): L from `l_map` (their per-dataset constant), or,
for a set they did not list, from lambda_max(X^T X) of the training inputs as fed.

Besides the final training loss, every run reports the loss at its initialisation, the share of
it gone at the end (`objective_drop_frac`) and at the run's best evaluation (`best_drop_frac`: the
premise that a baseline trains at all, without which any method that moves 'beats' it), and a
full-batch run the norm
of the full training loss's gradient, at the end and relative to the start (`grad_norm`,
`grad_norm_ratio`: the stationarity claim); the authors log the same norm as `grad_norm`
(train.py: the gradient of the summed loss over the training set, divided by n).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import scipy.sparse
import torch
from torch import nn

from logitrepro.data.store import load_tabular, verify
from logitrepro.hparams import HIGHER, LOWER, NEITHER, Metric, hp
from logitrepro.minibatches import batch_indices
from logitrepro.models.sparse_linear import Linear, csr_rows, to_csr_tensor
from logitrepro.optim.surrogate import (
    ArmHParams,
    ArmUpdate,
    authors_sgd_step,
    best_drop_frac,
    largest_gram_eigenvalue,
    target_loss,
)
from logitrepro.tasks.base import Task as BaseTask


@dataclass(frozen=True, kw_only=True)
class HParams(ArmHParams):
    model: Literal["linear", "mlp"] = hp()
    hidden: int = hp(0, min=0)  # the MLP's hidden width
    loss: Literal["logistic", "cross_entropy", "squared"] = hp()
    classes: int = hp(2, min=2)
    batch_size: int | None = hp(min=1)  # None: the full training set every step
    # inputs: pixels / 255, or as stored; None: standardised with the training split's statistics
    # (dense inputs) or as stored (sparse ones)
    scale_inputs: Literal["pixels", "none"] | None = None
    # SGD's step: `lr`, or the authors' 1/L (see the module docstring)
    sgd_step: Literal["lr", "1/L"] = "lr"
    l_map: float | None = hp(None, above=0)  # the authors' L_MAP; None: lambda_max(X^T X) of the inputs

    def check(self) -> list[tuple[str, str]]:
        problems = super().check()
        if self.model == "mlp" and self.hidden < 1:
            problems.append(("hidden", "an mlp needs hidden >= 1"))
        if self.sgd_step == "1/L" and self.optimizer != "sgd":
            problems.append(("sgd_step", "only an sgd arm takes the authors' 1/L"))
        if self.sgd_step == "1/L" and self.model == "mlp" and self.l_map is None:
            problems.append(("l_map", "an mlp has no lambda_max(X^T X) to stand for L: give the authors' l_map"))
        return problems

    def produces(self) -> dict[str, Metric]:
        out = super().produces() | {"train_objective": LOWER, "test_acc": HIGHER}
        out |= {"val_train_objective": LOWER, "val_test_acc": HIGHER}
        # where the run started and the step size it took: settings and starting points, not scores
        out |= {"initial_objective": NEITHER, "objective_drop_frac": HIGHER, "best_drop_frac": HIGHER}
        out |= {"step_taken": NEITHER}
        if self.batch_size is None:  # full batch: monotone descent and stationarity can be checked
            out |= {"loss_increases": LOWER, "loss_checks": NEITHER, "val_loss_increases": LOWER}
            out |= {"grad_norm": LOWER, "grad_norm_ratio": LOWER, "initial_grad_norm": NEITHER, "val_grad_norm": LOWER}
        return out


def make_model(kind: str, d_in: int, d_out: int, hidden: int = 0) -> nn.Module:
    if kind == "linear":
        return Linear(d_in, d_out)
    if kind == "mlp":
        return nn.Sequential(Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    raise ValueError(f"sso model must be 'linear' or 'mlp', got {kind!r}")


@functools.lru_cache(maxsize=1)
def prepared_splits(data_dir: str, content: str, mode: str | None, device: str) -> dict:
    """Train and test as (x (N, d) float32, y (N,) int64): pixels / 255, features
    standardised with the training split's statistics, or as stored (`scale_inputs: none`,
    and always for sparse x: see the module docstring).

    Kept for the next run of the process: a job trains an experiment's runs one after another and
    builds each run's task twice (training, then evaluating its checkpoint), and MNIST took
    ~0.28 s to load and scale each time. `content` (the prepared files' recorded hashes) makes a
    changed folder load afresh. The tensors are shared, so nothing may write into them: batches
    are gathered copies, the full batch and the evaluation only read them."""
    loaded = {split: load_tabular(data_dir, split) for split in ("train", "test")}
    if scipy.sparse.issparse(loaded["train"][0]):
        if mode not in (None, "none"):
            raise ValueError(f"scale_inputs={mode!r} needs dense inputs; sparse inputs are used as stored")
        return {s: (to_csr_tensor(x, device), torch.from_numpy(y).to(device)) for s, (x, y) in loaded.items()}
    raw = {s: (torch.from_numpy(x), torch.from_numpy(y)) for s, (x, y) in loaded.items()}
    if mode == "pixels":

        def scale(x):
            return x / 255.0
    elif mode == "none":

        def scale(x):
            return x
    else:
        train_x = raw["train"][0]
        mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-8)

        def scale(x):
            return (x - mean) / std

    return {s: (scale(x).to(device), y.to(device)) for s, (x, y) in raw.items()}


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        self.loss_kind = hp.loss
        self.splits = self._load_splits()
        x = self.splits["train"][0]
        d_out = 1 if self.loss_kind in ("logistic", "squared") else hp.classes
        torch.manual_seed(self.seed)
        self.model = make_model(hp.model, x.shape[1], d_out, hp.hidden).to(self.device)
        batches_per_epoch = len(self.splits["train"][1]) / hp.batch_size if hp.batch_size else 1.0
        self.update = ArmUpdate(self.model, hp, self.loss_kind, hp.steps, batches_per_epoch, lr=self._sgd_lr())
        self.loss_increases, self.loss_checks, self.last_loss = 0, 0, None
        # where the run starts (the seeded initialisation; the same when a checkpoint is loaded after)
        self.initial_objective = self._train_objective()
        self.initial_grad_norm = self._grad_norm() if hp.batch_size is None else None

    def _sgd_lr(self) -> float | None:
        """The authors' 1/L for an arm that asks for it (`sgd_step: 1/L`), else None (its `lr`)."""
        hp = self.hp
        if hp.sgd_step != "1/L":
            return None
        x = self.splits["train"][0]
        if hp.l_map is None and x.layout != torch.strided:
            raise ValueError("sgd_step 1/L on sparse inputs needs the authors' l_map")
        l_map = hp.l_map if hp.l_map is not None else largest_gram_eigenvalue(x)
        return authors_sgd_step(hp.loss, hp.classes, l_map)

    @torch.no_grad()
    def _train_objective(self) -> float:
        x, y = self.splits["train"]
        return float(target_loss(self.model(x), y, self.loss_kind))

    def _grad_norm(self) -> float:
        """||grad of the mean training loss||: the authors' logged grad_norm (||grad sum|| / n)."""
        x, y = self.splits["train"]
        with torch.enable_grad():
            loss = target_loss(self.model(x), y, self.loss_kind)
            grads = torch.autograd.grad(loss, list(self.model.parameters()))
        return float(sum(g.pow(2).sum() for g in grads).sqrt())

    def _load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        data_dir = self.spec["data_dir"]
        # every prepared file's recorded SHA-256, checked against the files (once per process)
        content = json.dumps(verify(data_dir)["files"], sort_keys=True)
        return prepared_splits(str(Path(data_dir).resolve()), content, self.hp.scale_inputs, str(self.device))

    def optimizer(self):
        return self.update.optimizer()

    def batch(self, step: int):
        x, y = self.splits["train"]
        if self.hp.batch_size is None:  # full batch
            return x, y
        idx = torch.from_numpy(batch_indices(len(y), self.hp.batch_size, self.seed, step)).to(self.device)
        return (csr_rows(x, idx) if x.layout == torch.sparse_csr else x[idx]), y[idx]

    def loss(self, batch, detailed: bool = False):
        loss = self.update.loss(batch)
        return loss, {"train_loss": loss.item()}

    def train_step(self, batch, optimizer, detailed: bool = False):
        loss, logs = self.update.step(batch, optimizer)
        if self.hp.batch_size is None:  # full batch: does the objective ever rise from one step to the next?
            if self.last_loss is not None:
                self.loss_checks += 1
                self.loss_increases += int(float(loss) > self.last_loss * (1 + 1e-7))
            self.last_loss = float(loss)
        return loss, logs

    def extra_state(self) -> dict:
        full_batch = {
            "loss_increases": self.loss_increases,
            "loss_checks": self.loss_checks,
            "last_loss": self.last_loss,
        }
        return {**self.update.state(), **full_batch}

    def load_extra_state(self, state: dict) -> None:
        self.update.load_state(state)
        self.loss_increases, self.last_loss = state.get("loss_increases", 0), state.get("last_loss")
        self.loss_checks = state.get("loss_checks", 0)

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """The claims are about the training objective: the full training set's mean loss
        (`train_objective`), with test accuracy beside it. The sets have no validation part, so
        the curves during training ('val') carry the same two numbers; nothing is selected on them."""
        prefix = "val_" if split == "val" else ""
        out = {f"{prefix}train_objective": self._train_objective()}
        xt, yt = self.splits["test"]
        zt = self.model(xt)
        pred = (zt[:, 0] > 0).long() if zt.shape[1] == 1 else zt.argmax(1)
        out[f"{prefix}test_acc"] = float((pred == yt).float().mean()) * 100
        if split == "test":
            out.update(self.update.metrics())
            out["initial_objective"] = self.initial_objective
            out["objective_drop_frac"] = 1.0 - out["train_objective"] / self.initial_objective
            out["step_taken"] = self.update.lr  # SGD's, Adam's, Adagrad's step (the authors' 1/L where asked)
        if self.hp.batch_size is None:
            out[f"{prefix}loss_increases"] = float(self.loss_increases)
            out[f"{prefix}grad_norm"] = self._grad_norm()
            if split == "test":
                out["loss_checks"] = float(self.loss_checks)
                out["initial_grad_norm"] = self.initial_grad_norm
                out["grad_norm_ratio"] = out["grad_norm"] / self.initial_grad_norm
        return out

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        return best_drop_frac(rows, "val_train_objective", self.initial_objective)
