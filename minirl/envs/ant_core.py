"""ant-pinpad building blocks shared by the single env and its batched twin ([P] §A.2).

The scene is Gymnasium's Ant-v5 (same `ant.xml`, RK4 at 0.01 s, frame skip 5, so one env step is 0.05 s)
on a 4x4 floor of square cells. Four coloured pads and one wall cell are *mocap* bodies with
non-colliding box geoms: their positions live in `MjData.mocap_pos`, so one compiled model serves every
layout, and they never touch the physics. Whether the ant is on a pad or in the wall is decided in numpy
from the torso position, like the gridworld's grid logic.

Cells are numbered `cell = row * 4 + col`; world x grows with the column and y with the row, the floor is
centred on the origin. A layout is 5 cell indices: colours 0..3, then the wall.

Observation (41 floats), the paper's list in its order (spec 2.2; the exact proprioception is UNKNOWN there,
we take Ant-v5's default 27 numbers, without contact forces):

    [0:27]   symlog(qpos[2:15], qvel[0:14])   torso height, orientation quaternion, 8 joint angles, velocities
    [27:29]  torso (x, y) / HALF              global position in [-1, 1]
    [29:39]  (pad_k - (x, y)) / HALF, k=0..4  where each colour and then the wall is, relative to the ant
    [39:41]  position inside the current cell, in [-1, 1]

Nothing in it says which task is being pursued.
"""

from __future__ import annotations

import functools
import os

import mujoco
import numpy as np

G = 4  # grid side
NUM_CELLS = G * G
NUM_COLOURS = 4
NUM_WALLS = 1
NUM_OBJECTS = NUM_COLOURS + NUM_WALLS  # objects of a layout: colours 0..3, then the wall
# Cell size (INFER; the paper does not give it): 1.5 m. The Ant-v5 body spans about 1.2 m leg tip to leg tip,
# so a cell holds it with room to turn, and an ant walking at ~1 m/s crosses one in ~30 steps (0.05 s each).
CELL = 1.5
HALF = G * CELL / 2  # the floor spans [-HALF, HALF]^2
MAX_STEPS = 500
FRAME_SKIP = 5  # Ant-v5's: 5 physics steps of 0.01 s per env step
HEALTHY_Z = (0.2, 1.0)  # torso height outside this range ends the episode (spec 2.2)
START_Z = 0.75  # the torso height of ant.xml
PROPRIO_DIM = 27
OBS_DIM = PROPRIO_DIM + 2 + 2 * NUM_OBJECTS + 2  # 41
ACTION_DIM = 8
OUTSIDE = -1  # `cell_of` for a position off the floor

PALETTE = np.array([[230, 25, 75], [255, 225, 25], [60, 180, 75], [0, 130, 200]], dtype=np.uint8)  # colours 0..3
WALL_RGB = np.array([60, 60, 60], dtype=np.uint8)


# ---------------------------------------------------------------- the MuJoCo scene
def ant_xml_path() -> str:
    """Gymnasium's ant.xml, the model Ant-v5 uses."""
    import gymnasium

    return os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", "ant.xml")


@functools.lru_cache(maxsize=1)
def build_model() -> mujoco.MjModel:
    """Ant-v5's model plus 5 mocap pads (4 colours, 1 wall) and a camera over the floor. Built once per process.

    Rendering is made cheap for software GL: no skybox, no reflections, no shadows.
    """
    spec = mujoco.MjSpec.from_file(ant_xml_path())
    for tex in list(spec.textures):
        if tex.name != "texplane":  # drop the skybox (and the unused body texture)
            spec.delete(tex)
        else:
            tex.rgb1, tex.rgb2 = [0.55, 0.55, 0.55], [0.75, 0.75, 0.75]
    for mat in list(spec.materials):
        if mat.name == "MatPlane":
            mat.reflectance, mat.texrepeat = 0.0, [G / 2, G / 2]  # one checker square per cell: the grid shows
        else:
            spec.delete(mat)
    for geom in spec.geoms:
        if geom.material == "geom":
            geom.material = ""
    for light in spec.lights:
        light.castshadow = False
    floor = next(g for g in spec.geoms if g.name == "floor")
    floor.size = [HALF, HALF, 0.1]  # visual extent only: a plane collides everywhere
    for k in range(NUM_OBJECTS):
        body = spec.worldbody.add_body(name=f"pad{k}", mocap=True, pos=[0, 0, -1])
        rgb = (PALETTE[k] if k < NUM_COLOURS else WALL_RGB) / 255.0
        height = 0.005 if k < NUM_COLOURS else 0.3  # pads lie flat; the wall is a low (non-colliding) block
        body.add_geom(
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[CELL / 2 * 0.96, CELL / 2 * 0.96, height],
            pos=[0, 0, height],
            rgba=[*rgb, 1.0 if k < NUM_COLOURS else 0.6],
            contype=0,
            conaffinity=0,
        )
    spec.worldbody.add_camera(name="overview", pos=[0, -5.9, 6.8], xyaxes=[1, 0, 0, 0, 0.766, 0.643])  # 40 deg down
    return spec.compile()


