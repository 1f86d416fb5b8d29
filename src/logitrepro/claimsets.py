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


# What makes a git revision comparable, and what to compare when it is not: said wherever a
# revision records no claims, so the remedy is never a `dvc pull` that cannot help.
MAKE_COMPARABLE = (
    "`make run` records its claims in dvc.lock at its end (logitrepro lock-claims); a commit made without "
    "that dvc.lock, or from a run of Snakemake alone, has none, so there is nothing for `dvc pull` to fetch. "
    "To make a run comparable: `python -m logitrepro lock-claims` after it (or `dvc commit -f`), "
    "`git add dvc.lock`, commit, and `dvc push` to share the results. Meanwhile compare claims folders, "
    "or the invocations MLflow recorded: logitrepro diff mlflow:-2 mlflow:-1"
)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)


def _described(rev: str, repo: Path) -> str:
    sha = _git(repo, "rev-parse", "--short", f"{rev}^{{commit}}").stdout.strip()
    return rev if not sha or rev.startswith(sha) else f"{rev} ({sha})"


def _has_lock(rev: str, repo: Path) -> bool:
    return _git(repo, "cat-file", "-e", f"{rev}:dvc.lock").returncode == 0


def _unrecorded(rev: str, repo: Path, names: list[str]) -> str:
    """Why a revision whose dvc.yaml declares claims files holds none of their contents."""
    where = (
        "it has no dvc.lock"
        if not _has_lock(rev, repo)
        else f"its dvc.lock records no content for {', '.join(names)} (the run was not committed with DVC)"
    )
    return f"git revision {_described(rev, repo)} cannot be compared: {where}. {MAKE_COMPARABLE}"


def _where_else(repo: Path, md5: str | None, rev: str) -> tuple[str, bool]:
    """Where else the object could come from, in words, and whether `dvc pull` would get it."""
    from dvc.repo import Repo

    config = Repo(str(repo)).config
    name = config["core"].get("remote")
    if not name or name not in config["remote"]:
        return "no DVC remote is configured to pull it from", False
    url = str(config["remote"][name]["url"])
    if "://" in url and not url.startswith("file://"):  # a cloud remote: only a fetch can tell
        return (
            f"nor could DVC read it from the remote '{name}' ({url}): `dvc fetch --rev {rev}` says why "
            "(credentials, network, or it was never pushed)",
            True,
        )
    root = Path(url.removeprefix("file://"))
    if not root.is_dir():
        return f"the default remote '{name}' ({root}) does not exist on this machine", False
    if not md5 or not (root / "files" / "md5" / md5[:2] / md5[2:]).is_file():
        return f"the default remote '{name}' ({root}) does not hold it either", False
    return f"the default remote '{name}' ({root}) holds it but reading it failed: try `dvc pull`", True


def _absent(name: str, rev: str, repo: Path, md5: str | None) -> str:
    """Why a claims file a revision recorded cannot be read here, and whether `dvc pull` helps."""
    elsewhere, pull_helps = _where_else(repo, md5, rev)
    said = (
        f"{name} at {_described(rev, repo)}: dvc.lock records its content (md5 {md5}), which is not in "
        f"this machine's DVC cache; {elsewhere}"
    )
    if pull_helps:
        return said
    return (
        f"{said}, so `dvc pull` cannot get it here. Push it from the machine that recorded it to a remote this "
        "one reaches, or compare claims folders or the invocations MLflow recorded (logitrepro diff mlflow:-2 "
        "mlflow:-1)"
    )


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
            f"git revision {_described(rev, repo)} versions nothing under {claims_dir}. {MAKE_COMPARABLE}"
        )
    infos = {name: fs.info(name) for name in names}
    # dvc.yaml declares an output DVC has no hash for: the revision never recorded that file
    unrecorded = [n for n, i in infos.items() if (i.get("dvc_info") or {}).get("isout") and not i.get("md5")]
    if unrecorded:
        raise ClaimsNotFound(_unrecorded(rev, repo, unrecorded))
    files = []
    for name in names:
        try:
            text = fs.read_text(name)
        except Exception:  # the object is neither in the cache nor on a remote this machine reaches
            raise ClaimsNotFound(_absent(name, rev, repo, infos[name].get("md5"))) from None
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
