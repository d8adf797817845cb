"""The sandbox's campaigns follow API-FACTS.md on template ids and the per-channel limits.

A campaign's `templateId` may be a WhatsApp template, the SMS template or an API handoff;
each channel sends at most `messages_per_second_per_channel` and `recipients_per_day_per_channel`
per UTC day. Everything goes through a real sandbox on loopback; time is moved on through
settings, never by sleeping.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lpstudio.sandbox import SandboxSettings

from .test_sandbox import campaign

ACCOUNT = "12345678"
TOKEN_PATH = f"/sentinel/api/account/{ACCOUNT}/app/token?v=1.0&grant_type=client_credentials"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
WA_TEMPLATE = "order_update_v1"  # the approved WhatsApp template of handoff H1000000002
SMS_TEMPLATE = "sms_text_v1"


@pytest.fixture
def auth(control: httpx.Client) -> dict[str, str]:
    return bearer(control)


def bearer(control: httpx.Client) -> dict[str, str]:
    credentials = {"client_id": "sandbox-client", "client_secret": "sandbox-secret"}
    answer = control.post(TOKEN_PATH, data=credentials)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def person(channel: str, number: str, *values: str) -> dict[str, Any]:
    variables = {str(index): value for index, value in enumerate(values, start=1)}
    return {"consumerContent": {channel: number}, "variables": variables}


def settings(control: httpx.Client, **changes: Any) -> None:
    answer = control.patch("/_sandbox/settings", json=changes)
    assert answer.status_code == 200, answer.text


def statuses(control: httpx.Client, auth: dict[str, str], created: httpx.Response) -> Any:
    assert created.status_code == 200, created.text
    path = f"{CAMPAIGN_PATH}/{created.json()['proactiveCampaignId']}/conversations"
    answer = control.get(path, headers=auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


# templateId: a WhatsApp template, the SMS template or an API handoff


def test_a_seeded_whatsapp_template_id_sends_on_whatsapp_with_its_placeholders(
    control: httpx.Client, auth
):
    consumers = [
        person("wa", "+14155550160", "Ann", "A1"),
        person("wa", "+14155550161", "Bob"),
        person("sms", "+14155550162", "Cy", "C3"),
        {
            **person("wa", "+14155550163", "Di", "D4"),
            "headerVariables": {"image": "https://x.test/a.png"},
        },
    ]
    body = campaign(consumers, templateId=WA_TEMPLATE, outboundNumber="14155550001")

    answer = control.post(CAMPAIGN_PATH, json=body, headers=auth)

    assert answer.status_code == 200, answer.text
    accepted = [c["consumerContent"] for c in answer.json()["acceptedConsumers"]]
    failed = [(c["consumerContent"], c["errorMessage"]) for c in answer.json()["failedConsumers"]]
    assert accepted == [{"wa": "+14155550160"}, {"wa": "+14155550163"}]
    assert failed == [
        ({"wa": "+14155550161"}, "INSUFFICIENT_VARIABLES"),
        ({"sms": "+14155550162"}, "MISSING_CONSUMER_INFORMATION==WA"),
    ]
    settings(control, campaign_progress_seconds=0)
    status = statuses(control, auth, answer)
    assert status["campaignStatus"] == "FINISHED"


def test_the_sms_template_id_sends_on_sms_with_its_placeholders(control: httpx.Client, auth):
    consumers = [
        person("sms", "+14155550170", "Your cart is waiting."),
        person("sms", "+14155550171", "Hi", "extra"),
        person("wa", "+14155550172", "Hi"),
    ]
    body = campaign(consumers, templateId=SMS_TEMPLATE, outboundNumber="+14155550000")

    answer = control.post(CAMPAIGN_PATH, json=body, headers=auth)

    assert answer.status_code == 200, answer.text
    accepted = [c["consumerContent"] for c in answer.json()["acceptedConsumers"]]
    failed = [c["errorMessage"] for c in answer.json()["failedConsumers"]]
    assert accepted == [{"sms": "+14155550170"}]
    assert failed == ["TOO_MANY_VARIABLES", "MISSING_CONSUMER_INFORMATION==SMS"]


@pytest.mark.parametrize("template_id", [WA_TEMPLATE, SMS_TEMPLATE])
def test_a_template_id_without_an_outbound_number_is_refused_whole(
    control: httpx.Client, auth, template_id: str
):
    body = campaign([person("wa", "+14155550160", "Ann", "A1")], templateId=template_id)

    answer = control.post(CAMPAIGN_PATH, json=body, headers=auth)

    assert answer.status_code == 400
    assert answer.json()["message"] == "Fields missing in request: outboundNumber"
    assert set(answer.json()) == {"code", "requestTraceId", "message"}
    assert control.get("/_sandbox/liveperson/campaigns").json()["campaigns"] == []


def test_a_handoff_still_needs_no_outbound_number_and_unknown_ids_are_refused(
    control: httpx.Client, auth
):
    handoff = campaign([person("sms", "+14155550180", "Hi")])
    unknown = campaign(
        [person("sms", "+14155550180", "Hi")], templateId="nope_v9", outboundNumber="+14155550000"
    )

    assert control.post(CAMPAIGN_PATH, json=handoff, headers=auth).status_code == 200
    refused = control.post(CAMPAIGN_PATH, json=unknown, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["message"] == "Unknown templateId: nope_v9"


# The limits per channel, each a setting


def test_the_per_channel_limits_are_settings_with_the_documented_defaults(control: httpx.Client):
    defaults = control.get("/_sandbox/settings").json()

    changed = control.patch("/_sandbox/settings", json={"recipients_per_day_per_channel": 5})
    paced = control.patch("/_sandbox/settings", json={"messages_per_second_per_channel": 9})
    zero = control.patch("/_sandbox/settings", json={"messages_per_second_per_channel": 0})
    text = control.patch("/_sandbox/settings", json={"recipients_per_day_per_channel": "many"})

    assert defaults["messages_per_second_per_channel"] == 10
    assert defaults["recipients_per_day_per_channel"] == 100_000
    assert changed.status_code == paced.status_code == 200
    assert paced.json()["recipients_per_day_per_channel"] == 5
    assert paced.json()["messages_per_second_per_channel"] == 9
    assert zero.status_code == text.status_code == 400
    assert "messages_per_second_per_channel" in zero.json()["error"]
    with pytest.raises(ValueError, match="recipients_per_day_per_channel"):
        SandboxSettings(recipients_per_day_per_channel=0)


def test_recipients_past_the_day_s_cap_of_their_channel_are_accepted_but_not_sent(
    control: httpx.Client, auth
):
    settings(control, recipients_per_day_per_channel=3, campaign_progress_seconds=0)
    settings(control, sms_window_start_hour=0, sms_window_end_hour=24)
    numbers = [f"+1415555019{n}" for n in range(6)]
    first = control.post(
        CAMPAIGN_PATH, json=campaign([person("sms", n, "Hi") for n in numbers[:2]]), headers=auth
    )
    second = control.post(
        CAMPAIGN_PATH, json=campaign([person("sms", n, "Hi") for n in numbers[2:4]]), headers=auth
    )
    third = control.post(
        CAMPAIGN_PATH, json=campaign([person("sms", numbers[4], "Hi")]), headers=auth
    )
    whatsapp = control.post(
        CAMPAIGN_PATH,
        json=campaign([person("wa", numbers[5], "Ann", "A1")], templateId="order_update_v1",
                      outboundNumber="+14155550001"),
        headers=auth,
    )  # fmt: skip

    assert [len(a.json()["acceptedConsumers"]) for a in (first, second, third)] == [2, 2, 1]
    assert statuses(control, auth, first)["campaignStatus"] == "FINISHED"
    capped = statuses(control, auth, second)
    rows = [(c["status"], c["errorMessage"]) for c in capped["conversations"]]
    assert rows[0] == ("DELIVERED", None)
    assert rows[1][0] == "NOT_SENT"
    assert "daily limit" in rows[1][1].lower() and "sms" in rows[1][1].lower()
    assert capped["campaignStatus"] == "FINISHED"
    nobody = statuses(control, auth, third)
    assert [c["status"] for c in nobody["conversations"]] == ["NOT_SENT"]
    assert nobody["campaignStatus"] == "FAILED"
    assert [c["status"] for c in statuses(control, auth, whatsapp)["conversations"]] == [
        "DELIVERED"
    ]


def test_a_reset_starts_the_day_s_count_again(control: httpx.Client, auth):
    """The benchmark sends exactly a day's cap, resets and sends it again."""
    settings(control, recipients_per_day_per_channel=2, campaign_progress_seconds=0)
    settings(control, sms_window_start_hour=0, sms_window_end_hour=24)
    people = [person("sms", f"+1415555020{n}", "Hi") for n in range(2)]
    before = control.post(CAMPAIGN_PATH, json=campaign(people), headers=auth)
    sent_before = statuses(control, auth, before)["conversations"]
    control.post("/_sandbox/reset", json={"keep_settings": True})
    auth = bearer(control)  # a reset forgets the tokens too

    after = control.post(CAMPAIGN_PATH, json=campaign(people), headers=auth)

    sent_after = statuses(control, auth, after)["conversations"]
    assert [c["status"] for c in sent_before] == ["DELIVERED", "DELIVERED"]
    assert [c["status"] for c in sent_after] == ["DELIVERED", "DELIVERED"]


