"""Recipes: `recipes`, `gallery`, `settings`, `start`, `stop`, `versions`, `restore`."""

from __future__ import annotations

import itertools
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from ..endpoints import check_call_timeout
from ..errors import FIX_SAID, InputError, LpstudioError, word
from ..recipe import BOT_CALL_TIMEOUT, DEFAULT_CALL_TIMEOUT, Recipe
from ..times import local_text, poll_start
from .base import (
    _echo_or_json,
    _emit,
    _once,
    _pairs,
    _studio,
    _typed_recipe,
    handles_errors,
    json_option,
    main,
    workspace_option,
)
from .output import cell, value_text


def _moment(text: str | None, option: str) -> str | None:
    """A `--since`-like option read in local time, and refused by its own name and as typed
    (the studio, whose callers are not all on a command line, would call it `since` and
    read a time without a zone as UTC): the studio is given the moment in ISO form."""
    return None if text is None else poll_start(text, option, local=True).isoformat()


def _contacts(**given: str | None) -> dict[str, str | None]:
    """The failure contacts given as options, refused by the option's name."""
    from ..failures import checked_contacts

    contacts = {kind: value for kind, value in given.items() if value is not None}
    try:
        checked_contacts(contacts, {})
    except InputError as exc:
        option = f"--notify-{(exc.field or '').rsplit('.', 1)[-1]}"
        raise InputError(
            exc.message.replace(exc.field or "", option), field=option, fix=exc.fix
        ) from None
    return contacts


def _call_timeout(recipe: Recipe, text: str | None) -> float | None:
    """`--call-timeout` read as seconds and refused by its own name, by the rule the
    studio holds (`check_call_timeout`), before anything is saved, as typed (`0`, not
    `0.0`; a word that is no number as that word)."""
    if text is None:
        return None
    seconds: Any = text
    for number in (int, float):
        try:
            seconds = number(text)
            break
        except ValueError:
            pass
    try:
        check_call_timeout(recipe, seconds)
    except InputError as exc:
        said = {"message": exc.message, "fix": exc.fix or ""}
        raise InputError(
            **{k: v.replace("call_timeout", "--call-timeout") for k, v in said.items()},
            field="--call-timeout",
        ) from None
    return seconds


def _reached_at(root: Path, link: str) -> tuple[str, str]:
    """Where `link` (a recipe's hook or endpoint, as a server at `/` serves it) is reached,
    and on which server: under the base URL of the Jupyter servers running on the
    workspace at `root` (`lpstudio serve`, or a JupyterLab whose root folder it is), as
    their info files tell it. With none, or several under different base URLs, the link
    as a server at `/` serves it, said to be under the serving server's base URL: a bare
    /lpstudio/... led to 404 under JupyterHub's /user/NAME/."""
    from jupyter_server.serverapp import list_running_servers

    from ..studio import under_base_url

    try:
        running = [
            info
            for info in list_running_servers()
            if Path(str(info.get("root_dir", ""))).resolve() == root.resolve()
        ]
    except OSError:  # a runtime folder it cannot read: no server is known
        running = []
    bases = {str(info.get("base_url", "/")) for info in running}
    if len(bases) == 1:
        urls = ", ".join(sorted(str(info.get("url", "")) for info in running))
        return under_base_url(link, bases.pop()), f"on the server at {urls}"
    return (
        link,
        "under the base URL of the server serving this workspace: `lpstudio serve`, or JupyterLab",
    )


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
    # One header per project: sorted by full path, a project's recipes come apart around
    # a sub-folder's (`./a`, `shop/x`, `./z`).
    by_project = itertools.groupby(
        sorted(rows, key=lambda row: row["project"]), itemgetter("project")
    )
    for project, listed in by_project:
        click.echo(f"{project}/")
        for row in listed:
            _echo_recipe(row)


