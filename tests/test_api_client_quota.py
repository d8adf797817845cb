"""An API client's quota: calls allowed in any 24 hours, besides its calls per minute.

A client could call without end at its rate. A quota, optional as in Workato's API policies,
is set when the client is made (`--quota N/day`, `quota_per_day`) and counted where the rate
is: in the machine's rate file, shared by every server process of the workspace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, text

import lpstudio.models
from lpstudio.cli import main
from lpstudio.errors import quoted
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.postgres import create_database, postgres_server
from tests.servers import API, serving
from tests.test_server import api, assert_error, call
from tests.test_store_schema import migrate_to

DAY = 24 * 60 * 60


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice (admin); `bots/double`, a started callable at `double`."""
    root = tmp_path_factory.mktemp("quota") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        write_recipe(
            root,
            "bots/double",
            parameters="unused: int = 0  # the call's input is its event",
            cells=("import lpstudio.kernel as lp", "lp.respond({'double': lp.event['n'] * 2})"),
            metadata={
                "title": "Double",
                "trigger": {
                    "kind": "callable",
                    "path": "double",
                    "input_schema": {
                        "type": "object",
                        "required": ["n"],
                        "properties": {"n": {"type": "integer"}},
                    },
                },
            },
        )
        studio.start("bots/double.ipynb")
    return root


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[str]:
    with serving(ws) as served:
        yield served.url


def make_client(server: str, name: str, **limits: Any) -> dict[str, Any]:
    made = api(
        server,
        "alice",
        "POST",
        "/api-clients",
        json={"name": name, "endpoints": ["double"], **limits},
    )
    assert made.status_code == 201, made.text
    return made.json()


def jobs_of_double(server: str) -> int:
    found = api(server, "alice", "GET", "/jobs", params={"recipe": "bots/double", "limit": 1000})
    return len(found.json()["jobs"])


def test_a_client_past_its_quota_gets_429_on_every_server_of_the_machine(
    server: str, ws: Path
) -> None:
    bot = make_client(server, "daily-bot", rate_per_minute=60, quota_per_day=2)
    assert bot["quota_per_day"] == 2
    answers = [call(server, bot["token"], "double", {"n": n}) for n in (1, 2)]
    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"double": 2}),
        (200, {"double": 4}),
    ]
    jobs = jobs_of_double(server)
    refused = call(server, bot["token"], "double", {"n": 3})
    error = assert_error(refused, 429, "quota_per_day")
    assert error["code"] == "QuotaExceeded"
    assert "daily-bot" in error["message"] and "2 calls per day" in error["message"]
    assert "admin" in error["fix"] and "wait" in error["fix"]
    # The first call leaves the last 24 hours a day after it was made: then a call is free.
    waited = int(refused.headers["Retry-After"])
    assert DAY - 120 < waited <= DAY and f"{waited} s" in error["fix"]
    assert jobs_of_double(server) == jobs  # nothing queued
    with serving(ws, name="second") as second:  # another server process of the machine
        again = call(second.url, bot["token"], "double", {"n": 3})
        assert assert_error(again, 429, "quota_per_day")["code"] == "QuotaExceeded"
    listed = api(server, "alice", "GET", "/api-clients").json()["api_clients"]
    assert {c["name"]: c["quota_per_day"] for c in listed}["daily-bot"] == 2


def test_clients_have_no_quota_unless_given_one(server: str) -> None:
    """The default: existing clients and new ones without a quota call as before."""
    free = make_client(server, "free-bot", rate_per_minute=60)
    assert free["quota_per_day"] is None
    answers = [call(server, free["token"], "double", {"bad": True}) for _ in range(4)]
    assert [a.status_code for a in answers] == [400] * 4
    # A quota below the rate's per-minute count is a client's whole day, taken at once.
    low = make_client(server, "low-bot", rate_per_minute=60, quota_per_day=1)
    first, second = (call(server, low["token"], "double", {"bad": True}) for _ in range(2))
    assert first.status_code == 400 and assert_error(second, 429, "quota_per_day")


def test_a_client_with_a_quota_is_still_held_to_its_rate(server: str) -> None:
    tight = make_client(server, "tight-bot", rate_per_minute=1, quota_per_day=5)
    first, second = (call(server, tight["token"], "double", {"bad": True}) for _ in range(2))
    assert first.status_code == 400
    error = assert_error(second, 429, "rate_per_minute")
    assert error["code"] == "TooManyRequests" and int(second.headers["Retry-After"]) <= 60
    # A client cannot be changed: a faster one is a new client, as for a larger quota.
    waited = second.headers["Retry-After"]
    assert error["fix"] == (
        f"retry after {waited} s, or ask an admin for a new API client with a larger "
        "rate_per_minute"
    ), error


