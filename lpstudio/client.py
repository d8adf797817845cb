"""`ConnectionClient`: a connection as recipe code uses it, actions as methods.

    lp = lpstudio.kernel.connection("liveperson")
    lp.send_campaign(handoff="H1000000001", campaign_name="Reminder", ...)
    lp.picklist("handoffs")

Action inputs are checked against the action's input schema first, so a mistake is named
by its field before anything is sent.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from .errors import InputError
from .sdk import Connection, Option, Page


def _for_validation(data: dict[str, Any]) -> dict[str, Any]:
    # A DataFrame of recipients is streamed, not listed: check it as an (empty) array.
    return {k: ([] if hasattr(v, "iloc") else v) for k, v in data.items()}


class ConnectionClient:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

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
        return spec.run(self.connection, data)

    def picklist(self, name: str) -> list[Option]:
        connector = self.connection.connector
        if name not in connector.picklists:
            raise InputError(
                f"connector {connector.name} has no pick list '{name}'",
                field="picklist",
                fix=f"use one of: {', '.join(connector.picklists)}",
            )
        return connector.picklists[name].fetch(self.connection)

    def poll(self, trigger: str, since: str, cursor: Any = None) -> Page:
        return self.connection.connector.poll_triggers[trigger].poll(self.connection, since, cursor)

    def test(self) -> str:
        return self.connection.connector.run_test(self.connection)
