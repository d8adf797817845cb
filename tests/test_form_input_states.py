"""The recipe form's inputs in the states a browser leaves them: a date typed in part, a
Test's preview followed by a real run, a text template, a JSON value that only Python's
`==` takes for the default, a nullable choice left at its None default, a date and time."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from ipywidgets import NaiveDatetimePicker, Text

from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm

from .conftest import run_json, write_recipe
from .test_forms import loaded, refused

RECIPE = "billing/reminder"


@pytest.fixture
def billing(tmp_path: Path, sandbox: Sandbox) -> Iterator[Studio]:
    """A workspace on the sandbox with the payment reminder as `billing/reminder`, as
    `lpstudio gallery try payment_reminder --project billing --name reminder` makes it."""
    studio = Studio.init(tmp_path / "ws", accept_terms=True, admin="alice", sandbox=sandbox.url)
    studio.try_template("payment_reminder", "billing", "reminder")
    yield studio
    studio.close()


def parameters(studio: Studio) -> dict[str, object]:
    return saved_settings(studio.store, f"{RECIPE}.ipynb").get("parameters", {})


def test_a_date_typed_in_part_keeps_the_saved_date_until_reset_is_clicked(
    billing: Studio,
) -> None:
    """A browser's date picker reports a date typed in part as no date (None), as it does an
    emptied one: Save forgot the saved date and said "saved", and Run now ran without it."""
    billing.save_settings(RECIPE, {"today": "2026-12-05"}, parse={"today"})  # `settings -p`
    form = loaded(RECIPE, billing)
    editor = form.fields["today"]
    assert editor.input.value == date(2026, 12, 5)

    editor.input.value = None  # the day part deleted
    said = html.unescape(editor.error.value)
    assert "today" in said and "Use default" in said, said
    assert form.save() is False
    assert "fix the fields first" in form.status.value
    form.run_now()
    assert form.last_job is None and billing.jobs() == []
    assert parameters(billing) == {"today": "2026-12-05"}

    editor.input.value = date(2026, 12, 6)  # a whole date again
    assert editor.error.value == ""
    assert form.save() is True, form.status.value
    assert parameters(billing) == {"today": "2026-12-06"}

    editor.reset.click()  # the explicit way back to the notebook's default (None)
    assert editor.input.value is None and editor.error.value == ""
    assert form.save() is True, form.status.value
    assert "today" not in parameters(billing)
    assert form.save() is True, form.status.value  # saved again untouched: still nothing
    assert "today" not in parameters(billing)


def test_a_date_picker_left_empty_on_a_date_default_says_how_to_get_it_back(
    studio: Studio,
) -> None:
    write_recipe(
        studio.workspace.root,
        "p/dated",
        parameters="from datetime import date\n\nstart: date | None = date(2026, 11, 1)",
    )
    form = RecipeForm("p/dated", studio)
    editor = form.fields["start"]
    editor.input.value = None  # typed in part: it was saved as None, the default's opposite
    assert "Use default" in html.unescape(editor.error.value)
    assert form.save() is False
    assert saved_settings(studio.store, "p/dated.ipynb") == {}
    editor.reset.click()
    assert editor.input.value == date(2026, 11, 1) and editor.error.value == ""
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/dated.ipynb") == {}  # the default: nothing to save


def test_run_now_replaces_the_preview_of_an_earlier_test(billing: Studio) -> None:
    form = loaded(RECIPE, billing)
    form.test()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert "What would be sent" in form.preview.value and "dry_run" in form.preview.value

    form.run_now()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "succeeded" and job.trigger == "manual", (
        form.status.value
    )
    assert f"job {job.id} succeeded" in form.status.value
    assert "What would be sent" not in form.preview.value
    assert "dry_run" not in form.preview.value


def test_a_failed_test_shows_its_error_not_an_empty_preview(billing: Studio) -> None:
    billing.save_settings(RECIPE, {"body_template": "Hi {nope}"})  # an open record takes it
    form = loaded(RECIPE, billing)
    form.test()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "failed", form.status.value
    said = html.unescape(form.status.value)
    assert "InputError" in said and "not among the columns of invoices.csv" in said, said
    assert "What would be sent" not in form.preview.value
    assert "null" not in form.preview.value


def test_a_text_template_gets_the_preview_and_the_unknown_placeholder_note(
    billing: Studio,
) -> None:
    """`body_template: str` had no preview: `Hi {nope}` was saved without a word, and
    Run now failed on it."""
    form = loaded(RECIPE, billing)
    section = form.proactive
    assert section is not None and section.body_param == "body_template"
    shown = html.unescape(section.preview.value)
    assert "Hi James, invoice INV-1002 of 89.90 USD" in shown  # the sample invoice
    assert "1 SMS" in shown

    form.fields["body_template"].input.value = "Hi {nope}"
    shown = html.unescape(section.preview.value)
    assert "unknown placeholder {nope}" in shown and "not named by the record" in shown
    assert form.save() is True, form.status.value  # an open record's: saved, and said
    assert parameters(billing) == {"body_template": "Hi {nope}"}


def test_a_json_value_equal_to_the_default_only_by_python_is_checked(studio: Studio) -> None:
    """`{"a": true}` is not the default `{"a": 1.0}`: the form took it for the default,
    said "saved", and stored nothing; the CLI refuses it."""
    write_recipe(
        studio.workspace.root, "p/weighted", parameters='weights: dict[str, float] = {"a": 1.0}'
    )
    form = RecipeForm("p/weighted", studio)
    said = refused(form, "weights", '{"a": true}')
    assert "parameter 'weights.a' expects a number, got true" in said, said
    assert saved_settings(studio.store, "p/weighted.ipynb") == {}

    form.fields["weights"].input.value = '{"a": 2}'  # a whole number is a number
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/weighted.ipynb")["parameters"] == {"weights": {"a": 2.0}}


def test_a_nullable_choice_shows_its_none_default_and_a_save_left_alone_stores_nothing(
    studio: Studio,
) -> None:
    """`mode: Literal["a", "b"] | None = None` showed a drop-down with nothing selected, and
    Save with nothing touched stored null as a saved value (`lpstudio settings` then said
    `mode = null [string/null, saved]`), so a later default of the notebook's would not
    apply. None chosen back, as any choice of the default's own value, stores nothing."""
    root = studio.workspace.root
    write_recipe(
        root,
        "lab/kinds",
        parameters='from typing import Literal\nmode: Literal["a", "b"] | None = None',
    )
    form = RecipeForm("lab/kinds", studio)
    mode = form.fields["mode"].input
    assert [label for label, _ in mode.options] == ["a", "b", "None"]
    assert mode.label == "None" and form.fields["mode"].raw is None  # selected, as shown
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "lab/kinds.ipynb").get("parameters", {}) == {}
    code, shown = run_json("settings", "lab/kinds", "--workspace", str(root))
    assert code == 0 and "saved" not in json.dumps(shown), shown
    assert mode.label == "None"  # as the settings are now

    mode.value = "a"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "lab/kinds.ipynb")["parameters"] == {"mode": "a"}
    mode.index = 2  # None, picked as the browser picks it
    assert mode.label == "None"
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "lab/kinds.ipynb")["parameters"] == {}
    assert RecipeForm("lab/kinds", studio).fields["mode"].input.label == "None"


