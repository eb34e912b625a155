"""Stage 3, the metacontroller: the module's equations, its loss, the switching analysis, and the stage on `tiny`."""

import dataclasses

import numpy as np
import pytest
import torch

from minirl.checkpoints import load_checkpoint
from minirl.cli import main as cli_main
from minirl.config import MetacontrollerConfig, ModelConfig, stage_preset
from minirl.data import Trajectories, generate_gridworld
from minirl.discovery import main
from minirl.metacontroller import Metacontroller, gaussian_kl, metacontroller_loss
from minirl.models.sequence_model import SequenceModel
from minirl.switching import boundaries, match, switch_metrics

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_BASE = ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)


@pytest.fixture(scope="module")
def batch():
    data = Trajectories(generate_gridworld("pretrain", 8, seed=3, progress=False))
    return data.batch(np.arange(8))


def make(rank=4, seed=0, **kw):
    torch.manual_seed(seed)
    base = SequenceModel(TINY_BASE).eval().requires_grad_(False)
    cfg = MetacontrollerConfig(rank=rank, **kw)
    meta = Metacontroller(TINY_BASE.d_model, cfg)
    for p in meta.hyper[-1].parameters():  # leave the U = 0 initialisation, so that U actually acts
        torch.nn.init.normal_(p, std=0.1)
    return base, meta


@pytest.mark.parametrize("rank", [4, 0])
def test_shapes_kl_and_beta_range(batch, rank):
    base, meta = make(rank)
    e = base.lower(batch["obs"], 1)
    B, T, D = e.shape
    out = meta(e, batch["mask"])
    assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (B, T, 8)
    assert out["beta"].shape == (B, T)
    assert ((out["beta"] >= 0) & (out["beta"] <= 1)).all()
    if rank:
        assert out["U"][0].shape == out["U"][1].shape == (B, T, D, rank)
    else:
        assert out["U"].shape == (B, T, D, D)
    assert (gaussian_kl(out["mu"], out["logvar"]) >= 0).all()
    assert gaussian_kl(torch.zeros(3, 8), torch.zeros(3, 8)).abs().max() < 1e-6  # KL(prior || prior) = 0


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(5, 8), torch.randn(5, 8)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(8), torch.ones(8))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1))


def test_temporal_integration_holds_z_when_beta_is_zero(batch):
    """z_t = beta z~ + (1 - beta) z_{t-1}: with the switching logit forced to -inf the code never moves from z_0 = 0,
    and with beta = 1 (no_temporal) z_t is the proposal mu_t itself."""
    base, meta = make()
    e = base.lower(batch["obs"], 1)
    with torch.no_grad():
        meta.switch_unit[-1].bias.fill_(-1e4)
    assert meta(e, batch["mask"], sample=False)["z"].abs().max() == 0
    _, meta1 = make(no_temporal=True)
    out = meta1(e, batch["mask"], sample=False)
    assert (out["beta"] == 1).all()
    torch.testing.assert_close(out["z"], out["mu"])


def test_switch_is_causal(batch):
    """beta_t = f(e_t, h_{t-1}, z_{t-1}) never reads the non-causal embedding s, so internal RL can run it online:
    the same state and e_t give the same beta whatever s is, while the proposal mu_t does change with s."""
    base, meta = make()
    e = base.lower(batch["obs"], 1)[:, 3]
    state = {"h": torch.randn(8, meta.n_h), "z": torch.randn(8, meta.n_z)}
    (mu1, _, b1, _), _ = meta.step(e, state, torch.zeros(8, 32), sample=False)
    (mu2, _, b2, _), _ = meta.step(e, state, torch.randn(8, 32), sample=False)
    torch.testing.assert_close(b1, b2)
    assert not torch.allclose(mu1, mu2)


def test_gumbel_sigmoid_switch_is_a_relaxed_coin_with_the_right_odds():
    """While training, beta is a binary-Concrete sample: P(beta > 0.5) = sigmoid(logit), values in [0, 1]."""
    _, meta = make(switch_temperature=0.5)
    x, h, z = torch.randn(4, 32), torch.randn(4, meta.n_h), torch.randn(4, meta.n_z)
    p = meta.switch(x, h, z)  # deterministic: the probability
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([meta.switch(x, h, z, sample=True, generator=gen) for _ in range(4000)])  # (4000, 4)
    assert ((draws >= 0) & (draws <= 1)).all()
    torch.testing.assert_close((draws > 0.5).float().mean(0), p, atol=0.03, rtol=0)
    _, plain = make(switch_temperature=0.0)
    torch.testing.assert_close(plain.switch(x, h, z, sample=True), plain.switch(x, h, z))


