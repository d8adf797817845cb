"""The gallery's LivePerson templates, tried into a project and run as real jobs.

Each test gets a fresh sandbox and a workspace whose connections point at it, runs the
templates through the real `lpstudio` executable, and checks what a user would notice: the
job's status and result, the messages the sandbox received, the rows of the opt-ins file.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import nbformat
import papermill
import pytest

from lpstudio.gallery import find_template, templates_dir
from lpstudio.jsonschemas import first_problem
from lpstudio.metrics import dashboard_metrics
from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.sdk import E164_PATTERN
from lpstudio.studio import Studio
from lpstudio.templating import placeholders, render, sms_segments

from .conftest import run_cli, run_json
from .servers import serving

TEMPLATES = ("cart_abandonment", "cb_optin", "new_lead", "payment_reminder")
OPTIN = {
    "consumer_id": "cb-42",
    "phone": "+14155550142",
    "channel": "sms",
    "opt_in": True,
    "source": "welcome bot",
}


@pytest.fixture
def workspace(tmp_path: Path, sandbox: Sandbox) -> Path:
    """A workspace with the sandbox's connections, an opt-ins file, a webhook connection
    and every template tried into the project `demo`."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url) as studio:
        studio.connections.add("optins", "csv_file", {"path": "data/optins.csv"}, "alice")
        studio.connections.add("http", "http", {}, "alice")
        for name in TEMPLATES:
            studio.try_template(name, "demo")
    return root


def run(workspace: Path, recipe: str, *args: str, event: Any = None) -> dict[str, Any]:
    """Runs demo/<recipe> as a job through the CLI; returns the job, which must succeed."""
    extra = ["--event", json.dumps(event)] if event is not None else []
    code, job = run_json("run", f"demo/{recipe}", *args, *extra, "--workspace", str(workspace))
    assert code == 0 and job["status"] == "succeeded", job
    return job


def recipients(sandbox: Sandbox) -> dict[str, int]:
    """Each address the sandbox accepted a message for, and how many times."""
    answer = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()
    return {item["address"]: item["count"] for item in answer["recipients"]}


def optin_rows(workspace: Path) -> list[dict[str, str]]:
    path = workspace / "data" / "optins.csv"
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- the templates as files ------------------------------------------------------------------


def test_each_template_is_a_valid_recipe_with_only_its_checked_outputs() -> None:
    for name in TEMPLATES:
        template = find_template(name)
        nbformat.validate(template.recipe.notebook)
        assert template.describe()["group"] == "LivePerson Proactive Recipe Templates"
        for cell in template.recipe.notebook.cells:
            if cell.cell_type == "code" and "nbval-check-output" not in cell.metadata.tags:
                assert not cell.outputs and cell.execution_count is None, (name, cell.source)


def test_papermill_sees_every_parameter_of_each_template() -> None:
    """`papermill --help-notebook` lists, and `-p`/`-y` take without "Passed unknown
    parameter", every parameter lpstudio reads: papermill's pattern reads no `date | None`."""
    for name in TEMPLATES:
        template = find_template(name)
        seen = papermill.inspect_notebook(str(template.path))
        assert set(seen) == set(template.recipe.parameters), name


def test_the_optin_recipe_checks_requests_against_its_declared_input_schema() -> None:
    nb = nbformat.read(templates_dir() / "cb_optin.ipynb", as_version=4)
    declared = nb.metadata.lpstudio.trigger.input_schema
    assigned = [
        node.value
        for cell in nb.cells
        if cell.cell_type == "code"
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "INPUT_SCHEMA"
    ]
    assert len(assigned) == 1
    assert ast.literal_eval(assigned[0]) == declared
    assert declared["properties"]["phone"]["pattern"] == E164_PATTERN  # the connector's check


def test_a_callable_template_s_job_outlives_the_call_timeout_its_504_says_it_goes_on() -> None:
    """A call past the server's call timeout is answered 504 "it goes on", and the bot's
    retry gets the job's answer. The opt-in template's own timeout was that same 15 s: on a
    loaded machine its job was ended as the 504 went out, and the retry got 422."""
    from lpstudio.server.app import LpstudioApp

    call_timeout = LpstudioApp.class_traits()["call_timeout"].default_value
    for name in TEMPLATES:
        recipe = find_template(name).recipe
        if recipe.trigger_kind == "callable":
            assert recipe.metadata["timeout"] >= 4 * call_timeout, name


