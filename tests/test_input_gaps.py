"""Input a recipe or connection cannot use, refused when it is saved (CLI and REST alike),
naming the field and the fix, before any job starts; a reset named as a slot is told how.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.gallery import templates_dir
from lpstudio.studio import Studio

from .conftest import job_rows
from .servers import serving

#: The gallery's templates that send a campaign through a chosen handoff.
CAMPAIGNS = ("cart_abandonment", "new_lead", "payment_reminder")


def _workspace(root: Path) -> Path:
    """A workspace with every template tried into the project `p`."""
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        for name in (*CAMPAIGNS, "cb_optin"):
            studio.try_template(name, "p")
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return _workspace(tmp_path / "ws")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `lpstudio serve` for the module's REST checks, on its own workspace."""
    with serving(_workspace(tmp_path_factory.mktemp("rest") / "ws")) as server:
        yield server


def lpstudio(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)])

    return invoke


def saved_parameters(ws: Path, recipe: str) -> dict[str, Any]:
    with Studio.open(ws, user="alice") as studio:
        return dict(studio.recipe_detail(recipe)["settings"].get("parameters", {}))


def refinements(template: str) -> dict[str, Any]:
    path = templates_dir() / f"{template}.ipynb"
    return dict(nbformat.read(path, as_version=4).metadata["lpstudio"]["parameters"])


# -- 1: a handoff LivePerson cannot take ------------------------------------------------------


@pytest.mark.parametrize("template", CAMPAIGNS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("handoff", ""),
        ("handoff", "H 1"),
        ("handoff", " H1"),
        # Python's `$` matches before a final line break, which JSON Schema's does not
        ("handoff", "H1\n"),
        # spaces alone: saved, then refused by the connector in the job
        ("campaign_name", "   "),
        ("skill", " "),
    ],
)
def test_a_blank_or_spaced_handoff_is_refused_when_saved_and_before_any_job(
    workspace: Path, template: str, name: str, value: str
) -> None:
    cli = lpstudio(workspace)
    saved = cli("settings", f"p/{template}", "-p", name, value)
    assert saved.exit_code == 2, saved.output
    assert f"parameter '{name}' is invalid" in saved.output and "fix:" in saved.output
    assert name not in saved_parameters(workspace, f"p/{template}.ipynb")
    ran = cli("run", f"p/{template}", "-p", name, value)
    assert ran.exit_code == 2 and f"'{name}' is invalid" in ran.output, ran.output
    assert job_rows(workspace) == 0


def test_the_campaign_templates_refine_their_shared_parameters_alike() -> None:
    """A refinement one template has and another lacks let the other's form save what its
    first job then failed on (a blank handoff)."""
    shared = ("handoff", "campaign_name", "skill", "consumer_id", "channel", "body_variables")
    for name in shared:
        seen = {t: refinements(t)[name] for t in CAMPAIGNS if name in refinements(t)}
        assert len({json.dumps(r, sort_keys=True) for r in seen.values()}) == 1, (name, seen)


def test_rest_refuses_a_spaced_handoff_and_keeps_the_saved_settings(served: Any) -> None:
    path = "/recipes/p/new_lead.ipynb/settings"
    answer = served.api("alice", "PUT", path, json={"parameters": {"handoff": "H 1"}})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "handoff" and error["fix"], error
    shown = served.api("alice", "GET", "/recipes/p/new_lead.ipynb").json()
    assert "handoff" not in shown["settings"].get("parameters", {})


# -- 3: a CSV connection's delimiter and encoding ---------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("delimiter", "ab"),
        ("delimiter", '"'),
        ("delimiter", ",\n"),
        ("encoding", "klingon"),
        ("encoding", "base64"),  # Python's, but no text encoding
        ("encoding", "utf-8\n"),
    ],
)
def test_a_csv_delimiter_or_encoding_no_file_can_be_read_with_is_refused_when_added(
    workspace: Path, field: str, value: str
) -> None:
    cli = lpstudio(workspace)
    added = cli(
        "connections", "add", "c1", "--type", "csv_file", "--field", "path=data/x.csv",
        "--field", f"{field}={value}",
    )  # fmt: skip
    assert added.exit_code == 2, added.output
    assert f"connection field '{field}'" in added.output and "fix:" in added.output
    assert "added connection" not in added.output
    assert "c1" not in cli("connections", "list").output


