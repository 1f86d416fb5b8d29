"""Where a finished pipeline's core time went: the runs' own training and evaluation against
everything around them, from Snakemake's benchmark records and each run's metrics.json.

    python benchmarks/pipeline_overhead.py [--results results] [--total-cpu S] [--wall S]

`--total-cpu` is the CPU of the whole `snakemake` invocation (user + sys of its process tree,
e.g. from `/usr/bin/time -f '%e %U %S'`); with it the scheduler's own share is counted too.
Writes one CSV row per part (benchmarks/results/pipeline_overhead.csv, appended) and prints the
split.

The parts:
- loop: each run's training loop and its final evaluation (`train_cpu_s`, `eval_cpu_s`),
- run set-up: what the job spent on a run outside them (its data, model, checkpoint, files),
- job start-up: the training job's process beyond its runs (interpreter, imports, tracking),
- judge, tables, plots, claims history: the jobs that read results,
- data: preparing and tokenizing datasets (real work, but not a run's),
- scheduler: Snakemake itself (only with --total-cpu).
Overhead is everything but the loop and the data.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, git_commit  # noqa: E402
from logitrepro.costs import read_benchmark  # noqa: E402

STAGES = {"prepare": "data", "tokenize": "data", "judge": "judge", "tables": "tables", "plots": "plots"}


def split(results: Path, total_cpu: float | None = None) -> dict[str, float]:
    """Core-seconds per part of the pipeline (see the module docstring)."""
    parts = dict.fromkeys(["loop", "run set-up", "job start-up", "judge", "tables", "plots", "claims history"], 0.0)
    parts["data"] = 0.0
    bench_dir = results / "benchmarks"
    train_bench = 0.0
    for tsv in sorted(bench_dir.rglob("*.tsv")):
        b = read_benchmark(tsv)
        cpu = b["cpu_time"] if b and b["cpu_time"] == b["cpu_time"] else 0.0
        stage = tsv.relative_to(bench_dir).parts[0]
        if stage == "train":
            train_bench += cpu
        elif stage == "claims_history.tsv":
            parts["claims history"] += cpu
        else:
            parts[STAGES.get(stage, stage)] = parts.get(STAGES.get(stage, stage), 0.0) + cpu
    job_runs = 0.0
    for metrics in sorted((results / "runs").rglob("metrics.json")):
        c = json.loads(metrics.read_text()).get("compute") or {}
        loop = (c.get("train_cpu_s") or 0.0) + (c.get("eval_cpu_s") or 0.0)
        parts["loop"] += loop
        in_job = (c.get("job") or {}).get("cpu_s") or 0.0
        parts["run set-up"] += max(0.0, in_job - loop)
        job_runs += max(in_job, loop)
    parts["job start-up"] = max(0.0, train_bench - job_runs)
    if total_cpu is not None:
        parts["scheduler"] = max(0.0, total_cpu - sum(parts.values()))
    return {k: round(v, 1) for k, v in parts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--total-cpu", type=float, help="CPU seconds of the whole snakemake invocation")
    ap.add_argument("--wall", type=float, help="its wall seconds (recorded beside the split)")
    ap.add_argument("--label", default="", help="what this run was (recorded in the CSV)")
    ap.add_argument("--out", default=str(RESULTS / "pipeline_overhead.csv"))
    args = ap.parse_args()
    parts = split(Path(args.results), args.total_cpu)
    total = sum(parts.values())
    overhead = total - parts["loop"] - parts["data"]
    width = max(map(len, parts))
    for name, core_s in parts.items():
        print(f"{name:<{width}}  {core_s:>9,.1f} core-s  {100 * core_s / total:5.1f}%")
    print(f"{'overhead':<{width}}  {overhead:>9,.1f} core-s  {100 * overhead / total:5.1f}%  (all but loop and data)")
    if args.wall:
        print(f"wall {args.wall:,.0f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["git_commit", "label", "part", "core_s", "share", "total_core_s", "wall_s"])
        for name, core_s in [*parts.items(), ("overhead", overhead)]:
            w.writerow([git_commit(), args.label, name, core_s, round(core_s / total, 4), round(total, 1), args.wall])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
