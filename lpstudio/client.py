"""`ConnectionClient`: a connection as recipe code uses it, actions as methods.

    lp = lpstudio.kernel.connection("liveperson")
    lp.send_campaign(handoff="H1000000001", campaign_name="Reminder", ...)
    lp.picklist("handoffs")

Action inputs are checked against the action's input schema first, so a mistake is named
by its field before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from .errors import InputError
from .jsonschemas import first_problem
from .redaction import scrub
from .sdk import Connection, ConnectorError, Option, Page

T = TypeVar("T")

SEE_SCHEMA = "see the action's input schema in `lpstudio connectors --json`"
#: What each action did so far in each run of a job, added up, by the job's ledger (one per
#: run, shared by its connections): a failed action's result, which becomes the job's, then
#: still counts the recipients the job's earlier campaigns reached.
_DONE_IN_RUN: WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = WeakKeyDictionary()


def _is_frame(value: Any) -> bool:
    """Whether `value` is a pandas DataFrame (a Series has `iloc` too, but no columns)."""
    return hasattr(value, "iloc") and hasattr(value, "columns")


def _for_validation(data: dict[str, Any]) -> dict[str, Any]:
    # A DataFrame of recipients is streamed, not listed: check it as an (empty) array.
    return {k: ([] if _is_frame(v) else v) for k, v in data.items()}


def _times_as_text(
    connector: str, action: str, schema: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    """`data` with each Python `datetime` given for an input that takes text as ISO 8601
    text (with its offset), which an analyst passes first (`start=datetime.now(UTC)`) and
    which no JSON schema can take; a naive one is refused, since which day it means
    depends on a zone it does not say."""
    given = {}
    for field, value in data.items():
        wanted = (_schema_at(schema, field) or {}).get("type")
        takes_text = "string" in (wanted if isinstance(wanted, list) else [wanted])
        if isinstance(value, datetime) and takes_text:
            if value.tzinfo is None or value.utcoffset() is None:
                raise InputError(
                    f"{connector}.{action}: '{field}' is a datetime without a time zone",
                    field=field,
                    fix=f"give {field} an aware datetime (datetime.now(UTC), or "
                    f".replace(tzinfo=UTC)), or ISO 8601 text with its offset",
                )
            value = value.isoformat()
        given[field] = value
    return given


def _series_problem(
    connector: str, action: str, schema: dict[str, Any], data: dict[str, Any]
) -> InputError | None:
    """A pandas Series given for records (an array of objects, as `recipients` is): it
    failed deep in the send ("Series.to_dict() takes 1 positional argument"), while a
    frame's column is what an analyst most often gives for one."""
    for field, value in data.items():
        wanted = _schema_at(schema, field) or {}
        items = wanted.get("items")
        records = isinstance(items, dict) and items.get("type") == "object"
        if records and hasattr(value, "iloc") and not _is_frame(value):
            return InputError(
                f"{connector}.{action}: '{field}' is a pandas Series; give a DataFrame or a "
                "list of records (dicts), one per row",
                field=field,
                fix=f"give {field}=series.to_frame() (one column, named as the Series), or "
                f"{field}=frame[[column, ...]] for columns of a DataFrame (frame[column] is a "
                "Series)",
            )
    return None


def _one_of(connector: str, named: Mapping[str, T], name: str, field: str, kind: str) -> T:
    """What `connector` declares as `name` among its `named` (actions, pick lists, poll
    triggers), or an InputError naming `field` and the names it has (`kind`)."""
    if name in named:
        return named[name]
    raise InputError(
        f"connector {connector} has no {kind.removesuffix('s')} '{name}'",
        field=field,
        fix=f"use one of: {', '.join(named)}" if named else f"connector {connector} has no {kind}",
    )


