"""A callable recipe's input given in the query, as a Conversation Builder API integration
may send it (bot variables embedded in the URL), through a real `lpstudio serve` on
loopback: the query's fields are typed by the recipe's input schema, a GET call takes its
input from the query alone, and repeats are recognised by their query too.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openapi_spec_validator
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, JUPYTER_TOKEN, Served, serving

#: The opt-in template's input, but its consumer id (given in the query).
CHOICE = {"phone": "+14155550109", "channel": "sms", "opt_in": True}
#: Each echo callable answers its event, or fails when asked to.
ECHOES = ("echo", "gone")

#: The echo callables' input schema.
ECHO_INPUT: dict[str, Any] = {
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
}

#: An input schema whose fields are declared through `$ref`s and `allOf`, as a schema
#: shared between recipes is written: `n` by a `$ref` of its own, `m` by the top-level
#: `$ref`, `flag` in an `allOf`.
SHARED_INPUT: dict[str, Any] = {
    "type": "object",
    "$ref": "#/$defs/base",
    "allOf": [{"properties": {"flag": {"type": "boolean"}}}],
    "properties": {"n": {"$ref": "#/$defs/count"}},
    "$defs": {
        "count": {"type": "integer", "minimum": 0},
        "base": {"required": ["m"], "properties": {"m": {"type": "integer"}}},
    },
}

#: An input schema whose every field is optional: `{}` is an input.
OPTIONAL_INPUT: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}}}

#: An input schema with a reference that leads nowhere, given to `nowhere` once it started.
NOWHERE: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"$dynamicRef": "#/$defs/nowhere"}},
}

#: Fields named as Jupyter's own query parameters (its token login, its XSRF form field)
#: and as JupyterLab's cache buster: an API client authenticates by header only.
JUPYTER_NAMED: dict[str, Any] = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string"}, "_xsrf": {"type": "string"}},
}


#: Callables whose paths a naive operationId (`\W` as `_`, `_get` for a GET) could not tell
#: apart: `teapot`'s GET and `teapot_get`'s POST, `dup-2` and `dup_2` (whose input schemas
#: differ, each held whole among the document's components), `dup/2` and `dup.2`.
LOOKALIKES: dict[str, dict[str, Any]] = {
    "teapot": ECHO_INPUT,
    "teapot_get": ECHO_INPUT,
    "dup-2": {**SHARED_INPUT, "$defs": {**SHARED_INPUT["$defs"], "count": {"type": "integer"}}},
    "dup_2": SHARED_INPUT,
    "dup/2": ECHO_INPUT,
    "dup.2": ECHO_INPUT,
}


def _echo(root: Path, name: str, schema: dict[str, Any] = ECHO_INPUT, path: str = "") -> None:
    """An echo callable at `path` (its name unless given), in the recipe bots/<name>."""
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
                "path": path or name,
                "input_schema": schema,
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
        for name, schema in (
            ("shared", SHARED_INPUT),
            ("jupyter", JUPYTER_NAMED),
            ("optional", OPTIONAL_INPUT),
            ("nowhere", {"type": "object"}),
        ):
            _echo(root, name, schema)
            studio.start(f"bots/{name}.ipynb")
        _echo(root, "nowhere", NOWHERE)  # refused when read: started before it broke
        for number, (path, schema) in enumerate(LOOKALIKES.items()):
            _echo(root, f"lookalike{number}", schema, path)
            studio.start(f"bots/lookalike{number}.ipynb")
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
    more: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    """A call as Conversation Builder sends one: its default headers (and `more`), the
    input in the query (`params`, or as written in `target`) and, given one, a JSON body."""
    headers = {
        "API-TOKEN": token,
        "Accept": "application/json",
        "Content-Type": "application/json;charset=UTF-8",
        **({"Idempotency-Key": key} if key else {}),
        **(more or {}),
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


def fits(doc: dict[str, Any], pointer: str, value: Any) -> bool:
    """Whether `value` fits the schema at `pointer` in the OpenAPI document `doc`, its
    `$ref`s resolved in the document as a client's tools resolve them."""
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(doc))
    schema = {"$ref": f"urn:doc#{pointer}"}
    return Draft202012Validator(schema, registry=registry).is_valid(value)


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
        ({"n": "1", "ratio": "1,5"}, "ratio", "give ratio in the query as a number"),
        ({"n": "1", "ratio": "NaN"}, "ratio", "give ratio in the query as a number"),
        ({"n": "1", "tags": "a,b"}, "tags", "send tags in the JSON body, a query holding text"),
    ):
        error = error_of(send(served, token, "POST", "echo", {}, **params), 400, field)
        assert said in error["fix"], (params, error)
    assert job_count(served, "bots/echo") == before


