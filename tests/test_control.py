"""Ground-truth controllers (`minirl control`): the test task is a parameter, and a bad one is refused by name."""

import pytest

from minirl.config import ControllerConfig, stage_preset
from minirl.controllers import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_control_tests_on_the_requested_task(tmp_path, capsys):
    cfg = stage_preset(ControllerConfig, "tiny", layers="mid", task="0-1-2-3", out=str(tmp_path))
    m = main(cfg)
    assert m["task"] == "0-1-2-3" and m["layers"] == [2]
    assert 0.0 <= m["gt_controller_success"][0] <= 1.0 and 0.0 <= m["uncontrolled_success"] <= 1.0
    assert 0.0 <= m["gt_controller_colours"][0] <= 4  # progress counts colours of the 4-colour task
    assert "0-1-2-3 success" in capsys.readouterr().out
    assert (tmp_path / "controller_success.png").exists() and (tmp_path / "controllers_layer2.pt").exists()


@pytest.mark.parametrize(("task", "message"), [("0-1-9", "9"), ("0-1,2-3", "one task"), ("pretrain", "one task")])
def test_control_rejects_a_bad_task(task, message):
    with pytest.raises(ValueError, match=message):
        ControllerConfig(task=task)
