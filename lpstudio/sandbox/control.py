"""The control API under `/_sandbox/`: how tests and demos steer and inspect the sandbox.

No authentication: the sandbox listens on loopback only and holds test data only. These
routes are never faulted or rate limited, so a test can always see what really happened.
"""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from .faults import FaultPlan
from .handlers import ApiError, SandboxHandler
from .state import SandboxState


class ControlHandler(SandboxHandler):
    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": message}

    def json_object(self) -> dict[str, Any]:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, "The body must be a JSON object")
        return body


class ResetHandler(ControlHandler):
    """`POST /_sandbox/reset`: back to the start (seed data, start-up settings, no faults).

    With the body `{"keep_settings": true}` the settings in force are kept.
    """

    def post(self) -> None:
        body = self.json_body() if self.request.body else {}
        if not isinstance(body, dict) or not isinstance(body.get("keep_settings", False), bool):
            raise ApiError(400, 'The body must be empty or {"keep_settings": true|false}')
        self.state.reset(keep_settings=body.get("keep_settings", False))
        self.send_json({"reset": True})


class SettingsHandler(ControlHandler):
    """`GET /_sandbox/settings`, `PATCH /_sandbox/settings` with some fields."""

    def get(self) -> None:
        self.send_json(self.state.settings.to_dict())

    def patch(self) -> None:
        try:
            settings = self.state.update_settings(self.json_object())
        except ValueError as error:
            raise ApiError(400, str(error)) from error
        self.send_json(settings.to_dict())


class AddCheckoutsHandler(ControlHandler):
    """`POST /_sandbox/shopify/checkouts` with one checkout or a list; answers them with ids."""

    def post(self) -> None:
        body = self.json_body()
        items = body if isinstance(body, list) else [body]
        if not all(isinstance(item, dict) for item in items):
            raise ApiError(400, "Send a checkout object or a list of them")
        try:
            added = self.state.add_checkouts(items)
        except (ValueError, TypeError, KeyError) as error:
            raise ApiError(400, f"Invalid checkout: {error}") from error
        self.send_json({"checkouts": added})


class UpdateCheckoutHandler(ControlHandler):
    """`PATCH /_sandbox/shopify/checkouts/{id}` with the fields to change, as a customer
    editing their cart or completing it does; `updated_at` becomes now unless given."""

    def patch(self, checkout_id: str) -> None:
        try:
            updated = self.state.update_checkout(int(checkout_id), self.json_object())
        except KeyError as error:
            raise ApiError(404, f"No checkout {checkout_id}") from error
        except (ValueError, TypeError) as error:
            raise ApiError(400, f"Invalid checkout: {error}") from error
        self.send_json(updated)


class CampaignsHandler(ControlHandler):
    """`GET /_sandbox/liveperson/campaigns`: every accepted campaign request, as received."""

    def get(self) -> None:
        self.send_json({"campaigns": self.state.campaign_records()})


class RecipientsHandler(ControlHandler):
    """`GET /_sandbox/liveperson/recipients`: each accepted address and how often."""

    def get(self) -> None:
        self.send_json({"recipients": self.state.recipient_records()})


class RequestsHandler(ControlHandler):
    """`GET /_sandbox/requests`: method, path and status of every call but control calls."""

    def get(self) -> None:
        entries = [e for e in self.state.request_log() if not e["path"].startswith("/_sandbox/")]
        self.send_json({"requests": entries})


class FaultsHandler(ControlHandler):
    """`GET`, `POST` (install a plan, optionally `expire_tokens`, `seed`), `DELETE` faults."""

    def get(self) -> None:
        plan = self.state.faults()
        self.send_json({"faults": plan.to_dict() if plan else None})

    def post(self) -> None:
        body = self.json_object()
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ApiError(400, "seed must be an integer")
        try:
            plan = FaultPlan.from_json(body)
        except (ValueError, TypeError) as error:
            raise ApiError(400, str(error)) from error
        if body.get("expire_tokens"):
            self.state.expire_tokens()
        self.state.set_faults(plan, seed)
        self.send_json({"faults": plan.to_dict()})

    def delete(self) -> None:
        self.state.clear_faults()
        self.send_json({"faults": None})


def routes(state: SandboxState) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    args = {"state": state}
    return [
        (r"/_sandbox/reset", ResetHandler, args),
        (r"/_sandbox/settings", SettingsHandler, args),
        (r"/_sandbox/shopify/checkouts", AddCheckoutsHandler, args),
        (r"/_sandbox/shopify/checkouts/(?P<checkout_id>\d+)", UpdateCheckoutHandler, args),
        (r"/_sandbox/liveperson/campaigns", CampaignsHandler, args),
        (r"/_sandbox/liveperson/recipients", RecipientsHandler, args),
        (r"/_sandbox/requests", RequestsHandler, args),
        (r"/_sandbox/faults", FaultsHandler, args),
    ]
