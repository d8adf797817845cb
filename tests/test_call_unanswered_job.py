"""A call's job that gives its caller no answer, or one off its recipe's response schema,
through a real `lpstudio serve` on loopback: the bot gets 502, and the job ends failed with
the same reason (`lpstudio show`, the Jobs panel, the dashboard), not succeeded, its result
kept. A Test run of the same recipe, which answers no caller, still succeeds; a failed call
is never retried unattended (the bot repeats it, or not).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.failures import after_failure
from lpstudio.studio import Studio
from tests.conftest import run_cli, run_json, wait_for, write_recipe
from tests.servers import API, Served, serving

#: The answer every callable here promises.
RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["double"],
    "properties": {"double": {"type": "integer"}},
}


def _callable(root: Path, path: str, body: str) -> None:
    """A callable at /call/<path> (recipe bots/<path>) whose last cell is `body`; it is
    retried once, were its failures retried."""
    write_recipe(
        root,
        f"bots/{path}",
        parameters="unused: int = 0  # the call's input is its event",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'ran': True})", body),
        metadata={
            "title": path,
            "retries": {"count": 1, "interval": 0},
            "trigger": {
                "kind": "callable",
                "path": path,
                "input_schema": {"type": "object"},
                "response_schema": RESPONSE_SCHEMA,
            },
        },
    )


@pytest.fixture(scope="module")
def callables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unanswered") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        _callable(root, "noanswer", "print('done')")
        _callable(root, "offschema", "lp.respond({'double': 'two'})")
        _callable(root, "answers", "lp.respond({'double': 2})")
        _callable(root, "dies", "import os; os._exit(3)")
        _callable(root, "twice", "lp.respond({'found': False}, 404)\nlp.respond({'double': 2})")
        for name in ("noanswer", "offschema", "answers", "dies", "twice"):
            studio.start(f"bots/{name}.ipynb")
    return root


@pytest.fixture(scope="module")
def served(callables: Path) -> Iterator[Served]:
    with serving(callables) as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token(rate=10000)


def _call(served: Served, token: str, path: str, n: int = 1, **params: str) -> httpx.Response:
    """A call with input `n`: another `n` is another request, not a repeat of one."""
    return httpx.post(
        f"{served.url}{API}/call/{path}",
        json={"n": n},
        params=params,
        headers={"API-TOKEN": token},
        timeout=60,
    )


def _job(served: Served, job_id: int) -> dict[str, Any]:
    """The job as the Jobs panel reads it, once final."""

    def final() -> Any:
        job = served.api("alice", "GET", f"/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return dict(wait_for(final, timeout=120, what=f"job {job_id}"))


def _outcomes(served: Served, recipe: str) -> dict[str, Any]:
    """The dashboard's counts of the recipe's jobs today."""
    board = served.api("alice", "GET", "/dashboard", params={"days": 1})
    assert board.status_code == 200, board.text
    return next(row for row in board.json()["recipes"] if row["recipe"] == recipe)


def _bad_gateway(answer: httpx.Response, code: str) -> tuple[int, dict[str, Any]]:
    """The 502's job and error."""
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["fix"], error
    assert error["job"] == int(answer.headers["Lpstudio-Job"])
    return error["job"], error


def _failed_as_answered(
    served: Served, callables: Path, job_id: int, error: dict[str, Any]
) -> dict[str, Any]:
    """Checks that the job ended failed with the 502's reason, as the Jobs panel and
    `lpstudio show` say it, and the author's fix, which the caller is not told: it asks the
    recipe's admin, as a failed job's caller does; its result is the recipe's own, kept."""
    job = _job(served, job_id)
    assert job["status"] == "failed", job
    stored = job["error"]
    assert stored["ename"] == error["code"], stored
    assert stored["evalue"] in error["message"], (stored, error)
    assert error["fix"].startswith(f"the recipe's admin finds why in job {job_id}; "), error
    assert "respond" in stored["fix"] and "respond" not in error["fix"], (stored, error)
    assert error["field"] is None, error
    assert job["result"]["ran"] is True, job
    code, shown = run_json("show", str(job_id), "--workspace", str(callables))
    assert code == 0 and shown["status"] == "failed", shown
    assert shown["error"]["ename"] == error["code"], shown
    return job


