"""The LP Proactive connector's Outbound Reporting against the sandbox, over real HTTP on
loopback: analytics narrowed by filters (LivePerson's POST form), and one campaign's
per-recipient report. What was asked is read back from the sandbox's request log."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.registry import get_connector
from lpstudio.sdk import ConnectorError

from .conftest import wait_for
from .test_liveperson import (
    ACCOUNT,
    TOKEN_PATH,
    connect,
    fault,
    people,
    requests_to,
    send,
    settings,
)

ANALYTICS_PATH = f"/api/account/{ACCOUNT}/app/prmsg/analytics/"
REPORT_PATH = f"/api/account/{ACCOUNT}/app/prmsg/campaigns"

__all__ = ["connect"]  # a fixture shared with test_liveperson


def window() -> dict[str, int]:
    """The last hour and the next minute, in epoch ms: every campaign a test sent."""
    now_ms = int(time.time() * 1000)
    return {"start": now_ms - 3_600_000, "end": now_ms + 60_000}


def asked(control: Any) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request the sandbox's LivePerson received."""
    log = control.get("/_sandbox/requests").json()["requests"]
    return [(e["method"], e["path"], e["status"]) for e in log if e["scope"] == "liveperson"]


def test_analytics_filters_keep_only_the_rows_they_name(connect, control):
    """API-FACTS: the POST form of analytics takes channels, skills, handoffids and source;
    without a filter the GET form is asked, as before."""
    conn = connect()
    send(conn, people(3))
    send(conn, people(2, start=10), skill="billing")
    client = ConnectionClient(conn)

    everything = client.reporting_analytics(**window())["data"]
    billing = client.reporting_analytics(**window(), skills=["billing"])["data"]
    by_handoff = client.reporting_analytics(**window(), handoff_ids=["H1000000001"])["data"]
    on_whatsapp = client.reporting_analytics(**window(), channels=["wa"])["data"]
    from_api = client.reporting_analytics(**window(), source=["API"])["data"]
    from_the_ui = client.reporting_analytics(**window(), source=["UI", "LPWF"])["data"]
    no_filter = client.reporting_analytics(**window(), skills=[], source=[])["data"]

    assert {(row["skill"], row["attempted"]) for row in everything} == {
        ("billing", 2),
        ("sales", 3),
    }
    assert [(row["skill"], row["attempted"]) for row in billing] == [("billing", 2)]
    assert by_handoff == from_api == no_filter == everything
    assert on_whatsapp == from_the_ui == []
    methods = [method for method, path, _ in asked(control) if path == ANALYTICS_PATH]
    assert methods == ["GET", "POST", "POST", "POST", "POST", "POST", "GET"]


@pytest.mark.parametrize(
    ("filters", "field", "said"),
    [
        ({"source": ["api"]}, "source", "'API', 'UI', 'LPWF'"),
        ({"source": "API"}, "source", "array"),
        ({"skills": "billing"}, "skills", "array"),
        ({"handoff_ids": [1000000001]}, "handoff_ids", "string"),
        ({"skill": ["billing"]}, "skill", "skills"),
    ],
)
def test_a_wrong_filter_is_named_with_its_fix_before_anything_is_asked(
    connect, control, filters, field, said
):
    """A misspelt source or filter would keep no row, or every row, without a word."""
    client = ConnectionClient(connect())

    with pytest.raises(InputError) as raised:
        client.reporting_analytics(**window(), **filters)

    assert raised.value.field.split(".")[0] == field
    assert said in str(raised.value.fix)
    assert asked(control) == []


def test_a_campaign_s_report_has_a_row_per_recipient_of_that_campaign(connect, control):
    conn = connect()
    everyone = people(3)
    first = send(conn, everyone)
    send(conn, people(2, start=10))
    campaign_id = first["campaigns"][0]["proactiveCampaignId"]

    report = ConnectionClient(conn).campaign_report(campaign_id=campaign_id)

    assert report["proactiveCampaignId"] == campaign_id
    assert sorted(row["address"] for row in report["data"]) == sorted(
        person["phone"] for person in everyone
    )
    assert {row["proactiveCampaignId"] for row in report["data"]} == {campaign_id}
    action = get_connector("liveperson_proactive").actions["campaign_report"]
    assert action.input_schema["required"] == ["campaign_id"]
    assert "data" in action.output_schema["properties"]


def test_an_unknown_campaign_s_report_is_an_error_naming_it(connect, control):
    client = ConnectionClient(connect())

    with pytest.raises(ConnectorError) as unknown:
        client.campaign_report(campaign_id="no-such-campaign")
    with pytest.raises(InputError) as elsewhere:  # it goes into the report's URL
        client.campaign_report(campaign_id="../analytics")

    assert unknown.value.status == 404
    assert unknown.value.field == "campaign_id"
    assert "no-such-campaign" in unknown.value.message
    assert "proactiveCampaignId" in str(unknown.value.fix)
    assert elsewhere.value.field == "campaign_id"
    assert [path for _, path, _ in asked(control) if path != TOKEN_PATH] == [
        f"{REPORT_PATH}/no-such-campaign/"
    ]


