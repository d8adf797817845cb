"""What a job provides to connectors inside its kernel: connections, a ledger, a rate limiter.

The runner resolves which connection fills each slot and hands the values over when it
binds the job (never as parameters, never in the notebook). Outside a job (a recipe run by
hand in JupyterLab, nbval) the connection is looked up in the workspace found from
`$LPSTUDIO_WORKSPACE` or the notebook's folder.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InputError, LpstudioError, WorkspaceError, quoted, word
from ..sdk import (
    Connection,
    Ledger,
    MemoryLedger,
    MemoryRateLimiter,
    RateLimiter,
    keeps_check,
    settled_detail,
)

if TYPE_CHECKING:
    from ..recipe import Recipe
    from ..store import Store
    from ..workspace import Workspace

T = TypeVar("T")


class StoreWaits:
    """Carries a job's ledger calls through an outage of its store (a database restarting, a
    failover), as the job's end is carried (`runner._once_stored`): a call that cannot reach
    it is tried again, backing off, for `store.STORE_WAIT` at most per outage, counted once
    for all the job's ledgers: a call after one that gave up does not wait again. Failed at
    once, the job ended with a driver's traceback and its sends undone. The job's timeout,
    cancel and Ctrl-C still stop it meanwhile: they kill its kernel. Past the wait,
    `StoreUnavailable` says why, naming `[store] url`."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self.log = log or (lambda _message: None)
        self._since: float | None = None  # when the calls first failed to reach the store

    def call(self, attempt: Callable[[], T]) -> T:
        from sqlalchemy.exc import OperationalError

        from .. import store

        pause = 0.25
        while True:
            try:
                done = attempt()
            except OperationalError as exc:
                if not store.unreachable(exc):
                    raise
                now = time.monotonic()
                if self._since is None:
                    self._since = now
                    self.log(
                        f"the store cannot be reached ({store.first_line(exc)}): waiting for "
                        f"it, {store.STORE_WAIT:g} s at most"
                    )
                if now + pause - self._since > store.STORE_WAIT:
                    raise store.unavailable(exc) from None
                time.sleep(pause)  # a backoff against the database, not a synchronisation
                pause = min(pause * 2, 2.0)
                continue
            if self._since is not None:
                self.log(f"the store answers again, after {time.monotonic() - self._since:.1f} s")
                self._since = None
            return done


