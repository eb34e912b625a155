"""The prepared GPU check (scripts/gpu_session.sh) runs end to end on the `tiny` preset, on a CPU, and leaves
what a session fetches back: at most 8 files, none more than two folders down (the device tool's limits)."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_session_script_runs_on_tiny(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    env = {
        **os.environ,
        "OUT": str(out),
        "WORK": str(work),
        "PRESET": "tiny",
        "META_PRESET": "tiny",
        "CAL_STEPS": "10",
        "BUDGET_S": "400",
        "META_S": "60",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
    }
    script = ROOT / "scripts" / "gpu_session.sh"
    r = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["base_obs0.tar", "base_obs001.tar", "bench.txt", "log.txt", "meta.tar"]
    assert "episodes/s" in (out / "bench.txt").read_text()
    log = (out / "log.txt").read_text()
    assert "steps/s per run" in log
    # the calibrated step count is the tiny preset's own (30): the box is far larger than tiny needs
    for name, coef in (("obs0", 0.0), ("obs001", 0.01)):
        with tarfile.open(out / f"base_{name}.tar") as tar:
            tar.extractall(tmp_path / "back", filter="data")
        metrics = json.loads((tmp_path / "back" / f"base_{name}" / "metrics.json").read_text())
        config = json.loads((tmp_path / "back" / f"base_{name}" / "config.json").read_text())
        assert metrics["steps"] == 30 and config["obs_coef"] == coef
    with tarfile.open(out / "meta.tar") as tar:
        names = tar.getnames()
    assert "meta_obs0/metrics.json" in names and "meta_obs001/checkpoint.pt" in names
