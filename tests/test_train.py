import json

import pytest
import torch

from logitrepro import train as T
from logitrepro.hparams import HParamsError
from logitrepro.runs import RunDir
from logitrepro.tasks import make_task
from tests.support import smoke_spec

# These tests stop and resume runs at fixed steps: 20 steps, a checkpoint and an evaluation every 5.
LOOP = {"steps": 20, "eval_every": 5, "checkpoint_every": 5}


def spec_for(data_dir, arm="svm", seed=0, **hp):
    """CNN-SVM on MNIST as the smoke config trains it, on the loop these tests count on."""
    return smoke_spec("cnn_svm", "mnist", arm, seed, data_dir=data_dir, **{**LOOP, **hp})


def history(run_dir):
    """History rows without the measured compute (train_s: wall time, never equal across runs)."""
    rows = [json.loads(line) for line in RunDir(run_dir).history.read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "train_s"} for r in rows]


def test_same_seed_same_metrics_other_seed_differs(tmp_path, prepared_mnist):
    a = T.train(spec_for(prepared_mnist), tmp_path / "a")
    b = T.train(spec_for(prepared_mnist), tmp_path / "b")
    T.train(spec_for(prepared_mnist, seed=1), tmp_path / "c")
    assert history(tmp_path / "a") == history(tmp_path / "b")
    same = lambda row: {k: v for k, v in row.items() if k != "train_s"}
    assert same(a["final"]) == same(b["final"]) and a["status"] == "completed" and a["steps"] == 20
    assert history(tmp_path / "a") != history(tmp_path / "c")


def test_interrupted_run_resumes_to_the_same_result(tmp_path, prepared_mnist, monkeypatch):
    T.train(spec_for(prepared_mnist), tmp_path / "full")

    real_make_task = T.make_task

    def make_dying_task(spec, device):
        task = real_make_task(spec, device)
        real_batch = task.batch

        def batch(step):
            if step == 12:
                raise KeyboardInterrupt  # the job is killed between checkpoints
            return real_batch(step)

        task.batch = batch
        return task

    monkeypatch.setattr(T, "make_task", make_dying_task)
    with pytest.raises(KeyboardInterrupt):
        T.train(spec_for(prepared_mnist), tmp_path / "resumed")
    assert torch.load(RunDir(tmp_path / "resumed").checkpoint, weights_only=True)["step"] == 10
    monkeypatch.setattr(T, "make_task", real_make_task)
    summary = T.train(spec_for(prepared_mnist), tmp_path / "resumed")
    assert summary["steps"] == 20
    assert history(tmp_path / "resumed") == history(tmp_path / "full")
    full = torch.load(RunDir(tmp_path / "full").checkpoint, weights_only=True)["model"]
    resumed = torch.load(RunDir(tmp_path / "resumed").checkpoint, weights_only=True)["model"]
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_divergence_is_recorded_not_raised(tmp_path, prepared_mnist, monkeypatch):
    real_make_task = T.make_task

    def make_exploding_task(spec, device):
        task = real_make_task(spec, device)
        real_loss = task.loss
        calls = {"n": 0}

        def loss(batch, detailed=False):
            calls["n"] += 1
            value, logs = real_loss(batch, detailed)
            return (value * float("nan"), logs) if calls["n"] == 7 else (value, logs)

        task.loss = loss
        return task

    monkeypatch.setattr(T, "make_task", make_exploding_task)
    summary = T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert summary["status"] == "diverged" and summary["steps"] == 6
    assert history(tmp_path / "run")[-1]["event"] == "diverged"
    monkeypatch.setattr(T, "make_task", real_make_task)
    result = T.evaluate(tmp_path / "run")
    assert result["metrics"]["status"] == "diverged" and result["metrics"]["diverged"] == 1.0


def test_evaluate_reports_both_prediction_rules(tmp_path, prepared_mnist):
    T.train(spec_for(prepared_mnist, steps=60, lr=3e-3), tmp_path / "run")
    m = T.evaluate(tmp_path / "run")["metrics"]
    for key in ("test_acc", "test_acc_sign", "test_acc_authors", "val_acc"):
        assert 0.0 <= m[key] <= 100.0
    assert m["test_acc_authors"] == m["test_acc_sign"]  # the SVM arm uses the authors' sign rule
    assert m["test_acc"] > 30.0  # the fake digits are learnable: far better than chance after 60 steps


def test_softmax_arm_authors_metric_is_plain_argmax(tmp_path, prepared_mnist):
    T.train(spec_for(prepared_mnist, arm="softmax", steps=10), tmp_path / "run")
    m = T.evaluate(tmp_path / "run")["metrics"]
    assert m["test_acc_authors"] == m["test_acc"]


