"""The workspace and its services: `init`, `purge`, `audit`, `scheduler`, `api-clients`,
`serve`, `sandbox`."""

from __future__ import annotations

import errno
import re
import signal
import sys
from pathlib import Path

import click

from ..api_clients import MAX_QUOTA_PER_DAY
from ..errors import InputError, word
from ..kernelfiles import process_folder
from ..store import MAX_LISTED
from ..studio import TERMS, Studio
from ..times import local_text
from ..workspace import Workspace
from . import base
from .base import (
    FiniteRange,
    _echo_or_json,
    _emit,
    _studio,
    handles_errors,
    json_option,
    main,
    workspace_option,
)
from .output import cell, value_text


def _active_admin(path: Path) -> str | None:
    """Who activated the workspace at `path` (None for a new one): `init` there again keeps
    its admin, so an `--admin` naming someone else is refused before anything is written."""
    from ..store import Store
    from ..workspace import CONFIG_NAME

    root = path.expanduser().resolve()
    if not (root / CONFIG_NAME).is_file():
        return None
    store = Store(Workspace.load(root).store_url)
    try:
        if store.schema_revision() is None:  # no store yet (`init` makes it): none activated
            return None
        store.migrate()
        activation = store.activation()
    finally:
        store.close()
    return activation.accepted_by if activation else None


def _connection_names(path: Path) -> set[str]:
    """The connections of the active workspace at `path`: those `init --sandbox` keeps."""
    with Studio.open(path) as studio:
        return {info.name for info in studio.connections.list()}


def _warn_unless_sandbox_answers(url: str) -> None:
    """Warns when no sandbox answers at `url` (a typo, or not started yet): init still
    succeeds, its connections kept for one started later, but each use of them would fail."""
    from urllib.parse import urlsplit

    from ..sandbox import sandbox_answers

    if sandbox_answers(url):
        return
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    start = f"lpstudio sandbox --port {port}" if port else "lpstudio sandbox"
    click.echo(
        f"warning: no sandbox answers at {url}: start it with `{start}` before using "
        "its connections",
        err=True,
    )


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
    """Create and activate a workspace at PATH (again: keeps it, adds --sandbox connections)."""
    active = _active_admin(path)
    # A name with ':' (an API client, lpstudio's own process) can never be given a role:
    # `Studio.init` refuses it below as on a new folder, before anything is written.
    if active and admin and admin != active and ":" not in admin:
        raise InputError(
            f"{path} is already active, with {active} as the admin who accepted the terms",
            field="admin",
            fix=f"leave out --admin; {active} (or another admin) gives roles: "
            f"`LPSTUDIO_USER={active} lpstudio users role {admin} admin` (REST: PUT "
            "/lpstudio/api/v1/users/NAME/role)",
        )
    if not accept_terms and not active:  # an active workspace's terms were accepted
        click.echo(TERMS, err=True)
        if not base._has_terminal():
            raise InputError(
                "the terms must be accepted, and there is no terminal to ask on",
                field="accept_terms",
                fix="read the terms above, then run "
                f"`lpstudio init {word(path, '.')} --accept-terms`",
            )
        accept_terms = click.confirm("Do you accept these terms?", default=False, err=True)
    kept = _connection_names(path) if active and sandbox else set()
    accepted = accept_terms or active is not None
    with Studio.init(path, accept_terms=accepted, admin=admin, sandbox=sandbox) as studio:
        activation = studio.store.activation()
        assert activation is not None
        info = {
            "workspace": str(studio.workspace.root),
            "admin": activation.accepted_by,
            "accepted_at": activation.accepted_at.isoformat(),
        }
    if sandbox:  # a connection it adds may fill a recipe's unbound slot: say which
        from ..sandbox import sandbox_connections

        offered = sandbox_connections(sandbox)
        info["connections_added"] = sorted(set(offered) - kept)
        info["connections_kept"] = sorted(set(offered) & kept)
    if as_json:
        _emit(info)
    else:
        ready = "already active" if active else "ready"
        click.echo(f"workspace {ready}: {info['workspace']} (admin: {info['admin']})")
        for name in info.get("connections_added", []):
            click.echo(f"added connection {name} ({offered[name][0]}) to the sandbox at {sandbox}")
        for name in info.get("connections_kept", []):
            click.echo(f"kept connection {name}: a connection of that name exists")
    if sandbox:
        _warn_unless_sandbox_answers(sandbox)


@main.command()
@click.option(
    "--older-than",
    type=FiniteRange(0, 36_500),
    metavar="DAYS",
    help="Retention in days, 0 to 36500 (default: the workspace's jobs.retention_days, 30).",
)
@workspace_option
@json_option
@handles_errors
def purge(older_than: float | None, workspace: Path | None, as_json: bool) -> None:
    """Erase the data of old jobs: outputs and events go; ids, statuses and times stay.
    Notebooks `run --prepare-only` wrote before then go too."""
    with _studio(workspace) as studio:
        ids = studio.purge(older_than)  # the store first: a locked one leaves all as it was
        prepared = studio.purge_prepared(older_than)
    _echo_or_json(
        as_json,
        {"purged": ids, "prepared": [path.name for path in prepared]},
        f"purged {len(ids)} job(s) and {len(prepared)} prepared notebook(s)",
    )


