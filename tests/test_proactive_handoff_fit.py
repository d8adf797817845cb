"""Body variables that do not fit the chosen handoff's `{{n}}` placeholders are refused by
the form's Save (also while the list reloads) and by a dry run (Test), as LivePerson refuses
every recipient of the real send, and so is a channel of the handoff given no address (the
form warns of it); the preview counts the handoff's own text; a variable can be removed,
one emptied is not saved, and Add variable fills the lowest gap. Against the sandbox on
loopback, through real kernels for Test."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lpstudio.client import ConnectionClient
from lpstudio.errors import ParameterError
from lpstudio.sandbox import Sandbox
from lpstudio.sandbox.seed import HANDOFFS
from lpstudio.sdk import Connection, ConnectorError
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm

from . import test_forms, test_liveperson
from .test_liveperson import CAMPAIGN_PATH, ForwardingProxy, people, send

#: The fixtures of the tests next door: connections to the sandbox, a workspace on it with
#: the cart template in project `shop`.
connect = test_liveperson.connect
shop = test_forms.shop
loaded = test_forms.loaded

CART = "shop/cart_abandonment"
REMINDER = "shop/payment_reminder"
HANDOFFS_LIST = "/app/prmsg/handoffs/list"
#: What the sandbox's H1000000001 adds after {{1}}: LivePerson sends it with the variable.
OPT_OUT = " Reply STOP to opt out."
#: Variables that do not fit a handoff, and the code LivePerson refuses each recipient with:
#: the dry run and the form's Save say the same one.
MISFITS = [
    ("H1000000001", {"1": "{name}", "2": "188.90 USD"}, "TOO_MANY_VARIABLES"),
    ("H1000000003", {"1": "{name}"}, "INSUFFICIENT_VARIABLES"),
    ("H1000000003", {"1": "{name}", "3": "$10"}, "MISSING_VARIABLE=2"),
]


class HandoffsWithoutText(ForwardingProxy):
    """LivePerson's handoff list without the message text (its shape is not public): the
    handoffs and their channels only, or `status` instead of a list. Every other request
    goes on to the sandbox."""

    def __init__(self, sandbox_url: str, status: int = 200) -> None:
        super().__init__(sandbox_url)
        self.status = status

    def answer(self, path: str) -> httpx.Response | None:
        if not path.endswith(HANDOFFS_LIST):
            return None
        if self.status != 200:
            return httpx.Response(self.status, json={"message": "not allowed"})
        items = [{"id": f"H100000000{n}", "channels": [{"channel": "sms"}]} for n in (1, 2, 3)]
        return httpx.Response(200, json={"handoffs": items, "total": len(items)})


class HeldHandoffs(ForwardingProxy):
    """The sandbox's handoff list, held while `hold` is clear (a slow LivePerson): `asked`
    is set when a request for it waits."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__(sandbox_url)
        self.hold, self.asked = threading.Event(), threading.Event()
        self.hold.set()

    def answer(self, path: str) -> httpx.Response | None:
        if path.endswith(HANDOFFS_LIST) and not self.hold.is_set():
            self.asked.set()
            self.hold.wait(30)
        return None  # forwarded


class SpelledChannels(ForwardingProxy):
    """The sandbox's handoff list with each channel named as `spell` says (LivePerson's own
    codes say them in upper case, MISSING_CONSUMER_INFORMATION==WA, and the list's field
    names are not public). Every other request goes on to the sandbox."""

    def __init__(self, sandbox_url: str, spell: Callable[[str], str]) -> None:
        super().__init__(sandbox_url)
        self.spell = spell

    def answer(self, path: str) -> httpx.Response | None:
        if not path.endswith(HANDOFFS_LIST):
            return None
        items = [
            {**h, "channels": [{**c, "channel": self.spell(c["channel"])} for c in h["channels"]]}
            for h in HANDOFFS
        ]
        return httpx.Response(200, json={"handoffs": items, "total": len(items)})


def campaigns_posted(control: httpx.Client) -> list[Any]:
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry for entry in log if entry["path"] == CAMPAIGN_PATH]


def said(widget: Any) -> str:
    return html.unescape(widget.value)


def parameters(studio: Studio, recipe: str) -> dict[str, Any]:
    return saved_settings(studio.store, f"{recipe}.ipynb").get("parameters", {})


