"""What the Snakemake workflow needs from the package before it builds the DAG.

One road for settings: every job reads the same config the workflow validated. Snakemake's
config (configs/config.yaml with any --config overrides) is a file named by the digest of its
content, .snakemake/logitrepro/config-<digest>.json, and every job gets `--config <that file>`
(through the environment, CONFIG_ENV: a job param would rerun every job at any config change);
the job resolves what it needs through logitrepro.config like any other command. Reading the
Snakefile only names the file; it is written when jobs are about to run (the Snakefile's
onstart, after Snakemake's lock), so a dry run writes nothing, and two invocations with
different configs never overwrite each other's file. What a job computes is decided by its job
spec.

The hyper-parameters of every job are checked against their tasks' typed dataclasses before any
job starts. That imports the task modules (torch, a few seconds), so a successful check is
remembered under the digest of everything it depends on: the configs and the task sources.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from logitrepro.config import Config
from logitrepro.files import naming_full_disk

STATE = Path(".snakemake") / "logitrepro"
TASKS = Path(__file__).resolve().parent / "tasks"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:16]


#: Set by the workflow for its jobs: the config file each `python -m logitrepro` job reads.
CONFIG_ENV = "LOGITREPRO_CONFIG"


def _config_text(config: dict) -> str:
    return json.dumps(config, sort_keys=True, indent=1)


def config_file_for(config: dict, root: str | Path = ".") -> str:
    """Where the jobs of a workflow with this config read it: named by its content, so that
    naming it writes nothing (write_config_file writes it)."""
    digest = hashlib.sha256(_config_text(config).encode()).hexdigest()[:16]
    return str(Path(root) / STATE / f"config-{digest}.json")


def write_config_file(config: dict, root: str | Path = ".") -> str:
    """Write the file config_file_for names, once (its name is its content), atomically and
    through a temporary file of this process: two invocations starting at once write the same
    bytes and neither sees half of them."""
    path = Path(config_file_for(config, root))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(_config_text(config))
        os.replace(tmp, path)
    return str(path)


def validate_once(cfg: Config, root: str | Path = ".") -> bool:
    """Config.validate_tasks, skipped when the same configs and task code passed before.
    Returns True when it ran the check."""
    # the typed hyper-parameters (logitrepro/hparams.py) do the checking: a change to them counts
    sources = (
        sorted(TASKS.rglob("*.py")) + sorted((TASKS.parent / "optim").rglob("*.py")) + [TASKS.parent / "hparams.py"]
    )
    key = _digest(cfg.to_json().encode(), *(p.read_bytes() for p in sources))
    marker = Path(root) / STATE / f"validated-{key}"
    if marker.exists():
        return False
    cfg.validate_tasks()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return True


def _ancestors() -> set[str]:
    pids, pid = set(), str(os.getpid())
    while pid not in ("0", "") and pid not in pids:
        pids.add(pid)
        try:
            status = (Path("/proc") / pid / "status").read_text()
        except OSError:
            break
        pid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "0")
    return pids


def snakemake_works_here(root: str | Path = ".") -> bool:
    """Whether another snakemake process (not this one, nor what started it) works in `root`."""
    here = Path(root).resolve()
    ours = _ancestors()  # this snakemake and whatever started it (a shell, `timeout`, make)
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name in ours:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            if b"snakemake" in cmdline and Path(os.readlink(proc / "cwd")).resolve() == here:
                return True
        except OSError:
            continue
    return False


def stale_lock_hint(root: str | Path = ".") -> str | None:
    """What to do about a Snakemake lock that no running Snakemake holds. Snakemake refuses to
    start while .snakemake/locks has files, and a killed run leaves them behind; when no other
    snakemake process works in this folder, the lock is stale and `snakemake --unlock` is safe.
    A killed run also leaves its jobs' outputs marked incomplete, and once unlocked Snakemake
    refuses those next: the hint names --rerun-incomplete as well when there are any."""
    locks = Path(root) / ".snakemake" / "locks"
    if not locks.is_dir() or not any(locks.iterdir()) or snakemake_works_here(root):
        return None
    hint = (
        "a Snakemake lock is left from a run that was killed (no snakemake process works in this folder); "
        "remove it with: snakemake --unlock  (then run the same command again"
    )
    incomplete = Path(root) / ".snakemake" / "incomplete"
    if incomplete.is_dir() and any(incomplete.iterdir()):
        return hint + ", adding --rerun-incomplete: the killed jobs left outputs that Snakemake reports as incomplete)"
    return hint + ")"


def _process_usage() -> tuple[float, float, float]:
    """(this process's CPU, its reaped children's CPU, its age), all in seconds, from the kernel."""
    import resource
    import time

    import psutil

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    age = time.time() - psutil.Process().create_time()
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, age


def _append_line(path: str | Path, record: dict) -> dict:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one short line per write, O_APPEND: parallel jobs do not interleave
    with naming_full_disk(path), path.open("a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def record_usage(path: str | Path) -> dict:
    """Append this Snakemake invocation's CPU to a JSON-lines file: its own (the scheduler:
    DAG, bookkeeping, polling) and its finished jobs' (every reaped child process tree), from
    the kernel's accounting. Snakemake's per-job benchmark samples a process tree now and then,
    which misses most of a short job's CPU; this does not. Called when the workflow succeeds."""
    import time

    own, children, age = _process_usage()
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "scheduler_cpu_s": round(own, 2),
        "jobs_cpu_s": round(children, 2),
        "wall_s": round(age, 2),
    }
    return _append_line(path, record)


