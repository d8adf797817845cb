"""A call, a webhook delivery, a callable's start and a new API client look at the started
recipes' files only: in a workspace of many recipes, none of the others is read, so each
costs the same with 15 recipes or 1,500. What each answers is unchanged: a stopped path is
not served, a stopped webhook's deliveries are kept, an unknown hook is not found."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lpstudio import studio as studio_module
from lpstudio.errors import InputError, NotFoundError
from lpstudio.recipe import Recipe
from lpstudio.studio import Studio
from tests.conftest import write_recipe

#: Recipes nobody started: callables, webhooks and schedules in other projects.
IDLE = 12


def _callable(root: Path, name: str, path: str) -> None:
    write_recipe(
        root,
        name,
        cells=("import lpstudio.kernel as lp", "lp.respond({'ok': True})"),
        metadata={"title": name, "trigger": {"kind": "callable", "path": path}},
    )


def _hook(root: Path, name: str) -> None:
    write_recipe(root, name, metadata={"title": name, "trigger": {"kind": "webhook"}})


@pytest.fixture
def studio(ws: Path) -> Iterator[Studio]:
    """mine/cb (at /call/cb) and mine/hook started, among `IDLE` x 3 recipes never started."""
    _callable(ws, "mine/cb", "cb")
    _callable(ws, "mine/cb2", "cb2")
    _hook(ws, "mine/hook")
    for n in range(IDLE):
        _callable(ws, f"other{n % 3}/idle_cb{n}", f"idle{n}")
        _hook(ws, f"other{n % 3}/idle_hook{n}")
        write_recipe(
            ws,
            f"other{n % 3}/team/nightly{n}",
            metadata={"title": "nightly", "trigger": {"kind": "schedule", "cron": "0 3 * * *"}},
        )
    with Studio.open(ws, user="alice") as opened:
        opened.start("mine/cb")
        opened.start("mine/hook")
        yield opened


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The recipes read from their files from now on (none is parsed from before)."""
    names: list[str] = []
    load = Recipe.load.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Recipe], path: Path, name: str) -> Recipe:
        names.append(name)
        return load(cls, path, name)

    studio_module._recipe_as_of.cache_clear()
    monkeypatch.setattr(Recipe, "load", classmethod(counted))
    return names


def test_a_call_reads_the_started_recipes_only(studio: Studio, loaded: list[str]) -> None:
    assert studio.endpoint("cb")["recipe"] == "mine/cb.ipynb"
    for stopped in ("idle3", "cb2", "nowhere"):  # never started, or no recipe's
        with pytest.raises(NotFoundError, match=f"no started callable recipe at '{stopped}'"):
            studio.endpoint(stopped)
    assert set(loaded) <= {"mine/cb.ipynb", "mine/hook.ipynb"}


def test_a_start_and_a_new_client_read_the_started_recipes_only(
    studio: Studio, loaded: list[str]
) -> None:
    studio.start("mine/cb2")
    client, _ = studio.api_clients.create("bot", ["cb", "cb2"])
    assert client["endpoints"] == ["cb", "cb2"]
    assert set(loaded) <= {"mine/cb.ipynb", "mine/cb2.ipynb", "mine/hook.ipynb"}
    # A path no started recipe serves is looked for among every recipe, as before.
    assert studio.api_clients.create("later", ["idle5"])[0]["endpoints"] == ["idle5"]
    with pytest.raises(InputError, match="no callable recipe serves the endpoint 'idle99'"):
        studio.api_clients.create("wrong", ["idle99"])


def test_a_delivery_reads_its_recipe_only(studio: Studio, loaded: list[str]) -> None:
    body = b'{"n": 1}'
    recipe, jobs, _ = studio.receive_webhook(studio.webhook_id("mine/hook.ipynb"), {}, body)
    assert (recipe.name, len(jobs)) == ("mine/hook.ipynb", 1)
    with pytest.raises(NotFoundError, match="no webhook 00000000"):
        studio.receive_webhook("0" * 40, {}, body)
    assert set(loaded) <= {"mine/hook.ipynb"}
    # A stopped webhook's deliveries are kept, until it starts: its file alone is read.
    idle = "other1/idle_hook4.ipynb"
    recipe, jobs, _ = studio.receive_webhook(studio.webhook_id(idle), {}, body)
    assert (recipe.name, jobs[0].status) == (idle, "queued")
    assert set(loaded) <= {"mine/hook.ipynb", idle}


def test_a_call_serves_no_started_recipe_that_is_a_link_or_behind_one_now(
    studio: Studio, ws: Path
) -> None:
    """A call looks each started name's folders up once, not through `realpath` per name;
    a name is still its notebook's real path, exactly."""
    projects = ws / "projects"
    studio.start("mine/cb2")
    (projects / "mine" / "cb2.ipynb").rename(projects / "other0" / "cb2.ipynb")
    (projects / "mine" / "cb2.ipynb").symlink_to("../other0/cb2.ipynb")
    assert studio.endpoint("cb")["recipe"] == "mine/cb.ipynb"
    with pytest.raises(NotFoundError, match="no started callable recipe at 'cb2'"):
        studio.endpoint("cb2")

    (projects / "mine").rename(projects / "real")  # moved away, and linked back
    (projects / "mine").symlink_to("real")
    with pytest.raises(NotFoundError, match="no started callable recipe at 'cb'"):
        studio.endpoint("cb")


def test_a_try_and_a_client_of_a_path_not_started_parse_the_callable_recipes_only(
    studio: Studio, ws: Path, loaded: list[str]
) -> None:
    """Neither may take a path a recipe not started names, so both look at every recipe's
    file, but a file that cannot be a callable's is not parsed (a new process parsed all
    1,500 of a large brand's: 2 s)."""
    copy = studio.try_template("cb_optin", "mine")
    assert studio.api_clients.create("later", ["idle5"])[0]["endpoints"] == ["idle5"]
    callables = {"mine/cb.ipynb", "mine/cb2.ipynb"} | {
        f"other{n % 3}/idle_cb{n}.ipynb" for n in range(IDLE)
    }
    read = {"templates/cb_optin.ipynb", "mine/cb_optin.ipynb", "mine/hook.ipynb"}  # started
    assert loaded and set(loaded) <= callables | read

    # One whose kind only a JSON escape spells is a callable all the same: its path is taken.
    text = copy.read_text(encoding="utf-8").replace('"callable"', '"c\\u0061llable"', 1)
    assert '"callable"' not in text
    (ws / "projects" / "mine" / "escaped.ipynb").write_text(text, encoding="utf-8")
    copy.unlink()
    again = json.loads(studio.try_template("cb_optin", "other0").read_text(encoding="utf-8"))
    assert again["metadata"]["lpstudio"]["trigger"]["path"] == "optin-2"
