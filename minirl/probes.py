"""Stage 2a: linear probes of the abstract subgoal in the residual stream ([P] §5.1, Eq. 6-7, Fig. 3).

For each layer l = 0..L a probe U_l (D x 4) reads the frozen residual e_{t,l} and predicts the
ground-truth subgoal g_t (the colour pair being pursued; ant: the next pad):

    p(g_t = g | e_{t,l}) = softmax(U_l e_{t,l} + b_l)_g,      trained by cross-entropy over all real steps

The residuals of every layer are computed once (the base is frozen), so each probe trains full-batch in
seconds. Accuracy is scored on held-out episodes (fresh layouts); chance is 0.25. The paper finds that
decoding jumps from ~0.3 to ~0.5 around the middle of the model. `probe_accuracy_by_position` shows the
other half of Fig. 3: within a segment, the subgoal becomes decodable as the model sees the agent's moves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from minirl.config import ProbeConfig
from minirl.data import Trajectories
from minirl.worlds import NUM_SUBGOALS, expert_episodes


@torch.no_grad()
def residual_features(model, data: Trajectories, device, batch_size: int = 256) -> tuple[list[torch.Tensor], dict]:
    """Residuals of every layer at every real step: ([L+1] x (N_steps, D), labels dict of (N_steps,) arrays)."""
    feats: list[list[torch.Tensor]] = [[] for _ in range(model.n_layers + 1)]
    subgoals, positions = [], []
    for lo in range(0, len(data), batch_size):
        b = data.batch(np.arange(lo, min(lo + batch_size, len(data))), device)
        mask = b["mask"]
        for layer, e in enumerate(model.residuals(b["obs"])):
            feats[layer].append(e[mask].float().cpu())  # (n, D)
        sg = b["subgoals"]
        subgoals.append(sg[mask].cpu())
        # steps since the current segment (subgoal) began
        new_segment = torch.ones_like(sg, dtype=torch.bool)
        new_segment[:, 1:] = sg[:, 1:] != sg[:, :-1]
        idx = torch.arange(sg.shape[1], device=sg.device).expand_as(sg)
        start = torch.cummax(torch.where(new_segment, idx, torch.zeros_like(idx)), 1).values
        positions.append((idx - start)[mask].cpu())
    return [torch.cat(f) for f in feats], {"subgoal": torch.cat(subgoals), "position": torch.cat(positions)}


def train_probe(x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, seed: int,
                classes: int = 4) -> torch.nn.Linear:  # fmt: skip
    """Multinomial logistic regression x (N, D) -> y (N,) in 0..classes-1, full-batch AdamW (weight decay 0,
    [P] Tab. A6)."""
    torch.manual_seed(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6  # standardise the features (an affine reparameterisation)
    probe = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=0.0)
    xs = (x - mean) / std
    for _ in range(steps):
        loss = F.cross_entropy(probe(xs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # fold the standardisation into the probe: it reads raw residuals
        probe.weight /= std
        probe.bias -= probe.weight @ mean
    return probe


def main(cfg: ProbeConfig) -> dict:
    """Probe every layer of a frozen base model; returns probe_accuracy (list indexed by layer) and more."""
    from minirl.checkpoints import start_frozen_stage
    from minirl.plots import plot_probe_accuracy

    run, device, base_path, model = start_frozen_stage(cfg, "probe")
    train = expert_episodes(cfg.env, "pretrain", cfg.train_episodes, 30_000 + cfg.seed, cfg.expert)
    test = expert_episodes(cfg.env, "pretrain", cfg.heldout_episodes, 40_000 + cfg.seed, cfg.expert)
    classes = NUM_SUBGOALS[cfg.env]
    x_train, y_train = residual_features(model, train, device)
    x_test, y_test = residual_features(model, test, device)

    accuracy, by_position = [], []
    mid = model.n_layers // 2
    for layer in range(model.n_layers + 1):
        probe = train_probe(x_train[layer], y_train["subgoal"], cfg.steps, cfg.lr, cfg.seed, classes)
        with torch.no_grad():
            correct = (probe(x_test[layer]).argmax(-1) == y_test["subgoal"]).float()
        accuracy.append(correct.mean().item())
        pos = y_test["position"].clamp(max=15)  # accuracy against steps into the segment (>= 15 pooled)
        by_position.append([correct[pos == p].mean().item() if (pos == p).any() else float("nan") for p in range(16)])
        run.log(layer, {"probe/layer": layer, "probe/accuracy": accuracy[-1]})
        print(f"layer {layer}: probe accuracy {accuracy[-1]:.3f}")
    fig = plot_probe_accuracy(accuracy, by_position, mid)
    fig.savefig(run.dir / "probe_accuracy.png", dpi=120)
    plt.close(fig)
    return run.finish({
        "base": str(base_path), "probe_accuracy": accuracy, "probe_accuracy_by_position": by_position,
        "mid_layer": mid, "chance": 1.0 / classes, "n_train_steps": len(y_train["subgoal"]),
    })  # fmt: skip
