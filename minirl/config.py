"""One dataclass config per stage; the CLI builds `--help` and its flags from these fields.

Each field carries its help text (`arg(default, "help")`). `__post_init__` validates ranges, so a bad value
fails at once with a message that names it, whether it came from the CLI, a test or a notebook.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from minirl.tasks import parse_task_set

ENVS = ("gridworld", "ant")


def arg(default, help: str):
    """A dataclass field with a help string for `--help`."""
    return dataclasses.field(default=default, metadata={"help": help})


def check_env(env: str) -> None:
    if env not in ENVS:
        raise ValueError(f"unknown env {env!r}: expected one of {ENVS}")


def check_range(name: str, value, lo=None, hi=None) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ValueError(f"{name} = {value!r} is out of range {bounds}")


@dataclass
class DataConfig:
    """Expert dataset generation (`minirl data`)."""

    env: str = arg("gridworld", "environment: 'gridworld' or 'ant'")
    task: str = arg("pretrain", "'pretrain' (16 tasks, one per episode), 'posttrain', or a task string like 0-1-4-5")
    episodes: int = arg(10_000, "number of expert episodes")
    epsilon: float = arg(0.0, "gridworld: probability of replacing an expert action by a random non-failing one")
    expert: str = arg("pretrained", "ant: the PPO expert, 'pretrained' (committed) or a `minirl expert ant` run")
    actions: str = arg(
        "sampled", "ant: 'sampled' from the expert's Gaussian (pretraining) or its 'mean' (metacontroller)"
    )
    seed: int = arg(0, "seed for layouts, tasks and the expert's tie-breaking")
    out: str = arg("", "output .npz file (default: runs/data/<env>-<task>-n<episodes>-eps<epsilon>-s<seed>.npz)")

    def __post_init__(self):
        if self.env not in ("gridworld", "ant"):
            raise ValueError(f"unknown env {self.env!r}: expected 'gridworld' or 'ant'")
        parse_task_set(self.task, env=self.env)  # raises on a malformed task
        check_range("episodes", self.episodes, 1)
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        if self.actions not in ("sampled", "mean"):
            raise ValueError(f"actions {self.actions!r}: expected 'sampled' or 'mean'")
        if not self.out:
            kind = f"eps{self.epsilon}" if self.env == "gridworld" else self.actions
            self.out = f"runs/data/{self.env}-{self.task}-n{self.episodes}-{kind}-s{self.seed}.npz"


@dataclass
class ModelConfig:
    """The base sequence model ([P] §D.1, Tab. A15-A16). Paper sizes: transformer 6 x 256 (grid), Hawk 8 x 256 (ant)."""

    env: str = arg(
        "gridworld",
        "what the model reads and predicts: 'gridworld' (object cells, 4 actions) or 'ant' "
        "(41 floats, 8 torques with a Gaussian head)",
    )
    arch: str = arg("transformer", "'transformer' (gridworld in the paper) or 'hawk' (ant)")
    n_layers: int = arg(6, "number of residual blocks L")
    d_model: int = arg(256, "residual stream width n_e")
    n_heads: int = arg(4, "attention heads (transformer) or RG-LRU gate blocks (hawk)")
    d_head: int = arg(64, "attention head width")
    d_mlp: int = arg(512, "hidden width of the ReLU MLP in each block")
    d_rnn: int = arg(256, "RG-LRU width (hawk)")
    obs_embedding: str = arg("relative", "gridworld observation embedding: 'relative' (fast) or 'linear' (plain)")
    init_scale: float = arg(0.1, "variance-scaling factor of all initialisers ([P] Tab. A16)")
    obs_std: float = arg(0.0, "ant: std of the next-observation Gaussian (0: learned; > 0: fixed, a scaled MSE)")

    def __post_init__(self):
        if self.env not in ("gridworld", "ant"):
            raise ValueError(f"model env {self.env!r}: expected 'gridworld' or 'ant'")
        if self.arch not in ("transformer", "hawk"):
            raise ValueError(f"arch {self.arch!r}: expected 'transformer' or 'hawk'")
        if self.obs_embedding not in ("relative", "linear"):
            raise ValueError(f"obs_embedding {self.obs_embedding!r}: expected 'relative' or 'linear'")
        for name in ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "d_rnn"):
            check_range(name, getattr(self, name), 1)
        check_range("init_scale", self.init_scale, 1e-6)
        check_range("obs_std", self.obs_std, 0.0)
        if self.arch == "hawk" and self.d_rnn % self.n_heads:
            raise ValueError(f"d_rnn = {self.d_rnn} must be divisible by n_heads = {self.n_heads}")


@dataclass
class PretrainConfig:
    """Pretraining the base model on expert trajectories (`minirl pretrain`, [P] §4, Tab. A4)."""

    env: str = arg("gridworld", "environment: 'gridworld' or 'ant'")
    preset: str = arg("cpu", "named preset the other values start from: tiny, cpu, gpu, paper")
    seed: int = arg(0, "seed for data, initialisation and batching")
    out: str = arg("", "run directory (default: runs/pretrain/<env>-<preset>-s<seed>-<time>)")
    device: str = arg("auto", "'auto' (cuda if present), 'cpu' or 'cuda'")
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: str = arg("", "training dataset .npz (default: generate `train_episodes` fresh expert episodes)")
    train_episodes: int = arg(200_000, "expert episodes to generate when no --data is given")
    heldout_episodes: int = arg(2000, "fresh expert episodes (other layouts) for held-out accuracy")
    epsilon: float = arg(0.0, "expert noise of the generated training data")
    steps: int = arg(12_000, "optimiser steps")
    batch_size: int = arg(128, "episodes per batch")
    lr: float = arg(3e-3, "peak learning rate (AdamW)")
    lr_schedule: str = arg("cosine", "'cosine' (warm-up, decay to min_lr_frac) or 'constant' (the paper)")
    warmup_steps: int = arg(100, "linear warm-up steps")
    min_lr_frac: float = arg(0.1, "final learning rate as a fraction of lr (cosine)")
    weight_decay: float = arg(0.03, "AdamW weight decay")
    beta2: float = arg(0.98, "AdamW beta2")
    grad_clip: float = arg(1.0, "gradient-norm clip (0 = off)")
    obs_coef: float = arg(0.0, "lambda, weight of the next-observation NLL")
    bucket: bool = arg(True, "batch episodes of similar length together (halves the padding)")
    eval_every: int = arg(1000, "steps between held-out evaluations")
    eval_episodes: int = arg(1000, "rollouts per behaviour metric")
    checkpoint_every: int = arg(1000, "steps between resumable checkpoints")

    def __post_init__(self):
        if self.env not in ("gridworld", "ant"):
            raise ValueError(f"unknown env {self.env!r}: expected 'gridworld' or 'ant'")
        if isinstance(self.model, dict):
            self.model = ModelConfig(**{"env": self.env, **self.model})
        if self.model.env != self.env:
            raise ValueError(f"model.env {self.model.env!r} does not match env {self.env!r}")
        for name in ("steps", "batch_size", "train_episodes", "heldout_episodes", "eval_every", "eval_episodes"):
            check_range(name, getattr(self, name), 1)
        check_range("lr", self.lr, 1e-8, 1.0)
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        check_range("min_lr_frac", self.min_lr_frac, 0.0, 1.0)
        check_range("obs_coef", self.obs_coef, 0.0)
        check_range("weight_decay", self.weight_decay, 0.0)
        check_range("beta2", self.beta2, 0.0, 0.999999)
        check_range("warmup_steps", self.warmup_steps, 0)
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: expected 'cosine' or 'constant'")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device {self.device!r}: expected 'auto', 'cpu' or 'cuda'")


@dataclass
class FrozenStageConfig:
    """Fields shared by the stages that run on a frozen base model (probe, control, metacontroller)."""

    env: str = arg("gridworld", "environment: 'gridworld' or 'ant'")
    preset: str = arg("cpu", "named preset: tiny, cpu, gpu, paper")
    base: str = arg("pretrained", "base model: 'pretrained' (the committed one) or a pretraining run directory")
    expert: str = arg("pretrained", "ant: the PPO expert whose mean actions are the clean data ('pretrained' or a run)")
    seed: int = arg(0, "seed")
    out: str = arg("", "run directory (default: runs/<stage>/<env>-<preset>-s<seed>-<time>)")
    device: str = arg("auto", "'auto', 'cpu' or 'cuda'")

    def __post_init__(self):
        check_env(self.env)
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device {self.device!r}: expected 'auto', 'cpu' or 'cuda'")


@dataclass
class ProbeConfig(FrozenStageConfig):
    """Linear probes of the subgoal on the residual stream, one per layer (`minirl probe`, [P] §5.1, Tab. A6)."""

    train_episodes: int = arg(2000, "expert episodes whose residuals train the probes")
    heldout_episodes: int = arg(1000, "fresh expert episodes the probes are scored on")
    steps: int = arg(1000, "full-batch AdamW steps per probe")
    lr: float = arg(1e-2, "probe learning rate")

    def __post_init__(self):
        super().__post_init__()
        for name in ("train_episodes", "heldout_episodes", "steps"):
            check_range(name, getattr(self, name), 1)
        check_range("lr", self.lr, 1e-8, 1.0)


@dataclass
class ControllerConfig(FrozenStageConfig):
    """Ground-truth linear controllers, one per subgoal, at each layer (`minirl control`, [P] §5.2, Tab. A7)."""

    layers: str = arg("all", "controlled layers: 'all' (0..L), 'mid' (L/2) or a comma list like 0,2,4")
    rank: int = arg(16, "rank of each controller U = A B^T (0: a full D x D matrix, the ant's controller)")
    train_episodes: int = arg(20_000, "clean (epsilon = 0) expert episodes of the pretraining tasks")
    steps: int = arg(1500, "AdamW steps per layer")
    batch_size: int = arg(128, "episodes per batch")
    lr: float = arg(1e-3, "learning rate ([P] Tab. A7: 1e-3)")
    weight_decay: float = arg(0.03, "AdamW weight decay")
    eval_episodes: int = arg(1000, "test rollouts per layer")
    task: str = arg("posttrain", "the unseen task the controllers are tested on: 'posttrain' or a task string")
    log_every: int = arg(100, "steps between logged training losses")

    def __post_init__(self):
        super().__post_init__()
        for name in ("train_episodes", "steps", "batch_size", "eval_episodes", "log_every"):
            check_range(name, getattr(self, name), 1)
        check_range("rank", self.rank, 0)
        if len(parse_task_set(self.task, env=self.env)) != 1:
            raise ValueError(f"task {self.task!r}: the controllers are tested on one task, not a set")
        check_range("lr", self.lr, 1e-8, 1.0)
        if self.layers not in ("all", "mid") and not all(p.strip().isdecimal() for p in self.layers.split(",")):
            raise ValueError(f"layers {self.layers!r}: expected 'all', 'mid' or a comma list of integers")


@dataclass
class MetacontrollerConfig(FrozenStageConfig):
    """The metacontroller, trained on a frozen base model to explain expert actions (`minirl metacontroller`,
    [P] §6, Tab. A9). Dimensions n_z / enc / dec / n_h / n_s are the paper's 8 / 64 / 32 / 32 / 32."""

    alpha: float = arg(0.3, "KL strength alpha, the rate-distortion trade-off ([P] Tab. A9 searches 0..1)")
    cotrain: bool = arg(False, "train the base model jointly with the metacontroller (the paper's ablation)")
    cotrain_init: str = arg("pretrained", "co-training starts the base from 'pretrained' weights or 'random'")
    no_temporal: bool = arg(False, "force beta_t = 1 (no temporal integration; the 'no-temporal' baseline)")
    switch_temperature: float = arg(
        0.5, "Gumbel-sigmoid temperature of beta while training (0: the plain sigmoid probability)"
    )
    layer: int = arg(-1, "controlled layer l (-1: L/2)")
    n_z: int = arg(8, "latent code size")
    enc_hidden: int = arg(64, "encoder MLP hidden width")
    dec_hidden: int = arg(32, "hypernetwork (decoder) MLP hidden width")
    switch_hidden: int = arg(32, "switching-unit MLP hidden width (the paper does not say)")
    n_h: int = arg(32, "history GRU width")
    n_s: int = arg(32, "sequence-embedding width")
    emb_layers: int = arg(1, "Hawk blocks of the non-causal sequence embedder (the paper does not say)")
    rank: int = arg(16, "rank of U = A B^T (0: a full D x D matrix, the ant's controller)")
    train_episodes: int = arg(20_000, "clean (epsilon = 0) expert episodes of the pretraining tasks")
    heldout_episodes: int = arg(1000, "fresh-layout expert episodes for the switching analysis")
    # 10,000, not 4,000 (the default before 2026-12-07): at 4,000 steps 6 of 12 runs over five `cpu` base models
    # had aligned their switches; 5 of the other 6, trained on, shed their extra early switches by step 4,300-8,300
    # and none lost alignment (docs/gridworld_findings.md, "Training longer"). 15 min on 2 cores.
    steps: int = arg(10_000, "AdamW steps")
    batch_size: int = arg(128, "episodes per batch")
    lr: float = arg(1e-3, "learning rate ([P] Tab. A9: 1e-3, constant)")
    weight_decay: float = arg(0.03, "AdamW weight decay")
    # 3000, not 1500: over 4 training seeds at alpha 0.3, 1500 aligned the switches on 2 (the others kept extra
    # switches in an episode's first steps), 3000 on all 4 (docs/gridworld_results.md, "Seeds")
    kl_warmup: int = arg(3000, "KL annealing (against posterior collapse): alpha is 0 for half these steps, then ramps")
    alpha_anchor: float = arg(0.0, "KL ramp to this alpha and hold it, then move to alpha over kl_warmup / 2 "
                              "steps ending kl_warmup / 2 before the last (0: ramp straight to alpha)")  # fmt: skip
    tolerance: int = arg(2, "a switch within this many steps of a subgoal boundary counts as aligned")
    steering_codes: int = arg(8, "prior samples z held fixed in the steering demo")
    steering_episodes: int = arg(200, "layouts per code in the steering demo")
    replay_episodes: int = arg(300, "expert episodes per task in the posterior-replay probe (switching.py)")
    sweep: str = arg("", "comma list of alphas: train frozen and co-trained at each (rate-distortion, Fig. 7)")
    log_every: int = arg(100, "steps between logged training losses")
    load: str = arg("", "analyse an already-trained metacontroller ('pretrained': the committed one, or a run "
                    "directory) instead of training one")  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        positive = "n_z enc_hidden dec_hidden switch_hidden n_h n_s emb_layers train_episodes heldout_episodes steps "
        for name in (positive + "batch_size steering_codes steering_episodes replay_episodes log_every").split():
            check_range(name, getattr(self, name), 1)
        check_range("alpha", self.alpha, 0.0)
        check_range("rank", self.rank, 0)
        check_range("tolerance", self.tolerance, 0)
        check_range("kl_warmup", self.kl_warmup, 0)
        check_range("switch_temperature", self.switch_temperature, 0.0)
        check_range("alpha_anchor", self.alpha_anchor, 0.0)
        if self.alpha_anchor > 0 and (self.kl_warmup == 0 or self.steps < 2 * self.kl_warmup):
            raise ValueError(
                f"alpha_anchor {self.alpha_anchor} needs kl_warmup > 0 and steps >= 2 kl_warmup, to ramp to it and "
                f"then move to alpha (kl_warmup {self.kl_warmup}, steps {self.steps})"
            )
        check_range("layer", self.layer, -1)
        check_range("lr", self.lr, 1e-8, 1.0)
        check_range("weight_decay", self.weight_decay, 0.0)
        if self.cotrain_init not in ("pretrained", "random"):
            raise ValueError(f"cotrain_init {self.cotrain_init!r}: expected 'pretrained' or 'random'")
        for part in filter(None, self.sweep.split(",")):
            try:
                value = float(part)
            except ValueError:
                raise ValueError(f"sweep {self.sweep!r}: {part!r} is not a number") from None
            check_range("sweep alpha", value, 0.0)

    @property
    def sweep_alphas(self) -> list[float]:
        return [float(p) for p in self.sweep.split(",") if p.strip()]


