"""Outputs of the workflow that exist but cannot be read (cut off by a full disk or a power cut,
overwritten, copied in part) are made again by the jobs that wrote them.

Before the DAG is built the workflow looks for them, once, and gives the job that writes a
damaged file one more output: a receipt, results/logs/repairs/<job>-<digest of the damage>,
which Snakemake touches when the job has run. The default target asks for it; missing, it makes
Snakemake run the job, and everything made from its outputs after. A dry run lists those jobs,
and nothing is deleted or written here. Once the files read well the rule no longer declares a receipt, and its other
outputs carry the metadata of the job that repaired them, so nothing runs a second time (a job
param that named the damage would: Snakemake records a param as it was when the DAG was built,
so the repairing job would record "damaged" and run again at the next invocation).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from logitrepro.files import DamagedFile, damage
from logitrepro.runs import RunDir

if TYPE_CHECKING:
    from logitrepro.config import Config

JUDGE_AGAIN = "rerun `snakemake`, which judges that paper again"


@dataclass(frozen=True)
class Remake:
    job: str  # the job that makes it again: a training job's rule name, or judge/<paper>
    output: str  # the job output to make again
    damage: DamagedFile  # the file that cannot be read (the output, or a file of the same run)
    action: str  # what the job does about it, in words

    def line(self, dry_run: bool = False) -> str:
        who = "a run without -n" if dry_run else "its job"
        return f"{self.damage.path} {self.damage.problem}: {who} {self.action}"


def claims_file(cfg: Config, paper: str) -> Path:
    return Path(cfg.main["paths"]["results"]) / "claims" / f"{paper}.json"


def unreadable_outputs(cfg: Config) -> list[Remake]:
    """Every damaged file of the running scale that a job makes again: a run's metrics.json (its
    job evaluates the run again), a run's run.json (not an output, but the run's provenance and
    cost are gone with it: its job trains the run again, train.train says why), a paper's claims
    file (judged again)."""
    remakes = []
    for paper in cfg.papers:
        for group in cfg.train_groups(paper):
            for arm, seed in group.runs:
                run = RunDir(cfg.run_dir(paper, group.experiment, arm, seed))
                for found in run.damaged():
                    action = "evaluates that run again" if found.path == run.metrics else "trains that run again"
                    remakes.append(Remake(group.rule, str(run.metrics), found, action))
        found = damage(claims_file(cfg, paper), JUDGE_AGAIN)
        if found is not None:
            remakes.append(Remake(f"judge/{paper}", str(claims_file(cfg, paper)), found, "judges that paper again"))
    return remakes


def _digest(remakes: list[Remake]) -> str:
    """Of the damage, by each file's size and time: a file cut off again the same way is newer."""
    h = hashlib.sha256()
    for r in remakes:
        stat = os.stat(r.damage.path)
        h.update(f"{r.damage.path} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:12]


class Repairs:
    """The damaged outputs of a workflow, found once before its DAG is built, as the receipts
    its rules declare and its default target asks for (see the module's doc)."""

    def __init__(self, cfg: Config):
        self.remakes = unreadable_outputs(cfg)
        self.folder = Path(cfg.main["paths"]["results"]) / "logs" / "repairs"

    def lines(self, dry_run: bool = False) -> list[str]:
        """One line per damaged file, for the user."""
        return [r.line(dry_run) for r in self.remakes]

    def receipts(self, job: str) -> list[str]:
        """The receipt a training job (its rule name) declares while a file of its runs cannot be
        read; none else, so that its outputs are what they always were."""
        found = [r for r in self.remakes if r.job == job]
        return [f"{self.folder}/{job}-{_digest(found)}"] if found else []

    def judge_receipts(self) -> list[str]:
        """The judge's receipt, a pattern over {paper} (a rule's outputs share their wildcards),
        while a claims file cannot be read; only the damaged papers' are asked for."""
        found = [r for r in self.remakes if r.job.startswith("judge/")]
        return [f"{self.folder}/judge/{{paper}}-{_digest(found)}"] if found else []

    def requested(self) -> list[str]:
        """The receipts the default target asks for: a job's output that no other job reads is
        never missing to Snakemake, and one that another job read would change that job's inputs
        (and rerun it once more after the repair); the default target has no outputs to rerun."""
        jobs = sorted({r.job for r in self.remakes if not r.job.startswith("judge/")})
        judged = [r.job.removeprefix("judge/") for r in self.remakes if r.job.startswith("judge/")]
        pattern = self.judge_receipts()
        return [f for job in jobs for f in self.receipts(job)] + [pattern[0].format(paper=p) for p in judged]
