"""What an admin gives the gallery's templates (reviewer rg): a blank message template, one
too long for LivePerson, an invoices file without the columns the reminder reads, an invoice
without a due date, no invoices file at all. Each is refused before any job, naming the
parameter and the fix that fits, or said by the job in the recipe's own terms.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import nbformat
import pytest

from lpstudio.gallery import templates_dir
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm
from lpstudio.widgets.common import lab_text

from .conftest import run_json
from .servers import serving
from .test_templates import recipients, run, workspace  # noqa: F401 (a fixture)

REMINDER = "demo/payment_reminder"
#: The reminder's invoices, each due soon after this day.
TODAY = ("-p", "today", "2026-12-01", "-p", "days_ahead", "5")
HEADER = "invoice_id,first_name,phone,amount,currency,due_date,status"


def _invoices(root: Path, name: str, *rows: str, header: str = HEADER) -> str:
    """An invoices file in the project `demo`, as `invoices_csv` names it."""
    (root / "projects" / "demo" / name).write_text("\n".join([header, *rows]) + "\n")
    return name


def _failed(root: Path, *args: str) -> dict[str, str]:
    """The error of a reminder job that must fail."""
    code, job = run_json("run", REMINDER, *TODAY, *args, "--workspace", str(root))
    assert code == 1 and job["status"] == "failed", job
    return dict(job["error"])


def test_a_blank_body_template_is_refused_as_a_blank_variable_is(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """An empty or all-spaces `body_template` was saved, and every customer got a blank
    SMS; the cart's body variables refuse an empty one: the CLI, REST and the form refuse
    a blank text template alike, in the same words."""
    said = "is empty: an empty variable is never sent"
    code, cart = run_json(
        "settings", "demo/cart_abandonment", "-p", "body_variables", '{"1": " "}',
        "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 2 and said in cart["error"]["message"], cart
    for blank in ("", "   "):
        for command in ("settings", "run"):
            code, answer = run_json(
                command, REMINDER, "-p", "body_template", blank, "--workspace", str(workspace)
            )
            assert code == 2 and answer["error"]["field"] == "body_template", answer
            assert f"parameter 'body_template' {said}" in answer["error"]["message"]
            assert "give body_template a text" in answer["error"]["fix"]
    with serving(workspace) as server:
        for blank in ("", "   "):
            put = server.api(
                "alice",
                "PUT",
                f"/recipes/{REMINDER}.ipynb/settings",
                json={"parameters": {"body_template": blank}},
            )
            assert put.status_code == 400, put.text
            assert put.json()["error"]["field"] == "body_template"
            assert said in put.json()["error"]["message"]
    with Studio.open(workspace, user="alice") as studio:
        form = RecipeForm(REMINDER, studio)
        form.wait()
        form.fields["body_template"].input.value = "   "  # emptied, it is the default again
        assert form.save() is False
        assert said in form.fields["body_template"].error.value
    assert run_json("jobs", "--workspace", str(workspace)) == (0, [])
    assert run_json("settings", REMINDER, "--workspace", str(workspace))[1]["parameters"] == {}
    assert recipients(sandbox) == {}


@pytest.mark.parametrize(
    ("recipe", "parameter", "value", "field"),
    [
        ("payment_reminder", "body_template", "x" * 1600, "body_template"),
        ("cart_abandonment", "body_variables", json.dumps({"1": "x" * 1600}), "body_variables.1"),
    ],
)
def test_a_template_too_long_is_told_to_shorten(
    workspace: Path,  # noqa: F811 (the fixture)
    recipe: str,
    parameter: str,
    value: str,
    field: str,
) -> None:
    """Its fix said how to write placeholders in braces; it says the length to keep to."""
    code, answer = run_json(
        "settings", f"demo/{recipe}", "-p", parameter, value, "--workspace", str(workspace)
    )
    assert code == 2 and answer["error"]["field"] == field, answer
    assert "1600 characters: over LivePerson's 1550" in answer["error"]["message"]
    assert "shorten it to at most 1550 characters" in answer["error"]["fix"]
    assert "braces" not in answer["error"]["fix"]


def test_an_invoices_file_without_a_column_the_reminder_reads_is_named(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """A file without `status` failed with `KeyError: 'status'`, then with a ValueError
    that gave no `fix:`."""
    header = "invoice_id,first_name,phone,amount,currency,due_date"
    row = "INV-1,Ada,+14155550100,5.00,USD,2026-12-02"
    name = _invoices(workspace, "no_status.csv", row, header=header)
    error = _failed(workspace, "-p", "invoices_csv", name)
    assert error["ename"] == "InputError", error
    said = error["evalue"]
    columns = header.replace(",", ", ")
    assert said.startswith(f"no_status.csv has no column status (its columns: {columns})\n"), said
    assert "fix: add the column status to no_status.csv, or rename the one that holds it" in said
    assert "each invoice needs its invoice_id, phone (E.164), status" in said
    assert recipients(sandbox) == {}


def test_a_placeholder_no_column_fills_names_the_placeholders_the_body_may_use(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """`{amount_due}` in a file whose column is `amount` (the recipe's sample invoice has
    no closed schema, so no check before the job) failed with a ValueError and no `fix:`."""
    name = _invoices(workspace, "plain.csv", "INV-1,Ada,+14155550100,5.00,USD,2026-12-02,open")
    body = ("-p", "body_template", "Hi {first_name}, {amount_due} is due")
    error = _failed(workspace, "-p", "invoices_csv", name, *body)
    assert error["ename"] == "InputError", error
    said = error["evalue"]
    assert "body_template uses {amount_due}, not among the columns of plain.csv" in said, said
    braced = ", ".join(f"{{{column}}}" for column in HEADER.split(","))
    assert said.endswith(f"\n  fix: use any of: {braced}"), said
    assert recipients(sandbox) == {}


def test_a_first_row_longer_than_the_header_is_refused_not_read_shifted(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """pandas read the first row's extra field as an index column: no error, every column
    shifted (the invoice id read as its first name, the phone as its amount...), so the
    file stopped the job for a column it does have, or reminded the wrong data."""
    name = _invoices(
        workspace,
        "first_ragged.csv",
        "INV-1,Ada,+14155550100,1,200.00,USD,2026-12-02,open",  # line 2: a comma
        "INV-2,Bo,+14155550101,5.00,USD,2026-12-02,open",
    )
    error = _failed(workspace, "-p", "invoices_csv", name)
    assert error["ename"] == "InputError", error
    said = error["evalue"]
    assert "first_ragged.csv cannot be read as CSV: line 2 has 8 fields, the header 7" in said
    assert 'fix: quote the field that holds a comma ("1,200.00"), or remove the extra one' in (
        said
    ), said
    assert recipients(sandbox) == {}


def test_a_latin_1_invoices_file_is_named_with_its_byte_and_the_fix(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """Excel's plain "CSV" on Windows is Latin-1: the job stopped with a bare
    UnicodeDecodeError from the cell reading it, naming neither the parameter nor the fix."""
    rows = [HEADER, "INV-1,José,+14155550100,5.00,EUR,2026-12-02,open"]
    (workspace / "projects" / "demo" / "factures.csv").write_bytes(
        "\n".join(rows).encode("latin-1") + b"\n"
    )
    error = _failed(workspace, "-p", "invoices_csv", "factures.csv")
    assert error["ename"] == "InputError", error
    byte = len(HEADER) + len("\nINV-1,Jos")  # the é
    assert error["evalue"] == (
        f"invoices_csv 'factures.csv' is not UTF-8 text (byte {byte} is 0xe9, line 2)\n"
        "  fix: save factures.csv as UTF-8 (in Excel: Save As, CSV UTF-8), then run it again"
    ), error
    assert recipients(sandbox) == {}


def test_an_invoice_without_a_readable_due_date_is_skipped_saying_why(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """One open invoice with an empty `due_date` failed the whole job with a TypeError
    (NaT minus a date): it is skipped, as an invoice whose phone is not E.164 is."""
    name = _invoices(
        workspace,
        "dated.csv",
        "INV-1,Ada,+14155550100,5.00,USD,2026-12-02,open",
        "INV-2,Bo,+14155550101,6.00,USD,,open",
        "INV-3,Cy,+14155550102,7.00,USD,next week,open",
        "INV-4,Di,+14155550103,8.00,USD,,paid",  # not reminded either way: not reported
    )
    job = run(workspace, "payment_reminder", *TODAY, "-p", "invoices_csv", name)
    assert recipients(sandbox) == {"+14155550100": 1}
    assert job["result"]["skipped"] == [
        {"invoice_id": "INV-2", "phone": "+14155550101", "reason": "due_date is empty"},
        {
            "invoice_id": "INV-3",
            "phone": "+14155550102",
            "reason": "due_date 'next week' is not a date as YYYY-MM-DD",
        },
    ]


@pytest.mark.parametrize("given", ["nosuch.csv", "."])
def test_an_invoices_file_that_is_not_there_is_named_with_the_fix(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
    given: str,
) -> None:
    """It failed with a bare FileNotFoundError (IsADirectoryError for `.`); then its fix
    gave `-p invoices_csv data/invoices.csv` whatever was saved, the value in use too; then
    a FileNotFoundError with no `fix:`, not naming the path it looked at."""
    error = _failed(workspace, "-p", "invoices_csv", given)
    assert error["ename"] == "InputError", error
    said = error["evalue"]
    looked = "projects/demo is a folder" if given == "." else f"projects/demo/{given} is not there"
    assert said.startswith(f"invoices_csv {given!r} is no file: {looked}\n  fix: "), said
    put = f"fix: put the CSV of invoices at projects/demo/{given}, or give another"
    assert (put in said) == (given != "."), said  # a folder is no place for it
    assert "from the recipe's folder projects/demo/: " in said, said
    assert said.endswith("`lpstudio settings demo/payment_reminder -p invoices_csv PATH`"), said
    assert recipients(sandbox) == {}


def test_the_missing_invoices_file_s_fix_names_the_settings_route_over_rest(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """The template wrote its command without backticks, so `GET /jobs/ID` (and the lab,
    answered in the same terms) kept the CLI's `lpstudio settings ... -p invoices_csv PATH`."""
    code, job = run_json(
        "run", REMINDER, *TODAY, "-p", "invoices_csv", "nosuch.csv", "--workspace", str(workspace)
    )
    assert code == 1 and job["status"] == "failed", job
    with serving(workspace, "--LpstudioApp.scheduler=False") as server:
        answer = server.api("alice", "GET", f"/jobs/{job['id']}")
    assert answer.status_code == 200, answer.text
    said = answer.json()["error"]["evalue"]
    assert "lpstudio settings" not in said, said
    assert said.endswith(
        f"from the recipe's folder projects/demo/: PUT /lpstudio/api/v1/recipes/{REMINDER}/"
        'settings {"parameters": {"invoices_csv": ...}}'
    ), said
    assert lab_text(said, f"in the Settings of {REMINDER}").endswith(
        f"from the recipe's folder projects/demo/: set invoices_csv to its path in the Settings "
        f"of {REMINDER}, then Save"
    )
    assert recipients(sandbox) == {}


