"""The Task: what the shared training loop drives, one per experiment kind.

A task holds the shared opening (typed hyper-parameters, device, seed) and hooks the loop always
calls, as PyTorch Lightning's LightningModule does; the defaults here do nothing or the plain
thing, so a task overrides only what it needs. Batches are drawn from (seed, step) alone, so a
resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from logitrepro.hparams import LoopHParams, build


class Task:
    HParams: ClassVar[type[LoopHParams]] = LoopHParams
    model: torch.nn.Module

    def __init__(self, spec: dict, device: str = "cpu"):
        self.spec = spec
        self.hp = build(
            self.HParams,
            spec["hparams"],
            where=f"{spec['paper']}/{spec['experiment']}/{spec['arm']}",
            task=spec["task"],
        )
        self.device = torch.device(device)
        self.seed = int(spec["seed"])
        torch.manual_seed(self.seed)  # before any weight is drawn
        self.setup()

    # ------------------------------------------------------------------ what every task defines

    def setup(self) -> None:
        """Load the data and build `self.model` on `self.device`."""
        raise NotImplementedError

    def batch(self, step: int) -> Any:
        """The training batch of `step`, a pure function of (seed, step)."""
        raise NotImplementedError

    def loss(self, batch: Any, detailed: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss and scalars to log; `detailed` asks for the costlier diagnostics (the
        loop sets it only on steps that write a history row)."""
        raise NotImplementedError

    def evaluate(self, split: str) -> dict[str, float]:
        """Metrics on 'val' (during training, for the curves) or 'test' (the final metrics).
        The loop calls it under torch.no_grad()."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks with defaults

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.hp.lr)

    def train_step(self, batch: Any, optimizer, detailed: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
        """One step: the loss, then (when it is finite) backward and the optimizer's step. A task
        that updates its parameters its own way (line searches, inner loops) overrides this. A
        non-finite loss is returned without a step: the loop ends the run as diverged."""
        loss, logs = self.loss(batch, detailed)
        if not torch.isfinite(loss):
            return loss, logs
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss, logs

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        """The run's history rows turned into metrics (e.g. the growth of a logged quantity)."""
        return {}

    def extra_state(self) -> dict | None:
        """What the task accumulates besides the model, kept in every checkpoint."""
        return None

    def load_extra_state(self, state: dict) -> None:
        pass
