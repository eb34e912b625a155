"""The `minirl` command, in-process (`minirl.cli.main`) and as `python -m minirl`."""

import subprocess
import sys
from pathlib import Path

import gymnasium
import mujoco
import pytest
import torch

from minirl.cli import main
from minirl.data import load_dataset


def test_data_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert main(["data", "gridworld", "--episodes", "50", "--task", "2-3-6-7", "--seed", "4", "--out", str(out)]) == 0
    data = load_dataset(out)
    assert len(data) == 50
    assert data.meta["task"] == "2-3-6-7" and data.meta["seed"] == 4
    assert (data.arrays["tasks"] == [2, 3, 6, 7]).all() and data.arrays["success"].all()
    printed = capsys.readouterr().out
    assert "episodes=50" in printed and "success_rate=1.0" in printed


def test_data_defaults_to_pretraining_tasks(tmp_path):
    out = tmp_path / "d.npz"
    assert main(["data", "gridworld", "--episodes", "50", "--out", str(out)]) == 0
    data = load_dataset(out)
    assert len(data) == 50 and data.meta["task"] == "pretrain" and data.meta["epsilon"] == 0.0


@pytest.mark.parametrize("task", ["0-x", "0-9", "0--1", "1.5", "0-1,"])
def test_malformed_task_exits_with_code_2_naming_it(tmp_path, capsys, task):
    out = tmp_path / "d.npz"
    assert main(["data", "gridworld", "--episodes", "5", "--task", task, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "error" in err and (repr(task) in err or task in err), err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, name",
    [(["--epsilon", "1.5"], "epsilon"), (["--episodes", "0"], "episodes"), (["atari"], "atari")],
)
def test_out_of_range_values_exit_with_code_2(tmp_path, capsys, args, name):
    out = tmp_path / "d.npz"
    argv = ["data", *args, "--out", str(out)] if args == ["atari"] else ["data", "gridworld", *args, "--out", str(out)]
    assert main(argv) == 2
    assert name in capsys.readouterr().err
    assert not out.exists()


def test_doctor_prints_versions(capsys):
    assert main(["doctor"]) == 0
    printed = capsys.readouterr().out
    for name, version in (("torch", torch.__version__), ("gymnasium", gymnasium.__version__),
                          ("mujoco", mujoco.__version__)):  # fmt: skip
        line = next(line for line in printed.splitlines() if line.strip().startswith(f"{name}:"))
        assert version in line


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train-everything"])
    assert exit_.value.code == 2


def test_python_m_minirl_help():
    result = subprocess.run([sys.executable, "-m", "minirl", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "data" in result.stdout and "doctor" in result.stdout
    result = subprocess.run([sys.executable, "-m", "minirl", "data", "--help"], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for flag in ("--task", "--episodes", "--epsilon", "--seed", "--out"):
        assert flag in result.stdout


def test_help_shows_the_cpu_preset_where_it_differs_from_the_default(capsys):
    """A command without a flag runs the `cpu` preset, so `--help` must say what that gives, not only the field's
    default."""
    from minirl.config import ModelConfig, PretrainConfig, pretrain_preset

    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    cpu = pretrain_preset("cpu")
    assert cpu.steps != PretrainConfig.steps and cpu.seed == PretrainConfig.seed
    assert f"(default: {PretrainConfig.steps}; the cpu preset, gridworld: {cpu.steps})" in text
    assert f"(default: {ModelConfig.d_mlp}; the cpu preset, gridworld: {cpu.model.d_mlp})" in text  # a nested field
    assert f"(default: {PretrainConfig.seed}) " in text  # the same in both: the default alone


def test_every_module_imports_first_in_a_fresh_interpreter():
    """No import cycle depends on which module a user imports first (presets <-> config once did)."""
    import minirl

    root = Path(minirl.__file__).parent
    names = sorted("minirl." + ".".join(p.relative_to(root).with_suffix("").parts) for p in root.rglob("*.py"))
    names = [n.removesuffix(".__init__") for n in names if not n.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        "for n in sys.argv[1:]:  # each one first: forget every minirl module imported before it\n"
        "    for m in [k for k in sys.modules if k.startswith('minirl')]:\n"
        "        del sys.modules[m]\n"
        "    importlib.import_module(n)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "minirl.presets" in names and "minirl.config" in names


def test_expert_tiny_then_ant_data(tmp_path, capsys):
    run = tmp_path / "expert"
    assert main(["expert", "ant", "--preset", "tiny", "--out", str(run)]) == 0
    assert (run / "metrics.json").exists() and (run / "checkpoint.pt").exists()
    out = tmp_path / "ant.npz"
    argv = ["data", "ant", "--episodes", "2", "--expert", str(run), "--actions", "mean", "--out", str(out)]
    assert main(argv) == 0
    assert "episodes=2" in capsys.readouterr().out and out.exists()


@pytest.mark.parametrize("argv, name", [(["expert", "gridworld"], "gridworld"), (["expert", "ant", "--lr", "5"], "lr"),
                                        (["data", "ant", "--expert", "missing-run"], "missing-run")])  # fmt: skip
def test_expert_bad_input_exits_with_code_2(tmp_path, capsys, argv, name):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert name in capsys.readouterr().err
