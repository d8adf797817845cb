"""Running jobs: `run`, `jobs`, `show`, `rerun`, `cancel` and `poll`."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .. import strictjson, strictyaml
from ..checks import check_run_event
from ..errors import InputError, LpstudioError, ParameterError, not_utf8
from ..failures import describe_trigger
from ..jobstates import JOB_STATES
from ..jobviews import cancel_said, cancel_to_dict, listed_job, rerun_warning
from ..parameters import coerce, mapping_example
from ..recipe import MAX_TIMEOUT
from ..store import MAX_LISTED
from ..strictyaml import Written
from ..studio import Studio
from ..times import local_text, parse_moment
from .base import (
    JOB_ID,
    FiniteRange,
    _duration,
    _emit,
    _exit_for,
    _fail,
    _once,
    _print_job,
    _studio,
    _typed_recipe,
    handles_errors,
    json_option,
    main,
    workspace_option,
)
from .output import cell

#: A job's own timeout, given to `run` or `rerun`: in seconds, above 0 (`Studio.job_fields`
#: checks the Python API's and REST's the same way).
TIMEOUT = FiniteRange(0, MAX_TIMEOUT, min_open=True)


def _load_yaml(
    text: str, file: Path | None, example: str
) -> tuple[dict[str, Any], dict[str, Written]]:
    """The parameters `-y`, or the `file` given to `-f`, gives, with its scalars as written
    (`strictyaml.load_written`); `example` is a mapping such as they give, for the fix of
    text that is none (`_mapping_example`)."""
    where = "-y" if file is None else f"-f {file}"
    fix = f"give a YAML mapping such as '{example}'"
    with strictyaml.refused_as(where, where, "a YAML mapping", fix):
        data, written = strictyaml.load_written(text, None if file is None else str(file))
    if not isinstance(data or {}, dict):
        raise ParameterError(
            f"{where} must be a mapping of parameter names to values", field=where, fix=fix
        )
    return data or {}, written


def _mapping_example(studio: Studio, recipe: str) -> str:
    """An example of parameters as `-y` and `-f` give them, naming one of the recipe's own
    (`mapping_example`); the manual's for a recipe that declares none. A recipe that does
    not load is refused first, as the run would refuse it."""
    return mapping_example(studio.recipe(recipe).schema) or "days_ahead: 7"


def _read_file(file: Path, option: str, what: str, kind: str) -> str:
    """The text of a file given to `option`: UTF-8, with or without the byte-order mark
    Windows editors put first (a file in another encoding was a traceback)."""
    try:
        return file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(
            f"cannot read {what} {file}: {exc.strerror}",
            field=option,
            fix=f"give the path of a readable {kind} file",
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {file} {not_utf8(exc)}",
            field=option,
            fix=f"save the {kind} file as UTF-8 (your editor's encoding option), then try again",
        ) from None


def _collect_parameters(
    params: tuple[tuple[str, str], ...],
    raw: tuple[tuple[str, str], ...],
    yamls: tuple[str, ...],
    files: tuple[Path, ...],
    example: str,
) -> tuple[dict[str, Any], set[str], dict[str, Written]]:
    """Merges the options in papermill's order: -f, then -y, then -p, then -r (a later option
    overrides an earlier one, as the README says); a name given twice to -p, or to -r, is
    refused (`_once`), as papermill's last one won unsaid. `example` is a mapping such as
    -y and -f give (`_mapping_example`). The values YAML gives last are kept as written,
    for their refusals (`_check_as_given`)."""
    _once((name for name, _ in params), "-p", " VALUE")
    _once((name for name, _ in raw), "-r", " VALUE")
    values: dict[str, Any] = {}
    parse: set[str] = set()
    written: dict[str, Written] = {}
    loaded = [(_read_file(file, "-f", "parameters file", "YAML"), file) for file in files]
    for text, file in [*loaded, *((text, None) for text in yamls)]:
        data, scalars = _load_yaml(text, file, example)
        values.update(data)
        written = {name: kept for name, kept in written.items() if name not in data} | scalars
    for name, value in [*params, *raw]:
        values[name] = value
        written.pop(name, None)
    parse.update(name for name, _ in params)
    parse.difference_update(name for name, _ in raw)
    return values, parse, written


def _check_as_given(
    studio: Studio, recipe: str, values: dict[str, Any], raw: set[str], written: dict[str, Written]
) -> None:
    """Checks the values of `-r`, and the scalars of `-y` and `-f`, first, as they were given
    (`studio.run` sees typed values): a value of `-r` that is no text to the recipe is
    refused saying so, and that -p reads it; one YAML typed otherwise than the recipe
    does, quoting it as written (`+14155550199`), and as YAML read it (14155550199)."""
    names = raw | written.keys()
    if names:
        found = studio.recipe(recipe)
        coerce(
            found.schema,
            {name: values[name] for name in names},
            recipe=found.name,
            raw=raw,
            hidden=studio.held_secrets,
            written=written,
        )


def _load_event(text: str | None, file: Path | None) -> Any:
    if text is not None and file is not None:
        raise InputError(
            "give --event or --event-file, not both",
            field="--event-file",
            fix="pass the event once",
        )
    where, option = "--event", "--event"
    if file is not None:
        where, option = f"--event-file {file}", "--event-file"
        text = _read_file(file, option, "event file", "JSON")
    if text is None:
        return None
    try:
        return strictjson.loads(text)
    except ValueError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc}",
            field=option,
            fix=strictjson.fix_for(exc, 'give a JSON object such as \'{"phone": "+14155550100"}\''),
        ) from None


#: The signal that cancelled this command's jobs, if one did (a job on a Dask worker ends
#: "cancelled by request": it was asked through the store).
_signalled: list[str] = []


def _cancel_on_signal(signum: int, frame: Any) -> None:
    from ..runner import interrupt_running_jobs

    _signalled.append(signal.Signals(signum).name)
    interrupt_running_jobs(f"cancelled by {_signalled[-1]}")


def _cancel_on_signals() -> None:
    """Ctrl-C and SIGTERM cancel the jobs this command runs: they end `cancelled`, never
    left running for the next command to fail as "worker lost" (see `_exit_if_interrupted`)."""
    _signalled.clear()  # a command's own signals (tests run several in one process)
    signal.signal(signal.SIGINT, _cancel_on_signal)
    signal.signal(signal.SIGTERM, _cancel_on_signal)


@contextmanager
def _saying_turns() -> Iterator[None]:
    """Says on stderr, once per job, that a job waits for its recipe's turn (as many jobs of
    the recipe as its `concurrency` run): a person is not left wondering why nothing happens."""
    from ..executor import turn_log

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("lpstudio: %(message)s"))
    level = turn_log.level
    turn_log.addHandler(handler)
    turn_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        turn_log.removeHandler(handler)
        turn_log.setLevel(level)


def _exit_if_interrupted(jobs: list[Any]) -> None:
    """Exits 130 when a signal cancelled any of the jobs this command ran."""
    if _signalled and any(job.status == "cancelled" for job in jobs):
        click.echo("lpstudio: interrupted; the job was marked cancelled", err=True)
        sys.exit(130)


@main.command()
@click.argument("recipe")
@click.option(
    "-p",
    "--parameters",
    "params",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter, parsed into its declared type.",
)
@click.option(
    "-r",
    "--parameters_raw",
    "raw",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter kept as a raw string.",
)
@click.option(
    "-y",
    "--parameters_yaml",
    "yamls",
    multiple=True,
    metavar="YAML",
    help="Parameters as a YAML mapping.",
)
@click.option(
    "-f",
    "--parameters_file",
    "files",
    multiple=True,
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="Parameters from a YAML file.",
)
@click.option("--prepare-only", is_flag=True, help="Write the parameterized notebook, run nothing.")
@click.option("--timeout", type=TIMEOUT, help="Fail the job after this many seconds.")
@click.option(
    "--test",
    "test_mode",
    is_flag=True,
    help="Dry run: actions return the requests they would send, and send nothing.",
)
@click.option(
    "--event",
    "event_json",
    metavar="JSON",
    help="The trigger event: a JSON object (a list of them for a poll trigger with batches).",
)
@click.option(
    "--event-file", type=click.Path(path_type=Path), help="The trigger event, a JSON file."
)
@workspace_option
@json_option
@handles_errors
def run(
    recipe: str,
    params: tuple[tuple[str, str], ...],
    raw: tuple[tuple[str, str], ...],
    yamls: tuple[str, ...],
    files: tuple[Path, ...],
    prepare_only: bool,
    timeout: float | None,
    test_mode: bool,
    event_json: str | None,
    event_file: Path | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Run RECIPE (a path under projects/) now, with papermill-style parameters."""
    event = _load_event(event_json, event_file)
    if prepare_only and event is not None:  # it would be dropped unsaid, and unchecked
        option = "--event" if event_file is None else "--event-file"
        raise InputError(
            f"{option} cannot be prepared: --prepare-only writes the parameters into the "
            "notebook, and a job gets its event from its context",
            field=option,
            fix=f"drop {option} to prepare the notebook, or run it without --prepare-only",
        )
    with _studio(workspace) as studio:
        recipe = _typed_recipe(studio, recipe)
        example = _mapping_example(studio, recipe) if yamls or files else ""
        values, parse, written = _collect_parameters(params, raw, yamls, files, example)
        _check_as_given(studio, recipe, values, {name for name, _ in raw}, written)
        if event is not None:  # refused by the option's name (`studio.run` checks it too)
            where = "--event" if event_file is None else f"--event-file {event_file}"
            read = studio.recipe(recipe)  # a broken recipe is refused by its own field
            try:
                check_run_event(read, event, where)
            except InputError as exc:
                exc.field = where.split()[0]
                raise
        if prepare_only:
            path = studio.prepare(recipe, values, parse=parse)
            if as_json:
                _emit(
                    {
                        "id": None,
                        "status": "prepared",
                        "output_path": str(path),
                        "error": None,
                        "result": None,
                    }
                )
            else:
                click.echo(f"prepared (not run): {path}")
            return
        _cancel_on_signals()
        with _saying_turns():
            job = studio.run(
                recipe,
                values,
                parse=parse,
                event=event,
                timeout=timeout,
                test=test_mode,
                progress_bar=not as_json and sys.stderr.isatty(),
            )
        _print_job(studio, job, as_json)
    _exit_if_interrupted([job])
    _exit_for(job)


