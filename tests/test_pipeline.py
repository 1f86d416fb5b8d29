"""What the workflow does before it builds the DAG: one config file for every job, the typed
check run once per content, a clear word about a stale lock, and results put in order only when
asked."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logitrepro.config import load_config
from logitrepro.pipeline import (
    builds_default_target,
    config_file_for,
    record_usage,
    runs_on_changed_data,
    settle_command,
    stale_lock_hint,
    unsettled,
    validate_once,
    write_config_file,
)
from tests.support import PROJECT


def test_the_jobs_config_file_is_named_by_its_content_and_naming_it_writes_nothing(tmp_path):
    smoke, cpu = {"scale": "smoke"}, {"scale": "cpu", "tracking": {"uri": "http://x"}}
    a, b = config_file_for(smoke, tmp_path), config_file_for(cpu, tmp_path)
    assert a != b and not (tmp_path / ".snakemake").exists()  # a dry run reads the Snakefile: nothing written
    # two invocations with different configs (a smoke run, then a cpu one beside it): each job reads its own
    assert write_config_file(smoke, tmp_path) == a and write_config_file(cpu, tmp_path) == b
    assert json.loads(Path(a).read_text()) == smoke and json.loads(Path(b).read_text())["tracking"]["uri"] == "http://x"
    assert config_file_for({"scale": "smoke"}, tmp_path) == a  # the same config, the same file


def test_the_typed_check_runs_once_per_config_and_code(tmp_path):
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=PROJECT)
    assert validate_once(cfg, tmp_path) is True
    assert validate_once(cfg, tmp_path) is False  # remembered
    other = load_config(
        PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"], "scale": "smoke"}, root=PROJECT
    )
    assert validate_once(other, tmp_path) is True  # another config is checked again


def test_a_change_to_the_typed_hyper_parameters_checks_again(tmp_path, monkeypatch):
    """logitrepro/hparams.py checks every key but lives outside tasks/: its source counts too."""
    import logitrepro.pipeline as pipeline

    package = tmp_path / "logitrepro"
    for part in ("tasks", "optim"):
        shutil.copytree(pipeline.TASKS.parent / part, package / part)
    shutil.copy(pipeline.TASKS.parent / "hparams.py", package / "hparams.py")
    monkeypatch.setattr(pipeline, "TASKS", package / "tasks")
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=PROJECT)
    assert validate_once(cfg, tmp_path) is True
    with open(package / "hparams.py", "a") as f:
        f.write("# edited\n")
    assert validate_once(cfg, tmp_path) is True


def test_a_lock_that_no_snakemake_holds_is_named_with_the_command(tmp_path):
    assert stale_lock_hint(tmp_path) is None
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text(str(tmp_path / "x"))
    assert "snakemake --unlock" in stale_lock_hint(tmp_path)
    assert "--rerun-incomplete" not in stale_lock_hint(tmp_path)
    # the killed run's jobs left outputs that Snakemake, once unlocked, refuses as incomplete
    (tmp_path / ".snakemake" / "incomplete").mkdir()
    (tmp_path / ".snakemake" / "incomplete" / "cmVzdWx0cy9ydW5z").write_text("")
    assert "--rerun-incomplete" in stale_lock_hint(tmp_path)
    # a snakemake process working in the folder holds it: no hint
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "snakemake"], cwd=tmp_path)
    try:
        # until the child has exec'd: before that its cmdline is still this test's
        for _ in range(500):
            if b"snakemake" in Path(f"/proc/{holder.pid}/cmdline").read_bytes():
                break
            time.sleep(0.01)
        assert stale_lock_hint(tmp_path) is None
    finally:
        holder.kill()


def test_a_run_whose_data_changed_since_it_trained_is_made_stale_and_named(tmp_path):
    from logitrepro.runs import RunDir

    paths = {"results": str(tmp_path / "r"), "data": str(tmp_path / "d")}
    overrides = {"scale": "smoke", "papers": ["cnn_svm"], "paths": paths}
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides=overrides, root=PROJECT)
    group = cfg.train_groups("cnn_svm")[0]  # one experiment: its runs read the same data
    (arm, seed), (arm2, seed2) = group.runs[0], group.runs[-1]
    assert arm != arm2
    data_dir = Path(cfg.job_spec("cnn_svm", group.experiment, arm, seed)["data_dir"])
    data_dir.mkdir(parents=True)
    (data_dir / "manifest.json").write_text(json.dumps({"sha256": "b" * 64}))
    runs = {}
    for a, s, trained_on in ((arm, seed, "a" * 64), (arm2, seed2, "b" * 64)):
        run = RunDir(cfg.run_dir("cnn_svm", group.experiment, a, s)).make()
        run.write_info({"data_checksum": trained_on})
        run.summary.write_text("{}")
        runs[trained_on] = run
    (dry,) = runs_on_changed_data(cfg, dry_run=True)  # said, nothing removed
    assert "settling makes its job train it again" in dry and runs["a" * 64].summary.exists()
    lines = runs_on_changed_data(cfg)
    assert len(lines) == 1 and "aaaaaaaaaaaa" in lines[0] and "bbbbbbbbbbbb" in lines[0], lines
    assert not runs["a" * 64].summary.exists() and runs["b" * 64].summary.exists()
    assert runs_on_changed_data(cfg) == []  # said once: the job is due now


def test_a_snakemake_invocation_records_its_own_cpu_and_its_finished_jobs(tmp_path):
    usage = tmp_path / "benchmarks" / "snakemake.jsonl"
    before = record_usage(usage)
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=60)  # a job, reaped
    after = record_usage(usage)
    assert [json.loads(line) for line in usage.read_text().splitlines()] == [before, after]
    assert after["jobs_cpu_s"] - before["jobs_cpu_s"] >= 0.3
    assert after["scheduler_cpu_s"] >= before["scheduler_cpu_s"] > 0 and after["wall_s"] >= before["wall_s"]


def test_a_workflow_command_records_its_own_cpu_and_a_hand_run_one_does_not(tmp_path):
    usage = tmp_path / "commands.jsonl"
    out = tmp_path / "out.json"
    out.write_text("{}")
    cmd = [sys.executable, "-m", "logitrepro", "provenance", "--outputs", str(out)]
    env = {**os.environ, "LOGITREPRO_COMMAND_USAGE": str(usage)}
    subprocess.run(cmd, cwd=PROJECT, env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(cmd, cwd=PROJECT, env={**env, "LOGITREPRO_COMMAND_USAGE": ""}, check=True, timeout=120)
    (record,) = [json.loads(line) for line in usage.read_text().splitlines()]
    assert record["command"] == "provenance" and record["cpu_s"] > 0 and record["wall_s"] >= record["cpu_s"] / 2


def test_what_is_out_of_order_is_only_named_and_claims_on_a_gone_run_are_made_again_with_it(tmp_path):
    """Reading the Snakefile changes nothing. Claims made from a run this config makes, whose
    folder is gone, are left for the default target, which trains the run and judges again; the
    rest (claims from a run no job makes, timestamps out of order) waits for `logitrepro settle`."""
    from logitrepro.provenance import record

    paths = {"results": str(tmp_path / "r"), "data": str(tmp_path / "d")}
    cfg = load_config(
        PROJECT / "configs" / "config.yaml", overrides={"scale": "smoke", "papers": ["cnn_svm"], "paths": paths}
    )
    group = cfg.train_groups("cnn_svm")[0]
    arm, seed = group.runs[0]
    run_file = f"{cfg.run_dir('cnn_svm', group.experiment, arm, seed)}/metrics.json"
    other = f"{cfg.run_dir('cnn_svm', group.experiment, arm, 99)}/metrics.json"  # no job makes it
    claims, table, orphan = (tmp_path / "r" / n for n in ("claims.json", "table.md", "orphan.json"))
    for path, inputs in ((claims, [run_file]), (table, [str(claims)]), (orphan, [other])):
        for f in inputs:
            Path(f).parent.mkdir(parents=True, exist_ok=True)
            Path(f).touch()
        path.write_text("made")
        record(inputs, [str(path)])
    Path(run_file).unlink(), Path(other).unlink()  # the run folders are gone
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    found = unsettled(cfg, [run_file])
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
    assert found.run_files == [run_file]
    assert [line.split(" was made")[0] for line in found.remade] == [str(claims), str(table)]
    assert [line.split(" was made")[0] for line in found.lines] == [str(orphan)]
    assert "logitrepro settle" in found.refusal(default_target=True, argv=[])
    orphan.unlink(), Path(f"{orphan}.prov.json").unlink()  # settled: only what the default target makes again is left
    found = unsettled(cfg, [run_file])
    assert found.lines == [] and found.refusal(default_target=True, argv=[]) is None
    assert "logitrepro settle" in found.refusal(default_target=False, argv=[])  # other targets keep the claims
    early, late = tmp_path / "r" / "early.json", tmp_path / "r" / "late.json"
    early.write_text("e")
    late.write_text("l")
    record([str(early)], [str(late)])
    os.utime(late, (1_000_000_000, 1_000_000_000))  # a checkout's order: only its job would run again
    found = unsettled(cfg, [run_file])
    assert found.retimed and found.refusal(default_target=True, argv=[]) is None
    assert "logitrepro settle" in found.hint(argv=[]) and late.stat().st_mtime == 1_000_000_000


@pytest.mark.parametrize(
    "targets, target_jobs, default",
    [((), (), True), (("all",), (), True), (("results/claims/p.json",), (), False), ((), ("train__p:x",), False)],
)
def test_the_default_target_is_told_from_the_command_lines_targets(targets, target_jobs, default):
    from types import SimpleNamespace

    workflow = SimpleNamespace(
        default_target="all", dag_settings=SimpleNamespace(targets=set(targets), target_jobs=set(target_jobs))
    )
    assert builds_default_target(workflow) is default


def test_the_settle_command_carries_the_snakemake_command_lines_config():
    argv = ["-n", "--cores", "all", "--config", "scale=smoke", "paths={results: my results}"]
    assert settle_command(argv) == (
        "python -m logitrepro settle --config scale=smoke --config 'paths={results: my results}'"
    )


SCHEDULED_WORKFLOW = """
import json, sys, threading
sys.path.insert(0, {src!r})
from logitrepro.pipeline import lift_default_job_rate_limit

onstart:
    open("lifted", "w").write(str(lift_default_job_rate_limit(workflow)))

rule all:
    input: expand("out/{{i}}.txt", i=range(6))

rule one:
    output: "out/{{i}}.txt"
    shell: "sleep 0.2; touch {{output}}"

onsuccess:
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
    open("timers", "w").write(str(len(timers)))
"""


@pytest.mark.parametrize("limit, lifted", [(None, True), ("50/1s", False), ("100/1s", False)])
def test_snakemakes_default_job_rate_limit_is_lifted_and_a_chosen_one_kept(tmp_path, limit, lifted):
    """Snakemake's default limit leaves once-a-second job selection chains running (timer threads
    alive when the workflow ends); lifted, every job still runs and no such chain is left."""
    (tmp_path / "Snakefile").write_text(SCHEDULED_WORKFLOW.format(src=str(PROJECT / "src")))
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--quiet"]
    if limit:
        cmd += ["--max-jobs-per-timespan", limit]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    assert len(list((tmp_path / "out").iterdir())) == 6
    assert (tmp_path / "lifted").read_text() == str(lifted)
    timers = int((tmp_path / "timers").read_text())
    assert (timers == 0) if lifted else (timers > 0), timers
