"""What a task says it reports is what its runs report: every task, built from its smoke job spec
in the real configs, trained one step and evaluated as the pipeline does (logitrepro.train:
training, then the final checkpoint's metrics.json), reports every metric its `produces` names,
save those the judge computes across an experiment's arms. A claim's `better` is filled from
`produces`, so a name there that no run reports would be a claim nothing can judge.

One run per distinct `produces` of a task (the arms whose metrics differ: a VQ head's bounds, a
soft-capped model's capped fraction, a full-batch run's gradient checks). Data: the prepared
folder under data/ where it is here, random token ids of the vocabulary for a corpus not yet
tokenized at it (as the run planner's stand-in, logitrepro.plan_data), else the case is skipped."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from logitrepro.config import load_config
from logitrepro.hparams import build
from logitrepro.plan_data import write_token_stand_in
from logitrepro.tasks import hparams_class, known_tasks
from tests.support import PROJECT


def smoke_cases() -> dict[str, dict]:
    """{case id: a job spec}, one per (task, the set of metrics it produces) at smoke scale."""
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "smoke"}, root=PROJECT)
    cases, seen = {}, set()
    for paper in sorted(cfg.papers):
        for name in sorted(cfg.experiments(paper)):
            for arm in cfg.arms(paper, name):
                spec = cfg.job_spec(paper, name, arm, cfg.seeds_of(paper, name)[0])
                key = (spec["task"], frozenset(build(hparams_class(spec["task"]), spec["hparams"]).produces()))
                if key not in seen:
                    seen.add(key)
                    cases[f"{spec['task']}:{paper}/{name}/{arm}"] = spec
    return cases


CASES = smoke_cases()


def test_every_task_is_run_by_a_case():
    """Directly, or as the task another extends (language_model under ls_attention and vq_logits)."""
    run = [hparams_class(spec["task"]) for spec in CASES.values()]
    assert [t for t in known_tasks() if not any(issubclass(c, hparams_class(t)) for c in run)] == []


def one_step(spec: dict, tmp_path: Path) -> dict:
    """The spec cut to one training step, evaluating and checkpointing at it, reading data that is here."""
    hparams = {**spec["hparams"], "steps": 1, "eval_every": 1, "checkpoint_every": 1}
    if hparams.get("log_every") is not None:
        hparams["log_every"] = 1
    spec = {**spec, "hparams": hparams}
    folder = spec["data_dir"] and PROJECT / spec["data_dir"]
    if folder and not folder.exists():
        if folder.name == spec["dataset"]:
            pytest.skip(f"{spec['data_dir']} is not prepared here")
        stand_in = tmp_path / folder.name  # a corpus tokenized at another vocabulary than those here
        write_token_stand_in(stand_in, int(hparams["vocab_size"]), hparams)
        folder = stand_in
    return {**spec, "data_dir": folder and str(folder)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_run_reports_every_metric_its_task_produces(case, tmp_path):
    from logitrepro.train import evaluate, train

    spec = one_step(CASES[case], tmp_path)
    if spec["task"] == "fourier_atari":
        pytest.importorskip("ale_py", reason="ale-py is not installed")
    if spec["task"] == "sso_imitation":
        pytest.importorskip("gymnasium", reason="gymnasium is not installed")
    train(spec, tmp_path / "run")
    metrics = evaluate(tmp_path / "run")["metrics"]
    produced = build(hparams_class(spec["task"]), spec["hparams"]).produces()
    missing = sorted(m for m, what in produced.items() if not what.by_judge and m not in metrics)
    assert not missing, f"{case}: produces() names metrics its run does not report: {missing}"


def test_the_judges_metrics_are_marked_as_such():
    """instability and spike episodes are judged across an experiment's arms, never by one run."""
    lm = next(spec for spec in CASES.values() if spec["task"] == "ls_attention")
    hp = build(hparams_class("ls_attention"), lm["hparams"])
    traced = dataclasses.replace(hp, loss_trace=True).produces()
    assert {m for m, what in traced.items() if what.by_judge} == {"instability_episodes", "spike_episodes"}
