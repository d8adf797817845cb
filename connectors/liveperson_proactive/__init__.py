"""LP Proactive Messaging 2.0: outbound campaigns over SMS, WhatsApp and more.

Authentication is LivePerson's AppJWT (OAuth 2.0 client credentials at Sentinel). Each
service's host comes from its own base URL field, else from `base_url` (the sandbox, tests),
else from LivePerson's domain API.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from lpstudio.errors import LpstudioError
from lpstudio.sdk import Connection, Connector, Field, Option
from lpstudio.templating import CHARACTERS_PER_SMS, HANDOFF_PLACEHOLDER, numbered

from . import reporting
from .campaign import DAILY_LIMIT, MAX_RECIPIENTS_PER_REQUEST, reach, status_path
from .campaign import send_campaign as _send_campaign
from .client import SERVICE_URLS, LivePersonClient

connector = Connector(
    "liveperson_proactive",
    title="LP Proactive Messaging 2.0",
    description="Send LivePerson Proactive Messaging campaigns through an API handoff.",
    fields=[
        Field(
            "account_id",
            "Account id",
            hint="Your LivePerson account (site) id, digits",
            pattern=r"^[0-9]+(?!\n)$",
        ),
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
            "domain_api_url",
            "Domain API base URL",
            type="url",
            required=False,
            hint="Stands in for http://api.liveperson.net, where the region lookup asks",
        ),
        *(
            Field(
                name,
                f"{what} base URL",
                type="url",
                required=False,
                hint="Overrides base_url and the region lookup for this service only",
            )
            for name, what in SERVICE_URLS.values()
        ),
        Field(
            "recipients_per_request",
            "Recipients per request",
            type="integer",
            default=100,
            minimum=1,
            maximum=MAX_RECIPIENTS_PER_REQUEST,
            hint="100 in current LivePerson documents, 1000 in older ones",
        ),
        Field(
            "requests_per_second",
            "Requests per second",
            type="integer",
            default=10,
            minimum=1,
            hint="Per account, across every job of this machine; alike on all its connections",
        ),
        Field(
            DAILY_LIMIT,
            "Recipients per day per channel",
            type="integer",
            default=100_000,
            minimum=1,
            hint="LivePerson's daily limit: a campaign stops before it would send more in a "
            "day (UTC)",
        ),
        Field(
            CHARACTERS_PER_SMS,
            "Characters per SMS",
            type="integer",
            default=140,
            minimum=70,
            maximum=160,
            hint="LivePerson sends a longer body as several SMS; the recipe form's preview "
            "counts by it (one SMS holds 70 to 160 characters)",
        ),
    ],
)

#: Text with something besides white space: LivePerson refuses a blank name, skill or id.
_NOT_BLANK = "\\S"
#: The channels a campaign may give each recipient an address on (`consumerContent`).
CHANNELS = ["sms", "wa", "inapp", "email"]

SEND_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["handoff", "campaign_name", "skill", "recipients", "consumer_id"],
    "additionalProperties": False,
    "properties": {
        "handoff": {
            "type": "string",
            "minLength": 1,
            "maxLength": 32,
            "pattern": _NOT_BLANK,
            "description": "API handoff id, sent as templateId",
            "x-picklist": "handoffs",
        },
        "campaign_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": _NOT_BLANK,
        },
        "skill": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": _NOT_BLANK,
            "x-picklist": "skills",
        },
        "recipients": {
            "type": "array",
            "items": {"type": "object"},
            "description": "records (dicts) or a DataFrame, one per recipient",
        },
        "consumer_id": {
            # A string's keywords and an object's: each applies to its own type only.
            "type": ["string", "object"],
            "minLength": 1,
            "pattern": _NOT_BLANK,
            "minProperties": 1,
            "propertyNames": {"enum": CHANNELS},
            "additionalProperties": {"type": "string", "minLength": 1, "pattern": _NOT_BLANK},
            "description": "the record field holding each recipient's address, e.g. phone or "
            'customer.phone; or one per channel, e.g. {"sms": "phone", "inapp": "app_user"}',
        },
        "channels": {
            "type": "array",
            "items": {"enum": CHANNELS},
            "minItems": 1,
            "default": ["sms"],
            "description": "channels of the handoff, each given its address from consumer_id "
            "(by default consumer_id's channels, or sms)",
        },
        "variables": {
            "type": "object",
            # LivePerson's placeholders are {{1}}, {{2}}...: a variable is named by its number.
            "propertyNames": {
                "pattern": "^[1-9][0-9]*(?!\\n)$",
                "x-pattern-said": "a variable's number: body variables are numbered 1, 2, ... "
                "as the handoff's {{1}}, {{2}}...",
            },
            "additionalProperties": {"type": "string", "maxLength": 5000},
            "description": "body variables {{1}}, {{2}}... as templates with "
            "{field} placeholders over each record",
        },
        "header_variables": {
            "type": "object",
            "properties": {
                k: {"type": "string", "pattern": "^https://", "x-pattern-said": "an https:// URL"}
                for k in ("image", "video", "document")
            },
            "additionalProperties": False,
        },
        "once_per": {
            "type": "string",
            "minLength": 1,
            "pattern": _NOT_BLANK,
            "description": "a record field, e.g. checkout_id: each of its values is sent once "
            "across every job of the recipe (a renamed recipe starts afresh), whatever the "
            "address; a record without it is not sent",
        },
        "record_id": {
            "type": ["string", "array"],
            "minLength": 1,
            "pattern": _NOT_BLANK,
            "minItems": 1,
            "items": {"type": "string", "minLength": 1, "pattern": _NOT_BLANK},
            "description": "the record fields naming a record the campaign cannot send, e.g. "
            "invoice_id, in its unsendable entry (by default once_per's field and the "
            "record's fields named like invoice_id)",
        },
        # ASCII digits, no trailing newline: Python's \d and $ let others through.
        "outbound_number": {"type": "string", "pattern": "^\\+?[0-9]{1,16}(?!\\n)$"},
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
            "description": "address and errorMessage per recipient LivePerson refused one by one",
        },
        "unsendable": {
            "type": "array",
            "description": "per record the campaign could not send, never sent to LivePerson "
            "(no address, a number not in E.164, an address or once_per value an earlier "
            "record has, a variable it cannot render): address, the record's ids "
            "(record_id) and errorMessage",
        },
        "uncertain": {
            "type": "array",
            "description": "per batch, recipients sent without an answer, now or by an "
            "earlier attempt (with once_per, of any job of the recipe; never resent): "
            "addresses, job_id, reason",
        },
        "in_progress": {
            "type": "array",
            "description": "with once_per, per batch, recipients another running job of the "
            "recipe was still sending when the campaign's wait for it ended (present only "
            "then; the campaign fails, to be retried): addresses, job_id",
        },
        "already_sent": {
            "type": "array",
            "description": "per batch, how many recipients an earlier attempt of the job "
            "sent (or, with once_per, another job of the recipe sent their value: once_per "
            "then names the field): recipients, job_id, proactiveCampaignId",
        },
        "rejected": {
            "type": "array",
            "description": "per batch, recipients of a request refused whole (not sent; "
            "a retry sends them): addresses, status, message",
        },
        "not_sent": {
            "type": "integer",
            "description": "recipients never sent because the campaign stopped at a "
            "refusal every batch would meet (a run with the input fixed sends them) or "
            "before passing recipients_per_day_per_channel (a run the next day sends them)",
        },
        "batches": {"type": "integer"},
    },
}


@connector.test
def test(conn: Connection) -> str:
    """A fresh token, both pick lists, and a harmless read on each other host a job uses
    (campaigns, reporting): a host that cannot be reached fails the test, naming its field,
    not the first real run."""
    client = LivePersonClient(conn)
    client.token(fresh=True)
    found = f"{len(handoffs(conn))} handoffs, {len(skills(conn))} skills"
    reach(conn)
    reporting.reach(conn)
    return found


@connector.url_field
def url_field(conn: Connection, url: str) -> str:
    """The field that sets where a request that did not end in time went."""
    return LivePersonClient(conn).field_for(url)


@connector.action(
    "send_campaign", title="Send campaign", input_schema=SEND_INPUT, output_schema=SEND_OUTPUT
)
def send_campaign(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """One campaign to every recipient, in requests of at most the per-request limit, each
    recipient at most once per job and its retries; fails when some were not accepted.

    `once_per="checkout_id"` sends each value of that record field once across every job of
    the recipe and their retries, whatever the address: a checkout that comes back as a new
    event after its customer edited it, or that Run now takes again, is not messaged twice.
    The scope is the recipe's name (a renamed recipe starts afresh); Test claims nothing.
    A dry run refuses a channel of the handoff given no address, and variables that do not
    fit its {{n}} placeholders, as LivePerson refuses every recipient of the real send, when
    the handoff list says them."""
    return _send_campaign(conn, data, handoff_facts=partial(handoff_facts, conn))


#: A campaign id: it goes into a URL, so no separator or dot segment may take it elsewhere.
_CAMPAIGN_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]*(?!\\n)$",
    "description": "a proactiveCampaignId, as send_campaign answers in its campaigns",
}


@connector.action(
    "campaign_status",
    title="Campaign status",
    input_schema={
        "type": "object",
        "required": ["campaign_id"],
        "properties": {"campaign_id": _CAMPAIGN_ID},
    },
)
def campaign_status(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The campaign's state and each recipient's delivery status (polled, no callbacks).
    A dry run (a Test, a cell run by hand) asks nothing."""
    client = LivePersonClient(conn)
    path = status_path(client.account, data["campaign_id"])
    if conn.dry_run:
        answer = {"campaignStatus": None, "conversations": []}
        return reporting.dry_run(conn, answer, "GET", f"{client.host('proactive')}{path}")
    return client.get_json("proactive", path)


