"""Figures per paper, one PNG: the curve panels of each experiment (the mean over seeds as a line,
the range over seeds as a band, one colour per arm throughout the figure, one legend outside the
panels) and, where the paper config asks for one, sweep panels: a test metric against an arm
hyper-parameter (with an analytic bound beside it), or against the value in the metric's name
where one run holds a whole sweep (`metric: test_kl_fourier_n{x}_g0` with `values: [2, 4, ...]`).

A tuned arm is a grid of arms (`sso_m20__t0` ... `__t6`); only the point the claims selected is
drawn (from the claims file; without one, the grid is left out and the figure says so). A
diverged run (1e35) would flatten every other curve: the y axis is cut above the bulk of the
curves, and is logarithmic where what remains spans more than a decade. Panels come one
after another, three to a row, so that an experiment with fewer curves leaves no empty panel.

A curve is named `y` (plotted against step) or `y@x` (against another history key, e.g.
`val_ppl@train_s` for validation perplexity against training compute).
"""

from __future__ import annotations

import math
import re
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


TUNING_POINT = re.compile(r"^(?P<arm>.+)__t(?P<point>\d+)$")
PANELS_PER_ROW = 3


def shown_arms(arms: list[str], selected: set[str]) -> dict[str, str]:
    """{arm run: its label} for the arms of one experiment a figure draws: every untuned arm, and
    of each tuning grid the point in `selected`, labelled by its grid ("sso_m20 (tuned)") so that
    it has the colour of its grid in every experiment, whichever point each selected."""
    out, points = {}, defaultdict(list)
    for arm in arms:
        point = TUNING_POINT.match(arm)
        if point is None:
            out[arm] = arm
        elif arm in selected:
            points[point["arm"]].append((arm, point["point"]))
    for grid, chosen in points.items():
        for arm, point in chosen:  # two claims that chose different points keep them apart
            out[arm] = f"{grid} (tuned)" if len(chosen) == 1 else f"{grid} (tuned: t{point})"
    return out


def _mean_and_range(curves: list[list[tuple[float, float]]], x: str):
    """The seeds' curves as (xs, mean, low, high): seeds share their steps; against compute they
    differ per seed, and are averaged point by point."""
    if x == "step":
        by_step = [dict(c) for c in curves]
        xs = sorted(set.intersection(*(set(c) for c in by_step)))
        cols = [[c[s] for c in by_step] for s in xs]
    else:
        n = min(len(c) for c in curves)
        xs = [sum(c[i][0] for c in curves) / len(curves) for i in range(n)]
        cols = [[c[i][1] for c in curves] for i in range(n)]
    return xs, [sum(v) / len(v) for v in cols], [min(v) for v in cols], [max(v) for v in cols]


