"""Connections and connectors: `connectors` and `connections add/update/list/test/remove`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import FIX_SAID, InputError
from ..studio import Studio
from ..workspace import Workspace
from . import base
from .base import (
    _echo_or_json,
    _emit,
    _once,
    _pairs,
    _studio,
    handles_errors,
    json_option,
    main,
    workspace_option,
)
from .output import cell


@main.command()
@workspace_option
@json_option
@handles_errors
def connectors(workspace: Path | None, as_json: bool) -> None:
    """List connectors (bundled, the workspace's own, and installed) with what they offer,
    and those that do not load with why."""
    from ..errors import WorkspaceError
    from ..registry import connector_listing

    try:
        root: Path | None = Workspace.find(workspace).root
    except WorkspaceError:
        root = None
    found = connector_listing(root)
    if as_json:
        _emit(found)
        return
    for item in found["connectors"]:
        click.echo(f"{cell(item['name'], 22)} {item['title']}")
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
    for item in found["broken"]:
        message = item["message"].replace("\n", "\n  ")
        click.echo(f"{cell(item['name'], 22)} broken: {message}")
        if item["fix"]:
            click.echo(f"  fix: {item['fix']}")


@main.group()
def connections() -> None:
    """Named, authorised links to apps; secret fields are stored encrypted."""


def _secret_env(name: str) -> str:
    return f"LPSTUDIO_SECRET_{name.upper()}"


def _how_to_give(name: str, secret: bool) -> str:
    """How this command takes a field: secrets never come from the command line itself."""
    if secret:
        return (
            f"use --secret {name} (its value is read from ${_secret_env(name)}, a hidden "
            "prompt or standard input)"
        )
    return f"use --field {name}=VALUE"


def _secret_values(names: tuple[str, ...]) -> dict[str, str]:
    """Secrets come from $LPSTUDIO_SECRET_<FIELD>, a hidden prompt, or standard input."""
    values = {}
    for name in names:
        env = _secret_env(name)
        if os.environ.get(env):
            values[name] = os.environ[env]
        elif base._has_terminal():
            values[name] = click.prompt(f"{name}", hide_input=True, err=True)
        else:
            line = sys.stdin.readline().rstrip("\r\n")
            if not line.strip():  # no line, or an empty one: never a secret
                raise InputError(
                    f"no value for secret field '{name}'",
                    field=name,
                    fix=f"set {env}, or give one line per --secret on standard input",
                )
            values[name] = line
    return values


def _field_values(
    studio: Studio, type_: str, fields: tuple[str, ...], secrets: tuple[str, ...]
) -> dict[str, Any]:
    from ..registry import given_connector

    secret_fields = given_connector(type_, studio.workspace.root).secret_fields()
    listed = f"secret fields: {', '.join(sorted(secret_fields)) or 'none'}"
    for item in secrets:  # before anything quotes one: `KEY=VALUE` holds a secret's value
        key, typed, _ = item.partition("=")
        if typed:
            known = key in secret_fields
            raise InputError(
                "--secret takes a field name only, never its value: a secret is never taken "
                "from the command line",
                field=key if known else "--secret",
                fix=_how_to_give(key, secret=True) if known else f"use --secret FIELD ({listed})",
            )
    _once(secrets, "--secret", "")  # before any is read: a second prompt's value would win
    values: dict[str, Any] = {}
    for key, value in _pairs(fields, "--field"):
        if key in secret_fields:
            raise InputError(
                f"'{key}' is a secret field and is never taken from the command line",
                field=key,
                fix=_how_to_give(key, secret=True),
            )
        values[key] = value
    for key in secrets:
        if key not in secret_fields:
            raise InputError(
                f"'{key}' is not a secret field of {type_}",
                field=key,
                fix=listed,
            )
    values.update(_secret_values(secrets))
    return values


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
    from ..registry import get_connector

    with _studio(workspace) as studio:
        values = _field_values(studio, type_, fields, secrets)
        try:
            info = studio.connections.add(name, type_, values, studio.user)
        except InputError as exc:
            specs = {f.name: f for f in get_connector(type_, studio.workspace.root).fields}
            if exc.field in specs and exc.field not in values:  # a required field left out
                exc.fix = _how_to_give(exc.field, specs[exc.field].secret)
            raise
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
    if not fields and not secrets:
        raise InputError(
            f"nothing to update: connection {name} is left as it is",
            field="--field",
            fix="give --field NAME=VALUE or --secret NAME (see `lpstudio connections list`)",
        )
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
        click.echo(
            f"{cell(row['name'], 20)} {cell(row['type'], 22)} {cell(row['status'], 13)} {fields}"
        )
        if row["status"] == "disconnected" and row["status_message"]:  # why, and the fix
            said, _, fix = row["status_message"].partition(FIX_SAID)
            click.echo(f"    {said}" + (f"\n    fix: {fix}" if fix else ""))


@connections.command("test")
@click.argument("name")
@workspace_option
@json_option
@handles_errors
def connections_test(name: str, workspace: Path | None, as_json: bool) -> None:
    """Test connection NAME and record whether it is connected."""
    with _studio(workspace) as studio:
        info = studio.connections.test(name)
    said = f": {info.status_message}" if info.status_message else ""  # the test's own words
    _echo_or_json(as_json, info.to_dict(), f"{name}: {info.status}{said}")
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
