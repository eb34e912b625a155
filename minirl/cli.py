"""The `minirl` command: one subcommand per stage, flags generated from the stage's config dataclass.

minirl expert ant --preset cpu
minirl data gridworld --task pretrain --episodes 100000 --out runs/data/pretrain.npz
minirl pretrain gridworld --preset cpu --steps 5000 --model.n_layers 4
minirl probe gridworld --base runs/pretrain/RUN
minirl control gridworld --base pretrained --layers mid
minirl metacontroller gridworld --base pretrained --alpha 0.1
minirl doctor
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time

from minirl.config import (
    CompILEConfig,
    ControllerConfig,
    DataConfig,
    MetacontrollerConfig,
    PretrainConfig,
    ProbeConfig,
    ReproduceConfig,
    RLConfig,
    pretrain_preset,
    stage_preset,
)
from minirl.experts.ant_config import AntExpertConfig, expert_preset


def _add_config_args(parser, cls, positional=("env",), prefix: str = "", suppress: bool = False, preset=None,
                     preset_name: str = "the cpu preset") -> None:  # fmt: skip
    """One flag per dataclass field (`--name`, nested dataclasses as `--model.name`), help from the field.

    With `suppress`, flags not given on the command line stay out of the namespace, so they do not
    override a preset. `preset` (the config a command without flags runs, named `preset_name`) adds its
    value to the help wherever it differs from the field's default.
    """
    for f in dataclasses.fields(cls):
        help_ = f.metadata.get("help", "")
        if f.default_factory is not dataclasses.MISSING:  # a nested config, e.g. model: ModelConfig
            nested = getattr(preset, f.name, None)
            _add_config_args(parser, type(f.default_factory()), (), f"{prefix}{f.name}.", suppress, nested, preset_name)
            continue
        default = argparse.SUPPRESS if suppress else f.default
        shown = f" (default: {f.default!r})" if f.default != "" else ""
        value = getattr(preset, f.name, f.default)
        if value != f.default and f.name != "preset":
            shown = f" (default: {f.default!r}; {preset_name}: {value!r})"
        dest = f"{prefix}{f.name}"
        if f.name in positional:
            parser.add_argument(dest, nargs="?", default=f.default, help=f"{help_} (default: {f.default})")
        elif f.type in ("bool", bool):
            parser.add_argument(f"--{dest}", action=argparse.BooleanOptionalAction, default=default, help=help_ + shown)
        else:
            kind = {"int": int, "float": float, "str": str}.get(str(f.type), str)
            parser.add_argument(f"--{dest}", type=kind, default=default, help=help_ + shown, metavar=f.name.upper())


def _config(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _overrides(args: argparse.Namespace) -> dict:
    """Flags given on the command line as preset overrides; `model.x` keys go into a nested dict."""
    out: dict = {}
    for key, value in vars(args).items():
        if key in ("fn", "command", "preset"):
            continue
        if "." in key:
            outer, inner = key.split(".", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[key] = value
    return out


def _cmd_pretrain(args: argparse.Namespace) -> dict:
    from minirl.pretrain import main

    return main(pretrain_preset(getattr(args, "preset", "cpu"), **_overrides(args)))


def _cmd_expert(args: argparse.Namespace) -> dict:
    from minirl.experts.ant_ppo import main

    return main(expert_preset(getattr(args, "preset", "cpu"), **_overrides(args)))


def _cmd_data(args: argparse.Namespace) -> dict:
    from minirl.data import main

    return main(_config(DataConfig, args))


# the stages on a frozen base model: subcommand -> (config class, module with `main(cfg)`, one-line help)
FROZEN_STAGES = {
    "probe": (ProbeConfig, "minirl.probes", "linear probes of the subgoal at every layer"),
    "control": (ControllerConfig, "minirl.controllers", "ground-truth controllers at every layer, on the unseen task"),
    "metacontroller": (MetacontrollerConfig, "minirl.discovery", "the metacontroller on the frozen base; switching"),
    "compile": (CompILEConfig, "minirl.compile", "the CompILE baseline: segments and codes, base trained with it"),
    "rl": (RLConfig, "minirl.rl", "RL on the post-training task: internal (latent) or a baseline"),
}  # fmt: skip


def _cmd_frozen_stage(args: argparse.Namespace) -> dict:
    """A stage on a frozen base: its preset (default cpu) with the given flags on top, then its `main`."""
    import importlib

    cls, module, _ = FROZEN_STAGES[args.command]
    return importlib.import_module(module).main(stage_preset(cls, getattr(args, "preset", "cpu"), **_overrides(args)))


def _cmd_reproduce(args: argparse.Namespace) -> dict:
    from minirl.reproduce import main

    return main(_config(ReproduceConfig, args))


def _cmd_doctor(args: argparse.Namespace) -> dict:
    import gymnasium
    import numpy
    import torch

    try:
        import mujoco

        mujoco_version = mujoco.__version__
    except ImportError:
        mujoco_version = "not installed"
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    info = {
        "python": platform.python_version(), "platform": platform.platform(), "numpy": numpy.__version__,
        "torch": torch.__version__, "gymnasium": gymnasium.__version__, "mujoco": mujoco_version,
        "device": device, "torch threads": torch.get_num_threads(), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "(unset)"),
    }  # fmt: skip
    for k, v in info.items():
        print(f"{k:>14}: {v}")
    return info


GRID_CPU = "the cpu preset, gridworld"  # the ant's cpu preset differs in places (presets.py)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minirl", description="Internal RL (arXiv 2512.20605), small and readable.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("data", help="generate an expert dataset (.npz)", description=DataConfig.__doc__)
    _add_config_args(p, DataConfig)
    p.set_defaults(fn=_cmd_data)
    p = sub.add_parser("expert", help="train the ant-pinpad expert with PPO", description=AntExpertConfig.__doc__)
    _add_config_args(p, AntExpertConfig, suppress=True, preset=expert_preset("cpu"))
    p.set_defaults(fn=_cmd_expert)
    p = sub.add_parser("pretrain", help="pretrain the base model on expert data", description=PretrainConfig.__doc__)
    _add_config_args(p, PretrainConfig, suppress=True, preset=pretrain_preset("cpu"), preset_name=GRID_CPU)
    p.set_defaults(fn=_cmd_pretrain)
    for name, (cls, _, help_) in FROZEN_STAGES.items():
        p = sub.add_parser(name, help=help_, description=cls.__doc__)
        _add_config_args(p, cls, suppress=True, preset=stage_preset(cls, "cpu"), preset_name=GRID_CPU)
        p.set_defaults(fn=_cmd_frozen_stage)
    p = sub.add_parser("reproduce", help="the whole pipeline in one run directory",
                       description=ReproduceConfig.__doc__)  # fmt: skip
    _add_config_args(p, ReproduceConfig)
    p.set_defaults(fn=_cmd_reproduce)
    p = sub.add_parser("doctor", help="print versions, device and MUJOCO_GL")
    p.set_defaults(fn=_cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.time()
    try:
        args.fn(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"minirl {args.command}: error: {e}", file=sys.stderr)
        return 2
    if args.command != "doctor":
        print(f"done in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
