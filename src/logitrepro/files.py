"""Writing files so that an interrupted job leaves the old file or none, never half of one;
reading them back so that a damaged one (cut off by a full disk or a power cut, overwritten,
copied in part) is named with what is wrong and how to make it again; and hashing them. Every
module that writes results, reads them back or checks content uses these."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: What to do about a damaged file when the reader knows nothing better.
REMAKE = "delete it and run the command that wrote it again"


class DamagedFile(ValueError):
    """A file this project wrote that cannot be read. Its message is one line: the file, what is
    wrong with it, and the remedy."""

    def __init__(self, path: str | Path, problem: str, remedy: str = REMAKE):
        self.path, self.problem, self.remedy = Path(path), problem, remedy
        super().__init__(f"{path} {problem}: {remedy}")


class NoSpaceLeft(OSError):
    """A write that failed because the disk is full, with the file it was writing."""

    def __init__(self, path: str | Path):
        super().__init__(errno.ENOSPC, "no space left on device", str(path))
        self.message = (
            f"no space left on the disk that holds {path}: free some space there "
            f"(df -h {Path(path).parent}) and run the command again"
        )

    def __str__(self) -> str:
        return self.message


@contextmanager
def naming_full_disk(path: str | Path) -> Iterator[None]:
    """Turn a full disk (ENOSPC) while writing `path` into NoSpaceLeft, which names it: the
    operating system's error names no file when a write, not the open, fails."""
    try:
        yield
    except NoSpaceLeft:
        raise
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise NoSpaceLeft(path) from e


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with naming_full_disk(path):
            tmp.write_text(text)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # half a file left on a full disk keeps it full


def write_json(path: str | Path, obj) -> None:
    """JSON, written atomically (a temporary file renamed into place)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


def _json_problem(text: str, error: json.JSONDecodeError) -> str:
    if not text.strip():
        return "is empty"
    # what the parser stopped at is nothing, or the start of a token (`tru`, `Inf`, `0.`, a string
    # left open): the file was cut off there
    rest = text[error.pos :].strip()
    cut = not rest or any(word.startswith(rest) for word in ("true", "false", "null", "NaN", "Infinity", "-Infinity"))
    cut = cut or re.fullmatch(r"[-+.eE0-9]+", rest) or error.msg.startswith("Unterminated string")
    if cut or (error.msg.startswith("Invalid \\uXXXX escape") and len(rest) <= len("\\u00b1")):
        return f"is truncated (not valid JSON at byte {len(text.encode())})"
    return f"is not valid JSON ({error.msg} at byte {len(text[: error.pos].encode())})"


def _decode(path: Path, data: bytes, remedy: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise DamagedFile(path, f"is not text (a byte that is not UTF-8 at byte {e.start})", remedy) from None


def read_json(path: str | Path, remedy: str = REMAKE, expect: type | None = dict):
    """The JSON a file holds; DamagedFile (its message names the file and `remedy`) when it is
    empty, truncated, not JSON, or (with `expect`) JSON of another type: every file this project
    writes as JSON holds an object."""
    path = Path(path)
    text = _decode(path, path.read_bytes(), remedy)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise DamagedFile(path, _json_problem(text, e), remedy) from None
    if expect is not None and not isinstance(obj, expect):
        raise DamagedFile(path, f"holds a JSON {type(obj).__name__}, not the {expect.__name__} it should", remedy)
    return obj


def damage(path: str | Path, remedy: str = REMAKE) -> DamagedFile | None:
    """Why a JSON file that exists cannot be read, or None when it can (or is not there)."""
    try:
        read_json(path, remedy)
    except DamagedFile as e:
        return e
    except FileNotFoundError:
        return None
    return None


def _say(line: str) -> None:
    print(f"logitrepro: {line}", file=sys.stderr, flush=True)


def read_jsonl(path: str | Path, remedy: str = REMAKE, say: Callable[[str], None] = _say) -> list[dict]:
    """The rows of a JSON-lines file the project appends to. Its last line cut off mid-write (a
    full disk, a power cut, a killed process leaves that) is dropped, and `say` is told; a line
    that cannot be read before the last is damage: DamagedFile."""
    path = Path(path)
    lines = path.read_bytes().split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode())
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
            rows.append(row)
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError too
            if i == last:
                say(
                    f"{path}: its last line is torn (line {i + 1}, {len(line)} bytes cut off mid-write, "
                    "as a full disk or a power cut leaves it); dropped it"
                )
                break
            problem = f"has a line that is not valid JSON (line {i + 1}: {getattr(e, 'msg', e)})"
            raise DamagedFile(path, problem, remedy) from None
    return rows


def archive_damage(path: str | Path) -> str | None:
    """What is wrong with a zip archive (what torch.save writes), or None when every member reads
    back with its checksum: the test that tells a damaged checkpoint from other load errors."""
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, EOFError) as e:
        return f"is not a whole archive ({e})"
    except (OSError, RuntimeError) as e:  # a member cut off, or compressed data that does not decode
        return f"cannot be read back ({e})"
    return None if broken is None else f"is damaged (its part {broken} fails its checksum)"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
