"""Projects exported as a package and imported into another workspace (Workato's "export/
import a project as a package"): recipes, their data files and settings travel, secrets never
do; connections a workspace lacks arrive as placeholders that nothing uses until their
secrets are given. A package that is wrong in any way is refused whole, writing nothing.

Two real workspaces on disk, the gallery's templates, a sandbox behind the connections, and
the CLI in-process (the jobs run in real kernels through `Studio.run`).
"""

from __future__ import annotations

import base64
import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from lpstudio import packages
from lpstudio.cli import main
from lpstudio.errors import InputError
from lpstudio.models import Connection, Job, RecipeSettings
from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.scheduler import count_trigger_error
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets.dashboard import day_range
from lpstudio.workspace import current_user

from .conftest import write_recipe

HOOK_TOKEN = "hook-token-9f3a7c"  # the http connection's shared secret
NOTIFY_HOOK = "https://hooks.example.com/services/T0/B0/notify-token-55d1"
MANIFEST = "lpstudio-package.json"


def invoke(ws: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--workspace", str(ws)], env=env)


def answer(result: Result) -> Any:
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def refused(result: Result) -> dict[str, Any]:
    """The error of a command that must have been refused as bad input."""
    assert result.exit_code == 2, result.output
    return answer(result)["error"]


def state(ws: Path) -> dict[str, Any]:
    """What an import could change: every file of the workspace but the store (which a
    Studio opening touches), and the settings and connections tables."""
    files = {
        p.relative_to(ws).as_posix(): p.read_bytes()
        for p in sorted(ws.rglob("*"))
        if p.is_file() and not p.name.startswith("lpstudio.db")
    }
    folders = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_dir())
    with Studio.open(ws, user="alice") as studio, studio.store.read() as s:
        settings = [(r.recipe, r.settings) for r in s.scalars(select(RecipeSettings))]
        connections = [
            (r.name, r.type, r.fields, r.secrets, r.status) for r in s.scalars(select(Connection))
        ]
    return {"files": files, "folders": folders, "settings": settings, "connections": connections}


# -- the round trip --------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path, sandbox: Sandbox) -> Path:
    """A workspace on the sandbox with a project `shop` (a sub-folder too) of the gallery's
    cart, new lead and payment reminder templates, their settings saved, the cart started."""
    root = tmp_path / "source"
    with Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url) as studio:
        studio.connections.add("http", "http", {"token": HOOK_TOKEN}, "alice")
        studio.try_template("cart_abandonment", "shop", "cart")
        studio.try_template("payment_reminder", "shop")
        studio.try_template("new_lead", "shop/leads")
        studio.save_settings(
            "shop/cart",
            {"skill": "sales-eu", "campaign_name": "Cart recovery EU"},
            connections={"liveperson": "liveperson", "shopify": "shopify"},
        )
        studio.save_settings(
            "shop/leads/new_lead",
            {"campaign_name": "Leads EU"},
            connections={"http": "http"},  # liveperson by default: the one of its type
            notify={"email": "ops@brand.example", "webhook": NOTIFY_HOOK},
        )
        studio.start("shop/cart")
    return root


@pytest.fixture
def target(tmp_path: Path) -> Path:
    root = tmp_path / "target"
    Studio.init(root, accept_terms=True, admin="bob").close()
    return root


