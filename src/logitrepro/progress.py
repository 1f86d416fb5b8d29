"""Where the training of a pipeline stands (`logitrepro status`), read from what the jobs write.

A training job (`logitrepro train --runs ARM:SEED ...`) trains its runs one after the other; each
run appends a row to its history.jsonl every few steps (step, cumulative training seconds) and
writes metrics.json when it has been evaluated. So, per run of the config:

  finished     metrics.json is there
  running      the first unfinished run of a live job in this folder, or, with no job here, a
               history written in the last RECENT_S seconds (a job on another machine: a cluster)
  queued       behind the running run in a live job
  interrupted  a history or checkpoint but no job: the next `make run` resumes it from its checkpoint
  pending      nothing yet

A running run's time left is its remaining steps at the seconds per step its history shows
(training steps only: the validation passes add to it), less the time since its last row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logitrepro.runs import RunDir

RECENT_S = 600  # a history written this recently belongs to a job that is still running
STATES = ("finished", "running", "queued", "interrupted", "pending")


@dataclass(frozen=True)
class LiveJob:
    """A `logitrepro train` process working in this folder."""

    pid: int
    paper: str
    experiment: str
    runs: tuple[tuple[str, int], ...]  # (arm, seed), in the order it trains them


@dataclass
class RunProgress:
    paper: str
    experiment: str
    arm: str
    seed: int
    state: str = "pending"
    step: int = 0
    total: int | None = None
    seconds_per_step: float | None = None
    last_row_age_s: float | None = None  # seconds since the history was last written
    wall_s: float | None = None  # a finished run's training wall time (run.json)
    job: LiveJob | None = None
    queued: list[RunProgress] = field(default_factory=list)  # a running run's job: the runs behind it

    @property
    def name(self) -> str:
        return f"{self.paper}/{self.experiment}/{self.arm}/seed{self.seed}"

    @property
    def seconds_left(self) -> float | None:
        if self.total is None or not self.seconds_per_step:
            return None
        left = (self.total - self.step) * self.seconds_per_step - (self.last_row_age_s or 0)
        return max(left, 0.0)

    def job_seconds_left(self) -> float | None:
        """This run's time left and, at its pace, that of the runs queued behind it in its job."""
        mine = self.seconds_left
        if mine is None or any(q.total is None for q in self.queued):
            return None
        return mine + sum(q.total * self.seconds_per_step for q in self.queued)


def parse_train_command(argv: list[str]) -> tuple[str, str, tuple[tuple[str, int], ...]] | None:
    """(paper, experiment, runs) of a `logitrepro train` command line; None for any other."""
    starts = [i for i, a in enumerate(argv[:-1]) if Path(a).name == "logitrepro" and argv[i + 1] == "train"]
    if not starts:
        return None
    args, i = argv[starts[0] + 2 :], 0
    paper = experiment = None
    runs: list[tuple[str, int]] = []
    while i < len(args):
        if args[i] in ("--paper", "--experiment") and i + 1 < len(args):
            paper, experiment = (args[i + 1], experiment) if args[i] == "--paper" else (paper, args[i + 1])
            i += 2
        elif args[i] == "--runs":
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                arm, _, seed = args[i].rpartition(":")
                if arm and seed.isdigit():
                    runs.append((arm, int(seed)))
                i += 1
        else:
            i += 1
    return (paper, experiment, tuple(runs)) if paper and experiment and runs else None


def live_jobs(folder: str | Path = ".") -> list[LiveJob]:
    """The training jobs running on this machine in `folder` (where their relative paths point)."""
    import psutil

    here = Path(folder).resolve()
    jobs = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            parsed = parse_train_command(proc.info["cmdline"] or [])
            if parsed is None or Path(proc.cwd()).resolve() != here:
                continue
        except (psutil.Error, OSError):  # gone, or another user's
            continue
        jobs.append(LiveJob(proc.info["pid"], *parsed))
    return jobs


