"""What a connector's author gets wrong is refused where it is written, naming it: a copy
that would silently take over when the other breaks, an `Again` without a usable wait, a
declaration that is no function, a schema `$ref` that leads nowhere."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.registry import get_connector, load_connectors
from lpstudio.sdk import Again, Connection, retry_after, retrying

from .test_connectors_generic import Recorder, server

__all__ = ["server"]  # a fixture shared with that test's module

HEAD = "from lpstudio.sdk import Connector, Field\n"

ACME = HEAD + 'connector = Connector("acme", title="{title}")\n'


def _write(ws: Path, name: str, source: str) -> Path:
    folder = ws / "connectors"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def _listing(cli: Callable[..., Result]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """The names `lpstudio connectors` lists as working, and its broken ones by name."""
    listed = cli("connectors", "--json")
    assert listed.exit_code == 0, listed.output
    found = json.loads(listed.stdout)
    return {c["name"] for c in found["connectors"]}, {b["name"]: b for b in found["broken"]}


# -- a copy never takes over when the other file breaks ---------------------------------------


@pytest.mark.parametrize("breaks", ["acme", "acme_v2"])
def test_a_copy_does_not_take_over_a_name_when_the_other_file_breaks(
    ws: Path, cli: Callable[..., Result], breaks: str
) -> None:
    """Two files of `acme` are both refused; once one of them has a syntax error, the
    other (an old backup) was listed as working and ran for every connection of type acme."""
    files = {stem: _write(ws, stem, ACME.format(title=stem)) for stem in ("acme", "acme_v2")}
    _write(ws, "other", HEAD + 'connector = Connector("other", title="Other")\n')
    assert "acme" in _listing(cli)[1]
    files[breaks].write_text(HEAD + 'connector = Connector("acme", title="half-written"\n')

    working, broken = _listing(cli)

    assert "acme" not in working and "other" in working
    message = broken["acme"]["message"]
    assert "connectors/acme.py and connectors/acme_v2.py" in message and str(ws) not in message
    assert "SyntaxError" in message and "line 2" in message  # why the one does not load
    with pytest.raises(InputError) as refused:
        get_connector("acme", ws)
    assert refused.value.message == message


def test_a_file_that_breaks_under_a_name_of_its_own_leaves_the_others_working(
    ws: Path, cli: Callable[..., Result]
) -> None:
    _write(ws, "acme", ACME.format(title="Acme"))
    _write(ws, "beta", HEAD + 'connector = Connector("beta", title="B"\n')

    working, broken = _listing(cli)

    assert "acme" in working and get_connector("acme", ws).title == "Acme"
    assert set(broken) == {"beta"} and "connector connectors/beta.py" in broken["beta"]["message"]


# -- Again: a missing wait is the SDK's default, a negative one is refused ------------------


def test_a_503_without_retry_after_is_tried_again_after_the_default_wait(server: Recorder):
    """`Again(retry_after(None), ...)`, as the README uses it, raised TypeError after one try."""

    def attempt() -> httpx.Response:
        response = httpx.get(f"{server.url}/status/503")
        raise Again(retry_after(response.headers.get("Retry-After")), "HTTP 503", 503)

    started = time.monotonic()
    with pytest.raises(Again) as spent:
        retrying(attempt, tries=2)

    assert spent.value.status == 503 and spent.value.wait == 1.0
    assert len(server.seen("/status/503")) == 2
    assert time.monotonic() - started >= 1.0  # the default wait, a second


def test_a_negative_wait_is_refused_where_it_is_given_naming_wait(server: Recorder):
    def attempt() -> httpx.Response:
        httpx.get(f"{server.url}/status/429")
        raise Again(-1, "HTTP 429", 429)

    with pytest.raises(InputError) as refused:
        retrying(attempt, tries=3)

    assert refused.value.field == "wait" and "-1" in refused.value.message
    assert "retry_after" in (refused.value.fix or "")
    assert len(server.seen("/status/429")) == 1  # not sent again on a wait nobody can wait


# -- a declaration that is no function is refused when the connector loads --------------------


@pytest.mark.parametrize(
    ("declaration", "field"),
    [
        ('connector.action("a", title="A")("not a function")', "actions.a"),
        ('connector.poll_trigger("p", title="P", key=lambda e: e["id"])(None)', "triggers.p"),
        ('connector.webhook_trigger("w", title="W")("nope")', "triggers.w"),
        ('connector.picklist("l", title="L")(42)', "picklists.l"),
    ],
)
def test_a_declaration_that_is_no_function_is_refused_at_load(
    ws: Path, cli: Callable[..., Result], declaration: str, field: str
) -> None:
    path = _write(ws, "acme", ACME.format(title="x") + declaration + "\n")

    working, broken = _listing(cli)
    with pytest.raises(InputError) as refused:
        get_connector("acme", ws)

    assert "acme" not in working and "http" in working
    assert broken["acme"] == refused.value.to_dict() | {"name": "acme"}
    assert refused.value.field == field
    assert (
        f"connector connectors/{path.name}" in refused.value.message
        and "connector acme" in refused.value.message
    )
    assert "not a function" in refused.value.message and "def " in (refused.value.fix or "")


# -- a schema's `$ref` that leads nowhere is refused when the connector loads ------------------

REFS = HEAD + (
    'connector = Connector("refs", title="Refs")\n'
    '@connector.action("a", title="A", input_schema={{"type": "object", "properties": '
    '{{"email": {{"$ref": "{ref}"}}}}, "$defs": {{"email": {{"type": "string"}}}}}})\n'
    "def a(conn, data):\n"
    '    return {{"got": data["email"]}}\n'
)


def test_a_dangling_ref_is_refused_at_load_naming_the_schema_and_the_ref(
    ws: Path, cli: Callable[..., Result]
) -> None:
    path = _write(ws, "refs", REFS.format(ref="#/$defs/missing"))

    working, broken = _listing(cli)

    assert "refs" not in working and "http" in working
    error = broken["refs"]
    assert error["field"] == "actions.a.input_schema"
    assert (
        f"connector connectors/{path.name}" in error["message"]
        and "'#/$defs/missing'" in error["message"]
    )
    assert "$defs" in error["fix"]


def test_an_action_whose_ref_resolves_loads_and_checks_its_input_through_it(ws: Path) -> None:
    _write(ws, "refs", REFS.format(ref="#/$defs/email"))
    conn = Connection("r", load_connectors(ws)["refs"], {})

    answer = ConnectionClient(conn).a(email="a@example.com")
    with pytest.raises(InputError) as refused:
        ConnectionClient(conn).a(email=7)

    assert answer == {"got": "a@example.com"}
    assert refused.value.field == "email" and "is not of type 'string'" in refused.value.message


#: An action taking `schema` as its input.
TAKING = HEAD + (
    'connector = Connector("refs", title="Refs")\n'
    '@connector.action("a", title="A", input_schema={schema!r})\n'
    "def a(conn, data):\n"
    '    return {{"got": data["email"]}}\n'
)


@pytest.mark.parametrize("keyword", ["$ref", "$dynamicRef"])
def test_a_dangling_reference_under_a_nested_id_is_refused_at_load_naming_where(
    ws: Path, cli: Callable[..., Result], keyword: str
) -> None:
    # `email` is a resource of its own: `#/$defs/email` is its own definition, which it
    # lacks, not the root's. A `$dynamicRef` was not checked: every job failed with
    # referencing's Unresolvable.
    schema = {
        "type": "object",
        "properties": {"email": {"$id": "urn:email", keyword: "#/$defs/email"}},
        "$defs": {"email": {"type": "string"}},
    }
    _write(ws, "refs", TAKING.format(schema=schema))

    error = _listing(cli)[1]["refs"]

    assert error["field"] == "actions.a.input_schema", error
    said = f"has a {keyword} '#/$defs/email' that leads nowhere in the schema (at properties/email)"
    assert said in error["message"], error
    assert error["fix"].startswith(f"point the {keyword} at a definition"), error


def test_an_action_schema_that_is_no_json_schema_is_refused_at_load_in_json_terms(
    ws: Path, cli: Callable[..., Result]
) -> None:
    # It said jsonschema's own words: "'strin' is not valid under any of the given schemas".
    schema = {"type": "object", "properties": {"email": {"type": "strin"}}}
    _write(ws, "refs", TAKING.format(schema=schema))

    error = _listing(cli)[1]["refs"]

    assert error["field"] == "actions.a.input_schema", error
    said = (
        'is not a valid JSON Schema: "strin" is not one of ["array", "boolean", "integer", '
        '"null", "number", "object", "string"] (at properties/email/type)'
    )
    assert error["message"].endswith(said), error


def test_references_resolved_from_a_nested_id_load_and_check_the_input(ws: Path) -> None:
    # Against the nested resource's own base: its definition, and the root by the root's $id.
    schema = {
        "$id": "https://example.com/a",
        "type": "object",
        "$defs": {"short": {"maxLength": 20}},
        "properties": {
            "email": {
                "$id": "https://example.com/email",
                "$defs": {"text": {"type": "string"}},
                "allOf": [{"$dynamicRef": "#/$defs/text"}, {"$ref": "a#/$defs/short"}],
            }
        },
    }
    _write(ws, "refs", TAKING.format(schema=schema))
    client = ConnectionClient(Connection("r", load_connectors(ws)["refs"], {}))

    assert client.a(email="a@example.com") == {"got": "a@example.com"}
    for wrong, said in ((7, "is not of type 'string'"), ("a" * 21, "is too long")):
        with pytest.raises(InputError) as refused:
            client.a(email=wrong)
        assert refused.value.field == "email" and said in refused.value.message
