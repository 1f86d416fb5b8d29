"""Content checksums of decoded arrays.

We hash what the parser decodes (names, dtypes, shapes, bytes), not the downloaded file:
repackagers recompress, so file hashes differ while the data is the same.
"""

from __future__ import annotations

import hashlib

import numpy as np


def content_sha256(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()
