"""What the metacontroller learned: switches against subgoal boundaries, and latent codes as steerable options.

- **Alignment** ([P] §6.4, Fig. 6/A3). A hard switch is a step with beta_t > 0.5 (the threshold internal RL
  uses). A subgoal boundary is the first step of each ground-truth segment, t = 0 included: the code must be
  chosen at the start too. Switches and boundaries are matched one to one, nearest first, within +-tol
  steps; precision = matched / switches, recall = matched / boundaries, F1 their harmonic mean. A second
  switch next to an already matched boundary counts against precision.
- **Steering** ([P] §6.4, §B.3.2). Draw z ~ N(0, I), hold U = f_hyp(z) fixed for a whole episode and roll
  the controlled base model out on fresh layouts, in an env where reaching *any* colour pair (ant: any
  pad) ends the episode. If z is an option "go to pair g", one code reaches the same pair across layouts: we report, per
  code, the share of its successful episodes that reach its most frequent pair (`consistency`; 1 = one
  pair always), against the same number for the uncontrolled base model.
- **Transfer** ([P] §B.3.2: collect the code active when the expert heads for an object, re-inject it
  elsewhere). Take the code z_0 the metacontroller writes at t = 0 of an expert episode (its first subgoal
  g), hold it fixed, and roll out on the *same* layout and on *another* layout. `own_layout` and
  `other_layout` are the shares of episodes that reach g; `uncontrolled` is the base model's own rate.
  A code that means "go to pair g" works on both; a code that means "go up-left" only on its own.
  Gridworld: `other_layout_place` is the share that reach, on the other layout, the pair of the colour
  nearest (Manhattan) to the cell the code was written for; `uncontrolled_place` the base model's (another
  rollout on the other layout). A code that means "go to that place" scores high here and not on pairs.
  `other_layout_move` is the share whose first move on the other layout is the expert's first move on its
  own, `uncontrolled_move` the base model's: high for a code that means "go up", whatever is there.
- **Posterior replay** (ours, a probe for internal RL). Replay the codes the encoder wrote for an expert
  episode of a task, in closed loop through the latent-action environment: can the latent space express
  that task at all, on its own layout and on another?
"""

from __future__ import annotations

import numpy as np
import torch

from minirl.envs.grid_core import NUM_COLOURS
from minirl.rollout import rollout
from minirl.worlds import NUM_SUBGOALS, ONE_SUBGOAL_TASKS, batch_env, subgoal_of_colour


def boundaries(subgoals: np.ndarray, length: int) -> np.ndarray:
    """Steps t < length where a new ground-truth segment starts (t = 0 always). subgoals (T,)."""
    sg = subgoals[:length]
    return np.flatnonzero(np.r_[True, sg[1:] != sg[:-1]])


def match(switches: np.ndarray, bounds: np.ndarray, tol: int) -> int:
    """One-to-one matches between switch times and boundary times within +-tol, nearest pairs first."""
    pairs = sorted((abs(int(s) - int(b)), i, j) for i, s in enumerate(switches) for j, b in enumerate(bounds))
    used_s, used_b, n = set(), set(), 0
    for d, i, j in pairs:
        if d <= tol and i not in used_s and j not in used_b:
            used_s.add(i), used_b.add(j)
            n += 1
    return n


def switch_metrics(beta: np.ndarray, subgoals: np.ndarray, lengths: np.ndarray, tol: int = 2) -> dict:
    """beta (N, T), subgoals (N, T), lengths (N,) -> precision, recall, F1, switches and subgoals per episode.

    Two soft numbers see what the 0.5 threshold hides: `beta_at_boundaries`, the mean over boundaries t > 0 of
    the largest beta within +-tol, and `beta_between`, the mean beta over steps farther than tol from every
    boundary (t = 0 included). A beta that peaks at the boundaries but stays above 0.5 between them has a low
    F1 and a large gap between the two; a beta that ignores the subgoals has none."""
    n_switch = n_bound = n_match = 0
    peaks, between = [], []
    for b, sg, n in zip(beta, subgoals, lengths):
        b = b[:n]  # the episode's steps, never its padding
        s = np.flatnonzero(b > 0.5)
        g = boundaries(sg, n)
        n_switch, n_bound, n_match = n_switch + len(s), n_bound + len(g), n_match + match(s, g, tol)
        windows = [slice(max(t - tol, 0), t + tol + 1) for t in g]  # +-tol around each boundary
        peaks += [b[w].max() for w in windows[1:]]
        near = np.zeros(n, bool)
        for w in windows:
            near[w] = True
        between.append(b[~near])
    precision = n_match / max(n_switch, 1)
    recall = n_match / max(n_bound, 1)
    real = np.arange(beta.shape[1])[None] < lengths[:, None]
    b, between = beta[real], np.concatenate(between)
    return {
        "switch_precision": precision, "switch_recall": recall,
        "switch_f1": 2 * precision * recall / max(precision + recall, 1e-12),
        "switches_per_episode": n_switch / len(lengths), "subgoals_per_episode": n_bound / len(lengths),
        "beta_mean": float(b.mean()), "beta_binary_fraction": float(((b < 0.1) | (b > 0.9)).mean()),
        "beta_at_boundaries": float(np.mean(peaks)) if peaks else None,  # None: no boundary after t = 0
        "beta_between": float(between.mean()) if between.size else None,
    }  # fmt: skip


