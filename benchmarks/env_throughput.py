"""Environment throughput of gridworld-pinpad and ant-pinpad: env steps per second, measured in one run.

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

ant-pinpad rows, against gymnasium's own Ant-v5 (the same ant.xml, RK4, frame skip 5) in the same run:

    Ant-v5 (gymnasium)      the reference: one env, random actions, reset at each end
    SyncVectorEnv Ant-v5 x16
    AntPinpadEnv            our single env (Ant-v5's physics plus pad and termination logic in numpy)
    AntPinpadBatch B=N      N MjData stepped by one `mj_step(m, d, 5)` call each, numpy logic over the batch,
                            `reset_done()` when a quarter are done; `threads=2` splits the batch over a pool
                            (MuJoCo releases the GIL in mj_step)

Random torques make the ant jump out of the healthy height range within ~30 steps, so these rows include
many resets too (a MuJoCo reset is cheap next to 5 RK4 physics steps).

Usage: python benchmarks/env_throughput.py [--env gridworld|ant|all] [--steps N] [--episodes M] [--seed S]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

from minirl import AntPinpadBatch, AntPinpadEnv, GridPinpadBatch, GridPinpadEnv
from minirl.data import generate_gridworld


def bench_single(steps: int, seed: int, env: gym.Env | None = None) -> tuple[float, int]:
    """(seconds, episodes ended) for `steps` random steps of one env (default GridPinpadEnv)."""
    env = env if env is not None else GridPinpadEnv()
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    episodes = 0
    start = time.perf_counter()
    env.reset(seed=seed)
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            episodes += 1
            env.reset()
    return time.perf_counter() - start, episodes


def bench_sync_vector(steps: int, seed: int, num_envs: int = 16, make=GridPinpadEnv) -> tuple[float, int]:
    """(seconds, episodes ended) for about `steps` env steps of a SyncVectorEnv (every sub-step counts)."""
    envs = gym.vector.SyncVectorEnv(
        [make for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )  # same-step autoreset: every call steps all envs, no wasted reset steps
    envs.action_space.seed(seed)
    calls = max(1, steps // num_envs)
    actions = [envs.action_space.sample() for _ in range(calls)]
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


def bench_ant_batch(steps: int, seed: int, num_envs: int, nthread: int) -> tuple[float, int, int]:
    """(seconds, running-episode steps, episodes) of AntPinpadBatch under random torques, refilling finished slots."""
    env = AntPinpadBatch(num_envs, seed=seed, nthread=nthread)
    rng = np.random.default_rng(seed)
    counted = episodes = 0
    start = time.perf_counter()
    env.reset()
    while counted < steps:
        if env.done.sum() >= num_envs // 4:
            env.reset_done()
        running = ~env.done
        counted += int(running.sum())
        env.step(rng.uniform(-1.0, 1.0, size=(num_envs, 8)))
        episodes += int((running & env.done).sum())
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed, counted, episodes


def ant_rows(steps: int, seed: int) -> list:
    rows = []
    t, eps = bench_single(steps, seed, gym.make("Ant-v5"))
    rows.append(("Ant-v5 (gymnasium)", t, steps, eps))
    t, eps = bench_sync_vector(steps, seed, make=lambda: gym.make("Ant-v5"))
    rows.append(("SyncVectorEnv Ant-v5 x16", t, (steps // 16) * 16, eps))
    t, eps = bench_single(steps, seed, AntPinpadEnv())
    rows.append(("AntPinpadEnv (single)", t, steps, eps))
    for num_envs, nthread in ((1024, 1), (1024, 2)):
        t, n, eps = bench_ant_batch(steps, seed, num_envs, nthread)
        rows.append((f"AntPinpadBatch B={num_envs} threads={nthread}", t, n, eps))
    return rows


def print_rows(rows: list) -> None:
    ref = rows[0][2] / rows[0][1]
    print(f"{'':34s} {'steps':>10s} {'seconds':>8s} {'steps/s':>11s} {'episodes/s':>11s} {'vs first':>9s}")
    for name, t, steps, eps in rows:
        print(f"{name:34s} {steps:10d} {t:8.2f} {steps / t:11,.0f} {eps / t:11,.0f} {steps / t / ref:8.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="all", choices=["gridworld", "ant", "all"])
    p.add_argument("--steps", type=int, default=100_000, help="gridworld env steps per row (the batched row runs 10x)")
    p.add_argument("--ant_steps", type=int, default=20_000, help="ant env steps per row")
    p.add_argument("--episodes", type=int, default=20_000, help="expert episodes for the dataset row")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.env in ("gridworld", "all"):
        grid_rows(args)
    if args.env in ("ant", "all"):
        print()
        print_rows(ant_rows(args.ant_steps, args.seed))


def grid_rows(args) -> None:
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

    print_rows(rows)


if __name__ == "__main__":
    main()
