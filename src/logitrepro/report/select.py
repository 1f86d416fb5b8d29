"""Which claims `logitrepro show` prints: the filters of its command line (--paper, --verdict,
--class), applied to the claims files before any table is drawn, so every view (the terminal
table, --json) shows the same selection.
"""

from __future__ import annotations

from dataclasses import dataclass

from logitrepro.claims.engine import VERDICTS
from logitrepro.claims.kinds import CLASSES


class UnknownChoice(ValueError):
    """A filter value that names no paper, verdict or class."""


def verdict_named(text: str) -> str:
    """The verdict `text` names: its words joined by spaces, hyphens or underscores, or their
    beginning where only one verdict begins so ("not-checked" for "not checked at this scale")."""
    wanted = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    if wanted in VERDICTS:
        return wanted
    starting = [v for v in VERDICTS if wanted and v.startswith(wanted)]
    if len(starting) == 1:
        return starting[0]
    known = ", ".join(v.replace(" ", "-") for v in VERDICTS)
    raise UnknownChoice(f"{text!r} names {'more than one verdict' if starting else 'no verdict'}; verdicts: {known}")


@dataclass(frozen=True)
class ClaimFilter:
    papers: tuple[str, ...] = ()  # empty: every paper
    verdicts: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    def __post_init__(self):
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown:
            raise UnknownChoice(f"no class {', '.join(map(repr, unknown))}; classes: {', '.join(CLASSES)}")

    def keeps(self, claim: dict) -> bool:
        return (
            (not self.verdicts or claim["verdict"] in self.verdicts)
            and (not self.classes or claim.get("class", "paper") in self.classes)
            and (not self.papers or claim["paper"] in self.papers)
        )

    def apply(self, claims_files: list[dict]) -> list[dict]:
        """The claims files of the chosen papers, each with only the claims that pass (a file left
        with none is dropped). A paper no file holds is an error naming the papers there are."""
        present = [cf["paper"] for cf in claims_files]
        absent = [p for p in self.papers if p not in present]
        if absent:
            raise UnknownChoice(
                f"no claims of paper {', '.join(map(repr, absent))}; papers judged: {', '.join(present) or 'none'}"
            )
        out = []
        for cf in claims_files:
            if self.papers and cf["paper"] not in self.papers:
                continue
            kept = [c for c in cf["claims"] if self.keeps({"paper": cf["paper"], **c})]
            if kept:
                out.append({**cf, "claims": kept})
        return out

    def describe(self) -> str:
        """The filter as the command line gave it (empty when there is none)."""
        parts = [f"--paper {p}" for p in self.papers]
        parts += [f"--verdict {v.replace(' ', '-')}" for v in self.verdicts]
        parts += [f"--class {c}" for c in self.classes]
        return " ".join(parts)
