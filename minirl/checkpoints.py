"""Checkpoints: atomic writes, a `kind` tag checked on load, and rebuilding models without the command line.

A checkpoint is a dict saved with torch.save: `kind` ("base_model", later "metacontroller", ...), the
config needed to rebuild the object (`model_cfg`), `state_dict`, and whatever resuming needs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from minirl.config import ModelConfig
from minirl.runs import _jsonable, atomic_write


def save_checkpoint(path: str | Path, ckpt: dict) -> Path:
    """torch.save to a temporary file, then rename: a crash never leaves half a checkpoint."""
    ckpt = {k: (_jsonable(v) if dataclasses.is_dataclass(v) else v) for k, v in ckpt.items()}
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp), suffix=".pt")


def load_checkpoint(path: str | Path, kind: str | None = None) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable minirl checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "kind" not in ckpt:
        raise ValueError(f"{path} is not a minirl checkpoint (no 'kind' entry)")
    if kind is not None and ckpt["kind"] != kind:
        raise ValueError(f"{path} holds a {ckpt['kind']!r} checkpoint, expected {kind!r}")
    return ckpt


def base_model_cfg(ckpt: dict) -> dict:
    """The base-model config a metacontroller (or CompILE) checkpoint was trained on, with fields added to
    ModelConfig since then filled in with their defaults, so older checkpoints still match their base."""
    return dataclasses.asdict(ModelConfig(**ckpt["base_model_cfg"]))


def load_base_model(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild a frozen-ready base model from a pretraining run directory or checkpoint file (eval mode)."""
    from minirl.models.sequence_model import SequenceModel

    ckpt = load_checkpoint(path, kind="base_model")
    model = SequenceModel(ModelConfig(**ckpt["model_cfg"]))
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not match its model config ({e})") from None
    return model.to(device).eval()


PRETRAINED_DIR = Path(__file__).parent / "pretrained"  # committed checkpoints, each with a provenance .json


def resolve_base(spec: str, env: str = "gridworld") -> Path:
    """'pretrained' -> the committed base model of `env`; anything else is a run directory or checkpoint file."""
    if spec == "pretrained":
        path = PRETRAINED_DIR / f"{env}_base.pt"
        if not path.exists():
            how = "minirl data ant --actions sampled, then minirl pretrain ant --data D" if env == "ant" else (
                "minirl pretrain gridworld")  # fmt: skip
            raise FileNotFoundError(f"no committed {env} base model ({path}); train one (`{how}`) and pass "
                                    "--base RUN_DIR")  # fmt: skip
        return path
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"base model {spec!r} not found: expected 'pretrained' or a pretraining run directory")
    return path


def export_pretrained(run_dir: str | Path, name: str, command: str, git_commit: str, device: str) -> Path:
    """Copy a finished run's weights (no optimiser state) into minirl/pretrained/<name>.pt, with a provenance
    sidecar <name>.json (command, seed, device, wall time, git commit, metrics) and its training curve."""
    from minirl.runs import read_json, write_json

    run_dir = Path(run_dir)
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    metrics, config = read_json(run_dir / "metrics.json"), read_json(run_dir / "config.json")
    slim = {k: v for k, v in ckpt.items() if k not in ("optimizer", "rng_state")}  # weights and what rebuilds them
    dest = save_checkpoint(PRETRAINED_DIR / f"{name}.pt", slim)
    write_json(PRETRAINED_DIR / f"{name}.json", {
        "command": command, "seed": config["seed"], "device": device, "git_commit": git_commit,
        "wall_time_s": metrics.get("wall_time_s"),
        "steps": ckpt.get("step", ckpt.get("iteration")), "metrics": metrics, "config": config,
    })  # fmt: skip
    curve = (run_dir / "metrics.jsonl").read_text()
    atomic_write(PRETRAINED_DIR / f"{name}_metrics.jsonl", lambda tmp: Path(tmp).write_text(curve))
    return dest


