"""A callable recipe's contract with its callers as a Conversation Builder bot meets it,
through a real `lpstudio serve` on loopback: whole numbers in the query as a bot variable
holds them (`05`, `+5`), the OpenAPI document of an input schema that declares its fields
through a `$ref` or an `allOf`, the 503 of an input schema whose `$ref` leads nowhere,
a `trigger.path` that no URL reaches, a body refused as JSON told the fix for its cause,
and an API client given an endpoint that is no callable path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openapi_spec_validator
import pytest
from click.testing import Result

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import API, Served, serving
from tests.test_call_query import error_of, fits, job_count, query_parameters, send

#: The `typed` callable's input: a field of each type a query's text may give.
TYPED_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "count": {"type": "integer", "minimum": 0},
        "ratio": {"type": "number"},
        "name": {"type": "string"},
    },
}
#: The reviewer's schema: all its fields declared by the top-level `$ref`.
REFD_INPUT: dict[str, Any] = {
    "$ref": "#/$defs/input",
    "$defs": {
        "input": {
            "type": "object",
            "required": ["qty"],
            "additionalProperties": False,
            "properties": {"qty": {"type": "integer"}, "ok": {"type": "boolean"}},
        }
    },
}
#: Fields declared only in an `allOf`: `a` through a `$ref` of the item, whose own schema is a
#: `$ref` too, and `b` in an item of its own.
ALLOF_INPUT: dict[str, Any] = {
    "type": "object",
    "allOf": [{"$ref": "#/$defs/part"}, {"properties": {"b": {"type": "string"}}}],
    "$defs": {
        "part": {"required": ["a"], "properties": {"a": {"$ref": "#/$defs/count"}}},
        "count": {"type": "integer", "minimum": 1},
    },
}
#: The input schema the `broken` callable is edited to once started: its `$ref` leads nowhere.
NOWHERE_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {"s": {"$ref": "#/$defs/nope"}},
}
#: Answers its event and the Python type of each of its values.
TYPES_CELL = """\
lp.respond({"event": lp.event, "types": {k: type(v).__name__ for k, v in lp.event.items()}})"""


def _typed(root: Path, name: str, schema: dict[str, Any]) -> None:
    """A callable at /call/<name> answering its event and its values' types."""
    write_recipe(
        root,
        f"bots/{name}",
        parameters="unused: int = 0  # the call's input is its event",
        cells=("import lpstudio.kernel as lp", TYPES_CELL),
        metadata={
            "title": name,
            "trigger": {"kind": "callable", "path": name, "input_schema": schema},
        },
    )


@pytest.fixture(scope="module")
def callables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The callables, all started; `broken`'s input schema is broken once it started."""
    root = tmp_path_factory.mktemp("contract") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        for name, schema in (
            ("typed", TYPED_INPUT),
            ("refd", REFD_INPUT),
            ("allof", ALLOF_INPUT),
            ("broken", {"type": "object"}),
        ):
            _typed(root, name, schema)
            studio.start(f"bots/{name}.ipynb")
    _typed(root, "broken", NOWHERE_INPUT)
    return root


@pytest.fixture(scope="module")
def served(callables: Path) -> Iterator[Served]:
    with serving(callables) as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token(rate=10000)


@pytest.fixture(scope="module")
def doc(served: Served, token: str) -> dict[str, Any]:
    """The OpenAPI document the bot's client reads."""
    got = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token})
    assert got.status_code == 200, got.text
    document = dict(got.json())
    openapi_spec_validator.validate(document)
    return document


# -- A: whole numbers as a bot variable holds them ---------------------------------------------


def test_a_whole_number_with_leading_zeros_or_a_sign_is_one_in_the_query(
    served: Served, token: str
) -> None:
    # `05` and `+5` were refused: "n: '05' is not of type 'integer'", with the fix to give
    # n "as a whole number", while 3e2 and 3.0 were taken.
    for sent, value in (("05", 5), ("+5", 5), ("-007", -7), ("3e2", 300), ("3.0", 3)):
        for method in ("GET", "POST"):
            got = send(served, token, method, "typed", {} if method == "POST" else None, n=sent)
            assert got.status_code == 200, (sent, got.text)
            assert got.json() == {"event": {"n": value}, "types": {"n": "int"}}, (sent, got.text)
    # A number field reads a decimal as written; a string field keeps the text as sent.
    got = send(served, token, "GET", "typed", ratio="+02.50", count="0010", name="05")
    assert got.status_code == 200, got.text
    assert got.json()["event"] == {"ratio": 2.5, "count": 10, "name": "05"}, got.text
    assert got.json()["types"] == {"ratio": "float", "count": "int", "name": "str"}
    # One value in the query and the body, as written in either.
    same = send(served, token, "POST", "typed", {"n": 5}, n="005")
    assert same.status_code == 200 and same.json()["event"] == {"n": 5}, same.text


