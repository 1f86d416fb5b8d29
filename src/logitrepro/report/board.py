"""The verdict board: the judged claims as a person reads them at a glance, in the terminal (the end
of `make run` and `logitrepro show`) and across papers (results/tables/index.{md,html}).

Each claim is one row: its id and a short statement, what the paper claims (a number, or "–" with
the test in words beside it), ours with its 95% CI, ours - claimed where the paper gives a number,
and the verdict. The power of a claim is shown only beside an inconclusive verdict, where it
explains why the seeds could not decide; beside "reproduced" it read as a contradiction.

In the terminal, as pytest does: a table as wide as the terminal (80 to 120 columns), verdicts in
colour only when the output is a terminal (and NO_COLOR is unset), claims this scale cannot check
folded into one count per paper, and the tally with the link to the claims view last, where the
eye lands when the run ends.
"""

from __future__ import annotations

import html
import io

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from logitrepro.claims.kinds import CLASS_TITLES, CLASSES
from logitrepro.costs import fmt_cost
from logitrepro.report.tables import (
    PAGE_STYLE,
    breakable_html,
    fmt_claimed_value,
    fmt_difference,
    fmt_measured,
    markdown_table,
    short_test,
    tally,
    verdict_html,
)
from logitrepro.verdicts import INCONCLUSIVE, NOT_CHECKED, NOT_REPRODUCED, REPRODUCED, VERDICTS

VERDICT_STYLES = {REPRODUCED: "green", NOT_REPRODUCED: "red", INCONCLUSIVE: "yellow", NOT_CHECKED: "dim"}
# the width the board is drawn at, whatever the terminal: narrower cannot hold a claim's row,
# wider spreads a row beyond one glance
MIN_WIDTH, MAX_WIDTH = 80, 120
CLASS_NAMES = {"paper": "paper claims", "proxy": "proxies", "sanity": "sanity checks", "extension": "extensions"}


def board_width(columns: int) -> int:
    return max(MIN_WIDTH, min(MAX_WIDTH, columns))


def fmt_power_beside(claim: dict) -> str:
    """How often a perfect replication would pass, beside an inconclusive verdict only."""
    p = (claim.get("power") or {}).get("perfect")
    if claim["verdict"] != INCONCLUSIVE or p is None or p != p:
        return ""
    return f"power {p:.0%}"


def _console(width: int, color: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        highlight=False,
        emoji=False,
        markup=False,  # paths, ids and intervals ("[0.48, 1.41]") are text, never style tags
    )
    return console, buf


def _claim_cell(claim: dict) -> Group:
    """The id, and under it the statement cut to one line: the whole statement is in the tables."""
    statement = Text(claim["statement"], style="dim", no_wrap=True, overflow="ellipsis")
    return Group(Text(claim["id"], style="bold", overflow="fold"), statement)


def _claimed_cell(claim: dict) -> Text:
    """The paper's number; where it gives none, the test in words (in italics: not a number)."""
    if claim.get("claimed") is not None:
        return Text(fmt_claimed_value(claim))
    return Text(short_test(claim), style="italic")


def _claims_table(title: str, claims_files: list[dict], cls: str, fold: tuple[str, ...]) -> Table | None:
    """One class of claims; the verdicts in `fold` become one count per paper."""
    table = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, expand=True)
    table.add_column("claim", overflow="fold")
    table.add_column("claimed (or test)", width=15, overflow="fold")
    table.add_column("ours (95% CI)", width=18, overflow="fold")
    table.add_column("verdict", width=14, overflow="fold")
    papers = []
    for cf in claims_files:
        claims = [c for c in cf["claims"] if c.get("class", "paper") == cls]
        shown = [c for c in claims if c["verdict"] not in fold]
        folded = {v: sum(c["verdict"] == v for c in claims) for v in fold}
        if claims:
            papers.append((cf["paper"], shown, {v: n for v, n in folded.items() if n}))
    if not papers:
        return None
    for i, (paper, shown, folded) in enumerate(papers):
        for c in shown:
            verdict = Text(c["verdict"], style=VERDICT_STYLES.get(c["verdict"], ""))
            if fmt_power_beside(c):
                verdict.append("\n" + fmt_power_beside(c), style="dim")
            table.add_row(_claim_cell(c), _claimed_cell(c), fmt_measured(c), verdict)
        for v, n in folded.items():
            short = "not checked" if v == NOT_CHECKED else v
            table.add_row(
                Text(f"{paper}: {n} more", style="italic"), "", "", Text(short, style=VERDICT_STYLES.get(v, ""))
            )
        if i < len(papers) - 1:
            table.add_section()
    return table


def not_shown(claims_files: list[dict], classes: tuple[str, ...]) -> str:
    """One line for the classes of claim not drawn in full: how many, by verdict."""
    parts = []
    for cls in CLASSES:
        if cls in classes:
            continue
        claims = [c for cf in claims_files for c in cf["claims"] if c.get("class", "paper") == cls]
        if claims:
            counts = ", ".join(
                f"{sum(c['verdict'] == v for c in claims)} {v}"
                for v in VERDICTS
                if any(c["verdict"] == v for c in claims)
            )
            parts.append(f"{len(claims)} {CLASS_NAMES[cls]} ({counts}): --class {cls}")
    return "Not counted, not shown: " + "; ".join(parts) if parts else ""


