"""Poll triggers: from a durable cursor, oldest first, de-duplicated, one job per event or
per batch. The jobs and the new cursor are written in one transaction, so an event turns
into exactly one job whatever crashes, and a stop, start or restart repeats none. A batch
gathers the events of the poll's pages: the cursor stays before those of a batch not yet
full until it is written (`poll_once`).

A poll writes its page only if the trigger's since and cursor are still those it fetched
from: a reset (`lpstudio start --reset-since`) or an overlapping poll that went further
while the page was on its way wins, and the page is dropped (the next poll fetches anew).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import operator
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import InputError, word
from .sdk import ConnectorError, Page, chunks, no_next_poll
from .templating import lookup

if TYPE_CHECKING:  # the store's modules load with a poll: a kernel imports `latest` fast
    from sqlalchemy.orm import Session

    from .recipe import Recipe
    from .studio import Studio

log = logging.getLogger("lpstudio.triggers")

#: How many event keys a trigger remembers for de-duplication.
SEEN_LIMIT = 20_000
#: Where Test and a recipe run by hand look for the latest events: back from now, the
#: narrowest window that has one (a store's month of checkouts is many pages).
RECENT = (timedelta(hours=1), timedelta(days=1), timedelta(days=7), timedelta(days=30))
#: How many polls that look may make in all: a store with thousands of events and none
#: passing had Test read every window to its end (minutes, a thousand requests).
LOOKS = 12
#: How many keys of events a condition could not compare a poll's warning names.
SHOWN_KEYS = 10
#: How many pages one poll reads at most; the next poll goes on from the cursor kept. A
#: poll whose cursor moves on for ever (more=True, new cursors, no events) held a scheduler's
#: thread, `lpstudio poll` or a REST Poll now for ever; 100 pages are 25,000 events of
#: Shopify's largest pages, more than `SEEN_LIMIT` can tell apart again.
PAGES = 100

_ORDERING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _number(value: Any) -> float | None:
    """A number, or text that reads as one (Shopify sends prices as text: "100.00")."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Uncomparable(Exception):
    """A rule's `<`, `<=`, `>` or `>=` cannot order the event's value against its own."""


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual not in (None, "")
    if op == "contains":
        return actual is not None and str(expected) in str(actual)
    if actual is None:  # an absent field, like a null one, equals no value
        return op == "!=" and expected not in (None, "")
    if isinstance(expected, int | float) and not isinstance(actual, bool):
        number = _number(actual)
        if number is None:  # a list, an object, a text such as "n/a": no number
            if op in _ORDERING:
                raise _Uncomparable
            return op == "!="
        actual = number
    elif op in _ORDERING:
        # As numbers when both read as numbers: as text, "100.00" < "50".
        numbers = _number(actual), _number(expected)
        if None not in numbers:
            actual, expected = numbers
    if op == "==":
        return bool(actual == expected)
    if op == "!=":
        return bool(actual != expected)
    try:
        return bool(_ORDERING[op](actual, expected))
    except TypeError:  # a list against a text...
        raise _Uncomparable from None


def matches(
    event: dict[str, Any], conditions: dict[str, Any] | None, doubts: list[str] | None = None
) -> bool:
    """Trigger conditions: simple comparisons on record fields, all or any of them.

    A rule that cannot order the event's value (`total_price >= 50` on a list, or on "n/a")
    is not met, as a rule on an absent field is not; when the event fails for it, the rule
    is added to `doubts`, so that a poll says so instead of dropping the event unseen."""
    if not conditions:
        return True
    results: list[bool] = []
    uncompared: list[dict[str, Any]] = []
    for rule in conditions["rules"]:
        try:
            results.append(_compare(lookup(event, rule["field"]), rule["op"], rule.get("value")))
        except _Uncomparable:
            uncompared.append(rule)
    combine = any if conditions.get("match") == "any" else all
    passed = combine([*results, *(False for _ in uncompared)])
    # Whether it would have passed, had they been met: then they are why it did not.
    if not passed and doubts is not None and combine([*results, *(True for _ in uncompared)]):
        doubts.extend(_rule_text(rule) for rule in uncompared)
    return passed


def _rule_text(rule: dict[str, Any]) -> str:
    return f"{rule['field']} {rule['op']} {json.dumps(rule.get('value'))}"


def doubt_warnings(recipe: str, doubts: dict[str, list[str]]) -> list[InputError]:
    """A warning for each rule of a poll's conditions that could not compare the value of
    some events (see `matches`), which did not pass: the scheduler's log, `lpstudio poll`
    and a Poll now's answer say it in these words."""
    warnings = []
    for rule, keys in doubts.items():
        shown = ", ".join(keys[:SHOWN_KEYS]) + (
            f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
        )
        warnings.append(
            InputError(
                f"poll of {recipe}: its condition {rule} cannot compare the value of "
                f"{len(keys)} event{'' if len(keys) == 1 else 's'} (not a number, nor a text "
                f"that reads as one), which did not pass: {shown}",
                field="metadata.lpstudio.trigger.conditions",
                fix="compare a field that holds numbers in metadata.lpstudio.trigger.conditions",
            )
        )
    return warnings


