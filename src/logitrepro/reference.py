"""The committed reference verdicts of a scale, and a run compared with them.

reference/<scale>/<paper>.json holds what a run of this version at that scale judged, claim by
claim (verdict, mean and CI, P(pass | perfect)), with the commit and the machine it ran on:
small, flat, made by `logitrepro reference` from a claims folder. `make run` ends with
`logitrepro compare-reference`: which verdicts agree with the reference, which differ, and
whether a difference is within what the claim's power predicts. The same commit and seeds on
another CPU train slightly different runs (floating-point order), so a claim a faithful rerun
passes only 34% of the time may well get another verdict here: that is information about the
claim, not a fault of the run, and the command exits 0 either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from logitrepro.files import read_json, write_json
from logitrepro.verdicts import NOT_CHECKED, REPRODUCED

FOLDER = "reference"
# A faithful rerun misses a claim with probability 1 - P(pass | perfect): a difference with a
# reproduced side is "within its power" when that miss is not rare.
RARE = 0.05
DIGITS = 4  # significant digits of the numbers kept: enough to recognise a run, not to store it


def reference_dir(root: str | Path, scale: str) -> Path:
    return Path(root) / FOLDER / scale


def _rounded(value):
    return float(f"{value:.{DIGITS}g}") if isinstance(value, (int, float)) else None


def run_origin(claims_file: dict, project: str | Path = ".") -> dict:
    """The commit, machine and packages of a paper's runs, as their records give them (the
    machine in words from a run's run.json, where one can be read)."""
    made = next((r.get("made_from") or {} for r in claims_file.get("runs", []) if r.get("made_from")), {})
    machine = made.get("device", "")
    for r in claims_file.get("runs", []):
        info = Path(project) / r.get("run_dir", "") / "run.json"
        if r.get("run_dir") and info.is_file():
            machine = json.loads(info.read_text()).get("device_name") or machine
            break
    return {"git_commit": made.get("git_commit", ""), "machine": machine, "packages": made.get("packages", {})}


def reference_entry(claims_file: dict, project: str | Path = ".") -> dict:
    """A paper's reference: its claims' verdicts and numbers, flat, and where they came from."""
    claims = {}
    for c in claims_file["claims"]:
        measured, power = c.get("measured") or {}, c.get("power") or {}
        entry = {
            "verdict": c["verdict"],
            "class": c.get("class", "paper"),
            "mean": _rounded(measured.get("mean")),
            "ci_low": _rounded(measured.get("ci_low")),
            "ci_high": _rounded(measured.get("ci_high")),
            "n_seeds": measured.get("n"),
            "p_pass_perfect": _rounded(power.get("perfect")),
        }
        claims[c["id"]] = {k: v for k, v in entry.items() if v is not None}  # a claim not checked: its verdict
    return {
        "paper": claims_file["paper"],
        "scale": claims_file["scale"],
        **run_origin(claims_file, project),
        "claims": claims,
    }


def write_reference(claims_files: list[dict], root: str | Path, project: str | Path = ".") -> list[Path]:
    written = []
    for cf in claims_files:
        path = reference_dir(root, cf["scale"]) / f"{cf['paper']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, reference_entry(cf, project))
        written.append(path)
    return written


@dataclass(frozen=True)
class Comparison:
    """One claim, here and in the reference."""

    paper: str
    claim: str
    ours: str
    theirs: str
    why: str  # for a difference: whether it is within the claim's power, and by what
    within: bool | None  # None: agree, or not comparable

    @property
    def agrees(self) -> bool:
        return self.ours == self.theirs

    @property
    def comparable(self) -> bool:
        return NOT_CHECKED not in (self.ours, self.theirs) and self.theirs != "absent"


def _overlap(a: dict, b: dict) -> bool | None:
    ends = (a.get("ci_low"), a.get("ci_high"), b.get("ci_low"), b.get("ci_high"))
    if any(e is None for e in ends):
        return None
    return ends[0] <= ends[3] and ends[2] <= ends[1]


def explain(ours: dict, theirs: dict) -> tuple[str, bool | None]:
    """Whether a difference of verdicts is what the claim's power predicts. With a reproduced
    side: a faithful rerun passes with P(pass | perfect), so the other side's miss is expected
    unless that is near 1. Otherwise (or with the power unknown): whether the two CIs overlap,
    i.e. whether the seeds' spread alone can make the difference."""
    p = theirs.get("p_pass_perfect")
    if p is None:
        p = ours.get("p_pass_perfect")
    if REPRODUCED in (ours["verdict"], theirs["verdict"]) and p is not None:
        if 1 - p >= RARE:
            return f"within its power: a faithful rerun passes it {p:.0%} of the time (P(pass | perfect))", True
        return (
            f"beyond its power: a faithful rerun passes it {p:.0%} of the time; compare the runs (logitrepro diff)",
            False,
        )
    overlap = _overlap(ours, theirs)
    if overlap is None:
        return "its power and CIs are not known: compare the runs (logitrepro diff)", None
    if overlap:
        return "within the seeds' spread: the two 95% CIs overlap", True
    return "beyond the seeds' spread: the two 95% CIs do not overlap; compare the runs (logitrepro diff)", False


def compare(claims_files: list[dict], references: dict[str, dict]) -> list[Comparison]:
    """Every claim of the papers that have a reference, here and there."""
    rows = []
    for cf in claims_files:
        ref = references.get(cf["paper"])
        if ref is None:
            continue
        ours = reference_entry(cf)["claims"]
        for claim_id, mine in ours.items():
            theirs = ref["claims"].get(claim_id, {"verdict": "absent"})
            row = Comparison(cf["paper"], claim_id, mine["verdict"], theirs["verdict"], "", None)
            if not row.agrees and row.comparable:
                why, within = explain(mine, theirs)
                row = Comparison(cf["paper"], claim_id, mine["verdict"], theirs["verdict"], why, within)
            rows.append(row)
    return rows


def load_references(folder: Path) -> dict[str, dict]:
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def render(rows: list[Comparison], references: dict[str, dict], origin: dict) -> str:
    """The comparison as a person reads it at the end of a run: the count, then each difference."""
    ref = next(iter(references.values()))
    compared = [r for r in rows if r.comparable]
    differ = [r for r in compared if not r.agrees]
    within = sum(r.within is True for r in differ)
    beyond = sum(r.within is False for r in differ)
    lines = [
        f"Compared with the reference verdicts ({ref['scale']} scale, commit {ref['git_commit'][:8]}, "
        f"{ref['machine']}); this run: commit {origin['git_commit'][:8]}, {origin['machine']}.",
        f"{len(compared) - len(differ)} of {len(compared)} claims judged on both agree, {len(differ)} differ"
        + (f" ({within} within what the claim's power predicts, {beyond} beyond it)" if differ else "")
        + f"; {len(rows) - len(compared)} not judged on both sides.",
    ]
    for r in sorted(differ, key=lambda r: (r.within is not False, r.paper, r.claim)):
        lines.append(f"  {r.claim}: reference {r.theirs}, here {r.ours}")
        lines.append(f"      {r.why}")
    if differ:
        lines.append(
            "A difference is information, not a failure: the same commit and seeds on another machine train "
            "slightly different runs."
        )
    return "\n".join(lines)
