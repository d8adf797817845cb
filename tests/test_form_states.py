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
from lpstudio.settings import saved_settings
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


#: The cart-abandonment template tried into project `shop`, as the store names it.
RECIPE = "shop/cart_abandonment.ipynb"


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
    assert labels(form, "http") == ["(automatic)"]  # no connection it could pick
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
    assert labels(form, "http") == ["(automatic: hooks)", "hooks (untested)"]
    assert form.slots["http"].value == ""  # the automatic choice, which picks it
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
    assert labels(form, "liveperson") == ["(automatic: liveperson)", "liveperson (untested)"]

    form.buttons["test"].click()
    form.wait()
    assert labels(form, "liveperson")[1:] == ["liveperson (connected)"], form.status.value
    assert labels(form, "shopify")[1:] == ["shopify (disconnected)"]
    assert "disconnected" in text(form.slot_errors["shopify"].value)
    assert "Connections panel" in text(form.slot_errors["shopify"].value)
    assert form.slot_errors["liveperson"].value == ""
    assert "testing" not in text(form.status.value)  # the test run went on, and ended
    form.close()


def test_a_start_with_two_connections_that_fail_says_each_ones_fix_in_the_studios_terms(
    sandboxed: Studio,
) -> None:
    """Start names every connection that does not answer; its fix in the form covered only
    the first slot's ("test liveperson in the Connections panel"), so the second was met
    only at the next Start."""
    sandboxed.try_template("cart_abandonment", "shop")
    sandboxed.connections.update("liveperson", {"client_secret": "wrong-5150"})
    sandboxed.connections.update("shopify", {"access_token": "wrong-5150"})
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()

    form.buttons["start"].click()
    said = text(form.status.value)
    assert "connection 'liveperson' (slot 'liveperson') is disconnected" in said, said
    assert "connection 'shopify' (slot 'shopify') is disconnected" in said, said
    fix = said.split("fix: ", 1)[1]
    assert fix.startswith("liveperson: check the client id and secret"), fix
    assert "give them with Edit of liveperson in the Connections panel" in fix, fix
    assert "; shopify: give connection shopify an Admin API access token" in fix, fix
    assert "give shopify its access_token with Edit in the Connections panel" in fix, fix
    assert "lpstudio " not in said and "wrong-5150" not in said
    assert saved_settings(sandboxed.store, RECIPE).get("state") != "started"
    form.close()


def test_saving_a_parameter_leaves_the_slots_automatic_as_the_lab_shows_them(
    sandboxed: Studio,
) -> None:
    """Save bound every slot to the connection its picker showed, though the user never
    picked one: the lab's Settings panel then showed `liveperson (untested)` as chosen, and
    its automatic choice as plain `(automatic)`. Each picker offers the automatic choice
    first, named by the connection it picks now, as the lab's form does."""
    sandboxed.try_template("cart_abandonment", "shop")
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    assert labels(form, "liveperson") == ["(automatic: liveperson)", "liveperson (untested)"]
    assert labels(form, "shopify")[0] == "(automatic: shopify)"
    assert form.slots["liveperson"].value == "" and form.slots["shopify"].value == ""

    form.fields["campaign_name"].input.value = "Winter carts"
    assert form.save() is True, form.status.value

    saved = saved_settings(sandboxed.store, RECIPE)
    assert saved["parameters"] == {"campaign_name": "Winter carts"}
    assert not saved.get("connections"), saved
    detail = sandboxed.recipe_detail("shop/cart_abandonment")  # what the lab's panel shows
    assert detail["automatic"] == ["liveperson", "shopify"]
    assert labels(form, "liveperson")[0] == "(automatic: liveperson)"
    assert form.slots["liveperson"].value == ""
    form.close()


