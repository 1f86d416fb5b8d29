import json

import pytest
import torch

from logitrepro import train as T
from logitrepro.runs import RunDir
from logitrepro.tasks import make_task
from logitrepro.tasks.hparams import HParamsError


def spec_for(data_dir, arm="svm", seed=0, **hp):
    hparams = {
        "conv1_channels": 4,
        "conv2_channels": 8,
        "hidden": 32,
        "dropout": 0.5,
        "init_std": 0.1,
        "init_bias": 0.1,
        "lr": 1e-3,
        "batch_size": 32,
        "steps": 20,
        "svm_c": 1.0,
        "eval_every": 5,
        "checkpoint_every": 5,
        "head": arm,
    }
    hparams.update(hp)
    return {
        "paper": "cnn_svm",
        "experiment": "mnist",
        "task": "cnn_svm",
        "arm": arm,
        "seed": seed,
        "scale": "smoke",
        "dataset": "mnist",
        "data_dir": str(data_dir),
        "hparams": hparams,
        "device": "cpu",
        "kernels": {"backend": "auto"},
    }


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
