"""Writing a connector, as the README's "Writing a connector" tells it: a brand's own
connector in the workspace's `connectors/` folder, or a package's on the entry point.

A connector that does not load (a syntax error, no `connector`, a name defined twice, a
declaration lpstudio cannot use) is refused by name, with its file, the field and the fix,
wherever it is used, and breaks no other connector. A long-running process (the server,
the scheduler) sees a connector added or edited in the workspace without a restart.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio import registry
from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.models import Connection as ConnectionRow
from lpstudio.registry import bundled_dir, get_connector, load_connectors
from lpstudio.registry import connector_listing as load_connectors_listing
from lpstudio.sdk import Connection, ConnectorError, MemoryLedger
from lpstudio.studio import Studio

from .conftest import write_recipe
from .servers import rest
from .test_connectors_generic import TOKEN, Recorder, server

__all__ = ["server"]  # a fixture shared with those tests' modules

README = (Path(__file__).parent.parent / "README.md").read_text()

ACME = """
from lpstudio.sdk import Connector, Field

connector = Connector(
    "acme",
    title="Acme CRM",
    fields=[Field("base_url", "API base URL", type="url"),
            Field("api_key", "API key", secret=True)],
)


@connector.action(
    "create_lead",
    title="Create lead",
    input_schema={"type": "object", "required": ["email"],
                  "properties": {"email": {"type": "string"}}},
)
def create_lead(conn, data):
    if conn.dry_run:
        return conn.would_send("POST", conn.config["base_url"] + "/leads", json=data)
    raise ValueError("refused with key " + conn.config["api_key"])
"""

HEAD = "from lpstudio.sdk import Connector, Field\n"


def _write(ws: Path, name: str, source: str) -> Path:
    folder = ws / "connectors"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def _add_acme(cli: Callable[..., Result], type_: str = "acme") -> Result:
    return cli(
        "connections",
        "add",
        "acme-prod",
        "--type",
        type_,
        "--field",
        "base_url=https://acme.example",
        "--secret",
        "api_key",
        input="acme-key-7781\n",
    )


def _error(result: Result) -> dict[str, str]:
    return json.loads(result.stdout)["error"]


# -- a broken connector is refused by name, and breaks no other ---------------------------


def test_a_connector_with_a_syntax_error_breaks_no_other_and_is_refused_naming_its_line(
    ws: Path, cli: Callable[..., Result]
) -> None:
    _write(ws, "broken", HEAD + 'connector = Connector("broken", title="B"\n')
    _write(ws, "acme", ACME)

    listed = cli("connectors", "--json")
    added = _add_acme(cli)
    refused = cli("connections", "add", "b1", "--type", "broken", "--field", "x=1", "--json")

    assert listed.exit_code == 0, listed.output
    names = {item["name"] for item in json.loads(listed.stdout)["connectors"]}
    assert {"acme", "http", "liveperson_proactive"} <= names
    assert added.exit_code == 0, added.output
    assert refused.exit_code == 2
    error = _error(refused)
    assert "connector connectors/broken.py" in error["message"] and "line 2" in error["message"]
    assert error["field"] == "type"
    assert "correct" in error["fix"]


def test_a_job_using_a_bundled_connector_runs_beside_a_broken_custom_one(ws: Path) -> None:
    """The kernel loads the connectors too: a half-written custom connector must not stop a
    recipe that uses another connector."""
    _write(ws, "broken", "import no_such_module_anywhere\n")
    write_recipe(
        ws,
        "crm/rows",
        cells=(
            "import lpstudio.kernel as lp",
            "lp.set_result({'rows': len(lp.connection('rows').read_rows())})",
        ),
        metadata={"title": "rows", "connections": {"rows": {"type": "csv_file"}}},
    )
    (ws / "rows.csv").write_text("a\n1\n2\n")
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
        job = studio.run("crm/rows")

    assert job.status == "succeeded", job.error
    assert job.result == {"rows": 2}


def test_a_run_needing_a_connector_that_broke_is_refused_before_any_job(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """Its job would only fail in its kernel: the run is refused naming the slot, the file
    and the line, and no job is made."""
    acme = _write(ws, "acme", ACME)
    assert _add_acme(cli).exit_code == 0
    write_recipe(
        ws,
        "crm/lead",
        metadata={"title": "lead", "connections": {"crm": {"type": "acme"}}},
    )
    acme.write_text(HEAD + 'connector = Connector("acme", title="A"\n')

    refused = cli("run", "crm/lead", "--json")

    assert refused.exit_code == 2, refused.output
    error = _error(refused)
    assert (
        error["field"] == "connections.crm" and "connector connectors/acme.py" in error["message"]
    ), error
    assert "line 2" in error["message"] and "correct" in error["fix"]
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_a_bundled_name_taken_by_a_file_breaks_only_that_file(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """The file taking `http` broke the bundled http for every recipe of the workspace:
    it is the one listed broken now, with the fix, and the bundled one keeps working."""
    shadow = _write(ws, "my_http", HEAD + 'connector = Connector("http", title="Mine")\n')
    _write(ws, "acme", ACME)

    listed = cli("connectors", "--json")
    added = _add_acme(cli)
    kept = cli(
        "connections",
        "add",
        "h",
        "--type",
        "http",
        "--field",
        "base_url=https://x.example",
        "--json",
    )

    assert listed.exit_code == 0, listed.output
    assert added.exit_code == 0, added.output
    assert kept.exit_code == 0, kept.output  # the bundled http keeps working
    broken = {b["name"]: b for b in json.loads(listed.stdout)["broken"]}
    # Each named as `source` names it (README), never by a server's folder.
    assert broken["my_http"]["message"] == (
        f"connector 'http' of connectors/{shadow.name} is not used: the name is already "
        "taken by lpstudio:connectors/http, and no other file or package may replace it"
    )
    assert "rename" in broken["my_http"]["fix"]


def test_a_file_without_a_connector_is_refused_under_its_name(
    ws: Path, cli: Callable[..., Result]
) -> None:
    path = _write(ws, "acme", HEAD + 'c = Connector("acme", title="A")\n')

    refused = _add_acme(cli)

    assert refused.exit_code == 2
    assert f"connector connectors/{path.name}" in refused.stderr
    assert "connector = Connector(" in refused.stderr


# -- a broken connector is listed as broken, not left out -----------------------------------


def test_the_connectors_listing_shows_a_broken_one_with_its_error_and_fix(
    ws: Path, cli: Callable[..., Result]
) -> None:
    path = _write(ws, "acme", HEAD + 'connector = Connector("acme", title="A"\n')

    text = cli("connectors")
    listed = cli("connectors", "--json")

    assert text.exit_code == 0, text.output
    line = next(line for line in text.stdout.splitlines() if line.startswith("acme "))
    # By its path in the workspace, as README and GET /connectors say it.
    assert re.match(
        r"acme +broken: connector connectors/acme\.py failed to load: SyntaxError", line
    )
    assert str(ws) not in text.stdout, text.stdout
    assert "  fix: correct the connector's code" in text.stdout
    assert "http " in text.stdout  # the others are listed as before
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    assert "http" in {item["name"] for item in found["connectors"]}
    assert "acme" not in {item["name"] for item in found["connectors"]}
    (broken,) = found["broken"]
    assert broken["name"] == "acme" and broken["field"] == "type"
    assert (
        f"connector connectors/{path.name}" in broken["message"] and "line 2" in broken["message"]
    )
    assert broken["fix"] == "correct the connector's code: line 2 of connectors/acme.py"


@pytest.mark.parametrize(
    ("declaration", "said"),
    [
        ('@connector.action("go")', "action() missing 1 required keyword-only argument: 'title'"),
        ("@connector.test()", "test() missing 1 required positional argument: 'func'"),
    ],
)
def test_a_connector_failing_as_it_loads_is_listed_with_the_line_it_failed_at(
    ws: Path, cli: Callable[..., Result], declaration: str, said: str
) -> None:
    """A declaration Python refuses (`@connector.action("go")` without its title) named
    neither a line nor where to look, where a SyntaxError names its line: the innermost
    line of the connector's own file is named, in its message and its fix."""
    source = HEAD + 'connector = Connector("acme", title="A")\n\n\n' + declaration
    _write(ws, "acme", source + "\ndef go(conn):\n    pass\n")

    listed = cli("connectors", "--json")

    (broken,) = json.loads(listed.stdout)["broken"]
    assert broken["message"] == (
        "connector connectors/acme.py failed to load: TypeError: "
        f"Connector.{said} (connectors/acme.py, line 5)"
    ), broken
    assert broken["fix"] == "correct the connector's code: line 5 of connectors/acme.py"


