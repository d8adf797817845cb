"""The Jupyter server extension: lpstudio's REST API under `/lpstudio/api/v1/`.

Enabled in JupyterLab's server by `jupyter-config/jupyter_server_config.d/lpstudio.json`,
or run headless with `serve()` (the `lpstudio serve` command).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["LpstudioApp", "serve"]


def __getattr__(name: str) -> Any:
    # jupyter_server is imported only by what serves, not by `import lpstudio.server`.
    if name == "LpstudioApp":
        from .app import LpstudioApp

        return LpstudioApp
    raise AttributeError(name)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import LpstudioApp

    return [{"module": "lpstudio.server.app", "app": LpstudioApp}]


def serve(
    ip: str = "127.0.0.1",
    port: int = 8888,
    workspace: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    allow_root: bool = False,
) -> None:
    """Runs a headless Jupyter server with only this extension, and none of Jupyter's own
    services (`serveonly.ServeOnlyServerApp`), until it is stopped.

    `extra_args` are more Jupyter options, e.g. `--IdentityProvider.token=...` or
    `--LpstudioApp.call_timeout=10`."""
    from .app import LpstudioApp

    argv = [
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        # This server is lpstudio's API and nothing else: a bad setting of it (e.g.
        # --LpstudioApp.call_timeout=abc) stops it instead of leaving it running without.
        "--ServerApp.reraise_server_extension_failures=True",
    ]
    if allow_root:  # containers and CI often run as root; Jupyter refuses it by default
        argv.append("--ServerApp.allow_root=True")
    if workspace is not None:
        root = Path(workspace).expanduser().resolve()
        argv += [f"--LpstudioApp.workspace={root}", f"--ServerApp.root_dir={root}"]
    LpstudioApp.launch_instance(argv=[*argv, *extra_args])
