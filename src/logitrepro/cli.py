"""`logitrepro`: the one entry point. Snakemake rules and DVC stages call these sub-commands;
each is a thin adapter over a module of the package.

Every command that needs settings reads them one way: `--config FILE` (default
configs/config.yaml; the workflow passes the config it validated) and `--set key=value`
overrides, resolved by logitrepro.config.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

from logitrepro.cli_args import at_least, fraction, positive_seconds, positive_steps, positive_threads, unwritable
from logitrepro.config import ConfigError, load_config, read_cli_value
from logitrepro.gpus import DEFAULT_GPU, DEFAULT_UTILISATION, GPUS
from logitrepro.pipeline import COMMAND_USAGE_ENV, record_command_usage

DEFAULT_CONFIG = "configs/config.yaml"


def _config_file(args) -> str:
    """The one config file among --config's values (the rest are KEY=VALUE overrides)."""
    files = [v for v in args.config or [] if "=" not in v]
    if len(files) > 1:
        raise ConfigError(f"--config names {len(files)} files ({', '.join(files)}); give one")
    return files[0] if files else DEFAULT_CONFIG


def _config(args):
    """The validated config: `--config FILE`, then its KEY=VALUE values and `--set a.b=value`
    overrides (values parsed as YAML), as Snakemake's --config reads them."""
    overrides = {}
    items = [v for v in args.config or [] if "=" in v] + list(getattr(args, "set", None) or [])
    for item in items:
        key, _, value = item.partition("=")
        node = overrides
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = read_cli_value(value, f"--set {key}")
    return load_config(_config_file(args), overrides=overrides)


def cmd_prepare(args) -> int:
    from logitrepro.data.prepare import prepare
    from logitrepro.files import naming_full_disk

    data = _config(args).main["data"]
    with naming_full_disk(args.out):
        prepare(
            args.dataset,
            args.out,
            override=data["sources"].get(args.dataset),
            timeout_s=data["download_timeout_s"],
            force=args.force,
        )
    return 0


def cmd_tokenize(args) -> int:
    from logitrepro.data.text import train_bpe
    from logitrepro.files import naming_full_disk

    with naming_full_disk(args.out):
        info = train_bpe(args.data, args.vocab, args.out)
    print(f"byte-level BPE with {info['vocab_size']} tokens -> {args.out}: {info['tokens']}")
    return 0


def cmd_train(args) -> int:
    """Train runs one after the other and evaluate each final checkpoint in the same process
    (torch is loaded once for all of them): each run's metrics.json is what the claims read."""
    from logitrepro import run_times, train
    from logitrepro.extras import require_for_job
    from logitrepro.report.status import fmt_duration
    from logitrepro.runs import RunDir
    from logitrepro.tracking import LiveTracker, make_tracker

    cfg = _config(args)
    runs = [(arm, int(seed)) for arm, _, seed in (r.rpartition(":") for r in args.runs)]
    for arm, seed in runs:  # a missing optional dependency stops the job before its first run trains
        require_for_job(cfg.job_spec(args.paper, args.experiment, arm, seed))
    tracker = make_tracker(cfg.main["tracking"]) if cfg.main["tracking"]["live"][cfg.scale] else None
    if tracker is not None:  # checked at start-up; an outage from here on stops the logging only
        tracker = LiveTracker(tracker)
        tracker.describe_paper(cfg.paper(args.paper)["paper"])
    # the job's start-up so far (interpreter, imports, config, tracking), from the kernel's
    # accounting of this process: its share is part of each run's cost (costs.py)
    startup = {"startup_cpu_s": round(time.process_time(), 2), "startup_wall_s": round(_process_age(), 2)}
    job_started = time.time()
    for i, (arm, seed) in enumerate(runs, 1):
        spec = cfg.job_spec(args.paper, args.experiment, arm, seed)
        run_dir = cfg.run_dir(args.paper, args.experiment, arm, seed)
        if len(runs) > 1:
            print(f"[{i}/{len(runs)}] {args.paper}/{args.experiment}/{arm}/seed{seed}", flush=True)
        wall, cpu = time.time(), time.process_time()
        before, started = run_times.read_info_or_none(run_dir), run_times.utc_now()
        train.train(spec, run_dir, threads=args.threads, tracker=tracker, retrain=cfg.main["retrain"])
        # stamped here, not in train.py: an edit there would change every run's code digest
        run_times.stamp_attempt(run_dir, before, started, run_times.utc_now())
        result = train.evaluate(run_dir, threads=args.threads, tracker=tracker)
        # what this job spent on the run; the rest of the job's benchmark is its start-up (costs.py)
        result["compute"]["job"] = {
            "benchmark": args.benchmark,
            "runs": len(runs),
            **startup,
            "cpu_s": round(time.process_time() - cpu, 2),
            "wall_s": round(time.time() - wall, 2),
        }
        RunDir(run_dir).write_metrics(result)
        if i < len(runs):  # the job's log says how far the job is (logitrepro status reads the same)
            spent, left = time.time() - job_started, len(runs) - i
            print(
                f"[{i}/{len(runs)}] done; {left} run{'s' if left > 1 else ''} left in this job, "
                f"about {fmt_duration(spent / i * left)} at this job's pace so far",
                flush=True,
            )
    return 0