def test_a_connector_package_failing_as_it_loads_names_the_file_of_its_own_it_failed_in(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """In a package, the line is in the module that failed, not its `__init__.py`."""
    package = ws / "connectors" / "acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from .declared import connector\n")
    (package / "declared.py").write_text(HEAD + 'connector = Connector("acme")\n')

    (broken,) = json.loads(cli("connectors", "--json").stdout)["broken"]

    assert "(connectors/acme/declared.py, line 2)" in broken["message"], broken
    assert broken["fix"] == "correct the connector's code: line 2 of connectors/acme/declared.py"


async def test_the_rest_api_lists_broken_connectors_beside_the_others(jp_fetch: Any, ws: Path):
    _write(ws, "acme", "import no_such_module_anywhere\n")

    status, answer = await rest(jp_fetch, "GET", "connectors")

    assert status == 200, answer
    assert "http" in {item["name"] for item in answer["connectors"]}
    (broken,) = answer["broken"]
    assert broken["name"] == "acme" and broken["field"] == "type"
    # By its path in the workspace, as error answers name files.
    assert "connector connectors/acme.py failed" in broken["message"], broken
    assert "no_such_module_anywhere" in broken["message"] and str(ws) not in broken["message"]
    assert broken["fix"]


async def test_the_rest_api_names_where_each_connector_comes_from_without_the_server_s_folders(
    jp_fetch: Any, ws: Path
) -> None:
    """`GET /connectors` answered each bundled connector's folder on the server
    (`/srv/app/connectors/csv_file`) and a workspace's own by its full path: a caller learns
    where lpstudio is installed and where the workspace lies, which no other answer says."""
    _write(ws, "acme", ACME)

    status, answer = await rest(jp_fetch, "GET", "connectors")

    assert status == 200, answer
    sources = {item["name"]: item["source"] for item in answer["connectors"]}
    assert sources["csv_file"] == "lpstudio:connectors/csv_file", sources
    assert sources["http"] == "lpstudio:connectors/http", sources
    assert sources["acme"] == "connectors/acme.py", sources  # relative to the workspace
    shown = json.dumps(answer["connectors"])
    for folder in (ws, ws.resolve(), bundled_dir(), bundled_dir().resolve()):
        assert str(folder) not in shown, folder


