"""The sandbox behaves as API-FACTS.md says LivePerson and Shopify do, over real HTTP.

Every test gets a fresh sandbox on a free loopback port and talks to it only with httpx.
Time-dependent behaviour is reached through settings and faults, never by sleeping.
"""

from __future__ import annotations

import json
import logging
import reprlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.sandbox.campaigns import delivery_time

ACCOUNT = "12345678"
TOKEN_PATH = f"/sentinel/api/account/{ACCOUNT}/app/token?v=1.0&grant_type=client_credentials"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
CHECKOUTS_PATH = "/admin/api/2024-01/checkouts.json"
SHOPIFY = {"X-Shopify-Access-Token": "shpat_sandbox"}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with Sandbox() as sandbox, httpx.Client(base_url=sandbox.url, timeout=5) as http:
        yield http


@pytest.fixture
def auth(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(client)}"}


def token(client: httpx.Client, secret: str = "sandbox-secret") -> str:
    answer = client.post(TOKEN_PATH, data={"client_id": "sandbox-client", "client_secret": secret})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def campaign(consumers: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body = {
        "campaignName": "Spring sale",
        "skill": "sales",
        "templateId": "H1000000001",
        "consent": True,
        "consumers": consumers,
    }
    return {**body, **fields}


def sms(number: str, *values: Any) -> dict[str, Any]:
    variables = {str(index): value for index, value in enumerate(values, start=1)}
    return {"consumerContent": {"sms": number}, "variables": variables}


def deliver_immediately(client: httpx.Client) -> None:
    """Campaigns progress at once and the SMS window is open all day."""
    changes = {"campaign_progress_seconds": 0, "sms_window_start_hour": 0}
    changes["sms_window_end_hour"] = 24
    assert client.patch("/_sandbox/settings", json=changes).status_code == 200


# LivePerson: domains and tokens


def test_domain_lookup_answers_the_zone_and_the_sandbox_as_sentinel(client: httpx.Client):
    base = f"/api/account/{ACCOUNT}/service"
    vep = client.get(f"{base}/agentVep/baseURI.json?version=1.0").json()
    sentinel = client.get(f"{base}/sentinel/baseURI.json?version=1.0").json()

    assert vep == {
        "service": "agentVep",
        "account": ACCOUNT,
        "baseURI": "va.agentvep.liveperson.net",
    }
    assert sentinel["baseURI"] == client.base_url.netloc.decode()
    assert client.get("/api/account/999/service/agentVep/baseURI.json").status_code == 404


def test_domain_lookup_knows_the_account_config_host_the_skills_list_is_on(client: httpx.Client):
    """The connector finds the skills list's host as LivePerson's `accountConfigReadOnly`."""
    path = f"/api/account/{ACCOUNT}/service/accountConfigReadOnly/baseURI.json?version=1.0"
    answer = client.get(path)

    assert answer.status_code == 200
    assert answer.json()["baseURI"] == client.base_url.netloc.decode()


@pytest.mark.parametrize(
    ("method", "path", "name", "version"),
    [
        ("GET", f"/api/account/{ACCOUNT}/service/sentinel/baseURI.json", "version", "1.0"),
        ("POST", f"/sentinel/api/account/{ACCOUNT}/app/token", "v", "1.0"),
        ("GET", f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list", "v", "1"),
        ("POST", f"/api/account/{ACCOUNT}/app/prmsg/transactions/", "v", "2.0"),
    ],
)
def test_an_api_version_missing_or_another_is_refused_naming_the_parameter(
    client: httpx.Client, auth, method, path, name, version
):
    """Each LivePerson URL names its API version (API-FACTS): a connector that dropped it,
    or asked another, would be refused by LivePerson, so the sandbox refuses it too, and
    takes the version in either spelling (`v=1`, `v=1.0`)."""
    now = int(time.time() * 1000)
    window = {"attemptedStartTime": now - 60_000, "attemptedEndTime": now + 60_000}
    window["grant_type"] = "client_credentials"  # what else each URL asks, unread by the rest
    form = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}

    def ask(params: dict[str, Any]) -> httpx.Response:
        extra = {"data": form} if "token" in path else {"json": {}} if method == "POST" else {}
        return client.request(method, path, params={**window, **params}, headers=auth, **extra)

    missing, other = ask({}), ask({name: "9.9"})
    same = ask({name: str(float(version)) if version == "1" else version})

    assert missing.status_code == 400, missing.text
    assert missing.json()["message"] == f"API version missing; send {name}={version}"
    assert other.status_code == 400
    assert other.json()["message"] == f"API version unsupported: {name}=9.9; send {name}={version}"
    assert same.status_code == 200, same.text


def test_token_is_issued_for_the_right_credentials_only(client: httpx.Client):
    good = client.post(
        TOKEN_PATH, data={"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
    )
    wrong = client.post(TOKEN_PATH, data={"client_id": "sandbox-client", "client_secret": "nope"})

    assert good.status_code == 200
    assert good.json()["token_type"] == "Bearer"
    assert good.json()["access_token"].count(".") == 2
    assert wrong.status_code == 401
    assert "access_token" not in wrong.json()


def test_missing_and_unknown_tokens_are_refused(client: httpx.Client):
    path = f"/api/account/{ACCOUNT}/configuration/le-users/skills?v=2.0"

    missing = client.get(path)
    unknown = client.get(path, headers={"Authorization": "Bearer not-a-token"})

    assert missing.status_code == 401
    assert unknown.status_code == 401
    assert missing.json()["message"] != "jwt expired"
    assert unknown.json()["message"] != "jwt expired"


def test_expired_token_gets_jwt_expired_and_a_new_token_works(client: httpx.Client, auth):
    path = f"/api/account/{ACCOUNT}/configuration/le-users/skills?v=2.0"
    assert client.get(path, headers=auth).status_code == 200

    assert client.post("/_sandbox/faults", json={"expire_tokens": True}).status_code == 200
    expired = client.get(path, headers=auth)
    fresh = client.get(path, headers={"Authorization": f"Bearer {token(client)}"})

    assert expired.status_code == 401
    assert expired.json() == {"code": 0, "message": "jwt expired"}
    assert fresh.status_code == 200


def test_a_zero_ttl_token_is_born_expired(client: httpx.Client):
    client.patch("/_sandbox/settings", json={"token_ttl_seconds": 0})
    headers = {"Authorization": f"Bearer {token(client)}"}

    answer = client.get(f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list?v=1", headers=headers)

    assert answer.status_code == 401
    assert answer.json()["message"] == "jwt expired"


# LivePerson: campaigns


def test_campaign_accepts_good_recipients_and_reports_each_failure(client: httpx.Client, auth):
    consumers = [
        sms("+14155550100", "Ann"),
        sms("4155550101", "Bob"),
        sms("+14155550100", "Ann again"),
        sms("+14155550102", "Cy", "extra"),
        sms("+14155550103"),
        sms("+14155550104", 42),
        {"consumerContent": {"inapp": "user-1"}, "variables": {"1": "Di"}},
        sms("+447700900123", "Eve"),
    ]

    answer = client.post(CAMPAIGN_PATH, json=campaign(consumers), headers=auth)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    for key in ("proactiveCampaignId", "leCampaignId", "leEngagementId", "requestTraceId"):
        assert body[key]
    accepted = [c["consumerContent"]["sms"] for c in body["acceptedConsumers"]]
    failed = [(c["consumerContent"], c["errorMessage"]) for c in body["failedConsumers"]]
    assert accepted == ["+14155550100", "+447700900123"]
    assert all(c["id"] for c in body["acceptedConsumers"])
    assert failed == [
        ({"sms": "4155550101"}, "INVALID_NUMBER"),
        ({"sms": "+14155550100"}, "DUPLICATE_NUMBER"),
        ({"sms": "+14155550102"}, "TOO_MANY_VARIABLES"),
        ({"sms": "+14155550103"}, "INSUFFICIENT_VARIABLES"),
        ({"sms": "+14155550104"}, "VARIABLE_NOT_STRING=1"),
        ({"inapp": "user-1"}, "MISSING_CONSUMER_INFORMATION==SMS"),
    ]


def test_multichannel_handoff_needs_every_channel_address(client: httpx.Client, auth):
    both = {"consumerContent": {"wa": "+14155550110", "sms": "+14155550110"}}
    wa_only = {"consumerContent": {"wa": "+14155550111"}}
    consumers = [{**c, "variables": {"1": "Ann", "2": "#1001"}} for c in (both, wa_only)]

    body = client.post(
        CAMPAIGN_PATH, json=campaign(consumers, templateId="H1000000002"), headers=auth
    ).json()

    assert [c["consumerContent"] for c in body["acceptedConsumers"]] == [both["consumerContent"]]
    assert body["failedConsumers"][0]["errorMessage"] == "MISSING_CONSUMER_INFORMATION==SMS"


@pytest.mark.parametrize("field", ["campaignName", "skill", "templateId", "consent", "consumers"])
def test_a_missing_field_rejects_the_whole_request(client: httpx.Client, auth, field: str):
    body = campaign([sms("+14155550100", "Ann")])
    del body[field]

    answer = client.post(CAMPAIGN_PATH, json=body, headers=auth)

    assert answer.status_code == 400
    assert answer.json()["message"] == f"Fields missing in request: {field}"
    assert set(answer.json()) == {"code", "requestTraceId", "message"}
    assert client.get("/_sandbox/liveperson/campaigns").json()["campaigns"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"consent": False},
        {"templateId": "H9999999999"},
        {"campaignName": "x" * 256},
        {"skill": "s" * 256},
        {"templateId": "H" * 33},
        {"outboundNumber": "+12345678901234567"},
        {"outboundNumber": "+١٤١٥٥٥٥٠٠٠٠"},  # digits, but not ones a carrier dials
    ],
)
def test_invalid_campaign_fields_are_refused(client: httpx.Client, auth, fields: dict[str, Any]):
    answer = client.post(
        CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")], **fields), headers=auth
    )

    assert answer.status_code == 400
    assert answer.json()["message"]


def test_fields_at_their_limits_are_accepted_and_each_variable_is_checked(
    client: httpx.Client, auth
):
    """255-character name and skill, a 16-digit number and a 1550-character variable are
    within LivePerson's limits; one character more of a variable fails its recipient, as
    does a variable named by no placeholder or a header on an SMS handoff."""
    consumers = [
        sms("+14155550100", "v" * 1550),
        sms("+14155550101", "v" * 1551),
        {"consumerContent": {"sms": "+14155550102"}, "variables": {"2": "A"}},
        {**sms("+14155550103", "A"), "headerVariables": {"image": "https://x.test/a.png"}},
    ]
    body = campaign(
        consumers, campaignName="c" * 255, skill="s" * 255, outboundNumber="+" + "1" * 16
    )

    answer = client.post(CAMPAIGN_PATH, json=body, headers=auth)

    assert answer.status_code == 200, answer.text
    accepted = [c["consumerContent"]["sms"] for c in answer.json()["acceptedConsumers"]]
    failed = [(c["address"], c["errorMessage"]) for c in answer.json()["failedConsumers"]]
    assert accepted == ["+14155550100"]
    assert failed == [
        ("+14155550101", "VARIABLE_TOO_LONG=1"),
        ("+14155550102", "MISSING_VARIABLE=1"),
        ("+14155550103", "INVALID_HEADER_VARIABLE=image"),
    ]


def test_more_recipients_than_allowed_is_a_400(client: httpx.Client, auth):
    numbers = [f"+1415555{index:04d}" for index in range(101)]

    too_many = client.post(
        CAMPAIGN_PATH, json=campaign([sms(n, "A") for n in numbers]), headers=auth
    )
    at_limit = client.post(
        CAMPAIGN_PATH, json=campaign([sms(n, "A") for n in numbers[:100]]), headers=auth
    )

    assert too_many.status_code == 400
    assert at_limit.status_code == 200
    assert len(at_limit.json()["acceptedConsumers"]) == 100


def test_a_burst_past_the_rate_limit_gets_429_with_retry_after(client: httpx.Client, auth):
    created = client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    path = f"{CAMPAIGN_PATH}/{created.json()['proactiveCampaignId']}/conversations"

    answers = [client.get(path, headers=auth) for _ in range(15)]

    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert {a.status_code for a in answers} == {200, 429}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)


