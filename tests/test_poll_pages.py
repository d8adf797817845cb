"""A poll's pages: the jobs of the pages a poll wrote before a trigger error were queued
unsaid, never run by `lpstudio poll`, and a recipe's `batch_size` grouped the events of each
page apart (three one-event pages made three jobs of one event, not one job of three).

Through the real CLI (real kernels where a job runs), the real store; a connector's fault is
a file it looks for, never a sleep.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lpstudio import triggers
from lpstudio.models import TriggerState
from lpstudio.store import FINAL_STATES
from lpstudio.studio import Studio
from tests.conftest import LPSTUDIO, run_cli, wait_for, write_recipe
from tests.servers import serving

PAGES = """
import threading
from pathlib import Path

from lpstudio.sdk import Connector, Field, Page

connector = Connector("acme", title="Acme", fields=[Field("base_url", "API base URL")])
BROKEN = Path(__file__).parent / "broken"


@connector.poll_trigger("stuck", title="Stuck", key=lambda e: str(e["id"]))
def stuck(conn, since, cursor):
    return Page([{"id": 1}], cursor="same", more=True)


@connector.poll_trigger("three", title="Three", key=lambda e: str(e["id"]))
def three(conn, since, cursor):
    n = (cursor or 0) + 1
    return Page([{"id": n}] if n <= 3 else [], cursor=n, more=n < 5)


@connector.poll_trigger("long", title="Long", key=lambda e: str(e["id"]))
def long(conn, since, cursor):
    n = (cursor or 0) + 1
    return Page([{"id": n}] if n <= 3 else [], cursor=n, more=n < 150)


@connector.poll_trigger("faulty", title="Faulty", key=lambda e: str(e["id"]))
def faulty(conn, since, cursor):
    n = (cursor or 0) + 1
    if n == 4 and BROKEN.exists():
        raise RuntimeError("the app fell over on page 4")
    return Page([{"id": n}] if n <= 3 else [], cursor=n, more=n < 4)


@connector.poll_trigger("hanging", title="Hanging", key=lambda e: str(e["id"]))
def hanging(conn, since, cursor):
    n = (cursor or 0) + 1
    if n == 2 and BROKEN.exists():
        (Path(__file__).parent / "second-page").touch()
        threading.Event().wait()  # an app that never answers the second page
    return Page([{"id": n}] if n <= 2 else [], cursor=n, more=n < 3)


@connector.poll_trigger("crowded", title="Crowded", key=lambda e: str(e["id"]))
def crowded(conn, since, cursor):
    if cursor is None:
        return Page([{"id": 1}, {"id": 2}, {"id": 3}], cursor=1, more=True)
    if BROKEN.exists():
        raise RuntimeError("the app fell over on page 2")
    return Page([], cursor=2, more=False)


@connector.poll_trigger("priced", title="Priced", key=lambda e: str(e["id"]))
def priced(conn, since, cursor):
    if cursor is None:
        return Page([{"id": 1, "amount": 3.5}], cursor=1, more=True)
    return Page([{"id": 2, "lines": [{"amount": float("nan")}]}], cursor=2, more=False)


@connector.poll_trigger("dated", title="Dated", key=lambda e: str(e["id"]))
def dated(conn, since, cursor):
    import datetime

    return Page([{"id": 1, "meta": {"at": datetime.datetime(2024, 1, 2)}}], cursor=1)


@connector.poll_trigger("nancursor", title="NaN cursor", key=lambda e: str(e["id"]))
def nancursor(conn, since, cursor):
    if cursor is None:
        return Page([{"id": 1}], cursor=1, more=True)
    return Page([{"id": 2}], cursor={"offset": float("nan")}, more=False)


@connector.poll_trigger("down", title="Down", key=lambda e: str(e["id"]))
def down(conn, since, cursor):
    from lpstudio.sdk import ConnectorError

    raise ConnectorError("Acme answered GET /leads with HTTP 500", status=500)


@connector.poll_trigger("keyless", title="Keyless", key=lambda e: str(e["id"]))
def keyless(conn, since, cursor):
    return Page([{"id": 1}, {"name": "no id"}], cursor=1)
