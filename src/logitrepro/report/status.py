"""`logitrepro status` in words: a table of the runs per paper by state (logitrepro.progress),
then each running run's step, its time left and its job's, and where the job's log is."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from logitrepro.progress import STATES, LiveJob, RunProgress, time_left


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return "< 1 min"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _left(seconds: float, untimed: int) -> str:
    if untimed and not seconds:
        return f"? ({runs(untimed)} not timed yet)"
    return f"≈ {fmt_duration(seconds)}" + (f" + {runs(untimed)} not timed yet" if untimed else "")


def _running_line(r: RunProgress, log_of: Callable[[LiveJob], str | None]) -> str:
    if r.total and r.step:
        where = f"step {r.step:,} / {r.total:,} ({r.step / r.total:.0%})"
        left = f"≈ {fmt_duration(r.seconds_left)} left" if r.seconds_left is not None else "time left unknown"
    else:
        where, left = "starting (no history row yet)", ""
    line = f"  {r.name}  {where}" + (f"  {left}" if left else "")
    if r.job is None:
        return line + f"  (no job on this machine: history written {fmt_duration(r.last_row_age_s)} ago)"
    if r.queued:
        line += f"; its job trains {runs(len(r.queued))} after it: ≈ {fmt_duration(r.job_seconds_left())} in all"
    log = log_of(r.job)
    return line + (f"\n      log: {log}" if log else "")


def format_status(
    progress: list[RunProgress], scale: str, log_of: Callable[[LiveJob], str | None], snakemake_here: bool = False
) -> str:
    from tabulate import tabulate

    papers = list(dict.fromkeys(r.paper for r in progress))
    count = {(p, s): 0 for p in papers for s in STATES}
    for r in progress:
        count[(r.paper, r.state)] += 1
    left = time_left(progress)
    rows = []
    for p in papers:
        total = sum(count[(p, s)] for s in STATES)
        done = f"{count[(p, 'finished')]} / {total}"
        rest = [count[(p, s)] or "" for s in STATES[1:]]
        rows.append([p, done, *rest, "" if count[(p, "finished")] == total else _left(*left[p])])
    header = ["paper", "finished", *STATES[1:], "training left (est.)"]
    running = [r for r in progress if r.state == "running"]
    n = {s: sum(count[(p, s)] for p in papers) for s in STATES}
    if running:
        head = (
            f"Training at scale {scale}: {runs(len(running))} running, {n['queued']} queued behind them in their jobs"
        )
    else:
        head = (
            f"Nothing is training at scale {scale} here: no `logitrepro train` job runs in this folder "
            "and no run's history changed in the last 10 minutes"
            + (" (Snakemake runs here, at other steps: data, judging, tables)" if snakemake_here else "")
        )
    total = len(progress)
    out = [head + f"; {n['finished']} of {runs(total)} finished.", "", tabulate(rows, header, tablefmt="simple")]
    if running:
        out += ["", "Running"] + [_running_line(r, log_of) for r in running]
    interrupted = [r for r in progress if r.state == "interrupted"]
    if interrupted:
        out += ["", f"Interrupted ({len(interrupted)}; the next `make run` resumes each from its checkpoint)"]
        out += [f"  {r.name}  at step {r.step:,}" + (f" / {r.total:,}" if r.total else "") for r in interrupted[:10]]
        out += [f"  ... and {len(interrupted) - 10} more"] if len(interrupted) > 10 else []
    out.append("")
    if n["finished"] == total:
        out.append("Every run is finished: `logitrepro show` prints the claims.")
        return "\n".join(out)
    if not running and not snakemake_here:
        out.append(f"`make run` trains the {runs(total - n['finished'])} left.")
    out.append(
        textwrap.fill(
            "training left: the unfinished runs one after another, timed by their history or by the finished "
            "runs of the same arm (else of the same experiment); jobs running side by side finish sooner.",
            100,
        )
    )
    return "\n".join(out)
