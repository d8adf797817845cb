"""The scheduler: every trigger event and due schedule becomes exactly one job, whatever
stops, restarts, kills or rival daemons happen; cron in a time zone; the queue's limits;
what follows a failure (retries, notification, auto-stop); cancel, timeout and purge.

What is about processes is proven with real `lpstudio scheduler` processes against the
sandbox, waiting on the store's state, never on fixed sleeps. Time-dependent decisions
(cron, missed runs, auto-stop) use an in-process `Scheduler` with a clock the test sets.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text, update

from lpstudio.cli import main
from lpstudio.errors import LpstudioError, WorkspaceError
from lpstudio.failures import refused_for_good, tell
from lpstudio.leader import StoreLease
from lpstudio.models import Job, ScheduleForm, ScheduleRun, TriggerState, utcnow
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox
from lpstudio.scheduler import Scheduler, due_times
from lpstudio.settings import saved_settings
from lpstudio.store import FINAL_STATES, Store
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace

from .conftest import (
    LPSTUDIO,
    free_port,
    gone,
    run_cli,
    scheduler_running,
    set_job,
    set_settings,
    wait_for,
    write_recipe,
)
from .test_store_schema import migrate_to

POLL = {
    "kind": "poll",
    "connection": "shopify",
    "trigger": "new_or_updated_abandoned_checkout",
    "interval_minutes": 0.01,
}
BOTH = {"shopify": {"type": "shopify"}, "liveperson": {"type": "liveperson_proactive"}}

#: Sends the event's phone one message, once per job.
SEND = """\
import lpstudio.kernel as lp
sent = lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="t", skill="sales", recipients=[lp.event],
    consumer_id="phone", channels=["sms"], variables={"1": greeting},
)
lp.set_result({"phone": lp.event["phone"], "accepted": sent["accepted"]})
"""

#: The first run sleeps past any grace period (after its send); later runs do not.
LINGER_ONCE = """\
import os, time
if not os.path.exists("slept"):
    open("slept", "w").close()
    time.sleep(120)
"""


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox) -> Path:
    """A workspace whose `liveperson` and `shopify` connections point at the sandbox."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return root


@pytest.fixture
def db(ws: Path) -> Iterator[Store]:
    """The workspace's store, read the way any other client reads it."""
    store = Store(Workspace.load(ws).store_url)
    yield store
    store.close()


def cli(ws: Path, *args: str) -> Result:
    """The real CLI command, in-process (for commands that start no kernel)."""
    return CliRunner().invoke(main, [*args, "--workspace", str(ws)])


def poll_recipe(
    ws: Path, name: str, cells: tuple[str, ...], concurrency: int = 1, **extra: Any
) -> str:
    write_recipe(
        ws,
        f"p/{name}",
        parameters="greeting: str = 'Hi'  # body variable {{1}}",
        cells=cells,
        metadata={
            "title": name,
            "trigger": POLL,
            "connections": BOTH,
            "concurrency": concurrency,
            **extra,
        },
    )
    return f"p/{name}.ipynb"


def schedule_recipe(ws: Path, name: str, trigger: dict[str, Any], **extra: Any) -> str:
    write_recipe(
        ws,
        f"p/{name}",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'event': lp.event})",),
        metadata={"title": name, "trigger": {"kind": "schedule", **trigger}, **extra},
    )
    return f"p/{name}.ipynb"


def phones(start: int, stop: int) -> list[str]:
    """Distinct E.164 numbers in a range reserved for fiction."""
    return [f"+1202555{n:04d}" for n in range(start, stop)]


def add_checkouts(sandbox: Sandbox, numbers: list[str]) -> None:
    answer = httpx.post(
        f"{sandbox.url}/_sandbox/shopify/checkouts", json=[{"phone": p} for p in numbers]
    )
    assert answer.status_code == 200, answer.text


def received(sandbox: Sandbox) -> dict[str, int]:
    """How many messages each address was sent (accepted by LivePerson)."""
    answer = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()
    return {row["address"]: row["count"] for row in answer["recipients"]}


def jobs(db: Store, recipe: str | None = None) -> list[Job]:
    query = select(Job).order_by(Job.id)
    if recipe is not None:
        query = query.where(Job.recipe == recipe)
    with db.read() as s:
        return list(s.scalars(query).all())


def count(db: Store, recipe: str, *statuses: str) -> int:
    return sum(1 for job in jobs(db, recipe) if not statuses or job.status in statuses)


def by_status(db: Store, recipe: str) -> dict[str, int]:
    """How many jobs of the recipe are in each state (one light query, polled often)."""
    with db.read() as s:
        rows = s.execute(
            select(Job.status, func.count()).where(Job.recipe == recipe).group_by(Job.status)
        ).all()
    return {status: number for status, number in rows}


def all_final(db: Store, recipe: str, expected: int) -> bool:
    found = jobs(db, recipe)
    return len(found) >= expected and all(job.status in FINAL_STATES for job in found)


def last_poll(db: Store, recipe: str) -> datetime | None:
    with db.read() as s:
        state = s.get(TriggerState, recipe)
        return state.updated_at if state is not None else None


def wait_for_polls(db: Store, recipe: str, polls: int = 2) -> None:
    """Waits until the trigger has been polled `polls` more times (each poll, even an empty
    one, records its cursor): proof that the daemon looked, without sleeping."""
    for _ in range(polls):
        before = last_poll(db, recipe)
        wait_for(
            lambda before=before: (last_poll(db, recipe) or before) != before,
            what=f"a poll of {recipe}",
        )


class Daemon:
    """One `lpstudio scheduler` process; its log is a file of its own."""

    def __init__(self, ws: Path, log: Path, workers: int = 2, grace: float = 30) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    LPSTUDIO,
                    "scheduler",
                    "--workspace",
                    str(ws),
                    "--workers",
                    str(workers),
                    "--grace",
                    str(grace),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def started(self) -> list[int]:
        """The ids of the jobs this daemon started, from its own log."""
        return [int(n) for n in re.findall(r"job (\d+) started", self.log.read_text())]

    def stop(self, timeout: float = 90, signum: int = signal.SIGTERM) -> int:
        """SIGTERM, as a service manager stops it (or SIGHUP, as a closed terminal does);
        returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                log = self.log.read_text()
                raise AssertionError(f"the daemon ignored SIGTERM:\n{log}") from None
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def daemons(ws: Path, tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts `lpstudio scheduler` processes; every one is ended when the test ends."""
    started: list[Daemon] = []

    def start(workers: int = 2, grace: float = 30) -> Daemon:
        daemon = Daemon(ws, tmp_path / f"scheduler-{len(started) + 1}.log", workers, grace)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            if daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGTERM)
        for daemon in started:
            try:
                daemon.proc.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()


# -- 1. a poll recipe: one job per event, across stop/start and restarts --------------------


def test_each_checkout_becomes_one_job_across_stop_start_and_restart(
    ws: Path, sandbox: Sandbox, db: Store, daemons: Callable[..., Daemon]
) -> None:
    recipe = poll_recipe(ws, "cart", (SEND,), concurrency=2)
    assert cli(ws, "start", "p/cart").exit_code == 0
    add_checkouts(sandbox, phones(0, 5))
    daemon = daemons()

    wait_for(lambda: count(db, recipe, "succeeded") == 5, timeout=120, what="5 jobs")
    add_checkouts(sandbox, phones(5, 8))
    wait_for(lambda: count(db, recipe, "succeeded") == 8, timeout=120, what="8 jobs")
    assert sorted(job.event["phone"] for job in jobs(db, recipe)) == phones(0, 8)
    assert {job.trigger for job in jobs(db, recipe)} == {"poll"}
    # Queued by the daemon, not by whoever launched it (a service manager's root became a
    # person with the default role).
    assert {job.user for job in jobs(db, recipe)} == {"lpstudio:scheduler"}

    # Stopped and started again, the recipe goes on from its cursor: what came meanwhile is
    # queued once, nothing earlier again.
    assert cli(ws, "stop", "p/cart").exit_code == 0
    add_checkouts(sandbox, phones(8, 9))
    assert cli(ws, "start", "p/cart").exit_code == 0
    wait_for(lambda: count(db, recipe, "succeeded") == 9, timeout=120, what="9 jobs")
    wait_for_polls(db, recipe)
    assert count(db, recipe) == 9

    # A restarted daemon goes on from the cursor as well.
    assert daemon.stop() == 0
    add_checkouts(sandbox, phones(9, 10))
    daemons()
    wait_for(lambda: count(db, recipe, "succeeded") == 10, timeout=120, what="10 jobs")
    wait_for_polls(db, recipe)

    assert count(db, recipe) == 10
    assert sorted(job.event["phone"] for job in jobs(db, recipe)) == phones(0, 10)
    assert received(sandbox) == dict.fromkeys(phones(0, 10), 1)


