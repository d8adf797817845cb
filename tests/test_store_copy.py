"""`lpstudio store-copy`: a workspace's store copied whole into a new database, so that a brand
that prototyped on SQLite keeps its users, connections, settings, versions, API clients, audit
log, schedules' state, ledger and job history on PostgreSQL.

The PostgreSQL tests run on a real server (`tests/postgres.py`), as `test_postgres.py`'s do.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import JSON, Text, cast, create_engine, func, inspect, select, text

from lpstudio.cli import main
from lpstudio.leader import StoreLease
from lpstudio.models import (
    Base,
    DailyCount,
    Delivery,
    IdempotentCall,
    Lease,
    ScheduleForm,
    ScheduleRun,
    StoreIdentity,
    TriggerState,
    utcnow,
)
from lpstudio.scheduler import Scheduler
from lpstudio.store import SCHEMA_HEAD, Store, kept_check, worker_id
from lpstudio.studio import Studio
from tests.conftest import run_json, set_job, wait_for, write_recipe
from tests.postgres import create_database, postgres_server
from tests.servers import serving

#: The password of the target's URL: never shown by any answer (the test server trusts
#: loopback, so any password is taken).
PASSWORD = "Pg-S3cret-pw"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def new_database(server: str, request: pytest.FixtureRequest, suffix: str = "") -> str:
    """The URL of a new, empty database on the test server, named after the test."""
    name = f"{request.node.name.lower()}{suffix}"  # a database name is at most 63 bytes
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    return create_database(server, re.sub(r"\W", "_", f"{name[:40]}_{digest}"))


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@")


def cli(ws: Path, *args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env={"LPSTUDIO_USER": user})


def answer(ws: Path, *args: str) -> Any:
    result = cli(ws, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refusal(result: Result) -> dict[str, Any]:
    """The error a refused `--json` command printed, after checking it was refused."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("lpstudio: error: "), result.stderr
    return json.loads(result.stdout)["error"]


def stored_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every lpstudio table at `url` (missing tables are empty); JSON as its
    stored text, so that an SQL NULL and a JSON null differ. Not the store's identity,
    which a copy has its own of (`Store.identity`)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            return {
                table.name: sorted(
                    (
                        tuple(row)
                        for row in conn.execute(
                            select(
                                *(cast(c, Text) if isinstance(c.type, JSON) else c for c in table.c)
                            )
                        )
                    ),
                    key=repr,
                )
                if table.name in present
                else []
                for table in Base.metadata.sorted_tables
                if table.name != StoreIdentity.__tablename__
            }
    finally:
        engine.dispose()