def test_unknown_head_is_rejected(prepared_mnist):
    with pytest.raises(HParamsError, match="head: 'hinge' is not one of"):
        make_task(spec_for(prepared_mnist, head="hinge"))


def test_a_test_cannot_override_a_hyper_parameter_its_task_does_not_have(prepared_mnist):
    """What keeps a spec built from the config honest: a key a test sets and the task has not
    (misspelt, or renamed in the task and the config) fails the test that sets it."""
    with pytest.raises(KeyError, match=r"'cnn_svm' has no hyper-parameter \['conv1_chanels'\]"):
        spec_for(prepared_mnist, conv1_chanels=4)


def test_counters_flag_a_jump_above_the_running_average_after_burn_in():
    c = T.Counters(spike_nats=0.5, spike_burnin=3)
    flags = [c.observe(step, loss) for step, loss in enumerate([5.0, 6.0, 4.8, 4.7, 4.6, 5.6, 4.6, 4.5], start=1)]
    # step 2 jumps but is inside the burn-in; step 6 (5.6) is > 0.5 above the running average (~5.0)
    assert flags == [False, False, False, False, False, True, False, False]
    assert c.loss_spikes == 1
    restored = T.Counters(0.5, 3, c.state())
    assert restored.loss_spikes == 1 and restored.loss_ema == c.loss_ema


def test_history_carries_compute_and_evaluate_returns_the_validation_curve(tmp_path, prepared_mnist):
    T.train(spec_for(prepared_mnist, steps=10, eval_every=5, log_every=2), tmp_path / "run")
    rows = history(tmp_path / "run")
    assert [r["step"] for r in rows] == [2, 4, 5, 6, 8, 10]  # log rows every 2 steps, eval rows every 5
    assert all("val_acc" in r for r in rows if r["step"] % 5 == 0)
    assert not any("val_acc" in r for r in rows if r["step"] % 5)
    m = T.evaluate(tmp_path / "run")["metrics"]
    curve = m["curve"]
    assert curve["step"] == [5, 10] and len(curve["val_acc"]) == 2
    assert 0 < curve["train_s"][0] < curve["train_s"][1] <= m["train_s"]
    assert m["loss_spikes"] >= 0 and m["instability_events"] == m["loss_spikes"] + m["diverged"]


def dying_at(step_to_die, real_make_task):
    def make(spec, device):
        task = real_make_task(spec, device)
        real_batch = task.batch

        def batch(step):
            if step == step_to_die:
                raise KeyboardInterrupt  # the job is killed here
            return real_batch(step)

        task.batch = batch
        return task

    return make


def counting_batches(real_make_task, calls):
    def make(spec, device):
        task = real_make_task(spec, device)
        real_batch = task.batch
        task.batch = lambda step: calls.append(step) or real_batch(step)
        return task

    return make


def test_a_finished_run_is_kept_unless_retrain_asks_for_a_fresh_one(tmp_path, prepared_mnist, monkeypatch, capsys):
    """A job that runs again (its outputs deleted, an interrupted group, --forcerun) keeps a finished
    run of the same config, code and packages: training it again would give the same bits. With
    the config's `retrain: true` it trains from scratch, as it does whenever any of them changed."""
    first = T.train(spec_for(prepared_mnist), tmp_path / "run")
    calls = []
    monkeypatch.setattr(T, "make_task", counting_batches(T.make_task, calls))
    kept = T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert calls == [] and kept["kept"] and kept["steps"] == 20 and kept["final"] == first["final"]
    assert "keeping the finished run (completed)" in capsys.readouterr().out
    summary = T.train(spec_for(prepared_mnist), tmp_path / "run", retrain=True)
    assert calls == list(range(20)) and summary["steps"] == 20
    assert "starting afresh: retrain: true asks for a fresh run" in capsys.readouterr().out
    monkeypatch.setattr(T, "result_packages", lambda: {"torch": "another"})
    calls.clear()
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert calls == list(range(20)) and "other package versions" in capsys.readouterr().out


