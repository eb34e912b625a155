"""gridworld-pinpad stepping B episodes at once (numpy). Same semantics as `GridPinpadEnv`, tested equal to it.

This is the rollout path of every later stage: data generation, evaluating models, internal RL.

Differences from a Gymnasium vector env, on purpose:
- no autoreset: `reset()` starts B episodes, `step()` advances the ones still running. Finished episodes
  ignore their action and report reward 0 and no new end. `done` (B,) says which have ended; a rollout
  loop runs `while not env.done.all()`. `reset_done()` restarts just the finished slots, for loops that
  want every slot busy (the throughput benchmark).
- observations are the compact (B, 13) object cells (`grid_core.one_hot` gives the 637-dim vector); the
  model's embedding reads them directly (a linear layer on a one-hot is a sum of embedding rows).

Task tracking is `batch_common.TaskTracker`, a (B, K) mask over a task table (shared with the ant).
"""

from __future__ import annotations

import numpy as np

from minirl.envs.batch_common import TaskTracker, TaskViews, episode_seeds, unique_or_minus_one
from minirl.envs.grid_core import EMPTY, MAX_STEPS, NEXT, NUM_COLOURS, layout_grid, sample_episodes
from minirl.envs.gridworld import resolve_tasks


class GridPinpadBatch(TaskViews):
    """B gridworld-pinpad episodes stepped together. `task` / `task_set` as for `GridPinpadEnv`."""

    num_actions = 4

    def __init__(self, num_envs: int, task=None, task_set=None, max_steps: int = MAX_STEPS, seed: int | None = None):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.num_envs, self.max_steps = num_envs, max_steps
        self.tasks, self.any_mode = resolve_tasks(task, task_set)
        self.np_random = np.random.default_rng(seed)  # draws episode seeds when reset() is given none

    # ----------------------------------------------------------------- episode logic
    def reset(self, seeds=None):
        """Start B new episodes; episode b is what `GridPinpadEnv.reset(seed=seeds[b])` would give."""
        B = self.num_envs
        self.layout, self.agent = np.zeros((B, 12), np.int64), np.zeros(B, np.int64)
        self.seeds, self.t = np.zeros(B, np.int64), np.zeros(B, np.int64)
        self.grid = np.zeros((B, 49), np.int64)
        self.tracker = TaskTracker(B, self.tasks, self.any_mode, NUM_COLOURS)
        self.visited = np.zeros((B, NUM_COLOURS), dtype=bool)  # for rendering
        self.done, self.success = np.zeros(B, dtype=bool), np.zeros(B, dtype=bool)
        self._start(np.arange(B), seeds)
        return self.obs(), self.info()

    def _start(self, idx: np.ndarray, seeds) -> None:
        seeds = episode_seeds(self.np_random, idx, seeds)
        self.seeds[idx] = seeds
        self.layout[idx], self.agent[idx], task_draw = sample_episodes(seeds, len(self.tasks))  # (n, 12), (n,), (n,)
        self.grid[idx] = layout_grid(self.layout[idx])
        self.tracker.start(idx, task_draw)
        for arr in (self.t, self.visited, self.done, self.success):
            arr[idx] = 0

    def step(self, actions):
        """Advance running episodes. Returns obs (B, 13), reward (B,), terminated (B,), truncated (B,), info."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        running = ~self.done
        bad = running & ((actions < 0) | (actions >= self.num_actions) | (actions != np.round(actions)))
        if bad.any():
            raise ValueError(f"action {actions[bad][0]!r} (episode {np.flatnonzero(bad)[0]}) is outside Discrete(4)")
        act = np.where(running, actions, 0).astype(np.int64)
        B = np.arange(self.num_envs)

        nxt = NEXT[self.agent, act]  # (B,)
        nxt = np.where(self.grid[B, nxt] >= NUM_COLOURS, self.agent, nxt)  # walls block
        moved = running & (nxt != self.agent)
        self.agent = np.where(running, nxt, self.agent)
        colour = self.grid[B, self.agent]  # (B,)
        visit = moved & (colour != EMPTY) & (colour < NUM_COLOURS)

        failed, succeeded = self.tracker.visit(visit, colour)  # which tasks still match; success if one is complete
        self.visited[B[visit], colour[visit]] = True

        self.t += running
        terminated = failed | succeeded
        truncated = running & ~terminated & (self.t >= self.max_steps)
        reward = succeeded.astype(np.float32)
        self.success |= succeeded
        self.done |= terminated | truncated
        return self.obs(), reward, terminated, truncated, self.info()

    # ----------------------------------------------------------------- views
    def obs(self) -> np.ndarray:
        """(B, 13) object cells: the layout, then the agent."""
        return np.concatenate([self.layout, self.agent[:, None]], 1)

    def subgoal(self) -> np.ndarray:
        """(B,) ground-truth current subgoal: the colour pair (0..3) of the next colour; -1 if undetermined."""
        if not self.any_mode:
            target = self.target()
            return np.where(target >= 0, target // 2, -1)
        nxt = self.next_colours()
        return unique_or_minus_one(np.where(nxt >= 0, nxt // 2, -1))