def test_a_project_moves_to_another_workspace_and_runs_once_authorised(
    source: Path, target: Path, tmp_path: Path
) -> None:
    ran = source / "projects/shop/cart.ipynb"  # as a run by hand in JupyterLab left it
    notebook = nbformat.read(ran, 4)
    code = next(c for c in notebook.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Ava +14155550142\n")]
    code.execution_count = 3
    notebook.metadata["widgets"] = {"state": {"preview": "Hi Ava, +14155550142"}}
    nbformat.write(notebook, ran)
    package = tmp_path / "shop.zip"
    exported = answer(invoke(source, "export", "shop", "-o", str(package), "--json"))

    assert exported["package"] == str(package)
    assert sorted(r["recipe"] for r in exported["recipes"]) == [
        "cart.ipynb",
        "leads/new_lead.ipynb",
        "payment_reminder.ipynb",
    ]
    assert exported["files"] == ["invoices.csv"]
    assert {c["name"]: c["secrets"] for c in exported["connections"]} == {
        "http": ["token"],
        "liveperson": ["client_secret"],
        "shopify": ["access_token"],
    }
    with zipfile.ZipFile(package) as zipped:
        manifest = json.loads(zipped.read(MANIFEST))
    assert manifest["format"] == 1 and manifest["exported_by"] == current_user()
    cart = manifest["recipes"]["cart.ipynb"]["settings"]
    assert cart["parameters"]["skill"] == "sales-eu"
    assert cart["connections"] == {"liveperson": "liveperson", "shopify": "shopify"}
    assert "state" not in cart and "started_at" not in cart  # imports arrive stopped
    lead = manifest["recipes"]["leads/new_lead.ipynb"]["settings"]
    assert lead["connections"] == {"http": "http", "liveperson": "liveperson"}
    assert lead["notify"] == {"email": "ops@brand.example"}  # a webhook URL holds a token

    imported = answer(invoke(target, "import", str(package), "--json"))

    assert imported["into"] == "shop"
    assert sorted(r["recipe"] for r in imported["recipes"]) == [
        "shop/cart.ipynb",
        "shop/leads/new_lead.ipynb",
        "shop/payment_reminder.ipynb",
    ]
    created = {c["name"]: c for c in imported["connections"]}
    assert {name: c["status"] for name, c in created.items()} == dict.fromkeys(
        ("http", "liveperson", "shopify"), "placeholder"
    )
    assert (
        "lpstudio connections update liveperson --secret client_secret"
        in (created["liveperson"]["fix"])
    )
    text = invoke(target, "import", str(package), "--replace")
    assert text.exit_code == 0, text.output
    assert "placeholder" in text.stdout and "--secret access_token" in text.stdout
    assert (target / "projects/shop/invoices.csv").read_bytes() == (
        source / "projects/shop/invoices.csv"
    ).read_bytes()
    # The notebook as it was, less its cells' outputs (a run by hand shows customers' data).
    sent, came = (nbformat.read(root / "projects/shop/cart.ipynb", 4) for root in (source, target))
    assert [c.source for c in came.cells] == [c.source for c in sent.cells]
    assert came.metadata == {k: v for k, v in sent.metadata.items() if k != "widgets"}
    assert any(c.get("outputs") for c in sent.cells)
    assert not any(c.get("outputs") or c.get("execution_count") for c in came.cells)

    with Studio.open(target, user="bob") as studio:
        assert saved_settings(studio.store, "shop/cart.ipynb")["parameters"]["skill"] == "sales-eu"
        assert {r["recipe"]: r["state"] for r in studio.recipes()} == dict.fromkeys(
            ("shop/cart.ipynb", "shop/leads/new_lead.ipynb", "shop/payment_reminder.ipynb"),
            "stopped",
        )
        liveperson = studio.connections.get("liveperson")
        assert liveperson.status == "placeholder" and liveperson.secrets == []
        assert studio.dashboard(*day_range(1))["connections"]["placeholder"] == 3
        assert liveperson.fields["account_id"] == SandboxSettings().account_id
        actions = [e["action"] for e in studio.audit_entries()]
        assert actions.count("import_recipe") == 6 and "create_connection" in actions

        # A placeholder is refused by a run, a start and its test, naming the fix; no job.
        # The cart's two are named together, each with its fix (one a try, before).
        for attempt in (
            lambda: studio.run("shop/cart", test=True),
            lambda: studio.start("shop/cart"),
        ):
            with pytest.raises(InputError) as caught:
                attempt()
            assert caught.value.field == "connections.liveperson"
            assert caught.value.message == (
                "connections 'liveperson' (slot 'liveperson') and 'shopify' (slot 'shopify') "
                "are placeholders: they were imported without their secrets"
            )
            for name, secret in (("liveperson", "client_secret"), ("shopify", "access_token")):
                command = f"lpstudio connections update {name} --secret {secret}"
                assert command in (caught.value.fix or ""), caught.value.fix
        assert studio.jobs() == []
        # Its settings may still be changed before it is authorised: nothing uses it then.
        studio.save_settings("shop/cart", {"skill": "sales-fr"})
        assert saved_settings(studio.store, "shop/cart.ipynb")["parameters"]["skill"] == "sales-fr"
        studio.save_settings("shop/cart", {"skill": "sales-eu"})
        # And so may its plain fields (they were refused for want of the secret held back).
        edited = studio.connections.update("liveperson", {"requests_per_second": 5})
        assert edited.status == "placeholder" and edited.fields["requests_per_second"] == 5
        assert "--secret client_secret" in (edited.status_message or "")
    tested = refused(invoke(target, "connections", "test", "shopify", "--json"))
    assert "lpstudio connections update shopify --secret access_token" in tested["fix"]

    settings = SandboxSettings()
    for name, field, value in (
        ("liveperson", "client_secret", settings.client_secret),
        ("shopify", "access_token", settings.shopify_token),
        ("http", "token", HOOK_TOKEN),
    ):
        env = {f"LPSTUDIO_SECRET_{field.upper()}": value}
        given = invoke(target, "connections", "update", name, "--secret", field, env=env)
        assert given.exit_code == 0, given.output

    with Studio.open(target, user="bob") as studio:
        assert studio.connections.get("liveperson").status == "untested"
        cart = studio.run("shop/cart", test=True)
        lead = studio.run("shop/leads/new_lead", test=True)
    assert cart.status == lead.status == "succeeded", (cart.error, lead.error)
    assert cart.parameters["skill"] == "sales-eu" and lead.result["dry_run"] is True
    assert lead.parameters["campaign_name"] == "Leads EU"


def test_a_package_holds_no_secret(source: Path, tmp_path: Path) -> None:
    package = tmp_path / "shop.zip"
    exported = invoke(source, "export", "shop", "-o", str(package))
    assert exported.exit_code == 0, exported.output
    assert "  connection  http (http), without its secrets (token)\n" in exported.output

    settings = SandboxSettings()
    secrets = [settings.client_secret, settings.shopify_token, HOOK_TOKEN, "notify-token-55d1"]
    raw = package.read_bytes()
    with zipfile.ZipFile(package) as zipped:
        members = [zipped.read(info) for info in zipped.infolist()]
        names = zipped.namelist()
    key = (source / "secret.key").read_bytes().strip()
    for blob in (raw, *members):
        for secret in secrets:
            assert secret.encode() not in blob
        assert key not in blob and b"gAAAAA" not in blob  # nor the key, nor a Fernet token
    assert sorted(names) == [
        MANIFEST,
        "project/cart.ipynb",
        "project/invoices.csv",
        "project/leads/new_lead.ipynb",
        "project/payment_reminder.ipynb",
    ]


def test_an_export_refuses_a_notebook_that_holds_a_secret(source: Path, tmp_path: Path) -> None:
    path = source / "projects/shop/cart.ipynb"
    path.write_text(path.read_text().replace("Cart recovery", SandboxSettings().client_secret))

    error = refused(invoke(source, "export", "shop", "-o", str(tmp_path / "x.zip"), "--json"))

    assert error["field"] == "recipes.cart.ipynb" and "secret" in error["message"]
    assert "cell 3" in error["message"], error  # the parameters cell: where to remove it
    assert SandboxSettings().client_secret not in json.dumps(error)
    assert not (tmp_path / "x.zip").exists()


#: A secret as code may hold it without writing it out: each form output notebooks mask.
ENCODED = {
    "base64": lambda secret: base64.b64encode(secret.encode()).decode(),
    "hex": lambda secret: secret.encode().hex(),
    "escaped": lambda secret: "".join(f"\\u{ord(c):04x}" if c == "-" else c for c in secret),
    "x-escaped": lambda secret: "".join(f"\\x{ord(c):02x}" for c in secret),
    "octal": lambda secret: "".join(f"\\{ord(c):03o}" if c.isalpha() else c for c in secret),
}


@pytest.mark.parametrize("form", ENCODED.values(), ids=ENCODED.keys())
def test_an_export_refuses_a_secret_encoded_or_escaped(
    source: Path, tmp_path: Path, form: Callable[[str], str]
) -> None:
    """The secret base64- or hex-encoded, or written with a Python or JSON escape
    (`'sandbox\\u002dsecret'`, `'\\x73...'`, `'\\163...'`), was exported: only the secret
    as it is was refused."""
    secret = SandboxSettings().client_secret
    path = source / "projects/shop/cart.ipynb"
    notebook = nbformat.read(path, 4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"key = '{form(secret)}'"))
    nbformat.write(notebook, path)

    error = refused(invoke(source, "export", "shop", "-o", str(tmp_path / "x.zip"), "--json"))

    assert error["field"] == "recipes.cart.ipynb", error
    assert f"cell {len(notebook.cells)}" in error["message"], error
    assert form(secret) not in json.dumps(error)
    assert not (tmp_path / "x.zip").exists()

    notebook.cells.pop()
    nbformat.write(notebook, path)
    data = source / "projects/shop/invoices.csv"
    data.write_text(data.read_text() + f'"{form(HOOK_TOKEN)}"\n')

    error = refused(invoke(source, "export", "shop", "-o", str(tmp_path / "x.zip"), "--json"))

    assert error["field"] == "files.invoices.csv", error
    assert not (tmp_path / "x.zip").exists()


