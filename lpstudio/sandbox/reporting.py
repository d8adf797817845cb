"""Outbound Reporting analytics computed from the campaigns the sandbox received.

Real reporting data lags up to 20 minutes; the sandbox's is immediate, so a test can
compare what it sent with what the dashboard would show.
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
#: The filters a transactions request may name, and the fields of its body.
FILTERS = ("channels", "handoffids", "skills", "source")
TRANSACTIONS_FIELDS = ("filters", "limit", "offset")
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
    """One row per (channel, skill, UTC day) of campaigns received in [start_ms, end_ms].

    `sent` and `delivered` count recipients delivered by `now`; the sandbox has no
    consumers to read, reply or opt out, so `read`, the conversation counts and `skipped`
    stay 0 and `csat` is null.
    """
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for campaign in campaigns:
        if not start_ms <= campaign.received_at * 1000 <= end_ms:
            continue
        day = datetime.fromtimestamp(campaign.received_at, UTC).date().isoformat()
        key = (campaign.channel, campaign.request["skill"], day)
        row = rows.setdefault(key, _empty_row(*key))
        outcomes = campaign.outcomes(now, settings)
        delivered = sum(status == "DELIVERED" for _, status, _ in outcomes)
        row["attempted"] += len(campaign.accepted) + len(campaign.failed)
        row["eligible"] += len(campaign.accepted)
        row["sent"] += delivered
        row["delivered"] += delivered
        row["failed"] += len(campaign.failed)
        row["error_aggregation"].update(f["errorMessage"] for f in campaign.failed)
    for row in rows.values():
        row["error_aggregation"] = dict(row["error_aggregation"])
    return [rows[key] for key in sorted(rows)]


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
    """The `filters` of a transactions request; ValueError naming what is wrong."""
    if not isinstance(filters, dict):
        raise ValueError("filters must map names to lists of strings")
    refuse_unknown(filters, FILTERS, "filter")
    for name, values in filters.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"The filter {name} must be a list of strings")
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
    The sandbox defines the row's shape."""
    rows: list[dict[str, Any]] = []
    for campaign in campaigns:
        attempted = int(campaign.received_at * 1000)
        if not start_ms <= attempted <= end_ms:
            continue
        facts = {
            "channels": campaign.channel,
            "skills": campaign.request["skill"],
            "handoffids": campaign.handoff["id"],
            "source": "API",
        }
        if any(filters.get(name) and value not in filters[name] for name, value in facts.items()):
            continue
        for consumer, status, error in campaign.outcomes(now, settings):
            rows.append(
                {
                    "proactiveCampaignId": campaign.id,
                    "handoffId": campaign.handoff["id"],
                    "channel": campaign.channel,
                    "skill": campaign.request["skill"],
                    "consumerId": consumer["id"],
                    "status": status,
                    "errorMessage": error,
                    "attemptedTime": attempted,
                }
            )
    return rows