def test_every_proactive_call_counts_against_the_account_s_one_rate(client: httpx.Client, auth):
    """LivePerson counts requests per second across all Proactive APIs together: handoff
    lists use up what campaigns and their status may send. Tokens, domain lookups and
    skills are other APIs, and count nothing."""
    client.patch("/_sandbox/settings", json={"requests_per_second": 3})
    handoffs = f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list?v=1"

    listed = [client.get(handoffs, headers=auth).status_code for _ in range(2)]
    created = client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    others = [
        client.post(
            TOKEN_PATH, data={"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
        ),
        client.get(f"/api/account/{ACCOUNT}/service/sentinel/baseURI.json?version=1.0"),
        client.get(f"/api/account/{ACCOUNT}/configuration/le-users/skills?v=2.0", headers=auth),
    ]
    path = f"{CAMPAIGN_PATH}/{created.json()['proactiveCampaignId']}/conversations"
    past = [client.get(path, headers=auth), client.get(handoffs, headers=auth)]

    assert listed == [200, 200] and created.status_code == 200
    assert [answer.status_code for answer in others] == [200, 200, 200]
    assert [answer.status_code for answer in past] == [429, 429]
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in past)


def test_conversation_status_progresses_and_respects_the_sms_window(client: httpx.Client, auth):
    created = client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    path = f"{CAMPAIGN_PATH}/{created.json()['proactiveCampaignId']}/conversations"

    draft = client.get(path, headers=auth).json()
    deliver_immediately(client)
    delivered = client.get(path, headers=auth).json()
    client.patch("/_sandbox/settings", json={"sms_window_start_hour": 0, "sms_window_end_hour": 0})
    outside_window = client.get(path, headers=auth).json()

    assert draft["conversations"][0]["status"] == "DRAFT"
    assert draft["campaignStatus"] != "FINISHED"
    assert delivered["campaignStatus"] == "FINISHED"
    assert delivered["conversations"] == [
        {
            "id": created.json()["acceptedConsumers"][0]["id"],
            "status": "DELIVERED",
            "conversationId": None,
            "errorMessage": None,
        }
    ]
    assert outside_window["conversations"][0]["status"] == "SCHEDULED"
    assert client.get(f"{CAMPAIGN_PATH}/unknown/conversations", headers=auth).status_code == 404


