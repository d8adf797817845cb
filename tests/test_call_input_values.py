"""What a bot's call hands its recipe, through a real `lpstudio serve` on loopback: the
input as the bot sent it, or a refusal before any job. A value holding a workspace secret
reaches the recipe whole and is shown masked on its job (it was refused, and before that
the job acted on the masked value), and a number the input schema types `integer` reaches
the recipe as an int, 3.0 as 3 (it failed the job with a TypeError, and the same request
with 3 got that failure replayed).
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
from tests.conftest import run_json, write_recipe
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
#: The fix of a number or true/false a call sent where text is taken.
QUOTED = (
    'send it as text, in quotes: "{key}": "{text}" '
    '(a bot\'s variable in quotes too: "{{$botContext.{key}}}")'
)
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
        "email": {"type": "string", "format": "email"},
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
    "length": len(event.get("note") or ""),
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


def test_a_call_holding_a_secret_runs_on_what_the_bot_sent_and_shows_it_masked(
    served: Served, token: str, ws: Path
) -> None:
    # It was refused naming consumer_id (and before that run masked: the CSV recorded
    # "whole****-42", which nobody sent).
    answer = send(served, token, "POST", "optin", OPTIN)
    assert answer.status_code == 200, answer.text
    assert "sales" not in answer.text.lower(), answer.text  # the answer is shown masked
    job = served.api("alice", "GET", f"/jobs/{answer.headers['Lpstudio-Job']}")
    assert job.json()["event"]["consumer_id"] == "whole****-42", job.text
    with open(ws / "optins.csv", newline="", encoding="utf-8") as handle:
        recorded = [r["consumer_id"] for r in csv.DictReader(handle) if "42" in r["consumer_id"]]
    assert recorded == ["wholesales-42"], recorded
    # In the query too: its recipe counts the letters the bot sent.
    counted = send(served, token, "GET", "rng", n="1", note="my sales x")
    assert counted.status_code == 200 and counted.json()["length"] == 10, counted.text
    # A person's event holding it is still refused: they can put it in a connection.
    run = served.api("alice", "POST", "/recipes/bots/cb_optin.ipynb/run", json={"event": OPTIN})
    assert run.status_code == 400 and "secret of a connection" in run.text, run.text
    assert "sales" not in run.text.lower(), run.text


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


def test_a_quoted_integer_in_the_body_reaches_the_recipe_as_an_int(
    served: Served, token: str
) -> None:
    # A Conversation Builder bot quotes its variables ("{$botContext.n}"): {"n": "3"} was
    # refused, though ?n=3 reached the recipe as 3.
    answer = raw_call(served, token, '{"n": "3", "scale": "3e2", "ratio": "2.5", "note": "42"}')
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["picks"] == [0, 1, 2] and body["note"] == "42", body  # a string stays text
    assert body["types"] == {"n": "int", "scale": "int", "ratio": "float", "note": "str"}, body
    # Only the input's own fields are read so: an array's items are as sent.
    before = job_count(served, "bots/rng")
    error_of(raw_call(served, token, '{"n": 1, "counts": ["2"]}'), 400, "counts.0")
    assert job_count(served, "bots/rng") == before


def test_3_and_3_0_are_one_request_with_one_answer(served: Served, token: str) -> None:
    # The failed job of {"n": 3e0} was replayed to {"n": 3}: 422, Idempotent-Replayed.
    first = raw_call(served, token, '{"n": 4e0}')
    assert first.status_code == 200, first.text
    second = raw_call(served, token, json.dumps({"n": 4}))
    assert second.status_code == 200, second.text
    assert second.json() == first.json() and first.json()["picks"] == [0, 1, 2, 3]


def test_an_input_given_by_hand_is_refused_as_a_call_of_it_is(
    served: Served, token: str, ws: Path
) -> None:
    """A run by hand of a callable recipe (`lpstudio run --event`, the REST run's event)
    ran a job on an input its endpoint refuses with 400: only a webhook recipe's event was
    checked against its input schema. It is refused before any job, with the call's words."""
    optin = {**OPTIN, "consumer_id": "cb-42", "source": "welcome bot"}  # no secret in it
    missing = {key: value for key, value in optin.items() if key != "opt_in"}
    for path, recipe, event, field in (
        ("optin", "bots/cb_optin", {**optin, "phone": "0612345678"}, "phone"),
        ("optin", "bots/cb_optin", missing, "opt_in"),
        ("rng", "bots/rng", {"n": 11}, "n"),
        ("rng", "bots/rng", {"n": 3.5}, "n"),
        ("rng", "bots/rng", {"n": "three"}, "n"),  # refused by hand as text-for-number
        ("rng", "bots/rng", {"n": "11"}, "n"),  # out of range once read as 11
        ("rng", "bots/rng", {"n": 1, "counts": ["2"]}, "counts.0"),
        ("rng", "bots/rng", {"n": 1, "email": "nobody"}, "email"),
        ("rng", "bots/rng", {"n": 1, "note": 5}, "note"),  # told to quote it, by hand too
    ):
        before = job_count(served, recipe)
        call = error_of(send(served, token, "POST", path, event), 400, field)
        run = served.api("alice", "POST", f"/recipes/{recipe}.ipynb/run", json={"event": event})
        by_hand = error_of(run, 400, f"event.{field}")
        said = f"does not fit the input schema of recipe {recipe}.ipynb: {call['message']}"
        assert by_hand["message"] == f"event {said}", (by_hand, call)
        # One fix, which says what to give: the call's ended "see the input schema".
        assert by_hand["fix"] == call["fix"] and "input schema" not in call["fix"], (by_hand, call)
        code, answer = run_json("run", recipe, "--event", json.dumps(event), "-w", str(ws))
        assert code == 2 and answer["error"]["field"] == "--event", answer
        assert answer["error"]["message"] == f"--event {said}", answer
        assert answer["error"]["fix"] == call["fix"], (answer, call)
        assert job_count(served, recipe) == before, recipe
    for body, field, fix in (
        ({"n": 11}, "n", "give n as a whole number from 0 to 10"),
        ({"n": 1, "counts": ["2"]}, "counts.0", "give an integer or null"),
        ({"n": 1, "note": True}, "note", QUOTED.format(key="note", text="true")),
        ({"n": 1, "email": "nobody"}, "email", "give text in the email format"),
    ):
        assert error_of(send(served, token, "POST", "rng", body), 400, field)["fix"] == fix


def test_a_number_sent_for_text_is_told_to_send_it_in_quotes_as_it_was_sent(
    served: Served, token: str
) -> None:
    """A bot's variable left out of quotes that holds digits (`"consumer_id": 12345`) was
    told "give a string"; a REST run's parameter "pass a string, for example: text". Each
    fix is the field as sent, in quotes; a value whose text the field refuses as well (1 for
    a choice of "sms" and "wa") keeps its fix."""
    optin = {**OPTIN, "consumer_id": 12345, "source": "welcome bot"}
    before = job_count(served, "bots/cb_optin")
    call = error_of(send(served, token, "POST", "optin", optin), 400, "consumer_id")
    assert call["fix"] == QUOTED.format(key="consumer_id", text="12345"), call
    event = {**optin, "consumer_id": "cb-42"}
    run = served.api("alice", "POST", "/recipes/bots/cb_optin.ipynb/run", json={"event": event})
    assert run.status_code == 202, run.text  # the text form runs
    choice = error_of(send(served, token, "POST", "optin", {**event, "channel": 1}), 400, "channel")
    assert choice["fix"] == "give channel as one of: sms, wa", choice
    # A REST run's parameter, as its JSON was sent (no bot's variable: a person's run).
    sent = {"parameters": {"default_source": 42}}
    run = served.api("alice", "POST", "/recipes/bots/cb_optin.ipynb/run", json=sent)
    refused = error_of(run, 400, "default_source")
    assert refused["fix"] == 'send it as text, in quotes: "default_source": "42"', refused
    assert job_count(served, "bots/cb_optin") == before + 1


def test_an_input_given_by_hand_is_read_as_a_call_reads_it(
    served: Served, token: str, ws: Path
) -> None:
    """A bot's quoted "2" is 2 for an integer field; the same event given by hand (Test, the
    REST run, `run --event`) was refused: "n: "2" is not of type 'integer'"."""
    event = {"n": "2", "scale": "3e2", "note": "007"}
    call = send(served, token, "POST", "rng", event)
    assert call.status_code == 200, call.text
    assert call.json()["picks"] == [0, 1] and call.json()["note"] == "007", call.text
    run = served.api("alice", "POST", "/recipes/bots/rng.ipynb/run", json={"event": event})
    assert run.status_code in (200, 201, 202), run.text
    job = served.api("alice", "GET", f"/jobs/{run.json()['id']}").json()
    assert job["event"] == {"n": 2, "scale": 300, "note": "007"}, job
    code, answer = run_json("run", "bots/rng", "--event", json.dumps(event), "-w", str(ws))
    assert code == 0, answer