def _process_age() -> float:
    """Seconds since this process started."""
    import psutil

    return time.time() - psutil.Process().create_time()


def cmd_evaluate(args) -> int:
    """Evaluate a finished run's checkpoint afresh (e.g. after a change to a metric's code)."""
    from logitrepro import train
    from logitrepro.files import write_json
    from logitrepro.runs import RunDir

    result = train.evaluate(args.run_dir, threads=args.threads)
    write_json(args.out or RunDir(args.run_dir).metrics, result)
    spec = result["spec"]
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result["metrics"].items() if k != "curve"}
    print(f"[{spec['paper']}/{spec['experiment']}/{spec['arm']}/seed{spec['seed']}] {shown}")
    return 0


def cmd_judge(args) -> int:
    from logitrepro.claims import VERDICTS
    from logitrepro.files import read_json, write_json
    from logitrepro.judging import add_reruns, build_claims_file, refuse_runs_the_config_does_not_make
    from logitrepro.runs import EVALUATE_AGAIN
    from logitrepro.tracking import record_judged_runs

    cfg = _config(args)
    evaluations = [read_json(p, EVALUATE_AGAIN) for p in args.metrics]
    results = cfg.main["paths"]["results"]
    target, overrides = f"{results}/tables/{args.paper}.html", f"scale={cfg.scale}"
    refuse_runs_the_config_does_not_make(cfg, args.paper, evaluations, target, overrides)
    out = build_claims_file(cfg.paper(args.paper), cfg.scale, evaluations, cfg.judge_context(args.paper))
    add_reruns(out, cfg.train_groups(args.paper), target, overrides)
    # the claims first, MLflow after: a tracking store that is down, damaged or killed mid-way
    # costs the links to MLflow runs, never the claims
    write_json(args.out, out)
    if record_judged_runs(cfg.main["tracking"], cfg.paper(args.paper)["paper"], out, evaluations):
        write_json(args.out, out)
    paper_claims = [c for c in out["claims"] if c.get("class", "paper") == "paper"]
    counts = {v: sum(c["verdict"] == v for c in paper_claims) for v in VERDICTS}
    others = len(out["claims"]) - len(paper_claims)
    print(
        f"[{args.paper}] paper claims: "
        + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        + (f" (and {others} sanity checks and extensions)" if others else "")
    )
    return 0