def test_an_empty_body_variable_is_refused_by_the_cli_s_rules_naming_it(shop: Studio) -> None:
    """`lpstudio settings ... -p body_variables '{"1": "Hi {first_name}", "2": ""}'` was
    stored, and every Test and Run then failed TOO_MANY_VARIABLES: an empty variable is
    never sent (as the form never saves one), so it is refused where it is given."""
    with pytest.raises(ParameterError) as refused:
        shop.save_settings(CART, {"body_variables": {"1": "Hi {first_name}", "2": " "}})

    assert refused.value.field == "body_variables"
    assert "variable 2" in refused.value.message and "empty" in refused.value.message
    assert "2" in (refused.value.fix or "")
    assert parameters(shop, CART) == {}


# -- the pick list -----------------------------------------------------------------------------


def test_the_handoff_list_carries_each_channel_s_message_and_its_placeholders(
    connect: Callable[..., Connection],
) -> None:
    handoffs = {o.value: o.extra for o in ConnectionClient(connect()).picklist("handoffs")}

    assert handoffs["H1000000001"]["messages"] == {"sms": "{{1}} Reply STOP to opt out."}
    assert handoffs["H1000000001"]["placeholders"] == ["1"]
    assert set(handoffs["H1000000002"]["messages"]) == {"wa", "sms"}
    assert handoffs["H1000000002"]["placeholders"] == ["1", "2"]
    assert handoffs["H1000000003"]["placeholders"] == ["1", "2"]
    assert handoffs["H1000000002"]["channels"] == ["wa", "sms"]  # as before


# -- the dry run -------------------------------------------------------------------------------


@pytest.mark.parametrize(("handoff", "variables", "code"), MISFITS)
def test_a_dry_run_refuses_variables_the_handoff_refuses_as_the_real_send_does(
    connect: Callable[..., Connection],
    control: httpx.Client,
    handoff: str,
    variables: dict[str, str],
    code: str,
) -> None:
    """A Test succeeded with variables that the real send then had refused for every
    recipient: it now fails alike, with the same error, and sends nothing."""
    with pytest.raises(ConnectorError) as dry:
        send(connect(dry_run=True), people(3), handoff=handoff, variables=variables)
    assert campaigns_posted(control) == []
    with pytest.raises(ConnectorError) as real:
        send(connect(), people(3), handoff=handoff, variables=variables)

    assert type(dry.value).__name__ == type(real.value).__name__ == "HandoffMismatch"
    assert dry.value.field == real.value.field == "variables"
    assert dry.value.fix == real.value.fix
    assert code in dry.value.message and f"do not fit handoff {handoff}" in dry.value.message
    assert "{{1}}" in dry.value.message  # the handoff's placeholders, named
    assert not dry.value.retryable


def test_a_dry_run_that_fits_the_handoff_still_answers_what_it_would_send(
    connect: Callable[..., Connection], control: httpx.Client
) -> None:
    variables = {"1": "{name}", "2": "$10"}
    result = send(connect(dry_run=True), people(3), handoff="H1000000003", variables=variables)

    assert result["dry_run"] is True and result["recipients"] == 3
    assert campaigns_posted(control) == []


@pytest.mark.parametrize("status", [200, 403])
def test_a_dry_run_refuses_nothing_when_the_handoff_s_text_is_unknown(
    connect: Callable[..., Connection],
    control: httpx.Client,
    sandbox: Sandbox,
    serve: Callable[[Any], Any],
    status: int,
) -> None:
    """A real LivePerson list may not carry the message text, or may not be readable by the
    app: the variables cannot be checked then, and are not refused."""
    proxy = serve(HandoffsWithoutText(sandbox.url, status))
    conn = connect(dry_run=True, handoff_base_url=proxy.url)
    variables = {"1": "{name}", "2": "188.90 USD"}

    result = send(conn, people(3), handoff="H1000000001", variables=variables)

    assert result["dry_run"] is True and result["recipients"] == 3
    assert any(path.endswith(HANDOFFS_LIST) for path in proxy.paths)
    assert campaigns_posted(control) == []


