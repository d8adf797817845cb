"""The `lpstudio` command line: a thin client of `Studio`.

Exit codes: 0 success, 1 a job failed (or was cancelled), 2 bad input (nothing was run or
written), 130 interrupted. `--json` prints one JSON document on stdout for scripts.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from .errors import InputError, LpstudioError, NotFoundError
from .models import Job
from .store import FINAL_STATES, SUCCEEDED
from .studio import TERMS, Studio, job_to_dict
from .times import parse_moment
from .workspace import Workspace

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
@click.option("--sandbox", metavar="URL", help="Add connections to a running `lpstudio sandbox`.")
@json_option
@handles_errors
def init(
    path: Path, accept_terms: bool, admin: str | None, sandbox: str | None, as_json: bool
) -> None:
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
    with Studio.init(path, accept_terms=accept_terms, admin=admin, sandbox=sandbox) as studio:
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


def _load_event(text: str | None, file: Path | None) -> Any:
    if text is not None and file is not None:
        raise InputError(
            "give --event or --event-file, not both", field="event", fix="pass the event once"
        )
    where = "--event"
    if file is not None:
        where = f"--event-file {file}"
        try:
            text = file.read_text()
        except OSError as exc:
            raise InputError(
                f"cannot read {file}: {exc.strerror}",
                field="event",
                fix="give the path of a readable JSON file",
            ) from None
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON: {exc}",
            field="event",
            fix='give a JSON object such as \'{"phone": "+14155550100"}\'',
        ) from None


def _cancel_on_signal(signum: int, frame: Any) -> None:
    from .runner import interrupt_running_jobs

    interrupt_running_jobs(f"cancelled by {signal.Signals(signum).name}")


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
@click.option(
    "--test",
    "test_mode",
    is_flag=True,
    help="Dry run: actions return the requests they would send, and send nothing.",
)
@click.option("--event", "event_json", metavar="JSON", help="The trigger event, as JSON.")
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
    values, parse = _collect_parameters(params, raw, yamls, files)
    event = _load_event(event_json, event_file)
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
        signal.signal(signal.SIGINT, _cancel_on_signal)
        signal.signal(signal.SIGTERM, _cancel_on_signal)
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
    if job.status == "cancelled" and (job.error or {}).get("evalue", "").startswith(
        "cancelled by SIG"
    ):
        click.echo("lpstudio: interrupted; the job was marked cancelled", err=True)
        sys.exit(130)
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
    moment = parse_moment(since, "--since") if since else None
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
                f"  {Path(row['recipe']).name:<32} {row['trigger']:<9} {row['state']:<8} "
                f"{last_text:<22} {row['title']}"
            )
            if row["trigger_errors"]["count"]:
                click.echo(
                    f"    trigger errors: {row['trigger_errors']['count']} in a row; "
                    f"last: {row['trigger_errors']['last']}"
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
@click.argument("recipe")
@click.option("--no-run", is_flag=True, help="Only queue the jobs.")
@workspace_option
@json_option
@handles_errors
def poll(recipe: str, no_run: bool, workspace: Path | None, as_json: bool) -> None:
    """Run RECIPE's poll trigger once: a job for each new event (or batch), oldest first."""
    with _studio(workspace) as studio:
        found = studio.poll(recipe, run=not no_run)
        if as_json:
            _emit([job_to_dict(job, studio.workspace) for job in found])
        elif not found:
            click.echo("no new events")
        else:
            for job in found:
                _print_job(studio, job, as_json=False)
    sys.exit(0 if all(job.status in ("succeeded", "queued") for job in found) else 1)


