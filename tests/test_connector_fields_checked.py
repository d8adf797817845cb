"""A connector's fields as the README's "Writing a connector" promises them: a value a field
cannot take is refused naming the field (a boolean too, never read as false), a field no
value could satisfy is refused when the connector loads, naming the file, the field and
the fix, and a workspace file that takes a name already used breaks no other connector.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio import registry
from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import Connector, Field
from lpstudio.studio import Studio

from .conftest import write_recipe
from .servers import rest

ACME = """
from lpstudio.sdk import Connector, Field

connector = Connector(
    "acme",
    title="Acme CRM",
    fields=[
        Field("base_url", "API base URL", type="url"),
        Field("verbose", "Verbose", type="boolean", required=False),
        Field("sandboxed", "Sandboxed", type="boolean", required=False, secret=True),
        Field("tier", "Tier", type="integer", required=False, choices=(1, 2, 3)),
        Field("weight", "Weight", type="number", required=False),
    ],
)
"""


def _declaring(name: str, fields: str = "") -> str:
    """A connector file's source: connector `name` with `fields` (Field(...) calls)."""
    return (
        "from lpstudio.sdk import Connector, Field\n"
        f'connector = Connector("{name}", title="{name}", fields=[{fields}])\n'
    )


def _write(ws: Path, name: str, source: str) -> Path:
    folder = ws / "connectors"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def _add(cli: Callable[..., Result], *fields: str, input: str | None = None) -> Result:
    pairs = [arg for field in fields for arg in ("--field", field)]
    return cli(
        "connections",
        "add",
        "crm",
        "--type",
        "acme",
        "--field",
        "base_url=http://127.0.0.1:9",
        *pairs,
        *(["--secret", "sandboxed"] if input is not None else []),
        "--json",
        input=input,
    )


def _listed(cli: Callable[..., Result]) -> dict[str, dict[str, Any]]:
    listed = cli("connections", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return {c["name"]: c["fields"] for c in json.loads(listed.stdout)}


def _error(result: Result) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


# -- a boolean field takes yes or no, and refuses anything else --------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("true", True),
        ("Yes", True),
        (" on ", True),
        ("1", True),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
    ],
)
def test_a_boolean_field_takes_the_words_for_yes_and_no(
    ws: Path, cli: Callable[..., Result], given: str, stored: bool
) -> None:
    _write(ws, "acme", ACME)

    added = _add(cli, f"verbose={given}")

    assert added.exit_code == 0, added.output
    assert _listed(cli)["crm"]["verbose"] is stored


