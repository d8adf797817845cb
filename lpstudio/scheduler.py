"""The scheduler daemon: fires schedules and polls of started recipes, and runs the queue.

Every decision that two schedulers on one store could both make is one atomic write:
- a due schedule run is a unique row (recipe, due time): only one insert succeeds;
- a poll is claimed by moving the trigger's `next_poll_at` forward with a conditional
  update, and its jobs are written with the new cursor in one transaction, de-duplicated
  there against the keys already stored (polls that overlap queue each event once);
- a queued job is claimed by a conditional update that also checks the recipe's
  concurrency limit.
Running jobs heartbeat; jobs whose worker vanished are failed (or requeued when no cell that
may act outside its kernel had started: `runner.acts`).
Claimed jobs run in this process's workers, or on the Dask cluster the workspace names
(`DaskExecutor.run_claimed`: a worker there takes the claim over).
On SIGTERM it stops taking work, lets running jobs finish within a grace period, then
stops the rest of the jobs it claimed (never those of another executor in its process): one
that started no cell that may act is requeued, one that did ends failed (`WorkerStopped`),
as run again whole its cells' effects would happen twice.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from .errors import FIX_SAID, InputError, LpstudioError, StoreUnavailable, quoted
from .executor import DaskExecutor
from .failures import after_end, after_failure, describe_error, notify_stopped
from .leader import PRESENCE_SECONDS, StoreLease, present
from .models import Job, ScheduleForm, ScheduleRun, TriggerState, utcnow
from .recipe import Recipe
from .runner import RunningJobs, execute_job
from .sdk import no_next_poll
from .settings import saved_settings, update_settings
from .store import (
    QUEUED,
    SCHEDULED_TRIGGERS,
    SCHEMA_HEAD,
    Store,
    reaped,
    unavailable,
    unreachable,
    worker_id,
)
from .studio import Studio

log = logging.getLogger("lpstudio.scheduler")

#: The acting user of a `lpstudio scheduler` daemon (a server's hosted scheduler acts as
#: `lpstudio:server`): the jobs it queues are its own, whoever launched it.
DAEMON_USER = "lpstudio:scheduler"

MISSED_RUNS = ("run_once", "skip")
#: How late a run may be fired by a scheduler that was not ticking when it fell due (its
#: first tick, or its first after a failed tick or a lost lease: a restart, a new leader
#: taking over) and still count as on time. A scheduler that ticked before a run fell due
#: and ticks again was running then: its run is on time however late that tick comes.
ON_TIME = timedelta(minutes=1)
#: How often an error found on every tick (a started recipe saved broken, a schedule that
#: cannot be read) counts as a trigger error: once a minute, a cron's finest step, never once
#: a tick of each daemon, so a notebook broken for a minute of editing is not stopped.
ERROR_EVERY = timedelta(minutes=1)

#: The longest pause between a daemon's tries to open a workspace whose store it cannot
#: reach as it starts (`open_when_reachable`).
OPEN_RETRY_MAX = 10.0

#: Files of the time zone database that `ZoneInfo` loads though they name no zone a schedule
#: means: this machine's own zone (another server or a Dask worker may be in another), the
#: legacy rules of POSIX TZ strings, and tzdata's placeholder that shows "-00".
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
#: Folders of some systems' database only (not of the tzdata package a worker may use): copies
#: of every zone, those under right/ counting leap seconds.
_NOT_ZONE_FOLDERS = ("posix/", "right/")


def _backwards_range(fields: list[str]) -> str | None:
    """The first range of a five-field cron whose start is past its end (`5-1`, `fri-mon`),
    by the numbers croniter reads its names as; None when every range ascends."""
    for position, text in enumerate(fields):
        names = croniter.ALPHACONV[position]
        for part in text.split(","):
            bounds = part.split("/", 1)[0].split("-")
            if len(bounds) != 2:
                continue
            start, end = (names.get(b.lower(), b) for b in bounds)
            if str(start).isdigit() and str(end).isdigit() and int(start) > int(end):
                return part
    return None


@functools.lru_cache(maxsize=1024)
def _as_croniter_reads(cron: str) -> str:
    """`cron` as croniter must be given it to fire as standard cron does: each range of one
    value (`9-9`, `sun-sun`, `58-58/2`) written as that value. croniter 7 reads such a range
    as its whole field (`*`): `0 9-9 * * *` fired every hour, `58-58 23 * * *` every minute
    of 23:00, where standard cron fires once. Cached: every tick reads each started
    schedule's cron again, and listings read each one's next run."""
    fields = cron.split()
    if len(fields) != 5:
        return cron
    for position, text in enumerate(fields):
        names = croniter.ALPHACONV[position]
        parts = text.split(",")
        for index, part in enumerate(parts):
            bounds = part.split("/", 1)[0].split("-")
            if len(bounds) != 2:
                continue
            start, end = (str(names.get(b.lower(), b)) for b in bounds)
            if start.isdigit() and end.isdigit() and int(start) == int(end):
                parts[index] = bounds[0]
        fields[position] = ",".join(parts)
    return " ".join(fields)


#: Each field of a five-field cron: its name, and the values it takes.
_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-6 (0 is Sunday) or sun-sat"),
)


def _refused_field(fields: list[str]) -> tuple[str, str, str] | None:
    """The first field of a five-field cron that croniter refuses on its own (`61` as the
    minute, `*/0`): its name, its text and the values it takes; None when each passes
    alone."""
    for position, (name, values) in enumerate(_CRON_FIELDS):
        alone = ["*"] * 5
        alone[position] = fields[position]
        if not croniter.is_valid(" ".join(alone)):
            return name, fields[position], values
    return None


@functools.lru_cache(maxsize=1024)
def validate_cron(cron: str, timezone: str, field: str = "trigger.cron") -> None:
    """Refuses a bad cron expression or time zone with the fix, before anything starts.
    Cached: every parse of a schedule's recipe reads it (a listing of a large workspace spent
    a sixth of its time here, croniter's parse and its next run), and a schedule valid once
    stays valid; a refusal is an exception, which the cache never keeps."""
    fix = "use five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * 1-5'"
    read = _as_croniter_reads(cron)
    fields = read.split()
    # croniter also takes a sixth field (seconds), which would fire up to 60 runs a minute.
    macro = len(fields) == 1 and cron.strip().startswith("@")
    if not (len(fields) == 5 or macro) or not croniter.is_valid(read):
        refused = _refused_field(fields) if len(fields) == 5 else None
        if refused is not None:  # five fields, one of them out of its range
            name, text, values = refused
            raise InputError(
                f"{field} {quoted(cron)} is not a valid cron expression: its {name} "
                f"{quoted(text)} is not one cron takes",
                field=field,
                fix=f"give the {name} as {values}, a list (1,15), a range (1-5) or a step "
                "of at least 1 (*/15)",
            )
        said = f"{field} {quoted(cron)} is not a valid cron expression"
        raise InputError(said, field=field, fix=fix)
    # croniter's own R (random) is drawn anew each time a tick reads the cron: a daily job
    # would fire at several random minutes a day. H (hashed) it refuses without a seed.
    if not macro and any(
        part.upper().startswith(("R", "H")) for part in re.split(r"[\s,/-]+", cron) if part
    ):
        raise InputError(
            f"{field} {quoted(cron)} uses R or H, which standard cron does not have",
            field=field,
            fix="give the minute and hour as numbers, e.g. '17 9 * * *' for 09:17",
        )
    # croniter runs a backwards range round the end of its field: `0 9 * * 5-1`, typed for
    # Monday to Friday, fires Friday to Monday, and `5-1 * * * *` 57 minutes an hour.
    if not macro and (backwards := _backwards_range(fields)) is not None:
        raise InputError(
            f"{field} {quoted(cron)} has the range {backwards} backwards, which standard cron "
            "refuses",
            field=field,
            fix="write ranges in ascending order (1-5); split a range that wraps: 50-59,0-10",
        )
    try:
        zone: ZoneInfo | None = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError):  # OSError: a folder of tzdata ("Europe"), or too long
        zone = None
    if zone is None or timezone in _NOT_ZONES or timezone.startswith(_NOT_ZONE_FOLDERS):
        raise InputError(
            f"trigger.timezone {quoted(timezone)} is not an IANA time zone",
            field="trigger.timezone",
            fix="use an IANA name such as UTC or Europe/Paris",
        )
    try:
        croniter(read, datetime.now(zone)).get_next(datetime)
    except CroniterBadDateError:
        raise InputError(
            f"{field} {quoted(cron)} never fires: no month has that day",
            field=field,
            fix="choose a day the month has, e.g. '0 9 30 4 *' for 30 April",
        ) from None


def missed_runs_policy(trigger: dict[str, Any], settings: dict[str, Any]) -> str:
    """What to do with runs that fell due while no scheduler ran: `run_once` (default) or
    `skip`. The recipe's trigger declares it; the saved settings may override it. A run
    that fell due while a scheduler ran is never missed, even when a slow tick fires it
    late (see `ON_TIME`)."""
    policy = settings.get("missed_runs") or trigger.get("missed_runs") or "run_once"
    if policy not in MISSED_RUNS:
        raise InputError(
            f"trigger.missed_runs {policy!r} is not one of {', '.join(MISSED_RUNS)}",
            field="trigger.missed_runs",
            fix="use run_once (fire once for all missed runs) or skip (fire none of them)",
        )
    return policy


def due_times(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """The cron's due moments in (after, until], in UTC, computed in the recipe's zone
    (`_due_after`)."""
    return list(
        itertools.takewhile(lambda moment: moment <= until, _due_after(cron, timezone, after))
    )


def next_due(cron: str, timezone: str, after: datetime) -> datetime:
    """The cron's first due moment after `after`, in UTC: when a started schedule fires
    next, as `lpstudio settings`, the REST API and the Recipes sidebar say it."""
    return next(_due_after(cron, timezone, after))


def _due_after(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The cron's due moments after `after`, in UTC, computed in the recipe's zone.

    As in Vixie cron, a fixed-time job ("30 2 * * *") runs once when clocks go back and its
    wall-clock time happens twice; jobs with `*` in their minute or hour keep firing by the
    real clock. Times skipped when clocks go forward fire at the first moment after the gap.
    """
    zone = ZoneInfo(timezone)
    fields = cron.split()
    if len(fields) == 1:  # @daily, @weekly...: at midnight, fixed; only @hourly is not
        fixed_time = fields[0].lower() != "@hourly"
    else:
        fixed_time = len(fields) == 5 and "*" not in (fields[0][0], fields[1][0])
    itr = croniter(_as_croniter_reads(cron), after.astimezone(zone))
    while True:
        moment = itr.get_next(datetime).astimezone(UTC)
        if fixed_time and moment.astimezone(zone).fold:
            continue  # the second pass through a repeated wall-clock time
        yield moment


