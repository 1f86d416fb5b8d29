"""A record in MLflow takes many store calls and a job can die between any two, or the store
can fail: what is half-written is completed or recorded again, and nothing the judge computed
is lost to the store."""

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from logitrepro.runs import RunDir
from logitrepro.tracking import CLAIMS_EXPERIMENT, SHARED_VIEW, Tracker, claims_view_key
from tests.support import PROJECT, smoke_spec

CONFIG = str(PROJECT / "configs" / "config.yaml")


def claims_file(n_claims: int) -> dict:
    claims = [
        {
            "id": f"p.c{i}",
            "class": "paper",
            "statement": f"claim {i}",
            "kind": "absolute",
            "experiment": "e",
            "scale": "cpu",
            "verdict": "reproduced",
            "reason": "why",
            "claimed": 90.0,
            "measured": {"mean": 90.0 + i, "ci_low": 89.0, "ci_high": 91.0 + i, "n": 3},
            "reads": ["m"],
        }
        for i in range(n_claims)
    ]
    return {
        "paper": "p",
        "title": "t",
        "arxiv": "1.1v1",
        "scale": "cpu",
        "claims": claims,
        "cost": {"core_s": 1.0, "gpu_s": 0.0},
        "runs": [{"experiment": "e", "arm": "m", "seed": 0, "mlflow_run_id": "abc123"}],
    }


# record-claims killed with SIGKILL while it records the children of an invocation: after
# two finished children and the third one started (the parent logs its totals first)
KILLED_RECORDER = textwrap.dedent("""
    import json, os, signal, sys
    from logitrepro.tracking import Tracker
    uri, artifacts, claims = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    tracker = Tracker(uri, artifacts)
    real_log_metrics, started = tracker.log_metrics, []

    def dying_log_metrics(run_id, metrics, step=None):
        started.append(run_id)
        if len(started) == 4:
            os.kill(os.getpid(), signal.SIGKILL)
        real_log_metrics(run_id, metrics, step)

    tracker.log_metrics = dying_log_metrics
    tracker.record_claims([claims], {"git_commit": "c1", "summary": "s"})
""")


def test_an_invocation_killed_mid_record_is_completed_not_taken_as_recorded(tmp_path, capsys):
    from logitrepro.claimsets import ClaimsNotFound, load_claim_set
    from logitrepro.cli import main

    uri, artifacts, claims = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns", claims_file(5)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RECORDER, uri, str(artifacts), json.dumps(claims)], capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    tracker = Tracker(uri, artifacts)
    (parent,) = [r for r in tracker.find_runs(CLAIMS_EXPERIMENT) if "claims_digest" in r.data.tags]
    assert parent.info.status == "RUNNING" and tracker.claims_history() == []  # not a recorded invocation
    with pytest.raises(ClaimsNotFound, match=r"cut short \(RUNNING\)"):  # `logitrepro diff mlflow:<id>`
        load_claim_set(f"mlflow:{parent.info.run_id}", {"uri": uri, "artifacts": str(artifacts)})

    # the next invocation, as the workflow's claims_history job runs it
    path = tmp_path / "p.json"
    path.write_text(json.dumps(claims))
    config = [
        "--config",
        CONFIG,
        "--set",
        f"tracking.uri={uri}",
        "--set",
        f"tracking.artifacts={artifacts}",
    ]
    assert main(["record-claims", *config, "--claims", str(path), "--out", str(tmp_path / "history.json")]) == 0
    assert capsys.readouterr().out.startswith("recorded: ")  # not "already recorded (identical claims)"
    noted = json.loads((tmp_path / "history.json").read_text())
    again = noted["parent_run_id"]
    assert noted["new"]
    assert again == parent.info.run_id  # the interrupted invocation, completed
    assert tracker.client.get_run(again).info.status == "FINISHED"
    children = tracker.find_runs(CLAIMS_EXPERIMENT, f"tags.invocation = '{again}'")
    assert sorted(r.data.tags["claim_id"] for r in children) == [f"p.c{i}" for i in range(5)]  # none twice
    assert all(r.info.status == "FINISHED" and r.data.tags["verdict"] == "reproduced" for r in children)
    view = json.loads(
        tracker.client.get_experiment_by_name(CLAIMS_EXPERIMENT).tags[SHARED_VIEW + claims_view_key(again)]
    )
    exp_id = tracker.experiment_id(CLAIMS_EXPERIMENT)
    assert len(tracker.client.search_runs([exp_id], view["searchFilter"])) == 5
    assert [r.info.run_id for r in tracker.claims_history()] == [again]
    assert tracker.record_claims([claims], {"git_commit": "c1", "summary": "s"}) == (again, False)


