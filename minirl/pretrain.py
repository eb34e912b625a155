"""Stage 1: pretrain the base sequence model on expert trajectories ([P] §4.1, Eq. 4-5).

    L(theta) = sum_t [ -ln p(a_t | o_{1:t})  -  lambda ln p(o_{t+1} | o_{1:t}) ]     masked mean over real steps

Data: fresh shortest-path expert episodes of the 16 pretraining tasks (or a given .npz), batched by
length. Optimiser: AdamW. The paper uses a constant lr of 3e-4 for 256K steps of 1024 episodes; on a CPU
budget (<1% of that) a larger peak lr with warm-up and cosine decay learns much faster (measurements.md),
so the `cpu`/`gpu` presets use it and `paper` keeps the constant lr.

Run directory: config.json, metrics.jsonl, checkpoint.pt (resumable: rerun the same command), metrics.json.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from minirl.checkpoints import load_checkpoint, save_checkpoint
from minirl.config import PretrainConfig
from minirl.data import Trajectories, generate_gridworld, load_dataset
from minirl.evaluation import evaluate_ant_base_model, evaluate_base_model, heldout_metrics
from minirl.models.sequence_model import SequenceModel
from minirl.runs import Run, default_out, seed_everything


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return torch.device(device)


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then constant or cosine decay to min_lr_frac * lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def pretrain_loss(model: SequenceModel, batch: dict, obs_coef: float) -> tuple[torch.Tensor, dict]:
    """Masked mean of action NLL + lambda * next-observation NLL over the real steps of a padded batch."""
    heads = model(batch["obs"])  # (B, T, ...)
    mask = batch["mask"].float()  # (B, T)
    n = mask.sum()
    action_nll = (model.action_nll(heads, batch["actions"]) * mask).sum() / n
    loss, logs = action_nll, {"losses/action_nll": action_nll.item()}
    if obs_coef > 0:
        obs_nll = (model.obs_nll(heads, batch["next_obs"]) * mask).sum() / n
        loss = loss + obs_coef * obs_nll
        logs["losses/obs_nll"] = obs_nll.item()
    logs["losses/total"] = loss.item()
    return loss, logs


def load_data(cfg: PretrainConfig) -> tuple[Trajectories, Trajectories]:
    """(train, held-out). Held-out episodes come from another seed: fresh layouts the model never saw.

    The ant has no cheap expert to draw fresh episodes from: its held-out set is the last `heldout_episodes`
    (at most a fifth) of the `--data` file, whose layouts are also fresh draws."""
    if cfg.env == "ant":
        if not cfg.data:
            raise ValueError("ant pretraining needs --data: make it with `minirl data ant --actions sampled`")
        data = load_dataset(cfg.data)
        if data.meta.get("env") != "ant":
            raise ValueError(f"{cfg.data} is a {data.meta.get('env')!r} dataset, not an ant one")
        return data.split(max(1, min(cfg.heldout_episodes, len(data) // 5)))
    if cfg.data:
        train = load_dataset(cfg.data)
    else:
        train = Trajectories(generate_gridworld("pretrain", cfg.train_episodes, cfg.epsilon, seed=cfg.seed))
    heldout = Trajectories(generate_gridworld("pretrain", cfg.heldout_episodes, 0.0, seed=10_000 + cfg.seed))
    return train, heldout


def main(cfg: PretrainConfig) -> dict:
    """Train (or resume) a base model; returns the final metrics (also in <out>/metrics.json)."""
    out = cfg.out or str(default_out("pretrain", f"{cfg.env}-{cfg.preset}-s{cfg.seed}"))
    cfg.out = out
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed, device)
    run = Run(out, cfg)
    ckpt_path = run.dir / "checkpoint.pt"

    # ---------------------------------------------------------------- model, optimiser, resume
    model = SequenceModel(cfg.model).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, cfg.beta2),
    )  # fmt: skip
    step, rng = 0, np.random.default_rng(cfg.seed)
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, kind="base_model")
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        step, rng.bit_generator.state = ckpt["step"], ckpt["rng_state"]
        run.rewind(step)
        print(f"resuming {ckpt_path} at step {step}")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"base model: {cfg.model.arch}, {cfg.model.n_layers} x {cfg.model.d_model}, {n_params / 1e6:.2f}M params")

    train, heldout = load_data(cfg)

    def save():
        save_checkpoint(ckpt_path, {
            "kind": "base_model", "model_cfg": cfg.model, "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(), "step": step, "rng_state": rng.bit_generator.state, "config": cfg,
        })  # fmt: skip

    # ---------------------------------------------------------------- ALGO LOGIC: the training loop
    start, logs = time.time(), {}
    bar = tqdm(total=cfg.steps, initial=step, desc="pretrain", unit="step")
    batches = iter(())
    model.train()
    while step < cfg.steps:
        batch = next(batches, None)
        if batch is None:  # a new epoch over the training episodes
            batches = train.batches(cfg.batch_size, rng, bucket=cfg.bucket, device=device)
            batch = next(batches)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, logs = pretrain_loss(model, batch, cfg.obs_coef)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        bar.update(1)
        if step % 50 == 0 or step == cfg.steps:
            bar.set_postfix(nll=f"{logs['losses/action_nll']:.3f}")
            run.log(step, {**logs, "charts/lr": lr_at(step - 1, cfg), "charts/episodes_seen": step * cfg.batch_size})
        if step % cfg.eval_every == 0 and step < cfg.steps:
            model.eval()
            run.log(step, heldout_metrics(model, heldout, device))
            model.train()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save()
    bar.close()

    # ---------------------------------------------------------------- final evaluation
    model.eval()
    metrics = {
        "train_seconds": round(time.time() - start, 1), "steps": step, "episodes_seen": step * cfg.batch_size,
        "n_params": n_params, "final_action_nll": logs.get("losses/action_nll"),
        **heldout_metrics(model, heldout, device, ceiling=cfg.env == "gridworld"),
        **(evaluate_ant_base_model if cfg.env == "ant" else evaluate_base_model)(
            model, cfg.eval_episodes, seed=cfg.seed + 20_000),
    }  # fmt: skip
    metrics = run.finish(metrics)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return metrics
