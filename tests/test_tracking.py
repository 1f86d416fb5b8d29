import subprocess
import sys
import textwrap

from logitrepro.tracking import Tracker, flatten, resolve_uri

WRITER = textwrap.dedent("""
    import sys
    from logitrepro.tracking import Tracker
    uri, name = sys.argv[1], sys.argv[2]
    t = Tracker(uri, sys.argv[3])
    run = t.start_run("paper", name, {"arm": name})
    t.log_params(run, {"hparams": {"lr": 0.1, "name": name}})
    for step in range(40):
        t.log_metrics(run, {"loss": 1.0 / (step + 1), "acc": step}, step)
    t.end_run(run)
""")


def test_parallel_jobs_lose_no_run_on_a_new_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, f"job{i}", str(tmp_path / "mlruns")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-2000:] for o in outs]
    runs = Tracker(uri, tmp_path / "mlruns").find_runs("paper")
    assert sorted(r.data.tags["arm"] for r in runs) == ["job0", "job1", "job2"]
    client = Tracker(uri, tmp_path / "mlruns").client
    for r in runs:
        assert r.info.status == "FINISHED" and r.data.params["hparams.lr"] == "0.1"
        assert len(client.get_metric_history(r.info.run_id, "loss")) == 40


def test_resolve_uri_prefers_config_then_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_uri(None, tmp_path) == "http://127.0.0.1:5000"
    assert resolve_uri("sqlite:///x.db", tmp_path) == "sqlite:///x.db"


def test_flatten_nested_params():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_a_tracking_server_that_does_not_answer_fails_in_seconds():
    import time

    import pytest

    from logitrepro.tracking import TrackingUnavailable, check_reachable, make_tracker

    started = time.time()
    with pytest.raises(TrackingUnavailable, match=r"http://127\.0\.0\.1:9 does not answer"):
        make_tracker({"enabled": True, "uri": "http://127.0.0.1:9", "artifacts": "mlruns"})
    assert time.time() - started < 10
    check_reachable("sqlite:///anything.db")  # a local store needs no server
    assert make_tracker({"enabled": False, "uri": "http://127.0.0.1:9"}) is None
