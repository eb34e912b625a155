"""Stage 1, pretraining, on the `tiny` preset in-process: run directory, resuming, seeding, checkpoints, the
Bayes ceiling of optimal-action accuracy, config validation, the learning-rate schedule and the CLI."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from minirl.checkpoints import load_base_model, load_checkpoint
from minirl.cli import main as cli_main
from minirl.config import pretrain_preset
from minirl.data import Trajectories, generate_gridworld
from minirl.evaluation import bayes_ceiling, heldout_metrics
from minirl.models.sequence_model import SequenceModel
from minirl.pretrain import load_data, lr_at, main
from minirl.tasks import GRID_PRETRAIN_TASKS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = dict(eval_episodes=8, heldout_episodes=16)  # for runs whose behaviour metrics the test does not read


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "tiny"
    metrics = main(pretrain_preset("tiny", out=str(out)))
    return out, metrics


@pytest.fixture(scope="module")
def first_losses(tmp_path_factory):
    """The logged loss of one-step runs: seed 0 twice, seed 1 once. Logged at step 1 = the loss before any update."""
    root = tmp_path_factory.mktemp("seeds")
    losses = []
    for i, seed in enumerate([0, 0, 1]):
        main(pretrain_preset("tiny", out=str(root / f"r{i}"), seed=seed, steps=1, **FAST))
        losses.append(read_jsonl(root / f"r{i}" / "metrics.jsonl")[0]["losses/action_nll"])
    return losses


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------- the run
def test_tiny_run_writes_its_run_directory(tiny_run):
    out, metrics = tiny_run
    for name in ("config.json", "metrics.jsonl", "metrics.json", "checkpoint.pt"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["preset"] == "tiny" and config["steps"] == 30 and config["model"]["d_model"] == 32
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["steps"] == metrics["steps"] == 30
    for key in ("optimal_action_accuracy", "optimal_action_ceiling", "valid_task_rate", "valid_task_rate_sampled",
                "fixed_task_success_sampled", "posttrain_success"):  # fmt: skip
        assert key in saved and 0.0 <= saved[key] <= 1.0, key
    assert 0.9 < saved["optimal_action_ceiling"] < 1.0
    assert saved["optimal_action_accuracy"] < saved["optimal_action_ceiling"]  # no model beats the ceiling
    assert load_checkpoint(out)["step"] == 30


def test_loss_goes_down(tiny_run, first_losses):
    out, metrics = tiny_run
    first = first_losses[0]  # same seed: same data, initialisation and first batch as the tiny run's step 1
    assert abs(first - math.log(4)) < 0.1  # a fresh model is close to uniform over the 4 actions
    last = read_jsonl(out / "metrics.jsonl")[-1]
    assert last["step"] == 30
    assert last["losses/action_nll"] < first - 0.05
    assert metrics["heldout_action_nll"] < first - 0.05


def test_same_seed_same_loss(first_losses):
    assert first_losses[0] == first_losses[1]
    assert first_losses[0] != first_losses[2]


def test_resume_continues_from_the_checkpoint(tiny_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    shutil.copytree(tiny_run[0], out)
    lines = len(read_jsonl(out / "metrics.jsonl"))
    capsys.readouterr()
    metrics = main(pretrain_preset("tiny", out=str(out), steps=40, **FAST))
    assert "at step 30" in capsys.readouterr().out
    assert metrics["steps"] == 40 and load_checkpoint(out)["step"] == 40
    logged = read_jsonl(out / "metrics.jsonl")[lines:]
    assert [r["step"] for r in logged if "losses/action_nll" in r] == [40]  # only the 10 new steps ran
    # the same command again: nothing left to train
    before = load_checkpoint(out)["state_dict"]
    lines = len(read_jsonl(out / "metrics.jsonl"))
    metrics = main(pretrain_preset("tiny", out=str(out), steps=40, **FAST))
    assert "at step 40" in capsys.readouterr().out
    assert metrics["steps"] == 40 and metrics["final_action_nll"] is None
    assert len(read_jsonl(out / "metrics.jsonl")) == lines
    after = load_checkpoint(out)["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before)


# ---------------------------------------------------------------------------------------- checkpoints
def test_load_base_model_rebuilds_the_trained_model(tiny_run):
    out, metrics = tiny_run
    _, heldout = load_data(pretrain_preset("tiny", out=str(out)))  # the held-out episodes `main` scored
    for path in (out, out / "checkpoint.pt"):
        model = load_base_model(path)
        assert isinstance(model, SequenceModel) and not model.training and model.cfg.d_model == 32
        again = heldout_metrics(model, heldout)
        assert again["optimal_action_accuracy"] == pytest.approx(metrics["optimal_action_accuracy"], abs=1e-12)
        assert again["heldout_action_nll"] == pytest.approx(metrics["heldout_action_nll"], rel=1e-9)
    torch.manual_seed(0)
    fresh = SequenceModel(model.cfg).eval()
    assert heldout_metrics(fresh, heldout)["heldout_action_nll"] != pytest.approx(metrics["heldout_action_nll"])


def test_load_checkpoint_errors(tiny_run, tmp_path):
    ckpt = tiny_run[0] / "checkpoint.pt"
    with pytest.raises(ValueError, match=r"'base_model'.*'metacontroller'"):
        load_checkpoint(ckpt, kind="metacontroller")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    no_kind = tmp_path / "no_kind.pt"
    torch.save({"state_dict": {}}, no_kind)
    for path in (truncated, garbage, no_kind):
        with pytest.raises(ValueError, match=path.name):
            load_checkpoint(path)
        with pytest.raises(ValueError, match=path.name):
            load_base_model(path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError):
        load_base_model(tmp_path / "no_such_run")


# ---------------------------------------------------------------------------------------- the Bayes ceiling
class Oracle:
    """Knows the true next colour: predicts one of the expert's optimal actions (the dataset's bitmask)."""

    action_nll = staticmethod(SequenceModel.action_nll)

    def __init__(self, data: Trajectories):
        self.data, self.next = data, 0

    def __call__(self, obs: torch.Tensor) -> dict:
        b = self.data.batch(np.arange(self.next, self.next + len(obs)))
        assert torch.equal(b["obs"], obs)  # heldout_metrics walks the episodes in order
        self.next += len(obs)
        return {"action_logits": 10.0 * b["optimal"].float()}  # (B, T, 4)


def test_bayes_ceiling_is_below_an_oracle():
    data = Trajectories(generate_gridworld("pretrain", 300, 0.0, seed=5, progress=False))
    ceiling = bayes_ceiling(data)
    assert 0.93 < ceiling < 0.99
    oracle = heldout_metrics(Oracle(data), data)["optimal_action_accuracy"]  # two batches of 256 and 44
    assert oracle == 1.0 > ceiling
    # knowing the task makes the ceiling perfect: the hidden task is the only source of error
    task = GRID_PRETRAIN_TASKS[3]
    single = Trajectories(generate_gridworld("-".join(map(str, task)), 100, 0.0, seed=5, progress=False))
    assert bayes_ceiling(single, tasks=[task]) == 1.0
    assert bayes_ceiling(single) < 1.0


# ---------------------------------------------------------------------------------------- config and schedule
@pytest.mark.parametrize(
    "name, overrides, message",
    [("huge", {}, "huge"), ("tiny", dict(lr=0.0), "lr = 0.0"), ("tiny", dict(lr=-1e-3), "lr = -0.001"),
     ("tiny", dict(steps=0), "steps = 0"), ("tiny", dict(lr_schedule="linear"), "linear"),
     ("tiny", dict(model=dict(arch="rnn")), "rnn"), ("cpu", dict(batch_size=0), "batch_size = 0")],
)  # fmt: skip
def test_pretrain_preset_rejects_bad_values(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        pretrain_preset(name, **overrides)


def test_presets_keep_their_model_when_overridden():
    cfg = pretrain_preset("tiny", model=dict(d_model=16), steps=7)
    assert (cfg.model.d_model, cfg.model.n_layers, cfg.steps, cfg.batch_size) == (16, 2, 7, 32)
    assert pretrain_preset("paper").model.d_model == 256 and pretrain_preset("paper").lr_schedule == "constant"


def test_lr_schedule():
    cfg = pretrain_preset("tiny", steps=1000, warmup_steps=10, lr=1e-3, min_lr_frac=0.1)
    lrs = np.array([lr_at(s, cfg) for s in range(1001)])
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert (np.diff(lrs[:10]) > 0).all()  # linear warm-up
    assert lrs[10] == pytest.approx(1e-3) and (np.diff(lrs[10:]) <= 1e-15).all()  # cosine decay
    assert lrs[1000] == pytest.approx(1e-4) and lrs[505] == pytest.approx(0.55e-3)  # to min_lr_frac * lr
    const = pretrain_preset("tiny", steps=1000, warmup_steps=10, lr=1e-3, lr_schedule="constant")
    assert [lr_at(s, const) for s in (10, 500, 999, 1000)] == [1e-3] * 4
    no_warmup = pretrain_preset("tiny", steps=100, warmup_steps=0, lr=1e-3)
    assert lr_at(0, no_warmup) == pytest.approx(1e-3)


# ---------------------------------------------------------------------------------------- CLI
def test_cli_pretrain_overrides(tmp_path):
    out = tmp_path / "cli"
    assert cli_main(["pretrain", "gridworld", "--preset", "tiny", "--steps", "5", "--eval_episodes", "8",
                     "--out", str(out)]) == 0  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["steps"] == 5 and config["preset"] == "tiny" and config["eval_episodes"] == 8
    assert (config["model"]["d_model"], config["model"]["n_layers"]) == (32, 2)
    assert load_checkpoint(out)["step"] == 5

    out = tmp_path / "cli_nested"
    assert cli_main(["pretrain", "gridworld", "--preset", "tiny", "--steps", "2", "--eval_episodes", "8",
                     "--model.d_model", "16", "--out", str(out)]) == 0  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert (config["model"]["d_model"], config["model"]["n_layers"], config["model"]["d_mlp"]) == (16, 2, 64)
    assert load_base_model(out).cfg.d_model == 16


def test_cli_pretrain_bad_value_exits_2(tmp_path, capsys):
    out = tmp_path / "bad"
    assert cli_main(["pretrain", "gridworld", "--preset", "tiny", "--lr", "0", "--out", str(out)]) == 2
    assert "lr = 0.0" in capsys.readouterr().err
    assert not out.exists()