def test_cached_lower_pass_equals_step_by_step(batch):
    """Training runs the frozen lower half once over the sequence; rollouts step it with caches. Same logits."""
    base, meta = make()
    layer = 1
    with torch.no_grad():
        e = base.lower(batch["obs"], layer)
        s = meta.embedder(meta.norm(e), batch["mask"])
        full = meta(e, batch["mask"], sample=False)
        logits = base.upper(e, layer, full["U"])["action_logits"]
        state, mstate = base.init_state(e.shape[0]), meta.init_state(e.shape[0], "cpu")
        for t in range(e.shape[1]):
            e_t = base.step_lower(batch["obs"][:, t], state, layer)
            (_, _, beta, z), mstate = meta.step(e_t, mstate, s, sample=False)
            step_logits = base.step_upper(e_t, state, layer, meta.decode(z))["action_logits"]
            torch.testing.assert_close(beta, full["beta"][:, t], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(step_logits, logits[:, t], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kw", [{}, {"switch_temperature": 0.0}, {"no_temporal": True}])
def test_forward_is_step_applied_t_times_with_the_same_samples(batch, kw):
    """`forward` hoists what does not depend on z_{t-1} out of the scan; it must equal `step`, random draws too."""
    base, meta = make(**kw)
    mask = batch["mask"]
    with torch.no_grad():
        e = base.lower(batch["obs"], 1)
        full = meta(e, mask, sample=True, generator=torch.Generator().manual_seed(7))
        s = meta.embedder(meta.norm(e), mask)
        state, gen = meta.init_state(e.shape[0], "cpu"), torch.Generator().manual_seed(7)
        for t in range(e.shape[1]):
            (mu, logvar, beta, z), state = meta.step(e[:, t], state, s, sample=True, generator=gen)
            for name, x in (("mu", mu), ("logvar", logvar), ("beta", beta), ("z", z)):
                torch.testing.assert_close(x, full[name][:, t], atol=1e-5, rtol=1e-5, msg=f"{name} at t = {t}")


def test_frozen_mode_gradients_reach_only_the_metacontroller(batch):
    base, meta = make()
    loss, stats = metacontroller_loss(base, meta, batch, 1, alpha=0.3)
    loss.backward()
    assert all(p.grad is None for p in base.parameters())
    grads = {n: p.grad for n, p in meta.named_parameters()}
    for name in ("encoder.0.weight", "switch_unit.0.weight", "hyper.0.weight", "gru.weight_ih", "embedder.inp.weight"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert stats["kl"] >= 0


def test_cotrain_mode_gradients_reach_the_base(batch):
    base, meta = make()
    base.requires_grad_(True)
    loss, _ = metacontroller_loss(base, meta, batch, 1, alpha=0.1, train_base=True)
    loss.backward()
    assert base.embed.parameters().__next__().grad is not None  # the lower half, too
    assert base.blocks[-1].mlp[0].weight.grad.abs().sum() > 0


def test_alpha_zero_and_beta_one_run(batch):
    for kw, alpha in ((dict(), 0.0), (dict(no_temporal=True), 0.5)):
        base, meta = make(**kw)
        loss, stats = metacontroller_loss(base, meta, batch, 1, alpha=alpha)
        assert torch.isfinite(loss)
        if alpha == 0:
            torch.testing.assert_close(loss, stats["action_nll"])


def test_initial_hypernetwork_gives_u_zero(batch):
    """U = 0 at initialisation: the controlled model starts as the base model."""
    torch.manual_seed(0)
    base = SequenceModel(TINY_BASE).eval()
    for rank in (4, 0):
        meta = Metacontroller(TINY_BASE.d_model, MetacontrollerConfig(rank=rank))
        e = base.lower(batch["obs"], 1)
        out = meta(e, batch["mask"])
        torch.testing.assert_close(base.upper(e, 1, out["U"])["action_logits"], base.upper(e, 1)["action_logits"])


# ------------------------------------------------------------------------------- switching analysis
def test_boundaries_and_matching():
    sg = np.array([2, 2, 2, 0, 0, 1, 1, 1, -1, -1])
    assert boundaries(sg, 8).tolist() == [0, 3, 5]
    assert match(np.array([0, 4, 9]), np.array([0, 3, 5]), tol=2) == 2  # 4 matches 3 or 5, only once
    assert match(np.array([3, 4]), np.array([3]), tol=2) == 1  # a second switch at one boundary is not matched
    assert match(np.array([7]), np.array([3]), tol=2) == 0


def test_switch_metrics_perfect_and_wrong():
    sg = np.array([[0] * 5 + [1] * 5 + [3] * 5, [2] * 8 + [0] * 7])
    lengths = np.array([15, 12])
    perfect = np.zeros((2, 15))
    perfect[0, [0, 5, 10]] = perfect[1, [0, 8]] = 1
    m = switch_metrics(perfect, sg, lengths)
    assert m["switch_f1"] == m["switch_precision"] == m["switch_recall"] == 1.0
    assert m["switches_per_episode"] == m["subgoals_per_episode"] == 2.5
    once = np.zeros((2, 15))
    once[:, 0] = 1  # the co-training collapse: one switch at the start
    m = switch_metrics(once, sg, lengths)
    assert m["switch_precision"] == 1.0 and m["switch_recall"] == pytest.approx(2 / 5)
    always = np.ones((2, 15))  # beta = 1 everywhere: every step a switch; padding (t >= 12) is not counted
    m = switch_metrics(always, sg, lengths)
    assert m["switches_per_episode"] == 13.5 and m["switch_recall"] == 1.0 and m["switch_precision"] == 5 / 27
    assert m["beta_at_boundaries"] == m["beta_between"] == 1.0  # no gap: beta ignores the subgoals


def test_soft_beta_peaks_at_boundaries_though_the_threshold_counts_every_step():
    sg = np.array([[0] * 10 + [1] * 10])
    beta = np.full((1, 20), 0.6)
    beta[0, 0], beta[0, 11] = 1.0, 0.95  # a peak one step after the boundary at t = 10 (within tol = 2)
    m = switch_metrics(beta, sg, np.array([20]), tol=2)
    assert m["switches_per_episode"] == 20 and m["switch_f1"] == pytest.approx(2 * 0.1 / 1.1)
    assert m["beta_at_boundaries"] == 0.95  # the largest beta within +-2 of t = 10
    assert m["beta_between"] == pytest.approx(0.6)  # t = 3..7 and 13..19: farther than 2 from t = 0 and t = 10
    m = switch_metrics(beta, np.zeros((1, 20), int), np.array([20]), tol=2)  # one segment: no boundary after t = 0
    assert m["beta_at_boundaries"] is None and m["beta_between"] == pytest.approx((16 * 0.6 + 0.95) / 17)  # t = 3..19


# ------------------------------------------------------------------------------- the stage, on tiny
@pytest.fixture(scope="module")
def tiny_stage(tmp_path_factory):
    out = tmp_path_factory.mktemp("meta") / "run"
    return out, main(stage_preset(MetacontrollerConfig, "tiny", out=str(out)))


def test_tiny_stage_writes_its_run_directory(tiny_stage):
    out, metrics = tiny_stage
    for name in ("config.json", "metrics.json", "metrics.jsonl", "checkpoint.pt", "switching.png", "steering.png"):
        assert (out / name).exists(), name
    for key in (
        "switch_f1",
        "switch_precision",
        "switch_recall",
        "switches_per_episode",
        "subgoals_per_episode",
        "action_nll",
        "kl",
        "steering_consistency",
        "uncontrolled_consistency",
    ):
        assert np.isfinite(metrics[key]), key
    ckpt = load_checkpoint(out / "checkpoint.pt", kind="metacontroller")
    assert ckpt["step"] == 5 and ckpt["layer"] == 2  # committed base: 4 layers, L/2 = 2


def test_tiny_stage_resumes(tiny_stage, tmp_path):
    import shutil

    out, _ = tiny_stage
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    cfg = stage_preset(MetacontrollerConfig, "tiny", out=str(copy), steps=7)
    main(cfg)
    assert load_checkpoint(copy / "checkpoint.pt")["step"] == 7


def test_tiny_cotrain_and_sweep(tmp_path):
    m = main(stage_preset(MetacontrollerConfig, "tiny", out=str(tmp_path / "co"), cotrain=True, steps=2))
    assert m["cotrain"] and load_checkpoint(tmp_path / "co")["base_state_dict"] is not None
    s = main(stage_preset(MetacontrollerConfig, "tiny", out=str(tmp_path / "sw"), sweep="0,0.5", steps=2))
    assert [(r["cotrain"], r["alpha"]) for r in s["sweep"]] == [(False, 0.0), (False, 0.5), (True, 0.0), (True, 0.5)]
    assert (tmp_path / "sw" / "rate_distortion.png").exists()


def test_cli_metacontroller_tiny(tmp_path, capsys):
    assert cli_main(["metacontroller", "gridworld", "--preset", "tiny", "--alpha", "0.3", "--out", str(tmp_path)]) == 0
    assert "switch F1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(alpha=-0.1), "alpha"),
        (dict(cotrain_init="zeros"), "cotrain_init"),
        (dict(sweep="0,x"), "sweep"),
        (dict(n_z=0), "n_z"),
        (dict(rank=-1), "rank"),
        (dict(alpha_anchor=-0.3), "alpha_anchor"),
        (dict(alpha_anchor=0.3, steps=5999, kl_warmup=3000), "alpha_anchor"),  # no room to move to alpha
        (dict(alpha_anchor=0.3, steps=4000, kl_warmup=0), "alpha_anchor"),
    ],
)
def test_bad_config_names_the_value(kw, name):
    with pytest.raises(ValueError, match=name):
        MetacontrollerConfig(**kw)


def test_kl_schedule_ramps_to_the_anchor_then_moves_to_alpha():
    from minirl.discovery import alpha_at

    plain = MetacontrollerConfig(alpha=0.1, kl_warmup=100, steps=200)
    assert [alpha_at(s, plain) for s in (0, 48, 74, 99, 150)] == pytest.approx([0, 0, 0.05, 0.1, 0.1])
    anchored = dataclasses.replace(plain, alpha_anchor=0.3)
    # 0 for 50 steps, a ramp to the anchor 0.3 by step 100, a linear move to alpha 0.1 by step 150, then 0.1
    expected = [0, 0, 0.15, 0.3, 0.2, 0.1, 0.1]
    assert [alpha_at(s, anchored) for s in (0, 48, 74, 99, 124, 149, 199)] == pytest.approx(expected, abs=1e-9)
    upward = dataclasses.replace(anchored, alpha=0.5)  # an anchor below alpha moves up to it
    assert [alpha_at(s, upward) for s in (99, 124, 149)] == pytest.approx([0.3, 0.4, 0.5])
    held = dataclasses.replace(anchored, steps=300)  # longer training holds the anchor, the move ends 50 before
    assert [alpha_at(s, held) for s in (99, 150, 199, 224, 249, 299)] == pytest.approx([0.3, 0.3, 0.3, 0.2, 0.1, 0.1])


def test_wrong_checkpoint_kind_is_refused(tmp_path):
    from minirl.checkpoints import resolve_base

    with pytest.raises(ValueError, match="metacontroller"):
        load_checkpoint(resolve_base("pretrained"), kind="metacontroller")
    assert dataclasses.is_dataclass(MetacontrollerConfig)


def test_load_analyses_the_committed_metacontroller_without_training(tmp_path):
    m = main(stage_preset(MetacontrollerConfig, "tiny", load="pretrained", out=str(tmp_path)))
    assert m["loaded"].endswith("gridworld_metacontroller.pt") and m["alpha"] == 0.3  # the committed one's alpha
    assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / "switching.png").exists()
    for key in ("switch_f1", "replay_own_layout_posttrain", "replay_own_layout_pretrain", "codes_per_episode_pretrain"):
        assert np.isfinite(m[key]), key