def test_query_text_that_is_no_number_is_refused_naming_what_was_given(
    served: Served, token: str
) -> None:
    before = job_count(served, "bots/typed")
    for sent in ("three", "0x10", "1_000", "5.5", "1e400", "١٢"):
        error = error_of(send(served, token, "GET", "typed", n=sent), 400, "n")
        assert "a whole number" in error["fix"] and repr(sent) in error["fix"], (sent, error)
    for sent in ("nan", "2,5", "1e400"):
        error = error_of(send(served, token, "GET", "typed", ratio=sent), 400, "ratio")
        assert repr(sent) in error["fix"], (sent, error)
    error = error_of(send(served, token, "GET", "typed", count="-01"), 400, "count")
    assert error["message"] == "count: -1 is less than the minimum of 0", error
    # A JSON body's values are quoted as JSON (re: `n: True is not of type 'integer'`).
    for sent, said in ((True, "true"), (None, "null"), ("x", '"x"')):
        error = error_of(send(served, token, "POST", "typed", {"n": sent}), 400, "n")
        assert error["message"] == f"n: {said} is not of type 'integer'", error
    # A + written as is reads as a space: refused, saying how to send it.
    spaced = error_of(send(served, token, "GET", "typed?n=+5"), 400, "n")
    assert "%2B" in spaced["fix"] and "' 5'" in spaced["fix"], spaced
    assert job_count(served, "bots/typed") == before


# -- B: the OpenAPI document of fields declared through a $ref or an allOf ------------------------


def test_the_document_lists_fields_declared_by_a_top_level_ref(
    served: Served, token: str, doc: dict[str, Any]
) -> None:
    # It listed only Idempotency-Key and mode, and its POST body required qty through the
    # $ref, while ?qty=3&ok=true and POST ?qty=4 with {} were answered.
    refd = doc["paths"]["/call/refd"]
    for method in ("get", "post"):
        assert set(query_parameters(refd[method])) == {"mode", "qty", "ok"}, refd[method]
    assert query_parameters(refd["get"])["qty"]["required"]
    assert not query_parameters(refd["get"])["ok"]["required"]
    assert not query_parameters(refd["post"])["qty"]["required"]  # it may come in the body
    params = [p["name"] for p in refd["get"]["parameters"]]
    at = "/paths/~1call~1refd/get/parameters"
    assert fits(doc, f"{at}/{params.index('qty')}/schema", 3)
    assert not fits(doc, f"{at}/{params.index('qty')}/schema", "three")
    body = "/paths/~1call~1refd/post/requestBody/content/application~1json/schema"
    assert fits(doc, body, {}) and fits(doc, body, {"qty": 4, "ok": True})
    assert not fits(doc, body, {"qty": "four"}) and not fits(doc, body, {"other": 1})
    assert "qty" in refd["post"]["requestBody"]["description"]
    # What the document says is what the server takes.
    got = send(served, token, "GET", "refd", qty="3", ok="true")
    assert got.status_code == 200 and got.json()["event"] == {"qty": 3, "ok": True}, got.text
    posted = send(served, token, "POST", "refd", {}, qty="4")
    assert posted.status_code == 200 and posted.json()["event"] == {"qty": 4}, posted.text
    error_of(send(served, token, "GET", "refd", ok="true"), 400, "qty")


