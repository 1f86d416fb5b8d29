"""Paper-style tables from a claims file: claimed beside reproduced, as Markdown, LaTeX, HTML.

Per paper: the results per arm (every reported metric, mean +- 95% CI half-width over seeds, with
the paper's number where an absolute claim gives one); the claims in four sections kept apart
(paper claims, which alone are counted; proxies, this machine's measurement standing in for the
paper's setting; sanity checks, which hold by construction; extensions, our own variants), each
with its verdict, how sure that verdict is (how often a perfect replication and one of a
negligible effect would pass), the compute it rests on and the reason (in HTML also links to its
MLflow runs and the command that reruns them); and, for claims judged at several training
budgets, the robustness row.
"""

from __future__ import annotations

import html
import math
import re

from tabulate import tabulate

from logitrepro.claims.kinds import CLASS_TITLES, CLASSES, kind
from logitrepro.claims.power import expected_by_chance
from logitrepro.claims.words import decimals_for, fmt_num
from logitrepro.costs import fmt_cost
from logitrepro.report.latex import PREAMBLE, breakable, latex_table
from logitrepro.verdicts import NOT_CHECKED, VERDICTS


def fmt_claimed(x) -> str:
    """A claimed value at the precision the paper reports it (as written in the config)."""
    if x is None:
        return "–"
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def fmt_stats(st: dict | None, digits: int | None = None) -> str:
    if not st:
        return "–"
    digits = decimals_for(st["mean"]) if digits is None else digits
    # a count every seed agrees on (tokens, parameters, violations) prints whole; a small integer
    # without spread may be a measurement that happened to round, and keeps its decimals
    mean = float(st["mean"])
    if st["ci_low"] == st["ci_high"] and mean.is_integer() and (mean == 0 or abs(mean) >= 10):
        return f"{mean:.0f}"
    if st["n"] < 2 or not math.isfinite(st["ci_high"]):
        return f"{st['mean']:.{digits}f} (n={st['n']})"
    if st.get("log"):  # a geometric mean: its interval is not symmetric
        return f"{st['mean']:.{digits}f} [{st['ci_low']:.{digits}f}, {st['ci_high']:.{digits}f}]"
    return f"{st['mean']:.{digits}f} ± {(st['ci_high'] - st['ci_low']) / 2:.{digits}f}"


def fmt_measured(claim: dict) -> str:
    """What the claim measured: as its kind shows it (event counts, violations), else mean and CI,
    else per-seed values."""
    shown = kind(claim["kind"]).show_measured(claim)
    if shown is not None:
        return shown
    m = claim.get("measured")
    if m:
        return fmt_stats(m)
    per_seed = claim.get("per_seed") or {}
    return "per seed: " + ", ".join(fmt_num(v) for v in per_seed.values()) if per_seed else "–"


def describe_test(c: dict) -> str:
    """The test in words: the statistic, the region, the rule the region comes from (as its kind
    words them), the premises."""
    text = kind(c["kind"]).describe(c)
    for p in c.get("premises") or []:
        text += f"; if: {p.get('why') or p['arm'] + ' ' + p['metric']}"
    return text


def fmt_power(c: dict, key: str) -> str:
    p = c.get("power") or {}
    v = p.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    text = f"{v:.0%}"
    if key == "perfect":
        if p.get("post_hoc"):
            text += " (post-hoc)"
        if p.get("underpowered"):
            text += f"; underpowered: {p['seeds_needed']} seeds" if p.get("seeds_needed") else "; underpowered"
    return text


def fmt_budget(c: dict) -> str:
    b = c.get("budget")
    if not b:
        return "–"
    label = f"{b['authors']:g}× authors'" if b.get("authors") is not None else f"{b['multiple']:g}× scale"
    return label + (f": {c['robustness_summary']}" if c.get("robustness_summary") else "")


