"""A planned run: what every training job of a scale (paper scale above all) will cost, and
whether it works at its real shapes, measured before a cluster allocation is spent on it.

One probe per (experiment, arm): the seeds of an arm, the points of its tuning grid and its
budget variants share its shapes, so they share its probe. A probe builds the task at the
scale's real shapes on the device at hand and runs a few training steps, then one validation
and one test evaluation, in a child process under a hard time limit; it records each phase as
it ends, so a probe that is killed still tells how far it got. Data: the real prepared dataset
where this machine has it (prepared here when a source answers); otherwise a stand-in of the
same on-disk layout and shapes, as the dataset's registry entry describes it (plan_data.py),
named in the report. The step time is the median over the steps after the first (the first
pays for allocation and kernel selection).

Where a single step does not finish within the limit (a paper-scale model on a CPU), a second
probe at 1/16 of the batch gives a step time (and FLOPs) scaled up linearly in the batch; the
report says so, and that the memory it measured is that smaller batch's. Where an evaluation does
not finish, the projection leaves it out and says so.

A run's projection on this device: set-up + steps x step time + (steps / eval_every) validations
+ one test. On a GPU (logitrepro.gpus: a named one at a stated utilisation of its datasheet peak):
the same count of steps and evaluations at the FLOPs the probe counted in its first step and its
evaluations (torch.utils.flop_counter), arithmetic only. The counter sees PyTorch's operators: a
probe on CUDA that runs Triton kernels undercounts, so FLOPs are best counted on a CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from logitrepro.budgets import parse_budget_arm
from logitrepro.config import TUNED, Config
from logitrepro.files import read_json, write_json
from logitrepro.gpus import DEFAULT_GPU, DEFAULT_UTILISATION, GPU, GPUS

BATCH_DIVISOR = 16  # the fallback probe's batch: 1/16 of the real one
NOT_RUN = {  # a probe's measurements before it ran
    "device": None,
    "setup_s": None,
    "step_time": None,
    "steps_measured": 0,
    "val_s": None,
    "test_s": None,
    "rss_mb": None,
    "gpu_mem_mb": None,
    "probe_wall_s": 0.0,
    "batch_scale": 1.0,
    "step_flops": None,
    "val_flops": None,
    "test_flops": None,
}


@dataclass
class Probe:
    paper: str
    experiment: str
    arm: str  # the run probed: the arm itself, or the first point of its tuning grid
    runs: list[tuple[str, int]] = field(default_factory=list)  # every (arm, seed) it stands for

    @property
    def label(self) -> str:
        return f"{self.paper}/{self.experiment}/{self.arm}"


def probes_of(cfg: Config, papers: list[str] | None = None) -> list[Probe]:
    """One probe per (paper, experiment, arm family) at the config's scale."""
    out: dict[tuple, Probe] = {}
    for paper in papers or list(cfg.papers):
        for experiment in sorted(cfg.experiments(paper)):
            for arm in cfg.arms(paper, experiment):
                family = parse_budget_arm(arm)[0].partition(TUNED)[0]
                key = (paper, experiment, family)
                if key not in out:
                    out[key] = Probe(paper, experiment, parse_budget_arm(arm)[0])
                out[key].runs += [(arm, seed) for seed in cfg.run_seeds(paper, experiment, arm)]
    return list(out.values())