# -- refusals that write nothing -------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A package of project `p`: recipe `a` (a data file, a parameter saved, an http slot
    bound to a connection with a password) and `sub/b`."""
    root = tmp_path / "small"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.connections.add("api", "http", {"password": "pw-7d1e9b", "username": "u"}, "alice")
        meta = {"title": "a", "files": ["rows.csv"], "connections": {"web": {"type": "http"}}}
        write_recipe(root, "p/a", "x: int = 1  # a number", metadata=meta)
        (root / "projects/p/rows.csv").write_text("id\n1\n")
        write_recipe(root, "p/sub/b", "text: str = 'hi'")
        (root / "projects/p/odd.ipynb").mkdir()  # a folder, no recipe: export crashed on it
        studio.save_settings("p/a", {"x": 5}, connections={"web": "api"})
    package = tmp_path / "p.zip"
    assert invoke(root, "export", "p", "-o", str(package)).exit_code == 0
    return package


def rewritten(package: Path, edit: Callable[[dict[str, Any], dict[str, bytes]], None]) -> Path:
    """A copy of `package` with its manifest and members changed by `edit`."""
    with zipfile.ZipFile(package) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    manifest = json.loads(members.pop(MANIFEST))
    edit(manifest, members)
    copy = package.with_name(f"edited-{package.name}")
    with zipfile.ZipFile(copy, "w") as zipped:
        zipped.writestr(MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            zipped.writestr(name, data)
    return copy


def with_member(package: Path, info: zipfile.ZipInfo, data: bytes) -> Path:
    copy = package.with_name(f"slip-{package.name}")
    copy.write_bytes(package.read_bytes())
    with zipfile.ZipFile(copy, "a") as zipped:
        zipped.writestr(info, data)
    return copy


def symlink_member(name: str, points_to: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, points_to.encode()


def test_the_small_package_imports(small: Path, target: Path) -> None:
    """The package the refusals below spoil imports as it is."""
    with zipfile.ZipFile(small) as zipped:
        assert not [name for name in zipped.namelist() if "odd" in name]
    imported = answer(invoke(target, "import", str(small), "--into", "q/r", "--json"))

    assert sorted(r["recipe"] for r in imported["recipes"]) == ["q/r/a.ipynb", "q/r/sub/b.ipynb"]
    assert (target / "projects/q/r/rows.csv").read_text() == "id\n1\n"
    assert imported["connections"] == [
        {
            "name": "api",
            "type": "http",
            "status": "placeholder",
            "created": True,
            "fix": "authorise it with `lpstudio connections update api --secret password` "
            "(each secret is read from $LPSTUDIO_SECRET_PASSWORD, a hidden prompt or standard "
            "input)",
        }
    ]
    assert not [p for p in target.iterdir() if p.name.startswith(".")]  # no staging left
    with Studio.open(target, user="bob") as studio:
        assert saved_settings(studio.store, "q/r/a.ipynb") == {
            "parameters": {"x": 5},
            "connections": {"web": "api"},
        }


def _slip(name: str) -> Callable[[Path], Path]:
    return lambda package: with_member(package, zipfile.ZipInfo(name), b"owned")


def _symlink(package: Path) -> Path:
    return with_member(package, *symlink_member("project/link.csv", "/etc/passwd"))


def _a_name_twice(package: Path) -> Path:
    """The manifest with its first name given twice (the last one won, unseen)."""
    with zipfile.ZipFile(package) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}
    text = members.pop(MANIFEST).decode()
    first = next(iter(json.loads(text)))
    copy = package.with_name(f"twice-{package.name}")
    with zipfile.ZipFile(copy, "w") as zipped:
        zipped.writestr(MANIFEST, "{" + json.dumps(first) + ": null, " + text.lstrip()[1:])
        for name, data in members.items():
            zipped.writestr(name, data)
    return copy


def _unknown_type(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["connections"]["api"]["type"] = "no_such_connector"


def _unknown_parameter(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["recipes"]["a.ipynb"]["settings"]["parameters"]["skill"] = "sales"


def _secret_field(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["connections"]["api"]["fields"]["password"] = "pw"


def _format(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["format"] = 99


def _shape(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["recipes"]["a.ipynb"]["settings"]["connections"] = ["api"]


def _dotdot_recipe(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["recipes"]["../escape.ipynb"] = manifest["recipes"].pop("sub/b.ipynb")
    members["project/../escape.ipynb"] = members.pop("project/sub/b.ipynb")


def _missing_member(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    del members["project/rows.csv"]


def _long_call_timeout(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["recipes"]["a.ipynb"]["settings"]["call_timeout"] = 1e9


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_slip("project/../../evil.txt"), "package"),
        (_slip("/tmp/evil.txt"), "package"),
        (_slip("project/sub/../../../evil.txt"), "package"),
        (_symlink, "package"),
        (lambda p: rewritten(p, _dotdot_recipe), "package"),
        (lambda p: rewritten(p, _missing_member), "package"),
        (lambda p: rewritten(p, _format), "format"),
        (lambda p: rewritten(p, _shape), "recipes.a.ipynb.settings.connections"),
        (lambda p: rewritten(p, _unknown_type), "connections.api.type"),
        (lambda p: rewritten(p, _secret_field), "connections.api.fields.password"),
        (lambda p: rewritten(p, _unknown_parameter), "recipes.p/a.settings.parameters.skill"),
        (lambda p: rewritten(p, _long_call_timeout), "recipes.a.ipynb.settings.call_timeout"),
        (_a_name_twice, MANIFEST),
    ],
    ids=[
        "dotdot",
        "absolute",
        "nested-dotdot",
        "symlink",
        "recipe-outside",
        "missing-file",
        "format",
        "shape",
        "connector",
        "secret-field",
        "parameter",
        "call-timeout",
        "name-twice",
    ],
)
def test_a_bad_package_is_refused_whole(
    small: Path, target: Path, spoil: Callable[[Path], Path], field: str
) -> None:
    bad = spoil(small)
    before = state(target)

    error = refused(invoke(target, "import", str(bad), "--json"))

    assert error["field"] == field, error
    assert error["fix"]
    assert state(target) == before
    assert not (target.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_package_that_unpacks_to_more_than_a_project_holds_is_refused(
    small: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb: a few kB that inflate to gigabytes were read whole into memory."""
    info = zipfile.ZipInfo("project/zeros.csv")
    info.compress_type = zipfile.ZIP_DEFLATED
    bomb = with_member(small, info, bytes(10_000_000))
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(packages, "MAX_UNPACKED", 5_000_000)
    before = state(target)

    error = refused(invoke(target, "import", str(bomb), "--json"))

    assert error["field"] == "package" and "more than 5 MB" in error["message"], error
    assert state(target) == before


