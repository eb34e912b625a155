"""Internal RL's building blocks: the critic-free PPO loss, the latent policy and the latent-action chooser."""

import json

import numpy as np
import pytest
import torch

from minirl.checkpoints import resolve_metacontroller
from minirl.config import RL_METHODS, MetacontrollerConfig, ModelConfig
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.latent_env import LatentActions, LatentPolicy
from minirl.metacontroller import Metacontroller
from minirl.models.sequence_model import SequenceModel
from minirl.ppo import clipped_surrogate, normalised_advantage
from minirl.rollout import rollout

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_normalised_advantage_by_hand():
    adv = normalised_advantage(torch.tensor([1.0, 0.0, 0.0, 0.0]), delta=0.0)
    # mean 0.25, std sqrt(0.1875) = 0.4330: (0.75, -0.25, -0.25, -0.25) / 0.4330
    torch.testing.assert_close(adv, torch.tensor([1.7321, -0.5774, -0.5774, -0.5774]), atol=1e-4, rtol=0)
    assert (normalised_advantage(torch.zeros(8)) == 0).all()  # no success in the batch: no signal, no NaN
    assert torch.isfinite(normalised_advantage(torch.ones(8))).all()


def test_clipped_surrogate_by_hand():
    # episode 0: A = +1, ratios e^0.5 = 1.65 (clipped to 1.2) and 1; episode 1: A = -1, ratio e^-0.5 = 0.61 (clipped
    # to 0.8, and min(-0.61, -0.8) = -0.8), third step padding.
    logp_old = torch.zeros(2, 3)
    logp = torch.tensor([[0.5, 0.0, 9.0], [-0.5, 0.0, 9.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    loss, stats = clipped_surrogate(logp, logp_old, torch.tensor([1.0, -1.0]), mask, clip=0.2)
    expected = -(1.2 + 1.0 - 0.8 - 1.0) / 4
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats["clip_fraction"] == pytest.approx(0.5)
    # gradients flow only through unclipped terms
    logp.requires_grad_(True)
    clipped_surrogate(logp, logp_old, torch.tensor([1.0, -1.0]), mask)[0].backward()
    assert logp.grad[0, 0] == 0 and logp.grad[1, 0] == 0 and logp.grad[0, 1] != 0 and logp.grad[0, 2] == 0


def test_policy_starts_at_the_prior_and_step_equals_forward():
    torch.manual_seed(0)
    pol = LatentPolicy(32, 8, width=16, heads=2)
    e = torch.randn(3, 5, 32)
    assert pol(e).abs().max() == 0 and (pol.log_std == 0).all()  # N(0, I) at initialisation
    torch.nn.init.normal_(pol.mean.weight)
    full, cache = pol(e), pol.init_cache(3, "cpu")
    for t in range(5):
        mean, cache = pol.step(e[:, t], cache)
        torch.testing.assert_close(mean, full[:, t], atol=1e-5, rtol=1e-5)
    z = torch.randn(3, 8)
    ref = torch.distributions.MultivariateNormal(full[:, 0], torch.eye(8)).log_prob(z)
    torch.testing.assert_close(pol.log_prob(full[:, 0], z), ref)


@pytest.mark.parametrize("switch_bias, expect", [(-1e4, "once"), (1e4, "every step")])
def test_latent_actions_decide_exactly_when_the_switch_fires(switch_bias, expect):
    torch.manual_seed(0)
    base = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).eval()
    meta = Metacontroller(32, MetacontrollerConfig(rank=4))
    with torch.no_grad():
        meta.switch_unit[-1].bias.fill_(switch_bias)
    pol = LatentPolicy(32, 8, width=16, heads=2)
    B = 16
    chooser = LatentActions(meta, pol, B, "cpu", torch.Generator().manual_seed(0))
    r = rollout(GridPinpadBatch(B, task="posttrain"), base, 1, chooser, seeds=np.arange(B))
    d = chooser.decisions()
    counts = d["mask"].sum(1).numpy()
    if expect == "once":  # only the forced first decision at t = 0
        assert (counts == 1).all()
        assert (d["t"][:, 0] == 0).all()
    else:  # every raw step of a running episode is a decision, none after it ends
        assert (counts == r["length"]).all()
        for i in range(B):  # the recorded raw step of each decision: 0, 1, ..., length - 1
            assert d["t"][i, : counts[i]].tolist() == list(range(counts[i]))
    assert (d["t"][~d["mask"]] == -1).all()
    assert d["e"].shape == (B, counts.max(), 32) and d["z"].shape == (B, counts.max(), 8)
    assert (d["z"][~d["mask"]] == 0).all()


# ------------------------------------------------------------------------------- the stage, on tiny
@pytest.mark.parametrize("method", ["internal", "raw"])
def test_rl_tiny_runs_and_writes_its_run_directory(method, tmp_path):
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main

    m = main(stage_preset(RLConfig, "tiny", method=method, out=str(tmp_path)))
    assert m["episodes"] == 2 * 16 and len(m["curve"]) == 2 and 0.0 <= m["success"] <= 1.0
    for name in ("config.json", "metrics.json", "metrics.jsonl", "checkpoint.pt", "success.png"):
        assert (tmp_path / name).exists(), name


def test_raw_rl_moves_the_base_model_and_internal_rl_only_the_policy(tmp_path):
    """A batch with successes gives nonzero advantages: raw RL must change the base weights; internal RL the
    policy only (the committed base model stays bit-identical)."""
    from minirl.checkpoints import load_base_model, load_checkpoint, resolve_base
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main

    before = load_base_model(resolve_base("pretrained")).state_dict()
    kw = dict(task="0-1", batch_size=32, iterations=2, lr=1e-2)  # one pair: a quarter of episodes succeed
    main(stage_preset(RLConfig, "tiny", method="raw", out=str(tmp_path / "raw"), **kw))
    after = load_checkpoint(tmp_path / "raw" / "checkpoint.pt")["state_dict"]
    assert any(not torch.equal(before[k], after[k]) for k in before)
    main(stage_preset(RLConfig, "tiny", method="internal", out=str(tmp_path / "int"), **kw))
    policy = load_checkpoint(tmp_path / "int" / "checkpoint.pt")["state_dict"]
    assert set(policy) >= {"mean.weight", "log_std"} and policy["mean.weight"].abs().sum() > 0
    assert all(torch.equal(before[k], v) for k, v in load_base_model(resolve_base("pretrained")).state_dict().items())


@pytest.mark.parametrize("method", ["internal", "raw"])
def test_rl_same_seed_same_run(method, tmp_path):
    """Two runs with one seed (and one torch thread) learn the same weights and print the same curve: the
    README's RL numbers can be rerun exactly. The task lets a quarter of episodes succeed, so updates happen."""
    from minirl.checkpoints import load_checkpoint
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main

    kw = dict(method=method, task="0-1", batch_size=32, iterations=2, lr=1e-2, seed=3)
    runs = [main(stage_preset(RLConfig, "tiny", out=str(tmp_path / str(i)), **kw)) for i in range(2)]
    assert runs[0]["curve"] == runs[1]["curve"] and runs[0]["success"] == runs[1]["success"]
    assert max(s for _, s in runs[0]["curve"]) > 0  # nonzero advantages: the weights did move
    a, b = (load_checkpoint(tmp_path / str(i) / "checkpoint.pt")["state_dict"] for i in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", ["internal", "raw"])
def test_rl_resumes_to_the_same_run(method, tmp_path, capsys):
    """Two iterations, then the same command with four, equals four in one go: weights, curve, final success.
    A run directory that holds another run's settings is refused by name."""
    from minirl.checkpoints import load_checkpoint
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main

    kw = dict(method=method, task="0-1", batch_size=32, lr=1e-2, seed=3, checkpoint_every=1)
    whole = main(stage_preset(RLConfig, "tiny", iterations=4, out=str(tmp_path / "whole"), **kw))
    main(stage_preset(RLConfig, "tiny", iterations=2, out=str(tmp_path / "parts"), **kw))
    log = tmp_path / "parts" / "metrics.jsonl"
    with open(log, "a") as f:  # as if it had crashed after logging iteration 3, before its checkpoint
        f.write('{"step": 3, "charts/success": 0.5}\n{"step": 4, "charts/succ')
    parts = main(stage_preset(RLConfig, "tiny", iterations=4, out=str(tmp_path / "parts"), **kw))
    assert "resuming" in capsys.readouterr().out
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4] and [r["charts/success"] for r in logged] == [
        s for _, s in parts["curve"]
    ]  # the crashed run's lines are gone, each iteration logged once
    assert parts["curve"] == whole["curve"] and parts["success"] == whole["success"] and len(parts["curve"]) == 4
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt")["state_dict"] for d in ("whole", "parts"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="lr=0.01"):
        main(stage_preset(RLConfig, "tiny", iterations=4, out=str(tmp_path / "parts"), **{**kw, "lr": 1e-3}))


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(method="compile-ish"), "method"),
        (dict(task="0-9"), "9"),
        (dict(clip=0.0), "clip"),
        (dict(iterations=0), "iterations"),
        (dict(layouts=-1), "layouts"),
    ],
)
def test_rl_config_rejects_bad_values(kw, name):
    from minirl.config import RLConfig

    with pytest.raises(ValueError, match=name):
        RLConfig(**kw)


