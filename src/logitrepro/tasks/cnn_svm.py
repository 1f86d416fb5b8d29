"""CNN-SVM (Agarap, arXiv 1712.03541): the same CNN with a softmax head or an L2-SVM head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from logitrepro.data.store import load_split
from logitrepro.hparams import HIGHER, LOWER, NEITHER, LoopHParams, Metric, hp
from logitrepro.kernels import cross_entropy, squared_hinge_loss
from logitrepro.minibatches import batch_indices
from logitrepro.models.cnn import AgarapCNN, CNNConfig
from logitrepro.tasks.base import Task as BaseTask

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    head: Literal["softmax", "svm"] = hp()  # the output layer's loss: softmax cross-entropy or L2-SVM
    conv1_channels: int = hp(32, min=1)  # conv 5x5x32 SAME + ReLU + maxpool 2
    conv2_channels: int = hp(64, min=1)  # conv 5x5x64 SAME + ReLU + maxpool 2
    hidden: int = hp(1024, min=1)  # dense 3136 -> 1024 ReLU
    dropout: float = hp(0.5, min=0, max=0.99)  # drop probability at training time (the code's keep_prob 0.5)
    init_std: float = hp(0.1, above=0)  # truncated normal
    init_bias: float = hp(0.1)
    lr: float = hp(1e-3, above=0)  # Adam
    batch_size: int = hp(128, min=1)
    svm_c: float = hp(1.0, above=0)  # loss = mean(W_out^2) + C * mean(max(0, 1 - y*o)^2)

    def produces(self) -> dict[str, Metric]:
        # sign ties: how often the authors' rule has to guess, a diagnostic of the rule, not a score
        per_split = {"loss": LOWER, "acc": HIGHER, "acc_sign": HIGHER, "acc_authors": HIGHER, "sign_ties": NEITHER}
        return super().produces() | {f"{s}_{m}": d for s in ("val", "test") for m, d in per_split.items()}


def l2_svm_loss(logits: torch.Tensor, target: torch.Tensor, out_weight: torch.Tensor, c: float) -> torch.Tensor:
    """mean(W_out^2) + C * mean over batch x class of max(0, 1 - y*o)^2, y in {-1, +1} one-vs-rest.

    Follows the authors' code: the weight penalty is a mean (not a sum) of the output weights.
    """
    # logits: (B, K); target: (B,). The hinge term is the kernel library's fused op
    # (Triton on CUDA, a fused PyTorch path on CPU).
    return out_weight.pow(2).mean() + c * squared_hinge_loss(logits, target, reduction="mean")


def accuracy_scores(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Accuracy (percent) by argmax(o) and by the authors' argmax(sign(o)), and the share (percent)
    of samples whose sign vector ties.

    torch.argmax returns the first maximal index, as tf.argmax does, so ties among several
    +1 signs go to the lowest class: the quirk that understates the SVM's accuracy.
    """
    plain = (logits.argmax(1) == target).float().mean().item() * 100
    signs = torch.sign(logits)  # (B, K)
    signed = (signs.argmax(1) == target).float().mean().item() * 100
    # a tie: the largest sign is shared by two or more classes (several +1s, or no +1 at all), so
    # argmax(sign(o)) falls back on the lowest index whatever o says: what the rule alone can cost
    ties = ((signs == signs.max(1, keepdim=True).values).sum(1) > 1).float().mean().item() * 100
    return {"acc": plain, "acc_sign": signed, "sign_ties": ties}


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        self.model = AgarapCNN(
            CNNConfig(
                conv1_channels=hp.conv1_channels,
                conv2_channels=hp.conv2_channels,
                hidden=hp.hidden,
                dropout=hp.dropout,
                init_std=hp.init_std,
                init_bias=hp.init_bias,
            )
        ).to(self.device)
        self.splits = {s: self._load(s) for s in SPLITS}

    def _load(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = load_split(self.spec["data_dir"], split)
        # TF's reader scales pixels to [0, 1] by 1/255.
        x = torch.from_numpy(x).float().div_(255.0).unsqueeze(1)  # (N, 1, 28, 28)
        return x.to(self.device), torch.from_numpy(y).to(self.device)  # whole split on the device: it is small

    def batch(self, step: int):
        x, y = self.splits["train"]
        idx = torch.from_numpy(batch_indices(len(y), self.hp.batch_size, self.seed, step)).to(self.device)
        return x[idx], y[idx]

    def _objective(self, logits, y):
        if self.hp.head == "svm":
            return l2_svm_loss(logits, y, self.model.out.weight, self.hp.svm_c)
        loss, _lse = cross_entropy(logits, y)  # online-softmax cross-entropy from the kernel library
        return loss

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        logits = self.model(x)
        loss = self._objective(logits, y)
        return loss, {"train_loss": loss.item(), "train_acc": accuracy_scores(logits.detach(), y)["acc"]}

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        self.model.eval()
        x, y = self.splits[split]
        logits = torch.cat([self.model(x[i : i + 2000]) for i in range(0, len(y), 2000)])
        acc = accuracy_scores(logits, y)
        authors = acc["acc_sign"] if self.hp.head == "svm" else acc["acc"]
        return {
            f"{split}_loss": self._objective(logits, y).item(),
            f"{split}_acc": acc["acc"],
            f"{split}_acc_sign": acc["acc_sign"],
            f"{split}_acc_authors": authors,
            f"{split}_sign_ties": acc["sign_ties"],
        }