PAPER_ALPHAS = "0,0.05,0.1,0.17,0.3,0.5,1"  # [P] Tab. A9


@dataclass
class CompILEConfig(FrozenStageConfig):
    """The CompILE baseline (`minirl compile`, [P] §C.4.3, Tab. A11/A12; Kipf et al. 2019): segments and codes
    from the whole episode, driving the metacontroller's controller; the base model trains with it."""

    alpha_z: float = arg(0.1, "KL strength on the segment codes ([P] Tab. A11 searches 0.003..1)")
    alpha_b: float = arg(0.1, "KL strength on the boundaries against the Poisson length prior (0.003..1)")
    temperature: float = arg(0.5, "Gumbel-softmax temperature of the boundaries ([P]: 0.5 or 1)")
    max_segments: int = arg(4, "segments per episode at most, M ([P]: 4)")
    prior_rate: float = arg(10.0, "Poisson rate of the segment-length prior ([P]: 'prior switching rate' 10)")
    n_z: int = arg(8, "latent code size")
    hidden: int = arg(32, "hidden width of the boundary, code and hypernetwork MLPs ([P]: 32)")
    rank: int = arg(16, "rank of the controller U")
    train_episodes: int = arg(20_000, "clean expert episodes to train on")
    heldout_episodes: int = arg(1000, "fresh expert episodes to score on")
    steps: int = arg(3000, "AdamW steps ([P]: 32,000)")
    batch_size: int = arg(128, "episodes per step ([P]: 512)")
    lr: float = arg(1e-3, "learning rate ([P]: 1e-3)")
    weight_decay: float = arg(0.03, "AdamW weight decay ([P]: 0.03)")
    kl_warmup: int = arg(1500, "code-KL annealing steps (0: none); the metacontroller's schedule of the time")
    tolerance: int = arg(2, "+- steps within which a segment start matches a subgoal boundary")
    log_every: int = arg(100, "steps between logged training losses")

    def __post_init__(self):
        super().__post_init__()
        if self.env != "gridworld":
            raise ValueError(f"CompILE is built for the gridworld only, not {self.env!r}")
        for name in ("max_segments", "n_z", "hidden", "rank", "train_episodes", "heldout_episodes", "steps",
                     "batch_size", "log_every"):  # fmt: skip
            check_range(name, getattr(self, name), 1)
        check_range("max_segments", self.max_segments, 2)
        for name in ("alpha_z", "alpha_b", "weight_decay", "kl_warmup", "tolerance"):
            check_range(name, getattr(self, name), 0)
        check_range("temperature", self.temperature, 1e-3)
        check_range("prior_rate", self.prior_rate, 1e-3)
        check_range("lr", self.lr, 1e-8, 1.0)


