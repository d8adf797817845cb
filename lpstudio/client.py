"""`ConnectionClient`: a connection as recipe code uses it, actions as methods.

    lp = lpstudio.kernel.connection("liveperson")
    lp.send_campaign(handoff="H1000000001", campaign_name="Reminder", ...)
    lp.picklist("handoffs")

Action inputs are checked against the action's input schema first, so a mistake is named
by its field before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema

from .errors import InputError
from .sdk import Connection, ConnectorError, Option, Page


def _for_validation(data: dict[str, Any]) -> dict[str, Any]:
    # A DataFrame of recipients is streamed, not listed: check it as an (empty) array.
    return {k: ([] if hasattr(v, "iloc") else v) for k, v in data.items()}


class ConnectionClient:
    """`keep_result` receives what a failed action did (`ConnectorError.result`) before the
    error goes on: a job records it as its result."""

    def __init__(
        self,
        connection: Connection,
        keep_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.connection = connection
        self.keep_result = keep_result

    def __repr__(self) -> str:
        return repr(self.connection)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.connection.connector.actions})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self.connection.connector.actions:
            raise AttributeError(name)
        return lambda **data: self.run(name, data)

    def run(self, action: str, data: dict[str, Any]) -> Any:
        connector = self.connection.connector
        spec = connector.actions.get(action)
        if spec is None:
            raise InputError(
                f"connector {connector.name} has no action '{action}'",
                field="action",
                fix=f"use one of: {', '.join(connector.actions)}",
            )
        validator = jsonschema.Draft202012Validator(spec.input_schema)
        for error in validator.iter_errors(_for_validation(data)):
            where = ".".join(map(str, error.absolute_path)) or action
            raise InputError(
                f"{connector.name}.{action}: '{where}' is invalid: {error.message}",
                field=where,
                fix="see the action's input schema in `lpstudio connectors --json`",
            )
        try:
            return spec.run(self.connection, data)
        except ConnectorError as exc:
            if self.keep_result is not None and exc.result is not None:
                self.keep_result(exc.result)
            raise

    def picklist(self, name: str) -> list[Option]:
        connector = self.connection.connector
        if name not in connector.picklists:
            raise InputError(
                f"connector {connector.name} has no pick list '{name}'",
                field="picklist",
                fix=f"use one of: {', '.join(connector.picklists)}"
                if connector.picklists
                else f"connector {connector.name} has no pick lists",
            )
        return connector.picklists[name].fetch(self.connection)

    def poll(self, trigger: str, since: str, cursor: Any = None) -> Page:
        return self.connection.connector.poll_triggers[trigger].poll(self.connection, since, cursor)

    def test(self) -> str:
        return self.connection.connector.run_test(self.connection)
