"""Content provenance of workflow outputs, and settling timestamps after a DVC checkout.

Snakemake reruns a job when an input is newer than its output. `dvc pull` and `dvc checkout`
rewrite modification times in whatever order they write files, so a freshly pulled tree looks
out of date everywhere. Each job that reads results therefore records, beside each output
(`<output>.prov.json`), the SHA-256 of every input it read; before the DAG is built, `settle`
gives an output its inputs' newest timestamp when those inputs still have the recorded content.
An input whose content really changed keeps its newer timestamp, and Snakemake reruns as usual.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SUFFIX = ".prov.json"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record(inputs: list[str], outputs: list[str]) -> None:
    """Write <output>.prov.json for each output: {input path: sha256}."""
    hashes = {str(p): file_sha256(p) for p in inputs if Path(p).is_file()}
    for out in outputs:
        tmp = Path(str(out) + SUFFIX + ".tmp")
        tmp.write_text(json.dumps({"inputs": hashes}, indent=1, sort_keys=True))
        os.replace(tmp, str(out) + SUFFIX)


def settle(root: str | Path, max_passes: int = 8) -> int:
    """Move outputs under `root` forward in time to their inputs' newest mtime where the inputs
    are unchanged since the output was made. Returns the number of files touched."""
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

    def unchanged(path: str, sha: str) -> bool:
        if path not in verified:
            verified[path] = Path(path).is_file() and file_sha256(path)
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
