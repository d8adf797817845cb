"""A parameter the parameters cell declares with no value (`days: int`) is a known, typed,
required parameter: `-p`, a JSON body and saved settings take it as its annotation says,
and a run, Test or Start without a value given or saved is refused before any job, naming
it and the fix. It was unknown (`-p days 3` refused: "unknown parameter 'days'"), and a run
without it failed in its cell with a NameError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_server.utils import url_path_join

from tests.conftest import job_rows, run_json, write_recipe
from tests.servers import API

CELL = "days: int  # how far back\nname: str = 'x'"
RESULT = "import lpstudio.kernel as lp\nlp.set_result({'days': days, 'name': name})"
FIX = (
    "give it with `lpstudio run p/need.ipynb -p days VALUE`, or save one with "
    "`lpstudio settings p/need.ipynb -p days VALUE`"
)


def need(ws: Path, metadata: dict[str, Any] | None = None) -> None:
    """The analyst's recipe: `days` declared with no value, `name` with one."""
    write_recipe(ws, "p/need", CELL, (RESULT,), metadata)


def answered(result: Any, code: int) -> Any:
    """A CLI command's `--json` answer, once its exit code is `code`."""
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def injected(answer: dict[str, Any]) -> str:
    """The cell papermill injected into a `--prepare-only` notebook."""
    nb = nbformat.read(answer["output_path"], as_version=4)
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    return str(cell.source)


def test_the_cli_knows_it_typed_as_declared(ws: Path, cli: Any) -> None:
    need(ws)
    (row,) = answered(cli("recipes", "--json"), 0)
    assert row["problem"] is None, row
    schema = row["parameters"]
    assert schema["properties"]["days"] == {
        "title": "days",
        "type": "integer",
        "description": "how far back",
    }, schema
    assert schema["required"] == ["days"], schema
    shown = cli("settings", "p/need")
    assert shown.exit_code == 0 and "\n  days = " in shown.output, shown.output
    error = answered(cli("run", "p/need", "-p", "days", "three", "--json"), 2)["error"]
    assert error["field"] == "days" and "expects an integer" in error["message"], error
    prepared = answered(cli("run", "p/need", "-p", "days", "3", "--prepare-only", "--json"), 0)
    assert "days = 3\n" in injected(prepared), injected(prepared)
    assert job_rows(ws) == 0


@pytest.mark.parametrize("test", [False, True], ids=["run", "test"])
def test_a_run_without_a_value_is_refused_naming_it_and_the_fix(
    ws: Path, cli: Any, test: bool
) -> None:
    need(ws)
    given = ["--test"] if test else []
    for args in ([], ["-p", "name", "y"]):  # the other parameter given: still refused
        error = answered(cli("run", "p/need", *given, *args, "--json"), 2)["error"]
        assert error["field"] == "days", error
        assert error["message"].startswith("parameter 'days' of p/need.ipynb needs a value")
        assert error["fix"] == FIX, error
    assert job_rows(ws) == 0


def test_a_saved_value_is_typed_and_runs_with_it(ws: Path, cli: Any) -> None:
    need(ws)
    error = answered(cli("settings", "p/need", "-p", "days", "3.5", "--json"), 2)["error"]
    assert error["field"] == "days" and "expects an integer" in error["message"], error
    saved = answered(cli("settings", "p/need", "-p", "days", "3", "--json"), 0)
    assert saved["parameters"] == {"days": 3}, saved
    prepared = answered(cli("run", "p/need", "--prepare-only", "--json"), 0)
    assert "days = 3\n" in injected(prepared), injected(prepared)
    reset = answered(cli("settings", "p/need", "--reset", "days", "--json"), 0)
    assert reset["parameters"] == {}, reset
    error = answered(cli("run", "p/need", "--prepare-only", "--json"), 2)["error"]
    assert error["field"] == "days" and error["fix"] == FIX, error


def test_a_schedule_recipe_does_not_start_without_a_saved_value(ws: Path, cli: Any) -> None:
    """Its scheduled jobs run with the saved values alone: each would fail."""
    need(ws, {"title": "need", "trigger": {"kind": "schedule", "cron": "0 9 * * *"}})
    error = answered(cli("start", "p/need", "--json"), 2)["error"]
    assert error["field"] == "days" and error["fix"] == FIX, error
    (row,) = answered(cli("recipes", "--json"), 0)
    assert row["state"] == "stopped", row
    answered(cli("settings", "p/need", "-p", "days", "3", "--json"), 0)
    assert cli("start", "p/need", "--json").exit_code == 0
    assert job_rows(ws) == 0


def test_a_run_given_it_gets_it_as_an_int(ws: Path) -> None:
    """One real run: papermill injects it, typed as declared, beside the other default."""
    need(ws)
    code, job = run_json("run", "p/need", "-p", "days", "3", "--workspace", str(ws))
    assert code == 0 and job["status"] == "succeeded", job
    assert job["result"] == {"days": 3, "name": "x"} and job["parameters"] == {"days": 3}, job


# -- through the REST API ------------------------------------------------------------------


async def test_the_rest_api_takes_it_typed_and_refuses_a_job_without_it(
    jp_fetch: Any, jp_base_url: str, ws: Path
) -> None:
    need(ws)

    async def fetch(method: str, *path: str, body: Any = None) -> tuple[int, Any]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            *path,
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        return answer.code, json.loads(answer.body)

    code, found = await fetch("GET", "recipes", "p", "need.ipynb")
    assert code == 200 and found["parameters"]["required"] == ["days"], found
    assert found["parameters"]["properties"]["days"]["type"] == "integer", found
    for action in ("run", "test"):
        for body in ({}, {"parameters": {"name": "y"}}):
            code, answer = await fetch("POST", "recipes", "p", "need.ipynb", action, body=body)
            error = answer["error"]
            assert code == 400 and error["field"] == "days", (action, answer)
            assert "needs a value" in error["message"], (action, answer)
            route = f"PUT {url_path_join(jp_base_url, API)}/recipes/p/need.ipynb/settings"
            put = f'{route} {{"parameters": {{"days": ...}}}}'
            assert put in error["fix"] and "lpstudio settings" not in error["fix"], answer
    body = {"parameters": {"days": "3"}}  # JSON's text is no integer
    code, answer = await fetch("PUT", "recipes", "p", "need.ipynb", "settings", body=body)
    assert code == 400 and answer["error"]["field"] == "days", answer
    body = {"parameters": {"days": 3}}
    code, answer = await fetch("PUT", "recipes", "p", "need.ipynb", "settings", body=body)
    assert code == 200 and answer["settings"]["parameters"] == {"days": 3}, answer
    assert answer["settings_problem"] is None, answer
    assert job_rows(ws) == 0
