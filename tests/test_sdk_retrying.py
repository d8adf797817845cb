"""`lpstudio.sdk.retrying` and `Again`: a connector's request sent again after the wait its
failure carries (a 429's `Retry-After`), against a real local server; and `aware`, the one
rule for an app's time without an offset (UTC)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from lpstudio.sdk import Again, ConnectorError, aware, retry_after, retrying

from .test_connectors_generic import Recorder, server

__all__ = ["server"]  # a fixture shared with that test's module


def getter(client: httpx.Client, url: str) -> Callable[[], httpx.Response]:
    """One try, as a connector writes it: a 429 or 503 is tried again, for as long as its
    `Retry-After` asks; any other refusal ends the tries."""

    def attempt() -> httpx.Response:
        response = client.get(url)
        status = response.status_code
        if status in (429, 503):
            wait = retry_after(response.headers.get("Retry-After"))
            raise Again(0.0 if wait is None else wait, f"HTTP {status}", status)
        if status != 200:
            raise ConnectorError(f"HTTP {status}", status=status)
        return response

    return attempt


def test_a_request_is_sent_again_after_the_wait_its_answer_asked(server: Recorder):
    with httpx.Client() as client:
        started = time.monotonic()
        attempt = getter(client, f"{server.url}/flaky/a?status=429&times=2&retry_after=0.1")
        response = retrying(attempt, tries=3)

    assert response.json() == {"ok": True, "attempt": 3}
    assert time.monotonic() - started >= 0.2  # two waits of the 0.1 s asked


def test_the_last_tries_failure_is_raised_once_the_tries_are_spent(server: Recorder):
    with httpx.Client() as client, pytest.raises(Again) as raised:
        retrying(getter(client, f"{server.url}/status/503?retry_after=0"), tries=4)

    assert raised.value.reason == "HTTP 503" and raised.value.status == 503
    assert len(server.seen("/status/503")) == 4


def test_any_other_failure_ends_the_tries_at_once(server: Recorder):
    with httpx.Client() as client, pytest.raises(ConnectorError, match="HTTP 404"):
        retrying(getter(client, f"{server.url}/status/404"), tries=4)

    assert len(server.seen("/status/404")) == 1


def test_a_time_without_an_offset_is_utc_and_one_with_keeps_it():
    plus_two = timezone(timedelta(hours=2))
    assert aware(datetime(2026, 11, 1, 9)) == datetime(2026, 11, 1, 9, tzinfo=UTC)
    kept = aware(datetime(2026, 11, 1, 9, tzinfo=plus_two))
    assert kept.utcoffset() == timedelta(hours=2)  # as the app gave it: cursors quote it
    assert aware(datetime(1, 1, 1, tzinfo=plus_two)).year == 1  # not moved out of range
