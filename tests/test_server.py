"""The REST API, through a real Jupyter server process on 127.0.0.1 (`lpstudio.server.serve`).

Several users come from `tests.servers.HeaderIdentityProvider`: the server trusts `X-Test-User`, so
one server serves the admin, the analyst and the operator. API clients use their own tokens.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import openapi_spec_validator
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jupyter_server.auth.identity import IdentityProvider, User
from sqlalchemy import select, update

from lpstudio import strictjson
from lpstudio.errors import ConflictError
from lpstudio.idempotency import CLAIM_LEASE
from lpstudio.jsonschemas import first_problem
from lpstudio.models import ApiClient, IdempotentCall, Job, utcnow
from lpstudio.server.routes import CLIENT, OPEN, ROUTES, USER
from lpstudio.studio import Studio
from tests.conftest import LPSTUDIO, wait_for, write_recipe
from tests.servers import API, JUPYTER_TOKEN, HeaderIdentityProvider, serving

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cr3t-Value-9f8e7d"
HOOK_SECRET = "hook-shared-secret-42"
OPTIN = {"consumer_id": "cb-1001", "phone": "+14155550142", "channel": "sms", "opt_in": True}


# -- the workspace and the server ------------------------------------------------------------


def _callable(root: Path, name: str, path: str, body: str) -> None:
    write_recipe(
        root,
        name,
        parameters="pause: float = 0  # seconds",
        cells=("import time\nimport lpstudio.kernel as lp", body),
        metadata={
            "title": name,
            "trigger": {
                "kind": "callable",
                "path": path,
                "input_schema": {
                    "type": "object",
                    "required": ["n"],
                    "properties": {"n": {"type": "integer"}},
                },
                "response_schema": {
                    "type": "object",
                    "required": ["double"],
                    "properties": {"double": {"type": "integer"}},
                },
            },
        },
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    from lpstudio.sandbox import Sandbox

    with Sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> Path:
    """alice (admin), ana (analyst), otto (operator); the opt-in template started; a plain
    recipe; slow and failing callables; a webhook recipe, a signed one and the new-lead
    template; API clients."""
    root = tmp_path_factory.mktemp("server") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url) as studio:
        studio.store.ensure_user("ana", "analyst")
        studio.store.ensure_user("otto", "operator")
        studio.try_template("cb_optin", "bots")
        studio.connections.add("optins", "csv_file", {"path": "data/optins.csv"}, "alice")
        studio.connections.add("http", "http", {"token": HOOK_SECRET}, "alice")
        studio.start("bots/cb_optin.ipynb")
        write_recipe(root, "lab/double", cells=("y = x * 2", "import time; time.sleep(0.5)"))
        _callable(root, "bots/slow", "slow", "time.sleep(3)\nlp.respond({'double': 2})")
        # Its error names its folder: a caller is told it by its path in the workspace.
        boom = "import os\nraise ValueError('boom in ' + os.getcwd())"
        _callable(root, "bots/boom", "boom", boom)
        _callable(root, "bots/offschema", "off", "lp.respond({'double': 'two'})")
        _callable(root, "bots/stopped", "stopped", "lp.respond({'double': 0})")
        for name in ("bots/slow", "bots/boom", "bots/offschema"):
            studio.start(f"{name}.ipynb")
        studio.save_settings("bots/slow.ipynb", call_timeout=1)
        write_recipe(root, "hooks/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
        studio.try_template("new_lead", "hooks")  # signed: its http slot takes the token
        write_recipe(
            root,
            "hooks/signed",
            metadata={
                "title": "Signed",
                "trigger": {"kind": "webhook", "connection": "http", "trigger": "webhook"},
                "connections": {"http": {"type": "http"}},
            },
        )
    return root


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[str]:
    """`serve()` in its own process, with test identities; the base URL once it answers."""
    with serving(ws) as served:
        yield served.url


@pytest.fixture(scope="module")
def tokens(server: str) -> dict[str, str]:
    """API clients, created through the API by the admin: their tokens."""
    made = {}
    for name, endpoints, rate in (
        ("cb", ["optin"], 60),
        ("all", ["*"], 1000),
        ("tight", ["*"], 2),
        ("fuzz", ["*"], 100000),
    ):
        answer = api(
            server,
            "alice",
            "POST",
            "/api-clients",
            json={"name": name, "endpoints": endpoints, "rate_per_minute": rate},
        )
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["token"]
    return made


def api(
    url: str, user: str | None, method: str, path: str, timeout: float = 30, **kwargs: Any
) -> httpx.Response:
    headers = {"X-Test-User": user} if user else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.request(method, f"{url}{API}{path}", headers=headers, timeout=timeout, **kwargs)


def call(url: str, token: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    headers = {"API-TOKEN": token, **kwargs.pop("headers", {})}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{url}{API}/call/{path}", content=content, headers=headers, timeout=30, **kwargs
    )


def wait_job(url: str, job_id: int) -> dict[str, Any]:
    def final() -> Any:
        job = api(url, "alice", "GET", f"/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(final, timeout=120, what=f"job {job_id}")


def assert_error(answer: httpx.Response, status: int, field: str | None = "?") -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["error"]
    assert {"code", "message", "field"} <= set(error)
    assert "Traceback" not in answer.text
    if field != "?":
        assert error["field"] == field, error
    return error


def state(ws: Path) -> dict[str, Any]:
    """Everything a request could change: the store's rows and the recipes' files."""
    from lpstudio.models import RecipeSettings

    with Studio.open(ws, user="alice") as studio:
        with studio.store.read() as s:
            settings_rows = {r.recipe: r.settings for r in s.query(RecipeSettings).all()}
            clients = {c.name: (c.revoked, c.endpoints) for c in s.query(ApiClient).all()}
        return {
            "settings": settings_rows,
            "connections": [c.to_dict() for c in studio.connections.list()],
            "users": studio.users(),
            "clients": clients,
            "audit": len(studio.audit_entries(10_000)),
            # A job made, or one cancelled; not the end of one an earlier test started.
            "jobs": [(j.id, j.status == "cancelled") for j in studio.jobs(limit=10_000)],
            "files": sorted(
                (str(p.relative_to(ws)), p.stat().st_mtime_ns) for p in (ws / "projects").rglob("*")
            ),
        }


def unanswered_claim(
    ws: Path, client: str, key: str, endpoint: str, sha256: str, age: timedelta
) -> None:
    """What a request leaves when its process dies after claiming its key and before queueing
    anything: a claim with neither job nor answer, made `age` ago."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        s.add(
            IdempotentCall(
                client=client,
                key=key,
                endpoint=endpoint,
                request_sha256=sha256,
                created_at=utcnow() - age,
            )
        )


#: The routes bots and other systems POST to: callable recipes' calls and webhooks.
BOT_POSTS = [r for r in ROUTES if r.auth in (CLIENT, OPEN) and "POST" in r.operations]