@main.command()
@click.option("--recipe", help="Only jobs of this recipe.")
@click.option(
    "--project",
    help="Only jobs of the recipes in this project folder and its sub-folders (shop, shop/eu).",
)
@click.option("--status", type=click.Choice(JOB_STATES))
@click.option("--since", help="Only jobs created since an ISO date or a duration (2h, 7d).")
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), default=20, show_default=True)
@click.option(
    "--before",
    type=JOB_ID,
    help="Only jobs listed after this one: the next page, given the last ID shown.",
)
@workspace_option
@json_option
@handles_errors
def jobs(
    recipe: str | None,
    project: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    before: int | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """List recent jobs, newest first, a page of --limit at a time (--before for the next)."""
    moment = parse_moment(since, "--since", local=True) if since else None
    with _studio(workspace) as studio:
        if recipe is not None:  # a recipe's jobs outlive it: its old name still lists them
            from ..metrics import recipes_with_jobs

            kept = set(recipes_with_jobs(studio.store))
            # Its path, which `Studio.jobs` reads as one recipe: a name under projects/
            # (`projects/x.ipynb` of a project named projects) it may read two ways.
            recipe = _typed_recipe(studio, recipe, kept)
        found = studio.jobs(
            recipe=recipe,
            status=status,
            since=moment,
            limit=limit + 1,
            before=before,
            listed=True,
            project=project,
        )
        page = found[:limit]
        if as_json:
            _emit(studio.listed_jobs(page))  # as GET /jobs
        elif not page:
            click.echo("no jobs")
        else:
            header = ("ID", "STATUS", "RECIPE", "CREATED", "DURATION", "TRIGGER", "USER")
            click.echo(_jobs_line(*header))
            for job in page:
                created = local_text(job.created_at)
                columns = (job.id, job.status, job.recipe, created, _duration(job))
                click.echo(_jobs_line(*columns, describe_trigger(job), job.user))
        if len(found) > limit:  # on stderr: --json's stdout stays the page's JSON alone
            click.echo(
                f"more jobs follow: add --before {page[-1].id} to list the next {limit} "
                "(the same filters)",
                err=True,
            )


def _jobs_line(*columns: Any) -> str:
    """A line of `lpstudio jobs`' table: its header, or a job's."""
    id_, status, recipe, created, duration, trigger, user = columns
    return (
        f"{cell(id_, 6, '>')}  {cell(status, 10)} {cell(recipe, 40)} {cell(created, 20)} "
        f"{cell(duration, 9, '>')}  {cell(trigger, 16)} {user}"
    )


@main.command()
@click.argument("job_id", type=JOB_ID)
@workspace_option
@json_option
@handles_errors
def show(job_id: int, workspace: Path | None, as_json: bool) -> None:
    """Show one job: status, parameters, progress, error, result and output notebook."""
    with _studio(workspace) as studio:
        _print_job(studio, studio.job(job_id), as_json, verbose=True)


@main.command()
@click.argument("job_id", type=JOB_ID)
@click.option(
    "--timeout",
    type=TIMEOUT,
    help="Fail the rerun after this many seconds, instead of the job's own timeout.",
)
@workspace_option
@json_option
@handles_errors
def rerun(job_id: int, timeout: float | None, workspace: Path | None, as_json: bool) -> None:
    """Run a job again: the values given for it and its event, on the latest recipe version
    and its saved settings. Its delivery ledger is shared: a send the job made is not made
    again (a job that timed out: rerun it with a longer --timeout)."""
    with _studio(workspace) as studio:
        old = studio.check_rerun(job_id)[0]  # a job it would refuse is named before any warning
        said = "note" if old.trigger == "test" else "warning"
        click.echo(f"{said}: {rerun_warning(old)}", err=True)
        _cancel_on_signals()
        with _saying_turns():
            job = studio.rerun(
                job_id, progress_bar=not as_json and sys.stderr.isatty(), timeout=timeout
            )
        _print_job(studio, job, as_json)
    _exit_if_interrupted([job])
    _exit_for(job)


@main.command()
@click.argument("job_id", type=JOB_ID)
@workspace_option
@json_option
@handles_errors
def cancel(job_id: int, workspace: Path | None, as_json: bool) -> None:
    """Cancel a queued job, or ask the process running a job to stop it."""
    with _studio(workspace) as studio:
        job, outcome = studio.request_cancel(job_id)
        if as_json:
            _emit(cancel_to_dict(job, outcome, studio.workspace))
        else:
            click.echo(cancel_said(job, outcome))


def _stop_polling(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _jobs_named(ids: list[int]) -> str:
    return f"job {ids[0]}" if len(ids) == 1 else f"jobs {', '.join(map(str, ids))}"


def _polled(studio: Studio, recipe: str, own: bool) -> tuple[list[Any], LpstudioError | None]:
    """The jobs of the recipe's new events, queued (this process's with `own`: it runs them),
    and the error that stopped the poll after pages it wrote (their jobs are kept, the cursor
    past their events), else None. Ctrl-C or SIGTERM stop the poll where it is, exit 130
    (they did nothing while it polled: one whose pages never ended ran for ever), naming the
    jobs it wrote, queued for a scheduler (`Studio.poll` leaves them so); the next poll goes
    on from there."""
    from ..triggers import queued_before

    signal.signal(signal.SIGINT, _stop_polling)
    signal.signal(signal.SIGTERM, _stop_polling)
    try:
        return studio.poll(recipe, run=False, own=own), None
    except KeyboardInterrupt as exc:
        ids = queued_before(exc)
        queued = f", their {_jobs_named(ids)} queued" if ids else ""
        click.echo(
            f"lpstudio: interrupted; the poll stopped: the pages it read are kept{queued}, "
            "and the next poll goes on from there",
            err=True,
        )
        sys.exit(130)
    except LpstudioError as exc:
        ids = queued_before(exc)
        if not ids:
            raise
        return [studio.store.job(job_id) for job_id in ids], exc
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_polled(studio: Studio, queued: list[Any]) -> list[Any]:
    """Runs the poll's jobs here (`Studio.run_polled`), a signal from then on cancelling
    them, none left behind."""
    if not queued:
        return []
    _cancel_on_signals()
    with _saying_turns():  # each job it runs may wait for its recipe's turn, as `run`'s
        return studio.run_polled([job.id for job in queued])


@main.command()
@click.argument("recipe")
@click.option("--no-run", is_flag=True, help="Only queue the jobs.")
@workspace_option
@json_option
@handles_errors
def poll(recipe: str, no_run: bool, workspace: Path | None, as_json: bool) -> None:
    """Run RECIPE's poll trigger once: a job for each new event (or batch), oldest first."""
    with _studio(workspace) as studio:
        recipe = _typed_recipe(studio, recipe)
        # A poll that failed after pages it wrote: their jobs run, as any poll's, then the
        # error is said (a recipe never started kept them queued for ever, unsaid).
        queued, failure = _polled(studio, recipe, own=not no_run)
        found = queued if no_run else _run_polled(studio, queued)
        if as_json:
            jobs = [listed_job(job, studio.workspace) for job in found]  # as REST's Poll now
            said = failure.mask(studio.held_secrets()).to_dict() if failure else None
            _emit(jobs if said is None else {"error": said, "jobs": jobs})
        elif not found:
            click.echo("no new events")
        else:
            for job in found:
                _print_job(studio, job, as_json=False)
                if not no_run and job.status in ("queued", "running"):
                    # A scheduler claimed it between the poll and this command: it runs
                    # there, once (nothing here failed).
                    click.echo(
                        f"  taken by another worker (a scheduler of this workspace): "
                        f"follow it with `lpstudio show {job.id}`"
                    )
    _exit_if_interrupted(found)
    if failure is not None:
        click.echo(
            f"lpstudio: the poll failed after it queued {_jobs_named([j.id for j in found])} "
            "for the pages it read before (above): their events are kept, and the next poll "
            "goes on past them",
            err=True,
        )
        _fail(failure, as_json=False)
    sys.exit(1 if any(job.status in ("failed", "cancelled") for job in found) else 0)
