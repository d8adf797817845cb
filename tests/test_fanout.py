"""Campaign fan-out at the limit: recipients streamed in slices, the account's rate limit
kept exactly (no 429), every recipient accounted for once, against the sandbox over HTTP.

Small sandbox limits keep each test to about a second; `bench/bench_fanout.py` runs the
same path with 100,000 recipients at the default limits.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pandas
import pytest
from sqlalchemy import event

from lpstudio.client import ConnectionClient
from lpstudio.kernel.runtime import StoreLedger
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.sdk import Connection, ConnectorError, Ledger, MemoryLedger
from lpstudio.store import Store

ACCOUNT = "12345678"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
PER_SECOND = 10
PER_REQUEST = 10


def campaign_module() -> ModuleType:
    """The campaign module as the registry loaded it (under `lpstudio_connectors`)."""
    get_connector("liveperson_proactive")
    return importlib.import_module("lpstudio_connectors.liveperson_proactive.campaign")


class WatchingLedger(MemoryLedger):
    """Notes, at each batch's claim (right before it is sent), what `watch()` returns."""

    def __init__(self, watch: Any) -> None:
        super().__init__()
        self.watch = watch
        self.seen: list[Any] = []

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        self.seen.append(self.watch())
        return super().claim_many(keys, check)


class Killed(BaseException):
    """The process running a job dies (as under `kill -9`: no handler runs)."""


class HookedStoreLedger(StoreLedger):
    """Job 1's ledger in the store, calling `claimed(n)` once batch n is claimed, right
    before it is sent."""

    def __init__(self, store_url: str, claimed: Callable[[int], None]) -> None:
        super().__init__(store_url, "job:1", 1)
        self.claimed = claimed
        self.claims = 0

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        earlier = super().claim_many(keys, check)
        self.claims += 1
        self.claimed(self.claims)
        return earlier


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lpstudio.db'}"
    store = Store(url, create=True)
    store.migrate()
    store.close()
    return url


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    limits = SandboxSettings(requests_per_second=PER_SECOND, recipients_per_request=PER_REQUEST)
    with Sandbox(limits) as running:
        yield running


def connection(sandbox: Sandbox, ledger: Ledger | None = None) -> Connection:
    return Connection(
        "lp",
        get_connector("liveperson_proactive"),
        {
            "account_id": ACCOUNT,
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "base_url": sandbox.url,
            "requests_per_second": PER_SECOND,
            "recipients_per_request": PER_REQUEST,
        },
        ledger=ledger or MemoryLedger(),
    )


def phones(numbers: range) -> list[str]:
    return [f"+1{2_000_000_000 + n}" for n in numbers]


def frame(count: int, start: int = 0) -> pandas.DataFrame:
    numbers = range(start, start + count)
    return pandas.DataFrame({"phone": phones(numbers), "name": [f"P{n}" for n in numbers]})


def send(conn: Connection, recipients: Any) -> dict[str, Any]:
    return ConnectionClient(conn).send_campaign(
        handoff="H1000000001",
        campaign_name="Fan-out",
        skill="sales",
        recipients=recipients,
        consumer_id="phone",
        variables={"1": "{name}"},
    )


def campaign_log(control: httpx.Client) -> list[dict[str, Any]]:
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry for entry in log if entry["path"] == CAMPAIGN_PATH]


def received(control: httpx.Client) -> dict[str, int]:
    rows = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    return {row["address"]: row["count"] for row in rows}


def test_a_dataframe_is_read_a_slice_at_a_time_while_batches_go_out(sandbox, monkeypatch):
    monkeypatch.setattr(campaign_module(), "READ_ROWS", 50)
    slices: list[int] = []
    to_dict = pandas.DataFrame.to_dict

    def watched(self: pandas.DataFrame, *args: Any, **kwargs: Any) -> Any:
        slices.append(len(self))
        return to_dict(self, *args, **kwargs)

    monkeypatch.setattr(pandas.DataFrame, "to_dict", watched)
    ledger = WatchingLedger(lambda: len(slices))
    conn = connection(sandbox, ledger)

    result = send(conn, frame(120))
    conn.close()

    assert result["accepted"] == 120 and result["batches"] == 12
    assert slices == [50, 50, 20]  # never the whole frame at once
    # The first batch went out when one slice had been read, the last after all three.
    assert ledger.seen[0] == 1 and ledger.seen[-1] == 3


