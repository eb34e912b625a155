"""The metacontroller: a recurrent hypernetwork that discovers temporally-abstract actions ([P] §6, Eq. 2-3, §D.2).

It reads the frozen base model's residual stream e_t := e_{t,l} at layer l = L/2 and writes a controller
U_t back into it (control.py). With x_t = LayerNorm(e_t), per time step t = 1..T:

    s       = f_emb(x_{1:T})                          non-causal sequence embedding, one vector (n_s)
    h_t     = GRU(x_t, h_{t-1})                       history, h_0 = 0 (n_h)
    mu_t, log Sigma_t = f_enc(x_t, h_{t-1}, s)        Gaussian encoder (MLP, hidden 64), Sigma diagonal
    z~_t    = mu_t + Sigma_t^(1/2) eps                proposal code, reparameterised (n_z = 8)
    beta_t  = f_switch(x_t, h_{t-1}, z_{t-1})         causal switching unit in [0, 1] (MLP + sigmoid;
                                                      a Gumbel-sigmoid sample while training)
    z_t     = beta_t z~_t + (1 - beta_t) z_{t-1}      temporal integration, z_0 = 0
    U_t     = f_hyp(z_t)                              hypernetwork (MLP, hidden 32): low-rank A B^T or full
    e_t    <- e_t + U_t e_t                           then the frozen blocks l+1..L and the action head

Loss per step ([P] Eq. 3 with lambda = 0): -log p(a_t | o_{1:t}, z_{1:t}) + alpha KL(N(mu_t, Sigma_t) || N(0, I)).
The KL is *not* weighted by beta_t ([P] §E.1 derives it exactly), and there is no switching penalty: a step
that keeps z_{t-1} (beta ~ 0) ignores z~_t but still pays its KL, so the cheapest way to carry information
is to switch rarely. Sparse, subgoal-aligned switching is meant to emerge from that alone.

Internal RL (issue 5) keeps `switch`, the GRU and `decode`, and replaces the non-causal encoder by a policy.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from minirl.config import MetacontrollerConfig, ModelConfig
from minirl.control import Controller


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) summed over the last dim: (..., n_z) -> (...)."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1).sum(-1)


def integrate(beta: torch.Tensor, z_tilde: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
    """Temporal integration z_t = beta_t z~_t + (1 - beta_t) z_{t-1}: beta (B,), z~ and z_prev (B, n_z)."""
    return beta[:, None] * z_tilde + (1 - beta[:, None]) * z_prev


def hypernetwork(d_model: int, n_z: int, hidden: int, rank: int) -> nn.Sequential:
    """f_hyp: z (n_z) -> the entries of U, MLP(hidden): 2 D r for low-rank factors (A, B), or D^2 (rank 0).

    U = 0 at initialisation, so training starts from the uncontrolled base model (as LoRA does): the output
    layer's A half (low-rank) or all of it (full) is zero; B keeps a random fan-in initialisation."""
    net = mlp(n_z, hidden, 2 * d_model * rank if rank else d_model * d_model)
    last = net[-1]
    with torch.no_grad():
        if rank:
            last.weight[: d_model * rank].zero_()
            last.bias[: d_model * rank].zero_()
            last.bias[d_model * rank :].normal_(0, d_model**-0.5)
        else:
            last.weight.zero_()
            last.bias.zero_()
    return net


def decode_controller(hyper: nn.Module, z: torch.Tensor, d_model: int, rank: int) -> Controller:
    """U_t = f_hyp(z_t): z (..., n_z) -> low-rank factors (A, B), each (..., D, r), or a full U (..., D, D)."""
    out = hyper(z)
    if rank:
        A, B = out.split(d_model * rank, -1)
        return A.unflatten(-1, (d_model, rank)), B.unflatten(-1, (d_model, rank))
    return out.unflatten(-1, (d_model, d_model))