def lift_default_job_rate_limit(workflow, argv: list[str] | None = None) -> bool:
    """Drop Snakemake's default job rate limit (--max-jobs-per-timespan 100/1s) from the job
    scheduler of this workflow; a limit set on the command line or in a profile stays (a profile
    that sets exactly 100/1s cannot be told from the default, and is lifted too). Called
    from the Snakefile's onstart, once the scheduler exists and before it schedules anything.
    Returns whether it was dropped.

    With a rate limit Snakemake 9 selects jobs again one second after every round of scheduling,
    and each job event starts one more such once-a-second chain of timer threads that runs until
    the workflow ends: late in a `cpu` run ten chains re-validate the waiting jobs ten times a
    second, most of Snakemake's own CPU (issue 14). This workflow submits a few dozen jobs and
    needs no rate limit; without one Snakemake schedules on job events only."""
    scheduler = getattr(workflow, "scheduler", None)
    limit = getattr(getattr(workflow, "scheduling_settings", None), "max_jobs_per_timespan", None)
    if getattr(scheduler, "job_rate_limiter", None) is None or limit is None:
        return False
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if (limit.max_jobs, limit.timespan) != (100, 1) or any(a.startswith("--max-jobs-per-timespan") for a in argv):
        return False
    scheduler.job_rate_limiter = None
    scheduler.resources["_job_count"] = sys.maxsize  # what Snakemake holds when no limit is set
    return True


#: Set by the workflow for its jobs: each `python -m logitrepro` command appends its own CPU here.
COMMAND_USAGE_ENV = "LOGITREPRO_COMMAND_USAGE"


def record_command_usage(command: str, path: str | Path) -> dict:
    """Append what this process (and the children it reaped) spent, from the kernel's accounting,
    to a JSON-lines file: per command, the split of the jobs' CPU that Snakemake's own record
    (record_usage) gives only in total. Called as a command exits."""
    own, children, age = _process_usage()
    return _append_line(path, {"command": command, "cpu_s": round(own + children, 3), "wall_s": round(age, 3)})


def runs_on_changed_data(cfg: Config, dry_run: bool = False) -> list[str]:
    """Finished runs whose data has changed since they trained: their run.json names one content
    checksum, the prepared folder's manifest another. Each is made stale (its train.json, an
    output of its job, removed) so its job trains again, and the run starts afresh on the new data
    (train.resume_refusal). Returns a line per run for the user; a dry run removes nothing and
    says so (part of `logitrepro settle`: settle_results).

    Prepared data is an ancient() input, so a timestamp (after `dvc pull`, say) never reruns a
    job; its content is checked here rather than as a job param, because Snakemake records a
    param as it was when the DAG was built, which for data prepared in the same invocation is
    before the data exists (and the next run would retrain everything)."""
    from logitrepro import runinfo
    from logitrepro.files import DamagedFile
    from logitrepro.runs import RunDir

    current: dict[str, str] = {}
    stale = []
    for paper in cfg.papers:
        for group in cfg.train_groups(paper):
            for arm, seed in group.runs:
                run = RunDir(cfg.run_dir(paper, group.experiment, arm, seed))
                data_dir = cfg.job_spec(paper, group.experiment, arm, seed)["data_dir"]
                if data_dir is None or not run.summary.exists() or not run.info.exists():
                    continue
                if data_dir not in current:
                    current[data_dir] = runinfo.data_checksum(data_dir)
                try:
                    trained_on = run.read_info().get("data_checksum")
                except DamagedFile:  # its job trains it again anyway (logitrepro.repair)
                    continue
                now = current[data_dir]
                if trained_on and now != "unknown" and trained_on != now:
                    if not dry_run:
                        run.summary.unlink()
                    outcome = "settling makes its job train it again" if dry_run else "its job trains it again"
                    stale.append(
                        f"{run.path} trained on {data_dir} with checksum {trained_on[:12]}; "
                        f"it now holds {now[:12]}: {outcome}"
                    )
    return stale


def settle_results(cfg: Config, dry_run: bool = False) -> list[str]:
    """Put the results in order before Snakemake builds its DAG (logitrepro.provenance.settle:
    timestamps a checkout scrambled, outputs made from files that are gone; runs_on_changed_data:
    runs whose data changed): what `logitrepro settle` does. Reading the Snakefile only asks
    (unsettled)."""
    from logitrepro.provenance import settle

    return settle(cfg.main["paths"]["results"], dry_run=dry_run) + runs_on_changed_data(cfg, dry_run=dry_run)