@pytest.mark.parametrize("quota", [0, -5, "lots", 1.5, True, 100_001])
def test_a_bad_quota_is_refused_over_rest_naming_it(server: str, quota: Any) -> None:
    body = {"name": "bad-quota", "endpoints": ["double"], "quota_per_day": quota}
    error = assert_error(api(server, "alice", "POST", "/api-clients", json=body), 400)
    assert error["field"] == "quota_per_day" and "quota_per_day" in error["fix"], error
    listed = api(server, "alice", "GET", "/api-clients").json()["api_clients"]
    assert "bad-quota" not in {c["name"] for c in listed}


def test_the_openapi_document_describes_the_quota(server: str) -> None:
    schemas = api(server, "alice", "GET", "/openapi.json").json()["paths"]["/api-clients"]
    body = schemas["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["quota_per_day"]["maximum"] == 100_000
    listed = json.dumps(schemas["get"]["responses"]["200"])
    assert "quota_per_day" in listed


def test_the_cli_sets_and_lists_a_quota_and_refuses_a_bad_one(ws: Path) -> None:
    runner = CliRunner()

    def admin(*args: str) -> Any:
        return runner.invoke(main, [*args, "-w", str(ws)], env={"LPSTUDIO_USER": "alice"})

    made = admin("api-clients", "create", "cli-bot", "--endpoint", "double", "--quota", "500/day")
    assert made.exit_code == 0, made.output
    plain = admin("api-clients", "create", "cli-plain", "--endpoint", "double", "--json")
    assert json.loads(plain.stdout)["quota_per_day"] is None
    listed = {c["name"]: c for c in json.loads(admin("api-clients", "list", "--json").stdout)}
    assert (
        listed["cli-bot"]["quota_per_day"] == 500 and listed["cli-plain"]["quota_per_day"] is None
    )
    shown = {  # a line each, not JSON
        line.split()[0]: line.split()[1:4]
        for line in admin("api-clients", "list").output.splitlines()
    }
    assert shown["cli-bot"] == ["double", "60/min", "500/day"]
    assert shown["cli-plain"] == ["double", "60/min", "no"]
    for quota in ("0", "0/day", "-3/day", "lots", "10/month", "10/hour", "100001/day"):
        bad = admin(
            "api-clients", "create", "x", "--endpoint", "double", "--quota", quota, "--json"
        )
        assert bad.exit_code == 2, (quota, bad.output)
        error = json.loads(bad.stdout)["error"]
        assert error["field"] == "--quota" and "--quota" in error["fix"], (quota, error)
    names = {c["name"] for c in json.loads(admin("api-clients", "list", "--json").stdout)}
    assert "x" not in names


def clients_gain_quotas(store: Store) -> None:
    """A store at 0012 with an API client: upgraded, the client has no quota and the schema
    is the models'; a downgrade drops the column and keeps the client."""
    migrate_to(store, "0012")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_clients (name, token_sha256, endpoints, rate_per_minute, "
                "revoked, created_at, created_by) VALUES ('old-bot', :sha, '[\"*\"]', 60, "
                ":no, :at, 'alice')"
            ),
            {"sha": "0" * 64, "no": False, "at": lpstudio.models.utcnow()},
        )
    store.migrate()
    assert store.schema_revision() == SCHEMA_HEAD
    with store.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn), lpstudio.models.Base.metadata) == []
        )
    with store.read() as s:
        old = s.get(lpstudio.models.ApiClient, "old-bot")
        assert old is not None and old.quota_per_day is None and old.rate_per_minute == 60
    migrate_to(store, "0012", down=True)
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("api_clients")}
        assert "quota_per_day" not in columns and "rate_per_minute" in columns
        assert conn.execute(text("SELECT name FROM api_clients")).scalars().all() == ["old-bot"]


def test_existing_clients_upgrade_to_no_quota_on_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        clients_gain_quotas(store)
    finally:
        store.close()


def test_existing_clients_upgrade_to_no_quota_on_postgresql() -> None:
    with postgres_server() as url:
        store = Store(create_database(url, "api_client_quota"), create=True)
        try:
            clients_gain_quotas(store)
        finally:
            store.close()


def test_a_call_naming_its_client_twice_is_refused_naming_the_header(server: str) -> None:
    """A valid token sent twice was "missing, unknown or revoked" (read as `t,t`), and one
    in each header ran as the first client."""
    bot = make_client(server, "twice-bot")
    twice = [("API-TOKEN", bot["token"]), ("API-TOKEN", bot["token"])]
    answer = httpx.post(f"{server}{API}/call/double", json={"n": 1}, headers=twice, timeout=30)
    error = assert_error(answer, 400, "API-TOKEN")
    assert error["message"] == "API-TOKEN is sent 2 times", error
    both = {"API-TOKEN": bot["token"], "Authorization": f"Bearer {bot['token']}"}
    answer = httpx.post(f"{server}{API}/call/double", json={"n": 1}, headers=both, timeout=30)
    error = assert_error(answer, 400, "API-TOKEN")
    assert error["fix"].startswith("send the API client's token once"), error
    assert call(server, bot["token"], "double", {"n": 2}).json() == {"double": 4}


