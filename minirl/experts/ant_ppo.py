"""Training the ant-pinpad expert with PPO (`minirl expert ant`, [P] §C.1.1, Tab. A3).

PPO-clip with a learned value baseline and GAE, the recipe of CleanRL's `ppo_continuous_action.py`, on B
batched ant-pinpad episodes of all 16 pretraining tasks. Per iteration:

    1. roll out `rollout_steps` steps of every episode (finished slots restart at once)
    2. shaped reward  r_t = d_{t-1} . v_t  + healthy - ctrl_cost |a_t|^2  + success_bonus * success_t
                            - fail_penalty * failed_t
       where v_t is the torso's planar velocity and d the shortest-path direction (`ant_expert.Guidance`)
    3. GAE(gamma, lambda) advantages, normalised per minibatch; returns scaled by a running std (CleanRL's
       NormalizeReward)
    4. `epochs` passes of minibatch SGD on  -min(rho A, clip(rho, 1 +- eps) A) + vf_coef (V - R)^2 - ent_coef H

The paper's reward is the velocity term alone; the healthy bonus and control cost are Ant-v5's (INFER: the
standard shaping that keeps a learning ant upright), the success bonus is the task's own reward. Truncation at
500 steps is treated as an end (no bootstrapping), as CleanRL does. Resuming restarts the episodes.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from minirl.checkpoints import load_checkpoint, save_checkpoint
from minirl.envs.ant_batch import AntPinpadBatch
from minirl.envs.ant_core import FRAME_SKIP
from minirl.experts.ant_config import AntExpertConfig
from minirl.experts.ant_expert import AntExpert, Guidance, success_rate
from minirl.experts.ant_symmetry import unrelabel_actions
from minirl.runs import Run, default_out, seed_everything
from minirl.tasks import ANT_POSTTRAIN_TASK

DT = 0.01 * FRAME_SKIP  # seconds per env step


def collect(expert: AntExpert, env: AntPinpadBatch, guide: Guidance, obs: np.ndarray, cfg: AntExpertConfig):
    """One rollout of `cfg.rollout_steps` steps of every episode. Returns the batch and the next env observation."""
    T, B = cfg.rollout_steps, env.num_envs
    shapes = {"obs": (expert.obs_dim,), "act": (8,), "logp": (), "rew": (), "done": (), "value": ()}
    buf = {k: np.zeros((T, B) + s, np.float32) for k, s in shapes.items()}
    stats = {"success": 0, "episodes": 0, "speed": 0.0}
    for t in range(T):
        guide.update(env)
        x, d, k = guide.observation(env)  # (B, 28) canonical features, (B, 2), (B,)
        with torch.no_grad():
            xt = torch.as_tensor(x)
            dist, value = expert.dist(xt), expert.value(xt)
            a = dist.sample()  # (B, 8)
            logp = dist.log_prob(a).sum(-1)
        xy = env.qpos[:, :2].copy()
        obs, success, term, trunc, _ = env.step(unrelabel_actions(a.clamp(-1, 1).numpy().astype(np.float64), k))
        along = ((env.qpos[:, :2] - xy) / DT * d).sum(1)  # velocity along the path direction (B,)
        ended = term | trunc
        healthy = np.where(term & ~(success > 0), 0.0, cfg.healthy_reward)  # no bonus on a failing step
        failed = term & ~(success > 0)
        rew = along + healthy - cfg.ctrl_cost * (a.clamp(-1, 1).numpy() ** 2).sum(1) + cfg.success_bonus * success
        rew = rew - cfg.fail_penalty * failed
        for key, v in (("obs", x), ("act", a.numpy()), ("logp", logp.numpy()), ("rew", rew), ("done", ended),
                     ("value", value.numpy())):  # fmt: skip
            buf[key][t] = v
        stats["success"] += int(success.sum())
        stats["episodes"] += int(ended.sum())
        stats["speed"] += float(along.mean()) / T
        if ended.any():
            obs, _ = env.reset_done()
    guide.update(env)
    x, _, _ = guide.observation(env)
    with torch.no_grad():
        buf["last_value"] = expert.value(torch.as_tensor(x)).numpy()
    return buf, obs, stats


class ReturnScaler:
    """Divides rewards by the running std of the discounted return (CleanRL's NormalizeReward)."""

    def __init__(self, num_envs: int, gamma: float):
        self.ret, self.gamma = np.zeros(num_envs), gamma
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, rew: np.ndarray, done: np.ndarray) -> np.ndarray:  # (T, B) -> (T, B)
        out = np.zeros_like(rew)
        for t in range(len(rew)):
            self.ret = self.ret * self.gamma + rew[t]
            n, delta = len(self.ret), self.ret.mean() - self.mean
            total = self.count + n
            self.mean += delta * n / total
            self.var = (self.var * self.count + self.ret.var() * n + delta**2 * self.count * n / total) / total
            self.count = total
            out[t] = rew[t] / np.sqrt(self.var + 1e-8)
            self.ret = np.where(done[t] > 0, 0.0, self.ret)
        return out


