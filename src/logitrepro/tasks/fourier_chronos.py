"""Fourier head in a Chronos-style forecaster (fh.chronos): a linear head against a Fourier head
over the value bins of a small decoder-only transformer, on real forecasting series.

Chronos' recipe, at small scale:
  tokens    each window is divided by the mean |value| of its context part (mean scaling), then
            quantised into `n_bins` uniform bins on [low, high] (Chronos: 4,094 bins on [-15, 15]);
            token 0 pads on the left
  training  windows cut at random from the training parts of the training series (the series
            whose index is not a multiple of `holdout_every`); the first values are the context,
            the last `prediction_length` the targets: cross-entropy on those only, as Chronos'
            decoder (its scale comes from the context part alone)
  forecast  the last `window - 1` values of a held-out series' history as context, `eval_samples`
            sample paths drawn token by token for the official horizon h, decoded to bin centres;
            median -> MASE, sample quantiles 0.1..0.9 -> WQL
Scores per collection (M1, M3, Tourism) relative to seasonal naive, aggregated over the three
with a geometric mean, as the Chronos benchmarks report them (mase_rel, wql_rel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from logitrepro.data.forecasting import COLLECTIONS, load_collection
from logitrepro.metrics import forecast as fm
from logitrepro.models.forecaster import Forecaster
from logitrepro.models.gpt import GPTConfig
from logitrepro.tasks.base import Task as BaseTask
from logitrepro.tasks.hparams import LoopHParams, hp

PAD = 0
IGNORE = -100  # F.cross_entropy's ignore_index: no loss on padding


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    head: Literal["linear", "fourier"] = hp()
    n_bins: int = hp(min=2)  # uniform value bins (Chronos: 4,094)
    low: float = -15.0  # Chronos' range of mean-scaled values
    high: float = 15.0
    n_freqs: int = hp(0, min=0)  # the Fourier head's N
    fourier_init: tuple[float, float] = (1e-3, 0.1)  # the authors' Chronos init: weight / 1000, bias / 10
    gamma: float = hp(0.0, min=0)  # Fourier regulariser weight
    window: int = hp(min=3)  # tokens per training window; the context is window - 1 values
    prediction_length: int = hp(16, min=1)  # the window's last values: the targets
    n_layer: int = hp(min=1)
    n_head: int = hp(min=1)
    n_embd: int = hp(min=1)
    dropout: float = hp(0.0, min=0, max=0.99)
    lr: float = hp(above=0)  # AdamW
    weight_decay: float = hp(0.0, min=0)
    batch_size: int = hp(min=1)
    train_collections: tuple[str, ...] = COLLECTIONS
    eval_collections: tuple[str, ...] = COLLECTIONS
    holdout_every: int = hp(5, min=2)  # every N-th series of a collection both trained and scored on is held out
    eval_series: int | None = hp(None, min=1)  # held-out series scored per collection (None: all)
    eval_samples: int = hp(20, min=1)  # sample paths per series (Chronos' default)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.head == "fourier" and self.n_freqs < 1:
            problems.append(("n_freqs", "a Fourier head needs at least one frequency"))
        if self.n_embd % self.n_head:
            problems.append(("n_embd", f"{self.n_embd} is not divisible by n_head ({self.n_head})"))
        if not self.low < self.high:
            problems.append(("high", f"{self.high} is not above low ({self.low})"))
        if self.prediction_length >= self.window:
            problems.append(
                ("prediction_length", f"{self.prediction_length} leaves no context in a window of {self.window}")
            )
        return problems

    def produces(self) -> set[str]:
        out = super().produces() | {"val_ce", "test_ce", "mase_rel", "wql_rel"}
        for c in self.eval_collections:
            out |= {f"mase_{c}", f"wql_{c}", f"mase_rel_{c}", f"wql_rel_{c}"}
        return out


class MeanScaleBins:
    """Chronos' tokenizer: value / mean|context| -> one of n_bins uniform bins on [low, high]."""

    def __init__(self, n_bins: int, low: float, high: float):
        self.centres = np.linspace(low, high, n_bins)
        self.edges = (self.centres[1:] + self.centres[:-1]) / 2

    @staticmethod
    def scale_of(context: np.ndarray) -> float:
        s = float(np.mean(np.abs(context))) if len(context) else 0.0
        return s if s > 0 else 1.0

    def encode(self, values: np.ndarray, scale: float) -> np.ndarray:
        """Token ids 1..n_bins (0 is padding)."""
        return np.searchsorted(self.edges, values / scale) + 1

    def decode(self, tokens: np.ndarray, scale) -> np.ndarray:
        return self.centres[np.asarray(tokens) - 1] * scale


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        self.window = hp.window  # tokens per training window; the model sees window - 1
        self.tokenizer = MeanScaleBins(hp.n_bins, hp.low, hp.high)
        self.train_series, self.heldout = self._split(self.spec["data_dir"], hp)
        torch.manual_seed(self.seed)
        cfg = GPTConfig(
            vocab_size=hp.n_bins + 1,
            block_size=self.window - 1,
            n_layer=hp.n_layer,
            n_head=hp.n_head,
            n_embd=hp.n_embd,
            dropout=hp.dropout,
        )
        self.model = Forecaster(cfg, hp.n_bins, hp.head, hp.n_freqs, tuple(hp.fourier_init)).to(self.device)
        self._val = None

    @staticmethod
    def _split(data_dir, hp: HParams) -> tuple[list[np.ndarray], dict]:
        """Training histories and held-out series per evaluation collection. A collection both
        trained and evaluated on is split by series: every `holdout_every`-th series is held out
        (its training part unseen too); one only trained on (the Chronos corpus) or only
        evaluated on (zero-shot) is used whole."""
        train_on, eval_on = hp.train_collections, hp.eval_collections
        every = hp.holdout_every
        train, heldout = [], {}
        for c in dict.fromkeys([*train_on, *eval_on]):
            series = load_collection(data_dir, c)
            held = (
                [i % every == 0 for i in range(len(series))]
                if c in train_on and c in eval_on
                else [c in eval_on] * len(series)
            )
            train += [s.train for s, h in zip(series, held) if not h and c in train_on]
            if c in eval_on:
                kept = [s for s, h in zip(series, held) if h]
                heldout[c] = kept[: hp.eval_series or len(kept)]
        return train, heldout

    def optimizer(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.hp.lr, weight_decay=self.hp.weight_decay)

    def _tokens(self, window: np.ndarray, context_len: int) -> np.ndarray:
        """A window of values -> `self.window` tokens, left-padded, scaled by its first context_len values."""
        scale = self.tokenizer.scale_of(window[: max(1, context_len)])
        out = np.full(self.window, PAD, dtype=np.int64)
        out[self.window - len(window) :] = self.tokenizer.encode(window, scale)
        return out

    def batch(self, step: int) -> torch.Tensor:
        """(B, window) tokens, a pure function of (seed, step): uniform series, uniform window end."""
        rng = np.random.default_rng([self.seed, step])
        pred = self.hp.prediction_length
        rows = []
        for i in rng.integers(len(self.train_series), size=self.hp.batch_size):
            x = self.train_series[i]
            end = int(rng.integers(2, len(x) + 1))
            w = x[max(0, end - self.window) : end]
            rows.append(self._tokens(w, len(w) - pred))
        return torch.from_numpy(np.stack(rows)).to(self.device)

    def _loss(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy of the last prediction_length tokens given everything before them."""
        pred = self.hp.prediction_length
        inp, tgt = tokens[:, :-1], tokens[:, -pred:] - 1  # targets are bin indices 0..m-1
        tgt = torch.where(tokens[:, -pred:] == PAD, IGNORE, tgt)  # (B, pred)
        logits, coeffs = self.model(inp, last=pred)  # (B, pred, m)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)
        reg = torch.zeros((), device=ce.device)
        if coeffs is not None and self.hp.gamma:
            reg = self.hp.gamma * self.model.head.regulariser(coeffs[tgt != IGNORE])
        return ce, reg

    def loss(self, batch, detailed: bool = False):
        self.model.train()
        ce, reg = self._loss(batch)
        return ce + reg, {"train_loss": float(ce.detach())}

    def _val_windows(self) -> torch.Tensor:
        """Fixed teacher-forced windows of the held-out series: history and official test part."""
        if self._val is None:
            pred = self.hp.prediction_length
            rows = [
                self._tokens(np.concatenate([s.train, s.test])[-self.window :], self.window - pred)
                for c in self.heldout
                for s in self.heldout[c]
            ]
            self._val = torch.from_numpy(np.stack(rows)).to(self.device)
        return self._val

    @torch.no_grad()
    def sample_paths(self, history: list[np.ndarray], horizon: int, n_samples: int, gen: torch.Generator) -> np.ndarray:
        """Sample paths (n_series, n_samples, horizon) in the series' units."""
        ctx_len = self.window - 1
        scales = np.array([self.tokenizer.scale_of(h[-ctx_len:]) for h in history])
        seq = np.stack([self._tokens(h[-ctx_len:], ctx_len)[1:] for h in history])  # (n, window - 1)
        seq = torch.from_numpy(seq).to(self.device).repeat_interleave(n_samples, 0)  # (n*S, window - 1)
        drawn = []
        for _ in range(horizon):
            logits = self.model(seq, last=1)[0][:, 0]  # (n*S, m): only the last position is needed
            nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen) + 1  # (n*S, 1) token ids
            drawn.append(nxt)
            seq = torch.cat([seq[:, 1:], nxt], dim=1)  # keep the window the model was trained on
        tokens = torch.cat(drawn, 1).view(len(history), n_samples, horizon).cpu().numpy()
        return self.tokenizer.decode(tokens, scales[:, None, None])

    def _forecast_scores(self) -> dict[str, float]:
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        n_samples = self.hp.eval_samples
        out, rel = {}, {"mase": [], "wql": []}
        for c, held in self.heldout.items():
            truth = [(s.train, s.test, s.period) for s in held]
            forecasts = [None] * len(held)
            for h in sorted({len(s.test) for s in held}):  # one batch per horizon
                idx = [i for i, s in enumerate(held) if len(s.test) == h]
                paths = self.sample_paths([held[i].train for i in idx], h, n_samples, gen)
                for i, p in zip(idx, paths):
                    forecasts[i] = fm.from_samples(p)
            model, naive = fm.dataset_scores(truth, forecasts), fm.dataset_scores(truth, fm.naive_forecasts(truth))
            for k in ("mase", "wql"):
                out[f"{k}_{c}"] = model[k]
                out[f"{k}_rel_{c}"] = model[k] / naive[k]
                rel[k].append(model[k] / naive[k])
        out["mase_rel"] = fm.geometric_mean(rel["mase"])
        out["wql_rel"] = fm.geometric_mean(rel["wql"])
        return out

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """'val': teacher-forced cross-entropy on the held-out windows (cheap, for the curves);
        'test': that and the sampled forecasts' MASE and WQL relative to seasonal naive."""
        self.model.eval()
        ce, _ = self._loss(self._val_windows())
        out = {f"{split}_ce": float(ce)}
        if split == "test":
            out.update(self._forecast_scores())
        return out
