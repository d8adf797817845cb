"""The Shopify poll at the edges of its windows: a crowded second where a narrowed window
ends, the shop's leaky bucket across the polls of a backlog, and the widening look for the
latest event (Test, Run now).

Real HTTP to the sandbox on loopback, which counts what it was asked (`/_sandbox/requests`,
each with its status); the page cap is lowered (monkeypatched in this process) so that a
few hundred checkouts stand for many thousands, and the sandbox starts with no seeded
checkouts, so that each test knows every checkout of its shop.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox
from lpstudio.sdk import Connection, Page
from lpstudio.triggers import latest

TRIGGER = "new_or_updated_abandoned_checkout"
CHECKOUTS_PATH = "/admin/api/2026-10/checkouts.json"


@pytest.fixture
def shop(sandbox: Sandbox, control: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> httpx.Client:
    """The sandbox's shop with no checkouts, a bucket that never makes a test wait unless
    it lowers it, and a poll that reads one page of 250 at most before it narrows."""
    settings = {"seed_checkouts": 0, "shopify_bucket_size": 10_000}
    assert control.patch("/_sandbox/settings", json=settings).status_code == 200
    assert control.post("/_sandbox/reset", json={"keep_settings": True}).status_code == 200
    fetch = get_connector("shopify").poll_triggers[TRIGGER].poll
    monkeypatch.setattr(sys.modules[fetch.__module__], "MAX_PAGES_PER_POLL", 1)
    return control


@pytest.fixture
def conn(sandbox: Sandbox) -> Iterator[Connection]:
    values = {"shop": sandbox.url, "access_token": "shpat_sandbox"}
    opened = Connection("shop", get_connector("shopify"), values)
    yield opened
    opened.close()


def add(control: httpx.Client, checkouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = control.post("/_sandbox/shopify/checkouts", json=checkouts)
    assert answer.status_code == 200, answer.text
    return answer.json()["checkouts"]


def statuses(control: httpx.Client) -> list[int]:
    """The status of each checkouts request the shop answered, in order."""
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry["status"] for entry in log if entry["path"] == CHECKOUTS_PATH]


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def poll_all(conn: Connection, since: str) -> list[Page]:
    """Polls until no more events wait, as the trigger runner does: each poll's page."""
    pages, cursor = [], None
    while True:
        pages.append(ConnectionClient(conn).poll(TRIGGER, since, cursor))
        cursor = pages[-1].cursor
        if not pages[-1].more:
            return pages


def test_a_crowded_second_where_a_narrowed_window_ends_is_read_once(
    shop: httpx.Client, conn: Connection
) -> None:
    """A window over the page cap was narrowed to end at a second of 240 checkouts (a bulk
    edit); `updated_at_max` takes that second in, and the next poll started at it: it read
    the 240 again, and was narrowed around them for the few new ones beside them."""
    crowded = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    add(shop, [{"updated_at": at(crowded - timedelta(minutes=10 - n))} for n in range(10)])
    add(shop, [{"updated_at": at(crowded)} for _ in range(240)])
    add(shop, [{"updated_at": at(crowded + timedelta(seconds=1 + n))} for n in range(300)])

    pages = poll_all(conn, at(crowded - timedelta(minutes=10)))

    read = [(e["id"], e["updated_at"]) for page in pages for e in page.events]
    assert len(read) == len(set(read)) == 550  # the backlog's polls: each checkout once
    assert len(statuses(shop)) <= 10  # it was 14, the 240 read twice


def test_a_bulk_edit_larger_than_a_poll_is_reached_and_read_once(
    shop: httpx.Client, conn: Connection
) -> None:
    """600 checkouts edited in one second, more than a poll reads. Each poll on the way to
    it asked for a window up to that second (the end found crowded, `updated_at_max`
    taking it in), found it too full again and halved the way there: polls that brought
    nothing, a read wasted in each. Once the second was read in id order, the next poll
    started at it and read all of it again."""
    bulk = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    [first] = add(shop, [{"updated_at": at(bulk - timedelta(minutes=20))}])
    add(shop, [{"updated_at": at(bulk)} for _ in range(600)])
    add(shop, [{"updated_at": at(bulk + timedelta(seconds=1 + n))} for n in range(300)])

    pages = poll_all(conn, first["updated_at"])

    read = [(e["id"], e["updated_at"]) for page in pages for e in page.events]
    assert len(read) == len(set(read)) == 901
    # What comes before it, then it, in id order: no poll on the way brought nothing.
    assert [len(page.events) for page in pages[:4]] == [1, 250, 250, 100]
    assert len(statuses(shop)) <= 12  # it was 41, the 600 read twice


