"""Typed hyper-parameters: each task declares its own as a frozen dataclass with commented
defaults (as nanoGPT's GPTConfig), extending the training loop's `LoopHParams`.

A paper config's `hparams`, its per-scale overrides and its arms are merged and turned into the
task's dataclass by `build`, which checks every key's name, type and range and names, for each
problem, the config file, the key path and the reason. A misspelt key is an error, never a
silent fall-back to a default.

Each dataclass also says what a run of its task reports (`produces`): every metric's name and
which way is better, so a claim on it need not say so (the config loader fills a claim's
`better` from here and refuses one that contradicts it).

No torch and nothing else of the package here: the config loader checks every job's
hyper-parameters before any job starts, and optimisers declare theirs with `hp` too.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Metric:
    """What a run says about one metric it reports: which way is better ('higher', 'lower', or
    None where neither is, as torchmetrics' `higher_is_better`: a count of steps, a run's status,
    a diagnostic a claim may want either way), and whether the judge computes it from the runs
    (across an experiment's arms) rather than the run itself."""

    better: Literal["higher", "lower"] | None
    by_judge: bool = False


HIGHER, LOWER, NEITHER = Metric("higher"), Metric("lower"), Metric(None)


class HParamsError(ValueError):
    """Hyper-parameters that do not fit their task: unknown keys, wrong types, out of range.
    `problems` holds (key path, reason) pairs."""

    def __init__(self, where: str, problems: list[tuple[str, str]]):
        self.where, self.problems = where, problems
        super().__init__(f"{where}:\n" + "\n".join(f"  {path}: {why}" for path, why in problems))


def hp(
    default: Any = dataclasses.MISSING,
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
) -> Any:
    """A field with a range: min/max inclusive, `above` exclusive. Without a default it is required."""
    meta = {k: v for k, v in (("min", min), ("max", max), ("above", above)) if v is not None}
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple for a sequence default (hyper-parameters are frozen)")
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class LoopHParams:
    """What the shared training loop reads; every task's hyper-parameters extend these."""

    steps: int = hp(min=1)  # training steps (the budget a claim's `budgets` multiply)
    eval_every: int = hp(min=1)  # validation metrics every N steps (the curves)
    checkpoint_every: int = hp(min=1)  # resume point every N steps
    log_every: int | None = hp(None, min=1)  # detailed training logs every N steps (default: eval_every)
    spike_nats: float = hp(0.5, above=0)  # a loss spike: the loss jumps this far above its running average
    spike_burnin: int = hp(20, min=0)  # steps before spikes are counted
    # keep every step's training loss: a spike can then be judged against what the experiment's
    # other arms do on the same batch (the batches are a function of seed and step)
    loss_trace: bool = False

    def produces(self) -> dict[str, Metric]:
        """The metrics a run of this task reports, by name (claims may only read these), each with
        the way that is better. A task extends its loop's: `super().produces() | {...}`."""
        out = {"status": NEITHER, "steps": NEITHER}  # what happened, and the budget the config set
        # a diverged run (1) is worse than one that trained; spikes, and time, are costs
        out |= dict.fromkeys(("diverged", "loss_spikes", "instability_events", "train_s", "train_wall_s"), LOWER)
        if self.loss_trace:  # computed by the judge across the experiment's arms (logitrepro.metrics.instability)
            out |= dict.fromkeys(("instability_episodes", "spike_episodes"), Metric("lower", by_judge=True))
        return out

    def metric_names(self) -> set[str]:
        """The names `produces` gives, without their directions."""
        return set(self.produces())

    @property
    def log_interval(self) -> int:
        return self.log_every or self.eval_every

    def check(self) -> list[tuple[str, str]]:
        """Checks across fields, [(key, why)]; a task's dataclass adds its own."""
        return []


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_type(value, tp, path: str) -> tuple[Any, list[tuple[str, str]]]:
    """(the value as the field holds it, problems). Lists become tuples (frozen)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None, []
        options = [a for a in args if a is not type(None)]
        for option in options:
            converted, problems = _check_type(value, option, path)
            if not problems:
                return converted, []
        return value, [(path, f"{value!r} is not {' or '.join(_type_name(o) for o in args)}")]
    if origin is Literal:
        if value in args:
            return value, []
        return value, [(path, f"{value!r} is not one of {list(args)}")]
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return value, [(path, f"{value!r} is not a list")]
        item_types = args[:1] if origin is list or (len(args) == 2 and args[1] is Ellipsis) else args
        if origin is tuple and item_types != args[:1] and len(item_types) != len(value):
            return value, [(path, f"{value!r} needs {len(item_types)} items")]
        out, problems = [], []
        for i, item in enumerate(value):
            item_tp = item_types[0] if len(item_types) == 1 else item_types[i]
            converted, p = _check_type(item, item_tp, f"{path}[{i}]")
            out.append(converted)
            problems += p
        return tuple(out), problems
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, [(path, f"{value!r} is not a number")]
        return float(value), []
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return value, [(path, f"{value!r} is not an integer")]
        return value, []
    if tp is bool:
        if not isinstance(value, bool):
            return value, [(path, f"{value!r} is not true or false")]
        return value, []
    if tp is str:
        if not isinstance(value, str):
            return value, [(path, f"{value!r} is not a string")]
        return value, []
    return value, []  # Any


def _check_range(value, meta: dict, path: str) -> list[tuple[str, str]]:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return []
    if "min" in meta and value < meta["min"]:
        return [(path, f"{value!r} is below its minimum {meta['min']}")]
    if "max" in meta and value > meta["max"]:
        return [(path, f"{value!r} is above its maximum {meta['max']}")]
    if "above" in meta and not value > meta["above"]:
        return [(path, f"{value!r} must be above {meta['above']}")]
    return []


def fields_of(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def unknown_keys(cls, values: dict) -> list[str]:
    return sorted(set(values) - set(fields_of(cls)))


def build(cls, values: dict, where: str = "hparams", origin: dict[str, str] | None = None, task: str = ""):
    """The task's dataclass from merged hyper-parameters; HParamsError lists every problem.

    `origin[key]` names where a key's value came from (e.g. 'experiments.lm.scales.cpu.steps')."""
    origin = origin or {}
    hints = typing.get_type_hints(cls)
    problems, kwargs = [], {}
    task = task or cls.__module__.rpartition(".")[2]
    for key in unknown_keys(cls, values):
        close = [f for f in fields_of(cls) if _similar(key, f)]
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append((origin.get(key, key), f"unknown key for task {task!r}{hint}"))
    for name, f in fields_of(cls).items():
        path = origin.get(name, name)
        if name not in values:
            if f.default is dataclasses.MISSING:
                problems.append((path, f"required by task {task!r} and not given"))
            continue
        value, p = _check_type(values[name], hints[name], path)
        problems += p or _check_range(value, f.metadata, path)
        kwargs[name] = value
    if problems:
        raise HParamsError(where, problems)
    out = cls(**kwargs)
    problems = [(origin.get(k, k), why) for k, why in out.check()]
    if problems:
        raise HParamsError(where, problems)
    return out


def _similar(a: str, b: str) -> bool:
    """A misspelling: same letters in another order, or one edit away."""
    if sorted(a) == sorted(b):
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8
