"""The stages on a frozen base model, on the ant: probes, full-matrix controllers, the metacontroller, internal and
raw-action RL and `minirl reproduce ant`, all on `tiny`, in-process; and the ant-specific pieces they rest on."""

import math

import numpy as np
import pytest
import torch

from minirl.checkpoints import resolve_base
from minirl.config import CompILEConfig, ModelConfig, ProbeConfig, ReproduceConfig, RLConfig, stage_preset
from minirl.controllers import SubgoalControllers
from minirl.models.sequence_model import SequenceModel
from minirl.reproduce import ANT_METHODS, SUCCESS_KEYS
from minirl.reproduce import main as reproduce
from minirl.rollout import rollout
from minirl.runs import read_json
from minirl.worlds import batch_env, expert_episodes, expert_success, subgoal_of_colour

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_ant_model(seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(env="ant", arch="hawk", n_layers=2, d_model=16, n_heads=2, d_rnn=16, d_mlp=32)
    return SequenceModel(cfg).eval()


def test_ant_presets_use_full_matrix_controllers():
    from minirl.config import ControllerConfig, MetacontrollerConfig

    for cls in (ControllerConfig, MetacontrollerConfig):
        assert stage_preset(cls, "cpu", env="ant").rank == 0  # [P] §D.2: the ant's controller is full linear
        assert stage_preset(cls, "cpu").rank == 16  # the gridworld's stays low-rank


def test_full_matrix_subgoal_controllers_start_at_no_control():
    ctrl = SubgoalControllers(d_model=8, rank=0, num_subgoals=4)
    U = ctrl(torch.tensor([[0, 3, -1]]))
    assert U.shape == (1, 3, 8, 8) and torch.count_nonzero(U) == 0
    assert SubgoalControllers(8, 2)(torch.tensor([1]))[0].shape == (1, 8, 2)  # low-rank factors


def test_rollout_keeps_unclipped_gaussian_samples_and_clips_for_the_env():
    model = tiny_ant_model()
    with torch.no_grad():  # a wide policy (std 3): many samples fall outside [-1, 1]
        model.action_head.bias[8:] = math.log(3.0)
    r = rollout(batch_env("ant", 4, task="0-1"), model, seeds=np.arange(4), generator=torch.Generator().manual_seed(0))
    a = r["actions"][r["active"]]  # (n, 8)
    assert a.shape[-1] == 8 and np.abs(a).max() > 1.0  # what the Gaussian sampled, for raw-action PPO's ratio


def test_raw_rl_log_prob_is_the_gaussian_density():
    from minirl.rl import log_probs

    model = tiny_ant_model()
    obs, actions = torch.randn(2, 5, 41), 1.5 * torch.randn(2, 5, 8)
    lp = log_probs(RLConfig(env="ant", method="raw"), model, None, {"obs": obs, "actions": actions})
    heads = model(obs)
    ref = torch.distributions.Normal(heads["action_mean"], heads["action_log_std"].exp()).log_prob(actions).sum(-1)
    torch.testing.assert_close(lp, ref)


def test_expert_episodes_are_mean_action_and_label_subgoals():
    data = expert_episodes("ant", "pretrain", 4, seed=0)
    assert data.meta["actions"] == "mean" and data.meta["env"] == "ant"
    sg, n = data.arrays["subgoals"], data.arrays["lengths"]
    assert all((sg[i, : n[i]] >= 0).all() and (sg[i, : n[i]] < 4).all() for i in range(4))
    assert np.array_equal(subgoal_of_colour("ant", np.arange(4)), np.arange(4))
    assert np.array_equal(subgoal_of_colour("gridworld", np.arange(8)), np.arange(8) // 2)
    assert 0.0 <= expert_success("ant", "posttrain", 4, seed=0) <= 1.0 and expert_success("gridworld", "x", 1, 0) == 1


def test_stages_refuse_a_base_of_another_world(tmp_path):
    from minirl import probes

    with pytest.raises(ValueError, match="pretrained on 'gridworld', not 'ant'"):
        probes.main(ProbeConfig(env="ant", base=str(resolve_base("pretrained")), out=str(tmp_path / "p")))
    assert not (tmp_path / "p").exists()  # refused before the run directory was made
    with pytest.raises(FileNotFoundError, match="no committed ant base model"):
        probes.main(ProbeConfig(env="ant", out=str(tmp_path / "q")))
    with pytest.raises(ValueError, match="compile"):
        RLConfig(env="ant", method="compile")
    with pytest.raises(ValueError, match="gridworld only"):
        CompILEConfig(env="ant")
    with pytest.raises(ValueError, match="outside 0..3"):
        RLConfig(env="ant", task="0-1-5")  # the ant has 4 colours


def test_reproduce_ant_tiny_end_to_end(tmp_path, capsys):
    summary = reproduce(ReproduceConfig(env="ant", preset="tiny", out=str(tmp_path)))
    for stage in ("data/ant-pretrain.npz", "pretrain/metrics.json", "probe/metrics.json", "control/metrics.json",
                  "metacontroller/checkpoint.pt", "metacontroller/switching.png"):  # fmt: skip
        assert (tmp_path / stage).exists(), stage
    for method in ANT_METHODS:
        m = read_json(tmp_path / "rl" / f"{method}-s0" / "metrics.json")
        assert m["success_vs_expert"] == pytest.approx(m["success"] / max(m["expert_success"], 1e-9))
        assert summary[SUCCESS_KEYS[method]] == m["success"] and f"{SUCCESS_KEYS[method]}_vs_expert" in summary
    assert not (tmp_path / "rl" / "compile-s0").exists()  # the ant compares internal and raw-action RL
    control = read_json(tmp_path / "control" / "metrics.json")
    assert control["layers"] == [1]  # tiny ant: the middle layer only
    assert summary["env"] == "ant" and 0.0 <= summary["switch_f1"] <= 1.0 and len(summary["probe_accuracy"]) == 3
    assert "internal_rl_success_vs_expert" in capsys.readouterr().out


def test_replay_episode_retraces_a_batched_rollout():
    from minirl.plots_ant import plot_ant_path, replay_episode

    model = tiny_ant_model(1)
    env = batch_env("ant", 2, task="0-1")
    r = rollout(env, model, seeds=np.array([5, 6]), generator=torch.Generator().manual_seed(0))
    n = int(r["length"][0])
    ep = replay_episode(5, "0-1", r["actions"][0, :n])
    assert ep["steps"] == n and (ep["end"] == "success") == bool(r["success"][0])
    assert len(ep["xy"]) == n + 1 and list(ep["layout"]) == list(env.layout[0])
    ep["marks"] = [0, n // 2]
    plot_ant_path([ep])
