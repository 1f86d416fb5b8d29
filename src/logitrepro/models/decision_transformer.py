"""Decision Transformer for Atari (Chen et al. 2021), with a linear or a Fourier-head action layer.

Each timestep t contributes three tokens: return-to-go R_t, state s_t, action a_t, so a window of
T steps is [R_1, s_1, a_1, ..., R_T, s_T, a_T] (3T tokens; 3T - 1 at evaluation, where a_T is
the action being chosen). A causal transformer reads them; the action a_t is predicted from the
output at the state token s_t, which sees R_1..R_t, s_1..s_t and a_1..a_{t-1} only.

As in the DT Atari code the Fourier-head authors build on:
  state      4 stacked 84x84 frames / 255 -> Nature-DQN conv trunk -> Linear -> tanh
  return     the raw return-to-go (no scaling) -> Linear(1, d) -> tanh
  action     Embedding(18, d) -> tanh
  positions  a learned embedding per token position in the window, plus one learned embedding of
             the window's timestep in the episode, added to every token of the window
  blocks     pre-LayerNorm, GELU MLP, dropout on embeddings, attention weights and residuals,
             linear layers with biases (minGPT)
  init       N(0, 0.02) for the transformer's linear/embedding weights and the head, zero biases;
             the state encoder and the return embedding keep PyTorch's default (the DT code
             re-initialises before creating them); action embeddings N(0, 0.02)

Action head (`DTConfig.head`):
  linear   nn.Linear(d, 18, bias=False): logits over the actions
  fourier  the Fourier head (models.fourier_head, on kernels.fourier_head) over 18 bins of
           [-1, 1]. The authors order the actions on the bins so that neighbouring bins are
           neighbouring joystick moves (BIN_ORDER); its log-pmf is read back in ALE's action
           order, so both heads give logits indexed by ALE action and the loss and sampling code
           is the same for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from logitrepro.models.fourier_head import FourierHead

N_ACTIONS = 18
HEADS = ("linear", "fourier")
# Bin j of the Fourier head holds ALE action BIN_ORDER[j]: NOOP; the eight joystick directions
# clockwise from LEFT; the same eight with FIRE; FIRE (the authors' reindexing in model_atari.py).
BIN_ORDER = (0, 4, 7, 2, 6, 3, 8, 5, 9, 12, 15, 10, 14, 11, 16, 13, 17, 1)
BIN_OF_ACTION = tuple(BIN_ORDER.index(a) for a in range(N_ACTIONS))


@dataclass
class DTConfig:
    n_actions: int = N_ACTIONS
    context: int = 30  # K timesteps per window (3K tokens)
    max_timestep: int = 10_000  # largest timestep in the training episodes (size of its embedding - 1)
    n_layer: int = 6
    n_head: int = 8
    n_embd: int = 128
    dropout: float = 0.1
    frame_stack: int = 4
    head: str = "linear"
    n_freqs: int = 8  # Fourier head: N
    # Fourier head: None keeps the DT's N(0, 0.02) init, which the authors' code ends up with
    # (their head divides PyTorch's default init by 100, then the model's init pass overwrites it);
    # a number scales PyTorch's default init instead (the toy example's 0.01).
    fourier_init_scale: float | None = None

    def __post_init__(self):
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.head == "fourier" and (self.n_actions != N_ACTIONS or self.n_freqs < 1):
            raise ValueError("the Fourier action head needs the 18 Atari actions and n_freqs >= 1")


class SelfAttention(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.n_head, self.p = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, L, d)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0)
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))  # (B, L, d)


class Block(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd),
            nn.GELU(),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ActionHead(nn.Module):
    """(..., d) -> (logits (..., 18) in ALE action order, Fourier coefficients (..., 2(N+1)) or None).

    Fourier: logits are log(pmf + 1e-5) of the Fourier density at the bin centres, read at each
    action's bin; the coefficients are the unnormalised autocorrelations the regulariser takes."""

    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.head == "linear":
            self.proj = nn.Linear(cfg.n_embd, cfg.n_actions, bias=False)
        else:
            self.fourier = FourierHead(cfg.n_embd, cfg.n_actions, cfg.n_freqs)  # init: see DecisionTransformer
            self.register_buffer("bin_of_action", torch.tensor(BIN_OF_ACTION), persistent=False)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.cfg.head == "linear":
            return self.proj(h), None
        log_pmf, coeffs = self.fourier(h)  # (..., 18) over bins, (..., 2(N+1))
        return log_pmf[..., self.bin_of_action], coeffs

    def regulariser(self, coeffs: torch.Tensor | None) -> torch.Tensor:
        """2 * mean over rows of sum_k 2 pi^2 k^2 |c_k|^2 (multiply by gamma outside); 0 for a linear head."""
        if coeffs is None:
            return self.proj.weight.new_zeros(())
        return FourierHead.regulariser(coeffs)


