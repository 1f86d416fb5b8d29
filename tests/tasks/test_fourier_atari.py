"""Fourier head fh.atari: Seaquest trajectories (recorder, DQN-Replay files), the Decision
Transformer and its task."""

import contextlib
import functools
import gzip
import http.server
import importlib.util
import io
import json
import math
import threading

import numpy as np
import pytest
import torch

from logitrepro import train as T
from logitrepro.data import atari as A
from logitrepro.data.prepare import prepare
from logitrepro.data.sources import SourceUnavailable
from logitrepro.data.store import read_manifest
from logitrepro.kernels.fourier_head import EPS, fourier_head_logpmf
from logitrepro.models.decision_transformer import BIN_OF_ACTION, BIN_ORDER, DecisionTransformer, DTConfig
from logitrepro.runs import RunDir
from logitrepro.tasks import fourier_atari as fh_atari
from logitrepro.tasks import make_task
from tests.support import smoke_spec

needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The seaquest_recorded dataset as prepare() writes it (3 episodes of <= 300 steps)."""
    out = tmp_path_factory.mktemp("data") / "seaquest_recorded"
    prepare("seaquest_recorded", out, log=lambda *a: None)
    return out


# ----------------------------------------------------------------------------- recorder


@needs_ale
def test_recorder_gives_dqn_replay_arrays_with_episode_ends():
    a = A.SeaquestRecorder(episodes=3, max_steps=40, seed=0).load(timeout_s=5)
    n = len(a["action"])
    assert a["obs"].shape == (n, 84, 84) and a["obs"].dtype == np.uint8
    assert a["action"].dtype == np.int64 and a["reward"].dtype == np.float32 and a["terminal"].dtype == np.uint8
    assert a["reward"].shape == a["terminal"].shape == (n,)
    ends = np.flatnonzero(a["terminal"])
    assert len(ends) == 3 and ends[-1] == n - 1  # three episodes, the data ends with one
    assert np.diff(np.concatenate([[-1], ends])).max() <= 40  # none longer than the cap
    assert a["action"].min() >= 0 and a["action"].max() < 18 and np.abs(a["reward"]).max() <= 1
    assert a["obs"].std() > 10 and not np.array_equal(a["obs"][0], a["obs"][20])  # real, moving frames
    b = A.SeaquestRecorder(episodes=3, max_steps=40, seed=0).load(timeout_s=5)
    c = A.SeaquestRecorder(episodes=3, max_steps=40, seed=1).load(timeout_s=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # a seed fixes the recording
    assert not np.array_equal(a["action"], c["action"][: len(a["action"])])


@needs_ale
def test_prepared_recording_holds_out_the_last_episode(recorded):
    m = read_manifest(recorded)
    assert m["episodes"] == 3 and m["episodes_per_split"] == {"train": 2, "test": 1}
    for split in ("train", "test"):
        d = A.load_trajectories(recorded, split)
        assert len(d["obs"]) == len(d["action"]) == m["splits"][split] and d["terminal"][-1] == 1


def test_resize_weights_average_and_match_a_plain_area_resize():
    for mode in ("area", "linear"):
        w = A.resize_weights(210, 84, mode)
        assert np.allclose(w.sum(1), 1.0) and (w >= 0).all()
    w = A.resize_weights(8, 4, "area")  # an integer factor: area is a block mean
    x = np.arange(8.0)
    assert np.allclose(w @ x, x.reshape(4, 2).mean(1))


# ----------------------------------------------------------------------------- DQN-Replay files


def _write_gz_npy(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def write_replay_checkpoint(root, run, k, terminal, add_count=None, seed=0):
    """One dopamine checkpoint in DQN-Replay's layout; returns its arrays."""
    rng = np.random.default_rng([run, k, seed])
    n = len(terminal)
    arrays = {
        "observation": rng.integers(0, 256, (n, 84, 84), dtype=np.uint8),
        "action": rng.integers(0, 18, n).astype(np.int32),
        "reward": rng.choice([-1.0, 0.0, 1.0], n).astype(np.float32),
        "terminal": np.asarray(terminal, dtype=np.uint8),
    }
    logs = root / str(run) / "replay_logs"
    for name, array in arrays.items():
        _write_gz_npy(logs / f"$store$_{name}_ckpt.{k}.gz", array)
    if add_count is not None:
        _write_gz_npy(logs / f"add_count_ckpt.{k}.gz", np.array(add_count))
    return arrays


