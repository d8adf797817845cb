"""The REST API's fixes name its own routes, not the CLI's commands (README: Bots and other
systems): a refusal whose fix the CLI words as `lpstudio recipes` or `lpstudio connections
update lp --secret token` answers with `GET /lpstudio/api/v1/recipes` or `PUT
/lpstudio/api/v1/connections/lp {"fields": {"token": ...}}`, each route one the server
serves; a command with no route (`lpstudio init`, `lpstudio import`) stays; the CLI keeps
its own words.

One real `lpstudio serve` on loopback (its scheduler off) on a workspace of recipes that are
refused before any job starts: no kernel runs.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.errors import rerun_fix, word
from lpstudio.models import TriggerState
from lpstudio.server.fixes import for_role, in_rest_terms
from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text
from tests.conftest import write_recipe
from tests.servers import API, Served, serving

#: A route a fix names: its method and path (a query, a body or words may follow).
NAMED_ROUTE = re.compile(rf"\b(GET|POST|PUT|DELETE) {API}(/[^\s?,;:)]*)")
#: How the payment reminder's fix for a missing CSV names the folder its path is read from.
FOLDER = "from the recipe's folder projects/x y/"
CALLABLE = {"title": "hello", "trigger": {"kind": "callable", "path": "hello"}}
LITERAL = (
    'from typing import Literal, Optional\nchannel: Literal["sms", "wa"] = "sms"\n'
    "level: Optional[Literal[1, 2]] = None\nn: int = 1"
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where `shop/cart_abandonment` has a job but its notebook was moved away;
    `p/x` a manual recipe, `b/hello` a callable one, `p/uses` a recipe whose slot is bound
    to the connection `rows`, `my shop/Cart Recovery` one whose path holds spaces (as
    JupyterLab lets an analyst name a notebook) and whose `count` has no default."""
    ws = tmp_path_factory.mktemp("fixes") / "ws"
    with Studio.init(ws, accept_terms=True, admin="alice") as studio:
        write_recipe(ws, "shop/cart_abandonment")
        version = studio.store.snapshot("shop/cart_abandonment.ipynb", "{}", {}, "alice")
        moved = studio.store.create_job(
            recipe="shop/cart_abandonment.ipynb", version_id=version, trigger="manual", user="alice"
        )
        studio.store.finish_job(moved.id, "succeeded")  # ended: a rerun may be asked
        write_recipe(ws, "p/x")
        write_recipe(ws, "p/lit", parameters=LITERAL)
        write_recipe(ws, "b/hello", metadata=CALLABLE)
        write_recipe(ws, "my shop/Cart Recovery", parameters="count: int  # how many")
        write_recipe(
            ws, "p/uses", metadata={"title": "uses", "connections": {"rows": {"type": "csv_file"}}}
        )
        studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
        studio.save_settings("p/uses", {}, connections={"rows": "rows"})
    shutil.move(ws / "projects/shop", ws.parent / "shop-elsewhere")
    return ws


@pytest.fixture(scope="module")
def server(ws: Path) -> Iterator[Served]:
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        yield served


@pytest.fixture(scope="module")
def routes(server: Served) -> list[tuple[str, re.Pattern[str]]]:
    """Each method and path the server's OpenAPI document declares, as a pattern (a
    `{recipe}` holds `/`)."""
    paths = server.api("alice", "GET", "/openapi.json").json()["paths"]
    return [
        (method.upper(), re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(path))))
        for path, item in paths.items()
        for method in item
    ]


def fix_of(answer: httpx.Response, status: int, routes: list[tuple[str, re.Pattern[str]]]) -> str:
    """The refusal's fix, once it is seen to name no CLI command and only routes the server
    serves."""
    assert answer.status_code == status, answer.text
    fix = str(answer.json()["error"]["fix"])
    assert "`lpstudio " not in fix and "--" not in fix, fix
    for method, path in NAMED_ROUTE.findall(fix):
        assert any(m == method and p.fullmatch(path) for m, p in routes), (method, path, fix)
    return fix


