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
