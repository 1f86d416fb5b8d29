"""Reading back what the project wrote: a damaged file is named with what is wrong and how to make
it again, a torn last line of a log is dropped, and a full disk names the file being written."""

import errno
import json
from pathlib import Path

import pytest

from logitrepro import files
from logitrepro.files import DamagedFile, NoSpaceLeft, read_json, write_json
from logitrepro.runs import RunDir


def test_a_truncated_or_garbage_json_file_is_named_with_what_is_wrong_and_the_remedy(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"metrics": {"acc": 0.9}, "spec": {"arm": "svm"}})
    whole = path.read_bytes()
    path.write_bytes(whole[:20])
    with pytest.raises(DamagedFile) as cut:
        read_json(path, "rerun it")
    assert str(cut.value) == f"{path} is truncated (not valid JSON at byte 20): rerun it"
    assert "\n" not in str(cut.value)
    # cut inside a string, a number, NaN, -Infinity, an escaped character
    for cut in (whole[:9], b'{"a": 0.', b'{"sd": Na', b'{"ci": -Inf', b'{"u": "\\u00'):
        path.write_bytes(cut)
        assert f"is truncated (not valid JSON at byte {len(cut)})" in str(
            pytest.raises(DamagedFile, read_json, path).value
        )
    for content, problem in (
        (b"", "is empty"),
        (b"hello", "is not valid JSON (Expecting value at byte 0)"),
        (whole + b"}", "is not valid JSON (Extra data at byte"),
        (b"\xff\xfe{}", "is not text (a byte that is not UTF-8 at byte 0)"),
        (b"[1, 2]", "holds a JSON list, not the dict it should"),
    ):
        path.write_bytes(content)
        with pytest.raises(DamagedFile, match=problem.replace("(", r"\(").replace(")", r"\)")):
            read_json(path)


def test_a_torn_last_history_line_is_dropped_with_a_message(tmp_path, capsys):
    run = RunDir(tmp_path / "run").make()
    rows = [{"step": 5, "train_loss": 1.0}, {"step": 10, "train_loss": 0.5}]
    run.history.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 15, "train_lo')
    assert run.read_history() == rows
    said = capsys.readouterr().err
    assert f"{run.history}: its last line is torn (line 3" in said and "dropped it" in said
    run.history.write_text(json.dumps(rows[0]) + "\n" + "\0" * 300)  # a power cut's zero-filled block
    assert run.read_history() == rows[:1]


def test_a_damaged_history_line_before_the_last_is_named_not_dropped(tmp_path):
    run = RunDir(tmp_path / "run").make()
    run.history.write_text('{"step": 5}\n{"step": 1\n{"step": 15}\n')
    with pytest.raises(DamagedFile) as e:
        run.read_history()
    assert str(e.value).startswith(f"{run.history} has a line that is not valid JSON (line 2")
    assert f"delete {run.path} and rerun `snakemake`, which trains that run again" in str(e.value)


def a_full_disk(monkeypatch):
    """Writes fail as they do on a full disk: ENOSPC from the write, naming no file."""

    def write_text(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_full_disk_names_the_file_keeps_the_old_one_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "claims" / "p.json"
    path.parent.mkdir()
    write_json(path, {"old": True})
    a_full_disk(monkeypatch)
    with pytest.raises(NoSpaceLeft) as e:
        write_json(path, {"new": True})
    assert str(e.value).startswith(f"no space left on the disk that holds {path}: free some space there")
    assert isinstance(e.value, OSError) and e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert read_json(path) == {"old": True} and sorted(p.name for p in path.parent.iterdir()) == ["p.json"]


def test_other_write_errors_are_not_taken_for_a_full_disk(tmp_path):
    with pytest.raises(OSError) as e, files.naming_full_disk(tmp_path / "x"):
        raise OSError(errno.EACCES, "Permission denied")
    assert not isinstance(e.value, NoSpaceLeft)
