"""Body variables that do not fit the chosen handoff's `{{n}}` placeholders are refused
where a person gives them, by the form's rule and in its words: `lpstudio settings`, the
REST API's settings route, and a run given its own values (`lpstudio run -p`, POST .../run)
refuse them naming the body-variables parameter and what to add or remove, save nothing and
queue no job. They were saved, and every job then failed at its first send. When the handoff
list cannot be read, or gives no message text, the save goes ahead (the campaign's own check
stands); a save that gives neither handoff nor body variables asks for no list. Against the
sandbox on loopback; no kernel runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lpstudio import handoff_fit
from lpstudio.cli import main
from lpstudio.errors import ParameterError
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from tests.conftest import job_rows

from . import test_forms
from .test_proactive_handoff_fit import (
    HANDOFFS_LIST,
    HandoffsWithoutText,
    HeldHandoffs,
    parameters,
)

#: The cart template in project `shop` of a workspace on the sandbox.
shop = test_forms.shop

CART = "shop/cart_abandonment"
#: Variable 2 for the notebook's handoff H1000000001, whose message has {{1}} only.
TOO_MANY = {"1": "Hi {first_name}", "2": "{total_price} {currency}"}


def cli(studio: Studio, *args: str) -> tuple[int, Any]:
    """A CLI command's exit code and `--json` answer, run in this process on `studio`'s
    workspace."""
    result: Result = CliRunner().invoke(
        main, [*args, "--json", "--workspace", str(studio.workspace.root)]
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def handoff_lists_asked(control: httpx.Client) -> int:
    log = control.get("/_sandbox/requests").json()["requests"]
    return sum(entry["path"].endswith(HANDOFFS_LIST) for entry in log)


# -- lpstudio settings and lpstudio run -----------------------------------------------------


def test_settings_refuses_a_variable_the_handoff_has_no_placeholder_for(shop: Studio) -> None:
    code, answer = cli(shop, "settings", CART, "-p", "body_variables", json.dumps(TOO_MANY))

    assert code == 2, answer
    error = answer["error"]
    assert error["field"] == "body_variables", error
    assert "do not fit handoff H1000000001" in error["message"], error
    assert "{{1}}" in error["message"] and "TOO_MANY_VARIABLES" in error["message"], error
    assert "variable 2" in error["fix"] and "body_variables" in error["fix"], error
    assert parameters(shop, CART) == {}


def test_settings_refuses_a_handoff_whose_placeholder_the_variables_leave_empty(
    shop: Studio,
) -> None:
    """Only the handoff given: the notebook's one body variable does not fill its {{2}}."""
    code, answer = cli(shop, "settings", CART, "-p", "handoff", "H1000000003")

    assert code == 2, answer
    error = answer["error"]
    assert error["field"] == "body_variables", error
    assert "INSUFFICIENT_VARIABLES" in error["message"], error
    assert "{{2}}" in error["fix"] and "body_variables" in error["fix"], error
    assert parameters(shop, CART) == {}


def test_settings_that_fit_the_handoff_are_saved(shop: Studio) -> None:
    args = ["-p", "handoff", "H1000000003", "-p", "body_variables", json.dumps(TOO_MANY)]
    code, answer = cli(shop, "settings", CART, *args)

    assert code == 0, answer
    assert parameters(shop, CART) == {"handoff": "H1000000003", "body_variables": TOO_MANY}


def test_a_run_given_variables_the_handoff_refuses_queues_no_job(shop: Studio) -> None:
    code, answer = cli(shop, "run", CART, "-p", "body_variables", json.dumps(TOO_MANY))

    assert code == 2, answer
    assert answer["error"]["field"] == "body_variables", answer
    assert "TOO_MANY_VARIABLES" in answer["error"]["message"], answer
    assert job_rows(shop.workspace.root) == 0


@pytest.mark.parametrize("status", [200, 403])
def test_a_handoff_list_without_text_or_unreadable_lets_the_save_through(
    shop: Studio, sandbox: Sandbox, serve: Callable[[Any], Any], status: int
) -> None:
    """The list may give no message text, or refuse the app: nothing can be checked, and
    the campaign still checks each send."""
    proxy = serve(HandoffsWithoutText(sandbox.url, status))
    shop.connections.update("liveperson", {"handoff_base_url": proxy.url})

    code, answer = cli(shop, "settings", CART, "-p", "body_variables", json.dumps(TOO_MANY))

    assert code == 0, answer
    assert any(path.endswith(HANDOFFS_LIST) for path in proxy.paths)
    assert parameters(shop, CART) == {"body_variables": TOO_MANY}


