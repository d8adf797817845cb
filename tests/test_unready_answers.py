"""What bots and load balancers get from a real server when it cannot serve them now, and
what its log says of it: a call of a broken recipe is told when to retry and nothing of the
recipe's file (its admin reads that in the log); an unauthenticated health route answers
at once, the store locked or not; and the server's expected answers (504, 503 with
Retry-After) are warnings, its real faults (500) errors with the request's headers."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import psycopg
import pytest

from lpstudio.errors import RecipeError
from lpstudio.recipe import Recipe
from lpstudio.server.handlers import HEALTH_WAIT
from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.postgres import postgres_server
from tests.servers import API, JUPYTER_TOKEN, Served, serving


def _callable(root: Path, name: str, cells: tuple[str, ...]) -> Path:
    return write_recipe(
        root,
        f"bots/{name}",
        cells=("import time\nimport lpstudio.kernel as lp", *cells),
        metadata={"title": name, "timeout": 120, "trigger": {"kind": "callable", "path": name}},
    )


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bots/odd, a callable whose notebook a test breaks; bots/slow, which answers after 3 s
    (its call timeout 1 s); a job whose parameters are no JSON, as a store edited by hand
    holds (its route answers 500, the server's own fault)."""
    root = tmp_path_factory.mktemp("unready") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        _callable(root, "odd", ("lp.respond({'ok': True})",))
        _callable(root, "slow", ("time.sleep(3)\nlp.respond({'ok': True})",))
        for name in ("odd", "slow"):
            studio.start(f"bots/{name}.ipynb")
        studio.save_settings("bots/slow.ipynb", call_timeout=1)
        version = studio.store.snapshot("bots/fault.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="bots/fault.ipynb", version_id=version, trigger="manual", user="alice"
        )
    with closing(sqlite3.connect(root / "lpstudio.db")) as db, db:
        db.execute("UPDATE jobs SET parameters = '{\"n\": ' WHERE id = ?", (job.id,))
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False", name="unready") as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token()


def call(served: Served, token: str, path: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}{API}/call/{path}", json={}, headers={"API-TOKEN": token}, timeout=60
    )


def records(served: Served, pattern: str) -> list[tuple[str, str]]:
    """The server log's records matching `pattern` (a record may span lines), each with the
    record before it: Jupyter dumps a failed request's headers just before its line."""
    found = re.split(r"\n(?=\[[A-Z] \d)", served.log.read_text())
    pairs = zip(["", *found[:-1]], found, strict=True)
    return [(before, now) for before, now in pairs if re.search(pattern, now)]


# -- 1: a bot calling a broken recipe ---------------------------------------------------------


def test_a_call_of_a_broken_recipe_says_when_to_retry_and_not_which_file(
    served: Served, token: str, ws: Path
) -> None:
    # It got no Retry-After, and its fix named the recipe's file and the admin's routes:
    # `its admin fixes bots/odd.ipynb (GET /lpstudio/api/v1/recipes ...)`.
    notebook = ws / "projects" / "bots" / "odd.ipynb"
    good = notebook.read_bytes()
    notebook.write_bytes(good[:-30])  # cut short, as by a save in the middle of an edit
    try:
        answer = call(served, token, "odd")
    finally:
        notebook.write_bytes(good)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "60", answer.headers
    error = answer.json()["error"]
    assert error["code"] == "RecipeNotReady" and error["field"] == "recipe", error
    assert "again later" in error["fix"], error
    for unsaid in ("bots/", ".ipynb", API, "lpstudio recipes"):
        assert unsaid not in answer.text, answer.text
    # Its admin reads which recipe, and why, in the server's log: a warning.
    said = wait_for(lambda: records(served, r"\] 503 POST .*/call/odd \(RecipeNotReady\): "))
    record = said[-1][1]
    assert record.startswith("[W ") and "the started recipe bots/odd.ipynb" in record, record
    assert "lpstudio recipes" in record, record  # its fix, in the CLI's terms


