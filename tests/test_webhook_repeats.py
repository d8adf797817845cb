"""Repeats of unsigned webhook deliveries without a delivery id, through a real `lpstudio
serve` on loopback (README: Webhooks; Configuration, `webhooks.repeat_window_seconds`):

- the same body posted again within the repeat window is the sender's retry (it lost the
  first answer): it gets the first delivery's jobs, 200 with `"repeated": true`, and queues
  nothing, even when two come at once; another body is another delivery;
- after the window the same body is a new delivery (a daily ping sends the same body each
  day): the window is read from the claim's time, which the tests move back in the store;
- a window of 0 queues every delivery; a window that is no number of seconds in range is
  refused when the workspace is read, naming the setting;
- a delivery id still makes repeats exact, and an answer tells a sender without one to
  send one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from lpstudio.errors import WorkspaceError
from lpstudio.idempotency import DELIVERY_ID_HEADERS
from lpstudio.models import IdempotentCall
from lpstudio.studio import Studio
from lpstudio.workspace import CONFIG_NAME, Workspace
from tests.conftest import write_recipe
from tests.servers import API, Served, serving

#: The default window, as a new workspace's lpstudio.toml writes it.
WINDOW = 600
DEFAULT_LINE = f"repeat_window_seconds = {WINDOW}"
HOOKS = ("once", "two", "later", "race", "race-later", "named", "twice", "off")


def _workspace(root: Path, window: float | None = None) -> Path:
    """A workspace with an unsigned, stopped webhook recipe hooks/<name> for each of
    `HOOKS` (its jobs stay queued: nothing runs them), its window set to `window` if given."""
    with Studio.init(root, accept_terms=True, admin="alice"):
        for name in HOOKS:
            metadata = {"title": name, "trigger": {"kind": "webhook"}}
            write_recipe(root, f"hooks/{name}", metadata=metadata)
    if window is not None:
        config = root / CONFIG_NAME
        text = config.read_text()
        assert DEFAULT_LINE in text
        config.write_text(text.replace(DEFAULT_LINE, f"repeat_window_seconds = {window}"))
    return root


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _workspace(tmp_path_factory.mktemp("repeats") / "ws")


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        yield served


def _url(ws: Path, name: str) -> str:
    with Studio.open(ws, user="alice") as studio:
        return f"{API}/hooks/{studio.webhook_id(f'hooks/{name}.ipynb')}"


def _post(server: Served, url: str, event: dict[str, object], **headers: str) -> httpx.Response:
    body = json.dumps(event).encode()
    return httpx.post(f"{server.url}{url}", content=body, headers=headers, timeout=60)


def _jobs(ws: Path, name: str) -> list[int]:
    """The ids of the jobs queued for hooks/<name>, oldest first."""
    with Studio.open(ws, user="alice") as studio:
        return sorted(job.id for job in studio.jobs(f"hooks/{name}.ipynb", limit=None))


def _age_claims(ws: Path, name: str, by: timedelta) -> None:
    """Moves the claims of the deliveries to hooks/<name> `by` into the past, as if made
    that long ago (no test waits for the window to pass)."""
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        claims = s.scalars(
            select(IdempotentCall).where(IdempotentCall.endpoint == f"hooks/{name}.ipynb")
        ).all()
        assert claims
        for claim in claims:
            claim.created_at -= by


def _at_once(server: Served, url: str, event: dict[str, object]) -> list[httpx.Response]:
    """Two identical deliveries sent together (released at once by a barrier)."""
    together = threading.Barrier(2)

    def send() -> httpx.Response:
        together.wait(timeout=30)
        return _post(server, url, event)

    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in [pool.submit(send) for _ in range(2)]]


def _one_queued(answers: list[httpx.Response]) -> int:
    """The job of two identical deliveries sent at once: one queued it (202), the other was
    answered as its repeat (200) or, while the first was queueing it, told to retry (409
    with `Retry-After`), as a redelivery under a delivery id is. Returns the job."""
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses in ([200, 202], [202, 409]), [a.text for a in answers]
    first = next(a for a in answers if a.status_code == 202).json()
    assert first["accepted"] == 1 and not first["repeated"]
    (job,) = first["jobs"]
    other = next(a for a in answers if a.status_code != 202)
    if other.status_code == 200:
        assert other.json()["repeated"] and other.json()["jobs"] == [job]
    else:
        assert other.headers["Retry-After"] and other.json()["error"]["field"] == "body"
    return int(job)


def _advises_a_delivery_id(message: str, window: float) -> None:
    assert f"within {window:g} s" in message, message
    assert all(header in message for header in DELIVERY_ID_HEADERS), message


# -- within the window --------------------------------------------------------------------


def test_the_same_body_again_within_the_window_gets_the_first_deliverys_job(
    ws: Path, server: Served
) -> None:
    """The sender lost the first answer and posts the same bytes again: it ran twice."""
    url = _url(ws, "once")
    event = {"lead": "ada", "phone": "+14155550100"}

    first = _post(server, url, event)
    again = _post(server, url, event)

    assert first.status_code == 202, first.text
    queued = first.json()
    assert queued["accepted"] == 1 and queued["repeated"] is False
    _advises_a_delivery_id(queued["message"], WINDOW)
    assert again.status_code == 200, again.text
    repeat = again.json()
    assert repeat["repeated"] is True and repeat["accepted"] == 0
    assert repeat["jobs"] == queued["jobs"]
    assert repeat["message"].startswith("a repeated delivery: its 1 event(s) were queued before")
    _advises_a_delivery_id(repeat["message"], WINDOW)
    assert _jobs(ws, "once") == queued["jobs"]


def test_two_different_bodies_are_two_deliveries(ws: Path, server: Served) -> None:
    url = _url(ws, "two")

    answers = [_post(server, url, {"lead": name}) for name in ("ada", "bob")]

    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    jobs = [job for a in answers for job in a.json()["jobs"]]
    assert len(set(jobs)) == 2 and _jobs(ws, "two") == sorted(jobs)


def test_two_identical_deliveries_at_once_queue_one_job(ws: Path, server: Served) -> None:
    url = _url(ws, "race")
    jobs = []
    for n in range(4):  # several rounds: each a new body, sent twice at once
        event = {"ping": n}
        job = _one_queued(_at_once(server, url, event))
        # The sender's next retry, once the first is queued, is answered as its repeat.
        retry = _post(server, url, event)
        assert retry.status_code == 200 and retry.json()["jobs"] == [job], retry.text
        jobs.append(job)
    assert _jobs(ws, "race") == sorted(jobs)


# -- after the window ---------------------------------------------------------------------


def test_the_same_body_after_the_window_is_a_new_delivery(ws: Path, server: Served) -> None:
    """A daily ping sends the same body each day: each must run."""
    url = _url(ws, "later")
    event = {"ping": "daily"}
    first = _post(server, url, event)
    assert first.status_code == 202, first.text

    _age_claims(ws, "later", timedelta(seconds=WINDOW + 1))
    next_day = _post(server, url, event)
    retried = _post(server, url, event)  # its own retry, within the window from it

    assert next_day.status_code == 202, next_day.text
    assert next_day.json()["repeated"] is False and next_day.json()["accepted"] == 1
    assert next_day.json()["jobs"] != first.json()["jobs"]
    assert retried.status_code == 200, retried.text
    assert retried.json()["jobs"] == next_day.json()["jobs"]
    assert _jobs(ws, "later") == sorted(first.json()["jobs"] + next_day.json()["jobs"])


def test_two_identical_deliveries_at_once_after_the_window_queue_one_job(
    ws: Path, server: Served
) -> None:
    """The window's claim is taken over by one of them: the other is its repeat."""
    url = _url(ws, "race-later")
    event = {"ping": "hourly"}
    first = _post(server, url, event)
    assert first.status_code == 202, first.text

    _age_claims(ws, "race-later", timedelta(seconds=WINDOW + 1))
    job = _one_queued(_at_once(server, url, event))

    assert [job] != first.json()["jobs"]
    assert _jobs(ws, "race-later") == sorted([*first.json()["jobs"], job])


