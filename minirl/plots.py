"""Plotting helpers behind every figure of the tutorials (matplotlib; plumbing, no algorithm logic).

Each function returns a `matplotlib.figure.Figure` and never calls `plt.show()`: a notebook displays the
returned figure, a script saves it with `fig.savefig(path)`. Drawing a grid always goes through
`grid_core.render_rgb`, the same code as `GridPinpadEnv.render()`.

    plot_layouts           a grid of rendered layouts (images or envs)
    plot_episode_frames    an episode as a strip of frames
    plot_transition_table  4x4 subgoal-transition counts: pretraining tasks vs the post-training task
    plot_dataset_stats     episode lengths, subgoal segment lengths, expert choices of a dataset

Subgoals are named by letter: A = colours 0-1, B = 2-3, C = 4-5, D = 6-7.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from minirl.data import Trajectories
from minirl.envs.grid_core import NUM_COLOURS, PALETTE, render_rgb
from minirl.envs.gridworld import GridPinpadEnv
from minirl.tasks import GRID_NUM_SUBGOALS, Task, subgoal_transitions

SUBGOAL_NAMES = ("A", "B", "C", "D")  # A = colours 0-1, B = 2-3, C = 4-5, D = 6-7
Dataset = Mapping[str, np.ndarray] | Trajectories  # the dict of `generate_gridworld` or a loaded dataset


# ---------------------------------------------------------------------------------------- grids of images
def as_image(x: np.ndarray | GridPinpadEnv) -> np.ndarray:
    """An (H, W, 3) uint8 image, or a reset `GridPinpadEnv` rendered in its current state."""
    if isinstance(x, GridPinpadEnv):
        visited = np.isin(np.arange(NUM_COLOURS), x.visited)  # (8,) bool
        return render_rgb(x.layout, x.agent, visited)  # (224, 224, 3)
    return np.asarray(x)


def colour_legend(fig: Figure) -> None:
    """A legend at the bottom of the figure: the 8 pad colours, with their index and subgoal letter."""
    handles = [Patch(color=PALETTE[c] / 255, label=f"{c} ({SUBGOAL_NAMES[c // 2]})") for c in range(NUM_COLOURS)]
    ncol = NUM_COLOURS if fig.get_figwidth() >= 8 else NUM_COLOURS // 2  # one row, or two on narrow figures
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, fontsize=9)
    legend_inches = 0.15 + 0.3 * (NUM_COLOURS // ncol)
    fig.tight_layout(rect=(0, legend_inches / fig.get_figheight(), 1, 1))


def _image_grid(images: Sequence[np.ndarray], titles: Sequence[str] | None, ncols: int, size: float) -> Figure:
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)  # ceil
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i])
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def plot_layouts(
    images_or_envs: Sequence[np.ndarray | GridPinpadEnv], titles: Sequence[str] | None = None,
    ncols: int = 4, legend: bool = True,
) -> Figure:  # fmt: skip
    """Rendered layouts side by side (pads coloured, walls dark grey, the agent a black disc)."""
    fig = _image_grid([as_image(x) for x in images_or_envs], titles, ncols, size=2.6)
    if legend:
        colour_legend(fig)
    return fig


def plot_episode_frames(
    frames: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 8, legend: bool = True
) -> Figure:  # fmt: skip
    """An episode as a strip of frames, row by row (visited pads are crossed in white)."""
    fig = _image_grid(list(frames), titles, ncols, size=1.7)
    if legend:
        colour_legend(fig)
    return fig


# ---------------------------------------------------------------------------------------- tasks
def transition_matrix(tasks: Sequence[Task], env: str = "gridworld") -> np.ndarray:
    """(4, 4) counts: entry [g, g'] = how often subgoal g is followed by g' in `tasks`."""
    m = np.zeros((GRID_NUM_SUBGOALS, GRID_NUM_SUBGOALS), dtype=np.int64)
    for (g, g_next), count in subgoal_transitions(tasks, env).items():
        m[g, g_next] = count
    return m


def plot_transition_table(pretrain_tasks: Sequence[Task], posttrain_task: Task) -> Figure:
    """Two 4x4 heatmaps of subgoal-transition counts, pretraining tasks vs the post-training task."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.8))
    panels = [
        (transition_matrix(pretrain_tasks), f"pretraining ({len(pretrain_tasks)} tasks)"),
        (transition_matrix([posttrain_task]), "post-training task"),
    ]
    for ax, (m, title) in zip(axes, panels):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for g in range(m.shape[0]):
            for g_next in range(m.shape[1]):
                dark = m[g, g_next] > m.max() / 2
                ax.text(g_next, g, str(m[g, g_next]), ha="center", va="center", color="w" if dark else "k")
        ticks = [f"{s}\n{2 * i}-{2 * i + 1}" for i, s in enumerate(SUBGOAL_NAMES)]
        ax.set_xticks(range(4), ticks)
        ax.set_yticks(range(4), [t.replace("\n", " ") for t in ticks])
        ax.set_xlabel("next subgoal")
        ax.set_ylabel("subgoal")
        ax.set_title(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- datasets
def subgoal_segment_lengths(subgoals: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Steps spent on each subgoal: run lengths of the ground-truth subgoal along every episode (1-D array)."""
    out = []
    for sg, n in zip(subgoals, lengths):
        sg = sg[:n]  # (T_i,)
        cuts = np.flatnonzero(np.diff(sg)) + 1  # steps where the subgoal changes
        out.append(np.diff(np.concatenate([[0], cuts, [n]])))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _arrays(data: Dataset) -> Mapping[str, np.ndarray]:
    return data.arrays if isinstance(data, Trajectories) else data


def plot_dataset_stats(trajectories: Dataset | Mapping[str, Dataset]) -> Figure:
    """Episode lengths (failures hatched), steps per subgoal, and how many optimal actions the expert had.

    `trajectories`: one dataset, or a mapping {name: dataset} drawn on the same axes.
    """
    single = isinstance(trajectories, Trajectories) or "lengths" in trajectories
    datasets = {"dataset": trajectories} if single else dict(trajectories)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    bins = np.arange(0, 102, 2)
    for i, (name, data) in enumerate(datasets.items()):
        a, colour = _arrays(data), f"C{i}"
        lengths, success = a["lengths"].astype(np.int64), a["success"].astype(bool)  # (N,), (N,)
        axes[0].hist(lengths[success], bins, color=colour, alpha=0.6, label=f"{name}: success {success.mean():.2%}")
        if (~success).any():
            axes[0].hist(lengths[~success], bins, color=colour, hatch="//", fill=False, label=f"{name}: failed")
        seg = subgoal_segment_lengths(a["subgoals"], lengths)
        axes[1].hist(seg, np.arange(0, seg.max() + 2), density=True, color=colour, alpha=0.6,
                     label=f"{name}: mean {seg.mean():.1f}")  # fmt: skip
        mask = np.arange(a["optimal"].shape[1])[None] < lengths[:, None]  # (N, T) real steps
        n_opt = np.unpackbits(a["optimal"][mask][:, None], axis=1).sum(1)  # (steps,) optimal actions per step
        counts = np.bincount(n_opt, minlength=5)[1:5] / mask.sum()
        axes[2].bar(np.arange(1, 5) + 0.35 * (i - (len(datasets) - 1) / 2), counts, 0.35, color=colour, label=name)
    axes[0].set(xlabel="episode length (steps)", ylabel="episodes", title="episode lengths")
    axes[1].set(xlabel="steps spent on one subgoal", ylabel="fraction of segments", title="subgoal segment lengths")
    axes[2].set(xlabel="optimal actions at a step", ylabel="fraction of steps", title="expert's choices")
    axes[2].set_xticks(range(1, 5))
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ stage 2: looking inside the base model
def plot_probe_accuracy(accuracy: Sequence[float], by_position: Sequence[Sequence[float]], mid: int) -> Figure:
    """Fig. 3: subgoal-probe accuracy per layer (left) and against steps into the segment, per layer (right)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    layers = np.arange(len(accuracy))
    ax1.plot(layers, accuracy, "o-", color="C0")
    ax1.axhline(1 / GRID_NUM_SUBGOALS, ls="--", color="grey", label="chance")
    ax1.axvline(mid, ls=":", color="C3", label=f"mid-depth (l = {mid})")
    ax1.set(xlabel="layer l (0 = embedding)", ylabel="held-out probe accuracy", xticks=layers, ylim=(0, 1))
    ax1.legend(frameon=False)
    cmap = plt.get_cmap("viridis")
    for layer, acc in enumerate(by_position):
        ax2.plot(np.arange(len(acc)), acc, color=cmap(layer / max(1, len(by_position) - 1)), label=f"l = {layer}")
    ax2.set(xlabel="steps into the subgoal segment (last bin: 15+)", ylabel="probe accuracy", ylim=(0, 1))
    ax2.legend(frameon=False, fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def plot_controller_success(layers: Sequence[int], success: Sequence[float], uncontrolled: float, mid: int,
                            task: str = "post-training task") -> Figure:  # fmt: skip
    """Fig. 4: success on the unseen task with ground-truth controllers inserted at each layer."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(layers, success, "o-", label="ground-truth controllers")
    ax.axhline(uncontrolled, ls="--", color="grey", label="uncontrolled base model")
    ax.axvline(mid, ls=":", color="C3", label=f"mid-depth (l = {mid})")
    ax.set(xlabel="controlled layer l", ylabel=f"{task} success", xticks=list(layers), ylim=(0, 1))
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------ stage 1: pretraining the base model
def plot_pretraining_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]], ceiling: float | None = None
) -> Figure:
    """Action NLL (left: training, line; held-out, dots) and held-out optimal-action accuracy (right) vs steps.

    `curves`: {run name: records}, each record a line of a run's `metrics.jsonl` (a dict with `step` and
    keys such as `losses/action_nll`, `heldout_action_nll`, `optimal_action_accuracy`); a record without a
    panel's key is skipped there. `ceiling`: the Bayes ceiling of the accuracy (`evaluation.bayes_ceiling`).
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    panels = (  # axis, key, line style, marker, label suffix
        (ax1, "losses/action_nll", "-", None, "train"), (ax1, "heldout_action_nll", "none", "o", "held-out"),
        (ax2, "optimal_action_accuracy", "-", "o", None),
    )  # fmt: skip
    for i, (name, records) in enumerate(curves.items()):
        for ax, key, ls, marker, kind in panels:
            xy = np.array(sorted((r["step"], r[key]) for r in records if r.get(key) is not None), dtype=float)
            xy = xy.reshape(-1, 2)  # (points, 2): step, value
            label = name if kind is None else (f"{name}, {kind}" if len(curves) > 1 else kind)
            marker = marker or ("o" if len(xy) < 3 else None)  # a single logged point would not show as a line
            ax.plot(xy[:, 0], xy[:, 1], ls=ls, marker=marker, color=f"C{i}", ms=4, lw=1.2, label=label)
    if ceiling is not None:
        ax2.axhline(ceiling, ls="--", color="grey", label=f"Bayes ceiling ({ceiling:.3f})")
    ax1.set(xlabel="optimiser step", ylabel="action NLL (nats)", title="loss")
    ax2.set(xlabel="optimiser step", ylabel="optimal-action accuracy", title="held-out accuracy", ylim=(0, 1))
    for ax in (ax1, ax2):
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_base_model_behaviour(metrics: Mapping[str, float]) -> Figure:
    """The base model rolled out alone (the dict of `evaluation.evaluate_base_model`): success rates and colours."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [5, 4]})
    rates = {
        "any pre-\ntraining task\n(greedy)": metrics["valid_task_rate"],
        "any pre-\ntraining task\n(sampled)": metrics["valid_task_rate_sampled"],
        "one fixed pre-\ntraining task\n(sampled)": metrics["fixed_task_success_sampled"],
        "post-training\ntask\n(greedy)": metrics["posttrain_success"],
        "post-training\ntask\n(sampled)": metrics["posttrain_success_sampled"],
    }
    bars = ax1.bar(range(len(rates)), list(rates.values()), color=["C0", "C0", "C1", "C3", "C3"])
    ax1.bar_label(bars, fmt="%.2f", fontsize=8)
    ax1.plot([1.6, 2.4], [1 / 16, 1 / 16], "k--", lw=1, label="1/16: a perfect imitator's bound")
    ax1.set_xticks(range(len(rates)), list(rates), fontsize=8)
    ax1.set(ylabel="success rate", ylim=(0, 1.05), title="tasks completed")
    ax1.legend(frameon=False, fontsize=8)
    colours = {
        "any pre-\ntraining task\n(greedy)": (metrics["valid_task_colours"], 6),
        "any pre-\ntraining task\n(sampled)": (metrics["valid_task_colours_sampled"], 6),
        "post-training\ntask\n(greedy)": (metrics["posttrain_colours"], 12),
        "post-training\ntask\n(sampled)": (metrics["posttrain_colours_sampled"], 12),
    }
    x = np.arange(len(colours))
    ax2.bar(x, [n for _, n in colours.values()], color="0.9", edgecolor="0.6", label="task length")
    bars = ax2.bar(x, [v for v, _ in colours.values()], color=["C0", "C0", "C3", "C3"])
    ax2.bar_label(bars, fmt="%.1f", fontsize=8)
    ax2.set_xticks(x, list(colours), fontsize=8)
    ax2.set(ylabel="colours visited in order", title="correct colours before the episode ends (of 6 / of 12)")
    ax2.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_controller_metrics(control: Mapping) -> Figure:
    """Fig. 4 with its smoother companion: post-training success (left) and colours completed in order (right)
    by controlled layer, against the uncontrolled model. `control`: the dict returned by `controllers.main`."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    layers, mid = list(control["layers"]), control["mid_layer"]
    panels = (
        (axes[0], "gt_controller_success", "uncontrolled_success", "post-training task success", None),
        (axes[1], "gt_controller_colours", "uncontrolled_colours", "colours visited in order (of 12)", 12),
    )  # fmt: skip
    for ax, key, base_key, ylabel, top in panels:
        ax.plot(layers, control[key], "o-", label="ground-truth controllers")
        ax.axhline(control[base_key], ls="--", color="grey", label="uncontrolled base model")
        ax.axvline(mid, ls=":", color="C3", label=f"mid-depth (l = {mid})")
        upper = top if top is not None else min(1.0, 1.2 * max(0.05, *control[key], control[base_key]))
        ax.set(xlabel="controlled layer l", ylabel=ylabel, xticks=layers, ylim=(0, upper))
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
