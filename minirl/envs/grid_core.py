"""Gridworld-pinpad building blocks shared by the single env and its batched twin ([P] §A.1).

Everything here is plain numpy over a batch of B layouts, so the single env (B = 1) and the batched
env draw layouts with the *same* code and the same random calls: `reset(seed=s)` of either gives the
same layout.

Cells are numbered `cell = row * 7 + col`. A layout is 12 cell indices: colours 0..7, then walls 0..3.
The observation is 13 cell indices (the layout, then the agent); `one_hot` turns it into the paper's
637-dim vector, 13 channels per cell, cell-major:

    obs[cell * 13 + k] = 1  iff object k sits in `cell`,   k = 0..7 colours, 8..11 walls, 12 agent.
"""

from __future__ import annotations

import numpy as np

G = 7  # grid side
NUM_CELLS = G * G  # 49
NUM_COLOURS = 8
NUM_WALLS = 4
NUM_OBJECTS = NUM_COLOURS + NUM_WALLS + 1  # 13 channels per cell; the agent is object 12
OBS_DIM = NUM_CELLS * NUM_OBJECTS  # 637
AGENT = NUM_OBJECTS - 1
EMPTY = -1  # value of an empty cell in a `grid` array; colours are 0..7, walls 8..11
MAX_STEPS = 100

ACTION_NAMES = ("up", "right", "down", "left")
_DELTAS = ((-1, 0), (0, 1), (1, 0), (0, -1))


def _neighbour_table() -> np.ndarray:
    """NEXT[cell, action] = the cell a move leads to on an empty grid (off-grid moves stay put)."""
    nxt = np.empty((NUM_CELLS, 4), dtype=np.int64)
    for cell in range(NUM_CELLS):
        r, c = divmod(cell, G)
        for a, (dr, dc) in enumerate(_DELTAS):
            rr, cc = r + dr, c + dc
            nxt[cell, a] = rr * G + cc if 0 <= rr < G and 0 <= cc < G else cell
    return nxt


NEXT = _neighbour_table()  # (49, 4)


def dilate(mask: np.ndarray) -> np.ndarray:
    """(..., 49) bool -> cells in `mask` or one move away from it (4-neighbourhood, no wrap-around)."""
    m = mask.reshape(mask.shape[:-1] + (G, G))
    out = m.copy()
    out[..., 1:, :] |= m[..., :-1, :]
    out[..., :-1, :] |= m[..., 1:, :]
    out[..., :, 1:] |= m[..., :, :-1]
    out[..., :, :-1] |= m[..., :, 1:]
    return out.reshape(mask.shape)


def layout_grid(layouts: np.ndarray) -> np.ndarray:
    """(B, 12) layouts -> (B, 49) grid: EMPTY, colour 0..7 or wall 8..11 in each cell."""
    grid = np.full((len(layouts), NUM_CELLS), EMPTY, dtype=np.int64)
    np.put_along_axis(grid, layouts, np.arange(NUM_COLOURS + NUM_WALLS)[None], axis=1)
    return grid


# 7x7 bitboards: cell c is bit c of a uint64, so a whole grid is one number and a flood-fill step is 4 shifts
_ALL = np.uint64((1 << NUM_CELLS) - 1)
_COL0 = np.uint64(sum(1 << (r * G) for r in range(G)))  # bits of column 0
_COL6 = np.uint64(sum(1 << (r * G + G - 1) for r in range(G)))  # bits of column 6


def to_bits(cells: np.ndarray) -> np.ndarray:
    """(B, k) cell indices -> (B,) uint64 bitboards with those cells set."""
    return np.bitwise_or.reduce(np.uint64(1) << cells.astype(np.uint64), axis=1)


def dilate_bits(x: np.ndarray) -> np.ndarray:
    """Bitboards -> the same cells plus their 4-neighbours (no wrap-around at the edges)."""
    one, row = np.uint64(1), np.uint64(G)
    return (x | (x << row) | (x >> row) | ((x << one) & ~_COL0) | ((x >> one) & ~_COL6)) & _ALL


