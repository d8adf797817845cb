"""A refusal quotes what was given, never a secret of the workspace in it: a parameter's
type, pattern, choice or template check, and an event given by hand, quote the value with the
secret masked (`****`), in the same words whichever way it came (the Python API, the form,
the CLI, the REST API). In a notebook the refusal's traceback is cell output, and each save
of the notebook keeps it as a version.

A real workspace on the sandbox (its `liveperson` connection holds the secret), the real
form's widgets, the real CLI in process and the REST API inside a real Jupyter server."""

from __future__ import annotations

import html
import json
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.errors import InputError, LpstudioError
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm

from .conftest import job_rows, write_recipe

#: The sandbox's client secret, held by the `liveperson` connection of `sandbox_ws`.
SECRET = "sandbox-secret"
RECIPE = "multi/types"
PARAMETERS = 'phone: str = "+14155550100"\nlimit: int | None = None'
E164 = "a phone number in E.164 (+, the country code and the number, digits only)"


@pytest.fixture
def types_ws(sandbox_ws: Path) -> Path:
    """The analyst's recipe: a phone with the E.164 pattern, and an optional integer."""
    metadata = {"title": "types", "parameters": {"phone": {"pattern": "^\\+[1-9][0-9]{7,14}$"}}}
    write_recipe(sandbox_ws, RECIPE, PARAMETERS, ("print(limit)",), metadata)
    return sandbox_ws


@pytest.fixture
def opened(types_ws: Path) -> Iterator[Studio]:
    with Studio.open(types_ws, user="alice") as studio:
        yield studio


def refusal(act: Callable[[], Any]) -> LpstudioError:
    """The error `act` raises, checked to hold no secret anywhere a user may see it: its
    message, field and fix, and the traceback a notebook shows of it."""
    with pytest.raises(InputError) as refused:
        act()
    shown = "".join(traceback.format_exception(refused.value))
    assert SECRET not in shown.lower(), shown
    assert SECRET not in json.dumps(refused.value.to_dict()).lower()
    return refused.value


def cli_error(ws: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*args, "--workspace", str(ws), "--json"])
    assert result.exit_code == 2, result.output
    return dict(json.loads(result.stdout)["error"])


def shown(widget_html: str) -> str:
    return html.unescape(widget_html)


# -- the Python API --------------------------------------------------------------------------

GIVEN = {
    "a text of the wrong type": ({"limit": SECRET}, {"limit"}, 'expects an integer, got "****"'),
    "a value of the wrong type": ({"limit": SECRET}, set(), 'an integer, got the string "****"'),
    "a pattern's refusal": ({"phone": SECRET}, set(), f'expects {E164}, got "****"'),
    "inside a text": ({"phone": f"+1{SECRET}"}, set(), f'expects {E164}, got "+1****"'),
    "as a parameter's name": ({SECRET: 1}, set(), "unknown parameter '****' for multi/types"),
}


@pytest.mark.parametrize(("values", "parse", "said"), GIVEN.values(), ids=GIVEN.keys())
def test_the_python_api_quotes_a_refused_value_with_the_secret_masked(
    opened: Studio, types_ws: Path, values: dict[str, Any], parse: set[str], said: str
) -> None:
    """The analyst's case: the type or pattern check refused the value before the check for
    a held secret ran, and quoted it whole."""
    runs: dict[str, Callable[[], Any]] = {
        "run": lambda: opened.run(RECIPE, values, parse=parse),
        "test": lambda: opened.run(RECIPE, values, parse=parse, test=True),
        "dispatch": lambda: opened.dispatch(RECIPE, values, parse=parse),
        "prepare": lambda: opened.prepare(RECIPE, values, parse=parse),
        "save_settings": lambda: opened.save_settings(RECIPE, values, parse=parse),
    }
    for name, act in runs.items():
        error = refusal(act)
        assert said in error.message, (name, error.message)
    assert job_rows(types_ws) == 0


def test_the_form_s_field_errors_and_buttons_quote_the_secret_masked(opened: Studio) -> None:
    form = RecipeForm(RECIPE, opened)
    limit, phone = form.fields["limit"], form.fields["phone"]

    limit.input.value = SECRET
    assert 'got "****"' in shown(limit.error.value) and SECRET not in limit.error.value
    for press in (form.save, form.test, form.run_now):
        press()
        assert 'got "****"' in shown(form.status.value), press
        assert SECRET not in form.status.value
    limit.input.value = ""
    phone.input.value = f"+1{SECRET}"
    assert f'expects {E164}, got "+1****"' in shown(phone.error.value)
    assert form.save() is False and SECRET not in form.status.value
    form.close()