@main.command()
@click.option("--limit", type=click.IntRange(1, MAX_LISTED), default=50, show_default=True)
@workspace_option
@json_option
@handles_errors
def audit(limit: int, workspace: Path | None, as_json: bool) -> None:
    """Read the audit log: who changed what, and when."""
    with _studio(workspace) as studio:
        entries = studio.audit_entries(limit)
    if as_json:
        _emit(entries)
        return
    for entry in entries:
        click.echo(
            f"{local_text(entry['at'])}  {cell(entry['user'], 12)} {cell(entry['action'], 12)} "
            f"{entry['target']} {value_text(entry['detail']) if entry['detail'] else ''}"
        )


@main.command()
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--grace",
    type=FiniteRange(0, 86_400),
    default=30,
    show_default=True,
    help="Seconds running jobs get to finish on SIGTERM; then a job that has started no "
    "code cell of its recipe's own is requeued, and one that has ends failed (WorkerStopped), "
    "retried as its recipe says.",
)
@workspace_option
@handles_errors
def scheduler(workers: int, grace: float, workspace: Path | None) -> None:
    """Run schedules, polls and queued jobs until SIGTERM (or SIGINT, SIGHUP)."""
    import logging
    import threading

    from ..scheduler import DAEMON_USER, Scheduler, open_when_reachable

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("traitlets").setLevel(logging.WARNING)
    # A store's upgrade is said in lpstudio's one line (`Store.migrate`), not alembic's ten.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    stopping = threading.Event()
    daemon: Scheduler | None = None

    def stop(*_: object) -> None:
        stopping.set()
        if daemon is not None:
            daemon.stop()

    # SIGHUP too: the terminal it ran in closed; its running jobs are drained and put back
    # in the queue as a service manager's stop does, never killed mid-send. Set before the
    # workspace opens: a daemon waiting for its store stops too.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    # Its jobs and changes are its own (`DAEMON_USER`), not those of whoever launched it:
    # a service manager's root would have become a person with the default role.
    studio = open_when_reachable(lambda: Studio.open(workspace, user=DAEMON_USER), stopping)
    if studio is None:
        return  # stopped while it waited for the store
    with studio:
        daemon = Scheduler(studio, workers=workers, grace_seconds=grace)
        if not stopping.is_set():
            daemon.run_forever()


@main.group("api-clients")
def api_clients() -> None:
    """Tokens that let bots call callable recipes (admins only)."""