class SequenceEmbedder(nn.Module):
    """s = f_emb(x_{1:T}): Hawk blocks over the whole sequence, mean-pooled over its real steps (B, n_s).

    The paper says only "a first pass through the entire sequence" with Hawk layers. We mean-pool the Hawk
    outputs (each a summary of the history up to t) rather than read the last step, which gives every
    step a short gradient path; with padding at the end only, the pooled vector sees all T real steps.
    """

    def __init__(self, d_model: int, n_s: int, layers: int):
        super().__init__()
        from minirl.models.sequence_model import Block

        self.inp = nn.Linear(d_model, n_s)
        hawk = ModelConfig(arch="hawk", n_layers=layers, d_model=n_s, n_heads=1, d_mlp=2 * n_s, d_rnn=n_s)
        self.blocks = nn.ModuleList(Block(hawk) for _ in range(layers))
        self.norm = nn.LayerNorm(n_s)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), mask (B, T) bool -> s (B, n_s)."""
        y = self.inp(x)
        for block in self.blocks:
            y = block(y)
        m = mask.to(y.dtype)[..., None]  # (B, T, 1)
        return self.norm((y * m).sum(1) / m.sum(1).clamp(min=1))


class Metacontroller(nn.Module):
    """phi: sequence embedder, GRU, encoder, switching unit and hypernetwork, for a base of width `d_model`."""

    def __init__(self, d_model: int, cfg: MetacontrollerConfig):
        super().__init__()
        self.d_model, self.n_z, self.n_h, self.rank = d_model, cfg.n_z, cfg.n_h, cfg.rank
        self.no_temporal, self.switch_temperature = cfg.no_temporal, cfg.switch_temperature
        self.norm = nn.LayerNorm(d_model)  # the residual stream's scale varies by layer; read it normalised
        self.embedder = SequenceEmbedder(d_model, cfg.n_s, cfg.emb_layers)
        self.gru = nn.GRUCell(d_model, cfg.n_h)
        self.encoder = mlp(d_model + cfg.n_h + cfg.n_s, cfg.enc_hidden, 2 * cfg.n_z)  # -> (mu, log Sigma)
        self.switch_unit = mlp(d_model + cfg.n_h + cfg.n_z, cfg.switch_hidden, 1)  # -> logit of beta
        self.hyper = hypernetwork(d_model, cfg.n_z, cfg.dec_hidden, cfg.rank)

    # ------------------------------------------------------------------ the pieces, one step each
    def encode(self, x_t: torch.Tensor, h_prev: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D), (B, n_h), (B, n_s) -> mu, log Sigma (B, n_z) each."""
        mu, logvar = self.encoder(torch.cat([x_t, h_prev, s], -1)).chunk(2, -1)
        return mu, logvar.clamp(-10, 5)

    def switch(self, x_t: torch.Tensor, h_prev: torch.Tensor, z_prev: torch.Tensor, sample: bool = False,
               generator=None) -> torch.Tensor:  # fmt: skip
        """beta_t = f_switch(x_t, h_{t-1}, z_{t-1}) (B,), in [0, 1]; identically 1 with `no_temporal`.

        With `sample` and a switch temperature tau > 0, beta_t is a Gumbel-sigmoid (binary Concrete) sample,
        sigmoid((logit + log u - log(1 - u)) / tau), u ~ U(0, 1): a relaxed coin flip with P(beta > 0.5) =
        sigmoid(logit). The paper uses it for the gridworld rate-distortion runs ([P] §6.2); it makes a
        half-open switch costly (the coin sometimes overwrites the code), so beta is driven to 0 or 1.
        """
        if self.no_temporal:
            return x_t.new_ones(x_t.shape[0])
        logit = self.switch_unit(torch.cat([x_t, h_prev, z_prev], -1))[:, 0]
        return self._beta(logit, self._coin(logit.shape, logit, sample, generator))

    def _coin(self, shape, like: torch.Tensor, sample: bool, generator) -> torch.Tensor | None:
        """The Gumbel-sigmoid's uniform draw u (None when beta is the plain sigmoid)."""
        if not (sample and self.switch_temperature > 0 and not self.no_temporal):
            return None
        return torch.rand(shape, device=like.device, dtype=like.dtype, generator=generator).clamp(1e-6, 1 - 1e-6)

    def _beta(self, logit: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        if u is None:
            return torch.sigmoid(logit)
        return torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / self.switch_temperature)

    def decode(self, z: torch.Tensor) -> Controller:
        """U = f_hyp(z): z (..., n_z) -> low-rank factors (A, B), each (..., D, r), or a full U (..., D, D)."""
        return decode_controller(self.hyper, z, self.d_model, self.rank)

    def init_state(self, batch: int, device) -> dict:
        """Causal state carried across steps: GRU history h and the current code z (both zero at t = 0)."""
        return {"h": torch.zeros(batch, self.n_h, device=device), "z": torch.zeros(batch, self.n_z, device=device)}

    # ------------------------------------------------------------------ one step, and a whole sequence
    def step(self, e_t: torch.Tensor, state: dict, s: torch.Tensor, sample: bool = True, generator=None):
        """One step of the scan: e_t (B, D), state {h, z} of step t-1, s (B, n_s) -> (mu, logvar, beta, z_t), state."""
        x, h_prev, z_prev = self.norm(e_t), state["h"], state["z"]
        mu, logvar = self.encode(x, h_prev, s)
        z_tilde = mu
        if sample:
            eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
            z_tilde = mu + (0.5 * logvar).exp() * eps  # reparameterised z~_t ~ N(mu_t, Sigma_t)
        beta = self.switch(x, h_prev, z_prev, sample, generator)  # (B,)
        z = integrate(beta, z_tilde, z_prev)
        return (mu, logvar, beta, z), {"h": self.gru(x, h_prev), "z": z}

    def forward(self, e: torch.Tensor, mask: torch.Tensor, sample: bool = True, generator=None) -> dict:
        """e (B, T, D) residuals at layer l, mask (B, T) -> per step mu, logvar, z (B, T, n_z), beta (B, T), and
        U (the decoded controller for every step). `sample=False` uses z~_t = mu_t (analysis).

        This is `step` applied for t = 1..T (tested equal), with everything that does not depend on z_{t-1}
        taken out of the loop and computed for all t at once: x_t, the history h_{t-1} (its GRU is still a
        loop, one fused cell per step), the encoder, z~_t, and the switching unit's first layer on (x_t,
        h_{t-1}). Only its z_{t-1} term, its output layer and the integration stay sequential: the ant's
        500-step episodes made the step-by-step scan the metacontroller's bottleneck. The random draws are
        made in `step`'s order (eps_t, then u_t, for each t), so both give the same samples.
        """
        B, T, _ = e.shape
        x = self.norm(e)  # (B, T, D)
        s = self.embedder(x, mask)  # (B, n_s): the non-causal first pass over the whole sequence
        h, x_steps = [x.new_zeros(B, self.n_h)], x.unbind(1)  # unbind, not x[:, t]: its backward is one stack,
        for t in range(T - 1):  # while T slices would each write a whole (B, T, D) zero gradient (O(T^2))
            h.append(self.gru(x_steps[t], h[-1]))
        h_prev = torch.stack(h, 1)  # (B, T, n_h): h_{t-1}, h_0 = 0
        eps, u = [], []
        for _ in range(T):  # the draws, in step's order
            if sample:
                eps.append(torch.randn((B, self.n_z), device=e.device, dtype=e.dtype, generator=generator))
            u.append(self._coin((B,), e, sample, generator))
        mu, logvar = self.encode(x, h_prev, s[:, None].expand(B, T, s.shape[-1]))  # (B, T, n_z) each
        z_tilde = mu + (0.5 * logvar).exp() * torch.stack(eps, 1) if sample else mu
        if self.no_temporal:
            beta, z = x.new_ones(B, T), z_tilde
        else:
            first, rest = self.switch_unit[0], self.switch_unit[1:]  # Linear(D + n_h + n_z -> hidden), ReLU, Linear
            w_xh, w_z = first.weight[:, : -self.n_z], first.weight[:, -self.n_z :]
            pre = nn.functional.linear(torch.cat([x, h_prev], -1), w_xh, first.bias)  # (B, T, hidden)
            z_t, betas, zs = x.new_zeros(B, self.n_z), [], []
            for pre_t, z_tilde_t, u_t in zip(pre.unbind(1), z_tilde.unbind(1), u):
                beta_t = self._beta(rest(pre_t + z_t @ w_z.T)[:, 0], u_t)  # f_switch(x_t, h_{t-1}, z_{t-1})
                z_t = integrate(beta_t, z_tilde_t, z_t)
                betas.append(beta_t), zs.append(z_t)
            beta, z = torch.stack(betas, 1), torch.stack(zs, 1)
        return {"mu": mu, "logvar": logvar, "beta": beta, "z": z, "U": self.decode(z)}


def metacontroller_loss(model, meta: Metacontroller, batch: dict, layer: int, alpha: float,
                        train_base: bool = False, generator=None) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """([P] Eq. 3, lambda = 0): mean over real steps of action NLL + alpha * KL. Returns (loss, stats).

    With a frozen base (`train_base=False`) its lower half runs once over the whole sequence without
    gradients; the scan and the upper half carry them back to phi. Co-training (`train_base=True`) lets
    gradients reach theta as well.
    """
    mask = batch["mask"]
    with torch.set_grad_enabled(train_base and torch.is_grad_enabled()):
        e = model.lower(batch["obs"], layer)  # (B, T, D)
    out = meta(e, mask, generator=generator)
    heads = model.upper(e, layer, out["U"])
    m = mask.float()
    nll = (model.action_nll(heads, batch["actions"]) * m).sum() / m.sum()
    kl = (gaussian_kl(out["mu"], out["logvar"]) * m).sum() / m.sum()
    hard = ((out["beta"] > 0.5).float() * m).sum() / m.shape[0]  # switches per episode (beta > 0.5)
    return nll + alpha * kl, {"action_nll": nll.detach(), "kl": kl.detach(), "switches": hard.detach()}