def _poll_spec(recipe: Recipe) -> dict[str, Any]:
    """The recipe's poll trigger, or the part of it that is missing, by name."""
    trigger = recipe.metadata.get("trigger", {})
    declare = 'declare {"kind": "poll", "connection": SLOT, "trigger": NAME}'
    if recipe.trigger_kind != "poll":
        raise InputError(
            f"recipe {recipe.name} is triggered by {recipe.trigger_kind}, not polled",
            field="metadata.lpstudio.trigger.kind",
            fix=f"run it now with `lpstudio run {word(recipe.name)}`, or {declare}",
        )
    if not trigger.get("connection"):
        raise InputError(
            f"the poll trigger of {recipe.name} names no connection slot",
            field="metadata.lpstudio.trigger.connection",
            fix=f"{declare}, SLOT being one of metadata.lpstudio.connections",
        )
    if not trigger.get("trigger"):
        raise InputError(
            f"the poll trigger of {recipe.name} names no trigger of its connector",
            field="metadata.lpstudio.trigger.trigger",
            fix=f"{declare}, NAME being a poll trigger of the slot's connector",
        )
    return trigger


def open_trigger(studio: Studio, recipe: Recipe) -> tuple[Any, Any, dict[str, Any]]:
    spec = _poll_spec(recipe)
    bound = studio.settings(recipe)["connections"]
    if spec["connection"] not in bound:
        raise InputError(
            f"the trigger's connection slot '{spec['connection']}' is not declared",
            field="metadata.lpstudio.connections",
            fix=f"declare slot '{spec['connection']}' in metadata.lpstudio.connections",
        )
    conn = studio.connections.open(bound[spec["connection"]])
    trigger = conn.connector.poll_triggers.get(spec["trigger"])
    if trigger is None:
        conn.close()
        raise InputError(
            f"connector {conn.connector.name} has no poll trigger '{spec['trigger']}'",
            field="metadata.lpstudio.trigger.trigger",
            fix=f"use one of: {', '.join(conn.connector.poll_triggers)}"
            if conn.connector.poll_triggers
            else f"connector {conn.connector.name} cannot be polled: bind the slot to a "
            "connection whose connector can, or use another trigger kind",
        )
    return conn, trigger, spec


def sample_event(studio: Studio, recipe: Recipe) -> dict[str, Any] | None:
    """The latest trigger event its conditions pass, to test a recipe on, as its job keeps
    it (`Studio.kept_event`: shown masked, run whole); None for triggers without samples.
    With none, the test is refused: a test on nothing proves nothing."""
    if recipe.trigger_kind != "poll":
        return None
    conn, trigger, spec = open_trigger(studio, recipe)
    conditions = spec.get("conditions")
    try:
        found = latest(partial(trigger.poll, conn), passes=lambda e: matches(e, conditions))
    finally:
        conn.close()
    batch = bool(spec.get("batch_size"))
    if not found:
        days = (
            f"of the last {RECENT[-1].days} days ({trigger.title}; {LOOKS} polls at most, "
            "the last hour first)"
        )
        raise InputError(
            f"no event {days} passes the trigger conditions of {recipe.name}: a test would "
            "run it on nothing"
            if conditions
            else f"the trigger of {recipe.name} has no event {days}: a test would run it on "
            "nothing",
            field="event",
            fix=f"give the test an event as the trigger would (a JSON "
            f"{'list of objects' if batch else 'object'}): "
            f"`lpstudio run {word(recipe.name)} --test "
            "--event-file event.json`, or `event` in the REST API's test; or test it once "
            "such an event has come"
            + (" (metadata.lpstudio.trigger.conditions say which pass)" if conditions else ""),
        )
    sample = [found[-1]] if batch else found[-1]
    return studio.kept_event(sample, studio.held_secrets() | conn.secrets())


def _no_next_poll(exc: ConnectorError) -> ConnectorError:
    """A poll's error met by a look at the latest events: no next poll follows a Test or a
    Run now, so its "the next poll tries again" is left out, as a stopped recipe's is."""
    exc.message = no_next_poll(exc.message)
    exc.args = (exc.message,)
    return exc


