"""Proactive Messaging campaigns: strict request checking and status over time.

Kept free of HTTP so the rules read as the API-FACTS.md table does. A malformed request is
rejected whole (`CampaignRejected`, answered 400); a well-formed one is split into accepted
and failed recipients, each failure carrying LivePerson's per-recipient error code.
`templateId` names an API handoff, or a WhatsApp or SMS template sent from the request's
`outboundNumber`.

Accepted recipients then wait for their turn on the campaign's channel (which sends at a
steady pace) and are sent only within the channel's daily cap; both are fixed when the
campaign is accepted (`Sending`).

The SMS window is kept in the recipient's local time, daylight saving included: the
number's longest known prefix (a North American area code, else a country calling code)
names its time zone; numbers of other places count as UTC.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..sdk import is_e164
from .seed import placeholders
from .settings import SandboxSettings

REQUIRED_FIELDS = ("campaignName", "skill", "templateId", "consent", "consumers")
PHONE_CHANNELS = frozenset({"sms", "wa"})
MAX_VARIABLE_LENGTH = 1550
HEADER_KINDS = frozenset({"image", "video", "document"})

_OUTBOUND_NUMBER = re.compile(r"\+?[0-9]{1,16}")  # ASCII digits: \d takes any script's
#: Per-recipient errors that are a conversation status of their own; the rest are FAILED.
_STATUS_ERRORS = frozenset({"TOO_MANY_VARIABLES"})

#: Time zone -> calling-code prefixes (digits after "+"); the longest matching prefix wins.
_ZONE_PREFIXES = {
    "America/New_York": ("1",),  # and North American area codes not listed below
    "America/Los_Angeles": (
        *("1206", "1213", "1310", "1323", "1408", "1415", "1503"),
        *("1510", "1619", "1650", "1702", "1714", "1818", "1916"),
    ),
    "America/Denver": ("1303", "1385", "1505", "1720", "1801"),
    "America/Phoenix": ("1480", "1520", "1602", "1623", "1928"),
    "America/Chicago": (
        *("1214", "1312", "1469", "1512", "1612", "1615"),
        *("1713", "1773", "1817", "1832", "1972"),
    ),
    "America/Anchorage": ("1907",),
    "Pacific/Honolulu": ("1808",),
    "America/Vancouver": ("1604", "1778"),
    "America/Edmonton": ("1403", "1587", "1780"),
    "Europe/Amsterdam": ("31",),
    "Europe/Paris": ("33",),
    "Europe/Madrid": ("34",),
    "Europe/Rome": ("39",),
    "Europe/London": ("44",),
    "Europe/Berlin": ("49",),
    "America/Mexico_City": ("52",),
    "America/Sao_Paulo": ("55",),
    "Australia/Sydney": ("61",),
    "Asia/Singapore": ("65",),
    "Asia/Tokyo": ("81",),
    "Asia/Kolkata": ("91",),
    "Europe/Dublin": ("353",),
    "Asia/Jerusalem": ("972",),
}
_ZONES = {prefix: zone for zone, prefixes in _ZONE_PREFIXES.items() for prefix in prefixes}


class CampaignRejected(ValueError):
    """The whole campaign request is refused (HTTP 400); nothing was accepted."""


@dataclass(frozen=True)
class Sending:
    """How a campaign's accepted recipients leave its channel, fixed when it is accepted.

    Attributes:
        sendable: how many of them (the first ones) fit in the channel's daily cap; the
            rest are never sent.
        daily_limit: that cap, named in the error of those not sent.
        wait: seconds the first waits behind earlier campaigns' messages on the channel.
        interval: seconds between two of its messages.
    """

    sendable: int
    daily_limit: int
    wait: float
    interval: float

    def turn(self, index: int) -> float:
        """Seconds from the campaign being processed until its recipient `index` is sent."""
        return self.wait + index * self.interval

    def not_sent_error(self, channel: str) -> str:
        """The `errorMessage` of a recipient past the cap: it names the daily limit."""
        return (
            f"DAILY_LIMIT_REACHED: the daily limit of {self.daily_limit} {channel} "
            "recipients (per UTC day) was reached"
        )


@dataclass
class Campaign:
    """One accepted campaign request and what became of each recipient."""

    number: int
    handoff: dict[str, Any]
    request: dict[str, Any]
    accepted: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    received_at: float
    request_trace_id: str
    sending: Sending
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    answer_dropped: bool = False

    @property
    def channel(self) -> str:
        """The channel messages go out on: the handoff's first (highest priority) one, or
        the template's."""
        return self.handoff["channels"][0]["channel"]

    def answer(self) -> dict[str, Any]:
        """The body of the 200 answer to the create request."""
        return {
            "proactiveCampaignId": self.id,
            "leCampaignId": str(3_000_000_000 + self.number),
            "leEngagementId": str(4_000_000_000 + self.number),
            "requestTraceId": self.request_trace_id,
            "acceptedConsumers": self.accepted,
            "failedConsumers": self.failed,
        }

    def outcomes(
        self, now: float, settings: SandboxSettings
    ) -> list[tuple[dict[str, Any], str, str | None]]:
        """(recipient, status, errorMessage) of every recipient at `now` (epoch seconds):
        accepted ones progress DRAFT -> (SCHEDULED) -> DELIVERED, or are NOT_SENT past the
        daily cap; failed ones stay. A campaign progress of 0 skips the channel's queue."""
        ready = self.received_at + settings.campaign_progress_seconds
        paced = settings.campaign_progress_seconds > 0
        rows: list[tuple[dict[str, Any], str, str | None]] = []
        for index, consumer in enumerate(self.accepted):
            if index >= self.sending.sendable:
                rows.append((consumer, "NOT_SENT", self.sending.not_sent_error(self.channel)))
                continue
            turn = ready + self.sending.turn(index) if paced else ready
            deliver = delivery_time(self.channel, consumer["address"], turn, settings)
            if now < turn:
                rows.append((consumer, "DRAFT", None))
            elif deliver is None or now < deliver:
                rows.append((consumer, "SCHEDULED", None))
            else:
                rows.append((consumer, "DELIVERED", None))
        for failure in self.failed:
            error = failure["errorMessage"]
            rows.append((failure, error if error in _STATUS_ERRORS else "FAILED", error))
        return rows

    def conversations(self, now: float, settings: SandboxSettings) -> dict[str, Any]:
        """The body of the status answer: FINISHED once every accepted recipient is
        delivered or not sent, FAILED when none was delivered."""
        outcomes = self.outcomes(now, settings)
        accepted = {status for _, status, _ in outcomes[: len(self.accepted)]}
        if accepted - {"DELIVERED", "NOT_SENT"}:
            campaign_status = "IN_PROGRESS"
        elif "DELIVERED" in accepted:
            campaign_status = "FINISHED"
        else:
            campaign_status = "FAILED"
        rows = [
            {"id": c["id"], "status": status, "conversationId": None, "errorMessage": error}
            for c, status, error in outcomes
        ]
        return {"campaignStatus": campaign_status, "conversations": rows}

    def to_record(self, now: float, settings: SandboxSettings) -> dict[str, Any]:
        """What the control API shows: the request as received and what it led to."""
        return {
            **self.answer(),
            "receivedAt": self.received_at,
            "answerDropped": self.answer_dropped,
            "request": self.request,
            "campaignStatus": self.conversations(now, settings)["campaignStatus"],
        }


