"""The OpenAPI document against what the server really answers: real answers of a real
`lpstudio serve` on loopback (real kernels, real SQLite) are validated with jsonschema
against the schemas of the document it serves, so a client generated from it decodes them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openapi_spec_validator
import pytest
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from lpstudio.idempotency import DELIVERY_ID_HEADERS
from lpstudio.registry import load_connectors
from lpstudio.server.routes import ROUTES
from lpstudio.store import SCHEMA_HEAD
from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving

#: The document, as the JSON Schema resource its `$ref`s resolve in.
DOC = "urn:lpstudio:openapi"
#: The secrets the signed hooks' connections hold, by field: the `http` connection's token,
#: the workspace's own `acme` connector's signing secret.
HOOK_SECRETS = {"token": "contract-hook-token-1f2e", "signing_secret": "contract-acme-secret-9d8c"}
#: A connector of the workspace's own, whose webhook trigger reads its own signature header,
#: with a pick list.
ACME = """
import hashlib, hmac, json
from lpstudio.sdk import Connector, Field, Option

connector = Connector(
    "acme", title="Acme", fields=[Field("signing_secret", "Signing secret", secret=True)]
)


@connector.picklist("teams", title="Teams")
def teams(conn):
    return [Option("t1", "Sales", {"region": "eu"})]


def verify(headers, body, secret):
    got = {k.lower(): v for k, v in headers.items()}.get("x-acme-signature", "")
    return hmac.compare_digest(got, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())


@connector.webhook_trigger(
    "lead",
    title="Lead",
    verify=verify,
    signature_headers={"X-Acme-Signature": "the HMAC-SHA256 of the raw body as hex"},
)
def parse(headers, body):
    return [json.loads(body)]
