"""`minirl reproduce gridworld`: the paper's story, stage by stage, in one run directory.

    pretrain (or the committed base model) -> probes -> ground-truth controllers -> metacontroller
    -> summary.json + table

Without a GPU the `cpu` preset starts from the committed base model (minirl/pretrained/), since
pretraining is the expensive part; `--from-scratch` retrains it (~30 min on 2 cores). Internal RL and its
baselines join this pipeline with their issue.
"""

from __future__ import annotations

from pathlib import Path

import torch

from minirl.config import (
    ControllerConfig,
    MetacontrollerConfig,
    ProbeConfig,
    ReproduceConfig,
    pretrain_preset,
    stage_preset,
)
from minirl.runs import default_out, write_json


def summary_table(summary: dict) -> str:
    rows = [(k, f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in summary.items() if not isinstance(v, list)]
    rows += [(k, "  ".join(f"{x:.2f}" for x in v)) for k, v in summary.items() if isinstance(v, list)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(cfg: ReproduceConfig) -> dict:
    from minirl import controllers, discovery, pretrain, probes

    preset = cfg.preset if cfg.preset != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out or default_out("reproduce", f"{cfg.env}-{preset}-s{cfg.seed}"))
    common = dict(seed=cfg.seed, device=cfg.device)
    print(f"minirl reproduce {cfg.env}: preset {preset}, run directory {out}")

    if cfg.from_scratch or preset in ("tiny", "gpu", "paper"):
        print("== stage 1: pretraining the base model")
        base_metrics = pretrain.main(pretrain_preset(preset, out=str(out / "pretrain"), **common))
        base = str(out / "pretrain")
    else:
        print("== stage 1: using the committed base model (minirl/pretrained/gridworld_base.json says how it was "
              "made); --from-scratch retrains it")  # fmt: skip
        base, base_metrics = "pretrained", {}
    print("== stage 2a: linear probes of the subgoal, every layer")
    probe = probes.main(stage_preset(ProbeConfig, preset, base=base, out=str(out / "probe"), **common))
    print("== stage 2b: ground-truth controllers, every layer, on the unseen post-training task")
    control = controllers.main(stage_preset(ControllerConfig, preset, base=base, out=str(out / "control"), **common))
    print("== stage 3: the metacontroller on the frozen base model (switching vs subgoal boundaries)")
    meta = discovery.main(stage_preset(MetacontrollerConfig, preset, base=base, out=str(out / "metacontroller"),
                                       **common))  # fmt: skip

    summary = {
        "preset": preset, "base": base,
        **{k: base_metrics[k] for k in ("optimal_action_accuracy", "optimal_action_ceiling", "valid_task_rate",
                                        "valid_task_rate_sampled") if k in base_metrics},
        "probe_accuracy": probe["probe_accuracy"], "gt_controller_success": control["gt_controller_success"],
        "uncontrolled_posttrain_success": control["uncontrolled_success"],
        **{k: meta[k] for k in ("switch_f1", "switch_precision", "switch_recall", "switches_per_episode",
                                "subgoals_per_episode", "steering_consistency", "uncontrolled_consistency")},
    }  # fmt: skip
    write_json(out / "summary.json", summary)
    print(f"\nsummary ({out / 'summary.json'}):\n{summary_table(summary)}")
    return summary
