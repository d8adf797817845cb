"""Proactive Messaging campaigns: strict request checking and status over time.

Kept free of HTTP so the rules read as the API-FACTS.md table does. A malformed request is
rejected whole (`CampaignRejected`, answered 400); a well-formed one is split into accepted
and failed recipients, each failure carrying LivePerson's per-recipient error code.

Local time for the SMS window is simplified: the recipient's country calling code maps to
one fixed standard-time offset (no daylight saving), and unknown codes count as UTC.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..sdk import is_e164
from .seed import placeholders
from .settings import SandboxSettings

REQUIRED_FIELDS = ("campaignName", "skill", "templateId", "consent", "consumers")
PHONE_CHANNELS = frozenset({"sms", "wa"})
MAX_VARIABLE_LENGTH = 1550
HEADER_KINDS = frozenset({"image", "video", "document"})

_OUTBOUND_NUMBER = re.compile(r"\+?[0-9]{1,16}")  # ASCII digits: \d takes any script's
_UTC_OFFSETS = {
    "1": -5.0,
    "44": 0.0,
    "33": 1.0,
    "34": 1.0,
    "39": 1.0,
    "49": 1.0,
    "55": -3.0,
    "61": 10.0,
    "81": 9.0,
    "91": 5.5,
    "972": 2.0,
}


class CampaignRejected(ValueError):
    """The whole campaign request is refused (HTTP 400); nothing was accepted."""


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
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    answer_dropped: bool = False

    @property
    def channel(self) -> str:
        """The channel messages go out on: the handoff's first (highest priority) one."""
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

    def statuses(self, now: float, settings: SandboxSettings) -> list[str]:
        """The status of each accepted recipient at `now` (epoch seconds)."""
        ready = self.received_at + settings.campaign_progress_seconds
        result = []
        for consumer in self.accepted:
            deliver = delivery_time(self.channel, consumer["address"], ready, settings)
            if now < ready:
                result.append("DRAFT")
            elif deliver is None or now < deliver:
                result.append("SCHEDULED")
            else:
                result.append("DELIVERED")
        return result

    def conversations(self, now: float, settings: SandboxSettings) -> dict[str, Any]:
        """The body of the status answer: accepted recipients progress, failed ones stay."""
        statuses = self.statuses(now, settings)
        if not self.accepted:
            campaign_status = "FAILED"
        elif all(status == "DELIVERED" for status in statuses):
            campaign_status = "FINISHED"
        else:
            campaign_status = "IN_PROGRESS"
        rows = [
            {"id": c["id"], "status": s, "conversationId": None, "errorMessage": None}
            for c, s in zip(self.accepted, statuses, strict=True)
        ]
        rows += [
            {
                "id": f["id"],
                "status": "FAILED",
                "conversationId": None,
                "errorMessage": f["errorMessage"],
            }
            for f in self.failed
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


def utc_offset_hours(address: str) -> float:
    """The fixed offset of the country whose calling code starts `address` (else UTC)."""
    digits = address.lstrip("+")
    for length in (3, 2, 1):
        if digits[:length] in _UTC_OFFSETS:
            return _UTC_OFFSETS[digits[:length]]
    return 0.0


def delivery_time(
    channel: str, address: str, ready: float, settings: SandboxSettings
) -> float | None:
    """When a message ready at `ready` is delivered; None if the SMS window never opens."""
    if channel != "sms":
        return ready
    start, end = settings.sms_window_start_hour, settings.sms_window_end_hour
    if start >= end:
        return None
    local = datetime.fromtimestamp(ready, UTC) + timedelta(hours=utc_offset_hours(address))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    opens, closes = midnight + timedelta(hours=start), midnight + timedelta(hours=end)
    if local < opens:
        return ready + (opens - local).total_seconds()
    if local < closes:
        return ready
    return ready + (opens + timedelta(days=1) - local).total_seconds()


def check_request(
    body: Any, handoffs: dict[str, dict[str, Any]], max_recipients: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Check a create request: (handoff, accepted, failed), or raise CampaignRejected."""
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
    handoff = handoffs.get(body["templateId"])
    if handoff is None:
        raise CampaignRejected(f"Unknown templateId: {body['templateId']}")
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