def _local(moment: datetime, recipe: Recipe) -> datetime:
    """`moment` in the time zone of the recipe's schedule."""
    return moment.astimezone(ZoneInfo(recipe.metadata.get("trigger", {}).get("timezone", "UTC")))


def _log_end(job: Job) -> None:
    """A job's end line in the daemon's log: its state, and what went wrong as `lpstudio
    show` says it (the stored error is scrubbed of secrets)."""
    why = f": {describe_error(job.error, job.cells_total)}" if job.error else ""
    log.info("job %s %s (%s)%s", job.id, job.status, job.recipe, why)


# -- runs of trigger errors --------------------------------------------------------------------


def poll_counted(
    studio: Studio,
    recipe: Recipe,
    owner: str | None = None,
    warnings: list[InputError] | None = None,
) -> list[int]:
    """`poll_once`, counted towards the auto-stop whoever asked for it (a scheduler's tick,
    `lpstudio poll`, a Poll now): a poll that works ends the run of trigger errors, one that
    fails is one more (and is raised on, for the caller to say or to log)."""
    from .triggers import poll_once

    try:
        ids = poll_once(studio, recipe, owner, warnings)
    except Exception as exc:
        if recipe.trigger_kind == "poll":  # another kind, polled by hand, is only refused
            count_trigger_error(studio, recipe.name, exc)
        raise
    end_trigger_errors(studio, recipe.name)
    return ids