def test_any_iterable_of_records_streams_too(sandbox, monkeypatch):
    campaign = campaign_module()
    monkeypatch.setattr(campaign, "READ_ROWS", 10)
    pulled = [0]

    def records() -> Iterator[dict[str, Any]]:
        for record in frame(30).to_dict("records"):
            pulled[0] += 1
            yield record

    ledger = WatchingLedger(lambda: pulled[0])
    conn = connection(sandbox, ledger)
    data = {
        "handoff": "H1000000001",
        "campaign_name": "Fan-out",
        "skill": "sales",
        "recipients": records(),
        "consumer_id": "phone",
        "variables": {"1": "{name}"},
    }

    result = campaign.send_campaign(conn, data)
    conn.close()

    assert result["accepted"] == 30
    assert ledger.seen == [10, 20, 30]  # each batch goes out before the next slice is read


def test_at_the_sandbox_s_own_limit_no_request_is_refused(sandbox, control):
    """Connection and sandbox allow the same 10 requests per second: the connector keeps
    every second of arrivals within it, so the 21 requests draw no 429."""
    conn = connection(sandbox)

    result = send(conn, frame(210))
    conn.close()

    assert result["accepted"] == 210 and result["batches"] == 21
    log = campaign_log(control)
    assert [entry["status"] for entry in log] == [200] * 21
    assert received(control) == dict.fromkeys(phones(range(210)), 1)


def test_handoff_lists_asked_while_a_campaign_sends_take_their_turns_without_a_429(
    sandbox, control
):
    """LivePerson counts every Proactive call against the account's one rate, the handoff
    list as much as a campaign: a form listing handoffs while a campaign fans out shares
    the connection's 10 requests per second with it, and no call of either draws a 429."""
    lister = connection(sandbox)
    listed: list[int] = []

    def list_handoffs() -> None:
        for _ in range(10):
            listed.append(len(ConnectionClient(lister).picklist("handoffs")))

    thread = threading.Thread(target=list_handoffs)
    thread.start()
    conn = connection(sandbox)
    result = send(conn, frame(110))
    thread.join()
    conn.close()
    lister.close()

    assert result["accepted"] == 110 and listed == [3] * 10
    log = control.get("/_sandbox/requests").json()["requests"]
    lists = [entry for entry in log if entry["path"].endswith("/app/prmsg/handoffs/list")]
    assert len(lists) == 10 and len(campaign_log(control)) == 11
    assert [entry for entry in log if entry["status"] != 200] == []


def test_every_recipient_is_accounted_for_once_whatever_happens(sandbox, control):
    """Bad numbers, duplicates and a lost answer: each recipient is accepted, failed or
    uncertain, exactly once, and the uncertain batch is never sent again (the campaign
    stops there, and its retry sends the rest)."""
    people = frame(60)
    people.loc[5, "phone"] = "12345"  # not E.164
    people.loc[17, "phone"] = people.loc[16, "phone"]  # a duplicate
    lost = [False]

    def drop_third_batch() -> None:
        if len(ledger.seen) == 2 and not lost[0]:  # the third claim
            lost[0] = True
            control.post(
                "/_sandbox/faults", json={"drop_rate": 1.0, "scope": "liveperson", "count": 1}
            ).raise_for_status()

    ledger = WatchingLedger(lambda: drop_third_batch())
    conn = connection(sandbox, ledger)

    with pytest.raises(ConnectorError) as first:
        send(conn, people)
    with pytest.raises(ConnectorError) as retry:  # a retry of the job on the same ledger
        send(conn, people)
    conn.close()

    result, again = first.value.result, retry.value.result
    uncertain = sum(batch["recipients"] for batch in result["uncertain"])
    # The first stops at the batch left in doubt; its retry sends the rest.
    assert (result["accepted"], uncertain, result["not_sent"]) == (20, 10, 28)
    dropped = {f["errorMessage"].split(":")[0] for f in result["unsendable"]}
    assert dropped == {"INVALID_NUMBER", "DUPLICATE_NUMBER"} and result["failed"] == []
    assert again["accepted"] == 28 and len(campaign_log(control)) == 6
    assert sum(batch["recipients"] for batch in again["already_sent"]) == 20
    assert [batch["recipients"] for batch in again["uncertain"]] == [10]
    assert set(received(control).values()) == {1} and len(received(control)) == 58