@torch.no_grad()
def steering(model, meta, layer: int, codes: int, episodes: int, seed: int) -> dict:
    """Hold prior samples z fixed; which colour pair does each reach across `episodes` fresh layouts?

    Returns `pairs` (codes + 1, 4): counts of episodes reaching each pair (ant: pad; last row: uncontrolled), the
    per-code `success` (reached any pair), `consistency` (share of the most frequent pair among successes)
    and their means, `steering_consistency` vs `uncontrolled_consistency`.
    """
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(codes, meta.n_z, generator=gen).to(device)  # (K, n_z) prior samples
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)  # the same layouts for every code
    world = model.cfg.env
    counts, success = np.zeros((codes + 1, NUM_SUBGOALS[world]), int), np.zeros(codes + 1)
    for k in range(codes + 1):
        U = None
        if k < codes:  # the same U for every step and episode, broadcast over the batch
            U = meta.decode(z[k].expand(episodes, -1))
        chooser = (lambda t, e, env, U=U: U) if U is not None else None
        env = batch_env(world, episodes, task_set=ONE_SUBGOAL_TASKS[world])
        r = rollout(env, model, layer, chooser, seeds=seeds, generator=torch.Generator(device=device).manual_seed(k))
        reached = subgoal_of_colour(world, env.visited[r["success"]].argmax(1))  # the subgoal an episode completed
        counts[k] = np.bincount(reached, minlength=NUM_SUBGOALS[world])
        success[k] = r["success"].mean()
    consistency = counts.max(1) / np.maximum(counts.sum(1), 1)
    return {
        "pairs": counts, "success": success, "consistency": consistency, "codes": z.cpu().numpy(),
        "steering_consistency": float(consistency[:codes].mean()), "uncontrolled_consistency": float(consistency[-1]),
        "steering_success": float(success[:codes].mean()), "uncontrolled_success": float(success[-1]),
    }  # fmt: skip