def cmd_record_claims(args) -> int:
    """The claims history in MLflow: one parent run for this invocation's claims files."""
    from logitrepro import runinfo
    from logitrepro.files import read_json, write_json
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.report.tables import tally
    from logitrepro.tracking import TrackingUnavailable, claims_view_key, make_tracker

    cfg = _config(args)
    files = []  # read first: a damaged file is named before anything is recorded
    for path in args.claims:
        if path.endswith(".prov.json"):  # a provenance record beside a claims file (a shell glob's catch)
            continue
        data = read_json(path, JUDGE_AGAIN, expect=None)
        if not isinstance(data, dict) or not isinstance(data.get("claims"), list) or "paper" not in data:
            raise SystemExit(f"record-claims: {path} is not a claims file (written by `logitrepro judge`)")
        files.append(data)
    tracker = make_tracker(cfg.main["tracking"])
    if tracker is None:
        print("tracking.enabled is false: the claims stay in results/claims only")
        return 0
    invocation = {
        "git_commit": runinfo.git_commit(),
        "config_digest": cfg.digest(),
        "summary": tally([c for f in files for c in f["claims"]]),
    }
    try:
        parent, new = tracker.record_claims(files, invocation)
    except Exception as e:  # the store failed after the start-up check (the retries are capped)
        raise TrackingUnavailable(
            f"recording the claims history in {tracker.uri} failed ({type(e).__name__}: {str(e)[:300]}); the "
            f"claims files are intact, and record-claims run again completes the record"
        ) from None
    ui = tracker.ui_url(cfg.main["tracking"].get("ui"))
    exp = tracker.experiment_id("claims")
    view = tracker.claims_view_url(ui, claims_view_key(parent))
    print(f"{'recorded' if new else 'already recorded (identical claims)'}: {view}")
    print(f"every invocation's claims: {tracker.claims_view_url(ui)}")
    if args.out:
        write_json(args.out, {"parent_run_id": parent, "new": new, "experiment_id": exp, "ui": ui, "view": view})
    return 0


def cmd_tables(args) -> int:
    from logitrepro.files import atomic_write_text, read_json
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.report.tables import render

    rendered = render(read_json(args.claims, JUDGE_AGAIN))
    for fmt, path in (("md", args.md), ("tex", args.tex), ("html", args.html)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, rendered[fmt])
    return 0


def cmd_plots(args) -> int:
    import json

    from logitrepro.files import naming_full_disk, read_json
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.report.plots import plot_curves
    from logitrepro.report.tables import selected_points

    selected: dict[str, set[str]] = {}
    if args.claims:  # the tuning-grid points the claims chose: the only ones drawn
        for (experiment, _), run in selected_points(read_json(args.claims, JUDGE_AGAIN)).items():
            selected.setdefault(experiment, set()).add(run)
    sweep = json.loads(args.sweep) if args.sweep else None
    with naming_full_disk(args.out):
        plot_curves(args.runs, args.out, args.curves, args.title, sweep=sweep, selected=selected)
    return 0