def test_the_missing_invoices_file_s_fix_is_a_command_a_shell_takes_for_any_name(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """Its fix named the recipe unquoted (`lpstudio settings campañas été/rappel été -p
    ...`): pasted, the shell split it; and the lab's rule took no name with a space."""
    recipe = "campañas été/l'été rappel"
    with Studio.open(workspace, user="alice") as studio:
        studio.try_template("payment_reminder", "campañas été", new_name="l'été rappel")
    code, job = run_json(
        "run", recipe, *TODAY, "-p", "invoices_csv", "nosuch.csv", "--workspace", str(workspace)
    )
    assert code == 1 and job["status"] == "failed", job
    fix = job["error"]["evalue"].split("\n  fix: ")[1]
    command = fix.split("from the recipe's folder projects/campañas été/: ")[1].strip("`")
    assert shlex.split(command) == ["lpstudio", "settings", recipe, "-p", "invoices_csv", "PATH"]
    assert lab_text(fix, f"in the Settings of {recipe}").endswith(
        f"set invoices_csv to its path in the Settings of {recipe}, then Save"
    )
    assert recipients(sandbox) == {}


def test_the_new_lead_template_says_an_unsigned_webhook_takes_no_lead(
    workspace: Path,  # noqa: F811 (the fixture)
) -> None:
    """Its markdown said that without a token anyone who knows the URL can post leads;
    Start refuses the recipe naming `token`, as the markdown now says."""
    nb = nbformat.read(templates_dir() / "new_lead.ipynb", as_version=4)
    text = " ".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    assert "anyone who knows the URL" not in text
    assert "Start refuses the recipe naming `token`" in " ".join(text.split())
    code, refused = run_json(
        "start", "demo/new_lead", "--workspace", str(workspace), env={"LPSTUDIO_USER": "alice"}
    )
    assert code == 2 and refused["error"]["field"] == "token", refused
