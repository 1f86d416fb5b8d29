"""When a run trained, as its run.json records it: the training command stamps each attempt it ran
with its start and end (UTC, ISO 8601), and the run with the start of its first attempt; tracking
reads them back as the MLflow run's start and end.

The stamps are written by the command around train.train, not by train.py: train.py is part of
the code digest that keys every run (code_digest.py), and an edit to it would train every user's
runs again. So a stamp lands when an attempt returns: an attempt killed part way has none, and a
run whose first attempt was killed has no recorded start (its start is then estimated, as for
runs trained before these stamps, from run.json's file time less the training wall time).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from logitrepro.files import DamagedFile
from logitrepro.runs import RunDir


def utc_now() -> str:
    """Now, in UTC, to the second, as ISO 8601 ("2026-12-05T06:40:12+00:00")."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def read_info_or_none(run_dir: str | Path) -> dict | None:
    """The run's run.json before an attempt, or None where it is missing or damaged (train.train
    says why it starts afresh then)."""
    try:
        return RunDir(run_dir).read_info() or None
    except DamagedFile:
        return None


def stamp_attempt(run_dir: str | Path, before: dict | None, started: str, ended: str) -> bool:
    """Stamp the attempt train.train just ran with when it started and ended, and the run with its
    start where that attempt began it (from step 0). Nothing is stamped where train.train kept a
    finished run without training (run.json unchanged). Returns whether an attempt was stamped."""
    run = RunDir(run_dir)
    info = read_info_or_none(run_dir)
    if info is None or info == before or not info.get("attempts"):
        return False
    attempt = info["attempts"][-1]
    attempt["started"], attempt["ended"] = started, ended
    if attempt.get("from_step", 0) == 0:  # a resumed run keeps its first attempt's start, if stamped
        info["started"] = started
    info["ended"] = ended
    run.write_info(info)
    return True


def _epoch_ms(stamp: str) -> int:
    return int(1000 * datetime.fromisoformat(stamp).timestamp())


def training_times(run: RunDir, info: dict) -> tuple[int, int]:
    """When a finished run trained, in ms since the epoch: the start and end the training command
    stamped into run.json. A run trained before the stamps (or whose first attempt was killed
    before its stamp) ended when its run.json was last written (train.py writes it at the end of
    training, and nothing after), and started its training wall time (every attempt's, summed)
    before that; a run without a run.json ended when its history did."""
    if info.get("ended"):
        end_ms = _epoch_ms(info["ended"])
    else:
        last = run.info if run.info.exists() else run.history
        end_ms = int(1000 * (last.stat().st_mtime if last.exists() else time.time()))
    if info.get("started"):
        return _epoch_ms(info["started"]), end_ms
    wall_s = info.get("train_wall_s") or sum(a.get("wall_s", 0.0) for a in info.get("attempts", ()))
    return end_ms - int(1000 * (wall_s or 0.0)), end_ms
