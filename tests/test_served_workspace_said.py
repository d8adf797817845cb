"""What a server says of a workspace it cannot serve, as the CLI says it, in its log and its
503 answers: the setting that named the path ($LPSTUDIO_WORKSPACE, as `jupyter lab` is given
it; a notebook's kernel names it too), and a store it cannot write."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from traitlets.config import Config

from lpstudio.cli import main
from lpstudio.workspace import ENV_VAR
from tests.conftest import read_only
from tests.servers import extension_config


@pytest.fixture
def served_workspace(request: pytest.FixtureRequest, ws: Path, tmp_path: Path) -> Iterator[Path]:
    """The folder $LPSTUDIO_WORKSPACE names: a folder that is no workspace, or `ws` with its
    store made read-only (until the server is gone)."""
    if request.param == "no workspace":
        folder = tmp_path / "elsewhere"
        folder.mkdir()
        yield folder
        return
    with read_only(ws / "lpstudio.db"):
        yield ws


@pytest.fixture
def jp_server_config(
    served_workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Config:
    """The server of `jupyter lab` started with $LPSTUDIO_WORKSPACE set, no
    `--LpstudioApp.workspace` given; its log (stderr) caught from the start."""
    monkeypatch.setenv(ENV_VAR, str(served_workspace))
    config = extension_config(served_workspace)
    del config.LpstudioApp["workspace"]
    return config


async def _refused(jp_fetch: Any) -> dict[str, Any]:
    import json

    answer = await jp_fetch(
        "lpstudio", "api", "v1", "me", headers={"X-Test-User": "alice"}, raise_error=False
    )
    assert answer.code == 503, answer.body
    return json.loads(answer.body)["error"]


def _logged(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """lpstudio's lines of the server's log from its start on, each with its fix."""
    log = capsys.readouterr().err
    return [line for line in re.split(r"\n(?=\[)", log) if "] lpstudio: " in line]


def _cli_error(folder: Path) -> dict[str, Any]:
    """What `lpstudio jobs` says of the workspace $LPSTUDIO_WORKSPACE names."""
    import json

    result = CliRunner().invoke(main, ["jobs", "--json"], env={ENV_VAR: str(folder)})
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


@pytest.mark.parametrize("served_workspace", ["no workspace"], indirect=True)
async def test_a_wrong_lpstudio_workspace_is_named_by_the_server_as_by_the_cli(
    served_workspace: Path, jp_fetch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server said "{path} is not an lpstudio workspace ... create one with `lpstudio
    init`", naming no setting: the CLI names $LPSTUDIO_WORKSPACE and offers to unset it."""
    error = await _refused(jp_fetch)
    said = _cli_error(served_workspace)
    assert (
        error["code"] == "NoWorkspace"
        and error["field"] == ENV_VAR
        and error["message"].startswith(f"{ENV_VAR} names ")
    ), error
    assert (error["message"], error["fix"]) == (said["message"], said["fix"]), said
    assert f"unset {ENV_VAR}" in error["fix"], error
    assert any(said["message"] in line and said["fix"] in line for line in _logged(capsys))


@pytest.mark.parametrize("served_workspace", ["read-only store"], indirect=True)
async def test_a_read_only_store_is_logged_as_the_cli_says_it_not_as_no_workspace(
    served_workspace: Path, jp_fetch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log said "no workspace at {path}", and the answer's code NoWorkspace, which tells
    the admin to activate a workspace that is active: the workspace is there, its store
    cannot be written."""
    error = await _refused(jp_fetch)
    said = _cli_error(served_workspace)
    assert (error["code"], error["field"]) == ("StoreUnwritable", "store.url"), error
    assert said["code"] == "StoreUnwritable" and "cannot be written" in said["message"], said
    # Its answer names no folder of the server's (`Workspace.shown_paths`), its log does.
    assert "cannot be written" in error["message"] and "write access" in error["fix"], error
    logged = _logged(capsys)
    assert not any("no workspace" in line for line in logged), logged
    assert any(
        said["message"] in line and said["fix"] in line and str(served_workspace) in line
        for line in logged
    ), logged


def test_a_wrong_lpstudio_workspace_is_named_by_a_notebook_s_kernel_as_by_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook's kernel outside a job (`lpstudio.kernel` finding its workspace) says it
    as the CLI and the server do."""
    from lpstudio.errors import WorkspaceError
    from lpstudio.kernel.runtime import notebook_recipe

    folder = tmp_path / "elsewhere"
    folder.mkdir()
    said = _cli_error(folder)
    monkeypatch.setenv(ENV_VAR, str(folder))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(WorkspaceError) as refused:
        notebook_recipe()
    assert refused.value.field == ENV_VAR, refused.value
    assert (refused.value.message, refused.value.fix) == (said["message"], said["fix"])
