"""One training loop for every paper: seeding, checkpoints and resume, a divergence guard,
progress, and tracking. What is specific to a paper lives in its Task (papers/)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from logitrepro import runinfo
from logitrepro.papers import make_task
from logitrepro.tracking import Tracker, resolve_uri

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.jsonl"
RUN_INFO = "run.json"


def set_threads(threads: int) -> None:
    torch.set_num_threads(max(1, int(threads)))
    os.environ["OMP_NUM_THREADS"] = str(threads)


def select_device() -> str:
    """cuda when a GPU is visible (Triton kernels), else cpu (reference paths); LOGITREPRO_DEVICE overrides."""
    wanted = os.environ.get("LOGITREPRO_DEVICE", "auto")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("LOGITREPRO_DEVICE=cuda but no CUDA device is visible; unset it to train on the CPU")
    return wanted


def make_tracker(spec: dict) -> Tracker | None:
    if os.environ.get("LOGITREPRO_NO_TRACKING") == "1":
        return None
    return Tracker(resolve_uri(spec["tracking"]["uri"]), spec["tracking"]["artifacts"])


def run_tags(spec: dict, data_sha: str, commit: str) -> dict:
    return {
        "paper": spec["paper"], "experiment": spec["experiment"], "arm": spec["arm"], "seed": spec["seed"],
        "scale": spec["scale"], "git_commit": commit, "data_checksum": data_sha, "dataset": spec["dataset"],
    }


class Counters:
    """What the loop accumulates besides the model: compute spent on training steps (not on
    evaluation), and loss spikes, a step whose loss jumps `spike_nats` above the running average
    of the losses before it (after `spike_burnin` steps). Saved in every checkpoint."""

    DECAY = 0.9

    def __init__(self, spike_nats: float, spike_burnin: int, state: dict | None = None):
        self.spike_nats, self.spike_burnin = spike_nats, spike_burnin
        state = state or {}
        self.train_s = state.get("train_s", 0.0)
        self.loss_spikes = state.get("loss_spikes", 0)
        self.loss_ema = state.get("loss_ema")

    def observe(self, step: int, loss: float) -> bool:
        """Record the loss of `step` (1-based); True when it is a spike."""
        spike = self.loss_ema is not None and step > self.spike_burnin and loss > self.loss_ema + self.spike_nats
        self.loss_spikes += int(spike)
        self.loss_ema = loss if self.loss_ema is None else self.DECAY * self.loss_ema + (1 - self.DECAY) * loss
        return spike

    def state(self) -> dict:
        return {"train_s": self.train_s, "loss_spikes": self.loss_spikes, "loss_ema": self.loss_ema}


def _save_checkpoint(path: Path, task, optimizer, step: int, status: str, counters: Counters) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({
        "model": task.model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
        "status": status, "torch_rng": torch.get_rng_state(), "spec": task.spec, "counters": counters.state(),
        "task_state": task.extra_state() if hasattr(task, "extra_state") else None,
        # dropout on a GPU draws from the CUDA generator: keep it too, so a resumed run is the same run
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save keeps the previous checkpoint


def _read_history(path: Path, upto_step: int) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= upto_step]


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


def train(spec: dict, run_dir: str | Path, threads: int = 1, tracker: Tracker | None = None) -> dict:
    """Train one (paper, experiment, arm, seed); resume from run_dir's checkpoint if there is one.

    Returns the summary also written to run_dir/train.json. A NaN/inf loss ends the run with
    status 'diverged' (data for the claims), not an exception.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    set_threads(threads)
    hp = spec["hparams"]
    total = int(hp["steps"])
    label = f"{spec['paper']}/{spec['experiment']}/{spec['arm']}/seed{spec['seed']}"

    device = select_device()
    task = make_task({**spec, "device": device})  # seeds torch before building the model
    optimizer = task.optimizer()
    ckpt_path, hist_path, info_path = run_dir / CHECKPOINT, run_dir / HISTORY, run_dir / RUN_INFO
    start, status, info, counter_state = 0, "running", {}, None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False, map_location=device)
        if ckpt["spec"]["hparams"] != spec["hparams"] or ckpt["spec"]["seed"] != spec["seed"]:
            print(f"[{label}] checkpoint was made with another config; starting afresh", flush=True)
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
    history = _read_history(hist_path, start)
    if info_path.exists() and start > 0:
        info = runinfo.read_json(info_path)

    data_sha = runinfo.data_checksum(spec["data_dir"])
    commit = runinfo.git_commit()
    run_id = None
    if tracker is not None:
        run_id = tracker.start_run(spec["paper"], f"{spec['experiment']}-{spec['arm']}-seed{spec['seed']}",
                                   run_tags(spec, data_sha, commit), info.get("mlflow_run_id"))
        tracker.log_params(run_id, {"hparams": hp, "dataset": spec["dataset"], "scale": spec["scale"]})
    info.update({
        "label": label, "spec": spec, "mlflow_run_id": run_id, "git_commit": commit, "data_checksum": data_sha,
        "packages": runinfo.package_versions(), "device": runinfo.device_description(), "threads": threads,
    })
    runinfo.write_json(info_path, info)

    counters = Counters(hp.get("spike_nats", 0.5), hp.get("spike_burnin", 20), counter_state)
    log_every = int(hp.get("log_every", hp["eval_every"]))
    with open(hist_path, "w") as f:  # rewrite: drop rows logged after the checkpoint we resumed from
        f.writelines(json.dumps(r) + "\n" for r in history)
    started = time.time()
    wall_before = info.get("train_wall_s", 0.0)
    progress = Progress(total, start, label)
    step, logs = start, {}
    try:
        with open(hist_path, "a") as hist:
            while step < total and status == "running":
                tick = time.perf_counter()
                batch = task.batch(step)
                # detailed logs (e.g. attention-logit maxima) only on the steps that write a history row
                detailed = (step + 1) % log_every == 0 or (step + 1) % hp["eval_every"] == 0 or step + 1 == total
                if hasattr(task, "train_step"):  # a task that updates the parameters its own way (SSO)
                    loss, logs = task.train_step(batch, optimizer, detailed=detailed)
                else:
                    loss, logs = task.loss(batch, detailed=detailed)
                if not math.isfinite(loss.item()):
                    status = "diverged"
                    row = {"step": step + 1, "event": "diverged", "train_loss": loss.item()}
                    hist.write(json.dumps(row) + "\n")
                    break
                if not hasattr(task, "train_step"):
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                counters.train_s += time.perf_counter() - tick
                step += 1
                if counters.observe(step, loss.item()):
                    hist.write(json.dumps({"step": step, "event": "spike", "train_loss": loss.item()}) + "\n")
                row = None
                if step % hp["eval_every"] == 0 or step == total:
                    row = {"step": step, "train_s": counters.train_s, **logs, **task.evaluate("val")}
                elif step % log_every == 0:
                    row = {"step": step, "train_s": counters.train_s, **logs}
                if row is not None:
                    hist.write(json.dumps(row) + "\n")
                    hist.flush()
                    if tracker is not None:
                        tracker.log_metrics(run_id, {k: v for k, v in row.items() if k != "step"}, step)
                if step % hp["checkpoint_every"] == 0 and step < total:
                    _save_checkpoint(ckpt_path, task, optimizer, step, status, counters)
                progress.update(step, logs)
    finally:
        progress.close()
    if status == "running":
        status = "completed"
    _save_checkpoint(ckpt_path, task, optimizer, step, status, counters)
    wall = wall_before + time.time() - started
    summary = {"status": status, "steps": step, "steps_planned": total, "train_wall_s": round(wall, 2),
               "train_s": round(counters.train_s, 2), "loss_spikes": counters.loss_spikes,
               "final": _last_row(hist_path)}
    info["train_wall_s"] = round(wall, 2)
    info["status"] = status
    runinfo.write_json(info_path, info)
    if tracker is not None:
        tracker.set_tags(run_id, {"status": status})
        tracker.log_metrics(run_id, {"train_wall_s": wall, "diverged": float(status == "diverged"),
                                     "loss_spikes": counters.loss_spikes}, step)
        tracker.log_artifact(run_id, hist_path)
    print(f"[{label}] {status} after {step} steps in {wall:.1f} s", flush=True)
    return summary


