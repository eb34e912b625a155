"""Internal-RL rollout throughput: episodes/s of the latent-action environment, batched and cached vs naive.

Both rows run the same thing: the committed base model and metacontroller, a fresh latent policy (the
prior), the post-training task, raw actions sampled at every step and a new code z at every switch.

    batched   `rollout.rollout` with `latent_env.LatentActions`: B episodes in lockstep (`GridPinpadBatch`),
              the base model stepped with KV caches, the policy run only on the episodes that decide
    naive     one `GridPinpadEnv` episode at a time, and at every step the base model's full forward over
              the history o_{1:t} (no cache), the metacontroller's step and the policy's step

Speed is measured here and never asserted in tests; the ratio is what to compare across machines.

Usage: python benchmarks/internal_rl_throughput.py [--batch 1024] [--naive-episodes 8] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from minirl.checkpoints import load_base_model, load_metacontroller, resolve_base, resolve_metacontroller
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.gridworld import GridPinpadEnv
from minirl.latent_env import LatentActions, LatentPolicy
from minirl.rollout import rollout


@torch.no_grad()
def batched(model, meta, policy, layer: int, B: int, device) -> float:
    """Seconds for B internal-RL episodes in one batched, cached rollout."""
    gen = torch.Generator(device=device).manual_seed(0)
    start = time.perf_counter()
    chooser = LatentActions(meta, policy, B, device, generator=gen)
    rollout(GridPinpadBatch(B, task="posttrain"), model, layer, chooser, seeds=np.arange(B), generator=gen)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def naive(model, meta, policy, layer: int, episodes: int, device) -> float:
    """Seconds for `episodes` internal-RL episodes, one at a time, recomputing the base model's history each step."""
    start = time.perf_counter()
    for ep in range(episodes):
        env = GridPinpadEnv(task="posttrain")
        env.reset(seed=ep)
        cells, zs = [np.r_[env.layout, env.agent]], []  # observations and codes so far
        state, cache = meta.init_state(1, device), policy.init_cache(1, device)
        for t in range(env.max_steps):
            obs = torch.as_tensor(np.stack(cells)[None], device=device)  # (1, t+1, 13)
            e = model.lower(obs, layer)  # (1, t+1, D): the whole history, every step
            x = meta.norm(e[:, -1])
            if t == 0 or meta.switch(x, state["h"], state["z"])[0] > 0.5:
                mean, cache = policy.step(e[:, -1], cache)
                state["z"] = mean + policy.log_std.exp() * torch.randn_like(mean)
            state["h"] = meta.gru(x, state["h"])
            zs.append(state["z"])
            U = meta.decode(torch.stack(zs, 1))  # the controller of every step so far
            logits = model.upper(e, layer, U)["action_logits"][0, -1]
            _, _, terminated, truncated, _ = env.step(int(torch.multinomial(torch.softmax(logits, -1), 1)))
            if terminated or truncated:
                break
            cells.append(np.r_[env.layout, env.agent])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1024, help="episodes of the batched rollout")
    parser.add_argument("--naive-episodes", type=int, default=8, help="episodes of the naive loop")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))  # fmt: skip
    model = load_base_model(resolve_base("pretrained"), device).requires_grad_(False)
    meta, layer, _ = load_metacontroller(resolve_metacontroller("pretrained"), model, device)
    policy = LatentPolicy(model.cfg.d_model, meta.n_z).to(device).eval()
    batched(model, meta, policy, layer, 16, device)  # warm-up
    t_naive = naive(model, meta, policy, layer, args.naive_episodes, device)
    t_batch = batched(model, meta, policy, layer, args.batch, device)
    rows = [("naive: single env, no cache", args.naive_episodes / t_naive),
            (f"batched: B={args.batch}, cached", args.batch / t_batch)]  # fmt: skip
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    print(f"{'':34s} {'episodes/s':>12s} {'x naive':>9s}")
    for name, rate in rows:
        print(f"{name:34s} {rate:12.1f} {rate / rows[0][1]:8.1f}x")


if __name__ == "__main__":
    main()
