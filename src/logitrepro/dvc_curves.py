"""A paper's training curves as DVC plots: results/metrics/<paper>_curves.json.

DVC reads plots from JSON, YAML, CSV or TSV, not from the runs' history.jsonl, and draws a series
per field of a file: so each row here is a step, and each field an arm's training loss at that
step, the mean over its seeds (`<experiment>/<arm>`). dvc.yaml declares a plot per experiment
over its arms' fields (logitrepro.dvcgen), for `dvc plots show` and `dvc plots diff`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from logitrepro.files import write_json
from logitrepro.runs import RunDir

METRIC = "train_loss"  # what every task's history logs


def series_name(experiment: str, arm: str) -> str:
    return f"{experiment}/{arm}"


def paper_series(cfg, paper: str) -> dict[str, list[str]]:
    """{experiment: its series}, every arm the config trains (tuning grids' points included):
    what dvc.yaml declares and each row of the file names."""
    arms: dict[str, set[str]] = {}
    for group in cfg.train_groups(paper):
        arms.setdefault(group.experiment, set()).update(arm for arm, _seed in group.runs)
    return {e: [series_name(e, a) for a in sorted(names)] for e, names in sorted(arms.items())}


def curve_rows(claims_file: dict, series: list[str], project: str | Path = ".") -> list[dict]:
    """[{step, <experiment>/<arm>: mean training loss over the seeds that logged that step}],
    from the histories of the runs the paper's claims read. Each row names every series (null
    where it has no value at that step): DVC finds a plot's fields in the first row."""
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in claims_file.get("runs", []):
        if not r.get("run_dir"):
            continue
        for row in RunDir(Path(project) / r["run_dir"]).read_history():
            v = row.get(METRIC)
            if "event" not in row and isinstance(v, (int, float)) and math.isfinite(v):
                values[row["step"]][series_name(r["experiment"], r["arm"])].append(v)
    names = sorted(set(series) | {name for by_arm in values.values() for name in by_arm})
    return [
        {"step": step, **{n: sum(by_arm[n]) / len(by_arm[n]) if by_arm.get(n) else None for n in names}}
        for step, by_arm in sorted(values.items())
    ]


def write_curves(claims_file: dict, series: list[str], out: str | Path, project: str | Path = ".") -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json(out, curve_rows(claims_file, series, project))