def test_a_none_saved_elsewhere_is_named_as_a_change(studio: Studio) -> None:
    """A save elsewhere of None over nothing saved was no change to the form ("nothing the
    form shows changed"): a saved None is a value."""
    write_recipe(
        studio.workspace.root,
        "lab/kinds",
        parameters='from typing import Literal\nmode: Literal["a", "b"] | None = "a"',
    )
    form = RecipeForm("lab/kinds", studio)
    studio.save_settings("lab/kinds", {"mode": None})  # in another tab
    assert form.save() is False
    said = html.unescape(form.status.value)
    assert ": mode changed" in said, said
    assert form.fields["mode"].input.label == "None"  # shown as saved now


def test_a_datetime_parameter_gets_a_date_and_time_picker_and_keeps_iso_text(
    studio: Studio,
) -> None:
    """`when: datetime` got a plain text box, though the README promises a picker. Its
    picker sends ISO text as the text box did, seconds kept; a value it would change (a time
    zone) keeps the text box; an emptied picker is refused, as a date's is, until Use
    default."""
    write_recipe(
        studio.workspace.root,
        "p/timed",
        parameters="from datetime import datetime\n\nwhen: datetime = datetime(2026, 11, 1, 9, 0)",
        cells=("import lpstudio.kernel as lp\nlp.set_result({type(when).__name__: when})",),
    )
    form = RecipeForm("p/timed", studio)
    editor = form.fields["when"]
    assert isinstance(editor.input, NaiveDatetimePicker)
    assert editor.input.value == datetime(2026, 11, 1, 9, 0)
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/timed.ipynb").get("parameters", {}) == {}

    editor.input.value = datetime(2026, 11, 2, 18, 30, 15)
    form.run_now()
    form.wait()
    assert form.last_job is not None and form.last_job.status == "succeeded", form.status.value
    assert form.last_job.result == {"str": "2026-11-02T18:30:15"}
    assert saved_settings(studio.store, "p/timed.ipynb")["parameters"] == {
        "when": "2026-11-02T18:30:15"
    }
    assert RecipeForm("p/timed", studio).fields["when"].input.value == datetime(
        2026, 11, 2, 18, 30, 15
    )

    editor.input.value = None  # typed in part, or emptied
    said = html.unescape(editor.error.value)
    assert "expects a date and time like 2026-11-29T09:30:00" in said, said
    assert "Use default" in said and form.save() is False
    editor.reset.click()
    assert editor.input.value == datetime(2026, 11, 1, 9, 0) and editor.error.value == ""
    assert form.save() is True, form.status.value
    assert saved_settings(studio.store, "p/timed.ipynb")["parameters"] == {}

    aware = "2026-11-02T18:30:15+02:00"  # shown in the kernel's zone by a picker: kept as text
    studio.save_settings("p/timed", {"when": aware}, parse={"when"})
    zoned = RecipeForm("p/timed", studio)
    assert isinstance(zoned.fields["when"].input, Text)
    assert zoned.fields["when"].input.value == aware
    assert zoned.save() is True, zoned.status.value
    assert saved_settings(studio.store, "p/timed.ipynb")["parameters"] == {"when": aware}