def test_failed_recipients_show_as_failed_conversations(client: httpx.Client, auth):
    created = client.post(CAMPAIGN_PATH, json=campaign([sms("123", "A")]), headers=auth).json()
    path = f"{CAMPAIGN_PATH}/{created['proactiveCampaignId']}/conversations"

    status = client.get(path, headers=auth).json()

    assert status["campaignStatus"] == "FAILED"
    assert status["conversations"][0]["status"] == "FAILED"
    assert status["conversations"][0]["errorMessage"] == "INVALID_NUMBER"


# LivePerson: pick lists and reporting


def test_handoffs_are_listed_and_paged(client: httpx.Client, auth):
    path = f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list?v=1"

    everything = client.get(f"{path}&limit=30&offset=0", headers=auth).json()
    last = client.get(f"{path}&limit=2&offset=2", headers=auth).json()

    assert everything["total"] == 3
    handoffs = {h["id"]: h for h in everything["handoffs"]}
    assert list(handoffs) == ["H1000000001", "H1000000002", "H1000000003"]
    assert [c["channel"] for c in handoffs["H1000000002"]["channels"]] == ["wa", "sms"]
    assert handoffs["H1000000001"]["channels"][0]["template"].count("{{") == 1
    assert [h["id"] for h in last["handoffs"]] == ["H1000000003"]
    assert client.get(f"{path}&limit=0", headers=auth).status_code == 400