# ---------------------------------------------------------------- layouts and starting states
def cell_centres(cells: np.ndarray) -> np.ndarray:
    """(...,) cell indices -> (..., 2) world (x, y) of their centres."""
    row, col = np.divmod(np.asarray(cells), G)
    return np.stack([(col + 0.5) * CELL - HALF, (row + 0.5) * CELL - HALF], -1)


def cell_of(xy: np.ndarray) -> np.ndarray:
    """(..., 2) world positions -> (...,) cell index, or OUTSIDE off the floor."""
    col = np.floor((xy[..., 0] + HALF) / CELL).astype(np.int64)
    row = np.floor((xy[..., 1] + HALF) / CELL).astype(np.int64)
    inside = (col >= 0) & (col < G) & (row >= 0) & (row < G)
    return np.where(inside, row * G + col, OUTSIDE)


def neighbours(cell: int) -> list[int]:
    """4-neighbours of a cell on the grid (up = +row, right = +col, down, left)."""
    r, c = divmod(cell, G)
    out = []
    for dr, dc in ((1, 0), (0, 1), (-1, 0), (0, -1)):
        if 0 <= r + dr < G and 0 <= c + dc < G:
            out.append((r + dr) * G + c + dc)
    return out


def distances(blocked: np.ndarray, target: int) -> np.ndarray:
    """(16,) grid distance from each cell to `target`, moving through cells not `blocked` (inf if cut off).

    Breadth-first search from the target. The target itself is never blocked.
    """
    dist = np.full(NUM_CELLS, np.inf)
    dist[target], frontier = 0.0, [target]
    while frontier:
        nxt = []
        for cell in frontier:
            for n in neighbours(cell):
                if not blocked[n] and dist[n] == np.inf:
                    dist[n] = dist[cell] + 1
                    nxt.append(n)
        frontier = nxt
    return dist


def solvable(layout: np.ndarray, start: int) -> bool:
    """Every colour is reachable from the start and from every other colour without crossing another object.

    The gridworld's rule (every colour touches the free region around the agent) on the 4x4 grid.
    """
    blocked = np.zeros(NUM_CELLS, dtype=bool)
    blocked[layout] = True
    free_region = distances(blocked, start) < np.inf  # cells reachable from the start through free cells
    return all(any(free_region[n] for n in neighbours(int(c))) for c in layout[:NUM_COLOURS])


def sample_episode(seed: int, num_tasks: int) -> dict:
    """One episode's start, a pure function of its seed: layout (5,), start cell, task draw, qpos (15,), qvel (14,).

    Spec 2.2: 4 colours, the wall and the start cell drawn without overlap (redrawn until solvable); the torso
    at the start cell's centre plus uniform noise, a uniform random yaw, joint angles and all velocities
    uniform in +-0.1. INFER: the position noise spans the middle half of the cell (+-CELL/4), so no episode
    starts on a cell border one step from ending.
    """
    rng = np.random.default_rng(seed)
    while True:
        cells = rng.permutation(NUM_CELLS)[: NUM_OBJECTS + 1]
        layout, start = cells[:NUM_OBJECTS].astype(np.int64), int(cells[-1])
        if solvable(layout, start):
            break
    task = int(rng.integers(num_tasks))
    yaw = rng.uniform(-np.pi, np.pi)
    qpos = np.zeros(15)
    qpos[:2] = cell_centres(start) + rng.uniform(-CELL / 4, CELL / 4, 2)
    qpos[2] = START_Z
    qpos[3:7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]  # rotation about z
    qpos[7:] = rng.uniform(-0.1, 0.1, 8)
    qvel = rng.uniform(-0.1, 0.1, 14)
    return {"layout": layout, "start": start, "task": task, "qpos": qpos, "qvel": qvel}


# ---------------------------------------------------------------- observations
def symlog(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): compresses large velocities, keeps small values almost unchanged."""
    return np.sign(x) * np.log1p(np.abs(x))


def observe(qpos: np.ndarray, qvel: np.ndarray, layout: np.ndarray) -> np.ndarray:
    """(B, 15) qpos, (B, 14) qvel, (B, 5) layout -> (B, 41) float32 observation (table in the module docstring)."""
    xy = qpos[:, :2]  # (B, 2)
    pads = cell_centres(layout)  # (B, 5, 2)
    local = (xy + HALF) / CELL  # position in cell units from the floor's corner
    local = 2.0 * (local - np.clip(np.floor(local), 0, G - 1)) - 1.0  # (B, 2); beyond [-1, 1] only off the floor
    return np.concatenate(
        [
            symlog(np.concatenate([qpos[:, 2:], qvel], 1)),
            xy / HALF,
            ((pads - xy[:, None]) / HALF).reshape(-1, 10),
            local,
        ],
        1,
    ).astype(np.float32)


def torso_yaw(qpos: np.ndarray) -> np.ndarray:
    """(B, 15) qpos -> (B,) heading of the torso about z (radians), from its quaternion."""
    w, x, y, z = qpos[:, 3], qpos[:, 4], qpos[:, 5], qpos[:, 6]
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