def test_a_rerun_of_a_job_whose_recipe_moved_names_the_versions_and_restore_routes(
    ws: Path, server: Served, routes: Any
) -> None:
    job = server.api("alice", "GET", "/jobs").json()["jobs"][-1]
    assert job["recipe"] == "shop/cart_abandonment.ipynb"

    answer = server.api("alice", "POST", f"/jobs/{job['id']}/rerun")

    assert answer.json()["error"]["message"] == (
        f"job {job['id']}'s recipe shop/cart_abandonment.ipynb is gone: its notebook was "
        "deleted from projects (or moved away)"
    )
    recipe = f"{API}/recipes/shop/cart_abandonment.ipynb"
    assert fix_of(answer, 400, routes) == (
        f"bring it back from its versions: GET {recipe}/versions lists them, POST "
        f'{recipe}/restore {{"version": ...}} writes one back; then POST {API}/jobs/'
        f"{job['id']}/rerun"
    )
    said = CliRunner().invoke(main, ["rerun", str(job["id"]), "--workspace", str(ws)])
    assert said.exit_code == 2 and "`lpstudio restore shop/cart_abandonment.ipynb VERSION`" in (
        said.output
    )


def test_a_connection_s_fixes_name_its_routes_and_the_body_they_take(
    server: Served, routes: Any
) -> None:
    gone = server.api("alice", "GET", "/connections/nosuch")
    assert fix_of(gone, 404, routes) == f"list them with GET {API}/connections"

    again = {"name": "rows", "type": "csv_file", "fields": {"path": "other.csv"}}
    taken = server.api("alice", "POST", "/connections", json=again)
    assert fix_of(taken, 400, routes) == f"choose another name, or use PUT {API}/connections/rows"

    used = server.api("alice", "DELETE", "/connections/rows")
    assert fix_of(used, 400, routes) == (
        "bind another connection to each of these slots first, e.g. "
        f'PUT {API}/recipes/p/uses.ipynb/settings {{"connections": {{"rows": "OTHER"}}}}; '
        "then remove 'rows'"
    )


def row_of(server: Served, user: str, recipe: str) -> dict[str, Any]:
    """`recipe`'s row in `GET /recipes`, as `user` is answered it."""
    rows = server.api(user, "GET", "/recipes").json()["recipes"]
    return next(row for row in rows if row["recipe"] == recipe)


def test_a_fix_the_caller_s_role_cannot_carry_out_asks_a_role_that_can(
    ws: Path, server: Served, routes: Any
) -> None:
    """An operator may start a recipe, not create the connection its refusal names (that
    route answers them 403): its fix asks an analyst or admin to, naming the route still;
    an analyst's is as it was. So is a text stored with its fix (a trigger's error), and a
    rerun's of a job whose recipe moved away (its restore is an analyst's or admin's)."""
    made = server.api("alice", "PUT", "/users/otto/role", json={"role": "operator"})
    assert made.status_code == 200, made.text
    write_recipe(ws, "p/crm", metadata={"title": "crm", "connections": {"crm": {"type": "http"}}})
    error = (
        "ConnectorError: Shopify answered HTTP 401: bad token\n  fix: give connection shopify "
        "an Admin API access token: `lpstudio connections update shopify --secret access_token`"
    )
    with Studio.open(ws, user="alice") as studio, studio.store.write() as s:
        since = "2024-01-01T00:00:00+00:00"
        s.add(TriggerState(recipe="p/crm.ipynb", since=since, seen=[], errors=1, last_error=error))

    analyst = fix_of(server.api("ana", "POST", "/recipes/p/crm.ipynb/start"), 400, routes)
    operator = fix_of(server.api("otto", "POST", "/recipes/p/crm.ipynb/start"), 400, routes)

    assert analyst.startswith(f'create one with POST {API}/connections {{"name": "crm", '), analyst
    assert operator == f"ask an analyst or admin to {analyst}"
    created = server.api("otto", "POST", "/connections", json={"name": "crm", "type": "http"})
    assert created.status_code == 403, created.text
    detail = server.api("otto", "GET", "/recipes/p/crm.ipynb").json()
    assert detail["settings_problem"]["fix"] == operator
    assert row_of(server, "otto", "p/crm.ipynb")["trigger_errors"]["last"] == (
        "ConnectorError: Shopify answered HTTP 401: bad token\n  fix: ask an analyst or admin to "
        "give connection shopify an Admin API access token: PUT "
        f'{API}/connections/shopify {{"fields": {{"access_token": ...}}}}'
    )
    ana = row_of(server, "ana", "p/crm.ipynb")["trigger_errors"]["last"]
    assert ana == error.replace(
        "`lpstudio connections update shopify --secret access_token`",
        f'PUT {API}/connections/shopify {{"fields": {{"access_token": ...}}}}',
    )

    jobs = server.api("alice", "GET", "/jobs").json()["jobs"]
    moved = next(job["id"] for job in jobs if job["recipe"] == "shop/cart_abandonment.ipynb")
    rerun = server.api("otto", "POST", f"/jobs/{moved}/rerun")  # its recipe moved away
    recipe = f"{API}/recipes/shop/cart_abandonment.ipynb"
    assert fix_of(rerun, 400, routes) == (  # its restore is an analyst's or admin's to do
        f"ask an analyst or admin to bring it back from its versions: GET {recipe}/versions "
        f'lists them, POST {recipe}/restore {{"version": ...}} writes one back; then POST '
        f"{API}/jobs/{moved}/rerun"
    )


