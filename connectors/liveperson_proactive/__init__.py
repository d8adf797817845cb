"""LP Proactive Messaging 2.0: outbound campaigns over SMS, WhatsApp and more.

Authentication is LivePerson's AppJWT (OAuth 2.0 client credentials at Sentinel). Hosts come
from LivePerson's domain API, or all from `base_url` when it is set (the sandbox, tests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lpstudio.sdk import Connection, Connector, Field, Option

from .campaign import send_campaign as _send_campaign
from .client import LivePersonClient

connector = Connector(
    "liveperson_proactive",
    title="LP Proactive Messaging 2.0",
    description="Send LivePerson Proactive Messaging campaigns through an API handoff.",
    fields=[
        Field("account_id", "Account id", hint="Your LivePerson account (site) id, digits"),
        Field("client_id", "Client id", hint="From the API key (AppJWT) of the Proactive app"),
        Field("client_secret", "Client secret", secret=True),
        Field(
            "base_url",
            "Base URL",
            type="url",
            required=False,
            hint="Stands in for every LivePerson host (the sandbox); empty: found by region",
        ),
        Field(
            "recipients_per_request",
            "Recipients per request",
            type="integer",
            default=100,
            hint="100 in current LivePerson documents, 1000 in older ones",
        ),
        Field(
            "requests_per_second",
            "Requests per second",
            type="integer",
            default=10,
            hint="Per account, across every job of this machine",
        ),
    ],
)

SEND_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["handoff", "campaign_name", "skill", "recipients", "consumer_id"],
    "additionalProperties": False,
    "properties": {
        "handoff": {
            "type": "string",
            "minLength": 1,
            "maxLength": 32,
            "description": "API handoff id, sent as templateId",
            "x-picklist": "handoffs",
        },
        "campaign_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "skill": {"type": "string", "minLength": 1, "maxLength": 255, "x-picklist": "skills"},
        "recipients": {
            "type": "array",
            "items": {"type": "object"},
            "description": "records (dicts) or a DataFrame, one per recipient",
        },
        "consumer_id": {
            "type": "string",
            "minLength": 1,
            "description": "the record field holding the address, e.g. phone or customer.phone",
        },
        "channels": {
            "type": "array",
            "items": {"enum": ["sms", "wa", "inapp", "email"]},
            "minItems": 1,
            "default": ["sms"],
            "description": "channels of the handoff, each given the consumer id",
        },
        "variables": {
            "type": "object",
            "additionalProperties": {"type": "string", "maxLength": 5000},
            "description": "body variables {{1}}, {{2}}... as templates with "
            "{field} placeholders over each record",
        },
        "header_variables": {
            "type": "object",
            "properties": {
                k: {"type": "string", "pattern": "^https://"}
                for k in ("image", "video", "document")
            },
            "additionalProperties": False,
        },
        "outbound_number": {"type": "string", "pattern": "^\\+?\\d{1,16}$"},
    },
}

SEND_OUTPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "campaigns": {
            "type": "array",
            "description": "one per request: proactiveCampaignId, "
            "leCampaignId, requestTraceId, accepted and failed counts",
        },
        "accepted": {"type": "integer"},
        "failed": {
            "type": "array",
            "description": "address and errorMessage per recipient refused one by one",
        },
        "uncertain": {
            "type": "array",
            "description": "per batch, recipients sent without an answer, now or by an "
            "earlier attempt (never resent): addresses, reason",
        },
        "already_sent": {
            "type": "array",
            "description": "per batch, how many recipients an earlier attempt of the job "
            "sent: recipients, job_id, proactiveCampaignId",
        },
        "rejected": {
            "type": "array",
            "description": "per batch, recipients of a request refused whole (not sent; "
            "a retry sends them): addresses, status, message",
        },
        "batches": {"type": "integer"},
    },
}


@connector.test
def test(conn: Connection) -> str:
    client = LivePersonClient(conn)
    client.token(fresh=True)
    return f"{len(handoffs(conn))} handoffs, {len(skills(conn))} skills"


@connector.action(
    "send_campaign", title="Send campaign", input_schema=SEND_INPUT, output_schema=SEND_OUTPUT
)
def send_campaign(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """One campaign to every recipient, in requests of at most the per-request limit, each
    recipient at most once per job and its retries; fails when some were not accepted."""
    return _send_campaign(conn, data)


@connector.action(
    "campaign_status",
    title="Campaign status",
    input_schema={
        "type": "object",
        "required": ["campaign_id"],
        "properties": {"campaign_id": {"type": "string"}},
    },
)
def campaign_status(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The campaign's state and each recipient's delivery status (polled, no callbacks)."""
    client = LivePersonClient(conn)
    return client.get_json(
        "proactive",
        f"/api/v2/account/{client.account}/campaign/{data['campaign_id']}/conversations",
    )


def _millis(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    moment = datetime.fromisoformat(str(value))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@connector.action(
    "reporting_analytics",
    title="Reporting analytics",
    input_schema={
        "type": "object",
        "required": ["start", "end"],
        "properties": {
            "start": {"type": ["string", "integer"]},
            "end": {"type": ["string", "integer"]},
        },
    },
)
def reporting_analytics(conn: Connection, data: dict[str, Any]) -> Any:
    """Message volumes by channel, skill and day (Outbound Reporting 2.0)."""
    client = LivePersonClient(conn)
    return client.get_json(
        "reporting",
        f"/api/account/{client.account}/app/prmsg/analytics/",
        params={
            "attemptedStartTime": _millis(data["start"]),
            "attemptedEndTime": _millis(data["end"]),
        },
    )


def _channels(raw: Any) -> list[str]:
    """Channel names from the handoff list, whose exact shape LivePerson does not publish."""
    names = []
    for item in raw or []:
        name = (
            item
            if isinstance(item, str)
            else (item or {}).get("channel") or (item or {}).get("type") or (item or {}).get("name")
        )
        if name:
            names.append(str(name))
    return names


@connector.picklist("handoffs", title="Handoff")
def handoffs(conn: Connection) -> list[Option]:
    client = LivePersonClient(conn)
    options: list[Option] = []
    offset = 0
    while True:
        answer = client.get_json(
            "handoff",
            f"/api/account/{client.account}/app/prmsg/handoffs/list",
            params={"v": 1, "limit": 30, "offset": offset},
        )
        items = (
            answer.get("handoffs") or answer.get("data") or []
            if isinstance(answer, dict)
            else answer
        )
        for item in items:
            value = item.get("id") or item.get("handoffId")
            title = item.get("title") or item.get("name") or value
            channels = _channels(item.get("channels"))
            label = f"{title} ({', '.join(channels)})" if channels else str(title)
            options.append(Option(str(value), label, {"channels": channels, "title": title}))
        total = answer.get("total") if isinstance(answer, dict) else None
        offset += len(items)
        if not items or total is None or offset >= total:
            return options


@connector.picklist("skills", title="Skill")
def skills(conn: Connection) -> list[Option]:
    client = LivePersonClient(conn)
    answer = client.get_json(
        "accountConfigReadOnly",
        f"/api/account/{client.account}/configuration/le-users/skills",
        params={"v": "2.0"},
    )
    items = answer if isinstance(answer, list) else answer.get("skills", [])
    return [Option(str(s["name"]), str(s["name"]), {"id": s.get("id")}) for s in items]
