"""Stage 3: train the metacontroller on a frozen base model, then measure what it discovered ([P] §6, Fig. 6-7).

    minirl metacontroller gridworld --base pretrained --alpha 0.1           one metacontroller
    minirl metacontroller gridworld --cotrain                                the ablation: theta trained too
    minirl metacontroller gridworld --sweep 0,0.05,0.1,0.17,0.3,0.5,1        rate-distortion, frozen and co-trained
    minirl metacontroller ant --base RUN                                     the ant (full-matrix controller)

Training minimises [P] Eq. 3 (metacontroller.py) on clean expert episodes of the pretraining tasks (gridworld:
epsilon = 0; ant: the expert's mean actions; worlds.py) with AdamW at a constant learning rate (Tab. A9).
Afterwards, on fresh held-out layouts: action NLL and KL per step (distortion and rate), switch alignment
with the ground-truth subgoal boundaries, and the steering demo (switching.py). The run directory holds
`checkpoint.pt` (resumable; the final one is what internal RL loads), `metrics.json`, `metrics.jsonl` and
the figures.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from minirl.checkpoints import load_checkpoint, save_checkpoint, start_frozen_stage
from minirl.config import MetacontrollerConfig
from minirl.data import Trajectories
from minirl.metacontroller import Metacontroller, gaussian_kl, metacontroller_loss
from minirl.runs import write_json
from minirl.switching import code_transfer, posterior_replay, steering, switch_metrics
from minirl.worlds import REPLAY_PRETRAIN_TASK, expert_episodes


@torch.no_grad()
def analyse(model, meta: Metacontroller, data: Trajectories, layer: int, tol: int, device, batch_size: int = 0,
            seed: int = 0) -> dict:  # fmt: skip
    """Held-out action NLL and KL per step (z sampled, as in the objective), and switch alignment from the
    deterministic pass (z~ = mu). Also returns `beta` (N, T) and `subgoals` (N, T) for the figures."""
    batch_size = batch_size or (256 if meta.rank else 16)  # a full U is (B, T, D, D): smaller batches
    gen = torch.Generator(device=device).manual_seed(seed)
    nll_sum = kl_sum = steps = 0.0
    betas, subgoals = [], []
    idx = np.arange(len(data))
    for i in range(0, len(idx), batch_size):
        batch = data.batch(idx[i : i + batch_size], device)
        mask = batch["mask"].float()
        e = model.lower(batch["obs"], layer)
        sampled = meta(e, batch["mask"], sample=True, generator=gen)
        nll = model.action_nll(model.upper(e, layer, sampled["U"]), batch["actions"])
        nll_sum += float((nll * mask).sum())
        kl_sum += float((gaussian_kl(sampled["mu"], sampled["logvar"]) * mask).sum())
        steps += float(mask.sum())
        beta = meta(e, batch["mask"], sample=False)["beta"]  # (B, T)
        T = data.arrays["actions"].shape[1]
        betas.append(np.pad(beta.cpu().numpy(), ((0, 0), (0, T - beta.shape[1]))))
        subgoals.append(data.arrays["subgoals"][idx[i : i + batch_size]].astype(np.int64))
    beta, subgoals = np.concatenate(betas), np.concatenate(subgoals)
    lengths = data.arrays["lengths"].astype(np.int64)
    return {"action_nll": nll_sum / steps, "kl": kl_sum / steps, **switch_metrics(beta, subgoals, lengths, tol),
            "beta": beta, "subgoals": subgoals, "lengths": lengths}  # fmt: skip


def replay(cfg: MetacontrollerConfig, model, meta: Metacontroller, layer: int) -> dict:
    """Posterior replay (switching.posterior_replay) on a pretraining task and on the post-training task."""
    out = {}
    for name, task in (("pretrain", REPLAY_PRETRAIN_TASK[cfg.env]), ("posttrain", "posttrain")):
        data = expert_episodes(cfg.env, task, cfg.replay_episodes, 85_000 + cfg.seed, cfg.expert)
        for k, v in posterior_replay(model, meta, data, layer, seed=cfg.seed).items():
            out[f"{k}_{name}"] = v
    return out


def kl_scale(step: int, warmup: int) -> float:
    """KL annealing (INFER; the paper trains at a constant alpha for 64K steps). At U = 0 initialisation the code
    z has no effect yet, so even a small KL pull collapses the posterior to the prior before the decoder learns
    to use z (we measured KL -> 0 within 200 steps at alpha >= 0.01). So: alpha = 0 for warmup / 2 steps (the
    code learns to carry information), then a linear ramp to alpha over the next warmup / 2 steps (it is
    squeezed into as few switches as pay for themselves). The objective after the ramp is [P] Eq. 3 unchanged."""
    if warmup <= 0:
        return 1.0
    return min(1.0, max(0.0, (step + 1 - warmup / 2) / (warmup / 2)))


def alpha_at(step: int, cfg: MetacontrollerConfig) -> float:
    """The KL strength at a training step. Without an anchor: alpha * kl_scale (0, then a ramp to alpha).
    With `alpha_anchor` a > 0 (INFER, our continuation schedule; the paper trains at a constant alpha): the ramp
    goes to a instead; a is held until kl_warmup steps before the end, then alpha moves linearly to its target
    over kl_warmup / 2 steps and stays there for the last kl_warmup / 2. Which solution a run ends in (aligned
    switches, or extra early ones) is set on the way out of the ramp (docs/gridworld_findings.md); a run that has
    aligned at the anchor keeps that solution at other alphas; one that has not gains nothing
    (docs/gridworld_results.md)."""
    w = cfg.kl_warmup
    if cfg.alpha_anchor <= 0:
        return cfg.alpha * kl_scale(step, w)
    if step + 1 < w:
        return cfg.alpha_anchor * kl_scale(step, w)
    moved = min(1.0, max(0.0, (step + 1 - (cfg.steps - w)) / (w / 2)))
    return cfg.alpha_anchor + moved * (cfg.alpha - cfg.alpha_anchor)


def _episodes(cfg: MetacontrollerConfig) -> tuple[Trajectories, Trajectories]:
    """(train, held-out) clean expert episodes; held-out layouts come from another seed."""
    train = expert_episodes(cfg.env, "pretrain", cfg.train_episodes, 70_000 + cfg.seed, cfg.expert)
    return train, expert_episodes(cfg.env, "pretrain", cfg.heldout_episodes, 80_000 + cfg.seed, cfg.expert)


def train(cfg: MetacontrollerConfig, run, device, model, base_path, data=None) -> tuple[Metacontroller, dict]:
    """Fit phi (and theta when co-training) by [P] Eq. 3; resumes from <run>/checkpoint.pt if present."""
    layer = model.n_layers // 2 if cfg.layer < 0 else cfg.layer
    model._check_layer(layer)
    if cfg.cotrain:
        model = copy.deepcopy(model)  # never train the caller's base model in place
        if cfg.cotrain_init == "random":  # the paper's gridworld ablation: theta from scratch, trained jointly
            from minirl.models.sequence_model import SequenceModel

            model = SequenceModel(model.cfg).to(device)
        model.requires_grad_(True).train()
    meta = Metacontroller(model.cfg.d_model, cfg).to(device)
    params = list(meta.parameters()) + (list(model.parameters()) if cfg.cotrain else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path, step, rng = run.dir / "checkpoint.pt", 0, np.random.default_rng(cfg.seed)
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, kind="metacontroller")
        meta.load_state_dict(ckpt["state_dict"])
        if cfg.cotrain:
            model.load_state_dict(ckpt["base_state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        step, rng.bit_generator.state = ckpt["step"], ckpt["rng_state"]
        run.rewind(step)
        print(f"resuming {ckpt_path} at step {step}")
    train_data, heldout = data or _episodes(cfg)

    def save():
        save_checkpoint(ckpt_path, {
            "kind": "metacontroller", "config": cfg, "d_model": model.cfg.d_model, "layer": layer,
            "base": str(base_path), "base_model_cfg": model.cfg, "state_dict": meta.state_dict(),
            "base_state_dict": model.state_dict() if cfg.cotrain else None,
            "optimizer": opt.state_dict(), "step": step, "rng_state": rng.bit_generator.state,
        })  # fmt: skip

    name = "co-trained" if cfg.cotrain else "frozen base"
    bar = tqdm(total=cfg.steps, initial=step, desc=f"metacontroller ({name}, alpha {cfg.alpha})", unit="step")
    batches, start = train_data.endless(cfg.batch_size, rng, device=device), time.time()
    while step < cfg.steps:
        batch = next(batches)
        alpha = alpha_at(step, cfg)
        loss, stats = metacontroller_loss(model, meta, batch, layer, alpha, train_base=cfg.cotrain)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            logs = {f"losses/{k}": float(stats[k]) for k in ("action_nll", "kl")}
            logs["charts/switches_per_episode"], logs["charts/alpha"] = float(stats["switches"]), alpha
            bar.set_postfix(nll=f"{logs['losses/action_nll']:.3f}", kl=f"{logs['losses/kl']:.2f}",
                            switches=f"{logs['charts/switches_per_episode']:.1f}")  # fmt: skip
            run.log(step, logs)
        if step % 1000 == 0 or step == cfg.steps:
            save()
    bar.close()
    meta.eval(), model.eval()
    result = analyse(model, meta, heldout, layer, cfg.tolerance, device, seed=cfg.seed)
    result.update(code_transfer(model, meta, heldout, layer, seed=cfg.seed))
    result.update(replay(cfg, model, meta, layer))
    return meta, {"layer": layer, "train_seconds": round(time.time() - start, 1), "model": model, **result}


def evaluate(cfg: MetacontrollerConfig, device, model) -> tuple[Metacontroller, dict]:
    """Load a trained metacontroller (`cfg.load`) instead of training one; the same held-out analysis."""
    from minirl.checkpoints import load_metacontroller, resolve_metacontroller

    path = resolve_metacontroller(cfg.load, env=cfg.env)
    meta, layer, ckpt = load_metacontroller(path, model, device)
    trained = ckpt["config"]
    if trained["cotrain"]:
        model.load_state_dict(ckpt["base_state_dict"])
    # the same held-out layouts as a training run of this seed uses
    heldout = expert_episodes(cfg.env, "pretrain", cfg.heldout_episodes, 80_000 + cfg.seed, cfg.expert)
    result = analyse(model, meta, heldout, layer, cfg.tolerance, device, seed=cfg.seed)
    result.update(code_transfer(model, meta, heldout, layer, seed=cfg.seed))
    result.update(replay(cfg, model, meta, layer))
    flags = {k: trained[k] for k in ("alpha", "cotrain", "no_temporal")}
    return meta, {"loaded": str(path), **flags, "layer": layer, "model": model, **result}


def main(cfg: MetacontrollerConfig) -> dict:
    """Train one metacontroller (or, with `sweep`, one per alpha, frozen and co-trained; or, with `load`, load
    one) and analyse it."""
    from minirl import plots_metacontroller as plots

    run, device, base_path, model = start_frozen_stage(cfg, "metacontroller")
    if cfg.sweep_alphas:
        return sweep(cfg, run, device, model, base_path)
    meta, result = evaluate(cfg, device, model) if cfg.load else train(cfg, run, device, model, base_path)
    model = result.pop("model")  # the co-trained base, when co-training
    beta, subgoals, lengths = result.pop("beta"), result.pop("subgoals"), result.pop("lengths")
    steer = steering(model, meta, result["layer"], cfg.steering_codes, cfg.steering_episodes, seed=90_000 + cfg.seed)
    figures = {"switching.png": lambda: plots.plot_switching(beta, subgoals, lengths),
               "steering.png": lambda: plots.plot_steering(steer),
               "training.png": lambda: plots.plot_metacontroller_training(run.dir / "metrics.jsonl")}  # fmt: skip
    for name, make in figures.items():
        if name == "training.png" and cfg.load:
            continue  # nothing was trained in this run
        fig = make()
        fig.savefig(run.dir / name, dpi=120)
        plt.close(fig)
    metrics = {
        "base": str(base_path), "alpha": cfg.alpha, "cotrain": cfg.cotrain, "no_temporal": cfg.no_temporal,
        **result,  # a loaded metacontroller's own alpha, cotrain, no_temporal replace the flags
        **{k: v for k, v in steer.items() if k.startswith(("steering_", "uncontrolled_"))},
        "steering_pairs": steer["pairs"],
    }  # fmt: skip
    metrics = run.finish(metrics)
    m = metrics
    print(f"held-out: action NLL {m['action_nll']:.3f}, KL {m['kl']:.3f}; switch F1 {m['switch_f1']:.3f} (precision "
          f"{m['switch_precision']:.3f}, recall {m['switch_recall']:.3f}); {m['switches_per_episode']:.2f} switches "
          f"per episode for {m['subgoals_per_episode']:.2f} subgoals")  # fmt: skip
    if m["beta_at_boundaries"] is not None and m["beta_between"] is not None:
        print(f"  beta: {m['beta_at_boundaries']:.2f} at subgoal boundaries (largest within +-{cfg.tolerance}), "
              f"{m['beta_between']:.2f} between them; {m['beta_binary_fraction']:.2f} of steps below 0.1 or "
              "above 0.9")  # fmt: skip
    print(f"steering: a fixed prior code reaches one pair {m['steering_consistency']:.2f} of the time (uncontrolled "
          f"{m['uncontrolled_consistency']:.2f}); an expert episode's first code reaches its pair "
          f"{m['transfer_own_layout']:.2f} on its own layout, {m['transfer_other_layout']:.2f} on another "
          f"(uncontrolled {m['transfer_uncontrolled']:.2f})")  # fmt: skip
    if "transfer_other_layout_place" in m:
        place, base = m["transfer_other_layout_place"], m["transfer_uncontrolled_place"]
        print(f"  on another layout it reaches the pair nearest its first place {place:.2f} (base model {base:.2f}); "
              f"its first move is the expert's {m['transfer_other_layout_move']:.2f} "
              f"(base model {m['transfer_uncontrolled_move']:.2f})")  # fmt: skip
    print(f"posterior replay (an expert episode's codes, closed loop): success {m['replay_own_layout_pretrain']:.3f} "
          f"on a pretraining task, {m['replay_own_layout_posttrain']:.3f} on the post-training task")  # fmt: skip
    return metrics


def sweep(cfg: MetacontrollerConfig, run, device, model, base_path) -> dict:
    """Rate-distortion ([P] Fig. 7): train at every alpha, frozen and co-trained, on the same episodes."""
    from minirl import plots_metacontroller as plots

    data = _episodes(cfg)
    rows = []
    for cotrain in (False, True):
        for alpha in cfg.sweep_alphas:
            name = f"{'cotrained' if cotrain else 'frozen'}-alpha{alpha}"
            sub = dataclasses.replace(cfg, alpha=alpha, cotrain=cotrain, sweep="", out=str(Path(cfg.out) / name))
            sub_run = type(run)(sub.out, sub)
            _, result = train(sub, sub_run, device, model, base_path, data)
            kept = {k: v for k, v in result.items() if k not in ("model", "beta", "subgoals", "lengths")}
            row = {"alpha": alpha, "cotrain": cotrain, **kept}
            sub_run.finish(row)
            rows.append(row)
            print(
                f"{name}: NLL {row['action_nll']:.3f} KL {row['kl']:.3f} F1 {row['switch_f1']:.2f} "
                f"switches {row['switches_per_episode']:.2f}"
            )
    write_json(run.dir / "rate_distortion.json", rows)
    fig = plots.plot_rate_distortion(rows)
    fig.savefig(run.dir / "rate_distortion.png", dpi=120)
    plt.close(fig)
    return run.finish({"base": str(base_path), "sweep": rows})
