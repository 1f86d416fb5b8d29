"""A paper's verdicts as DVC metrics: results/metrics/<paper>.json, its paper claims counted by
verdict, five flat numbers.

The claims file itself is thousands of nested values: as a DVC metric, `dvc metrics show` printed
it as one row of thousands of columns. These counts make `dvc metrics show` a row per paper that
fits a terminal, and `dvc metrics diff HEAD~1` says how many verdicts moved; `logitrepro diff`
says which claims flipped and why.
"""

from __future__ import annotations

from pathlib import Path

from logitrepro.files import write_json
from logitrepro.verdicts import VERDICTS


def metric_name(verdict: str) -> str:
    """A verdict as a DVC metric's name: `not checked at this scale` reads `not_checked`."""
    return verdict.removesuffix(" at this scale").replace(" ", "_")


def verdict_counts(claims_file: dict) -> dict[str, int]:
    """{verdict: how many of the paper's claims got it} (class `paper` only, as the tally counts
    them), and `paper_claims`, their number."""
    paper = [c for c in claims_file["claims"] if c.get("class", "paper") == "paper"]
    counts = {metric_name(v): sum(c["verdict"] == v for c in paper) for v in VERDICTS}
    return {**counts, "paper_claims": len(paper)}


def write_verdict_metrics(claims_file: dict, out: str | Path) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_json(out, verdict_counts(claims_file))