def test_skills_are_listed(client: httpx.Client, auth):
    skills = client.get(f"/api/account/{ACCOUNT}/configuration/le-users/skills?v=2.0", headers=auth)

    assert {s["name"] for s in skills.json()} >= {"billing", "sales", "support"}
    assert all(isinstance(s["id"], int) for s in skills.json())


def test_analytics_count_what_was_sent(client: httpx.Client, auth):
    deliver_immediately(client)
    consumers = [sms("+14155550100", "A"), sms("+14155550101", "B"), sms("bad", "C")]
    client.post(CAMPAIGN_PATH, json=campaign(consumers), headers=auth)
    client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550102")], skill="billing"), headers=auth)
    now = int(time.time() * 1000)
    path = f"/api/account/{ACCOUNT}/app/prmsg/analytics/"

    rows = client.get(
        path,
        params={"attemptedStartTime": now - 3_600_000, "attemptedEndTime": now + 60_000},
        headers=auth,
    ).json()["data"]
    too_long = client.get(
        path,
        params={"attemptedStartTime": now - 61 * 86_400_000, "attemptedEndTime": now},
        headers=auth,
    )

    by_skill = {row["skill"]: row for row in rows}
    assert by_skill["sales"]["channel"] == "sms"
    assert (by_skill["sales"]["attempted"], by_skill["sales"]["delivered"]) == (3, 2)
    assert by_skill["sales"]["failed"] == 1
    assert by_skill["sales"]["error_aggregation"] == {"INVALID_NUMBER": 1}
    assert (by_skill["billing"]["delivered"], by_skill["billing"]["failed"]) == (0, 1)
    assert by_skill["billing"]["error_aggregation"] == {"INSUFFICIENT_VARIABLES": 1}
    assert too_long.status_code == 400


# Shopify


def test_shopify_needs_the_access_token(client: httpx.Client):
    assert client.get(CHECKOUTS_PATH).status_code == 401
    assert client.get(CHECKOUTS_PATH, headers={"X-Shopify-Access-Token": "x"}).status_code == 401
    assert client.get(CHECKOUTS_PATH, headers=SHOPIFY).status_code == 200


def test_shopify_pages_through_link_headers(client: httpx.Client):
    added = client.post(
        "/_sandbox/shopify/checkouts",
        json=[{"phone": "+14155550199", "customer": {"first_name": "Zed"}}, {}, {}],
    ).json()["checkouts"]
    seen: list[dict[str, Any]] = []
    url: str | None = f"{CHECKOUTS_PATH}?limit=2"
    pages = 0

    while url:
        answer = client.get(url, headers=SHOPIFY)
        assert answer.status_code == 200
        assert len(answer.json()["checkouts"]) <= 2
        seen += answer.json()["checkouts"]
        url = answer.links.get("next", {}).get("url")
        pages += 1

    ids = [c["id"] for c in seen]
    back = client.get(answer.links["previous"]["url"], headers=SHOPIFY).json()["checkouts"]
    assert [c["id"] for c in back] == ids[4:6]
    assert pages == 4
    assert ids == sorted(ids) and len(set(ids)) == 8
    assert ids[-3:] == [c["id"] for c in added]
    zed = seen[-3]
    assert zed["phone"] == zed["customer"]["phone"] == "+14155550199"
    assert zed["customer"]["first_name"] == "Zed"
    for checkout in seen:
        assert checkout["completed_at"] is None
        assert checkout["phone"].startswith("+")
        assert checkout["line_items"] and checkout["abandoned_checkout_url"].startswith("https://")


def test_shopify_filters_and_refuses_filters_beside_page_info(client: httpx.Client):
    first = client.get(f"{CHECKOUTS_PATH}?limit=2", headers=SHOPIFY)
    ids = [c["id"] for c in client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]]
    next_url = first.links["next"]["url"]

    since = client.get(CHECKOUTS_PATH, params={"since_id": ids[2]}, headers=SHOPIFY).json()
    mixed = client.get(f"{next_url}&since_id=1", headers=SHOPIFY)
    too_big = client.get(CHECKOUTS_PATH, params={"limit": 251}, headers=SHOPIFY)

    assert [c["id"] for c in since["checkouts"]] == ids[3:]
    assert mixed.status_code == 400
    assert too_big.status_code == 400


def test_shopify_status_separates_open_from_closed(client: httpx.Client):
    closed = client.post(
        "/_sandbox/shopify/checkouts", json={"completed_at": "2026-01-02T03:04:05Z"}
    ).json()["checkouts"][0]

    open_ids = [c["id"] for c in client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]]
    closed_answer = client.get(CHECKOUTS_PATH, params={"status": "closed"}, headers=SHOPIFY)

    assert closed["id"] not in open_ids
    assert [c["id"] for c in closed_answer.json()["checkouts"]] == [closed["id"]]


def test_a_checkout_can_be_edited_and_completed_and_is_updated_now(client: httpx.Client):
    first = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"][0]

    edited = client.patch(
        f"/_sandbox/shopify/checkouts/{first['id']}", json={"total_price": "1.00"}
    ).json()
    done = client.patch(
        f"/_sandbox/shopify/checkouts/{first['id']}",
        json={"completed_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"},
    ).json()
    missing = client.patch("/_sandbox/shopify/checkouts/1", json={})
    bad = client.patch(f"/_sandbox/shopify/checkouts/{first['id']}", json={"updated_at": "x"})
    open_ids = [c["id"] for c in client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]]

    assert edited["total_price"] == "1.00" and edited["updated_at"] > first["updated_at"]
    assert done["updated_at"] == done["completed_at"] == "2026-01-02T03:04:05+00:00"
    assert (missing.status_code, bad.status_code) == (404, 400)
    assert first["id"] not in open_ids