def test_a_slow_handoff_list_lets_the_save_through_while_it_is_still_asked(
    shop: Studio, sandbox: Sandbox, serve: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A LivePerson slow to list its handoffs kept a save waiting through the client's
    timeouts and retries: the save waits `LIST_WAIT` for it, then goes on unchecked."""
    monkeypatch.setattr(handoff_fit, "LIST_WAIT", 0.5)
    proxy = serve(HeldHandoffs(sandbox.url))
    shop.connections.update("liveperson", {"handoff_base_url": proxy.url})
    proxy.hold.clear()
    try:
        code, answer = cli(shop, "settings", CART, "-p", "body_variables", json.dumps(TOO_MANY))

        assert proxy.asked.is_set() and not proxy.hold.is_set()  # answered while still held
    finally:
        proxy.hold.set()
    assert code == 0, answer
    assert parameters(shop, CART) == {"body_variables": TOO_MANY}


def test_a_save_checks_the_pair_it_commits_over_one_made_meanwhile(
    shop: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rv: save B (variables 1 and 2, for the saved H1000000002) read the list while save A
    changed the handoff to H1000000001 with one variable: both were taken, and the pair
    left (H1000000001 with two variables) was the misfit the check refuses."""
    two = {"1": "Hi {first_name}", "2": "{total_price}"}
    shop.save_settings(CART, {"handoff": "H1000000002", "body_variables": two})
    asked = handoff_fit._listed
    meanwhile: list[str] = []

    def listed_while_another_saves(studio: Studio, connection: str) -> Any:
        listed = asked(studio, connection)
        if not meanwhile:  # save A, between save B's look at the list and its write
            meanwhile.append("A")
            shop.save_settings(CART, {"handoff": "H1000000001", "body_variables": {"1": "A"}})
        return listed

    monkeypatch.setattr(handoff_fit, "_listed", listed_while_another_saves)
    with pytest.raises(ParameterError) as refused:
        shop.save_settings(CART, {"body_variables": {"1": "B", "2": "B2"}})

    assert refused.value.field == "body_variables", refused.value
    assert "TOO_MANY_VARIABLES" in refused.value.message, refused.value
    assert parameters(shop, CART) == {"handoff": "H1000000001", "body_variables": {"1": "A"}}


def test_a_save_of_other_values_asks_for_no_handoff_list(
    shop: Studio, control: httpx.Client
) -> None:
    before = handoff_lists_asked(control)

    code, answer = cli(shop, "settings", CART, "-p", "skill", "billing")

    assert code == 0, answer
    assert handoff_lists_asked(control) == before


# -- the REST API -------------------------------------------------------------------------


@pytest.fixture
def served_workspace(shop: Studio) -> Path:
    return shop.workspace.root


async def test_the_rest_api_refuses_them_on_save_and_on_run(jp_fetch: Any, shop: Studio) -> None:
    async def fetch(method: str, *path: str, body: Any) -> tuple[int, Any]:
        answer = await jp_fetch(
            "lpstudio",
            "api",
            "v1",
            "recipes",
            "shop",
            *path,
            method=method,
            body=json.dumps(body),
            headers={"X-Test-User": "alice"},
            raise_error=False,
        )
        return answer.code, json.loads(answer.body)

    given = {"parameters": {"body_variables": TOO_MANY}}
    for method, route in (("PUT", "settings"), ("POST", "run")):
        code, answer = await fetch(method, "cart_abandonment.ipynb", route, body=given)
        error = answer["error"]
        assert code == 400 and error["field"] == "body_variables", (route, answer)
        assert "TOO_MANY_VARIABLES" in error["message"] and "variable 2" in error["fix"], answer
    assert parameters(shop, CART) == {}
    assert job_rows(shop.workspace.root) == 0

    fitting = {"parameters": {"handoff": "H1000000003", "body_variables": TOO_MANY}}
    code, answer = await fetch("PUT", "cart_abandonment.ipynb", "settings", body=fitting)
    assert code == 200 and answer["settings"]["parameters"] == fitting["parameters"], answer
