"""A run's folder, results/runs/<paper>/<experiment>/<arm>/seed<k>/: the one place that names
its files.

  checkpoint.pt   model, optimizer, RNG, counters and the job spec (resume and evaluation)
  history.jsonl   one row per logged step: training scalars, validation metrics, events
  run.json        provenance: spec, MLflow run id, git commit, data checksum, packages, device, wall time
  train.json      the training summary: status, steps, loop time (train_s) and job wall time
  metrics.json    the evaluation of the final checkpoint: what the claims read
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logitrepro.files import DamagedFile, damage, read_json, read_jsonl, write_json

# What makes a damaged file of a run again: the workflow does it by itself (logitrepro.repair)
EVALUATE_AGAIN = "rerun `snakemake`, which evaluates that run again"
TRAIN_AGAIN = "rerun `snakemake`, which trains that run again"


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
        """The logged rows, those after `upto_step` dropped (what a resumed run rewrites); a last
        row torn mid-write is dropped with a message (files.read_jsonl)."""
        if not self.history.exists():
            return []
        remedy = f"delete {self.path} and {TRAIN_AGAIN}"
        rows = read_jsonl(self.history, remedy)
        return rows if upto_step is None else [r for r in rows if r["step"] <= upto_step]

    def read_info(self) -> dict:
        return read_json(self.info, TRAIN_AGAIN) if self.info.exists() else {}

    def damaged(self) -> list[DamagedFile]:
        """The files of the run that exist but cannot be read: its metrics.json (made again by
        evaluating the run) and its run.json (without it the run's provenance and cost are
        gone: trained again). train.json is read by nothing, so its damage does not count."""
        found = (damage(self.metrics, EVALUATE_AGAIN), damage(self.info, TRAIN_AGAIN))
        return [d for d in found if d is not None]

    def write_info(self, info: dict) -> None:
        write_json(self.info, info)

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary, summary)

    def write_metrics(self, result: dict) -> None:
        write_json(self.metrics, result)

    def read_metrics(self) -> dict:
        return read_json(self.metrics, EVALUATE_AGAIN)
