"""The notebook's widgets say the API's fixes in the studio's terms, as the lab does
(README: "Fixes are said in the studio's terms ..., not as CLI commands"): the form's
refusals, its pick lists and its jobs' errors, the jobs view and the gallery name no CLI
command or REST route. Both sides read one table of those words (`lpstudio/lab_terms.json`:
`lab_text` here, `labText` in the lab); the templates say what their patterns ask in words.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lpstudio.client import SEE_SCHEMA
from lpstudio.errors import InputError, ParameterError, rerun_fix
from lpstudio.gallery import templates_dir
from lpstudio.jsonschemas import PATTERN_SAID, is_e164_pattern
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from lpstudio.widgets import GalleryView, JobsView, RecipeForm
from lpstudio.widgets.common import lab_terms, lab_text

from .conftest import set_job, write_recipe

#: A CLI command, one of its options, or a REST route, as the API's fixes name them.
CLI_OR_REST = re.compile(r"`|lpstudio [a-z]|(?<!\w)--[a-z]|\b(?:GET|POST|PUT|DELETE) |/api/v1/")

#: What the sql connection `rows` polls: a table with no row, so a Test finds no event.
ROWS = {"url": "sqlite:///rows.db", "poll_table": "rows", "poll_column": "id"}

TOKEN = "tok-4711-secret-xyz"  # the http connection's


def shown(value: str) -> str:
    """What an HTML widget shows, as the user reads it: its text, without its tags."""
    return html.unescape(re.sub(r"<[^>]*>", "", value))


def in_studio_terms(text: str) -> str:
    """`text`, checked to name no CLI command, option or REST route."""
    assert not CLI_OR_REST.search(text), text
    return text


@pytest.fixture
def sandboxed(tmp_path: Path, sandbox: Sandbox) -> Iterator[Studio]:
    """A workspace on the sandbox: its `liveperson` and `shopify` connections."""
    studio = Studio.init(tmp_path / "ws", accept_terms=True, admin="alice", sandbox=sandbox.url)
    yield studio
    studio.close()


def test_a_test_with_no_event_says_the_fix_on_its_own_line_in_the_studios_terms(
    studio: Studio,
) -> None:
    """It said `lpstudio run lab/reach.ipynb --test --event-file event.json`, or `event` in
    the REST API's test, run into the message on one line (HTML collapsed its line break)."""
    root = studio.workspace.root
    with sqlite3.connect(root / "rows.db") as db:
        db.execute("CREATE TABLE rows (id integer primary key)")
    db.close()
    studio.connections.add("rows", "sql", ROWS, "alice")
    trigger = {"kind": "poll", "connection": "rows", "trigger": "new_rows", "batch_size": 5}
    metadata = {"title": "Reach", "trigger": trigger, "connections": {"rows": {"type": "sql"}}}
    write_recipe(root, "lab/reach", metadata=metadata)
    form = RecipeForm("lab/reach", studio)
    form.test()
    form.wait()
    said = shown(form.status.value)
    assert "a test would run it on nothing\nfix: " in said, said  # the fix on a line of its own
    assert "white-space:pre-wrap" in form.status.value
    assert (
        "fix: test it on an event you give from the command line or the REST API, or click "
        "Test again once such an event has come"
    ) in in_studio_terms(said)
    form.close()


def test_a_connections_secret_in_a_parameter_says_where_the_secret_goes(studio: Studio) -> None:
    """Its fix said `lpstudio connections add` and to bind the connection to the slot."""
    auth = {"base_url": "https://crm.example", "auth_type": "bearer", "token": TOKEN}
    studio.connections.add("crm", "http", auth, "alice")
    metadata = {"title": "Notes", "connections": {"crm": {"type": "http"}}}
    write_recipe(studio.workspace.root, "p/notes", "note: str = ''  # a note", metadata=metadata)
    form = RecipeForm("p/notes", studio)
    form.fields["note"].input.value = TOKEN
    assert form.save() is False
    said = shown(form.status.value) + "\n" + shown(form.fields["note"].error.value)
    assert "parameter 'note' holds the secret of a connection" in said, said
    assert (
        "give the secret to a connection (create one in the Connections panel) and choose it "
        "for the recipe's slot under Connections above"
    ) in in_studio_terms(said)
    form.close()


def test_a_pick_list_the_app_cannot_give_says_to_test_its_connection_in_the_panel(
    sandboxed: Studio, sandbox: Sandbox
) -> None:
    """Its fix said `lpstudio connections test liveperson` (or Test in the Connections
    panel) says what is wrong."""
    sandboxed.try_template("cart_abandonment", "shop")
    fault = {"error_rate": 1.0, "error_status": 503, "scope": "liveperson"}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault, timeout=10).raise_for_status()
    form = RecipeForm("shop/cart_abandonment", sandboxed)
    form.wait()
    for name in ("handoff", "skill"):
        note = shown(form.fields[name].note.value)
        assert f"could not load the list: connection 'liveperson' could not list {name}s" in note
        assert note.endswith(
            "(fix: check that LivePerson answers (a Test of liveperson in the Connections "
            "panel), then click Refresh lists)"
        ), note
        in_studio_terms(note)
    form.close()