"""


@pytest.fixture
def acme(ws: Path) -> Path:
    """The workspace with the acme connector and its connection."""
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "acme.py").write_text(PAGES)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("acme", "acme", {"base_url": "https://acme.example"}, "alice")
    return ws


def _recipe(ws: Path, trigger: str, batch_size: int | None = None) -> str:
    spec: dict[str, Any] = {"kind": "poll", "connection": "acme", "trigger": trigger}
    if batch_size:
        spec["batch_size"] = batch_size
    write_recipe(
        ws,
        f"crm/p_{trigger}",
        metadata={"title": trigger, "connections": {"acme": {"type": "acme"}}, "trigger": spec},
    )
    return f"crm/p_{trigger}.ipynb"


def _poll_json(ws: Path, recipe: str) -> tuple[int, Any, str]:
    """`lpstudio poll --no-run --json`: its exit code, its JSON and its stderr."""
    done = run_cli("poll", recipe, "--no-run", "--json", "--workspace", str(ws), timeout=60)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def _events(ws: Path, recipe: str) -> list[Any]:
    """The events of the recipe's jobs, oldest first."""
    with Studio.open(ws, user="alice") as studio:
        return [job.event for job in reversed(studio.jobs(recipe=recipe))]


def _events_of(ws: Path, listed: list[dict[str, Any]]) -> list[Any]:
    """The events of the jobs `poll --json` listed: its rows leave them out, as REST's Poll
    now does (`show --json` has them)."""
    with Studio.open(ws, user="alice") as studio:
        return [studio.job(row["id"]).event for row in listed]


def _cursor(ws: Path, recipe: str) -> Any:
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        state = s.get(TriggerState, recipe)
        return None if state is None else state.cursor


# -- a trigger error after pages were written ----------------------------------------------


def test_a_poll_refused_after_its_first_page_runs_and_names_the_job_it_queued(
    acme: Path,
) -> None:
    """Page 1's job was written and its cursor kept, then page 2 was refused: the command
    said only the error, ran nothing, and the job of a recipe never started stayed queued
    for ever. Now it runs that job as a poll's, says so, and still fails on the error."""
    recipe = _recipe(acme, "stuck")

    done = run_cli("poll", recipe, "--workspace", str(acme), timeout=120)

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "returned more=True with the cursor it was given" in done.stderr, done.stderr
    with Studio.open(acme, user="alice") as studio:
        (job,) = studio.jobs(recipe=recipe)
    assert job.event == {"id": 1} and job.status == "succeeded", (job.status, job.error)
    assert f"job {job.id} succeeded" in done.stdout, done.stdout
    assert f"job {job.id}" in done.stderr and "before" in done.stderr, done.stderr

    # The cursor kept is the connector's to mend: the next poll fails at once, queuing nothing.
    again = run_cli("poll", recipe, "--workspace", str(acme), timeout=60)
    assert again.returncode == 1 and "cursor it was given" in again.stderr, again.stderr
    with Studio.open(acme, user="alice") as studio:
        assert [j.status for j in studio.jobs(recipe=recipe)] == ["succeeded"]


def test_a_refused_poll_under_json_gives_the_error_and_the_jobs_it_queued(acme: Path) -> None:
    recipe = _recipe(acme, "stuck")

    code, said, _ = _poll_json(acme, recipe)

    assert code == 1, said
    assert "cursor it was given" in said["error"]["message"], said
    assert said["error"]["field"] == "triggers.stuck", said
    assert [job["status"] for job in said["jobs"]] == ["queued"], said
    assert _events_of(acme, said["jobs"]) == [{"id": 1}]


def test_an_app_failure_a_connector_raised_without_a_fix_names_the_connection_to_test(
    acme: Path,
) -> None:
    """A custom connector's `ConnectorError` with no fix of its own (its app answered 500):
    the CLI gave none, and REST's Poll now a made-up `<name>`; each names the connection the
    trigger polls, in its own terms."""
    recipe = _recipe(acme, "down")

    code, said, _ = _poll_json(acme, recipe)

    assert code == 1, said
    assert said["error"]["message"] == "Acme answered GET /leads with HTTP 500", said
    assert said["error"]["fix"] == (
        "try again once the app answers: `lpstudio connections test acme` says whether it does"
    ), said
    with serving(acme, "--LpstudioApp.scheduler=False") as server:
        answer = server.api("alice", "POST", f"/recipes/{recipe}/poll")
    error = answer.json()["error"]
    assert answer.status_code == 502 and error["code"] == "AppError", answer.text
    assert "POST /lpstudio/api/v1/connections/acme/test says whether it does" in error["fix"]


