"""The notebook's form after its recipe changed under it, and what its Test shows of a dry
run whatever the recipe keeps as its result."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import nbformat
from ipywidgets.widgets.widget import _instances

from lpstudio.sandbox import Sandbox
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm

from .conftest import write_recipe
from .test_forms import loaded, shop  # noqa: F401 (a fixture)

BEFORE = "count: int = 3  # contacts to make\nlabel: str = 'promo'  # campaign label"
AFTER = "n_contacts: int = 3  # contacts to make\nlabel: str = 'promo'  # campaign label"


def shown(widget_html: str) -> str:
    """What a status line says, without its markup."""
    return html.unescape(re.sub("<[^>]*>", "", widget_html))


def test_a_form_whose_notebook_s_parameters_changed_refuses_then_refresh_shows_them(
    studio: Studio, ws: Path
) -> None:
    """The notebook renamed `count` to `n_contacts` while its form was open: Save, Test and
    Run now were refused with the API's "unknown parameter 'count'" each time, and Refresh
    lists never showed the new field (only running the form cell again did, which nothing
    said, and which loses what was typed)."""
    write_recipe(ws, "promo/stale", parameters=BEFORE)
    form = RecipeForm("promo/stale", studio)
    form.fields["count"].input.value = "5"
    form.fields["label"].input.value = "winter"
    write_recipe(ws, "promo/stale", parameters=AFTER)  # saved in JupyterLab meanwhile

    for click in (form.save, form.run_now, form.test):
        click()
        form.wait()
        said = shown(form.status.value)
        assert "the notebook's parameters changed" in said, said
        assert "added n_contacts" in said and "removed count" in said, said
        assert "click Refresh lists" in said and "unknown parameter" not in said, said
    assert saved_settings(studio.store, "promo/stale.ipynb") == {}  # nothing saved
    assert studio.jobs() == []  # nothing run

    form.buttons["refresh"].click()
    assert set(form.fields) == {"n_contacts", "label"}
    assert form.fields["n_contacts"].raw == "3"  # the notebook's default
    assert form.fields["label"].raw == "winter"  # what was typed in a field it still has
    said = shown(form.status.value)
    assert "added n_contacts" in said and "count" in said and "5" in said, said

    form.fields["n_contacts"].input.value = "7"
    assert form.save() is True, form.status.value
    saved = saved_settings(studio.store, "promo/stale.ipynb")["parameters"]
    assert saved == {"n_contacts": 7, "label": "winter"}
    form.close()


def test_a_form_rebuilt_by_refresh_leaves_no_widget_open_once_closed(
    studio: Studio, ws: Path
) -> None:
    """Each rebuild left about 120 layout and style models open (a comm each, in the
    kernel and the browser), closed with nothing."""
    write_recipe(ws, "promo/grows", parameters=BEFORE)
    before = len(_instances)
    form = RecipeForm("promo/grows", studio)
    for extra in range(3):
        write_recipe(ws, "promo/grows", parameters=f"{BEFORE}\nextra{extra}: int = {extra}")
        form.buttons["refresh"].click()
        assert f"extra{extra}" in form.fields
    form.close()
    assert len(_instances) == before, sorted({type(w).__name__ for w in _instances.values()})


def test_test_shows_the_requests_when_the_recipe_keeps_only_some_of_the_answer(
    shop: Studio,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """A recipe whose result holds only the campaign's counts (`set_result({k: sent[k] for
    k in ('campaigns', 'accepted', 'failed')})`) got a Test preview of those counts alone:
    the requests its dry run built, which the README says Test shows, were nowhere."""
    path = shop.workspace.projects / "shop" / "cart_abandonment.ipynb"
    nb = nbformat.read(path, as_version=4)
    last = nb.cells[-1]
    last.source = last.source.replace(
        "lp.set_result({**known, **sent})",
        "lp.set_result({k: sent[k] for k in ('campaigns', 'accepted', 'failed')})",
    )
    assert "for k in" in last.source
    nbformat.write(nb, path)

    form = loaded("shop/cart_abandonment", shop)
    form.buttons["test"].click()
    form.wait()
    job = form.last_job
    assert job is not None and job.status == "succeeded", form.status.value
    assert job.result == {"campaigns": [], "accepted": 0, "failed": []}  # the recipe's own
    preview = html.unescape(form.preview.value)
    assert "What would be sent" in preview
    assert "templateId" in preview and "H1000000001" in preview, preview
    assert '"accepted": 0' in preview  # the recipe's result, shown too
    sent = httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]
    assert sent == []
    form.close()
