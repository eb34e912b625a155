"""What both batched pinpad envs share: which task each episode pursues, and where episode seeds come from.

A task table holds K tasks (padded with -1). `consistent[b, k]` says task k still matches the colours episode b
has visited: single-task mode starts it one-hot at the drawn task, task-set mode ("complete any of these")
starts it all-true. Visiting a colour keeps the tasks whose next colour it is; none left is failure, one
completed is success. The single-episode envs keep a plain list of candidate tasks instead (the reference).
"""

from __future__ import annotations

import numpy as np

from minirl.tasks import Task


class TaskTracker:
    """Task progress of B episodes over a table of tasks."""

    def __init__(self, num_envs: int, tasks: tuple[Task, ...], any_mode: bool, num_colours: int):
        self.tasks, self.any_mode, self.num_colours = tasks, any_mode, num_colours
        lengths = np.array([len(t) for t in tasks])
        self.table = np.full((len(tasks), lengths.max() + 1), -1, dtype=np.int64)  # (K, Lmax+1), -1 pad
        for k, t in enumerate(tasks):
            self.table[k, : len(t)] = t
        self.lengths = lengths  # (K,)
        self.consistent = np.zeros((num_envs, len(tasks)), dtype=bool)  # (B, K)
        self.task_index = np.full(num_envs, -1, dtype=np.int64)  # (B,) the drawn task; -1 in set mode
        self.progress = np.zeros(num_envs, dtype=np.int64)  # (B,) colours visited so far

    def start(self, idx: np.ndarray, task_draw: np.ndarray) -> None:
        """Restart episodes `idx`; `task_draw` (n,) picks their task in single-task mode."""
        self.progress[idx] = 0
        if self.any_mode:  # every task is possible until the visits rule it out
            self.consistent[idx] = True
            self.task_index[idx] = -1
        else:
            self.consistent[idx] = False
            self.consistent[idx, task_draw] = True
            self.task_index[idx] = task_draw

    def visit(self, visit: np.ndarray, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Episodes where `visit` (B,) entered a cell of `colour` (B,): returns (failed, succeeded), both (B,)."""
        n = self.progress
        wanted = self.table[:, np.minimum(n, self.table.shape[1] - 1)].T  # (B, K) each task's next colour
        match = self.consistent & (wanted == colour[:, None])  # (B, K)
        self.consistent = np.where(visit[:, None], match, self.consistent)
        failed = visit & ~match.any(1)
        succeeded = visit & (match & (self.lengths[None] == n[:, None] + 1)).any(1)
        self.progress = n + visit
        return failed, succeeded

    def next_colours(self) -> np.ndarray:
        """(B, K) colour each consistent task wants next, -1 elsewhere."""
        idx = np.minimum(self.progress, self.table.shape[1] - 1)  # (B,)
        return np.where(self.consistent, self.table[:, idx].T, -1)

    def target(self) -> np.ndarray:
        """(B,) the next colour if it is determined (always in single-task mode), else -1."""
        if not self.any_mode:  # one task per episode: a gather (the table's last column is -1 padding)
            B = np.arange(len(self.progress))
            nxt = self.table[self.task_index, np.minimum(self.progress, self.table.shape[1] - 1)]
            return np.where(self.consistent[B, self.task_index], nxt, -1)  # -1 after a failure
        return unique_or_minus_one(self.next_colours())


def unique_or_minus_one(values: np.ndarray) -> np.ndarray:
    """(B, K) with -1 for 'none' -> (B,): the value if all non-negative entries agree (and there is one), else -1."""
    hi = values.max(1)
    lo = np.where(values >= 0, values, np.iinfo(np.int64).max).min(1)
    return np.where((hi == lo) & (hi >= 0), hi, -1)


def episode_seeds(np_random: np.random.Generator, idx: np.ndarray, seeds) -> np.ndarray:
    """Seeds for (re)starting episodes `idx`: the given ones, checked, or fresh draws from `np_random`."""
    if seeds is None:
        seeds = np_random.integers(0, 2**63 - 1, size=len(idx))
    seeds = np.asarray(seeds, dtype=np.int64)
    if seeds.shape != idx.shape:
        raise ValueError(f"seeds must have shape {idx.shape}, got {seeds.shape}")
    if (seeds < 0).any():
        raise ValueError(f"seeds must be non-negative, got {seeds[seeds < 0][0]}")
    return seeds


class TaskViews:
    """What both batched envs build on their `tracker`, `_start`, `obs()` and `subgoal()`: task-progress views,
    `info()`, and restarting the finished slots."""

    tracker: TaskTracker

    def reset_done(self, seeds=None):
        """Start new episodes in the finished slots only (an explicit autoreset, for throughput loops)."""
        self._start(np.flatnonzero(self.done), seeds)
        return self.obs(), self.info()

    @property
    def progress(self) -> np.ndarray:
        """(B,) colours visited so far."""
        return self.tracker.progress

    @property
    def task_index(self) -> np.ndarray:
        """(B,) index of each episode's task in `tasks` (-1 in task-set mode)."""
        return self.tracker.task_index

    @property
    def consistent(self) -> np.ndarray:
        """(B, K) which tasks still match what each episode visited."""
        return self.tracker.consistent

    def next_colours(self) -> np.ndarray:
        """(B, K) colour each consistent task wants next, -1 elsewhere."""
        return self.tracker.next_colours()

    def target(self) -> np.ndarray:
        """(B,) the next colour if it is determined (always in single-task mode), else -1."""
        return self.tracker.target()

    def info(self) -> dict:
        return {"subgoal": self.subgoal(), "progress": self.progress.copy(), "task_index": self.task_index.copy()}
