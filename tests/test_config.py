import pytest
import yaml

from logitrepro.config import ConfigError, load_config
from logitrepro.dvcgen import render_dvc_yaml
from tests.support import PROJECT


def test_default_config_is_valid_and_resolves_scales():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    assert cfg.scale == "cpu" and len(cfg.seeds) >= 3
    spec = cfg.job_spec("cnn_svm", "mnist", "svm", 1)
    assert spec["hparams"]["head"] == "svm" and spec["hparams"]["steps"] == 2000
    assert spec["hparams"]["lr"] == 1e-3  # the method is not touched by the scale
    paper = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "paper"}, root=PROJECT)
    hp = paper.job_spec("cnn_svm", "fashion_mnist", "softmax", 0)["hparams"]
    assert (hp["conv1_channels"], hp["conv2_channels"], hp["hidden"], hp["steps"], hp["batch_size"]) == (
        32,
        64,
        1024,
        10000,
        128,
    )


def test_bad_value_names_key_path_and_reason():
    with pytest.raises(ConfigError) as e:
        load_config(
            PROJECT / "configs" / "config.yaml", overrides={"scale": "huge", "seeds": {"cpu": [-1]}}, root=PROJECT
        )
    msg = str(e.value)
    assert "scale: 'huge' is not one of" in msg and "seeds.cpu.0" in msg


def test_bad_paper_config_names_file_and_claim(tmp_path):
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "cnn_svm.yaml").read_text())
    gap = next(c for c in paper["claims"] if "rule" in c.get("matrix", {}))  # a template: per dataset and rule
    gap["method"] = "svmm"
    (tmp_path / "configs" / "papers" / "cnn_svm.yaml").write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError) as e:
        load_config(PROJECT / "configs" / "config.yaml", root=tmp_path)
    assert "cnn_svm.yaml" in str(e.value) and "claim cnnsvm.mnist.gap.method: no arm 'svmm'" in str(e.value)
    assert "claim cnnsvm.fmnist.gap.method: no arm 'svmm'" in str(e.value)


def test_a_template_with_an_unknown_name_fails_with_the_claim(tmp_path):
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "cnn_svm.yaml").read_text())
    next(c for c in paper["claims"] if "rule" in c.get("matrix", {}))["statement"] = "${r.metrc}"
    (tmp_path / "configs" / "papers" / "cnn_svm.yaml").write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError, match=r"cnnsvm\.\$\{r\.tag\}\.\$\{rule\.id\}.*has no key 'metrc'"):
        load_config(PROJECT / "configs" / "config.yaml", root=tmp_path)


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="tracking.*'url' was unexpected"):
        load_config(PROJECT / "configs" / "config.yaml", overrides={"tracking": {"url": "x"}}, root=PROJECT)


def test_unknown_arm_in_job_spec():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    with pytest.raises(ConfigError, match="no arm 'hinge'"):
        cfg.job_spec("cnn_svm", "mnist", "hinge", 0)


def test_every_experiment_names_a_task_module_and_papers_pin_their_arxiv_version():
    for path in (PROJECT / "configs" / "papers").glob("*.yaml"):
        paper = yaml.safe_load(path.read_text())
        assert "v" in paper["paper"]["arxiv"]
        for exp in paper["experiments"].values():
            assert (PROJECT / "src" / "logitrepro" / "tasks" / f"{exp['task']}.py").exists()


def test_dvc_yaml_is_up_to_date_with_configs():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    assert (PROJECT / "dvc.yaml").read_text() == render_dvc_yaml(cfg), "run: logitrepro dvc-yaml"


def test_dvc_makes_the_board_of_every_paper_claim_from_every_paper_s_claims():
    """The workflow's default target includes the board: without a DVC stage a pulled clone
    would find it missing and make it again, and `dvc repro` would never make it."""
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    board = yaml.safe_load(render_dvc_yaml(cfg))["stages"]["board"]
    assert {f"results/claims/{paper}.json" for paper in cfg.papers} <= set(board["deps"])
    assert {"results/tables/index.md", "results/tables/index.html"} <= set(board["outs"])
    assert board["cmd"].endswith("snakemake --cores all results/tables/index.md results/tables/index.html")


def test_cost_claim_needs_its_cost_key_and_accept_regions_are_ordered(tmp_path):
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "ls_attention.yaml").read_text())
    cost = next(c for c in paper["claims"] if c["kind"] == "cost_to_target")
    del cost["cost"]
    next(c for c in paper["claims"] if "accept" in c)["accept"] = [2.0, 1.0]
    (tmp_path / "configs" / "papers" / "ls_attention.yaml").write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError) as e:
        load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["ls_attention"]}, root=tmp_path)
    assert f"claim {cost['id']}: a cost_to_target claim needs 'cost'" in str(e.value)
    assert "accept: low (2.0) is above high (1.0)" in str(e.value)


