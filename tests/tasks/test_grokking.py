"""Grokking at the edge of numerical stability: StableMax, ⊥Grad and Softmax Collapse against
numbers worked out by hand, the authors' data split, and a short run of each arm."""

import math

import pytest
import torch

from logitrepro.models.grokking import absorbed, cross_entropy, log_stablemax, stablemax_s
from logitrepro.tasks import make_task
from logitrepro.tasks.grokking import gradient_weight_cosine, modular_pairs, perpendicular_
from tests.support import smoke_spec


def test_s_is_the_papers_ramp_on_both_sides_of_zero():
    x = torch.tensor([-3.0, -1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    # 1/(1+3), 1/(1+1), 0+1, 0.5+1, 2+1
    assert stablemax_s(x).tolist() == [0.25, 0.5, 1.0, 1.5, 3.0]


def test_stablemax_loss_and_gradient_on_fixed_logits():
    """z = (2, 0, -1): s = (3, 1, 1/2), sum 9/2, StableMax = (2/3, 2/9, 1/9). For the label 0 the
    loss is -log(2/3); dL/dz_i = s'(z_i) / sum - [i = 0] s'(z_0) / s(z_0), with s' = 1 above 0 and
    1 / (1 - z)^2 below: (1 / 4.5 - 1/3, 1 / 4.5, (1/4) / 4.5) = (-1/9, 2/9, 1/18)."""
    z = torch.tensor([[2.0, 0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.exp(log_stablemax(z)).tolist()[0] == pytest.approx([2 / 3, 2 / 9, 1 / 9], abs=1e-15)
    loss = cross_entropy(z, torch.tensor([0]), "stablemax", torch.float64).sum()
    assert loss.item() == pytest.approx(math.log(3 / 2), abs=1e-15)
    loss.backward()
    assert z.grad.tolist()[0] == pytest.approx([-1 / 9, 2 / 9, 1 / 18], abs=1e-15)


def test_float32_softmax_absorbs_the_other_classes_and_float64_does_not():
    """Logits (0, -20, -20), label 0. exp(-20) = 2.06e-9, below half an ulp of 1 in float32
    (2^-24 = 5.96e-8) and far above it in float64 (2^-53 = 1.1e-16): in float32 the sum of the
    shifted exponentials is exactly 1, so the loss and the correct logit's gradient are exactly 0;
    in float64 the loss is log(1 + 2 exp(-20)) = 4.1223e-9 and that gradient -4.1223e-9."""
    tail = 2 * math.exp(-20)
    for dtype, collapsed in ((torch.float32, True), (torch.float64, False)):
        z = torch.tensor([[0.0, -20.0, -20.0]], dtype=dtype, requires_grad=True)
        assert absorbed(z, "softmax", dtype).item() is collapsed
        loss = cross_entropy(z, torch.tensor([0]), "softmax", dtype).sum()
        loss.backward()
        if collapsed:
            assert loss.item() == 0.0 and z.grad[0, 0].item() == 0.0
        else:
            assert loss.item() == pytest.approx(math.log1p(tail), rel=1e-9)
            assert z.grad[0, 0].item() == pytest.approx(-tail / (1 + tail), rel=1e-9)
    # the same float32 logits with the loss in float64 (the float64 arm): not collapsed
    assert not absorbed(torch.tensor([[0.0, -20.0, -20.0]]), "softmax", torch.float64).item()


def test_stablemax_keeps_the_other_classes_where_softmax_collapses():
    """At a margin of 20 StableMax's other terms are 1/21 each beside 21: nothing is absorbed."""
    z = torch.tensor([[20.0, 0.0, 0.0]])
    assert absorbed(z, "softmax", torch.float32).item()
    assert not absorbed(z, "stablemax", torch.float32).item()


def test_perpendicular_gradient_on_fixed_numbers():
    """w = (1, 2), g = (3, 1): w.g = 5, w.w = 5, so g - w = (2, -1), orthogonal to w; rescaled to
    |g| = sqrt(10) it is (2, -1) * sqrt(2)."""
    for rescale, want in ((False, [2.0, -1.0]), (True, [2 * math.sqrt(2), -math.sqrt(2)])):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
        w.grad = torch.tensor([3.0, 1.0], dtype=torch.float64)
        perpendicular_([w], rescale)
        assert w.grad.tolist() == pytest.approx(want, abs=1e-12)
        assert float(w.grad @ w.detach()) == pytest.approx(0.0, abs=1e-12)


def test_perpendicular_gradient_acts_per_tensor():
    """Two tensors are projected each on itself, not on their concatenation."""
    a = torch.nn.Parameter(torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor([0.0, 1.0], dtype=torch.float64))
    a.grad = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    b.grad = torch.tensor([1.0, 1.0], dtype=torch.float64)
    perpendicular_([a, b], rescale=False)
    assert a.grad.tolist() == [[0.0, 1.0]] and b.grad.tolist() == [1.0, 0.0]


def test_gradient_weight_cosine_is_one_for_a_gradient_against_the_weights():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    w.grad = torch.tensor([-6.0, -8.0])
    assert gradient_weight_cosine([w]) == pytest.approx(1.0)


def test_modular_pairs_are_every_pair_in_the_authors_order():
    x, y = modular_pairs(5, "add", "mlp")
    assert x.shape == (25, 10) and y.tolist()[:7] == [0, 1, 2, 3, 4, 1, 2]
    assert x[7].nonzero().flatten().tolist() == [1, 5 + 2]  # (a, b) = (1, 2), one-hot side by side
    _, prod = modular_pairs(5, "product", "mlp")
    assert prod[4 * 5 + 3].item() == (4 * 3) % 5
    tokens, labels = modular_pairs(5, "add", "transformer")  # residues 1..p-1 only
    assert tokens.shape == (16, 2) and tokens.min().item() == 1 and labels[-1].item() == (4 + 4) % 5


def test_the_split_is_the_first_randperm_under_the_seed():
    """The authors' random_split draws randperm(n) from the seeded generator before the weights."""
    task = make_task(smoke_spec("grokking", "perp_mlp", "adamw", seed=42))
    torch.manual_seed(42)
    order = torch.randperm(11 * 11)
    x, _ = modular_pairs(11, "add", "mlp")
    n_train = int(0.4 * 121)
    assert torch.equal(task.data["train"][0], x[order[:n_train]])
    assert torch.equal(task.data["test"][0], x[order[n_train:]])


@pytest.mark.parametrize(
    "experiment,arm",
    [("perp_mlp", "adamw"), ("perp_mlp", "perp_grad"), ("collapse", "stablemax"), ("perp_transformer", "weight_decay")],
)
def test_each_arm_trains_and_reports_its_metrics(experiment, arm):
    task = make_task(smoke_spec("grokking", experiment, arm))
    opt = task.optimizer()
    first, _ = task.train_step(task.batch(0), opt)
    for step in range(1, 8):
        loss, logs = task.train_step(task.batch(step), opt, detailed=True)
    assert loss.item() < first.item()
    assert {"train_acc", "sc_pct", "nlm_cos", "weight_norm"} <= set(logs)
    with torch.no_grad():
        out = task.evaluate("test")
    assert set(task.hp.produces()) >= set(out) >= {"train_acc", "test_acc", "sc_pct", "nlm_cos", "weight_norm"}


def test_perp_grad_steps_leave_the_weight_norm_nearly_unchanged():
    """⊥Grad's step is orthogonal to each tensor (to first order in the step): plain SGD on the
    projected gradient grows the norm only by the step's square."""
    spec = smoke_spec("grokking", "perp_mlp", "perp_grad", optimizer="sgd", lr=0.01)
    task = make_task(spec)
    opt = task.optimizer()
    before = task._weight_norm()
    task.train_step(task.batch(0), opt)
    plain = make_task(smoke_spec("grokking", "perp_mlp", "adamw", optimizer="sgd", lr=0.01))
    plain_opt = plain.optimizer()
    plain.train_step(plain.batch(0), plain_opt)
    assert abs(task._weight_norm() - before) < 0.01 * abs(plain._weight_norm() - before)
