"""One dataclass config per stage; the CLI builds `--help` and its flags from these fields.

Each field carries its help text (`arg(default, "help")`). `__post_init__` validates ranges, so a bad value
fails at once with a message that names it, whether it came from the CLI, a test or a notebook.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from minirl.tasks import parse_task_set

ENVS = ("gridworld",)  # ant-pinpad arrives with its own issue


def arg(default, help: str):
    """A dataclass field with a help string for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help})


def check_env(env: str) -> None:
    if env not in ENVS:
        raise ValueError(f"unknown env {env!r}: expected one of {ENVS}")


def check_range(name: str, value, lo=None, hi=None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ValueError(f"{name} = {value!r} is out of range {bounds}")


@dataclass
class DataConfig:
    """Expert dataset generation (`minirl data`)."""

    env: str = arg("gridworld", "environment")
    task: str = arg("pretrain", "'pretrain' (16 tasks, one per episode), 'posttrain', or a task string like 0-1-4-5")
    episodes: int = arg(10_000, "number of expert episodes")
    epsilon: float = arg(0.0, "probability of replacing an expert action by a random non-failing one")
    seed: int = arg(0, "seed for layouts, tasks and the expert's tie-breaking")
    out: str = arg("", "output .npz file (default: runs/data/<env>-<task>-n<episodes>-eps<epsilon>-s<seed>.npz)")

    def __post_init__(self):
        check_env(self.env)
        parse_task_set(self.task)  # raises on a malformed task string
        check_range("episodes", self.episodes, 1)
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        if not self.out:
            self.out = f"runs/data/{self.env}-{self.task}-n{self.episodes}-eps{self.epsilon}-s{self.seed}.npz"
