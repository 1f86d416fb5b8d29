"""Typed hyper-parameters: every (paper, experiment, arm, scale) of the real configs builds into
its task's dataclass without building a model, and a misspelt, mistyped or out-of-range key fails
before any job starts, naming the file, the key path and the reason."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import yaml

from logitrepro.config import SCALES, ConfigError, load_config
from logitrepro.hparams import HParamsError, LoopHParams, build
from logitrepro.tasks import hparams_class, known_tasks
from tests.support import PROJECT


def test_every_arm_of_every_paper_builds_at_every_scale():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    cfg.validate_tasks()  # raises on any problem
    built = 0
    for scale in SCALES:
        at = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": scale}, root=PROJECT)
        for paper in at.papers:
            for name, exp in at.experiments(paper).items():
                for arm in at.arms(paper, name):
                    values, _ = at.hparams_of(paper, name, arm)
                    hp = build(hparams_class(exp["task"]), values, task=exp["task"])
                    assert isinstance(hp, LoopHParams) and hp.steps >= 1
                    built += 1
    assert built > 100


def test_every_task_declares_frozen_hparams_and_names_what_is_missing():
    for name in known_tasks():
        cls = hparams_class(name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
        assert issubclass(cls, LoopHParams), name
        with pytest.raises(HParamsError, match=f"steps: required by task '{name}' and not given"):
            build(cls, {}, task=name)


def edited_copy(tmp_path, paper: str, edit) -> str:
    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / "papers" / f"{paper}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def failure(tmp_path, paper, edit) -> str:
    path = edited_copy(tmp_path, paper, edit)
    cfg = load_config(tmp_path / "configs" / "config.yaml", overrides={"papers": [paper]}, root=tmp_path)
    with pytest.raises(ConfigError) as e:
        cfg.validate_tasks()
    assert path in str(e.value)
    return str(e.value)


def test_a_misspelt_key_fails_with_its_path_and_the_right_name(tmp_path):
    def misspell(p):
        p["experiments"]["mnist"]["scales"]["smoke"]["stpes"] = p["experiments"]["mnist"]["scales"]["smoke"].pop(
            "steps"
        )

    msg = failure(tmp_path, "cnn_svm", misspell)
    assert "experiments.mnist.scales.smoke.stpes: unknown key for task 'cnn_svm' (did you mean 'steps'?)" in msg


def test_a_renamed_key_and_a_negative_budget_fail_before_any_job(tmp_path):
    def edit(p):
        p["experiments"]["mnist"]["scales"]["smoke"]["learning_rate"] = 0.01
        p["experiments"]["mnist"]["scales"]["smoke"]["steps"] = -5

    msg = failure(tmp_path, "cnn_svm", edit)
    assert "experiments.mnist.scales.smoke.learning_rate: unknown key for task 'cnn_svm'" in msg
    assert "experiments.mnist.scales.smoke.steps: -5 is below its minimum 1" in msg


def test_a_wrong_type_and_an_unknown_choice_are_named(tmp_path):
    def edit(p):
        p["experiments"]["breast_cancer"]["hparams"]["batch_size"] = "32"
        p["experiments"]["breast_cancer"]["arms"]["sls"]["optimizer"] = "sgdd"

    msg = failure(tmp_path, "sso", edit)
    assert "experiments.breast_cancer.hparams.batch_size: '32' is not int or NoneType" in msg
    assert (
        "experiments.breast_cancer.arms.sls.optimizer: 'sgdd' is not one of ['sgd', 'sls', 'adam', 'adagrad', 'sso']"
        in msg
    )


def test_a_claim_reading_a_metric_its_task_never_reports_is_a_config_error(tmp_path):
    def edit(p):
        gap = next(c for c in p["claims"] if "rule" in c.get("matrix", {}))  # the gap, on both rules
        gap["matrix"]["rule"][0]["metric"] = "test_acc_author"

    # the gap compares, so its direction is read from the metric when the config loads: the
    # misspelling is found there, before the task check
    path = edited_copy(tmp_path, "cnn_svm", edit)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=tmp_path)
    msg = str(e.value)
    assert path in msg
    assert "claim cnnsvm.mnist.gap: metric 'test_acc_author' is not reported" in msg
    assert "did you mean 'test_acc_authors'?" in msg


def test_an_unknown_task_is_named_with_the_known_ones(tmp_path):
    edited_copy(tmp_path, "cnn_svm", lambda p: p["experiments"]["mnist"].update(task="cnn_svn"))
    with pytest.raises(ConfigError, match=r"experiments\.mnist\.task: unknown task 'cnn_svn'; known: .*cnn_svm"):
        load_config(tmp_path / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=tmp_path)


def test_build_converts_lists_to_tuples_and_checks_cross_field_rules():
    cls = hparams_class("fourier_toy")
    hp = build(cls, {"steps": 1, "eval_every": 1, "checkpoint_every": 1, "toy": "beta", "freqs": [2, 4], "gammas": [0]})
    assert hp.freqs == (2, 4) and hp.gammas == (0.0,) and [m.name for m in hp.members()][-1] == "fourier_n4_g0"
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.steps = 2
    with pytest.raises(HParamsError, match="an arm needs linear: true"):
        build(cls, {"steps": 1, "eval_every": 1, "checkpoint_every": 1, "toy": "beta", "linear": False})
    base = {"steps": 1, "eval_every": 1, "checkpoint_every": 1, "toy": "gaussian", "freqs": [12], "gammas": [0]}
    with pytest.raises(HParamsError, match="ripple_freq.*12: the ripple must lie above every Fourier member's N"):
        build(cls, {**base, "ripple_amp": 0.5, "ripple_freq": 12})
    with pytest.raises(HParamsError, match="ripple_amp"):
        build(cls, {**base, "ripple_amp": 1.0})  # the rippled density would touch zero
    assert build(cls, {**base, "ripple_amp": 0.5}).ripple == (20, 0.5) and build(cls, base).ripple is None
