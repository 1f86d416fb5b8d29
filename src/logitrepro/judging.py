"""Turn a paper's evaluated runs into its claims file."""

from __future__ import annotations

import math
import shlex

from logitrepro import claims, costs
from logitrepro.config import ConfigError
from logitrepro.metrics.instability import add_spike_episodes
from logitrepro.runs import RunDir
from logitrepro.runspec import spec_difference


class RunsOfAnotherConfig(ConfigError):
    """Runs whose recorded spec is not what the config being judged asks of them."""


def refuse_runs_of_other_configs(evaluations: list[dict], expected_spec, rerun_command) -> None:
    """Judge only runs made with the config being judged: each evaluation carries the spec its run
    was trained with, `expected_spec(experiment, arm, seed)` gives the config's. A run trained with
    another config (another scale's budget in this scale's folder, say) would be judged, and its
    claims labelled, as if it were this config's. `rerun_command(experiment, arm, seed)` is the
    command that trains it again (its job sees the other config and starts afresh)."""
    problems = []
    for ev in evaluations:
        spec = ev["spec"]
        difference = spec_difference(spec, expected_spec(spec["experiment"], spec["arm"], spec["seed"]))
        if difference:
            where = ev.get("run_dir") or f"{spec['paper']}/{spec['experiment']}/{spec['arm']}/seed{spec['seed']}"
            problems.append(
                f"{where} was trained with another config than the one judged here ({difference}); "
                f"train it again: {rerun_command(spec['experiment'], spec['arm'], spec['seed'])}"
            )
    if problems:
        raise RunsOfAnotherConfig(
            f"refusing to judge {len(problems)} run(s) made with another config: " + " | ".join(problems)
        )


def refuse_runs_the_config_does_not_make(cfg, paper: str, evaluations: list[dict], target: str, overrides: str) -> None:
    """refuse_runs_of_other_configs against `cfg`'s specs, each refused run given the command that
    trains it again (its training job's rule, or its folder removed when no job makes it)."""
    rule_of = {(g.experiment, arm, int(seed)): g.rule for g in cfg.train_groups(paper) for arm, seed in g.runs}

    def again(experiment, arm, seed) -> str:
        rule = rule_of.get((experiment, arm, int(seed)))
        return rerun_command(target, overrides, [rule]) if rule else "remove its folder, then run snakemake again"

    refuse_runs_of_other_configs(
        evaluations, lambda experiment, arm, seed: cfg.job_spec(paper, experiment, arm, seed), again
    )


def summarise_arms(evaluations: list[dict], metrics: list[str]) -> dict:
    """{experiment: {arm: {n_runs, n_diverged, metrics: {metric: seed stats}}}}."""
    grouped: dict = {}
    for ev in evaluations:
        s = ev["spec"]
        grouped.setdefault(s["experiment"], {}).setdefault(s["arm"], []).append(ev["metrics"])
    out = {}
    for exp, arms in sorted(grouped.items()):
        out[exp] = {}
        for arm, runs in sorted(arms.items()):
            stats = {}
            for m in metrics:
                vals = [r[m] for r in runs if isinstance(r.get(m), (int, float)) and math.isfinite(r[m])]
                if vals:
                    stats[m] = claims.seed_stats(vals).as_dict()
            out[exp][arm] = {
                "n_runs": len(runs),
                "n_diverged": sum(r.get("status") == "diverged" for r in runs),
                "metrics": stats,
            }
    return out


def build_claims_file(pc: dict, scale: str, evaluations: list[dict], context: dict | None = None) -> dict:
    """The paper's claims file. `context` is Config.judge_context(paper): the seeds each
    experiment expects and its budgets (without it, the seeds present are the ones expected)."""
    paper = pc["paper"]["id"]
    report = pc.get("report", {})
    add_spike_episodes(evaluations)  # metrics across an experiment's arms, before any claim reads them
    metrics = report.get("metrics") or sorted({c["metric"] for c in pc["claims"]})
    records = claims.judge_paper(pc, evaluations, scale, context)
    run_cost = costs.run_costs(evaluations)
    costs.claim_costs(records, evaluations, run_cost)
    return {
        "paper": paper,
        "title": pc["paper"]["title"],
        "arxiv": pc["paper"]["arxiv"],
        "scale": scale,
        "claims": records,
        "arms": summarise_arms(evaluations, metrics),
        "report_metrics": metrics,
        "report_labels": report.get("labels", {}),
        "cost": costs.total(list(run_cost.values())),
        "runs": [run_record(e, run_cost.get(str(e.get("run_dir")))) for e in evaluations],
    }


def run_record(ev: dict, cost: dict | None) -> dict:
    """What a claims file keeps of each run: where it is, what it cost, and what it was made
    from (for `logitrepro diff`: commit, packages, data, hyper-parameters, device)."""
    spec = ev["spec"]
    info = RunDir(ev["run_dir"]).read_info() if ev.get("run_dir") else {}
    return {
        "experiment": spec["experiment"],
        "arm": spec["arm"],
        "seed": spec["seed"],
        "run_dir": ev.get("run_dir"),
        "mlflow_run_id": ev.get("mlflow_run_id"),
        "status": ev["metrics"].get("status"),
        "cost": cost,
        "made_from": {
            "git_commit": info.get("git_commit"),
            "code": info.get("code"),
            "packages": info.get("packages"),
            "data_checksum": info.get("data_checksum"),
            "device": (ev.get("compute") or {}).get("device", info.get("device")),
            "hparams": spec.get("hparams"),
        },
    }


def rerun_command(target: str, overrides: str, rules: list[str]) -> str:
    """The command that trains these training jobs' runs afresh and judges again toward `target`:
    --forcerun runs the jobs, retrain=true makes them train rather than keep their finished runs
    (train.train keeps a finished run of the same config, code and packages)."""
    return f"snakemake {shlex.quote(target)} --cores all --config {overrides} retrain=true --forcerun {' '.join(rules)}"


def add_reruns(claims_file: dict, groups: list, target: str, overrides: str) -> None:
    """Each run gets its training job's rule; each claim the command that trains the runs it
    reads again and judges afresh (rerun_command), toward `target`."""
    rule_of = {(g.experiment, arm, int(seed)): g.rule for g in groups for arm, seed in g.runs}
    for r in claims_file["runs"]:
        r["rule"] = rule_of.get((r["experiment"], r["arm"], int(r["seed"])))
    for c in claims_file["claims"]:
        arms = set(c.get("reads") or ())
        rules = sorted(
            {r["rule"] for r in claims_file["runs"] if r["experiment"] == c["experiment"] and r["arm"] in arms} - {None}
        )
        c["rerun"] = rerun_command(target, overrides, rules) if rules else None
