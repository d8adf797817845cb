"""A job as lpstudio gives it out: its JSON shape (`--json` output, the REST API, the
widgets' rows, `Studio.jobs_frame`), its error as a reader of JSON gets it, the warning
a rerun gives and what a cancel did. Shared by the CLI, the server and the widgets, which
import it from here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import RERUN_FIRST
from .proactive import counted
from .store import FINAL_STATES

if TYPE_CHECKING:
    from .models import Job
    from .workspace import Workspace


#: A terminal's escape sequences: CSI (colours: `ESC [ 0;31 m`, or its 8-bit form), OSC
#: (`ESC ] ... BEL`), a character set's choice (`ESC ( B`, which `tput sgr0` writes), and an
#: escape cut off at the end of a line.
_ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()*+][0-9A-Za-z]|$)"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)


#: What a cancel did, as `lpstudio cancel --json` and REST's cancel answer say it in their
#: `cancel` field (the job's status alone leaves "asked to stop" and "had ended" alike):
#: `cancelled` a queued job at once, `requested` its worker to stop a running one, or
#: `nothing` as the job had already ended.
CancelOutcome = Literal["cancelled", "requested", "nothing"]
CANCEL_OUTCOMES: tuple[CancelOutcome, ...] = get_args(CancelOutcome)


def cancel_said(job: Job, outcome: CancelOutcome) -> str:
    """`lpstudio cancel`'s sentence for `outcome`, the word its `--json` gives."""
    if outcome == "cancelled":
        return f"job {job.id} is cancelled: it was still queued, so it ended at once"
    if outcome == "nothing":
        return f"job {job.id} had already ended ({job.status}): nothing to cancel"
    return f"job {job.id}: cancel requested; its worker stops it within seconds"


def plain_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """A job's error for readers of JSON: IPython colours its traceback for a terminal, and
    a bot or script would get `\\u001b[0;31m` in its text. The output notebook keeps the
    colours, as Jupyter does. What lpstudio keeps for itself (`RERUN_FIRST`) is left out."""
    if not error:
        return error
    error = {key: value for key, value in error.items() if key != RERUN_FIRST}
    if not error.get("traceback"):
        return error
    return {**error, "traceback": [_ANSI.sub("", line) for line in error["traceback"]]}


def shown_error(error: dict[str, Any] | None, workspace: Workspace | None) -> dict[str, Any] | None:
    """A job's error as given out (`plain_error`), its text naming the workspace's files by
    their path in it when the workspace is known (`Workspace.shown_in`): a recipe that
    opens a missing file fails with the server's folders in its `evalue` and traceback."""
    error = plain_error(error)
    return workspace.shown_in(error) if error and workspace is not None else error


