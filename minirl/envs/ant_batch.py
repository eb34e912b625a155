"""ant-pinpad stepping B episodes at once. Same semantics as `AntPinpadEnv`, tested equal to it.

Physics: one `MjData` per episode, all sharing one compiled model, each advanced by the same
`mujoco.mj_step(model, data, 5)` call as the single env (so batched and single agree to the bit). With
`nthread > 1` the episodes are split into chunks stepped by a thread pool: MuJoCo releases the GIL inside
`mj_step`. Everything else (observations, cells, pads, termination, task progress) is numpy over (B, ...).

As `GridPinpadBatch`: no autoreset. `reset()` starts B episodes, `step()` advances the running ones
(finished episodes ignore their action, report reward 0 and no new end), `done` (B,) says which have
ended, `reset_done()` restarts the finished slots.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np

from minirl.envs.ant import check_actions, resolve_ant_tasks
from minirl.envs.ant_core import (
    ACTION_DIM,
    FRAME_SKIP,
    HEALTHY_Z,
    MAX_STEPS,
    NUM_COLOURS,
    NUM_OBJECTS,
    OUTSIDE,
    build_model,
    cell_centres,
    cell_of,
    observe,
    sample_episode,
)  # fmt: skip
from minirl.envs.batch_common import TaskTracker, TaskViews, episode_seeds


class AntPinpadBatch(TaskViews):
    """B ant-pinpad episodes stepped together. `task` / `task_set` as for `AntPinpadEnv`."""

    action_dim = ACTION_DIM

    def __init__(
        self,
        num_envs: int,
        task=None,
        task_set=None,
        max_steps: int = MAX_STEPS,
        seed: int | None = None,
        nthread: int = 1,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if nthread < 1:
            raise ValueError(f"nthread must be >= 1, got {nthread}")
        self.num_envs, self.max_steps, self.nthread = num_envs, max_steps, nthread
        self.tasks, self.any_mode = resolve_ant_tasks(task, task_set)
        self.model = build_model()
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        self.np_random = np.random.default_rng(seed)  # draws episode seeds when reset() is given none
        self._pool = ThreadPoolExecutor(nthread) if nthread > 1 else None

    # ----------------------------------------------------------------- episode logic
    def reset(self, seeds=None):
        """Start B new episodes; episode b is what `AntPinpadEnv.reset(seed=seeds[b])` would give."""
        B = self.num_envs
        self.layout = np.zeros((B, NUM_OBJECTS), np.int64)  # (B, 5) cells of colours 0..3, then the wall
        self.cell, self.t, self.seeds = np.zeros(B, np.int64), np.zeros(B, np.int64), np.zeros(B, np.int64)
        self.qpos, self.qvel = np.zeros((B, 15)), np.zeros((B, 14))
        self.visited = np.zeros((B, NUM_COLOURS), dtype=bool)
        self.done, self.success = np.zeros(B, dtype=bool), np.zeros(B, dtype=bool)
        self.tracker = TaskTracker(B, self.tasks, self.any_mode, NUM_COLOURS)
        self._start(np.arange(B), seeds)
        return self.obs(), self.info()

    def _start(self, idx: np.ndarray, seeds) -> None:
        seeds = episode_seeds(self.np_random, idx, seeds)
        draws = np.zeros(len(idx), np.int64)
        for j, (b, s) in enumerate(zip(idx, seeds)):
            ep = sample_episode(int(s), len(self.tasks))
            d = self.datas[b]
            mujoco.mj_resetData(self.model, d)
            d.qpos[:], d.qvel[:] = ep["qpos"], ep["qvel"]
            d.mocap_pos[:, :2], d.mocap_pos[:, 2] = cell_centres(ep["layout"]), 0.0
            mujoco.mj_forward(self.model, d)
            self.layout[b], self.cell[b], draws[j] = ep["layout"], ep["start"], ep["task"]
            self.qpos[b], self.qvel[b] = d.qpos, d.qvel
        self.seeds[idx] = seeds
        self.tracker.start(idx, draws)
        for arr in (self.t, self.visited, self.done, self.success):
            arr[idx] = 0

    def _physics(self, idx: np.ndarray, actions: np.ndarray) -> None:
        """Advance episodes `idx` by one env step (FRAME_SKIP physics steps) under `actions` (B, 8)."""

        def run(chunk: np.ndarray) -> None:
            for b in chunk:
                d = self.datas[b]
                d.ctrl[:] = actions[b]
                mujoco.mj_step(self.model, d, FRAME_SKIP)

        if self._pool is None or len(idx) < 2 * self.nthread:
            run(idx)
        else:
            list(self._pool.map(run, np.array_split(idx, self.nthread)))
        for b in idx:
            self.qpos[b], self.qvel[b] = self.datas[b].qpos, self.datas[b].qvel

    def step(self, actions):
        """Advance running episodes. Returns obs (B, 41), reward (B,), terminated (B,), truncated (B,), info."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.num_envs, ACTION_DIM):
            raise ValueError(f"actions must have shape ({self.num_envs}, {ACTION_DIM}), got {actions.shape}")
        running = ~self.done
        check_actions(actions[running], actions[running].shape)  # finished episodes may carry anything
        self._physics(np.flatnonzero(running), actions)

        z, cell = self.qpos[:, 2], cell_of(self.qpos[:, :2])  # (B,), (B,)
        fell = running & ((z < HEALTHY_Z[0]) | (z > HEALTHY_Z[1]))
        walled = running & ~fell & ((cell == OUTSIDE) | (cell == self.layout[:, NUM_COLOURS]))
        on_pad = self.layout[:, :NUM_COLOURS] == cell[:, None]  # (B, 4)
        visit = running & ~fell & ~walled & (cell != self.cell) & on_pad.any(1)
        colour = np.where(visit, on_pad.argmax(1), -1)  # (B,)
        failed, succeeded = self.tracker.visit(visit, colour)
        B = np.arange(self.num_envs)
        self.visited[B[visit], colour[visit]] = True
        self.cell = np.where(running, cell, self.cell)

        self.t += running
        terminated = fell | walled | failed | succeeded
        truncated = running & ~terminated & (self.t >= self.max_steps)
        reward = succeeded.astype(np.float32)
        self.success |= succeeded
        self.done |= terminated | truncated
        return self.obs(), reward, terminated, truncated, self.info()

    # ----------------------------------------------------------------- views
    def obs(self) -> np.ndarray:
        """(B, 41) observations (`ant_core.observe`)."""
        return observe(self.qpos, self.qvel, self.layout)

    def subgoal(self) -> np.ndarray:
        """(B,) ground-truth current subgoal: for the ant, the next colour itself; -1 if undetermined."""
        return self.target()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
