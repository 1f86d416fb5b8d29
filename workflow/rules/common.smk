# Config loading, validation and input functions; no rules here.
import hashlib
import json
import os
import sys
import shlex
from pathlib import Path

from logitrepro.config import ConfigError, load_config, put_interpreter_first_on_path
from logitrepro.code_digest import code_digest
from logitrepro.pipeline import (
    COMMAND_USAGE_ENV,
    effective_config_file,
    invoked_as_dry_run,
    lift_default_job_rate_limit,
    record_usage,
    runs_on_changed_data,
    stale_lock_hint,
    validate_once,
)
from logitrepro.provenance import settle as settle_timestamps
from logitrepro.repair import Repairs
from logitrepro.tracking import TrackingUnavailable, check_reachable, resolve_uri

try:
    CFG = load_config(config)
    # every job's hyper-parameters against its task, before any job starts
    validate_once(CFG)
    # a tracking server that is down fails here, in seconds, not in every job
    if CFG.main["tracking"]["enabled"]:
        check_reachable(resolve_uri(CFG.main["tracking"]["uri"]))
except (ConfigError, TrackingUnavailable) as e:
    raise WorkflowError(str(e)) from None

if stale_lock_hint():  # Snakemake's own error says only "cannot be locked"
    print(f"logitrepro: {stale_lock_hint()}", file=sys.stderr)

# One road for settings: every job reads the config validated here.
CONFIG_FILE = effective_config_file(config)

# Jobs call `python -m logitrepro`: they must find the interpreter that runs Snakemake.
PYTHON = put_interpreter_first_on_path()
# ... and each records its own CPU there (benchmarks/pipeline_overhead.py splits the jobs' CPU by it)
os.environ[COMMAND_USAGE_ENV] = (
    f"{CFG.main['paths']['results']}/benchmarks/commands.jsonl"
)
SCALE = CFG.scale
RESULTS = CFG.main["paths"]["results"]
DATA = CFG.main["paths"]["data"]
RES = CFG.main["resources"][SCALE]
RUN_DIR = (
    f"{RESULTS}/runs/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}"  # as Config.run_dir
)


# Timestamps after `dvc pull`: cross-stage inputs (prepared data, tokenized corpora) are ancient()
# and their content is checked against what each run recorded (below); within a paper's results,
# timestamps that a checkout scrambled are put back in order from the recorded content of each
# job's inputs (logitrepro.provenance) before the DAG is built.
settle_timestamps(RESULTS)
# ... and a run whose data changed since it trained (the content, not the timestamp) trains again.
for line in runs_on_changed_data(CFG, dry_run=invoked_as_dry_run()):
    print(f"logitrepro: {line}", file=sys.stderr)
# ... and an output that cannot be read (truncated, overwritten) is made again: its job declares a
# receipt, missing until it has run (logitrepro.repair); nothing is deleted.
REPAIRS = Repairs(CFG)
for line in REPAIRS.lines(dry_run=invoked_as_dry_run()):
    print(f"logitrepro: {line}", file=sys.stderr)


def manifest_checksum(folder):
    """The content checksum in a prepared folder's manifest ('' before it is made)."""
    manifest = Path(folder) / "manifest.json"
    return json.loads(manifest.read_text())["sha256"] if manifest.exists() else ""


def _alternatives(values):
    return "|".join(sorted(values))


wildcard_constraints:
    paper=_alternatives(CFG.papers),
    dataset=_alternatives(CFG.datasets()),
    experiment=_alternatives({e for p in CFG.papers for e in CFG.experiments(p)}),
    arm=_alternatives(
        {a for p in CFG.papers for e in CFG.experiments(p) for a in CFG.arms(p, e)}
    ),
    seed=r"\d+",
    vocab=r"\d+",


def runs_of(paper):
    """Every (experiment, arm, seed) of a paper at the running scale."""
    exps = CFG.experiments(paper)
    return [
        dict(paper=paper, experiment=e, arm=a, seed=s)
        for e in sorted(exps)
        for a in CFG.arms(paper, e)
        for s in CFG.run_seeds(paper, e, a)
    ]


def run_files(paper, name):
    return [f"{RUN_DIR}/{name}".format(**r) for r in runs_of(paper)]


def run_dirs(paper):
    return [RUN_DIR.format(**r) for r in runs_of(paper)]


def train_groups():
    """Every training job of the running scale (logitrepro.config.Config.train_groups)."""
    return [g for paper in CFG.papers for g in CFG.train_groups(paper)]


def run_file(group, run, name):
    arm, seed = run
    return f"{CFG.run_dir(group.paper, group.experiment, arm, seed)}/{name}"


def group_benchmark(group):
    """The job's Snakemake benchmark file; the job reads its path to share its start-up cost."""
    return (
        f"{RESULTS}/benchmarks/train/{group.paper}/{group.experiment}/{group.name}.tsv"
    )


def group_data(group):
    """The data a job reads: the prepared dataset, for text the corpus tokenized at the job's
    vocabulary, nothing for data the job generates itself."""
    arm, seed = group.runs[0]  # every run of an experiment reads the same data
    folder = CFG.job_spec(group.paper, group.experiment, arm, seed)["data_dir"]
    return [] if folder is None else folder


def group_specs(group):
    """A digest of the resolved job specs, as the rule's params: a config change reruns exactly
    the jobs it touches. A digest, not the specs: Snakemake stores a job's params beside each of
    its outputs, and an experiment job's specs over all of its outputs grow with the square of
    its runs (megabytes that every later invocation reads back)."""
    specs = [
        CFG.job_spec(group.paper, group.experiment, arm, seed)
        for arm, seed in group.runs
    ]
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()


def group_code(group):
    """A digest of the code the job runs: a job param, so an edit to its task reruns it."""
    return code_digest(CFG.experiment(group.paper, group.experiment)["task"])


def data_settings(wildcards):
    data = CFG.main["data"]
    settings = {
        "source": data["sources"].get(wildcards.dataset),
        "timeout_s": data["download_timeout_s"],
    }
    return json.dumps(settings, sort_keys=True)


def judge_settings(wildcards):
    settings = {
        "paper_config": CFG.paper(wildcards.paper),
        "scale": SCALE,
        "context": CFG.judge_context(wildcards.paper),
    }
    return json.dumps(settings, sort_keys=True)


def plot_curves(wildcards):
    return CFG.paper(wildcards.paper).get("report", {}).get("curves") or ["train_loss"]


def plot_sweep(wildcards):
    """The plots command's --sweep option, or nothing when the paper has no sweep panel."""
    sweep = CFG.paper(wildcards.paper).get("report", {}).get("sweep")
    if not sweep:
        return ""
    return f"--sweep {shlex.quote(json.dumps(sweep, sort_keys=True))}"


def paper_outputs(paper):
    return [
        f"{RESULTS}/claims/{paper}.json",
        f"{RESULTS}/tables/{paper}.md",
        f"{RESULTS}/tables/{paper}.tex",
        f"{RESULTS}/tables/{paper}.html",
        f"{RESULTS}/plots/{paper}_curves.png",
    ]


def all_targets():
    history = (
        [f"{RESULTS}/tracking/claims_history.json"]
        if CFG.main["tracking"]["enabled"]
        else []
    )
    repairs = REPAIRS.requested()  # while an output cannot be read (logitrepro.repair)
    return [f for paper in CFG.papers for f in paper_outputs(paper)] + history + repairs
