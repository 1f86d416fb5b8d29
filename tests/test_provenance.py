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
    (line,) = settle(tmp_path)
    assert line.startswith("moved 2 outputs")
    assert a.stat().st_mtime_ns < b.stat().st_mtime_ns < c.stat().st_mtime_ns


def test_settle_leaves_outputs_of_changed_inputs_stale(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write(a, "A", 1000)
    write(b, "B", 1001)
    record([str(a)], [str(b)])
    write(a, "A changed", 3000)  # a real edit: b must stay older so Snakemake reruns its job
    assert settle(tmp_path) == []
    assert b.stat().st_mtime_ns < a.stat().st_mtime_ns


def test_a_dry_settle_says_what_it_would_do_and_changes_nothing(tmp_path):
    a, b, c, gone = (tmp_path / f"{n}.json" for n in ("a", "b", "c", "gone"))
    write(a, "A", 1000)
    write(b, "B", 1001)
    record([str(a)], [str(b)])
    write(c, "C", 1002)
    write(gone, "G", 1000)
    record([str(b), str(gone)], [str(c)])
    d = tmp_path / "d.json"
    write(d, "D", 1003)
    record([str(c)], [str(d)])  # made from c: goes with it
    gone.unlink()  # a run folder deleted: what was made from it must be made again
    write(a, "A", 3000)  # and a checkout made b look older than its unchanged input
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    lines = settle(tmp_path, dry_run=True)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before  # nothing removed, nothing moved
    assert [line.split(" (")[0].split(" under ")[0] for line in lines] == [
        f"{c} was made from files that are gone",
        f"{d} was made from files that are gone",
        "would move 1 outputs",
    ]
    assert "it would be removed" in lines[0]
    assert sorted(line.split(" (")[0].split(" under ")[0] for line in settle(tmp_path)) == [
        f"{c} was made from files that are gone",
        f"{d} was made from files that are gone",
        "moved 1 outputs",
    ]
    assert not c.exists() and not d.exists() and b.stat().st_mtime_ns > a.stat().st_mtime_ns
    assert settle(tmp_path) == []  # settled in one go


def test_records_of_results_are_kept_in_one_folder_and_settled_from_there(tmp_path):
    from logitrepro.provenance import record_path

    results = tmp_path / "results"
    (results / "claims").mkdir(parents=True)
    (results / "tables").mkdir()
    run, claims, table = tmp_path / "metrics.json", results / "claims" / "p.json", results / "tables" / "p.md"
    write(run, "R", 1000)
    write(claims, "C", 1001)
    record([str(run)], [str(claims)], results)
    write(table, "T", 1002)
    record([str(claims)], [str(table)], results)
    assert record_path(table, results) == results / "provenance" / "tables" / "p.md.prov.json"
    assert record_path(run, results) == tmp_path / "metrics.json.prov.json"  # outside the results: beside it
    assert sorted(p.name for p in results.rglob("*.prov.json")) == ["p.json.prov.json", "p.md.prov.json"]
    assert not list((results / "tables").glob("*.prov.json")) and not list((results / "claims").glob("*.prov.json"))
    for i, p in enumerate((table, claims, run)):  # a checkout's order
        os.utime(p, (2000 + i, 2000 + i))
    (line,) = settle(results)
    assert line.startswith("moved 2 outputs")
    assert claims.stat().st_mtime_ns > run.stat().st_mtime_ns and table.stat().st_mtime_ns > claims.stat().st_mtime_ns
    run.unlink()  # the run is gone: the claims and the table made from them go, with their records
    assert len(settle(results)) == 2 and not claims.exists() and not table.exists()
    assert not list(results.rglob("*.prov.json"))


def test_a_record_beside_its_output_from_before_the_folder_is_still_read(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write(a, "A", 1000)
    write(b, "B", 1001)
    record([str(a)], [str(b)])  # no results folder named: beside the output, as results made earlier have them
    os.utime(a, (3000, 3000))
    (line,) = settle(tmp_path)
    assert line.startswith("moved 1 outputs") and b.stat().st_mtime_ns > a.stat().st_mtime_ns