def cmd_show(args) -> int:
    """The judged claims, as tables for the terminal or (--json) as data, after the filters."""
    import json
    import shutil

    from logitrepro.files import read_json
    from logitrepro.provenance import SUFFIX
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.report.board import terminal_summary
    from logitrepro.report.select import ClaimFilter, UnknownChoice
    from logitrepro.verdicts import NOT_CHECKED

    folder = Path(args.claims_dir)
    files = sorted(f for f in folder.glob("*.json") if not f.name.endswith(SUFFIX)) if folder.is_dir() else []
    if not files:
        # on stderr: what --json prints on stdout is data only
        print(f"no claims in {folder}; run the pipeline first (make run, or snakemake --cores all)", file=sys.stderr)
        return 1
    claims_files = [read_json(f, JUDGE_AGAIN) for f in files]
    try:
        selection = ClaimFilter(tuple(args.paper or ()), tuple(args.verdict or ()), tuple(args.cls or ()))
        shown = selection.apply(claims_files)
    except UnknownChoice as e:
        print(f"logitrepro show: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([{"paper": cf["paper"], **c} for cf in shown for c in cf["claims"]], indent=1))
        return 0
    if not shown:
        total = sum(len(cf["claims"]) for cf in claims_files)
        print(f"no claim matches {selection.describe()} (of {total} claims in {folder})")
        return 0
    results = folder.parent
    history = results / "tracking" / "claims_history.json"
    try:
        view = json.loads(history.read_text()).get("view") if history.is_file() else None
    except (OSError, ValueError):  # the link is a convenience: a damaged record only loses it
        view = None
    # a filter that asks for claims this scale cannot check shows them rather than their count
    fold = () if NOT_CHECKED in (args.verdict or ()) else (NOT_CHECKED,)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((100, 24)).columns
    # proxies, sanity checks and extensions are not counted: drawn in full only when asked for
    classes = tuple(args.cls) if args.cls else ("paper",)
    print(terminal_summary(shown, width, color, fold, classes, view, str(results / "tables")))
    return 0


def cmd_board(args) -> int:
    from logitrepro.files import atomic_write_text, read_json
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.report.board import render_index

    rendered = render_index([read_json(p, JUDGE_AGAIN) for p in args.claims])
    for fmt, path in (("md", args.md), ("html", args.html)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, rendered[fmt])
    return 0


def cmd_status(args) -> int:
    """Where the training stands: per paper, the runs finished, running (step, time left), queued,
    interrupted and pending, read from the run folders and the training jobs running here."""
    from logitrepro.pipeline import snakemake_works_here
    from logitrepro.progress import live_jobs, survey
    from logitrepro.report.status import format_status

    cfg = _config(args)
    planned = {}
    for paper in cfg.papers:
        for experiment in cfg.experiments(paper):
            for arm in cfg.arms(paper, experiment):
                steps = cfg.hparams_of(paper, experiment, arm)[0].get("steps")
                for seed in cfg.run_seeds(paper, experiment, arm):
                    planned[(paper, experiment, arm, seed)] = steps
    runs = survey(planned, cfg.run_dir, live_jobs())
    jobs = {(g.paper, g.experiment, g.runs): g.name for paper in cfg.papers for g in cfg.train_groups(paper)}
    logs = f"{cfg.main['paths']['results']}/logs/train"

    def log_of(job) -> str | None:  # the job's log, where this config makes the same job
        name = jobs.get((job.paper, job.experiment, job.runs))
        return f"{logs}/{job.paper}/{job.experiment}/{name}.log" if name else None

    print(format_status(runs, cfg.scale, log_of, snakemake_here=snakemake_works_here()))
    return 0


def cmd_diff(args) -> int:
    """Two sets of claims side by side; exit 1 when a paper claim's verdict flipped (a CI guard),
    2 when a side cannot be read (so that a damaged file never reads as a flip)."""
    from logitrepro.claimsets import ClaimsNotFound, load_claim_set
    from logitrepro.report.diff import compare, format_diff, paper_flips

    # outside a project (two claims folders anywhere) the defaults do: results/, the default store
    in_project = Path(_config_file(args)).exists() or _config_file(args) != DEFAULT_CONFIG
    main_cfg = _config(args).main if in_project else {"paths": {"results": "results"}, "tracking": {}}
    claims_dir = f"{main_cfg['paths']['results']}/claims"
    try:
        a, b = (load_claim_set(w, main_cfg["tracking"], claims_dir) for w in (args.a, args.b))
    except ClaimsNotFound as e:
        print(f"logitrepro diff: {e}", file=sys.stderr)
        return 2
    diffs = compare(a, b)
    print(format_diff(a, b, diffs, show_all=args.all))
    return 1 if paper_flips(diffs) else 0


def cmd_plan(args) -> int:
    """Probe every job of the scale at its real shapes; project hours, memory and downloads."""
    from logitrepro.plan import plan

    cfg = _config(args)
    out = Path(args.out or f"{cfg.main['paths']['results']}/plan/{cfg.scale}")
    problem = unwritable(out)  # before the probes, not after them
    if problem:
        print(f"logitrepro plan: error: --out {out}: {problem}", file=sys.stderr)
        return 2
    report = plan(
        cfg,
        out,
        steps=args.steps,
        limit_s=args.time_limit,
        papers=args.papers,
        gpu=args.gpu,
        utilisation=args.utilisation,
    )
    print((out / "plan.md").read_text())
    print(f"written: {out / 'plan.md'} and {out / 'plan.json'}")
    failed = [f for p in report["papers"].values() for f in p["failures"]]
    return 1 if failed else 0


def cmd_dvc_yaml(args) -> int:
    from logitrepro.dvcgen import render_dvc_yaml

    cfg = _config(args)
    text = render_dvc_yaml(cfg)
    path = Path(args.out)
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is out of date with the configs; regenerate it with: logitrepro dvc-yaml", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


def cmd_metric_directions(args) -> int:
    """Regenerate the directions table, one module per task in logitrepro/tasks/_directions/, from
    the tasks' produces() (all scales, all papers)."""
    from logitrepro.config import render_directions

    files = render_directions(_config(args).metric_directions())
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} is out of date; regenerate it: python -m logitrepro metric-directions")
        if not stale:
            print("the directions table is up to date")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"wrote {path}")
    if not stale:
        print("the directions table is up to date")
    return 0


