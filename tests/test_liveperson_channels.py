"""A Proactive campaign over several channels (an address per channel, from a record field
each) and the daily limit of recipients per channel, against the sandbox over real HTTP on
loopback. What was really sent is read back from the sandbox's control API.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import InputError
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.registry import get_connector
from lpstudio.sdk import Connection, ConnectorError, Ledger
from lpstudio.studio import Studio

from . import test_liveperson

#: The sandbox's WhatsApp handoff with SMS as fallback: {{1}} a name, {{2}} an order.
MULTI = "H1000000002"
CAP = "recipients_per_day_per_channel"


#: test_liveperson's connections to the sandbox (one fixture, not a copy of it).
connect = test_liveperson.connect


def customer(n: int, **fields: Any) -> dict[str, Any]:
    return {"phone": f"+1415555{n:04d}", "app_user": f"user-{n}", "name": f"P{n}", **fields}


def send(conn: Connection, recipients: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "handoff": MULTI,
        "campaign_name": "Order update",
        "skill": "sales",
        "recipients": recipients,
        "consumer_id": {"wa": "phone", "sms": "phone", "inapp": "app_user"},
        "variables": {"1": "{name}", "2": "A-{name}"},
        **overrides,
    }
    return ConnectionClient(conn).send_campaign(**data)


def sent_contents(control: httpx.Client) -> list[dict[str, str]]:
    """The consumerContent of every consumer the sandbox received, in order."""
    answer = control.get("/_sandbox/liveperson/campaigns").json()["campaigns"]
    return [c["consumerContent"] for campaign in answer for c in campaign["request"]["consumers"]]


def nothing_sent(control: httpx.Client) -> bool:
    return control.get("/_sandbox/requests").json()["requests"] == []


# -- an address per channel ----------------------------------------------------------------


@pytest.mark.parametrize("channels", [["wa", "sms", "inapp"], None])
def test_each_channel_gets_the_address_of_its_own_field(connect, control, channels):
    """The in-app channel gets the in-app user id, the phone channels the phone number (not
    the phone as the in-app id); without `channels`, consumer_id's channels are sent."""
    given = {"channels": channels} if channels else {}

    result = send(connect(), [customer(150, app_user="user-77")], **given)

    assert result["accepted"] == 1 and result["failed"] == []
    assert sent_contents(control) == [
        {"wa": "+14155550150", "sms": "+14155550150", "inapp": "user-77"}
    ]


def test_one_field_still_gives_every_channel_the_same_address(connect, control):
    result = send(connect(), [customer(151)], consumer_id="phone", channels=["wa", "sms"])

    assert result["accepted"] == 1
    assert sent_contents(control) == [{"wa": "+14155550151", "sms": "+14155550151"}]


def test_an_in_app_id_is_no_phone_number_but_a_missing_one_fails_its_recipient(connect, control):
    """Only the phone channels' addresses must be E.164; a recipient without the address
    of one of its channels is not sent, named by its other address and the missing field."""
    good = customer(152, app_user="not+a-number")
    no_app = customer(153, app_user="  ")
    bad_phone = customer(154, phone="4155550154")

    result = send(connect(), [good, no_app, bad_phone])

    assert result["accepted"] == 1
    assert result["unsendable"] == [
        {"address": "+14155550153", "errorMessage": "MISSING_CONSUMER_ID=app_user"},
        {"address": "4155550154", "errorMessage": "INVALID_NUMBER"},
    ]
    assert [c["inapp"] for c in sent_contents(control)] == ["not+a-number"]


def test_a_field_no_recipient_has_fails_the_campaign_naming_it(connect, control):
    with pytest.raises(ConnectorError) as raised:
        send(connect(), [customer(155), customer(156)], consumer_id={"inapp": "app_id"})

    assert raised.value.field == "consumer_id" and "'app_id'" in str(raised.value.fix)
    assert nothing_sent(control)


@pytest.mark.parametrize(
    ("overrides", "field", "said"),
    [
        ({"consumer_id": {"sms": "phone"}, "channels": ["sms", "inapp"]}, "consumer_id", "inapp"),
        (
            {"consumer_id": {"sms": "phone", "inapp": "app_user"}, "channels": ["sms"]},
            "channels",
            "inapp",
        ),
        ({"consumer_id": {"fax": "phone"}}, "consumer_id", "fax"),
        ({"consumer_id": {}}, "consumer_id", ""),
        ({"consumer_id": {"sms": " "}}, "consumer_id.sms", ""),
    ],
)
def test_a_consumer_id_that_does_not_fit_the_channels_is_named_before_anything_is_sent(
    connect, control, overrides, field, said
):
    with pytest.raises(InputError) as raised:
        send(connect(), [customer(157)], **overrides)

    assert raised.value.field == field and said in str(raised.value)
    assert nothing_sent(control)


