"""Which code a job runs: a digest of the source files of its task, the training loop and
everything of the package they import, found by reading the code (no import). The workflow makes
it a job param and the checkpoint records it, so an edit to a loss or a metric reruns exactly the
jobs whose code changed, and a run never resumes on code it did not start with."""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# Modules that record where results go and how they came about, but do not shape them.
NOT_RESULT_SHAPING = {"tracking.py", "runinfo.py", "code_digest.py"}


def _logitrepro_imports(path: Path, package_root: Path) -> frozenset[Path]:
    """The package's source files a module imports (anywhere in it: late imports count). Parsed
    once per state of the file: every task's digest walks the same shared modules, and
    `snakemake -n` computes them all."""
    st = path.stat()
    return _parsed_imports(path, package_root, st.st_size, st.st_mtime_ns)


@functools.cache
def _parsed_imports(path: Path, package_root: Path, size: int, mtime_ns: int) -> frozenset[Path]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                rel = base.relative_to(package_root.parent).parts
                names = [".".join([*rel, *(node.module.split(".") if node.module else [])])]
            else:
                names = [node.module or ""]
            names += [f"{names[0]}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if not name.startswith("logitrepro"):
                continue
            candidate = package_root.parent.joinpath(*name.split("."))
            for file in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if file.is_file():
                    found.add(file)
    return frozenset(found)


@functools.cache
def code_digest(task: str) -> str:
    """A digest of the source files a job of `task` runs: the task's module, the training loop,
    and everything of the package they import (found by reading the code, not importing it).
    A job param: an edit to a loss or a metric reruns exactly the jobs whose code changed."""
    package_root = PACKAGE
    todo = {package_root / "tasks" / f"{task}.py", package_root / "train.py"}
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        seen.add(path)
        todo |= {p for p in _logitrepro_imports(path, package_root) if p.name not in NOT_RESULT_SHAPING} - seen
    h = hashlib.sha256()
    for path in sorted(seen):
        h.update(str(path.relative_to(package_root)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]
