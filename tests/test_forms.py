"""The recipe form, driven as an analyst would: set values, click buttons, see the result."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import nbformat
import pytest
from ipywidgets import DatePicker, Dropdown

from lpstudio.models import User
from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from lpstudio.widgets.common import THEME_COLOURS

from .conftest import run_json, set_settings, wait_for, write_recipe
from .test_liveperson import ForwardingProxy, HandoffsElsewhere

HANDOFFS_LIST = "/app/prmsg/handoffs/list"
#: Body variables that fit handoff H1000000002's {{1}}, {{2}}.
TWO_VARIABLES = {"1": "Hi {first_name}", "2": "{abandoned_checkout_url}"}


class HeldHandoffs(ForwardingProxy):
    """LivePerson slow to list its handoffs: each such request is held until `release` is
    set, then forwarded to the sandbox. `held` is set once one is being held. The hold
    ends by itself after 20 s (before the client's 30 s read timeout), so a form that
    waits for the list fails its test instead of hanging it."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__(sandbox_url)
        self.held = threading.Event()
        self.release = threading.Event()

    def answer(self, path: str) -> httpx.Response | None:
        if path.endswith(HANDOFFS_LIST):
            self.held.set()
            self.release.wait(20)
        return None


def loaded(recipe: str, studio: Studio) -> RecipeForm:
    """The form once its pick lists have loaded (they load in the background)."""
    form = RecipeForm(recipe, studio)
    form.wait()
    return form


def refused(form: RecipeForm, field: str, value: str) -> str:
    """What the form shows under `field` once `value` is typed in it, which must keep the
    form from saving."""
    form.fields[field].input.value = value
    shown = html.unescape(form.fields[field].error.value)
    assert form.save() is False, shown
    return shown


def values_of(dropdown: Dropdown) -> list[object]:
    return [value for _, value in dropdown.options]


@pytest.fixture
def shop(tmp_path: Path, sandbox: Sandbox) -> Iterator[Studio]:
    """A workspace on the sandbox with the cart-abandonment template in project `shop`."""
    studio = Studio.init(tmp_path / "ws", accept_terms=True, admin="alice", sandbox=sandbox.url)
    studio.try_template("cart_abandonment", "shop")
    yield studio
    studio.close()


def test_the_form_offers_the_sandbox_handoffs_and_skills(shop: Studio) -> None:
    form = loaded("shop/cart_abandonment", shop)
    handoffs = dict((v, label) for label, v in form.fields["handoff"].input.options)
    assert set(handoffs) == {"", "H1000000001", "H1000000002", "H1000000003"}
    assert handoffs[""] == "(default: H1000000001)"  # nothing saved: the notebook's stands
    assert form.fields["handoff"].input.value == ""
    assert "wa" in handoffs["H1000000002"] and "sms" in handoffs["H1000000002"]
    skills = [v for _, v in form.fields["skill"].input.options]
    assert {"billing", "sales", "support"} <= set(skills)
    consumer = dict((v, label) for label, v in form.fields["consumer_id"].input.options)
    assert "+16465550177" in consumer["phone"]  # the sample's value is shown
    assert form.slots["shopify"].value == ""  # the automatic choice, which picks shopify
    assert form.slot_connection("liveperson") == "liveperson"


def test_a_saved_choice_is_forgotten_by_the_empty_choice_that_names_the_default(
    shop: Studio,
) -> None:
    """A drop-down offered no empty choice: once a skill was saved, the form could not go
    back to the notebook's default (the lab's form and `--reset` could)."""
    recipe = "shop/cart_abandonment"
    shop.save_settings(recipe, {"skill": "support", "channel": "wa"})
    form = loaded(recipe, shop)
    skill = form.fields["skill"]
    assert skill.input.value == "support" and skill.input.options[0] == ("(default: sales)", "")

    skill.input.value = ""
    assert form.save() is True, form.status.value

    saved = saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]
    assert "skill" not in saved and saved["channel"] == "wa"  # the other choice kept
    assert skill.input.value == ""  # shown as the default that stands
    assert form.save() is True  # saved again untouched: still not saved as a value
    assert "skill" not in saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]


def test_a_drop_down_chosen_back_to_the_default_s_value_stores_nothing(shop: Studio) -> None:
    """The README: a field set back to exactly the notebook's default stores nothing. A
    drop-down chosen back to the default's own value (not its empty choice) stayed saved,
    so a later change of the notebook's default did not apply."""
    recipe = "shop/cart_abandonment"
    form = loaded(recipe, shop)
    skill = form.fields["skill"]
    skill.input.value = "support"
    assert form.save() is True, form.status.value
    assert saved_settings(shop.store, f"{recipe}.ipynb")["parameters"] == {"skill": "support"}

    skill.input.value = "sales"  # the notebook's default, chosen by its value

    assert form.save() is True, form.status.value
    assert "skill" not in saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]
    assert skill.input.value == ""  # shown as the default that stands
    form.close()


def test_inline_errors_use_the_cli_rules_and_block_saving(shop: Studio) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.fields["campaign_name"].input.value = "x" * 256  # over its maxLength (emptied: default)
    assert "campaign_name" in form.fields["campaign_name"].error.value
    assert form.save() is False
    assert "fix the fields first" in form.status.value
    assert saved_settings(shop.store, "shop/cart_abandonment.ipynb") == {}


