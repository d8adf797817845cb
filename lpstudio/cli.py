"""The `lpstudio` command line: a thin client of `Studio`.

Exit codes: 0 success, 1 a job failed (or was cancelled), 2 bad input (nothing was run or
written), 130 interrupted. `--json` prints one JSON document on stdout for scripts.
"""

from __future__ import annotations

import functools
import json
import re
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from .errors import InputError, LpstudioError, NotFoundError
from .models import Job
from .store import FINAL_STATES, SUCCEEDED
from .studio import TERMS, Studio, job_to_dict

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
workspace_option = click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace folder (default: $LPSTUDIO_WORKSPACE, or this folder and its parents).",
)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _fail(exc: LpstudioError, as_json: bool) -> NoReturn:
    if as_json:
        _emit({"error": exc.to_dict()})
    click.echo(f"lpstudio: error: {exc}", err=True)
    sys.exit(2 if isinstance(exc, (InputError, NotFoundError)) else 1)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turns lpstudio's errors into a clear message and exit code 2 (bad input)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LpstudioError as exc:
            _fail(exc, kwargs.get("as_json", False))

    return wrapper


def _has_terminal() -> bool:
    return sys.stdin.isatty()


def _studio(workspace: Path | None) -> Studio:
    return Studio.open(workspace)


def _duration(job: Job) -> str:
    if job.started_at and job.finished_at:
        return f"{(job.finished_at - job.started_at).total_seconds():.2f} s"
    return "-"


def _error_line(job: Job) -> str:
    error = job.error or {}
    where = f" at cell {error['cell']}" if error.get("cell") is not None else ""
    return f"{error.get('ename', 'Error')}{where}: {error.get('evalue', '')}"


def _print_job(studio: Studio, job: Job, as_json: bool, verbose: bool = False) -> None:
    data = job_to_dict(job, studio.workspace)
    if as_json:
        _emit(data)
        return
    click.echo(f"job {job.id} {job.status} ({_duration(job)})")
    click.echo(f"  recipe:   {job.recipe}  (version {job.version_id[:12]})")
    if verbose:
        click.echo(f"  trigger:  {job.trigger} by {job.user}")
        click.echo(f"  created:  {data['created_at']}")
        click.echo(f"  progress: {job.cells_done}/{job.cells_total} cells")
        click.echo(f"  params:   {json.dumps(job.parameters)}")
        if job.rerun_of:
            click.echo(f"  rerun of: job {job.rerun_of}")
    if data["output_path"]:
        click.echo(f"  output:   {data['output_path']}")
    if job.result is not None:
        click.echo(f"  result:   {json.dumps(job.result, ensure_ascii=False)}")
    if job.error:
        click.echo(f"  error:    {_error_line(job)}")
        if verbose and job.error.get("traceback"):
            ansi = re.compile(r"\x1b\[[0-9;]*m")
            for line in job.error["traceback"]:
                click.echo("    " + ansi.sub("", line).replace("\n", "\n    "))


