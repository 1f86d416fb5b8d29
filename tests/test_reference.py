"""The committed reference verdicts, and a run compared with them at the end of `make run`."""

import copy
import json

from logitrepro.cli import main
from logitrepro.reference import compare, load_references, write_reference
from tests.support import PROJECT


def claim(cid: str, verdict: str, mean: float, perfect: float | None, half_width: float = 1.0) -> dict:
    return {
        "id": cid,
        "class": "paper",
        "verdict": verdict,
        "measured": {"mean": mean, "ci_low": mean - half_width, "ci_high": mean + half_width, "n": 3},
        "power": {"perfect": perfect} if perfect is not None else None,
    }


def claims_file() -> dict:
    return {
        "paper": "p",
        "scale": "cpu",
        "claims": [
            claim("p.weak", "reproduced", 5.0, 0.34),  # a faithful rerun passes it a third of the time
            claim("p.strong", "reproduced", 5.0, 0.99),
            claim("p.spread", "inconclusive", 1.0, None),
            {"id": "p.later", "class": "paper", "verdict": "not checked at this scale"},
        ],
        "runs": [{"run_dir": "nowhere", "made_from": {"git_commit": "abc1234567", "device": "cpu"}}],
    }


def test_a_run_like_the_reference_agrees_on_every_claim_judged_on_both(tmp_path, capsys):
    write_reference([claims_file()], tmp_path)
    references = load_references(tmp_path / "reference" / "cpu")
    assert references["p"]["git_commit"] == "abc1234567" and references["p"]["machine"] == "cpu"
    rows = compare([claims_file()], references)
    assert [r.agrees for r in rows if r.comparable] == [True, True, True]
    assert [r.claim for r in rows if not r.comparable] == ["p.later"]
    folder = tmp_path / "claims"
    folder.mkdir()
    (folder / "p.json").write_text(json.dumps(claims_file()))
    assert (
        main(["compare-reference", "--claims-dir", str(folder), "--reference", str(tmp_path / "reference" / "cpu")])
        == 0
    )
    out = capsys.readouterr().out
    assert "3 of 3 claims judged on both agree, 0 differ; 1 not judged on both sides." in out


def test_a_difference_is_named_and_weighed_by_the_claim_s_power_and_exits_0(tmp_path, capsys):
    write_reference([claims_file()], tmp_path)
    here = copy.deepcopy(claims_file())
    verdicts = {"p.weak": "inconclusive", "p.strong": "inconclusive", "p.spread": "not reproduced"}
    for c in here["claims"]:
        c["verdict"] = verdicts.get(c["id"], c["verdict"])
    here["claims"][2]["measured"].update(mean=9.0, ci_low=8.0, ci_high=10.0)  # far from the reference's CI
    rows = {r.claim: r for r in compare([here], load_references(tmp_path / "reference" / "cpu"))}
    assert rows["p.weak"].within is True and "passes it 34% of the time" in rows["p.weak"].why
    assert rows["p.strong"].within is False and "beyond its power" in rows["p.strong"].why
    assert rows["p.spread"].within is False and "CIs do not overlap" in rows["p.spread"].why
    folder = tmp_path / "claims"
    folder.mkdir()
    (folder / "p.json").write_text(json.dumps(here))
    code = main(["compare-reference", "--claims-dir", str(folder), "--reference", str(tmp_path / "reference" / "cpu")])
    out = capsys.readouterr().out
    assert code == 0  # information, not a failure: make run's status stays the pipeline's
    assert "0 of 3 claims judged on both agree, 3 differ (1 within what the claim's power predicts, 2 beyond it)" in out
    assert "  p.weak: reference reproduced, here inconclusive" in out
    assert out.index("p.strong") < out.index("p.weak")  # what is beyond the power first


def test_the_committed_reference_of_the_default_scale_covers_every_paper_with_its_machine():
    from logitrepro.config import load_config

    cfg = load_config(PROJECT / "configs" / "config.yaml")
    references = load_references(PROJECT / "reference" / cfg.scale)
    assert sorted(references) == sorted(cfg.papers)
    for ref in references.values():
        assert ref["scale"] == cfg.scale and ref["machine"] and len(ref["git_commit"]) == 40
        assert all(c["verdict"] for c in ref["claims"].values())
