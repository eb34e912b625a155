"""Model throughput of the gridworld base transformer: training tokens/s and batched rollout steps/s, one run.

Speed is measured here and never asserted in tests. Everything below is measured in the same run, on the
same device, so the ratios are what to compare across machines.

Training  forward + backward + AdamW step of the pretraining loss (`minirl.pretrain.pretrain_loss`) on
          shuffled, length-bucketed batches of real expert episodes (`Trajectories.batches`), for the model
          sizes of the presets `cpu` (4 x 64), `gpu` (6 x 128) and `paper` (6 x 256). tokens/s counts the
          real (unpadded) time steps; padded tokens/s counts what the model actually computed.
Rollout   B gridworld-pinpad episodes in lockstep (`GridPinpadBatch`) for H steps, actions sampled from the
          model's policy, control layer L/2 as in `minirl.rollout`:
              env only     the env with random actions (the floor: no model)
              cached step  `step_lower` + `step_upper` with KV caches: O(t) work at step t
              naive        the full-sequence forward over o_{1:t} at every step: O(t^2) work at step t
          steps/s counts B x H lockstep env steps; "x naive" is the speed-up of each row over the naive way.

On CUDA the model runs under bf16 autocast (`--no-bf16` for fp32), on CPU in fp32. Default sizes keep a
2-core CPU run near a minute; on CUDA all three model sizes and a longer horizon run by default. On a CPU
shared with another torch job, pass `--threads 1`: two processes that each spin two threads on two cores
can run 10-100x slower than either alone.

Usage: python benchmarks/model_throughput.py [--device auto|cpu|cuda] [--models cpu,gpu,paper] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time

import numpy as np
import torch

from minirl.config import pretrain_preset
from minirl.data import Trajectories, generate_gridworld
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.models.sequence_model import SequenceModel
from minirl.pretrain import pretrain_loss, resolve_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, bf16: bool):
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(preset: str, device: torch.device, seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    return SequenceModel(pretrain_preset(preset).model).to(device)


# ---------------------------------------------------------------------------------------- training
def bench_train(model: SequenceModel, data: Trajectories, batch_size: int, steps: int, warmup: int,
                device: torch.device, bf16: bool) -> dict:  # fmt: skip
    """Time `steps` optimiser steps (after `warmup` untimed ones). Returns seconds and token counts."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.03)
    rng = np.random.default_rng(0)
    epochs = (data.batches(batch_size, rng, bucket=True, device=device) for _ in itertools.count())
    batches = itertools.chain.from_iterable(epochs)  # an endless stream of shuffled epochs
    real = padded = 0
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start, real, padded = time.perf_counter(), 0, 0
        batch = next(batches)
        with autocast(device, bf16):
            loss, _ = pretrain_loss(model, batch, obs_coef=0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        real += int(batch["mask"].sum())  # (B, T) real steps
        padded += batch["mask"].numel()
    sync(device)
    return {"seconds": time.perf_counter() - start, "tokens": real, "padded": padded}


# ---------------------------------------------------------------------------------------- rollouts
@torch.inference_mode()
def bench_rollout(model: SequenceModel | None, B: int, horizon: int, mode: str, device: torch.device,
                  bf16: bool) -> float:  # fmt: skip
    """Seconds for B episodes x `horizon` lockstep steps. mode: 'env' (random actions), 'cached' or 'naive'."""
    env = GridPinpadBatch(B, task_set="pretrain")
    obs, _ = env.reset(np.arange(B))
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)
    if model is not None:
        model.eval()
        layer = model.n_layers // 2
        state = model.init_state(B, device)
    history = []
    sync(device)
    start = time.perf_counter()
    for _ in range(horizon):  # finished episodes keep stepping (ignored by the env): fixed work per step
        if mode == "env":
            actions = rng.integers(0, 4, size=B)
        else:
            o = torch.as_tensor(obs, device=device)  # (B, 13)
            with autocast(device, bf16):
                if mode == "cached":
                    e = model.step_lower(o, state, layer)  # (B, D)
                    logits = model.step_upper(e, state, layer)["action_logits"]  # (B, 4)
                else:
                    history.append(o)
                    logits = model(torch.stack(history, 1))["action_logits"][:, -1]  # (B, t, 13) -> (B, 4)
            actions = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=gen)[:, 0].cpu().numpy()
        obs, *_ = env.step(actions)
    sync(device)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast on CUDA")
    p.add_argument("--models", default="", help="comma list of presets (default: cpu on CPU, cpu,gpu,paper on CUDA)")
    p.add_argument("--batch-size", type=int, default=0, help="training episodes per batch (default: the preset's)")
    p.add_argument("--train-steps", type=int, default=0, help="timed training steps (default: 10 CPU, 30 CUDA)")
    p.add_argument("--rollout-batch", default="256,1024", help="comma list of rollout batch sizes B")
    p.add_argument("--horizon", type=int, default=0, help="rollout steps H (default: 50 CPU, 100 CUDA)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run: tiny batches and horizon")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    models = (args.models or ("cpu,gpu,paper" if cuda else "cpu")).split(",")
    train_steps = args.train_steps or (30 if cuda else 10)
    horizon = args.horizon or (100 if cuda else 50)
    rollout_batches = [int(b) for b in args.rollout_batch.split(",")]
    batch_size = args.batch_size
    if args.quick:
        train_steps, horizon, rollout_batches, batch_size = 2, 8, [16, 64], batch_size or 16
    bf16 = args.bf16 and cuda
    threads = f"{torch.get_num_threads()} threads" if not cuda else torch.cuda.get_device_name(device)
    print(f"device: {device} ({threads}), torch {torch.__version__}, bf16 autocast: {'on' if bf16 else 'off'}")

    sizes = {m: batch_size or pretrain_preset(m).batch_size for m in models}
    episodes = max(4 * max(sizes.values()), 256)
    start = time.perf_counter()
    data = Trajectories(generate_gridworld("pretrain", episodes, 0.0, seed=0, progress=False))
    print(f"{episodes} expert episodes for the training batches in {time.perf_counter() - start:.1f}s")

    # -------------------------------------------------------------------------------- training table
    print(f"\ntraining: forward + backward + AdamW, {train_steps} timed steps after 2 warm-up steps")
    print(f"{'model':18s} {'params':>8s} {'batch':>6s} {'ms/step':>9s} {'tokens/s':>11s} {'padded tok/s':>13s} "
          f"{'vs ' + models[0]:>9s}")  # fmt: skip
    ref = None
    for m in models:
        model = build_model(m, device)
        r = bench_train(model, data, sizes[m], train_steps, warmup=2, device=device, bf16=bf16)
        rate = r["tokens"] / r["seconds"]
        ref = ref or rate
        cfg = model.cfg
        name = f"{m} ({cfg.n_layers} x {cfg.d_model})"
        n_params = sum(q.numel() for q in model.parameters())
        print(f"{name:18s} {n_params / 1e6:7.2f}M {sizes[m]:6d} {1000 * r['seconds'] / train_steps:9.1f} "
              f"{rate:11,.0f} {r['padded'] / r['seconds']:13,.0f} {rate / ref:8.2f}x")  # fmt: skip

    # -------------------------------------------------------------------------------- rollout table
    print(f"\nrollout: B episodes x H = {horizon} lockstep steps, sampled actions, control layer L/2")
    print(f"{'model':18s} {'B':>6s} {'path':12s} {'seconds':>8s} {'ms/step':>8s} {'steps/s':>12s} {'x naive':>8s}")
    for m in models:
        model = build_model(m, device)
        for B in rollout_batches:
            bench_rollout(model, B, 2, "cached", device, bf16)  # warm-up (allocator, kernels)
            times = {mode: bench_rollout(None if mode == "env" else model, B, horizon, mode, device, bf16)
                     for mode in ("env", "cached", "naive")}  # fmt: skip
            for mode, seconds in times.items():
                label = {"env": "env only", "cached": "cached step", "naive": "naive"}[mode]
                print(f"{m:18s} {B:6d} {label:12s} {seconds:8.2f} {1000 * seconds / horizon:8.2f} "
                      f"{B * horizon / seconds:12,.0f} {times['naive'] / seconds:7.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
