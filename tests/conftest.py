"""Shared pytest configuration: custom markers and fixtures."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering; must be set before mujoco is imported

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "notebook: executes a tutorial notebook (deselect with -m 'not notebook')")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models run ~5x faster on one thread than on two that compete with other processes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
