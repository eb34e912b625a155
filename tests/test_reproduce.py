"""`minirl reproduce` end to end on the `tiny` preset, in-process: every stage runs and the summary has its keys."""

import pytest

from minirl.config import RL_METHODS, ReproduceConfig
from minirl.reproduce import SUCCESS_KEYS, main
from minirl.runs import read_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reproduce_tiny_end_to_end(tmp_path, capsys):
    summary = main(ReproduceConfig(preset="tiny", out=str(tmp_path), seeds=2))
    for stage in ("pretrain", "probe", "control", "metacontroller"):
        assert (tmp_path / stage / "metrics.json").exists(), stage
    for method in RL_METHODS:
        for seed in (0, 1):
            assert (tmp_path / "rl" / f"{method}-s{seed}" / "metrics.json").exists(), (method, seed)
        if method not in ("internal", "raw"):  # each baseline trained its own metacontroller in this run
            assert (tmp_path / f"metacontroller-{method}" / "checkpoint.pt").exists(), method
        key = SUCCESS_KEYS[method]
        assert len(summary[f"{key}_by_seed"]) == 2
        assert summary[key] == pytest.approx(sum(summary[f"{key}_by_seed"]) / 2)  # the median of two
    assert (tmp_path / "rl" / "rl_success.png").exists()
    assert read_json(tmp_path / "summary.json") == summary
    keys = ("probe_accuracy", "gt_controller_success", "switch_f1", "switches_per_episode", "steering_consistency")
    for key in keys + ("internal_rl_success", "raw_rl_success", "episodes"):
        assert key in summary, key
    assert summary["episodes"] == 2 * 16  # the tiny RL preset: 2 iterations x 16 episodes
    assert 0.0 <= summary["switch_f1"] <= 1.0
    assert "internal_rl_success" in capsys.readouterr().out  # the summary table is printed
