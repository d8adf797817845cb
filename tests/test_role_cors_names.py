"""Who gets what: CORS only for the origins Jupyter allows, whatever the credential; roles
only for people; connection names and CSV paths that would show or open what is the
workspace's own (a secret, its key, its store)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import InputError, quoted
from lpstudio.studio import Studio
from tests.conftest import job_rows, write_recipe
from tests.servers import API, JUPYTER_TOKEN, serving

EVIL = "https://evil.example"
SECRET = "whsec-topsecret-123"


def test_a_token_opens_no_cors_door_to_an_origin_jupyter_does_not_allow(ws: Path) -> None:
    """Jupyter lets any origin read a token-authenticated answer (it echoes the Origin, or
    sends an empty Access-Control-Allow-Origin without one): a page of another origin
    holding a token could read jobs and start runs. Only the origins Jupyter allows get
    CORS (`test_server`'s allowed origin); another is refused with 403 before anything runs;
    a script sends no Origin, and gets no CORS header."""
    write_recipe(ws, "lab/double")
    with serving(ws, name="cors-token") as served:
        jobs = f"{served.url}{API}/jobs"
        run = f"{served.url}{API}/recipes/lab/double.ipynb/run"
        header = {"Authorization": f"token {JUPYTER_TOKEN}"}
        query = {"token": JUPYTER_TOKEN}
        before = job_rows(ws)
        for credential in ({"headers": header}, {"params": query}):
            got = httpx.get(jobs, timeout=30, **_with(credential, Origin=EVIL))
            assert got.status_code == 403, got.text
            assert got.json()["error"]["field"] == "Origin", got.text
            assert "--ServerApp.allow_origin" in got.json()["error"]["fix"]
            assert "Access-Control-Allow-Origin" not in got.headers, got.headers
            ran = httpx.post(
                run,
                content=b"{}",
                timeout=30,
                **_with(credential, Origin=EVIL, **{"Content-Type": "text/plain"}),
            )
            assert ran.status_code == 403, ran.text
            assert "Access-Control-Allow-Origin" not in ran.headers, ran.headers
            plain = httpx.get(jobs, timeout=30, **credential)  # a script: no Origin
            assert plain.status_code == 200, plain.text
            assert "Access-Control-Allow-Origin" not in plain.headers, plain.headers
        assert job_rows(ws) == before  # nothing ran
        same = httpx.get(jobs, timeout=30, **_with({"headers": header}, Origin=served.url))
        assert same.status_code == 200, same.text  # JupyterLab's own page


def _with(credential: dict[str, dict[str, str]], **headers: str) -> dict[str, dict[str, str]]:
    """`credential` (headers or query) with `headers` added."""
    return {**credential, "headers": {**credential.get("headers", {}), **headers}}


def test_api_clients_and_lpstudio_s_processes_get_no_role(studio: Studio) -> None:
    """`api:NAME` and `lpstudio:PROCESS` are no people: an admin giving one a role would
    leave an admin nobody can sign in as, hidden from the user list."""
    Studio.open(studio.workspace.root, user="api:bot2").close()  # a client's first call
    for name in ("api:bot2", "lpstudio:server", "api:newcomer"):
        with pytest.raises(InputError) as refused:
            studio.set_role(name, "admin")
        assert refused.value.field == "name"
        assert "API client" in refused.value.message, refused.value.message
    with pytest.raises(InputError) as last:
        studio.set_role("alice", "operator")
    assert "last admin" in last.value.message
    assert studio.role == "admin"


def test_the_last_admin_rule_counts_people_only(ws: Path) -> None:
    """A workspace whose newcomers are admins makes an API client's user admin on its first
    call: it is no admin a person can act as, so the last person who is one keeps it."""
    config = ws / "lpstudio.toml"
    config.write_text(
        config.read_text().replace('default_role = "analyst"', 'default_role = "admin"')
    )
    Studio.open(ws, user="api:bot2").close()
    Studio.open(ws, user="lpstudio:server").close()
    with Studio.open(ws, user="alice") as studio:
        with pytest.raises(InputError) as last:
            studio.set_role("alice", "operator")
        assert last.value.field == "role" and "last admin" in last.value.message
        studio.set_role("ada", "admin")  # a person: then alice may step down
        assert studio.set_role("alice", "operator")["role"] == "operator"


def test_a_connection_named_after_a_secret_is_refused_unquoted(studio: Studio) -> None:
    """A connection's name is shown in clear (lists, the audit log, errors): one holding a
    secret of the workspace is refused as a plain field holding one is, naming `name`."""
    studio.connections.add("hook", "http", {"token": SECRET}, studio.user)
    for name, values in (
        (SECRET, {}),
        (f"prod-{SECRET}", {}),
        ("lps-own-token-42", {"token": "lps-own-token-42"}),  # its own secret
    ):
        with pytest.raises(InputError) as refused:
            studio.connections.add(name, "http", values, studio.user)
        assert refused.value.field == "name"
        shown = f"{refused.value.message} {refused.value.fix}"
        assert SECRET not in shown and "lps-own-token-42" not in shown, shown
    listed = [info.name for info in studio.connections.list()]
    assert listed == ["hook"]
    assert SECRET not in str(studio.audit_entries())


def test_names_people_type_holding_a_secret_are_refused_unquoted(studio: Studio) -> None:
    """A project folder, a recipe's name, a user and an API client are shown in clear (lists,
    answers, the audit log), as a connection's name is: each was taken holding a secret of
    the workspace, and every listing of it showed the secret."""
    from lpstudio.packages import export_project, import_project

    studio.connections.add("hook", "http", {"token": SECRET}, studio.user)
    package = io.BytesIO()
    studio.try_template("new_lead", "leads")
    export_project(studio, "leads", package)
    refusals: list[tuple[str, Callable[[], Any]]] = [
        ("project", lambda: studio.try_template("new_lead", f"shop/{SECRET}")),
        ("name", lambda: studio.try_template("new_lead", "shop", f"lead-{SECRET}")),
        ("name", lambda: studio.set_role(SECRET, "analyst")),
        ("name", lambda: studio.api_clients.create(f"cb-{SECRET}", ["*"])),
        ("into", lambda: import_project(studio, io.BytesIO(package.getvalue()), into=SECRET)),
    ]
    for field, refused_call in refusals:
        with pytest.raises(InputError) as refused:
            refused_call()
        assert refused.value.field == field, refused.value
        shown = f"{refused.value.message} {refused.value.fix}"
        assert SECRET not in shown and "holds a secret" in shown, shown
    # Nor may anyone act under such a name (LPSTUDIO_USER, an identity provider's login).
    with pytest.raises(InputError) as acting:
        Studio.open(studio.workspace.root, user=f"x{SECRET}")
    assert acting.value.field == "user" and SECRET not in str(acting.value)
    # A package's own folder and paths (imported without --into) are names too.
    manifest = json.loads(zipfile.ZipFile(package).read("lpstudio-package.json"))
    for field, change in (
        ("folder", lambda m: m.update(folder=f"x-{SECRET}")),
        (
            "recipes",
            lambda m: m.update(recipes={f"{SECRET}.ipynb": m["recipes"]["new_lead.ipynb"]}),
        ),
    ):
        changed = json.loads(json.dumps(manifest))
        change(changed)
        with pytest.raises(InputError) as imported:
            import_project(studio, io.BytesIO(_repacked(package, changed)))
        assert imported.value.field == field and SECRET not in str(imported.value), imported.value
    assert not (studio.workspace.projects / "shop").exists()
    assert [user["name"] for user in studio.users()] == ["alice"]
    assert studio.api_clients.list() == []
    assert SECRET not in str(studio.audit_entries())


def _repacked(package: io.BytesIO, manifest: dict[str, Any]) -> bytes:
    """The package with `manifest`, its recipes under the names the manifest gives them."""
    with zipfile.ZipFile(package) as source:
        old = json.loads(source.read("lpstudio-package.json"))
        notebook = source.read("project/" + next(iter(old["recipes"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        zipped.writestr("lpstudio-package.json", json.dumps(manifest))
        for name in manifest["recipes"]:
            zipped.writestr(f"project/{name}", notebook)
    return out.getvalue()


OWN_FILES = (
    "secret.key",
    "./secret.key",
    ".//secret.key",
    "lpstudio.db",
    "lpstudio.db-wal",
    "lpstudio.toml",
    ".runtime/api-rates.sqlite",
    "history/x.csv",
)


def test_a_csv_path_naming_the_workspace_s_own_file_is_refused_when_saved(
    studio: Studio, cli: Callable[..., Result]
) -> None:
    """Not only at its first test or job: saved, the connection looked ready."""
    for path in OWN_FILES:
        with pytest.raises(InputError) as refused:
            studio.connections.add("own", "csv_file", {"path": path}, studio.user)
        assert refused.value.field == "path", path
        assert "lpstudio" in (refused.value.fix or ""), refused.value.fix
    studio.connections.add("data", "csv_file", {"path": "data/secret.key.csv"}, studio.user)
    with pytest.raises(InputError) as updated:
        studio.connections.update("data", {"path": "lpstudio.db"})
    assert updated.value.field == "path"
    added = cli("connections", "add", "own", "--type", "csv_file", "--field", "path=secret.key")
    assert added.exit_code != 0 and "path" in added.output, added.output
    assert [info.name for info in studio.connections.list()] == ["data"]
    assert studio.connections.get("data").fields["path"] == "data/secret.key.csv"


def test_nobody_acts_or_founds_a_workspace_as_a_client_or_a_process(
    tmp_path: Path, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`api:NAME` and `lpstudio:PROCESS` name no person: a workspace founded with one as
    admin had no person who was admin (and `users list` showed nobody), and a command run as
    one acted with a client's role in the audit log. Both are refused, nothing written."""
    founded = tmp_path / "brand"
    init = CliRunner().invoke(main, ["init", str(founded), "--accept-terms", "--admin", "api:x"])
    assert init.exit_code == 2, init.output
    assert "admin" in init.output and "API client" in init.output, init.output
    assert not (founded / "lpstudio.db").exists()
    monkeypatch.setenv("LPSTUDIO_USER", "lpstudio:scheduler")
    init = CliRunner().invoke(main, ["init", str(founded), "--accept-terms"])
    assert init.exit_code == 2 and "LPSTUDIO_USER" in init.output, init.output
    assert not (founded / "lpstudio.db").exists()
    monkeypatch.setenv("LPSTUDIO_USER", "api:bot2")
    listed = CliRunner().invoke(main, ["users", "list", "--workspace", str(ws)])
    assert listed.exit_code == 2 and "LPSTUDIO_USER" in listed.output, listed.output
    with Studio.open(ws, user="api:bot2") as client:  # how the server acts for a client
        assert client.user == "api:bot2"


