"""Figures per paper, one PNG: a row of curve panels per experiment (one colour per arm, thin
lines per seed, a thick line for the seed mean) and, where the paper config asks for one, a
row of sweep panels: a test metric against an arm hyper-parameter (with an analytic bound
beside it), or against the value in the metric's name where one run holds a whole sweep
(`metric: test_kl_fourier_n{x}_g0` with `values: [2, 4, ...]`).

A curve is named `y` (plotted against step) or `y@x` (against another history key, e.g.
`val_ppl@train_s` for validation perplexity against training compute).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

from logitrepro.claims.stats import seed_stats
from logitrepro.runs import RunDir

matplotlib.use("Agg")  # before pyplot: figures are files, never windows
import matplotlib.pyplot as plt  # noqa: E402

AXIS_LABELS = {"step": "step", "train_s": "training compute (s)"}


def load_history(run_dir: Path) -> list[dict]:
    return RunDir(run_dir).read_history()


def parse_curve(name: str) -> tuple[str, str]:
    y, _, x = name.partition("@")
    return y, x or "step"


def _draw_curves(ax, histories_by_arm: dict, y: str, x: str, colours: list[str]) -> None:
    for k, (arm, histories) in enumerate(sorted(histories_by_arm.items())):
        colour = colours[k % len(colours)]
        curves = []
        for h in histories:
            pts = [(r[x], r[y]) for r in h if r.get(x) is not None and r.get(y) is not None]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, color=colour, alpha=0.3, linewidth=0.8)
                curves.append(pts)
        if not curves:
            continue
        if x == "step":  # seeds share their steps: average them
            by_step = [dict(c) for c in curves]
            steps = sorted(set.intersection(*(set(c) for c in by_step)))
            ax.plot(
                steps,
                [sum(c[s] for c in by_step) / len(by_step) for s in steps],
                color=colour,
                linewidth=2,
                label=f"{arm} (n={len(curves)})",
            )
        else:  # compute differs per seed: average point by point
            n = min(len(c) for c in curves)
            ax.plot(
                [sum(c[i][0] for c in curves) / len(curves) for i in range(n)],
                [sum(c[i][1] for c in curves) / len(curves) for i in range(n)],
                color=colour,
                linewidth=2,
                label=f"{arm} (n={len(curves)})",
            )


def _draw_sweep(ax, run_dirs: list[Path], sweep: dict, experiment: str | None = None) -> None:
    """Test metric (mean and 95% CI over seeds) against an arm hyper-parameter; the bound per
    arm as a dashed line; the reference arm (e.g. the full head) as a horizontal line."""
    param, metric, bound = sweep["param"], sweep["metric"], sweep.get("bound")
    by_value: dict = defaultdict(lambda: defaultdict(list))
    reference = []
    for d in run_dirs:
        run = RunDir(d)
        if not run.metrics.exists():
            continue
        ev = run.read_metrics()
        spec, m = ev["spec"], ev["metrics"]
        if experiment is not None and spec["experiment"] != experiment:
            continue
        if spec["arm"] == sweep.get("reference_arm"):
            reference.append(m.get(metric))
        elif spec["arm"] not in sweep.get("arms", [spec["arm"]]):
            continue
        elif "values" in sweep:  # one run holds the whole sweep: metric names carry the value
            for v in sweep["values"]:
                key = metric.format(x=v)
                if isinstance(m.get(key), (int, float)):
                    by_value[v][metric].append(m[key])
        elif param in spec["hparams"]:
            for key in (metric, bound):
                if key and isinstance(m.get(key), (int, float)):
                    by_value[spec["hparams"][param]][key].append(m[key])
    xs = sorted(v for v in by_value if by_value[v][metric])
    if xs:
        stats = [seed_stats(by_value[v][metric]) for v in xs]
        err = [0 if s.n < 2 else s.ci_high - s.mean for s in stats]
        ax.errorbar(
            xs,
            [s.mean for s in stats],
            yerr=err,
            marker="o",
            capsize=3,
            label=f"{sweep.get('title', metric)} (mean, 95% CI)",
        )
    bx = [v for v in xs if by_value[v].get(bound)]
    if bound and bx:
        ax.plot(
            bx,
            [sum(by_value[v][bound]) / len(by_value[v][bound]) for v in bx],
            "k--",
            marker="x",
            label=f"{bound} (analytic)",
        )
    ref = [r for r in reference if isinstance(r, (int, float))]
    if ref:
        ax.axhline(sum(ref) / len(ref), color="grey", linestyle=":", label=f"{sweep['reference_arm']} ({metric})")
    if sweep.get("log", True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    ax.set_xlabel(param)
    ax.set_title(f"{experiment + ': ' if experiment else ''}{sweep.get('title', metric)} against {param}")
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot_curves(
    run_dirs: list[str | Path], out_png: str | Path, metrics: list[str], title: str, sweep: dict | None = None
) -> None:
    by_exp: dict[str, dict[str, list[list[dict]]]] = defaultdict(lambda: defaultdict(list))
    for d in run_dirs:
        info = RunDir(d).read_info()
        spec = info["spec"]
        by_exp[spec["experiment"]][spec["arm"]].append([r for r in load_history(d) if "event" not in r])
    exps = sorted(by_exp)
    sweeps = [] if not sweep else sweep if isinstance(sweep, list) else [sweep]
    per_exp = [sw for sw in sweeps if sw.get("per_experiment")]  # drawn in each experiment's row
    sweeps = [sw for sw in sweeps if not sw.get("per_experiment")]  # drawn once, in a last row
    n_rows, n_cols = len(exps) + (1 if sweeps else 0), max(len(metrics) + len(per_exp), len(sweeps), 1)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.5 * n_cols, 3.2 * n_rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, exp in enumerate(exps):
        # an experiment's row holds the curves its runs logged (the papers' experiments differ)
        logged = {k for runs in by_exp[exp].values() for history in runs for row in history for k in row}
        own = [m for m in metrics if parse_curve(m)[0] in logged]
        for j, name in enumerate(own):
            ax = axes[i][j]
            y, x = parse_curve(name)
            _draw_curves(ax, by_exp[exp], y, x, colours)
            ax.set_title(f"{exp}: {y}")
            ax.set_xlabel(AXIS_LABELS.get(x, x))
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        # and the sweeps over arms it has
        own_sweeps = [sw for sw in per_exp if "arms" not in sw or set(sw["arms"]) & set(by_exp[exp])]
        for j, sw in enumerate(own_sweeps, start=len(own)):
            _draw_sweep(axes[i][j], [Path(d) for d in run_dirs], sw, experiment=exp)
        for ax in axes[i][len(own) + len(own_sweeps) :]:
            ax.axis("off")
    for j in range(n_cols if sweeps else 0):
        if j < len(sweeps):
            _draw_sweep(axes[-1][j], [Path(d) for d in run_dirs], sweeps[j])
        else:
            axes[-1][j].axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # keep the title clear of the top row's titles
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