def _draw_curves(ax, histories_by_arm: dict, y: str, x: str, colours: dict) -> list[float]:
    """Per arm, the mean over seeds and the range over seeds as a band; returns the means drawn
    (the y axis is set from them)."""
    drawn = []
    for arm, histories in sorted(histories_by_arm.items()):
        curves = []
        for h in histories:
            pts = [(r[x], r[y]) for r in h if r.get(x) is not None and r.get(y) is not None]
            if pts:
                curves.append(pts)
        if not curves:
            continue
        xs, mean, low, high = _mean_and_range(curves, x)
        if not xs:
            continue
        colour = colours[arm]
        if len(curves) > 1:
            ax.fill_between(xs, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.plot(xs, mean, color=colour, linewidth=1.8, label=arm)
        drawn += [v for v in mean if math.isfinite(v)]
    return drawn


def _fit_y_axis(ax, values: list[float]) -> None:
    """Cut the axis above the bulk of the curves where a divergence would flatten them, and make
    it logarithmic where the rest spans more than a decade."""
    if not values:
        return
    ordered = sorted(values)
    bulk = ordered[int(0.9 * (len(ordered) - 1))]  # the 90th percentile of the means drawn
    low, high = ordered[0], ordered[-1]
    clipped = bulk > 0 and high > 10 * bulk
    top = 2 * bulk if clipped else high
    if low > 0 and top / low > 10:
        ax.set_yscale("log")
        ax.set_ylim(low / 1.5, top * 1.5)
    elif clipped:
        ax.set_ylim(min(low, 0) - 0.05 * top, top)
    if clipped:
        ax.text(
            0.98, 0.97, f"cut at {top:.3g} (max {high:.2g})", transform=ax.transAxes, ha="right", va="top", fontsize=7
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
    run_dirs: list[str | Path],
    out_png: str | Path,
    metrics: list[str],
    title: str,
    sweep: dict | None = None,
    selected: dict[str, set[str]] | None = None,
) -> None:
    """The figure of a paper's runs; `selected`: per experiment, the tuning-grid points the
    claims chose (logitrepro.report.tables.selected_points)."""
    specs = [(d, RunDir(d).read_info()["spec"]) for d in run_dirs]
    arms_of = defaultdict(set)
    for _, spec in specs:
        arms_of[spec["experiment"]].add(spec["arm"])
    labels = {exp: shown_arms(sorted(arms), (selected or {}).get(exp, set())) for exp, arms in arms_of.items()}
    by_exp: dict[str, dict[str, list[list[dict]]]] = defaultdict(lambda: defaultdict(list))
    left_out = {(exp, arm) for exp, arms in arms_of.items() for arm in arms if arm not in labels[exp]}
    for d, spec in specs:
        label = labels[spec["experiment"]].get(spec["arm"])
        if label is not None:
            by_exp[spec["experiment"]][label].append([r for r in load_history(d) if "event" not in r])
    sweeps = [] if not sweep else sweep if isinstance(sweep, list) else [sweep]
    per_exp = [sw for sw in sweeps if sw.get("per_experiment")]  # drawn beside each experiment's curves
    sweeps = [sw for sw in sweeps if not sw.get("per_experiment")]  # drawn once, last
    # the panels, in order: each experiment's curves (those its runs logged: the papers'
    # experiments differ) and its sweeps, then the sweeps over every experiment
    panels = []
    for exp in sorted(by_exp):
        logged = {k for runs in by_exp[exp].values() for history in runs for row in history for k in row}
        panels += [("curve", exp, m) for m in metrics if parse_curve(m)[0] in logged]
        panels += [("sweep", exp, sw) for sw in per_exp if "arms" not in sw or set(sw["arms"]) & set(by_exp[exp])]
    panels += [("sweep", None, sw) for sw in sweeps]
    n_cols = max(1, min(PANELS_PER_ROW, len(panels)))
    n_rows = max(1, math.ceil(len(panels) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.6 * n_cols + 2.4, 3.4 * n_rows), squeeze=False)
    # one colour per arm across the figure, so that one legend serves every panel
    arms = sorted({arm for runs in by_exp.values() for arm in runs})
    palette = plt.get_cmap("tab10" if len(arms) <= 10 else "tab20").colors
    colours = {arm: palette[k % len(palette)] for k, arm in enumerate(arms)}
    flat = [ax for row in axes for ax in row]
    for ax, (what, exp, item) in zip(flat, panels):
        if what == "sweep":
            _draw_sweep(ax, [Path(d) for d in run_dirs], item, experiment=exp)
            continue
        y, x = parse_curve(item)
        _fit_y_axis(ax, _draw_curves(ax, by_exp[exp], y, x, colours) or [])
        ax.set_title(f"{exp}: {y}", fontsize=10)
        ax.set_xlabel(AXIS_LABELS.get(x, x))
        ax.grid(alpha=0.3, which="both")
    for ax in flat[len(panels) :]:
        fig.delaxes(ax)
    handles = [plt.Line2D([], [], color=colours[a], linewidth=2) for a in arms]
    if handles:
        fig.legend(
            handles,
            arms,
            loc="center left",
            bbox_to_anchor=(1 - 2.2 / fig.get_figwidth(), 0.5),
            fontsize=8,
            title="arm (line: mean over seeds,\nband: range over seeds)",
            title_fontsize=8,
            frameon=False,
        )
    note = f"; {len(left_out)} tuning-grid points not selected by any claim left out" if left_out else ""
    fig.suptitle(title + note)
    right = 1 - 2.4 / fig.get_figwidth() if handles else 1
    fig.tight_layout(rect=(0, 0, right, 1 - 0.35 / fig.get_figheight()))  # the title clear of the top row
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
