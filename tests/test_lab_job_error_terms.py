"""The lab's Jobs panel says a job's fix in the studio's terms, in a real JupyterLab in
chromium: a recipe naming a slot it does not declare, and an action's input its schema says
nothing of, were told as REST routes (`PUT .../recipes/analysis/campaign.ipynb/settings
{"connections": ...}`, `GET .../connectors`), the API's words for the command lines the
notebook's `JobsView` says in the same terms (`lpstudio/lab_terms.json`).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from lpstudio.client import SEE_SCHEMA
from lpstudio.errors import InputError
from lpstudio.studio import Studio

from .conftest import set_job, write_recipe
from .test_studio_ui import alice_lab, command

RECIPE = "analysis/campaign.ipynb"


def failed_jobs(root: Path) -> tuple[int, int]:
    """A job whose recipe asked for a slot it does not declare (run in a kernel), and one
    whose action's input the schema says nothing of (its error as a job stores it)."""
    write_recipe(
        root,
        "analysis/campaign",
        cells=('import lpstudio.kernel as lp\nlp.connection("nosuchslot")',),
        metadata={"title": "Campaign"},
    )
    with Studio.open(root, user="alice") as studio:
        slot = studio.run(RECIPE, {})
        assert slot.status == "failed" and "nosuchslot" in slot.error["evalue"], slot.error
        version = studio.store.snapshot(RECIPE, studio.recipe(RECIPE).canonical_json, {}, "alice")
        job = studio.store.create_job(
            recipe=RECIPE, version_id=version, trigger="manual", parameters={}, user="alice"
        )
        refused = InputError("acme.create_lead: [] is not of type 'object'", fix=SEE_SCHEMA)
        error = {"ename": "InputError", "evalue": str(refused)}
        set_job(studio.store, job.id, status="failed", error=error)
        return slot.id, job.id


def test_the_jobs_panel_says_a_slot_to_bind_and_an_action_s_schema_in_lab_terms(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice").close()
    slot, schema = failed_jobs(root)
    with alice_lab(root, tmp_path / "jupyter") as page:
        command(page, "lpstudio:open-jobs", {"recipe": RECIPE})
        jobs = page.locator(".lps-jobs")
        message = jobs.locator(".lps-details .lps-error-message")
        jobs.get_by_role("button", name=f"Error job {slot}", exact=True).click()
        expect(message).to_contain_text(
            "declare 'nosuchslot' in metadata.lpstudio.connections and choose a connection for "
            "nosuchslot under Connections in the Settings of analysis/campaign, then Save"
        )
        jobs.get_by_role("button", name=f"Error job {schema}", exact=True).click()
        expect(message).to_contain_text(
            "see the action's input schema in a terminal (File > New > Terminal) with "
            "`lpstudio connectors --json`, which lists each connector's actions and their inputs"
        )
        assert "/lpstudio/api/v1" not in jobs.inner_text()
