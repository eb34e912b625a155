"""The one controller application of minirl ([P] Eq. 1): e_{t,l} <- e_{t,l} + U_t e_{t,l}.

Ground-truth controllers, the metacontroller's hypernetwork and CompILE's decoder all produce U_t and hand
it to `apply_controller`; the base model's upper blocks (l+1..L) then run on the controlled residual,
unaware of it. U_t comes per time step, in one of two forms:

    full      U (..., D, D)                          e + U e
    low-rank  (A, B), each (..., D, r): U = A B^T     e + A (B^T e)   (never forms the D x D matrix)

where `...` matches e's leading dims (B, T) for a sequence or (B,) for one rollout step.
"""

from __future__ import annotations

import torch

Controller = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def apply_controller(e: torch.Tensor, U: Controller | None) -> torch.Tensor:
    """e (..., D) -> e + U e. `U` is None (no control), a full (..., D, D) matrix or low-rank factors (A, B)."""
    if U is None:
        return e
    if isinstance(U, tuple):
        A, B = U  # (..., D, r) each
        return e + torch.einsum("...dr,...r->...d", A, torch.einsum("...dr,...d->...r", B, e))
    return e + torch.einsum("...ij,...j->...i", U, e)


def select_time(U: Controller | None, t: int) -> Controller | None:
    """The controller of time step t from a sequence of controllers (..., T, D, ...)."""
    if U is None:
        return None
    if isinstance(U, tuple):
        return U[0][:, t], U[1][:, t]
    return U[:, t]