def _schema_at(schema: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The part of an input schema that describes `field` (a dotted path), if it says."""
    for part in field.split("."):
        if part.isdigit() and isinstance(schema.get("items"), dict):
            schema = schema["items"]
        elif isinstance(schema.get("properties"), dict) and part in schema["properties"]:
            schema = schema["properties"][part]
        else:
            return None
        if not isinstance(schema, dict):
            return None
    return schema


def _what_to_give(schema: dict[str, Any] | None) -> str | None:
    """What an input takes, in words: its values or type, and its description."""
    if not schema:
        return None
    if "enum" in schema:
        kind = "one of: " + ", ".join(map(repr, schema["enum"]))
    elif "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        kind = " or ".join(map(str, types))
    else:
        kind = ""
    described = schema.get("description") or schema.get("title") or ""
    return ": ".join(part for part in (kind, described) if part) or None


def _input_problem(
    connector: str, action: str, schema: dict[str, Any], data: Any
) -> InputError | None:
    """The first problem of an action's input, naming the input (or the action when the
    input as a whole is wrong), what is wrong and what to give; None when it fits."""
    problem = first_problem(schema, data)
    if problem is None:
        return None
    field, message = problem
    if field is None:
        return InputError(f"{connector}.{action}: {message}", field=action, fix=SEE_SCHEMA)
    expected = _what_to_give(_schema_at(schema, field))
    call = f"{connector}.{action}"
    if message.endswith("is a required property"):
        fix = f"give {field}=... ({expected})" if expected else f"give {field}=..."
        return InputError(f"{call}: the input '{field}' is required", field=field, fix=fix)
    if "was unexpected" in message:
        known = ", ".join(schema.get("properties", {})) or "none"
        return InputError(
            f"{call}: '{field}' is not an input of {action}",
            field=field,
            fix=f"give only the inputs {action} takes: {known}",
        )
    fix = f"give '{field}' as {expected}" if expected else SEE_SCHEMA
    return InputError(f"{call}: '{field}' is invalid: {message}", field=field, fix=fix)


def _added(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two accountings of one action as one (two campaigns': `accepted` adds up, `campaigns`
    and `failed` join); any other value is the later one's."""
    total = {**earlier, **later}
    for key, value in later.items():
        before = earlier.get(key)
        if isinstance(value, list) and isinstance(before, list):
            total[key] = [*before, *value]
        elif type(value) is int and type(before) is int:  # not bool: a flag is not summed
            total[key] = before + value
    return total


class ConnectionClient:
    """`keep_result` receives what a failed action did (`ConnectorError.result`) before the
    error goes on, added to what that action did before in the job (`_DONE_IN_RUN`): a job
    records it as its result, which then accounts for every campaign the job sent."""

    def __init__(
        self,
        connection: Connection,
        keep_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.connection = connection
        self.keep_result = keep_result

    def __repr__(self) -> str:
        if self.connection.dry_run:  # by hand or a test job: say so before any action runs
            return f"{self.connection!r} (dry run: actions return the requests they would send)"
        return repr(self.connection)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.connection.connector.actions})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # Python's and IPython's own probes: no action is private
            raise AttributeError(name)
        connector = self.connection.connector
        if name not in connector.actions:  # a mistyped action: say which there are
            actions = ", ".join(connector.actions)
            raise AttributeError(
                f"connector {connector.name} has no action '{name}': "
                + (f"use one of: {actions}" if actions else "it has no actions"),
                name=name,
                obj=self,
            )
        return lambda **data: self.run(name, data)

    def run(self, action: str, data: dict[str, Any]) -> Any:
        connector = self.connection.connector
        spec = _one_of(connector.name, connector.actions, action, "action", "actions")
        data = _times_as_text(connector.name, action, spec.input_schema, data)
        problem = _series_problem(
            connector.name, action, spec.input_schema, data
        ) or _input_problem(connector.name, action, spec.input_schema, _for_validation(data))
        if problem is not None:
            raise problem
        # Masked here, as pick lists are: a token the connector obtained and `hold`s is a
        # secret only this connection knows, which no job's scrubbing of its output can find.
        try:
            answer = scrub(spec.run(self.connection, data), self.connection.secrets())
        except ConnectorError as exc:
            if exc.result is not None:
                exc.result = scrub(exc.result, self.connection.secrets())
                done = self._account(action, exc.result)
                if self.keep_result is not None:
                    self.keep_result(done)
            raise
        self._account(action, answer)
        return answer

    def _account(self, action: str, result: Any) -> Any:
        """`result` (a send's accounting) added to what `action` did before in this run of
        the job; outside a job (by hand, where each cell's answer is shown alone), or any
        other result, `result` itself."""
        ledger = self.connection.ledger
        # Only a send's accounting (its `accepted` count, as the delivery ledger's sends
        # report): an app's answer (an http request's) is not added up, nor kept, on the path
        # of every call a job makes.
        if ledger.job_id is None or not isinstance(result, dict) or "accepted" not in result:
            return result
        done = _DONE_IN_RUN.setdefault(ledger, {})
        key = f"{self.connection.connector.name}.{action}"
        done[key] = _added(done.get(key, {}), result)
        return done[key]

    def picklist(self, name: str) -> list[Option]:
        connector = self.connection.connector
        picklist = _one_of(connector.name, connector.picklists, name, "picklist", "pick lists")
        # Masked here, where the REST API and the forms take them: a careless list (an
        # option that is the API key) would otherwise show the connection's secret.
        secrets = self.connection.secrets()
        return [
            Option(scrub(o.value, secrets), scrub(o.label, secrets), scrub(o.extra, secrets))
            for o in picklist.fetch(self.connection)
        ]

    def poll(self, trigger: str, since: str, cursor: Any = None) -> Page:
        connector = self.connection.connector
        polled = _one_of(
            connector.name, connector.poll_triggers, trigger, "trigger", "poll triggers"
        )
        return polled.poll(self.connection, since, cursor)

    def test(self) -> str:
        return self.connection.connector.run_test(self.connection)
