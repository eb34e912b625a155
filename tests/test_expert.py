"""GridExpert, the shortest-path expert: success rates on fixed seeds, optimality against an independent BFS, noise."""

import numpy as np
import pytest
from grid_helpers import bfs_to_colour, colour_at, move

from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import MAX_STEPS
from minirl.experts.grid_expert import UNREACHABLE, GridExpert, distance_maps
from minirl.tasks import GRID_POSTTRAIN_TASK, GRID_PRETRAIN_TASKS


def rollout(env: GridPinpadBatch, expert: GridExpert, seeds, check_optimal: bool = False) -> GridPinpadBatch:
    """Run every episode to its end; with `check_optimal`, every action taken must be marked optimal."""
    env.reset(seeds)
    expert.reset(env)
    while not env.done.all():
        running = ~env.done
        actions, optimal = expert.act(env)
        assert actions.shape == (env.num_envs,) and optimal.shape == (env.num_envs, 4)
        assert not optimal[~running].any()
        if check_optimal:
            assert optimal[running].any(1).all()
            assert optimal[running, actions[running]].all()
        env.step(actions)
    return env


def wrong_colour_failures(env: GridPinpadBatch) -> int:
    """Episodes that ended before the time limit without success: only a wrong colour does that."""
    return int((env.done & ~env.success & (env.t < env.max_steps)).sum())


@pytest.mark.parametrize("k", range(len(GRID_PRETRAIN_TASKS)))
def test_expert_solves_every_pretraining_task(k):
    task = GRID_PRETRAIN_TASKS[k]
    env = GridPinpadBatch(512, task=task)
    rollout(env, GridExpert(0.0, seed=k), np.arange(512) + 10_000 * k, check_optimal=True)
    assert env.success.all(), f"task {task}: {(~env.success).sum()} of 512 episodes failed"
    assert wrong_colour_failures(env) == 0
    assert (env.progress == len(task)).all()


def test_expert_posttrain_success_rate():
    env = GridPinpadBatch(2048, task=GRID_POSTTRAIN_TASK)
    rollout(env, GridExpert(0.0, seed=0), np.arange(2048) + 7, check_optimal=True)
    assert env.success.mean() >= 0.99, env.success.mean()
    assert wrong_colour_failures(env) == 0
    assert (env.t[~env.success] == MAX_STEPS).all()  # the only failures are routes longer than 100 steps


@pytest.mark.parametrize("task", ["0-0", "3-3-5-5", "6-6-6"])
def test_expert_steps_off_and_back_for_a_repeated_colour(task):
    """Standing on the next colour does not visit it again: the expert must step off and come back."""
    env = GridPinpadBatch(256, task=task)
    rollout(env, GridExpert(0.0, seed=2), np.arange(256), check_optimal=True)
    assert env.success.all()
    colours = [int(c) for c in task.split("-")]
    repeats = sum(a == b for a, b in zip(colours, colours[1:]))
    assert (env.t >= len(colours) + repeats).all()  # every repeat costs a step off and a step back


def test_distance_maps_match_an_independent_bfs():
    env = GridPinpadBatch(25, task="0-1")
    env.reset(np.arange(25))
    dist = distance_maps(env.layout)
    assert dist.shape == (25, 8, 49)
    for b in range(25):
        for colour in range(8):
            own = bfs_to_colour(env.layout[b], colour)
            expected = [own.get(cell, UNREACHABLE) for cell in range(49)]
            assert dist[b, colour].tolist() == expected, (b, colour)


def test_optimal_actions_decrease_the_bfs_distance():
    env = GridPinpadBatch(12, task=GRID_POSTTRAIN_TASK)
    env.reset(np.arange(12) + 321)
    expert = GridExpert(0.0, seed=1)
    expert.reset(env)
    own = [{c: bfs_to_colour(env.layout[b], c) for c in range(8)} for b in range(12)]
    steps = 0
    while not env.done.all():
        optimal = expert.optimal_actions(env)
        target = env.target()
        for b in np.flatnonzero(~env.done):
            layout, cell, d = env.layout[b], int(env.agent[b]), own[b][int(target[b])]
            nexts = [move(layout, cell, a) for a in range(4)]
            cost = [d.get(n, np.inf) if n != cell else np.inf for n in nexts]
            best = min(cost)
            assert best < np.inf
            assert optimal[b].tolist() == [c == best for c in cost], (b, cell, cost)
            if colour_at(layout, cell) is None:  # on an empty cell: one step closer
                assert best == d[cell] - 1
            steps += 1
        env.step(expert.act(env)[0])
    assert steps > 500


def test_epsilon_noise_never_steps_on_a_wrong_colour():
    for k in (0, 5, 10):
        env = GridPinpadBatch(512, task=GRID_PRETRAIN_TASKS[k])
        rollout(env, GridExpert(1.0, seed=k), np.arange(512) + 99 * k)
        assert wrong_colour_failures(env) == 0
        assert (env.t[~env.success] == MAX_STEPS).sum() > 0  # the noise does fail some episodes, by time-out
    env = GridPinpadBatch(512)
    rollout(env, GridExpert(0.3, seed=3), np.arange(512) + 5)
    assert wrong_colour_failures(env) == 0
    assert env.success.mean() > 0.8


def test_epsilon_changes_the_actions():
    env = GridPinpadBatch(256, task="0-1-4-5-2-3")
    env.reset(np.arange(256))
    noisy = GridExpert(1.0, seed=0)
    noisy.reset(env)
    actions, optimal = noisy.act(env)
    off_path = ~optimal[np.arange(256), actions]
    assert off_path.mean() > 0.3


def test_tie_breaking_is_seeded():
    env = GridPinpadBatch(256, task="0-1-4-5-2-3")
    env.reset(np.arange(256))
    runs = []
    for seed in (0, 0, 1):
        expert = GridExpert(0.0, seed=seed)
        expert.reset(env)
        runs.append(expert.act(env)[0])
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("epsilon", [-0.1, 1.1, 2.0])
def test_epsilon_outside_unit_interval_raises(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        GridExpert(epsilon)


def test_expert_refuses_task_set_mode():
    env = GridPinpadBatch(4, task_set="pretrain")
    env.reset(np.arange(4))
    expert = GridExpert()
    expert.reset(env)
    with pytest.raises(ValueError, match="task-set"):
        expert.act(env)
