"""The Dashboard's figures for every recipe, in a real JupyterLab in chromium.

With 40 recipes, its per-recipe chart named only every 4th bar, and its figures were only in
hover tooltips (the canvas an image labelled with the chart's title): the keyboard and a
screen reader could read no recipe's or day's counts. The chart grows with the number of
recipes, naming each bar, and each chart's figures are a table under it (its Figures).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import update

from lpstudio.models import Job, utcnow
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_ui import alice_lab, command

RECIPES = 40


def recipes_with_jobs(root: Path) -> None:
    """`p/r00`...`p/r39`, recipe i with i + 1 jobs, one of them failed from r20 on (written
    through the store: no kernel runs), all made at one instant: written across midnight
    (UTC), they would fall on two days."""
    made = utcnow()
    with Studio.open(root, user="alice") as studio:
        studio.store.dismiss_gallery_popup("alice")
        for i in range(RECIPES):
            name = f"p/r{i:02}.ipynb"
            notebook = write_recipe(root, name.removesuffix(".ipynb"))
            version = studio.store.snapshot(name, notebook.read_text(), {}, "alice")
            for n in range(i + 1):
                job = studio.store.create_job(
                    recipe=name, version_id=version, trigger="manual", user="alice"
                )
                studio.store.finish_job(job.id, "failed" if i >= 20 and n == 0 else "succeeded")
        with studio.store.write() as s:
            s.execute(update(Job).values(created_at=made))


def test_the_dashboard_names_every_recipe_s_bar_and_gives_its_figures_as_text(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    recipes_with_jobs(root)
    with alice_lab(root, tmp_path / "jupyter", close_gallery=False) as page:
        command(page, "lpstudio:open-dashboard")
        chart = page.locator(".lps-dashboard [data-chart=perRecipe]")
        figures = chart.locator("details.lps-figures")
        rows = figures.locator("tbody tr")
        expect(rows).to_have_count(RECIPES)

        # Room for each bar's name: the chart grows with the recipes, its canvas with it
        # (Chart.js resizes the canvas once it sees its area grow: waited for, not measured
        # at once).
        page.wait_for_function(
            """n => ['.lps-chart-area', 'canvas'].every(part => document.querySelector(
                `.lps-dashboard [data-chart=perRecipe] ${part}`
            ).getBoundingClientRect().height >= n)""",
            arg=RECIPES * 22,
        )

        # The figures, from the keyboard: folded under the chart, opened by Enter.
        table = figures.get_by_role("table")
        expect(table).to_be_hidden()
        figures.locator("summary").focus()
        page.keyboard.press("Enter")
        expect(table).to_be_visible()
        headers = table.locator("thead th").all_inner_texts()
        assert headers == ["recipe", "succeeded", "failed"], headers
        assert rows.nth(0).locator("th, td").all_inner_texts() == ["p/r00.ipynb", "1", "0"]
        last = rows.filter(has=page.get_by_role("rowheader", name="p/r39.ipynb", exact=True))
        assert last.locator("td").all_inner_texts() == ["39", "1"]

        # Each day's too: the day's count by status, under the chart of jobs per day.
        per_day = page.locator(".lps-dashboard [data-chart=perDay] details.lps-figures")
        per_day.locator("summary").click()
        day = per_day.locator("tbody tr")
        expect(day).to_have_count(1)  # every job was made on one day
        said = day.locator("td").all_inner_texts()
        total = sum(range(1, RECIPES + 1))
        assert said == ["0", "0", str(total - 20), "20", "0"], said
