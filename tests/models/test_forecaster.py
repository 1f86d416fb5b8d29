"""The forecaster's trunk (T5's relative position bias in a causal stack, cached decoding) and heads."""

import math

import pytest
import torch

from logitrepro.models.forecaster import Forecaster, RelativeBias, distance_bucket
from logitrepro.models.gpt import GPTConfig


def cfg(**kw):
    return GPTConfig(**{**dict(vocab_size=33, block_size=40, n_layer=2, n_head=4, n_embd=32), **kw})


def test_distance_buckets_follow_t5():
    """T5's causal buckets (32, max distance 128): exact below 16, then 16 + floor(16 log(d/16) / log 8)."""
    d = torch.tensor([0, 1, 15, 16, 31, 32, 64, 127, 128, 500])
    # by hand: 32 -> 16 + floor(16/3) = 21; 64 -> 16 + floor(32/3) = 26; 31 -> 16 + floor(16 * 0.3181) = 21
    # (log(31/16) / log 8 = 0.3181); 127 -> 16 + floor(15.94) = 31; beyond: the last bucket
    assert distance_bucket(d).tolist() == [0, 1, 15, 16, 21, 21, 26, 31, 31, 31]
    assert 16 + math.floor(16 * math.log(31 / 16) / math.log(8)) == 21


def test_relative_bias_is_gain_times_table_and_causal():
    bias = RelativeBias(n_head=2, gain=10.0)
    with torch.no_grad():
        bias.table.weight[3] = torch.tensor([0.5, -0.25])  # distance 3
    pos = torch.arange(5)
    out = bias(pos[:, None] - pos[None, :])  # (H, Q, K)
    assert out.shape == (2, 5, 5)
    assert out[:, 4, 1].tolist() == [5.0, -2.5] and out[:, 3, 0].tolist() == [5.0, -2.5]
    assert out[0, 2, 2] == 0 and torch.isinf(out[:, 1, 2]).all() and (out[:, 1, 2] < 0).all()


@pytest.mark.parametrize("positions", ["relative", "absolute"])
def test_trunks_are_causal(positions):
    torch.manual_seed(0)
    model = Forecaster(cfg(), 32, positions=positions).eval()
    idx = torch.randint(1, 33, (2, 30))
    later = idx.clone()
    later[:, 20:] = torch.randint(1, 33, (2, 10))
    a, b = model(idx)[0], model(later)[0]
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_cached_decoding_gives_the_full_forward_pass():
    """prefill + extend, one token at a time at each row's own position, equal the trunk run on
    the whole sequence; rows of different lengths share one cache."""
    torch.manual_seed(0)
    model = Forecaster(cfg(), 32, bias_gain=10.0).eval()
    with torch.no_grad():
        model.trunk.bias.table.weight.normal_()  # a bias that matters
    full = torch.randint(1, 33, (3, 20))
    length = torch.tensor([12, 7, 9])  # each row's context; the rest of the row is decoded
    prompt = full[:, :12].clone()
    prompt[1, 7:], prompt[2, 9:] = 0, 0  # right padding
    hidden, cache = model.trunk.prefill(prompt, capacity=20)
    rows = torch.arange(3)
    want = model.hidden(full)  # (3, 20, d): row r's position length[r] + s sees full[r, : length[r] + s + 1]
    torch.testing.assert_close(hidden[rows, length - 1], want[rows, length - 1])
    for step in range(6):
        pos = length + step
        h = model.trunk.extend(full[rows, pos], pos, cache)  # (3, d)
        torch.testing.assert_close(h, want[rows, pos], atol=1e-5, rtol=1e-4)


def test_tied_head_reads_the_value_embeddings():
    torch.manual_seed(0)
    tied = Forecaster(cfg(), 32, tie_embeddings=True)
    untied = Forecaster(cfg(), 32, tie_embeddings=False)
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == 32 * 32
    h = torch.randn(5, 32)
    torch.testing.assert_close(tied.bins(h)[0], h @ tied.trunk.wte.weight[1:].T)  # row 0 is padding
    before = tied.bins(h)[0].detach()
    with torch.no_grad():
        tied.trunk.wte.weight[4] += 1.0  # the input embedding of token 4, bin 3
    moved = tied.bins(h)[0].detach() - before
    torch.testing.assert_close(moved[:, 3], h.sum(1))  # its logit moves by h . (1, ..., 1)
    assert (moved[:, :3] == 0).all() and (moved[:, 4:] == 0).all()
    with pytest.raises(ValueError, match="tied head"):
        Forecaster(cfg(vocab_size=40), 32, tie_embeddings=True)


def test_fourier_head_returns_its_coefficients_at_requested_positions():
    model = Forecaster(cfg(), 32, head="fourier", n_freqs=4)
    logits, coeffs = model(torch.randint(1, 33, (2, 10)), at=torch.tensor([3, 9]))
    assert logits.shape == (2, 32) and coeffs.shape == (2, 10)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(2), atol=1e-3, rtol=0)
