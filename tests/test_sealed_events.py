"""An event a system sent (a poll, a webhook delivery; a bot's call: test_call_input_values)
that holds a secret of the workspace is shown masked on its job and handed whole to its
recipe, through its reruns and retries too: its recipe acted on the masked copy, on what
nobody sent (a note `called with token ****`). Real SQLite, real kernels.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from lpstudio.connections import MASK
from lpstudio.failures import after_failure
from lpstudio.models import Job
from lpstudio.studio import Studio
from tests.conftest import printed, write_recipe
from tests.test_secrets import ECHO_CONNECTOR

#: The echo connection's key, which its app echoes in each row's note.
KEY = "echo-key-5f3a9c"
#: The note as the app sends it, and as jobs show it.
NOTE = "called with token " + KEY
#: The crm connection's token, which the note holds too.
OTHER = "called with"
#: The note as jobs show it.
SHOWN = f"{MASK} token {MASK}"
#: Prints how long the note its recipe got is: NOTE's length, not the masked one's.
LENGTH = ("import lpstudio.kernel as lp", "print(len(lp.event['note']))")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A poll recipe on the echo connector, and a webhook recipe that fails once tried."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        (root / "connectors").mkdir(exist_ok=True)
        (root / "connectors" / "echo.py").write_text(ECHO_CONNECTOR)
        studio.connections.add("echo", "echo", {"key": KEY}, "alice")
        # Another connection's secret, in the note too: masked as well (it was shown).
        studio.connections.add("crm", "http", {"auth_type": "bearer", "token": OTHER}, "alice")
    poll = {"kind": "poll", "connection": "echo", "trigger": "rows", "interval_minutes": 1}
    echo = {"title": "Rows", "connections": {"echo": {"type": "echo"}}, "trigger": poll}
    write_recipe(root, "p/echo", "x: int = 1", LENGTH, echo)
    hook = {"title": "Hook", "trigger": {"kind": "webhook"}, "retries": {"count": 1}}
    failing = (*LENGTH, "raise RuntimeError('the CRM is down')")
    write_recipe(root, "p/hook", "x: int = 1", failing, hook)
    return root


def length_printed(root: Path, job: Job) -> str:
    """What the job's recipe printed of its event's note."""
    assert job.output_path, job.error
    nb = nbformat.read(root / job.output_path, as_version=4)
    return next(printed(cell) for cell in nb.cells if "len(lp.event" in cell.source).strip()


def test_a_poll_s_event_is_shown_masked_and_run_whole_and_so_is_its_rerun(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        (job,) = studio.poll("p/echo")
        assert job.status == "succeeded", job.error
        assert job.event == {"id": 1, "note": SHOWN}
        assert KEY not in (job.sealed_event or "-") and job.sealed_event
        assert length_printed(ws, job) == str(len(NOTE))  # was 22: "...token ****"
        again = studio.rerun(job.id)
        assert again.status == "succeeded", again.error
        assert again.event == job.event and length_printed(ws, again) == str(len(NOTE))
        # A Test's sample too (it ran masked).
        tested = studio.run("p/echo", test=True)
        assert tested.status == "succeeded", tested.error
        assert tested.event == job.event and length_printed(ws, tested) == str(len(NOTE))
        # The purge forgets it with the rest of the job's data.
        studio.purge(older_than_days=0)
        assert studio.job(job.id).sealed_event is None


def test_a_delivery_s_event_is_run_whole_and_its_retry_gets_it_whole_too(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        hook = studio.recipe_detail("p/hook.ipynb")["trigger"]["hook"].rsplit("/", 1)[-1]
        body = json.dumps({"note": NOTE}).encode()
        _, (queued,), _ = studio.receive_webhook(hook, {}, body)
        assert queued.event == {"note": SHOWN}
        ended = studio.executor.run(queued.id)
        assert ended.status == "failed" and length_printed(ws, ended) == str(len(NOTE))
        retry_id = after_failure(studio, ended)
        assert retry_id is not None
        retry = studio.job(retry_id)
        assert retry.event == queued.event and retry.sealed_event == queued.sealed_event
    assert KEY not in (ws / "lpstudio.db").read_bytes().decode("latin-1")
