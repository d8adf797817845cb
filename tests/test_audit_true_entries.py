"""What several people acting on one workspace at once read in the audit log and the forms:
a cancel or a stop that did nothing is no entry (two cancels of one job named two people
as its canceller), a stop of a stopped recipe writes nothing (a never-started recipe's stop
counted its settings' revision up, and a form open on them was refused its next save), a
settings entry names what it changed and the revision it made, and a job held for a
recipe whose notebook is gone says so, with fixes that work, in the API's terms over REST.

One real `lpstudio serve` on loopback (its scheduler off: a queued job stays queued), real
SQLite; alice is an admin, otto an operator, ana an analyst.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.conftest import set_job, write_recipe
from tests.servers import API, Served, serving


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audited") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.store.ensure_user("otto", "operator")
        studio.store.ensure_user("ana", "analyst")
    return root


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        yield served


def cli(ws: Path, user: str, *args: str) -> Result:
    return CliRunner(env={"LPSTUDIO_USER": user}).invoke(main, [*args, "--workspace", str(ws)])


def audited(server: Served, action: str, target: str) -> list[dict[str, Any]]:
    """The audit entries of `action` on `target`, oldest first, as the REST route gives them."""
    entries = server.api("alice", "GET", "/audit", params={"limit": 500}).json()["entries"]
    return [e for e in reversed(entries) if (e["action"], e["target"]) == (action, target)]


def queued_job(ws: Path, recipe: str, trigger: str = "manual", **fields: Any) -> int:
    """A job of `recipe` that no worker runs (the scheduler is off), set as `fields` say."""
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(recipe, "{}", {}, "alice")
        job = studio.store.create_job(
            recipe=recipe, version_id=version, trigger=trigger, user="alice"
        )
        if fields:
            set_job(studio.store, job.id, **fields)
    return job.id


# -- cancels ------------------------------------------------------------------------------


def test_only_the_cancel_that_ended_a_job_or_first_asked_its_worker_is_audited(
    ws: Path, server: Served
) -> None:
    """olga's and carol's cancels of one job at once: one said `cancelled`, the other
    `nothing`, and the log had both of them cancelling it."""
    write_recipe(ws, "p/slow")
    queued = queued_job(ws, "p/slow.ipynb")
    now = datetime.now(UTC)
    running = queued_job(  # its worker is this process, alive and beating: not reaped
        ws,
        "p/slow.ipynb",
        status="running",
        started_at=now,
        heartbeat_at=now,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    try:
        said = []
        for job in (queued, running):
            first = server.api("otto", "POST", f"/jobs/{job}/cancel").json()["cancel"]
            second = json.loads(cli(ws, "alice", "cancel", str(job), "--json").output)["cancel"]
            said.append((first, second))
    finally:
        with Studio.open(ws, user="alice") as studio:
            set_job(studio.store, running, status="cancelled", finished_at=datetime.now(UTC))
    # The second asker of a running job is told it stops (it does), but did not ask first.
    assert said == [("cancelled", "nothing"), ("requested", "requested")]
    entries = audited(server, "cancel", "p/slow.ipynb")
    assert [(e["user"], e["detail"]) for e in entries] == [
        ("otto", {"job": queued, "outcome": "cancelled"}),
        ("otto", {"job": running, "outcome": "requested"}),
    ]


def test_a_cancel_that_another_s_ended_between_its_read_and_its_write_is_not_audited(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the team hit, in one order: carol read the job queued, olga's cancel ended
    it, then carol's found nothing to do (it was audited as hers all the same)."""
    write_recipe(ws, "p/raced")
    job = queued_job(ws, "p/raced.ipynb")
    request_cancel = Store.request_cancel
    with Studio.open(ws, user="ana") as carol, Studio.open(ws, user="otto") as olga:

        def olga_first(store: Store, job_id: Any) -> Any:
            monkeypatch.undo()
            assert olga.request_cancel(job_id)[1] == "cancelled"
            return request_cancel(store, job_id)

        monkeypatch.setattr(Store, "request_cancel", olga_first)
        ended, outcome = carol.request_cancel(job)
        assert (ended.status, outcome) == ("cancelled", "nothing")
        entries = [e for e in carol.audit_entries(50) if e["action"] == "cancel"]
    assert [(e["user"], e["detail"]["job"]) for e in entries if e["target"] == "p/raced.ipynb"] == [
        ("otto", job)
    ]


# -- stops --------------------------------------------------------------------------------