def short_test(claim: dict) -> str:
    """The test without its justification: the statistic and its region ("ratio in [0.945,
    0.985]", "headline beats headline", "ratio ≤ 1" for a region open on one side, which the
    reasons write "[-∞, 1]"); the reason for the region is in the tables."""
    text = kind(claim["kind"]).describe(claim)
    text = re.split(r" \(|;|, one interval", text, maxsplit=1)[0].strip()
    text = re.sub(r" in \[-∞, ([^\],]+)\]", r" ≤ \1", text)
    return re.sub(r" in \[([^\],]+), ∞\]", r" ≥ \1", text)


def fmt_claimed_value(claim: dict) -> str:
    """The paper's number with its units, "–" where the claim is a test without one."""
    if claim.get("claimed") is None:
        return "–"
    return fmt_claimed(claim["claimed"]) + (f" {claim['units']}" if claim.get("units") else "")


def difference(claim: dict) -> float | None:
    """Ours - claimed where the claim gives a number and ours is a mean on the same scale."""
    measured = claim.get("measured") or {}
    if claim.get("claimed") is None or measured.get("mean") is None:
        return None
    if not kind(claim["kind"]).measured_in_units:
        return None
    return measured["mean"] - float(claim["claimed"])


def fmt_difference(claim: dict) -> str:
    """Ours - claimed, at the precision ours is shown."""
    d = difference(claim)
    if d is None:
        return "–"
    return f"{d:+.{decimals_for(claim['measured']['mean'])}f}"


PAGE_STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
    "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eee}"
    ".v{font-weight:bold;white-space:nowrap}.v-reproduced{color:#176b2c}.v-not-reproduced{color:#b00020}"
    ".v-inconclusive{color:#8a5a00}.v-not-checked{color:#777}.n{white-space:nowrap}.w{min-width:14em}</style>"
)


def verdict_html(verdict: str) -> str:
    """A verdict coloured by its class in PAGE_STYLE (the words stay, for print and screen readers)."""
    slug = "not-checked" if verdict.startswith(NOT_CHECKED) else verdict.replace(" ", "-")
    return f"<span class='v v-{slug}'>{html.escape(verdict)}</span>"


TUNING_POINT = re.compile(r"^(?P<arm>.+)__t(?P<point>\d+)$")  # a grid point of a tuned arm


def selected_points(claims_file: dict) -> dict[tuple[str, str], str]:
    """{(experiment, tuned arm): the grid point the claims chose}, as the judging recorded it."""
    chosen = {}
    for c in claims_file["claims"]:
        for arm, tuning in (c.get("tuning") or {}).items():
            if tuning.get("run"):
                chosen[(c["experiment"], arm)] = tuning["run"]
    return chosen


