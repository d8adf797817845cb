"""The gallery: templates listed, copied into projects, and the payment reminder run."""

from __future__ import annotations

import html
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.errors import InputError, WorkspaceError
from lpstudio.gallery import reported_kernel, templates_dir
from lpstudio.studio import Studio
from lpstudio.widgets.gallery import GalleryView
from lpstudio.workspace import Workspace

from .conftest import run_cli, run_json
from .servers import serving


def test_gallery_lists_the_templates_by_group() -> None:
    listed = CliRunner().invoke(main, ["gallery", "--json"])
    assert listed.exit_code == 0, listed.output
    cards = {card["name"]: card for card in json.loads(listed.stdout)["templates"]}
    card = cards["payment_reminder"]
    assert card["group"] == "LivePerson Proactive Recipe Templates"
    assert card["title"] == "Proactive payment reminder"
    assert card["trigger"] == "schedule"
    assert card["files"] == ["invoices.csv"]


def test_try_copies_the_template_and_its_data_into_a_project(ws: Path, cli) -> None:
    before = sorted(p.name for p in templates_dir().iterdir())
    result = cli(
        "gallery",
        "try",
        "payment_reminder",
        "--project",
        "billing/eu",
        "--name",
        "reminder",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["recipe"] == "billing/eu/reminder.ipynb"
    folder = ws / "projects" / "billing" / "eu"
    assert (folder / "reminder.ipynb").is_file()
    assert (folder / "invoices.csv").read_bytes() == (templates_dir() / "invoices.csv").read_bytes()
    assert sorted(p.name for p in templates_dir().iterdir()) == before
    again = cli(
        "gallery", "try", "payment_reminder", "--project", "billing/eu", "--name", "reminder"
    )
    assert again.exit_code == 2 and "already exists" in again.output
    # A dot in the name is part of it (the name was cut at it: reminder.v2 -> reminder).
    for name in ("reminder.v2", "q4.final.ipynb"):
        dotted = cli(
            "gallery", "try", "payment_reminder", "--project", "billing/eu", "--name", name
        )
        assert dotted.exit_code == 0, dotted.output
    assert (folder / "reminder.v2.ipynb").is_file() and (folder / "q4.final.ipynb").is_file()
    named = cli("settings", "billing/eu/reminder.v2", "--json")  # named as others are
    assert named.exit_code == 0, named.output


def test_try_refuses_bad_targets_and_writes_nothing(ws: Path, cli) -> None:
    outside = cli("gallery", "try", "payment_reminder", "--project", "../../elsewhere")
    assert outside.exit_code == 2 and "outside" in outside.output
    unknown = cli("gallery", "try", "no_such_template", "--project", "x")
    assert unknown.exit_code == 2 and "payment_reminder" in unknown.output
    conflict_dir = ws / "projects" / "clash"
    conflict_dir.mkdir(parents=True)
    (conflict_dir / "invoices.csv").write_text("mine\n")
    clash = cli("gallery", "try", "payment_reminder", "--project", "clash")
    assert clash.exit_code == 2 and "other content" in clash.output
    assert sorted(p.name for p in conflict_dir.iterdir()) == ["invoices.csv"]
    assert (conflict_dir / "invoices.csv").read_text() == "mine\n"


def test_a_name_too_long_is_refused_saying_its_bytes_and_each_other_cause_its_own(
    ws: Path, cli
) -> None:
    """A Japanese name of 34 characters (102 bytes) was refused as "invalid recipe name ...
    give a plain file name such as my_reminder", as was a folder: nothing said the limit is
    100 bytes in UTF-8, which 33 Japanese characters reach."""
    fits = "お客様への支払いリマインダー（月末締め）第二版・東日本エリア向け２"  # 99 bytes
    tried = cli("gallery", "try", "payment_reminder", "--project", "キャンペーン", "--name", fits)
    assert tried.exit_code == 0, tried.output
    longer = fits + "３"
    refused = cli(
        "gallery", "try", "payment_reminder", "--project", "キャンペーン", "--name", longer
    )
    assert refused.exit_code == 2, refused.output
    assert f"invalid recipe name {longer!r}: it is 102 bytes in UTF-8, more than 100" in (
        refused.output
    )
    assert "fix: shorten it to at most 100 bytes" in refused.output, refused.output
    folder = cli("gallery", "try", "payment_reminder", "--project", f"キャンペーン/{longer}")
    assert folder.exit_code == 2, folder.output
    assert f"invalid project folder {longer!r}: it is 102 bytes in UTF-8" in folder.output
    for name, cause, fix in (
        (".été", "begins with '.', which hides it", "remove the leading '.'"),
        ("été/x", "holds '/'", "give a plain file name such as my_reminder"),
    ):
        said = cli("gallery", "try", "payment_reminder", "--project", "p", "--name", name)
        assert said.exit_code == 2, said.output
        assert f"invalid recipe name {name!r}: it {cause}\n  fix: {fix}" in said.output
    assert not (ws / "projects" / "p").exists()


def test_a_blank_name_is_refused_and_an_absent_one_is_the_template_s(ws: Path, cli) -> None:
    """`--name "   "` copied the template under its own name without a word (the lab's
    dialog did too): a blank name is refused naming it, with the way to the template's."""
    for blank in ("   ", ""):
        refused = cli("gallery", "try", "payment_reminder", "--project", "p", "--name", blank)
        assert refused.exit_code == 2, refused.output
        assert "recipe name" in refused.output and "is blank" in refused.output
        assert "or none at all for the template's name (payment_reminder)" in refused.output
    assert not (ws / "projects" / "p").exists()
    tried = cli("gallery", "try", "payment_reminder", "--project", "p")
    assert tried.exit_code == 0, tried.output
    assert (ws / "projects" / "p" / "payment_reminder.ipynb").is_file()


def test_the_payment_reminder_selects_due_invoices_and_sends_each_reminder(
    sandbox_ws: Path, sandbox: Any
) -> None:
    ws = sandbox_ws
    assert (
        run_cli(
            "gallery", "try", "payment_reminder", "--project", "demo", "--workspace", str(ws)
        ).returncode
        == 0
    )
    code, job = run_json(
        "run",
        "demo/payment_reminder",
        "-p",
        "today",
        "2026-12-01",
        "-p",
        "days_ahead",
        "5",
        "--workspace",
        str(ws),
    )
    assert code == 0, job
    result = job["result"]
    campaign = result["campaign"]
    assert campaign["templateId"] == "H1000000001" and campaign["consent"] is True
    phones = [c["consumerContent"]["sms"] for c in campaign["consumers"]]
    # Open, due 2026-12-01..06, E.164: INV-1001, 1002, 1009 (1003 is paid, 1006 bad phone).
    assert phones == ["+14155550101", "+14155550102", "+61412345678"]
    assert campaign["consumers"][0]["variables"] == {
        "1": "Hi Maria, invoice INV-1001 of 120.00 USD is due on 2026-12-02. "
        "Reply PAY to settle it."
    }
    assert result["skipped"] == [
        {"invoice_id": "INV-1006", "phone": "0612345678", "reason": "phone is not in E.164 form"}
    ]
    assert result["sent"]["accepted"] == 3 and result["sent"]["failed"] == []
    received = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()["recipients"]
    assert sorted(r["address"] for r in received) == sorted(phones)
    assert all(r["count"] == 1 for r in received)
    nb = nbformat.read(job["output_path"], as_version=4)
    nbformat.validate(nb)


def test_the_payment_reminder_refuses_an_unknown_placeholder(sandbox_ws: Path) -> None:
    ws = sandbox_ws
    assert (
        run_cli(
            "gallery", "try", "payment_reminder", "--project", "demo", "--workspace", str(ws)
        ).returncode
        == 0
    )
    code, job = run_json(
        "run",
        "demo/payment_reminder",
        "-p",
        "body_template",
        "Hi {nickname}",
        "--workspace",
        str(ws),
    )
    assert code == 1
    assert job["error"]["ename"] == "InputError"
    assert "nickname" in job["error"]["evalue"] and "first_name" in job["error"]["evalue"]


def test_the_public_api_is_sorted_and_resolves() -> None:
    import lpstudio

    assert lpstudio.__all__ == sorted(lpstudio.__all__)
    for name in lpstudio.__all__:
        assert getattr(lpstudio, name) is not None


def test_a_project_named_projects_is_reached_as_the_file_browser_shows_it(ws: Path) -> None:
    """With a project named `projects`, no value reached it: `projects/projects` was
    refused as ambiguous, with a fix naming `projects`, which is refused too."""
    (ws / "projects" / "projects").mkdir()
    with Studio.open(ws, user="alice") as studio:
        made = studio.try_template("payment_reminder", "projects/projects")
    assert made == ws / "projects" / "projects" / "payment_reminder.ipynb"


def test_a_project_typed_as_the_file_browser_shows_it_is_that_project(ws: Path, cli) -> None:
    """`projects/billing` (the folder the file browser shows) is the project billing, from
    the CLI, the REST API and the notebook's gallery alike; never projects/projects/billing."""
    typed = cli("gallery", "try", "payment_reminder", "--project", "projects/billing", "--json")
    assert typed.exit_code == 0, typed.output
    assert json.loads(typed.stdout)["recipe"] == "billing/payment_reminder.ipynb"
    with Studio.open(ws, user="alice") as studio:
        card = GalleryView(studio).cards["new_lead"]
        card.project.value = "projects/leads"
        card.create_button.click()
        made = Path(os.path.relpath(ws / "projects/leads/new_lead.ipynb")).as_posix()
        assert f'href="{made}"' in card.result.value, card.result.value
    with serving(ws) as served:
        body = {"template": "payment_reminder", "project": "projects/shop/eu"}
        answer = served.api("alice", "POST", "/gallery/try", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["recipe"] == "shop/eu/payment_reminder.ipynb"
    assert not (ws / "projects" / "projects").exists()
    # The folder of projects itself is no project.
    bare = cli("gallery", "try", "payment_reminder", "--project", "projects")
    assert bare.exit_code == 2 and "folder of projects, not one in it" in bare.output, bare.output
    # Beside a project named projects, projects/eu could be either: refused, naming both.
    (ws / "projects" / "projects").mkdir()
    either = cli("gallery", "try", "payment_reminder", "--project", "projects/eu")
    assert either.exit_code == 2, either.output
    assert "project projects/eu could be projects/eu or projects/projects/eu" in either.output
    assert "fix: give eu for projects/eu, or projects/projects/eu for the other" in either.output
    inner = cli("gallery", "try", "payment_reminder", "--project", "projects/projects/eu")
    assert inner.exit_code == 0, inner.output
    assert (ws / "projects/projects/eu/payment_reminder.ipynb").is_file()
    assert not (ws / "projects" / "eu").exists()


def test_a_try_of_a_webhook_template_says_where_it_receives(ws: Path, cli) -> None:
    """It printed only the notebook's path: its hook was to be found with `settings`."""
    tried = cli("gallery", "try", "new_lead", "--project", "leads", "--json")
    assert tried.exit_code == 0, tried.output
    hook = json.loads(tried.stdout)["url"]
    assert hook.startswith("/lpstudio/api/v1/hooks/"), hook
    assert f"receives:    POST {hook}  " in cli("settings", "leads/new_lead").output
    with Studio.open(ws, user="alice") as studio:
        card = GalleryView(studio).cards["new_lead"]
        card.project.value = "crm"
        card.create_button.click()
        assert "receives: POST /lpstudio/api/v1/hooks/" in card.result.value


def test_each_try_of_a_callable_template_gets_an_endpoint_of_its_own(ws: Path, cli) -> None:
    """Tried twice, the opt-in template's copies serve /call/optin and /call/optin-2: both
    start (a second copy at optin was refused at Start), and each try says where."""
    first = cli("gallery", "try", "cb_optin", "--project", "bots")
    assert first.exit_code == 0, first.output
    assert "receives: POST /lpstudio/api/v1/call/optin " in first.output, first.output
    with serving(ws) as server:
        body = {"template": "cb_optin", "project": "eu"}
        answer = server.api("alice", "POST", "/gallery/try", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["trigger"]["endpoint"] == "/lpstudio/api/v1/call/optin-2"
    with Studio.open(ws, user="alice") as studio:
        card = GalleryView(studio).cards["cb_optin"]
        card.project.value = "us"
        card.create_button.click()
        assert "receives: POST /lpstudio/api/v1/call/optin-3" in card.result.value
    fourth = cli("gallery", "try", "cb_optin", "--project", "ca", "--json")
    assert fourth.exit_code == 0, fourth.output
    assert json.loads(fourth.stdout)["url"] == "/lpstudio/api/v1/call/optin-4"
    recipes = ("bots/cb_optin", "eu/cb_optin", "us/cb_optin", "ca/cb_optin")
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("optins", "csv_file", {"path": "optins.csv"}, "alice")
        for recipe in recipes:
            studio.start(recipe)
        served = {e["path"]: e["recipe"] for e in studio.endpoints()}
    paths = ("optin", "optin-2", "optin-3", "optin-4")
    assert served == {path: f"{recipe}.ipynb" for path, recipe in zip(paths, recipes, strict=True)}
    # The copy is the template but for its path.
    copy = nbformat.read(ws / "projects/eu/cb_optin.ipynb", as_version=4)
    template = nbformat.read(templates_dir() / "cb_optin.ipynb", as_version=4)
    template.metadata.lpstudio.trigger.path = "optin-2"
    template.metadata.update(reported_kernel(template.metadata.kernelspec))  # as the lab has it
    assert copy == template


def test_the_opt_in_template_says_how_an_event_given_by_hand_is_refused(ws: Path, cli) -> None:
    """Its first cell said an event given with --event "is checked by the recipe itself: 400
    {error, field}", but lpstudio refuses it before any job, naming the field."""
    told = cli("gallery", "try", "cb_optin", "--project", "byhand")
    assert told.exit_code == 0, told.output
    bad = {"consumer_id": "c1", "phone": "0612345678", "channel": "sms", "opt_in": True}
    refused = cli("run", "byhand/cb_optin", "--event", json.dumps(bad), "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "--event" and "phone" in error["message"], error
    with Studio.open(ws, user="alice") as studio:
        assert studio.jobs(recipe="byhand/cb_optin.ipynb") == []
    said = nbformat.read(ws / "projects/byhand/cb_optin.ipynb", as_version=4).cells[0].source
    said = " ".join(said.split())
    assert "checked by the recipe itself" not in said, said
    assert "so is an event given by hand (`lpstudio run --event`, whose error names" in said


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}, "POST /user/ada/lpstudio/api/v1/call/optin"),
        ({"JPY_BASE_URL": "/user/bo/"}, "POST /user/bo/lpstudio/api/v1/call/optin"),
        ({}, "POST /lpstudio/api/v1/call/optin (under the Jupyter server's base URL)"),
    ],
)
def test_try_in_the_notebook_names_the_endpoint_under_the_server_s_base_url(
    ws: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    """The card said `receives: POST /lpstudio/api/v1/call/optin` in a JupyterHub kernel,
    whose server serves under /user/NAME/ (a 404 there); where the kernel cannot know the
    base URL, the path is said to be under it."""
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "JPY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with Studio.open(ws, user="alice") as studio:
        card = GalleryView(studio).cards["cb_optin"]
        card.project.value = "bots"
        card.create_button.click()
    assert f"receives: {said}</div>" in html.unescape(card.result.value), card.result.value


def test_try_in_the_notebook_names_the_endpoint_under_its_studio_s_api_root(ws: Path) -> None:
    """A studio given the API's root (as the server gives its own) names it as given."""
    with Studio(Workspace.find(ws), user="alice", api_root="/hub/lpstudio/api/v1") as studio:
        card = GalleryView(studio).cards["cb_optin"]
        card.project.value = "bots"
        card.create_button.click()
    assert "receives: POST /hub/lpstudio/api/v1/call/optin</div>" in card.result.value


def test_a_project_typed_with_a_trailing_slash_is_that_project(ws: Path, cli) -> None:
    """`--project shop/` (a folder as a shell completes it) was refused as "invalid project
    folder ''", naming no folder the user typed."""
    for typed in ("shop/", "projects/billing/", "shop/eu//"):
        result = cli("gallery", "try", "payment_reminder", "--project", typed, "--json")
        assert result.exit_code == 0, (typed, result.output)
    assert (ws / "projects/shop/payment_reminder.ipynb").is_file()
    assert (ws / "projects/billing/payment_reminder.ipynb").is_file()
    assert (ws / "projects/shop/eu/payment_reminder.ipynb").is_file()
    bare = cli("gallery", "try", "payment_reminder", "--project", "projects/")
    assert bare.exit_code == 2 and "folder of projects, not one in it" in bare.output


def test_a_name_that_differs_from_one_there_only_in_case_or_accents_is_refused(
    ws: Path, cli
) -> None:
    """`Shop` beside `shop` (or `CAFÉ` beside `café`) was a second project that looks the
    same in listings, and is the same folder on a Mac's disk; `Payment_Reminder` beside
    `payment_reminder.ipynb` a second recipe. `café` typed with a combining accent was a
    second `café` folder: it is that one, its accent composed."""
    made = cli("gallery", "try", "payment_reminder", "--project", "shop/caf\u00e9", "--json")
    assert made.exit_code == 0, made.output
    for project, existing in (("Shop", "shop"), ("shop/CAF\u00c9", "caf\u00e9")):
        refused = cli("gallery", "try", "new_lead", "--project", project, "--json")
        assert refused.exit_code == 2, refused.output
        error = json.loads(refused.stdout)["error"]
        assert "only in case or in how its accents are written" in error["message"], error
        assert error["field"] == "--project", error
        assert error["fix"] == f"give {existing} for that one, or a name of its own", error
    with serving(ws) as served:
        body = {"template": "payment_reminder", "project": "shop/caf\u00e9"}
        body["name"] = "Payment_Reminder"
        answer = served.api("alice", "POST", "/gallery/try", json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["field"] == "name" and "'payment_reminder'" in error["message"], error
    decomposed = cli("gallery", "try", "new_lead", "--project", "shop/cafe\u0301", "--json")
    assert decomposed.exit_code == 0, decomposed.output
    assert json.loads(decomposed.stdout)["recipe"] == "shop/caf\u00e9/new_lead.ipynb"
    accented = cli("gallery", "try", "new_lead", "--project", "shop", "--name", "cre\u0300me")
    assert accented.exit_code == 0, accented.output
    assert [p.name for p in (ws / "projects").iterdir()] == ["shop"]
    assert sorted(p.name for p in (ws / "projects/shop").iterdir()) == [
        "caf\u00e9",
        "cr\u00e8me.ipynb",
    ]
    recipes = sorted(p.name for p in (ws / "projects/shop/caf\u00e9").glob("*.ipynb"))
    assert recipes == ["new_lead.ipynb", "payment_reminder.ipynb"]


def test_a_try_never_writes_over_a_copy_made_since_its_check(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tries of one name at once both found no copy there, and the later wrote over the
    earlier's (which its user may have opened and changed): the later is refused, as it is
    when it comes second."""
    theirs = ws / "projects/billing/payment_reminder.ipynb"
    copy = shutil.copyfile

    def another_try_first(source: Path, target: Path) -> Any:
        """The other try writes its copy between this one's check and its write."""
        if Path(source).suffix == ".ipynb" and not theirs.exists():
            theirs.write_text("the other try's copy, changed by its user")
        return copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", another_try_first)
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as refused:
        studio.try_template("payment_reminder", "billing")
    assert refused.value.field == "name" and f"{theirs} already exists" in str(refused.value)
    assert theirs.read_text() == "the other try's copy, changed by its user"
    assert sorted(p.name for p in theirs.parent.iterdir()) == [
        "invoices.csv",
        "payment_reminder.ipynb",
    ]  # no temporary file left


def test_a_try_on_a_file_system_without_hard_links_copies_and_still_never_writes_over(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace shared over SMB, or object storage mounted as a folder, has no hard links
    (`os.link` fails): Try recipe copied nothing there."""

    def no_links(source: Any, target: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    with Studio.open(ws, user="alice") as studio:
        made = studio.try_template("payment_reminder", "billing")
        data = made.parent / "invoices.csv"
        assert data.read_bytes() == (templates_dir() / "invoices.csv").read_bytes()
        template = nbformat.read(templates_dir() / "payment_reminder.ipynb", as_version=4)
        assert nbformat.read(made, as_version=4).cells == template.cells
        with pytest.raises(InputError) as refused:
            studio.try_template("payment_reminder", "billing")
    assert refused.value.field == "name" and "already exists" in str(refused.value)
    assert sorted(p.name for p in made.parent.iterdir()) == [
        "invoices.csv",
        "payment_reminder.ipynb",
    ]  # no temporary file left


def test_two_tries_of_a_callable_template_at_once_get_endpoints_of_their_own(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tries of the opt-in template at once both found optin-2 free (neither copy was
    written yet) and both copies served it: the later's Start was refused. The second try
    runs here while the first has picked its path and not yet written its copy."""
    import fcntl

    import lpstudio.studio

    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cb_optin", "bots")  # serves optin
    copy, flock = lpstudio.studio.copy_template, fcntl.flock
    second_waits_or_ended = threading.Event()

    def second_try() -> None:
        try:
            with Studio.open(ws, user="bob") as other:
                other.try_template("cb_optin", "us")
        finally:
            second_waits_or_ended.set()

    second = threading.Thread(target=second_try, name="second-try")

    def waiting_flock(handle: Any, operation: int) -> None:
        if threading.current_thread() is second:
            second_waits_or_ended.set()  # about to wait for the first try's lock
        flock(handle, operation)

    def first_copy_after_second_try(*args: Any) -> Path:
        if not second.is_alive() and not second_waits_or_ended.is_set():
            second.start()
            assert second_waits_or_ended.wait(60), "the second try neither waited nor ended"
        return copy(*args)

    monkeypatch.setattr(fcntl, "flock", waiting_flock)
    monkeypatch.setattr(lpstudio.studio, "copy_template", first_copy_after_second_try)
    with Studio.open(ws, user="alice") as studio:
        studio.try_template("cb_optin", "eu")
    second.join(60)
    paths = {
        project: nbformat.read(
            ws / f"projects/{project}/cb_optin.ipynb", as_version=4
        ).metadata.lpstudio.trigger.path
        for project in ("eu", "us")
    }
    assert paths == {"eu": "optin-2", "us": "optin-3"}


def test_try_recipe_where_runtime_links_to_a_missing_folder_names_the_fix(
    ws: Path, cli, tmp_path: Path
) -> None:
    """`.runtime` linked to a folder this machine lacks (README, Scaling out): Try recipe
    printed a raw `FileExistsError` traceback (exit 1), from the CLI and the REST API alike,
    whose server read the workspace before the link broke."""
    with Studio.open(ws, user="alice") as studio:  # as a running server holds it
        (ws / ".runtime").symlink_to(tmp_path / "nowhere")
        with pytest.raises(WorkspaceError) as refused:
            studio.try_template("payment_reminder", "x")
    assert refused.value.field == ".runtime"

    result = cli("gallery", "try", "payment_reminder", "--project", "x", "--json")

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == ".runtime" and "readlink .runtime" in error["fix"]
    assert not (ws / "projects" / "x").exists()
