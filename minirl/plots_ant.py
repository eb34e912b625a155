"""Figures of ant-pinpad (matplotlib; plumbing): the floor seen from above with an episode's path, and frame strips.

plot_ant_path      the 4x4 floor, pads and wall, and the torso's (x, y) path of one or more episodes
plot_frames        rendered MuJoCo frames in a row
watch_episode      one episode of the single env under any torque source, its path and frames
replay_episode     re-run a batched episode's actions in the single env (bit-equal, tested) to draw or render it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from minirl.envs.ant_core import CELL, HALF, NUM_COLOURS, PALETTE, WALL_RGB, cell_centres
from minirl.tasks import format_task


def plot_ant_path(episodes: Sequence[Mapping], ncols: int = 3) -> Figure:
    """One panel per episode (`ant_expert.record_episode` or `replay_episode` dicts): pads (visited ones
    outlined), the wall, the path from the start (circle) to the end (cross), how the episode ended, and
    the steps in `ep["marks"]` (if any, e.g. where a latent code was written) as red dots."""
    n = len(episodes)
    rows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(rows, min(n, ncols), figsize=(3.2 * min(n, ncols), 3.4 * rows), squeeze=False)
    for ax, ep in zip(axes.ravel(), episodes):
        for k, cell in enumerate(ep["layout"]):
            x, y = cell_centres(cell) - CELL / 2
            colour = (PALETTE[k] if k < NUM_COLOURS else WALL_RGB) / 255
            lw = 3 if k < NUM_COLOURS and k in ep["visited"] else 0
            ax.add_patch(Rectangle((x, y), CELL, CELL, color=colour, ec="k", lw=lw))
            if k < NUM_COLOURS:
                ax.text(x + CELL / 2, y + CELL / 2, str(k), ha="center", va="center", fontsize=12)
        xy = np.asarray(ep["xy"])
        ax.plot(xy[:, 0], xy[:, 1], "k-", lw=1.2)
        ax.plot(*xy[0], "ko", ms=6)
        ax.plot(*xy[-1], "kx", ms=8, mew=2)
        marks = np.asarray(ep.get("marks", []), dtype=int)
        if len(marks):
            ax.plot(xy[marks, 0], xy[marks, 1], "o", color="tab:red", ms=5, label="new code")
            ax.legend(loc="lower right", fontsize=7)
        ticks = np.arange(-HALF, HALF + 1e-9, CELL)
        ax.set(xlim=(-HALF, HALF), ylim=(-HALF, HALF), xticks=ticks, yticks=ticks, aspect="equal")
        ax.grid(True, lw=0.5)
        ax.tick_params(labelbottom=False, labelleft=False)
        task = format_task(ep["task"]) if isinstance(ep["task"][0], (int, np.integer)) else "a task set"
        ax.set_title(f"task {task}: {ep['end']} after {ep['steps']} steps", fontsize=9)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_frames(frames: Sequence[np.ndarray], steps: Sequence[int] | None = None, title: str = "") -> Figure:
    """Frames in a row, labelled with the env step each shows (or their index)."""
    steps = list(range(len(frames))) if steps is None else list(steps)
    fig, axes = plt.subplots(1, len(frames), figsize=(2.2 * len(frames), 2.0), squeeze=False)
    for ax, frame, t in zip(axes[0], frames, steps):
        ax.imshow(frame)
        ax.set_title(f"step {t}", fontsize=8)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def watch_episode(seed: int, task, act, render_at=(), width: int = 320, height: int = 240) -> dict:
    """Step `AntPinpadEnv` from `reset(seed=seed)` on `task`, taking `act(t)` -> (8,) torques at each step
    (None ends the episode there). Returns what `plot_ant_path` draws: the torso's (x, y) path, the layout,
    the task, how it ended, and frames rendered before the steps in `render_at` and at the end."""
    from minirl.envs.ant import AntPinpadEnv

    render_at = set(int(t) for t in render_at)
    env = AntPinpadEnv(task=task, render_mode="rgb_array" if render_at else None, width=width, height=height)
    env.reset(seed=int(seed))
    xy, frames, frame_steps, end = [env.data.qpos[:2].copy()], [], [], "truncated"
    for t in range(env.max_steps):
        a = act(t)
        if a is None:
            break
        if t in render_at:
            frames.append(env.render())
            frame_steps.append(t)
        _, reward, terminated, truncated, _ = env.step(a)
        xy.append(env.data.qpos[:2].copy())
        if terminated or truncated:
            end = "success" if reward > 0 else ("failure" if terminated else "truncated")
            break
    if render_at:
        frames.append(env.render())
        frame_steps.append(env.t)
    env.close()
    return {"xy": np.array(xy), "layout": env.layout, "task": env.task, "visited": list(env.visited), "end": end,
            "steps": env.t, "frames": frames, "frame_steps": frame_steps}  # fmt: skip


def replay_episode(seed: int, task, actions: np.ndarray, render_at=(), width: int = 320, height: int = 240) -> dict:
    """`watch_episode` through recorded torques `actions` (T, 8), clipped to [-1, 1] as the batched env clips
    them: the batched and single envs are bit-equal, so this is the same episode, now drawable."""
    clipped = np.clip(actions, -1.0, 1.0)
    act = lambda t: clipped[t] if t < len(clipped) else None  # noqa: E731
    return watch_episode(seed, task, act, render_at, width, height)
