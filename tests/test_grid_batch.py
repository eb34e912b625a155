"""GridPinpadBatch against B single GridPinpadEnv reset with the same seeds and stepped with the same actions."""

import numpy as np
import pytest

from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import MAX_STEPS, one_hot
from minirl.envs.gridworld import GridPinpadEnv
from minirl.experts.grid_expert import GridExpert
from minirl.tasks import GRID_PRETRAIN_TASKS

B = 48


class Mixer:
    """Actions for B episodes that give every outcome: per episode (b % 3) uniform random actions (mostly wrong-colour
    failures), a near-optimal expert (mostly successes) or a safe random walk (often truncated at 100 steps).

    The experts read `guide`, a single-task batch env with the same seeds that is stepped alongside (it may be
    the env under test itself when that is in single-task mode).
    """

    def __init__(self, guide: GridPinpadBatch, seed: int = 0):
        self.guide, self.rng = guide, np.random.default_rng(seed)
        self.good, self.wander = GridExpert(0.05, seed=seed), GridExpert(1.0, seed=seed + 1)
        self.good.reset(guide)
        self.wander.reset(guide)
        self.kind = np.arange(guide.num_envs) % 3

    def __call__(self) -> np.ndarray:
        random = self.rng.integers(4, size=self.guide.num_envs)
        good, wander = self.good.act(self.guide)[0], self.wander.act(self.guide)[0]
        return np.choose(self.kind, [random, good, wander])


def consistent_tasks(batch: GridPinpadBatch, b: int) -> tuple:
    return tuple(batch.tasks[k] for k in np.flatnonzero(batch.consistent[b]))


def side_by_side(seeds, mode: dict, guide_mode: dict | None = None, action_seed: int = 0) -> dict:
    """Step a batch env and single envs with the same actions until all end, asserting equality at every step."""
    seeds = np.asarray(seeds)
    batch = GridPinpadBatch(len(seeds), **mode)
    singles = [GridPinpadEnv(**mode) for _ in seeds]
    obs, info = batch.reset(seeds)
    assert obs.shape == (len(seeds), 13) and np.array_equal(batch.seeds, seeds)
    guide = batch
    if guide_mode is not None:
        guide = GridPinpadBatch(len(seeds), **guide_mode)
        guide.reset(seeds)
        assert np.array_equal(guide.layout, batch.layout)
    mixer = Mixer(guide, action_seed)
    single_out = [env.reset(seed=int(s)) for env, s in zip(singles, seeds)]
    ended = np.zeros(len(seeds), bool)
    counts = {"success": 0, "failure": 0, "truncated": 0}

    def compare(obs, info):
        for b, (s_obs, s_info) in enumerate(single_out):
            assert np.array_equal(one_hot(obs[b]), s_obs), b
            assert info["subgoal"][b] == s_info["subgoal"], b
            assert info["progress"][b] == s_info["progress"], b
            if batch.any_mode:
                assert consistent_tasks(batch, b) == s_info["task"], b
            else:
                assert batch.tasks[info["task_index"][b]] == s_info["task"], b

    compare(obs, info)
    for t in range(MAX_STEPS + 5):
        raw = mixer()
        actions = np.where(ended, 99, raw)  # finished episodes ignore even an invalid action
        obs, reward, terminated, truncated, info = batch.step(actions)
        if guide is not batch:
            guide.step(raw)
        assert reward.dtype == np.float32 and terminated.dtype == truncated.dtype == bool
        for b, env in enumerate(singles):
            if ended[b]:
                assert (reward[b], terminated[b], truncated[b]) == (0.0, False, False)
                continue
            s_obs, s_reward, s_term, s_trunc, s_info = env.step(int(actions[b]))
            single_out[b] = (s_obs, s_info)
            assert (reward[b], terminated[b], truncated[b]) == (s_reward, s_term, s_trunc), (b, t)
            if s_term or s_trunc:
                ended[b] = True
                kind = "truncated" if s_trunc else "success" if s_reward == 1.0 else "failure"
                counts[kind] += 1
                assert batch.success[b] == (kind == "success")
        compare(obs, info)
        assert np.array_equal(batch.done, ended)
        assert np.array_equal(batch.t[~ended], np.full((~ended).sum(), t + 1))
        if ended.all():
            break
    assert ended.all() and batch.done.all()
    for action in (0, 3):  # all finished: nothing moves any more
        obs_after, reward, terminated, truncated, info_after = batch.step(np.full(len(seeds), action))
        assert np.array_equal(obs_after, obs) and not reward.any() and not terminated.any() and not truncated.any()
        assert np.array_equal(info_after["progress"], info["progress"])
    return counts


def assert_every_outcome(counts):
    assert all(n > 0 for n in counts.values()), counts


def test_single_task_mode_matches_single_envs():
    counts = side_by_side(np.arange(B) + 100, {"task": "0-1-4-5-2-3"})
    assert_every_outcome(counts)


def test_default_random_pretraining_task_matches_single_envs():
    counts = side_by_side(np.arange(B) * 7 + 3, {})
    assert_every_outcome(counts)