def _exit_for(job: Job) -> None:
    sys.exit(0 if job.status == SUCCEEDED else 1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lpstudio")
def main() -> None:
    """lpstudio: LivePerson recipes as parameterized notebooks."""


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--accept-terms", is_flag=True, help="Accept the terms without being asked.")
@click.option("--admin", help="The admin who accepts the terms (default: the OS user).")
@json_option
@handles_errors
def init(path: Path, accept_terms: bool, admin: str | None, as_json: bool) -> None:
    """Create and activate a workspace at PATH."""
    if not accept_terms:
        click.echo(TERMS, err=True)
        if not _has_terminal():
            raise InputError(
                "the terms must be accepted, and there is no terminal to ask on",
                field="accept_terms",
                fix=f"read the terms above, then run `lpstudio init {path} --accept-terms`",
            )
        accept_terms = click.confirm("Do you accept these terms?", default=False, err=True)
    with Studio.init(path, accept_terms=accept_terms, admin=admin) as studio:
        activation = studio.store.activation()
        assert activation is not None
        info = {
            "workspace": str(studio.workspace.root),
            "admin": activation.accepted_by,
            "accepted_at": activation.accepted_at.isoformat(),
        }
    if as_json:
        _emit(info)
    else:
        click.echo(f"workspace ready: {info['workspace']} (admin: {info['admin']})")


def _parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"--since {text!r} is neither a date nor a duration",
            field="since",
            fix="pass an ISO date such as 2026-11-01 or a duration such as 2h or 7d",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load_yaml(text: str, where: str) -> dict[str, Any]:
    import yaml
    from papermill.iorw import NoDatesSafeLoader

    try:
        data = yaml.load(text, Loader=NoDatesSafeLoader) or {}
    except yaml.YAMLError as exc:
        raise InputError(
            f"{where} is not valid YAML: {str(exc).splitlines()[0]}",
            field=where,
            fix="give a YAML mapping such as 'days_ahead: 7'",
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{where} must be a mapping of parameter names to values",
            field=where,
            fix="give a YAML mapping such as 'days_ahead: 7'",
        )
    return data


def _collect_parameters(
    params: tuple[tuple[str, str], ...],
    raw: tuple[tuple[str, str], ...],
    yamls: tuple[str, ...],
    files: tuple[Path, ...],
) -> tuple[dict[str, Any], set[str]]:
    """Merges the options in papermill's order: -f, then -y, then -p, then -r."""
    values: dict[str, Any] = {}
    parse: set[str] = set()
    for file in files:
        try:
            text = file.read_text()
        except OSError as exc:
            raise InputError(
                f"cannot read parameters file {file}: {exc.strerror}",
                field="-f",
                fix="give the path of a readable YAML file",
            ) from None
        values.update(_load_yaml(text, f"-f {file}"))
    for text in yamls:
        values.update(_load_yaml(text, "-y"))
    for name, value in params:
        values[name] = value
        parse.add(name)
    for name, value in raw:
        values[name] = value
        parse.discard(name)
    return values, parse


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


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
@click.option("--timeout", type=float, help="Fail the job after this many seconds.")
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
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Run RECIPE (a path under projects/) now, with papermill-style parameters."""
    values, parse = _collect_parameters(params, raw, yamls, files)
    with _studio(workspace) as studio:
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
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            job = studio.run(
                recipe,
                values,
                parse=parse,
                timeout=timeout,
                progress_bar=not as_json and sys.stderr.isatty(),
            )
        except KeyboardInterrupt:
            click.echo("lpstudio: interrupted; the job was marked cancelled", err=True)
            sys.exit(130)
        _print_job(studio, job, as_json)
    _exit_for(job)


@main.command()
@click.option("--recipe", help="Only jobs of this recipe.")
@click.option("--status", type=click.Choice(["queued", "running", *FINAL_STATES]))
@click.option("--since", help="Only jobs created since an ISO date or a duration (2h, 7d).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@workspace_option
@json_option
@handles_errors
def jobs(
    recipe: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """List recent jobs, newest first."""
    moment = _parse_since(since)
    with _studio(workspace) as studio:
        found = studio.jobs(recipe=recipe, status=status, since=moment, limit=limit)
        if as_json:
            _emit([job_to_dict(job, studio.workspace) for job in found])
            return
        if not found:
            click.echo("no jobs")
            return
        click.echo(
            f"{'ID':>6}  {'STATUS':<10} {'RECIPE':<40} {'CREATED':<20} {'DURATION':>9}  "
            f"{'TRIGGER':<8} USER"
        )
        for job in found:
            created = job.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            click.echo(
                f"{job.id:>6}  {job.status:<10} {job.recipe:<40} {created:<20} "
                f"{_duration(job):>9}  {job.trigger:<8} {job.user}"
            )


@main.command()
@click.argument("job_id", type=int)
@workspace_option
@json_option
@handles_errors
def show(job_id: int, workspace: Path | None, as_json: bool) -> None:
    """Show one job: status, parameters, progress, error, result and output notebook."""
    with _studio(workspace) as studio:
        _print_job(studio, studio.job(job_id), as_json, verbose=True)


@main.command()
@click.argument("job_id", type=int)
@workspace_option
@json_option
@handles_errors
def rerun(job_id: int, workspace: Path | None, as_json: bool) -> None:
    """Run a job again: same parameters and event, latest recipe version."""
    click.echo(
        f"warning: rerunning job {job_id} repeats what its recipe does "
        "(messages may be sent again)",
        err=True,
    )
    with _studio(workspace) as studio:
        job = studio.rerun(job_id, progress_bar=not as_json and sys.stderr.isatty())
        _print_job(studio, job, as_json)
    _exit_for(job)


@main.command()
@click.argument("job_id", type=int)
@workspace_option
@json_option
@handles_errors
def cancel(job_id: int, workspace: Path | None, as_json: bool) -> None:
    """Cancel a queued job, or ask the process running a job to stop it."""
    with _studio(workspace) as studio:
        job = studio.cancel(job_id)
        if as_json:
            _emit(job_to_dict(job, studio.workspace))
        elif job.status in FINAL_STATES:
            click.echo(f"job {job.id} is {job.status}")
        else:
            click.echo(f"job {job.id}: cancel requested; its worker stops it within seconds")


@main.command()
@workspace_option
@json_option
@handles_errors
def recipes(workspace: Path | None, as_json: bool) -> None:
    """List recipes by project, with their trigger and last job."""
    with _studio(workspace) as studio:
        rows = studio.recipes()
    if as_json:
        _emit(rows)
        return
    if not rows:
        click.echo("no recipes yet: copy one from the gallery with `lpstudio gallery try`")
        return
    project = None
    for row in rows:
        if row["project"] != project:
            project = row["project"]
            click.echo(f"{project}/")
        last = row["last_job"]
        last_text = f"job {last['id']} {last['status']}" if last else "never run"
        if row["problem"]:
            click.echo(f"  {Path(row['recipe']).name:<32} BROKEN: {row['problem'].splitlines()[0]}")
        else:
            click.echo(
                f"  {Path(row['recipe']).name:<32} {row['trigger']:<9} {last_text:<22} "
                f"{row['title']}"
            )


@main.group(invoke_without_command=True)
@json_option
@click.pass_context
@handles_errors
def gallery(ctx: click.Context, as_json: bool) -> None:
    """List the template recipes of the gallery."""
    if ctx.invoked_subcommand is not None:
        return
    from .gallery import list_templates

    cards = [template.describe() for template in list_templates()]
    if as_json:
        _emit(cards)
        return
    group = None
    for card in cards:
        if card["group"] != group:
            group = card["group"]
            click.echo(group)
        connectors = ", ".join(card["connectors"]) or "no connections"
        click.echo(f"  {card['name']:<28} {card['trigger']:<9} {card['title']} ({connectors})")


@gallery.command("try")
@click.argument("template")
@click.option("--project", required=True, help="Project folder under projects/ to copy into.")
@click.option("--name", help="Name of the new recipe (default: the template's).")
@workspace_option
@json_option
@handles_errors
def try_(
    template: str, project: str, name: str | None, workspace: Path | None, as_json: bool
) -> None:
    """Copy TEMPLATE into a project folder as a new recipe."""
    with _studio(workspace) as studio:
        path = studio.try_template(template, project, name)
        recipe = studio.workspace.recipe_name(path)
    if as_json:
        _emit({"recipe": recipe, "path": str(path)})
    else:
        click.echo(f"created {recipe}\n  {path}")


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
def sandbox(port: int) -> None:
    """Run the LivePerson and Shopify emulators on loopback (a brand's test mode)."""
    from .sandbox import serve

    serve(port)


if __name__ == "__main__":
    main()
