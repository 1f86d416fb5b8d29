"""Turn a paper's evaluated runs into its claims file, and record each judged claim in MLflow."""
from __future__ import annotations

import math

from logitrepro import claims
from logitrepro.tracking import CLAIMS_EXPERIMENT, Tracker, resolve_uri


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
            out[exp][arm] = {"n_runs": len(runs), "n_diverged": sum(r.get("status") == "diverged" for r in runs),
                             "metrics": stats}
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
        "runs": [{"experiment": e["spec"]["experiment"], "arm": e["spec"]["arm"], "seed": e["spec"]["seed"],
                  "run_dir": e.get("run_dir"), "mlflow_run_id": e.get("mlflow_run_id")} for e in evaluations],
    }


def log_claims(tracking: dict, claims_file: dict) -> None:
    """One run per judged claim in the `claims` experiment: verdict as a tag, numbers as metrics."""
    tracker = Tracker(resolve_uri(tracking["uri"]), tracking["artifacts"])
    for c in claims_file["claims"]:
        tags = {"paper": claims_file["paper"], "claim_id": c["id"], "verdict": c["verdict"], "scale": c["scale"],
                "class": c.get("class", "paper"), "kind": c["kind"], "arxiv": claims_file["arxiv"],
                "statement": c["statement"][:5000], "reason": (c.get("reason") or "")[:5000],
                "runs": ",".join(r["mlflow_run_id"] or "" for r in claims_file["runs"]
                                 if r["experiment"] == c["experiment"])[:5000]}
        run_id = tracker.start_run(CLAIMS_EXPERIMENT, c["id"], tags)
        measured = c.get("measured") or {}
        power = c.get("power") or {}
        numbers = {"claimed": c.get("claimed"), "tolerance": c.get("tolerance"), "measured_mean": measured.get("mean"),
                   "ci_low": measured.get("ci_low"), "ci_high": measured.get("ci_high"), "n_seeds": measured.get("n"),
                   "p_pass_perfect": power.get("perfect"), "p_pass_null": power.get("null")}
        tracker.log_metrics(run_id, {k: v for k, v in numbers.items()
                                     if isinstance(v, (int, float)) and math.isfinite(v)})
        tracker.end_run(run_id)
