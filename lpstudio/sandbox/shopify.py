"""Shopify emulation: the REST abandoned-checkouts list, as the bundled connector reads it.

Paging follows Shopify's cursor rules: the first request carries the filters, every
following one only `page_info` (an opaque cursor that remembers the filters) and `limit`,
taken from the `Link` header. Checkouts come id ascending, so `since_id` is a safe cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from tornado.web import RequestHandler

from .handlers import ApiError, SandboxHandler
from .limits import retry_after
from .seed import parse_time
from .state import SandboxState

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
TIME_FILTERS = ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
FILTERS = ("since_id", "status", *TIME_FILTERS)
STATUSES = ("open", "closed")


class CheckoutsHandler(SandboxHandler):
    """`GET /admin/api/{version}/checkouts.json`."""

    scope = "shopify"

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"errors": message}

    def get(self, version: str) -> None:
        given = self.request.headers.get("X-Shopify-Access-Token", "")
        expected = self.state.settings.shopify_token
        if not secrets.compare_digest(given.encode(), expected.encode()):
            message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            raise ApiError(401, message)
        wait, used = self.state.admit_shopify()
        headers = {"X-Shopify-Shop-Api-Call-Limit": used}
        if wait:
            headers["Retry-After"] = str(retry_after(wait))
            raise ApiError(429, "Exceeded the call limit for api client.", headers=headers)
        args = {name: self.get_query_argument(name) for name in self.request.query_arguments}
        limit = _limit(args.get("limit"))
        if "page_info" in args:
            extra = sorted(set(args) - {"page_info", "limit"})
            if extra:
                raise ApiError(400, f"page_info cannot be combined with {extra[0]}")
            cursor = _decode(args["page_info"])
        else:
            cursor = {"filters": _filters(args)}
        page, has_previous, has_next = _page(self.state.checkouts(), cursor, limit)
        filters = cursor["filters"]
        links = []
        if page and has_previous:
            links.append(self._link(filters, limit, {"before": page[0]["id"]}, "previous"))
        if page and has_next:
            links.append(self._link(filters, limit, {"after": page[-1]["id"]}, "next"))
        if links:
            headers["Link"] = ", ".join(links)
        self.send_json({"checkouts": page}, headers)

    def _link(self, filters: dict[str, str], limit: int, position: dict[str, int], rel: str) -> str:
        page_info = _encode({"filters": filters, **position})
        url = f"{self.request.protocol}://{self.request.host}{self.request.path}"
        return f'<{url}?limit={limit}&page_info={page_info}>; rel="{rel}"'


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdecimal() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def _filters(args: dict[str, str]) -> dict[str, str]:
    """The filters of a first request, checked now so cursors only ever hold valid ones."""
    filters = {name: args[name] for name in FILTERS if name in args}
    if "since_id" in filters and not filters["since_id"].isdecimal():
        raise ApiError(400, "since_id must be a checkout id")
    if filters.setdefault("status", "open") not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
    for name in TIME_FILTERS:
        if name in filters:
            try:
                parse_time(filters[name])
            except ValueError as error:
                raise ApiError(400, f"{name} must be an ISO 8601 time") from error
    return filters


def _matches(checkout: dict[str, Any], filters: dict[str, str]) -> bool:
    if "since_id" in filters and checkout["id"] <= int(filters["since_id"]):
        return False
    if (checkout["completed_at"] is None) != (filters["status"] == "open"):
        return False
    for name in TIME_FILTERS:
        if name in filters:
            value = parse_time(checkout[name.rsplit("_", 1)[0]])
            bound = parse_time(filters[name])
            if value < bound if name.endswith("_min") else value > bound:
                return False
    return True


def _page(
    checkouts: list[dict[str, Any]], cursor: dict[str, Any], limit: int
) -> tuple[list[dict[str, Any]], bool, bool]:
    """(page, whether a previous page exists, whether a next page exists)."""
    matching = [c for c in checkouts if _matches(c, cursor["filters"])]
    if "before" in cursor:
        earlier = [c for c in matching if c["id"] < cursor["before"]]
        return earlier[-limit:], len(earlier) > limit, True
    after = cursor.get("after")
    rest = [c for c in matching if after is None or c["id"] > after]
    return rest[:limit], after is not None, len(rest) > limit


def _encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode().rstrip("=")


def _decode(page_info: str) -> dict[str, Any]:
    """A cursor from `_encode`; anything else (edited, truncated) is a 400."""
    try:
        cursor = json.loads(base64.urlsafe_b64decode(page_info + "=" * (-len(page_info) % 4)))
        filters = cursor["filters"]
        positions = [cursor[key] for key in ("before", "after") if key in cursor]
        if not all(isinstance(value, str) for value in filters.values()):
            raise ValueError(page_info)
        if len(positions) != 1 or not isinstance(positions[0], int):
            raise ValueError(page_info)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as error:
        raise ApiError(400, "page_info is invalid") from error
    return {**cursor, "filters": _filters(filters)}


def routes(state: SandboxState) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    return [
        (
            r"/admin/api/(?P<version>\d{4}-\d{2}|unstable)/checkouts\.json",
            CheckoutsHandler,
            {"state": state},
        )
    ]
