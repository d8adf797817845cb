"""A PostgreSQL store that stops, restarts or drops a connection while lpstudio works on it.

A command that meets it says so as `StoreUnavailable` (exit 75: run it again), not as bad
input; a database that answers with a refusal (no such role) stays bad input (exit 2). A
`lpstudio scheduler` started before its database waits for it, as a server does. A job
whose campaign claims its recipients meanwhile waits for the store and sends each once,
even when the claim's commit landed and its answer was lost; past the wait it fails with
`StoreUnavailable`'s words, not a driver's traceback.

Real PostgreSQL on loopback (`tests.postgres`), real kernels, the sandbox, the real CLI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from lpstudio.cli import main
from lpstudio.errors import StoreUnavailable
from lpstudio.models import Delivery, Job
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.conftest import LPSTUDIO, printed, wait_for, write_recipe
from tests.postgres import (
    postgres_server,
    restart_server,
    server_down,
    workspace_on,
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_ws(tmp_path: Path, server: str, request: pytest.FixtureRequest) -> Path:
    """A workspace whose store is a fresh PostgreSQL database."""
    return workspace_on(server, tmp_path / "ws", request.node.name)


def lpstudio(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--json", "--workspace", str(ws)])


# -- commands ----------------------------------------------------------------------------


def test_a_command_meeting_a_stopped_database_says_run_it_again(pg_ws: Path, server: str) -> None:
    """It exited 2 with WorkspaceError, as for a wrong URL: a script took the outage for
    bad settings, and the README promises 75 (`StoreUnavailable`) for it."""
    write_recipe(pg_ws, "p/one")
    with server_down(server):
        listed, ran = lpstudio(pg_ws, "jobs"), lpstudio(pg_ws, "run", "p/one")
    for result in (listed, ran):
        assert result.exit_code == 75, result.output
        error = json.loads(result.stdout)["error"]
        assert (error["code"], error["field"]) == ("StoreUnavailable", "store.url"), error
        assert "cannot open the store postgresql+psycopg://" in error["message"], error
        assert "Connection refused" in error["message"], error
        assert "again once the database answers" in error["fix"], error
        assert "lpstudio.toml" in error["fix"], error
    assert lpstudio(pg_ws, "jobs").exit_code == 0  # back: nothing was left half-done


def test_a_database_that_stops_right_after_the_schema_check_is_waited_for(
    pg_ws: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that went down between its schema's check and the read of the workspace's
    activation (a failover, a restart) gave the driver's OperationalError, which a server
    opening its workspace does not take for an outage (`LpstudioApp._open_workspace` waits
    for a `StoreUnavailable`): it failed to start."""
    checked = Store.migrate
    with contextlib.ExitStack() as outage:

        def then_down(store: Store) -> None:
            checked(store)
            outage.enter_context(server_down(server))

        monkeypatch.setattr(Store, "migrate", then_down)
        with pytest.raises(StoreUnavailable) as refused:
            Studio.open(pg_ws, user="alice")
    assert refused.value.field == "store.url"
    assert "again once the database answers" in str(refused.value.fix)


def test_a_database_that_refuses_the_user_stays_bad_input(pg_ws: Path) -> None:
    """The server answered: running the command again cannot help, the setting must change."""
    config = pg_ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("postgres@", "nobody@"))
    result = lpstudio(pg_ws, "jobs")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == ("WorkspaceError", "store.url"), error
    assert 'role "nobody" does not exist' in error["message"], error
    assert "user, password and database of [store] url" in error["fix"], error


def test_a_store_url_option_the_driver_cannot_read_stays_bad_input(pg_ws: Path) -> None:
    """`?sslmode=bogus` was taken for a database that cannot be reached: exit 75, "try
    again", and a scheduler waited for it for ever."""
    config = pg_ws / "lpstudio.toml"
    text = config.read_text()
    url = re.search(r"url = '([^']*)'", text) or re.search(r'url = "([^"]*)"', text)
    assert url is not None, text
    config.write_text(text.replace(url[1], f"{url[1]}?sslmode=bogus"))
    result = lpstudio(pg_ws, "jobs")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == ("WorkspaceError", "store.url"), error
    assert "sslmode" in error["message"] and "try again" not in error["fix"], error


# -- the scheduler daemon ----------------------------------------------------------------------


