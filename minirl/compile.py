"""The CompILE baseline ([P] §8.4, §C.4.3; Kipf et al. 2019), adapted to control the base model like the metacontroller.

CompILE segments a whole expert episode into at most M pieces and gives each a latent code. Here the code
drives the same low-rank controller at layer l = L/2 as the metacontroller's, so internal RL can use it.
Per episode of real length L (positions t = 0..L-1; a boundary at t ends a segment just before step t):

    g_t        = f_enc(o_{1:t})                     encoder: a copy of the base's lower half (embedding and
                                                    blocks 1..l) on the *raw* observations, trained
    for m = 1..M:
      q(b_m)   = softmax_t f_b(g_t)  over b_{m-1} < t <= L, or t = L      (the last, b_M, is the end L)
      b_m      ~ GumbelSoftmax(q(b_m), tau)         a relaxed one-hot over positions (B, T+1)
      s_m(t)   = P(b_{m-1} <= t) - P(b_m <= t)      soft segment mask (P(b_m <= t) capped by P(b_{m-1} < t));
                                                    sum_m s_m(t) = 1 for t < L
      mu_m, log Sigma_m = f_z(sum_t s_m(t) g_t / sum_t s_m(t)),  z_m = mu_m + Sigma_m^(1/2) eps
    z_t        = sum_m s_m(t) z_m;   U_t = f_hyp(z_t);   e_t <- e_t + U_t e_t at layer l
    loss       = action NLL + alpha_z sum_m KL(q(z_m) || N(0, I)) + alpha_b sum_{m<M} KL(q(b_m) || p(b_m))

(all three per real step). f_b, f_z: MLPs with one hidden layer of 32; f_hyp: the metacontroller's hypernetwork.

Where [P] is open (INFER):
- The prior p(b_m) is a Poisson over the *length* of segment m, rate `prior_rate` = 10 ([P] Tab. A11's
  "prior switching rate"), truncated to the positions after the previous boundary (its sampled position,
  taken hard: the argmax of the relaxed sample), which also bounds q(b_m). Kipf's code puts one Poisson over
  absolute positions; a length prior is the same for the first segment.
- The base model starts at the pretrained weights and trains jointly ([P]: "θ initialized to the
  pretrained value (to shorten training)"); the encoder copy trains too.
- At RL time CompILE has no causal switching unit, since its boundaries come from the whole episode.
  `FixedIntervalSwitch` makes the policy write a new code every K raw steps, K = the mean segment length
  CompILE inferred on held-out expert episodes (stored in the checkpoint).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.config import CompILEConfig
from minirl.metacontroller import decode_controller, gaussian_kl, hypernetwork, mlp


def poisson_length_log_prior(starts: torch.Tensor, T: int, lengths: torch.Tensor, rate: float) -> torch.Tensor:
    """log p(b = t) for t = 0..T: a Poisson over the segment length t - start, truncated to start < t <= L
    (t = L always allowed: a segment after one that reached the end is empty).

    starts, lengths (B,) -> (B, T+1) log-probabilities (-inf outside the support), normalised per row."""
    t = torch.arange(T + 1, device=starts.device, dtype=torch.float32)[None]  # (1, T+1)
    k = t - starts[:, None].float()  # segment length if the boundary is at t
    logp = k * math.log(rate) - rate - torch.lgamma(k.clamp(min=0) + 1)
    end = t == lengths[:, None]  # a segment may also be empty, its boundary at the end like the previous one's
    valid = ((k >= 1) | end) & (t <= lengths[:, None])
    logp = logp.masked_fill(~valid, -torch.inf)
    return logp - torch.logsumexp(logp, -1, keepdim=True)


class CompILE(nn.Module):
    """Encoder (a copy of the base's lower half), boundary and latent heads, and the hypernetwork decoder."""

    def __init__(self, base, layer: int, cfg: CompILEConfig):
        super().__init__()
        self.layer, self.M, self.tau, self.rate = layer, cfg.max_segments, cfg.temperature, cfg.prior_rate
        self.n_z = cfg.n_z
        self.encoder = copy.deepcopy(base)  # only its embedding and blocks 1..l are used (`lower`)
        D = base.cfg.d_model
        self.norm = nn.LayerNorm(D)
        self.head_b, self.head_z = mlp(D, cfg.hidden, 1), mlp(D, cfg.hidden, 2 * cfg.n_z)
        self.d_model, self.rank = D, cfg.rank
        self.hyper = hypernetwork(D, cfg.n_z, cfg.hidden, cfg.rank)  # the metacontroller's f_hyp, U = 0 at init

    def decode(self, z: torch.Tensor):
        return decode_controller(self.hyper, z, self.d_model, self.rank)

    def forward(self, obs: torch.Tensor, mask: torch.Tensor, sample: bool = True, generator=None) -> dict:
        """obs (B, T, 13), mask (B, T) -> boundaries b (M, B, T+1), segment masks s (M, B, T), per-segment
        mu, logvar, z (M, B, n_z), per-step code z_t (B, T, n_z), controller U, and the two KL terms per episode."""
        B, T = mask.shape
        lengths = mask.sum(1)  # (B,)
        g = self.norm(self.encoder.lower(obs, self.layer))  # (B, T, D)
        # logit of a boundary at t (segment m + 1 starts at step t), read from g_t, which has seen o_t: where the
        # agent stands after its last move. t = T (only ever the end) reads the last step again.
        logit = self.head_b(torch.cat([g, g[:, -1:]], 1))[..., 0]  # (B, T+1)
        logit = logit.masked_fill(torch.arange(T + 1, device=obs.device) == 0, -torch.inf)  # no boundary at t = 0
        t = torch.arange(T + 1, device=obs.device)[None]
        before_prev = (t >= 1).float().expand(B, -1)  # P(b_0 < t): segment 1 starts at 0
        cum_prev = torch.ones(B, T + 1, device=obs.device)  # P(b_0 <= t)
        start = torch.zeros(B, dtype=torch.long, device=obs.device)  # where the current segment starts (hard)
        bs, segs, mus, logvars, kl_b = [], [], [], [], obs.new_zeros(B, dtype=torch.float32)
        for m in range(self.M):
            if m == self.M - 1:  # the last segment ends with the episode
                b = F.one_hot(lengths, T + 1).float()
            else:
                # after the previous boundary (its sampled position, taken hard), or at the end: the prior's
                # support exactly, so KL(q || p) is finite and >= 0
                allowed = ((t > start[:, None]) | (t == lengths[:, None])) & (t <= lengths[:, None])
                logits_m = logit.masked_fill(~allowed, -torch.inf)
                q = torch.softmax(logits_m, -1)  # (B, T+1), exactly 0 outside `allowed`
                prior = poisson_length_log_prior(start, T, lengths, self.rate).masked_fill(~allowed, 0.0)
                kl_b = kl_b + (q * (torch.log(q.clamp(min=1e-12)) - prior)).sum(-1)
                if sample:  # Gumbel-softmax over positions
                    u = torch.rand(q.shape, device=q.device, generator=generator).clamp(1e-9, 1 - 1e-9)
                    b = torch.softmax((logits_m - torch.log(-torch.log(u))) / self.tau, -1)
                else:
                    b = F.one_hot(logits_m.argmax(-1), T + 1).float()
            # P(b_m <= t), capped by P(b_{m-1} < t): relaxed samples are not ordered, and the cap keeps every
            # mask >= 0 while the masks still telescope to sum_m s_m(t) = 1 - P(b_M <= t) = 1 for t < L.
            cum = torch.minimum(b.cumsum(-1), before_prev)
            s = (cum_prev - cum)[:, :T] * mask  # (B, T) soft segment mask
            pooled = (s[..., None] * g).sum(1) / s.sum(1, keepdim=True).clamp(min=1e-6)  # (B, D)
            mu, logvar = self.head_z(pooled).chunk(2, -1)
            bs.append(b), segs.append(s), mus.append(mu), logvars.append(logvar.clamp(-10, 5))
            before_prev = torch.cat([cum.new_zeros(B, 1), cum[:, :-1]], 1)  # P(b_m < t)
            cum_prev, start = cum, b.argmax(-1)
        mu, logvar, s = torch.stack(mus), torch.stack(logvars), torch.stack(segs)  # (M, B, n_z), (M, B, T)
        z = mu
        if sample:
            eps = torch.randn(mu.shape, device=mu.device, generator=generator)
            z = mu + (0.5 * logvar).exp() * eps
        z_t = torch.einsum("mbt,mbz->btz", s, z)  # (B, T, n_z)
        return {"b": torch.stack(bs), "s": s, "mu": mu, "logvar": logvar, "z": z, "z_t": z_t,
                "U": self.decode(z_t), "kl_z": gaussian_kl(mu, logvar).sum(0), "kl_b": kl_b}  # fmt: skip

    @torch.no_grad()
    def switch_steps(self, obs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hard segment starts (B, T) bool: t = 0 and every non-final boundary inside the episode."""
        out = self.forward(obs, mask, sample=False)
        T = mask.shape[1]
        starts = out["b"][:-1].argmax(-1)  # (M-1, B)
        steps = torch.zeros_like(mask)
        steps[:, 0] = True
        for m in range(starts.shape[0]):
            inside = starts[m] < mask.sum(1)
            steps[inside, starts[m][inside].clamp(max=T - 1)] = True
        return steps & mask


def compile_loss(model, cmod: CompILE, batch: dict, alpha_z: float, alpha_b: float, generator=None):
    """Action NLL + alpha_z KL_z + alpha_b KL_b, each per real step. Returns (loss, stats)."""
    mask = batch["mask"]
    out = cmod(batch["obs"], mask, generator=generator)
    heads = model.upper(model.lower(batch["obs"], cmod.layer), cmod.layer, out["U"])
    m = mask.float()
    steps = m.sum()
    nll = (model.action_nll(heads, batch["actions"]) * m).sum() / steps
    kl_z, kl_b = out["kl_z"].sum() / steps, out["kl_b"].sum() / steps
    segments = ((out["s"].sum(-1) >= 0.5).float().sum(0)).mean()  # non-empty segments per episode
    return nll + alpha_z * kl_z + alpha_b * kl_b, {"action_nll": nll.detach(), "kl_z": kl_z.detach(),
                                                    "kl_b": kl_b.detach(), "segments": segments.detach()}  # fmt: skip


class FixedIntervalSwitch(nn.Module):
    """CompILE at RL time, behind the metacontroller's interface that `latent_env.LatentActions` uses:
    `switch` fires every `interval` raw steps (the state h counts them), `decode` is CompILE's hypernetwork."""

    def __init__(self, cmod: CompILE, interval: int):
        super().__init__()
        self.cmod, self.interval, self.n_z, self.n_h = cmod, max(1, int(interval)), cmod.n_z, 1
        self.norm = nn.Identity()

    def switch(self, x, h, z_prev, sample: bool = False, generator=None) -> torch.Tensor:
        return ((h[:, 0].round().long() % self.interval) == 0).float()

    def gru(self, x, h):
        return h + 1

    def decode(self, z):
        return self.cmod.decode(z)

    def init_state(self, batch: int, device) -> dict:
        return {"h": torch.zeros(batch, 1, device=device), "z": torch.zeros(batch, self.n_z, device=device)}


def load_compile(path, model, device="cpu") -> tuple[FixedIntervalSwitch, int, dict]:
    """A trained CompILE checkpoint as internal RL's frozen controller; loads its co-trained weights into `model`."""
    from minirl.checkpoints import base_model_cfg, load_checkpoint

    ckpt = load_checkpoint(path, kind="compile")
    if base_model_cfg(ckpt) != dataclasses.asdict(model.cfg):
        raise ValueError(f"{path} was trained on another base model ({ckpt['base_model_cfg']})")
    model.load_state_dict(ckpt["base_state_dict"])
    cmod = CompILE(model, ckpt["layer"], CompILEConfig(**ckpt["config"]))
    cmod.load_state_dict(ckpt["state_dict"])
    return FixedIntervalSwitch(cmod.to(device).eval(), ckpt["interval"]), ckpt["layer"], ckpt


@torch.no_grad()
def evaluate(model, cmod: CompILE, data, cfg: CompILEConfig, device) -> dict:
    """Held-out NLL and KLs (sampled, as trained), segments, the RL interval, and alignment of segment starts."""
    from minirl.switching import switch_metrics

    totals, starts = {"action_nll": 0.0, "kl_z": 0.0, "kl_b": 0.0}, []
    idx = np.arange(len(data))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    for i in range(0, len(idx), 256):
        batch = data.batch(idx[i : i + 256], device)
        _, stats = compile_loss(model, cmod, batch, cfg.alpha_z, cfg.alpha_b, generator=gen)
        for k in totals:
            totals[k] += float(stats[k]) * float(batch["mask"].sum())
        s = cmod.switch_steps(batch["obs"], batch["mask"]).float().cpu().numpy()
        starts.append(np.pad(s, ((0, 0), (0, data.arrays["actions"].shape[1] - s.shape[1]))))
    lengths = data.arrays["lengths"].astype(np.int64)
    result = {k: v / lengths.sum() for k, v in totals.items()}
    subgoals = data.arrays["subgoals"].astype(np.int64)
    result.update(switch_metrics(np.concatenate(starts), subgoals, lengths, cfg.tolerance))
    result["mean_segment_length"] = float(lengths.sum() / max(result["switches_per_episode"] * len(lengths), 1))
    return result


def main(cfg: CompILEConfig) -> dict:
    """Train CompILE with the base model (from its pretrained weights) on clean expert episodes; evaluate."""
    from tqdm.auto import tqdm

    from minirl.checkpoints import load_checkpoint, save_checkpoint, start_frozen_stage
    from minirl.discovery import _episodes, kl_scale

    run, device, base_path, frozen = start_frozen_stage(cfg, "compile")
    layer = frozen.n_layers // 2
    model = copy.deepcopy(frozen).requires_grad_(True).train()  # trained jointly, never the caller's in place
    cmod = CompILE(model, layer, cfg).to(device)
    params = list(cmod.parameters()) + list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt_path, step, rng = run.dir / "checkpoint.pt", 0, np.random.default_rng(cfg.seed)
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, kind="compile")
        cmod.load_state_dict(ckpt["state_dict"]), model.load_state_dict(ckpt["base_state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        step, rng.bit_generator.state = ckpt["step"], ckpt["rng_state"]
        run.rewind(step)
        print(f"resuming {ckpt_path} at step {step}")
    train_data, heldout = _episodes(cfg)

    def save(interval: int = 0):
        save_checkpoint(ckpt_path, {
            "kind": "compile", "config": cfg, "layer": layer, "base": str(base_path), "base_model_cfg": model.cfg,
            "state_dict": cmod.state_dict(), "base_state_dict": model.state_dict(), "interval": interval,
            "optimizer": opt.state_dict(), "step": step, "rng_state": rng.bit_generator.state,
        })  # fmt: skip

    bar = tqdm(total=cfg.steps, initial=step, desc="CompILE", unit="step")
    batches, start = train_data.endless(cfg.batch_size, rng, device=device), time.time()
    while step < cfg.steps:
        batch = next(batches)
        alpha_z = cfg.alpha_z * kl_scale(step, cfg.kl_warmup)  # the metacontroller's KL annealing, for a fair fight
        loss, stats = compile_loss(model, cmod, batch, alpha_z, cfg.alpha_b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step == cfg.steps:
            logs = {f"losses/{k}": float(stats[k]) for k in ("action_nll", "kl_z", "kl_b")}
            logs["charts/segments_per_episode"] = float(stats["segments"])
            bar.set_postfix(nll=f"{logs['losses/action_nll']:.3f}", segments=f"{float(stats['segments']):.1f}")
            run.log(step, logs)
        if step % 1000 == 0:
            save()
    bar.close()
    model.eval(), cmod.eval()
    result = evaluate(model, cmod, heldout, cfg, device)
    interval = max(1, round(result["mean_segment_length"]))
    save(interval)
    metrics = run.finish({"base": str(base_path), "layer": layer, "train_seconds": round(time.time() - start, 1),
                          "rl_interval": interval, **result})  # fmt: skip
    print(f"held-out: action NLL {metrics['action_nll']:.3f}, KL_z {metrics['kl_z']:.3f}, KL_b {metrics['kl_b']:.3f}; "
          f"{metrics['switches_per_episode']:.2f} segments per episode for {metrics['subgoals_per_episode']:.2f} "
          f"subgoals (F1 {metrics['switch_f1']:.2f}); internal RL will switch every {interval} steps")  # fmt: skip
    return metrics
