"""Configs written to break the loader, or by a slip of the hand: each is refused (or, for a
budget, warned about) at load time, naming the file, the key or claim, and the fix."""

import copy

import pytest
import yaml

from logitrepro import config
from logitrepro.cli import main
from logitrepro.config import ConfigError, load_config
from tests.support import PROJECT

MAIN = PROJECT / "configs" / "config.yaml"

# ten anchors, each a list of ten aliases of the one before: 10^9 strings once walked out in full
ALIAS_BOMB = "\n".join(
    ["_l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"_l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
)
# merge keys multiply while PyYAML constructs the mapping, before any code sees it (small here,
# so that a loader without the bound still finishes; the bound is far below it)
MERGE_BOMB = "\n".join(
    ["_m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    + [f"_m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}]}}" for i in range(1, 5)]
)


def paper_file(root, name="cnn_svm", edit=None, append=""):
    """configs/papers/<name>.yaml under `root`: the real one, edited (a dict) or with text appended."""
    folder = root / "configs" / "papers"
    folder.mkdir(parents=True, exist_ok=True)
    text = (PROJECT / "configs" / "papers" / f"{name}.yaml").read_text()
    if edit is not None:
        paper = yaml.safe_load(text)
        edit(paper)
        text = yaml.safe_dump(paper)
    path = folder / f"{name}.yaml"
    path.write_text(text + "\n" + append)
    return path


def load(root, name="cnn_svm"):
    return load_config(MAIN, overrides={"papers": [name]}, root=root)