# ------------------------------------------------------------------------------------- the child


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(spec: dict, steps: int, threads: int, out: str) -> None:
    """In the child: build the task, time `steps` training steps, a validation and a test
    evaluation, writing what is known after each phase to `out`."""
    import contextlib

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from logitrepro.kernels import use_backend
    from logitrepro.tasks import make_task
    from logitrepro.train import select_device, set_threads

    record: dict = {"phase": "start", "step_s": []}
    counted: dict[str, FlopCounterMode] = {}

    def counting(what: str):
        """Count the FLOPs of the first training step (its time is not used: it pays for
        allocation) and of each evaluation; other steps run without the counter's dispatch."""
        if what == "step" and "step" in counted:
            return contextlib.nullcontext()
        counted[what] = FlopCounterMode(display=False)
        return counted[what]

    def save(**kw):
        record.update(kw, rss_mb=round(_rss_mb(), 1))
        if record.get("device") == "cuda":
            record["gpu_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        write_json(out, record)

    try:
        set_threads(threads)
        device = select_device(spec["device"])
        save(device=device)
        with use_backend(spec["kernels"]["backend"]):
            started = time.perf_counter()
            task = make_task(spec, device)
            optimizer = task.optimizer()
            save(phase="set up", setup_s=time.perf_counter() - started)
            for step in range(steps):
                tick = time.perf_counter()
                with counting("step"):
                    loss, _ = task.train_step(task.batch(step), optimizer)
                    float(loss.detach()) if torch.is_tensor(loss) else float(loss)  # waits for the device
                if device == "cuda":
                    torch.cuda.synchronize()
                record["step_s"].append(time.perf_counter() - tick)
                save(phase=f"step {step + 1}", step_flops=counted["step"].get_total_flops())
            for split in ("val", "test"):
                tick = time.perf_counter()
                with torch.no_grad(), counting(split):
                    task.evaluate(split)
                if device == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - tick
                save(
                    phase=f"{split} evaluated",
                    **{f"{split}_s": elapsed, f"{split}_flops": counted[split].get_total_flops()},
                )
        save(phase="done")
    except Exception as e:  # the job fails at its real shape: the finding the plan exists for
        save(
            failed_in=record["phase"],
            phase="failed",
            error=f"{type(e).__name__}: {e}"[:2000],
            traceback=traceback.format_exc()[-4000:],
        )


def run_probe(spec: dict, steps: int, threads: int, limit_s: float, out: Path) -> dict:
    """Run `measure` in a forked child under a hard time limit; what it recorded, with the status
    'done', 'failed' or 'timeout' (killed after `limit_s`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    child = multiprocessing.get_context("fork").Process(target=measure, args=(spec, steps, threads, str(out)))
    started = time.time()
    child.start()
    child.join(limit_s)
    killed = child.is_alive()
    if killed:
        child.kill()
        child.join()
    record = read_json(out, "run `logitrepro plan` again") if out.exists() else {"phase": "start", "step_s": []}
    record["wall_s"] = round(time.time() - started, 2)
    if killed:
        record["status"] = "timeout"
    elif record.get("phase") == "done":
        record["status"] = "done"
    else:
        record["status"] = "failed"
        record.setdefault("error", f"the probe process ended with exit code {child.exitcode} ({record['phase']})")
    return record


# ------------------------------------------------------------------------------------- projection


def step_time(record: dict) -> float | None:
    """The median step time after the first step (which pays for allocation); the first alone
    when it is all there is."""
    steps = record.get("step_s") or []
    if not steps:
        return None
    return statistics.median(steps[1:]) if len(steps) > 1 else steps[0]


def project_run(loop: dict, measured: dict) -> tuple[float | None, list[str]]:
    """Seconds one run will take, and what the figure leaves out or assumes."""
    notes = []
    step = measured.get("step_time")
    if step is None:
        return None, ["no training step finished"]
    total = (measured.get("setup_s") or 0.0) + loop["steps"] * step
    evals = loop["steps"] // max(1, loop["eval_every"])
    if measured.get("val_s") is not None:
        total += evals * measured["val_s"]
    elif evals:
        notes.append("validation not measured")
    if measured.get("test_s") is not None:
        total += measured["test_s"]
    else:
        notes.append("test evaluation not measured")
    return total, notes


def project_gpu(loop: dict, measured: dict, gpu: GPU, utilisation: float) -> float | None:
    """Seconds of one run's arithmetic on `gpu` at `utilisation`: its training steps and
    evaluations at the FLOPs the probe counted (torch.utils.flop_counter); None where it counted
    no training step. Set-up, data loading and kernel launches are not in it."""
    flops = measured.get("step_flops")
    if not flops:
        return None
    evals = loop["steps"] // max(1, loop["eval_every"])
    total = loop["steps"] * flops + evals * (measured.get("val_flops") or 0) + (measured.get("test_flops") or 0)
    return gpu.seconds(total, utilisation)


def loop_of(cfg: Config, paper: str, experiment: str, arm: str, seed: int) -> dict:
    """The run's loop length and evaluation interval, as its task's hyper-parameters resolve them."""
    from logitrepro.hparams import build
    from logitrepro.tasks import hparams_class

    spec = cfg.job_spec(paper, experiment, arm, seed)
    hp = build(hparams_class(spec["task"]), spec["hparams"], task=spec["task"])
    return {"steps": int(hp.steps), "eval_every": int(hp.eval_every)}


def probe_one(cfg: Config, probe: Probe, steps: int, limit_s: float, workdir: Path, data: dict, log) -> dict:
    """Probe one arm at its real shapes (then at 1/16 of its batch when a step does not finish)."""
    from logitrepro.data.store import DataUnavailable
    from logitrepro.extras import MissingExtra, require_for_job
    from logitrepro.plan_data import data_dir_for

    seed = probe.runs[0][1]
    spec = cfg.job_spec(probe.paper, probe.experiment, probe.arm, seed)
    try:  # a job that needs an optional dependency not installed here fails as its training job would
        require_for_job(spec)
    except MissingExtra as e:
        return {**NOT_RUN, "label": probe.label, "status": "failed", "phase": "start", "error": str(e), "data": "none"}
    try:
        spec["data_dir"], data_note = data_dir_for(spec, data, workdir / "data", log, cfg.main["data"]["sources"])
    except DataUnavailable as e:
        return {**NOT_RUN, "label": probe.label, "status": "failed", "phase": "data", "error": str(e), "data": "none"}
    threads = min(int(cfg.main["resources"][cfg.scale]["threads"]), os.cpu_count() or 1)
    name = f"{probe.paper}__{probe.experiment}__{probe.arm}"
    record = run_probe(spec, steps, threads, limit_s, workdir / "probes" / f"{name}.json")
    result = {
        "label": probe.label,
        "status": record["status"],
        "data": data_note,
        "device": record.get("device"),
        "setup_s": record.get("setup_s"),
        "step_time": step_time(record),
        "steps_measured": len(record.get("step_s") or []),
        "val_s": record.get("val_s"),
        "test_s": record.get("test_s"),
        "rss_mb": record.get("rss_mb"),
        "gpu_mem_mb": record.get("gpu_mem_mb"),
        "probe_wall_s": record["wall_s"],
        "error": record.get("error"),
        "phase": record.get("failed_in", record.get("phase")),  # the last phase it finished
        "batch_scale": 1.0,
        "step_flops": record.get("step_flops"),
        "val_flops": record.get("val_flops"),
        "test_flops": record.get("test_flops"),
    }
    batch = spec["hparams"].get("batch_size")
    if record["status"] == "timeout" and result["step_time"] is None and record.get("setup_s") is not None and batch:
        small = max(1, int(batch) // BATCH_DIVISOR)
        log(f"  {probe.label}: no step within {limit_s:g} s at batch {batch}; probing batch {small}")
        spec_small = {**spec, "hparams": {**spec["hparams"], "batch_size": small}}
        again = run_probe(spec_small, steps, threads, limit_s, workdir / "probes" / f"{name}__small.json")
        if step_time(again) is not None:
            result.update(
                step_time=step_time(again) * batch / small,
                steps_measured=len(again["step_s"]),
                batch_scale=batch / small,
                rss_mb=again.get("rss_mb"),
                gpu_mem_mb=again.get("gpu_mem_mb"),
                small_batch=small,
                batch=int(batch),
                status="extrapolated",
            )
            if again.get("step_flops"):  # a step's FLOPs grow with the batch as its time does
                result["step_flops"] = again["step_flops"] * batch / small
    return result


def summarise(
    cfg: Config,
    probes: list[Probe],
    results: dict[str, dict],
    gpu: GPU | None = None,
    utilisation: float = DEFAULT_UTILISATION,
) -> dict:
    """Per run, per claim and per paper: projected hours here and on `gpu`, peak memory, failures.
    A paper's total counts each run once; a claim's counts every run it reads, those it shares
    with other claims too (and, apart, the hours of the runs only it reads)."""
    from logitrepro.claims.engine import arms_read

    gpu = gpu or GPUS[DEFAULT_GPU]
    runs = []
    for probe in probes:
        measured = results[probe.label]
        for arm, seed in probe.runs:
            loop = loop_of(cfg, probe.paper, probe.experiment, arm, seed)
            seconds, notes = project_run(loop, measured)
            if measured["batch_scale"] != 1:
                notes.append(f"step time scaled up {measured['batch_scale']:g}x from batch {measured['small_batch']}")
            runs.append(
                {"paper": probe.paper, "experiment": probe.experiment, "arm": arm, "seed": seed, "seconds": seconds}
                | {"gpu_seconds": project_gpu(loop, measured, gpu, utilisation), "notes": notes, "probe": probe.label}
            )
    papers = {}
    for paper in sorted({p.paper for p in probes}):
        mine = [r for r in runs if r["paper"] == paper]
        probed = [results[p.label] for p in probes if p.paper == paper]
        context = cfg.judge_context(paper)
        reads = {}  # claim id -> the claim and the runs it reads
        for claim in cfg.claims(paper):
            if claim.experiment in context:
                arms = set(arms_read(claim, context[claim.experiment]))
                reads[claim.id] = (
                    claim,
                    [r for r in mine if r["experiment"] == claim.experiment and r["arm"] in arms],
                )
        readers: dict[tuple, int] = {}
        for _, read in reads.values():
            for r in read:
                readers[_run_key(r)] = readers.get(_run_key(r), 0) + 1
        claims = []
        for claim_id, (claim, read) in reads.items():
            own = [r for r in read if readers[_run_key(r)] == 1]
            claims.append(
                {
                    "id": claim_id,
                    "runs": len(read),
                    "shared_runs": len(read) - len(own),
                    "hours": _hours(read),
                    "own_hours": _hours(own),
                    "gpu_hours": _hours(read, "gpu_seconds"),
                    "unmeasured_runs": sum(r["seconds"] is None for r in read),
                    "judged_here": cfg.scale in claim.judged_at,
                }
            )
        res = cfg.main["resources"][cfg.scale]
        warnings = [
            f"{p['label']}: peak memory {p['rss_mb']:,.0f} MB{_at_batch(p)}, over the {res['mem_mb']:,} MB a job "
            f"asks for (resources.{cfg.scale}.mem_mb)"
            for p in probed
            if (p["rss_mb"] or 0) > res["mem_mb"]
        ]
        warnings += [
            f"{p['label']}: memory measured{_at_batch(p)}, not at the run's batch ({p['batch']}): "
            "its activations take more at the real batch"
            for p in probed
            if p["batch_scale"] != 1 and (p["rss_mb"] or 0) <= res["mem_mb"]
        ]
        slow = [r for r in mine if r["seconds"] is not None and r["seconds"] > 60 * res["runtime"]]
        for label in sorted({r["probe"] for r in slow}):
            worst = max(r["seconds"] for r in slow if r["probe"] == label)
            warnings.append(
                f"{label}: runs projected at up to {worst / 3600:,.1f} h on this device, over the {res['runtime']} min "
                f"a job asks for (resources.{cfg.scale}.runtime)"
            )
        papers[paper] = {
            "warnings": warnings,
            "runs": len(mine),
            "hours": _hours(mine),
            "unmeasured_runs": sum(r["seconds"] is None for r in mine),
            "gpu_hours": _hours(mine, "gpu_seconds"),
            "uncounted_runs": sum(r["gpu_seconds"] is None for r in mine),
            "peak_rss_mb": max((p["rss_mb"] or 0) for p in probed),
            "small_batch_memory": [p["label"] for p in probed if p["batch_scale"] != 1],
            "peak_gpu_mem_mb": max((p["gpu_mem_mb"] or 0) for p in probed) or None,
            "failures": [
                {"probe": p["label"], "status": p["status"], "phase": p["phase"], "error": p["error"]}
                for p in probed
                if p["status"] in ("failed",) or (p["status"] == "timeout" and p["step_time"] is None)
            ],
            "extrapolated": [p["label"] for p in probed if p["status"] == "extrapolated"],
            "claims": claims,
        }
    return {"runs": runs, "papers": papers}


def _hours(runs: list[dict], key: str = "seconds") -> float:
    return sum(r[key] for r in runs if r[key] is not None) / 3600


def _run_key(run: dict) -> tuple:
    return run["experiment"], run["arm"], run["seed"]


def _at_batch(probe: dict) -> str:
    """' at batch 8 (1/16 of 128)' for a probe measured at a reduced batch; '' otherwise."""
    if probe.get("batch_scale", 1) == 1:
        return ""
    return f" at batch {probe['small_batch']} (1/{probe['batch_scale']:g} of {probe['batch']})"


def plan(
    cfg: Config,
    out_dir: str | Path,
    steps: int = 3,
    limit_s: float = 90.0,
    papers: list[str] | None = None,
    log=print,
    gpu: str = DEFAULT_GPU,
    utilisation: float = DEFAULT_UTILISATION,
) -> dict:
    """Probe every job of the config's scale; write plan.json and plan.md under `out_dir`.
    GPU-hours are projected for GPUS[gpu] at `utilisation` of its peak."""
    import torch  # noqa: F401  (imported once here, so each forked probe starts at once)

    from logitrepro.plan_data import datasets_needed, download_report

    out_dir = Path(out_dir)
    probes = probes_of(cfg, papers)
    wanted = papers or list(cfg.papers)
    data = datasets_needed(cfg, wanted)
    log(
        f"plan at {cfg.scale} scale: {len(probes)} probes for {sum(len(p.runs) for p in probes)} runs, "
        f"{steps} steps each, at most {limit_s:g} s a probe: at most {len(probes) * limit_s / 60:,.0f} min in all "
        "(a probe that cannot finish a step runs again at 1/16 of its batch, up to as long again)"
    )
    results = {}
    started = time.time()
    for i, probe in enumerate(probes, 1):
        results[probe.label] = r = probe_one(cfg, probe, steps, limit_s, out_dir, data, log)
        shown = "–" if r["step_time"] is None else f"{r['step_time']:.3g} s/step"
        log(f"[{i}/{len(probes)}] {probe.label}: {r['status']}, {shown} ({time.time() - started:.0f} s so far)")
        if r["error"]:
            log(f"    {r['error'].splitlines()[0][:300]}")
    summary = summarise(cfg, probes, results, GPUS[gpu], utilisation)
    report = {
        "scale": cfg.scale,
        "device": _device_words(results),
        "gpu": {"name": GPUS[gpu].name, "peak_tflops": GPUS[gpu].peak_tflops, "utilisation": utilisation},
        "steps": steps,
        "limit_s": limit_s,
        "probes": results,
        "datasets": download_report(data),
        **summary,
    }
    write_json(out_dir / "plan.json", report)
    (out_dir / "plan.md").write_text(render(report))
    return report


def _device_words(results: dict) -> str:
    import platform

    devices = sorted({r["device"] for r in results.values() if r.get("device")})
    if devices == ["cpu"]:
        return f"cpu ({platform.machine()}, {os.cpu_count()} cores)"
    return ", ".join(devices) or "unknown"


# ------------------------------------------------------------------------------------- the report


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""


def _fmt_hours(h: float) -> str:
    return f"{h:,.1f}" if h >= 10 else f"{h:.3g}"


def _gpu_hours(p: dict) -> str:
    if "gpu_hours" not in p:  # a plan.json from before FLOPs were counted
        return "–"
    if p["uncounted_runs"] == p["runs"]:
        return "not counted"
    return _fmt_hours(p["gpu_hours"]) + (f" (+{p['uncounted_runs']} runs not counted)" if p["uncounted_runs"] else "")


def render(report: dict) -> str:
    from tabulate import tabulate

    gpu = report.get("gpu") or {"name": GPUS[DEFAULT_GPU].name, "peak_tflops": GPUS[DEFAULT_GPU].peak_tflops}
    gpu.setdefault("utilisation", DEFAULT_UTILISATION)
    on_gpu = f"{gpu['name']} h at {gpu['utilisation']:.0%}"
    lines = [
        f"# Planned run at {report['scale']} scale",
        "",
        f"Measured on {report['device']}: {report['steps']} training steps per probe (the first not counted), "
        f"then one validation and one test evaluation, at most {report['limit_s']:g} s a probe. Hours here are "
        "wall hours of one job at a time on this device.",
        "",
        f"GPU hours are projected from the FLOPs the probes counted (torch.utils.flop_counter: the first training "
        f"step and each evaluation, at their real shapes) for one {gpu['name']} at {gpu['utilisation']:.0%} of its "
        f"{gpu['peak_tflops']:,.0f} TFLOP/s dense BF16 peak (the vendor's datasheet; logitrepro.gpus): arithmetic "
        "only, without set-up, data loading or kernel launches, so a lower bound, far below the truth for small "
        "models. Choose another with `logitrepro plan --gpu NAME --utilisation U`.",
        "",
        "## Per paper",
        "",
        "Each run is counted once, however many claims read it.",
        "",
    ]
    rows = []
    for paper, p in report["papers"].items():
        downloads = [d for d in report["datasets"].values() if paper in d["papers"]]
        known = [d["download_bytes"] for d in downloads if d["download_bytes"] is not None]
        unknown = [d["name"] for d in downloads if d["download_bytes"] is None and not d["present"]]
        dl = _fmt_bytes(sum(known)) + (f" + unknown ({', '.join(unknown)})" if unknown else "")
        small = len(p.get("small_batch_memory", []))
        rows.append(
            [
                paper,
                p["runs"],
                _fmt_hours(p["hours"])
                + (f" (+{p['unmeasured_runs']} runs not measured)" if p["unmeasured_runs"] else ""),
                _gpu_hours(p),
                f"{p['peak_rss_mb']:,.0f} MB"
                + (f", GPU {p['peak_gpu_mem_mb']:,.0f} MB" if p["peak_gpu_mem_mb"] else "")
                + (
                    f" ({small} of its probes at 1/{BATCH_DIVISOR} of the batch: more at the real one)" if small else ""
                ),
                dl,
                len(p["failures"]),
            ]
        )
    header = ["paper", "runs", "hours here", on_gpu, "peak memory", "download", "failures"]
    lines.append(tabulate(rows, headers=header, tablefmt="github"))
    lines += ["", "## Datasets", ""]
    rows = [
        [
            d["name"],
            ", ".join(d["papers"]),
            d["how"],
            _fmt_bytes(d["download_bytes"]) if not d["present"] else "present",
            d["note"],
        ]
        for d in report["datasets"].values()
    ]
    lines.append(tabulate(rows, headers=["dataset", "papers", "probed with", "download", "note"], tablefmt="github"))
    lines += ["", "## Probes", ""]
    rows = []
    for r in report["probes"].values():
        rows.append(
            [
                r["label"],
                r["status"],
                "–"
                if r["step_time"] is None
                else f"{r['step_time']:.3g}" + (f" (×{r['batch_scale']:g})" if r["batch_scale"] != 1 else ""),
                "–" if r["setup_s"] is None else f"{r['setup_s']:.1f}",
                "–" if r["val_s"] is None else f"{r['val_s']:.1f}",
                "–" if r["test_s"] is None else f"{r['test_s']:.1f}",
                "–" if not r.get("step_flops") else f"{r['step_flops'] / 1e9:,.3g}",
                "–" if r["rss_mb"] is None else f"{r['rss_mb']:,.0f}" + _at_batch(r),
                r["data"],
            ]
        )
    lines.append(
        tabulate(
            rows,
            headers=["probe", "status", "s/step", "set-up s", "val s", "test s", "GFLOP/step", "peak RSS MB", "data"],
            tablefmt="github",
        )
    )
    failures = [f for p in report["papers"].values() for f in p["failures"]]
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None: every job built at its real shapes and trained.")
    for f in failures:
        what = f["error"] or f"killed after {report['limit_s']:g} s in phase '{f['phase']}'"
        lines.append(f"- {f['probe']} ({f['status']}): {what.splitlines()[0]}")
    warnings = [w for p in report["papers"].values() for w in p["warnings"]]
    if warnings:
        lines += ["", "## Over the resources a job asks for", ""] + [f"- {w}" for w in warnings]
    lines += [
        "",
        "## Per claim",
        "",
        "A claim's hours are those of every run it reads; runs it shares with other claims are in theirs too, so "
        "the claims' hours add up to more than the paper's. 'only it' counts the runs no other claim reads.",
        "",
    ]
    rows = [
        [
            paper,
            c["id"],
            c["runs"],
            c.get("shared_runs", ""),
            _fmt_hours(c["hours"]) + (" (some runs not measured)" if c["unmeasured_runs"] else ""),
            _fmt_hours(c["own_hours"]) if "own_hours" in c else "",
            _fmt_hours(c["gpu_hours"]) if "gpu_hours" in c else "",
            "yes" if c["judged_here"] else "no",
        ]
        for paper, p in report["papers"].items()
        for c in p["claims"]
    ]
    header = ["paper", "claim", "runs", "shared", "hours here", "only it", on_gpu, "judged at this scale"]
    lines.append(tabulate(rows, headers=header, tablefmt="github"))
    return "\n".join(lines) + "\n"
