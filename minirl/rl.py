"""Stage 4: RL on the sparse-reward post-training task, in latent space or on raw actions ([P] §7-8, Fig. 8).

    minirl rl gridworld --method internal      the policy writes codes z at the switching unit's times
    minirl rl gridworld --method no-temporal   the same on a metacontroller trained with beta = 1
    minirl rl gridworld --method cotrained     the same on a co-trained metacontroller (and its base)
    minirl rl gridworld --method compile       the same on CompILE's codes, a new code every K steps (compile.py)
    minirl rl gridworld --method raw           PPO on the base model's own action distribution
    minirl rl ant --method internal --base RUN --metacontroller RUN      the same on the ant (worlds.py)
    minirl rl gridworld --task 0-1-4-5 --layouts 16      a diagnostic: every episode on one of 16 fixed layouts

Every method runs the same loop with the same budget: collect `batch_size` fresh episodes with the current
policy (`rollout.rollout`, one batched loop), give each its return R (1 on success, else 0), standardise R
over the batch (ppo.normalised_advantage) and take `epochs` PPO-clip steps (ppo.clipped_surrogate) on
the log-probabilities of what was sampled: codes z at decisions for the latent methods
(latent_env.LatentPolicy, recomputed over each episode's decision sequence), raw actions for `raw` (the
base model's full forward over the episode). Nothing else is trained: base, switching unit and decoder are
frozen in the latent methods.

If no episode of a batch succeeds, every advantage is 0 and nothing is learned from it: the method must
find successes by its own exploration, which is the paper's point.

Run directory: config.json, metrics.jsonl (one line per iteration), checkpoint.pt (every `checkpoint_every`
iterations, with the optimiser and both random streams: rerunning the command resumes, and a larger
`--iterations` extends a finished run, to the same result as an uninterrupted one), metrics.json, success.png.
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from minirl.checkpoints import (
    load_checkpoint,
    load_metacontroller,
    resolve_metacontroller,
    save_checkpoint,
    start_frozen_stage,
)
from minirl.config import RLConfig
from minirl.latent_env import LatentActions, LatentPolicy
from minirl.ppo import clipped_surrogate, normalised_advantage
from minirl.rollout import rollout
from minirl.worlds import PROGRESS_UNIT, batch_env, expert_success, parse_tasks


def load_latent_method(cfg: RLConfig, model, device):
    """The frozen metacontroller of a latent method, checked against the method; swaps in co-trained base weights."""
    if cfg.method == "compile":  # CompILE's hypernetwork, a switch every K steps, and its co-trained base
        from minirl.compile import load_compile

        meta, layer, _ = load_compile(resolve_metacontroller(cfg.metacontroller, cfg.method), model, device)
        return meta.requires_grad_(False), layer
    path = resolve_metacontroller(cfg.metacontroller, cfg.method, cfg.env)
    meta, layer, ckpt = load_metacontroller(path, model, device)
    trained = ckpt["config"]
    if cfg.method == "no-temporal" and not trained["no_temporal"]:
        raise ValueError(f"method no-temporal needs a metacontroller trained with --no_temporal; "
                         f"{cfg.metacontroller!r} was not")  # fmt: skip
    if cfg.method == "cotrained":
        if not trained["cotrain"]:
            raise ValueError(f"method cotrained needs a metacontroller trained with --cotrain; {cfg.metacontroller!r} "
                             "was not")  # fmt: skip
        model.load_state_dict(ckpt["base_state_dict"])
    if cfg.method == "internal" and (trained["no_temporal"] or trained["cotrain"]):
        raise ValueError(f"method internal needs a metacontroller trained on the frozen base with temporal "
                         f"integration; {cfg.metacontroller!r} is a baseline's")  # fmt: skip
    return meta.requires_grad_(False), layer


def collect(cfg, model, layer, meta, policy, seeds, gen) -> tuple[dict, dict]:
    """One batch of episodes with the current policy: (rollout result, what PPO needs)."""
    env = batch_env(cfg.env, len(seeds), task=parse_tasks(cfg.env, cfg.task)[0])
    device = next(model.parameters()).device
    if cfg.method == "raw":
        r = rollout(env, model, layer, None, seeds=seeds, generator=gen, record_obs=True)
        obs = torch.as_tensor(r["obs"], device=device)  # (B, T, 13) (ant: (B, T, 41) float)
        actions = torch.as_tensor(r["actions"], device=device)  # (B, T) (ant: (B, T, 8) unclipped samples)
        actions = actions.float() if actions.is_floating_point() else actions
        return r, {"obs": obs, "actions": actions, "mask": torch.as_tensor(r["active"], device=device)}
    chooser = LatentActions(meta, policy, len(seeds), device, generator=gen)
    r = rollout(env, model, layer, chooser, seeds=seeds, generator=gen)
    d = chooser.decisions()
    return r, {k: v.to(device) for k, v in d.items()}


def log_probs(cfg, model, policy, batch) -> torch.Tensor:
    """log pi of what was sampled, per step (B, M): codes at decisions, or raw actions (categorical; ant: the
    Gaussian density of the unclipped torques)."""
    if cfg.method == "raw":
        return -model.action_nll(model(batch["obs"]), batch["actions"])  # (B, T)
    return policy.log_prob(policy(batch["e"]), batch["z"])


def episode_seeds(cfg: RLConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) reset seeds: fresh ones (a new layout each), or with `layouts` = N, draws from N fixed seeds."""
    if not cfg.layouts:
        return rng.integers(0, 2**63 - 1, n)
    pool = np.random.default_rng([cfg.seed, 1]).integers(0, 2**63 - 1, cfg.layouts)  # the same N every call
    return pool[rng.integers(0, cfg.layouts, n)]


