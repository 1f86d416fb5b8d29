"""Claims as data, and verdicts computed from runs (see engine.py for what each verdict means)."""
from logitrepro.claims.engine import (
    INCONCLUSIVE,
    NOT_CHECKED,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    at_budget,
    cost_at,
    evidence,
    index_runs,
    interval_verdict,
    judge,
    judge_claim,
    judge_paper,
)
from logitrepro.claims.kinds import BANDED, CLASSES, KINDS, arms_of, kind
from logitrepro.claims.spec import check_claims, expand_claims, normalise, region_of
from logitrepro.claims.stats import SeedStats, count_test, log_seed_stats, seed_stats

__all__ = [
    "BANDED", "CLASSES", "INCONCLUSIVE", "KINDS", "NOT_CHECKED", "NOT_REPRODUCED", "REPRODUCED", "VERDICTS",
    "SeedStats", "arms_of", "at_budget", "check_claims", "cost_at", "count_test", "evidence", "expand_claims",
    "index_runs", "interval_verdict", "judge", "judge_claim", "judge_paper", "kind", "log_seed_stats",
    "normalise", "region_of", "seed_stats",
]
