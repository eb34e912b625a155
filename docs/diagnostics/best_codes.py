"""Does the metacontroller's latent space hold one layout-free code per subgoal? Fit a single code z_g in R^8 for
each subgoal g through the frozen decoder, U^(g) = f_hyp(z_g), with the ground-truth controllers' objective, and
test it as `minirl control` tests those.

Internal RL can only emit codes, so what the decoder's image holds bounds it. The ground-truth controllers of
`minirl control` (a free low-rank U^(g) per subgoal, switched by the env's subgoal label) reach 0.2-0.36 across one
unseen transition. Here the same training (teacher-forced action NLL on the pretraining tasks' expert episodes,
the base model and the metacontroller frozen, gradients reaching only the 4 x 8 numbers z_g) and the same test (the
task's rollouts on fresh layouts, the code switched by the subgoal label) ask whether 8 numbers per subgoal,
passed through the metacontroller's decoder, do as well. If they do, the latent space holds codes that carry the
model across unseen transitions and a policy emitting z_{g_t} would reach that success; if not, no policy that
writes one code per subgoal does. Codes start at 0, the prior's mean (`--init_std`: a random start). A second
test keeps the codes and takes the timing from the latent-action environment of internal RL (`LatentActions`): a
code is written only when the frozen switching unit fires (beta > 0.5, and at t = 0), and an oracle policy writes
z_g for the env's subgoal at that moment. It asks whether the switching unit fires where an unseen transition
needs a new code. `--train_decoder` fits the decoder f_hyp along with the codes (a supervised metacontroller:
the code chosen by the subgoal label): it asks whether the decoder's architecture can hold per-subgoal controllers
at all, as against what the metacontroller's unsupervised training put in it. Not part of the method: a diagnostic.

    python docs/diagnostics/best_codes.py --base minirl/pretrained/gridworld_base_gpu.pt \\
        --metacontroller minirl/pretrained/gridworld_metacontroller_gpu.pt --task 0-1-2-3,posttrain
"""

from dataclasses import replace

import numpy as np
import torch
from common import load, parser

from minirl.checkpoints import load_checkpoint, resolve_metacontroller, save_checkpoint
from minirl.config import ControllerConfig
from minirl.controllers import task_success, train_controllers
from minirl.latent_env import LatentActions
from minirl.rollout import rollout
from minirl.worlds import batch_env, expert_episodes, parse_tasks


class DecodedCodes(torch.nn.Module):
    """One code per subgoal through the frozen decoder: subgoal (...) -> U = f_hyp(z_g), scaled by `gain`."""

    def __init__(self, meta, num_subgoals: int = 4):
        super().__init__()
        self.meta = meta  # frozen: only z is trained
        self.z = torch.nn.Parameter(torch.zeros(num_subgoals, meta.n_z))  # (G, n_z), the prior's mean
        self.gain = 1.0

    def forward(self, subgoal: torch.Tensor):
        A, B = self.meta.decode(self.z[subgoal.clamp(min=0)])  # each (..., D, r)
        return A * self.gain, B  # U = gain * A B^T


class OracleAtSwitches(LatentActions):
    """Internal RL's latent-action environment with an oracle for a policy: at each decision (the switching unit
    fires, or t = 0) it writes z_g, g the env's subgoal then; the decoded U is scaled by the codes' gain."""

    def __init__(self, meta, codes: DecodedCodes, batch: int, device):
        super().__init__(meta, self, batch, device, greedy=True)
        self.codes = codes

    def init_cache(self, batch, device) -> dict:  # the oracle keeps no state
        return {}

    def policy_input(self, e, env, idx) -> torch.Tensor:  # (n, 1) the deciding episodes' subgoals
        return torch.as_tensor(env.subgoal(), device=e.device)[idx, None].clamp(min=0)

    def step(self, g, cache):  # the "policy": z_g
        return self.codes.z[g[:, 0]], cache

    def __call__(self, t, e, env):
        A, B = super().__call__(t, e, env)
        return A * self.codes.gain, B


@torch.no_grad()
def success_at_switches(model, meta, layer, codes, episodes: int, seed: int, task: str) -> dict:
    """As `task_success` (the same layouts and sampling), with the codes written at the switching unit's times."""
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)
    env = batch_env("gridworld", episodes, task=parse_tasks("gridworld", task)[0])
    chooser = OracleAtSwitches(meta, codes, episodes, "cpu")
    r = rollout(env, model, layer, chooser, seeds=seeds, generator=torch.Generator().manual_seed(seed))
    return {"success": float(r["success"].mean()), "colours": float(r["progress"].mean()),
            "decisions": float(chooser.count.float().mean())}  # fmt: skip