_TIME = {
    "type": ["string", "integer"],
    "description": "epoch milliseconds or ISO 8601 (from Python, a datetime with a time zone)",
}
_NAMES = {"type": "array", "items": {"type": "string"}}
#: The filters both reports take; an empty one keeps every row, as none.
_FILTERS = {"channels": _NAMES, "skills": _NAMES, "handoff_ids": _NAMES}

ANALYTICS_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["start", "end"],
    # A misspelt filter ignored would answer every row without a word.
    "additionalProperties": False,
    "properties": {
        "start": _TIME,
        "end": _TIME,
        **_FILTERS,
        "source": {
            "type": "array",
            "items": {"enum": reporting.SOURCES},
            "description": "where the campaigns were made, as Outbound Reporting names it",
        },
    },
}


@connector.action("reporting_analytics", title="Reporting analytics", input_schema=ANALYTICS_INPUT)
def reporting_analytics(conn: Connection, data: dict[str, Any]) -> Any:
    """Message volumes by channel, skill and day (Outbound Reporting 2.0), at most 60 days
    at a time, narrowed by the filters given."""
    return reporting.analytics(conn, data)


@connector.action(
    "reporting_transactions",
    title="Reporting transactions",
    input_schema={
        "type": "object",
        "required": ["start", "end"],
        "additionalProperties": False,
        "properties": {"start": _TIME, "end": _TIME, **_FILTERS},
    },
)
def reporting_transactions(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """One row per recipient attempted within at most 24 hours (Outbound Reporting 2.0),
    every page of it: `{"data": [...]}`."""
    return reporting.transactions(conn, data)


@connector.action(
    "campaign_report",
    title="Campaign report",
    input_schema={
        "type": "object",
        "required": ["campaign_id"],
        "additionalProperties": False,
        "properties": {"campaign_id": _CAMPAIGN_ID},
    },
    output_schema={
        "type": "object",
        "properties": {
            "proactiveCampaignId": {"type": "string"},
            "data": {
                "type": "array",
                "items": {"type": "object"},
                "description": "a row per recipient: consumerId, address, channel, status, "
                "errorMessage, attemptedTime...",
            },
        },
    },
)
def campaign_report(conn: Connection, data: dict[str, Any]) -> Any:
    """A row per recipient of one campaign from Outbound Reporting, whenever it was sent
    (no window to give, unlike the transactions); an unknown campaign is an error naming it."""
    return reporting.campaign_report(conn, data)


def _channel_name(item: Any) -> str | None:
    """A channel's name in the handoff list, whose exact shape LivePerson does not publish,
    in lower case as a campaign's `consumerContent` names it (LivePerson's own codes say it
    in upper case: MISSING_CONSUMER_INFORMATION==WA)."""
    name = (
        item
        if isinstance(item, str)
        else (item or {}).get("channel") or (item or {}).get("type") or (item or {}).get("name")
    )
    return str(name).lower() if name else None


def _channels(raw: Any) -> list[str]:
    """Channel names from the handoff list."""
    return [name for name in map(_channel_name, raw or []) if name]


#: Where a channel of the handoff list may give its message text (the shape is not public;
#: the sandbox's is `template`).
MESSAGE_KEYS = ("template", "text", "message", "body")


def _messages(raw: Any) -> dict[str, str] | None:
    """Each channel's message text, when the handoff list gives every channel's; None when
    it gives none, or not all: then the placeholders a recipient must fill are unknown."""
    messages: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        name = _channel_name(item)
        found = item if isinstance(item, dict) else {}
        text = next((found[k] for k in MESSAGE_KEYS if isinstance(found.get(k), str)), None)
        if name is None or text is None:
            return None
        messages[name] = text
    return messages or None


def _placeholders(messages: dict[str, str]) -> list[str]:
    """The {{n}} placeholders over all of a handoff's channels, in order: the variables
    each recipient must be given, as LivePerson counts them."""
    names = {name for text in messages.values() for name in HANDOFF_PLACEHOLDER.findall(text)}
    return sorted(names, key=numbered)


def _extra(channels: list[str], item: dict[str, Any], title: Any) -> dict[str, Any]:
    """What a handoff's option carries besides its label: its title, its `channels` when
    each is one a campaign gives addresses on (`CHANNELS`: a campaign's are checked against
    them, and a name of the list's own, `whatsapp`, foretells no missing address), and each
    channel's message with the placeholders over them when the list gives every text."""
    extra: dict[str, Any] = {"title": title}
    if set(channels) <= set(CHANNELS):
        extra["channels"] = channels
    messages = _messages(item.get("channels"))
    if messages is not None:
        extra.update(messages=messages, placeholders=_placeholders(messages))
    return extra


HANDOFF_PAGE = 30
#: Pages read at most (9,000 handoffs): a server that ignores `offset` cannot loop for ever.
MAX_HANDOFF_PAGES = 300


def _handoff_items(answer: Any) -> list[dict[str, Any]]:
    """The handoffs of one page: a list, or the first list among the usual keys."""
    if isinstance(answer, dict):
        for key in ("handoffs", "data", "items", "results"):
            if isinstance(answer.get(key), list):
                answer = answer[key]
                break
    return [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []


@connector.picklist("handoffs", title="Handoff")
def handoffs(conn: Connection) -> list[Option]:
    """Every handoff, page by page. The answer's shape is not public: a page is read
    tolerantly, and the list ends at `total` when it is given, else at the first page that
    is not full (or that brings no handoff not seen yet). An option's `extra` holds its
    `title`, its `channels` (in lower case) when the connector knows each, and, when the
    list gives every channel's text, `messages` (channel -> text) and their `placeholders`
    ("1", "2"...)."""
    client = LivePersonClient(conn)
    options: dict[str, Option] = {}
    offset = 0
    for _ in range(MAX_HANDOFF_PAGES):
        answer = client.get_json(
            "handoff",
            f"/api/account/{client.account}/app/prmsg/handoffs/list",
            params={"v": 1, "limit": HANDOFF_PAGE, "offset": offset},
        )
        items = _handoff_items(answer)
        new = 0
        for item in items:
            value = item.get("id") or item.get("handoffId")
            if value is None or str(value) in options:
                continue
            title = item.get("title") or item.get("name") or value
            channels = _channels(item.get("channels"))
            extra = _extra(channels, item, title)
            label = f"{title} ({', '.join(channels)})" if channels else str(title)
            options[str(value)] = Option(str(value), label, extra)
            new += 1
        offset += len(items)
        total = answer.get("total") if isinstance(answer, dict) else None
        ended = offset >= total if isinstance(total, int) else len(items) < HANDOFF_PAGE
        if not new or ended:
            break
    return list(options.values())


def handoff_facts(conn: Connection, handoff: str) -> dict[str, Any] | None:
    """What the handoff list says of a handoff (its option's `extra`: its `channels` when the
    connector knows each, and its `placeholders` when the list gives every channel's text);
    None when the list does not
    hold it, or cannot be read (the send itself then finds out, as before)."""
    try:
        options = handoffs(conn)
    except (LpstudioError, ValueError) as exc:
        conn.log(
            f"the handoff list could not be read, so the channels and variables are not "
            f"checked: {exc}"
        )
        return None
    found = next((option for option in options if option.value == handoff), None)
    return None if found is None else found.extra


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
