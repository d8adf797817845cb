"""A text template that cannot fill its handoff is warned of where settings are saved, and
saved: the payment reminder sends its `body_template` as {{1}}, and a handoff whose message
has {{2}} too fails every job at its first send (INSUFFICIENT_VARIABLES). The form warned
and saved (the recipe decides what it sends); `lpstudio settings` and the REST API's
settings route saved it without a word. They now say what the form says, by the same rule
(`handoff_fit.body_misfit(text=True)`), and still save. Against the sandbox on loopback; no
kernel runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.handoff_fit import body_misfit
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio

from .test_handoff_fit import cli, handoff_lists_asked, shop  # noqa: F401 (a fixture)
from .test_openapi_contract import validate
from .test_proactive_handoff_fit import REMINDER, HandoffsWithoutText, parameters

#: The sandbox's handoff whose message has {{1}} and {{2}}; H1000000001 has {{1}} only.
TWO_PLACEHOLDERS = "H1000000003"
#: What the form says of the reminder's text on H1000000003, in the CLI's and REST's words.
MISFIT = body_misfit(TWO_PLACEHOLDERS, ["1", "2"], ["1"], "body_template", text=True)


@pytest.fixture
def reminder(shop: Studio) -> Iterator[Studio]:  # noqa: F811 (the fixture imported)
    """The sandbox workspace with the payment reminder in project `shop`."""
    shop.try_template("payment_reminder", "shop")
    yield shop


def settings(studio: Studio, *args: str) -> Result:
    """`lpstudio settings` on the reminder, as a person types it (its stderr apart)."""
    workspace = ["--workspace", str(studio.workspace.root)]
    return CliRunner().invoke(main, ["settings", REMINDER, *args, *workspace])


def test_settings_warn_of_a_handoff_the_text_cannot_fill_and_save_it(reminder: Studio) -> None:
    assert MISFIT is not None and "INSUFFICIENT_VARIABLES" in MISFIT.message

    result = settings(reminder, "-p", "handoff", TWO_PLACEHOLDERS)

    assert result.exit_code == 0, result.output
    assert result.stderr == f"warning: {MISFIT.message}\n  fix: {MISFIT.fix}\n", result.stderr
    assert "warning" not in result.stdout  # the settings listed, as after any save
    assert parameters(reminder, REMINDER) == {"handoff": TWO_PLACEHOLDERS}


def test_settings_json_carries_the_warning(reminder: Studio) -> None:
    code, answer = cli(reminder, "settings", REMINDER, "-p", "handoff", TWO_PLACEHOLDERS)

    assert code == 0, answer
    assert MISFIT is not None
    assert answer["warnings"] == [MISFIT.to_dict()], answer
    assert answer["parameters"] == {"handoff": TWO_PLACEHOLDERS}, answer


def test_a_fitting_handoff_or_another_value_warns_nothing(
    reminder: Studio, control: httpx.Client
) -> None:
    """A handoff with {{1}} only fits; a save of neither handoff, body nor connection asks
    for no list, and says nothing of the misfit saved before."""
    fitting = settings(reminder, "-p", "handoff", "H1000000001")
    assert (fitting.exit_code, fitting.stderr) == (0, ""), fitting.output

    assert reminder.save_settings(REMINDER, {"handoff": TWO_PLACEHOLDERS})["warnings"]
    before = handoff_lists_asked(control)
    other = settings(reminder, "-p", "skill", "support")

    assert (other.exit_code, other.stderr) == (0, ""), other.output
    assert handoff_lists_asked(control) == before


@pytest.mark.parametrize("status", [200, 403])
def test_a_list_without_text_or_unreadable_warns_nothing(
    reminder: Studio, sandbox: Sandbox, serve: Callable[[Any], Any], status: int
) -> None:
    proxy = serve(HandoffsWithoutText(sandbox.url, status))
    reminder.connections.update("liveperson", {"handoff_base_url": proxy.url})

    result = settings(reminder, "-p", "handoff", TWO_PLACEHOLDERS)

    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert any(path.endswith("/handoffs/list") for path in proxy.paths)
    assert parameters(reminder, REMINDER) == {"handoff": TWO_PLACEHOLDERS}


def test_a_reset_body_on_a_saved_misfit_is_warned_of(reminder: Studio) -> None:
    """The notebook's text back, on the saved H1000000003: still {{1}} only."""
    reminder.save_settings(REMINDER, {"handoff": TWO_PLACEHOLDERS, "body_template": "Hi"})

    result = settings(reminder, "--reset", "body_template")

    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: {MISFIT and MISFIT.message}"), result.stderr
    assert parameters(reminder, REMINDER) == {"handoff": TWO_PLACEHOLDERS}


# -- the REST API -------------------------------------------------------------------------


@pytest.fixture
def served_workspace(reminder: Studio) -> Path:
    return reminder.workspace.root


async def test_the_rest_api_answers_the_warning_it_documents(
    jp_fetch: Any, reminder: Studio
) -> None:
    async def fetch(method: str, *path: str, body: Any = None) -> Any:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            *path,
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"X-Test-User": "alice"},
        )
        return json.loads(answer.body)

    doc = await fetch("GET", "openapi.json")
    at = "/recipes/{recipe}/settings"
    route = ("shop", "payment_reminder.ipynb", "settings")
    for handoff, said in ((TWO_PLACEHOLDERS, [MISFIT]), ("H1000000001", [])):
        answer = await fetch("PUT", "recipes", *route, body={"parameters": {"handoff": handoff}})

        assert answer["warnings"] == [error.to_dict() for error in said if error], answer
        assert answer["settings"]["parameters"] == {"handoff": handoff}, answer
        validate(
            doc,
            answer,
            "paths",
            at,
            "put",
            "responses",
            "200",
            "content",
            "application/json",
            "schema",
        )
    schema = doc["paths"][at]["put"]["responses"]["200"]["content"]["application/json"]["schema"]
    # The recipe answered, with its warnings held beside it (a generated client reads both).
    (added,) = [part for part in schema["allOf"] if "warnings" in part.get("properties", {})]
    assert "warnings" in added["required"], schema
