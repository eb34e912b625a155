"""The ant-pinpad expert: a Gaussian policy that walks where a grid-level shortest path points ([P] §C.1.1).

The paper gives its PPO expert an augmented observation, "for each grid cell a 4-dim one-hot giving the cardinal
direction to move to follow the grid-level shortest path", and rewards it by the ant's velocity along that
direction (spec 3.2). `Guidance` computes both for B episodes of `AntPinpadBatch`:

    dist_c      breadth-first grid distance from cell c to the target pad, through cells that hold no other
                pad and no wall (stepping on those ends the episode)
    map         (16, 4) one-hot per cell of the move (up, right, down, left) that lowers dist; zeros on blocked
                cells and on the target (the paper's input, 64 numbers)
    d_t         unit vector from the torso to the centre of the next cell on the path (ours: aiming at the
                centre, not along the cardinal axis, keeps a drifting ant inside its row or column), also
                from the pad the ant has just stepped on, which the map counts as blocked

The paper's one-hot map (`Guidance.map`) is kept for reference, but what the policy reads is the path
direction d_t it implies, with the ant's own state, in a canonical frame (`ant_symmetry`, ours): the ant's
four-fold symmetry turns every direction into one within 45 degrees of the torso's x axis, so the policy
learns one wedge of directions instead of all of them. Without it, no CPU-budget run learned to walk where
the path points (README). The expert never reads the task, only where the path goes next.

The policy is an MLP, not the paper's 6-layer Hawk (INFER): with the direction in its input the task is
Markov, so memory buys nothing, and an MLP trains several times faster on a CPU. Inputs are normalised
by running statistics that travel in the checkpoint. `mean` actions (clipped to [-1, 1]) are the metacontroller
dataset's actions; sampled ones the pretraining dataset's (spec 3.2).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from minirl.envs.ant_core import ACTION_DIM, NUM_CELLS, OUTSIDE, G, cell_centres
from minirl.experts.ant_symmetry import FEATURE_DIM, canonical_features, unrelabel_actions

EXPERT_OBS_DIM = FEATURE_DIM  # 28

_DELTAS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # (d_row, d_col) of up, right, down, left


def _neighbour_table() -> np.ndarray:
    """NB[cell, move] = neighbouring cell, or -1 off the grid."""
    nb = np.full((NUM_CELLS, 4), -1, dtype=np.int64)
    for cell in range(NUM_CELLS):
        r, c = divmod(cell, G)
        for m, (dr, dc) in enumerate(_DELTAS):
            if 0 <= r + dr < G and 0 <= c + dc < G:
                nb[cell, m] = (r + dr) * G + c + dc
    return nb


NB = _neighbour_table()  # (16, 4)


def distance_maps(layout: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(n, 5) layouts, (n,) target colours -> (n, 16) grid distances to the target pad (inf where cut off).

    Blocked: the wall and every pad but the target. Bellman-Ford relaxation over the 4-neighbourhood,
    vectorised over episodes (16 cells: at most 15 rounds).
    """
    n = len(layout)
    rows = np.arange(n)
    blocked = np.zeros((n, NUM_CELLS), dtype=bool)
    blocked[rows[:, None], layout] = True
    goal = layout[rows, target]  # (n,)
    blocked[rows, goal] = False
    dist = np.full((n, NUM_CELLS), np.inf)
    dist[rows, goal] = 0.0
    padded = np.concatenate([dist, np.full((n, 1), np.inf)], 1)  # index -1 -> inf (off the grid)
    for _ in range(NUM_CELLS):
        padded[:, :-1] = np.where(blocked, np.inf, np.minimum(padded[:, :-1], padded[:, NB].min(-1) + 1))
        padded[rows, goal] = 0.0
    return padded[:, :-1]


class Guidance:
    """Shortest-path guidance for B episodes; distance maps are recomputed only when an episode's target changes."""

    def __init__(self, num_envs: int):
        self.key = np.full((num_envs, 2), -1, dtype=np.int64)  # (seed, target) each map was made for
        self.best = np.zeros((num_envs, NUM_CELLS), dtype=np.int64)  # (B, 16) the move that lowers dist
        self.leads = np.zeros((num_envs, NUM_CELLS), dtype=bool)  # (B, 16) some neighbour is on a path
        self.map = np.zeros((num_envs, NUM_CELLS, 4), dtype=np.float32)  # (B, 16, 4) the paper's one-hot input

    def update(self, env) -> None:
        """Refresh the maps of episodes whose layout (seed) or target changed since the last call."""
        target = env.target()  # (B,) -1 once an episode failed or finished
        key = np.stack([env.seeds, target], 1)
        stale = np.flatnonzero((key != self.key).any(1) & (target >= 0))
        if len(stale):
            dist = distance_maps(env.layout[stale], target[stale])  # (n, 16)
            nb_dist = np.where(NB[None] >= 0, dist[:, np.maximum(NB, 0)], np.inf)  # (n, 16, 4)
            best = nb_dist.argmin(-1)  # (n, 16)
            useful = np.isfinite(dist) & (dist > 0)  # a free cell on some path, not the goal itself
            # The ant may stand on a blocked cell: the pad it has just visited. Its way off is the best free
            # neighbour, so `leads` holds where some neighbour is on a path (a pad's dist alone is inf).
            self.leads[stale] = np.isfinite(nb_dist.min(-1))
            self.best[stale] = best
            self.map[stale] = np.where(useful[..., None], np.eye(4, dtype=np.float32)[best], 0.0)
            self.key[stale] = key[stale]

    def direction(self, env) -> np.ndarray:
        """(B, 2) unit vector (world frame) from the torso to the centre of the next cell on the path; 0 if none."""
        B = np.arange(env.num_envs)
        cell = np.where(env.cell == OUTSIDE, 0, env.cell)
        nxt = NB[cell, self.best[B, cell]]  # (B,)
        vec = cell_centres(np.maximum(nxt, 0)) - env.qpos[:, :2]  # (B, 2)
        norm = np.linalg.norm(vec, axis=1, keepdims=True)
        ok = (env.cell != OUTSIDE) & self.leads[B, cell] & (nxt >= 0) & (env.target() >= 0)
        return np.where(ok[:, None], vec / np.maximum(norm, 1e-6), 0.0)

    def observation(self, env) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """After `update`: (the expert's input (B, 28) float32, in the canonical frame; the world-frame path
        direction (B, 2); the relabellings k (B,) that map the expert's torques back, `ant_symmetry`)."""
        d = self.direction(env)  # (B, 2)
        x, k = canonical_features(env.qpos, env.qvel, d)
        return x, d, k


