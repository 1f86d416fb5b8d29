"""The README's cluster path on a real scheduler (`make test-cluster`; root, Debian; not in the
default suite): a one-node SLURM cluster with accounting and an MLflow server on PostgreSQL started
on this machine, the smoke pipeline through workflow/profiles/slurm with tracking over HTTP, faults
injected while it runs, compared with a local run of the same commit; then everything stopped.

One scenario, run once (the `scenario` fixture), in order:
  1. PostgreSQL stopped under the MLflow server: the workflow must stop in seconds, before any job.
  2. The local reference: snakemake --cores all --config scale=smoke.
  3. The cluster run (README_COMMANDS), while a watcher stops and restarts slurmd with jobs queued
     (the node drained and empty first, as an administrator restarts it), cancels a training job
     mid-run with scancel once it has a checkpoint (the profile's retry resubmits it) and restarts
     the MLflow server while the judge of sso records its runs.
  4. The paper scale's submissions put to sbatch --test-only.
  5. stop, and a look for anything of the cluster still running.
The tests below read what it found; .cluster-test/report.json keeps it (timings included), and
.cluster-test/logs/ the daemons' logs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from logitrepro.cluster import slurm, tracking_server
from logitrepro.cluster.services import MARKER, PORTS, port_answers, processes_of
from tests.support import PROJECT
from tests.workflow.test_workflow import BIN, copy_project, env

pytestmark = pytest.mark.cluster

PY = str(BIN / "python")
CLUSTER = [PY, "-m", "logitrepro.cluster"]
# What the README's "On a cluster" section gives for trying the path on one machine, in order.
README_COMMANDS = [
    "python -m logitrepro.cluster start",
    'eval "$(python -m logitrepro.cluster env)"',
    "snakemake --profile workflow/profiles/slurm --config scale=smoke "
    "--default-resources mem_mb=4000 runtime=60 slurm_account=logitrepro slurm_partition=main",
    "python -m logitrepro.cluster stop",
]
RUN = README_COMMANDS[2].split()
REPORT = PROJECT / ".cluster-test"
# Waits sized for a CI machine of 2 cores busy with other work, not for an idle one
DRAIN_S = 900  # the jobs running when the node is drained end (tens of seconds each at smoke scale)
SLURMD_DOWN_S = 15
# longer than the MLflow client's own retries (logitrepro.tracking: 3, 1 s backoff, about 7 s), so
# that the judge sees the server gone however fast it starts again; well within the 90 s it waits
MLFLOW_DOWN_S = 10
WORKFLOW_S = 2400  # a smoke run: 4-9 minutes here, locally or on the cluster
STOPS_WITHIN_S = 90  # a workflow whose store is down stops (Snakemake's own start-up included)
SACCT_FIELDS = "JobID,JobName%40,Comment%90,Account,Partition,AllocCPUS,ReqMem,Timelimit,State,Submit,Start,End,Elapsed"


def note(message: str) -> None:
    print(f"[cluster test {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cluster_env(state: Path) -> dict:
    e = env()
    e[MARKER] = str(state)
    e["PYTHONPATH"] = str(PROJECT / "src")  # this checkout's code, in every job too (sbatch --export=ALL)
    e.setdefault("XDG_CACHE_HOME", str(state / "xdg-cache"))
    e.update(slurm.client_env(state))
    return e


def without(e: dict, key: str) -> dict:
    return {k: v for k, v in e.items() if k != key}


def sh(cmd: list[str], e: dict, cwd: Path = PROJECT, timeout: float = 300, check: bool = True):
    p = subprocess.run(cmd, cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p


def sacct(e: dict, since: str) -> list[dict]:
    """Every job since `since` (allocations only), as dicts of SACCT_FIELDS."""
    out = sh(
        ["sacct", "-X", "-a", "-P", "-n", "-S", since, "-o", SACCT_FIELDS.replace("%40", "").replace("%90", "")], e
    )
    keys = [k.split("%")[0] for k in SACCT_FIELDS.split(",")]
    return [dict(zip(keys, line.split("|"))) for line in out.stdout.splitlines() if line.strip()]


def minutes(limit: str) -> int:
    """sacct's Timelimit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def seconds(elapsed: str) -> int:
    days, _, clock = elapsed.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def expected_train_resources(dry_run: str) -> dict[str, dict]:
    """{train rule: its threads, mem_mb and runtime} from a dry run's job listing."""
    out = {}
    for block in re.split(r"\n(?=rule )", dry_run):
        name = re.match(r"rule (train__\S+):", block)
        if not name:
            continue
        resources = dict(re.findall(r"(\w+)=(\d+)", block.split("resources:", 1)[1].splitlines()[0]))
        threads = re.search(r"threads: (\d+)", block)
        out[name.group(1)] = {
            "cpus": int(threads.group(1)) if threads else 1,
            "mem_mb": int(resources["mem_mb"]),
            "runtime": int(resources["runtime"]),
        }
    return out


