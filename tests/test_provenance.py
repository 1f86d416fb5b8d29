import os

from logitrepro.provenance import record, settle


def write(path, text, mtime):
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_settle_restores_order_when_inputs_are_unchanged(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    write(a, "A", 1000)
    write(b, "B", 1001)
    record([str(a)], [str(b)])
    write(c, "C", 1002)
    record([str(b)], [str(c)])
    # A checkout writes them in the wrong order: c oldest, a newest.
    for i, p in enumerate((c, b, a)):
        os.utime(p, (2000 + i, 2000 + i))
    assert settle(tmp_path) == 2
    assert a.stat().st_mtime_ns < b.stat().st_mtime_ns < c.stat().st_mtime_ns


def test_settle_leaves_outputs_of_changed_inputs_stale(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write(a, "A", 1000)
    write(b, "B", 1001)
    record([str(a)], [str(b)])
    write(a, "A changed", 3000)  # a real edit: b must stay older so Snakemake reruns its job
    assert settle(tmp_path) == 0
    assert b.stat().st_mtime_ns < a.stat().st_mtime_ns