def test_a_call_whose_recipe_never_responds_fails_its_job(
    served: Served, token: str, callables: Path
) -> None:
    # It was told "the recipe must call lpstudio.kernel.respond(body, status)".
    job_id, error = _bad_gateway(_call(served, token, "noanswer"), "NoResponse")
    job = _failed_as_answered(served, callables, job_id, error)
    assert "respond(" in job["error"]["fix"], job
    assert "response" not in job["result"], job
    counted = _outcomes(served, "bots/noanswer.ipynb")
    assert (counted["succeeded"], counted["failed"]) == (0, 1), counted
    assert counted["latest_job"]["status"] == "failed", counted

    # Its caller repeats it, or not: no retry of its own follows, retries or not.
    with Studio.open(callables, user="alice") as studio:
        assert after_failure(studio, studio.job(job_id)) is None
        assert [each.id for each in studio.jobs(recipe="bots/noanswer.ipynb")] == [job_id]


def test_a_call_answered_off_its_response_schema_fails_its_job(
    served: Served, token: str, callables: Path
) -> None:
    # It was told the response's field `double` as its own, and to edit the recipe.
    job_id, error = _bad_gateway(_call(served, token, "offschema"), "InvalidResponse")
    assert "the response field double" in error["message"], error
    job = _failed_as_answered(served, callables, job_id, error)
    assert job["error"]["field"] == "double", job
    assert "response_schema" in job["error"]["fix"], job
    assert job["result"]["response"]["body"] == {"double": "two"}, job  # as it answered
    counted = _outcomes(served, "bots/offschema.ipynb")
    assert (counted["succeeded"], counted["failed"]) == (0, 1), counted


def test_an_async_call_polled_gets_the_502_of_its_failed_job(
    served: Served, token: str, callables: Path
) -> None:
    handed = _call(served, token, "noanswer", n=2, mode="async")
    assert handed.status_code == 202, handed.text
    job_id = handed.json()["job"]
    _job(served, job_id)
    polled = httpx.get(
        f"{served.url}{API}/calls/{job_id}", headers={"API-TOKEN": token}, timeout=30
    )
    assert _bad_gateway(polled, "NoResponse")[0] == job_id
    _failed_as_answered(served, callables, job_id, polled.json()["error"])


def test_a_call_answered_in_its_schema_succeeds(served: Served, token: str) -> None:
    answered = _call(served, token, "answers")
    assert answered.status_code == 200 and answered.json() == {"double": 2}, answered.text
    job = _job(served, int(answered.headers["Lpstudio-Job"]))
    assert job["status"] == "succeeded" and job["error"] is None, job


def test_a_test_run_answers_no_caller_and_succeeds(served: Served) -> None:
    tested = served.api("alice", "POST", "/recipes/bots/noanswer.ipynb/test", json={"event": {}})
    assert tested.status_code == 202, tested.text
    job = _job(served, tested.json()["id"])
    assert job["trigger"] == "test" and job["status"] == "succeeded", job


def test_a_call_whose_kernel_dies_says_the_error_and_keeps_the_fix_apart(
    served: Served, token: str, callables: Path
) -> None:
    """A bot is answered what happened, not the recipe admin's fix as command-line text
    (`message\n  fix: ...`) inside its message; the job keeps that fix in its own field,
    and `lpstudio show` still prints it on its own line."""
    answer = _call(served, token, "dies")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "JobFailed" and "\n" not in error["message"], error
    assert error["message"].endswith("(os._exit, a crash in a native library)"), error
    job = _job(served, error["job"])
    stored = job["error"]
    assert stored["ename"] == "DeadKernelError" and "fix:" not in stored["evalue"], stored
    assert stored["fix"].startswith("find what the cell does that can end its process"), stored
    shown = run_cli("show", str(error["job"]), "--workspace", str(callables))
    # The REST answer says the fix's rerun as its route; the CLI as its command.
    assert stored["fix"].endswith(f"then POST /lpstudio/api/v1/jobs/{error['job']}/rerun"), stored
    said = stored["fix"].replace(
        f"POST /lpstudio/api/v1/jobs/{error['job']}/rerun", f"`lpstudio rerun {error['job']}`"
    )
    assert f"(os._exit, a crash in a native library)\n  fix: {said}\n" in shown.stdout


def test_the_last_answer_of_a_job_is_its_caller_s(
    served: Served, token: str, callables: Path
) -> None:
    """A recipe may answer a default first (404) and another once it knows more: its caller
    gets the last, as recipes written so before the answer's rules were documented expect."""
    answer = _call(served, token, "twice")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"double": 2}
