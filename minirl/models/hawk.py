"""Hawk's recurrent mixer: the RG-LRU with its gates, a short causal convolution and a gated branch
(De et al. 2024, "Griffin"; [P] §D.1.1). Used by the ant base model, the metacontroller's sequence
embedder and the internal-RL policy.

Per time step, on the normed input x_t (D):
    y_t  = GeLU(W_y x_t)                                    gated branch           (D_rnn)
    u_t  = Conv1D_4(W_x x)_t                                 causal depthwise conv  (D_rnn)
    r_t  = sigma(W_a u_t + b_a),  i_t = sigma(W_i u_t + b_i) block-diagonal gates, one block per head
    log a_t = -c * r_t * softplus(Lambda),   c = 8          a_t in (0, 1)
    h_t  = a_t * h_{t-1} + sqrt(1 - a_t^2) * (i_t * u_t)    the RG-LRU
    out  = W_out (h_t * y_t)                                                        (D)

The recurrence h_t = a_t h_{t-1} + b_t is computed over a whole sequence with `linear_scan`, a parallel
prefix (Hillis-Steele) in log2(T) vectorised steps; `step` runs it one step at a time for rollouts, and
the tests check that both agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t along dim 1, for a, b (B, T, D) and h_{0} = h0 (B, D) or 0. Returns h (B, T, D).

    Parallel prefix over the associative operator (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2): after the step
    with offset k, position t holds the composition of steps t-2k+1..t.
    """
    if h0 is not None:
        b = torch.cat([b[:, :1] + a[:, :1] * h0[:, None], b[:, 1:]], 1)
    T, k = a.shape[1], 1
    while k < T:
        b = torch.cat([b[:, :k], b[:, k:] + a[:, k:] * b[:, :-k]], 1)
        a = torch.cat([a[:, :k], a[:, k:] * a[:, :-k]], 1)
        k *= 2
    return b


class BlockDiagonalLinear(nn.Module):
    """x (..., H * d) -> (..., H * d) with one (d x d) matrix per head, plus a bias (the RG-LRU gates)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"RG-LRU width {width} is not divisible by its {heads} heads")
        self.heads, d = heads, width // heads
        self.weight = nn.Parameter(torch.randn(heads, d, d) / math.sqrt(d))
        self.bias = nn.Parameter(torch.zeros(heads, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unflatten(-1, (self.heads, -1))  # (..., H, d)
        return (torch.einsum("...hi,hij->...hj", x, self.weight) + self.bias).flatten(-2)


class HawkMixer(nn.Module):
    """The Hawk temporal-mixing block: D -> D, causal. Cache for `step`: (last conv_width-1 inputs, h)."""

    c = 8.0  # the RG-LRU's fixed exponent scale

    def __init__(self, d_model: int, d_rnn: int, heads: int, conv_width: int = 4):
        super().__init__()
        self.d_rnn, self.conv_width = d_rnn, conv_width
        self.in_y = nn.Linear(d_model, d_rnn)
        self.in_x = nn.Linear(d_model, d_rnn)
        self.conv = nn.Conv1d(d_rnn, d_rnn, conv_width, groups=d_rnn)  # depthwise, made causal by left padding
        self.gate_a = BlockDiagonalLinear(d_rnn, heads)
        self.gate_i = BlockDiagonalLinear(d_rnn, heads)
        # Lambda so that a^c = exp(-c softplus(Lambda)) is uniform in [0.9, 0.999] at init (Griffin)
        a_c = torch.empty(d_rnn).uniform_(0.9, 0.999)
        self.Lambda = nn.Parameter(torch.log(torch.expm1(-torch.log(a_c) / self.c)))  # softplus^{-1}
        self.out = nn.Linear(d_rnn, d_model)

    def _gates(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """u (..., D_rnn) -> (a_t, b_t) of the recurrence h_t = a_t h_{t-1} + b_t."""
        r, i = torch.sigmoid(self.gate_a(u)), torch.sigmoid(self.gate_i(u))
        log_a = -self.c * r * F.softplus(self.Lambda)  # (..., D_rnn)
        a = torch.exp(log_a)
        return a, torch.sqrt(1 - torch.exp(2 * log_a) + 1e-12) * (i * u)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) -> (B, T, D)."""
        y = F.gelu(self.in_y(x))  # (B, T, D_rnn)
        u = self.in_x(x).transpose(1, 2)  # (B, D_rnn, T)
        u = self.conv(F.pad(u, (self.conv_width - 1, 0))).transpose(1, 2)  # (B, T, D_rnn) causal conv
        a, b = self._gates(u)
        h = linear_scan(a, b)  # (B, T, D_rnn)
        return self.out(h * y)

    def init_cache(self, batch: int, device: torch.device | str = "cpu") -> dict:
        return {
            "conv": torch.zeros(batch, self.d_rnn, self.conv_width - 1, device=device),
            "h": torch.zeros(batch, self.d_rnn, device=device),
        }

    def step(self, x: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """One time step: x (B, D) -> (B, D), updated cache."""
        y = F.gelu(self.in_y(x))  # (B, D_rnn)
        window = torch.cat([cache["conv"], self.in_x(x)[..., None]], -1)  # (B, D_rnn, conv_width)
        u = (window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias  # (B, D_rnn)
        a, b = self._gates(u)
        h = a * cache["h"] + b
        return self.out(h * y), {"conv": window[..., 1:], "h": h}
