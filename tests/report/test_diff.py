"""`logitrepro diff`: two sets of claims side by side, a planted flip named with its cause."""

import json
import subprocess

from logitrepro.cli import main
from logitrepro.files import write_json
from logitrepro.judging import build_claims_file
from logitrepro.runs import RunDir
from tests.support import claim, direction_claim, paper_config, smoke_spec

PAPER = paper_config(
    direction_claim(),
    claim("p.sane", "absolute", arm="b", accept=[0, None], **{"class": "sanity"}),
)


def run_spec(arm: str, seed: int, lr: float) -> dict:
    """A real run's spec (cnn_svm on MNIST, from the smoke config) at learning rate `lr`, filed
    under this test's paper: experiment e, arm `arm`."""
    return {**smoke_spec("cnn_svm", "mnist", "svm", seed, lr=lr), "experiment": "e", "arm": arm}


def judged(root, m_acc: list[float], lr: float, torch_version: str) -> dict:
    """A claims file from runs whose run.json says what they were made from."""
    evals = []
    for arm, values in (("m", m_acc), ("b", [0.80, 0.81, 0.82])):
        for seed, v in enumerate(values):
            run = RunDir(root / "runs" / arm / f"seed{seed}").make()
            run.write_info({"git_commit": "abc", "packages": {"torch": torch_version}, "data_checksum": "d1"})
            evals.append(
                {
                    "spec": run_spec(arm, seed, lr if arm == "m" else 0.1),
                    "metrics": {"acc": v, "status": "completed"},
                    "run_dir": str(run.path),
                }
            )
    cf = build_claims_file(PAPER, "cpu", evals)
    (root / "claims").mkdir(parents=True, exist_ok=True)
    write_json(root / "claims" / "p.json", cf)
    return cf


def test_a_planted_flip_fails_the_diff_and_names_what_differed(tmp_path, capsys):
    judged(tmp_path / "a", [0.90, 0.91, 0.92], lr=0.1, torch_version="2.13.0")
    judged(tmp_path / "b", [0.70, 0.71, 0.72], lr=1.0, torch_version="2.14.0")
    assert main(["diff", str(tmp_path / "a" / "claims"), str(tmp_path / "b" / "claims")]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("p ") and "p.dir" in line)
    assert "reproduced" in row and "not reproduced" in row and "FLIP" in row
    assert "p.dir: reproduced → not reproduced" in out
    assert "per seed A: 0: 0.1, 1: 0.1, 2: 0.1" in out and "per seed B: 0: -0.1, 1: -0.1, 2: -0.1" in out
    assert "hyper-parameter m.lr: 0.1 → 1.0" in out and "package torch: 2.13.0 → 2.14.0" in out
    assert out.count("hyper-parameter") == 1  # of a real run's dozen, the one that differs
    assert "commit" not in out.split("p.dir: reproduced")[1]  # the same commit on both sides is not news
    assert "1 verdicts flipped (1 of paper claims)" in out


def test_the_same_claims_pass_the_diff_and_a_missing_side_is_a_clear_error(tmp_path, capsys):
    judged(tmp_path / "a", [0.90, 0.91, 0.92], lr=0.1, torch_version="2.13.0")
    judged(tmp_path / "b", [0.90, 0.91, 0.93], lr=0.1, torch_version="2.13.0")
    assert main(["diff", str(tmp_path / "a" / "claims"), str(tmp_path / "b" / "claims")]) == 0
    assert "no verdict flipped (2 claims)" in capsys.readouterr().out
    assert main(["diff", str(tmp_path / "a" / "claims"), "no-such-thing"]) == 2
    assert "'no-such-thing' is neither a claims folder, a git revision" in capsys.readouterr().err


def test_a_git_revision_is_read_through_dvc(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()

    def sh(*cmd):
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh("git", "config", "user.email", "t@t")
    sh("git", "config", "user.name", "t")
    sh("dvc", "init", "-q")
    for tag, values in (("v1", [0.90, 0.91, 0.92]), ("v2", [0.70, 0.71, 0.72])):
        cf = judged(tmp_path / tag, values, lr=0.1, torch_version="2.13.0")
        (repo / "results" / "claims").mkdir(parents=True, exist_ok=True)
        (repo / "results" / "claims" / "p.json").write_text(json.dumps(cf))
        sh("dvc", "add", "-q", "results/claims/p.json")
        sh("git", "add", "-A")
        sh("git", "commit", "-qm", tag)
        sh("git", "tag", tag)
    monkeypatch.chdir(repo)
    assert main(["diff", "v1", "v2"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("A: git v1\nB: git v2") and "p.dir: reproduced → not reproduced" in out


def test_a_claims_file_from_before_runs_were_recorded_is_said_once_not_field_by_field(tmp_path, capsys):
    old = judged(tmp_path / "a", [0.90, 0.91, 0.92], lr=0.1, torch_version="2.13.0")
    for r in old["runs"]:
        r.pop("made_from", None)
    write_json(tmp_path / "a" / "claims" / "p.json", old)
    judged(tmp_path / "b", [0.70, 0.71, 0.72], lr=1.0, torch_version="2.14.0")
    assert main(["diff", str(tmp_path / "a" / "claims"), str(tmp_path / "b" / "claims")]) == 1
    out = capsys.readouterr().out
    assert "the runs of side A carry no record of what they were made from" in out
    assert "hyper-parameter m.lr" not in out and "package torch" not in out