def test_a_connector_field_s_name_is_said_as_the_body_gives_it(ws: Path, server: Served) -> None:
    """A workspace connector declaring `Field("base url", ...)`: `GET /connectors`'s
    `broken` and a new connection of its type answered how the CLI gives a field (`--field
    api_key=VALUE`, `$LPSTUDIO_SECRET_API_KEY`); the API says its body, the lab neither,
    and the CLI keeps its own words."""
    wanted = (
        "rename the field to ASCII letters A-Z or a-z, digits, '_' and '-', starting with a "
        'letter, e.g. api_key (given as {"fields": {"api_key": ...}})'
    )
    source = 'from lpstudio.sdk import Connector, Field\n\nconnector = Connector("badfield", '
    bad = ws / "connectors" / "badfield.py"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text(source + 'title="Bad", fields=[Field("base url", "URL")])\n')
    try:
        listed = server.api("alice", "GET", "/connectors").json()["broken"]
        new = {"name": "zz", "type": "badfield", "fields": {}}
        refused = server.api("alice", "POST", "/connections", json=new)
        said = CliRunner().invoke(main, ["connectors", "--workspace", str(ws)])
    finally:
        bad.unlink()

    (broken,) = [b for b in listed if b["name"] == "badfield"]
    assert broken["fix"] == wanted, broken
    assert refused.status_code == 400 and refused.json()["error"]["fix"] == wanted, refused.text
    assert lab_text(wanted) == wanted.partition(" (given")[0]
    assert (
        "(given as --field api_key=VALUE, or a secret as $LPSTUDIO_SECRET_API_KEY)" in said.output
    )


def test_a_recipe_s_fixes_name_its_routes(server: Served, routes: Any) -> None:
    polled = server.api("alice", "POST", "/recipes/p/x.ipynb/poll")
    assert fix_of(polled, 400, routes).startswith(
        f"run it now with POST {API}/recipes/p/x.ipynb/run, or declare "
    )

    eventless = server.api("alice", "POST", "/recipes/b/hello.ipynb/run", json={})
    assert fix_of(eventless, 400, routes) == (
        f'give the event as JSON (POST {API}/recipes/b/hello.ipynb/run {{"event": ...}}), '
        f"or try the recipe with Test (POST {API}/recipes/b/hello.ipynb/test: a sample "
        "event, nothing sent)"
    )

    restored = server.api("alice", "POST", "/recipes/p/x.ipynb/restore", json={"version": "zzzz"})
    assert fix_of(restored, 400, routes) == f"list them with GET {API}/recipes/p/x.ipynb/versions"


def test_a_fix_for_a_recipe_whose_path_holds_spaces_is_a_command_a_shell_runs(
    ws: Path, server: Served, routes: Any
) -> None:
    recipe = "my shop/Cart Recovery.ipynb"
    said = CliRunner().invoke(main, ["run", recipe, "--workspace", str(ws)])
    assert said.exit_code == 2, said.output
    commands = re.findall(r"`(lpstudio [^`]*)`", said.output)
    assert commands == [
        "lpstudio run 'my shop/Cart Recovery.ipynb' -p count VALUE",
        "lpstudio settings 'my shop/Cart Recovery.ipynb' -p count VALUE",
    ]
    pasted = shlex.split(commands[1].replace("VALUE", "3"))[1:]
    saved = CliRunner().invoke(main, [*pasted, "--workspace", str(ws)])
    assert saved.exit_code == 0, saved.output
    CliRunner().invoke(main, ["settings", recipe, "--reset", "count", "--workspace", str(ws)])

    refused = server.api("alice", "POST", f"/recipes/{quote(recipe)}/run", json={})

    at = f"{API}/recipes/my%20shop/Cart%20Recovery.ipynb"
    assert fix_of(refused, 400, routes) == (
        f'give it with POST {at}/run {{"parameters": {{"count": ...}}}}, or save one with '
        f'PUT {at}/settings {{"parameters": {{"count": ...}}}}'
    )


