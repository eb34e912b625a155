"""Is a code a pointer to a cell? Held fixed on another layout that has a colour exactly on the cell the code was
written for, does the controlled model go to that colour's pair?

    python docs/diagnostics/code_pointer.py --metacontroller pretrained
"""

import numpy as np
import torch
from common import load, parser

from minirl.data import Trajectories, generate_gridworld
from minirl.rollout import rollout
from minirl.worlds import ONE_SUBGOAL_TASKS, batch_env


def main():
    p = parser(__doc__, 4000)
    args = p.parse_args()
    model, meta, layer = load(args.metacontroller, args.base)
    n = args.episodes
    d = Trajectories(generate_gridworld("pretrain", n, seed=31, progress=False))
    b = d.batch(np.arange(n))
    with torch.no_grad():
        z0 = meta(model.lower(b["obs"], layer), b["mask"], sample=False)["z"][:, 0]
    lay, seeds, own = d.arrays["layouts"], d.arrays["seeds"], d.arrays["subgoals"][:, 0]
    cell = lay[np.arange(n), d.arrays["tasks"][:, 0]]  # the cell each code was written for
    hit = np.roll(lay, 1, axis=0)[:, :8] == cell[:, None]  # (n, 8) the other layout's colours on that cell
    on_cell, pointed = hit.any(1), hit.argmax(1) // 2

    def reached(U):
        env = batch_env("gridworld", n, task_set=ONE_SUBGOAL_TASKS["gridworld"])
        chooser = (lambda t, e, env: U) if U is not None else None
        r = rollout(env, model, layer, chooser, seeds=np.roll(seeds, 1), generator=torch.Generator().manual_seed(0))
        return np.where(r["success"], env.visited.argmax(1) // 2, -1)

    with torch.no_grad():
        ctl, unc = reached(meta.decode(z0)), reached(None)
    h = on_cell
    print(f"{h.sum()} of {n} other layouts have a colour on the code's cell; there the controlled model reaches "
          f"that colour's pair {np.mean(ctl[h] == pointed[h]):.3f} (base model {np.mean(unc[h] == pointed[h]):.3f}), "
          f"the code's own pair {np.mean(ctl[h] == own[h]):.3f}")  # fmt: skip
    rest = f"{np.mean(ctl[~h] == own[~h]):.3f} (base model {np.mean(unc[~h] == own[~h]):.3f})"
    print(f"on the others, the code's own pair {rest}")


if __name__ == "__main__":
    main()