def _claims_files(folder: Path) -> list[dict]:
    """The claims files in a folder (provenance records left beside them from earlier results skipped)."""
    from logitrepro.files import read_json
    from logitrepro.provenance import SUFFIX
    from logitrepro.repair import JUDGE_AGAIN

    files = sorted(f for f in folder.glob("*.json") if not f.name.endswith(SUFFIX)) if folder.is_dir() else []
    return [read_json(f, JUDGE_AGAIN) for f in files]


def cmd_reference(args) -> int:
    """The reference verdicts of a scale, written from a finished run's claims."""
    from logitrepro.reference import write_reference

    files = _claims_files(Path(args.claims_dir))
    if not files:
        print(f"no claims in {args.claims_dir}", file=sys.stderr)
        return 1
    for path in write_reference(files, args.out, args.project):
        print(f"wrote {path}")
    return 0


def cmd_compare_reference(args) -> int:
    """This run's verdicts beside the committed reference's: a difference is information, exit 0."""
    from logitrepro.reference import compare, load_references, reference_dir, render, run_origin

    files = _claims_files(Path(args.claims_dir))
    if not files:
        print(f"no claims in {args.claims_dir}; run the pipeline first (make run)", file=sys.stderr)
        return 1
    scale = files[0]["scale"]
    folder = Path(args.reference) if args.reference else reference_dir(".", scale)
    references = load_references(folder)
    if not references:
        print(f"no reference verdicts for {scale} scale ({folder}): nothing to compare with")
        return 0
    rows = compare(files, references)
    if not rows:
        print(f"none of these papers has reference verdicts in {folder}")
        return 0
    print(render(rows, references, run_origin(files[0])))
    return 0


def cmd_lock_claims(args) -> int:
    """The judged claims into dvc.lock and the DVC cache (not the runs): what to commit, or why not."""
    from logitrepro.dvc_record import record_claims, recorded_stages

    _, message = record_claims(recorded_stages(_config(args)))
    print(message)
    return 0  # a run that succeeded stays a success without DVC


def cmd_verdict_metrics(args) -> int:
    from logitrepro.files import read_json
    from logitrepro.repair import JUDGE_AGAIN
    from logitrepro.verdict_metrics import write_verdict_metrics

    claims_file = read_json(args.claims, JUDGE_AGAIN)
    write_verdict_metrics(claims_file, args.out)
    if args.curves:
        from logitrepro.dvc_curves import paper_series, write_curves

        series = paper_series(_config(args), claims_file["paper"])
        write_curves(claims_file, [s for names in series.values() for s in names], args.curves)
    return 0


def cmd_provenance(args) -> int:
    from logitrepro.provenance import record

    record(args.inputs, args.outputs)
    return 0


def cmd_settle(args) -> int:
    """Put the results in order before Snakemake looks at them (logitrepro.pipeline.settle_results):
    the explicit step that reading the Snakefile never takes."""
    from logitrepro.pipeline import settle_results, snakemake_works_here

    cfg = _config(args)
    if not args.dry_run and snakemake_works_here():
        print("logitrepro settle: a snakemake works in this folder; settle when it has finished", file=sys.stderr)
        return 1
    lines = settle_results(cfg, dry_run=args.dry_run)
    for line in lines:
        print(line)
    if not lines:
        print(f"nothing to settle in {cfg.main['paths']['results']}")
    return 0