def test_the_document_lists_fields_declared_only_in_an_all_of(
    served: Served, token: str, doc: dict[str, Any]
) -> None:
    allof = doc["paths"]["/call/allof"]
    got_params = query_parameters(allof["get"])
    assert set(got_params) == {"mode", "a", "b"}, allof["get"]
    assert got_params["a"]["required"] and not got_params["b"]["required"]
    assert not query_parameters(allof["post"])["a"]["required"]
    params = [p["name"] for p in allof["get"]["parameters"]]
    at = f"/paths/~1call~1allof/get/parameters/{params.index('a')}/schema"
    assert fits(doc, at, 2) and not fits(doc, at, 0)  # a's minimum, through its $refs
    body = "/paths/~1call~1allof/post/requestBody/content/application~1json/schema"
    assert fits(doc, body, {}) and fits(doc, body, {"a": 2, "b": "x"})
    assert not fits(doc, body, {"a": 0})
    got = send(served, token, "GET", "allof", a="02", b="x")
    assert got.status_code == 200 and got.json()["event"] == {"a": 2, "b": "x"}, got.text


# -- C: an input schema whose $ref leads nowhere -------------------------------------------------


def test_a_ref_leading_nowhere_answers_503_naming_the_input_schema(
    served: Served, token: str, callables: Path
) -> None:
    # It answered 503 with field `recipe` and a fix to run `lpstudio recipes`: a bot's
    # developer could not tell what was wrong, though the README says it names
    # trigger.input_schema. Why, and in which recipe, is its admin's to read, in the log.
    before = job_count(served, "bots/broken")
    for answer in (
        send(served, token, "POST", "broken", {"s": "x"}),
        send(served, token, "GET", "broken", s="x"),
    ):
        error = error_of(answer, 503, "metadata.lpstudio.trigger.input_schema.properties.s.$ref")
        assert error["code"] == "RecipeNotReady", error
        assert "bots/broken" not in answer.text and str(callables) not in answer.text, error
    assert job_count(served, "bots/broken") == before
    assert "'#/$defs/nope' leads nowhere" in served.log.read_text()


# -- D: a trigger.path no URL reaches ------------------------------------------------------------


def _at_path(ws: Path, path: str | None, name: str = "dots") -> None:
    """bots/`name`, a callable recipe at `path` (None: no `trigger.path`, at its stem)."""
    trigger = {"kind": "callable"} if path is None else {"kind": "callable", "path": path}
    write_recipe(
        ws,
        f"bots/{name}",
        parameters="unused: int = 0  # the call's input is its event",
        cells=("import lpstudio.kernel as lp", "lp.respond({})"),
        metadata={"title": name, "trigger": trigger},
    )


def test_a_trigger_path_with_dot_or_empty_segments_is_refused_when_read(
    ws: Path, cli: Callable[..., Result]
) -> None:
    # `lpstudio start` took "v1//x/../y" and the document listed /call/v1//x/../y, which a
    # client normalises (RFC 3986) to /call/v1//y before sending: 404.
    for path, closest in (
        ("v1//x/../y", "v1/y"),
        ("v1/./y", "v1/y"),
        ("v1/x/..", "v1"),
        ("v1/", "v1"),
        ("v1/..", None),
        ("v1/y\n", None),  # Python's `$` lets a final line break through
    ):
        _at_path(ws, path)
        started = cli("start", "bots/dots")
        assert started.exit_code == 2, (path, started.output)
        assert "metadata.lpstudio.trigger.path" in started.output, started.output
        assert "single slashes" in started.output and "no . or .." in started.output
        if closest:
            assert f"'{closest}'" in started.output, (path, started.output)
    for path in ("v1/y", "v1.2/.well-known/x..y", "a-b_c"):
        _at_path(ws, path)
        started = cli("start", "bots/dots")
        assert started.exit_code == 0, (path, started.output)
        assert cli("stop", "bots/dots").exit_code == 0


def test_the_cli_refuses_a_callable_whose_file_name_no_url_reaches(
    ws: Path, cli: Callable[..., Result]
) -> None:
    # `lpstudio start cb/café` said `started`, and `settings cb/café` showed
    # `receives: POST /lpstudio/api/v1/call/café`, a path no URL reaches (ASCII escapes only).
    _at_path(ws, None, "café")
    for command in ("start", "settings", "run"):
        refused = cli(command, "bots/café")
        assert refused.exit_code == 2, (command, refused.output)
        assert "gives no metadata.lpstudio.trigger.path" in refused.output, refused.output
        assert "its file name 'café'" in refused.output, refused.output
        assert "give metadata.lpstudio.trigger.path" in refused.output, refused.output
        assert "closest: 'cafe'" in refused.output, refused.output
    listed = json.loads(cli("recipes", "--json").stdout)
    (row,) = (row for row in listed if row["recipe"] == "bots/café.ipynb")
    assert "gives no metadata.lpstudio.trigger.path" in row["problem"], row
    _at_path(ws, None, "plain")  # a plain file name: its path, as before
    shown = cli("settings", "bots/plain")
    assert shown.exit_code == 0, shown.output
    assert "POST /lpstudio/api/v1/call/plain  (" in shown.output, shown.output
    assert cli("start", "bots/plain").exit_code == 0


