"""Load, validate and resolve configs: the one place that knows their shape.

Both the Snakefile and the CLI go through `load_config`, so a bad key fails the
same way everywhere, before any job starts, naming the file, the key path and the reason.
"""
from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = PROJECT_ROOT / "workflow" / "schemas"
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "config.yaml"
SCALES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    """A config that does not match its schema or refers to something missing."""


def put_interpreter_first_on_path() -> str:
    """Prepend this interpreter's bin folder to PATH, so that jobs started from the workflow
    (`python -m logitrepro ...`) run in the same environment as Snakemake itself, even when
    Snakemake was called as .venv/bin/snakemake without activating the environment.
    With --use-conda, the rule's conda environment is activated after this and comes first."""
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path])
    return sys.executable


def _load_schema(name: str) -> dict:
    with open(SCHEMA_DIR / name) as f:
        return yaml.safe_load(f)


def _fill_defaults(validator_cls):
    """A validator that also writes schema defaults into the instance (as Snakemake's validate does)."""
    validate_properties = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


_Validator = _fill_defaults(jsonschema.Draft202012Validator)


def validate(instance: dict, schema_name: str, where: str) -> dict:
    """Validate `instance` in place (defaults filled); raise ConfigError naming key path and reason."""
    validator = _Validator(_load_schema(schema_name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            path = ".".join(str(p) for p in e.absolute_path) or "(top level)"
            lines.append(f"  {path}: {e.message}")
        raise ConfigError(f"{where} is not a valid config:\n" + "\n".join(lines))
    return instance


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    with open(path) as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Config:
    """The validated main config plus the validated configs of the papers it names."""

    main: dict
    papers: dict[str, dict]

    @property
    def scale(self) -> str:
        return self.main["scale"]

    @property
    def seeds(self) -> list[int]:
        return self.main["seeds"][self.scale]

    @property
    def results(self) -> Path:
        return Path(self.main["paths"]["results"])

    @property
    def data_root(self) -> Path:
        return Path(self.main["paths"]["data"])

    def paper(self, paper: str) -> dict:
        if paper not in self.papers:
            raise ConfigError(f"unknown paper {paper!r}; configured: {sorted(self.papers)}")
        return self.papers[paper]

    def experiment(self, paper: str, experiment: str) -> dict:
        exps = self.paper(paper)["experiments"]
        if experiment not in exps:
            raise ConfigError(f"paper {paper!r} has no experiment {experiment!r}; it has {sorted(exps)}")
        return exps[experiment]

    def dataset_of(self, exp: dict) -> str:
        """The experiment's dataset at the running scale (e.g. WikiText-103 at paper scale only)."""
        return exp.get("dataset_at", {}).get(self.scale, exp["dataset"])

    def datasets(self) -> list[str]:
        """The datasets the running scale reads."""
        names = {self.dataset_of(e) for p in self.papers.values() for e in p["experiments"].values()}
        return sorted(names)

    def job_spec(self, paper: str, experiment: str, arm: str, seed: int) -> dict:
        """Everything one training job needs, resolved for the running scale."""
        exp = self.experiment(paper, experiment)
        if arm not in exp["arms"]:
            raise ConfigError(f"experiment {paper}/{experiment} has no arm {arm!r}; it has {sorted(exp['arms'])}")
        hparams = deep_merge(exp["hparams"], exp.get("scales", {}).get(self.scale, {}))
        hparams = deep_merge(hparams, exp["arms"][arm])
        dataset = self.dataset_of(exp)
        data_dir = self.data_root / dataset
        if exp.get("tokenizer") == "bpe":  # text: the corpus tokenized at this vocabulary size
            data_dir = self.data_root / f"{dataset}-bpe{hparams['vocab_size']}"
        return {
            "paper": paper,
            "experiment": experiment,
            "arm": arm,
            "seed": int(seed),
            "scale": self.scale,
            "dataset": dataset,
            "data_dir": str(data_dir),
            "hparams": hparams,
            "tracking": self.main["tracking"],
            "kernels": self.main["kernels"],
        }

    def to_json(self) -> str:
        return json.dumps({"main": self.main, "papers": self.papers}, sort_keys=True)


def load_config(
    main: dict | str | Path | None = None, overrides: dict | None = None, root: str | Path | None = None
) -> Config:
    """Validate the main config (a dict from Snakemake or a path) and every paper config it names.

    Paper configs are read from `paths.paper_configs`, resolved against `root` (default: the cwd).
    """
    if main is None:
        main = DEFAULT_CONFIG
    where = str(main) if not isinstance(main, dict) else "the workflow config"
    data = read_yaml(main) if not isinstance(main, dict) else copy.deepcopy(main)
    if overrides:
        data = deep_merge(data, overrides)
    validate(data, "config.schema.yaml", where)
    root = Path(root) if root is not None else Path.cwd()
    papers = {}
    for name in data["papers"]:
        path = root / data["paths"]["paper_configs"] / f"{name}.yaml"
        paper = validate(read_yaml(path), "paper.schema.yaml", str(path))
        _check_paper(paper, name, str(path))
        papers[name] = paper
    return Config(main=data, papers=papers)


def _check_paper(paper: dict, name: str, where: str) -> None:
    """Cross-references JSON-Schema cannot express: claims name real experiments, arms and scales."""
    if paper["paper"]["id"] != name:
        raise ConfigError(f"{where}: paper.id is {paper['paper']['id']!r} but the file is named {name!r}")
    problems = []
    for i, claim in enumerate(paper["claims"]):
        at = f"claims.{i} ({claim['id']})"
        exp = paper["experiments"].get(claim["experiment"])
        if exp is None:
            problems.append(f"  {at}.experiment: no experiment {claim['experiment']!r}")
            continue
        needed = {"absolute": ["arm"], "bound": ["arm", "bound_metric"],
                  "cost_to_target": ["method", "baseline", "cost"]}.get(claim["kind"], ["method", "baseline"])
        for key in needed:
            if key not in claim:
                problems.append(f"  {at}: a {claim['kind']} claim needs '{key}'")
            elif key not in ("bound_metric", "cost") and claim[key] not in exp["arms"]:
                problems.append(f"  {at}.{key}: no arm {claim[key]!r} in experiment {claim['experiment']!r}")
        banded = claim["kind"] in ("absolute", "difference", "ratio", "cost_to_target") and "accept" not in claim
        if banded and claim.get("claimed") is None:
            problems.append(f"  {at}.claimed: a {claim['kind']} claim needs a claimed value (or an accept region)")
        if banded and "tolerance" not in claim:
            problems.append(f"  {at}.tolerance: a {claim['kind']} claim needs a tolerance (or an accept region)")
        low, high = (claim.get("accept") or [None, None])
        if low is not None and high is not None and low > high:
            problems.append(f"  {at}.accept: low ({low}) is above high ({high})")
    ids = [c["id"] for c in paper["claims"]]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"  claims: id {dup!r} appears more than once")
    if problems:
        raise ConfigError(f"{where} is not a valid paper config:\n" + "\n".join(problems))