def end_trigger_errors(studio: Studio, name: str) -> None:
    """A trigger that worked ends a started recipe's run of errors (a stopped one keeps the
    run that stopped it on show until it starts again)."""
    with studio.store.read() as s:  # a read, not a write, on every tick of every schedule
        errors = s.scalar(select(TriggerState.errors).where(TriggerState.recipe == name))
    if errors and saved_settings(studio.store, name).get("state") == "started":
        studio.store.clear_trigger_errors(name)


def said_masked(studio: Studio, exc: Exception) -> str:
    """A trigger's error as kept and logged, the workspace's secrets masked: an app may
    echo the credential it was called with, and a connector's code quote what it was given
    (its `key` function's `int(...)` of an event holding one)."""
    from .redaction import scrub_text

    return scrub_text(f"{type(exc).__name__}: {exc}", studio.held_secrets())


def count_trigger_error(
    studio: Studio, name: str, exc: Exception, found_at: datetime | None = None
) -> None:
    """Counts a trigger error of a started recipe towards the auto-stop (a stopped one cannot
    be stopped: its failed polls count nothing). A failed poll counts once; an error found on
    every tick (`found_at`) counts once per `ERROR_EVERY` among all the schedulers of the
    store (the trigger's `next_poll_at` says when it counts again)."""
    settings = saved_settings(studio.store, name)
    if settings.get("state") != "started":
        return
    message = said_masked(studio, exc)
    # Checked when the workspace was read (`workspace.KNOWN_SETTINGS`).
    limit = studio.workspace.setting("triggers", "auto_stop_after")
    # The start these errors count against: one made while they are counted clears them
    # (`Studio.start`) and is not stopped by this count.
    counted_start = settings.get("started_at")
    with studio.store.write() as s:
        state = s.get(TriggerState, name)
        if state is None:
            state = TriggerState(recipe=name, since=utcnow().isoformat(), seen=[])
            s.add(state)
        if found_at is not None:
            if state.errors and state.next_poll_at is not None and state.next_poll_at > found_at:
                return  # counted already within the minute
            state.next_poll_at = found_at + ERROR_EVERY
            # Logged once a minute, not once a tick. A failed poll is said by its caller (the
            # daemon's log, or the person who polled: once, not twice).
            log.warning("trigger of %s failed: %s", name, message)
        errors = (state.errors or 0) + 1
        if errors >= limit:  # no next poll follows the stop: its last error says none
            message = no_next_poll(message)
        # Kept through the stop, so the recipe's listing says why it stopped; starting
        # it again clears the count (`Studio.start`): it gets `limit` more tries.
        state.errors, state.last_error = errors, message
    stopped: list[bool] = []

    def stop(settings: dict[str, Any]) -> dict[str, Any] | None:
        """Only a recipe still started, by the start the errors counted against, is
        stopped (read and written in one turn)."""
        if settings.get("state") != "started" or settings.get("started_at") != counted_start:
            return None
        stopped.append(True)
        return {**settings, "state": "stopped"}

    if errors >= limit:
        update_settings(studio.store, name, stop, DAEMON_USER)
    if stopped:
        studio.store.audit(
            DAEMON_USER,  # lpstudio's rule, whoever polled: not a person's stop
            "auto-stop",
            name,
            reason=f"{errors} consecutive trigger errors",
            last_error=message,
        )
        log.warning("stopped %s after %d consecutive trigger errors", name, errors)
        notify_stopped(studio, name, errors, message)


