"""The ant's four-fold symmetry, and the canonical frame the expert walks in (ours; the paper is silent).

The Ant-v5 body has four identical legs at 45, 135, 225 and 315 degrees. Relabelling its legs one place
round (leg i's hip and ankle become leg i+1's, with the ankle's sign flipped where the two ankle axes point
opposite ways) describes the same physical ant with its torso frame turned by -90 degrees about its own z
axis: state and dynamics are exactly equal (tested: `tests/test_ant_expert.py` steps both for 40 steps and
compares every geom to 1e-10). Body-frame vectors turn by +90 degrees per relabelling.

The expert uses it so that it only ever walks within 45 degrees of its torso's x axis: if the path
direction d lies at angle theta in the torso frame, relabel k = round(-theta / 90deg) mod 4 times, act in
that frame, and map the torques back. Learning one wedge of directions instead of all of them is what makes
a walking expert reachable on a CPU budget. Canonical features (28 numbers), all in the relabelled frame:

    z (1) | gravity in the torso frame (3) | torso linear velocity (3) | angular velocity (3) |
    joint angles (8) | joint velocities (8) | path direction d, x-y (2)
"""

from __future__ import annotations

import numpy as np

FEATURE_DIM = 28
# joint order in qpos[7:15] / qvel[6:14]: hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4
_SIGN = np.array([1.0, -1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0])  # applied to leg i's joints when they become leg i+1's
_ACT_TO_JOINT = np.array([6, 7, 0, 1, 2, 3, 4, 5])  # actuators (ant.xml order) -> joint order


def relabel_joints(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(B, 8) joint-ordered values -> the same ant relabelled k[b] in {0..3} times (leg i -> leg i+k)."""
    out = q.copy()
    for step in range(1, 4):
        rows = k >= step  # apply one more relabelling to these
        if rows.any():
            x = out[rows] * _SIGN  # (n, 8) signs of the source leg
            out[rows] = np.roll(x, 2, axis=1)  # leg i's two joints move to leg i+1's slots
    return out


def unrelabel_actions(u: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(B, 8) torques (actuator order) chosen in the relabelled frame -> torques for the real ant."""
    joint = np.empty_like(u)
    joint[:, _ACT_TO_JOINT] = u  # actuator order -> joint order
    back = relabel_joints(joint, (4 - k) % 4)  # four relabellings are the identity
    return back[:, _ACT_TO_JOINT]


def relabel_actions(u: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(B, 8) torques of the real ant (actuator order) -> the same torques in the frame relabelled k times."""
    joint = np.empty_like(u)
    joint[:, _ACT_TO_JOINT] = u
    return relabel_joints(joint, k)[:, _ACT_TO_JOINT]


def rotation_matrices(quat: np.ndarray) -> np.ndarray:
    """(B, 4) unit quaternions (w, x, y, z) -> (B, 3, 3) torso-to-world rotations."""
    w, x, y, z = quat.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], 1)  # fmt: skip


def _turn(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(B, 3) vectors turned by +90 degrees about z, k[b] times."""
    angle = k * np.pi / 2
    c, s = np.round(np.cos(angle)), np.round(np.sin(angle))
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], 1)


def canonical_features(qpos: np.ndarray, qvel: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 15) qpos, (B, 14) qvel, (B, 2) world path direction -> ((B, 28) features, (B,) relabellings k)."""
    R = rotation_matrices(qpos[:, 3:7])  # (B, 3, 3)
    to_body = lambda v: np.einsum("bji,bj->bi", R, v)  # noqa: E731  R^T v
    d3 = np.concatenate([d, np.zeros((len(d), 1))], 1)
    d_body = to_body(d3)
    theta = np.arctan2(d_body[:, 1], d_body[:, 0])
    k = np.mod(np.round(-theta / (np.pi / 2)).astype(np.int64), 4)  # brings theta into [-45, 45] degrees
    gravity = _turn(to_body(np.tile([0.0, 0.0, -1.0], (len(d), 1))), k)
    feats = [
        qpos[:, 2:3], gravity, _turn(to_body(qvel[:, :3]), k), _turn(qvel[:, 3:6], k),
        relabel_joints(qpos[:, 7:], k), relabel_joints(qvel[:, 6:], k), _turn(d_body, k)[:, :2],
    ]  # fmt: skip
    return np.concatenate(feats, 1).astype(np.float32), k
