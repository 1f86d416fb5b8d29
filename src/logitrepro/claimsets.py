"""Where a set of judged claims comes from, for `logitrepro diff`: a claims folder (or one claims
file), a git revision (the claims files DVC versioned at that commit), or an invocation recorded
in MLflow's claims history (`mlflow:<parent run id>`, or `mlflow:-1` for the newest, `mlflow:-2`
for the one before).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from logitrepro.files import DamagedFile, read_json
from logitrepro.provenance import SUFFIX
from logitrepro.repair import JUDGE_AGAIN


class ClaimsNotFound(RuntimeError):
    """A side of a diff that names no readable set of claims."""


@dataclass
class ClaimSet:
    label: str  # where it came from, in words
    files: list[dict]  # one claims file per paper


def _from_folder(path: Path) -> ClaimSet:
    files = [path] if path.is_file() else sorted(p for p in path.glob("*.json") if not p.name.endswith(SUFFIX))
    if not files:
        raise ClaimsNotFound(f"{path} holds no claims files (results/claims/<paper>.json)")
    try:
        return ClaimSet(str(path), [read_json(p, JUDGE_AGAIN) for p in files])
    except DamagedFile as e:  # a side that cannot be read is no side: never a flip
        raise ClaimsNotFound(str(e)) from None


def _is_revision(rev: str, repo: Path) -> bool:
    probe = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo, capture_output=True, text=True
    )
    return probe.returncode == 0


def _from_revision(rev: str, repo: Path, claims_dir: str) -> ClaimSet:
    """The claims files DVC versioned at `rev` (the paper stages' metrics, cached)."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(str(repo), rev=rev)
    try:
        names = sorted(p for p in fs.ls(claims_dir, detail=False) if p.endswith(".json") and not p.endswith(SUFFIX))
    except FileNotFoundError:
        names = []
    if not names:
        raise ClaimsNotFound(
            f"git revision {rev} versions no claims under {claims_dir} (commit dvc.lock after `dvc repro`, "
            f"and `dvc pull` if its results live on a remote)"
        )
    files = []
    for name in names:
        try:
            text = fs.read_text(name)
        except Exception as e:  # the object is neither in the cache nor on a remote this machine reaches
            raise ClaimsNotFound(f"{name} at {rev}: {e} (run `dvc pull` or `dvc fetch --rev {rev}` first)") from None
        try:
            files.append(json.loads(text))
        except ValueError as e:
            raise ClaimsNotFound(
                f"{name} at {rev} is not valid JSON ({e}): that commit versioned a damaged claims file; "
                "compare another revision"
            ) from None
    return ClaimSet(f"git {rev}", files)


def _from_mlflow(ref: str, tracking: dict) -> ClaimSet:
    from logitrepro.tracking import make_tracker

    tracker = make_tracker({**tracking, "enabled": True})
    if ref.lstrip("-").isdigit():
        history = tracker.claims_history()
        index = -int(ref) - 1 if ref.startswith("-") else int(ref)
        if not 0 <= index < len(history):
            raise ClaimsNotFound(f"mlflow:{ref}: the claims history holds {len(history)} recorded invocations")
        ref = history[index].info.run_id
    try:
        files = tracker.read_claims_files(ref)
    except Exception as e:
        raise ClaimsNotFound(f"mlflow:{ref} is no recorded invocation of the claims history ({e})") from None
    return ClaimSet(f"mlflow {ref}", files)


def load_claim_set(where: str, tracking: dict, claims_dir: str = "results/claims", repo: str | Path = ".") -> ClaimSet:
    """The claims at `where`: a folder or file, `mlflow:<ref>`, or a git revision (tried in that order)."""
    if where.startswith("mlflow:"):
        return _from_mlflow(where.removeprefix("mlflow:"), tracking)
    path = Path(where)
    if path.exists():
        return _from_folder(path)
    if _is_revision(where, Path(repo)):
        return _from_revision(where, Path(repo), claims_dir)
    raise ClaimsNotFound(
        f"{where!r} is neither a claims folder, a git revision, nor mlflow:<parent run id> (mlflow:-1 is the newest)"
    )
