"""MLflow conventions in one place: no other module names an experiment, a tag or an artifact.

One experiment per paper (its description: title and arXiv link), one run per training run
(tags: paper, experiment, arm, seed, scale, data checksum, the commit as MLflow's source
commit; params: the hyper-parameters; its dataset as an input; metrics: the history rows as
curves and the final metrics; artifacts: history, run info and metrics, the checkpoint only by
its path, since results/runs holds it already), the seeds of an arm children of one run per arm
(the UI's default view folds them under it), and one experiment `claims` holding the claims
history: a parent run per pipeline invocation, a child per judged claim named by its verdict. The default
store is SQLite in the project; parallel jobs write to it through a file lock, because SQLite allows one
writer and MLflow does not retry "database is locked" (nor the first-time schema migration
racing in two processes).

A record takes many store calls, and a job can be killed between any two: a run counts as
recorded only once it is closed (FINISHED, or FAILED for a diverged training run). One left
RUNNING is marked KILLED and recorded again; an invocation's claims left RUNNING are completed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from logitrepro.files import read_json
from logitrepro.run_times import training_times
from logitrepro.runs import RunDir

CLAIMS_EXPERIMENT = "claims"
NOTE = "mlflow.note.content"  # what the UI shows as a run's or an experiment's description
# A view the UI opens with `#/experiments/<id>/runs?viewStateShareKey=<key>` (its "Share" button
# writes these): the filter, the order and the columns, as JSON in an experiment tag.
SHARED_VIEW = "mlflow.sharedViewState."
# Narrow columns first: the run name carries the verdict and the claim, these what a reader
# checks it by; the rest (reason, statement) are in the run's page.
CLAIM_COLUMNS = (
    "tags.`verdict`",
    "metrics.`claimed`",
    "metrics.`measured_mean`",
    "metrics.`ci_low`",
    "metrics.`ci_high`",
    "metrics.`p_pass_perfect`",
    "tags.`class`",
    "tags.`paper`",
    "tags.`claim_id`",
)
# The UI renders a description as Markdown with HTML: "<verdict>" would vanish as an unknown tag
CLAIMS_DESCRIPTION = (
    "The judged claims: a run per claim, named by its verdict, then its id ('reproduced · fh.toy.gaussian'; "
    "sort by name to group them by "
    "verdict), under a parent run per pipeline invocation. Numbers are rounded to 4 significant digits; "
    "the statement, reason and rerun command are in each run's description and tags."
)
SIGNIFICANT = 4  # digits a claim's numbers are logged with: a column a person reads, not a store of results
SOURCE_COMMIT = "mlflow.source.git.commit"  # MLflow's own tag: the UI shows it as the run's version
PARENT = "mlflow.parentRunId"
CHECKPOINT_TAG = "checkpoint"  # the checkpoint's path: results/runs holds it, MLflow does not copy it
DIGEST_CHARS = 16  # MLflow stores a dataset digest in at most 36 characters
# What one MLflow log_batch call takes at most: 1,000 entries, of them at most 100 params.
BATCH_ENTRIES, BATCH_PARAMS = 1000, 100
# A record's run, closed: what record_evaluation and _record_finished_run end with (a diverged
# run is FAILED, and complete). RUNNING is a record a killed job left half-written.
RECORDED = ("FINISHED", "FAILED")
# MLflow's HTTP client retries a failing server 7 times with a doubling backoff, 120 s per
# attempt, honouring Retry-After: a server answering 503 stalls a job for minutes without a
# word. These make it seconds (a value set in the environment wins).
HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
}


def claims_view_key(parent_run_id: str) -> str:
    """The UI view of one invocation's claims."""
    return f"invocation-{parent_run_id[:12]}"


