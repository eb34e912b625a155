"""Internal RL's environment and policy: act in the metacontroller's latent space, only at switch times ([P] §7.1).

The frozen base model, the metacontroller's switching unit (with its GRU) and its hypernetwork become part
of the environment; the non-causal encoder is replaced by a causal policy pi(z | e). One abstract step
([P] Alg. 1) holds a code z until the switching unit fires:

    repeat (raw steps, B episodes in lockstep):
        e_t = base.step_lower(o_t)                          residual at layer l
        beta_t = f_switch(e_t, h_{t-1}, z_{t-1})            causal; t = 0 always decides ([P] Alg. 2)
        if beta_t > 0.5:  z ~ pi(. | e at this and earlier decision points)   the agent acts
        U_t = f_hyp(z);  a_t ~ p_theta(a | e_t + U_t e_t, ...);  o_{t+1}, r_t = env.step(a_t)
        h_t = GRU(e_t, h_{t-1})

This is `rollout.rollout` with `LatentActions` as its controller chooser: episodes reach their switch
times at different raw steps, so the policy runs on the subset that decides at each step, and its
recurrent state advances on the abstract timescale only. The reward is the episode's success, so the
return of an episode is what the batch-normalised advantage needs (summing rewards within abstract
steps changes nothing for a terminal-only reward).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from minirl.config import ModelConfig
from minirl.metacontroller import Metacontroller


class LatentPolicy(nn.Module):
    """pi(z | e_{decision points}): LayerNorm, Linear(D -> W), one Hawk block (width W), a Gaussian over z.

    The paper: a 1-layer Hawk, width 256 ([P] §D.3). The mean head starts at zero and the log-std at 0, so
    the initial policy is exactly the prior N(0, I) and early exploration is prior sampling (INFER, [P]
    Fig. A5). The log-std is a learned state-independent vector.
    """

    def __init__(self, d_model: int, n_z: int, width: int = 256, heads: int = 4):
        super().__init__()
        from minirl.models.sequence_model import Block

        self.norm, self.inp = nn.LayerNorm(d_model), nn.Linear(d_model, width)
        self.block = Block(ModelConfig(arch="hawk", n_layers=1, d_model=width, n_heads=heads, d_rnn=width,
                                       d_mlp=2 * width))  # fmt: skip
        self.out_norm, self.mean = nn.LayerNorm(width), nn.Linear(width, n_z)
        nn.init.zeros_(self.mean.weight), nn.init.zeros_(self.mean.bias)
        self.log_std = nn.Parameter(torch.zeros(n_z))

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """e (B, M, D) at the M decision points -> mean (B, M, n_z); causal over decisions."""
        return self.mean(self.out_norm(self.block(self.inp(self.norm(e)))))

    def step(self, e: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        """One decision: e (B, D) -> mean (B, n_z), updated cache (equal to `forward`, tested)."""
        y, cache = self.block.step(self.inp(self.norm(e)), cache)
        return self.mean(self.out_norm(y)), cache

    def init_cache(self, batch: int, device) -> dict:
        return self.block.mixer.init_cache(batch, device)

    def log_prob(self, mean: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log N(z; mean, diag exp(2 log_std)) summed over n_z: (..., n_z) -> (...)."""
        return torch.distributions.Normal(mean, self.log_std.exp()).log_prob(z).sum(-1)


class LatentActions:
    """A `rollout` chooser that is the latent-action environment: decides when (the frozen switching unit,
    beta > threshold) and what (the policy samples z) to write, and records e and z at every decision."""

    def __init__(self, meta: Metacontroller, policy: LatentPolicy, batch: int, device, generator=None,
                 threshold: float = 0.5, greedy: bool = False):  # fmt: skip
        self.meta, self.policy, self.threshold, self.greedy, self.gen = meta, policy, threshold, greedy, generator
        self.state = meta.init_state(batch, device)  # GRU history h and current code z
        self.cache = policy.init_cache(batch, device)
        self.count = torch.zeros(batch, dtype=torch.long, device=device)  # decisions so far per episode
        self.e, self.z, self.where = [], [], []  # per decision: e (n, D), z (n, n_z), (episode, index) (n, 2)
        self.times = []  # per decision: the raw step t (n,)

    @torch.no_grad()
    def __call__(self, t: int, e: torch.Tensor, env) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        x, h, z = self.meta.norm(e), self.state["h"], self.state["z"]
        running = torch.as_tensor(~env.done, device=e.device)
        beta = self.meta.switch(x, h, z)  # (B,) deterministic probability, thresholded: a hard switch
        decide = running & ((beta > self.threshold) | (t == 0))
        idx = decide.nonzero()[:, 0]
        if len(idx):
            seen = self.policy_input(e[idx], env, idx)  # (n, D): what the policy reads
            sub = {k: v[idx] for k, v in self.cache.items()}
            mean, sub = self.policy.step(seen, sub)
            for k, v in sub.items():
                self.cache[k][idx] = v
            z_new = mean
            if not self.greedy:
                noise = torch.randn(mean.shape, device=mean.device, generator=self.gen)
                z_new = mean + self.policy.log_std.exp() * noise
            z = z.clone()
            z[idx] = z_new
            self.e.append(seen.cpu()), self.z.append(z_new.cpu())
            self.where.append(torch.stack([idx.cpu(), self.count[idx].cpu()], 1))
            self.times.append(torch.full((len(idx),), t, dtype=torch.long))
            self.count[idx] += 1
        self.state = {"h": self.meta.gru(x, h), "z": z}
        return self.meta.decode(z)

    def policy_input(self, e: torch.Tensor, env, idx) -> torch.Tensor:
        """What the policy reads at a decision: the residual stream e (n, D) of the deciding episodes `idx` (n,), as
        in the paper. A diagnostic (docs/diagnostics/policy_input.py) overrides this to add the observation."""
        return e

    def decisions(self) -> dict[str, torch.Tensor]:
        """Padded per-episode decision sequences: e (B, M, D) as the policy read it, z (B, M, n_z), mask (B, M),
        the raw step of each decision t (B, M) (-1 where padded); M = most decisions."""
        B, M = len(self.count), int(self.count.max())
        where = torch.cat(self.where)  # (N, 2)
        e, z = torch.cat(self.e), torch.cat(self.z)
        E, Z = e.new_zeros(B, M, e.shape[1]), z.new_zeros(B, M, z.shape[1])
        mask = torch.zeros(B, M, dtype=torch.bool)
        E[where[:, 0], where[:, 1]], Z[where[:, 0], where[:, 1]] = e, z
        mask[where[:, 0], where[:, 1]] = True
        times = torch.full((B, M), -1, dtype=torch.long)
        times[where[:, 0], where[:, 1]] = torch.cat(self.times)
        return {"e": E, "z": Z, "mask": mask, "t": times}
