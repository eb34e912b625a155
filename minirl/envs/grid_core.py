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


def solvable(layouts: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """(B,) bool: every task on this layout can be finished.

    Rule: the free cells (neither wall nor colour) form one 4-connected set that contains the agent, and
    every colour cell has a free neighbour. Then the agent can walk to any colour avoiding all others,
    and step back off it. About 5% of random layouts fail and are redrawn.
    """
    grid = layout_grid(layouts)  # (B, 49)
    free = grid == EMPTY  # (B, 49)
    reached = np.zeros_like(free)
    reached[np.arange(len(agents)), agents] = True
    while True:  # flood fill from the agent through free cells
        grown = dilate(reached) & (free | reached)  # (B, 49)
        if (grown == reached).all():
            break
        reached = grown
    connected = (reached == free).all(1)
    colour_cells = layouts[:, :NUM_COLOURS]  # (B, 8)
    has_free_neighbour = np.take_along_axis(free, NEXT[colour_cells].reshape(len(layouts), -1), 1)
    has_free_neighbour = has_free_neighbour.reshape(len(layouts), NUM_COLOURS, 4).any(-1).all(1)
    return connected & has_free_neighbour


def sample_layouts(rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
    """Draw one solvable layout per generator: 13 distinct cells (8 colours, 4 walls, agent), redrawn until solvable.

    Returns layouts (B, 12) and agent cells (B,). Each generator is used exactly as a single env would use it.
    """
    cells = np.stack([rng.choice(NUM_CELLS, size=NUM_OBJECTS, replace=False) for rng in rngs])  # (B, 13)
    ok = solvable(cells[:, :-1], cells[:, -1])
    while not ok.all():
        bad = np.flatnonzero(~ok)
        cells[bad] = np.stack([rngs[i].choice(NUM_CELLS, size=NUM_OBJECTS, replace=False) for i in bad])
        ok[bad] = solvable(cells[bad, :-1], cells[bad, -1])
    return cells[:, :-1], cells[:, -1]


def one_hot(cells: np.ndarray) -> np.ndarray:
    """(..., 13) object cells -> (..., 637) float32 one-hot observation (13 channels per cell, cell-major)."""
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