def counted(url: str) -> int:
    """How many jobs the dashboard's daily counts hold (kept by triggers on `jobs`)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT coalesce(sum(jobs), 0) FROM job_counts_daily"))
    finally:
        engine.dispose()


def workspace_url(ws: Path) -> str:
    with Studio.open(ws, user="alice") as studio:
        return studio.store.url


def point_at(ws: Path, url: str) -> None:
    """Sets `[store] url` in the workspace's lpstudio.toml, as the command's answer says."""
    config = ws / "lpstudio.toml"
    config.write_text(
        re.sub(r'(?m)^url = ".*"$', lambda _: f'url = "{url}"', config.read_text(), count=1)
    )


def fill_every_table(ws: Path) -> list[int]:
    """A workspace in use: users and roles, a tested connection, saved settings, versions,
    API clients, audit entries, finished jobs with output notebooks (one failed, one a
    rerun, one purged whose counts stay), and a row in every other table. Its job ids."""
    write_recipe(
        ws,
        "p/double",
        cells=(
            "import lpstudio.kernel as lp",
            "lp.set_result({'accepted': x, 'failed': []})",
            "print(x * 2)",
        ),
    )
    write_recipe(ws, "p/broken", cells=("raise ValueError('boom')",))
    for args in (
        ("settings", "p/double", "-p", "x", "5"),
        ("users", "role", "bob", "operator"),
        ("users", "role", "carol", "analyst"),
        ("api-clients", "create", "bot", "--endpoint", "*"),
        ("connections", "test", "liveperson"),
    ):
        assert cli(ws, *args).exit_code == 0, args
    with Studio.open(ws, user="alice") as studio:
        ran = [studio.run("p/double", {"x": n}) for n in (2, 3)]
        ran.append(studio.run("p/broken"))
        ran.append(studio.rerun(ran[0].id))
        assert [job.status for job in ran] == ["succeeded", "succeeded", "failed", "succeeded"]
        assert all((ws / job.output_path).is_file() for job in ran)
        store = studio.store
        version = ran[0].version_id
        old = store.create_job(recipe="p/double.ipynb", version_id=version, user="alice")
        ended = utcnow() - timedelta(days=3)
        set_job(
            store,
            old.id,
            status="succeeded",
            result={"accepted": 7, "failed": ["r1"]},
            started_at=ended,
            finished_at=ended,
        )
        with store.write() as s:
            s.add(Delivery(ledger="job:1", key="k1", status="sent", detail={}, job_id=1))
            check = kept_check(s, "look in the app")  # `delivery_checks`: the row names it
            s.add(
                Delivery(ledger="recipe:p", key="k2", status="uncertain", detail={"check": check})
            )
            s.add(ScheduleRun(recipe="p/double.ipynb", due_at=utcnow(), job_id=2))
            s.add(TriggerState(recipe="p/double.ipynb", since="2026-01-01", cursor={"page": 2}))
            s.add(
                ScheduleForm(
                    recipe="p/double.ipynb", cron="0 9 * * *", timezone="UTC", since=utcnow()
                )
            )
            s.add(
                IdempotentCall(
                    client="bot", key="abc", endpoint="p/double", request_sha256="0" * 64
                )
            )
            s.add(Lease(name="scheduler", holder="gone", expires_at=utcnow() - timedelta(hours=1)))
            s.add(DailyCount(scope="liveperson:123:sms", day=f"{utcnow():%Y-%m-%d}", used=40))
    assert cli(ws, "purge", "--older-than", "2").exit_code == 0  # its result goes, not its counts
    return [job.id for job in ran] + [old.id]


def answers(ws: Path, job_ids: list[int]) -> dict[str, Any]:
    """What the commands answer about the workspace's store."""
    asked: dict[str, tuple[str, ...]] = {
        "jobs": ("jobs", "--limit", "1000"),
        "users": ("users", "list"),
        "audit": ("audit", "--limit", "1000"),
        "versions": ("versions", "p/double"),
        "settings": ("settings", "p/double"),
        "api-clients": ("api-clients", "list"),
        "connections": ("connections", "list"),
        **{f"show {job_id}": ("show", str(job_id)) for job_id in job_ids},
    }
    return {name: answer(ws, *args) for name, args in asked.items()}


def test_a_workspace_copied_to_postgresql_answers_the_same_there(
    sandbox_ws: Path, server: str, request: pytest.FixtureRequest
) -> None:
    ws = sandbox_ws
    job_ids = fill_every_table(ws)
    source = stored_rows(workspace_url(ws))
    assert all(source.values()), [name for name, rows in source.items() if not rows]
    before = answers(ws, job_ids)
    target = with_password(new_database(server, request))

    copied = cli(ws, "store-copy", target, "--json")
    assert copied.exit_code == 0, copied.output
    assert PASSWORD not in copied.output
    said = json.loads(copied.stdout)
    assert said["tables"] == {name: len(rows) for name, rows in source.items()}
    assert said["rows"] == sum(len(rows) for rows in source.values())
    assert said["target"] == target.replace(PASSWORD, "***")
    shown = target.replace(PASSWORD, "***")
    assert said["next"].startswith(f'set url = "{shown}" under [store] in {ws / "lpstudio.toml"}')
    assert "password you gave" in said["next"] and said["next"].endswith("processes again")
    # Every row as it was, ids and the dashboard's counts included (the jobs' triggers
    # would count the jobs copied again, and a purged job's recipients are in no job now).
    assert stored_rows(target) == source
    store = Store(target)
    try:
        assert store.schema_revision() == SCHEMA_HEAD  # the target's own migrations' row
    finally:
        store.close()

    # A store in use is no new store: refused, naming the field and the fix, untouched.
    in_query = target.replace(f":{PASSWORD}@", "@") + "?password=x1y2z"
    again = refusal(cli(ws, "store-copy", in_query, "--json"))
    assert again["field"] == "url" and "empty" in again["fix"]
    assert "x1y2z" not in json.dumps(again)
    assert stored_rows(target) == source

    point_at(ws, target)
    (ws / "lpstudio.db").rename(ws / "lpstudio.db.old")  # nothing is read from it any more
    assert answers(ws, job_ids) == before
    tested = answer(ws, "connections", "test", "liveperson")  # its secrets still decrypt
    assert tested["status"] == "connected", tested

    as_alice = {"LPSTUDIO_USER": "alice"}
    code, job = run_json("run", "p/double", "-p", "x", "4", "--workspace", str(ws), env=as_alice)
    assert code == 0 and job["id"] == max(job_ids) + 1, job
    assert counted(target) == len(job_ids) + 1  # the counts' triggers are on again
    last_audit = answer(ws, "audit", "--limit", "1")[0]["id"]
    assert cli(ws, "users", "role", "dave", "analyst").exit_code == 0
    assert answer(ws, "audit", "--limit", "1")[0]["id"] == last_audit + 1
    engine = create_engine(target)
    try:
        with engine.begin() as conn:  # every sequence goes on from its table's highest id
            for table in Base.metadata.sorted_tables:
                column = table.autoincrement_column
                if column is None:
                    continue
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                highest = conn.scalar(select(func.max(column)))
                assert conn.scalar(select(func.nextval(sequence))) == highest + 1, table.name
    finally:
        engine.dispose()

    # And back, from PostgreSQL (read in one snapshot) to a new SQLite file.
    back = cli(ws, "store-copy", "sqlite:///back.db")
    assert back.exit_code == 0, back.output
    assert stored_rows(f"sqlite:///{ws / 'back.db'}") == stored_rows(target)

    # The workspace's store itself, however its host is written, is no target either.
    itself = target.replace("127.0.0.1", "localhost").replace(PASSWORD, "other")
    same = refusal(cli(ws, "store-copy", itself, "--json"))
    assert same["field"] == "url" and "itself" in same["message"]
    assert PASSWORD not in json.dumps(same) and "other" not in json.dumps(same)


