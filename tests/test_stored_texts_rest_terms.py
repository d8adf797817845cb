"""What lpstudio stored in the CLI's terms says its commands as the REST API's routes in
every answer that carries it, as its error answers' fixes do (README: Bots and other
systems: the REST API): a connection's test status (`status_message`), a recipe's trigger
errors and problem, a job's error. They told a bot, and the lab, to run `lpstudio
connections update shopify --secret access_token`.

Real sandbox, real store, a real Jupyter server in the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_server.utils import url_path_join

from lpstudio.errors import LpstudioError
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from tests.conftest import finished_job, set_job, write_recipe
from tests.servers import API, rest
from tests.test_scheduler import SEND, cli, poll_recipe, ws
from tests.test_trigger_error_runs import shop_token

__all__ = ["ws"]  # the fixture of test_scheduler's: a workspace on the sandbox

#: A command of the CLI as a fix names it.
CLI = "`lpstudio "
#: The route that gives the Shopify connection the token its shop takes, under the API.
TOKEN_ROUTE = 'PUT {api}/connections/shopify {{"fields": {{"access_token": ...}}}}'


def said_as_routes(text: str | None, *routes: str) -> None:
    assert text is not None
    assert all(route in text for route in routes) and CLI not in text, text


@pytest.fixture
def api(jp_base_url: str) -> str:
    """Where the test's server answers the API: the fixes name its routes there."""
    return url_path_join(jp_base_url, API)


async def test_a_connections_test_status_names_the_route_that_corrects_it(
    jp_fetch: Any, api: str, ws: Path, sandbox: Sandbox
) -> None:
    with Studio.open(ws, user="alice") as studio:
        shop_token(studio, works=False)

    code, tested = await rest(jp_fetch, "POST", "connections", "shopify", "test", body={})

    assert (code, tested["status"]) == (200, "disconnected"), tested
    said_as_routes(tested["status_message"], TOKEN_ROUTE.format(api=api))
    code, shown = await rest(jp_fetch, "GET", "connections", "shopify")
    assert code == 200 and shown["status_message"] == tested["status_message"], shown
    code, listed = await rest(jp_fetch, "GET", "connections")
    (row,) = [c for c in listed["connections"] if c["name"] == "shopify"]
    assert row["status_message"] == tested["status_message"], row
    # The command line still says its own command.
    assert "`lpstudio connections update shopify --secret access_token`" in (
        cli(ws, "connections", "list", "--json").output
    )


async def test_a_recipes_trigger_errors_and_problem_name_routes(
    jp_fetch: Any, api: str, ws: Path, sandbox: Sandbox
) -> None:
    recipe = poll_recipe(ws, "cart", (SEND,))
    slots = {"crm": {"type": "nosuch"}}  # a connector this workspace lacks
    write_recipe(ws, "p/broken", metadata={"title": "broken", "connections": slots})
    with Studio.open(ws, user="alice") as studio:
        studio.start(recipe)
        shop_token(studio, works=False)
    assert cli(ws, "poll", recipe).exit_code != 0  # a trigger error of a started recipe

    code, listed = await rest(jp_fetch, "GET", "recipes")

    assert code == 200, listed
    rows = {row["recipe"]: row for row in listed["recipes"]}
    assert rows[recipe]["trigger_errors"]["count"] == 1, rows[recipe]
    said_as_routes(rows[recipe]["trigger_errors"]["last"], TOKEN_ROUTE.format(api=api))
    said_as_routes(rows["p/broken.ipynb"]["problem"], f"(see GET {api}/connectors)")


async def test_a_jobs_error_names_the_routes_that_correct_it(
    jp_fetch: Any, api: str, ws: Path
) -> None:
    """A failed job's `evalue` (an `LpstudioError`'s, its fix on its last line) and the fix
    lpstudio gives apart, in the job's answer, the jobs list and its recipe's last job; what
    the recipe itself kept (its result) stays as it wrote it."""
    job_id = finished_job(ws, minutes_ago=1)
    misdirected = LpstudioError(
        "the connection's base_url (http://127.0.0.1:9) does not lead to LivePerson's "
        "Proactive API: it answered HTTP 404: Not Found",
        fix="set base_url to the base URL of the service, without its path (empty: "
        "LivePerson's own): `lpstudio connections update liveperson --field base_url=...`",
    )
    error = {
        "ename": "ConnectorError",
        "evalue": str(misdirected),
        "cell": 1,
        "traceback": [],
        "fix": "then test it with `lpstudio connections test liveperson`",
    }
    kept = {"error": {"evalue": "`lpstudio connections test liveperson` said so"}}
    with Studio.open(ws, user="alice") as studio:
        set_job(studio.store, job_id, status="failed", error=error, result=kept)
    put = f'PUT {api}/connections/liveperson {{"fields": {{"base_url": ...}}}}'
    test = f"POST {api}/connections/liveperson/test"

    shown = [(await rest(jp_fetch, "GET", "jobs", str(job_id)))[1]]
    shown += (await rest(jp_fetch, "GET", "jobs"))[1]["jobs"]
    shown.append((await rest(jp_fetch, "GET", "recipes", "p", "done.ipynb"))[1]["last_job"])

    for job in shown:
        assert job["id"] == job_id, job
        said_as_routes(job["error"]["evalue"], put)
        said_as_routes(job["error"]["fix"], test)
        assert job.get("result", kept) == kept, job["result"]  # a list row carries none
    assert shown[0]["result"] == kept, shown[0]
