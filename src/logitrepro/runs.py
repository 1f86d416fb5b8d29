"""A run's folder, results/runs/<paper>/<experiment>/<arm>/seed<k>/: the one place that names
its files.

  checkpoint.pt   model, optimizer, RNG, counters and the job spec (resume and evaluation)
  history.jsonl   one row per logged step: training scalars, validation metrics, events
  run.json        provenance: spec, MLflow run id, git commit, data checksum, packages, device, wall time
  train.json      the training summary: status, steps, loop time (train_s) and job wall time
  metrics.json    the evaluation of the final checkpoint: what the claims read
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from logitrepro.files import read_json, write_json


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __init__(self, path: str | Path):
        object.__setattr__(self, "path", Path(path))

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def history(self) -> Path:
        return self.path / "history.jsonl"

    @property
    def info(self) -> Path:
        return self.path / "run.json"

    @property
    def summary(self) -> Path:
        return self.path / "train.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    def make(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def read_history(self, upto_step: int | None = None) -> list[dict]:
        """The logged rows, those after `upto_step` dropped (what a resumed run rewrites)."""
        if not self.history.exists():
            return []
        rows = [json.loads(line) for line in self.history.read_text().splitlines() if line.strip()]
        return rows if upto_step is None else [r for r in rows if r["step"] <= upto_step]

    def read_info(self) -> dict:
        return read_json(self.info) if self.info.exists() else {}

    def write_info(self, info: dict) -> None:
        write_json(self.info, info)

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary, summary)

    def write_metrics(self, result: dict) -> None:
        write_json(self.metrics, result)

    def read_metrics(self) -> dict:
        return read_json(self.metrics)
