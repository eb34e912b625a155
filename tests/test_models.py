"""The base sequence models (transformer and Hawk) against trusted references, on small random models.

Every re-implemented primitive is checked against a reference computed another way: cached stepping vs the
full forward, the parallel scan vs its loop, hand-written attention vs `scaled_dot_product_attention`, the
embedding table vs a Linear layer on the one-hot observation. Models use init_scale 1 and float64, so that
outputs are far from zero and a real mismatch is orders of magnitude above the tolerance.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minirl.config import ModelConfig
from minirl.control import apply_controller, select_time
from minirl.data import Trajectories, generate_gridworld
from minirl.envs.grid_core import AGENT, NUM_CELLS, NUM_OBJECTS, OBS_DIM, G, one_hot
from minirl.models import CausalSelfAttention, HawkMixer, SequenceModel, linear_scan
from minirl.models.embedding import GridEmbedding
from minirl.models.transformer import RelativePositionBias, t5_bucket

pytestmark = pytest.mark.usefixtures("one_torch_thread")

L, D = 2, 32
ARCHS = ["transformer", "hawk"]
EMBEDDINGS = ["relative", "linear"]


def make_model(arch: str = "transformer", obs_embedding: str = "relative", seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(arch=arch, n_layers=L, d_model=D, n_heads=2, d_head=16, d_mlp=64, d_rnn=32,
                      obs_embedding=obs_embedding, init_scale=1.0)  # fmt: skip
    model = SequenceModel(cfg).double().eval()
    with torch.no_grad():  # move the attention biases off their smooth init, so every bucket matters
        for name, p in model.named_parameters():
            if "rel_bias" in name:
                p.add_(torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def data() -> Trajectories:
    return Trajectories(generate_gridworld("pretrain", 4, 0.0, seed=3, progress=False))


@pytest.fixture(scope="module")
def batch(data) -> dict:
    b = data.batch(np.arange(len(data)))  # obs (4, T, 13)
    assert b["obs"].shape[1] > 22  # the causality test changes steps after t = 20
    return b


def random_controllers(B: int, T: int, kind: str, rank: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    if kind == "none":
        return None
    if kind == "full":
        return 0.3 * torch.randn(B, T, D, D, generator=g, dtype=torch.float64)  # (B, T, D, D)
    A = 0.5 * torch.randn(B, T, D, rank, generator=g, dtype=torch.float64)  # (B, T, D, r)
    return A, 0.5 * torch.randn(B, T, D, rank, generator=g, dtype=torch.float64)


def far(x: torch.Tensor, y: torch.Tensor) -> bool:
    """x and y differ well above float64 round-off."""
    return (x - y).abs().max().item() > 1e-6


# ---------------------------------------------------------------------------------------- causality
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("obs_embedding", EMBEDDINGS)
@pytest.mark.parametrize("t", [0, 5, 20])
def test_outputs_up_to_t_ignore_later_observations(batch, arch, obs_embedding, t):
    model = make_model(arch, obs_embedding)
    obs = batch["obs"]
    changed = obs.clone()
    g = torch.Generator().manual_seed(t)
    changed[:, t + 1 :] = torch.randint(0, NUM_CELLS, changed[:, t + 1 :].shape, generator=g)  # other valid cells
    with torch.no_grad():
        es, es2 = model.residuals(obs), model.residuals(changed)
        heads, heads2 = model(obs), model(changed)
    for layer, (e, e2) in enumerate(zip(es, es2)):
        torch.testing.assert_close(e[:, : t + 1], e2[:, : t + 1], rtol=0, atol=1e-12, msg=f"layer {layer}")
        assert far(e[:, t + 1 :], e2[:, t + 1 :]), f"layer {layer} ignores the changed observations"
    for key in ("action_logits", "h"):
        torch.testing.assert_close(heads[key][:, : t + 1], heads2[key][:, : t + 1], rtol=0, atol=1e-12)
        assert far(heads[key][:, t + 1 :], heads2[key][:, t + 1 :])
    # the change at t+1 alone also propagates forward in time (to t+2 at the top layer)
    only_next = obs.clone()
    only_next[:, t + 1] = changed[:, t + 1]
    with torch.no_grad():
        top = model.residuals(only_next)[-1]
    assert far(top[:, t + 2], es[-1][:, t + 2])


# ---------------------------------------------------------------------------------------- cached == full
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("layer", [0, 1, L])
@pytest.mark.parametrize("kind", ["none", "full", "lowrank"])
def test_cached_stepping_equals_full_forward(batch, arch, layer, kind):
    model = make_model(arch, "relative", seed=layer)
    obs = batch["obs"]  # (B, T, 13)
    B, T = obs.shape[:2]
    U = random_controllers(B, T, kind)
    with torch.no_grad():
        e_full = model.lower(obs, layer)  # (B, T, D)
        full = model.upper(e_full, layer, U)
        state = model.init_state(B)
        e_steps, logits, hs = [], [], []
        for t in range(T):
            e = model.step_lower(obs[:, t], state, layer)  # (B, D)
            out = model.step_upper(e, state, layer, select_time(U, t))
            e_steps.append(e), logits.append(out["action_logits"]), hs.append(out["h"])
    torch.testing.assert_close(torch.stack(e_steps, 1), e_full, rtol=0, atol=1e-10)
    torch.testing.assert_close(torch.stack(logits, 1), full["action_logits"], rtol=0, atol=1e-10)
    torch.testing.assert_close(torch.stack(hs, 1), full["h"], rtol=0, atol=1e-10)
    if kind != "none":  # the controller was really applied
        assert far(full["action_logits"], model.upper(e_full, layer)["action_logits"])


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_stepping_with_linear_embedding(batch, arch):
    model = make_model(arch, "linear")
    obs = batch["obs"]
    state = model.init_state(obs.shape[0])
    with torch.no_grad():
        steps = [model.step_upper(model.step_lower(obs[:, t], state, 1), state, 1)["action_logits"]
                 for t in range(obs.shape[1])]  # fmt: skip
        torch.testing.assert_close(torch.stack(steps, 1), model(obs)["action_logits"], rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------- Hawk's scan
def scan_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    h = torch.zeros_like(b[:, 0]) if h0 is None else h0
    out = []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


@pytest.mark.parametrize("T", [1, 2, 7, 64])
@pytest.mark.parametrize("with_h0", [False, True])
def test_linear_scan_equals_the_recurrence(T, with_h0):
    g = torch.Generator().manual_seed(T)
    a = torch.rand(3, T, 5, generator=g, dtype=torch.float64)  # (B, T, D) in (0, 1)
    b = torch.randn(3, T, 5, generator=g, dtype=torch.float64)
    h0 = torch.randn(3, 5, generator=g, dtype=torch.float64) if with_h0 else None
    h = linear_scan(a, b, h0)
    assert h.shape == (3, T, 5)
    torch.testing.assert_close(h, scan_loop(a, b, h0), rtol=1e-12, atol=1e-12)


def test_linear_scan_gradients_equal_the_loop():
    g = torch.Generator().manual_seed(0)
    leaves = [torch.rand(2, 13, 4, generator=g, dtype=torch.float64), torch.randn(2, 13, 4, generator=g,
              dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64)]  # fmt: skip
    w = torch.randn(2, 13, 4, generator=g, dtype=torch.float64)
    grads = []
    for fn in (linear_scan, scan_loop):
        xs = [x.clone().requires_grad_(True) for x in leaves]
        (fn(*xs) * w).sum().backward()
        grads.append([x.grad for x in xs])
    for g_scan, g_loop in zip(*grads):
        assert g_scan.abs().max() > 0
        torch.testing.assert_close(g_scan, g_loop, rtol=1e-10, atol=1e-12)


def test_hawk_mixer_forward_equals_its_step_loop():
    torch.manual_seed(0)
    mixer = HawkMixer(16, 24, heads=3).double()
    x = torch.randn(2, 19, 16, dtype=torch.float64)  # (B, T, D)
    cache = mixer.init_cache(2)
    steps = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, cache = mixer.step(x[:, t], cache)
            steps.append(y)
        full = mixer(x)
    assert full.abs().max() > 1e-3
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------- attention
def test_attention_equals_torch_sdpa():
    torch.manual_seed(0)
    attn = CausalSelfAttention(32, heads=4, d_head=8).double()
    with torch.no_grad():
        attn.rel_bias.bias.add_(torch.randn_like(attn.rel_bias.bias))
    q, k, v = (torch.randn(2, 4, 40, 8, dtype=torch.float64) for _ in range(3))  # (B, H, T, dh)
    pos = torch.arange(40)
    bias = attn.rel_bias(pos, pos)  # (H, T, T) with -inf on future keys
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(attn.attend(q, k, v, bias), ref, rtol=1e-10, atol=1e-12)
    # one query against a cache (the decoding case), and a finite bias everywhere
    bias_one = attn.rel_bias(torch.tensor([39]), pos)  # (H, 1, T)
    ref = F.scaled_dot_product_attention(q[:, :, -1:], k, v, attn_mask=bias_one)
    torch.testing.assert_close(attn.attend(q[:, :, -1:], k, v, bias_one), ref, rtol=1e-10, atol=1e-12)
    free = torch.randn(4, 40, 40, dtype=torch.float64)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=free)
    torch.testing.assert_close(attn.attend(q, k, v, free), ref, rtol=1e-10, atol=1e-12)


def test_t5_buckets():
    lag = torch.arange(2000)
    bucket = t5_bucket(lag)
    assert bucket[:16].tolist() == list(range(16))  # exact buckets
    assert (bucket.diff() >= 0).all() and (bucket >= 0).all() and (bucket < 32).all()
    assert set(bucket[:128].tolist()) == set(range(32))  # every bucket is used below max_distance
    assert (bucket[128:] == 31).all()  # long lags saturate
    assert t5_bucket(torch.tensor([-5])).item() == 0  # future lags are masked separately; never out of range


def test_relative_bias_is_minus_inf_on_future_keys():
    rb = RelativePositionBias(heads=3)
    pos = torch.arange(12)
    bias = rb(pos, pos)  # (H, T, T)
    future = pos[None, :] > pos[:, None]  # (Tq, Tk)
    assert bias.shape == (3, 12, 12)
    assert torch.isneginf(bias[:, future]).all()
    assert torch.isfinite(bias[:, ~future]).all()
    assert torch.isfinite(rb(torch.tensor([11]), pos)).all()  # decoding: all cached keys are in the past
    # the bias depends on the lag only
    torch.testing.assert_close(bias[:, 5, 2], bias[:, 9, 6])


# ---------------------------------------------------------------------------------------- interventions
def test_apply_controller_full_low_rank_and_none():
    g = torch.Generator().manual_seed(0)
    e = torch.randn(3, 5, D, generator=g, dtype=torch.float64)  # (B, T, D)
    U = torch.randn(3, 5, D, D, generator=g, dtype=torch.float64)
    explicit = e + (U @ e[..., None])[..., 0]
    torch.testing.assert_close(apply_controller(e, U), explicit)
    A, B = (torch.randn(3, 5, D, 4, generator=g, dtype=torch.float64) for _ in range(2))
    U_ab = A @ B.transpose(-1, -2)  # (B, T, D, D), rank 4
    torch.testing.assert_close(apply_controller(e, (A, B)), e + (U_ab @ e[..., None])[..., 0])
    assert apply_controller(e, None) is e
    # one rollout step: (B, D) with per-episode controllers
    step = e[:, 0] + (U_ab[:, 0] @ e[:, 0, :, None])[..., 0]  # (B, D)
    torch.testing.assert_close(apply_controller(e[:, 0], (A[:, 0], B[:, 0])), step)
    assert select_time((A, B), 2)[0].shape == (3, D, 4) and select_time(None, 2) is None


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("layer", [0, 1, L])
def test_intervention_at_layer_l_changes_only_downstream(batch, arch, layer):
    model = make_model(arch)
    obs = batch["obs"]
    B, T = obs.shape[:2]
    U = random_controllers(B, T, "full")
    seen = {}
    hooks = [model.embed.register_forward_hook(lambda m, i, o: seen.__setitem__(0, o))]
    for k, block in enumerate(model.blocks):
        hooks.append(block.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k + 1, o)))
    with torch.no_grad():
        clean = model.residuals(obs)
        logits = model(obs)["action_logits"]
        seen.clear()
        controlled = model.upper(model.lower(obs, layer), layer, U)["action_logits"]
    for h in hooks:
        h.remove()
    assert sorted(seen) == list(range(L + 1))
    for k in range(L + 1):  # residuals up to l untouched, every later one changed
        if k <= layer:
            torch.testing.assert_close(seen[k], clean[k], rtol=0, atol=0)
        else:
            assert far(seen[k], clean[k]), f"layer {k} > {layer} did not see the intervention"
    assert far(controlled, logits)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("kind", ["full", "lowrank"])
def test_frozen_base_gets_no_gradient(batch, arch, kind):
    model = make_model(arch).requires_grad_(False)
    obs = batch["obs"]
    B, T = obs.shape[:2]
    U = random_controllers(B, T, kind)
    leaves = [U] if kind == "full" else list(U)
    for x in leaves:
        x.requires_grad_(True)
    heads = model.upper(model.lower(obs, 1), 1, U if kind == "full" else tuple(leaves))
    loss = (model.action_nll(heads, batch["actions"]) * batch["mask"]).mean()
    loss.backward()
    for x in leaves:
        assert x.grad is not None and x.grad.abs().max() > 0
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------------------------- embeddings
def test_relative_embedding_is_linear_plus_relative_term(batch):
    torch.manual_seed(0)
    rel, lin = GridEmbedding(D, relative=True).double(), GridEmbedding(D, relative=False).double()
    with torch.no_grad():
        lin.table.weight.copy_(rel.table.weight)
        lin.bias.copy_(torch.randn(D))
        rel.bias.copy_(lin.bias)
    cells = batch["obs"][:, :6]  # (B, 6, 13)
    e_rel, e_lin = rel(cells), lin(cells)
    # the relative term, written out: R[k, row_k - row_agent + 6, col_k - col_agent + 6] summed over k < 12
    term = torch.zeros_like(e_rel)
    R = rel.rel_table.weight.view(AGENT, 2 * G - 1, 2 * G - 1, D)
    for b in range(cells.shape[0]):
        for t in range(cells.shape[1]):
            ar, ac = divmod(cells[b, t, AGENT].item(), G)
            for k in range(AGENT):
                r, c = divmod(cells[b, t, k].item(), G)
                term[b, t] += R[k, r - ar + G - 1, c - ac + G - 1]
    torch.testing.assert_close(e_rel, e_lin + term)
    assert far(e_rel, e_lin)
    with torch.no_grad():
        rel.rel_table.weight.zero_()
    torch.testing.assert_close(rel(cells), e_lin, rtol=0, atol=0)


def test_linear_embedding_equals_linear_layer_on_the_one_hot(batch):
    torch.manual_seed(0)
    emb = GridEmbedding(D, relative=False).double()
    with torch.no_grad():
        emb.bias.copy_(torch.randn(D))
    table = emb.table.weight.detach()  # (13 * 49, D), row k * 49 + cell
    linear = torch.nn.Linear(OBS_DIM, D).double()
    with torch.no_grad():
        for k in range(NUM_OBJECTS):
            for cell in range(NUM_CELLS):
                linear.weight[:, NUM_OBJECTS * cell + k] = table[k * NUM_CELLS + cell]
        linear.bias.copy_(emb.bias)
    cells = batch["obs"]  # (B, T, 13)
    x = torch.as_tensor(one_hot(cells.numpy()), dtype=torch.float64)  # (B, T, 637)
    torch.testing.assert_close(emb(cells), linear(x), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------- the interface
@pytest.mark.parametrize("arch", ARCHS)
def test_residuals_are_lower_at_every_layer(batch, arch):
    model = make_model(arch)
    with torch.no_grad():
        es = model.residuals(batch["obs"])
        assert len(es) == L + 1
        for layer, e in enumerate(es):
            assert e.shape == batch["obs"].shape[:2] + (D,)
            torch.testing.assert_close(e, model.lower(batch["obs"], layer), rtol=0, atol=0)
        assert far(es[1], es[0]) and far(es[2], es[1])


@pytest.mark.parametrize("bad", [-1, L + 1, 10])
def test_layer_outside_range_raises(batch, bad):
    model = make_model()
    obs = batch["obs"][:, :3]
    e = torch.zeros(obs.shape[0], 3, D, dtype=torch.float64)
    state = model.init_state(obs.shape[0])
    calls = [
        lambda: model.lower(obs, bad),
        lambda: model.upper(e, bad),
        lambda: model.step_lower(obs[:, 0], state, bad),
        lambda: model.step_upper(e[:, 0], state, bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=rf"layer {bad}\b.*0\.\.{L}"):
            call()


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(arch="lstm"), "lstm"), (dict(obs_embedding="onehot"), "onehot"), (dict(n_layers=0), "n_layers = 0"),
     (dict(d_model=-4), "d_model = -4")],
)  # fmt: skip
def test_bad_model_config_raises_naming_the_value(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ModelConfig(**kwargs)


# ---------------------------------------------------------------------------------------- the ant's model
def make_ant_model(arch: str, seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    cfg = ModelConfig(env="ant", arch=arch, n_layers=L, d_model=D, n_heads=2, d_head=16, d_mlp=64, d_rnn=32,
                      init_scale=1.0)  # fmt: skip
    return SequenceModel(cfg).double().eval()


@pytest.mark.parametrize("arch", ARCHS)
def test_ant_model_is_causal_and_cached_stepping_equals_full(arch):
    model = make_ant_model(arch)
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(3, 12, 41, generator=g, dtype=torch.float64)  # (B, T, 41)
    changed = obs.clone()
    changed[:, 6:] = torch.randn(3, 6, 41, generator=g, dtype=torch.float64)
    with torch.no_grad():
        full, other = model(obs), model(changed)
        state = model.init_state(3)
        steps = [model.step_upper(model.step_lower(obs[:, t], state, 1), state, 1) for t in range(12)]
    for key in ("action_mean", "action_log_std"):
        assert full[key].shape == (3, 12, 8)
        torch.testing.assert_close(other[key][:, :6], full[key][:, :6], rtol=0, atol=1e-12)  # causal
        assert far(other[key][:, 6:], full[key][:, 6:])
        torch.testing.assert_close(torch.stack([s[key] for s in steps], 1), full[key], rtol=0, atol=1e-10)


def test_ant_likelihoods_equal_torch_normal():
    model = make_ant_model("hawk")
    g = torch.Generator().manual_seed(1)
    obs = torch.randn(2, 5, 41, generator=g, dtype=torch.float64)
    actions = torch.rand(2, 5, 8, generator=g, dtype=torch.float64) * 2 - 1
    heads = model(obs)
    ref = torch.distributions.Normal(heads["action_mean"], heads["action_log_std"].exp()).log_prob(actions).sum(-1)
    torch.testing.assert_close(model.action_nll(heads, actions), -ref)
    nll = model.obs_nll(heads, obs)  # (2, 5): a Gaussian over the 41 numbers of o_{t+1}
    assert nll.shape == (2, 5) and torch.isfinite(nll).all()
    nll.sum().backward()  # gradients flow through the observation head
    assert model.obs_head.weight.grad.abs().sum() > 0


def test_ant_fixed_obs_std_is_a_scaled_squared_error():
    """`obs_std` > 0: -log N(o; mean, obs_std^2 I), so it differs from 0.5 |o - mean|^2 / obs_std^2 by a constant."""
    model = make_ant_model("hawk")
    model.cfg = dataclasses.replace(model.cfg, obs_std=0.5)
    obs = torch.randn(2, 5, 41, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    heads = model(obs)
    mean = model.obs_head(heads["h"])[..., :41]
    const = 41 * (math.log(0.5) + 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(model.obs_nll(heads, obs), 0.5 * ((obs - mean) / 0.5).pow(2).sum(-1) + const)
    with pytest.raises(ValueError, match="obs_std"):
        ModelConfig(env="ant", arch="hawk", obs_std=-1.0)


def test_model_env_is_checked():
    with pytest.raises(ValueError, match="atari"):
        ModelConfig(env="atari")