def test_a_since_reset_during_a_poll_wins_over_that_poll_s_cursor(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lpstudio start --reset-since` while a poll is fetching: the poll in flight neither
    moves the cursor past the reset nor queues its page; the next poll starts at the reset."""
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/cart")
        add_checkouts(sandbox, phones(0, 3))
        assert len(studio.poll("p/cart", run=False)) == 3
        add_checkouts(sandbox, phones(3, 5))

        connector = studio.connections.open("shopify").connector
        name = POLL["trigger"]
        fetch = connector.poll_triggers[name].poll
        resets: list[Result] = []

        def reset_while_fetching(conn: Any, since: str, cursor: Any) -> Any:
            page = fetch(conn, since, cursor)
            if not resets:  # an admin's reset lands while this page is on its way
                resets.append(cli(ws, "start", "p/cart", "--reset-since", "2h"))
            return page

        trigger = replace(connector.poll_triggers[name], poll=reset_while_fetching)
        monkeypatch.setitem(connector.poll_triggers, name, trigger)
        in_flight = studio.poll("p/cart", run=False)
        assert resets[0].exit_code == 0, resets[0].output
        with db.read() as s:
            state = s.get(TriggerState, recipe)
            assert state is not None and state.cursor is None and state.seen == []
            reset_to = datetime.fromisoformat(state.since)
        assert abs(reset_to - (utcnow() - timedelta(hours=2))) < timedelta(minutes=5)
        assert in_flight == []
        # The audit log says the cursor moved, and where to: a reset re-sends or skips.
        moved = next(e for e in studio.store.audit_log() if e.action == "start")
        assert datetime.fromisoformat(moved.detail["reset_since"]) == reset_to, moved.detail

        # From the reset moment: every checkout since then once more, the newest ones once
        # (the sandbox's own older checkouts, from before this test, come too).
        after = studio.poll("p/cart", run=False)
    ours = set(phones(0, 5))
    assert sorted(job.event["phone"] for job in after if job.event["phone"] in ours) == phones(0, 5)
    queued = [job.event["phone"] for job in jobs(db, recipe) if job.event["phone"] in ours]
    assert sorted(queued) == sorted(phones(0, 3) * 2 + phones(3, 5))


def checkout_reads(shop: Sandbox) -> int:
    """How many times the shop was asked for its checkouts."""
    log = httpx.get(f"{shop.url}/_sandbox/requests", timeout=10).json()["requests"]
    return sum(entry["path"].endswith("/checkouts.json") for entry in log)


def poll_cut_after_its_first_page(
    studio: Studio, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starts p/cart, adds more carts than a page and polls it, the shop failing (403) after
    the first page: the poll's cursor keeps the next page's link. Each poll of the test
    reads one page."""
    connector = get_connector("shopify")
    fetch = connector.poll_triggers[POLL["trigger"]].poll
    monkeypatch.setattr(sys.modules[fetch.__module__], "MAX_PAGES_PER_POLL", 1)
    faults = {"scope": "shopify", "error_rate": 1, "error_status": 403, "count": 1}

    def failing_after_the_first_page(conn: Any, since: str, cursor: Any) -> Any:
        page = fetch(conn, since, cursor)
        assert httpx.post(f"{sandbox.url}/_sandbox/faults", json=faults).status_code == 200
        return page

    trigger = replace(connector.poll_triggers[POLL["trigger"]], poll=failing_after_the_first_page)
    studio.start("p/cart")
    # After the start, which fixes the poll's window at its own second: carts of the second
    # before would be outside it.
    add_checkouts(sandbox, phones(0, 300))
    with monkeypatch.context() as failing:
        failing.setitem(connector.poll_triggers, POLL["trigger"], trigger)
        with pytest.raises(LpstudioError, match="403"):
            studio.poll("p/cart", run=False)


@pytest.mark.parametrize("change", ["edit the connection", "bind another connection"])
def test_a_poll_whose_shop_changed_between_pages_goes_on_in_the_new_shop(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A poll that failed between pages keeps the next page's link in its cursor. Once the
    recipe's Shopify connection moved to another shop, every later poll followed that link,
    and failed, until the recipe stopped itself: the new shop's carts were never fired."""
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Sandbox() as other, Studio.open(ws, user="alice") as studio:
        poll_cut_after_its_first_page(studio, sandbox, monkeypatch)
        with db.read() as s:
            state = s.get(TriggerState, recipe)
            assert state is not None and state.cursor["next"].startswith(sandbox.url)
        # Shopify's ids are unique across its shops, the sandbox's only within one: the new
        # shop's older carts (before the window) move its ids past the old shop's.
        older = (utcnow() - timedelta(days=3)).isoformat()
        assert httpx.post(
            f"{other.url}/_sandbox/shopify/checkouts", json=[{"updated_at": older}] * 300
        ).is_success
        add_checkouts(other, phones(1000, 1003))
        if change == "edit the connection":
            studio.connections.update("shopify", {"shop": other.url})
        else:
            _, config = studio.connections.values("shopify")
            studio.connections.add("shop-b", "shopify", {**config, "shop": other.url}, "alice")
            studio.stop("p/cart")
            studio.save_settings("p/cart", connections={"shopify": "shop-b"})
            studio.start("p/cart")
        asked = checkout_reads(sandbox)
        moved = studio.poll("p/cart", run=False)
        again = studio.poll("p/cart", run=False)
        assert checkout_reads(sandbox) == asked  # the old shop is asked nothing more
    ours = set(phones(1000, 1003))
    assert sorted(job.event["phone"] for job in moved if job.event["phone"] in ours) == sorted(ours)
    assert again == []  # the new shop's carts, once


def test_a_poll_whose_api_version_changed_between_pages_goes_on_in_the_new_version(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll that failed between pages keeps the next page's link, which names the API
    version it was asked in. An admin who then moves the connection to another version
    (the old one leaving Shopify's support) had the rest of the window read in the old one."""
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Studio.open(ws, user="alice") as studio:
        poll_cut_after_its_first_page(studio, sandbox, monkeypatch)
        with db.read() as s:
            state = s.get(TriggerState, recipe)
            assert state is not None and "/admin/api/2026-10/" in state.cursor["next"]
        studio.connections.update("shopify", {"api_version": "2026-07"})
        log = f"{sandbox.url}/_sandbox/requests"
        asked = len(httpx.get(log, timeout=10).json()["requests"])
        fired = studio.poll("p/cart", run=False)
        while (more := studio.poll("p/cart", run=False)) != []:
            fired += more
        later = httpx.get(log, timeout=10).json()["requests"][asked:]
    reads = [entry["path"] for entry in later if entry["path"].endswith("/checkouts.json")]
    assert reads and all("/admin/api/2026-07/" in path for path in reads), reads
    ours = set(phones(0, 300))
    assert {job.event["phone"] for job in fired} & ours  # the window's rest, in the new one
    queued = [job.event["phone"] for job in jobs(db, recipe) if job.event["phone"] in ours]
    assert sorted(queued) == sorted(ours)  # each cart once, across the versions


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_ends_a_job_whose_cells_ran_past_the_grace_period_and_its_rerun_sends_nobody_twice(
    ws: Path, sandbox: Sandbox, db: Store, daemons: Callable[..., Daemon], signum: int
) -> None:
    """SIGHUP too (the terminal it ran in closed): it killed the daemon with no drain, and
    its running job failed as "worker lost". A job whose cells ran was put back in the
    queue: run again whole, by the next daemon, its cells' effects outside the delivery
    ledger (a POST, a written row) happened twice, and its first run's notebook was gone."""
    recipe = poll_recipe(ws, "drain", (SEND, LINGER_ONCE))
    assert cli(ws, "start", "p/drain").exit_code == 0
    add_checkouts(sandbox, phones(0, 1))
    first = daemons(grace=1)
    wait_for(lambda: (ws / "projects" / "p" / "slept").exists(), timeout=120, what="the send")
    assert received(sandbox) == dict.fromkeys(phones(0, 1), 1)

    assert first.stop(signum=signum) == 0
    said = first.log.read_text()
    assert "waiting up to 1 s for 1 running job(s)" in said
    (job,) = jobs(db, recipe)
    assert (job.status, job.error["ename"]) == ("failed", "WorkerStopped"), job.error
    assert "scheduler stopped before the job finished" in job.error["evalue"]
    assert job.error["cell"] is not None and job.cells_done >= 2  # the send's cell ran
    assert (ws / job.output_path).is_file()  # what its cells did, kept
    assert said.count(f"job {job.id} failed") == 1, said

    # Its rerun sends nobody twice: the first run's send is in its ledger.
    rerun = cli(ws, "rerun", str(job.id), "--json")
    assert rerun.exit_code == 0, rerun.output
    again = json.loads(rerun.stdout)
    assert again["status"] == "succeeded"
    # It counts what it sent itself: nobody (its first run's send is that run's).
    assert again["result"] == {"phone": phones(0, 1)[0], "accepted": 0}
    assert received(sandbox) == dict.fromkeys(phones(0, 1), 1)
    assert [j.status for j in jobs(db, recipe)] == ["failed", "succeeded"]  # no requeue


def test_a_daemon_stops_once_a_newer_lpstudio_upgraded_the_store(
    ws: Path, db: Store, daemons: Callable[..., Daemon]
) -> None:
    """A scheduler of the old version, left up while another machine upgraded the store,
    led on and ran every trigger's job with its own code on a schema it did not know."""
    daemon = daemons()
    wait_for(lambda: "scheduler started" in daemon.log.read_text(), what="the daemon")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    daemon.proc.wait(60)
    said = daemon.log.read_text()
    assert "upgraded by a newer lpstudio to schema revision 0099" in said, said
    assert "Traceback" not in said


def test_a_daemon_that_upgrades_the_store_logs_lpstudio_s_line_only(
    ws: Path, db: Store, daemons: Callable[..., Daemon]
) -> None:
    """Started first after an upgrade, it logged some ten of alembic's INFO lines (its
    plugins, "Context impl SQLiteImpl", each migration) around lpstudio's own line."""
    migrate_to(db, "0017", down=True)
    daemon = daemons()
    wait_for(lambda: "scheduler started" in daemon.log.read_text(), what="the daemon")
    said = daemon.log.read_text()
    assert f"upgrading the store sqlite:///{ws / 'lpstudio.db'} from schema 0017" in said, said
    assert "alembic" not in said and "SQLiteImpl" not in said, said


# -- 2. rival daemons on one store -----------------------------------------------------------


def test_two_daemons_on_one_store_run_each_event_and_job_once(
    ws: Path, sandbox: Sandbox, db: Store, daemons: Callable[..., Daemon]
) -> None:
    recipe = poll_recipe(ws, "rival", (SEND,), concurrency=4)
    assert cli(ws, "start", "p/rival").exit_code == 0
    # Shopify answering slower than the poll interval makes the daemons' polls overlap:
    # both fetch the same checkouts, and only one may queue them.
    faults = {"scope": "shopify", "latency_ms": 2500}
    assert httpx.post(f"{sandbox.url}/_sandbox/faults", json=faults).status_code == 200
    add_checkouts(sandbox, phones(0, 8))
    first, second = daemons(), daemons()

    wait_for(lambda: all_final(db, recipe, 8), timeout=180, what="8 final jobs")
    wait_for_polls(db, recipe)
    assert first.stop() == 0 and second.stop() == 0

    found = jobs(db, recipe)
    assert sorted(job.event["phone"] for job in found) == phones(0, 8)  # none queued twice
    assert [job.status for job in found] == ["succeeded"] * 8
    # Each job was started by exactly one daemon, exactly once; both took part.
    by_first, by_second = first.started(), second.started()
    assert sorted(by_first + by_second) == [job.id for job in found]
    assert by_first and by_second
    assert received(sandbox) == dict.fromkeys(phones(0, 8), 1)


def tick_together(schedulers: list[Scheduler], now: datetime) -> list[list[int]]:
    """Every scheduler ticks at the same moment, in threads released together."""
    barrier = threading.Barrier(len(schedulers))

    def tick(scheduler: Scheduler) -> list[int]:
        barrier.wait()
        return scheduler.tick(now)

    with ThreadPoolExecutor(len(schedulers)) as pool:
        return list(pool.map(tick, schedulers))


def race_quarter_hours(ws: Path, count: int, moments: tuple[str, ...]) -> str:
    """`count` schedulers, each with its own studio, tick together at each of `moments`
    (on 2027-01-11, the recipe started at 08:01) a recipe due every quarter hour; at most
    one of them queues a run each time. Returns the recipe."""
    recipe = schedule_recipe(ws, "quarter", {"cron": "*/15 * * * *", "timezone": "UTC"})
    studios = [Studio.open(ws, user="alice") for _ in range(count)]
    schedulers = [Scheduler(studio) for studio in studios]
    try:
        studios[0].start("p/quarter")
        back_date(studios[0], recipe, at("2027-01-11T08:01"))
        for moment in moments:
            queued = tick_together(schedulers, at(f"2027-01-11T{moment}"))
            assert sum(len(ids) for ids in queued) <= 1, (moment, queued)
    finally:
        for scheduler in schedulers:
            scheduler.drain()
        for studio in studios:
            studio.close()
    return recipe


def test_two_schedulers_fire_each_due_run_once(ws: Path, db: Store) -> None:
    recipe = race_quarter_hours(ws, 2, ("08:14", "08:15:10", "08:15:50", "08:30:05", "10:07"))

    # 08:15 and 08:30 on time; after missing 08:45 to 10:00, one run (run_once) for 10:00.
    assert due_of(jobs(db, recipe)) == ["08:15", "08:30", "10:00"]
    with db.read() as s:
        runs = s.execute(select(ScheduleRun.due_at, ScheduleRun.job_id)).all()
    assert len({due for due, _ in runs}) == len(runs)
    assert sorted(job_id for _, job_id in runs if job_id) == [job.id for job in jobs(db, recipe)]


# -- 3. kill -9 in the middle of jobs --------------------------------------------------------


def test_a_killed_daemon_leaves_every_job_final_and_sends_nobody_twice(
    ws: Path, sandbox: Sandbox, db: Store, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"  # a job holds after its send until the first daemon is killed
    hold = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)"
    recipe = poll_recipe(ws, "slow", (SEND, hold), concurrency=2)
    assert cli(ws, "start", "p/slow").exit_code == 0
    add_checkouts(sandbox, phones(0, 6))
    first = daemons()

    def sent_and_running() -> list[int]:
        sent = received(sandbox)
        return [
            j.id for j in jobs(db, recipe) if j.status == "running" and j.event["phone"] in sent
        ]

    try:
        wait_for(sent_and_running, timeout=120, what="a job running after its send")
        first.kill()
    finally:
        gate.touch()  # the killed daemon's kernels, and every job after, go on
    in_flight = {job.id for job in jobs(db, recipe) if job.status == "running"}
    assert in_flight

    daemons()
    wait_for(lambda: all_final(db, recipe, 6), timeout=180, what="every job final")
    found = jobs(db, recipe)
    assert sorted(job.event["phone"] for job in found) == phones(0, 6)
    for job in found:
        lost = job.status == "failed" and job.error["ename"] == "WorkerLost"
        assert job.status == "succeeded" or lost, (job.id, job.status, job.error)
        assert job.status == "succeeded" or job.id in in_flight
    assert any(job.status == "failed" for job in found)  # the job killed after its send
    counts = received(sandbox)
    assert set(counts.values()) == {1}
    assert {job.event["phone"] for job in found if job.status == "succeeded"} <= set(counts)


# -- 4. cron in a time zone, with a clock the test sets --------------------------------------


def at(moment: str) -> datetime:
    """A UTC moment from 'YYYY-MM-DDTHH:MM[:SS]'."""
    return datetime.fromisoformat(moment).replace(tzinfo=UTC)


def back_date(studio: Studio, recipe: str, moment: datetime) -> None:
    """Moves the recipe's start to `moment`: the test clock's time line begins there (the
    schedule's form, as its start wrote it, with it)."""
    set_settings(studio.store, recipe, started_at=moment.isoformat())
    with studio.store.write() as s:
        s.execute(update(ScheduleForm).where(ScheduleForm.recipe == recipe).values(since=moment))


def due_of(found: list[Job], day: bool = False) -> list[str]:
    """The due times (UTC) the jobs were fired for, as HH:MM (or MM-DDTHH:MM)."""
    moments = sorted(datetime.fromisoformat(job.event["due_at"]).astimezone(UTC) for job in found)
    return [m.strftime("%m-%dT%H:%M" if day else "%H:%M") for m in moments]


@contextmanager
def ticking(studio: Studio) -> Iterator[Callable[[str], list[int]]]:
    """An in-process scheduler whose clock the test sets with each tick."""
    scheduler = Scheduler(studio)
    try:
        yield lambda moment: scheduler.tick(at(moment))
    finally:
        scheduler.drain()


def test_cron_fires_at_the_due_minutes_of_the_recipe_s_time_zone(ws: Path, db: Store) -> None:
    quarter = schedule_recipe(ws, "quarter", {"cron": "*/15 * * * *", "timezone": "Europe/Paris"})
    nine = schedule_recipe(ws, "nine", {"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    late = schedule_recipe(ws, "late", {"cron": "30 2 * * *", "timezone": "Europe/Paris"})
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start("p/quarter")
        back_date(studio, quarter, at("2027-01-11T08:01"))
        assert tick("2027-01-11T08:14:59") == []
        assert len(tick("2027-01-11T08:15:00")) == 1
        assert tick("2027-01-11T08:15:30") == []  # each due minute fires once
        assert len(tick("2027-01-11T08:30:40")) == 1
        assert len(tick("2027-01-11T08:45:02")) == 1
        assert due_of(jobs(db, quarter)) == ["08:15", "08:30", "08:45"]
        studio.stop("p/quarter")

        # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer, across the change
        # of 28 March 2027.
        studio.start("p/nine")
        back_date(studio, nine, at("2027-03-26T12:00"))
        assert tick("2027-03-27T07:00:30") == []
        assert len(tick("2027-03-27T08:00:30")) == 1
        assert len(tick("2027-03-28T07:00:30")) == 1
        assert len(tick("2027-03-29T07:00:30")) == 1
        assert due_of(jobs(db, nine), day=True) == ["03-27T08:00", "03-28T07:00", "03-29T07:00"]
        studio.stop("p/nine")

        # 02:30 happens twice when clocks go back on 31 October 2027: it fires once.
        studio.start("p/late")
        back_date(studio, late, at("2027-10-30T12:00"))
        for moment in ("2027-10-31T00:30:20", "2027-10-31T01:30:20", "2027-11-01T01:30:20"):
            tick(moment)
        assert due_of(jobs(db, late), day=True) == ["10-31T00:30", "11-01T01:30"]


@pytest.mark.parametrize(
    ("cron", "due"),
    [
        ("58-58 23 * * *", ["01-11T23:58", "01-12T23:58"]),  # read as every minute
        ("0 9-9 * * *", ["01-11T09:00", "01-12T09:00"]),  # as every hour
        ("0 9 * * mon-mon", ["01-11T09:00"]),  # as every day (11 January 2027 is a Monday)
        ("0 9 12-12 * *", ["01-12T09:00"]),
        ("30-30/5 9 * * *", ["01-11T09:30", "01-12T09:30"]),  # as every 5 minutes of 09:xx
    ],
)
def test_a_range_of_one_value_fires_as_that_value_as_standard_cron_does(
    ws: Path, db: Store, cron: str, due: list[str]
) -> None:
    """`9-9` is 9: a once-a-day schedule written with such a range fired every minute,
    hour or day, a campaign sent to everyone each time."""
    recipe = schedule_recipe(ws, "once", {"cron": cron, "timezone": "UTC"})
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start("p/once")
        back_date(studio, recipe, at("2027-01-11T00:00"))
        for hour in range(1, 48):  # a tick each hour and at each due minute, for two days
            tick(f"2027-01-{11 + hour // 24}T{hour % 24:02d}:00:10")
            tick(f"2027-01-{11 + hour // 24}T{hour % 24:02d}:30:10")
            tick(f"2027-01-{11 + hour // 24}T{hour % 24:02d}:58:10")
        assert due_of(jobs(db, recipe), day=True) == due


def test_a_scheduled_job_s_event_names_its_due_time_in_the_recipe_s_zone(
    ws: Path, db: Store
) -> None:
    # 09:00 in Auckland is 20:00 UTC the evening before: a recipe reading the day it runs
    # for from its event (the payment reminder) counted from the wrong day.
    name = schedule_recipe(ws, "auckland", {"cron": "0 9 * * *", "timezone": "Pacific/Auckland"})
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start("p/auckland")
        back_date(studio, name, at("2027-01-10T12:00"))
        [job_id] = tick("2027-01-10T20:00:30")
        studio.stop("p/auckland")

    due = datetime.fromisoformat(db.job(job_id).event["due_at"])
    assert due.isoformat() == "2027-01-11T09:00:00+13:00"
    assert due.date().isoformat() == "2027-01-11"


def test_a_scheduled_job_gets_a_date_default_as_text_as_a_run_does(ws: Path) -> None:
    """README: a date parameter's default is injected as text, so a recipe always gets a
    `str`. A scheduled job (and a poll's) got the notebook's `date(...)`: a recipe reading
    it as text failed on its schedule only, never when run by hand or tested."""
    write_recipe(
        ws,
        "p/dated",
        parameters="from datetime import date\n\nday: date = date(2026, 11, 1)  # first day",
        cells=(
            "import lpstudio.kernel as lp\n"
            "lp.set_result({'day': str(day), 'type': type(day).__name__})",
        ),
        metadata={"title": "dated", "trigger": {"kind": "schedule", "cron": "0 9 * * *"}},
    )
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start("p/dated")
        back_date(studio, "p/dated.ipynb", at("2027-01-10T12:00"))
        [job_id] = tick("2027-01-11T09:00:30")
        studio.stop("p/dated")
        studio.store.take_queued([job_id])
        job = studio.executor.run(job_id)
        by_hand = studio.run("p/dated")

    assert job.parameters == by_hand.parameters == {"day": "2026-11-01"}
    assert job.result == by_hand.result == {"day": "2026-11-01", "type": "str"}


def test_events_kept_while_stopped_run_on_the_notebook_and_settings_it_starts_with(
    ws: Path,
) -> None:
    """A webhook delivered while its recipe is stopped is kept and runs at its start, as
    Workato's do: with the notebook and settings it starts with (a skill fixed meanwhile),
    not those of its arrival. A retry keeps its job's version."""
    path = write_recipe(
        ws,
        "p/held",
        parameters='skill: str = "none"  # the skill',
        cells=("import lpstudio.kernel as lp\nlp.set_result({'skill': skill, 'v': 1})",),
        metadata={"title": "held", "trigger": {"kind": "webhook"}},
    )
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/held", {"skill": "sales-old"})
        _, (kept,), _ = studio.receive_webhook(studio.webhook_id("p/held.ipynb"), {}, b"{}")
        arrival = kept.version_id
        retry = studio.store.create_job(
            recipe="p/held.ipynb", version_id=arrival, trigger="retry", user="alice"
        )
        nb = nbformat.read(path, as_version=4)
        nb.cells[1].source = nb.cells[1].source.replace("'v': 1", "'v': 2")
        nbformat.write(nb, path)
        studio.save_settings("p/held", {"skill": "sales-new"})

        studio.start("p/held")
        studio.store.take_queued([kept.id])
        ran = studio.executor.run(kept.id)

        assert ran.result == {"skill": "sales-new", "v": 2}
        assert ran.parameters == {"skill": "sales-new"}
        assert ran.version_id != arrival
        assert studio.store.version_settings(ran.version_id)["parameters"] == {"skill": "sales-new"}
        assert studio.store.job(retry.id).version_id == arrival


@pytest.mark.parametrize(
    ("trigger", "field"),
    [
        ({"cron": "0 25 * * *", "timezone": "UTC"}, "trigger.cron"),
        ({"cron": "0 9 * * * *", "timezone": "UTC"}, "trigger.cron"),
        ({"cron": "0 9 31 2 *", "timezone": "UTC"}, "trigger.cron"),
        # croniter's random hour: drawn anew at every tick, so a daily job fired many times.
        ({"cron": "0 R * * *", "timezone": "UTC"}, "trigger.cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus_Mons"}, "trigger.timezone"),
        # A folder of the time zone database, and a name too long for a file: OSErrors.
        ({"cron": "0 9 * * *", "timezone": "Europe"}, "trigger.timezone"),
        ({"cron": "0 9 * * *", "timezone": "A" * 300}, "trigger.timezone"),
        # Files of the time zone database that zoneinfo loads but that name no zone: this
        # machine's zone (a worker's may differ), a legacy link, and tzdata's "-00" zone.
        ({"cron": "0 9 * * *", "timezone": "localtime"}, "trigger.timezone"),
        ({"cron": "0 9 * * *", "timezone": "posixrules"}, "trigger.timezone"),
        ({"cron": "0 9 * * *", "timezone": "Factory"}, "trigger.timezone"),
        ({"cron": "0 9 * * *", "timezone": "right/Europe/Paris"}, "trigger.timezone"),
    ],
)
def test_a_bad_cron_or_time_zone_is_refused_at_start(
    ws: Path, db: Store, trigger: dict[str, Any], field: str
) -> None:
    recipe = schedule_recipe(ws, "bad", trigger)
    result = cli(ws, "start", "p/bad")
    assert result.exit_code == 2, result.output
    assert field in result.output and "fix:" in result.output
    assert saved_settings(db, recipe).get("state") != "started"


# -- 5. the concurrency limit under a burst --------------------------------------------------

#: Events in the burst. Each job starts its own kernel (about 1 s of CPU on the 2-CPU CI
#: machine, where 200 jobs took 198 s), so the default keeps the whole file near 3 minutes;
#: The issue asks for 200 events; `LPSTUDIO_TEST_BURST=40` runs a quicker burst locally.
BURST = int(os.environ.get("LPSTUDIO_TEST_BURST", "200"))


def most_at_once(intervals: list[tuple[Any, Any]]) -> int:
    """The largest number of intervals open at one moment (an end before a start on ties)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_the_concurrency_limit_holds_under_a_burst_of_events(
    ws: Path, sandbox: Sandbox, db: Store, daemons: Callable[..., Daemon]
) -> None:
    write_recipe(
        ws,
        "p/burst",
        cells=(
            "import time\nimport lpstudio.kernel as lp\nstart = time.time()\ntime.sleep(0.05)",
            "lp.set_result({'start': start, 'end': time.time()})",
        ),
        metadata={
            "title": "burst",
            "trigger": POLL,
            "connections": {"shopify": {"type": "shopify"}},
            "concurrency": 2,
        },
    )
    recipe = "p/burst.ipynb"
    assert cli(ws, "start", "p/burst").exit_code == 0
    add_checkouts(sandbox, phones(0, BURST))
    daemons(workers=4)

    peak = 0

    def all_done() -> bool:
        nonlocal peak
        statuses = by_status(db, recipe)
        peak = max(peak, statuses.get("running", 0))
        return sum(statuses.get(status, 0) for status in FINAL_STATES) == BURST

    wait_for(all_done, timeout=BURST * 3, what=f"{BURST} final jobs")
    found = jobs(db, recipe)
    assert [job.status for job in found] == ["succeeded"] * BURST
    assert peak <= 2
    # In the kernels (the cells' own clocks) and in the store (claim to finish), never more
    # than two at once; and two at once did happen, so the limit was what held them back.
    assert most_at_once([(job.result["start"], job.result["end"]) for job in found]) <= 2
    assert most_at_once([(job.started_at, job.finished_at) for job in found]) == 2


def test_trigger_conditions_read_prices_as_numbers_and_an_absent_field_as_unequal(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    """Shopify sends prices as text ("100.00"): a condition `>= "50"` compared them as text,
    so a 100.00 cart was dropped ("1" < "5"); and `!=` dropped every event without the
    field, though a null one passed."""
    conditions = {
        "match": "all",
        "rules": [
            {"field": "total_price", "op": ">=", "value": "50"},
            {"field": "note", "op": "!=", "value": "test order"},
        ],
    }
    recipe = poll_recipe(ws, "big", (SEND,), trigger={**POLL, "conditions": conditions})
    carts = [
        {"phone": "+12025550001", "total_price": "100.00", "note": None},
        {"phone": "+12025550003", "total_price": "75.00", "note": "test order"},
        {"phone": "+12025550004", "total_price": "60.00"},  # no note at all
        {"phone": "+12025550002", "total_price": "20.00", "note": None},
    ]
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        answer = httpx.post(f"{sandbox.url}/_sandbox/shopify/checkouts", json=carts)
        assert answer.status_code == 200, answer.text
        # Test works on an event the trigger would pass (it took the latest, a 20.00 cart).
        assert studio.sample_event(studio.recipe(recipe))["phone"] == "+12025550004"
        queued = studio.poll(recipe, run=False)
    assert sorted(job.event["phone"] for job in queued) == ["+12025550001", "+12025550004"]


def test_lpstudio_poll_reports_a_job_a_scheduler_took_as_taken_not_failed(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scheduler claimed the poll's job between the poll and its run here: the command
    # printed "job N running" and exited 1, though nothing failed and the job ran once.
    poll_recipe(ws, "race", ("print('hi')",))
    assert cli(ws, "start", "p/race").exit_code == 0
    add_checkouts(sandbox, phones(0, 1))
    start_job = Store.start_job

    def scheduler_first(self: Store, job_id: int, *args: Any, **kwargs: Any) -> bool:
        with self.write() as s:  # what a scheduler's claim writes
            s.execute(
                update(Job).where(Job.id == job_id).values(status="running", worker="elsewhere")
            )
        return start_job(self, job_id, *args, **kwargs)

    monkeypatch.setattr(Store, "start_job", scheduler_first)
    result = cli(ws, "poll", "p/race")
    assert result.exit_code == 0, result.output
    assert "taken by another worker" in result.output
    (job,) = jobs(db, "p/race.ipynb")
    assert (job.status, job.worker) == ("running", "elsewhere")  # left to its worker


# -- 6. after a failure: retries, notification, timeout, cancel; auto-stop; missed runs --------


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook(serve: Callable[[ThreadingHTTPServer], ThreadingHTTPServer]) -> Any:
    """A loopback HTTP server that records the JSON bodies POSTed to it, and answers them
    with its `status` (204)."""
    server = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Hook))
    server.posts = []  # type: ignore[attr-defined]
    server.status = 204  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    return server


def notify(studio: Studio, recipe: str, url: str) -> None:
    studio.save_settings(recipe, notify={"webhook": url})


def test_failure_contacts_are_set_checked_and_shown_without_their_token(ws: Path) -> None:
    # The README promised settings["notify"], but nothing a user has could set it.
    write_recipe(ws, "p/nightly")
    url = "https://hooks.example.com/services/T000/B000/s3cr3t-token"
    for args, option in (
        (["--notify-webhook", "ftp://hooks.example.com/x"], "--notify-webhook"),
        (["--notify-email", "ops at brand"], "--notify-email"),
        (["--notify-email", "ops@brand.example\nBcc: all@brand.example"], "--notify-email"),
    ):
        refused = cli(ws, "settings", "p/nightly", "-p", "x", "5", *args, "--json")
        assert refused.exit_code == 2, refused.output
        assert json.loads(refused.stdout)["error"]["field"] == option
    assert "x = 1" in cli(ws, "settings", "p/nightly").output  # nothing was saved
    saved = cli(
        ws, "settings", "p/nightly", "--notify-webhook", url, "--notify-email", "ops@brand.example"
    )
    assert saved.exit_code == 0, saved.output
    assert "on failure:  webhook https://hooks.example.com/****" in saved.output
    assert "on failure:  email ops@brand.example" in saved.output
    assert "s3cr3t" not in saved.output + cli(ws, "settings", "p/nightly", "--json").output
    with Studio.open(ws, user="alice") as studio:
        assert saved_settings(studio.store, "p/nightly.ipynb")["notify"]["webhook"] == url
    cleared = cli(ws, "settings", "p/nightly", "--notify-webhook", "", "--json")
    assert json.loads(cleared.stdout)["notify"] == {"email": "ops@brand.example"}


def failing_recipe(ws: Path, raised: str) -> str:
    """A poll recipe whose cell raises `raised`, with two retries at once."""
    cell = f"from lpstudio.sdk import ConnectorError\nraise {raised}"
    return poll_recipe(ws, "flaky", (cell,), retries={"count": 2, "interval": 0})


def fail_once_reported(ws: Path, sandbox: Sandbox, recipe: str, webhook: Any) -> None:
    """Runs the recipe for one checkout until its failure contacts are told."""
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/flaky")
        notify(studio, recipe, webhook.url)
        add_checkouts(sandbox, phones(0, 1))
        with scheduler_running(studio):
            wait_for(lambda: webhook.posts, timeout=120, what="the failure notification")


class _Mailbox:
    """aiosmtpd's handler: keeps each message a loopback SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.envelopes: list[Any] = []  # as sent: their recipients, their raw content

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append(envelope)
        return "250 OK"

    def serve(self, **options: Any) -> Any:
        """A started loopback SMTP server for this mailbox; its `port` is the one it bound
        itself (port 0): a port chosen before it starts may be taken by the time it binds.
        `options` go to aiosmtpd's SMTP (`enable_SMTPUTF8=True`: a relay that offers it)."""
        from aiosmtpd.controller import Controller

        class OnItsOwnPort(Controller):
            def _trigger_server(self) -> None:  # its first connection, once bound
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        smtp = OnItsOwnPort(self, hostname="127.0.0.1", port=0, **options)
        smtp.start()
        return smtp


def test_a_failing_job_is_reported_by_e_mail_through_the_workspace_s_smtp(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    """The failure e-mail goes out through `[smtp]` (it was never sent in a test)."""
    mailbox = _Mailbox()
    smtp = mailbox.serve()
    port = smtp.port
    try:
        with (ws / "lpstudio.toml").open("a") as config:
            config.write(f'\n[smtp]\nport = {port}\nfrom = "studio@brand.example"\n')
        recipe = poll_recipe(ws, "flaky", ("raise RuntimeError('the CRM is down')",))
        with Studio.open(ws, user="alice") as studio:
            studio.start("p/flaky")
            studio.save_settings(recipe, notify={"email": "ops@brand.example"})
            add_checkouts(sandbox, phones(0, 1))
            with scheduler_running(studio):
                wait_for(lambda: mailbox.messages, timeout=120, what="the failure e-mail")
    finally:
        smtp.stop()
    (job,) = jobs(db, recipe)
    (mail,) = mailbox.messages
    assert (mail["From"], mail["To"]) == ("studio@brand.example", "ops@brand.example")
    assert mail["Subject"] == f"lpstudio: job {job.id} of {recipe} failed"
    assert "RuntimeError: the CRM is down" in mail.get_payload()


@pytest.mark.parametrize(
    ("status", "ename", "said"),
    [
        ("failed", "Timeout", "failed"),
        ("failed", "WorkerLost", "failed"),
        ("cancelled", "Cancelled", "was cancelled"),
    ],
)
def test_a_last_attempt_a_retry_might_have_passed_says_what_next_and_its_true_end(
    ws: Path, webhook: Any, status: str, ename: str, said: str
) -> None:
    """A timeout or a lost worker whose retries are used up had no `"next"` (only a
    connector's retryable error had), and the e-mail's subject said "failed" of a
    cancelled job, whose webhook said "cancelled"."""
    from lpstudio.failures import after_failure, notify_subject

    recipe = poll_recipe(ws, "late", ("pass",), retries={"count": 1, "interval": 0})
    with Studio.open(ws, user="alice") as studio:
        notify(studio, recipe, webhook.url)
        found = studio.recipe(recipe)
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="retry", user="alice", attempt=2
        )
        error = {"ename": ename, "evalue": "it stopped", "uncertain_sends": 1}
        set_job(studio.store, job.id, status=status, error=error)
        ended = studio.job(job.id)

        assert after_failure(studio, ended) is None  # none left to retry
        assert notify_subject(ended) == f"lpstudio: job {job.id} of {recipe} {said}"
    (post,) = webhook.posts
    assert post["status"] == status
    if status == "failed":  # a cancel was asked for: no retry was due
        assert post["next"].startswith("its 1 retries are used up"), post
        assert f"`lpstudio rerun {job.id}`" in post["next"]
    else:
        assert "next" not in post


@pytest.mark.parametrize("retries", [2, 0], ids=["retries-left", "no-retries"])
def test_a_daily_limit_stop_tells_its_contacts_why_no_retry_follows(
    ws: Path, webhook: Any, retries: int
) -> None:
    """Its log said why no retry followed; its report to the contacts said nothing of it,
    so they waited for a retry that never came (a refusal for good: the test below); with
    no retries (every template's), nothing said to run it again tomorrow either."""
    error = {"ename": "DailyLimitReached", "retryable": False, "not_today": True}
    why = "it stopped at a daily limit, which a retry today would meet again"
    from lpstudio.failures import after_failure

    recipe = poll_recipe(ws, "capped", ("pass",), retries={"count": retries, "interval": 0})
    with Studio.open(ws, user="alice") as studio:
        notify(studio, recipe, webhook.url)
        found = studio.recipe(recipe)
        version = studio.store.snapshot(found.name, found.canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=found.name, version_id=version, trigger="poll", user="alice"
        )
        set_job(studio.store, job.id, status="failed", error={**error, "evalue": "stopped"})

        assert after_failure(studio, studio.job(job.id)) is None
    (post,) = webhook.posts
    assert post["next"].startswith(f"no retry follows: {why}"), post


@pytest.mark.parametrize(
    ("raised", "ename", "retryable"),
    [
        ("RuntimeError('the CRM is down')", "RuntimeError", None),
        ("ConnectorError('the CRM is down', retryable=True, status=503)", "ConnectorError", True),
    ],
    ids=["any-error", "retryable-connector-error"],
)
def test_a_failing_job_is_retried_then_reported_to_the_webhook(
    ws: Path,
    sandbox: Sandbox,
    db: Store,
    webhook: Any,
    raised: str,
    ename: str,
    retryable: bool | None,
) -> None:
    recipe = failing_recipe(ws, raised)
    fail_once_reported(ws, sandbox, recipe, webhook)
    attempts = jobs(db, recipe)
    assert [job.attempt for job in attempts] == [1, 2, 3]
    assert [job.status for job in attempts] == ["failed"] * 3
    assert [job.trigger for job in attempts] == ["poll", "retry", "retry"]
    assert [job.rerun_of for job in attempts] == [None, attempts[0].id, attempts[1].id]
    assert all(job.event == attempts[0].event for job in attempts)
    # Only a ConnectorError says whether a retry may help.
    assert [job.error.get("retryable") for job in attempts] == [retryable] * 3
    # Its retries used up, it says that none follows, and what to do, whatever the error:
    # the recipe retries any (a RuntimeError's said nothing, and its contacts waited).
    rerun = (
        f"its 2 retries are used up, so no retry follows: `lpstudio rerun {attempts[-1].id}` "
        "runs it again once the cause is fixed"
    )
    # An error a run again may pass names the job's own rerun as its fix.
    again = f"`lpstudio rerun {attempts[-1].id}` runs it again"
    fix = {"fix": f"{again} (a send its delivery ledger holds is not sent again)"}
    assert webhook.posts == [
        {
            "job": attempts[-1].id,
            "recipe": recipe,
            "status": "failed",
            "error": {"ename": ename, "evalue": "the CRM is down", **(fix if retryable else {})},
            "next": rerun,
        }
    ]


def test_a_job_the_app_refused_is_reported_at_once_not_retried(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    recipe = failing_recipe(ws, "ConnectorError('refused', retryable=False, status=400)")
    fail_once_reported(ws, sandbox, recipe, webhook)
    (job,) = jobs(db, recipe)
    assert (job.status, job.attempt) == ("failed", 1)
    assert webhook.posts == [
        {
            "job": job.id,
            "recipe": recipe,
            "status": "failed",
            "error": {"ename": "ConnectorError", "evalue": "refused"},
            "next": "no retry follows: the app refused the request (HTTP 400), and a retry "
            "would be refused the same way",
        }
    ]
    error = job.error
    assert (error["ename"], error["evalue"]) == ("ConnectorError", "refused")
    assert (error["retryable"], error["status"]) == (False, 400)
    # The output notebook's failing cell still shows the error as IPython shows it.
    nb = json.loads((ws / job.output_path).read_text())
    (cell,) = [c for c in nb["cells"] if c.get("execution_count") == error["execution_count"]]
    (shown,) = [o for o in cell["outputs"] if o["output_type"] == "error"]
    assert (shown["ename"], shown["evalue"]) == ("ConnectorError", "refused")
    assert shown["traceback"] == error["traceback"]
    assert "ConnectorError" in shown["traceback"][-1]


def test_a_job_whose_request_may_have_acted_is_reported_at_once_not_retried(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    """A POST answered 500 (or not at all) may have been carried out: the connector does not
    send it again, and a retry of the whole job sent it again all the same."""
    raised = "ConnectorError('maybe done', status=500, uncertain=True)"
    recipe = failing_recipe(ws, raised)
    fail_once_reported(ws, sandbox, recipe, webhook)
    (job,) = jobs(db, recipe)
    assert (job.status, job.attempt) == ("failed", 1)
    assert (job.error["status"], job.error["uncertain"]) == (500, True)
    assert [post["job"] for post in webhook.posts] == [job.id]


@pytest.mark.parametrize(
    ("error", "for_good"),
    [
        ({"retryable": False, "status": 400}, True),
        ({"retryable": False, "status": 404}, True),
        ({"retryable": False, "status": 429}, False),  # not now
        ({"retryable": False, "status": 500}, False),  # a POST the connector could not repeat
        ({"retryable": False}, False),  # no answer: a deadlock, a lost connection
        ({"retryable": True, "status": 400}, False),  # a campaign's rejected batch
        ({"ename": "RuntimeError"}, False),
    ],
)
def test_only_a_4xx_refusal_is_one_for_good(error: dict[str, Any], for_good: bool) -> None:
    assert refused_for_good(error) is for_good


def vanishing(db: Store) -> Callable[[int], None]:
    """Leaves a job as a `kill -9` of its worker does: running, a cell of its own started
    (`acted`) and done, no worker."""
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id on this host that no longer runs

    def vanished(job_id: int) -> None:
        with db.write() as s:
            row = s.get_one(Job, job_id)
            row.status, row.cells_done, row.acted = "running", 1, True
            row.worker, row.started_at = f"{socket.gethostname()}:{gone.pid}", utcnow()

    return vanished


def queue_lost(ws: Path, studio: Studio, webhook: Any, trigger: str) -> Job:
    """A job queued by `trigger`, of a recipe with one retry and a failure contact."""
    write_recipe(ws, "p/lost", metadata={"title": "lost", "retries": {"count": 1, "interval": 0}})
    notify(studio, "p/lost.ipynb", webhook.url)
    notebook = studio.recipe("p/lost").canonical_json  # its retries are the version's
    version = studio.store.snapshot("p/lost.ipynb", notebook, {}, "alice")
    return studio.store.create_job(
        recipe="p/lost.ipynb", version_id=version, trigger=trigger, user="alice"
    )


@pytest.mark.parametrize("acted", [False, True])
def test_a_cancel_asked_of_a_job_whose_worker_vanished_cancels_it(
    ws: Path, db: Store, webhook: Any, acted: bool
) -> None:
    """Its reaper put it back in the queue (no cell of its own had started) and forgot the
    cancel, or failed it as "worker lost" and retried it: either way the job ran again, and
    sent, after `lpstudio cancel` had been answered (a hung worker, a partitioned one)."""
    vanished = vanishing(db)
    with Studio.open(ws, user="alice") as studio:
        job = queue_lost(ws, studio, webhook, "webhook")
        vanished(job.id)
        set_job(db, job.id, acted=acted)
        asked, did = db.request_cancel(job.id)
        assert (asked.status, asked.cancel_requested, did) == ("running", True, "asked")
        Scheduler(studio).tick()
    (cancelled,) = jobs(db, "p/lost.ipynb")
    assert cancelled.status == "cancelled" and cancelled.error["ename"] == "Cancelled"


def test_a_worker_whose_job_went_to_another_leaves_its_end_to_that_one(
    ws: Path, db: Store, webhook: Any, tmp_path: Path
) -> None:
    """A worker silent too long (stopped, partitioned) finds on waking that its job was
    put back in the queue and run by another, which failed it: it retried the job too (two
    retries for one failure, and its contacts told twice), and logged it as its own end."""
    go = tmp_path / "go"
    cell = f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)"
    metadata = {"title": "lost", "retries": {"count": 1, "interval": 0}}
    write_recipe(ws, "p/lost", cells=(cell,), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        notify(studio, "p/lost.ipynb", webhook.url)
        notebook = studio.recipe("p/lost").canonical_json
        version = studio.store.snapshot("p/lost.ipynb", notebook, {}, "alice")
        job = db.create_job(
            recipe="p/lost.ipynb", version_id=version, trigger="webhook", user="alice"
        )
        studio.start("p/lost")
        scheduler = Scheduler(studio)
        try:
            assert scheduler.fill() == 1
            wait_for(lambda: db.job(job.id).cells_done >= 1, timeout=60, what="its cell")
            db.requeue(job.id)  # as a reaper does once its heartbeat is silent
            with db.write() as s:  # another worker claims it, and its run fails
                s.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(status="running", worker="elsewhere/0:1", started_at=utcnow())
                )
            db.finish_job(job.id, "failed", error={"ename": "ValueError", "evalue": "no"})
            go.touch()
        finally:
            scheduler.drain()
    assert [j.id for j in jobs(db, "p/lost.ipynb")] == [job.id]  # no retry of its own
    assert webhook.posts == []


FROZEN_CELL = """\
import os, pathlib, time
pathlib.Path(marks, "kernel").write_text(str(os.getpid()))
deadline = time.monotonic() + 120
while not pathlib.Path(marks, "go").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
pathlib.Path(marks, "acted").touch()  # what the job would do next: send, write...
"""


def test_the_kernel_of_a_job_reaped_from_a_frozen_worker_ends_itself(
    ws: Path, db: Store, tmp_path: Path
) -> None:
    """A worker stopped (SIGSTOP, a paused machine, one cut off from the store) cannot stop
    its kernel, which went on: reaped meanwhile, its job was retried or cancelled while the
    kernel still acted, beside the retry (a concurrency-1 recipe ran twice at once)."""
    config = ws / "lpstudio.toml"
    config.write_text(
        config.read_text().replace("heartbeat_seconds = 2", "heartbeat_seconds = 0.5")
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    write_recipe(ws, "p/frozen", parameters="marks = ''", cells=(FROZEN_CELL,))
    run = subprocess.Popen(
        [LPSTUDIO, "run", "p/frozen", "-p", "marks", str(marks), "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        kernel = int(wait_for(lambda: _read(marks / "kernel"), what="the job's kernel"))
        os.kill(run.pid, signal.SIGSTOP)  # the worker freezes; its kernel runs on
        (job,) = jobs(db, "p/frozen.ipynb")
        # What a reaper does once the worker's heartbeat is silent.
        assert db.finish_job(job.id, "failed", error={"ename": "WorkerLost", "evalue": "lost"})
        wait_for(lambda: gone(kernel), timeout=30, what="the kernel's end")
        os.kill(run.pid, signal.SIGCONT)
        run.wait(timeout=120)
    finally:
        (marks / "go").touch()
        if run.poll() is None:
            os.kill(run.pid, signal.SIGCONT)
            run.wait(timeout=120)
    assert not (marks / "acted").exists()
    assert db.job(job.id).status == "failed" and db.job(job.id).error["ename"] == "WorkerLost"


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() and path.read_text() else None


def test_a_job_whose_worker_vanished_is_retried_then_reported(
    ws: Path, db: Store, webhook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    recipe = "p/lost.ipynb"
    vanished = vanishing(db)
    caplog.set_level(logging.INFO, logger="lpstudio.scheduler")
    caplog.set_level(logging.INFO, logger="lpstudio.failures")
    with Studio.open(ws, user="alice") as studio:
        first = queue_lost(ws, studio, webhook, "schedule")
        vanished(first.id)
        Scheduler(studio).tick()
        lost, retry = jobs(db, recipe)
        assert (lost.status, lost.error["ename"]) == ("failed", "WorkerLost")
        # The daemon that found it ended says so, as for a job it ran itself.
        assert (
            f"job {first.id} failed ({recipe}): WorkerLost: worker lost: the process running "
            f"this job is gone\n  fix: `lpstudio rerun {first.id}` runs it again (a send its "
            "delivery ledger holds is not sent again)" in caplog.messages
        )
        assert (retry.status, retry.trigger, retry.rerun_of, retry.attempt) == (
            "queued",
            "retry",
            first.id,
            2,
        )
        assert webhook.posts == []
        vanished(retry.id)
        Scheduler(studio).tick()  # its last attempt lost too: reported, not retried
    assert len(jobs(db, recipe)) == 2
    # The daemon's log says the next step as the webhook does: README's "the scheduler's log
    # says it too" (it said only "its 1 retries are used up").
    assert (
        f"job {retry.id} is not retried: its 1 retries are used up, so no retry follows: "
        f"`lpstudio rerun {retry.id}` runs it again once the cause is fixed" in caplog.messages
    ), caplog.messages
    assert webhook.posts == [
        {
            "job": retry.id,
            "recipe": recipe,
            "status": "failed",
            "error": {
                "ename": "WorkerLost",
                "evalue": "worker lost: the process running this job is gone",
                "fix": f"`lpstudio rerun {retry.id}` runs it again (a send its delivery ledger "
                "holds is not sent again)",
            },
            # A run at another moment may pass: none follows, and the rerun is named.
            "next": f"its 1 retries are used up, so no retry follows: `lpstudio rerun "
            f"{retry.id}` runs it again once the cause is fixed",
        }
    ]