# -- payment reminder ------------------------------------------------------------------------


def test_the_payment_reminder_sends_each_due_invoice_once(
    workspace: Path, sandbox: Sandbox
) -> None:
    dates = ("-p", "today", "2026-12-01", "-p", "days_ahead", "5")
    job = run(workspace, "payment_reminder", *dates)
    due = {"+14155550101": 1, "+14155550102": 1, "+61412345678": 1}
    assert recipients(sandbox) == due
    result = job["result"]
    assert result["recipients"] == 3 and result["sent"]["accepted"] == 3
    assert result["sent"]["failed"] == [] and result["sent"]["campaigns"]
    assert [s["invoice_id"] for s in result["skipped"]] == ["INV-1006"]

    code, rerun = run_json("rerun", str(job["id"]), "--workspace", str(workspace))
    assert code == 0, rerun
    assert rerun["result"]["sent"]["accepted"] == 0 and rerun["result"]["sent"]["already_sent"]
    assert recipients(sandbox) == due
    # Its counts say why it sent none (they read "accepted 0" of 3 recipients, nothing more).
    assert rerun["result"]["already_sent"] == rerun["result"]["sent"]["already_sent"]
    shown = run_cli("show", str(rerun["id"]), "--workspace", str(workspace)).stdout
    assert "accepted 0 · " in shown and " · already sent 3 · " in shown, shown

    tested = run(workspace, "payment_reminder", *dates, "--test")
    assert tested["result"]["sent"]["dry_run"] is True
    assert recipients(sandbox) == due


def test_a_scheduled_reminder_and_its_rerun_count_from_the_day_it_fell_due(
    workspace: Path, sandbox: Sandbox
) -> None:
    """A schedule's job carries the time it fell due: the reminder counts from that day,
    not from the kernel's clock, so a rerun on a later day picks the same invoices."""
    due = {"due_at": "2026-12-01T09:00:00+00:00"}  # what the scheduler queues
    job = run(workspace, "payment_reminder", "-p", "days_ahead", "5", event=due)
    assert job["result"]["as_of"] == "2026-12-01"
    expected = {"+14155550101": 1, "+14155550102": 1, "+61412345678": 1}
    assert recipients(sandbox) == expected

    code, rerun = run_json("rerun", str(job["id"]), "--workspace", str(workspace))
    assert code == 0, rerun
    assert rerun["result"]["as_of"] == "2026-12-01"
    assert rerun["result"]["recipients"] == 3 and rerun["result"]["sent"]["accepted"] == 0


def test_the_reminder_s_result_shows_the_text_it_sent_with_number_formats(
    workspace: Path, sandbox: Sandbox
) -> None:
    """The invoices file's amounts are text: `{amount:,.2f}` formats them as numbers, and
    the result's campaign holds exactly the text LivePerson received."""
    body = "Hi {first_name}, {amount:,.2f} {currency} is due on {due_date}."
    args = ("-p", "today", "2026-12-01", "-p", "days_ahead", "1", "-p", "body_template", body)
    job = run(workspace, "payment_reminder", *args)
    [shown] = job["result"]["campaign"]["consumers"]
    assert shown["variables"] == {"1": "Hi Maria, 120.00 USD is due on 2026-12-02."}
    campaigns = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    [consumer] = campaigns[0]["request"]["consumers"]
    assert consumer["variables"] == shown["variables"]


def test_an_impossible_today_is_refused_before_any_job_and_empty_means_today(
    workspace: Path, sandbox: Sandbox
) -> None:
    """`today` is a date: 2026-13-45 matched its old pattern and failed in a later cell."""
    bad = ("run", "demo/payment_reminder", "-p", "today", "2026-13-45")
    code, answer = run_json(*bad, "--workspace", str(workspace))
    assert code == 2 and answer["error"]["field"] == "today", answer
    assert "2026-13-45" in answer["error"]["message"]
    # Its invoices file is a path under projects/: `/etc/passwd` started a job reading it.
    outside = ("run", "demo/payment_reminder", "-p", "invoices_csv", "/etc/passwd")
    code, answer = run_json(*outside, "--workspace", str(workspace))
    assert code == 2 and answer["error"]["field"] == "invoices_csv", answer
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    before = date.today().isoformat()
    empty = ("-p", "today", "", "-p", "days_ahead", "5", "--test")
    tested = run(workspace, "payment_reminder", *empty)
    assert tested["result"]["as_of"] in {before, date.today().isoformat()}  # midnight
    assert tested["result"]["recipients"] == 3 and recipients(sandbox) == {}


