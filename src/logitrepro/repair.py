"""Outputs of the workflow that exist but cannot be read (cut off by a full disk or a power cut,
overwritten, copied in part) are made again by the jobs that wrote them.

Before the DAG is built the workflow asks which of its outputs are damaged and forces their jobs,
as `--forcerun <file>` would: a dry run lists those jobs and changes nothing, a real run makes
the files anew and everything made from them after. Nothing is deleted or written here. Forcing,
not a job param that names the damage: Snakemake records a job's params as they were when the
DAG was built, so the job that repairs a file would record "damaged" and run once more at the
next invocation, when the file reads well again.
"""

from __future__ import annotations

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
    output: str  # the job output whose job is forced
    damage: DamagedFile  # the file that cannot be read (the output, or a file of the same run)
    action: str  # what the job does about it, in words

    def line(self, dry_run: bool = False) -> str:
        who = "a run without -n" if dry_run else "its job"
        return f"{self.damage.path} {self.damage.problem}: {who} {self.action}"


def unreadable_outputs(cfg: Config, papers: list[str] | None = None) -> list[Remake]:
    """Every damaged file of the running scale (of `papers`, default all) that a job makes again:
    a run's metrics.json (its job evaluates the run again), a run's run.json (not an output, but
    the run's provenance and cost are gone with it: its job trains the run again, train.train
    says why), a paper's claims file (judged again)."""
    remakes = []
    for paper in cfg.papers if papers is None else papers:
        for group in cfg.train_groups(paper):
            for arm, seed in group.runs:
                run = RunDir(cfg.run_dir(paper, group.experiment, arm, seed))
                for found in run.damaged():
                    action = "evaluates that run again" if found.path == run.metrics else "trains that run again"
                    remakes.append(Remake(str(run.metrics), found, action))
        claims = Path(cfg.main["paths"]["results"]) / "claims" / f"{paper}.json"
        found = damage(claims, JUDGE_AGAIN)
        if found is not None:
            remakes.append(Remake(str(claims), found, "judges that paper again"))
    return remakes


def _names(target: str, paper: str) -> bool:
    path = Path(target)  # results/runs/<paper>/..., results/claims/<paper>.json, <paper>_curves.png
    return paper in path.parts or path.stem == paper or path.name.startswith(f"{paper}_")


def papers_asked_for(papers: list[str], targets) -> list[str]:
    """The papers whose outputs a command line's targets need. A forced file becomes one of
    Snakemake's targets, so a DVC stage that makes one paper's runs must not repair another's:
    only papers a target names, unless there are no targets (the default: every paper) or one
    names no paper (the claims history, a rule)."""
    targets = list(targets or ())
    if not targets or any(not any(_names(t, p) for p in papers) for t in targets):
        return list(papers)
    return [p for p in papers if any(_names(t, p) for t in targets)]


def _schedules(workflow) -> bool:
    """Whether this Snakemake schedules jobs: a job that Snakemake runs in a process of its own
    (a cluster job) reads the Snakefile again, and must not schedule the repairs too."""
    return getattr(workflow, "dag_settings", None) is not None and workflow.is_main_process


def force_remaking(workflow, outputs: list[str]) -> bool:
    """Add `outputs` to the files whose jobs this Snakemake forces (its --forcerun), in memory,
    where it schedules. Returns whether anything was forced."""
    if not outputs or not _schedules(workflow):
        return False
    workflow.dag_settings.forcerun = frozenset(workflow.dag_settings.forcerun or ()) | set(outputs)
    return True


def remake_unreadable(workflow, cfg: Config, dry_run: bool = False) -> list[str]:
    """Force the jobs that make the damaged outputs again (unreadable_outputs); a line per
    damaged file for the user."""
    if not _schedules(workflow):
        return []
    remakes = unreadable_outputs(cfg, papers_asked_for(cfg.papers, workflow.dag_settings.targets))
    force_remaking(workflow, [r.output for r in remakes])
    return [r.line(dry_run) for r in remakes]