def sending_job(studio: Studio, ws: Path, webhook: Any, trigger: str) -> Job:
    """A job of p/lost (one retry, a failure contact) put back in the queue while its
    request was out (a scheduler shut down): one claim of its ledger still "sending"."""
    from lpstudio.kernel.runtime import StoreLedger

    job = queue_lost(ws, studio, webhook, trigger)
    assert studio.store.start_job(job.id, 2, "out.ipynb")
    StoreLedger(studio.store.url, f"job:{job.id}", job.id).claim_many(["k"])
    studio.store.requeue(job.id)
    return job


@pytest.mark.parametrize(
    ("ended", "fields", "status", "triggers"),
    [
        (
            "cancelled",
            {"error": {"ename": "Cancelled", "evalue": "cancelled by SIGTERM"}},
            "cancelled",
            ["poll"],
        ),
        # Its cells ran to the end (the recipe caught the connector's error, or the run met
        # other recipients): a retry would run them all again.
        ("succeeded", {}, "failed", ["poll"]),
        # Retried (the ledger keeps the retry from sending them again), and reported: the
        # retry may never meet those recipients.
        (
            "failed",
            {"error": {"ename": "Timeout", "evalue": "timed out"}},
            "failed",
            ["poll", "retry"],
        ),
    ],
    ids=["cancelled", "cells-succeeded", "timed-out"],
)
def test_a_job_that_left_sends_unanswered_is_reported(
    ws: Path,
    db: Store,
    webhook: Any,
    monkeypatch: pytest.MonkeyPatch,
    ended: str,
    fields: dict[str, Any],
    status: str,
    triggers: list[str],
) -> None:
    """A poll job's run stopped while its request was out (put back in the queue, then run
    again): only the job can say that the send may have gone out (the recipe's next job
    waits for it, then names it as its). Neither a cancelled job, nor one whose cells
    succeeded, nor one retried was reported."""
    import lpstudio.scheduler

    def runner_ends_it(workspace: Any, store: Store, job_id: int, **_: Any) -> Job:
        """What `execute_job` writes when the job ends so (the runner is tested apart)."""
        assert store.start_job(job_id, 2, "out.ipynb")
        store.finish_job(job_id, ended, **fields)
        return store.job(job_id)

    monkeypatch.setattr(lpstudio.scheduler, "execute_job", runner_ends_it)
    with Studio.open(ws, user="alice") as studio:
        job = sending_job(studio, ws, webhook, "poll")
        Scheduler(studio)._run(job.id)
    [post] = webhook.posts
    assert (post["job"], post["status"]) == (job.id, status)
    assert "1 send it began got no answer before it ended" in post["error"]["evalue"]
    assert [j.trigger for j in jobs(db, "p/lost.ipynb")] == triggers