@pytest.mark.parametrize("bomb", [ALIAS_BOMB, MERGE_BOMB], ids=["aliases", "merge-keys"])
def test_an_alias_bomb_in_a_paper_config_is_refused_naming_the_file(tmp_path, bomb):
    path = paper_file(tmp_path, append=bomb)
    with pytest.raises(ConfigError, match="expands to more than") as e:
        load(tmp_path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_validate_refuses_an_alias_bomb_with_exit_2_and_one_line(tmp_path, monkeypatch, capsys):
    path = paper_file(tmp_path, append=ALIAS_BOMB)
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--config", str(MAIN), "--set", "papers=[cnn_svm]"]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and "expands to more than" in err and len(err.splitlines()) == 1


def test_a_paper_config_that_is_not_yaml_is_named_with_the_line(tmp_path):
    path = paper_file(tmp_path, append="claims: [unclosed")
    with pytest.raises(ConfigError, match=r"is not valid YAML \(line \d+, column \d+\)") as e:
        load(tmp_path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_an_alias_bomb_in_the_main_config_as_snakemake_hands_it_over_is_refused():
    main = yaml.load(MAIN.read_text() + ALIAS_BOMB, Loader=yaml.CSafeLoader)  # shared lists, as Snakemake reads it
    with pytest.raises(
        ConfigError, match="the workflow config: expands to more than 200,000 values through its YAML anchors"
    ):
        load_config(main, root=PROJECT)


def test_a_self_referring_anchor_and_a_command_line_bomb_are_refused():
    from logitrepro.config import read_cli_value

    with pytest.raises(ConfigError, match="--set x: .*contains itself"):
        read_cli_value("&a [*a]", "--set x")
    with pytest.raises(ConfigError, match="--set x: .*expands to more than"):
        read_cli_value("{" + ALIAS_BOMB.replace("\n", ", ") + "}", "--set x")


def test_a_claim_template_that_multiplies_past_the_bound_is_refused_before_it_expands(tmp_path):
    def edit(paper):
        template = next(c for c in paper["claims"] if "matrix" in c)
        template["matrix"]["pad"] = list(range(50))
        template["check_with"] = ["x"] * 5000  # 50 claims of 5,000 values

    path = paper_file(tmp_path, edit=edit)
    with pytest.raises(ConfigError, match=r"matrix makes 200 claims of up to .* values each") as e:
        load(tmp_path)
    assert str(path) in str(e.value)


def test_an_unknown_dataset_is_refused_with_a_did_you_mean(tmp_path):
    def edit(paper):
        paper["experiments"]["mnist"]["dataset"] = "mnistt"
        paper["experiments"]["fashion_mnist"]["dataset_at"] = {"paper": "fashion_mnis"}

    path = paper_file(tmp_path, edit=edit)
    with pytest.raises(ConfigError) as e:
        load(tmp_path)
    msg = str(e.value)
    assert str(path) in msg
    assert "experiments.mnist.dataset: unknown dataset 'mnistt'; did you mean 'mnist'?" in msg
    assert "experiments.fashion_mnist.dataset_at.paper: unknown dataset 'fashion_mnis'; did you mean " in msg


def test_the_dataset_names_read_without_the_registry_are_the_registrys():
    from logitrepro.data.names import dataset_names
    from logitrepro.data.registry import DATASETS

    assert dataset_names() == tuple(sorted(DATASETS))


def test_a_budget_far_outside_its_scale_is_warned_about_naming_the_key(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "_WARNED", set(), raising=False)

    def edit(paper):
        exp = paper["experiments"]["mnist"]
        exp["scales"] = copy.deepcopy(exp["scales"])
        exp["scales"]["cpu"]["steps"] = 1_000_000_000_000
        paper["experiments"]["fashion_mnist"]["arms"] = {"softmax": {"head": "softmax", "steps": 40_000}, "svm": {}}

    path = paper_file(tmp_path, edit=edit)
    load(tmp_path)
    err = capsys.readouterr().err
    assert (
        f"logitrepro: warning: {path}: experiments.mnist.scales.cpu.steps = 1000000000000 at cpu scale is above "
        "its paper-scale budget (10000); check it for a slip" in err
    )
    # an arm's own budget is named by the arm's key: at smoke, 40,000 steps against mnist's 30
    assert (
        "experiments.fashion_mnist.arms.softmax.steps = 40000 at smoke scale is more than 10x the largest of any "
        "other cnn_svm experiment at smoke scale (30)" in err
    )
    assert len(err.strip().splitlines()) == 2


def test_a_paper_scale_budget_far_beyond_the_authors_is_warned_about(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "_WARNED", set(), raising=False)

    def edit(paper):
        paper["experiments"]["mnist"]["hparams"] = dict(paper["experiments"]["mnist"]["hparams"], steps=10**12)

    path = paper_file(tmp_path, edit=edit)
    load(tmp_path)
    assert capsys.readouterr().err.strip() == (
        f"logitrepro: warning: {path}: experiments.mnist.hparams.steps = 1000000000000 at paper scale is more "
        "than 10x the authors' budget (10000) and more than 10x the largest of any other cnn_svm experiment at "
        "paper scale (10000); check it for a slip (the runs would train that long)"
    )


def test_the_authors_own_budget_is_not_warned_about_however_far_from_the_other_experiments(
    tmp_path, monkeypatch, capsys
):
    """One paper may train one figure for 300 epochs and another for 80,000: a paper-scale budget
    that is the authors' stated one is meant."""
    monkeypatch.setattr(config, "_WARNED", set(), raising=False)

    def edit(paper):
        exp = paper["experiments"]["mnist"]
        exp["hparams"] = dict(exp["hparams"], steps=10**6)
        exp["authors_budget"] = {"value": 10**6, "what": "a figure trained 100x longer"}

    paper_file(tmp_path, edit=edit)
    load(tmp_path)
    assert capsys.readouterr().err == ""


def test_the_real_configs_load_without_a_warning_alone_or_together(monkeypatch, capsys):
    monkeypatch.setattr(config, "_WARNED", set(), raising=False)
    cfg = load_config(MAIN, root=PROJECT)  # the budget check covers every scale
    for paper in cfg.papers:  # a paper alone has fewer experiments to be measured against
        load_config(MAIN, overrides={"papers": [paper]}, root=PROJECT)
    assert capsys.readouterr().err == ""


def _region_instead_of_band(claim, claimed, accept):
    del claim["tolerance"]
    claim.update(claimed=claimed, accept=accept, accept_why="the paper's words")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda c: c.update(baseline=c["method"]),
            r"claim ls\.ppl-vs-A\.baseline: the method and the baseline are both arm 'ls'.*set baseline_metric",
        ),
        (
            lambda c: _region_instead_of_band(c, claimed=2.0, accept=[0.3, 0.5]),
            r"claim ls\.ppl-vs-A\.claimed: 2\.0 lies outside the claim's own accepted region \[0\.3, 0\.5\]",
        ),
        (
            lambda c: c.update(accept=[None, 0], accept_why="x"),
            r"claim ls\.ppl-vs-A\.accept: \[None, 0\] reaches below 0, where no ratio",
        ),
        (
            lambda c: c.update(accept=[-1, 2], accept_why="x"),
            r"claim ls\.ppl-vs-A\.accept: \[-1, 2\] reaches below 0",
        ),
        (lambda c: c.update(claimed=-0.4), r"claim ls\.ppl-vs-A\.claimed: -0\.4 is not above 0"),
        (lambda c: c.update(judged_at=[]), r"claim ls\.ppl-vs-A\.judged_at: empty, so no scale ever judges"),
    ],
    ids=[
        "method-is-baseline",
        "claimed-outside",
        "ratio-region-at-or-below-0",
        "ratio-below-0",
        "ratio-claimed",
        "never-judged",
    ],
)
def test_a_claim_that_cannot_mean_what_it_says_is_refused_naming_it_and_the_fix(tmp_path, edit, expected):
    def change(paper):
        claim = next(c for c in paper["claims"] if c["id"] == "ls.ppl-vs-A")
        assert claim["kind"] == "ratio" and claim["method"] != claim["baseline"]
        edit(claim)

    path = paper_file(tmp_path, "ls_attention", edit=change)
    with pytest.raises(ConfigError, match=expected) as e:
        load(tmp_path, "ls_attention")
    assert str(path) in str(e.value)


def test_one_arm_may_be_method_and_baseline_when_the_claim_compares_two_of_its_metrics():
    cfg = load_config(MAIN, overrides={"papers": ["fourier_head"]}, root=PROJECT)
    same = [c for c in cfg.paper("fourier_head")["claims"] if c.get("method") == c.get("baseline") != None]  # noqa: E711
    assert same and all(c["baseline_metric"] != c["metric"] for c in same)
