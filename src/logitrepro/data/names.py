"""The registry's dataset names, read from registry.py without importing it.

The config loader checks every experiment's dataset on each `snakemake` and `logitrepro`
invocation; importing the registry would import every source module (and numpy) each time,
some 70 ms, for a list of names that is written out in one dict display.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REGISTRY = Path(__file__).parent / "registry.py"


@cache
def dataset_names() -> tuple[str, ...]:
    """The keys of registry.DATASETS, sorted."""
    for node in ast.parse(REGISTRY.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == "DATASETS" and isinstance(node.value, ast.Dict):
            return tuple(sorted(ast.literal_eval(key) for key in node.value.keys))
    raise RuntimeError(f"{REGISTRY} no longer spells DATASETS as a dict display with literal keys")