@pytest.fixture
def replay_folder(tmp_path):
    """Runs 1 and 2, checkpoints 0 and 1 of 30 transitions. Whole episodes lie between terminals:
    ckpt 0: [5..9], [10..19] (0..4 began before the buffer; 20..29 never ends)
    ckpt 1: [3..7], [8..15], [16..27]; wrapped (add_count 42 -> cursor 12), so [8..15] is dropped."""
    t0, t1 = np.zeros(30), np.zeros(30)
    t0[[4, 9, 19]] = 1
    t1[[2, 7, 15, 27]] = 1
    data = {}
    for run in (1, 2):
        data[run, 0] = write_replay_checkpoint(tmp_path, run, 0, t0)
        data[run, 1] = write_replay_checkpoint(tmp_path, run, 1, t1, add_count=42)
    return tmp_path, data


def expected_episodes(data, run, plan):
    """Concatenated arrays of the (checkpoint, first, last) episodes in `plan`."""
    parts = [{k: v[s : e + 1] for k, v in data[run, ck].items()} for ck, s, e in plan]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def test_complete_episodes_skip_the_partial_start_and_the_wrap():
    terminal = np.zeros(30)
    terminal[[2, 7, 15, 27]] = 1
    assert A.complete_episodes(terminal) == [(3, 7), (8, 15), (16, 27)]
    assert A.complete_episodes(terminal, add_count=42) == [(3, 7), (16, 27)]  # cursor 12 inside [8, 15]
    assert A.complete_episodes(terminal, add_count=16) == [(3, 7), (8, 15)]  # written only up to 15


def test_folder_source_reads_dqn_replay_buffers(replay_folder):
    root, data = replay_folder
    # one episode per visit: order of the checkpoints is a fixed shuffle; collect until 12 train / 5 test
    source = A.DQNReplayFolder(
        str(root), checkpoints=(0, 1), episodes_per_visit=1, train_transitions=12, test_transitions=5
    )
    got = source.load(timeout_s=5)
    order = [int(k) for k in np.random.default_rng(0).permutation([0, 1])]
    first = {0: (5, 9), 1: (3, 7)}
    second = {0: (10, 19), 1: (16, 27)}
    train_plan = [(order[0], *first[order[0]]), (order[1], *first[order[1]])]
    if sum(e - s + 1 for _, s, e in train_plan) < 12:
        train_plan.append((order[0], *second[order[0]]))
    train = expected_episodes(data, 1, train_plan)
    test = expected_episodes(data, 2, [(order[0], *first[order[0]])])
    n_train = len(train["action"])
    assert np.array_equal(got["split"], np.r_[np.zeros(n_train), np.ones(len(test["action"]))])
    assert np.array_equal(got["obs"][:n_train], train["observation"]) and np.array_equal(
        got["obs"][n_train:], test["observation"]
    )
    assert np.array_equal(got["action"][:n_train], train["action"]) and got["action"].dtype == np.int64
    assert np.array_equal(got["reward"][n_train:], test["reward"])
    assert got["terminal"].sum() == len(train_plan) + 1 and got["terminal"][n_train - 1] == 1


def test_prepare_with_a_configured_replay_folder(replay_folder, tmp_path_factory):
    root, _ = replay_folder
    out = tmp_path_factory.mktemp("prep") / "dqn_replay_seaquest"
    manifest = prepare("dqn_replay_seaquest", out, override={"dir": str(root)}, log=lambda *a: None)
    # checkpoints 2..49 are absent and skipped; every whole episode of 0 and 1 is taken (budget not reached)
    assert manifest["episodes_per_split"] == {"train": 4, "test": 4}
    assert manifest["splits"] == {"train": 5 + 10 + 5 + 12, "test": 32}
    assert "configured folder" in manifest["source"]
    with pytest.raises(Exception, match="no whole episode"):
        prepare(
            "dqn_replay_seaquest",
            tmp_path_factory.mktemp("x") / "d",
            override={"dir": str(root / "nowhere")},
            log=lambda *a: None,
        )


