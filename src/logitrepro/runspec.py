"""Whether a run is the run a config asks for: the keys of its job spec that decide what it
computes. The trainer keeps a finished run only when they agree (train.resume_refusal), and the
judge judges only runs that agree with the config it judges (judging.refuse_runs_of_other_configs)."""

from __future__ import annotations

import json

#: What a run computes, besides its hyper-parameters (compared key by key). Where it is recorded,
#: its device and its kernel backend are not among them: the same run, the same results.
IDENTITY = ("task", "dataset", "seed")


def spec_difference(recorded: dict, expected: dict) -> str | None:
    """The first key on which a run's recorded spec differs from the spec the config gives it,
    with both values (None: the same run). Compared as JSON, as metrics.json records the spec
    (a tuple in the config is a list there)."""
    recorded, expected = (json.loads(json.dumps(s, default=str)) for s in (recorded, expected))
    for key in IDENTITY:
        if key in recorded and recorded[key] != expected.get(key):
            return f"{key}: {recorded[key]!r} in the run, {expected.get(key)!r} in the config"
    ran, wanted = recorded.get("hparams") or {}, expected.get("hparams") or {}
    for key in sorted(set(ran) | set(wanted)):
        if ran.get(key) != wanted.get(key):
            return f"hparams.{key}: {ran.get(key)!r} in the run, {wanted.get(key)!r} in the config"
    return None
