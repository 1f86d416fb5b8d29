"""The LaTeX tables: they compile with booktabs, tabularx and graphicx alone, and stay on the page.

The slow test compiles every paper's tables with pdflatex (`make latex` installs it): from the
claims of a real run where LOGITREPRO_CLAIMS names its folder (results/claims), else from every
claim of the real configs planted to pass at cpu scale."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from logitrepro.judging import build_claims_file
from logitrepro.report.latex import BREAK, LINES_PER_FLOAT, breakable, escape, latex_table
from logitrepro.report.tables import render
from tests.claims.planting import PASS, plant
from tests.claims.test_engine import config_at

PAPERS = ("cnn_svm", "vq_logits", "ls_attention", "fourier_head", "sso")
DOCUMENT = (
    "\\documentclass{article}\n\\usepackage{booktabs,tabularx,graphicx}\n"
    "\\begin{document}\n\\input{tables}\n\\end{document}\n"
)


def test_special_characters_are_escaped_and_symbols_become_math():
    assert escape("A & B 100% $x_1$ #2 {a} ~^\\") == (
        r"A \& B 100\% \$x\_1\$ \#2 \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert escape("0.5 ± 0.1 → ∞, −2 × 3") == r"0.5 $\pm$ 0.1 $\to$ $\infty$, $-$2 $\times$ 3"
    assert escape(breakable("sso.bc_m20-vs/sgd")) == (
        r"sso.\allowbreak{}bc\_\allowbreak{}m20-\allowbreak{}vs/\allowbreak{}sgd"
    )
    assert BREAK not in escape(breakable("a.b"))


def test_a_long_table_continues_in_floats_that_each_fit_a_page():
    rows = [[f"claim.{i}", "x" * 120, "1.0"] for i in range(20)]  # about 8 lines each at a third of the width
    tex = latex_table(["claim", "source", "ours"], rows, "P: claims", wrap={"claim": 1.0, "source": 1.0})
    floats = tex.split("\\begin{table}")[1:]
    assert len(floats) > 2 and "\\caption{P: claims}" in floats[0]
    assert all("\\caption{P: claims (continued)}" in f for f in floats[1:])
    assert sum(f.count("claim.") for f in floats) == 20  # every row once
    assert "\\resizebox" not in tex and "\\begin{tabularx}{\\linewidth}" in tex
    numbers = latex_table(["arm", "acc"], [["a", "1"]] * 70, "P: arms")
    assert numbers.count("\\begin{table}") == 3 and numbers.count("\\resizebox") == 3  # 30 rows a float
    assert LINES_PER_FLOAT < 48  # a plain article's page of \small text, less a caption


def planted_claims(paper: str) -> dict:
    """Every claim of the paper's real config judged on runs planted to pass, at cpu scale."""
    cfg = config_at("cpu")
    merged: dict = {}
    for c in cfg.paper(paper)["claims"]:
        for arm, seeds in plant(c, PASS, [0, 1, 2]).items():
            for s, metrics in seeds.items():
                spec = {"experiment": c["experiment"], "arm": arm, "seed": s}
                merged.setdefault((c["experiment"], arm, s), {"spec": spec, "metrics": {}})["metrics"].update(metrics)
    return build_claims_file(cfg.paper(paper), "cpu", list(merged.values()), cfg.judge_context(paper))


def claims_of(paper: str) -> dict:
    folder = os.environ.get("LOGITREPRO_CLAIMS")
    if folder:
        path = Path(folder) / f"{paper}.json"
        if not path.exists():
            pytest.fail(f"LOGITREPRO_CLAIMS={folder} holds no {paper}.json")
        return json.loads(path.read_text())
    return planted_claims(paper)


@pytest.mark.slow
@pytest.mark.parametrize("paper", PAPERS)
def test_each_paper_s_latex_tables_compile_and_stay_on_the_page(paper, tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.fail(
            "pdflatex is missing: `make latex` installs it (Debian's texlive-latex-base and "
            "texlive-latex-recommended, about 48 MB to download)"
        )
    (tmp_path / "tables.tex").write_text(render(claims_of(paper))["tex"])
    (tmp_path / "doc.tex").write_text(DOCUMENT)
    p = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "doc.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert p.returncode == 0, f"{paper}: pdflatex failed: {errors[:3]}"
    overflows = [line for line in log.splitlines() if line.startswith(("Overfull \\hbox", "LaTeX Warning: Float too"))]
    assert not overflows, f"{paper}: {len(overflows)} overflows, first {overflows[:3]}"
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000
