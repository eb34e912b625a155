"""What does an episode's first code z_0 depend on? Ridge regressions of z_0 on features of the layout.

On a task whose first pair is fixed (0-1-4-5), the encoder's z_0 is regressed on one-hot features of the
episode (the expert's first move, the cell of colour 0, the agent's cell, colour 0's offset from the agent,
every object's cell), fitted on N episodes and scored by R^2 on 1,000 others.

    python docs/diagnostics/code_regression.py --metacontroller pretrained
"""

import numpy as np
import torch
from common import load, parser

from minirl.data import Trajectories, generate_gridworld


def first_codes_and_features(model, meta, layer, n, seed):
    d = Trajectories(generate_gridworld("0-1-4-5", n, seed=seed, progress=False))
    b = d.batch(np.arange(n))
    with torch.no_grad():
        z0 = meta(model.lower(b["obs"], layer), b["mask"], sample=False)["z"][:, 0].numpy()
    lay, agent, move = d.arrays["layouts"], d.arrays["agent"][:, 0], d.arrays["actions"][:, 0]
    offset = (lay[:, 0] // 7 - agent // 7 + 6) * 13 + (lay[:, 0] % 7 - agent % 7 + 6)  # in a 13 x 13 window

    def one_hot(v, k):
        return np.eye(k)[v]

    return z0, {
        "the expert's first move (4)": one_hot(move, 4),
        "the cell of colour 0 (49)": one_hot(lay[:, 0], 49),
        "the agent's cell (49)": one_hot(agent, 49),
        "colour 0's offset from the agent (169)": one_hot(offset, 169),
        "every object's cell and the agent's (637)": np.concatenate(
            [one_hot(lay[:, k], 49) for k in range(12)] + [one_hot(agent, 49)], 1
        ),  # fmt: skip
    }


def main():
    p = parser(__doc__, 8000)
    args = p.parse_args()
    model, meta, layer = load(args.metacontroller)
    z, feats = first_codes_and_features(model, meta, layer, args.episodes, 21)
    zv, feats_v = first_codes_and_features(model, meta, layer, 1000, 22)
    for name in feats:
        X, Xv = np.c_[feats[name], np.ones(len(z))], np.c_[feats_v[name], np.ones(len(zv))]
        W = np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ z)  # ridge, lambda = 1
        r2 = 1 - ((Xv @ W - zv) ** 2).sum() / ((zv - z.mean(0)) ** 2).sum()
        print(f"{name}: held-out R^2 {r2:.3f}")


if __name__ == "__main__":
    main()