@dataclass
class Unsettled:
    """What is out of order in the results, as reading the Snakefile finds it (it changes nothing).

    `lines`: what would make jobs compute wrong results until `logitrepro settle` (runs on changed
    data, outputs made from files this config does not make). `remade`: a line per output made
    from run files that are gone but that this config's jobs make (a deleted run folder, or a
    training job killed after Snakemake removed its outputs); `run_files`, those files, which the
    default target asks for, so that Snakemake trains them again and makes those outputs again from
    them (built with other targets, that does not happen, and they count as `lines`). `retimed`:
    outputs that look older than inputs they were made from (a checkout's timestamps): their jobs
    would run again, needlessly but harmlessly."""

    lines: list[str]
    remade: list[str]
    run_files: list[str]
    retimed: list[str]

    def refusal(self, default_target: bool, argv: list[str] | None = None) -> str | None:
        """Why jobs must not start (None: they may), with the remedy."""
        pending = self.lines + ([] if default_target else self.remade)
        if not pending:
            return None
        return (
            f"{len(pending)} thing(s) in the results are out of order (listed above); jobs would compute on them. "
            f"Put them in order with: {settle_command(argv)}  (make run does it first), then run the same command again"
        )

    def hint(self, argv: list[str] | None = None) -> str | None:
        """What to say when reading the Snakefile (None: nothing)."""
        refusal = self.refusal(default_target=True, argv=argv)
        if refusal or not self.retimed:
            return refusal
        return f"{settle_command(argv)} puts them in order first; without it their jobs run again"


def _and_more(items: list) -> str:
    return f" and {len(items) - 1} more" if len(items) > 1 else ""


def unsettled(cfg: Config, run_files: list[str]) -> Unsettled:
    """What settle_results would do, read only; `run_files` are the run files this config's jobs
    make (as the workflow names them)."""
    from logitrepro.provenance import gone_inputs, remove_made_from_gone, retime

    results = cfg.main["paths"]["results"]
    made_here = {os.path.abspath(f): f for f in run_files}
    remade: dict[Path, list[str]] = {}
    remade_paths: set[str] = set()
    for out, missing in gone_inputs(results).items():  # an output before what was made from it
        if all(os.path.abspath(f) in made_here or os.path.abspath(f) in remade_paths for f in missing):
            remade[out] = missing
            remade_paths.add(os.path.abspath(out))
    lines = remove_made_from_gone(results, dry_run=True, keep=set(remade)) + runs_on_changed_data(cfg, dry_run=True)
    remade_lines = [
        f"{out} was made from files that are gone ({missing[0]}{_and_more(missing)}); "
        "the default target makes them again, and it again from them"
        for out, missing in remade.items()
    ]
    files = sorted(
        {made_here[os.path.abspath(f)] for m in remade.values() for f in m if os.path.abspath(f) in made_here}
    )
    return Unsettled(lines, remade_lines, files, retime(results, dry_run=True))


def invoked_as_dry_run(argv: list[str] | None = None) -> bool:
    """Whether the Snakemake command line that reads the Snakefile asks for a dry run (-n): its
    workflow object learns that only after the Snakefile is read. Snakemake's own parser reads
    it, so `-np` and `--dry-run` count as they do for Snakemake. Only for wording: what the
    parse phase does is the same either way (it only reads)."""
    import sys

    from snakemake.cli import get_argument_parser

    args, _ = get_argument_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    return bool(getattr(args, "dryrun", False))


def builds_default_target(workflow) -> bool:
    """Whether this Snakemake invocation builds the workflow's default target (no target given,
    or the default rule named); known once Snakemake has read its command line, e.g. in onstart."""
    settings = workflow.dag_settings
    return (not settings.targets and not settings.target_jobs) or workflow.default_target in settings.targets


def settle_command(argv: list[str] | None = None) -> str:
    """`logitrepro settle` with the config of this Snakemake command line (--configfile,
    --config KEY=VALUE), as a command to copy."""
    import shlex
    import sys

    from snakemake.cli import get_argument_parser

    try:
        args, _ = get_argument_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit:  # not a Snakemake command line: the default config
        args = None
    values = [str(f) for f in (getattr(args, "configfile", None) or [])][:1] + list(getattr(args, "config", None) or [])
    return " ".join(["python -m logitrepro settle", *(f"--config {shlex.quote(v)}" for v in values)])


def show_claims(python: str, claims_dir: str) -> int:
    """The end-of-run claims table (`logitrepro show`), for the Snakefile's onsuccess: run without
    a shell (no path, however odd, is split or run as a command) and without the usage record of
    workflow commands (it is no job). A failure is said, not hidden; the workflow has succeeded,
    so it stays a message. Returns the command's exit status."""
    import shlex
    import subprocess
    import sys

    cmd = [python, "-m", "logitrepro", "show", "--claims-dir", str(claims_dir)]
    env = {k: v for k, v in os.environ.items() if k != COMMAND_USAGE_ENV}
    sys.stdout.flush()
    rc = subprocess.run(cmd, env=env).returncode
    if rc != 0:
        print(f"logitrepro: the claims table was not shown: {shlex.join(cmd)} exited {rc}", file=sys.stderr)
    return rc
