"""The scripts in docs/diagnostics/ (what the metacontroller's codes hold; docs/gridworld_findings.md) still run,
on small sizes, and the deterministic expert is what it says."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirl.data import generate_gridworld
from minirl.experts.grid_expert import GridExpert

DIAGNOSTICS = Path(__file__).resolve().parents[1] / "docs" / "diagnostics"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("code_regression.py", ["--episodes", "300"], "the cell of colour 0 (49): held-out R^2"),
        ("code_pointer.py", ["--episodes", "200"], "other layouts have a colour on the code's cell"),
        (
            "distil_codes.py",
            ["--episodes", "100", "--steps", "5", "--eval_episodes", "64", "--deterministic"],
            "distilled policy",
        ),
    ],
)
def test_diagnostic_scripts_run(script, args, expect):
    out = subprocess.run([sys.executable, str(DIAGNOSTICS / script), *args], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""}, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout


def test_deterministic_expert_takes_the_first_shortest_path_action(monkeypatch):
    sys.path.insert(0, str(DIAGNOSTICS))
    try:
        from deterministic_expert import _first_optimal_action
    finally:
        sys.path.remove(str(DIAGNOSTICS))
    monkeypatch.setattr(GridExpert, "act", _first_optimal_action)
    a = generate_gridworld("pretrain", 64, seed=3, progress=False)
    real = np.arange(a["actions"].shape[1])[None] < a["lengths"][:, None]  # (N, T) steps inside the episode
    first = np.argmax([(a["optimal"] >> k) & 1 for k in range(4)], axis=0)  # the lowest optimal action
    assert a["success"].all() and (a["actions"][real] == first[real]).all()
