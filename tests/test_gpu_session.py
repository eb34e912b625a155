"""The prepared GPU check (scripts/gpu_session.sh) runs end to end on the `tiny` preset, on a CPU, and leaves
what a session fetches back: at most 8 files, none more than two folders down (the device tool's limits)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def session(env: dict, cwd: Path) -> subprocess.CompletedProcess:
    script = ROOT / "scripts" / "gpu_session.sh"
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_gpu_session_script_runs_on_tiny(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    env = {
        **os.environ,
        "OUT": str(out),
        "WORK": str(work),
        "PRESET": "tiny",
        "BUDGET_S": "300",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    r = session(env, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["bench.txt", "control.json", "gpu_base/checkpoint.pt", "gpu_base/config.json",
                     "gpu_base/metrics.json", "gpu_base/metrics.jsonl", "log.txt", "probe.json"]  # fmt: skip
    assert json.loads((out / "gpu_base/metrics.json").read_text())["steps"] == 30
    assert "episodes/s" in (out / "bench.txt").read_text()
    assert json.loads((out / "control.json").read_text())["task"] == "0-1-2-3"
    # a second session resumes the carried run instead of starting over
    (out / "log.txt").unlink()
    r = session({**env, "BENCH": "0"}, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "resuming" in (out / "log.txt").read_text()