@pytest.mark.parametrize(
    "price", ["NaN", "1e400", "-inf", "ten", pytest.param(10**400, id="10**400")]
)
def test_a_checkout_price_that_is_no_finite_number_is_refused_naming_it(
    client: httpx.Client, price: Any
):
    """Shopify writes prices as text: a line item's "NaN" or "1e400" was added, and
    checkouts.json then served `"total_price": "nan"` or `"inf"` (a number past a float's
    range answered 500). Refused as the settings refuse such a number, added or edited."""
    first = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"][0]
    items = [
        {"title": "Yoga mat", "quantity": 1, "price": "42.00"},
        {"quantity": 2, "price": price},
    ]

    added = client.post("/_sandbox/shopify/checkouts", json={"line_items": items})
    edited = client.patch(f"/_sandbox/shopify/checkouts/{first['id']}", json={"line_items": items})

    for answer, name in ((added, "line_items[1].price"), (edited, "line_items[1].price")):
        assert answer.status_code == 400, answer.text
        fix = f'such as Shopify\'s "24.99", not {reprlib.repr(price)}'
        error = f"Invalid checkout: {name} must be a finite number, {fix}"
        assert answer.json() == {"error": error}
    served = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]
    assert len(served) == 5 and served[0] == first


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"price": "1.00", "quantity": "x"}, "line_items[0].quantity must be a whole number"),
        ({"price": "1.00", "quantity": 2.7}, "line_items[0].quantity must be a whole number"),
        ({"price": "1.00", "quantity": 0}, "line_items[0].quantity must be a whole number"),
        ({"price": "1.00"}, "line_items[0] must be an object with its price and quantity"),
        ("mat", "line_items[0] must be an object with its price and quantity"),
    ],
)
def test_a_line_item_without_a_whole_quantity_or_its_price_is_refused_naming_it(
    client: httpx.Client, item: Any, error: str
):
    """A quantity "x" was refused in Python's own words, without the field; 2.7 was cut to
    2; a line item without its quantity answered 500."""
    first = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"][0]

    added = client.post("/_sandbox/shopify/checkouts", json={"line_items": [item]})
    edited = client.patch(f"/_sandbox/shopify/checkouts/{first['id']}", json={"line_items": [item]})

    for answer in (added, edited):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"].startswith(f"Invalid checkout: {error}"), answer.text
    served = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]
    assert len(served) == 5 and served[0] == first
    assert (
        client.post(  # text, as Shopify writes numbers, is a quantity too
            "/_sandbox/shopify/checkouts", json={"line_items": [{"price": "2.50", "quantity": "2"}]}
        ).json()["checkouts"][0]["total_price"]
        == "5.00"
    )


def test_shopify_leaky_bucket_answers_429_when_full(client: httpx.Client):
    client.patch("/_sandbox/settings", json={"shopify_bucket_size": 3})

    answers = [client.get(CHECKOUTS_PATH, headers=SHOPIFY) for _ in range(5)]

    assert answers[0].headers["X-Shopify-Shop-Api-Call-Limit"] == "1/3"
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/3")


# Faults and the control API


def test_an_error_fault_with_count_one_fails_one_request(client: httpx.Client):
    plan = {"error_rate": 1.0, "error_status": 500, "scope": "shopify", "count": 1}
    assert client.post("/_sandbox/faults", json=plan).status_code == 200

    statuses = [client.get(CHECKOUTS_PATH, headers=SHOPIFY).status_code for _ in range(3)]

    assert statuses == [500, 200, 200]
    assert client.get("/_sandbox/faults").json() == {"faults": None}


def test_a_dropped_answer_still_records_the_campaign(client: httpx.Client, auth):
    client.post("/_sandbox/faults", json={"drop_rate": 1.0, "scope": "liveperson", "count": 1})

    with pytest.raises(httpx.TransportError):
        client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)

    campaigns = client.get("/_sandbox/liveperson/campaigns").json()["campaigns"]
    recipients = client.get("/_sandbox/liveperson/recipients").json()["recipients"]
    log = client.get("/_sandbox/requests").json()["requests"]
    assert len(campaigns) == 1 and campaigns[0]["answerDropped"] is True
    assert recipients == [{"address": "+14155550100", "count": 1}]
    assert log[-1]["dropped"] is True and log[-1]["path"] == CAMPAIGN_PATH


def test_faults_are_reproducible_with_a_seed(client: httpx.Client):
    def pattern() -> list[int]:
        plan = {"error_rate": 0.5, "scope": "shopify", "seed": 7}
        client.post("/_sandbox/faults", json=plan)
        return [client.get(CHECKOUTS_PATH, headers=SHOPIFY).status_code for _ in range(12)]

    first, second = pattern(), pattern()

    assert first == second
    assert {500, 200} == set(first)


def test_latency_fault_delays_answers(client: httpx.Client):
    client.post("/_sandbox/faults", json={"latency_ms": 150, "count": 1})
    started = time.monotonic()

    client.get(CHECKOUTS_PATH, headers=SHOPIFY)

    assert time.monotonic() - started >= 0.15