def test_a_campaign_is_reported_once_the_reporting_lag_has_passed(connect, control):
    """LivePerson's Outbound Reporting is up to 20 minutes late (the README: a campaign
    sent in the last 20 minutes fails naming campaign_id); the sandbox's reported every
    campaign at once, so that failure was never met. Within the lag, no report, analytics
    or transactions show the campaign; once it has passed (1 s, lowered from a minute so
    that the first reads fall within it however slow the machine), they do."""
    settings(control, reporting_lag_seconds=60)
    conn = connect()
    everyone = people(2)
    campaign_id = send(conn, everyone)["campaigns"][0]["proactiveCampaignId"]
    client = ConnectionClient(conn)

    with pytest.raises(ConnectorError) as early:
        client.campaign_report(campaign_id=campaign_id)
    assert early.value.status == 404 and early.value.field == "campaign_id"
    assert campaign_id in early.value.message and "20 minutes" in str(early.value.fix)
    assert client.reporting_analytics(**window()) == {"data": []}
    assert client.reporting_transactions(**window()) == {"data": []}

    settings(control, reporting_lag_seconds=1)

    def report() -> Any:
        try:
            return client.campaign_report(campaign_id=campaign_id)
        except ConnectorError as exc:  # not reported yet: the same refusal
            assert exc.status == 404 and exc.field == "campaign_id", exc
            return None

    reported = wait_for(report, what="the campaign's report once the lag has passed")
    assert sorted(row["address"] for row in reported["data"]) == sorted(
        person["phone"] for person in everyone
    )
    assert [row["attempted"] for row in client.reporting_analytics(**window())["data"]] == [2]
    assert len(client.reporting_transactions(**window())["data"]) == 2


def test_filtered_analytics_and_the_report_wait_out_the_reporting_rate_limit(connect, control):
    conn = connect()
    campaign_id = send(conn, people(2))["campaigns"][0]["proactiveCampaignId"]
    settings(control, reporting_requests_per_second=1)
    client = ConnectionClient(conn)

    billing = client.reporting_analytics(**window(), skills=["billing"])
    report = client.campaign_report(campaign_id=campaign_id)

    assert billing == {"data": []}
    assert len(report["data"]) == 2
    reporting = [
        (method, status) for method, path, status in asked(control) if "/app/prmsg/" in path
    ]
    assert reporting == [("POST", 200), ("GET", 429), ("GET", 200)]


def test_filtered_analytics_and_the_report_fetch_a_new_token_once_theirs_expired(connect, control):
    conn = connect()
    campaign_id = send(conn, people(2))["campaigns"][0]["proactiveCampaignId"]
    client = ConnectionClient(conn)

    fault(control, expire_tokens=True)
    sales = client.reporting_analytics(**window(), skills=["sales"])
    fault(control, expire_tokens=True)
    report = client.campaign_report(campaign_id=campaign_id)

    assert [row["attempted"] for row in sales["data"]] == [2]
    assert len(report["data"]) == 2
    statuses = [status for _, path, status in asked(control) if "/app/prmsg/" in path]
    assert statuses == [401, 200, 401, 200]
    assert len(requests_to(control, TOKEN_PATH)) == 3


def test_dry_runs_answer_the_requests_they_would_send_and_ask_nothing(connect, control, sandbox):
    """Run by hand or in a Test, an action answers the request it would send, beside a real
    answer's keys (empty), so a cell that reads `data` passes its Test too."""
    client = ConnectionClient(connect(dry_run=True))
    times = window()
    params = {"attemptedStartTime": times["start"], "attemptedEndTime": times["end"]}

    plain = client.reporting_analytics(**times)
    filtered = client.reporting_analytics(**times, channels=["sms"], source=["API"])
    report = client.campaign_report(campaign_id="c1")

    url = f"{sandbox.url}{ANALYTICS_PATH}"
    assert plain == {
        "data": [],
        "dry_run": True,
        "requests": [{"method": "GET", "url": url, "params": params}],
    }
    assert filtered["requests"] == [
        {
            "method": "POST",
            "url": url,
            "params": params,
            "json": {"filters": {"channels": ["sms"], "source": ["API"]}},
        }
    ]
    assert report == {
        "proactiveCampaignId": "c1",
        "data": [],
        "dry_run": True,
        "requests": [{"method": "GET", "url": f"{sandbox.url}{REPORT_PATH}/c1/"}],
    }
    # The other reads too: they asked LivePerson in a Test (the README: every action).
    rows = client.reporting_transactions(**window())
    status = client.campaign_status(campaign_id="c1")
    assert rows["data"] == [] and rows["requests"][0]["method"] == "POST", rows
    assert status["conversations"] == [] and status["dry_run"] is True, status
    assert asked(control) == []
