"""The gallery pop-up is remembered per admin and workspace, not per OS user; Start and Stop
in the Recipes sidebar keep the keyboard's focus on the acted row.

The pop-up was remembered in JupyterLab's user settings, one file per OS account: a second
admin of the workspace, or the same admin in a new workspace, never saw it. The workspace's
store now remembers who dismissed it (`GET /me` says whether it pops up, `POST
/me/gallery-popup` dismisses it). The Recipes sidebar drew its whole tree again after a
Start or Stop, and the focus fell to the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lpstudio.studio import Studio

from .browser import user_page
from .conftest import write_recipe
from .servers import API, serving
from .test_lab_keyboard_and_fixes import focused, press
from .test_studio_ui import command, studio_lab

ONE = "recipe lab/one"


def new_workspace(root: Path) -> Path:
    """A workspace of the admin alice, with adam an admin too and otto an operator."""
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.set_role("adam", "admin")
        studio.set_role("otto", "operator")
    return root


def test_me_says_the_gallery_pops_up_for_each_admin_until_they_dismiss_it(tmp_path: Path) -> None:
    root = new_workspace(tmp_path / "ws")
    with serving(root) as server:

        def popup(user: str) -> bool:
            me = server.api(user, "GET", "/me")
            assert me.status_code == 200, me.text
            return bool(me.json()["gallery_popup"])

        assert (popup("alice"), popup("adam"), popup("otto")) == (True, True, False)
        dismissed = server.api("alice", "POST", "/me/gallery-popup")
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["name"] == "alice" and dismissed.json()["gallery_popup"] is False
        assert (popup("alice"), popup("adam")) == (False, True)
        # Dismissed again (another tab's pop-up): said once in the audit log.
        assert server.api("alice", "POST", "/me/gallery-popup", json={}).status_code == 200
        refused = server.api("alice", "POST", "/me/gallery-popup", json={"seen": True})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "seen"
        entries = server.api("alice", "GET", "/audit").json()["entries"]
        assert [e["user"] for e in entries if e["action"] == "dismiss_gallery_popup"] == ["alice"]
        # An operator made an admin opens the studio as an admin the first time.
        assert server.api("alice", "PUT", "/users/otto/role", json={"role": "admin"}).is_success
        assert popup("otto") is True


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A workspace with lab/one, lab/two and lab/sub/three (stopped), served by one
    JupyterLab whose OS account dismissed the pop-up in another workspace (as JupyterLab's
    settings remembered it before); yields its URL and token."""
    tmp = tmp_path_factory.mktemp("popup-focus")
    root = new_workspace(tmp / "ws")
    for name in ("lab/one", "lab/two", "lab/sub/three"):
        write_recipe(root, name)
    settings = tmp / "jupyter" / "config/lab/user-settings/lpstudio-studio"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"galleryShown": true}')
    with studio_lab(root, tmp / "jupyter") as served:
        yield served


def path_of(response: Any) -> str:
    """A response's URL path (JupyterLab adds a cache buster to the query)."""
    return str(urlsplit(response.url).path)


def close_popup(page: Any) -> None:
    """Waits for the gallery pop-up, and closes it (it is dismissed)."""
    popup = page.locator(".lps-gallery-popup")
    popup.locator(".lps-cards[data-loaded]").wait_for()
    with page.expect_response(lambda r: path_of(r) == f"{API}/me/gallery-popup") as dismissed:
        popup.get_by_role("button", name="Close").click()
    assert dismissed.value.ok, dismissed.value.text()


def test_the_gallery_pops_up_once_per_admin_and_workspace_on_one_os_account(
    lab: tuple[str, str],
) -> None:
    url, token = lab
    # Dismissed by this OS account in another workspace: it pops up in this one.
    with user_page("alice", url, token) as page:
        close_popup(page)
    # Another admin of the workspace, in the same OS account's JupyterLab: the pop-up too.
    with user_page("adam", url, token) as page:
        close_popup(page)
        # Dismissed, it stays away.
        with page.expect_response(lambda r: path_of(r) == f"{API}/me") as me:
            page.reload()
        assert me.value.json()["gallery_popup"] is False
        command(page, "lpstudio:open-gallery")
        page.locator(".lps-gallery .lps-cards[data-loaded]").first.wait_for()
        assert page.locator(".lps-gallery-popup").count() == 0


def test_start_and_stop_in_the_recipes_sidebar_keep_the_focus_on_their_row(
    lab: tuple[str, str],
) -> None:
    """An analyst's (no pop-up): the focus goes to the button that replaced the one pressed,
    and the rows that did not change are the ones drawn before."""
    url, token = lab
    with user_page("ana", url, token) as page:
        # The launcher JupyterLab opens takes the focus once, from whatever held it then.
        page.wait_for_function("() => document.activeElement?.closest('.jp-Launcher')")
        command(page, "lpstudio:open-recipes")
        panel = page.locator(".lps-recipes")
        row = panel.locator(".lps-recipe[data-recipe='lab/one.ipynb']")
        row.wait_for()
        others = panel.locator(".lps-recipe:not([data-recipe='lab/one.ipynb'])")
        assert others.count() == 2
        others.evaluate_all("rows => rows.forEach(r => r.lpsProbe = true)")

        press(page, panel.get_by_role("button", name=f"Start {ONE}", exact=True))
        panel.locator(".lps-recipe[data-recipe='lab/one.ipynb'][data-state=started]").wait_for()
        assert focused(page) == f"Stop {ONE}"
        press(page, panel.get_by_role("button", name=f"Stop {ONE}", exact=True))
        panel.locator(".lps-recipe[data-recipe='lab/one.ipynb'][data-state=stopped]").wait_for()
        assert focused(page) == f"Start {ONE}"
        assert others.evaluate_all("rows => rows.map(r => r.lpsProbe === true)") == [True, True]