def test_the_polls_of_a_backlog_wait_for_room_in_the_bucket_and_meet_no_429(
    shop: httpx.Client, conn: Connection
) -> None:
    """The bucket's level was known within one poll only: each poll that went on with a
    backlog sent its first request at once into the bucket the poll before had filled,
    and met a 429 (in the sandbox as at Shopify). Its leak stays Shopify's, 2 a second."""
    assert shop.patch("/_sandbox/settings", json={"shopify_bucket_size": 2}).status_code == 200
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    add(shop, [{"updated_at": at(start + timedelta(seconds=n))} for n in range(300)])

    pages = poll_all(conn, at(start))

    assert len({e["id"] for page in pages for e in page.events}) == 300
    assert len(pages) >= 3  # continuations, each after a poll that filled the bucket
    assert set(statuses(shop)) == {200}


def test_the_latest_passing_checkout_is_found_past_a_crowded_hour(
    shop: httpx.Client, conn: Connection
) -> None:
    """Each wider look (a day, then a week) read the narrower look's window again: the last
    hour's thousand checkouts, none passing, took six polls in the first look and six more
    in the second, and the twelve polls were spent before the week's look found the one
    that passes, two days old. Test was refused, and Run now took nothing."""
    now = datetime.now(UTC)
    [passing] = add(shop, [{"updated_at": at(now - timedelta(days=2)), "total_price": "2000"}])
    add(shop, [{"updated_at": at(now - timedelta(hours=5 + n))} for n in range(3)])
    hour = now - timedelta(minutes=50)
    add(shop, [{"updated_at": at(hour + timedelta(seconds=2.4 * n))} for n in range(1000)])

    poll = partial(ConnectionClient(conn).poll, TRIGGER)
    found = latest(poll, passes=lambda checkout: float(checkout["total_price"]) >= 1000)

    assert [checkout["id"] for checkout in found] == [passing["id"]]
    assert len(statuses(shop)) <= 14  # the hour read once: what the wider looks add is little


def test_the_latest_checkouts_come_from_the_narrower_looks_first(
    shop: httpx.Client, conn: Connection
) -> None:
    """Three latest checkouts when the last hour has one: the two before it are the newest
    of the day, and it stays the last (the look at the day adds only older ones)."""
    now = datetime.now(UTC)
    day = add(shop, [{"updated_at": at(now - timedelta(hours=3 + n))} for n in range(4)])
    [recent] = add(shop, [{"updated_at": at(now - timedelta(minutes=5))}])

    found = latest(partial(ConnectionClient(conn).poll, TRIGGER), 3)

    assert [c["id"] for c in found] == [day[1]["id"], day[0]["id"], recent["id"]]


def test_a_checkout_saved_a_moment_before_the_newest_one_read_is_read_by_the_next_poll(
    shop: httpx.Client, conn: Connection
) -> None:
    """A poll read in one page started the next at its newest update: a checkout saved
    with an update a second older than that, but listed only once the page was served (a
    save in flight, a shop's list that lags), was skipped for good. The next poll starts
    `CLOCK_MARGIN` before the shop's clock at the read, as one of several pages does; what
    it reads again, the trigger's key drops."""
    now = datetime.now(UTC).replace(microsecond=0)
    late, newest = add(shop, [{"updated_at": at(now - timedelta(minutes=5))}, {}])
    first = ConnectionClient(conn).poll(TRIGGER, at(now - timedelta(hours=1)), None)
    assert [e["id"] for e in first.events] == [late["id"], newest["id"]]
    moment = datetime.fromisoformat(newest["updated_at"]) - timedelta(seconds=1)
    edited = {"updated_at": moment.isoformat(), "email": "new@example.com"}
    assert shop.patch(f"/_sandbox/shopify/checkouts/{late['id']}", json=edited).is_success

    second = ConnectionClient(conn).poll(TRIGGER, at(now - timedelta(hours=1)), first.cursor)

    assert late["id"] in [e["id"] for e in second.events], second.events
    assert [e["email"] for e in second.events if e["id"] == late["id"]] == ["new@example.com"]
