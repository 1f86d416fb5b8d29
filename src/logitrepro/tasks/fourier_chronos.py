"""Fourier head in a Chronos-style forecaster (fh.chronos): a linear head against a Fourier head
over the value bins of a small decoder-only transformer, on real forecasting series.

Chronos' recipe for a decoder-only (causal) model, at small scale (Chronos: scripts/training/
train.py, ChronosDataset.to_hf_format, model_type "causal"; the Fourier head authors' copy:
time-series-forecasting/scripts/train/train.py, lines 458-505):
  tokens    a window's values are divided by the mean |value| of its past part (mean scaling),
            then quantised into `n_bins` bins on [low, high], uniform (Chronos: 4,093 centres on
            [-15, 15]) or the authors' mixed bins; token 0 pads
  training  a series drawn uniformly (or a training dataset first, as Chronos mixes its
            datasets with set probabilities); a forecast start t in it, at least `min_past` values
            in (Chronos: min_past 60); the past is up to `window - prediction_length` values
            before t, the future the `prediction_length` values from t; past and future side by
            side from position 0, padding on the right (Chronos moves it there for models with
            absolute positions), cross-entropy of every next token, past and future (Chronos'
            causal labels are the input ids); AdamW, the learning rate decaying linearly to 0
            without warm-up, gradients clipped at norm 1
  forecast  the last `window - prediction_length` values of a held-out series' history as the
            context (Chronos truncates to its context_length), `eval_samples` sample paths drawn
            token by token for the official horizon h with top-k sampling (Chronos' defaults:
            20 samples, top-k 50, temperature 1), decoded to bin centres; the median -> MASE,
            the sample quantiles 0.1..0.9 -> WQL
The trunk is models.forecaster's: T5's relative position bias (Chronos is a T5) in a causal stack,
the linear head tied to the token embedding as the authors' runs (tie_embeddings: true).
Scores per benchmark dataset (a collection at one frequency: m1_yearly, ..., tourism_monthly, as
Chronos' benchmark splits them) relative to seasonal naive, aggregated over the datasets with a
geometric mean (Chronos' agg-relative-score.py): mase_rel, wql_rel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from logitrepro.data.forecasting import COLLECTIONS, benchmark_datasets, load_collection
from logitrepro.hparams import LOWER, LoopHParams, Metric, hp
from logitrepro.metrics import forecast as fm
from logitrepro.models.forecaster import Forecaster
from logitrepro.models.gpt import GPTConfig
from logitrepro.tasks.base import Task as BaseTask

PAD = 0
IGNORE = -100  # F.cross_entropy's ignore_index: no loss on padding


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    head: Literal["linear", "fourier"] = hp()
    n_bins: int = hp(min=2)  # value bins (Chronos: 4,093 of its 4,096 tokens)
    low: float = -15.0  # Chronos' range of mean-scaled values
    high: float = 15.0
    binning: Literal["uniform", "mixed"] = "uniform"  # the authors' headline: mixed; Chronos': uniform
    n_freqs: int = hp(0, min=0)  # the Fourier head's N
    fourier_init: tuple[float, float] = (1e-3, 0.1)  # the authors' Chronos init: weight / 1000, bias / 10
    gamma: float = hp(0.0, min=0)  # Fourier regulariser weight
    tie_embeddings: bool = True  # the linear head is the value tokens' input embedding (the authors' Chronos)
    positions: Literal["relative", "absolute"] = "relative"  # T5's relative position bias (Chronos), or GPT's
    bias_gain: float = hp(1.0, above=0)  # the relative bias is gain * a learned table: its learning rate, times gain
    window: int = hp(min=3)  # tokens of a training window: past and future
    prediction_length: int = hp(16, min=1)  # a window's future part (not in its scale); Chronos: 64
    min_past: int = hp(1, min=1)  # values before a training window's forecast start at least; Chronos: 60
    n_layer: int = hp(min=1)
    n_head: int = hp(min=1)
    n_embd: int = hp(min=1)
    dropout: float = hp(0.0, min=0, max=0.99)
    lr: float = hp(above=0)  # AdamW's peak learning rate
    lr_schedule: Literal["linear", "constant"] = "linear"  # Chronos: linear decay to 0, no warm-up
    grad_clip: float | None = hp(1.0, above=0)  # Chronos: max_grad_norm 1.0
    weight_decay: float = hp(0.0, min=0)
    batch_size: int = hp(min=1)
    train_collections: tuple[str, ...] = COLLECTIONS
    eval_collections: tuple[str, ...] = COLLECTIONS
    holdout_every: int = hp(5, min=2)  # every N-th series of a collection both trained and scored on is held out
    eval_series: int | None = hp(None, min=1)  # held-out series scored per benchmark dataset (None: all)
    eval_samples: int = hp(20, min=1)  # sample paths per series (Chronos' default)
    train_mix: Literal["series", "datasets"] = "series"  # draw series uniformly, or a dataset first (each equally)
    top_k: int | None = hp(50, min=1)  # sample among the k likeliest bins (Chronos' default); None: all

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if self.head == "fourier" and self.n_freqs < 1:
            problems.append(("n_freqs", "a Fourier head needs at least one frequency"))
        if self.n_embd % self.n_head:
            problems.append(("n_embd", f"{self.n_embd} is not divisible by n_head ({self.n_head})"))
        if not self.low < self.high:
            problems.append(("high", f"{self.high} is not above low ({self.low})"))
        if self.binning == "mixed" and not self.low < MIXED_MID[0] < MIXED_MID[1] < self.high:
            problems.append(("binning", f"mixed bins need low < {MIXED_MID[0]} and high > {MIXED_MID[1]}"))
        if self.prediction_length >= self.window:
            problems.append(
                ("prediction_length", f"{self.prediction_length} leaves no past in a window of {self.window}")
            )
        return problems

    @property
    def context_length(self) -> int:
        """Past values a forecast conditions on (Chronos' context_length)."""
        return self.window - self.prediction_length

    def produces(self) -> dict[str, Metric]:
        # cross-entropies and forecast errors (absolute, and relative to seasonal naive): all lower
        out = super().produces() | dict.fromkeys(("val_ce", "test_ce", "mase_rel", "wql_rel"), LOWER)
        for d in benchmark_datasets(self.eval_collections):
            out |= dict.fromkeys((f"mase_{d}", f"wql_{d}", f"mase_rel_{d}", f"wql_rel_{d}"), LOWER)
        return out


# The authors' mixed binning (time-series-forecasting/src/chronos/chronos.py,
# MeanScaleMixedUniformBins; configs linear.yaml and fourier-550.yaml: mid limits -1 and 10,
# sparse_bin_density 0.2): 80% of the bins on [-1, 10], where mean-scaled values mostly lie, the
# rest spread over [low, -1] and [10, high] in proportion to their widths.
MIXED_MID, MIXED_SPARSE_SHARE = (-1.0, 10.0), 0.2


def mixed_centres(n_bins: int, low: float, high: float) -> np.ndarray:
    """n_bins centres: uniform on each of [low, -1], (-1, 10], (10, high], denser in the middle."""
    mid1, mid2 = MIXED_MID
    sparse_range = (mid1 - low) + (high - mid2)
    below = int(MIXED_SPARSE_SHARE * n_bins * (mid1 - low) / sparse_range)
    above = int(MIXED_SPARSE_SHARE * n_bins * (high - mid2) / sparse_range)
    dense = n_bins - below - above
    return np.concatenate(
        [np.linspace(low, mid1, below), np.linspace(mid1, mid2, dense + 1)[1:], np.linspace(mid2, high, above + 1)[1:]]
    )


class MeanScaleBins:
    """Chronos' tokenizer: value / mean|context| -> the nearest of n_bins bin centres on [low,
    high], uniform (Chronos) or mixed (the authors' headline runs)."""

    def __init__(self, n_bins: int, low: float, high: float, binning: str = "uniform"):
        self.centres = np.linspace(low, high, n_bins) if binning == "uniform" else mixed_centres(n_bins, low, high)
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


def evenly_spaced(items: list, k: int | None) -> list:
    """k items spread over the list (all when k is None or not smaller): a collection's series are
    ordered by domain (M3 yearly: micro, industry, ..., demographic), so its first k would be one."""
    if k is None or k >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def top_k_sample(logits: torch.Tensor, k: int | None, gen: torch.Generator) -> torch.Tensor:
    """logits (R, m) -> one bin index per row (R, 1), drawn among the k likeliest bins (all: k None)."""
    if k is not None and k < logits.shape[-1]:
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (R, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        hp = self.hp
        self.window = hp.window
        self.tokenizer = MeanScaleBins(hp.n_bins, hp.low, hp.high, hp.binning)
        self.train_series, self.train_datasets, self.heldout = self._split(self.spec["data_dir"], hp)
        names = sorted(set(self.train_datasets))
        self._members = [np.flatnonzero(np.array(self.train_datasets) == n) for n in names]  # series per dataset
        torch.manual_seed(self.seed)
        cfg = GPTConfig(
            vocab_size=hp.n_bins + 1,
            block_size=self.window - 1,
            n_layer=hp.n_layer,
            n_head=hp.n_head,
            n_embd=hp.n_embd,
            dropout=hp.dropout,
        )
        self.model = Forecaster(
            cfg, hp.n_bins, hp.head, hp.n_freqs, tuple(hp.fourier_init), hp.tie_embeddings, hp.positions, hp.bias_gain
        )
        self.model.to(self.device)
        self._val = None

    @staticmethod
    def _split(data_dir, hp: HParams) -> tuple[list[np.ndarray], list[str], dict[str, list]]:
        """Training histories and the dataset of each ('m3_other', ...), and the held-out series of
        each benchmark dataset ({'m1_yearly': [...]}).
        A collection both trained and evaluated on is split by series: every `holdout_every`-th
        series is held out (its training part unseen too); one only trained on (the Chronos
        corpus) or only evaluated on (zero-shot) is used whole. `eval_series` of each dataset's
        held-out series are scored, evenly spaced over it."""
        train_on, eval_on = hp.train_collections, hp.eval_collections
        every = hp.holdout_every
        train, names, heldout = [], [], {}
        for c in dict.fromkeys([*train_on, *eval_on]):
            series = load_collection(data_dir, c)
            held = (
                [i % every == 0 for i in range(len(series))]
                if c in train_on and c in eval_on
                else [c in eval_on] * len(series)
            )
            kept = [s for s, h in zip(series, held) if not h and c in train_on]
            train += [s.train for s in kept]
            names += [f"{c}_{s.frequency}" for s in kept]
            if c in eval_on:
                for name in benchmark_datasets([c]):
                    kept = [s for s, h in zip(series, held) if h and f"{c}_{s.frequency}" == name]
                    if kept:
                        heldout[name] = evenly_spaced(kept, hp.eval_series)
        return train, names, heldout

    def optimizer(self):
        return torch.optim.AdamW(self.model.parameters(), lr=self.hp.lr, weight_decay=self.hp.weight_decay)

    def lr_at(self, step: int) -> float:
        if self.hp.lr_schedule == "constant":
            return self.hp.lr
        return self.hp.lr * max(0.0, 1.0 - step / self.hp.steps)  # transformers' linear schedule, no warm-up

    def _tokens(self, past: np.ndarray, future: np.ndarray) -> tuple[np.ndarray, int]:
        """(window tokens: past then future from position 0, padding on the right; where the future
        starts). Both are scaled by the past alone."""
        scale = self.tokenizer.scale_of(past)
        values = np.concatenate([past, future])[: self.window]
        out = np.full(self.window, PAD, dtype=np.int64)
        out[: len(values)] = self.tokenizer.encode(values, scale)
        return out, len(past)

    def _training_window(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Chronos' instance split: a forecast start t with at least min_past values before it and
        a full future after it where the series is long enough (Chronos drops series shorter than
        min_past + prediction_length; M1's yearly series have a median of 15 values, so a series
        that short here has t anywhere after min_past and a shorter future)."""
        pred, ctx = self.hp.prediction_length, self.hp.context_length
        lo = min(self.hp.min_past, len(x) - 1)
        hi = len(x) - pred if len(x) >= lo + pred else len(x) - 1
        t = int(rng.integers(lo, hi + 1))
        return self._tokens(x[max(0, t - ctx) : t], x[t : t + pred])[0]

    def batch(self, step: int) -> dict:
        """{'tokens': (B, window), 'step'}, a pure function of (seed, step): series drawn uniformly,
        or (train_mix 'datasets') a dataset uniformly, then one of its series, as Chronos draws
        from its training datasets with set probabilities."""
        rng = np.random.default_rng([self.seed, step])
        if self.hp.train_mix == "datasets":
            groups = rng.integers(len(self._members), size=self.hp.batch_size)
            picks = [self._members[g][rng.integers(len(self._members[g]))] for g in groups]
        else:
            picks = rng.integers(len(self.train_series), size=self.hp.batch_size)
        rows = [self._training_window(self.train_series[i], rng) for i in picks]
        return {"tokens": torch.from_numpy(np.stack(rows)).to(self.device), "step": step}

    def _loss(self, tokens: torch.Tensor, scored: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy of every next token that is not padding (and, given `scored` (B, window - 1),
        only where it is true)."""
        inp, nxt = tokens[:, :-1], tokens[:, 1:]  # (B, T), T = window - 1
        keep = nxt != PAD if scored is None else (nxt != PAD) & scored
        tgt = torch.where(keep, nxt - 1, IGNORE)  # targets are bin indices 0..m-1
        logits, coeffs = self.model(inp)  # (B, T, m)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)
        reg = torch.zeros((), device=ce.device)
        if coeffs is not None and self.hp.gamma:
            reg = self.hp.gamma * self.model.head.regulariser(coeffs[keep])
        return ce, reg

    def loss(self, batch, detailed: bool = False):
        self.model.train()
        ce, reg = self._loss(batch["tokens"])
        return ce + reg, {"train_loss": float(ce.detach())}

    def train_step(self, batch: dict, optimizer, detailed: bool = False):
        """One AdamW step at the scheduled learning rate, gradients clipped (Chronos' Trainer)."""
        lr = self.lr_at(batch["step"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, logs = self.loss(batch, detailed)
        if not torch.isfinite(loss):
            return loss, logs
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.hp.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.grad_clip)
        optimizer.step()
        return loss.detach(), {**logs, "lr": lr}

    def _val_windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced windows of the scored held-out series: the forecast's context, then the
        official test part; (tokens (n, window), which next tokens are the test part (n, window - 1))."""
        if self._val is None:
            ctx = self.hp.context_length
            rows, scored = [], []
            for held in self.heldout.values():
                for s in held:
                    tokens, start = self._tokens(s.train[-ctx:], s.test)
                    rows.append(tokens)
                    mask = np.zeros(self.window - 1, dtype=bool)
                    mask[start - 1 : start - 1 + len(s.test)] = True  # input position i predicts token i + 1
                    scored.append(mask)
            self._val = tuple(torch.from_numpy(np.stack(a)).to(self.device) for a in (rows, scored))
        return self._val

    @torch.no_grad()
    def sample_paths(
        self, history: list[np.ndarray], horizon: int, n_samples: int, gen: torch.Generator, cached: bool | None = None
    ) -> np.ndarray:
        """Sample paths (n_series, n_samples, horizon) in the series' units: Chronos' context (the
        last context_length values, scaled by them) from position 0, tokens drawn one at a time.
        The relative trunk keeps keys and values (`cached`, its default); the absolute one runs
        the whole window for every token and slides it once full."""
        contexts = [h[-self.hp.context_length :] for h in history]
        scales = np.array([self.tokenizer.scale_of(c) for c in contexts])
        seq = np.full((len(history), max(len(c) for c in contexts)), PAD, dtype=np.int64)
        for row, c in zip(seq, contexts):
            row[: len(c)] = self.tokenizer.encode(c, self.tokenizer.scale_of(c))
        seq = torch.from_numpy(seq).to(self.device).repeat_interleave(n_samples, 0)  # (R, C), R = n * S
        length = torch.tensor([len(c) for c in contexts], device=self.device).repeat_interleave(n_samples)  # (R,)
        cached = self.model.caches if cached is None else cached
        draw = self._draw_cached if cached else self._draw_sliding
        tokens = draw(seq, length, horizon, gen).view(len(history), n_samples, horizon).cpu().numpy()
        return self.tokenizer.decode(tokens, scales[:, None, None])

    def _draw_cached(self, seq: torch.Tensor, length: torch.Tensor, horizon: int, gen) -> torch.Tensor:
        """Token ids (R, horizon) after right-padded contexts seq (R, C) of `length` (R,) values."""
        hidden, cache = self.model.trunk.prefill(seq, seq.shape[1] + horizon)  # (R, C, d)
        logits = self.model.bins(hidden[torch.arange(len(seq), device=seq.device), length - 1])[0]  # (R, m)
        drawn = []
        for step in range(horizon):
            nxt = top_k_sample(logits, self.hp.top_k, gen)[:, 0] + 1  # (R,) token ids
            drawn.append(nxt)
            if step + 1 < horizon:
                logits = self.model.bins(self.model.trunk.extend(nxt, length + step, cache))[0]
        return torch.stack(drawn, 1)

    def _draw_sliding(self, seq: torch.Tensor, length: torch.Tensor, horizon: int, gen) -> torch.Tensor:
        """As _draw_cached, the whole window through the trunk for every token."""
        width = self.window - 1
        seq = F.pad(seq, (0, width - seq.shape[1]), value=PAD)  # (R, window - 1)
        rows = torch.arange(len(seq), device=seq.device)
        drawn = []
        for _ in range(horizon):
            logits = self.model(seq, at=length - 1)[0]  # (R, m): each row's last filled position
            nxt = top_k_sample(logits, self.hp.top_k, gen) + 1  # (R, 1) token ids
            drawn.append(nxt[:, 0])
            full = length == width
            seq[full] = torch.cat([seq[full, 1:], nxt[full]], dim=1)
            seq[rows[~full], length[~full]] = nxt[~full, 0]
            length = torch.clamp(length + 1, max=width)
        return torch.stack(drawn, 1)

    def _forecast_scores(self) -> dict[str, float]:
        gen = torch.Generator(device=self.device).manual_seed(self.seed)
        n_samples = self.hp.eval_samples
        out, rel = {}, {"mase": [], "wql": []}
        for d, held in self.heldout.items():
            truth = [(s.train, s.test, s.period) for s in held]
            forecasts = [None] * len(held)
            for h in sorted({len(s.test) for s in held}):  # one batch per horizon
                idx = [i for i, s in enumerate(held) if len(s.test) == h]
                paths = self.sample_paths([held[i].train for i in idx], h, n_samples, gen)
                for i, p in zip(idx, paths):
                    forecasts[i] = fm.from_samples(p)
            model, naive = fm.dataset_scores(truth, forecasts), fm.dataset_scores(truth, fm.naive_forecasts(truth))
            for k in ("mase", "wql"):
                out[f"{k}_{d}"] = model[k]
                out[f"{k}_rel_{d}"] = model[k] / naive[k]
                rel[k].append(model[k] / naive[k])
        out["mase_rel"] = fm.geometric_mean(rel["mase"])
        out["wql_rel"] = fm.geometric_mean(rel["wql"])
        return out

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        """'val': teacher-forced cross-entropy of the held-out test parts (cheap, for the curves);
        'test': that and the sampled forecasts' MASE and WQL relative to seasonal naive."""
        self.model.eval()
        ce, _ = self._loss(*self._val_windows())
        out = {f"{split}_ce": float(ce)}
        if split == "test":
            out.update(self._forecast_scores())
        return out