def test_lm_papers_read_wikitext_at_paper_scale_only():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    assert cfg.job_spec("ls_attention", "lm", "ls", 0)["data_dir"] == "data/shakespeare-bpe1024"
    assert "wikitext103" not in cfg.datasets()
    paper = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "paper"}, root=PROJECT)
    spec = paper.job_spec("vq_logits", "shakespeare", "vq256", 0)
    assert spec["dataset"] == "wikitext103" and spec["data_dir"] == "data/wikitext103-bpe50257"
    assert "wikitext103" in paper.datasets() and "shakespeare" not in paper.datasets()


def test_budget_variants_are_runs_of_their_own_with_a_longer_budget(tmp_path):
    from logitrepro.config import budget_arm, parse_budget_arm

    assert parse_budget_arm(budget_arm("headline", 25)) == ("headline", 25.0)
    assert parse_budget_arm(budget_arm("a_b", 0.5)) == ("a_b", 0.5) and budget_arm("a", 1) == "a"
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "cnn_svm.yaml").read_text())
    gap = next(c for c in paper["claims"] if "rule" in c.get("matrix", {}))
    gap["matrix"]["r"] = gap["matrix"]["r"][:1]  # the mnist gaps only: softmax and svm on mnist
    gap["budgets"] = [1, 5]
    (tmp_path / "configs" / "papers" / "cnn_svm.yaml").write_text(yaml.safe_dump(paper))
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=tmp_path)
    assert cfg.arms("cnn_svm", "mnist") == ["softmax", "softmax_x5", "svm", "svm_x5"]
    assert cfg.arms("cnn_svm", "fashion_mnist") == ["softmax", "svm"]
    base, longer = cfg.job_spec("cnn_svm", "mnist", "svm", 0), cfg.job_spec("cnn_svm", "mnist", "svm_x5", 0)
    assert longer["hparams"]["steps"] == 5 * base["hparams"]["steps"] and longer["budget"] == 5.0
    assert {k: v for k, v in longer["hparams"].items() if k != "steps"} == {
        k: v for k, v in base["hparams"].items() if k != "steps"
    }
    with pytest.raises(ConfigError, match="no arm 'svm_x25'"):
        cfg.job_spec("cnn_svm", "mnist", "svm_x25", 0)


def test_cluster_only_experiments_run_at_their_scales_only(tmp_path):
    """An experiment with run_at is absent from other scales' runs and datasets, and a claim
    may not ask to be judged where its experiment does not run."""
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "cnn_svm.yaml").read_text())
    paper["experiments"]["fashion_mnist"]["run_at"] = ["smoke", "paper"]
    for claim in paper["claims"]:  # the templates' Fashion-MNIST claims go
        claim["matrix"]["r"] = [r for r in claim["matrix"]["r"] if r["exp"] == "mnist"]
    path = tmp_path / "configs" / "papers" / "cnn_svm.yaml"
    path.write_text(yaml.safe_dump(paper))
    at = {
        s: load_config(
            PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"], "scale": s}, root=tmp_path
        )
        for s in ("cpu", "paper")
    }
    assert list(at["cpu"].experiments("cnn_svm")) == ["mnist"] and "fashion_mnist" not in at["cpu"].datasets()
    assert sorted(at["paper"].experiments("cnn_svm")) == ["fashion_mnist", "mnist"]
    paper["claims"].append(
        {
            "id": "fm.direction",
            "statement": "s",
            "source": "t",
            "kind": "direction",
            "experiment": "fashion_mnist",
            "metric": "test_acc",
            "method": "softmax",
            "baseline": "svm",
            "better": "higher",
            "judged_at": ["cpu"],
        }
    )
    path.write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError, match=r"judged_at: experiment 'fashion_mnist' does not run at \['cpu'\]"):
        load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=tmp_path)


def test_experiment_seeds_override_the_papers():
    cfg = load_config(PROJECT / "configs" / "config.yaml", root=PROJECT)
    assert cfg.seeds_of("fourier_head") == [1, 2, 3, 42]  # the toy's authors' seeds
    assert cfg.seeds_of("fourier_head", "gaussian") == [1, 2, 3, 42]
    assert cfg.seeds_of("fourier_head", "chronos") == [1, 2, 3]  # the experiment's own
    assert cfg.seeds_of("cnn_svm", "mnist") == cfg.seeds  # neither fixes them: the main config's


