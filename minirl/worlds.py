"""The two worlds behind one interface: what the stages on a frozen base model need from 'gridworld' or 'ant'.

Probes, ground-truth controllers, the metacontroller and RL are the same code in both worlds; only these
few things differ, and each is looked up here by the stage config's `env`:

| need                          | gridworld                              | ant                                        |
|-------------------------------|----------------------------------------|--------------------------------------------|
| clean expert episodes         | shortest-path expert, epsilon = 0      | the PPO expert's *mean* actions ([P] D*)   |
| batched env                   | `GridPinpadBatch`                      | `AntPinpadBatch` (physics on 2 threads)    |
| subgoal of a colour           | its pair, colour // 2 (4 subgoals)     | the colour itself (4 subgoals)             |
| one-subgoal task set          | 0-1,2-3,4-5,6-7                        | 0,1,2,3                                    |
| post-training task            | 0-1-2-3-4-5-6-7-0-1-2-3                | 0-1-2-3                                    |
| what `progress` counts        | colours                                | pads                                       |

`expert_episodes` re-rolls the ant's expert on each call (its MuJoCo time is the price of the ant's data).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from minirl.config import check_env
from minirl.data import Trajectories, generate_gridworld
from minirl.tasks import Task, parse_task_set

NUM_SUBGOALS = {"gridworld": 4, "ant": 4}
ONE_SUBGOAL_TASKS = {"gridworld": "0-1,2-3,4-5,6-7", "ant": "0,1,2,3"}  # an episode ends at its first subgoal
PROGRESS_UNIT = {"gridworld": "colours", "ant": "pads"}
REPLAY_PRETRAIN_TASK = {"gridworld": "0-1-4-5-2-3", "ant": "0-3-2"}  # one pretraining task, for posterior replay


def parse_tasks(env: str, spec) -> tuple[Task, ...]:
    """`spec` ('pretrain', 'posttrain', '0-1-2', a comma list) as tasks of `env`'s colours; raises naming it."""
    check_env(env)
    return parse_task_set(spec, env=env)


def subgoal_of_colour(env: str, colour: np.ndarray) -> np.ndarray:
    """The subgoal a colour belongs to: its pair (gridworld) or itself (ant)."""
    return colour // 2 if env == "gridworld" else colour


def batch_env(env: str, num_envs: int, task=None, task_set=None):
    """A batched env of `env` with B = num_envs episodes (single-task `task` or task-set `task_set` mode)."""
    check_env(env)
    if env == "gridworld":
        from minirl.envs.grid_batch import GridPinpadBatch

        return GridPinpadBatch(num_envs, task=task, task_set=task_set)
    from minirl.envs.ant_batch import AntPinpadBatch

    threads = 2 if num_envs >= 32 and (os.cpu_count() or 1) > 1 else 1  # results do not depend on it (tested)
    return AntPinpadBatch(num_envs, task=task, task_set=task_set, nthread=threads)


@functools.lru_cache(maxsize=4)
def _ant_expert(spec: str):
    from minirl.checkpoints import resolve_expert
    from minirl.experts.ant_ppo import load_expert

    return load_expert(resolve_expert(spec)), str(resolve_expert(spec))


def expert_episodes(env: str, task: str, episodes: int, seed: int, expert: str = "pretrained") -> Trajectories:
    """Clean expert demonstrations of `task` on fresh layouts: the gridworld's shortest-path expert without
    noise, or the ant's PPO expert (`expert`: 'pretrained' or a run) taking its mean actions ([P] §C.4.4)."""
    check_env(env)
    if env == "gridworld":
        return Trajectories(generate_gridworld(task, episodes, 0.0, seed=seed, progress=False))
    from minirl.data_ant import AntTrajectories, generate_ant

    policy, name = _ant_expert(expert)
    return AntTrajectories(generate_ant(policy, task, episodes, seed, "mean", progress=False, expert_name=name))


@functools.lru_cache(maxsize=8)  # `reproduce ant` asks once per RL method for the same number
def expert_success(env: str, task: str, episodes: int, seed: int, expert: str = "pretrained") -> float:
    """The expert's success rate on `task` (mean actions for the ant): the paper divides the ant's RL success by
    it. The gridworld's expert is optimal (1.0)."""
    if env == "gridworld":
        return 1.0
    return float(expert_episodes(env, task, episodes, seed, expert).arrays["success"].mean())
