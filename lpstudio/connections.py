"""Connections: named, authorised links to apps, with their secrets encrypted at rest.

Secret fields are encrypted together as one Fernet token with the workspace's key; they are
decrypted only to hand a ready `sdk.Connection` to a running job or a connection test, and
never appear in an answer, a listing, a log line or an error message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import traceback
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InputError, LpstudioError, NotFoundError, quoted, word
from .models import Connection as ConnectionRow
from .models import RecipeSettings, utcnow
from .redaction import MASK, derived_secrets, scrub, scrub_text
from .registry import code_place, get_connector, given_connector
from .sdk import Connection, Connector, Field
from .store import Store, audit_in

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger("lpstudio.connections")

#: A connection's (or an API client's) name, whole: `(?!\n)`, as Python's `$` alone lets a
#: final line break through.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}(?!\n)$")
#: What `NAME_PATTERN` takes, in words: its letters are ASCII's (`é` or `オ` are letters too,
#: and refused), for a connection's, an API client's and a slot's name alike.
NAME_SAID = (
    "lower-case ASCII letters a-z, digits, '-' and '_', starting with a letter or digit (at "
    "most 64)"
)

#: Seconds a connection test may take: past them it fails, and the CLI, the REST API and a
#: server's exit stop waiting for it (`conn.http()` has its own timeouts; other clients and
#: the connector's code may have none).
TEST_TIMEOUT = 30.0

#: The status of a connection imported from a package without its secrets (packages never
#: carry them): what would use it is refused until `update` gives them.
PLACEHOLDER = "placeholder"


#: `Connections.secret_values`' read, built once on the table's columns: every job reads it
#: as it starts, and a run as it is checked: an ORM select built anew for each read cost
#: 0.19 ms of CPU a read against 0.12 (a workspace with no connection).
_SECRETS_READ = select(ConnectionRow.__table__.c.fields, ConnectionRow.__table__.c.secrets)

#: How a sealed event kept with its delivery's headers and query begins (`Vault.seal_delivered`):
#: a Fernet token, urlsafe base64, never holds a colon.
DELIVERED = "delivery:"


class Vault:
    """Encrypts JSON with the workspace key: a connection's secret values, and the events a
    job keeps sealed (`Studio.kept_event`)."""

    def __init__(self, key_path: Path) -> None:
        self._fernet = Fernet(key_path.read_bytes().strip())

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def seal_delivered(self, event: Any, delivery: dict[str, Any]) -> str:
        """A webhook job's event sealed with its delivery's headers and query
        (`Studio.kept_event`), marked by `DELIVERED`: older seals hold the event alone."""
        return DELIVERED + self.seal({"event": event, "delivery": delivery})

    def open_sealed(self, token: str) -> tuple[Any, dict[str, Any] | None]:
        """A job's sealed event as it was sent, for its kernel, and the headers and query
        of the delivery it came in (None for a seal that has none)."""
        delivered = token.startswith(DELIVERED)
        opened = self._opened(
            token.removeprefix(DELIVERED),
            "the job's event, kept sealed, cannot be decrypted with this workspace's secret.key",
            "restore the workspace's original secret.key, or run the recipe anew",
        )
        return (opened["event"], opened["delivery"]) if delivered else (opened, None)

    def open(self, token: str | None) -> dict[str, str]:
        """A connection's secret values."""
        if not token:
            return {}
        return self._opened(
            token,
            "a connection's secrets cannot be decrypted with this workspace's secret.key",
            "restore the workspace's original secret.key, or re-enter the secrets "
            "with `lpstudio connections update NAME --secret FIELD`",
        )

    def open_event(self, token: str) -> Any:
        """A job's event as it was sent, for its kernel (`open_sealed`)."""
        return self.open_sealed(token)[0]

    def _opened(self, token: str, message: str, fix: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise LpstudioError(message, fix=fix) from None


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection as users may see it: plain fields, and secrets only as masks.
    `incomplete` says why it cannot be used as it is, lacking a value its connector now
    requires (`_lacking`): shown as disconnected, whatever its last test said."""

    name: str
    type: str
    fields: dict[str, Any]
    secrets: list[str]
    status: str
    status_message: str | None
    tested_at: datetime | None
    incomplete: InputError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "fields": {**self.fields, **{k: MASK for k in self.secrets}},
            "status": self.status,
            "status_message": self.status_message,
            "tested_at": self.tested_at.isoformat() if self.tested_at else None,
        }


def _info(
    row: ConnectionRow,
    secret_names: list[str],
    hidden: Collection[str] = (),
    unusable: LpstudioError | None = None,
    incomplete: InputError | None = None,
) -> ConnectionInfo:
    """The row as shown, a plain field's value masked where it holds one of the `hidden`
    secrets: `add` and `update` refuse such a value, but a row an older lpstudio wrote may
    hold one. One that cannot run (its connector `unusable`: gone or failing to load; or
    `incomplete`: lacking a field its connector now requires) is shown disconnected, with
    that error and its fix, whatever its last test said: it showed connected, though
    nothing could run it."""
    status, message = row.status, row.status_message
    problem = unusable or incomplete
    if problem is not None:
        status, message = "disconnected", str(problem)
    return ConnectionInfo(
        row.name,
        row.type,
        scrub(dict(row.fields), hidden),
        secret_names,
        status,
        message,
        row.tested_at,
        incomplete,
    )


def _blank_fields(connector: Connector, values: dict[str, Any]) -> set[str]:
    """The plain fields of `values` given empty (or null): no value, so their default (a
    required one without is refused, naming it), on `add` as on `update`. A secret given
    empty is not among them: `update` keeps the stored one."""
    plain = {f.name for f in connector.fields if not f.secret}
    return {k for k, v in values.items() if k in plain and v in ("", None)}


class Connections:
    """Create, read, test, update and remove connections of one workspace."""

    def __init__(
        self, store: Store, key_path: Path, workspace_root: Path, user: str | None = None
    ) -> None:
        """With `user` (a `Studio`'s), every change and test is audited as that user."""
        self.store = store
        self.vault = Vault(key_path)
        self.root = workspace_root
        self.user = user

    def _audit(self, action: str, name: str, **detail: Any) -> None:
        if self.user is not None:
            self.store.audit(self.user, action, name, **detail)

    def _split(
        self,
        type_: str,
        values: dict[str, Any],
        withheld: Sequence[str] = (),
        kept: Collection[str] = (),
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The checked plain fields and secrets of `values`; the `withheld` secrets of a
        placeholder, not given yet, are not required (its plain fields may be edited first).
        The `kept` ones, stored fields and secrets an update does not change, are kept as
        they are, unchecked: one saved before a rule was added (`sdk.MIN_SECRET_LENGTH`, a
        header's `HEADER_VALUE`, a plain URL's query) blocked changing any other field until
        it was given again."""
        connector = get_connector(type_, self.root)
        exempt = {*withheld, *kept}
        if exempt:
            fields = [
                replace(f, required=False) if f.name in exempt else f for f in connector.fields
            ]
            connector = Connector(connector.name, title=connector.title, fields=fields)
        checked = {k: v for k, v in values.items() if k not in kept}
        coerced = {**connector.validate_config(checked), **{k: values[k] for k in kept}}
        secret = connector.secret_fields()
        return (
            {k: v for k, v in coerced.items() if k not in secret},
            {k: v for k, v in coerced.items() if k in secret},
        )

    def _row(self, name: str) -> ConnectionRow:
        with self.store.read() as s:
            row = s.get(ConnectionRow, name)
            if row is None:
                raise _not_found(name, lambda lower: s.get(ConnectionRow, lower) is not None)
        return row

    def refuse_held_secrets(
        self, connector: Connector, given: dict[str, Any], values: dict[str, Any]
    ) -> set[str]:
        """Refuses a plain field `given` whose value holds a secret of the workspace (any
        connection's, this one's as `values` will make them, the store's password), in any
        form masking finds: plain fields are shown as they are, by `list`, the API and the
        studio. Checked before the values are coerced: a number field holding one is
        refused for that, not for its type. Returns the secrets, to mask what is shown."""
        names = connector.secret_fields()
        own = derived_secrets(
            {k: v for k, v in values.items() if k in names},
            {k: v for k, v in values.items() if k not in names},
        )
        hidden = self.secret_values() | self.store.secrets | own
        for key, value in given.items():
            if key not in names and scrub(value, hidden) != value:
                raise _holds_secret(key, connector.name, sorted(names))
        return hidden

    def add(self, name: str, type_: str, values: dict[str, Any], user: str) -> ConnectionInfo:
        """Creates connection `name`; a plain field given empty is not given (its default,
        as `update` clears it)."""
        connector = given_connector(type_, self.root)
        blank = _blank_fields(connector, values)
        values = {k: v for k, v in values.items() if k not in blank}
        hidden = self.refuse_held_secrets(connector, values, values)
        _check_name(name, hidden)
        plain, secret = self._split(type_, values)
        with self.store.write() as s:
            if s.get(ConnectionRow, name) is not None:
                raise InputError(
                    f"a connection named {quoted(name)} already exists",
                    field="name",
                    fix=f"choose another name, or use `lpstudio connections update {name}`",
                )
            row = ConnectionRow(
                name=name,
                type=type_,
                fields=plain,
                secrets=self.vault.seal(secret),
                status="untested",
                created_by=user,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            s.add(row)
        self._audit("create_connection", name, type=type_, fields=sorted(values))
        return _info(row, sorted(secret), hidden)

    def check_placeholder(self, name: str, type_: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The plain fields of placeholder `name`, coerced and checked as `add` checks them,
        its secrets left out of the form (a placeholder has none yet). Refuses a secret
        given as a plain field, naming it and how the connection is given it."""
        connector = get_connector(type_, self.root)
        secret = connector.secret_fields()
        for key in fields:
            if key in secret:
                raise InputError(
                    f"'{key}' is a secret field of {type_}: a placeholder holds no secret",
                    field=key,
                    fix=f"leave {key} out; once imported, give it with `lpstudio connections "
                    f"update {name} --secret {key}`",
                )
        form = Connector(
            connector.name,
            title=connector.title,
            fields=[spec for spec in connector.fields if not spec.secret],
        )
        return form.validate_config(fields)

    def add_placeholder(
        self,
        name: str,
        type_: str,
        fields: dict[str, Any],
        withheld: list[str],
        user: str,
        session: Session,
    ) -> None:
        """Creates, in `session`'s transaction (an import's), a connection with plain fields
        only, whose `withheld` secrets were not given: status `placeholder`, and what would
        use it is refused with the command that authorises it, until `update` gives them
        (it is then an ordinary untested connection). With nothing withheld, it is complete:
        untested."""
        _check_name(name)
        plain = self.check_placeholder(name, type_, fields)
        session.add(
            ConnectionRow(
                name=name,
                type=type_,
                fields=plain,
                secrets=self.vault.seal({}),
                status=PLACEHOLDER if withheld else "untested",
                status_message=authorise_fix(name, withheld) if withheld else None,
                withheld=sorted(withheld) or None,
                created_by=user,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        audit_in(
            session,
            user,
            "create_connection",
            name,
            type=type_,
            fields=sorted(plain),
            placeholder=bool(withheld),
        )

    def update(self, name: str, values: dict[str, Any]) -> ConnectionInfo:
        """Changes the given fields. A secret given empty or as its mask (`****`, what a
        form shows) keeps its stored value: secrets are write-only, never read back. Any
        other field given empty (or null) is cleared, back to its default (a required one
        is then refused, naming it). Stored fields the connector no longer has (renamed or
        removed in its code) are dropped, so that giving the renamed field fixes it. Given
        nothing to change (`{}`, a form saved as it was shown), the connection is left as it
        is, tested or not: it was reset to untested, and audited as changed."""
        row = self._row(name)
        connector = self._connector_of(name, row.type)
        secret_names = connector.secret_fields()
        known = {f.name for f in connector.fields}
        cleared = _blank_fields(connector, values)
        values = {
            k: v
            for k, v in values.items()
            if k not in cleared and not (k in secret_names and v in ("", None, MASK))
        }
        if not values and not cleared:
            return self.get(name)
        saved = {**row.fields, **self.vault.open(row.secrets)}
        dropped = sorted(k for k in saved if k not in known)
        current = {k: v for k, v in saved.items() if k in known and k not in cleared}
        merged = {**current, **values}
        hidden = self.refuse_held_secrets(connector, values, merged)
        # A placeholder stays one until every secret its package held back is given: an
        # imported webhook connection without its token would take unsigned deliveries.
        missing = [field for field in row.withheld or () if not merged.get(field)]
        kept = [k for k in current if k not in values]  # as stored: checked when given
        plain, secret = self._split(row.type, merged, missing, kept)
        with self.store.write() as s:
            stored = s.get_one(ConnectionRow, name)
            stored.fields = plain
            stored.secrets = self.vault.seal(secret)
            stored.status, stored.status_message, stored.tested_at = "untested", None, None
            stored.withheld = missing or None
            if missing:
                stored.status, stored.status_message = PLACEHOLDER, authorise_fix(name, missing)
            stored.updated_at = utcnow()
            row = stored
        detail = {"dropped": dropped} if dropped else {}
        self._audit("update_connection", name, fields=sorted({*values, *cleared}), **detail)
        return _info(row, sorted(secret), hidden)

    def remove(self, name: str) -> None:
        """Deletes a connection that no recipe uses (see `_uses`), as Workato refuses to
        delete a connection used by recipes. The check and the delete are one transaction:
        a binding saved meanwhile waits for it (the store's writers take turns)."""
        with self.store.write() as s:
            row = s.get(ConnectionRow, name)
            if row is None:
                raise _not_found(name, lambda lower: s.get(ConnectionRow, lower) is not None)
            uses = self._uses(s, name)
            if uses:
                raise _in_use(name, uses)
            s.delete(row)
        self._audit("delete_connection", name)

    def _uses(self, session: Session, name: str) -> list[SlotUse]:
        """The recipe slots that connection `name` fills, and that would break without it:
        slots whose settings bind it (`Studio.start` binds every slot it starts with), and
        slots of recipes started by an earlier lpstudio, which did not, that it fills by
        default (the one connection of the slot's type, or the one named like the slot). A
        binding whose recipe or slot is gone, or a recipe that does not load, holds nothing."""
        from .recipe import Recipe  # here: reading notebooks is for this check only
        from .workspace import Workspace

        rows = session.scalars(select(RecipeSettings).order_by(RecipeSettings.recipe)).all()
        available = [
            _info(row, [])
            for row in session.scalars(select(ConnectionRow).order_by(ConnectionRow.name))
        ]
        projects = Workspace(self.root).projects
        uses = []
        for row in rows:
            chosen = dict(row.settings.get("connections") or {})
            started = row.settings.get("state") == "started"
            if name not in chosen.values() and not started:
                continue
            try:
                slots = Recipe.load(projects / row.recipe, row.recipe).metadata.get(
                    "connections", {}
                )
            except LpstudioError:
                continue
            for slot, spec in slots.items():
                if slot in chosen:
                    if chosen[slot] == name:
                        uses.append(SlotUse(row.recipe, slot, by_default=False))
                    continue
                if not started:
                    continue
                try:
                    filled = bind_connections({slot: spec}, {}, available)[slot]
                except InputError:  # no connection, or several, fill it: not this one
                    continue
                if filled == name:
                    uses.append(SlotUse(row.recipe, slot, by_default=True))
        return uses

    def list(self) -> list[ConnectionInfo]:
        with self.store.read() as s:
            rows = s.scalars(select(ConnectionRow).order_by(ConnectionRow.name)).all()
        opened = [(row, self.vault.open(row.secrets)) for row in rows]
        hidden = self.store.secrets.union(
            *(derived_secrets(secrets, row.fields or {}) for row, secrets in opened)
        )
        return [
            _info(row, sorted(secrets), hidden, *self._problems(row, secrets))
            for row, secrets in opened
        ]

    def get(self, name: str) -> ConnectionInfo:
        row = self._row(name)
        hidden = self.secret_values() | self.store.secrets
        secrets = self.vault.open(row.secrets)
        return _info(row, sorted(secrets), hidden, *self._problems(row, secrets))

    def _problems(
        self, row: ConnectionRow, secrets: dict[str, str]
    ) -> tuple[LpstudioError | None, InputError | None]:
        """Why the connection of `row` (with its `secrets`) cannot run, as `list` and `get`
        show it: its connector gone or failing to load, or a field the connector requires
        lacking (`_lacking`; not asked of a placeholder, refused as such). One lookup of the
        connector serves both: the dashboard asks this of every connection at each refresh."""
        try:
            connector = self._connector_of(row.name, row.type)
        except LpstudioError as exc:
            return exc, None
        if row.status == PLACEHOLDER:
            return None, None
        return None, _lacking(row.name, connector, {**row.fields, **secrets})

    def _connector_of(self, name: str, type_: str) -> Connector:
        """The connector of stored connection `name`, of type `type_`. One gone since (its
        package uninstalled, its file deleted) is refused saying to install it again or
        remove the connection: never to use another type, which a stored connection's
        cannot be changed to."""
        try:
            return get_connector(type_, self.root)
        except NotFoundError as exc:
            raise NotFoundError(
                f"connection {quoted(name)}: {exc.message}",
                field="type",
                fix=f"{exc.fix}; or remove the connection with `lpstudio connections remove "
                f"{name}` and give the slots it filled another",
            ) from None

    def values(self, name: str) -> tuple[str, dict[str, Any]]:
        """The connector type and every field value, secrets decrypted: for running only.
        A placeholder is refused: it has no secrets to run with."""
        row = self._row(name)
        if row.status == PLACEHOLDER:
            raise _placeholder(name, row.status_message, "connection")
        return row.type, {**row.fields, **self.vault.open(row.secrets)}

    def open(self, name: str, **runtime: Any) -> Connection:
        """A ready connection; `root` tells file-based connectors where the workspace is.
        One lacking a field its connector requires (renamed in the connector's code since
        it was saved) is refused, naming the field and how to give it: the connector's code
        would fail with a bare KeyError."""
        connector, config = self._complete(name)
        return Connection(name, connector, {**config, "root": str(self.root)}, **runtime)

    def runnable(self, name: str) -> tuple[str, dict[str, Any]]:
        """`values()` of a connection its connector can run with: one lacking a field the
        connector requires is refused, naming it (a job, before its first cell: the
        connector's code, in the job's kernel, failed with a bare KeyError)."""
        connector, config = self._complete(name)
        return connector.name, config

    def _complete(self, name: str) -> tuple[Connector, dict[str, Any]]:
        """The connection's connector and values, refused when a required field lacks."""
        type_, config = self.values(name)
        connector = self._connector_of(name, type_)
        incomplete = _lacking(name, connector, config)
        if incomplete is not None:
            raise incomplete
        return connector, config

    def secret_values(self) -> set[str]:
        """Every secret value of the workspace, with what each gives away (`derived_secrets`),
        for scrubbing outputs (second line of defence)."""
        with self.store.read() as s:
            rows = s.execute(_SECRETS_READ).all()
        values: set[str] = set()
        for fields, token in rows:
            values |= derived_secrets(self.vault.open(token), fields or {})
        return values

    def test(self, name: str) -> ConnectionInfo:
        """Runs the connector's test and records connected or disconnected, and when. A
        placeholder is refused with the command that authorises it (nothing to test yet).
        A test still running after `TEST_TIMEOUT` is disconnected: it is left to end in a
        daemon thread (Python cannot stop the connector's code), which holds no exit. A
        test whose own code failed says where (`_test_failed`)."""
        conn = self.open(name)
        outcome: list[tuple[str | None, str]] = []

        def run() -> None:
            try:
                outcome.append((conn.connector.run_test(conn) or None, "connected"))
            except (LpstudioError, OSError, httpx.HTTPError) as exc:  # the app or the network
                outcome.append((f"{type(exc).__name__}: {exc}", "disconnected"))
            except Exception as exc:  # a KeyError, a RuntimeError...: the test's code
                outcome.append((str(self._test_failed(conn, exc)), "disconnected"))
            finally:
                conn.close()

        thread = threading.Thread(target=run, name=f"lpstudio-test-{name}", daemon=True)
        thread.start()
        thread.join(TEST_TIMEOUT)
        if outcome:
            message, status = outcome[0]
        else:
            message, status = str(self._timed_out(conn)), "disconnected"
        message = message and scrub_text(message, self.secret_values())
        with self.store.write() as s:
            stored = s.get_one(ConnectionRow, name)
            stored.status, stored.status_message, stored.tested_at = status, message, utcnow()
        self._audit("test_connection", name, status=status)
        return self.get(name)

    def _test_failed(self, conn: Connection, exc: Exception) -> LpstudioError:
        """Why a test whose own code raised (not a `ConnectorError`: the app's refusal, said
        as it is) failed: its file and line, as a load error names them (`code_place`), and
        its traceback in the log, masked of the workspace's secrets as logs are. Said only
        as `KeyError: 'account'`, its author could not find the line."""
        connector = conn.connector
        place = code_place(connector, connector._test or connector.run_test, exc)
        at = f" ({place[0]}, line {place[1]})" if place else ""
        shown = f"{place[0]}, line {place[1]}" if place else connector.shown_source
        hidden = self.secret_values() | self.store.secrets
        said = scrub_text("".join(traceback.format_exception(exc)).rstrip(), hidden)
        log.error("the test of connection %s failed in its connector's code: %s", conn.name, said)
        return LpstudioError(
            f"the test of connector {connector.name} failed in its own code: "
            f"{type(exc).__name__}: {exc}{at}",
            fix=f"correct the connector's test in {shown} (the log has its traceback), then "
            f"`lpstudio connections test {word(conn.name)}`",
        )

    def _timed_out(self, conn: Connection) -> LpstudioError:
        """Why a test did not end in time, naming the field that sets the URL its latest
        request went to (the connector says which: `Connector.field_of_url`) with the
        command that sets it. A test that sent nothing names the connector's URL fields,
        and the connector's file when it is the workspace's own (the admin's to read), by
        its path in the workspace (`connectors/hang.py`) as every answer names one."""
        said = f"the test did not end within {TEST_TIMEOUT:g} s"
        test = f"`lpstudio connections test {word(conn.name)}`"
        field = conn.connector.field_of_url(conn, conn.reaching) if conn.reaching else None
        if field:
            return LpstudioError(
                f"{said}: {conn.reaching} did not answer in time (the connection's {field} "
                "sets where it goes)",
                field=field,
                fix=f"check that {field} is right and its host is up: "
                f"{_update_field(conn.name, field)}, then {test}",
            )
        urls = [
            spec.name
            for spec in conn.connector.fields
            if spec.type == "url" and not spec.secret and conn.config.get(spec.name)
        ]
        reached = f": {conn.reaching} did not answer in time" if conn.reaching else ""
        check = (
            "check the URL in "
            + " and ".join(f"{name} ({_update_field(conn.name, name)})" for name in urls)
            + ", then "
            if urls
            else "check the app's URL, then "
        )
        source = Path(conn.connector.source) if conn.connector.source else None
        own = source is not None and source.resolve().is_relative_to(Path(self.root).resolve())
        shown = conn.connector.shown_source  # by its path in the workspace, not the server's
        return LpstudioError(
            f"{said}{reached}",
            field=urls[0] if len(urls) == 1 else None,
            fix=check + test + (f"; the connector's test is in {shown}" if own else ""),
        )


def _update_field(name: str, field: str) -> str:
    """The command that sets a plain field of connection `name`."""
    return f"`lpstudio connections update {word(name)} --field {field}=...`"


@dataclass(frozen=True)
class SlotUse:
    """A recipe's slot that a connection fills: bound in its settings, or by default (the
    recipe being started)."""

    recipe: str
    slot: str
    by_default: bool

    def __str__(self) -> str:
        how = ", by default, started" if self.by_default else ""
        return f"{self.recipe} (slot {self.slot}{how})"


def check_bound_exist(session: Session, bound: dict[str, str], recipe: str | None = None) -> None:
    """Refuses bindings (slot -> connection) of `recipe` to a connection deleted since they
    were checked: read in the transaction that writes them, as `Connections.remove` reads
    the bindings in its own."""
    found = set(
        session.scalars(select(ConnectionRow.name).where(ConnectionRow.name.in_(bound.values())))
    )
    for slot, name in bound.items():
        if name not in found:
            raise InputError(
                f"slot '{slot}' is bound to connection {quoted(name)}, which was just deleted",
                field=f"connections.{slot}",
                fix=f"bind an existing connection with {_choose(slot, recipe)}",
            )


def _choose(slot: str, recipe: str | None) -> str:
    """The command that binds a connection to `recipe`'s slot. `RECIPE` where the caller
    names no recipe: those callers only ask which connection would fill a slot, and drop
    the refusal (`Connections.uses`, a package's import, a version's restore)."""
    return f"`lpstudio settings {word(recipe) if recipe else 'RECIPE'} --connection {slot}=NAME`"


def workspace_secrets(workspace: Workspace) -> frozenset[str]:
    """Every secret of `workspace` read from outside a job (a notebook run by papermill
    itself, a CLI error): its connections' and its store URL's password. What cannot be
    read (a store that is down, a key that opens nothing) hides nothing more, and is not
    an error here: the store URL's password is known from the URL alone."""
    store = Store(workspace.store_url)
    hidden = store.secrets
    try:
        with contextlib.suppress(Exception):  # only what could be read is masked
            hidden |= Connections(store, workspace.key_path, workspace.root).secret_values()
    finally:
        store.close()
    return hidden


def _holds_secret(key: str, type_: str, secret_names: list[str]) -> InputError:
    """Why a plain field's value is refused; the value itself is never quoted."""
    where = (
        f"{type_}'s secret fields: {', '.join(secret_names)}, given with `--secret FIELD`"
        if secret_names
        else f"{type_} has no secret field"
    )
    return InputError(
        f"field '{key}' holds a secret of this workspace (a connection's secret or the "
        "store's password): a plain field is shown in clear",
        field=key,
        fix=f"give {key} its right value; a secret goes in a secret field, which is never "
        f"shown ({where})",
    )


def refuse_held_secret(name: str, field: str, what: str, hidden: Collection[str], fix: str) -> None:
    """Refuses a name people type (a connection, a project, a user...) that holds one of
    the `hidden` secrets, without quoting it: a name is shown in clear, by listings, the
    API, the studio and the audit log, as a plain field is (`_holds_secret`)."""
    if scrub_text(name, hidden) != name:
        raise InputError(
            f"the {what} holds a secret of this workspace (a connection's secret or the "
            "store's password): a name is shown in clear",
            field=field,
            fix=f"{fix}; a secret goes in a connection's secret field, which is never shown",
        )


def _check_name(name: str, hidden: Collection[str] = ()) -> None:
    """Refuses a name that is no connection name, or that holds one of the `hidden` secrets
    (checked first, so that no refusal quotes it)."""
    refuse_held_secret(
        name,
        "name",
        "connection name",
        hidden,
        "name the connection for what it links to, e.g. crm-hooks (`--secret FIELD` for secrets)",
    )
    if not NAME_PATTERN.match(name):
        raise InputError(
            f"invalid connection name {quoted(name)}",
            field="name",
            fix=f"use {NAME_SAID}, e.g. lp-prod",
        )


def authorise_fix(name: str, secrets: list[str]) -> str:
    """How a placeholder is given its secrets: `update`, which reads each from the
    environment, a hidden prompt or standard input (never from its command line)."""
    given = " ".join(f"--secret {secret}" for secret in secrets)
    where = ", ".join(f"${'LPSTUDIO_SECRET_' + secret.upper()}" for secret in secrets)
    return (
        f"authorise it with `lpstudio connections update {name} {given}` (each secret is "
        f"read from {where}, a hidden prompt or standard input)"
    )


def _lacking(name: str, connector: Connector, config: dict[str, Any]) -> InputError | None:
    """Why connection `name`, holding `config`, cannot be opened: it lacks fields its
    connector requires with no default, renamed or added in the connector's code since it
    was saved (an upgrade of its package). None when it has them all. The one rule of what
    a connection lacks: its state (`_info`), a recipe's readiness (`bind_connections`) and
    opening it for a job or a test all ask it."""
    known = {spec.name for spec in connector.fields}
    missing = [
        spec
        for spec in connector.fields
        if spec.required and spec.default is None and spec.name not in config
    ]
    if not missing:
        return None
    return _incomplete(name, connector, missing, sorted(set(config) - known))


def _incomplete(
    name: str, connector: Connector, missing: list[Field], unknown: list[str]
) -> InputError:
    """Why a connection lacking fields its connector requires cannot be opened: they were
    renamed or added in the connector's code since it was saved (`unknown`: the stored
    fields its code no longer has, the old names)."""
    names = ", ".join(f"'{spec.name}' ({spec.label})" for spec in missing)
    held = (
        f" (it holds {', '.join(unknown)}, which {connector.name} no longer has)" if unknown else ""
    )
    given = " ".join(
        f"--secret {spec.name}" if spec.secret else f"--field {spec.name}=..." for spec in missing
    )
    return InputError(
        f"connection {quoted(name)} has no value for {'field' if len(missing) == 1 else 'fields'} "
        f"{names}, which connector {connector.name} requires{held}",
        field=missing[0].name,
        fix=f"give {'it' if len(missing) == 1 else 'them'} with "
        f"`lpstudio connections update {name} {given}`",
    )


def _placeholder(name: str, fix: str | None, field: str) -> InputError:
    return InputError(
        f"connection {quoted(name)} is a placeholder: it was imported without its secrets",
        field=field,
        fix=fix or f"authorise it with `lpstudio connections update {name} --secret FIELD`",
    )


def _not_found(name: str, exists: Callable[[str], bool]) -> NotFoundError:
    """Why no connection is named `name`; one named so in lower case is the one meant."""
    return NotFoundError(
        f"no connection named {quoted(name)}",
        field="connection",
        fix=_in_lower_case(name, exists) or "list them with `lpstudio connections list`",
    )


def _in_lower_case(name: str, exists: Callable[[str], bool]) -> str | None:
    """The fix for `name` given in another case (`LivePerson`) when it `exists` in lower
    case: names are lower case only (`NAME_PATTERN`), so no other connection was meant, and
    "list them" left its sender to find that out. None otherwise."""
    lower = name.lower()
    if lower == name or not exists(lower):
        return None
    return f"connection names are lower case: did you mean {quoted(lower)}?"


def _in_use(name: str, uses: list[SlotUse]) -> InputError:
    """Why connection `name` cannot be removed: the recipes using it, and how to free it."""
    recipes = sorted({use.recipe for use in uses})
    count = f"{len(recipes)} recipe{'s' if len(recipes) > 1 else ''}"
    first = uses[0]
    fix = (
        "bind another connection to each of these slots first, e.g. "
        f"`lpstudio settings {word(first.recipe)} --connection {first.slot}=OTHER`"
    )
    stop = sorted({use.recipe for use in uses if use.by_default})
    if stop:
        fix += f", or stop {', '.join(stop)} (`lpstudio stop {word(stop[0])}`)"
    return InputError(
        f"connection {quoted(name)} is used by {count}: {', '.join(map(str, uses))}",
        field="connection",
        fix=f"{fix}; then remove {quoted(name)}",
    )


def bind_connections(
    slots: dict[str, dict[str, Any]],
    chosen: dict[str, str],
    available: list[ConnectionInfo],
    *,
    ready: bool = True,
    recipe: str | None = None,
    trigger: dict[str, Any] | None = None,
    root: Path | None = None,
) -> dict[str, str]:
    """Which connection fills each slot of `recipe`: the chosen one, else the one named like
    the slot, else the only connection of the slot's type. Refuses what does not fit, saying
    why and how to choose for that recipe, and, unless `ready` is false (settings may be
    saved before it is authorised or completed; they cannot be used), a placeholder or a
    connection lacking a field its connector now requires (`ConnectionInfo.incomplete`,
    with the command that gives it: whatever its last test said). Every slot's
    problem is said in one refusal: slots that no connection fills together, with the
    commands that create what each needs
    (`trigger`: the recipe's, whose webhook checks signatures with a secret of its slot's
    connection; `root`: the workspace, whose own connectors may fill them)."""
    by_name = {info.name: info for info in available}
    # Placeholders, and those lacking a field their connector requires, by name with the
    # slots each fills: refused together at the end, each once (`_once_in`).
    placeholders: dict[str, tuple[ConnectionInfo, list[str]]] = {}
    incomplete: dict[str, tuple[InputError, list[str]]] = {}

    def _ready(info: ConnectionInfo, slot: str) -> str:
        if ready and info.status == PLACEHOLDER:
            placeholders.setdefault(info.name, (info, []))[1].append(slot)
        elif ready and info.incomplete is not None:
            incomplete.setdefault(info.name, (info.incomplete, []))[1].append(slot)
        return info.name

    def _fill(slot: str, spec: dict[str, Any]) -> str | None:
        """The connection filling `slot`, None when none could."""
        wanted = spec.get("type")
        if slot in chosen:
            info = by_name.get(chosen[slot])
            if info is None:
                raise InputError(
                    f"slot '{slot}' is bound to connection {quoted(chosen[slot])}, which does not "
                    "exist",
                    field=f"connections.{slot}",
                    fix=_in_lower_case(chosen[slot], by_name.__contains__)
                    or f"bind an existing connection with {_choose(slot, recipe)}",
                )
            if wanted and info.type != wanted:
                raise InputError(
                    f"slot '{slot}' needs a {wanted} connection, but '{info.name}' is {info.type}",
                    field=f"connections.{slot}",
                    fix=f"bind a {wanted} connection",
                )
            return _ready(info, slot)
        if slot in by_name and (not wanted or by_name[slot].type == wanted):
            return _ready(by_name[slot], slot)
        fitting = [info.name for info in available if wanted and info.type == wanted]
        if len(fitting) == 1:
            return _ready(by_name[fitting[0]], slot)
        if not fitting:
            return None
        raise InputError(
            f"several {wanted} connections could fill slot '{slot}': {', '.join(fitting)}",
            field=f"connections.{slot}",
            fix=f"choose one with {_choose(slot, recipe)}",
        )

    bound: dict[str, str] = {}
    unfilled: list[str] = []
    problems: list[InputError] = []  # every slot's, said together
    for slot, spec in slots.items():
        try:
            name = _fill(slot, spec)
        except InputError as exc:
            problems.append(exc)
            continue
        if name is None:
            unfilled.append(slot)
        else:
            bound[slot] = name
    if unfilled:
        problems.append(_no_connection({slot: slots[slot] for slot in unfilled}, trigger, root))
    if placeholders:
        problems.append(_placeholders(placeholders))
    problems += [_once_in(said, filled) for said, filled in incomplete.values()]
    if problems:
        raise _together(problems)
    return bound


def _once_in(said: InputError, slots: list[str]) -> InputError:
    """A connection's problem (a placeholder, a lack: `_lacking`) as a recipe's readiness
    says it: once, naming the slots it fills when it fills several (said once per slot,
    the same message and fix were repeated)."""
    filled = f" (it fills {_slots(slots)})" if slots[1:] else ""
    return InputError(said.message + filled, field=f"connections.{slots[0]}", fix=said.fix)


def _slots(slots: list[str]) -> str:
    """`slots` named in a sentence: "slot 'a'", "slots 'a' and 'b'"."""
    quoted = [f"'{slot}'" for slot in slots]
    if not quoted[1:]:
        return f"slot {quoted[0]}"
    return f"slots {', '.join(quoted[:-1])} and {quoted[-1]}"


def _together(problems: list[InputError]) -> InputError:
    """The problems of several slots as one refusal, each with its fix, naming the first's
    field: one said alone hid the others until it was mended."""
    if len(problems) == 1:
        return problems[0]
    return InputError(
        "; ".join(problem.message for problem in problems),
        field=problems[0].field,
        fix="; ".join(problem.fix for problem in problems if problem.fix),
    )


def _placeholders(by_name: dict[str, tuple[ConnectionInfo, list[str]]]) -> InputError:
    """Why the connections `by_name` (each with the slots it fills) cannot be used yet: each
    was imported without its secrets. Named together, each once with its fix (an imported
    project's start named one a try, and the next only once that one was authorised)."""
    if len(by_name) == 1:
        ((info, slots),) = by_name.values()
        return _once_in(_placeholder(info.name, info.status_message, ""), slots)
    named = [f"'{info.name}' ({_slots(slots)})" for info, slots in by_name.values()]
    fixes = [
        info.status_message
        or f"authorise {info.name} with `lpstudio connections update {info.name} --secret FIELD`"
        for info, _ in by_name.values()
    ]
    return InputError(
        f"connections {', '.join(named[:-1])} and {named[-1]} are placeholders: they were "
        "imported without their secrets",
        field=f"connections.{next(iter(by_name.values()))[1][0]}",
        fix="; ".join(fixes),
    )


def _no_connection(
    slots: dict[str, dict[str, Any]], trigger: dict[str, Any] | None, root: Path | None
) -> InputError:
    """Why `slots` (those of a recipe that no connection fills) cannot be used, with the
    commands that create a connection for each, given what it needs: its connector's
    required fields and the secret the recipe's webhook checks signatures with (a fix
    naming neither led to a second refusal once followed)."""
    said, commands, secrets = [], [], []
    for slot, spec in slots.items():
        wanted = spec.get("type")
        needs, signs = _needed_fields(slot, wanted, trigger, root)
        said.append(
            f"{'a ' if said else ''}{wanted + ' ' if wanted else ''}connection for slot '{slot}'"
            + (
                f" (its webhook trigger checks each delivery's signature with the "
                f"connection's {signs})"
                if signs
                else ""
            )
        )
        given = [f"--secret {f.name}" if f.secret else f"--field {f.name}=..." for f in needs]
        commands.append(
            f"`lpstudio connections add {slot} --type {wanted or 'TYPE'} "
            f"{' '.join(given) or '--field ...'}`"
        )
        secrets += [f"$LPSTUDIO_SECRET_{f.name.upper()}" for f in needs if f.secret]
    read = (
        f" (each secret is read from {', '.join(secrets)}, a hidden prompt or standard input)"
        if secrets
        else ""
    )
    return InputError(
        f"no {', nor '.join(said)}",
        field=f"connections.{next(iter(slots))}",
        fix=f"create {'one' if len(commands) == 1 else 'them'} with {' and '.join(commands)}"
        + read,
    )


def _needed_fields(
    slot: str, wanted: str | None, trigger: dict[str, Any] | None, root: Path | None
) -> tuple[list[Field], str | None]:
    """The fields a new connection for `slot` must be given (those its connector requires
    and has no default for, and the secret the recipe's webhook trigger checks each
    delivery's signature with, if the trigger is on this slot), and the name of that
    secret. Nothing for a connector that does not load (the recipe's reading says why)."""
    if not wanted:
        return [], None
    try:
        connector = get_connector(wanted, root)
    except LpstudioError:
        return [], None
    signs = None
    if trigger and trigger.get("kind") == "webhook" and trigger.get("connection") == slot:
        hook = connector.webhook_triggers.get(trigger.get("trigger", "webhook"))
        signs = hook.secret_field if hook is not None and hook.verify is not None else None
    required = set(connector.config_schema()["required"])
    needs = [f for f in connector.fields if f.name in required or f.name == signs]
    return needs, signs
