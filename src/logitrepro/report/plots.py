"""Training curves per experiment: one panel per curve metric, one colour per arm,
thin lines per seed and a thick line for the seed mean."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(run_dirs: list[str | Path], out_png: str | Path, metrics: list[str], title: str) -> None:
    by_exp: dict[str, dict[str, list[list[dict]]]] = defaultdict(lambda: defaultdict(list))
    for d in run_dirs:
        info = json.loads((Path(d) / "run.json").read_text())
        spec = info["spec"]
        by_exp[spec["experiment"]][spec["arm"]].append([r for r in load_history(d) if "event" not in r])
    exps = sorted(by_exp)
    fig, axes = plt.subplots(len(exps), len(metrics), figsize=(4.5 * len(metrics), 3.2 * len(exps)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, exp in enumerate(exps):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            for k, (arm, histories) in enumerate(sorted(by_exp[exp].items())):
                colour = colours[k % len(colours)]
                curves = []
                for h in histories:
                    pts = [(r["step"], r[metric]) for r in h if metric in r]
                    if pts:
                        xs, ys = zip(*pts)
                        ax.plot(xs, ys, color=colour, alpha=0.3, linewidth=0.8)
                        curves.append(dict(pts))
                if curves:
                    steps = sorted(set.intersection(*(set(c) for c in curves)))
                    mean = [sum(c[s] for c in curves) / len(curves) for s in steps]
                    ax.plot(steps, mean, color=colour, linewidth=2, label=f"{arm} (n={len(curves)})")
            ax.set_title(f"{exp}: {metric}")
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
