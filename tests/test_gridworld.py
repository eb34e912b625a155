"""GridPinpadEnv, the single-episode reference env: Gymnasium API, layouts, observations, every way an episode ends."""

import gymnasium
import numpy as np
import pytest
from grid_helpers import (
    CELLS,
    RIGHT,
    bfs_to_colour,
    blocked_action,
    colour_at,
    decode_obs,
    find_seed,
    move,
    plan,
    plan_task,
)
from gymnasium.utils.env_checker import check_env

import minirl  # noqa: F401  (registers the env)
from minirl.envs.grid_core import MAX_STEPS, OBS_DIM, from_one_hot, one_hot
from minirl.envs.gridworld import GridPinpadEnv
from minirl.tasks import GRID_PRETRAIN_TASKS


def run(env, actions):
    """Step through `actions`; returns the list of (obs, reward, terminated, truncated, info)."""
    return [env.step(a) for a in actions]


def assert_running(results):
    for _, reward, terminated, truncated, _ in results:
        assert (reward, terminated, truncated) == (0.0, False, False)


# ------------------------------------------------------------------------------------------ Gymnasium API
@pytest.mark.parametrize("render_mode", [None, "rgb_array", "ansi"])
def test_check_env(render_mode):
    env = gymnasium.make("minirl/GridPinpad-v0", render_mode=render_mode).unwrapped
    assert isinstance(env, GridPinpadEnv)
    check_env(env, skip_render_check=render_mode is None)


def test_spaces():
    env = GridPinpadEnv()
    assert env.action_space == gymnasium.spaces.Discrete(4)
    assert env.observation_space.shape == (637,) == (OBS_DIM,)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (637,)
    assert env.observation_space.contains(obs)
    assert set(info) == {"subgoal", "progress", "task"}


def test_same_seed_same_episode_and_different_seeds_differ():
    rng = np.random.default_rng(0)
    actions = rng.integers(4, size=MAX_STEPS)
    a, b = GridPinpadEnv(), GridPinpadEnv()
    for seed in (0, 1, 12345):
        obs_a, info_a = a.reset(seed=seed)
        obs_b, info_b = b.reset(seed=seed)
        assert np.array_equal(obs_a, obs_b) and info_a == info_b
        for action in actions:
            out_a, out_b = a.step(int(action)), b.step(int(action))
            assert np.array_equal(out_a[0], out_b[0])
            assert out_a[1:] == out_b[1:]
            if out_a[2] or out_a[3]:
                break
    first = [a.reset(seed=s)[0] for s in range(20)]
    assert len({o.tobytes() for o in first}) == 20


def test_reset_without_seed_continues_the_generator():
    env = GridPinpadEnv()
    o1, _ = env.reset(seed=3)
    o2, _ = env.reset()
    assert not np.array_equal(o1, o2)
    env.reset(seed=3)
    assert np.array_equal(env.reset()[0], o2)


# ------------------------------------------------------------------------------------------ layouts and observations
def test_observation_encoding_cell_by_cell():
    env = GridPinpadEnv()
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        objects = list(env.layout) + [env.agent]
        assert decode_obs(obs) == [int(c) for c in objects]  # exactly one 1 per object, at 13 * cell + k
        assert obs.sum() == 13
        assert set(np.unique(obs)) == {0.0, 1.0}
        obs, *_ = env.step(int(np.random.default_rng(seed).integers(4)))
        assert decode_obs(obs)[12] == env.agent


def test_one_hot_round_trip():
    rng = np.random.default_rng(0)
    cells = rng.integers(CELLS, size=(50, 13))  # objects may even share cells here
    hot = one_hot(cells)
    assert hot.shape == (50, 637) and hot.dtype == np.float32
    for row, x in zip(hot, cells):
        for k in range(13):
            assert row[13 * x[k] + k] == 1.0
        assert row.sum() == 13
    assert np.array_equal(from_one_hot(hot), cells)
    assert np.array_equal(from_one_hot(one_hot(cells[0])), cells[0])
    assert np.array_equal(one_hot(cells.astype(np.int8)), hot)  # as datasets store them: no wrap-around past 127