def test_a_stop_of_a_recipe_never_started_writes_nothing_and_a_form_still_saves(
    ws: Path, server: Served
) -> None:
    """olga's Stop of a recipe never started counted its revision up: bob's Settings form,
    open at revision 0, was refused 409 "changed elsewhere ... by olga"."""
    write_recipe(ws, "p/fresh")
    shown = server.api("ana", "GET", "/recipes/p/fresh.ipynb").json()
    assert (shown["revision"], shown["state"]) == (0, "stopped")
    for _ in range(3):
        stopped = server.api("otto", "POST", "/recipes/p/fresh.ipynb/stop")
        assert stopped.status_code == 200, stopped.text
        assert (stopped.json()["revision"], stopped.json()["state"]) == (0, "stopped")
    assert json.loads(cli(ws, "otto", "stop", "p/fresh", "--json").output)["state"] == "stopped"
    saved = server.api(
        "ana",
        "PUT",
        "/recipes/p/fresh.ipynb/settings",
        json={"parameters": {"x": 9}, "revision": 0},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == 1
    assert audited(server, "stop", "p/fresh.ipynb") == []


def test_a_stop_is_audited_once_and_the_state_is_said_once(ws: Path, server: Served) -> None:
    """Three Stops of one started recipe were three entries; its settings carried `state`
    beside the answer's own."""
    write_recipe(ws, "p/started")
    assert server.api("otto", "POST", "/recipes/p/started.ipynb/start").status_code == 200
    started = server.api("otto", "GET", "/recipes/p/started.ipynb").json()
    assert started["state"] == "started" and "state" not in started["settings"]
    for user in ("otto", "ana", "alice"):
        assert server.api(user, "POST", "/recipes/p/started.ipynb/stop").status_code == 200
    stopped = server.api("otto", "GET", "/recipes/p/started.ipynb").json()
    assert stopped["state"] == "stopped" and stopped["revision"] == started["revision"] + 1
    assert [e["user"] for e in audited(server, "stop", "p/started.ipynb")] == ["otto"]


# -- settings -----------------------------------------------------------------------------


def test_a_settings_entry_names_what_changed_and_its_revision_never_a_value(
    ws: Path, server: Served
) -> None:
    """Twenty saves by two people were twenty `{"changed": ["parameters"]}`: whose save put
    `secs = 9` there could not be read from the log."""
    write_recipe(
        ws,
        "p/tuned",
        parameters="secs: int = 1\nlabel: str = 'a'",
        metadata={"title": "tuned", "connections": {"files": {"type": "csv_file"}}},
    )
    for name in ("a", "b"):
        (ws / f"{name}.csv").write_text("id\n1\n")
    with Studio.open(ws, user="alice") as studio:
        for name in ("a", "b"):
            studio.connections.add(name, "csv_file", {"path": f"{name}.csv"}, "alice")
    put = {"parameters": {"secs": 9, "label": "hush-8c1f"}, "connections": {"files": "a"}}
    saved = server.api("ana", "PUT", "/recipes/p/tuned.ipynb/settings", json=put)
    assert saved.status_code == 200, saved.text
    assert cli(ws, "alice", "settings", "p/tuned", "-p", "label", "cli3").exit_code == 0
    assert cli(ws, "alice", "settings", "p/tuned", "--connection", "files=b").exit_code == 0
    entries = audited(server, "settings", "p/tuned.ipynb")
    assert [(e["user"], e["detail"]) for e in entries] == [
        (
            "ana",
            {
                "changed": ["parameters", "connections"],
                "parameters": ["label", "secs"],
                "connections": ["files"],
                "revision": 1,
            },
        ),
        ("alice", {"changed": ["parameters"], "parameters": ["label"], "revision": 2}),
        ("alice", {"changed": ["connections"], "connections": ["files"], "revision": 3}),
    ]
    shown = cli(ws, "alice", "audit", "--limit", "3").output
    assert '{"changed": ["parameters"], "parameters": ["label"], "revision": 2}' in shown, shown
    assert "hush-8c1f" not in shown and "cli3" not in shown
    assert "hush-8c1f" not in json.dumps(entries)


# -- held jobs of a recipe whose notebook is gone ---------------------------------------------


def test_a_held_job_of_a_gone_notebook_says_so_and_fixes_that_work(
    ws: Path, server: Served
) -> None:
    """`lpstudio poll --no-run`, the recipe stopped, then its notebook renamed in the file
    browser: the job said "`lpstudio start shop/cart.ipynb` runs its queued jobs", which
    answered "not found", and REST named the CLI's commands."""
    path = write_recipe(ws, "shop/cart")
    job = queued_job(ws, "shop/cart.ipynb", trigger="poll")
    held = server.api("otto", "GET", f"/jobs/{job}").json()["waits"]
    assert held == (  # the notebook there: in the API's terms over REST
        f"its recipe shop/cart.ipynb is stopped: POST {API}/recipes/shop/cart.ipynb/start runs "
        f"its queued jobs, POST {API}/jobs/{job}/cancel drops this one"
    )
    path.rename(path.with_name("cart2.ipynb"))
    gone = (
        "its recipe shop/cart.ipynb is stopped and its notebook is gone from "
        "projects/shop/cart.ipynb: put the notebook back there, then {start} runs its queued "
        "jobs (a renamed notebook is a recipe of its own); {cancel} drops this one"
    )
    shown = cli(ws, "otto", "show", str(job)).output
    said = gone.format(start="`lpstudio start shop/cart.ipynb`", cancel=f"`lpstudio cancel {job}`")
    assert f"  waits:    {said}\n" in shown, shown
    assert server.api("otto", "GET", f"/jobs/{job}").json()["waits"] == gone.format(
        start=f"POST {API}/recipes/shop/cart.ipynb/start",
        cancel=f"POST {API}/jobs/{job}/cancel",
    )
    assert cli(ws, "otto", "start", "shop/cart").exit_code != 0  # why the fix says otherwise
    # Its fixes work: the notebook put back, a start runs it (here: it is no longer held).
    path.with_name("cart2.ipynb").rename(path)
    assert cli(ws, "otto", "start", "shop/cart").exit_code == 0
    assert server.api("otto", "GET", f"/jobs/{job}").json()["waits"] is None
    assert cli(ws, "otto", "cancel", str(job)).exit_code == 0
    assert server.api("otto", "GET", f"/jobs/{job}").json()["status"] == "cancelled"