# -- a delivery id ------------------------------------------------------------------------


def test_a_delivery_id_keeps_repeats_exact(ws: Path, server: Served) -> None:
    """Two deliveries under two ids are two, whatever their body and the window; the same
    id again is a repeat; an answer to a delivery with an id gives no advice."""
    url = _url(ws, "named")
    event = {"lead": "ada"}

    first = _post(server, url, event, **{"X-Webhook-Id": "d-1"})
    second = _post(server, url, event, **{"X-Delivery-Id": "d-2"})
    again = _post(server, url, event, **{"X-Webhook-Id": "d-1"})

    assert [first.status_code, second.status_code, again.status_code] == [202, 202, 200]
    assert first.json()["jobs"] != second.json()["jobs"]
    assert again.json()["jobs"] == first.json()["jobs"] and again.json()["repeated"]
    for answer in (first, second, again):
        assert "within" not in answer.json()["message"], answer.text
    assert _jobs(ws, "named") == sorted(first.json()["jobs"] + second.json()["jobs"])


@pytest.mark.parametrize("header", DELIVERY_ID_HEADERS)
def test_a_delivery_id_sent_twice_is_refused_before_any_job(
    ws: Path, server: Served, header: str
) -> None:
    """Sent as `a1` and `b1`, a delivery id was read as one id `a1,b1`: a redelivery under
    either found no claim and was queued again. Refused 400 naming the header, nothing
    queued; sent once, the id is claimed as before."""
    url = _url(ws, "twice")
    before = _jobs(ws, "twice")
    body = json.dumps({"lead": header}).encode()
    twice = httpx.post(
        f"{server.url}{url}",
        content=body,
        headers=[(header, f"{header}-a1"), (header, f"{header}-b1")],
        timeout=60,
    )
    assert twice.status_code == 400, twice.text
    error = twice.json()["error"]
    assert error["field"] == header, error
    assert error["message"] == f"{header} is sent 2 times", error
    assert error["fix"].startswith(f"send {header} once"), error
    assert _jobs(ws, "twice") == before

    once = _post(server, url, {"lead": header}, **{header: f"{header}-a1"})
    again = _post(server, url, {"lead": header}, **{header: f"{header}-a1"})
    assert [once.status_code, again.status_code] == [202, 200], again.text
    assert again.json()["repeated"] and again.json()["jobs"] == once.json()["jobs"]
    assert _jobs(ws, "twice") == sorted(before + once.json()["jobs"])


