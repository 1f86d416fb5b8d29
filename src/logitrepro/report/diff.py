"""Two sets of judged claims side by side: for every claim the verdict, mean and CI on each side;
for every flip the per-seed values and what differed between the runs it read (commit, task
code, packages, data checksum, hyper-parameters, device) or in the claim itself (claimed value,
region, scale). A paper claim whose verdict changed is a flip that fails `logitrepro diff`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from logitrepro.claimsets import ClaimSet
from logitrepro.report.tables import fmt_measured


@dataclass
class ClaimDiff:
    paper: str
    claim_id: str
    cls: str
    verdict_a: str | None  # None: the claim is not on this side
    verdict_b: str | None
    measured_a: str = ""
    measured_b: str = ""
    per_seed_a: dict = field(default_factory=dict)
    per_seed_b: dict = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    moved: bool = False  # the measured statistic (mean, interval) differs between the sides

    @property
    def flipped(self) -> bool:
        return None not in (self.verdict_a, self.verdict_b) and self.verdict_a != self.verdict_b

    @property
    def change(self) -> str:
        """What changed, in a word; empty when nothing did."""
        if self.flipped:
            return "FLIP"
        if self.verdict_b is None:
            return "only in A"
        if self.verdict_a is None:
            return "only in B"
        return "moved" if self.moved else ""

    def order(self) -> tuple:
        """Flips first (the paper's claims before the rest), then claims on one side only, then
        measurements that moved, then the unchanged; by paper and claim within each."""
        rank = {"FLIP": 0, "only in A": 2, "only in B": 2, "moved": 3, "": 4}[self.change]
        if self.change == "FLIP" and self.cls != "paper":
            rank = 1
        return rank, self.paper, self.claim_id


def _claims(cs: ClaimSet) -> dict[tuple[str, str], tuple[dict, dict]]:
    return {(cf["paper"], c["id"]): (c, cf) for cf in cs.files for c in cf["claims"]}


def _runs_read(claim: dict, claims_file: dict) -> dict[tuple[str, int], dict]:
    arms = set(claim.get("reads") or (claim.get("arms") or {}).values())
    return {
        (r["arm"], int(r["seed"])): r
        for r in claims_file.get("runs", [])
        if r["experiment"] == claim["experiment"] and r["arm"] in arms
    }


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _values(runs: dict, key: str) -> set:
    return {str((r.get("made_from") or {}).get(key)) for r in runs.values()}


def what_differed(a: tuple[dict, dict], b: tuple[dict, dict]) -> list[str]:
    """Each difference between two judgements of one claim, in words."""
    (ca, fa), (cb, fb) = a, b
    out = []
    for key in ("scale", "claimed", "tolerance", "region", "metric"):
        if ca.get(key) != cb.get(key):
            out.append(f"claim {key}: {ca.get(key)} → {cb.get(key)}")
    sa, sb = (ca.get("seeds") or {}).get("used"), (cb.get("seeds") or {}).get("used")
    if sa != sb:
        out.append(f"seeds used: {sa} → {sb}")
    ra, rb = _runs_read(ca, fa), _runs_read(cb, fb)
    if not ra or not rb:
        return out + ["no run records on one side to compare (a claims file from before runs were recorded)"]
    unrecorded = [side for side, runs in (("A", ra), ("B", rb)) if not any(r.get("made_from") for r in runs.values())]
    if unrecorded:  # every field would read "None → ...": say it once
        return out + [
            f"the runs of side {' and '.join(unrecorded)} carry no record of what they were made from "
            "(a claims file from before logitrepro recorded commit, packages, data and hyper-parameters per run)"
        ]
    for key, words in (
        ("git_commit", "commit"),
        ("code", "task code"),
        ("data_checksum", "data"),
        ("device", "device"),
    ):
        va, vb = _values(ra, key), _values(rb, key)
        if va != vb:
            out.append(f"{words}: {', '.join(sorted(va))} → {', '.join(sorted(vb))}")
    pa = _flat({k: v for r in ra.values() for k, v in ((r.get("made_from") or {}).get("packages") or {}).items()})
    pb = _flat({k: v for r in rb.values() for k, v in ((r.get("made_from") or {}).get("packages") or {}).items()})
    for name in sorted(set(pa) | set(pb)):
        if pa.get(name) != pb.get(name):
            out.append(f"package {name}: {pa.get(name)} → {pb.get(name)}")
    keys = sorted(set(ra) | set(rb))
    hp_changes: dict[str, tuple] = {}
    for k in keys:
        ha = _flat((ra.get(k, {}).get("made_from") or {}).get("hparams") or {})
        hb = _flat((rb.get(k, {}).get("made_from") or {}).get("hparams") or {})
        for name in set(ha) | set(hb):
            if ha.get(name) != hb.get(name):
                hp_changes.setdefault(f"{k[0]}.{name}", (ha.get(name), hb.get(name)))
    out += [f"hyper-parameter {n}: {va} → {vb}" for n, (va, vb) in sorted(hp_changes.items())]
    missing = [f"{arm}/seed{s}" for arm, s in keys if (arm, s) not in ra or (arm, s) not in rb]
    if missing:
        out.append(f"runs on one side only: {', '.join(missing)}")
    return out


def compare(a: ClaimSet, b: ClaimSet) -> list[ClaimDiff]:
    ia, ib = _claims(a), _claims(b)
    out = []
    for key in sorted(set(ia) | set(ib)):
        ca, cb = ia.get(key), ib.get(key)
        any_side = (ca or cb)[0]
        d = ClaimDiff(
            paper=key[0],
            claim_id=key[1],
            cls=any_side.get("class", "paper"),
            verdict_a=ca[0]["verdict"] if ca else None,
            verdict_b=cb[0]["verdict"] if cb else None,
            measured_a=fmt_measured(ca[0]) if ca else "",
            measured_b=fmt_measured(cb[0]) if cb else "",
        )
        d.moved = bool(ca and cb and ca[0].get("measured") != cb[0].get("measured"))
        if d.flipped or d.moved:
            d.per_seed_a, d.per_seed_b = ca[0].get("per_seed") or {}, cb[0].get("per_seed") or {}
            d.differences = what_differed(ca, cb)
        out.append(d)
    return out


def paper_flips(diffs: list[ClaimDiff]) -> list[ClaimDiff]:
    return [d for d in diffs if d.flipped and d.cls == "paper"]


def _seeds(values: dict) -> str:
    def num(v):
        return f"{v:.4g}" if isinstance(v, (int, float)) and math.isfinite(v) else str(v)

    return ", ".join(f"{s}: {num(v)}" for s, v in sorted(values.items(), key=lambda kv: int(kv[0]))) or "–"


def _either(a: str, b: str) -> str:
    """One side's value, or `a → b` where they differ."""
    return a if a == b else f"{a or '–'} → {b or '–'}"


def format_diff(a: ClaimSet, b: ClaimSet, diffs: list[ClaimDiff], show_all: bool = False) -> str:
    """Plain text: the claims that changed (every claim with show_all), flips first; a count of
    each kind of change; then each flip in detail."""
    from tabulate import tabulate

    shown = sorted((d for d in diffs if show_all or d.change), key=ClaimDiff.order)
    rows = [
        [
            d.change,
            f"{d.paper} {d.claim_id}" + ("" if d.cls == "paper" else f" ({d.cls})"),
            _either(d.verdict_a or "", d.verdict_b or ""),
            _either(d.measured_a, d.measured_b),
        ]
        for d in shown
    ]
    out = [f"A: {a.label}", f"B: {b.label}"]
    if rows:
        header = ["change", "claim", "verdict (A → B)", "mean ± CI (A → B)"]
        out += ["", tabulate(rows, header, tablefmt="simple", maxcolwidths=[None, 48, 40, 48])]
    out += ["", summary(diffs, show_all)]
    for d in sorted((d for d in diffs if d.flipped), key=ClaimDiff.order):
        out += ["", f"{d.paper} {d.claim_id}: {d.verdict_a} → {d.verdict_b}"]
        out.append(f"  per seed A: {_seeds(d.per_seed_a)}")
        out.append(f"  per seed B: {_seeds(d.per_seed_b)}")
        out += [f"  {x}" for x in d.differences] or ["  nothing recorded differs: the seeds' spread decided it"]
    return "\n".join(out)


def summary(diffs: list[ClaimDiff], show_all: bool = False) -> str:
    """One line: how many claims changed and how."""
    flips = [d for d in diffs if d.flipped]
    one_side = [d for d in diffs if d.change in ("only in A", "only in B")]
    moved = [d for d in diffs if d.change == "moved"]
    same = len(diffs) - len(flips) - len(one_side) - len(moved)
    unchanged = f"{same} unchanged" + ("" if show_all or not same else " (--all lists them)")
    if not (flips or one_side or moved):
        return f"nothing changed: {len(diffs)} claims, the same verdicts and measurements" + (
            "" if show_all else " (--all lists them)"
        )
    parts = [
        f"{len(flips)} verdicts flipped ({len(paper_flips(diffs))} of paper claims)" if flips else "no verdict flipped",
        f"{len(one_side)} on one side only" if one_side else "",
        f"{len(moved)} measured differently, same verdict" if moved else "",
        unchanged if same else "",
    ]
    return f"{len(diffs)} claims: " + "; ".join(p for p in parts if p)
