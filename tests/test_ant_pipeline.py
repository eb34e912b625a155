"""The ant pipeline so far, on `tiny`, in-process: expert -> dataset -> Hawk base model with Gaussian heads."""

import numpy as np
import pytest
import torch

from minirl.checkpoints import load_base_model
from minirl.config import pretrain_preset
from minirl.data import load_dataset, save_dataset
from minirl.data_ant import AntTrajectories, generate_ant
from minirl.experts.ant_config import expert_preset
from minirl.experts.ant_ppo import load_expert
from minirl.experts.ant_ppo import main as train_expert
from minirl.pretrain import main as pretrain

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ant_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ant")
    train_expert(expert_preset("tiny", out=str(root / "expert")))
    data = generate_ant(load_expert(root / "expert"), "pretrain", episodes=10, seed=0, progress=False)
    data["lengths"][:] = np.minimum(data["lengths"], 40)  # short episodes keep the test fast
    path = save_dataset(root / "ant.npz", data)
    return root, path


def test_ant_dataset_loads_and_batches(ant_data):
    _, path = ant_data
    data = load_dataset(path)
    assert isinstance(data, AntTrajectories) and data.meta["env"] == "ant"
    b = data.batch(np.arange(4))
    T = int(data.arrays["lengths"][:4].max())
    assert b["obs"].shape == (4, T, 41) and b["next_obs"].shape == (4, T, 41) and b["actions"].shape == (4, T, 8)
    assert b["obs"].dtype == torch.float32 and b["mask"].sum() == data.arrays["lengths"][:4].sum()
    torch.testing.assert_close(b["next_obs"][:, :-1], b["obs"][:, 1:])  # o_{t+1} is the next step's o
    train, held = data.split(2)
    assert isinstance(train, AntTrajectories) and len(held) == 2


def test_pretrain_ant_tiny(ant_data):
    root, path = ant_data
    cfg = pretrain_preset("tiny", env="ant", data=str(path), eval_episodes=2, out=str(root / "base"))
    assert cfg.model.arch == "hawk" and cfg.model.env == "ant" and cfg.obs_coef == 10.0  # [P] Tab. A5
    assert cfg.model.obs_std == 1.0  # ours: a fixed observation std (presets.py)
    assert pretrain_preset("tiny", env="ant", model={"obs_std": 0.0}).model.obs_std == 0.0  # learned, on request
    metrics = pretrain(cfg)
    assert np.isfinite(metrics["heldout_action_nll"]) and "valid_task_rate" in metrics
    model = load_base_model(root / "base")
    assert model.continuous
    obs = load_dataset(path).batch(np.arange(2))["obs"]
    es = model.residuals(obs)
    assert len(es) == model.n_layers + 1 and es[0].shape == (*obs.shape[:2], model.cfg.d_model)


def test_pretrain_ant_needs_ant_data(tmp_path):
    with pytest.raises(ValueError, match="--data"):
        pretrain(pretrain_preset("tiny", env="ant", out=str(tmp_path / "a")))
    from minirl.data import generate_gridworld

    grid = save_dataset(tmp_path / "grid.npz", generate_gridworld("pretrain", 8, seed=0, progress=False))
    with pytest.raises(ValueError, match="gridworld"):
        pretrain(pretrain_preset("tiny", env="ant", data=str(grid), out=str(tmp_path / "b")))
    with pytest.raises(ValueError, match="does not match"):
        pretrain_preset("tiny", env="ant", model={"env": "gridworld"})
