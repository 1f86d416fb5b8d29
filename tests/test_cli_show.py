"""The CLI as a user meets it: --version, --help's user commands apart from the pipeline's
plumbing, and `show` with its filters (--paper, --verdict, --class, --json)."""

import json
import subprocess
import sys

import pytest

from logitrepro import __version__
from logitrepro.cli import build_parser, main
from logitrepro.files import write_json
from logitrepro.judging import build_claims_file
from logitrepro.report.select import UnknownChoice, verdict_named
from tests.support import claim, direction_claim, paper_config

USER_COMMANDS = {"show", "status", "diff", "plan", "validate", "compare-reference"}


def claims_file(paper: str, method_acc: list[float]) -> dict:
    """Paper `paper`: a direction claim (m beats b) on these values, and a sanity claim."""
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v, "status": "completed"}}
        for arm, values in (("m", method_acc), ("b", [0.80, 0.81, 0.82]))
        for s, v in enumerate(values)
    ]
    config = paper_config(
        direction_claim(f"{paper}.dir"),
        claim(f"{paper}.sane", "absolute", arm="b", accept=[0, None], **{"class": "sanity"}),
        id=paper,
    )
    return build_claims_file(config, "cpu", evals)


@pytest.fixture
def claims_dir(tmp_path):
    folder = tmp_path / "claims"
    folder.mkdir()
    write_json(folder / "up.json", claims_file("up", [0.90, 0.91, 0.92]))
    write_json(folder / "down.json", claims_file("down", [0.70, 0.71, 0.72]))
    return folder


def show_json(capsys, claims_dir, *args) -> list[dict]:
    assert main(["show", "--claims-dir", str(claims_dir), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def every_claim(claims_dir) -> list[dict]:
    return [
        {"paper": f.stem, **c} for f in sorted(claims_dir.glob("*.json")) for c in json.loads(f.read_text())["claims"]
    ]


def test_version_and_help_put_the_user_commands_apart_from_the_plumbing(capsys):
    p = subprocess.run([sys.executable, "-m", "logitrepro", "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == f"logitrepro {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    listed, _, plumbing = capsys.readouterr().out.partition("pipeline plumbing")
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for name in commands:
        # a user command is listed with its help at the start of a line; plumbing only by name below
        in_listing = any(line.split()[:1] == [name] for line in listed.splitlines())
        in_plumbing = name in plumbing.replace(",", " ").split()
        assert (in_listing, in_plumbing) == ((True, False) if name in USER_COMMANDS else (False, True)), name
    assert {"judge", "record-claims", "provenance", "settle", "train"} < commands - USER_COMMANDS


def test_the_filters_select_claims_by_paper_verdict_and_class(claims_dir, capsys):
    everything = every_claim(claims_dir)
    assert [(c["paper"], c["id"]) for c in show_json(capsys, claims_dir)] == [(c["paper"], c["id"]) for c in everything]
    assert {c["paper"] for c in show_json(capsys, claims_dir, "--paper", "down")} == {"down"}
    assert {c["class"] for c in show_json(capsys, claims_dir, "--class", "sanity")} == {"sanity"}
    verdicts = {c["verdict"] for c in everything}
    assert len(verdicts) > 1  # the fixture judges differently, or the verdict filter is not tested
    for verdict in verdicts:
        chosen = show_json(capsys, claims_dir, "--verdict", verdict.replace(" ", "-"))
        assert {c["id"] for c in chosen} == {c["id"] for c in everything if c["verdict"] == verdict}
    both = show_json(capsys, claims_dir, "--paper", "up", "--paper", "down", "--class", "paper")
    assert {c["id"] for c in both} == {"up.dir", "down.dir"}


def test_the_terminal_table_shows_only_the_selected_claims(claims_dir, capsys):
    assert main(["show", "--claims-dir", str(claims_dir), "--paper", "up"]) == 0
    out = capsys.readouterr().out
    assert "up.dir" in out and "down.dir" not in out
    assert main(["show", "--claims-dir", str(claims_dir), "--paper", "up", "--class", "extension"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no claim matches --paper up --class extension (of 4 claims")


def test_a_filter_that_names_nothing_known_is_an_error_listing_the_choices(claims_dir, capsys):
    assert main(["show", "--claims-dir", str(claims_dir), "--paper", "nope"]) == 2
    assert "papers judged: down, up" in capsys.readouterr().err
    assert main(["show", "--claims-dir", str(claims_dir), "--class", "nope"]) == 2
    assert "classes: paper, proxy, sanity, extension" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["show", "--verdict", "not"])  # not reproduced, or not checked?
    assert "more than one verdict" in capsys.readouterr().err


def test_a_verdict_is_named_by_its_words_or_their_unique_beginning():
    assert verdict_named("not-reproduced") == verdict_named("Not_Reproduced") == "not reproduced"
    assert verdict_named("not-checked") == "not checked at this scale"
    assert verdict_named("incon") == "inconclusive"
    with pytest.raises(UnknownChoice):
        verdict_named("passed")


def test_json_output_is_data_only(claims_dir, tmp_path, capsys):
    assert show_json(capsys, claims_dir, "--paper", "up", "--class", "extension") == []  # nothing matches: []
    assert main(["show", "--claims-dir", str(tmp_path / "none"), "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no claims in" in err