@contextlib.contextmanager
def serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_source_streams_the_same_arrays_and_fails_cleanly(replay_folder):
    root, _ = replay_folder
    kw = {"checkpoints": (0, 1, 2), "episodes_per_visit": 2, "train_transitions": 100, "test_transitions": 100}
    with serve(root) as url:
        got = A.DQNReplayURL(base_url=url, **kw).load(timeout_s=5)  # checkpoint 2 answers 404: skipped
    ref = A.DQNReplayFolder(str(root), **kw).load(timeout_s=5)
    assert all(np.array_equal(got[k], ref[k]) for k in ref)
    with serve(root) as url:
        dead = url  # the port is closed once the server stops
    with pytest.raises(SourceUnavailable):
        A.DQNReplayURL(base_url=dead, **kw).load(timeout_s=2)


def test_observations_are_read_only_up_to_the_last_row_kept():
    obs = np.arange(50 * 84 * 84, dtype=np.int64).astype(np.uint8).reshape(50, 84, 84)
    buf = io.BytesIO()
    np.save(buf, obs)

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            data = super().read(n)
            Counting.read_bytes += len(data)
            return data

    out = np.zeros((4, 84, 84), np.uint8)
    A.copy_npy_rows(Counting(buf.getvalue()), [(10, 11, 2), (3, 4, 0)], out, chunk_rows=4)
    assert np.array_equal(out, obs[[3, 4, 10, 11]])
    assert Counting.read_bytes < 13 * 84 * 84 + 200  # 12 rows (3 chunks) and the header, not 50 rows


# ----------------------------------------------------------------------------- the model


def tiny_config(head, **kw):
    return DTConfig(context=6, max_timestep=50, n_layer=2, n_head=2, n_embd=16, head=head, n_freqs=4, **kw)


def random_window(b=2, t=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, 256, (b, t, 4, 84, 84), generator=g, dtype=torch.uint8),
        torch.randint(0, 18, (b, t), generator=g),
        torch.rand(b, t, generator=g) * 20,
        torch.tensor([0, 7]),
    )


@pytest.mark.parametrize("head", ["linear", "fourier"])
def test_decision_transformer_is_causal(head):
    torch.manual_seed(0)
    model = DecisionTransformer(tiny_config(head)).eval()
    states, actions, rtgs, ts = random_window()
    logits, _ = model(states, actions, rtgs, ts)  # (2, 6, 18)
    s2, a2, r2 = states.clone(), actions.clone(), rtgs.clone()
    s2[:, 3:] = 255 - s2[:, 3:]
    r2[:, 3:] += 100.0
    a2[:, 2:] = (a2[:, 2:] + 5) % 18  # a_2 comes after s_2: it must not change the prediction at step 2
    changed, _ = model(s2, a2, r2, ts)
    assert torch.allclose(changed[:, :3], logits[:, :3], atol=1e-6)
    assert not torch.allclose(changed[:, 3], logits[:, 3], atol=1e-4)
    # evaluation windows leave out the action still to be chosen: same predictions
    without_last, _ = model(states, actions[:, :-1], rtgs, ts)
    assert torch.allclose(without_last, logits, atol=1e-6)


def test_fourier_action_head_gives_a_distribution_in_action_order():
    torch.manual_seed(0)
    model = DecisionTransformer(tiny_config("fourier")).eval()
    states, actions, rtgs, ts = random_window()
    logits, coeffs = model(states, actions, rtgs, ts)  # (2, 6, 18)
    pmf = logits.exp() - EPS  # the head's logits are log(pmf + 1e-5)
    assert (pmf > -1e-6).all() and torch.allclose(pmf.sum(-1), torch.ones(2, 6), atol=1e-5)
    assert torch.allclose(torch.softmax(logits, -1).sum(-1), torch.ones(2, 6), atol=1e-6)
    # the same numbers as the Fourier head over bins, each action read at its bin
    assert sorted(BIN_ORDER) == list(range(18)) and BIN_ORDER[BIN_OF_ACTION[1]] == 1 and BIN_OF_ACTION[1] == 17
    x = torch.randn(5, 16)
    by_action, _ = model.head(x)
    by_bin, _ = fourier_head_logpmf(model.head.fourier.proj(x), 18)
    assert torch.allclose(by_action[:, list(BIN_ORDER)], by_bin)
    reg = model.head.regulariser(coeffs)
    assert torch.isfinite(reg) and reg > 0


