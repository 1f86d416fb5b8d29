"""A language-model task shared by the LM papers (LS-attention, VQ-Logits): a small GPT trained
on a tokenized corpus (data/<corpus>-bpe<V>/), validation and test perplexity, and the largest
pre-softmax attention logit per layer on every logged step."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from logitrepro.data.store import load_tokens, tokenizer_info
from logitrepro.hparams import LOWER, NEITHER, LoopHParams, Metric, hp
from logitrepro.models.gpt import GPT, GPTConfig
from logitrepro.tasks.base import Task as BaseTask

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    vocab_size: int = hp(min=2)  # the corpus tokenized at this vocabulary size (data/<corpus>-bpe<V>)
    seq_len: int = hp(256, min=2)  # tokens per training window
    n_layer: int = hp(4, min=1)
    n_head: int = hp(4, min=1)
    n_embd: int = hp(128, min=1)
    dropout: float = hp(0.0, min=0, max=0.99)
    attention: Literal["mha", "ls", "qk_norm", "softcap"] = "mha"  # models/gpt.py
    window: int = hp(32, min=1)  # LS local heads: each query sees itself and window - 1 keys before it
    n_global: int = hp(0, min=0)  # LS: heads with full causal attention
    softcap: float = hp(30.0, above=0)  # softcap: logits s -> c tanh(s / c)
    head: Literal["full", "vq", "vq_bias"] = "full"  # output layer
    n_codes: int = hp(256, min=1)  # VQ heads: codebook size K
    lr: float = hp(above=0)  # AdamW, betas (0.9, 0.95), constant
    weight_decay: float = hp(0.1, min=0)
    batch_size: int = hp(min=1)  # sequences per step
    eval_tokens: int | None = hp(None, min=1)  # validation during training: the first N tokens of the split
    test_tokens: int | None = hp(None, min=1)  # the final test: the first N tokens (default: eval_tokens)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.n_embd % self.n_head:
            problems.append(("n_embd", f"{self.n_embd} is not divisible by n_head ({self.n_head})"))
        if self.attention == "ls" and self.n_global > self.n_head:
            problems.append(("n_global", f"{self.n_global} is more than n_head ({self.n_head})"))
        if self.head != "full" and self.n_codes >= self.vocab_size:
            problems.append(("n_codes", f"{self.n_codes} codes need a larger vocabulary than {self.vocab_size}"))
        return problems

    def produces(self) -> dict[str, Metric]:
        trajectory = ("peak", "final", "growth", "early", "explosion", "mean", "rise_growth")
        # how large the attention logits grow: what LS-attention is said to tame, yet a claim may
        # also say they rise (with the sequence length): each claim on them states its direction
        logits = dict.fromkeys((f"{k}_{m}" for k in ("max_logit", "max_logit_window") for m in trajectory), NEITHER)
        capped = {"capped_fraction": NEITHER} if self.attention == "softcap" else {}
        # the unigram perplexity is the data's, not the model's: no side is better
        context = {"test_ppl_unigram": NEITHER, "test_ppl_over_unigram": LOWER}
        splits = dict.fromkeys((f"{s}_{m}" for s in ("val", "test") for m in ("loss", "ppl")), LOWER)
        return super().produces() | splits | logits | capped | context


def frequency_code_map(train_ids: np.ndarray, vocab_size: int, n_codes: int) -> torch.Tensor:
    """Pre-assigned token -> code map in frequency order: the K/2 most frequent training tokens get
    a code of their own, the rest share the other K/2 codes round-robin down the frequency list.

    With a pure scatter the cross-entropy is bounded below by E_y[log n_M(y)] (n_j: tokens in code j),
    so singletons for the frequent tokens keep that bound low where most of the mass is."""
    counts = np.bincount(train_ids.astype(np.int64), minlength=vocab_size)
    order = np.argsort(-counts, kind="stable")  # most frequent first
    singles = n_codes // 2
    code_of_token = np.empty(vocab_size, dtype=np.int64)
    code_of_token[order[:singles]] = np.arange(singles)
    rest = order[singles:]
    code_of_token[rest] = singles + np.arange(len(rest)) % (n_codes - singles)
    return torch.from_numpy(code_of_token)


def unigram_perplexity(train_ids: np.ndarray, targets: np.ndarray, vocab_size: int) -> float:
    """The perplexity of `targets` under the training split's token frequencies (add-one smoothed):
    what a model that ignores its context gets."""
    counts = np.bincount(train_ids.astype(np.int64), minlength=vocab_size).astype(float) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[targets.astype(np.int64)].mean()))


def cross_entropy_bound(code_of_token: torch.Tensor, targets: np.ndarray) -> float:
    """E_y[log n_M(y)]: with a pure scatter every token of a code gets the same logit, so p(y) <= 1/n_M(y)."""
    n = torch.bincount(code_of_token, minlength=int(code_of_token.max()) + 1).double()  # tokens per code
    y = torch.from_numpy(targets.astype(np.int64))
    return float(torch.log(n[code_of_token[y]]).mean())


def logit_trajectory(steps: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """How the largest attention logit moves over a run (logged at `steps`). It explodes and then
    often levels off or recovers, so a straight line through the whole run says little; instead:
      early       the value at the first logged step (step 10 at cpu scale), before any growth
      peak        the largest value; final: the last
      explosion   log(peak / early): how far it rose above where it started
      mean        the time-averaged value over the logged steps
      rise_growth the growth over the rising phase, early to peak, in logit units per 100 steps
      growth      the least-squares slope over the whole run (per 100 steps), kept for comparison"""
    early, early_step = float(values[0]), float(steps[0])
    top = int(np.argmax(values))
    peak, peak_step = float(values[top]), float(steps[top])
    rise = (peak - early) / (peak_step - early_step) * 100 if peak_step > early_step else 0.0
    slope = float(np.polyfit(steps, values, 1)[0]) * 100 if len(steps) > 1 else float("nan")
    explosion = float(np.log(peak / early)) if peak > 0 and early > 0 else float("nan")
    return {
        "early": early,
        "peak": peak,
        "final": float(values[-1]),
        "explosion": explosion,
        "mean": float(values.mean()),
        "rise_growth": float(rise),
        "growth": slope,
    }


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        info = tokenizer_info(self.spec["data_dir"])
        self.tokens = {s: load_tokens(self.spec["data_dir"], s) for s in SPLITS}
        self.config = GPTConfig(
            vocab_size=info["vocab_size"],
            block_size=hp.seq_len,
            n_layer=hp.n_layer,
            n_head=hp.n_head,
            n_embd=hp.n_embd,
            dropout=hp.dropout,
            attention=hp.attention,
            window=hp.window,
            n_global=hp.n_global,
            softcap=hp.softcap,
            head=hp.head,
            n_codes=hp.n_codes,
        )
        if self.config.head != "full" and self.config.n_codes >= self.config.vocab_size:
            raise ValueError(
                f"arm {self.spec['arm']!r}: n_codes ({self.config.n_codes}) must be smaller than the "
                f"vocabulary ({self.config.vocab_size}); raise vocab_size for this scale"
            )
        self.model = GPT(self.config)
        if self.config.head != "full":
            self.assign_code_map()
        self.model.to(self.device)

    def assign_code_map(self) -> None:
        """The token -> code map of a codebook head: frequency order (logitrepro.tasks.vq_logits
        adds another)."""
        self.model.lm_head.assign(frequency_code_map(self.tokens["train"], self.config.vocab_size, self.config.n_codes))

    def optimizer(self) -> torch.optim.Optimizer:
        """AdamW with weight decay on the matrices only: norm gains (QK-norm's among them), biases and
        a VQ head's per-token bias are not decayed, as nanoGPT and the stabiliser papers do (decaying
        QK-norm's gains would pull every attention logit towards 0, a cap the method does not have)."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": self.hp.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=self.hp.lr, betas=(0.9, 0.95))

    def _windows(self, ids: np.ndarray, starts: np.ndarray):
        t = self.hp.seq_len
        idx = torch.from_numpy(np.stack([ids[s : s + t + 1] for s in starts]).astype(np.int64)).to(self.device)
        return idx[:, :-1], idx[:, 1:]  # (B, T) inputs, (B, T) next tokens

    def batch(self, step: int):
        ids = self.tokens["train"]
        rng = np.random.default_rng([self.seed, step])
        return self._windows(ids, rng.integers(0, len(ids) - self.hp.seq_len - 1, self.hp.batch_size))

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean next-token cross-entropy of a batch under the model's output layer."""
        _, loss = self.model(x, y)
        return loss

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        self.model.record_max_logits(detailed)  # one more Q K^T per layer: only when the row is logged
        loss = self.batch_loss(x, y)
        self.model.record_max_logits(False)
        logs = {"train_loss": loss.item()}
        if detailed:
            maxima = self.model.max_logits()
            logs.update({f"max_logit_l{i}": v for i, v in enumerate(maxima)})
            logs["max_logit"] = max(maxima)
            logs["max_logit_window"] = max(self.model.max_logits_window())
            if self.config.attention == "softcap":
                capped = self.model.capped_fractions()
                logs["capped_fraction"] = sum(capped) / len(capped)
        return loss, logs

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        """The largest attention logit over the run (per logged step, the maximum over layers; the
        same over the matched window as `max_logit_window_*`): logit_trajectory; and the soft cap's
        mean binding fraction."""
        out = {}
        for key in ("max_logit", "max_logit_window"):
            pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if pts:
                steps, values = (np.asarray(v, dtype=float) for v in zip(*pts))
                out.update({f"{key}_{m}": v for m, v in logit_trajectory(steps, values).items()})
        capped = [r["capped_fraction"] for r in rows if isinstance(r.get("capped_fraction"), (int, float))]
        if capped:
            out["capped_fraction"] = float(np.mean(capped))
        return out

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Mean next-token cross-entropy over non-overlapping windows from the start of the split."""
        self.model.eval()
        ids, t = self.tokens[split], self.hp.seq_len
        # validation during training reads eval_tokens; the final test may read more (test_tokens)
        budget = (self.hp.test_tokens or self.hp.eval_tokens) if split == "test" else self.hp.eval_tokens
        starts = np.arange(0, min(len(ids) - t - 1, budget or 10**9), t)
        total, count, targets = 0.0, 0, []
        for i in range(0, len(starts), self.hp.batch_size):
            x, y = self._windows(ids, starts[i : i + self.hp.batch_size])
            total += self.batch_loss(x, y).item() * y.numel()
            count += y.numel()
            targets.append(y.reshape(-1).cpu().numpy())
        self.last_targets = np.concatenate(targets)  # the tokens this evaluation scored (for bounds on them)
        ce = total / count
        out = {f"{split}_loss": ce, f"{split}_ppl": math.exp(min(ce, 50.0))}
        if split == "test":  # how much the model gets from its context: a unigram model of the same tokens
            unigram = unigram_perplexity(self.tokens["train"], self.last_targets, self.config.vocab_size)
            out.update(test_ppl_unigram=unigram, test_ppl_over_unigram=out["test_ppl"] / unigram)
        return out
