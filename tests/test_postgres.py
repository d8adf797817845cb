"""The store on a real PostgreSQL server: the scale-out store of several machines.

Everything the store promises on SQLite must hold here too: migrations from nothing, jobs
with their history, and atomic claims that two schedulers racing never both win.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select, text

import lpstudio.leader
import lpstudio.models
import lpstudio.store
from lpstudio.connections import MASK
from lpstudio.leader import StoreLease
from lpstudio.metrics import dashboard_metrics
from lpstudio.models import Job, ScheduleRun, utcnow
from lpstudio.scheduler import Scheduler
from lpstudio.store import RUNNING, SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from tests.browser import free_port
from tests.conftest import selects_on_jobs, write_recipe
from tests.postgres import create_database, postgres_server
from tests.test_scheduler import back_date, due_of, jobs, race_quarter_hours, schedule_recipe


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_ws(tmp_path: Path, server: str, request: pytest.FixtureRequest) -> Path:
    """A workspace whose store is a fresh PostgreSQL database."""
    name = request.node.name.lower()  # a database name is at most 63 bytes
    url = create_database(server, f"{name[:48]}_{hashlib.sha1(name.encode()).hexdigest()[:12]}")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


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
    stores = [Store(url) for _ in range(6)]
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


# -- a store that cannot serve -----------------------------------------------------------------

#: The database password of the URLs below: it must appear nowhere.
PASSWORD = "Hunter2pw"


def _open_with_store(ws: Path, cli: Any, url: str) -> Result:
    """`lpstudio jobs --json` in `ws`, its `[store] url` set to `url`."""
    (ws / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    return cli("jobs", "--json")


def _refused(result: Result, says: str) -> dict[str, Any]:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and PASSWORD[2:] not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "WorkspaceError" and error["field"] == "store.url", error
    assert says in error["message"], error
    assert "lpstudio.toml" in error["fix"], error
    return error


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql+psycopg//alice:{PASSWORD}@db.internal/brand", "is not a database URL"),
        (f"postgres://alice:{PASSWORD}@db.internal/brand", "does not support"),
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


def test_a_store_url_that_is_no_text_is_refused_naming_the_setting(ws: Path, cli: Any) -> None:
    (ws / "lpstudio.toml").write_text("[store]\nurl = 5\n")
    result = cli("jobs", "--json")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "store.url" and "must be text, not 5" in error["message"], error


def test_an_unreachable_store_is_refused_naming_the_setting(ws: Path, cli: Any) -> None:
    url = f"postgresql+psycopg://alice:{PASSWORD}@127.0.0.1:{free_port()}/brand"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store")
    assert "alice:***@127.0.0.1" in error["message"] and "refused" in error["message"]
    assert "database server runs" in error["fix"]


def test_a_database_that_does_not_exist_is_refused_naming_the_setting(
    ws: Path, cli: Any, server: str
) -> None:
    url = server.replace("postgres@", f"postgres:{PASSWORD}@").rsplit("/", 1)[0] + "/nowhere"
    error = _refused(_open_with_store(ws, cli, url), "cannot open the store")
    assert 'database "nowhere" does not exist' in error["message"], error


def test_a_postgresql_store_a_newer_lpstudio_upgraded_is_refused_untouched(
    ws: Path, cli: Any, server: str
) -> None:
    url = create_database(server, "newer").replace("postgres@", f"postgres:{PASSWORD}@")
    store = Store(url)
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
    for module in (lpstudio.leader, lpstudio.store, lpstudio.models):
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
        reaper.update_job(silent.id, heartbeat_at=reaper.now() - timedelta(minutes=2))
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
        reaper.update_job(job.id, heartbeat_at=reaper.now() - timedelta(minutes=2))
        with monkeypatch.context() as m:
            _skewed(m, -SKEW)
            assert reaper.reap_lost_jobs(timedelta(seconds=60)) == [job.id]
        assert reaper.job(job.id).error["ename"] == "WorkerLost"
    finally:
        server.close()
        reaper.close()


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
    store = Store(url)
    try:
        store.migrate()
        version = store.snapshot("p/one.ipynb", "{}", {}, "alice")
        job = store.create_job(recipe="p/one.ipynb", version_id=version, user="alice")
        created = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 2 March, 10:00 in Kiritimati
        store.update_job(job.id, created_at=created, status="succeeded")

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
            store.update_job(
                job.id, created_at=long_ago, finished_at=long_ago, status="succeeded", result=result
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