def test_recipients_count_each_acceptance(client: httpx.Client, auth):
    client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    client.post(
        CAMPAIGN_PATH,
        json=campaign([sms("+14155550100", "A"), sms("+14155550101", "B")]),
        headers=auth,
    )

    recipients = client.get("/_sandbox/liveperson/recipients").json()["recipients"]

    assert recipients == [
        {"address": "+14155550100", "count": 2},
        {"address": "+14155550101", "count": 1},
    ]


def test_the_request_log_keeps_no_secrets(client: httpx.Client, auth):
    client.get(f"/api/account/{ACCOUNT}/app/prmsg/handoffs/list?v=1", headers=auth)
    client.get(CHECKOUTS_PATH, headers=SHOPIFY)

    log = client.get("/_sandbox/requests")

    assert [(e["method"], e["status"]) for e in log.json()["requests"]] == [
        ("POST", 200),
        ("GET", 200),
        ("GET", 200),
    ]
    for secret in ("sandbox-secret", "shpat_sandbox", auth["Authorization"].split()[1]):
        assert secret not in log.text


def test_settings_patch_is_checked_and_reset_restores_everything(client: httpx.Client, auth):
    client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    client.post("/_sandbox/shopify/checkouts", json={})
    client.patch("/_sandbox/settings", json={"recipients_per_request": 1000})

    unknown = client.patch("/_sandbox/settings", json={"nope": 1})
    wrong_type = client.patch("/_sandbox/settings", json={"requests_per_second": "ten"})
    client.post("/_sandbox/reset")

    assert unknown.status_code == wrong_type.status_code == 400
    assert client.get("/_sandbox/settings").json() == SandboxSettings().to_dict()
    assert client.get("/_sandbox/liveperson/campaigns").json() == {"campaigns": []}
    assert len(client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]) == 5


@pytest.mark.parametrize(
    ("name", "sent", "said"),
    [  # NaN and infinities as every body refuses them; an int no float holds, by settings
        ("token_ttl_seconds", "1e400", "Infinity"),
        ("campaign_progress_seconds", "NaN", "NaN"),
        ("shopify_leak_per_second", "-Infinity", "-Infinity"),
        ("token_ttl_seconds", "1" + "0" * 400, "100000000000000000...0000000000000000000"),
    ],
)
def test_a_setting_that_is_no_finite_number_is_refused_naming_it(
    client: httpx.Client, name: str, sent: str, said: str
):
    # JSON's 1e400 (and Python's NaN) were taken and echoed as `Infinity`, which is no JSON,
    # and every token request then answered 500 on `int(now + inf)`.
    default = SandboxSettings().to_dict()[name]
    body = f'{{"{name}": {sent}}}'
    refused = client.patch(
        "/_sandbox/settings", content=body, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 400, refused.text
    error = f"{name} must be a finite number, such as its default {default}, not {said}"
    if said in ("NaN", "Infinity", "-Infinity"):
        error = f"Request body is not valid JSON: {name} is {said}, not a finite number"
    assert refused.json() == {"error": error}
    assert client.get("/_sandbox/settings").json() == SandboxSettings().to_dict()
    token(client)  # a token is still issued


@pytest.mark.parametrize("sent", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_body_number_that_is_not_finite_is_refused_by_every_route(
    client: httpx.Client, auth, sent: str
):
    # Only the settings refused them: a campaign with NaN for a variable was accepted and
    # recorded (200), though NaN is no JSON at all.
    said = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e400": "Infinity"}
    message = f"{{}} is {said[sent]}, not a finite number"
    now = int(time.time() * 1000)
    window = {"attemptedStartTime": now - 60_000, "attemptedEndTime": now, "v": "2.0"}
    json_type = {"Content-Type": "application/json"}
    sends = [
        (CAMPAIGN_PATH, {}, "consumers.0.variables.1", campaign([sms("+14155550100", "A")])),
        (f"/api/account/{ACCOUNT}/app/prmsg/transactions/", window, "offset", {"offset": 0}),
        ("/_sandbox/shopify/checkouts", {}, "total_price", {"total_price": 0}),
    ]
    for path, params, where, body in sends:
        text = json.dumps(body).replace('"A"', sent).replace(": 0", f": {sent}")
        answer = client.post(path, params=params, content=text, headers={**auth, **json_type})
        assert answer.status_code == 400, (path, answer.text)
        error = answer.json()
        said_message = error.get("message", error.get("error"))
        assert said_message == f"Request body is not valid JSON: {message.format(where)}"
        if path == CAMPAIGN_PATH:  # LivePerson's error shape
            assert set(error) == {"code", "requestTraceId", "message"} and error["code"] == 400
    assert client.get("/_sandbox/liveperson/campaigns").json() == {"campaigns": []}
    assert len(client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]) == 5


def test_reset_can_keep_the_settings_in_force(client: httpx.Client):
    client.patch("/_sandbox/settings", json={"seed_checkouts": 2})

    client.post("/_sandbox/reset", json={"keep_settings": True})
    kept = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]
    client.post("/_sandbox/reset")
    restored = client.get(CHECKOUTS_PATH, headers=SHOPIFY).json()["checkouts"]

    assert (len(kept), len(restored)) == (2, 5)