def test_a_saved_value_that_no_longer_fits_names_the_settings_route(
    ws: Path, server: Served, routes: Any
) -> None:
    write_recipe(ws, "p/later")
    saved = server.api(
        "alice", "PUT", "/recipes/p/later.ipynb/settings", json={"parameters": {"x": 5}}
    )
    assert saved.status_code == 200, saved.text
    write_recipe(ws, "p/later", parameters="x: str = 'a'  # a word")

    refused = server.api("alice", "POST", "/recipes/p/later.ipynb/run", json={})

    assert fix_of(refused, 400, routes) == (
        f'save another value with PUT {API}/recipes/p/later.ipynb/settings {{"parameters": '
        '{"x": ...}}, or forget it with {"reset": ["x"]}'
    )


def test_the_gallery_s_and_a_package_s_fixes_name_their_routes_and_fields(
    server: Served, routes: Any
) -> None:
    unknown = server.api("alice", "POST", "/gallery/try", json={"template": "no", "project": "g"})
    assert fix_of(unknown, 404, routes) == f"list them with GET {API}/gallery"
    tried = {"template": "cb_optin", "project": "g"}
    assert server.api("alice", "POST", "/gallery/try", json=tried).status_code == 201
    taken = server.api("alice", "POST", "/gallery/try", json=tried)
    assert fix_of(taken, 400, routes) == "choose another name or project"
    blank = server.api("alice", "POST", "/gallery/try", json={**tried, "name": "   "})
    assert blank.json()["error"]["field"] == "name", blank.text
    assert fix_of(blank, 400, routes) == (
        "give a plain file name such as my_reminder, or none at all for the template's name "
        "(cb_optin)"
    )

    garbage = server.api(
        "alice",
        "POST",
        "/packages",
        content=b"not a zip",
        headers={"Content-Type": "application/zip"},
    )
    assert fix_of(garbage, 400, routes) == f"give a .zip written by GET {API}/packages"


def test_a_client_over_its_quota_is_told_the_api_s_field(server: Served, routes: Any) -> None:
    made = server.api(
        "alice",
        "POST",
        "/api-clients",
        json={"name": "once", "endpoints": ["*"], "rate_per_minute": 60, "quota_per_day": 1},
    )
    assert made.status_code == 201, made.text
    token = {"API-TOKEN": made.json()["token"]}
    first = httpx.post(f"{server.url}{API}/call/nothing", headers=token, timeout=30)
    assert first.status_code == 404, first.text  # counted all the same

    over = httpx.post(f"{server.url}{API}/call/nothing", headers=token, timeout=30)

    assert fix_of(over, 429, routes).endswith(
        "ask an admin to raise the quota (a new API client with a larger quota_per_day)"
    )


def test_a_refused_parameter_is_quoted_as_the_json_that_sent_it(server: Served) -> None:
    """A run or a settings PUT with `{"n": true}` was answered `expects an integer, got True`
    and an enum's refusal `'x' is not one of ['sms', 'wa']`: Python's words to a JSON client
    (rx), where a bot's call already said `true` and `"x"`."""
    said = {
        "n": (True, "parameter 'n' expects an integer, got true"),
        "channel": ("fax", 'parameter \'channel\' is invalid: "fax" is not one of ["sms", "wa"]'),
        "level": (3, "parameter 'level' is invalid: 3 is not one of [1, 2, null]"),
    }
    for name, (value, message) in said.items():
        for method, route, body in (
            ("POST", "/recipes/p/lit.ipynb/run", {"parameters": {name: value}}),
            ("PUT", "/recipes/p/lit.ipynb/settings", {"parameters": {name: value}}),
        ):
            answer = server.api("alice", method, route, json=body)
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert (error["field"], error["message"]) == (name, message), (route, error)
    enum = server.api(
        "alice", "PUT", "/recipes/p/lit.ipynb/settings", json={"parameters": {"channel": "fax"}}
    )
    assert enum.json()["error"]["fix"] == 'use one of: "sms", "wa"'
    assert server.api("alice", "GET", "/jobs?recipe=p/lit.ipynb").json()["jobs"] == []


