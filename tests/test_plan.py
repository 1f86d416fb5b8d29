"""`logitrepro plan`: every job probed at its real shapes under a time limit, projected per run,
claim and paper; a job that fails or does not finish is named."""

import shutil
from pathlib import Path

import pytest

from logitrepro.config import load_config
from logitrepro.plan import plan, probes_of, project_run, step_time

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def smoke_cfg(tmp_path, prepared_mnist):
    data = tmp_path / "data"
    shutil.copytree(prepared_mnist, data / "mnist")
    return load_config(
        PROJECT / "configs" / "config.yaml",
        overrides={"scale": "smoke", "paths": {"data": str(data), "results": str(tmp_path / "results")}},
        root=PROJECT,
    ), None


def test_one_probe_stands_for_an_arm_s_seeds_grid_and_budgets():
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "cpu"}, root=PROJECT)
    probes = {p.label: p for p in probes_of(cfg, ["sso", "fourier_head"])}
    sgd = probes["sso/breast_cancer/sgd_tuned__t0"]
    # 7 step sizes x (3 judged seeds + 3 held-out selection seeds)
    assert len(sgd.runs) == 7 * 6 and ("sgd_tuned__t6", 2) in sgd.runs and ("sgd_tuned__t6", 102) in sgd.runs
    headline = probes["fourier_head/gaussian/headline"]
    assert {arm for arm, _ in headline.runs} >= {"headline", "headline_x0p04"}


def test_a_projection_counts_steps_evaluations_and_says_what_it_left_out():
    measured = {"step_time": 0.5, "setup_s": 2.0, "val_s": 1.0, "test_s": None}
    seconds, notes = project_run({"steps": 100, "eval_every": 10}, measured)
    assert seconds == pytest.approx(2 + 100 * 0.5 + 10 * 1.0) and notes == ["test evaluation not measured"]
    assert step_time({"step_s": [9.0, 1.0, 3.0]}) == 2.0  # the first step (allocation) is left out
    assert project_run({"steps": 10, "eval_every": 5}, {"step_time": None}) == (None, ["no training step finished"])


def test_plan_probes_real_shapes_and_names_a_job_that_fails_or_runs_out_of_time(smoke_cfg, tmp_path, monkeypatch):
    from logitrepro.tasks import cnn_svm

    cfg, _ = smoke_cfg
    shutil.copytree(Path(cfg.main["paths"]["data"]) / "mnist", Path(cfg.main["paths"]["data"]) / "fashion_mnist")
    real_setup = cnn_svm.Task.setup

    def setup(self):  # Fashion-MNIST's jobs fail at their real shapes; the probes fork with this
        if self.spec["experiment"] == "fashion_mnist":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x3136 and 1024x10)")
        real_setup(self)

    monkeypatch.setattr(cnn_svm.Task, "setup", setup)
    report = plan(cfg, tmp_path / "plan", steps=2, limit_s=60, papers=["cnn_svm"], log=lambda *a: None)
    probes = report["probes"]
    assert probes["cnn_svm/mnist/svm"]["status"] == "done" and probes["cnn_svm/mnist/svm"]["step_time"] > 0
    assert probes["cnn_svm/mnist/svm"]["rss_mb"] > 0 and probes["cnn_svm/mnist/svm"]["data"] == "real"
    bad = probes["cnn_svm/fashion_mnist/svm"]
    assert bad["status"] == "failed" and "mat1 and mat2 shapes" in bad["error"] and bad["phase"] == "start"
    paper = report["papers"]["cnn_svm"]
    assert {f["probe"] for f in paper["failures"]} == {"cnn_svm/fashion_mnist/svm", "cnn_svm/fashion_mnist/softmax"}
    assert paper["runs"] == 4 and paper["unmeasured_runs"] == 2 and paper["hours"] > 0
    gap = next(c for c in paper["claims"] if c["id"] == "cnnsvm.mnist.gap")
    assert gap["runs"] == 2 and gap["unmeasured_runs"] == 0
    md = (tmp_path / "plan" / "plan.md").read_text()
    assert "cnn_svm/fashion_mnist/svm (failed): " in md and "| mnist " in md

    # a probe that cannot finish a step in its time is killed and named with the phase it reached
    report = plan(cfg, tmp_path / "plan2", steps=2, limit_s=0.01, papers=["cnn_svm"], log=lambda *a: None)
    timed_out = report["probes"]["cnn_svm/mnist/svm"]
    assert timed_out["status"] == "timeout" and timed_out["step_time"] is None
    assert "cnn_svm/mnist/svm" in {f["probe"] for f in report["papers"]["cnn_svm"]["failures"]}


def test_the_chronos_stand_in_holds_every_collection_the_paper_scale_config_reads(tmp_path):
    """The paper-scale Chronos runs train on the corpus' own collections and score on M1, M3 and
    Tourism: a stand-in without the training collections failed the probe (found by running plan)."""
    from logitrepro.data.forecasting import load_collection
    from logitrepro.plan_data import make_stand_in

    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "paper"}, root=PROJECT)
    hp = cfg.job_spec("fourier_head", "chronos", "fourier", 1)["hparams"]
    out = tmp_path / "chronos_zero_shot"
    words = make_stand_in("chronos_zero_shot", out, log=lambda *a: None)
    for collection in (*hp["train_collections"], *hp["eval_collections"]):
        assert load_collection(out, collection), collection
    assert "training collections" in words
