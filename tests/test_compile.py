"""The CompILE baseline: its prior, segment masks, KL terms, gradients, the RL-time switch, and the stage on `tiny`."""

import math

import numpy as np
import pytest
import torch

from minirl.compile import CompILE, FixedIntervalSwitch, compile_loss, poisson_length_log_prior
from minirl.config import CompILEConfig, ModelConfig, RLConfig, stage_preset
from minirl.data import Trajectories, generate_gridworld
from minirl.models.sequence_model import SequenceModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_BASE = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)


@pytest.fixture(scope="module")
def batch():
    return Trajectories(generate_gridworld("pretrain", 8, seed=3, progress=False)).batch(np.arange(8))


def make(seed=0, **kw):
    torch.manual_seed(seed)
    base = SequenceModel(TINY_BASE)
    cmod = CompILE(base, 1, CompILEConfig(rank=4, **kw))
    for p in cmod.hyper[-1].parameters():  # leave U = 0 at init, so that the codes act
        torch.nn.init.normal_(p, std=0.1)
    return base, cmod


def test_poisson_length_prior_is_normalised_on_its_support():
    starts, lengths = torch.tensor([0.0, 3.0, 7.0]), torch.tensor([7, 9, 7])
    logp = poisson_length_log_prior(starts, 10, lengths, rate=3.0)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(3))
    p = logp.exp()
    assert p[0, 0] == 0 and p[0, 8:].sum() == 0  # no zero-length segment, nothing past the episode end
    assert p[1, :4].sum() == 0 and p[1, 4:10].sum() > 0.99
    assert p[2, 7] == 1  # a segment after one that reached the end is empty: its boundary is the end
    ratio = p[0, 3] / p[0, 2]  # Poisson(k; 3): p(3) / p(2) = 3 / 3
    assert ratio.item() == pytest.approx(1.0, rel=1e-5)
    assert (p[0, 1] / p[0, 2]).item() == pytest.approx(2 / 3, rel=1e-5) and math.isfinite(logp[0, 1].item())


def test_shapes_segment_masks_and_kl(batch):
    _, cmod = make()
    out = cmod(batch["obs"], batch["mask"])
    M, (B, T) = cmod.M, batch["mask"].shape
    assert out["b"].shape == (M, B, T + 1) and out["s"].shape == (M, B, T)
    assert out["z"].shape == (M, B, 8) and out["z_t"].shape == (B, T, 8)
    total = out["s"].sum(0)  # the segments tile every real step exactly once
    assert torch.allclose(total[batch["mask"]], torch.ones(int(batch["mask"].sum())), atol=1e-5)
    assert (total[~batch["mask"]] == 0).all()
    assert (out["kl_z"] >= 0).all() and (out["kl_b"] >= -1e-5).all()


def test_gradients_reach_compile_and_the_base(batch):
    base, cmod = make()
    loss, stats = compile_loss(base, cmod, batch, alpha_z=0.1, alpha_b=0.1)
    loss.backward()
    assert cmod.head_b[0].weight.grad.abs().sum() > 0 and cmod.head_z[0].weight.grad.abs().sum() > 0
    assert cmod.encoder.embed.table.weight.grad.abs().sum() > 0  # the encoder (a copy of the lower half) learns
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in base.parameters())
    assert 1.0 <= float(stats["segments"]) <= cmod.M
    assert all(torch.isfinite(p.grad).all() for p in cmod.parameters() if p.grad is not None)  # no inf * 0


def test_switch_steps_start_at_zero_and_stay_inside(batch):
    _, cmod = make()
    steps = cmod.switch_steps(batch["obs"], batch["mask"])
    assert steps[:, 0].all() and not steps[~batch["mask"]].any()
    assert (steps.sum(1) <= cmod.M).all()


def test_fixed_interval_switch_fires_every_k_steps():
    _, cmod = make()
    sw = FixedIntervalSwitch(cmod, interval=3)
    state, fired = sw.init_state(2, "cpu"), []
    for _ in range(7):
        fired.append(int(sw.switch(None, state["h"], state["z"])[0]))
        state["h"] = sw.gru(None, state["h"])
    assert fired == [1, 0, 0, 1, 0, 0, 1]


def test_stage_and_rl_on_tiny(tmp_path):
    from minirl.checkpoints import load_checkpoint
    from minirl.compile import main
    from minirl.rl import main as rl_main

    m = main(stage_preset(CompILEConfig, "tiny", out=str(tmp_path / "c")))
    ckpt = load_checkpoint(tmp_path / "c", kind="compile")
    assert ckpt["interval"] == m["rl_interval"] >= 1 and ckpt["base_state_dict"] is not None
    for key in ("action_nll", "kl_z", "kl_b", "switch_f1", "switches_per_episode", "mean_segment_length"):
        assert np.isfinite(m[key]), key
    r = rl_main(stage_preset(RLConfig, "tiny", method="compile", metacontroller=str(tmp_path / "c"),
                             out=str(tmp_path / "rl")))  # fmt: skip
    assert 0.0 <= r["success"] <= 1.0 and r["episodes"] == 32


def test_rl_compile_refuses_a_metacontroller_checkpoint(tmp_path):
    from minirl.checkpoints import resolve_metacontroller
    from minirl.rl import main as rl_main

    wrong = str(resolve_metacontroller("pretrained", "internal"))
    with pytest.raises(ValueError, match="'metacontroller' checkpoint, expected 'compile'"):
        rl_main(stage_preset(RLConfig, "tiny", method="compile", metacontroller=wrong, out=str(tmp_path)))


@pytest.mark.parametrize("kw, name", [(dict(max_segments=1), "max_segments"), (dict(temperature=0.0), "temperature"),
                                      (dict(alpha_b=-1.0), "alpha_b"), (dict(prior_rate=0), "prior_rate")])  # fmt: skip
def test_bad_config_names_the_value(kw, name):
    with pytest.raises(ValueError, match=name):
        CompILEConfig(**kw)
