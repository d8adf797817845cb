"""The recipe form says what state its settings and connections are in, as the lab's does:
why saved settings cannot run (with the fix in the studio's terms), which pick-list choice
is the default, and what the connections' last test left."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from ipywidgets import HTML, Widget

from lpstudio.errors import LpstudioError
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm


def text(value: str) -> str:
    """What an HTML widget shows, as the user reads it."""
    return html.unescape(value)


def page(form: RecipeForm) -> str:
    """Every text the form shows (its HTML widgets), in order, as the user reads it."""

    def walk(widget: Widget) -> Iterator[str]:
        if isinstance(widget, HTML):
            yield text(widget.value)
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    return "\n".join(walk(form))


def labels(form: RecipeForm, slot: str) -> list[str]:
    return [label for label, _ in form.slots[slot].options]


@pytest.fixture
def sandboxed(tmp_path: Path, sandbox: Sandbox) -> Iterator[Studio]:
    """A workspace on the sandbox: `liveperson` and `shopify` connections, no `http` one."""
    studio = Studio.init(tmp_path / "ws", accept_terms=True, admin="alice", sandbox=sandbox.url)
    yield studio
    studio.close()


def test_settings_that_cannot_run_say_why_with_the_fix_in_the_studios_terms(
    sandboxed: Studio,
) -> None:
    """With no `http` connection the Webhook picker was an empty drop-down without a word,
    Save said only "saved by alice", and Start named a CLI command to create one."""
    sandboxed.try_template("new_lead", "leads")
    form = RecipeForm("leads/new_lead", sandboxed)
    form.wait()
    assert form.slots["http"].options == ()
    shown = page(form)
    assert "no http connection in the workspace yet" in shown, shown  # under the picker
    assert "incomplete: no http connection for slot 'http'" in shown
    assert "fix: create a http connection with its token in the Connections panel" in shown
    assert "lpstudio connections add" not in shown

    assert form.save() is True, form.status.value
    assert "saved by alice" in text(form.status.value)
    assert "cannot run yet" in text(form.status.value)
    assert "incomplete: no http connection for slot 'http'" in page(form)

    form.buttons["start"].click()
    said = text(form.status.value)
    assert "no http connection for slot 'http'" in said and "Connections panel" in said, said
    assert "lpstudio connections add" not in said + text(form.slot_errors["http"].value)

    hook = {"base_url": "http://127.0.0.1:9", "token": "t0ken-xyz-1"}  # signs deliveries
    sandboxed.connections.add("hooks", "http", hook, "alice")
    form.buttons["refresh"].click()
    assert form.slots["http"].value == "hooks"
    shown = page(form)
    assert "in the workspace yet" not in shown and "incomplete" not in shown, shown
    form.close()


def test_the_fix_for_missing_connections_names_each_with_what_it_needs(studio: Studio) -> None:
    """With no connection for either slot of the lead template, the fix said to create a
    http connection in the Connections panel: made so, without the token its webhook checks
    signatures with, Start was refused again, then once more for the liveperson slot. It
    says every connection to create, with the fields each must be given, as the lab does."""
    studio.try_template("new_lead", "leads")
    form = RecipeForm("leads/new_lead", studio)
    form.wait()
    fix = (
        "create a http connection with its token, and a liveperson_proactive connection with "
        "its account_id, client_id and client_secret, in the Connections panel; then click "
        "Refresh lists, choose each for its slot (http, liveperson) under Connections {} and Save"
    )
    shown = page(form)
    assert f"fix: {fix.format('below')}" in shown, shown

    form.buttons["start"].click()
    said = text(form.status.value)
    assert "no http connection for slot 'http'" in said, said
    assert fix.format("above") in said, said
    assert "lpstudio connections" not in said + text(form.slot_errors["http"].value)
    form.close()


def test_pick_list_choices_carry_their_value_as_the_lab_s_do(sandboxed: Studio) -> None:
    """The first choice named the default by its id (`(default: H1000000001)`) while the
    others showed only titles: which one was the default could not be told."""
    sandboxed.try_template("cart_abandonment", "shop")
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    handoffs = dict((value, label) for label, value in form.fields["handoff"].input.options)
    assert handoffs[""] == "(default: H1000000001)"
    for value in ("H1000000001", "H1000000002", "H1000000003"):
        assert handoffs[value].endswith(f" ({value})"), handoffs[value]
        assert handoffs[value] != f"{value} ({value})"  # a title, then its id
    skills = dict((value, label) for label, value in form.fields["skill"].input.options)
    assert skills["sales"].endswith("(sales)") or skills["sales"] == "sales"
    # With no connection chosen, a list says to make one where the studio makes them.
    form.slots["liveperson"].value = None
    with pytest.raises(LpstudioError) as unchosen:
        form.picklist("liveperson", "skills")
    assert "Connections panel" in (unchosen.value.fix or ""), unchosen.value
    assert "lpstudio connections add" not in (unchosen.value.fix or "")
    form.close()


def test_test_tests_the_connections_and_the_pickers_show_their_states(
    sandboxed: Studio,
) -> None:
    """The pickers said "(untested)" after a Test that connected both connections, until
    Refresh lists; a connection that fails its test now says why under its picker."""
    sandboxed.try_template("cart_abandonment", "shop")
    sandboxed.connections.update("shopify", {"access_token": "not-the-token"})
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    assert labels(form, "liveperson") == ["liveperson (untested)"]

    form.buttons["test"].click()
    form.wait()
    assert labels(form, "liveperson") == ["liveperson (connected)"], form.status.value
    assert labels(form, "shopify") == ["shopify (disconnected)"]
    assert "disconnected" in text(form.slot_errors["shopify"].value)
    assert "Connections panel" in text(form.slot_errors["shopify"].value)
    assert form.slot_errors["liveperson"].value == ""
    assert "testing" not in text(form.status.value)  # the test run went on, and ended
    form.close()
