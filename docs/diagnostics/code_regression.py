"""What does an episode's first code z_0 depend on? Ridge regressions of z_0 on features of the layout.

On a task whose first pair is fixed (0-1-4-5), the encoder's z_0 is regressed on one-hot features of the
episode (the expert's first move, the cell of colour 0, the agent's cell, colour 0's offset from the agent,
every object's cell, and the residual stream e_{0,l} the policy of internal RL reads at that first decision),
fitted on N episodes and scored by R^2 on 1,000 others. `--probe` also fits a linear probe (logistic regression)
from e_{0,l} at every layer to the cell of colour 0: how much of where the code points the residual stream holds.

    python docs/diagnostics/code_regression.py --metacontroller pretrained [--probe]
"""

import numpy as np
import torch
from common import load, parser

from minirl.data import Trajectories, generate_gridworld


def first_codes_and_features(model, meta, layer, n, seed):
    """n expert episodes of 0-1-4-5: z_0 (n, n_z), e_0 at every layer [(n, D)], colour 0's cell (n,), features."""
    d = Trajectories(generate_gridworld("0-1-4-5", n, seed=seed, progress=False))
    b = d.batch(np.arange(n))
    with torch.no_grad():
        residuals = [model.lower(b["obs"], k)[:, 0].numpy() for k in range(model.n_layers + 1)]  # e_{0,k}: (n, D)
        z0 = meta(model.lower(b["obs"], layer), b["mask"], sample=False)["z"][:, 0].numpy()
    arr = {k: d.arrays[k].astype(np.int64) for k in ("layouts", "agent", "actions")}  # stored as int8
    lay, agent, move = arr["layouts"], arr["agent"][:, 0], arr["actions"][:, 0]
    offset = (lay[:, 0] // 7 - agent // 7 + 6) * 13 + (lay[:, 0] % 7 - agent % 7 + 6)  # in a 13 x 13 window

    def one_hot(v, k):
        return np.eye(k)[v]

    features = {
        "the expert's first move (4)": one_hot(move, 4),
        "the cell of colour 0 (49)": one_hot(lay[:, 0], 49),
        "the agent's cell (49)": one_hot(agent, 49),
        "colour 0's offset from the agent (169)": one_hot(offset, 169),
        "every object's cell and the agent's (637)": np.concatenate(
            [one_hot(lay[:, k], 49) for k in range(12)] + [one_hot(agent, 49)], 1
        ),  # fmt: skip
        f"the residual stream e_0 at layer {layer} ({residuals[layer].shape[1]})": residuals[layer],
    }
    return z0, residuals, lay[:, 0], features


def probe_accuracy(X, y, Xv, yv, steps=500) -> float:
    """Held-out accuracy of a linear softmax probe X (n, D) -> y (n,) in 0..48, on standardised features."""
    mu, sd = X.mean(0), X.std(0) + 1e-6
    X, Xv = (torch.as_tensor((a - mu) / sd, dtype=torch.float32) for a in (X, Xv))
    probe = torch.nn.Linear(X.shape[1], 49)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(probe(X), torch.as_tensor(y, dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((probe(Xv).argmax(1).numpy() == yv).mean())


def main():
    p = parser(__doc__, 8000)
    p.add_argument("--probe", action="store_true", help="also probe every layer's e_0 for the cell of colour 0")
    args = p.parse_args()
    torch.manual_seed(0)
    model, meta, layer = load(args.metacontroller, args.base)
    z, e, cell, feats = first_codes_and_features(model, meta, layer, args.episodes, 21)
    zv, ev, cell_v, feats_v = first_codes_and_features(model, meta, layer, 1000, 22)
    for name in feats:
        X, Xv = np.c_[feats[name], np.ones(len(z))], np.c_[feats_v[name], np.ones(len(zv))]
        W = np.linalg.solve(X.T @ X + np.eye(X.shape[1]), X.T @ z)  # ridge, lambda = 1
        r2 = 1 - ((Xv @ W - zv) ** 2).sum() / ((zv - z.mean(0)) ** 2).sum()
        print(f"{name}: held-out R^2 {r2:.3f}")
    if args.probe:
        common = (cell_v == np.bincount(cell, minlength=49).argmax()).mean()
        print(f"colour 0's cell from e_0, linear probe, held-out accuracy (most common cell: {common:.3f}):")
        for k in range(len(e)):
            print(f"  layer {k}: {probe_accuracy(e[k], cell, ev[k], cell_v):.3f}")


if __name__ == "__main__":
    main()
