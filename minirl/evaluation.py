"""Judging a pretrained base model: held-out accuracy against its Bayes ceiling, and rolled-out behaviour.

Optimal-action accuracy counts the argmax action as right when it is *any* of the expert's optimal actions.
Its ceiling is below 1 because the observation hides the task: at the start of a segment the next colour
pair is one of several, and only the first moves reveal it. `bayes_ceiling` computes the best accuracy
any observation-only model can reach, exactly, with a posterior over the next colour c:

    p(c | o_{1:t}) ~ #(pretraining tasks consistent with the visited colours whose next colour is c)
                     * prod_{s in this segment, s < t} 1[a_s optimal for c] / #(optimal actions for c at s)
    ceiling_t = max_a sum_c p(c | o_{1:t}) 1[a optimal for c at t]

Rolled out alone the model must pick its own task, so behaviour is judged in the env's task-set mode:
`valid_task_rate` = share of rollouts that complete one of the 16 pretraining tasks (greedy / sampled).
"""

from __future__ import annotations

import numpy as np
import torch

from minirl.data import Trajectories
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import NEXT, NUM_COLOURS, layout_grid
from minirl.experts.grid_expert import UNREACHABLE, distance_maps
from minirl.rollout import rollout
from minirl.tasks import GRID_POSTTRAIN_TASK, GRID_PRETRAIN_TASKS


@torch.no_grad()
def heldout_metrics(model, data: Trajectories, device="cpu", ceiling: bool = False, batch_size: int = 256) -> dict:
    """optimal_action_accuracy and heldout_action_nll on expert episodes (+ the Bayes ceiling if asked)."""
    correct = nll = total = 0.0
    for lo in range(0, len(data), batch_size):
        b = data.batch(np.arange(lo, min(lo + batch_size, len(data))), device)
        heads = model(b["obs"])
        if "action_logits" in heads:  # the gridworld: is the argmax one of the expert's optimal actions?
            pred = heads["action_logits"].argmax(-1)  # (B, T)
            correct += (b["optimal"].gather(-1, pred[..., None])[..., 0] & b["mask"]).sum().item()
        nll += (model.action_nll(heads, b["actions"]) * b["mask"]).sum().item()
        total += b["mask"].sum().item()
    if getattr(model, "continuous", False):  # the ant: torques have no "optimal" set, the NLL is the measure
        return {"heldout_action_nll": nll / total}
    out = {"optimal_action_accuracy": correct / total, "heldout_action_nll": nll / total}
    if ceiling:
        out["optimal_action_ceiling"] = bayes_ceiling(data)
    return out


def bayes_ceiling(data: Trajectories, tasks=GRID_PRETRAIN_TASKS) -> float:
    """The best optimal-action accuracy an observation-only model can reach on these (epsilon = 0) episodes."""
    a = data.arrays
    N, T = a["actions"].shape
    layouts = a["layouts"].astype(np.int64)
    agent = np.where(a["agent"] < 0, 0, a["agent"]).astype(np.int64)  # (N, T+1)
    n = np.arange(N)
    grid, dist = layout_grid(layouts), distance_maps(layouts)  # (N, 49), (N, 8, 49)
    table = np.array(tasks)  # (K, L)
    task = a["tasks"].astype(np.int64)  # (N, L)
    progress = np.zeros(N, dtype=np.int64)
    lik = np.ones((N, NUM_COLOURS))  # likelihood of this segment's moves under each next colour
    acc_sum, count = 0.0, 0
    for t in range(T):
        real = t < a["lengths"]
        nxt = NEXT[agent[:, t]]  # (N, 4)
        nxt = np.where(grid[n[:, None], nxt] >= NUM_COLOURS, agent[:, t, None], nxt)
        cost = dist[n[:, None, None], np.arange(NUM_COLOURS)[None, :, None], nxt[:, None, :]]  # (N, 8, 4)
        cost = np.where(nxt[:, None, :] == agent[:, t, None, None], UNREACHABLE, cost)
        opt = (cost == cost.min(-1, keepdims=True)) & (cost < UNREACHABLE)  # (N, 8, 4)
        # prior over the next colour: consistent tasks, counted by their next colour
        same_prefix = (table[None, :, :] == task[:, None, :]) | (np.arange(table.shape[1]) >= progress[:, None, None])
        consistent = same_prefix.all(-1)  # (N, K)
        nxt_colour = table[:, np.minimum(progress, table.shape[1] - 1)].T  # (N, K)
        prior = np.zeros((N, NUM_COLOURS))
        np.add.at(prior, (np.repeat(n, len(table)), nxt_colour.ravel()), consistent.ravel())
        post = prior * lik
        post /= np.maximum(post.sum(1, keepdims=True), 1e-12)
        acc_sum += (post[:, :, None] * opt).sum(1).max(-1)[real].sum()
        count += real.sum()
        # update: likelihood of the expert's move, then reset at a visit of the next colour
        act = np.maximum(a["actions"][:, t], 0).astype(np.int64)
        lik *= opt[n, :, act] / np.maximum(opt.sum(-1), 1)
        visited = real & (agent[:, t + 1] == layouts[n, task[n, np.minimum(progress, task.shape[1] - 1)]])
        visited &= agent[:, t + 1] != agent[:, t]
        progress = progress + visited
        lik[visited] = 1.0
    return float(acc_sum / count)