def test_a_client_refused_an_endpoint_is_told_to_ask_for_a_new_client(server: str) -> None:
    """It was told "an admin allows the endpoint for this client", which no admin can do:
    a client cannot be changed once made, as for a larger quota. A path no recipe serves (a
    typo) was refused 403 with that fix, which the admin's POST refuses: it is the same 404
    as a served one, so that the client learns nothing of the endpoints it may not call."""
    bot = make_client(server, "double-only-bot")
    for path in ("triple", "doubel"):
        error = assert_error(call(server, bot["token"], path, {"n": 1}), 404, "path")
        said = f"API client double-only-bot has no endpoint {quoted(path)}"
        assert error["message"] == said, error
        assert error["fix"] == (
            "check the path (this client may call double); to call another endpoint, ask an "
            f"admin for a new API client that may call it (POST {API}/api-clients with it "
            "among its endpoints), then revoke this one"
        ), error


def test_a_whole_rate_and_quota_given_as_floats_are_taken_as_json_schema_has_them(
    server: str,
) -> None:
    """{"rate_per_minute": 10.0} was refused ("must be a whole number ..., not 10.0"),
    though the OpenAPI document types it integer, which JSON Schema counts 10.0 as; and the
    quota's fix said "none (the default)" where REST's word is null."""
    made = api(
        server,
        "alice",
        "POST",
        "/api-clients",
        json={
            "name": "float-bot",
            "endpoints": ["double"],
            "rate_per_minute": 10.0,
            "quota_per_day": 5e3,
        },
    )
    assert made.status_code == 201, made.text
    shown = made.json()
    assert (shown["rate_per_minute"], shown["quota_per_day"]) == (10, 5000), shown
    assert isinstance(shown["rate_per_minute"], int), shown  # JSON's 10, not 10.0
    listed = api(server, "alice", "GET", "/api-clients").json()["api_clients"]
    row = next(c for c in listed if c["name"] == "float-bot")
    assert isinstance(row["quota_per_day"], int) and row["rate_per_minute"] == 10, row
    for quota in (0, 10.5, "5000"):
        body = {"name": "floaty", "endpoints": ["double"], "quota_per_day": quota}
        error = assert_error(api(server, "alice", "POST", "/api-clients", json=body), 400)
        assert error["field"] == "quota_per_day" and "null" in error["fix"], error
        assert "none" not in error["fix"], error


def test_a_refused_token_is_told_by_the_header_it_came_in_and_alike_on_every_route(
    server: str,
) -> None:
    """A token sent as `Authorization: Bearer` was refused naming API-TOKEN, and the OpenAPI
    document refused it in other words ("unknown or revoked API token", fix "send a live API
    client token, or log in to Jupyter") than a call ("missing, unknown or revoked")."""
    revoked = make_client(server, "gone-bot")["token"]
    assert api(server, "alice", "DELETE", "/api-clients/gone-bot").status_code == 200
    for token in (revoked, "lps_" + "x" * 40):
        for headers, field in (
            ({"API-TOKEN": token}, "API-TOKEN"),
            ({"Authorization": f"Bearer {token}"}, "Authorization"),
        ):
            called = api(server, None, "POST", "/call/double", json={"n": 1}, headers=headers)
            read = api(server, None, "GET", "/openapi.json", headers=headers)
            refused = [assert_error(answer, 401, field) for answer in (called, read)]
            assert refused[0] == refused[1], refused
            assert refused[0]["message"] == "missing, unknown or revoked API token", refused
            assert refused[0]["fix"] == (
                "send a live API client's token in API-TOKEN or Authorization: Bearer"
            ), refused


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/jobs"), ("GET", "/audit"), ("POST", "/recipes/bots/double.ipynb/run")],
)
def test_a_client_s_token_on_a_user_s_route_is_refused_not_sent_for_the_server_s(
    server: str, method: str, path: str
) -> None:
    """It was answered 401 with fix "send `Authorization: token <jupyter server token>`":
    a bot's engineer was told to give the bot the server's token, a user's every right."""
    token = make_client(server, f"nosy-bot-{method.lower()}-{len(path)}")["token"]
    for headers, field in (
        ({"API-TOKEN": token}, "API-TOKEN"),
        ({"Authorization": f"Bearer {token}"}, "Authorization"),
    ):
        answer = api(server, None, method, path, headers=headers)
        error = assert_error(answer, 403, field)
        assert error["code"] == "Forbidden" and f"{API}/call/<path>" in error["message"], error
        assert error["fix"] == (
            f"call a callable recipe at POST {API}/call/ENDPOINT; the other routes need a "
            "user of the workspace"
        ), error
        assert "server's token" not in answer.text and "token <" not in answer.text, error
    # A Bearer value no client's token is shaped as may be the server's, mistyped: asked
    # for a login, as a request with no token is.
    mistyped = api(server, None, method, path, headers={"Authorization": "Bearer nope"})
    assert assert_error(mistyped, 401, "Authorization")["code"] == "Unauthenticated"
    assert mistyped.headers["WWW-Authenticate"] == "token"
