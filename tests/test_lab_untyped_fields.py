"""A parameter with no declared type (`maybe = None`, `days = 7 * 24`) takes what a field of
the lab's forms holds as `lpstudio settings -p` takes it (papermill's rule: 5 a number, True
a boolean, None null, other text as it is): the Settings form saved "5", the text, where the
CLI and the notebook's form save 5. The form sends the text with `parse` naming it, and the
server reads it by the one rule the CLI's `-p` follows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.studio import Studio

from .conftest import write_recipe
from .servers import API
from .test_studio_bad_input import open_settings, retype, said
from .test_studio_ui import admin_pages

RECIPE = "p/untyped.ipynb"
UNTYPED = "maybe = None  # a None\ndays = 7 * 24  # expr\nnote = None  # a note"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace holding p/untyped, whose three parameters have no type, served by one
    JupyterLab; yields its root and `admin_page`, a page of the admin alice's."""
    tmp = tmp_path_factory.mktemp("untyped")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, "p/untyped", parameters=UNTYPED)
    with admin_pages(root, tmp / "jupyter") as admin_page:
        yield root, admin_page


def settings_shown(page: Any) -> dict[str, Any]:
    """The recipe's saved parameters, as `GET /recipes/{recipe}` answers them."""
    detail = page.evaluate(f"() => fetch('{API}/recipes/{RECIPE}').then(r => r.json())")
    return detail["settings"].get("parameters", {})


def cli_settings(root: Path) -> str:
    shown = CliRunner().invoke(main, ["settings", RECIPE, "--workspace", str(root)])
    assert shown.exit_code == 0, shown.output
    return shown.output


def test_text_typed_for_an_untyped_parameter_is_read_as_the_cli_s_p_reads_it(
    lab: tuple[Path, Any],
) -> None:
    root, admin_page = lab
    with admin_page() as page:
        form = open_settings(page, RECIPE, "maybe")
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        retype(form.locator("input[name=maybe]"), "5")
        retype(form.locator("input[name=days]"), "48")
        retype(form.locator("input[name=note]"), "abc")
        assert "Settings saved." in said(message, save)
        assert settings_shown(page) == {"maybe": 5, "days": 48, "note": "abc"}
        shown = cli_settings(root)
        assert "maybe = 5  [any, saved]" in shown and "days = 48 " in shown, shown
        assert 'note = "abc"' in shown, shown

        # Saved again untouched: the numbers stay numbers (sent as saved, not as text).
        retype(form.locator("input[name=note]"), "None")
        assert "Settings saved." in said(message, save)
        assert settings_shown(page) == {"maybe": 5, "days": 48, "note": None}
        retype(form.locator("input[name=maybe]"), "2.5")
        retype(form.locator("input[name=days]"), "True")
        assert "Settings saved." in said(message, save)
        assert settings_shown(page) == {"maybe": 2.5, "days": True, "note": None}


def test_text_typed_before_a_save_refused_as_stale_is_still_read_when_saved_again(
    lab: tuple[Path, Any],
) -> None:
    """Shown again after a 409 with the user's change kept, the typed text is a value the
    form holds as saved: it must still be sent for the server to read, not as the text."""
    root, admin_page = lab
    with admin_page() as page:
        form = open_settings(page, RECIPE, "maybe")
        message, save = form.locator(".lps-message"), form.locator(".lps-save")
        with Studio.open(root, user="alice") as studio:
            studio.save_settings(RECIPE, {"note": "elsewhere"})  # after the form showed them
        retype(form.locator("input[name=maybe]"), "7")
        assert "changed" in said(message, save)
        form = open_settings(page, RECIPE, "maybe")
        assert form.locator("input[name=maybe]").input_value() == "7"
        assert "Settings saved." in said(form.locator(".lps-message"), form.locator(".lps-save"))
        assert settings_shown(page)["maybe"] == 7


async def test_parse_over_rest_reads_text_as_p_and_refuses_a_value_that_is_no_text(
    jp_fetch: Any, ws: Path
) -> None:
    """`parse` names the parameters a body gives as text to read as `-p` does; one naming
    a typed value (or none) is refused by name, since `str()` of it is no text anyone typed."""
    write_recipe(ws, "p/untyped", parameters=UNTYPED)

    async def put(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            "recipes",
            *RECIPE.split("/"),
            "settings",
            method="PUT",
            body=json.dumps(body),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        return answer.code, json.loads(answer.body)

    code, saved = await put({"parameters": {"maybe": "5", "days": "48"}, "parse": ["maybe"]})
    assert code == 200 and saved["settings"]["parameters"] == {"maybe": 5, "days": "48"}, saved
    code, refused = await put({"parameters": {"maybe": [1]}, "parse": ["maybe"]})
    assert code == 400 and refused["error"]["field"] == "parameters.maybe", refused
    assert refused["error"]["fix"] == "give parameters.maybe as text, or leave 'maybe' out of parse"
    code, refused = await put({"parameters": {}, "parse": ["days"]})
    assert code == 400 and "does not give" in refused["error"]["message"], refused
