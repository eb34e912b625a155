"""ant-pinpad, the single-episode Gymnasium env ([P] §A.2). Reference semantics for `AntPinpadBatch`."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from minirl.envs.ant_core import (
    ACTION_DIM,
    CELL,
    FRAME_SKIP,
    HALF,
    HEALTHY_Z,
    MAX_STEPS,
    NUM_COLOURS,
    OBS_DIM,
    OUTSIDE,
    build_model,
    cell_centres,
    cell_of,
    observe,
    sample_episode,
)  # fmt: skip
from minirl.tasks import ANT_PRETRAIN_TASKS, Task, parse_task_set


def resolve_ant_tasks(task, task_set) -> tuple[tuple[Task, ...], bool]:
    """(table of tasks, any_mode), as `gridworld.resolve_tasks` but over the ant's 4 colours."""
    if task is not None and task_set is not None:
        raise ValueError("give either `task` or `task_set`, not both")
    if task_set is not None:
        return parse_task_set(task_set, NUM_COLOURS, env="ant"), True
    return (ANT_PRETRAIN_TASKS if task is None else parse_task_set(task, NUM_COLOURS, env="ant")), False


def check_actions(actions: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Torques as float64 of `shape`, or a ValueError naming the first bad value (outside [-1, 1] or not finite)."""
    a = np.asarray(actions, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"action must have shape {shape}, got {a.shape}")
    bad = ~np.isfinite(a) | (np.abs(a) > 1.0)
    if bad.any():
        raise ValueError(f"action value {a[bad][0]!r} is outside the action space Box(-1, 1, ({ACTION_DIM},))")
    return a


class AntPinpadEnv(gym.Env):
    """The MuJoCo ant must step on coloured floor pads in a task's order.

    ## Description
    Gymnasium's Ant-v5 walks on a 4x4 floor of 1.5 m cells. 4 coloured pads and 1 wall cell are drawn on
    it (they do not collide: entering the wall cell ends the episode instead). A pad counts as visited when
    the torso centre enters its cell from another cell. The observation shows the layout, never the task.

    ## Action Space
    `Box(-1, 1, (8,), float32)`: torques of the 8 hip and ankle motors (Ant-v5's actuators).

    ## Observation Space
    `Box(-inf, inf, (41,), float32)`:

    | index   | meaning                                                          |
    |---------|------------------------------------------------------------------|
    | 0:27    | symlog of Ant-v5's proprioception: qpos[2:15], qvel[0:14]        |
    | 27:29   | torso (x, y) / 3, in [-1, 1] on the floor                        |
    | 29:37   | (pad_k - torso) / 3 for colours k = 0..3, world frame            |
    | 37:39   | (wall - torso) / 3                                               |
    | 39:41   | torso position inside its cell, in [-1, 1]                       |

    ## Rewards
    1 on completing the task, 0 otherwise.

    ## Starting State
    Layout and start cell drawn without overlap, redrawn until solvable (`ant_core.solvable`); torso at the
    start cell's centre +- CELL/4, random yaw, joints and velocities uniform in +-0.1. A pure function of
    the episode seed: `reset(seed=s)` uses s; without a seed one is drawn from `np_random`.

    ## Episode End
    Terminated on success, on entering a pad that is not next, on entering the wall cell or leaving the
    floor, or when the torso height leaves [0.2, 1.0]. Truncated after 500 steps (25 s).

    ## Arguments
    - `task`: one task ("0-3-2" or a tuple), or several ("pretrain", a list) of which each episode draws one.
      Default: the 16 pretraining tasks.
    - `task_set`: tasks of which completing *any* is success (judges a model that picks its own task).
    - `render_mode`: "rgb_array"; `width`, `height` of the image.
    `reset(options={"task": ...})` or `{"task_set": ...}` overrides the task for that episode only.

    `info`: `subgoal` (the next colour, 0..3; -1 if the task set leaves it open), `progress` (pads visited),
    `task`, `cell` (the torso's cell, -1 off the floor).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        task=None,
        task_set=None,
        render_mode: str | None = None,
        max_steps: int = MAX_STEPS,
        width: int = 320,
        height: int = 240,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} not in {self.metadata['render_modes']}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.tasks, self.any_mode = resolve_ant_tasks(task, task_set)
        self.render_mode, self.max_steps, self.width, self.height = render_mode, max_steps, width, height
        self.model = build_model()
        self.data = mujoco.MjData(self.model)
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self._renderer = None

    # ----------------------------------------------------------------- episode logic
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        tasks, any_mode = self.tasks, self.any_mode
        if "task" in options or "task_set" in options:
            tasks, any_mode = resolve_ant_tasks(options.get("task"), options.get("task_set"))
        episode_seed = seed if seed is not None else int(self.np_random.integers(0, 2**63 - 1))
        ep = sample_episode(episode_seed, len(tasks))
        self.layout = ep["layout"]
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:], self.data.qvel[:] = ep["qpos"], ep["qvel"]
        self.data.mocap_pos[:, :2] = cell_centres(self.layout)  # pads 0..3, then the wall
        self.data.mocap_pos[:, 2] = 0.0
        mujoco.mj_forward(self.model, self.data)
        self.candidates = list(tasks) if any_mode else [tasks[ep["task"]]]
        self.task = tuple(tasks) if any_mode else self.candidates[0]
        self.episode_any_mode = any_mode
        self.cell = ep["start"]
        self.visited: list[int] = []
        self.t = 0
        return self._obs(), self._info()

    def step(self, action):
        action = check_actions(action, (ACTION_DIM,))
        self.data.ctrl[:] = action
        mujoco.mj_step(self.model, self.data, FRAME_SKIP)
        z = float(self.data.qpos[2])
        cell = int(cell_of(self.data.qpos[:2]))
        terminated, reward = False, 0.0
        if not HEALTHY_Z[0] <= z <= HEALTHY_Z[1]:  # fell over or jumped
            terminated = True
        elif cell == OUTSIDE or cell == self.layout[NUM_COLOURS]:  # off the floor or into the wall
            terminated = True
        elif cell != self.cell and cell in self.layout[:NUM_COLOURS]:  # entered a pad
            colour, n = int(np.flatnonzero(self.layout[:NUM_COLOURS] == cell)[0]), len(self.visited)
            self.visited.append(colour)
            self.candidates = [task for task in self.candidates if len(task) > n and task[n] == colour]
            if not self.candidates:  # not the next colour of any task: failure
                terminated = True
            elif any(len(task) == n + 1 for task in self.candidates):  # completed: success
                terminated, reward = True, 1.0
        self.cell = cell
        self.t += 1
        truncated = not terminated and self.t >= self.max_steps
        return self._obs(), reward, terminated, truncated, self._info()

    def _obs(self) -> np.ndarray:
        return observe(self.data.qpos[None], self.data.qvel[None], self.layout[None])[0]

    def next_colours(self) -> set[int]:
        """Colours that may come next (one in single-task mode)."""
        n = len(self.visited)
        return {task[n] for task in self.candidates if len(task) > n}

    def _info(self) -> dict:
        nxt = self.next_colours()
        task = tuple(self.candidates) if self.episode_any_mode else self.task
        return {
            "subgoal": nxt.pop() if len(nxt) == 1 else -1,
            "progress": len(self.visited),
            "task": task,
            "cell": self.cell,
        }

    # ----------------------------------------------------------------- rendering (plumbing)
    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera="overview")
        return self._renderer.render()  # (H, W, 3) uint8

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


__all__ = ["AntPinpadEnv", "CELL", "HALF", "OBS_DIM"]