def finished_run(folder, arm: str = "svm", seed: int = 0, experiment: str = "mnist") -> dict:
    """A trained and evaluated cnn_svm run's folder (its three files) and its evaluation, as a judge
    reads them; its spec is the smoke config's (the judge refuses runs of another config)."""
    run = RunDir(folder).make()
    run.write_info({"git_commit": "c1", "data_checksum": "ab" * 32, "data_source": "test"})
    run.history.write_text(json.dumps({"step": 5, "train_loss": 0.5, "val_acc": 0.9}) + "\n")
    run.checkpoint.write_bytes(b"weights")
    spec = smoke_spec("cnn_svm", experiment, arm, seed)
    metrics = {"status": "completed", "steps": 5, "test_acc": 0.9, "test_acc_authors": 0.9}
    evaluation = {"spec": spec, "metrics": metrics, "run_dir": str(folder), "mlflow_run_id": None}
    run.write_metrics(evaluation)
    return evaluation


class KilledAfter(Exception):
    """What a kill looks like to the caller of a monkeypatched store call."""


def test_a_training_run_record_killed_mid_way_is_closed_and_recorded_again(tmp_path, monkeypatch):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    evaluation = finished_run(tmp_path / "run")
    real_end_run = Tracker.end_run

    def killed_before_closing(self, run_id, status="FINISHED", end_time=None):
        raise KilledAfter  # the judge is killed once the run's files are in, before it closes the run

    monkeypatch.setattr(Tracker, "end_run", killed_before_closing)
    with pytest.raises(KilledAfter):
        tracker.record_runs([evaluation])
    (half,) = [r for r in tracker.find_runs("cnn_svm") if "content" in r.data.tags]  # not its arm's run
    assert half.info.status == "RUNNING" and len(tracker.client.list_artifacts(half.info.run_id)) == 3
    monkeypatch.setattr(Tracker, "end_run", real_end_run)

    ids = tracker.record_runs([evaluation])
    again = tracker.client.get_run(ids[evaluation["run_dir"]])
    assert again.info.run_id != half.info.run_id and again.info.status == "FINISHED"
    assert {a.path for a in tracker.client.list_artifacts(again.info.run_id)} == {
        "run.json",
        "history.jsonl",
        "metrics.json",
    }
    assert tracker.client.get_run(half.info.run_id).info.status == "KILLED"
    assert tracker.record_runs([evaluation]) == ids  # a closed record is reused


