"""Stage 2b: ground-truth linear controllers steer the frozen base model through the unseen task ([P] §5.2, Fig. 4).

One linear controller per subgoal g, inserted at layer l and selected by the ground-truth label g_t:

    e_{t,l} <- e_{t,l} + U^(g_t) e_{t,l},      U^(g) = A_g B_g^T,  A_g, B_g in R^{D x r}   (control.py)

low-rank (r = 16) for the gridworld, a full D x D matrix U^(g) for the ant (rank 0, [P] §D.2).

The paper implements this as the metacontroller's decoder fed z_t = onehot(g_t) with beta = 1; a table of
factors is the same function class, written plainly. A_g (or U^(g)) starts at zero (as in LoRA), so training
starts from the uncontrolled model. Training: action NLL (lambda = 0) on clean expert data of the *pretraining*
tasks, base frozen. Test: the post-training task (12 colours; ant: 4 pads), whose subgoal transitions never
occur in pretraining, switching U^(g) by the env's ground-truth subgoal (`--task` tests another task). Success
per layer gives Fig. 4.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import numpy as np
import torch
from tqdm.auto import tqdm

from minirl.config import ControllerConfig
from minirl.control import Controller
from minirl.data import Trajectories
from minirl.rollout import rollout
from minirl.worlds import NUM_SUBGOALS, PROGRESS_UNIT, batch_env, expert_episodes, parse_tasks


class SubgoalControllers(torch.nn.Module):
    """A table of controllers, g = 0..G-1: low-rank U^(g) = A_g B_g^T, or full D x D matrices U^(g) (rank 0)."""

    def __init__(self, d_model: int, rank: int, num_subgoals: int = 4):
        super().__init__()
        if rank == 0:
            self.U = torch.nn.Parameter(torch.zeros(num_subgoals, d_model, d_model))  # zero: no control at init
        else:
            self.A = torch.nn.Parameter(torch.zeros(num_subgoals, d_model, rank))  # zero: U = 0 at init
            self.B = torch.nn.Parameter(torch.randn(num_subgoals, d_model, rank) / d_model**0.5)
        self.rank = rank

    def forward(self, subgoal: torch.Tensor) -> Controller:
        """subgoal (...) long -> U (..., D, D) (rank 0) or factors (A, B), each (..., D, r). Labels < 0 (padding)
        use g = 0."""
        g = subgoal.clamp(min=0)
        return self.U[g] if self.rank == 0 else (self.A[g], self.B[g])


def train_controllers(model, layer: int, data: Trajectories, cfg: ControllerConfig, device,
                      ctrl: torch.nn.Module | None = None) -> tuple[torch.nn.Module, list]:  # fmt: skip
    """Fit U^(g) at `layer` by action NLL on expert data; the base model stays frozen. Returns the controllers
    and the training curve: (step, mean action NLL over the steps since the previous point), every
    `cfg.log_every` steps and at the last. `ctrl` (default: a fresh `SubgoalControllers`) may be any module
    mapping subgoal labels to controllers; only its trainable parameters are fitted."""
    if ctrl is None:
        ctrl = SubgoalControllers(model.cfg.d_model, cfg.rank, NUM_SUBGOALS[cfg.env]).to(device)
    opt = torch.optim.AdamW([p for p in ctrl.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    batches = iter(())
    nll_sum, nll_count, curve = 0.0, 0, []
    bar = tqdm(range(1, cfg.steps + 1), desc=f"controllers at layer {layer}", unit="step", leave=False)
    for step in bar:
        batch = next(batches, None)
        if batch is None:
            batches = data.batches(cfg.batch_size, rng, device=device)
            batch = next(batches)
        with torch.no_grad():
            e = model.lower(batch["obs"], layer)  # (B, T, D) the frozen lower half runs once, without gradients
        heads = model.upper(e, layer, ctrl(batch["subgoals"]))  # gradients reach only A and B
        mask = batch["mask"].float()
        loss = (model.action_nll(heads, batch["actions"]) * mask).sum() / mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        nll_sum, nll_count = nll_sum + loss.item(), nll_count + 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            curve.append((step, nll_sum / nll_count))
            bar.set_postfix(nll=f"{curve[-1][1]:.3f}")
            nll_sum, nll_count = 0.0, 0
    return ctrl, curve


@torch.no_grad()
def task_success(model, layer: int, ctrl: SubgoalControllers | None, episodes: int, seed: int,
                 env: str = "gridworld", task: str = "posttrain", greedy: bool = False) -> dict:  # fmt: skip
    """Roll out on `task` (one task), switching controllers by the env's ground-truth subgoal. Raw actions are
    sampled from the controlled model (as in internal RL's environment); `greedy` takes the argmax instead."""
    device = next(model.parameters()).device
    chooser = None
    if ctrl is not None:
        chooser = lambda t, e, env: ctrl(torch.as_tensor(env.subgoal(), device=device))  # noqa: E731
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=episodes)
    gen = torch.Generator(device=device).manual_seed(seed)
    test_env = batch_env(env, episodes, task=parse_tasks(env, task)[0])
    r = rollout(test_env, model, layer, chooser, greedy=greedy, seeds=seeds, generator=gen)
    return {"success": float(r["success"].mean()), "colours": float(r["progress"].mean())}


