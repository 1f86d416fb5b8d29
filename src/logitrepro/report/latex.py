"""LaTeX tables a paper's appendix can \\input: booktabs, tabularx and graphicx are all they need
(Debian's texlive-latex-base and texlive-latex-recommended), and they stay on the page of a plain
`article` (text 345 pt wide). The claims wrap their text columns in a tabularx; the tables of
numbers shrink to the text width where they are wider; no float holds more rows than a page
does (a float never breaks across pages: the rest continues in the next, "(continued)").
tests/report/test_latex.py compiles every paper's tables with pdflatex.
"""

from __future__ import annotations

PREAMBLE = "% needs \\usepackage{booktabs,tabularx,graphicx}\n"

# What one float holds: a float longer than the page overflows its bottom edge. A plain
# article's page holds about 48 lines of \small text; a float's caption and rules take a few, and
# a wrapping cell takes a line per CHARS_PER_LINE of its text (a cautious count: narrow columns).
LINES_PER_FLOAT = 36
CHARS_PER_LINE = 16
ROWS_PER_FLOAT = 30  # of the tables that do not wrap

# Where a long identifier may break across lines (after . _ - /): invisible in the source text,
# an \allowbreak in LaTeX. Claim ids have no spaces, and a narrow column cannot hold the longest.
BREAK = "\u200b"

SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}

# the symbols the tables use that have no ASCII form: math, or what LaTeX writes for them
SYMBOLS = {
    "±": r"$\pm$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "–": "--",
    "→": r"$\to$",
    "∞": r"$\infty$",
    "×": r"$\times$",
    "−": "$-$",
    "∈": r"$\in$",
    "…": r"\dots{}",
    "·": r"$\cdot$",
    BREAK: r"\allowbreak{}",
    "\n": r"\newline{}",  # only inside a wrapping column
}


def escape(text: object) -> str:
    """Text as LaTeX typesets it: its special characters escaped, its symbols as math."""
    return "".join(SPECIAL.get(ch) or SYMBOLS.get(ch) or ch for ch in str(text))


def breakable(identifier: str) -> str:
    """An identifier that may break after each . _ - / , (claim ids run to 40 characters, the
    authors' file paths in a claim's source to 80)."""
    for ch in "._-/,":
        identifier = identifier.replace(ch, ch + BREAK)
    return identifier


def _float(caption: str, body: str) -> str:
    return (
        "\\begin{table}[htbp]\n\\centering\n\\small\n\\setlength{\\tabcolsep}{4pt}\n"
        f"\\caption{{{escape(caption)}}}\n{body}\\end{{table}}\n"
    )


def _lines(header: list[str], rows: list[list]) -> str:
    head = " & ".join(escape(h) for h in header) + " \\\\\n\\midrule\n"
    return "\\toprule\n" + head + "".join(" & ".join(escape(c) for c in r) + " \\\\\n" for r in rows) + "\\bottomrule\n"


def _row_lines(row: list, header: list[str], wrap: dict[str, float]) -> int:
    """How many lines a row takes at most: its longest wrapping cell, a line per CHARS_PER_LINE."""
    return max(
        (
            sum(1 + len(part) // max(1, int(CHARS_PER_LINE * wrap[h])) for part in str(c).split("\n"))
            for h, c in zip(header, row)
            if h in wrap
        ),
        default=1,
    )


def _chunks(header: list[str], rows: list[list], wrap: dict[str, float] | None) -> list[list[list]]:
    """The rows in floats that each fit a page."""
    if not wrap:
        return [rows[i : i + ROWS_PER_FLOAT] for i in range(0, len(rows), ROWS_PER_FLOAT)] or [[]]
    chunks, lines = [[]], 0
    for row in rows:
        need = _row_lines(row, header, wrap)
        if chunks[-1] and lines + need > LINES_PER_FLOAT:
            chunks.append([])
            lines = 0
        chunks[-1].append(row)
        lines += need
    return chunks


def latex_table(header: list[str], rows: list[list], caption: str, wrap: dict[str, float] | None = None) -> str:
    """Booktabs floats that each fit a page. `wrap` names the columns that wrap, with their share
    of the width left over (tabularx X columns, shares summing to their number; a word in them may
    hyphenate, the first too); without it the table shrinks to the text width where it is wider
    (never enlarged)."""
    floats = []
    for n, chunk in enumerate(_chunks(header, rows, wrap)):
        if wrap:
            spec = "".join(
                f">{{\\raggedright\\arraybackslash\\hsize={wrap[h]:g}\\hsize\\hspace{{0pt}}}}X" if h in wrap else "l"
                for h in header
            )
            body = f"\\begin{{tabularx}}{{\\linewidth}}{{{spec}}}\n{_lines(header, chunk)}\\end{{tabularx}}\n"
        else:  # \width is the table's natural width inside \resizebox
            body = (
                "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%\n"
                f"\\begin{{tabular}}{{{'l' * len(header)}}}\n{_lines(header, chunk)}\\end{{tabular}}}}\n"
            )
        floats.append(_float(caption if n == 0 else f"{caption} (continued)", body))
    return "\n".join(floats)
