"""A deleted recipe's versions outlive its notebook (README: a recipe's state outlives its
notebook), and restoring one is how the delete is undone: `lpstudio versions`, `lpstudio
restore` and their routes refused such a recipe as not found. A rerun of one of its jobs was
refused as not found with "list recipes" (which no longer list it); it says the notebook is
gone and how to restore it, in the CLI's, the REST API's and the lab's terms.

Jobs and versions are written through the store: no kernel runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text
from lpstudio.widgets.jobs import JobsView
from tests.conftest import write_recipe
from tests.servers import API, serving

RECIPE = "doomed/old.ipynb"


def deleted(studio: Studio, status: str = "succeeded") -> tuple[str, int]:
    """`doomed/old`'s version and a job that ran it, ended with `status`; then its folder is
    deleted: the version's id and the job's."""
    notebook = write_recipe(studio.workspace.root, "doomed/old", parameters="days: int = 3")
    version = studio.store.snapshot(RECIPE, notebook.read_text(), {}, "alice")
    job = studio.store.create_job(recipe=RECIPE, version_id=version, trigger="manual", user="alice")
    studio.store.finish_job(job.id, status)
    shutil.rmtree(notebook.parent)
    return version, job.id


def test_the_cli_lists_and_restores_the_versions_of_a_deleted_recipe(
    studio: Studio, cli: Callable[..., Result]
) -> None:
    version, _job = deleted(studio)
    content = studio.store.version_notebook(version)

    listed = cli("versions", "doomed/old")
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(version[:12])

    restored = cli("restore", "doomed/old", version[:12])
    assert restored.exit_code == 0, restored.output
    assert restored.output.strip() == f"restored {RECIPE} to version {version[:12]}"
    notebook = studio.workspace.projects / RECIPE
    assert notebook.read_text() == content  # its folder made again
    assert studio.recipe(RECIPE).name == RECIPE
    # A path that never held a recipe is still none.
    never = cli("versions", "doomed/never")
    assert never.exit_code == 2 and "not found" in never.output, never.output


def test_a_rerun_of_a_deleted_recipe_s_job_says_how_to_restore_it(
    studio: Studio, cli: Callable[..., Result]
) -> None:
    version, job = deleted(studio)

    refused = cli("rerun", str(job))

    assert refused.exit_code == 2, refused.output
    assert f"job {job}'s recipe {RECIPE} is gone: its notebook was deleted" in refused.output
    assert (
        f"fix: bring it back from its versions: `lpstudio versions {RECIPE}` lists them, "
        f"`lpstudio restore {RECIPE} VERSION` writes one back; then `lpstudio rerun {job}`"
    ) in refused.output
    assert "lpstudio recipes" not in refused.output
    # As it says: restored, the job is rerun (queued here: nothing runs it).
    assert cli("restore", RECIPE, version).exit_code == 0
    _old, recipe, values = studio.check_rerun(job)
    assert recipe.name == RECIPE and values == {}


def test_the_notebook_s_jobs_view_says_the_rerun_s_refusal_in_lab_terms(studio: Studio) -> None:
    _version, job = deleted(studio, "failed")
    view = JobsView(studio)
    try:
        assert view.rerun_job.value == job
        thread = view.rerun()
        assert thread is not None
        thread.join()
    finally:
        view.close()
    said = view.notice.value
    assert f"rerun of job {job} refused" in said and "is gone" in said, said
    assert (
        f"in a terminal (File &gt; New &gt; Terminal), `lpstudio versions {RECIPE}` lists "
        f"them and `lpstudio restore {RECIPE} VERSION` writes one back; then Rerun of job "
        f"{job} in the Jobs panel"
    ) in said, said


def test_a_recipe_not_found_is_told_the_recipes_sidebar_in_lab_terms() -> None:
    """The notebook's widgets show the CLI's words: `lpstudio recipes` is no lab's."""
    said = lab_text(
        "recipe shop/x.ipynb not found in projects\n  fix: list recipes with `lpstudio recipes`"
    )
    assert said.endswith("fix: the Recipes sidebar lists the recipes there are")


def test_the_rest_api_lists_and_restores_a_deleted_recipe_s_versions(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        studio.store.ensure_user("otto", "operator")
        version, job = deleted(studio)
    path = "/recipes/doomed%2Fold.ipynb"
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        listed = served.api("otto", "GET", f"{path}/versions")
        assert listed.status_code == 200, listed.text
        assert [v["id"] for v in listed.json()["versions"]] == [version]

        rerun = served.api("alice", "POST", f"/jobs/{job}/rerun")
        assert rerun.status_code == 400, rerun.text
        error = rerun.json()["error"]
        assert error["field"] == "recipe" and "is gone" in error["message"]
        assert error["fix"] == (
            f"bring it back from its versions: GET {API}/recipes/{RECIPE}/versions lists them, "
            f'POST {API}/recipes/{RECIPE}/restore {{"version": ...}} writes one back; then '
            f"POST {API}/jobs/{job}/rerun"
        )
        assert lab_text(error["fix"]) == (
            "bring it back from its versions: in a terminal (File > New > Terminal), "
            f"`lpstudio versions {RECIPE}` lists them and `lpstudio restore {RECIPE} VERSION` "
            f"writes one back; then Rerun of job {job} in the Jobs panel"
        )

        body = {"version": version[:12]}
        refused = served.api("otto", "POST", f"{path}/restore", json=body)
        assert refused.status_code == 403, refused.text  # a restore needs build
        restored = served.api("alice", "POST", f"{path}/restore", json=body)
        assert restored.status_code == 200, restored.text
        assert restored.json()["recipe"] == RECIPE
        assert (ws / "projects" / RECIPE).is_file()
        missing = served.api("alice", "GET", "/recipes/doomed%2Fnever.ipynb/versions")
        assert missing.status_code == 404, missing.text
    with Studio.open(ws, user="alice") as studio:
        assert studio.check_rerun(job)[1].name == RECIPE  # as its fix said: rerun now