def test_a_post_with_no_body_takes_its_input_from_the_query(served: Served, token: str) -> None:
    # A bot whose input is all in the URL sends no body: it was refused 400 "the request has
    # no body" (fix: send {} as the body), though {} would do.
    url = f"{served.url}{API}/call/echo"
    headers = {"API-TOKEN": token}
    empty = httpx.post(url, params={"n": "3"}, headers=headers, timeout=60)  # Content-Length: 0
    assert empty.request.headers["Content-Length"] == "0"
    assert empty.status_code == 200 and empty.json() == {"event": {"n": 3}}, empty.text
    with httpx.Client(timeout=60) as client:  # no Content-Length at all
        request = client.build_request("POST", url, params={"n": "4"}, headers=headers)
        del request.headers["Content-Length"]
        bare = client.send(request)
    assert bare.status_code == 200 and bare.json() == {"event": {"n": 4}}, bare.text
    # As {} is: a required field missing from the query is named, not the body.
    before = job_count(served, "bots/echo")
    error_of(httpx.post(url, headers=headers, timeout=60), 400, "n")
    # A body that is no JSON is refused as before.
    broken = httpx.post(url, params={"n": "5"}, content=b"{n", headers=headers, timeout=60)
    assert "not valid JSON" in error_of(broken, 400, "body")["message"], broken.text
    assert job_count(served, "bots/echo") == before
    # No body and {} are one request: a repeat under its key may send either.
    first = httpx.post(url, params={"n": "6"}, headers={**headers, "Idempotency-Key": "e-6"})
    assert first.status_code == 200, first.text
    again = send(served, token, "POST", "echo", {}, key="e-6", n="6")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    other = send(served, token, "POST", "echo", {"name": "x"}, key="e-6", n="6")
    error_of(other, 409, "Idempotency-Key")
    # Without a key, a failed call's retry with no body is its repeat.
    failed = httpx.post(url, params={"n": "7", "fail": "true"}, headers=headers, timeout=60)
    retried = httpx.post(url, params={"n": "7", "fail": "true"}, headers=headers, timeout=60)
    assert failed.status_code == retried.status_code == 422, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json()["error"]["job"] == failed.json()["error"]["job"]


def test_a_body_s_quoted_values_are_typed_as_the_query_s_text_is(
    served: Served, token: str
) -> None:
    # Conversation Builder's builders quote bot variables ("{$botContext.n}"): {"n": "3"}
    # was refused "n: '3' is not of type 'integer'", while ?n=3 was taken as 3.
    quoted = {"n": "3", "ratio": "2.50", "flag": "true", "name": "007"}
    posted = send(served, token, "POST", "echo", quoted)
    typed = {"n": 3, "ratio": 2.5, "flag": True, "name": "007"}  # "007" is text: a string
    assert posted.status_code == 200 and posted.json() == {"event": typed}, posted.text
    got = send(served, token, "GET", "echo", **quoted)
    assert got.status_code == 200 and got.json() == posted.json(), got.text
    # Declared through a `$ref` or an `allOf`, as in the query.
    shared = send(served, token, "POST", "shared", {"n": "3", "m": "+4", "flag": "false"})
    assert shared.status_code == 200, shared.text
    assert shared.json() == {"event": {"n": 3, "m": 4, "flag": False}}
    # Given in both, one value as each is read: "05" and 5 are one, "5" and 6 are two.
    both = send(served, token, "POST", "echo", {"n": "05"}, n="5")
    assert both.status_code == 200 and both.json() == {"event": {"n": 5}}, both.text
    error_of(send(served, token, "POST", "echo", {"n": "5"}, n="6"), 400, "n")
    # Text that spells no value its field takes is refused as the query's is, naming the
    # field and what it takes; nothing runs.
    before = job_count(served, "bots/echo")
    for body, field, said in (
        ({"n": "three"}, "n", "give n as a whole number"),
        ({"n": "1_000"}, "n", "give n as a whole number"),
        ({"n": "3.5"}, "n", "give n as a whole number"),
        ({"n": "-1"}, "n", "give n as a whole number of at least 0"),
        ({"n": 1, "flag": "yes"}, "flag", "give flag as true or false"),
        ({"n": 1, "ratio": "1,5"}, "ratio", "give ratio as a number"),
        ({"n": 1, "ratio": "NaN"}, "ratio", "give ratio as a number"),
    ):
        error = error_of(send(served, token, "POST", "echo", body), 400, field)
        assert said in error["fix"], (body, error)
        in_query = error_of(send(served, token, "GET", "echo", **body), 400, field)
        assert in_query["message"] == error["message"], (body, error, in_query)
    assert job_count(served, "bots/echo") == before


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