def eval_curve(history: list[dict]) -> dict[str, list[float]]:
    """The validation metrics at every evaluation, with the step and the training compute spent
    by then: {'step': [...], 'train_s': [...], 'val_ppl': [...], ...} (for compute-to-target claims)."""
    rows = [r for r in history if any(k.startswith("val_") for k in r)]
    keys = sorted({k for r in rows for k in r if k.startswith("val_") or k in ("step", "train_s")})
    return {k: [r.get(k) for r in rows] for k in keys}


def _last_row(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows[-1] if rows else {}


def evaluate(run_dir: str | Path, threads: int = 1, tracker: Tracker | None = None, splits=("val", "test")) -> dict:
    """Load the final checkpoint of a run and compute its metrics on the held-out splits."""
    run_dir = Path(run_dir)
    set_threads(threads)
    device = select_device()
    ckpt = torch.load(run_dir / CHECKPOINT, weights_only=False, map_location=device)
    spec = ckpt["spec"]
    task = make_task({**spec, "device": device})
    task.model.load_state_dict(ckpt["model"])
    if ckpt.get("task_state") is not None:
        task.load_extra_state(ckpt["task_state"])
    counters = ckpt.get("counters") or {}
    metrics: dict = {"status": ckpt["status"], "steps": ckpt["step"], "diverged": float(ckpt["status"] == "diverged"),
                     "loss_spikes": counters.get("loss_spikes", 0), "train_s": counters.get("train_s")}
    # a diverged run is data: its instability counts, its weights may hold NaN
    metrics["instability_events"] = metrics["loss_spikes"] + metrics["diverged"]
    for split in splits:
        metrics.update(task.evaluate(split))
    history = [r for r in _read_history(run_dir / HISTORY, ckpt["step"]) if "event" not in r]
    metrics["curve"] = eval_curve(history)
    if hasattr(task, "summarise_history"):
        metrics.update(task.summarise_history(history))
    info = runinfo.read_json(run_dir / RUN_INFO)
    metrics["train_wall_s"] = info.get("train_wall_s")
    if tracker is not None and info.get("mlflow_run_id"):
        run_id = info["mlflow_run_id"]
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "steps"}
        tracker.log_metrics(run_id, numeric, ckpt["step"])
        tracker.log_artifact(run_id, run_dir / RUN_INFO)
        tracker.log_artifact(run_id, run_dir / CHECKPOINT)
        tracker.end_run(run_id, "FINISHED" if ckpt["status"] == "completed" else "FAILED")
    return {"spec": spec, "metrics": metrics, "mlflow_run_id": info.get("mlflow_run_id"), "run_dir": str(run_dir)}
