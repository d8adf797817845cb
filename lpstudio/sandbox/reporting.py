"""Outbound Reporting computed from the campaigns the sandbox received.

Every report is built from one row per recipient (`transaction_rows`): analytics are their
sums (`summarise`), so the analytics, transactions and per-campaign reports never disagree.
Real reporting data lags up to 20 minutes; the sandbox's lags by its
`reporting_lag_seconds`, 0 by default (immediate, so that a test can compare what it sent
with what the dashboard would show).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from .campaigns import Campaign
from .settings import SandboxSettings

MAX_WINDOW_MS = 60 * 24 * 3600 * 1000
MAX_TRANSACTIONS_WINDOW_MS = 24 * 3600 * 1000
#: The filters an analytics or transactions request may name, and the fields of their bodies.
FILTERS = ("channels", "handoffids", "skills", "source")
ANALYTICS_FIELDS = ("filters",)
TRANSACTIONS_FIELDS = ("filters", "limit", "offset")
#: Where a campaign may come from; every campaign the sandbox holds came through the API.
SOURCES = ("API", "UI", "LPWF")
#: Statuses of a recipient accepted for sending (the rest were refused at creation).
_ELIGIBLE = frozenset({"DRAFT", "SCHEDULED", "DELIVERED", "NOT_SENT", "SKIPPED"})
#: Statuses that are no failure: waiting for its turn or window, delivered, or opted out.
_NOT_FAILED = frozenset({"DRAFT", "SCHEDULED", "DELIVERED", "SKIPPED"})
_COUNTS = (
    "attempted",
    "eligible",
    "sent",
    "delivered",
    "read",
    "conversationscreated",
    "conversationsclosed",
    "failed",
    "skipped",
)


def analytics_rows(
    campaigns: list[Campaign], start_ms: int, end_ms: int, now: float, settings: SandboxSettings
) -> list[dict[str, Any]]:
    """One row per (channel, skill, UTC day) of campaigns received in [start_ms, end_ms]."""
    return summarise(transaction_rows(campaigns, start_ms, end_ms, now, settings, {}))


def summarise(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The analytics of per-recipient `rows`: one row per (channel, skill, UTC day).

    `eligible` counts the recipients accepted for sending, `sent` and `delivered` those
    delivered so far. `failed` counts those refused at creation and those accepted but
    `NOT_SENT` (past the channel's daily cap: neither delivered nor opted out, unlike
    `SKIPPED`), each under its error code in `error_aggregation` (the errorMessage up to
    its first colon). The sandbox has no consumers to read, reply or opt out, so `read`,
    the conversation counts and `skipped` stay 0 and `csat` is null.
    """
    summaries: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        day = datetime.fromtimestamp(row["attemptedTime"] / 1000, UTC).date().isoformat()
        key = (row["channel"], row["skill"], day)
        summary = summaries.setdefault(key, _empty_row(*key))
        status = row["status"]
        summary["attempted"] += 1
        summary["eligible"] += status in _ELIGIBLE
        summary["sent"] += status == "DELIVERED"
        summary["delivered"] += status == "DELIVERED"
        summary["skipped"] += status == "SKIPPED"
        if status not in _NOT_FAILED:
            summary["failed"] += 1
            if row["errorMessage"]:
                summary["error_aggregation"][row["errorMessage"].partition(":")[0]] += 1
    for summary in summaries.values():
        summary["error_aggregation"] = dict(summary["error_aggregation"])
    return [summaries[key] for key in sorted(summaries)]


def _empty_row(channel: str, skill: str, day: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "skill": skill,
        "day": day,
        **dict.fromkeys(_COUNTS, 0),
        "csat": None,
        "error_aggregation": Counter(),
    }


def refuse_unknown(given: Iterable[str], known: Sequence[str], what: str, where: str = "") -> None:
    """ValueError naming the first of `given` that is not `known`, and the known ones: an
    ignored typo (`skill` for `skills`) would filter nothing and answer every row."""
    for name in given:
        if name not in known:
            raise ValueError(f"Unknown {what}{where}: {name} (known {what}s: {', '.join(known)})")


def check_filters(filters: Any) -> dict[str, list[str]]:
    """The `filters` of an analytics or transactions request (absent or null: none);
    ValueError naming what is wrong. `source` takes only the known sources, since a
    misspelt one would silently keep no row."""
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise ValueError("filters must map names to lists of strings")
    refuse_unknown(filters, FILTERS, "filter")
    for name, values in filters.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"The filter {name} must be a list of strings")
    refuse_unknown(filters.get("source", []), SOURCES, "source")
    return filters


def transaction_rows(
    campaigns: list[Campaign],
    start_ms: int,
    end_ms: int,
    now: float,
    settings: SandboxSettings,
    filters: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """One row per recipient of the campaigns received in [start_ms, end_ms], oldest first,
    kept when its channel, skill, handoff and source pass the `channels`, `skills`,
    `handoffids` and `source` filters (an absent or empty filter keeps all). Every campaign
    the sandbox holds came through the API, so its source is "API" (not "UI" or "LPWF").
    The sandbox defines the row's shape: `address` is the recipient's on the campaign's
    channel (null when the request gave none). Reporting lags `reporting_lag_seconds`
    behind `now`: a campaign received since is not reported yet, the others as they stood
    then."""
    rows: list[dict[str, Any]] = []
    reported = now - settings.reporting_lag_seconds
    for campaign in campaigns:
        attempted = int(campaign.received_at * 1000)
        if campaign.received_at > reported or not start_ms <= attempted <= end_ms:
            continue
        facts = {
            "channels": campaign.channel,
            "skills": campaign.request["skill"],
            "handoffids": campaign.handoff["id"],
            "source": "API",
        }
        if any(filters.get(name) and value not in filters[name] for name, value in facts.items()):
            continue
        for consumer, status, error in campaign.outcomes(reported, settings):
            rows.append(
                {
                    "proactiveCampaignId": campaign.id,
                    "handoffId": campaign.handoff["id"],
                    "channel": campaign.channel,
                    "skill": campaign.request["skill"],
                    "consumerId": consumer["id"],
                    "address": consumer["address"],
                    "status": status,
                    "errorMessage": error,
                    "attemptedTime": attempted,
                }
            )
    return rows
