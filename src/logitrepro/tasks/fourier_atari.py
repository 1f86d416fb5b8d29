"""Fourier head, fh.atari: a Decision Transformer on Seaquest with a linear or a Fourier action head.

The authors' setup (nate-gillman/fourier-head, imitation-learning/, built on the DT Atari code):
reward-conditioned DT, 6 layers, 8 heads, 128-d, context 30 timesteps; 500k training transitions
of DQN-Replay Seaquest run 1 (whole trajectories, several per buffer visit) and 50k test
transitions of run 2; batch 128, 5 epochs, AdamW lr 6e-4, betas (0.9, 0.95), weight decay 0.1 on
linear and conv weights, gradient-norm clip 1.0, linear warm-up over 10,240 target tokens then a
cosine decay that would reach 10% at 2 x windows x 3K tokens (6 epochs; 5 are trained);
cross-entropy on the action at every state token. After each epoch: 10 episodes in the emulator
(ALE seeded with the run seed, no sticky actions, up to 30 random no-op frames at each start,
frame skip 4 with a max over the last two frames, bilinear 84x84 resize, no end on life loss),
target return 1150 decremented by each raw reward, actions sampled from softmax(logits). A
seed's score is the best of its 5 epoch means, normalised 100 (R - 68.4) / (42054.7 - 68.4)
(DQN Zoo's random and human Seaquest scores).

Where this differs from their code, on purpose: the trajectories are whole episodes chosen the
same way for every seed (data.atari: their first piece of each buffer is a partial episode and
their buffer draws follow the run's seed); timesteps restart at 0 on each episode's first step
(their array is off by one there); the frames stacked before an episode's first step are zero in
training too, as in their evaluation environment (their training stacks reach into the previous
episode); the cosine stays at its floor after final_tokens. Their quirks that the claim may
depend on are hparams: `fourier_eval_action_tokens` (their Fourier evaluation feeds bin ids
back as action tokens), `eval_rtg_reward`, `eval_resize`.

What the task reports (`evaluate(split)`, split 'val' during training and 'test' at the end):
  <split>_return_raw, <split>_return_normalised   mean over `eval_episodes` rollouts
  <split>_action_ce, <split>_action_acc           on windows of the held-out (test) trajectories
  <split>_smoothness                              the authors' smoothness metric of the predicted
                                                  pmfs (last position of each window, bin order)
and `summarise_history` turns the 'val' rows into best_return_normalised / best_return_raw, the
authors' best-epoch score (evaluate every epoch to match them).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from logitrepro.data.atari import FRAME, load_trajectories
from logitrepro.hparams import HIGHER, LOWER, NEITHER, LoopHParams, Metric, hp
from logitrepro.metrics.density import smoothness
from logitrepro.minibatches import batch_indices
from logitrepro.models.decision_transformer import BIN_OF_ACTION, BIN_ORDER, DecisionTransformer, DTConfig
from logitrepro.tasks.base import Task as BaseTask

SEAQUEST_RANDOM, SEAQUEST_HUMAN = 68.4, 42054.7  # the authors' table (docs/papers.md rounds them to 68 and 42055)
TEST_EVAL_SEED_OFFSET = 100_003  # 'test' rollouts play other episodes than the 'val' ones


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    head: Literal["linear", "fourier"] = hp()  # the action head
    n_freqs: int = hp(8, min=1)  # the Fourier head's N (the headline N is not stated in the authors' code)
    fourier_gamma: float = hp(0.0, min=0)  # the authors build the head with 1e-6 but never add the term
    fourier_init_scale: float | None = hp(None, above=0)  # None: the DT's N(0, 0.02) init overwrites theirs
    context: int = hp(30, min=1)  # timesteps per window (K)
    n_layer: int = hp(6, min=1)
    n_head: int = hp(8, min=1)
    n_embd: int = hp(128, min=1)
    dropout: float = hp(0.1, min=0, max=0.99)
    lr: float = hp(6e-4, above=0)  # AdamW
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = hp(0.1, min=0)  # linear and conv weights only
    grad_clip: float = hp(1.0, above=0)
    lr_decay: bool = True  # linear warm-up, then cosine decay to 10%
    warmup_tokens: float = hp(512 * 20, min=0)  # target tokens (batch x context per step)
    final_tokens: float | None = hp(None, above=0)  # None: 2 x windows x 3K, as the authors
    batch_size: int = hp(128, min=1)
    eval_episodes: int = hp(10, min=0)  # emulator episodes per evaluation
    max_eval_steps: int = hp(27000, min=1)  # agent steps per episode (ALE's own cap at frame skip 4)
    target_return: float = 1150.0  # the DT's Seaquest target return
    eval_rtg_reward: Literal["raw", "clipped"] = "raw"  # return-to-go drops by raw or clipped rewards
    eval_sticky: float = hp(0.0, min=0, max=1)  # sticky-action probability in evaluation
    eval_noop_max: int = hp(30, min=0)  # up to this many no-op frames at the start
    eval_resize: Literal["linear", "area"] = "linear"  # 84x84 resize of evaluation frames
    eval_windows: int = hp(512, min=1)  # held-out windows for action cross-entropy and smoothness
    fourier_eval_action_tokens: Literal["bins", "actions"] = "actions"  # 'bins': the authors' quirk

    def check(self) -> list[tuple[str, str]]:
        if self.n_embd % self.n_head:
            return [("n_embd", f"{self.n_embd} is not divisible by n_head ({self.n_head})")]
        return []

    def produces(self) -> dict[str, Metric]:
        per_split = {
            "action_ce": LOWER,
            "action_acc": HIGHER,
            "smoothness": LOWER,  # the roughness of the predicted action distribution
            "return_raw": HIGHER,
            "return_normalised": HIGHER,
            # how the evaluation went: the spread of returns, episode lengths, episodes cut at the step cap
            "return_raw_std": NEITHER,
            "episode_steps": NEITHER,
            "episodes_cut": NEITHER,
        }
        return (
            super().produces()
            | {f"{s}_{m}": d for s in ("val", "test") for m, d in per_split.items()}
            | {"best_return_normalised": HIGHER, "best_return_raw": HIGHER, "return_evals": NEITHER}
        )


def normalised_return(raw: float) -> float:
    return 100.0 * (raw - SEAQUEST_RANDOM) / (SEAQUEST_HUMAN - SEAQUEST_RANDOM)


class Trajectories:
    """One split's transitions and, per transition, what a window needs: its episode's first and
    last index, its timestep in the episode and its return-to-go (sum of the episode's rewards
    from there on, in the data's clipped units, as the DT computes it)."""

    def __init__(self, arrays: dict[str, np.ndarray], frame_stack: int = 4):
        self.obs = arrays["obs"]  # (N, 84, 84) uint8, possibly memory-mapped
        self.action = np.asarray(arrays["action"], dtype=np.int64)  # (N,)
        reward = np.asarray(arrays["reward"], dtype=np.float64)
        n = len(self.action)
        ends = np.flatnonzero(arrays["terminal"])
        if len(ends) == 0 or ends[-1] != n - 1:
            ends = np.append(ends, n - 1)  # an unfinished last episode still ends with the data
        starts = np.concatenate([[0], ends[:-1] + 1])
        lengths = ends - starts + 1
        self.episode_start = np.repeat(starts, lengths)  # (N,)
        self.episode_end = np.repeat(ends, lengths)  # (N,) inclusive
        self.timestep = np.arange(n) - self.episode_start  # (N,)
        csum = np.cumsum(reward)
        self.rtg = (csum[self.episode_end] - csum + reward).astype(np.float32)  # (N,)
        self.frame_stack = frame_stack

    def __len__(self) -> int:
        return len(self.action)

    def n_windows(self, context: int) -> int:
        """The authors' dataset length: N - 3K window positions (at least one)."""
        return max(1, len(self) - 3 * context)

    def window_starts(self, positions: np.ndarray, context: int) -> np.ndarray:
        """The DT's windows: K steps from each position, moved back so that none runs past the end
        of its episode."""
        end = np.minimum(self.episode_end[positions] + 1, positions + context)
        return np.maximum(end - context, 0)

    def windows(self, starts: np.ndarray, context: int) -> dict[str, np.ndarray]:
        """states (B, K, 4, 84, 84) uint8 (frames before the episode's start are zero, as in the
        evaluation environment), actions (B, K), rtgs (B, K), timesteps (B,) of the first step."""
        t = starts[:, None] + np.arange(context)  # (B, K)
        frames = t[..., None] - np.arange(self.frame_stack - 1, -1, -1)  # (B, K, 4): t-3 .. t
        valid = frames >= self.episode_start[t][..., None]
        states = self.obs[np.maximum(frames, 0).ravel()].reshape(*frames.shape, FRAME, FRAME)
        states = np.where(valid[..., None, None], states, 0).astype(np.uint8)
        return {"states": states, "actions": self.action[t], "rtgs": self.rtg[t], "timesteps": self.timestep[starts]}


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp, spec = self.hp, self.spec
        self.context, self.batch_size = hp.context, hp.batch_size
        self.train = Trajectories(load_trajectories(spec["data_dir"], "train"))
        self.test = Trajectories(load_trajectories(spec["data_dir"], "test"))
        if min(len(self.train), len(self.test)) < self.context:
            raise ValueError(
                f"each split needs at least context = {self.context} transitions "
                f"(train {len(self.train)}, test {len(self.test)})"
            )
        self.max_timestep = int(self.train.timestep.max())  # the timestep embedding's range
        torch.manual_seed(self.seed)
        self.cfg = DTConfig(
            context=self.context,
            max_timestep=self.max_timestep,
            n_layer=hp.n_layer,
            n_head=hp.n_head,
            n_embd=hp.n_embd,
            dropout=hp.dropout,
            head=hp.head,
            n_freqs=hp.n_freqs,
            fourier_init_scale=hp.fourier_init_scale,
        )
        self.model = DecisionTransformer(self.cfg).to(self.device)
        self.n_windows = self.train.n_windows(self.context)
        self.gamma = hp.fourier_gamma if self.cfg.head == "fourier" else 0.0
        # the DT's schedule counts target tokens: batch x K per step
        self.warmup_tokens = float(hp.warmup_tokens)
        self.final_tokens = float(hp.final_tokens or 2 * self.n_windows * 3 * self.context)

    # ------------------------------------------------------------------ training

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.model.optim_groups(self.hp.weight_decay), lr=self.hp.lr, betas=tuple(self.hp.betas)
        )

    def lr_at(self, step: int) -> float:
        """The DT trainer's rate for (0-based) `step`: it updates the rate after each step from the
        tokens seen so far, so step 0 runs at the base rate."""
        base = self.hp.lr
        if not self.hp.lr_decay or step == 0:
            return base
        tokens = step * self.batch_size * self.context
        if tokens < self.warmup_tokens:
            return base * tokens / self.warmup_tokens
        # clamped at the end: the DT's cosine would rise again past final_tokens (their 5 epochs
        # stop at 5/6 of it, so this changes nothing for them)
        progress = min(1.0, (tokens - self.warmup_tokens) / max(1.0, self.final_tokens - self.warmup_tokens))
        return base * max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))

    def batch(self, step: int) -> dict:
        """Windows at step `step`: the authors' shuffled epochs over window positions (a DataLoader
        with shuffle and the last partial batch kept), drawn from (seed, step) alone."""
        positions = batch_indices(self.n_windows, self.batch_size, self.seed, step, keep_last=True)
        w = self.train.windows(self.train.window_starts(positions, self.context), self.context)
        w["timesteps"] = np.minimum(w["timesteps"], self.max_timestep)
        return {"step": step, **{k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in w.items()}}

    def _forward(self, b: dict):
        return self.model(b["states"], b["actions"], b["rtgs"], b["timesteps"])  # (B, K, 18), coeffs

    def loss(self, batch: dict, detailed: bool = False):
        self.model.train()
        logits, coeffs = self._forward(batch)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["actions"].reshape(-1))
        loss = ce
        if self.gamma:
            # the authors build the head with gamma = 1e-6 but never add the term (fourier_gamma: 0.0)
            loss = loss + self.gamma * self.model.head.regulariser(coeffs)
        logs = {"train_loss": ce.item()}
        if detailed:
            logs["train_acc"] = (logits.argmax(-1) == batch["actions"]).float().mean().item()
        return loss, logs

    def train_step(self, batch: dict, optimizer: torch.optim.Optimizer, detailed: bool = False):
        """One AdamW step with the DT's schedule and gradient clipping."""
        lr = self.lr_at(batch["step"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, logs = self.loss(batch, detailed)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.grad_clip)
        optimizer.step()
        return loss.detach(), {**logs, "lr": lr}

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        self.model.eval()
        out = {f"{split}_{k}": v for k, v in self._heldout_scores().items()}
        out.update({f"{split}_{k}": v for k, v in self._rollouts(split).items()})
        return out

    def _heldout_scores(self) -> dict[str, float]:
        """Cross-entropy and accuracy over every position of evenly spaced test windows, and the
        smoothness of the pmf predicted at each window's last position (in bin order, as the
        authors measure both heads)."""
        n = self.test.n_windows(self.context)
        positions = np.unique(np.linspace(0, n - 1, min(n, self.hp.eval_windows)).round().astype(np.int64))
        starts = self.test.window_starts(positions, self.context)
        ce_sum = correct = count = 0.0
        last_pmfs = []
        for i in range(0, len(starts), 64):
            w = self.test.windows(starts[i : i + 64], self.context)
            w["timesteps"] = np.minimum(w["timesteps"], self.max_timestep)
            b = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in w.items()}
            logits, _ = self._forward(b)  # (B, K, 18)
            flat, target = logits.reshape(-1, logits.shape[-1]).float(), b["actions"].reshape(-1)
            ce_sum += F.cross_entropy(flat, target, reduction="sum").item()
            correct += (flat.argmax(-1) == target).sum().item()
            count += target.numel()
            last_pmfs.append(torch.softmax(logits[:, -1].float(), -1)[:, list(BIN_ORDER)].cpu().numpy())
        return {
            "action_ce": ce_sum / count,
            "action_acc": correct / count,
            "smoothness": smoothness(np.concatenate(last_pmfs)),
        }

    def _rollouts(self, split: str) -> dict[str, float]:
        """`eval_episodes` episodes in the emulator, each cut at `max_eval_steps` agent steps."""
        from logitrepro.data.atari import SeaquestEmulator  # imports ale-py and gymnasium

        hp = self.hp
        if hp.eval_episodes < 1:
            return {}
        seed = self.seed + (TEST_EVAL_SEED_OFFSET if split == "test" else 0)
        emulator = SeaquestEmulator(sticky=hp.eval_sticky, resize=hp.eval_resize, noop_max=hp.eval_noop_max)
        generator = torch.Generator().manual_seed(seed)
        returns, steps, cut = [], [], 0
        try:
            for episode in range(hp.eval_episodes):
                total, n, ended = self._play(emulator, seed if episode == 0 else None, generator)
                returns.append(total)
                steps.append(n)
                cut += not ended
        finally:
            emulator.close()
        mean = float(np.mean(returns))
        return {
            "return_raw": mean,
            "return_normalised": normalised_return(mean),
            "return_raw_std": float(np.std(returns)),
            "episode_steps": float(np.mean(steps)),
            "episodes_cut": float(cut),
        }

    def _play(self, emulator, seed: int | None, generator: torch.Generator) -> tuple[float, int, bool]:
        """One episode: (raw return, agent steps, whether the game ended before the step cap).

        As the DT evaluates: the window holds the last K states, returns-to-go and the K - 1
        actions before the current one; the timestep embedding gets the current step (capped at
        the largest training timestep); the return-to-go starts at `target_return` and drops by
        each raw reward (`eval_rtg_reward: clipped` drops it by the clipped reward instead)."""
        hp, k = self.hp, self.context
        clipped = hp.eval_rtg_reward == "clipped"
        # the authors' code feeds a Fourier model its own bin indices back as action tokens,
        # though it was trained on action ids ('bins' reproduces that; 'actions' is consistent)
        as_bins = self.cfg.head == "fourier" and hp.fourier_eval_action_tokens == "bins"
        frames = deque([np.zeros((FRAME, FRAME), np.uint8)] * 3 + [emulator.reset(seed=seed)], maxlen=4)
        embs = deque([self._embed(frames)], maxlen=k)  # (d,) each
        rtgs = deque([float(hp.target_return)], maxlen=k)
        actions = deque(maxlen=k - 1)
        total, j = 0.0, 0
        while True:
            act = torch.tensor([list(actions)], device=self.device) if actions else None  # (1, T-1)
            logits, _ = self.model.decode(
                torch.stack(list(embs))[None],
                act,  # (1, T, d)
                torch.tensor([list(rtgs)], device=self.device),  # (1, T)
                torch.tensor([min(j, self.max_timestep)], device=self.device),
            )
            probs = torch.softmax(logits[0, -1].float(), -1).cpu()  # (18,)
            action = int(torch.multinomial(probs, 1, generator=generator))
            frame, reward, terminated, truncated = emulator.step(action)
            total += reward
            j += 1
            if terminated or truncated or j >= hp.max_eval_steps:
                return total, j, terminated or truncated
            frames.append(frame)
            embs.append(self._embed(frames))
            rtgs.append(rtgs[-1] - (float(np.clip(reward, -1, 1)) if clipped else reward))
            actions.append(BIN_OF_ACTION[action] if as_bins else action)

    def _embed(self, frames: deque) -> torch.Tensor:
        states = torch.from_numpy(np.stack(frames))[None, None].to(self.device)  # (1, 1, 4, 84, 84)
        return self.model.encode_states(states)[0, 0]  # (d,)

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        """The authors' score: the best of the per-evaluation mean returns ('val' rows)."""
        evals = [r for r in rows if "val_return_normalised" in r]
        if not evals:
            return {}
        return {
            "best_return_normalised": max(r["val_return_normalised"] for r in evals),
            "best_return_raw": max(r["val_return_raw"] for r in evals),
            "return_evals": float(len(evals)),
        }