def test_replay_policy_writes_codes_in_order_per_episode():
    from minirl.switching import _ReplayPolicy

    codes = torch.arange(2 * 3 * 1, dtype=torch.float32).reshape(2, 3, 1)  # episode i, decision k -> 3 i + k
    policy = _ReplayPolicy(codes)
    cache = policy.init_cache(2, "cpu")
    sub = {k: v[[1]] for k, v in cache.items()}  # only episode 1 decides, as LatentActions indexes the cache
    written = []
    for _ in range(4):
        z, sub = policy.step(torch.zeros(1, 5), sub)
        written.append(float(z[0, 0]))
    assert written == [3.0, 4.0, 5.0, 5.0]  # its own codes, in order, then the last one held


def test_posterior_replay_counts_the_switches_and_refuses_mixed_tasks():
    from minirl.switching import posterior_replay

    base, meta = make()
    data = Trajectories(generate_gridworld("0-1-2-3", 6, seed=4, progress=False))
    out = posterior_replay(base, meta.eval(), data, layer=1)
    assert 1.0 <= out["codes_per_episode"] <= data.arrays["lengths"].max()
    assert 0.0 <= out["replay_own_layout"] <= 1.0 and 0.0 <= out["replay_other_layout"] <= 1.0
    with pytest.raises(ValueError, match="one task"):
        posterior_replay(base, meta, Trajectories(generate_gridworld("pretrain", 16, seed=4, progress=False)), 1)