def test_a_queued_job_cancelled_with_sends_unanswered_is_reported(
    ws: Path, db: Store, webhook: Any
) -> None:
    """Put back in the queue mid-request (a scheduler shut down), then cancelled."""
    with Studio.open(ws, user="alice") as studio:
        job = sending_job(studio, ws, webhook, "schedule")
        assert studio.cancel(job.id).status == "cancelled"
    [post] = webhook.posts
    assert post["job"] == job.id and post["error"]["ename"] == "Cancelled"
    said = "cancelled by request while it was queued; 1 send it began"
    assert post["error"]["evalue"].startswith(said), post


def test_a_failure_report_the_webhook_refused_is_logged(
    ws: Path, db: Store, webhook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook that answers an error did not take the report: the log says so (with its
    status, never its URL, which may hold a token), as for one that cannot be reached."""
    webhook.status = 500
    vanished = vanishing(db)
    with Studio.open(ws, user="alice") as studio:
        first = queue_lost(ws, studio, webhook, "schedule")
        vanished(first.id)
        Scheduler(studio).tick()
        (retry,) = [job for job in jobs(db, "p/lost.ipynb") if job.status == "queued"]
        vanished(retry.id)
        with caplog.at_level(logging.WARNING, logger="lpstudio.failures"):
            Scheduler(studio).tick()
    assert len(webhook.posts) == 1
    assert f"failure webhook for job {retry.id} answered HTTP 500" in caplog.text
    assert "/****, notify.webhook of p/lost)" in caplog.text, caplog.text
    assert "`lpstudio settings p/lost --notify-webhook URL`" in caplog.text, caplog.text
    assert webhook.url not in caplog.text


def test_a_failure_webhook_that_cannot_be_reached_is_logged_naming_the_setting_and_the_fix(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator read a bare `[Errno 111] Connection refused`, where the e-mail's failure
    names `[smtp]` and its fix: which setting sent the report there, and how to change it
    (its URL shown without its path, which often holds a token)."""
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    url = f"http://{host}/hooks/s3cr3t-token"
    write_recipe(ws, "p/told")
    with Studio.open(ws, user="alice") as studio, caplog.at_level(logging.WARNING):
        notify(studio, "p/told.ipynb", url)
        body = {"recipe": "p/told.ipynb", "error": {"ename": "ValueError", "evalue": "boom"}}
        tell(studio, body, "job 1", "lpstudio: job 1 of p/told failed")
    (said,) = [r.getMessage() for r in caplog.records if "failure webhook" in r.getMessage()]
    assert said.startswith("failure webhook for job 1 failed: "), said
    assert "refused" in said.lower() and "s3cr3t-token" not in said, said
    assert f"(http://{host}/****, notify.webhook of p/told)" in said, said
    assert said.endswith(
        "fix: check that its server runs and takes a JSON POST from this machine, or give the "
        "right URL with `lpstudio settings p/told --notify-webhook URL` ('' clears it)"
    ), said


@pytest.mark.parametrize("trigger", ["manual", "callable", "rerun", "test"])
def test_a_run_someone_waited_on_is_neither_retried_nor_reported_when_its_worker_vanished(
    ws: Path, db: Store, webhook: Any, trigger: str
) -> None:
    """A person's run or a bot's call ends in front of its caller, however it ends: a retry
    of a call the bot may repeat itself could act twice."""
    vanished = vanishing(db)
    with Studio.open(ws, user="alice") as studio:
        vanished(queue_lost(ws, studio, webhook, trigger).id)
        Scheduler(studio).tick()
    (lost,) = jobs(db, "p/lost.ipynb")
    assert (lost.status, lost.error["ename"]) == ("failed", "WorkerLost")
    assert webhook.posts == []


def test_a_job_over_its_timeout_fails_and_is_reported(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lpstudio.scheduler")
    recipe = poll_recipe(ws, "stuck", ("import time\ntime.sleep(120)",), timeout=1.5)
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/stuck")
        notify(studio, recipe, webhook.url)
        add_checkouts(sandbox, phones(0, 1))
        with scheduler_running(studio):
            wait_for(lambda: webhook.posts, timeout=120, what="the failure notification")
    (job,) = jobs(db, recipe)
    assert job.status == "failed" and job.error["ename"] == "Timeout"
    assert "timed out after 1.5 s" in job.error["evalue"]
    assert webhook.posts[0]["error"]["ename"] == "Timeout"
    # The daemon's end line says what went wrong, as `lpstudio show` does.
    # (On a loaded machine the timeout may come while the kernel starts, before any cell.)
    (ended,) = [m for m in caplog.messages if m.startswith(f"job {job.id} failed")]
    assert re.match(
        rf"job {job.id} failed \({recipe}\): Timeout( in cell [^:]+)?: timed out after 1\.5 s",
        ended,
    ), ended


def test_lpstudio_cancel_stops_a_running_scheduled_job(ws: Path, db: Store, webhook: Any) -> None:
    write_recipe(
        ws,
        "p/long",
        cells=("import time\ntime.sleep(120)",),
        metadata={
            "title": "long",
            "trigger": {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC"},
            "retries": {"count": 2, "interval": 0},
        },
    )
    recipe = "p/long.ipynb"
    now = at("2027-01-11T08:00:20")
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/long")
        back_date(studio, recipe, now - timedelta(seconds=30))
        notify(studio, recipe, webhook.url)
        with scheduler_running(studio, clock=lambda: now):

            def sleeping() -> int | None:
                found = jobs(db, recipe)
                return found[0].id if found and found[0].cells_done >= 1 else None

            job_id = wait_for(sleeping, timeout=60, what="the scheduled job in its cell")
            proc = run_cli("cancel", str(job_id), "--workspace", str(ws))
            assert proc.returncode == 0, proc.stderr
            assert "cancel requested" in proc.stdout
            wait_for(lambda: jobs(db, recipe)[0].status == "cancelled", what="the cancel")
    (job,) = jobs(db, recipe)  # a cancel is no failure: neither retried nor reported
    assert job.trigger == "schedule" and job.error["evalue"] == "cancelled by request"
    assert webhook.posts == []


def trigger_errors(db: Store, recipe: str) -> int:
    with db.read() as s:
        state = s.get(TriggerState, recipe)
        return state.errors if state is not None else 0


def test_a_started_recipe_edited_into_a_poll_trigger_polls_from_its_first_tick(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    """Started with another trigger, then saved with a poll trigger: it polls from the
    first tick that sees it (never from long before, which would flood its customers)."""
    daily = schedule_recipe(ws, "cart", {"cron": "0 9 * * *", "timezone": "UTC"}, connections=BOTH)
    with Studio.open(ws, user="alice") as studio:
        studio.start(daily)
        recipe = poll_recipe(ws, "cart", (SEND,))
        scheduler = Scheduler(studio)
        try:
            now = datetime.now(UTC)
            assert scheduler.tick(now) == []
            add_checkouts(sandbox, phones(0, 2))
            assert len(scheduler.tick(now + timedelta(minutes=1))) == 2
        finally:
            scheduler.drain()
    assert sorted(job.event["phone"] for job in jobs(db, recipe)) == phones(0, 2)


def test_consecutive_trigger_errors_stop_the_recipe_and_say_why(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 3\n")
    recipe = poll_recipe(ws, "cart", (SEND,))
    minute = timedelta(minutes=1)  # past the poll interval, so every tick polls
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/cart")
        notify(studio, recipe, webhook.url)
        scheduler = Scheduler(studio)
        try:
            now = datetime.now(UTC)
            studio.connections.update("shopify", {"access_token": "wrong-token"})
            scheduler.tick(now)
            scheduler.tick(now + minute)
            assert trigger_errors(db, recipe) == 2
            studio.connections.update("shopify", {"access_token": "shpat_sandbox"})
            scheduler.tick(now + 2 * minute)  # a poll that works ends the run of errors
            assert trigger_errors(db, recipe) == 0
            studio.connections.update("shopify", {"access_token": "wrong-token"})
            scheduler.tick(now + 3 * minute)
            scheduler.tick(now + 4 * minute)
            assert saved_settings(db, recipe)["state"] == "started"
            assert webhook.posts == []  # trigger errors alone are not reported
            scheduler.tick(now + 5 * minute)
            assert saved_settings(db, recipe)["state"] == "stopped"
            # Its failure contacts were told nothing: no job of it fails any more to say so.
            (told,) = webhook.posts
            assert (told["job"], told["recipe"], told["status"]) == (None, recipe, "stopped")
            assert told["error"]["ename"] == "AutoStopped"
            assert "stopped after 3 trigger errors in a row" in told["error"]["evalue"]
            assert "Invalid API key or access token" in told["error"]["evalue"]
            scheduler.tick(now + 6 * minute)
            assert trigger_errors(db, recipe) == 3  # stopped: not polled any more
            # The recipe's listing says why it stopped, until it is started again.
            listed = cli(ws, "recipes").output
            assert "stopped after 3 trigger errors in a row; last: " in listed, listed
            assert "Invalid API key or access token" in listed
            studio.connections.update("shopify", {"access_token": "shpat_sandbox"})
            studio.start("p/cart")
            assert trigger_errors(db, recipe) == 0  # started again, it gets 3 more tries
            assert "trigger errors" not in cli(ws, "recipes").output
        finally:
            scheduler.drain()
    result = cli(ws, "audit", "--json")
    assert result.exit_code == 0, result.output
    stops = [e for e in json.loads(result.stdout) if e["action"] == "auto-stop"]
    assert len(stops) == 1
    assert stops[0]["target"] == recipe and stops[0]["user"] == "lpstudio:scheduler"
    assert stops[0]["detail"]["reason"] == "3 consecutive trigger errors"
    assert "Invalid API key or access token" in stops[0]["detail"]["last_error"]
    assert jobs(db, recipe) == []


def test_a_start_made_while_the_last_error_is_counted_is_not_stopped(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The auto-stop counted the errors in one transaction and stopped in the next: a start
    landing in between (which clears the count) was undone."""
    import lpstudio.scheduler as scheduling

    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 1\n")
    recipe = poll_recipe(ws, "cart", (SEND,))
    with Studio.open(ws, user="alice") as studio:
        studio.start("p/cart")
        studio.connections.update("shopify", {"access_token": "wrong-token"})
        update_settings = scheduling.update_settings

        def started_meanwhile(store: Store, name: str, change: Any, user: str) -> Any:
            # Between the count and the stop: the token corrected, the recipe started again.
            studio.connections.update("shopify", {"access_token": "shpat_sandbox"})
            studio.stop("p/cart")
            studio.start("p/cart")
            return update_settings(store, name, change, user)

        monkeypatch.setattr(scheduling, "update_settings", started_meanwhile)
        scheduler = Scheduler(studio)
        try:
            scheduler.tick(datetime.now(UTC))
        finally:
            scheduler.drain()
    assert saved_settings(db, recipe)["state"] == "started"


@pytest.mark.parametrize("value", ['"sixty"', "0", "-3", "2.5", "true"])
def test_a_bad_auto_stop_after_is_refused_when_the_workspace_is_read(ws: Path, value: str) -> None:
    """Read only once a trigger failed, `"sixty"` broke that tick for every recipe after
    the failing one, and no recipe was ever stopped; 0 stopped one at its first error."""
    with (ws / "lpstudio.toml").open("a") as config:
        config.write(f"\n[triggers]\nauto_stop_after = {value}\n")
    with pytest.raises(WorkspaceError) as refused:
        Studio.open(ws, user="alice")
    assert refused.value.field == "triggers.auto_stop_after"
    assert "a whole number of consecutive trigger errors from 1" in refused.value.message
    assert refused.value.fix and "auto_stop_after = 60" in refused.value.fix


def test_lpstudio_scheduler_refuses_a_bad_auto_stop_after_naming_it(ws: Path) -> None:
    with (ws / "lpstudio.toml").open("a") as config:
        config.write('\n[triggers]\nauto_stop_after = "sixty"\n')
    refused = run_cli("scheduler", "--workspace", str(ws), timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "[triggers] auto_stop_after" in refused.stderr and "fix:" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe"])
def test_a_schedule_that_works_again_ends_its_run_of_errors(ws: Path, db: Store, zone: str) -> None:
    """ "Europe" (a folder of the time zone database) failed every tick, of every recipe."""
    recipe = schedule_recipe(ws, "daily", {"cron": "0 9 * * *", "timezone": "UTC"})
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.start("p/daily")
        back_date(studio, recipe, at("2027-01-11T00:00"))
        schedule_recipe(ws, "daily", {"cron": "0 9 * * *", "timezone": zone})
        tick("2027-01-11T08:00")
        assert trigger_errors(db, recipe) == 1
        schedule_recipe(ws, "daily", {"cron": "0 9 * * *", "timezone": "UTC"})
        tick("2027-01-11T08:01")
        assert trigger_errors(db, recipe) == 0


def test_a_recipe_that_fails_on_every_tick_counts_one_trigger_error_a_minute(
    ws: Path, db: Store
) -> None:
    """A started recipe saved broken (JupyterLab autosaves a half-typed parameters cell) or
    with a schedule that cannot be read fails on every tick of every daemon; a minute of
    that is one trigger error, not one a tick, so a minute's edit never stops a recipe."""
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 3\n")
    daily = {"cron": "0 9 * * *", "timezone": "UTC"}
    broken, zoned = schedule_recipe(ws, "broken", daily), schedule_recipe(ws, "zoned", daily)
    with Studio.open(ws, user="alice") as studio:
        for recipe in (broken, zoned):
            studio.start(recipe)
            back_date(studio, recipe, at("2027-01-11T00:00"))
        write_recipe(
            ws,
            "p/broken",
            parameters="x: int = (",
            metadata={"title": "b", "trigger": {"kind": "schedule", **daily}},
        )
        schedule_recipe(ws, "zoned", {**daily, "timezone": "Mars/Olympus_Mons"})
        first, second = Scheduler(studio), Scheduler(studio)  # two daemons on one store
        try:
            for tick in range(0, 60, 5):
                first.tick(at(f"2027-01-11T08:00:{tick:02d}"))
                second.tick(at(f"2027-01-11T08:00:{tick + 1:02d}"))
            assert trigger_errors(db, broken) == trigger_errors(db, zoned) == 1
            assert saved_settings(db, broken)["state"] == saved_settings(db, zoned)["state"]
            assert saved_settings(db, zoned)["state"] == "started"
            first.tick(at("2027-01-11T08:01:00"))
            second.tick(at("2027-01-11T08:02:00"))
        finally:
            first.drain()
            second.drain()
    assert saved_settings(db, broken)["state"] == saved_settings(db, zoned)["state"] == "stopped"


def test_a_schedule_whose_due_run_cannot_be_queued_is_stopped_after_its_errors(
    ws: Path, db: Store
) -> None:
    """A saved value the notebook refuses since (its maximum lowered) failed every due run
    as it was claimed, after the tick had ended the run of errors: each minute counted 1
    again, and the recipe was never stopped. Only a claimed run (or none due) ends it."""
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 5\n")

    def reminder(maximum: int) -> str:
        """Every minute, with a parameter of at most `maximum` days."""
        write_recipe(
            ws,
            "b/rem",
            "days_ahead: int = 3  # how far ahead",
            metadata={
                "title": "rem",
                "trigger": {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC"},
                "parameters": {"days_ahead": {"maximum": maximum}},
            },
        )
        return "b/rem.ipynb"

    recipe = reminder(30)
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        studio.save_settings(recipe, {"days_ahead": 10})
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-11T08:00"))
        reminder(5)  # the saved 10 is refused from now on
        for minute in range(1, 5):  # two ticks a minute: each minute counts one error
            assert tick(f"2027-01-11T08:{minute:02d}:10") == []
            assert tick(f"2027-01-11T08:{minute:02d}:40") == []
            assert trigger_errors(db, recipe) == minute
            assert saved_settings(db, recipe)["state"] == "started"
        assert tick("2027-01-11T08:05:10") == []
    assert saved_settings(db, recipe)["state"] == "stopped"
    assert trigger_errors(db, recipe) == 5
    listed = cli(ws, "recipes").output
    assert "stopped after 5 trigger errors in a row; last: ParameterError" in listed, listed
    assert "greater than the maximum of 5" in listed
    (stop,) = [
        e
        for e in json.loads(cli(ws, "audit", "--json").stdout)
        if e["target"] == recipe and e["action"] == "auto-stop"
    ]
    assert stop["detail"]["reason"] == "5 consecutive trigger errors"
    assert jobs(db, recipe) == []


def test_missed_runs_fire_once_or_not_at_all(ws: Path, db: Store) -> None:
    quarter = {"cron": "*/15 * * * *", "timezone": "UTC"}
    default = schedule_recipe(ws, "default", quarter)
    chosen = schedule_recipe(ws, "chosen", quarter)  # `skip` in the saved settings
    declared = schedule_recipe(ws, "declared", {**quarter, "missed_runs": "skip"})
    wrong = schedule_recipe(ws, "wrong", quarter)
    with Studio.open(ws, user="alice") as studio, ticking(studio) as tick:
        for recipe in (default, chosen, declared, wrong):
            studio.start(recipe)
            back_date(studio, recipe, at("2027-01-11T08:01"))
        for recipe, policy in ((chosen, "skip"), (wrong, "sometimes")):
            set_settings(studio.store, recipe, missed_runs=policy)
        # Back after missing 08:15 to 10:00 (eight runs).
        tick("2027-01-11T10:07")
        assert due_of(jobs(db, default)) == ["10:00"]
        assert jobs(db, chosen) == jobs(db, declared) == []
        # On time again, every policy fires.
        tick("2027-01-11T10:15:05")
        assert due_of(jobs(db, default)) == ["10:00", "10:15"]
        assert due_of(jobs(db, chosen)) == due_of(jobs(db, declared)) == ["10:15"]
    assert jobs(db, wrong) == []
    with db.read() as s:
        state = s.get(TriggerState, wrong)
        assert state is not None and state.errors == 2
        assert "trigger.missed_runs 'sometimes'" in (state.last_error or "")
        # A long outage costs one row per recipe and tick, not one per missed run.
        assert len(s.scalars(select(ScheduleRun).where(ScheduleRun.recipe == default)).all()) == 2


def test_a_started_schedule_started_again_keeps_the_run_it_missed(ws: Path, db: Store) -> None:
    """A second `lpstudio start` (a deploy script's) moved its start to now: the run that
    fell due while no scheduler ran was dropped, `run_once` notwithstanding."""
    recipe = schedule_recipe(ws, "again", {"cron": "*/15 * * * *", "timezone": "UTC"})
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        now = studio.store.now()
        back_date(studio, recipe, now - timedelta(hours=1))
        studio.start(recipe)
        assert saved_settings(db, recipe)["started_at"] == (now - timedelta(hours=1)).isoformat()
        scheduler = Scheduler(studio)
        try:
            assert len(scheduler.tick(now)) == 1  # the last quarter it missed, once
        finally:
            scheduler.drain()
        studio.stop(recipe)
        studio.start(recipe)  # a start after a stop is a new start
        assert datetime.fromisoformat(saved_settings(db, recipe)["started_at"]) >= now


def test_skip_never_drops_a_run_that_fell_due_while_the_scheduler_ran(ws: Path, db: Store) -> None:
    """A tick that comes late (a slow Shopify poll in the tick before, waiting out 429s)
    still fires what fell due since the tick before: the daemon was running then. Only runs
    that fell due while no scheduler ticked are missed."""
    recipe = schedule_recipe(
        ws, "skipper", {"cron": "*/15 * * * *", "timezone": "UTC", "missed_runs": "skip"}
    )
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        back_date(studio, recipe, at("2027-01-11T08:01"))
        running = Scheduler(studio)
        try:
            assert running.tick(at("2027-01-11T08:14:30")) == []
            assert len(running.tick(at("2027-01-11T08:17:10"))) == 1  # 08:15, 2 min late
        finally:
            running.drain()
        # No scheduler ticked when 08:30 fell due: a scheduler started after it skips it,
        # then fires 08:45 although its own next tick comes late.
        restarted = Scheduler(studio)
        try:
            assert restarted.tick(at("2027-01-11T08:32")) == []
            assert len(restarted.tick(at("2027-01-11T08:47:30"))) == 1
        finally:
            restarted.drain()
        # A scheduler that waited for the lease while another led did not tick: what fell due
        # meanwhile and nobody fired was missed.
        lease = StoreLease(studio.store, holder="server-a")
        other = StoreLease(studio.store, holder="server-b")
        leader = Scheduler(studio, lease=lease)
        try:
            assert leader.leading()
            assert leader.tick(at("2027-01-11T08:59:30")) == []
            lease.release()
            assert other.acquire() and not leader.leading()
            other.release()  # server-b stopped without firing 09:00
            assert leader.leading()
            assert leader.tick(at("2027-01-11T09:02")) == []
            assert len(leader.tick(at("2027-01-11T09:17"))) == 1
        finally:
            leader.drain()
    assert due_of(jobs(db, recipe)) == ["08:15", "08:45", "09:15"]
    with db.read() as s:
        skipped = s.scalars(
            select(ScheduleRun.due_at).where(ScheduleRun.recipe == recipe, ScheduleRun.skipped)
        ).all()
    assert [m.strftime("%H:%M") for m in skipped] == ["08:30", "09:00"]


# -- the queue: whose jobs the daemon takes, and in which order ------------------------------


def test_a_backlog_or_a_job_queued_by_lpstudio_run_never_stalls_the_daemon(
    ws: Path, sandbox: Sandbox, db: Store, caplog: pytest.LogCaptureFixture
) -> None:
    backlog = poll_recipe(ws, "backlog", (SEND,))
    daily = schedule_recipe(ws, "daily", {"cron": "0 9 * * *", "timezone": "UTC"})
    with Studio.open(ws, user="alice") as studio:
        # A job `lpstudio run` has queued and is about to claim is not the daemon's.
        version = studio.store.snapshot(daily, studio.recipe(daily).canonical_json, {}, "alice")
        manual = studio.store.create_job(
            recipe=daily, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        # A stopped recipe's backlog, longer than one read of the queue.
        studio.start("p/backlog")
        add_checkouts(sandbox, phones(0, 250))
        assert len(studio.poll("p/backlog", run=False)) == 250
        studio.stop("p/backlog")
        studio.start("p/daily")
        back_date(studio, daily, at("2027-01-11T00:00"))
        scheduler = Scheduler(studio, clock=lambda: at("2027-01-11T09:00:10"))
        try:
            caplog.set_level(logging.INFO, logger="lpstudio.scheduler")
            (scheduled,) = scheduler.tick()
            assert scheduler.fill() == 1
            assert studio.job(manual.id).status == "queued"
            wait_for(lambda: studio.job(scheduled).status in FINAL_STATES, what="the daily job")
            assert scheduler.fill() == 0
        finally:
            scheduler.drain()
    assert [job.status for job in jobs(db, daily)] == ["queued", "succeeded"]
    assert jobs(db, daily)[0].id == manual.id and jobs(db, daily)[0].worker is None
    assert {job.status for job in jobs(db, backlog)} == {"queued"}
    # Why the backlog waits is said once, for its first job, however often the queue is read.
    first = min(job.id for job in jobs(db, backlog))
    told = [r.getMessage() for r in caplog.records if "is stopped" in r.getMessage()]
    assert told == [
        f"job {first} waits: its recipe {backlog} is stopped: `lpstudio start {backlog}` "
        f"runs its queued jobs, `lpstudio cancel {first}` drops this one"
    ]


def test_a_slow_poll_never_holds_back_the_queue_nor_a_stop(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    """A poll waiting on an app that answers late (or not at all) holds back no job of any
    other recipe, nor the daemon's stop: it starts queued jobs, and drains, apart from the
    ticks that poll (a poll cut short writes nothing: its jobs and cursor go together)."""
    slow = poll_recipe(ws, "slow", (SEND,))
    write_recipe(ws, "p/hook", metadata={"title": "hook", "trigger": {"kind": "webhook"}})
    faults = f"{sandbox.url}/_sandbox/faults"
    with Studio.open(ws, user="alice") as studio:
        studio.start(slow)
        studio.start("p/hook")
        before = last_poll(db, slow)
        assert httpx.post(faults, json={"latency_ms": 20_000, "scope": "shopify"}).is_success
        _, (hook,), _ = studio.receive_webhook(studio.webhook_id("p/hook.ipynb"), {}, b"{}")
        scheduler = Scheduler(studio, idle_seconds=0.05)
        daemon = threading.Thread(target=scheduler.run_forever)
        daemon.start()
        try:
            wait_for(lambda: studio.job(hook.id).status in FINAL_STATES, what="the webhook job")
            assert last_poll(db, slow) == before  # the first poll is still on its way
            # SIGTERM: the daemon drains and ends now, not once that poll is answered.
            scheduler.stop()
            daemon.join(10)
            assert not daemon.is_alive() and last_poll(db, slow) == before
        finally:
            assert httpx.delete(faults).is_success
            scheduler.stop()
            daemon.join(60)
    assert studio.job(hook.id).status == "succeeded"


def poll_claimed(db: Store, recipe: str) -> bool:
    """Whether a scheduler took the trigger's next poll (it moves `next_poll_at` first)."""
    with db.read() as s:
        state = s.get(TriggerState, recipe)
        return state is not None and state.next_poll_at is not None


def test_a_slow_poll_never_holds_back_a_schedule(ws: Path, sandbox: Sandbox, db: Store) -> None:
    """The daemon's tick polled in its own thread: while Shopify took 150 s to answer, no
    schedule fired (and a server's lease went unrenewed), and the runs that fell due were
    folded into one."""
    slow = poll_recipe(ws, "slow", (SEND,))
    minute = schedule_recipe(ws, "minute", {"cron": "* * * * *", "timezone": "UTC"})
    faults = f"{sandbox.url}/_sandbox/faults"
    clock = [at("2027-01-11T08:00:30")]
    with Studio.open(ws, user="alice") as studio:
        studio.start(slow)
        studio.start(minute)
        back_date(studio, minute, at("2027-01-11T08:00"))
        assert httpx.post(faults, json={"latency_ms": 30_000, "scope": "shopify"}).is_success
        scheduler = Scheduler(studio, idle_seconds=0.05, clock=lambda: clock[0])
        daemon = threading.Thread(target=scheduler.run_forever)
        daemon.start()
        try:
            wait_for(lambda: poll_claimed(db, slow), what="the poll under way")
            clock[0] = at("2027-01-11T08:01:05")
            wait_for(lambda: jobs(db, minute), timeout=15, what="the 08:01 run")
            clock[0] = at("2027-01-11T08:02:05")
            wait_for(lambda: len(jobs(db, minute)) == 2, timeout=15, what="the 08:02 run")
        finally:
            assert httpx.delete(faults).is_success
            scheduler.stop()
            daemon.join(60)
    assert due_of(jobs(db, minute)) == ["08:01", "08:02"]


def test_purge_erases_job_data_but_keeps_ids_statuses_and_times(ws: Path, db: Store) -> None:
    write_recipe(ws, "p/old", cells=("import lpstudio.kernel as lp\nlp.set_result({'x': x})",))
    phone = "+12025550100"
    write_recipe(ws, "p/boom", cells=(f"raise KeyError({phone!r})",))
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/old", {"x": 3}, event={"phone": phone})
        failed = studio.run("p/boom", event={"phone": phone})
        studio.calls.claim("cb", "key-1", "optin", "0" * 64)  # a callable's idempotency key
    assert job.status == "succeeded" and job.output_path
    assert failed.status == "failed" and phone in failed.error["evalue"]
    output = ws / job.output_path
    assert output.is_file()

    result = cli(ws, "purge", "--older-than", "0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"purged": [job.id, failed.id], "prepared": []}
    assert not output.exists()
    # An error's message and traceback quoted the data: only its kind and cell stay.
    assert db.job(failed.id).error == {
        "ename": "KeyError",
        "cell": failed.error["cell"],
        "execution_count": failed.error["execution_count"],
    }
    (kept,) = [j for j in jobs(db) if j.id == job.id]
    assert (kept.id, kept.status, kept.purged) == (job.id, "succeeded", True)
    assert (kept.created_at, kept.started_at, kept.finished_at) == (
        job.created_at,
        job.started_at,
        job.finished_at,
    )
    assert (kept.output_path, kept.event, kept.parameters, kept.result) == (None, None, {}, None)
    with Studio.open(ws, user="alice") as studio:  # its key is forgotten with the job's data
        assert studio.calls.claim("cb", "key-1", "optin", "0" * 64)[1]

    rerun = cli(ws, "rerun", str(job.id))
    assert rerun.exit_code == 2
    assert f"job {job.id} was purged" in rerun.output and "cannot be rerun" in rerun.output
    assert len(jobs(db)) == 2

    # The daemon purges too, once a day, after the workspace's retention period.
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/old.ipynb", "{}", {}, "alice")
        old = studio.store.create_job(
            recipe="p/old.ipynb", version_id=version, trigger="manual", user="alice"
        )
        long_ago = datetime.now(UTC) - timedelta(days=31)
        set_job(studio.store, old.id, status="succeeded", finished_at=long_ago)
        recent = studio.store.create_job(
            recipe="p/old.ipynb", version_id=version, trigger="manual", user="alice"
        )
        set_job(studio.store, recent.id, status="succeeded", finished_at=datetime.now(UTC))
        scheduler = Scheduler(studio)
        try:
            scheduler.tick()
        finally:
            scheduler.drain()
    assert [job.purged for job in jobs(db)] == [True, True, True, False]


def test_a_daily_shortcut_fires_once_when_midnight_happens_twice() -> None:
    # In Havana clocks go back from 01:00 to 00:00 on 7 November 2027: midnight twice.
    window = (datetime(2027, 11, 6, 12, tzinfo=UTC), datetime(2027, 11, 8, 12, tzinfo=UTC))
    for cron in ("@daily", "@midnight", "0 0 * * *"):
        moments = due_times(cron, "America/Havana", *window)
        assert [m.isoformat() for m in moments] == [
            "2027-11-07T04:00:00+00:00",
            "2027-11-08T05:00:00+00:00",
        ], cron
    hourly = due_times("@hourly", "America/Havana", *window)
    assert len(hourly) == 48  # every real hour of the 48, the repeated one too


def test_a_daily_run_in_the_skipped_or_repeated_hour_fires_once() -> None:
    # New York, 2027: 02:00 becomes 03:00 on 14 March; 02:00 becomes 01:00 on 7 November.
    zone = "America/New_York"
    spring = due_times("30 2 * * *", zone, at("2027-03-13T12:00"), at("2027-03-15T12:00"))
    assert [m.isoformat() for m in spring] == [
        "2027-03-14T07:00:00+00:00",  # 03:00 EDT, the first moment after the gap
        "2027-03-15T06:30:00+00:00",
    ]
    fall = due_times("30 1 * * *", zone, at("2027-11-06T12:00"), at("2027-11-08T12:00"))
    assert [m.isoformat() for m in fall] == [
        "2027-11-07T05:30:00+00:00",  # the first 01:30 (EDT), not the second (EST)
        "2027-11-08T06:30:00+00:00",
    ]