def test_a_csv_connection_updated_to_a_bad_delimiter_keeps_its_own(workspace: Path) -> None:
    cli = lpstudio(workspace)
    added = cli("connections", "add", "c1", "--type", "csv_file", "--field", "path=x.csv")
    assert added.exit_code == 0, added.output
    changed = cli("connections", "update", "c1", "--field", "delimiter=;;")
    assert changed.exit_code == 2 and "connection field 'delimiter'" in changed.output
    with Studio.open(workspace, user="alice") as studio:
        assert studio.connections.get("c1").fields.get("delimiter", ",") == ","


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [(";", "UTF-8"), ("\\t", "latin-1"), ("tab", "cp1252"), ("|", "Windows-1252"),
     (",", "iso_8859_15"), (",", "utf_8_sig"), (",", "Shift JIS")],
)  # fmt: skip
def test_a_csv_connection_saved_with_a_usable_dialect_reads_its_file(
    workspace: Path, delimiter: str, encoding: str
) -> None:
    """What the connection's form takes, its test and jobs take too: one rule."""
    (workspace / "x.csv").write_text("a\n1\n", encoding="utf-8")
    cli = lpstudio(workspace)
    added = cli(
        "connections", "add", "c1", "--type", "csv_file", "--field", "path=x.csv",
        "--field", f"delimiter={delimiter}", "--field", f"encoding={encoding}",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    tested = cli("connections", "test", "c1")
    assert tested.exit_code == 0 and "1 columns, 1 rows" in tested.output, tested.output


def test_every_encoding_the_csv_field_takes_is_one_python_reads() -> None:
    from lpstudio.registry import get_connector
    from lpstudio.sdk import Connection

    csv_file = get_connector("csv_file")  # loads the bundled connectors' package
    from lpstudio_connectors.csv_file.files import ENCODINGS, dialect

    assert {"utf_8", "latin_1", "cp1252", "utf_8_sig", "ascii"} <= set(ENCODINGS)
    for name in ENCODINGS:
        for spelled in (name, name.upper().replace("_", "-")):
            conn = Connection("c", csv_file, {"path": "x.csv", "encoding": spelled})
            assert dialect(conn)[2] == spelled
            assert isinstance("".encode(spelled), bytes)  # a text encoding: no LookupError


def test_rest_refuses_a_csv_connection_with_an_unknown_encoding(served: Any) -> None:
    body = {"name": "c2", "type": "csv_file", "fields": {"path": "x.csv", "encoding": "klingon"}}
    answer = served.api("alice", "POST", "/connections", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "encoding" and "utf-8" in error["fix"], error
    names = [c["name"] for c in served.api("alice", "GET", "/connections").json()["connections"]]
    assert "c2" not in names


# -- 4: a slot reset by its bare name -----------------------------------------------------------


def test_a_slot_reset_by_its_bare_name_is_told_its_spelling(workspace: Path) -> None:
    reset = lpstudio(workspace)("settings", "p/cb_optin", "--reset", "optins")
    assert reset.exit_code == 2
    assert "'optins' is a connection slot: reset it as connections.optins" in reset.output


def test_rest_tells_a_slot_reset_by_its_bare_name_its_spelling(served: Any) -> None:
    path = "/recipes/p/cb_optin.ipynb/settings"
    answer = served.api("alice", "PUT", path, json={"reset": ["optins"]})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "reset" and "connections.optins" in error["message"], error
    assert served.api("alice", "PUT", path, json={"reset": ["connections.optins"]}).is_success


def test_a_parameter_reset_as_a_slot_is_told_its_spelling(workspace: Path) -> None:
    reset = lpstudio(workspace)("settings", "p/cb_optin", "--reset", "connections.default_source")
    assert reset.exit_code == 2
    assert "'default_source' is a parameter: reset it as default_source" in reset.output


@pytest.mark.parametrize("template", ["cart_abandonment", "new_lead"])
def test_a_body_variable_named_with_a_line_break_is_refused_when_saved(
    workspace: Path, template: str
) -> None:
    """LivePerson's {{n}} is a number: the connector refuses "1\\n", which Python's `$`
    let through the template's own rule, so the first job failed on it."""
    given = json.dumps({"1\n": "Hi {first_name}"})
    saved = lpstudio(workspace)("settings", f"p/{template}", "-p", "body_variables", given)
    assert saved.exit_code == 2 and "body_variables" in saved.output, saved.output
    assert "body_variables" not in saved_parameters(workspace, f"p/{template}.ipynb")
