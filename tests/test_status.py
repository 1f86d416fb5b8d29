"""`logitrepro status`: the runs of the config by state, read from run folders and the training
jobs running in this folder; a running run's step, time left and log."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from logitrepro.cli import main
from logitrepro.config import load_config
from logitrepro.progress import LiveJob, live_jobs, parse_train_command, survey, time_left
from logitrepro.runs import RunDir
from tests.support import PROJECT


def write_run(folder, steps: int, rows: list[tuple[int, float]], finished: bool = False, wall_s: float = 0.0):
    """A run folder as train() leaves it: run.json with the planned steps, history rows
    (step, cumulative training seconds), and metrics.json once evaluated."""
    run = RunDir(folder).make()
    run.write_info({"spec": {"hparams": {"steps": steps}}, "train_wall_s": wall_s})
    run.history.write_text("".join(json.dumps({"step": s, "train_s": t, "train_loss": 1.0}) + "\n" for s, t in rows))
    if finished:
        run.write_metrics({"metrics": {}})
    return run


def test_a_train_command_line_is_read_and_others_are_not():
    argv = ["python", "-m", "logitrepro", "train", "--config", "c.json", "--paper", "p", "--experiment", "e"]
    assert parse_train_command([*argv, "--runs", "a:0", "b_x2:1", "--threads", "2"]) == (
        "p",
        "e",
        (("a", 0), ("b_x2", 1)),
    )
    assert parse_train_command(["/venv/bin/logitrepro", "train", "--paper", "p", "--experiment", "e", "--runs", "a:3"])
    assert parse_train_command(["python", "-m", "logitrepro", "judge", "--paper", "p"]) is None
    assert parse_train_command(["vim", "train", "--paper", "p"]) is None


def test_runs_are_finished_running_queued_interrupted_or_pending(tmp_path):
    now = time.time()

    def folder(paper, experiment, arm, seed):
        return str(tmp_path / paper / experiment / arm / f"seed{seed}")

    write_run(folder("p", "e", "a", 0), 100, [(100, 50.0)], finished=True, wall_s=60.0)
    current = write_run(folder("p", "e", "a", 1), 100, [(10, 5.0), (40, 20.0)])  # the job's current run
    os.utime(current.history, (now - 4, now - 4))  # its last row, 4 s ago
    old = write_run(folder("p", "e", "b", 0), 100, [(30, 15.0)])  # left by a killed job
    stale = now - 3600
    os.utime(old.history, (stale, stale))
    planned = {("p", "e", arm, seed): 100 for arm in ("a", "b") for seed in (0, 1)}
    job = LiveJob(123, "p", "e", (("a", 0), ("a", 1), ("b", 1)))
    runs = {(r.arm, r.seed): r for r in survey(planned, folder, [job], now=now)}
    assert {k: r.state for k, r in runs.items()} == {
        ("a", 0): "finished",
        ("a", 1): "running",
        ("b", 0): "interrupted",
        ("b", 1): "queued",
    }
    running = runs[("a", 1)]
    assert (running.step, running.total, running.job) == (40, 100, job)
    assert running.seconds_left == pytest.approx(60 * 0.5 - 4)  # 60 steps at 0.5 s, less the time since the row
    assert running.job_seconds_left() == pytest.approx(running.seconds_left + 100 * 0.5)  # and b/seed1 behind it
    seconds, untimed = time_left(list(runs.values()))["p"]
    # arm b has no finished run: its runs are timed by the experiment's (60 s), for the steps they have left
    assert untimed == 0 and seconds == pytest.approx(running.seconds_left + 60 * 0.7 + 60)


def test_with_no_job_a_recently_written_history_is_running_and_an_old_one_interrupted(tmp_path):
    now = time.time()
    write_run(tmp_path / "r0", 100, [(50, 10.0)])
    planned = {("p", "e", "a", 0): 100}
    runs = survey(planned, lambda *k: str(tmp_path / "r0"), [], now=now)
    assert runs[0].state == "running" and runs[0].job is None  # a job on another machine (a cluster)
    runs = survey(planned, lambda *k: str(tmp_path / "r0"), [], now=now + 3600)
    assert runs[0].state == "interrupted"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with the project's configs (paper configs are found from the working folder)."""
    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def status(tmp_path) -> int:
    return main(["status", "--config", "configs/config.yaml", "--set", f"paths.results={tmp_path / 'results'}"])