def test_a_test_job_of_the_cart_recipe_fails_on_a_variable_its_handoff_lacks(
    shop: Studio,
) -> None:
    """The reviewer's cart: Variable 2 added for handoff H1000000001 ({{1}} only). Test
    said it succeeded; Run now then failed at LivePerson."""
    variables = {"1": "Hi {first_name}", "2": "{total_price} {currency}"}

    job = shop.run(CART, {"body_variables": variables}, test=True)

    assert job.status == "failed", job.error
    assert job.error["ename"] == "HandoffMismatch"
    assert "TOO_MANY_VARIABLES" in job.error["evalue"]
    assert "H1000000001" in job.error["evalue"]


# -- the form ------------------------------------------------------------------------------


def test_save_refuses_body_variables_that_do_not_fit_the_handoff(shop: Studio) -> None:
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    section.variables["2"].value = "{total_price} {currency}"

    assert form.save() is False
    status = said(form.status)
    assert "fix the fields first" in status and "Body variables" in status, status
    assert "H1000000001" in status and "{{2}}" in status and "Remove variable 2" in status
    assert "Body variables" in said(section.fit)
    assert parameters(shop, CART) == {}

    form.fields["handoff"].input.value = "H1000000002"  # {{1}} and {{2}}
    assert "Body variables" not in said(section.fit)  # its wa channel is warned of
    assert form.save() is True, form.status.value
    assert parameters(shop, CART)["body_variables"]["2"] == "{total_price} {currency}"

    form.fields["handoff"].input.value = "H1000000003"
    form.fields["handoff"].input.value = ""  # the notebook's default: H1000000001 again
    assert form.save() is False and "{{2}}" in said(form.status)
    form.close()


@pytest.mark.parametrize(("handoff", "variables", "code"), MISFITS)
def test_save_refuses_with_the_code_the_dry_run_and_liveperson_give(
    shop: Studio, handoff: str, variables: dict[str, str], code: str
) -> None:
    """The form and the connector each had their own rule: Save now says the code that
    Test, and LivePerson, would refuse the same variables with."""
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    for _ in range(max(map(int, variables)) - 1):
        add.click()
    for key in [key for key in section.variables if key not in variables]:
        section.removers[key].click()
    for key, area in section.variables.items():
        area.value = f"A-{key}"
    form.fields["handoff"].input.value = handoff

    assert form.save() is False
    status = said(form.status)
    assert "Body variables" in status and f"do not fit handoff {handoff}" in status, status
    assert code in status and code in said(section.fit)
    assert parameters(shop, CART) == {}
    form.close()


def test_save_refuses_too_few_body_variables_saying_which_to_add(shop: Studio) -> None:
    form = loaded(CART, shop)
    form.fields["handoff"].input.value = "H1000000003"  # Hi {{1}}, a payment of {{2}}...

    assert form.save() is False
    status = said(form.status)
    assert "Body variables" in status and "{{2}}" in status and "Add variable" in status
    assert parameters(shop, CART) == {}
    form.close()


def test_a_variable_can_be_removed_from_the_keyboard_and_an_emptied_one_is_not_saved(
    shop: Studio,
) -> None:
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    form.fields["handoff"].input.value = "H1000000002"
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    section.variables["2"].value = "A-1"
    assert form.save() is True, form.status.value

    # Emptied: not saved as "" (which LivePerson counts, and refuses every recipient for).
    section.variables["2"].value = ""
    form.fields["handoff"].input.value = ""  # H1000000001: {{1}} only
    assert form.save() is True, form.status.value
    assert "body_variables" not in parameters(shop, CART)  # the notebook's default again

    add.click()
    remove = section.removers["3"]
    # A button (reached by Tab), named for a screen reader by its text, as Add variable is.
    assert remove.description == "Remove variable 3" and not remove.disabled
    remove.click()
    assert list(section.variables) == ["1", "2"]
    assert "Variable 3" not in [area.description for area in section.variables.values()]
    section.removers["2"].click()
    assert list(section.variables) == ["1"] and list(section.target.options) == ["1"]
    assert form.save() is True, form.status.value
    assert "body_variables" not in parameters(shop, CART)
    form.close()


def test_the_preview_counts_the_handoff_s_message_filled(shop: Studio) -> None:
    """The preview said 120 characters, 1 SMS: LivePerson sends the handoff's message,
    {{1}} filled, 143 characters, 2 SMS."""
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    section.variables["1"].value = "x" * 120

    shown = said(section.preview)
    assert "x" * 120 + OPT_OUT in shown
    assert "143 characters, 2 SMS (gsm0338)" in shown, shown
    assert "120 characters" not in shown
    form.close()