def _echo_recipe(row: dict[str, Any]) -> None:
    """One recipe's lines of `lpstudio recipes`, under its project's header."""
    last = row["last_job"]
    last_text = f"job {last['id']} {last['status']}" if last else "never run"
    name = Path(row["recipe"]).name
    if row["problem"]:  # its state too: a started one still has its trigger fire, and fail
        problem = row["problem"].splitlines()[0]
        click.echo(f"  {cell(name, 32)} {cell('BROKEN', 9)} {cell(row['state'], 8)} {problem}")
    else:
        click.echo(
            f"  {cell(name, 32)} {cell(row['trigger'], 9)} {cell(row['state'], 8)} "
            f"{cell(last_text, 22)} {row['title']}"
        )
    unready = row["settings_problem"]
    if unready:  # started, its trigger fires, and each job or delivery is refused
        click.echo(f"    started but not ready: {unready['message']}")
        if unready["fix"]:
            click.echo(f"    fix: {unready['fix']}")
    errors = row["trigger_errors"]
    if errors["count"]:
        # Kept through an auto-stop: a stopped recipe with errors was stopped by them.
        count = errors["count"]
        run = f"{count} trigger error{'s' if count != 1 else ''} in a row"
        said = f"stopped after {run}" if row["state"] == "stopped" else run
        click.echo(f"    {said}; last: {errors['last']}")
        if row["state"] == "stopped":
            from ..failures import restart_fix

            click.echo(f"    fix: {restart_fix(row['recipe'])}")
    conflict = row.get("endpoint_problem")
    if conflict:
        click.echo(f"    {conflict['message']}\n    fix: {conflict['fix']}")
    named = row.get("name_problem")
    if named:
        click.echo(f"    {named['message']}\n    fix: {named['fix']}")
    for warning in row["warnings"]:  # saved, and will fail as it stands
        click.echo(f"    warning: {warning['message']}\n    fix: {warning['fix']}")


@main.group(invoke_without_command=True)
@workspace_option
@json_option
@click.pass_context
@handles_errors
def gallery(ctx: click.Context, workspace: Path | None, as_json: bool) -> None:
    """List the template recipes of the gallery (the same in every workspace), and on
    stderr each broken one with its error."""
    if ctx.invoked_subcommand is not None:
        return
    from ..gallery import read_gallery

    found = read_gallery()
    if as_json:
        _emit(found.describe())
        return
    cards = [template.describe() for template in found.templates]
    group = None
    for card in cards:
        if card["group"] != group:
            group = card["group"]
            click.echo(group)
        connectors = ", ".join(card["connectors"]) or "no connections"
        click.echo(
            f"  {cell(card['name'], 28)} {cell(card['trigger'], 9)} {card['title']} ({connectors})"
        )
    for broken in found.broken:
        click.echo(f"lpstudio: template {broken.name} cannot be tried: {broken.error}", err=True)


