"""Figures of the metacontroller stage (matplotlib; plumbing, no algorithm logic). Each returns a Figure.

plot_switching                 beta_t over time under the ground-truth subgoal labels ([P] Fig. 6 / A3)
plot_rate_distortion           KL (rate) against action NLL (distortion) over an alpha sweep ([P] Fig. 7)
plot_steering                  which colour pair each fixed prior code reaches ([P] §6.4)
plot_metacontroller_training   training losses and switches per episode against steps
plot_rl_curves                 RL success against episodes per method, median and IQR over seeds ([P] Fig. 8)
plot_latent_episodes           episodes of a latent policy: the agent's path, with the steps where it chose a code
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

from minirl.envs.grid_core import PALETTE, G, render_rgb
from minirl.plots import SUBGOAL_NAMES

PAIR_COLOURS = [PALETTE[2 * g] / 255 for g in range(4)]  # each subgoal drawn in the colour of its first pad


def plot_switching(beta: np.ndarray, subgoals: np.ndarray, lengths: np.ndarray, episodes: int = 4) -> Figure:
    """beta_t (line) and hard switches beta > 0.5 (dots) over the first `episodes` held-out episodes, on a
    band coloured by the ground-truth subgoal, with dashed lines at the subgoal boundaries."""
    n = min(episodes, len(lengths))
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.3 * n + 0.6), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        T = int(lengths[i])
        t = np.arange(T)
        for s in range(T):  # the subgoal band
            ax.axvspan(s - 0.5, s + 0.5, ymin=0, ymax=0.12, color=PAIR_COLOURS[subgoals[i, s]], lw=0)
        for b in t[1:][subgoals[i, 1:T] != subgoals[i, : T - 1]]:
            ax.axvline(b, ls="--", color="grey", lw=0.8)
        ax.plot(t, beta[i, :T], color="k", lw=1.2)
        hard = beta[i, :T] > 0.5
        ax.plot(t[hard], beta[i, :T][hard], "o", color="C3", ms=4)
        ax.set(xlim=(-0.5, T - 0.5), ylim=(-0.05, 1.05), ylabel=r"$\beta_t$")
    axes[-1, 0].set_xlabel("time step t (band: ground-truth subgoal; dashed: boundaries; red: beta > 0.5)")
    handles = [Patch(color=PAIR_COLOURS[g], label=f"subgoal {SUBGOAL_NAMES[g]}") for g in range(4)]
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig


def plot_rate_distortion(rows: Sequence[Mapping]) -> Figure:
    """Rows of `discovery.sweep` (alpha, cotrain, action_nll, kl, switch_f1, switches_per_episode): KL against
    NLL per alpha, frozen and co-trained; stars mark runs whose switches align with subgoals (F1 >= 0.9)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for cotrain, colour, name in ((False, "C0", "frozen base"), (True, "C1", "co-trained")):
        rs = sorted((r for r in rows if r["cotrain"] == cotrain), key=lambda r: r["alpha"])
        if not rs:
            continue
        nll, kl = [r["action_nll"] for r in rs], [r["kl"] for r in rs]
        ax1.plot(nll, kl, "o-", color=colour, label=name)
        for r in rs:
            ax1.annotate(f"{r['alpha']:g}", (r["action_nll"], r["kl"]), fontsize=7, xytext=(3, 3),
                         textcoords="offset points")  # fmt: skip
            if r["switch_f1"] >= 0.9:
                ax1.plot(r["action_nll"], r["kl"], "*", color="gold", ms=14, mec="k", zorder=3)
        alphas = [r["alpha"] for r in rs]
        ax2.plot(alphas, [r["switches_per_episode"] for r in rs], "o-", color=colour, label=f"{name}: switches")
        ax2.plot(alphas, [r["switch_f1"] for r in rs], "s--", color=colour, label=f"{name}: switch F1")
    if rows:
        ax2.axhline(rows[0]["subgoals_per_episode"], ls=":", color="grey", label="subgoals per episode")
    ax1.set(xlabel="action NLL per step (distortion)", ylabel="KL per step (rate)",
            title="rate-distortion (labels: alpha; star: F1 >= 0.9)")  # fmt: skip
    ax2.set(xlabel="alpha", ylabel="switches per episode / F1", xscale="symlog", title="switching")
    ax2.set_xscale("symlog", linthresh=0.05)
    for ax in (ax1, ax2):
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def plot_steering(steer: Mapping) -> Figure:
    """Stacked bars: for each fixed code (and the uncontrolled model), the share of episodes reaching each pair."""
    pairs = np.asarray(steer["pairs"], float)  # (K + 1, 4)
    frac = pairs / np.maximum(pairs.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(pairs), 3.4))
    x, bottom = np.arange(len(pairs)), np.zeros(len(pairs))
    for g in range(4):
        ax.bar(x, frac[:, g], bottom=bottom, color=PAIR_COLOURS[g], label=f"subgoal {SUBGOAL_NAMES[g]}")
        bottom += frac[:, g]
    ax.set_xticks(x, [f"z{k}" for k in range(len(pairs) - 1)] + ["none"])
    ax.set(ylabel="share of episodes reaching each pair", ylim=(0, 1),
           title=f"one fixed code, many layouts: consistency {steer['steering_consistency']:.2f} "
                 f"(uncontrolled {steer['uncontrolled_consistency']:.2f})")  # fmt: skip
    ax.title.set_fontsize(9)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def plot_metacontroller_training(metrics_jsonl: str | Path) -> Figure:
    """Action NLL, KL and switches per episode against optimiser steps, from a run's metrics.jsonl."""
    records = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()]
    records = [r for r in records if "losses/action_nll" in r]
    step = [r["step"] for r in records]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    keys = ("losses/action_nll", "losses/kl", "charts/switches_per_episode")
    labels = ("action NLL per step", "KL per step", "switches per episode (sampled beta > 0.5)")
    for ax, key, label in zip(axes, keys, labels):
        ax.plot(step, [r[key] for r in records], "-o" if len(records) < 3 else "-", ms=3)
        ax.set(xlabel="optimiser step", ylabel=label)
    fig.tight_layout()
    return fig


