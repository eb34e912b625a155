"""Execute every tutorial notebook in fast mode (MINIRL_FAST=1) and fail on any cell error.

Each notebook ends with an assertion on its key result, so running it is its test. The kernel is pinned to
the interpreter running pytest (ipykernel's built-in `python3` spec, i.e. `sys.executable`), whether or not
the virtualenv is activated and whatever kernelspecs the user has installed. Deselect with `-m "not notebook"`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300

pytestmark = pytest.mark.notebook


def kernel_manager() -> AsyncKernelManager:
    """A manager for ipykernel's own `python3` spec: it launches `sys.executable -m ipykernel_launcher`."""
    specs = KernelSpecManager(kernel_dirs=[])  # skip installed kernelspecs; the native one is always found
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
    assert km.kernel_spec.argv[0] == sys.executable, km.kernel_spec.argv
    return km


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIRL_FAST", "1")  # the kernel inherits os.environ: small sizes, never patched text
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display needed
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=kernel_manager(), timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the failing cell and traceback, on any error


def test_tutorials_exist() -> None:
    assert NOTEBOOKS, f"no notebooks found in {TUTORIALS}"