@torch.no_grad()
def evaluate_base_model(model, episodes: int = 1000, seed: int = 0) -> dict:
    """Roll the model out alone: does it complete *a* pretraining task? the fixed one? the post-training task?"""
    device = next(model.parameters()).device
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for greedy, suffix in ((True, ""), (False, "_sampled")):
        r = rollout(GridPinpadBatch(episodes, task_set="pretrain"), model, greedy=greedy, seeds=seeds, generator=gen)
        out[f"valid_task_rate{suffix}"] = float(r["success"].mean())
        out[f"valid_task_colours{suffix}"] = float(r["progress"].mean())  # correct colours of 6
    fixed = GRID_PRETRAIN_TASKS[seed % len(GRID_PRETRAIN_TASKS)]
    r = rollout(GridPinpadBatch(episodes, task=fixed), model, seeds=seeds, generator=gen)
    out["fixed_task_success_sampled"] = float(r["success"].mean())  # bounded by 1/16 for a perfect imitator
    for greedy, suffix in ((True, ""), (False, "_sampled")):
        r = rollout(GridPinpadBatch(episodes, task=GRID_POSTTRAIN_TASK), model, greedy=greedy, seeds=seeds,
                    generator=gen)  # fmt: skip
        out[f"posttrain_success{suffix}"] = float(r["success"].mean())
        out[f"posttrain_colours{suffix}"] = float(r["progress"].mean())  # correct colours of 12
    return out


@torch.no_grad()
def evaluate_ant_base_model(model, episodes: int = 64, seed: int = 0) -> dict:
    """The ant's base model rolled out alone (500 steps at most): pads visited in a pretraining task's order
    (task-set mode, as for the gridworld), and the post-training task 0-1-2-3; with its mean torques and with
    torques sampled from its Gaussian (`_sampled`). Measured: a small base model trained on sampled expert data
    stands still on its mean torques (the mean of clipped noisy torques is not a gait) but walks when sampled,
    as the expert that made the data did; every later stage samples."""
    from minirl.tasks import ANT_POSTTRAIN_TASK
    from minirl.worlds import batch_env

    device = next(model.parameters()).device
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)
    gen = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for greedy, suffix in ((True, ""), (False, "_sampled")):
        for name, env in (("valid_task", batch_env("ant", episodes, task_set="pretrain")),
                          ("posttrain", batch_env("ant", episodes, task=ANT_POSTTRAIN_TASK))):  # fmt: skip
            r = rollout(env, model, greedy=greedy, seeds=seeds, generator=gen)
            out[(f"{name}_success" if name == "posttrain" else "valid_task_rate") + suffix] = float(r["success"].mean())
            out[f"{name}_pads{suffix}"] = float(r["progress"].mean())
    return out