def test_poll_now_refused_after_its_first_page_runs_and_names_the_job_it_queued(
    acme: Path,
) -> None:
    """Over REST (Poll now) the same: the answer names the job the poll queued before it
    failed, and the server runs it (it stayed queued, unsaid, the recipe never started)."""
    recipe = _recipe(acme, "stuck")
    with serving(acme, "--LpstudioApp.scheduler=False") as server:
        answer = server.api("alice", "POST", f"/recipes/{recipe}/poll")

        with Studio.open(acme, user="alice") as studio:
            (queued,) = studio.jobs(recipe=recipe)
            wait_for(lambda: studio.store.job(queued.id).status in FINAL_STATES, what="its end")
            assert studio.store.job(queued.id).status == "succeeded"
    assert answer.status_code >= 400, answer.text
    error = answer.json()["error"]
    assert "cursor it was given" in error["message"], error
    assert f"queued job {queued.id} for the pages it read: they run" in error["message"], error


# -- batch_size across pages ----------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["three", "long"], ids=["pages end", "page limit"])
def test_a_batch_gathers_the_events_of_all_the_pages_a_poll_reads(acme: Path, trigger: str) -> None:
    """Three pages of one event each, `batch_size` 10: three jobs of one event each. One poll
    read them all: one job of three. A poll cut by its page limit ends with its batch too."""
    recipe = _recipe(acme, trigger, batch_size=10)

    code, said, _ = _poll_json(acme, recipe)

    assert code == 0, said
    assert _events_of(acme, said) == [[{"id": 1}, {"id": 2}, {"id": 3}]]
    assert _cursor(acme, recipe) == (5 if trigger == "three" else triggers.PAGES)
    assert _poll_json(acme, recipe)[:2] == (0, [])  # each event once


def test_full_batches_are_kept_and_a_partial_one_is_read_again_after_a_fault(acme: Path) -> None:
    """Batches of 2 over one-event pages, page 4 failing: the full batch (1, 2) is written
    with the cursor of page 2 and said with the error; event 3, in no job yet, is not lost:
    the next poll, the fault gone, reads it again into a job of its own."""
    recipe = _recipe(acme, "faulty", batch_size=2)
    (acme / "connectors" / "broken").touch()

    code, said, _ = _poll_json(acme, recipe)

    assert code == 1 and "fell over on page 4" in said["error"]["message"], said
    assert _events_of(acme, said["jobs"]) == [[{"id": 1}, {"id": 2}]]
    assert _cursor(acme, recipe) == 2
    (acme / "connectors" / "broken").unlink()
    code, said, _ = _poll_json(acme, recipe)
    assert code == 0 and _events_of(acme, said) == [[{"id": 3}]], said
    assert _events(acme, recipe) == [[{"id": 1}, {"id": 2}], [{"id": 3}]]


