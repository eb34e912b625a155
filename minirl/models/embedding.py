"""Observation embeddings o_t -> e_{t,0}, the bottom of the residual stream ([P] §4.1 leaves their form open).

gridworld, `linear` (the paper's INFER default): Linear(637, D) on the one-hot observation. Because o_t
is one-hot with exactly one cell per object, this equals a sum of 13 rows of a (13 * 49, D) table:
    e_{t,0} = b + sum_k W[k, cell_k]                                 k = 8 colours, 4 walls, agent

gridworld, `relative` (our default; measurements.md): the same, plus for each of the 12 layout objects a
learned vector indexed by its offset from the agent,
    e_{t,0} += sum_{k<12} R[k, row_k - row_agent, col_k - col_agent]       R: (12, 13, 13, D)
It is still a learned function of the observation alone (a 13x13 convolution over the layout, read out
at the agent's cell), but "colour c is two up and one left of me" becomes linear in the input, which is
what a navigator needs. On 2 CPU cores it reached 0.80 optimal-action accuracy in 60 s against 0.66.

ant: a linear layer on the observation vector.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from minirl.envs.grid_core import AGENT, NUM_CELLS, NUM_OBJECTS, OBS_DIM, G


class GridEmbedding(nn.Module):
    """(B, T, 13) object cells -> (B, T, D)."""

    def __init__(self, d_model: int, relative: bool, init_scale: float = 0.1):
        super().__init__()
        self.relative = relative
        std = math.sqrt(init_scale / OBS_DIM)  # as a fan-in-scaled Linear(637, D) would be
        self.table = nn.Embedding(NUM_OBJECTS * NUM_CELLS, d_model)  # W: one row per (object, cell)
        nn.init.trunc_normal_(self.table.weight, std=std, a=-2 * std, b=2 * std)
        self.bias = nn.Parameter(torch.zeros(d_model))
        if relative:
            self.rel_table = nn.Embedding(AGENT * (2 * G - 1) ** 2, d_model)  # R: (12 objects x 13 x 13 offsets)
            nn.init.trunc_normal_(self.rel_table.weight, std=std, a=-2 * std, b=2 * std)
        self.register_buffer("obj_offset", torch.arange(NUM_OBJECTS) * NUM_CELLS, persistent=False)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        e = self.table(cells + self.obj_offset).sum(-2) + self.bias  # (B, T, D)
        if self.relative:
            row, col = cells // G, cells % G  # (B, T, 13)
            d_row = row[..., :AGENT] - row[..., AGENT:] + G - 1  # (B, T, 12) in 0..12
            d_col = col[..., :AGENT] - col[..., AGENT:] + G - 1
            idx = (torch.arange(AGENT, device=cells.device) * (2 * G - 1) + d_row) * (2 * G - 1) + d_col
            e = e + self.rel_table(idx).sum(-2)
        return e


class VectorEmbedding(nn.Module):
    """(B, T, obs_dim) float observations -> (B, T, D)."""

    def __init__(self, obs_dim: int, d_model: int):
        super().__init__()
        self.proj = nn.Linear(obs_dim, d_model)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.proj(obs)