@torch.no_grad()
def code_transfer(model, meta, data, layer: int, seed: int = 0) -> dict:
    """Hold each expert episode's first code z_0 fixed: does it reach the episode's first pair on the same
    layout, and on another layout (the next episode's), compared with no control at all? `data`: Trajectories."""
    device = next(model.parameters()).device
    batch = data.batch(np.arange(len(data)), device)
    z0 = meta(model.lower(batch["obs"], layer), batch["mask"], sample=False)["z"][:, 0]  # (N, n_z)
    first = data.arrays["subgoals"][:, 0].astype(np.int64)  # (N,) the pair each code was written for
    seeds = data.arrays["seeds"]
    runs = [("own_layout", seeds, meta.decode(z0)), ("other_layout", np.roll(seeds, 1), meta.decode(z0)),
            ("uncontrolled", seeds, None)]  # fmt: skip
    grid = model.cfg.env == "gridworld"
    if grid:  # a code that means "go to that place": on the other layout, the pair of the colour nearest to it
        layouts = data.arrays["layouts"]
        target = layouts[np.arange(len(data)), data.arrays["tasks"][:, 0]]  # (N,) the cell the code was written for
        other = np.roll(layouts, 1, axis=0)[:, :NUM_COLOURS]  # (N, 8) colour cells of the other layout
        dist = np.abs(other // 7 - target[:, None] // 7) + np.abs(other % 7 - target[:, None] % 7)  # Manhattan
        nearest = dist.argmin(1) // 2  # (N,) its pair
        runs.append(("uncontrolled_other", np.roll(seeds, 1), None))
    out, reached, first_move = {}, {}, {}
    for name, layout_seeds, U in runs:
        env = batch_env(model.cfg.env, len(seeds), task_set=ONE_SUBGOAL_TASKS[model.cfg.env])
        chooser = (lambda t, e, env, U=U: U) if U is not None else None
        r = rollout(env, model, layer, chooser, seeds=layout_seeds, generator=torch.Generator(device).manual_seed(seed))
        reached[name] = np.where(r["success"], subgoal_of_colour(model.cfg.env, env.visited.argmax(1)), -1)
        if name != "uncontrolled_other":
            out[f"transfer_{name}"] = float((reached[name] == first).mean())
        first_move[name] = r["actions"][:, 0]
    if grid:
        out["transfer_other_layout_place"] = float((reached["other_layout"] == nearest).mean())
        out["transfer_uncontrolled_place"] = float((reached["uncontrolled_other"] == nearest).mean())
        expert_move = data.arrays["actions"][:, 0]  # (N,) the expert's first move on the code's own layout
        out["transfer_other_layout_move"] = float((first_move["other_layout"] == expert_move).mean())
        out["transfer_uncontrolled_move"] = float((first_move["uncontrolled_other"] == expert_move).mean())
    return out


def decision_points(beta: torch.Tensor, mask: torch.Tensor, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The steps where a code is written, t = 0 and every hard switch (beta > 0.5), gathered per episode.

    beta, mask (N, T); each value (N, T, ...) -> the same at the decision points, left-aligned and zero-padded
    (N, M, ...), M the most decisions in an episode, then `valid` (N, M) bool."""
    written = (beta > 0.5) & mask
    written[:, 0] = True
    episode, t = written.nonzero(as_tuple=True)
    k = written.cumsum(1)[episode, t] - 1  # the decision's index within its episode
    valid = torch.zeros(len(beta), int(k.max()) + 1, dtype=torch.bool, device=beta.device)
    valid[episode, k] = True
    gathered = []
    for v in values:
        out = v.new_zeros(valid.shape + v.shape[2:])
        out[episode, k] = v[episode, t]
        gathered.append(out)
    return (*gathered, valid)


class _ReplayPolicy:
    """Stands in for `latent_env.LatentPolicy`: at its k-th decision in episode i it writes codes[i, k] (the
    last one again once they run out). `LatentActions` indexes the cache by episode, so it carries the index."""

    def __init__(self, codes: torch.Tensor):
        self.codes, self.log_std = codes, torch.zeros(codes.shape[-1], device=codes.device)  # codes (N, K, n_z)

    def init_cache(self, batch: int, device) -> dict:
        return {"ep": torch.arange(batch, device=device), "k": torch.zeros(batch, dtype=torch.long, device=device)}

    def step(self, e: torch.Tensor, cache: dict) -> tuple[torch.Tensor, dict]:
        z = self.codes[cache["ep"], cache["k"].clamp(max=self.codes.shape[1] - 1)]
        return z, {"ep": cache["ep"], "k": cache["k"] + 1}


@torch.no_grad()
def posterior_replay(model, meta, data, layer: int, seed: int = 0) -> dict:
    """Does the latent action space hold a solution? An upper-bound probe for internal RL.

    For each expert episode of `data` (Trajectories of any task, e.g. the post-training task), the
    metacontroller's encoder, reading the whole expert episode, writes its codes: z_0 and z_t at every hard
    switch. Replay them in closed loop through the latent-action environment (`LatentActions`, greedy):
    the frozen switching unit decides when, the k-th decision writes the k-th code. `own_layout` is the
    success rate on the episode's own layout (what a perfect latent policy could at least reach there);
    `other_layout` replays them on the next episode's layout; `codes_per_episode` is their mean number.
    """
    from minirl.latent_env import LatentActions

    tasks = np.unique(data.arrays["tasks"], axis=0)
    if len(tasks) != 1:
        raise ValueError(f"posterior_replay needs episodes of one task, got {len(tasks)} different tasks")
    task = "-".join(str(c) for c in tasks[0] if c >= 0)
    device = next(model.parameters()).device
    batch = data.batch(np.arange(len(data)), device)
    out = meta(model.lower(batch["obs"], layer), batch["mask"], sample=False)
    codes, valid = decision_points(out["beta"], batch["mask"], out["z"])  # (N, M, n_z), (N, M)
    counts = valid.sum(1)  # (N,)
    last = codes[torch.arange(len(data)), counts - 1]  # (N, n_z) each episode's last code
    codes = torch.where(valid[..., None], codes, last[:, None])  # held once they run out
    result = {"codes_per_episode": float(counts.float().mean())}
    seeds = data.arrays["seeds"]
    for name, layout_seeds in (("own_layout", seeds), ("other_layout", np.roll(seeds, 1))):
        env = batch_env(model.cfg.env, len(data), task=task)
        chooser = LatentActions(meta, _ReplayPolicy(codes), len(data), device, greedy=True)
        r = rollout(env, model, layer, chooser, seeds=layout_seeds, generator=torch.Generator(device).manual_seed(seed))
        result[f"replay_{name}"] = float(r["success"].mean())
    return result
