"""A language-model task shared by the LM papers (LS-attention, VQ-Logits): a small GPT trained
on a tokenized corpus (data/<corpus>-bpe<V>/), validation and test perplexity, and the largest
pre-softmax attention logit per layer at every evaluation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from logitrepro.models.gpt import GPT, GPTConfig


def load_tokens(data_dir: str | Path, split: str) -> np.ndarray:
    path = Path(data_dir) / f"{split}.npy"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: tokenize the corpus first (logitrepro tokenize)")
    return np.load(path)


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


def cross_entropy_bound(code_of_token: torch.Tensor, targets: np.ndarray) -> float:
    """E_y[log n_M(y)]: with a pure scatter every token of a code gets the same logit, so p(y) <= 1/n_M(y)."""
    n = torch.bincount(code_of_token, minlength=int(code_of_token.max()) + 1).double()  # tokens per code
    y = torch.from_numpy(targets.astype(np.int64))
    return float(torch.log(n[code_of_token[y]]).mean())


class LMTask:
    def __init__(self, spec: dict):
        hp = spec["hparams"]
        self.spec, self.hp = spec, hp
        self.device = torch.device(spec.get("device", "cpu"))
        info = json.loads((Path(spec["data_dir"]) / "tokenizer_info.json").read_text())
        self.tokens = {s: load_tokens(spec["data_dir"], s) for s in ("train", "val", "test")}
        self.config = GPTConfig(
            vocab_size=info["vocab_size"], block_size=hp["seq_len"], n_layer=hp["n_layer"], n_head=hp["n_head"],
            n_embd=hp["n_embd"], dropout=hp.get("dropout", 0.0), attention=hp.get("attention", "mha"),
            window=hp.get("window", 32), n_global=hp.get("n_global", 0), softcap=hp.get("softcap", 30.0),
            head=hp.get("head", "full"), n_codes=hp.get("n_codes", 256),
        )
        if self.config.head != "full" and self.config.n_codes >= self.config.vocab_size:
            raise ValueError(f"arm {spec['arm']!r}: n_codes ({self.config.n_codes}) must be smaller than the "
                             f"vocabulary ({self.config.vocab_size}); raise vocab_size for this scale")
        torch.manual_seed(spec["seed"])
        self.model = GPT(self.config)
        if self.config.head != "full":
            self.model.lm_head.assign(frequency_code_map(self.tokens["train"], info["vocab_size"], self.config.n_codes))
        self.model.to(self.device)

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.hp["lr"], weight_decay=self.hp.get("weight_decay", 0.1),
                                 betas=(0.9, 0.95))

    def _windows(self, ids: np.ndarray, starts: np.ndarray):
        t = self.hp["seq_len"]
        idx = torch.from_numpy(np.stack([ids[s : s + t + 1] for s in starts]).astype(np.int64)).to(self.device)
        return idx[:, :-1], idx[:, 1:]  # (B, T) inputs, (B, T) next tokens

    def batch(self, step: int):
        ids = self.tokens["train"]
        rng = np.random.default_rng([self.spec["seed"], step])
        return self._windows(ids, rng.integers(0, len(ids) - self.hp["seq_len"] - 1, self.hp["batch_size"]))

    def loss(self, batch, detailed: bool = False):
        x, y = batch
        self.model.train()
        self.model.record_max_logits(detailed)  # one more Q K^T per layer: only when the row is logged
        _, loss = self.model(x, y)
        self.model.record_max_logits(False)
        logs = {"train_loss": loss.item()}
        if detailed:
            maxima = self.model.max_logits()
            logs.update({f"max_logit_l{i}": v for i, v in enumerate(maxima)})
            logs["max_logit"] = max(maxima)
        return loss, logs

    def summarise_history(self, rows: list[dict]) -> dict[str, float]:
        """Attention-logit growth over the run: the peak and last of the per-step maximum over
        layers, and its least-squares slope against step (logit units per 100 steps)."""
        pts = [(r["step"], r["max_logit"]) for r in rows if isinstance(r.get("max_logit"), (int, float))]
        if not pts:
            return {}
        steps, values = (np.asarray(v, dtype=float) for v in zip(*pts))
        slope = float(np.polyfit(steps, values, 1)[0]) * 100 if len(pts) > 1 else float("nan")
        return {"max_logit_peak": float(values.max()), "max_logit_final": float(values[-1]),
                "max_logit_growth": slope}

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """Mean next-token cross-entropy over non-overlapping windows from the start of the split."""
        self.model.eval()
        ids, t = self.tokens[split], self.hp["seq_len"]
        # validation during training reads eval_tokens; the final test may read more (test_tokens)
        budget = self.hp.get("test_tokens", self.hp.get("eval_tokens")) if split == "test" else self.hp.get("eval_tokens")
        starts = np.arange(0, min(len(ids) - t - 1, budget or 10**9), t)
        total, count = 0.0, 0
        for i in range(0, len(starts), self.hp["batch_size"]):
            x, y = self._windows(ids, starts[i : i + self.hp["batch_size"]])
            _, loss = self.model(x, y)
            total += loss.item() * y.numel()
            count += y.numel()
        ce = total / count
        return {f"{split}_loss": ce, f"{split}_ppl": math.exp(min(ce, 50.0))}
