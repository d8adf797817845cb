"""The sandbox's Outbound Reporting follows API-FACTS.md: analytics also as a POST with
filters, a per-campaign report of each recipient, and recipients not sent past the daily cap
counted as failed with their error code.

Everything goes through a real sandbox on loopback; campaigns are moved on through
settings, never by sleeping.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from .test_sandbox import campaign
from .test_sandbox_campaign_facts import person

ACCOUNT = "12345678"
TOKEN_PATH = f"/sentinel/api/account/{ACCOUNT}/app/token?v=1.0&grant_type=client_credentials"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
ANALYTICS_PATH = f"/api/account/{ACCOUNT}/app/prmsg/analytics/"
REPORT_PATH = f"/api/account/{ACCOUNT}/app/prmsg/campaigns"
ERROR_FIELDS = {"code", "requestTraceId", "message"}


@pytest.fixture
def auth(control: httpx.Client) -> dict[str, str]:
    credentials = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
    answer = control.post(TOKEN_PATH, data=credentials)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def delivering(control: httpx.Client) -> None:
    """Campaigns move on at once and SMS may go out at any hour."""
    changes = {"campaign_progress_seconds": 0, "sms_window_start_hour": 0}
    answer = control.patch("/_sandbox/settings", json={**changes, "sms_window_end_hour": 24})
    assert answer.status_code == 200, answer.text


def send(control: httpx.Client, auth: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = control.post(CAMPAIGN_PATH, json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def window() -> dict[str, int]:
    now = int(time.time() * 1000)
    return {"attemptedStartTime": now - 3_600_000, "attemptedEndTime": now + 60_000}


def three_campaigns(control: httpx.Client, auth: dict[str, str]) -> None:
    """SMS for sales (one bad number) and billing through handoff H1000000001, and WhatsApp
    for sales through a template (no handoff)."""
    sales = [person("sms", "+14155550100", "A"), person("sms", "bad", "B")]
    send(control, auth, campaign(sales))
    send(control, auth, campaign([person("sms", "+14155550101", "C")], skill="billing"))
    whatsapp = campaign(
        [person("wa", "+14155550102", "Ann", "A1")],
        templateId="order_update_v1",
        outboundNumber="+14155550001",
    )
    send(control, auth, whatsapp)


# Analytics: the POST form and its filters


def test_posted_analytics_keep_only_the_rows_the_filters_name(
    control: httpx.Client, auth, delivering
):
    three_campaigns(control, auth)
    span = window()

    def rows(filters: dict[str, Any] | None) -> list[tuple[str, str, int, int]]:
        body = {} if filters is None else {"filters": filters}
        answer = control.post(ANALYTICS_PATH, params=span, json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        return [(r["channel"], r["skill"], r["attempted"], r["delivered"]) for r in data]

    everything = [("sms", "billing", 1, 1), ("sms", "sales", 2, 1), ("wa", "sales", 1, 1)]
    got = control.get(ANALYTICS_PATH, params=span, headers=auth).json()["data"]
    assert [(r["channel"], r["skill"], r["attempted"], r["delivered"]) for r in got] == everything
    assert rows(None) == rows({}) == rows({"source": ["API"]}) == everything
    assert rows({"channels": ["wa"]}) == [("wa", "sales", 1, 1)]
    assert rows({"skills": ["billing"], "channels": []}) == [("sms", "billing", 1, 1)]
    assert rows({"handoffids": ["H1000000001"]}) == everything[:2]
    assert rows({"handoffids": ["H1000000003"]}) == []
    assert rows({"source": ["UI", "LPWF"]}) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"filters": {"skill": ["billing"]}}, "Unknown filter: skill (known filters: channels"),
        ({"filter": {"skills": ["billing"]}}, "Unknown field in the body: filter"),
        ({"filters": {"skills": "billing"}}, "The filter skills must be a list of strings"),
        ({"filters": {"channels": [1]}}, "The filter channels must be a list of strings"),
        ({"filters": ["sms"]}, "filters must map names to lists of strings"),
        ({"filters": {"source": ["api"]}}, "Unknown source: api (known sources: API, UI, LPWF)"),
        (["sms"], "Request body must be a JSON object"),
    ],
)
def test_posted_analytics_refuse_unknown_filters_and_wrong_types_in_the_facts_shape(
    control: httpx.Client, auth, body: Any, words: str
):
    answer = control.post(ANALYTICS_PATH, params=window(), json=body, headers=auth)

    assert answer.status_code == 400
    assert set(answer.json()) == ERROR_FIELDS
    assert answer.json()["code"] == 400
    assert words in answer.json()["message"]


def test_posted_analytics_keep_the_60_day_window_the_token_and_the_rate_limit(
    control: httpx.Client, auth
):
    now = int(time.time() * 1000)
    too_long = {"attemptedStartTime": now - 61 * 86_400_000, "attemptedEndTime": now}
    answer = control.patch("/_sandbox/settings", json={"reporting_requests_per_second": 2})
    assert answer.status_code == 200, answer.text

    long_window = control.post(ANALYTICS_PATH, params=too_long, json={}, headers=auth)
    allowed = control.post(ANALYTICS_PATH, params=window(), json={}, headers=auth)
    limited = control.post(ANALYTICS_PATH, params=window(), json={}, headers=auth)
    anonymous = control.post(ANALYTICS_PATH, params=window(), json={})

    assert long_window.status_code == 400
    assert "60 days" in long_window.json()["message"]
    assert (allowed.status_code, limited.status_code) == (200, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert anonymous.status_code == 401


# The per-campaign report


def test_a_campaign_s_report_has_a_row_per_recipient_of_that_campaign_only(
    control: httpx.Client, auth, delivering
):
    good, bad = person("sms", "+14155550110", "A"), person("sms", "123", "B")
    created = send(control, auth, campaign([good, bad]))
    send(control, auth, campaign([person("sms", "+14155550111", "C")]))
    campaign_id = created["proactiveCampaignId"]

    answer = control.get(f"{REPORT_PATH}/{campaign_id}/", headers=auth)
    no_slash = control.get(f"{REPORT_PATH}/{campaign_id}", headers=auth)

    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["proactiveCampaignId"] == campaign_id
    assert no_slash.json()["data"] == report["data"]
    rows = [
        (r["consumerId"], r["address"], r["channel"], r["status"], r["errorMessage"])
        for r in report["data"]
    ]
    [accepted], [failed] = created["acceptedConsumers"], created["failedConsumers"]
    assert rows == [
        (accepted["id"], "+14155550110", "sms", "DELIVERED", None),
        (failed["id"], "123", "sms", "FAILED", "INVALID_NUMBER"),
    ]
    span = window()
    for row in report["data"]:
        assert row["proactiveCampaignId"] == campaign_id
        assert span["attemptedStartTime"] <= row["attemptedTime"] <= span["attemptedEndTime"]
        assert (row["skill"], row["handoffId"]) == ("sales", "H1000000001")


def test_an_unknown_campaign_s_report_is_a_404_in_the_facts_shape(control: httpx.Client, auth):
    send(control, auth, campaign([person("sms", "+14155550110", "A")]))

    unknown = control.get(f"{REPORT_PATH}/no-such-campaign/", headers=auth)
    anonymous = control.get(f"{REPORT_PATH}/no-such-campaign/")

    assert unknown.status_code == 404
    assert set(unknown.json()) == ERROR_FIELDS
    assert (unknown.json()["code"], unknown.json()["message"]) == (
        404,
        "Campaign no-such-campaign not found",
    )
    assert anonymous.status_code == 401


# Recipients past the daily cap


def test_recipients_not_sent_past_the_daily_cap_count_as_failed_with_their_error_code(
    control: httpx.Client, auth, delivering
):
    answer = control.patch("/_sandbox/settings", json={"recipients_per_day_per_channel": 1})
    assert answer.status_code == 200, answer.text
    consumers = [
        person("sms", "+14155550120", "A"),
        person("sms", "+14155550121", "B"),
        person("sms", "+14155550122", "C"),
        person("sms", "bad", "D"),
    ]
    created = send(control, auth, campaign(consumers))
    span = window()

    [row] = control.get(ANALYTICS_PATH, params=span, headers=auth).json()["data"]
    report = control.get(f"{REPORT_PATH}/{created['proactiveCampaignId']}/", headers=auth)

    counts = {name: row[name] for name in ("attempted", "eligible", "sent", "delivered")}
    assert counts == {"attempted": 4, "eligible": 3, "sent": 1, "delivered": 1}
    assert (row["failed"], row["skipped"]) == (3, 0)
    assert row["error_aggregation"] == {"DAILY_LIMIT_REACHED": 2, "INVALID_NUMBER": 1}
    statuses = [(r["status"], (r["errorMessage"] or "")[:19]) for r in report.json()["data"]]
    assert statuses == [
        ("DELIVERED", ""),
        ("NOT_SENT", "DAILY_LIMIT_REACHED"),
        ("NOT_SENT", "DAILY_LIMIT_REACHED"),
        ("FAILED", "INVALID_NUMBER"),
    ]