def test_a_store_copied_to_a_new_sqlite_file_says_what_and_what_next(ws: Path) -> None:
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        ids = [
            studio.store.create_job(recipe="p/done.ipynb", version_id=version, user="alice").id
            for _ in range(3)
        ]
        for job_id in ids:
            set_job(studio.store, job_id, status="succeeded", finished_at=utcnow())
    source = stored_rows(workspace_url(ws))
    before = answer(ws, "jobs")

    copied = cli(
        ws, "store-copy", "sqlite:///moved.db"
    )  # in the workspace, as lpstudio.toml has it
    assert copied.exit_code == 0, copied.output
    assert f"copied the store sqlite:///{ws / 'lpstudio.db'} into sqlite:///{ws / 'moved.db'}" in (
        copied.stdout
    )
    assert re.search(r"(?m)^  jobs +3$", copied.stdout), copied.stdout
    assert 'url = "sqlite:///moved.db" under [store]' in copied.stdout
    assert "start" in copied.stdout.splitlines()[-1]
    assert stored_rows(f"sqlite:///{ws / 'moved.db'}") == source
    # A new store, of an identity of its own: a Dask worker left on the old one (its
    # lpstudio.toml not changed) is refused the new one's jobs, whose ids the old may hold.
    copy, old = Store(f"sqlite:///{ws / 'moved.db'}"), Store(f"sqlite:///{ws / 'lpstudio.db'}")
    try:
        assert copy.identity != old.identity
    finally:
        copy.close()
        old.close()

    point_at(ws, "sqlite:///moved.db")
    assert answer(ws, "jobs") == before
    with Studio.open(ws, user="alice") as studio:
        assert studio.store.url == f"sqlite:///{ws / 'moved.db'}"
        nxt = studio.store.create_job(recipe="p/done.ipynb", version_id=version, user="alice")
    assert nxt.id == max(ids) + 1
    assert counted(f"sqlite:///{ws / 'moved.db'}") == len(ids) + 1  # its triggers are back


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_store_with_jobs_queued_or_running_is_not_copied(ws: Path, status: str) -> None:
    """A job running, or queued by a process that runs it itself (`lpstudio run`, a call,
    Run now), would go on in the old store."""
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/done.ipynb", version_id=version, user="alice", worker=worker_id()
        )
        if status == "running":  # by a live process: this one
            set_job(
                studio.store,
                job.id,
                status="running",
                worker=worker_id(),
                heartbeat_at=studio.store.now(),
            )
    error = refusal(cli(ws, "store-copy", "sqlite:///copy.db", "--json"))
    assert error["field"] == "jobs" and f"job {job.id}" in error["message"]
    assert "stop every process" in error["fix"] and "lpstudio cancel" in error["fix"]
    assert not (ws / "copy.db").exists()


def test_a_stopped_recipe_s_kept_event_is_copied_and_waits_for_its_start_there(
    ws: Path,
) -> None:
    """A webhook delivered while its recipe was stopped is queued for no process: the copy
    refused the store, its fix to cancel the event the sender was told was kept."""
    write_recipe(ws, "p/hook", metadata={"title": "hook", "trigger": {"kind": "webhook"}})
    with Studio.open(ws, user="alice") as studio:
        _, (kept,), _ = studio.receive_webhook(studio.webhook_id("p/hook.ipynb"), {}, b"{}")

    copied = cli(ws, "store-copy", "sqlite:///moved.db")

    assert copied.exit_code == 0, copied.output
    point_at(ws, "sqlite:///moved.db")
    with Studio.open(ws, user="alice") as studio:
        moved = studio.store.job(kept.id)
        assert (moved.status, moved.trigger, moved.worker) == ("queued", "webhook", None)


