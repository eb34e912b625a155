"""Run a minirl command with the gridworld expert breaking ties deterministically.

The expert plays uniformly among the actions on a shortest path (minirl/experts/grid_expert.py). Here it always
takes the first of them in the order up, right, down, left, so an episode is a function of its layout and task:
the analogue, for the gridworld, of the ant expert's mean action. Noise-free (epsilon = 0) data only.

    python docs/diagnostics/deterministic_expert.py metacontroller gridworld --seed 0 --out runs/meta_det

`patch()` applies the same change inside another script.
"""

import sys

import numpy as np

from minirl.experts.grid_expert import GridExpert


def _first_optimal_action(self, env):
    if self.epsilon:
        raise ValueError(f"the deterministic expert is noise-free; got epsilon {self.epsilon}")
    optimal = self.optimal_actions(env)
    choose_from = np.where(optimal.any(1, keepdims=True), optimal, self._safe_actions(env))
    return choose_from.argmax(1), optimal  # argmax of a bool mask: the first allowed action


def patch() -> None:
    GridExpert.act = _first_optimal_action


if __name__ == "__main__":
    from minirl.cli import main

    patch()
    sys.argv = ["minirl", *sys.argv[1:]]
    main()
