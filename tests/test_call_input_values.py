"""What a bot's call hands its recipe, through a real `lpstudio serve` on loopback: the
input as the bot sent it, or a refusal before any job. A value holding a workspace secret
is refused as a person's event is (it was masked, and the job acted on the masked value),
and a number the input schema types `integer` reaches the recipe as an int, 3.0 as 3 (it
failed the job with a TypeError, and the same request with 3 got that failure replayed).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, Served, serving
from tests.test_call_query import error_of, job_count, send

#: The reviewer's CRM connection: its URL's password `sales` is a secret of the workspace.
CRM_URL = "postgresql+psycopg://crm:sales@127.0.0.1:5/crm"
#: The opt-in template's input, whose consumer id holds that password.
OPTIN = {
    "consumer_id": "wholesales-42",
    "phone": "+14155550100",
    "channel": "sms",
    "opt_in": True,
    "source": "Sales bot",
}
#: The `rng` callable's input: integers, declared directly and through a `$ref` in an array.
RNG_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["n"],
    "properties": {
        "n": {"type": "integer", "minimum": 0, "maximum": 10},
        "scale": {"type": "integer"},
        "counts": {"type": "array", "items": {"$ref": "#/$defs/count"}},
        "ratio": {"type": "number"},
        "note": {"type": "string"},
    },
    "$defs": {"count": {"type": ["integer", "null"]}},
}
#: Answers the Python type of each number it got, and works with `n` as an int would.
RNG_CELL = """\
event = lp.event
lp.respond({
    "picks": list(range(event["n"])),
    "types": {k: type(v).__name__ for k, v in event.items() if k != "counts"},
    "counts": [type(c).__name__ for c in event.get("counts", [])],
    "note": event.get("note"),
})"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The opt-in template on its CSV file, the CRM connection, and the `rng` callable."""
    root = tmp_path_factory.mktemp("values") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.try_template("cb_optin", "bots")
        studio.connections.add("optins", "csv_file", {"path": "optins.csv"}, "alice")
        studio.connections.add("crm", "sql", {"url": CRM_URL}, "alice")
        studio.start("bots/cb_optin.ipynb")
        write_recipe(
            root,
            "bots/rng",
            parameters="unused: int = 0  # the call's input is its event",
            cells=("import lpstudio.kernel as lp", RNG_CELL),
            metadata={
                "title": "rng",
                "trigger": {"kind": "callable", "path": "rng", "input_schema": RNG_INPUT},
            },
        )
        studio.start("bots/rng.ipynb")
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws) as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token(rate=10000)


def raw_call(served: Served, token: str, body: str) -> httpx.Response:
    """A POST whose body is written as given: `3e0` and `3.0` as the bot's JSON library
    wrote them."""
    headers = {"API-TOKEN": token, "Content-Type": "application/json;charset=UTF-8"}
    return httpx.post(f"{served.url}{API}/call/rng", content=body, headers=headers, timeout=60)


def refused_secret(answer: httpx.Response, field: str) -> dict[str, Any]:
    """A 400 naming `field` and a fix, the secret nowhere in it."""
    error = error_of(answer, 400, field)
    assert "secret of a connection" in error["message"], error
    assert "sales" not in answer.text.lower(), answer.text
    return error


def test_a_call_holding_a_secret_is_refused_naming_its_field_and_records_nothing(
    served: Served, token: str, ws: Path
) -> None:
    # Answered 200 {"recorded": true, "consumer_id": "whole****-42"}, written to the CSV.
    refused_secret(send(served, token, "POST", "optin", OPTIN), "consumer_id")
    inquery = {k: v for k, v in OPTIN.items() if k != "consumer_id"}
    refused_secret(
        send(served, token, "POST", "optin", inquery, consumer_id="wholesales-42"),
        "consumer_id",
    )
    # A recipe saw "my **** x" where the bot sent the secret.
    refused_secret(send(served, token, "POST", "rng", {"n": 1, "note": "my sales x"}), "note")
    refused_secret(send(served, token, "GET", "rng", n="1", note="my sales x"), "note")
    assert job_count(served, "bots/cb_optin") == 0
    assert job_count(served, "bots/rng") == 0
    optins = ws / "projects" / "bots" / "optins.csv"
    if optins.exists():
        with open(optins, newline="", encoding="utf-8") as handle:
            assert [r for r in csv.DictReader(handle) if "42" in r["consumer_id"]] == []
    # One rule: the same event given by a person is refused alike.
    run = served.api("alice", "POST", "/recipes/bots/cb_optin.ipynb/run", json={"event": OPTIN})
    assert run.status_code == 400 and "secret of a connection" in run.text, run.text
    # Without the secret, the call runs on what the bot sent.
    plain = {**OPTIN, "consumer_id": "whole-42", "source": "bot"}
    fine = send(served, token, "POST", "optin", plain)
    assert fine.status_code == 200 and fine.json()["consumer_id"] == "whole-42", fine.text


def test_an_integral_float_reaches_the_recipe_as_an_int_in_the_body_and_the_query(
    served: Served, token: str
) -> None:
    # Both answered 422 "TypeError: 'float' object cannot be interpreted as an integer".
    for answer in (
        send(served, token, "GET", "rng", n="3.0", scale="3e2"),
        raw_call(served, token, '{"n": 3e0, "scale": 3e2, "counts": [2.0, null], "ratio": 2.0}'),
    ):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["picks"] == [0, 1, 2], body
        assert body["types"]["n"] == "int" and body["types"]["scale"] == "int", body
        assert body["types"].get("ratio", "float") == "float", body  # a number stays a float
        assert body["counts"] in ([], ["int", "NoneType"]), body
    # What is no integer is refused before any job, naming the field.
    before = job_count(served, "bots/rng")
    error_of(raw_call(served, token, '{"n": 3.5}'), 400, "n")
    error_of(send(served, token, "GET", "rng", n="3.5"), 400, "n")
    error_of(raw_call(served, token, '{"n": 1, "counts": [1.5]}'), 400, "counts.0")
    assert job_count(served, "bots/rng") == before


def test_3_and_3_0_are_one_request_with_one_answer(served: Served, token: str) -> None:
    # The failed job of {"n": 3e0} was replayed to {"n": 3}: 422, Idempotent-Replayed.
    first = raw_call(served, token, '{"n": 4e0}')
    assert first.status_code == 200, first.text
    second = raw_call(served, token, json.dumps({"n": 4}))
    assert second.status_code == 200, second.text
    assert second.json() == first.json() and first.json()["picks"] == [0, 1, 2, 3]
