"""Environment throughput of gridworld-pinpad: env steps per second, all measured in one run on this machine.

Speed is measured here and never asserted in tests. Rows, each against the single env of the same run:

    GridPinpadEnv           the single-episode Gymnasium env, random actions, `reset()` when an episode ends
    SyncVectorEnv x16       gymnasium.vector.SyncVectorEnv over 16 copies (same-step autoreset)
    GridPinpadBatch B=1024  the batched numpy env, random actions; no autoreset, so all 1024 episodes are reset
                            when the last one ends. Only running episodes count as steps (finished ones idle).
      + reset_done()        the same, refilling finished slots once a quarter are done: most slots stay busy.
    expert data (pretrain)  `minirl.data.generate_gridworld`: expert rollouts on the batched env plus recording;
                            steps/s counts the actions in the dataset, episodes/s is reported too.

Random-action episodes are short (a random walk soon steps on a wrong pad), so the first three rows include
many resets (a reset draws a solvable layout: a few rejection-sampled draws plus a flood fill).

Usage: python benchmarks/env_throughput.py [--steps N] [--episodes M] [--seed S]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

from minirl import GridPinpadBatch, GridPinpadEnv
from minirl.data import generate_gridworld


def bench_single(steps: int, seed: int) -> tuple[float, int]:
    """(seconds, episodes ended) for `steps` random steps of one GridPinpadEnv."""
    env = GridPinpadEnv()
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, 4, size=steps)
    episodes = 0
    start = time.perf_counter()
    env.reset(seed=seed)
    for a in actions:
        _, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            episodes += 1
            env.reset()
    return time.perf_counter() - start, episodes


def bench_sync_vector(steps: int, seed: int, num_envs: int = 16) -> tuple[float, int]:
    """(seconds, episodes ended) for about `steps` env steps of a SyncVectorEnv (every sub-step counts)."""
    envs = gym.vector.SyncVectorEnv(
        [GridPinpadEnv for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )  # same-step autoreset: every call steps all envs, no wasted reset steps
    rng = np.random.default_rng(seed)
    calls = max(1, steps // num_envs)
    actions = rng.integers(0, 4, size=(calls, num_envs))
    episodes = 0
    start = time.perf_counter()
    envs.reset(seed=seed)
    for a in actions:
        _, _, terminated, truncated, _ = envs.step(a)
        episodes += int((terminated | truncated).sum())
    elapsed = time.perf_counter() - start
    envs.close()
    return elapsed, episodes


def bench_batch(steps: int, seed: int, num_envs: int = 1024, refill: bool = False) -> tuple[float, int, int]:
    """(seconds, running-episode steps, episodes) until at least `steps` steps are counted.

    refill=False: reset all B slots when the last episode ends (how rollouts of B episodes run);
    refill=True: `reset_done()` restarts the finished slots whenever a quarter of them are done, so most
    stay busy (like autoreset, with the fixed cost of drawing layouts shared by B/4 episodes).
    """
    env = GridPinpadBatch(num_envs, seed=seed)
    rng = np.random.default_rng(seed)
    counted = episodes = 0
    start = time.perf_counter()
    env.reset()
    while counted < steps:
        if refill and env.done.sum() >= num_envs // 4:
            env.reset_done()
        elif env.done.all():
            env.reset()
        running = ~env.done
        counted += int(running.sum())  # honest count: only episodes that are still running
        env.step(rng.integers(0, 4, size=num_envs))
        episodes += int((running & env.done).sum())
    return time.perf_counter() - start, counted, episodes


def bench_expert_data(episodes: int, seed: int) -> tuple[float, int]:
    """(seconds, env steps) to generate an expert dataset of `episodes` pretraining episodes."""
    start = time.perf_counter()
    data = generate_gridworld("pretrain", episodes=episodes, seed=seed, progress=False)
    return time.perf_counter() - start, int(data["lengths"].sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=100_000, help="env steps per row (the batched row runs 10x)")
    p.add_argument("--episodes", type=int, default=20_000, help="expert episodes for the dataset row")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rows = []  # (name, seconds, steps, episodes)
    t, eps = bench_single(args.steps, args.seed)
    rows.append(("GridPinpadEnv (single)", t, args.steps, eps))
    t, eps = bench_sync_vector(args.steps, args.seed)
    rows.append(("SyncVectorEnv x16", t, (args.steps // 16) * 16, eps))
    t, steps, eps = bench_batch(10 * args.steps, args.seed)
    rows.append(("GridPinpadBatch B=1024", t, steps, eps))
    t, steps, eps = bench_batch(10 * args.steps, args.seed, refill=True)
    rows.append(("  + reset_done()", t, steps, eps))
    t, steps = bench_expert_data(args.episodes, args.seed)
    rows.append(("expert data (pretrain)", t, steps, args.episodes))

    ref = rows[0][2] / rows[0][1]
    print(f"{'':24s} {'steps':>10s} {'seconds':>8s} {'steps/s':>11s} {'episodes/s':>11s} {'vs single':>10s}")
    for name, t, steps, eps in rows:
        print(f"{name:24s} {steps:10d} {t:8.2f} {steps / t:11,.0f} {eps / t:11,.0f} {steps / t / ref:9.1f}x")


if __name__ == "__main__":
    main()