def claims_digest(claims_files: list[dict]) -> str:
    """What identifies a set of judged claims: their files' content, papers in order."""
    text = json.dumps(sorted(claims_files, key=lambda cf: cf["paper"]), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def run_name(spec: dict) -> str:
    return f"{spec['experiment']}-{spec['arm']}-seed{spec['seed']}"


def arm_name(spec: dict) -> str:
    """The run that holds an arm's seeds as its children."""
    return f"{spec['experiment']}-{spec['arm']}"


def claim_run_name(verdict: str, claim_id: str) -> str:
    """A claim's run is named by its verdict first: the board reads at first sight. "not checked
    at this scale" is cut to "not checked", or the UI's name column shows no claim id after it (the
    verdict tag keeps the whole words)."""
    return f"{'not checked' if verdict.startswith('not checked') else verdict} · {claim_id}"


def rounded(value: float, digits: int = SIGNIFICANT) -> float:
    """A number to `digits` significant digits (a UI column of 0.123456789 hides the ones after it)."""
    return float(f"{value:.{digits}g}")


def run_params(spec: dict) -> dict[str, Any]:
    """A training run's params: its hyper-parameters, dataset and scale."""
    return {"hparams": spec["hparams"], "dataset": spec["dataset"], "scale": spec["scale"]}


def param_entries(params: dict[str, Any]) -> list:
    """MLflow Params, flattened (`hparams.lr`), values as text within MLflow's length limit."""
    from mlflow.entities import Param

    return [Param(k, str(v)[:6000]) for k, v in sorted(flatten(params).items())]


def final_metrics(metrics: dict) -> dict[str, float]:
    """The numbers of an evaluation that become MLflow metrics (the step count is their step)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "steps"}


def run_tags(spec: dict, data_sha: str, commit: str) -> dict:
    return {
        "paper": spec["paper"],
        "experiment": spec["experiment"],
        "arm": spec["arm"],
        "seed": spec["seed"],
        "scale": spec["scale"],
        "task": spec["task"],
        SOURCE_COMMIT: commit,
        "data_checksum": data_sha,
        "dataset": spec["dataset"],
    }


class TrackingUnavailable(RuntimeError):
    """The configured tracking store does not answer, or cannot be read."""


NO_TRACKING = "or set tracking.enabled: false to record results/ only"


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, naming the store and the fix, when it cannot take a record: a server
    that does not answer or answers with a server error (MLflow's own client would retry for
    minutes without a word), or a SQLite file that is not a readable database."""
    if uri.startswith("sqlite:///"):
        check_sqlite_store(uri)
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    # /health answers without the server's store; a search reads it (a server whose database is
    # down answers that 503, and MLflow's client would retry it for minutes)
    search = urllib.request.Request(
        uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
        data=b'{"max_results": 1}',
        headers={"Content-Type": "application/json"},
    )
    try:
        for request in (uri.rstrip("/") + "/health", search):
            try:
                with urllib.request.urlopen(request, timeout=timeout_s):
                    pass
            except urllib.error.HTTPError as e:
                if e.code >= 500:
                    raise
                # it answers: a server without /health or this API (a proxy, Databricks) is still there
        return
    except urllib.error.HTTPError as e:
        said = _server_message(e)
        state = (
            f"is down (it answers HTTP {e.code} {e.reason}{': ' + said if said else ''}): look at its log or restart it"
        )
    except (urllib.error.URLError, OSError) as e:
        state = f"does not answer ({getattr(e, 'reason', e)}): start it"
    raise TrackingUnavailable(
        f"the MLflow tracking server {uri} {state}, point tracking.uri (or MLFLOW_TRACKING_URI) at one that "
        f"runs, {NO_TRACKING}."
    ) from None


def _server_message(error) -> str:
    """The first line of the message in an MLflow server's error answer (its store's own error:
    a database that refuses connections), or nothing."""
    try:
        message = json.loads(error.read().decode(errors="replace")).get("message", "")
    except (ValueError, OSError, AttributeError):
        return ""
    return str(message).strip().splitlines()[0][:300] if str(message).strip() else ""


def check_sqlite_store(uri: str) -> None:
    """A SQLite store that exists must read as a database throughout (a truncated or overwritten
    mlflow.db makes every later store call fail); a missing one MLflow creates."""
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():
        return
    try:
        # busy timeout: a writer in another job holds the file for moments, not for good
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            problem = db.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.Error as e:
        problem = str(e)
    if problem != "ok":
        move = f"mv {shlex.quote(str(path))} {shlex.quote(str(path) + '.damaged')}"
        raise TrackingUnavailable(
            f"the MLflow store {uri} cannot be read ({problem}). Move it aside ({move}) to start an empty "
            f"store, restore it from a backup, {NO_TRACKING}."
        )


def make_tracker(tracking: dict) -> Tracker | None:
    """The tracker the config asks for (`tracking.enabled: false`: none), its server checked first."""
    if not tracking.get("enabled", True):
        return None
    uri = resolve_uri(tracking.get("uri"))
    check_reachable(uri)
    try:
        return Tracker(uri, tracking.get("artifacts", "mlruns"))
    except Exception as e:  # it passed the check, then failed its first call (the retries are capped)
        raise TrackingUnavailable(
            f"the MLflow store {uri} fails ({type(e).__name__}: {str(e)[:300]}): look at it or its log, {NO_TRACKING}."
        ) from None


class LiveTracker:
    """The tracker of a job that trains while it logs: a tracking outage ends the logging, not
    the training. It forwards each call to its Tracker until one fails; from then on it logs
    nothing (every call would stall through the HTTP retries again) and returns None, so a run
    started later has no MLflow run. The judge marks the run left RUNNING as KILLED and records
    the finished run from its files (Tracker.record_runs)."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker
        self.failure: Exception | None = None

    def __getattr__(self, name: str):
        method = getattr(self.tracker, name)
        if not callable(method):
            return method

        def guarded(*args, **kwargs):
            if self.failure is not None:
                return None
            try:
                return method(*args, **kwargs)
            except Exception as e:  # whatever the store raised: MlflowException, requests, sqlalchemy
                self.failure = e
                print(
                    f"tracking failed ({type(e).__name__}: {str(e)[:300]}); training goes on without MLflow "
                    f"({self.tracker.uri}), and the judge records the run from its files",
                    file=sys.stderr,
                    flush=True,
                )
                return None

        return guarded


def record_judged_runs(tracking: dict, paper: dict, claims_file: dict, evaluations: list[dict]) -> bool:
    """A judge's part of the tracking (one writer per paper): record the paper's runs that have
    no finished MLflow run and link the claims file to them. A store that is down or fails
    mid-way is reported, not raised: the claims file is written already, and its runs are left
    unlinked (the ids a live job logged may name runs it never finished). Returns whether the
    claims file changed."""
    ids, link = {}, None
    for attempt in (1, 2):
        try:
            tracker = make_tracker(tracking)
            if tracker is None:
                return False
            tracker.describe_paper(paper)
            ids = tracker.record_runs(evaluations)
            link = {"ui": tracker.ui_url(tracking.get("ui")), "experiment_id": tracker.experiment_id(paper["id"])}
            break
        except Exception as e:  # TrackingUnavailable, or the store failing after the start-up check
            # a server failing now answered the workflow's start-up check: it may be restarting, and
            # recording again is safe (a record left RUNNING is closed as KILLED, one finished is
            # kept), so wait for it a little
            if attempt == 1 and _comes_back(resolve_uri(tracking.get("uri")), paper["id"], e):
                continue
            print(
                f"[{paper['id']}] the claims are written but their runs are not recorded in MLflow: {e}\n"
                f"Once the store works, judge again (snakemake --forcerun judge) to record and link them.",
                file=sys.stderr,
                flush=True,
            )
            break
    for r in claims_file["runs"]:
        r["mlflow_run_id"] = ids.get(str(Path(r["run_dir"]))) if r.get("run_dir") else None
    if link:
        claims_file["mlflow"] = link
    return True


SERVER_COMEBACK_S = 90  # a tracking server restarted (a deploy, its supervisor after a crash) is back by then


def _comes_back(uri: str, paper_id: str, error: Exception, wait_s: float = SERVER_COMEBACK_S) -> bool:
    """Whether a tracking server that failed mid-way answers again within `wait_s` (saying that it
    waits); a local store is not waited for: a file does not restart."""
    if not uri.startswith(("http://", "https://")):
        return False
    print(
        f"[{paper_id}] the tracking server {uri} failed while the runs were recorded "
        f"({type(error).__name__}); waiting up to {wait_s:g} s for it to answer again",
        file=sys.stderr,
        flush=True,
    )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            check_reachable(uri)
            return True
        except TrackingUnavailable:
            time.sleep(2)
    return False


def resolve_uri(configured: str | None, root: str | Path | None = None) -> str:
    """Config key, else $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db (absolute)."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = Path(root or Path.cwd()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class Tracker:
    def __init__(self, uri: str, artifacts: str | Path = "mlruns", retries: int = 8):
        import mlflow  # imported here: it is slow, and many commands never track

        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        for name, value in HTTP_LIMITS.items():  # read by MLflow at each request
            os.environ.setdefault(name, value)
        self.uri = uri
        self.artifacts = Path(artifacts).resolve()
        self.retries = retries
        self._lock = FileLock(uri.removeprefix("sqlite:///") + ".lock") if uri.startswith("sqlite:///") else None
        self._experiment_ids: dict[str, str] = {}  # name -> id, once found or made
        # (experiment id, arm group) -> (the arm's run id, the end time it was given): a judge
        # records hundreds of seeds under a few dozen arms, and finds each arm once
        self._arm_runs: dict[tuple[str, str], tuple[str, int | None]] = {}
        # Creating the client opens the store, which runs the schema migrations on a new
        # database: two jobs doing that at once collide ("duplicate column"), so hold the lock.
        with self._write():
            self.client = mlflow.MlflowClient(tracking_uri=uri)
            self.client.search_experiments(max_results=1)

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock if self._lock is not None else contextlib.nullcontext():
            yield

    def _call(self, fn, *args, **kwargs):
        """Run one store call under the lock, retrying transient lock errors from other writers (e.g. the UI)."""
        for attempt in range(self.retries):
            try:
                with self._write():
                    return fn(*args, **kwargs)
            except Exception as e:  # sqlalchemy OperationalError arrives wrapped in MlflowException
                if "locked" not in str(e).lower() or attempt == self.retries - 1:
                    raise
                time.sleep(0.2 * 2**attempt)

    def experiment_id(self, name: str) -> str:
        if name in self._experiment_ids:
            return self._experiment_ids[name]

        def get_or_create():
            exp = self.client.get_experiment_by_name(name)
            if exp is not None:
                return exp.experiment_id
            location = None
            if not self.uri.startswith(("http://", "https://", "databricks")):
                location = (self.artifacts / name).as_uri()
            return self.client.create_experiment(name, artifact_location=location)

        self._experiment_ids[name] = self._call(get_or_create)
        return self._experiment_ids[name]

    def start_run(
        self,
        experiment: str,
        run_name: str,
        tags: dict[str, Any],
        run_id: str | None = None,
        start_time: int | None = None,
    ) -> str:
        """Create a run (started now, or at `start_time` in ms), or reopen `run_id` when a job
        resumes after an interruption."""
        if run_id:
            try:
                self._call(self.client.get_run, run_id)
                self._call(self.client.update_run, run_id, status="RUNNING")
                return run_id
            except Exception:
                pass  # the store was reset since: start afresh
        exp_id = self.experiment_id(experiment)
        run = self._call(
            self.client.create_run,
            exp_id,
            start_time=start_time,
            run_name=run_name,
            tags={k: str(v) for k, v in tags.items()},
        )
        return run.info.run_id

    def arm_run(self, spec: dict, times: tuple[int, int] | None = None) -> str:
        """The run of an arm (found, or made closed), parent of its seeds' runs: the UI's default
        view of a paper's experiment lists an arm per row and folds its seeds under it. `times`: a
        seed's training start and end (ms), recorded after training; the arm's run then starts at
        its first recorded seed's start and ends at its latest seed's end, not when it was recorded."""
        exp_id = self.experiment_id(spec["paper"])
        group = f"{spec['experiment']}/{spec['arm']}"
        known = self._arm_runs.get((exp_id, group))
        if known is not None and (times is None or (known[1] or 0) >= times[1]):
            return known[0]

        def get_or_create() -> tuple[str, int | None]:  # in one locked call: parallel jobs of one arm make one parent
            found = self.client.search_runs([exp_id], f"tags.arm_group = '{group}'", max_results=1)
            if found:
                end = found[0].info.end_time
                if times is not None and (end or 0) < times[1]:
                    end = times[1]
                    self.client.set_terminated(found[0].info.run_id, "FINISHED", end_time=end)
                return found[0].info.run_id, end
            tags = {
                "arm_group": group,
                "paper": spec["paper"],
                "experiment": spec["experiment"],
                "arm": spec["arm"],
                "scale": spec["scale"],
                NOTE: f"The seeds of arm {spec['arm']} of experiment {spec['experiment']}: expand the row.",
            }
            start, end = times if times is not None else (None, None)
            run = self.client.create_run(exp_id, run_name=arm_name(spec), tags=tags, start_time=start)
            self.client.set_terminated(run.info.run_id, "FINISHED", end_time=end)
            return run.info.run_id, end

        self._arm_runs[(exp_id, group)] = self._call(get_or_create)
        return self._arm_runs[(exp_id, group)][0]

    def close_orphan(self, run_id: str) -> None:
        """Close a run an earlier attempt left RUNNING (a job killed before its first checkpoint)."""
        try:
            run = self._call(self.client.get_run, run_id)
        except Exception:
            return  # the store was reset since: nothing to close
        if run.info.status == "RUNNING":
            self._call(self.client.set_terminated, run_id, "KILLED")

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        existing = self._call(self.client.get_run, run_id).data.params
        # params are immutable once logged (a resumed run has them already)
        self.log_batch(run_id, params=[p for p in param_entries(params) if p.key not in existing])

    def log_batch(self, run_id: str, params: list | None = None, metrics: list | None = None) -> None:
        """Params and metrics in as few store calls as MLflow's limits allow (each call is a
        transaction: on SQLite, a commit to disk)."""
        params, metrics = list(params or []), list(metrics or [])
        while params or metrics:
            p, params = params[:BATCH_PARAMS], params[BATCH_PARAMS:]
            room = BATCH_ENTRIES - len(p)
            m, metrics = metrics[:room], metrics[room:]
            self._call(self.client.log_batch, run_id, params=p, metrics=m)

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items() if v is not None]
        if batch:
            self._call(self.client.log_batch, run_id, metrics=batch)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        self._call(self.client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_artifact(self, run_id: str, path: str | Path, subdir: str | None = None) -> None:
        self._call(self.client.log_artifact, run_id, str(path), subdir)

    def log_run_files(self, run_id: str, files: list[Path]) -> None:
        """A run's small files as artifacts, in one store call; its checkpoint by reference (a tag
        with its path), never copied: results/runs holds it, and a copy per run doubles the disk
        the runs take."""
        checkpoints = [f for f in files if f.name == RunDir(f.parent).checkpoint.name]
        for f in checkpoints:
            self.set_tags(run_id, {CHECKPOINT_TAG: f.resolve()})
        present = [f for f in files if f not in checkpoints and f.exists()]
        if len(present) == 1:
            self.log_artifact(run_id, present[0])
        elif present:  # each artifact call looks the run up again: one call for all of them
            with tempfile.TemporaryDirectory() as tmp:
                for f in present:
                    shutil.copy2(f, Path(tmp) / f.name)
                self._call(self.client.log_artifacts, run_id, tmp)

    def end_run(self, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
        self._call(self.client.set_terminated, run_id, status, end_time)

    # ------------------------------------------------------------------ a training run

    def start_training_run(
        self, spec: dict, data_sha: str, commit: str, run_id: str | None = None, data_source: str = ""
    ) -> str:
        """The job's run (reopened when a job resumes), tagged, with its hyper-parameters and its
        dataset as an MLflow input (the UI's Dataset column)."""
        tags = {**run_tags(spec, data_sha, commit), PARENT: self.arm_run(spec)}
        run_id = self.start_run(spec["paper"], run_name(spec), tags, run_id)
        self.log_params(run_id, run_params(spec))
        self.log_dataset(run_id, spec, data_sha, data_source)
        return run_id

    def log_dataset(self, run_id: str, spec: dict, data_sha: str, data_source: str) -> None:
        """The run's dataset as an input: its name, content digest and where it came from."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        source = {"path": spec.get("data_dir"), "source": data_source or "generated from the run's seed"}
        dataset = Dataset(
            name=spec["dataset"],
            digest=data_sha[:DIGEST_CHARS] if spec.get("data_dir") else "synthetic",
            source_type="local" if spec.get("data_dir") else "code",
            source=json.dumps(source),
        )
        context = InputTag(key="mlflow.data.context", value="training")
        self._call(self.client.log_inputs, run_id, [DatasetInput(dataset, [context])])

    def describe_paper(self, paper: dict) -> None:
        """The paper's experiment carries its title and arXiv link as its description."""
        text = f"{paper['title']}: https://arxiv.org/abs/{paper['arxiv']}"
        exp_id = self.experiment_id(paper["id"])
        exp = self._call(self.client.get_experiment, exp_id)
        if exp.tags.get(NOTE) != text:
            self._call(self.client.set_experiment_tag, exp_id, NOTE, text)

    def log_history_row(self, run_id: str, row: dict) -> None:
        self.log_metrics(
            run_id, {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}, row["step"]
        )

    def finish_training(self, run_id: str, status: str, counters: dict, step: int, history: Path) -> None:
        self.set_tags(run_id, {"status": status})
        self.log_metrics(
            run_id,
            {
                "train_wall_s": counters["train_wall_s"],
                "diverged": float(status == "diverged"),
                "loss_spikes": counters["loss_spikes"],
            },
            step,
        )
        self.log_artifact(run_id, history)

    def record_evaluation(self, run_id: str, metrics: dict, step: int, status: str, files: list[Path]) -> None:
        """The final metrics, the run's files as artifacts, and the run closed."""
        self.log_metrics(run_id, final_metrics(metrics), step)
        self.log_run_files(run_id, files)
        self.end_run(run_id, "FINISHED" if status == "completed" else "FAILED")

    # ------------------------------------------------------------------ finished runs, recorded afterwards

    def record_runs(self, evaluations: list[dict]) -> dict[str, str]:
        """Record finished runs that trained without live tracking: one MLflow run per run, with
        its tags, hyper-parameters, history as curves, final metrics and files, exactly as a live
        run has them. A run already recorded with the same content (or logged live) is not
        recorded again, if its record was closed: one a killed job left RUNNING (live, or by an
        earlier judge) is marked KILLED and the run recorded afresh. Returns {run folder: MLflow
        run id}."""
        out, known, status = {}, {}, {}
        for paper in sorted({e["spec"]["paper"] for e in evaluations}):
            for r in self.find_runs(paper):
                status[r.info.run_id] = r.info.status
                if "content" in r.data.tags and r.info.status in RECORDED:
                    known[r.data.tags["content"]] = r.info.run_id
                elif "content" in r.data.tags:
                    self.abandon(r.info.run_id, r.info.status)
        for ev in evaluations:
            run = RunDir(ev["run_dir"])
            live = ev.get("mlflow_run_id")
            if live and status.get(live) in RECORDED:
                out[str(run.path)] = live
                continue
            if live:  # logged live until the job or the store failed; or gone from the store
                self.abandon(live, status.get(live))
            content = hashlib.sha256(json.dumps(ev, sort_keys=True, default=str).encode()).hexdigest()[:20]
            if content in known:
                out[str(run.path)] = known[content]
                continue
            out[str(run.path)] = known[content] = self._record_finished_run(run, ev, content)
        return out

    def abandon(self, run_id: str, status: str | None) -> None:
        """A half-written record: closed as KILLED, so that nothing reads it as a finished run."""
        if status == "RUNNING":
            self._call(self.client.set_terminated, run_id, "KILLED")

    def _record_finished_run(self, run: RunDir, ev: dict, content: str) -> str:
        """One finished run into MLflow in a few store calls (a judge records hundreds): the run
        with its tags, one batch of params, curves and final metrics, its dataset, its files,
        and the run closed, at the times it trained (training_times). What it holds is what
        start_training_run, log_history_row, finish_training and record_evaluation give a live
        run."""
        from mlflow.entities import Metric

        info, spec, metrics = run.read_info(), ev["spec"], ev["metrics"]
        status = metrics.get("status", "")
        tags = {
            **run_tags(spec, info.get("data_checksum", ""), info.get("git_commit", "")),
            "content": content,
            "status": status,
        }
        start, end = training_times(run, info)
        tags[PARENT] = self.arm_run(spec, (start, end))
        tags[CHECKPOINT_TAG] = run.checkpoint.resolve()  # what log_run_files tags a live run with
        run_id = self.start_run(spec["paper"], run_name(spec), tags, start_time=start)
        curve = [
            # a row's time: the start plus the training time spent by then (what the UI's
            # "relative time" axis shows of a live run)
            Metric(k, float(v), start + int(1000 * row.get("train_s", 0.0)), row["step"])
            for row in run.read_history()
            if "event" not in row
            for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and math.isfinite(v)
        ]
        final = [Metric(k, float(v), end, metrics.get("steps", 0)) for k, v in final_metrics(metrics).items()]
        self.log_batch(run_id, params=param_entries(run_params(spec)), metrics=curve + final)
        self.log_dataset(run_id, spec, info.get("data_checksum", ""), info.get("data_source", ""))
        self.log_run_files(run_id, [run.history, run.info, run.metrics])
        self.end_run(run_id, "FINISHED" if status == "completed" else "FAILED", end_time=end)
        return run_id

    # ------------------------------------------------------------------ judged claims

    def record_claims(self, claims_files: list[dict], invocation: dict) -> tuple[str, bool]:
        """The claims history: one parent run per pipeline invocation in the `claims` experiment
        (commit, scale, config digest, paper claims by verdict, total cost; the claims files as
        artifacts, which `logitrepro diff` reads back), one child per claim (named by its verdict
        and id; verdict, class and paper as tags, so they are columns in the UI; the numbers,
        power and cost as metrics, rounded; the training runs it read by id). Claims identical
        to a recorded invocation's add nothing; an invocation is recorded once its parent is FINISHED, the parent's last
        write. One an earlier attempt left unfinished (killed mid-way) is completed: its
        artifacts and numbers again, the claims it lacks, and the parent closed. Returns (the
        parent's run id, whether anything was recorded now)."""
        digest = claims_digest(claims_files)
        earlier = self.find_runs(CLAIMS_EXPERIMENT, f"tags.claims_digest = '{digest}'")
        for r in earlier:
            if r.info.status == "FINISHED":
                return r.info.run_id, False
        claims = [c for cf in claims_files for c in cf["claims"]]
        if earlier:
            parent = earlier[0].info.run_id
            self._call(self.client.update_run, parent, status="RUNNING")
        else:
            parent = self._start_claims_parent(claims_files, claims, digest, invocation)
        from logitrepro.verdicts import VERDICTS

        paper_claims = [c for c in claims if c.get("class", "paper") == "paper"]
        totals = {f"paper_{v.replace(' ', '_')}": sum(c["verdict"] == v for c in paper_claims) for v in VERDICTS}
        cost = {k: sum((cf.get("cost") or {}).get(k, 0.0) for cf in claims_files) for k in ("core_s", "gpu_s")}
        self.log_metrics(parent, {**totals, "claims": len(claims), "paper_claims": len(paper_claims), **cost})
        with tempfile.TemporaryDirectory() as tmp:
            for cf in claims_files:
                path = Path(tmp) / f"{cf['paper']}.json"
                path.write_text(json.dumps(cf, indent=1, sort_keys=True, default=str))
                self.log_artifact(parent, path, "claims")
        recorded = self._recorded_claims(parent)
        for cf in claims_files:
            for c in cf["claims"]:
                if (cf["paper"], c["id"]) not in recorded:
                    self._record_claim(parent, cf, c)
        self.share_claims_view(CLAIMS_EXPERIMENT, "tags.claim_id LIKE '%'")
        self.share_claims_view(claims_view_key(parent), f"tags.claim_id LIKE '%' AND tags.invocation = '{parent}'")
        self.end_run(parent)  # last: what marks the invocation recorded
        return parent, True

    def _start_claims_parent(self, claims_files: list[dict], claims: list[dict], digest: str, invocation: dict) -> str:
        papers = sorted(cf["paper"] for cf in claims_files)
        scale = ",".join(sorted({cf["scale"] for cf in claims_files}))
        return self.start_run(
            CLAIMS_EXPERIMENT,
            f"{scale} @ {str(invocation.get('git_commit', ''))[:8]} ({len(claims)} claims)",
            {
                "claims_digest": digest,
                "scale": scale,
                "papers": ",".join(papers),
                "git_commit": invocation.get("git_commit", ""),
                "config_digest": invocation.get("config_digest", ""),
                NOTE: f"Claims of {', '.join(papers)} at {scale} scale: {invocation.get('summary', '')}",
            },
        )

    def _recorded_claims(self, parent: str) -> set[tuple[str, str]]:
        """The (paper, claim id) of an invocation's finished children. A child a killed attempt
        left half-written is deleted (MLflow keeps it restorable), since the invocation's view
        would list it beside its complete record."""
        done = set()
        for r in self.find_runs(CLAIMS_EXPERIMENT, f"tags.invocation = '{parent}'"):
            if r.info.status == "FINISHED":
                done.add((r.data.tags.get("paper"), r.data.tags.get("claim_id")))
            else:
                self._call(self.client.delete_run, r.info.run_id)
        return done

    def share_claims_view(self, key: str, search_filter: str) -> None:
        """A view of the claims experiment as a table of claims: the children only (else the UI
        folds them under their parent), a claim per row, its verdict and numbers as columns."""
        state = {
            "searchFilter": search_filter,
            # sorted by anything but start time, the UI lists children flat rather than under a parent
            "orderByKey": "tags.`claim_id`",
            "orderByAsc": True,
            "selectedColumns": list(CLAIM_COLUMNS),
        }
        exp_id = self.experiment_id(CLAIMS_EXPERIMENT)
        self._call(self.client.set_experiment_tag, exp_id, SHARED_VIEW + key, json.dumps(state))
        if key == CLAIMS_EXPERIMENT:  # the experiment's description says how its runs read
            self._call(self.client.set_experiment_tag, exp_id, NOTE, CLAIMS_DESCRIPTION)

    def _record_claim(self, parent: str, claims_file: dict, c: dict) -> None:
        arms = set(c.get("reads") or ())
        read = [
            r["mlflow_run_id"]
            for r in claims_file["runs"]
            if r["experiment"] == c["experiment"] and r["arm"] in arms and r.get("mlflow_run_id")
        ]
        tags = {
            "mlflow.parentRunId": parent,
            "invocation": parent,  # the UI folds children under a parent; a plain tag filters them flat
            "paper": claims_file["paper"],
            "claim_id": c["id"],
            "verdict": c["verdict"],
            "scale": c["scale"],
            "class": c.get("class", "paper"),
            "kind": c["kind"],
            "arxiv": claims_file["arxiv"],
            "statement": c["statement"][:5000],
            "reason": (c.get("reason") or "")[:5000],
            "runs": ",".join(read)[:5000],
            "rerun": (c.get("rerun") or "")[:5000],
            NOTE: f"{c['statement']}\n\nVerdict: {c['verdict']}. {c.get('reason') or ''}",
        }
        run_id = self.start_run(CLAIMS_EXPERIMENT, claim_run_name(c["verdict"], c["id"]), tags)
        measured, power, cost = c.get("measured") or {}, c.get("power") or {}, c.get("cost") or {}
        numbers = {
            "claimed": c.get("claimed"),
            "tolerance": c.get("tolerance"),
            "measured_mean": measured.get("mean"),
            "ci_low": measured.get("ci_low"),
            "ci_high": measured.get("ci_high"),
            "n_seeds": measured.get("n"),
            "p_pass_perfect": power.get("perfect"),
            "p_pass_negligible": power.get("null"),
            "core_s": cost.get("core_s"),
            "gpu_s": cost.get("gpu_s"),
            "wall_s": cost.get("wall_s"),
        }
        shown = {k: rounded(v) for k, v in numbers.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        self.log_metrics(run_id, shown)
        self.end_run(run_id)

    def claims_history(self) -> list:
        """The recorded invocations (finished parent runs), newest first."""
        return sorted(
            [
                r
                for r in self.find_runs(CLAIMS_EXPERIMENT)
                if "claims_digest" in r.data.tags and r.info.status == "FINISHED"
            ],
            key=lambda r: r.info.start_time,
            reverse=True,
        )

    def read_claims_files(self, parent_run_id: str) -> list[dict]:
        """The claims files a recorded invocation logged as artifacts (one cut short may lack some)."""
        status = self._call(self.client.get_run, parent_run_id).info.status
        if status != "FINISHED":
            raise ValueError(f"its record was cut short ({status}); record-claims run again completes it")
        with tempfile.TemporaryDirectory() as tmp:
            folder = self._call(self.client.download_artifacts, parent_run_id, "claims", tmp)
            return [read_json(p) for p in sorted(Path(folder).glob("*.json"))]

    def claims_view_url(self, ui: str, key: str = CLAIMS_EXPERIMENT) -> str:
        """The claims as a table in the UI (see share_claims_view)."""
        return f"{ui}/#/experiments/{self.experiment_id(CLAIMS_EXPERIMENT)}/runs?viewStateShareKey={key}"

    def ui_url(self, configured: str | None = None) -> str:
        """Where a person browses these runs."""
        if configured:
            return configured.rstrip("/")
        if self.uri.startswith(("http://", "https://")):
            return self.uri.rstrip("/")
        return "http://127.0.0.1:5000"

    def find_runs(self, experiment: str, filter_string: str = "") -> list:
        exp = self._call(self.client.get_experiment_by_name, experiment)
        if exp is None:
            return []
        return self._call(self.client.search_runs, [exp.experiment_id], filter_string, max_results=10000)