def test_a_store_a_scheduler_daemon_works_on_is_not_copied(ws: Path) -> None:
    """A daemon holds no leader's lease: the copy went ahead beside it, and both stores' due
    runs sent their recipients."""
    with Studio.open(ws, user="alice") as studio:
        daemon = Scheduler(studio, idle_seconds=0.05)
        running = threading.Thread(target=daemon.run_forever)
        running.start()
        try:
            wait_for(lambda: daemon.presence.status()["is_leader"], what="its presence")
            error = refusal(cli(ws, "store-copy", "sqlite:///copy.db", "--json"))
            assert error["field"] == "scheduler", error
            assert daemon.presence.holder in error["message"]
            assert "stop every process" in error["fix"]
            assert not (ws / "copy.db").exists()
        finally:
            daemon.stop()
            running.join(30)
    assert cli(ws, "store-copy", "sqlite:///copy.db").exit_code == 0  # gone with its stop


def test_a_store_a_server_without_its_scheduler_serves_is_not_copied(ws: Path) -> None:
    """A server that hosts no scheduler (daemons run the schedules) still runs the calls and
    webhooks it takes: the copy went ahead beside it, and its next jobs went on in the old
    store."""

    def presence() -> str | None:
        with create_engine(workspace_url(ws)).connect() as conn:
            named = text("SELECT holder FROM leases WHERE name LIKE 'server at %'")
            return conn.execute(named).scalar()

    with serving(ws, "--LpstudioApp.scheduler=False"):
        holder = wait_for(presence, what="the server's presence")
        error = refusal(cli(ws, "store-copy", "sqlite:///copy.db", "--json"))
        assert error["field"] == "scheduler" and holder in error["message"], error
        assert not (ws / "copy.db").exists()
    assert presence() is None  # given up as it stopped
    assert cli(ws, "store-copy", "sqlite:///copy.db").exit_code == 0


