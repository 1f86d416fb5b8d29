"""The evaluation a training job already did, kept beside its checkpoint.

A training job evaluates its final checkpoint in-process (torch and MLflow are loaded by
then) and keeps the result here; the evaluate stage reuses it when the checkpoint and the
package's code are byte-for-byte the ones it was computed from, and otherwise evaluates from
scratch. This saves one interpreter start (importing torch and MLflow, about 4-5 s of CPU) per
run, which is most of an evaluate job's cost for the small runs.

Deliberately light: no torch, no MLflow.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

CACHE = "evaluation.json"
PACKAGE = Path(__file__).resolve().parent


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def code_fingerprint() -> str:
    """A hash of every source file of the package (a changed metric is a changed file)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def key(run_dir: str | Path) -> dict:
    return {"checkpoint_sha256": _sha256_file(Path(run_dir) / "checkpoint.pt"), "code": code_fingerprint()}


def store(run_dir: str | Path, result: dict) -> None:
    path = Path(run_dir) / CACHE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"key": key(run_dir), "result": result}, indent=2))
    tmp.replace(path)  # atomic: an interrupted job never leaves half a cache


def load(run_dir: str | Path) -> dict | None:
    """The cached evaluation, or None when there is none or it is stale."""
    path = Path(run_dir) / CACHE
    if not path.exists() or not (Path(run_dir) / "checkpoint.pt").exists():
        return None
    try:
        cached = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return cached["result"] if cached.get("key") == key(run_dir) else None