def test_episode_seeds_fresh_or_from_a_fixed_pool():
    from minirl.config import RLConfig
    from minirl.rl import episode_seeds

    fresh = episode_seeds(RLConfig(), np.random.default_rng(0), 512)
    assert len(np.unique(fresh)) == 512  # a new layout every episode
    pooled = [episode_seeds(RLConfig(layouts=3), np.random.default_rng(i), 512) for i in range(2)]
    assert len(np.unique(pooled[0])) == 3 and set(pooled[0]) == set(pooled[1])  # the same 3, every call
    assert set(episode_seeds(RLConfig(layouts=3, seed=1), np.random.default_rng(0), 512)) != set(pooled[0])


def test_baseline_methods_refuse_the_wrong_metacontroller(tmp_path):
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main

    internal = str(resolve_metacontroller("pretrained", "internal"))  # trained on the frozen base, with beta
    for method, flag in (("no-temporal", "no_temporal"), ("cotrained", "cotrain")):
        with pytest.raises(ValueError, match=flag):
            main(stage_preset(RLConfig, "tiny", method=method, metacontroller=internal, out=str(tmp_path / method)))


@pytest.mark.parametrize("method", [m for m in RL_METHODS if m != "raw"])
def test_committed_metacontroller_of_every_latent_method_loads(method):
    """`--metacontroller pretrained` finds a committed checkpoint for each latent method, trained on the committed
    base, with the flags that method requires, and a provenance sidecar."""
    from minirl.checkpoints import load_base_model, load_checkpoint, resolve_base
    from minirl.runs import read_json

    path = resolve_metacontroller("pretrained", method)
    assert read_json(path.with_suffix(".json"))["command"].startswith("minirl ")
    ckpt = load_checkpoint(path)
    if ckpt["kind"] == "metacontroller":
        from minirl.checkpoints import load_metacontroller

        load_metacontroller(path, load_base_model(resolve_base("pretrained")))  # refuses another base
        assert ckpt["config"]["no_temporal"] == (method == "no-temporal")
        assert ckpt["config"]["cotrain"] == (method == "cotrained")