def test_delivery_is_paced_per_channel_and_fast_forwards_with_progress_zero(
    control: httpx.Client, auth
):
    """At one message a second, the 100th recipient of a campaign is delivered 99 s after
    the first, and a campaign queued behind it on SMS waits longer; WhatsApp does not."""
    settings(control, messages_per_second_per_channel=1, sms_window_start_hour=0)
    settings(control, sms_window_end_hour=24)
    crowd = [person("sms", f"+1415555{n:04d}", "Hi") for n in range(100)]
    both = {"consumerContent": {"wa": "+14155550160", "sms": "+14155550160"}}
    both["variables"] = {"1": "Ann", "2": "A1"}
    big = control.post(CAMPAIGN_PATH, json=campaign(crowd), headers=auth)
    behind = control.post(
        CAMPAIGN_PATH, json=campaign([person("sms", "+14155559999", "Hi")]), headers=auth
    )
    whatsapp = control.post(
        CAMPAIGN_PATH,
        json=campaign([both], templateId="H1000000002"),
        headers=auth,
    )
    # Move past the campaigns' processing time (2 s by default) without waiting for it.
    settings(control, campaign_progress_seconds=0.000001)

    paced = statuses(control, auth, big)
    queued = statuses(control, auth, behind)
    other_channel = statuses(control, auth, whatsapp)

    assert paced["conversations"][0]["status"] == "DELIVERED"
    assert paced["conversations"][-1]["status"] == "DRAFT"
    assert paced["campaignStatus"] == "IN_PROGRESS"
    assert queued["conversations"][0]["status"] == "DRAFT"
    assert other_channel["campaignStatus"] == "FINISHED"
    settings(control, campaign_progress_seconds=0)
    assert statuses(control, auth, big)["campaignStatus"] == "FINISHED"
    assert statuses(control, auth, behind)["campaignStatus"] == "FINISHED"