def arm_rows(claims_file: dict) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The header, the rows shown (each tuning grid as its selected point), and the rows of the
    grid points not selected (folded: a count in Markdown, a <details> in HTML)."""
    metrics = claims_file.get("report_metrics") or []
    labels = claims_file.get("report_labels") or {}
    claimed = {}
    for c in claims_file["claims"]:
        if kind(c["kind"]).measures_paper_number(c.get("claimed")):
            claimed[(c["experiment"], c["arms"]["arm"], c["metric"])] = c
    header = ["experiment", "arm"]
    for m in metrics:
        if any(k[2] == m for k in claimed):
            header.append(f"{labels.get(m, m)}: claimed")
        header.append(f"{labels.get(m, m)}: reproduced")
    header.append("runs")
    chosen = selected_points(claims_file)
    rows, folded = [], []
    for exp, arms in claims_file["arms"].items():
        grids: dict[str, list[str]] = {}
        for arm in arms:
            point = TUNING_POINT.match(arm)
            if point:
                grids.setdefault(point["arm"], []).append(arm)
        for arm, summary in arms.items():
            row = [exp, arm]
            for m in metrics:
                if any(k[2] == m for k in claimed):
                    c = claimed.get((exp, arm, m))
                    row.append(fmt_claimed(c["claimed"]) if c else "–")
                row.append(fmt_stats(summary["metrics"].get(m)))
            row.append(
                f"{summary['n_runs']} ({summary['n_diverged']} diverged)"
                if summary["n_diverged"]
                else str(summary["n_runs"])
            )
            point = TUNING_POINT.match(arm)
            if point and chosen.get((exp, point["arm"])) == arm:
                row[1] = f"{point['arm']} (tuned: point {point['point']} of {len(grids[point['arm']])})"
                rows.append(row)
            elif point:
                folded.append(row)
            else:
                rows.append(row)
    return header, rows, folded


CLAIM_HEADER = [
    "claim",
    "statement",
    "source",
    "test",
    "claimed",
    "reproduced (mean ± 95% CI)",
    "ours − claimed",
    "verdict",
    "P(pass | perfect)",
    "P(pass | negligible)",
    "budget",
    "cost",
    "why",
]


def claim_rows(claims_file: dict, cls: str | None = None) -> tuple[list[str], list[list[str]]]:
    rows = []
    for c in claims_file["claims"]:
        if cls is not None and c.get("class", "paper") != cls:
            continue
        units = f" {c['units']}" if c.get("units") else ""
        claimed = fmt_claimed(c.get("claimed")) + units if c.get("claimed") is not None else "–"
        verdict = c["verdict"]
        if verdict == NOT_CHECKED and c.get("check_with"):
            verdict += f" (check with {c['check_with']})"
        measured = fmt_measured(c)
        rows.append(
            [
                c["id"],
                c["statement"],
                c.get("source", ""),
                describe_test(c),
                claimed,
                measured + (units if c.get("measured") and kind(c["kind"]).measured_in_units else ""),
                fmt_difference(c),
                verdict,
                fmt_power(c, "perfect"),
                fmt_power(c, "null"),
                fmt_budget(c),
                fmt_cost(c.get("cost")),
                c.get("reason", ""),
            ]
        )
    return CLAIM_HEADER, rows


RUN_LINKS_SHOWN = 12


def run_links(claims_file: dict, claim: dict) -> str:
    """HTML: a link to each MLflow run the claim read, and the command that reruns them."""
    arms = set(claim.get("reads") or ())
    runs = [r for r in claims_file.get("runs", []) if r["experiment"] == claim["experiment"] and r["arm"] in arms]
    ml = claims_file.get("mlflow") or {}
    links = [
        f"<a href='{html.escape(ml['ui'])}/#/experiments/{html.escape(str(ml['experiment_id']))}/runs/"
        f"{html.escape(r['mlflow_run_id'])}'>{html.escape(r['arm'])}/{r['seed']}</a>"
        for r in runs
        if ml and r.get("mlflow_run_id")
    ]
    out = " ".join(links) if links else html.escape(f"{len(runs)} runs (not tracked in MLflow)")
    if len(links) > RUN_LINKS_SHOWN:  # a tuning grid's claim reads hundreds: folded, not a column of them
        out = f"<details><summary>{len(links)} runs in MLflow</summary>{out}</details>"
    if claim.get("rerun"):
        out += f"<br>rerun: <code>{html.escape(claim['rerun'])}</code>"
    return out


def breakable_html(text: str) -> str:
    """Escaped text that may break after . _ / , where it must: claim ids and the authors' file
    paths in a source have no spaces, and the longest would set the page's width."""
    out = html.escape(text)
    for ch in "._/,":
        out = out.replace(ch, ch + "<wbr>")
    return out


# The claims table's running text gets a readable width (the page scrolls sideways rather than
# squeeze a statement to a word a line); its numbers stay on one line.
HTML_CLASSES = {
    **dict.fromkeys(("statement", "source", "test", "why", "runs"), "w"),
    **dict.fromkeys(("claimed", "reproduced (mean ± 95% CI)", "ours − claimed", "cost"), "n"),
}


