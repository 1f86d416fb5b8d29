"""Claims as data, and verdicts computed from runs (engine.py says what each verdict means).

kinds.py    the claim kinds, one class each: statistic, verdict, config checks, table words
claim.py    a claim as the engine reads it: a frozen Claim built from the config's dict
evidence.py the runs that count, seed by seed (what a kind's statistic is computed from)
words.py    how numbers read in reasons and tables
spec.py     claims as configs write them: templates, tolerance rules, regions, checks (no scipy:
            the config loader imports it on every Snakemake start)
stats.py    t-intervals, log-ratio intervals, the exact count test
power.py    how often a perfect and a no-effect replication would pass
engine.py   the verdicts
"""

from __future__ import annotations

import importlib

_ENGINE = (
    "INCONCLUSIVE",
    "NOT_CHECKED",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "VERDICTS",
    "at_budget",
    "cost_at",
    "evidence",
    "index_runs",
    "interval_verdict",
    "judge",
    "judge_claim",
    "judge_paper",
)
_HOMES = {
    **{n: "engine" for n in _ENGINE},
    **{n: "kinds" for n in ("BANDED", "CLASSES", "KINDS", "ClaimKind", "arms_of", "kind")},
    **{n: "claim" for n in ("Claim", "Premise", "claims_of")},
    **{n: "spec" for n in ("check_claims", "expand_claims", "normalise", "region_of")},
    **{n: "stats" for n in ("SeedStats", "count_test", "log_seed_stats", "seed_stats")},
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """`from logitrepro.claims import judge` without importing scipy for the config loader."""
    if name not in _HOMES:
        raise AttributeError(f"module 'logitrepro.claims' has no attribute {name!r}")
    return getattr(importlib.import_module(f"logitrepro.claims.{_HOMES[name]}"), name)