def solvable(layouts: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """(B,) bool: every task on this layout can be finished (step limit aside).

    Exact rule: every colour cell has a 4-neighbour in R, the region of free cells (neither wall nor colour)
    connected to the agent. Necessary: paths may cross free cells only (another colour would end the
    episode), so a colour is entered from R. Sufficient: after a visit the agent steps back into R, which
    touches every colour. Free pockets outside R are harmless. About 22% of random layouts fail and are redrawn.
    (Requiring *all* free cells to be connected would reject 56%: two colours easily pocket a corner.)
    """
    free = _ALL & ~to_bits(layouts)  # (B,)
    reached = to_bits(agents[:, None])  # R, grown from the agent
    while True:  # flood fill through free cells
        grown = dilate_bits(reached) & (free | reached)
        if (grown == reached).all():
            break
        reached = grown
    colour_bits = np.uint64(1) << layouts[:, :NUM_COLOURS].astype(np.uint64)  # (B, 8)
    return ((dilate_bits(colour_bits) & reached[:, None]) != 0).all(1)


def seeded_uniforms(seeds: np.ndarray, stream: int, n: int) -> np.ndarray:
    """(B,) int seeds -> (B, n) uniforms in [0, 1), a pure function of (seed, stream, index).

    A counter-based generator (splitmix64 finaliser over seed and counter): vectorised over episodes, so
    B layouts cost a few numpy calls instead of B `np.random.Generator`s, and `reset(seed=s)` of the
    single env and episode `s` of the batched env draw the very same numbers.
    """

    def mix(z: np.ndarray) -> np.ndarray:  # splitmix64 finaliser, wrapping uint64 arithmetic
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    golden = np.uint64(0x9E3779B97F4A7C15)
    key = mix(np.asarray(seeds).astype(np.uint64) * golden + np.uint64(stream))  # (B,)
    z = mix(key[:, None] + golden * np.arange(1, n + 1, dtype=np.uint64))  # (B, n)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


TASK_STREAM = 2**32 - 1  # the stream the task draw uses; layout attempts use streams 0, 1, ...


def sample_episodes(seeds: np.ndarray, num_tasks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episode seeds (B,) -> solvable layouts (B, 12), agent cells (B,), task draws (B,) in [0, num_tasks).

    13 distinct cells (8 colours, 4 walls, agent) are the first 13 of a uniformly random permutation of the
    49 cells; an unsolvable layout (about 22%) is redrawn from the seed's next stream.
    """
    seeds = np.asarray(seeds)
    cells = np.zeros((len(seeds), NUM_OBJECTS), dtype=np.int64)
    pending, attempt, k = np.arange(len(seeds)), 0, 4  # k attempts per seed in one vectorised pass
    while len(pending):
        u = np.stack([seeded_uniforms(seeds[pending], attempt + j, NUM_CELLS) for j in range(k)], 1)  # (P, k, 49)
        draws = np.argsort(u, -1)[..., :NUM_OBJECTS]  # (P, k, 13)
        ok = solvable(draws[..., :-1].reshape(-1, NUM_OBJECTS - 1), draws[..., -1].ravel()).reshape(-1, k)
        first = ok.argmax(1)  # the first solvable attempt, as a one-at-a-time loop would pick
        cells[pending] = draws[np.arange(len(pending)), first]
        pending, attempt = pending[~ok.any(1)], attempt + k
    tasks = np.minimum((seeded_uniforms(seeds, TASK_STREAM, 1)[:, 0] * num_tasks).astype(np.int64), num_tasks - 1)
    return cells[:, :-1], cells[:, -1], tasks


def one_hot(cells: np.ndarray) -> np.ndarray:
    """(..., 13) object cells -> (..., 637) float32 one-hot observation (13 channels per cell, cell-major)."""
    cells = np.asarray(cells, dtype=np.int64)  # datasets store cells as int8, where cells * 13 would wrap
    out = np.zeros(cells.shape[:-1] + (OBS_DIM,), dtype=np.float32)
    idx = cells * NUM_OBJECTS + np.arange(NUM_OBJECTS)  # (..., 13)
    np.put_along_axis(out, idx, 1.0, axis=-1)
    return out


def from_one_hot(obs: np.ndarray) -> np.ndarray:
    """Inverse of `one_hot`: (..., 637) -> (..., 13) object cells."""
    grid = obs.reshape(obs.shape[:-1] + (NUM_CELLS, NUM_OBJECTS))
    return grid.argmax(-2)


# ---------------------------------------------------------------- rendering (plumbing)
PALETTE = np.array(
    [[230, 25, 75], [245, 130, 48], [255, 225, 25], [60, 180, 75],
     [70, 240, 240], [0, 130, 200], [145, 30, 180], [240, 50, 230]], dtype=np.uint8
)  # fmt: skip
WALL_RGB = np.array([60, 60, 60], dtype=np.uint8)
FLOOR_RGB = np.array([235, 235, 235], dtype=np.uint8)


def render_rgb(layout: np.ndarray, agent: int, visited: np.ndarray | None = None, tile: int = 32) -> np.ndarray:
    """(G*tile, G*tile, 3) uint8 image: coloured pads, dark walls, black agent disc, visited pads crossed white."""
    img = np.empty((G, G, tile, tile, 3), dtype=np.uint8)
    img[:] = FLOOR_RGB
    yy, xx = np.mgrid[:tile, :tile]
    for k, cell in enumerate(layout):
        r, c = divmod(int(cell), G)
        img[r, c] = PALETTE[k] if k < NUM_COLOURS else WALL_RGB
        if k < NUM_COLOURS and visited is not None and visited[k]:
            cross = (abs(yy - xx) < 2) | (abs(yy + xx - tile + 1) < 2)
            img[r, c][cross] = 255
    r, c = divmod(int(agent), G)
    disc = (yy - tile / 2 + 0.5) ** 2 + (xx - tile / 2 + 0.5) ** 2 < (tile * 0.3) ** 2
    img[r, c][disc] = 0
    img[:, :, 0, :] = img[:, :, :, 0] = 180  # grid lines
    return img.transpose(0, 2, 1, 3, 4).reshape(G * tile, G * tile, 3)


def render_ansi(layout: np.ndarray, agent: int, visited: np.ndarray | None = None) -> str:
    """Text grid: colours as digits (visited ones in brackets), walls '#', agent '@', empty '.'."""
    grid = layout_grid(layout[None])[0]
    rows = []
    for r in range(G):
        row = []
        for c in range(G):
            cell, obj = r * G + c, grid[r * G + c]
            mark = "@" if cell == agent else "#" if obj >= NUM_COLOURS else "." if obj == EMPTY else str(obj)
            row.append(f"({mark})" if 0 <= obj < NUM_COLOURS and visited is not None and visited[obj] else f" {mark} ")
        rows.append("".join(row))
    return "\n".join(rows) + "\n"
