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

    @property
    def flipped(self) -> bool:
        return None not in (self.verdict_a, self.verdict_b) and self.verdict_a != self.verdict_b


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
        if d.flipped or (ca and cb and ca[0].get("measured") != cb[0].get("measured")):
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


def format_diff(a: ClaimSet, b: ClaimSet, diffs: list[ClaimDiff]) -> str:
    """Plain text: a table of every claim, then each flip in detail."""
    header = ["paper", "claim", "class", "A verdict", "A mean (CI)", "B verdict", "B mean (CI)", ""]
    rows = []
    for d in diffs:
        mark = (
            "FLIP"
            if d.flipped
            else ("only in A" if d.verdict_b is None else "only in B" if d.verdict_a is None else "")
        )
        rows.append(
            [d.paper, d.claim_id, d.cls, d.verdict_a or "–", d.measured_a, d.verdict_b or "–", d.measured_b, mark]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(r):
        return "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()

    flips = [d for d in diffs if d.flipped]
    out = [f"A: {a.label}", f"B: {b.label}", "", line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append("")
    out.append(
        f"{len(flips)} verdicts flipped ({len(paper_flips(diffs))} of paper claims) of {len(diffs)} claims"
        if flips
        else f"no verdict flipped ({len(diffs)} claims)"
    )
    for d in flips:
        out += ["", f"{d.paper} {d.claim_id}: {d.verdict_a} → {d.verdict_b}"]
        out.append(f"  per seed A: {_seeds(d.per_seed_a)}")
        out.append(f"  per seed B: {_seeds(d.per_seed_b)}")
        out += [f"  {x}" for x in d.differences] or ["  nothing recorded differs: the seeds' spread decided it"]
    return "\n".join(out)