class Faults(threading.Thread):
    """Watches the cluster run and injects its faults, each once, noting what it did and when."""

    def __init__(self, state: Path, e: dict, repo: Path, expected: dict[str, dict]):
        super().__init__(daemon=True)
        self.state, self.e, self.repo = state, e, repo
        # cnn_svm's jobs: eight runs of 30 steps, a checkpoint every 10 (configs/papers/cnn_svm.yaml),
        # a second or two each at smoke scale, so a run is caught between two checkpoints (sso's
        # runs take milliseconds)
        self.targets = {rule for rule in expected if rule.startswith("train__cnn_svm__")}
        self.done = threading.Event()
        self.log: dict[str, dict] = {}
        self.errors: list[str] = []

    def queue(self) -> list[dict]:
        p = sh(["squeue", "-h", "-o", "%i|%k|%T"], self.e, check=False)
        rows = [line.split("|") for line in p.stdout.splitlines() if line.count("|") == 2]
        return [{"id": i, "comment": c, "state": s} for i, c, s in rows]

    def restart_slurmd(self) -> None:
        """slurmd stopped and started again while jobs are queued, as an administrator restarts it:
        the node drained first and left to empty, so that no job is starting while slurmd is away.

        Stopping slurmd does not touch a running job (slurmd starts each slurmstepd through fork,
        setsid, fork: the step runs in a session of its own, a child of init, not of slurmd), but a
        job starting goes through slurmd: slurmctld hands it the batch script, and the job's srun
        asks it to start the job step. A job that started across the stop (picked from squeue, the
        moment can fall between a look at the queue and the stop) failed, or was requeued by
        slurmctld and killed by slurmd when it answered (exit 137), and ran again. With the node
        empty nothing is under way, and the drain keeps slurmctld from sending it queued jobs
        until slurmd has registered again (slurm.start_slurmd resumes the node only then)."""
        host = slurm.node_name()
        update = ["scontrol", "update", f"nodename={host}"]
        started = time.time()
        sh([*update, "state=drain", "reason=logitrepro cluster test: slurmd restarted"], self.e)
        try:
            deadline = time.time() + DRAIN_S
            while True:
                states = sh(["sinfo", "-h", "-N", "-o", "%T"], self.e, check=False).stdout.split()
                jobs = self.queue()
                busy = [j for j in jobs if j["state"] != "PENDING"]
                if states and all(s.rstrip("*") == "drained" for s in states) and not busy:
                    break
                assert time.time() < deadline, f"node {host} not empty {DRAIN_S} s after the drain: {states}, {busy}"
                time.sleep(1)
            drained = time.time()
            slurm.stop_slurmd(self.state)
            time.sleep(SLURMD_DOWN_S)
        finally:
            slurm.start_slurmd(self.state)  # the node resumed once slurmd has registered
        self.log["slurmd_restart"] = {
            "pending_at_stop": [j["id"] for j in jobs],
            "running_at_stop": busy,
            "drain_s": round(drained - started, 1),
            "back_s": round(time.time() - drained, 1),  # stopped, SLURMD_DOWN_S away, registered
            "at": time.time(),
        }
        note(
            f"slurmd stopped for {SLURMD_DOWN_S} s and started again with {len(jobs)} jobs pending "
            f"(the node drained and empty in {drained - started:.0f} s)"
        )

    def retried(self) -> set[str]:
        """Rules with an attempt that failed already (their one retry spent): not cancelled."""
        p = sh(["sacct", "-X", "-a", "-n", "-P", "-o", "Comment,State"], self.e, check=False)
        rows = [line.split("|") for line in p.stdout.splitlines() if "|" in line]
        return {c.removeprefix("rule_") for c, state in rows if c and not state.startswith(("COMPLETED", "RUNNING"))}

    def run(self):
        try:
            while not self.done.is_set():
                self.step()
                time.sleep(0.5)
        except Exception as e:  # a watcher that died says so in the report
            self.errors.append(f"{type(e).__name__}: {e}")

    def step(self):
        jobs = self.queue()
        if "slurmd_restart" not in self.log and any(j["state"] == "PENDING" for j in jobs):
            self.restart_slurmd()
            jobs = self.queue()
        if "scancel" not in self.log and "slurmd_restart" in self.log:
            spent = self.retried()
            for job in jobs:
                found = re.search(r"rule_train__(\w+?)__(\w+?)__", job["comment"])
                rule = job["comment"].removeprefix("rule_").split("_wildcards_")[0]
                if job["state"] != "RUNNING" or not found or rule not in self.targets or rule in spent:
                    continue
                folder = self.repo / "results" / "runs" / found.group(1) / found.group(2)
                in_progress = [
                    c.parent
                    for c in folder.glob("*/seed*/checkpoint.pt")
                    if not (c.parent / "metrics.json").exists() and not (c.parent / "train.json").exists()
                ]
                if in_progress:
                    sh(["scancel", job["id"]], self.e)
                    self.log["scancel"] = {
                        "job": job["id"],
                        "rule": job["comment"].removeprefix("rule_").split("_wildcards_")[0],
                        "runs_with_checkpoint": [str(r.relative_to(self.repo)) for r in in_progress],
                        "at": time.time(),
                    }
                    note(f"scancel {job['id']} ({job['comment']}) with a checkpoint in {in_progress[0]}")
                    break
        if "mlflow_restart" not in self.log:
            # MLflow prints a line per run it closes: 20 of sso's 363 recorded, the rest to come
            judge_log = self.repo / "results" / "logs" / "judge" / "sso.log"
            recorded = judge_log.read_text(errors="replace").count("View run") if judge_log.exists() else 0
            if recorded >= 20:
                started = time.time()
                tracking_server.stop_server(self.state)
                time.sleep(MLFLOW_DOWN_S)
                tracking_server.start_server(self.state)
                self.log["mlflow_restart"] = {"recorded_before": recorded, "down_s": round(time.time() - started, 1)}
                note(f"MLflow server restarted after the judge of sso recorded {recorded} runs")