def test_a_torn_last_history_line_is_dropped_with_a_message_and_the_run_resumes(
    tmp_path, prepared_mnist, monkeypatch, capsys
):
    """A full disk or a power cut leaves the last history row half written: the resume drops it,
    says so, and ends with the history of a run never interrupted."""
    T.train(spec_for(prepared_mnist), tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(T, "make_task", dying_at(12, T.make_task))
        T.train(spec_for(prepared_mnist), tmp_path / "run")
    monkeypatch.undo()
    with RunDir(tmp_path / "run").history.open("a") as f:
        f.write('{"step": 12, "train_loss": 0.4')
    summary = T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert summary["steps"] == 20 and history(tmp_path / "run") == history(tmp_path / "full")
    assert "history.jsonl: its last line is torn (line 3" in capsys.readouterr().err


def test_a_finished_run_whose_run_json_cannot_be_read_trains_again_saying_why(
    tmp_path, prepared_mnist, monkeypatch, capsys
):
    """run.json holds the run's provenance and the cost of its attempts: a run that lost it is
    trained again (its job is forced by logitrepro.repair), not kept and not a crash."""
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    info = RunDir(tmp_path / "run").info
    info.write_text(info.read_text()[:100])
    calls = []
    monkeypatch.setattr(T, "make_task", counting_batches(T.make_task, calls))
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert calls == list(range(20))
    assert f"starting afresh: {info} is truncated (not valid JSON at byte 100)" in capsys.readouterr().out
    assert RunDir(tmp_path / "run").read_info()["attempts"][0]["from_step"] == 0


def test_a_checkpoint_cut_off_or_overwritten_is_named_and_its_run_trains_again(
    tmp_path, prepared_mnist, monkeypatch, capsys
):
    from logitrepro.files import DamagedFile

    T.train(spec_for(prepared_mnist, steps=5), tmp_path / "run")
    ckpt = RunDir(tmp_path / "run").checkpoint
    whole = ckpt.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"<html>503</html>"):
        ckpt.write_bytes(damaged)
        with pytest.raises(DamagedFile, match=f"^{ckpt} (is not a whole archive|cannot be read back)"):
            T.evaluate(tmp_path / "run")
    calls = []
    monkeypatch.setattr(T, "make_task", counting_batches(T.make_task, calls))
    T.train(spec_for(prepared_mnist, steps=5), tmp_path / "run")
    assert calls == list(range(5)) and f"starting afresh: {ckpt} is not a whole archive" in capsys.readouterr().out


def test_a_full_disk_while_checkpointing_is_named_and_keeps_the_previous_checkpoint(
    tmp_path, prepared_mnist, monkeypatch
):
    import errno

    from logitrepro.files import NoSpaceLeft

    T.train(spec_for(prepared_mnist, steps=5), tmp_path / "run")
    ckpt = RunDir(tmp_path / "run").checkpoint
    before = ckpt.read_bytes()
    real_save = T.torch.save

    def save_on_a_full_disk(obj, f, *args, **kwargs):
        real_save({"some": "bytes"}, f)  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(T.torch, "save", save_on_a_full_disk)
    checkpoint = T.load_checkpoint(RunDir(tmp_path / "run"), "cpu")
    task = T.make_task(spec_for(prepared_mnist, steps=5))
    with pytest.raises(NoSpaceLeft, match=f"^no space left on the disk that holds {ckpt}.tmp"):
        T.save_checkpoint(
            RunDir(tmp_path / "run"),
            task,
            task.optimizer(),
            5,
            "completed",
            T.Counters(3.0, 20),
            checkpoint["code"],
            {},
        )
    assert ckpt.read_bytes() == before and not ckpt.with_name(ckpt.name + ".tmp").exists()


def test_a_checkpoint_from_other_code_is_not_resumed(tmp_path, prepared_mnist, monkeypatch, capsys):
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(T, "make_task", dying_at(12, T.make_task))
        T.train(spec_for(prepared_mnist), tmp_path / "run")
    monkeypatch.undo()
    monkeypatch.setattr(T, "code_digest", lambda task: "edited")  # the task's code changed since
    calls = []
    monkeypatch.setattr(T, "make_task", counting_batches(T.make_task, calls))
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert calls[0] == 0 and "made with other code" in capsys.readouterr().out


def test_a_finished_run_on_other_data_trains_again_from_scratch(tmp_path, prepared_mnist, monkeypatch, capsys):
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    T.train(spec_for(prepared_mnist), tmp_path / "run")  # the same data: kept
    assert "keeping the finished run" in capsys.readouterr().out
    monkeypatch.setattr(T.runinfo, "data_checksum", lambda data_dir: "f" * 64)  # re-prepared, other content
    calls = []
    monkeypatch.setattr(T, "make_task", counting_batches(T.make_task, calls))
    T.train(spec_for(prepared_mnist), tmp_path / "run")
    assert calls[0] == 0 and "trained on other data" in capsys.readouterr().out