def test_a_workspace_is_not_founded_with_an_admin_no_person_could_log_in_as(
    tmp_path: Path,
) -> None:
    """`init --admin ''` made the OS user admin unsaid, where `users role ''` is refused as
    an invalid user name: an empty, spaced or over-long admin is refused naming --admin,
    before the workspace's folder is made."""
    founded = tmp_path / "brand"
    for admin in ("", "ada lovelace", "a" * 129):
        init = CliRunner().invoke(
            main, ["init", str(founded), "--accept-terms", "--admin", admin, "--json"]
        )
        assert init.exit_code == 2, init.output
        error = json.loads(init.stdout)["error"]
        assert error["field"] == "--admin", error
        assert error["message"] == f"invalid user name {quoted(admin)}", error
        assert "login name" in error["fix"], error
        assert not founded.exists()


def test_a_running_server_gives_newcomers_the_default_role_the_file_says_now(ws: Path) -> None:
    """The server read `[users] default_role` once, at its start: set to operator since, its
    newcomers still came in as analysts (free to build recipes) while the CLI's came in as
    operators."""
    config = ws / "lpstudio.toml"
    with serving(ws, name="default-role") as served:
        assert served.api("first1", "GET", "/me").json()["role"] == "analyst"
        config.write_text(
            config.read_text().replace('default_role = "analyst"', 'default_role = "operator"')
        )
        assert served.api("first2", "GET", "/me").json()["role"] == "operator"
        tried = served.api(
            "first2", "POST", "/gallery/try", json={"template": "new_lead", "project": "x"}
        )
        assert tried.status_code == 403, tried.text
        assert served.api("first1", "GET", "/me").json()["role"] == "analyst"  # kept

        config.write_text(
            config.read_text().replace('default_role = "operator"', 'default_role = "boss"')
        )
        refused = served.api("first3", "GET", "/me")  # no role to give: named
        said = refused.json()["error"]
        assert said["field"] == "users.default_role", said
        assert "set it to one of admin, analyst, operator" in said["fix"], said
        config.write_text(config.read_text().replace('"boss"', '"analyst"'))
    with Studio.open(ws, user="alice") as studio:
        assert "first3" not in {user["name"] for user in studio.users()}
