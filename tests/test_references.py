"""The repository stands on its own: every file, folder and module its code, configs, rules and
documents name exists in it (a user has only the repository)."""

from __future__ import annotations

import importlib
import re

from tests.support import PROJECT

SCANNED = ["src", "configs", "workflow", "docs", "benchmarks", "README.md", "Makefile", "Snakefile", "dvc.yaml"]
TEXT = {".py", ".yaml", ".yml", ".md", ".smk", ".rst", ""}

# a path inside the repository: a top-level folder it has, then path characters
PATH = re.compile(r"(?<![\w/.-])((?:src|configs|workflow|docs|benchmarks|tests)/[\w./<>{}*-]*[\w*>}])")
DOC = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")  # README.md, PAPERS.md ...
MODULE = re.compile(r"(?<![\w./])(logitrepro(?:\.[a-z_][a-z0-9_]*)+)(?![\w.]*\.ya?ml)")

# Named on purpose though not here: paths in the authors' repositories (cited beside the claims
# they shape), what a command writes, and a placeholder.
NOT_OURS = (
    "configs/icml/",  # the SSO authors' repository
    "src/chronos/",  # Chronos' repository
    "benchmarks/results/",  # written by the benchmarks (ignored by git)
    "logitrepro.tasks.x",  # "the task named `x` is the module logitrepro.tasks.x"
)


def scanned_files():
    for name in SCANNED:
        p = PROJECT / name
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            if f.suffix in TEXT and "__pycache__" not in f.parts:
                yield f


def resolves(dotted: str) -> bool:
    """A module, or an attribute of the longest importable prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def path_exists(ref: str) -> bool:
    if "{" not in ref:
        ref = ref.rstrip("}")  # a path inside braces: `{type: string, default: configs/papers}`
    if any(c in ref for c in "<{*"):  # a pattern: its fixed part must exist
        ref = re.split(r"[<{*]", ref)[0].rsplit("/", 1)[0]
    return (PROJECT / ref.rstrip(".")).exists()


def test_every_named_file_folder_and_module_exists():
    missing = []
    for f in scanned_files():
        text = f.read_text(errors="replace")
        where = f.relative_to(PROJECT)
        missing += [f"{where}: {m}" for m in PATH.findall(text) if not path_exists(m)]
        missing += [f"{where}: {m}" for m in DOC.findall(text) if not (PROJECT / m).exists()]
        missing += [f"{where}: {m}" for m in MODULE.findall(text) if not resolves(m)]
    missing = [m for m in missing if not any(m.split(": ", 1)[1].startswith(p) for p in NOT_OURS)]
    assert not missing, "references to what is not in the repository:\n" + "\n".join(sorted(set(missing)))


def test_the_check_sees_a_missing_file_and_a_missing_module():
    assert not path_exists("src/logitrepro/papers/cnn_svm.py") and path_exists("src/logitrepro/tasks/")
    assert not resolves("logitrepro.papers") and resolves("logitrepro.files.read_json")
    assert DOC.findall("as PAPERS.md says") == ["PAPERS.md"] and not (PROJECT / "PAPERS.md").exists()
