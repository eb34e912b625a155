"""The ant expert's config (`minirl expert ant`), in the style of `minirl/config.py`: one dataclass, named presets."""

from __future__ import annotations

from dataclasses import dataclass

from minirl.config import arg, check_range


@dataclass
class AntExpertConfig:
    """The ant-pinpad expert: PPO on all pretraining tasks with shortest-path guidance (`minirl expert ant`,
    [P] §C.1.1, Tab. A3). Presets: tiny (seconds), cpu (the committed expert), gpu (more samples)."""

    env: str = arg("ant", "environment (the expert exists for the ant only; the gridworld's is exact)")
    preset: str = arg("cpu", "named preset: tiny, cpu, gpu")
    seed: int = arg(0, "seed for layouts, initialisation and sampling")
    out: str = arg("", "run directory (default: runs/expert/ant-<preset>-s<seed>-<time>)")
    num_envs: int = arg(64, "episodes stepped together")
    nthread: int = arg(2, "threads stepping the physics (results do not depend on it: each episode has its own MjData)")
    rollout_steps: int = arg(64, "steps per episode slot per iteration (CleanRL's num_steps)")
    iterations: int = arg(600, "PPO iterations; env steps = iterations x num_envs x rollout_steps")
    epochs: int = arg(10, "passes over each rollout")
    minibatch: int = arg(512, "samples per gradient step")
    lr: float = arg(3e-4, "Adam learning rate, annealed linearly to 0 ([P] Tab. A3: 3e-4)")
    gamma: float = arg(0.99, "discount")
    gae_lambda: float = arg(0.95, "GAE lambda")
    clip: float = arg(0.2, "PPO ratio clip")
    ent_coef: float = arg(3e-4, "entropy bonus ([P] Tab. A3: 3e-4)")
    vf_coef: float = arg(0.5, "value-loss weight")
    max_grad_norm: float = arg(0.5, "gradient-norm clip")
    hidden: int = arg(256, "width of the actor's and critic's two hidden layers")
    healthy_reward: float = arg(1.0, "reward per step while upright (Ant-v5's)")
    ctrl_cost: float = arg(
        0.1, "weight of the squared torques (Ant-v5: 0.5, which here drives the policy to stand still)"
    )
    success_bonus: float = arg(10.0, "reward for completing the task")
    fail_penalty: float = arg(0.0, "penalty for ending an episode by failing (falling, the wall, a wrong pad)")
    eval_every: int = arg(100, "iterations between evaluations")
    eval_episodes: int = arg(128, "fresh layouts per evaluation (pretraining tasks and the post-training task)")
    checkpoint_every: int = arg(25, "iterations between resumable checkpoints")
    init: str = arg("", "start from these weights (and input statistics): 'pretrained' or an expert run directory")

    def __post_init__(self):
        if self.env != "ant":
            raise ValueError(f"env {self.env!r}: the PPO expert is for 'ant' (the gridworld's expert is exact)")
        for name in ("num_envs", "nthread", "rollout_steps", "iterations", "epochs", "minibatch", "hidden",
                     "eval_every", "eval_episodes", "checkpoint_every"):  # fmt: skip
            check_range(name, getattr(self, name), 1)
        check_range("lr", self.lr, 1e-8, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("clip", self.clip, 1e-3, 1.0)
        for name in (
            "ent_coef",
            "vf_coef",
            "max_grad_norm",
            "healthy_reward",
            "ctrl_cost",
            "success_bonus",
            "fail_penalty",
        ):
            check_range(name, getattr(self, name), 0.0)


def expert_preset(name: str, **overrides) -> AntExpertConfig:
    """Named presets of the ant expert. `cpu` is what made the committed expert (README: its command and time)."""
    presets = {
        "tiny": dict(num_envs=4, rollout_steps=8, iterations=2, epochs=1, minibatch=16, hidden=16, eval_every=2,
                     eval_episodes=2, checkpoint_every=1),
        "cpu": {},
        "gpu": dict(num_envs=256, nthread=8, iterations=1000),  # physics is CPU-bound: threads, not the GPU
    }  # fmt: skip
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}: expected one of {sorted(presets)}")
    return AntExpertConfig(preset=name, **{**presets[name], **overrides})
