"""The Fourier-head toy: the authors' data, the stacked members, their metrics."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.model_selection import train_test_split

from logitrepro.data import toy_densities as toy
from logitrepro.kernels import fourier_head_logpmf_ref
from logitrepro.metrics.density import entropy_per_row, kl_per_row, ripple_fit, smoothness
from logitrepro.models.toy_heads import Member, ToyEnsemble
from logitrepro.tasks import make_task
from tests.support import smoke_spec


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


def test_the_split_is_scikit_learns_train_test_split_with_seed_42():
    for n in (5000, 1000, 7):
        want_train, want_test = train_test_split(np.arange(n), test_size=0.2, random_state=42)
        train, test = toy.authors_split(n)
        assert np.array_equal(train, want_train) and np.array_equal(test, want_test)


# Values read from the authors' committed true pmfs of their test rows
# (toy-example-synthetic/eval/graphing/saved_pmfs/<dataset>/true_<seed>.npy): our generator draws the
# same numbers in the same order and splits them as they do, so its test rows are theirs.
AUTHORS_TRUE = [
    ("gaussian", 1, 0, 41, 0.1595679352213419),
    ("gmm2", 2, 5, 7, 0.07981114174051081),
    ("beta", 42, 0, 12, 0.18087950052231438),
]


@pytest.mark.parametrize("name, seed, row, argmax, peak", AUTHORS_TRUE)
def test_test_rows_are_the_authors(name, seed, row, argmax, peak):
    pmf = toy.generate(name, seed)["test"]["pmf"][row]
    assert int(pmf.argmax()) == argmax and float(pmf.max()) == pytest.approx(peak, rel=1e-6)


def test_gaussian_row_is_the_authors_off_its_peak_too():
    pmf = toy.generate("gaussian", 1)["test"]["pmf"][0]
    assert float(pmf[44]) == pytest.approx(0.08035334011576635, rel=1e-6)  # true_1.npy, row 0, bin 44


def _ensemble_and_input(members, seed=0):
    torch.manual_seed(seed)
    ens = ToyEnsemble(members, 50)
    with torch.no_grad():  # give the Fourier heads a density far from uniform, as after training
        if ens.n_linear < len(ens.members):
            ens.weight("fourier.weight").mul_(100)
            ens.weight("fourier.bias").mul_(100)
    return ens, torch.rand(5, 2) * 49


def _hidden(ens, e, x):
    h = torch.relu(x @ ens.weight("l1.weight")[e] + ens.weight("l1.bias")[e])
    return torch.relu(h @ ens.weight("l2.weight")[e] + ens.weight("l2.bias")[e])


def test_stacked_members_equal_separately_built_heads():
    ens, x = _ensemble_and_input([Member("fourier", 6, 1e-6), Member("linear"), Member("fourier", 3, 0.0)])
    assert [m.name for m in ens.members] == ["linear", "fourier_n3_g0", "fourier_n6_g1e-06"]  # grouped
    logits, coeffs = ens(x)  # (3, 5, 50)
    for e, n in ((1, 3), (2, 6)):
        a = _hidden(ens, e, x) @ ens.weight("fourier.weight")[e - 1] + ens.weight("fourier.bias")[e - 1]
        a_own = torch.cat([a[:, : n + 1], a[:, 7 : 7 + n + 1]], dim=1)  # the member's own N (padded to N_max = 6)
        ref, _ = fourier_head_logpmf_ref(a_own.double(), 50)
        torch.testing.assert_close(logits[e].double(), ref, atol=1e-4, rtol=1e-4)  # power form against the O(N^2) sum
    h = _hidden(ens, 0, x)
    torch.testing.assert_close(logits[0], h @ ens.weight("linear.weight")[0] + ens.weight("linear.bias")[0])
    assert coeffs.shape == (1, 5, 14)  # only the regularised member's c_k


def test_the_regulariser_is_the_authors_on_the_unnormalised_autocorrelation():
    ens, x = _ensemble_and_input([Member("fourier", 4, 0.5), Member("fourier", 2, 0.25), Member("fourier", 3, 0.0)])
    logits, coeffs = ens(x)
    want = 0.0
    for e, (n, gamma) in ((1, (4, 0.5)), (2, (2, 0.25))):  # members: n3 g0, n4 g0.5, n2 g0.25
        a = (
            (_hidden(ens, e, x) @ ens.weight("fourier.weight")[e] + ens.weight("fourier.bias")[e])
            .detach()
            .double()
            .numpy()
        )
        z = a[:, :5] + 1j * a[:, 5:]  # N_max = 4: 5 complex coefficients, zero beyond the member's N
        z[:, n + 1 :] = 0
        per_row = []
        for row in z:  # c_k = sum_j a_{j+k} conj(a_j), then sum_k 2 pi^2 k^2 |c_k|^2
            c = [np.sum(row[k:] * np.conj(row[: 5 - k])) for k in range(5)]
            per_row.append(sum(2 * math.pi**2 * k**2 * abs(c[k]) ** 2 for k in range(5)))
        want += gamma * 2 * np.mean(per_row)
    assert ens.regulariser(coeffs).item() == pytest.approx(want, rel=1e-4)
    assert ToyEnsemble([Member("linear"), Member("fourier", 3, 0.0)], 50).regulariser(None) == 0.0


def test_the_regularised_members_need_fewer_than_half_the_bins_as_frequencies():
    with pytest.raises(ValueError, match="N < m/2"):
        ToyEnsemble([Member("fourier", 25, 1e-6)], 50)
    ToyEnsemble([Member("fourier", 25, 0.0)], 50)  # without a regulariser no c_k is needed


def test_the_evaluated_pmf_is_the_softmax_of_the_logits_the_floored_density():
    ens, x = _ensemble_and_input([Member("fourier", 6, 0.0)])
    a = _hidden(ens, 0, x) @ ens.weight("fourier.weight")[0] + ens.weight("fourier.bias")[0]
    logits, _ = fourier_head_logpmf_ref(a.double(), 50)
    density = logits.exp() - 1e-5
    torch.testing.assert_close(ens.pmf(x)[0].double(), (density + 1e-5) / (1 + 50e-5), atol=1e-6, rtol=1e-5)


def test_masked_coefficients_get_no_gradient():
    ens = ToyEnsemble([Member("fourier", 2, 0.0), Member("fourier", 5, 1e-6)], 50)
    logits, coeffs = ens(torch.rand(4, 2) * 49)
    (logits.sum() + ens.regulariser(coeffs)).backward()
    g = ens.stacked["fourier_weight"].grad  # (2, 32, 12): member 0 keeps a_0..a_2 of a_0..a_5
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


def test_the_ripple_multiplies_the_density_by_a_cosine_at_the_bin_centres():
    # on a flat pmf the cosine sums to 0 over the 50 centres (whole periods), so the rippled pmf is
    # (1 + amp cos(pi f c)) / 50 exactly
    c = -0.98 + 0.04 * np.arange(50)
    got = toy.rippled(np.full((2, 50), 1 / 50), freq=20, amp=0.5)
    np.testing.assert_allclose(got, np.tile((1 + 0.5 * np.cos(20 * np.pi * c)) / 50, (2, 1)), rtol=1e-12)
    one_hot = np.zeros((1, 50))
    one_hot[0, 7] = 1.0
    np.testing.assert_allclose(toy.rippled(one_hot, 20, 0.5), one_hot)  # a point mass has nothing to ripple


def test_rippled_labels_follow_the_rippled_density_and_the_test_keeps_the_signal():
    clean, noisy = toy.generate("gaussian", seed=1), toy.generate("gaussian", seed=1, ripple=(20, 0.5))
    for k in ("inputs", "pmf"):  # the authors' draws and the signal a head should learn stay as they were
        assert np.array_equal(clean["test"][k], noisy["test"][k])
    assert np.array_equal(clean["train"]["inputs"], noisy["train"]["inputs"])
    for split, key in (("train", "pmf"), ("test", "noisy_pmf")):
        want = toy.rippled(clean[split]["pmf"].astype(float), 20, 0.5)
        np.testing.assert_allclose(noisy[split][key], want, atol=1e-6)
    # the drawn labels are likelier under the rippled density than under the clean one, by about the
    # KL between them (here ~0.1 nats a row); the clean labels are the other way round
    train = noisy["train"]
    rows = np.arange(len(train["target"]))
    gain = np.log(train["pmf"][rows, train["target"]]) - np.log(clean["train"]["pmf"][rows, train["target"]])
    kl = kl_per_row(train["pmf"].astype(float), clean["train"]["pmf"].astype(float)).mean()
    assert gain.mean() == pytest.approx(kl, abs=0.03) and kl > 0.05
    clean_labels = clean["train"]["target"]
    gain_clean = np.log(train["pmf"][rows, clean_labels]) - np.log(clean["train"]["pmf"][rows, clean_labels])
    assert gain_clean.mean() < 0


def test_ripple_fit_is_the_share_of_the_noise_a_model_reproduced():
    clean = toy.generate("gaussian", seed=2)["test"]["pmf"].astype(float)
    noisy = toy.rippled(clean, 20, 0.5)
    assert ripple_fit(clean, clean, noisy) == 0.0
    assert ripple_fit(noisy, clean, noisy) == pytest.approx(1.0)
    assert ripple_fit(clean + 0.3 * (noisy - clean), clean, noisy) == pytest.approx(0.3)


def test_toy_task_trains_every_member_and_reports_per_member_metrics():
    # the smoke config's gaussian run at a rate that moves every member within 60 steps
    task = make_task(smoke_spec("fourier_head", "gaussian", "headline", seed=3, lr=1e-2))
    before = task.evaluate("test")
    opt = task.optimizer()
    for step in range(60):
        loss, logs = task.loss(task.batch(step), detailed=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = task.evaluate("test")
    names = [m.name for m in task.members]
    assert {"linear", "fourier_n2_g0", "fourier_n20_g1e-06"} <= set(names)  # the config's grid, both gammas
    for name in names:
        assert after[f"test_kl_{name}"] < before[f"test_kl_{name}"], name
        assert f"smoothness_{name}" in after and f"train_ce_{name}" in logs
    assert -1 <= after["kl_vs_freqs_rho_g0"] <= 1 and "smoothness_vs_freqs_rho_g0" in after


def _tiny_task(lr, steps, **hp):
    """The smoke config's gaussian run on 100 samples (80 training rows) in batches of 40, so that
    an epoch is 2 steps."""
    return make_task(
        smoke_spec("fourier_head", "gaussian", "headline", seed=5, samples=100, batch_size=40, lr=lr, steps=steps, **hp)
    )


def test_the_last_epoch_training_ce_is_the_authors_logged_loss_and_its_gap_to_the_entropy():
    # 80 training rows, batches of 40: an epoch is 2 steps. With a vanishing learning rate the weights do not
    # move, so the last epoch's mean batch CE is the CE of the initial model over every training row once.
    task = _tiny_task(1e-12, 6, freqs=[3], gammas=[0.0])
    opt = task.optimizer()
    for step in range(6):
        task.train_step(task.batch(step), opt)
    out = task.evaluate("test")
    train = task.data["train"]
    with torch.no_grad():
        logits, _ = task.model(train["inputs"])
        want_ce = [F.cross_entropy(lg, train["target"]).item() for lg in logits]
    entropy = float(np.mean(stats.entropy(train["pmf"].numpy().astype(np.float64), axis=1)))
    for mem, ce in zip(task.members, want_ce):
        assert out[f"train_ce_last_epoch_{mem.name}"] == pytest.approx(ce, rel=1e-5)
        assert out[f"train_ce_gap_{mem.name}"] == pytest.approx(ce - entropy, rel=1e-4, abs=1e-5)
    assert "train_ce_gap_linear" not in task.evaluate("val")


def test_a_run_resumed_inside_its_last_epoch_reports_the_same_training_ce():
    whole = _tiny_task(1e-3, 4, freqs=[3], gammas=[0.0])
    opt = whole.optimizer()
    for step in range(4):
        whole.train_step(whole.batch(step), opt)
    first = _tiny_task(1e-3, 4, freqs=[3], gammas=[0.0])
    opt = first.optimizer()
    for step in range(3):  # stopped after the first batch of the last epoch
        first.train_step(first.batch(step), opt)
    resumed = _tiny_task(1e-3, 4, freqs=[3], gammas=[0.0])
    resumed.model.load_state_dict(first.model.state_dict())
    resumed.load_extra_state(first.extra_state())
    opt2 = resumed.optimizer()
    opt2.load_state_dict(opt.state_dict())
    resumed.train_step(resumed.batch(3), opt2)
    a, b = whole.evaluate("test"), resumed.evaluate("test")
    assert a["train_ce_last_epoch_linear"] == pytest.approx(b["train_ce_last_epoch_linear"], rel=1e-6)


def test_entropy_per_row_is_the_shannon_entropy():
    pmf = np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(entropy_per_row(pmf), [math.log(2), 1.5 * math.log(2)], rtol=1e-12)


def test_gamma_freqs_restricts_the_regulariser_to_the_named_n():
    task = _tiny_task(1e-3, 2, freqs=[2, 4, 6], gammas=[0.0, 1e-6], gamma_freqs=[4])
    names = [m.name for m in task.members]
    assert names == ["linear", "fourier_n2_g0", "fourier_n4_g0", "fourier_n6_g0", "fourier_n4_g1e-06"]
    assert "kl_vs_freqs_rho_g0" in task.hp.produces() and "kl_vs_freqs_rho_g1e-06" not in task.hp.produces()
    assert task.hp.check() == []
    with pytest.raises(ValueError, match="gamma_freqs"):
        _tiny_task(1e-3, 2, freqs=[2], gammas=[1e-6], gamma_freqs=[4])
