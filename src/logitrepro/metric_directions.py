"""Which way each metric of each task is better, from the tasks' `produces`: the config loader
reads it to fill a claim's `better` without importing the tasks (torch). Each task's part is its
own generated module in logitrepro/tasks/_directions/ (`python -m logitrepro metric-directions`),
so that a new task adds its module and edits no shared table."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_FOLDER = Path(__file__).parent / "tasks" / "_directions"

DIRECTIONS: dict[str, dict[str, str | None]] = {
    m.name: importlib.import_module(f"logitrepro.tasks._directions.{m.name}").DIRECTIONS
    for m in sorted(pkgutil.iter_modules([str(_FOLDER)]), key=lambda m: m.name)
}
