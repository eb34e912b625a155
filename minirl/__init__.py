"""minirl: a small, readable PyTorch reference implementation of internal RL.

Kobayashi et al., "Emergent temporal abstractions in autoregressive models enable hierarchical
reinforcement learning", arXiv 2512.20605. `import minirl` registers `minirl/GridPinpad-v0` and
`minirl/AntPinpad-v0`.
"""

import gymnasium as gym

__version__ = "0.1.0"

if "minirl/GridPinpad-v0" not in gym.registry:
    gym.register(id="minirl/GridPinpad-v0", entry_point="minirl.envs.gridworld:GridPinpadEnv")
if "minirl/AntPinpad-v0" not in gym.registry:
    gym.register(id="minirl/AntPinpad-v0", entry_point="minirl.envs.ant:AntPinpadEnv")

from minirl.envs import AntPinpadBatch, AntPinpadEnv, GridPinpadBatch, GridPinpadEnv  # noqa: E402

__all__ = ["GridPinpadEnv", "GridPinpadBatch", "AntPinpadEnv", "AntPinpadBatch", "__version__"]