def test_a_text_template_that_cannot_fill_the_handoff_is_said_and_its_test_fails(
    shop: Studio,
) -> None:
    """The payment reminder sends its `body_template` as {{1}}: handoff H1000000003 has
    {{2}} too. Its Test succeeded; Run now failed with INSUFFICIENT_VARIABLES."""
    shop.try_template("payment_reminder", "shop")
    form = loaded(REMINDER, shop)
    section = form.proactive
    assert section is not None and section.fit.value == ""
    form.fields["handoff"].input.value = "H1000000003"
    assert "{{2}}" in said(section.fit) and "body_template" in said(section.fit)
    assert "INSUFFICIENT_VARIABLES" in said(section.fit)  # as its Test then fails

    form.test()
    form.wait()

    job = form.last_job
    assert job is not None and job.status == "failed", form.status.value
    assert "HandoffMismatch" in said(form.status) and "INSUFFICIENT_VARIABLES" in said(form.status)
    form.close()


def test_body_template_set_back_to_the_default_stores_nothing(shop: Studio) -> None:
    """Saved, then set back to exactly the notebook's default and saved again: it stayed
    saved, so a later change of the notebook's default did not apply."""
    shop.try_template("payment_reminder", "shop")
    form = loaded(REMINDER, shop)
    editor = form.fields["body_template"]
    default = editor.schema["default"]
    editor.input.value = "Hi {first_name}, invoice {invoice_id} is due."
    assert form.save() is True, form.status.value
    assert parameters(shop, REMINDER) == {"body_template": editor.input.value}

    editor.input.value = default
    assert form.save() is True, form.status.value

    assert parameters(shop, REMINDER) == {}
    assert editor.input.value == default
    form.close()
    again = RecipeForm(REMINDER, shop)
    assert "differ from the notebook" not in again.differences.value
    again.close()


# -- Add variable's number, the handoff's channels, a list reloading ---------------------------


def test_add_variable_gives_the_lowest_missing_number_so_the_fix_can_be_followed(
    shop: Studio,
) -> None:
    """Variable 1 removed, Save said to give {{1}} a variable with Add variable, which added
    {{3}}: the fix the form gave could not be followed."""
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    form.fields["handoff"].input.value = "H1000000003"  # {{1}} and {{2}}
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    section.variables["2"].value = "$10"
    section.removers["1"].click()
    assert "give {{1}} a variable with Add variable" in said(section.fit)

    add.click()

    assert list(section.variables) == ["1", "2"]
    rows = [row.children[0].description for row in section.variable_box.children]
    assert rows == ["Variable 1", "Variable 2"]  # in the placeholders' order
    section.variables["1"].value = "Hi {first_name}"
    assert section.fit.value == ""
    assert form.save() is True, form.status.value
    assert parameters(shop, CART)["body_variables"] == {"1": "Hi {first_name}", "2": "$10"}
    form.close()


def test_a_dry_run_refuses_a_channel_of_the_handoff_the_campaign_gives_no_address(
    connect: Callable[..., Connection], control: httpx.Client
) -> None:
    """Handoff H1000000002 is on wa and sms: a campaign on sms alone passed Test, and the
    real send was refused whole, MISSING_CONSUMER_INFORMATION==WA."""
    variables = {"1": "{name}", "2": "$10"}
    with pytest.raises(ConnectorError) as dry:
        send(connect(dry_run=True), people(2), handoff="H1000000002", variables=variables)
    assert campaigns_posted(control) == []
    with pytest.raises(ConnectorError) as real:
        send(connect(), people(2), handoff="H1000000002", variables=variables)

    assert type(dry.value).__name__ == type(real.value).__name__ == "HandoffMismatch"
    assert dry.value.field == real.value.field == "channels"
    assert dry.value.fix == real.value.fix
    assert "MISSING_CONSUMER_INFORMATION==WA" in dry.value.message
    assert "wa, sms" in dry.value.message  # the handoff's channels, named

    both = {"sms": "phone", "wa": "phone"}
    dry_run = connect(dry_run=True)
    result = send(dry_run, people(2), handoff="H1000000002", variables=variables, consumer_id=both)
    assert result["dry_run"] is True and result["recipients"] == 2