def test_fourier_init_scale_shrinks_the_head_and_dt_init_is_the_default():
    torch.manual_seed(0)
    dt = DecisionTransformer(tiny_config("fourier")).head.fourier.proj
    scaled = DecisionTransformer(tiny_config("fourier", fourier_init_scale=0.01)).head.fourier.proj
    assert torch.count_nonzero(dt.bias) == 0 and 0.01 < dt.weight.std() < 0.03  # N(0, 0.02), zero bias
    assert scaled.weight.abs().max() <= 0.01 / math.sqrt(16) + 1e-9 and torch.count_nonzero(scaled.bias) > 0


# ----------------------------------------------------------------------------- the task


def spec_for(data_dir, head="linear", seed=0, **hp):
    """fh.atari's run as the smoke config makes it, on the recorded Seaquest trajectories."""
    return smoke_spec("fourier_head", "atari", head, seed, data_dir=data_dir, **hp)


@needs_ale
def test_batch_is_a_function_of_seed_and_step(recorded):
    a = make_task(spec_for(recorded))
    b = make_task(spec_for(recorded))
    other = make_task(spec_for(recorded, seed=1))
    for step in (0, 7, 300):  # 300: several epochs later
        x, y = a.batch(step), b.batch(step)
        assert all(torch.equal(x[k], y[k]) for k in ("states", "actions", "rtgs", "timesteps"))
    assert not torch.equal(a.batch(7)["actions"], a.batch(8)["actions"])
    assert not torch.equal(a.batch(7)["states"], other.batch(7)["states"])
    w, window = a.batch(0), (a.hp.batch_size, a.hp.context)
    assert w["states"].shape == (*window, 4, 84, 84) and w["states"].dtype == torch.uint8 and w["rtgs"].shape == window


@needs_ale
def test_windows_stay_in_their_episode_and_know_its_returns(recorded):
    tr = fh_atari.Trajectories(A.load_trajectories(recorded, "train"))
    k = 4
    starts = tr.window_starts(np.arange(tr.n_windows(k)), k)
    assert (tr.episode_end[starts] == tr.episode_end[starts + k - 1]).all()  # no window runs past an episode end
    first = np.flatnonzero(tr.timestep == 0)
    w = tr.windows(first, k)
    assert (w["states"][:, 0, :3] == 0).all() and (
        w["states"][:, 0, 3] == tr.obs[first]
    ).all()  # nothing before the start
    assert (w["timesteps"] == 0).all()
    returns = [tr.rtg[s] for s in first]
    assert np.allclose(returns, np.add.reduceat(np.asarray(A.load_trajectories(recorded, "train")["reward"]), first))


@needs_ale
def test_learning_rate_follows_the_dt_schedule(recorded):
    hp = spec_for(recorded)["hparams"]
    per_step = hp["batch_size"] * hp["context"]  # target tokens a step
    task = make_task(spec_for(recorded, warmup_tokens=4 * per_step, final_tokens=14 * per_step))
    # warm-up over 4 steps, then a cosine to 10% over 10 more
    lr = hp["lr"]
    assert task.lr_at(0) == lr and math.isclose(task.lr_at(2), lr / 2)
    assert math.isclose(task.lr_at(9), lr * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert math.isclose(task.lr_at(100), lr / 10)


@needs_ale
@pytest.mark.parametrize("head", ["linear", "fourier"])
def test_tiny_training_run_gives_finite_metrics(recorded, tmp_path, head):
    spec = spec_for(recorded, head=head)
    steps, every = spec["hparams"]["steps"], spec["hparams"]["eval_every"]
    summary = T.train(spec, tmp_path / head)
    assert summary["status"] == "completed" and summary["steps"] == steps
    rows = [json.loads(line) for line in RunDir(tmp_path / head).history.read_text().splitlines()]
    assert [r["step"] for r in rows if "val_return_raw" in r] == list(range(every, steps + 1, every))
    assert len(range(every, steps + 1, every)) >= 2  # best_return_normalised below picks among several
    result = T.evaluate(tmp_path / head)["metrics"]
    for key in (
        "val_return_raw",
        "val_return_normalised",
        "test_return_normalised",
        "test_action_ce",
        "test_action_acc",
        "test_smoothness",
        "best_return_normalised",
    ):
        assert math.isfinite(result[key]), key
    assert 0 < result["test_action_ce"] < 10 and result["test_episode_steps"] <= spec["hparams"]["max_eval_steps"]
    assert result["best_return_normalised"] == max(r["val_return_normalised"] for r in rows if "val_return_raw" in r)
    assert math.isclose(result["test_return_normalised"], fh_atari.normalised_return(result["test_return_raw"]))
