"""Every route, each role, inside a Jupyter server made by jupyter_server's pytest plugin.

`jp_serverapp` loads the extension as JupyterLab's server would (`jpserver_extensions`),
and `jp_fetch` calls it over HTTP; identities come from `X-Test-User` (see tests/servers.py).
Each role is sent to each route: what its role may not do answers 403 and changes nothing;
what it may do answers as documented and is in the audit log.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from lpstudio.roles import PERMISSIONS
from lpstudio.server.routes import ROUTES, USER
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.test_server import state

ROLES = {"alice": "admin", "ana": "analyst", "otto": "operator"}
USER_OPERATIONS = {
    op.operation_id: (route, op)
    for route in ROUTES
    if route.auth == USER
    for op in route.operations.values()
}


@pytest.fixture
def lp_ws(sandbox_ws: Path) -> Path:
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.store.ensure_user("ana", "analyst")
        studio.store.ensure_user("otto", "operator")
    write_recipe(sandbox_ws, "lab/double", cells=("y = x * 2", "print(y)"))
    return sandbox_ws


@pytest.fixture
def served_workspace(lp_ws: Path) -> Path:
    return lp_ws


class Api:
    def __init__(self, jp_fetch: Any) -> None:
        self.fetch = jp_fetch
        self.seen: set[str] = set()

    async def __call__(
        self,
        user: str,
        op_id: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        **path: str,
    ) -> tuple[int, Any]:
        route, op = USER_OPERATIONS[op_id]
        self.seen.add(op_id)
        url = route.path.format(**path)
        kwargs: dict[str, Any] = {
            "method": op.method,
            "headers": {"X-Test-User": user},
            "raise_error": False,
        }
        if isinstance(body, bytes):  # an upload (a package): sent as it is
            kwargs["body"] = body
        elif op.method in ("POST", "PUT") or body is not None:
            kwargs["body"] = json.dumps(body if body is not None else {})
            kwargs["allow_nonstandard_methods"] = True
        if params:
            kwargs["params"] = params
        answer = await self.fetch("lpstudio", "api", "v1", *url.strip("/").split("/"), **kwargs)
        if answer.headers.get("Content-Type", "").startswith("application/zip"):
            return answer.code, answer.body
        text = answer.body.decode()
        assert "Traceback" not in text
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            return answer.code, json.loads(text)
        return answer.code, text

    async def ok(
        self,
        user: str,
        op_id: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        **path: str,
    ) -> Any:
        status, data = await self(user, op_id, body, params, **path)
        expected = USER_OPERATIONS[op_id][1].status
        assert status == expected, (user, op_id, status, data)
        return data

    async def final_job(self, job_id: int) -> dict[str, Any]:
        """Waits for the job's final state (its row, not a clock)."""
        for _ in range(2400):
            job = await self.ok("otto", "getJob", job_id=str(job_id))
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish")


# Path values that exist in the workspace, for requests refused before they are looked at.
PATHS = {
    "recipe": "lab/double.ipynb",
    "job_id": "1",
    "kind": "ipynb",
    "name": "liveperson",
    "picklist": "skills",
}


def _path_args(route: Any) -> dict[str, str]:
    return {name: value for name, value in PATHS.items() if "{" + name + "}" in route.path}