def test_the_cart_s_test_fails_on_a_channel_of_its_handoff_and_save_warns_of_it(
    shop: Studio,
) -> None:
    """The cart recipe sends on its Channel alone: with handoff H1000000002 (wa and sms)
    its Test succeeded, and Run now was refused by LivePerson for every recipient."""
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    form.fields["handoff"].input.value = "H1000000002"  # wa and sms, {{1}} and {{2}}
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    section.variables["2"].value = "$10"
    assert "MISSING_CONSUMER_INFORMATION==WA" in said(section.fit)

    assert form.save() is True, form.status.value  # saved: the recipe decides its channels
    status = said(form.status)
    assert "but:" in status and "MISSING_CONSUMER_INFORMATION==WA" in status, status

    form.test()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "failed", form.status.value
    assert job.error["ename"] == "HandoffMismatch"
    assert "MISSING_CONSUMER_INFORMATION==WA" in job.error["evalue"]

    form.fields["channel"].input.value = "wa"  # still not sms: warned of alike
    assert "MISSING_CONSUMER_INFORMATION==SMS" in said(section.fit)
    form.close()


def test_channels_the_handoff_list_names_in_upper_case_are_the_campaign_s_own(
    shop: Studio, sandbox: Sandbox, serve: Callable[[Any], Any]
) -> None:
    """A handoff list naming its channels SMS and WA (as LivePerson's codes do): the cart's
    Test failed, its handoff H1000000001 'on SMS' given sms, while the real send succeeded;
    the form warned of the same on Save, and its preview lost the handoff's SMS text."""
    proxy = serve(SpelledChannels(sandbox.url, str.upper))
    shop.connections.update("liveperson", {"handoff_base_url": proxy.url})

    job = shop.run(CART, {}, test=True)

    assert job.status == "succeeded", job.error
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    assert section.fit.value == ""  # H1000000001 is on sms
    assert OPT_OUT in said(section.preview)  # its SMS text, found under sms
    form.fields["handoff"].input.value = "H1000000002"  # WA and SMS: wa still has no address
    assert "MISSING_CONSUMER_INFORMATION==WA" in said(section.fit)
    form.close()


def test_a_channel_name_the_connector_does_not_know_leaves_the_channels_unchecked(
    shop: Studio, sandbox: Sandbox, serve: Callable[[Any], Any]
) -> None:
    """A handoff list naming a channel in words of its own (`whatsapp`, not LivePerson's
    `wa`): no address can be foreseen missing on it, so neither Test nor the form refuses or
    warns of it by its name; LivePerson's answer to the real send says."""
    proxy = serve(SpelledChannels(sandbox.url, lambda c: "whatsapp" if c == "wa" else c))
    shop.connections.update("liveperson", {"handoff_base_url": proxy.url})
    variables = {"1": "Hi {first_name}", "2": "$10"}

    job = shop.run(CART, {"handoff": "H1000000002", "body_variables": variables}, test=True)

    assert job.status == "succeeded", job.error
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    form.fields["handoff"].input.value = "H1000000002"
    assert "MISSING_CONSUMER_INFORMATION" not in said(section.fit)
    form.close()


def test_save_while_the_handoff_list_reloads_still_checks_the_variables(
    shop: Studio, sandbox: Sandbox, serve: Callable[[Any], Any]
) -> None:
    """Refresh lists forgot what the list said of each handoff until it came again: a Save
    meanwhile stored variables the handoff refuses."""
    proxy = serve(HeldHandoffs(sandbox.url))
    shop.connections.update("liveperson", {"handoff_base_url": proxy.url})
    form = loaded(CART, shop)
    section = form.proactive
    assert section is not None
    add = next(b for b in section.children if getattr(b, "description", "") == "Add variable")
    add.click()
    section.variables["2"].value = "$10"  # H1000000001 has {{1}} only
    assert "TOO_MANY_VARIABLES" in said(section.fit)

    proxy.hold.clear()
    form.buttons["refresh"].click()
    assert proxy.asked.wait(30)  # the list is being asked again, and held
    try:
        assert form.save() is False
        assert "TOO_MANY_VARIABLES" in said(form.status), said(form.status)
        assert parameters(shop, CART) == {}
    finally:
        proxy.hold.set()
    form.wait()
    assert "TOO_MANY_VARIABLES" in said(section.fit)
    form.close()