def test_sandbox_start_and_stop_in_process():
    sandbox = Sandbox(SandboxSettings(seed_checkouts=1))
    url = sandbox.start()
    try:
        answer = httpx.get(f"{url}{CHECKOUTS_PATH}", headers=SHOPIFY)
        assert url.startswith("http://127.0.0.1:")
        assert len(answer.json()["checkouts"]) == 1
    finally:
        sandbox.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sandbox/settings")
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_serve_announces_its_url_and_stops_on_sigterm():
    code = "from lpstudio.sandbox import serve; serve(0)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("lpstudio sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(f"{url}/_sandbox/settings").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


def test_transactions_are_paged_and_kept_within_24_hours(client: httpx.Client, auth):
    answer = client.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "A")]), headers=auth)
    assert answer.status_code == 200
    now = int(time.time() * 1000)
    path = f"/api/account/{ACCOUNT}/app/prmsg/transactions/"
    window = {"attemptedStartTime": now - 60_000, "attemptedEndTime": now + 60_000, "v": "2.0"}

    rows = client.post(path, params=window, json={}, headers=auth).json()
    skipped = client.post(path, params=window, json={"offset": 1}, headers=auth).json()
    other_skill = client.post(
        path, params=window, json={"filters": {"skills": ["billing"]}}, headers=auth
    ).json()
    too_many = client.post(path, params=window, json={"limit": 5001}, headers=auth)
    too_long = client.post(
        path,
        params={**window, "attemptedStartTime": now - 25 * 3_600_000},
        json={},
        headers=auth,
    )

    [row] = rows["data"]
    assert (row["skill"], row["channel"], row["errorMessage"]) == ("sales", "sms", None)
    assert row["status"] in ("DRAFT", "SCHEDULED", "DELIVERED")
    assert (rows["total"], rows["limit"], skipped["data"]) == (1, 100, [])
    assert other_skill["data"] == []
    assert (too_many.status_code, too_long.status_code) == (400, 400)
    assert "24 hours" in too_long.json()["message"]


# LivePerson: the SMS window, statuses and reporting filters (over the shared fixtures)


def test_the_sms_window_is_each_recipient_s_own_local_time(sandbox, control: httpx.Client):
    auth = {"Authorization": f"Bearer {token(control)}"}
    control.patch("/_sandbox/settings", json={"campaign_progress_seconds": 0})
    consumers = [sms("+14155550100", "San Francisco"), sms("+12125550101", "New York")]
    created = control.post(CAMPAIGN_PATH, json=campaign(consumers), headers=auth).json()
    [record] = control.get("/_sandbox/liveperson/campaigns").json()["campaigns"]
    pacific = datetime.fromtimestamp(record["receivedAt"], ZoneInfo("America/Los_Angeles"))
    # Open for the hour it was then in San Francisco, so New York (3 hours on) is closed.
    window = {"sms_window_start_hour": pacific.hour, "sms_window_end_hour": pacific.hour + 1}
    assert control.patch("/_sandbox/settings", json=window).status_code == 200

    path = f"{CAMPAIGN_PATH}/{created['proactiveCampaignId']}/conversations"
    status = control.get(path, headers=auth).json()

    assert [c["status"] for c in status["conversations"]] == ["DELIVERED", "SCHEDULED"]
    assert status["campaignStatus"] == "IN_PROGRESS"


@pytest.mark.parametrize(
    ("moment", "address", "opens"),
    [
        # London keeps summer time (BST, UTC+1): 07:30 UTC is 08:30 there, so it goes now.
        ("2026-07-01T07:30:00+00:00", "+447700900123", "2026-07-01T07:30:00+00:00"),
        ("2026-01-15T07:30:00+00:00", "+447700900123", "2026-01-15T08:00:00+00:00"),
        # 12:30 UTC is 05:30 in San Francisco in July (PDT): it waits for 08:00 PDT.
        ("2026-07-01T12:30:00+00:00", "+14155550100", "2026-07-01T15:00:00+00:00"),
        # 02:00 UTC is 22:00 the evening before in New York (EDT): 08:00 the next morning.
        ("2026-07-01T02:00:00+00:00", "+12125550100", "2026-07-01T12:00:00+00:00"),
    ],
)
def test_the_sms_window_keeps_daylight_saving_time(moment: str, address: str, opens: str):
    """The clock cannot be set over HTTP, so the rule behind the statuses is asked directly."""
    ready = datetime.fromisoformat(moment).timestamp()

    delivered = delivery_time("sms", address, ready, SandboxSettings())

    assert delivered == datetime.fromisoformat(opens).timestamp()


def test_a_recipient_with_too_many_variables_has_that_status(sandbox, control: httpx.Client):
    auth = {"Authorization": f"Bearer {token(control)}"}
    consumers = [sms("+14155550100", "Ann", "extra"), sms("123", "Bob")]
    created = control.post(CAMPAIGN_PATH, json=campaign(consumers), headers=auth).json()
    path = f"{CAMPAIGN_PATH}/{created['proactiveCampaignId']}/conversations"
    now = int(time.time() * 1000)
    window = {"attemptedStartTime": now - 60_000, "attemptedEndTime": now + 60_000, "v": "2.0"}
    transactions = f"/api/account/{ACCOUNT}/app/prmsg/transactions/"

    status = control.get(path, headers=auth).json()
    rows = control.post(transactions, params=window, json={}, headers=auth).json()["data"]

    expected = [
        ("TOO_MANY_VARIABLES", "TOO_MANY_VARIABLES"),
        ("FAILED", "INVALID_NUMBER"),
    ]
    assert status["campaignStatus"] == "FAILED"
    assert [(c["status"], c["errorMessage"]) for c in status["conversations"]] == expected
    assert [(r["status"], r["errorMessage"]) for r in rows] == expected


