"""Atari trajectories for the Decision Transformer (Fourier head, fh.atari): Seaquest.

Two ways to get them, one on-disk layout:

* `SeaquestRecorder` (smoke scale, offline): plays a few episodes in the real emulator (ale-py
  carries the ROM) with a seeded sticky-random policy and DQN-Replay's preprocessing.
* `DQNReplayURL` / `DQNReplayFolder` (paper scale): the canonical DQN-Replay buffers (Agarwal et
  al. 2020, gs://atari-replay-datasets), read over https or from a folder a user already has.

Arrays, in DQN-Replay's (dopamine's) order: obs[i] is the frame the agent saw when it chose
action[i]; reward[i] is that step's reward clipped to [-1, 1] (dopamine clips before storing);
terminal[i] = 1 when step i ended the episode. A source may add split[i] (0 train, 1 test);
otherwise `write_trajectories` holds out the last episode(s).

Preprocessing (dopamine's AtariPreprocessing, which collected DQN-Replay): each agent step repeats
the action for 4 emulator frames, sums the rewards and keeps the pixel-wise max of the last two
grayscale frames (Atari sprites flicker between frames), resized to 84x84 by area averaging.
Sticky actions (p = 0.25) as in DQN-Replay. We run ALE v5 with frameskip=1 and skip frames
ourselves: v5's built-in frameskip returns only the last frame, without the max over two.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import math
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import SourceUnavailable
from .store import load_array, verify

N_ACTIONS = 18
FRAME = 84  # DQN's 84x84 frames
FRAME_SKIP = 4
STICKY = 0.25  # DQN-Replay was collected with sticky actions (Machado et al. 2018)
FIELDS = {"obs": np.uint8, "action": np.int64, "reward": np.float32, "terminal": np.uint8}
SPLITS = ("train", "test")
DQN_REPLAY_URL = "https://storage.googleapis.com/atari-replay-datasets/dqn"
STORE_PREFIX = "$store$_"  # dopamine's file-name prefix for the arrays of its replay store


# ----------------------------------------------------------------------------- emulator


def _import_emulator():
    try:
        import ale_py
        import gymnasium
    except ImportError as e:
        raise SourceUnavailable(
            f"recording Seaquest needs ale-py and gymnasium ({e}); pip install 'ale-py>=0.10' gymnasium"
        ) from e
    gymnasium.register_envs(ale_py)
    return gymnasium


def resize_weights(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """(n_out, n_in) weights of a 1-D resampling; a 2-D resize is W_rows @ image @ W_cols.T.

    area:   each output pixel averages the source interval it covers, weighted by overlap
            (OpenCV's INTER_AREA when shrinking, which dopamine uses).
    linear: bilinear with half-pixel centres, clamped at the border (OpenCV's INTER_LINEAR,
            which the Decision Transformer's evaluation environment uses).
    """
    w = np.zeros((n_out, n_in))
    scale = n_in / n_out
    if mode == "area":
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for p in range(int(math.floor(lo)), min(n_in, int(math.ceil(hi)))):
                w[i, p] = (min(hi, p + 1) - max(lo, p)) / scale
    elif mode == "linear":
        for i in range(n_out):
            src = min(max((i + 0.5) * scale - 0.5, 0.0), n_in - 1)
            p0 = int(math.floor(src))
            frac = src - p0
            w[i, p0] += 1.0 - frac
            w[i, min(p0 + 1, n_in - 1)] += frac
    else:
        raise ValueError(f"resize mode must be 'area' or 'linear', got {mode!r}")
    return w


def _taps(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense (n_out, n_in) weights -> (source index, weight), each (n_out, k), k = most non-zeros
    in a row; shorter rows are padded with weight 0."""
    k = int((w > 0).sum(1).max())
    idx, wt = np.zeros((w.shape[0], k), dtype=np.int64), np.zeros((w.shape[0], k))
    for i, row in enumerate(w):
        nz = np.flatnonzero(row > 0)
        idx[i, : len(nz)], wt[i, : len(nz)] = nz, row[nz]
    return idx, wt


class SeaquestEmulator:
    """ALE Seaquest with DQN preprocessing: `reset()` and `step(action)` give 84x84 uint8 frames.

    `sticky` is ALE's repeat_action_probability; `noop_max` > 0 plays a random number of no-op
    frames in [0, noop_max) after each reset (the DT evaluation's random start); `resize` is
    'area' (DQN-Replay) or 'linear' (the DT evaluation environment).
    """

    def __init__(self, sticky: float = STICKY, resize: str = "area", noop_max: int = 0, game: str = "Seaquest"):
        gymnasium = _import_emulator()
        try:
            # full_action_space: the 18 actions in ALE's order whatever the game (Seaquest's minimal set is all 18)
            self.env = gymnasium.make(
                f"ALE/{game}-v5",
                frameskip=1,
                repeat_action_probability=sticky,
                obs_type="grayscale",
                full_action_space=True,
            )
        except Exception as e:  # ROM missing, unknown game: ALE raises its own error types
            raise SourceUnavailable(f"cannot start ALE/{game}-v5: {e}") from e
        h, w = self.env.observation_space.shape  # (210, 160)
        self.rows, self.cols = _taps(resize_weights(h, FRAME, resize)), _taps(resize_weights(w, FRAME, resize))
        self.noop_max = noop_max
        self.noop_rng = np.random.default_rng(0)

    def _process(self, screen: np.ndarray) -> np.ndarray:
        # a few taps per output pixel, gathered: no BLAS call, whose worker threads would fight
        # the training threads for the cores
        (ri, rw), (ci, cw) = self.rows, self.cols
        x = (screen.astype(np.float64)[ri] * rw[:, :, None]).sum(1)  # (84, k, 160) -> (84, 160)
        x = (x[:, ci] * cw[None]).sum(2)  # (84, 84, k) -> (84, 84)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """A new episode; `seed` seeds the emulator (sticky actions included) and the no-op draws."""
        if seed is not None:
            self.noop_rng = np.random.default_rng(seed)
        screen, _ = self.env.reset(seed=seed)
        for _ in range(int(self.noop_rng.integers(self.noop_max)) if self.noop_max > 0 else 0):
            screen, _, terminated, truncated, _ = self.env.step(0)
            if terminated or truncated:
                screen, _ = self.env.reset()
        return self._process(screen)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool]:
        """(frame (84, 84) uint8, raw reward summed over the skipped frames, terminated, truncated)."""
        total, last_two = 0.0, []
        terminated = truncated = False
        for i in range(FRAME_SKIP):
            screen, reward, terminated, truncated, _ = self.env.step(int(action))
            total += float(reward)
            if i >= FRAME_SKIP - 2:
                last_two.append(screen)
            if terminated or truncated:
                break
        pooled = np.maximum.reduce(last_two) if last_two else screen
        return self._process(pooled), total, bool(terminated), bool(truncated)

    def close(self) -> None:
        self.env.close()


def record_episodes(episodes: int, max_steps: int, seed: int, repeat_prob: float) -> dict[str, np.ndarray]:
    """Play `episodes` episodes (each cut at `max_steps` agent steps) with a sticky-random policy:
    each step keeps the previous action with probability `repeat_prob`, else draws one uniformly.
    A cut episode ends with terminal = 1 too: it is an episode boundary of the data set."""
    emulator = SeaquestEmulator(sticky=STICKY, resize="area")
    rng = np.random.default_rng(seed)
    obs, actions, rewards, terminals = [], [], [], []
    try:
        frame = emulator.reset(seed=seed)
        for episode in range(episodes):
            if episode:
                frame = emulator.reset()
            action = int(rng.integers(N_ACTIONS))
            for t in range(max_steps):
                if rng.random() >= repeat_prob:
                    action = int(rng.integers(N_ACTIONS))
                obs.append(frame)
                actions.append(action)
                frame, reward, terminated, truncated = emulator.step(action)
                rewards.append(np.clip(reward, -1.0, 1.0))  # dopamine clips rewards before storing them
                end = terminated or truncated or t == max_steps - 1
                terminals.append(end)
                if end:
                    break
    finally:
        emulator.close()
    return {
        "obs": np.stack(obs),
        "action": np.asarray(actions, dtype=np.int64),
        "reward": np.asarray(rewards, dtype=np.float32),
        "terminal": np.asarray(terminals, dtype=np.uint8),
    }


@dataclass
class SeaquestRecorder:
    """Smoke-scale data: a few short Seaquest episodes recorded now, deterministic for a seed
    (and one ale-py version)."""

    episodes: int = 3
    max_steps: int = 300
    seed: int = 0
    repeat_prob: float = 0.5

    def describe(self) -> str:
        return (
            f"{self.episodes} Seaquest episodes (<= {self.max_steps} steps, seed {self.seed}, "
            f"sticky-random policy) recorded with ale-py"
        )

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        return record_episodes(self.episodes, self.max_steps, self.seed, self.repeat_prob)


# ----------------------------------------------------------------------------- DQN-Replay files


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError(f"file ended {left} bytes early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _npy_header(stream) -> tuple[tuple, np.dtype]:
    """Shape and dtype of a .npy stream, leaving it at the first data byte (no seeking: the
    stream may be a download being decompressed)."""
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"unsupported .npy version {version}")
    shape, fortran_order, dtype = readers[version](stream)
    if fortran_order and len(shape) > 1:
        raise ValueError("Fortran-ordered arrays are not expected in a replay buffer")
    return shape, dtype


def read_npy(stream) -> np.ndarray:
    """A whole .npy array from a non-seekable stream."""
    shape, dtype = _npy_header(stream)
    count = int(np.prod(shape))
    return np.frombuffer(_read_exact(stream, count * dtype.itemsize), dtype=dtype).reshape(shape)


def copy_npy_rows(stream, spans: list[tuple[int, int, int]], out: np.ndarray, chunk_rows: int = 4096) -> None:
    """Copy rows [s, e] of a .npy stream into out[d : d + e - s + 1] for each (s, e, d), reading
    only the prefix that holds the last of them, chunk by chunk (an observation file is ~7 GB
    decompressed; the episodes we keep sit in its first few percent)."""
    shape, dtype = _npy_header(stream)
    if tuple(shape[1:]) != out.shape[1:] or dtype != out.dtype:
        raise ValueError(f"observations are {dtype} {shape}, expected {out.dtype} (N, {out.shape[1:]})")
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    spans = sorted(spans)
    need = spans[-1][1] + 1 if spans else 0
    if need > shape[0]:
        raise ValueError(f"rows up to {need} requested from a file of {shape[0]}")
    pos = 0
    while pos < need:
        n = min(chunk_rows, need - pos)
        rows = np.frombuffer(_read_exact(stream, n * row_bytes), dtype=dtype).reshape(n, *shape[1:])
        for s, e, d in spans:
            lo, hi = max(s, pos), min(e + 1, pos + n)
            if lo < hi:
                out[d + lo - s : d + hi - s] = rows[lo - pos : hi - pos]
        pos += n


def complete_episodes(terminal: np.ndarray, add_count: int | None = None) -> list[tuple[int, int]]:
    """(first, last) index of every whole episode in a checkpoint, in index order.

    Before the first terminal the episode began before the buffer did, so it is skipped (the
    authors' loader keeps that partial piece). A buffer written past its capacity wraps at
    cursor = add_count % capacity: an episode across the cursor is not contiguous in time, dropped.
    """
    n = len(terminal)
    valid = n if add_count is None else min(n, int(add_count))
    ends = np.flatnonzero(terminal[:valid])
    spans = [(int(a) + 1, int(b)) for a, b in zip(ends[:-1], ends[1:])]
    if add_count is not None and add_count > n:
        cursor = int(add_count) % n
        spans = [(s, e) for s, e in spans if not s < cursor <= e]
    return spans


class _MissingCheckpoint(Exception):
    pass


@dataclass(kw_only=True)  # keyword-only, so a subclass's own first field stays positional
class _DQNReplay:
    """Selection shared by the URL and folder sources, after the authors' create_dataset: train
    trajectories from run `train_run`, test ones from `test_run`; buffer checkpoints visited in a
    fixed shuffled order (the authors draw one at random per visit, from the run's seed), taking
    the next `episodes_per_visit` whole episodes each visit (their loop takes 10 + 1), until a
    split holds at least its number of transitions (500k train, 50k test: 500000 and 500000/10)."""

    checkpoints: tuple[int, ...] = tuple(range(50))
    episodes_per_visit: int = 11
    train_run: int = 1
    test_run: int = 2
    train_transitions: int = 500_000
    test_transitions: int = 50_000
    order_seed: int = 0

    def _open(self, run: int, filename: str, timeout_s: float):
        """A context manager giving the decompressed stream of one file; raises _MissingCheckpoint."""
        raise NotImplementedError

    def _read(self, run: int, filename: str, timeout_s: float) -> np.ndarray:
        with self._open(run, filename, timeout_s) as stream:
            return read_npy(stream)

    def _small_arrays(self, run: int, k: int, timeout_s: float) -> dict:
        arrays = {
            name: self._read(run, f"{STORE_PREFIX}{name}_ckpt.{k}.gz", timeout_s)
            for name in ("action", "reward", "terminal")
        }
        try:
            add_count = int(self._read(run, f"add_count_ckpt.{k}.gz", timeout_s))
        except _MissingCheckpoint:
            add_count = None  # optional: without it every index counts as written
        arrays["spans"] = complete_episodes(arrays["terminal"], add_count)
        return arrays

    def _load_run(self, run: int, budget: int, timeout_s: float) -> dict[str, np.ndarray]:
        order = [int(k) for k in np.random.default_rng(self.order_seed).permutation(list(self.checkpoints))]
        meta, taken, missing = {}, {k: 0 for k in order}, []
        plan, total = [], 0  # plan: (checkpoint, first, last) in output order
        while total < budget:
            progressed = False
            for k in order:
                if k in missing:
                    continue
                if k not in meta:
                    try:
                        meta[k] = self._small_arrays(run, k, timeout_s)
                    except _MissingCheckpoint:
                        missing.append(k)  # as the authors' loader: a checkpoint that is not there is skipped
                        continue
                spans = meta[k]["spans"][taken[k] : taken[k] + self.episodes_per_visit]
                taken[k] += len(spans)
                plan += [(k, s, e) for s, e in spans]
                total += sum(e - s + 1 for s, e in spans)
                progressed |= bool(spans)
                if total >= budget:
                    break
            if not progressed:
                break
        if not plan:
            raise SourceUnavailable(
                f"run {run}: no whole episode in checkpoints {sorted(self.checkpoints)}"
                + (f" (missing: {sorted(missing)})" if missing else "")
            )
        obs = np.empty((total, FRAME, FRAME), dtype=np.uint8)
        out = {"action": [], "reward": [], "terminal": []}
        dest, by_checkpoint = 0, {}
        for k, s, e in plan:
            by_checkpoint.setdefault(k, []).append((s, e, dest))
            for name in out:
                out[name].append(meta[k][name][s : e + 1])
            dest += e - s + 1
        for k, spans in by_checkpoint.items():
            with self._open(run, f"{STORE_PREFIX}observation_ckpt.{k}.gz", timeout_s) as stream:
                copy_npy_rows(stream, spans, obs)
        return {
            "obs": obs,
            "action": np.concatenate(out["action"]).astype(np.int64),
            "reward": np.concatenate(out["reward"]).astype(np.float32),
            "terminal": np.concatenate(out["terminal"]).astype(np.uint8),
        }

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        try:
            parts = [
                self._load_run(run, budget, timeout_s)
                for run, budget in ((self.train_run, self.train_transitions), (self.test_run, self.test_transitions))
            ]
        except _MissingCheckpoint as e:
            raise SourceUnavailable(f"missing file: {e}") from e
        except (
            OSError,
            EOFError,
            ValueError,
            zlib.error,
            http.client.HTTPException,
        ) as e:  # network, truncated or corrupt files
            raise SourceUnavailable(f"{type(e).__name__}: {e}") from e
        arrays = {name: np.concatenate([p[name] for p in parts]) for name in FIELDS}
        arrays["split"] = np.concatenate([np.full(len(p["action"]), i, dtype=np.uint8) for i, p in enumerate(parts)])
        return arrays


@dataclass
class DQNReplayFolder(_DQNReplay):
    """A game folder as `gsutil -m cp -R gs://atari-replay-datasets/dqn/Seaquest/{1,2} <folder>`
    leaves it: <folder>/<run>/replay_logs/$store$_observation_ckpt.<k>.gz and siblings."""

    folder: str = ""
    label: str = "folder"

    def describe(self) -> str:
        return f"{self.label} {self.folder} (DQN-Replay buffers)"

    @contextlib.contextmanager
    def _open(self, run: int, filename: str, timeout_s: float):
        path = Path(self.folder) / str(run) / "replay_logs" / filename
        if not path.exists():
            raise _MissingCheckpoint(str(path))
        with gzip.open(path, "rb") as stream:
            yield stream


@dataclass
class DQNReplayURL(_DQNReplay):
    """The public bucket over https. Streamed: every socket read has `timeout_s`, files are
    decompressed as they arrive, and an observation file is read only up to the rows we keep."""

    base_url: str = f"{DQN_REPLAY_URL}/Seaquest"
    label: str = "canonical URL"

    def describe(self) -> str:
        return f"{self.label} {self.base_url}/<run>/replay_logs"

    @contextlib.contextmanager
    def _open(self, run: int, filename: str, timeout_s: float):
        url = f"{self.base_url.rstrip('/')}/{run}/replay_logs/{urllib.parse.quote(filename)}"  # $ -> %24
        try:
            response = urllib.request.urlopen(url, timeout=timeout_s)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise _MissingCheckpoint(url) from e
            raise
        with response, gzip.GzipFile(fileobj=response) as stream:
            yield stream


# ----------------------------------------------------------------------------- prepared layout


def episode_split(terminal: np.ndarray, test_episodes: int = 1) -> np.ndarray:
    """split[i] (0 train, 1 test) holding out the last `test_episodes` episodes (at least one
    episode stays in train)."""
    ends = np.flatnonzero(terminal)
    if len(ends) == 0 or ends[-1] != len(terminal) - 1:
        raise ValueError("trajectories must end with an episode end (terminal = 1)")
    held = min(test_episodes, len(ends) - 1)
    split = np.zeros(len(terminal), dtype=np.uint8)
    if held > 0:
        split[ends[-held - 1] + 1 :] = 1
    return split


def write_trajectories(dataset, arrays: dict, folder: Path) -> dict:
    """The Dataset.writer: <split>_{obs,action,reward,terminal}.npy per split, whole episodes."""
    n = len(arrays["action"])
    if arrays["obs"].shape != (n, FRAME, FRAME) or any(len(arrays[k]) != n for k in ("reward", "terminal")):
        raise ValueError(f"inconsistent trajectory arrays: { {k: v.shape for k, v in arrays.items()} }")
    if n and (arrays["action"].min() < 0 or arrays["action"].max() >= N_ACTIONS):
        raise ValueError(f"actions outside 0..{N_ACTIONS - 1}")
    split = arrays["split"] if "split" in arrays else episode_split(arrays["terminal"])
    entries = {"splits": {}, "episodes_per_split": {}, "mean_episode_return": {}, "longest_episode": {}}
    for i, name in enumerate(SPLITS):
        keep = split == i
        part = {k: np.ascontiguousarray(arrays[k][keep], dtype=dtype) for k, dtype in FIELDS.items()}
        if keep.any() and part["terminal"][-1] != 1:
            raise ValueError(f"the {name} split does not end at an episode end")
        for k, a in part.items():
            np.save(Path(folder) / f"{name}_{k}.npy", a)
        ends = np.flatnonzero(part["terminal"])
        lengths = np.diff(np.concatenate([[-1], ends]))
        returns = np.add.reduceat(part["reward"], np.concatenate([[0], ends[:-1] + 1])) if len(ends) else []
        entries["splits"][name] = int(keep.sum())
        entries["episodes_per_split"][name] = int(len(ends))
        entries["mean_episode_return"][name] = float(np.mean(returns)) if len(ends) else 0.0
        entries["longest_episode"][name] = int(lengths.max()) if len(ends) else 0
    entries["episodes"] = sum(entries["episodes_per_split"].values())
    entries.update({"n_actions": N_ACTIONS, "frame_shape": [FRAME, FRAME], "reward": "clipped to [-1, 1]"})
    return entries


def load_trajectories(data_dir: str | Path, split: str) -> dict[str, np.ndarray]:
    """One prepared split: obs (N, 84, 84) uint8 memory-mapped (paper scale is GBs), action (N,)
    int64, reward (N,) float32, terminal (N,) uint8. A prepared folder is verified first
    (store.verify: the observations are hashed once per process); a writer's output without a
    manifest is read as is."""
    d = Path(data_dir)
    manifest = verify(d, unprepared_ok=True)
    if not (d / f"{split}_action.npy").exists():
        raise FileNotFoundError(
            f"{d} holds no prepared '{split}' trajectories; run: logitrepro prepare --dataset <name> --out {d}"
        )
    return {k: load_array(d, f"{split}_{k}.npy", manifest, mmap_mode="r" if k == "obs" else None) for k in FIELDS}
