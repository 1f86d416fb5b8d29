"""Prepare one dataset into data/<name>/: fetch it through its sources chain, check its content
checksum, let its writer save the splits, and record every file in manifest.json (store.py).

Written to a temporary sibling folder and renamed at the end, so an interrupted prepare never
leaves a half-written dataset behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .checksum import content_sha256
from .download import SourceUnavailable
from .registry import Dataset, get_dataset
from .store import CorruptData, DataUnavailable, read_manifest, verify, write_manifest


def fetch(dataset: Dataset, override: dict | None, timeout_s: float, log=print) -> tuple[dict, str, str]:
    """Try each source in order; return (arrays, source description, checksum)."""
    folder = (override or {}).get("dir")
    sources = [dataset.override_source(folder)] if folder else dataset.sources
    expected = (override or {}).get("sha256") or dataset.sha256
    tried = []
    for source in sources:
        log(f"[{dataset.name}] trying {source.describe()}")
        try:
            arrays = source.load(timeout_s)
        except SourceUnavailable as e:
            tried.append(f"  - {source.describe()}: {e}")
            continue
        digest = content_sha256(arrays)
        if expected and digest != expected:
            tried.append(f"  - {source.describe()}: checksum mismatch (got {digest}, expected {expected})")
            continue
        return arrays, source.describe(), digest
    raise DataUnavailable(
        f"dataset {dataset.name!r}: no source gave verified data. Tried:\n"
        + "\n".join(tried)
        + f"\nTo fix: {dataset.how_to_get}; or `dvc pull data/{dataset.name}` from a remote that has it."
    )


def _kept(name: str, out_dir: Path, expected: str, log) -> dict | None:
    """The existing folder's manifest when it already holds the expected data and its files
    verify; None when it must be prepared (again), saying why when a folder was there."""
    try:
        existing = read_manifest(out_dir)
    except CorruptData as e:
        log(f"[{name}] {e.path}: {e.problem}; preparing it again")
        return None
    if not (existing and expected and existing.get("sha256") == expected):
        return None
    try:
        verify(out_dir)
    except CorruptData as e:
        log(f"[{name}] {out_dir} does not verify: {e.path} {e.problem}; preparing it again")
        return None
    except DataUnavailable:  # prepared before files were recorded: nothing to verify against
        log(f"[{name}] {out_dir} records no file checksums (prepared by an older version); preparing it again")
        return None
    log(f"[{name}] {out_dir} already holds verified data ({existing['source']}); nothing to do")
    return existing


def prepare(
    name: str,
    out_dir: str | Path,
    override: dict | None = None,
    timeout_s: float = 15,
    log=print,
    *,
    force: bool = False,
) -> dict:
    """Make out_dir hold the dataset's verified splits; returns the manifest.

    Without `force` a folder that already holds the expected content checksum and whose files
    verify is kept; a damaged one is prepared again (that is what prepare is for). With `force`
    the data is always fetched again."""
    dataset = get_dataset(name)
    out_dir = Path(out_dir)
    expected = (override or {}).get("sha256") or dataset.sha256
    if not force:
        kept = _kept(name, out_dir, expected, log)
        if kept is not None:
            return kept
    arrays, source, digest = fetch(dataset, override, timeout_s, log)
    tmp = out_dir.with_name(out_dir.name + ".tmp-prepare")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries = dataset.writer(dataset, arrays, tmp)
    manifest = write_manifest(
        tmp, {"dataset": name, "description": dataset.description, "source": source, "sha256": digest, **entries}
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    log(f"[{name}] prepared {manifest['splits']} from {source} -> {out_dir}")
    return manifest
