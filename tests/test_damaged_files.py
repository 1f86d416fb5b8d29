"""Commands on a file the project wrote that is damaged (truncated, garbage): one line that names
the file and the remedy, never a traceback; `diff` exits 2 (a side it cannot read is no flip)."""

import json
import time
from pathlib import Path

import pytest

from logitrepro.cli import main
from logitrepro.config import load_config
from logitrepro.files import write_json
from logitrepro.judging import build_claims_file
from logitrepro.pipeline import runs_on_changed_data
from logitrepro.runs import RunDir
from tests.support import PROJECT, direction_claim, paper_config


def claims_file(paper: str = "p") -> dict:
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v, "status": "completed"}}
        for arm, values in (("m", [0.90, 0.91, 0.92]), ("b", [0.80, 0.81, 0.82]))
        for s, v in enumerate(values)
    ]
    return build_claims_file(paper_config(direction_claim(), id=paper), "cpu", evals)


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.fixture
def claims_dir(tmp_path) -> Path:
    """A claims folder with a good claims file and a truncated one."""
    folder = tmp_path / "results" / "claims"
    folder.mkdir(parents=True)
    write_json(folder / "a.json", claims_file("a"))
    write_json(folder / "b.json", claims_file("b"))
    truncate(folder / "b.json")
    return folder


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_diff_of_a_side_it_cannot_read_exits_2_naming_the_file(claims_dir, tmp_path, capsys):
    good = tmp_path / "good"
    good.mkdir()
    write_json(good / "a.json", claims_file("a"))
    assert main(["diff", str(good), str(claims_dir)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"{claims_dir / 'b.json'} is truncated" in line and "judges that paper again" in line
    (good / "a.json").write_text("garbage")
    assert main(["diff", str(good), str(claims_dir / "a.json")]) == 2
    assert f"{good / 'a.json'} is not valid JSON" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "command",
    [
        lambda d: ["show", "--claims-dir", str(d)],
        lambda d: ["tables", "--claims", str(d / "b.json"), "--md", str(d.parent / "tables" / "b.md")],
        lambda d: (
            ["record-claims", "--claims", str(d / "a.json"), str(d / "b.json")]
            + ["--set", f"tracking.uri=sqlite:///{d.parent / 'mlflow.db'}"]
        ),
    ],
    ids=["show", "tables", "record-claims"],
)
def test_a_command_on_a_truncated_claims_file_says_so_in_one_line(claims_dir, command, capsys):
    assert main(command(claims_dir)) == 5
    line = one_line(capsys.readouterr().err)
    assert line == (
        f"logitrepro: {claims_dir / 'b.json'} is truncated (not valid JSON at byte "
        f"{(claims_dir / 'b.json').stat().st_size}): rerun `snakemake`, which judges that paper again"
    )
    assert not (claims_dir.parent / "tables").exists() and not (claims_dir.parent / "mlflow.db").exists()


def test_the_judge_names_a_truncated_metrics_file_and_writes_no_claims(tmp_path, capsys):
    metrics = tmp_path / "runs" / "svm" / "seed0" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"spec": {"arm": "svm"}, "metrics": {"acc": 0.9')
    out = tmp_path / "claims" / "cnn_svm.json"
    config = str(PROJECT / "configs" / "config.yaml")
    assert main(["judge", "--config", config, "--paper", "cnn_svm", "--metrics", str(metrics), "--out", str(out)]) == 5
    line = one_line(capsys.readouterr().err)
    assert f"{metrics} is truncated" in line and "rerun `snakemake`, which evaluates that run again" in line
    assert not out.exists()


def test_a_full_disk_stops_a_command_with_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    import errno

    write_json(tmp_path / "p.json", claims_file())
    md = tmp_path / "tables" / "p.md"

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    assert main(["tables", "--claims", str(tmp_path / "p.json"), "--md", str(md)]) == 5
    assert one_line(capsys.readouterr().err).startswith(f"logitrepro: no space left on the disk that holds {md}:")
    assert list(md.parent.iterdir()) == []


def smoke_config(tmp_path):
    paths = {"results": str(tmp_path / "r"), "data": str(tmp_path / "d")}
    overrides = {"scale": "smoke", "papers": ["cnn_svm"], "paths": paths}
    return load_config(PROJECT / "configs" / "config.yaml", overrides=overrides, root=PROJECT)


def damaged_results(tmp_path):
    """A smoke config for one paper whose results hold a run with a truncated metrics.json, one
    with a truncated run.json (both trained on data since changed) and a claims file that is not
    JSON (a proxy's error page)."""
    cfg = smoke_config(tmp_path)
    group = cfg.train_groups("cnn_svm")[0]
    (arm, seed), (arm2, seed2) = group.runs[0], group.runs[-1]
    data_dir = Path(cfg.job_spec("cnn_svm", group.experiment, arm, seed)["data_dir"])
    data_dir.mkdir(parents=True)
    (data_dir / "manifest.json").write_text(json.dumps({"sha256": "b" * 64}))
    evaluated_badly = RunDir(cfg.run_dir("cnn_svm", group.experiment, arm, seed)).make()
    lost = RunDir(cfg.run_dir("cnn_svm", group.experiment, arm2, seed2)).make()
    for run in (evaluated_badly, lost):
        run.write_info({"data_checksum": "a" * 64})
        run.write_summary({})
        run.write_metrics({"metrics": {}})
    evaluated_badly.metrics.write_text('{"metrics": {"acc": 0.')
    lost.info.write_text('{"data_checksum": "aaaa')
    claims = Path(cfg.main["paths"]["results"]) / "claims" / "cnn_svm.json"
    claims.parent.mkdir(parents=True)
    claims.write_text("<html>proxy error</html>")
    return cfg, evaluated_badly, lost, claims


def test_the_parse_phase_reads_past_a_truncated_run_json(tmp_path):
    """Today every `snakemake` call, -n included, stops in common.smk with a JSONDecodeError."""
    cfg, evaluated_badly, lost, _ = damaged_results(tmp_path)
    (line,) = runs_on_changed_data(cfg, dry_run=True)  # the readable run's data changed; the other is repaired
    assert str(evaluated_badly.path) in line and str(lost.path) not in line


def test_unreadable_run_files_and_claims_give_their_jobs_a_receipt_to_make(tmp_path):
    """The job that writes a damaged file declares one more output, missing until it has run;
    nothing is repaired (or written) before the DAG is built."""
    from logitrepro.repair import Repairs

    cfg, evaluated_badly, lost, claims = damaged_results(tmp_path)
    repairs = Repairs(cfg)
    found = {str(r.damage.path): r for r in repairs.remakes}
    assert set(found) == {str(evaluated_badly.metrics), str(lost.info), str(claims)}
    assert found[str(lost.info)].output == str(lost.metrics)  # run.json is no output: its run's job runs
    said = "\n".join(repairs.lines())
    assert (
        f"{evaluated_badly.metrics} is truncated (not valid JSON at byte 22): its job evaluates that run again" in said
    )
    assert f"{lost.info} is truncated (not valid JSON at byte 23): its job trains that run again" in said
    dry = repairs.lines(dry_run=True)
    assert f"{claims} is not valid JSON (Expecting value at byte 0): a run without -n judges that paper again" in dry

    group, other = cfg.train_groups("cnn_svm")[:2]
    (receipt,) = repairs.receipts(group.rule)
    assert receipt.startswith(f"{tmp_path}/r/logs/repairs/{group.rule}-") and not Path(receipt).exists()
    assert repairs.receipts(other.rule) == []
    (judged,) = repairs.judge_receipts()
    assert judged.startswith(f"{tmp_path}/r/logs/repairs/judge/{{paper}}-")
    # the default target asks for them: an output that no job reads is never missing to Snakemake
    assert repairs.requested() == [receipt, judged.format(paper="cnn_svm")]
    assert evaluated_badly.metrics.read_text() == '{"metrics": {"acc": 0.'  # nothing repaired here: only looked
    # the same damage, the same receipt (a dry run and the run after it agree); new damage, a new one
    assert Repairs(cfg).receipts(group.rule) == [receipt]
    time.sleep(0.01)
    evaluated_badly.metrics.write_text('{"metrics": {"acc": 0.')
    assert Repairs(cfg).receipts(group.rule) != [receipt]
    # repaired: no receipt, so the job's outputs are what they always were
    for run in (evaluated_badly, lost):
        run.write_info({"data_checksum": "a" * 64})
        run.write_metrics({"metrics": {}})
    write_json(claims, claims_file("cnn_svm"))
    assert Repairs(cfg).receipts(group.rule) == [] and Repairs(cfg).judge_receipts() == []