def _admin_studio(workspace: Path | None, what: str = "manage API clients") -> Studio:
    studio = _studio(workspace)
    if studio.role != "admin":
        studio.close()
        raise InputError(
            f"{studio.user} is {studio.role}; only admins {what}",
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
    help="A callable recipe's path the client may call (repeat; * for all).",
)
@click.option(
    "--rate", default="60/min", show_default=True, metavar="N/min", help="Calls allowed per minute."
)
@click.option(
    "--quota",
    metavar="N/day",
    help="Calls allowed in any 24 hours, besides the rate (default: no quota).",
)
@workspace_option
@json_option
@handles_errors
def api_clients_create(
    name: str,
    endpoints: tuple[str, ...],
    rate: str,
    quota: str | None,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Create API client NAME; its token is printed once and stored only hashed."""
    count = re.fullmatch(r"([0-9]+)(?:/min)?", rate)
    if count is None or not 1 <= int(count[1]) <= 100_000:
        raise InputError(
            f"--rate {rate!r} is not N/min with N from 1 to 100000 (as the REST API takes it)",
            field="rate",
            fix="give a number of calls per minute, e.g. --rate 120/min",
        )
    per_day = None if quota is None else _quota_per_day(quota)
    with _admin_studio(workspace) as studio:
        client, token = studio.api_clients.create(name, list(endpoints), int(count[1]), per_day)
    if as_json:
        _emit({**client, "token": token})
    else:
        click.echo(f"API client {name} created; its token (shown once):\n{token}")


def _quota_per_day(quota: str) -> int:
    """`--quota N/day` (or N) as calls per day: a quota is counted over a day only."""
    count = re.fullmatch(r"([0-9]+)(?:/day)?", quota)
    if count is None or not 1 <= int(count[1]) <= MAX_QUOTA_PER_DAY:
        raise InputError(
            f"--quota {quota!r} is not N/day with N from 1 to {MAX_QUOTA_PER_DAY} (as the "
            "REST API takes it; a quota counts the calls of any 24 hours)",
            field="quota",
            fix="give a number of calls per day, e.g. --quota 5000/day, or leave --quota out "
            "for no quota",
        )
    return int(count[1])


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
    if not clients:
        click.echo("no API clients yet: `lpstudio api-clients create NAME --endpoint PATH`")
    for client in clients:  # a line each, as `lpstudio jobs` lists jobs
        quota = f"{client['quota_per_day']}/day" if client["quota_per_day"] else "no quota"
        state = f"revoked {local_text(client['revoked_at'])}" if client["revoked"] else "active"
        click.echo(
            f"{cell(client['name'], 16)} {cell(','.join(client['endpoints']), 20)} "
            f"{client['rate_per_minute']}/min  {cell(quota, 10)} {cell(state, 8)} "
            f"made {local_text(client['created_at'])} by {client['created_by']}"
        )


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


@main.group()
def users() -> None:
    """The people of the workspace and their roles (admins only): what the studio, the
    widgets and the REST API let each of them do."""


@users.command("list")
@workspace_option
@json_option
@handles_errors
def users_list(workspace: Path | None, as_json: bool) -> None:
    """List the users seen so far, with their roles."""
    with _admin_studio(workspace, "list users") as studio:
        people = studio.users()
    if as_json:
        _emit(people)
        return
    for person in people:
        click.echo(f"{person['name']}\t{person['role']}")


@users.command("role")
@click.argument("name")
@click.argument("role", metavar="ROLE")
@workspace_option
@json_option
@handles_errors
def users_role(name: str, role: str, workspace: Path | None, as_json: bool) -> None:
    """Give user NAME the ROLE admin, analyst or operator (before their first visit too)."""
    with _admin_studio(workspace, "give roles") as studio:
        given = studio.set_role(name, role)
    _echo_or_json(as_json, given, f"{name} is {role}")


@main.command("store-copy")
@click.argument("url")
@workspace_option
@json_option
@handles_errors
def store_copy(url: str, workspace: Path | None, as_json: bool) -> None:
    """Copy the workspace's store into the new, empty database at URL (admins only).

    Every row goes, ids kept (users, connections, settings, versions, API clients, audit,
    schedules, ledger, jobs), all or nothing: one transaction on URL. Stop every process on
    the workspace first; then set url under [store] in lpstudio.toml to URL."""
    from ..storecopy import copy_store

    with _admin_studio(workspace, "copy the store") as studio:
        copied = copy_store(studio.workspace, studio.store, url)
    if as_json:
        _emit(copied.to_dict())
        return
    click.echo(f"copied the store {copied.source} into {copied.target}: {copied.rows} rows")
    for table, rows in copied.tables.items():
        click.echo(f"  {cell(table, 20)} {rows}")
    click.echo(f"next: {copied.next_step}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8888, show_default=True)
@click.option("--allow-root", is_flag=True, help="Let Jupyter run as root (containers, CI).")
@click.argument("jupyter_options", nargs=-1, type=click.UNPROCESSED)
@workspace_option
@handles_errors
def serve(
    ip: str,
    port: int,
    allow_root: bool,
    jupyter_options: tuple[str, ...],
    workspace: Path | None,
) -> None:
    """Run a headless server with only lpstudio's REST API (callables, webhooks).

    Other options are Jupyter's, e.g. --LpstudioApp.scheduler=False."""
    from ..server import serve as serve_api

    for option in jupyter_options:
        if not option.startswith("--") or "." not in option.split("=", 1)[0]:
            raise InputError(
                f"unknown option {option!r}",
                field="options",
                fix="give lpstudio's options (see --help) or Jupyter's as --Class.trait=value",
            )
    root = Workspace.find(workspace).root
    # Its kernels' runtime folder, which Jupyter makes too: one it cannot make (a service
    # user whose home is missing) is said with the fix, not as Jupyter's traceback.
    process_folder()
    serve_api(
        ip=ip,
        port=port,
        workspace=root,
        extra_args=jupyter_options,
        allow_root=allow_root,
    )


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@handles_errors
def sandbox(port: int) -> None:
    """Run the LivePerson and Shopify emulators on loopback (a brand's test mode)."""
    from ..sandbox import serve

    try:
        serve(port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise _port_taken(port) from None


def _port_taken(port: int) -> InputError:
    """Why the sandbox cannot listen on `port`: one already does there (use it), or another
    program holds it; said as the CLI says bad input, where Python's traceback was printed."""
    from ..sandbox import sandbox_answers
    from ..sandbox.app import HOST

    url = f"http://{HOST}:{port}"
    if sandbox_answers(url):
        return InputError(
            f"a sandbox is already running at {url}",
            field="port",
            fix="use that one, or give another --port (0 picks a free one)",
        )
    return InputError(
        f"port {port} on {HOST} is taken by another program",
        field="port",
        fix="give another --port (0 picks a free one)",
    )


if __name__ == "__main__":
    main()
