"""An API client's rate and quota together: a request either limit refuses counts in neither.

A bot past its quota honours `Retry-After` and comes back: each refused retry must be told
about the quota again (`QuotaExceeded`, waiting until its oldest counted call is a day old),
never that it is calling too fast, however often it retries, on whichever server.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.servers import serving
from tests.test_api_client_quota import (  # noqa: F401 (fixtures)
    DAY,
    make_client,
    server,
    ws,
)
from tests.test_server import assert_error, call


def refused_for(answer: httpx.Response, code: str, field: str) -> int:
    """The `Retry-After` seconds of a 429 refusal with `code`, naming `field`."""
    error = assert_error(answer, 429, field)
    assert error["code"] == code, error
    return int(answer.headers["Retry-After"])


def a_minute_passes(ws: Path) -> None:  # noqa: F811 (the fixture's value)
    """Every call counted in the machine's rate file moves a minute into the past, as if a
    minute had passed (a test cannot sleep for it)."""
    with sqlite3.connect(ws / ".runtime" / "api-rates.sqlite") as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in tables:
            db.execute(f'UPDATE "{table}" SET item_timestamp = item_timestamp - 61000')


def test_a_client_past_its_quota_is_told_so_on_every_retry(
    server: str,  # noqa: F811 (the fixture)
    ws: Path,  # noqa: F811 (the fixture)
) -> None:
    """The reviewer's bot: 2 calls a minute, 1 a day; its retries, on two servers, are all
    refused by the quota, each waiting for the one call served to be a day old."""
    bot = make_client(server, "retrying-bot", rate_per_minute=2, quota_per_day=1)
    served = call(server, bot["token"], "double", {"n": 1})
    assert (served.status_code, served.json()) == (200, {"double": 2})
    retries = [call(server, bot["token"], "double", {"n": 2}) for _ in range(2)]
    with serving(ws, name="second") as second:
        retries.append(call(second.url, bot["token"], "double", {"n": 2}))
    waits = [refused_for(r, "QuotaExceeded", "quota_per_day") for r in retries]
    assert all(DAY - 120 < w <= DAY for w in waits), waits
    assert waits == sorted(waits, reverse=True), waits  # the same call, ever nearer a day old


def test_a_request_either_limit_refuses_counts_in_neither(
    server: str,  # noqa: F811 (the fixture)
    ws: Path,  # noqa: F811 (the fixture)
) -> None:
    """4 a minute, 6 a day: the rate's refusals leave the quota whole, the quota's refusals
    leave the rate free, and every call served counts in both."""
    bot = make_client(server, "steady-bot", rate_per_minute=4, quota_per_day=6)
    bad = {"bad": True}  # answered 400 by the recipe's input schema: served, and counted
    first = [call(server, bot["token"], "double", bad) for _ in range(5)]
    assert [a.status_code for a in first[:4]] == [400] * 4
    assert refused_for(first[4], "TooManyRequests", "rate_per_minute") <= 60
    a_minute_passes(ws)
    second = [call(server, bot["token"], "double", bad) for _ in range(4)]
    # 4 + 2 served fill the quota: the rate's refusal above took none of it.
    assert [a.status_code for a in second[:2]] == [400] * 2
    waits = [refused_for(a, "QuotaExceeded", "quota_per_day") for a in second[2:]]
    with serving(ws, name="second") as other:
        waits += [
            refused_for(
                call(other.url, bot["token"], "double", bad), "QuotaExceeded", "quota_per_day"
            )
            for _ in range(2)
        ]
    # The oldest counted call is a minute old: it leaves the day a minute sooner.
    assert all(DAY - 180 < w <= DAY - 60 for w in waits), waits


def test_clients_whose_names_differ_only_in_punctuation_keep_their_own_counts(
    server: str,  # noqa: F811 (the fixture)
) -> None:
    """The reviewer's clients: `q-a` spent its 2 calls a minute, `q_a` (the same rate) had
    spent none, and its first call ever must be served. So must `a`'s, once `a_5_60000`
    spent its quota: a name and its rates' numbers do not run together either."""

    def statuses(client: dict[str, Any], calls: int) -> list[int]:
        return [call(server, client["token"], "double", {"n": 1}).status_code for _ in range(calls)]

    spent = make_client(server, "q-a", rate_per_minute=2)
    fresh = make_client(server, "q_a", rate_per_minute=2)
    assert statuses(spent, 2) == [200, 200]
    assert statuses(fresh, 1) == [200]
    spent = make_client(server, "a_5_60000", rate_per_minute=60, quota_per_day=6)
    fresh = make_client(server, "a", rate_per_minute=5, quota_per_day=6)
    assert statuses(spent, 6) == [200] * 6
    assert statuses(fresh, 1) == [200]