def test_internal_rl_benchmark_runs_both_rows():
    """The benchmark's two rollouts (batched + cached, naive) run; their speed is printed there, never asserted."""
    import importlib.util
    from pathlib import Path

    from minirl.checkpoints import load_base_model, load_metacontroller, resolve_base, resolve_metacontroller

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "internal_rl_throughput.py"
    spec = importlib.util.spec_from_file_location("internal_rl_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    model = load_base_model(resolve_base("pretrained")).requires_grad_(False)
    meta, layer, _ = load_metacontroller(resolve_metacontroller("pretrained"), model)
    policy = LatentPolicy(model.cfg.d_model, meta.n_z, width=16, heads=2)
    device = torch.device("cpu")
    assert bench.batched(model, meta, policy, layer, 4, device) > 0
    assert bench.naive(model, meta, policy, layer, 1, device) > 0


def test_committed_gpu_checkpoints_load_together_and_only_together(tmp_path):
    """The `gpu`-preset base and metacontroller made on a GPU (minirl/pretrained/*_gpu.*) load on a CPU, fit each
    other, carry their provenance, run a tiny internal-RL stage, and the metacontroller refuses the `cpu` base."""
    from minirl.checkpoints import PRETRAINED_DIR, load_base_model, load_metacontroller, resolve_base
    from minirl.config import RLConfig, stage_preset
    from minirl.rl import main
    from minirl.runs import read_json

    base, meta = PRETRAINED_DIR / "gridworld_base_gpu.pt", PRETRAINED_DIR / "gridworld_metacontroller_gpu.pt"
    for path in (base, meta):
        assert "H200" in read_json(path.with_suffix(".json"))["device"]
    model = load_base_model(base)
    assert (model.cfg.n_layers, model.cfg.d_model) == (6, 128)
    _, layer, _ = load_metacontroller(meta, model)
    assert layer == 3  # L/2
    with pytest.raises(ValueError, match="another base model"):
        load_metacontroller(meta, load_base_model(resolve_base("pretrained")))
    out = main(stage_preset(RLConfig, "tiny", method="internal", base=str(base), metacontroller=str(meta),
                            out=str(tmp_path / "rl")))  # fmt: skip
    assert out["episodes"] > 0
