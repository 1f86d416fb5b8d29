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


# ------------------------------------------------------------------ what the plan knows of a dataset


def test_every_dataset_the_configs_read_plans_from_its_registry_entry():
    """Where this machine lacks a dataset, the plan probes with what its registry entry says: a
    dataset only paper scale reads (no offline copy) needs a stand-in, unless its runs tokenize it
    (the plan then writes random token ids of the run's vocabulary)."""
    from logitrepro.config import SCALES
    from logitrepro.data.registry import DATASETS

    cfgs = {s: load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": s}, root=PROJECT) for s in SCALES}
    offline = set(cfgs["smoke"].datasets()) | set(cfgs["cpu"].datasets())  # make setup's offline copies
    lacking = set()
    for cfg in cfgs.values():
        for probe in probes_of(cfg):
            spec = cfg.job_spec(probe.paper, probe.experiment, probe.arm, probe.runs[0][1])
            name = spec["dataset"]
            if spec["data_dir"] is None or name in offline:
                continue
            if Path(spec["data_dir"]).name != name:  # tokenized at the run's vocabulary
                assert int(spec["hparams"]["vocab_size"]) > 0, probe.label
            elif DATASETS[name].stand_in is None:
                lacking.add(f"{name} ({probe.label} at {cfg.scale} scale)")
    assert not lacking, f"registry entries without the stand_in a planned run needs: {sorted(lacking)}"
    assert {"chronos_zero_shot", "rcv1", "sb3_sac_hopper", "dqn_replay_seaquest"} <= set(cfgs["paper"].datasets())


def test_each_stand_in_has_its_dataset_s_layout_and_shapes():
    from logitrepro.data.forecasting import COLLECTIONS
    from logitrepro.data.libsvm import LIBSVM_SETS
    from logitrepro.data.planning import RandomActor, RandomSparse, SameLayout
    from logitrepro.data.registry import DATASETS

    kinds = set()
    for name, dataset in DATASETS.items():
        if dataset.download is not None:
            assert dataset.download.bytes > 0 and dataset.download.what, name
        stand_in = dataset.stand_in
        kinds.add(type(stand_in))
        if isinstance(stand_in, SameLayout):  # prepared here in the real one's place, by the same writer
            other = DATASETS[stand_in.dataset]
            assert other.writer is dataset.writer and other.stand_in is None, name
            assert not stand_in.training_collections or stand_in.copied_from in COLLECTIONS, name
        elif isinstance(stand_in, RandomSparse):  # the splits and width of the files the real one reads
            assert set(stand_in.rows) == set(LIBSVM_SETS[name]["files"]), name
            assert stand_in.features == LIBSVM_SETS[name]["n_features"], name
            assert 0 < stand_in.nnz_per_row <= stand_in.features and min(stand_in.rows.values()) > 0, name
        elif isinstance(stand_in, RandomActor):
            assert min(stand_in.obs, stand_in.act, stand_in.hidden) > 0, name
        else:
            assert stand_in is None, f"{name}: the plan makes no stand-in of kind {type(stand_in).__name__}"
    assert kinds == {SameLayout, RandomSparse, RandomActor, type(None)}


def test_every_stand_in_is_made_and_reads_as_its_dataset(tmp_path, monkeypatch):
    """Each registry entry's stand-in, made by the plan and read by the real dataset's loader (the
    sparse sets at fewer rows: the shapes' width and splits are what the test checks)."""
    import dataclasses

    import numpy as np

    from logitrepro.data.experts import ActorExpert
    from logitrepro.data.planning import RandomActor, RandomSparse, SameLayout
    from logitrepro.data.registry import DATASETS
    from logitrepro.data.store import load_tabular, read_manifest
    from logitrepro.plan_data import make_stand_in

    made = []
    for name, dataset in DATASETS.items():
        stand_in = dataset.stand_in
        if stand_in is None or (isinstance(stand_in, SameLayout) and stand_in.training_collections):
            continue  # the Chronos stand-in has its own test above
        if isinstance(stand_in, RandomSparse):
            stand_in = dataclasses.replace(stand_in, rows={s: min(n, 300) for s, n in stand_in.rows.items()})
            monkeypatch.setitem(DATASETS, name, dataclasses.replace(dataset, stand_in=stand_in))
        out = tmp_path / name
        words = make_stand_in(name, out, log=lambda *a: None)
        if isinstance(stand_in, RandomSparse):
            x = {s: load_tabular(out, s)[0] for s in ("train", "test")}
            assert sum(v.shape[0] for v in x.values()) == sum(stand_in.rows.values()), name
            assert {v.shape[1] for v in x.values()} == {stand_in.features}, name
        elif isinstance(stand_in, RandomActor):
            actions = ActorExpert(out)(np.zeros((2, stand_in.obs), np.float32))
            assert actions.shape == (2, stand_in.act), name
        else:
            assert words.startswith(stand_in.dataset) and read_manifest(out)["splits"], name
        made.append(name)
    assert {"mushrooms", "rcv1", "sb3_sac_hopper", "dqn_replay_seaquest"} <= set(made)


def test_the_plan_names_no_dataset():
    """What the plan knows of a dataset lives in its registry entry, not in a table of the plan's."""
    import ast

    from logitrepro.data.registry import DATASETS

    for module in ("plan.py", "plan_data.py"):
        tree = ast.parse((PROJECT / "src" / "logitrepro" / module).read_text())
        strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        assert not strings & set(DATASETS), module


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
