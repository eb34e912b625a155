"""Do a metacontroller's extra switches pay for themselves under its own objective ([P] Eq. 3)?

An extra switch is one with beta_t > 0.5 at a step that starts no ground-truth subgoal. Under the objective it
costs the KL of the informative code the encoder writes there, weighted by alpha (the KL is paid at every step,
switching or not, so a step whose code is near the prior costs nothing); it buys whatever it lowers the action
NLL. This measures both on held-out expert episodes (those `minirl metacontroller --seed 0` analyses), with the
deterministic pass (z~ = mu): the action NLL per episode as the metacontroller runs, and again with beta set
to 0 at the extra switches, so that the code chosen before them is held, as at a boundary-only solution. If
holding costs more NLL than alpha x the KL at the extras, the extra switches are what the objective asks for,
not a failure to optimise it. Not part of the method: a diagnostic.

    python docs/diagnostics/switch_value.py --base pretrained --metacontroller pretrained
"""

import numpy as np
import torch
from common import parser

from minirl.checkpoints import load_base_model, load_metacontroller, resolve_base, resolve_metacontroller
from minirl.metacontroller import gaussian_kl
from minirl.metacontroller import integrate as integrate_step
from minirl.switching import boundaries
from minirl.worlds import expert_episodes


def integrate(mu: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Temporal integration over a whole sequence, z_0 = 0: mu (B, T, n_z), beta (B, T) -> z (B, T, n_z)."""
    z, zs = mu.new_zeros(mu[:, 0].shape), []
    for t in range(mu.shape[1]):
        z = integrate_step(beta[:, t], mu[:, t], z)
        zs.append(z)
    return torch.stack(zs, 1)


@torch.no_grad()
def switch_value(model, meta, layer: int, data, batch_size: int = 128) -> dict:
    """Per episode: extra switches, action NLL as run and with the extras held, KL in all and at the extras."""
    tot = dict.fromkeys(("extra_switches", "nll", "nll_held", "kl", "kl_extra"), 0.0)
    for i in range(0, len(data), batch_size):
        idx = np.arange(i, min(i + batch_size, len(data)))
        b = data.batch(idx, "cpu")
        mask = b["mask"].float()  # (B, T)
        e = model.lower(b["obs"], layer)  # (B, T, D)
        out = meta(e, b["mask"], sample=False)
        starts = torch.zeros_like(mask, dtype=torch.bool)  # (B, T): a ground-truth subgoal starts here
        for j, k in enumerate(idx):
            starts[j, boundaries(data.arrays["subgoals"][k], int(data.arrays["lengths"][k]))] = True
        extra = (out["beta"] > 0.5) & ~starts & (mask > 0)
        held = integrate(out["mu"], out["beta"] * (~extra).float())
        for key, U in (("nll", out["U"]), ("nll_held", meta.decode(held))):
            tot[key] += float((model.action_nll(model.upper(e, layer, U), b["actions"]) * mask).sum())
        kl = gaussian_kl(out["mu"], out["logvar"])  # (B, T)
        tot["kl"] += float((kl * mask).sum())
        tot["kl_extra"] += float((kl * extra).sum())
        tot["extra_switches"] += float(extra.sum())
    return {k: v / len(data) for k, v in tot.items()}


def main():
    p = parser(__doc__, episodes=512)
    p.add_argument("--seed", type=int, default=0, help="held-out layouts of `minirl metacontroller --seed S`")
    p.add_argument("--alpha", type=float, default=-1, help="weigh the KL by this alpha (default: the run's own)")
    args = p.parse_args()
    torch.set_num_threads(1)
    model = load_base_model(resolve_base(args.base)).requires_grad_(False)
    meta, layer, ckpt = load_metacontroller(resolve_metacontroller(args.metacontroller), model)
    alpha = ckpt["config"]["alpha"] if args.alpha < 0 else args.alpha
    data = expert_episodes("gridworld", "pretrain", args.episodes, 80_000 + args.seed, "pretrained")
    v = switch_value(model, meta, layer, data)
    print(f"per episode, {args.episodes} held-out episodes: {v['extra_switches']:.2f} extra switches")
    print(f"action NLL {v['nll']:.3f} nats; with the extra switches held {v['nll_held']:.3f} "
          f"(they save {v['nll_held'] - v['nll']:.3f})")  # fmt: skip
    print(f"KL at the extra switches {v['kl_extra']:.3f} nats x alpha {alpha} = {alpha * v['kl_extra']:.3f} "
          f"(their cost); net {v['nll_held'] - v['nll'] - alpha * v['kl_extra']:+.3f} nats for switching")  # fmt: skip
    print(f"objective per episode at alpha {alpha}: NLL + alpha KL = {v['nll']:.3f} + {alpha} x {v['kl']:.3f} "
          f"= {v['nll'] + alpha * v['kl']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