def _scheduler(ws: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [LPSTUDIO, "scheduler", "--workers", "1", "--workspace", str(ws)],
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _said(proc: subprocess.Popen[bytes], log: Path, words: str) -> Callable[[], bool]:
    """Whether the daemon's log says `words` yet; a daemon that exited fails at once."""

    def look() -> bool:
        if words in log.read_text():
            return True
        assert proc.poll() is None, f"the scheduler exited {proc.returncode}: {log.read_text()}"
        return False

    return look


WAITING = "waiting for it"


def test_a_scheduler_started_before_its_database_waits_for_it(
    pg_ws: Path, server: str, tmp_path: Path
) -> None:
    """It quit at start with exit 2: a service manager that starts it with the database
    (or a failover at its start) left schedules unfired until someone restarted it."""
    log = tmp_path / "scheduler.log"
    with server_down(server):
        proc = _scheduler(pg_ws, log)
        try:
            wait_for(_said(proc, log, WAITING), timeout=60, what="the daemon to wait")
        except BaseException:
            proc.kill()
            raise
    try:
        wait_for(_said(proc, log, "scheduler started"), timeout=60, what="the daemon to start")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    said = log.read_text()
    assert said.count(WAITING) == 1, said  # once, not a line per try
    assert "Traceback" not in said, said


def test_a_scheduler_waiting_for_its_database_stops_on_sigterm(
    pg_ws: Path, server: str, tmp_path: Path
) -> None:
    log = tmp_path / "scheduler.log"
    with server_down(server):
        proc = _scheduler(pg_ws, log)
        try:
            wait_for(_said(proc, log, WAITING), timeout=60, what="the daemon to wait")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
    assert "scheduler started" not in log.read_text()


# -- a job's delivery ledger -------------------------------------------------------------------

#: A cell that holds the first commit of the job's ledger (its first claim's) until a file
#: `go` exists, after naming its database connection in `held`; `failed` is touched when a
#: statement of the ledger meets an error. With `sync`, that commit waits for a standby
#: that never answers (`synchronous_standby_names`): it lands, and its answer never comes.
HOLD = """\
import pathlib, time
from sqlalchemy import event
import lpstudio.kernel as lp
ledger, _ = lp._runtime._shared()
held, go, failed = (pathlib.Path(p) for p in {files!r})

def hold(conn):
    if held.exists():
        return
    if {sync!r}:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = on")
    held.with_suffix(".part").write_text(str(conn.connection.dbapi_connection.info.backend_pid))
    held.with_suffix(".part").rename(held)
    while not go.exists():
        time.sleep(0.02)

event.listen(ledger.store.engine, "commit", hold)
event.listen(ledger.store.engine, "handle_error", lambda _: failed.touch())
"""

SEND = """\
lp.connection("liveperson").send_campaign(
    recipients=[{"phone": "+14155550800"}], handoff="H1000000001", campaign_name="t",
    skill="sales", consumer_id="phone", channels=["sms"], variables={"1": "Hi"},
)
"""

#: What a cell does before the send: `lpstudio.store`'s wait cut to `{wait}` s in the kernel.
SHORT_WAIT = "import lpstudio.store\nlpstudio.store.STORE_WAIT = {wait}\n"


@pytest.fixture
def sandboxed(pg_ws: Path, sandbox: Any) -> Path:
    """`pg_ws` with its `liveperson` connection on the sandbox."""
    Studio.init(pg_ws, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return pg_ws


def _send_held(
    ws: Path,
    tmp_path: Path,
    meanwhile: Callable[[int, Path, Path], Any],
    sync: bool = False,
    before: str = "",
) -> tuple[Job, str]:
    """Runs a job sending a campaign to one recipient, its first claim's commit held while
    `meanwhile(backend pid, go, failed)` acts; its final row and what its send cell printed."""
    held, go, failed = tmp_path / "held", tmp_path / "go", tmp_path / "failed"
    metadata = {"title": "held", "connections": {"liveperson": {"type": "liveperson_proactive"}}}
    hold = HOLD.format(files=[str(held), str(go), str(failed)], sync=sync)
    write_recipe(ws, "p/held", cells=(hold + before, SEND), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        ran: list[Job] = []
        thread = threading.Thread(target=lambda: ran.append(studio.run("p/held")))
        thread.start()
        try:
            wait_for(held.exists, timeout=120, what="the claim's commit")
            meanwhile(int(held.read_text()), go, failed)
        finally:
            go.touch()
            thread.join(120)
        (job,) = ran
        assert studio.job(job.id).status == job.status
    output = nbformat.read(ws / job.output_path, as_version=4) if job.output_path else None
    return job, printed(output.cells[-1]) if output else ""


def _sent(sandbox: Any) -> dict[str, int]:
    found = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()["recipients"]
    return {row["address"]: row["count"] for row in found}


def _ledger(ws: Path, job_id: int) -> list[tuple[str, int | None]]:
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        rows = s.execute(
            select(Delivery.status, Delivery.job_id).where(Delivery.ledger == f"job:{job_id}")
        )
        return [tuple(row) for row in rows]


def test_a_claim_cut_by_an_outage_waits_for_the_store_and_sends_once(
    sandboxed: Path, server: str, sandbox: Any, tmp_path: Path
) -> None:
    """The database stopped as the claim committed: the job failed with "OperationalError
    in cell 2: (psycopg.OperationalError) connection failed: ... Connection refused" and a
    driver's traceback, its recipients never sent. The claim did not land: made again once
    the store answers, then sent."""

    def outage(_pid: int, go: Path, failed: Path) -> None:
        with server_down(server):
            go.touch()
            wait_for(failed.exists, timeout=60, what="the claim to meet the outage")

    job, said = _send_held(sandboxed, tmp_path, outage)
    assert job.status == "succeeded", job.error
    assert _sent(sandbox) == {"+14155550800": 1}
    assert _ledger(sandboxed, job.id) == [("accepted", job.id)]
    assert "the store cannot be reached" in said and "waiting for it" in said, said


def test_a_claim_whose_commit_landed_unanswered_is_read_back_and_sent_once(
    sandboxed: Path, server: str, sandbox: Any, tmp_path: Path
) -> None:
    """The claim's commit landed and its connection dropped before the answer: claimed
    again blindly, the recipient would be found "sending" by this very job, taken for
    uncertain and never sent; not claimed again, sent twice. Read back, it is this run's."""
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")
        conn.execute("ALTER SYSTEM SET synchronous_commit = 'local'")  # but the held claim's
    restart_server(server)  # the checkpointer reads synchronous_standby_names as it starts

    def commit_unanswered(pid: int, go: Path, failed: Path) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            go.touch()
            wait_for(
                lambda: (
                    conn.execute(
                        "SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,)
                    ).fetchone()
                    == ("SyncRep",)
                ),
                timeout=60,
                what="the claim's commit to land and wait for its standby",
            )
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_for(failed.exists, timeout=60, what="the claim to lose its answer")

    try:
        job, _ = _send_held(sandboxed, tmp_path, commit_unanswered, sync=True)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("ALTER SYSTEM RESET synchronous_commit")
            conn.execute("SELECT pg_reload_conf()")
    assert job.status == "succeeded", job.error
    assert _sent(sandbox) == {"+14155550800": 1}
    assert _ledger(sandboxed, job.id) == [("accepted", job.id)]


def test_a_claim_that_waited_too_long_fails_its_job_saying_why(
    sandboxed: Path, server: str, sandbox: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Past the wait (cut to a second in the kernel), the job fails with StoreUnavailable's
    message and fix, not SQLAlchemy's text; nothing was sent."""
    caplog.set_level(logging.WARNING, logger="lpstudio.runner")

    def long_outage(_pid: int, go: Path, _failed: Path) -> None:
        with server_down(server):
            go.touch()
            wait_for(
                lambda: "its end is written once it answers" in caplog.text,
                timeout=60,
                what="the job to give up and wait to write its end",
            )

    job, _ = _send_held(sandboxed, tmp_path, long_outage, before=SHORT_WAIT.format(wait=1))
    assert job.status == "failed"
    error = job.error or {}
    assert error["ename"] == "StoreUnavailable", error
    assert error["evalue"].startswith("the store cannot be reached: connection failed"), error
    assert "[store] url in lpstudio.toml" in error["evalue"], error
    assert "psycopg" not in error["evalue"] and "sqlalche.me" not in error["evalue"], error
    assert _sent(sandbox) == {}


# -- a job's end -------------------------------------------------------------------------------


def test_a_job_that_ended_while_the_store_was_down_keeps_its_own_end_time(
    pg_ws: Path, server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its end was dated when the store came back: jobs that ran 30 s showed "succeeded
    53.99 s" after an outage of 24 s. Dated back by how long its end waited, it ends when
    it ended."""
    caplog.set_level(logging.WARNING, logger="lpstudio.runner")
    started, go = tmp_path / "started", tmp_path / "go"
    wait = f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
    wait += f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.02)"
    write_recipe(pg_ws, "p/ending", cells=(wait,))
    with Studio.open(pg_ws, user="alice") as studio:
        ran: list[Job] = []
        thread = threading.Thread(target=lambda: ran.append(studio.run("p/ending")))
        thread.start()
        try:
            wait_for(started.exists, timeout=120, what="the job's first cell")
            with server_down(server):
                ended = datetime.now(UTC)
                go.touch()
                wait_for(
                    lambda: "its end is written once it answers" in caplog.text,
                    timeout=60,
                    what="the job's end to wait for the store",
                )
                time.sleep(2)  # the outage goes on for 2 s, no part of the job's run
        finally:
            go.touch()
            thread.join(120)
        (job,) = ran
    assert job.status == "succeeded", job.error
    assert job.finished_at is not None and job.started_at is not None
    assert timedelta(0) < job.finished_at - ended < timedelta(seconds=1), (job.finished_at, ended)


def test_a_background_step_meeting_an_outage_logs_one_line(
    pg_ws: Path, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A heartbeat or a scheduler's step that met a stopped database logged the driver's
    whole traceback, three a second through an outage (rs: 211 in a minute); then a line a
    beat: the outage is said once, with its fix, however many beats meet it."""
    from lpstudio.executor import QueuedBeat

    beats: list[float] = []
    with Studio.open(pg_ws, user="alice") as studio:
        beat = QueuedBeat(studio.store, every=0.05, tend=lambda: beats.append(1) or True)
        with server_down(server), caplog.at_level(logging.WARNING, logger="lpstudio"):
            beat.start()
            wait_for(lambda: "the store cannot be reached" in caplog.text, what="a beat")
            met = len(beats)
            wait_for(lambda: len(beats) >= met + 10, what="ten more beats")
            beat.close()
    said = [r for r in caplog.records if "the store cannot be reached" in r.getMessage()]
    assert len(said) == 1 and said[0].exc_info is None, caplog.text
    assert "[store] url in lpstudio.toml" in said[0].getMessage()
    assert "Traceback" not in caplog.text
