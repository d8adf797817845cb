"""A body's optional text field sent as null, as JSON clients send "none", is taken as left
out; a required field's null is refused, and so is a timeout's, which could mean no limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lpstudio.server.routes import ROUTES
from lpstudio.server.schemas import NULL_IS_ABSENT
from tests.conftest import write_recipe
from tests.servers import rest


async def test_optional_fields_sent_as_null_are_taken_as_left_out(jp_fetch: Any, ws: Path) -> None:
    """Each was refused 400 "null is not of type 'string'"."""
    write_recipe(ws, "p/tick")
    code, started = await rest(
        jp_fetch, "POST", "recipes", "p/tick.ipynb", "start", body={"reset_since": None}
    )
    assert code == 200 and started["state"] == "started", started

    # A timeout's null could read as no limit as well as the default: still refused.
    code, refused = await rest(
        jp_fetch, "POST", "recipes", "p/tick.ipynb", "run", body={"timeout": None}
    )
    assert code == 400 and refused["error"]["field"] == "timeout", refused

    code, tried = await rest(
        jp_fetch,
        "POST",
        "gallery",
        "try",
        body={"template": "cb_optin", "project": "bots", "name": None},
    )
    assert code in (200, 201), tried
    assert tried["recipe"] == "bots/cb_optin.ipynb", tried  # the template's name


async def test_a_required_field_sent_as_null_is_refused_naming_it(jp_fetch: Any) -> None:
    code, refused = await rest(
        jp_fetch, "POST", "gallery", "try", body={"template": "cb_optin", "project": None}
    )
    assert code == 400 and refused["error"]["field"] == "project", refused


def test_the_request_schemas_say_which_fields_take_null_as_left_out() -> None:
    """The OpenAPI document publishes these schemas: null is in each such field's type, and
    only an optional field's."""
    marked = {
        (route.path, method, name): (field, op.body.get("required", []))
        for route in ROUTES
        for method, op in route.operations.items()
        if op.body is not None
        for name, field in op.body.get("properties", {}).items()
        if field.get(NULL_IS_ABSENT)
    }
    assert {name for _, _, name in marked} == {"reset_since", "name"}, marked
    for (path, method, name), (field, required) in marked.items():
        assert "null" in field["type"] and name not in required, (path, method, field)
        assert "null: as if left out" in field["description"], (path, method, field)
