"""Shopify: abandoned checkouts, polled through the Admin REST API.

A checkout is abandoned once the customer gave contact details but did not pay; each new or
updated one is an event. Pages follow the `Link` header, each sent once the shop's leaky
bucket has room for it by `X-Shopify-Shop-Api-Call-Limit` (`32/40`: the bucket empties by
`LEAK_PER_SECOND`), so a poll does not run into the limit the shop's other apps share; 429
answers are waited out for their `Retry-After` (unless it is longer than `MAX_WAIT`: the
poll then fails as retryable and the next one picks up). Reading changes nothing, so a lost
answer or a 5xx is simply asked again (`NETWORK_TRIES` times in all, then the poll fails as
retryable). The cursor is an `updated_at` window start (see `_next_start`) and, between
polls of one window, the next page's link with the shop it leads into.
"""

from __future__ import annotations

import email.utils
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from lpstudio.sdk import Connection, Connector, ConnectorError, Field, Page, retry_after

MAX_PAGES_PER_POLL = 10
PAGE_SIZE = 250
MAX_TRIES = 8
MAX_WAIT = 30.0
NETWORK_TRIES = 3
#: A stable version inside Shopify's support window (each is supported for 12 months).
API_VERSION = "2026-10"
#: What an API version looks like: the form of a path segment of every request.
#: Shopify releases a version each quarter: YYYY-01, -04, -07 and -10 (or `unstable`).
_VERSION = re.compile(r"^(?:[0-9]{4}-(?:01|04|07|10)|unstable)(?!\n)$")  # `$` takes a final \n
#: How fast Shopify's REST bucket empties, in calls a second (4 on Shopify Plus: the
#: standard rate waits a little longer there, never too little).
LEAK_PER_SECOND = 2.0
_CALL_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
#: Seconds between the shop's `Date` header (whole seconds) and its `updated_at` clocks.
CLOCK_MARGIN = 2.0

#: What the `shop` field takes (`base_url` reads it): a *.myshopify.com name, or a URL.
_SHOP_FIELD = r"^\s*(?:[a-z0-9][a-z0-9-]*\.myshopify\.com|https?://\S+?)/?\s*$"

connector = Connector(
    "shopify",
    title="Shopify",
    description="Abandoned checkouts of a Shopify store.",
    fields=[
        Field(
            "shop",
            "Shop",
            hint="your-store.myshopify.com (or a full URL, for the sandbox)",
            pattern=_SHOP_FIELD,  # refused when the connection is saved, not at its test
        ),
        Field(
            "access_token",
            "Admin API access token",
            secret=True,
            hint="From a custom app with the read_orders scope",
        ),
        Field(
            "api_version",
            "API version",
            default=API_VERSION,
            hint="YYYY-MM of a quarter (01, 04, 07 or 10), or unstable",
            pattern=_VERSION.pattern,  # refused when the connection is saved, not at a poll
        ),
    ],
)

connector.object(
    "checkout",
    {
        "type": "object",
        "title": "Abandoned checkout",
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "completed_at": {"type": ["string", "null"]},
            "abandoned_checkout_url": {"type": "string", "title": "Recovery URL"},
            "email": {"type": ["string", "null"]},
            "phone": {"type": ["string", "null"]},
            "customer": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "first_name": {"type": "string"},
                    "last_name": {"type": "string"},
                    "phone": {"type": ["string", "null"]},
                },
            },
            "line_items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "title": {"type": "string"},
                        "quantity": {"type": "integer"},
                        "price": {"type": "string"},
                    },
                },
            },
            "total_price": {"type": "string"},
            "currency": {"type": "string"},
        },
    },
)

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
#: Shopify's API versions: a quarter's YYYY-MM, or `unstable` (ASCII digits, whole text).