def test_a_store_whose_scheduler_holds_its_lease_is_not_copied(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        assert StoreLease(studio.store, holder="serve-1").acquire()
    error = refusal(cli(ws, "store-copy", "sqlite:///copy.db", "--json"))
    assert error["field"] == "scheduler" and "serve-1" in error["message"]
    assert not (ws / "copy.db").exists()


@pytest.mark.parametrize(
    "given",
    [
        "sqlite:///lpstudio.db",
        "sqlite:///{ws}/lpstudio.db",
        "sqlite:///{ws}/../ws/lpstudio.db",
        "sqlite:///{ws}/lpstudio.db-wal",  # its side files go with it: the copy went too
        "sqlite:///lpstudio.db-journal",
    ],
)
def test_the_workspace_s_own_store_is_no_target(ws: Path, given: str) -> None:
    before = stored_rows(workspace_url(ws))
    error = refusal(cli(ws, "store-copy", given.format(ws=ws), "--json"))
    assert error["field"] == "url" and "itself" in error["message"]
    assert stored_rows(workspace_url(ws)) == before


def test_a_store_in_use_is_no_target(ws: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    Studio.init(other, accept_terms=True, admin="olga").close()
    url = f"sqlite:///{other / 'lpstudio.db'}"
    before = stored_rows(url)
    error = refusal(cli(ws, "store-copy", url, "--json"))
    assert error["field"] == "url" and "activation" in error["message"]
    assert "new, empty database" in error["fix"]
    assert stored_rows(url) == before


@pytest.mark.parametrize(
    "given",
    [
        "not a url",
        "mysql://brand:Secr3t-pw@db/brand",
        "postgresql+psycopg://brand:Secr3t@pw@db/brand",
        "sqlite:///no/such/folder/brand.db",
        "sqlite:///projects",  # a folder
        "sqlite:///lpstudio.toml",  # a file that is no database
        "sqlite://",  # in memory: gone once the copy ends
        "sqlite:///:memory:",
    ],
)
def test_a_target_that_is_no_store_s_url_is_refused(ws: Path, given: str) -> None:
    settings = (ws / "lpstudio.toml").read_bytes()
    error = refusal(cli(ws, "store-copy", given, "--json"))
    assert error["field"] == "url" and error["fix"]
    assert "Secr3t" not in json.dumps(error)
    assert not (ws / "no").exists() and (ws / "lpstudio.toml").read_bytes() == settings


@pytest.mark.parametrize(
    ("given", "folder"),
    [
        ("sqlite:///projects/x.db", "projects/"),
        ("sqlite:///history/x.db", "the history folder"),
        ("sqlite:///{ws}/projects/shop/../x.db", "projects/"),
    ],
)
def test_a_target_where_the_workspace_keeps_no_store_is_refused_before_a_copy(
    ws: Path, given: str, folder: str
) -> None:
    """A copy into projects/ or history/ was made whole, then its `next:` setting was
    refused by every command: the store would lie among recipes or output notebooks."""
    error = refusal(cli(ws, "store-copy", given.format(ws=ws), "--json"))
    assert error["field"] == "url", error
    assert f"the target sqlite:///{ws}/" in error["message"], error
    assert f"x.db is in {folder}" in error["message"] and "would refuse it" in error["message"]
    assert "new, empty database" in error["fix"] and "outside" in error["fix"], error
    assert not list(ws.rglob("x.db*"))


def test_only_admins_copy_the_store(ws: Path) -> None:
    error = refusal(cli(ws, "store-copy", "sqlite:///copy.db", "--json", user="bob"))
    assert error["field"] == "role" and "only admins" in error["message"]
    assert not (ws / "copy.db").exists()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_copy_that_fails_part_way_leaves_the_target_as_it_was(
    ws: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """A row the target refuses (here a rerun of a job that is not there, left by a hand
    that edited the SQLite file without its foreign keys) stops the copy at the last table,
    jobs: every table written before it, and the schema, are rolled back."""
    write_recipe(ws, "p/done")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/done.ipynb", "{}", {}, "alice")
        for _ in range(3):
            job = studio.store.create_job(recipe="p/done.ipynb", version_id=version, user="alice")
            set_job(studio.store, job.id, status="succeeded", finished_at=utcnow())
    with sqlite3.connect(ws / "lpstudio.db") as raw:  # foreign keys off, as sqlite3 has them
        raw.execute("UPDATE jobs SET rerun_of = 999 WHERE id = ?", (job.id,))
    if backend == "sqlite":
        target = f"sqlite:///{ws / 'copy.db'}"
    else:
        target = with_password(new_database(request.getfixturevalue("server"), request))

    failed = cli(ws, "store-copy", target, "--json")
    assert failed.exit_code == 1, failed.output
    error = json.loads(failed.stdout)["error"]
    assert "jobs" in error["message"] and "as it was" in error["message"]
    assert PASSWORD not in failed.output and "Traceback" not in failed.output
    if backend == "sqlite":
        assert not (ws / "copy.db").exists()
    else:
        engine = create_engine(target)
        try:
            with engine.connect() as conn:
                assert inspect(conn).get_table_names() == []
                assert (
                    conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'lpstudio%'"))
                    == 0
                )
        finally:
            engine.dispose()


@pytest.mark.parametrize("rows", [0, 1], ids=["empty", "with-a-row"])
def test_another_application_s_database_is_refused_as_init_refuses_it(
    ws: Path, tmp_path: Path, rows: int
) -> None:
    """A target holding another application's `users` table was "a store in use" when that
    table held a row, and stopped at its schema (exit 1) when it held none, while `lpstudio
    init` refused both as another application's database: one rule, said one way."""

    def other_app(path: Path) -> Path:
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE users (login TEXT)")
            raw.executemany("INSERT INTO users VALUES (?)", [("olga",)] * rows)
        return path

    target = other_app(tmp_path / "app.db")
    copied = refusal(cli(ws, "store-copy", f"sqlite:///{target}", "--json"))
    brand = tmp_path / "brand"
    brand.mkdir(mode=0o700)
    other_app(brand / "app.db")
    (brand / "lpstudio.toml").write_text('[store]\nurl = "sqlite:///app.db"\n')
    initialised = refusal(
        CliRunner().invoke(main, ["init", str(brand), "--accept-terms", "--json"])
    )

    assert copied["field"] == "url" and "new, empty database" in copied["fix"], copied
    assert copied["message"].startswith(f"the target sqlite:///{target} holds tables"), copied
    said = "holds tables of its own named as lpstudio's: users (another application's database?)"
    assert said in copied["message"] and said in initialised["message"], initialised
    same = initialised["message"].partition(" holds ")[2]
    assert copied["message"].partition(" holds ")[2] == same
    with sqlite3.connect(target) as raw:  # as it was
        assert raw.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
        assert raw.execute("SELECT count(*) FROM users").fetchone() == (rows,)