def test_a_revocation_names_the_clients_route_and_is_audited_once(
    server: Served, routes: Any
) -> None:
    """An unknown client's fix said "list the API clients", which is no route; a repeated
    DELETE (a retry) wrote a second revocation in the audit though nothing changed."""
    ghost = server.api("alice", "DELETE", "/api-clients/ghost")
    assert fix_of(ghost, 404, routes) == f"GET {API}/api-clients names them"
    made = server.api("alice", "POST", "/api-clients", json={"name": "twice", "endpoints": ["*"]})
    assert made.status_code == 201, made.text
    for _ in range(2):
        revoked = server.api("alice", "DELETE", "/api-clients/twice")
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True, revoked.text
    entries = server.api("alice", "GET", "/audit", params={"limit": 500}).json()["entries"]
    said = [e for e in entries if e["action"] == "revoke_api_client" and e["target"] == "twice"]
    assert len(said) == 1, said


def test_a_body_the_request_schema_refuses_is_told_what_to_give(
    server: Served, routes: Any
) -> None:
    """A body refused by its schema is told what to give, read from the refusal (a range,
    a type, the fields taken, one that is missing, the choices), where each was pointed at
    the OpenAPI document; an API client's name is given a client's example."""
    client = {"name": "x2", "endpoints": ["hello"]}
    refused = {
        ("/api-clients", json.dumps({**client, "rate_per_minute": 0})): (
            "rate_per_minute",
            "give a number from 1 to 100000",
        ),
        ("/api-clients", json.dumps({**client, "rate_per_minute": "abc"})): (
            "rate_per_minute",
            "give an integer, e.g. 60",
        ),
        ("/api-clients", json.dumps({"endpoints": ["hello"]})): (
            "name",
            "add 'name' (lower-case ASCII letters a-z, digits, - or _, starting with a letter "
            "or digit (at most 64 characters), e.g. cb-bot)",
        ),
        ("/api-clients", json.dumps({**client, "name": "bot-é"})): (
            "name",
            "give name as lower-case ASCII letters a-z, digits, - or _, starting with a letter "
            "or digit (at most 64 characters), e.g. cb-bot",
        ),
        ("/recipes/p/x.ipynb/run", json.dumps({"parameters": [1]})): (
            "parameters",
            "give a mapping (JSON object)",
        ),
        ("/recipes/p/x.ipynb/run", json.dumps({"foo": 1})): (
            "foo",
            "leave out 'foo': the fields are",
        ),
        ("/users/bob/role", json.dumps({"role": "boss"})): ("role", "use one of: "),
    }
    for (route, body), (field, fix) in refused.items():
        method = "PUT" if route.startswith("/users") else "POST"
        answer = server.api("alice", method, route, content=body)
        assert answer.json()["error"]["field"] == field, (route, body, answer.text)
        assert fix_of(answer, 400, routes).startswith(fix), (route, body, answer.text)
    connection = server.api("alice", "POST", "/connections", json={"name": "X", "type": "http"})
    assert fix_of(connection, 400, routes).endswith("e.g. lp-prod")


def test_a_recipe_path_out_of_projects_is_refused_not_told_to_add_ipynb(server: Served) -> None:
    """A recipe route's path with an absolute recipe path, or one leading out of
    projects/, named without `.ipynb` was told to add it (a path outside projects/ as the
    fix): it is refused as that route refuses the path with `.ipynb`, 400 naming it."""
    for recipe, said in (
        ("%2Fetc%2Fpasswd", "recipe /etc/passwd.ipynb is outside projects/: the REST API"),
        ("..%2F..%2Fsecret.key", "recipe ../../secret.key.ipynb is outside projects"),
        ("p%2F..%2F..%2Fx", "recipe p/../../x.ipynb is outside projects"),
    ):
        answer = server.api("alice", "POST", f"/recipes/{recipe}/run", json={})
        assert answer.status_code == 400, (recipe, answer.text)
        error = answer.json()["error"]
        assert error["field"] == "recipe" and said in error["message"], (recipe, error)
        assert "add .ipynb" not in error["fix"], (recipe, error)
        assert re.search(r"under projects/|inside projects$", error["fix"]), (recipe, error)
    # One under projects/ is still told to add it.
    named = server.api("alice", "POST", "/recipes/p%2Fx/run", json={})
    assert named.status_code == 404 and "add .ipynb" in named.json()["error"]["fix"], named.text