def gae(rew, value, done, last_value, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation over (T, B) arrays; `done[t]` ends the episode after step t."""
    adv = np.zeros_like(rew)
    running = np.zeros(rew.shape[1], np.float32)
    for t in reversed(range(len(rew))):
        next_value = last_value if t == len(rew) - 1 else value[t + 1]
        nonterminal = 1.0 - done[t]
        delta = rew[t] + gamma * next_value * nonterminal - value[t]
        running = delta + gamma * lam * nonterminal * running
        adv[t] = running
    return adv, adv + value


def update(expert: AntExpert, opt, buf: dict, adv: np.ndarray, ret: np.ndarray, cfg: AntExpertConfig, gen) -> dict:
    """`cfg.epochs` passes of PPO-clip minibatch updates over the rollout."""
    obs = torch.as_tensor(buf["obs"].reshape(-1, expert.obs_dim))
    act, old_logp = torch.as_tensor(buf["act"].reshape(-1, 8)), torch.as_tensor(buf["logp"].ravel())
    adv_t, ret_t = torch.as_tensor(adv.ravel()), torch.as_tensor(ret.ravel())
    n, logs = len(obs), []
    for _ in range(cfg.epochs):
        for idx in torch.randperm(n, generator=gen).split(cfg.minibatch):
            dist = expert.dist(obs[idx])
            logp = dist.log_prob(act[idx]).sum(-1)
            ratio = (logp - old_logp[idx]).exp()
            a = adv_t[idx]
            a = (a - a.mean()) / (a.std() + 1e-8)
            pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a).mean()
            v_loss = 0.5 * (expert.value(obs[idx]) - ret_t[idx]).pow(2).mean()
            entropy = dist.entropy().sum(-1).mean()
            loss = pg + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(expert.parameters(), cfg.max_grad_norm)
            opt.step()
            logs.append(
                [pg.item(), v_loss.item(), entropy.item(), ((ratio - 1).abs() > cfg.clip).float().mean().item()]
            )
    expert.norm.update(obs)  # after the update: the rollout's log-probs were taken under the old statistics
    pg, v, ent, clipped = np.mean(logs, 0)
    return {"losses/policy": pg, "losses/value": v, "losses/entropy": ent, "losses/clip_frac": clipped}


def evaluate(expert: AntExpert, cfg: AntExpertConfig, seed: int) -> dict:
    """Mean-action success on fresh layouts: the pretraining tasks and the post-training task."""
    pre = success_rate(expert, "pretrain", cfg.eval_episodes, seed)
    post = success_rate(expert, ANT_POSTTRAIN_TASK, cfg.eval_episodes, seed + 10**6)
    return {"eval/pretrain_success": pre["success"], "eval/pretrain_pads": pre["pads"],
            "eval/posttrain_success": post["success"], "eval/posttrain_pads": post["pads"],
            "eval/pretrain_length": pre["length"]}  # fmt: skip


def main(cfg: AntExpertConfig) -> dict:
    seed_everything(cfg.seed)
    out = cfg.out or str(default_out("expert", f"ant-{cfg.preset}-s{cfg.seed}"))
    run = Run(out, cfg)
    expert = AntExpert(cfg.hidden)
    opt = torch.optim.Adam(expert.parameters(), lr=cfg.lr, eps=1e-5)
    start = 0
    ckpt_path = run.dir / "checkpoint.pt"
    if cfg.init and not ckpt_path.exists():  # a new run from trained weights (not a resume: fresh optimiser)
        from minirl.checkpoints import resolve_expert

        expert.load_state_dict(load_checkpoint(resolve_expert(cfg.init), kind="ant_expert")["state_dict"])
    if ckpt_path.exists():  # resume
        ckpt = load_checkpoint(ckpt_path, kind="ant_expert")
        expert.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        start = ckpt["iteration"]
        run.rewind(start)
        print(f"resuming {out} at iteration {start}")
    env = AntPinpadBatch(cfg.num_envs, task="pretrain", seed=cfg.seed + start, nthread=cfg.nthread)
    guide, scaler = Guidance(cfg.num_envs), ReturnScaler(cfg.num_envs, cfg.gamma)
    gen = torch.Generator().manual_seed(cfg.seed + start)
    obs, _ = env.reset()
    metrics: dict = {}
    bar = tqdm(range(start, cfg.iterations), desc="ant expert (PPO)", initial=start, total=cfg.iterations)
    for it in bar:
        for g in opt.param_groups:  # linear annealing, as CleanRL
            g["lr"] = cfg.lr * (1 - it / cfg.iterations)
        buf, obs, stats = collect(expert, env, guide, obs, cfg)
        rew = scaler(buf["rew"], buf["done"])
        adv, ret = gae(rew, buf["value"], buf["done"], buf["last_value"], cfg.gamma, cfg.gae_lambda)
        logs = update(expert, opt, buf, adv, ret, cfg, gen)
        logs.update({"charts/speed_along_path": stats["speed"], "charts/episodes": stats["episodes"],
                     "charts/success_rate": stats["success"] / max(stats["episodes"], 1),
                     "charts/env_steps": (it + 1) * cfg.num_envs * cfg.rollout_steps})  # fmt: skip
        if (it + 1) % cfg.eval_every == 0 or it + 1 == cfg.iterations:
            logs.update(evaluate(expert, cfg, cfg.seed + 7919 * (it + 1)))
        run.log(it + 1, logs)
        bar.set_postfix(speed=f"{stats['speed']:.2f}", success=f"{logs['charts/success_rate']:.2f}")
        if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == cfg.iterations:
            save_checkpoint(ckpt_path, {"kind": "ant_expert", "config": cfg, "hidden": cfg.hidden,
                                        "state_dict": expert.state_dict(), "optimizer": opt.state_dict(),
                                        "iteration": it + 1})  # fmt: skip
    env.close()
    final = evaluate(expert, cfg, cfg.seed + 10**7)
    metrics = {k.split("/")[1]: v for k, v in final.items()}
    metrics["env_steps"] = cfg.iterations * cfg.num_envs * cfg.rollout_steps
    return run.finish(metrics)


def load_expert(path) -> AntExpert:
    """A trained expert from a run directory or checkpoint file."""
    ckpt = load_checkpoint(path, kind="ant_expert")
    expert = AntExpert(ckpt["hidden"])
    expert.load_state_dict(ckpt["state_dict"])
    return expert.eval()