def test_a_trigger_path_is_refused_naming_the_closest_valid_path(
    served: Served, callables: Path
) -> None:
    # "/lead" and "Opt In!" were given the generic "(such as 'v1/optin')": only "a//b" was
    # told its own path.
    misnamed = callables / "projects/bots/misnamed.ipynb"
    try:
        # A segment of no Latin letter was dropped: 'オプトイン/été' was told 'ete'.
        for path, closest in (
            ("/lead", "'lead'"),
            ("Opt In!", "'Opt-In'"),
            ("v1/café", "'v1/cafe'"),
            ("オプトイン/été", "'NAME/ete', NAME: 'オプトイン' spelt in ASCII letters"),
            (
                "v1/お客様/キャンペーン",
                "'v1/NAME1/NAME2', NAME1: 'お客様', NAME2: 'キャンペーン' spelt",
            ),
        ):
            _at_path(callables, path, "misnamed")
            started = served.api("alice", "POST", "/recipes/bots/misnamed.ipynb/start")
            assert started.status_code == 400, (path, started.text)
            error = started.json()["error"]
            assert error["field"] == "metadata.lpstudio.trigger.path", error
            assert f"(closest: {closest}" in error["fix"], (path, error)
            assert "segments of ASCII letters A-Z or a-z, digits" in error["fix"], error
            if path != "/lead":
                assert "other than ASCII letters A-Z or a-z, digits" in error["message"], error
    finally:
        misnamed.unlink()


def test_a_file_name_no_url_reaches_is_refused_as_a_callable_s_path(
    served: Served, callables: Path, token: str
) -> None:
    # With no trigger.path, `🛒.ipynb` started and was shown (CLI, lab, OpenAPI) at
    # /call/🛒, which no URL reached (404): the route takes ASCII escapes only.
    for stem, closest in (
        ("🛒", "such as 'v1/optin'"),
        ("café", "closest: 'cafe'"),
        ("オプトイン", "closest: 'NAME', NAME: 'オプトイン' spelt in ASCII letters"),
    ):
        _at_path(callables, None, stem)
        named = quote(f"bots/{stem}.ipynb", safe="")
        try:
            for method, route in (("POST", "start"), ("POST", "run"), ("GET", "")):
                answer = served.api("alice", method, f"/recipes/{named}/{route}".rstrip("/"))
                error = error_of(answer, 400, "metadata.lpstudio.trigger.path")
                assert error["message"] == (
                    f"recipe bots/{stem}.ipynb gives no metadata.lpstudio.trigger.path, so it "
                    f"is called at its file name {stem!r}, which holds a character other than "
                    "ASCII letters A-Z or a-z, digits, '_', '.', '-' or '/', or does not start "
                    "with a letter or digit"
                ), error
                assert error["fix"].startswith(
                    f"give metadata.lpstudio.trigger.path in the notebook's metadata ({closest})"
                ), error
            made = served.api(
                "alice", "POST", "/api-clients", json={"name": "c2", "endpoints": [stem]}
            )
            assert repr(stem) in error_of(made, 400, "endpoints")["message"]
        finally:
            (callables / f"projects/bots/{stem}.ipynb").unlink()
    # One of other ASCII characters is reached percent-encoded, as its callers called it
    # before (refusing it stopped working bots): started, and called at /call/two%20words.
    _at_path(callables, None, "two words")
    try:
        started = served.api("alice", "POST", "/recipes/bots/two%20words.ipynb/start")
        assert started.status_code == 200, started.text
        # Shown as a caller must write it, in the recipe's detail and in the OpenAPI document.
        detail = served.api("alice", "GET", "/recipes/bots/two%20words.ipynb").json()
        assert detail["trigger"]["endpoint"].endswith("/call/two%20words"), detail["trigger"]
        document = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token})
        assert "/call/two%20words" in document.json()["paths"], list(document.json()["paths"])
        called = send(served, token, "POST", "two%20words", {})
        assert called.status_code == 200, called.text
    finally:
        served.api("alice", "POST", "/recipes/bots/two%20words.ipynb/stop")
        (callables / "projects/bots/two words.ipynb").unlink()
    # A plain file name is its path, as before: started, listed and called at /call/plain_bot.
    _at_path(callables, None, "plain_bot")
    try:
        started = served.api("alice", "POST", "/recipes/bots/plain_bot.ipynb/start")
        assert started.status_code == 200, started.text
        document = httpx.get(f"{served.url}{API}/openapi.json", headers={"API-TOKEN": token})
        assert "/call/plain_bot" in document.json()["paths"], list(document.json()["paths"])
        called = send(served, token, "POST", "plain_bot", {})
        assert called.status_code == 200, called.text
    finally:
        served.api("alice", "POST", "/recipes/bots/plain_bot.ipynb/stop")
        (callables / "projects/bots/plain_bot.ipynb").unlink()