def test_layouts_never_overlap_and_are_solvable():
    env = GridPinpadEnv()
    for seed in range(300):
        env.reset(seed=seed)
        cells = [int(c) for c in env.layout] + [env.agent]
        assert len(env.layout) == 12
        assert all(0 <= c < CELLS for c in cells)
        assert len(set(cells)) == 13, f"seed {seed}: overlapping objects {cells}"
        for colour in range(8):  # every colour reachable from the agent and from every other colour
            dist = bfs_to_colour(env.layout, colour)
            assert env.agent in dist, f"seed {seed}: colour {colour} unreachable from the agent"
            for other in range(8):
                if other == colour:
                    continue
                start = int(env.layout[other])
                exits = {move(env.layout, start, a) for a in range(4)} - {start}
                assert exits & dist.keys(), f"seed {seed}: colour {colour} unreachable from colour {other}"


# ------------------------------------------------------------------------------------------ episode ends
def test_success_ends_the_episode_with_reward_one():
    env = GridPinpadEnv(task="0-1-4-5-2-3")
    env.reset(seed=0)
    legs = plan_task(env.layout, env.agent, (0, 1, 4, 5, 2, 3))
    for progress, (colour, leg) in enumerate(zip((0, 1, 4, 5, 2, 3), legs)):
        results = run(env, leg)
        assert_running(results[:-1])
        for obs, *_ in results[:-1]:  # no colour is touched on the way
            assert colour_at(env.layout, decode_obs(obs)[12]) is None
        obs, reward, terminated, truncated, info = results[-1]
        assert env.agent == env.layout[colour] == decode_obs(obs)[12]
        assert info["progress"] == progress + 1
        assert info["task"] == (0, 1, 4, 5, 2, 3)
        if progress < 5:
            assert (reward, terminated, truncated) == (0.0, False, False)
        else:
            assert (reward, terminated, truncated) == (1.0, True, False)
            assert info["subgoal"] == -1


def test_info_subgoal_follows_the_task():
    task = (6, 7, 2, 3, 0, 1)
    env = GridPinpadEnv(task=task)
    _, info = env.reset(seed=4)
    assert info == {"subgoal": 3, "progress": 0, "task": task}
    for n, leg in enumerate(plan_task(env.layout, env.agent, task)):
        for action in leg:
            assert info["subgoal"] == task[n] // 2 and info["progress"] == n
            _, _, _, _, info = env.step(action)
    assert info["progress"] == 6 and info["subgoal"] == -1


def test_visiting_a_wrong_colour_fails():
    env = GridPinpadEnv(task="0-1")
    env.reset(seed=1)
    leg = plan(env.layout, env.agent, 2)
    results = run(env, leg)
    assert_running(results[:-1])
    _, reward, terminated, truncated, info = results[-1]
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["progress"] == 1


def test_visiting_colours_out_of_order_fails():
    env = GridPinpadEnv(task="0-1-4-5")
    env.reset(seed=2)
    first, second = plan_task(env.layout, env.agent, (0, 4))  # 0 is right, then 4 instead of 1
    assert_running(run(env, first))
    results = run(env, second)
    assert_running(results[:-1])
    assert results[-1][1:4] == (0.0, True, False)