def test_code_transfer_of_a_code_that_does_nothing_is_the_base_models():
    """With U = 0 (the initial hypernetwork) every controlled rollout is the base model's own, sample for sample:
    own-layout transfer equals the uncontrolled rate, and so do the place and first-move measures on the other
    layout."""
    from minirl.checkpoints import load_base_model, resolve_base
    from minirl.switching import code_transfer

    base = load_base_model(resolve_base("pretrained")).requires_grad_(False)  # reaches pairs, so rates are not 0
    torch.manual_seed(0)
    meta = Metacontroller(base.cfg.d_model, MetacontrollerConfig()).eval()
    data = Trajectories(generate_gridworld("pretrain", 64, seed=4, progress=False))
    out = code_transfer(base, meta, data, layer=2)
    assert out["transfer_own_layout"] == out["transfer_uncontrolled"] > 0
    assert out["transfer_other_layout_place"] == out["transfer_uncontrolled_place"] > 0
    assert out["transfer_other_layout_move"] == out["transfer_uncontrolled_move"] > 0
    assert all(0.0 <= v <= 1.0 for v in out.values())


def test_code_transfer_scores_a_code_that_means_its_pair_and_its_first_move(monkeypatch):
    """The bookkeeping of code_transfer, against a stand-in for the rollout: a controlled episode (code i, on
    whatever layout) reaches code i's own pair and makes the first move the expert made on code i's own layout;
    an uncontrolled one reaches nothing and makes its own layout's expert move. Such a code transfers fully
    (own and other layout 1.0, first move 1.0); the uncontrolled first-move measure is the chance that the
    previous layout's expert opened with the same move; the place measure is how often the nearest pair is
    the code's pair."""
    import minirl.switching as switching

    base, meta = make()
    data = Trajectories(generate_gridworld("pretrain", 48, seed=4, progress=False))
    first_pair = data.arrays["subgoals"][:, 0].astype(np.int64)
    first_move = data.arrays["actions"][:, 0]
    episode_of = {int(s): i for i, s in enumerate(data.arrays["seeds"])}

    def fake_rollout(env, model, layer, chooser, seeds=None, generator=None):
        env.reset(seeds)
        n = len(seeds)
        actions = np.zeros((n, 2), dtype=np.int64)
        if chooser is not None:  # row i is code i, whatever layout it runs on
            env.visited[np.arange(n), 2 * first_pair] = True
            actions[:, 0] = first_move
            return {"success": np.ones(n, bool), "actions": actions}
        actions[:, 0] = first_move[[episode_of[int(s)] for s in seeds]]
        return {"success": np.zeros(n, bool), "actions": actions}

    monkeypatch.setattr(switching, "rollout", fake_rollout)
    out = switching.code_transfer(base, meta.eval(), data, layer=1)
    assert out["transfer_own_layout"] == out["transfer_other_layout"] == 1.0
    assert out["transfer_uncontrolled"] == 0.0
    assert out["transfer_other_layout_move"] == 1.0
    assert out["transfer_uncontrolled_move"] == pytest.approx(np.mean(np.roll(first_move, 1) == first_move))
    layouts = data.arrays["layouts"]
    target = layouts[np.arange(48), data.arrays["tasks"][:, 0]]
    other = np.roll(layouts, 1, axis=0)[:, :8]
    nearest = (np.abs(other // 7 - target[:, None] // 7) + np.abs(other % 7 - target[:, None] % 7)).argmin(1) // 2
    assert out["transfer_other_layout_place"] == pytest.approx(np.mean(nearest == first_pair))
    assert out["transfer_uncontrolled_place"] == 0.0
