"""A service user with no home it may write (a system user's `/nonexistent`; here a home
that is a file, which root cannot make a folder of either): its kernels have no runtime
folder. `lpstudio run`, `scheduler` and `serve` said so as a 110-line traceback, exit 1,
which means "the job failed" though no job was made (reviewer AG, finding 4). Each now
says it in one error naming the folder and the fix, exit 2, and runs no job."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LPSTUDIO, free_port, write_recipe


@pytest.mark.parametrize(
    "command",
    [("run", "ops/x"), ("scheduler",), ("serve", "--port", "{port}")],
    ids=["run", "scheduler", "serve"],
)
def test_no_home_is_one_error_naming_the_runtime_folder_exit_2(
    ws: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    write_recipe(ws, "ops/x")
    home = tmp_path / "home"
    home.write_text("")  # no folder can be made in it
    env = {**os.environ, "HOME": str(home), "LPSTUDIO_USER": "alice"}
    for name in ("JUPYTER_RUNTIME_DIR", "XDG_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        env.pop(name, None)
    args = [part.format(port=free_port()) for part in command]
    done = subprocess.run(
        [LPSTUDIO, *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("lpstudio: error:")]
    assert len(error) == 1, done.stderr
    folder = home / ".local" / "share" / "jupyter" / "runtime" / "lpstudio"
    assert f"kernels' runtime folder {folder}" in error[0], done.stderr
    assert "fix: set JUPYTER_RUNTIME_DIR to a folder this user may write" in done.stderr
    listed = subprocess.run(
        [LPSTUDIO, "jobs", "--json", "--workspace", str(ws)], capture_output=True, text=True
    )
    assert json.loads(listed.stdout) == [], listed.stdout  # no job was made