def test_a_boolean_field_given_empty_on_add_is_not_given_as_on_update(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """An empty value clears a field on `update`: on `add` it is the field's default too."""
    _write(ws, "acme", ACME)

    added = _add(cli, "verbose=")

    assert added.exit_code == 0, added.output
    assert "verbose" not in _listed(cli)["crm"]


@pytest.mark.parametrize("given", ["ture", "nah", "2", "y es"])
def test_a_boolean_field_refuses_other_text_naming_the_field_and_saves_nothing(
    ws: Path, cli: Callable[..., Result], given: str
) -> None:
    _write(ws, "acme", ACME)

    error = _error(_add(cli, f"verbose={given}"))

    assert error["field"] == "verbose"
    assert (
        error["message"] == "connection field 'verbose' (Verbose) is invalid: expects a boolean, "
        f"got {json.dumps(given)}"
    )
    assert "true or false" in error["fix"]
    assert "crm" not in _listed(cli)


@pytest.mark.parametrize("given", ["weight=nan", "weight=inf", "weight=-Infinity", "tier=1_0"])
def test_a_number_field_refuses_what_json_cannot_hold_or_python_alone_reads(
    ws: Path, cli: Callable[..., Result], given: str
) -> None:
    """`float()` reads nan and inf, which were stored and listed as `NaN` (no JSON); `int()`
    reads `1_0` as 10."""
    _write(ws, "acme", ACME)

    error = _error(_add(cli, given))

    field, value = given.split("=")
    assert error["field"] == field
    assert error["message"].endswith(f"got {json.dumps(value)}"), error["message"]
    assert "crm" not in _listed(cli)


def test_a_secret_boolean_field_refuses_other_text_without_showing_it(
    ws: Path, cli: Callable[..., Result]
) -> None:
    _write(ws, "acme", ACME)

    error = _error(_add(cli, input="maybe-4f2a\n"))

    assert error["field"] == "sandboxed"
    assert error["message"].endswith("expects a boolean, got text"), error
    assert "maybe-4f2a" not in json.dumps(error)
    assert "crm" not in _listed(cli)


def test_integer_choices_are_taken_as_integers(ws: Path, cli: Callable[..., Result]) -> None:
    _write(ws, "acme", ACME)

    refused = _error(_add(cli, "tier=4"))
    added = _add(cli, "tier=2")

    assert refused["field"] == "tier"
    assert added.exit_code == 0, added.output
    assert _listed(cli)["crm"]["tier"] == 2


async def test_a_value_outside_a_field_s_choices_is_refused_with_the_choices(
    jp_fetch: Any, ws: Path, cli: Callable[..., Result]
) -> None:
    """The refusal's fix said "give a value of the field's type", which 'asia' was."""
    region = 'Field("region", "Region", required=False, choices=("eu", "us")),'
    _write(ws, "acme", ACME.replace("    ],\n)", f"        {region}\n    ],\n)"))
    assert _add(cli, "region=eu").exit_code == 0

    updated = _error(cli("connections", "update", "crm", "--field", "region=asia", "--json"))
    code, answered = await rest(
        jp_fetch, "PUT", "connections", "crm", body={"fields": {"region": "asia"}}
    )
    tier = _error(cli("connections", "update", "crm", "--field", "tier=4", "--json"))

    assert updated["message"] == (
        "connection field 'region' (Region) is invalid: 'asia' is not one of ['eu', 'us']"
    ), updated
    assert (updated["field"], updated["fix"]) == ("region", "use one of: eu, us"), updated
    assert code == 400 and answered["error"] == updated, answered
    assert tier["fix"] == "use one of: 1, 2, 3", tier
    assert _listed(cli)["crm"]["region"] == "eu"


async def test_the_rest_api_takes_json_booleans_and_refuses_text_that_is_no_boolean(
    jp_fetch: Any, ws: Path
) -> None:
    _write(ws, "acme", ACME)
    fields = {"base_url": "http://127.0.0.1:9"}

    refused = await rest(
        jp_fetch,
        "POST",
        "connections",
        body={"name": "crm", "type": "acme", "fields": {**fields, "verbose": "nah"}},
    )
    created = await rest(
        jp_fetch,
        "POST",
        "connections",
        body={"name": "crm", "type": "acme", "fields": {**fields, "verbose": True}},
    )
    worded = await rest(
        jp_fetch,
        "POST",
        "connections",
        body={"name": "crm2", "type": "acme", "fields": {**fields, "verbose": "off"}},
    )

    assert refused[0] == 400, refused
    assert refused[1]["error"]["field"] == "verbose"
    assert 'got "nah"' in refused[1]["error"]["message"]
    assert created[0] == 201, created
    assert created[1]["fields"]["verbose"] is True
    assert worded[0] == 201, worded
    assert worded[1]["fields"]["verbose"] is False


def test_an_imported_package_whose_boolean_field_is_no_boolean_is_refused_whole(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    with Studio.init(source, accept_terms=True, admin="alice") as studio:
        _write(source, "acme", ACME)
        studio.connections.add(
            "crm", "acme", {"base_url": "http://127.0.0.1:9", "verbose": "yes"}, "alice"
        )
        meta = {"title": "a", "connections": {"crm": {"type": "acme"}}}
        write_recipe(source, "p/a", "x: int = 1", metadata=meta)
        studio.save_settings("p/a", {}, connections={"crm": "crm"})
    Studio.init(target, accept_terms=True, admin="bob").close()
    _write(target, "acme", ACME)
    package = tmp_path / "p.zip"
    exported = CliRunner().invoke(
        main, ["export", "p", "-o", str(package), "--workspace", str(source)]
    )
    assert exported.exit_code == 0, exported.output
    spoiled = tmp_path / "spoiled.zip"
    with zipfile.ZipFile(package) as zipped, zipfile.ZipFile(spoiled, "w") as out:
        for name in zipped.namelist():
            data = zipped.read(name)
            if name == "lpstudio-package.json":
                manifest = json.loads(data)
                assert manifest["connections"]["crm"]["fields"]["verbose"] is True
                manifest["connections"]["crm"]["fields"]["verbose"] = "nah"
                data = json.dumps(manifest).encode()
            out.writestr(name, data)

    imported = CliRunner().invoke(
        main, ["import", str(spoiled), "--json", "--workspace", str(target)]
    )

    error = _error(imported)
    assert error["field"].endswith("verbose"), error
    assert 'got "nah"' in error["message"]
    assert not (target / "projects/p").exists()


# -- a field no value could satisfy is refused when the connector loads ------------------------


@pytest.mark.parametrize(
    ("declared", "field", "fix"),
    [
        ('Field("p", "P", pattern="([")', "fields.p.pattern", "regular expression"),
        ('Field("p", "P", pattern="([", default="x")', "fields.p.pattern", "regular expression"),
        ('Field("p", "P", pattern=5)', "fields.p.pattern", "regular expression"),
        ('Field("c", "C", choices=("a", "b"), type="integer")', "fields.c.choices", "integer"),
        ('Field("c", "C", choices=("1", "2"), type="integer")', "fields.c.choices", "integer"),
        ('Field("c", "C", choices=(True,), type="integer")', "fields.c.choices", "integer"),
        ('Field("c", "C", choices=("ftp://x",), type="url")', "fields.c.choices", "url"),
        (
            'Field("c", "C", choices=("a1", "22"), pattern="^[0-9]+$")',
            "fields.c.choices",
            "pattern",
        ),
        (
            'Field("c", "C", choices=(0, 5), type="integer", minimum=1)',
            "fields.c.choices",
            "at least 1",
        ),
        ('Field("Bad Name!", "x")', "fields.Bad Name!", "a-z, digits"),
        ('Field("", "empty")', "fields.", "a-z, digits"),
        ('Field("api key", "Key")', "fields.api key", "e.g. api_key"),
        (
            'Field("lo", "lo", type="integer", minimum=10, maximum=1)',
            "fields.lo.minimum",
            "at most",
        ),
        (
            'Field("lo", "lo", type="number", minimum=1, maximum=1, exclusive_minimum=True)',
            "fields.lo.minimum",
            "at most",
        ),
        (
            'Field("lo", "lo", type="integer", minimum=1.2, maximum=1.8)',
            "fields.lo.minimum",
            "integer",
        ),
    ],
)
def test_a_field_no_value_could_satisfy_is_refused_at_load_naming_file_field_and_fix(
    ws: Path, cli: Callable[..., Result], declared: str, field: str, fix: str
) -> None:
    path = _write(
        ws,
        "acme",
        _declaring("acme", declared),
    )

    listed = cli("connectors", "--json")
    with pytest.raises(InputError) as caught:
        get_connector("acme", ws)

    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    assert "acme" not in {c["name"] for c in found["connectors"]}
    assert "http" in {c["name"] for c in found["connectors"]}  # the others still load
    (broken,) = found["broken"]
    assert broken["name"] == "acme" and broken["field"] == field, broken
    assert f"connector connectors/{path.name}" in broken["message"] and fix in broken["fix"], broken
    assert (
        caught.value.field == field and f"connector connectors/{path.name}" in caught.value.message
    )


def test_a_connection_of_a_connector_with_a_bad_pattern_is_refused_without_a_traceback(
    ws: Path, cli: Callable[..., Result]
) -> None:
    path = _write(
        ws,
        "pat",
        _declaring("pat", 'Field("p", "P", pattern="([")'),
    )

    error = _error(cli("connections", "add", "p1", "--type", "pat", "--field", "p=x", "--json"))

    assert error["field"] == "fields.p.pattern"
    assert f"connector connectors/{path.name}" in error["message"] and "'(['" in error["message"]
    assert "regular expression" in error["fix"]


def test_fields_that_values_can_satisfy_still_load(ws: Path) -> None:
    _write(
        ws,
        "acme",
        _declaring(
            "acme",
            'Field("n2", "N", type="integer", minimum=1, maximum=1),'
            'Field("r", "R", type="number", minimum=0, maximum=1, exclusive_minimum=True),'
            'Field("k", "K", type="integer", minimum=0.5, maximum=1.5, choices=(1,)),'
            'Field("m", "M", choices=("a", "b"), pattern="^[a-z]$", default="a"),'
            'Field("u", "U", type="url", choices=("https://a.example",)),'
            'Field("apiKey", "An app\'s spelling"), Field("api-key", "Another")',
        ),
    )

    names = [f.name for f in get_connector("acme", ws).fields]
    assert names == ["n2", "r", "k", "m", "u", "apiKey", "api-key"]


def test_two_fields_whose_names_differ_only_in_case_are_refused() -> None:
    """Both would read one `$LPSTUDIO_SECRET_APIKEY`."""
    with pytest.raises(InputError) as caught:
        Connector("acme", title="Acme", fields=[Field("apiKey", "K"), Field("apikey", "k")])
    assert caught.value.field == "fields.apikey" and "differ only in case" in caught.value.message


# -- a workspace file that takes a name already used breaks no other connector ------------------


def test_a_workspace_file_taking_a_bundled_name_is_broken_and_the_bundled_one_works(
    ws: Path, cli: Callable[..., Result]
) -> None:
    shadow = _write(
        ws,
        "http2",
        _declaring("http"),
    )
    write_recipe(ws, "web/get", metadata={"title": "get", "connections": {"web": {"type": "http"}}})

    text = cli("connectors")
    listed = json.loads(cli("connectors", "--json").stdout)
    added = cli(
        "connections", "add", "h", "--type", "http", "--field", "base_url=https://x.example"
    )
    settings = cli("settings", "web/get", "--connection", "web=h")

    assert text.exit_code == 0, text.output
    http = next(c for c in listed["connectors"] if c["name"] == "http")
    assert http["title"] == "HTTP" and http["source"] == "lpstudio:connectors/http"
    (broken,) = listed["broken"]
    assert broken["name"] == "http2" and broken["field"] == "name"
    # Each named as `source` names it, never by a server's folder.
    assert f"of connectors/{shadow.name} is not used" in broken["message"], broken
    assert "taken by lpstudio:connectors/http," in broken["message"], broken
    assert "rename" in broken["fix"]
    assert "http2 " in text.stdout and "  fix: rename" in text.stdout
    assert added.exit_code == 0, added.output
    assert settings.exit_code == 0, settings.output


def test_a_package_taking_a_bundled_name_is_broken_and_the_bundled_one_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    info = site / "shadow_connectors-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shadow-connectors\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[lpstudio.connectors]\nmy_http = shadow_pkg\n")
    (site / "shadow_pkg.py").write_text(_declaring("http"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "shadow_pkg", raising=False)
    monkeypatch.setattr(registry, "_base", None)  # as in a process started after the install

    listing = registry.connector_listing(None)

    assert get_connector("http").title == "HTTP"
    (broken,) = listing["broken"]
    assert broken["name"] == "my_http" and "shadow_pkg" in broken["message"]
    assert "rename" in broken["fix"]


def test_two_workspace_files_of_one_name_are_both_refused_naming_both_and_the_fix(
    ws: Path, cli: Callable[..., Result]
) -> None:
    first = _write(ws, "acme", ACME)
    second = _write(ws, "acme_copy", ACME)
    _write(
        ws,
        "other",
        _declaring("other"),
    )

    listed = json.loads(cli("connectors", "--json").stdout)
    error = _error(_add(cli))

    assert {"other", "http"} <= {c["name"] for c in listed["connectors"]}
    assert "acme" not in {c["name"] for c in listed["connectors"]}
    (broken,) = listed["broken"]
    assert broken == {**error, "name": "acme"}
    said = f"connectors/{first.name} and connectors/{second.name}"
    assert said in error["message"] and str(first) not in error["message"], error
    assert "none of them is used" in error["message"]
    assert "rename" in error["fix"] and "remove" in error["fix"]


async def test_the_rest_api_names_a_broken_connector_s_files_by_their_path_in_the_workspace(
    ws: Path, jp_fetch: Any
) -> None:
    """GET /connectors quoted the server's folders (`/srv/brand/ws/connectors/acme.py`) to
    every caller, as no error answer does."""
    _write(ws, "acme", ACME)
    _write(ws, "acme_copy", ACME)

    status, answer = await rest(jp_fetch, "GET", "connectors")

    assert status == 200, answer
    (broken,) = answer["broken"]
    assert "connectors/acme.py" in broken["message"], broken
    assert "connectors/acme_copy.py" in broken["message"], broken
    text = json.dumps(answer)
    assert str(ws) not in text and str(ws.resolve()) not in text


def test_a_field_s_reason_is_shown_as_written_but_for_its_named_placeholders(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A reason was expanded as `re` expands `\\1`: a backslash in a third-party reason
    became a line break (`\\n`) or failed the save with `re`'s error (`\\u`); it is shown as
    written, and `{name}` gives what the rule's group of that name found."""
    _write(
        ws,
        "files",
        _declaring(
            "files",
            'Field("folder", "Folder", pattern=r"^[^\\\\{}]+$", reasons=('
            '(r"\\\\", r"holds a backslash (\\), as C:\\new\\users does: use / between folders"),'
            '(r"^(?P<name>[a-z]+)\\{", "holds a brace after {name}, as in {set}"),'
            "))",
        ),
    )

    slash = _error(
        cli("connections", "add", "f1", "--type", "files", "--field", "folder=a\\b", "--json")
    )
    brace = _error(
        cli("connections", "add", "f2", "--type", "files", "--field", "folder=docs{x", "--json")
    )

    assert slash["field"] == "folder", slash
    said = r"holds a backslash (\), as C:\new\users does: use / between folders"
    assert said in slash["message"], slash
    assert "'docs{x' holds a brace after docs, as in {set}" in brace["message"], brace
