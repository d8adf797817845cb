"""Moments given by users: an ISO date or time, or a duration back from now (2h, 7d); and
the one rule for a time without an offset (a naive datetime): it is UTC."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta

from .errors import InputError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def aware(value: datetime) -> datetime:
    """`value` with a zone: a naive value is taken to be UTC, an aware one is kept as it is
    (an app's own offset, quoted back to it in a cursor; no year-1 time moved out of range)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive value is taken to be UTC already."""
    return aware(value).astimezone(UTC)


def parse_moment(text: str, field: str, local: bool = False) -> datetime:
    """An aware UTC datetime from `2026-11-01`, `2026-11-01T09:00:00+01:00` or `2h` (ago).
    A date or time without a zone is UTC, or with `local` in this machine's zone: the
    command line prints times in it (the REST API, whose callers are elsewhere, does not).
    Errors quote `text` as it was typed."""
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    try:
        if match:
            delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
            return datetime.now(UTC) - delta
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None and local:
            with contextlib.suppress(ValueError, OverflowError):  # the calendar's ends: UTC
                moment = moment.astimezone()
        return as_utc(moment)
    except OverflowError:  # before year 1 once made UTC, or a duration longer than that
        raise InputError(
            f"{field} {text!r} is too far back",
            field=field,
            fix="give a date after the year 1 or a shorter duration such as 30d",
        ) from None
    except ValueError:
        raise InputError(
            f"{field} {text!r} is neither a date nor a duration",
            field=field,
            fix="give an ISO date such as 2026-11-01 or a duration such as 2h or 7d",
        ) from None


def poll_start(text: str, field: str, local: bool = False) -> datetime:
    """Where a poll trigger starts: a moment as `parse_moment` reads it, not in the future
    (a poll from 2099 finds nothing until then, and says nothing meanwhile)."""
    moment = parse_moment(text, field, local)
    if moment > datetime.now(UTC) + timedelta(minutes=1):
        raise InputError(
            f"{field} {text!r} is in the future: the poll would find nothing until then",
            field=field,
            fix="give a moment in the past, such as 2h, 7d or an earlier date",
        )
    return moment
