"""The one batched rollout loop: (batched env, frozen base model, a controller chooser) -> trajectories.

Evaluating the pretrained model, ground-truth controllers, the steering demo, the latent-action env and
raw-action RL are all this loop with a different chooser. Per raw step t, for all B episodes at once:

    e_t = model.step_lower(o_t)                      residual stream at the controlled layer l
    U_t = chooser(t, e_t, env)                       None (uncontrolled) or a controller (control.py)
    a_t ~ p(a | e_t + U_t e_t, ...)                  model.step_upper; greedy = argmax (ant: the mean)
    o_{t+1}, r_t, ... = env.step(a_t)                ant: the torques clipped to [-1, 1] (a_t is kept unclipped,
                                                     so raw-action RL scores what the Gaussian sampled)

Finished episodes keep stepping with dummy inputs (the batch stays in lockstep); their steps are masked.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from minirl.control import Controller
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.models.sequence_model import SequenceModel

Chooser = Callable[[int, torch.Tensor, GridPinpadBatch], Controller | None]


@torch.no_grad()
def rollout(
    env: GridPinpadBatch, model: SequenceModel, layer: int | None = None, chooser: Chooser | None = None,
    greedy: bool = False, seeds=None, generator: torch.Generator | None = None, record_residuals: bool = False,
    record_obs: bool = False,
) -> dict[str, np.ndarray | torch.Tensor]:  # fmt: skip
    """Run B episodes to their end. Returns per-episode `success`, `progress`, `length`, and per-step
    `actions` (B, T) (ant: (B, T, 8)), `subgoals` (B, T), `active` (B, T) (and `residuals` (B, T, D) at `layer`,
    `obs` (B, T, 13 or 41)). `env` is a `GridPinpadBatch` or an `AntPinpadBatch` (with an ant model)."""
    layer = model.n_layers // 2 if layer is None else layer
    device = next(model.parameters()).device
    obs, _ = env.reset(seeds)
    state = model.init_state(env.num_envs, device)
    actions, subgoals, active, residuals, observations = [], [], [], [], []
    for t in range(env.max_steps):
        if env.done.all():
            break
        active.append(~env.done)
        if record_obs:
            observations.append(obs)
        subgoals.append(env.subgoal())
        e = model.step_lower(torch.as_tensor(obs, device=device), state, layer)  # (B, D)
        U = chooser(t, e, env) if chooser is not None else None
        a = sample_action(model.step_upper(e, state, layer, U), greedy, generator).cpu().numpy()
        actions.append(a)
        if record_residuals:
            residuals.append(e.cpu())
        obs, *_ = env.step(np.clip(a, -1.0, 1.0) if a.ndim == 2 else a)
    out = {
        "success": env.success.copy(), "progress": env.progress.copy(), "length": env.t.copy(),
        "actions": np.stack(actions, 1), "subgoals": np.stack(subgoals, 1), "active": np.stack(active, 1),
    }  # fmt: skip
    if record_residuals:
        out["residuals"] = torch.stack(residuals, 1)
    if record_obs:
        out["obs"] = np.stack(observations, 1)
    return out


def sample_action(heads: dict, greedy: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """An action from the model's head for step t: (B,) indices (grid), or (B, 8) torques (ant; unclipped: the
    env's [-1, 1] is applied when stepping)."""
    if "action_mean" in heads:
        mean = heads["action_mean"]
        if not greedy:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            mean = mean + heads["action_log_std"].exp() * noise
        return mean.double()
    logits = heads["action_logits"]  # (B, 4)
    if greedy:
        return logits.argmax(-1)
    return torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=generator)[:, 0]
