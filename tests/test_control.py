"""Ground-truth controllers (`minirl control`): the test task is a parameter, and a bad one is refused by name."""

import numpy as np
import pytest
import torch

from minirl.checkpoints import load_checkpoint
from minirl.config import ControllerConfig, ModelConfig, stage_preset
from minirl.controllers import SubgoalControllers, main, task_success
from minirl.models.sequence_model import SequenceModel
from minirl.rollout import rollout
from minirl.worlds import batch_env, parse_tasks

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


def test_control_same_seed_same_controllers(tmp_path):
    """Two runs with one seed train bit-identical controllers and report the same success. With two threads and
    without `torch.use_deterministic_algorithms` (runs.seed_everything) they differed at ~1e-7."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # where the order of accumulation varied
    try:
        runs = [main(stage_preset(ControllerConfig, "tiny", layers="0,2", task="0-1-2-3", out=str(tmp_path / str(i))))
                for i in range(2)]  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert runs[0]["gt_controller_success"] == runs[1]["gt_controller_success"]
    for layer in (0, 2):
        a, b = (load_checkpoint(tmp_path / str(i) / f"controllers_layer{layer}.pt")["state_dict"] for i in range(2))
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert a["A" if "A" in a else "U"].abs().sum() > 0  # zero at initialisation: training moved it


def test_control_logs_its_training_curve(tmp_path):
    """metrics.jsonl holds each layer's training action NLL every `log_every` steps (steps counted across layers),
    then the layer's test success; metrics.json the last NLL of each layer. On one fixed batch the NLL falls."""
    import json

    cfg = stage_preset(ControllerConfig, "tiny", layers="0,2", task="0-1-2-3", steps=6, log_every=2, train_episodes=4,
                       batch_size=4, lr=3e-2, out=str(tmp_path))  # fmt: skip
    m = main(cfg)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["control/layer"]) for r in lines if "losses/action_nll" in r]
    assert curve == [(2, 0), (4, 0), (6, 0), (8, 2), (10, 2), (12, 2)]
    assert [(r["step"], r["control/layer"]) for r in lines if "control/success" in r] == [(6, 0), (12, 2)]
    layer2 = [r["losses/action_nll"] for r in lines if r.get("control/layer") == 2 and "losses/action_nll" in r]
    assert m["gt_controller_train_nll"] == [pytest.approx(lines[2]["losses/action_nll"]), pytest.approx(layer2[-1])]
    assert layer2[-1] < layer2[0]  # 4 episodes, batch 4: the same batch every step, so training must fit it


def test_task_success_greedy_takes_the_argmax_action():
    """`greedy` reaches the rollout: its result is the argmax rollout's on the same layouts, whatever the sampling
    stream, while the sampled result is the sampled rollout's."""
    torch.manual_seed(0)
    model = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).eval()
    ctrl = SubgoalControllers(32, rank=4)
    with torch.no_grad():
        ctrl.A.normal_(0, 0.5)  # controllers that change the actions
    seeds = np.random.default_rng(7).integers(0, 2**63 - 1, size=32)

    def direct(greedy, stream):
        env = batch_env("gridworld", 32, task=parse_tasks("gridworld", "0-1-2-3")[0])
        chooser = lambda t, e, env: ctrl(torch.as_tensor(env.subgoal()))  # noqa: E731
        gen = torch.Generator().manual_seed(stream)
        with torch.no_grad():
            r = rollout(env, model, 1, chooser, greedy=greedy, seeds=seeds, generator=gen)
        return {"success": float(r["success"].mean()), "colours": float(r["progress"].mean())}

    assert task_success(model, 1, ctrl, 32, seed=7, task="0-1-2-3", greedy=True) == direct(True, 123)
    assert task_success(model, 1, ctrl, 32, seed=7, task="0-1-2-3") == direct(False, 7)