@pytest.fixture
def fake_job(project, tmp_path):
    """A process in tmp_path whose command line is a training job's (it only sleeps)."""
    script = tmp_path / "bin" / "logitrepro"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(60)\n")
    cfg = load_config("configs/config.yaml", overrides={"paths": {"results": str(tmp_path / "results")}})
    paper = "cnn_svm"
    experiment = next(iter(cfg.experiments(paper)))
    group = next(g for g in cfg.train_groups(paper) if g.experiment == experiment and len(g.runs) > 1)
    runs = [f"{arm}:{seed}" for arm, seed in group.runs]
    argv = [sys.executable, str(script), "train", "--paper", paper, "--experiment", experiment, "--runs", *runs]
    proc = subprocess.Popen(argv, cwd=tmp_path)
    yield cfg, group
    proc.kill()
    proc.wait()


def test_status_names_the_running_run_its_job_and_log(fake_job, tmp_path, capsys):
    cfg, group = fake_job
    for _ in range(50):  # the process's command line is there once it has started
        if live_jobs(tmp_path):
            break
        time.sleep(0.1)
    (arm, seed), *queued = group.runs
    steps = cfg.hparams_of(group.paper, group.experiment, arm)[0]["steps"]
    write_run(cfg.run_dir(group.paper, group.experiment, arm, seed), steps, [(steps // 4, steps / 4 * 0.2)])
    assert status(tmp_path) == 0
    out = capsys.readouterr().out
    assert out.startswith("Training at scale")
    line = next(x for x in out.splitlines() if f"{group.paper}/{group.experiment}/{arm}/seed{seed}" in x)
    assert f"step {steps // 4:,} / {steps:,} (25%)" in line and f"its job trains {len(queued)} runs after it" in line
    assert f"log: {tmp_path / 'results'}/logs/train/{group.paper}/{group.experiment}/{group.name}.log" in out


def test_status_says_so_when_nothing_trains(project, capsys):
    assert status(project) == 0
    out = capsys.readouterr().out
    assert out.startswith("Nothing is training at scale") and "`make run` trains the" in out
    assert "Running" not in out


def test_a_job_s_log_says_after_each_run_how_many_are_left(project, monkeypatch, capsys):
    from logitrepro import train

    monkeypatch.setattr(train, "train", lambda spec, run_dir, **kw: RunDir(run_dir).make())
    monkeypatch.setattr(train, "evaluate", lambda run_dir, **kw: {"compute": {}, "metrics": {}})
    cfg = load_config("configs/config.yaml", overrides={"scale": "smoke", "paths": {"results": str(project / "r")}})
    group = next(g for p in cfg.papers for g in cfg.train_groups(p) if len(g.runs) >= 3)
    runs = [f"{arm}:{seed}" for arm, seed in group.runs[:3]]
    argv = ["train", "--config", "scale=smoke", "--set", f"paths.results={project / 'r'}", "--paper", group.paper]
    assert main([*argv, "--experiment", group.experiment, "--runs", *runs]) == 0
    done = [line for line in capsys.readouterr().out.splitlines() if "done;" in line]
    assert [line.split(" done;")[0] for line in done] == ["[1/3]", "[2/3]"]  # none after the last
    assert "2 runs left in this job" in done[0] and "1 run left in this job" in done[1]


def test_status_says_when_snakemake_runs_here_at_other_steps(project, capsys):
    script = project / "bin" / "snakemake"
    script.parent.mkdir()
    script.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script), "--cores", "all"], cwd=project)
    try:
        time.sleep(0.3)
        assert status(project) == 0
        out = capsys.readouterr().out
        assert out.startswith("Nothing is training") and "(Snakemake runs here, at other steps" in out
        assert "`make run` trains" not in out  # it is running
    finally:
        proc.kill()
        proc.wait()