def test_a_chosen_connection_is_forgotten_by_the_automatic_choice(sandboxed: Studio) -> None:
    """Chosen and saved, then set back to the automatic choice and saved: the slot is no
    longer bound (`--reset connections.SLOT`), and the form shows it automatic again."""
    sandboxed.try_template("cart_abandonment", "shop")
    kind, config = sandboxed.connections.values("liveperson")
    sandboxed.connections.add("lp-second", kind, config, "alice")
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    form.slots["liveperson"].value = "lp-second"
    assert form.save() is True, form.status.value
    assert saved_settings(sandboxed.store, RECIPE)["connections"] == {"liveperson": "lp-second"}
    again = RecipeForm("shop/cart_abandonment", sandboxed)  # a chosen one shows as chosen
    assert again.slots["liveperson"].value == "lp-second"
    assert again.slots["shopify"].value == ""
    again.close()

    form.slots["liveperson"].value = ""
    assert form.save() is True, form.status.value
    assert not saved_settings(sandboxed.store, RECIPE).get("connections")
    assert form.slots["liveperson"].value == ""
    assert labels(form, "liveperson")[0] == "(automatic: liveperson)"
    form.close()


def test_the_automatic_choice_names_what_it_picks_and_start_binds_by_it(
    sandboxed: Studio,
) -> None:
    """A slot saved automatic is bound at start by the automatic rule as it is then: a
    connection named like the slot, added after the Save, is the one the recipe starts
    with (the form had saved the only connection there was, and started with that)."""
    sandboxed.try_template("cart_abandonment", "shop")
    kind, config = sandboxed.connections.values("liveperson")
    sandboxed.connections.remove("liveperson")
    sandboxed.connections.add("lp-a", kind, config, "alice")  # the only one: picked
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    assert labels(form, "liveperson") == ["(automatic: lp-a)", "lp-a (untested)"]
    assert form.slot_connection("liveperson") == "lp-a"
    assert form.save() is True, form.status.value
    assert not saved_settings(sandboxed.store, RECIPE).get("connections")

    sandboxed.connections.add("lp-b", kind, config, "alice")
    form.buttons["refresh"].click()
    assert labels(form, "liveperson")[0] == "(automatic)"  # two fit, none named like the slot
    assert form.slot_connection("liveperson") is None
    sandboxed.connections.add("liveperson", kind, config, "alice")  # named like the slot
    form.buttons["refresh"].click()
    assert labels(form, "liveperson")[0] == "(automatic: liveperson)"

    form.buttons["start"].click()
    assert "started" in text(form.status.value), form.status.value
    assert saved_settings(sandboxed.store, RECIPE)["connections"]["liveperson"] == "liveperson"
    assert form.slots["liveperson"].value == "liveperson"  # pinned by the start, as shown
    form.close()


def test_a_chosen_connection_deleted_meanwhile_is_offered_no_more_once_save_refuses_it(
    sandboxed: Studio,
) -> None:
    """`lpstudio connections remove lp3` while lp3 was chosen: Save's refusal left it offered
    and chosen, and its fix said to choose a connection, as if none were. The slot now offers
    the connections there are (showing what is saved), and the fix says to make lp3 again or
    choose another, as the lab's does."""
    sandboxed.try_template("cart_abandonment", "shop")
    kind, config = sandboxed.connections.values("liveperson")
    sandboxed.connections.add("lp3", kind, config, "alice")
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    form.slots["liveperson"].value = "lp3"
    sandboxed.connections.remove("lp3")  # by the CLI, while the form is open

    assert form.save() is False
    said = text(form.status.value)
    assert "slot 'liveperson' is bound to connection 'lp3', which does not exist" in said, said
    fix = (
        "create lp3 in the Connections panel, or choose another liveperson_proactive "
        "connection for liveperson under Connections above, then Save"
    )
    assert f"fix: {fix}" in said, said
    assert "lp3" not in [value for _, value in form.slots["liveperson"].options]
    assert form.slots["liveperson"].value == ""  # what is saved: the automatic choice
    assert fix in text(form.slot_errors["liveperson"].value)
    assert form.save() is True, form.status.value
    assert not saved_settings(sandboxed.store, RECIPE).get("connections")
    form.close()