def test_the_sample_invoices_fall_due_whatever_the_year(workspace: Path, sandbox: Sandbox) -> None:
    """The sample file's due dates count from the day the reminder counts from, so the
    template tried in 2031 reminds the same customers, with dates of 2031."""
    later = {"due_at": "2031-06-01T09:00:00+00:00"}
    job = run(workspace, "payment_reminder", "-p", "days_ahead", "5", event=later)
    assert job["result"]["as_of"] == "2031-06-01"
    assert recipients(sandbox) == {"+14155550101": 1, "+14155550102": 1, "+61412345678": 1}
    first = job["result"]["campaign"]["consumers"][0]["variables"]["1"]
    assert first.startswith("Hi Maria, invoice INV-1001 of 120.00 USD is due on 2031-06-02.")


def test_an_unknown_placeholder_stops_the_reminder_before_anything_is_sent(
    workspace: Path, sandbox: Sandbox
) -> None:
    args = ("-p", "today", "2026-12-01", "-p", "body_template", "Hi {nickname}")
    code, job = run_json("run", "demo/payment_reminder", *args, "--workspace", str(workspace))
    assert code == 1 and job["error"]["ename"] == "InputError"
    assert "{nickname}" in job["error"]["evalue"] and "{first_name}" in job["error"]["evalue"]
    assert recipients(sandbox) == {}


def test_the_reminder_s_accepted_recipients_count_on_the_dashboard(
    workspace: Path, sandbox: Sandbox
) -> None:
    """The dashboard counts a result's `accepted` and `failed`, as the other templates give
    them: the reminder kept them only under `sent`, so its messages never showed there."""
    job = run(workspace, "payment_reminder", "-p", "today", "2026-12-01", "-p", "days_ahead", "5")
    result = job["result"]
    assert result["accepted"] == 3 and result["failed"] == []
    assert [c["proactiveCampaignId"] for c in result["campaigns"]] == [
        c["proactiveCampaignId"] for c in result["sent"]["campaigns"]
    ]
    with Studio.open(workspace, user="alice") as studio:
        now = datetime.now(UTC)
        shown = dashboard_metrics(studio.store, now - timedelta(days=1), now + timedelta(hours=1))
    assert [(day["accepted"], day["failed"]) for day in shown["proactive"]] == [(3, 0)]


