"""Tasks: the registered, typed unit of work. An experiment names its task (`task:` in its
paper config); the task named `x` is the module `logitrepro.tasks.x`, which defines `HParams`
(a frozen dataclass, logitrepro.hparams) and `Task` (logitrepro.tasks.base.Task).

Adding a task is one module here and one YAML key. Modules whose names start with an
underscore, and `base`, are not tasks.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

NOT_TASKS = {"base"}


def known_tasks() -> list[str]:
    """The task names, found without importing the modules."""
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name not in NOT_TASKS and not m.name.startswith("_")
    )


def task_module(name: str) -> ModuleType:
    if name not in known_tasks():
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(known_tasks())}")
    return importlib.import_module(f"logitrepro.tasks.{name}")


def hparams_class(name: str):
    return task_module(name).HParams


def make_task(spec: dict, device: str = "cpu"):
    """The task of a job spec, its model built on `device` (seeded from the spec)."""
    return task_module(spec["task"]).Task(spec, device)