async def test_each_role_against_each_route(jp_fetch: Any, lp_ws: Path) -> None:
    api = Api(jp_fetch)

    # What each role may not do: 403 naming the role, and nothing changed.
    before = state(lp_ws)
    refused = 0
    for op_id, (route, op) in USER_OPERATIONS.items():
        for user, role in ROLES.items():
            if role in PERMISSIONS[op.permission]:
                continue
            status, data = await api(user, op_id, **_path_args(route))
            assert status == 403, (user, op_id, status, data)
            assert data["error"]["code"] == "Forbidden" and data["error"]["field"] == "role"
            refused += 1
    assert refused == 20  # operators: 10 build and 5 admin operations; analysts: the 5 admin ones
    assert state(lp_ws) == before

    # What every role may read.
    for user in ROLES:
        for op_id in ("listRecipes", "getRecipe", "listRecipeVersions", "listJobs"):
            await api.ok(user, op_id, recipe="lab/double.ipynb")
        for op_id in ("listTemplates", "listConnectors", "listConnections", "getDashboard"):
            await api.ok(user, op_id)
        for op_id in ("getMe", "getScheduler", "listAudit", "getOpenApi"):
            await api.ok(user, op_id)
        await api.ok(user, "getConnection", name="liveperson")
    me = await api.ok("otto", "getMe")
    assert me == {
        "name": "otto",
        "role": "operator",
        "can": {"view": True, "operate": True, "build": False, "admin": False},
        "gallery_popup": False,  # an admin's, until dismissed
    }
    assert (await api.ok("alice", "getMe"))["gallery_popup"] is True
    assert (await api.ok("alice", "dismissGalleryPopup", {}))["gallery_popup"] is False

    # What each may do, by the least role allowed to: analysts build, operators operate.
    recipe = {"recipe": "lab/double.ipynb"}
    await api.ok("ana", "saveRecipeSettings", {"parameters": {"x": 4}}, **recipe)
    job = await api.ok("ana", "runRecipe", {}, **recipe)
    assert (await api.final_job(job["id"]))["status"] == "succeeded"
    job_path = {"job_id": str(job["id"])}
    notebook = await api.ok("otto", "getJobOutput", kind="ipynb", **job_path)
    assert "8" in json.dumps(notebook)  # x=4 doubled
    html = await api.ok("otto", "getJobOutput", kind="html", **job_path)
    assert "<html" in html.lower()
    rerun = await api.ok("otto", "rerunJob", {}, **job_path)
    await api.ok("otto", "cancelJob", {}, job_id=str(rerun["id"]))
    assert (await api.final_job(rerun["id"]))["status"] in ("cancelled", "succeeded")
    versions = (await api.ok("otto", "listRecipeVersions", **recipe))["versions"]
    await api.ok("ana", "restoreRecipe", {"version": versions[-1]["id"]}, **recipe)
    assert (await api.ok("otto", "startRecipe", {}, **recipe))["state"] == "started"
    assert (await api.ok("otto", "stopRecipe", {}, **recipe))["state"] == "stopped"
    tried = await api.ok("ana", "tryTemplate", {"template": "cb_optin", "project": "bots"})
    assert (lp_ws / "projects" / tried["recipe"]).exists()
    tested = await api.ok("ana", "testRecipe", {"event": {"x": 5}}, **recipe)
    assert tested["trigger"] == "test"
    assert (await api.final_job(tested["id"]))["status"] == "succeeded"
    cart = await api.ok("ana", "tryTemplate", {"template": "cart_abandonment", "project": "shop"})
    polled = await api.ok("otto", "pollRecipe", {}, recipe=cart["recipe"])
    assert {job["trigger"] for job in polled["jobs"]} <= {"poll"}
    status, error = await api("otto", "pollRecipe", {}, **recipe)  # no poll trigger: refused
    assert status == 400 and error["error"]["field"].startswith("metadata.lpstudio.trigger")

    optins = {"name": "optins", "type": "csv_file", "fields": {"path": "data/optins.csv"}}
    await api.ok("ana", "createConnection", optins)
    await api.ok("ana", "updateConnection", {"fields": {"path": "data/b.csv"}}, name="optins")
    assert (await api.ok("otto", "getConnection", name="optins"))["fields"]["path"] == "data/b.csv"
    assert (await api.ok("ana", "testConnection", {}, name="liveperson"))["status"] == "connected"
    skills = await api.ok("otto", "getPicklist", name="liveperson", picklist="skills")
    assert skills["options"]
    await api.ok("ana", "deleteConnection", name="optins")

    package = await api.ok("otto", "exportPackage", params={"project": "lab"})
    assert package[:2] == b"PK"  # a zip
    imported = await api.ok("ana", "importPackage", package, params={"into": "lab-copy"})
    assert [r["recipe"] for r in imported["recipes"]] == ["lab-copy/double.ipynb"]

    await api.ok("alice", "listUsers")
    await api.ok("alice", "setUserRole", {"role": "analyst"}, name="otto")
    await api.ok("alice", "createApiClient", {"name": "bot", "endpoints": ["*"]})
    await api.ok("alice", "listApiClients")
    assert (await api.ok("alice", "revokeApiClient", name="bot"))["revoked"]

    assert api.seen == set(USER_OPERATIONS), set(USER_OPERATIONS) - api.seen
    entries = (await api.ok("alice", "listAudit"))["entries"]
    done = {(e["user"], e["action"]) for e in entries}
    assert {
        ("ana", "settings"),
        ("ana", "run"),
        ("ana", "test"),
        ("otto", "poll"),
        ("otto", "rerun"),
        ("otto", "cancel"),
        ("ana", "restore"),
        ("otto", "start"),
        ("otto", "stop"),
        ("ana", "try_template"),
        ("otto", "export"),
        ("ana", "import_recipe"),
        ("ana", "create_connection"),
        ("ana", "update_connection"),
        ("ana", "test_connection"),
        ("ana", "delete_connection"),
        ("alice", "set_role"),
        ("alice", "create_api_client"),
        ("alice", "revoke_api_client"),
        ("alice", "dismiss_gallery_popup"),
    } <= done