class StoreLedger:
    """The delivery ledger in the workspace's store: survives crashes, shared by reruns.
    `ledger` names the job chain's rows; `recipe_ledger` those every job of the recipe
    shares (`across_recipe`).

    Each call is one write transaction of bulk Core statements (a select, an update and an
    insert for a claim; an update per status for a settle): the store is written twice per
    request, never per recipient, so a fan-out at the account's rate limit keeps its pace.
    Each rides out an outage of the store (`StoreWaits`, logged with `log`).
    """

    def __init__(
        self,
        store_url: str,
        ledger: str,
        job_id: int | None,
        recipe_ledger: str | None = None,
        *,
        store: Store | None = None,
        log: Callable[[str], None] | None = None,
        waits: StoreWaits | None = None,
    ) -> None:
        from ..store import Store

        self.store = store or Store(store_url)
        self.ledger = ledger
        self.job_id = job_id
        self.recipe_ledger = recipe_ledger
        self._across: StoreLedger | None = None
        self._waits = waits or StoreWaits(log)

    def across_recipe(self) -> StoreLedger:
        """The recipe's ledger (`recipe_ledger`), made on first use on the same store: only
        a send that is once per recipe ever needs it. Without one, this ledger itself."""
        if self.recipe_ledger is None:
            return self
        if self._across is None:
            self._across = StoreLedger(
                self.store.url, self.recipe_ledger, self.job_id, store=self.store, waits=self._waits
            )
        return self._across

    def _under_way(self, s: Any, rows: Sequence[Any]) -> set[str]:
        """The keys of `rows` another job is sending now: it holds them "sending", runs, and
        claimed them in this run of it (one put back in the queue since left them so; its
        end reports them, `Store.finish_job`). That job accounts for them. A job whose
        worker's process is gone from this machine sends nothing more: its keys are not
        under way (they were waited on for minutes, then said "still being sent")."""
        from sqlalchemy import select

        from ..models import Job, as_utc
        from ..store import RUNNING, worker_is_gone

        others = {r.job_id for r in rows if r.status == "sending" and r.job_id != self.job_id}
        if not others:
            return set()
        found = s.execute(
            select(Job.id, Job.started_at, Job.worker).where(
                Job.id.in_(others), Job.status == RUNNING
            )
        ).all()
        started = {job: at for job, at, worker in found if not worker_is_gone(worker)}
        return {
            row.key
            for row in rows
            if row.job_id in started
            and row.status == "sending"
            and started[row.job_id] is not None
            and as_utc(row.updated_at) >= as_utc(started[row.job_id])
        }

    def sending(self, keys: Sequence[str]) -> dict[str, Any]:
        """As `Ledger.sending`: one read, nothing claimed."""
        earlier = self.earlier_many(keys)
        return {k: r["job_id"] for k, r in earlier.items() if r["status"] == "sending"}

    def earlier_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """As `Ledger.earlier_many`: one read, as a claim reads (`_earlier`), nothing written."""

        def read() -> dict[str, dict[str, Any]]:
            with self.store.read() as s:
                return self._earlier(s, keys)[1]

        return self._waits.call(read)

    def _earlier(
        self, s: Any, keys: Sequence[str]
    ) -> tuple[Sequence[Any], dict[str, dict[str, Any]]]:
        """The rows of `keys` in session `s`, and the earlier record of each a claim does
        not take: accepted or uncertain, "sending" while another job of this run sends it
        (`_under_way`), else uncertain (its job ended, or its process died, unanswered).
        A rejected key is free: it was never sent."""
        from sqlalchemy import select

        from ..models import Delivery

        table = Delivery.__table__  # Core statements: no ORM work per row
        rows = s.execute(
            select(
                table.c.key, table.c.status, table.c.detail, table.c.job_id, table.c.updated_at
            ).where(table.c.ledger == self.ledger, table.c.key.in_(keys))
        ).all()
        busy = self._under_way(s, rows)
        earlier = {
            row.key: {
                "status": (
                    row.status
                    if row.status != "sending"
                    else "sending"
                    if row.key in busy
                    else "uncertain"
                ),
                "detail": row.detail,
                "job_id": row.job_id,
            }
            for row in rows
            if row.status != "rejected"
        }
        return rows, earlier

    def daily_used(self, scopes: Sequence[str], day: str) -> int:
        """As `Ledger.daily_used`: one read."""
        from sqlalchemy import func, select

        from ..models import DailyCount

        table = DailyCount.__table__

        def read() -> int:
            with self.store.read() as s:
                used = s.scalar(
                    select(func.max(table.c.used)).where(
                        table.c.scope.in_(list(scopes)), table.c.day == day
                    )
                )
            return int(used or 0)

        return self._waits.call(read)

    def reserve_daily(self, scopes: Sequence[str], day: str, count: int, limit: int) -> int:
        """As `Ledger.reserve_daily`: one write transaction (the store's writers take turns,
        so two processes never both take the last of the day), made again through an
        outage of the store: one that committed before the outage leaves its sends
        reserved twice, short of the limit, never past it."""
        from sqlalchemy import insert, select, update

        from ..models import DailyCount

        table = DailyCount.__table__
        if count <= 0:
            return 0

        def reserve() -> int:
            with self.store.write() as s:
                held = dict(
                    s.execute(
                        select(table.c.scope, table.c.used).where(
                            table.c.scope.in_(list(scopes)), table.c.day == day
                        )
                    ).all()
                )
                granted = max(0, min(count, limit - max(held.values(), default=0)))
                if not granted:
                    return 0
                if held:
                    s.execute(
                        update(table)
                        .where(table.c.scope.in_(list(held)), table.c.day == day)
                        .values(used=table.c.used + granted)
                    )
                new = [{"scope": x, "day": day, "used": granted} for x in scopes if x not in held]
                if new:
                    s.execute(insert(table), new)
                return granted

        return self._waits.call(reserve)

    def release_daily(self, scopes: Sequence[str], day: str, count: int) -> None:
        """As `Ledger.release_daily`, tried once: made again after an outage that may have
        committed it, it could give back twice and let the day pass the limit. What it
        could not give back stays reserved (short of the limit, never past), and is said."""
        from sqlalchemy import case, update
        from sqlalchemy.exc import OperationalError

        from .. import store
        from ..models import DailyCount

        table = DailyCount.__table__
        if count <= 0:
            return

        try:
            with self.store.write() as s:
                s.execute(
                    update(table)
                    .where(table.c.scope.in_(list(scopes)), table.c.day == day)
                    .values(used=case((table.c.used > count, table.c.used - count), else_=0))
                )
        except OperationalError as exc:
            self._waits.log(
                f"{count} sends reserved for {day} and not sent stay counted against the "
                f"day's limit: the store could not be written ({store.first_line(exc)})"
            )

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """As `Ledger.claim_many`; a key another job claimed and still runs with (not
        settled yet, not died) is reported `sending`, not `uncertain`: that job will say.

        A claim whose commit met an outage may have landed: made again, its keys would be
        found "sending" by this very job, taken for uncertain and never sent. Its rows are
        read back first (`_landed`): found, the claim is this run's and stands; else it is
        made again.

        A claim's detail is the UTC `day` it was made: a send whose answer never comes (its
        process killed, its job cancelled or put back in the queue) may have gone out that
        day, and a daily limit counts it there, as its settled sends are (their detail
        gives the day again); and its `check`, which the fix of a job that ends before it is
        answered says (`store._end_unanswered`), by its digest: the text is stored once
        (`store.kept_check`), not on each of a campaign's rows."""
        tried: dict[str, Any] = {}  # the last try's time and answer, once it sent its commit

        def attempt() -> dict[str, dict[str, Any]]:
            if tried and self._landed(keys, tried["at"]):
                return tried["earlier"]
            tried.clear()
            return self._claim(keys, tried, check)

        return self._waits.call(attempt)

    def _landed(self, keys: Sequence[str], at: Any) -> bool:
        """Whether a claim of `keys` made at `at` (by the store's clock) was committed: it
        dated every row it claimed for this job with that moment, which no other claim
        shares."""
        from sqlalchemy import func, select

        from ..models import Delivery

        table = Delivery.__table__
        with self.store.read() as s:
            found = s.scalar(
                select(func.count()).where(
                    table.c.ledger == self.ledger,
                    table.c.key.in_(keys),
                    table.c.job_id == self.job_id,
                    table.c.updated_at == at,
                )
            )
        return bool(found)

    def _claim(
        self, keys: Sequence[str], tried: dict[str, Any], check: str | None
    ) -> dict[str, dict[str, Any]]:
        """One try of `claim_many`, noting in `tried` its time and answer before its commit."""
        from sqlalchemy import insert, update

        from ..models import Delivery
        from ..store import DOUBTFUL, kept_check

        table = Delivery.__table__  # Core statements: no ORM work per row
        mine = (table.c.ledger == self.ledger, table.c.key.in_(keys))
        with self.store.write() as s:
            self._still_running(s)
            # By the store's clock, as its job's start: a claim is of this run of the job if
            # it is dated after that start (`_under_way`), whichever machine made either.
            now = self.store.now(s)
            claimed = {"status": "sending", "job_id": self.job_id, "updated_at": now}
            digest = kept_check(s, check)
            dated = {"day": now.date().isoformat(), **({"check": digest} if digest else {})}
            rows, earlier = self._earlier(s, keys)
            if earlier:  # relied on now: kept by the purge as long as this job's data
                # (not those in doubt: the purge keeps them, and their date says when they
                # were sent, `_sent_windows`; one still "sending", in which run of its job)
                s.execute(
                    update(table)
                    .where(*mine, table.c.key.in_(list(earlier)), table.c.status.not_in(DOUBTFUL))
                    .values(updated_at=claimed["updated_at"])
                )
            if len(earlier) < len(rows):  # rejected before: sent now after all
                s.execute(
                    update(table)
                    .where(*mine, table.c.status == "rejected")
                    .values(**claimed, detail=dated)
                )
            known = {row.key for row in rows}
            new = [
                {"ledger": self.ledger, "key": key, "detail": dated, **claimed}
                for key in keys
                if key not in known
            ]
            if new:
                s.execute(insert(table), new)
            tried.update(at=now, earlier=earlier)  # all sent but the commit
        return earlier

    def _by_check(
        self, s: Any, status: str, keys: list[str], detail: dict[str, Any]
    ) -> dict[str | None, list[str]]:
        """`keys` by the check their claims keep (its digest), where a settle to `status`
        with `detail` keeps it (`settled_detail`); else all of them under None, read
        nothing."""
        from sqlalchemy import select

        from ..models import Delivery

        if not keeps_check(status, detail):
            return {None: keys}
        table = Delivery.__table__
        check = table.c.detail["check"].as_string()
        found: dict[str | None, list[str]] = {}
        for key, kept in s.execute(
            select(table.c.key, check).where(table.c.ledger == self.ledger, table.c.key.in_(keys))
        ):
            found.setdefault(kept, []).append(key)
        return found

    def _still_running(self, s: Any) -> None:
        """Refuses a claim of a job that has ended: one failed as lost while its process was
        frozen, whose kernel has not yet been stopped. Its result was taken from the ledger
        when it ended: what it sent after went to no count (the dashboard missed about a
        heartbeat's sends), so it sends nothing more."""
        from sqlalchemy import select

        from ..models import Job
        from ..store import FINAL_STATES

        if self.job_id is None:
            return
        status = s.scalar(select(Job.status).where(Job.id == self.job_id))
        if status in FINAL_STATES:
            raise LpstudioError(
                f"job {self.job_id} has ended ({status}): it sends nothing more",
                fix=f"`lpstudio show {self.job_id}` says what became of it",
            )

    def settle_many(self, outcomes: Mapping[str, str], detail: dict[str, Any]) -> None:
        """As `Ledger.settle_many`: made again after an outage, it writes the same. Sends of
        a job that ended meanwhile (failed as lost while its process was frozen) count in
        its result and error by their outcome (`store.settled_after_end`). Those left
        uncertain keep their claims' check (`settled_detail`): an update per check. A check
        of the settle's own is stored once too (`store.kept_check`)."""
        from sqlalchemy import update

        from ..models import Delivery, utcnow
        from ..store import kept_check, settled_after_end

        table = Delivery.__table__
        by_status: dict[str, list[str]] = {}
        for key, status in outcomes.items():
            by_status.setdefault(status, []).append(key)
        now = utcnow()

        def settle() -> None:
            with self.store.write() as s:
                said = (
                    {**detail, "check": kept_check(s, detail["check"])}
                    if "check" in detail
                    else detail
                )
                for status, keys in by_status.items():
                    for check, some in self._by_check(s, status, keys, said).items():
                        s.execute(
                            update(table)
                            .where(table.c.ledger == self.ledger, table.c.key.in_(some))
                            .values(
                                status=status,
                                detail=settled_detail(status, said, check),
                                updated_at=now,
                            )
                        )
                settled_after_end(s, self.job_id)

        self._waits.call(settle)


