"""The benchmark scripts run end to end (tiny sizes) and write their CSVs with machine columns."""

import csv
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
