"""Outbound Reporting 2.0: message volumes (analytics), a row per recipient attempted
(transactions) and one campaign's rows (the campaign report).

Every request is a read through `LivePersonClient.read_json`, so it keeps to the account's
rate limit, waits out 429s and fetches a new token once when LivePerson refuses its token,
as every LivePerson request does. Windows are checked here, before anything is asked:
LivePerson would refuse a longer one only after the token and the rate limit were spent.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from lpstudio.errors import InputError
from lpstudio.sdk import Connection, ConnectorError, aware

from .client import LivePersonClient

#: Outbound Reporting answers at most 60 days per analytics request.
ANALYTICS_WINDOW_MS = 60 * 24 * 3600 * 1000
#: Outbound Reporting's transactions: at most 24 hours per request, 5000 rows per page.
TRANSACTIONS_WINDOW_MS = 24 * 3600 * 1000
TRANSACTIONS_PAGE = 5000
#: The window of the analytics a connection test reads (`reach`): the last minute.
REACH_WINDOW_MS = 60 * 1000
#: Where a campaign may come from, as the `source` filter names it.
SOURCES = ["API", "UI", "LPWF"]
#: Each filter input and its name in the request's `filters`.
FILTERS = {
    "channels": "channels",
    "skills": "skills",
    "handoff_ids": "handoffids",
    "source": "source",
}


def _millis(value: Any, field: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (UTC when it has no offset)."""
    if isinstance(value, int | float):
        return int(value)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InputError(
            f"'{field}' is not a time: {value!r}",
            field=field,
            fix="give epoch milliseconds or an ISO 8601 time such as 2026-11-01T00:00:00Z",
        ) from None
    return int(aware(moment).timestamp() * 1000)


def _window(data: dict[str, Any], longest_ms: int, longest: str) -> dict[str, int]:
    """The query's window in epoch ms, checked against the reporting API's before asking."""
    start, end = _millis(data["start"], "start"), _millis(data["end"], "end")
    if end < start:
        raise InputError("'end' is before 'start'", field="end", fix="swap start and end")
    if end - start > longest_ms:
        raise InputError(
            f"the window from 'start' to 'end' is longer than LivePerson's {longest}",
            field="start",
            fix=f"give an 'end' at most {longest} after 'start': ask for a longer window in "
            f"pieces of at most {longest}, one after another",
        )
    return {"attemptedStartTime": start, "attemptedEndTime": end}


def _filters(data: dict[str, Any]) -> dict[str, list[str]]:
    """The filters given, by LivePerson's names; an empty one keeps every row, as none."""
    return {name: list(data[key]) for key, name in FILTERS.items() if data.get(key)}


def dry_run(
    conn: Connection, answer: dict[str, Any], method: str, url: str, **request: Any
) -> dict[str, Any]:
    """A real answer's keys (no rows) beside the request it would send, as a dry
    `send_campaign` answers: a cell that reads the rows passes its Test too."""
    return {**answer, "dry_run": True, "requests": [conn.would_send(method, url, **request)]}


def analytics(conn: Connection, data: dict[str, Any]) -> Any:
    """Message volumes by channel, skill and day; filtered through LivePerson's POST form
    when a filter is given, else its GET form."""
    params = _window(data, ANALYTICS_WINDOW_MS, "60 days")
    filters = _filters(data)
    method, body = ("POST", {"json": {"filters": filters}}) if filters else ("GET", {})
    client = LivePersonClient(conn)
    path = f"/api/account/{client.account}/app/prmsg/analytics/"
    if conn.dry_run:
        url = f"{client.host('reporting')}{path}"
        return dry_run(conn, {"data": []}, method, url, params=params, **body)
    return client.read_json(method, "reporting", path, params=params, **body)


def transactions(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """One row per recipient attempted within at most 24 hours, every page of it:
    `{"data": [...]}`."""
    params = {**_window(data, TRANSACTIONS_WINDOW_MS, "24 hours"), "v": "2.0"}
    filters = _filters(data)
    client = LivePersonClient(conn)
    if conn.dry_run:
        url = f"{client.host('reporting')}/api/account/{client.account}/app/prmsg/transactions/"
        first = {"offset": 0, "limit": TRANSACTIONS_PAGE, "filters": filters}
        return dry_run(conn, {"data": []}, "POST", url, params=params, json=first)
    rows: list[Any] = []
    while True:
        answer = client.read_json(
            "POST",
            "reporting",
            f"/api/account/{client.account}/app/prmsg/transactions/",
            params=params,
            json={"offset": len(rows), "limit": TRANSACTIONS_PAGE, "filters": filters},
        )
        page = answer.get("data") if isinstance(answer, dict) else answer
        page = page if isinstance(page, list) else []
        rows.extend(page)
        if len(page) < TRANSACTIONS_PAGE:
            return {"data": rows}


def campaign_report(conn: Connection, data: dict[str, Any]) -> Any:
    """A row per recipient of one campaign, whenever it was sent; an unknown campaign is
    an error naming it (reporting lags up to 20 minutes behind a send)."""
    campaign_id = data["campaign_id"]
    client = LivePersonClient(conn)
    path = f"/api/account/{client.account}/app/prmsg/campaigns/{campaign_id}/"
    if conn.dry_run:
        answer = {"proactiveCampaignId": campaign_id, "data": []}
        return dry_run(conn, answer, "GET", f"{client.host('reporting')}{path}")
    try:
        return client.get_json("reporting", path)
    except ConnectorError as exc:
        if exc.status != 404:
            raise
        raise ConnectorError(
            f"no report of campaign {campaign_id!r}: {exc.message}",
            status=404,
            field="campaign_id",
            fix="give a proactiveCampaignId that send_campaign answered (in its campaigns) "
            "on this account; a campaign sent in the last 20 minutes may not be reported yet",
        ) from None


def reach(conn: Connection) -> None:
    """Proves that Outbound Reporting's host answers and takes the connection's token, with
    a read that changes nothing (API-FACTS.md, "Outbound Reporting 2.0"): the analytics of
    the last minute. Raises the error naming the connection field to fix when it fails."""
    end = int(time.time() * 1000)
    analytics(conn, {"start": end - REACH_WINDOW_MS, "end": end})