def age_claim(ws: Path, age: timedelta, *which: Any) -> None:
    """Makes the claims `which` selects `age` old, as if their requests had stalled (or had
    come) that long ago."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        s.execute(update(IdempotentCall).where(*which).values(created_at=utcnow() - age))


def of_key(client: str, key: str) -> tuple[Any, ...]:
    """The claim of (client, key), for `age_claim`."""
    return IdempotentCall.client == client, IdempotentCall.key == key


def claim_of(ws: Path, client: str, key: str) -> IdempotentCall:
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        return s.scalars(
            select(IdempotentCall).where(IdempotentCall.client == client, IdempotentCall.key == key)
        ).one()


def events_queued(server: str, recipe: str) -> list[Any]:
    """The events of the recipe's jobs, oldest first (each job's own: a list leaves it out)."""
    found = api(server, "alice", "GET", "/jobs", params={"recipe": recipe, "limit": 1000})
    jobs = reversed(found.json()["jobs"])
    return [api(server, "alice", "GET", f"/jobs/{j['id']}").json()["event"] for j in jobs]


#: Longer than a claim's lease: the request that made such a claim is dead.
PAST_LEASE = CLAIM_LEASE + timedelta(seconds=5)


# -- the extension itself -------------------------------------------------------------------


def test_jupyter_config_enables_the_extension_and_serve_runs_only_it() -> None:
    import importlib

    from lpstudio.server.app import LpstudioApp

    config = json.loads((REPO / "jupyter-config/jupyter_server_config.d/lpstudio.json").read_text())
    (module,) = [m for m, on in config["ServerApp"]["jpserver_extensions"].items() if on]
    points = importlib.import_module(module)._jupyter_server_extension_points()
    assert points == [{"module": "lpstudio.server.app", "app": LpstudioApp}]
    assert LpstudioApp.get_extension_package() == module
    assert LpstudioApp.load_other_extensions is False


def test_serve_takes_jupyter_options_and_names_one_it_does_not_know(tmp_path: Path) -> None:
    # Every server of these tests runs `lpstudio serve` with Jupyter options (tests.servers).
    bad = subprocess.run(
        [LPSTUDIO, "serve", "--workspace", str(tmp_path), "--LpstudioApp.scheduler=False", "-x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "unknown option '-x'" in bad.stderr and "--Class.trait=value" in bad.stderr


def test_jupyter_anonymous_users_act_as_the_server_owner() -> None:
    from jupyter_server.auth.identity import PasswordIdentityProvider

    from lpstudio.server.app import LpstudioApp

    app = LpstudioApp(anonymous_user="owner")
    someone = User(username="4f2a9c0e", name="Anonymous Io")
    assert app.user_name(someone, IdentityProvider()) == "owner"
    assert app.user_name(someone, PasswordIdentityProvider()) == "owner"
    assert app.user_name(User(username="ada"), HeaderIdentityProvider()) == "ada"


# -- user routes -----------------------------------------------------------------------------


def test_recipes_gallery_connectors_dashboard_and_openapi_answer(
    server: str, ws: Path, sandbox: Any
) -> None:
    recipes = api(server, "alice", "GET", "/recipes", params={"project": "bots"}).json()["recipes"]
    assert {r["recipe"] for r in recipes} >= {"bots/cb_optin.ipynb", "bots/slow.ipynb"}
    assert all(r["project"] == "bots" for r in recipes)

    detail = api(server, "otto", "GET", "/recipes/bots/cb_optin.ipynb").json()
    assert detail["state"] == "started"
    assert detail["trigger"]["kind"] == "callable" and detail["trigger"]["path"] == "optin"
    assert detail["parameters"]["properties"]["default_source"]["type"] == "string"
    assert detail["settings"]["connections"] == {"optins": "optins"}
    assert detail["automatic"] == []  # its start bound the connection named like the slot
    assert_error(api(server, "alice", "GET", "/recipes/bots/nothing.ipynb"), 404, "recipe")
    assert_error(api(server, "alice", "GET", "/recipes/..%2F..%2Fetc%2Fx.ipynb"), 400, "recipe")

    gallery = api(server, "ana", "GET", "/gallery").json()["templates"]
    assert "cb_optin" in {t["name"] for t in gallery}
    connectors = api(server, "ana", "GET", "/connectors").json()["connectors"]
    assert {"http", "csv_file", "liveperson_proactive"} <= {c["name"] for c in connectors}
    dashboard = api(server, "otto", "GET", "/dashboard", params={"days": 3}).json()
    assert {"jobs_per_day", "recipes", "connections", "proactive"} <= set(dashboard)
    assert_error(api(server, "otto", "GET", "/dashboard", params={"days": "x"}), 400, "days")

    options = api(server, "ana", "GET", "/connections/liveperson/picklists/handoffs")
    assert options.status_code == 200, options.text
    assert options.json()["options"] and {"value", "label"} <= set(options.json()["options"][0])
    assert_error(api(server, "ana", "GET", "/connections/liveperson/picklists/nope"), 400)
    assert_error(api(server, "ana", "GET", "/connections/ghost/picklists/skills"), 404)
    # The app failing is no fault of the caller's request: 502, with the fix (it was 400).
    fault = {"error_rate": 1.0, "error_status": 500, "scope": "liveperson"}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()
    try:
        failed = api(server, "ana", "GET", "/connections/liveperson/picklists/skills")
    finally:
        httpx.delete(f"{sandbox.url}/_sandbox/faults", timeout=10).raise_for_status()
    error = assert_error(failed, 502)
    assert error["code"] == "AppError" and error["fix"], error


def test_the_openapi_document_describes_every_route_and_the_started_callables(
    server: str,
) -> None:
    doc = api(server, "otto", "GET", "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    openapi_spec_validator.validate(doc)
    for route in ROUTES:
        assert set(doc["paths"][route.path]) == {m.lower() for m in route.operations}
    optin = doc["paths"]["/call/optin"]["post"]
    recipe = nbformat.read(REPO / "notebooks/templates/cb_optin.ipynb", as_version=4)
    trigger = recipe.metadata.lpstudio.trigger
    body = {k: v for k, v in trigger.input_schema.items() if k != "required"}
    assert optin["requestBody"]["content"]["application/json"]["schema"] == body
    assert (
        optin["responses"]["2XX"]["content"]["application/json"]["schema"]
        == trigger.response_schema
    )
    assert "/call/stopped" not in doc["paths"]  # not started
    output = doc["paths"]["/jobs/{job_id}/output.{kind}"]["get"]["responses"]["200"]
    assert set(output["content"]) == {"application/x-ipynb+json", "text/html"}
    ops = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ops) == len(set(ops))
    # A pick list the app behind the connection fails to give answers 502 (AppError).
    picklist = doc["paths"]["/connections/{name}/picklists/{picklist}"]["get"]["responses"]
    assert picklist["502"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_api_clients_read_the_openapi_document_of_what_they_may_call(
    server: str, tokens: dict[str, str]
) -> None:
    url = f"{server}{API}/openapi.json"
    for header in ({"API-TOKEN": tokens["cb"]}, {"Authorization": f"Bearer {tokens['cb']}"}):
        doc = httpx.get(url, headers=header, timeout=30).json()
        openapi_spec_validator.validate(doc)
        assert set(doc["paths"]) == {"/call/{path}", "/calls/{job_id}", "/call/optin"}
    everything = httpx.get(url, headers={"API-TOKEN": tokens["all"]}, timeout=30).json()
    assert "/call/slow" in everything["paths"] and "/recipes" not in everything["paths"]
    assert_error(httpx.get(url, headers={"API-TOKEN": "nope"}, timeout=30), 401, "API-TOKEN")
    anonymous = assert_error(httpx.get(url, timeout=30), 401)
    assert "API-TOKEN" in anonymous["fix"] and "Bearer" in anonymous["fix"], anonymous


def test_unauthenticated_requests_are_401(server: str) -> None:
    for method, path in (
        ("GET", "/recipes"),
        ("POST", "/recipes/lab/double.ipynb/run"),
        ("GET", "/users"),
    ):
        error = assert_error(api(server, None, method, path), 401)
        assert error["code"] == "Unauthenticated"
    assert (
        api(
            server, None, "GET", "/recipes", headers={"Authorization": f"token {JUPYTER_TOKEN}"}
        ).status_code
        == 200
    )


def test_a_browser_app_on_an_allowed_origin_passes_the_cors_preflight(
    ws: Path, tokens: dict[str, str]
) -> None:
    """Jupyter's `ServerApp.allow_origin` lets a browser app of that origin call the API: its
    preflight (OPTIONS, no credentials) gets Jupyter's CORS answer, and the answers of the
    requests it precedes, errors too, carry Access-Control-Allow-Origin. Another origin's
    preflight gets none (Jupyter's own echoes any origin that asks to send Authorization)."""
    app, other = "http://app.example", "http://elsewhere.example"
    with serving(ws, f"--ServerApp.allow_origin={app}", name="cors") as served:

        def preflight(origin: str, method: str, path: str) -> httpx.Response:
            ask = {
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            }
            return httpx.options(f"{served.url}{API}{path}", headers=ask, timeout=30)

        for method, path in (
            ("POST", "/recipes/lab/double.ipynb/run"),
            ("POST", "/call/optin"),
            ("GET", "/jobs"),
        ):
            allowed = preflight(app, method, path)
            assert allowed.status_code == 200, allowed.text
            assert allowed.headers["Access-Control-Allow-Origin"] == app
            assert method in allowed.headers["Access-Control-Allow-Methods"]
            assert {"authorization", "content-type"} <= {
                h.strip() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
            }
            refused = preflight(other, method, path)
            assert "Access-Control-Allow-Origin" not in refused.headers, refused.headers
            assert refused.status_code == 403

        sent = {"Origin": app, "API-TOKEN": tokens["all"]}
        bad = httpx.post(f"{served.url}{API}/call/optin", json={}, headers=sent, timeout=30)
        assert_error(bad, 400, "consumer_id")  # the browser app may read why
        assert bad.headers["Access-Control-Allow-Origin"] == app
        # ... and which job answered it, whether it was replayed: CORS hides every header
        # but the simple ones unless they are named.
        good = httpx.post(f"{served.url}{API}/call/optin", json=OPTIN, headers=sent, timeout=30)
        assert good.status_code == 200 and good.headers["Lpstudio-Job"], good.text
        exposed = {h.strip() for h in good.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"Lpstudio-Job", "Idempotent-Replayed", "Retry-After"} <= exposed
        me = served.api("otto", "GET", "/me", headers={"Origin": app})
        assert me.status_code == 200 and me.headers["Access-Control-Allow-Origin"] == app
        sent["Origin"] = other  # refused by Jupyter's origin check, before the token is read
        elsewhere = httpx.post(f"{served.url}{API}/call/optin", json={}, headers=sent, timeout=30)
        assert elsewhere.status_code == 403
        assert "Access-Control-Allow-Origin" not in elsewhere.headers
        # An OPTIONS that is no browser's preflight is a method the route does not take.
        for headers in ({}, {"Origin": app}):
            plain = httpx.options(f"{served.url}{API}/recipes", headers=headers, timeout=30)
            assert_error(plain, 405, "method")
            assert plain.headers["Allow"] == "GET"


def test_run_now_jobs_outputs_rerun_and_cancel(server: str, ws: Path) -> None:
    started = api(
        server, "ana", "POST", "/recipes/lab/double.ipynb/run", json={"parameters": {"x": 21}}
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["status"] in ("queued", "running") and job["parameters"] == {"x": 21}
    assert started.headers["Location"] == f"{API}/jobs/{job['id']}"
    done = wait_job(server, job["id"])
    assert done["status"] == "succeeded" and done["user"] == "ana"
    assert_error(
        api(
            server,
            "ana",
            "POST",
            "/recipes/lab/double.ipynb/run",
            json={"parameters": {"x": "many"}},
        ),
        400,
        "x",
    )

    notebook = api(server, "otto", "GET", f"/jobs/{job['id']}/output.ipynb")
    assert notebook.status_code == 200 and notebook.headers["Content-Type"].startswith(
        "application/x-ipynb+json"
    )
    nb = nbformat.reads(notebook.text, as_version=4)
    assert any("x = 21" in cell.source for cell in nb.cells)
    html = api(server, "otto", "GET", f"/jobs/{job['id']}/output.html")
    assert html.status_code == 200 and "<html" in html.text and "21" in html.text

    rerun = api(server, "otto", "POST", f"/jobs/{job['id']}/rerun")
    assert rerun.status_code == 202, rerun.text
    assert rerun.json()["rerun_of"] == job["id"] and rerun.json()["user"] == "otto"
    assert wait_job(server, rerun.json()["id"])["status"] == "succeeded"
    cancelled = api(server, "otto", "POST", f"/jobs/{job['id']}/cancel").json()
    assert (cancelled["status"], cancelled["cancel"]) == ("succeeded", "nothing")  # unaudited

    jobs = api(
        server, "otto", "GET", "/jobs", params={"recipe": "lab/double", "status": "succeeded"}
    ).json()
    ids = [j["id"] for j in jobs["jobs"]]
    assert ids[:2] == [rerun.json()["id"], job["id"]]
    page = api(
        server, "otto", "GET", "/jobs", params={"recipe": "lab/double", "limit": 1, "offset": 1}
    ).json()
    assert [j["id"] for j in page["jobs"]] == [job["id"]]
    assert api(server, "otto", "GET", "/jobs", params={"since": "2099-01-01"}).json()["jobs"] == []
    assert_error(api(server, "otto", "GET", "/jobs", params={"since": "yesterday"}), 400, "since")
    assert_error(api(server, "otto", "GET", "/jobs", params={"status": "done"}), 400, "status")
    assert_error(api(server, "otto", "GET", "/jobs/999999"), 404, "job")

    audit = api(server, "otto", "GET", "/audit", params={"limit": 50}).json()["entries"]
    actions = {(e["user"], e["action"], e["target"]) for e in audit}
    assert ("ana", "run", "lab/double.ipynb") in actions
    assert ("otto", "rerun", "lab/double.ipynb") in actions
    assert not [e for e in audit if e["action"] == "cancel" and e["detail"]["job"] == job["id"]]


def test_jobs_after_a_job_are_the_next_page_whatever_was_queued_since(server: str) -> None:
    """`before`: the page after the one shown, where an `offset` shifted by each new job."""

    def run() -> int:
        queued = api(server, "ana", "POST", "/recipes/lab/double.ipynb/run", json={})
        assert queued.status_code == 202, queued.text
        return int(queued.json()["id"])

    ids = [run() for _ in range(3)]
    newest = api(server, "alice", "GET", "/jobs", params={"limit": 3}).json()["jobs"]
    ids.append(run())
    after = api(server, "alice", "GET", "/jobs", params={"limit": 2, "before": newest[0]["id"]})
    assert [j["id"] for j in after.json()["jobs"]] == [j["id"] for j in newest[1:]]
    missing = api(server, "alice", "GET", "/jobs", params={"before": 2**62})
    assert "without before" in assert_error(missing, 404, "before")["fix"]
    assert_error(api(server, "alice", "GET", "/jobs", params={"before": 0}), 400, "before")
    for job_id in ids:
        wait_job(server, job_id)


def test_settings_versions_restore_start_and_stop(server: str) -> None:
    saved = api(
        server, "ana", "PUT", "/recipes/lab/double.ipynb/settings", json={"parameters": {"x": 5}}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["parameters"] == {"x": 5}

    def put(body: dict[str, Any]) -> httpx.Response:
        return api(server, "ana", "PUT", "/recipes/lab/double.ipynb/settings", json=body)

    assert_error(put({"parameters": {"x": "five"}}), 400, "x")
    # A saved value is forgotten by name (back to the notebook's default), not by sending
    # an empty one; a name that is no parameter, or is also given, is refused.
    assert_error(put({"reset": ["y"]}), 400, "reset")
    assert_error(put({"parameters": {"x": 6}, "reset": ["x"]}), 400, "reset")
    forgot = put({"reset": ["x"]})
    assert forgot.status_code == 200 and forgot.json()["settings"]["parameters"] == {}
    # Failure contacts: checked before anything is saved, shown without a webhook's token.
    assert_error(put({"parameters": {"x": 7}, "notify": {"email": "nobody"}}), 400, "notify.email")
    hook = "https://hooks.example.com/T0/B0/t0ken"
    contacts = put({"parameters": {"x": 5}, "notify": {"webhook": hook}})
    assert contacts.status_code == 200, contacts.text
    assert contacts.json()["settings"]["parameters"] == {"x": 5}  # never 7
    assert contacts.json()["settings"]["notify"] == {"webhook": "https://hooks.example.com/****"}
    assert "t0ken" not in api(server, "otto", "GET", "/recipes/lab/double.ipynb").text
    cleared = put({"notify": {"webhook": None}})
    assert "notify" not in cleared.json()["settings"], cleared.text
    versions = api(server, "otto", "GET", "/recipes/lab/double.ipynb/versions").json()["versions"]
    assert versions and all({"id", "created_at", "created_by"} <= set(v) for v in versions)
    first = versions[-1]
    restored = api(
        server,
        "ana",
        "POST",
        "/recipes/lab/double.ipynb/restore",
        json={"version": first["id"][:12]},
    )
    assert restored.status_code == 200 and restored.json()["id"] == first["id"]
    assert_error(
        api(
            server, "ana", "POST", "/recipes/lab/double.ipynb/restore", json={"version": "ffffffff"}
        ),
        400,
        "version",
    )

    started = api(server, "otto", "POST", "/recipes/lab/double.ipynb/start")
    assert started.status_code == 200 and started.json()["state"] == "started"
    stopped = api(server, "otto", "POST", "/recipes/lab/double.ipynb/stop")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    audit = api(server, "alice", "GET", "/audit").json()["entries"]
    mine = [(e["user"], e["action"]) for e in audit if e["target"] == "lab/double.ipynb"]
    assert {("ana", "settings"), ("ana", "restore"), ("otto", "start"), ("otto", "stop")} <= set(
        mine
    )


def test_a_settings_save_made_on_an_old_revision_is_refused_with_409(server: str, ws: Path) -> None:
    """Two people editing one recipe: the later save, made on the settings both were shown,
    is refused rather than written over the earlier one, and says how to go on."""

    def put(body: dict[str, Any]) -> httpx.Response:
        return api(server, "ana", "PUT", "/recipes/lab/double.ipynb/settings", json=body)

    shown = api(server, "otto", "GET", "/recipes/lab/double.ipynb").json()["revision"]
    first = put({"parameters": {"x": 3}, "revision": shown})
    assert first.status_code == 200, first.text
    assert first.json()["revision"] == shown + 1
    before = state(ws)
    stale = put({"parameters": {"x": 4}, "revision": shown})
    error = assert_error(stale, 409, "revision")
    assert error["code"] == "ConflictError", error
    assert f"changed elsewhere since revision {shown} by ana" in error["message"], error
    assert error["fix"] == "reload them and apply your change again"
    assert "Retry-After" not in stale.headers  # the same request is refused again
    assert state(ws) == before
    assert_error(put({"parameters": {"x": 4}, "revision": "1"}), 400, "revision")
    again = put({"parameters": {"x": 4}, "revision": shown + 1})
    assert again.status_code == 200, again.text
    assert again.json()["settings"]["parameters"] == {"x": 4}


def test_a_settings_save_that_changes_nothing_keeps_the_revision(server: str) -> None:
    """A save of no change (`{}`, the values already saved) counted the revision up and
    wrote an audit entry `changed: []`: another client holding the revision before it was
    refused 409 for a change nobody made."""

    def put(body: dict[str, Any]) -> httpx.Response:
        return api(server, "ana", "PUT", "/recipes/lab/double.ipynb/settings", json=body)

    def audited() -> list[dict[str, Any]]:
        entries = api(server, "alice", "GET", "/audit", params={"limit": 500}).json()["entries"]
        return [
            e for e in entries if (e["action"], e["target"]) == ("settings", "lab/double.ipynb")
        ]

    shown = api(server, "otto", "GET", "/recipes/lab/double.ipynb").json()
    before = audited()
    for body in ({}, {"parameters": {}}, {"parameters": shown["settings"]["parameters"]}):
        saved = put({**body, "revision": shown["revision"]} if body else body)
        assert saved.status_code == 200, (body, saved.text)
        assert saved.json()["revision"] == shown["revision"], (body, saved.text)
        assert saved.json()["settings"] == shown["settings"] and saved.json()["warnings"] == []
    assert audited() == before
    x = shown["settings"]["parameters"].get("x", 1) + 1
    changed = put({"parameters": {"x": x}, "revision": shown["revision"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["revision"] == shown["revision"] + 1
    after = audited()  # newest first
    assert [e["detail"] for e in after[: len(after) - len(before)]] == [
        {"changed": ["parameters"], "parameters": ["x"], "revision": shown["revision"] + 1}
    ]


def test_connections_never_show_secrets(server: str) -> None:
    made = api(
        server,
        "ana",
        "POST",
        "/connections",
        json={
            "name": "crm",
            "type": "http",
            "fields": {"auth_type": "bearer", "token": SECRET, "base_url": "http://127.0.0.1:9"},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["fields"]["token"] == "****"
    texts = [made.text]
    texts.append(api(server, "otto", "GET", "/connections").text)
    texts.append(api(server, "otto", "GET", "/connections/crm").text)
    updated = api(
        server, "ana", "PUT", "/connections/crm", json={"fields": {"token": SECRET + "2"}}
    )
    assert updated.status_code == 200 and updated.json()["status"] == "untested"
    texts.append(updated.text)
    tested = api(server, "ana", "POST", "/connections/crm/test")
    assert tested.status_code == 200 and tested.json()["status"] in ("connected", "disconnected")
    texts.append(tested.text)
    assert_error(
        api(
            server,
            "ana",
            "POST",
            "/connections",
            json={"name": "bad", "type": "http", "fields": {"token": 5, "retries": "x"}},
        ),
        400,
    )
    texts.append(api(server, "alice", "GET", "/audit").text)
    assert_error(
        api(server, "ana", "POST", "/connections", json={"name": "crm", "type": "http"}),
        400,
        "name",
    )
    # A type lpstudio lacks is the request's mistake (400), named as the CLI names it.
    assert_error(
        api(server, "ana", "POST", "/connections", json={"name": "x1", "type": "nope"}), 400, "type"
    )
    # A field the body's schema refuses is fixed in the field's terms, not by the document.
    for path, body, field, fix in (
        ("/connections", {"name": "", "type": "http"}, "name", "lower-case ASCII letters a-z"),
        ("/gallery/try", {"template": "new_lead", "project": ""}, "project", "project folder"),
    ):
        error = assert_error(api(server, "ana", "POST", path, json=body), 400, field)
        assert fix in error["fix"] and "openapi" not in error["fix"], error
    deleted = api(server, "ana", "DELETE", "/connections/crm")
    assert deleted.status_code == 200 and deleted.json() == {"removed": "crm"}
    assert_error(api(server, "ana", "DELETE", "/connections/crm"), 404)
    for text in texts:
        assert SECRET not in text and HOOK_SECRET not in text
    assert HOOK_SECRET not in api(server, "otto", "GET", "/connections").text


def test_a_user_named_as_an_api_client_or_a_process_is_refused(server: str) -> None:
    """`api:NAME` and `lpstudio:server` are the identities of API clients and of lpstudio's
    processes: a Jupyter user so named (an identity provider that allows ':') shared their
    studio, and read a client's calls as its own."""
    for name in ("api:cb", "lpstudio:server", "x:y"):
        for method, path in (("GET", "/me"), ("GET", "/jobs"), ("GET", "/recipes")):
            error = assert_error(api(server, name, method, path), 403, "user")
            assert "':'" in error["message"] and "without ':'" in error["fix"], error


def test_each_role_is_refused_what_it_may_not_do_and_nothing_changes(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    # A job of its own: tests of this module may run on other workers, in any order.
    started = api(server, "alice", "POST", "/recipes/lab/double.ipynb/run", json={})
    assert started.status_code == 202, started.text
    job = started.json()["id"]
    wait_job(server, job)
    writes = {
        "build": [
            ("PUT", "/recipes/lab/double.ipynb/settings", {"parameters": {"x": 9}}),
            ("POST", "/recipes/lab/double.ipynb/restore", {"version": "abcdef"}),
            ("POST", "/recipes/lab/double.ipynb/run", {}),
            # Starting is an operator's; moving a poll trigger's cursor edits the recipe.
            ("POST", "/recipes/lab/double.ipynb/start", {"reset_since": "2h"}),
            ("POST", "/gallery/try", {"template": "cb_optin", "project": "other"}),
            ("POST", "/connections", {"name": "new1", "type": "http"}),
            ("PUT", "/connections/optins", {"fields": {"path": "data/other.csv"}}),
            ("POST", "/connections/optins/test", {}),
            ("DELETE", "/connections/optins", None),
        ],
        "admin": [
            ("GET", "/users", None),
            ("PUT", "/users/ana/role", {"role": "admin"}),
            ("GET", "/api-clients", None),
            ("POST", "/api-clients", {"name": "sneaky", "endpoints": ["*"]}),
            ("DELETE", "/api-clients/cb", None),
        ],
    }
    before = state(ws)
    for user, refused in (("otto", ["build", "admin"]), ("ana", ["admin"])):
        for group in refused:
            for method, path, body in writes[group]:
                answer = api(server, user, method, path, json=body)
                error = assert_error(answer, 403, "role")
                assert error["code"] == "Forbidden", (user, path)
    assert state(ws) == before
    # ...while what each may do still works (and the operator's is audited).
    assert api(server, "otto", "POST", f"/jobs/{job}/cancel").status_code == 200
    assert api(server, "ana", "GET", "/connections").status_code == 200


def test_admins_manage_users_and_roles(server: str) -> None:
    users = {u["name"]: u["role"] for u in api(server, "alice", "GET", "/users").json()["users"]}
    assert users["alice"] == "admin" and users["ana"] == "analyst" and users["otto"] == "operator"
    api(server, "newcomer", "GET", "/recipes")  # created on first sight with the default role
    users = {u["name"]: u["role"] for u in api(server, "alice", "GET", "/users").json()["users"]}
    assert users["newcomer"] == "analyst"
    assert not [name for name in users if ":" in name]  # API clients and processes are no people
    for user, role, build, admin in (
        ("alice", "admin", True, True),
        ("otto", "operator", False, False),
    ):
        me = api(server, user, "GET", "/me").json()
        assert (me["name"], me["role"]) == (user, role)
        assert (me["can"]["view"], me["can"]["build"], me["can"]["admin"]) == (True, build, admin)
    changed = api(server, "alice", "PUT", "/users/newcomer/role", json={"role": "operator"})
    assert changed.status_code == 200
    assert changed.json() == {"name": "newcomer", "role": "operator", "created": False}
    assert_error(api(server, "newcomer", "POST", "/recipes/lab/double.ipynb/run"), 403, "role")
    assert_error(
        api(server, "alice", "PUT", "/users/newcomer/role", json={"role": "boss"}), 400, "role"
    )
    # Someone not seen yet is given a role before their first visit (they came in as
    # analysts, free to build, until an admin noticed them).
    ahead = api(server, "alice", "PUT", "/users/olga/role", json={"role": "operator"})
    assert ahead.status_code == 200 and ahead.json()["created"] is True, ahead.text
    assert api(server, "olga", "GET", "/me").json()["role"] == "operator"
    assert_error(api(server, "olga", "POST", "/recipes/lab/double.ipynb/run"), 403, "role")
    for bad in ("api:bot", "two words"):
        assert_error(
            api(server, "alice", "PUT", f"/users/{bad}/role", json={"role": "admin"}), 400, "name"
        )
    assert_error(
        api(server, "alice", "PUT", "/users/alice/role", json={"role": "analyst"}), 400, "role"
    )
    audit = api(server, "alice", "GET", "/audit").json()["entries"]
    assert any(e["action"] == "set_role" and e["target"] == "newcomer" for e in audit)


def test_api_client_tokens_are_shown_once_and_stored_hashed(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    listed = api(server, "alice", "GET", "/api-clients").json()["api_clients"]
    assert {"cb", "all"} <= {c["name"] for c in listed}
    assert all("token" not in c for c in listed)
    assert tokens["cb"] not in api(server, "alice", "GET", "/api-clients").text
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        row = s.get(ApiClient, "cb")
        assert (
            row is not None
            and row.token_sha256 == hashlib.sha256(tokens["cb"].encode()).hexdigest()
        )
    made = api(
        server, "alice", "POST", "/api-clients", json={"name": "temp", "endpoints": ["optin"]}
    )
    temp = made.json()["token"]
    assert call(server, temp, "optin", {"consumer_id": 1}).status_code == 400  # accepted token
    revoked = api(server, "alice", "DELETE", "/api-clients/temp")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert_error(call(server, temp, "optin", OPTIN), 401, "API-TOKEN")
    assert_error(
        api(server, "alice", "POST", "/api-clients", json={"name": "cb", "endpoints": ["x"]}),
        400,
        "name",
    )
    assert_error(
        api(server, "alice", "POST", "/api-clients", json={"name": "x", "endpoints": []}),
        400,
        "endpoints",
    )


# -- callable recipes ------------------------------------------------------------------------


def test_a_conversation_builder_client_records_an_optin_once(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    """Like a Conversation Builder API integration: its default headers, a 20 s timeout and up
    to 3 retries of the same request with the same Idempotency-Key."""
    headers = {
        "API-TOKEN": tokens["cb"],
        "Accept": "application/json",
        "Content-Type": "application/json;charset=UTF-8",
        "Idempotency-Key": "cb-conversation-77-step-3",
    }
    body = json.dumps({**OPTIN, "consumer_id": "cb-77"}).encode()
    answers = []
    with httpx.Client(timeout=20) as bot:
        for _attempt in range(4):  # the first request and 3 retries
            answers.append(bot.post(f"{server}{API}/call/optin", content=body, headers=headers))
    first = answers[0]
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] is True and first.json()["consumer_id"] == "cb-77"
    assert all(a.status_code == 200 and a.json() == first.json() for a in answers)
    assert all(a.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"] for a in answers)
    assert [a.headers.get("Idempotent-Replayed") for a in answers[1:]] == ["true"] * 3
    with open(ws / "data" / "optins.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["consumer_id"] == "cb-77"]
    assert len(rows) == 1
    listed = api(server, "alice", "GET", "/jobs", params={"recipe": "bots/cb_optin"}).json()
    jobs = [api(server, "alice", "GET", f"/jobs/{j['id']}").json() for j in listed["jobs"]]
    assert [j["user"] for j in jobs if j["event"] and j["event"].get("consumer_id") == "cb-77"] == [
        "api:cb"
    ]
    assert jobs[0]["trigger"] == "callable"

    # Retries that arrive while the first request still runs share its job.
    key = {"Idempotency-Key": "concurrent-1"}
    event = {**OPTIN, "consumer_id": "cb-78"}
    answers = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(call(server, tokens["cb"], "optin", event, headers=key))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 200, 200]
    assert len({a.headers["Lpstudio-Job"] for a in answers}) == 1
    # The same key with another body is refused.
    assert_error(call(server, tokens["cb"], "optin", OPTIN, headers=key), 409, "Idempotency-Key")


def test_a_repeat_that_writes_a_number_another_way_is_the_same_request(
    server: str, tokens: dict[str, str]
) -> None:
    """JSON has one number type: a retry whose library writes `61.0` or `6.1e1` where the
    first request had `61` repeats that request (it was refused as another, 409)."""
    key = {"Idempotency-Key": "same-number"}
    first = call(server, tokens["all"], "slow", {"n": 61}, headers=key, params={"mode": "async"})
    assert first.status_code == 202, first.text
    for written in (b'{"n": 61.0}', b'{"n": 6.1e1}'):
        again = call(server, tokens["all"], "slow", written, headers=key, params={"mode": "async"})
        assert again.status_code == 202, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
    other = call(server, tokens["all"], "slow", {"n": 62}, headers=key)
    assert assert_error(other, 409, "Idempotency-Key")["code"] == "IdempotencyConflict"


def test_a_call_whose_first_request_died_before_its_job_runs_when_retried(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    """A bot's retry after the server that took its first request died (before it started
    the job) gets the call done, once, instead of 409 until the key is purged."""
    event = {**OPTIN, "consumer_id": "cb-died"}
    first = call(server, tokens["cb"], "optin", event, headers={"Idempotency-Key": "before"})
    assert first.status_code == 200, first.text
    digest = claim_of(ws, "cb", "before").request_sha256  # the same request, under another key
    key = {"Idempotency-Key": "died-before-its-job"}
    unanswered_claim(ws, "cb", "died-before-its-job", "optin", digest, PAST_LEASE)

    retried = call(server, tokens["cb"], "optin", event, headers=key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["consumer_id"] == "cb-died"
    assert retried.headers["Lpstudio-Job"] != first.headers["Lpstudio-Job"]
    again = call(server, tokens["cb"], "optin", event, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Lpstudio-Job"] == retried.headers["Lpstudio-Job"]
    jobs = [e for e in events_queued(server, "bots/cb_optin") if e.get("consumer_id") == "cb-died"]
    assert len(jobs) == 2  # one per key

    # Another body under that key is refused, even past the lease of an unanswered claim.
    unanswered_claim(ws, "cb", "died-too", "optin", digest, PAST_LEASE)
    other = call(server, tokens["cb"], "optin", OPTIN, headers={"Idempotency-Key": "died-too"})
    assert assert_error(other, 409, "Idempotency-Key")["code"] == "IdempotencyConflict"

    # A claim whose job exists and still runs keeps answering with that job, however old.
    slow = {"Idempotency-Key": "slow-and-old"}
    queued = call(server, tokens["all"], "slow", {"n": 7}, headers=slow, params={"mode": "async"})
    assert queued.status_code == 202, queued.text
    age_claim(ws, PAST_LEASE, *of_key("all", "slow-and-old"))
    late = call(server, tokens["all"], "slow", {"n": 7}, headers=slow)
    assert assert_error(late, 504)["job"] == queued.json()["job"]
    assert late.headers["Idempotent-Replayed"] == "true"
    assert [e for e in events_queued(server, "bots/slow") if e == {"n": 7}] == [{"n": 7}]


def test_a_conversation_builder_retry_without_a_key_runs_the_recipe_once(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    """Conversation Builder sends no Idempotency-Key and retries an identical request within
    its 20 s: the retries share the first request's job, running or answered."""
    event = {"n": 4242}
    answers: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda: answers.append(call(server, tokens["all"], "slow", event)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # bots/slow sleeps 3 s past its 1 s call timeout: every attempt is told to come back.
    jobs = {assert_error(answer, 504)["job"] for answer in answers}
    assert len(jobs) == 1, answers
    job = jobs.pop()
    assert wait_job(server, job)["status"] == "succeeded"
    retried = call(server, tokens["all"], "slow", event)
    assert retried.status_code == 200 and retried.json() == {"double": 2}, retried.text
    assert retried.headers["Lpstudio-Job"] == str(job)
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert events_queued(server, "bots/slow").count(event) == 1

    # A call its recipe answered: the bot has its answer, so the same request again is a
    # new call, not a retry. A consumer who opts in, out and in again within the repeat
    # window was left opted out (the third request replayed the first's answer).
    optin = {**OPTIN, "consumer_id": "cb-no-key"}
    optout = {**optin, "opt_in": False}
    answers = [call(server, tokens["cb"], "optin", event) for event in (optin, optout, optin)]
    assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
    assert not any("Idempotent-Replayed" in a.headers for a in answers)
    assert len({a.headers["Lpstudio-Job"] for a in answers}) == 3
    queued = [
        e for e in events_queued(server, "bots/cb_optin") if e.get("consumer_id") == "cb-no-key"
    ]
    assert [e["opt_in"] for e in queued] == [True, False, True]


def test_a_keyless_repeat_of_a_failed_call_is_its_retry_within_the_window(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    """A call whose job failed may be retried by its bot: without a key, the same request
    within the repeat window gets the failure again and runs nothing (the job may have
    sent before it failed); another client's is its own, and so is one past the window."""
    event = {"n": 4343}
    first = call(server, tokens["all"], "boom", event)
    job = assert_error(first, 422)["job"]
    again = call(server, tokens["all"], "boom", event)
    assert assert_error(again, 422)["job"] == job
    assert again.headers["Idempotent-Replayed"] == "true"
    other = call(server, tokens["fuzz"], "boom", event)
    assert assert_error(other, 422)["job"] != job
    age_claim(ws, timedelta(minutes=2), IdempotentCall.job_id == job)
    # The window counts from the job's end (a 504'd caller repeats once a slow job ended).
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        s.execute(
            update(Job).where(Job.id == job).values(finished_at=utcnow() - timedelta(minutes=2))
        )
    later = call(server, tokens["all"], "boom", event)
    assert assert_error(later, 422)["job"] not in (job, assert_error(other, 422)["job"])
    assert "Idempotent-Replayed" not in later.headers
    assert events_queued(server, "bots/boom").count(event) == 3


@pytest.mark.parametrize("route", BOT_POSTS, ids=lambda r: r.path)
def test_an_oversized_call_or_webhook_is_refused_before_any_job(
    route: Any, server: str, ws: Path, tokens: dict[str, str]
) -> None:
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    url = hook if route.auth == OPEN else f"{API}/call/optin"
    before = state(ws)
    body = json.dumps({**OPTIN, "source": "x" * (2 << 20)}).encode()
    answer = httpx.post(
        f"{server}{url}", content=body, headers={"API-TOKEN": tokens["fuzz"]}, timeout=30
    )
    error = assert_error(answer, 413, "body")
    assert "1048576 bytes" in error["fix"]
    assert state(ws) == before


def test_callable_errors_name_the_problem(server: str, tokens: dict[str, str], ws: Path) -> None:
    assert_error(call(server, "wrong-token", "optin", OPTIN), 401, "API-TOKEN")
    bearer = httpx.post(
        f"{server}{API}/call/optin",
        json={**OPTIN, "consumer_id": 5},
        headers={"Authorization": f"Bearer {tokens['cb']}"},
        timeout=30,
    )
    assert_error(bearer, 400, "consumer_id")
    # A client limited to some endpoints learns nothing of the others: none exists or is
    # started, as far as it can tell (one 404, where a 403 named the served ones).
    said = {
        json.dumps(assert_error(call(server, tokens["cb"], path, {"n": 1}), 404, "path")).replace(
            path, "PATH"
        )
        for path in ("slow", "nowhere", "stopped")
    }
    assert len(said) == 1 and "may call optin" in said.pop(), said
    assert_error(call(server, tokens["all"], "nowhere", {"n": 1}), 404, "path")
    assert_error(call(server, tokens["all"], "stopped", {"n": 1}), 404, "path")
    assert_error(call(server, tokens["all"], "optin", b"{not json"), 400, "body")
    assert_error(
        call(server, tokens["all"], "optin", {**OPTIN, "channel": "email"}), 400, "channel"
    )
    assert_error(
        call(server, tokens["all"], "optin", {k: v for k, v in OPTIN.items() if k != "phone"}),
        400,
        "phone",
    )
    assert_error(call(server, tokens["all"], "optin", {**OPTIN, "extra": 1}), 400, "extra")

    failed = assert_error(call(server, tokens["all"], "boom", {"n": 1}), 422)
    assert failed["code"] == "JobFailed"
    assert failed["message"].endswith("ValueError: boom in projects/bots"), failed
    assert str(ws) not in json.dumps(failed) and str(ws.resolve()) not in json.dumps(failed)
    assert api(server, "alice", "GET", f"/jobs/{failed['job']}").json()["status"] == "failed"
    # No field of the call's: it named the response's `double`, read as the input's.
    off = assert_error(call(server, tokens["all"], "off", {"n": 1}), 502, None)
    assert off["code"] == "InvalidResponse" and "response field double" in off["message"]


def test_a_failed_job_is_answered_with_its_traceback_without_terminal_colours(
    server: str, tokens: dict[str, str]
) -> None:
    """IPython colours a traceback for a terminal: the API's readers (bots, scripts, the
    studio) get it as text; the output notebook keeps the colours, as Jupyter does."""
    failed = assert_error(call(server, tokens["all"], "boom", {"n": 1}), 422)
    job = api(server, "otto", "GET", f"/jobs/{failed['job']}").json()
    listed = api(server, "otto", "GET", "/jobs", params={"recipe": "bots/boom"}).json()["jobs"]
    for answer in (job, next(j for j in listed if j["id"] == job["id"])):
        traceback = "\n".join(answer["error"]["traceback"])
        assert "\x1b" not in traceback, traceback
        assert "ValueError: boom" in traceback
    output = api(server, "otto", "GET", f"/jobs/{job['id']}/output.ipynb").json()
    shown = [o for c in output["cells"] for o in c.get("outputs", ()) if "traceback" in o]
    assert "\x1b" in "".join(shown[0]["traceback"])


def test_a_slow_call_times_out_with_504_and_its_job_goes_on(
    server: str, tokens: dict[str, str]
) -> None:
    began = time.monotonic()
    late = assert_error(call(server, tokens["all"], "slow", {"n": 1}), 504)
    assert time.monotonic() - began < 3  # the call timeout of bots/slow is 1 s
    assert late["code"] == "Timeout"
    # A longer call timeout is offered within what a Conversation Builder bot waits out.
    assert "up to 18 s for a caller that gives up at 20 s" in late["fix"], late
    assert wait_job(server, late["job"])["status"] == "succeeded"
    later = httpx.get(
        f"{server}{API}/calls/{late['job']}", headers={"API-TOKEN": tokens["all"]}, timeout=30
    )
    assert later.status_code == 200 and later.json() == {"double": 2}
    other = httpx.get(
        f"{server}{API}/calls/{late['job']}", headers={"API-TOKEN": tokens["fuzz"]}, timeout=30
    )
    assert_error(other, 404)


def test_async_calls_answer_202_then_the_answer(server: str, tokens: dict[str, str]) -> None:
    queued = call(
        server,
        tokens["all"],
        "optin",
        {**OPTIN, "consumer_id": "async-1"},
        params={"mode": "async"},
    )
    assert queued.status_code == 202, queued.text
    job = queued.json()["job"]
    assert queued.json()["poll"] == f"{API}/calls/{job}"

    def answered() -> Any:
        got = httpx.get(
            f"{server}{queued.json()['poll']}",
            headers={"API-TOKEN": tokens["all"]},
            timeout=30,
        )
        return got if got.status_code != 202 else None

    final = wait_for(answered, timeout=120, what="the async answer")
    assert final.status_code == 200 and final.json()["consumer_id"] == "async-1"
    assert_error(call(server, tokens["all"], "optin", OPTIN, params={"mode": "later"}), 400, "mode")


def test_a_client_polls_its_own_calls_and_learns_nothing_of_other_jobs(
    server: str, tokens: dict[str, str]
) -> None:
    # A job id that does not exist answered "job N does not exist", told a bot to run the
    # CLI, and so set it apart from the jobs of other callers.
    def poll(job: int) -> dict[str, Any]:
        answer = httpx.get(f"{server}{API}/calls/{job}", headers={"API-TOKEN": tokens["cb"]})
        return assert_error(answer, 404, "job")

    others = assert_error(call(server, tokens["all"], "boom", {"n": 1}), 422)["job"]
    for job in (others, 10**11):
        error = poll(job)
        assert error["message"] == f"no call job {job} of this client"
        assert error["code"] == "NotFoundError", error  # as every 404: one code to branch on
        assert "lpstudio jobs" not in str(error) and "Lpstudio-Job" in error["fix"]
    for nonsense in ("-1", "0", "99999999999999999999"):  # "no route", or a database overflow
        answer = httpx.get(f"{server}{API}/calls/{nonsense}", headers={"API-TOKEN": tokens["cb"]})
        error = assert_error(answer, 400, "job_id")
        assert error["message"] == f"{nonsense} is not a job id", error
        assert error["fix"] == "poll the job of one of this client's calls: its Lpstudio-Job header"


def test_a_bot_is_told_which_values_a_query_or_header_takes(
    server: str, tokens: dict[str, str]
) -> None:
    # `mode=later` was told "give mode as text", `limit=0` "give limit as integer".
    mode = call(server, tokens["all"], "optin", OPTIN, params={"mode": "later"})
    assert assert_error(mode, 400, "mode")["fix"] == "give mode as one of: sync, async"
    limit = api(server, "alice", "GET", "/jobs", params={"limit": "0"})
    assert assert_error(limit, 400, "limit")["fix"] == "give limit as a whole number from 1 to 1000"
    offsets = (str(2**63), "99999999999999999999", "-1", "x")  # past 2**63 - 1: was a 500
    for sent in offsets:
        offset = api(server, "alice", "GET", "/jobs", params={"offset": sent})
        error = assert_error(offset, 400, "offset")
        assert error["fix"] == f"give offset as a whole number from 0 to {2**63 - 1}", error
    last = api(server, "alice", "GET", "/jobs", params={"offset": str(2**63 - 1)})
    assert last.status_code == 200 and last.json()["jobs"] == [], last.text
    long_key = call(server, tokens["all"], "optin", OPTIN, headers={"Idempotency-Key": "k" * 256})
    assert "at most 255 characters" in assert_error(long_key, 400, "Idempotency-Key")["fix"]


def test_a_query_parameter_a_route_does_not_take_or_given_twice_is_refused(
    server: str, tokens: dict[str, str]
) -> None:
    # `?stat=failed` listed every job, `status=failed&status=succeeded` the succeeded ones
    # only, and `/dashboard?day=30` the default 7 days: each without a word.
    misspelt = api(server, "alice", "GET", "/jobs", params={"stat": "failed"})
    error = assert_error(misspelt, 400, "stat")
    assert error["message"] == "unknown query parameter 'stat'"
    assert error["fix"] == "this route takes before, limit, offset, project, recipe, since, status"
    twice = api(server, "alice", "GET", "/jobs", params=[("status", "failed"), ("status", "ok")])
    assert assert_error(twice, 400, "status")["fix"] == "give status once"
    assert_error(api(server, "alice", "GET", "/dashboard", params={"day": "30"}), 400, "day")
    none = api(server, "alice", "GET", "/me", params={"verbose": "1"})
    assert assert_error(none, 400, "verbose")["fix"] == "this route takes no query parameter"
    mode = call(server, tokens["all"], "optin", OPTIN, params={"mod": "async"})
    assert_error(mode, 400, "mod")
    # `?recipe=` listed every recipe's jobs, where the CLI refuses `--recipe ""`.
    empty = api(server, "alice", "GET", "/jobs", params={"recipe": ""})
    assert assert_error(empty, 400, "recipe")["message"] == "query parameter recipe is empty"
    # What Jupyter's own checks read is no route's to refuse, nor JupyterLab's cache buster.
    assert api(server, "alice", "GET", "/jobs", params={"_xsrf": "x"}).status_code == 200
    busted = httpx.get(f"{server}{API}/me?1764566400000", headers={"X-Test-User": "alice"})
    assert busted.status_code == 200, busted.text


def test_a_webhook_sent_with_the_wrong_method_is_told_to_post(server: str) -> None:
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    answer = httpx.get(f"{server}{hook}", timeout=30)
    error = assert_error(answer, 405, "method")
    assert error["fix"] == "use POST" and answer.headers["Allow"] == "POST"


def test_the_openapi_document_lists_every_answer_a_bot_can_get(
    server: str, tokens: dict[str, str]
) -> None:
    doc = httpx.get(f"{server}{API}/openapi.json", headers={"API-TOKEN": tokens["all"]}).json()
    openapi_spec_validator.validate(doc)
    optin = doc["paths"]["/call/optin"]["post"]
    # A recipe whose settings broke answers 503 (README), a job started in async mode 202
    # with the job to poll.
    assert (
        "503" in optin["responses"] and "503" in doc["paths"]["/call/{path}"]["post"]["responses"]
    )
    # An oversized body is refused whole; a bot's retry without a key is answered as before.
    assert (
        "413" in optin["responses"] and "413" in doc["paths"]["/call/{path}"]["post"]["responses"]
    )
    (key,) = [p for p in optin["parameters"] if p["name"] == "Idempotency-Key"]
    assert "without" in key["description"] and "60 s" in key["description"]
    # A 202 is always the server's (queued or running): a recipe may not answer one.
    queued = optin["responses"]["202"]["content"]["application/json"]["schema"]
    assert queued["required"] == ["job", "status", "poll"] and "anyOf" not in queued
    # A call without a body reads as {} (its input in the query): the document says it may
    # be left out; a webhook delivery's may not (below).
    assert doc["paths"]["/call/{path}"]["post"]["requestBody"]["required"] is False
    # Polling a call answers 202 while its job runs; it has no input nor key to refuse.
    polled = doc["paths"]["/calls/{job_id}"]["get"]["responses"]
    assert {"2XX", "202", "400", "404", "422", "502", "default"} <= set(polled)
    assert not {"409", "504"} & set(polled)
    assert {"403", "503"} <= set(polled)  # a refused Origin, a store outage
    hooks = api(server, "alice", "GET", "/openapi.json").json()["paths"]["/hooks/{hook_id}"]
    assert {"200", "202", "409", "413"} <= set(hooks["post"]["responses"])
    assert hooks["post"]["requestBody"]["required"] is True
    refused = hooks["post"]["responses"]["400"]["description"]
    assert "input schema" in refused and "nothing is queued" in refused


def test_every_error_of_a_call_says_what_to_do(server: str, tokens: dict[str, str]) -> None:
    failed = assert_error(call(server, tokens["all"], "boom", {"n": 1}), 422)
    assert f"job {failed['job']}" in failed["fix"] and "Idempotency-Key" in failed["fix"]


def test_an_async_answer_is_read_against_the_version_its_job_ran(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    # Once the notebook broke (or went), polling a finished call answered its RecipeError as
    # a 400, which a bot takes for its own bad input.
    _callable(ws, "bots/later", "later", "lp.respond({'double': 2 * lp.event['n']})")
    assert api(server, "alice", "POST", "/recipes/bots/later.ipynb/start").status_code == 200
    queued = call(server, tokens["all"], "later", {"n": 4}, params={"mode": "async"})
    assert queued.status_code == 202, queued.text
    assert wait_job(server, queued.json()["job"])["status"] == "succeeded"
    path = ws / "projects" / "bots" / "later.ipynb"
    broken = nbformat.read(path, as_version=4)
    broken.cells[0].source = "pause: float = ("
    nbformat.write(broken, path)
    for _ in range(2):  # broken, then gone
        answer = httpx.get(f"{server}{queued.json()['poll']}", headers={"API-TOKEN": tokens["all"]})
        assert answer.status_code == 200 and answer.json() == {"double": 8}, answer.text
        path.unlink(missing_ok=True)
    # Stopped by its old path: left started, the hosted scheduler stops it as its notebook
    # is gone, in whichever test of this server runs then. Its tick may come first: the
    # recipe is then stopped already, and no longer one a stop can name (404).
    stopped = api(server, "alice", "POST", "/recipes/bots/later.ipynb/stop")
    assert stopped.status_code in (200, 404), stopped.text
    with Studio.open(ws, user="alice") as studio:
        assert "bots/later.ipynb" not in studio.started_settings()


def test_a_keyed_retry_is_answered_once_the_notebook_is_not_json_or_the_recipe_stopped(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    # A started recipe whose file is no longer JSON at all answered 404 "no started
    # callable recipe" (its endpoint could not be read from the file): it is broken, 503,
    # as one whose cells broke. And a bot that lost an answer and retries with its key was
    # told 404 once the recipe was stopped, though its call ran: it gets the stored answer.
    _callable(ws, "bots/unjson", "unjson", "lp.respond({'double': 2 * lp.event['n']})")
    path = ws / "projects" / "bots" / "unjson.ipynb"
    assert api(server, "alice", "POST", "/recipes/bots/unjson.ipynb/start").status_code == 200
    key = {"Idempotency-Key": "unjson-1"}
    first = call(server, tokens["all"], "unjson", {"n": 3}, headers=key)
    assert first.status_code == 200 and first.json() == {"double": 6}, first.text
    good = path.read_bytes()
    path.write_text("{not json", encoding="utf8")
    error = assert_error(call(server, tokens["all"], "unjson", {"n": 4}), 503, "recipe")
    assert error["code"] == "RecipeNotReady" and "bots/unjson" not in json.dumps(error), error
    for _ in range(2):  # broken, then fixed and stopped
        again = call(server, tokens["all"], "unjson", {"n": 3}, headers=key)
        assert again.status_code == 200 and again.json() == {"double": 6}, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
        path.write_bytes(good)
        assert api(server, "alice", "POST", "/recipes/bots/unjson.ipynb/stop").status_code == 200
    other = {"Idempotency-Key": "unjson-2"}
    assert_error(call(server, tokens["all"], "unjson", {"n": 3}, headers=other), 404, "path")
    assert events_queued(server, "bots/unjson") == [{"n": 3}]


def test_a_started_recipe_whose_notebook_broke_answers_503_not_404(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    # Its callers were told 404 "no started callable recipe ... start the recipe" (a bot
    # takes that for its own wrong URL, and a webhook sender may drop the event): the
    # recipe is at fault, and a retry once its admin fixed it goes through.
    _callable(ws, "bots/fragile", "fragile", "lp.respond({'double': 2 * lp.event['n']})")
    lead = write_recipe(
        ws, "hooks/fragile", metadata={"title": "Fragile", "trigger": {"kind": "webhook"}}
    )
    fragile = ws / "projects" / "bots" / "fragile.ipynb"
    try:
        for name in ("bots/fragile.ipynb", "hooks/fragile.ipynb"):
            assert api(server, "alice", "POST", f"/recipes/{name}/start").status_code == 200
        hook = api(server, "otto", "GET", "/recipes/hooks/fragile.ipynb").json()["trigger"]["hook"]
        key = {"Idempotency-Key": "fragile-1"}
        first = call(server, tokens["all"], "fragile", {"n": 1}, headers=key)  # a version
        assert first.status_code == 200 and first.json() == {"double": 2}, first.text
        for path in (fragile, lead):
            broken = nbformat.read(path, as_version=4)
            broken.cells[0].source = "pause: float = ("
            nbformat.write(broken, path)
        called = call(server, tokens["all"], "fragile", {"n": 2})
        error = assert_error(called, 503, "recipe")
        # The bot is told to retry, its admin mends it; which recipe is in the server's log.
        assert "admin" in error["message"] and "again later" in error["fix"], error
        assert called.headers["Retry-After"] == "60" and "fragile" not in called.text
        # A webhook sender, unauthenticated, is told to retry, not which recipe broke.
        delivered = httpx.post(f"{server}{hook}", json={"name": "Gil"}, timeout=30)
        error = assert_error(delivered, 503, "hook")
        assert "fragile" not in delivered.text and "admin" not in error["message"], error
        # A bot that lost the first answer retries with its key: the stored answer, though
        # the recipe broke since (nothing runs); another request under that key is not one.
        again = call(server, tokens["all"], "fragile", {"n": 1}, headers=key)
        assert again.status_code == 200 and again.json() == {"double": 2}, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Lpstudio-Job"] == first.headers["Lpstudio-Job"]
        assert_error(call(server, tokens["all"], "fragile", {"n": 5}, headers=key), 503, "recipe")
        # Its admin lists its versions and restores the last good one (the recipe's error
        # says to): both refused a broken recipe, and so did stopping it.
        versions = api(server, "alice", "GET", "/recipes/bots/fragile.ipynb/versions")
        assert versions.status_code == 200, versions.text
        good = versions.json()["versions"][0]["id"]
        restored = api(
            server, "alice", "POST", "/recipes/bots/fragile.ipynb/restore", json={"version": good}
        )
        assert restored.status_code == 200, restored.text
        answer = call(server, tokens["all"], "fragile", {"n": 2})
        assert answer.status_code == 200 and answer.json() == {"double": 4}, answer.text
        # Stopped while broken, its hook still answers 503: a stopped recipe's events are
        # kept, and a 404 told the sender to drop them (its callable path is unknown).
        stopped = api(server, "alice", "POST", "/recipes/hooks/fragile.ipynb/stop")
        assert stopped.status_code == 200 and stopped.json()["state"] == "stopped", stopped.text
        assert stopped.json()["problem"]["field"] == "parameters"  # what broke, with its fix
        hooked = httpx.post(f"{server}{hook}", json={"name": "Gil"}, timeout=30)
        assert_error(hooked, 503, "hook")
    finally:
        fragile.unlink()
        lead.unlink()
        # Stopped by its old path, or the hosted scheduler stops it in another test.
        api(server, "alice", "POST", "/recipes/bots/fragile.ipynb/stop")


def test_a_client_past_its_rate_limit_gets_429_with_retry_after(
    server: str, tokens: dict[str, str]
) -> None:
    answers = [call(server, tokens["tight"], "optin", {"bad": True}) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert_error(answers[2], 429)
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


def test_a_call_timeout_is_saved_with_the_settings_of_a_callable_only(
    server: str, ws: Path
) -> None:
    """It was written apart from the settings (a second write, past the revision check)
    and taken for a webhook recipe, which nobody waits on."""
    before = state(ws)
    refused = api(
        server, "ana", "PUT", "/recipes/hooks/lead.ipynb/settings", json={"call_timeout": 3}
    )
    assert "applies to callable recipes" in assert_error(refused, 400, "call_timeout")["message"]
    shown = api(server, "ana", "GET", "/recipes/bots/cb_optin.ipynb").json()["revision"]
    stale = {"call_timeout": 5, "revision": shown - 1}
    assert_error(
        api(server, "ana", "PUT", "/recipes/bots/cb_optin.ipynb/settings", json=stale), 409
    )
    assert state(ws) == before
    saved = api(
        server,
        "ana",
        "PUT",
        "/recipes/bots/cb_optin.ipynb/settings",
        json={"call_timeout": 5, "revision": shown},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == shown + 1 and saved.json()["settings"]["call_timeout"] == 5
    assert saved.json()["warnings"] == []
    # Past a bot's 20 s, less the time its 504 takes to reach it: saved, and warned of, in
    # the API's terms (the lab says its warnings with their fix).
    long = api(
        server, "ana", "PUT", "/recipes/bots/cb_optin.ipynb/settings", json={"call_timeout": 30}
    )
    assert long.status_code == 200 and long.json()["settings"]["call_timeout"] == 30, long.text
    (warning,) = long.json()["warnings"]
    assert warning["field"] == "call_timeout", warning
    assert "Conversation Builder caller: it gives up at 20 s" in warning["message"], warning
    assert "?mode=async" in warning["fix"], warning
    assert warning["fix"].endswith(
        f'PUT {API}/recipes/bots/cb_optin.ipynb/settings {{"call_timeout": 18}}'
    ), warning
    # Read back, as it stands: the recipe and its row say it as the save did; to an
    # operator, who may not save it, its fix is asked of those who may.
    shown = api(server, "ana", "GET", "/recipes/bots/cb_optin.ipynb").json()
    assert shown["warnings"] == [warning], shown
    (told,) = api(server, "otto", "GET", "/recipes/bots/cb_optin.ipynb").json()["warnings"]
    assert told["message"] == warning["message"], told
    assert told["fix"].endswith(
        "; or ask an analyst or admin to keep the call timeout within 18 s: "
        f'PUT {API}/recipes/bots/cb_optin.ipynb/settings {{"call_timeout": 18}}'
    ), told
    rows = {r["recipe"]: r for r in api(server, "ana", "GET", "/recipes").json()["recipes"]}
    assert rows["bots/cb_optin.ipynb"]["warnings"] == [warning]
    assert rows["hooks/lead.ipynb"]["warnings"] == []
    cleared = api(
        server, "ana", "PUT", "/recipes/bots/cb_optin.ipynb/settings", json={"call_timeout": None}
    )
    assert "call_timeout" not in cleared.json()["settings"]
    assert api(server, "ana", "GET", "/recipes/bots/cb_optin.ipynb").json()["warnings"] == []


def test_bad_numbers_times_and_names_are_refused_and_nothing_changes(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    before = state(ws)
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    raw = {"Content-Type": "application/json"}
    # NaN and Infinity: Python reads them, no JSON client can read them back.
    for answer in (
        api(
            server,
            "ana",
            "PUT",
            "/recipes/bots/cb_optin.ipynb/settings",
            content=b'{"call_timeout": NaN}',
            headers=raw,
        ),
        api(
            server,
            "ana",
            "POST",
            "/recipes/lab/double.ipynb/run",
            content=b'{"timeout": Infinity}',
            headers=raw,
        ),
        call(server, tokens["all"], "optin", json.dumps(OPTIN)[:-1].encode() + b', "n": NaN}'),
        httpx.post(f"{server}{hook}", content=b'{"total": -Infinity}', timeout=30),
        httpx.post(f"{server}{hook}", content=b'{"total": 1e400}', timeout=30),  # infinity
    ):
        error = assert_error(answer, 400, "body")
        assert "not a JSON number" in error["message"]
    # A name given twice: Python kept the last value, another reader would keep the first.
    twice = b'{"consumer_id": "c9", "phone": "+14155550142", "channel": "sms", '
    for answer in (
        call(server, tokens["all"], "optin", twice + b'"opt_in": true, "opt_in": false}'),
        httpx.post(f"{server}{hook}", content=b'{"name": "Ann", "name": "Bo"}', timeout=30),
    ):
        error = assert_error(answer, 400, "body")
        assert "is given twice in one object" in error["message"], error
    # A lone surrogate: no Unicode text, read by Python, failing the job that printed or
    # answered it (`UnicodeEncodeError`), stored as given.
    lone = json.dumps({**OPTIN, "consumer_id": "X"}).replace('"X"', '"a\\ud800b"').encode()
    for answer in (
        call(server, tokens["all"], "optin", lone),
        httpx.post(f"{server}{hook}", content=b'{"name": "\\udfff"}', timeout=30),
        httpx.post(f"{server}{hook}", content=b'{"a\\ud83d": 1}', timeout=30),
    ):
        error = assert_error(answer, 400, "body")
        assert "unpaired surrogate" in error["message"], error
    # An integer no float holds, and arrays nested past what anything walks (a 500 each).
    too_large = b'{"parameters": {"pause": 1' + b"0" * 400 + b"}}"
    run = api(server, "ana", "POST", "/recipes/bots/slow.ipynb/run", content=too_large)
    assert "too large for a float" in assert_error(run, 400, "pause")["message"]
    # A fix in the command line's terms (`-p x 7`) meant nothing to an API client.
    typed = {"parameters": {"x": "3"}}
    put = api(server, "ana", "PUT", "/recipes/lab/double.ipynb/settings", json=typed)
    fix = assert_error(put, 400, "x")["fix"]
    assert fix == "give an integer, not a string: 3, without quotes", fix
    # A timeout past what the CLI takes (1e9 s) ran: every surface refuses it alike.
    run = api(server, "ana", "POST", "/recipes/lab/double.ipynb/run", json={"timeout": 1e300})
    assert_error(run, 400, "timeout")
    deep = b'{"event": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    run = api(server, "ana", "POST", "/recipes/lab/double.ipynb/run", content=deep, headers=raw)
    assert "nest deeper than 100 levels" in assert_error(run, 400, "body")["message"]
    for since in ("1000000d", "99999999999d", "0001-01-01T00:00:00+01:00"):
        error = assert_error(api(server, "otto", "GET", "/jobs", params={"since": since}), 400)
        assert error["field"] == "since" and "too far back" in error["message"]
    for body, field in (
        ({"template": "cb_optin", "project": "bots/cb_optin.ipynb"}, "project"),  # a file
        ({"template": "cb_optin", "project": "bad\x00name"}, "project"),
        ({"template": "cb_optin", "project": "p" * 300}, "project"),
        ({"template": "cb_optin", "project": "bots", "name": "  "}, "name"),
    ):
        assert_error(api(server, "ana", "POST", "/gallery/try", json=body), 400, field)
    # Only a poll trigger has a "since" to reset.
    assert_error(
        api(server, "ana", "POST", "/recipes/lab/double.ipynb/start", json={"reset_since": "2h"}),
        400,
        "reset_since",
    )
    assert state(ws) == before


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_a_schedule_in_a_file_of_the_zone_database_is_refused_before_any_job(
    server: str, ws: Path, zone: str
) -> None:
    """zoneinfo loads these, but none is a zone a user means: `localtime` is the server's own
    (a worker's may differ), `posixrules` a legacy link, `Factory` shows "-00"."""
    trigger = {"kind": "schedule", "cron": "0 9 * * *", "timezone": zone}
    write_recipe(ws, f"lab/zoned_{zone}", metadata={"title": "Zoned", "trigger": trigger})
    path = f"/recipes/lab/zoned_{zone}.ipynb"
    before = state(ws)
    field = "metadata.lpstudio.trigger.timezone"
    for method, action in (("POST", "/start"), ("POST", "/run"), ("PUT", "/settings")):
        error = assert_error(api(server, "ana", method, f"{path}{action}", json={}), 400, field)
        assert zone in error["message"] and "Europe/Paris" in error["fix"]
    assert state(ws) == before


def test_a_rerun_of_a_test_run_is_a_test_run(server: str, ws: Path) -> None:
    write_recipe(
        ws,
        "lab/mode",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'test': lp.context().test_mode})",),
    )
    tested = api(server, "ana", "POST", "/recipes/lab/mode.ipynb/test", json={})
    assert tested.status_code == 202, tested.text
    first = wait_job(server, tested.json()["id"])
    assert first["trigger"] == "test" and first["result"] == {"test": True}

    rerun = api(server, "otto", "POST", f"/jobs/{first['id']}/rerun")
    assert rerun.status_code == 202, rerun.text
    again = wait_job(server, rerun.json()["id"])
    assert again["rerun_of"] == first["id"]
    assert again["trigger"] == "test" and again["result"] == {"test": True}  # sent nothing


def test_a_secret_left_empty_or_masked_keeps_its_stored_value(server: str, ws: Path) -> None:
    made = api(
        server,
        "ana",
        "POST",
        "/connections",
        json={"name": "kept", "type": "http", "fields": {"auth_type": "bearer", "token": SECRET}},
    )
    assert made.status_code == 201, made.text
    for fields in ({"token": ""}, {"token": "****", "base_url": "http://127.0.0.1:9"}):
        answer = api(server, "ana", "PUT", "/connections/kept", json={"fields": fields})
        assert answer.status_code == 200, answer.text
    with Studio.open(ws, user="alice") as studio:
        _, config = studio.connections.values("kept")
    assert config["token"] == SECRET and config["base_url"] == "http://127.0.0.1:9"
    # A plain field sent null (what the lab sends for a field emptied) is cleared.
    answer = api(server, "ana", "PUT", "/connections/kept", json={"fields": {"base_url": None}})
    assert answer.status_code == 200 and "base_url" not in answer.json()["fields"], answer.text
    assert api(server, "ana", "DELETE", "/connections/kept").status_code == 200


def test_one_started_recipe_per_callable_path(server: str, ws: Path) -> None:
    _callable(ws, "bots/slow_twin", "slow", "lp.respond({'double': 0})")
    error = assert_error(
        api(server, "otto", "POST", "/recipes/bots/slow_twin.ipynb/start"), 400, "trigger.path"
    )
    assert "bots/slow.ipynb" in error["message"]
    twin = api(server, "otto", "GET", "/recipes/bots/slow_twin.ipynb").json()
    assert twin["state"] == "stopped"


def test_a_callable_whose_connection_no_longer_fits_answers_503_not_400(
    server: str, ws: Path, tokens: dict[str, str]
) -> None:
    def crm(connector: str) -> None:
        write_recipe(
            ws,
            "bots/crm",
            cells=("import lpstudio.kernel as lp\nlp.respond({'double': 2})",),
            metadata={
                "title": "CRM",
                "trigger": {"kind": "callable", "path": "crm"},
                "connections": {"crm": {"type": connector}},
            },
        )

    crm("http")
    made = api(server, "ana", "POST", "/connections", json={"name": "crm-http", "type": "http"})
    assert made.status_code == 201, made.text
    bound = api(
        server,
        "ana",
        "PUT",
        "/recipes/bots/crm.ipynb/settings",
        json={"connections": {"crm": "crm-http"}},
    )
    assert bound.status_code == 200, bound.text
    assert api(server, "otto", "POST", "/recipes/bots/crm.ipynb/start").status_code == 200
    assert call(server, tokens["all"], "crm", {"n": 1}).status_code == 200
    crm("shopify")  # the notebook edited while started: its slot takes another connector

    # Another request (the same one again within the repeat window would be its retry).
    error = assert_error(call(server, tokens["all"], "crm", {"n": 2}), 503, "connections.crm")
    assert error["code"] == "RecipeNotReady"
    assert api(server, "otto", "POST", "/recipes/bots/crm.ipynb/stop").status_code == 200


def test_answers_that_http_or_json_cannot_carry_are_refused() -> None:
    from types import SimpleNamespace

    import lpstudio.kernel as lp
    from lpstudio.server.calls import answer_for

    for status in (202, 204, 304, 101, 600, True, "200"):
        with pytest.raises(ValueError, match="status"):
            lp.respond({"double": 2}, status=status)
    with pytest.raises(ValueError, match="NaN or Infinity"):
        lp.respond({"double": float("nan")})
    with pytest.raises(ValueError, match="NaN or Infinity"):
        lp.set_result({"share": float("inf")})
    # A result's own "response" would pass for respond()'s answer to the caller.
    with pytest.raises(ValueError, match=r"'response'.*respond"):
        lp.set_result({"response": {"status": 200, "body": {}}})
    # An answer stored by an older recipe run: the caller gets 502, never a broken answer.
    for stored in (204, 202):  # 202 would read as still running to a bot that polls
        old = SimpleNamespace(
            id=7, status="succeeded", result={"response": {"status": stored}}, error=None
        )
        status, body = answer_for(old, {})  # type: ignore[arg-type]
        assert status == 502 and body["error"]["code"] == "InvalidResponse"


# -- webhooks --------------------------------------------------------------------------------


def test_webhooks_queue_events_and_keep_them_while_stopped(server: str, ws: Path) -> None:
    detail = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()
    hook = detail["trigger"]["hook"]
    assert hook.startswith(f"{API}/hooks/") and "lead" not in hook
    posted = httpx.post(f"{server}{hook}", json=[{"name": "Ada"}, {"name": "Bob"}], timeout=30)
    assert posted.status_code == 202, posted.text
    answer = posted.json()
    assert answer["accepted"] == 2 and answer["state"] == "stopped"
    assert "kept until it starts" in answer["message"]
    for job_id in answer["jobs"]:
        job = api(server, "alice", "GET", f"/jobs/{job_id}").json()
        assert job["status"] == "queued" and job["trigger"] == "webhook"
    assert job["event"] == {"name": "Bob"}
    assert_error(httpx.post(f"{server}{API}/hooks/{'0' * 40}", json={}, timeout=30), 404)

    # A sender that delivers the same event twice (its delivery id) gets one job.
    delivery = {"X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
    first = httpx.post(f"{server}{hook}", json={"name": "Cy"}, headers=delivery, timeout=30)
    again = httpx.post(f"{server}{hook}", json={"name": "Cy"}, headers=delivery, timeout=30)
    assert first.status_code == 202 and again.status_code == 200, again.text
    assert again.json()["repeated"] and again.json()["accepted"] == 0
    assert again.json()["jobs"] == first.json()["jobs"]
    cy = [event for event in events_queued(server, "hooks/lead.ipynb") if event == {"name": "Cy"}]
    assert len(cy) == 1
    assert_error(httpx.post(f"{server}{hook}", content=b"{oops", timeout=30), 400, "body")
    assert_error(httpx.post(f"{server}{hook}", json=42, timeout=30), 400, "body")

    signed = api(server, "otto", "GET", "/recipes/hooks/signed.ipynb").json()["trigger"]["hook"]
    body = json.dumps({"lead": 1}).encode()
    assert_error(
        httpx.post(f"{server}{signed}", content=body, timeout=30), 401, "X-Lpstudio-Signature"
    )
    good = hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    bad = httpx.post(
        f"{server}{signed}", content=body, headers={"X-Lpstudio-Signature": "0" * 64}, timeout=30
    )
    assert_error(bad, 401)
    ok = httpx.post(
        f"{server}{signed}",
        content=body,
        headers={"X-Lpstudio-Signature": f"sha256={good}"},
        timeout=30,
    )
    assert ok.status_code == 202 and ok.json()["accepted"] == 1


def test_a_delivery_or_a_call_holding_a_secret_is_shown_masked_on_its_job(
    server: str, tokens: dict[str, str]
) -> None:
    """What a sender or a bot posts is kept on its job, which operators read: a value that
    is a connection's secret was kept in the clear there. (Its recipe gets it whole:
    test_call_input_values, test_webhook_sealed_events.)"""
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    posted = httpx.post(f"{server}{hook}", json={"name": HOOK_SECRET}, timeout=30)
    assert posted.status_code == 202, posted.text
    (delivered,) = posted.json()["jobs"]
    called = call(server, tokens["all"], "optin", {**OPTIN, "consumer_id": HOOK_SECRET})
    assert called.status_code == 200 and HOOK_SECRET not in called.text, called.text
    for job_id in (delivered, int(called.headers["Lpstudio-Job"])):
        job = api(server, "alice", "GET", f"/jobs/{job_id}")
        assert HOOK_SECRET not in job.text and "****" in json.dumps(job.json()["event"])


def test_a_delivery_whose_receiver_died_before_queueing_is_queued_by_its_redelivery(
    server: str, ws: Path
) -> None:
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    body = json.dumps([{"name": "Dee"}, {"name": "Eve"}]).encode()
    digest = hashlib.sha256(body).hexdigest()
    client, recipe = "webhook:hooks/lead.ipynb", "hooks/lead.ipynb"

    # A claim older than its lease was left by a receiver that died: nothing was queued,
    # and the sender's redelivery queues it all, once.
    unanswered_claim(ws, client, "receiver-died", recipe, digest, PAST_LEASE)
    delivery = {"X-Webhook-Id": "receiver-died"}
    redelivered = httpx.post(f"{server}{hook}", content=body, headers=delivery, timeout=30)
    assert redelivered.status_code == 202, redelivered.text
    assert redelivered.json()["accepted"] == 2 and not redelivered.json()["repeated"]
    again = httpx.post(f"{server}{hook}", content=body, headers=delivery, timeout=30)
    assert again.status_code == 200 and again.json()["jobs"] == redelivered.json()["jobs"]

    # A claim younger than its lease may still be queueing: the sender is asked to retry.
    unanswered_claim(ws, client, "still-queueing", recipe, digest, timedelta(seconds=1))
    busy = httpx.post(
        f"{server}{hook}", content=body, headers={"X-Webhook-Id": "still-queueing"}, timeout=30
    )
    assert assert_error(busy, 409, "X-Webhook-Id")["code"] == "ConflictError"
    assert busy.headers["Retry-After"]

    # Redeliveries racing for a claim past its lease: one takes it over; queued once.
    unanswered_claim(ws, client, "raced", recipe, digest, PAST_LEASE)
    answers: list[httpx.Response] = []
    racers = [
        threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{server}{hook}", content=body, headers={"X-Webhook-Id": "raced"}, timeout=30
                )
            )
        )
        for _ in range(3)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert [a.status_code for a in answers].count(202) == 1
    assert {a.status_code for a in answers} <= {200, 202, 409}  # the others: queued, or queueing
    names = [e["name"] for e in events_queued(server, recipe) if e.get("name") in ("Dee", "Eve")]
    assert sorted(names) == ["Dee", "Dee", "Eve", "Eve"]  # two deliveries, each queued once


def test_a_receiver_that_resumes_after_its_claim_was_taken_over_queues_nothing(
    server: str, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    body, delivery = b'{"name": "Fay"}', {"X-Webhook-Id": "stalled"}
    redelivered: list[httpx.Response] = []
    with Studio.open(ws, user="alice") as studio:
        create_jobs = studio.store.create_jobs

        def stalled(rows: list[dict[str, Any]], then: Any = None) -> Any:
            # This receiver stalls past its claim's lease before queueing; meanwhile the
            # sender redelivers to the server, which takes the claim over.
            age_claim(ws, PAST_LEASE, *of_key("webhook:hooks/lead.ipynb", "stalled"))
            redelivered.append(
                httpx.post(f"{server}{hook}", content=body, headers=delivery, timeout=30)
            )
            return create_jobs(rows, then=then)

        monkeypatch.setattr(studio.store, "create_jobs", stalled)
        with pytest.raises(ConflictError) as lost:
            studio.receive_webhook(hook.rsplit("/", 1)[1], delivery, body)
    assert "taken over" in str(lost.value)
    assert redelivered[0].status_code == 202, redelivered[0].text
    fay = [e for e in events_queued(server, "hooks/lead") if e == {"name": "Fay"}]
    assert fay == [{"name": "Fay"}]  # queued by the redelivery alone
    again = httpx.post(f"{server}{hook}", content=body, headers=delivery, timeout=30)
    assert again.status_code == 200 and again.json()["jobs"] == redelivered[0].json()["jobs"]


def test_a_delivery_id_reused_with_another_body_is_refused_and_queues_nothing(
    server: str, ws: Path
) -> None:
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    delivery = {"X-Shopify-Webhook-Id": "reused-for-another-event"}
    first = httpx.post(f"{server}{hook}", json={"name": "Gus"}, headers=delivery, timeout=30)
    assert first.status_code == 202, first.text
    other = httpx.post(f"{server}{hook}", json={"name": "Hal"}, headers=delivery, timeout=30)
    error = assert_error(other, 409, "X-Shopify-Webhook-Id")
    assert error["code"] == "IdempotencyConflict"
    assert "X-Shopify-Webhook-Id" in error["message"] and "another body" in error["message"]
    assert "Retry-After" not in other.headers  # retrying the same request cannot help

    # Nor does another body take over a claim left unanswered past its lease.
    sha = hashlib.sha256(b'{"name": "Ivy"}').hexdigest()
    unanswered_claim(
        ws, "webhook:hooks/lead.ipynb", "reused-2", "hooks/lead.ipynb", sha, PAST_LEASE
    )
    jo = httpx.post(
        f"{server}{hook}", json={"name": "Jo"}, headers={"X-Webhook-Id": "reused-2"}, timeout=30
    )
    assert assert_error(jo, 409, "X-Webhook-Id")["code"] == "IdempotencyConflict"
    names = {e.get("name") for e in events_queued(server, "hooks/lead")}
    assert "Gus" in names and not names & {"Hal", "Jo"}


def signed(body: bytes) -> dict[str, str]:
    """The headers of a delivery signed with the `http` connection's token."""
    return {
        "X-Lpstudio-Signature": hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    }


def test_a_call_with_a_phone_that_is_not_e164_is_told_so(
    server: str, tokens: dict[str, str]
) -> None:
    """Its answer quoted the input schema's regular expression to the bot's builder."""
    refused = call(server, tokens["all"], "optin", {**OPTIN, "phone": "14155550100"})
    error = assert_error(refused, 400, "phone")
    assert '"14155550100" is not a phone number in E.164' in error["message"], error
    assert "does not match" not in error["message"]


def test_a_lead_that_does_not_fit_the_recipe_s_input_schema_is_refused_and_nothing_queued(
    server: str,
) -> None:
    """A lead with a phone that is not E.164 was queued, and its job failed in the
    LivePerson connector: the sender was told 202 and never learned why."""
    hook = api(server, "otto", "GET", "/recipes/hooks/new_lead.ipynb").json()["trigger"]["hook"]
    lead = {"first_name": "Kim", "phone": "0415 555 0142", "interest": "solar panels"}
    delivery = {"X-Webhook-Id": "lead-kim-1"}
    body = json.dumps(lead).encode()
    refused = httpx.post(
        f"{server}{hook}", content=body, headers={**delivery, **signed(body)}, timeout=30
    )
    error = assert_error(refused, 400, "phone")
    assert "0415 555 0142" in error["message"] and "nothing was queued" in error["message"]
    assert "not a phone number in E.164" in error["message"]  # not the regular expression
    assert "+14155550100" in error["fix"]
    assert events_queued(server, "hooks/new_lead.ipynb") == []

    # The corrected lead, redelivered under the same id, is queued: nothing was claimed.
    fixed = json.dumps({**lead, "phone": "+61415550142"}).encode()
    accepted = httpx.post(
        f"{server}{hook}", content=fixed, headers={**delivery, **signed(fixed)}, timeout=30
    )
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1, accepted.text

    # A list with one bad lead queues none of them, naming the lead.
    batch = [{"phone": "+14155550100"}, {"phone": "+14155550101"}, {"phone": "14155550102"}]
    body = json.dumps(batch).encode()
    error = assert_error(
        httpx.post(f"{server}{hook}", content=body, headers=signed(body), timeout=30),
        400,
        "2.phone",
    )
    assert "14155550102" in error["message"]
    assert events_queued(server, "hooks/new_lead.ipynb") == [{**lead, "phone": "+61415550142"}]


def test_a_refused_signature_names_the_header_the_sender_signed_in(server: str) -> None:
    """It was always X-Lpstudio-Signature: a Shopify or GitHub sender was told to fix a
    header it never sent."""
    hook = api(server, "otto", "GET", "/recipes/hooks/new_lead.ipynb").json()["trigger"]["hook"]
    body = json.dumps({"phone": "+14155550100"}).encode()
    for header, wrong in (
        ("X-Shopify-Hmac-Sha256", "AAAA"),
        ("X-Hub-Signature-256", "sha256=" + "0" * 64),
        ("X-Lpstudio-Signature", "0" * 64),
    ):
        answer = httpx.post(f"{server}{hook}", content=body, headers={header: wrong}, timeout=30)
        assert assert_error(answer, 401, header)["code"] == "BadSignature"
    unsigned = httpx.post(f"{server}{hook}", content=body, timeout=30)
    assert_error(unsigned, 401, "X-Lpstudio-Signature")
    assert all(e["phone"] != "+14155550100" for e in events_queued(server, "hooks/new_lead"))


def test_a_refused_signature_names_the_wrong_header_of_several(server: str) -> None:
    """A delivery signed in several headers named X-Lpstudio-Signature, or the first one it
    carried, whichever one was wrong: the sender was told to fix the header that was right."""
    hook = api(server, "otto", "GET", "/recipes/hooks/new_lead.ipynb").json()["trigger"]["hook"]
    body = json.dumps({"phone": "+14155550199"}).encode()

    def signatures(digest: bytes) -> dict[str, str]:
        return {
            "X-Lpstudio-Signature": digest.hex(),
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Hub-Signature-256": "sha256=" + digest.hex(),
        }

    right = signatures(hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).digest())
    for wrong, value in signatures(bytes(32)).items():
        headers = {**right, wrong: value}
        answer = httpx.post(f"{server}{hook}", content=body, headers=headers, timeout=30)
        assert assert_error(answer, 401, wrong)["code"] == "BadSignature"
    assert all(e["phone"] != "+14155550199" for e in events_queued(server, "hooks/new_lead"))


# -- fuzzing: malformed JSON and wrong types, everywhere -------------------------------------

PATH_VALUES = {
    "recipe": "lab/double.ipynb",
    "job_id": "1",
    "name": "optins",
    "picklist": "handoffs",
    "kind": "ipynb",
    "path": "optin",
    "hook_id": "0" * 40,
}

MALFORMED = st.one_of(
    st.binary(min_size=1, max_size=40).filter(lambda b: not _is_json_object(b)),
    st.sampled_from(
        [b"{", b'{"a":', b"[1,", b"nul", b"\xff\xfe", b'{"x": NaN', b"{'a': 1}", b'{"x": NaN}']
    ),
)
WRONG_TYPES = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
)


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, UnicodeDecodeError):
        return False


def _body_strategy(schema: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Malformed JSON, JSON of a wrong type, or an object whose known fields hold wrong types."""
    names = sorted(schema.get("properties", {})) or ["anything"]
    objects = st.dictionaries(st.sampled_from(names), WRONG_TYPES, min_size=1, max_size=3)
    as_json = st.one_of(WRONG_TYPES, objects).map(lambda v: json.dumps(v).encode())
    return st.one_of(MALFORMED, as_json)


def _url(route: Any) -> str:
    path = route.path
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


WRITE_OPERATIONS = [
    pytest.param(route, op, id=f"{op.method} {route.path}")
    for route in ROUTES
    for op in route.operations.values()
    if op.body is not None and route.auth == USER
]
QUERY_OPERATIONS = [
    pytest.param(route, op, id=f"{op.method} {route.path}")
    for route in ROUTES
    for op in route.operations.values()
    if route.auth == USER
    and any(s.get("type") == "integer" or "enum" in s for s in op.query.values())
]
FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize(("route", "op"), WRITE_OPERATIONS)
def test_malformed_bodies_are_refused_on_every_write_route(
    route: Any, op: Any, server: str, ws: Path, tokens: dict[str, str]
) -> None:
    before = state(ws)

    @FUZZ
    @given(body=_body_strategy(op.body))
    def send(body: bytes) -> None:
        assume(body.strip())
        parsed = _loads(body)
        assume(parsed is _MALFORMED or first_problem(op.body, parsed) is not None)
        answer = api(
            server,
            "alice",
            op.method,
            _url(route),
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert_error(answer, 400)

    send()
    assert state(ws) == before


@pytest.mark.parametrize("limit", ["1\x1f", " 1", "1_000", "\u0661", "+1", "1.0"])
def test_a_whole_number_in_a_query_is_digits_only(limit: str, server: str) -> None:
    answer = api(server, "alice", "GET", "/audit", params={"limit": limit})
    assert_error(answer, 400, "limit")


@pytest.mark.parametrize(("route", "op"), QUERY_OPERATIONS)
def test_wrong_query_values_are_refused(route: Any, op: Any, server: str) -> None:
    typed = {
        name: schema
        for name, schema in op.query.items()
        if schema.get("type") == "integer" or "enum" in schema
    }

    @FUZZ
    @given(name=st.sampled_from(sorted(typed)), value=st.text(min_size=1, max_size=8))
    def send(name: str, value: str) -> None:
        schema = typed[name]
        try:
            parsed: Any = int(value) if schema.get("type") == "integer" else value
        except ValueError:
            parsed = value
        assume(first_problem(schema, parsed) is not None)
        assert_error(api(server, "alice", op.method, _url(route), params={name: value}), 400, name)

    send()


@pytest.mark.parametrize("route", BOT_POSTS, ids=lambda r: r.path)
def test_malformed_calls_and_webhooks_are_refused(
    route: Any, server: str, ws: Path, tokens: dict[str, str]
) -> None:
    before = state(ws)
    hook = api(server, "otto", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    url = hook if route.auth == OPEN else f"{API}{_url(route)}"

    @FUZZ
    @given(body=st.one_of(MALFORMED, WRONG_TYPES.map(lambda v: json.dumps(v).encode())))
    def send(body: bytes) -> None:
        if route.auth == OPEN:  # a JSON list is a batch of events: not malformed
            assume(not isinstance(_loads(body), list))
        answer = httpx.post(
            f"{server}{url}", content=body, headers={"API-TOKEN": tokens["fuzz"]}, timeout=30
        )
        assert_error(answer, 400)

    send()
    assert state(ws) == before


_MALFORMED = object()


def _loads(raw: bytes) -> Any:
    try:
        return strictjson.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _MALFORMED


def test_no_route_answers_500_to_nonsense_paths(server: str) -> None:
    for method, path in (
        ("GET", "/jobs/abc"),
        ("GET", "/jobs/99999999999999999999"),
        ("POST", "/recipes/%00.ipynb/run"),
        ("GET", "/recipes/a%2F..%2F..%2Fb.ipynb"),
        ("PATCH", "/recipes"),
        ("GET", "/connections/%ff/picklists/x"),
    ):
        answer = api(server, "alice", method, path)
        assert 400 <= answer.status_code < 500, (method, path, answer.text)
        assert "Traceback" not in answer.text


def test_a_recipe_path_that_is_not_utf_8_is_refused_naming_the_recipe(
    server: str, ws: Path
) -> None:
    """`/recipes/lab/%FF.ipynb` got tornado's 400 with an empty body, where any other bad
    input gets the API's error naming the field and the fix; on every route of a recipe,
    after the caller is known (no user: 401, as on any user's route)."""
    before = state(ws)
    routes = [route for route in ROUTES if "{recipe}" in route.path]
    assert len(routes) > 5
    for route in routes:
        path = _url(route).replace(PATH_VALUES["recipe"], "lab/%FF.ipynb")
        for method, op in route.operations.items():
            sent = {"json": {}} if op.body is not None else {}
            error = assert_error(api(server, "alice", method, path, **sent), 400, "recipe")
            assert error["code"] == "InputError", (method, path, error)
            assert "the recipe in the path is not UTF-8 text: lab/%FF.ipynb" in error["message"]
            assert error["fix"] == "percent-encode the UTF-8 bytes of its text (é as %C3%A9)"
            assert_error(api(server, None, method, path, **sent), 401)
    assert state(ws) == before


def test_a_repeat_whose_first_request_let_the_key_go_is_told_to_retry(tmp_path: Path) -> None:
    # The first request with a key failed before its job (its recipe not ready) and released
    # the claim while a repeat was waiting on it: the repeat was answered 500.
    import asyncio
    from types import SimpleNamespace

    from lpstudio.idempotency import IdempotentCalls
    from lpstudio.server.calls import _repeat
    from lpstudio.store import Store

    store = Store(f"sqlite:///{tmp_path / 'lpstudio.db'}", create=True)
    store.migrate()
    calls = IdempotentCalls(store)
    claim, made = calls.claim("cb-bot", "42", "crm", "d" * 64)
    assert made
    calls.release(claim)  # what the first request does when its job cannot start

    async def blocking(fn: Any, *args: Any) -> Any:
        return fn(*args)

    app = SimpleNamespace(blocking=blocking, service=SimpleNamespace(calls=calls))
    status, answer, headers = asyncio.run(_repeat(app, claim, "d" * 64, 5.0, "sync"))
    store.close()

    assert status == 409 and answer["error"]["code"] == "InProgress"
    assert answer["error"]["field"] == "Idempotency-Key"
    assert "retry with the same key" in answer["error"]["fix"]
    assert headers == {"Idempotent-Replayed": "true", "Retry-After": "1"}