def test_a_broken_trigger_s_fix_is_said_once_in_the_server_s_log(
    served: Served, token: str, ws: Path
) -> None:
    """A started callable whose input schema's `$ref` leads nowhere since: the log's line
    names the recipe, what is wrong and its fix, once (it said the fix twice, and why)."""
    notebook = ws / "projects" / "bots" / "odd.ipynb"
    good = notebook.read_text()
    nb = json.loads(good)
    nb["metadata"]["lpstudio"]["trigger"]["input_schema"] = {"$ref": "#/$defs/nope"}
    notebook.write_text(json.dumps(nb))
    try:
        with pytest.raises(RecipeError) as broken:
            Recipe.load(notebook, "bots/odd.ipynb")
        answer = httpx.post(
            f"{served.url}{API}/call/odd", json={"n": 2}, headers={"API-TOKEN": token}, timeout=60
        )
    finally:
        notebook.write_text(good)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["field"].startswith("metadata.lpstudio.trigger"), answer.text
    pattern = r"\] 503 POST .*/call/odd \(RecipeNotReady\): .*nowhere"
    record = wait_for(lambda: records(served, pattern))[-1][1]
    assert record.count(broken.value.fix) == 1, record
    assert record.count(broken.value.message.removeprefix("recipe bots/odd.ipynb: ")) == 1, record


# -- 2: a load balancer's health check ----------------------------------------------------------


def test_the_health_route_answers_anyone_that_the_workspace_is_served(
    served: Served, token: str
) -> None:
    # Jupyter's /api/status, the README's route for health checks, answered 403 to any
    # caller without the server's full token.
    for headers in ({}, {"API-TOKEN": token}, {"Authorization": f"Bearer {token}"}):
        status = httpx.get(f"{served.url}/api/status", headers=headers, timeout=30)
        assert status.status_code == 403, status.text
        health = httpx.get(f"{served.url}{API}/health", headers=headers, timeout=30)
        assert health.status_code == 200, health.text
        assert health.json() == {"status": "ok"}, health.text  # no version, path or count
    document = served.api("alice", "GET", "/openapi.json").json()
    operation = document["paths"]["/health"]["get"]
    assert operation["security"] == [], operation
    assert "Retry-After" in operation["responses"]["503"]["headers"], operation


def test_the_health_route_answers_at_once_when_the_store_does_not(tmp_path: Path) -> None:
    # A PostgreSQL store whose tables another session locked (a migration under way on
    # another machine) keeps every read waiting, with no timeout: a probe was never
    # answered, where a load balancer wants an answer within seconds.
    with postgres_server() as url:
        root = tmp_path / "ws"
        root.mkdir()
        (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
        Studio.init(root, accept_terms=True, admin="alice").close()
        with serving(root, "--LpstudioApp.scheduler=False", name="locked") as served:
            health = f"{served.url}{API}/health"
            assert httpx.get(health, timeout=30).json() == {"status": "ok"}
            raw = url.replace("postgresql+psycopg", "postgresql")
            with psycopg.connect(raw) as holder, holder.transaction():
                holder.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
                began = time.monotonic()
                locked = httpx.get(health, timeout=120)
                took = time.monotonic() - began
            assert locked.status_code == 503 and took < HEALTH_WAIT + 2, (took, locked.text)
            assert int(locked.headers["Retry-After"]) > 0, locked.headers
            assert locked.json() == {
                "error": {
                    "code": "ServiceUnavailable",
                    "message": "the service is unavailable for now",
                    "field": None,
                    "fix": "try again shortly",
                }
            }
            # Unlocked, it is served again: the look that waited ended.
            wait_for(lambda: httpx.get(health, timeout=30).status_code == 200, timeout=30)


# -- 3: what the server's log says of them ---------------------------------------------------------


def test_a_slow_recipe_s_504_is_a_warning_and_a_real_fault_an_error(
    served: Served, token: str
) -> None:
    # Every 504 was logged at ERROR with a dump of the request's headers, as a fault of the
    # server: an ordinary slow recipe flooded the error log.
    late = call(served, token, "slow")
    assert late.status_code == 504 and late.json()["error"]["code"] == "Timeout", late.text
    before, line = wait_for(lambda: records(served, r"\] 504 POST .*/call/slow "))[-1]
    assert line.startswith("[W ") and "ms referer=None" in line, line
    assert '"User-Agent"' not in before and not before.startswith("[E "), before
    # A fault of the server's own stays an error, with the request's headers, masked of
    # the server's token as the rest of the log is.
    agent = f"probe/{JUPYTER_TOKEN}"
    fault = served.api("alice", "GET", "/jobs/1", headers={"User-Agent": agent})
    assert fault.status_code == 500, fault.text
    before, line = wait_for(lambda: records(served, r"\] 500 GET .*/jobs/1 "))[-1]
    assert line.startswith("[E ") and before.startswith("[E "), (before, line)
    assert '"User-Agent": "probe/' in before, before
    assert JUPYTER_TOKEN not in served.log.read_text()