def resume_point(path, cfg: RLConfig) -> dict | None:
    """The checkpoint of an interrupted (or shorter) run of the same command in this run directory, or None."""
    if not path.exists():
        return None
    ckpt = load_checkpoint(path, kind=f"rl_{cfg.method}")
    if "iteration" not in ckpt:
        raise ValueError(f"{path} was written before RL runs could resume; choose another --out")
    ignore = {"iterations", "eval_episodes", "checkpoint_every", "out", "device"}
    old, new = ckpt["config"], dataclasses.asdict(cfg)  # checkpoints store configs as plain dicts
    differ = sorted(k for k in new if k not in ignore and old.get(k) != new[k])
    if differ:
        settings = ", ".join(f"{k}={old.get(k)!r}" for k in differ)
        raise ValueError(f"{path} holds a run with other settings ({settings}): rerun with them, or use another --out")
    return ckpt


def main(cfg: RLConfig) -> dict:
    """Train one method on the task; returns the success curve and the final success on fresh episodes (with
    `layouts`, new episodes on the same N layouts)."""
    from minirl.plots_metacontroller import plot_rl_curves

    run, device, base_path, model = start_frozen_stage(cfg, "rl")
    meta, layer, policy = None, model.n_layers // 2, None
    if cfg.method == "raw":
        model.requires_grad_(True)
        params = list(model.parameters())
    else:
        meta, layer = load_latent_method(cfg, model, device)
        policy = LatentPolicy(model.cfg.d_model, meta.n_z, cfg.policy_width).to(device)
        params = list(policy.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)  # [P] Tab. A13: wd 0, constant lr
    rng, gen = np.random.default_rng(cfg.seed), torch.Generator(device=device).manual_seed(cfg.seed)
    trained = policy if policy is not None else model  # what PPO updates
    curve, episodes, start, ckpt_path = [], 0, 0, run.dir / "checkpoint.pt"
    ckpt = resume_point(ckpt_path, cfg)
    if ckpt is not None:
        trained.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        start, curve, episodes = ckpt["iteration"], [tuple(c) for c in ckpt["curve"]], ckpt["episodes"]
        rng.bit_generator.state = ckpt["rng_state"]
        gen.set_state(ckpt["generator_state"])
        run.rewind(start)
        print(f"resuming {ckpt_path} at iteration {start}")

    def save(iteration: int) -> None:
        save_checkpoint(ckpt_path, {
            "kind": f"rl_{cfg.method}", "config": cfg, "base": str(base_path), "state_dict": trained.state_dict(),
            "optimizer": opt.state_dict(), "iteration": iteration, "curve": curve, "episodes": episodes,
            "rng_state": rng.bit_generator.state, "generator_state": gen.get_state(),
        })  # fmt: skip

    bar = tqdm(range(start, cfg.iterations), desc=f"rl ({cfg.method})", unit="iter", initial=start,
               total=cfg.iterations)  # fmt: skip
    for it in bar:
        with torch.no_grad():
            r, batch = collect(cfg, model, layer, meta, policy, episode_seeds(cfg, rng, cfg.batch_size), gen)
            logp_old = log_probs(cfg, model, policy, batch)
        episodes += cfg.batch_size
        returns = torch.as_tensor(r["success"], dtype=torch.float32, device=device)
        adv = normalised_advantage(returns)
        stats = {}
        for _ in range(cfg.epochs):
            loss, stats = clipped_surrogate(log_probs(cfg, model, policy, batch), logp_old, adv, batch["mask"],
                                            cfg.clip)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        success, colours = float(r["success"].mean()), float(r["progress"].mean())
        curve.append((episodes, success))
        bar.set_postfix(success=f"{success:.3f}", colours=f"{colours:.2f}")
        logs = {"charts/episodes": episodes, "charts/success": success, "charts/colours": colours,
                "charts/steps_per_episode": float(batch["mask"].sum(1).float().mean())}  # fmt: skip
        run.log(it + 1, {**logs, **{f"losses/{k}": v for k, v in stats.items()}})
        if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == cfg.iterations:
            save(it + 1)
    model.eval()
    with torch.no_grad():  # the final evaluation draws from the streams as saved at the last iteration
        final, _ = collect(cfg, model, layer, meta, policy, episode_seeds(cfg, rng, cfg.eval_episodes), gen)
    fig = plot_rl_curves({cfg.method: curve})
    fig.savefig(run.dir / "success.png", dpi=120)
    plt.close(fig)
    result = {"method": cfg.method, "task": cfg.task, "episodes": episodes, "curve": curve,
              "success": float(final["success"].mean()), "colours": float(final["progress"].mean())}  # fmt: skip
    if cfg.env == "ant":  # [P] Fig. 8 (ant): success as a fraction of the expert's own on the task
        result["expert_success"] = expert_success(cfg.env, cfg.task, cfg.eval_episodes, 95_000 + cfg.seed, cfg.expert)
        result["success_vs_expert"] = result["success"] / max(result["expert_success"], 1e-9)
    metrics = run.finish(result)
    m = metrics
    vs_expert = f"; {m['success_vs_expert']:.2f} of the expert's {m['expert_success']:.3f}" if cfg.env == "ant" else ""
    print(f"{cfg.method}: success {m['success']:.3f} ({m['colours']:.2f} {PROGRESS_UNIT[cfg.env]}), {episodes} "
          f"episodes{vs_expert}")  # fmt: skip
    return metrics