class _Again(Exception):
    """An answer or failure after which the same read may simply be tried again."""

    def __init__(self, wait: float, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.wait = wait
        self.reason = reason
        self.status = status


def base_url(conn: Connection) -> str:
    shop = str(conn.config["shop"]).strip().rstrip("/")
    if shop.startswith(("http://", "https://")):
        return shop
    if not _SHOP.match(shop):
        raise ConnectorError(
            f"shop {shop!r} is not a *.myshopify.com name; use your-store.myshopify.com",
            field="shop",
            fix="set shop to your-store.myshopify.com",
        )
    return f"https://{shop}"


def _get(conn: Connection, url: str, params: dict[str, Any] | None) -> httpx.Response:
    if _origin(url) != _origin(base_url(conn)):
        raise ConnectorError(
            f"Shopify's next page is on another host ({_origin(url)}), not the shop: the "
            "access token was not sent there",
            field="shop",
        )
    headers = {"X-Shopify-Access-Token": str(conn.config["access_token"])}

    failures = [0]

    def passing(reason: str, status: int | None = None) -> _Again:
        """A failure a read may simply repeat (no answer, a 5xx): again in a second, until
        the last of `NETWORK_TRIES` ends the poll as retryable."""
        failures[0] += 1
        if failures[0] >= NETWORK_TRIES:
            raise ConnectorError(
                f"{reason}, {NETWORK_TRIES} tries; the next poll tries again",
                retryable=True,
                status=status,
            )
        return _Again(1.0, reason, status=status)

    def attempt() -> httpx.Response:
        try:
            response = conn.http().get(url, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise passing(f"no answer from Shopify ({type(exc).__name__})") from exc
        if response.status_code == 429:
            wait = retry_after(response.headers.get("Retry-After"))
            wait = 2.0 if wait is None else wait
            if wait > MAX_WAIT:
                raise ConnectorError(
                    f"Shopify's rate limit asks to wait {wait:g} s; the next poll tries again",
                    retryable=True,
                    status=429,
                )
            raise _Again(wait, "HTTP 429 (rate limit)", status=429)
        if response.status_code >= 500:  # Shopify's edge, passing: a read is safe to repeat
            raise passing(f"Shopify answered HTTP {response.status_code}", response.status_code)
        if response.status_code != 200:
            raise ConnectorError(
                f"Shopify answered HTTP {response.status_code}: {conn.excerpt(response.text, 200)}",
                status=response.status_code,
            )
        return response

    try:
        for tried in Retrying(
            retry=retry_if_exception_type(_Again),
            wait=lambda state: state.outcome.exception().wait,
            stop=stop_after_attempt(MAX_TRIES),
            reraise=True,
        ):
            with tried:
                return attempt()
    except _Again as exc:
        raise ConnectorError(
            f"Shopify did not answer after {MAX_TRIES} tries: {exc.reason}",
            retryable=True,
            status=exc.status,
        ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _checkouts(response: httpx.Response) -> list[dict[str, Any]]:
    """A page's checkouts; a 200 that is not Shopify's JSON (a proxy's or a login page) is a
    retryable error naming what came, not a JSONDecodeError (the poll read nothing)."""
    try:
        checkouts = response.json().get("checkouts", [])
    except (ValueError, AttributeError):
        checkouts = None
    if not isinstance(checkouts, list) or not all(isinstance(c, dict) for c in checkouts):
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise ConnectorError(
            f"Shopify answered HTTP {response.status_code} with no checkouts list ({kind}); "
            "nothing was read, the next poll asks again",
            retryable=True,
            status=response.status_code,
        )
    return checkouts


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _api_version(conn: Connection) -> str:
    """The shop's API version (the default when empty); a version that is not one is refused
    naming the field, before anything is asked."""
    version = str(conn.config.get("api_version") or API_VERSION)
    if not _VERSION.fullmatch(version):
        raise ConnectorError(
            f"api_version {version[:40]!r} is not a Shopify API version (YYYY-MM of a quarter: "
            "01, 04, 07 or 10; or unstable)",
            field="api_version",
            fix=f"set api_version to a version your shop supports, such as {API_VERSION}",
        )
    return version


def _checkouts_url(conn: Connection) -> str:
    """The checkouts list of the shop's API version."""
    return f"{base_url(conn)}/admin/api/{_api_version(conn)}/checkouts.json"


@connector.test
def test(conn: Connection) -> str:
    _get(conn, _checkouts_url(conn), {"limit": 1})
    return f"store {base_url(conn)}"


def _moment(text: Any) -> datetime | None:
    """A Shopify timestamp (ISO 8601, the shop's offset) as an aware datetime, or None."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _order(checkout: dict[str, Any]) -> tuple[datetime, int]:
    # As instants, not text: a shop's offset changes with daylight saving.
    moment = _moment(checkout.get("updated_at")) or datetime.min.replace(tzinfo=UTC)
    return (moment, int(checkout.get("id") or 0))


def _room_in(response: httpx.Response) -> float:
    """Seconds until the shop's bucket, as its answer reports it, has room for one more
    call; 0 without the header, or when the wait would be longer than `MAX_WAIT` (the next
    call's 429 then ends the poll as retryable)."""
    found = _CALL_LIMIT.fullmatch(response.headers.get("X-Shopify-Shop-Api-Call-Limit", ""))
    if found is None:
        return 0.0
    used, size = map(int, found.groups())
    wait = max(0.0, (used + 1 - size) / LEAK_PER_SECOND)
    return wait if wait <= MAX_WAIT else 0.0


def _served_at(response: httpx.Response) -> str | None:
    """When the shop answered (its `Date` header), as ISO 8601; None without one."""
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _next_start(updated_min: str, found: list[dict[str, Any]], started: str | None) -> str:
    """Where the next window starts: the newest update seen, but, when the window took
    several pages, no later than when its first page was served (`started`, less
    `CLOCK_MARGIN`). Pages come in id order, so a checkout edited while later pages were
    read sits on a page already read, with an update older than newer ones seen on later
    pages: starting from the newest would skip it. What the next window reads twice, the
    trigger's key (id and `updated_at`) drops."""
    newest = found[-1]["updated_at"] if found else updated_min
    newest_at, start_at = _moment(newest), _moment(started)
    if newest_at is None or start_at is None:
        return newest
    bound = start_at - timedelta(seconds=CLOCK_MARGIN)
    if newest_at <= bound:
        return newest
    floor = _moment(updated_min)
    return (bound if floor is None else max(floor, bound)).isoformat()


@connector.poll_trigger(
    "new_or_updated_abandoned_checkout",
    title="New or updated abandoned checkout",
    object="checkout",
    key=lambda c: f"{c['id']}@{c.get('updated_at')}",
)
def poll_checkouts(conn: Connection, since: str, cursor: Any) -> Page:
    """Checkouts updated at or after the cursor (first: `since`), still open, oldest first.

    A window's next-page link is the shop's own, in the API version it was asked in: once
    the connection names another shop or another version (edited, or another connection
    bound to the slot; a version is changed when the old one leaves Shopify's support), the
    poll goes on from the window's start in that shop and version, and the trigger's keys
    drop what it had fired already. A cursor kept before versions were noted in it counts
    as in the current version."""
    cursor = dict(cursor or {})
    url: str | None = _checkouts_url(conn)
    shop, version = base_url(conn), _api_version(conn)
    moved = cursor.get("shop") != shop or cursor.get("version", version) != version
    if cursor.get("next") and moved:
        cursor = {"updated_at": cursor.get("updated_at")}
    updated_min = cursor.get("updated_at") or since
    params: dict[str, Any] | None = {
        "status": "open",
        "limit": PAGE_SIZE,
        "updated_at_min": updated_min,
    }
    started = cursor.get("started")
    pages = 0
    if cursor.get("next"):
        url, params, pages = cursor["next"], None, 1  # the window's earlier pages were read
    found: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES_PER_POLL):
        assert url is not None
        pages += 1
        response = _get(conn, url, params)
        started = started or _served_at(response)
        found.extend(c for c in _checkouts(response) if not c.get("completed_at"))
        url, params = response.links.get("next", {}).get("url"), None
        if url is None:
            break
        time.sleep(_room_in(response))
    found.sort(key=_order)
    if url is not None:  # more pages wait: resume from this page link, same window
        resume = {
            "updated_at": updated_min,
            "next": url,
            "started": started,
            "shop": shop,
            "version": version,
        }
        return Page(found, resume, more=True)
    # One page is one snapshot: its newest update is a safe start. Several are not.
    next_start = _next_start(updated_min, found, started if pages > 1 else None)
    return Page(found, {"updated_at": next_start})
