"""The store: every piece of state, behind SQLAlchemy (SQLite by default, or PostgreSQL).

SQLite runs in WAL mode with a busy timeout, and write transactions start with
`BEGIN IMMEDIATE`, so several `lpstudio` processes on one workspace queue for the write lock
instead of failing with "database is locked". On PostgreSQL, write transactions take one
advisory lock for the same effect across machines: every check-then-write (claims, leases,
de-duplication) is as atomic there as on SQLite.

Leases and heartbeats are timed by the database's clock on PostgreSQL (`Store.now`): the
machines sharing it need not agree on the time, while SQLite serves one machine and its clock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, SupportsIndex
from urllib.parse import quote

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InvalidatePoolError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, defer, load_only, sessionmaker

from .errors import (
    FIX_SAID,
    RERUN_FIRST,
    InputError,
    NotFoundError,
    StoreUnavailable,
    StoreUnwritable,
    WorkspaceError,
    rerun_error,
    said_and_fix,
    uncertain_fix,
)
from .jobstates import CANCELLED, FAILED, FINAL_STATES, QUEUED, RUNNING, SUCCEEDED
from .models import (
    Activation,
    AuditEntry,
    Base,
    Job,
    Notebook,
    RecipeVersion,
    StoreIdentity,
    User,
    as_utc,
    utcnow,
)
from .scalars import integral
from .sdk import NOT_SENT, settled_detail
from .workspace import KNOWN_SETTINGS, SQLITE_SIDE_FILES, Workspace, default_lines

#: The newest migration; a store at this revision needs no Alembic at start-up.
SCHEMA_HEAD = "0022"

#: The audit action of a person's dismissal of the studio's gallery pop-up, which then stays
#: away for them in this workspace.
GALLERY_POPUP_DISMISSED = "dismiss_gallery_popup"

#: What started a job (`Job.trigger`), as every view names it: a person's run (`manual`,
#: the CLI's `run`, REST's and the lab's Run now), a Test (`test`: its actions send
#: nothing), a recipe's own trigger (`schedule`, `poll`, `webhook`), a bot's call
#: (`callable`), a rerun (`rerun`; a Test's rerun is a `test` again) and a scheduler's
#: retry of a failed job (`retry`). A rerun or retry names the job it runs again in
#: `rerun_of`: followed until it is null, it reaches the chain's first job, whose trigger
#: is what started it all.
JOB_TRIGGERS = ("manual", "test", "schedule", "poll", "webhook", "callable", "rerun", "retry")

#: The triggers whose jobs a scheduler runs; the process that queues any other job (a
#: command, a server's executor) runs it itself.
SCHEDULED_TRIGGERS = ("poll", "schedule", "webhook", "retry")

#: What one call of `Store.request_cancel` did: ended a queued job, or asked a running one's
#: worker first; None when another caller, or the job's own end, came first.
CancelDone = Literal["ended", "asked"] | None

#: A job as lists show it (`jobviews.LISTED_WITHOUT`): its trigger event (and the sealed copy
#: its kernel opens) and its result have no bound in size, so a list's rows do not read them
#: (a page of a million webhook jobs read each delivery, only to drop it), nor the values
#: given to it (`given`), which a row never shows: of a 5 MB parameter, `parameters` and
#: `given` each held a copy, both read for every row listed. One read by mistake raises
#: rather than reading them row by row (`_loaded`).
_UNREAD = ("event", "sealed_event", "result", "given")
LISTED = tuple(defer(getattr(Job, name), raiseload=True) for name in _UNREAD)


@event.listens_for(Job, "load")
def _loaded(job: Job, context: Any) -> None:
    """A job as read: given its workspace's folder (`Store.root`: `Job.output_file`), and
    read `LISTED`, refusing a read of a column left unread in lpstudio's words, with
    the fix: SQLAlchemy's own error (DetachedInstanceError once out of its session, as a
    `studio.jobs(listed=True)` job is) said nothing of why. Its loader of each column left
    unread (a per-instance one, `InstanceState.callables`) becomes the refusal."""
    job.root = context.session.info.get("root")
    callables = inspect(job).callables
    for name in _UNREAD:
        if name in callables:
            callables[name] = _refuse_unread


def _refuse_unread(state: Any, _passive: Any) -> Any:
    """The loader of a listed job's column left unread (`_loaded`)."""
    job_id = state.dict.get("id")
    raise InputError(
        f"job {job_id} was listed without its event, result and the values given to it: "
        "`jobs(listed=True)` leaves them unread, as `jobs_frame` does",
        field="listed",
        fix=f"read the whole job with studio.job({job_id})",
    )


#: How long (seconds) a writer waits for the write lock before it fails: SQLite's busy
#: timeout (another process writing: "database is locked"), the turn of this process's
#: writers (`Store.write`), and PostgreSQL's lock_timeout on its writers' advisory lock,
#: so that no wait is without end.
BUSY_TIMEOUT = 60.0


def first_line(exc: DBAPIError) -> str:
    """The database's own reason, without SQLAlchemy's statement and parameters."""
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def log_failure(logger: logging.Logger, exc: Exception, message: str, *args: Any) -> None:
    """Logs what a background step (a heartbeat, a scheduler's tick) failed on: a store that
    cannot be reached for now in one line, its reason (each beat of an outage wrote the
    driver's whole traceback, three a second), anything else with its traceback."""
    if isinstance(exc, OperationalError | StoreUnavailable):
        reason = first_line(exc) if isinstance(exc, OperationalError) else exc.message
        logger.warning(f"{message}: the store cannot be reached for now: %s", *args, reason)
    else:
        logger.error(message, *args, exc_info=exc)


def unavailable(exc: OperationalError) -> StoreUnavailable:
    """What a request that met `exc` (a store locked past `BUSY_TIMEOUT`, a database server
    gone, a SQLite file whose disk refuses its writes) is told, by the CLI and the REST API
    alike."""
    refused = disk_refusal(exc)
    if refused is not None:
        return refused
    reason = first_line(exc)
    locked = "database is locked" in reason
    return StoreUnavailable(
        f"the store cannot be {'written' if locked else 'reached'}: {reason}",
        field="store.url",
        fix="try again once the other write ends (a purge of a long history, a copy of the "
        "store, a process stopped in the middle of a write)"
        if locked
        else "try again shortly; if it lasts, check that the database server runs and this "
        "machine may reach it ([store] url in lpstudio.toml)",
    )


#: SQLite's primary result codes (`sqlite3.Error.sqlite_errorcode`, extended codes in its
#: high bits) of a write its disk refused: full (or over the user's quota), or failing.
_SQLITE_FULL, _SQLITE_IOERR = 13, 10

#: The attribute a SQLite store's engine gives an error its disk refused: the store's file,
#: which the fix names (`disk_refusal`).
_STORE_FILE = "lpstudio_store_file"


def disk_refusal(exc: DBAPIError) -> StoreUnavailable | None:
    """What a SQLite store whose disk refused a write is told, naming its file's folder and
    the cure; None for any other error. There is no database server to check; as for one
    out of reach, nothing was done and it may be run again (a full disk is often freed by
    a log rotation or a cleaner): a command exits 75, the REST API answers 503 with
    Retry-After, a daemon says it once (`StoreOutage`) and goes on once a write passes."""
    database = getattr(exc, _STORE_FILE, None)
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if database is None or code is None or code & 0xFF not in (_SQLITE_FULL, _SQLITE_IOERR):
        return None
    folder = os.path.dirname(os.path.abspath(database))
    if code & 0xFF == _SQLITE_FULL:
        said = "its disk is full"
        fix = f"free space on the disk holding {folder} (or raise this user's quota there)"
    else:
        said = "its disk failed the write"
        fix = (
            f"check the disk holding {folder}: the system log (`journalctl -k`, `dmesg`) says "
            "why (a failing disk; a network file system gone away: SQLite needs a local disk)"
        )
    return StoreUnavailable(
        f"the store {database} ([store] url) cannot be written, {said}: {first_line(exc)}",
        field="store.url",
        fix=f"{fix}, then run it again",
    )


#: How long a job's writes wait for a store that cannot be reached (a database restarting,
#: a failover): its end (`runner._once_stored`), and its ledger's claims and settles
#: (`kernel.runtime.StoreLedger`).
STORE_WAIT = 600.0

#: What a server that answered says when it takes no connection for now (starting, stopping,
#: recovering, full): libpq gives the reason a connection was refused without its SQLSTATE.
_NOT_NOW = re.compile(
    r"the database system is (starting up|shutting down|in recovery mode|not yet accepting "
    r"connections|not accepting connections)|too many clients|connection slots are reserved|"
    r"terminating connection due to administrator command"
)


#: What libpq says, before it asks any server, of a connection option it cannot read
#: (`?sslmode=bogus`, `?target_session_attrs=x`, a port past 65535): the URL's to correct,
#: not an outage.
_UNREADABLE_OPTION = re.compile(
    r"invalid \w+ value|invalid connection option|invalid value for|invalid port number"
)

#: The fix of a store URL the database driver refused before asking any server.
_URL_FIX = (
    "correct [store] url in lpstudio.toml: its port is a number up to 65535, and its options "
    "(after `?`) are the database driver's connection options, e.g. ?sslmode=require"
)


def _refused_url(url: URL, reason: str) -> WorkspaceError:
    """The store's URL refused by its driver, before or at its first question (an option it
    cannot read, a port past 65535): the setting's to correct, never a traceback, and never
    with its password."""
    for password in url_passwords(url):
        reason = reason.replace(password, "***")
    return WorkspaceError(
        f"the store's URL {shown_url(url)} was refused: {reason}", field="store.url", fix=_URL_FIX
    )


def unreachable(exc: DBAPIError) -> bool:
    """Whether `exc` says PostgreSQL could not be reached or dropped the connection (no
    answer, refused, reset, a server starting or stopping): what waiting for it may cure. A
    server that answered with a refusal (a wrong password, no such role or database) is
    not: the setting is to change. Nor is any SQLite error: its file is on this machine."""
    if exc.connection_invalidated:
        return True
    if not type(exc.orig).__module__.startswith("psycopg"):
        return False
    state = getattr(exc.orig, "sqlstate", None)
    if state is not None:  # a connection exception, no resources, a shutdown; not a timeout
        return state[:2] in ("08", "53", "57") and state != "57014"
    reason = str(exc.orig)
    if _UNREADABLE_OPTION.search(reason):  # libpq's own refusal of the URL: no server asked
        return False
    return "FATAL:" not in reason or _NOT_NOW.search(reason) is not None


log = logging.getLogger("lpstudio.store")