def plot_rl_curves(curves: Mapping[str, Sequence]) -> Figure:
    """Success on the RL task against episodes, one line per method ([P] Fig. 8). Each value is one curve
    [(episodes, success), ...] or a list of them, one per seed: then the line is the median over seeds and the
    band the 25-75% quantiles, as in the paper."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (name, curve) in enumerate(curves.items()):
        runs = np.asarray(curve, float)
        runs = runs.reshape(1, -1, 2) if runs.ndim == 2 else runs  # (seeds, points, 2)
        x, y = runs[0, :, 0], runs[:, :, 1]
        style = "-o" if len(x) < 3 else "-"
        label = name if len(runs) == 1 else f"{name} (median, IQR over {len(runs)} seeds)"
        ax.plot(x, np.median(y, 0), style, ms=3, color=f"C{i}", label=label)
        if len(runs) > 1:
            ax.fill_between(x, np.quantile(y, 0.25, 0), np.quantile(y, 0.75, 0), color=f"C{i}", alpha=0.2, lw=0)
    ax.set(xlabel="episodes", ylabel="success rate (sampled policy)", ylim=(-0.02, 1.02))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 400000 -> 400k, so long runs' ticks do not collide
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_latent_episodes(obs: np.ndarray, lengths: np.ndarray, decisions: np.ndarray, success: np.ndarray,
                         final: np.ndarray, episodes: int = 4) -> Figure:  # fmt: skip
    """Each panel: one episode's layout, the agent's path (grey line, start as a square) and a red ring with its
    index at every raw step where the policy wrote a new code. obs (B, T, 13) object cells (12 layout + agent),
    lengths (B,), decisions (B, M) raw steps of the decisions (-1 padded), success (B,), final (B,) the agent's
    cell after its last step (`env.agent` after the rollout)."""
    n = min(episodes, len(lengths))
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.1), squeeze=False)
    for i, ax in enumerate(axes[0]):
        T = int(lengths[i])
        path = np.append(obs[i, :T, 12], final[i]).astype(int)  # the agent's cell before each step, and at the end
        ax.imshow(render_rgb(obs[i, 0, :12], path[-1]))
        xy = np.stack([path % G, path // G], 1) * 32 + 15.5  # cell -> pixel centre
        ax.plot(xy[:, 0], xy[:, 1], "-", color="grey", lw=2, alpha=0.8)
        ax.plot(*xy[0], "s", color="grey", ms=8)
        for k, t in enumerate(d for d in decisions[i] if 0 <= d < T):
            ax.plot(*xy[t], "o", mfc="none", mec="C3", mew=2, ms=14)
            ax.annotate(str(k + 1), xy[t] + 9, color="C3", fontsize=9, weight="bold")
        ax.set_title(f"{'success' if success[i] else 'failure'}, {T} steps", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
