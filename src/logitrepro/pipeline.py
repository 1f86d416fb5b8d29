"""What the Snakemake workflow needs from the package before it builds the DAG.

One road for settings: every job reads the same config the workflow validated. Snakemake's
config (configs/config.yaml with any --config overrides) is written to
.snakemake/logitrepro/config.json when the workflow starts, and every job gets `--config <that
file>`; the job resolves what it needs through logitrepro.config like any other command. The path
never changes, so passing it to a job is no reason to rerun the job (Snakemake's lock keeps two
workflows from writing it at once); what a job computes is decided by its job spec.

The hyper-parameters of every job are checked against their tasks' typed dataclasses before any
job starts. That imports the task modules (torch, a few seconds), so a successful check is
remembered under the digest of everything it depends on: the configs and the task sources.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from logitrepro.config import Config

STATE = Path(".snakemake") / "logitrepro"
TASKS = Path(__file__).resolve().parent / "tasks"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


def effective_config_file(config: dict, root: str | Path = ".") -> str:
    """The workflow's config as a file jobs read (rewritten only when its content changes)."""
    text = json.dumps(config, sort_keys=True, indent=1)
    path = Path(root) / STATE / "config.json"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def validate_once(cfg: Config, root: str | Path = ".") -> bool:
    """Config.validate_tasks, skipped when the same configs and task code passed before.
    Returns True when it ran the check."""
    sources = sorted(TASKS.rglob("*.py")) + sorted((TASKS.parent / "optim").rglob("*.py"))
    key = _digest(cfg.to_json().encode(), *(p.read_bytes() for p in sources))
    marker = Path(root) / STATE / f"validated-{key}"
    if marker.exists():
        return False
    cfg.validate_tasks()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True