def processes() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                pass
    return out


def mlflow_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = []
    for experiment in client.search_experiments():
        token = None
        while True:
            page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                break
    return runs


def paper_submissions(repo: Path, e: dict, root: Path) -> dict:
    """Paper-scale jobs submitted through the profile to an sbatch that records each call and asks
    the real one with --test-only (then fails the submission: nothing runs). Data folders are
    stand-ins: only the submissions matter."""
    data = root / "paper-data"
    dry = sh(
        ["snakemake", "-n", "--config", "scale=paper", f"paths={{results: {root}/paper-results, data: {data}}}"],
        e,
        repo,
    )
    for folder in sorted(set(re.findall(rf"{re.escape(str(data))}/[\w.-]+", dry.stdout))):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "manifest.json").write_text(json.dumps({"sha256": "0" * 64}))
    targets = re.findall(r"output: (\S+/metrics\.json)", dry.stdout)[:2]
    shim = root / "shim"
    shim.mkdir()
    calls = root / "sbatch-calls.jsonl"
    (shim / "sbatch").write_text(
        "#!/usr/bin/env python3\n"
        "import json, subprocess, sys\n"
        f"real = {shutil.which('sbatch')!r}\n"
        "args = sys.argv[1:]\n"
        "p = subprocess.run([real, '--test-only', *args], capture_output=True, text=True)\n"
        "local = [a for a in args if not a.startswith(('--gpus=', '--cpus-per-gpu=', '--cpus-per-task='))]\n"
        "q = subprocess.run([real, '--test-only', '--cpus-per-task=1', *local], capture_output=True, text=True)\n"
        "other = ['nosuchaccount' if a == 'logitrepro' else a for a in local]  # a control: sbatch does check\n"
        "r = subprocess.run([real, '--test-only', '--cpus-per-task=1', *other], capture_output=True, text=True)\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'args': args, 'rc': p.returncode, 'said': p.stderr.strip(),\n"
        "                        'fitted_rc': q.returncode, 'fitted_said': q.stderr.strip(),\n"
        "                        'other_account_rc': r.returncode, 'other_account_said': r.stderr.strip()}) + '\\n')\n"
        "sys.exit('sbatch --test-only: recorded, not submitted')\n"
    )
    (shim / "sbatch").chmod(0o755)
    e = {**without(e, "MLFLOW_TRACKING_URI"), "PATH": f"{shim}:{e['PATH']}"}
    config = [
        "--config",
        "scale=paper",
        f"paths={{results: {root}/paper-results, data: {data}}}",
        "tracking={enabled: false}",
    ]
    p = sh([RUN[0], *targets, *RUN[1:3], *config, *RUN[5:]], e, repo, timeout=600, check=False)
    made = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return {"targets": targets, "calls": made, "said": (p.stdout + p.stderr)[-3000:]}


