"""Run directories, seeding, metrics logging and atomic writes (plumbing shared by every stage).

A run directory holds `config.json` (the resolved config), `metrics.jsonl` (one JSON line per log step,
CleanRL-style namespaced keys such as `losses/action_nll`), `metrics.json` (final metrics), figures and
checkpoints. Every file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def seed_everything(seed: int, device="cpu") -> None:
    """Seed python, numpy and torch; on a CPU also make torch deterministic, so that one seed gives one run.

    Without `torch.use_deterministic_algorithms`, the backward of indexing a tensor by a tensor (an embedding
    row, a controller U[g]) accumulates in an order that depends on the threads: two 2-thread runs of one
    command differed by ~1e-7 in their weights, and sampled rollouts then diverge. On a GPU it is left alone
    (some CUDA kernels have no deterministic version and would raise).
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.device(device).type == "cpu":
        torch.use_deterministic_algorithms(True)


def atomic_write(path: str | os.PathLike, write_fn, suffix: str = "") -> Path:
    """Call `write_fn(tmp_path)` then rename tmp -> path, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and x != x:  # NaN is not JSON
        return None
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    return x


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(_jsonable(obj), indent=2)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


class Run:
    """A run directory: config.json at start, `log()` appends to metrics.jsonl, `finish()` writes metrics.json."""

    def __init__(self, out_dir: str | os.PathLike, cfg: Any):
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "config.json", cfg)
        self.start = time.time()

    def log(self, step: int, metrics: dict) -> None:
        line = json.dumps(_jsonable({"step": step, "time": round(time.time() - self.start, 2), **metrics}))
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(line + "\n")

    def rewind(self, step: int) -> None:
        """Resuming from a checkpoint at `step`: drop the metrics.jsonl lines logged after it (or cut off by a
        crash), which the resumed run logs again. Their `time` restarts from 0 in the resumed process."""
        path = self.dir / "metrics.jsonl"
        if not path.exists():
            return
        lines = path.read_text().splitlines(keepends=True)
        keep = [line for line in lines if _logged_step(line) <= step]
        if len(keep) < len(lines):
            atomic_write(path, lambda tmp: Path(tmp).write_text("".join(keep)))

    def finish(self, metrics: dict) -> dict:
        metrics = {**metrics, "wall_time_s": round(time.time() - self.start, 1)}
        write_json(self.dir / "metrics.json", metrics)
        return metrics


def _logged_step(line: str) -> float:
    """The step of a metrics.jsonl line; infinite for a line a crash cut short."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return float("inf")


def default_out(stage: str, name: str) -> Path:
    """runs/<stage>/<name>-<timestamp>: a fresh default run directory."""
    return Path("runs") / stage / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def fast_mode() -> bool:
    """True when MINIRL_FAST=1: notebooks and demos shrink to seconds (the test suite sets it)."""
    return os.environ.get("MINIRL_FAST", "0") not in ("", "0", "false", "False")
