"""The store on a real PostgreSQL server: the scale-out store of several machines.

Everything the store promises on SQLite must hold here too: migrations from nothing, jobs
with their history, and atomic claims that two schedulers racing never both win.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, event, func, insert, inspect, select, text
from sqlalchemy.exc import OperationalError

import lpstudio.failures
import lpstudio.leader
import lpstudio.models
import lpstudio.scheduler
import lpstudio.store
import lpstudio.triggers
from lpstudio.cli import main
from lpstudio.connections import MASK
from lpstudio.errors import InputError
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.leader import StoreLease
from lpstudio.metrics import dashboard_metrics, recipes_with_jobs
from lpstudio.models import Job, ScheduleRun, utcnow
from lpstudio.scheduler import Scheduler
from lpstudio.store import RUNNING, SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from tests.browser import free_port
from tests.conftest import printed, selects_on_jobs, set_job, wait_for, write_recipe
from tests.postgres import (
    create_database,
    postgres_server,
    restart_server,
    server_down,
    workspace_on,
)
from tests.servers import serving
from tests.test_delivery_checks import old_check_carried, purge_drops_unnamed_checks
from tests.test_job_faults import queue_webhook_job
from tests.test_jobs_list_rows import listing_holds_one_copy
from tests.test_metrics import upgrade_leaves_test_runs_out
from tests.test_proactive_counts import figures_follow_the_rule
from tests.test_scheduler import back_date, due_of, jobs, race_quarter_hours, schedule_recipe
from tests.test_settings_revisions import both_saves_stay
from tests.test_stopped_job_accounting import running_job
from tests.test_store_schema import settings_gain_revisions


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_ws(tmp_path: Path, server: str, request: pytest.FixtureRequest) -> Path:
    """A workspace whose store is a fresh PostgreSQL database."""
    return workspace_on(server, tmp_path / "ws", request.node.name)


def test_a_workspace_on_postgresql_runs_jobs_and_keeps_history(pg_ws: Path) -> None:
    write_recipe(pg_ws, "p/double", cells=("y = x * 2", "print(y)"))
    with Studio.open(pg_ws, user="alice") as studio:
        assert studio.store.engine.dialect.name == "postgresql"
        job = studio.run("p/double", {"x": 21})
        assert job.status == "succeeded", job.error
        assert "42" in (pg_ws / job.output_path).read_text()
        (listed,) = studio.jobs()
        assert listed.id == job.id
        now = utcnow()
        metrics = dashboard_metrics(studio.store, now - timedelta(days=1), now + timedelta(hours=1))
        assert metrics["jobs_per_day"] == [
            {"day": now.date().isoformat(), "status": "succeeded", "count": 1}
        ]
        assert metrics["recipes"][0]["succeeded"] == 1


def test_the_store_s_password_never_reaches_an_output_notebook(pg_ws: Path) -> None:
    """A job's kernel gets the store's URL (its delivery ledger lives there) and may read
    lpstudio.toml: whatever it prints of them, the stored notebook masks the password."""
    config = pg_ws / "lpstudio.toml"
    url = re.search(r'url = "(.+)"', config.read_text()).group(1)  # type: ignore[union-attr]
    config.write_text(f'[store]\nurl = "{url.replace("postgres@", "postgres:Pg%40ss-w0rd@")}"\n')
    write_recipe(
        pg_ws,
        "p/leaky",
        cells=(
            "import lpstudio.kernel as lp\nprint(lp._runtime.store_url)",
            "from sqlalchemy.engine import make_url\n"
            "print(make_url(lp._runtime.store_url).password)",
            f"print(open({str(config)!r}).read())",
        ),
    )
    with Studio.open(pg_ws, user="alice") as studio:
        job = studio.run("p/leaky")
    assert job.status == "succeeded", job.error
    written = (pg_ws / job.output_path).read_text()
    assert "Pg%40ss-w0rd" not in written and "Pg@ss-w0rd" not in written
    assert written.count(f"postgres:{MASK}@") == 2  # the URL from the runtime and from the file


def test_the_store_s_password_is_a_secret_in_parameters_and_events_too(pg_ws: Path) -> None:
    """A connection's secret given as a parameter was refused; the store's password was run,
    saved and shown in clear (`lpstudio show`, the REST answer, the kernel's context), and a
    call's event kept it: only its plain-field check and the notebooks knew it as a secret.
    A call's event holding it is shown masked, and its recipe gets it whole."""
    config = pg_ws / "lpstudio.toml"
    url = re.search(r'url = "(.+)"', config.read_text()).group(1)  # type: ignore[union-attr]
    config.write_text(f'[store]\nurl = "{url.replace("postgres@", "postgres:pw-Secret-77@")}"\n')
    write_recipe(pg_ws, "p/tick", "label: str = 'x'  # a label", cells=("print(label)",))
    cells = (
        "import lpstudio.kernel as lp",
        "print(len(lp.event['note']))\nlp.respond({'n': len(lp.event['note'])})",
    )
    callable_ = {"title": "note", "trigger": {"kind": "callable", "path": "note"}}
    write_recipe(pg_ws, "p/note", "label: str = 'x'  # a label", cells=cells, metadata=callable_)
    with Studio.open(pg_ws, user="alice") as studio:
        studio.start("p/note")  # a call reaches a started recipe only (a stopped one's: cancelled)
        for act in (
            lambda: studio.run("p/tick", {"label": "x pw-Secret-77 y"}),
            lambda: studio.save_settings("p/tick", {"label": "pw-Secret-77"}),
            lambda: studio.run("p/tick", event={"note": "pw-Secret-77"}),  # a person's
        ):
            with pytest.raises(InputError) as refused:
                act()
            assert refused.value.field in ("label", "event")
            assert "password of the workspace's store" in refused.value.message
        assert studio.jobs() == []  # nothing was queued
        job, finished = studio.dispatch(
            "p/note", event={"note": "pw-Secret-77"}, trigger="callable"
        )
        ended = finished.result(timeout=120)
        assert ended.status == "succeeded", ended.error
        kept = studio.job(job.id)
        assert kept.event == {"note": MASK} and "Secret-77" not in (kept.sealed_event or "")
        output = nbformat.read(pg_ws / ended.output_path, as_version=4)
        assert printed(output.cells[-1]).strip() == "12"  # "pw-Secret-77", not "****"


def test_racing_claims_on_postgresql_never_exceed_a_recipe_concurrency(pg_ws: Path) -> None:
    write_recipe(pg_ws, "p/one")
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
        version = studio.store.snapshot("p/one.ipynb", "{}", {}, "alice")
    stores = [Store(url) for _ in range(8)]  # eight schedulers, each its own connections
    for _round in range(10):
        # Each scheduler claims a different queued job of the recipe at the same moment.
        ids = [
            stores[0]
            .create_job(recipe="p/one.ipynb", version_id=version, trigger="poll", user="alice")
            .id
            for _ in stores
        ]
        start = threading.Barrier(len(stores))
        won: list[int] = []

        def claim(store: Store, job_id: int, start: threading.Barrier, won: list[int]) -> None:
            start.wait()
            if store.claim_job(job_id, running_limit=1):
                won.append(job_id)

        threads = [
            threading.Thread(target=claim, args=(store, job_id, start, won))
            for store, job_id in zip(stores, ids, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
        stores[0].finish_job(won[0], "succeeded")
    with stores[0].read() as s:
        assert s.scalar(select(func.count(Job.id)).where(Job.status == RUNNING)) == 0
    for store in stores:
        store.close()


def test_a_writer_waiting_past_the_busy_timeout_fails_on_postgresql_too(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers take turns on an advisory lock: one held by a stuck write was waited for
    without end. Past the busy timeout the next writer fails, as on SQLite, and nothing it
    meant to write is written; once the write ends, the next one goes through."""
    monkeypatch.setattr(lpstudio.store, "BUSY_TIMEOUT", 0.3)
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    holder, waiter = Store(url), Store(url)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.write() as s:
            s.execute(text("SELECT 1"))  # the transaction begins: the lock is taken
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        with pytest.raises(OperationalError, match="lock timeout"), waiter.write() as s:
            s.execute(text("SELECT 1"))
            lpstudio.store.audit_in(s, "alice", "never", "written")
    finally:
        release.set()
        thread.join()
    with waiter.write() as s:
        lpstudio.store.audit_in(s, "alice", "after", "written")
    actions = [entry.action for entry in waiter.audit_log()]
    assert actions[0] == "after" and "never" not in actions
    holder.close()
    waiter.close()


def test_one_scheduler_lease_holder_on_postgresql(pg_ws: Path) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    stores = [Store(url) for _ in range(6)]
    leases = [StoreLease(store, seconds=60) for store in stores]
    start = threading.Barrier(len(leases))
    held: list[str] = []

    def take(lease: StoreLease) -> None:
        start.wait()
        if lease.acquire():
            held.append(lease.holder)

    threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 1
    assert leases[0].status()["leader"] == held[0]
    for store in stores:
        store.close()


def test_daemons_starting_together_on_an_empty_database_migrate_it_once(server: str) -> None:
    """Machines deployed at once each open the new store: one creates its tables, the
    others wait for it and find them made, none fails."""
    url = create_database(server, "deployed_together")
    stores = [Store(url, create=True) for _ in range(6)]
    try:
        for store in stores:  # connected first: the race is in the migration itself
            assert store.schema_revision() is None
        start = threading.Barrier(len(stores))
        failed: list[BaseException] = []

        def migrate(store: Store) -> None:
            start.wait()
            try:
                store.migrate()
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=migrate, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failed == []
        assert {store.schema_revision() for store in stores} == {SCHEMA_HEAD}
    finally:
        for store in stores:
            store.close()


def test_init_refused_on_an_empty_database_leaves_it_empty(ws: Path, cli: Any, server: str) -> None:
    """`init` on a new PostgreSQL database, refused over history/'s old notebooks, left
    lpstudio's tables behind: every command then called the workspace never activated
    instead of naming `[store] url` (a refused init on a new SQLite file leaves no file)."""
    old = ws / "history" / "p" / "done-1.ipynb"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    url = create_database(server, "refused_init")
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("sqlite:///lpstudio.db", url))

    refused = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--json"])
    assert refused.exit_code == 2, refused.output
    assert json.loads(refused.stdout)["error"]["field"] == "history", refused.output
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
    error = json.loads(cli("jobs", "--json").stdout)["error"]
    assert error["field"] == "store.url" and "never activated" not in error["message"], error
    assert "mv history history.old" in error["fix"], error

    (ws / "history").rename(ws / "history.old")
    init = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--admin", "alice"])
    assert init.exit_code == 0, init.output
    assert cli("jobs", "--json").exit_code == 0


# -- a store that cannot serve -----------------------------------------------------------------

#: The database password of the URLs below: it must appear nowhere.
PASSWORD = "Hunter2pw"


def _open_with_store(ws: Path, cli: Any, url: str) -> Result:
    """`lpstudio jobs --json` in `ws`, its `[store] url` set to `url`."""
    (ws / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    return cli("jobs", "--json")


def _refused(result: Result, says: str, code: str = "WorkspaceError") -> dict[str, Any]:
    """A store the command cannot use: 2 for a setting to correct, 75 for a database that
    cannot be reached now (run it again)."""
    assert result.exit_code == (75 if code == "StoreUnavailable" else 2), result.output
    assert "Traceback" not in result.output and PASSWORD[2:] not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == code and error["field"] == "store.url", error
    assert says in error["message"], error
    assert "lpstudio.toml" in error["fix"], error
    return error


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql+psycopg//alice:{PASSWORD}@db.internal/brand", "is not a database URL"),
        (f"postgres://alice:{PASSWORD}@db.internal/brand", "as postgresql+psycopg://"),
        (f"mysql://alice:{PASSWORD}@db.internal/brand", "does not support"),
        (f"postgresql+asyncpg://alice:{PASSWORD}@db.internal/brand", "driver that is not"),
        (f"postgresql+psycopg://alice:Hu@{PASSWORD[2:]}@db.internal/brand", "percent-encoded"),
    ],
    ids=["no-scheme", "postgres-alias", "mysql", "no-driver", "unencoded-at"],
)
def test_a_store_url_lpstudio_cannot_use_is_refused_naming_the_setting(
    ws: Path, cli: Any, url: str, says: str
) -> None:
    error = _refused(_open_with_store(ws, cli, url), says)
    assert "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE" in error["fix"]
    # The driver's install, for a package install and in a checkout.
    assert "pip install 'lpstudio[postgres]'" in error["fix"], error
    assert "pip install -e '.[postgres]'" in error["fix"], error


def test_a_store_url_that_is_no_text_is_refused_naming_the_setting(ws: Path, cli: Any) -> None:
    (ws / "lpstudio.toml").write_text("[store]\nurl = 5\n")
    result = cli("jobs", "--json")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "store.url" and "must be text, not 5" in error["message"], error


def test_an_unreachable_store_is_refused_naming_the_setting(ws: Path, cli: Any) -> None:
    url = f"postgresql+psycopg://alice:{PASSWORD}@127.0.0.1:{free_port()}/brand"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store", "StoreUnavailable")
    assert "alice:***@127.0.0.1" in error["message"] and "refused" in error["message"]
    assert "database server runs" in error["fix"]


def test_a_mistyped_option_in_the_store_url_is_refused_naming_the_setting(
    ws: Path, cli: Any
) -> None:
    """The driver's "invalid connection option" was a traceback, exit 1."""
    url = f"postgresql+psycopg://alice:{PASSWORD}@127.0.0.1:{free_port()}/brand?sslmod=disable"
    error = _refused(_open_with_store(ws, cli, url), "was refused")
    assert 'invalid connection option "sslmod"' in error["message"], error
    assert "alice:***@127.0.0.1" in error["message"] and PASSWORD not in json.dumps(error)
    assert "?sslmode=require" in error["fix"], error


@pytest.mark.parametrize(
    "where", ["127.0.0.1:99999/brand", "127.0.0.1/brand?port=99999"], ids=["port", "query"]
)
def test_a_port_past_65535_is_refused_as_a_setting_to_correct(
    ws: Path, cli: Any, where: str
) -> None:
    """libpq's "invalid port number" was taken for a database that cannot be reached: exit
    75, "try again once the database answers", and a scheduler waited for it for ever."""
    url = f"postgresql+psycopg://alice:{PASSWORD}@{where}"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store")
    assert 'invalid port number: "99999"' in error["message"], error
    assert "correct [store] url" in error["fix"] and "try again" not in error["fix"], error


@pytest.mark.parametrize(
    "query",
    [
        f"password={PASSWORD}",
        f"host=127.0.0.1&user=alice&sslpassword={PASSWORD}&password={PASSWORD}",
    ],
    ids=["password", "all-in-query"],
)
def test_a_password_given_in_the_store_url_s_query_is_never_shown(
    ws: Path, cli: Any, query: str
) -> None:
    """libpq takes `?password=` as well as `user:password@`: it was quoted in the error."""
    port = free_port()
    url = f"postgresql+psycopg://alice@127.0.0.1:{port}/brand?{query}"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store", "StoreUnavailable")
    assert "password=***" in error["message"] and PASSWORD not in json.dumps(error), error
    store = Store(url)
    try:
        assert PASSWORD in store.secrets  # masked in output notebooks too
    finally:
        store.close()


def test_a_database_that_does_not_exist_is_refused_naming_the_setting(
    ws: Path, cli: Any, server: str
) -> None:
    url = server.replace("postgres@", f"postgres:{PASSWORD}@").rsplit("/", 1)[0] + "/nowhere"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store")
    assert 'database "nowhere" does not exist' in error["message"], error


def test_a_database_without_lpstudio_s_tables_is_refused_untouched(
    ws: Path, cli: Any, server: str
) -> None:
    """A database with no store in it (a typo of another's name, one made for a copy) was
    given lpstudio's tables by the first command, a read, which then said the workspace was
    never activated."""
    url = create_database(server, "no_store").replace("postgres@", f"postgres:{PASSWORD}@")
    error = _refused(_open_with_store(ws, cli, url), "no lpstudio store at")
    assert "store-copy" in error["fix"] and "--accept-terms" in error["fix"], error
    store = Store(url)
    try:
        assert store.schema_revision() is None
    finally:
        store.close()


def test_an_option_of_the_wrong_type_is_refused_as_a_setting(
    ws: Path, cli: Any, server: str
) -> None:
    """psycopg takes `?prepare_threshold=abc` at connect, and its first query raised a
    TypeError: a traceback."""
    url = server.replace("postgres@", f"postgres:{PASSWORD}@") + "?prepare_threshold=abc"
    error = _refused(_open_with_store(ws, cli, url), "was refused")
    assert "postgres:***@" in error["message"] and "option after `?`" in error["message"], error
    assert "options (after `?`)" in error["fix"], error


def test_init_on_another_application_s_database_is_refused_leaving_nothing(
    tmp_path: Path, server: str
) -> None:
    """A database holding a table named as one of lpstudio's (another application's
    `users`) crashed `lpstudio init` with DuplicateTable's traceback, leaving the workspace's
    key and folders behind."""
    url = create_database(server, "another_app").replace("postgres@", f"postgres:{PASSWORD}@")
    other = Store(url)  # the other application's
    with other.engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (login text)"))
    other.close()
    root = tmp_path / "brand"
    root.mkdir()
    (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')

    result = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--json"])

    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "store.url" and "users" in error["message"], error
    assert "postgres:***@" in error["message"] and PASSWORD not in json.dumps(error), error
    assert "empty database" in error["fix"], error
    assert [p.name for p in root.iterdir()] == ["lpstudio.toml"]
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            assert inspect(conn).get_table_names() == ["users"]
    finally:
        store.close()


def test_a_postgresql_store_a_newer_lpstudio_upgraded_is_refused_untouched(
    ws: Path, cli: Any, server: str
) -> None:
    url = create_database(server, "newer").replace("postgres@", f"postgres:{PASSWORD}@")
    store = Store(url, create=True)
    try:
        store.migrate()
        with store.write() as s:
            s.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        result = _open_with_store(ws, cli, url)
        assert result.exit_code == 2, result.output
        assert PASSWORD not in result.output and "Traceback" not in result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "store" and "0099" in error["message"], error
        assert "postgres:***@127.0.0.1" in error["message"], error
        assert store.schema_revision() == "0099"
    finally:
        store.close()


# -- machines that disagree on the time ----------------------------------------------------

#: How far the clock of a machine sharing the store is off.
SKEW = timedelta(minutes=5)


def _skewed(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """This process's clock runs `by` ahead (or behind) from now on, as another machine's
    clock may: every lpstudio module reads the time through `utcnow`."""
    moved = lambda: datetime.now(UTC) + by  # noqa: E731
    modules = (lpstudio.leader, lpstudio.store, lpstudio.models, lpstudio.failures)
    for module in (*modules, lpstudio.scheduler, lpstudio.triggers):
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", moved)


def test_a_server_whose_clock_is_off_never_takes_a_live_leader_s_lease(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    stores = [Store(url), Store(url)]
    leader, other = (StoreLease(store, seconds=30) for store in stores)
    try:
        # The leader's machine runs slow: it renews the lease, which by the clock of a
        # server with the true time must not have run out already.
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            assert leader.acquire() and leader.acquire()
        assert not other.acquire()
        assert other.status()["leader"] == leader.holder
        # A server whose machine runs fast must not find a lease renewed just now expired.
        assert leader.acquire()
        with monkeypatch.context() as m:
            _skewed(m, SKEW)
            assert not other.acquire()
            assert other.status()["leader"] == leader.holder
        assert leader.status()["is_leader"]
    finally:
        for store in stores:
            store.close()


def test_a_machine_whose_clock_is_off_never_reaps_a_live_job(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    worker, reaper = Store(url), Store(url)
    try:
        version = worker.snapshot("p/one.ipynb", "{}", {}, "alice")
        live, silent = (
            worker.create_job(
                recipe=f"p/{name}.ipynb", version_id=version, trigger="poll", user="alice"
            )
            for name in ("live", "silent")
        )
        # The worker (this live process) runs a job on a machine whose clock runs slow...
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            assert worker.claim_job(live.id, running_limit=1)
            assert worker.heartbeat(live.id, cells_done=1) is False
            assert worker.claim_job(silent.id, running_limit=1)
        # ...one of them silent for two minutes, by the store's clock.
        set_job(reaper, silent.id, heartbeat_at=reaper.now() - timedelta(minutes=2))
        # A scheduler on a machine whose clock runs fast reaps the jobs silent for a
        # minute: the live one beat just now; the silent one goes back to the queue.
        with monkeypatch.context() as m:
            _skewed(m, SKEW)
            assert reaper.reap_lost_jobs(timedelta(seconds=60)) == []
        assert reaper.job(live.id).status == RUNNING
        assert reaper.job(silent.id).status == "queued"
        assert worker.heartbeat(live.id, cells_done=2) is False  # still the worker's
    finally:
        worker.close()
        reaper.close()


def test_a_send_under_way_is_told_from_an_earlier_run_s_by_the_store_s_clock(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job put back in the queue mid-request runs again on a machine whose clock runs
    slow: its earlier run's claim, dated by the first machine's clock, looked like one of
    the new run (made after its start), so other jobs waited for a send nobody makes."""
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    store = Store(url)
    try:
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        assert store.start_job(job.id, 2, "out.ipynb")
        StoreLedger(url, f"job:{job.id}", job.id, store=store).claim_many(["earlier"])
        store.requeue(job.id)
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)  # the next run's machine
            assert store.start_job(job.id, 2, "out.ipynb")
            StoreLedger(url, f"job:{job.id}", job.id, store=store).claim_many(["now"])
        other = StoreLedger(url, f"job:{job.id}", job.id + 1, store=store)
        assert other.sending(["earlier", "now"]) == {"now": job.id}
    finally:
        store.close()


def test_a_job_queued_on_a_machine_whose_clock_is_off_fails_only_once_silent(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server on a machine whose clock runs slow queues a job for its busy workers: a
    scheduler whose clock runs fast must not take it for lost, and must once it is silent."""
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    server, reaper = Store(url), Store(url)
    try:
        version = server.snapshot("p/one.ipynb", "{}", {}, "alice")
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            job = server.create_job(
                recipe="p/one.ipynb",
                version_id=version,
                trigger="manual",
                user="alice",
                worker="other-machine/0123abcd:4242",
            )
        with monkeypatch.context() as m:
            _skewed(m, SKEW)
            assert reaper.reap_lost_jobs(timedelta(seconds=60)) == []
        assert reaper.job(job.id).status == "queued"
        set_job(reaper, job.id, heartbeat_at=reaper.now() - timedelta(minutes=2))
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            assert reaper.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
        assert reaper.job(job.id).error["ename"] == "WorkerLost"
    finally:
        server.close()
        reaper.close()


def test_a_job_queued_on_a_machine_whose_clock_is_off_waited_by_the_store_s_clock(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its time in the queue is its start less its creation: a creation dated by a machine
    whose clock runs slow made a job started at once look queued for minutes."""
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    store = Store(url)
    try:
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        assert store.start_job(job.id, 2, "out.ipynb")
        started = store.job(job.id)
        assert started.created_at <= started.started_at
        assert started.started_at - started.created_at < SKEW / 5
    finally:
        store.close()


def test_a_retry_queued_on_a_machine_whose_clock_is_off_is_dated_by_the_store_s_clock(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retries, schedules' and polls' jobs were dated by the machine that queued them: a
    retry queued on a slow machine looked older than the job it retries."""
    from lpstudio.failures import after_failure

    metadata = {"title": "r", "retries": {"count": 1, "interval": 0}}
    write_recipe(pg_ws, "p/retried", metadata=metadata)
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        notebook = studio.recipe("p/retried").canonical_json  # its retries are the version's
        version = store.snapshot("p/retried.ipynb", notebook, {}, "alice")
        job = store.create_job(
            recipe="p/retried.ipynb", version_id=version, trigger="schedule", user="alice"
        )
        store.finish_job(job.id, "failed", error={"ename": "RuntimeError", "evalue": "no"})
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            retry_id = after_failure(studio, store.job(job.id))
        assert retry_id is not None
        assert store.job(retry_id).created_at >= store.job(job.id).created_at


class _FastMachine(datetime):
    """`datetime` on a machine whose clock runs `SKEW` ahead: its `now` only."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + SKEW


def test_a_scheduler_whose_clock_runs_fast_fires_a_schedule_by_the_store_s_time(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several daemons share the store: the one on the fastest machine must not fire a
    09:00 run at 08:55. Schedules follow the store's clock, as leases do."""
    with Studio.open(pg_ws, user="alice") as studio:
        true_now = studio.store.now().replace(second=0, microsecond=0)
        soon, past = (true_now + timedelta(minutes=2), true_now)
        recipes = {
            name: schedule_recipe(
                pg_ws, name, {"cron": f"{at.minute} {at.hour} * * *", "timezone": "UTC"}
            )
            for name, at in (("soon", soon), ("past", past))
        }
        for recipe in recipes.values():
            studio.start(recipe)
            back_date(studio, recipe, true_now - timedelta(hours=1))
        monkeypatch.setattr(lpstudio.models, "datetime", _FastMachine)  # every utcnow()
        scheduler = Scheduler(studio)
        try:
            scheduler.tick()
        finally:
            scheduler.drain()
        assert jobs(studio.store, recipes["soon"]) == []  # 2 minutes early by the store
        assert due_of(jobs(studio.store, recipes["past"])) == [past.strftime("%H:%M")]


def test_a_recipe_started_on_a_machine_whose_clock_runs_fast_starts_by_the_store_s_time(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its start bounds the runs a scheduler fires: stamped five minutes ahead, the runs due
    in those minutes would be skipped by every scheduler, which go by the store's clock."""
    with Studio.open(pg_ws, user="alice") as studio:
        recipe = schedule_recipe(pg_ws, "fast", {"cron": "* * * * *", "timezone": "UTC"})
        monkeypatch.setattr(lpstudio.models, "datetime", _FastMachine)  # every utcnow()
        started = datetime.fromisoformat(studio.start(recipe)["started_at"])
        assert started <= studio.store.now() < started + SKEW / 2, (started, SKEW)


# -- a server in another time zone -----------------------------------------------------------


def test_times_are_utc_whatever_the_server_s_time_zone(server: str) -> None:
    """PostgreSQL answers in its `timezone` setting (often the local time of the server)
    and reads naive times in it: lpstudio's times are UTC on it, as on SQLite."""
    import psycopg

    url = create_database(server, "kiritimati")
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ALTER DATABASE kiritimati SET timezone TO 'Pacific/Kiritimati'")  # +14
    store = Store(url, create=True)
    try:
        store.migrate()
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        created = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 2 March, 10:00 in Kiritimati
        set_job(store, job.id, created_at=created, status="succeeded")

        read = store.job(job.id).created_at
        assert read == created and read.isoformat() == "2026-03-01T20:00:00+00:00"
        assert store.job(job.id).created_at.date().isoformat() == "2026-03-01"
        # A naive time is UTC, as SQLite takes it: not 14 hours off.
        assert [j.id for j in store.list_jobs(since=datetime(2026, 3, 1, 19))] == [job.id]
        assert store.list_jobs(since=datetime(2026, 3, 1, 21)) == []
        metrics = dashboard_metrics(store, created - timedelta(days=1), created + timedelta(days=1))
        assert metrics["jobs_per_day"] == [{"day": "2026-03-01", "status": "succeeded", "count": 1}]
        assert metrics["recipes"][0]["latest_job"]["created_at"] == "2026-03-01T20:00:00+00:00"
        assert store.now().utcoffset() == timedelta(0)
    finally:
        store.close()


# -- a large history ---------------------------------------------------------------------------


def _rows_read_from_jobs(store: Store, run: Any) -> list[tuple[str, int]]:
    """What `run` reads of the jobs table, by EXPLAIN ANALYZE of each of its statements
    after `run`: (plan line, rows it returned) for every scan of `jobs` or of one of its
    indexes."""
    statements = selects_on_jobs(store, run)
    found = []
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters)
            for (line,) in plan:
                scan = re.search(r"Scan .*\bon jobs\b.*actual .*rows=(\d+) loops=(\d+)", line)
                if scan:
                    found.append((line.strip(), int(scan.group(1)) * int(scan.group(2))))
    return found


def test_the_recipes_list_reads_one_job_per_recipe_of_a_large_history(pg_ws: Path) -> None:
    """`lpstudio recipes` (and the studio's Recipes panel, refreshed live) shows each
    recipe's last job: its cost must follow the number of recipes, not of jobs."""
    recipes = [f"p/r{i}.ipynb" for i in range(20)]
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        version = store.snapshot("p/r.ipynb", "{}", {}, "alice")
        with store.write() as s:
            s.execute(
                text(
                    "INSERT INTO jobs (recipe, version_id, status, trigger, parameters, "
                    '"user", created_at, cells_done, cells_total, cancel_requested) '
                    "SELECT 'p/r' || (g % 20) || '.ipynb', :version, 'succeeded', 'poll', "
                    "'{}', 'alice', timestamptz '2026-01-01' + g * interval '1 minute', 0, 0, "
                    "false FROM generate_series(1, 40000) AS g"
                ),
                {"version": version},
            )
            s.execute(text("ANALYZE jobs"))
        last = store.last_jobs(recipes)
        assert {name: job.id for name, job in last.items()} == {
            f"p/r{i}.ipynb": 40000 - (20 - i) % 20 for i in range(20)
        }
        read = _rows_read_from_jobs(store, lambda: store.last_jobs(recipes))
        assert read and sum(rows for _, rows in read) <= 3 * len(recipes), read


def test_schedulers_racing_on_postgresql_fire_each_due_run_once(pg_ws: Path) -> None:
    moments = ("08:14", "08:15:10", "08:15:50", "08:30:05", "08:44", "10:07")
    recipe = race_quarter_hours(pg_ws, 4, moments)  # four studios, each its own connections
    with Studio.open(pg_ws, user="alice") as studio:
        fired = jobs(studio.store, recipe)
        assert due_of(fired) == ["08:15", "08:30", "10:00"]
        with studio.store.read() as s:
            runs = s.execute(select(ScheduleRun.due_at, ScheduleRun.job_id)).all()
        assert len({due for due, _ in runs}) == len(runs)
        assert sorted(job_id for _, job_id in runs if job_id) == [job.id for job in fired]


def test_a_purge_on_postgresql_keeps_the_dashboard_s_figures(pg_ws: Path) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        long_ago = utcnow() - timedelta(days=40)
        jobs_ = [
            store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
            for _ in range(2)
        ]
        results = ({"accepted": 3, "failed": [{}]}, {"accepted": 1})
        for job, result in zip(jobs_, results, strict=True):
            set_job(
                store,
                job.id,
                created_at=long_ago,
                finished_at=long_ago,
                status="succeeded",
                result=result,
            )
        now = utcnow()
        before = dashboard_metrics(store, now - timedelta(days=90), now)
        assert before["proactive"] == [
            {"day": long_ago.date().isoformat(), "accepted": 4, "failed": 1}
        ]
        assert studio.purge() == [job.id for job in jobs_]
        assert [store.job(job.id).result for job in jobs_] == [None, None]
        assert dashboard_metrics(store, now - timedelta(days=90), now) == before


def test_the_daily_purge_on_postgresql_reads_only_the_jobs_it_purges(pg_ws: Path) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        version = store.snapshot("p/r.ipynb", "{}", {}, "alice")
        with store.write() as s:  # 40 days of history, one job a minute, purged but today's
            s.execute(
                text(
                    "INSERT INTO jobs (recipe, version_id, status, trigger, parameters, "
                    '"user", created_at, finished_at, cells_done, cells_total, '
                    "cancel_requested, purged) "
                    "SELECT 'p/r.ipynb', :version, 'succeeded', 'poll', '{}', 'alice', t, t, "
                    "0, 0, false, t < now() - interval '1 day' "
                    "FROM generate_series(now() - interval '40 days', now(), interval '1 minute') "
                    "AS t"
                ),
                {"version": version},
            )
            s.execute(text("ANALYZE jobs"))
        # The jobs of 12 to 24 hours ago are past a retention of half a day: 720 of them.
        purged: list[int] = []
        read = _rows_read_from_jobs(store, lambda: purged.extend(studio.purge(0.5)))
        assert 715 <= len(purged) <= 725
        # Each statement is explained once it ran: what matters is how it reads jobs.
        assert read and not [line for line, _ in read if "Seq Scan" in line], read


def test_a_machine_with_the_same_host_name_never_reaps_a_live_job(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloned machines often keep one host name, and containers with host networking share
    the host's, each with its own process ids: a process id of another machine that does
    not exist here says nothing about that machine's worker."""
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    done = subprocess.Popen(["true"])
    done.wait()  # its process id exists nowhere here now

    class Elsewhere:
        """`os` as a live process of the other machine sees it: its own process id."""

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def getpid(self) -> int:
            return done.pid

    elsewhere, here = Store(url), Store(url)
    try:
        version = here.snapshot("p/one.ipynb", "{}", {}, "alice")
        job = here.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        with monkeypatch.context() as m:  # the other machine takes the job and runs a cell
            m.setattr(lpstudio.store, "os", Elsewhere())
            space = f"{socket.gethostname()}/elsewhere"  # the same host name
            m.setattr(lpstudio.store, "_process_space", lambda: space, raising=False)
            assert elsewhere.claim_job(job.id, running_limit=1)
            assert elsewhere.heartbeat(job.id, cells_done=1) is False
        assert here.reap_lost_jobs(timedelta(seconds=60)) == []
        assert here.job(job.id).status == RUNNING
    finally:
        elsewhere.close()
        here.close()


# -- long names --------------------------------------------------------------------------------


def test_recipes_in_deep_folders_run_on_postgresql_as_on_sqlite(pg_ws: Path) -> None:
    """A recipe's path is as long as its folders make it: SQLite keeps any length, and a
    PostgreSQL store must too, for its jobs, its webhook deliveries' claims (named after the
    recipe) and its connectors' ledger keys."""
    deep = "/".join(["Marketing EMEA - Seasonal campaigns 2026 - Black Friday"] * 20)
    write_recipe(pg_ws, f"{deep}/winback", metadata={"title": "Win-back"})
    hooks = "/".join(["Marketing EMEA - Seasonal campaigns 2026"] * 6)
    write_recipe(pg_ws, f"{hooks}/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
    recipe, hook = f"{deep}/winback.ipynb", f"{hooks}/lead.ipynb"
    assert len(recipe) > 1024 and len(f"webhook:{hook}") > 255
    with Studio.open(pg_ws, user="alice") as studio:
        job = studio.run(recipe, {"x": 21})
        assert job.status == "succeeded", job.error
        assert [listed.id for listed in studio.jobs(recipe=recipe)] == [job.id]
        now = utcnow()
        (row,) = dashboard_metrics(studio.store, now - timedelta(days=1), now)["recipes"]
        assert (row["recipe"], row["succeeded"]) == (recipe, 1)

        delivery = ({"X-Shopify-Webhook-Id": "d-1"}, b'[{"n": 1}]')
        _, queued, repeated = studio.receive_webhook(studio.webhook_id(hook), *delivery)
        assert not repeated and len(queued) == 1
        _, again, repeated = studio.receive_webhook(studio.webhook_id(hook), *delivery)
        assert repeated and [j.id for j in again] == [j.id for j in queued]

        # A job not ended claims (an ended one's kernel may claim no more): the delivery's.
        pending = queued[0].id
        ledger = StoreLedger(studio.store.url, f"job:{pending}", pending)
        try:
            key = "customer-" + "0" * 100  # a custom connector's key, not a hash
            assert ledger.claim_many([key]) == {}
            ledger.settle_many({key: "accepted"}, {"campaign": "c-1"})
            assert ledger.claim_many([key])[key]["status"] == "accepted"
        finally:
            ledger.store.close()


def _upgrade(store: Store, revision: str) -> None:
    """The store's schema brought to `revision` (an older one than lpstudio's)."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(lpstudio.store.__file__).parent / "migrations")
    )
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _schema_differences(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), lpstudio.models.Base.metadata)


def test_a_postgresql_store_of_the_previous_schema_upgrades_with_its_history(server: str) -> None:
    """A brand already on PostgreSQL upgrades lpstudio: its store, with jobs and their
    counts, reaches the schema of the models, and the counts go on following its jobs."""
    fresh, previous = (
        Store(create_database(server, name), create=True) for name in ("fresh", "previous")
    )
    try:
        fresh.migrate()
        assert _schema_differences(fresh) == []

        _upgrade(previous, "0006")
        version = previous.snapshot("p/one.ipynb", "{}", {}, "alice")
        old = job_at_0006(previous, version)
        set_job(previous, old, status="succeeded", result={"accepted": 2})
        previous.migrate()
        assert previous.schema_revision() == SCHEMA_HEAD
        assert _schema_differences(previous) == []

        deep = "/".join(["folder"] * 200) + "/one.ipynb"
        new = previous.create_job(recipe=deep, version_id=version, user="alice")
        set_job(previous, new.id, status="failed")
        set_job(previous, old, status="failed")  # the counts trigger still follows it
        now = utcnow()
        metrics = dashboard_metrics(previous, now - timedelta(days=1), now + timedelta(hours=1))
        assert metrics["jobs_per_day"] == [
            {"day": now.date().isoformat(), "status": "failed", "count": 2}
        ]
        assert metrics["proactive"] == [{"day": now.date().isoformat(), "accepted": 2, "failed": 0}]
    finally:
        fresh.close()
        previous.close()


def job_at_0006(store: Store, version: str) -> int:
    """A job written by a version of schema 0006: its columns only (not 0014's)."""
    with store.write() as s:
        return s.execute(
            insert(Job.__table__)
            .values(
                recipe="p/one.ipynb",
                version_id=version,
                status="queued",
                user="alice",
                created_at=utcnow(),
            )
            .returning(Job.id)
        ).scalar_one()


def test_a_postgresql_store_at_the_previous_schema_gives_its_settings_revisions(
    server: str,
) -> None:
    store = Store(create_database(server, "settings_revisions"), create=True)
    try:
        settings_gain_revisions(store)
    finally:
        store.close()


def test_a_postgresql_store_at_0018_keeps_its_claims_checks_when_upgraded(server: str) -> None:
    store = Store(create_database(server, "checks_upgraded"), create=True)
    try:
        old_check_carried(store)
    finally:
        store.close()


def test_the_purge_on_postgresql_drops_the_checks_no_send_names_any_more(pg_ws: Path) -> None:
    purge_drops_unnamed_checks(pg_ws)


def test_a_postgresql_store_upgraded_takes_test_runs_out_of_its_proactive_figures(
    server: str,
) -> None:
    store = Store(create_database(server, "test_runs_upgraded"), create=True)
    try:
        upgrade_leaves_test_runs_out(store)
    finally:
        store.close()


def test_a_postgresql_store_upgraded_counts_proactive_results_as_show_does(server: str) -> None:
    store = Store(create_database(server, "proactive_rule"), create=True)
    try:
        figures_follow_the_rule(store)
    finally:
        store.close()


def test_two_saves_at_once_keep_both_changes_on_postgresql(
    pg_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers take turns on PostgreSQL too (its advisory lock, the row locked FOR UPDATE)."""
    with Studio.open(pg_ws, user="alice") as studio:
        both_saves_stay(studio, monkeypatch)


# -- a server that restarts --------------------------------------------------------------------


def test_a_write_cut_by_a_server_restart_leaves_nothing_and_the_next_call_works(
    pg_ws: Path, server: str
) -> None:
    """PostgreSQL restarted (a failover, an upgrade) in the middle of queueing a delivery's
    jobs: none of them is written, and the store's next calls reconnect by themselves."""
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        row = {"recipe": "p/one.ipynb", "version_id": version, "user": "alice"}
        before = store.create_job(**row)

        with pytest.raises(OperationalError):
            store.create_jobs([row, row], then=lambda *_: restart_server(server))
        assert [job.id for job in studio.jobs()] == [before.id]
        after = store.create_job(**row)
        assert [job.id for job in studio.jobs()] == [after.id, before.id]


def test_a_job_running_while_the_server_restarts_ends_in_a_true_final_state(
    pg_ws: Path, server: str, tmp_path: Path
) -> None:
    _run_held(pg_ws, tmp_path, "p/slow", lambda _go: restart_server(server))


def _run_held(ws: Path, tmp_path: Path, name: str, meanwhile: Callable[[Path], Any]) -> None:
    """Runs recipe `name`, whose first cell waits for a file `go`: `meanwhile(go)` acts while
    it waits (and may touch `go`); then the job must have succeeded, its row and its output
    notebook saying so."""
    started, go = tmp_path / "started", tmp_path / "go"
    wait = f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
    wait += f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.05)"
    write_recipe(ws, name, cells=(wait, "print(x * 2)"))
    with Studio.open(ws, user="alice") as studio:
        ran: list[Job] = []
        thread = threading.Thread(target=lambda: ran.append(studio.run(name, {"x": 21})))
        thread.start()
        try:
            wait_for(started.exists, timeout=120, what="the job's first cell")
            meanwhile(go)
        finally:
            go.touch()
            thread.join(120)
        (job,) = ran
        assert job.status == "succeeded", job.error
        assert studio.job(job.id).status == "succeeded"
        assert "42" in (ws / job.output_path).read_text()


def test_a_job_ending_while_the_store_is_down_is_written_once_it_is_back(
    pg_ws: Path, server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job that ran to its end while the database was down gave up its final write: it
    stayed running, was reaped as worker lost and retried, repeating what it had sent."""
    caplog.set_level(logging.WARNING, logger="lpstudio.runner")

    def end_while_down(go: Path) -> None:
        with server_down(server):
            go.touch()
            wait_for(
                lambda: "its end is written once it answers" in caplog.text,
                timeout=120,
                what="the job's end to wait for the store",
            )

    _run_held(pg_ws, tmp_path, "p/ending", end_while_down)
    assert "Traceback" not in caplog.text


def test_a_scheduler_back_from_an_outage_gives_silent_jobs_a_stale_period(
    pg_ws: Path, server: str
) -> None:
    """Through an outage every running job's heartbeats failed too: the first scheduler to
    reach the store again took each for lost at once, and a job that had ended meanwhile
    (its end waiting for the store) was retried, repeating what it had done. One that failed
    to reach the store waits `stale_after_seconds` more before reaping by silence."""
    with (pg_ws / "lpstudio.toml").open("a") as config:
        config.write("\n[jobs]\nheartbeat_seconds = 0.5\nstale_after_seconds = 2\n")
    write_recipe(pg_ws, "p/silent")
    with Studio.open(pg_ws, user="alice") as studio:
        silent = studio.store.now() - timedelta(minutes=1)  # its beats failed in the outage
        job, _ = running_job(
            studio,
            "p/silent",
            "manual",
            worker="other-host/0123abcd:4242",
            started_at=silent,
            heartbeat_at=silent,
            cells_done=1,
        )
        scheduler = Scheduler(studio)
        try:
            with server_down(server):
                assert scheduler._step(scheduler.tick, "tick") is None  # no store
            scheduler._step(scheduler.tick, "tick")
            assert studio.job(job.id).status == "running"  # its worker may be writing its end
            wait_for(
                lambda: (
                    scheduler._step(scheduler.tick, "tick") is not None
                    and studio.job(job.id).status == "failed"
                ),
                timeout=60,
                what="the silent job reaped a stale period later",
            )
        finally:
            scheduler.drain()
        assert studio.job(job.id).error["ename"] == "WorkerLost"


def test_ids_outgrow_32_bits_on_postgresql_as_on_sqlite(pg_ws: Path) -> None:
    """SQLite's ids are 64-bit. The ledger gains a row per recipient of every campaign (and
    keeps them), every call of a callable recipe claims a row and queues a job: a large
    brand passes 2**31 of them, and must go on sending and answering."""
    with Studio.open(pg_ws, user="alice") as studio:
        store = studio.store
        with store.write() as s:
            for table in ("jobs", "deliveries", "idempotent_calls", "audit", "schedule_runs"):
                s.execute(
                    text("SELECT setval(pg_get_serial_sequence(:table, 'id'), 2147483647)"),
                    {"table": table},
                )
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        assert job.id == 2**31
        rerun = store.create_job(
            recipe="p/one.ipynb", version_id=version, user="alice", rerun_of=job.id
        )
        assert store.root_job(rerun) == job.id

        ledger = StoreLedger(store.url, f"job:{job.id}", job.id)
        try:
            assert ledger.claim_many(["a" * 64]) == {}
            ledger.settle_many({"a" * 64: "accepted"}, {})
            assert ledger.claim_many(["a" * 64])["a" * 64]["job_id"] == job.id
        finally:
            ledger.store.close()

        call, made = studio.calls.claim("cb-bot", "key-1", "/orders", "0" * 64)
        assert made and call["id"] == 2**31
        studio.calls.settle(call, job_id=job.id, status=200, answer={"ok": True})
        assert studio.calls.find("cb-bot", "key-1")["job_id"] == job.id  # type: ignore[index]

        store.audit("alice", "rerun", "p/one.ipynb", job=job.id)
        assert store.audit_log(1)[0].id == 2**31
        with store.write() as s:
            s.add(ScheduleRun(recipe="p/one.ipynb", due_at=utcnow(), job_id=job.id))


def test_a_late_reaper_on_postgresql_never_requeues_a_job_another_scheduler_just_claimed(
    pg_ws: Path,
) -> None:
    """Two schedulers' reapers find the same silent job; the first requeues it and a live
    scheduler claims it before the second's write: that write must find it changed."""
    write_recipe(pg_ws, "p/lost")
    with Studio.open(pg_ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/lost")
        url = studio.store.url
        with studio.store.write() as s:  # a scheduler claimed it, then went silent
            row = s.get_one(Job, job.id)
            row.status, row.worker = "running", "elsewhere:1"
            row.started_at = row.heartbeat_at = utcnow() - timedelta(minutes=10)
    late, first = Store(url), Store(url)
    looked, go_on = threading.Event(), threading.Event()

    def hold(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT pg_advisory_xact_lock"):  # it read the job as lost
            looked.set()
            go_on.wait(60)

    event.listen(late.engine, "before_cursor_execute", hold)
    reaped: list[list[int]] = []
    reaper = threading.Thread(
        target=lambda: reaped.append(late.reap_lost_jobs(timedelta(seconds=60)))
    )
    reaper.start()
    try:
        assert looked.wait(60)
        assert first.reap_lost_jobs(timedelta(seconds=60)) == []  # requeued: no cell ran
        assert first.claim_job(job.id, running_limit=1)  # and claimed by a live scheduler
    finally:
        go_on.set()
        reaper.join(60)
        event.remove(late.engine, "before_cursor_execute", hold)
    try:
        assert reaped == [[]]
        claimed = first.job(job.id)
        assert (claimed.status, claimed.worker) == (RUNNING, lpstudio.store.worker_id())
    finally:
        late.close()
        first.close()


def test_recipes_are_listed_in_sqlite_s_order_whatever_the_database_s_locale(
    server: str,
) -> None:
    """A managed server's databases are often in en_US, which orders "p/abandoned" before
    "p/Winback": the dashboard and the jobs filter list recipes as SQLite (and Python) do."""
    store = Store(create_database(server, "en_us", icu_locale="en-US"), create=True)
    try:
        store.migrate()
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        names = ["p/abandoned.ipynb", "p/Winback.ipynb", "p/_draft.ipynb"]
        for name in names:
            store.create_job(recipe=name, version_id=version, user="alice")
        assert recipes_with_jobs(store) == sorted(names)
        now = utcnow()
        metrics = dashboard_metrics(store, now - timedelta(days=1), now + timedelta(hours=1))
        assert [row["recipe"] for row in metrics["recipes"]] == sorted(names)
    finally:
        store.close()


def test_a_project_s_jobs_are_its_folder_s_whatever_the_database_s_locale(server: str) -> None:
    """`?project=shop` is a range of recipe names (`shop/` to `shop0`, read through the
    recipe's index): in en_US order, which passes over punctuation, `shop/eu/cart` sorted
    after `shop0` and `shop-x` inside the range. The column is ordered by code point."""
    store = Store(create_database(server, "en_us_projects", icu_locale="en-US"), create=True)
    try:
        store.migrate()
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        names = ["shop/cart", "shop/eu/cart", "shop-x/cart", "shop0/cart", "shopa/cart", "Shop/x"]
        ids = {
            name: store.create_job(recipe=f"{name}.ipynb", version_id=version, user="alice").id
            for name in names
        }
        listed = [job.id for job in store.list_jobs(project="shop")]
        assert listed == [ids["shop/eu/cart"], ids["shop/cart"]]
        with store.read() as s:
            s.execute(text("SET LOCAL enable_seqscan = off"))  # 6 rows: a scan is cheaper
            plan = s.execute(
                text("EXPLAIN SELECT id FROM jobs WHERE recipe >= :a AND recipe < :b"),
                {"a": "shop/", "b": "shop0"},
            ).scalars()
            assert "ix_jobs_recipe" in "\n".join(plan)
    finally:
        store.close()


def test_a_result_with_a_number_past_64_bits_still_ends_its_job(server: str) -> None:
    """Recipes write their results freely: an `accepted` that no 64-bit integer holds (an id
    put there by mistake) is left out of the dashboard's counts, whose columns could not
    hold it; the job ends, and the other results are counted."""
    store = Store(create_database(server, "huge"), create=True)
    try:
        store.migrate()
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        for result in (  # two of 2**62 overflowed the hour's BIGINT sum (a job never ended)
            {"accepted": 10**20, "failed": [{}]},
            {"accepted": 2**62},
            {"accepted": 2**62},
            {"accepted": 3},
        ):
            job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
            assert store.finish_job(job.id, "succeeded", result=result)
            assert store.job(job.id).result == result
        now = utcnow()
        metrics = dashboard_metrics(store, now - timedelta(days=1), now + timedelta(hours=1))
        today = now.date().isoformat()
        assert metrics["proactive"] == [{"day": today, "accepted": 3, "failed": 1}]
    finally:
        store.close()


# -- a database server that stops, or starts after lpstudio's -----------------------------


def test_the_rest_api_says_the_store_is_down_and_a_server_started_before_it_recovers(
    tmp_path: Path,
) -> None:
    """A store that went down answered 500 "InternalError"; a server started while it was
    down answered 503 for good, once it was back too, and never exited."""
    with postgres_server() as url, ExitStack() as servers:
        root = tmp_path / "ws"
        root.mkdir()
        (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
        Studio.init(root, accept_terms=True, admin="alice").close()
        before = servers.enter_context(serving(root, name="before"))
        assert before.api("alice", "GET", "/jobs").status_code == 200
        with ExitStack() as outage:
            outage.enter_context(server_down(url))
            down = before.api("alice", "GET", "/jobs")
            assert down.status_code == 503 and down.headers["Retry-After"] == "5", down.text
            error = down.json()["error"]
            assert (error["code"], error["field"]) == ("StoreUnavailable", "store.url"), error
            assert "database server runs" in error["fix"]
            after = servers.enter_context(serving(root, name="after"))
            early = after.api("alice", "GET", "/jobs")
            assert early.status_code == 503 and early.headers["Retry-After"] == "5", early.text
            assert early.json()["error"]["code"] == "StoreUnavailable", early.text
            assert early.json()["error"]["field"] == "store.url"
        # Back: the first server serves again, and the second opens its workspace.
        assert before.api("alice", "GET", "/jobs").status_code == 200
        wait_for(
            lambda: after.api("alice", "GET", "/jobs").status_code == 200,
            timeout=60,
            what="the server started while the store was down",
        )


def test_a_listing_on_postgresql_reads_one_copy_of_a_big_parameter(pg_ws: Path) -> None:
    listing_holds_one_copy(pg_ws)