def test_a_recipient_is_known_by_its_phone_whatever_its_other_addresses(connect, control, ws):
    """The ledger keys a recipient on its phone number when it has one: a retry after its
    in-app id changed does not message the phone again; and two records sharing an in-app
    id are one recipient twice in a campaign."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    first = send(connect(ledger=StoreLedger(url, "job:1", 1)), [customer(158)])
    renamed = customer(158, app_user="user-renamed")
    retry = send(connect(ledger=StoreLedger(url, "job:1", 2)), [renamed])
    twins = send(connect(), [customer(159), customer(160, app_user="user-159")])

    assert first["accepted"] == 1 and first["campaigns"][0]["accepted"] == 1
    assert retry["accepted"] == 0 and retry["already_sent"][0]["recipients"] == 1
    assert twins["accepted"] == 1
    assert twins["unsendable"] == [
        {
            "address": "+14155550160",
            "errorMessage": "DUPLICATE_NUMBER: user-159 is the address of an earlier record, "
            "which the campaign messages once",
        }
    ]
    assert [c["sms"] for c in sent_contents(control)] == ["+14155550158", "+14155550159"]


# -- recipients per day per channel -------------------------------------------------------


def campaign_module() -> Any:
    """The campaign module as the registry loaded it (under `lpstudio_connectors`)."""
    get_connector("liveperson_proactive")
    return importlib.import_module("lpstudio_connectors.liveperson_proactive.campaign")


def crowd(count: int) -> list[dict[str, Any]]:
    return [customer(n) for n in range(count)]


#: A one-channel campaign: the daily limit does not depend on several.
SMS = {"handoff": "H1000000001", "consumer_id": "phone", "variables": {"1": "{name}"}}


def capped(connect: Callable[..., Connection], ledger: Ledger | None = None) -> Connection:
    return connect(ledger=ledger, recipients_per_request=10, **{CAP: 25})


def test_a_campaign_stops_before_the_daily_limit_and_names_the_rest_not_sent(connect, control):
    with pytest.raises(ConnectorError) as raised:
        send(capped(connect), crowd(40), **SMS)

    error, result = raised.value, raised.value.result
    assert error.field == CAP and "tomorrow" in str(error.fix) and CAP in str(error.fix)
    assert not error.retryable  # a retry minutes later would meet the same limit
    assert result["accepted"] == 25 and result["not_sent"] == 15
    assert [c["accepted"] for c in result["campaigns"]] == [10, 10, 5]
    assert len(sent_contents(control)) == 25


def test_a_daily_limit_stop_says_which_batch_it_cut_and_how_many_of_it_were_not_sent(
    connect, control
):
    """Batch 1, cut to the day's 5 left of its 10, was said "stopped before batch 2", as
    if batch 1 had gone whole: 5 of it were not sent. A batch the day has no room for at
    all is still the one the campaign stopped before."""
    cap = {CAP: 5, "recipients_per_request": 10}
    with pytest.raises(ConnectorError) as cut:
        send(connect(**cap), crowd(25), **SMS)
    with pytest.raises(ConnectorError) as dry:
        send(connect(dry_run=True, **cap), crowd(25), **SMS)
    with pytest.raises(ConnectorError) as full:
        send(connect(**{**cap, CAP: 10}), crowd(25), **SMS)

    said = str(cut.value)
    assert said.startswith(
        "The campaign stopped: batch 1 was cut to the day's limit of 5 recipients a day on "
        "sms (recipients_per_day_per_channel;"
    ), said
    assert "), 5 of its recipients and the 15 left not sent. " in said, said
    assert "before batch 2" not in said, said
    assert (cut.value.result["accepted"], cut.value.result["not_sent"]) == (5, 20)
    assert "Nothing more was sent: accepted 5 before, 20 not sent" in said, said
    assert "batch 1 was cut" in str(dry.value) and "A real run would send 5 and leave 20" in str(
        dry.value
    )
    # Batch 1 went whole: the day had no room for any of batch 2.
    assert "The campaign stopped before batch 2: sending it would pass 10" in str(full.value)
    assert (full.value.result["accepted"], full.value.result["not_sent"]) == (10, 15)
    assert len(sent_contents(control)) == 15


def test_a_rerun_the_same_day_sends_no_more_and_the_next_day_s_sends_the_rest(
    connect, control, ws, monkeypatch
):
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    ledger = StoreLedger(url, "job:1", 1)
    with pytest.raises(ConnectorError):
        send(capped(connect, ledger), crowd(40), **SMS)

    with pytest.raises(ConnectorError) as again:
        send(capped(connect, StoreLedger(url, "job:1", 2)), crowd(40), **SMS)
    monkeypatch.setattr(campaign_module(), "today", lambda: "2099-01-01")
    tomorrow = send(capped(connect, StoreLedger(url, "job:1", 3)), crowd(40), **SMS)

    assert again.value.field == CAP and again.value.result["accepted"] == 0
    assert again.value.result["not_sent"] == 15
    assert tomorrow["accepted"] == 15
    assert sum(e["recipients"] for e in tomorrow["already_sent"]) == 25
    assert len(sent_contents(control)) == 40


def test_the_campaigns_of_a_day_together_stop_at_the_daily_limit(connect, control, ws):
    """Two recipes' campaigns on one account the same day: each counted its own job's sends
    only, so together they sent 40 past a cap of 25, and LivePerson would leave 15 of them
    NOT_SENT while their job said them accepted."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    first = send(capped(connect, StoreLedger(url, "job:11", 11)), crowd(20), **SMS)
    others = [customer(n) for n in range(20, 40)]
    with pytest.raises(ConnectorError) as second:
        send(capped(connect, StoreLedger(url, "job:12", 12)), others, **SMS)

    assert first["accepted"] == 20
    error, result = second.value, second.value.result
    assert error.field == CAP and result["accepted"] == 5 and result["not_sent"] == 15
    assert "stopped: batch 1 was cut to the day's limit of 25 recipients" in str(error), error
    assert [c["accepted"] for c in result["campaigns"]] == [5]
    assert len(sent_contents(control)) == 25
    # A dry run of a third counts what the day holds: it would send nothing.
    conn = connect(dry_run=True, ledger=StoreLedger(url, "job:13", 13), **{CAP: 25})
    with pytest.raises(ConnectorError) as dry:
        send(conn, [customer(n) for n in range(40, 45)], **SMS)
    assert dry.value.field == CAP and dry.value.result["not_sent"] == 5
    assert len(sent_contents(control)) == 25


