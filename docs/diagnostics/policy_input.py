"""Run `minirl rl` with internal RL's policy reading the observation as well as the residual stream.

In the paper the causal policy reads only e_{t,l}, the base model's residual stream at layer l at each decision
point. The committed metacontroller's codes depend on where things are (the cell of colour 0 explains 0.56 of the
first code's variance; code_regression.py), but the committed base model's 64-dim residual stream hardly says
where they are: a linear probe on e_{0,2} finds colour 0's cell 0.10 of the time (code_regression.py --probe).
Here the policy reads [e_{t,l}, one_hot(o_t)] (64 + 637 dims), so the layout is linear in its input. Nothing
else changes: same latent-action environment, same PPO, same budget. If internal RL on fresh layouts now
learns like it does on a few fixed layouts, its input is what held it back.

    python docs/diagnostics/policy_input.py rl gridworld --method internal --task 0-1-4-5 --iterations 200 \\
        --seed 0 --out runs/rl_obs_0145

`patch()` applies the same change inside another script.
"""

import sys

import torch

from minirl import latent_env, rl
from minirl.envs.grid_core import OBS_DIM, one_hot


class ObservationActions(latent_env.LatentActions):
    """The latent-action environment, with the policy reading [e, one_hot(o)] at each decision."""

    def policy_input(self, e, env, idx):
        obs = torch.as_tensor(one_hot(env.obs()[idx.cpu().numpy()]), device=e.device)  # (n, 637)
        return torch.cat([e, obs], 1)  # (n, D + 637)


def observation_policy(d_model: int, n_z: int, width: int = 256) -> latent_env.LatentPolicy:
    return latent_env.LatentPolicy(d_model + OBS_DIM, n_z, width)


def patch() -> None:
    rl.LatentActions, rl.LatentPolicy = ObservationActions, observation_policy


if __name__ == "__main__":
    from minirl.cli import main

    if sys.argv[1:3] != ["rl", "gridworld"]:
        raise SystemExit(f"usage: policy_input.py rl gridworld [options]; got {' '.join(sys.argv[1:3])!r}")
    patch()
    sys.argv = ["minirl", *sys.argv[1:]]
    main()
