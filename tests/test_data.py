"""Expert datasets: generate -> save -> load round trip, replayed in the single env; batches, splits, errors."""

import json
import os

import numpy as np
import pytest
import torch

from minirl.data import Trajectories, generate_gridworld, load_dataset, save_dataset
from minirl.envs.gridworld import GridPinpadEnv
from minirl.tasks import GRID_POSTTRAIN_TASK, GRID_PRETRAIN_TASKS

N = 120


@pytest.fixture(scope="module")
def pretrain_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "pretrain.npz"
    save_dataset(path, generate_gridworld("pretrain", episodes=N, seed=1, batch_size=50, progress=False))
    return path


@pytest.fixture(scope="module")
def pretrain(pretrain_file):
    return load_dataset(pretrain_file)


def replay(data: Trajectories, i: int, task_spec: str, expect_optimal: bool) -> None:
    """Replay episode i in a fresh single env and check every stored array against it."""
    a = data.arrays
    L = int(a["lengths"][i])
    env = GridPinpadEnv(task=task_spec)
    _, info = env.reset(seed=int(a["seeds"][i]))
    assert np.array_equal(a["layouts"][i], env.layout)
    task = a["tasks"][i]
    assert tuple(int(c) for c in task[task >= 0]) == env.task
    assert (task[len(env.task) :] == -1).all()
    assert 1 <= L <= 100
    for t in range(L):
        assert a["agent"][i, t] == env.agent, (i, t)
        assert a["subgoals"][i, t] == info["subgoal"], (i, t)
        action = int(a["actions"][i, t])
        if expect_optimal:
            assert a["optimal"][i, t] >> action & 1, (i, t)
        assert a["optimal"][i, t] != 0
        _, reward, terminated, truncated, info = env.step(action)
        if t < L - 1:
            assert not (terminated or truncated), f"episode {i} ended at step {t + 1}, stored length {L}"
    assert terminated or truncated, f"episode {i} did not end after its {L} stored actions"
    assert a["agent"][i, L] == env.agent
    assert bool(a["success"][i]) == (reward == 1.0)
    assert (a["actions"][i, L:] == -1).all() and (a["subgoals"][i, L:] == -1).all()
    assert (a["agent"][i, L + 1 :] == -1).all() and (a["optimal"][i, L:] == 0).all()


def test_round_trip_replays_in_the_single_env(pretrain):
    assert len(pretrain) == N
    for i in range(N):
        replay(pretrain, i, "pretrain", expect_optimal=True)
    assert pretrain.arrays["success"].all()
    assert set(map(tuple, pretrain.arrays["tasks"].tolist())) <= set(GRID_PRETRAIN_TASKS)
    assert len(set(map(tuple, pretrain.arrays["tasks"].tolist()))) > 10


def test_noisy_posttrain_round_trip(tmp_path):
    data = generate_gridworld("posttrain", episodes=40, epsilon=0.3, seed=2, progress=False)
    loaded = load_dataset(save_dataset(tmp_path / "post.npz", data))
    for i in range(40):
        replay(loaded, i, "posttrain", expect_optimal=False)
    assert (loaded.arrays["tasks"] == np.array(GRID_POSTTRAIN_TASK)).all()
    optimal_taken = [loaded.arrays["optimal"][i, t] >> loaded.arrays["actions"][i, t] & 1
                     for i in range(40) for t in range(loaded.arrays["lengths"][i])]  # fmt: skip
    assert 0.5 < np.mean(optimal_taken) < 0.95  # the noise is there, and not everywhere


def test_saved_arrays_dtypes_shapes_and_meta(pretrain):
    a = pretrain.arrays
    T = int(a["lengths"].max())
    expected = {
        "layouts": ((N, 12), np.int8), "agent": ((N, T + 1), np.int8), "actions": ((N, T), np.int8),
        "optimal": ((N, T), np.uint8), "subgoals": ((N, T), np.int8), "lengths": ((N,), np.int16),
        "success": ((N,), np.bool_), "seeds": ((N,), np.int64), "tasks": ((N, 6), np.int8),
    }  # fmt: skip
    for key, (shape, dtype) in expected.items():
        assert a[key].shape == shape and a[key].dtype == dtype, key
    assert pretrain.meta["task"] == "pretrain" and pretrain.meta["seed"] == 1 and pretrain.meta["epsilon"] == 0.0
    assert json.loads(str(a["meta"]))["env"] == "gridworld"


def test_generation_is_deterministic_and_batch_size_independent():
    a = generate_gridworld("0-1-4-5", episodes=30, seed=5, batch_size=30, progress=False)
    b = generate_gridworld("0-1-4-5", episodes=30, seed=5, batch_size=30, progress=False)
    c = generate_gridworld("0-1-4-5", episodes=30, seed=5, batch_size=7, progress=False)
    d = generate_gridworld("0-1-4-5", episodes=30, seed=6, batch_size=30, progress=False)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    for key in ("layouts", "seeds", "tasks", "lengths"):  # same episodes; tie-breaking may differ by batch
        assert np.array_equal(a[key], c[key]), key
    assert not np.array_equal(a["layouts"], d["layouts"])


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="episodes"):
        generate_gridworld(episodes=0, progress=False)
    with pytest.raises(ValueError, match="0-x"):
        generate_gridworld("0-x", episodes=2, progress=False)