def test_campaigns_in_several_processes_at_once_never_reserve_past_the_limit(ws):
    """The day's count is reserved in one store transaction: eight ledgers on their own
    connections to the store, taking 3 at a time together, get the cap exactly."""
    with Studio.open(ws, user="alice") as studio:
        url = studio.store.url
    scopes, day, cap = ["liveperson:1:sms", "liveperson:1:wa"], "2026-12-04", 50
    ledgers = [StoreLedger(url, f"job:{n}", n) for n in range(8)]
    barrier = threading.Barrier(len(ledgers))

    def take(ledger: StoreLedger) -> int:
        barrier.wait()
        got = 0
        while step := ledger.reserve_daily(scopes, day, 3, cap):
            got += step
        return got

    with ThreadPoolExecutor(len(ledgers)) as pool:
        taken = list(pool.map(take, ledgers))

    assert sum(taken) == cap and ledgers[0].daily_used(scopes, day) == cap
    ledgers[1].release_daily(scopes, day, 7)
    assert ledgers[2].daily_used(scopes, day) == cap - 7
    assert ledgers[2].daily_used(["liveperson:1:sms"], "2026-12-05") == 0


def test_a_dry_run_past_the_daily_limit_says_so_and_sends_nothing(connect, control):
    conn = connect(dry_run=True, recipients_per_request=10, **{CAP: 25})

    with pytest.raises(ConnectorError) as raised:
        send(conn, crowd(40), **SMS)

    assert raised.value.field == CAP and raised.value.result["not_sent"] == 15
    assert nothing_sent(control)


@pytest.mark.parametrize("value", [0, -1, "many"])
def test_a_daily_limit_out_of_range_is_named_before_anything_is_sent(connect, control, value):
    with pytest.raises(InputError) as raised:
        send(connect(**{CAP: value}), crowd(3), **SMS)

    assert raised.value.field == CAP
    assert nothing_sent(control)


def test_the_daily_limit_is_a_connection_field_defaulting_to_100000():
    field = next(f for f in get_connector("liveperson_proactive").fields if f.name == CAP)

    assert field.type == "integer" and field.default == 100000 and field.minimum == 1