# -- the setting --------------------------------------------------------------------------


def test_a_window_of_0_queues_every_delivery(tmp_path: Path) -> None:
    root = _workspace(tmp_path / "ws", window=0)
    with serving(root, "--LpstudioApp.scheduler=False") as server:
        url = _url(root, "off")
        answers = [_post(server, url, {"ping": 1}) for _ in range(2)]

    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    jobs = [job for a in answers for job in a.json()["jobs"]]
    assert len(set(jobs)) == 2 and _jobs(root, "off") == sorted(jobs)
    assert all("within" not in a.json()["message"] for a in answers)


@pytest.mark.parametrize("value", ["-1", "86401", "nan", "inf", '"10m"', "true"])
def test_a_window_that_is_no_number_of_seconds_in_range_is_refused(
    tmp_path: Path, value: str
) -> None:
    config = tmp_path / CONFIG_NAME
    Workspace.write_new(tmp_path)
    config.write_text(config.read_text().replace(DEFAULT_LINE, f"repeat_window_seconds = {value}"))

    with pytest.raises(WorkspaceError) as refused:
        Workspace.load(tmp_path)

    assert refused.value.field == "webhooks.repeat_window_seconds"
    assert "[webhooks] repeat_window_seconds must be a number of seconds" in str(refused.value)
    assert DEFAULT_LINE in refused.value.fix and "under [webhooks]" in refused.value.fix
