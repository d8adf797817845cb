"""A project's jobs are listed as one list: the jobs of every recipe in its folder and its
sub-folders (`shop` holds `shop/eu/cart.ipynb`), through the Python API, `lpstudio jobs
--project` and GET /jobs?project=, whose next page keeps the filter. A brand with 150
projects otherwise asked once per recipe. A deleted project's jobs stay listed by it, as a
deleted recipe's do; a name that is neither is refused, naming the field and the fix.

Jobs are written through the store: no kernel runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import Result
from tornado.httpclient import HTTPClientError

from lpstudio.errors import InputError
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.browser import screenshot
from tests.conftest import selects_on_jobs, wait_for, write_recipe
from tests.test_studio_ui import alice_lab, command

#: Recipes whose names sort around `shop/` (`shop-x`, `shop.x` and `shop0` just before and
#: after it, `shopping` after it), so only a filter by folder keeps the project's own.
RECIPES = (
    "shop/cart",
    "shop/eu/cart",
    "shop/eu/winback",
    "shop-x/cart",
    "shop.x/cart",
    "shop0/cart",
    "shopping/cart",
    "top",
)


@pytest.fixture
def jobs(ws: Path) -> dict[str, int]:
    """One job of each of `RECIPES`, by name, oldest first."""
    found = {}
    with Studio.open(ws, user="alice") as studio:
        for name in RECIPES:
            write_recipe(ws, name)
            version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
            job = studio.store.create_job(
                recipe=f"{name}.ipynb", version_id=version, trigger="manual", user="alice"
            )
            found[name] = job.id
    return found


def newest_first(jobs: dict[str, int], *names: str) -> list[int]:
    return sorted((jobs[name] for name in names), reverse=True)


SHOP = ("shop/cart", "shop/eu/cart", "shop/eu/winback")


def test_a_project_lists_the_jobs_of_its_recipes_and_its_sub_folders(
    ws: Path, jobs: dict[str, int]
) -> None:
    with Studio.open(ws, user="alice") as studio:
        for typed in ("shop", "shop/", "projects/shop"):  # as JupyterLab's file browser too
            assert [j.id for j in studio.jobs(project=typed)] == newest_first(jobs, *SHOP)
        eu = [j.id for j in studio.jobs(project="shop/eu")]
        assert eu == newest_first(jobs, "shop/eu/cart", "shop/eu/winback")
        assert [j.id for j in studio.jobs(project=".")] == newest_first(jobs, *RECIPES)
        frame = studio.jobs_frame(project="shop")
        assert list(frame.index) == newest_first(jobs, *SHOP)
        assert set(frame["recipe"]) == {f"{name}.ipynb" for name in SHOP}
        # With a recipe, both apply: the recipe's jobs; one outside the project is refused.
        both = studio.jobs(project="shop", recipe="shop/eu/cart.ipynb")
        assert [j.id for j in both] == [jobs["shop/eu/cart"]]
        with pytest.raises(InputError) as outside:
            studio.jobs(project="shop/eu", recipe="shop/cart.ipynb")
        assert outside.value.field == "project"
        assert "shop/cart.ipynb is not in project shop/eu" in outside.value.message
        assert "the recipe alone, or the project alone" in str(outside.value.fix)


def test_a_deleted_project_s_jobs_are_listed_and_a_name_with_neither_is_refused(
    ws: Path, jobs: dict[str, int]
) -> None:
    shutil.rmtree(ws / "projects" / "shop")
    with Studio.open(ws, user="alice") as studio:
        assert [j.id for j in studio.jobs(project="shop")] == newest_first(jobs, *SHOP)
        for typed, said in [
            ("nowhere", "project nowhere is no folder under projects/ and none of its"),
            ("sho", "project sho is no folder under projects/"),  # a prefix of one is none
            ("", "no project given"),
            ("  ", "no project given"),
            ("/etc", "project folder /etc is outside projects/"),
            ("top.ipynb", "projects/top.ipynb is not a project folder"),
        ]:
            with pytest.raises(InputError) as refused:
                studio.jobs(project=typed)
            assert refused.value.field == "project", typed
            assert said in refused.value.message, (typed, refused.value.message)
            assert refused.value.fix, typed


def test_the_cli_lists_a_project_s_jobs_and_names_its_option_when_refused(
    cli: Callable[..., Result], jobs: dict[str, int]
) -> None:
    result = cli("jobs", "--project", "shop/eu", "--json")
    assert result.exit_code == 0, result.output
    listed = [job["id"] for job in json.loads(result.stdout)]
    assert listed == newest_first(jobs, "shop/eu/cart", "shop/eu/winback")
    table = cli("jobs", "--project", "shop")
    assert table.exit_code == 0, table.output
    assert "shop/eu/winback.ipynb" in table.stdout and "shopping" not in table.stdout
    refused = cli("jobs", "--project", "nowhere", "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "--project" and "lpstudio recipes" in error["fix"], error


async def _jobs(jp_fetch: Any, **params: str) -> dict[str, Any]:
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "jobs", params=params, headers={"X-Test-User": "alice"}
    )
    assert answer.code == 200, answer.body
    return json.loads(answer.body)


async def test_rest_pages_a_project_s_jobs_keeping_the_filter_in_next(
    jp_fetch: Any, jobs: dict[str, int]
) -> None:
    page = await _jobs(jp_fetch, project="shop", limit="2")
    ids = [row["id"] for row in page["jobs"]]
    assert page["next"] is not None
    query = {k: v for k, [v] in parse_qs(urlsplit(page["next"]).query).items()}
    assert query["project"] == "shop" and query["before"] == str(ids[-1]), query
    rest = await _jobs(jp_fetch, **query)
    assert ids + [row["id"] for row in rest["jobs"]] == newest_first(jobs, *SHOP)
    assert rest["next"] is None


async def test_rest_refuses_a_project_that_is_no_folder_and_has_no_jobs(
    jp_fetch: Any, jobs: dict[str, int]
) -> None:
    for params, said in [
        ({"project": "nowhere"}, "project nowhere is no folder"),
        ({"project": "shop", "recipe": "top.ipynb"}, "top.ipynb is not in project shop"),
    ]:
        with pytest.raises(HTTPClientError) as refused:
            await _jobs(jp_fetch, **params)
        assert refused.value.code == 400
        error = json.loads(refused.value.response.body)["error"]
        assert error["field"] == "project" and said in error["message"], error
        assert error["fix"], error


def test_a_project_s_jobs_are_read_through_the_recipe_index(ws: Path, jobs: dict[str, int]) -> None:
    """Not a scan of every job: a range of an index on the recipe (a `LIKE` read none)."""
    with Studio.open(ws, user="alice") as studio:
        store: Store = studio.store
        statements = selects_on_jobs(store, lambda: store.list_jobs(project="shop", limit=50))
        [(statement, parameters)] = statements
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    details = [row[-1] for row in plan]
    searched = [d for d in details if d.startswith("SEARCH jobs USING INDEX ix_jobs_recipe_")]
    assert searched and searched[0].endswith("(recipe>? AND recipe<?)"), details
    assert not [d for d in details if d.startswith("SCAN jobs")], details


def test_the_jobs_panel_filters_by_project_and_says_a_refused_one_in_its_terms(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    jobs = {}
    with Studio.open(root, user="alice") as studio:
        for name in ("shop/cart", "shop/eu/cart", "shopping/cart"):
            write_recipe(root, name)
            version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
            jobs[name] = studio.store.create_job(
                recipe=f"{name}.ipynb", version_id=version, trigger="manual", user="alice"
            ).id
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs")
        panel = page.locator(".lps-jobs:visible")
        listed = panel.locator("tr.lps-job")
        wait_for(lambda: listed.count() == 3, 30, "every job")
        project = panel.get_by_role("textbox", name="Project")
        project.fill("shop")
        project.press("Enter")
        wait_for(lambda: listed.count() == 2, 30, "the project's jobs only")
        shown = [int(str(listed.nth(i).get_attribute("data-job"))) for i in range(2)]
        assert shown == newest_first(jobs, "shop/cart", "shop/eu/cart")

        project.fill("nowhere")
        project.press("Enter")
        error = panel.locator(".lps-message .lps-error")
        error.wait_for()
        text = error.inner_text()
        assert "project nowhere" in text and "field: project" in text, text
        assert "as the Recipes sidebar groups the recipes" in text, text
        assert "/lpstudio/api/v1" not in text, text
        assert project.get_attribute("aria-invalid") == "true"
        assert listed.count() == 0 and "No jobs." not in panel.inner_text()
        screenshot(page, "studio-jobs-unknown-project")
