"""A callable recipe's input given in the query, as a Conversation Builder API integration
may send it (bot variables embedded in the URL), through a real `lpstudio serve` on
loopback: the query's fields are typed by the recipe's input schema, a GET call takes its
input from the query alone, and repeats are recognised by their query too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openapi_spec_validator
import pytest

from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving

#: The opt-in template's input, but its consumer id (given in the query).
CHOICE = {"phone": "+14155550109", "channel": "sms", "opt_in": True}
#: Each echo callable answers its event, or fails when asked to.
ECHOES = ("echo", "gone")


def _echo(root: Path, name: str) -> None:
    write_recipe(
        root,
        f"bots/{name}",
        parameters="unused: int = 0  # the call's input is its event",
        cells=(
            "import lpstudio.kernel as lp",
            "if lp.event.get('fail'):\n    raise RuntimeError('asked to fail')\n"
            "lp.respond({'event': lp.event})",
        ),
        metadata={
            "title": name,
            "trigger": {
                "kind": "callable",
                "path": name,
                "input_schema": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {
                        "n": {"type": "integer", "minimum": 0},
                        "ratio": {"type": "number"},
                        "flag": {"type": "boolean"},
                        "name": {"type": "string"},
                        "fail": {"type": "boolean"},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "response_schema": {"type": "object", "required": ["event"]},
            },
        },
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The opt-in template on its CSV file, and the echo callables, all started."""
    root = tmp_path_factory.mktemp("query") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.try_template("cb_optin", "bots")
        studio.connections.add("optins", "csv_file", {"path": "optins.csv"}, "alice")
        studio.start("bots/cb_optin.ipynb")
        for name in ECHOES:
            _echo(root, name)
            studio.start(f"bots/{name}.ipynb")
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws) as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token(rate=10000)


def send(
    served: Served,
    token: str,
    method: str,
    target: str,
    body: Any = None,
    key: str | None = None,
    **params: Any,
) -> httpx.Response:
    """A call as Conversation Builder sends one: its default headers, the input in the
    query (`params`, or as written in `target`) and, given one, a JSON body."""
    headers = {
        "API-TOKEN": token,
        "Accept": "application/json",
        "Content-Type": "application/json;charset=UTF-8",
        **({"Idempotency-Key": key} if key else {}),
    }
    return httpx.request(
        method,
        f"{served.url}{API}/call/{target}",
        json=body,
        params=params or None,
        headers=headers,
        timeout=60,
    )


