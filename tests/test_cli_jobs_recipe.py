"""`lpstudio jobs --recipe` reads a recipe as every command does (its name under projects/,
the path JupyterLab shows, a path from the current folder), and a recipe's jobs outlive it:
a deleted recipe's name still lists them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from lpstudio.studio import Studio

from .conftest import write_recipe


def recorded_job(ws: Path, name: str) -> int:
    """A job of the recipe `name`, written straight to the store (no kernel)."""
    write_recipe(ws, name)
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe=f"{name}.ipynb", version_id=version, trigger="manual", user="alice"
        )
        return job.id


def listed(cli: Callable[..., Result], recipe: str) -> list[int]:
    result = cli("jobs", "--recipe", recipe, "--json")
    assert result.exit_code == 0, result.output
    return [job["id"] for job in json.loads(result.stdout)]


def typings(ws: Path) -> list[str]:
    """`shop/abandoned.ipynb` as a person types it from the recipe's folder."""
    return [
        "shop/abandoned.ipynb",
        "shop/abandoned",
        "projects/shop/abandoned.ipynb",  # as JupyterLab's file browser shows it
        "projects/shop/abandoned",
        "abandoned.ipynb",  # from the current folder
        "./abandoned",
        str(ws / "projects" / "shop" / "abandoned.ipynb"),
    ]


@pytest.fixture
def jobs(ws: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A job of `shop/abandoned` and one of `shop/other`, typed from `projects/shop/`."""
    found = {name: recorded_job(ws, name) for name in ("shop/abandoned", "shop/other")}
    monkeypatch.chdir(ws / "projects" / "shop")
    return found


def test_every_typing_of_a_recipe_lists_its_jobs(
    ws: Path, cli: Callable[..., Result], jobs: dict[str, int]
) -> None:
    for typed in typings(ws):
        assert listed(cli, typed) == [jobs["shop/abandoned"]], typed


def test_a_deleted_recipe_s_jobs_are_listed_by_its_name_as_typed(
    ws: Path, cli: Callable[..., Result], jobs: dict[str, int]
) -> None:
    (ws / "projects" / "shop" / "abandoned.ipynb").unlink()
    for typed in typings(ws):
        assert listed(cli, typed) == [jobs["shop/abandoned"]], typed
    never = cli("jobs", "--recipe", "shop/never", "--json")  # no file, no jobs
    assert never.exit_code == 2, never.output
    assert "recipe shop/never not found" in json.loads(never.stdout)["error"]["message"]


@pytest.mark.parametrize("deleted", [False, True])
def test_a_typing_that_names_two_recipes_is_refused(
    ws: Path, cli: Callable[..., Result], jobs: dict[str, int], deleted: bool
) -> None:
    """With a project named `projects`, `projects/shop/abandoned.ipynb` is the recipe
    JupyterLab shows there, or `shop/abandoned.ipynb` of the project `projects`: refused,
    naming both, as `run` refuses it, whether or not the first is deleted (its jobs remain)."""
    other = recorded_job(ws, "projects/shop/abandoned")
    if deleted:
        (ws / "projects" / "shop" / "abandoned.ipynb").unlink()
    result = cli("jobs", "--recipe", "projects/shop/abandoned.ipynb", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "--recipe" and "could be" in error["message"], error
    for path in ("projects/shop/abandoned.ipynb", "projects/projects/shop/abandoned.ipynb"):
        assert str(ws / path) in error["message"], error
    assert listed(cli, str(ws / "projects/projects/shop/abandoned.ipynb")) == [other]
    assert listed(cli, str(ws / "projects/shop/abandoned.ipynb")) == [jobs["shop/abandoned"]]
