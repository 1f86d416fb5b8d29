"""Figures from run folders: curves against step or another key, sweep panels."""

import json

from logitrepro.report import plots


def write_run(folder, experiment, arm, seed, history, metrics, hparams=None):
    folder.mkdir(parents=True)
    spec = {"experiment": experiment, "arm": arm, "seed": seed, "hparams": hparams or {}}
    (folder / "run.json").write_text(json.dumps({"spec": spec}))
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (folder / "metrics.json").write_text(json.dumps({"spec": spec, "metrics": metrics}))
    return folder


def test_parse_curve_defaults_to_step():
    assert plots.parse_curve("val_ppl") == ("val_ppl", "step")
    assert plots.parse_curve("val_ppl@train_s") == ("val_ppl", "train_s")


def test_sweep_values_come_from_hparams_or_from_metric_names(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(
        plots, "_draw_sweep", lambda ax, dirs, sw, experiment=None: drawn.append((sw["metric"], experiment))
    )
    runs = [
        write_run(
            tmp_path / f"{e}{s}",
            e,
            "sweep",
            s,
            [{"step": 1, "train_s": 0.5, "val_kl": 1.0}],
            {f"test_kl_n{n}": 1.0 / n for n in (2, 4)},
        )
        for e in ("a", "b")
        for s in (0, 1)
    ]
    sweep = [
        {"param": "N", "metric": "test_kl_n{x}", "values": [2, 4], "per_experiment": True},
        {"param": "K", "metric": "test_ppl"},
    ]
    plots.plot_curves(runs, tmp_path / "out.png", ["val_kl", "val_kl@train_s"], "t", sweep=sweep)
    assert (tmp_path / "out.png").stat().st_size > 5000
    assert drawn == [("test_kl_n{x}", "a"), ("test_kl_n{x}", "b"), ("test_ppl", None)]


def test_sweep_panel_reads_named_values_per_experiment(tmp_path):
    import matplotlib.pyplot as plt

    runs = [
        write_run(tmp_path / f"{e}{s}", e, "sweep", s, [], {"kl_n2": 2.0 + s + (e == "b"), "kl_n4": 1.0})
        for e in ("a", "b")
        for s in (0, 1)
    ]
    fig, ax = plt.subplots()
    plots._draw_sweep(ax, runs, {"param": "N", "metric": "kl_n{x}", "values": [2, 4], "log": False}, experiment="a")
    (line,) = [c for c in ax.containers][0].lines[:1]
    xs, ys = line.get_data()
    assert list(xs) == [2, 4] and list(ys) == [2.5, 1.0]  # experiment a only: mean of 2 and 3 at N=2
    plt.close(fig)


def test_each_experiment_row_holds_only_the_curves_and_sweeps_it_has(tmp_path, monkeypatch):
    """A paper's experiments log different curves (the toy's KL, the forecaster's CE): a row
    draws its own, left-aligned, and a per-experiment sweep only where its arms ran."""
    drawn, swept = [], []
    monkeypatch.setattr(plots, "_draw_curves", lambda ax, runs, y, x, colours: drawn.append((sorted(runs), y, x)))
    monkeypatch.setattr(plots, "_draw_sweep", lambda ax, dirs, sw, experiment=None: swept.append(experiment))
    runs = [
        write_run(tmp_path / "toy", "toy", "sweep", 0, [{"step": 1, "val_kl": 1.0}], {}),
        write_run(tmp_path / "fc", "forecast", "linear", 0, [{"step": 1, "train_s": 0.1, "val_ce": 2.0}], {}),
    ]
    sweep = [{"param": "N", "metric": "kl_n{x}", "values": [2], "arms": ["sweep"], "per_experiment": True}]
    plots.plot_curves(runs, tmp_path / "out.png", ["val_kl", "val_ce", "val_ce@train_s"], "t", sweep=sweep)
    assert drawn == [(["linear"], "val_ce", "step"), (["linear"], "val_ce", "train_s"), (["sweep"], "val_kl", "step")]
    assert swept == ["toy"]


def test_a_tuning_grid_is_drawn_at_its_selected_point_with_one_legend_and_no_empty_panel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at it
    history = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)]
    runs = [write_run(tmp_path / f"g{i}_{s}", "e", f"g__t{i}", s, history, {}) for i in range(3) for s in (0, 1)]
    diverged = [{"step": s, "loss": 1e35 if s == 3 else 1.0} for s in (1, 2, 3)]
    runs += [write_run(tmp_path / f"b{s}", "e", "b", s, diverged, {}) for s in (0, 1)]
    plots.plot_curves(runs, tmp_path / "out.png", ["loss", "missing"], "t", selected={"e": {"g__t1"}})
    (fig,) = figures
    (ax,) = fig.axes  # the curve no run logged gets no panel, and no axes are left blank
    assert sorted(line.get_label() for line in ax.get_lines()) == ["b", "g (tuned)"]  # means only, t1 alone
    assert ax.get_legend() is None and [t.get_text() for t in fig.legends[0].get_texts()] == ["b", "g (tuned)"]
    assert ax.get_ylim()[1] < 1e3  # the divergence is cut, not the scale of the axis
    assert "2 tuning-grid points not selected" in fig._suptitle.get_text()