def main():
    p = parser(__doc__, episodes=20_000)
    p.add_argument("--task", default="0-1-2-3,posttrain", help="comma list of tasks to test on")
    p.add_argument("--steps", type=int, default=1500, help="AdamW steps (minirl control's default)")
    p.add_argument("--lr", type=float, default=1e-2, help="learning rate for the 32 numbers")
    p.add_argument("--gains", default="1,1.5,2", help="comma list of gains k, U = k f_hyp(z_g), at test time")
    p.add_argument("--test_episodes", type=int, default=1000, help="test rollouts per task and gain")
    p.add_argument("--seed", type=int, default=0, help="as `minirl control --seed`: training data and test layouts")
    p.add_argument("--save", default="", help="write the fitted codes (G, n_z) to this .pt file")
    p.add_argument("--load", default="", help="test the codes in this .pt file instead of fitting them")
    p.add_argument(
        "--init_std", type=float, default=0.0, help="codes start at init_std * N(0, I) (0: the prior's mean)"
    )
    p.add_argument("--train_decoder", action="store_true", help="fit the decoder f_hyp too, from its trained weights")
    p.add_argument(
        "--save_metacontroller", default="", help="write the metacontroller, with its decoder as fitted, to this .pt"
    )
    p.add_argument("--free", action="store_true", help="also fit and test `minirl control`'s free U^(g), same data")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    model, meta, layer = load(args.metacontroller, args.base)
    if not meta.rank:
        raise ValueError("this script decodes low-rank controllers (the gridworld's); the metacontroller's is full")
    codes = DecodedCodes(meta)
    if args.train_decoder:
        meta.hyper.requires_grad_(True)
    if args.init_std:
        codes.z.data.normal_(0.0, args.init_std)
    if args.load:
        codes.z.data.copy_(torch.load(args.load))
    else:
        cfg = ControllerConfig(steps=args.steps, lr=args.lr, train_episodes=args.episodes, seed=args.seed)
        data = expert_episodes("gridworld", "pretrain", cfg.train_episodes, 50_000 + cfg.seed, cfg.expert)
        codes, curve = train_controllers(model, layer, data, cfg, "cpu", ctrl=codes)
        print(
            f"layer {layer}: codes' training action NLL {curve[0][1]:.3f} (to step {curve[0][0]}) -> {curve[-1][1]:.3f}"
        )
        if args.free:  # the ground-truth controllers as `minirl control` fits them (its lr), for comparison
            free, curve = train_controllers(model, layer, data, replace(cfg, lr=ControllerConfig.lr), "cpu")
            print(
                f"free controllers' training action NLL {curve[0][1]:.3f} (to step {curve[0][0]}) -> {curve[-1][1]:.3f}"
            )
            for task in args.task.split(","):
                r = task_success(model, layer, free, args.test_episodes, seed=60_000 + args.seed, task=task)
                print(f"{task}: free controllers: success {r['success']:.3f} ({r['colours']:.2f} colours)", flush=True)
    z = codes.z.detach()
    if args.save:
        torch.save(z, args.save)
    if args.save_metacontroller:  # e.g. for `minirl rl --metacontroller` with a decoder fitted by --train_decoder
        ckpt = load_checkpoint(resolve_metacontroller(args.metacontroller), kind="metacontroller")
        ckpt.update(state_dict=meta.state_dict(), optimizer=None, fitted_by="docs/diagnostics/best_codes.py", codes=z)
        save_checkpoint(args.save_metacontroller, ckpt)
    print("codes z_g (norm; the prior's typical norm is sqrt(n_z) = %.2f):" % meta.n_z**0.5)
    for g, zg in enumerate(z):
        print(f"  g = {g}: |z| {zg.norm():.2f}  [{' '.join(f'{v:+.2f}' for v in zg.tolist())}]")
    cos = torch.nn.functional.cosine_similarity(z[:, None], z[None], dim=-1)  # (G, G)
    pairs = [(i, j) for i in range(len(z)) for j in range(i + 1, len(z))]
    print("pairwise cosine of the codes:", " ".join(f"{cos[i, j]:.3f}" for i, j in pairs))
    for task in args.task.split(","):
        base = task_success(model, layer, None, args.test_episodes, seed=60_000 + args.seed, task=task)
        print(f"{task}: uncontrolled {base['success']:.3f} ({base['colours']:.2f} colours)", flush=True)
        for k in [float(g) for g in args.gains.split(",")]:
            codes.gain = k
            r = task_success(model, layer, codes, args.test_episodes, seed=60_000 + args.seed, task=task)
            print(f"{task}: codes, gain {k:g}: success {r['success']:.3f} ({r['colours']:.2f} colours)", flush=True)
            r = success_at_switches(model, meta, layer, codes, args.test_episodes, 60_000 + args.seed, task)
            print(
                f"{task}: codes at the switching unit's times, gain {k:g}: success {r['success']:.3f} "
                f"({r['colours']:.2f} colours, {r['decisions']:.2f} decisions)",
                flush=True,
            )


if __name__ == "__main__":
    main()
