"""One training loop for every task: seeding, checkpoints and resume, a divergence guard,
progress, and tracking; then the evaluation of the final checkpoint. What is specific to an
experiment lives in its Task (logitrepro.tasks)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from logitrepro import runinfo
from logitrepro.code_digest import code_digest
from logitrepro.files import DamagedFile, archive_damage, naming_full_disk
from logitrepro.kernels.dispatch import use_backend
from logitrepro.runs import TRAIN_AGAIN, RunDir
from logitrepro.runspec import spec_difference
from logitrepro.tasks import make_task
from logitrepro.tracking import Tracker


def set_threads(threads: int) -> None:
    torch.set_num_threads(max(1, int(threads)))
    os.environ["OMP_NUM_THREADS"] = str(threads)


def select_device(wanted: str = "auto") -> str:
    """The config's `device`: auto (cuda when a GPU is visible: Triton kernels; else cpu: the
    reference paths), cpu, or cuda."""
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the config asks for device: cuda but no CUDA device is visible; set device: auto or cpu")
    return wanted


class Counters:
    """What the loop accumulates besides the model: compute spent on training steps (not on
    evaluation), and loss spikes, a step whose loss jumps `spike_nats` above the running average
    of the losses before it (after `spike_burnin` steps); with `keep_losses`, every step's training
    loss (the trace that judges a spike against the other arms on the same batch:
    logitrepro.metrics.instability). Saved in every checkpoint."""

    DECAY = 0.9

    def __init__(self, spike_nats: float, spike_burnin: int, state: dict | None = None, keep_losses: bool = False):
        self.spike_nats, self.spike_burnin = spike_nats, spike_burnin
        state = state or {}
        self.train_s = state.get("train_s", 0.0)
        self.loss_spikes = state.get("loss_spikes", 0)
        self.loss_ema = state.get("loss_ema")
        self.losses = list(state.get("losses") or []) if keep_losses else None

    def observe(self, step: int, loss: float) -> bool:
        """Record the loss of `step` (1-based); True when it is a spike."""
        spike = self.loss_ema is not None and step > self.spike_burnin and loss > self.loss_ema + self.spike_nats
        self.loss_spikes += int(spike)
        self.loss_ema = loss if self.loss_ema is None else self.DECAY * self.loss_ema + (1 - self.DECAY) * loss
        if self.losses is not None:
            del self.losses[step - 1 :]  # a resumed run writes its steps again from the checkpoint's
            self.losses.append(round(loss, 6))
        return spike

    def state(self) -> dict:
        out = {"train_s": self.train_s, "loss_spikes": self.loss_spikes, "loss_ema": self.loss_ema}
        if self.losses is not None:
            out["losses"] = list(self.losses)
        return out


def save_checkpoint(
    run: RunDir,
    task,
    optimizer,
    step: int,
    status: str,
    counters: Counters,
    code: str,
    packages: dict,
    data_sha: str = "",
) -> None:
    tmp = run.checkpoint.with_name(run.checkpoint.name + ".tmp")
    state = {
        "model": task.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "status": status,
        "torch_rng": torch.get_rng_state(),
        "spec": task.spec,
        "counters": counters.state(),
        "task_state": task.extra_state(),
        "code": code,  # the code digest: a run resumes only on the code it started with
        "packages": packages,
        "data_checksum": data_sha,  # the content of the data it trained on (the manifest's)
        # dropout on a GPU draws from the CUDA generator: keep it too, so a resumed run is the same run
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    # through a file we opened: torch.save to a path turns a full disk into a RuntimeError without
    # errno, a Python file's write keeps it, so a full disk is named (NoSpaceLeft) like every write
    try:
        with naming_full_disk(tmp), open(tmp, "wb") as f:
            torch.save(state, f)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, run.checkpoint)  # atomic: an interrupted save keeps the previous checkpoint


def load_checkpoint(run: RunDir, device: str) -> dict:
    """Tensors, numbers and strings only (weights_only): a checkpoint that came through a DVC
    remote cannot run code when it is loaded. One cut off or overwritten is DamagedFile."""
    try:
        return torch.load(run.checkpoint, weights_only=True, map_location=device)
    except Exception:
        problem = archive_damage(run.checkpoint)
        if problem is None:
            raise  # a whole file: the error is another (an object refused, memory)
        raise DamagedFile(run.checkpoint, problem, f"delete it and {TRAIN_AGAIN}") from None


class Progress:
    """A tqdm bar when interactive, else a log line every tenth of the run."""

    def __init__(self, total: int, start: int, label: str):
        self.total, self.label = total, label
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="step")
        self.every = max(1, total // 10)

    def update(self, step: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)
        elif step % self.every == 0 or step == self.total:
            shown = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
            print(f"[{self.label}] step {step}/{self.total} {shown}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def label_of(spec: dict) -> str:
    return f"{spec['paper']}/{spec['experiment']}/{spec['arm']}/seed{spec['seed']}"


RESULT_PACKAGES = ("torch", "numpy", "scipy")  # the libraries whose versions can change what a run computes


def result_packages() -> dict[str, str]:
    return {k: v for k, v in runinfo.package_versions(RESULT_PACKAGES).items()}


def resume_refusal(ckpt: dict, spec: dict, code: str, packages: dict, data_sha: str | None = None) -> str | None:
    """Why a checkpoint cannot continue this run (None: it can). It must be the same config, on
    the same code (logitrepro.code_digest), the same versions of the numerical libraries and the
    same data (its content checksum; checkpoints from before it was recorded are taken as is)."""
    difference = spec_difference(ckpt["spec"], spec)
    if difference:
        return f"the checkpoint was made with another config ({difference})"
    if ckpt.get("code") != code:
        return "the checkpoint was made with other code (logitrepro.code_digest)"
    if ckpt.get("packages") != packages:
        return f"the checkpoint was made with other package versions ({ckpt.get('packages')} vs {packages})"
    if data_sha is not None and ckpt.get("data_checksum") not in (None, data_sha):
        return f"the checkpoint was trained on other data (checksum {ckpt['data_checksum'][:12]}, now {data_sha[:12]})"
    return None


def train(
    spec: dict, run_dir: str | Path, threads: int = 1, tracker: Tracker | None = None, retrain: bool = False
) -> dict:
    """Train one (paper, experiment, arm, seed); resume an interrupted run from its checkpoint.

    A finished checkpoint of the same config, code and packages is the run already: training it
    again would give the same bits (seeded batches, deterministic CPU kernels), so it is kept
    unless `retrain` (the config's `retrain: true`) asks for a fresh one. Anything else about the
    checkpoint that differs starts the run afresh, saying why.

    Returns the summary also written to train.json. A NaN/inf loss ends the run with status
    'diverged' (data for the claims), not an exception.
    """
    run = RunDir(run_dir).make()
    set_threads(threads)
    label = label_of(spec)
    device = select_device(spec["device"])
    code = code_digest(spec["task"])
    packages = result_packages()
    with use_backend(spec["kernels"]["backend"]):
        task = make_task(spec, device)  # seeds torch before building the model
        hp = task.hp
        optimizer = task.optimizer()
        start, status, counter_state = 0, "running", None
        info, lost = {}, None
        try:
            info = run.read_info()  # a previous attempt's, if any
        except DamagedFile as e:  # the run's provenance and its attempts' cost are gone with it
            lost = f"{e.path} {e.problem}"
        if run.checkpoint.exists():
            try:
                ckpt = load_checkpoint(run, device)
                refusal = resume_refusal(ckpt, spec, code, packages, runinfo.data_checksum(spec["data_dir"])) or lost
            except DamagedFile as e:  # what it held is gone
                ckpt, refusal = None, f"{e.path} {e.problem}"
            if refusal is None and ckpt["status"] != "running":
                if not retrain:
                    print(
                        f"[{label}] keeping the finished run ({ckpt['status']}): the same config, code and "
                        f"packages would train it again bit for bit (retrain: true trains it anyway)",
                        flush=True,
                    )
                    return finished_summary(run, ckpt)
                refusal = "retrain: true asks for a fresh run"
            if refusal:
                print(f"[{label}] starting afresh: {refusal}", flush=True)
            else:
                task.model.load_state_dict(ckpt["model"])
                optimizer.load_state_dict(ckpt["optimizer"])
                torch.set_rng_state(ckpt["torch_rng"].cpu())
                if ckpt.get("cuda_rng") is not None and device == "cuda":
                    torch.cuda.set_rng_state_all([state.cpu() for state in ckpt["cuda_rng"]])
                start, status, counter_state = ckpt["step"], ckpt["status"], ckpt.get("counters")
                if ckpt.get("task_state") is not None:
                    task.load_extra_state(ckpt["task_state"])
                print(f"[{label}] resuming from step {start}", flush=True)
        history = run.read_history(start)
        if start == 0:
            # a fresh start: an earlier attempt's MLflow run (killed before its first checkpoint,
            # or a finished run trained again) is closed, not left RUNNING or reused
            if tracker is not None and info.get("mlflow_run_id"):
                tracker.close_orphan(info["mlflow_run_id"])
            info = {}
        attempts = info.get("attempts", [])  # wall time of every attempt, the killed ones included

        data_sha = runinfo.data_checksum(spec["data_dir"])
        commit = runinfo.git_commit()
        run_id = None
        if tracker is not None:
            # None where live tracking failed: a resumed run keeps its earlier MLflow run's id, so
            # that the judge finds that run unfinished and closes it
            run_id = tracker.start_training_run(
                spec, data_sha, commit, info.get("mlflow_run_id"), runinfo.data_source(spec["data_dir"])
            ) or info.get("mlflow_run_id")
        info.update(
            {
                "label": label,
                "spec": spec,
                "mlflow_run_id": run_id,
                "git_commit": commit,
                "data_checksum": data_sha,
                "data_source": runinfo.data_source(spec["data_dir"]),
                "packages": runinfo.package_versions(),
                "device": device,  # what the run ran on: cpu or cuda
                "device_name": runinfo.device_description(),
                "threads": threads,
                "code": code,
            }
        )
        attempt = {"from_step": start, "wall_s": 0.0, "cpu_s": 0.0}
        info["attempts"] = attempts = [*attempts, attempt]
        run.write_info(info)

        counters = Counters(hp.spike_nats, hp.spike_burnin, counter_state, keep_losses=hp.loss_trace)
        # rewrite: drop rows logged after the checkpoint we resumed from (and a row torn mid-write)
        with naming_full_disk(run.history), open(run.history, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in history)
        started, cpu_started = time.time(), time.process_time()

        def record_wall() -> float:
            """This attempt's wall and CPU time (all threads) into run.json; the run's totals over
            every attempt, the killed ones included (they are written at each checkpoint)."""
            attempt["wall_s"] = round(time.time() - started, 2)
            attempt["cpu_s"] = round(time.process_time() - cpu_started, 2)
            info["train_wall_s"] = round(sum(a["wall_s"] for a in attempts), 2)
            info["train_cpu_s"] = round(sum(a.get("cpu_s", 0.0) for a in attempts), 2)
            run.write_info(info)
            return info["train_wall_s"]

        progress = Progress(hp.steps, start, label)
        step, logs = start, {}
        try:
            with naming_full_disk(run.history), open(run.history, "a") as hist:
                while step < hp.steps and status == "running":
                    tick = time.perf_counter()
                    batch = task.batch(step)
                    # detailed logs (e.g. attention-logit maxima) only on the steps that write a history row
                    detailed = (
                        (step + 1) % hp.log_interval == 0 or (step + 1) % hp.eval_every == 0 or step + 1 == hp.steps
                    )
                    loss, logs = task.train_step(batch, optimizer, detailed=detailed)
                    if not math.isfinite(loss.item()):
                        status = "diverged"
                        hist.write(
                            json.dumps({"step": step + 1, "event": "diverged", "train_loss": loss.item()}) + "\n"
                        )
                        break
                    counters.train_s += time.perf_counter() - tick
                    step += 1
                    if counters.observe(step, loss.item()):
                        hist.write(json.dumps({"step": step, "event": "spike", "train_loss": loss.item()}) + "\n")
                    row = None
                    if step % hp.eval_every == 0 or step == hp.steps:
                        with torch.no_grad():
                            row = {"step": step, "train_s": counters.train_s, **logs, **task.evaluate("val")}
                    elif step % hp.log_interval == 0:
                        row = {"step": step, "train_s": counters.train_s, **logs}
                    if row is not None:
                        hist.write(json.dumps(row) + "\n")
                        hist.flush()
                        if tracker is not None:
                            tracker.log_history_row(run_id, row)
                    if step % hp.checkpoint_every == 0 and step < hp.steps:
                        save_checkpoint(run, task, optimizer, step, status, counters, code, packages, data_sha)
                        record_wall()
                    progress.update(step, logs)
        finally:
            progress.close()
        if status == "running":
            status = "completed"
        save_checkpoint(run, task, optimizer, step, status, counters, code, packages, data_sha)
    info["status"] = status
    wall = record_wall()
    summary = {
        "status": status,
        "steps": step,
        "steps_planned": hp.steps,
        "train_wall_s": round(wall, 2),
        "train_s": round(counters.train_s, 2),
        "loss_spikes": counters.loss_spikes,
        "final": (run.read_history() or [{}])[-1],
    }
    if tracker is not None:
        tracker.finish_training(
            run_id, status, {"train_wall_s": wall, "loss_spikes": counters.loss_spikes}, step, run.history
        )
    run.write_summary(summary)
    print(f"[{label}] {status} after {step} steps in {wall:.1f} s", flush=True)
    return summary


def finished_summary(run: RunDir, ckpt: dict) -> dict:
    """The training summary of a finished run, from its files (the run is not trained again)."""
    info = run.read_info()
    counters = ckpt.get("counters") or {}
    summary = {
        "status": ckpt["status"],
        "steps": ckpt["step"],
        "steps_planned": ckpt["spec"]["hparams"]["steps"],
        "train_wall_s": info.get("train_wall_s"),
        "train_s": round(counters.get("train_s", 0.0), 2),
        "loss_spikes": counters.get("loss_spikes", 0),
        "final": (run.read_history() or [{}])[-1],
        "kept": True,
    }
    run.write_summary(summary)
    return summary


def eval_curve(history: list[dict]) -> dict[str, list[float]]:
    """The validation metrics at every evaluation, with the step and the training compute spent
    by then: {'step': [...], 'train_s': [...], 'val_ppl': [...], ...} (for compute-to-target claims)."""
    rows = [r for r in history if any(k.startswith("val_") for k in r)]
    keys = sorted({k for r in rows for k in r if k.startswith("val_") or k in ("step", "train_s")})
    return {k: [r.get(k) for r in rows] for k in keys}


def evaluate(run_dir: str | Path, threads: int = 1, tracker: Tracker | None = None, splits=("val", "test")) -> dict:
    """Load the final checkpoint of a run and compute its metrics on the held-out splits."""
    run = RunDir(run_dir)
    set_threads(threads)
    started, cpu_started = time.time(), time.process_time()
    ckpt = load_checkpoint(run, "cpu")
    spec = ckpt["spec"]
    device = select_device(spec["device"])
    with use_backend(spec["kernels"]["backend"]), torch.no_grad():
        task = make_task(spec, device)
        task.model.load_state_dict(ckpt["model"])
        if ckpt.get("task_state") is not None:
            task.load_extra_state(ckpt["task_state"])
        counters = ckpt.get("counters") or {}
        metrics: dict = {
            "status": ckpt["status"],
            "steps": ckpt["step"],
            "diverged": float(ckpt["status"] == "diverged"),
            "loss_spikes": counters.get("loss_spikes", 0),
            "train_s": counters.get("train_s"),
        }
        # a diverged run is data: its instability counts, its weights may hold NaN
        metrics["instability_events"] = metrics["loss_spikes"] + metrics["diverged"]
        if counters.get("losses") is not None:  # judged against the other arms' (logitrepro.metrics.instability)
            metrics["loss_trace"] = {
                "losses": counters["losses"],
                "spike_nats": task.hp.spike_nats,
                "spike_burnin": task.hp.spike_burnin,
            }
        for split in splits:
            metrics.update(task.evaluate(split))
    history = [r for r in run.read_history(ckpt["step"]) if "event" not in r]
    metrics["curve"] = eval_curve(history)
    metrics.update(task.summarise_history(history))
    info = run.read_info()
    metrics["train_wall_s"] = info.get("train_wall_s")
    # What the run cost (logitrepro.costs adds its share of the job's start-up): training summed
    # over its attempts, and this evaluation. Outside `metrics`: timings are not results.
    compute = {
        "device": info.get("device", device),
        "device_name": info.get("device_name"),
        "threads": info.get("threads", threads),
        "train_cpu_s": info.get("train_cpu_s"),
        "train_wall_s": info.get("train_wall_s"),
        "eval_cpu_s": round(time.process_time() - cpu_started, 2),
        "eval_wall_s": round(time.time() - started, 2),
    }
    if tracker is not None and info.get("mlflow_run_id"):
        tracker.record_evaluation(
            info["mlflow_run_id"], metrics, ckpt["step"], ckpt["status"], [run.info, run.checkpoint]
        )
    return {
        "spec": spec,
        "metrics": metrics,
        "compute": compute,
        "mlflow_run_id": info.get("mlflow_run_id"),
        "run_dir": str(run.path),
    }
