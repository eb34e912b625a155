"""Environments: gridworld-pinpad and ant-pinpad, each a single Gymnasium env and its batched twin."""

from minirl.envs.ant import AntPinpadEnv
from minirl.envs.ant_batch import AntPinpadBatch
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.gridworld import GridPinpadEnv

__all__ = ["GridPinpadEnv", "GridPinpadBatch", "AntPinpadEnv", "AntPinpadBatch"]
