"""One broken template does not take the gallery down.

A template with a bad time zone next to the good ones made `lpstudio gallery`, every Try
(of any template), `GET /gallery`, `POST /gallery/try`, the lab's gallery and
`GalleryView` fail with its error: the gallery read every template at once. Each is read
on its own now: the good ones are listed and tried, the broken one is said with its file,
field and fix, and a Try of it is refused with that error, nothing written.
`$LPSTUDIO_TEMPLATES` points the gallery at a templates folder of the test's own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from lpstudio.cli import main
from lpstudio.gallery import TEMPLATES_VAR, templates_dir
from lpstudio.studio import Studio
from lpstudio.widgets.gallery import GalleryView

from .browser import screenshot
from .servers import serving
from .test_studio_ui import alice_lab, command

FIELD = "metadata.lpstudio.trigger.timezone"
FIX = "use an IANA name such as UTC or Europe/Paris"


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A templates folder holding payment_reminder (with its invoices.csv) and a copy of it
    whose time zone is misspelt, `zz_bad_tz`, which the gallery reads (and every process
    this test starts)."""
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("payment_reminder.ipynb", "invoices.csv"):
        shutil.copyfile(templates_dir() / name, folder / name)
    notebook = json.loads((folder / "payment_reminder.ipynb").read_text())
    notebook["metadata"]["lpstudio"]["trigger"]["timezone"] = "Europe/Pariss"
    (folder / "zz_bad_tz.ipynb").write_text(json.dumps(notebook))
    monkeypatch.setenv(TEMPLATES_VAR, str(folder))
    return folder


def projects(ws: Path) -> list[str]:
    return sorted(str(p.relative_to(ws)) for p in (ws / "projects").rglob("*"))


def test_the_cli_lists_the_good_templates_and_says_each_broken_one(
    ws: Path, templates: Path
) -> None:
    listed = CliRunner().invoke(main, ["gallery"])
    assert listed.exit_code == 0, listed.output
    assert "payment_reminder" in listed.stdout and "zz_bad_tz" not in listed.stdout
    said = listed.stderr.splitlines()
    assert said[0] == (
        "lpstudio: template zz_bad_tz cannot be tried: recipe templates/zz_bad_tz.ipynb: "
        f"{FIELD} 'Europe/Pariss' is not an IANA time zone"
    )
    assert FIX in said[1]
    as_json = CliRunner().invoke(main, ["gallery", "--json"])
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.stdout)
    assert [t["name"] for t in answer["templates"]] == ["payment_reminder"]
    (broken,) = answer["broken"]
    assert (broken["name"], broken["file"], broken["field"]) == (
        "zz_bad_tz",
        "templates/zz_bad_tz.ipynb",
        FIELD,
    )
    assert FIX in broken["fix"]

    before = projects(ws)
    good = CliRunner().invoke(
        main, ["gallery", "try", "payment_reminder", "--project", "billing", "--workspace", str(ws)]
    )
    assert good.exit_code == 0, good.output
    assert (ws / "projects" / "billing" / "payment_reminder.ipynb").is_file()
    after = projects(ws)
    bad = CliRunner().invoke(
        main, ["gallery", "try", "zz_bad_tz", "--project", "other", "--workspace", str(ws)]
    )
    assert bad.exit_code == 2, bad.output
    assert "'Europe/Pariss' is not an IANA time zone" in bad.output and FIX in bad.output
    assert projects(ws) == after and after != before


def test_rest_lists_the_good_templates_beside_the_broken_one_and_refuses_its_try(
    ws: Path, templates: Path
) -> None:
    with serving(ws, environ={TEMPLATES_VAR: str(templates)}) as server:
        listed = server.api("alice", "GET", "/gallery")
        assert listed.status_code == 200, listed.text
        answer = listed.json()
        assert [t["name"] for t in answer["templates"]] == ["payment_reminder"]
        assert [(b["name"], b["field"]) for b in answer["broken"]] == [("zz_bad_tz", FIELD)]
        assert FIX in answer["broken"][0]["fix"]
        doc = server.api("alice", "GET", "/openapi.json").json()
        said = doc["paths"]["/gallery"]["get"]["responses"]["200"]
        Draft202012Validator(said["content"]["application/json"]["schema"]).validate(answer)

        tried = {"template": "payment_reminder", "project": "billing"}
        assert server.api("alice", "POST", "/gallery/try", json=tried).status_code == 201
        after = projects(ws)
        refused = server.api(
            "alice", "POST", "/gallery/try", json={"template": "zz_bad_tz", "project": "other"}
        )
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["field"]) == ("RecipeError", FIELD)
        assert FIX in error["fix"]
        assert projects(ws) == after


def test_gallery_view_shows_the_good_cards_and_the_broken_one_s_error(
    ws: Path, templates: Path
) -> None:
    with Studio.open(ws, user="alice") as studio:
        view = GalleryView(studio)
        assert list(view.cards) == ["payment_reminder"]
        shown = view.broken["zz_bad_tz"].value
        assert "templates/zz_bad_tz.ipynb cannot be tried" in shown
        assert "&#x27;Europe/Pariss&#x27; is not an IANA time zone" in shown and FIX in shown
        assert view.broken["zz_bad_tz"] in view.children


@pytest.fixture
def lab_page(tmp_path: Path, templates: Path) -> Iterator[object]:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    with alice_lab(root, tmp_path / "jupyter", close_gallery=False) as page:
        yield page


def test_the_lab_s_gallery_shows_the_good_cards_and_the_broken_one_s_error(lab_page) -> None:
    page = lab_page
    for where in (".lps-gallery-popup", "#lpstudio-gallery"):
        gallery = page.locator(where)
        good = gallery.locator('.lps-card[data-template="payment_reminder"]')
        good.locator(".lps-try").wait_for()  # shown once the gallery is read
        broken = gallery.locator('.lps-card[data-template="zz_bad_tz"]')
        assert broken.locator(".lps-card-description").inner_text() == (
            "templates/zz_bad_tz.ipynb cannot be tried"
        )
        error = broken.locator(".lps-error").inner_text()
        assert "'Europe/Pariss' is not an IANA time zone" in error
        assert FIX in broken.locator(".lps-error-fix").inner_text()
        assert broken.get_by_role("button").count() == 0
        if where == ".lps-gallery-popup":
            screenshot(page, "gallery-broken-template")
            gallery.get_by_role("button", name="Close").click()
            command(page, "lpstudio:open-gallery")
