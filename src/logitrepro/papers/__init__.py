"""One module per paper. Each exposes `make_task(spec) -> Task`, the only thing the shared
training loop needs to know about a paper; adding a paper adds a module here and a config."""
from __future__ import annotations

import importlib
from typing import Any, Protocol

import torch


class Task(Protocol):
    """What the training loop drives. Batches are drawn per step from (seed, step), so a
    resumed run sees exactly the batches an uninterrupted one would."""

    model: torch.nn.Module

    def optimizer(self) -> torch.optim.Optimizer: ...

    def batch(self, step: int) -> Any: ...

    def loss(self, batch: Any, detailed: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss and scalars to log; `detailed` asks for the costlier diagnostics
        (the loop sets it only on steps that write a history row)."""
        ...

    def evaluate(self, split: str) -> dict[str, float]: ...

    # Optional:
    #   summarise_history(rows) -> dict     the run's history rows turned into metrics
    #   train_step(batch, optimizer, detailed) -> (loss, logs)   a task that updates the parameters
    #                                       itself (several inner steps per batch, line searches)
    #   extra_state() / load_extra_state(state)   what the task accumulates besides the model,
    #                                       kept in every checkpoint


def make_task(spec: dict) -> Task:
    try:
        module = importlib.import_module(f"logitrepro.papers.{spec['paper']}")
    except ModuleNotFoundError as e:
        raise ValueError(f"no module logitrepro.papers.{spec['paper']} for paper {spec['paper']!r}") from e
    return module.make_task(spec)