class DecisionTransformer(nn.Module):
    def __init__(self, cfg: DTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.n_embd
        self.pos_emb = nn.Parameter(torch.zeros(1, 3 * cfg.context + 1, d))  # token position in the window
        self.timestep_emb = nn.Parameter(torch.zeros(1, cfg.max_timestep + 1, d))  # window's timestep
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.head = ActionHead(cfg)
        self.apply(self._init)  # before the encoders exist, as the DT code does
        self.state_encoder = nn.Sequential(
            nn.Conv2d(cfg.frame_stack, 32, 8, stride=4),
            nn.ReLU(),  # (4, 84, 84) -> (32, 20, 20)
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),  # -> (64, 9, 9)
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),  # -> (64, 7, 7)
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, d),
            nn.Tanh(),
        )
        self.rtg_emb = nn.Sequential(nn.Linear(1, d), nn.Tanh())
        self.action_emb = nn.Sequential(nn.Embedding(cfg.n_actions, d), nn.Tanh())
        nn.init.normal_(self.action_emb[0].weight, std=0.02)
        if cfg.head == "fourier" and cfg.fourier_init_scale is not None:
            proj = self.head.fourier.proj
            fresh = nn.Linear(d, proj.out_features)  # PyTorch's default init, scaled
            with torch.no_grad():
                proj.weight.copy_(fresh.weight * cfg.fourier_init_scale)
                proj.bias.copy_(fresh.bias * cfg.fourier_init_scale)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def encode_states(self, states: torch.Tensor) -> torch.Tensor:
        """(B, T, 4, 84, 84) frames in [0, 255] (uint8 or float) -> (B, T, d)."""
        b, t = states.shape[:2]
        x = states.reshape(b * t, *states.shape[2:]).float() / 255.0  # (B*T, 4, 84, 84)
        return self.state_encoder(x).view(b, t, -1)

    def decode(
        self, state_emb: torch.Tensor, actions: torch.Tensor | None, rtgs: torch.Tensor, timesteps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """state_emb (B, T, d), actions (B, T) or (B, T-1) or None (T = 1), rtgs (B, T),
        timesteps (B,) -> (logits (B, T, 18) at the state tokens, Fourier coefficients or None)."""
        b, t, d = state_emb.shape
        n_act = 0 if actions is None else actions.shape[1]
        if t > self.cfg.context or n_act not in (t - 1, t):
            raise ValueError(
                f"a window holds at most {self.cfg.context} states and one action fewer or as many; "
                f"got {t} states, {n_act} actions"
            )
        r = self.rtg_emb(rtgs.unsqueeze(-1).float())  # (B, T, d)
        a = state_emb.new_zeros(b, t, d)
        if n_act:
            a = torch.cat(
                [self.action_emb(actions), a[:, n_act:]], dim=1
            )  # (B, T, d); a_T is a zero stand-in if absent
        n_tokens = 3 * t - (t - n_act)  # 3T, or 3T - 1 while a_T is still to be chosen
        x = torch.stack([r, state_emb, a], dim=2).reshape(b, 3 * t, d)[:, :n_tokens]  # (B, L, d)
        x = x + self.pos_emb[:, :n_tokens] + self.timestep_emb[0, timesteps].unsqueeze(1)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        h = self.ln_f(x)[:, 1::3]  # (B, T, d): outputs at the state tokens
        return self.head(h)

    def forward(self, states, actions, rtgs, timesteps):
        """states (B, T, 4, 84, 84), actions (B, T[-1]), rtgs (B, T), timesteps (B,) -> (logits (B, T, 18), coeffs)."""
        return self.decode(self.encode_states(states), actions, rtgs, timesteps)

    def optim_groups(self, weight_decay: float) -> list[dict]:
        """The DT's AdamW split: decay the weights of linear and conv layers only (not biases,
        LayerNorms, embeddings or the position parameters)."""
        decay, no_decay = [], []
        for module in self.modules():
            for name, p in module.named_parameters(recurse=False):
                if name == "weight" and isinstance(module, (nn.Linear, nn.Conv2d)):
                    decay.append(p)
                else:
                    no_decay.append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
