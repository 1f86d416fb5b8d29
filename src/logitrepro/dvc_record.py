"""The end of `make run`: the judged claims recorded in dvc.lock and the DVC cache, so that a
commit of dvc.lock is a git revision `logitrepro diff` can read later.

Snakemake runs the pipeline and writes no dvc.lock. `dvc commit` of every stage would copy each
checkpoint into the DVC cache (about 560 MB at cpu scale, beside the same in results/runs), so
only the stages made from the runs are committed: each paper's claims, metrics, tables and plots,
the board and the claims history (about 6 MB at cpu scale). Their dependencies are hashed, not cached: dvc.lock
still says which runs the claims were judged from. The runs' own stages stay unrecorded until a
`dvc repro` or `dvc commit` of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from logitrepro.config import Config

COMMIT_TIMEOUT_S = 600  # hashing the runs folders the claims depend on: seconds at cpu scale


def recorded_stages(cfg: Config) -> list[str]:
    """The dvc.yaml stages made from the runs (dvcgen names them): the papers', the board's and
    the claims history's."""
    return [*cfg.papers, "board"] + (["claims_history"] if cfg.main["tracking"]["enabled"] else [])


def _declared(root: Path) -> dict:
    path = root / "dvc.yaml"
    return (yaml.safe_load(path.read_text()) or {}).get("stages", {}) if path.exists() else {}


def _out_paths(stage: dict) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics") for o in stage.get(key) or []]


def _mtimes(root: Path, outs: list[str]) -> dict[Path, int]:
    """Modification times of the outputs' files: `dvc commit` sets them to now, in no particular
    order, and Snakemake would then find a table older than its claims and make it again."""
    found = {}
    for out in outs:
        path = root / out
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path] if path.exists() else []
        found.update({f: f.stat().st_mtime_ns for f in files})
    return found


def record_claims(stages: list[str], root: str | Path = ".") -> tuple[bool, str]:
    """`dvc commit` the stages (those dvc.yaml declares and whose outputs all exist), keeping their
    outputs' modification times. Returns whether they were recorded, and what to tell the user:
    what to commit, or why nothing was recorded (no DVC here, no dvc.yaml, outputs missing,
    DVC's error). Never raises: recording is a convenience at the end of a run that succeeded."""
    root = Path(root)
    if not (root / ".dvc").is_dir():
        return False, (
            "Claims not recorded for `logitrepro diff <git revision>`: DVC is not set up here (no .dvc/; "
            "a clone of the repository has it, or run `dvc init`)"
        )
    declared = _declared(root)
    wanted = [s for s in stages if s in declared]
    if not wanted:
        return False, "Claims not recorded for `logitrepro diff <git revision>`: dvc.yaml declares none of their stages"
    # a stage with an output missing (a paper this run left out, or an older run's results) cannot
    # be committed: the others are, and it is named
    incomplete = [s for s in wanted if any(not (root / o).exists() for o in _out_paths(declared[s]))]
    wanted = [s for s in wanted if s not in incomplete]
    left_out = f"{', '.join(incomplete)} left out: outputs missing (not made by this run)" if incomplete else ""
    if not wanted:
        return False, f"Claims not recorded in dvc.lock: {left_out}"
    outs = [o for s in wanted for o in _out_paths(declared[s])]
    kept = _mtimes(root, outs)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        p = subprocess.run(
            [sys.executable, "-m", "dvc", "commit", "--force", "--quiet", *wanted],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMIT_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        p = None
    finally:
        for f, ns in kept.items():
            if f.exists():
                os.utime(f, ns=(ns, ns))
    if p is None:
        return False, f"Claims not recorded in dvc.lock: `dvc commit` took over {COMMIT_TIMEOUT_S} s"
    if p.returncode != 0:
        lines = (p.stderr or p.stdout).strip().splitlines()
        why = next((x for x in lines if x.startswith("ERROR")), lines[-1] if lines else f"exit {p.returncode}")
        return False, f"Claims not recorded in dvc.lock: `dvc commit` failed: {why}"
    recorded = ", ".join(wanted) + "; not the runs' checkpoints" + (f"; {left_out}" if left_out else "")
    return True, (
        f"Claims recorded in dvc.lock and the DVC cache ({recorded}). "
        "Commit dvc.lock with this code (git add dvc.lock) and `logitrepro diff <that commit>` reads these claims"
    )
