"""The scripts in docs/diagnostics/ (what the metacontroller's codes hold; docs/gridworld_findings.md) still run,
on small sizes, and the deterministic expert is what it says."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from minirl.checkpoints import load_base_model, load_metacontroller, resolve_base, resolve_metacontroller
from minirl.config import ControllerConfig, MetacontrollerConfig, ModelConfig
from minirl.controllers import train_controllers
from minirl.data import Trajectories, generate_gridworld
from minirl.envs.grid_batch import GridPinpadBatch
from minirl.envs.grid_core import one_hot
from minirl.experts.grid_expert import GridExpert
from minirl.metacontroller import Metacontroller
from minirl.models.sequence_model import SequenceModel
from minirl.rollout import rollout
from minirl.worlds import expert_episodes

DIAGNOSTICS = Path(__file__).resolve().parents[1] / "docs" / "diagnostics"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("code_regression.py", ["--episodes", "300", "--probe"], "the cell of colour 0 (49): held-out R^2"),
        ("code_pointer.py", ["--episodes", "200"], "other layouts have a colour on the code's cell"),
        (
            "distil_codes.py",
            ["--episodes", "100", "--steps", "5", "--eval_episodes", "64", "--deterministic"],
            "distilled policy",
        ),
        ("switch_value.py", ["--episodes", "32"], "objective per episode at alpha 0.3"),
        (
            "best_codes.py",
            "--episodes 100 --steps 3 --test_episodes 16 --gains 1,2 --free --init_std 1".split(),
            "0-1-2-3: codes at the switching unit's times, gain 2: success",
        ),
        (
            "policy_input.py",
            "rl gridworld --task 0-1-4-5 --iterations 2 --batch_size 32 --eval_episodes 32 --out RUN".split(),
            "internal: success",
        ),
    ],
)
def test_diagnostic_scripts_run(script, args, expect, tmp_path):
    args = [str(tmp_path / "run") if a == "RUN" else a for a in args]
    assert expect in run_diagnostic(script, args)


def run_diagnostic(script: str, args: list) -> str:
    """Run a script of docs/diagnostics on one thread; its stdout, after checking that it exited cleanly."""
    out = subprocess.run([sys.executable, str(DIAGNOSTICS / script), *args], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""}, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def diagnostic(name: str):
    sys.path.insert(0, str(DIAGNOSTICS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(DIAGNOSTICS))


def test_deterministic_expert_takes_the_first_shortest_path_action(monkeypatch):
    _first_optimal_action = diagnostic("deterministic_expert")._first_optimal_action
    monkeypatch.setattr(GridExpert, "act", _first_optimal_action)
    a = generate_gridworld("pretrain", 64, seed=3, progress=False)
    real = np.arange(a["actions"].shape[1])[None] < a["lengths"][:, None]  # (N, T) steps inside the episode
    first = np.argmax([(a["optimal"] >> k) & 1 for k in range(4)], axis=0)  # the lowest optimal action
    assert a["success"].all() and (a["actions"][real] == first[real]).all()


def test_observation_policy_reads_the_residual_and_the_observation_of_each_deciding_episode():
    policy_input = diagnostic("policy_input")
    torch.manual_seed(0)
    base = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).eval()
    meta = Metacontroller(32, MetacontrollerConfig(rank=4))
    with torch.no_grad():
        meta.switch_unit[-1].bias.fill_(1e4)  # a decision at every step
    B = 8
    chooser = policy_input.ObservationActions(meta, policy_input.observation_policy(32, 8, 16), B, "cpu")
    r = rollout(GridPinpadBatch(B, task="0-1-4-5"), base, 1, chooser, seeds=np.arange(B), record_obs=True,
                record_residuals=True)  # fmt: skip
    d = chooser.decisions()
    assert d["e"].shape[-1] == 32 + 637 and (d["mask"].sum(1).numpy() == r["length"]).all()
    for i in range(B):  # decision k of episode i happened at raw step k: e_k, then o_k as a one-hot
        n = r["length"][i]
        torch.testing.assert_close(d["e"][i, :n, :32], r["residuals"][i, :n])
        assert (d["e"][i, :n, 32:].numpy() == one_hot(r["obs"][i, :n])).all()


def test_controller_gain_repeats_minirl_control_at_gains_0_and_1(tmp_path):
    from minirl.config import ControllerConfig, stage_preset
    from minirl.controllers import main

    cfg = stage_preset(ControllerConfig, "tiny", layers="mid", task="0-1-2-3", eval_episodes=64, out=str(tmp_path))
    m = main(cfg)
    args = ["--controllers", str(tmp_path), "--episodes", "64", "--gains", "0,1,2"]
    out = subprocess.run([sys.executable, str(DIAGNOSTICS / "controller_gain.py"), *args], capture_output=True,
                         text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""}, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("gain ")]
    assert [line.split(":")[0] for line in lines] == ["gain 0", "gain 1", "gain 2"]
    assert f"success {m['uncontrolled_success']:.3f}" in lines[0]
    assert f"success {m['gt_controller_success'][0]:.3f}" in lines[1]


def test_switch_value_integrates_as_the_metacontroller_and_holds_only_the_extra_switches():
    switch_value = diagnostic("switch_value")
    torch.manual_seed(0)
    base = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).eval()
    meta = Metacontroller(32, MetacontrollerConfig(rank=4)).eval()
    with torch.no_grad():  # a controller that changes the actions, so holding a code changes the NLL
        meta.hyper[-1].weight.normal_(0, 0.3)
    data = expert_episodes("gridworld", "pretrain", 12, seed=3)
    b = data.batch(np.arange(12), "cpu")
    out = meta(base.lower(b["obs"], 1), b["mask"], sample=False)
    torch.testing.assert_close(switch_value.integrate(out["mu"], out["beta"]), out["z"])
    lengths, sg = data.arrays["lengths"], data.arrays["subgoals"]
    starts = sum(int((np.diff(sg[i, : lengths[i]]) != 0).sum()) + 1 for i in range(12))  # t = 0 and boundaries
    for bias, extra in ((-1e4, 0.0), (1e4, (lengths.sum() - starts) / 12)):  # never / always switch
        with torch.no_grad():
            meta.switch_unit[-1].bias.fill_(bias)
        v = switch_value.switch_value(base, meta, 1, data, batch_size=5)
        assert v["extra_switches"] == pytest.approx(extra)
        assert (v["nll_held"] == pytest.approx(v["nll"])) == (extra == 0)


def test_best_codes_fit_only_the_codes_and_lower_the_nll():
    best_codes = diagnostic("best_codes")
    torch.manual_seed(0)
    base = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).requires_grad_(False)
    meta = Metacontroller(32, MetacontrollerConfig(rank=4)).requires_grad_(False)
    for p in meta.hyper.parameters():  # a decoder whose output moves with z (the zero-initialised last layer would not)
        p.normal_(0, 0.3)
    before = [p.clone() for p in [*base.parameters(), *meta.parameters()]]
    codes = best_codes.DecodedCodes(meta)
    data = Trajectories(generate_gridworld("pretrain", 64, seed=1, progress=False))
    cfg = ControllerConfig(steps=30, lr=3e-2, batch_size=16, log_every=10, weight_decay=0.0)
    fitted, curve = train_controllers(base, 1, data, cfg, "cpu", ctrl=codes)
    assert fitted is codes and codes.z.abs().sum() > 0
    assert all(torch.equal(a, b) for a, b in zip(before, [*base.parameters(), *meta.parameters()]))
    assert curve[-1][1] < curve[0][1]


@pytest.mark.parametrize("bias", [-1e4, 1e4])
def test_best_codes_oracle_writes_a_code_only_when_the_switching_unit_fires(bias):
    best_codes = diagnostic("best_codes")
    torch.manual_seed(0)
    base = SequenceModel(ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, d_mlp=64)).eval()
    meta = Metacontroller(32, MetacontrollerConfig(rank=4))
    with torch.no_grad():
        meta.switch_unit[-1].bias.fill_(bias)  # never fires (only t = 0 decides) or fires at every step
    codes = best_codes.DecodedCodes(meta)
    codes.z.data.normal_()
    B = 8
    chooser = best_codes.OracleAtSwitches(meta, codes, B, "cpu")
    r = rollout(GridPinpadBatch(B, task="0-1-2-3"), base, 1, chooser, seeds=np.arange(B))
    expected = np.ones(B) if bias < 0 else r["length"]
    assert (chooser.count.numpy() == expected).all()
    z = chooser.decisions()["z"][chooser.decisions()["mask"]]  # (N, n_z): every written code is some z_g
    assert (z[:, None] == codes.z.detach()[None]).all(-1).any(1).all()


def test_best_codes_train_decoder_saves_a_metacontroller_with_only_its_decoder_changed(tmp_path):
    out_path = tmp_path / "meta.pt"
    args = "--episodes 100 --steps 3 --test_episodes 16 --gains 1 --train_decoder --task 0-1-2-3".split()
    stdout = run_diagnostic("best_codes.py", [*args, "--save_metacontroller", str(out_path)])
    assert "pairwise cosine of the codes:" in stdout
    model = load_base_model(resolve_base("pretrained"))
    old, _, _ = load_metacontroller(resolve_metacontroller("pretrained"), model)
    new, _, ckpt = load_metacontroller(out_path, model)
    assert ckpt["codes"].shape == (4, new.n_z)
    for (name, a), b in zip(old.state_dict().items(), new.state_dict().values()):
        assert torch.equal(a, b) != name.startswith("hyper."), name


def test_rank_runs_scores_every_run_on_the_same_episodes_and_sorts_by_the_objective(tmp_path):
    """Two tiny runs: the held-out objective is NLL + alpha * KL on common episodes, lowest first; scoring a run
    again repeats it exactly; a directory that is not a metacontroller run is refused by name."""
    from minirl.config import stage_preset
    from minirl.discovery import main as meta_main

    rank_runs = diagnostic("rank_runs")
    runs = [str(tmp_path / f"s{s}") for s in (0, 1)]
    for seed, run in enumerate(runs):
        meta_main(stage_preset(MetacontrollerConfig, "tiny", out=run, steps=3, seed=seed, alpha=0.3))
    groups = rank_runs.main([*runs, "--episodes", "24"])
    ((key, rows),) = groups.items()
    assert key == ("pretrained", 0.3) and sorted(r["run"] for r in rows) == sorted(runs)
    assert [r["objective"] for r in rows] == sorted(r["objective"] for r in rows)
    for r in rows:
        assert r["objective"] == pytest.approx(r["nll"] + 0.3 * r["kl"])
        assert rank_runs.score(r["run"], 24, 90_000)["objective"] == r["objective"]
    with pytest.raises(SystemExit, match="not-a-run"):
        rank_runs.main([str(tmp_path / "not-a-run")])
