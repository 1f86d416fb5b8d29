"""The judge judges only runs made with the config it judges."""

import json

from logitrepro.cli import main
from logitrepro.config import load_config
from tests.support import PROJECT


def test_the_judge_refuses_a_run_trained_with_another_config_naming_run_key_and_fix(tmp_path, monkeypatch, capsys):
    """A cpu-scale job that trained into a smoke run folder (the config file swapped under a
    running workflow): judging it at smoke would label cpu runs smoke, or the reverse."""
    monkeypatch.chdir(PROJECT)
    overrides = {"papers": ["cnn_svm"], "tracking": {"enabled": False}}
    smoke = load_config(PROJECT / "configs" / "config.yaml", overrides={**overrides, "scale": "smoke"})
    cpu = load_config(PROJECT / "configs" / "config.yaml", overrides={**overrides, "scale": "cpu"})
    group = smoke.train_groups("cnn_svm")[0]
    arm, seed = group.runs[0]
    run_dir = smoke.run_dir("cnn_svm", group.experiment, arm, seed)
    metrics = tmp_path / "metrics.json"
    spec = cpu.job_spec("cnn_svm", group.experiment, arm, seed)
    metrics.write_text(json.dumps({"spec": spec, "metrics": {"status": "completed"}, "run_dir": run_dir}))
    out = tmp_path / "claims.json"
    args = ["judge", "--config", str(PROJECT / "configs" / "config.yaml"), "--set", "scale=smoke"]
    args += ["--set", "papers=[cnn_svm]", "--set", "tracking.enabled=false"]
    rc = main([*args, "--paper", "cnn_svm", "--metrics", str(metrics), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert f"{run_dir} was trained with another config" in err
    assert "hparams." in err and "in the run" in err and "in the config" in err  # the key and both values
    assert f"--config scale=smoke retrain=true --forcerun {group.rule}" in err  # the fix


def test_the_judge_takes_a_run_whose_spec_differs_only_where_results_do_not():
    from logitrepro.judging import refuse_runs_of_other_configs

    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=PROJECT)
    group = cfg.train_groups("cnn_svm")[0]
    arm, seed = group.runs[0]
    spec = cfg.job_spec("cnn_svm", group.experiment, arm, seed)
    elsewhere = {**spec, "data_dir": "/elsewhere/mnist", "device": "cuda", "kernels": {"backend": "triton"}}
    elsewhere["hparams"] = {**spec["hparams"], "betas": [0.9, 0.95]}  # as metrics.json records a tuple
    spec["hparams"]["betas"] = (0.9, 0.95)
    refuse_runs_of_other_configs(
        [{"spec": elsewhere, "metrics": {}}],
        lambda e, a, s: spec,
        lambda e, a, s: "unused",
    )
