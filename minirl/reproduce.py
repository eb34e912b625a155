"""`minirl reproduce gridworld` (and `ant`): the paper's story, stage by stage, in one run directory.

    pretrain (or the committed base model) -> probes -> ground-truth controllers -> metacontroller
    -> the baselines' metacontrollers (beta = 1, co-trained, CompILE) -> RL on the post-training task with
    every method and `--seeds` seeds -> summary.json, rl_success.png ([P] Fig. 8) and a table

The ant has no committed base model or metacontroller yet: `minirl reproduce ant` rolls the committed PPO
expert out for a pretraining dataset (sampled actions), pretrains the Hawk base on it and trains every later
stage; its RL compares internal RL with raw-action RL (the paper's ant baselines), and also reports each
success divided by the expert's own on the task, as [P] Fig. 8 does.

Without a GPU the `cpu` preset starts from the committed base model and the committed metacontrollers
(minirl/pretrained/, each with a .json saying how it was made), since training them is the expensive part:
the metacontroller stage then analyses the committed one on fresh held-out layouts. `--from-scratch`
trains everything (~30 min for the base alone on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import torch

from minirl.config import (
    ANT_RL_METHODS,
    RL_METHODS,
    ControllerConfig,
    DataConfig,
    MetacontrollerConfig,
    ProbeConfig,
    ReproduceConfig,
    RLConfig,
    pretrain_preset,
    stage_preset,
)
from minirl.runs import default_out, write_json

# summary.json's key for each RL method's final success on the post-training task (median over seeds)
SUCCESS_KEYS = {"internal": "internal_rl_success", "raw": "raw_rl_success", "no-temporal": "no_temporal_success",
                "cotrained": "cotrained_success", "compile": "compile_success"}  # fmt: skip
ANT_METHODS = ("internal", "raw")  # [P] Fig. 8 (ant); the other latent baselines run with `minirl rl ant --method`
assert set(ANT_METHODS) <= set(ANT_RL_METHODS)
# expert episodes in the ant's pretraining dataset, per preset (the gridworld's pretraining draws its own)
ANT_DATA_EPISODES = {"tiny": 10, "cpu": 2000, "gpu": 20_000, "paper": 100_000}


def summary_table(summary: dict) -> str:
    rows = [(k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in summary.items() if not isinstance(v, list)]
    rows += [(k, "  ".join(f"{x:.3f}" for x in v)) for k, v in summary.items() if isinstance(v, list)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def baseline_metacontroller(method: str, preset: str, base: str, out: Path, common: dict) -> str:
    """Train the metacontroller a baseline RL method runs on; returns its run directory."""
    from minirl import discovery

    if method == "no-temporal":  # [P] §C.5.3: beta = 1 in training and in RL
        cfg = stage_preset(MetacontrollerConfig, preset, base=base, no_temporal=True, out=str(out), **common)
    elif method == "cotrained":  # [P] §C.5.4, gridworld: base and metacontroller both from random weights
        cfg = stage_preset(MetacontrollerConfig, preset, base=base, cotrain=True, cotrain_init="random",
                           out=str(out), **common)  # fmt: skip
    else:  # compile: [P] §C.4.3, its own module in place of the metacontroller
        from minirl import compile as compile_stage
        from minirl.config import CompILEConfig

        compile_stage.main(stage_preset(CompILEConfig, preset, base=base, out=str(out), **common))
        return str(out)
    discovery.main(cfg)
    return str(out)


def rl_stage(preset: str, base: str, sources: dict, out: Path, cfg: ReproduceConfig) -> dict:
    """Every RL method on the post-training task, `cfg.seeds` seeds each; the Fig. 8 plot; the summary keys."""
    import matplotlib.pyplot as plt
    import numpy as np

    from minirl import rl
    from minirl.plots_metacontroller import plot_rl_curves

    curves, summary = {}, {}
    for method in RL_METHODS if cfg.env == "gridworld" else ANT_METHODS:
        runs = []
        for k in range(cfg.seeds):
            seed = cfg.seed + k
            print(f"-- {method}, seed {seed}" + (f" (metacontroller: {sources[method]})" if method in sources else ""))
            runs.append(rl.main(stage_preset(RLConfig, preset, env=cfg.env, method=method, base=base, seed=seed,
                                             device=cfg.device, metacontroller=sources.get(method, "pretrained"),
                                             task=cfg.task, out=str(out / f"{method}-s{seed}"))))  # fmt: skip
        curves[method] = [r["curve"] for r in runs]
        finals = [r["success"] for r in runs]
        summary[SUCCESS_KEYS[method]] = float(np.median(finals))
        summary[f"{SUCCESS_KEYS[method]}_by_seed"] = finals
        summary["episodes"] = runs[0]["episodes"]
        summary["rl_task"] = runs[0]["task"]
        if cfg.env == "ant":  # [P] Fig. 8: the ant's success relative to its expert's on the task
            summary["expert_success"] = runs[0]["expert_success"]
            summary[f"{SUCCESS_KEYS[method]}_vs_expert"] = float(np.median([r["success_vs_expert"] for r in runs]))
    fig = plot_rl_curves(curves)
    fig.savefig(out / "rl_success.png", dpi=120)
    plt.close(fig)
    return summary


def ant_base(preset: str, out: Path, common: dict) -> tuple[str, dict]:
    """The ant's stage 1: the committed expert's sampled-action dataset, then the Hawk base model on it."""
    from minirl import data, pretrain

    path = out / "data" / "ant-pretrain.npz"
    data.main(DataConfig(env="ant", episodes=ANT_DATA_EPISODES[preset], actions="sampled", seed=common["seed"],
                         out=str(path)))  # fmt: skip
    metrics = pretrain.main(pretrain_preset(preset, env="ant", data=str(path), out=str(out / "pretrain"), **common))
    return str(out / "pretrain"), metrics


def main(cfg: ReproduceConfig) -> dict:
    from minirl import controllers, discovery, pretrain, probes

    preset = cfg.preset if cfg.preset != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out or default_out("reproduce", f"{cfg.env}-{preset}-s{cfg.seed}"))
    common = dict(seed=cfg.seed, device=cfg.device)
    print(f"minirl reproduce {cfg.env}: preset {preset}, run directory {out}")

    train_all = cfg.from_scratch or preset in ("tiny", "gpu", "paper") or cfg.env == "ant"
    if cfg.env == "ant":
        print("== stage 1: the committed expert's dataset and the Hawk base model (no committed ant base yet)")
        base, base_metrics = ant_base(preset, out, common)
    elif train_all:
        print("== stage 1: pretraining the base model")
        base_metrics = pretrain.main(pretrain_preset(preset, out=str(out / "pretrain"), **common))
        base = str(out / "pretrain")
    else:
        print("== stage 1: using the committed base model (minirl/pretrained/gridworld_base.json says how it was "
              "made); --from-scratch retrains it")  # fmt: skip
        base, base_metrics = "pretrained", {}
    common["env"] = cfg.env
    print("== stage 2a: linear probes of the subgoal, every layer")
    probe = probes.main(stage_preset(ProbeConfig, preset, base=base, out=str(out / "probe"), **common))
    print("== stage 2b: ground-truth controllers on the unseen post-training task")
    control = controllers.main(stage_preset(ControllerConfig, preset, base=base, out=str(out / "control"), **common))
    meta_cfg = stage_preset(MetacontrollerConfig, preset, base=base, out=str(out / "metacontroller"), **common)
    if train_all:
        print("== stage 3: the metacontroller on the frozen base model (switching vs subgoal boundaries)")
        sources = {"internal": str(out / "metacontroller")}
    else:
        print("== stage 3: the committed metacontroller (minirl/pretrained/gridworld_metacontroller.json says how it "
              "was made), analysed on fresh held-out layouts; --from-scratch trains one")  # fmt: skip
        meta_cfg.load, sources = "pretrained", {}
    meta = discovery.main(meta_cfg)
    if cfg.env == "gridworld" and train_all:
        print("== stage 4a: the baselines' metacontrollers: beta = 1, co-trained, CompILE")
        for method in (m for m in RL_METHODS if m not in ("internal", "raw")):
            sources[method] = baseline_metacontroller(method, preset, base, out / f"metacontroller-{method}", common)
    elif cfg.env == "gridworld":
        print("== stage 4a: the baselines use the committed metacontrollers (minirl/pretrained/)")
    print(f"== stage 4b: RL on the task {cfg.task}, every method, {cfg.seeds} seed(s) each")
    rl_summary = rl_stage(preset, base, sources, out / "rl", cfg)

    summary = {
        "env": cfg.env, "preset": preset, "base": base,
        **{k: base_metrics[k] for k in ("optimal_action_accuracy", "optimal_action_ceiling", "valid_task_rate",
                                        "valid_task_rate_sampled", "heldout_action_nll", "valid_task_pads_sampled",
                                        "posttrain_success_sampled")
           if k in base_metrics},
        "probe_accuracy": probe["probe_accuracy"], "gt_controller_success": control["gt_controller_success"],
        "uncontrolled_posttrain_success": control["uncontrolled_success"],
        **{k: meta[k] for k in ("switch_f1", "switch_precision", "switch_recall", "switches_per_episode",
                                "subgoals_per_episode", "steering_consistency", "uncontrolled_consistency",
                                "replay_own_layout_pretrain", "replay_own_layout_posttrain")},
        **rl_summary,
    }  # fmt: skip
    write_json(out / "summary.json", summary)
    print(f"\nsummary ({out / 'summary.json'}):\n{summary_table(summary)}")
    return summary