def test_a_live_run_left_running_is_not_linked_but_recorded_again(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    evaluation = finished_run(tmp_path / "run")
    live = tracker.start_run("cnn_svm", "mnist-svm-seed0", {"arm": "svm"})  # its job lost the store mid-way
    evaluation["mlflow_run_id"] = live
    ids = tracker.record_runs([evaluation])
    assert ids[evaluation["run_dir"]] != live
    assert tracker.client.get_run(live).info.status == "KILLED"
    assert tracker.client.get_run(ids[evaluation["run_dir"]]).info.status == "FINISHED"


def test_a_damaged_sqlite_store_is_down_at_start_up_naming_it_and_the_fix(tmp_path):
    from logitrepro.tracking import TrackingUnavailable, make_tracker

    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is no database, it was overwritten " * 200)
    started = time.time()
    with pytest.raises(TrackingUnavailable, match=r"cannot be read \(file is not a database\)") as e:
        make_tracker({"uri": f"sqlite:///{store}"})
    assert str(store) in str(e.value) and f"mv {store} {store}.damaged" in str(e.value)
    assert time.time() - started < 10


def test_a_truncated_sqlite_store_is_down_at_start_up(tmp_path):
    from logitrepro.tracking import TrackingUnavailable, make_tracker

    store = tmp_path / "mlflow.db"
    tracker = Tracker(f"sqlite:///{store}", tmp_path / "mlruns")
    run = tracker.start_run("p", "r", {"arm": "a"})
    tracker.log_metrics(run, {"loss": 1.0})
    store.write_bytes(store.read_bytes()[: store.stat().st_size // 2])  # a full disk, a power cut
    with pytest.raises(TrackingUnavailable, match="cannot be read"):
        make_tracker({"uri": f"sqlite:///{store}"})


class FailingServer(BaseHTTPRequestHandler):
    """A tracking server answering 503 to every request but the first `searches_answered` searches of
    experiments (the start-up check's read of the store); `health`: what /health answers."""

    health = 503
    searches_answered = 0
    # what MLflow's server answers when its database refuses connections
    STORE_DOWN = json.dumps(
        {
            "error_code": "TEMPORARILY_UNAVAILABLE",
            "message": '(psycopg2.OperationalError) connection to server at "127.0.0.1", port 15432 failed: '
            "Connection refused\n\tIs the server running on that host?",
        }
    ).encode()

    def do_GET(self):
        code, body = 503, b""
        if self.path.startswith("/health"):
            code = self.health
        elif self.path.endswith("/experiments/search"):
            if FailingServer.searches_answered > 0:
                FailingServer.searches_answered -= 1
                code, body = 200, b'{"experiments": []}'
            else:
                body = self.STORE_DOWN
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_server_answering_503_is_down_at_start_up(failing_server):
    from logitrepro.tracking import TrackingUnavailable, check_reachable

    started = time.time()
    with pytest.raises(TrackingUnavailable, match=r"is down \(it answers HTTP 503") as e:
        check_reachable(failing_server)  # what make_tracker asks first
    assert failing_server in str(e.value) and "tracking.enabled: false" in str(e.value)
    assert time.time() - started < 10


def test_a_server_whose_database_is_down_fails_the_start_up_check_naming_both(failing_server, monkeypatch):
    """/health answers without the store: the check reads it too (PostgreSQL stopped under the server)."""
    from logitrepro.tracking import TrackingUnavailable, check_reachable

    monkeypatch.setattr(FailingServer, "health", 200)
    started = time.time()
    with pytest.raises(TrackingUnavailable, match=r"is down \(it answers HTTP 503") as e:
        check_reachable(failing_server)
    assert failing_server in str(e.value) and "port 15432 failed: Connection refused" in str(e.value)
    assert time.time() - started < 10


def test_a_server_failing_after_the_start_up_check_stops_a_command_in_seconds_not_minutes(
    failing_server, tmp_path, monkeypatch, capsys
):
    from logitrepro.cli import main

    monkeypatch.setattr(FailingServer, "health", 200)  # its start-up check passes, its API answers 503
    monkeypatch.setattr(FailingServer, "searches_answered", 1)
    for name in ("MAX_RETRIES", "BACKOFF_FACTOR", "BACKOFF_JITTER", "TIMEOUT"):
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{name}", raising=False)  # the limits the tracker sets
    path = tmp_path / "p.json"
    path.write_text(json.dumps(claims_file(2)))
    started = time.time()
    config = ["--config", CONFIG, "--set", f"tracking.uri={failing_server}"]
    assert main(["record-claims", *config, "--claims", str(path)]) == 4
    assert time.time() - started < 30  # MLflow's own retries: 4 minutes
    assert f"the MLflow store {failing_server} fails" in capsys.readouterr().err


def judge_argv(tmp_path, store) -> tuple[list[str], object]:
    """`logitrepro judge` of cnn_svm at smoke scale on four finished runs, tracked in `store`."""
    metrics = []
    for experiment in ("mnist", "fashion_mnist"):
        for arm in ("softmax", "svm"):
            finished_run(tmp_path / experiment / arm, arm, 0, experiment)
            metrics.append(str(tmp_path / experiment / arm / "metrics.json"))
    out = tmp_path / "claims" / "cnn_svm.json"
    out.parent.mkdir()
    config = ["--config", CONFIG, "--set", "scale=smoke", "--set", f"tracking.uri=sqlite:///{store}"]
    return ["judge", *config, "--paper", "cnn_svm", "--metrics", *metrics, "--out", str(out)], out


def test_a_judge_killed_while_it_records_has_written_its_claims(tmp_path, monkeypatch):
    from logitrepro.cli import main

    def killed(self, evaluations):
        raise KeyboardInterrupt  # SIGINT; a SIGKILL stops it at the same point

    monkeypatch.setattr(Tracker, "record_runs", killed)
    argv, out = judge_argv(tmp_path, tmp_path / "mlflow.db")
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert json.loads(out.read_text())["claims"]  # written before MLflow was asked anything


def test_a_judge_writes_its_claims_when_the_store_is_damaged(tmp_path, capsys):
    from logitrepro.cli import main

    store = tmp_path / "mlflow.db"
    store.write_bytes(b"garbage " * 500)
    argv, out = judge_argv(tmp_path, store)
    assert main(argv) == 0
    judged = json.loads(out.read_text())
    assert judged["paper"] == "cnn_svm" and judged["claims"] and "mlflow" not in judged
    assert all(r["mlflow_run_id"] is None for r in judged["runs"])
    err = capsys.readouterr().err
    assert "not recorded in MLflow" in err and str(store) in err and "--forcerun judge" in err


def test_a_tracking_outage_during_training_stops_the_logging_not_the_training(
    tmp_path, prepared_mnist, monkeypatch, capsys
):
    from mlflow.exceptions import MlflowException

    from logitrepro import train as T
    from logitrepro.tracking import LiveTracker
    from tests.test_train import spec_for

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    real_log_batch, calls = tracker.client.log_batch, []

    def failing_from_the_third(*args, **kwargs):
        calls.append(args)
        if len(calls) >= 3:  # params, then the first history row; then the server goes away
            raise MlflowException("API request failed: 503 Service Unavailable")
        return real_log_batch(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_batch", failing_from_the_third)
    live = LiveTracker(tracker)
    summary = T.train(spec_for(prepared_mnist), tmp_path / "run", tracker=live)
    evaluation = T.evaluate(tmp_path / "run", tracker=live)
    assert (
        summary["status"] == "completed" and summary["steps"] == 20 and len(calls) == 3
    )  # no call after the first failure
    assert "training goes on without MLflow" in capsys.readouterr().err
    left = evaluation["mlflow_run_id"]
    assert tracker.client.get_run(left).info.status == "RUNNING"

    monkeypatch.setattr(tracker.client, "log_batch", real_log_batch)  # the store is back: the judge records it
    recorded = tracker.record_runs([evaluation])[evaluation["run_dir"]]
    assert recorded != left and tracker.client.get_run(recorded).info.status == "FINISHED"
    assert tracker.client.get_run(left).info.status == "KILLED"


class RestartingTracker:
    """A tracker whose server fails the first recording (a restart under it), then answers."""

    def __init__(self, uri: str):
        self.uri, self.calls = uri, 0

    def describe_paper(self, paper):
        pass

    def record_runs(self, evaluations):
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("the server went away")
        return {"runs/a": "run-1"}

    def ui_url(self, ui):
        return "http://ui"

    def experiment_id(self, name):
        return "1"


@pytest.mark.parametrize("uri", ["http://127.0.0.1:1", "sqlite:///local.db"])
def test_a_judge_waits_for_a_restarting_server_and_records_once_it_answers(uri, monkeypatch, capsys):
    import logitrepro.tracking as tracking

    tracker = RestartingTracker(uri)
    monkeypatch.setattr(tracking, "make_tracker", lambda t: tracker)
    answers = iter([False, True])  # down for one look, then back

    def check(u):
        if not next(answers):
            raise tracking.TrackingUnavailable("down")

    monkeypatch.setattr(tracking, "check_reachable", check)
    monkeypatch.setattr(tracking.time, "sleep", lambda s: None)
    claims = {"runs": [{"run_dir": "runs/a"}]}
    assert tracking.record_judged_runs({"uri": uri}, {"id": "p"}, claims, [])
    err = capsys.readouterr().err
    if uri.startswith("http"):  # a server restarting: waited for, recorded once it answers
        assert tracker.calls == 2 and claims["runs"][0]["mlflow_run_id"] == "run-1"
        assert "waiting up to 90 s for it to answer again" in err and "not recorded" not in err
    else:  # a file does not restart: no wait, the documented remedy
        assert tracker.calls == 1 and claims["runs"][0]["mlflow_run_id"] is None
        assert "not recorded in MLflow" in err and "--forcerun judge" in err