class StoreOutage:
    """An outage of the store, said once as it begins, naming the setting and the fix as a
    command meeting it does (`unavailable`), and once as it ends, with how long it lasted.
    One for each store a process uses (`outage_of`), shared by all its loops: a scheduler's
    steps, its executors' beats of waiting jobs, each running job's watchdog. Each said it
    on its own, a line a beat: hundreds through a five-minute outage with jobs running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None  # when the first step met it
        #: Whether it is a SQLite file refusing writes (a full disk), which still answers
        #: reads: said over by a write that passes (`wrote`), never by a connection's ping.
        self._writes = False

    def failed(self, logger: logging.Logger, exc: Exception, message: str, *args: Any) -> None:
        """Logs what a background step failed on: the store out of reach for now once for
        the whole outage (whichever loop met it first), anything else each time it happens
        (`log_failure`)."""
        if not self._met(exc):
            log_failure(logger, exc, message, *args)

    def _met(self, exc: Exception) -> bool:
        """Whether `exc` is the store out of reach for now, or a SQLite store refusing
        writes (its disk full or failing, its file made read-only): said if no step had
        met it."""
        said: StoreUnavailable | StoreUnwritable
        writes = False  # a SQLite store refusing writes, which still answers reads
        if isinstance(exc, OperationalError) and unreachable(exc):
            said = unavailable(exc)
        elif isinstance(exc, OperationalError) and (refused := disk_refusal(exc)) is not None:
            said, writes = refused, True
        elif isinstance(exc, StoreUnavailable | StoreUnwritable):
            said, writes = exc, isinstance(exc, StoreUnwritable)
        else:
            return False
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                self._writes = writes
                log.warning(
                    "%s: waiting for it (SIGTERM or Ctrl-C stops); fix: %s", said.message, said.fix
                )
        return True

    def over(self, ping: Callable[[], object]) -> None:
        """The store answered (a connection of its pool checked out, pinged first): the
        outage under way, if any, is said to be over. Said by the store, not by a step that
        succeeded: a step may succeed without asking it (a scheduler's fill with every
        worker busy), and said the outage over a tick while it lasted.

        The pool's own ping may have been answered before the outage began and its
        checkout come after a step said it (threads take turns): an outage said over after
        0.0 s, and said again by that connection's next statement. So a checkout during an
        outage asks the server again (`ping`, which raises if it does not answer): only an
        answer to a question asked after the outage began says it is over."""
        if self._since is None or self._writes:  # the common case, without the lock
            return
        asked = time.monotonic()
        ping()
        self._ended(asked)

    def wrote(self, asked: float) -> None:
        """A write begun at `asked` (`time.monotonic()`) committed: the outage under way, if
        it began before, is said to be over. A SQLite store refusing writes answers every
        ping meanwhile: only a write tells it takes them again."""
        if self._since is not None:  # the common case, without the lock: no outage under way
            self._ended(asked)

    def _ended(self, asked: float) -> None:
        """Says the outage over, if one began before `asked`, when the store answered."""
        with self._lock:
            if self._since is None or self._since > asked:
                return
            away, self._since = time.monotonic() - self._since, None
        log.info("the store answers again, after %.1f s", away)


_outages: dict[str, StoreOutage] = {}
_outages_lock = threading.Lock()


def outage_of(url: str) -> StoreOutage:
    """The process's one `StoreOutage` of the store at `url`, for every `Store` opened on it
    (a server opens one for each person acting)."""
    with _outages_lock:
        return _outages.setdefault(url, StoreOutage())


#: The jobs table, for its updates: a Core UPDATE costs half what an ORM-enabled one does
#: (no objects of a store's short sessions need synchronising), on every job's path.
JOBS = Job.__table__
#: Why a send a job left "sending" when it ended is uncertain (its ledger row's reason).
UNANSWERED = "the job ended before its request was answered: it may have been accepted"
#: The ledger's statuses of sends in doubt: the purge keeps their rows for a person to see,
#: and nothing but their sending dates them (a claim or a rerun that finds them does not):
#: their date says when they may have gone out (`_sent_windows`), and one still "sending"
#: in which run of its job it was claimed.
DOUBTFUL = ("sending", "uncertain")
#: How the store's word on a job's sends in doubt ends (`_unanswered`): told again as they
#: settle after its end (`settled_after_end`). How to check them is its fix's
#: (`_doubt_fixed`), said once.
IN_DOUBT = "they may have gone out and are never sent again (uncertain)"


def _end_unanswered(s: Session, ended: Job, status: str, error: dict[str, Any] | None) -> bool:
    """In the transaction that ends a job: its sends still "sending" (this run's, or a run
    of it put back in the queue since) become uncertain, and its error says how many, with
    those its connectors had already left uncertain (`_left_in_doubt`: a recipe that caught
    the error and went on), and how to check them (`_doubt_fixed`), as it does of those an
    earlier job of its chain left uncertain that its connector's error names. A job that
    leaves some so did not succeed, and is not retried (`uncertain`): its cells ran to the
    end, and would all run again. Says whether it changed the job."""
    from .models import Delivery

    job_id = ended.id
    found = s.execute(_sending_statement(), {"job_id": job_id}).all()
    in_doubt = _left_in_doubt(s, ended)
    doubtful = sum(in_doubt.values())
    if not found and not doubtful:
        if not (error or {}).get("uncertain"):
            return False
        # Those an earlier job left uncertain, which its connector's error names.
        fixed = _doubt_fixed(s, ended, error or {}, own=False)
        s.execute(update(JOBS).where(Job.id == job_id).values(error=fixed))
        return True
    now = utcnow()
    deliveries = Delivery.__table__
    left = (deliveries.c.job_id == job_id, deliveries.c.status == "sending")
    day, check = _day_and_check(deliveries)
    # Each keeps the day it was claimed (`StoreLedger`), the day it may have gone out: a
    # daily limit counts it against that day; and its check (`settled_detail`).
    for claimed, kept in {(row[1], row[2]) for row in found}:
        reason = {"reason": UNANSWERED, **({"day": claimed} if claimed else {})}
        s.execute(
            update(deliveries)
            .where(
                *left,
                day.is_(None) if claimed is None else day == claimed,
                check.is_(None) if kept is None else check == kept,
            )
            .values(
                status="uncertain",
                detail=settled_detail("uncertain", reason, kept),
                updated_at=now,
            )
        )
    checks = check_texts(s, {row[2] for row in found} | set(in_doubt))
    unanswered = _unanswered(error, [row[0] for row in found], doubtful)
    said = _doubt_fixed(s, ended, unanswered, checks=checks)
    ended_as: dict[str, Any] = {"error": said}
    if status == SUCCEEDED:
        ended_as["status"] = FAILED
        ended_as["error"]["uncertain"] = True
    s.execute(update(JOBS).where(Job.id == job_id).values(**ended_as))
    return True


def _doubt_fixed(
    s: Session, ended: Job, error: dict[str, Any], own: bool = True, checks: Sequence[str] = ()
) -> dict[str, Any]:
    """`error` with the fix of sends in doubt (`uncertain_fix`), kept apart from what it
    says: how to check them (its connector's error's `check`, and the `checks` their
    ledger rows keep) in the windows they were sent (this job's, when `own`, and those of
    the earlier jobs its result's `uncertain` names), then whatever else its own fix asks,
    then what a rerun sends. A rerun is said unless the connector's error says nothing is
    left to send (`uncertain` and not `retryable`); a fix that is the job's rerun
    (`RERUN_FIRST`: a lost one's, a timed-out one's) keeps what it asks first, its rerun
    said as what it sends."""
    said, fix = said_and_fix(error)
    error = dict(error)
    if RERUN_FIRST in error:
        fix = error.pop(RERUN_FIRST)
    named = (ended.result or {}).get("uncertain") if isinstance(ended.result, dict) else None
    jobs = {entry.get("job_id") for entry in named or [] if isinstance(entry, dict)}
    jobs = {job for job in jobs if type(job) is int and job != ended.id}
    rerun = error.get("uncertain") is not True or error.get("retryable") is True
    windows = _sent_windows(s, ended, sorted(jobs), own or not jobs)  # none named: its own
    told = list(dict.fromkeys([*filter(None, [error.get("check")]), *checks]))
    return {**error, "evalue": said, "fix": uncertain_fix(ended.id, windows, told, fix, rerun)}


#: The longest window said at once (`_sent_windows`): a report of sends takes no more
#: (LivePerson's transactions refuse a longer one, `reporting.TRANSACTIONS_WINDOW_MS`).
REPORT_WINDOW = timedelta(hours=24)


def _sent_windows(s: Session, ended: Job, earlier: list[int], own: bool) -> str:
    """When the sends in doubt were sent, in UTC to the second, as a report takes them
    (ISO 8601): from each job's start to its end, or to the last of its sends made
    uncertain after it (a lost job's end is its last heartbeat), in windows a report
    takes (`_report_windows`)."""
    from .models import Delivery

    deliveries = Delivery.__table__
    ran = {
        row.id: (row.started_at, row.finished_at)
        for row in s.execute(
            select(Job.id, Job.started_at, Job.finished_at).where(Job.id.in_(earlier))
        )
    }
    if own:
        ran[ended.id] = (ended.started_at, ended.finished_at)
    latest = dict(
        s.execute(
            select(deliveries.c.job_id, func.max(deliveries.c.updated_at))
            .where(deliveries.c.job_id.in_(list(ran)), deliveries.c.status == "uncertain")
            .group_by(deliveries.c.job_id)
        ).all()
    )
    said = []
    for job_id in sorted(ran):
        start, end = ran[job_id]
        ends = [as_utc(when) for when in (end, latest.get(job_id)) if when is not None]
        if start is None or not ends:
            continue
        last = max(ends) + timedelta(seconds=1)  # to the second after, taking its fraction
        said.append(f"{_report_windows(as_utc(start), last)}, while job {job_id} ran")
    return f"({'; '.join(said)}; UTC)" if said else "(when the job ran: its start and end)"


def _report_windows(start: datetime, end: datetime) -> str:
    """From `start` to `end` in windows of at most `REPORT_WINDOW` each, one after another:
    a job that ran longer sent in more than one report's window."""
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)  # as said
    pieces = []
    while True:
        until = min(end, start + REPORT_WINDOW)
        pieces.append(f"from {_stamp(start)} to {_stamp(until)}")
        if until >= end:
            return ", ".join(pieces)
        start = until


def _stamp(when: datetime) -> str:
    """A UTC time to the second, in the ISO 8601 form a report's window takes."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_digest(check: str) -> str:
    """The key delivery rows name a check by (`DeliveryCheck`): its SHA-256, cut to 128 bits
    (migration 0019 computes the same in SQL)."""
    return hashlib.sha256(check.encode()).hexdigest()[:32]


def kept_check(s: Session, check: str | None) -> str | None:
    """In a write transaction: `check` stored once (`DeliveryCheck`), and the digest a
    delivery row's detail names it by. The store's writers take turns, so a look and then
    an insert never race another's."""
    from .models import DeliveryCheck

    if not check:
        return None
    digest = check_digest(check)
    if s.scalar(select(DeliveryCheck.digest).where(DeliveryCheck.digest == digest)) is None:
        s.execute(insert(DeliveryCheck.__table__).values(digest=digest, text=check))
    return digest


def check_texts(s: Session, digests: Iterable[str | None]) -> list[str]:
    """The checks delivery rows name by `digests` (`kept_check`), read at once, sorted."""
    from .models import DeliveryCheck

    wanted = sorted(filter(None, set(digests)))
    if not wanted:
        return []
    return sorted(s.scalars(select(DeliveryCheck.text).where(DeliveryCheck.digest.in_(wanted))))


def _day_and_check(deliveries: Any) -> tuple[Any, Any]:
    """A ledger row's day it was claimed, and how to check it, as its connector said when it
    claimed it (`Ledger.claim_many`): its digest (`kept_check`)."""
    return deliveries.c.detail["day"].as_string(), deliveries.c.detail["check"].as_string()


@functools.cache
def _sending_statement() -> Any:
    """`_end_unanswered`'s read of a job's sends still "sending", built once: building it
    and its JSON paths cost more than running it, on every job's end."""
    from .models import Delivery

    deliveries = Delivery.__table__
    day, check = _day_and_check(deliveries)
    return select(deliveries.c.ledger, day, check).where(
        deliveries.c.job_id == bindparam("job_id"), deliveries.c.status == "sending"
    )


@functools.cache
def _in_doubt_statement() -> Any:
    """`_left_in_doubt`'s count, built once (as `_sending_statement`)."""
    from .models import Delivery

    deliveries = Delivery.__table__
    check = deliveries.c.detail["check"].as_string()
    return (
        select(check, func.count())
        .where(
            deliveries.c.ledger == bindparam("ledger"),
            deliveries.c.job_id == bindparam("job_id"),
            deliveries.c.status == "uncertain",
        )
        .group_by(check)
    )


def _left_in_doubt(s: Session, job: Job) -> dict[str | None, int]:
    """How many of the job's own sends its connectors settled uncertain (an answer lost, a
    5xx) and that stay so, by the digest of the check each kept (`settled_detail`,
    `kept_check`): rows it claimed in
    its chain's ledger, where a retry or rerun never takes over an earlier job's row (the
    recipe's ledger may hold what it recorded of an earlier job's sends, which that job's
    end reported). Read by the ledger's index: a job that sent nothing pays a lookup or
    two (none for the root of its chain, a job that reruns none)."""
    root = job.id if job.rerun_of is None else _chain_root(s, job.rerun_of)
    found = s.execute(_in_doubt_statement(), {"ledger": f"job:{root}", "job_id": job.id})
    return {said: int(count) for said, count in found}


def _unanswered(
    error: dict[str, Any] | None, ledgers: list[str], doubtful: int = 0
) -> dict[str, Any]:
    """A job's error, saying how many of its sends ended unanswered (`ledgers`: the ledger of
    each one left "sending") or were left in doubt before (`doubtful`). Each send may be in
    two ledgers (a recipient in the job's, its `once_per` value in the recipe's): counted
    once."""
    own = [ledger for ledger in ledgers if not ledger.startswith("recipe:")]
    unanswered = len(own) or len(ledgers)
    count = unanswered + doubtful
    plural = "s" if count > 1 else ""
    if not doubtful:
        fate = "got no answer before it ended"
    elif not unanswered:
        fate = "got no answer or a server error"
    else:
        fate = f"got no answer ({unanswered} before it ended) or a server error"
    said = f"{count} send{plural} it began {fate}: {IN_DOUBT}"
    error = dict(error or {"ename": "UnansweredSends", "evalue": "", "cell": None})
    error["uncertain_sends"] = count
    if error.get("check") and not unanswered:  # its connector's error told of them already
        return error
    # Told with what happened, before the fix that ends an `LpstudioError`'s text.
    message, fix, how = (error.get("evalue") or "").partition(FIX_SAID)
    error["evalue"] = "; ".join(filter(None, (message, said))) + fix + how
    return error


def _untold(error: dict[str, Any]) -> dict[str, Any]:
    """A job's error without what `_unanswered` told of its sends: to be told again as
    they settle after its end."""
    error = {k: v for k, v in error.items() if k != "uncertain_sends"}
    message, fix, how = (error.get("evalue") or "").partition(FIX_SAID)
    before, _, said = message.rpartition("; ")  # the said is last, and holds no "; "
    if said.endswith(IN_DOUBT):
        error["evalue"] = before + fix + how
    return error


def _chain_root(s: Session, job_id: int) -> int:
    """The first job of `job_id`'s rerun chain, whose ledger the chain shares."""
    root, parent = job_id, s.scalar(select(Job.rerun_of).where(Job.id == job_id))
    while parent is not None:
        root, parent = parent, s.scalar(select(Job.rerun_of).where(Job.id == parent))
    return root


#: The key of a recipe's result, stored before it sends, that says how many recipients its
#: campaigns are to send (a whole number): a job that ends without their accounting counts
#: those it never reached as `not_sent` (`_ledger_result`).
TO_SEND = "recipients"


def _to_send(stored: Any) -> int | None:
    """The recipients a recipe's stored result says its campaigns are to send (`TO_SEND`),
    or None when it says none (not a whole number: a bool is no count)."""
    count = stored.get(TO_SEND) if isinstance(stored, dict) else None
    return count if type(count) is int and count >= 0 else None


def _ledger_result(
    s: Session, ledger: str, job_id: int, to_send: int | None = None
) -> dict[str, Any] | None:
    """`Store.ledger_result` read in `s`: the job's own recipients in `ledger`, its chain's.
    With `to_send` (`TO_SEND`), the recipients the job never claimed count as `not_sent`,
    but those an earlier job of its chain holds (accepted, in doubt): the job found them
    `already_sent` or `uncertain`, never to send."""
    from .models import Delivery

    table = Delivery.__table__
    campaign = table.c.detail["proactiveCampaignId"].as_string()
    why = func.coalesce(table.c.detail["reason"].as_string(), table.c.detail["message"].as_string())
    found = (
        select(table.c.status, campaign, why, func.count())
        .where(
            table.c.ledger == ledger,
            table.c.job_id == job_id,
            # A recipient's key is a hash; a request's (`http:...`) or another named send's
            # is no recipient.
            table.c.key.not_like("%:%"),
        )
        .group_by(table.c.status, campaign, why)
        .order_by(func.min(table.c.updated_at))  # campaigns in the order they were sent
    )
    rows = s.execute(found).all()
    if not rows and to_send is None:
        return None
    result = _ledger_accounting(rows)
    if to_send is not None:
        held = s.scalar(
            select(func.count()).where(
                table.c.ledger == ledger,
                table.c.job_id < job_id,  # an earlier job of the chain: a smaller id
                table.c.status != "rejected",  # refused or never reached: a later job's to send
                table.c.key.not_like("%:%"),
            )
        )
        claimed = sum(count for *_, count in rows)
        result["not_sent"] += max(0, to_send - claimed - (held or 0))
    return result


def settled_after_end(s: Session, job_id: int | None) -> None:
    """In the transaction that settles sends of job `job_id`: a job already ended (failed
    as lost while its process was frozen, cancelled by the reaper) that the process,
    thawed, got answers for. Its result, taken from its ledger at its end, counts them by
    their outcome, as its ledger does, and its error names only the sends still in doubt:
    one it called uncertain, accepted after all, was never to be sent again by hand. It
    keeps its status. A job still running: nothing (its end reads its ledger)."""
    from .models import Delivery

    if job_id is None:  # sends outside any job
        return
    found = s.execute(select(Job.status, Job.result, Job.error).where(Job.id == job_id)).first()
    if found is None or found.status not in FINAL_STATES:
        return
    result, error = found.result, found.error
    ledger = f"job:{_chain_root(s, job_id)}"
    values: dict[str, Any] = {}
    if isinstance(result, dict) and result.get("from_ledger"):
        sent = _ledger_result(s, ledger, job_id, _to_send(result))
        values["result"] = {**result, **(sent or {})}
    if (error or {}).get("uncertain_sends"):
        deliveries = Delivery.__table__
        reason = deliveries.c.detail["reason"].as_string()
        doubts = s.execute(
            select(reason, func.count())
            .where(
                deliveries.c.ledger == ledger,
                deliveries.c.job_id == job_id,
                deliveries.c.status == "uncertain",
            )
            .group_by(reason)
        ).all()
        # Those its end found unanswered, and those its connectors had settled uncertain.
        unanswered = sum(n for why, n in doubts if why == UNANSWERED)
        doubtful = sum(n for why, n in doubts if why != UNANSWERED)
        values["error"] = _untold(error)
        if unanswered or doubtful:
            values["error"] = _unanswered(values["error"], [ledger] * unanswered, doubtful)
    if values:
        s.execute(update(JOBS).where(Job.id == job_id).values(**values))


def _ledger_accounting(rows: Sequence[Any]) -> dict[str, Any]:
    """A campaign's accounting from a job's ledger rows (status, campaign id, reason or
    message, how many), in its result's shape: a recipient a campaign's answer refused is
    `failed`, one refused whole `rejected`, one that never reached the app (`NOT_SENT`: a
    try answered 429 it was waiting out when the job was killed) `not_sent`, one still
    "sending" `uncertain`, as the job's end makes it."""
    campaigns: dict[str, dict[str, Any]] = {}
    result: dict[str, Any] = {"campaigns": [], "accepted": 0, "failed": [], "not_sent": 0}
    left: dict[tuple[str, str | None], int] = {}  # (kind, message or reason): recipients
    for status, campaign, why, count in rows:
        if status == "accepted":
            result["accepted"] += count
        if campaign is not None and status in ("accepted", "rejected"):
            entry = campaigns.setdefault(
                campaign, {"proactiveCampaignId": campaign, "accepted": 0, "failed": 0}
            )
            entry["accepted" if status == "accepted" else "failed"] += count
            if status == "rejected":  # no address: the ledger keeps each one hashed
                result["failed"] += [
                    {"address": None, "errorMessage": None, "proactiveCampaignId": campaign}
                    for _ in range(count)
                ]
        elif status == "rejected" and str(why).startswith(NOT_SENT):
            result["not_sent"] += count
        elif status == "rejected":
            left[status, why] = left.get((status, why), 0) + count
        elif status in ("uncertain", "sending"):
            reason = why if status == "uncertain" and why else UNANSWERED
            left["uncertain", reason] = left.get(("uncertain", reason), 0) + count
    result["campaigns"] = list(campaigns.values())
    for kind, label in (("rejected", "message"), ("uncertain", "reason")):
        result[kind] = [{"recipients": n, label: why} for (k, why), n in left.items() if k == kind]
    return {**result, "from_ledger": True}


ROLES = ("admin", "analyst", "operator")


@functools.cache
def _process_space() -> str:
    """Where this process's id means this process: the host name, and on Linux the machine's
    boot and the PID namespace. Machines cloned with one host name, or containers sharing
    the host's name (host networking) each with their own PIDs, then differ: none takes
    another's live worker for a dead process of its own."""
    host = socket.gethostname()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the host name alone
        return host
    return f"{host}/{hashlib.sha256(f'{boot}:{namespace}'.encode()).hexdigest()[:8]}"


def _cancelled(queued: bool = False) -> dict[str, Any]:
    """The error of a job someone cancelled, ended by the store (its worker gone or idle,
    or it had not started: without one, nothing said why it ended)."""
    said = "cancelled by request" + (" while it was queued" if queued else "")
    return {"ename": "Cancelled", "evalue": said, "cell": None}


def worker_id() -> str:
    """Names this process as `host/space:pid`, so a job's worker can be checked for life."""
    return f"{_process_space()}:{os.getpid()}"


def _held_here() -> ColumnElement[bool]:
    """A job of this process, or of none: one it may take, or leave to the schedulers."""
    return or_(Job.worker == worker_id(), Job.worker.is_(None))


def reaped(job: Job) -> bool:
    """Whether a reaper ended the job ("worker lost", `Store.reap_lost_jobs`): the reaper
    whose write won logs and follows up its end, once; the process that ran or waited for
    it does neither."""
    return job.status == FAILED and (job.error or {}).get("ename") == "WorkerLost"


def worker_is_gone(worker: str | None) -> bool:
    """True when the worker ran in this process space and its process no longer exists."""
    if not worker or ":" not in worker:
        return False
    space, _, pid = worker.rpartition(":")
    if not pid.isdigit():
        return False
    # `host:pid` (written before the space was named): its host name is all there is.
    if space != (_process_space() if "/" in space else socket.gethostname()):
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


#: The PostgreSQL advisory lock that write transactions take (any 64-bit number of ours).
WRITE_LOCK = 0x6C7073747564696F  # "lpstudio"


#: A new workspace's `[store] url` line (`url = "sqlite:///lpstudio.db"`), as fixes give it.
_DEFAULT_URL = default_lines()["store"]["url"]

#: What `[store] url` may be, for the errors that refuse it.
URL_FIX = (
    f"set [store] url in lpstudio.toml to {KNOWN_SETTINGS['store']['url'].default} or "
    "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE (with psycopg: `pip install "
    "'lpstudio[postgres]'`, or `pip install -e '.[postgres]'` in lpstudio's checkout; "
    "percent-encode @ : / in the password, e.g. @ as %40)"
)


#: The most jobs or audit entries one listing answers: the REST API's `limit`, the CLI's
#: `--limit`, the widgets' `limit`.
MAX_LISTED = 1000

#: The fewest characters of a version's id that name it (`restore`): two would pick one by
#: luck among a recipe's versions.
MIN_VERSION_PREFIX = 4

#: The largest integer the store's columns and queries hold (SQLite's INTEGER, PostgreSQL's
#: BIGINT): past it the driver raises OverflowError rather than finding nothing, so a job id
#: or a listing's offset beyond it is refused where it is given.
MAX_INTEGER = 2**63 - 1


def job_id_in(text: str) -> int | None:
    """The job id `text` writes as `lpstudio jobs` shows one (ASCII digits, 1 to
    MAX_INTEGER), or None; past 4,300 digits without asking int(), which raises there."""
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit() and len(digits) <= len(str(MAX_INTEGER))):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_INTEGER else None


