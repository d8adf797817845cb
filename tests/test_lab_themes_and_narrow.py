"""The lab readable in JupyterLab's dark themes and in a narrow window, in a real JupyterLab
in chromium.

An error box, a status chip and a primary button keep their text at 4.5:1 or more against
their background (WCAG's ratio, from the computed colours) in JupyterLab Dark, Dark High
Contrast and Light: the dark themes' error background was light pink under near-white text.
At 900x700 the Jobs table scrolls sideways in a box of its own, its actions kept in sight,
the panel itself never scrolling sideways; a job's Error brings its message into view, not
its heading alone at the panel's bottom edge; each panel's tab has an icon, which is all a
collapsed tab shows.

One JupyterLab serves the module's tests (each opens its own page).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lpstudio.studio import Studio

from .browser import chromium
from .conftest import set_job, write_recipe
from .test_studio_ui import command, seed_finished_jobs, studio_lab

NAME = "billing/overdue_invoices_reminder"
RECIPE = f"{NAME}.ipynb"
THEMES = ("JupyterLab Dark", "JupyterLab Dark High Contrast", "JupyterLab Light")

#: WCAG's contrast ratio of an element's text on what is behind it: its colour blended over
#: its background, itself the element's and its ancestors' backgrounds blended down to the
#: first opaque one.
CONTRAST = """e => {
  // rgb(255, 0, 0), rgba(...) or, for a color-mix(), color(srgb 1 0 0 / 0.5)
  const parse = c => { const p = c.match(/[\\d.]+/g).map(Number);
    const k = c.startsWith('color(') ? 255 : 1;
    return { r: p[0] * k, g: p[1] * k, b: p[2] * k, a: p.length > 3 ? p[3] : 1 }; };
  const over = (f, b) => ({ r: f.r * f.a + b.r * (1 - f.a), g: f.g * f.a + b.g * (1 - f.a),
    b: f.b * f.a + b.b * (1 - f.a), a: 1 });
  const lum = c => [c.r, c.g, c.b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((l, v, i) => l + v * [0.2126, 0.7152, 0.0722][i], 0);
  const layers = [];
  for (let n = e; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c.a > 0) layers.push(c);
    if (c.a >= 1) break;
  }
  const back = layers.reverse().reduce((b, c) => over(c, b), { r: 255, g: 255, b: 255, a: 1 });
  const [a, b] = [lum(over(parse(getComputedStyle(e).color), back)), lum(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A workspace with a connection whose Test fails (its SQLite file outside the
    workspace), 30 finished jobs and a newer failed one; yields `open_page(width, height)`, a page
    of the admin alice's in a window that size."""
    tmp = tmp_path_factory.mktemp("themes")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(root, NAME, cells=("print(1)",))
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        studio.connections.add("broken", "sql", {"url": "sqlite:////elsewhere/x.db"}, "alice")
        seed_finished_jobs(studio, RECIPE, 30)
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=RECIPE, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        error = {"ename": "KeyError", "evalue": "'phone'", "traceback": ["KeyError: 'phone'"]}
        set_job(studio.store, job.id, status="failed", error=error)
    with studio_lab(root, tmp / "jupyter") as (url, token):

        @contextmanager
        def open_page(width: int, height: int) -> Iterator[Any]:
            with chromium() as browser:
                page = browser.new_context(
                    viewport={"width": width, "height": height},
                    extra_http_headers={"X-Test-User": "alice"},
                ).new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{url}/lab?reset&token={token}")
                yield page

        yield open_page


def use_theme(page: Any, theme: str) -> None:
    """Switches the lab to `theme`, as the Settings > Theme menu does, once it is loaded."""
    command(page, "apputils:change-theme", {"theme": theme})
    page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=theme)


def contrast(locator: Any) -> float:
    return float(locator.evaluate(CONTRAST))


def test_errors_chips_and_primary_buttons_are_readable_in_every_theme(
    lab: Any,
) -> None:
    open_page: Any = lab
    with open_page(1280, 900) as page:
        command(page, "lpstudio:open-connections")
        panel = page.locator("#lpstudio-connections")
        panel.locator("tr[data-connection=broken] .lps-test").click()
        error = panel.locator(".lps-message .lps-error")
        error.wait_for()
        command(page, "lpstudio:open-jobs")
        jobs = page.locator("#lpstudio-jobs")
        jobs.locator(".lps-status-failed").first.wait_for()
        for theme in THEMES:
            use_theme(page, theme)
            command(page, "lpstudio:open-connections")
            assert "fix: give a file inside the workspace" in error.inner_text()
            texts = [error, *error.locator("*").all()]  # its text, and its parts' if any
            chips = [panel.locator("tr[data-connection=broken] .lps-status")]
            chips.append(panel.locator(".lps-primary").first)  # New connection
            for text in [*texts, *chips]:
                ratio = contrast(text)
                assert ratio >= 4.5, (theme, text.inner_text(), ratio)
            command(page, "lpstudio:open-jobs")
            for status in ("succeeded", "failed"):
                chip = jobs.locator(f".lps-status-{status}").first
                ratio = contrast(chip)
                assert ratio >= 4.5, (theme, status, ratio)


def test_at_900_by_700_the_jobs_actions_and_an_error_are_in_sight(lab: Any) -> None:
    open_page: Any = lab
    with open_page(900, 700) as page:
        use_theme(page, "JupyterLab Dark")
        command(page, "lpstudio:open-jobs")
        panel = page.locator("#lpstudio-jobs")
        details = panel.locator(".lps-details-button").first
        details.wait_for()
        box = panel.bounding_box()
        # The panel never scrolls sideways: its filters stay where they are.
        assert panel.evaluate("p => p.scrollWidth <= p.clientWidth"), panel.evaluate(
            "p => [p.scrollWidth, p.clientWidth]"
        )
        for action in panel.locator("tr.lps-job").first.locator(".lps-actions button").all():
            seen = action.bounding_box()
            assert box["x"] <= seen["x"] and seen["x"] + seen["width"] <= box["x"] + box["width"], (
                action.inner_text(),
                seen,
                box,
            )
        # One line a row: the actions side by side, the start's date and time unwrapped.
        rows = panel.locator("tr.lps-job").evaluate_all(
            "rs => rs.map(r => r.getBoundingClientRect().height)"
        )
        assert max(rows) < 50, rows
        # Error of the newest job: its view is drawn below the page's 20 rows and the pager,
        # and scrolled to, its message in sight under its heading.
        failed = panel.locator("tr.lps-job-failed")
        failed.locator(".lps-error-button").click()
        message = panel.locator(".lps-details .lps-error-message")
        message.wait_for()
        seen = message.bounding_box()
        assert box["y"] <= seen["y"] and seen["y"] + seen["height"] <= box["y"] + box["height"], (
            seen,
            box,
        )
        # Every lpstudio tab shows an icon, all a tab squeezed at 200% zoom has room for.
        command(page, "lpstudio:open-connections")
        command(page, "lpstudio:open-dashboard")
        for label in ("Jobs", "Connections", "Dashboard"):
            tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=label)
            assert tab.locator(".lm-TabBar-tabIcon svg").count() == 1, label