@gallery.command("try")
@click.argument("template")
@click.option("--project", required=True, help="Project folder under projects/ to copy into.")
@click.option("--name", help="Name of the new recipe (default: the template's).")
@workspace_option
@json_option
@click.pass_context
@handles_errors
def try_(
    ctx: click.Context,
    template: str,
    project: str,
    name: str | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Copy TEMPLATE into a project folder as a new recipe."""
    assert ctx.parent is not None  # `gallery --workspace W try ...` names it there
    with _studio(workspace or ctx.parent.params["workspace"]) as studio:
        path = studio.try_template(template, project, name)
        recipe = studio.workspace.recipe_name(path)
        # A webhook's hook, or a callable's endpoint (its own when another recipe had the
        # template's path): where it receives, as `lpstudio settings` says.
        trigger = studio.recipe_detail(recipe)["trigger"]
        link = trigger.get("hook") or trigger.get("endpoint")
        root = studio.workspace.root
    where = _reached_at(root, link) if link else None
    if as_json:
        _emit({"recipe": recipe, "path": str(path), **({"url": where[0]} if where else {})})
    else:
        click.echo(f"created {recipe}\n  {path}")
        if where:
            click.echo(f"  receives: POST {where[0]}  ({where[1]})")


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
@click.option(
    "--reset",
    multiple=True,
    metavar="NAME",
    help="Forget a saved value: a parameter (back to the notebook's default), "
    "connections.SLOT (back to the automatic choice) or call_timeout (back to the server's: "
    f"{DEFAULT_CALL_TIMEOUT:g} s unless configured otherwise).",
)
@click.option(
    "--call-timeout",
    metavar="SECONDS",
    help="How long a callable recipe's caller waits for its answer (above 0, up to 600), "
    f"instead of the server's ({DEFAULT_CALL_TIMEOUT:g} s unless configured otherwise). A "
    f"Conversation Builder bot gives up at 20 s: past {BOT_CALL_TIMEOUT} s it loses the 504.",
)
@click.option(
    "--notify-webhook",
    metavar="URL",
    help="Failure contact of its unattended jobs: a URL POSTed a report ('' clears it).",
)
@click.option(
    "--notify-email",
    metavar="ADDRESS",
    help="Failure contact: an e-mail address, sent through [smtp] ('' clears it).",
)
@workspace_option
@json_option
@handles_errors
def settings(
    recipe: str,
    params: tuple[tuple[str, str], ...],
    bindings: tuple[str, ...],
    since: str | None,
    reset: tuple[str, ...],
    notify_webhook: str | None,
    notify_email: str | None,
    call_timeout: str | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Show or change RECIPE's saved settings (kept in the store, not in the notebook)."""
    _once((name for name, _ in params), "-p", " VALUE")
    chosen = dict(_pairs(bindings, "--connection"))
    notify = _contacts(webhook=notify_webhook, email=notify_email)
    saved: list[LpstudioError] | None = None  # a save's warnings: what will fail as saved
    with _studio(workspace) as studio:
        recipe = _typed_recipe(studio, recipe)
        seconds = _call_timeout(studio.recipe(recipe), call_timeout)
        if params or chosen or since is not None or reset or notify or seconds is not None:
            saved = studio.save_settings(
                recipe,
                dict(params),
                parse={n for n, _ in params},
                connections=chosen,
                since=_moment(since, "--since"),
                reset=reset,
                notify=notify or None,
                call_timeout=seconds,
                local=True,
            )["warnings"]
        found = studio.recipe(recipe)
        detail = studio.recipe_detail(found.name)
        root = studio.workspace.root
        current = {"parameters": {}, "connections": {}, **detail["settings"]}
        refused = studio.refused_defaults(found, current["parameters"])
    # A save's, else (only shown) what the settings saved will fail at as they stand.
    warnings = [w.to_dict() for w in saved] if saved is not None else detail["warnings"]
    problem, conflict = detail["settings_problem"], detail["endpoint_problem"]
    # Where others reach it: a webhook's hook (its id is a secret of the workspace's key,
    # so only lpstudio can tell it), a callable's endpoint; paths on the REST API's server.
    link = detail["trigger"].get("hook") or detail["trigger"].get("endpoint")
    reach, server = _reached_at(root, link) if link else (None, "")
    for warning in warnings:  # as an error is said, on stderr: stdout stays the settings
        fix = f"{FIX_SAID}{warning['fix']}" if warning["fix"] else ""
        click.echo(f"warning: {warning['message']}{fix}", err=True)
    if as_json:  # named as the REST API's recipe names it
        _emit(
            {
                **current,
                **({"warnings": warnings} if warnings else {}),
                **({"settings_problem": problem} if problem else {}),
                **({"endpoint_problem": conflict} if conflict else {}),
                **({"url": reach} if reach else {}),
                **({"next_run": detail["next_run"]} if detail["next_run"] else {}),
                # what a callable's caller waits without its own: `lpstudio serve`'s default
                **(
                    {"call_timeout_default": detail["call_timeout_default"]}
                    if detail["trigger"]["kind"] == "callable"
                    else {}
                ),
            }
        )
        return
    if reach and not conflict:  # another recipe answers at its endpoint
        click.echo(f"receives:    POST {reach}  ({server})")
    click.echo("parameters (saved, else the notebook's default; change with -p NAME VALUE):")
    schema = detail["parameters"]  # the notebook's secrets masked in it
    required = schema.get("required", [])
    refused.add(((problem or {}).get("field") or "").split(".")[0])  # `weights.a`: an item's
    for name, spec in schema.get("properties", {}).items():
        saved = current["parameters"].get(name, ...)
        said = _parameter_said(spec, saved, name in required, refused=name in refused)
        help_ = f"  # {spec['description']}" if spec.get("description") else ""
        click.echo(f"  {name} = {said}{help_}")
    for slot, name in current["connections"].items():
        chosen = "  (automatic)" if slot in detail["automatic"] else ""
        click.echo(f"connection:  {slot} = {name}{chosen}")
    for kind, contact in (current.get("notify") or {}).items():
        click.echo(f"on failure:  {kind} {contact}")
    if detail["trigger"]["kind"] == "callable":  # its own, else the server's
        own, usual = detail["call_timeout"], detail["call_timeout_default"]
        click.echo(  # no server here: `lpstudio serve`'s default, which one may change
            f"call timeout: {own:g} s (this recipe's; --reset call_timeout for the server's)"
            if own
            else f"call timeout: {usual:g} s, the server's default (LpstudioApp.call_timeout, "
            "unless the server is configured otherwise; change with --call-timeout SECONDS)"
        )
    # Where its poll goes from once a first start or poll fixed it (`lpstudio poll` saves
    # no since), else the since saved for its first start.
    since = detail["since_fixed"] or current.get("since")
    if since:
        click.echo(f"since:       {local_text(since)}")
    if detail["next_run"]:  # a started schedule: in this machine's time, and the schedule's
        zone = ZoneInfo(detail["trigger"].get("timezone", "UTC"))
        there = datetime.fromisoformat(detail["next_run"]).astimezone(zone)
        click.echo(
            f"next run:    {local_text(detail['next_run'])} "
            f"({there:%Y-%m-%d %H:%M} {zone.key}, the schedule's time zone)"
        )
    if problem:  # saved, but not ready to run or start until this is mended
        fix = f"\n  fix: {problem['fix']}" if problem.get("fix") else ""
        click.echo(f"not ready:   {problem['message']}{fix}")
    if conflict:  # started, but another recipe serves its endpoint
        click.echo(f"conflict:    {conflict['message']}\n  fix: {conflict['fix']}")


def _parameter_said(spec: dict[str, Any], saved: Any, required: bool, refused: bool) -> str:
    """A parameter's value as `lpstudio settings` lists it, with its type and where it
    comes from: saved (`saved`; ... when nothing is), else the notebook's default. One
    declared with no value needs one (it showed as `null`, a default), as does a default
    the settings problem names (`refused`); a default that is no literal is the notebook's
    to compute."""
    kind = spec.get("type", "any")
    kind = "/".join(kind) if isinstance(kind, list) else kind
    if saved is not ...:
        return f"{value_text(saved)}  [{kind}, saved]"
    if required:
        return f"(none: required)  [{kind}]"
    if "default" not in spec:
        return f"(computed by the notebook)  [{kind}, default]"
    source = "default refused: give a value" if refused else "default"
    return f"{value_text(spec['default'])}  [{kind}, {source}]"


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
    """Start RECIPE: from now on its trigger fires wherever a scheduler runs on the
    workspace: an `lpstudio scheduler` daemon, or the one a server hosts (`lpstudio serve`,
    JupyterLab)."""
    with _studio(workspace) as studio:
        path = _typed_recipe(studio, recipe)
        settings = studio.start(path, reset_since=_moment(reset_since, "--reset-since"))
        name = studio.workspace.recipe_name(Path(path))
        # Only a poll goes by its since: one saved while the notebook was a poll stays.
        started = studio.recipe(path)
        since = settings["since"] if started.trigger_kind == "poll" else None
        went_on = since is not None and studio.polled_on(started.name)
    _echo_or_json(as_json, settings, _started_said(name, since, reset_since, went_on))


def _started_said(name: str, since: str | None, reset_since: str | None, went_on: bool) -> str:
    """A start's line: a poll trigger's since too, where a reset moved it (it runs again
    events already run, or skips some) or where its first start fixed it, in the time
    `settings` shows and `--reset-since` takes back; once its polls read past it
    (`went_on`), that it goes on from its last poll (a 30 days' since read as a replay)."""
    if since is None:
        return f"started {name}"
    if reset_since is not None:
        return f"started {name}; its poll starts again from {local_text(since)}"
    if went_on:
        return (
            f"started {name}; it polls on from where its last poll ended (its polls began at "
            f"{local_text(since)}; `--reset-since` starts them again)"
        )
    return f"started {name}; it polls for events since {local_text(since)}"


@main.command()
@click.argument("recipe")
@workspace_option
@json_option
@handles_errors
def stop(recipe: str, workspace: Path | None, as_json: bool) -> None:
    """Stop RECIPE: its trigger processes nothing until it starts again."""
    with _studio(workspace) as studio:
        path = _typed_recipe(studio, recipe, kept=studio.started_gone())
        settings = studio.stop(path)
        name = studio.workspace.recipe_name(Path(path))
    _echo_or_json(as_json, settings, f"stopped {name}")


@main.command()
@click.argument("recipe")
@workspace_option
@json_option
@handles_errors
def versions(recipe: str, workspace: Path | None, as_json: bool) -> None:
    """List RECIPE's versions (notebook and settings), newest first."""
    with _studio(workspace) as studio:
        found = studio.versions(_typed_recipe(studio, recipe, kept=studio.versioned_recipes()))
    if as_json:
        _emit(found)
        return
    if not found:
        click.echo(
            f"no versions of {recipe} yet: one is made when it is started or run, when its "
            "settings are saved, and when JupyterLab saves it"
        )
    for version in found:
        click.echo(
            f"{version['id'][:12]}  {local_text(version['created_at'])}  "
            f"{cell(version['created_by'], 12)} {_settings_said(version['settings'])}"
        )


def _settings_said(settings: dict[str, Any]) -> str:
    """A version's settings on its line, whole words only (its JSON was cut at 60
    characters, mid-name): which parameters it sets, and each slot's connection. `--json`
    gives their values."""
    named = sorted(settings.get("parameters") or {})
    said = [f"parameters: {', '.join(named)}" if named else "no parameter set"]
    slots = settings.get("connections") or {}
    if slots:
        said.append("connections: " + ", ".join(f"{k}={v}" for k, v in sorted(slots.items())))
    return "; ".join(said)


@main.command()
@click.argument("recipe")
@click.argument("version")
@workspace_option
@json_option
@handles_errors
def restore(recipe: str, version: str, workspace: Path | None, as_json: bool) -> None:
    """Make RECIPE's notebook and settings those of VERSION (an id or its first characters)."""
    with _studio(workspace) as studio:
        recipe = _typed_recipe(studio, recipe, kept=studio.versioned_recipes())
        restored = studio.restore(recipe, version)
    kept = restored["kept"]
    name = restored["recipe"]  # by its name under projects/, as `versions` takes it
    said = f"restored {name} to version {restored['id'][:12]}"
    if kept and kept != restored["id"]:
        said += (
            f"; as it was, it is version {kept[:12]} (`lpstudio restore {word(name)} {kept[:12]}`)"
        )
    _echo_or_json(as_json, restored, said)