def test_a_run_now_whose_recipe_names_a_cli_fix_says_it_in_the_form_and_the_jobs_view(
    sandboxed: Studio,
) -> None:
    """The payment reminder's missing CSV said `lpstudio settings billing/reminder2 -p
    invoices_csv PATH` in the form's status and in the jobs view."""
    sandboxed.try_template("payment_reminder", "billing", "reminder2")
    form = RecipeForm("billing/reminder2", sandboxed)
    form.fields["invoices_csv"].input.value = "nothere.csv"
    form.run_now()
    form.wait()
    said = shown(form.status.value)
    assert "failed: InputError: invoices_csv 'nothere.csv' is no file" in said, said
    assert "set invoices_csv to its path above, then Save" in in_studio_terms(said)
    form.close()

    view = JobsView(sandboxed)
    try:
        table = shown(view.table.value)
        assert "set invoices_csv to its path in the Settings of billing/reminder2, then Save" in (
            in_studio_terms(table)
        )
    finally:
        view.close()


def test_the_jobs_view_says_a_rerun_and_a_field_to_correct_in_the_studios_terms(
    sandboxed: Studio,
) -> None:
    """A job's own rerun and a LivePerson field to correct before a Test were said as
    `lpstudio rerun 4` and `lpstudio connections update lp --field domain_api_url=...`."""
    write_recipe(sandboxed.workspace.root, "p/lost")
    version = sandboxed.store.snapshot("p/lost.ipynb", "{}", {}, "alice")
    job = sandboxed.store.create_job(
        recipe="p/lost.ipynb", version_id=version, trigger="manual", user="alice"
    )
    first = (
        "set domain_api_url to it: `lpstudio connections update lp --field domain_api_url=...`; "
        "then `lpstudio connections test lp`"
    )
    error = {"ename": "Unavailable", "evalue": "no answer", "fix": rerun_fix(job.id, first)}
    set_job(sandboxed.store, job.id, status="failed", error=error)
    view = JobsView(sandboxed)
    try:
        table = in_studio_terms(shown(view.table.value))
    finally:
        view.close()
    assert (
        "set domain_api_url to it: correct domain_api_url with Edit of lp in the Connections "
        f"panel; then Test lp in the Connections panel; then Rerun of job {job.id} in the Jobs "
        "panel"
    ) in table, table


def test_the_jobs_view_says_an_undeclared_slot_and_an_action_s_schema_in_the_studios_terms(
    sandboxed: Studio,
) -> None:
    """A recipe naming a slot it does not declare failed saying `lpstudio settings
    analysis/campaign.ipynb --connection nosuchslot=NAME`, and an action's input the schema
    says nothing of `lpstudio connectors --json`: the Settings' Connections choose a slot's
    connection, and no panel lists actions, so that command is said in a terminal."""
    root = sandboxed.workspace.root
    write_recipe(
        root,
        "analysis/campaign",
        cells=('import lpstudio.kernel as lp\nlp.connection("nosuchslot")',),
        metadata={
            "title": "Campaign",
            "connections": {"liveperson": {"type": "liveperson_proactive"}},
        },
    )
    failed = sandboxed.run("analysis/campaign", {})
    assert failed.status == "failed" and "nosuchslot" in failed.error["evalue"], failed.error
    version = sandboxed.store.snapshot("analysis/campaign.ipynb", "{}", {}, "alice")
    job = sandboxed.store.create_job(
        recipe="analysis/campaign.ipynb", version_id=version, trigger="manual", user="alice"
    )
    refused = InputError("acme.create_lead: [] is not of type 'object'", fix=SEE_SCHEMA)
    error = {"ename": "InputError", "evalue": str(refused)}
    set_job(sandboxed.store, job.id, status="failed", error=error)
    view = JobsView(sandboxed)
    try:
        table = shown(view.table.value)
    finally:
        view.close()
    assert (
        "declare 'nosuchslot' in metadata.lpstudio.connections and choose a connection for "
        "nosuchslot under Connections in the Settings of analysis/campaign, then Save"
    ) in table, table
    assert (
        "see the action's input schema in a terminal (File > New > Terminal) with `lpstudio "
        "connectors --json`, which lists each connector's actions and their inputs"
    ) in table, table
    assert "lpstudio settings" not in table and "--connection" not in table, table


