"""SSO in online imitation learning (sso.imitation): a policy learns from an expert it queries
on the states its own rollouts visit (the online-learning view of DAgger).

Round t (one outer step, one expensive gradient): roll the current policy out deterministically
in the real environment (gymnasium) for `rollout_steps` states (new episodes as needed), ask the
expert for its action in each visited state, and take the arm's update on the loss between the
policy's outputs and the expert's actions: cross-entropy on action logits for a discrete action
space (CartPole), squared error on the actions for a continuous one (MountainCarContinuous,
MuJoCo). The arms are the supervised task's (logitrepro.optim.surrogate: SGD with an Armijo line
search, Adam, SSO with m inner surrogate steps), so everything but the data is shared with the
supervised claims. The x-axis of the claims is the number of expert queries.

Experts: scripted controllers for the classic-control tasks (each solves its task from every
start we tried, so it needs no training run of its own); for MuJoCo a trained SAC actor,
prepared as a dataset (logitrepro.data.experts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from logitrepro.hparams import HIGHER, LOWER, NEITHER, Metric, hp
from logitrepro.optim.surrogate import ArmHParams, ArmUpdate, best_drop_frac, target_loss
from logitrepro.tasks.base import Task as BaseTask

EVAL_SEED_BASE = 1_000_000  # evaluation episodes never share a start with training rollouts
CARTPOLE_GAINS = np.array([0.05, 0.1, 1.0, 0.5])  # on (x, x', theta, theta'): push right when positive


def cartpole_expert(states: np.ndarray) -> np.ndarray:
    """(N, 4) -> (N,) actions in {0, 1}: balances the pole for all 500 steps."""
    return (states @ CARTPOLE_GAINS > 0).astype(np.int64)


def mountain_car_expert(states: np.ndarray) -> np.ndarray:
    """(N, 2) -> (N, 1) force: push the way the car moves, pumping energy until it tops the hill
    (about 106 steps from the usual starts)."""
    return np.where(states[:, 1:2] >= 0, 1.0, -1.0).astype(np.float32)


# Per environment: the scale that brings observations to O(1), and the scripted expert (None: a
# trained actor from the experiment's dataset).
ENVS = {
    "CartPole-v1": {"obs_scale": [2.4, 3.0, 0.21, 3.0], "expert": cartpole_expert},
    "MountainCarContinuous-v0": {"obs_scale": [1.2, 0.07], "expert": mountain_car_expert},
    "Hopper-v5": {"obs_scale": None, "expert": None},
}


@dataclass(frozen=True, kw_only=True)
class HParams(ArmHParams):
    env: str = "CartPole-v1"  # a gymnasium environment with an expert in ENVS
    hidden: int = hp(32, min=1)  # the policy: an MLP obs -> hidden -> actions
    rollout_steps: int = hp(min=1)  # states the policy visits (and the expert labels) per round
    eval_episodes: int = hp(5, min=1)  # fixed starts the greedy policy's return is averaged over
    obs_scale: tuple[float, ...] | None = None  # None: the environment's entry in ENVS

    def check(self) -> list[tuple[str, str]]:
        problems = super().check()
        if self.env not in ENVS:
            problems.append(("env", f"{self.env!r} has no expert; known environments: {sorted(ENVS)}"))
        return problems

    def produces(self) -> dict[str, Metric]:
        # the expert queries so far are the budget a cost_to_target claim measures in, not a score
        per_split = {"policy_return": HIGHER, "imitation_loss": LOWER, "expert_queries": NEITHER}
        out = {f"{p}{m}": d for p in ("", "val_") for m, d in per_split.items()} | {"return_auc": HIGHER}
        progress = {"initial_imitation_loss": NEITHER, "objective_drop_frac": HIGHER, "best_drop_frac": HIGHER}
        return super().produces() | out | progress


def make_env(env_id: str = "CartPole-v1"):
    try:
        import gymnasium
    except ImportError as e:
        raise RuntimeError("sso.imitation needs gymnasium (a project dependency: pip install -e .)") from e
    try:
        return gymnasium.make(env_id)
    except gymnasium.error.DependencyNotInstalled as e:
        raise RuntimeError(f"{env_id} needs an extra package: {e}") from e


def make_expert(env_id: str, data_dir: str | None):
    if env_id not in ENVS:
        raise ValueError(f"no expert for {env_id!r}; known environments: {sorted(ENVS)}")
    scripted = ENVS[env_id]["expert"]
    if scripted is not None:
        return scripted
    if data_dir is None:
        raise ValueError(f"{env_id}'s expert is a trained actor: give the experiment a dataset holding it")
    from logitrepro.data.experts import ActorExpert

    return ActorExpert(data_dir)


def rollout(env, act, seed: int, max_steps: int) -> tuple[np.ndarray, float]:
    """Run `act(state) -> action` from env.reset(seed); (visited states (T, obs), return)."""
    state, _ = env.reset(seed=int(seed))
    states, total = [], 0.0
    for _ in range(max_steps):
        states.append(state)
        state, reward, terminated, truncated, _ = env.step(act(state))
        total += float(reward)
        if terminated or truncated:
            break
    return np.asarray(states, dtype=np.float32), total


def collect(env, act, seed: int, n_states: int) -> np.ndarray:
    """Exactly n_states states visited by `act`, starting a new episode (seed, seed + 1, ...)
    whenever one ends: every arm queries the expert equally often per round."""
    parts, have, episode = [], 0, 0
    while have < n_states:
        states, _ = rollout(env, act, seed + episode, n_states - have)
        parts.append(states)
        have += len(states)
        episode += 1
    return np.concatenate(parts)


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp, spec = self.hp, self.spec
        env_id = hp.env
        self.env = make_env(env_id)
        self.expert = make_expert(env_id, spec.get("data_dir"))
        space = self.env.action_space
        self.discrete = hasattr(space, "n")
        self.loss_kind = "cross_entropy" if self.discrete else "squared"
        self.n_classes = int(space.n) if self.discrete else 0
        d_out = int(space.n) if self.discrete else int(np.prod(space.shape))
        self.low, self.high = (None, None) if self.discrete else (space.low, space.high)
        scale = hp.obs_scale if hp.obs_scale is not None else ENVS[env_id]["obs_scale"]
        self.obs_scale = (
            np.ones(self.env.observation_space.shape, np.float32) if scale is None else np.asarray(scale, np.float32)
        )
        self.max_steps = int(self.env.spec.max_episode_steps or 1000)
        torch.manual_seed(self.seed)
        n_obs = self.obs_scale.size
        self.model = nn.Sequential(nn.Linear(n_obs, hp.hidden), nn.ReLU(), nn.Linear(hp.hidden, d_out)).to(self.device)
        self.update = ArmUpdate(self.model, hp, self.loss_kind, hp.steps)
        self.expert_queries = 0
        # Two whole expert episodes: the states the imitation loss is reported on.
        expert_act = lambda s: self._as_action(self.expert(s[None])[0])
        held_out = np.concatenate(
            [rollout(self.env, expert_act, EVAL_SEED_BASE - 1 - i, self.max_steps)[0] for i in range(2)]
        )
        self.expert_states, self.expert_labels = self._inputs(held_out), self._labels(held_out)
        # where the run starts: the premise that the baseline learns reads how much of it is gone
        self.initial_imitation_loss = self._imitation_loss()

    @torch.no_grad()
    def _imitation_loss(self) -> float:
        return float(target_loss(self.model(self.expert_states), self.expert_labels, self.loss_kind))

    def _inputs(self, states: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(states, np.float32) / self.obs_scale).to(self.device)

    def _labels(self, states: np.ndarray) -> torch.Tensor:
        """The expert's actions: (N,) class ids, or (N, action dim) for a continuous space."""
        return torch.from_numpy(np.asarray(self.expert(states))).to(self.device)

    def _as_action(self, a):
        return int(a) if self.discrete else np.clip(np.asarray(a, np.float32), self.low, self.high)

    @torch.no_grad()
    def _policy(self, state: np.ndarray):
        """The policy's deterministic action: the best logit, or the predicted action clipped to the box."""
        out = self.model(self._inputs(state[None]))[0]
        return int(out.argmax()) if self.discrete else self._as_action(out.cpu().numpy())

    def batch(self, step: int):
        """This round's data: the states the current policy visits, labelled by the expert. The
        rollout seed depends on (seed, step) only, and the policy is in the checkpoint, so a
        resumed run draws the same batches."""
        first_episode = (self.seed * 100_003 + step) * 1000
        states = collect(self.env, self._policy, first_episode, self.hp.rollout_steps)
        self.expert_queries += len(states)
        return self._inputs(states), self._labels(states)

    def optimizer(self):
        return self.update.optimizer()

    def loss(self, batch, detailed: bool = False):
        loss = self.update.loss(batch)
        return loss, {"train_loss": loss.item()}

    def train_step(self, batch, optimizer, detailed: bool = False):
        return self.update.step(batch, optimizer)

    def extra_state(self) -> dict:
        return {**self.update.state(), "expert_queries": self.expert_queries}

    def load_extra_state(self, state: dict) -> None:
        self.update.load_state(state)
        self.expert_queries = state["expert_queries"]

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """The policy's return over `eval_episodes` fixed starts (the same for every arm and
        seed), the imitation loss on expert-visited states, and the expert queries so far."""
        returns = [
            rollout(self.env, self._policy, EVAL_SEED_BASE + i, self.max_steps)[1] for i in range(self.hp.eval_episodes)
        ]
        prefix = "val_" if split == "val" else ""
        out = {
            f"{prefix}policy_return": float(np.mean(returns)),
            f"{prefix}imitation_loss": self._imitation_loss(),
            f"{prefix}expert_queries": float(self.expert_queries),
        }
        if split == "test":
            out.update(self.update.metrics())
            out["initial_imitation_loss"] = self.initial_imitation_loss
            out["objective_drop_frac"] = 1.0 - out["imitation_loss"] / self.initial_imitation_loss
        return out

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        """Return against expert queries as one number: the mean of the evaluated returns along
        the run (the area under the curve per evaluation), so an arm that learns sooner scores
        higher even when every arm ends at the maximum; and the share of the initial imitation
        loss gone at the best evaluation (the premise that the baseline learns)."""
        returns = [r["val_policy_return"] for r in rows if "val_policy_return" in r]
        out = {"return_auc": float(np.mean(returns))} if returns else {}
        return out | best_drop_frac(rows, "val_imitation_loss", self.initial_imitation_loss)