def test_a_notebook_that_is_not_json_is_said_where_and_how_to_mend_it_there(
    ws: Path, server: Served, routes: Any
) -> None:
    """A comma too many was said `Notebook does not appear to be JSON: '{\\n "cells": [...`
    (nbformat's quote of the file's start), with the fix to open it in JupyterLab and save
    it again, which JupyterLab cannot ("Unreadable Notebook"), or to restore an earlier
    version, which named no command or route. It names where JSON's parser stopped, and
    the restore as the CLI, the REST API and the lab each can do it."""
    path = write_recipe(ws, "p/comma")
    good = path.read_text()
    with Studio.open(ws, user="alice") as studio:  # a version of it, as a save stores one
        version = studio.store.snapshot("p/comma.ipynb", good, {}, "alice")
    broken = good.replace('"cells": [', '"cells": [,', 1)
    path.write_text(broken)
    lines = broken.splitlines()
    line = next(n for n, text in enumerate(lines, 1) if '"cells": [,' in text)
    where = f"line {line}, column {lines[line - 1].index('[,') + 2}"
    message = f"recipe p/comma.ipynb is not a valid notebook: its JSON is broken at {where}"
    correct = (
        f"correct it at {where} (JupyterLab: right-click it in the file browser, Open With > "
        "Editor), or restore an earlier version"
    )

    said = CliRunner().invoke(main, ["run", "p/comma", "--workspace", str(ws)])
    refused = server.api("alice", "POST", "/recipes/p/comma.ipynb/run", json={})

    assert said.exit_code == 2 and message in said.output, said.output
    cli_fix = (
        f"{correct} (`lpstudio versions p/comma.ipynb`, then "
        "`lpstudio restore p/comma.ipynb VERSION`)"
    )
    assert f"fix: {cli_fix}" in said.output, said.output
    assert refused.json()["error"]["message"].startswith(message), refused.text
    rest_fix = fix_of(refused, 400, routes)
    at = f"{API}/recipes/p/comma.ipynb"
    assert rest_fix == f'{correct} (GET {at}/versions, then POST {at}/restore {{"version": ...}})'
    lab = (
        f"{correct}: Versions (in the recipe's Settings, or its row in the Recipes sidebar), then "
        "Restore on the version"
    )
    assert lab_text(rest_fix) == lab_text(cli_fix) == lab

    listed = server.api("alice", "GET", "/recipes/p/comma.ipynb/versions").json()["versions"]
    assert [v["id"] for v in listed] == [version]
    restored = server.api(
        "alice", "POST", "/recipes/p/comma.ipynb/restore", json={"version": version}
    )
    assert restored.status_code == 200, restored.text
    assert path.read_text() == good


def test_a_broken_notebook_never_versioned_is_offered_no_restore(
    ws: Path, server: Served, routes: Any
) -> None:
    """A notebook that does not read was offered a restore of an earlier version, by its run
    and in the recipe list, though it had none: its versions route lists nothing to restore.
    Once it has a version, that restore is offered."""
    path = write_recipe(ws, "mine/notjson")
    good = path.read_text()
    path.write_text('{"cells": [ this is not json')
    correct = (
        "correct it at line 1, column 13 (JupyterLab: right-click it in the file browser, "
        "Open With > Editor)"
    )

    def problems() -> tuple[str, str]:
        """The run's fix and the recipe list's problem of mine/notjson."""
        refused = server.api("alice", "POST", "/recipes/mine/notjson.ipynb/run", json={})
        rows = server.api("alice", "GET", "/recipes").json()["recipes"]
        (row,) = [row for row in rows if row["recipe"] == "mine/notjson.ipynb"]
        return fix_of(refused, 400, routes), row["problem"]

    fix, problem = problems()
    assert fix == correct and problem.endswith(f"fix: {correct}"), (fix, problem)
    listed = server.api("alice", "GET", "/recipes/mine/notjson.ipynb/versions")
    assert listed.json()["versions"] == [], listed.text
    with Studio.open(ws, user="alice") as studio:
        studio.store.snapshot("mine/notjson.ipynb", good, {}, "alice")
    fix, problem = problems()
    assert fix.startswith(f"{correct}, or restore an earlier version (GET "), fix
    assert f"{correct}, or restore an earlier version" in problem, problem