@pytest.mark.parametrize(
    ("source", "field", "fix"),
    [
        ('connector = Connector("", title="A")', "name", "e.g. acme_crm"),
        ('connector = Connector("Acme CRM", title="A")', "name", "e.g. acme_crm"),
        (
            'connector = Connector("acme", title="A", fields=[Field("k", "K", type="text")])',
            "fields.k.type",
            "string, url, integer, number, boolean",
        ),
        (
            'connector = Connector("acme", title="A", fields=[Field("k", "K"), Field("k", "L")])',
            "fields.k",
            "rename",
        ),
        (
            'connector = Connector("acme", title="A", fields=[Field("root", "R")])',
            "fields.root",
            "rename",
        ),
        (
            'connector = Connector("acme", title="A",'
            ' fields=[Field("k", "K", secret=True, default="demo-key-1")])',
            "fields.k.default",
            "remove the default",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.action("a", title="A", input_schema={"type": "objekt"})\n'
            "def a(conn, data): return {}",
            "actions.a.input_schema",
            "JSON Schema",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.action("a", title="A", input_schema={"required": "email"})\n'
            "def a(conn, data): return {}",
            "actions.a.input_schema",
            "JSON Schema",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.action("a", title="A", output_schema={"type": 5})\n'
            "def a(conn, data): return {}",
            "actions.a.output_schema",
            "JSON Schema",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.action("a", title="A")\n'
            "def a(conn, data): return {}\n"
            '@connector.action("a", title="Again")\n'
            "def b(conn, data): return {}",
            "actions.a",
            "rename",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.poll_trigger("t", title="T", key=str)\n'
            "def t(conn, since, cursor): return None\n"
            '@connector.webhook_trigger("t", title="T")\n'
            "def w(headers, body): return []",
            "triggers.t",
            "rename",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.poll_trigger("t", title="T", key="id")\n'
            "def t(conn, since, cursor): return None",
            "triggers.t.key",
            "key=lambda event: str(event['id'])",
        ),
        (
            'connector = Connector("acme", title="A")\n'
            '@connector.webhook_trigger("t", title="T", verify="sha256")\n'
            "def w(headers, body): return []",
            "triggers.t.verify",
            "verify(headers, body, secret)",
        ),
        # A default its own field refuses failed every `connections add` leaving it out,
        # blaming the user ("fix: use --field n=VALUE").
        (
            'connector = Connector("acme", title="A",'
            ' fields=[Field("n", "N", type="integer", default="ten")])',
            "fields.n.default",
            "in the connector's file",
        ),
        (
            'connector = Connector("acme", title="A",'
            ' fields=[Field("mode", "Mode", choices=("a", "b"), default="c")])',
            "fields.mode.default",
            "in the connector's file",
        ),
        (
            'connector = Connector("acme", title="A",'
            ' fields=[Field("n", "N", type="integer", minimum=1, default=0)])',
            "fields.n.default",
            "in the connector's file",
        ),
        (
            'connector = Connector("acme", title="A",'
            ' fields=[Field("id", "Id", pattern="^[0-9]+$", default="abc")])',
            "fields.id.default",
            "in the connector's file",
        ),
        # `lp.connection('acme').test()` ran the connection test, not the action.
        *(
            (
                'connector = Connector("acme", title="A")\n'
                f'@connector.action("{name}", title="A")\n'
                "def a(conn, data): return {}",
                f"actions.{name}",
                "give the action another name",
            )
            for name in ("test", "run", "poll", "picklist")
        ),
    ],
)
def test_a_declaration_lpstudio_cannot_use_is_refused_naming_file_field_and_fix(
    ws: Path, source: str, field: str, fix: str
) -> None:
    path = _write(ws, "acme", HEAD + source + "\n")

    with pytest.raises(InputError) as caught:
        get_connector("acme", ws)

    assert caught.value.field == field
    assert f"connector connectors/{path.name}" in caught.value.message
    assert fix in (caught.value.fix or "")
    assert "demo-key-1" not in str(caught.value)
    assert "http" in load_connectors(ws)  # the others still load


def test_every_bundled_connector_passes_the_checks_custom_ones_get() -> None:
    for connector in load_connectors(None).values():
        connector.check()


# -- packages registering on the entry point -------------------------------------------------


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries: dict[str, str]) -> None:
    """A real installed distribution (a dist-info on sys.path) with `entries` on the
    `lpstudio.connectors` group, as `pip install` of a connector package leaves it."""
    site = tmp_path / "site"
    info = site / "acme_connectors-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connectors\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[lpstudio.connectors]\n{lines}")
    (site / "acme_pkg.py").write_text(ACME)
    (site / "acme_broken_pkg.py").write_text("raise RuntimeError('half written')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "acme_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "acme_broken_pkg", raising=False)
    # As in a process started after the install; the process's connectors come back after.
    monkeypatch.setattr(registry, "_base", None)


def test_a_package_registers_its_connector_or_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(tmp_path, monkeypatch, {"acme": "acme_pkg:connector"})
    assert get_connector("acme").title == "Acme CRM"

    _package(tmp_path / "module", monkeypatch, {"acme": "acme_pkg"})
    assert get_connector("acme").source == "entry point acme_pkg"
    assert get_connector("acme").title == "Acme CRM"


def test_a_package_whose_connector_fails_breaks_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(tmp_path, monkeypatch, {"acme_broken": "acme_broken_pkg:connector"})

    with pytest.raises(InputError) as caught:
        get_connector("acme_broken")

    assert "acme_broken_pkg" in caught.value.message
    assert "half written" in caught.value.message
    assert "http" in load_connectors(None)


