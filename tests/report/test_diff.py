"""`logitrepro diff`: two sets of claims side by side, a planted flip named with its cause."""

import json
import os
import shutil
import subprocess

from logitrepro.claimsets import ClaimSet
from logitrepro.cli import main
from logitrepro.files import write_json
from logitrepro.judging import build_claims_file
from logitrepro.report.diff import ClaimDiff, format_diff, summary
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
    row = next(line for line in out.splitlines() if "p p.dir" in line)
    assert row.split()[0] == "FLIP" and "reproduced → not reproduced" in row
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
    out = capsys.readouterr().out
    assert "2 claims: no verdict flipped; 1 measured differently, same verdict; 1 unchanged" in out
    assert "p p.dir" in out and "p p.sane" not in out  # the unchanged claim is counted, not listed
    assert main(["diff", str(tmp_path / "a" / "claims"), str(tmp_path / "a" / "claims")]) == 0
    out = capsys.readouterr().out
    assert "nothing changed: 2 claims" in out and "p.dir" not in out
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


def test_changes_are_listed_flips_first_and_all_lists_the_unchanged_too():
    def d(claim_id, a, b, cls="paper", moved=False):
        return ClaimDiff("p", claim_id, cls, a, b, measured_a="1", measured_b="2" if moved else "1", moved=moved)

    diffs = [
        d("a.same", "reproduced", "reproduced"),
        d("b.moved", "reproduced", "reproduced", moved=True),
        d("c.gone", "reproduced", None),
        d("d.ext-flip", "reproduced", "inconclusive", cls="extension", moved=True),
        d("e.flip", "reproduced", "not reproduced", moved=True),
    ]
    sides = ClaimSet("a", []), ClaimSet("b", [])
    rows = [line.split() for line in format_diff(*sides, diffs).splitlines() if line.startswith(("FLIP", "o", "m"))]
    listed = [words[words.index("p") + 1] for words in rows]
    assert listed == ["e.flip", "d.ext-flip", "c.gone", "b.moved"]  # paper flips, other flips, one side, moved
    everything = format_diff(*sides, diffs, show_all=True)
    assert "p a.same" in everything and "(--all lists them)" not in everything
    assert summary(diffs) == (
        "5 claims: 2 verdicts flipped (1 of paper claims); 1 on one side only; "
        "1 measured differently, same verdict; 1 unchanged (--all lists them)"
    )