# -- E: a body refused as JSON is told the fix for its cause -------------------------------------

#: Bodies a JSON client may send that are refused, each with what its fix says: bytes in
#: another charset, a name twice, NaN, a number past a float's, nesting past the limit, a
#: lone surrogate, a comma after the last item.
REFUSED_BODIES: dict[bytes, str] = {
    '{"name": "José"}'.encode("latin-1"): "encode the JSON text as UTF-8",
    b'{"n": 1, "n": 2}': "give each name once in an object",
    b'{"ratio": NaN}': "write no NaN, Infinity or -Infinity, which JSON has no form for: use null",
    b'{"ratio": 1e400}': "give numbers within a float's range",
    b"[" * 101 + b"]" * 101: "nest arrays and objects at most 100 levels deep",
    b'{"name": "\\ud800"}': "escape a character beyond \\uffff as its pair",
    b'{"parameters": {"count": 4,}}': "remove the comma before } at line 1, column 28",
    b'{"tags": ["a",\n ]}': "remove the comma before ] at line 2, column 2",
}


def test_a_body_refused_as_json_is_told_the_fix_for_its_cause(served: Served, token: str) -> None:
    # Each was told "send the input as a JSON object with Content-Type: application/json",
    # which the bot had done: a Latin-1 body, a name twice, NaN, nesting too deep, a comma
    # after the last item.
    before = job_count(served, "bots/typed")
    for body, fix in REFUSED_BODIES.items():
        charset = "ISO-8859-1" if b"Jos" in body else "UTF-8"
        headers = {"API-TOKEN": token, "Content-Type": f"application/json; charset={charset}"}
        called = httpx.post(f"{served.url}{API}/call/typed", content=body, headers=headers)
        error = error_of(called, 400, "body")
        assert "is not valid JSON" in error["message"] and error["fix"].startswith(fix), error
        # A user's route reads its body by the same rule.
        saved = served.api("alice", "PUT", "/recipes/bots/typed.ipynb/settings", content=body)
        error = error_of(saved, 400, "body")
        assert "is not valid JSON" in error["message"] and error["fix"].startswith(fix), error
    # Malformed JSON is told to send JSON.
    broken = httpx.post(
        f"{served.url}{API}/call/typed", content=b"{n", headers={"API-TOKEN": token}
    )
    error = error_of(broken, 400, "body")
    assert error["fix"] == "send the input as a JSON object with Content-Type: application/json"
    assert job_count(served, "bots/typed") == before


# -- F: an API client given an endpoint that is no callable path --------------------------------


def test_an_api_client_s_endpoint_that_is_no_callable_path_is_told_the_paths(
    served: Served,
) -> None:
    # "/call/typed" and "opt in" got the schema's "is not valid under any of the given
    # schemas" (fix: see the request schema), where "call/typed" was told the paths.
    for endpoint in ("/call/typed", "opt in", "call/typed", "typed/", ""):
        made = served.api(
            "alice", "POST", "/api-clients", json={"name": "mistyped", "endpoints": [endpoint]}
        )
        error = error_of(made, 400, "endpoints")
        assert repr(endpoint) in error["message"], error
        assert error["fix"].startswith("give one of the callable paths ("), error
        assert "typed" in error["fix"] and error["fix"].endswith(", or * for all"), error
    made = served.api("alice", "POST", "/api-clients", json={"name": "ok", "endpoints": ["typed"]})
    assert made.status_code == 201, made.text
