"""A workspace holds customers' data (the store, output notebooks), failure-webhook URLs with
their tokens and maybe a database password (lpstudio.toml): no other OS user of the machine
may read any of it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.studio import Studio

from .conftest import run_cli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The umask of most machines: new files readable by everyone unless lpstudio says not."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_init_makes_the_workspace_its_owner_s_only(tmp_path: Path) -> None:
    """`lpstudio init` left the workspace 0755 and its store, settings and history 0644:
    any user of the machine could copy lpstudio.db. A folder made beforehand (`mkdir
    brand`) is made its owner's too."""
    made_before = tmp_path / "made_before"
    made_before.mkdir()
    for root in (tmp_path / "new" / "brand", made_before):
        result = CliRunner().invoke(main, ["init", str(root), "--accept-terms"])
        assert result.exit_code == 0, result.output
        assert mode(root) == 0o700, (root, oct(mode(root)))
    assert mode(tmp_path / "new") == 0o755  # a folder above it is not the workspace's


def test_the_python_api_s_init_makes_it_its_owner_s_only_too(tmp_path: Path) -> None:
    """What the demo and the lab's launch create a workspace with."""
    Studio.init(tmp_path / "demo-workspace", accept_terms=True).close()
    assert mode(tmp_path / "demo-workspace") == 0o700


def test_a_workspace_others_can_read_is_made_its_owner_s_when_opened(ws: Path) -> None:
    """One made by an older lpstudio (0755) is closed to other users by the first command
    on it, which says so once, on stderr; the README's Scaling out shares a workspace
    between machines as one service user, whom nothing changes for."""
    ws.chmod(0o755)
    first = run_cli("jobs", "--workspace", str(ws), "--json")
    assert first.returncode == 0, first.stderr
    assert mode(ws) == 0o700
    said = first.stderr.strip().splitlines()
    assert len(said) == 1 and str(ws) in said[0] and "755" in said[0], first.stderr
    again = run_cli("jobs", "--workspace", str(ws), "--json")
    assert again.returncode == 0 and again.stderr == "", again.stderr
