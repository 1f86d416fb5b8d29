"""The verdict board: the end of a run and `logitrepro show` in the terminal, and the cross-paper
index; and, in the paper tables, the tuning grids folded to their selected points."""

import sys

from logitrepro.cli import main
from logitrepro.files import write_json
from logitrepro.judging import build_claims_file
from logitrepro.report.board import render_index, terminal_summary
from logitrepro.report.tables import render
from tests.support import claim, direction_claim, md_rows, paper_config

LONG = "A statement long enough to be cut rather than stretch the table past the terminal's edge. " * 3


def claims_file(paper: str = "p") -> dict:
    """Two judged paper claims (a number, a direction), two the cpu scale cannot check, a sanity check."""
    pc = paper_config(
        claim(f"{paper}.abs", "absolute", arm="m", claimed=90.0, tolerance=1.0, units="%", source="Table 2"),
        direction_claim(f"{paper}.dir", statement=LONG),
        direction_claim(f"{paper}.later", judged_at=["paper"]),
        claim(f"{paper}.later2", "absolute", arm="m", claimed=91.0, tolerance=1.0, judged_at=["paper"]),
        claim(f"{paper}.sane", "absolute", arm="b", accept=[0, None], **{"class": "sanity"}),
        id=paper,
    )
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v, "status": "completed"}}
        for arm, vals in (("m", [90.1, 90.3, 89.9]), ("b", [80.0, 81.0, 82.0]))
        for s, v in enumerate(vals)
    ]
    return build_claims_file(pc, "cpu", evals)


def test_claims_not_checked_at_this_scale_fold_into_one_count_per_paper():
    text = terminal_summary([claims_file("p"), claims_file("q")])
    assert "p.abs" in text and "q.dir" in text
    assert "p.later" not in text and "q.later2" not in text
    assert "p: 2 more" in text and "q: 2 more" in text
    # asked for (show --verdict not-checked), they are listed
    listed = terminal_summary([claims_file("p")], fold=())
    assert "p.later2" in listed and "more" not in listed


def test_the_tally_and_where_to_look_further_come_last():
    text = terminal_summary([claims_file()], claims_view="http://ui/#/experiments/6/runs", tables_dir="results/tables")
    lines = text.splitlines()
    assert lines[-1] == "Claims view: http://ui/#/experiments/6/runs"
    assert text.index("p.abs") < text.index("4 paper claims: 2 reproduced") < text.index("Claims view")
    # sanity checks are not counted: one line of counts unless asked for
    assert "p.sane" not in text and "1 sanity checks (1 reproduced): --class sanity" in text


def test_a_claim_shows_its_statement_cut_to_fit_and_its_number_apart_from_its_test():
    text = terminal_summary([claims_file()], width=100)
    assert "A statement long enough" in text and LONG.strip() not in text and "…" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("p.abs"))
    assert "90 %" in row and "reproduced" in row
    row = next(line for line in text.splitlines() if line.strip().startswith("p.dir"))
    assert "m beats b" in row  # no number claimed: the test in words, not the kind's name
    assert "direction" not in row


def test_show_fits_the_terminal_and_colours_verdicts_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "claims"
    folder.mkdir()
    write_json(folder / "p.json", claims_file())
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert main(["show", "--claims-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100 and "\x1b[" not in out  # piped: plain
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["show", "--claims-dir", str(folder)]) == 0
    assert "\x1b[" in capsys.readouterr().out
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["show", "--claims-dir", str(folder)]) == 0
    assert "\x1b[" not in capsys.readouterr().out
    monkeypatch.setenv("COLUMNS", "300")  # never wider than a glance
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert main(["show", "--claims-dir", str(folder)]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines() if "http" not in line) <= 120


def test_the_index_has_one_row_per_paper_claim_with_source_and_difference():
    files = [claims_file("p"), claims_file("q")]
    out = render_index(files)
    rows = md_rows(out["md"])[1:]  # the header first
    assert len(rows) == sum(c["class"] == "paper" for cf in files for c in cf["claims"]) == 8
    assert ["p", "p.abs", "Table 2", "90 %", "90.10 ± 0.50", "+0.10", "reproduced"] in rows
    assert not any(r[1].endswith(".sane") for r in rows)
    assert out["html"].count("<tr><td>") == 8 and "<span class='v v-reproduced'>" in out["html"]


def test_tuning_grids_show_their_selected_point_and_fold_the_rest():
    cf = claims_file()
    summary = cf["arms"]["e"]["m"]
    cf["arms"]["e"] = {"b": cf["arms"]["e"]["b"], **{f"t__t{i}": summary for i in range(3)}}
    cf["claims"][0]["tuning"] = {"t": {"run": "t__t1", "chosen": {"lr": 0.1}}}
    out = render(cf)
    arms = out["md"].split("## Results per arm")[1]
    assert [r[1] for r in md_rows(arms)[1:]] == ["b", "t (tuned: point 1 of 3)"]
    assert "the other 2 grid points are in the HTML table" in arms
    assert out["html"].count("t__t") == 2 and "<details>" in out["html"]  # t__t0 and t__t2, folded
    assert "Table 2" in md_rows(out["md"].split("## Paper claims")[1])[1]  # the claim's source


def test_counts_every_seed_agrees_on_print_whole():
    from logitrepro.report.tables import fmt_stats

    assert fmt_stats({"mean": 524288.0, "ci_low": 524288.0, "ci_high": 524288.0, "n": 3, "sd": 0.0}) == "524288"
    assert fmt_stats({"mean": 96.49, "ci_low": 96.49, "ci_high": 96.49, "n": 3, "sd": 0.0}) == "96.49 ± 0.00"


def test_paths_and_intervals_print_as_written_never_as_style_tags():
    text = terminal_summary([claims_file()], tables_dir="/tmp/[bold]results/tables")
    assert "Tables: /tmp/[bold]results/tables/" in text
    assert "snakemake" not in text.split("Tables:")[1]  # the board is made by every run: no command to make it


def test_the_index_keeps_numbers_on_one_line_and_words_a_one_sided_test_as_a_bound():
    pc = paper_config(
        claim("p.ratio", "ratio", method="m", baseline="b", accept=[None, 1.0]),
        direction_claim(),
    )
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v, "status": "completed"}}
        for arm, vals in (("m", [0.5, 0.6, 0.7]), ("b", [0.8, 0.81, 0.82]))
        for s, v in enumerate(vals)
    ]
    out = render_index([build_claims_file(pc, "cpu", evals)])
    row = next(r for r in md_rows(out["md"]) if r[1] == "p.ratio")
    assert row[3] == "ratio ≤ 1"  # not "ratio in [-∞, 1]": a ratio is never below 0
    # ours with its interval and the difference never wrap: the source and the test in words do
    assert out["html"].count("<td class='n'>") == 2 * 2 and ".n{white-space:nowrap}" in out["html"]
    assert "p.<wbr>ratio" in out["html"]  # an id may break at its dots: the longest sets no page width
