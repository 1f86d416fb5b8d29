"""Paper-style tables from a claims file: claimed beside reproduced, as Markdown, LaTeX, HTML.

Two tables per paper: per-arm results (every reported metric, mean +- 95% CI half-width over
seeds, with the paper's number where an absolute claim gives one) and the claims with verdicts.
"""
from __future__ import annotations

import html
import math


def decimals_for(x: float) -> int:
    """Two decimals, more for small numbers so that 0.041 and 0.052 stay apart."""
    x = abs(x)
    if not math.isfinite(x) or x >= 1 or x == 0:
        return 2
    return 3 if x >= 0.1 else 4


def fmt_stats(st: dict | None, digits: int | None = None) -> str:
    if not st:
        return "–"
    digits = decimals_for(st["mean"]) if digits is None else digits
    if st["n"] < 2 or not math.isfinite(st["ci_high"]):
        return f"{st['mean']:.{digits}f} (n=1)"
    return f"{st['mean']:.{digits}f} ± {(st['ci_high'] - st['ci_low']) / 2:.{digits}f}"


def fmt_measured(claim: dict) -> str:
    """Seed mean and CI; per-seed values where a seed is not finite (a target never reached)."""
    if claim.get("measured"):
        return fmt_stats(claim["measured"])
    per_seed = claim.get("per_seed") or {}
    return "per seed: " + ", ".join(f"{v:.2f}" for v in per_seed.values()) if per_seed else "–"


def fmt_num(x, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def fmt_region(region) -> str:
    low, high = region
    return f"[{'-∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}]"


def arm_rows(claims_file: dict) -> tuple[list[str], list[list[str]]]:
    metrics = claims_file.get("report_metrics") or []
    labels = claims_file.get("report_labels") or {}
    claimed = {}
    for c in claims_file["claims"]:
        if c["kind"] == "absolute":
            claimed[(c["experiment"], c["arms"]["arm"], c["metric"])] = c
    header = ["experiment", "arm"]
    for m in metrics:
        if any(k[2] == m for k in claimed):
            header.append(f"{labels.get(m, m)}: claimed")
        header.append(f"{labels.get(m, m)}: reproduced")
    header.append("runs")
    rows = []
    for exp, arms in claims_file["arms"].items():
        for arm, summary in arms.items():
            row = [exp, arm]
            for m in metrics:
                if any(k[2] == m for k in claimed):
                    c = claimed.get((exp, arm, m))
                    row.append(fmt_num(c["claimed"]) if c else "–")
                row.append(fmt_stats(summary["metrics"].get(m)))
            row.append(f"{summary['n_runs']} ({summary['n_diverged']} diverged)" if summary["n_diverged"] else str(summary["n_runs"]))
            rows.append(row)
    return header, rows


def claim_rows(claims_file: dict) -> tuple[list[str], list[list[str]]]:
    header = ["claim", "statement", "test", "claimed", "reproduced (mean ± 95% CI)", "verdict"]
    rows = []
    for c in claims_file["claims"]:
        test = c["kind"]
        if c.get("accept") is not None:
            test += " in " + fmt_region(c["accept"])
        elif c.get("tolerance") is not None and c["kind"] in ("absolute", "difference", "ratio", "cost_to_target"):
            test += f" ±{c['tolerance']:g}"
        default = {"direction": "≥ 0", "bound": "≥ bound"}.get(c["kind"], "–")
        claimed = fmt_num(c["claimed"]) if c.get("claimed") is not None else default
        measured = fmt_measured(c)
        verdict = c["verdict"]
        if verdict == "not checked at this scale" and c.get("check_with"):
            verdict += f" (check with {c['check_with']})"
        units = f" {c['units']}" if c.get("units") else ""
        rows.append([c["id"], c["statement"], test, claimed + units if c.get("claimed") is not None else claimed,
                     measured + (units if c.get("measured") else ""), verdict])
    return header, rows


def budget_rows(claims_file: dict) -> tuple[list[str], list[list[str]]]:
    """Claims judged at several training budgets: one row per claim, one verdict per budget."""
    by_base: dict[str, dict[float, dict]] = {}
    for c in claims_file["claims"]:
        by_base.setdefault(c.get("base_id", c["id"]), {})[c.get("budget", 1)] = c
    multi = {k: v for k, v in by_base.items() if len(v) > 1}
    budgets = sorted({b for v in multi.values() for b in v})
    header = ["claim"] + [f"{b:g}× budget" for b in budgets]
    rows = [[base] + [f"{fmt_measured(v[b])}: {v[b]['verdict']}" if b in v else "–" for b in budgets]
            for base, v in multi.items()]
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def latex_table(header: list[str], rows: list[list[str]], caption: str) -> str:
    def esc(s: str) -> str:
        s = str(s)
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                     ("±", r"$\pm$"), ("≥", r"$\geq$"), ("–", "--"),
                     ("∞", r"$\infty$"), ("×", r"$\times$")):
            s = s.replace(a, b)
        return s

    cols = "l" * len(header)
    body = "\n".join(" & ".join(esc(c) for c in r) + r" \\" for r in rows)
    return (f"\\begin{{table}}[ht]\n\\centering\n\\caption{{{esc(caption)}}}\n\\begin{{tabular}}{{{cols}}}\n\\toprule\n"
            + " & ".join(esc(h) for h in header) + " \\\\\n\\midrule\n" + body + "\n\\bottomrule\n\\end{tabular}\n\\end{table}\n")


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def title(claims_file: dict) -> str:
    return f"{claims_file['title']} (arXiv {claims_file['arxiv']}), scale {claims_file['scale']}"