# ------------------------------------------------------------------------------------------ batches
def test_batch_shapes_and_masks(pretrain):
    a = pretrain.arrays
    idx = np.array([3, 0, 7, 11])
    lengths = a["lengths"][idx].astype(int)
    T = lengths.max()
    batch = pretrain.batch(idx)
    shapes = {"obs": (4, T, 13), "next_obs": (4, T, 13), "actions": (4, T), "subgoals": (4, T), "optimal": (4, T, 4),
              "mask": (4, T)}  # fmt: skip
    for key, shape in shapes.items():
        assert tuple(batch[key].shape) == shape, key
    assert batch["obs"].dtype == batch["actions"].dtype == batch["subgoals"].dtype == torch.long
    assert batch["mask"].dtype == batch["optimal"].dtype == torch.bool
    assert batch["mask"].sum(1).tolist() == lengths.tolist()
    for j, i in enumerate(idx):
        L = lengths[j]
        assert batch["mask"][j, :L].all() and not batch["mask"][j, L:].any()
        assert (batch["obs"][j, :, :12] == torch.as_tensor(a["layouts"][i]).long()).all()
        assert batch["obs"][j, :L, 12].tolist() == a["agent"][i, :L].tolist()
        assert batch["next_obs"][j, :L, 12].tolist() == a["agent"][i, 1 : L + 1].tolist()
        assert torch.equal(batch["next_obs"][j, : L - 1], batch["obs"][j, 1:L])
        assert batch["actions"][j, :L].tolist() == a["actions"][i, :L].tolist()
        assert (batch["actions"][j, L:] == 0).all() and (batch["subgoals"][j, L:] == -1).all()
        assert batch["subgoals"][j, :L].tolist() == a["subgoals"][i, :L].tolist()
        for t in range(L):
            bits = [bool(a["optimal"][i, t] >> k & 1) for k in range(4)]
            assert batch["optimal"][j, t].tolist() == bits
        assert (batch["obs"][j, :, 12] >= 0).all() and (batch["obs"][j, :, 12] < 49).all()


def _keys(batch) -> list[tuple]:
    """One key per episode of a batch: its layout and length (layouts are distinct in the test data)."""
    layouts = batch["obs"][:, 0, :12].tolist()
    return [(*layout, int(n)) for layout, n in zip(layouts, batch["mask"].sum(1))]


@pytest.mark.parametrize("bucket", [True, False])
def test_batches_cover_each_episode_once_per_epoch(pretrain, bucket):
    a = pretrain.arrays
    everything = sorted((*map(int, a["layouts"][i]), int(a["lengths"][i])) for i in range(N))
    assert len(set(everything)) == N
    rng = np.random.default_rng(0)
    epochs = []
    for _ in range(2):
        batches = list(pretrain.batches(32, rng, bucket=bucket))
        assert sorted(len(b["mask"]) for b in batches) == [24, 32, 32, 32]
        keys = [k for b in batches for k in _keys(b)]
        assert sorted(keys) == everything
        epochs.append(keys)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    if bucket:  # each batch holds a contiguous range of lengths
        ranges = sorted((int(b["mask"].sum(1).min()), int(b["mask"].sum(1).max())) for b in batches)
        assert all(hi <= lo for (_, hi), (lo, _) in zip(ranges, ranges[1:]))


def test_bucketing_reduces_padding(pretrain):
    def padding(bucket):
        batches = pretrain.batches(16, np.random.default_rng(1), bucket=bucket)
        return sum(b["mask"].numel() - int(b["mask"].sum()) for b in batches)

    assert padding(True) < padding(False)


def test_split(pretrain):
    train, held = pretrain.split(20)
    assert (len(train), len(held)) == (N - 20, 20)
    assert np.array_equal(train.arrays["seeds"], pretrain.arrays["seeds"][: N - 20])
    assert np.array_equal(held.arrays["layouts"], pretrain.arrays["layouts"][N - 20 :])
    assert held.meta == pretrain.meta
    for bad in (0, N, -1, N + 5):
        with pytest.raises(ValueError, match="holdout"):
            pretrain.split(bad)


# ------------------------------------------------------------------------------------------ files
def test_load_missing_file_raises(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(path)


def test_load_non_dataset_npz_raises(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a minirl gridworld dataset"):
        load_dataset(path)


def test_load_other_files_raises_clearly(tmp_path, pretrain_file):
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(pretrain_file.read_bytes()[:200])
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    for path in (npy, text, truncated, empty):
        with pytest.raises(ValueError, match="not a minirl gridworld dataset") as err:
            load_dataset(path)
        assert path.name in str(err.value)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, pretrain):
    path = save_dataset(tmp_path / "d.npz", pretrain.arrays)
    assert path == tmp_path / "d.npz"
    assert os.listdir(tmp_path) == ["d.npz"]
    assert len(load_dataset(path)) == N

    class Broken:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_dataset(tmp_path / "d.npz", {**pretrain.arrays, "broken": Broken()})
    assert os.listdir(tmp_path) == ["d.npz"]  # the old file survives, no temporary file is left
    assert len(load_dataset(path)) == N
    with pytest.raises(RuntimeError):
        save_dataset(tmp_path / "new" / "e.npz", {"broken": Broken()})
    assert os.listdir(tmp_path / "new") == []
