"""`minirl reproduce` end to end on the `tiny` preset, in-process: every stage runs and the summary has its keys."""

import pytest

from minirl.config import ReproduceConfig
from minirl.reproduce import main
from minirl.runs import read_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reproduce_tiny_end_to_end(tmp_path, capsys):
    summary = main(ReproduceConfig(preset="tiny", out=str(tmp_path)))
    for stage in ("pretrain", "probe", "control", "metacontroller"):
        assert (tmp_path / stage / "metrics.json").exists(), stage
    assert read_json(tmp_path / "summary.json") == summary
    for key in ("probe_accuracy", "gt_controller_success", "switch_f1", "switches_per_episode", "steering_consistency"):
        assert key in summary, key
    assert 0.0 <= summary["switch_f1"] <= 1.0
    assert "switch_f1" in capsys.readouterr().out  # the summary table is printed