@main.command()
@click.argument("recipe")
@click.option(
    "-p",
    "--parameters",
    "params",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="Save a parameter value, parsed into its declared type.",
)
@click.option(
    "--connection",
    "bindings",
    multiple=True,
    metavar="SLOT=NAME",
    help="Bind a connection to one of the recipe's slots.",
)
@click.option("--since", help="Where a poll trigger starts: an ISO date or a duration (7d).")
@workspace_option
@json_option
@handles_errors
def settings(
    recipe: str,
    params: tuple[tuple[str, str], ...],
    bindings: tuple[str, ...],
    since: str | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Show or change RECIPE's saved settings (kept in the store, not in the notebook)."""
    chosen = dict(_pairs(bindings, "--connection"))
    with _studio(workspace) as studio:
        if params or chosen or since:
            studio.save_settings(
                recipe, dict(params), parse={n for n, _ in params}, connections=chosen, since=since
            )
        current = studio.settings(studio.recipe(recipe))
    if as_json:
        _emit(current)
        return
    click.echo(f"parameters:  {json.dumps(current['parameters'])}")
    for slot, name in current["connections"].items():
        click.echo(f"connection:  {slot} = {name}")
    if current.get("since"):
        click.echo(f"since:       {current['since']}")


def _pairs(items: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(
                f"{option} {item!r} is not KEY=VALUE",
                field=option,
                fix=f"write {option} name=value",
            )
        pairs.append((key.strip(), value))
    return pairs


@main.command()
@workspace_option
@json_option
@handles_errors
def connectors(workspace: Path | None, as_json: bool) -> None:
    """List connectors (bundled, the workspace's own, and installed) with what they offer."""
    from .errors import WorkspaceError
    from .registry import load_connectors

    try:
        root: Path | None = Workspace.find(workspace).root
    except WorkspaceError:
        root = None
    found = [c.describe() for c in load_connectors(root).values()]
    if as_json:
        _emit(found)
        return
    for item in found:
        click.echo(f"{item['name']:<22} {item['title']}")
        fields = ", ".join(
            f"{name}{' (secret)' if spec.get('writeOnly') else ''}"
            for name, spec in item["fields"]["properties"].items()
        )
        click.echo(f"  fields:   {fields}")
        if item["actions"]:
            click.echo(f"  actions:  {', '.join(item['actions'])}")
        if item["triggers"]:
            click.echo(f"  triggers: {', '.join(item['triggers'])}")
        if item["picklists"]:
            click.echo(f"  lists:    {', '.join(item['picklists'])}")


@main.group()
def connections() -> None:
    """Named, authorised links to apps; secret fields are stored encrypted."""


def _secret_values(names: tuple[str, ...]) -> dict[str, str]:
    """Secrets come from $LPSTUDIO_SECRET_<FIELD>, a hidden prompt, or standard input."""
    values = {}
    for name in names:
        env = f"LPSTUDIO_SECRET_{name.upper()}"
        if os.environ.get(env):
            values[name] = os.environ[env]
        elif _has_terminal():
            values[name] = click.prompt(f"{name}", hide_input=True, err=True)
        else:
            line = sys.stdin.readline()
            if not line:
                raise InputError(
                    f"no value for secret field '{name}'",
                    field=name,
                    fix=f"set {env}, or give one line per --secret on standard input",
                )
            values[name] = line.rstrip("\n")
    return values


def _field_values(
    studio: Studio, type_: str, fields: tuple[str, ...], secrets: tuple[str, ...]
) -> dict[str, Any]:
    from .registry import get_connector

    secret_fields = get_connector(type_, studio.workspace.root).secret_fields()
    values: dict[str, Any] = {}
    for key, value in _pairs(fields, "--field"):
        if key in secret_fields:
            raise InputError(
                f"'{key}' is a secret field and is never taken from the command line",
                field=key,
                fix=f"use --secret {key} (read from $LPSTUDIO_SECRET_{key.upper()}, a prompt "
                "or standard input)",
            )
        values[key] = value
    for key in secrets:
        if key not in secret_fields:
            raise InputError(
                f"'{key}' is not a secret field of {type_}",
                field=key,
                fix=f"secret fields: {', '.join(sorted(secret_fields)) or 'none'}",
            )
    values.update(_secret_values(secrets))
    return values


def _echo_or_json(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        _emit(data)
    else:
        click.echo(text)


@connections.command("add")
@click.argument("name")
@click.option("--type", "type_", required=True, help="The connector (see `lpstudio connectors`).")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="A plain field.")
@click.option("--secret", "secrets", multiple=True, metavar="KEY", help="A secret field to read.")
@workspace_option
@json_option
@handles_errors
def connections_add(
    name: str,
    type_: str,
    fields: tuple[str, ...],
    secrets: tuple[str, ...],
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Add a connection NAME of a connector type."""
    with _studio(workspace) as studio:
        values = _field_values(studio, type_, fields, secrets)
        info = studio.connections.add(name, type_, values, studio.user)
    _echo_or_json(as_json, info.to_dict(), f"added connection {name} ({type_})")


@connections.command("update")
@click.argument("name")
@click.option("--field", "fields", multiple=True, metavar="KEY=VALUE", help="A plain field.")
@click.option("--secret", "secrets", multiple=True, metavar="KEY", help="A secret field to read.")
@workspace_option
@json_option
@handles_errors
def connections_update(
    name: str,
    fields: tuple[str, ...],
    secrets: tuple[str, ...],
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Change fields of connection NAME (it must be tested again)."""
    with _studio(workspace) as studio:
        type_ = studio.connections.get(name).type
        values = _field_values(studio, type_, fields, secrets)
        info = studio.connections.update(name, values)
    _echo_or_json(as_json, info.to_dict(), f"updated connection {name}")


@connections.command("list")
@workspace_option
@json_option
@handles_errors
def connections_list(workspace: Path | None, as_json: bool) -> None:
    """List connections; secret fields show as ****."""
    with _studio(workspace) as studio:
        rows = [info.to_dict() for info in studio.connections.list()]
    if as_json:
        _emit(rows)
        return
    if not rows:
        click.echo("no connections: add one with `lpstudio connections add`")
    for row in rows:
        fields = " ".join(f"{k}={v}" for k, v in row["fields"].items())
        click.echo(f"{row['name']:<20} {row['type']:<22} {row['status']:<13} {fields}")


@connections.command("test")
@click.argument("name")
@workspace_option
@json_option
@handles_errors
def connections_test(name: str, workspace: Path | None, as_json: bool) -> None:
    """Test connection NAME and record whether it is connected."""
    with _studio(workspace) as studio:
        info = studio.connections.test(name)
    _echo_or_json(as_json, info.to_dict(), f"{name}: {info.status}: {info.status_message}")
    sys.exit(0 if info.status == "connected" else 1)


@connections.command("remove")
@click.argument("name")
@workspace_option
@json_option
@handles_errors
def connections_remove(name: str, workspace: Path | None, as_json: bool) -> None:
    """Remove connection NAME."""
    with _studio(workspace) as studio:
        studio.connections.remove(name)
    _echo_or_json(as_json, {"removed": name}, f"removed connection {name}")


@main.command()
@click.argument("recipe")
@click.option(
    "--reset-since",
    metavar="TIME",
    help="Restart a poll trigger from this moment (ISO date or 2h, 7d ago).",
)
@workspace_option
@json_option
@handles_errors
def start(recipe: str, reset_since: str | None, workspace: Path | None, as_json: bool) -> None:
    """Start RECIPE: its trigger fires in `lpstudio scheduler` from now on."""
    with _studio(workspace) as studio:
        settings = studio.start(recipe, reset_since=reset_since)
    _echo_or_json(as_json, settings, f"started {recipe}")


@main.command()
@click.argument("recipe")
@workspace_option
@json_option
@handles_errors
def stop(recipe: str, workspace: Path | None, as_json: bool) -> None:
    """Stop RECIPE: its trigger processes nothing until it starts again."""
    with _studio(workspace) as studio:
        settings = studio.stop(recipe)
    _echo_or_json(as_json, settings, f"stopped {recipe}")


@main.command()
@click.argument("recipe")
@workspace_option
@json_option
@handles_errors
def versions(recipe: str, workspace: Path | None, as_json: bool) -> None:
    """List RECIPE's versions (notebook and settings), newest first."""
    with _studio(workspace) as studio:
        found = studio.versions(recipe)
    if as_json:
        _emit(found)
        return
    for version in found:
        click.echo(
            f"{version['id'][:12]}  {version['created_at'][:19]}  "
            f"{version['created_by']:<12} {json.dumps(version['settings'])[:60]}"
        )


@main.command()
@click.argument("recipe")
@click.argument("version")
@workspace_option
@json_option
@handles_errors
def restore(recipe: str, version: str, workspace: Path | None, as_json: bool) -> None:
    """Make RECIPE's notebook and settings those of VERSION (an id or its first characters)."""
    with _studio(workspace) as studio:
        restored = studio.restore(recipe, version)
    _echo_or_json(as_json, restored, f"restored {recipe} to version {restored['id'][:12]}")


@main.command()
@click.option(
    "--older-than",
    type=float,
    metavar="DAYS",
    help="Retention in days (default: the workspace's jobs.retention_days, 30).",
)
@workspace_option
@json_option
@handles_errors
def purge(older_than: float | None, workspace: Path | None, as_json: bool) -> None:
    """Erase the data of old jobs: outputs and events go; ids, statuses and times stay."""
    with _studio(workspace) as studio:
        ids = studio.purge(older_than)
    _echo_or_json(as_json, {"purged": ids}, f"purged {len(ids)} job(s)")


@main.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@workspace_option
@json_option
@handles_errors
def audit(limit: int, workspace: Path | None, as_json: bool) -> None:
    """Read the audit log: who changed what, and when."""
    with _studio(workspace) as studio:
        entries = [
            {
                "at": e.at.isoformat(),
                "user": e.user,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
            }
            for e in studio.store.audit_log(limit)
        ]
    if as_json:
        _emit(entries)
        return
    for entry in entries:
        click.echo(
            f"{entry['at'][:19]}  {entry['user']:<12} {entry['action']:<12} "
            f"{entry['target']} {json.dumps(entry['detail']) if entry['detail'] else ''}"
        )


@main.command()
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--grace",
    type=float,
    default=30,
    show_default=True,
    help="Seconds running jobs get to finish on SIGTERM before they are requeued.",
)
@workspace_option
@handles_errors
def scheduler(workers: int, grace: float, workspace: Path | None) -> None:
    """Run schedules, polls and queued jobs until SIGTERM."""
    import logging

    from .scheduler import Scheduler

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("traitlets").setLevel(logging.WARNING)
    with _studio(workspace) as studio:
        daemon = Scheduler(studio, workers=workers, grace_seconds=grace)
        signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
        signal.signal(signal.SIGINT, lambda *_: daemon.stop())
        daemon.run_forever()


@main.group("api-clients")
def api_clients() -> None:
    """Tokens that let bots call callable recipes (admins only)."""


def _admin_studio(workspace: Path | None) -> Studio:
    studio = _studio(workspace)
    if studio.role != "admin":
        studio.close()
        raise InputError(
            f"{studio.user} is {studio.role}; only admins manage API clients",
            field="role",
            fix="ask an admin, or run as one (LPSTUDIO_USER)",
        )
    return studio


@api_clients.command("create")
@click.argument("name")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    required=True,
    metavar="PATH",
    help="A callable path the client may call (repeat; * for all).",
)
@click.option(
    "--rate", default="60/min", show_default=True, metavar="N/min", help="Calls allowed per minute."
)
@workspace_option
@json_option
@handles_errors
def api_clients_create(
    name: str, endpoints: tuple[str, ...], rate: str, workspace: Path | None, as_json: bool
) -> None:
    """Create API client NAME; its token is printed once and stored only hashed."""
    count, _, unit = rate.partition("/")
    if not count.isdigit() or unit not in ("min", ""):
        raise InputError(
            f"--rate {rate!r} is not N/min",
            field="rate",
            fix="give a number of calls per minute, e.g. --rate 120/min",
        )
    with _admin_studio(workspace) as studio:
        client, token = studio.api_clients.create(name, list(endpoints), int(count))
    if as_json:
        _emit({**client, "token": token})
    else:
        click.echo(f"API client {name} created; its token (shown once):\n{token}")


@api_clients.command("list")
@workspace_option
@json_option
@handles_errors
def api_clients_list(workspace: Path | None, as_json: bool) -> None:
    """List API clients (never their tokens)."""
    with _admin_studio(workspace) as studio:
        clients = studio.api_clients.list()
    if as_json:
        _emit(clients)
        return
    for client in clients:
        click.echo(json.dumps(client, default=str))


@api_clients.command("revoke")
@click.argument("name")
@workspace_option
@json_option
@handles_errors
def api_clients_revoke(name: str, workspace: Path | None, as_json: bool) -> None:
    """Revoke API client NAME: its token stops working at once."""
    with _admin_studio(workspace) as studio:
        client = studio.api_clients.revoke(name)
    _echo_or_json(as_json, client, f"revoked API client {name}")


@main.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True)
@click.option("--allow-root", is_flag=True, help="Let Jupyter run as root (containers, CI).")
@workspace_option
@handles_errors
def serve(ip: str, port: int, allow_root: bool, workspace: Path | None) -> None:
    """Run a headless server with only lpstudio's REST API (callables, webhooks)."""
    from .server import serve as serve_api

    serve_api(ip=ip, port=port, workspace=Workspace.find(workspace).root, allow_root=allow_root)


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
