"""Causal self-attention with relative-position biases ([P] §D.1, Tab. A16): the transformer's mixer.

    attn(x)_t = sum_{s<=t} softmax_s( q_t . k_s / sqrt(d_h) + bias_h[bucket(t - s)] ) v_s,   per head h

bucket(n) is T5's (Raffel et al. 2020) unidirectional bucketing: lags 0..15 get their own bucket, longer
lags share 16 logarithmically spaced ones up to 128 (32 buckets in all, [P] Tab. A16). There are no
absolute position embeddings: the model knows only how far back each step is.

Our choice where the paper is silent: the bias starts like ALiBi (Press et al. 2022), -slope_h * lag with
slopes 2^-2, 2^-4, ... per head, so from the first step some heads look at the recent past and others far
back. measurements.md: relative time biases were what let a small model learn the history-dependent part
of the task (which colour pair may follow which) on a CPU budget.

`step` decodes one time step with a KV cache, all B episodes in lockstep.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def t5_bucket(lag: torch.Tensor, num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """Lag t - s >= 0 -> bucket index in [0, num_buckets): exact below num_buckets/2, log-spaced above."""
    exact = num_buckets // 2
    lag = lag.clamp(min=0)
    log_ratio = torch.log(lag.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (num_buckets - exact)).long()).clamp(max=num_buckets - 1)
    return torch.where(lag < exact, lag, large)


class RelativePositionBias(nn.Module):
    """Learned bias per head and lag bucket; -inf on future keys (causality)."""

    def __init__(self, heads: int, num_buckets: int = 32, max_distance: int = 128):
        super().__init__()
        self.num_buckets, self.max_distance = num_buckets, max_distance
        # ALiBi-like init: bias = -slope_h * (a representative lag of each bucket)
        lags = torch.arange(4 * max_distance)
        buckets = t5_bucket(lags, num_buckets, max_distance)
        rep = torch.full((num_buckets,), float(4 * max_distance)).scatter_reduce_(0, buckets, lags.float(), "amin")
        slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1) / heads)  # (H,)
        self.bias = nn.Parameter(-slopes[:, None] * rep[None])  # (H, num_buckets)

    def forward(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """Positions (Tq,), (Tk,) -> additive attention bias (H, Tq, Tk)."""
        lag = q_pos[:, None] - k_pos[None, :]  # (Tq, Tk)
        bias = self.bias[:, t5_bucket(lag, self.num_buckets, self.max_distance)]  # (H, Tq, Tk)
        return bias.masked_fill(lag < 0, float("-inf"))


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention with relative-position biases. Cache for `step`: keys/values so far."""

    def __init__(self, d_model: int, heads: int, d_head: int, num_buckets: int = 32):
        super().__init__()
        self.heads, self.d_head = heads, d_head
        self.qkv = nn.Linear(d_model, 3 * heads * d_head)
        self.out = nn.Linear(heads * d_head, d_model)
        self.rel_bias = RelativePositionBias(heads, num_buckets)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q, k, v = self.qkv(x).chunk(3, -1)  # (B, T, H*dh) each
        return tuple(z.unflatten(-1, (self.heads, self.d_head)).transpose(1, 2) for z in (q, k, v))  # (B, H, T, dh)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T / sqrt(d_h) + bias) v: q (B, H, Tq, dh), k, v (B, H, Tk, dh), bias (H, Tq, Tk)."""
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.d_head)) + bias  # (B, H, Tq, Tk)
        return torch.softmax(att, -1) @ v  # (B, H, Tq, dh)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D)."""
        q, k, v = self._split(x)
        pos = torch.arange(x.shape[1], device=x.device)
        y = self.attend(q, k, v, self.rel_bias(pos, pos).to(q.dtype))  # (B, H, T, dh)
        return self.out(y.transpose(1, 2).flatten(2))

    def init_cache(self, batch: int, device: torch.device | str = "cpu") -> dict:
        empty = torch.zeros(batch, self.heads, 0, self.d_head, device=device)
        return {"k": empty, "v": empty.clone()}

    def step(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """One time step: x (B, D) -> (B, D), cache with this step's key and value appended."""
        q, k, v = self._split(x[:, None])  # (B, H, 1, dh)
        k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)  # (B, H, t+1, dh)
        t = k.shape[2] - 1
        bias = self.rel_bias(torch.tensor([t], device=x.device), torch.arange(t + 1, device=x.device))  # (H, 1, t+1)
        y = self.attend(q, k, v, bias.to(q.dtype))  # (B, H, 1, dh)
        return self.out(y.transpose(1, 2).flatten(2))[:, 0], {"k": k, "v": v}
