"""Turn a paper's evaluated runs into its claims file."""

from __future__ import annotations

import math

from logitrepro import claims


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
    metrics = report.get("metrics") or sorted({c["metric"] for c in pc["claims"]})
    return {
        "paper": paper,
        "title": pc["paper"]["title"],
        "arxiv": pc["paper"]["arxiv"],
        "scale": scale,
        "claims": claims.judge_paper(pc, evaluations, scale, context),
        "arms": summarise_arms(evaluations, metrics),
        "report_metrics": metrics,
        "report_labels": report.get("labels", {}),
        "runs": [
            {
                "experiment": e["spec"]["experiment"],
                "arm": e["spec"]["arm"],
                "seed": e["spec"]["seed"],
                "run_dir": e.get("run_dir"),
                "mlflow_run_id": e.get("mlflow_run_id"),
            }
            for e in evaluations
        ],
    }
