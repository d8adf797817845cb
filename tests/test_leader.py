"""The scheduler hosted in the server: one leader among the servers sharing a store."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from lpstudio.leader import StoreLease
from lpstudio.models import Lease, utcnow
from lpstudio.store import SCHEMA_HEAD
from lpstudio.studio import Studio
from tests.browser import free_port
from tests.conftest import LPSTUDIO, wait_for, write_recipe
from tests.servers import API, Served, serving


def _expire(studio: Studio) -> None:
    """What a leader's death looks like to the others once its lease runs out."""
    with studio.store.write() as s:
        for row in s.query(Lease).all():
            row.expires_at = utcnow() - timedelta(seconds=1)


def test_one_holder_at_a_time_until_the_lease_expires(studio: Studio) -> None:
    first, second = StoreLease(studio.store), StoreLease(studio.store)
    assert first.acquire() and first.acquire()  # taken, then renewed
    assert not second.acquire()
    assert first.status()["is_leader"] and not second.status()["is_leader"]
    assert second.status()["leader"] == first.holder
    _expire(studio)
    assert second.status()["leader"] is None
    assert second.acquire() and not first.acquire()
    first.release()  # not its lease any more: changes nothing
    assert second.status()["is_leader"]
    second.release()
    assert first.acquire()


def _leader(servers: list[Served]) -> Served:
    def one() -> Served | None:
        states = [s.api("alice", "GET", "/scheduler").json() for s in servers]
        leaders = [s for s, state in zip(servers, states, strict=True) if state["is_leader"]]
        assert len(leaders) <= 1, states
        return leaders[0] if leaders else None

    return wait_for(one, timeout=60, what="a scheduler leader")


def _webhook_job_succeeds(server: Served, hook: str, n: int) -> None:
    """Event `n` (each its own: the same body again is taken as its sender's retry)."""
    posted = httpx.post(f"{server.url}{hook}", json={"n": n}, timeout=30)
    assert posted.status_code == 202, posted.text
    (job_id,) = posted.json()["jobs"]

    def done() -> bool:
        status = server.api("alice", "GET", f"/jobs/{job_id}").json()["status"]
        assert status in ("queued", "running", "succeeded"), status
        return status == "succeeded"

    wait_for(done, timeout=120, what=f"webhook job {job_id} to run")