def error_of(answer: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and error["fix"], error
    return dict(error)


def job_count(served: Served, recipe: str) -> int:
    found = served.api("alice", "GET", "/jobs", params={"recipe": recipe, "limit": 1000})
    return len(found.json()["jobs"])


def query_parameters(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op["parameters"] if p["in"] == "query"}


def test_a_bot_s_query_parameters_are_input_fields_of_the_call(
    served: Served, token: str, ws: Path
) -> None:
    # The reviewer's request: 400 "unknown query parameter 'consumer_id'".
    both = send(served, token, "POST", "optin", {"consumer_id": "c9", **CHOICE}, consumer_id="c9")
    assert both.status_code == 200, both.text
    assert both.json()["consumer_id"] == "c9" and both.json()["recorded"] is True
    # The consumer id in the query only, the rest in the body.
    split = send(served, token, "POST", "optin", CHOICE, consumer_id="c10")
    assert split.status_code == 200, split.text
    assert split.json()["consumer_id"] == "c10" and split.json()["recorded"] is True
    with open(ws / "optins.csv", newline="", encoding="utf-8") as handle:
        rows = [(r["consumer_id"], r["phone"]) for r in csv.DictReader(handle)]
    assert [row for row in rows if row[0] in ("c9", "c10")] == [
        ("c9", "+14155550109"),
        ("c10", "+14155550109"),
    ]


def test_a_query_value_that_does_not_fit_its_field_is_refused_naming_it(
    served: Served, token: str
) -> None:
    before = job_count(served, "bots/echo")
    for params, field, said in (
        ({"n": "three"}, "n", "a whole number"),
        ({"n": "-1"}, "n", "at least 0"),
        ({"n": "1", "flag": "yes"}, "flag", "true or false"),
        ({"n": "1", "ratio": "1,5"}, "ratio", "/call/echo"),
        ({"n": "1", "tags": "a,b"}, "tags", "/call/echo"),
    ):
        error = error_of(send(served, token, "POST", "echo", {}, **params), 400, field)
        assert said in error["fix"], (params, error)
    assert job_count(served, "bots/echo") == before
    # A POST has a body, its input's fields in the query or not; {} will do.
    bare = error_of(send(served, token, "POST", "echo", n="3"), 400, "body")
    assert "{}" in bare["fix"] and "GET" in bare["fix"], bare


def test_a_field_given_in_the_query_and_the_body_with_two_values_is_refused(
    served: Served, token: str
) -> None:
    body = {"consumer_id": "c9", **CHOICE}
    error = error_of(
        send(served, token, "POST", "optin", body, consumer_id="c14"), 400, "consumer_id"
    )
    assert error["message"] == 'consumer_id is "c14" in the query and "c9" in the body'
    # One value, as JSON reads it, is no conflict; `true` against 1 is.
    same = send(served, token, "POST", "echo", {"n": 5.0}, n="5")
    assert same.status_code == 200 and same.json() == {"event": {"n": 5}}, same.text
    error_of(send(served, token, "POST", "echo", {"n": 1, "flag": 1}, flag="true"), 400, "flag")


def test_an_unknown_query_name_is_refused_as_an_unknown_body_field_is(
    served: Served, token: str
) -> None:
    body = {"consumer_id": "c15", **CHOICE}
    in_body = error_of(
        send(served, token, "POST", "optin", {**body, "consumr": "x"}), 400, "consumr"
    )
    in_query = error_of(send(served, token, "POST", "optin", body, consumr="x"), 400, "consumr")
    assert in_query["message"] == in_body["message"]
    # The query parameter the route takes is no input field, and is checked as before.
    error_of(send(served, token, "POST", "optin", body, mode="later"), 400, "mode")
    twice = send(served, token, "POST", "echo?n=1&n=2", {})
    assert error_of(twice, 400, "n")["fix"] == "give n once"


def test_a_repeated_key_is_told_from_another_request_by_its_query(
    served: Served, token: str
) -> None:
    first = send(served, token, "POST", "echo", {"name": "x"}, key="q-5", n="5")
    assert first.status_code == 200, first.text
    again = send(served, token, "POST", "echo", {"name": "x"}, key="q-5", n="5")
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    # The same key with another query is another request.
    other = send(served, token, "POST", "echo", {"name": "x"}, key="q-5", n="6")
    error_of(other, 409, "Idempotency-Key")
    # Without a key (Conversation Builder sends none), a failed call's retry is its repeat,
    # and a request with another query a new call.
    failed = error_of(send(served, token, "POST", "echo", {}, n="7", fail="true"), 422, None)
    retried = send(served, token, "POST", "echo", {}, n="7", fail="true")
    assert retried.status_code == 422 and retried.json()["error"]["job"] == failed["job"]
    assert retried.headers["Idempotent-Replayed"] == "true"
    new = send(served, token, "POST", "echo", {}, n="8", fail="true")
    assert new.status_code == 422 and new.json()["error"]["job"] != failed["job"]


def test_a_repeat_of_a_query_call_is_answered_once_its_recipe_stopped(
    served: Served, token: str
) -> None:
    first = send(served, token, "POST", "gone", {}, key="gone-1", n="1")
    assert first.status_code == 200, first.text
    stopped = served.api("alice", "POST", "/recipes/bots/gone.ipynb/stop")
    assert stopped.status_code == 200, stopped.text
    again = send(served, token, "POST", "gone", {}, key="gone-1", n="1")
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    error_of(send(served, token, "POST", "gone", {}, key="gone-2", n="1"), 404, "path")


def test_the_openapi_document_lists_a_callable_s_query_parameters(
    served: Served, token: str
) -> None:
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    openapi_spec_validator.validate(doc)
    posted = query_parameters(doc["paths"]["/call/echo"]["post"])
    # An array cannot be given as a query value: it is sent in the body.
    assert set(posted) == {"mode", "n", "ratio", "flag", "name", "fail"}
    assert posted["n"]["schema"] == {"type": "integer", "minimum": 0}
    assert not posted["n"]["required"]  # a POST may give it in the body
    # The route of every callable says that its other query parameters are input fields.
    generic = doc["paths"]["/call/{path}"]["post"]["parameters"]
    form = [p for p in generic if p.get("style") == "form"]
    assert form and form[0]["explode"] is True, generic


# -- GET: a lookup's input in the query alone -------------------------------------------------


def test_the_openapi_document_lists_a_get_call_s_query_parameters(
    served: Served, token: str
) -> None:
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    openapi_spec_validator.validate(doc)
    echo = doc["paths"]["/call/echo"]
    got = query_parameters(echo["get"])
    assert set(got) == set(query_parameters(echo["post"]))
    assert got["n"]["required"] and not got["flag"]["required"]  # the query is its input
    assert "requestBody" not in echo["get"]
    assert echo["get"]["responses"] == echo["post"]["responses"]
    generic = doc["paths"]["/call/{path}"]["get"]["parameters"]
    assert [p for p in generic if p.get("style") == "form"], generic


def test_a_get_call_is_answered_as_a_post_of_its_query_would_be(served: Served, token: str) -> None:
    # GET answered 405 "use POST": a Conversation Builder lookup could not reach a recipe.
    sent = {"n": "3", "ratio": "2.5", "flag": "true", "name": "007"}
    got = send(served, token, "GET", "echo", **sent)
    assert got.status_code == 200, got.text
    typed = {"n": 3, "ratio": 2.5, "flag": True, "name": "007"}  # "007" is text: a string
    assert got.json() == {"event": typed}
    posted = send(served, token, "POST", "echo", typed)
    assert posted.status_code == 200 and posted.json() == got.json(), posted.text
    assert got.headers["Lpstudio-Job"] != posted.headers["Lpstudio-Job"]
    before = job_count(served, "bots/echo")
    error = error_of(send(served, token, "GET", "echo", n="three"), 400, "n")
    assert "a whole number" in error["fix"], error
    assert job_count(served, "bots/echo") == before
    # Its retries are recognised by their query.
    first = send(served, token, "GET", "echo", key="get-9", n="9")
    again = send(served, token, "GET", "echo", key="get-9", n="9")
    assert again.status_code == 200 and again.json() == first.json() == {"event": {"n": 9}}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    error_of(send(served, token, "GET", "echo", key="get-9", n="10"), 409, "Idempotency-Key")
    # The route's own `mode` stays the route's.
    queued = send(served, token, "GET", "echo", n="4", mode="async")
    assert queued.status_code == 202, queued.text
    job = queued.json()["job"]

    def answered() -> httpx.Response | None:
        polled = httpx.get(f"{served.url}{API}/calls/{job}", headers={"API-TOKEN": token})
        return polled if polled.status_code != 202 else None

    assert wait_for(answered, what="the async call's answer").json() == {"event": {"n": 4}}


def test_the_opt_in_template_is_called_with_get_and_its_phone_in_the_query(
    served: Served, token: str
) -> None:
    query = {"consumer_id": "c11", "phone": "+14155550111", "channel": "wa", "opt_in": "false"}
    got = send(served, token, "GET", "optin", **query)  # httpx sends + as %2B
    assert got.status_code == 200, got.text
    assert got.json()["phone"] == "+14155550111" and got.json()["opt_in"] is False
    # A + written as is in a URL's query is a space: the fix says how to send it.
    raw = "optin?consumer_id=c12&phone=+14155550112&channel=sms&opt_in=true"
    error = error_of(send(served, token, "GET", raw), 400, "phone")
    assert "%2B" in error["fix"], error
    # A GET's input is its query alone: a body would be dropped unsaid.
    error = error_of(
        send(served, token, "GET", "optin", {"consumer_id": "c13"}, **query), 400, "body"
    )
    assert "query" in error["fix"], error