def test_fields_declared_through_refs_and_all_of_are_typed_from_the_query(
    served: Served, token: str
) -> None:
    # ?n=3 answered 500 (n's `$ref` led nowhere once taken out of its schema), and ?m=4 was
    # refused as "'4' is not of type 'integer'" (declared in the top-level `$ref`).
    typed = {"n": 3, "m": 4, "flag": True}
    posted = send(served, token, "POST", "shared", typed)
    assert posted.status_code == 200 and posted.json() == {"event": typed}, posted.text
    got = send(served, token, "GET", "shared", n="3", m="4", flag="true")
    assert got.status_code == 200 and got.json() == {"event": typed}, got.text
    split = send(served, token, "POST", "shared", {"m": 4}, n="3", flag="true")
    assert split.status_code == 200 and split.json() == {"event": typed}, split.text
    # A value off its field is named with the field's own fix, wherever it is declared.
    before = job_count(served, "bots/shared")
    for params, field, said in (
        ({"m": "4", "n": "-1"}, "n", "at least 0"),
        ({"m": "4", "n": "three"}, "n", "a whole number"),
        ({"m": "four"}, "m", "a whole number"),
        ({"m": "4", "flag": "yes"}, "flag", "true or false"),
    ):
        error = error_of(send(served, token, "GET", "shared", **params), 400, field)
        assert said in error["fix"], (params, error)
    below = error_of(send(served, token, "GET", "shared", m="4", n="-1"), 400, "n")
    assert below["message"] == "n: -1 is less than the minimum of 0", below
    error_of(send(served, token, "GET", "shared", n="3"), 400, "m")  # required by the $ref
    assert job_count(served, "bots/shared") == before
    # The OpenAPI document holds such a schema whole: its `$ref`s lead somewhere there too.
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    openapi_spec_validator.validate(doc)
    at = "/paths/~1call~1shared"
    n = [p["name"] for p in doc["paths"]["/call/shared"]["get"]["parameters"]].index("n")
    assert fits(doc, f"{at}/get/parameters/{n}/schema", 3)
    assert not fits(doc, f"{at}/get/parameters/{n}/schema", -1)
    body = f"{at}/post/requestBody/content/application~1json/schema"
    assert fits(doc, body, typed) and not fits(doc, body, {**typed, "n": -1})


def test_a_schema_reference_that_leads_nowhere_is_the_recipe_s_fault(
    served: Served, token: str
) -> None:
    # It answered 500 with a traceback in the server's log, its field in the query or not.
    before = job_count(served, "bots/nowhere")
    for answer in (
        send(served, token, "POST", "nowhere", {"n": 3}),
        send(served, token, "GET", "nowhere", n="3"),
    ):
        field = "metadata.lpstudio.trigger.input_schema.properties.n.$dynamicRef"
        error = error_of(answer, 503, field)
        assert error["code"] == "RecipeNotReady", error
    assert job_count(served, "bots/nowhere") == before
    assert "'#/$defs/nowhere' leads nowhere" in served.log.read_text()  # for its admin


def test_fields_named_as_jupyter_s_query_parameters_are_input_fields_of_a_call(
    served: Served, token: str
) -> None:
    # `token` and `_xsrf` were dropped unsaid: a required one refused as missing though sent.
    got = send(served, token, "GET", "jupyter?token=t-1&_xsrf=x-1")
    assert got.status_code == 200, got.text
    assert got.json() == {"event": {"token": "t-1", "_xsrf": "x-1"}}
    posted = send(served, token, "POST", "jupyter?token=t-2", {})
    assert posted.status_code == 200 and posted.json() == {"event": {"token": "t-2"}}
    error_of(send(served, token, "POST", "jupyter?token=b", {"token": "a"}), 400, "token")
    # An all-digit name without a value (JupyterLab's cache buster) is one too.
    busted = send(served, token, "GET", "jupyter?token=t-3&1700000000000")
    assert busted.status_code == 200, busted.text
    assert busted.json() == {"event": {"token": "t-3", "1700000000000": ""}}
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    listed = doc["paths"]["/call/jupyter"]
    assert set(query_parameters(listed["post"])) == {"mode", "token", "_xsrf"}
    assert query_parameters(listed["get"])["token"]["required"]


