"""The studio's generated forms (ui/src/form.ts) in a real JupyterLab, in chromium: a recipe's
Settings and a connection's editor save what the user gave, not the defaults they show; show
what applies after a save; mark the field of an error the browser finds; offer a record's
fields and an optional choice as drop-downs, and a date and time as a picker, as the
notebook's form does.

One JupyterLab serves the module's tests (each opens its own page), to spare the machine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lpstudio.errors import ParameterError
from lpstudio.parameters import coerce
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio

from .conftest import write_recipe
from .test_studio_ui import admin_pages, command

FORMS = "lab/forms.ipynb"
PARAMETERS = """from datetime import datetime
from typing import Literal, Optional

name: str = "Cart recovery"  # the campaign's name
count: int = 3  # how many
items: list = [1, 2]  # what to send
counts: list[int] = [1]  # how many of each
extras: list[dict] = []  # what else to say
level: Optional[Literal["low", "high"]] = None  # how loud
tone: Literal["calm", "bright"] | None = "calm"  # how it sounds
consumer_id: str = "phone"  # field of the record that holds the phone number
when: datetime = datetime(2026, 11, 1, 9, 0)  # when to send"""
RECORD = {
    "type": "object",
    "properties": {
        "phone": {"type": "string"},
        "email": {"type": "string"},
        "customer": {"type": "object", "properties": {"first_name": {"type": "string"}}},
    },
    "examples": [{"phone": "+16465550177", "email": "ava@example.com", "customer": {}}],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A workspace with the recipe lab/forms and a csv_file connection `rows`, served by one
    JupyterLab; yields its root and `admin_page`, which opens a page of the admin alice in
    a chromium of its own (Playwright's loop must not outlive a test: pytest-jupyter closes
    the test's loop after it)."""
    tmp = tmp_path_factory.mktemp("forms")
    root = tmp / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    write_recipe(
        root,
        "lab/forms",
        parameters=PARAMETERS,
        cells=("print(name)",),
        metadata={
            "title": "lab/forms",
            "parameters": {"consumer_id": {"x-object-field": "record"}},
            "record": RECORD,
        },
    )
    with Studio.open(root, user="alice") as studio:
        studio.connections.add("rows", "csv_file", {"path": "rows.csv"}, "alice")
    with admin_pages(root, tmp / "jupyter") as admin_page:
        yield root, admin_page


def saved(root: Path) -> dict[str, Any]:
    with Studio.open(root, user="alice") as studio:
        return saved_settings(studio.store, FORMS).get("parameters", {})


def settings_of(page: Any) -> Any:
    """The Settings panel of lab/forms, shown."""
    command(page, "lpstudio:open-settings", {"recipe": FORMS})
    form = page.locator(".lps-settings-body:visible")
    form.locator("input[name=name]").wait_for()
    return form


def save(form: Any) -> str:
    """Clicks Save and returns what the panel then says."""
    form.locator(".lps-message").evaluate("m => m.replaceChildren()")
    form.locator(".lps-save").click()
    said = form.locator(".lps-message .lps-ok, .lps-message .lps-error").first
    said.wait_for()
    return form.locator(".lps-message").inner_text()


def reset(root: Path) -> None:
    """Nothing saved for lab/forms: each test starts from the notebook's defaults."""
    with Studio.open(root, user="alice") as studio:
        params = list(saved_settings(studio.store, FORMS).get("parameters", {}))
        if params:
            studio.save_settings(FORMS, reset=params)


def test_a_save_changing_nothing_keeps_the_defaults_unsaved(lab: tuple[Path, Any]) -> None:
    """The defaults a form shows are not saved by a Save that leaves them (a later change of
    the notebook's default applies); what the user changes, and what was saved, is."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        form = settings_of(page)
        assert form.locator("input[name=count]").input_value() == "3"  # the default, shown
        assert save(form) == "Settings saved."
        assert saved(root) == {}
        form.locator("input[name=count]").fill("5")
        assert save(form) == "Settings saved."
        assert saved(root) == {"count": 5}
        # Saved, it stays saved when left as shown; the others stay unsaved.
        assert save(form) == "Settings saved."
        assert saved(root) == {"count": 5}

        # A connection's editor: Save changing nothing sends no field (no default is stored).
        command(page, "lpstudio:open-connections")
        panel = page.locator(".lps-connections:visible")
        panel.get_by_role("button", name="Edit connection rows", exact=True).click()
        assert panel.locator("input[name=delimiter]").input_value() == ","  # the default, shown
        edited = re.compile(r"/lpstudio/api/v1/connections/rows(\?|$)")
        with page.expect_request(lambda r: r.method == "PUT" and edited.search(r.url)) as put:
            panel.locator(".lps-save").click()
        assert json.loads(put.value.post_data or "{}") == {"fields": {}}
        panel.locator(".lps-editor .lps-save").wait_for(state="detached")
        with Studio.open(root, user="alice") as studio:
            assert studio.connections.values("rows") == ("csv_file", {"path": "rows.csv"})
        # A new connection stores what was given, its defaults left to the connector.
        panel.locator(".lps-new-connection").click()
        panel.locator("select[name=type]").select_option("csv_file")
        panel.locator("input[name=name]").fill("more")
        panel.locator("input[name=path]").fill("more.csv")
        panel.locator("input[name=encoding]").fill("latin-1")
        panel.locator(".lps-save").click()
        panel.locator("tr[data-connection=more]").wait_for()
        with Studio.open(root, user="alice") as studio:
            assert studio.connections.values("more") == (
                "csv_file",
                {"path": "more.csv", "encoding": "latin-1"},
            )


def test_a_save_shows_the_values_that_apply_now(lab: tuple[Path, Any]) -> None:
    """Emptied and saved, a field shows the notebook's default that applies again (as the
    notebook's form does after a save), without a Refresh."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        with Studio.open(root, user="alice") as studio:
            studio.save_settings(FORMS, {"name": "Spring sale", "items": [3]})
        form = settings_of(page)
        name = form.locator("input[name=name]")
        assert name.input_value() == "Spring sale"
        name.fill("")
        form.locator("textarea[name=items]").fill("")
        assert save(form) == "Settings saved."
        assert "name" not in saved(root) and "items" not in saved(root)
        assert name.input_value() == "Cart recovery"
        assert json.loads(form.locator("textarea[name=items]").input_value()) == [1, 2]


def test_a_value_the_browser_refuses_marks_its_field(lab: tuple[Path, Any]) -> None:
    """A value refused before it is sent (not a whole number, not JSON) marks its field, as
    the server's refusals do, and says the fix; the mark moves to the next field refused."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        form = settings_of(page)
        form.locator("input[name=count]").fill("1.5")
        said = save(form)
        assert "count: give a whole number" in said and "fix: " in said, said
        invalid = form.locator(".lps-field-invalid")
        assert invalid.evaluate_all("ls => ls.map(l => l.dataset.field)") == ["count"]
        form.locator("input[name=count]").fill("4")
        form.locator("textarea[name=items]").fill("not json")
        said = save(form)
        assert "items: give valid JSON" in said and "fix: " in said, said
        assert invalid.evaluate_all("ls => ls.map(l => l.dataset.field)") == ["items"]
        # A list of whole numbers is told an example it takes (it was told ["a", "b"]).
        form.locator("textarea[name=items]").fill("[7]")
        form.locator("textarea[name=counts]").fill("1 2")
        said = save(form)
        assert "type a JSON list, e.g. [1, 2]" in said, said
        form.locator("textarea[name=counts]").fill("[1]")
        # A list of objects is told one as the API tells it (`list_examples.json`).
        form.locator("textarea[name=extras]").fill("{")
        said = save(form)
        assert 'type a JSON list, e.g. [{"key": "value"}]' in said, said
        form.locator("textarea[name=extras]").fill("[]")
        assert saved(root) == {}  # nothing was sent
        form.locator("textarea[name=items]").fill("[7]")
        assert save(form) == "Settings saved."
        assert invalid.count() == 0
        assert saved(root) == {"count": 4, "items": [7]}


def test_a_record_field_is_chosen_from_the_records_fields(lab: tuple[Path, Any]) -> None:
    """A parameter naming a field of the recipe's record (`x-object-field`) is a drop-down of
    the record's fields with their sample values, as in the notebook's form: its empty
    choice names the default, a choice is saved, the empty choice forgets it."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        form = settings_of(page)
        field = form.locator("select[name=consumer_id]")
        texts = field.locator("option").all_text_contents()
        assert texts == [
            "(default: phone)",
            "customer.first_name",  # in the order the notebook's metadata holds them
            "email (e.g. ava@example.com)",
            "phone (e.g. +16465550177)",
        ], texts
        assert field.input_value() == ""
        field.select_option("email")
        assert save(form) == "Settings saved."
        assert saved(root) == {"consumer_id": "email"}
        assert field.input_value() == "email"
        field.select_option("")
        assert save(form) == "Settings saved."
        assert saved(root) == {}
        # A saved value the record does not name is shown, marked as saved.
        with Studio.open(root, user="alice") as studio:
            studio.save_settings(FORMS, {"consumer_id": "mobile"})
        form.get_by_role("button", name="Refresh").click()
        form.locator("select[name=consumer_id] option[value=mobile]").wait_for(state="attached")
        field = form.locator("select[name=consumer_id]")
        assert field.locator("option:checked").inner_text() == "mobile (saved)"


def test_an_optional_choice_offers_its_default_not_null(lab: tuple[Path, Any]) -> None:
    """`Optional[Literal[...]] = None` offers the notebook's default as its empty choice and
    no "null"; with another default, None is a choice of its own, named as Python names it."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        form = settings_of(page)
        level = form.locator("select[name=level]")
        texts = level.locator("option").all_text_contents()
        assert texts == ["(notebook default)", "low", "high"], texts
        assert level.input_value() == ""
        tone = form.locator("select[name=tone]")
        texts = tone.locator("option").all_text_contents()
        assert texts == ["(default: calm)", "calm", "bright", "None"], texts
        level.select_option("high")
        tone.select_option(label="None")
        assert save(form) == "Settings saved."
        assert saved(root) == {"level": "high", "tone": None}
        assert tone.locator("option:checked").inner_text() == "None"
        level.select_option("")
        assert save(form) == "Settings saved."
        assert saved(root) == {"tone": None}  # kept as saved when left
        assert level.locator("option:checked").inner_text() == "(notebook default)"


def test_a_date_and_time_is_picked_to_the_second_and_saved_as_iso_text(
    lab: tuple[Path, Any],
) -> None:
    """`when: datetime` got a text box, though the README promises a picker: it is a
    date-and-time picker that keeps seconds and saves ISO text, as the text box did; a value
    it cannot hold as it is (a time zone) keeps a text box, as in the notebook's form."""
    root, admin_page = lab
    reset(root)
    with admin_page() as page:
        form = settings_of(page)
        when = form.locator("input[name=when]")
        assert when.get_attribute("type") == "datetime-local"
        assert datetime.fromisoformat(when.input_value()) == datetime(2026, 11, 1, 9, 0)
        assert save(form) == "Settings saved."
        assert saved(root) == {}  # the default, left as shown
        when.fill("2026-11-02T18:30:15")
        assert save(form) == "Settings saved."
        assert saved(root) == {"when": "2026-11-02T18:30:15"}
        assert when.input_value() == "2026-11-02T18:30:15"

        aware = "2026-11-02T18:30:15+02:00"  # a picker has no zone: it would show none
        with Studio.open(root, user="alice") as studio:
            studio.save_settings(FORMS, {"when": aware}, parse={"when"})
        form.get_by_role("button", name="Refresh").click()
        form.locator("input[name=when][type=text]").wait_for()
        assert form.locator("input[name=when]").input_value() == aware
        assert save(form) == "Settings saved."
        assert saved(root) == {"when": aware}


def test_a_dict_or_list_of_dates_is_told_the_example_the_api_tells(lab: tuple[Path, Any]) -> None:
    """A `dict[str, date]`'s field was told `{"key": "value"}`, which the server refuses
    too: the lab reads the examples the API's fixes read (`list_examples.json`), a date's
    among them, so it tells the example `lpstudio settings -p` tells, which saves."""
    root, admin_page = lab
    parameters = (
        "from datetime import date\n\n"
        "closing: dict[str, date] = {}  # when each shop closes\n"
        "holidays: list[date] = []  # when none opens"
    )
    write_recipe(root, "lab/dated", parameters=parameters, cells=("print(closing)",))
    with Studio.open(root, user="alice") as studio:
        schema = studio.recipe("lab/dated").schema
    told = {}
    for name in ("closing", "holidays"):
        with pytest.raises(ParameterError) as refused:
            coerce(schema, {name: "not json"}, {name})
        told[name] = refused.value.fix
    with admin_page() as page:
        command(page, "lpstudio:open-settings", {"recipe": "lab/dated.ipynb"})
        form = page.locator(".lps-settings-body:visible")
        closing, holidays = (
            form.locator("textarea[name=closing]"),
            form.locator("textarea[name=holidays]"),
        )
        closing.wait_for()
        closing.fill("{")
        said = save(form)
        example = '{"key": "2026-11-29"}'
        assert f"type a JSON object, e.g. {example}" in said, said
        assert example in told["closing"], told
        closing.fill(example)
        holidays.fill("[")
        said = save(form)
        assert 'type a JSON list, e.g. ["2026-11-29"]' in said, said
        assert '["2026-11-29"]' in told["holidays"], told
        holidays.fill('["2026-11-29"]')
        assert save(form) == "Settings saved."
    with Studio.open(root, user="alice") as studio:
        assert saved_settings(studio.store, "lab/dated.ipynb")["parameters"] == {
            "closing": {"key": "2026-11-29"},
            "holidays": ["2026-11-29"],
        }


def test_a_tuple_is_told_the_example_the_api_tells(lab: tuple[Path, Any]) -> None:
    """A `tuple[int, str]`'s field was told ["a", "b"], which the server refuses too (its
    first item is no whole number): it is told one of each of its items' types, as
    `lpstudio settings -p` tells it, which saves."""
    root, admin_page = lab
    parameters = 'pair: tuple[int, str] = (7, "x")  # a count and its name'
    write_recipe(root, "lab/paired", parameters=parameters, cells=("print(pair)",))
    with Studio.open(root, user="alice") as studio:
        schema = studio.recipe("lab/paired").schema
    with pytest.raises(ParameterError) as refused:
        coerce(schema, {"pair": "not json"}, {"pair"})
    example = '[1, "a"]'
    assert (refused.value.fix or "").endswith(f"for example: {example}"), refused.value.fix
    with admin_page() as page:
        command(page, "lpstudio:open-settings", {"recipe": "lab/paired.ipynb"})
        form = page.locator(".lps-settings-body:visible")
        pair = form.locator("textarea[name=pair]")
        pair.wait_for()
        pair.fill("[")
        said = save(form)
        assert f"type a JSON list, e.g. {example}" in said, said
        pair.fill(example)
        assert save(form) == "Settings saved."
    with Studio.open(root, user="alice") as studio:
        assert saved_settings(studio.store, "lab/paired.ipynb")["parameters"] == {"pair": [1, "a"]}
