"""The training job's own evaluation, reused by the evaluate stage only while the checkpoint
and the package's code are the ones it was computed from."""
import json

import pytest
import torch

from logitrepro import cli, evalcache

SPEC = {"paper": "sso", "experiment": "cartpole", "arm": "sso_m5", "base_arm": "sso_m5", "budget": 1, "seed": 1,
        "scale": "smoke", "dataset": "synthetic", "data_dir": None, "tracking": {}, "kernels": {},
        "hparams": {"task": "imitation", "model": "mlp", "hidden": 8, "loss": "cross_entropy", "classes": 2,
                    "eta": 2.0, "alpha_max": 1.0, "armijo_c": 0.1, "armijo_beta": 0.9, "lr": 1e-3,
                    "optimizer": "sso", "inner_steps": 5, "rollout_steps": 10, "eval_episodes": 1,
                    "steps": 4, "eval_every": 2, "checkpoint_every": 2}}


@pytest.fixture
def trained(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGITREPRO_NO_TRACKING", "1")
    run = tmp_path / "run"
    assert cli.main(["train", "--spec", json.dumps(SPEC), "--run-dir", str(run)]) == 0
    return run


def test_training_job_leaves_its_evaluation_and_evaluate_reuses_it(trained, capsys):
    cached = json.loads((trained / evalcache.CACHE).read_text())["result"]
    assert cached["metrics"]["steps"] == 4 and cached["spec"]["arm"] == "sso_m5"
    capsys.readouterr()
    assert cli.main(["evaluate", "--run-dir", str(trained), "--out", str(trained / "m.json")]) == 0
    assert "evaluation done by the training job" in capsys.readouterr().out
    assert json.loads((trained / "m.json").read_text()) == cached


def test_a_changed_checkpoint_is_evaluated_afresh(trained, capsys):
    ckpt = torch.load(trained / "checkpoint.pt", weights_only=False)
    for name in ckpt["model"]:
        ckpt["model"][name] = torch.zeros_like(ckpt["model"][name])  # a constant policy
    torch.save(ckpt, trained / "checkpoint.pt")
    assert evalcache.load(trained) is None
    capsys.readouterr()
    assert cli.main(["evaluate", "--run-dir", str(trained), "--out", str(trained / "m.json")]) == 0
    assert "evaluation done by the training job" not in capsys.readouterr().out
    fresh = json.loads((trained / "m.json").read_text())["metrics"]
    cached = json.loads((trained / evalcache.CACHE).read_text())["result"]["metrics"]
    assert fresh["imitation_loss"] == pytest.approx(0.6931, abs=1e-3) != cached["imitation_loss"]  # log 2


def test_fresh_flag_and_changed_code_bypass_the_cache(trained, capsys, tmp_path, monkeypatch):
    capsys.readouterr()
    assert cli.main(["evaluate", "--run-dir", str(trained), "--out", str(trained / "m.json"), "--fresh"]) == 0
    assert "evaluation done by the training job" not in capsys.readouterr().out
    assert evalcache.load(trained) is not None
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "metrics.py").write_text("A = 1\n")
    monkeypatch.setattr(evalcache, "PACKAGE", fake)
    before = evalcache.code_fingerprint()
    (fake / "metrics.py").write_text("A = 2\n")
    assert evalcache.code_fingerprint() != before
    assert evalcache.load(trained) is None
