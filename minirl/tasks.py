"""Task tables, subgoal definitions and the task-string parser ([P] §A.1-A.2, Tab. A1-A2).

A *task* is a tuple of colours to visit in order. A *subgoal* (the paper's "abstract action") is
    gridworld-pinpad: a pair of consecutive colours 0-1, 2-3, 4-5, 6-7  -> subgoal = colour // 2 (4 subgoals)
    ant-pinpad:       a single colour 0..3                               -> subgoal = colour      (4 subgoals)

Pretraining tasks are 3 subgoals long and use only 8 of the 12 possible subgoal transitions; the
post-training task is longer and uses only the other 4 (`subgoal_transitions` shows it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

Task = tuple[int, ...]

MAX_TASK_LEN = 32  # longer tasks cannot be finished in 100 grid steps; a guard against typos

# Table A1: 16 tasks, each 3 subgoals = 6 colours.
GRID_PRETRAIN_TASKS: tuple[Task, ...] = (
    (0, 1, 4, 5, 0, 1), (0, 1, 4, 5, 2, 3), (0, 1, 6, 7, 2, 3), (2, 3, 0, 1, 4, 5),
    (2, 3, 6, 7, 2, 3), (2, 3, 6, 7, 4, 5), (4, 5, 0, 1, 4, 5), (4, 5, 0, 1, 6, 7),
    (4, 5, 2, 3, 6, 7), (6, 7, 2, 3, 0, 1), (6, 7, 2, 3, 6, 7), (6, 7, 4, 5, 0, 1),
    (0, 1, 6, 7, 4, 5), (2, 3, 0, 1, 6, 7), (4, 5, 2, 3, 0, 1), (6, 7, 4, 5, 2, 3),
)  # fmt: skip
GRID_POSTTRAIN_TASK: Task = (0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3)

# Table A2: 16 tasks of 3 colours.
ANT_PRETRAIN_TASKS: tuple[Task, ...] = (
    (0, 3, 2), (1, 0, 3), (2, 1, 0), (3, 2, 1), (0, 2, 0), (0, 2, 1), (0, 3, 1), (1, 0, 2),
    (1, 3, 1), (1, 3, 2), (2, 0, 2), (2, 0, 3), (2, 1, 3), (3, 1, 0), (3, 1, 3), (3, 2, 0),
)  # fmt: skip
ANT_POSTTRAIN_TASK: Task = (0, 1, 2, 3)

GRID_NUM_COLOURS = 8
ANT_NUM_COLOURS = 4
GRID_NUM_SUBGOALS = 4
ANT_NUM_SUBGOALS = 4


def grid_subgoal(colour: int) -> int:
    """Gridworld subgoal of a colour: the pair (0-1, 2-3, 4-5, 6-7) it belongs to."""
    return colour // 2


def ant_subgoal(colour: int) -> int:
    """Ant subgoal of a colour: the colour itself."""
    return colour


def subgoal_sequence(task: Sequence[int], env: str = "gridworld") -> Task:
    """The task as a sequence of subgoals, e.g. (0,1,4,5,2,3) -> (0,2,1) for the gridworld."""
    if env == "gridworld":
        if len(task) % 2 or any(task[i] // 2 != task[i + 1] // 2 or task[i] % 2 for i in range(0, len(task), 2)):
            raise ValueError(f"gridworld task {format_task(task)} is not a sequence of colour pairs 0-1, 2-3, 4-5, 6-7")
        return tuple(task[i] // 2 for i in range(0, len(task), 2))
    if env == "ant":
        return tuple(task)
    raise ValueError(f"unknown env {env!r}: expected 'gridworld' or 'ant'")


def subgoal_transitions(tasks: Iterable[Sequence[int]], env: str = "gridworld") -> Counter:
    """How often each subgoal transition (g -> g') occurs in a collection of tasks."""
    counts: Counter = Counter()
    for task in tasks:
        seq = subgoal_sequence(task, env)
        counts.update(zip(seq[:-1], seq[1:]))
    return counts


def format_task(task: Sequence[int]) -> str:
    """(0, 1, 4, 5) -> '0-1-4-5'."""
    return "-".join(str(c) for c in task)


def parse_task(spec: str | Sequence[int], num_colours: int = GRID_NUM_COLOURS) -> Task:
    """Parse '0-1-4-5-2-3' (or a sequence of ints) into a task tuple, rejecting malformed input.

    >>> parse_task("0-1-4-5")
    (0, 1, 4, 5)
    """
    if isinstance(spec, str):
        parts = spec.strip().split("-")
        if not spec.strip() or any(not p.strip().isdecimal() for p in parts):  # isdigit() lets "²" through to int()
            raise ValueError(
                f"malformed task string {spec!r}: expected colours 0..{num_colours - 1} joined by '-', e.g. '0-1-4-5'"
            )
        task = tuple(int(p) for p in parts)
    else:
        try:
            task = tuple(int(c) for c in spec)
        except (TypeError, ValueError):
            raise ValueError(f"malformed task {spec!r}: expected a sequence of colour indices") from None
        if any(int(c) != c for c in spec):
            raise ValueError(f"malformed task {spec!r}: colours must be integers")
    if not task:
        raise ValueError("empty task: a task needs at least one colour")
    if len(task) > MAX_TASK_LEN:
        raise ValueError(f"task {format_task(task)} has {len(task)} colours; at most {MAX_TASK_LEN} are supported")
    bad = [c for c in task if not 0 <= c < num_colours]
    if bad:
        raise ValueError(f"task {format_task(task)} has colour(s) {bad} outside 0..{num_colours - 1}")
    return task


def parse_task_set(spec: str | Sequence, num_colours: int | None = None, env: str = "gridworld") -> tuple[Task, ...]:
    """Parse one or several tasks into a tuple of tasks.

    `spec` is 'pretrain', 'posttrain', a task string '0-1-4-5', a comma-separated list of task strings,
    one task as a sequence of ints, or a sequence of tasks (strings or sequences of ints). Colours are
    checked against `num_colours`, by default `env`'s (8 gridworld, 4 ant).
    """
    if num_colours is None:
        num_colours = GRID_NUM_COLOURS if env == "gridworld" else ANT_NUM_COLOURS
    if isinstance(spec, str):
        key = spec.strip()
        if key == "pretrain":
            return GRID_PRETRAIN_TASKS if env == "gridworld" else ANT_PRETRAIN_TASKS
        if key == "posttrain":
            return (GRID_POSTTRAIN_TASK,) if env == "gridworld" else (ANT_POSTTRAIN_TASK,)
        parts = key.split(",")
        if len(parts) == 1:
            return (parse_task(key, num_colours),)
        try:
            return tuple(parse_task(s, num_colours) for s in parts)
        except ValueError as e:  # name the whole list, not just the bad piece (which may be '')
            raise ValueError(f"malformed task list {spec!r}: {e}") from None
    spec = list(spec)
    if not spec:
        raise ValueError("empty task set: give at least one task")
    if all(isinstance(c, (int, np.integer)) for c in spec):  # a single task given as ints
        return (parse_task(spec, num_colours),)
    return tuple(parse_task(t, num_colours) for t in spec)