def parse_layers(spec: str, n_layers: int) -> list[int]:
    if spec == "all":
        return list(range(n_layers + 1))
    if spec == "mid":
        return [n_layers // 2]
    layers = [int(p) for p in spec.split(",")]
    bad = [layer for layer in layers if not 0 <= layer <= n_layers]
    if bad:
        raise ValueError(f"layers {bad} are outside 0..{n_layers} for this base model")
    return layers


def main(cfg: ControllerConfig) -> dict:
    """Train and test ground-truth controllers at each requested layer; returns gt_controller_success by layer."""
    from minirl.checkpoints import save_checkpoint, start_frozen_stage
    from minirl.plots import plot_controller_success

    run, device, base_path, model = start_frozen_stage(cfg, "control")
    layers = parse_layers(cfg.layers, model.n_layers)
    data = expert_episodes(cfg.env, "pretrain", cfg.train_episodes, 50_000 + cfg.seed, cfg.expert)
    eval_seed = 60_000 + cfg.seed  # the same test layouts for every layer and for the uncontrolled model
    test = functools.partial(task_success, episodes=cfg.eval_episodes, seed=eval_seed, env=cfg.env, task=cfg.task)
    name = "post-training" if cfg.task == "posttrain" else cfg.task

    uncontrolled = test(model, model.n_layers // 2, None)
    unit = f"{PROGRESS_UNIT[cfg.env]} of {len(parse_tasks(cfg.env, cfg.task)[0])}"
    print(f"uncontrolled base model: {name} success {uncontrolled['success']:.3f} "
          f"({uncontrolled['colours']:.2f} {unit})")  # fmt: skip
    success, colours, train_nll = [], [], []
    for i, layer in enumerate(layers):
        ctrl, curve = train_controllers(model, layer, data, cfg, device)
        # metrics.jsonl counts steps across layers (layer i's step s is i * steps + s): the training curve, then
        # the layer's test success at its last step
        for step, nll in curve:
            run.log(i * cfg.steps + step, {"control/layer": layer, "losses/action_nll": nll})
        train_nll.append(curve[-1][1])
        result = test(model, layer, ctrl)
        success.append(result["success"])
        colours.append(result["colours"])
        save_checkpoint(run.dir / f"controllers_layer{layer}.pt", {
            "kind": "subgoal_controllers", "layer": layer, "rank": cfg.rank, "state_dict": ctrl.state_dict(),
            "base": str(base_path),
        })  # fmt: skip
        run.log((i + 1) * cfg.steps, {"control/layer": layer, "control/success": success[-1],
                                      "control/colours": colours[-1]})  # fmt: skip
        print(f"layer {layer}: {name} success {success[-1]:.3f} ({colours[-1]:.2f} {unit}), "
              f"training action NLL {train_nll[-1]:.3f}")  # fmt: skip
    fig = plot_controller_success(layers, success, uncontrolled["success"], model.n_layers // 2, f"{name} task")
    fig.savefig(run.dir / "controller_success.png", dpi=120)
    plt.close(fig)
    return run.finish({
        "base": str(base_path), "task": cfg.task, "layers": layers, "gt_controller_success": success,
        "gt_controller_colours": colours, "gt_controller_train_nll": train_nll,
        "uncontrolled_success": uncontrolled["success"], "uncontrolled_colours": uncontrolled["colours"],
        "mid_layer": model.n_layers // 2,
    })  # fmt: skip
