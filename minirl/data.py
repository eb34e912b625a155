"""Expert datasets for gridworld-pinpad: generate with the batched env, save as .npz, load padded torch batches.

An episode of length T has observations o_1..o_{T+1} and actions a_1..a_T ([P] §4.1: the model predicts a_t
and o_{t+1} from o_{1:t}). Arrays in the .npz, with N episodes and T = the longest episode:

| key             | shape       | dtype | meaning                                                            |
|-----------------|-------------|-------|--------------------------------------------------------------------|
| layouts         | (N, 12)     | int8  | cells of colours 0..7 then walls 0..3 (static within an episode)   |
| agent           | (N, T+1)    | int8  | agent cell before each action, and after the last; -1 padding      |
| actions         | (N, T)      | int8  | 0 up, 1 right, 2 down, 3 left; -1 padding                          |
| optimal         | (N, T)      | uint8 | bitmask of the expert's optimal actions at each step (bit a)       |
| subgoals        | (N, T)      | int8  | ground-truth subgoal (colour pair 0..3) when a_t is taken; -1 pad  |
| lengths         | (N,)        | int16 | T_i, the number of actions                                         |
| success         | (N,)        | bool  | the episode was rewarded                                           |
| seeds           | (N,)        | int64 | `GridPinpadEnv.reset(seed=seeds[i])` rebuilds layout and task      |
| tasks           | (N, Lmax)   | int8  | each episode's task, -1 padding                                    |
| meta            | ()          | str   | JSON: env, task spec, epsilon, seed, minirl version                |

The observation o_t is `concat(layouts[i], agent[i, t])`, the 13 object cells (`grid_core.one_hot` -> 637 dims).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import minirl
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import MAX_STEPS
from minirl.experts.grid_expert import GridExpert
from minirl.runs import atomic_write
from minirl.tasks import parse_task_set


# ---------------------------------------------------------------------------------------- generation
def generate_gridworld(
    task: str = "pretrain", episodes: int = 1000, epsilon: float = 0.0, seed: int = 0,
    batch_size: int = 4096, progress: bool = True,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Roll out the shortest-path expert on `episodes` fresh layouts. `task`: 'pretrain', 'posttrain' or '0-1-...'."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    tasks = parse_task_set(task)
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)  # one reset seed per episode
    expert = GridExpert(epsilon, seed=seed)
    T = MAX_STEPS
    out = {
        "layouts": np.zeros((episodes, 12), np.int8), "agent": np.full((episodes, T + 1), -1, np.int8),
        "actions": np.full((episodes, T), -1, np.int8), "optimal": np.zeros((episodes, T), np.uint8),
        "subgoals": np.full((episodes, T), -1, np.int8), "lengths": np.zeros(episodes, np.int16),
        "success": np.zeros(episodes, bool), "seeds": seeds,
        "tasks": np.full((episodes, max(map(len, tasks))), -1, np.int8),
    }  # fmt: skip
    bar = tqdm(total=episodes, desc=f"expert episodes ({task})", unit="ep", disable=not progress)
    for lo in range(0, episodes, batch_size):
        idx = np.arange(lo, min(lo + batch_size, episodes))
        env = GridPinpadBatch(len(idx), task=tasks)
        env.reset(seeds[idx])
        expert.reset(env)
        out["layouts"][idx] = env.layout
        for k, ti in enumerate(env.task_index):
            out["tasks"][idx[k], : len(tasks[ti])] = tasks[ti]
        for t in range(T):
            running = ~env.done
            if not running.any():
                break
            out["agent"][idx[running], t] = env.agent[running]
            out["subgoals"][idx[running], t] = env.subgoal()[running]
            actions, optimal = expert.act(env)
            out["actions"][idx[running], t] = actions[running]
            out["optimal"][idx[running], t] = (optimal[running] * (1 << np.arange(4))).sum(1)
            env.step(actions)
            ended = running & env.done
            out["agent"][idx[ended], t + 1] = env.agent[ended]
        out["lengths"][idx], out["success"][idx] = env.t, env.success
        bar.update(len(idx))
    bar.close()
    T_max = int(out["lengths"].max())
    for key in ("agent", "actions", "optimal", "subgoals"):  # trim padding to the longest episode
        out[key] = out[key][:, : T_max + (key == "agent")]
    meta = {"env": "gridworld", "task": task, "epsilon": epsilon, "seed": seed, "minirl": minirl.__version__}
    out["meta"] = np.array(json.dumps(meta))
    return out


def save_dataset(path: str | Path, data: dict[str, np.ndarray]) -> Path:
    """Write a dataset atomically (temporary file, then rename)."""
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **data), suffix=".npz")


# ---------------------------------------------------------------------------------------- loading
@dataclass
class Trajectories:
    """A loaded dataset (numpy arrays as in the module docstring) with a batch iterator."""

    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["lengths"])

    @property
    def meta(self) -> dict:
        return json.loads(str(self.arrays["meta"]))

    def subset(self, idx: np.ndarray) -> Trajectories:
        return type(self)({k: (v if k == "meta" else v[idx]) for k, v in self.arrays.items()})

    def split(self, holdout: int) -> tuple[Trajectories, Trajectories]:
        """(train, held-out): the last `holdout` episodes are held out (their layouts are fresh draws)."""
        if not 0 < holdout < len(self):
            raise ValueError(f"holdout must be in 1..{len(self) - 1}, got {holdout}")
        n = len(self) - holdout
        return self.subset(np.arange(n)), self.subset(np.arange(n, len(self)))

    def batch(self, idx: np.ndarray, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Padded torch batch of episodes `idx`, cut to their longest length T:

        obs (B, T, 13) long   o_t as object cells        next_obs (B, T, 13)  o_{t+1}
        actions (B, T) long   subgoals (B, T) long       optimal (B, T, 4) bool    mask (B, T) bool
        Padded steps have mask False, action 0 and subgoal -1; obs there repeat the last real layout.
        """
        a = self.arrays
        T = int(a["lengths"][idx].max())
        agent = a["agent"][idx, : T + 1].astype(np.int64)  # (B, T+1)
        mask = np.arange(T)[None] < a["lengths"][idx, None]  # (B, T)
        agent = np.where(agent < 0, 0, agent)
        layouts = np.broadcast_to(a["layouts"][idx, None].astype(np.int64), (len(idx), T + 1, 12))
        cells = np.concatenate([layouts, agent[..., None]], -1)  # (B, T+1, 13)
        optimal = (a["optimal"][idx, :T, None] >> np.arange(4)) & 1  # (B, T, 4)
        to = lambda x, dt=torch.long: torch.as_tensor(np.ascontiguousarray(x), dtype=dt, device=device)  # noqa: E731
        return {
            "obs": to(cells[:, :-1]), "next_obs": to(cells[:, 1:]),
            "actions": to(np.where(mask, a["actions"][idx, :T], 0)), "subgoals": to(a["subgoals"][idx, :T]),
            "optimal": to(optimal, torch.bool), "mask": to(mask, torch.bool),
        }  # fmt: skip

    def batches(self, batch_size: int, rng: np.random.Generator, bucket: bool = True, device="cpu"):
        """One epoch of shuffled batches. With `bucket`, batches hold episodes of similar length (less padding)."""
        n = len(self)
        if bucket:  # sort by length (random tie-break), cut into batches, shuffle the batches
            order = np.lexsort((rng.random(n), self.arrays["lengths"]))
            chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
            for j in rng.permutation(len(chunks)):
                yield self.batch(chunks[j], device)
        else:
            order = rng.permutation(n)
            for i in range(0, n, batch_size):
                yield self.batch(order[i : i + batch_size], device)

    def endless(self, batch_size: int, rng: np.random.Generator, device="cpu"):
        """Bucketed batches forever, one shuffled epoch after another (for step-counted training loops)."""
        while True:
            yield from self.batches(batch_size, rng, device=device)


