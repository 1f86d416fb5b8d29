# Config loading, validation and input functions; no rules here.
import hashlib
import json
import os
import sys
from pathlib import Path

from logitrepro.config import ConfigError, load_config, put_interpreter_first_on_path
from logitrepro.code_digest import code_digest
from logitrepro.pipeline import (
    COMMAND_USAGE_ENV,
    CONFIG_ENV,
    config_file_for,
    lift_default_job_rate_limit,
    record_usage,
    Unsettled,
    builds_default_target,
    invoked_as_dry_run,
    show_claims,
    stale_lock_hint,
    unsettled,
    validate_once,
    write_config_file,
)
from logitrepro.files import DamagedFile, read_json
from logitrepro.repair import Repairs
from logitrepro.tracking import TrackingUnavailable, check_reachable, resolve_uri
from logitrepro.provenance import RESULTS_ENV as PROVENANCE_RESULTS_ENV

# Reading the Snakefile reads and validates; it writes and deletes nothing (a dry run, or a
# second Snakemake beside a running one, changes no result). What is written goes to onstart,
# which Snakemake runs only when jobs will run, after its lock.
try:
    CFG = load_config(config)
    # every job's hyper-parameters against its task, before any job starts
    validate_once(CFG)
    # a tracking server that is down fails here, in seconds, not in every job; once: a cluster
    # job reads this file again, and a server restarting then would fail the job, not the workflow
    if CFG.main["tracking"]["enabled"] and workflow.is_main_process:
        check_reachable(resolve_uri(CFG.main["tracking"]["uri"]))
except (ConfigError, TrackingUnavailable) as e:
    raise WorkflowError(str(e)) from None

if stale_lock_hint():  # Snakemake's own error says only "cannot be locked"
    print(f"logitrepro: {stale_lock_hint()}", file=sys.stderr)

# One road for settings: every job reads the config validated here, from a file named by its
# content (written at onstart), through the environment: as a job param its path would rerun
# every job at any change of the config.
CONFIG_FILE = config_file_for(config)
os.environ[CONFIG_ENV] = CONFIG_FILE

# Jobs call `python -m logitrepro`: they must find the interpreter that runs Snakemake.
PYTHON = put_interpreter_first_on_path()
# ... and each records its own CPU there (benchmarks/pipeline_overhead.py splits the jobs' CPU by it)
os.environ[COMMAND_USAGE_ENV] = (
    f"{CFG.main['paths']['results']}/benchmarks/commands.jsonl"
)
# ... and writes the provenance of what it makes into the results' one provenance folder
os.environ[PROVENANCE_RESULTS_ENV] = CFG.main["paths"]["results"]
SCALE = CFG.scale
RESULTS = CFG.main["paths"]["results"]
DATA = CFG.main["paths"]["data"]
PREPARE_AGAIN = "delete its folder and run snakemake again, which prepares it again (dvc checkout, for a copy DVC tracks)"
RES = CFG.main["resources"][SCALE]
RUN_DIR = (
    f"{RESULTS}/runs/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}"  # as Config.run_dir
)


def manifest_checksum(folder):
    """The content checksum in a prepared folder's manifest ('' before it is made)."""
    manifest = Path(folder) / "manifest.json"
    if not manifest.exists():
        return ""
    try:  # a damaged manifest is named with its remedy, not a traceback of this file
        return read_json(manifest, PREPARE_AGAIN)["sha256"]
    except (DamagedFile, KeyError) as e:
        raise WorkflowError(
            str(e)
            if isinstance(e, DamagedFile)
            else f"{manifest} has no sha256: {PREPARE_AGAIN}"
        ) from None


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
    """The plots command's --sweep option, or nothing when the paper has no sweep panel (the
    shell quotes each word)."""
    sweep = CFG.paper(wildcards.paper).get("report", {}).get("sweep")
    if not sweep:
        return []
    return ["--sweep", json.dumps(sweep, sort_keys=True)]


def paper_outputs(paper):
    return [
        f"{RESULTS}/claims/{paper}.json",
        f"{RESULTS}/metrics/{paper}.json",
        f"{RESULTS}/metrics/{paper}_curves.json",
        f"{RESULTS}/tables/{paper}.md",
        f"{RESULTS}/tables/{paper}.tex",
        f"{RESULTS}/tables/{paper}.html",
        f"{RESULTS}/plots/{paper}_curves.png",
    ]


# Every paper claim of every paper on one page, made by the board rule; the page a reader starts from
BOARD = [f"{RESULTS}/tables/index.md", f"{RESULTS}/tables/index.html"]


def all_targets():
    history = (
        [f"{RESULTS}/tracking/claims_history.json"]
        if CFG.main["tracking"]["enabled"]
        else []
    )
    outputs = (
        [f for paper in CFG.papers for f in paper_outputs(paper)] + BOARD + history
    )
    # run files that are gone, asked for so that their runs train again (UNSETTLED, below)
    # ... and receipts of the jobs that make again an output that cannot be read (REPAIRS, below)
    return outputs + UNSETTLED.run_files + REPAIRS.requested()


# Results out of order: timestamps a checkout scrambled (cross-stage inputs such as prepared
# data are ancient() and checked by content instead), outputs made from files that are gone, runs
# whose data changed (logitrepro.pipeline.unsettled). `logitrepro settle` puts them right; here
# they are only named, by the main process (a job's own Snakemake sees outputs the running
# workflow removed). Claims made from a run folder that is gone are made again with its runs by
# the default target; outputs a checkout made look older only cost their jobs again; for the
# rest (results would be wrong), onstart refuses to start jobs.
UNSETTLED = (
    unsettled(
        CFG, [f for paper in CFG.papers for f in run_files(paper, "metrics.json")]
    )
    if workflow.is_main_process
    else Unsettled([], [], [], [])
)
for line in UNSETTLED.remade + UNSETTLED.lines + UNSETTLED.retimed:
    print(f"logitrepro: {line}", file=sys.stderr)
if UNSETTLED.hint():
    print(f"logitrepro: {UNSETTLED.hint()}", file=sys.stderr)


def start_jobs():
    """The Snakefile's onstart: jobs are about to run, under Snakemake's lock."""
    refusal = UNSETTLED.refusal(builds_default_target(workflow))
    if refusal:
        raise WorkflowError(refusal)
    write_config_file(config)


# An output that cannot be read (truncated, overwritten) is made again: its job declares a receipt,
# missing until it has run, that the default target asks for (logitrepro.repair); nothing is
# deleted. Every process finds the same damage, so a job's own Snakemake declares the same receipt.
REPAIRS = Repairs(CFG)
if workflow.is_main_process:
    for line in REPAIRS.lines(dry_run=invoked_as_dry_run()):
        print(f"logitrepro: {line}", file=sys.stderr)
