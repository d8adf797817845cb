"""A connection's file path refused by `lpstudio.sdk.inside_workspace` is quoted as given,
never with the server's folders: its test's status message is shown to every role.

One real `lpstudio serve` on loopback over a workspace whose `linkdir` links out of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, inside_workspace
from lpstudio.studio import Studio
from tests.servers import Served, serving


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Served]]:
    ws = tmp_path_factory.mktemp("sdkpaths") / "ws"
    with Studio.init(ws, accept_terms=True, admin="alice") as studio:
        studio.store.ensure_user("otto", "operator")
    outside = ws.parent / "outside"
    outside.mkdir()
    (outside / "data.csv").write_text("phone\n+14155550100\n")
    (ws / "linkdir").symlink_to(outside, target_is_directory=True)
    with serving(ws) as server:
        yield ws, server


def test_a_csv_path_linking_out_of_the_workspace_is_refused_without_its_folder(
    served: tuple[Path, Served],
) -> None:
    """The test said `leaves the workspace (/srv/.../ws)` to every role."""
    ws, server = served
    body = {"name": "csvo", "type": "csv_file", "fields": {"path": "linkdir/data.csv"}}
    made = server.api("alice", "POST", "/connections", json=body)
    assert made.status_code == 201, made.text

    tested = server.api("alice", "POST", "/connections/csvo/test")
    shown = server.api("otto", "GET", "/connections/csvo")

    assert tested.status_code == 200, tested.text
    said = tested.json()["status_message"]
    assert "the CSV path 'linkdir/data.csv' leaves the workspace" in said, said
    assert "links out of it are not followed" in said, said
    assert shown.json()["status_message"] == said, shown.text
    for answer in (tested, shown):
        assert str(ws) not in answer.text and str(ws.resolve()) not in answer.text, answer.text


def test_a_path_leaving_the_working_directory_does_not_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a workspace (the SDK used alone) the working directory is the limit, and the
    refusal named it in full."""
    monkeypatch.chdir(tmp_path)
    alone = Connection("files", get_connector("csv_file"), {})
    with pytest.raises(InputError) as caught:
        inside_workspace(alone, "../x.json", "file", "the JSON file", "data/leads.json")
    assert caught.value.message == "the JSON file '../x.json' leaves the working directory"
    assert str(tmp_path) not in str(caught.value)