def _uninstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip uninstall` of the package `_package` installed, as a process started after it
    sees it (its workspaces' connectors read again too)."""
    shutil.rmtree(tmp_path / "site" / "acme_connectors-1.0.dist-info")
    monkeypatch.delitem(sys.modules, "acme_pkg", raising=False)
    monkeypatch.setattr(registry, "_base", None)
    monkeypatch.setattr(registry, "_workspaces", {})


def test_a_connection_and_recipe_whose_package_was_uninstalled_say_to_install_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Path, cli: Callable[..., Result]
) -> None:
    """Once its package was uninstalled, a connection said `use one of: csv_file, ...` (a
    stored connection's type cannot change), a recipe to correct its correct metadata, and
    `connections list` still showed the connection connected."""
    _package(tmp_path, monkeypatch, {"acme": "acme_pkg:connector"})
    monkeypatch.setattr(registry, "_workspaces", {})
    assert _add_acme(cli).exit_code == 0
    write_recipe(
        ws, "crm/lead", metadata={"title": "lead", "connections": {"crm": {"type": "acme"}}}
    )
    with Studio.open(ws, user="alice") as studio, studio.store.write() as session:
        session.get_one(ConnectionRow, "acme-prod").status = "connected"  # a test passed
    _uninstall(tmp_path, monkeypatch)

    tested = cli("connections", "test", "acme-prod", "--json")
    (listed,) = json.loads(cli("connections", "list", "--json").stdout)
    run = cli("run", "crm/lead", "--json")

    error = _error(tested)
    assert error["message"] == "connection 'acme-prod': unknown connector type 'acme'", error
    assert error["fix"].startswith(
        "install again the connector package, or restore the connectors/ file, that provided 'acme'"
    ), error
    assert (
        "lpstudio connections remove acme-prod" in error["fix"] and "use one of" not in error["fix"]
    )
    assert listed["status"] == "disconnected", listed
    assert listed["status_message"] == f"{error['message']}\n  fix: {error['fix']}"
    refused = _error(run)
    assert refused["fix"].startswith("install again the connector package"), refused
    assert "; or, if 'acme' is misspelt, correct" in refused["fix"], refused


async def test_the_rest_api_says_the_same_of_a_connection_whose_package_was_uninstalled(
    jp_fetch: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Path, cli: Callable
) -> None:
    _package(tmp_path, monkeypatch, {"acme": "acme_pkg:connector"})
    monkeypatch.setattr(registry, "_workspaces", {})
    assert _add_acme(cli).exit_code == 0
    _uninstall(tmp_path, monkeypatch)

    status, answer = await rest(jp_fetch, "POST", "connections", "acme-prod", "test", body={})
    _, listed = await rest(jp_fetch, "GET", "connections")

    assert status == 404 and answer["error"]["field"] == "type", answer
    assert answer["error"]["fix"].startswith("install again the connector package"), answer
    assert "use one of" not in answer["error"]["fix"], answer
    (row,) = listed if isinstance(listed, list) else listed["connections"]
    assert row["status"] == "disconnected", row
    assert "unknown connector type 'acme'" in row["status_message"], row


def test_a_package_named_otherwise_than_its_connector_gives_its_load_error_where_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Path, cli: Callable[..., Result]
) -> None:
    """`acme_crm = acme_crm:connector` giving `acme` that failed to load: a slot or
    connection of type `acme` was told lpstudio has no such type, to use another, where the
    README promises whatever uses it gets its error, which names its file and line as the
    package's developer knows it (never a bare `__init__.py`)."""
    _package(tmp_path, monkeypatch, {"acme_crm": "acme_crm:connector"})
    package = tmp_path / "site" / "acme_crm"
    package.mkdir()
    declaration = 'connector = Connector("acme", title="A")\n\n@connector.action("go")\n'
    (package / "__init__.py").write_text(HEAD + declaration + "def go(conn):\n    pass\n")
    monkeypatch.delitem(sys.modules, "acme_crm", raising=False)
    monkeypatch.setattr(registry, "_workspaces", {})
    write_recipe(
        ws, "crm/lead", metadata={"title": "lead", "connections": {"crm": {"type": "acme"}}}
    )

    added = _error(cli("connections", "add", "a", "--type", "acme", "--json"))
    run = _error(cli("run", "crm/lead", "--json"))

    assert added["message"] == (
        "connector entry point acme_crm = acme_crm:connector failed to load: TypeError: "
        "Connector.action() missing 1 required keyword-only argument: 'title' "
        "(acme_crm/__init__.py, line 4)"
    ), added
    assert added["fix"] == (
        "correct or reinstall the package that provides it: line 4 of acme_crm/__init__.py"
    )
    assert run["field"] == "connections.crm" and added["message"] in run["message"], run
    assert run["fix"] == added["fix"]


def test_a_connector_package_with_a_syntax_error_names_its_file_by_its_module_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _package(tmp_path, monkeypatch, {"acme": "acme_crm:connector"})
    package = tmp_path / "site" / "acme_crm"
    package.mkdir()
    (package / "__init__.py").write_text(HEAD + 'connector = Connector("acme", title="A"\n')
    monkeypatch.delitem(sys.modules, "acme_crm", raising=False)

    (broken,) = load_connectors_listing()["broken"]

    assert broken["message"].startswith(
        "connector entry point acme = acme_crm:connector failed to load: SyntaxError: "
    ), broken
    assert broken["message"].endswith(" (acme_crm/__init__.py, line 2)"), broken
    assert broken["fix"].endswith(": line 2 of acme_crm/__init__.py")


def test_a_package_taking_a_bundled_name_is_named_as_the_listing_names_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clash named the bundled connector by its folder on the server."""
    _package(tmp_path, monkeypatch, {"my_http": "acme_pkg:connector"})
    (tmp_path / "site" / "acme_pkg.py").write_text(
        HEAD + 'connector = Connector("http", title="H")\n'
    )

    broken = {b["name"]: b for b in load_connectors_listing()["broken"]}

    assert broken["my_http"]["message"] == (
        "connector 'http' of entry point acme_pkg:connector is not used: the name is already "
        "taken by lpstudio:connectors/http, and no other file or package may replace it"
    )


# -- a long-running process sees the workspace's connectors as they are now -----------------


def test_a_connector_added_or_edited_later_is_seen_without_a_restart(ws: Path) -> None:
    assert "acme" not in load_connectors(ws)  # a server that loaded them before

    path = _write(ws, "acme", ACME)
    assert get_connector("acme", ws).title == "Acme CRM"

    path.write_text(ACME.replace("Acme CRM", "Acme CRM v2") + "\n# longer now\n")
    assert get_connector("acme", ws).title == "Acme CRM v2"

    path.unlink()
    assert "acme" not in load_connectors(ws)


def test_a_connector_package_is_read_again_when_any_of_its_files_changes(ws: Path) -> None:
    """A package reading a file of its own at import (a schema, a list of fields) kept its
    first load when only that file was edited."""
    package = ws / "connectors" / "beta"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "import json, pathlib\n" + HEAD + "meta = json.loads((pathlib.Path(__file__).parent"
        ' / "meta.json").read_text())\nconnector = Connector("beta", title=meta["title"])\n'
    )
    (package / "meta.json").write_text('{"title": "Beta"}')
    assert get_connector("beta", ws).title == "Beta"

    (package / "meta.json").write_text('{"title": "Beta v2"}')

    assert get_connector("beta", ws).title == "Beta v2"


# -- a custom connector at work: input checked first, its secret never shown ----------------


def test_a_custom_action_checks_its_input_first_and_never_shows_its_secret(ws: Path) -> None:
    _write(ws, "acme", ACME)
    write_recipe(
        ws,
        "crm/lead",
        parameters="email: str = 'a@example.com'",
        cells=(
            "import lpstudio.kernel as lp\nacme = lp.connection('acme')\nprint(repr(acme))",
            "try:\n    acme.create_lead(email=5)\nexcept Exception as exc:\n    print(exc)",
            "acme.create_lead(email=email)",
        ),
        metadata={"title": "lead", "connections": {"acme": {"type": "acme"}}},
    )
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "acme",
            "acme",
            {"base_url": "https://acme.example", "api_key": "acme-key-7781"},
            "alice",
        )
        job = studio.run("crm/lead")
        row = json.dumps(studio.jobs_frame().to_dict("records"), default=str)

    output = (ws / job.output_path).read_text()
    assert job.status == "failed"
    assert job.error["ename"] == "ValueError"
    assert "acme.create_lead: 'email' is invalid: 5 is not of type 'string'" in output
    assert "'api_key': '****'" in output
    assert str(ws / "connectors" / "acme.py") in "".join(job.error["traceback"])
    for text in (output, json.dumps(job.error), row):
        assert "acme-key-7781" not in text


def test_a_token_the_connector_holds_is_masked_in_what_its_actions_answer() -> None:
    """`conn.hold(token)` masked a token the connector obtained in its errors only: an
    action that answered with it (an app echoing the request) put it in the job's result
    and the output notebook, which only the connection could have masked."""
    from lpstudio.client import ConnectionClient
    from lpstudio.sdk import Connector

    echo = Connector("echoer", title="Echoer")

    @echo.action("echo", title="Echo")
    def _echo(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
        token = conn.hold("at-obtained-4242")
        headers = {"Authorization": f"Bearer {token}"}
        if data.get("fail"):
            raise ConnectorError("the app refused", status=400, result={"headers": headers})
        return {"headers": headers}

    kept: list[dict[str, Any]] = []
    client = ConnectionClient(Connection("e", echo, {}), keep_result=kept.append)
    assert client.run("echo", {}) == {"headers": {"Authorization": "Bearer ****"}}
    with pytest.raises(ConnectorError) as refused:
        client.run("echo", {"fail": True})
    assert "at-obtained-4242" not in json.dumps([refused.value.result, kept])
    assert kept == [{"headers": {"Authorization": "Bearer ****"}}]


def test_closing_a_connection_closes_each_object_it_keeps_though_one_fails() -> None:
    """One object of `conn.cache` failing to close left the others open (an engine's
    database connections, a file's lock) and kept in the cache: each is closed, and the
    first failure is still the caller's to see."""
    from lpstudio.sdk import Connector

    closed: list[str] = []

    class Held:
        def __init__(self, name: str, fails: bool) -> None:
            self.name, self.fails = name, fails

        def close(self) -> None:
            closed.append(self.name)
            if self.fails:
                raise OSError(f"{self.name} would not close")

    conn = Connection("e", Connector("keeper", title="Keeper"), {})
    for name, fails in (("first", False), ("broken", True), ("engine", False), ("lock", True)):
        conn.cache[name] = Held(name, fails)
    with pytest.raises(OSError, match="broken would not close") as failed:
        conn.close()
    assert closed == ["first", "broken", "engine", "lock"] and conn.cache == {}
    assert any("lock would not close" in note for note in failed.value.__notes__)


def test_an_action_missing_a_required_input_names_that_input(ws: Path) -> None:
    _write(ws, "acme", ACME)
    conn = Connection("acme", get_connector("acme", ws), {"base_url": "https://acme.example"})

    with pytest.raises(InputError) as missing:
        ConnectionClient(conn).create_lead()
    with pytest.raises(InputError) as unexpected:
        ConnectionClient(conn).run("create_lead", {"email": ["a@example.com"]})

    assert missing.value.field == "email"
    assert "acme.create_lead" in missing.value.message and "'email'" in missing.value.message
    assert "required" in missing.value.message
    assert "email" in (missing.value.fix or "") and "string" in (missing.value.fix or "")
    assert unexpected.value.field == "email"
    assert "is not of type 'string'" in unexpected.value.message


def test_a_mistyped_action_names_the_actions_the_connector_has(ws: Path) -> None:
    """`acme.create_laed(...)` said only `AttributeError: create_laed`."""
    _write(ws, "acme", ACME)
    conn = Connection("acme", get_connector("acme", ws), {"base_url": "https://acme.example"})
    acme = ConnectionClient(conn)

    with pytest.raises(AttributeError) as mistyped:
        acme.create_laed(email="a@example.com")

    assert "acme has no action 'create_laed'" in str(mistyped.value)
    assert "create_lead" in str(mistyped.value)
    assert not hasattr(acme, "create_laed") and hasattr(acme, "create_lead")


def test_the_kernel_side_client_loads_no_server_code() -> None:
    """Recipes' kernels check action inputs with the REST API's rule, not its modules."""
    code = "import sys, lpstudio.client; print(sorted(m for m in sys.modules if 'server' in m))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert "lpstudio.server" not in loaded.stdout


def test_a_url_field_that_is_no_web_address_is_refused_in_plain_words(
    ws: Path, cli: Callable[..., Result]
) -> None:
    _write(ws, "acme", ACME)

    refused = cli(
        "connections",
        "add",
        "acme-ftp",
        "--type",
        "acme",
        "--field",
        "base_url=ftp://acme.example",
        "--secret",
        "api_key",
        "--json",
        input="acme-key-7781\n",
    )

    assert refused.exit_code == 2
    error = _error(refused)
    assert error["field"] == "base_url"
    assert "'ftp://acme.example' is not an http:// or https:// URL" in error["message"]
    assert "https://" in error["fix"]


def test_a_url_field_s_hint_is_not_given_as_the_fix_of_an_invalid_url(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A URL field's hint (what the field is for) was the whole fix of a value that is no
    URL: "fix: Overrides base_url ..." said nothing of how to write one."""
    source = ACME.replace(
        'type="url")', 'type="url", hint="Overrides the region lookup for this app only")'
    )
    _write(ws, "acme", source)

    refused = cli(
        "connections",
        "add",
        "acme-bare",
        "--type",
        "acme",
        "--field",
        "base_url=127.0.0.1:18930",
        "--secret",
        "api_key",
        "--json",
        input="acme-key-7781\n",
    )

    error = _error(refused)
    assert refused.exit_code == 2 and error["field"] == "base_url", error
    assert error["fix"].startswith(
        "give base_url as a full address with http:// or https://, e.g. https://api.example.com"
    ), error
    assert error["fix"].endswith("(Overrides the region lookup for this app only)"), error


# -- the README's example connector ----------------------------------------------------------


def _readme_example() -> str:
    section = README.split("## Writing a connector", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_sends_its_key_and_raises_on_an_error_answer(
    ws: Path, cli: Callable[..., Result], server: Recorder
) -> None:
    """`connections test` said connected with any key, and an error answer came back as
    data: the example never sent the key."""
    _write(ws, "acme", _readme_example())

    def add(name: str, key: str) -> None:
        base = f"--field=base_url={server.url}/auth/api_key"
        added = cli("connections", "add", name, "--type", "acme", base, "--secret", "api_key",
                    input=f"{key}\n")  # fmt: skip
        assert added.exit_code == 0, added.output

    add("good", TOKEN)
    add("bad", "not-the-key")
    good, bad = cli("connections", "test", "good"), cli("connections", "test", "bad")
    conn = Connection("bad", get_connector("acme", ws), {"base_url": f"{server.url}/auth/api_key"})
    conn.config["api_key"] = "not-the-key"

    assert good.exit_code == 0, good.output
    assert good.stdout.strip() == f"good: connected: the key works at {server.url}/auth/api_key"
    assert bad.exit_code == 1 and "disconnected" in bad.stdout, bad.output
    for call in (
        lambda: ConnectionClient(conn).create_lead(email="a@example.com"),
        lambda: ConnectionClient(conn).poll("new_lead", "2026-01-01T00:00:00Z"),
    ):
        with pytest.raises(Exception) as refused:
            call()
        assert "401" in str(refused.value), refused.value
    assert all(r["headers"].get("x-api-key") for r in server.requests)


def test_a_connection_test_that_says_nothing_is_reported_as_connected_alone(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A test returning nothing was recorded as saying "connected": `beta: connected:
    connected`."""
    _write(ws, "beta", HEAD + 'connector = Connector("beta", title="Beta")\n\n\n'
           "@connector.test\ndef test(conn):\n    pass\n")  # fmt: skip
    assert cli("connections", "add", "b1", "--type", "beta").exit_code == 0

    tested = cli("connections", "test", "b1")
    as_json = cli("connections", "test", "b1", "--json")

    assert tested.exit_code == 0 and tested.stdout == "b1: connected\n", tested.output
    assert json.loads(as_json.stdout)["status_message"] is None


@pytest.mark.parametrize(
    ("fields", "field", "fix"),
    [
        (["--type", "http", "--field", "retries=4"], "retries", "give retries from 0 to 3"),
        (
            ["--type", "http", "--field", "timeout_seconds=0"],
            "timeout_seconds",
            "give timeout_seconds above 0, at most 3600",
        ),
        (
            [
                "--type",
                "liveperson_proactive",
                "--field",
                "account_id=1",
                "--field",
                "client_id=c",
                "--field",
                "requests_per_second=0",
                "--secret",
                "client_secret",
            ],
            "requests_per_second",
            "give requests_per_second at least 1",
        ),
    ],
)
def test_a_field_out_of_its_bounds_is_refused_when_the_connection_is_saved(
    ws: Path, cli: Callable[..., Result], fields: list[str], field: str, fix: str
) -> None:
    """A rate of 0 or eleven retries was found only by the first job that used them."""
    refused = cli("connections", "add", "c1", *fields, "--json", input="s3cret-app-secret\n")
    assert refused.exit_code == 2, refused.output
    error = _error(refused)
    assert error["field"] == field and error["fix"] == fix, error
    assert cli("connections", "list", "--json").output.count('"c1"') == 0


# -- what a trigger or a pick list returns is checked, naming what to return ----------------

WRONG_SHAPES = """
from lpstudio.sdk import Connector, Field

connector = Connector("acme", title="Acme CRM", fields=[Field("base_url", "API base URL")])


@connector.poll_trigger("new_lead", title="New lead", key=lambda lead: str(lead["id"]))
def new_leads(conn, since, cursor):
    return [{"id": 1, "email": "a@example.com"}]  # the rows, not a Page


@connector.poll_trigger("dated", title="Dated", key=lambda lead: str(lead["id"]))
def dated(conn, since, cursor):
    import datetime

    from lpstudio.sdk import Page

    return Page([{"id": 1}], cursor=datetime.datetime(2026, 1, 1))  # no JSON value


@connector.poll_trigger("stuck", title="Stuck", key=lambda lead: str(lead["id"]))
def stuck(conn, since, cursor):
    from lpstudio.sdk import Page

    return Page([{"id": 1}], cursor=cursor, more=True)  # "more", from the same cursor


@connector.picklist("owners", title="Owner")
def owners(conn):
    return [{"id": "u1", "name": "Ann"}]  # the app's rows, not Options
"""


def test_a_poll_answering_no_page_is_refused_naming_the_trigger_and_what_to_return(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """It failed with "AttributeError: 'list' object has no attribute 'events'"."""
    _write(ws, "acme", WRONG_SHAPES)
    write_recipe(
        ws,
        "crm/on_lead",
        metadata={
            "title": "on lead",
            "connections": {"acme": {"type": "acme"}},
            "trigger": {"kind": "poll", "connection": "acme", "trigger": "new_lead"},
        },
    )
    assert cli("connections", "add", "acme", "--type", "acme", "--field",
               "base_url=https://acme.example").exit_code == 0  # fmt: skip
    conn = Connection("acme", get_connector("acme", ws), {"base_url": "https://acme.example"})

    polled = cli("poll", "crm/on_lead", "--json")
    with pytest.raises(ConnectorError) as dated:
        ConnectionClient(conn).poll("dated", "2026-01-01T00:00:00+00:00")

    assert polled.exit_code != 0
    error = _error(polled)
    assert "acme.new_lead returned a list, not a Page" in error["message"], error
    assert error["field"] == "triggers.new_lead"
    assert "Page(events, cursor=" in error["fix"]
    assert json.loads(cli("jobs", "--json").stdout) == []
    assert dated.value.field == "triggers.dated"
    assert "cursor" in dated.value.message and "datetime" in dated.value.message
    assert "isoformat()" in (dated.value.fix or "")


def test_a_poll_saying_more_without_moving_its_cursor_is_refused_not_polled_for_ever(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """`lpstudio poll` (and the scheduler) asked the app for the same page again and again."""
    _write(ws, "acme", WRONG_SHAPES)
    write_recipe(
        ws,
        "crm/stuck",
        metadata={
            "title": "stuck",
            "connections": {"acme": {"type": "acme"}},
            "trigger": {"kind": "poll", "connection": "acme", "trigger": "stuck"},
        },
    )
    assert cli("connections", "add", "acme", "--type", "acme", "--field",
               "base_url=https://acme.example").exit_code == 0  # fmt: skip

    polled = cli("poll", "crm/stuck", "--json")

    assert polled.exit_code != 0
    error = _error(polled)
    assert "acme.stuck returned more=True with the cursor it was given" in error["message"]
    assert error["field"] == "triggers.stuck" and "cursor" in error["fix"]


async def test_a_pick_list_answering_no_options_is_refused_naming_it_and_what_to_return(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    """The REST API answered 500 "the server failed to answer", and the form showed an empty
    list without a word."""
    _write(ws, "acme", WRONG_SHAPES)
    assert cli("connections", "add", "acme", "--type", "acme", "--field",
               "base_url=https://acme.example").exit_code == 0  # fmt: skip

    status, answer = await rest(jp_fetch, "GET", "connections", "acme", "picklists", "owners")

    assert status == 502, answer  # the connector's failure, not the caller's request's
    error = answer["error"]
    assert "acme.owners returned" in error["message"] and "not an Option" in error["message"]
    assert error["field"] == "picklists.owners"
    assert "Option(value, label)" in error["fix"]


SLOPPY = """
from lpstudio.sdk import Connector, Field, Option

connector = Connector("sloppy", title="Sloppy", fields=[Field("api_key", "API key", secret=True)])


@connector.picklist("keys", title="Keys")
def keys(conn):
    key = conn.config["api_key"]
    return [Option(key, "the key " + key, {"key": key})]  # a careless list shows the secret
"""


async def test_a_pick_list_showing_its_connection_s_secret_shows_it_masked(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    """The REST API (and the form) served the option's value, label and extra in clear:
    only the route's errors were masked."""
    _write(ws, "sloppy", SLOPPY)
    added = cli("connections", "add", "sloppy", "--type", "sloppy", "--secret", "api_key",
                input="sloppy-key-5521\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    conn = Connection("sloppy", get_connector("sloppy", ws), {"api_key": "sloppy-key-5521"})

    status, answer = await rest(jp_fetch, "GET", "connections", "sloppy", "picklists", "keys")
    (option,) = ConnectionClient(conn).picklist("keys")  # as the notebook's form lists it

    assert status == 200, answer
    masked = {"value": "****", "label": "the key ****", "extra": {"key": "****"}}
    assert answer == {"options": [masked]}
    assert (option.value, option.label, option.extra) == tuple(masked.values())


def test_the_readme_example_never_creates_a_lead_twice_across_retries_of_a_job(
    ws: Path, server: Recorder
) -> None:
    """A job retried after Acme answered 500 (it may have created the lead) posted the lead
    again; a lead created once is not created again; a refused one may be sent again."""
    _write(ws, "acme", _readme_example())
    acme = get_connector("acme", ws)

    def lead(route: str, ledger: MemoryLedger) -> Callable[[], Any]:
        config = {"base_url": f"{server.url}/{route}", "api_key": TOKEN}
        conn = Connection("acme", acme, config, ledger=ledger)  # a job chain's ledger
        return lambda: ConnectionClient(conn).create_lead(email="a@example.com")

    failed, created, refused = MemoryLedger(), MemoryLedger(), MemoryLedger()
    unsure = []
    for _ in range(2):  # the job, then its retry
        with pytest.raises(ConnectorError) as raised:
            lead("status/500", failed)()
        unsure.append(raised.value)
        with pytest.raises(ConnectorError) as refused_once:
            lead("status/422", refused)()
        assert not refused_once.value.uncertain  # nothing was created: a retry may send
    first, again = lead("echo", created)(), lead("echo", created)()

    assert len(server.seen("/status/500/leads")) == 1
    # Both say so to the job, which then is not retried (an unattended recipe's `retries`
    # would have run it again and again until its count ran out).
    assert all(e.uncertain and "may exist: check Acme" in e.message for e in unsure), unsure
    assert len(server.seen("/echo/leads")) == 1 and again == first
    assert len(server.seen("/status/422/leads")) == 2


# -- a connector's test whose own code fails -----------------------------------------------

FAILING_TEST = (
    ACME
    + """

@connector.test
def test(conn):
    answer = {"user": "me", "key": conn.config["api_key"]}
    return answer["account"] + conn.config["api_key"]
"""
)
#: The line of `FAILING_TEST` that fails, counted as an editor counts it.
FAILING_LINE = (
    FAILING_TEST.splitlines().index('    return answer["account"] + conn.config["api_key"]') + 1
)


def test_a_test_whose_code_raises_says_where_with_its_traceback_in_the_log(
    cli: Callable[..., Result], ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its status said only `disconnected: KeyError: 'account'`, with no fix and no
    traceback anywhere: its author could not find the failing line."""
    _write(ws, "acme", FAILING_TEST)
    assert _add_acme(cli).exit_code == 0

    tested = cli("connections", "test", "acme-prod")
    shown = json.loads(cli("connections", "list", "--json").stdout)[0]

    place = f"connectors/acme.py, line {FAILING_LINE}"
    assert tested.exit_code == 1, tested.output
    assert shown["status"] == "disconnected", shown
    assert shown["status_message"] == (
        f"the test of connector acme failed in its own code: KeyError: 'account' ({place})\n"
        f"  fix: correct the connector's test in {place} (the log has its traceback), then "
        "`lpstudio connections test acme-prod`"
    ), shown
    logged = caplog.text  # the CLI's stderr, the server's log
    assert "Traceback (most recent call last)" in logged and "KeyError: 'account'" in logged
    assert f'acme.py", line {FAILING_LINE}, in test' in logged, logged


def test_a_package_connector_s_failing_test_names_its_module_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A package's connector is named by its installed file, not the entry point alone; the
    connection's secret in what it raised is masked in its status and the log."""
    _package(tmp_path, monkeypatch, {"acme": "acme_pkg:connector"})
    quoting = FAILING_TEST.replace(
        'answer["account"]', 'answer["account" + conn.config["api_key"]]'
    )
    (tmp_path / "site" / "acme_pkg.py").write_text(quoting)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "acme-prod", "acme", {"base_url": "https://a.test", "api_key": "demo-key-1"}, "alice"
        )
        info = studio.connections.test("acme-prod")

    place = f"acme_pkg.py, line {FAILING_LINE}"
    assert info.status == "disconnected", info
    assert f"KeyError: 'account****' ({place})" in (info.status_message or ""), info
    assert f"fix: correct the connector's test in {place}" in (info.status_message or ""), info
    assert "KeyError: 'account****'" in caplog.text and "demo-key-1" not in caplog.text


def test_a_connector_error_of_a_test_is_said_as_it_is(cli: Callable[..., Result], ws: Path) -> None:
    """The app's refusal, raised as a `ConnectorError`, keeps its own message and fix."""
    refused = (
        ACME
        + """

from lpstudio.sdk import ConnectorError


@connector.test
def test(conn):
    raise ConnectorError("Acme answered HTTP 401", fix="give another api_key")
"""
    )
    _write(ws, "acme", refused)
    assert _add_acme(cli).exit_code == 0

    tested = cli("connections", "test", "acme-prod", "--json")

    assert json.loads(tested.stdout)["status_message"] == (
        "ConnectorError: Acme answered HTTP 401\n  fix: give another api_key"
    )
    assert "Traceback" not in tested.output
