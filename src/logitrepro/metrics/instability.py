"""Loss spikes judged against the other arms on the same batch.

Every arm of an experiment sees the same batch at a step (batches are a function of seed and
step), so a hard batch lifts every arm's loss at once: counted against each arm's own running
average alone, one hard batch is a "spike" in every arm. Here a step is a spike of arm a when its
loss rises above its own running average by `spike_nats` more than the other arms' losses rise
above theirs on that batch (their median rise: the batch's own difficulty). Consecutive spike
steps are one episode, the event that is counted; a divergence is one more event.

The running average is the training loop's (logitrepro.train.Counters): an exponential average
with decay 0.9 of the losses before the step, spikes counted after `spike_burnin` steps.
"""

from __future__ import annotations

import numpy as np

from logitrepro.budgets import parse_budget_arm

DECAY = 0.9


def rise_over_running_average(losses: np.ndarray) -> np.ndarray:
    """(T,) each step's loss minus the running average of the losses before it (0 at the first step)."""
    out = np.zeros(len(losses))
    ema = None
    for t, loss in enumerate(losses):
        out[t] = 0.0 if ema is None else loss - ema
        ema = loss if ema is None else DECAY * ema + (1 - DECAY) * loss
    return out


def spike_steps(rise: np.ndarray, others: list[np.ndarray], spike_nats: float, burnin: int) -> np.ndarray:
    """(T,) bool: the arm's rise exceeds the other arms' median rise on the same step by spike_nats.
    Steps past the end of another arm's trace (it diverged) are judged on the arms still running."""
    t = len(rise)
    batch = np.zeros(t)
    if others:
        stacked = np.full((len(others), t), np.nan)
        for i, o in enumerate(others):
            stacked[i, : min(t, len(o))] = o[:t]
        with np.errstate(all="ignore"):
            median = np.nanmedian(stacked, axis=0) if stacked.size else batch
        batch = np.where(np.isnan(median), 0.0, median)
    steps = np.arange(1, t + 1)
    return (rise - batch > spike_nats) & (steps > burnin)


def episodes(spikes: np.ndarray) -> int:
    """Maximal runs of consecutive spike steps."""
    s = np.asarray(spikes, dtype=bool)
    return int(np.sum(s[1:] & ~s[:-1]) + (1 if len(s) and s[0] else 0))


def add_spike_episodes(evaluations: list[dict]) -> None:
    """Give every run that kept its loss trace `spike_episodes` (spikes against the other arms of its
    experiment on the same seed and budget) and `instability_episodes` (those plus a divergence)."""
    groups: dict[tuple, list[dict]] = {}
    for ev in evaluations:
        if isinstance(ev["metrics"].get("loss_trace"), dict):
            spec = ev["spec"]
            groups.setdefault((spec["experiment"], spec["seed"], parse_budget_arm(spec["arm"])[1]), []).append(ev)
    for members in groups.values():
        rises = [rise_over_running_average(np.asarray(ev["metrics"]["loss_trace"]["losses"], float)) for ev in members]
        for i, ev in enumerate(members):
            trace = ev["metrics"]["loss_trace"]
            spikes = spike_steps(
                rises[i], rises[:i] + rises[i + 1 :], float(trace["spike_nats"]), int(trace["spike_burnin"])
            )
            n = episodes(spikes)
            ev["metrics"]["spike_episodes"] = n
            ev["metrics"]["instability_episodes"] = n + int(ev["metrics"].get("status") == "diverged")
