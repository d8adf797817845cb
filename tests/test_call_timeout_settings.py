"""`lpstudio settings R --call-timeout SECONDS`: a callable recipe's own call timeout (how
long its caller waits for its answer) saved from the command line as the REST API's `PUT
.../settings {"call_timeout": ...}` saves it, shown, forgotten with `--reset call_timeout`,
and refused by the option's name before anything is saved; a fix naming either is said
in the lab as the Call timeout field of the recipe's Settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lpstudio.settings import read_settings, update_settings
from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text

from .conftest import write_recipe

CALLABLE = {
    "title": "bot",
    "trigger": {"kind": "callable", "path": "bot", "input_schema": {"type": "object"}},
}


@pytest.fixture
def recipes(ws: Path) -> Path:
    """`p/bot` callable, `p/hook` a webhook recipe."""
    write_recipe(ws, "p/bot", metadata=CALLABLE)
    write_recipe(ws, "p/hook", metadata={"title": "hook", "trigger": {"kind": "webhook"}})
    return ws


def saved(ws: Path, recipe: str) -> dict:
    with Studio.open(ws) as studio:
        return read_settings(studio.store, recipe).settings


def test_a_call_timeout_is_saved_shown_and_reset_to_the_server_s(recipes: Path, cli) -> None:
    before = cli("settings", "p/bot")
    assert before.exit_code == 0, before.output
    # No server here: what `lpstudio serve` would use, as a number, and that one may differ.
    assert "call timeout: 15 s, the server's default (LpstudioApp.call_timeout, unless the " in (
        before.output
    )
    assert "--call-timeout SECONDS" in before.output

    set_ = cli("settings", "p/bot", "--call-timeout", "45")
    assert set_.exit_code == 0, set_.output
    assert "call timeout: 45 s (this recipe's" in set_.output
    assert saved(recipes, "p/bot.ipynb")["call_timeout"] == 45
    assert json.loads(cli("settings", "p/bot", "--json").stdout)["call_timeout"] == 45

    reset = cli("settings", "p/bot", "--reset", "call_timeout", "--json")
    assert reset.exit_code == 0, reset.output
    assert "call_timeout" not in json.loads(reset.stdout)
    # A script reads the wait that applies as the text says it: lpstudio serve's default.
    assert json.loads(reset.stdout)["call_timeout_default"] == 15
    assert "call_timeout" not in saved(recipes, "p/bot.ipynb")
    assert "call timeout: 15 s, the server's default" in cli("settings", "p/bot").output


#: What a save of a call timeout past 18 s warns: Conversation Builder gives up at 20 s.
BOT_GIVES_UP = (
    "a call timeout of 45 s outlasts a Conversation Builder caller: it gives up at 20 s, "
    "whatever the server allows, so past 18 s it never gets the JSON 504 it could branch on"
)


def test_a_call_timeout_past_a_bot_s_wait_is_saved_with_a_warning(recipes: Path, cli) -> None:
    """Nothing said that a bot gives up at 20 s whatever the server allows: past 18 s it
    lost the 504 it could branch on. Saved (another caller may wait), and warned of, with
    the way to answer at once and poll, as the other warnings of a save are said."""
    set_ = cli("settings", "p/bot", "--call-timeout", "45")
    assert set_.exit_code == 0, set_.output
    assert f"warning: {BOT_GIVES_UP}\n  fix: for longer work answer at once and poll: " in (
        set_.stderr
    )
    assert "?mode=async" in set_.stderr
    assert "`lpstudio settings p/bot.ipynb --call-timeout 18`" in set_.stderr
    assert saved(recipes, "p/bot.ipynb")["call_timeout"] == 45
    (warning,) = json.loads(cli("settings", "p/bot", "--call-timeout", "45", "--json").stdout)[
        "warnings"
    ]
    assert warning["field"] == "call_timeout" and warning["message"] == BOT_GIVES_UP, warning
    # Any save while it stands says it: one saved before the warning existed is told too.
    other = cli("settings", "p/bot", "-p", "x", "8")
    assert other.exit_code == 0 and f"warning: {BOT_GIVES_UP}" in other.stderr, other.output
    # Within a bot's wait: nothing to warn of.
    within = cli("settings", "p/bot", "--call-timeout", "18")
    assert within.exit_code == 0 and "warning" not in within.stderr, within.output
    other = cli("settings", "p/bot", "-p", "x", "9")
    assert other.exit_code == 0 and "warning" not in other.stderr, other.output


def test_a_call_timeout_past_a_bot_s_wait_is_warned_of_wherever_it_is_shown(
    recipes: Path, cli
) -> None:
    """Warned of once, by the save that made it: read later (`lpstudio settings R`,
    `lpstudio recipes`), a wait the bot does not sit out was shown with nothing said. Now
    said there too, in the save's words; a webhook's left value is not (no caller waits)."""
    cli("settings", "p/bot", "--call-timeout", "45")
    with Studio.open(recipes) as studio:  # left from when it was callable
        update_settings(studio.store, "p/hook.ipynb", lambda s: {**s, "call_timeout": 25.0}, "a")
    shown = cli("settings", "p/bot")
    assert shown.exit_code == 0, shown.output
    assert f"warning: {BOT_GIVES_UP}\n  fix: for longer work answer at once and poll: " in (
        shown.stderr
    )
    assert "`lpstudio settings p/bot.ipynb --call-timeout 18`" in shown.stderr
    assert "call timeout: 45 s (this recipe's" in shown.stdout  # stdout stays the settings
    (warning,) = json.loads(cli("settings", "p/bot", "--json").stdout)["warnings"]
    assert warning["field"] == "call_timeout" and warning["message"] == BOT_GIVES_UP, warning
    assert "warning" not in cli("settings", "p/hook").stderr

    listed = cli("recipes")
    assert listed.exit_code == 0, listed.output
    bot, hook = listed.stdout.split("  bot.ipynb")[1].split("  hook.ipynb")
    assert f"\n    warning: {BOT_GIVES_UP}\n    fix: for longer work answer at once " in bot
    assert "warning" not in hook
    rows = {r["recipe"]: r for r in json.loads(cli("recipes", "--json").stdout)}
    assert [w["message"] for w in rows["p/bot.ipynb"]["warnings"]] == [BOT_GIVES_UP]
    assert rows["p/hook.ipynb"]["warnings"] == []

    cli("settings", "p/bot", "--call-timeout", "18")  # within a bot's wait: nothing to say
    assert "warning" not in cli("settings", "p/bot").stderr
    assert "warning" not in cli("recipes").stdout


def test_a_recipe_nobody_calls_shows_no_call_timeout(recipes: Path, cli) -> None:
    shown = cli("settings", "p/hook")
    assert shown.exit_code == 0, shown.output
    assert "call timeout" not in shown.output
    assert not {"call_timeout", "call_timeout_default"} & set(
        json.loads(cli("settings", "p/hook", "--json").stdout)
    )


@pytest.mark.parametrize("given", ["0", "-1", "601", "abc", "nan"])
def test_a_call_timeout_out_of_range_is_refused_by_its_option_and_nothing_is_saved(
    recipes: Path, cli, given: str
) -> None:
    cli("settings", "p/bot", "--call-timeout", "30")
    refused = cli("settings", "p/bot", f"--call-timeout={given}", "-p", "x", "7")
    assert refused.exit_code == 2, refused.output
    shown = repr(given) if given == "abc" else given  # as typed: `0`, not `0.0`
    assert (
        f"--call-timeout must be a number of seconds above 0, up to 600, not {shown}"
        in refused.output
    )
    assert "fix: give e.g. 15" in refused.output and "Traceback" not in refused.output
    assert saved(recipes, "p/bot.ipynb") == {
        "parameters": {},
        "connections": {},
        "call_timeout": 30,
    }


def test_a_call_timeout_given_and_reset_at_once_is_refused(recipes: Path, cli) -> None:
    """One of the two would win unsaid (the value did)."""
    cli("settings", "p/bot", "--call-timeout", "30")
    refused = cli("settings", "p/bot", "--call-timeout", "5", "--reset", "call_timeout", "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["message"] == "call_timeout is both given and reset", error
    assert error["fix"] == "give call_timeout a value or reset it, not both", error
    assert saved(recipes, "p/bot.ipynb")["call_timeout"] == 30


def test_a_call_timeout_for_a_recipe_nobody_calls_is_refused_with_its_fix(
    recipes: Path, cli
) -> None:
    refused = cli("settings", "p/hook", "--call-timeout", "30", "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "--call-timeout"
    assert error["message"] == (
        "--call-timeout applies to callable recipes; p/hook.ipynb is triggered by webhook"
    )
    assert error["fix"] == "save the settings without --call-timeout"
    assert saved(recipes, "p/hook.ipynb") == {}


@pytest.mark.parametrize(
    "fix",
    [
        'by its admin: PUT /lpstudio/api/v1/recipes/b/bot.ipynb/settings {"call_timeout": SECONDS}',
        'by its admin: PUT /lpstudio/api/v1/recipes/b/bot.ipynb/settings {"call_timeout": 18}',
        "by its admin: `lpstudio settings b/bot.ipynb --call-timeout SECONDS`",
        "by its admin: `lpstudio settings 'b/bot.ipynb' --call-timeout 45`",
    ],
)
def test_a_fix_giving_a_recipe_its_own_call_timeout_names_its_settings_field_in_the_lab(
    fix: str,
) -> None:
    """The 504's fix (`calls._timed_out`) and its CLI form, as the lab and the notebook's
    widgets say them: the field to fill, not a command or a route."""
    assert lab_text(fix) == (
        "by its admin: its Call timeout (seconds) in the Settings of b/bot.ipynb, then Save"
    )


def test_a_recipe_no_longer_callable_is_not_warned_of_its_left_call_timeout(
    recipes: Path, cli
) -> None:
    """A callable saved with 25 s, its trigger made a webhook since: its saves say nothing
    of a wait no caller has (the fix named `--call-timeout`, which it refuses)."""
    with Studio.open(recipes) as studio:
        update_settings(
            studio.store, "p/hook.ipynb", lambda s: {**s, "call_timeout": 25.0}, "alice"
        )
    other = cli("settings", "p/hook", "-p", "x", "5")
    assert other.exit_code == 0, other.output
    assert "warning" not in other.stderr, other.output
