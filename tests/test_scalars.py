"""Text typed for an integer, a number or a boolean is read one way, whether it is a recipe's
parameter (`-p`, a form's field) or a connection's field (`--field`): both help texts say
the value is "parsed into its declared type", and a reviewer found `1_0` injected as 10 by
one and refused by the other."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from lpstudio.errors import InputError, ParameterError
from lpstudio.sdk import Connector, Field
from lpstudio.studio import Studio

from .conftest import write_recipe

REFUSED = "refused"  # no integer, number or boolean

#: (type, text, value read, or REFUSED), for both a parameter and a field of that type.
READINGS = [
    ("integer", "7", 7),
    ("integer", " -7 ", -7),
    ("integer", "+7", 7),
    ("integer", "1_0", REFUSED),  # Python's digit separator: int() reads 10
    ("integer", "7.0", 7),  # a whole number, as JSON's 7.0 is (`scalars.whole`)
    ("integer", "1e3", 1000),
    ("integer", "7.5", REFUSED),
    ("integer", "\uff13", REFUSED),  # a full-width 3: int() reads any script's digits
    ("integer", "\u0663", REFUSED),  # an Arabic-Indic 3
    ("number", "2.5", 2.5),
    ("number", "10", 10.0),
    ("number", "1e-05", 1e-05),
    ("number", "1_0.5", REFUSED),  # float() reads 10.5
    ("number", "\uff11.\uff15", REFUSED),  # full-width 1.5, which JSON cannot carry
    ("number", "nan", REFUSED),  # float() reads these, which JSON cannot store
    ("number", "-Infinity", REFUSED),
    ("number", "1e400", REFUSED),  # inf
    ("boolean", "yes", True),
    ("boolean", " ON ", True),
    ("boolean", "1", True),
    ("boolean", "False", False),
    ("boolean", "off", False),
    ("boolean", "0", False),
    ("boolean", "ture", REFUSED),
    ("boolean", "2", REFUSED),
]
NAMES = {"integer": "n", "number": "r", "boolean": "b"}


def _parameter(studio: Studio, kind: str, text: str) -> Any:
    """What a run given `-p NAME TEXT` would inject, or REFUSED."""
    name = NAMES[kind]
    try:
        return studio.validate("t/types", {name: text}, parse={name})[1][name]
    except ParameterError:
        return REFUSED


def _field(kind: str, text: str) -> Any:
    """What `connections add ... --field NAME=TEXT` would store, or REFUSED."""
    connector = Connector(
        "typed",
        title="Typed",
        fields=[Field(NAMES[kind], NAMES[kind], type=kind, required=False)],
    )
    try:
        return connector.validate_config({NAMES[kind]: text})[NAMES[kind]]
    except InputError:
        return REFUSED


@pytest.mark.parametrize(("kind", "text", "read"), READINGS)
def test_a_parameter_and_a_connection_field_read_the_same_text_alike(
    studio: Studio, kind: str, text: str, read: Any
) -> None:
    write_recipe(studio.workspace.root, "t/types", "n: int = 1\nr: float = 1.0\nb: bool = False")

    as_parameter, as_field = _parameter(studio, kind, text), _field(kind, text)

    assert (as_parameter, as_field) == (read, read)
    assert type(as_parameter) is type(as_field)  # 10.0 as a number, not 10


def _error(result: Result) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    return json.loads(result.stdout)["error"]


def test_run_refuses_an_integer_with_an_underscore_and_prepares_nothing(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """The reviewer's command: it injected `days_ahead = 10`."""
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("payment_reminder", "billing", "reminder")

    args = ("-p", "days_ahead", "1_0", "--prepare-only", "--json")
    error = _error(cli("run", "billing/reminder", *args))

    assert error == {
        "code": "ParameterError",
        "message": "parameter 'days_ahead' expects an integer, got \"1_0\"",
        "field": "days_ahead",
        "fix": "pass an integer, for example: 7",
    }
    assert not list((ws / "history").rglob("*.ipynb"))


def test_connections_add_refuses_an_integer_with_an_underscore(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """The reviewer's other command, which refused it already: it still does, as it did."""
    fields = ("--field", "base_url=http://127.0.0.1:9/", "--field", "retries=1_0")
    error = _error(cli("connections", "add", "h1", "--type", "http", *fields, "--json"))

    assert error == {
        "code": "InputError",
        "message": "connection field 'retries' (Retries) is invalid: expects an integer, "
        'got "1_0"',
        "field": "retries",
        "fix": "give retries as an integer: how many times a failed request is tried again "
        "(0 to 3; by default never)",
    }
    listed = cli("connections", "list", "--json")
    assert "h1" not in {c["name"] for c in json.loads(listed.stdout)}
