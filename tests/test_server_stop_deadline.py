"""A stop of `lpstudio serve` is bounded: it waits for the requests in progress at most
`--LpstudioApp.stop_timeout` seconds, then answers those still waiting on its threads 503
(`ServerStopping`, with Retry-After), says so in its log, and exits; a second signal stops
it at once. A Poll now against an app that never answers held the stop for its client's
timeouts and retries (about 90 s), whatever signal came next. A real server on loopback, a
real app that accepts the poll's request and never answers it; every wait is on a
connection, an answer or a log line."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from lpstudio.studio import Studio
from tests.conftest import wait_for
from tests.servers import API, Served, serving
from tests.test_leader import _serve_refused
from tests.test_scheduler import poll_recipe
from tests.test_serve_stop_calls import running_alone
from tests.test_serve_stop_requeues import jobs_of, post, slow_callable
from tests.test_stop_waiting_calls import released

#: Seconds a test gives the server to exit once it stops waiting: far below the ~90 s the
#: hung poll held it.
EXITS_WITHIN = 30


@pytest.fixture
def hung_app() -> Iterator[socket.socket]:
    """An app on loopback that takes connections and never answers (a hung API)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        yield listener


@pytest.fixture
def hung_ws(tmp_path: Path, hung_app: socket.socket) -> Path:
    """A workspace whose Shopify and LivePerson connections point at the hung app."""
    root = tmp_path / "ws"
    port = hung_app.getsockname()[1]
    Studio.init(root, accept_terms=True, admin="alice", sandbox=f"http://127.0.0.1:{port}").close()
    return root


def poll_now(served: Served, recipe: str) -> httpx.Response:
    """A person's Poll now, waiting as long as the server takes to answer."""
    return httpx.post(
        f"{served.url}{API}/recipes/{recipe}/poll", headers={"X-Test-User": "alice"}, timeout=180
    )


def said(served: Served, line: str) -> bool:
    return line in served.log.read_text()


def test_a_stop_gives_up_on_a_hung_poll_after_its_stop_timeout(
    hung_ws: Path, hung_app: socket.socket
) -> None:
    recipe = poll_recipe(hung_ws, "slow", ("pass",))
    with (
        ThreadPoolExecutor(1) as background,
        serving(hung_ws, "--LpstudioApp.stop_timeout=2", name="stopping") as served,
    ):
        polled = background.submit(poll_now, served, recipe)
        held, _ = hung_app.accept()  # the poll's request reached the app, which never answers
        with held:
            served.proc.send_signal(signal.SIGTERM)
            assert served.proc.wait(timeout=EXITS_WITHIN) == 0
            told = polled.result(timeout=EXITS_WITHIN)
    assert told.status_code == 503, told.text
    assert told.headers["Retry-After"] == "5"
    error = told.json()["error"]
    assert error["code"] == "ServerStopping", error
    assert "try again" in error["fix"], error
    log = served.log.read_text()
    assert "stop_timeout of 2 s passed" in log, log
    assert "Uncaught exception" not in log, log  # the server's own (`log_exception`)


def test_a_second_signal_stops_the_server_at_once(hung_ws: Path, hung_app: socket.socket) -> None:
    recipe = poll_recipe(hung_ws, "slow", ("pass",))
    with ThreadPoolExecutor(1) as background, serving(hung_ws, name="stopping") as served:
        polled = background.submit(poll_now, served, recipe)
        held, _ = hung_app.accept()
        with held:
            served.proc.send_signal(signal.SIGTERM)
            wait_for(
                lambda: said(served, "request(s) in progress before stopping"),
                what="the stop waiting for the poll",
            )
            assert served.proc.poll() is None  # the default deadline is far off
            served.proc.send_signal(signal.SIGTERM)
            assert served.proc.wait(timeout=EXITS_WITHIN) == -signal.SIGTERM
            try:  # answered, or its connection closed with the process
                told: httpx.Response | None = polled.result(timeout=EXITS_WITHIN)
            except httpx.TransportError:
                told = None
    assert told is None or told.status_code == 503, told.text
    assert said(served, "again: stopping at once"), served.log.read_text()


def test_a_call_whose_job_outlives_the_stop_timeout_leaves_no_job_running(
    ws: Path, tmp_path: Path
) -> None:
    """The call's job holds its gate past the deadline: the server exits without it, the
    call's connection closed, and the job, whose kernel died with the server, ends failed
    as its worker is lost once the workspace is next opened (not running for ever)."""
    recipe = slow_callable(ws)
    folder = tmp_path / "calls"
    folder.mkdir()
    body = {"folder": str(folder), "n": 1}
    with (
        ThreadPoolExecutor(1) as background,
        serving(ws, "--LpstudioApp.stop_timeout=2", name="stopping") as served,
        released(folder),
    ):
        token = served.client_token()
        calling = background.submit(post, served, token, "d1", body, "sync")
        job = wait_for(lambda: running_alone(ws, recipe), what="the call's job running")
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=EXITS_WITHIN) == 0
        try:  # a call waits for its job, not on the server's threads: cut off
            told: httpx.Response | None = calling.result(timeout=EXITS_WITHIN)
        except httpx.TransportError:
            told = None
        assert told is None, told.text
    assert "stop_timeout of 2 s passed" in served.log.read_text()
    (ended,) = jobs_of(ws, recipe)
    assert (ended.id, ended.status) == (job.id, "failed"), ended
    assert "worker lost" in ended.error["evalue"], ended.error


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf"])
def test_a_stop_timeout_no_stop_can_keep_is_refused_at_start_up(ws: Path, seconds: str) -> None:
    """A deadline below 0 or NaN means nothing, and infinity is the unbounded stop it ends."""
    refused = _serve_refused(ws, f"--LpstudioApp.stop_timeout={seconds}")
    assert "LpstudioApp.stop_timeout" in refused.stderr, refused.stderr
    assert "0 or more seconds" in refused.stderr, refused.stderr
    assert "e.g. --LpstudioApp.stop_timeout=60" in refused.stderr, refused.stderr
