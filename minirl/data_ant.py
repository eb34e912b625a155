"""Expert datasets for ant-pinpad ([P] §C.1.1, §C.4.4): the PPO expert rolled out on the batched env, as .npz.

Two kinds, as the paper: the pretraining dataset D takes actions *sampled* from the expert's Gaussian; the
metacontroller's dataset D* takes its *mean* actions (deterministic, cleaner demonstrations). Episodes that do
not succeed are kept (the paper: "expert trajectories are not always successful"); `success` marks them.
Same conventions as the gridworld's `data.py`; with N episodes and T = the longest episode:

| key       | shape         | dtype   | meaning                                                         |
|-----------|---------------|---------|-----------------------------------------------------------------|
| obs       | (N, T+1, 41)  | float16 | observations o_1..o_{T+1} (`ant_core.observe`); 0 padding       |
| actions   | (N, T, 8)     | float16 | torques a_1..a_T in [-1, 1]; 0 padding                          |
| subgoals  | (N, T)        | int8    | ground-truth subgoal (the next colour) when a_t is taken; -1 pad |
| layouts   | (N, 5)        | int8    | cells of colours 0..3 then the wall                             |
| lengths   | (N,)          | int16   | T_i, the number of actions                                      |
| success   | (N,)          | bool    | the episode was rewarded                                        |
| seeds     | (N,)          | int64   | `AntPinpadEnv.reset(seed=seeds[i])` rebuilds the episode's start |
| tasks     | (N, Lmax)     | int8    | each episode's task, -1 padding                                 |
| meta      | ()            | str     | JSON: env, task spec, action kind, expert, seed, minirl version |

float16 keeps 10K episodes of up to 500 steps under ~0.5 GB; observations are O(1) (symlog, normalised).
"""

from __future__ import annotations

import json

import numpy as np
import torch
from tqdm.auto import tqdm

import minirl
from minirl.data import Trajectories
from minirl.envs.ant_batch import AntPinpadBatch
from minirl.envs.ant_core import ACTION_DIM, MAX_STEPS, NUM_OBJECTS, OBS_DIM
from minirl.experts.ant_expert import AntExpert, Guidance, expert_actions
from minirl.tasks import parse_task_set


def generate_ant(
    expert: AntExpert, task: str = "pretrain", episodes: int = 1000, seed: int = 0, actions: str = "sampled",
    batch_size: int = 256, progress: bool = True, expert_name: str = "",
) -> dict[str, np.ndarray]:  # fmt: skip
    """Roll out `expert` on `episodes` fresh layouts; `actions` is 'sampled' (dataset D) or 'mean' (D*)."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if actions not in ("sampled", "mean"):
        raise ValueError(f"actions {actions!r}: expected 'sampled' (pretraining data) or 'mean' (metacontroller data)")
    tasks = parse_task_set(task, env="ant")
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)
    gen = torch.Generator().manual_seed(seed)
    T = MAX_STEPS
    out = {
        "obs": np.zeros((episodes, T + 1, OBS_DIM), np.float16),
        "actions": np.zeros((episodes, T, ACTION_DIM), np.float16),
        "subgoals": np.full((episodes, T), -1, np.int8), "layouts": np.zeros((episodes, NUM_OBJECTS), np.int8),
        "lengths": np.zeros(episodes, np.int16), "success": np.zeros(episodes, bool), "seeds": seeds,
        "tasks": np.full((episodes, max(map(len, tasks))), -1, np.int8),
    }  # fmt: skip
    bar = tqdm(total=episodes, desc=f"ant expert episodes ({task}, {actions})", unit="ep", disable=not progress)
    for lo in range(0, episodes, batch_size):
        idx = np.arange(lo, min(lo + batch_size, episodes))
        env, guide = AntPinpadBatch(len(idx), task=tasks), Guidance(len(idx))
        obs, _ = env.reset(seeds[idx])
        out["layouts"][idx] = env.layout
        for k, ti in enumerate(env.task_index):
            out["tasks"][idx[k], : len(tasks[ti])] = tasks[ti]
        for t in range(T):
            running = ~env.done
            if not running.any():
                break
            out["obs"][idx[running], t] = obs[running]
            out["subgoals"][idx[running], t] = env.subgoal()[running]
            a = expert_actions(expert, guide, env, actions == "mean", gen)  # (n, 8) in [-1, 1]
            out["actions"][idx[running], t] = a[running]
            obs, *_ = env.step(a)
            ended = running & env.done
            out["obs"][idx[ended], t + 1] = obs[ended]
        out["lengths"][idx], out["success"][idx] = env.t, env.success
        bar.update(len(idx))
    bar.close()
    T_max = int(out["lengths"].max())
    out["obs"], out["actions"], out["subgoals"] = (
        out["obs"][:, : T_max + 1],
        out["actions"][:, :T_max],
        out["subgoals"][:, :T_max],
    )
    meta = {"env": "ant", "task": task, "actions": actions, "expert": expert_name, "seed": seed,
            "minirl": minirl.__version__}  # fmt: skip
    out["meta"] = np.array(json.dumps(meta))
    return out


class AntTrajectories(Trajectories):
    """A loaded ant dataset: the gridworld's batching (length buckets, splits), with float observations."""

    def batch(self, idx: np.ndarray, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Padded torch batch of episodes `idx`, cut to their longest length T:

        obs (B, T, 41) float    o_t        next_obs (B, T, 41)    o_{t+1}
        actions (B, T, 8) float            subgoals (B, T) long   mask (B, T) bool   (padding: zeros, -1)
        """
        a = self.arrays
        T = int(a["lengths"][idx].max())
        mask = np.arange(T)[None] < a["lengths"][idx, None]  # (B, T)
        obs = a["obs"][idx, : T + 1].astype(np.float32)  # (B, T+1, 41)
        to = lambda x, dt: torch.as_tensor(np.ascontiguousarray(x), dtype=dt, device=device)  # noqa: E731
        return {
            "obs": to(obs[:, :-1], torch.float32), "next_obs": to(obs[:, 1:], torch.float32),
            "actions": to(a["actions"][idx, :T], torch.float32), "subgoals": to(a["subgoals"][idx, :T], torch.long),
            "mask": to(mask, torch.bool),
        }  # fmt: skip
