"""The Recipes sidebar says when a started schedule fires next, in the browser's time zone as
every time the lab shows (here Tokyo's, neither the server's nor the schedule's); a stopped
schedule says nothing of it. A real JupyterLab in chromium."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from lpstudio.studio import Studio

from .browser import chromium
from .conftest import write_recipe
from .test_next_run import next_nine_in_paris
from .test_studio_ui import API, command, studio_lab

TRIGGER = {"kind": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris"}


def test_the_recipes_sidebar_shows_a_started_schedule_s_next_run_in_the_browser_s_zone(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    for name in ("daily", "idle"):
        write_recipe(root, f"ops/{name}", metadata={"title": name, "trigger": TRIGGER})
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        studio.start("ops/daily.ipynb")
    with studio_lab(root, tmp_path / "jupyter") as (url, token), chromium() as browser:
        page = browser.new_context(
            viewport={"width": 1400, "height": 1000},
            extra_http_headers={"X-Test-User": "alice"},
            timezone_id="Asia/Tokyo",
        ).new_page()
        page.set_default_timeout(60_000)
        before = datetime.now(ZoneInfo("UTC"))

        def next_run() -> str:
            """The schedule's next run as the REST API gives it now."""
            rows = httpx.get(
                f"{url}{API}/recipes", headers={"X-Test-User": "alice"}, params={"token": token}
            ).json()["recipes"]
            return {row["recipe"]: row["next_run"] for row in rows}["ops/daily.ipynb"]

        # Read before the page and after it drew its own: 09:00 in Paris may pass between.
        first = next_run()
        page.goto(f"{url}/lab?reset&token={token}")
        command(page, "lpstudio:open-recipes")
        daily = page.locator(".lps-recipe[data-recipe='ops/daily.ipynb']")
        shown = daily.locator(".lps-next-run")
        shown.wait_for()
        idle = page.locator(".lps-recipe[data-recipe='ops/idle.ipynb']")
        idle.wait_for()
        last = next_run()
        said = shown.inner_text()
        in_tokyo = {
            iso: page.evaluate("iso => new Date(iso).toLocaleString()", iso)
            for iso in (first, last)
        }
        drawn = [iso for iso, local in in_tokyo.items() if said == f"next run: {local}"]
        assert drawn, (said, in_tokyo)
        assert idle.locator(".lps-next-run").count() == 0
    dues = {next_nine_in_paris(at).isoformat() for at in (before, datetime.now(ZoneInfo("UTC")))}
    assert {first, last} <= dues, (first, last, dues)
    # 09:00 in Paris is 17:00 (winter) or 16:00 (summer) in Tokyo: the browser's zone shown.
    due = datetime.fromisoformat(drawn[0])
    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%-I:00:00 PM") in said