RL_METHODS = ("internal", "raw", "no-temporal", "cotrained", "compile")
ANT_RL_METHODS = ("internal", "raw", "no-temporal", "cotrained")  # CompILE is built for the gridworld only


@dataclass
class RLConfig(FrozenStageConfig):
    """RL on the sparse post-training task (`minirl rl`, [P] §7-8, Tab. A13): critic-free PPO with a
    batch-normalised return, in the metacontroller's latent space (internal) or on raw actions (raw)."""

    method: str = arg("internal", f"one of {', '.join(RL_METHODS)}")
    metacontroller: str = arg("pretrained", "'pretrained' (the committed one for the method) or a run directory "
                              "(no-temporal: one trained with --no_temporal; cotrained: with --cotrain; compile: "
                              "of `minirl compile`)")  # fmt: skip
    task: str = arg("posttrain", "the task RL must solve: 'posttrain' (0-1-2-3-4-5-6-7-0-1-2-3) or a task string")
    iterations: int = arg(100, "PPO iterations; each collects `batch_size` fresh episodes")
    batch_size: int = arg(1024, "episodes per iteration ([P] Tab. A13: 1024)")
    epochs: int = arg(2, "gradient steps on each batch (the paper does not say)")
    lr: float = arg(1e-4, "AdamW learning rate ([P]: 3e-5 after a scan, over 100K steps)")
    clip: float = arg(0.2, "PPO clip epsilon (the paper does not say)")
    policy_width: int = arg(256, "width of the 1-layer Hawk policy ([P] §D.3: 256)")
    eval_episodes: int = arg(1024, "fresh episodes for the final success rate")
    layouts: int = arg(0, "0: a fresh layout every episode (the paper); N > 0: every episode, the final "
                       "evaluation included, draws one of N fixed layouts (a diagnostic)")  # fmt: skip
    checkpoint_every: int = arg(10, "iterations between resumable checkpoints (rerun the command to resume; a "
                                "larger --iterations extends a finished run)")  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        methods = RL_METHODS if self.env == "gridworld" else ANT_RL_METHODS
        if self.method not in methods:
            raise ValueError(f"method {self.method!r} on {self.env}: expected one of {methods}")
        parse_task_set(self.task, env=self.env)
        for name in ("iterations", "batch_size", "epochs", "policy_width", "eval_episodes", "checkpoint_every"):
            check_range(name, getattr(self, name), 1)
        check_range("layouts", self.layouts, 0)
        check_range("lr", self.lr, 1e-8, 1.0)
        check_range("clip", self.clip, 1e-3, 1.0)


