"""What each run, and so each claim, cost in compute.

A run's cost is what its own process spent on it (training summed over its attempts, the last
evaluation: `compute` in its metrics.json) plus its share of its job's start-up (interpreter,
imports, config), which the job measures in its own process before its first run and which is
split evenly over the runs it holds. Jobs from before that measurement fall back on the job's
Snakemake benchmark record less what the job spent on its runs; Snakemake samples a process tree
now and then, so for a job of seconds that record misses CPU and the share is a lower bound.
Without either (a run trained by hand) the start-up is unknown and left out, and the cost says so.

Core-seconds are CPU time over all threads; a run on a GPU also counts its wall time as
GPU-seconds (one device per job).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path


def read_benchmark(path: str | Path | None) -> dict | None:
    """Snakemake's benchmark TSV as {'s': wall seconds, 'cpu_time': CPU seconds, 'max_rss': MB};
    the last row when a job was benchmarked more than once; None when there is none."""
    if not path or not Path(path).is_file():
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        return None

    def number(key: str) -> float:
        try:
            return float(rows[-1].get(key) or "nan")
        except ValueError:  # Snakemake writes "-" for what it could not measure
            return math.nan

    return {"s": number("s"), "cpu_time": number("cpu_time"), "max_rss": number("max_rss")}


def _num(x) -> float:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else 0.0


def run_costs(evaluations: list[dict]) -> dict[str, dict]:
    """{run folder: {'core_s', 'gpu_s', 'wall_s', 'device', 'startup': how the job's start-up was
    counted}} for every evaluated run."""
    by_job: dict[str, list[dict]] = defaultdict(list)
    for ev in evaluations:
        job = (ev.get("compute") or {}).get("job") or {}
        by_job[job.get("benchmark") or ""].append(ev)
    out = {}
    for path, evs in by_job.items():
        bench = read_benchmark(path)
        core_share = wall_share = 0.0
        startup = "not measured (no job benchmark record)"
        jobs = [(e.get("compute") or {}).get("job") or {} for e in evs]
        measured = [j.get("startup_cpu_s") for j in jobs]
        if all(isinstance(m, (int, float)) for m in measured):
            # measured in the job's own process (costs of the job's exit are left out)
            runs = max(len(evs), max(int(j.get("runs") or 1) for j in jobs))
            core_share = _num(measured[0]) / runs
            wall_share = _num(jobs[0].get("startup_wall_s")) / runs
            startup = f"measured in the job's process before its first run, shared by {runs} run(s)"
        elif bench is not None:
            spent_cpu = sum(_num(e["compute"]["job"].get("cpu_s")) for e in evs)
            spent_wall = sum(_num(e["compute"]["job"].get("wall_s")) for e in evs)
            runs = max(len(evs), max(int(e["compute"]["job"].get("runs") or 1) for e in evs))
            core_share = max(0.0, _num(bench["cpu_time"]) - spent_cpu) / runs
            wall_share = max(0.0, _num(bench["s"]) - spent_wall) / runs
            startup = f"job benchmark {path}, shared by {runs} run(s)"
        for ev in evs:
            c = ev.get("compute") or {}
            own_wall = _num(c.get("train_wall_s")) + _num(c.get("eval_wall_s"))
            on_gpu = str(c.get("device", "cpu")).startswith("cuda")
            out[str(ev.get("run_dir"))] = {
                "core_s": round(_num(c.get("train_cpu_s")) + _num(c.get("eval_cpu_s")) + core_share, 2),
                "gpu_s": round(own_wall, 2) if on_gpu else 0.0,
                "wall_s": round(own_wall + wall_share, 2),
                "startup_core_s": round(core_share, 2),
                "device": c.get("device", "unknown"),
                "startup": startup,
            }
    return out


def total(costs: list[dict]) -> dict:
    """Sums over runs: core-, GPU- and wall seconds, and the start-up's part of the core time."""
    keys = ("core_s", "gpu_s", "wall_s", "startup_core_s")
    out = {k: round(sum(c[k] for c in costs), 2) for k in keys}
    out["runs"] = len(costs)
    out["devices"] = sorted({c["device"] for c in costs})
    return out


def claim_costs(claims: list[dict], evaluations: list[dict], costs: dict[str, dict]) -> None:
    """Each claim record gets `cost`: the total over the runs it reads (its experiment's runs of
    the arms in `reads`, every seed)."""
    for c in claims:
        arms = set(c.get("reads") or c.get("arms", {}).values())
        runs = [
            costs[str(ev.get("run_dir"))]
            for ev in evaluations
            if ev["spec"]["experiment"] == c["experiment"] and ev["spec"]["arm"] in arms
        ]
        c["cost"] = total(runs)


def fmt_cost(cost: dict | None) -> str:
    """'1,234 core-s' (and GPU-s when there are any) for tables."""
    if not cost or not cost.get("runs"):
        return ""
    text = f"{cost['core_s']:,.0f} core-s"
    if cost.get("gpu_s"):
        text += f", {cost['gpu_s']:,.0f} GPU-s"
    return text