def test_task_list_mode_matches_single_envs():
    counts = side_by_side(np.arange(B) + 1000, {"task": ["0-1", "2-3-6-7", "4-5-0-1-4-5"]}, action_seed=1)
    assert_every_outcome(counts)


def test_task_set_mode_matches_single_envs():
    counts = side_by_side(np.arange(B) + 500, {"task_set": "pretrain"}, guide_mode={}, action_seed=2)
    assert_every_outcome(counts)


def test_mixed_length_task_set_matches_single_envs():
    mode = {"task_set": ["0-1", "0-1-2-3", "2-3"]}
    assert_every_outcome(side_by_side(np.arange(B) + 900, mode, guide_mode={"task": "0-1-2-3"}))


def test_max_steps_one():
    batch = GridPinpadBatch(8, task="0-1", max_steps=1)
    batch.reset(np.arange(8))
    _, reward, terminated, truncated, _ = batch.step(np.zeros(8, int))
    assert batch.done.all() and np.array_equal(truncated, ~terminated)
    _, reward, terminated, truncated, _ = batch.step(np.full(8, 4))  # invalid, but every episode has ended
    assert not (reward.any() or terminated.any() or truncated.any())


def test_same_seeds_as_single_env_and_task_index():
    seeds = np.array([0, 1, 2, 2**62])
    batch = GridPinpadBatch(4)
    batch.reset(seeds)
    for b, s in enumerate(seeds):
        env = GridPinpadEnv()
        env.reset(seed=int(s))
        assert np.array_equal(batch.layout[b], env.layout) and batch.agent[b] == env.agent
        assert GRID_PRETRAIN_TASKS[batch.task_index[b]] == env.task


def test_reset_without_seeds_uses_the_batch_seed():
    a, b = GridPinpadBatch(6, seed=3), GridPinpadBatch(6, seed=3)
    a.reset()
    b.reset()
    assert np.array_equal(a.seeds, b.seeds) and np.array_equal(a.layout, b.layout)
    first = a.layout.copy()
    a.reset()
    assert not np.array_equal(a.layout, first)
    c = GridPinpadBatch(6, seed=4)
    c.reset()
    assert not np.array_equal(c.layout, first)


def test_done_and_success_accumulate():
    batch = GridPinpadBatch(64, task="0-1")
    batch.reset(np.arange(64))
    expert = GridExpert(seed=0)
    expert.reset(batch)
    any_done = np.zeros(64, bool)
    rewards = np.zeros(64)
    while not batch.done.all():
        _, reward, terminated, truncated, _ = batch.step(expert.act(batch)[0])
        assert not (any_done & (terminated | truncated)).any()  # an episode ends once
        any_done |= terminated | truncated
        rewards += reward
        assert np.array_equal(batch.done, any_done)
    assert np.array_equal(batch.success, rewards == 1.0) and batch.success.all()
    assert (batch.progress == 2).all() and (batch.subgoal() == -1).all()
    batch.reset(np.arange(64))  # reset clears everything
    assert not batch.done.any() and not batch.success.any() and not batch.progress.any() and not batch.t.any()


@pytest.mark.parametrize("bad", [4, -1, 7, 1.5])
def test_invalid_actions_raise_naming_the_value(bad):
    batch = GridPinpadBatch(3, task="0-1")
    batch.reset(np.arange(3))
    actions = np.array([0, bad, 1], dtype=type(bad))
    with pytest.raises(ValueError, match=str(bad).replace(".", r"\.")):
        batch.step(actions)


def test_invalid_action_of_a_finished_episode_is_ignored_but_of_a_running_one_raises():
    batch = GridPinpadBatch(2, task="0-1", max_steps=1)
    batch.reset([0, 1])
    batch.step([0, 0])
    batch.step([5, -3])  # both finished: ignored
    batch = GridPinpadBatch(2, task="0-1", max_steps=2)
    batch.reset([0, 1])
    batch.done[0] = True  # as if episode 0 had ended
    with pytest.raises(ValueError, match="-3"):
        batch.step([5, -3])


@pytest.mark.parametrize("shape", [(3,), (5,), (4, 1), ()])
def test_wrong_action_shape_raises(shape):
    batch = GridPinpadBatch(4, task="0-1")
    batch.reset(np.arange(4))
    with pytest.raises(ValueError, match="shape"):
        batch.step(np.zeros(shape, int))


def test_wrong_seed_shape_and_bad_arguments_raise():
    batch = GridPinpadBatch(4)
    for seeds in ([0, 1, 2], np.zeros((4, 1), int), 7):
        with pytest.raises(ValueError, match="shape"):
            batch.reset(seeds)
    with pytest.raises(ValueError, match="num_envs"):
        GridPinpadBatch(0)
    with pytest.raises(ValueError, match="max_steps"):
        GridPinpadBatch(2, max_steps=0)
    with pytest.raises(ValueError, match="not both"):
        GridPinpadBatch(2, task="0-1", task_set="pretrain")