def resolve_expert(spec: str) -> Path:
    """'pretrained' -> the committed ant expert; anything else is a run directory of `minirl expert ant`."""
    path = PRETRAINED_DIR / "ant_expert.pt" if spec == "pretrained" else Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"ant expert {spec!r} not found ({path}): expected 'pretrained' or a run directory "
                                "of `minirl expert ant`")  # fmt: skip
    return path


# The committed metacontroller of each latent RL method ('pretrained'); each has a .json provenance sidecar.
COMMITTED_METACONTROLLERS = {
    "internal": "gridworld_metacontroller.pt",  # frozen base, temporal integration (alpha 0.3)
    "no-temporal": "gridworld_metacontroller_no_temporal.pt",  # trained with beta = 1
    "cotrained": "gridworld_metacontroller_cotrained.pt",  # base and metacontroller trained jointly
    "compile": "gridworld_compile.pt",  # the CompILE baseline (its own module and base weights)
}


def resolve_metacontroller(spec: str, method: str = "internal", env: str = "gridworld") -> Path:
    """'pretrained' -> the committed gridworld checkpoint for `method` (see COMMITTED_METACONTROLLERS);
    anything else is a run directory of `minirl metacontroller` (or `minirl compile`) or a checkpoint file."""
    if spec == "pretrained" and env != "gridworld":
        raise FileNotFoundError(f"no committed {env} metacontroller: train one (`minirl metacontroller {env} --base "
                                "RUN`) and pass --metacontroller RUN_DIR")  # fmt: skip
    if spec == "pretrained":
        if method not in COMMITTED_METACONTROLLERS:
            raise ValueError(f"method {method!r} has no committed metacontroller; expected one of "
                             f"{tuple(COMMITTED_METACONTROLLERS)}")  # fmt: skip
        path = PRETRAINED_DIR / COMMITTED_METACONTROLLERS[method]
    else:
        path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"metacontroller {spec!r} for method {method!r} not found ({path}): expected "
                                "'pretrained' or a run directory of `minirl metacontroller`")  # fmt: skip
    return path


def load_metacontroller(path: str | Path, model, device: str | torch.device = "cpu"):
    """Rebuild a trained metacontroller for the base `model` (eval mode). Returns (metacontroller, layer, ckpt).

    Refuses a metacontroller trained on a base of another shape, naming both. A co-trained checkpoint also
    carries its base weights (`ckpt["base_state_dict"]`); loading them is the caller's choice.
    """
    from minirl.config import MetacontrollerConfig
    from minirl.metacontroller import Metacontroller

    ckpt = load_checkpoint(path, kind="metacontroller")
    base_cfg = dataclasses.asdict(model.cfg)
    theirs = base_model_cfg(ckpt)
    if theirs != base_cfg:
        diff = {k: (theirs.get(k), v) for k, v in base_cfg.items() if theirs.get(k) != v}
        raise ValueError(f"{path} was trained on another base model: (its base, this base) differ in {diff}")
    meta = Metacontroller(ckpt["d_model"], MetacontrollerConfig(**ckpt["config"]))
    meta.load_state_dict(ckpt["state_dict"])
    return meta.to(device).eval(), ckpt["layer"], ckpt


def start_frozen_stage(cfg, stage: str):
    """Common start of a stage on a frozen base model: default run dir, seeding, device, the base model.

    Returns (run, device, base_path, model) with the model in eval mode and requires_grad off.
    """
    from minirl.pretrain import resolve_device
    from minirl.runs import Run, default_out, seed_everything

    cfg.out = cfg.out or str(default_out(stage, f"{cfg.env}-{cfg.preset}-s{cfg.seed}"))
    device, base_path = resolve_device(cfg.device), resolve_base(cfg.base, cfg.env)
    seed_everything(cfg.seed, device)
    model = load_base_model(base_path, device).requires_grad_(False)
    if model.cfg.env != cfg.env:  # before the run directory exists: a refused input leaves nothing behind
        raise ValueError(f"base model {cfg.base!r} was pretrained on {model.cfg.env!r}, not {cfg.env!r}")
    return Run(cfg.out, cfg), device, base_path, model