def test_the_form_the_python_api_and_the_cli_say_the_same(opened: Studio, types_ws: Path) -> None:
    for name, text in (("limit", SECRET), ("phone", f"+1{SECRET}")):
        said = cli_error(types_ws, "run", RECIPE, "-p", name, text)
        error = refusal(lambda: opened.run(RECIPE, {name: text}, parse={name}))  # noqa: B023
        assert error.to_dict() == said
        form = RecipeForm(RECIPE, opened)
        form.fields[name].input.value = text
        assert shown(form.fields[name].error.value).endswith(
            f"{said['message']} (fix: {said['fix']})</span>"
        )
        form.close()


# -- the REST API ----------------------------------------------------------------------------


@pytest.fixture
def served_workspace(types_ws: Path) -> Path:
    return types_ws


async def rest(jp_fetch: Any, method: str, *path: str, body: Any) -> tuple[int, Any]:
    answer = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        *path,
        method=method,
        body=json.dumps(body),
        headers={"X-Test-User": "alice"},
        raise_error=False,
    )
    return answer.code, json.loads(answer.body)


async def test_the_rest_api_and_the_python_api_say_the_same(
    jp_fetch: Any, opened: Studio, types_ws: Path
) -> None:
    recipe = ("recipes", "multi", "types.ipynb")
    for name, value in (("limit", SECRET), ("phone", f"+1{SECRET}")):
        body = {"parameters": {name: value}}
        code, answer = await rest(jp_fetch, "PUT", *recipe, "settings", body=body)
        assert code == 400, answer
        error = refusal(lambda: opened.save_settings(RECIPE, body["parameters"]))  # noqa: B023
        assert error.to_dict() == answer["error"]
        code, answer = await rest(jp_fetch, "POST", *recipe, "run", body=body)
        assert code == 400 and error.to_dict() == answer["error"]
    assert answer["error"]["message"].endswith('got "+1****"')
    assert job_rows(types_ws) == 0


# -- events given by hand ----------------------------------------------------------------------


def test_an_event_given_by_hand_is_quoted_with_the_secret_masked(types_ws: Path) -> None:
    """An event is checked for its shape before it is checked for a held secret: a schedule
    recipe's due time, and a webhook recipe's input schema, quoted what was given."""
    schedule = {"title": "tick", "trigger": {"kind": "schedule", "cron": "0 9 * * *"}}
    write_recipe(types_ws, "p/tick", metadata=schedule)
    schema = {
        "type": "object",
        "properties": {"email": {"type": "string", "format": "email"}, "n": {"type": "integer"}},
    }
    lead = {"title": "lead", "trigger": {"kind": "webhook", "input_schema": schema}}
    write_recipe(types_ws, "p/lead", metadata=lead)
    cases = [
        ("p/tick", {"due_at": SECRET}, "ISO 8601 text in due_at, not '****'"),
        ("p/lead", {"email": f"ada.{SECRET}"}, "email: \"ada.****\" is not a 'email'"),
        ("p/lead", {"n": SECRET}, "n: \"****\" is not of type 'integer'"),
    ]
    with Studio.open(types_ws, user="alice") as studio:
        for recipe, event, said in cases:
            for test in (False, True):
                error = refusal(lambda: studio.run(recipe, event=event, test=test))  # noqa: B023
                assert said in error.message
            error = refusal(lambda: studio.dispatch(recipe, event=event))  # noqa: B023
            assert said in error.message
            given = cli_error(types_ws, "run", recipe, "--event", json.dumps(event))
            assert given["message"] == error.message.replace("event", "--event", 1)
    assert job_rows(types_ws) == 0


# -- message templates -------------------------------------------------------------------------


def test_a_template_or_a_record_s_field_is_quoted_with_the_secret_masked(types_ws: Path) -> None:
    recipe = "shop/cart_abandonment"
    with Studio.open(types_ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "shop")
        for values, said in (
            ({"body_variables": {"1": f"Hi {{{SECRET}}}"}}, "unknown placeholder {****}"),
            ({"body_variables": {SECRET: "Hi"}}, 'the name "****" is not a variable\'s number'),
            ({"consumer_id": SECRET}, '"****" is not a field of the recipe\'s record'),
            ({"channel": SECRET}, '"****" is not one of ["sms", "wa"]'),
        ):
            error = refusal(lambda: studio.save_settings(recipe, values))  # noqa: B023
            assert said in error.message, error.message

        form = RecipeForm(recipe, studio)
        form.wait()
        section = form.proactive
        assert section is not None
        section.variables["1"].value = f"Hi {{{SECRET}}}"
        assert form.save() is False
        assert "variable 1: unknown placeholder {****}" in shown(form.status.value)
        assert "unknown placeholder {****}" in shown(section.preview.value)
        assert SECRET not in form.status.value and "placeholder {sandbox" not in shown(
            section.preview.value
        )
        form.close()