def test_an_api_token_given_as_input_is_refused_and_kept_nowhere(
    served: Served, token: str
) -> None:
    """A bot's builder who also puts its token in the URL (`?token=`, beside the header),
    or the server's: taken as the input field `token`, it was kept in the job's event and
    output notebook and echoed in the answer, where operators read it."""
    before = job_count(served, "bots/jupyter")
    for target, body in (
        (f"jupyter?token={token}", None),
        ("jupyter", {"token": f"Bearer {token}"}),
        (f"jupyter?token={JUPYTER_TOKEN}", None),
    ):
        method = "GET" if body is None else "POST"
        answer = send(served, token, method, target, body)
        error = error_of(answer, 400, "token")
        assert "API-TOKEN header" in error["fix"], error
        assert token not in answer.text and JUPYTER_TOKEN not in answer.text
    # One the input check refuses anyway (not an integer, an unknown name) is refused as a
    # token too: the check quoted it back, and the server's log line held it.
    for target, body in (
        (f"echo?n={token}", None),
        (f"echo?n=1&tag={JUPYTER_TOKEN}", None),
        ("echo", {"n": token}),
        ("echo", {"n": 1, "tags": [JUPYTER_TOKEN]}),
    ):
        answer = send(served, token, "GET" if body is None else "POST", target, body)
        assert answer.status_code == 400 and "API-TOKEN header" in answer.json()["error"]["fix"]
        assert token not in answer.text and JUPYTER_TOKEN not in answer.text, answer.text
    wait_for(lambda: "tag=****" in served.log.read_text(), what="the refused call's log line")
    logged = served.log.read_text()
    assert token not in logged and JUPYTER_TOKEN not in logged
    assert job_count(served, "bots/jupyter") == before
    fine = send(served, token, "GET", "jupyter?token=t-4")
    assert fine.status_code == 200 and fine.json() == {"event": {"token": "t-4"}}, fine.text


def test_the_openapi_document_lets_a_post_give_its_required_fields_in_the_query(
    served: Served, token: str
) -> None:
    # The body was documented as requiring n, while {} with n in the query is taken.
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    body = doc["paths"]["/call/echo"]["post"]["requestBody"]
    assert body["required"] is False  # none reads as {}
    schema = body["content"]["application/json"]["schema"]
    assert schema == {k: v for k, v in ECHO_INPUT.items() if k != "required"}
    assert "n" in body["description"] and "query" in body["description"], body
    answered = send(served, token, "POST", "echo", {}, n="2")
    assert answered.status_code == 200 and answered.json() == {"event": {"n": 2}}


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


def test_an_idempotency_key_sent_twice_is_refused_as_a_query_parameter_given_twice_is(
    served: Served, token: str
) -> None:
    """Sent as `Idempotency-Key: a1` and `Idempotency-Key: b1`, a call was claimed under
    `a1,b1`: a retry under either key found no claim and ran the recipe again. Refused
    before any job, naming the header; sent once, the key is claimed as before."""
    before = job_count(served, "bots/echo")
    keys = [("Idempotency-Key", "two-a1"), ("Idempotency-Key", "two-b1")]
    for method in ("POST", "GET"):
        twice = httpx.request(
            method,
            f"{served.url}{API}/call/echo",
            params={"n": "9"},
            headers=[("API-TOKEN", token), *keys],
            timeout=60,
        )
        error = error_of(twice, 400, "Idempotency-Key")
        assert error["message"] == "Idempotency-Key is sent 2 times", error
        assert error["fix"].startswith("send Idempotency-Key once"), error
    assert job_count(served, "bots/echo") == before
    once = send(served, token, "POST", "echo", {}, key="two-a1", n="9")
    again = send(served, token, "POST", "echo", {}, key="two-a1", n="9")
    assert once.status_code == again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert job_count(served, "bots/echo") == before + 1


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