def html_grid(header: list[str], cells: list[list[str]], classes: dict[str, str]) -> str:
    """An HTML table of cells already escaped, each column's cells of its class in PAGE_STYLE."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='{classes[h]}'>{c}</td>" if h in classes else f"<td>{c}</td>" for h, c in zip(header, r))
        + "</tr>\n"
        for r in cells
    )
    return f"<table>\n<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n{body}</tbody>\n</table>"


def html_claims_table(claims_file: dict, cls: str) -> str:
    """The claims of one class with, per row, its runs in MLflow and the command that reruns them."""
    header, rows = claim_rows(claims_file, cls)
    claims = [c for c in claims_file["claims"] if c.get("class", "paper") == cls]
    cells = [
        [breakable_html(str(x)) if h in ("claim", "source") else html.escape(str(x)) for h, x in zip(header, row)]
        + [run_links(claims_file, c)]
        for row, c in zip(rows, claims)
    ]
    at = header.index("verdict")
    for row, c in zip(cells, claims):
        row[at] = verdict_html(c["verdict"]) + row[at][len(html.escape(c["verdict"])) :]  # and "(check with ...)"
    return html_grid([*header, "runs"], cells, HTML_CLASSES)


def cost_summary(claims_file: dict) -> str:
    cost = claims_file.get("cost")
    if not cost or not cost.get("runs"):
        return ""
    return (
        f"Compute: {fmt_cost(cost)} over {cost['runs']} runs on {', '.join(cost['devices'])} "
        f"({cost['startup_core_s']:,.0f} core-s of it job start-up)"
    )


def budget_rows(claims_file: dict) -> tuple[list[str], list[list[str]]]:
    """Claims judged at several training budgets: one row per claim, one verdict per budget."""
    multi = [c for c in claims_file["claims"] if c.get("robustness")]
    labels = []
    for c in multi:
        for r in c["robustness"]:
            b = r["budget"]
            label = f"{b['authors']:g}× authors'" if b.get("authors") is not None else f"{b['multiple']:g}× scale"
            if label not in labels:
                labels.append(label)
    header = ["claim"] + labels + ["robustness"]
    rows = []
    for c in multi:
        cells = {}
        for r in c["robustness"]:
            b = r["budget"]
            label = f"{b['authors']:g}× authors'" if b.get("authors") is not None else f"{b['multiple']:g}× scale"
            cells[label] = f"{fmt_stats(r['measured'])}: {r['verdict']}"
        rows.append([c["id"]] + [cells.get(label, "–") for label in labels] + [c.get("robustness_summary", "")])
    return header, rows


def tally(claims: list[dict]) -> str:
    """Paper claims only, each once, by verdict; with how many judged ones are underpowered and how
    many would pass by chance if every effect were negligible (the sum of P(pass | negligible))."""
    paper = [c for c in claims if c.get("class", "paper") == "paper"]
    parts = [f"{sum(c['verdict'] == v for c in paper)} {v}" for v in VERDICTS if any(c["verdict"] == v for c in paper)]
    judged = [c for c in paper if c["verdict"] != NOT_CHECKED]
    weak = sum(1 for c in judged if (c.get("power") or {}).get("underpowered"))
    text = f"{len(paper)} paper claims: " + ", ".join(parts)
    if weak:
        text += f"; {weak} judged {'claim is' if weak == 1 else 'claims are'} underpowered at this seed count"
    chance, carried = expected_by_chance(judged)
    if carried:
        text += (
            f"; if every effect were negligible, {chance:.1f} of the {carried} judged "
            f"{'claim' if carried == 1 else 'claims'} with a negligible effect would still pass "
            "(sum of P(pass | negligible))"
        )
    return text


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(s) -> str:  # a | inside a cell would end it
        return str(s).replace("|", "\\|")

    return tabulate([[cell(c) for c in r] for r in rows], headers=[cell(h) for h in header], tablefmt="github")


def html_table(header: list[str], rows: list[list[str]]) -> str:
    return tabulate(rows, headers=header, tablefmt="html")


def title(claims_file: dict) -> str:
    return f"{claims_file['title']} (arXiv {claims_file['arxiv']}), scale {claims_file['scale']}"


POWER_NOTE = (
    "P(pass | perfect): how often a replication whose true effect is the paper's would be judged "
    "reproduced with this many seeds, the seed spread taken at its 80% upper confidence bound; marked "
    "post-hoc where the paper gives no effect size and the observed effect stands in (it can only echo "
    "the verdict). P(pass | negligible): the same for an effect too small to matter (stated per claim; "
    "by default a quarter of the paper's effect, else 1% of the baseline): how much 'reproduced' says. "
    "An absolute number is judged on one interval for ours - theirs that carries the paper's own "
    "standard error where it reports a spread."
)


# the claims' columns a printed page has room for (the rest is in the Markdown and HTML tables):
# the claim with its source under it, wrapping, beside its numbers and verdict
LATEX_CLAIM_HEADER = ["claim (source)", "claimed", "ours (95% CI)", "ours − claimed", "verdict"]
LATEX_CLAIM_WRAP = {"claim (source)": 1.3, "verdict": 0.7}


def latex_claims(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    at = {h: header.index(h) for h in ("claim", "source", "claimed", "reproduced (mean ± 95% CI)", "ours − claimed")}
    cut = []
    for r in rows:
        source = r[at["source"]]
        verdict = r[header.index("verdict")].split(" (check with")[0]  # the command is in the Markdown and HTML
        cut.append(
            [
                breakable(r[at["claim"]]) + (f"\n({breakable(source)})" if source else ""),
                r[at["claimed"]],
                r[at["reproduced (mean ± 95% CI)"]],
                r[at["ours − claimed"]],
                verdict,
            ]
        )
    return LATEX_CLAIM_HEADER, cut


def render(claims_file: dict) -> dict[str, str]:
    """{'md': ..., 'tex': ..., 'html': ...} for one paper: the claims first (paper claims, then
    the classes not counted), the budget robustness, then the results per arm with each tuning
    grid shown at its selected point."""
    t = title(claims_file)
    arms_h, arms_r, grid_r = arm_rows(claims_file)
    sections = [(cls, CLASS_TITLES[cls], *claim_rows(claims_file, cls)) for cls in CLASSES]
    sections = [s for s in sections if s[3]]
    bud_h, bud_r = budget_rows(claims_file)
    summary = tally(claims_file["claims"])
    if cost_summary(claims_file):
        summary += f". {cost_summary(claims_file)}"
    md = f"# {t}\n\n{summary}.\n\nMean ± 95% CI half-width over seeds ([low, high] for ratios). {POWER_NOTE}\n"
    tex = PREAMBLE
    body_html = ""
    for cls, name, header, rows in sections:
        md += f"\n## {name}\n\n{markdown_table(header, rows)}\n"
        tex += "\n" + latex_table(*latex_claims(header, rows), f"{t}: {name}", wrap=LATEX_CLAIM_WRAP)
        body_html += f"<h2>{html.escape(name)}</h2>{html_claims_table(claims_file, cls)}"
    if bud_r:  # the same claims judged again at other training budgets, side by side
        md += (
            "\n## Budget robustness\n\nEach claim judged again from runs trained for other budgets (same seeds); "
            "the primary verdict is at the authors' budget where this scale reaches it.\n\n"
            f"{markdown_table(bud_h, bud_r)}\n"
        )
        tex += "\n" + latex_table(bud_h, bud_r, t + ": claims at several training budgets")
        body_html += f"<h2>Budget robustness</h2>{html_table(bud_h, bud_r)}"
    grids = (
        f"Each tuning grid is shown at the point the claims selected; the other {len(grid_r)} grid points"
        if grid_r
        else ""
    )
    md += f"\n## Results per arm\n\n{markdown_table(arms_h, arms_r)}\n"
    tex += "\n" + latex_table(arms_h, arms_r, t + ": results per arm")
    body_html += f"<h2>Results per arm</h2>{html_table(arms_h, arms_r)}"
    if grid_r:
        md += f"\n{grids} are in the HTML table and in MLflow.\n"
        body_html += f"<details><summary>{html.escape(grids)}</summary>{html_table(arms_h, grid_r)}</details>"
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(t)}</title>{PAGE_STYLE}"
        f"</head><body><h1>{html.escape(t)}</h1><p>{html.escape(summary)}.</p><p>Mean ± 95% CI half-width over "
        f"seeds. {html.escape(POWER_NOTE)}</p>{body_html}</body></html>\n"
    )
    return {"md": md, "tex": tex, "html": page}
