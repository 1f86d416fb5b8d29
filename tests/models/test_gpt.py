import math

import pytest
import torch
import torch.nn.functional as F

from logitrepro.models.gpt import ATTENTIONS, GPT, GPTConfig


def small(**kw):
    base = dict(vocab_size=97, block_size=40, n_layer=2, n_head=4, n_embd=32, window=8, n_global=1, n_codes=16)
    base.update(kw)
    return GPTConfig(**base)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_causal_for_every_attention(attention):
    torch.manual_seed(0)
    model = GPT(small(attention=attention)).eval()
    idx = torch.randint(0, 97, (2, 33))
    later = idx.clone()
    later[:, 20:] = torch.randint(0, 97, (2, 13))  # change only the future
    a, _ = model(idx)
    b, _ = model(later)
    assert a.shape == (2, 33, 97)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_attention_arms_have_equal_parameter_counts_but_qk_norms_gains():
    counts = {a: sum(p.numel() for p in GPT(small(attention=a)).parameters()) for a in ATTENTIONS}
    cfg = small()
    gains = cfg.n_layer * 2 * (cfg.n_embd // cfg.n_head)  # a learnable gain on q and on k, per head dimension
    assert counts["mha"] == counts["ls"] == counts["softcap"] == counts["qk_norm"] - gains, counts


def test_qk_norm_gains_learn_and_shape_the_logits():
    torch.manual_seed(0)
    model = GPT(small(attention="qk_norm"))
    attn = model.blocks[0].attn
    assert attn.q_norm.weight.requires_grad and attn.q_norm.bias is None
    idx = torch.randint(0, 97, (2, 16))
    model.record_max_logits(True)
    model(idx)
    before = model.max_logits()[0]
    with torch.no_grad():
        attn.q_norm.weight.mul_(4.0)  # a larger gain lets the logits grow beyond sqrt(head_dim)
    model(idx)
    assert model.max_logits()[0] > 3 * before


def test_ls_with_window_covering_the_sequence_equals_mha():
    torch.manual_seed(0)
    mha = GPT(small(attention="mha")).eval()
    ls = GPT(small(attention="ls", window=40, n_global=1)).eval()
    ls.load_state_dict(mha.state_dict())
    idx = torch.randint(0, 97, (2, 30))
    torch.testing.assert_close(ls(idx)[0], mha(idx)[0], atol=1e-5, rtol=1e-5)


def test_local_heads_do_not_see_past_the_window():
    torch.manual_seed(0)
    model = GPT(small(attention="ls", n_layer=1, window=4, n_global=0)).eval()
    idx = torch.randint(0, 97, (1, 20))
    far = idx.clone()
    far[0, 0] = (far[0, 0] + 1) % 97  # token 0 is outside the window of position 10
    torch.testing.assert_close(model(idx)[0][:, 10:], model(far)[0][:, 10:])


def test_vq_head_parameter_arithmetic_and_loss_matches_dense_scatter():
    torch.manual_seed(0)
    for head, extra in (("vq", 0), ("vq_bias", 97)):
        model = GPT(small(head=head))
        assert model.output_layer_parameters() == 16 * 32 + extra
        if head == "vq_bias":
            torch.nn.init.normal_(model.lm_head.bias)
        model.lm_head.assign(torch.randint(0, 16, (97,)))
        idx, tgt = torch.randint(0, 97, (2, 12)), torch.randint(0, 97, (2, 12))
        _, loss = model(idx, tgt)
        logits, _ = model(idx)
        dense = F.cross_entropy(logits.reshape(-1, 97), tgt.reshape(-1))
        torch.testing.assert_close(loss, dense, atol=1e-5, rtol=1e-5)
    assert GPT(small()).output_layer_parameters() == 97 * 32


def test_full_head_loss_is_cross_entropy_and_trains():
    torch.manual_seed(0)
    model = GPT(small())
    idx = torch.randint(0, 97, (4, 16))
    logits, _ = model(idx[:, :-1])
    _, loss = model(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 97), idx[:, 1:].reshape(-1)))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = loss.item()
    for _ in range(30):
        _, loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 1.0  # memorises a tiny batch


def test_max_logit_is_recorded_per_layer_and_grows_with_query_scale():
    torch.manual_seed(0)
    model = GPT(small(attention="ls")).eval()
    model.record_max_logits()
    idx = torch.randint(0, 97, (1, 24))
    model(idx)
    before = model.max_logits()
    assert len(before) == 2 and all(isinstance(v, float) for v in before)
    with torch.no_grad():
        model.blocks[0].attn.qkv.weight[:32] *= 10  # scale the queries of layer 0
    model(idx)
    assert model.max_logits()[0] == pytest.approx(10 * before[0], rel=1e-4)


@pytest.mark.parametrize("attention", ["mha", "ls"])
def test_recorded_maxima_are_over_the_keys_each_head_sees(attention):
    # LS: local heads over their window, global heads over every earlier key; the window
    # maximum over every head's window, whatever the head attends to.
    torch.manual_seed(1)
    model = GPT(small(attention=attention)).eval()
    model.record_max_logits()
    idx = torch.randint(0, 97, (2, 24))
    captured = {}
    attn = model.blocks[1].attn
    attn.qkv.register_forward_hook(lambda m, i, out: captured.update(qkv=out))
    model(idx)
    b, t, c = captured["qkv"].shape[0], captured["qkv"].shape[1], attn.cfg.n_embd
    q, k, _ = (z.view(b, t, attn.n_head, attn.head_dim).transpose(1, 2) for z in captured["qkv"].split(c, dim=2))
    s = (q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim)).detach()  # (B, H, T, T)
    pos = torch.arange(t)
    causal = pos[None, :] <= pos[:, None]
    window = causal & (pos[None, :] > pos[:, None] - attn.cfg.window)
    seen = causal.expand(attn.n_head, t, t).clone()
    if attention == "ls":
        seen[: attn.n_head - attn.cfg.n_global] = window
    assert model.max_logits()[1] == pytest.approx(s.masked_fill(~seen, float("-inf")).max().item(), rel=1e-6)
    assert model.max_logits_window()[1] == pytest.approx(s.masked_fill(~window, float("-inf")).max().item(), rel=1e-6)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="attention"):
        small(attention="flash")
    with pytest.raises(ValueError, match="n_global"):
        small(attention="ls", n_global=5)


def test_softcap_is_identity_for_a_huge_cap_and_bites_for_a_small_one():
    torch.manual_seed(0)
    mha = GPT(small(attention="mha")).eval()
    idx = torch.randint(0, 97, (1, 20))
    for cap, same in ((1e6, True), (0.05, False)):
        capped = GPT(small(attention="softcap", softcap=cap)).eval()
        capped.load_state_dict(mha.state_dict())
        assert torch.allclose(capped(idx)[0], mha(idx)[0], atol=1e-5) is same
