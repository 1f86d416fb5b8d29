import shutil
from datetime import datetime
from pathlib import Path

import pytest

from logitrepro import run_times
from logitrepro import train as T
from logitrepro.cli import main
from logitrepro.config import load_config
from logitrepro.runs import RunDir
from tests.support import smoke_spec

PROJECT = Path(__file__).resolve().parents[1]
LOOP = {"steps": 20, "eval_every": 5, "checkpoint_every": 5}


def spec_for(data_dir):
    return smoke_spec("cnn_svm", "mnist", "svm", 0, data_dir=data_dir, **LOOP)


def trained(spec, run_dir, started: str, ended: str) -> bool:
    """What the training command does around train.train: read run.json, train, stamp."""
    before = run_times.read_info_or_none(run_dir)
    T.train(spec, run_dir)
    return run_times.stamp_attempt(run_dir, before, started, ended)


def test_a_run_records_when_its_training_started_and_ended(tmp_path, prepared_mnist):
    assert trained(spec_for(prepared_mnist), tmp_path / "run", "2026-12-05T06:00:00+00:00", "2026-12-05T06:01:30+00:00")
    info = RunDir(tmp_path / "run").read_info()
    assert (info["started"], info["ended"]) == ("2026-12-05T06:00:00+00:00", "2026-12-05T06:01:30+00:00")
    assert info["attempts"][-1]["started"] == info["started"] and info["attempts"][-1]["from_step"] == 0
    start, end = run_times.training_times(RunDir(tmp_path / "run"), info)
    assert end - start == 90_000  # the stamps, not run.json's file time (written seconds ago)
    assert start == int(1000 * datetime.fromisoformat("2026-12-05T06:00:00+00:00").timestamp())


def test_a_finished_run_kept_without_training_keeps_its_times(tmp_path, prepared_mnist):
    trained(spec_for(prepared_mnist), tmp_path / "run", "2026-12-05T06:00:00+00:00", "2026-12-05T06:01:30+00:00")
    first = RunDir(tmp_path / "run").read_info()
    assert not trained(
        spec_for(prepared_mnist), tmp_path / "run", "2026-12-05T07:00:00+00:00", "2026-12-05T07:00:01+00:00"
    )
    assert RunDir(tmp_path / "run").read_info() == first


def test_a_run_whose_first_attempt_was_killed_has_no_start_and_falls_back_to_its_wall_time(
    tmp_path, prepared_mnist, monkeypatch
):
    real_make_task = T.make_task

    def make_dying_task(spec, device):
        task = real_make_task(spec, device)
        real_batch = task.batch
        task.batch = lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 12 else real_batch(step)
        return task

    monkeypatch.setattr(T, "make_task", make_dying_task)
    with pytest.raises(KeyboardInterrupt):  # killed: the command never gets to stamp it
        trained(spec_for(prepared_mnist), tmp_path / "run", "2026-12-05T06:00:00+00:00", "unused")
    monkeypatch.setattr(T, "make_task", real_make_task)
    assert trained(spec_for(prepared_mnist), tmp_path / "run", "2026-12-05T06:10:00+00:00", "2026-12-05T06:11:00+00:00")
    run = RunDir(tmp_path / "run")
    info = run.read_info()
    assert "started" not in info and info["ended"] == "2026-12-05T06:11:00+00:00"
    assert [a.get("started") for a in info["attempts"]] == [None, "2026-12-05T06:10:00+00:00"]
    start, end = run_times.training_times(run, info)
    assert end == int(1000 * datetime.fromisoformat("2026-12-05T06:11:00+00:00").timestamp())
    assert start == end - int(1000 * info["train_wall_s"])


def test_a_run_trained_before_the_stamps_ends_at_its_run_json_s_file_time(tmp_path):
    import os

    run = RunDir(tmp_path / "run").make()
    run.write_info({"train_wall_s": 30.0})
    os.utime(run.info, (1_700_000_000, 1_700_000_000))
    assert run_times.training_times(run, run.read_info()) == (1_699_999_970_000, 1_700_000_000_000)


def test_the_training_command_stamps_each_run_it_trains(tmp_path, monkeypatch):
    """The wiring in `logitrepro train`: a run train.train trained gets its times, a kept one not."""
    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("configs/config.yaml", overrides={"scale": "smoke", "paths": {"results": str(tmp_path / "r")}})
    group = next(g for p in cfg.papers for g in cfg.train_groups(p) if len(g.runs) >= 2)
    (arm0, seed0), (arm1, seed1) = group.runs[:2]
    kept = RunDir(cfg.run_dir(group.paper, group.experiment, arm1, seed1)).make()
    kept.write_info({"attempts": [{"from_step": 0, "wall_s": 1.0}], "train_wall_s": 1.0})

    def fake_train(spec, run_dir, **kw):  # what train.py writes of a fresh attempt; the kept run untouched
        if Path(run_dir) != kept.path:
            RunDir(run_dir).make().write_info({"attempts": [{"from_step": 0, "wall_s": 2.0}], "train_wall_s": 2.0})

    monkeypatch.setattr(T, "train", fake_train)
    monkeypatch.setattr(T, "evaluate", lambda run_dir, **kw: {"compute": {}, "metrics": {}})
    argv = ["train", "--config", "scale=smoke", "--set", f"paths.results={tmp_path / 'r'}", "--paper", group.paper]
    assert main([*argv, "--experiment", group.experiment, "--runs", f"{arm0}:{seed0}", f"{arm1}:{seed1}"]) == 0
    info = RunDir(cfg.run_dir(group.paper, group.experiment, arm0, seed0)).read_info()
    started, ended = datetime.fromisoformat(info["started"]), datetime.fromisoformat(info["ended"])
    assert started.utcoffset().total_seconds() == 0 and abs(datetime.now(started.tzinfo) - ended).total_seconds() < 60
    assert started <= ended
    assert "started" not in kept.read_info()
