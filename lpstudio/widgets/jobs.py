"""`JobsView`: the job history as a table, with filters, refresh and rerun of failed jobs.

As in Workato, a rerun is listed with the job it reran, and a job purged after the
retention period (`jobs.retention_days`) keeps its row but is no longer offered for rerun.

The view reads the store through the core API on every `refresh()`; auto-refresh only calls
`refresh()` from a background thread every `refresh_seconds`, and `close()` stops it. Reruns
run in their own threads (one per click) so the notebook stays responsive while the job
runs; `close()` waits for them, so no job started here is left running by the view.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import InputError, LpstudioError
from ..failures import describe_error, describe_trigger
from ..jobviews import RERUN_RISK, listed_job
from ..metrics import recipes_with_jobs
from ..models import utcnow
from ..recipe import timeout_refused
from ..store import FAILED, MAX_LISTED
from .common import (
    STATUSES,
    count_argument,
    esc,
    format_duration,
    format_time,
    lab_text,
    message,
    notebook_link,
    status_badge,
    studio_argument,
)
from .dashboard import RANGES, day_range, range_label

if TYPE_CHECKING:
    from pathlib import Path

    from ..models import Job
    from ..studio import Studio

ALL = "all"

#: The "since" windows back from now, by value: label, and how far back.
SPANS = {
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 hours", timedelta(days=1)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}
#: The "since" choices (label, value), as the lab's Jobs panel offers them: any time, the
#: `SPANS`, then the Dashboard's periods (`utc7`: the last 7 UTC calendar days, today
#: included), so that a day's jobs listed here are the ones its chart counts.
SINCE = [
    ("any time", ALL),
    *((label, value) for value, (label, _) in SPANS.items()),
    *((range_label(days), f"utc{days}") for days in RANGES),
]


def since_of(choice: str, now: datetime) -> datetime | None:
    """Where the jobs listed for the "since" `choice` begin; None: the whole history."""
    if choice.startswith("utc"):
        return day_range(int(choice.removeprefix("utc")), now)[0]
    return now - SPANS[choice][1] if choice in SPANS else None


RERUN_WARNING = f"A rerun {RERUN_RISK}."

COLUMNS = ("id", "status", "recipe", "started", "duration", "trigger", "user", "output", "error")


def projects_of(recipes: list[str]) -> list[str]:
    """The projects (folders under projects/, sub-folders too: `shop`, `shop/eu`) holding
    the `recipes`, sorted: the Project filter's choices, as `list_jobs(project=)` reads one."""
    return sorted(
        {
            "/".join(recipe.split("/")[:depth])
            for recipe in recipes
            for depth in range(1, recipe.count("/") + 1)
        }
    )


def _error_text(job: Job) -> str:
    """As `lpstudio show` says it, a command line it names (a recipe's own error may) in the
    studio's terms, as the lab's Jobs panel says it; a purged job kept only the error's
    kind and cell."""
    if not job.error:
        return ""
    where = f"in the Settings of {job.recipe.removesuffix('.ipynb')}"
    said = lab_text(describe_error(job.error, job.cells_total), where)
    return said.removesuffix(": ") if job.purged else said


def _row_html(row: dict[str, Any], job: Job, now: datetime, root: Path) -> str:
    duration = row["duration"]
    if duration is None and job.started_at is not None and row["status"] == "running":
        duration = (now - job.started_at).total_seconds()
    if job.purged:
        output = "purged"  # the retention period erased the notebook with the job's data
    else:
        output = notebook_link(root / row["output_path"], "notebook") if row["output_path"] else ""
    cells = (
        esc(row["id"]),
        status_badge(row["status"]),
        esc(row["recipe"]),
        esc(format_time(job.started_at)),
        esc(format_duration(duration)),
        esc(describe_trigger(job)),
        esc(row["user"]),
        output,
        esc(_error_text(job)),
    )
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


