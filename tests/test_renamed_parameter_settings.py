"""A value saved for a parameter the notebook renamed since (`note` to `memo`, as the README's
`count` to `n_contacts`): every save of any field, the reset its own fix named, each run and
Start were refused with "unknown parameter 'note'", over the CLI, the REST API and the
notebook's form alike, until the rename was undone. A save forgets it now, saying so with its
value; a reset forgets it by name; runs and starts say that reset, in each surface's terms."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from lpstudio.server.fixes import answer_in_rest_terms
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from lpstudio.widgets.common import lab_text

from .conftest import write_recipe
from .servers import API, serving

BEFORE = 'note: str = "none"  # a note\nx: int = 1  # a number'
AFTER = 'memo: str = "none"  # a note\nx: int = 1  # a number'


def renamed(ws: Path, name: str) -> str:
    """A recipe with "hello" saved for `note`, which its notebook then renamed `memo`."""
    write_recipe(ws, name, parameters=BEFORE)
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings(name, {"note": "hello"})
    write_recipe(ws, name, parameters=AFTER)
    return f"{name}.ipynb"


def shown(widget_html: str) -> str:
    """What an HTML widget shows, without its markup."""
    return html.unescape(re.sub("<[^>]*>", "", widget_html))


def saved(ws: Path, recipe: str) -> dict[str, object]:
    with Studio.open(ws, user="alice") as studio:
        return dict(saved_settings(studio.store, recipe).get("parameters", {}))


def test_the_cli_says_the_reset_that_forgets_it_and_the_reset_does(
    ws: Path, cli: Callable[..., Result]
) -> None:
    recipe = renamed(ws, "billing/r2")
    fix = f"forget it with `lpstudio settings {recipe} --reset note`"

    shown = cli("settings", "billing/r2")
    assert shown.exit_code == 0, shown.output
    assert "a value is saved for parameter 'note'" in shown.output, shown.output
    assert fix in shown.output, shown.output
    for refused in (cli("run", "billing/r2"), cli("start", "billing/r2")):
        assert refused.exit_code == 2, refused.output
        assert "parameter 'note'" in refused.stderr and fix in refused.stderr, refused.stderr

    reset = cli("settings", "billing/r2", "--reset", "note")
    assert reset.exit_code == 0, reset.stderr
    assert "warning" not in reset.stderr and "not ready" not in reset.output, reset.output
    assert saved(ws, recipe) == {}


def test_a_save_of_another_field_forgets_it_and_warns_with_its_value(
    ws: Path, cli: Callable[..., Result]
) -> None:
    recipe = renamed(ws, "billing/r2")
    result = cli("settings", "billing/r2", "-p", "x", "2", "--json")
    assert result.exit_code == 0, result.stderr
    warning = json.loads(result.stdout)["warnings"][0]
    assert warning["field"] == "note", warning
    assert "forgot the value saved for parameter 'note' (\"hello\")" in warning["message"]
    assert "memo, x" in warning["fix"], warning
    assert "warning: forgot the value saved for parameter 'note'" in result.stderr
    assert saved(ws, recipe) == {"x": 2}


def test_rest_says_and_takes_its_reset_and_a_save_forgets_it(ws: Path) -> None:
    reset, other = renamed(ws, "billing/r2"), renamed(ws, "billing/r3")
    with serving(ws, "--LpstudioApp.scheduler=False") as server:
        detail = server.api("alice", "GET", f"/recipes/{reset}").json()
        fix = f'forget it with PUT {API}/recipes/{reset}/settings {{"reset": ["note"]}}'
        assert detail["settings_problem"]["fix"] == fix, detail["settings_problem"]
        run = server.api("alice", "POST", f"/recipes/{reset}/run", json={})
        assert run.status_code == 400 and run.json()["error"]["fix"] == fix, run.text

        answer = server.api("alice", "PUT", f"/recipes/{reset}/settings", json={"reset": ["note"]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["warnings"] == [] and answer.json()["settings_problem"] is None

        body = {"parameters": {"memo": "x"}}
        answer = server.api("alice", "PUT", f"/recipes/{other}/settings", json=body)
        assert answer.status_code == 200, answer.text
        [warning] = answer.json()["warnings"]
        assert warning["field"] == "note" and '"hello"' in warning["message"], warning
        assert answer.json()["settings"]["parameters"] == {"memo": "x"}
    assert saved(ws, reset) == {} and saved(ws, other) == {"memo": "x"}


def test_the_forms_save_forgets_it_and_its_run_now_runs(studio: Studio, ws: Path) -> None:
    recipe = renamed(ws, "billing/r2")
    form = RecipeForm("billing/r2", studio)
    assert "a value is saved for parameter 'note'" in shown(form.problem.value)
    assert form.save() is True, form.status.value
    said = shown(form.status.value)
    assert "forgot the value saved for parameter 'note' (\"hello\")" in said, said
    assert saved(ws, recipe) == {} and form.problem.value == ""

    form.close()

    recipe = renamed(ws, "billing/r3")
    form = RecipeForm("billing/r3", studio)
    form.run_now()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert saved(ws, recipe) == {}
    form.close()


def test_its_fix_is_said_in_the_studios_terms_where_the_user_is(studio: Studio, ws: Path) -> None:
    """The notebook's form said `save another value with \\`lpstudio settings ... -p note
    ...\\`, or forget it with --reset note`, the lab's Settings and Recipes sidebar the same
    as REST routes: neither works there (a value for `note` is refused), nor is either the
    studio's way. Save is: it forgets the value (the lab's sends its reset)."""
    recipe = renamed(ws, "billing/r2")
    form = RecipeForm("billing/r2", studio)
    said = shown(form.problem.value)
    assert said.endswith("fix: click Save below, which forgets the value saved for note"), said
    form.close()

    problem = answer_in_rest_terms(studio.recipe_detail(recipe))["settings_problem"]
    assert "PUT " in problem["fix"], problem  # as the lab is answered
    for where in ("below", f"in the Settings of {recipe}"):  # its Settings, its sidebar
        fix = lab_text(problem["fix"], where)
        assert fix == f"click Save {where}, which forgets the value saved for note", fix