def test_truncation_at_exactly_max_steps_by_bumping_into_the_edge():
    env = GridPinpadEnv(task="0-1")
    seed = find_seed(env, lambda e: e.agent // 7 == 0)  # agent on the top row: "up" is a no-op
    obs0, _ = env.reset(seed=seed)
    for t in range(1, MAX_STEPS + 1):
        obs, reward, terminated, truncated, info = env.step(0)
        assert np.array_equal(obs, obs0)
        assert reward == 0.0 and not terminated
        assert truncated == (t == MAX_STEPS), t
        assert info["progress"] == 0


def test_max_steps_argument():
    env = GridPinpadEnv(task="0-1", max_steps=3)
    seed = find_seed(env, lambda e: e.agent % 7 == 6)  # right edge: "right" is a no-op
    env.reset(seed=seed)
    assert [env.step(RIGHT)[3] for _ in range(3)] == [False, False, True]
    with pytest.raises(ValueError, match="max_steps"):
        GridPinpadEnv(max_steps=0)


def test_walls_block_moves():
    env = GridPinpadEnv(task="0-1")

    def next_to_wall(e):
        return any(move(e.layout, e.agent, a) == e.agent and _inside(e.agent, a) for a in range(4))

    seed = find_seed(env, next_to_wall)
    obs0, _ = env.reset(seed=seed)
    action = next(a for a in range(4) if move(env.layout, env.agent, a) == env.agent and _inside(env.agent, a))
    obs, reward, terminated, truncated, info = env.step(action)
    assert np.array_equal(obs, obs0) and (reward, terminated, truncated) == (0.0, False, False)


def _inside(cell, action):
    """The move stays on the grid (so a no-op there is caused by a wall)."""
    r, c = divmod(cell, 7)
    return {0: r > 0, 1: c < 6, 2: r < 6, 3: c > 0}[action]


def test_moves_follow_the_documented_directions():
    env = GridPinpadEnv(task="0-1")
    for seed in range(20):
        env.reset(seed=seed)
        for action in np.random.default_rng(seed).integers(4, size=30):
            before = env.agent
            obs, _, terminated, truncated, _ = env.step(int(action))
            assert env.agent == move(env.layout, before, int(action)) == decode_obs(obs)[12]
            if terminated or truncated:
                break


def _colour_with_blocked_side(colour):
    return lambda e: blocked_action(e.layout, int(e.layout[colour])) is not None


def test_standing_still_on_a_colour_does_not_visit_it_again():
    env = GridPinpadEnv(task="0-1")
    seed = find_seed(env, _colour_with_blocked_side(0))
    env.reset(seed=seed)
    assert_running(run(env, plan(env.layout, env.agent, 0)))
    noop = blocked_action(env.layout, env.agent)
    results = run(env, [noop] * 5)  # a re-visit of 0 would fail the task 0-1
    assert_running(results)
    assert all(info["progress"] == 1 and info["subgoal"] == 0 for *_, info in results)


def test_moving_back_onto_a_colour_visits_it_again():
    for task, expected in (("0-1", (0.0, True, False)), ("0-0", (1.0, True, False))):
        env = GridPinpadEnv(task=task)
        env.reset(seed=5)
        assert_running(run(env, plan(env.layout, env.agent, 0)))
        cell = env.agent
        exits = {a: move(env.layout, cell, a) for a in range(4)}
        off = next(a for a, n in exits.items() if n != cell and colour_at(env.layout, n) is None)
        back = next(a for a in range(4) if move(env.layout, move(env.layout, cell, off), a) == cell)
        assert_running(run(env, [off]))
        assert env.step(back)[1:4] == expected, task


# ------------------------------------------------------------------------------------------ task sets
def test_task_set_success_on_any_task():
    env = GridPinpadEnv(task_set="pretrain")
    _, info = env.reset(seed=6)
    assert info["subgoal"] == -1 and info["task"] == GRID_PRETRAIN_TASKS  # A, B, C and D can all start
    route = (0, 1, 4, 5, 0, 1)
    # subgoal after each visit: 0 -> pair A determined; 1 -> C or D; 4 -> C; 5 -> A or B; 0 -> A; 1 -> done
    expected_subgoals = (0, -1, 2, -1, 0, -1)
    expected_tasks = {
        2: ((0, 1, 4, 5, 0, 1), (0, 1, 4, 5, 2, 3), (0, 1, 6, 7, 2, 3), (0, 1, 6, 7, 4, 5)),
        4: ((0, 1, 4, 5, 0, 1), (0, 1, 4, 5, 2, 3)),
    }
    for n, leg in enumerate(plan_task(env.layout, env.agent, route)):
        results = run(env, leg)
        assert_running(results[:-1])
        _, reward, terminated, truncated, info = results[-1]
        assert info["progress"] == n + 1 and info["subgoal"] == expected_subgoals[n]
        if n + 1 in expected_tasks:
            assert set(info["task"]) == set(expected_tasks[n + 1])
        assert (reward, terminated, truncated) == ((1.0, True, False) if n == 5 else (0.0, False, False))


@pytest.mark.parametrize("route", [(1,), (0, 2), (0, 1, 2), (0, 1, 4, 5, 6)])
def test_task_set_fails_once_no_task_matches(route):
    env = GridPinpadEnv(task_set="pretrain")
    env.reset(seed=7)
    legs = plan_task(env.layout, env.agent, route)
    for leg in legs[:-1]:
        assert_running(run(env, leg))
    results = run(env, legs[-1])
    assert_running(results[:-1])
    _, reward, terminated, truncated, info = results[-1]
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["task"] == () and info["subgoal"] == -1


def test_task_set_of_tasks_of_different_lengths():
    env = GridPinpadEnv(task_set=["0-1", "2-3-4-5"])
    _, info = env.reset(seed=8)
    assert info["subgoal"] == -1 and env.next_colours() == {0, 2}
    legs = plan_task(env.layout, env.agent, (2, 3))
    assert_running(run(env, legs[0]))
    assert env.next_colours() == {3}
    results = run(env, legs[1])
    assert_running(results)
    assert results[-1][4]["subgoal"] == 2 and results[-1][4]["task"] == ((2, 3, 4, 5),)
    env.reset(seed=8)
    legs = plan_task(env.layout, env.agent, (0, 1))
    assert run(env, legs[0] + legs[1])[-1][1:4] == (1.0, True, False)


def test_task_and_task_set_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        GridPinpadEnv(task="0-1", task_set="pretrain")


# ------------------------------------------------------------------------------------------ task choice, reset options
def test_default_draws_each_pretraining_task():
    env = GridPinpadEnv()
    seen = set()
    for seed in range(300):
        _, info = env.reset(seed=seed)
        assert info["task"] in GRID_PRETRAIN_TASKS and env.task == info["task"]
        assert info["subgoal"] == info["task"][0] // 2
        seen.add(info["task"])
    assert seen == set(GRID_PRETRAIN_TASKS)


def test_reset_options_override_the_task_for_one_episode():
    env = GridPinpadEnv()
    obs_default, info_default = env.reset(seed=9)
    obs, info = env.reset(seed=9, options={"task": "4-5"})
    assert np.array_equal(obs, obs_default)  # same layout: the layout is drawn before the task
    assert info == {"subgoal": 2, "progress": 0, "task": (4, 5)}
    assert env.step(0)[4]["task"] == (4, 5)
    obs, info = env.reset(seed=9, options={"task_set": "pretrain"})
    assert np.array_equal(obs, obs_default)
    assert info["subgoal"] == -1 and info["task"] == GRID_PRETRAIN_TASKS
    assert env.reset(seed=9)[1] == info_default  # back to the constructor's task choice

    legs = plan_task(env.layout, env.agent, (4, 5))
    env.reset(seed=9, options={"task": [4, 5]})
    assert run(env, legs[0] + legs[1])[-1][1:4] == (1.0, True, False)
    with pytest.raises(ValueError, match="0-9"):
        env.reset(seed=9, options={"task": "0-9"})


def test_constructor_task_forms():
    assert GridPinpadEnv(task="2-3").reset(seed=0)[1]["task"] == (2, 3)
    assert GridPinpadEnv(task=(2, 3)).reset(seed=0)[1]["task"] == (2, 3)
    env = GridPinpadEnv(task="0-1,2-3")  # several tasks: each episode draws one
    assert {env.reset(seed=s)[1]["task"] for s in range(40)} == {(0, 1), (2, 3)}
    with pytest.raises(ValueError, match="0-x"):
        GridPinpadEnv(task="0-x")


# ------------------------------------------------------------------------------------------ actions and rendering
@pytest.mark.parametrize("action", [4, -1, 1.5, "up", None])
def test_invalid_actions_raise_naming_the_value(action):
    env = GridPinpadEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=repr(action).replace(".", r"\.")):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = GridPinpadEnv(task="0-1")
    env.reset(seed=0)
    for a in (np.int64(1), np.int32(2), np.array(3)):
        env.step(a)


def test_render_modes():
    env = GridPinpadEnv(render_mode="rgb_array")
    env.reset(seed=0)
    img = env.render()
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] > 0 and img.shape[1] > 0
    env = GridPinpadEnv(render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and text.count("@") == 1 and text.count("#") == 4
    env = GridPinpadEnv()
    env.reset(seed=0)
    assert env.render() is None


@pytest.mark.parametrize("mode", ["human", "rgb", ""])
def test_bad_render_mode_raises(mode):
    with pytest.raises(ValueError, match="render_mode"):
        GridPinpadEnv(render_mode=mode)
