"""Checks of command-line values: a value out of range stops the command at once, through
argparse's own error (one line, exit status 2), before a config is read or a probe runs.

Used as argparse `type=` functions, except `unwritable`, which checks a folder the command
resolves itself (a default from the config) and says why it cannot be written.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path


def at_least(minimum: int, what: str):
    """An integer type for argparse that refuses values below `minimum`, saying what it counts."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} {what}: give {minimum} or more")
        return value

    return parse


positive_steps = at_least(1, "steps")
positive_threads = at_least(1, "threads")


def positive_seconds(text: str) -> float:
    """A time limit in seconds: a finite number above 0 (0 would stop every probe at once)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} seconds: give a number of seconds above 0")
    return value


def fraction(text: str) -> float:
    """A share of a whole: a number above 0 and at most 1 (a GPU's utilisation, 0.4 for 40%)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (0.4 for 40%)") from None
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"{text}: give a share above 0 and at most 1 (0.4 for 40%)")
    return value


def unwritable(folder: str | Path) -> str | None:
    """Why files cannot be written into `folder` (made if missing), or None when they can. Tried
    for real, as root too: permissions alone do not show a read-only file system or a file in
    the way."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        return f"cannot write there ({e.strerror or e}); give a folder you can write to"
    return None