def git_repo(path, monkeypatch):
    """A git and DVC repository whose dvc.yaml declares results/claims/p.json, as the project's does."""
    path.mkdir()

    def sh(*cmd):
        subprocess.run(cmd, cwd=path, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh("git", "config", "user.email", "t@t")
    sh("git", "config", "user.name", "t")
    sh("dvc", "init", "-q")
    (path / "results" / "claims").mkdir(parents=True)
    stage = "  judge:\n    cmd: judge\n    metrics:\n    - results/claims/p.json:\n        cache: true\n"
    (path / "dvc.yaml").write_text(f"stages:\n{stage}")  # as logitrepro dvc-yaml writes a paper's claims
    monkeypatch.chdir(path)
    return sh


def test_a_revision_without_dvc_lock_says_what_is_missing_and_not_to_dvc_pull(tmp_path, monkeypatch, capsys):
    sh = git_repo(tmp_path / "repo", monkeypatch)
    judged(tmp_path / "run", [0.90, 0.91, 0.92], lr=0.1, torch_version="2.13.0")
    (tmp_path / "repo" / "results" / "claims" / "p.json").write_text((tmp_path / "run/claims/p.json").read_text())
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "after make run: no dvc.lock")
    assert main(["diff", "HEAD", "results/claims"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "cannot be compared: it has no dvc.lock" in err and "logitrepro lock-claims` after it" in err
    assert "run `dvc pull`" not in err and "nothing for `dvc pull` to fetch" in err


def test_a_recorded_revision_whose_content_is_nowhere_here_says_where_it_looked(tmp_path, monkeypatch, capsys):
    sh = git_repo(tmp_path / "repo", monkeypatch)
    judged(tmp_path / "run", [0.90, 0.91, 0.92], lr=0.1, torch_version="2.13.0")
    (tmp_path / "repo" / "results" / "claims" / "p.json").write_text((tmp_path / "run/claims/p.json").read_text())
    sh("dvc", "remote", "add", "-d", "here", str(tmp_path / "remote"))
    sh("dvc", "commit", "-f", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "recorded")
    assert main(["diff", "HEAD", "results/claims"]) == 0  # the DVC cache holds it
    capsys.readouterr()
    shutil.rmtree(tmp_path / "repo" / ".dvc" / "cache")
    assert main(["diff", "HEAD", "results/claims"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"the default remote 'here' ({tmp_path / 'remote'}) does not exist on this machine" in err
    assert "`dvc pull` cannot get it here" in err
    sh("dvc", "commit", "-f", "-q")
    sh("dvc", "push", "-q")
    shutil.rmtree(tmp_path / "repo" / ".dvc" / "cache")
    assert main(["diff", "HEAD", "results/claims"]) == 0  # pushed: DVC reads it from the remote


def made_by_make_run(repo, m_acc: list[float]) -> None:
    """What `make run` leaves of a paper: a checkpoint in its runs folder, its claims and a table."""
    run_dir = repo / "results" / "runs" / "p" / "e" / "m" / "seed0"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoint.pt").write_bytes(bytes(range(256)) * 4096 + str(m_acc).encode())  # 1 MB, each run's own
    cf = judged(repo.parent / f"run{m_acc[0]}", m_acc, lr=0.1, torch_version="2.13.0")
    (repo / "results" / "claims" / "p.json").write_text(json.dumps(cf))
    (repo / "results" / "tables").mkdir(exist_ok=True)
    (repo / "results" / "tables" / "p.md").write_text(f"| p.dir | {cf['claims'][0]['verdict']} |\n")


def test_make_run_records_its_claims_so_that_a_committed_revision_can_be_diffed(tmp_path, monkeypatch, capsys):
    """The end of `make run` (logitrepro lock-claims): dvc.lock and the DVC cache get the claims and
    what was made from them, not the checkpoints; each commit of dvc.lock is then a side of a diff."""
    from logitrepro.dvc_record import record_claims

    sh = git_repo(tmp_path / "repo", monkeypatch)
    repo = tmp_path / "repo"
    (repo / "dvc.yaml").write_text(  # as logitrepro dvc-yaml writes a paper's two stages
        "stages:\n"
        "  p_runs:\n    cmd: train\n    outs:\n    - results/runs/p:\n        persist: true\n"
        "  p:\n    cmd: judge\n    deps:\n    - results/runs/p\n"
        "    outs:\n    - results/claims/p.json\n    - results/tables/p.md\n"
        "  board:\n    cmd: board\n    deps:\n    - results/claims/p.json\n    outs:\n    - results/tables/index.md\n"
    )
    (repo / ".gitignore").write_text("/results/\n")
    for tag, values in (("v1", [0.90, 0.91, 0.92]), ("v2", [0.70, 0.71, 0.72])):
        made_by_make_run(repo, values)
        table = repo / "results" / "tables" / "p.md"
        os.utime(table, ns=(2_000_000_000 * 10**9,) * 2)  # made after its claims: Snakemake's order
        recorded, message = record_claims(["p", "board", "history"], repo)  # history: not in dvc.yaml
        assert recorded, message
        assert "git add dvc.lock" in message and "board left out: outputs missing" in message
        assert table.stat().st_mtime_ns == 2_000_000_000 * 10**9  # kept: no job runs again
        sh("git", "add", "-A")
        sh("git", "commit", "-qm", tag)
    lock = (repo / "dvc.lock").read_text()
    assert "results/claims/p.json" in lock and "p_runs" not in lock  # the runs' stage is not recorded
    cached = [f for f in (repo / ".dvc" / "cache").rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in cached) < 100_000  # the claims and the table, not the 1 MB checkpoint
    assert main(["diff", "HEAD~1", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("A: git HEAD~1\nB: git HEAD") and "p.dir: reproduced → not reproduced" in out


def test_recording_the_claims_without_dvc_says_so_and_make_run_still_succeeds(tmp_path, monkeypatch, capsys):
    from tests.support import PROJECT

    shutil.copytree(PROJECT / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)  # a copy without .dvc/ (a clone has it: it is committed)
    assert main(["lock-claims"]) == 0
    out = capsys.readouterr().out
    assert "Claims not recorded" in out and "no .dvc/" in out
    (tmp_path / ".dvc").mkdir()
    assert main(["lock-claims"]) == 0
    assert "dvc.yaml declares none of their stages" in capsys.readouterr().out


def test_the_recorded_stages_are_the_project_s_and_none_holds_a_checkpoint():
    import yaml

    from logitrepro.config import load_config
    from logitrepro.dvc_record import recorded_stages
    from tests.support import PROJECT

    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    stages = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
    assert set(recorded_stages(cfg)) <= set(stages) and "board" in recorded_stages(cfg)
    for name in recorded_stages(cfg):
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in stages[name].get("outs", [])]
        assert outs and not any(o.startswith("results/runs") for o in outs), name