def job_id_of(value: Any) -> int:
    """A job id given in Python (`Studio.job`, `rerun`, `cancel`) as the int it is: any
    integral number, such as the numpy int64 a `jobs_frame` index holds, which the store's
    driver found no job by; not a bool (True is no job's number) nor text, which the CLI and
    the REST API read with `job_id_in`."""
    number = integral(value)
    if number is not None:
        return number
    raise InputError(
        f"job_id must be a job's number, not {value!r}",
        field="job_id",
        fix="give it as a whole number, as `lpstudio jobs` and `studio.jobs_frame()` show it, "
        "for example studio.job(12) (text as int(text))",
    )


#: How much of a refused job id a message echoes: 5,000 digits echoed whole buried the fix.
SHOWN_ID = 20


def not_a_job_id(text: str) -> str:
    """The refusal of `text` as a job id, the CLI's and the REST API's, with a long one cut
    to its start."""
    shown = text if len(text) <= SHOWN_ID else text[:SHOWN_ID] + "\u2026"
    return f"{shown} is not a job id"


# Query parameters of a database URL that hold a password (libpq's `password`,
# `sslpassword`; a driver's `...key`, `token`): `?password=` works as well as `user:pw@`.
_SECRET_QUERY = re.compile(r"pass|secret|token|key", re.IGNORECASE)