@pytest.mark.parametrize("content", [b"not a zip at all", b""], ids=["garbage", "empty"])
def test_a_file_that_is_no_package_is_refused(target: Path, tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(content)
    before = state(target)

    error = refused(invoke(target, "import", str(bad), "--json"))

    assert error["field"] == "package" and "lpstudio export" in error["fix"]
    assert state(target) == before


def test_a_zip_of_other_files_is_said_to_be_no_package(target: Path, tmp_path: Path) -> None:
    """Any zip was refused for its first member, as a package altered to leave its folder."""
    other = tmp_path / "x.zip"
    with zipfile.ZipFile(other, "w") as zipped:
        zipped.writestr("hello.txt", "hi")

    error = refused(invoke(target, "import", str(other), "--json"))

    assert error["message"] == f"the zip holds no {MANIFEST}: it is no lpstudio package", error
    assert error["fix"] == "give a .zip written by `lpstudio export`"


def test_a_broken_notebook_in_a_package_is_mended_where_it_was_exported(
    small: Path, target: Path
) -> None:
    """The fix was the file browser's (Open With > Editor) for a file never written here."""

    def broken(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        members["project/sub/b.ipynb"] = b'{"cells": [ broken'

    error = refused(invoke(target, "import", str(rewritten(small, broken)), "--json"))

    assert error["field"] == "recipes.p/sub/b", error
    assert error["message"].startswith("recipe p/sub/b does not load here: "), error
    assert error["fix"] == (
        "the package was altered after its export, or its notebook is broken where it was "
        "exported: mend it there, export the project again with `lpstudio export FOLDER` and "
        "import that"
    )


@pytest.mark.parametrize(
    "manifest", [None, b"{not json", b"[]"], ids=["no-manifest", "not-json", "not-object"]
)
def test_a_zip_without_a_readable_manifest_is_refused(
    target: Path, tmp_path: Path, manifest: bytes | None
) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zipped:
        zipped.writestr("project/a.ipynb", "{}")
        if manifest is not None:
            zipped.writestr(MANIFEST, manifest)
    before = state(target)

    error = refused(invoke(target, "import", str(bad), "--json"))

    assert error["field"] in ("package", MANIFEST), error
    assert state(target) == before


def _bogus_field(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["connections"]["api"]["fields"]["bogus"] = "x"


def _credentials_in_url(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["connections"]["api"]["fields"]["base_url"] = "http://u:p@host/"


def _text_for_int(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    manifest["recipes"]["a.ipynb"]["settings"]["parameters"]["x"] = "abc"


@pytest.mark.parametrize(
    ("spoil", "said", "entry"),
    [
        (_bogus_field, "connection api of the package: ", "connections.api.fields.bogus"),
        (_credentials_in_url, "connection api of the package: ", "connections.api.fields.base_url"),
        (_text_for_int, "recipe q/a: ", "recipes.a.ipynb.settings.parameters.x"),
    ],
    ids=["unknown-field", "url-credentials", "parameter-type"],
)
def test_a_value_refused_by_its_own_check_names_the_manifest_entry_that_holds_it(
    small: Path,
    target: Path,
    spoil: Callable[[dict[str, Any], dict[str, bytes]], None],
    said: str,
    entry: str,
) -> None:
    """A connector's or a parser's own refusal ("connector http has no field 'bogus'") named
    neither the package's connection nor where to mend it."""
    bad = rewritten(small, spoil)

    error = refused(invoke(target, "import", str(bad), "--into", "q", "--json"))

    assert error["message"].startswith(said), error
    assert error["fix"].startswith(
        f"mend {entry} in the package's {MANIFEST} and import it again: "
    )


def test_a_secret_given_as_a_placeholder_field_is_given_to_that_connection_once_imported(
    small: Path, target: Path
) -> None:
    """The fix named the connection `NAME`, and the lab's read "give it later with give
    NAME its password with Edit in the Connections panel"."""
    from lpstudio.server.fixes import in_rest_terms
    from lpstudio.widgets.common import lab_text

    bad = rewritten(small, _secret_field)

    error = refused(invoke(target, "import", str(bad), "--json"))

    assert error["fix"].endswith(
        ": leave password out; once imported, give it with `lpstudio connections update api "
        "--secret password`"
    ), error
    lab = "leave password out; once imported, give it with Edit of api in the Connections panel"
    assert lab_text(error["fix"]).endswith(lab)
    assert lab_text(str(in_rest_terms(error["fix"]))).endswith(lab)


def test_a_poll_start_refused_names_the_manifest_entry_that_holds_it(
    source: Path, target: Path, tmp_path: Path
) -> None:
    """It was named by the recipe's path here, `recipes.t/x/cart.settings.since`."""
    package = tmp_path / "shop.zip"
    assert invoke(source, "export", "shop", "-o", str(package)).exit_code == 0

    def spoil(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        manifest["recipes"]["cart.ipynb"]["settings"]["since"] = "not-a-date"

    bad = rewritten(package, spoil)
    error = refused(invoke(target, "import", str(bad), "--into", "t/x", "--json"))

    assert (
        error["message"] == "recipe t/x/cart: since 'not-a-date' is neither a date nor a duration"
    )
    assert error["field"] == "recipes.t/x/cart.settings.since"
    assert error["fix"].startswith(
        f"mend recipes.cart.ipynb.settings.since in the package's {MANIFEST} and import it "
        "again: give an ISO date"
    ), error


def test_a_placeholder_stays_one_until_every_secret_held_back_is_given(
    small: Path, target: Path
) -> None:
    """Any edit (a plain field, or a form saved unchanged) made a placeholder an ordinary
    connection without its secrets: an imported webhook connection whose token was held
    back then took unsigned deliveries."""
    assert invoke(target, "import", str(small)).exit_code == 0
    with Studio.open(target, user="bob") as studio:
        for edit in ({"username": "u2"}, {}, {"password": ""}):
            info = studio.connections.update("api", edit)
            assert info.status == "placeholder", (edit, info)
            assert "--secret password" in (info.status_message or "")
            with pytest.raises(InputError, match="is a placeholder"):
                studio.connections.values("api")
        info = studio.connections.update("api", {"password": "pw-new-secret"})
        assert info.status == "untested" and info.status_message is None
        assert studio.connections.values("api")[1]["password"] == "pw-new-secret"


def test_an_existing_recipe_is_refused_without_replace_and_replaced_with_it(
    small: Path, target: Path
) -> None:
    assert invoke(target, "import", str(small)).exit_code == 0
    with Studio.open(target, user="bob") as studio:
        studio.connections.update("api", {"password": "pw-new-secret"})  # authorised
        studio.save_settings("p/a", {"x": 9})
        studio.start("p/sub/b")
    (target / "projects/p/a.ipynb").write_text(
        (target / "projects/p/a.ipynb").read_text().replace("x: int = 1", "x: int = 2")
    )
    before = state(target)

    error = refused(invoke(target, "import", str(small), "--json"))

    assert error["field"] == "recipes.p/a" and "--replace" in error["fix"]
    assert state(target) == before

    replaced = answer(invoke(target, "import", str(small), "--replace", "--json"))

    assert all(r["replaced"] for r in replaced["recipes"])
    assert {c["name"]: c["status"] for c in replaced["connections"]} == {"api": "bound"}
    assert "x: int = 1" in (target / "projects/p/a.ipynb").read_text()
    with Studio.open(target, user="bob") as studio:
        assert saved_settings(studio.store, "p/a.ipynb")["parameters"] == {"x": 5}
        assert saved_settings(studio.store, "p/sub/b.ipynb").get("state", "stopped") == "stopped"


def test_a_replace_ends_the_run_of_trigger_errors_of_the_recipe_it_stops(
    small: Path, target: Path
) -> None:
    """The import stopped the recipe but kept its run of trigger errors, so the listing
    said it was "stopped after 1 trigger error in a row": a stop by a person ends the run
    (`Studio.stop`), and so does a replace's."""
    assert invoke(target, "import", str(small)).exit_code == 0
    with Studio.open(target, user="bob") as studio:
        studio.connections.update("api", {"password": "pw-new-secret"})  # authorised
        studio.start("p/sub/b")
        count_trigger_error(studio, "p/sub/b.ipynb", RuntimeError("the app did not answer"))
    assert "1 trigger error in a row" in invoke(target, "recipes").output

    assert invoke(target, "import", str(small), "--replace").exit_code == 0

    listed = invoke(target, "recipes").output
    assert "trigger error" not in listed, listed
    with Studio.open(target, user="bob") as studio:
        assert saved_settings(studio.store, "p/sub/b.ipynb").get("state", "stopped") == "stopped"
        assert studio.store.trigger_errors().get("p/sub/b.ipynb", {"count": 0})["count"] == 0


def test_a_first_import_makes_the_imported_recipe_its_first_version(
    small: Path, target: Path
) -> None:
    """A recipe imported anew had no version to list or go back to until its first run: an
    edit made before then could not be undone to the package's notebook."""
    assert invoke(target, "import", str(small)).exit_code == 0

    with Studio.open(target, user="bob") as studio:
        [imported] = studio.versions("p/a")
        assert imported["created_by"] == current_user()
        assert imported["settings"] == {"parameters": {"x": 5}, "connections": {"web": "api"}}
        assert "x: int = 1" in studio.store.version_notebook(imported["id"])


def test_a_replace_keeps_the_local_notebook_and_makes_the_imported_one_the_newest_version(
    small: Path, target: Path
) -> None:
    """`--replace` wrote over the recipe without a version: local edits were lost for good,
    and `versions` listed the settings from before the import as the newest."""
    assert invoke(target, "import", str(small)).exit_code == 0
    with Studio.open(target, user="bob") as studio:
        studio.connections.update("api", {"password": "pw-new-secret"})  # authorised
        studio.save_settings("p/a", {"x": 9})
    path = target / "projects/p/a.ipynb"
    path.write_text(path.read_text().replace("x: int = 1", "x: int = 2"))  # edited, unsaved

    assert invoke(target, "import", str(small), "--replace").exit_code == 0

    with Studio.open(target, user="bob") as studio:
        imported, kept, *_ = studio.versions("p/a")
        assert imported["created_by"] == current_user()
        assert imported["settings"] == {"parameters": {"x": 5}, "connections": {"web": "api"}}
        assert "x: int = 1" in studio.store.version_notebook(imported["id"])
        assert "x: int = 2" in studio.store.version_notebook(kept["id"])
        assert kept["settings"]["parameters"] == {"x": 9}


def test_a_connection_created_while_the_package_is_imported_refuses_it_whole(
    small: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection of the package's created by someone else between the import's checks and
    its write surfaced as the database's IntegrityError (a 500 over REST)."""
    checked = packages._write

    def racing(studio: Studio, plan: Any, source: Any) -> None:
        with Studio.open(target, user="carol") as other:
            other.connections.add("api", "http", {"base_url": "https://api.example.com"}, "carol")
        checked(studio, plan, source)

    monkeypatch.setattr(packages, "_write", racing)
    result = invoke(target, "import", str(small), "--json")

    assert result.exit_code != 0
    error = answer(result)["error"]
    assert error["field"] == "package" and "created meanwhile" in error["message"], error
    assert "import it again" in error["fix"]
    assert not (target / "projects/p").exists()
    with Studio.open(target, user="bob") as studio:
        assert saved_settings(studio.store, "p/a.ipynb") == {}
        assert studio.connections.get("api").status != "placeholder"  # carol's, untouched


def test_a_connection_of_another_type_is_refused(small: Path, target: Path) -> None:
    with Studio.open(target, user="bob") as studio:
        studio.connections.add("api", "csv_file", {"path": "x.csv"}, "bob")
    before = state(target)

    error = refused(invoke(target, "import", str(small), "--json"))

    assert error["field"] == "connections.api" and "csv_file" in error["message"]
    assert state(target) == before


def test_a_package_is_read_from_a_stream_as_the_rest_api_gives_it(
    small: Path, target: Path
) -> None:
    from lpstudio.packages import export_project, import_project

    with Studio.open(target, user="bob") as studio:
        imported = import_project(studio, io.BytesIO(small.read_bytes()), into="z")
        assert [r["recipe"] for r in imported["recipes"]] == ["z/a.ipynb", "z/sub/b.ipynb"]
        buffer = io.BytesIO()
        exported = export_project(studio, "z", buffer)
    assert [r["recipe"] for r in exported["recipes"]] == ["a.ipynb", "sub/b.ipynb"]
    with zipfile.ZipFile(buffer) as zipped:
        assert json.loads(zipped.read(MANIFEST))["exported_by"] == "bob"


def test_the_job_runner_gets_no_values_of_a_placeholder(small: Path, target: Path) -> None:
    """The second line of defence: a job queued by hand, past the checks, would fail on it."""
    assert invoke(target, "import", str(small)).exit_code == 0
    with Studio.open(target, user="bob") as studio, studio.store.read() as s:
        assert s.scalars(select(Job)).all() == []
        with pytest.raises(InputError) as caught:
            studio.connections.values("api")
    assert "--secret password" in (caught.value.fix or "")


def test_a_broken_recipe_travels_as_a_file_with_a_note(tmp_path: Path, target: Path) -> None:
    root = tmp_path / "broken"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "p/ok")
    (root / "projects/p/bad.ipynb").write_text("{not a notebook")
    package = tmp_path / "p.zip"

    exported = answer(invoke(root, "export", "p", "-o", str(package), "--json"))

    [bad] = [r for r in exported["recipes"] if r["recipe"] == "bad.ipynb"]
    assert "not a valid notebook" in bad["problem"] and bad["notes"]
    imported = answer(invoke(target, "import", str(package), "--json"))
    assert {r["recipe"]: r["settings"] for r in imported["recipes"]} == {
        "p/bad.ipynb": False,
        "p/ok.ipynb": True,
    }
    assert (target / "projects/p/bad.ipynb").read_text() == "{not a notebook"


def test_a_data_file_linked_outside_the_projects_is_left_out_saying_why(tmp_path: Path) -> None:
    """It said the file was missing, which the user could see it was not."""
    root = tmp_path / "linked"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "p/ok", metadata={"title": "ok", "files": ["link.csv", "gone.csv"]})
    (root / "projects/p/link.csv").symlink_to(root / "lpstudio.toml")

    exported = answer(invoke(root, "export", "p", "-o", str(tmp_path / "p.zip"), "--json"))

    [ok] = exported["recipes"]
    assert ok["notes"] == [
        "its data file link.csv leads outside projects/ (a link): not exported",
        "its data file gone.csv is missing: not exported",
    ], ok


def test_a_call_timeout_of_a_recipe_nobody_calls_is_left_out(small: Path, target: Path) -> None:
    """Imported as it was, it was kept for a recipe that is no callable, where no save could
    change it and `save_settings` refuses one."""

    def timed(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        manifest["recipes"]["a.ipynb"]["settings"]["call_timeout"] = 5

    result = invoke(target, "import", str(rewritten(small, timed)), "--json")

    assert result.exit_code == 0, result.output
    notes = {row["recipe"]: row["notes"] for row in answer(result)["recipes"]}
    assert "call_timeout left out: the recipe is not callable" in notes["p/a.ipynb"]
    with Studio.open(target, user="alice") as studio:
        assert "call_timeout" not in saved_settings(studio.store, "p/a.ipynb")


def test_a_folder_is_read_as_the_file_browser_shows_it(target: Path, tmp_path: Path) -> None:
    """`projects/billing`, as JupyterLab's file browser shows the folder, is the project
    billing, as Try recipe reads it: an import --into it nested its recipes in
    projects/projects/billing, and an export of it was refused."""
    tried = invoke(
        target,
        "gallery",
        "try",
        "payment_reminder",
        "--project",
        "projects/billing",
        "--name",
        "r1",
    )
    assert tried.exit_code == 0, tried.output
    package = tmp_path / "billing.zip"

    exported = answer(invoke(target, "export", "projects/billing", "-o", str(package), "--json"))
    imported = answer(invoke(target, "import", str(package), "--into", "projects/eu", "--json"))

    assert exported["folder"] == "billing"
    assert [r["recipe"] for r in exported["recipes"]] == ["r1.ipynb"]
    assert imported["into"] == "eu" and [r["recipe"] for r in imported["recipes"]] == [
        "eu/r1.ipynb"
    ]
    assert (target / "projects/eu/r1.ipynb").is_file()
    assert not (target / "projects/projects").exists()

    # With a project named `projects` too, `projects/billing` could be either: refused.
    nested = invoke(target, "import", str(package), "--into", "projects/projects/eu")
    assert nested.exit_code == 0, nested.output
    assert (target / "projects/projects/eu/r1.ipynb").is_file()
    error = refused(invoke(target, "export", "projects/billing", "-o", str(package), "--json"))
    assert error["field"] == "folder" and "projects/projects/billing" in error["fix"], error


def test_a_refused_folder_names_the_option_it_came_from(small: Path, target: Path) -> None:
    """`import --into ../x` named the field `folder`, an option `import` does not have (the
    CLI names an option's field as it is typed)."""
    before = state(target)

    outside = refused(invoke(target, "import", str(small), "--into", "../x", "--json"))
    missing = refused(
        invoke(target, "export", "nope", "-o", str(small.with_name("x.zip")), "--json")
    )

    assert outside["field"] == "--into" and missing["field"] == "folder"
    assert state(target) == before


def test_an_absolute_folder_is_refused_not_read_under_projects(
    small: Path, target: Path, tmp_path: Path
) -> None:
    """`import --into /tmp/evil` imported into projects/tmp/evil and `export /etc` exported
    projects/etc: the leading `/` was dropped. As Try recipe refuses an absolute project,
    both are refused naming the field and a folder under projects/ to give instead."""
    (target / "projects/etc").mkdir()
    before = state(target)

    into = refused(invoke(target, "import", str(small), "--into", "/tmp/evil", "--json"))
    exported = refused(invoke(target, "export", "/etc", "-o", str(tmp_path / "etc.zip"), "--json"))

    assert into["field"] == "--into" and exported["field"] == "folder"
    for error in (into, exported):
        assert "outside projects/" in error["message"], error
        assert "under projects/ such as shop" in error["fix"], error
    # Printed as text (the message and its fix, no field), it names the option too.
    printed = invoke(target, "import", str(small), "--into", "/tmp/evil")
    assert printed.exit_code == 2 and printed.stdout == "", printed.output
    assert printed.stderr.startswith(
        "lpstudio: error: `--into`: project folder /tmp/evil is outside projects/\n"
    ), printed.stderr
    assert state(target) == before
    assert not (tmp_path / "etc.zip").exists()


def test_a_replace_says_it_stops_a_started_recipe_and_keeps_its_failure_contacts(
    small: Path, target: Path
) -> None:
    """`--replace` stopped a started recipe and erased its failure contacts (a webhook, which
    a package never carries) saying only "replaced". The contacts say who is told here of a
    failure: a replace keeps them, and the package's e-mail (who was told where it was
    exported) is not used."""
    assert invoke(target, "import", str(small)).exit_code == 0
    contacts = {"webhook": NOTIFY_HOOK, "email": "oncall@target.example"}
    with Studio.open(target, user="bob") as studio:
        studio.connections.update("api", {"password": "pw-new-secret"})  # authorised
        studio.save_settings("p/sub/b", notify=contacts)
        studio.start("p/sub/b")

    def told(manifest: dict[str, Any], members: dict[str, bytes]) -> None:
        manifest["recipes"]["sub/b.ipynb"]["settings"]["notify"] = {"email": "dev@source.example"}

    replaced = answer(invoke(target, "import", str(rewritten(small, told)), "--replace", "--json"))

    notes = {r["recipe"]: r["notes"] for r in replaced["recipes"]}
    assert notes["p/a.ipynb"] == []
    assert notes["p/sub/b.ipynb"] == [
        "it was started: now stopped; start it again with `lpstudio start p/sub/b`",
        "its failure contacts here were kept (webhook https://hooks.example.com/****, e-mail "
        "oncall@target.example); the package's e-mail dev@source.example was not used (set "
        "it with `lpstudio settings p/sub/b --notify-email dev@source.example`)",
    ]
    assert NOTIFY_HOOK not in json.dumps(replaced)
    with Studio.open(target, user="bob") as studio:
        saved = saved_settings(studio.store, "p/sub/b.ipynb")
        assert saved.get("state", "stopped") == "stopped" and saved["notify"] == contacts
        stops = [e for e in studio.audit_entries() if e["action"] == "stop"]
        assert [(e["target"], e["user"]) for e in stops] == [("p/sub/b.ipynb", current_user())]


@pytest.mark.parametrize("into", [".", "./", "projects"])
def test_an_import_into_projects_itself_is_refused(small: Path, target: Path, into: str) -> None:
    """`--into .` wrote project p's recipes among the projects, and its refusals' fix said
    ". for every project", export's meaning."""
    before = state(target)

    error = refused(invoke(target, "import", str(small), "--into", into, "--json"))

    assert error["field"] == "--into", error
    assert "every project" not in error["fix"].partition(" (")[0], error
    assert "leave it out to import where the package was exported" in error["fix"], error
    assert state(target) == before


def test_a_package_of_every_project_imports_into_projects_as_exported(
    tmp_path: Path, target: Path
) -> None:
    """What `export .` holds (every project, and a recipe in none) goes back where it was."""
    root = tmp_path / "all"
    Studio.init(root, accept_terms=True, admin="alice").close()
    for name in ("top", "shop/cart", "shop/eu/cart"):
        write_recipe(root, name)
    package = tmp_path / "all.zip"
    assert invoke(root, "export", ".", "-o", str(package)).exit_code == 0

    imported = answer(invoke(target, "import", str(package), "--json"))

    assert imported["into"] == "."
    assert sorted(r["recipe"] for r in imported["recipes"]) == [
        "shop/cart.ipynb",
        "shop/eu/cart.ipynb",
        "top.ipynb",
    ]


def test_recipes_lists_each_project_once(tmp_path: Path) -> None:
    """Sorted by full path, `./a`, `shop/x`, `./z` printed the header `./` twice."""
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    for name in ("a", "shop/x", "z"):
        write_recipe(root, name)

    listed = invoke(root, "recipes").output.splitlines()

    headers = [line for line in listed if not line.startswith(" ")]
    assert headers == ["./", "shop/"], listed
    assert [line.split()[0] for line in listed] == ["./", "a.ipynb", "z.ipynb", "shop/", "x.ipynb"]
