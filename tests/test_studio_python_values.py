"""The Python API in a notebook takes the values pandas and numpy give it: a `jobs_frame`
index's numpy int64 as a job id, a pandas Timestamp as `since`, numpy scalars as parameters
and limits. What it cannot take it refuses naming the argument and the fix, where it raised
Python's or SQLAlchemy's own errors, or read a wrong value ("job 22 does not exist").

Jobs are written through the store: no kernel runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lpstudio.errors import InputError
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe


def _jobs(studio: Studio, count: int) -> list[int]:
    """The ids of `count` queued jobs of the recipe hooks/echo (their event: their number)."""
    write_recipe(studio.workspace.root, "hooks/echo")
    version = studio.store.snapshot("hooks/echo.ipynb", "{}", {}, "alice")
    return [
        studio.store.create_job(
            recipe="hooks/echo.ipynb",
            version_id=version,
            trigger="webhook",
            event={"n": n},
            user="webhook",
        ).id
        for n in range(count)
    ]


def test_a_job_id_from_jobs_frame_finds_its_job_and_what_is_no_id_is_refused(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        first, second = _jobs(studio, 2)
        ids = studio.jobs_frame().reset_index()["id"]
        assert isinstance(ids.min(), np.integer)
        assert studio.job(ids.min()).id == first
        assert studio.job(ids.max()).event == {"n": 1}
        assert studio.cancel(np.int64(second)).status == "cancelled"
        for given in ("1", True, 1.0, None):
            with pytest.raises(InputError) as refused:
                studio.job(given)  # type: ignore[arg-type]
            assert refused.value.field == "job_id", given
            assert "job_id must be a job's number" in str(refused.value)
            assert "studio.job(12)" in (refused.value.fix or "")
        with pytest.raises(InputError, match="job_id"):
            studio.cancel("1")  # type: ignore[arg-type]
        assert studio.job(first).status == "queued"


def test_a_pandas_timestamp_without_a_zone_is_a_since_in_this_machines_zone(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        made = _jobs(studio, 2)
        hour = pd.Timedelta(hours=1)
        assert list(studio.jobs_frame(since=pd.Timestamp.now() - hour).index) == made[::-1]
        assert studio.jobs_frame(since=pd.Timestamp.now() + hour).empty
        assert [job.id for job in studio.jobs(since=pd.Timestamp.now() - hour)] == made[::-1]
        midnight = pd.Timestamp.now().normalize()  # today at 0:00 here
        assert len(studio.jobs_frame(since=midnight - pd.Timedelta(days=1))) == 2


def test_numpy_numbers_are_taken_as_the_numbers_they_are(ws: Path) -> None:
    write_recipe(ws, "p/mix", "n: int = 1  # a count\nr: float = 0.5  # a rate\nok: bool = False")
    with Studio.open(ws, user="alice") as studio:
        counts = pd.DataFrame({"n": [3, 4], "r": [0.25, 1.5], "ok": [True, False]})
        given = {"n": counts["n"].min(), "r": counts["r"].min(), "ok": counts["ok"].any()}
        assert not isinstance(given["n"], int) and not isinstance(given["ok"], bool)
        _, values = studio.validate("p/mix", given)
        assert values == {"n": 3, "r": 0.25, "ok": True}
        assert [type(values[name]) for name in ("n", "r", "ok")] == [int, float, bool]
        studio.save_settings("p/mix", {"n": np.int64(7)})
        assert saved_settings(studio.store, "p/mix.ipynb")["parameters"] == {"n": 7}

        made = _jobs(studio, 3)
        frame = studio.jobs_frame(limit=np.int64(2), offset=np.int64(1))
        assert list(frame.index) == [made[1], made[0]]
        assert [job.id for job in studio.jobs(before=frame.index.max())] == [made[0]]
        with pytest.raises(InputError, match="limit must be a whole number") as refused:
            studio.jobs_frame(limit=np.float64(2.5))
        assert refused.value.field == "limit"


def test_a_timeout_or_a_studio_of_the_wrong_type_is_refused_naming_it(ws: Path) -> None:
    from lpstudio.widgets.dashboard import Dashboard
    from lpstudio.widgets.form import RecipeForm
    from lpstudio.widgets.gallery import GalleryView
    from lpstudio.widgets.jobs import JobsView

    write_recipe(ws, "p/echo")
    with Studio.open(ws, user="alice") as studio:
        for timeout in ("60", True, [60]):
            with pytest.raises(InputError, match="timeout must be a positive number") as refused:
                studio.run("p/echo", timeout=timeout)  # type: ignore[arg-type]
            assert refused.value.field == "timeout" and repr(timeout) in str(refused.value)
        assert studio.jobs() == []  # nothing was queued
        made = {
            "JobsView(studio)": lambda given: JobsView(given),
            "Dashboard(studio)": lambda given: Dashboard(given),
            "GalleryView(studio)": lambda given: GalleryView(given),
            "RecipeForm('p/echo', studio)": lambda given: RecipeForm("p/echo", given),
        }
        for example, make in made.items():
            for given in (None, str(ws), ws):
                if given is None and example.startswith("RecipeForm"):
                    continue  # None: the workspace of the notebook it is shown in
                with pytest.raises(InputError, match="studio must be a Studio") as refused:
                    make(given)
                assert refused.value.field == "studio", example
                assert "lpstudio.Studio.open(PATH)" in (refused.value.fix or "")
                assert example in (refused.value.fix or "")


def test_a_listed_jobs_event_and_result_are_refused_with_the_way_to_read_them(ws: Path) -> None:
    with Studio.open(ws, user="alice") as studio:
        [made] = _jobs(studio, 1)
        [listed] = studio.jobs(listed=True, limit=1)
        moving = studio.job(made, listed=True)
        last = studio.store.last_jobs(["hooks/echo.ipynb"])["hooks/echo.ipynb"]
        for job in (listed, moving, last):
            for name in ("event", "result", "given"):
                with pytest.raises(InputError) as refused:
                    getattr(job, name)
                said = str(refused.value)
                unread = "its event, result and the values given to it"
                assert f"job {made} was listed without {unread}" in said, said
                assert refused.value.fix == f"read the whole job with studio.job({made})"
            assert job.status == "queued"
        assert studio.job(made).event == {"n": 0} and studio.jobs()[0].result is None


def test_one_name_to_reset_is_that_name_not_its_letters(ws: Path) -> None:
    write_recipe(ws, "p/days", "days_ahead: int = 1  # days\nrate: float = 0.5  # a rate")
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/days", {"days_ahead": 4, "rate": 0.75})
        assert studio.save_settings("p/days", reset="days_ahead")["parameters"] == {"rate": 0.75}
        assert saved_settings(studio.store, "p/days.ipynb")["parameters"] == {"rate": 0.75}
        with pytest.raises(InputError, match="no parameter or slot 'days' to reset"):
            studio.save_settings("p/days", reset="days")
        # None, as a caller passes an option it did not set: nothing forgotten.
        assert studio.save_settings("p/days", reset=None)["parameters"] == {"rate": 0.75}


def test_a_recipe_is_found_by_the_path_jupyterlab_copies(ws: Path) -> None:
    from lpstudio.widgets.form import RecipeForm

    write_recipe(ws, "p/echo")
    copied = "projects/p/echo.ipynb"  # the file browser's Copy Path
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(copied).name == "p/echo.ipynb"
        assert studio.recipe("projects/p/echo").name == "p/echo.ipynb"
        assert studio.validate(copied, {"x": 3})[1]["x"] == 3
        assert studio.save_settings(copied, {"x": 2})["parameters"] == {"x": 2}
        form = RecipeForm(copied, studio)
        try:
            assert form.recipe.name == "p/echo.ipynb"
        finally:
            form.close()
        with pytest.raises(InputError, match=r"recipe projects/p/other\.ipynb not found"):
            studio.recipe("projects/p/other.ipynb")
        # A recipe of a project named `projects` is still found by its own name.
        write_recipe(ws, "projects/p/echo")
        assert studio.recipe(copied).name == copied