def test_wall_time_adds_up_over_attempts_and_an_orphaned_mlflow_run_is_closed(tmp_path, prepared_mnist, monkeypatch):
    from logitrepro.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    run_dir = tmp_path / "run"
    real = T.make_task
    monkeypatch.setattr(T, "make_task", dying_at(2, real))  # before the first checkpoint (every 5 steps)
    with pytest.raises(KeyboardInterrupt):
        T.train(spec_for(prepared_mnist), run_dir, tracker=tracker)
    orphan = RunDir(run_dir).read_info()["mlflow_run_id"]
    assert tracker.client.get_run(orphan).info.status == "RUNNING"
    monkeypatch.setattr(T, "make_task", dying_at(12, real))  # after the checkpoint at step 10
    with pytest.raises(KeyboardInterrupt):
        T.train(spec_for(prepared_mnist), run_dir, tracker=tracker)
    assert tracker.client.get_run(orphan).info.status == "KILLED"  # closed, not left running
    second = RunDir(run_dir).read_info()
    assert second["mlflow_run_id"] != orphan and len(second["attempts"]) == 1 and second["attempts"][0]["wall_s"] > 0
    monkeypatch.setattr(T, "make_task", real)
    T.train(spec_for(prepared_mnist), run_dir, tracker=tracker)  # resumes from step 10, same MLflow run
    info = RunDir(run_dir).read_info()
    assert info["mlflow_run_id"] == second["mlflow_run_id"]
    assert [a["from_step"] for a in info["attempts"]] == [0, 10]
    assert info["train_wall_s"] == pytest.approx(sum(a["wall_s"] for a in info["attempts"]), abs=0.02)
    assert info["train_wall_s"] > info["attempts"][1]["wall_s"]  # the killed attempt's time counts


def test_checkpoints_load_tensors_and_plain_data_only(tmp_path, prepared_mnist):
    T.train(spec_for(prepared_mnist, steps=5), tmp_path / "run")
    run = RunDir(tmp_path / "run")
    assert T.load_checkpoint(run, "cpu")["step"] == 5
    ckpt = torch.load(run.checkpoint, weights_only=True)
    ckpt["evil"] = Exploit()  # a pickled object that would run code when loaded
    torch.save(ckpt, run.checkpoint)
    with pytest.raises(Exception, match="Weights only load failed"):
        T.load_checkpoint(run, "cpu")


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_run_recorded_after_training_holds_what_a_live_run_holds(tmp_path, prepared_mnist):
    """A judge records runs that trained without tracking (cpu scale) in a few batched calls; the
    MLflow run must hold what a run logged live holds, and recording it again adds nothing."""
    from logitrepro.tracking import Tracker

    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns")
    T.train(spec_for(prepared_mnist), tmp_path / "live", tracker=tracker)
    live = tracker.client.get_run(T.evaluate(tmp_path / "live", tracker=tracker)["mlflow_run_id"])
    T.train(spec_for(prepared_mnist), tmp_path / "later")
    evaluation = T.evaluate(tmp_path / "later")
    ids = tracker.record_runs([evaluation])
    assert tracker.record_runs([evaluation]) == ids and len(tracker.find_runs("cnn_svm")) == 3  # and their arm's run
    later = tracker.client.get_run(ids[evaluation["run_dir"]])

    def own(tags: dict) -> dict:
        return {k: v for k, v in tags.items() if not k.startswith("mlflow.") and k not in ("content", "checkpoint")}

    assert own(later.data.tags) == own(live.data.tags) and later.data.tags["status"] == "completed"
    assert later.data.params == live.data.params and later.data.params["hparams.head"] == "svm"
    assert later.info.status == live.info.status == "FINISHED" and later.info.run_name == live.info.run_name
    timing = {"train_s", "train_wall_s"}
    assert set(later.data.metrics) == set(live.data.metrics) and "test_acc_authors" in later.data.metrics
    assert {k: v for k, v in later.data.metrics.items() if k not in timing} == {
        k: v for k, v in live.data.metrics.items() if k not in timing
    }
    curve = [(m.step, m.value) for m in tracker.client.get_metric_history(later.info.run_id, "val_acc")]
    live_curve = [(m.step, m.value) for m in tracker.client.get_metric_history(live.info.run_id, "val_acc")]
    assert sorted(set(curve)) == sorted(set(live_curve)) and len(set(curve)) >= 4
    artifacts = {a.path for a in tracker.client.list_artifacts(later.info.run_id)}
    # no checkpoint copied into the artifact store: both name the one in the run's folder
    # (metrics.json too where the run's folder has one: the judge's runs do, this one is not written)
    assert artifacts - {"metrics.json"} == {a.path for a in tracker.client.list_artifacts(live.info.run_id)}
    assert "checkpoint.pt" not in artifacts and later.data.tags["checkpoint"].endswith("later/checkpoint.pt")
    assert live.data.tags["checkpoint"].endswith("live/checkpoint.pt")
    # the seeds of an arm are children of the arm's run, which the UI's default view lists
    assert later.data.tags["mlflow.parentRunId"] == live.data.tags["mlflow.parentRunId"]
    assert tracker.client.get_run(later.data.tags["mlflow.parentRunId"]).info.run_name == "mnist-svm"
    inputs = [(i.dataset.name, i.dataset.digest) for i in later.inputs.dataset_inputs]
    assert inputs == [(i.dataset.name, i.dataset.digest) for i in live.inputs.dataset_inputs] and inputs