def test_transactions_filter_on_the_source_of_the_campaign(sandbox, control: httpx.Client):
    auth = {"Authorization": f"Bearer {token(control)}"}
    control.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "Ann")]), headers=auth)
    now = int(time.time() * 1000)
    window = {"attemptedStartTime": now - 60_000, "attemptedEndTime": now + 60_000, "v": "2.0"}
    path = f"/api/account/{ACCOUNT}/app/prmsg/transactions/"

    def rows(source: list[str]) -> list[dict[str, Any]]:
        body = {"filters": {"source": source}}
        return control.post(path, params=window, json=body, headers=auth).json()["data"]

    assert len(rows(["API"])) == 1
    assert rows(["UI", "LPWF"]) == []


# LivePerson: Outbound Reporting's own rate limit and its filter names

ANALYTICS_PATH = f"/api/account/{ACCOUNT}/app/prmsg/analytics/"
TRANSACTIONS_PATH = f"/api/account/{ACCOUNT}/app/prmsg/transactions/"


def reporting_window() -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"attemptedStartTime": now - 60_000, "attemptedEndTime": now + 60_000, "v": "2.0"}


def test_reporting_past_ten_requests_a_second_gets_429_with_retry_after(
    sandbox, control: httpx.Client
):
    auth = {"Authorization": f"Bearer {token(control)}"}
    window = reporting_window()

    answers = [
        control.get(ANALYTICS_PATH, params=window, headers=auth)
        if turn % 2
        else control.post(TRANSACTIONS_PATH, params=window, json={}, headers=auth)
        for turn in range(15)
    ]
    proactive = control.get(f"{CAMPAIGN_PATH}/unknown/conversations", headers=auth)

    limited = [a for a in answers if a.status_code == 429]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert limited, "15 reporting requests within a second were all answered"
    assert {a.status_code for a in answers[10:]} <= {200, 429}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in limited)
    assert set(limited[0].json()) == {"code", "requestTraceId", "message"}
    assert limited[0].json()["code"] == 429
    assert proactive.status_code == 404  # the Proactive API keeps its own count


def test_the_reporting_rate_is_a_setting_of_its_own(sandbox, control: httpx.Client):
    auth = {"Authorization": f"Bearer {token(control)}"}
    window = reporting_window()

    refused = control.patch("/_sandbox/settings", json={"reporting_requests_per_second": 0})
    changed = control.patch("/_sandbox/settings", json={"reporting_requests_per_second": 1})
    first = control.get(ANALYTICS_PATH, params=window, headers=auth)
    second = control.post(TRANSACTIONS_PATH, params=window, json={}, headers=auth)

    assert refused.status_code == 400
    assert "reporting_requests_per_second" in refused.json()["error"]
    assert changed.json()["reporting_requests_per_second"] == 1
    assert changed.json()["requests_per_second"] == 10
    assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"filters": {"skill": ["billing"]}},
            "Unknown filter: skill (known filters: channels, handoffids, skills, source)",
        ),
        (
            {"filters": {"skills": ["billing"], "handoffIds": ["H1000000001"]}},
            "Unknown filter: handoffIds (known filters: channels, handoffids, skills, source)",
        ),
        (
            {"filter": {"skills": ["billing"]}},
            "Unknown field in the body: filter (known fields: filters, limit, offset)",
        ),
    ],
)
def test_an_unknown_transactions_filter_is_refused_naming_it_and_the_known_ones(
    sandbox, control: httpx.Client, body: dict[str, Any], message: str
):
    auth = {"Authorization": f"Bearer {token(control)}"}
    control.post(CAMPAIGN_PATH, json=campaign([sms("+14155550100", "Ann")]), headers=auth)

    answer = control.post(TRANSACTIONS_PATH, params=reporting_window(), json=body, headers=auth)

    assert answer.status_code == 400
    error = answer.json()
    assert set(error) == {"code", "requestTraceId", "message"}
    assert (error["code"], error["message"]) == (400, message)


def test_an_emulated_refusal_is_no_warning_but_a_429_and_a_fault_are(
    client: httpx.Client, auth, caplog: pytest.LogCaptureFixture
):
    """A connection's test asks for a campaign that does not exist, to see the host answer
    404: tornado logged it as a warning, which printed in the middle of `make demo`."""
    caplog.set_level(logging.INFO, logger="tornado.access")
    nil = f"{CAMPAIGN_PATH}/00000000-0000-0000-0000-000000000000/conversations"
    assert client.get(nil, headers=auth).status_code == 404
    client.patch("/_sandbox/settings", json={"requests_per_second": 1})
    answers = [client.get(nil, headers=auth).status_code for _ in range(3)]
    assert 429 in answers, answers
    fault = {"error_rate": 1.0, "error_status": 500, "scope": "liveperson"}
    client.post("/_sandbox/faults", json=fault).raise_for_status()
    assert client.get(nil, headers=auth).status_code == 500
    # A request is logged as its answer has gone out; the sandbox's one thread has logged
    # it before it answers the next.
    client.get("/_sandbox/requests").raise_for_status()

    levels = {(r.getMessage().split()[0], r.levelno) for r in caplog.records}
    assert ("404", logging.INFO) in levels and ("404", logging.WARNING) not in levels, levels
    assert ("429", logging.WARNING) in levels and ("500", logging.ERROR) in levels, levels
