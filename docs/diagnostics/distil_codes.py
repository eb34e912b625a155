"""Can a causal policy learn the metacontroller's map from layout to code?

The encoder writes each expert episode's codes (z_0 and z at every hard switch) while reading the whole
episode. Regress them, from the residual stream at the same decision points, with internal RL's own
`LatentPolicy` (mean squared error on held-out episodes against predicting 0, the prior's mean), then run the
distilled policy greedily in the latent-action environment on fresh layouts, against the prior (z = 0).
`--observation` hands the policy the one-hot observation as well, as policy_input.py does for RL.

    python docs/diagnostics/distil_codes.py --metacontroller pretrained --task 0-1-4-5 [--deterministic] [--observation]
"""

import numpy as np
import torch
from common import load, parser

from minirl.data import Trajectories, generate_gridworld
from minirl.envs.grid_core import one_hot
from minirl.latent_env import LatentActions, LatentPolicy
from minirl.rollout import rollout
from minirl.switching import decision_points
from minirl.worlds import batch_env, parse_tasks


def codes_at_decisions(model, meta, layer, data, observation=False):
    """What the policy reads (e, or [e, one_hot(o)]) and the encoder's z at t = 0 and every hard switch:
    (N, M, D), (N, M, n_z), valid (N, M)."""
    b = data.batch(np.arange(len(data)))
    e = model.lower(b["obs"], layer)
    out = meta(e, b["mask"], sample=False)
    seen = torch.cat([e, torch.as_tensor(one_hot(b["obs"].numpy()))], -1) if observation else e
    return decision_points(out["beta"], b["mask"], seen, out["z"])


def greedy_success(model, meta, layer, policy, task, n=1024, chooser_class=LatentActions, seed=13):
    env = batch_env("gridworld", n, task=parse_tasks("gridworld", task)[0])
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, n)
    chooser = chooser_class(meta, policy, n, "cpu", greedy=True)
    r = rollout(env, model, layer, chooser, seeds=seeds, generator=torch.Generator().manual_seed(0))
    return float(r["success"].mean())


def main():
    p = parser(__doc__, 4000)
    p.add_argument("--task", default="0-1-4-5")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--eval_episodes", type=int, default=1024, help="fresh layouts for the greedy rollouts")
    p.add_argument("--deterministic", action="store_true", help="the expert breaks ties deterministically")
    p.add_argument("--observation", action="store_true", help="the policy reads the observation too")
    args = p.parse_args()
    if args.deterministic:
        from deterministic_expert import patch

        patch()
    make_policy, chooser_class = LatentPolicy, LatentActions
    if args.observation:
        from policy_input import ObservationActions, observation_policy

        make_policy, chooser_class = observation_policy, ObservationActions
    torch.manual_seed(0)
    model, meta, layer = load(args.metacontroller, args.base)
    with torch.no_grad():
        train, held_out = (
            Trajectories(generate_gridworld(args.task, n, seed=s)) for n, s in ((args.episodes, 11), (500, 12))
        )
        E, Z, M = codes_at_decisions(model, meta, layer, train, args.observation)
        Ev, Zv, Mv = codes_at_decisions(model, meta, layer, held_out, args.observation)
    policy = make_policy(model.cfg.d_model, meta.n_z)
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.0)
    rng = np.random.default_rng(0)

    def mse(E, Z, M):
        return ((policy(E) - Z).square().sum(-1) * M).sum() / M.sum()

    zero = float((Zv.square().sum(-1) * Mv).sum() / Mv.sum())
    for step in range(args.steps + 1):
        idx = torch.as_tensor(rng.integers(0, args.episodes, 256))
        loss = mse(E[idx], Z[idx], M[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % (args.steps // 5) == 0:
            with torch.no_grad():
                held_out = mse(Ev, Zv, Mv).item()
            print(f"step {step}: train mse {loss.item():.3f}, held-out mse {held_out:.3f} (predicting 0: {zero:.3f})")
    with torch.no_grad():
        distilled = greedy_success(model, meta, layer, policy, args.task, args.eval_episodes, chooser_class)
        prior = greedy_success(
            model, meta, layer, LatentPolicy(model.cfg.d_model, meta.n_z), args.task, args.eval_episodes
        )
    where = f"{args.task}, {args.eval_episodes} fresh layouts"
    print(f"greedy success on {where}: distilled policy {distilled:.3f}, prior (z = 0) {prior:.3f}")


if __name__ == "__main__":
    main()
