"""Training budgets as arm names: an arm trained for `b` times the scale's budget runs as
`<arm>_x<b>` beside the arm itself (b = 1). Shared by the config (which expands the jobs) and the
claims engine (which finds the runs of a budget)."""

from __future__ import annotations


def budget_arm(arm: str, budget: float) -> str:
    """The run name of `arm` trained at `budget` times the scale's budget (the arm itself at 1)."""
    return arm if budget == 1 else f"{arm}_x{budget:g}".replace(".", "p")


def parse_budget_arm(name: str) -> tuple[str, float]:
    """Inverse of budget_arm: ('headline_x5') -> ('headline', 5.0)."""
    base, sep, tail = name.rpartition("_x")
    if sep and base and tail.replace("p", "", 1).isdigit():
        return base, float(tail.replace("p", "."))
    return name, 1.0