def last_row(history: Path) -> dict | None:
    """The last complete row of a history that may be being written (its tail only is read)."""
    try:
        with open(history, "rb") as f:
            f.seek(0, 2)
            size = f.seek(max(0, f.tell() - 65536))
            tail = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(tail[1:] if size else tail):
        try:
            row = json.loads(line)
        except ValueError:  # the torn row being written, or a cut first line
            continue
        if isinstance(row, dict) and "step" in row:
            return row
    return None


def _info(run: RunDir) -> dict:
    try:
        info = json.loads(run.info.read_text())
    except (OSError, ValueError):  # not written yet, or being written
        return {}
    return info if isinstance(info, dict) else {}


def planned_steps(run: RunDir) -> int | None:
    """The run's steps as its job resolved them (run.json's spec), or None before it wrote one."""
    try:
        return int(_info(run)["spec"]["hparams"]["steps"])
    except (KeyError, TypeError, ValueError):
        return None


def read_run(rp: RunProgress, run: RunDir, now: float, fallback_total: int | None) -> None:
    """The step, pace and age of a run's history into `rp`."""
    rp.total = planned_steps(run) or fallback_total
    if not run.history.exists():
        return
    rp.last_row_age_s = max(0.0, now - run.history.stat().st_mtime)
    row = last_row(run.history)
    if row:
        rp.step = int(row["step"])
        if row.get("train_s") and rp.step:
            rp.seconds_per_step = float(row["train_s"]) / rp.step


def survey(
    planned: dict[tuple[str, str, str, int], int | None],
    run_dir: Callable[[str, str, str, int], str],
    jobs: list[LiveJob],
    now: float | None = None,
) -> list[RunProgress]:
    """The progress of every planned run ((paper, experiment, arm, seed) -> its steps at this
    scale) and of every run a live job trains (a job of another scale trains in the same folders),
    in the config's order."""
    now = time.time() if now is None else now
    steps = dict(planned)
    for job in jobs:
        for arm, seed in job.runs:
            steps.setdefault((job.paper, job.experiment, arm, seed), None)
    runs: dict[tuple, RunProgress] = {}
    for key, total in steps.items():
        rp = runs[key] = RunProgress(*key)
        run = RunDir(run_dir(*key))
        if run.metrics.exists():
            rp.state = "finished"
            rp.total = rp.step = planned_steps(run) or total or 0
            rp.wall_s = _info(run).get("train_wall_s")
            continue
        read_run(rp, run, now, total)
        if rp.last_row_age_s is not None and rp.last_row_age_s < RECENT_S:
            rp.state = "running"
        elif run.history.exists() or run.checkpoint.exists():
            rp.state = "interrupted"
    for job in jobs:
        current = None
        for arm, seed in job.runs:
            rp = runs[(job.paper, job.experiment, arm, seed)]
            if rp.state == "finished" or rp.job is not None:  # done, or another job's (a job started twice)
                continue
            if current is None:
                current, rp.state, rp.job = rp, "running", job
            else:
                rp.state, rp.job = "queued", job
                current.queued.append(rp)
    return list(runs.values())


def time_left(runs: list[RunProgress]) -> dict[str, tuple[float, int]]:
    """Per paper, the training time its unfinished runs still need, one run after another (a
    running run: from its history; the others: the mean wall time of the finished runs of the
    same arm, else of the same experiment, for the part of the steps still to do), and how many
    runs have nothing to be timed by."""
    done: dict[tuple, list[float]] = {}
    for r in runs:
        if r.state == "finished" and r.wall_s:
            done.setdefault((r.paper, r.experiment, r.arm), []).append(r.wall_s)
            done.setdefault((r.paper, r.experiment), []).append(r.wall_s)
    out: dict[str, tuple[float, int]] = {}
    for r in runs:
        seconds, untimed = out.get(r.paper, (0.0, 0))
        if r.state != "finished":
            left = r.seconds_left if r.state == "running" else None
            like = done.get((r.paper, r.experiment, r.arm)) or done.get((r.paper, r.experiment))
            if left is None and like:
                left = sum(like) / len(like) * (1 - r.step / r.total if r.total else 1)
            seconds, untimed = (seconds + left, untimed) if left is not None else (seconds, untimed + 1)
        out[r.paper] = (seconds, untimed)
    return out
