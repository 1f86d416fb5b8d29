"""Command-line values out of range stop the command at once with argparse's one-line error and
exit status 2, before a config is read or a probe runs; a folder that cannot be written is
found before the probes, not after them."""

import pytest

from logitrepro import plan as plan_module
from logitrepro.cli import main
from tests.support import PROJECT

MAIN = str(PROJECT / "configs" / "config.yaml")


@pytest.fixture
def fake_plan(monkeypatch):
    """plan() without probes: records its calls and writes what the command prints."""
    calls = []

    def plan(cfg, out, steps, limit_s, papers, gpu, utilisation):
        calls.append((steps, limit_s, gpu, utilisation))
        out.mkdir(parents=True, exist_ok=True)
        (out / "plan.md").write_text("plan\n")
        return {"papers": {}}

    monkeypatch.setattr(plan_module, "plan", plan)
    monkeypatch.chdir(PROJECT)  # the paper configs are found from the working folder
    return calls


@pytest.mark.parametrize(
    "argv, argument",
    [
        (["plan", "--steps", "-3"], "--steps"),
        (["plan", "--steps", "0"], "--steps"),
        (["plan", "--steps", "three"], "--steps"),
        (["plan", "--time-limit", "0"], "--time-limit"),
        (["plan", "--time-limit", "-5"], "--time-limit"),
        (["plan", "--time-limit", "nan"], "--time-limit"),
        (["plan", "--utilisation", "0"], "--utilisation"),
        (["plan", "--utilisation", "40"], "--utilisation"),
        (["plan", "--utilisation", "forty"], "--utilisation"),
        (["plan", "--gpu", "a-toaster"], "--gpu"),
        (["train", "--paper", "p", "--experiment", "e", "--runs", "a:0", "--threads", "0"], "--threads"),
        (["evaluate", "--run-dir", "r", "--threads", "-1"], "--threads"),
        (["tokenize", "--data", "d", "--vocab", "0", "--out", "o"], "--vocab"),
    ],
)
def test_a_numeric_argument_out_of_range_exits_2_with_one_error_line(argv, argument, fake_plan, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and not fake_plan
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"argument {argument}" in errors[0]


def test_plan_with_an_unwritable_out_exits_2_before_probing(tmp_path, fake_plan, capsys):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "a-file" / "plan"
    assert main(["plan", "--config", MAIN, "--set", "scale=smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"logitrepro plan: error: --out {out}: cannot write there") and len(err.splitlines()) == 1
    assert not fake_plan


def test_plan_with_values_in_range_runs(tmp_path, fake_plan):
    out = tmp_path / "plan"
    assert main(["plan", "--config", MAIN, "--set", "scale=smoke", "--out", str(out), "--steps", "1"]) == 0
    assert fake_plan == [(1, 90.0, "h100-sxm", 0.4)]
    assert (
        main(
            ["plan", "--config", MAIN, "--set", "scale=smoke", "--out", str(out), "--gpu", "a100-sxm"]
            + ["--utilisation", "0.25"]
        )
        == 0
    )
    assert fake_plan[-1] == (3, 90.0, "a100-sxm", 0.25)
