"""The base sequence model f_theta and the residual-stream interface every later stage uses ([P] §4, §D.1).

    e_{t,0} = embed(o_t)                                  (B, T, D)   the residual stream at layer 0
    e_{t,l} = e_{t,l-1} + mixer(norm(e_{t,l-1}))           pre-norm block l = 1..L: attention or Hawk ...
            (then)  + MLP(norm(.))                         ... followed by a ReLU MLP
    p(a_t | o_{1:t}) = head_a(norm(e_{t,L}))               categorical (grid) or diagonal Gaussian (ant)
    p(o_{t+1} | o_{1:t}) = head_o(norm(e_{t,L}))            the lambda term of the pretraining loss
                                                           (grid: a categorical per object; ant: a Gaussian)
Inputs are observations only: past actions are not fed back ([P] Alg. 1-2).

The interface (probes, controllers, the metacontroller and internal RL use nothing else):
    lower(obs, l)        -> e_l (B, T, D)            embedding and blocks 1..l
    upper(e_l, l, U)     -> heads                    e_l <- e_l + U_t e_l (control.py), blocks l+1..L, heads
    residuals(obs)       -> [e_0, ..., e_L]          for the probes
    init_state(B) / step_lower(o_t, state, l) / step_upper(e_t, state, l, U_t)
                         the same, one time step at a time with KV caches / recurrent states, B episodes
                         in lockstep; equal to the full-sequence pass (tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.config import ModelConfig
from minirl.control import Controller, apply_controller
from minirl.envs.ant_core import ACTION_DIM as ANT_ACTION_DIM
from minirl.envs.ant_core import OBS_DIM as ANT_OBS_DIM
from minirl.envs.grid_core import NUM_CELLS, NUM_OBJECTS
from minirl.models.embedding import GridEmbedding, VectorEmbedding
from minirl.models.hawk import HawkMixer
from minirl.models.transformer import CausalSelfAttention


class Block(nn.Module):
    """Pre-norm residual block: x + mixer(norm(x)), then + MLP(norm(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        if cfg.arch == "transformer":
            self.mixer = CausalSelfAttention(d, cfg.n_heads, cfg.d_head)
        else:
            self.mixer = HawkMixer(d, cfg.d_rnn, cfg.n_heads)
        self.mlp = nn.Sequential(nn.Linear(d, cfg.d_mlp), nn.ReLU(), nn.Linear(cfg.d_mlp, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.mlp(self.norm2(x))

    def step(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        y, cache = self.mixer.step(self.norm1(x), cache)
        x = x + y
        return x + self.mlp(self.norm2(x)), cache


LOG_STD_RANGE = (-5.0, 2.0)  # the ant's Gaussian heads: std between 0.007 and 7.4


class SequenceModel(nn.Module):
    """Causal model of expert behaviour: gridworld object cells (B, T, 13) -> 4 action logits, or ant
    observations (B, T, 41) -> a diagonal Gaussian over 8 torques (`cfg.env`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.continuous = cfg.env == "ant"
        if self.continuous:
            self.num_actions = ANT_ACTION_DIM
            self.embed = VectorEmbedding(ANT_OBS_DIM, cfg.d_model)
            self.action_head = nn.Linear(cfg.d_model, 2 * ANT_ACTION_DIM)  # mean and log-std per torque
            self.obs_head = nn.Linear(cfg.d_model, 2 * ANT_OBS_DIM)  # mean and log-std of o_{t+1}
        else:
            self.num_actions = 4
            self.embed = GridEmbedding(cfg.d_model, cfg.obs_embedding == "relative", cfg.init_scale)
            self.action_head = nn.Linear(cfg.d_model, self.num_actions)
            self.obs_head = nn.Linear(cfg.d_model, NUM_OBJECTS * NUM_CELLS)  # per object: logits over its next cell
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        for name, p in self.named_parameters():  # variance scaling (fan-in) of all linear weights ([P] Tab. A16)
            if p.dim() == 2 and name.endswith("weight") and ("embed" not in name or self.continuous):
                std = math.sqrt(cfg.init_scale / p.shape[1])
                nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
            elif name.endswith(".bias") and p.dim() == 1 and "norm" not in name and "gate" not in name:
                nn.init.zeros_(p)

    @property
    def n_layers(self) -> int:
        return self.cfg.n_layers

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer <= self.n_layers:
            raise ValueError(f"layer {layer} is outside 0..{self.n_layers}")

    # ------------------------------------------------------------------ full sequences
    def lower(self, obs: torch.Tensor, layer: int) -> torch.Tensor:
        """obs (B, T, 13) -> e_{1:T, layer} (B, T, D): the embedding, then blocks 1..layer."""
        self._check_layer(layer)
        e = self.embed(obs)
        for block in self.blocks[:layer]:
            e = block(e)
        return e

    def upper(self, e: torch.Tensor, layer: int, U: Controller | None = None) -> dict[str, torch.Tensor]:
        """e_{1:T, layer} (B, T, D) -> heads, after the controller e + U_t e and blocks layer+1..L."""
        self._check_layer(layer)
        e = apply_controller(e, U)
        for block in self.blocks[layer:]:
            e = block(e)
        return self.heads(e)

    def forward(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.upper(self.lower(obs, 0), 0)

    def residuals(self, obs: torch.Tensor) -> list[torch.Tensor]:
        """[e_0, e_1, ..., e_L], each (B, T, D)."""
        es = [self.embed(obs)]
        for block in self.blocks:
            es.append(block(es[-1]))
        return es

    def heads(self, e_L: torch.Tensor) -> dict[str, torch.Tensor]:
        """Action logits (..., 4), or the ant's Gaussian `action_mean`, `action_log_std` (..., 8); and the normed
        final residual `h` that `obs_nll` reads (its head runs only if used)."""
        h = self.norm(e_L)
        out = self.action_head(h)
        if self.continuous:
            mean, log_std = out.chunk(2, -1)
            return {"action_mean": mean, "action_log_std": log_std.clamp(*LOG_STD_RANGE), "h": h}
        return {"action_logits": out, "h": h}

    # ------------------------------------------------------------------ one step at a time (rollouts)
    def init_state(self, batch: int, device: torch.device | str = "cpu") -> list[dict]:
        """Per-block caches for B episodes starting together."""
        return [block.mixer.init_cache(batch, device) for block in self.blocks]

    def step_lower(self, obs: torch.Tensor, state: list[dict], layer: int) -> torch.Tensor:
        """obs o_t (B, 13) -> e_{t, layer} (B, D); advances the caches of blocks 1..layer in `state`."""
        self._check_layer(layer)
        e = self.embed(obs)
        for i in range(layer):
            e, state[i] = self.blocks[i].step(e, state[i])
        return e

    def step_upper(self, e: torch.Tensor, state: list[dict], layer: int, U: Controller | None = None) -> dict:
        """e_{t, layer} (B, D) -> heads for step t; advances the caches of blocks layer+1..L."""
        self._check_layer(layer)
        e = apply_controller(e, U)
        for i in range(layer, self.n_layers):
            e, state[i] = self.blocks[i].step(e, state[i])
        return self.heads(e)

    # ------------------------------------------------------------------ likelihoods
    @staticmethod
    def action_nll(heads: dict, actions: torch.Tensor) -> torch.Tensor:
        """-log p(a_t | o_{1:t}) per step, (B, T): categorical (grid, actions (B, T)) or Gaussian (ant, (B, T, 8))."""
        if "action_mean" in heads:
            return gaussian_nll(heads["action_mean"], heads["action_log_std"], actions)
        logits = heads["action_logits"]
        return F.cross_entropy(logits.flatten(0, -2), actions.flatten(), reduction="none").view(actions.shape)

    def obs_nll(self, heads: dict, next_obs: torch.Tensor) -> torch.Tensor:
        """-log p(o_{t+1} | o_{1:t}) per step, (B, T): one categorical over cells per object (grid, exact for the
        one-hot), or a diagonal Gaussian over the 41 numbers (ant)."""
        if self.continuous:
            mean, log_std = self.obs_head(heads["h"]).chunk(2, -1)  # (B, T, 41) each
            if self.cfg.obs_std > 0:  # fixed variance: lambda * obs_nll is a scaled squared error, bounded below
                log_std = torch.full_like(mean, math.log(self.cfg.obs_std))
            return gaussian_nll(mean, log_std.clamp(*LOG_STD_RANGE), next_obs)
        logits = self.obs_head(heads["h"]).unflatten(-1, (NUM_OBJECTS, NUM_CELLS))  # (B, T, 13, 49)
        nll = F.cross_entropy(logits.flatten(0, -2), next_obs.flatten(), reduction="none")
        return nll.view(next_obs.shape).sum(-1)


def gaussian_nll(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, diag(exp(log_std))^2), summed over the last dimension: (..., k) -> (...)."""
    z = (x - mean) * torch.exp(-log_std)
    return (0.5 * z.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)