def test_a_reminder_format_the_sample_invoice_does_not_take_is_refused_before_any_job(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Invoice amounts are read as text ("120.00"): `{amount:d}` failed the scheduled job
    every day; the recipe's sample invoice lets `run`, `settings` and the form refuse it."""
    body = ("-p", "body_template", "Hi {first_name}, {amount:d} {currency} is due")
    code, answer = run_json("run", "demo/payment_reminder", *body, "--workspace", str(workspace))
    assert code == 2 and answer["error"]["field"] == "body_template", answer
    assert "{amount:.2f}" in answer["error"]["message"]
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert recipients(sandbox) == {}


# -- new lead --------------------------------------------------------------------------------


def test_a_new_lead_gets_one_message_and_a_test_run_sends_nothing(
    workspace: Path, sandbox: Sandbox
) -> None:
    lead = {"first_name": "Ada", "phone": "+14155550177", "product": "heat pumps", "source": "ad"}
    job = run(workspace, "new_lead", event=lead)
    assert recipients(sandbox) == {"+14155550177": 1}
    assert job["result"]["accepted"] == 1 and job["result"]["lead"]["interest"] == "heat pumps"
    campaigns = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    [consumer] = campaigns[0]["request"]["consumers"]
    assert consumer["variables"]["1"].startswith("Hi Ada, thanks for your interest in heat pumps!")

    tested = run(workspace, "new_lead", "--test", event={**lead, "phone": "+14155550178"})
    assert tested["result"]["dry_run"] is True and tested["result"]["recipients"] == 1
    assert recipients(sandbox) == {"+14155550177": 1}


def test_a_lead_whose_phone_is_not_e164_is_refused_before_any_job(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Such a lead was queued and its job failed in the LivePerson connector."""
    schema = find_template("new_lead").recipe.metadata["trigger"]["input_schema"]
    assert schema["properties"]["phone"]["pattern"] == E164_PATTERN  # the connector's check
    example = find_template("new_lead").recipe.metadata["record"]["examples"][0]
    assert first_problem(schema, {**example, "budget": 1200, "rooms": None}) is None
    assert first_problem(schema, {"email": "kim@example.com"}) is None  # see its markdown
    # Form tools send null for a field left empty: such a lead is no bad input.
    empty = {"first_name": "Kim", "phone": "+14155550142", "email": None, "interest": None}
    assert first_problem(schema, empty) is None

    lead = json.dumps({"first_name": "Kim", "phone": "0415 555 0142"})
    for test in ((), ("--test",)):
        code, refused = run_json(
            "run", "demo/new_lead", "--event", lead, *test, "--workspace", str(workspace)
        )
        assert code == 2 and refused["error"]["field"] == "--event", refused
        assert "phone" in refused["error"]["message"] and "E.164" in refused["error"]["fix"]
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert recipients(sandbox) == {}


def test_a_lead_s_text_numbers_take_number_formats_and_an_empty_placeholder_is_named(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Web forms and Shopify send amounts as text ("1200.5"): `{budget:,.2f}` must format
    them as numbers, not fail every recipient; a missing one renders empty. `{}` names no
    field: the campaign is refused saying so (it was `MISSING_FIELD=0` for each recipient)."""
    lead = {
        "first_name": "Zoë",
        "phone": "+14155550177",
        "budget": "1200.5",
        "rooms": "3",
        "deposit": None,
    }
    body = {"1": "Hi {first_name}: {rooms:d} rooms, {budget:,.2f} EUR{deposit:.2f}"}
    job = run(workspace, "new_lead", "-p", "body_variables", json.dumps(body), event=lead)
    assert job["result"]["failed"] == [], job["result"]
    campaigns = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    [consumer] = campaigns[0]["request"]["consumers"]
    assert consumer["variables"]["1"] == "Hi Zoë: 3 rooms, 1,200.50 EUR"

    # `{}` names no field: it would fail every recipient alike, so it is refused before any
    # job starts, naming the variable and how to write it.
    empty = {"1": "Hi {}, thanks!"}
    extra = ("--event", json.dumps(lead), "--workspace", str(workspace))
    code, refused = run_json(
        "run", "demo/new_lead", "-p", "body_variables", json.dumps(empty), "--test", *extra
    )
    assert code == 2 and refused["error"]["field"] == "body_variables.1", refused
    assert "names no field" in refused["error"]["message"] and refused["error"]["fix"]
    assert len(run_json("jobs", "--workspace", str(workspace))[1]) == 1


# -- Conversation Builder opt-in -------------------------------------------------------------


def test_a_retried_optin_is_recorded_once_and_answered_the_same(workspace: Path) -> None:
    jobs = [run(workspace, "cb_optin", event=OPTIN) for _ in range(3)]
    assert [job["result"]["appended"] for job in jobs] == [True, False, False]
    answers = [job["result"]["response"] for job in jobs]
    assert answers[0]["status"] == 200 and answers[1:] == [answers[0], answers[0]]
    body = answers[0]["body"]
    schema = nbformat.read(templates_dir() / "cb_optin.ipynb", as_version=4).metadata
    jsonschema.validate(
        body,
        schema.lpstudio.trigger.response_schema,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    assert body["recorded"] is True and body["row"] == 1
    rows = optin_rows(workspace)
    assert rows == [
        {
            "recorded_at": body["recorded_at"],
            "consumer_id": "cb-42",
            "phone": "+14155550142",
            "channel": "sms",
            "opt_in": "true",
            "source": "welcome bot",
        }
    ]

    # A change of mind is a new row; a test run answers but writes nothing.
    opt_out = run(workspace, "cb_optin", event={**OPTIN, "opt_in": False})
    assert opt_out["result"]["appended"] is True
    assert opt_out["result"]["response"]["body"]["row"] == 2
    tested = run(workspace, "cb_optin", "--test", event={**OPTIN, "consumer_id": "cb-43"})
    assert tested["result"]["response"]["status"] == 200
    assert tested["result"]["appended"] is False
    assert [row["opt_in"] for row in optin_rows(workspace)] == ["true", "false"]


@pytest.mark.parametrize("recipe", ["new_lead", "cb_optin"])
def test_a_real_run_without_its_trigger_s_event_sends_and_records_nothing(
    workspace: Path, sandbox: Sandbox, recipe: str
) -> None:
    """Run now (or `lpstudio run`) with no lead or request gave the job the notebook's
    sample: a real SMS to a made-up lead, a made-up consumer's opt-in in the brand's
    consent records. A real job needs the event; Test still works on the sample."""
    code, answer = run_json("run", f"demo/{recipe}", "--workspace", str(workspace))
    assert code == 2 and answer["error"]["field"] == "event", answer  # refused, no job
    assert "--event" in answer["error"]["fix"] and "--test" in answer["error"]["fix"]
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert recipients(sandbox) == {} and optin_rows(workspace) == []

    tested = run(workspace, recipe, "--test")
    assert tested["result"].get("dry_run") or tested["result"]["appended"] is False
    assert recipients(sandbox) == {} and optin_rows(workspace) == []


@pytest.mark.parametrize(
    "phone", ["0612345678", "+14155550100\n", "+1415555\uff10\uff11\uff10\uff10"]
)
def test_a_bad_optin_is_refused_as_its_call_is_and_records_nothing(
    workspace: Path, phone: str
) -> None:
    """Given by hand, an opt-in the endpoint refuses (400 naming phone) ran a job, which
    answered the recipe's own 400: it is refused before any job, in the call's words."""
    event = {**OPTIN, "phone": phone}
    code, answer = run_json(
        "run", "demo/cb_optin", "--event", json.dumps(event), "--workspace", str(workspace)
    )
    assert code == 2 and answer["error"]["field"] == "--event", answer
    schema = nbformat.read(templates_dir() / "cb_optin.ipynb", as_version=4).metadata
    field, said = first_problem(schema.lpstudio.trigger.input_schema, event) or ("", "")
    assert answer["error"]["message"].endswith(f": phone: {said}"), (answer, field)
    assert field == "phone" and run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert optin_rows(workspace) == []


# -- cart abandonment ------------------------------------------------------------------------


def test_polling_abandoned_carts_messages_each_checkout_once(
    workspace: Path, sandbox: Sandbox
) -> None:
    token = {"X-Shopify-Access-Token": SandboxSettings().shopify_token}
    seeded = httpx.get(
        f"{sandbox.url}/admin/api/2026-10/checkouts.json", params={"limit": 250}, headers=token
    ).json()["checkouts"]
    phones = {checkout["phone"] for checkout in seeded}
    assert phones

    def poll() -> list[dict[str, Any]]:
        code, jobs = run_json("poll", "demo/cart_abandonment", "--workspace", str(workspace))
        assert code == 0, jobs
        assert all(job["status"] == "succeeded" for job in jobs), jobs
        # Its rows as a list gives them; each job's result is in its own view.
        return [run_json("show", str(job["id"]), "--workspace", str(workspace))[1] for job in jobs]

    # The seeded carts are hours old: a first poll from now (as a start) would skip them.
    since = run_cli("settings", "demo/cart_abandonment", "--since", "1d", "-w", str(workspace))
    assert since.returncode == 0, since.stderr
    assert len(poll()) == 1  # every checkout in one batch
    assert recipients(sandbox) == dict.fromkeys(phones, 1)
    assert poll() == []
    assert recipients(sandbox) == dict.fromkeys(phones, 1)

    added = {"phone": "+14155550166", "customer": {"first_name": "Noor"}}
    httpx.post(f"{sandbox.url}/_sandbox/shopify/checkouts", json=added).raise_for_status()
    [job] = poll()
    assert job["result"]["checkouts"] == 1
    assert recipients(sandbox) == {**dict.fromkeys(phones, 1), "+14155550166": 1}


def test_checkouts_without_a_phone_or_an_email_are_reported_and_render_no_nan(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Real checkouts: a guest with no phone anywhere, a customer whose phone is only on
    the customer, a guest without an e-mail. The recipients become a DataFrame, where
    pandas puts NaN in place of a missing text: it must never be sent as "nan", and the
    checkout that cannot be messaged must be named in the result."""

    def checkout(id_: int, **fields: Any) -> dict[str, Any]:
        line = {"title": "Trail shoes", "quantity": 1, "price": "89.00"}
        url = f"https://shop.example.com/checkouts/{id_}/recover"
        base = {"id": id_, "line_items": [line], "total_price": "89.00", "currency": "EUR"}
        return {**base, "abandoned_checkout_url": url, **fields}

    checkouts = [
        checkout(1, email="guest@example.com", phone=None, customer=None),
        checkout(
            2,
            email="zoe@example.com",
            phone=None,
            customer={"first_name": "Zoë", "phone": "+14155550101"},
        ),
        checkout(3, email=None, phone="+14155550102", customer=None),
    ]
    body = {"1": "Hi {first_name} <{email}>: {abandoned_checkout_url}"}
    job = run(
        workspace, "cart_abandonment", "-p", "body_variables", json.dumps(body), event=checkouts
    )

    result = job["result"]
    assert result["skipped"] == [{"checkout_id": 1, "reason": "no phone on the checkout"}]
    assert result["accepted"] == 2 and result["failed"] == []
    assert recipients(sandbox) == {"+14155550101": 1, "+14155550102": 1}
    campaigns = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    texts = {
        c["consumerContent"]["sms"]: c["variables"]["1"]
        for c in campaigns[0]["request"]["consumers"]
    }
    assert texts == {
        "+14155550101": "Hi Zoë <zoe@example.com>: https://shop.example.com/checkouts/2/recover",
        "+14155550102": "Hi there <>: https://shop.example.com/checkouts/3/recover",
    }


def test_a_checkout_with_null_line_items_does_not_fail_its_batch(
    workspace: Path, sandbox: Sandbox
) -> None:
    """`"line_items": null` (or an item's quantity) failed the whole batch with a TypeError:
    the other checkouts of it were not messaged, and nothing retried them."""
    checkouts = [
        {"id": 1, "phone": "+14155550111", "line_items": None},
        {"id": 2, "phone": "+14155550112", "line_items": [{"title": "Cap", "quantity": None}]},
    ]
    body = {"1": "{item_count} item(s)"}
    job = run(
        workspace, "cart_abandonment", "-p", "body_variables", json.dumps(body), event=checkouts
    )

    assert job["status"] == "succeeded" and job["result"]["accepted"] == 2, job
    campaigns = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    texts = {
        c["consumerContent"]["sms"]: c["variables"]["1"]
        for c in campaigns[0]["request"]["consumers"]
    }
    assert texts == {"+14155550111": "0 item(s)", "+14155550112": "1 item(s)"}


@pytest.mark.parametrize("recipe", ["cart_abandonment", "new_lead"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"1": 5}, "body_variables.1"),  # LivePerson takes strings only
        ({"body": "Hi {first_name}"}, "body_variables"),  # it fills {{1}}, {{2}}... only
    ],
)
def test_body_variables_liveperson_cannot_take_are_refused_before_any_job(
    workspace: Path, sandbox: Sandbox, recipe: str, body: dict, field: str
) -> None:
    args = ("-p", "body_variables", json.dumps(body), "--workspace", str(workspace))
    code, answer = run_json("run", f"demo/{recipe}", *args)
    assert code == 2, answer
    assert answer["error"]["field"] == field
    code, jobs = run_json("jobs", "--workspace", str(workspace))
    assert jobs == []


def test_a_misspelt_placeholder_stops_the_cart_job_before_anything_is_sent(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Every checkout's record has the same fields (its schema is closed): a placeholder
    that is none of them would fail every recipient one by one, and the job would succeed
    having sent nothing. It is refused before any job, as the form refuses it."""
    body = {"1": "Hi {firstname}, your cart: {abandoned_checkout_url}"}
    args = ("-p", "body_variables", json.dumps(body), "--workspace", str(workspace))
    code, answer = run_json("run", "demo/cart_abandonment", *args)
    assert code == 2, answer
    error = answer["error"]
    assert error["field"] == "body_variables.1" and "{firstname}" in error["message"]
    assert "first_name" in error["message"]
    assert run_json("jobs", "--workspace", str(workspace))[1] == []
    assert recipients(sandbox) == {}


def test_a_started_poll_trigger_s_since_moves_only_by_reset_since(workspace: Path) -> None:
    recipe = ("demo/cart_abandonment", "--workspace", str(workspace))
    assert run_cli("settings", *recipe, "--since", "2h").returncode == 0  # not started yet
    assert run_cli("start", *recipe).returncode == 0

    moved = run_cli("settings", *recipe, "--since", "1h")

    assert moved.returncode == 2  # a saved since would be shown, and ignored
    assert "--reset-since" in moved.stderr + moved.stdout
    # Said in this machine's time, as `settings` shows the since.
    assert re.search(r"polled from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d since", moved.stderr)
    before = datetime.now(UTC) - timedelta(hours=1)
    code, started = run_json("start", *recipe, "--reset-since", "1h")
    assert code == 0
    code, shown = run_json("settings", *recipe)
    # The settings show the since the poll now goes by, not the one saved before.
    assert shown["since"] == started["since"]
    assert timedelta(0) <= datetime.fromisoformat(shown["since"]) - before < timedelta(minutes=1)


# -- the renderer's format specs -------------------------------------------------------------


def test_a_format_its_value_does_not_take_names_the_field_the_value_and_the_fix() -> None:
    """Shopify sends prices as text: `{total_price:d}` on "188.9" failed the recipient with
    Python's bare "Unknown format code 'd' for object of type 'str'"."""
    _, problem = render({"total_price": "188.9"}, {"1": "Total: {total_price:d}"})
    assert problem is not None and problem.startswith("BAD_TEMPLATE=1: ")
    assert "{total_price:d}" in problem and "'188.9'" in problem and "text" in problem
    assert "{total_price:.2f}" in problem  # the format that does take it
    _, problem = render({"first_name": "Maria"}, {"2": "{first_name:.2f}"})
    assert problem is not None and "first_name" in problem and "holds no number" in problem
    _, problem = render({"item_count": 3}, {"1": "{item_count:s}"})
    assert problem is not None and "integer" in problem and "{item_count:d}" in problem
    # An object has no number format: the recipient fails, the campaign does not crash.
    _, problem = render({"customer": {"first_name": "Zoë"}}, {"1": "{customer:.2f}"})
    assert problem is not None and problem.startswith("BAD_TEMPLATE=1: ") and "customer" in problem


def test_numbers_take_the_number_formats_a_user_writes_for_them() -> None:
    """A whole number that pandas turned into 3.0 (its column had a NaN) takes `d`; a
    number that arrives as text takes grouping, signs and zero padding, as a number."""
    record = {"rooms": 3.0, "count": "4.00", "budget": "1200.5", "amount": "12.5", "text": "ab"}
    variables = {
        "1": "{rooms:d} {count:d}",
        "2": "{budget:,} {amount:+} {amount:08}",
        "3": "{text:>4}|{text:.1}",
    }
    assert render(record, variables) == (
        {"1": "3 4", "2": "1,200.5 +12.5 000012.5", "3": "  ab|a"},
        None,
    )
    # An empty field renders empty whatever its format, as README promises, not as spaces.
    assert render({"x": None, "y": ""}, {"1": "[{x:>5}{y:^3}]"}) == ({"1": "[]"}, None)
    # A float keeps its own digits (as a Decimal, 0.1 has 55 of them).
    assert render({"rate": 0.1}, {"1": "{rate:,} {rate:+}"}) == ({"1": "0.1 +0.1"}, None)


def test_a_number_too_large_to_write_fails_its_recipient_at_once() -> None:
    """A webhook's "1e999999999" is a number to Decimal: as a whole number it has a billion
    digits, which would hold the job's kernel for hours."""
    _, problem = render({"rooms": "1e999999999"}, {"1": "{rooms:d} rooms, {rooms:.2f}"})
    assert problem is not None and problem.startswith("BAD_TEMPLATE=1: {rooms:d}")


@pytest.mark.parametrize(
    ("template", "named"),
    [("Hi {first_name:zz}", "{first_name:zz}"), ("Hi {first_name!x}", "{first_name!x}")],
)
def test_a_format_no_value_can_take_is_refused_when_the_template_is_checked(
    template: str, named: str
) -> None:
    """It would fail every recipient alike: `placeholders`, which the campaign, the form
    and the templates check a template with before anything is sent, refuses it."""
    with pytest.raises(ValueError, match="first_name") as refused:
        placeholders(template)
    assert named in str(refused.value)
    assert placeholders("{total_price:d} {total_price:.2f} {n:{width}} {{x}}") == [
        "total_price",
        "total_price",
        "n",
    ]
    # A date's own formats (a DataFrame read from SQL or with parse_dates holds dates).
    assert placeholders("due {due:%d %B}") == ["due"]
    assert render({"due": date(2026, 12, 2)}, {"1": "due {due:%d %B}"}) == (
        {"1": "due 02 December"},
        None,
    )


def test_a_cart_format_the_sample_checkout_does_not_take_is_refused_before_any_job(
    workspace: Path, sandbox: Sandbox
) -> None:
    """Shopify's total_price is text such as "188.90", as the recipe's sample record shows:
    `{total_price:d}` would fail every customer, so it is refused before any job starts, as
    the form's preview refuses it, saying why and what to write instead."""
    body = {"1": "Hi {first_name}, your {total_price:d} {currency} cart is waiting"}
    args = ("-p", "body_variables", json.dumps(body), "--workspace", str(workspace))
    code, answer = run_json("run", "demo/cart_abandonment", *args)
    assert code == 2 and answer["error"]["field"] == "body_variables.1", answer
    message = answer["error"]["message"]
    assert "{total_price:d} cannot show total_price" in message and "text" in message
    assert "{total_price:.2f}" in message
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert recipients(sandbox) == {}


@pytest.mark.parametrize(
    ("recipe", "parameter", "value", "field", "named"),
    [
        (
            "payment_reminder",
            "body_template",
            "Hi {first_name:zz}",
            "body_template",
            "{first_name:zz}",
        ),
        ("payment_reminder", "body_template", "Hi {first_name", "body_template", "malformed"),
        ("cart_abandonment", "body_variables", '{"1": "Hi {x!q}"}', "body_variables.1", "{x!q}"),
    ],
)
def test_an_unreadable_template_parameter_is_refused_before_any_job(
    workspace: Path, recipe: str, parameter: str, value: str, field: str, named: str
) -> None:
    """A template no record can fill was refused only inside the job, by its first cell that
    read it: `run`, the REST API and the form now refuse it alike, naming the parameter."""
    args = ("-p", parameter, value, "--workspace", str(workspace))
    code, answer = run_json("run", f"demo/{recipe}", *args)
    assert code == 2 and answer["error"]["field"] == field, answer
    assert named in answer["error"]["message"] and parameter in answer["error"]["message"]
    assert "write record fields in braces, such as {" in answer["error"]["fix"]
    with serving(workspace) as server:
        refused = server.api(
            "alice",
            "POST",
            f"/recipes/demo/{recipe}.ipynb/run",
            json={
                "parameters": {
                    parameter: value if parameter == "body_template" else json.loads(value)
                }
            },
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["field"] == field
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])


def test_more_than_the_connection_s_characters_per_sms_count_at_least_two_sms() -> None:
    """LivePerson sends a body of up to the connection's characters per SMS (140 by
    default) as one SMS and splits a longer one, even where GSM 03.38 would fit 160 in one;
    a connector that sets no such limit counts by the encoding alone."""
    assert sms_segments("x" * 140, 140) == (1, "gsm0338")
    assert sms_segments("x" * 150, 140) == (2, "gsm0338")
    assert sms_segments("x" * 150, 160) == (1, "gsm0338")
    assert sms_segments("x" * 150, None) == (1, "gsm0338")
    assert sms_segments("x" * 161, None) == (2, "gsm0338")
    assert sms_segments("Привет" * 12, 160) == (2, "utf_16_be")  # UCS-2 fits 70 in one
    assert sms_segments("", 140) == (0, "gsm0338")