def url_passwords(url: URL) -> frozenset[str]:
    """The passwords a database URL holds, in its user part or in its query."""
    found = {str(url.password)} if url.password else set()
    for key, value in url.query.items():
        if _SECRET_QUERY.search(key):
            found.update([value] if isinstance(value, str) else value)
    return frozenset(v for v in found if v)


def shown_url(url: URL) -> str:
    """A database URL as lpstudio shows it: SQLAlchemy's rendering hides the password of
    its user part, not one given in its query, which is hidden here."""
    shown = url.render_as_string()
    for key in url.query:
        if _SECRET_QUERY.search(key):
            shown = re.sub(rf"(?<=[?&]){re.escape(key)}=[^&]*", f"{key}=***", shown)
    return shown


def _check_url(url: str) -> None:
    """Refuses the store's URL with the setting and the fix before anything connects: a
    URL SQLAlchemy cannot read, a database lpstudio's migrations do not know, a driver that
    is not installed. Its password is never repeated."""

    def refuse(why: str) -> WorkspaceError:
        return WorkspaceError(f"[store] url {why}", field="store.url", fix=URL_FIX)

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise refuse("is not a database URL") from None
    shown = shown_url(parsed)
    if parsed.get_backend_name() == "postgres":  # PostgreSQL's own (libpq's) scheme
        raise refuse(
            f"{shown} starts postgres://: SQLAlchemy reads PostgreSQL's URLs as postgresql+psycopg://"
        )
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise refuse(f"{shown} names a database lpstudio does not support (SQLite, PostgreSQL)")
    if "@" in (parsed.host or ""):  # an unencoded @ in the password: its end reads as host
        raise refuse("holds an @ that is not percent-encoded in its user or password")
    if sqlite_uri(parsed):  # said as written: SQLAlchemy's rendering encodes file:'s colon
        raise WorkspaceError(
            f"[store] url {url} is a SQLite URI (file:...?uri=true): lpstudio writes its "
            "store, opens it read-write itself, and reads the file's path from the URL (to "
            "keep it out of projects/ and history/, and to mind its -wal and -shm files)",
            field="store.url",
            fix="give the file's path instead, e.g. sqlite:///lpstudio.db (a relative path is "
            "in the workspace) or sqlite:////srv/lpstudio/lpstudio.db, without file:, "
            "uri=true or SQLite's URI options (mode, immutable, cache, vfs)",
        )
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        raise refuse(f"{shown} needs a database driver that is not installed") from None


def new_sqlite_file(url: URL) -> str | None:
    """The SQLite file a store made at `url` would create, if it creates one: what a step
    that fails after making it (`lpstudio init` refused, a store copy) removes again."""
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return None
    return None if os.path.lexists(str(url.database)) else str(url.database)


def remove_sqlite_file(path: str) -> None:
    """Removes a SQLite file `new_sqlite_file` named, with its side files: as it was."""
    for side in SQLITE_SIDE_FILES:
        Path(f"{path}{side}").unlink(missing_ok=True)


def sqlite_uri(url: URL) -> bool:
    """Whether a SQLite URL names its file as a SQLite URI (`sqlite:///file:x.db?uri=true`),
    which the store refuses (`_check_url`): its path is no file path."""
    return url.get_backend_name() == "sqlite" and (
        "uri" in url.query or str(url.database or "").startswith("file:")
    )


def in_memory(url: URL) -> bool:
    """Whether a SQLite URL names no file (`sqlite://`, `sqlite:///:memory:`): a database
    gone as its process ends."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _read_only_store(database: str) -> StoreUnwritable:
    """Why a SQLite store refuses to be written (a file, or a folder, this user may not
    write; a file made immutable)."""
    folder = os.path.dirname(os.path.abspath(database))
    return StoreUnwritable(
        f"the store {database} ([store] url) cannot be written: attempt to write a readonly "
        "database",
        field="store.url",
        fix=f"give the user lpstudio runs as write access to {database} and to its folder "
        f"{folder} (SQLite writes its -wal and -shm files there), e.g. `chmod u+w`; a file "
        "made immutable needs `chattr -i`",
    )


def _make_engine(url: str, create: bool) -> Engine:
    """The engine of the store at `url`; unless `create`, a SQLite file that is not there is
    never made (`Store`)."""
    if url.startswith("postgresql"):
        engine = create_engine(url, pool_pre_ping=True)

        @event.listens_for(engine, "begin")
        def _on_pg_begin(conn):  # type: ignore[no-untyped-def]
            # Writers take turns, as SQLite's BEGIN IMMEDIATE makes them: a claim that counts
            # a recipe's running jobs, or a lease that is not there yet, cannot be raced
            # under READ COMMITTED. Readers never wait. Released at commit or rollback.
            # Waited for `BUSY_TIMEOUT` at most, as SQLite's writers wait: past it, the
            # lock_timeout error (LockNotAvailable, an OperationalError).
            if conn.get_execution_options().get("lpstudio_write", False):
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(BUSY_TIMEOUT * 1000)}ms'")
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

        return engine
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT})

    @event.listens_for(engine, "do_connect")
    def _existing_only(_dialect, _record, cargs, cparams):  # type: ignore[no-untyped-def]
        # sqlite3 makes the file it is asked to open: opened read-write only, a mistyped
        # `[store] url` fails (`Store.unopened`) rather than becoming a new, empty store.
        if not create and cargs[0] != ":memory:":
            cargs[0], cparams["uri"] = f"file:{quote(cargs[0])}?mode=rw", True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's begin event (below) issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "handle_error")
    def _writes_refused(context):  # type: ignore[no-untyped-def]
        # A file this user may not write (or made immutable) refuses every write, whichever
        # one meets it first: the setting's to mend, not an outage to wait out.
        if "readonly database" in str(context.original_exception):
            raise _read_only_store(str(engine.url.database))
        # Any other error is given the file, which the fix of a disk that refused a write
        # (full, failing: `disk_refusal`) names. That one stays an OperationalError, which
        # a job's end waits out (`runner._once_stored`) until space is freed.
        if context.sqlalchemy_exception is not None:
            setattr(context.sqlalchemy_exception, _STORE_FILE, str(engine.url.database))

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("lpstudio_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _migrations() -> Any:
    """Alembic's configuration of lpstudio's migrations (an `alembic.config.Config`)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def refuse_taken_tables(conn: Connection, named: str, field: str, fix: str) -> None:
    """Refuses a database about to be made a store (`lpstudio init`'s, a `store-copy`
    target), `named` as its command names it, that has no lpstudio schema yet but holds
    tables named as lpstudio's (another application's): its schema would stop at the first
    one, a traceback on PostgreSQL, told as an outage on SQLite. One that has lpstudio's
    schema is a store, which each command takes or refuses by its own rules."""
    present = set(inspect(conn).get_table_names())
    if "alembic_version" in present:
        return
    taken = sorted(present & set(Base.metadata.tables))
    if taken:
        raise WorkspaceError(
            f"{named} holds tables of its own named as lpstudio's: {', '.join(taken)} "
            "(another application's database?). Nothing was changed",
            field=field,
            fix=fix,
        )


