"""Content provenance of workflow outputs, and settling timestamps after a DVC checkout.

Snakemake reruns a job when an input is newer than its output. `dvc pull` and `dvc checkout`
rewrite modification times in whatever order they write files, so a freshly pulled tree looks
out of date everywhere. Each job that reads results therefore records, beside each output
(`<results>/provenance/<output's path under results>.prov.json`, one folder for all of them, not
a file beside every table and plot; beside the output where it lies outside the results), the
SHA-256 of every input it read; `settle` (`logitrepro settle`, which
`make run` runs before Snakemake) gives an output its inputs' newest timestamp when those inputs
still have the recorded content; the workflow only checks that nothing is left to settle.
An input whose content really changed keeps its newer timestamp, and Snakemake reruns as usual.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from logitrepro.files import atomic_write_text, sha256_file

SUFFIX = ".prov.json"
FOLDER = "provenance"  # under the results: where the records of the outputs in them are
# The results folder of the workflow's jobs (the workflow sets it, as it runs them)
RESULTS_ENV = "LOGITREPRO_RESULTS"


def _under(path: str | Path, root: str | Path) -> str | None:
    """`path` relative to `root`, or None where it lies outside it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return None if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def record_path(out: str | Path, results: str | Path | None) -> Path:
    """Where the record of `out` is: in the results' provenance folder, at the output's path
    under the results; beside the output where it lies outside them (or none are named)."""
    rel = _under(out, results) if results else None
    if rel is None:
        return Path(str(out) + SUFFIX)
    return Path(results) / FOLDER / (rel + SUFFIX)


def output_of(prov: Path, root: str | Path) -> Path:
    """The output a record under `root` is of (record_path inverted)."""
    rel = _under(prov, Path(root) / FOLDER)
    base = Path(root) / rel if rel is not None else prov
    return Path(str(base)[: -len(SUFFIX)])


def record(inputs: list[str], outputs: list[str], results: str | Path | None = None) -> None:
    """Write each output's record, {input path: sha256}: where record_path says, in the results
    folder `results` (by default the workflow's, from the environment)."""
    results = results or os.environ.get(RESULTS_ENV)
    hashes = {str(p): sha256_file(p) for p in inputs if Path(p).is_file()}
    for out in outputs:
        path = record_path(out, results)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(str(path), json.dumps({"inputs": hashes}, indent=1, sort_keys=True))


def _records(root: str | Path) -> list[tuple[Path, Path, dict]]:
    """(output, its record, {input: sha256}) for every output under `root` that has a record, in
    the provenance folder or beside it (where results made before that folder keep theirs)."""
    records = []
    for prov in Path(root).rglob("*" + SUFFIX):
        out = output_of(prov, root)
        try:
            inputs = json.loads(prov.read_text())["inputs"]
        except (OSError, ValueError, KeyError):
            continue
        if out.exists() and inputs:
            records.append((out, prov, inputs))
    return records


def gone_inputs(root: str | Path, records: list | None = None) -> dict[Path, list[str]]:
    """{output under `root`: the inputs it was made from that are gone}, in the order found: an
    output, then what was made from it (the table of claims made from a deleted run goes with
    them). Reads only."""
    records = _records(root) if records is None else records
    gone_from: dict[Path, list[str]] = {}
    removed: set[str] = set()
    while True:
        found = {
            out: sorted(p for p in inputs if not Path(p).exists() or os.path.abspath(p) in removed)
            for out, _prov, inputs in records
            if out not in gone_from
        }
        found = {out: gone for out, gone in found.items() if gone}
        if not found:
            return gone_from
        gone_from.update(found)
        removed |= {os.path.abspath(out) for out in found}


def remove_made_from_gone(root: str | Path, dry_run: bool = False, keep=frozenset()) -> list[str]:
    """Remove each output under `root` made from an input that is gone (a deleted run folder), and
    what was made from it. Snakemake does not rebuild a missing input of an output it considers up
    to date, so claims would go on resting on runs that no longer exist; without the output,
    Snakemake rebuilds it, and the missing runs with it. Outputs in `keep` are left alone (the
    workflow makes them again). Returns a line per output; `dry_run` removes nothing."""
    records = _records(root)
    prov_of = {out: prov for out, prov, _inputs in records}
    lines = []
    for out, gone in gone_inputs(root, records).items():  # judged on the results as found: dry and real agree
        if out in keep:
            continue
        if not dry_run:
            out.unlink()
            prov_of[out].unlink()
        more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
        outcome = "it would be removed so that it is made again" if dry_run else "removed, so that it is made again"
        lines.append(f"{out} was made from files that are gone ({gone[0]}{more}); {outcome}")
    return lines


def retime(root: str | Path, max_passes: int = 8, dry_run: bool = False) -> list[str]:
    """Move outputs under `root` forward in time to their inputs' newest mtime where the inputs
    are unchanged since the output was made (those made from files that are gone are left to
    remove_made_from_gone). Returns a line when it moves any; `dry_run` moves none."""
    records = _records(root)
    gone_from = gone_inputs(root, records)
    records = [r for r in records if r[0] not in gone_from]
    verified = {}

    def unchanged(path: str, sha: str) -> bool:
        if path not in verified:
            verified[path] = Path(path).is_file() and sha256_file(path)
        return verified[path] == sha

    moved_to: dict[str, int] = {}  # absolute path: its new time, applied at the end (never in a dry run)
    prov_of = {os.path.abspath(out): prov for out, prov, _inputs in records}

    def mtime_ns(path) -> int:
        return moved_to.get(os.path.abspath(path)) or os.stat(path).st_mtime_ns

    for _ in range(max_passes):  # an output's new time can make its own outputs look stale: repeat
        moved = False
        for out, _prov, inputs in records:
            if not all(unchanged(p, sha) for p, sha in inputs.items()):
                continue
            newest = max(mtime_ns(p) for p in inputs)
            if mtime_ns(out) <= newest:
                moved_to[os.path.abspath(out)] = newest + 1_000_000  # 1 ms later: strictly newer than every input
                moved = True
        if not moved:
            break
    lines = []
    if moved_to:
        verb = "would move" if dry_run else "moved"
        lines.append(
            f"{verb} {len(moved_to)} outputs under {root} forward in time to their inputs, whose content is "
            f"what they were made from (a checkout's timestamps)"
        )
    if not dry_run:
        for out, stamp in moved_to.items():
            os.utime(out, ns=(stamp, stamp))
            os.utime(prov_of[out], ns=(stamp, stamp))
    return lines


def settle(root: str | Path, dry_run: bool = False) -> list[str]:
    """Put the outputs under `root` in order: remove_made_from_gone, then retime. An explicit step
    (`logitrepro settle`), never part of reading the Snakefile: a dry run, or a second Snakemake
    started beside a running one, must not change the results it looks at."""
    return remove_made_from_gone(root, dry_run) + retime(root, dry_run=dry_run)