@dataclass
class ReproduceConfig:
    """The whole pipeline in one command (`minirl reproduce`); each stage uses the same preset."""

    env: str = arg("gridworld", "environment: 'gridworld' or 'ant'")
    preset: str = arg("auto", "'auto' (gpu if CUDA is available, else cpu), or tiny, cpu, gpu, paper")
    seed: int = arg(0, "seed of every stage")
    out: str = arg("", "run directory (default: runs/reproduce/<env>-<preset>-s<seed>-<time>)")
    device: str = arg("auto", "'auto', 'cpu' or 'cuda'")
    from_scratch: bool = arg(False, "train the base model and the metacontrollers even where the committed ones "
                             "would be used (CPU)")  # fmt: skip
    seeds: int = arg(1, "RL seeds per method (the paper: 3 per metacontroller); the figure shows their median and IQR")
    task: str = arg("posttrain", "the task RL must solve: 'posttrain' (0-1-2-3-4-5-6-7-0-1-2-3) or a task string")

    def __post_init__(self):
        check_env(self.env)
        if self.preset not in ("auto", "tiny", "cpu", "gpu", "paper"):
            raise ValueError(f"preset {self.preset!r}: expected auto, tiny, cpu, gpu or paper")
        check_range("seeds", self.seeds, 1, 100)
        parse_task_set(self.task, env=self.env)


def __getattr__(name: str):
    """The named presets live in presets.py (this file holds the configs); `from minirl.config import stage_preset`
    keeps one import line for a stage's config and its presets. Resolved lazily (PEP 562), since presets.py
    imports the classes above: either module can then be imported first."""
    if name in ("pretrain_preset", "stage_preset"):
        from minirl import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
