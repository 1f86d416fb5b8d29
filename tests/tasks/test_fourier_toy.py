"""The Fourier-head toy: the authors' data, the stacked members, their metrics."""

import math

import numpy as np
import pytest
import torch

from logitrepro.data import toy_densities as toy
from logitrepro.kernels import fourier_head_logpmf_ref
from logitrepro.metrics.density import kl_per_row, smoothness
from logitrepro.models.toy_heads import Member, ToyEnsemble
from logitrepro.tasks import make_task
from tests.support import task_spec


@pytest.mark.parametrize("name", toy.DATASETS)
def test_toy_data_is_seeded_split_with_seed_42_and_pmfs_are_distributions(name):
    a, b, c = toy.generate(name, seed=1), toy.generate(name, seed=1), toy.generate(name, seed=2)
    assert len(a["train"]["target"]) == 4000 and len(a["test"]["target"]) == 1000
    assert all(np.array_equal(a[s][k], b[s][k]) for s in a for k in a[s])
    assert not np.array_equal(a["train"]["inputs"], c["train"]["inputs"])
    inputs = a["train"]["inputs"]
    assert inputs.min() >= 0 and inputs.max() <= 49 and np.array_equal(inputs, inputs.round())  # bin indices
    np.testing.assert_allclose(a["test"]["pmf"].sum(1), 1.0, rtol=1e-5)
    # the target bins follow the true pmf: their mean log-likelihood beats a uniform guess by far
    loglik = np.log(a["test"]["pmf"][np.arange(1000), a["test"]["target"]] + 1e-12).mean()
    assert loglik > math.log(1 / 50) + 1.0


def test_binning_matches_equal_bins_with_clipping():
    assert list(toy.to_bins(np.array([-5.0, -1.0, -0.96, 0.0, 0.999, 3.0]))) == [0, 0, 1, 25, 49, 49]


def test_stacked_members_equal_separately_built_heads():
    torch.manual_seed(0)
    ens = ToyEnsemble([Member("linear"), Member("fourier", 3, 0.0), Member("fourier", 6, 1e-6)], 50)
    x = torch.rand(5, 2) * 49
    logits, coeffs = ens(x)  # (3, 5, 50)
    for e, member_row in ((1, 0), (2, 1)):
        h = torch.relu(x @ ens.l1.weight[e] + ens.l1.bias[e])
        h = torch.relu(h @ ens.l2.weight[e] + ens.l2.bias[e])
        a = h @ ens.fourier_head.weight[member_row] + ens.fourier_head.bias[member_row]  # padded to N_max = 6
        n = [3, 6][member_row]
        a_own = torch.cat([a[:, : n + 1], a[:, 7 : 7 + n + 1]], dim=1)  # the member's own N
        ref, _ = fourier_head_logpmf_ref(a_own, 50)
        torch.testing.assert_close(logits[e], ref, atol=1e-4, rtol=1e-4)  # FFT path against the O(N^2) sum
    h = torch.relu(torch.relu(x @ ens.l1.weight[0] + ens.l1.bias[0]) @ ens.l2.weight[0] + ens.l2.bias[0])
    torch.testing.assert_close(logits[0], h @ ens.linear_head.weight[0] + ens.linear_head.bias[0])
    assert coeffs.shape == (2, 5, 14)


def test_masked_coefficients_get_no_gradient():
    ens = ToyEnsemble([Member("fourier", 2, 0.0), Member("fourier", 5, 1e-6)], 50)
    logits, coeffs = ens(torch.rand(4, 2) * 49)
    (logits.sum() + ens.regulariser(coeffs)).backward()
    g = ens.fourier_head.weight.grad  # (2, 32, 12): member 0 keeps a_0..a_2 of a_0..a_5
    keep = torch.tensor([j <= 2 for j in range(6)] * 2)
    assert g[0][:, ~keep].abs().max() == 0 and g[0][:, keep].abs().max() > 0


def test_kl_and_smoothness_follow_their_definitions():
    true = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert kl_per_row(true, true).max() < 1e-8
    pred = np.array([[0.25, 0.75, 0.0], [0.2, 0.3, 0.5]])
    assert kl_per_row(true, pred)[0] == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75), rel=1e-6)
    flat = np.full((1, 50), 1 / 50)
    spiky = np.zeros((1, 50))
    spiky[0, ::2] = 1 / 25
    assert smoothness(flat) < 1e-12 < smoothness(spiky)


def test_toy_task_trains_every_member_and_reports_per_member_metrics():
    task = make_task(
        task_spec(
            "fourier_toy",
            {
                "toy": "gaussian",
                "lr": 1e-2,
                "batch_size": 32,
                "samples": 1000,
                "linear": True,
                "freqs": [2, 4, 8],
                "gammas": [0.0],
            },
            seed=3,
        )
    )
    before = task.evaluate("test")
    opt = task.optimizer()
    for step in range(60):
        loss, logs = task.loss(task.batch(step), detailed=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = task.evaluate("test")
    for name in ("linear", "fourier_n2_g0", "fourier_n4_g0", "fourier_n8_g0"):
        assert after[f"test_kl_{name}"] < before[f"test_kl_{name}"], name
        assert f"smoothness_{name}" in after and f"train_ce_{name}" in logs
    assert -1 <= after["kl_vs_freqs_rho_g0"] <= 1 and "smoothness_vs_freqs_rho_g0" in after
