"""What a campaign refused for its handoff tells its reader to change: first the handoff (what
an admin changes, in the recipe's form or with `-p handoff`), then `send_campaign`'s own
argument (what a recipe's author changes). The fixes used to name the action's inputs bare
(`channels`, `variables`, `outbound_number`), which the templates' parameters are not: the
cart has one `channel`, the payment reminder a `body_template`. Against the sandbox over
loopback; the templates' jobs in real kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lpstudio.sdk import Connection, ConnectorError
from lpstudio.studio import Studio

from . import test_forms, test_liveperson
from .test_liveperson import CAMPAIGN_PATH, people, requests_to, send

#: The fixtures of the tests next door: connections to the sandbox, and a workspace on it
#: with the cart template in project `shop`.
connect = test_liveperson.connect
shop = test_forms.shop

CART = "shop/cart_abandonment"
REMINDER = "shop/payment_reminder"
#: The sandbox's SMS template id: unlike a handoff, it carries no send-from number.
SMS_TEMPLATE = "sms_text_v1"
#: Fixes that name an input no template has: the action's argument, said bare.
BARE = ("give `channels`", "give `variables`", "name `variables`", "give outbound_number")


def refusals(connect: Callable[..., Connection], **overrides: Any) -> list[ConnectorError]:
    """The errors a Test (dry run) and then the real send of the campaign fail with."""
    caught = []
    for dry_run in (True, False):
        with pytest.raises(ConnectorError) as raised:
            send(connect(dry_run=dry_run), people(3), **overrides)
        caught.append(raised.value)
    return caught


def assert_no_bare_input(fix: str | None) -> None:
    assert fix is not None and not any(bare in fix for bare in BARE), fix


def test_a_handoff_on_another_channel_too_is_fixed_by_the_handoff_or_send_campaign_channels(
    connect: Callable[..., Connection],
) -> None:
    """H1000000002 is on wa and sms; the campaign gives an address on sms alone."""
    variables = {"1": "{name}", "2": "A-{name}"}
    dry, real = refusals(connect, handoff="H1000000002", variables=variables)

    assert dry.field == real.field == "channels"
    assert dry.fix == real.fix
    assert str(dry.fix).startswith("choose a handoff on sms alone"), dry.fix
    assert "add wa to `send_campaign(channels=...)`" in str(dry.fix), dry.fix
    assert_no_bare_input(dry.fix)


def test_with_several_channels_given_the_handoff_to_choose_is_on_those_alone(
    connect: Callable[..., Connection],
) -> None:
    """A campaign on inapp and sms: H1000000002 wants wa too."""
    both = {"sms": "phone", "inapp": "name"}
    variables = {"1": "{name}", "2": "A-{name}"}
    dry, real = refusals(connect, handoff="H1000000002", variables=variables, consumer_id=both)

    assert dry.fix == real.fix
    assert "choose a handoff whose channels are all among sms, inapp" in str(dry.fix), dry.fix
    assert "add wa to `send_campaign(channels=...)`" in str(dry.fix), dry.fix


@pytest.mark.parametrize(
    ("handoff", "variables", "has"),
    [
        ("H1000000003", {"1": "{name}"}, "{{1}} only"),  # the handoff has {{2}} too
        ("H1000000001", {"1": "{name}", "2": "$10"}, "{{1}}, {{2}} only"),  # {{1}} alone
        ("H1000000003", {"1": "{name}", "3": "$10"}, "{{1}}, {{3}} only"),  # {{2}} skipped
    ],
)
def test_variables_that_misfit_are_fixed_by_the_handoff_or_send_campaign_variables(
    connect: Callable[..., Connection], handoff: str, variables: dict[str, str], has: str
) -> None:
    dry, real = refusals(connect, handoff=handoff, variables=variables)

    assert dry.field == real.field == "variables"
    assert dry.fix == real.fix
    assert str(dry.fix).startswith(f"choose a handoff whose message has {has}"), dry.fix
    assert "`send_campaign(variables=...)`" in str(dry.fix), dry.fix
    assert_no_bare_input(dry.fix)


def test_a_header_on_an_sms_handoff_is_fixed_by_a_whatsapp_handoff_or_send_campaign(
    connect: Callable[..., Connection],
) -> None:
    with pytest.raises(ConnectorError) as raised:
        send(connect(), people(3), header_variables={"image": "https://example.com/a.png"})

    assert raised.value.field == "header_variables"
    assert str(raised.value.fix).startswith("choose a handoff on wa"), raised.value.fix
    assert "`send_campaign(header_variables=...)`" in str(raised.value.fix)


def test_a_template_id_is_fixed_by_choosing_a_handoff_or_send_campaign_outbound_number(
    connect: Callable[..., Connection], control: httpx.Client
) -> None:
    """`-p handoff sms_text_v1` (a template id): "give outbound_number", which no template
    has; the recipe's handoff parameter is what an admin changes."""
    with pytest.raises(ConnectorError) as raised:
        send(connect(), people(3), handoff=SMS_TEMPLATE)

    assert raised.value.field == "outbound_number"
    assert str(raised.value.fix).startswith("choose a handoff"), raised.value.fix
    assert "`send_campaign(outbound_number=...)`" in str(raised.value.fix)
    assert_no_bare_input(raised.value.fix)
    assert len(requests_to(control, CAMPAIGN_PATH)) == 1


@pytest.mark.parametrize(
    ("recipe", "given", "fix"),
    [
        (
            CART,
            {
                "handoff": "H1000000002",
                "body_variables": {"1": "{first_name}", "2": "{checkout_id}"},
            },
            "fix: choose a handoff on sms alone",
        ),
        (
            REMINDER,
            {"handoff": "H1000000003"},
            "fix: choose a handoff whose message has {{1}} only",
        ),
    ],
)
def test_a_template_s_test_on_a_misfit_handoff_says_which_handoff_to_choose(
    shop: Studio, recipe: str, given: dict[str, Any], fix: str
) -> None:
    """`lpstudio run shop/cart_abandonment --test -p handoff H1000000002 -p body_variables
    ...` and `lpstudio run shop/payment_reminder --test -p handoff H1000000003`, as an
    admin runs them: the job's error names the handoff to choose first."""
    shop.try_template("payment_reminder", "shop")

    job = shop.run(recipe, given, test=True)

    assert job.status == "failed" and job.error["ename"] == "HandoffMismatch", job.error
    assert fix in job.error["evalue"], job.error["evalue"]
    assert_no_bare_input(job.error["evalue"])
