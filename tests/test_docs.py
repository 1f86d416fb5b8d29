"""The documents keep up with the code. A list that grows with the project (papers, verdicts, claim
classes and kinds, config keys, DVC stages) is written once, as a table between two markers,
`<!-- name ... -->` and `<!-- /name -->`, whose first column is the names; each is checked here
against the code that defines it. The README stays a five-minute read, links every page of docs/,
and every page says first who it is for."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from logitrepro.claims.engine import VERDICTS
from logitrepro.claims.kinds import CLASSES, KINDS
from tests.support import PROJECT

README = PROJECT / "README.md"
DOCS = PROJECT / "docs"
README_LIMIT = 9000  # bytes: what a newcomer reads in five minutes; the rest goes to docs/

MARKED = re.compile(r"<!-- (?P<name>[\w-]+)\b[^\n]*?-->\n(?P<body>.*?)<!-- /(?P=name) -->", re.S)


def listed(text: str, marker: str) -> list[str]:
    """The first column of the one table marked `marker`, without its Markdown emphasis."""
    blocks = [m["body"] for m in MARKED.finditer(text) if m["name"] == marker]
    assert len(blocks) == 1, f"expected one table marked <!-- {marker} --> and <!-- /{marker} -->, found {len(blocks)}"
    rows = [line for line in blocks[0].splitlines() if line.startswith("|")][2:]  # past the header and its rule
    return [re.sub(r"[*`]", "", row.split("|")[1]).strip() for row in rows]


def mismatch(names: list[str], truth: list[str]) -> str:
    """What a table gets wrong against the code, in words; empty when it lists exactly the truth."""
    wrong = []
    if extra := sorted(set(names) - set(truth)):
        wrong.append(f"lists what does not exist: {extra}")
    if missing := sorted(set(truth) - set(names)):
        wrong.append(f"omits: {missing}")
    if twice := sorted({n for n in names if names.count(n) > 1}):
        wrong.append(f"lists twice: {twice}")
    return "; ".join(wrong)


def yaml_of(path: str) -> dict:
    return yaml.safe_load((PROJECT / path).read_text())


# (document, marker, what the code defines)
TABLES: list[tuple[Path, str, Callable[[], list[str]]]] = [
    (DOCS / "papers.md", "papers", lambda: sorted(p.stem for p in (PROJECT / "configs" / "papers").glob("*.yaml"))),
    (README, "verdicts", lambda: list(VERDICTS)),
    (README, "claim-classes", lambda: list(CLASSES)),
    (DOCS / "claims.md", "claim-kinds", lambda: list(KINDS)),
    (
        DOCS / "configuration.md",
        "config-keys",
        lambda: list(yaml_of("workflow/schemas/config.schema.yaml")["properties"]),
    ),
    (DOCS / "dvc.md", "dvc-stages", lambda: list(yaml_of("dvc.yaml")["stages"])),
]


@pytest.mark.parametrize("doc, marker, truth", TABLES, ids=[m for _, m, _ in TABLES])
def test_each_table_lists_exactly_what_the_code_has(doc, marker, truth):
    wrong = mismatch(listed(doc.read_text(), marker), truth())
    assert not wrong, f"{doc.relative_to(PROJECT)}, table <!-- {marker} -->: {wrong}"


def test_the_check_sees_a_name_too_many_a_name_too_few_and_a_missing_table():
    doc = "<!-- kinds: the keys -->\n| kind | what |\n|---|---|\n| `ratio` | a |\n| **never** | b |\n<!-- /kinds -->\n"
    assert listed(doc, "kinds") == ["ratio", "never"]
    assert mismatch(["ratio", "never"], ["never", "ratio"]) == ""
    assert "does not exist: ['never']" in mismatch(["ratio", "never"], ["ratio"])
    assert "omits: ['bound']" in mismatch(["ratio", "never"], ["ratio", "never", "bound"])
    assert "twice: ['ratio']" in mismatch(["ratio", "ratio"], ["ratio"])
    with pytest.raises(AssertionError, match="found 0"):
        listed(doc, "stages")


def test_the_readme_stays_short_and_links_every_page_of_docs():
    assert len(README.read_bytes()) < README_LIMIT, "README.md is for a first run; move the detail to docs/"
    text = README.read_text()
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if f"](docs/{p.name})" not in text]
    assert not unlinked, f"README.md links no page {unlinked}"


def test_every_page_of_docs_says_first_who_it_is_for():
    for page in sorted(DOCS.glob("*.md")):
        paragraphs = [p for p in page.read_text().split("\n\n") if p.strip()]
        assert paragraphs[0].startswith("# "), f"{page.name}: a page opens with its title"
        assert paragraphs[1].startswith("For "), f"{page.name}: the first paragraph says who the page is for"