def test_a_page_split_between_a_full_batch_and_a_partial_one_is_read_again(acme: Path) -> None:
    """A page of 3 events, batches of 2, the next page failing: (1, 2) is written, but not
    the page's cursor, which would lose event 3; read again, 1 and 2 are known, 3 is not."""
    recipe = _recipe(acme, "crowded", batch_size=2)
    (acme / "connectors" / "broken").touch()

    code, said, _ = _poll_json(acme, recipe)

    assert code == 1 and _events_of(acme, said["jobs"]) == [[{"id": 1}, {"id": 2}]]
    assert _cursor(acme, recipe) is None
    (acme / "connectors" / "broken").unlink()
    code, said, _ = _poll_json(acme, recipe)
    assert code == 0 and _events_of(acme, said) == [[{"id": 3}]], said
    assert _events(acme, recipe) == [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    assert _cursor(acme, recipe) == 2


def test_a_partial_batch_alone_is_written_at_the_polls_end_only(acme: Path) -> None:
    """Nothing full before a fault: nothing written, the cursor where it was; the next
    poll makes the batch of every event, each once."""
    recipe = _recipe(acme, "faulty", batch_size=10)
    (acme / "connectors" / "broken").touch()

    code, said, _ = _poll_json(acme, recipe)

    assert code == 1 and "fell over" in said["error"]["message"] and "jobs" not in said, said
    assert _cursor(acme, recipe) is None and _events(acme, recipe) == []
    (acme / "connectors" / "broken").unlink()
    code, said, _ = _poll_json(acme, recipe)
    assert code == 0 and _events_of(acme, said) == [[{"id": 1}, {"id": 2}, {"id": 3}]]


def test_ctrl_c_mid_poll_writes_no_partial_batch_and_the_next_poll_reads_it_again(
    acme: Path,
) -> None:
    """Ctrl-C between pages ends the poll with what is whole: a batch not yet full is in no
    job, the cursor before its events, which the next poll makes into one job, each once."""
    recipe = _recipe(acme, "hanging", batch_size=10)
    (acme / "connectors" / "broken").touch()
    command = [LPSTUDIO, "poll", recipe, "--no-run", "--workspace", str(acme)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for((acme / "connectors" / "second-page").exists, timeout=60, what="page 2")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()

    assert proc.returncode == 130 and "interrupted" in err, (out, err)
    assert _cursor(acme, recipe) is None and _events(acme, recipe) == []
    (acme / "connectors" / "broken").unlink()
    code, said, _ = _poll_json(acme, recipe)
    assert code == 0 and _events_of(acme, said) == [[{"id": 1}, {"id": 2}]], said


# -- events the store cannot keep --------------------------------------------------------


def test_an_event_holding_nan_is_refused_naming_its_field_and_its_page_is_not_written(
    acme: Path,
) -> None:
    """pandas' NaN in an event was stored: `show --json` printed NaN and GET /jobs answered
    500 for everybody. Now the page holding it is refused, naming the trigger, the event
    and the field; the page before it is kept, the cursor not moved past it."""
    recipe = _recipe(acme, "priced")

    code, said, _ = _poll_json(acme, recipe)

    message, fix = said["error"]["message"], said["error"]["fix"]
    assert code == 1 and "acme.priced returned event 0 (key '2')" in message, said
    assert "lines.0.amount is NaN" in message and "finite numbers" in fix, said
    assert _events(acme, recipe) == [{"id": 1, "amount": 3.5}] and _cursor(acme, recipe) == 1


def test_an_event_holding_a_datetime_is_refused_with_the_fix(acme: Path) -> None:
    """A datetime in an event failed with Python's "not JSON serializable" and the generic
    fix of an app that does not answer."""
    recipe = _recipe(acme, "dated")

    code, said, _ = _poll_json(acme, recipe)

    message, fix = said["error"]["message"], said["error"]["fix"]
    assert (
        code == 1 and "acme.dated returned event 0 (key '1') whose meta.at is a datetime" in message
    )
    assert "isoformat()" in fix and "connections test" not in fix, said
    assert _events(acme, recipe) == [] and _cursor(acme, recipe) is None


def test_a_key_function_failing_on_an_event_is_named_with_the_event(acme: Path) -> None:
    """`key=lambda e: str(e["id"])` on an event without `id` said only `KeyError: 'id'`."""
    recipe = _recipe(acme, "keyless")

    code, said, _ = _poll_json(acme, recipe)

    message, fix = said["error"]["message"], said["error"]["fix"]
    assert code == 1 and "acme.keyless's key function failed on event 1" in message, said
    assert "(fields: name): KeyError: 'id'" in message and "key=lambda event" in fix, said
    assert _events(acme, recipe) == [] and _cursor(acme, recipe) is None


def test_a_cursor_holding_nan_is_refused_and_the_cursor_kept_before_it_stays(acme: Path) -> None:
    """A cursor of pandas' NaN was kept (json.dumps writes NaN): the next poll resumed from
    a cursor the connector never gave, and the trigger's state broke JSON answers."""
    recipe = _recipe(acme, "nancursor")

    code, said, _ = _poll_json(acme, recipe)

    message, fix = said["error"]["message"], said["error"]["fix"]
    assert code == 1 and "acme.nancursor returned a cursor whose offset is NaN" in message, said
    assert "finite numbers" in fix, said
    assert _events(acme, recipe) == [{"id": 1}] and _cursor(acme, recipe) == 1