def say_not_ready(studio: Studio, logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
    """Warns, at start-up, of each started recipe that cannot run, with its fix: one started
    before a check it fails existed (a webhook whose connection has no secret, started by an
    older lpstudio) refuses every job or delivery, and `lpstudio recipes` was the only place
    that could tell (`Studio.recipes`: its `problem` or `settings_problem`)."""
    try:
        rows = studio.recipes()
    except LpstudioError as exc:  # the store down: what runs says it soon enough
        logger.warning("the started recipes' readiness unread: %s", exc.message)
        return
    for row in rows:
        unready = row["settings_problem"]
        if row["state"] != "started" or not (unready or row["problem"]):
            continue
        if unready:
            fix = f"; fix: {unready['fix']}" if unready["fix"] else ""
            said = f"{unready['message']}{fix}"
        else:
            said = row["problem"].replace(FIX_SAID, "; fix: ")
        logger.warning("recipe %s is started but cannot run: %s", row["recipe"], said)


def open_when_reachable(
    open_studio: Callable[[], Studio], stopping: threading.Event
) -> Studio | None:
    """The daemon's workspace, opened once its store answers: a daemon started with its
    database (by a service manager, or in a failover) waits for it, saying so once, as a
    server does (`LpstudioApp.open_late`), rather than exit with its schedules unfired.
    None when `stopping` is set meanwhile (SIGTERM, Ctrl-C); any other error is raised."""
    pause, told = 0.5, False
    while not stopping.is_set():
        try:
            studio = open_studio()
        except (StoreUnavailable, OperationalError) as exc:
            if isinstance(exc, OperationalError) and not unreachable(exc):
                raise
            if not told:
                said = exc if isinstance(exc, StoreUnavailable) else unavailable(exc)
                log.warning("%s: waiting for it (SIGTERM or Ctrl-C stops)", said.message)
                told = True
            stopping.wait(pause)
            pause = min(pause * 2, OPEN_RETRY_MAX)
            continue
        if told:
            log.info("the store answers")
        return studio
    return None


def form_since(
    store: Store,
    name: str,
    cron: str,
    timezone: str,
    seen: ScheduleForm | None,
    started: datetime,
    now: datetime,
) -> datetime:
    """Since when the schedule has its form (cron and time zone), as the first to see it
    under this start saw it (its `lpstudio start`, or a scheduler): its due times count from
    no earlier. Counted from its last run with a cron edited since, a time that had passed
    when it was edited fired at once (a daily reminder sent at 09:00, moved to 09:30 at
    10:00, was sent again). Written only when the form or the start is new to the store;
    `seen` is its row as read (None: none)."""
    cron = " ".join(cron.split())  # spaces between fields are no edit
    same = seen is not None and (seen.cron, seen.timezone) == (cron, timezone)
    if same and seen is not None and seen.since >= started:
        return seen.since  # as seen under this start: no write
    with store.write() as s:  # writers take turns: another may have written it since
        row = s.get(ScheduleForm, name)
        if row is None:
            # Never seen: started before the upgrade that keeps forms (a start writes one).
            row = ScheduleForm(recipe=name, cron=cron, timezone=timezone, since=started)
            s.add(row)
        elif row.since < started:
            # Seen under an earlier start: this start's form counts from it.
            row.cron, row.timezone, row.since = cron, timezone, started
        elif (row.cron, row.timezone) != (cron, timezone):
            # Edited: from now (never back, whatever the clock of whoever wrote it).
            row.cron, row.timezone, row.since = cron, timezone, max(now, row.since)
        return row.since


class Scheduler:
    """One scheduler process: `tick()` fires what is due; workers run the queue."""

    def __init__(
        self,
        studio: Studio,
        workers: int = 2,
        clock: Callable[[], datetime] | None = None,
        grace_seconds: float = 30,
        idle_seconds: float = 1.0,
        lease: StoreLease | None = None,
    ) -> None:
        self.studio = studio
        #: When set, only the lease's holder ticks and runs the queue (a server-hosted
        #: scheduler: one leader among the servers sharing a store).
        self.lease = lease
        self._leading = False
        self.store = studio.store
        #: That this scheduler runs on the store, renewed as it ticks and given up as it
        #: stops: `store-copy` refuses to copy a store a scheduler still works on (one
        #: without the leader's lease, a daemon, ran on in the old store after a copy).
        self.presence = present(self.store)
        self._present_until = 0.0  # when this process renews it next (`time.monotonic()`)
        self.workers = workers
        #: The time of due runs, polls and retries: the store's clock by default (the
        #: database's on PostgreSQL), so that daemons on machines whose clocks disagree
        #: fire a 09:00 run at 09:00 by one clock, as they time leases and heartbeats.
        self.clock = clock or self.store.now
        self.grace_seconds = grace_seconds
        self.idle_seconds = idle_seconds
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="lpstudio-worker")
        self._running: dict[int, Future[Any]] = {}
        #: The jobs this scheduler claimed: the only ones it requeues when it stops (a
        #: server's own executor runs its jobs in the same process, to their end).
        self._claimed = RunningJobs()
        #: Where claimed jobs run when the workspace names a Dask cluster; else here.
        self._cluster = studio.executor if isinstance(studio.executor, DaskExecutor) else None
        if self._cluster is not None:  # its reaper ends the jobs whose Dask worker died
            self._cluster.reap = self._reap
        self._stopping = threading.Event()
        self._lease_lock = threading.Lock()
        #: When a step of this scheduler last failed to reach the store (`_silence_reaps`).
        self._store_lost_at: float | None = None
        #: The poll under way in this process for each poll recipe (the daemon's ticks).
        self._polling: dict[str, threading.Thread] = {}
        self._polls_lock = threading.Lock()
        self._wake = threading.Event()
        self._recipes: dict[str, Recipe | None] = {}
        self._told_stopped: dict[str, int] = {}  # recipe -> the job last said to wait for it
        self._last_purge: datetime | None = None
        #: When this scheduler's previous tick began, while it has ticked without a break
        #: (no failed tick, no lost lease): it has been running since then.
        self._last_tick: datetime | None = None

    # -- recipes -----------------------------------------------------------------------

    def _recipe(self, name: str) -> Recipe | None:
        try:
            return self.studio.recipe(name)
        except LpstudioError:
            return None

    def _started(self, now: datetime) -> list[tuple[Recipe, dict[str, Any]]]:
        """The started recipes that load, with their settings; those that broke count a
        trigger error, and those whose notebook is gone are stopped (`_stop_gone`)."""
        started = self.studio.started_settings()
        found = []
        for path in self.studio.workspace.recipe_files():
            name = self.studio.workspace.listed_name(path)
            settings = started.pop(name, None)
            if settings is not None:
                try:
                    found.append((self.studio.load_recipe(path, name), settings))
                except LpstudioError as exc:  # edited into a broken recipe since it started
                    count_trigger_error(self.studio, name, exc, now)
        for name in started:  # left with no notebook
            self._stop_gone(name)
        return found

    def _stop_gone(self, name: str) -> None:
        """Stops a started recipe whose notebook is gone: its settings, kept by path, would
        fire for whatever notebook is written there next, which nobody started. A save
        never leaves a notebook missing (JupyterLab writes a new file and renames it over
        the old one); one missing as a tick looks is gone, whether deleted or moved away,
        and is started again by hand once back. Nothing is stopped while `projects/` itself
        is missing (a share not mounted): no notebook can be told gone then."""
        workspace = self.studio.workspace
        path = workspace.projects / name
        stopped: list[bool] = []

        def stop(settings: dict[str, Any]) -> dict[str, Any] | None:
            """Only one still started and still without its notebook (read in one turn)."""
            if settings.get("state") != "started" or not workspace.projects.is_dir():
                return None
            if workspace.is_recipe_file(path):
                return None
            stopped.append(True)
            return {**settings, "state": "stopped"}

        update_settings(self.store, name, stop, DAEMON_USER)
        if stopped:
            self.store.audit(DAEMON_USER, "auto-stop", name, reason="its notebook is gone")
            log.warning(
                "stopped %s: its notebook is gone (one written there later starts stopped)", name
            )

    # -- firing ------------------------------------------------------------------------

    def tick(self, now: datetime | None = None, polls_apart: bool = False) -> list[int]:
        """Fires due schedules and polls; reaps lost jobs; purges once a day. Returns the
        ids of the jobs it queued. With `polls_apart` (the daemon's ticks), each poll runs
        in a thread of its own, one at a time per recipe, and wakes the queue when it
        queued jobs: an app slow to answer holds back no schedule and no lease renewal."""
        now = now or self.clock()
        # Until this tick gets through, the scheduler has not ticked without a break.
        running_since, self._last_tick = self._last_tick, None
        queued: list[int] = []
        self._reap()
        for recipe, settings in self._started(now):
            kind = recipe.trigger_kind
            try:
                if kind == "schedule":
                    queued += self._fire_schedule(recipe, settings, now, running_since)
                elif kind == "poll" and polls_apart:
                    self._poll_apart(recipe, now)
                elif kind == "poll":
                    queued += self._fire_poll(recipe, now)
            except Exception as exc:  # one recipe's trigger never stops the others
                count_trigger_error(self.studio, recipe.name, exc, now)
        self._last_tick = now
        if self._last_purge is None or now - self._last_purge > timedelta(days=1):
            self.studio.purge()  # one that fails is tried again at the next tick
            self.studio.purge_prepared()
            self._last_purge = now
        return queued

    def _fire_schedule(
        self,
        recipe: Recipe,
        settings: dict[str, Any],
        now: datetime,
        running_since: datetime | None = None,
    ) -> list[int]:
        trigger = recipe.metadata.get("trigger", {})
        cron, timezone = trigger.get("cron"), trigger.get("timezone", "UTC")
        validate_cron(cron or "", timezone)
        missed = missed_runs_policy(trigger, settings)
        with self.store.read() as s:  # one read a tick: its last run and the form last seen
            last = s.scalar(
                select(ScheduleRun.due_at)
                .where(ScheduleRun.recipe == recipe.name)
                .order_by(ScheduleRun.due_at.desc())
                .limit(1)
            )
            seen = s.get(ScheduleForm, recipe.name)
        started = datetime.fromisoformat(settings.get("started_at", now.isoformat()))
        since = form_since(self.store, recipe.name, cron, timezone, seen, started, now)
        due = due_times(cron, timezone, max(last or since, since), now)
        if not due:
            end_trigger_errors(self.studio, recipe.name)
            return []
        # Only the latest due run is written: it fires when on time (or, missed, under
        # `run_once`) and marks every earlier one as handled, so a week without a scheduler
        # costs one row, not one per missed minute. Its unique row is the atomic claim.
        # It was missed only if this scheduler was not ticking when it fell due (had another
        # fired it, it would not be due here), never because this tick itself comes late.
        # (The daemon's ticks take no time of an app's: `polls_apart`.)
        latest = due[-1]
        ran = running_since is not None and latest > running_since
        fire = ran or now - latest < ON_TIME or missed == "run_once"
        job_id = self._claim_schedule_run(recipe, latest, skipped=not fire)
        # Only now: a due run that cannot be queued (a saved value its notebook refuses
        # since) raises above on every tick, and must count towards the auto-stop as a
        # poll that keeps failing does, not be cleared each tick and counted once again.
        end_trigger_errors(self.studio, recipe.name)
        return [job_id] if job_id is not None else []

    def _claim_schedule_run(self, recipe: Recipe, due_at: datetime, skipped: bool) -> int | None:
        # Its job as every job is made (`Studio.job_fields`), on a snapshot of the recipe and
        # its settings, its defaults checked (a trigger error otherwise) and its dates text.
        # In the recipe's time zone: its date is the day the run was for there (09:00 in
        # Auckland is the evening before in UTC).
        event = {"due_at": _local(due_at, recipe).isoformat()}
        row = None if skipped else self.studio.job_fields(recipe, {}, event, "schedule", None)
        try:
            with self.store.write() as s:
                now = self.store.now(s)  # as every job is dated: by the store's clock
                run = ScheduleRun(
                    recipe=recipe.name, due_at=due_at, skipped=skipped, created_at=now
                )
                s.add(run)
                s.flush()
                if row is None:
                    return None
                job = Job(
                    **row, status=QUEUED, created_at=now, cells_done=0, cells_total=0, attempt=1
                )
                s.add(job)
                s.flush()
                run.job_id = job.id
                return job.id
        except IntegrityError:
            return None  # another scheduler fired this due run

    def _poll_apart(self, recipe: Recipe, now: datetime) -> None:
        """Fires the recipe's poll in a thread of its own unless one of it is still under
        way here (a daemon thread: a poll cut short by the process's end writes nothing)."""
        with self._polls_lock:
            under_way = self._polling.get(recipe.name)
            if under_way is not None and under_way.is_alive():
                return

            def poll() -> None:
                try:
                    if self._fire_poll(recipe, now):
                        self._wake.set()  # its jobs start now, not at the queue's next look
                except Exception as exc:
                    count_trigger_error(self.studio, recipe.name, exc, now)

            thread = threading.Thread(target=poll, name=f"lpstudio-poll-{recipe.name}", daemon=True)
            self._polling[recipe.name] = thread
        thread.start()

    def _fire_poll(self, recipe: Recipe, now: datetime) -> list[int]:
        trigger = recipe.metadata.get("trigger", {})
        interval = timedelta(minutes=float(trigger.get("interval_minutes", 5)))
        with self.store.write() as s:  # writers take turns: one scheduler claims the poll
            if s.get(TriggerState, recipe.name) is None:
                # Started with another trigger, saved with a poll one since: its since is
                # fixed now, as a start would fix it (never earlier: no flood of old events).
                s.add(TriggerState(recipe=recipe.name, since=now.isoformat(), seen=[]))
                s.flush()
            claimed = s.execute(
                update(TriggerState)
                .where(
                    TriggerState.recipe == recipe.name,
                    or_(TriggerState.next_poll_at.is_(None), TriggerState.next_poll_at <= now),
                )
                .values(next_poll_at=now + interval)
            ).rowcount
        if not claimed:
            return []
        try:
            return poll_counted(self.studio, recipe)
        except Exception as exc:  # counted by `poll_counted`: the next poll tries again
            log.warning("trigger of %s failed: %s", recipe.name, said_masked(self.studio, exc))
            return []

    # -- the queue ---------------------------------------------------------------------

    def _limit(self, name: str) -> int:
        if name not in self._recipes:
            self._recipes[name] = self._recipe(name)
        recipe = self._recipes[name]
        return recipe.concurrency if recipe else 1

    def _queued(self, blocked: set[str]) -> list[tuple[int, str, str]]:
        """The oldest queued trigger jobs that may start now, leaving out recipes that can
        take no more: however long one recipe's backlog, other recipes' jobs are seen.

        Only jobs of triggers are the daemon's, and calls a stopping server put back in the
        queue, while no process holds them: a job queued by `lpstudio run`, a call, a rerun
        or a test is run by the process that queued it, which claims it a moment later, and
        so are the jobs of a poll that `lpstudio poll` or a Poll now runs
        (`Store.take_queued`), which that process retries or reports itself, once.
        """
        with self.store.read() as s:
            rows = s.execute(
                select(Job.id, Job.recipe, Job.trigger)
                .where(
                    Job.status == QUEUED,
                    Job.worker.is_(None),
                    Job.trigger.in_((*SCHEDULED_TRIGGERS, "callable")),
                    Job.recipe.not_in(blocked),
                    or_(Job.not_before.is_(None), Job.not_before <= self.clock()),
                )
                .order_by(Job.id)
                .limit(self.workers)
            ).all()
        return [(row[0], row[1], row[2]) for row in rows]

    def fill(self) -> int:
        """Claims queued jobs for idle workers; returns how many it started."""
        started = 0
        self._running = {k: f for k, f in self._running.items() if not f.done()}
        self._recipes = {}  # read anew each time: an edited concurrency applies at once
        blocked: set[str] = set()
        while len(self._running) < self.workers:
            candidates = self._queued(blocked)
            if not candidates:
                break
            for job_id, recipe, trigger in candidates:
                if len(self._running) >= self.workers:
                    break
                if recipe in blocked:
                    continue  # jobs of one recipe run in order
                if saved_settings(self.store, recipe).get("state") != "started":
                    blocked.add(recipe)  # a stopped recipe processes nothing; its events wait
                    self._say_stopped(job_id, recipe)
                    continue
                if not self.store.claim_job(job_id, self._limit(recipe)):
                    blocked.add(recipe)  # at its concurrency limit, or taken by another
                    continue
                log.info("job %s started (%s, %s)", job_id, recipe, trigger)
                self._running[job_id] = self._pool.submit(self._run, job_id)
                started += 1
        return started

    def _say_stopped(self, job_id: int, recipe: str) -> None:
        """Says once, for the first job a stopped recipe holds back, why it waits (a retry
        or a Run now queued before the stop would otherwise wait unexplained)."""
        if self._told_stopped.get(recipe) == job_id:
            return
        self._told_stopped[recipe] = job_id
        log.info("job %s waits: %s", job_id, self.studio.held(recipe, job_id))

    def _run(self, job_id: int) -> None:
        try:
            if self._cluster is not None:
                job = self._cluster.run_claimed(job_id)
            else:
                job = execute_job(
                    self.studio.workspace,
                    self.store,
                    job_id,
                    group=self._claimed,
                    credentials=self.studio.credentials,
                )
                if job.status == QUEUED and job.worker is None:  # this scheduler stopped
                    log.info("job %s requeued: the scheduler stopped before it ended", job_id)
                    return  # the next scheduler runs it
                if job.worker != worker_id():  # put back in the queue while it was silent
                    log.warning("job %s went to another worker: its end is that one's", job_id)
                    return  # which reports and retries it, once
            if not reaped(job):  # else the reaper whose write ended it logged it
                _log_end(job)
            after_end(self.studio, job, self.clock())
        except Exception:  # a worker thread's exception is otherwise lost with its future
            log.exception("scheduler failed on job %s", job_id)
        finally:
            self._wake.set()

    def _reap(self) -> None:
        """Ends the jobs whose worker is gone (a tick's, and its Dask executor's as a worker
        dies), each logged and retried or reported like any failure: only here, where the
        write that ended it was made. Its run (`_run`), another daemon's reaper and this
        one's other reaper each found it ended by another, and logged it twice."""
        for lost in self.studio.reap_lost_jobs(by_silence=self._silence_reaps()):
            _log_end(lost)
            self._after_failure(lost)

    def _after_failure(self, job: Job) -> None:
        after_failure(self.studio, job, self.clock())

    # -- the daemon ----------------------------------------------------------------------

    def run_forever(self) -> None:
        """Ticks and fills, each in a thread of its own, until `stop()`; then drains as
        SIGTERM asks. A tick waiting on a slow poll holds back neither the queue nor the
        drain: it ends in the background, and a poll cut short writes nothing (its jobs and
        cursor are written together)."""
        log.info("scheduler started with %d workers", self.workers)
        self._step(self._say_not_ready, "say which hooks are not ready")
        self.studio.executor.warm()  # ready kernels before the first due job
        ticker = threading.Thread(target=self._tick_forever, name="lpstudio-tick", daemon=True)
        filler = threading.Thread(target=self._fill_forever, name="lpstudio-fill", daemon=True)
        ticker.start()
        filler.start()
        self._stopping.wait()
        filler.join()
        self.drain()

    def _say_not_ready(self) -> None:
        say_not_ready(self.studio, log)

    def _tick_forever(self) -> None:
        while not self._stopping.is_set():
            self._step(self._say_present, "record that it is alive")
            if self._step(self._store_upgraded, "read the store's schema revision"):
                self.stop()  # its jobs would run this version's code on a schema it cannot read
                break
            if self.leading() and self._step(self.tick_apart, "fire the due schedules and polls"):
                self._wake.set()  # what it queued starts now, not at the queue's next look
            self._stopping.wait(self.idle_seconds)

    def _say_present(self) -> None:
        """Renews `presence` once a third of its time has gone."""
        if time.monotonic() >= self._present_until:
            self.presence.acquire()
            self._present_until = time.monotonic() + PRESENCE_SECONDS / 3

    def _store_upgraded(self) -> bool:
        """Whether a newer lpstudio upgraded the store since this one opened it (another
        machine, upgraded first): said once, in the log, with the fix."""
        revision = self.store.schema_revision()
        if revision == SCHEMA_HEAD:
            return False
        log.error(
            "the store was upgraded by a newer lpstudio to schema revision %s (this one knows "
            "%s): this scheduler stops; fix: install that lpstudio here too (README: Upgrading)",
            revision,
            SCHEMA_HEAD,
        )
        return True

    def tick_apart(self) -> list[int]:
        """The daemon's tick: polls run apart from it (see `tick`)."""
        return self.tick(polls_apart=True)

    def _fill_forever(self) -> None:
        """Starts queued jobs as workers free up, apart from the ticks: a poll waiting on an
        app that answers late or not at all never holds back the jobs of every recipe."""
        while not self._stopping.is_set():
            if self._leading or self.lease is None:
                self._step(self.fill, "start the queued jobs")
            self._wake.wait(self.idle_seconds)
            self._wake.clear()

    def _step(self, step: Callable[[], Any], doing: str) -> Any:
        """`step`, whose failure is logged as what the scheduler could not do (`doing`, in
        words an admin reads: its method's name meant nothing to them)."""
        try:
            return step()
        except Exception as exc:  # the daemon keeps going; the error is in the log
            self._failed(exc, "the scheduler could not %s", doing)
            return None

    def _failed(self, exc: Exception, message: str, *args: Any) -> None:
        """Logs what one of the daemon's loops failed on: an outage of the store once for
        all its steps and the process's other loops (`StoreOutage`), any other failure
        each time it happens."""
        if isinstance(exc, OperationalError):  # the store cannot be reached (for now)
            self._store_lost_at = time.monotonic()
        self.store.outage.failed(log, exc, message, *args)

    def _silence_reaps(self) -> bool:
        """Whether jobs silent for `stale_after_seconds` may be taken for lost now: not
        until that long after this scheduler last failed to reach the store. Through an
        outage every running job's heartbeats failed too, and a job that ended meanwhile
        waits to write its end (`runner._once_stored`): reaped as soon as the store
        answered, it was retried, repeating what it had done. A job whose worker's process
        is gone is reaped at once all the same."""
        if self._store_lost_at is None:
            return True
        stale = self.studio.workspace.setting("jobs", "stale_after_seconds")
        if time.monotonic() - self._store_lost_at < stale:
            return False
        self._store_lost_at = None
        return True

    def leading(self) -> bool:
        """Whether this scheduler may work now: always without a lease, else while it holds
        (and has just renewed) the lease."""
        if self.lease is None:
            return True
        with self._lease_lock:  # never taken again once `drain` gave it up
            if self._stopping.is_set():
                return False
            try:
                leading = self.lease.acquire()
            except Exception as exc:  # the store is busy or away: not leading until it answers
                self._failed(exc, "could not renew the scheduler lease")
                leading = False
        if not leading:
            self._last_tick = None  # others may tick meanwhile, or nobody: it cannot tell
        if leading != self._leading:
            log.info(
                "%s the scheduler lease (%s)",
                "took" if leading else "lost",
                self.lease.holder,
            )
            self._leading = leading
        return leading

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def drain(self) -> None:
        """Lets running jobs finish within the grace period, then stops the rest: requeued
        when no cell of theirs that may act had started (`runner.acts`), else failed
        (`WorkerStopped`)."""
        running = [f for f in self._running.values() if not f.done()]
        if running:
            log.info("waiting up to %g s for %d running job(s)", self.grace_seconds, len(running))
        deadline = time.monotonic() + self.grace_seconds  # a span of this machine's time
        for future in running:
            remaining = deadline - time.monotonic()
            with contextlib.suppress(Exception):  # still running: requeued below
                future.result(timeout=max(0.0, remaining))
        self._claimed.interrupt("scheduler stopped before the job finished", reason="requeue")
        if self._cluster is not None:
            self._cluster.release_claimed()
        self._pool.shutdown(wait=True)
        with self._lease_lock:
            if self.lease is not None and self._leading:
                with contextlib.suppress(Exception):  # it expires anyway
                    self.lease.release()
                self._leading = False
        with contextlib.suppress(Exception):  # it expires anyway
            self.presence.release()
        log.info("scheduler stopped")
