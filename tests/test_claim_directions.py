"""Which way a claim's metric is better is said once, by the task that reports it (`produces`):
the config loader fills each comparing claim's `better` from there, refuses a written one that
contradicts it, and asks for one only where the metric has no better side."""

from __future__ import annotations

import shutil

import pytest
import yaml

from logitrepro.claims.kinds import KINDS
from logitrepro.config import ConfigError, load_config
from tests.support import PROJECT


def edited(tmp_path, paper: str, edit):
    """The real configs with one paper's claims edited; the path of the main config."""
    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    path = tmp_path / "configs" / "papers" / f"{paper}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return tmp_path / "configs" / "config.yaml"


def claim(data: dict, claim_id: str) -> dict:
    return next(c for c in data["claims"] if c.get("id") == claim_id)


def test_every_comparing_claim_is_given_the_direction_of_its_metric():
    raw = {
        c["id"]: c
        for p in (PROJECT / "configs" / "papers").glob("*.yaml")
        for c in yaml.safe_load(p.read_text())["claims"]
        if "id" in c
    }
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    claims = {c["id"]: c for pc in cfg.papers.values() for c in pc["claims"]}
    assert "better" not in raw["vq.ppl"] and claims["vq.ppl"]["better"] == "lower"  # perplexity
    assert "better" not in raw["fh.atari"] and claims["fh.atari"]["better"] == "higher"  # a game's return
    assert raw["ls.length-mha"]["better"] == claims["ls.length-mha"]["better"] == "higher"  # a logit: no side
    for c in claims.values():
        assert (c.get("better") in ("higher", "lower")) == KINDS[c["kind"]].needs_better, c["id"]


def test_a_written_direction_that_contradicts_the_metric_is_an_error_with_the_fix(tmp_path):
    main = edited(tmp_path, "vq_logits", lambda d: claim(d, "vq.ppl").update(better="higher"))
    with pytest.raises(ConfigError) as e:
        load_config(main, overrides={"papers": ["vq_logits"]}, root=tmp_path)
    msg = str(e.value)
    assert "claim vq.ppl.better: higher contradicts task 'vq_logits'" in msg
    assert "'test_ppl' as better lower" in msg and "delete the claim's `better:`" in msg


def test_a_written_direction_that_agrees_is_kept(tmp_path):
    main = edited(tmp_path, "vq_logits", lambda d: claim(d, "vq.ppl").update(better="lower"))
    cfg = load_config(main, overrides={"papers": ["vq_logits"]}, root=tmp_path)
    assert next(c for c in cfg.paper("vq_logits")["claims"] if c["id"] == "vq.ppl")["better"] == "lower"


def test_a_baseline_metric_better_the_other_way_is_an_error(tmp_path):
    def mixed(d):  # accuracy (higher) against loss (lower): no one direction to compare in
        gap = next(c for c in d["claims"] if "rule" in c.get("matrix", {}))
        gap["baseline_metric"] = "test_loss"

    with pytest.raises(ConfigError, match=r"claim cnnsvm\.mnist\.gap: metric 'test_acc_authors' is better higher "):
        load_config(edited(tmp_path, "cnn_svm", mixed), overrides={"papers": ["cnn_svm"]}, root=tmp_path)


def test_a_metric_without_a_side_needs_a_written_direction(tmp_path):
    def drop(d):
        del claim(d, "ls.length-ls")["better"]

    with pytest.raises(ConfigError) as e:
        load_config(edited(tmp_path, "ls_attention", drop), overrides={"papers": ["ls_attention"]}, root=tmp_path)
    assert "claim ls.length-ls.better: task 'ls_attention' reports 'max_logit_peak' without a better side" in str(
        e.value
    )
    assert "write `better: higher` or `better: lower`" in str(e.value)


def test_a_misspelt_arm_is_named_as_such_not_as_a_missing_direction(tmp_path):
    main = edited(tmp_path, "vq_logits", lambda d: claim(d, "vq.ppl").update(method="vq_jiont", baseline="fll"))
    with pytest.raises(ConfigError, match=r"claim vq\.ppl\.method: no arm 'vq_jiont'"):
        load_config(main, overrides={"papers": ["vq_logits"]}, root=tmp_path)


def test_the_directions_table_the_loader_reads_is_what_the_tasks_say():
    """The loader reads logitrepro.metric_directions so that it imports no task; the table is
    generated from every task's produces(), one module per task, and a stale one names the command
    that regenerates it."""
    from logitrepro.config import DIRECTIONS_FOLDER, render_directions, stale_directions
    from logitrepro.metric_directions import DIRECTIONS

    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    current = cfg.metric_directions()
    assert DIRECTIONS == current, "regenerate it: python -m logitrepro metric-directions"
    assert stale_directions(cfg) == []
    files = render_directions(current)
    assert {p: p.read_text() for p in files} == files
    assert sorted(DIRECTIONS_FOLDER.glob("[!_]*.py")) == sorted(files), "a module of a task no config runs"
    flipped = {t: dict(m) for t, m in DIRECTIONS.items()}
    flipped["vq_logits"]["val_ppl"] = "higher"
    import logitrepro.metric_directions as table

    saved = table.DIRECTIONS
    table.DIRECTIONS = flipped
    try:
        (line,) = stale_directions(cfg)
    finally:
        table.DIRECTIONS = saved
    assert "vq_logits.val_ppl" in line and "metric-directions" in line


def test_a_task_the_table_does_not_know_yet_is_read_from_its_module(monkeypatch):
    """A new task's first config loads (its claims get their direction from the task itself), so
    that `logitrepro metric-directions` can write the task's rows; until then the table is stale."""
    from logitrepro import metric_directions

    without = {t: m for t, m in metric_directions.DIRECTIONS.items() if t != "cnn_svm"}
    monkeypatch.setattr(metric_directions, "DIRECTIONS", without)
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    claims = {c["id"]: c for c in cfg.papers["cnn_svm"]["claims"]}
    assert claims["cnnsvm.mnist.gap"]["better"] == "higher"  # accuracy, from the task's produces()
    with pytest.raises(ConfigError, match="out of date with the tasks' produces"):
        cfg.validate_tasks()