"""


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return contract_workspace(tmp_path_factory.mktemp("contract") / "ws")


def contract_workspace(root: Path) -> Path:
    """`bots/echo`, a started callable answering the status and body it is sent; a stopped
    webhook recipe, and two signed ones (`hooks/signed` by an http connection's token,
    `hooks/acme` by the workspace's own connector); an empty project folder."""
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        (root / "connectors").mkdir(exist_ok=True)
        (root / "connectors" / "acme.py").write_text(ACME)
        studio.connections.add("hook", "http", {"token": HOOK_SECRETS["token"]}, "alice")
        secret = {"signing_secret": HOOK_SECRETS["signing_secret"]}
        studio.connections.add("acme", "acme", secret, "alice")
        for name, type_, trigger in (("signed", "http", "webhook"), ("acme", "acme", "lead")):
            write_recipe(
                root,
                f"hooks/{name}",
                metadata={
                    "title": name,
                    "trigger": {"kind": "webhook", "connection": "app", "trigger": trigger},
                    "connections": {"app": {"type": type_}},
                },
            )
        write_recipe(
            root,
            "bots/echo",
            parameters="unused: int = 0  # the call's input is its event",
            cells=(
                "import lpstudio.kernel as lp",
                "lp.respond(lp.event['body'], lp.event['status'])",
            ),
            metadata={
                "title": "Echo",
                "trigger": {
                    "kind": "callable",
                    "path": "echo",
                    "input_schema": {
                        "type": "object",
                        "required": ["status", "body"],
                        "properties": {"status": {"type": "integer"}, "body": {}},
                    },
                    "response_schema": {
                        "type": "object",
                        "required": ["ok"],
                        "properties": {"ok": {"type": "boolean"}},
                    },
                },
            },
        )
        studio.start("bots/echo.ipynb")
        write_recipe(root, "hooks/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
        (root / "projects" / "empty").mkdir()
    return root


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[Served]:
    with serving(ws) as served:
        yield served


@pytest.fixture(scope="module")
def token(server: Served) -> str:
    """An API client's token, for every callable endpoint."""
    return server.client_token()


@pytest.fixture(scope="module")
def doc(server: Served) -> dict[str, Any]:
    """The document a Jupyter user reads (every route, and the started callables)."""
    served = server.api("alice", "GET", "/openapi.json").json()
    openapi_spec_validator.validate(served)
    return served


def documented(doc: dict[str, Any], path: str, method: str, status: int) -> str:
    """The response key the document gives an answer's status: its own, its range (2XX),
    else `default`, as a generated client picks it."""
    responses = doc["paths"][path][method]["responses"]
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            return key
    raise AssertionError(f"{method.upper()} {path} answered {status}: not in {sorted(responses)}")


def validate(doc: dict[str, Any], value: Any, *where: str) -> None:
    """Validates `value` against the document's schema at `where` (its `$ref`s resolved in
    the document, as a generated client resolves them)."""
    escaped = (quote(s.replace("~", "~0").replace("/", "~1")) for s in where)
    registry = Registry().with_resource(DOC, DRAFT202012.create_resource(doc))
    Draft202012Validator({"$ref": f"{DOC}#/{'/'.join(escaped)}"}, registry=registry).validate(value)


def assert_fits(doc: dict[str, Any], path: str, method: str, answer: httpx.Response) -> str:
    """Validates the answer's body against the document's schema for its status and media
    type; returns the response key that documents it."""
    key = documented(doc, path, method, answer.status_code)
    media = answer.headers["Content-Type"].split(";")[0].strip()
    content = doc["paths"][path][method]["responses"][key]["content"]
    assert media in content, (path, key, media, sorted(content))
    body = answer.json() if media.endswith("json") else answer.text
    validate(doc, body, "paths", path, method, "responses", key, "content", media, "schema")
    # A call's or a poll's (a bot reads its headers), or a download's (a file's name and
    # how to show it): whatever header the server adds.
    every = path.startswith("/call") or media != "application/json"
    assert_headers_documented(doc["paths"][path][method]["responses"][key], answer, every)
    return key


#: Answer headers a client acts on: when to retry, which methods a path takes.
ACTED_ON = ("Retry-After", "Allow")
#: HTTP's own answer headers, on any route: the body's type, size and caching, the server,
#: the browser's handling of the body; none says what the request did.
HTTP_OWN = frozenset(
    {
        "cache-control",
        "connection",
        "content-length",
        "content-security-policy",
        "content-type",
        "date",
        "etag",
        "server",
        "vary",
        "x-content-type-options",
    }
)


def assert_headers_documented(
    response: dict[str, Any], answer: httpx.Response, every: bool = False
) -> None:
    """Each header a client acts on that the answer carries is documented for its status,
    its value fitting the documented schema; with `every`, each header it carries that is
    not HTTP's own (`HTTP_OWN`), as a call's, a poll's or a download's, whatever header the
    server adds."""
    names = {n for n in answer.headers if n.lower() not in HTTP_OWN} if every else ACTED_ON
    for name in names:
        if name in answer.headers:
            documented_headers = response.get("headers", {})
            declared = {n.lower(): n for n in documented_headers}
            assert name.lower() in declared, (answer.status_code, name, sorted(documented_headers))
            schema = documented_headers[declared[name.lower()]]["schema"]
            value = answer.headers[name]
            typed = int(value) if schema.get("type") == "integer" else value
            Draft202012Validator(schema).validate(typed)


def assert_body_fits(doc: dict[str, Any], path: str, method: str, body: Any) -> None:
    where = ("paths", path, method, "requestBody", "content", "application/json", "schema")
    validate(doc, body, *where)


def call(server: Served, token: str, body: Any, **params: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}{API}/call/echo",
        json=body,
        params=params,
        headers={"API-TOKEN": token},
        timeout=60,
    )


# -- callable recipes' own answers -----------------------------------------------------------


def test_a_callable_recipe_s_own_statuses_are_decoded_by_the_document(
    server: Served, token: str, doc: dict[str, Any]
) -> None:
    """respond(body, status) answers any status from 200 to 599: a success off 200 with the
    response schema's body, an error with the recipe's own body (not the server's Error)."""
    client_doc = httpx.get(f"{server.url}{API}/openapi.json", headers={"API-TOKEN": token}).json()
    for status, body in (
        (201, {"ok": True}),
        (299, {"ok": False}),
        (400, {"error": "phone is not E.164"}),  # as the opt-in template's own 400
        (418, {"teapot": True}),
        (500, ["its", "own", "body"]),
    ):
        answer = call(server, token, {"status": status, "body": body})
        assert (answer.status_code, answer.json()) == (status, body), answer.text
        for served in (doc, client_doc):
            assert_fits(served, "/call/echo", "post", answer)
            assert_fits(served, "/call/{path}", "post", answer)


def test_an_async_call_s_answer_and_its_poll_s_refusal_are_documented(
    server: Served, token: str, doc: dict[str, Any]
) -> None:
    queued = call(server, token, {"status": 418, "body": {"teapot": True}}, mode="async")
    assert queued.status_code == 202, queued.text
    assert_fits(doc, "/call/echo", "post", queued)
    url = f"{server.url}{queued.json()['poll']}"

    def answered() -> httpx.Response | None:
        polled = httpx.get(url, headers={"API-TOKEN": token}, timeout=30)
        assert_fits(doc, "/calls/{job_id}", "get", polled)  # 202 while its job runs
        return polled if polled.status_code != 202 else None

    polled = wait_for(answered, what="the call's answer")
    assert (polled.status_code, polled.json()) == (418, {"teapot": True})

    # The server's own refusal of a query parameter the route does not take is listed.
    refused = httpx.get(url, params={"bogus": "1"}, headers={"API-TOKEN": token}, timeout=30)
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "bogus"
    assert assert_fits(doc, "/calls/{job_id}", "get", refused) == "400"


def test_a_repeated_call_s_headers_are_documented_for_its_status(
    server: Served, token: str, doc: dict[str, Any]
) -> None:
    """A call names its job (`Lpstudio-Job`), and a repeat under its Idempotency-Key says
    it is one (`Idempotent-Replayed`): a bot reads both, so each is declared where sent."""
    body = {"status": 418, "body": {"teapot": True}}
    keyed = {"API-TOKEN": token, "Idempotency-Key": "contract-repeat"}
    first, again = (
        httpx.post(f"{server.url}{API}/call/echo", json=body, headers=keyed, timeout=60)
        for _ in range(2)
    )
    assert (first.status_code, again.status_code) == (418, 418), again.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    for answer in (first, again):
        assert_fits(doc, "/call/echo", "post", answer)
        assert_fits(doc, "/call/{path}", "post", answer)


# -- webhooks, outputs, recipes --------------------------------------------------------------


def test_a_webhook_delivery_of_a_list_of_events_fits_the_request_schema(
    server: Served, doc: dict[str, Any]
) -> None:
    hook = server.api("alice", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    events = [{"lead": 1}, {"lead": 2}]
    delivered = httpx.post(f"{server.url}{hook}", json=events, timeout=30)
    assert delivered.status_code == 202 and delivered.json()["accepted"] == 2, delivered.text
    assert_body_fits(doc, "/hooks/{hook_id}", "post", events)
    assert_fits(doc, "/hooks/{hook_id}", "post", delivered)
    for wrong in ("a lead", [{"lead": 1}, "lead 2"]):  # each event is an object
        refused = httpx.post(f"{server.url}{hook}", json=wrong, timeout=30)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "body"
        with pytest.raises(ValidationError):
            assert_body_fits(doc, "/hooks/{hook_id}", "post", wrong)


def header_parameters(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    parameters = doc["paths"][path][method]["parameters"]
    return {p["name"]: p for p in parameters if p["in"] == "header"}


def test_the_headers_a_delivery_or_a_call_is_read_by_are_declared(
    ws: Path, doc: dict[str, Any]
) -> None:
    """A webhook's signature headers and delivery ids, and the route of every callable's
    Idempotency-Key, were read by the server and declared nowhere: a client generated from
    the document could not send them."""
    declared = header_parameters(doc, "/hooks/{hook_id}", "post")
    signatures = {
        header
        for connector in load_connectors(ws).values()
        for trigger in connector.webhook_triggers.values()
        if trigger.verify is not None
        for header in trigger.signature_headers
    }
    bundled = {"X-Lpstudio-Signature", "X-Shopify-Hmac-Sha256", "X-Hub-Signature-256"}
    assert signatures >= {*bundled, "X-Acme-Signature"}  # the workspace's own connector's too
    assert set(declared) == signatures | set(DELIVERY_ID_HEADERS)
    assert not any(p["required"] for p in declared.values())
    for name in signatures:
        said = declared[name]["description"]
        assert "HMAC-SHA256 of the raw body" in said and "401" in said, said
    for name in DELIVERY_ID_HEADERS:
        said = declared[name]["description"]
        assert "redelivery" in said and "queues nothing new" in said, said
    for method in ("post", "get"):
        generic = header_parameters(doc, "/call/{path}", method)
        assert set(generic) == {"Idempotency-Key"} and not generic["Idempotency-Key"]["required"]
        assert generic == header_parameters(doc, "/call/echo", method)


def signed(body: bytes, secret: str, written: str) -> str:
    """The HMAC-SHA256 of `body` with `secret`, written as the document says (`written`)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if written.startswith("base64"):
        return base64.b64encode(digest).decode()
    if written.startswith("sha256=<hex>"):
        return f"sha256={digest.hex()}"
    assert written.startswith("hex"), written
    return digest.hex()


@pytest.mark.parametrize("recipe, connector", [("signed", "http"), ("acme", "acme")])
def test_a_delivery_signed_as_the_document_says_is_queued_once(
    recipe: str, connector: str, server: Served, doc: dict[str, Any]
) -> None:
    """Each signature header is sent as its description says (the trigger that reads it, how
    its HMAC-SHA256 of the raw body is written, the connection field keying it), each
    delivery named by one of the documented delivery ids: it is queued, and once."""
    hook = server.api("alice", "GET", f"/recipes/hooks/{recipe}.ipynb").json()["trigger"]["hook"]
    declared = header_parameters(doc, "/hooks/{hook_id}", "post")
    reads = re.compile(
        rf"connector {connector}'s \w+ trigger \([^)]*\) reads the HMAC-SHA256 of the raw "
        r"body as (?P<written>.+?), keyed with the (?P<field>\w+) of the connection"
    )
    said = {name: reads.search(p["description"]) for name, p in declared.items()}
    signing = {name: found for name, found in said.items() if found}
    assert signing, declared
    ids = [name for name, p in declared.items() if p["description"].startswith("the sender's id")]
    assert ids == list(DELIVERY_ID_HEADERS)
    for number, (name, found) in enumerate(signing.items()):
        body = json.dumps({"lead": f"{recipe}-{number}"}).encode()
        signature = signed(body, HOOK_SECRETS[found["field"]], found["written"])
        Draft202012Validator(declared[name]["schema"]).validate(signature)
        delivery = {ids[number % len(ids)]: f"{recipe}-delivery-{number}"}
        wrong = signed(body + b" ", HOOK_SECRETS[found["field"]], found["written"])
        refused = httpx.post(
            f"{server.url}{hook}", content=body, headers={name: wrong, **delivery}, timeout=30
        )
        assert refused.status_code == 401 and refused.json()["error"]["field"] == name
        assert_fits(doc, "/hooks/{hook_id}", "post", refused)
        for status in (202, 200):  # the delivery, then its redelivery: nothing new
            headers = {name: signature, **delivery, "Content-Type": "application/json"}
            answer = httpx.post(f"{server.url}{hook}", content=body, headers=headers, timeout=30)
            assert answer.status_code == status, (name, answer.text)
            assert answer.json()["repeated"] is (status == 200)
            assert_fits(doc, "/hooks/{hook_id}", "post", answer)


def test_a_job_s_output_notebook_fits_the_document(
    server: Served, token: str, doc: dict[str, Any]
) -> None:
    """Each header of a download is declared: its Content-Disposition (the file's name) was
    sent but not in the document, so a generated client had no name to save it under."""
    job = call(server, token, {"status": 200, "body": {"ok": True}}).headers["Lpstudio-Job"]
    path = "/jobs/{job_id}/output.{kind}"
    notebook = server.api("alice", "GET", f"/jobs/{job}/output.ipynb")
    assert notebook.status_code == 200 and notebook.json()["nbformat"] == 4, notebook.text
    assert notebook.headers["Content-Disposition"] == f'inline; filename="job-{job}.ipynb"'
    assert_fits(doc, path, "get", notebook)
    page = server.api("alice", "GET", f"/jobs/{job}/output.html")
    assert page.status_code == 200 and "<html" in page.text
    assert page.headers["Content-Disposition"] == f'inline; filename="job-{job}.html"'
    assert_fits(doc, path, "get", page)
    package = server.api("alice", "GET", "/packages", params={"project": "bots"})
    assert package.status_code == 200, package.text
    assert package.headers["Content-Disposition"] == 'attachment; filename="bots.zip"'
    assert_fits(doc, "/packages", "get", package)


@pytest.mark.parametrize("project", ["nope", "../..", "projects"])
def test_recipes_of_a_project_that_is_no_folder_are_refused_as_its_export_is(
    project: str, server: Served, doc: dict[str, Any]
) -> None:
    listed = server.api("alice", "GET", "/recipes", params={"project": project})
    exported = server.api("alice", "GET", "/packages", params={"project": project})
    assert listed.status_code == 400, listed.text
    assert listed.json()["error"]["field"] == "project" and listed.json()["error"]["fix"]
    assert listed.json() == exported.json()
    assert_fits(doc, "/recipes", "get", listed)


def test_recipes_of_a_project_folder_are_listed_as_its_export_reads_it(
    server: Served, doc: dict[str, Any]
) -> None:
    def listed(project: str) -> list[str]:
        answer = server.api("alice", "GET", "/recipes", params={"project": project})
        assert answer.status_code == 200, answer.text
        assert_fits(doc, "/recipes", "get", answer)
        return [r["recipe"] for r in answer.json()["recipes"]]

    assert listed("empty") == []
    assert listed("bots") == listed("projects/bots") == ["bots/echo.ipynb"]
    hooks = ["hooks/acme.ipynb", "hooks/lead.ipynb", "hooks/signed.ipynb"]
    assert listed(".") == ["bots/echo.ipynb", *hooks]
    assert listed("bots/") == ["bots/echo.ipynb"]


# -- every field of an answer documented ------------------------------------------------------


def node(doc: dict[str, Any], where: tuple[str, ...]) -> Any:
    """The document's part at `where` (JSON pointer segments, unescaped)."""
    found: Any = doc
    for key in where:
        found = found[int(key)] if isinstance(found, list) else found[key]
    return found


def fits(doc: dict[str, Any], value: Any, where: tuple[str, ...]) -> bool:
    try:
        validate(doc, value, *where)
    except ValidationError:
        return False
    return True


def parts(doc: dict[str, Any], where: tuple[str, ...], value: Any) -> list[tuple[str, ...]]:
    """Where the schema at `where` says something of `value`: itself, what its `$ref` leads
    to, its `allOf`'s items, and its `anyOf`'s and `oneOf`'s that `value` fits."""
    schema = node(doc, where)
    found = [where]
    if "$ref" in schema:
        led = schema["$ref"].removeprefix("#/").split("/")
        found += parts(doc, tuple(s.replace("~1", "/").replace("~0", "~") for s in led), value)
    for key in ("allOf", "anyOf", "oneOf"):
        for n in range(len(schema.get(key, ()))):
            branch = (*where, key, str(n))
            if key == "allOf" or fits(doc, value, branch):
                found += parts(doc, branch, value)
    return found


def objects(schema: dict[str, Any]) -> bool:
    """Whether `schema` expects an object: its type says so, or it names properties."""
    kinds = schema.get("type", ())
    return "properties" in schema or "object" in ([kinds] if isinstance(kinds, str) else kinds)


def undocumented(doc: dict[str, Any], value: Any, where: tuple[str, ...], at: str) -> list[str]:
    """The fields of `value` (at `at`) that the schema at `where` does not name: checked as
    if every object it expects took no others (`additionalProperties: false`) unless it
    says it does (`additionalProperties` true or a schema); a schema of any JSON (`{}`)
    expects none. A client generated from the document puts
    such a field in an untyped dict of extras, its meaning said nowhere."""
    found = parts(doc, where, value)
    schemas = [node(doc, w) for w in found]
    if isinstance(value, list):
        items = [(*w, "items") for w, s in zip(found, schemas, strict=True) if "items" in s]
        return [
            field
            for n, item in enumerate(value)
            for led in items
            for field in undocumented(doc, item, led, f"{at}[{n}]")
        ]
    if not isinstance(value, dict) or not any(map(objects, schemas)):
        return []  # any JSON (an event: `{}`)
    said: list[str] = []
    for key, item in value.items():
        named = [
            (*w, "properties", key)
            for w, s in zip(found, schemas, strict=True)
            if key in s.get("properties", {})
        ] or [
            (*w, "additionalProperties")
            for w, s in zip(found, schemas, strict=True)
            if isinstance(s.get("additionalProperties"), dict)
        ]
        if named:
            said += [f for led in named for f in undocumented(doc, item, led, f"{at}.{key}")]
        elif not any(s.get("additionalProperties") is True for s in schemas):
            said.append(f"{at}.{key}")
    return sorted(set(said))


def assert_documented(doc: dict[str, Any], path: str, method: str, answer: httpx.Response) -> Any:
    """The answer fits the document (each field it requires there), and each of its fields
    is documented (`undocumented`); returns its body."""
    key = assert_fits(doc, path, method, answer)
    where = ("paths", path, method, "responses", key, "content", "application/json", "schema")
    body = answer.json()
    assert undocumented(doc, body, where, "answer") == [], (method, path)
    # The check can fail: a field the document does not name is found, in the answer and in
    # the first item of each list it holds (a list's rows).
    extra = {**body, "undocumented_field": 1} if isinstance(body, dict) else body
    assert undocumented(doc, extra, where, "answer") == ["answer.undocumented_field"]
    for key, rows in body.items() if isinstance(body, dict) else ():
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            extra = {**body, key: [{**rows[0], "undocumented_field": 1}, *rows[1:]]}
            said = undocumented(doc, extra, where, "answer")
            assert said == [f"answer.{key}[0].undocumented_field"], (method, path, said)
    return body


def test_each_field_of_a_recipe_and_a_job_is_documented(
    server: Served, token: str, doc: dict[str, Any], ws: Path
) -> None:
    """A recipe's detail (its `trigger.endpoint` and `trigger.hook`, `settings`...), its list
    rows, the answers of a settings save, a start and a stop, and one job (with
    `listed=true` its `parameters_cut`) each document every field they hold: a client
    generated from the document read them as untyped extras. One `Recipe` schema, named,
    describes the detail and every answer giving it."""
    call(server, token, {"status": 200, "body": {"ok": True}})  # the echo's last job
    write_recipe(  # a started schedule (its next run, its start) and a broken recipe
        ws,
        "contract/daily",
        metadata={"title": "Daily", "trigger": {"kind": "schedule", "cron": "0 9 1 1 *"}},
    )
    write_recipe(ws, "contract/broken", metadata={"title": "Broken", "trigger": {"kind": "?"}})
    try:
        started = server.api("alice", "POST", "/recipes/contract/daily.ipynb/start", json={})
        assert started.status_code == 200, started.text
        assert assert_documented(doc, "/recipes/{recipe}/start", "post", started)["next_run"]
        saves = {
            "bots/echo.ipynb": {"call_timeout": 60},
            "hooks/lead.ipynb": {
                "notify": {"email": "ops@example.com", "webhook": "https://a.b/c"}
            },
        }
        for recipe, body in saves.items():
            saved = server.api("alice", "PUT", f"/recipes/{recipe}/settings", json=body)
            assert saved.status_code == 200, saved.text
            assert_documented(doc, "/recipes/{recipe}/settings", "put", saved)
        details = {
            recipe: assert_documented(
                doc, "/recipes/{recipe}", "get", server.api("alice", "GET", f"/recipes/{recipe}")
            )
            for recipe in ("bots/echo.ipynb", "hooks/acme.ipynb", *saves, "contract/daily.ipynb")
        }
        assert details["bots/echo.ipynb"]["trigger"]["endpoint"].endswith("/call/echo")
        assert details["bots/echo.ipynb"]["last_job"]["parameters_cut"] == {}
        assert details["hooks/lead.ipynb"]["settings"]["notify"]["email"] == "ops@example.com"
        assert details["hooks/acme.ipynb"]["automatic"] == ["app"]
        listed = server.api("alice", "GET", "/recipes")
        rows = assert_documented(doc, "/recipes", "get", listed)["recipes"]
        assert {r["recipe"]: r["problem"] is None for r in rows}["contract/broken.ipynb"] is False
        for recipe in ("contract/daily.ipynb", "contract/broken.ipynb"):
            stopped = server.api("alice", "POST", f"/recipes/{recipe}/stop", json={})
            assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
            assert_documented(doc, "/recipes/{recipe}/stop", "post", stopped)
        assert stopped.json()["problem"]["field"], stopped.text  # the broken one's
    finally:
        for name in ("daily", "broken"):
            (ws / "projects" / "contract" / f"{name}.ipynb").unlink()
        (ws / "projects" / "contract").rmdir()
    job = details["bots/echo.ipynb"]["last_job"]["id"]
    for listed_only in ("false", "true"):
        shown = server.api("alice", "GET", f"/jobs/{job}", params={"listed": listed_only})
        body = assert_documented(doc, "/jobs/{job_id}", "get", shown)
        assert ("parameters_cut" in body) is (listed_only == "true")


def test_each_field_of_versions_templates_connectors_users_and_the_audit_is_documented(
    server: Served, doc: dict[str, Any], ws: Path
) -> None:
    """A recipe's versions and a restore's answer, the gallery's templates and a Try's
    answer, the connectors and a pick list's options, the users and a role change, and the
    audit log as an admin and as an operator read it: each documents every field it holds.
    They were bare objects, so a client generated from the document read every field as an
    untyped extra."""
    project = ws / "projects" / "documented"
    write_recipe(ws, "documented/versioned", metadata={"title": "Versioned"})
    recipe = "/recipes/documented/versioned.ipynb"
    try:
        for x in (2, 3):  # each save a version
            saved = server.api("alice", "PUT", f"{recipe}/settings", json={"parameters": {"x": x}})
            assert saved.status_code == 200, saved.text
        listed = server.api("alice", "GET", f"{recipe}/versions")
        versions = assert_documented(doc, "/recipes/{recipe}/versions", "get", listed)["versions"]
        assert [v["settings"]["parameters"] for v in versions[:2]] == [{"x": 3}, {"x": 2}]
        older = versions[1]["id"]
        restored = server.api("alice", "POST", f"{recipe}/restore", json={"version": older[:12]})
        assert restored.status_code == 200, restored.text
        body = assert_documented(doc, "/recipes/{recipe}/restore", "post", restored)
        assert (body["id"], body["kept"]) == (older, versions[0]["id"])

        gallery = server.api("alice", "GET", "/gallery")
        templates = assert_documented(doc, "/gallery", "get", gallery)["templates"]
        assert templates, gallery.text
        tried = server.api(
            "alice",
            "POST",
            "/gallery/try",
            json={"template": templates[0]["name"], "project": "documented"},
        )
        assert tried.status_code == 201, tried.text
        assert assert_documented(doc, "/gallery/try", "post", tried)["state"] == "stopped"
    finally:
        shutil.rmtree(project)

    connectors = server.api("alice", "GET", "/connectors")
    described = assert_documented(doc, "/connectors", "get", connectors)["connectors"]
    assert {c["name"]: c["picklists"] for c in described}["acme"] == {"teams": "Teams"}
    options = server.api("alice", "GET", "/connections/acme/picklists/teams")
    assert assert_documented(doc, "/connections/{name}/picklists/{picklist}", "get", options)[
        "options"
    ] == [{"value": "t1", "label": "Sales", "extra": {"region": "eu"}}]

    given = server.api("alice", "PUT", "/users/olive/role", json={"role": "operator"})
    assert given.status_code == 200, given.text
    assert assert_documented(doc, "/users/{name}/role", "put", given)["created"] is True
    users = assert_documented(doc, "/users", "get", server.api("alice", "GET", "/users"))
    assert {u["name"]: u["role"] for u in users["users"]}["olive"] == "operator"
    for reader in ("alice", "olive"):  # the role's detail withheld from the operator
        audit = server.api(reader, "GET", "/audit", params={"limit": 500})
        entries = assert_documented(doc, "/audit", "get", audit)["entries"]
        role = next(e for e in entries if e["target"] == "olive")
        assert ("withheld" in role["detail"]) is (reader == "olive"), role


# -- what any request of a route may be answered -----------------------------------------------

#: Test values of the routes' path parameters (the recipe, the hook and the callable exist).
PLACES = {
    "recipe": "bots/echo.ipynb",
    "job_id": "1",
    "kind": "ipynb",
    "name": "nothing",
    "picklist": "nothing",
    "path": "echo",
}
#: The methods a client may send by mistake (tornado answers others itself).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def urls(server: Served, doc: dict[str, Any]) -> dict[str, str]:
    """Each documented path's URL, its parameters given test values."""
    hook = server.api("alice", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    places = {**PLACES, "hook_id": hook.rsplit("/", 1)[1]}
    return {
        path: server.url + API + re.sub(r"{(\w+)}", lambda m: places[m.group(1)], path)
        for path in doc["paths"]
    }


def operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Every documented (path, method)."""
    return [
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method.upper() in METHODS
    ]


def test_the_tests_below_reach_every_route() -> None:
    """The tests below reach every route (a new route's path parameter needs a test value)."""
    names = {name for r in ROUTES for name in re.findall(r"{(\w+)}", r.path)}
    assert names <= {*PLACES, "hook_id"}, names


def test_a_method_a_path_does_not_take_is_answered_as_the_document_says(
    server: Served, doc: dict[str, Any]
) -> None:
    """The document says what any other method gets on each path (`x-other-methods`): 405
    with the error body and the methods it takes in `Allow`, before anything runs."""
    url = urls(server, doc)
    for path, item in doc["paths"].items():
        taken = [m.upper() for m in item if m.upper() in METHODS]
        for method in (m for m in METHODS if m not in taken):
            answer = httpx.request(method, url[path], headers={"X-Test-User": "alice"}, timeout=30)
            assert answer.status_code == 405, (method, path, answer.text)
            other = doc.get("x-other-methods", {}).get(path, {})
            assert "405" in other, path
            assert_headers_documented(other["405"], answer)
            assert {m.strip() for m in answer.headers["Allow"].split(",")} == set(taken)
            if method != "HEAD":  # a HEAD answer has no body
                validate(
                    doc,
                    answer.json(),
                    "x-other-methods",
                    path,
                    "405",
                    "content",
                    "application/json",
                    "schema",
                )


def test_an_origin_the_server_does_not_allow_is_refused_as_documented_on_every_route(
    server: Served, doc: dict[str, Any]
) -> None:
    """A browser app's request from an origin Jupyter does not allow is refused (403, field
    Origin) on every route, the bots' and webhook senders' too."""
    url = urls(server, doc)
    for path, method in operations(doc):
        answer = httpx.request(
            method,
            url[path],
            headers={"X-Test-User": "alice", "Origin": "https://elsewhere.example"},
            timeout=30,
        )
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["field"] == "Origin"
        assert assert_fits(doc, path, method, answer) == "403", (method, path)


def test_a_store_upgraded_by_a_newer_lpstudio_is_answered_as_documented_on_every_route(
    tmp_path: Path,
) -> None:
    """Every route answers 503 once a newer lpstudio upgraded the store: StoreUpgraded to a
    Jupyter user, ServiceUnavailable with Retry-After to a bot or webhook sender."""
    root = contract_workspace(tmp_path / "ws")
    with serving(root, name="upgraded") as server:
        token = server.client_token()
        served = server.api("alice", "GET", "/openapi.json").json()
        url = urls(server, served)
        with closing(sqlite3.connect(root / "lpstudio.db")) as db, db:
            db.execute("UPDATE alembic_version SET version_num = '0099'")
        try:
            wait_for(
                lambda: server.api("alice", "GET", "/me").status_code == 503,
                what="the server to see the upgrade",
            )
            for path, method in operations(served):
                user = not path.startswith(("/call", "/hooks"))
                headers = {"X-Test-User": "alice"} if user else {"API-TOKEN": token}
                answer = httpx.request(method, url[path], headers=headers, timeout=30)
                assert answer.status_code == 503, (method, path, answer.text)
                code = answer.json()["error"]["code"]
                assert code == ("StoreUpgraded" if user else "ServiceUnavailable"), code
                assert assert_fits(served, path, method, answer) == "503", (method, path)
        finally:
            with closing(sqlite3.connect(root / "lpstudio.db")) as db, db:
                db.execute("UPDATE alembic_version SET version_num = :h", {"h": SCHEMA_HEAD})


def test_a_fault_of_the_server_s_own_is_answered_500_as_documented(tmp_path: Path) -> None:
    """A request the server fails of its own fault (here a job row whose parameters are no
    JSON, as a store edited by hand holds) is answered 500 InternalError with the error body,
    no traceback, and the document says so: no route documented 500, so a client generated
    from it had no shape to read the answer by."""
    root = contract_workspace(tmp_path / "ws")
    with Studio.open(root, user="alice") as studio:
        version = studio.store.snapshot("bots/echo.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="bots/echo.ipynb", version_id=version, trigger="manual", user="alice"
        )
    with closing(sqlite3.connect(root / "lpstudio.db")) as db, db:
        db.execute("UPDATE jobs SET parameters = '{\"n\": ' WHERE id = ?", (job.id,))
    with serving(root, "--LpstudioApp.scheduler=False", name="fault") as server:
        served = server.api("alice", "GET", "/openapi.json").json()
        answer = server.api("alice", "GET", f"/jobs/{job.id}")
        assert answer.status_code == 500, answer.text
        assert answer.json()["error"]["code"] == "InternalError"
        assert "Traceback" not in answer.text and "JSONDecodeError" not in answer.text
        assert assert_fits(served, "/jobs/{job_id}", "get", answer) == "500"
        for path, method in operations(served):  # every route's answer to a fault of its own
            assert "500" in served["paths"][path][method]["responses"], (method, path)
