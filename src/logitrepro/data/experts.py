"""Expert policies for SSO's online imitation at paper scale (MuJoCo), treated as data: the
weights of a trained actor, fetched from their canonical source and checksum-recorded like any
dataset.

The source is a Stable-Baselines3 SAC model as the RL Zoo publishes it on the Hugging Face Hub
(a zip whose `policy.pth` is the policy's state dict). Only the deterministic actor is kept:
  action = tanh(mu(relu(W2 relu(W1 obs + b1) + b2)))   (then within the Box bounds [-1, 1])
so SB3 itself is not needed to use it.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import SourceUnavailable, download
from .store import CorruptData, restore_hint, verify

# The actor's layers in SB3's SAC policy state dict, in the order they are applied.
SB3_ACTOR_LAYERS = ("actor.latent_pi.0", "actor.latent_pi.2", "actor.mu")
ACTOR_FILE = "actor.npz"


def actor_from_sb3_zip(blob: bytes) -> dict[str, np.ndarray]:
    """{'w0', 'b0', 'w1', 'b1', 'w2', 'b2'} float32 from an SB3 SAC zip's policy.pth."""
    import torch  # the policy is a torch state dict

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            state = torch.load(io.BytesIO(z.read("policy.pth")), map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, KeyError) as e:
        raise SourceUnavailable(f"not a Stable-Baselines3 model zip with policy.pth: {e}") from e
    arrays = {}
    for i, layer in enumerate(SB3_ACTOR_LAYERS):
        for kind in ("weight", "bias"):
            key = f"{layer}.{kind}"
            if key not in state:
                raise SourceUnavailable(f"policy.pth has no {key} (a SAC policy with two hidden layers was expected)")
            arrays[f"{kind[0]}{i}"] = state[key].numpy().astype(np.float32)
    return arrays


@dataclass
class SB3ZipURL:
    """An SB3 model zip at a URL (https or file://)."""

    url: str
    label: str = "canonical URL"

    def describe(self) -> str:
        return f"{self.label} {self.url}"

    def load(self, timeout_s: float) -> dict[str, np.ndarray]:
        with tempfile.TemporaryFile() as tmp:
            download(self.url, tmp, timeout_s)
            tmp.seek(0)
            return actor_from_sb3_zip(tmp.read())


def write_actor(dataset, arrays: dict[str, np.ndarray], folder: Path) -> dict:
    np.savez(Path(folder) / ACTOR_FILE, **arrays)
    return {
        "splits": {},
        "obs_dim": int(arrays["w0"].shape[1]),
        "action_dim": int(arrays["w2"].shape[0]),
        "hidden": [int(arrays["w0"].shape[0]), int(arrays["w1"].shape[0])],
    }


class ActorExpert:
    """The deterministic SAC actor as a numpy function: states (N, obs) -> actions (N, act)."""

    def __init__(self, data_dir: str | Path):
        # A prepared folder is verified first (store.verify); write_actor's output alone is read as is.
        manifest = verify(data_dir, unprepared_ok=True)
        path = Path(data_dir) / ACTOR_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; prepare the expert first (logitrepro prepare --dataset ...)")
        try:
            with np.load(path, allow_pickle=False) as a:
                self.layers = [(a[f"w{i}"], a[f"b{i}"]) for i in range(len(SB3_ACTOR_LAYERS))]
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:  # a damaged or foreign .npz
            raise CorruptData(
                Path(data_dir), ACTOR_FILE, f"not a readable actor ({e})", restore_hint(data_dir, manifest)
            ) from e

    def __call__(self, states: np.ndarray) -> np.ndarray:
        h = np.asarray(states, dtype=np.float32)
        for w, b in self.layers[:-1]:
            h = np.maximum(h @ w.T + b, 0.0)
        w, b = self.layers[-1]
        return np.tanh(h @ w.T + b)