def test_a_get_with_an_empty_query_is_answered_as_a_post_of_nothing(
    served: Served, token: str
) -> None:
    # A GET with nothing in its query was refused 400 "body: null is not of type 'object'",
    # where a POST with no body is read as {}: a lookup with no input could not be made.
    got = send(served, token, "GET", "optional")
    assert got.status_code == 200 and got.json() == {"event": {}}, got.text
    posted = httpx.post(f"{served.url}{API}/call/optional", headers={"API-TOKEN": token})
    assert posted.status_code == 200 and posted.json() == got.json(), posted.text
    # A required field is named, as a POST of {} names it, not the body.
    error_of(send(served, token, "GET", "optin"), 400, "consumer_id")
    error_of(send(served, token, "GET", "echo"), 400, "n")


# -- answers that are no cache's: calls and polls -----------------------------------------------


def test_a_get_call_is_answered_with_its_body_whatever_the_client_has_cached(
    served: Served, token: str
) -> None:
    # A GET answered 304 Not Modified with no body to a client holding the previous answer's
    # Etag (tornado's), though its job ran: the bot got no answer to read.
    first = send(served, token, "GET", "echo", n="21")
    assert first.status_code == 200, first.text
    assert "Etag" not in first.headers and first.headers["Cache-Control"] == "no-store"
    cached = {"If-None-Match": f'"{hashlib.sha1(first.content).hexdigest()}", *'}
    again = send(served, token, "GET", "echo", more=cached, n="21")
    assert again.status_code == 200 and again.json() == {"event": {"n": 21}}, again.text
    assert again.headers["Lpstudio-Job"] != first.headers["Lpstudio-Job"]  # a new call
    assert again.headers["Cache-Control"] == "no-store"
    refused = send(served, token, "GET", "echo", more=cached, n="three")
    assert error_of(refused, 400, "n") and refused.headers["Cache-Control"] == "no-store"
    # A poll of an asynchronous call's answer, the same.
    job = send(served, token, "GET", "echo", n="22", mode="async").json()["job"]
    url = f"{served.url}{API}/calls/{job}"

    def answered() -> httpx.Response | None:
        polled = httpx.get(url, headers={"API-TOKEN": token, **cached})
        return polled if polled.status_code != 202 else None

    polled = wait_for(answered, what="the async call's answer")
    assert polled.status_code == 200 and polled.json() == {"event": {"n": 22}}, polled.text
    assert "Etag" not in polled.headers and polled.headers["Cache-Control"] == "no-store"


# -- operation ids ---------------------------------------------------------------------------