# ---------------------------------------------------------------- the policy
class RunningNorm(nn.Module):
    """Running mean and variance of the inputs (parallel Welford update); `forward` standardises and clips."""

    def __init__(self, dim: int, clip: float = 10.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))
        self.clip = clip

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        n = x.shape[0]
        delta, total = x.mean(0) - self.mean, self.count + n
        self.mean += delta * n / total
        self.var = (self.var * self.count + x.var(0, unbiased=False) * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


def mlp(n_in: int, hidden: int, n_out: int, out_scale: float) -> nn.Sequential:
    """tanh MLP with orthogonal init (CleanRL's PPO recipe); a small last layer starts the outputs near zero."""
    layers = [nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out)]
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, np.sqrt(2) if layer.out_features == hidden else out_scale)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class AntExpert(nn.Module):
    """Actor-critic: a Gaussian over the 8 torques (state-independent std) and a value head, both MLPs."""

    def __init__(self, hidden: int = 256, obs_dim: int = EXPERT_OBS_DIM):
        super().__init__()
        self.hidden, self.obs_dim = hidden, obs_dim
        self.norm = RunningNorm(obs_dim)
        self.actor = mlp(obs_dim, hidden, ACTION_DIM, 0.01)
        self.critic = mlp(obs_dim, hidden, 1, 1.0)
        self.log_std = nn.Parameter(torch.full((ACTION_DIM,), -0.5))

    def dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        """(B, 28) canonical features -> Normal over (B, 8) torques (in the canonical frame)."""
        mean = self.actor(self.norm(obs))
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.norm(obs)).squeeze(-1)  # (B,)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """(B, 28) canonical features -> (B, 8) torques in [-1, 1] (canonical frame): the mean or a sample."""
        d = self.dist(torch.as_tensor(obs))
        a = d.mean if deterministic else d.mean + d.stddev * torch.randn(d.mean.shape, generator=generator)
        return a.clamp(-1.0, 1.0).numpy().astype(np.float64)


def expert_actions(expert: AntExpert, guide: Guidance, env, deterministic: bool = False, generator=None) -> np.ndarray:
    """(B, 8) torques for the real ants of `env`: guidance, the canonical frame, the policy, and back."""
    guide.update(env)
    x, _, k = guide.observation(env)
    return unrelabel_actions(expert.act(x, deterministic, generator), k)


def record_episode(expert: AntExpert, seed: int, task=None, render_every: int = 0, width: int = 320, height: int = 240):
    """One episode of the expert (mean actions) in `AntPinpadEnv`, for looking at (`plots_ant.watch_episode`):
    the torso's (x, y) path, the layout, the task, how it ended, and every `render_every`-th frame (none if 0)."""
    from minirl.envs.ant_batch import AntPinpadBatch
    from minirl.envs.ant_core import MAX_STEPS
    from minirl.plots_ant import watch_episode

    twin = AntPinpadBatch(1, task=task)  # the same episode, batched, for the guidance (bit-equal to the env)
    twin.reset(seeds=[seed])
    guide = Guidance(1)

    def act(t: int) -> np.ndarray:
        a = expert_actions(expert, guide, twin, deterministic=True)
        twin.step(a)
        return a[0]

    render_at = range(0, MAX_STEPS, render_every) if render_every else ()
    return watch_episode(seed, task, act, render_at, width, height)


def success_rate(expert: AntExpert, task, episodes: int, seed: int, deterministic: bool = True) -> dict:
    """Run the expert on `episodes` fresh layouts of `task`: success rate, pads visited, episode length."""
    from minirl.envs.ant_batch import AntPinpadBatch

    env = AntPinpadBatch(episodes, task=task)
    guide = Guidance(episodes)
    env.reset(seeds=np.arange(episodes) + seed)
    gen = torch.Generator().manual_seed(seed)
    while not env.done.all():
        env.step(expert_actions(expert, guide, env, deterministic, gen))
    return {"success": float(env.success.mean()), "pads": float(env.progress.mean()), "length": float(env.t.mean())}


__all__ = [
    "AntExpert",
    "Guidance",
    "EXPERT_OBS_DIM",
    "distance_maps",
    "expert_actions",
    "record_episode",
    "success_rate",
]
