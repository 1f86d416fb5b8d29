import json
import subprocess
import sys

from logitrepro.verdict_metrics import verdict_counts
from tests.support import PROJECT


def claims_file() -> dict:
    verdicts = [
        ("p.a", "paper", "reproduced"),
        ("p.b", "paper", "reproduced"),
        ("p.c", "paper", "not reproduced"),
        ("p.d", "paper", "not checked at this scale"),
        ("p.e", "sanity", "inconclusive"),  # not a paper claim: not counted
    ]
    return {"paper": "p", "claims": [{"id": i, "class": k, "verdict": v} for i, k, v in verdicts]}


def test_a_paper_s_dvc_metrics_are_its_paper_claims_counted_by_verdict_flat():
    assert verdict_counts(claims_file()) == {
        "reproduced": 2,
        "not_reproduced": 1,
        "inconclusive": 0,
        "not_checked": 1,
        "paper_claims": 4,
    }


def test_the_workflow_command_writes_them(tmp_path):
    claims, out = tmp_path / "p.json", tmp_path / "metrics" / "p.json"
    claims.write_text(json.dumps(claims_file()))
    cmd = [sys.executable, "-m", "logitrepro", "verdict-metrics", "--claims", str(claims), "--out", str(out)]
    subprocess.run(cmd, cwd=PROJECT, check=True, capture_output=True, timeout=120)
    written = json.loads(out.read_text())
    assert written["reproduced"] == 2 and all(not isinstance(v, dict) for v in written.values())


def test_the_training_curves_for_dvc_are_a_row_per_step_naming_every_arm(tmp_path):
    from logitrepro.dvc_curves import curve_rows
    from logitrepro.runs import RunDir

    runs = []
    for arm, seed, losses in (("a", 0, [1.0, 0.5]), ("a", 1, [3.0, 1.5]), ("b", 0, [2.0])):
        run = RunDir(tmp_path / arm / f"seed{seed}").make()
        rows = [{"step": 10 * (i + 1), "train_loss": v} for i, v in enumerate(losses)]
        rows.insert(1, {"step": 12, "event": "spike", "train_loss": 99.0})  # an event is not a point
        run.history.write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs.append({"experiment": "e", "arm": arm, "seed": seed, "run_dir": str(run.path)})
    rows = curve_rows({"runs": runs}, ["e/a", "e/b", "e/never"])
    assert rows == [
        {"step": 10, "e/a": 2.0, "e/b": 2.0, "e/never": None},  # the mean over the seeds
        {"step": 20, "e/a": 1.0, "e/b": None, "e/never": None},  # DVC finds a plot's fields in the first row
    ]


def test_dvc_yaml_plots_each_experiment_s_arms_from_the_file_the_workflow_writes():
    import yaml

    from logitrepro.config import load_config
    from logitrepro.dvc_curves import paper_series

    cfg = load_config(PROJECT / "configs" / "config.yaml")
    plots = {
        name: p for entry in yaml.safe_load((PROJECT / "dvc.yaml").read_text())["plots"] for name, p in entry.items()
    }
    series = paper_series(cfg, "cnn_svm")
    assert plots["cnn_svm mnist"]["y"] == {"results/metrics/cnn_svm_curves.json": series["mnist"]}
    assert plots["cnn_svm mnist"]["x"] == "step" and len(plots) == sum(len(paper_series(cfg, p)) for p in cfg.papers)
