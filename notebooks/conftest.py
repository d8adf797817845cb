"""nbval runs the templates by hand, against a sandbox workspace.

A template run by hand finds its connections in the workspace named by
`$LPSTUDIO_WORKSPACE` and only dry-runs its actions. nbval starts one kernel per notebook
when the notebook's first cell runs, and the kernel inherits this process's environment.
nbval's cells are not pytest functions, so fixtures never run for them: the workspace is
made in `pytest_configure` instead, before any kernel starts, and removed at the end.

It sits above templates/, which the wheel installs as lpstudio/templates: a package user
has no pytest, and the gallery copies only notebooks and the files they list.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

ENV_VAR = "LPSTUDIO_WORKSPACE"


class SandboxWorkspace:
    """A sandbox on a thread, a workspace whose connections point at it, and the variable
    that makes kernels use that workspace."""

    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.folder = Path(tempfile.mkdtemp(prefix="lpstudio-nbval-"))
        self.previous = os.environ.get(ENV_VAR)

    def start(self) -> None:
        url = self.sandbox.start()
        root = self.folder / "ws"
        # Adds the connections `liveperson` and `shopify`, pointing at the sandbox.
        with Studio.init(root, accept_terms=True, admin="nbval", sandbox=url) as studio:
            studio.connections.add("optins", "csv_file", {"path": "data/optins.csv"}, "nbval")
            studio.connections.add("http", "http", {}, "nbval")
        os.environ[ENV_VAR] = str(root)

    def stop(self) -> None:
        if self.previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = self.previous
        self.sandbox.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


_KEY = pytest.StashKey[SandboxWorkspace]()


def pytest_configure(config: pytest.Config) -> None:
    nbval = config.getoption("nbval", False) or config.getoption("nbval_lax", False)
    # Under xdist the controller runs no notebook: each worker makes its own workspace.
    controller = config.getoption("numprocesses", None) and not hasattr(config, "workerinput")
    if nbval and not controller:
        workspace = SandboxWorkspace()
        workspace.start()
        config.stash[_KEY] = workspace


def pytest_unconfigure(config: pytest.Config) -> None:
    workspace = config.stash.get(_KEY, None)
    if workspace is not None:
        workspace.stop()