class JobsView(widgets.VBox):
    """Recent jobs, newest first: `limit` rows matching the filters per page; Older and
    Newer turn the pages, and a change of filter starts again from the newest. The first
    page is the newest jobs, live; an older page is the jobs after the last row of the page
    before it as it was shown (`list_jobs`' `before`), so jobs arriving do not shift it.

    `rows` holds the jobs shown, as a list of jobs shapes them (`listed_job`, with
    `output_path` relative to the workspace root): no trigger event or result, which the
    table does not show; `studio.job(id)` gives one job whole. With `refresh_seconds`, the
    table refreshes itself until `close()`.
    """

    def __init__(
        self, studio: Studio, limit: int = 50, refresh_seconds: float | None = None
    ) -> None:
        self.studio = studio
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._reruns: list[threading.Thread] = []
        self._rerunning: set[int] = set()
        self._stop = threading.Event()
        self._filling = False
        self._failure = ""  # the notice of the last refresh that failed, until one succeeds
        self.page_number = 0  # the page shown, 0 the newest
        self._ends: list[int] = []  # the last job of each page up to it: the next's `before`

        self.status = widgets.Dropdown(options=[ALL, *STATUSES], value=ALL, description="Status")
        self.project = widgets.Dropdown(options=[ALL], value=ALL, description="Project")
        self.recipe = widgets.Dropdown(options=[ALL], value=ALL, description="Recipe")
        self.since = widgets.Dropdown(options=SINCE, value=ALL, description="Since")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.table = widgets.HTML()
        self.newer_button = widgets.Button(description="Newer", icon="arrow-left", disabled=True)
        self.older_button = widgets.Button(description="Older", icon="arrow-right", disabled=True)
        self.page = widgets.HTML()
        self.rerun_job = widgets.Dropdown(options=[], description="Failed job")
        self.rerun_button = widgets.Button(
            description="Rerun", icon="repeat", button_style="warning", disabled=True
        )
        # As the lab's Rerun dialog and `lpstudio rerun --timeout`: a job that timed out is
        # rerun with a longer one, which its fix names.
        self.rerun_timeout = widgets.Text(
            description="Timeout (seconds)",
            placeholder="the job's own",
            style={"description_width": "initial"},
        )
        self.rerun_warning = widgets.HTML(message(RERUN_WARNING, "warning"))
        self.notice = widgets.HTML()

        for control in (self.status, self.project, self.recipe, self.since):
            control.observe(self._on_filter, names="value")
        self.refresh_button.on_click(lambda _button: self._refresh_or_say())
        self.newer_button.on_click(lambda _button: self._turn(-1))
        self.older_button.on_click(lambda _button: self._turn(1))
        self.rerun_button.on_click(lambda _button: self.rerun())

        super().__init__(
            [
                widgets.HBox(
                    [self.status, self.project, self.recipe, self.since, self.refresh_button]
                ),
                self.table,
                widgets.HBox([self.newer_button, self.older_button, self.page]),
                widgets.HBox([self.rerun_job, self.rerun_timeout, self.rerun_button]),
                self.rerun_warning,
                self.notice,
            ]
        )
        self._timer: threading.Thread | None = None
        try:  # SQLite reads a limit of -1 as "no limit", and 2.5 as a datatype mismatch
            studio_argument(studio, "JobsView(studio)")
            self.limit = count_argument(
                limit, "limit", MAX_LISTED, "jobs", "JobsView(studio, limit=50)"
            )
            if refresh_seconds is not None and not (
                isinstance(refresh_seconds, int | float)
                and not isinstance(refresh_seconds, bool)
                and math.isfinite(refresh_seconds)
                and refresh_seconds > 0
            ):  # NaN made a busy loop, inf a crash
                raise InputError(
                    f"refresh_seconds must be a number of seconds above 0, got {refresh_seconds!r}",
                    field="refresh_seconds",
                    fix="pass refresh_seconds=5, say, or None for no refresh",
                )
        except InputError:
            self.close()  # a widget made, never shown: closed, or its finalizer complains
            raise
        self.refresh()
        if refresh_seconds is not None:
            self._timer = threading.Thread(
                target=self._auto_refresh,
                args=(refresh_seconds,),
                name="lpstudio-jobs-refresh",
                daemon=True,
            )
            self._timer.start()

    # -- reading ---------------------------------------------------------------------------

    def _on_filter(self, _change: dict[str, Any]) -> None:
        if not self._filling:
            self.page_number = 0
            self._refresh_or_say()

    def _turn(self, pages: int) -> None:
        self.page_number = max(0, self.page_number + pages)
        self._refresh_or_say()

    def _fill_choices(self) -> None:
        """Offers every project and recipe with jobs, the recipes of the project chosen,
        keeping the current choices; a recipe outside the project chosen is let go (the two
        together could list nothing), as the lab's Jobs panel refuses them together."""
        recipes = recipes_with_jobs(self.studio.store)
        project = self.project.value
        in_project = [r for r in recipes if project == ALL or r.startswith(f"{project}/")]
        self._offer(self.project, [ALL, *projects_of(recipes)])
        recipe = self.recipe.value
        if recipe != ALL and recipe not in in_project and project != ALL:
            recipe = ALL  # a recipe of another project
        self._offer(self.recipe, [ALL, *in_project], recipe)

    def _offer(
        self, control: widgets.Dropdown, options: list[str], value: str | None = None
    ) -> None:
        """Gives `control` the `options`, keeping its value (or `value`), listed even when it
        no longer has jobs, without refreshing for the change."""
        value = control.value if value is None else value
        if value not in options:
            options.append(value)
        if list(control.options) != options or control.value != value:
            self._filling = True
            try:
                control.options = options
                control.value = value
            finally:
                self._filling = False

    def refresh(self) -> None:
        """Reads the jobs matching the filters again and redraws the table."""
        with self._lock:
            self._fill_choices()
            now = utcnow()
            number = min(self.page_number, len(self._ends))  # a page after one shown
            jobs = self.studio.store.list_jobs(
                recipe=None if self.recipe.value == ALL else self.recipe.value,
                project=None if self.project.value == ALL else self.project.value,
                status=None if self.status.value == ALL else self.status.value,
                since=since_of(self.since.value, now),
                limit=self.limit + 1,  # one more: whether an older page exists
                before=self._ends[number - 1] if number else None,
                listed=True,
            )
            older = len(jobs) > self.limit
            jobs = jobs[: self.limit]
            self.page_number = number
            self._ends[number:] = [jobs[-1].id] if jobs else []
            self.older_button.disabled = not older
            self.newer_button.disabled = number == 0
            first = number * self.limit + 1  # as counted when the pages were turned
            last = first + len(jobs) - 1
            self.page.value = (
                esc(f"jobs {first} to {last}, newest first" + ("; more are older" if older else ""))
                if jobs
                else ""
            )
            waits = self.studio.waits_of(jobs)  # as every list gives them: one query a page
            self.rows = [listed_job(job, None, why) for job, why in zip(jobs, waits, strict=True)]
            header = "".join(f"<th>{esc(name)}</th>" for name in COLUMNS)
            root = self.studio.workspace.root
            body = "".join(
                _row_html(row, job, now, root) for row, job in zip(self.rows, jobs, strict=True)
            )
            if not self.rows:
                body = f'<tr><td colspan="{len(COLUMNS)}">no jobs match these filters</td></tr>'
            self.table.value = (
                '<table class="lpstudio-jobs" style="border-collapse:collapse">'
                f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
            )
            # A purged job cannot be rerun: its parameters and event are gone.
            failed = [job for job in jobs if job.status == FAILED and not job.purged]
            ids = [job.id for job in failed]
            keep = self.rerun_job.value if self.rerun_job.value in ids else None
            self.rerun_job.options = [(f"{job.id}: {job.recipe}", job.id) for job in failed]
            self.rerun_job.value = keep if keep is not None else (ids[0] if ids else None)
            self.rerun_button.disabled = not ids

    def _refresh_or_say(self) -> None:
        """`refresh()` for the button, the filters and the timer: a failure is shown under
        the table (a callback's exception only reaches JupyterLab's log console) until a
        refresh succeeds, which takes its notice away."""
        try:
            self.refresh()
        except Exception as exc:  # keep refreshing after a passing store error
            self._failure = message(f"refresh failed: {exc}", "error")
            self.notice.value = self._failure
        else:
            if self._failure and self.notice.value == self._failure:
                self.notice.value = ""
            self._failure = ""

    def _auto_refresh(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self._refresh_or_say()

    # -- rerunning -------------------------------------------------------------------------

    def rerun(self) -> threading.Thread | None:
        """Reruns the chosen failed job in a background thread, which it returns; with the
        Timeout (seconds) typed, or the job's own when it is empty."""
        job_id = self.rerun_job.value
        if job_id is None:
            self.notice.value = message("choose a failed job to rerun", "warning")
            return None
        try:
            timeout = self._timeout()
        except InputError as exc:
            self.notice.value = message(f"rerun of job {job_id} refused: {exc}", "error")
            return None
        if job_id in self._rerunning:
            self.notice.value = message(f"job {job_id} is being rerun already", "warning")
            return None
        self._rerunning.add(job_id)
        self.notice.value = message(f"rerunning job {job_id}...", "info")
        thread = threading.Thread(
            target=self._rerun, args=(job_id, timeout), name=f"lpstudio-rerun-{job_id}"
        )
        self._reruns.append(thread)
        thread.start()
        return thread

    def _timeout(self) -> float | None:
        """The Timeout (seconds) typed: None when empty; text that is no number refused as
        a number out of range is (`timeout_refused`), by the run's own check."""
        text = self.rerun_timeout.value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise timeout_refused(repr(text)) from None

    def _rerun(self, job_id: int, timeout: float | None) -> None:
        try:
            job = self.studio.rerun(job_id, timeout=timeout)
        except LpstudioError as exc:
            said = lab_text(str(exc))  # its fix in the studio's terms
            self.notice.value = message(f"rerun of job {job_id} refused: {said}", "error")
            return
        except Exception as exc:  # shown to the user instead of dying silently in a thread
            self.notice.value = message(
                f"rerun of job {job_id} failed to start: {type(exc).__name__}: {exc}", "error"
            )
            return
        finally:
            self._rerunning.discard(job_id)
        kind = "success" if job.status == "succeeded" else "error"
        self.notice.value = message(f"rerun of job {job_id}: job {job.id} {job.status}", kind)
        if not self._stop.is_set():
            self._refresh_or_say()  # in a thread: an error would otherwise be lost

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stops auto-refresh, waits for reruns started here, and closes the widgets."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        for thread in self._reruns:
            thread.join()
        for child in (
            self.status,
            self.project,
            self.recipe,
            self.since,
            self.refresh_button,
            self.table,
            self.newer_button,
            self.older_button,
            self.page,
            self.rerun_job,
            self.rerun_timeout,
            self.rerun_button,
            self.rerun_warning,
            self.notice,
            *self.children,
        ):
            child.close()
        super().close()
