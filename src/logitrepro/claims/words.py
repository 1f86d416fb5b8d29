"""How numbers read in verdicts' reasons and in the tables: the one place that formats them, so
that a kind's words (logitrepro.claims.kinds) and the tables that show them agree."""

from __future__ import annotations

import math


def fmt(x: float) -> str:
    """A number in a reason: four significant digits, infinities as symbols."""
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.4g}"


def fmt_interval(low: float, high: float) -> str:
    """An interval or region in a reason: [low, high]."""
    return f"[{fmt(low)}, {fmt(high)}]"


def fmt_bounds(region) -> str:
    """A region as a record stores it ([low, high], None for unbounded), in a table."""
    low, high = region
    return f"[{'-∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}]"


def decimals_for(x: float) -> int:
    """Two decimals, more for small numbers so that 0.041 and 0.052 stay apart."""
    x = abs(x)
    if not math.isfinite(x) or x >= 1 or x == 0:
        return 2
    return 3 if x >= 0.1 else 4


def fmt_num(x, digits: int | None = None) -> str:
    """A number in a table cell, at `digits` decimals (default: decimals_for)."""
    if x is None:
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.{decimals_for(x) if digits is None else digits}f}"
