"""`logitrepro`: the one entry point. Snakemake rules and DVC stages call these sub-commands;
each is a thin adapter over a module of the package."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from logitrepro.config import ConfigError, load_config


def _config(args):
    """The validated config, with `--set a.b=value` overrides (values parsed as YAML)."""
    overrides = {}
    for item in getattr(args, "set", None) or []:
        key, _, value = item.partition("=")
        node = overrides
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return load_config(args.config, overrides=overrides)


def _set_kernel_backend(spec_or_cfg: dict) -> None:
    backend = spec_or_cfg.get("kernels", {}).get("backend", "auto")
    os.environ.setdefault("LOGITREPRO_KERNEL_BACKEND", backend)


def cmd_prepare(args) -> int:
    from logitrepro.data.prepare import prepare

    if args.resolved:  # what the workflow passes: its own validated settings
        settings = json.loads(args.resolved)
        override, timeout = settings.get("source"), settings["timeout_s"]
    else:
        data = _config(args).main["data"]
        override, timeout = data["sources"].get(args.dataset), data["download_timeout_s"]
    prepare(args.dataset, args.out, override=override, timeout_s=timeout)
    return 0


def cmd_tokenize(args) -> int:
    from logitrepro.data.text import train_bpe

    info = train_bpe(args.data, args.vocab, args.out)
    print(f"byte-level BPE with {info['vocab_size']} tokens -> {args.out}: {info['tokens']}")
    return 0


def cmd_train(args) -> int:
    from logitrepro import train

    if args.spec:
        spec = json.loads(args.spec)
    else:
        spec = _config(args).job_spec(args.paper, args.experiment, args.arm, args.seed)
    _set_kernel_backend(spec)
    run_dir = Path(args.run_dir)
    tracker = train.make_tracker(spec)
    summary = train.train(spec, run_dir, threads=args.threads, tracker=tracker)
    from logitrepro import evalcache
    from logitrepro.runinfo import write_json

    # Evaluate now, while torch and MLflow are loaded; the evaluate stage reuses it (evalcache).
    evalcache.store(run_dir, train.evaluate(run_dir, threads=args.threads, tracker=tracker))
    write_json(run_dir / "train.json", summary)
    return 0


def cmd_evaluate(args) -> int:
    from logitrepro import evalcache
    from logitrepro.runinfo import read_json, write_json

    spec = read_json(Path(args.run_dir) / "run.json")["spec"]
    result = None if args.fresh else evalcache.load(args.run_dir)
    if result is None:
        from logitrepro import train

        _set_kernel_backend(spec)
        result = train.evaluate(args.run_dir, threads=args.threads, tracker=train.make_tracker(spec))
    else:
        print("evaluation done by the training job on this checkpoint and code (--fresh recomputes it)")
    write_json(args.out, result)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in result["metrics"].items()}
    print(f"[{spec['paper']}/{spec['experiment']}/{spec['arm']}/seed{spec['seed']}] {shown}")
    return 0


def cmd_judge(args) -> int:
    from logitrepro import claims as claims_mod
    from logitrepro.judging import build_claims_file, log_claims
    from logitrepro.runinfo import read_json, write_json

    if args.resolved:
        settings = json.loads(args.resolved)
    else:
        cfg = _config(args)
        settings = {"paper_config": cfg.paper(args.paper), "scale": cfg.scale, "tracking": cfg.main["tracking"],
                    "context": cfg.judge_context(args.paper)}
    evaluations = [read_json(p) for p in args.metrics]
    out = build_claims_file(settings["paper_config"], settings["scale"], evaluations, settings.get("context"))
    write_json(args.out, out)
    if os.environ.get("LOGITREPRO_NO_TRACKING") != "1":
        log_claims(settings["tracking"], out)
    paper_claims = [c for c in out["claims"] if c.get("class", "paper") == "paper"]
    counts = {v: sum(c["verdict"] == v for c in paper_claims) for v in claims_mod.VERDICTS}
    others = len(out["claims"]) - len(paper_claims)
    print(f"[{args.paper}] paper claims: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
          + (f" (and {others} sanity checks and extensions)" if others else ""))
    return 0


def cmd_tables(args) -> int:
    from logitrepro.report.tables import render
    from logitrepro.runinfo import read_json

    rendered = render(read_json(args.claims))
    for fmt, path in (("md", args.md), ("tex", args.tex), ("html", args.html)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(rendered[fmt])
    return 0


def cmd_plots(args) -> int:
    from logitrepro.report.plots import plot_curves

    plot_curves(args.runs, args.out, args.curves, args.title, sweep=json.loads(args.sweep) if args.sweep else None)
    return 0


def cmd_show(args) -> int:
    from logitrepro.report.tables import terminal_summary
    from logitrepro.runinfo import read_json

    folder = Path(args.claims_dir)
    from logitrepro.provenance import SUFFIX

    files = sorted(f for f in folder.glob("*.json") if not f.name.endswith(SUFFIX)) if folder.is_dir() else []
    if not files:
        print(f"no claims in {folder}; run the pipeline first (make run, or snakemake --cores all)")
        return 1
    print(terminal_summary([read_json(f) for f in files]))
    print(f"\nTables: {Path(args.claims_dir).parent / 'tables'}/   Browse runs: mlflow ui")
    return 0


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


def cmd_provenance(args) -> int:
    from logitrepro.provenance import record

    record(args.inputs, args.outputs)
    return 0


def cmd_validate(args) -> int:
    cfg = _config(args)
    print(f"config OK: scale {cfg.scale}, papers {', '.join(cfg.papers)}, seeds {cfg.seeds}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="logitrepro", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp):
        sp.add_argument("--config", default="configs/config.yaml", help="main config (default: %(default)s)")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. scale=smoke")
        return sp

    sp = with_config(sub.add_parser("prepare", help="prepare one dataset (sources chain, checksum, splits)"))
    sp.add_argument("--dataset", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--resolved", help="JSON {source, timeout_s} from the workflow (instead of --config)")
    sp.set_defaults(func=cmd_prepare)

    sp = sub.add_parser("tokenize", help="train a byte-level BPE on a text dataset's training split, encode all splits")
    sp.add_argument("--data", required=True, help="a prepared text dataset (data/<name>)")
    sp.add_argument("--vocab", type=int, required=True)
    sp.add_argument("--out", required=True)
    sp.set_defaults(func=cmd_tokenize)

    sp = with_config(sub.add_parser("train", help="train one paper/experiment/arm/seed (resumes if interrupted)"))
    sp.add_argument("--spec", help="resolved job spec as JSON (what the workflow passes)")
    sp.add_argument("--paper")
    sp.add_argument("--experiment")
    sp.add_argument("--arm")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--run-dir", required=True)
    sp.add_argument("--threads", type=int, default=1)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="test metrics of a finished run")
    sp.add_argument("--run-dir", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--threads", type=int, default=1)
    sp.add_argument("--fresh", action="store_true", help="recompute even when the training job's evaluation is current")
    sp.set_defaults(func=cmd_evaluate)

    sp = with_config(sub.add_parser("judge", help="judge a paper's claims from its runs' metrics"))
    sp.add_argument("--paper", required=True)
    sp.add_argument("--metrics", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--resolved", help="JSON {paper_config, scale, tracking} from the workflow (instead of --config)")
    sp.set_defaults(func=cmd_judge)

    sp = sub.add_parser("tables", help="paper tables (Markdown, LaTeX, HTML) from a claims file")
    sp.add_argument("--claims", required=True)
    sp.add_argument("--md")
    sp.add_argument("--tex")
    sp.add_argument("--html")
    sp.set_defaults(func=cmd_tables)

    sp = sub.add_parser("plots", help="training curves of a paper's runs")
    sp.add_argument("--runs", nargs="+", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--curves", nargs="+", default=["train_loss"],
                    help="history keys to plot against step, or y@x to plot against another key")
    sp.add_argument("--sweep", help="JSON {param, metric, bound, reference_arm}: a test metric against an arm setting")
    sp.add_argument("--title", default="")
    sp.set_defaults(func=cmd_plots)

    sp = sub.add_parser("show", help="print the claims table of the last run")
    sp.add_argument("--claims-dir", default="results/claims")
    sp.set_defaults(func=cmd_show)

    sp = with_config(sub.add_parser("dvc-yaml", help="write dvc.yaml from the configs (or --check it is current)"))
    sp.add_argument("--out", default="dvc.yaml")
    sp.add_argument("--check", action="store_true")
    sp.set_defaults(func=cmd_dvc_yaml)

    sp = sub.add_parser("provenance", help="record the content of a job's inputs beside its outputs")
    sp.add_argument("--inputs", nargs="*", default=[])
    sp.add_argument("--outputs", nargs="+", required=True)
    sp.set_defaults(func=cmd_provenance)

    sp = with_config(sub.add_parser("validate", help="validate the configs"))
    sp.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"logitrepro: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a readable last line, the traceback above it for debugging
        from logitrepro.data.prepare import DataUnavailable

        if isinstance(e, DataUnavailable):
            print(f"logitrepro: {e}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
