"""What the package declares: every module it imports, at versions constraints.txt admits; the
optional dependencies as extras; metadata setuptools builds without a deprecation notice."""

import ast
import importlib.metadata
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import logitrepro
from logitrepro import extras
from logitrepro.cli import main
from logitrepro.config import load_config
from logitrepro.plan import probe_one, probes_of
from tests.support import PROJECT

tomllib = pytest.importorskip("tomllib", reason="the standard library reads TOML from Python 3.11")
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]


def declared(group: str | None = None) -> dict[str, Requirement]:
    """The requirements of the core (group None) or of one extra, by canonical name."""
    reqs = PYPROJECT["dependencies"] if group is None else PYPROJECT["optional-dependencies"][group]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def pinned() -> dict[str, str]:
    out = {}
    for line in (PROJECT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            out[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return out


def imported_modules() -> set[str]:
    """The top-level modules the package's source imports, less the standard library and itself."""
    mods = set()
    for path in (PROJECT / "src" / "logitrepro").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return mods - set(sys.stdlib_module_names) - {"logitrepro"}


# Modules of extras that `make test` does not install, whose distribution is named otherwise:
# where they are not installed, installed metadata cannot say which distribution they come from.
NAMED_OTHERWISE = {"psycopg2": ["psycopg2-binary"]}  # the cluster extra (make test-cluster)


def test_every_module_the_package_imports_is_declared():
    """An import that works only because another package happens to pull it in (psutil did) breaks
    the day that package drops it."""
    distributions = importlib.metadata.packages_distributions()
    everything = set(declared()) | {n for g in PYPROJECT["optional-dependencies"] for n in declared(g)}
    undeclared = {
        m: distributions.get(m)
        for m in imported_modules()
        if not {canonicalize_name(d) for d in distributions.get(m) or NAMED_OTHERWISE.get(m, [m])} & everything
    }
    assert not undeclared, f"imported but not in pyproject's dependencies or extras: {undeclared}"


@pytest.mark.parametrize("group", [None, *PYPROJECT["optional-dependencies"]])
def test_each_declared_range_admits_the_version_constraints_txt_pins(group):
    pins = pinned()
    for name, req in declared(group).items():
        assert name in pins, f"{name} is declared but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req} excludes the pinned {name}=={pins[name]}"


def test_the_mujoco_modules_are_an_extra_and_not_core():
    core, extra = set(declared()), set(declared("mujoco"))
    assert {canonicalize_name(m) for m in extras.EXTRAS["mujoco"]["modules"]} == extra
    assert not core & extra


def test_setuptools_builds_the_metadata_without_a_deprecation_notice(tmp_path):
    """The licence as a TOML table made setuptools print a deprecation box (twice per `make run`)."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, project / name)
    shutil.copytree(PROJECT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (tmp_path / "out").mkdir()
    build = f"import setuptools.build_meta as b; print(b.prepare_metadata_for_build_wheel({str(tmp_path / 'out')!r}))"
    p = subprocess.run([sys.executable, "-c", build], cwd=project, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "deprecat" not in (p.stdout + p.stderr).lower(), p.stderr[-2000:]
    metadata = (tmp_path / "out" / p.stdout.strip().splitlines()[-1] / "METADATA").read_text()
    assert "License-Expression: MIT" in metadata
    assert f"Version: {logitrepro.__version__}\n" in metadata  # one version: the one --version prints
    assert 'Requires-Dist: mujoco>=3; extra == "mujoco"' in metadata
    assert "Requires-Dist: psutil" in metadata


def job(env: str) -> dict:
    return {"paper": "sso", "experiment": "imitation", "arm": "sso", "hparams": {"env": env}}


def test_a_mujoco_environment_needs_the_extra_and_a_classic_one_does_not():
    assert extras.extras_of_job(job("Hopper-v5")) == ["mujoco"]
    assert extras.extras_of_job(job("CartPole-v1")) == []
    assert extras.extras_of_job(job("NoSuchEnv-v0")) == []  # the task's own check names the known ones
    assert extras.extras_of_job({"hparams": {}}) == []


def test_a_missing_extra_stops_the_job_naming_the_extra_and_its_install_line(monkeypatch):
    monkeypatch.setitem(extras.EXTRAS, "mujoco", {**extras.EXTRAS["mujoco"], "modules": ("no_such_module_xyz",)})
    with pytest.raises(extras.MissingExtra) as e:
        extras.require_for_job(job("Hopper-v5"))
    assert "sso/imitation/sso" in str(e.value) and "no_such_module_xyz" in str(e.value)
    assert "pip install -c constraints.txt -e '.[mujoco]'" in str(e.value)
    extras.require_for_job(job("CartPole-v1"))  # needs no extra: no error


@pytest.fixture
def mujoco_missing(monkeypatch):
    monkeypatch.setitem(extras.EXTRAS, "mujoco", {**extras.EXTRAS["mujoco"], "modules": ("no_such_module_xyz",)})
    monkeypatch.chdir(PROJECT)  # the paper configs are found from the working folder


def test_a_paper_scale_hopper_job_without_the_extra_exits_6_before_training(mujoco_missing, tmp_path, capsys):
    argv = ["train", "--config", "scale=paper", "--set", f"paths.results={tmp_path}", "--paper", "sso"]
    assert main([*argv, "--experiment", "hopper", "--runs", "sls:0"]) == 6
    err = capsys.readouterr().err
    assert err.startswith("logitrepro: sso/hopper/sls needs the optional dependencies 'mujoco'")
    assert not any(tmp_path.iterdir())  # no run folder: it stopped before training


def test_a_plan_names_the_missing_extra_of_a_probe_without_running_it(mujoco_missing, tmp_path):
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "paper"}, root=PROJECT)
    probe = next(p for p in probes_of(cfg, ["sso"]) if p.experiment == "hopper")
    result = probe_one(cfg, probe, steps=1, limit_s=1, workdir=tmp_path, data={}, log=lambda *a: None)
    assert result["status"] == "failed" and "'.[mujoco]'" in result["error"]
    assert not (tmp_path / "probes").exists()


def test_validate_notes_the_extras_a_scale_needs_that_are_not_installed(mujoco_missing, capsys):
    assert main(["validate", "--config", "scale=paper"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: sso/hopper need the optional dependencies 'mujoco'")
    assert main(["validate", "--config", "scale=cpu"]) == 0  # no MuJoCo job at this scale
    assert "note:" not in capsys.readouterr().out