def recipient_zone(address: str) -> ZoneInfo:
    """The time zone of the place `address` rings in (UTC when the prefix is unknown)."""
    digits = address.lstrip("+")
    for length in range(4, 0, -1):
        if digits[:length] in _ZONES:
            return ZoneInfo(_ZONES[digits[:length]])
    return ZoneInfo("UTC")


def delivery_time(
    channel: str, address: str, ready: float, settings: SandboxSettings
) -> float | None:
    """When a message ready at `ready` is delivered; None if the SMS window never opens.

    Opening and closing are wall-clock hours of the recipient's day, so on a day that
    daylight saving shortens or lengthens they still fall at those hours.
    """
    if channel != "sms":
        return ready
    start, end = settings.sms_window_start_hour, settings.sms_window_end_hour
    if start >= end:
        return None
    zone = recipient_zone(address)
    today = datetime.fromtimestamp(ready, zone).date()

    def at(day: date, hour: int) -> float:
        return (datetime.combine(day, time(), zone) + timedelta(hours=hour)).timestamp()

    if ready < at(today, end):
        return max(ready, at(today, start))
    return at(today + timedelta(days=1), start)


def check_request(
    body: Any,
    handoffs: dict[str, dict[str, Any]],
    templates: dict[str, dict[str, Any]],
    max_recipients: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Check a create request: (handoff, accepted, failed), or raise CampaignRejected.

    For a template id the handoff is the one the request makes of it (`_template_handoff`).
    """
    if not isinstance(body, dict):
        raise CampaignRejected("Request body must be a JSON object")
    missing = [name for name in REQUIRED_FIELDS if body.get(name) is None]
    if missing:
        raise CampaignRejected(f"Fields missing in request: {', '.join(missing)}")
    for name, limit in (("campaignName", 255), ("skill", 255), ("templateId", 32)):
        if not isinstance(body[name], str) or not body[name].strip():
            raise CampaignRejected(f"{name} must be a non-empty string")
        if len(body[name]) > limit:
            raise CampaignRejected(f"{name} must be at most {limit} characters")
    number = body.get("outboundNumber")
    if number is not None and not (isinstance(number, str) and _OUTBOUND_NUMBER.fullmatch(number)):
        raise CampaignRejected("outboundNumber must be a number of at most 16 digits")
    if body["consent"] is not True:
        raise CampaignRejected("consent must be true")
    handoff = handoffs.get(body["templateId"]) or _template_handoff(body, templates)
    consumers = body["consumers"]
    if not isinstance(consumers, list) or not consumers:
        raise CampaignRejected("consumers must be a non-empty list")
    if len(consumers) > max_recipients:
        raise CampaignRejected(
            f"Too many consumers in request: {len(consumers)}, at most {max_recipients}"
        )
    for index, consumer in enumerate(consumers):
        _check_shape(index, consumer)
    return handoff, *_split(consumers, handoff)


def _template_handoff(body: dict[str, Any], templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A one-channel handoff for the template `templateId` names, sent from the request's
    `outboundNumber` (required, as no saved handoff carries one); its id is None."""
    template = templates.get(body["templateId"])
    if template is None:
        raise CampaignRejected(f"Unknown templateId: {body['templateId']}")
    if body.get("outboundNumber") is None:
        raise CampaignRejected("Fields missing in request: outboundNumber")
    channel = {
        "channel": template["channel"],
        "outboundNumber": body["outboundNumber"],
        "templateId": template["id"],
        "template": template["template"],
    }
    return {"id": None, "channels": [channel]}


def _check_shape(index: int, consumer: Any) -> None:
    if not isinstance(consumer, dict):
        raise CampaignRejected(f"consumers[{index}] must be an object")
    for name in ("consumerContent", "variables", "headerVariables"):
        if consumer.get(name) is not None and not isinstance(consumer[name], dict):
            raise CampaignRejected(f"consumers[{index}].{name} must be an object")


def _split(
    consumers: list[dict[str, Any]], handoff: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    channels = [channel["channel"] for channel in handoff["channels"]]
    expected = sorted(placeholders(handoff), key=lambda name: (len(name), name))
    accepted: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for consumer in consumers:
        content = consumer.get("consumerContent") or {}
        error = _address_error(content, channels)
        if error is None:
            addresses = {content[channel] for channel in channels}
            error = "DUPLICATE_NUMBER" if addresses & seen else None
            seen |= addresses
        error = error or _variables_error(consumer.get("variables") or {}, expected)
        error = error or _header_error(consumer.get("headerVariables") or {}, channels)
        entry = {
            "id": str(uuid.uuid4()),
            "address": content.get(channels[0]),
            "consumerContent": content,
        }
        if error:
            failed.append({**entry, "errorMessage": error})
        else:
            accepted.append(entry)
    return accepted, failed


def _address_error(content: dict[str, Any], channels: list[str]) -> str | None:
    for channel in channels:
        address = content.get(channel)
        if not isinstance(address, str) or not address:
            return f"MISSING_CONSUMER_INFORMATION=={channel.upper()}"
        if channel in PHONE_CHANNELS and not is_e164(address):
            return "INVALID_NUMBER"
    return None


def _variables_error(variables: dict[str, Any], expected: list[str]) -> str | None:
    if len(variables) > len(expected):
        return "TOO_MANY_VARIABLES"
    if len(variables) < len(expected):
        return "INSUFFICIENT_VARIABLES"
    for name in expected:
        if name not in variables:
            return f"MISSING_VARIABLE={name}"
    for name in expected:
        if not isinstance(variables[name], str):
            return f"VARIABLE_NOT_STRING={name}"
        if len(variables[name]) > MAX_VARIABLE_LENGTH:
            return f"VARIABLE_TOO_LONG={name}"
    return None


def _header_error(header: dict[str, Any], channels: list[str]) -> str | None:
    for kind, url in header.items():
        valid_url = isinstance(url, str) and url.startswith("https://")
        if "wa" not in channels or kind not in HEADER_KINDS or not valid_url:
            return f"INVALID_HEADER_VARIABLE={kind}"
    return None