#: Seconds between two looks at the shared limiter while a turn waits for requests of other
#: processes to be answered: nothing tells this one when they are.
TURN_POLL = 0.01


class SQLiteRateLimiter:
    """Rate limits shared by every kernel of one machine, in the SQLite file at `path`: all
    jobs together keep an account within its limit.

    A request holds a slot from its turn until its answer, and counts from its answer for a
    `period` more (`sending`). An API counts a request when it arrives, some time between
    the two, so however long it waited to go out (its ledger's write, a busy machine) or on
    the way, it cannot arrive within a period of one let go after it, from any process. A
    permit alone (`acquire`) counts from its moment. Turns go in the order they were asked
    for, across processes: no job waits while later ones go. The slots of a process gone
    (killed mid-request) count from when that was seen; its waits are dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: Any = None
        self._lock = threading.Lock()  # the process's threads share one SQLite connection

    def acquire(self, key: str, per_second: int) -> None:
        """A permit, counted for one second from now (`RateLimiter`)."""
        self._answered(self._turn(key, per_second, 1.0))

    @contextmanager
    def sending(self, key: str, limit: int, period: float) -> Iterator[None]:
        """Holds one of `limit` slots of `key` while the request inside is sent and its
        answer awaited, then counts it `period` seconds from when it ended (answered or
        failed)."""
        ticket = self._turn(key, limit, period)
        try:
            yield
        finally:
            self._answered(ticket)

    def _connected(self) -> Any:
        """The SQLite connection (made on first use), with its table."""
        import sqlite3

        from ..workspace import runtime_folder

        if self._db is None:
            runtime_folder(self.path.parent)
            db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")  # as the machine's other shared limits
            db.execute("PRAGMA synchronous=NORMAL")  # no fsync per commit: counts live a second
            db.execute(
                "CREATE TABLE IF NOT EXISTS account_requests (id INTEGER PRIMARY KEY "
                "AUTOINCREMENT, key TEXT NOT NULL, pid INTEGER NOT NULL, state TEXT NOT NULL, "
                "at REAL NOT NULL, period REAL NOT NULL)"
            )
            self._db = db
        return self._db

    def _write(self, statement: str, *values: Any) -> Any:
        """One statement in a write transaction of its own."""
        with self._lock:
            db = self._connected()
            db.execute("BEGIN IMMEDIATE")
            try:
                done = db.execute(statement, values)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return done

    def _turn(self, key: str, limit: int, period: float) -> int:
        """Waits in line for a slot of `key`; its ticket once it holds one."""
        ticket = self._write(
            "INSERT INTO account_requests (key, pid, state, at, period) "
            "VALUES (?, ?, 'waiting', ?, ?)",
            key,
            os.getpid(),
            time.monotonic(),
            period,
        ).lastrowid
        try:
            while (wait := self._take(ticket, key, limit)) is not None:
                time.sleep(wait)  # the other processes' requests: polled, not signalled
        except BaseException:
            self._write("DELETE FROM account_requests WHERE id = ?", ticket)
            raise
        return ticket

    def _take(self, ticket: int, key: str, limit: int) -> float | None:
        """One look: takes the slot (None) when fewer than `limit` of `key` are held or
        counted and no earlier turn waits for one; else the seconds to wait."""
        with self._lock:
            db = self._connected()
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.monotonic()  # the machine's: every process reads the same
                self._expire(db, key, now)
                held, ahead, freed = db.execute(
                    "SELECT SUM(state != 'waiting'), SUM(state = 'waiting' AND id < ?), "
                    "MIN(CASE WHEN state = 'answered' THEN at + period END) "
                    "FROM account_requests WHERE key = ?",
                    (ticket, key),
                ).fetchone()
                if (held or 0) + (ahead or 0) < limit:
                    db.execute(
                        "UPDATE account_requests SET state = 'sending', at = ? WHERE id = ?",
                        (now, ticket),
                    )
                    wait = None
                else:
                    wait = TURN_POLL if freed is None else min(max(freed - now, 0.0), TURN_POLL)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return wait

    @staticmethod
    def _expire(db: Any, key: str, now: float) -> None:
        """Frees the slots of `key` counted long enough, and those of processes gone: their
        requests count from now, their waits are dropped. A moment after `now` is of a
        clock since restarted (the machine's): its row is dropped too."""
        db.execute(
            "DELETE FROM account_requests WHERE key = ? AND "
            "((state = 'answered' AND at + period <= ?) OR at > ?)",
            (key, now, now),
        )
        pids = [
            pid
            for (pid,) in db.execute(
                "SELECT DISTINCT pid FROM account_requests WHERE key = ? AND state != 'answered'",
                (key,),
            )
        ]
        for pid in filter(_gone, pids):
            db.execute(
                "DELETE FROM account_requests WHERE key = ? AND pid = ? AND state = 'waiting'",
                (key, pid),
            )
            db.execute(
                "UPDATE account_requests SET state = 'answered', at = ? "
                "WHERE key = ? AND pid = ? AND state = 'sending'",
                (now, key, pid),
            )

    def _answered(self, ticket: int) -> None:
        """The request is over: it counts from now for its period."""
        self._write(
            "UPDATE account_requests SET state = 'answered', at = ? WHERE id = ?",
            time.monotonic(),
            ticket,
        )


def _gone(pid: int) -> bool:
    """Whether no process `pid` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's: it runs
        return False
    return False


#: Set once this kernel is asked to shut down (`_told_of_shutdown`): its job ended, and its
#: fence leaves it to end itself, its atexit functions and all.
_ENDING = threading.Event()


def _told_of_shutdown() -> None:
    """Sets `_ENDING` when the kernel gets its shutdown request: a worker that shuts a
    kernel down has ended its job, which the fence took for a job taken from it (it killed
    the kernel mid-exit, and a file the notebook left open lost what it wrote)."""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
    except ImportError:
        return
    if kernel is None or _ENDING.is_set():
        return
    original = kernel.do_shutdown

    def do_shutdown(restart: bool) -> Any:
        _ENDING.set()
        return original(restart)

    kernel.do_shutdown = do_shutdown


def _fence(store_url: str, job_id: int, worker: str, every: float) -> None:
    """Ends this kernel once its job is no longer running under the worker that started it
    (looked up every `every` s). A worker frozen (stopped, paused, cut off from the store)
    cannot stop its kernel; reaped meanwhile, its job is failed, retried or requeued, and
    this kernel must not act on beside the job's next run. The first look comes after
    `every` s: a short job never opens the store for it. A kernel asked to shut down
    (`_ENDING`) is left to end itself."""
    import signal
    import time

    time.sleep(every)  # before any import: the job's first cells run undisturbed
    from ..store import RUNNING, Store

    store: Store | None = None
    while not _ENDING.is_set():
        try:
            store = store or Store(store_url)
            job = store.job(job_id)
        except Exception:  # the store is busy or away: the worker's watchdog decides then
            job = None
        ended = _ENDING.is_set()  # asked meanwhile: the job ended under its worker
        if job is not None and (job.status != RUNNING or job.worker != worker) and not ended:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(every)


class Runtime:
    """Everything the kernel got from the runner, apart from the printable job context."""

    def __init__(
        self, payload: dict[str, Any] | None, test_mode: bool, job_id: int | None, log: Any
    ) -> None:
        payload = payload or {}
        self.workspace = payload.get("workspace")
        self.store_url = payload.get("store_url")
        self.bound: dict[str, dict[str, Any]] = payload.get("connections", {})
        self.test_mode = test_mode
        self.log = log
        self._payload = payload
        self._job_id = job_id
        self._ledger: Ledger | None = None
        self._limiter: RateLimiter | None = None
        self._open: dict[str, Connection] = {}
        self._resolved: dict[str, tuple[str, str, dict[str, Any], str | None]] = {}
        fence = payload.get("fence")
        if fence and self.store_url and job_id is not None:
            _told_of_shutdown()
            threading.Thread(
                target=_fence,
                args=(self.store_url, job_id, fence["worker"], max(float(fence["every"]), 0.5)),
                name="lpstudio-fence",
                daemon=True,
            ).start()

    def _shared(self) -> tuple[Ledger, RateLimiter]:
        """The ledger and rate limiter, made on first use: a recipe that calls no connection
        never loads the store or the limiter into its kernel."""
        if self._ledger is None:
            payload = self._payload
            self._ledger = (
                StoreLedger(
                    self.store_url,
                    payload["ledger"],
                    self._job_id,
                    payload.get("recipe_ledger"),
                    log=self.log,
                )
                if self.store_url and payload.get("ledger")
                else MemoryLedger()
            )
        if self._limiter is None:
            from ..workspace import RUNTIME

            self._limiter = (
                SQLiteRateLimiter(Path(self.workspace) / RUNTIME / "rate-limits.sqlite")
                if self.workspace
                else MemoryRateLimiter()
            )
        return self._ledger, self._limiter

    def connection(self, slot: str) -> Connection:
        """The slot's connection, opened once per binding: a job's never changes, while by
        hand a Save in the form (or an edited connection, or an edited connector file)
        counts from the next call."""
        if self._job_id is not None and slot in self._open:
            return self._open[slot]
        from ..registry import get_connector

        resolved = self._resolve(slot)
        name, type_, config, root = resolved
        connector = get_connector(type_, Path(root) if root else None)  # cached till edited
        current = self._open.get(slot)
        if (
            current is None
            or self._resolved.get(slot) != resolved
            or current.connector is not connector
        ):
            ledger, limiter = self._shared()
            self._open[slot] = Connection(
                name,
                connector,
                {**config, "root": root} if root else config,
                dry_run=self.test_mode,
                ledger=ledger,
                limiter=limiter,
                log=self.log,
                given=self._given(),
            )
            self._resolved[slot] = resolved
        return self._open[slot]

    def _given(self) -> tuple[Any, ...]:
        """What the job was given (`Secrets`); by hand, nothing: who runs the notebook may
        read its connections anyway."""
        if self._job_id is None:
            return ()
        from . import context

        bound = context()
        return (bound.parameters, bound.event)

    def _resolve(self, slot: str) -> tuple[str, str, dict[str, Any], str | None]:
        if slot in self.bound:
            bound = self.bound[slot]
            return bound["name"], bound["type"], bound["config"], self.workspace
        if self._job_id is not None:  # the runner binds every declared slot
            from . import context

            raise InputError(
                f"this recipe declares no connection slot '{slot}' (its slots: "
                f"{', '.join(self.bound) or 'none'})",
                field="connections",
                fix=f"use one of its slots, or declare '{slot}' in metadata.lpstudio.connections "
                f"and bind it with `lpstudio settings {word(context().recipe)} --connection "
                f"{slot}=NAME`",
            )
        return _interactive(slot)


#: Set in the kernel of a notebook papermill runs through lpstudio's engine outside a job
#: (`engine.told_code`): no person is at it, so it builds no form (`RecipeForm.here`), as
#: in a job. Without it a headless run asked LivePerson for a token and its pick lists,
#: and its output notebook kept the form's 200 widget models (170 KB).
HEADLESS_VAR = "LPSTUDIO_HEADLESS"


def notebook_recipe() -> tuple[Workspace, Recipe | None]:
    """Outside a job: the workspace of the notebook this kernel runs, and its recipe (None
    for a notebook that is no recipe of it, or one this kernel was not told of)."""
    return _recipe_of(_notebook_file())


def _notebook_file() -> str | None:
    """`notebook_path`, when it names a file."""
    notebook = notebook_path()
    return notebook if notebook and Path(notebook).is_file() else None


def _recipe_of(notebook: str | None) -> tuple[Workspace, Recipe | None]:
    from ..recipe import Recipe
    from ..workspace import ENV_VAR

    try:
        workspace = notebook_workspace(notebook)
    except WorkspaceError as exc:
        if "--workspace" in (exc.fix or ""):  # none found: a kernel has no such option
            exc.fix = (
                "open the notebook from a workspace's projects/ folder in JupyterLab, or set "
                f"{ENV_VAR} to the workspace folder before starting JupyterLab"
            )
        raise
    if notebook:
        path = Path(notebook).resolve()
        if path.is_relative_to(workspace.projects.resolve()):
            return workspace, Recipe.load(path, workspace.recipe_name(path))
    return workspace, None


def notebook_path() -> str | None:
    """The notebook this kernel runs, as it is named now (None: nothing told it), for the
    recipe form and `notebook_recipe`: the path the studio's server keeps for this kernel
    (`workspace.session_file`), which follows a rename or move in JupyterLab, else the one
    its starter told it (`_told`), which a rename leaves as it was: the old path showed no
    form, or the recipe created there since."""
    from ..workspace import session_file

    started = _told()[0]
    kernel_id = _kernel_id()
    if kernel_id is None:
        return started
    try:  # the workspace around where it started: its server's (`$LPSTUDIO_WORKSPACE`)
        now = session_file(notebook_workspace(started).root, kernel_id).read_text("utf-8")
    except (LpstudioError, OSError, UnicodeDecodeError):  # no studio's server keeps it
        return started
    return now or started


def _told() -> tuple[str | None, str | None]:
    """The notebook this kernel's starter told it it runs, and who told it: VS Code (its
    `__vsc_ipynb_file__` in the user's namespace, a path of the machine VS Code runs on),
    else `$JPY_SESSION_NAME` (jupyter_server's, or the one lpstudio's engine gives a
    notebook papermill runs), else papermill (its `PAPERMILL_INPUT_PATH` parameter, once
    injected: `--inject-paths`). nbconvert, nbval and papermill's own engine tell nothing
    else, and papermill's relative path is read from the kernel's folder, as papermill's
    run without `--cwd` starts it. (None, None): nothing told it."""
    namespace = _user_namespace()
    vscode = namespace.get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and os.path.isfile(vscode):
        return vscode, "vscode"
    if started := os.environ.get("JPY_SESSION_NAME"):
        return started, "session"
    injected = namespace.get("PAPERMILL_INPUT_PATH")
    if isinstance(injected, str) and os.path.isfile(injected):
        return os.path.abspath(injected), "papermill"
    return None, None


def _user_namespace() -> Mapping[str, Any]:
    """The namespace of the notebook's cells (empty outside IPython)."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def headless() -> bool:
    """Whether papermill runs this kernel's notebook, outside a job: told by lpstudio's
    engine (`HEADLESS_VAR`), or by papermill's own injected path, when nothing else told
    it which notebook it runs (a person in JupyterLab or VS Code)."""
    return os.environ.get(HEADLESS_VAR) == "1" or _told()[1] == "papermill"


def _kernel_id() -> str | None:
    """This kernel's id, as Jupyter names its connection file (`kernel-ID.json`); None
    outside a kernel, or for a file named otherwise."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except (ImportError, RuntimeError, OSError):  # no kernel, or its file gone
        return None
    if name.startswith("kernel-") and name.endswith(".json"):
        return name.removeprefix("kernel-").removesuffix(".json")
    return None


def notebook_workspace(notebook: str | None) -> Workspace:
    """The workspace of a notebook run outside a job: `$LPSTUDIO_WORKSPACE`, else the one
    around the notebook (JupyterLab starts its kernel in the notebook's folder, papermill
    in its own), else the one around this folder. lpstudio's engine scrubs what papermill
    writes of such a run with this workspace's secrets."""
    from ..workspace import Workspace

    return Workspace.find(around=Path(notebook).parent if notebook else None)


def _declared_type(slot: str) -> str | None:
    """The connector type the notebook this kernel runs declares for `slot`, when it is no
    recipe of the workspace (a template opened from the gallery's folder): what the fix of
    its missing connection gives as the type (as a shell word). None when no notebook or
    no such slot."""
    notebook = notebook_path()
    if not notebook:
        return None
    try:
        nb = json.loads(Path(notebook).read_text("utf-8"))
        type_ = nb["metadata"]["lpstudio"]["connections"][slot]["type"]
    except (OSError, UnicodeDecodeError, ValueError, LookupError, TypeError):
        return None
    return word(type_) if isinstance(type_, str) and type_ else None


def _interactive(slot: str) -> tuple[str, str, dict[str, Any], str | None]:
    """Outside a job: the workspace's connection bound to this slot by the recipe's settings,
    else the one named like the slot, else the only one of the slot's connection type. In a
    notebook that is no recipe (no slots declared), the slot names the connection."""
    from ..connections import Connections, bind_connections
    from ..settings import saved_settings
    from ..store import open_store

    notebook = _notebook_file()
    workspace, recipe = _recipe_of(notebook)
    store = open_store(workspace)  # refused as the form says it (`RecipeForm.here`)
    try:
        connections = Connections(store, workspace.key_path, workspace.root)
        available = connections.list()
        slots: dict[str, Any] | None = None
        chosen: dict[str, str] = {}
        if recipe is not None:
            slots = recipe.metadata.get("connections", {})
            chosen = saved_settings(store, recipe.name).get("connections", {})
        if slots is not None and slot not in slots:
            raise InputError(
                f"this recipe declares no connection slot '{slot}' (its slots: "
                f"{', '.join(slots) or 'none'})",
                field="connections",
                fix=f"use one of its slots, or declare '{slot}' in metadata.lpstudio.connections",
            )
        if notebook is None:
            _refuse_untold(slot, workspace, store, available)
        if slots is None and slot not in {info.name for info in available}:
            names = ", ".join(info.name for info in available) or "none yet"
            raise InputError(
                f"workspace {workspace.root} has no connection '{slot}' (its connections: {names})",
                field="connections",
                fix="give the name of one of them, or create it with "
                f"`lpstudio connections add {slot} --type {_declared_type(slot) or 'TYPE'} "
                "--field ...`",
            )
        spec = (slots or {}).get(slot, {})
        named = recipe.name if recipe else None  # a notebook that is no recipe names none
        name = bind_connections({slot: spec}, chosen, available, recipe=named)[slot]
        type_, config = connections.values(name)
    finally:
        store.close()
    return name, type_, config, str(workspace.root)


def _refuse_untold(slot: str, workspace: Workspace, store: Store, available: list[Any]) -> None:
    """Refuses `slot` in a kernel that was not told which notebook it runs (papermill's own
    engine, nbconvert, nbval), or told one that is not there, where a recipe in its folder
    binds the slot otherwise (`_bound_otherwise`): taken as a connection's name, it used
    another app account (another Shopify store) without a word, or was said to be missing
    though the settings bind it."""
    found = _bound_otherwise(slot, workspace, store, available)
    if found is None:
        return
    recipe, binds = found
    told = notebook_path()  # one that is not there (renamed, with no studio's server)
    untold = (
        f"this kernel's notebook {told} is not there"
        if told
        else "this kernel was not told which notebook it runs"
    )
    raise InputError(
        f"connection slot '{slot}': {untold}, and recipe {word(recipe)} in its folder binds "
        f"the slot to {quoted(binds) if binds else 'no connection'}, not to a connection "
        f"named '{slot}'",
        field="connections",
        fix="run the notebook with `papermill --engine lpstudio`, or open it in JupyterLab, "
        "or set JPY_SESSION_NAME to the notebook's path before its kernel starts",
    )


def _bound_otherwise(
    slot: str, workspace: Workspace, store: Store, available: list[Any]
) -> tuple[str, str | None] | None:
    """The first recipe in the kernel's folder, when it is under `projects/`, whose slot
    `slot` its settings bind to another connection than the one named like it (or that
    none fills), with that connection (None: none); None when every one there that
    declares the slot binds it to the one named like it."""
    from ..connections import bind_connections
    from ..recipe import Recipe
    from ..settings import saved_settings

    folder = Path.cwd().resolve()
    if not folder.is_relative_to(workspace.projects.resolve()):
        return None
    for path in workspace.recipe_files(folder):
        if path.resolve().parent != folder:
            continue  # a sub-folder's: the kernel runs none of them
        try:
            recipe = Recipe.load(path, workspace.recipe_name(path))
        except LpstudioError:  # no recipe lpstudio runs
            continue
        spec = recipe.metadata.get("connections", {}).get(slot)
        if spec is None:
            continue
        chosen = saved_settings(store, recipe.name).get("connections", {})
        try:
            binds = bind_connections({slot: spec}, chosen, available, ready=False)[slot]
        except LpstudioError:  # none fits its slot
            binds = None
        if binds != slot:
            return recipe.name, binds
    return None
