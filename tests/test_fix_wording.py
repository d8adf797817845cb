"""Refusals whose fix can be followed as written, and a refusal that holds without
credentials: `init --admin` on an active workspace offers no role for a name that can hold
none, `lpstudio settings` names the recipe it was given rather than `RECIPE` (and its REST
answer the route of that recipe), and an http connection with a base_url sends nothing off
its origin (README: Connections and connectors, HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from jupyter_server.utils import url_path_join

from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.studio import Studio
from tests import test_connectors_generic as generic
from tests.conftest import write_recipe
from tests.servers import API
from tests.test_connectors_generic import Recorder
from tests.test_kernel_by_hand import kernel_for

connect = generic.connect  # the same fixture: connections closed after the test


def invoke(*args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(main, list(args), env={"LPSTUDIO_USER": user})


# -- init --admin on an active workspace -----------------------------------------------------


def test_init_again_refuses_an_api_client_as_admin_as_a_new_folder_does(ws, tmp_path):
    """The fix said to give `api:bot` the admin role with `lpstudio users role`, which
    refuses it: it is refused as on a new folder, and nothing is written to either."""
    fresh = tmp_path / "fresh"
    on_fresh = invoke("init", str(fresh), "--admin", "api:bot", "--accept-terms")
    again = invoke("init", str(ws), "--admin", "api:bot", "--accept-terms")

    assert on_fresh.exit_code == again.exit_code == 2
    assert again.stderr == on_fresh.stderr
    assert "the workspace would have no admin" in again.stderr
    assert "users role" not in again.stderr
    assert not fresh.exists()
    with Studio.open(ws, user="alice") as studio:
        assert [user["name"] for user in studio.users()] == ["alice"]


def test_init_again_with_another_person_as_admin_offers_a_fix_that_works(ws):
    again = invoke("init", str(ws), "--admin", "bob", "--accept-terms")

    assert again.exit_code == 2, again.output
    assert "already active, with alice as the admin" in again.stderr
    assert "`LPSTUDIO_USER=alice lpstudio users role bob admin`" in again.stderr
    given = invoke("users", "role", "bob", "admin", "--workspace", str(ws))
    assert given.exit_code == 0, given.output


# -- `lpstudio settings` binding a connection that does not exist -----------------------------

SLOTS = {"title": "Cart", "connections": {"liveperson": {"type": "liveperson_proactive"}}}


@pytest.fixture
def cart(ws: Path) -> Path:
    write_recipe(ws, "shop2/cart_abandonment", metadata=SLOTS)
    return ws


def test_settings_names_the_recipe_in_the_fix_for_a_missing_connection(cart):
    """The fix said `lpstudio settings RECIPE ...` though the command named the recipe."""
    refused = invoke(
        "settings",
        "shop2/cart_abandonment",
        "--connection",
        "liveperson=nope",
        "--workspace",
        str(cart),
    )

    assert refused.exit_code == 2
    assert "slot 'liveperson' is bound to connection 'nope', which does not exist" in (
        refused.stderr
    )
    fix = "`lpstudio settings shop2/cart_abandonment.ipynb --connection liveperson=NAME`"
    assert fix in refused.stderr
    assert "RECIPE" not in refused.stderr


async def test_the_rest_answer_names_the_route_of_that_recipe(
    jp_fetch: Any, jp_base_url: str, cart: Path
):
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        "recipes",
        "shop2",
        "cart_abandonment.ipynb",
        "settings",
        method="PUT",
        body=json.dumps({"connections": {"liveperson": "nope"}}),
        headers={"X-Test-User": "alice"},
        raise_error=False,
    )

    error = json.loads(answer.body)["error"]
    assert answer.code == 400 and error["field"] == "connections.liveperson", error
    # Under the server's base URL, as the caller reaches it.
    route = f"PUT {url_path_join(jp_base_url, API)}/recipes/shop2/cart_abandonment.ipynb/settings"
    assert error["fix"] == (
        f'bind an existing connection with {route} {{"connections": {{"liveperson": "NAME"}}}}'
    )


# -- an http connection's base_url bounds where it sends ---------------------------------------

CALL_ELSEWHERE = """
import lpstudio.kernel as lp
lp.connection("crm").request(method="GET", url=url)
"""


def test_a_job_s_http_connection_without_credentials_sends_nothing_off_its_base_url(
    ws, serve: Callable[[Recorder], Recorder]
):
    """Only a connection with credentials refused an absolute URL off its base_url's origin;
    without, a recipe's request went to any host."""
    app, elsewhere = serve(Recorder()), serve(Recorder())
    metadata = {"title": "Call", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/call", parameters='url = ""', cells=(CALL_ELSEWHERE,), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": app.url}, "alice")
        job = studio.run("p/call", {"url": f"{elsewhere.url}/echo"})

    assert job.status == "failed"
    assert f"is not on the connection's base_url ({app.url})" in job.error["evalue"]
    assert elsewhere.requests == [] and app.requests == []


def test_an_http_connection_sends_anywhere_on_its_origin_or_without_a_base_url(
    serve: Callable[[Recorder], Recorder], connect
):
    app, elsewhere = serve(Recorder()), serve(Recorder())
    bounded = connect("http", {"base_url": f"{app.url}/v1"})
    assert bounded.request(method="GET", url=f"{app.url}/echo")["status"] == 200
    for dry_run in (False, True):  # a dry run shows nothing that could not go out
        with pytest.raises(InputError, match="not on the connection's base_url") as caught:
            connect("http", {"base_url": app.url}, dry_run).request(
                method="GET", url=f"{elsewhere.url}/echo"
            )
        assert caught.value.field == "url"
    anywhere = connect("http", {})
    assert anywhere.request(method="GET", url=f"{elsewhere.url}/echo")["status"] == 200
    assert [r["path"] for r in app.requests + elsewhere.requests] == ["/echo", "/echo"]


# -- a recipe's slot in its kernel -----------------------------------------------------------

CALL_UNDECLARED = """
import lpstudio.kernel as lp
lp.connection("shop")
"""


def test_a_job_s_fix_for_an_undeclared_slot_names_its_recipe(ws):
    metadata = {"title": "Call", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/undeclared", cells=(CALL_UNDECLARED,), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {}, "alice")
        job = studio.run("p/undeclared")

    assert job.status == "failed" and "declares no connection slot 'shop'" in job.error["evalue"]
    assert "`lpstudio settings p/undeclared.ipynb --connection shop=NAME`" in job.error["evalue"]


def test_a_slot_two_connections_fit_by_hand_names_the_recipe_to_choose_for(ws):
    """Run by hand in JupyterLab, the recipe is the notebook's."""
    metadata = {"title": "Call", "connections": {"crm": {"type": "http"}}}
    recipe = write_recipe(ws, "p/by_hand", cells=(), metadata=metadata)
    with Studio.open(ws, user="alice") as studio:
        for name in ("crm-eu", "crm-us"):
            studio.connections.add(name, "http", {}, "alice")
    with kernel_for(recipe) as cell:
        _, error = cell('lp.connection("crm")')

    assert error is not None and error["ename"] == "InputError"
    assert "several http connections could fill slot 'crm'" in error["evalue"]
    assert "`lpstudio settings p/by_hand.ipynb --connection crm=NAME`" in error["evalue"]