def test_a_purged_job_s_rerun_says_to_run_its_recipe_in_the_studios_terms() -> None:
    """Its fix named `lpstudio run shop/cart` (the CLI's) or `POST .../recipes/.../run`
    (REST's, which the lab is answered in), neither of which the studio's panels show."""
    for fix in (
        "run the recipe anew with `lpstudio run shop/cart`",
        "run the recipe anew with POST /lpstudio/api/v1/recipes/shop/cart.ipynb/run",
    ):
        assert lab_text(fix) == "run the recipe anew with its Run now in the Recipes sidebar"


def test_a_slot_to_fill_says_to_choose_its_connection_in_the_settings() -> None:
    """A slot no connection or several fill (`connections._choose`) said `lpstudio settings
    R --connection SLOT=NAME`, or REST's `PUT .../settings`, where the lab chooses it."""
    said = "choose a connection for lp under Connections in the Settings of shop/cart, then Save"
    for fix in (
        "bind an existing connection with `lpstudio settings shop/cart --connection lp=NAME`",
        "choose one with `lpstudio settings shop/cart --connection lp=NAME`",
        'choose one with PUT /lpstudio/api/v1/recipes/shop/cart.ipynb/settings {"connections": '
        '{"lp": "NAME"}}',
    ):
        assert lab_text(fix, "in the Settings of shop/cart") == said


def test_the_gallery_says_a_taken_name_in_its_forms_terms(studio: Studio) -> None:
    """It said "fix: choose another --name or project": the card asks for a Name and a
    Project."""
    card = GalleryView(studio).cards["payment_reminder"]
    card.try_button.click()
    card.project.value = "billing"
    card.create_button.click()
    card.create_button.click()  # the same name in the same project again
    said = shown(card.result.value)
    assert "already exists" in said and "\n  fix: " in said, said  # on a line of its own
    assert "fix: choose another recipe name or project folder" in in_studio_terms(said)


def test_a_blank_campaign_name_or_skill_is_said_in_words_not_a_regular_expression(
    studio: Studio,
) -> None:
    """It said `" " does not match '\\S'` (fix: give a value that matches the regular
    expression \\S), in the form's field and wherever the value is given."""
    studio.try_template("cart_abandonment", "shop")
    form = RecipeForm("shop/cart_abandonment", studio)
    form.fields["campaign_name"].input.value = "  "
    said = shown(form.fields["campaign_name"].error.value)
    assert said == (
        "parameter 'campaign_name' is invalid: \"  \" is not a name with something besides "
        "spaces (fix: give a name with something besides spaces)"
    ), said
    assert form.save() is False
    form.close()
    for name, value in (("skill", " "), ("handoff", "H 1")):  # drop-downs in the form
        with pytest.raises(ParameterError) as refused:
            studio.save_settings("shop/cart_abandonment", {name: value})
        said = str(refused.value)
        assert f"parameter '{name}' is invalid: {json.dumps(value)} is not a" in said, said
        assert "regular expression" not in said and "does not match" not in said, said


def test_every_pattern_of_the_templates_is_said_in_words() -> None:
    """A refused value is told what the pattern asks, never its regular expression (an
    E.164 pattern is said as such)."""

    def patterns(schema: object) -> Iterator[dict[str, object]]:
        if isinstance(schema, dict):
            if "pattern" in schema:
                yield schema
            for value in schema.values():
                yield from patterns(value)

    for template in sorted(templates_dir().glob("*.ipynb")):
        metadata = json.loads(template.read_text())["metadata"]["lpstudio"]
        for schema in patterns(metadata.get("parameters", {})):
            if not is_e164_pattern(schema["pattern"]):
                assert isinstance(schema.get(PATTERN_SAID), str), (template.name, schema)


def test_the_studios_terms_are_regular_expressions_both_languages_read_alike() -> None:
    """The lab compiles the same rules in JavaScript: only the syntax both share (no
    named groups, inline flags or anchors of one language), and no placeholder of a group
    the pattern does not have."""
    for pattern, lab, _where in lab_terms():
        assert not re.search(r"\(\?[^:=!]|\\[AZz]", pattern.pattern), pattern.pattern
        used = [int(n) for n in re.findall(r"\{(\d+)\}", lab)]
        assert max(used, default=0) <= pattern.groups, (pattern.pattern, lab)


def test_a_rule_with_a_where_of_its_own_applies_there_only() -> None:
    """The lab's Jobs panel said a refused recipe filter's fix with a rule of its own code,
    outside the shared table: the table's rule for its `where` says it now, and nowhere
    else (the Recipes sidebar, the notebook's forms: no jobs' rows there)."""
    fix = (
        "give the recipe's path under projects/, as GET /user/ana/lpstudio/api/v1/recipes "
        "lists it (shop/cart.ipynb)"
    )
    said = "give the recipe's path under projects/, as the jobs' rows name it (shop/cart.ipynb)"
    assert lab_text(fix, "in the Jobs panel") == said
    assert lab_text(fix) == lab_text(fix, "above") == fix
