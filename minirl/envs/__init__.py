"""Environments: gridworld-pinpad (single + batched) and, later, ant-pinpad."""

from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.gridworld import GridPinpadEnv

__all__ = ["GridPinpadEnv", "GridPinpadBatch"]