def asked_for(markexpr: str) -> bool:
    """Whether a run selects the cluster marker by name (`-m cluster`), not merely leaves it in: a
    run given `-m 'not slow and not gpu'` replaces pyproject's `-m` (which says `not cluster`), and
    as root would otherwise start SLURM and PostgreSQL for twenty minutes, on the ports another
    run of this test may hold."""
    return re.search(r"(?<!not )\bcluster\b", markexpr or "") is not None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, request) -> dict:
    if not asked_for(request.config.getoption("markexpr")):
        pytest.skip("the cluster test runs when asked for by its marker: pytest -m cluster (make test-cluster)")
    if os.geteuid() != 0:
        pytest.skip("the one-node cluster runs its daemons as root")
    taken = [p for p in (PORTS.slurmctld, PORTS.slurmd, PORTS.slurmdbd, PORTS.mariadb, PORTS.postgres, PORTS.mlflow)]
    taken = [p for p in taken if port_answers(p)]
    assert not taken, (
        f"ports {taken} are taken on 127.0.0.1: a cluster runs already (python -m logitrepro.cluster stop)"
    )
    root = tmp_path_factory.mktemp("cluster")
    # not under pytest's folder, which only root may enter: PostgreSQL runs as its own user
    state = Path(tempfile.mkdtemp(prefix="logitrepro-cluster-test-"))
    state.chmod(0o755)
    e = cluster_env(state)
    facts: dict = {"faults": {}}
    REPORT.mkdir(exist_ok=True)
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        started = time.time()
        sh(CLUSTER + ["start"], e, timeout=600)
        facts["start_s"] = round(time.time() - started, 1)
        again = time.time()
        facts["second_start"] = sh(CLUSTER + ["start"], e).stderr
        facts["second_start_s"] = round(time.time() - again, 1)
        e = {**e, **dict(re.findall(r"export (\w+)=(\S+)", sh(CLUSTER + ["env"], e).stdout))}
        uri = e["MLFLOW_TRACKING_URI"]
        note(f"cluster up in {facts['start_s']} s; tracking at {uri}")

        local, repo = copy_project(root / "local"), copy_project(root / "cluster")

        # 1. PostgreSQL down before the start
        tracking_server.stop_postgres(state)
        before = len(sacct(e, since))
        started = time.time()
        p = sh(RUN, e, repo, timeout=600, check=False)
        facts["postgres_down"] = {
            "rc": p.returncode,
            "s": round(time.time() - started, 1),
            "said": (p.stdout + p.stderr)[-3000:],
            "jobs_submitted": len(sacct(e, since)) - before,
        }
        tracking_server.start_postgres(state)
        # the server's connection pool finds the database again on a later request, not at once
        deadline = time.time() + 300
        while not tracking_server.server_answers(uri):
            assert time.time() < deadline, "the MLflow server did not reconnect to PostgreSQL in 300 s"
            time.sleep(2)
        note(f"PostgreSQL down: exit {p.returncode} after {facts['postgres_down']['s']} s")

        # 2. the local reference run
        started = time.time()
        sh(
            ["snakemake", "--cores", "all", "--config", "scale=smoke"],
            without(e, "MLFLOW_TRACKING_URI"),
            local,
            WORKFLOW_S,
        )
        facts["local_wall_s"] = round(time.time() - started, 1)
        note(f"local smoke run: {facts['local_wall_s']} s")
        shutil.copytree(local / "data", repo / "data", symlinks=True)  # the same data: training compared

        # 3. the cluster run, faults injected
        facts["expected"] = expected_train_resources(sh([*RUN, "-n"], e, repo).stdout)
        faults = Faults(state, e, repo, facts["expected"])
        faults.start()
        started = time.time()
        p = sh(RUN, e, repo, timeout=WORKFLOW_S, check=False)
        facts["cluster_wall_s"] = round(time.time() - started, 1)
        faults.done.set()
        faults.join(600)
        (REPORT / "cluster-run.log").write_text(p.stdout + p.stderr)
        facts["cluster_rc"], facts["cluster_tail"] = p.returncode, (p.stdout + p.stderr)[-4000:]
        facts["faults"], facts["fault_errors"] = faults.log, faults.errors
        note(f"cluster smoke run: exit {p.returncode} in {facts['cluster_wall_s']} s")

        facts["jobs"] = sacct(e, since)
        (REPORT / "sacct.txt").write_text(
            sh(["sacct", "-a", "-S", since, "-o", SACCT_FIELDS.replace("Submit,Start,End,", "")], e).stdout
        )
        facts["diff"] = sh(
            [PY, "-m", "logitrepro", "diff", str(local / "results" / "claims"), str(repo / "results" / "claims")],
            e,
            repo,
            check=False,
        )
        facts["diff"] = {
            "rc": facts["diff"].returncode,
            "out": facts["diff"].stdout[-3000:] + facts["diff"].stderr[-2000:],
        }
        facts["mlflow_runs"] = [
            {
                "tags": dict(r.data.tags),
                "status": r.info.status,
                "datasets": len(r.inputs.dataset_inputs) if r.inputs else 0,
            }
            for r in mlflow_runs(uri)
        ]
        facts["repo"], facts["local"] = str(repo), str(local)
        statuses = [r["status"] for r in facts["mlflow_runs"]]
        facts["mlflow_statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}

        # 4. the paper scale's submissions
        facts["paper"] = paper_submissions(repo, e, root)
    finally:
        started = time.time()
        stopped = sh(CLUSTER + ["stop"], e, timeout=600, check=False)
        facts["stop"] = {"rc": stopped.returncode, "said": stopped.stderr[-2000:], "s": round(time.time() - started, 1)}
        facts["left_running"] = processes_of(state)
        facts["ports_open"] = [
            p for p in (PORTS.slurmctld, PORTS.slurmd, PORTS.slurmdbd, PORTS.mariadb) if port_answers(p)
        ]
        facts["ports_open"] += [p for p in (PORTS.postgres, PORTS.mlflow) if port_answers(p)]
        # the daemons' own logs (slurmstepd writes to slurmd's), kept to explain a failure
        shutil.rmtree(REPORT / "logs", ignore_errors=True)
        if (state / "logs").is_dir():
            shutil.copytree(state / "logs", REPORT / "logs")
        if not facts["left_running"]:
            shutil.rmtree(state, ignore_errors=True)
        (REPORT / "report.json").write_text(
            json.dumps({k: v for k, v in facts.items() if k != "mlflow_runs"}, indent=1, default=str)
        )
    return facts


def train_jobs(scenario) -> list[dict]:
    return [j for j in scenario["jobs"] if j["Comment"].startswith("rule_train__")]


def rule_of(job: dict) -> str:
    return job["Comment"].removeprefix("rule_").split("_wildcards_")[0]


def test_a_store_whose_database_is_down_stops_the_workflow_in_seconds_before_any_job(scenario):
    down = scenario["postgres_down"]
    assert down["rc"] != 0 and down["s"] < STOPS_WITHIN_S, down
    # the server answers 503 with the database's error, or (waiting on the database) not in time
    said = down["said"]
    assert "http://127.0.0.1:15000 is down" in said or "http://127.0.0.1:15000 does not answer" in said, said
    assert "is down" not in said or "port 15432 failed" in said, said
    assert down["jobs_submitted"] == 0


def test_a_second_start_starts_nothing(scenario):
    assert "started" not in scenario["second_start"].replace("was running", "").replace("started;", ""), scenario[
        "second_start"
    ]


def test_the_cluster_run_succeeds(scenario):
    assert scenario["cluster_rc"] == 0, scenario["cluster_tail"]
    assert not scenario["fault_errors"], scenario["fault_errors"]


def test_every_training_job_ran_as_a_slurm_job_with_the_resources_the_config_asks(scenario):
    expected = scenario["expected"]
    done = {rule_of(j): j for j in train_jobs(scenario) if j["State"] == "COMPLETED"}
    assert set(done) == set(expected), (sorted(expected), sorted(done))
    for rule, job in done.items():
        want = expected[rule]
        assert (job["Account"], job["Partition"]) == ("logitrepro", "main"), job
        assert int(job["AllocCPUS"]) == want["cpus"], job
        assert job["ReqMem"] == f"{want['mem_mb']}M", job
        assert minutes(job["Timelimit"]) == want["runtime"], job


def test_local_rules_ran_on_the_submit_host(scenario):
    rules = {rule_of(j) for j in scenario["jobs"]}
    assert not rules & {"judge", "tables", "plots", "claims_history", "all"}, rules
    repo = Path(scenario["repo"])
    for paper in ("cnn_svm", "vq_logits", "ls_attention", "fourier_head", "sso"):
        assert (repo / "results" / "claims" / f"{paper}.json").exists()
        assert (repo / "results" / "tables" / f"{paper}.md").exists()


def verdicts(results: Path) -> dict[str, str]:
    return {
        f"{f.stem}:{c['id']}": c["verdict"]
        for f in sorted((results / "claims").glob("*.json"))
        if not f.name.endswith(".prov.json")
        for c in json.loads(f.read_text())["claims"]
    }


def test_verdicts_and_metrics_equal_a_local_run(scenario):
    assert scenario["diff"]["rc"] == 0, scenario["diff"]["out"]
    local, repo = Path(scenario["local"]), Path(scenario["repo"])
    a, b = verdicts(local / "results"), verdicts(repo / "results")
    assert a and a == b, {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    runs = sorted(p.relative_to(local) for p in (local / "results" / "runs").rglob("metrics.json"))
    assert runs == sorted(p.relative_to(repo) for p in (repo / "results" / "runs").rglob("metrics.json"))
    for run in runs:
        a, b = (measured(json.loads((root / run).read_text())["metrics"]) for root in (local, repo))
        assert a == b, run


def measured(metrics: dict) -> dict:
    """A run's metrics less its clock readings (train_s, train_wall_s, the timed layers' logit_ms_*
    and speed-ups, latencies and their ratios): what training computed, the same bits on any
    machine of the same kind."""

    def clock(key: str) -> bool:
        return key.endswith("_s") or "_ms_" in key or "speedup" in key or "latency" in key

    out = {k: v for k, v in metrics.items() if not clock(k)}
    if isinstance(out.get("curve"), dict):
        out["curve"] = {k: v for k, v in out["curve"].items() if not clock(k)}
    return out


def test_every_run_is_in_the_mlflow_server_once_with_its_dataset(scenario):
    repo = Path(scenario["repo"])
    runs = {
        str(p.parent.relative_to(repo / "results" / "runs")) for p in (repo / "results" / "runs").rglob("metrics.json")
    }
    recorded: dict[str, int] = {}
    for r in scenario["mlflow_runs"]:
        t = r["tags"]
        if "seed" not in t or r["status"] not in ("FINISHED", "FAILED"):
            continue  # an arm's run (its seeds' parent), a claim's, or a record a restart cut short
        key = f"{t['paper']}/{t['experiment']}/{t['arm']}/seed{t['seed']}"
        recorded[key] = recorded.get(key, 0) + 1
        assert r["datasets"] >= 1, key
    twice = {k: n for k, n in recorded.items() if n > 1}
    assert not twice, twice
    assert set(recorded) == runs, (sorted(runs - set(recorded))[:10], sorted(set(recorded) - runs)[:10])


def test_a_cancelled_training_job_is_resubmitted_and_resumes_from_its_checkpoint(scenario):
    cancel = scenario["faults"].get("scancel")
    assert cancel, "no training job ran long enough to have a checkpoint mid-run"
    attempts = [j for j in train_jobs(scenario) if rule_of(j) == cancel["rule"]]
    assert [j["State"].split()[0] for j in attempts] == ["CANCELLED", "COMPLETED"], attempts
    paper, experiment, name = cancel["rule"].split("__")[1:4]
    said = (Path(scenario["repo"]) / "results" / "logs" / "train" / paper / experiment / f"{name}.log").read_text()
    # the run caught between two checkpoints resumes from the last one ("resuming from step"); one
    # that finished before scancel landed is kept from its final checkpoint, not trained again
    assert "resuming from step" in said or "keeping the finished run" in said, said[-3000:]
    assert "starting afresh" not in said, said[-3000:]


def test_jobs_queued_while_slurmd_was_down_all_ran_once(scenario):
    restart = scenario["faults"].get("slurmd_restart")
    assert restart and restart["pending_at_stop"], "no job was queued when slurmd was stopped"
    assert restart["running_at_stop"] == [], restart  # the drained node was empty
    states = {j["JobID"]: j["State"] for j in scenario["jobs"]}
    cancelled = scenario["faults"].get("scancel", {}).get("job")  # the next fault's: resubmitted
    pending = [i for i in restart["pending_at_stop"] if i != cancelled]
    assert all(states.get(i) == "COMPLETED" for i in pending), {i: states.get(i) for i in pending}
    # nothing lost: every training rule completed; nothing run twice: one job each, and no attempt
    # failed, was requeued or was killed but the one scancel cancelled
    completed = [rule_of(j) for j in scenario["jobs"] if j["State"] == "COMPLETED"]
    assert len(completed) == len(set(completed)), completed
    others = [(j["JobID"], rule_of(j), j["State"]) for j in train_jobs(scenario) if j["State"] != "COMPLETED"]
    assert [job for job, _, _ in others] == ([cancelled] if cancelled else []), others


def test_the_mlflow_server_restarted_while_the_judge_recorded(scenario):
    assert scenario["faults"].get("mlflow_restart"), "the judge of sso was not seen recording"
    said = (Path(scenario["repo"]) / "results" / "logs" / "judge" / "sso.log").read_text()
    assert "failed while the runs were recorded" in said and "waiting up to" in said, said[-2000:]
    assert "not recorded in MLflow" not in said, said[-2000:]
    # what it lost or doubled: test_every_run_is_in_the_mlflow_server_once_with_its_dataset


def test_paper_scale_submissions_carry_gpus_partition_and_account_and_sbatch_takes_them(scenario):
    calls = scenario["paper"]["calls"]
    assert calls, scenario["paper"]
    for call in calls:
        args = " ".join(call["args"])
        assert "-A logitrepro" in args or "--account" in args, args
        assert "-p main" in args or "--partition" in args, args
        assert "--gpus=1" in args and "--cpus-per-task=8" in args and "--mem 16000" in args and "-t 240" in args
        if slurm.gpu_devices() and os.cpu_count() >= 8:
            assert call["rc"] == 0 and "to start at" in call["said"], call
        else:  # a node smaller than a paper job: only its size is refused, not the request, account or partition
            assert call["rc"] != 0 and "Requested node configuration is not available" in call["said"], call
            assert call["fitted_rc"] == 0 and "in partition main" in call["fitted_said"], call
        assert call["other_account_rc"] != 0 and "Invalid account" in call["other_account_said"], call


def test_stop_leaves_nothing_running(scenario):
    assert scenario["stop"]["rc"] == 0, scenario["stop"]
    assert scenario["left_running"] == [] and scenario["ports_open"] == [], scenario


def test_timings_are_reported(scenario):
    """The cluster run's wall time against the local run's, and the time each SLURM job spent
    around its payload (queued with a free slot, the job step's start-up)."""
    jobs = [j for j in train_jobs(scenario) if j["State"] == "COMPLETED"]
    repo = Path(scenario["repo"])
    around = []
    for j in jobs:
        paper, experiment, name = rule_of(j).split("__")[1:4]
        tsv = repo / "results" / "benchmarks" / "train" / paper / experiment / f"{name}.tsv"
        if tsv.exists():
            payload = float(tsv.read_text().splitlines()[1].split("\t")[0])
            around.append(seconds(j["Elapsed"]) - payload)
    report = {
        "local_wall_s": scenario["local_wall_s"],
        "cluster_wall_s": scenario["cluster_wall_s"],
        "slurm_jobs": len(scenario["jobs"]),
        "per_job_around_payload_s": round(statistics.median(around), 1) if around else None,
        "wall_difference_per_job_s": round(
            (scenario["cluster_wall_s"] - scenario["local_wall_s"]) / max(len(jobs), 1), 1
        ),
        "start_s": scenario["start_s"],
        "stop_s": scenario["stop"]["s"],
    }
    (REPORT / "timings.json").write_text(json.dumps(report, indent=1))
    note(f"timings: {report}")
    assert scenario["cluster_wall_s"] > 0 and scenario["local_wall_s"] > 0
