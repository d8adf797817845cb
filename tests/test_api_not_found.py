"""The REST API's answer to a path no route has, inside a Jupyter server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join

from tests.conftest import write_recipe
from tests.servers import API


async def get(jp_fetch: Any, *path: str) -> tuple[int, dict[str, Any]]:
    answer = await jp_fetch(
        "lpstudio", "api", "v1", *path, headers={"X-Test-User": "alice"}, raise_error=False
    )
    return answer.code, json.loads(answer.body)


async def test_a_recipe_path_with_a_trailing_slash_is_told_to_drop_it(
    jp_fetch: Any, jp_base_url: str, ws: Path
) -> None:
    """`GET /recipes/shop/cart.ipynb/` answered "no route" with the OpenAPI document as its
    only fix, though the recipe is there: the fix is to drop the `/`."""
    write_recipe(ws, "shop/cart")
    code, found = await get(jp_fetch, "recipes", "shop", "cart.ipynb")
    assert code == 200 and found["recipe"] == "shop/cart.ipynb", found
    code, answer = await get(jp_fetch, "recipes", "shop", "cart.ipynb/")
    error = answer["error"]
    assert code == 404 and error["field"] == "path", answer
    api = url_path_join(jp_base_url, API)  # fixes name the routes under the base URL
    path = f"{api}/recipes/shop/cart.ipynb"
    assert error["message"].startswith("no route ") and error["message"].endswith(f"{path}/")
    routes = f"the routes are in {api}/openapi.json"
    assert error["fix"].startswith("drop the trailing / (") and error["fix"].endswith(
        f"{path}); {routes}"
    ), error
    code, answer = await get(jp_fetch, "no-such-route")
    assert code == 404 and answer["error"]["fix"] == routes, answer
    for nowhere in ("no-such-route/", ""):  # without the `/` no route either: no such hint
        code, answer = await get(jp_fetch, nowhere)
        assert code == 404 and answer["error"]["fix"] == routes, (nowhere, answer)


async def test_error_answers_name_the_workspace_s_files_by_their_path_in_it(
    jp_fetch: Any, ws: Path
) -> None:
    """An error answer named the server's folders (`/srv/brand/projects/billing/... already
    exists`): a bot or a browser app learns nothing of them; the path in the workspace is
    enough to act on."""

    async def try_it() -> tuple[int, dict[str, Any]]:
        body = {"template": "payment_reminder", "project": "billing"}
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            "gallery",
            "try",
            method="POST",
            body=json.dumps(body),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        return answer.code, json.loads(answer.body)

    assert (await try_it())[0] == 201
    code, answer = await try_it()
    error = answer["error"]
    assert code == 400 and error["field"] == "name", answer
    assert "projects/billing/payment_reminder.ipynb already exists" in error["message"], error
    shown = json.dumps(error)
    assert str(ws) not in shown and str(ws.resolve()) not in shown, error


async def test_every_404_has_one_error_code(jp_fetch: Any, ws: Path) -> None:
    """A route no one has answered `NotFound`, a recipe or job no one has `NotFoundError`:
    a bot branching on the code had to know both."""
    for path in (("no-such-route",), ("recipes", "shop", "none.ipynb"), ("jobs", "99999")):
        code, answer = await get(jp_fetch, *path)
        assert code == 404 and answer["error"]["code"] == "NotFoundError", (path, answer)


async def test_a_recipe_path_without_its_ipynb_is_told_to_add_it(
    jp_fetch: Any, jp_base_url: str, ws: Path
) -> None:
    """`GET /recipes/shop/cart` answered "no route" with the OpenAPI document as its only
    fix, though the command line takes the recipe so and the recipe is there: the fix is to
    add `.ipynb`."""
    write_recipe(ws, "shop/cart")
    api = url_path_join(jp_base_url, API)
    routes = f"the routes are in {api}/openapi.json"
    for given, named in (
        (("recipes", "shop", "cart"), "recipes/shop/cart.ipynb"),
        (("recipes", "shop", "cart", "versions"), "recipes/shop/cart.ipynb/versions"),
    ):
        code, answer = await get(jp_fetch, *given)
        error = answer["error"]
        assert code == 404 and error["field"] == "path", (given, answer)
        assert error["fix"] == f"add .ipynb to the recipe's path ({api}/{named}); {routes}", error
        code, found = await get(jp_fetch, *named.split("/"))  # as the fix names it
        assert code == 200, (named, found)
    # A path no recipe route takes, with or without `.ipynb`, gets no such hint.
    for nowhere in (("recipe", "shop", "cart"), ("recipes", "shop", "cart.ipynb", "nowhere")):
        code, answer = await get(jp_fetch, *nowhere)
        assert code == 404 and answer["error"]["fix"] == routes, (nowhere, answer)


async def test_a_job_id_that_can_be_no_job_is_refused_on_every_job_route(
    jp_fetch: Any, jp_base_url: str, ws: Path
) -> None:
    """`/jobs/99999999999999999999` and `/jobs/-1` answered "no route" with the OpenAPI
    document as the fix, where `/jobs/0` said the job does not exist: any whole number is
    the route's, and one that can be no job is refused as `lpstudio show` refuses it (past
    2**63 - 1 the database raised OverflowError)."""
    api = url_path_join(jp_base_url, API)
    fix = f"give a job's number, from 1 to {2**63 - 1}, as GET {api}/jobs lists it"
    for job_id in ("99999999999999999999", str(2**63), "-1", "0", "1" * 5000):
        for method, *tail in (
            ("GET",),
            ("POST", "cancel"),
            ("POST", "rerun"),
            ("GET", "output.ipynb"),
        ):
            answer = await jp_fetch(
                "lpstudio",
                "api",
                "v1",
                "jobs",
                job_id,
                *tail,
                method=method,
                body="{}" if method == "POST" else None,
                headers={"X-Test-User": "alice"},
                raise_error=False,
            )
            error = json.loads(answer.body)["error"]
            assert answer.code == 400 and error["code"] == "InputError", (job_id, tail, error)
            shown = job_id if len(job_id) <= 20 else job_id[:20] + "\u2026"  # not 5000 digits
            assert error["message"] == f"{shown} is not a job id", error
            assert error["field"] == "job_id" and error["fix"] == fix, error
    code, answer = await get(jp_fetch, "jobs", str(2**63 - 1))  # the largest: no such job
    assert code == 404 and answer["error"]["message"] == f"job {2**63 - 1} does not exist"