def cmd_validate(args) -> int:
    cfg = _config(args)
    cfg.validate_tasks()
    n_runs = sum(len(cfg.run_seeds(p, e, a)) for p in cfg.papers for e in cfg.experiments(p) for a in cfg.arms(p, e))
    print(
        f"config OK: scale {cfg.scale}, papers {', '.join(cfg.papers)}, {n_runs} runs at this scale; "
        f"every arm's hyper-parameters checked at every scale"
    )
    from logitrepro.extras import EXTRAS, extras_of_job, install_line, missing_modules

    needs: dict[str, set[str]] = {}  # extra -> the experiments of this scale that need it
    for p in cfg.papers:
        for e in cfg.experiments(p):
            for a in cfg.arms(p, e):
                for extra in extras_of_job(cfg.job_spec(p, e, a, cfg.run_seeds(p, e, a)[0])):
                    needs.setdefault(extra, set()).add(f"{p}/{e}")
    for extra, experiments in sorted(needs.items()):
        if missing_modules(extra):  # the config is right; this environment cannot run those jobs yet
            print(
                f"note: {', '.join(sorted(experiments))} need the optional dependencies '{extra}' "
                f"({EXTRAS[extra]['needed_by']}), not installed here: {install_line(extra)}"
            )
    return 0


# What `logitrepro --help` says first; the module's docstring is for whoever reads the code.
DESCRIPTION = """Re-run papers about the logit layer and judge their claims. `make run` runs the pipeline
(Snakemake); the commands below read, compare and size what it makes."""