def _revision_of(conn: Connection) -> str | None:
    """The Alembic revision `conn`'s database is at (None for one with no lpstudio tables)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_schema(conn: Connection) -> None:
    """Brings the schema of `conn`'s database to the newest migration, in `conn`'s
    transaction: a store's tables (`Store.migrate`, and `storecopy` in its copy's)."""
    from alembic import command

    config = _migrations()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _ahead_in_turn(job_id: int) -> Any:
    """How many jobs of the recipe of job `job_id` go before it: those that run, and the
    older ones that processes queued for themselves (a call, Run now, a rerun: each waits
    for its turn in the process that queued it, `LocalExecutor`). The test of the recipe's
    concurrency, inside the update that starts or claims the job: two processes never both
    pass it, and a later job never takes the turn of an older one that waits."""
    running, waiting = _turn_holders(job_id)
    return running + waiting


def _turn_holders(job_id: int) -> tuple[Any, Any]:
    """The counts `_ahead_in_turn` adds: the recipe's running jobs, and its older jobs
    waiting in a process."""
    effects = Job.trigger != "test"  # a test run sends nothing: it holds no turn
    running = _of_recipe(job_id, Job.status == RUNNING, effects)
    waiting = _of_recipe(
        job_id, Job.status == QUEUED, Job.worker.is_not(None), Job.id < job_id, effects
    )
    return running, waiting


def _of_recipe(job_id: int, *where: ColumnElement[bool]) -> Any:
    """How many jobs of the recipe of job `job_id` meet `where` (a status first: the count
    is a search of `ix_jobs_recipe_status_created`)."""
    return (
        select(func.count(Job.id))
        .where(Job.recipe == select(Job.recipe).where(Job.id == job_id).scalar_subquery(), *where)
        .scalar_subquery()
    )


def _turn_statement_parts(shared_clock: bool) -> tuple[Any, Any, Any, Any]:
    """The job, this worker, the clock and the test of the recipe's turn, as bound values
    (`Store._turn_params`)."""
    job_id, worker = bindparam("job_id"), bindparam("by_worker")
    now = func.clock_timestamp() if shared_clock else bindparam("now", type_=Job.started_at.type)
    in_turn = _ahead_in_turn(job_id) < bindparam("running_limit")
    return job_id, worker, now, in_turn


@functools.cache
def _start_statement(limited: bool, shared_clock: bool) -> Any:
    """`Store.start_job`'s update, built once: building the turn's subqueries took longer
    than running the statement (0.7 ms of a job that takes 30)."""
    job_id, worker, now, in_turn = _turn_statement_parts(shared_clock)
    queued = and_(Job.status == QUEUED, in_turn) if limited else Job.status == QUEUED
    mine = and_(Job.status == RUNNING, Job.worker == worker)
    return (
        update(JOBS)
        .where(Job.id == job_id, or_(queued, mine))
        .values(
            status=RUNNING,
            # By the store's clock, as the ledger's claims (`StoreLedger`).
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            cells_total=bindparam("start_cells_total"),
            output_path=bindparam("start_output_path"),
        )
    )


@functools.cache
def _claim_statement(shared_clock: bool) -> Any:
    """`Store.claim_job`'s update, built once (as `_start_statement`)."""
    job_id, worker, now, in_turn = _turn_statement_parts(shared_clock)
    return (
        update(JOBS)
        .where(Job.id == job_id, Job.status == QUEUED, in_turn)
        .values(status=RUNNING, worker=worker, started_at=now, heartbeat_at=now)
    )


def _never_activated(root: Path) -> WorkspaceError:
    """Why a workspace whose terms no admin accepted is not opened."""
    return WorkspaceError(
        # Read by Jupyter users with the folder shown as "the workspace".
        f"{root} was never activated: no admin accepted its terms",
        field="workspace",
        fix=f"an admin runs `lpstudio init . --accept-terms` in {root}",
    )


def open_store(workspace: Workspace) -> Store:
    """The workspace's store, brought to the newest schema and checked as every client
    opens it (a `Studio`, a recipe's connections by hand in its kernel), so that a store
    that cannot be opened is said alike by all: naming `[store] url` and the fix, not as a
    driver's traceback (`unopened`, `absent`), and a workspace never activated as such."""
    store = Store(workspace.store_url, root=workspace.root)
    try:
        store.migrate()
        activated = store.activation() is not None
    except OperationalError as exc:  # a store that went down since it was checked
        store.close()
        raise store.unopened(exc) from None
    except WorkspaceError:
        store.close()
        # No file where a new workspace has its store (`Workspace.write_new` makes none):
        # one never activated. A store missing elsewhere is `[store] url`'s (`absent`).
        if workspace.default_store and store.missing_file():
            raise _never_activated(workspace.root) from None
        raise
    except Exception:  # e.g. a store a newer lpstudio upgraded: no connection left open
        store.close()
        raise
    if not activated:
        store.close()
        raise _never_activated(workspace.root)
    return store


