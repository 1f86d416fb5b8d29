"""The benchmark scripts run end to end (tiny sizes) and write their CSVs with machine columns."""

import csv
import json
import os
import subprocess
import sys

from tests.support import PROJECT


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_cpu_benchmark_quick_writes_ratios(tmp_path):
    out = tmp_path / "cpu.csv"
    subprocess.run(
        [sys.executable, "benchmarks/bench_cpu.py", "--quick", "--no-mem", "--reps", "2", "--out", str(out)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    rows = read_csv(out)
    assert {r["op"] for r in rows} == {"swa", "vq", "ce", "sq_hinge"}
    for r in rows:
        assert float(r["fwd_bwd_median_s"]) > 0 and r["torch"] and r["cpu_model"] and r["git_commit"]
    assert any(r["method"] == "ours" and float(r["time_ratio_vs_ours"]) == 1.0 for r in rows)


def test_gpu_script_runs_on_cpu_under_the_interpreter(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    p = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--cpu-smoke"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    csvs = list(tmp_path.glob("*.csv"))
    assert csvs, p.stdout[-2000:]
    assert sum(len(read_csv(c)) for c in csvs) > 5


def test_pipeline_overhead_splits_core_time_into_loop_and_the_rest(tmp_path):
    """A job of two runs (10 + 2 core-s in their loops, 13 + 3 in the job, 4 of start-up), and
    Snakemake's accounting: 30 core-s in its jobs, 2.5 of its own."""
    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    usage = {"scheduler_cpu_s": 2.5, "jobs_cpu_s": 30.0, "wall_s": 20.0}
    (results / "benchmarks" / "snakemake.jsonl").write_text(json.dumps(usage) + "\n")
    for seed, (train, ev, job) in enumerate(((9.0, 1.0, 13.0), (1.5, 0.5, 3.0))):
        run = results / "runs" / "p" / "e" / "arm" / f"seed{seed}"
        run.mkdir(parents=True)
        job = {"benchmark": "b.tsv", "cpu_s": job, "startup_cpu_s": 4}
        compute = {"train_cpu_s": train, "eval_cpu_s": ev, "job": job}
        (run / "metrics.json").write_text(json.dumps({"compute": compute}))
    out = tmp_path / "overhead.csv"
    p = subprocess.run(
        [sys.executable, "benchmarks/pipeline_overhead.py", "--results", str(results), "--out", str(out)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    parts = {r["part"]: float(r["core_s"]) for r in read_csv(out)}
    assert (parts["loop"], parts["run set-up"], parts["job start-up"]) == (12.0, 4.0, 4.0), p.stdout
    assert (parts["other jobs"], parts["scheduler"]) == (30.0 - 20.0, 2.5)
    assert parts["overhead"] == 4.0 + 4.0 + 10.0 + 2.5 and "1.62 cores busy" in p.stdout


def test_pipeline_overhead_splits_the_other_jobs_by_the_commands_they_ran(tmp_path):
    """As above, with each job's own record: the training job used 22 core-s in all (16 on its two
    runs, 4 of start-up, so 2 between them), data preparation 3, judge 2.5; Snakemake's children
    30 core-s in all, so 2.5 went to no command's record (process exits, shells, the solver)."""
    results = tmp_path / "results"
    (results / "benchmarks").mkdir(parents=True)
    usage = {"scheduler_cpu_s": 2.5, "jobs_cpu_s": 30.0, "wall_s": 20.0}
    (results / "benchmarks" / "snakemake.jsonl").write_text(json.dumps(usage) + "\n")
    commands = [("prepare", 2.0), ("train", 22.0), ("tokenize", 1.0), ("judge", 2.5)]
    (results / "benchmarks" / "commands.jsonl").write_text(
        "".join(json.dumps({"command": c, "cpu_s": s, "wall_s": s}) + "\n" for c, s in commands)
    )
    for seed, (train, ev, job) in enumerate(((9.0, 1.0, 13.0), (1.5, 0.5, 3.0))):
        run = results / "runs" / "p" / "e" / "arm" / f"seed{seed}"
        run.mkdir(parents=True)
        job = {"benchmark": "b.tsv", "cpu_s": job, "startup_cpu_s": 4}
        (run / "metrics.json").write_text(json.dumps({"compute": {"train_cpu_s": train, "eval_cpu_s": ev, "job": job}}))
    out = tmp_path / "overhead.csv"
    subprocess.run(
        [sys.executable, "benchmarks/pipeline_overhead.py", "--results", str(results), "--out", str(out)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    parts = {r["part"]: float(r["core_s"]) for r in read_csv(out)}
    assert parts["training jobs, between runs"] == 2.0 and parts["data preparation"] == 3.0 and parts["judge"] == 2.5
    assert parts["process exits, shells"] == 30.0 - 22.0 - 3.0 - 2.5 and "other jobs" not in parts
    assert parts["overhead"] == 4.0 + 4.0 + 2.0 + 3.0 + 2.5 + 2.5 + 2.5
    assert parts["overhead without data preparation"] == parts["overhead"] - 3.0