def test_a_retry_job_sends_only_what_no_attempt_sent_in_two_writes_per_request(
    sandbox, control, store_url
):
    """Job 1 has its second request refused whole and dies after claiming its third batch;
    its retry (job 2, the same ledger in the store) runs on a file grown by 20 recipients."""

    def refuse_second_then_die_at_third(batch: int) -> None:
        if batch == 2:
            # 413: this request's refusal (a 400 would be every request's and stop the job).
            fault = {"error_rate": 1.0, "error_status": 413, "scope": "liveperson", "count": 1}
            control.post("/_sandbox/faults", json=fault).raise_for_status()
        if batch == 3:
            raise Killed

    dying = connection(sandbox, HookedStoreLedger(store_url, refuse_second_then_die_at_third))
    with pytest.raises(Killed):
        send(dying, frame(30))
    dying.close()
    ledger = StoreLedger(store_url, "job:1", 2)
    writes: list[int] = []
    event.listen(ledger.store.engine, "begin", lambda _: writes.append(1))
    retry = connection(sandbox, ledger)

    with pytest.raises(ConnectorError) as raised:
        send(retry, frame(50))
    retry.close()

    assert "accepted 30, rejected 0, uncertain 10, already sent 10" in str(raised.value)
    result = raised.value.result
    already = [(e["batch"], e["job_id"], e["recipients"]) for e in result["already_sent"]]
    assert already == [(1, 1, 10)]
    assert [c["batch"] for c in result["campaigns"]] == [2, 4, 5]
    [uncertain] = result["uncertain"]
    assert (uncertain["batch"], uncertain["job_id"]) == (3, 1)
    assert uncertain["addresses"] == phones(range(20, 30))
    assert received(control) == dict.fromkeys(phones(range(20)) + phones(range(30, 50)), 1)
    # A reservation of the day's count, a look at what is left to send (a read) and a claim
    # for each of the 5 batches, a settle for each of the 3 requests, and the count given
    # back by the 2 batches that sent none (1, sent before; 3, left in doubt by job 1): the
    # store is used per request, not per recipient, so a large fan-out keeps its pace.
    assert len(writes) == 5 * 3 + 3 + 2


def test_a_job_run_again_after_its_scheduler_stopped_counts_what_its_first_run_sent(
    sandbox, control, store_url
):
    """A job put back in the queue (its scheduler stopped mid-campaign) runs again as the
    same job: what its first run had sent was reported `already_sent`, as if another job
    had, and counted by no job on the dashboard. It is its own: accepted, with its campaigns."""
    first = connection(sandbox, StoreLedger(store_url, "job:1", 1))
    assert send(first, frame(2 * PER_REQUEST))["accepted"] == 2 * PER_REQUEST
    first.close()
    again = connection(sandbox, StoreLedger(store_url, "job:1", 1))

    result = send(again, frame(4 * PER_REQUEST))
    again.close()

    assert result["accepted"] == 4 * PER_REQUEST, result
    assert result["already_sent"] == []
    assert sum(c["accepted"] for c in result["campaigns"]) == 4 * PER_REQUEST
    earlier = [c for c in result["campaigns"] if c.get("earlier_run")]
    assert [c["batch"] for c in earlier] == [1, 2], result["campaigns"]
    assert received(control) == dict.fromkeys(phones(range(4 * PER_REQUEST)), 1)


class DyingLimiter:
    """The account's shared rate limit, in a process that dies (as under `kill -9`) while
    its `die_at`th send waits for its turn: a batch about to go out, never sent."""

    def __init__(self, die_at: int) -> None:
        self.die_at = die_at
        self.waits = 0

    def acquire(self, key: str, per_second: int) -> None:
        self.waits += 1
        if self.waits == self.die_at:
            raise Killed


@pytest.mark.parametrize(
    "refused",
    [False, True],  # dies as batch 3 waits for its turn; as batch 2 waits to be sent again
    ids=["waiting-its-turn", "waiting-out-a-429"],
)
def test_a_job_killed_while_a_batch_waits_to_go_out_leaves_it_for_its_retry(
    sandbox, control, store_url, refused
):
    """At the account's rate limit most of a campaign's time is spent waiting to send: a
    job killed then never sent the waiting batch, so its retry sends it (it was reported
    uncertain, never sent by anyone). A 429 refused the batch whole: the same."""
    if refused:
        fault = {"error_rate": 1.0, "error_status": 429, "scope": "liveperson", "count": 1}

        def refuse_batch_2(batch: int) -> None:
            if batch == 2:
                control.post("/_sandbox/faults", json=fault).raise_for_status()

        ledger: Ledger = HookedStoreLedger(store_url, refuse_batch_2)
    else:
        ledger = StoreLedger(store_url, "job:1", 1)
    dying = Connection(
        "lp",
        get_connector("liveperson_proactive"),
        connection(sandbox).config,
        ledger=ledger,
        limiter=DyingLimiter(3),
    )
    with pytest.raises(Killed):
        send(dying, frame(40))
    dying.close()
    retry = connection(sandbox, StoreLedger(store_url, "job:1", 2))

    result = send(retry, frame(40))
    retry.close()

    assert result["uncertain"] == []
    assert received(control) == dict.fromkeys(phones(range(40)), 1)
