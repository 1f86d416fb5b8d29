"""What every source shares: the one error a source raises, and the streaming download.

Kept apart from sources.py (the MNIST family's sources) so that a format module depends on
this file only, and a change to the IDX code does not count as a change to every dataset
(registry.source_files lists the modules each dataset's content depends on).
"""

from __future__ import annotations

import shutil
import urllib.request


class SourceUnavailable(RuntimeError):
    """One source cannot give the data (not there, unreachable, unreadable); the next is tried."""


def download(url: str, dest, timeout_s: float) -> None:
    """Stream `url` (https or file://) into the open binary file `dest`; SourceUnavailable on failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            shutil.copyfileobj(response, dest)
    except OSError as e:  # URLError, timeouts and HTTP errors are all OSErrors
        raise SourceUnavailable(f"{url}: {e}") from e
