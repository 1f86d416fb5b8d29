"""`logitrepro plan`: every job probed at its real shapes under a time limit, projected per run,
claim and paper; a job that fails or does not finish is named."""

import json
import shutil
from pathlib import Path

import pytest

from logitrepro.config import load_config
from logitrepro.gpus import GPUS
from logitrepro.plan import (
    NOT_RUN,
    loop_of,
    measure,
    plan,
    probes_of,
    project_gpu,
    project_run,
    render,
    step_time,
    summarise,
)

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
    assert probes["cnn_svm/mnist/svm"]["step_flops"] > 0 and paper["gpu_hours"] > 0 and paper["uncounted_runs"] == 2
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


def test_gpu_hours_come_from_counted_flops_at_the_stated_utilisation():
    h100 = GPUS["h100-sxm"]
    measured = {"step_flops": 3e12, "val_flops": 1e12, "test_flops": 2e12}
    seconds = project_gpu({"steps": 100, "eval_every": 10}, measured, h100, 0.5)
    assert seconds == pytest.approx((100 * 3e12 + 10 * 1e12 + 2e12) / (989e12 * 0.5))
    assert project_gpu({"steps": 100, "eval_every": 10}, {"step_flops": None}, h100, 0.5) is None
    assert GPUS["a100-sxm"].seconds(1e15, 0.4) > h100.seconds(1e15, 0.4)  # a slower GPU takes longer


def fake_results(probes, small_batch_probe: str) -> dict:
    """Probe results as probe_one writes them, without running a probe; one at a reduced batch."""
    results = {}
    for i, probe in enumerate(probes):
        results[probe.label] = {
            **NOT_RUN,
            "label": probe.label,
            "status": "done",
            "step_time": 0.01 * (i + 1),
            "step_flops": 1e9 * (i + 1),
            "val_flops": 1e8,
            "test_flops": 1e8,
            "rss_mb": 100.0,
            "phase": "done",
            "error": None,
            "data": "real",
        }
    results[small_batch_probe].update(status="extrapolated", batch_scale=16.0, small_batch=2, batch=32)
    return results


def test_a_plan_counts_each_run_once_per_paper_and_flags_memory_at_a_reduced_batch():
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "cpu"}, root=PROJECT)
    probes = probes_of(cfg, ["cnn_svm"])
    results = fake_results(probes, probes[0].label)
    summary = summarise(cfg, probes, results, GPUS["h100-sxm"], 0.4)
    paper = summary["papers"]["cnn_svm"]
    runs = summary["runs"]
    assert len({(r["experiment"], r["arm"], r["seed"]) for r in runs}) == len(runs) == paper["runs"]
    expected = sum(
        project_gpu(
            loop_of(cfg, "cnn_svm", r["experiment"], r["arm"], r["seed"]), results[r["probe"]], GPUS["h100-sxm"], 0.4
        )
        for r in runs
    )
    assert paper["gpu_hours"] == pytest.approx(expected / 3600) and paper["uncounted_runs"] == 0
    claims = [c for c in paper["claims"] if c["runs"]]
    assert sum(c["hours"] for c in claims) > paper["hours"]  # claims share runs: their sum counts some twice
    assert any(c["shared_runs"] for c in claims)
    for c in claims:
        assert c["own_hours"] <= c["hours"] and (c["shared_runs"] == 0) == (c["own_hours"] == pytest.approx(c["hours"]))
    assert paper["small_batch_memory"] == [probes[0].label]
    assert any(w.startswith(f"{probes[0].label}: memory measured at batch 2 (1/16 of 32)") for w in paper["warnings"])
    md = render(
        {"scale": "cpu", "device": "cpu", "steps": 3, "limit_s": 90, "probes": results, "datasets": {}, **summary}
    )
    assert "one NVIDIA H100 SXM at 40% of its 989 TFLOP/s" in md and "1 of its probes at 1/16 of the batch" in md
    assert "100 at batch 2 (1/16 of 32)" in md  # the probe's memory, with the batch it was measured at


def test_a_probe_counts_the_flops_of_its_real_shapes(smoke_cfg, tmp_path):
    """The FLOPs counted in a training step grow with the batch: they come from the shapes run."""
    cfg, _ = smoke_cfg
    flops = {}
    for batch in (8, 16):
        spec = cfg.job_spec("cnn_svm", "mnist", "svm", 0)
        spec["hparams"] = {**spec["hparams"], "batch_size": batch}
        measure(spec, steps=1, threads=1, out=str(tmp_path / f"b{batch}.json"))
        record = json.loads((tmp_path / f"b{batch}.json").read_text())
        assert record["phase"] == "done", record.get("error")
        assert record["val_flops"] > 0 and record["test_flops"] > 0
        flops[batch] = record["step_flops"]
    assert flops[16] == pytest.approx(2 * flops[8], rel=0.05)
