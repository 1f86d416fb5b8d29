"""Content provenance of workflow outputs, and settling timestamps after a DVC checkout.

Snakemake reruns a job when an input is newer than its output. `dvc pull` and `dvc checkout`
rewrite modification times in whatever order they write files, so a freshly pulled tree looks
out of date everywhere. Each job that reads results therefore records, beside each output
(`<output>.prov.json`), the SHA-256 of every input it read; before the DAG is built, `settle`
gives an output its inputs' newest timestamp when those inputs still have the recorded content.
An input whose content really changed keeps its newer timestamp, and Snakemake reruns as usual.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from logitrepro.files import atomic_write_text, sha256_file

SUFFIX = ".prov.json"


def record(inputs: list[str], outputs: list[str]) -> None:
    """Write <output>.prov.json for each output: {input path: sha256}."""
    hashes = {str(p): sha256_file(p) for p in inputs if Path(p).is_file()}
    for out in outputs:
        atomic_write_text(str(out) + SUFFIX, json.dumps({"inputs": hashes}, indent=1, sort_keys=True))


def settle(root: str | Path, max_passes: int = 8) -> int:
    """Move outputs under `root` forward in time to their inputs' newest mtime where the inputs
    are unchanged since the output was made; and remove an output made from an input that is gone
    (a deleted run folder). Snakemake does not rebuild a missing input of an output it considers
    up to date, so claims would go on resting on runs that no longer exist; without the output,
    Snakemake rebuilds it, and the missing runs with it. Returns the number of files touched."""
    records = []
    for prov in Path(root).rglob("*" + SUFFIX):
        out = Path(str(prov)[: -len(SUFFIX)])
        try:
            inputs = json.loads(prov.read_text())["inputs"]
        except (OSError, ValueError, KeyError):
            continue
        if out.exists() and inputs:
            records.append((out, prov, inputs))
    touched, verified = set(), {}
    for out, prov, inputs in records:
        gone = sorted(p for p in inputs if not Path(p).exists())
        if gone:
            out.unlink()
            prov.unlink()
            touched.add(out)
            print(
                f"logitrepro: {out} was made from files that are gone ({gone[0]}"
                f"{f' and {len(gone) - 1} more' if len(gone) > 1 else ''}); removed, so that it is made again",
                file=sys.stderr,
            )
    records = [r for r in records if r[0] not in touched]

    def unchanged(path: str, sha: str) -> bool:
        if path not in verified:
            verified[path] = Path(path).is_file() and sha256_file(path)
        return verified[path] == sha

    for _ in range(max_passes):  # an output's new time can make its own outputs look stale: repeat
        moved = False
        for out, prov, inputs in records:
            if not all(unchanged(p, sha) for p, sha in inputs.items()):
                continue
            newest = max(os.stat(p).st_mtime_ns for p in inputs)
            if os.stat(out).st_mtime_ns <= newest:
                stamp = newest + 1_000_000  # 1 ms later: strictly newer than every input
                os.utime(out, ns=(stamp, stamp))
                os.utime(prov, ns=(stamp, stamp))
                touched.add(out)
                moved = True
        if not moved:
            break
    return len(touched)