def job_to_dict(
    job: Job,
    workspace: Workspace | None = None,
    waits: str | None = None,
    sends: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The JSON shape of a job, shared by `--json` output and the REST API: its list row
    (`listed_job`) with its parameters whole, its trigger event and result, the recipients
    its result reports by `lpstudio.proactive`'s rule (`counted`), and `waits`,
    why a queued job has not started (`Studio.waits`), and `sends`, what a running one has
    sent so far (`Studio.sends`), where a single job is shown."""
    row = _row(job, workspace, waits)
    shown = {**row, "parameters": job.parameters, "event": job.event, "result": job.result}
    shown["recipients"] = counted(job.result)  # the Jobs panel counts none of its own
    shown["sends"] = sends
    return {column: shown[column] for column in JOB_COLUMNS}  # in the order scripts saw


#: What a list of jobs leaves out of each row (REST's GET /jobs and the lab's Jobs panel,
#: `lpstudio jobs --json` and `poll --json`, REST's Poll now and a recipe's `last_job`,
#: `Studio.jobs_frame`, `JobsView`): a trigger event (a webhook delivery, up to
#: `max_body_bytes`) and a result (a campaign's recipients) have no bound, and the panel
#: lists 20 jobs every 2 s; the store does not even read them (`Store.list_jobs`). One job
#: (GET /jobs/{id}, `lpstudio show --json`, `Studio.job`) has them, and a running job's
#: sends so far (a count over its ledger). Its parameters are bounded (`LISTED_PARAMETERS`).
LISTED_WITHOUT = ("event", "result", "recipients", "sends")

#: The characters of JSON a list's row gives of a job's parameters (`listed_parameters`):
#: a run may give a parameter of megabytes (a 5 MB dict rode in every row, 11 MB fetched by
#: the Jobs panel every 2 s), where the usual few values fit whole.
LISTED_PARAMETERS = 1000


def listed_parameters(parameters: Any) -> tuple[Any, dict[str, int]]:
    """A job's parameters as a list's row gives them: each value whole, in order, while they
    fit `LISTED_PARAMETERS` together, and each one that does not named apart with its size
    (characters of JSON), left out rather than cut, so that no value read is a wrong one.
    One job (GET /jobs/{id}, `lpstudio show --json`, `Studio.job`) has them all."""
    if not isinstance(parameters, dict):
        return parameters, {}
    kept: dict[str, Any] = {}
    cut: dict[str, int] = {}
    room = LISTED_PARAMETERS
    for name, value in parameters.items():
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size <= room:
            kept[name] = value
            room -= size
        else:
            cut[name] = size
    return kept, cut


def listed_job(
    job: Job, workspace: Workspace | None = None, waits: str | None = None
) -> dict[str, Any]:
    """A job as a list shows it: `job_to_dict` without `LISTED_WITHOUT`, none of which it
    reads (a job listed by the store has them unread), and its parameters bounded
    (`listed_parameters`): `parameters_cut` names those left out, with their size."""
    parameters, cut = listed_parameters(job.parameters)
    row = {**_row(job, workspace, waits), "parameters": parameters, "parameters_cut": cut}
    return {column: row[column] for column in LISTED_COLUMNS}


def _row(job: Job, workspace: Workspace | None, waits: str | None) -> dict[str, Any]:
    """What a list's row and one job both give as they are. Its error names the workspace's
    files by their path in it, as REST error answers do (`shown_error`); the job's stored
    row and its output notebook keep the full paths, for the server's log and its admin.
    `output_missing`: the job ended with a notebook written at `output_path` that is no
    longer there (moved or deleted from history/), which a reader would otherwise take for
    present; without a workspace nothing is checked."""
    output = job.output_path
    missing = False
    if output and workspace is not None:
        output = job.output_in(workspace.root)
        missing = job.status in FINAL_STATES and not Path(output).is_file()
    return {
        "id": job.id,
        "recipe": job.recipe,
        "version": job.version_id,
        "status": job.status,
        "trigger": job.trigger,
        "user": job.user,
        "rerun_of": job.rerun_of,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "duration": job.duration,
        "timeout": job.timeout,  # its own, given by its run or rerun: None, its recipe's
        "progress": {"done": job.cells_done, "total": job.cells_total},
        "error": shown_error(job.error, workspace),
        "output_path": output,
        "output_missing": missing,
        "purged": job.purged,  # its data and output erased after the retention period
        "waits": waits,
    }


def refreshed_job(
    job: Job, workspace: Workspace | None, waits: str | None, sends: dict[str, int] | None
) -> dict[str, Any]:
    """One job as a view open on it refreshes it (GET /jobs/{id}?listed=true): what moves,
    its list row (`listed_job`) with `waits` and `sends` (the Jobs panel's "sent so far"),
    not its event and result, read once as the view opened and fetched whole."""
    return {**listed_job(job, workspace, waits), "sends": sends}


def cancel_to_dict(
    job: Job, outcome: CancelOutcome, workspace: Workspace | None = None
) -> dict[str, Any]:
    """A cancel's answer, the same for `--json` and REST: the job's keys, which scripts
    read, and `cancel`, what the cancel did."""
    return {**job_to_dict(job, workspace), "cancel": outcome}


#: The columns of `job_to_dict`, in order, so an empty history still has its columns.
JOB_COLUMNS = [
    "id",
    "recipe",
    "version",
    "status",
    "trigger",
    "parameters",
    "event",
    "user",
    "rerun_of",
    "created_at",
    "started_at",
    "finished_at",
    "duration",
    "timeout",
    "progress",
    "error",
    "result",
    "recipients",
    "output_path",
    "output_missing",
    "purged",
    "waits",
    "sends",
]

#: The columns of `listed_job`, in order: `Studio.jobs_frame`'s; `parameters_cut` after
#: `parameters`, a list's own.
LISTED_COLUMNS = [
    name
    for column in JOB_COLUMNS
    if column not in LISTED_WITHOUT
    for name in ((column, "parameters_cut") if column == "parameters" else (column,))
]


#: What a rerun risks (API-FACTS: a rerun may create duplicates), in one wording: the
#: notebook's JobsView shows it, and the lab's Jobs panel says it in its Rerun dialog.
RERUN_RISK = (
    "runs every cell again, on the recipe's latest version: side effects outside the "
    "delivery ledger (REST calls, opt-ins, written files) happen again; campaign batches "
    "it already delivered are not sent twice"
)


def rerun_warning(job: Job) -> str:
    """What a rerun of `job` risks: the CLI prints it before the rerun, the REST API answers
    it with the new job. A test's rerun is a test again, which sends nothing (the studio
    does not ask either)."""
    if job.trigger == "test":
        return f"rerunning job {job.id} as the test run it was: nothing is sent"
    return f"rerunning job {job.id} {RERUN_RISK}"
