"""The gridworld expert: a stochastic shortest-path policy solved by dynamic programming ([P] §C.1.1).

For every colour c a breadth-first search (the DP of a shortest-path problem with unit costs) gives
dist_c(cell), the number of moves from `cell` to colour c through cells that are neither walls nor
*other* colours (stepping on another colour would end the episode). The expert plays uniformly among the
actions that minimise dist_c(next cell) for the next colour c of its task. Distances are computed once
per layout, for all 8 colours at once, vectorised over the batch.

epsilon-noise ([P] Fig. A2): with probability epsilon the action is replaced by a uniformly random action
that does not end the episode: it never steps onto a wrong colour, nor into a free pocket from which the
next colour cannot be reached (that would end it later, by truncation).
"""

from __future__ import annotations

import numpy as np

from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import EMPTY, NEXT, NUM_CELLS, NUM_COLOURS, dilate, layout_grid

UNREACHABLE = 10_000


def distance_maps(layout: np.ndarray) -> np.ndarray:
    """(B, 12) layouts -> (B, 8, 49) moves from each cell to each colour, avoiding walls and other colours."""
    B = len(layout)
    colour_cell = layout[:, :NUM_COLOURS]  # (B, 8)
    bi, ci = np.meshgrid(np.arange(B), np.arange(NUM_COLOURS), indexing="ij")  # (B, 8) each
    passable = np.repeat((layout_grid(layout) == EMPTY)[:, None], NUM_COLOURS, 1)  # (B, 8, 49) empty cells ...
    passable[bi, ci, colour_cell] = True  # ... and colour c's own cell
    dist = np.full((B, NUM_COLOURS, NUM_CELLS), UNREACHABLE, dtype=np.int64)
    dist[bi, ci, colour_cell] = 0
    reached = dist == 0
    for d in range(1, NUM_CELLS):  # BFS, one layer of cells per iteration
        new = dilate(reached) & passable & ~reached  # (B, 8, 49) one move from a reached cell
        if not new.any():
            break
        dist[new] = d
        reached |= new
    return dist


class GridExpert:
    """Shortest-path expert for a `GridPinpadBatch` in single-task mode. Call `reset(env)` after `env.reset()`."""

    def __init__(self, epsilon: float = 0.0, seed: int | None = None):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)

    def reset(self, env: GridPinpadBatch) -> None:
        self.dist = distance_maps(env.layout)  # (B, 8, 49)

    def optimal_actions(self, env: GridPinpadBatch) -> np.ndarray:
        """(B, 4) bool: actions on a shortest path to the next colour (all False for finished episodes)."""
        target = env.target()  # (B,)
        running = ~env.done
        if (running & (target < 0)).any():
            raise ValueError("the expert needs a determined next colour: use a single-task env, not task-set mode")
        B = np.arange(env.num_envs)
        nxt = self._next_cells(env)  # (B, 4)
        cost = self.dist[B[:, None], np.maximum(target, 0)[:, None], nxt]  # (B, 4)
        cost = np.where(nxt == env.agent[:, None], UNREACHABLE, cost)  # standing still never helps
        best = cost == cost.min(1, keepdims=True)
        return best & (cost < UNREACHABLE) & running[:, None]

    def act(self, env: GridPinpadBatch) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions (B,) and return them with the optimal-action mask (B, 4) they were drawn from."""
        optimal = self.optimal_actions(env)
        safe = self._safe_actions(env)
        choose_from = np.where(optimal.any(1, keepdims=True), optimal, safe)
        noisy = self.rng.random(env.num_envs) < self.epsilon
        choose_from = np.where(noisy[:, None], safe, choose_from)
        scores = self.rng.random((env.num_envs, 4)) * choose_from  # uniform among allowed actions
        return scores.argmax(1), optimal

    def _next_cells(self, env: GridPinpadBatch) -> np.ndarray:
        nxt = NEXT[env.agent]  # (B, 4)
        wall = np.take_along_axis(env.grid, nxt, 1) >= NUM_COLOURS
        return np.where(wall, env.agent[:, None], nxt)

    def _safe_actions(self, env: GridPinpadBatch) -> np.ndarray:
        """(B, 4) actions that keep the task winnable: no wrong colour, no free pocket the next colour is cut off
        from (a colour can border such a pocket); standing still is always safe."""
        nxt = self._next_cells(env)
        target = np.maximum(env.target(), 0)
        reachable = self.dist[np.arange(env.num_envs)[:, None], target[:, None], nxt] < UNREACHABLE  # (B, 4)
        return reachable | (nxt == env.agent[:, None])