def render(claims_file: dict) -> dict[str, str]:
    """{'md': ..., 'tex': ..., 'html': ...} for one paper."""
    arms_h, arms_r = arm_rows(claims_file)
    cl_h, cl_r = claim_rows(claims_file)
    t = title(claims_file)
    bud_h, bud_r = budget_rows(claims_file)
    md = (f"# {t}\n\nMean ± 95% CI half-width over seeds.\n\n## Results per arm\n\n{markdown_table(arms_h, arms_r)}\n\n"
          f"## Claims\n\n{markdown_table(cl_h, cl_r)}\n")
    tex = latex_table(arms_h, arms_r, t + ": results per arm") + "\n" + latex_table(cl_h, cl_r, t + ": claims")
    budget_html = ""
    if bud_r:  # the same claims judged again at larger training budgets, side by side
        md += f"\n## Budget robustness\n\nEach claim judged again from runs trained longer (same seeds).\n\n{markdown_table(bud_h, bud_r)}\n"
        tex += "\n" + latex_table(bud_h, bud_r, t + ": claims at several training budgets")
        budget_html = f"<h2>Budget robustness</h2>{html_table(bud_h, bud_r)}"
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(t)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
            "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}th{background:#eee}</style></head><body>"
            f"<h1>{html.escape(t)}</h1><p>Mean ± 95% CI half-width over seeds.</p><h2>Results per arm</h2>"
            f"{html_table(arms_h, arms_r)}<h2>Claims</h2>{html_table(cl_h, cl_r)}{budget_html}</body></html>\n")
    return {"md": md, "tex": tex, "html": page}


def terminal_summary(claims_files: list[dict]) -> str:
    """The claims of every paper as one plain table for the terminal."""
    rows = []
    for cf in claims_files:
        for c in cf["claims"]:
            measured = fmt_measured(c)
            claimed = fmt_num(c.get("claimed")) if c.get("claimed") is not None else c["kind"]
            rows.append([cf["paper"], c["id"], claimed, measured, c["verdict"]])
    header = ["paper", "claim", "claimed", "reproduced (mean ± CI)", "verdict"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))
    scales = sorted({cf["scale"] for cf in claims_files})
    return "\n".join([f"Claims (scale: {', '.join(scales)})", line(header), line(["-" * w for w in widths])]
                     + [line(r) for r in rows])
