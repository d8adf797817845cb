"""Refusals of a real `lpstudio serve` that name their field and fix: a browser session's
request without its XSRF token, and a webhook delivery on a store another process keeps
busy (answered within the call timeout, as a call is, and queued once on redelivery)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, JUPYTER_TOKEN, Served, serving

#: The server's call timeout, short for the test: the bound of a delivery's store waits too.
CALL_TIMEOUT = 2


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice (admin) and an unsigned webhook recipe."""
    root = tmp_path_factory.mktemp("refusals") / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "hooks/lead", metadata={"title": "Lead", "trigger": {"kind": "webhook"}})
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, f"--LpstudioApp.call_timeout={CALL_TIMEOUT}") as running:
        yield running


def logged_in(served: Served) -> httpx.Client:
    """A client holding the login cookie Jupyter sets for its token, as a browser does."""
    client = httpx.Client(base_url=served.url, timeout=30)
    login = client.get("/login", params={"token": JUPYTER_TOKEN}, follow_redirects=True)
    assert login.status_code == 200 and client.cookies, login.text
    return client


def xsrf_of_another_session(served: Served) -> str:
    """A well-formed XSRF token, of another browser's `_xsrf` cookie (the login page sets it)."""
    with httpx.Client(base_url=served.url, timeout=30) as other:
        other.get("/login")
        return str(other.cookies["_xsrf"])


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    return dict(answer.json()["error"])


CONNECTION = {"name": "crm", "type": "http", "fields": {"token": "t0ken-for-crm"}}


@pytest.mark.parametrize("sent", [None, "another session's"])
def test_a_cookie_session_without_its_xsrf_token_is_told_the_header_and_fix(
    served: Served, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-XSRFToken": xsrf_of_another_session(served)}
    browser = logged_in(served)
    try:
        refused = browser.post(f"{API}/connections", json=CONNECTION, headers=headers)
    finally:
        browser.close()
    error = error_of(refused, 403)
    assert error["code"] == "Forbidden" and error["field"] == "X-XSRFToken", error
    assert "_xsrf" in error["fix"] and "Authorization: token" in error["fix"], error
    assert "POST argument" not in error["message"], error  # tornado's words for a form
    listed = served.api("alice", "GET", "/connections").json()
    assert "crm" not in str(listed)  # nothing was created


#: A form's body holding an `_xsrf` that is no UTF-8, as tornado reads a form's fields.
FORM = {"content": b"_xsrf=%FF", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.mark.parametrize(
    ("login", "request_line", "sent", "said"),
    [
        (True, "POST ?_xsrf=%25%FF", {}, "query parameter _xsrf is not UTF-8 text: %25%FF"),
        (False, "GET ?token=%FF", {}, "query parameter token is not UTF-8 text: %FF"),
        (True, "POST ", FORM, "form field _xsrf is not UTF-8 text: %FF"),
    ],
)
def test_an_argument_jupyter_reads_that_is_no_utf8_is_refused_naming_it_and_the_fix(
    served: Served, login: bool, request_line: str, sent: dict[str, Any], said: str
) -> None:
    """tornado refused `?_xsrf=%FF` (read by the XSRF check) or `?token=%FF` (by Jupyter's
    log-in) with "Invalid unicode in _xsrf: b'\\xff'", naming no field nor fix, while a
    query lpstudio reads itself is refused so."""
    method, query = request_line.split(" ")
    browser = logged_in(served) if login else httpx.Client(base_url=served.url, timeout=30)
    try:
        refused = browser.request(method, f"{API}/connections{query}", **sent)
    finally:
        browser.close()
    assert error_of(refused, 400) == {
        "code": "InputError",
        "message": said,
        "field": said.split()[2],
        "fix": "percent-encode the UTF-8 bytes of its text (é as %C3%A9)",
    }


def _store_lock(ws: Path) -> sqlite3.Connection:
    """The store's write lock, held as another process's exclusive transaction holds it."""
    lock = sqlite3.connect(ws / "lpstudio.db", isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    return lock


def lead_jobs(served: Served, event: dict[str, Any]) -> list[Any]:
    """The lead hook's jobs of `event`, each as its own route gives it (a list leaves out
    the event)."""
    listed = served.api("alice", "GET", "/jobs", params={"recipe": "hooks/lead.ipynb"})
    jobs = [served.api("alice", "GET", f"/jobs/{j['id']}").json() for j in listed.json()["jobs"]]
    return [job for job in jobs if job["event"] == event]


def test_a_delivery_on_a_busy_store_is_answered_within_the_call_timeout_and_queued_once(
    served: Served, ws: Path
) -> None:
    """It waited 60 s (the store's busy timeout), then got a 503 naming nothing, while a
    call answers StoreBusy within its timeout; a sender gives up after 5 to 30 s."""
    hook = served.api("alice", "GET", "/recipes/hooks/lead.ipynb").json()["trigger"]["hook"]
    event = {"name": "Busy Ada"}
    delivery = {"X-Delivery-Id": "busy-ada-1"}
    lock = _store_lock(ws)
    try:
        began = time.monotonic()
        busy = httpx.post(f"{served.url}{hook}", json=event, headers=delivery, timeout=120)
        took = time.monotonic() - began
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    error = error_of(busy, 503)
    assert took < CALL_TIMEOUT + 5, took
    assert error["code"] == "StoreBusy" and error["field"] == "store", error
    assert "again" in error["fix"] and "X-Delivery-Id" in error["fix"], error
    assert int(busy.headers["Retry-After"]) > 0

    def redelivered() -> httpx.Response | None:
        """The sender's redelivery, once the first one's write (which goes on) let it be:
        409 with Retry-After while that write holds the delivery id's claim."""
        again = httpx.post(f"{served.url}{hook}", json=event, headers=delivery, timeout=120)
        return None if again.status_code == 409 else again

    again = wait_for(redelivered, timeout=90, what="the redelivery to be answered")
    assert again.status_code in (200, 202), again.text
    assert len(lead_jobs(served, event)) == 1
    repeated = httpx.post(f"{served.url}{hook}", json=event, headers=delivery, timeout=120)
    assert repeated.status_code == 200 and repeated.json()["repeated"], repeated.text
    assert len(lead_jobs(served, event)) == 1
