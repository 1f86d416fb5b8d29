"""How the package hangs together: no import circle anywhere in src/logitrepro (imports inside
functions count: a late import still ties two modules), tasks know no paper config, kernels know
no model or task, claims know no model, kernel or task, optimisers know no
task, and the typed hyper-parameters (logitrepro.hparams) import nothing of the package."""

import ast
import subprocess
import sys
from pathlib import Path

from tests.support import PROJECT

SRC = PROJECT / "src"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The logitrepro modules a file imports (resolved to modules that exist)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found |= {f"{base}.{a.name}" for a in node.names} | {base}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("logitrepro")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    return {m: {d for d in imports_of(p) if d in modules and d != m} for m, p in modules.items()}


def test_no_import_circle_in_the_package():
    g = graph()
    circles = set()

    def walk(module, path):
        for dep in sorted(g[module]):
            if dep in path:
                cycle = path[path.index(dep) :]
                if not any(m.endswith("__init__") for m in cycle):
                    circles.add(" -> ".join(cycle + [dep]))
            elif len(path) < 12:
                walk(dep, path + [dep])

    for module in sorted(g):
        # a package's __init__ re-exporting its own modules is not a circle between modules
        g[module] = {d for d in g[module] if not (module.startswith(d + ".") or d.startswith(module + "."))}
    for module in sorted(g):
        walk(module, [module])
    assert not circles, sorted(circles)


def test_layers_import_only_downwards():
    g = graph()

    def deps(prefix):
        return {d for m, ds in g.items() if m.startswith(prefix) for d in ds}

    assert not {d for d in deps("logitrepro.kernels") if d.startswith(("logitrepro.models", "logitrepro.tasks"))}
    assert not {
        d
        for d in deps("logitrepro.claims")
        if d.startswith(("logitrepro.models", "logitrepro.kernels", "logitrepro.tasks", "logitrepro.config"))
    }
    assert not {d for d in deps("logitrepro.tasks") if d.startswith(("logitrepro.config", "logitrepro.claims"))}
    assert not {d for d in deps("logitrepro.models") if d.startswith("logitrepro.tasks")}
    # optimisers declare their hyper-parameters with the typed ones every task extends, a leaf
    # below both: an optimiser never reaches up into the tasks that use it
    assert not {d for d in deps("logitrepro.optim") if d.startswith("logitrepro.tasks")}
    assert not g["logitrepro.hparams"], g["logitrepro.hparams"]


def test_verdict_names_are_a_leaf_that_tracking_reads_without_the_claims_engine():
    """MLflow tracking counts verdicts by name; importing the engine for them would tie tracking to
    scipy and to every change in how claims are judged."""
    g = graph()
    assert g["logitrepro.verdicts"] == set()
    tracking = {d for m, ds in g.items() if m.startswith("logitrepro.tracking") for d in ds}
    assert not {d for d in tracking if d.startswith("logitrepro.claims")}


def test_loading_the_configs_imports_no_scipy():
    """Snakemake loads the configs on every start, and the loader builds every claim with its kind
    (logitrepro.claims.kinds), whose judging methods need scipy: they import it when they judge."""
    code = (
        "import sys; from logitrepro.config import load_config; "
        f"cfg = load_config({str(PROJECT / 'configs' / 'config.yaml')!r}, root={str(PROJECT)!r}); "
        "[cfg.claims(p) for p in cfg.papers]; "
        "print(sorted(m for m in ('scipy', 'numpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