def load_dataset(path: str | Path) -> Trajectories:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset {path} does not exist; make one with `minirl data gridworld --out {path}`")
    try:  # a .npy, a text file or a truncated archive must not surface as a numpy/zipfile internals error
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a minirl gridworld dataset (.npz): {e}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is not a minirl gridworld dataset: a single .npy array, not an .npz archive")
    with f:
        arrays = {k: f[k] for k in f.files}
    ant = "meta" in arrays and json.loads(str(arrays["meta"])).get("env") == "ant"
    missing = {"layouts", "obs" if ant else "agent", "actions", "lengths", "seeds"} - arrays.keys()
    if missing:
        raise ValueError(f"{path} is not a minirl {'ant' if ant else 'gridworld'} dataset: missing {sorted(missing)}")
    if ant:
        from minirl.data_ant import AntTrajectories

        return AntTrajectories(arrays)
    return Trajectories(arrays)


# ---------------------------------------------------------------------------------------- stage entry point
def main(cfg) -> dict:
    """`minirl data`: generate a dataset per `DataConfig`, save it, return its statistics."""
    import time

    start = time.time()
    if cfg.env == "ant":
        from minirl.checkpoints import resolve_expert
        from minirl.data_ant import generate_ant
        from minirl.experts.ant_ppo import load_expert

        path = resolve_expert(cfg.expert)
        data = generate_ant(load_expert(path), cfg.task, cfg.episodes, cfg.seed, cfg.actions, expert_name=str(path))
    else:
        data = generate_gridworld(cfg.task, cfg.episodes, cfg.epsilon, cfg.seed)
    path = save_dataset(cfg.out, data)
    stats = {
        "path": str(path), "episodes": cfg.episodes, "success_rate": float(data["success"].mean()),
        "mean_length": float(data["lengths"].mean()), "max_length": int(data["lengths"].max()),
        "seconds": round(time.time() - start, 2),
    }  # fmt: skip
    print(" ".join(f"{k}={v}" for k, v in stats.items()))
    return stats