def test_servers_sharing_a_store_share_rate_limits_and_elect_one_scheduler(ws: Path) -> None:
    write_recipe(ws, "hooks/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
    with Studio.open(ws, user="alice") as studio:
        studio.start("hooks/lead.ipynb")
        hook = studio.recipe_detail("hooks/lead.ipynb")["trigger"]["hook"]
        _, token = studio.api_clients.create("tight", ["*"], rate_per_minute=2)
    lease = "--LpstudioApp.scheduler_lease_seconds=2"
    with serving(ws, lease, name="a") as a, serving(ws, lease, name="b") as b:
        # Two calls per minute in all, whichever server answers them.
        for server, status in ((a, 404), (b, 404), (a, 429), (b, 429)):
            answer = httpx.post(
                f"{server.url}{API}/call/nowhere", json={}, headers={"API-TOKEN": token}
            )
            assert answer.status_code == status, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
        leader = _leader([a, b])
        follower = b if leader is a else a
        assert follower.api("alice", "GET", "/scheduler").json()["hosted"]
        # An event that reaches either server is run by the leader's scheduler.
        _webhook_job_succeeds(follower, hook, 1)
        leader.kill()  # kill -9: no clean release; the lease must run out first
        assert _leader([follower]) is follower
        _webhook_job_succeeds(follower, hook, 2)


def test_a_server_may_leave_the_scheduler_to_daemons(ws: Path) -> None:
    with serving(ws, "--LpstudioApp.scheduler=False") as server:
        state = server.api("otto", "GET", "/scheduler").json()
        assert state == {"hosted": False, "leader": None, "expires_at": None, "is_leader": False}


def test_a_server_that_never_starts_takes_no_lease_and_fires_nothing(ws: Path) -> None:
    """A server refused at start (its port taken, or run as root without --allow-root) took
    the scheduler's lease and queued due schedules before exiting: the real server then
    stood by for a lease's length."""
    write_recipe(
        ws,
        "p/tick",
        metadata={"title": "tick", "trigger": {"kind": "schedule", "cron": "* * * * *"}},
    )
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/tick")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [
                LPSTUDIO,
                "serve",
                f"--workspace={ws}",
                f"--port={port}",
                "--allow-root",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert refused.returncode != 0 and "already in use" in refused.stderr, refused.stderr
    with Studio.open(ws, user="alice") as studio:
        assert StoreLease(studio.store).status()["leader"] is None
        assert studio.jobs() == []


def test_a_server_left_on_an_older_version_stops_serving_an_upgraded_store(ws: Path) -> None:
    """Upgraded by a newer lpstudio on another machine, the store was still served (to
    users seen before) and its scheduler led on, running jobs with the old code."""
    with serving(ws) as server:
        assert server.api("alice", "GET", "/jobs").status_code == 200
        with closing(sqlite3.connect(ws / "lpstudio.db")) as db, db:
            db.execute("UPDATE alembic_version SET version_num = '0099'")
        wait_for(
            lambda: server.api("alice", "GET", "/jobs").status_code == 503,
            what="the server to see the upgrade",
        )
        error = server.api("alice", "GET", "/jobs").json()["error"]
        assert error["code"] == "StoreUpgraded" and error["field"] == "store", error
        assert "0099" in error["message"] and "Upgrading" in error["fix"], error
        wait_for(
            lambda: "this scheduler stops" in server.log.read_text(), what="the scheduler to stop"
        )
        with closing(sqlite3.connect(ws / "lpstudio.db")) as db, db:
            db.execute("UPDATE alembic_version SET version_num = :head", {"head": SCHEMA_HEAD})


def _serve_refused(ws: Path, option: str) -> subprocess.CompletedProcess[str]:
    """`lpstudio serve` with `option`, which must make it exit (not serve) with an error."""
    refused = subprocess.run(
        [LPSTUDIO, "serve", f"--workspace={ws}", f"--port={free_port()}", "--allow-root", option],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    return refused


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("scheduler_lease_seconds=0", "number of seconds above 0"),
        ("scheduler_lease_seconds=-5", "number of seconds above 0"),
        ("scheduler_lease_seconds=nan", "number of seconds above 0"),
        ("scheduler_lease_seconds=inf", "number of seconds above 0"),
        ("call_timeout=-1", "number of seconds above 0"),
        ("call_timeout=nan", "number of seconds above 0"),
        ("repeat_window=nan", "0 or more seconds"),
        ("threads=0", "whole number of threads from 1"),
        ("scheduler_workers=-3", "whole number from 1"),
    ],
)
def test_a_setting_no_server_can_work_with_is_refused_at_start_up(
    ws: Path, setting: str, said: str
) -> None:
    """A lease of 0 or less would let every server lead in turn, NaN or infinity none ever
    (or keep a dead leader's lease for good); a call timeout of -1 or NaN answered every
    call 504 at once; no threads or workers stopped the server with a traceback: the server
    refuses to start, naming the setting."""
    name = setting.split("=")[0]
    refused = _serve_refused(ws, f"--LpstudioApp.{setting}")
    assert f"LpstudioApp.{name}" in refused.stderr, refused.stderr
    assert said in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr


def test_a_setting_of_the_wrong_type_stops_lpstudio_serve_naming_it(ws: Path) -> None:
    """Jupyter logs an extension that fails to load and serves on without it: `lpstudio
    serve` would be a server with no API at all."""
    refused = _serve_refused(ws, "--LpstudioApp.scheduler_lease_seconds=abc")
    assert "'scheduler_lease_seconds' trait" in refused.stderr and "'abc'" in refused.stderr


def test_a_killed_scheduler_s_presence_is_cleared_by_the_next_one(studio: Studio) -> None:
    """Each scheduler's presence is a lease of its own name: a killed one's expires and is
    never taken again, so the next scheduler to start clears it rather than leave one row
    per killed process in the store."""
    from lpstudio.leader import present

    killed, other = present(studio.store), present(studio.store)
    assert killed.acquire() and other.acquire()
    with studio.store.write() as s:  # the killed one stopped renewing long ago
        s.get(Lease, killed.name).expires_at = utcnow() - timedelta(seconds=1)
    assert present(studio.store).acquire()
    with studio.store.read() as s:
        names = {row.name for row in s.query(Lease).all()}
    assert killed.name not in names and other.name in names and len(names) == 2
