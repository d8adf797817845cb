"""Poll triggers: from a durable cursor, oldest first, de-duplicated, one job per event or
per batch. The jobs and the new cursor are written in one transaction, so an event turns
into exactly one job whatever crashes, and a stop, start or restart repeats none.

A poll writes its page only if the trigger's since and cursor are still those it fetched
from: a reset (`lpstudio start --reset-since`) or an overlapping poll that went further
while the page was on its way wins, and the page is dropped (the next poll fetches anew).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .models import Job, TriggerState
from .recipe import Recipe
from .redaction import scrub
from .sdk import chunks
from .store import QUEUED
from .templating import lookup

if TYPE_CHECKING:
    from .studio import Studio

log = logging.getLogger("lpstudio.triggers")

#: How many event keys a trigger remembers for de-duplication.
SEEN_LIMIT = 20_000


def _number(value: Any) -> float | None:
    """A number, or text that reads as one (Shopify sends prices as text: "100.00")."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return actual not in (None, "")
    if op == "contains":
        return actual is not None and str(expected) in str(actual)
    if actual is None:  # an absent field, like a null one, equals no value
        return op == "!=" and expected not in (None, "")
    if isinstance(expected, int | float) and not isinstance(actual, bool):
        try:
            actual = float(actual)
        except (TypeError, ValueError):
            return False
    elif op in ("<", "<=", ">", ">="):
        # As numbers when both read as numbers: as text, "100.00" < "50".
        numbers = _number(actual), _number(expected)
        if None not in numbers:
            actual, expected = numbers
    try:
        return {
            "==": actual == expected,
            "!=": actual != expected,
            ">": actual > expected,
            ">=": actual >= expected,
            "<": actual < expected,
            "<=": actual <= expected,
        }[op]
    except TypeError:
        return False


def matches(event: dict[str, Any], conditions: dict[str, Any] | None) -> bool:
    """Trigger conditions: simple comparisons on record fields, all or any of them."""
    if not conditions:
        return True
    results = [
        _compare(lookup(event, rule["field"]), rule["op"], rule.get("value"))
        for rule in conditions["rules"]
    ]
    return any(results) if conditions.get("match") == "any" else all(results)


def _poll_spec(recipe: Recipe) -> dict[str, Any]:
    """The recipe's poll trigger, or the part of it that is missing, by name."""
    trigger = recipe.metadata.get("trigger", {})
    declare = 'declare {"kind": "poll", "connection": SLOT, "trigger": NAME}'
    if recipe.trigger_kind != "poll":
        raise InputError(
            f"recipe {recipe.name} is triggered by {recipe.trigger_kind}, not polled",
            field="metadata.lpstudio.trigger.kind",
            fix=f"run it now with `lpstudio run {recipe.name}`, or {declare}",
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


def sample_event(studio: Studio, recipe: Recipe) -> Any:
    """One recent trigger event to test a recipe on, of those its trigger conditions pass
    (None for triggers without samples)."""
    if recipe.trigger_kind != "poll":
        return None
    conn, trigger, spec = open_trigger(studio, recipe)
    since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    try:
        page = trigger.poll(conn, since, None)
    finally:
        conn.close()
    passing = [event for event in page.events if matches(event, spec.get("conditions"))]
    if not passing:
        return [] if spec.get("batch_size") else None
    sample = scrub(passing[-1], frozenset(conn.secrets()))  # as a poll keeps its events
    return [sample] if spec.get("batch_size") else sample


def _whole_second(since: str) -> str:
    """Apps keep event times to the second (Shopify does), so a trigger started at 10:00:00.6
    starts its window at 10:00:00: an event of that very second is not lost."""
    try:
        return datetime.fromisoformat(since).replace(microsecond=0).isoformat()
    except ValueError:
        return since


def poll_once(studio: Studio, recipe: Recipe) -> list[int]:
    """Fetches what is new since the cursor and queues its jobs; returns their ids."""
    conn, trigger, spec = open_trigger(studio, recipe)
    settings = studio.settings(recipe)
    store = studio.store
    with store.read() as s:
        state = s.get(TriggerState, recipe.name)
    if state is None:
        # "since" is fixed at the first poll, as the original product fixes it at first start.
        since = settings.get("since") or (datetime.now(UTC) - timedelta(days=1)).isoformat()
        cursor = None
    else:
        since, cursor = state.since, state.cursor
    created: list[int] = []
    # An app may echo the credential it was called with: events are kept (job rows, the
    # REST API, reruns) with the connection's secrets masked, as output notebooks are.
    secrets = frozenset(conn.secrets())
    version = store.snapshot(
        recipe.name,
        recipe.canonical_json,
        {"parameters": settings["parameters"], "connections": settings["connections"]},
        studio.user,
    )
    try:
        while True:
            page = trigger.poll(conn, _whole_second(since), cursor)
            with store.write() as s:
                now = store.now(s)  # its jobs are dated as every job is, by the store's clock
                row = s.get(TriggerState, recipe.name)
                if row is not None and (row.since, row.cursor) != (since, cursor):
                    log.info("poll of %s gave way: its cursor moved meanwhile", recipe.name)
                    return created
                if row is None:
                    row = TriggerState(recipe=recipe.name, since=since, seen=[])
                    s.add(row)
                # De-duplicated against the keys stored now, inside the write: a poll that
                # overlapped this one (another scheduler, `lpstudio poll`) and fetched the same
                # events first has recorded them, and only it queues their jobs.
                seen = list(row.seen or [])
                known = set(seen)
                fresh = []
                for event in page.events:
                    key = trigger.key(event)
                    if key not in known:
                        known.add(key)
                        seen.append(key)
                        if matches(event, spec.get("conditions")):
                            fresh.append(scrub(event, secrets))
                batches: list[Any] = (
                    list(chunks(fresh, spec["batch_size"])) if spec.get("batch_size") else fresh
                )
                jobs = [
                    Job(
                        recipe=recipe.name,
                        version_id=version,
                        status=QUEUED,
                        trigger="poll",
                        parameters=settings["parameters"],
                        event=event,
                        user=studio.user,
                        created_at=now,
                        cells_done=0,
                        cells_total=0,
                    )
                    for event in batches
                ]
                s.add_all(jobs)
                row.cursor, row.seen, row.updated_at = page.cursor, seen[-SEEN_LIMIT:], now
                s.flush()
                created.extend(job.id for job in jobs)
            cursor = json.loads(json.dumps(page.cursor))  # as the store gives it back
            if not page.more:
                return created
    finally:
        conn.close()
