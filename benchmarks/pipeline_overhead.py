"""Where a finished pipeline's core time went: the runs' own training and evaluation against
everything around them.

    python benchmarks/pipeline_overhead.py [--results results] [--label TEXT]

Reads what the kernel accounted, not Snakemake's sampled benchmarks (which miss most of a short
job's CPU): each run's metrics.json (its loop, and what its job spent on it and on start-up, in
the job's own process) and results/benchmarks/snakemake.jsonl (each Snakemake invocation's own
CPU and its finished jobs' CPU, written when the workflow succeeds). Appends one CSV row per
part to benchmarks/results/pipeline_overhead.csv and prints the split.

The parts:
- loop: each run's training loop and its final evaluation (`train_cpu_s`, `eval_cpu_s`),
- run set-up: what a training job spent on a run outside them (data, model, files, tracking),
- job start-up: a training job's process before its first run (interpreter, imports, config),
- the other jobs, per command where each `python -m logitrepro` job recorded its own CPU
  (results/benchmarks/commands.jsonl): the training jobs between their runs, data preparation, judge (with
  recording the runs in MLflow), provenance, tables, plots, claims history, and what no command
  records: each process's exit after its record (unloading torch and MLflow, about 0.4-0.7 s), the
  jobs' shells, Snakemake's scheduling solver; "other jobs" in one sum for a run from before
  those records,
- scheduler: Snakemake itself.
Overhead is everything but the loop; it is also given without data preparation, which is work of
the pipeline's own (fetching, verifying, tokenizing), not a cost around the runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, git_commit  # noqa: E402


def split(results: Path) -> dict[str, float]:
    """Core-seconds per part of the pipeline (see the module docstring)."""
    usage = results / "benchmarks" / "snakemake.jsonl"
    if not usage.exists():
        raise SystemExit(f"{usage} is missing: it is written when a Snakemake run of this workflow succeeds")
    records = [json.loads(line) for line in usage.read_text().splitlines() if line.strip()]
    parts = dict.fromkeys(["loop", "run set-up", "job start-up"], 0.0)
    started: dict[str, float] = {}
    for metrics in sorted((results / "runs").rglob("metrics.json")):
        c = json.loads(metrics.read_text()).get("compute") or {}
        job = c.get("job") or {}
        loop = (c.get("train_cpu_s") or 0.0) + (c.get("eval_cpu_s") or 0.0)
        parts["loop"] += loop
        parts["run set-up"] += max(0.0, (job.get("cpu_s") or 0.0) - loop)
        started[job.get("benchmark") or str(metrics)] = job.get("startup_cpu_s") or 0.0
    parts["job start-up"] = sum(started.values())
    jobs = sum(r["jobs_cpu_s"] for r in records)
    commands = results / "benchmarks" / "commands.jsonl"
    if commands.exists():
        by_command: dict[str, float] = {}
        for line in commands.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                by_command[r["command"]] = by_command.get(r["command"], 0.0) + r["cpu_s"]
        train = by_command.pop("train", 0.0)
        parts["training jobs, between runs"] = max(0.0, train - sum(parts.values()))
        parts["data preparation"] = by_command.pop("prepare", 0.0) + by_command.pop("tokenize", 0.0)
        names = {"record-claims": "claims history"}
        for command, cpu_s in sorted(by_command.items()):
            parts[names.get(command, command)] = cpu_s
        parts["process exits, shells"] = max(0.0, jobs - train - sum(by_command.values()) - parts["data preparation"])
    else:
        parts["other jobs"] = max(0.0, jobs - sum(parts.values()))
    parts["scheduler"] = sum(r["scheduler_cpu_s"] for r in records)
    parts["wall"] = sum(r["wall_s"] for r in records)
    return {k: round(v, 1) for k, v in parts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--label", default="", help="what this run was (recorded in the CSV)")
    ap.add_argument("--out", default=str(RESULTS / "pipeline_overhead.csv"))
    args = ap.parse_args()
    parts = split(Path(args.results))
    wall = parts.pop("wall")
    total = sum(parts.values())
    overhead = total - parts["loop"]
    width = max(map(len, parts))
    for name, core_s in parts.items():
        print(f"{name:<{width}}  {core_s:>9,.1f} core-s  {100 * core_s / total:5.1f}%")
    print(f"{'overhead':<{width}}  {overhead:>9,.1f} core-s  {100 * overhead / total:5.1f}%  (all but the loop)")
    rows = [*parts.items(), ("overhead", overhead)]
    if "data preparation" in parts:
        rest = overhead - parts["data preparation"]
        share = 100 * rest / total
        print(f"{'':<{width}}  {rest:>9,.1f} core-s  {share:5.1f}%  (all but the loop and data preparation)")
        rows.append(("overhead without data preparation", rest))
    print(f"wall {wall:,.0f} s, {total / wall:.2f} cores busy on average")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["git_commit", "label", "part", "core_s", "share", "total_core_s", "wall_s"])
        for name, core_s in rows:
            w.writerow([git_commit(), args.label, name, core_s, round(core_s / total, 4), round(total, 1), wall])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
