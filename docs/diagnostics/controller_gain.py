"""Are the ground-truth controllers pointed the right way but too weak for an unseen transition? Scale each
trained U^(g) by a gain k at test time, e <- e + k U^(g) e, and measure success on a task again.

The controllers of `minirl control` are fitted by teacher forcing on the pretraining tasks, where the base
model already favours the right pair among the two that can follow; at an unseen transition it gives the
right pair almost no probability, so a controller that only tips a balance may be too weak to override it.
k = 1 is the paper's controller; k = 0 is the uncontrolled base model; with the default --seed and --episodes
both repeat the numbers `minirl control --seed 0` printed. `--greedy` takes the controlled model's most likely
action at every step instead of sampling it (how much of a failure is sampling noise). Not part of the method: a
diagnostic.

    minirl control gridworld --layers mid --task 0-1-2-3 --out RUN
    python docs/diagnostics/controller_gain.py --controllers RUN --task 0-1-2-3 --gains 0,1,1.5,2,3
"""

import argparse
from pathlib import Path

import torch

from minirl.checkpoints import load_base_model, load_checkpoint, resolve_base
from minirl.controllers import SubgoalControllers, task_success


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--controllers", required=True, help="a `minirl control` run directory or its controllers_layerL.pt")
    p.add_argument("--base", default="pretrained", help="the base model the controllers were trained on")
    p.add_argument("--task", default="0-1-2-3", help="the task to test on ('posttrain' or a task string)")
    p.add_argument("--gains", default="0,1,1.5,2,3", help="comma list of gains k")
    p.add_argument("--episodes", type=int, default=1000, help="test episodes per gain")
    p.add_argument("--seed", type=int, default=60_000, help="test layouts (60,000: those of `minirl control --seed 0`)")
    p.add_argument("--greedy", action="store_true", help="argmax raw actions instead of sampling them")
    args = p.parse_args()
    model = load_base_model(resolve_base(args.base)).requires_grad_(False)
    path = Path(args.controllers)
    if path.is_dir():  # the mid-depth controllers of that run
        path = path / f"controllers_layer{model.cfg.n_layers // 2}.pt"
    ck = load_checkpoint(path)
    if ck["rank"] == 0:
        raise ValueError(f"{path} holds full D x D controllers (the ant's); this script scales low-rank ones")
    ctrl = SubgoalControllers(model.cfg.d_model, ck["rank"])
    ctrl.load_state_dict(ck["state_dict"])
    A = ctrl.A.detach().clone()  # (G, D, r): U^(g) = A_g B_g^T, so scaling A scales U
    actions = "greedy" if args.greedy else "sampled"
    print(f"controllers at layer {ck['layer']} ({path}), task {args.task}, {args.episodes} episodes per gain, "
          f"{actions} actions")  # fmt: skip
    for k in [float(g) for g in args.gains.split(",")]:
        with torch.no_grad():
            ctrl.A.copy_(k * A)
        r = task_success(model, ck["layer"], ctrl, args.episodes, seed=args.seed, task=args.task,
                         greedy=args.greedy)  # fmt: skip
        print(f"gain {k:g}: success {r['success']:.3f} ({r['colours']:.2f} colours)", flush=True)


if __name__ == "__main__":
    main()