def latest(
    poll: Callable[[str, Any], Page],
    count: int = 1,
    passes: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """The latest `count` events of a poll trigger (those `passes` takes), oldest first: of
    the narrowest window of `RECENT` back from now that has `count` (else as many as the
    widest has: a cart edited a minute ago is not all "the latest 3"). A poll gives its
    window oldest first, in as many polls as it says (`more`): each window is read to its
    end, `LOOKS` polls at most in all (what they found is what there is).

    A wider look reads only what the narrower ones did not: its polls stop at the first
    page that brings an event they read, the rest of its window being theirs. Read again,
    a crowded last hour spent the polls before the week's look reached an older event.

        shopify = lp.connection("shopify")
        latest(partial(shopify.poll, "new_or_updated_abandoned_checkout"), 3)
    """
    now = datetime.now(UTC)
    looks = LOOKS
    kept: deque[dict[str, Any]] = deque(maxlen=count)  # of the looks so far: the newest
    read: set[bytes] = set()  # every event the looks so far read, by `_digest`
    for back in RECENT:
        since, cursor = _whole_second((now - back).isoformat()), None
        older: deque[dict[str, Any]] = deque(maxlen=count)
        digests: set[bytes] = set()
        while looks:
            looks -= 1
            try:
                page = poll(since, cursor)
            except ConnectorError as exc:  # a look (Test, Run now), not a started poll
                raise _no_next_poll(exc) from None
            reached = False
            for event in page.events:
                digest = _digest(event)
                digests.add(digest)
                if digest in read:  # the narrower looks' part of the window
                    reached = True
                elif passes is None or passes(event):
                    if event in older:  # read again where two polls' windows meet
                        older.remove(event)
                    older.append(event)
            if reached or not page.more:
                break
            cursor = page.cursor
        kept = deque([*older, *kept], maxlen=count)
        read |= digests
        if len(kept) == count or not looks:
            return list(kept)
    return list(kept)


def _digest(event: dict[str, Any]) -> bytes:
    """What tells an event read again (its JSON, keys sorted), in 16 bytes: a look may read
    thousands, each of a few kilobytes at Shopify."""
    text = json.dumps(event, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _whole_second(since: str) -> str:
    """Apps keep event times to the second (Shopify does), so a trigger started at 10:00:00.6
    starts its window at 10:00:00: an event of that very second is not lost."""
    try:
        return datetime.fromisoformat(since).replace(microsecond=0).isoformat()
    except ValueError:
        return since


#: The attribute of an error that stopped a poll after it wrote jobs: their ids.
QUEUED_BEFORE = "lpstudio_queued_before"


def queued_before(exc: BaseException) -> list[int]:
    """The ids of the jobs a poll wrote before `exc` stopped it, read through the errors
    that wrap it (`Studio._trigger_faults`): their events are kept, the cursor past them, so
    the caller runs or reports them as any poll's jobs (unsaid, a recipe never started kept
    them queued for ever)."""
    found: BaseException | None = exc
    while found is not None:
        ids = getattr(found, QUEUED_BEFORE, None)
        if ids is not None:
            return list(ids)
        found = found.__cause__
    return []


def poll_once(
    studio: Studio,
    recipe: Recipe,
    owner: str | None = None,
    warnings: list[InputError] | None = None,
) -> list[int]:
    """Fetches what is new since the cursor and queues its jobs; returns their ids. An error
    that stops it after pages it wrote names their jobs (`queued_before`). Its jobs are
    `owner`'s (`worker_id`: a process that runs them itself) from the write that queues
    them, so no scheduler sees them meanwhile as its own to run, or to say why they wait.
    Events its conditions could not compare are logged, and added to `warnings` for a
    caller to answer them (`doubt_warnings`).

    A recipe's `batch_size` groups the events of the whole poll, not of each page: a batch
    not yet full is carried to the next page, and written at the poll's last page (or its
    page limit). The cursor written is always before the first event in no job yet, so a
    poll stopped in between (an error, Ctrl-C, a crash) loses nothing: the next one reads
    those events again, the keys of those written telling them apart."""
    from .models import TriggerState

    settings = studio.settings(recipe)
    # Its jobs' row but for their events, made as every job's is (`Studio.job_fields`), on
    # one snapshot of the recipe and its settings: the defaults no value replaces checked as
    # a run's are, before the cursor moves (a `Path` default leading out of projects/ read
    # secret.key), and its dates given as text.
    base = studio.job_fields(recipe, {}, None, "poll", None)
    conn, trigger, spec = open_trigger(studio, recipe)
    store = studio.store
    with store.read() as s:
        state = s.get(TriggerState, recipe.name)
    if state is None:
        # "since" is fixed at the first poll as a first start fixes it (`Studio._fix_since`):
        # the saved one, else now by the store's clock (never earlier: no flood of old events).
        since = settings.get("since") or store.now().isoformat()
        cursor = None
    else:
        since, cursor = state.since, state.cursor
    created: list[int] = []
    doubts: dict[str, list[str]] = {}  # rule -> keys of events it could not compare
    # An app may echo the credential it was called with, or hold another connection's
    # secret: events are shown (job rows, the REST API) with the workspace's secrets
    # masked, as output notebooks are; their recipes get them whole (`Studio.kept_event`).
    secrets = frozenset(studio.held_secrets() | conn.secrets())
    size: int | None = spec.get("batch_size")
    queue = partial(_queue_jobs, studio, base=base, secrets=secrets, size=size, owner=owner)
    given = {json.dumps(cursor, sort_keys=True)}  # the cursors this poll was given
    kept = cursor  # the cursor stored, as the store gives it back
    carried: list[_Passed] = []  # of a batch not yet full: in no job yet, their keys unseen
    try:
        for number in range(PAGES):
            page = trigger.poll(conn, _whole_second(since), cursor)
            moved = json.dumps(page.cursor, sort_keys=True)
            if page.more and moved in given:  # A, B, A...: polled round for ever
                raise ConnectorError(
                    f"{conn.connector.name}.{trigger.name} returned more=True with a cursor "
                    f"it was given before in this poll ({moved[:80]}): its pages go round "
                    "for ever",
                    field=f"triggers.{trigger.name}",
                    fix="return the cursor just past the page's last event with more=True: "
                    "one that only moves forward",
                )
            given.add(moved)
            doubted: dict[str, list[str]] = {}
            last = not page.more or number == PAGES - 1
            with store.write() as s:
                now = store.now(s)  # its jobs are dated as every job is, by the store's clock
                row = s.get(TriggerState, recipe.name)
                if row is not None and (row.since, row.cursor) != (since, kept):
                    log.info("poll of %s gave way: its cursor moved meanwhile", recipe.name)
                    break
                if row is None:
                    row = TriggerState(recipe=recipe.name, since=since, seen=[])
                    s.add(row)
                # De-duplicated against the keys stored now, inside the write: a poll that
                # overlapped this one (another scheduler, `lpstudio poll`) and fetched the same
                # events first has recorded them, and only it queues their jobs.
                seen = list(row.seen or [])
                known = set(seen)
                passed = [carry for carry in carried if carry.key not in known]
                known.update(carry.key for carry in passed)
                for event in page.events:
                    key = trigger.key(event)
                    if key not in known:
                        known.add(key)
                        rules: list[str] = []
                        if matches(event, spec.get("conditions"), rules):
                            passed.append(_Passed(key, event, cursor))
                        else:
                            seen.append(key)
                        for rule in rules:
                            doubted.setdefault(rule, []).append(key)
                whole = len(passed) if last or not size else len(passed) // size * size
                done, carried = passed[:whole], passed[whole:]
                queued = queue(s, [carry.event for carry in done], now)
                seen.extend(carry.key for carry in done)
                # Before the first event in no job yet: the next poll reads it again.
                after = carried[0].cursor if carried else json.loads(moved)
                row.cursor, row.seen, row.updated_at = after, seen[-SEEN_LIMIT:], now
            created.extend(queued)  # once written
            kept = after
            for rule, keys in doubted.items():  # once the events they name are recorded
                doubts.setdefault(rule, []).extend(keys)
            cursor = json.loads(moved)  # as the store gives it back
            if not page.more:
                break
        else:
            log.warning(
                "poll of %s read %d pages, the most a poll reads: the next goes on from its cursor",
                recipe.name,
                PAGES,
            )
    except BaseException as exc:
        if created:
            setattr(exc, QUEUED_BEFORE, list(created))
            log.info(
                "poll of %s stopped after it queued job(s) %s: their events are kept",
                recipe.name,
                ", ".join(map(str, created)),
            )
        raise
    finally:
        conn.close()
        # Masked as its events are: a key is the app's text, which may quote a secret.
        said = [warning.mask(secrets) for warning in doubt_warnings(recipe.name, doubts)]
        for warning in said:
            log.warning("%s", warning)
        if warnings is not None:
            warnings.extend(said)
    return created


class _Passed(NamedTuple):
    """An event that passed the trigger's conditions, with the cursor of its page."""

    key: str
    event: dict[str, Any]
    cursor: Any


def _queue_jobs(
    studio: Studio,
    s: Session,
    events: list[dict[str, Any]],
    now: datetime,
    *,
    base: dict[str, Any],
    secrets: frozenset[str],
    size: int | None,
    owner: str | None,
) -> list[int]:
    """Adds the queued jobs of `events` in `s`: one per event, or per batch of `size`, each
    `base` (`Studio.job_fields`) with its event, held by `owner`."""
    from .models import Job
    from .store import QUEUED

    jobs = [
        Job(
            **{**base, **studio.kept_event(event, secrets), "worker": owner},
            status=QUEUED,
            created_at=now,
            cells_done=0,
            cells_total=0,
        )
        for event in (chunks(events, size) if size else events)
    ]
    s.add_all(jobs)
    s.flush()
    return [job.id for job in jobs]