def _tally_table(claims_files: list[dict]) -> Table:
    """Per paper: its paper claims by verdict, how many judged ones are underpowered, the compute."""
    table = Table(box=box.SIMPLE_HEAD, title="Paper claims per paper", title_justify="left", title_style="bold")
    table.add_column("paper", no_wrap=True)
    # two-line headers: the table has to fit 80 columns beside the paper names
    for v in VERDICTS:
        label = {NOT_REPRODUCED: "not\nreproduced", NOT_CHECKED: "not\nchecked"}.get(v, v)
        table.add_column(Text(label, style=VERDICT_STYLES.get(v, "")), justify="right", no_wrap=True)
    table.add_column("under-\npowered", justify="right", no_wrap=True)
    table.add_column("compute", justify="right", overflow="fold")
    for cf in claims_files:
        paper = [c for c in cf["claims"] if c.get("class", "paper") == "paper"]
        weak = sum(1 for c in paper if c["verdict"] != NOT_CHECKED and (c.get("power") or {}).get("underpowered"))
        counts = [str(sum(c["verdict"] == v for c in paper)) for v in VERDICTS]
        table.add_row(cf["paper"], *counts, str(weak), fmt_cost(cf.get("cost")) if cf.get("cost") else "–")
    return table


def terminal_summary(
    claims_files: list[dict],
    width: int = 100,
    color: bool = False,
    fold: tuple[str, ...] = (NOT_CHECKED,),
    classes: tuple[str, ...] = ("paper",),
    claims_view: str | None = None,
    tables_dir: str | None = None,
) -> str:
    """The board for the terminal: a table per class of claim in `classes`, then the tally per
    paper, the tally of all paper claims and where to look further. The other classes (proxies,
    sanity checks, extensions: not counted) are one line of counts unless asked for."""
    console, buf = _console(board_width(width), color)
    scales = sorted({cf["scale"] for cf in claims_files})
    for cls in classes:
        table = _claims_table(CLASS_TITLES[cls], claims_files, cls, fold)
        if table is not None:
            console.print(table)
    if not_shown(claims_files, classes):
        console.print(not_shown(claims_files, classes) + "\n")
    console.print(_tally_table(claims_files))
    all_claims = [c for cf in claims_files for c in cf["claims"]]
    console.print(Text(f"Scale {', '.join(scales)}: {tally(all_claims)}", style="bold"))
    if NOT_CHECKED in fold and any(c["verdict"] == NOT_CHECKED for c in all_claims):
        console.print("Claims not checked at this scale: logitrepro show --verdict not-checked")
    if tables_dir:
        console.print(f"Tables: {tables_dir}/ (index.html: every paper claim on one page)")
    console.print(f"Claims view: {claims_view}" if claims_view else "Browse runs: mlflow ui", soft_wrap=True)
    # rich pads every line to the full width: trailing blanks only get in the way of a copy
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())


INDEX_HEADER = ["paper", "claim", "source", "claimed", "ours (95% CI)", "ours − claimed", "verdict"]


def index_rows(claims_files: list[dict]) -> list[tuple[dict, list[str]]]:
    """One row per paper claim of every paper (proxies, sanity checks and extensions are not
    counted, so not on the board), with the claim it comes from."""
    rows = []
    for cf in claims_files:
        for c in cf["claims"]:
            if c.get("class", "paper") != "paper":
                continue
            claimed = fmt_claimed_value(c) if c.get("claimed") is not None else short_test(c)
            rows.append(
                (
                    c,
                    [
                        cf["paper"],
                        c["id"],
                        c.get("source", ""),
                        claimed,
                        fmt_measured(c),
                        fmt_difference(c),
                        c["verdict"],
                    ],
                )
            )
    return rows


def render_index(claims_files: list[dict]) -> dict[str, str]:
    """{'md': ..., 'html': ...}: every paper claim of every paper on one board."""
    rows = index_rows(claims_files)
    summary = tally([c for cf in claims_files for c in cf["claims"]])
    scales = ", ".join(sorted({cf["scale"] for cf in claims_files}))
    papers = ", ".join(f"[{cf['paper']}]({cf['paper']}.md)" for cf in claims_files)
    md = (
        f"# Every paper claim (scale {scales})\n\n{summary}.\n\nOurs: mean ± 95% CI half-width over seeds "
        f"([low, high] for ratios). Where the paper gives no number, 'claimed' is the test. Per paper: {papers}.\n\n"
        f"{markdown_table(INDEX_HEADER, [r for _, r in rows])}\n"
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in INDEX_HEADER)
    body = ""
    for c, r in rows:
        cells = [html.escape(x) for x in r]
        cells[0] = f"<a href='{html.escape(r[0])}.html'>{cells[0]}</a>"
        cells[1] = f"<span title='{html.escape(c['statement'])}'>{breakable_html(r[1])}</span>"
        cells[2] = breakable_html(r[2])
        cells[-1] = verdict_html(c["verdict"])
        # ours and the difference on one line: the source and the test in words wrap
        body += "<tr>" + "".join(
            f"<td class='n'>{x}</td>" if i in (4, 5) else f"<td>{x}</td>" for i, x in enumerate(cells)
        )
        body += "</tr>\n"
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Every paper claim ({html.escape(scales)})"
        f"</title>{PAGE_STYLE}</head><body><h1>Every paper claim (scale {html.escape(scales)})</h1>"
        f"<p>{html.escape(summary)}.</p><p>Ours: mean ± 95% CI half-width over seeds ([low, high] for ratios). "
        "Where the paper gives no number, 'claimed' is the test. Hover a claim for its statement; a paper's "
        f"name opens its tables.</p><table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"
        "</body></html>\n"
    )
    return {"md": md, "html": page}