def _verdict(text: str) -> str:
    """--verdict's value: a verdict's words, hyphenated or quoted ("not-reproduced")."""
    from logitrepro.report.select import UnknownChoice, verdict_named

    try:
        return verdict_named(text)
    except UnknownChoice as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    from logitrepro import __version__

    p = argparse.ArgumentParser(
        prog="logitrepro", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"logitrepro {__version__}")
    sub = p.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    plumbing = []

    def command(name: str, help: str, user: bool = False) -> argparse.ArgumentParser:
        """A sub-command: a user's is listed under `commands` in --help, the pipeline's own
        (called by the rules, DVC stages and make) only by name, below them."""
        if user:
            return sub.add_parser(name, help=help, description=help)
        plumbing.append(name)
        return sub.add_parser(name, description=help)

    def with_config(sp):
        sp.add_argument(
            "--config",
            action="append",
            metavar="FILE|KEY=VALUE",
            help=f"the main config file (default: {DEFAULT_CONFIG}) or, repeatable, a key to override as with "
            "snakemake --config, e.g. --config scale=paper",
        )
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. scale=smoke")
        return sp

    sp = with_config(command("prepare", "prepare one dataset (sources chain, checksum, splits)"))
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--force", action="store_true", help="fetch and write again even when the folder verifies")
    sp.set_defaults(func=cmd_prepare)

    sp = command("tokenize", "train a byte-level BPE on a text dataset's training split, encode all splits")
    sp.add_argument("--data", required=True, help="a prepared text dataset (data/<name>)")
    sp.add_argument("--vocab", type=at_least(256, "tokens"), required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_tokenize)

    sp = with_config(command("train", "train and evaluate one paper/experiment/arm/seed (resumes if interrupted)"))
    sp.add_argument("--paper", required=True)
    sp.add_argument("--experiment", required=True)
    sp.add_argument("--runs", nargs="+", required=True, metavar="ARM:SEED", help="the runs to train, in order")
    sp.add_argument("--threads", type=positive_threads, default=1)
    sp.add_argument("--benchmark", help="the job's Snakemake benchmark file (its start-up cost is shared by its runs)")
    sp.set_defaults(func=cmd_train)

    sp = command("evaluate", "evaluate a finished run's checkpoint afresh")
    sp.add_argument("--run-dir", required=True)
    sp.add_argument("--out", help="where to write the result (default: the run's metrics.json)")
    sp.add_argument("--threads", type=positive_threads, default=1)
    sp.set_defaults(func=cmd_evaluate)

    sp = with_config(command("judge", "judge a paper's claims from its runs' metrics"))
    sp.add_argument("--paper", required=True)
    sp.add_argument("--metrics", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_judge)

    sp = with_config(command("record-claims", "record judged claims in MLflow's claims history (once per content)"))
    sp.add_argument("--claims", nargs="+", required=True, help="claims files, one per paper")
    sp.add_argument("--out", help="where to note the parent run (JSON)")
    sp.set_defaults(func=cmd_record_claims)

    sp = command("tables", "paper tables (Markdown, LaTeX, HTML) from a claims file")
    sp.add_argument("--claims", required=True)
    sp.add_argument("--md")
    sp.add_argument("--tex")
    sp.add_argument("--html")
    sp.set_defaults(func=cmd_tables)

    sp = command("board", "every paper claim of every paper on one page (Markdown, HTML)")
    sp.add_argument("--claims", nargs="+", required=True, help="claims files, one per paper")
    sp.add_argument("--md")
    sp.add_argument("--html")
    sp.set_defaults(func=cmd_board)

    sp = command("plots", "training curves of a paper's runs")
    sp.add_argument("--runs", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument(
        "--curves",
        nargs="+",
        default=["train_loss"],
        help="history keys to plot against step, or y@x to plot against another key",
    )
    sp.add_argument("--sweep", help="JSON {param, metric, bound, reference_arm}: a test metric against an arm setting")
    sp.add_argument("--title", default="")
    sp.add_argument("--claims", help="the paper's claims file: of each tuning grid, the point it selected is drawn")
    sp.set_defaults(func=cmd_plots)

    sp = command(
        "compare-reference",
        "this run's verdicts beside the committed reference verdicts of its scale (how make run ends)",
        user=True,
    )
    sp.add_argument("--claims-dir", default="results/claims", help="where the claims files are (default %(default)s)")
    sp.add_argument("--reference", help="a folder of reference verdicts (default: reference/<the run's scale>)")
    sp.set_defaults(func=cmd_compare_reference)

    sp = with_config(
        command("lock-claims", "record the judged claims in dvc.lock and the DVC cache (how make run ends)")
    )
    sp.set_defaults(func=cmd_lock_claims)

    sp = command("reference", "write the reference verdicts of a scale from a finished run's claims")
    sp.add_argument("--claims-dir", default="results/claims")
    sp.add_argument("--out", default=".", help="the project root: they go to reference/<scale>/<paper>.json")
    sp.add_argument("--project", default=".", help="the project the run's folders are relative to (its machine)")
    sp.set_defaults(func=cmd_reference)

    sp = command("show", "the judged claims of the last run, filtered by paper, verdict and class", user=True)
    sp.add_argument("--claims-dir", default="results/claims", help="where the claims files are (default %(default)s)")
    sp.add_argument("--paper", action="append", metavar="PAPER", help="only this paper's claims (repeatable)")
    sp.add_argument(
        "--verdict",
        action="append",
        type=_verdict,
        metavar="VERDICT",
        help="only claims with this verdict (repeatable): reproduced, not-reproduced, inconclusive, not-checked",
    )
    sp.add_argument(
        "--class",
        dest="cls",
        action="append",
        metavar="CLASS",
        help="only claims of this class (repeatable): paper, proxy, sanity, extension",
    )
    sp.add_argument("--json", action="store_true", help="the selected claims as a JSON list, one record per claim")
    sp.set_defaults(func=cmd_show)

    sp = with_config(
        command(
            "status",
            "while the pipeline trains: per paper, the runs finished, running (step, time left) and waiting",
            user=True,
        )
    )
    sp.set_defaults(func=cmd_status)

    sp = with_config(
        command(
            "diff",
            "compare two sets of judged claims (folders, git revisions via DVC, or mlflow:<run id>): the "
            "claims that changed, flips first; exit 1 when a paper claim flipped",
            user=True,
        )
    )
    sp.add_argument("a", help="claims folder, git revision, or mlflow:<parent run id> (mlflow:-1: the newest)")
    sp.add_argument("b", help="the same kinds, compared against a")
    sp.add_argument("--all", action="store_true", help="every claim, also those that did not change")
    sp.set_defaults(func=cmd_diff)

    sp = with_config(
        command(
            "plan",
            "probe every job of a scale at its real shapes (a few steps each, time-limited) and project hours "
            "here, GPU-hours (from counted FLOPs), memory and downloads per paper and claim, e.g. logitrepro plan "
            "--config scale=paper",
            user=True,
        )
    )
    sp.add_argument("--steps", type=positive_steps, default=3, help="training steps per probe (default %(default)s)")
    sp.add_argument(
        "--time-limit", type=positive_seconds, default=90, help="seconds a probe may take (default %(default)s)"
    )
    sp.add_argument("--papers", nargs="+", help="only these papers")
    sp.add_argument("--out", help="folder for plan.md and plan.json (default: results/plan/<scale>)")
    sp.add_argument(
        "--gpu",
        choices=sorted(GPUS),
        default=DEFAULT_GPU,
        help="the GPU to project GPU-hours for, from the FLOPs the probes count (default %(default)s)",
    )
    sp.add_argument(
        "--utilisation",
        type=fraction,
        default=DEFAULT_UTILISATION,
        help="the share of the GPU's peak FLOP/s a job reaches (default %(default)s)",
    )
    sp.set_defaults(func=cmd_plan)

    sp = with_config(command("validate", "validate the configs and every job's hyper-parameters", user=True))
    sp.set_defaults(func=cmd_validate)

    sp = with_config(command("dvc-yaml", "write dvc.yaml from the configs (or --check it is current)"))
    sp.add_argument("--out", default="dvc.yaml")
    sp.add_argument("--check", action="store_true")
    sp.set_defaults(func=cmd_dvc_yaml)

    sp = with_config(
        command("metric-directions", "write logitrepro/tasks/_directions/ from the tasks' produces() (or --check)")
    )
    sp.add_argument("--check", action="store_true")
    sp.set_defaults(func=cmd_metric_directions)

    sp = with_config(
        command("verdict-metrics", "a paper's claims counted by verdict (DVC's metrics) and its curves (DVC's plots)")
    )
    sp.add_argument("--claims", required=True, help="a paper's claims file (results/claims/<paper>.json)")
    sp.add_argument("--out", required=True, help="results/metrics/<paper>.json")
    sp.add_argument(
        "--curves", help="and its runs' training curves for DVC's plots: results/metrics/<paper>_curves.json"
    )
    sp.set_defaults(func=cmd_verdict_metrics)

    sp = command("provenance", "record the content of a job's inputs in the results' provenance folder")
    sp.add_argument("--inputs", nargs="*", default=[])
    sp.add_argument("--outputs", nargs="+", required=True)
    sp.set_defaults(func=cmd_provenance)

    sp = with_config(
        command(
            "settle",
            "put the results in order before Snakemake reads them: after a checkout (timestamps), "
            "a deleted run folder (what was made from it) or changed data (the runs trained on it)",
        )
    )
    sp.add_argument("-n", "--dry-run", action="store_true", help="say what it would do, change nothing")
    sp.set_defaults(func=cmd_settle)

    p.epilog = "\n".join(
        textwrap.wrap(
            "pipeline plumbing (the Snakemake rules, DVC stages and `make run` call these; "
            "`logitrepro COMMAND -h` says what each does; docs/cli.md describes the commands):",
            88,
        )
        + textwrap.wrap(", ".join(plumbing), 88, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from logitrepro.data.store import DataUnavailable
    from logitrepro.extras import MissingExtra
    from logitrepro.files import DamagedFile, NoSpaceLeft
    from logitrepro.tracking import TrackingUnavailable

    try:
        return args.func(args)
    except ConfigError as e:
        print(f"logitrepro: {e}", file=sys.stderr)
        return 2
    except DataUnavailable as e:
        print(f"logitrepro: {e}", file=sys.stderr)
        return 3
    except TrackingUnavailable as e:
        print(f"logitrepro: {e}", file=sys.stderr)
        return 4
    except (DamagedFile, NoSpaceLeft) as e:  # a file this project wrote that cannot be read, or written
        print(f"logitrepro: {e}", file=sys.stderr)
        return 5
    except MissingExtra as e:  # an optional dependency (pyproject's extras) this job needs
        print(f"logitrepro: {e}", file=sys.stderr)
        return 6
    finally:
        if os.environ.get(COMMAND_USAGE_ENV):  # a workflow job: its CPU, for the pipeline's overhead split
            try:
                record_command_usage(args.command, os.environ[COMMAND_USAGE_ENV])
            except NoSpaceLeft as e:  # the command's outcome stands: only its CPU goes unrecorded
                print(f"logitrepro: {e}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