def test_a_dataset_name_cannot_carry_shell_syntax(tmp_path):
    (tmp_path / "configs" / "papers").mkdir(parents=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "cnn_svm.yaml").read_text())
    paper["experiments"]["fashion_mnist"]["dataset"] = "fm`touch PWNED`"
    (tmp_path / "configs" / "papers" / "cnn_svm.yaml").write_text(yaml.safe_dump(paper))
    with pytest.raises(ConfigError, match=r"experiments\.fashion_mnist\.dataset: 'fm`touch PWNED`' does not match"):
        load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["cnn_svm"]}, root=tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_nested_command_line_values_arrive_as_strings_and_are_read_as_yaml():
    from logitrepro.config import coerce_cli_strings

    # what `snakemake --config 'seeds={smoke: [5]}' scale=smoke` hands over
    cfg = load_config(
        {
            **yaml.safe_load((PROJECT / "configs" / "config.yaml").read_text()),
            "seeds": {"smoke": ["5"], "cpu": ["0"], "paper": ["0"]},
            "scale": "smoke",
        },
        root=PROJECT,
    )
    assert cfg.seeds == [5]
    schema = {"type": "object", "properties": {"seeds": {"type": "object"}}}
    assert coerce_cli_strings({"seeds": "{smoke: [5]}"}, schema) == {"seeds": {"smoke": [5]}}
    with pytest.raises(ConfigError, match="seeds"):  # what still does not fit is named by the schema
        load_config(PROJECT / "configs" / "config.yaml", overrides={"seeds": "{smoke: [x]}"}, root=PROJECT)


@pytest.mark.parametrize("mode", ["experiment", "arm", "run"])
def test_each_run_is_trained_by_exactly_one_job_in_every_job_mode(mode):
    cfg = load_config(PROJECT / "configs" / "config.yaml", overrides={"scale": "cpu", "jobs": {"cpu": mode}})
    groups = cfg.train_groups("sso")
    runs = [(g.experiment, arm, seed) for g in groups for arm, seed in g.runs]
    expected = [
        (e, a, s) for e in cfg.experiments("sso") for a in cfg.arms("sso", e) for s in cfg.run_seeds("sso", e, a)
    ]
    assert sorted(runs) == sorted(expected) and len(set(runs)) == len(runs)
    assert len({g.rule for g in groups}) == len(groups)  # one Snakemake rule each
    by_experiment = {e: [g for g in groups if g.experiment == e] for e in cfg.experiments("sso")}
    mnist = by_experiment["mnist"]
    if mode == "experiment":
        assert all(len(gs) == 1 and gs[0].name == "all" for gs in by_experiment.values())
    elif mode == "arm":  # mnist tunes nothing (the authors' optimal steps): one job per arm
        assert sorted(g.name for g in mnist) == ["adagrad", "adam", "sgd", "sls", "sso_m1", "sso_m20", "sso_m5"]
    else:
        assert all(len(g.runs) == 1 for g in groups)
    # the experiment's priority (configs/papers/sso.yaml) reaches each of its jobs; without one, 0
    for e, gs in by_experiment.items():
        assert {g.priority for g in gs} == {cfg.experiment("sso", e).get("priority", 0)}
    assert mnist[0].priority > 0


def test_a_job_mode_that_does_not_exist_is_a_config_error():
    with pytest.raises(ConfigError, match="jobs.cpu"):
        load_config(PROJECT / "configs" / "config.yaml", overrides={"jobs": {"cpu": "paper"}})


def sso_with_selection_seeds(tmp_path, seeds):
    """A copy of the SSO config whose breast-cancer experiment picks its grid points on `seeds`."""
    (tmp_path / "configs" / "papers").mkdir(parents=True, exist_ok=True)
    paper = yaml.safe_load((PROJECT / "configs" / "papers" / "sso.yaml").read_text())
    exp = paper["experiments"]["breast_cancer"]  # its select_by is a YAML alias shared with others: a copy
    exp["select_by"] = {**exp["select_by"], "seeds": seeds}
    (tmp_path / "configs" / "papers" / "sso.yaml").write_text(yaml.safe_dump(paper))
    return load_config(PROJECT / "configs" / "config.yaml", overrides={"papers": ["sso"]}, root=tmp_path)


def test_grid_points_also_train_on_held_out_selection_seeds_and_other_arms_do_not(tmp_path):
    cfg = sso_with_selection_seeds(tmp_path, {"cpu": [100, 101], "smoke": [100]})
    runs = {(arm, seed) for g in cfg.train_groups("sso") if g.experiment == "breast_cancer" for arm, seed in g.runs}
    judged = cfg.seeds_of("sso", "breast_cancer")
    assert cfg.selection_seeds("sso", "breast_cancer") == [100, 101] and 100 not in judged
    assert {s for arm, s in runs if arm == "sgd_tuned__t0"} == set(judged) | {100, 101}
    assert {s for arm, s in runs if arm == "sgd"} == set(judged)  # not tuned (the authors' 1/L): judged seeds only
    assert cfg.judge_context("sso")["breast_cancer"]["select_seeds"] == [100, 101]
    assert cfg.selection_seeds("sso", "mnist") == []  # an experiment that tunes nothing picks nothing


def test_selection_seeds_that_are_also_judged_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"select_by.seeds \(cpu\): seeds \[1\] are also judged"):
        sso_with_selection_seeds(tmp_path, {"cpu": [1, 100]})
