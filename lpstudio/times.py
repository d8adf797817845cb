"""Moments given by users: an ISO date or time, or a duration back from now (2h, 7d); and
the one rule for a time without an offset (a naive datetime) from elsewhere: it is UTC
(a user's own, on the command line or in Python, is in this machine's zone)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from .errors import InputError, quoted

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

#: The earliest moment taken: no job, version or event of lpstudio is older, and a year-1
#: since west of UTC is no local time at all (printing it back crashed the command that
#: had just saved it).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def aware(value: datetime) -> datetime:
    """`value` with a zone: a naive value is taken to be UTC, an aware one is kept as it is
    (an app's own offset, quoted back to it in a cursor; no year-1 time moved out of range)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive value is taken to be UTC already."""
    return aware(value).astimezone(UTC)


def local_text(moment: datetime | str) -> str:
    """A stored time (aware, UTC) as the command line prints every time: in the machine's
    zone, to the second, so that it reads like `jobs` and can be given back to `--since` as
    it is. Never raises: a time the zone cannot show (a year-1 time west of UTC, a year-9999
    one east of it) is printed with its own offset, and a naive one is UTC, as `aware` has
    it."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    moment = aware(moment)
    try:
        local = moment.astimezone().replace(tzinfo=None)
    except (OverflowError, ValueError, OSError):  # past the calendar's ends in this zone
        return moment.isoformat(sep=" ", timespec="seconds")
    return local.isoformat(sep=" ", timespec="seconds")


def said_at(moment: datetime, local: bool) -> str:
    """A time in a sentence: with `local` as the command line prints it (`local_text`), else
    in ISO form in UTC, as the REST API gives times to callers in other zones."""
    return local_text(moment) if local else as_utc(moment).isoformat(timespec="seconds")


def parse_moment(value: str | datetime, field: str, local: bool = False) -> datetime:
    """An aware UTC datetime from `2026-11-01`, `2026-11-01T09:00:00+01:00` or `2h` (ago).
    A date or time without a zone is UTC, or with `local` in this machine's zone: the
    command line prints times in it (the REST API, whose callers are elsewhere, does not);
    a Python caller's datetime is read the same way (a naive one with `local` as
    `datetime.now()` gives it). Errors quote `value` as it was typed."""
    moment = _moment(value, field, local)
    if moment is None:
        raise InputError(
            f"{field} {quoted(_typed(value))} is too far ahead: past the year 9999 in UTC",
            field=field,
            fix="give a moment before the year 10000 in UTC, such as 2026-11-01, or a "
            "duration back from now such as 2h or 7d",
        )
    return moment


def poll_start(text: str, field: str, local: bool = False) -> datetime:
    """Where a poll trigger starts: a moment as `parse_moment` reads it, not in the future
    (a poll from 2099 finds nothing until then, and says nothing meanwhile; one past the
    year 9999 neither)."""
    moment = _moment(text, field, local)
    if moment is None or moment > datetime.now(UTC) + timedelta(minutes=1):
        raise InputError(
            f"{field} {quoted(text)} is in the future: the poll would find nothing until then",
            field=field,
            fix="give a moment in the past, such as 2h, 7d or an earlier date",
        )
    return moment


def _typed(value: str | datetime) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _moment(value: str | datetime, field: str, local: bool) -> datetime | None:
    """`value` as an aware UTC datetime, as `parse_moment` reads it; None past the year 9999
    in UTC, which each caller refuses in its own words (for a poll, a start in the future).
    Refuses a moment before 1970 in UTC (`EARLIEST`), by `field`."""
    text = _typed(value)
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    try:
        if match:
            delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
            moment = datetime.now(UTC) - delta
        else:
            moment = _in_utc(value if isinstance(value, datetime) else _iso(text), local)
    except OverflowError:  # before year 1 once made UTC, or a duration longer than that
        moment = datetime.min.replace(tzinfo=UTC)  # before any, refused below
    except ValueError:
        raise InputError(
            f"{field} {quoted(text)} is neither a date nor a duration",
            field=field,
            fix=_plus_fix(text)
            or "give an ISO date such as 2026-11-01 or a duration such as 2h or 7d",
        ) from None
    if moment is not None and moment < EARLIEST:
        raise InputError(
            f"{field} {quoted(text)} is too far back: before 1970 in UTC",
            field=field,
            fix="give a moment from 1970-01-01T00:00:00+00:00 on, such as 2026-11-01, or a "
            "shorter duration such as 30d",
        )
    return moment


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _in_utc(moment: datetime, local: bool) -> datetime | None:
    """`moment` in UTC, a naive one in this machine's zone with `local` (`_local`); None
    past the year 9999 in UTC. Raises OverflowError before the year 1 in UTC. A subclass
    (pandas' Timestamp, whose `astimezone` needs a zone) is read as the datetime it holds."""
    moment = datetime.combine(moment.date(), moment.timetz())  # to the microsecond
    if moment.tzinfo is None and local:
        moment = _local(moment)
    try:
        return as_utc(moment)
    except OverflowError:
        if moment.year == datetime.max.year:
            return None
        raise


def _local(naive: datetime) -> datetime:
    """`naive` as a time of this machine's zone, read as the scheduler reads a schedule's
    (`scheduler.due_times`): a wall-clock time met twice as clocks go back is its first
    pass, one skipped as they go forward is the first moment after the gap (`astimezone`
    read 02:30 of a skipped hour as 01:30). At the calendar's ends, which `astimezone`
    cannot reach, with the zone's offset there (read as UTC, 9999-12-31T23:00 in New York
    was taken, though past the year 9999 in UTC)."""
    try:
        first = naive.replace(fold=0).astimezone()
    except (ValueError, OverflowError):
        late = naive.year == datetime.max.year
        edge = datetime.max - timedelta(days=2) if late else datetime.min + timedelta(days=2)
        offset = edge.replace(tzinfo=UTC).astimezone().utcoffset() or timedelta(0)
        return naive.replace(tzinfo=timezone(offset))
    if first.replace(tzinfo=None) == naive:
        return first
    # In a gap: between the two readings, the first second whose wall clock is past it.
    ends = sorted((first.timestamp(), naive.replace(fold=1).astimezone().timestamp()))
    before, after = math.floor(ends[0]), math.ceil(ends[1])
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle) < naive:
            before = middle
        else:
            after = middle
    return datetime.fromtimestamp(after, UTC)


def _plus_fix(text: str) -> str | None:
    """The fix for a time whose offset's `+` became a space, as a `+` in a URL's query
    does unless written `%2B` (`2026-12-02T02:05:00 00:00`); None for any other text."""
    head, space, tail = text.strip().rpartition(" ")
    try:
        if not space or _iso(f"{head}+{tail}").tzinfo is None:
            return None
    except ValueError:
        return None
    return (
        f"give the offset with its sign, {head}+{tail}; in a URL's query write the + as "
        f"%2B ({head}%2B{tail}): a + there reads as a space"
    )