def test_each_step_of_a_fix_is_asked_of_who_can_take_it() -> None:
    """A fix joins its steps with '; ': one the role may take (a rerun) stays as it is, one
    it may not (a connection's test) is asked of who may, in the API's terms, the command
    line's and the studio's alike."""
    fix = rerun_fix(7, "check that lp's host is up; then `lpstudio connections test lp`")
    rest = in_rest_terms(fix)

    assert for_role(fix, "operator") == (
        "check that lp's host is up; then ask an analyst or admin to `lpstudio connections test "
        "lp`; then `lpstudio rerun 7`"
    )
    assert for_role(rest, "operator") == (
        "check that lp's host is up; then ask an analyst or admin to POST "
        f"{API}/connections/lp/test; then POST {API}/jobs/7/rerun"
    )
    for said in (for_role(fix, "operator"), for_role(rest, "operator")):
        assert lab_text(said or "") == (
            "check that lp's host is up; then ask an analyst or admin to Test lp in the "
            "Connections panel; then Rerun of job 7 in the Jobs panel"
        )
    assert for_role(fix, "analyst") == fix and for_role(rest, "admin") == rest


def test_a_fix_naming_the_option_names_the_field_over_rest() -> None:
    """A fix in the CLI's terms that says to give a recipe its own call timeout is said
    as the settings route and its `call_timeout` over REST."""
    assert in_rest_terms("`lpstudio settings p/bot.ipynb --call-timeout SECONDS`") == (
        f'PUT {API}/recipes/p/bot.ipynb/settings {{"call_timeout": ...}}'
    )
    assert in_rest_terms("`lpstudio settings p/bot.ipynb --call-timeout 45`") == (
        f'PUT {API}/recipes/p/bot.ipynb/settings {{"call_timeout": 45}}'
    )
    assert in_rest_terms("`lpstudio settings RECIPE --call-timeout 2.5`", "b/x.ipynb") == (
        f'PUT {API}/recipes/b/x.ipynb/settings {{"call_timeout": 2.5}}'
    )


@pytest.mark.parametrize("recipe", ["l'été/relance d'été", "campañas été/rappel été", "campañas/x"])
def test_a_recipe_named_with_quotes_spaces_or_accents_is_one_word_in_every_term(
    recipe: str,
) -> None:
    """A name the shell quotes with a quote in it (`'l'"'"'été...'`) was misread: the REST
    answer kept the CLI's words (`or reset_since when starting`), and the lab's rules took
    no name with a space (`\\S+`) or an accent (`[\\w./-]+`)."""
    name = word(recipe)
    since = (
        f"move it with `lpstudio start {name} --reset-since 2h` (or reset_since when "
        "starting; stop it after if it should not run yet)"
    )
    assert in_rest_terms(since, recipe) == (
        f'move it with POST {API}/recipes/{quote(recipe)}/start {{"reset_since": "2h"}} (stop '
        "it after if it should not run yet)"
    )
    where = f"in the Settings of {recipe}"
    moved = "type where it should poll from under Since and click Start, which polls again"
    for said in (since, in_rest_terms(since, recipe) or ""):
        assert lab_text(said, where).startswith(moved), said
    told = {
        f"{FOLDER}: `lpstudio settings {name} -p invoices_csv PATH`": (
            f"{FOLDER}: set invoices_csv to its path {where}, then Save"
        ),
        f"bind it with `lpstudio settings {name} --connection lp=NAME`": (
            f"choose a connection for lp under Connections {where}, then Save"
        ),
    }
    for fix, lab in told.items():
        assert lab_text(fix, where) == lab
        assert lab_text(in_rest_terms(fix, recipe) or "", where) == lab
    saved = f"or `lpstudio settings {name} -p days 7`"  # a notebook's form shows the CLI's
    assert lab_text(saved, where) == f"or set days to 7 {where}, then Save"
    given = f"then give it its value here with `lpstudio settings {name} -p token VALUE`"
    named = "that recipe" if "'" in recipe else recipe  # the refusal's message names it
    assert lab_text(given, where) == f"then set token in the Settings of {named} and Save"
    assert lab_text(in_rest_terms(given, recipe) or "", where) == (
        "then set token in the Settings of that recipe and Save"  # the URL escapes it
    )
