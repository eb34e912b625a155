"""gridworld-pinpad, the single-episode Gymnasium env ([P] §A.1). Reference semantics for `GridPinpadBatch`."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from minirl.envs.grid_core import (
    ACTION_NAMES,
    MAX_STEPS,
    NEXT,
    NUM_COLOURS,
    NUM_OBJECTS,
    OBS_DIM,
    G,
    layout_grid,
    one_hot,
    render_ansi,
    render_rgb,
    sample_episodes,
)  # fmt: skip
from minirl.tasks import GRID_PRETRAIN_TASKS, Task, grid_subgoal, parse_task_set


def resolve_tasks(task, task_set) -> tuple[tuple[Task, ...], bool]:
    """(table of tasks, any_mode).

    `task`: one task, or several ('pretrain', '0-1-4-5,2-3-0-1', a list) of which each episode draws one;
    None means the 16 pretraining tasks. `task_set`: tasks of which completing *any* is success.
    """
    if task is not None and task_set is not None:
        raise ValueError("give either `task` or `task_set`, not both")
    if task_set is not None:
        return parse_task_set(task_set, NUM_COLOURS), True
    return (GRID_PRETRAIN_TASKS if task is None else parse_task_set(task, NUM_COLOURS)), False


class GridPinpadEnv(gym.Env):
    """Visit coloured cells of a 7x7 grid in a task's order.

    ## Description
    8 uniquely coloured cells, 4 walls and the agent are placed on a 7x7 grid without overlap; the layout
    is always solvable. A *task* is a sequence of colours; a colour counts as visited when the agent moves
    onto it from another cell. The observation shows the layout and the agent, never the task.

    ## Action Space
    `Discrete(4)`: 0 up, 1 right, 2 down, 3 left. Moving into a wall or off the grid leaves the agent in place.

    ## Observation Space
    `Box(0, 1, (637,), float32)`, a one-hot per cell and object, cell-major:

    | index                  | meaning                              |
    |------------------------|--------------------------------------|
    | `13 * cell + k`, k<8   | colour k is in `cell` (= row*7+col)  |
    | `13 * cell + 8 + w`    | wall w is in `cell`                  |
    | `13 * cell + 12`       | the agent is in `cell`               |

    ## Rewards
    1 on completing the task, 0 otherwise.

    ## Starting State
    13 distinct cells drawn uniformly, redrawn until solvable (see `grid_core.solvable`); with several tasks
    one is drawn uniformly. Both are a function of the episode seed: `reset(seed=s)` uses s, a reset without a
    seed draws one from `np_random` (`grid_core.sample_episodes`).

    ## Episode End
    Terminated on success or on visiting a colour that is not next. Truncated after 100 steps.

    ## Arguments
    - `task`: a task ("0-1-4-5" or a tuple) pursued every episode, or several ("pretrain", a list) of which each
      episode draws one uniformly. Default: the 16 pretraining tasks.
    - `task_set`: a collection of tasks (or "pretrain"): success when the visited colours complete *any* of them,
      failure as soon as they are a prefix of none. This judges a model that picks its own task.
    - `render_mode`: "rgb_array" or "ansi".
    `reset(options={"task": ...})` or `{"task_set": ...}` overrides the task for that episode only.

    `info`: `subgoal` (0..3, the colour pair of the next colour; -1 if the task set leaves it open),
    `progress` (colours visited so far) and `task` (the task, or the tasks still possible in set mode).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, task=None, task_set=None, render_mode: str | None = None, max_steps: int = MAX_STEPS):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} not in {self.metadata['render_modes']}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.tasks, self.any_mode = resolve_tasks(task, task_set)
        self.render_mode, self.max_steps = render_mode, max_steps
        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Box(0.0, 1.0, (OBS_DIM,), np.float32)

    # ----------------------------------------------------------------- episode logic
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        tasks, any_mode = self.tasks, self.any_mode
        if "task" in options or "task_set" in options:
            tasks, any_mode = resolve_tasks(options.get("task"), options.get("task_set"))
        # the episode is a pure function of its seed: the given one, else a draw from np_random
        episode_seed = seed if seed is not None else int(self.np_random.integers(0, 2**63 - 1))
        layouts, agents, task_draw = sample_episodes(np.array([episode_seed]), len(tasks))
        self.layout, self.agent = layouts[0], int(agents[0])
        self.grid = layout_grid(layouts)[0]  # (49,) EMPTY / colour / wall id per cell
        if any_mode:
            self.candidates = list(tasks)  # tasks still consistent with what was visited
        else:
            self.candidates = [tasks[int(task_draw[0])]]
        self.task = self.candidates[0] if not any_mode else tuple(tasks)
        self.episode_any_mode = any_mode
        self.visited: list[int] = []
        self.t = 0
        return self._obs(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside the action space Discrete(4)")
        nxt = int(NEXT[self.agent, int(action)])
        if self.grid[nxt] >= NUM_COLOURS:  # a wall: no-op
            nxt = self.agent
        moved, self.agent = nxt != self.agent, nxt
        terminated, reward = False, 0.0
        colour = int(self.grid[nxt])
        if moved and 0 <= colour < NUM_COLOURS:  # visiting a colour
            n = len(self.visited)
            self.visited.append(colour)
            self.candidates = [task for task in self.candidates if len(task) > n and task[n] == colour]
            if not self.candidates:  # not the next colour of any task: failure
                terminated = True
            elif any(len(task) == n + 1 for task in self.candidates):  # completed: success
                terminated, reward = True, 1.0
        self.t += 1
        truncated = not terminated and self.t >= self.max_steps
        return self._obs(), reward, terminated, truncated, self._info()

    def _obs(self) -> np.ndarray:
        return one_hot(np.append(self.layout, self.agent))

    def next_colours(self) -> set[int]:
        """Colours that may come next (one in single-task mode)."""
        n = len(self.visited)
        return {task[n] for task in self.candidates if len(task) > n}

    def _info(self) -> dict:
        subgoals = {grid_subgoal(c) for c in self.next_colours()}
        task = tuple(self.candidates) if self.episode_any_mode else self.task
        return {"subgoal": subgoals.pop() if len(subgoals) == 1 else -1, "progress": len(self.visited), "task": task}

    # ----------------------------------------------------------------- rendering
    def render(self):
        visited = np.isin(np.arange(NUM_COLOURS), self.visited)
        if self.render_mode == "rgb_array":
            return render_rgb(self.layout, self.agent, visited)
        if self.render_mode == "ansi":
            return render_ansi(self.layout, self.agent, visited)
        return None


__all__ = ["GridPinpadEnv", "ACTION_NAMES", "G", "NUM_OBJECTS", "OBS_DIM"]