def operation_ids(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(p, m): op["operationId"] for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_every_callable_s_operations_have_their_own_ids_whatever_their_paths(
    served: Served, token: str
) -> None:
    # `teapot`'s GET and `teapot_get`'s POST were both call_teapot_get, `dup-2` and `dup_2`
    # both call_dup_2: the document was invalid (DuplicateOperationIDError), and one
    # callable's `$ref`s led into the other's input schema.
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    openapi_spec_validator.validate(doc)
    ids = operation_ids(doc)
    assert len(set(ids.values())) == len(ids), ids
    for path in LOOKALIKES:
        assert {"get", "post"} <= set(doc["paths"][f"/call/{path}"]), path
    assert ids["/call/echo", "post"] == "call_echo" and ids["/call/echo", "get"] == "call_echo_get"
    for path, minimum in (("dup-2", None), ("dup_2", 0)):
        at = f"/paths/{('/call/' + path).replace('/', '~1')}/get/parameters"
        n = [p["name"] for p in doc["paths"][f"/call/{path}"]["get"]["parameters"]].index("n")
        assert fits(doc, f"{at}/{n}/schema", -1) is (minimum is None), path
    # A callable's ids are its path's own: the same in a client's document of fewer paths.
    made = served.api(
        "alice",
        "POST",
        "/api-clients",
        json={"name": "teapots", "endpoints": ["teapot"], "rate_per_minute": 100},
    )
    assert made.status_code == 201, made.text
    few = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": made.json()["token"]})
    assert {k: v for k, v in operation_ids(few.json()).items() if k[0] == "/call/teapot"} == {
        k: v for k, v in ids.items() if k[0] == "/call/teapot"
    }


# -- query text as sent ----------------------------------------------------------------------


def test_a_query_value_that_is_not_utf_8_is_refused_naming_its_field(
    served: Served, token: str
) -> None:
    # It answered "Invalid unicode in name: b'\\xff'", with no field and no fix.
    before = job_count(served, "bots/echo")
    for method in ("GET", "POST"):
        error = error_of(send(served, token, method, "echo?n=1&name=%FF", {}), 400, "name")
        assert "%FF" in error["message"] and "UTF-8" in error["fix"], error
    assert job_count(served, "bots/echo") == before
    listed = served.api("alice", "GET", "/jobs?status=%FF")
    error = error_of(listed, 400, "status")
    assert "UTF-8" in error["fix"], error


def test_a_query_value_reaches_the_recipe_as_sent_as_a_body_s_does(
    served: Served, token: str
) -> None:
    # `%00x` reached the recipe as " x" (tornado blanks control characters), while a body's
    # value is kept as sent.
    for name in ("\x00x", " \x1fy ", "été"):
        posted = send(served, token, "POST", "echo", {"n": 1, "name": name})
        assert posted.status_code == 200 and posted.json() == {"event": {"n": 1, "name": name}}
        got = send(served, token, "GET", "echo", n="1", name=name)
        assert got.status_code == 200 and got.json() == posted.json(), (name, got.text)
    # A field's name in UTF-8 is read as such (tornado reads names as Latin-1).
    got = send(served, token, "GET", "echo", **{"n": "1", "été": "x"})
    assert got.status_code == 200 and got.json() == {"event": {"n": 1, "été": "x"}}, got.text


# -- a path percent-encoded, as a client generated from the document sends it ------------------


def test_a_call_path_sent_percent_encoded_reaches_the_same_recipe(
    served: Served, token: str
) -> None:
    # `/call/dup%2F2`, as a generated client sends the path parameter `dup/2`, answered 404
    # "no route" (and `/call/ech%6F` too), while `/call/dup/2` reached the recipe.
    made = served.api(
        "alice",
        "POST",
        "/api-clients",
        json={"name": "encoded", "endpoints": ["dup/2", "echo"], "rate_per_minute": 6},
    )
    assert made.status_code == 201, made.text
    mine = made.json()["token"]
    first = send(served, mine, "POST", "dup/2", {"n": 1}, key="encoded-1")
    assert first.status_code == 200 and first.json() == {"event": {"n": 1}}, first.text
    # The same request under its key: the same idempotency digest, so its first answer.
    again = send(served, mine, "POST", "dup%2F2", {"n": 1}, key="encoded-1")
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    # Any character may come encoded (a lower-case escape too), by GET as by POST; the
    # client may call it, as it may call dup/2.
    for method, target in (("GET", "d%75p%2f2"), ("POST", "%64up/2")):
        got = send(served, mine, method, target, {} if method == "POST" else None, n="2")
        assert got.status_code == 200 and got.json() == {"event": {"n": 2}}, (target, got.text)
    plain = send(served, mine, "GET", "echo", n="3")
    encoded = send(served, mine, "GET", "ech%6F", n="3")
    assert plain.status_code == encoded.status_code == 200, encoded.text
    assert plain.json() == encoded.json() == {"event": {"n": 3}}
    # Each form counted once against the client's rate (6 a minute): the next is refused.
    over = send(served, mine, "POST", "dup%2F2", {"n": 4})
    assert error_of(over, 429, "rate_per_minute")["code"] == "TooManyRequests", over.text
    # A path no callable serves, encoded or not, is the same 404 naming the path; a poll
    # of an encoded path's asynchronous call answers as any other's.
    for target in ("dup%2F3", "dup/3"):
        assert error_of(send(served, token, "POST", target, {"n": 1}), 404, "path")
    queued = send(served, token, "POST", "dup%2F2", {"n": 5}, mode="async")
    assert queued.status_code == 202, queued.text

    def answered() -> httpx.Response | None:
        url = f"{served.url}{API}/calls/{queued.json()['job']}"
        polled = httpx.get(url, headers={"API-TOKEN": token})
        return polled if polled.status_code != 202 else None

    assert wait_for(answered, what="the call's answer").json() == {"event": {"n": 5}}
    # The document names each callable by its path as is, and says how to send it encoded.
    doc = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    assert "/call/dup/2" in doc["paths"] and not any("%" in path for path in doc["paths"])
    generic = doc["paths"]["/call/{path}"]["post"]["parameters"]
    assert "%2F" in next(p for p in generic if p["in"] == "path")["description"]
