"""Critic-free PPO with a batch-normalised trajectory advantage ([P] §C.5.2, Eq. 10).

    maximise  E_tau [ mean_t min( rho_t A_tau, clip(rho_t, 1 - eps, 1 + eps) A_tau ) ]
    rho_t = pi_theta(a_t | s_{1:t}) / pi_theta_old(a_t | s_{1:t})
    A_tau = (R(tau) - mean_B R) / (std_B R + delta),   delta = 1e-3, mean and std over the whole batch

"Related to GRPO, except for the notion of group" ([P]): one task, so the whole batch of B episodes is
the group, and every step of an episode shares its episode's advantage. t runs over abstract steps in
internal RL and over raw steps in the raw-action baseline. No critic, no entropy bonus, no KL penalty.

Left open by the paper (INFER): the clip eps = 0.2 (PPO's default); the surrogate is averaged over the
valid steps of the batch (GRPO-style token mean) rather than summed, so the learning rate does not scale
with the episode length; the number of epochs per batch is a config value.
"""

from __future__ import annotations

import torch


def normalised_advantage(returns: torch.Tensor, delta: float = 1e-3) -> torch.Tensor:
    """returns (B,) -> A (B,): standardised over the batch. All-equal returns (e.g. no success yet) give A = 0."""
    return (returns - returns.mean()) / (returns.std(unbiased=False) + delta)


def clipped_surrogate(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                      clip: float = 0.2) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """PPO-clip loss (to minimise) over steps. logp, logp_old, mask (B, M); adv (B,), one per episode.

    Returns (loss, stats) with the clipped fraction and the approximate KL(old || new) for logging.
    """
    m = mask.to(logp.dtype)
    ratio = torch.exp(logp - logp_old)  # (B, M)
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a)
    loss = -(surrogate * m).sum() / m.sum().clamp(min=1)
    with torch.no_grad():
        clipped = (((ratio - 1).abs() > clip).to(m.dtype) * m).sum() / m.sum().clamp(min=1)
        approx_kl = (((ratio - 1) - (logp - logp_old)) * m).sum() / m.sum().clamp(min=1)
    return loss, {"clip_fraction": float(clipped), "approx_kl": float(approx_kl)}