class Store:
    """Typed access to the tables; each method is one short transaction."""

    def __init__(self, url: str, create: bool = False, root: Path | None = None) -> None:
        """`create`: make the store (its SQLite file, its tables) if it is not there, as only
        `lpstudio init` and `store-copy` do. Any other use of a store that is not there is
        refused naming `[store] url` (`absent`): a mistyped one made a new, empty store that
        every command then said was never activated. `root`: the workspace's folder, which
        each job it reads is given (`Job.output_file`, its notebook's absolute path)."""
        self.url = url
        self.create = create
        _check_url(url)
        try:
            self.engine = _make_engine(url, create)
        except (TypeError, ValueError) as exc:  # an option (after `?`) of the wrong type
            raise _refused_url(make_url(url), str(exc)) from None
        info = {"root": root}  # each session's, which `_loaded` reads
        self._reader = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._writer = sessionmaker(
            self.engine.execution_options(lpstudio_write=True), expire_on_commit=False, info=info
        )
        # SQLite makes a writer that finds the database locked sleep and try again (1, 2, 5,
        # 10... ms): this process's writers take turns on a lock instead, woken as soon as
        # the one before commits. PostgreSQL's writers already wait on a lock (`_make_engine`).
        # Re-entrant: a thread that holds the turn is never refused it.
        self._write_turn = None if self.engine.dialect.name == "postgresql" else threading.RLock()
        # Versions are content-addressed and never change: every job of a version reads
        # the same notebook and settings, once per process, and a version stored (or seen)
        # once is not looked for again.
        self._version = functools.lru_cache(maxsize=256)(self._read_version)
        self._stored_versions: set[str] = set()
        #: This process's outage of the store, said over when a connection next answers.
        self.outage = outage_of(url)
        event.listen(self.engine, "checkout", self._checked_out)

    def _checked_out(self, dbapi_connection: Any, *_: Any) -> None:
        """A connection of the pool checked out: the outage under way, if any, is over if
        it answers (`StoreOutage.over`); if it does not, the pool is told it is gone and
        connects again, as when its own ping fails."""

        def ping() -> None:
            try:
                self.engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:
                raise InvalidatePoolError(str(exc)) from exc

        self.outage.over(ping)

    # -- sessions and schema -------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        asked = time.monotonic()
        with self._turn(), self._writer.begin() as session:
            yield session
        self.outage.wrote(asked)  # a SQLite store refusing writes takes them again

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This process's turn to write, waited for `BUSY_TIMEOUT` at most, as SQLite waits:
        past it, the error SQLite raises for a database that stays locked, so that whoever
        handles that one handles this one too."""
        if self._write_turn is None:
            yield
            return
        if not self._write_turn.acquire(timeout=BUSY_TIMEOUT):
            busy = sqlite3.OperationalError(
                f"database is locked: the store {shown_url(self.engine.url)} stayed "
                f"busy with another write of this process for {BUSY_TIMEOUT:g} s; try again "
                "once it ends (a purge of a long history can take that long)"
            )
            raise OperationalError(None, None, busy)
        try:
            yield
        finally:
            self._write_turn.release()

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None for an empty database, or a SQLite
        file that is not there)."""
        if self.missing_file():
            return None
        with self.engine.connect() as conn:
            return _revision_of(conn)

    @functools.cached_property
    def identity(self) -> str:
        """The store's own random id (`StoreIdentity`), read once for this object: a Dask
        task carries its server's, and a worker refuses a store of another
        (`executor.run_on_worker`)."""
        with self.read() as s:
            return s.scalars(select(StoreIdentity.id)).one()

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is there). A database
        that a newer lpstudio upgraded is refused untouched: Alembic would only say it cannot
        locate the revision, and this lpstudio cannot read the newer schema anyway. A store
        that cannot be reached is refused naming the setting, before any job starts."""
        try:
            revision = self.schema_revision()
        except OperationalError as exc:
            raise self.unopened(exc) from None
        except DBAPIError as exc:  # the driver refused the URL itself: waiting cannot help
            if not self._shared_clock:  # SQLite: "file is not a database"
                raise self._not_a_store("is not a SQLite database") from None
            raise _refused_url(self.engine.url, first_line(exc)) from None
        except (TypeError, ValueError) as exc:  # an option the driver took, of the wrong type
            raise _refused_url(self.engine.url, f"an option after `?`: {exc}") from None
        if revision == SCHEMA_HEAD:
            return
        if revision is None and not self.create:
            raise self.absent()
        if revision is None:
            self._refuse_taken_tables()
        from alembic.script import ScriptDirectory

        config = _migrations()
        known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
        if revision is not None and revision not in known:
            raise WorkspaceError(
                f"the store {shown_url(self.engine.url)} was upgraded by a newer "
                f"lpstudio to schema revision {revision}; this lpstudio knows revisions up to "
                f"{SCHEMA_HEAD}. Nothing was changed",
                field="store",
                fix="install the lpstudio that upgraded the store on this machine too (README: "
                "Upgrading)",
            )
        with self.engine.execution_options(lpstudio_write=True).begin() as conn:
            # Read again under the write lock: processes started together each read the old
            # revision, and each said it upgraded the store while the first one did.
            revision = _revision_of(conn)
            if revision == SCHEMA_HEAD:
                return
            if revision is not None:  # an existing store: the upgrade has no way back
                print(
                    f"lpstudio: upgrading the store {shown_url(self.engine.url)} from schema "
                    f"{revision} to {SCHEMA_HEAD} (older lpstudio versions cannot open it "
                    "then; README: Upgrading)",
                    file=sys.stderr,
                    flush=True,
                )
            upgrade_schema(conn)

    def _refuse_taken_tables(self) -> None:
        """`refuse_taken_tables` for the database `[store] url` names, about to be made a
        new workspace's store."""
        with self.engine.connect() as conn:
            refuse_taken_tables(
                conn,
                f"the store {shown_url(self.engine.url)} ([store] url)",
                field="store.url",
                fix="set [store] url in lpstudio.toml to an empty database (PostgreSQL: "
                f"`createdb lpstudio`; SQLite: a file of its own, e.g. {_DEFAULT_URL}) or to "
                "one of lpstudio's own stores",
            )

    def _not_a_store(self, what: str) -> WorkspaceError:
        """Why a SQLite store's path that names something else (a folder, lpstudio.toml,
        secret.key) is not opened."""
        return WorkspaceError(
            f"[store] url names {self.engine.url.database}, which {what}: not an lpstudio store",
            field="store.url",
            fix="set [store] url in lpstudio.toml to a SQLite file of the store's own, e.g. "
            f"{_DEFAULT_URL}",
        )

    def unopened(self, exc: OperationalError) -> StoreUnavailable | WorkspaceError:
        """Why the store could not be opened. A database that cannot be reached for now is
        `StoreUnavailable`: a command may be run again once it answers (exit 75), a server
        and a scheduler wait for it; so is a SQLite file whose disk is full or failing as
        it is opened (its first connection, a migration), said as a later write is told
        (`disk_refusal`), not as a folder to make writable. One that answered with a
        refusal, or a SQLite file that cannot be opened, is the setting's to fix
        (`WorkspaceError`, exit 2)."""
        reason = str(exc.orig).strip().splitlines()[0]
        for password in url_passwords(self.engine.url):
            reason = reason.replace(password, "***")
        said = f"cannot open the store {shown_url(self.engine.url)}: {reason}"
        if self.missing_file():
            return self.absent()
        if not self._shared_clock and os.path.isdir(str(self.engine.url.database)):
            return self._not_a_store("is a folder")
        if (refused := disk_refusal(exc)) is not None:
            return refused
        if not self._shared_clock:
            fix = "check that the folder of the SQLite file exists and that you may write to it"
            return WorkspaceError(said, field="store.url", fix=fix)
        if _UNREADABLE_OPTION.search(reason):  # refused before any server was asked
            return WorkspaceError(said, field="store.url", fix=_URL_FIX)
        if unreachable(exc):
            return StoreUnavailable(
                said,
                field="store.url",
                fix="try again once the database answers; if it lasts, check that the database "
                "server runs and this machine may reach it ([store] url in lpstudio.toml)",
            )
        return WorkspaceError(
            said,
            field="store.url",
            fix="check that the database server runs and this machine may reach it, and the "
            "user, password and database of [store] url in lpstudio.toml",
        )

    def missing_file(self) -> bool:
        """Whether the store is a SQLite file that is not there (and may not be made)."""
        url = self.engine.url
        database = url.database or ":memory:"
        return (
            not self.create
            and url.get_backend_name() == "sqlite"
            and database != ":memory:"
            and not os.path.lexists(database)
        )

    def absent(self) -> WorkspaceError:
        """Why a store that is not there is not opened: no SQLite file, or a database
        without lpstudio's tables. Only `lpstudio init` (a new workspace's store) and
        `store-copy` (a copy) make one; a URL naming none is a typo, or a database meant
        for one of those."""
        return WorkspaceError(
            f"no lpstudio store at {shown_url(self.engine.url)}: lpstudio makes a store only "
            "at `lpstudio init` or `lpstudio store-copy`, and [store] url in lpstudio.toml "
            "names none that either made",
            field="store.url",
            fix="correct [store] url in lpstudio.toml to the workspace's store (e.g. "
            f"{_DEFAULT_URL}); for a new store there, copy the workspace's into it with "
            "`lpstudio store-copy URL` (README: Scaling out) or make an empty "
            "one with `lpstudio init . --accept-terms` in the workspace's folder, its "
            "history/ moved aside first (`mv history history.old`: job ids start at 1 again)",
        )

    def close(self) -> None:
        self.engine.dispose()

    @property
    def secrets(self) -> frozenset[str]:
        """What of the store's URL output must never show: its password. Jobs' kernels get
        the URL (their delivery ledger lives in the store) and may read lpstudio.toml."""
        # As with connection secrets, one shorter than 3 would mask ordinary text.
        return frozenset(p for p in url_passwords(self.engine.url) if len(p) >= 3)

    # -- the clock -------------------------------------------------------------------------

    @property
    def _shared_clock(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def now(self, session: Session | None = None) -> datetime:
        """The time by the store's clock: PostgreSQL's own when the store is a server that
        several machines share, so that a machine whose clock runs fast or slow neither takes
        a live leader's lease nor reaps a live job; this machine's clock with SQLite. Read in
        `session` when given (inside a write, after its lock: the time the write happens)."""
        if not self._shared_clock:
            return utcnow()
        query = select(func.clock_timestamp())
        if session is not None:
            return as_utc(session.scalar(query))
        with self.read() as s:
            return as_utc(s.scalar(query))

    def _clock(self) -> Any:
        """`now()` to write in a statement: the database computes it, no round trip more."""
        return func.clock_timestamp() if self._shared_clock else utcnow()

    def _clock_ago(self, seconds: float) -> Any:
        """`_clock()` less `seconds` (none: the same statement as before)."""
        return self._clock() - timedelta(seconds=seconds) if seconds > 0 else self._clock()

    # -- activation and users --------------------------------------------------------------

    def activation(self) -> Activation | None:
        with self.read() as s:
            return s.scalars(select(Activation).order_by(Activation.id.desc())).first()

    def activate(self, admin: str, terms_version: str) -> Activation:
        with self.write() as s:
            row = Activation(accepted_by=admin, accepted_at=utcnow(), terms_version=terms_version)
            s.add(row)
            user = s.get(User, admin)
            if user is None:
                s.add(User(name=admin, role="admin"))
            else:
                user.role = "admin"
        return row

    def has_user(self, name: str) -> bool:
        with self.read() as s:
            return s.get(User, name) is not None

    def ensure_user(self, name: str, default_role: str) -> User:
        """Returns the user, creating it with the workspace's default role on first sight."""
        with self.read() as s:
            user = s.get(User, name)
        if user is not None:
            return user
        with self.write() as s:
            user = s.get(User, name)
            if user is None:
                user = User(name=name, role=default_role)
                s.add(user)
        return user

    def gallery_popup_dismissed(self, user: str) -> bool:
        """Whether `user` dismissed the studio's gallery pop-up in this workspace. Its audit
        entry remembers it: one flag per person needs no column of its own (the studio asks
        for admins only, once per page it opens)."""
        with self.read() as s:
            return s.scalar(_gallery_popup_dismissal(user)) is not None

    def dismiss_gallery_popup(self, user: str) -> None:
        """Remembers that `user` dismissed the gallery pop-up here (said once in the log)."""
        with self.write() as s:
            if s.scalar(_gallery_popup_dismissal(user)) is None:
                audit_in(s, user, GALLERY_POPUP_DISMISSED, "gallery")

    # -- versions --------------------------------------------------------------------------

    def snapshot(
        self,
        recipe: str,
        notebook_json: str,
        settings: dict[str, Any],
        user: str,
        saved: bool = False,
        then: Callable[[Session, str], None] | None = None,
    ) -> str:
        """Stores a version of a recipe once per distinct content; returns its id. `saved`
        (the notebook saved in JupyterLab, or restored) makes content stored before the
        newest version again, by `user` and now: a notebook edited back to what it was lists
        that content as the current one, not the edit it undid. `then` (what records the
        change elsewhere: a save's audit entry) runs in the same transaction, given the
        version's id, when the version is new or made the newest again: never for content
        that already was the newest (an autosave of what was saved)."""
        nb_sha = hashlib.sha256(notebook_json.encode()).hexdigest()
        settings_json = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        version = hashlib.sha256(f"{recipe}\0{nb_sha}\0{settings_json}".encode()).hexdigest()
        if version in self._stored_versions and not saved:
            return version
        if not saved:
            with self.read() as s:
                if s.get(RecipeVersion, version) is not None:
                    return self._remember(version)
        with self.write() as s:
            if s.get(Notebook, nb_sha) is None:
                s.add(Notebook(sha=nb_sha, content=notebook_json))
            stored = s.get(RecipeVersion, version)
            if stored is None:
                s.add(
                    RecipeVersion(
                        id=version,
                        recipe=recipe,
                        notebook_sha=nb_sha,
                        settings=settings,
                        created_by=user,
                    )
                )
            elif saved and s.scalar(_newest_version(recipe)) != version:
                stored.created_at, stored.created_by = utcnow(), user
            else:
                return self._remember(version)
            if then is not None:
                then(s, version)
        return self._remember(version)

    def _remember(self, version: str) -> str:
        if len(self._stored_versions) >= 4096:  # bounded: a server's edits add up
            self._stored_versions.clear()
        self._stored_versions.add(version)
        return version

    def _read_version(self, version_id: str) -> tuple[str, str]:
        """A version's notebook JSON and settings JSON (a string: the cached value is
        never shared as a mutable dict). A missing version raises, so it is not cached: it
        may be stored by the time it is asked again."""
        with self.read() as s:
            version = s.get(RecipeVersion, version_id)
            if version is None:
                raise NotFoundError(f"recipe version {version_id[:12]} does not exist")
            notebook = s.get_one(Notebook, version.notebook_sha).content
            return notebook, json.dumps(version.settings or {})

    def version_notebook(self, version_id: str) -> str:
        return self._version(version_id)[0]

    def version_settings(self, version_id: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._version(version_id)[1]))
        except NotFoundError:
            return {}

    # -- jobs ------------------------------------------------------------------------------

    def create_job(self, **fields: Any) -> Job:
        return self.create_jobs([fields])[0]

    def create_jobs(
        self,
        rows: list[dict[str, Any]],
        then: Callable[[Session, list[Job]], None] | None = None,
    ) -> list[Job]:
        """Queues jobs in one transaction, with `then` (what records them elsewhere, such as
        a webhook delivery's claim) in it too: all of it is written, or none. A job that a
        process queued for itself (one with a `worker`) gets its first heartbeat: that
        process beats it while it waits (`beat_queued`), and a reaper fails it once silent."""
        with self.write() as s:
            now = self.now(s)  # the store's clock, as every heartbeat
            jobs = [
                Job(
                    status=QUEUED,
                    created_at=now,  # beside its start and end, dated by the same clock
                    cells_done=0,
                    heartbeat_at=now if row.get("worker") else None,
                    **row,
                )
                for row in rows
            ]
            s.add_all(jobs)
            s.flush()
            if then is not None:
                then(s, jobs)
        return jobs

    def job(self, job_id: SupportsIndex, listed: bool = False) -> Job:
        """A job whole, or `listed`: as lists show it (`LISTED`), for a view that refreshes
        what moves and keeps the event and result it read once."""
        job, job_id = None, job_id_of(job_id)
        if -MAX_INTEGER - 1 <= job_id <= MAX_INTEGER:  # past it the driver overflows
            with self.read() as s:
                job = s.get(Job, job_id, options=LISTED if listed else ())
        if job is None:
            raise NotFoundError(
                f"job {job_id} does not exist", field="job", fix="list jobs with `lpstudio jobs`"
            )
        return job

    def job_ledger(self, job: Job) -> str:
        """The delivery ledger of a job's rerun chain (its first job's): what it sent."""
        return f"job:{self.root_job(job)}"

    def keep_ledger(self, ledger: str) -> None:
        """Dates a ledger's rows now, so the purge keeps them while a job that may send
        through it (a rerun queued now) is within the retention. Not those in doubt
        (`DOUBTFUL`): the purge keeps them, and their date tells when they were sent."""
        from .models import Delivery

        with self.write() as s:
            s.execute(
                update(Delivery)
                .where(Delivery.ledger == ledger, Delivery.status.not_in(DOUBTFUL))
                .values(updated_at=utcnow())
            )

    def ledger_result(self, job: Job, stored: Any = None) -> dict[str, Any] | None:
        """What a job's campaign sends came to, from the rows it claimed in its ledger, in
        the shape of a campaign's result (`from_ledger`): for a job that ends without its
        recipe's result (stopped, its kernel dead, its worker lost), so that the recipients
        it reached count once, in `show` and on the dashboard. Only its own claims: an
        earlier job of its rerun chain accounts for its own. When `stored`, what its recipe
        stored before sending, says how many it was to send (`TO_SEND`), those it never
        reached count as `not_sent`. None when it claimed none and `stored` says no count.
        Sends that settle after its end count too (`settled_after_end`)."""
        with self.read() as s:
            return _ledger_result(s, self.job_ledger(job), job.id, _to_send(stored))

    def sends_so_far(self, job: Job) -> dict[str, int] | None:
        """How many recipients a running job's sends have reached, by their state in its
        ledger: accepted, refused (by the app, in a campaign's answer or whole), sending (a
        request under way) and uncertain. What `show` and the lab's Details tell while a
        campaign of 100,000 recipients runs (its cell alone said nothing for minutes). Only
        its own claims; None when it claimed none."""
        from .models import Delivery

        table = Delivery.__table__
        with self.read() as s:
            rows = s.execute(
                select(table.c.status, func.count())
                .where(
                    table.c.ledger == self.job_ledger(job),
                    table.c.job_id == job.id,
                    table.c.key.not_like("%:%"),  # recipients only (`_ledger_result`)
                )
                .group_by(table.c.status)
            ).all()
        if not rows:
            return None
        counts = {str(status): int(count) for status, count in rows}
        return {
            "accepted": counts.get("accepted", 0),
            "refused": counts.get("rejected", 0),
            "sending": counts.get("sending", 0),
            "uncertain": counts.get("uncertain", 0),
        }

    def root_job(self, job: Job) -> int:
        """The first job of a rerun chain: reruns share its delivery ledger."""
        if job.rerun_of is None:
            return job.id
        with self.read() as s:
            return _chain_root(s, job.rerun_of)

    def start_job(
        self, job_id: int, cells_total: int, output_path: str, running_limit: int | None = None
    ) -> bool:
        """Moves a queued job (or one this process claimed) to running; False when it was
        cancelled or taken meanwhile, or, with `running_limit` (its recipe's concurrency),
        when it is not the queued job's turn (`_ahead_in_turn`): it stays queued."""
        statement = _start_statement(running_limit is not None, self._shared_clock)
        with self.write() as s:
            done = s.execute(
                statement,
                {
                    **self._turn_params(job_id, running_limit),
                    "start_cells_total": cells_total,
                    "start_output_path": output_path,
                },
            )
            return done.rowcount == 1

    def finish_job(
        self,
        job_id: int,
        status: str,
        *still: ColumnElement[bool],
        ended_ago: float = 0.0,
        **fields: Any,
    ) -> Job | None:
        """Writes a final state, once: a job already final is left as it is, and so is one
        that no longer meets the conditions `still`. Returns the final row when this call
        ended the job (in the same statement), else None. Its end is dated by the store's
        clock, less `ended_ago` seconds: how long its end waited for the store
        (`runner._once_stored`), which is no part of the job's run.

        Sends the job began and never heard back about (its ledger rows still "sending": it
        was killed, timed out or lost mid-request) become uncertain with it, and its error
        says how many: they may have gone out, are never sent again, and a person hears of
        them from this job rather than from whichever job meets them next. Such a job did
        not succeed, whatever its cells said. The wait for its write (a store another process
        holds locked) is no part of the run either."""
        asked = time.monotonic()
        with self.write() as s:
            waited = time.monotonic() - asked
            ended_at = self._clock_ago(ended_ago + waited)
            ended = s.scalars(
                update(Job)
                .where(Job.id == job_id, Job.status.not_in(FINAL_STATES), *still)
                .values(status=status, **{"finished_at": ended_at, **fields})
                .returning(Job)
                # A fresh session holds no loaded job to bring up to date: 0.2 ms less.
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if ended is not None and _end_unanswered(s, ended, status, fields.get("error")):
                s.refresh(ended)
            return ended

    def turn_of(self, job_id: int) -> tuple[int, int]:
        """Why a job waits for its recipe's turn: how many of its jobs run, and how many
        older ones wait in a process (`_ahead_in_turn`'s counts)."""
        running, waiting = _turn_holders(job_id)
        with self.read() as s:
            found = s.execute(select(running, waiting)).one()
        return int(found[0]), int(found[1])

    def claim_job(self, job_id: int, running_limit: int) -> bool:
        """Takes a queued job for this process if fewer than `running_limit` jobs of its
        recipe go before it (`_ahead_in_turn`: those running, and older ones a process
        queued for itself and waits to start): one conditional update, so two schedulers
        never both take it."""
        statement = _claim_statement(self._shared_clock)
        with self.write() as s:
            done = s.execute(statement, self._turn_params(job_id, running_limit))
            return done.rowcount == 1

    def _turn_params(self, job_id: int, running_limit: int | None) -> dict[str, Any]:
        """The values of `_start_statement` and `_claim_statement` common to both (the clock
        is a value only where the database's own is not used: `_clock`)."""
        found = {"job_id": job_id, "running_limit": running_limit, "by_worker": worker_id()}
        return found if self._shared_clock else {**found, "now": utcnow()}

    def hand_over(self, job_id: int, claimed_by: str) -> bool:
        """Takes over for this process a running job that `claimed_by` claimed and has not
        started (a scheduler's, sent to a Dask worker): False when it was requeued or taken
        meanwhile, so that a late or repeated task runs nothing."""
        with self.write() as s:
            done = s.execute(
                update(JOBS)
                .where(Job.id == job_id, Job.status == RUNNING, Job.worker == claimed_by)
                .values(worker=worker_id())
            )
            return done.rowcount == 1

    def requeue(self, job_id: int, *still: ColumnElement[bool]) -> bool:
        """Puts a running job back in the queue (its worker stopped before it could finish),
        if it still meets the conditions `still`; True when it did. Sends it had out stay
        "sending": its next run's end, or its cancel, reports them (`finish_job`), and
        meanwhile other jobs tell them from that run's own (`StoreLedger`: claimed before it
        started). A job someone asked to cancel is cancelled instead: run again, it would act
        after its cancel. A queued job has no output notebook: the interrupted run's, which
        read as failed, is no longer named (its next run writes its own)."""
        with self.write() as s:
            requeued = s.execute(
                update(JOBS)
                .where(Job.id == job_id, Job.status == RUNNING, *still)
                .where(Job.cancel_requested.is_(False))
                .values(
                    status=QUEUED,
                    worker=None,
                    started_at=None,
                    heartbeat_at=None,
                    cells_done=0,
                    output_path=None,
                )
            ).rowcount
        if not requeued:  # what it sent before its cancel counts (`ledger_result`)
            asked = (Job.status == RUNNING, Job.cancel_requested.is_(True))
            sent = self.ledger_result(self.job(job_id))
            self.finish_job(job_id, CANCELLED, *asked, *still, error=_cancelled(), result=sent)
        return bool(requeued)

    def audit(self, user: str, action: str, target: str, **detail: Any) -> None:
        with self.write() as s:
            audit_in(s, user, action, target, **detail)

    def audit_log(self, limit: int = 100) -> Sequence[AuditEntry]:
        with self.read() as s:
            return s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()

    def heartbeat(self, job_id: int, cells_done: int, acted: bool = False) -> bool | None:
        """Marks this process's running job alive with its latest progress (and, `acted`,
        that it starts a cell that may act: it is never requeued from then on); returns True
        when someone asked to cancel it, and None when the job is no longer this process's
        to run: a reaper failed or requeued it after its heartbeat went silent, and perhaps
        another worker runs it now. Such a job keeps what was written."""
        values: dict[str, Any] = {"heartbeat_at": self._clock(), "cells_done": cells_done}
        if acted:
            values["acted"] = True
        with self.write() as s:
            done = s.execute(
                update(JOBS)
                .where(Job.id == job_id, Job.status == RUNNING, Job.worker == worker_id())
                .values(**values)
            )
            if done.rowcount == 0:
                return None
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def beat_queued(self) -> int:
        """Marks alive every job this process queued for itself and has not started yet (its
        workers are busy): one write for all of them. Returns how many there are."""
        with self.write() as s:
            return s.execute(
                update(JOBS)
                .where(Job.status == QUEUED, Job.worker == worker_id())
                .values(heartbeat_at=self._clock())
            ).rowcount

    def held_jobs(self) -> Sequence[Job]:
        """The jobs this process runs, or queued for itself and has not started, oldest
        first: those a reaper fails as "worker lost" should the process end now (a
        stopping server's log names them). One read, of only what names them there (id,
        recipe, trigger, user and status): their parameters, event and result have no
        bound in size. A read of any other column raises."""
        held = (
            select(Job)
            .options(
                load_only(Job.id, Job.recipe, Job.trigger, Job.user, Job.status, raiseload=True)
            )
            .where(Job.worker == worker_id(), Job.status.in_((QUEUED, RUNNING)))
        )
        with self.read() as s:
            return s.scalars(held.order_by(Job.id)).all()

    def take_queued(self, job_ids: Sequence[int]) -> set[int]:
        """Makes this process's the jobs of `job_ids` still queued for no process (or
        already its own: a poll's it queued so, `poll_once`'s `owner`): it runs
        them itself (`lpstudio poll`), as it runs a job it queued for itself (`worker_id`
        in `Studio`'s new jobs). Should it die before starting them, the reaper fails them
        as "worker lost" (`reap_lost_jobs`), rather than leave them queued for a start of
        their recipe, which would then send their old events. One write; a job a scheduler
        claimed meanwhile stays its own, and so do its retry and report. Returns the ids
        it took: from then on no scheduler claims them (`Scheduler._queued`)."""
        return self._hand_queued(job_ids, worker=worker_id())

    def release_queued(self, job_ids: Sequence[int], *still: ColumnElement[bool]) -> set[int]:
        """Leaves to the schedulers the jobs of `job_ids` still queued for this process (or
        for none) that meet `still`: it will not run them (its server stops, its poll was
        interrupted). One write; returns the ids it left."""
        return self._hand_queued(job_ids, *still, worker=None, heartbeat_at=None)

    def _hand_queued(
        self, job_ids: Sequence[int], *still: ColumnElement[bool], **values: Any
    ) -> set[int]:
        """Writes `values` to the jobs of `job_ids` still queued for this process or for
        none that meet `still`, in one write; returns their ids."""
        if not job_ids:
            return set()
        with self.write() as s:
            return set(
                s.scalars(
                    update(JOBS)
                    .where(Job.id.in_(job_ids), Job.status == QUEUED, _held_here(), *still)
                    .values(**values)
                    .returning(Job.id)
                    .execution_options(synchronize_session=False)
                )
            )

    def request_cancel(self, job_id: SupportsIndex) -> tuple[Job, CancelDone]:
        """Cancels a queued job at once; asks the worker of a running job to stop it. Says
        what this call did, with the job as it is now: `ended` it (a queued one), `asked`
        its worker first, or None (it had ended, or another caller asked or ended it)."""
        job = self.job(job_id)
        job_id = job.id  # as the store reads it (`job_id_of`)
        # A queued job put back mid-request had sent some: that counts (`ledger_result`).
        sent = self.ledger_result(job) if job.status == QUEUED else None
        with self.write() as s:
            cancelled = s.execute(
                update(JOBS)
                .where(Job.id == job_id, Job.status == QUEUED)
                .values(
                    status=CANCELLED,
                    finished_at=self._clock(),
                    error=_cancelled(queued=True),
                    **({"result": sent} if sent is not None else {}),
                )
            )
            if cancelled.rowcount == 1:  # put back in the queue mid-request, perhaps
                ended = s.scalars(
                    select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
                ).one()
                _end_unanswered(s, ended, CANCELLED, _cancelled(queued=True))
            asked = s.execute(
                update(JOBS)
                .where(Job.id == job_id, Job.status == RUNNING, Job.cancel_requested.is_(False))
                .values(cancel_requested=True)
            )
        did: CancelDone = (
            "ended" if cancelled.rowcount == 1 else "asked" if asked.rowcount == 1 else None
        )
        return self.job(job.id), did

    def reap_lost_jobs(self, stale_after: timedelta | None) -> list[int]:
        """Ends jobs whose process is gone (dead on this host, or silent too long: on another
        machine, or this one before a reboot), so that none stays queued or running forever.
        A scheduler's job that started no cell that may act (`Job.acted`) goes back to the
        queue for another scheduler; the others fail as "worker lost": a running job (a cell
        may have acted), and a job queued
        by a command or server that died before starting it (nobody else runs those; its
        process beats it while it waits). Returns the ids this call failed."""
        # Heartbeats are timed by the same clock; None: no job is taken for lost by silence.
        deadline = None if stale_after is None else self.now() - stale_after
        with self.read() as s:
            running = s.execute(
                select(
                    Job.id,
                    Job.worker,
                    Job.heartbeat_at,
                    Job.cells_done,
                    Job.cells_total,
                    Job.trigger,
                    Job.cancel_requested,
                    Job.acted,
                ).where(Job.status == RUNNING)
            ).all()
            queued = s.execute(
                select(Job.id, Job.worker, Job.heartbeat_at).where(
                    Job.status == QUEUED, Job.worker.is_not(None)
                )
            ).all()

        def lost_because(
            worker: str, beat: datetime | None, doing: str, tail: str = ""
        ) -> str | None:
            """Why the job's process is taken for lost, or None: a process alive but silent
            (stopped, or on a machine that is down) is not said to be gone, or an operator
            might start a second scheduler beside one only paused."""
            if worker_is_gone(worker):
                return f"the process {doing} is gone{tail}"
            if deadline is not None and beat is not None and beat < deadline:
                assert stale_after is not None
                return (
                    f"the process {doing} gave no heartbeat for {stale_after.total_seconds():g} "
                    f"s{tail} ([jobs] stale_after_seconds): stopped, hung, or on a machine that is "
                    "down; if it comes back, it finds the job ended and writes or sends nothing "
                    "more"
                )
            return None

        # A running job ended, as far as anyone can tell, when it last beat: reaped hours
        # later (the next start after a reboot), it did not run for those hours.
        # A running job died in the cell after those its progress counts done (`cell`, papermill's
        # index into the notebook that ran, as other errors'), unless none or all were done.
        lost: list[tuple[int, str, tuple[ColumnElement[bool], ...], datetime | None, int | None]]
        lost = []
        for job_id, worker, beat, cells_done, cells_total, trigger, cancel, acted in running:
            reason = lost_because(worker, beat, "running this job")
            if reason is None:
                continue
            # Only as this call saw it: meanwhile another reaper may have requeued it and a
            # scheduler claimed it, or its worker may have beaten again.
            seen = (Job.status == RUNNING, Job.worker == worker, Job.heartbeat_at == beat)
            if cancel:  # asked to stop: it ends so, never retried (its sends say if unsure)
                sent = self.ledger_result(self.job(job_id))
                self.finish_job(job_id, CANCELLED, *seen, error=_cancelled(), result=sent)
            elif not acted and trigger in SCHEDULED_TRIGGERS:
                self.requeue(job_id, *seen)  # nothing reached the outside yet: run it again
            else:
                cell = cells_done if 0 < cells_done < cells_total else None
                lost.append((job_id, reason, seen, beat, cell))
        for job_id, worker, beat in queued:
            reason = lost_because(worker, beat, "that queued this job", " before it started")
            if reason is not None:
                seen = (Job.status == QUEUED, Job.worker == worker, Job.heartbeat_at == beat)
                lost.append((job_id, reason, seen, None, None))
        return [
            job_id
            for job_id, reason, seen, last_seen, cell in lost
            if self.finish_job(
                job_id,
                FAILED,
                *seen,
                **({"finished_at": last_seen} if last_seen is not None else {}),
                # What it sent before it was lost: no recipe's result will say.
                result=self.ledger_result(self.job(job_id)),
                error={
                    "ename": "WorkerLost",
                    "evalue": f"worker lost: {reason}",
                    **rerun_error(job_id),
                    "cell": cell,
                    "traceback": [],
                },
            )
        ]

    def list_jobs(
        self,
        recipe: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int | None = 50,
        offset: int = 0,
        before: int | None = None,
        listed: bool = False,
        project: str | None = None,
    ) -> Sequence[Job]:
        """The newest jobs, filtered; with `before` (a job's id, the last one of a page) the
        jobs that follow it in that order: a page that stays put as new jobs arrive, where
        an `offset` counts from the newest and shifts by each of them. Both read an index
        (`created_at` bounds the scan, ties with the cursor's time are few). `listed`: each
        job as lists show it (`LISTED`), for a list's rows. `project` (a folder under
        projects/, `shop`): the jobs of every recipe in it and its sub-folders, a range of
        `recipe` (`shop/` to `shop0`, `/` and `0` being neighbours) that reads the recipe's
        index; a `LIKE` read none (PostgreSQL's needs a pattern index), and the range is
        exact as the column is ordered by code point (`unbounded`: C on PostgreSQL)."""
        query = select(Job).options(*(LISTED if listed else ()))
        if recipe:
            query = query.where(Job.recipe == recipe)
        if project:
            query = query.where(Job.recipe >= f"{project}/", Job.recipe < f"{project}0")
        if status:
            query = query.where(Job.status == status)
        if since:
            query = query.where(Job.created_at >= since)
        query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
        with self.read() as s:
            if before is not None:
                at = s.scalar(select(Job.created_at).where(Job.id == before))
                if at is None:
                    raise NotFoundError(
                        f"job {before} does not exist, so no page follows it",
                        field="before",
                        fix="list from the newest jobs again (without before)",
                    )
                query = query.where(Job.created_at <= at, or_(Job.created_at < at, Job.id < before))
            return s.scalars(query).all()

    def checkpoint(self) -> None:
        """Writes SQLite's write-ahead log into the database and empties it: a purge's
        erased rows stayed readable there, in the pages they had before, until later writes
        overwrote them (minutes or days in a quiet workspace). A reader still on an older
        snapshot keeps its part until the next checkpoint. PostgreSQL: nothing to do."""
        if self.engine.dialect.name != "sqlite":
            return
        with self._turn(), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def purge_deliveries(self, before: datetime) -> int:
        """Forgets the ledger's sends settled before `before` (past the jobs' retention):
        no job that may still be rerun relies on them (a rerun dates its chain's rows anew,
        `keep_ledger`, and a claim the rows it finds), and a recipe's `once_per` values are
        kept as long. A send still uncertain (or claimed by a job that died) stays for a
        person to see. The checks no send names any more go too (`DeliveryCheck`): a
        campaign's is named by its sends in doubt alone once the rest are settled, and kept
        while one is."""
        from .models import Delivery, DeliveryCheck

        named = Delivery.__table__.c.detail["check"].as_string()
        with self.write() as s:
            found = s.execute(
                delete(Delivery).where(
                    Delivery.updated_at < before, Delivery.status.not_in(DOUBTFUL)
                )
            )
            # One pass over the ledger, in the purge's transaction: a claim naming a check
            # stores it in its own (`kept_check`), so none is dropped as it is named.
            s.execute(
                delete(DeliveryCheck).where(
                    DeliveryCheck.digest.not_in(select(named).where(named.is_not(None)))
                )
            )
        return int(found.rowcount or 0)  # type: ignore[attr-defined]

    def purge_daily_counts(self, before: datetime) -> int:
        """Forgets the counts of UTC days before `before`'s (`DailyCount`): a day's limit
        matters only that day, and a row a day was kept for ever."""
        from .models import DailyCount

        with self.write() as s:
            found = s.execute(delete(DailyCount).where(DailyCount.day < f"{before:%Y-%m-%d}"))
        return int(found.rowcount or 0)  # type: ignore[attr-defined]

    def trigger_errors(self) -> dict[str, dict[str, Any]]:
        """Consecutive trigger errors and the last one, per recipe with a trigger state."""
        from .models import TriggerState

        with self.read() as s:
            rows = s.execute(
                select(TriggerState.recipe, TriggerState.errors, TriggerState.last_error)
            ).all()
        return {recipe: {"count": count, "last": last} for recipe, count, last in rows}

    def clear_trigger_errors(self, recipe: str) -> None:
        """Ends a recipe's run of trigger errors (kept through an auto-stop, to say why)."""
        from .models import TriggerState

        with self.write() as s:
            s.execute(
                update(TriggerState)
                .where(TriggerState.recipe == recipe, TriggerState.errors != 0)
                .values(errors=0, last_error=None)
            )

    def last_jobs(self, recipes: Sequence[str]) -> dict[str, Job]:
        """The latest job of each recipe (the first of its jobs list), for listings and as
        they show it (`LISTED`): one search of `ix_jobs_recipe_created` per recipe, whatever
        the size of the history."""
        names = list(dict.fromkeys(recipes))
        found: dict[str, Job] = {}
        with self.read() as s:
            for start in range(0, len(names), 200):
                latest = [
                    select(Job.id)
                    .where(Job.recipe == name)
                    .order_by(Job.created_at.desc(), Job.id.desc())
                    .limit(1)
                    .scalar_subquery()
                    for name in names[start : start + 200]
                ]
                found.update(
                    (job.recipe, job)
                    for job in s.scalars(select(Job).options(*LISTED).where(Job.id.in_(latest)))
                )
        return found


def _gallery_popup_dismissal(user: str) -> Select[tuple[int]]:
    return (
        select(AuditEntry.id)
        .where(AuditEntry.user == user, AuditEntry.action == GALLERY_POPUP_DISMISSED)
        .limit(1)
    )


def audit_in(session: Session, user: str, action: str, target: str, **detail: Any) -> None:
    """An audit entry written in `session`'s transaction: with the change it records, or
    neither."""
    session.add(AuditEntry(user=user, action=action, target=target, detail=detail, at=utcnow()))


def _newest_version(recipe: str) -> Select[tuple[str]]:
    """The id of the recipe's newest version."""
    return (
        select(RecipeVersion.id)
        .where(RecipeVersion.recipe == recipe)
        .order_by(RecipeVersion.created_at.desc())
        .limit(1)
    )