def test_placeholders_preview_and_unknown_placeholder(shop: Studio) -> None:
    form = loaded("shop/cart_abandonment", shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "Hi "
    section.target.value = "1"
    insert = next(b for b in section.children[-3].children if b.description == "{first_name}")
    insert.click()
    assert section.variables["1"].value == "Hi {first_name}"
    assert "Hi Ava" in section.preview.value and "1 SMS" in section.preview.value
    section.variables["1"].value = "Hi {nickname}"
    assert "unknown placeholder {nickname}" in section.preview.value
    assert form.save() is False
    # Counted as sent: the handoff's message (H1000000001: "{{1}} Reply STOP to opt out.",
    # 23 characters after {{1}}) filled.
    section.variables["1"].value = "x" * 200
    assert "2 SMS" in section.preview.value and "several SMS" in section.preview.value
    section.variables["1"].value = "x" * 117  # LivePerson sends up to 140 as one SMS
    assert "140 characters, 1 SMS" in section.preview.value
    assert "several SMS" not in section.preview.value
    section.variables["1"].value = "x" * 127  # said "1 SMS" and "sent as several SMS" at once
    assert "2 SMS" in section.preview.value and "several SMS" in section.preview.value
    section.variables["1"].value = "Привет" * 12  # UCS-2 fits 70 characters in one SMS
    assert "2 SMS (utf_16_be)" in section.preview.value
    assert "several SMS" in section.preview.value
    section.variables["1"].value = "Hi \U0001f600"  # an emoji is two UCS-2 characters
    assert "28 characters, 1 SMS (utf_16_be)" in section.preview.value


def test_the_preview_caption_shows_the_sample_values_the_placeholders_take(shop: Studio) -> None:
    """The caption named the sample record's first four fields, none of which the preview
    used: it names the fields the variables use, with the values they were filled from."""
    form = loaded("shop/cart_abandonment", shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "Hi {first_name}, {item_count} items"
    caption = section.children[-2].value  # above the preview
    assert "Preview for the sample record: first_name=&#x27;Ava&#x27;, item_count=3" in caption
    assert "checkout_id" not in caption
    section.variables["1"].value = "Hello"  # no placeholder: the record's first fields
    assert "checkout_id" in section.children[-2].value


def test_the_preview_counts_sms_by_the_connection_s_characters_per_sms(shop: Studio) -> None:
    """LivePerson's SMS length is a setting of the connection, like its other limits: the
    preview counts by the connection the handoff list comes from, read again by Refresh
    lists after it changed."""
    shop.connections.update("liveperson", {"characters_per_sms": 160})
    form = loaded("shop/cart_abandonment", shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "x" * 127  # the handoff's message filled: 150 characters
    assert "150 characters, 1 SMS (gsm0338)" in section.preview.value
    assert "several SMS" not in section.preview.value

    shop.connections.update("liveperson", {"characters_per_sms": ""})  # back to 140
    form.refresh()
    form.wait()
    assert "150 characters, 2 SMS (gsm0338)" in section.preview.value
    assert "several SMS" in section.preview.value
    form.close()


def test_a_placeholder_is_checked_alike_by_the_form_and_the_cli(shop: Studio) -> None:
    """The form refused a placeholder the CLI saved: a closed record (the cart's, built by
    the recipe) refuses one it lacks on both; an open one (a webhook's lead, which passes
    its own fields through) takes it on both, and the form says the record's schema does
    not name it."""
    root = shop.workspace.root
    # A consumer_id naming a field the record lacks is refused too (the job failed on it).
    for name, value, field, said in (
        (
            "body_variables",
            '{"1": "Hi {nickname}"}',
            "body_variables.1",
            "unknown placeholder {nickname}",
        ),
        ("consumer_id", "nosuchfield", "consumer_id", "phone"),
    ):
        refused = run_json(
            "settings", "shop/cart_abandonment", "-p", name, value, "--workspace", str(root)
        )
        assert refused[0] == 2 and refused[1]["error"]["field"] == field, refused
        assert said in refused[1]["error"]["message"] + refused[1]["error"]["fix"]
    # Its fix's examples are the cart's own fields: {customer.first_name}, the fixed example
    # it gave, is refused the same way (a cart's record has no customer).
    fix = run_json(
        "settings",
        "shop/cart_abandonment",
        "-p",
        "body_variables",
        '{"1": "Hello {customer.first_name}"}',
        "--workspace",
        str(root),
    )[1]["error"]["fix"]
    assert "customer." not in fix and "such as {" in fix, fix

    shop.try_template("new_lead", "leads")
    form = loaded("leads/new_lead", shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "Hi {first_name}, about {product}"
    assert "unknown placeholder {product}" in section.preview.value
    assert "not named by the record" in section.preview.value
    assert form.save() is True, form.status.value
    saved = saved_settings(shop.store, "leads/new_lead.ipynb")["parameters"]
    assert saved["body_variables"] == {"1": "Hi {first_name}, about {product}"}


def test_save_stores_versioned_settings_and_the_form_shows_them(shop: Studio) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.fields["campaign_name"].input.value = "Winter carts"
    form.fields["skill"].input.value = "support"
    assert form.save() is True, form.status.value
    saved = saved_settings(shop.store, "shop/cart_abandonment.ipynb")
    assert saved["parameters"]["campaign_name"] == "Winter carts"
    # A field left showing the notebook's default saves nothing: a later default applies.
    assert "body_variables" not in saved["parameters"]
    assert not saved.get("connections")  # each slot left to its automatic choice
    again = loaded("shop/cart_abandonment", shop)
    assert again.fields["campaign_name"].input.value == "Winter carts"
    assert "differ from the notebook" in again.children[1].value
    # Said in JSON, as the form's fields take values (it said 'Winter carts', Python's repr).
    assert 'campaign_name: saved "Winter carts", notebook "' in html.unescape(
        again.differences.value
    )


def test_test_button_previews_the_payload_and_sends_nothing(shop: Studio, sandbox: Sandbox) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["test"].click()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert "What would be sent" in form.preview.value
    assert "templateId" in form.preview.value and "H1000000001" in form.preview.value
    sent = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    assert sent == []


def test_test_says_why_its_sample_event_could_not_be_fetched(
    shop: Studio, sandbox: Sandbox
) -> None:
    # Two: Test tests the connection first, then fetches its sample event.
    fault = {"error_rate": 1.0, "error_status": 401, "scope": "shopify", "count": 2}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).raise_for_status()
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["test"].click()
    form.wait()
    # Said as every other refusal in the form is, not as a Python exception's name.
    error = THEME_COLOURS["error"]  # the theme's, readable on a dark notebook too
    assert "401" in form.status.value and error in form.status.value, form.status.value
    assert "ConnectorError" not in form.status.value
    assert form.last_job is None


def test_a_cleared_field_forgets_its_saved_value(studio: Studio, ws: Path) -> None:
    write_recipe(ws, "p/plain", parameters="days: int = 7  # days ahead")
    form = RecipeForm("p/plain", studio)
    form.fields["days"].input.value = "3"
    assert form.save(), form.status.value
    assert saved_settings(studio.store, "p/plain.ipynb")["parameters"] == {"days": 3}

    form.fields["days"].input.value = ""  # emptied: the notebook's 7 again, not an error
    assert form.save(), form.status.value
    assert saved_settings(studio.store, "p/plain.ipynb")["parameters"] == {}
    assert form.fields["days"].raw == "7"  # the form shows what stands now
    assert RecipeForm("p/plain", studio).fields["days"].raw == "7"


def test_a_saved_value_the_user_left_is_kept_as_stored(studio: Studio, ws: Path) -> None:
    """Each Save read every field's text back: a list saved for an untyped parameter came
    back as the text "[1, 2]", "5" as 5, "None" as None; and a date saved as text before
    the parameter was a date was forgotten without a word (the CLI refuses to save past it)."""
    write_recipe(ws, "p/loose", parameters="x = None\nopt: str | None = None\nn: int = 1")
    saved = {"x": [1, 2], "opt": "None"}
    studio.save_settings("p/loose", saved)
    form = RecipeForm("p/loose", studio)
    form.fields["n"].input.value = "2"  # the only change
    assert form.save(), form.status.value
    assert saved_settings(studio.store, "p/loose.ipynb")["parameters"] == {**saved, "n": 2}

    write_recipe(ws, "p/dated", parameters="d: str = ''\nn: int = 1")
    studio.save_settings("p/dated", {"d": "next monday"})
    write_recipe(
        ws,
        "p/dated",
        parameters="from datetime import date\nd: date = date(2026, 1, 1)\nn: int = 1",
    )
    form = RecipeForm("p/dated", studio)
    form.fields["n"].input.value = "2"
    assert not form.save()
    assert "expects a date" in form.fields["d"].error.value
    assert saved_settings(studio.store, "p/dated.ipynb")["parameters"] == {"d": "next monday"}

    # A saved value that no longer fits is read from its text when that fits, as `-p` reads
    # it: "5" saved while `n` was a str is 5 once it is an int (it stayed "5", refused).
    write_recipe(ws, "p/count", parameters="n: str = ''")
    studio.save_settings("p/count", {"n": "5"})
    write_recipe(ws, "p/count", parameters="n: int = 1")
    form = RecipeForm("p/count", studio)
    assert form.save(), form.status.value
    assert saved_settings(studio.store, "p/count.ipynb")["parameters"] == {"n": 5}


def test_run_now_sends_and_links_the_output(shop: Studio, sandbox: Sandbox) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["run"].click()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "succeeded", form.status.value
    assert "output notebook" in form.status.value
    assert job.trigger == "manual"


def test_closing_the_form_waits_for_its_run_and_closes_every_widget(
    shop: Studio, sandbox: Sandbox
) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["run"].click()
    form.close()  # no wait(): close waits for the run it started
    assert form.last_job is not None and form.last_job.status == "succeeded"
    assert form.comm is None and form.buttons["save"].comm is None
    assert all(picker.comm is None for picker in form.slots.values())
    assert all(editor.input.comm is None for editor in form.fields.values())


def test_run_now_sends_through_the_connection_the_picker_shows(
    shop: Studio, sandbox: Sandbox
) -> None:
    kind, config = shop.connections.values("liveperson")
    shop.connections.add("lp-second", kind, config, "alice")  # another account, say
    form = loaded("shop/cart_abandonment", shop)
    form.slots["liveperson"].value = "lp-second"
    form.buttons["run"].click()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "succeeded", form.status.value
    assert shop.store.version_settings(job.version_id)["connections"]["liveperson"] == "lp-second"


def test_a_template_the_sender_refuses_is_shown_and_add_variable_keeps_the_others(
    shop: Studio,
) -> None:
    recipe = "shop/cart_abandonment"
    # A name is no number: ".2f" fails for the sender as for the preview (a price that is
    # text, "188.90", takes it). Such saved settings (the CLI takes them) made the form
    # itself fail to open.
    # Saved before `save_settings` checked templates: the store holds them as they were.
    variables = {"1": "Total {first_name:.2f}", "3": "Hi {first_name:.2}"}
    set_settings(shop.store, f"{recipe}.ipynb", parameters={"body_variables": variables})
    form = loaded(recipe, shop)
    section = form.proactive
    assert section is not None
    # The renderer's explanation as it is: the template reads well, the sample cannot fill it.
    [issue] = section.issues
    assert issue.startswith("variable 1: {first_name:.2f} cannot show first_name: it is the text")
    assert "malformed" not in " ".join(section.issues)
    assert "Hi Av<" in section.preview.value  # a format spec the sender renders: Ava, cut
    assert form.save() is False
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    assert list(section.variables) == ["1", "2", "3"]  # the gap filled first, {{3}} kept
    assert section.variables["3"].value == "Hi {first_name:.2}"


def test_an_operator_cannot_edit(shop: Studio) -> None:
    with shop.store.write() as s:
        s.add(User(name="otto", role="operator"))
    with Studio.open(shop.workspace.root, user="otto") as studio:
        form = loaded("shop/cart_abandonment", studio)
        assert form.buttons["save"].disabled and form.buttons["test"].disabled
        assert form.buttons["run"].disabled  # REST refuses an operator's run too
        assert not form.buttons["start"].disabled and not form.buttons["stop"].disabled


def test_an_operator_may_start_and_stop_but_not_run_test_or_save(shop: Studio) -> None:
    """As the REST API: an operator operates recipes (start, stop) but does not build them
    (save, test, run now), whether the button is clicked in the browser or in code."""
    recipe = "shop/cart_abandonment.ipynb"
    with shop.store.write() as s:
        s.add(User(name="otto", role="operator"))
    with Studio.open(shop.workspace.root, user="otto") as studio:
        form = loaded("shop/cart_abandonment", studio)
        for key, action in (("run", "run"), ("test", "test"), ("save", "change")):
            assert form.buttons[key].disabled
            assert f"an operator cannot {action} recipe" in form.buttons[key].tooltip
        assert "read-only" in form.notice.value and "operator" in form.notice.value
        assert all(editor.input.disabled for editor in form.fields.values())
        assert all(picker.disabled for picker in form.slots.values())
        assert form.proactive is not None
        assert all(area.disabled for area in form.proactive.variables.values())

        form.fields["campaign_name"].input.value = "Otto's carts"  # in code, past the lock
        form.buttons["run"].click()  # a disabled button is still clickable from code
        assert "an operator cannot run recipes" in form.status.value, form.status.value
        form.buttons["test"].click()
        assert "an operator cannot test recipes" in form.status.value
        assert form.save() is False
        assert "an operator cannot change recipe settings" in form.status.value
        form.wait()
        assert studio.jobs() == []
        assert saved_settings(studio.store, recipe) == {}

        form.buttons["start"].click()  # with the saved settings, not the form's values
        assert "started" in form.status.value, form.status.value
        saved = saved_settings(studio.store, recipe)
        assert saved["state"] == "started" and "parameters" not in saved
        form.buttons["stop"].click()
        assert saved_settings(studio.store, recipe)["state"] == "stopped"
        actions = [(e["user"], e["action"]) for e in studio.audit_entries()]
        assert ("otto", "start") in actions and ("otto", "stop") in actions
        assert not {a for u, a in actions if u == "otto"} & {"settings", "run", "test"}


def test_an_operator_s_fixes_ask_who_can_carry_them_out(shop: Studio) -> None:
    """An operator's form has no Save, and the Connections panel no New, Edit or Test for
    them: a fix that needs them is asked of an analyst or admin (an admin's is as it was),
    the form's own words for a slot and the API's fix for each of several connections
    alike."""
    shop.store.ensure_user("otto", "operator")
    shop.try_template("new_lead", "leads")  # its http slot: no http connection
    kind, config = shop.connections.values("shopify")
    shop.connections.add("shop-bad", kind, {**config, "access_token": "shpat_wrong-4711"}, "alice")
    kind, config = shop.connections.values("liveperson")
    shop.connections.add("lp-bad", kind, {**config, "client_secret": "wrong-secret-4711"}, "alice")
    bad = {"shopify": "shop-bad", "liveperson": "lp-bad"}
    shop.save_settings("shop/cart_abandonment", connections=bad)
    create = (
        "create a http connection with its token in the Connections panel, then click Refresh "
        "lists, choose it for http {} and Save"
    )
    with Studio.open(shop.workspace.root, user="otto") as studio:
        form = loaded("leads/new_lead", studio)
        problem = html.unescape(form.problem.value)
        assert f"fix: ask an analyst or admin to {create.format('below')}" in problem, problem
        form.buttons["start"].click()
        said = html.unescape(form.status.value)
        assert f"fix: ask an analyst or admin to {create.format('above')}<" in said, said

        form = loaded("shop/cart_abandonment", studio)
        form.buttons["start"].click()  # each connection's test fails: each one's fix
        said = html.unescape(form.status.value)
        assert "fix: lp-bad: ask an analyst or admin to check the client id and secret" in said
        assert (
            "; shop-bad: ask an analyst or admin to give connection shop-bad an Admin API "
            "access token from the shop's custom app: give shop-bad its access_token with Edit "
            "in the Connections panel"
        ) in said, said
        assert saved_settings(studio.store, "shop/cart_abandonment.ipynb").get("state") is None

    form = loaded("leads/new_lead", shop)  # alice's: an admin creates it herself
    assert f"fix: {create.format('below')}" in html.unescape(form.problem.value)
    assert "ask an" not in form.problem.value


def test_run_now_test_and_start_do_nothing_when_the_save_is_refused(shop: Studio) -> None:
    """Run now, Test and Start save the form first; when the save is refused (here the
    picked connection was deleted meanwhile), they must not go on with the old settings;
    the refusal offers the connections there are, the deleted one no more."""
    recipe = "shop/cart_abandonment.ipynb"
    kind, config = shop.connections.values("liveperson")
    form = loaded("shop/cart_abandonment", shop)
    for key in ("run", "test", "start"):
        shop.connections.add("lp-second", kind, config, "alice")
        form.buttons["refresh"].click()
        form.slots["liveperson"].value = "lp-second"
        shop.connections.remove("lp-second")  # by someone else, while the form is open
        form.buttons[key].click()
        form.wait()
        assert "lp-second" in form.status.value and "does not exist" in form.status.value, (
            key,
            form.status.value,
        )
        assert "lp-second" not in values_of(form.slots["liveperson"])
    assert shop.jobs() == []
    assert saved_settings(shop.store, recipe) == {}


def test_stop_works_while_a_field_is_invalid(shop: Studio, sandbox: Sandbox) -> None:
    """Stopping saves nothing, so a half-typed field must not keep a recipe running."""
    recipe = "shop/cart_abandonment.ipynb"
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["start"].click()
    assert saved_settings(shop.store, recipe)["state"] == "started", form.status.value
    form.fields["campaign_name"].input.value = ""
    form.buttons["stop"].click()
    assert "stopped" in form.status.value, form.status.value
    assert saved_settings(shop.store, recipe)["state"] == "stopped"
    assert saved_settings(shop.store, recipe).get("parameters", {}).get("campaign_name") != ""


def test_the_form_renders_nothing_in_a_job(ws: Path) -> None:
    write_recipe(
        ws,
        "p/formed",
        cells=(
            "from lpstudio.widgets import RecipeForm\nform = RecipeForm.here()",
            "import lpstudio.kernel as lp\nlp.set_result({'form': form is None, 'x': x})",
        ),
    )
    code, job = run_json("run", "p/formed", "-p", "x", "5", "--workspace", str(ws))
    assert code == 0, job
    assert job["result"] == {"form": True, "x": 5}


def test_the_form_cell_of_a_notebook_outside_the_projects_says_why_and_how(
    shop: Studio, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A template opened from the gallery's folder, or an output notebook under history/,
    is no recipe of the workspace: its form cell says so and how to fix it in the studio's
    terms (it named `lpstudio gallery try` for both), no traceback."""
    recipe = (shop.workspace.projects / "shop" / "cart_abandonment.ipynb").read_bytes()
    output = shop.workspace.root / "history" / "old.ipynb"
    template = shop.workspace.root / "templates" / "cart.ipynb"
    for notebook in (output, template):
        notebook.parent.mkdir(exist_ok=True)
        notebook.write_bytes(recipe)
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(shop.workspace.root))
    monkeypatch.setenv("JPY_SESSION_NAME", str(output))
    assert RecipeForm.here() is None
    said = capsys.readouterr()
    assert "is a job's output notebook, outside" in said.out and "projects" in said.out
    assert "copy it to a folder under projects/ with File > Save Notebook As..." in said.out
    assert "lpstudio" not in said.out.replace(str(shop.workspace.root), "") and said.err == ""
    monkeypatch.setenv("JPY_SESSION_NAME", str(template))
    assert RecipeForm.here() is None
    said = capsys.readouterr()
    assert "is outside" in said.out and "(a template: Try recipe in the gallery)" in said.out
    assert "lpstudio" not in said.out.replace(str(shop.workspace.root), "") and said.err == ""


def test_start_checks_connections_and_stop(shop: Studio, sandbox: Sandbox) -> None:
    form = loaded("shop/cart_abandonment", shop)
    form.buttons["start"].click()
    assert "started" in form.status.value, form.status.value
    assert saved_settings(shop.store, "shop/cart_abandonment.ipynb")["state"] == "started"
    form.buttons["stop"].click()
    assert saved_settings(shop.store, "shop/cart_abandonment.ipynb")["state"] == "stopped"
    shop.connections.update("liveperson", {"client_secret": "wrong-secret"})
    form.buttons["start"].click()
    assert "disconnected" in form.status.value
    assert saved_settings(shop.store, "shop/cart_abandonment.ipynb")["state"] == "stopped"


@pytest.mark.parametrize("button", ["run", "test"])
def test_run_now_and_test_run_the_saved_settings_so_a_rerun_runs_those_saved_since(
    studio: Studio, button: str
) -> None:
    """Run now and Test save first, then run the settings saved, given no values, as the
    lab's do: they gave every field's value for the job, so its rerun (a Test's is a test
    again) ran them over the settings saved since (`lpstudio rerun` runs "the values given
    for the job ... over the settings saved now")."""
    write_recipe(
        studio.workspace.root,
        "p/rerun",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'x': x})",),
    )
    form = RecipeForm("p/rerun", studio)
    form.fields["x"].input.value = "5"
    form.buttons[button].click()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "succeeded", form.status.value
    assert job.result == {"x": 5}
    assert saved_settings(studio.store, "p/rerun.ipynb")["parameters"] == {"x": 5}
    studio.save_settings("p/rerun", {"x": "9"}, parse={"x"})  # elsewhere: the CLI, the lab
    again = studio.rerun(job.id)
    assert again.status == "succeeded" and again.result == {"x": 9}
    assert again.trigger == {"run": "rerun", "test": "test"}[button]  # a Test's: a test again
    assert job.given == {}  # as the lab's give none
    form.close()


def test_a_date_parameter_is_picked_checked_and_reaches_the_job_as_iso_text(
    studio: Studio,
) -> None:
    write_recipe(
        studio.workspace.root,
        "p/dated",
        parameters="from datetime import date\n\nstart: date = date(2026, 11, 1)  # first day",
        cells=("import lpstudio.kernel as lp\nlp.set_result({type(start).__name__: start})",),
    )
    form = RecipeForm("p/dated", studio)
    picker = form.fields["start"].input
    assert isinstance(picker, DatePicker) and picker.value == date(2026, 11, 1)
    picker.value = None
    assert "start" in form.fields["start"].error.value
    assert "expects a date like" in form.fields["start"].error.value
    assert form.save() is False
    picker.value = date(2026, 11, 29)
    assert form.fields["start"].error.value == ""
    form.run_now()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert form.last_job.result == {"str": "2026-11-29"}
    assert saved_settings(studio.store, "p/dated.ipynb")["parameters"] == {"start": "2026-11-29"}


def test_a_nullable_flag_is_sent_as_the_cli_reads_it_and_can_go_back_to_none(
    studio: Studio,
) -> None:
    """A checkbox has no None: `flag: bool | None = None` was saved as False, for good."""
    write_recipe(studio.workspace.root, "p/flagged", parameters="flag: bool | None = None")
    form = RecipeForm("p/flagged", studio)
    assert form.save() is True, form.status.value
    # the default: nothing to save
    assert saved_settings(studio.store, "p/flagged.ipynb").get("parameters", {}) == {}
    form.fields["flag"].input.value = "true"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/flagged.ipynb")["parameters"] == {"flag": True}
    form.fields["flag"].input.value = "None"  # the notebook's default: True is forgotten
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/flagged.ipynb")["parameters"] == {}
    assert RecipeForm("p/flagged", studio).fields["flag"].input.value == "None"


def test_a_parameter_without_a_default_left_empty_keeps_the_notebooks_value(
    studio: Studio,
) -> None:
    """As `-p` not naming it: an enum or a computed value with no literal default, left
    empty, is not sent (it was sent as None or "", and an empty enum blocked every save)."""
    write_recipe(
        studio.workspace.root,
        "p/computed",
        parameters="mode = MODES[0]  # a mode\nstamp = make_stamp()\nx: int = 1",
        metadata={"title": "computed", "parameters": {"mode": {"enum": ["fast", "slow"]}}},
    )
    form = RecipeForm("p/computed", studio)
    assert form.fields["mode"].error.value == "" and form.fields["stamp"].error.value == ""
    form.fields["x"].input.value = "2"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/computed.ipynb")["parameters"] == {"x": 2}
    form.fields["mode"].input.value = "slow"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/computed.ipynb")["parameters"]["mode"] == "slow"


def test_refresh_lists_offers_a_connection_added_later_and_the_state_changed_elsewhere(
    studio: Studio,
) -> None:
    write_recipe(
        studio.workspace.root,
        "p/slotted",
        metadata={"title": "slotted", "connections": {"rows": {"type": "csv_file"}}},
    )
    form = RecipeForm("p/slotted", studio)
    assert form.save() is True, form.status.value  # values first, the connection later
    form.run_now()
    form.wait()
    assert "no csv_file connection for slot 'rows'" in html.unescape(form.status.value)
    marked = html.unescape(form.slot_errors["rows"].value)  # marked, fixed in studio terms
    assert "create a csv_file connection with its path in the Connections panel" in marked, marked
    assert studio.jobs() == []
    studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
    studio.start("p/slotted")  # elsewhere: the CLI, the lab studio
    assert "state: stopped" in form.header.value
    form.buttons["refresh"].click()
    assert form.slots["rows"].options[0] == ("(automatic: rows)", "")
    assert "state: started" in form.header.value
    form.buttons["stop"].click()
    assert "state: stopped" in form.header.value, form.status.value


def test_a_template_that_cannot_be_read_is_called_malformed_and_refused_once(
    shop: Studio,
) -> None:
    form = loaded("shop/cart_abandonment", shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "Hi {first_name"
    [issue] = section.issues  # with the fix the CLI and REST give (it had none)
    assert issue.startswith(
        "variable 1: malformed template: expected '}' before end of string (fix: write record "
        "fields in braces, such as {"
    ), issue
    assert issue.endswith("and a literal brace as {{ or }})"), issue
    section.variables["1"].value = "Hi {first_name:zz}"
    [issue] = section.issues
    assert issue.startswith("variable 1: {first_name:zz}: 'zz' is a format no value takes")
    assert form.save() is False
    assert form.status.value.count("is a format no value takes") == 1, form.status.value
    assert saved_settings(shop.store, "shop/cart_abandonment.ipynb") == {}


def test_a_text_template_parameter_is_checked_as_the_cli_checks_it(shop: Studio) -> None:
    """The payment reminder's `body_template` is one text: a format no value takes is shown
    under its field and blocks saving, as `lpstudio run` and the REST API refuse it."""
    shop.try_template("payment_reminder", "shop")
    form = loaded("shop/payment_reminder", shop)
    error = refused(form, "body_template", "Hi {first_name:zz}")
    assert "body_template" in error and "{first_name:zz}" in error
    assert saved_settings(shop.store, "shop/payment_reminder.ipynb") == {}


def test_a_nullable_literal_saved_as_none_saves_again(studio: Studio) -> None:
    """A saved None showed as the empty choice, which the next save sent as "": refused,
    so Save, Test, Run now and Start all stopped at "fix the fields first"."""
    write_recipe(
        studio.workspace.root,
        "p/maybe",
        parameters='from typing import Literal\nchannel: Literal["sms", "wa"] | None = "sms"\n',
    )
    form = RecipeForm("p/maybe", studio)
    form.fields["channel"].input.label = "None"  # the user picks "None"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/maybe.ipynb")["parameters"] == {"channel": None}
    assert form.fields["channel"].input.label == "None"
    assert form.save() is True, form.status.value
    fresh = RecipeForm("p/maybe", studio)
    assert fresh.fields["channel"].input.label == "None"
    assert fresh.save() is True, fresh.status.value
    assert saved_settings(studio.store, "p/maybe.ipynb")["parameters"] == {"channel": None}
    # None picked over a saved "wa" is saved too (it was forgotten: the default came back).
    fresh.fields["channel"].input.value = "wa"
    assert fresh.save() is True, fresh.status.value
    fresh.fields["channel"].input.label = "None"
    assert fresh.save() is True, fresh.status.value
    assert saved_settings(studio.store, "p/maybe.ipynb")["parameters"] == {"channel": None}
    assert fresh.fields["channel"].input.label == "None"


def test_a_literal_is_a_drop_down_and_a_phone_is_checked_as_the_cli_checks_it(
    studio: Studio,
) -> None:
    from lpstudio.sdk import E164_PATTERN

    write_recipe(
        studio.workspace.root,
        "p/choice",
        parameters='from typing import Literal\nchannel: Literal["sms", "wa"] = "sms"\n'
        'phone: str = "+14155550100"',
        metadata={"title": "choice", "parameters": {"phone": {"pattern": E164_PATTERN}}},
    )
    form = RecipeForm("p/choice", studio)
    assert form.fields["channel"].input.options == (
        ("(default: sms)", ""),
        ("sms", "sms"),
        ("wa", "wa"),
    )
    shown = refused(form, "phone", "415 555 0100")
    assert "E.164" in shown and "+14155550100" in shown
    assert saved_settings(studio.store, "p/choice.ipynb") == {}


def test_a_path_field_leading_out_of_projects_is_marked_and_not_saved(studio: Studio) -> None:
    write_recipe(
        studio.workspace.root,
        "p/path",
        parameters='from pathlib import Path\ndata: Path = "invoices.csv"',
    )
    form = RecipeForm("p/path", studio)
    form.fields["data"].input.value = "../../secret.key"
    assert "outside the workspace's projects/ folder" in html.unescape(
        form.fields["data"].error.value
    )
    assert form.save() is False
    assert saved_settings(studio.store, "p/path.ipynb") == {}
    form.fields["data"].input.value = "data/invoices.csv"
    assert form.fields["data"].error.value == ""
    assert form.save() is True


def test_run_now_is_disabled_for_a_webhook_recipe_and_points_to_test(studio: Studio) -> None:
    """Its Run now could only be refused: a real run needs the event posted to it."""
    write_recipe(
        studio.workspace.root,
        "p/hooked",
        metadata={"title": "hooked", "trigger": {"kind": "webhook"}},
    )
    form = RecipeForm("p/hooked", studio)
    assert form.buttons["run"].disabled and "Test" in form.buttons["run"].tooltip
    assert not form.buttons["test"].disabled


def test_the_form_of_a_broken_recipe_raises_its_error_and_nothing_after(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collecting the half-made form printed an AttributeError ('fields') traceback."""
    import gc
    import sys

    from lpstudio.errors import RecipeError

    path = write_recipe(studio.workspace.root, "p/kern")
    path.write_text(path.read_text().replace('"name": "python3"', '"name": "nosuch"'))
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(RecipeError) as raised:
        RecipeForm("p/kern", studio)
    assert raised.value.field == "metadata.kernelspec.name"
    del raised
    gc.collect()
    assert unraisable == []


def test_a_save_does_not_overwrite_settings_changed_elsewhere(shop: Studio) -> None:
    """A form open while someone saves the recipe elsewhere (the CLI, the lab panel, another
    notebook) wrote its stale values over theirs. As the lab panel does, it refuses, shows
    the recipe as it is now with what was typed kept, names what changed elsewhere, and
    saves on the next click."""
    recipe = "shop/cart_abandonment"
    form = loaded(recipe, shop)
    form.fields["skill"].input.value = "support"
    elsewhere = {"campaign_name": "Set elsewhere", "body_variables": {"1": "Yo {first_name}"}}
    shop.save_settings(recipe, elsewhere)
    assert form.save() is False
    said = html.unescape(form.status.value)
    assert "changed elsewhere" in said and "check" in said, said
    assert "body_variables, campaign_name changed" in said, said
    saved = saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]
    assert saved["campaign_name"] == "Set elsewhere" and "skill" not in saved
    assert form.fields["campaign_name"].input.value == "Set elsewhere"  # shown as it is now
    assert form.proactive is not None and form.proactive.body() == {"1": "Yo {first_name}"}
    assert "Yo Ava" in form.proactive.preview.value
    assert form.fields["skill"].input.value == "support"  # as typed: not saved yet
    assert form.save() is True, form.status.value
    saved = saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]
    assert saved["campaign_name"] == "Set elsewhere" and saved["skill"] == "support"
    form.buttons["run"].click()  # its own save is no change elsewhere
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value


def test_a_save_after_a_stop_elsewhere_is_refused_and_the_form_s_own_stop_is_not(
    studio: Studio,
) -> None:
    """Any write of the settings elsewhere (a stop too) is a change the form did not see;
    the form's own Stop and Start are not."""
    write_recipe(studio.workspace.root, "p/two", parameters="x: int = 1\ny: int = 2")
    form = RecipeForm("p/two", studio)
    form.fields["x"].input.value = "5"
    assert form.save() is True, form.status.value
    form.buttons["start"].click()
    form.buttons["stop"].click()
    form.fields["y"].input.value = "6"
    assert form.save() is True, form.status.value
    studio.start("p/two")  # elsewhere
    form.fields["x"].input.value = "7"
    assert form.save() is False
    said = html.unescape(form.status.value)
    assert "changed elsewhere" in said and "state changed" in said, said
    assert saved_settings(studio.store, "p/two.ipynb")["parameters"] == {"x": 5, "y": 6}
    assert form.fields["x"].input.value == "7" and form.fields["y"].input.value == "6"
    assert "state: started" in form.header.value
    assert form.save() is True, form.status.value
    saved = saved_settings(studio.store, "p/two.ipynb")
    assert saved["parameters"] == {"x": 7, "y": 6} and saved["state"] == "started"


def test_saving_again_keeps_an_empty_text_saved(studio: Studio) -> None:
    """An empty text saved (`-p greeting ''`) was forgotten by the next Save with nothing
    changed: the notebook's default came back unasked. (A field emptied in the form stores
    nothing, as the README says: test_settings_readiness.)"""
    write_recipe(studio.workspace.root, "p/texts", parameters='greeting: str = "hello"')
    studio.save_settings("p/texts", {"greeting": ""})
    form = RecipeForm("p/texts", studio)
    assert form.fields["greeting"].raw == ""
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/texts.ipynb")["parameters"] == {"greeting": ""}
    again = RecipeForm("p/texts", studio)
    assert again.fields["greeting"].raw == ""
    assert again.save() is True, again.status.value
    assert saved_settings(studio.store, "p/texts.ipynb")["parameters"] == {"greeting": ""}


def test_a_pick_list_that_cannot_load_says_which_connection_and_the_fix(shop: Studio) -> None:
    """The handoff list said only "could not load the list: LivePerson refused the app
    credentials": not which connection, nor how to go on."""
    shop.connections.update("liveperson", {"client_secret": "s3cr3t-typo"})
    form = loaded("shop/cart_abandonment", shop)
    for name in ("handoff", "skill"):
        note = html.unescape(form.fields[name].note.value)
        assert "connection 'liveperson'" in note and "HTTP 401" in note, note
        fix = "give them with Edit of liveperson in the Connections panel, then Test liveperson"
        assert f"{fix} in the Connections panel, then click Refresh lists)" in note, note
        assert "lpstudio" not in note, note  # it said `lpstudio connections test liveperson`
        assert "s3cr3t-typo" not in note
    assert form.fields["handoff"].input.options == (("(default: H1000000001)", ""),)
    shop.connections.update("liveperson", {"client_secret": "sandbox-secret"})  # corrected
    form.buttons["refresh"].click()
    form.wait()
    assert form.fields["handoff"].note.value == ""
    assert len(form.fields["handoff"].input.options) == 4  # the default, and three


def test_the_form_shows_at_once_while_liveperson_is_slow_and_fills_its_lists_later(
    shop: Studio, sandbox: Sandbox, serve
) -> None:
    """The pick lists were loaded while the form was built: with LivePerson slow or down,
    the form cell showed nothing for as long as the connector's retries took."""
    recipe = "shop/cart_abandonment"
    shop.save_settings(recipe, {"handoff": "H1000000002", "body_variables": TWO_VARIABLES})
    slow = serve(HeldHandoffs(sandbox.url))
    shop.connections.update("liveperson", {"base_url": slow.url})
    try:
        form = RecipeForm(recipe, shop)  # returns while the handoff list is still asked
        handoff = form.fields["handoff"]
        assert slow.held.wait(10)  # the list's request is out, and held
        assert values_of(handoff.input) == ["", "H1000000002"]  # the saved value, only
        assert handoff.input.value == "H1000000002"
        assert "loading" in handoff.note.value
        assert form.save() is True, form.status.value  # saves what the drop-down shows
        saved = saved_settings(shop.store, f"{recipe}.ipynb")["parameters"]
        assert saved["handoff"] == "H1000000002"
        assert not slow.release.is_set()  # all of it while the list was held
    finally:
        slow.release.set()
    form.wait()
    assert values_of(handoff.input) == ["", "H1000000001", "H1000000002", "H1000000003"]
    assert handoff.input.value == "H1000000002" and handoff.note.value == ""


def test_switching_the_connection_while_a_list_loads_ends_with_the_new_connections_list(
    shop: Studio, sandbox: Sandbox, serve
) -> None:
    """The first connection's late answer must not replace the second one's list."""
    slow = serve(HeldHandoffs(sandbox.url))
    other = serve(HandoffsElsewhere(sandbox.url, 2))
    kind, config = shop.connections.values("liveperson")
    shop.connections.update("liveperson", {"base_url": slow.url})
    shop.connections.add("lp-other", kind, {**config, "base_url": other.url}, "alice")
    form = RecipeForm("shop/cart_abandonment", shop)
    handoff = form.fields["handoff"]
    try:
        assert slow.held.wait(10)
        assert "loading" in handoff.note.value  # the first connection's list is pending
        form.slots["liveperson"].value = "lp-other"
        wait_for(lambda: "H0000000000" in values_of(handoff.input), what="lp-other's handoffs")
    finally:
        slow.release.set()
    form.wait()  # the first connection's answer has come back too
    assert values_of(handoff.input) == ["", "H0000000000", "H0000000001"]
    assert handoff.input.options[0][0] == "(default: H1000000001)"  # nothing saved
    assert handoff.input.value == "" and handoff.note.value == ""


def test_closing_the_form_does_not_wait_for_a_list_still_loading(
    shop: Studio, sandbox: Sandbox, serve
) -> None:
    """Nor does the list, answered late, write into the closed form."""
    slow = serve(HeldHandoffs(sandbox.url))
    shop.connections.update("liveperson", {"base_url": slow.url})
    form = RecipeForm("shop/cart_abandonment", shop)
    handoff = form.fields["handoff"]
    try:
        assert slow.held.wait(10)
        form.close()
        assert form.comm is None and handoff.input.comm is None
        assert not slow.release.is_set()  # closed while the list was held
    finally:
        slow.release.set()
    form.wait()
    assert values_of(handoff.input) == [""] and "loading" in handoff.note.value
    assert form.status.value == ""


def test_a_tuple_saved_in_the_form_or_given_as_json_reaches_the_job_as_a_tuple(
    studio: Studio,
) -> None:
    """Values keep their declared types: JSON has no tuple, and a `tuple[str, int]` saved
    in the form (or sent over REST) was injected as a list (`pair = ["b", 2]`)."""
    write_recipe(
        studio.workspace.root,
        "p/pairs",
        parameters='pair: tuple[str, int] = ("a", 1)\nby_key: dict[str, tuple[int, ...]] = {}',
        cells=("import lpstudio.kernel as lp\nlp.set_result({'seen': repr((pair, by_key))})",),
    )
    form = RecipeForm("p/pairs", studio)
    form.fields["pair"].input.value = '["b", 2]'
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/pairs.ipynb")["parameters"] == {"pair": ["b", 2]}
    form.run_now()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert form.last_job.result == {"seen": "(('b', 2), {})"}
    job = studio.run("p/pairs", {"by_key": {"k": [1, 2]}})  # as the REST API gives JSON
    assert job.result == {"seen": "(('b', 2), {'k': (1, 2)})"}, job.error
    injected = nbformat.read(studio.workspace.root / job.output_path, as_version=4).cells[1]
    assert 'pair = ("b", 2)' in injected.source and "(1, 2)" in injected.source
