"""Shopify: abandoned checkouts, polled through the Admin REST API.

A checkout is abandoned once the customer gave contact details but did not pay; each new or
updated one is an event. Pages follow the `Link` header, each request sent once the shop's
leaky bucket has room for it by `X-Shopify-Shop-Api-Call-Limit` (`32/40`: the bucket
empties by `LEAK_PER_SECOND`), so a poll does not run into the limit the shop's other apps
share. The process keeps that room by shop and access token (`_ROOM`): the next poll of a
backlog, on a connection of its own, waits for it too, where it met a 429 from the bucket the
last one filled (a poll of another process may still meet one: it is waited out). 429
answers are waited out for their `Retry-After` (unless it is longer than `MAX_WAIT`: the
poll then fails as retryable and the next one picks up). Reading changes nothing, so a lost
answer or a 5xx is simply asked again (`NETWORK_TRIES` times in all, then the poll fails as
retryable). The cursor is an `updated_at` window start (see `_next_start`), while a backlog
is read the width of its windows (`span`), and, between polls of a window read across polls,
the next page's link with the shop it leads into (see `poll_checkouts`).
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from lpstudio.sdk import (
    HEADER_VALUE,
    POLL_AGAIN,
    Again,
    Connection,
    Connector,
    ConnectorError,
    Field,
    Page,
    aware,
    retry_after,
    retrying,
    web_page,
)

MAX_PAGES_PER_POLL = 10
PAGE_SIZE = 250
#: Reads of one window a poll may make, each of `MAX_PAGES_PER_POLL` pages at most: the
#: window it asks for first, then narrower ones while that holds more.
MAX_READS_PER_POLL = 4
MAX_TRIES = 8
MAX_WAIT = 30.0
NETWORK_TRIES = 3
#: What `recovered_checkouts`' read that failed for now ends its message with.
CHECK_AGAIN = "which were paid is not known: message none of them until Shopify answers"
#: What the connection's test ends a failure that may pass with: no poll follows it.
TEST_AGAIN = "test again later"
#: A stable version inside Shopify's support window (each is supported for 12 months).
API_VERSION = "2026-10"
#: What an API version looks like: the form of a path segment of every request.
#: Shopify releases a version each quarter: YYYY-01, -04, -07 and -10 (or `unstable`).
_VERSION = re.compile(r"^(?:[0-9]{4}-(?:01|04|07|10)|unstable)(?!\n)$")  # `$` takes a final \n
#: How fast Shopify's REST bucket empties, in calls a second (4 on Shopify Plus: the
#: standard rate waits a little longer there, never too little).
LEAK_PER_SECOND = 2.0
_CALL_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")
#: When each shop's bucket, by this process's last answer from it, has room again
#: (`time.monotonic()`), by the shop's origin and a digest of the access token (Shopify
#: keeps a bucket per app and shop): each poll and job opens its own connection.
_ROOM: dict[tuple[str, str], float] = {}
#: Seconds between the shop's `Date` header (whole seconds) and its `updated_at` clocks.
CLOCK_MARGIN = 2.0
#: A window no wider is not narrowed but read in id order across polls: its checkouts were
#: updated within seconds of each other, as close as the cursor's own margin.
NARROWEST = timedelta(seconds=2 * CLOCK_MARGIN)

#: What the `shop` field takes (`base_url` reads it): a *.myshopify.com name, or its address
#: alone (no path: requests join /admin/api/... to it) over https, where Shopify serves the
#: Admin API (a store's own domain serves its storefront only); or this machine's address
#: (the sandbox, an emulator), over plain http too: the access token goes in a header, in
#: clear over http.
_SHOP_FIELD = (
    r"^\s*(?:(?:https://)?[a-z0-9][a-z0-9-]*\.myshopify\.com"
    r"|https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]+)?)/?\s*$"
)
#: Why a `shop` the field refuses is refused, the first found said (`Field.reasons`).
_SHOP_REASONS = (
    (
        r"^\s*(?:https?://)?admin\.shopify\.com/store/(?P<store>[a-z0-9][a-z0-9-]*)",
        "is the shop's admin in a browser, not its Admin API: give the store's name, "
        "{store}.myshopify.com",
    ),
    (
        r"^\s*(?:https?://|(?!https?:))[^\s/]+/+[^\s/]",
        "holds a path: give the shop's address alone, without /admin or any path",
    ),
    (
        r"^\s*http://",
        "is plain http, which would send the access token unencrypted: use https:// (plain "
        "http only to this machine, 127.0.0.1 or localhost, as the sandbox)",
    ),
    (
        r"^\s*(?:https://)?[^\s/]+/?\s*$",
        "is not a *.myshopify.com domain, where Shopify serves a shop's Admin API (a store's "
        "own domain serves only its storefront): give the store's myshopify.com domain, "
        "e.g. acme.myshopify.com (Shopify's admin lists it under Settings > Domains)",
    ),
)

_SHOP = Field(
    "shop",
    "Shop",
    hint="your-store.myshopify.com (the sandbox's: http://127.0.0.1:PORT)",
    pattern=_SHOP_FIELD,  # refused when the connection is saved, not at its test
    reasons=_SHOP_REASONS,
)

connector = Connector(
    "shopify",
    title="Shopify",
    description="Abandoned checkouts of a Shopify store.",
    fields=[
        _SHOP,
        Field(
            "access_token",
            "Admin API access token",
            secret=True,
            hint="From a custom app with the read_orders scope",
            pattern=HEADER_VALUE,  # sent in a header: refused when saved, not at its test
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

#: The fields of Shopify's REST checkouts beside those the templates use (declared below),
#: by type: with them, all a checkout has, so that a condition naming another is refused.
_MORE_CHECKOUT_FIELDS = {
    "object": ("billing_address", "shipping_address"),
    "array": ("discount_codes", "note_attributes", "shipping_lines", "tax_lines"),
    "boolean": ("buyer_accepts_marketing", "buyer_accepts_sms_marketing", "taxes_included"),
    "integer": ("device_id", "location_id", "total_weight", "user_id"),
    "string": (
        "cart_token",
        "closed_at",
        "customer_locale",
        "gateway",
        "landing_site",
        "name",
        "note",
        "presentment_currency",
        "reference",
        "referring_site",
        "sms_marketing_phone",
        "source",
        "source_identifier",
        "source_name",
        "source_url",
        "subtotal_price",
        "token",
        "total_discounts",
        "total_duties",
        "total_line_items_price",
        "total_tax",
    ),
}

#: The fields of Shopify's REST customer (as a checkout embeds it) beside those declared
#: below, by type: a condition naming another (`customer.frist_name`) is refused.
_MORE_CUSTOMER_FIELDS = {
    "object": ("default_address", "email_marketing_consent", "sms_marketing_consent"),
    "array": ("addresses", "tax_exemptions"),
    "boolean": ("accepts_marketing", "tax_exempt", "verified_email"),
    "integer": ("last_order_id", "orders_count"),
    "string": (
        "accepts_marketing_updated_at",
        "admin_graphql_api_id",
        "created_at",
        "currency",
        "email",
        "last_order_name",
        "marketing_opt_in_level",
        "multipass_identifier",
        "note",
        "state",
        "tags",
        "total_spent",
        "updated_at",
    ),
}

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
                    **{
                        name: {"type": [kind, "null"]}
                        for kind, names in _MORE_CUSTOMER_FIELDS.items()
                        for name in names
                    },
                },
                # Every field of a checkout's customer: `customer.frist_name` is refused too.
                "additionalProperties": False,
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
            **{
                name: {"type": [kind, "null"]}
                for kind, names in _MORE_CHECKOUT_FIELDS.items()
                for name in names
            },
        },
        # Every field of a checkout: a trigger condition naming another is refused.
        "additionalProperties": False,
    },
)


def base_url(conn: Connection) -> str:
    """The shop's address; a `shop` the field refuses (saved before its rules, or given to a
    connection made in code) is refused the same, before the token is sent anywhere."""
    given = str(conn.config["shop"])
    if not re.match(_SHOP_FIELD, given):
        why = _SHOP.reason(given) or "is not a *.myshopify.com name"
        raise ConnectorError(
            f"shop {given.strip()[:80]!r} {why}",
            field="shop",
            fix=_shop_fix(conn, "is your-store.myshopify.com"),
        )
    shop = given.strip().rstrip("/")
    return shop if shop.startswith(("http://", "https://")) else f"https://{shop}"


def _get(
    conn: Connection, url: str, params: dict[str, Any] | None, again: str = POLL_AGAIN
) -> httpx.Response:
    """One page of the shop's checkouts, its bucket's room and passing failures waited
    out; `again` ends the message of a failure that lasts (what the caller does next)."""
    if _origin(url) != _origin(base_url(conn)):
        raise ConnectorError(
            f"Shopify's next page is on another host ({_origin(url)}), not the shop: the "
            "access token was not sent there",
            field="shop",
        )
    headers = {"X-Shopify-Access-Token": str(conn.config["access_token"])}

    failures = [0]
    later = _try_later(conn)

    def passing(reason: str, status: int | None = None, unreached: bool = False) -> Again:
        """A failure a read may simply repeat (no answer, a 5xx): again in a second, until
        the last of `NETWORK_TRIES` ends the poll as retryable. `unreached`: no connection
        could be made (a name that does not resolve, a port nothing listens on), most
        likely a wrong `shop`, which the fix names; silence or a 5xx is the shop's own."""
        failures[0] += 1
        if failures[0] >= NETWORK_TRIES:
            raise ConnectorError(
                f"{reason}, {NETWORK_TRIES} tries; {again}",
                retryable=True,
                status=status,
                field="shop" if unreached else None,
                fix=_shop_fix(conn, "is right and the shop is up") if unreached else later,
            )
        return Again(1.0, reason, status=status)

    bucket = (_origin(url), hashlib.sha256(headers["X-Shopify-Access-Token"].encode()).hexdigest())

    def attempt() -> httpx.Response:
        time.sleep(max(0.0, _ROOM.get(bucket, 0.0) - time.monotonic()))
        try:
            response = conn.http().get(url, params=params, headers=headers)
        except httpx.ConnectError as exc:  # no connection made (not a timeout)
            said = conn.excerpt(f"{type(exc).__name__}: {exc}", 200)
            where = f"Shopify at {_shown(url)} could not be reached ({said})"
            raise passing(where, None, True) from exc
        except httpx.TransportError as exc:
            raise passing(f"no answer from Shopify ({type(exc).__name__})") from exc
        _ROOM[bucket] = time.monotonic() + _room_in(response)
        if response.status_code == 429:
            wait = retry_after(response.headers.get("Retry-After"))
            wait = 2.0 if wait is None else wait
            if wait > MAX_WAIT:
                raise ConnectorError(
                    f"Shopify's rate limit asks to wait {wait:g} s; {again}",
                    retryable=True,
                    status=429,
                    fix=later,
                )
            raise Again(wait, "HTTP 429 (rate limit)", status=429)
        if response.status_code >= 500:  # Shopify's edge, passing: a read is safe to repeat
            raise passing(f"Shopify answered HTTP {response.status_code}", response.status_code)
        if response.status_code != 200:
            raise _refused(conn, response)
        return response

    try:
        return retrying(attempt, MAX_TRIES)
    except Again as exc:
        raise ConnectorError(
            f"Shopify did not answer after {MAX_TRIES} tries: {exc.reason}",
            retryable=True,
            status=exc.status,
            fix=later,
        ) from None


def _try_later(conn: Connection) -> str:
    """The fix of a shop that failed or did not answer (its own fault, passing): a REST
    caller had only `connections/NAME/test`, and the CLI no fix at all."""
    return (
        f"try again later: `lpstudio connections test {conn.name}` says whether Shopify "
        "answers again"
    )


def _shop_fix(conn: Connection, check: str) -> str:
    """The fix that names the `shop` field, with the command that sets it."""
    return (
        f"check that shop (your-store.myshopify.com) {check}: `lpstudio connections update "
        f"{conn.name} --field shop=...`, then `lpstudio connections test {conn.name}`"
    )


def _refused(conn: Connection, response: httpx.Response) -> ConnectorError:
    """The shop's refusal of a read (not a 429 or 5xx), with what to do: a token it does
    not take (401) or that lacks the read_orders scope (403) is the connection's to
    update; a web page (a web server's) or an empty body is not the shop's, and
    names `shop`."""
    status = response.status_code
    page = web_page(response)
    if page is not None:
        return ConnectorError(
            f"what answered at {_shown(base_url(conn))} is not a Shopify shop's Admin API: HTTP "
            f"{status} with {conn.excerpt(page, 120)}, not Shopify's JSON",
            status=status,
            field="shop",
            fix=_shop_fix(conn, "leads to your shop"),
        )
    said = f"Shopify answered HTTP {status}: {conn.excerpt(response.text, 200)}"
    if status in (401, 403):
        scope = " with the read_orders scope" if status == 403 else ""
        return ConnectorError(
            said,
            status=status,
            field="access_token",
            fix=f"give connection {conn.name} an Admin API access token{scope} from the "
            f"shop's custom app: `lpstudio connections update {conn.name} --secret "
            "access_token`",
        )
    return ConnectorError(
        said,
        status=status,
        fix=f"check the shop (your-store.myshopify.com) and api_version of connection "
        f"{conn.name}: give them with `lpstudio connections update {conn.name} --field "
        f"shop=... --field api_version=...`, then `lpstudio connections test {conn.name}`",
    )


def _checkouts(
    conn: Connection, response: httpx.Response, again: str = POLL_AGAIN
) -> list[dict[str, Any]]:
    """A page's checkouts; a 200 that is not Shopify's JSON (a proxy's or a login page, a
    web site's at a wrong `shop`) is a retryable error naming what came and the `shop`
    field, not a JSONDecodeError (nothing was read: `again`)."""
    try:
        checkouts = response.json().get("checkouts", [])
    except (ValueError, AttributeError):
        checkouts = None
    if not isinstance(checkouts, list) or not all(isinstance(c, dict) for c in checkouts):
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        raise ConnectorError(
            f"Shopify answered HTTP {response.status_code} with no checkouts list ({kind}); "
            f"nothing was read; {again}",
            retryable=True,
            status=response.status_code,
            field="shop",
            fix=_shop_fix(conn, "leads to your shop"),
        )
    return checkouts


def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _shown(url: str) -> str:
    """A URL for a message: its scheme, host and port only (no user, path or query)."""
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}" + (f":{port}" if port else "")


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
    """The store, once its checkouts list answers as Shopify's does: a web site's page at
    a wrong `shop` answers 200 too."""
    response = _get(conn, _checkouts_url(conn), {"limit": 1}, TEST_AGAIN)
    _checkouts(conn, response, TEST_AGAIN)
    return f"store {base_url(conn)}"


def _moment(text: Any) -> datetime | None:
    """A Shopify timestamp (ISO 8601, the shop's offset) as an aware datetime, or None."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return aware(moment)


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


def _served_at(response: httpx.Response) -> datetime | None:
    """When the shop answered (its `Date` header); None without one."""
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return aware(moment)


def _second(moment: datetime) -> datetime:
    """A window's end to the second, as Shopify keeps its times."""
    return moment.replace(microsecond=0)


@dataclass
class _Read:
    """A window's pages read in one go: its open checkouts, the next page's link when the
    page cap stopped the read, when the shop served the first page (this machine's clock
    without a `Date` header), and how many pages."""

    found: list[dict[str, Any]]
    next: str | None
    served: datetime
    pages: int


def _read(conn: Connection, url: str, params: dict[str, Any] | None) -> _Read:
    found: list[dict[str, Any]] = []
    pages, served = 0, None
    next_url: str | None = url
    while True:
        assert next_url is not None
        response = _get(conn, next_url, params)
        pages += 1
        served = served or _served_at(response)
        found.extend(c for c in _checkouts(conn, response) if not c.get("completed_at"))
        next_url, params = response.links.get("next", {}).get("url"), None
        if next_url is None or pages >= MAX_PAGES_PER_POLL:
            return _Read(found, next_url, served or datetime.now(UTC), pages)


def _after(end: datetime) -> str:
    """The first second after a window's `end`: Shopify keeps its times to the second, so
    a window read whole to `end` holds every checkout of that second."""
    return (_second(end) + timedelta(seconds=1)).isoformat()


def _window(start: str, end: datetime | None) -> dict[str, Any]:
    """The filters of the open checkouts updated from `start` to `end` (both included;
    no end: up to now)."""
    params: dict[str, Any] = {"status": "open", "limit": PAGE_SIZE, "updated_at_min": start}
    if end is not None:
        params["updated_at_max"] = end.isoformat()
    return params


def _next_start(
    start: str, end: str | None, found: list[dict[str, Any]], served: datetime
) -> tuple[str, bool]:
    """Where the next window starts, and whether it is due at once (`more`).

    A window that ends before the shop's clock when its first page was served (less
    `CLOCK_MARGIN`) was read whole: a checkout edited while it was read moved out of it,
    to a later window. The next one starts now, at the second after its end: the end is
    included (`updated_at_max`), and starting at it read its second again, all of a bulk
    edit's checkouts when it was crowded (`_after`). A window up to now starts the
    next at its newest update but no later than when its first page was served (less
    `CLOCK_MARGIN`): pages come in id order, so a checkout edited while later pages were
    read sits on a page already read, with an update older than newer ones seen on later
    pages; and one saved while a single page was served (a save in flight, a list that
    lags) may be listed only after it with an update older than the newest it held.
    Starting from the newest would skip either. What the next window reads twice, the
    trigger's key (id and `updated_at`) drops."""
    bound = served - timedelta(seconds=CLOCK_MARGIN)
    end_at = _moment(end) if end is not None else None
    if end_at is not None and end_at <= bound:
        return _after(end_at), True
    newest = found[-1]["updated_at"] if found else start
    newest_at = _moment(newest)
    if newest_at is None or newest_at <= bound:
        return newest, False
    floor = _moment(start)
    return (bound if floor is None else max(floor, bound)).isoformat(), False


def _narrower(
    start: datetime, upper: datetime, found: list[dict[str, Any]], guess: bool
) -> datetime | None:
    """The end of a window from `start` narrower than the one to `upper`, which held more
    than a poll reads; None when it is too narrow to split (`NARROWEST`).

    The pages read of it are its lowest ids, and a shop's ids mostly follow its updates:
    the first try ends where most of those read were updated (`guess`); a later one at most
    halfway, so that a guess the shop's data belies still narrows quickly. Pages mostly of
    one second (a bulk edit) end it just before that second, or at it when it comes first:
    halving towards it, each window up to it held it, too full again (`_crowd`)."""
    upper = _second(upper)
    if upper - start <= NARROWEST:
        return None
    moments = [m for m in (_moment(c.get("updated_at")) for c in found) if m is not None]
    crowd = _crowd(start, moments)
    if crowd is not None and start <= crowd < upper:
        return crowd
    times = sorted(moment for moment in moments if start < moment < upper)
    halfway = start + (upper - start) / 2
    likely = times[int(len(times) * 0.9)] if times else halfway
    end = _second(likely if guess else min(likely, halfway))
    if end <= start:
        end = _second(halfway)
    return end if start < end < upper else None


def _crowd(start: datetime, moments: list[datetime]) -> datetime | None:
    """When most of the pages read of a window from `start` were updated in one second (a
    bulk edit): the end of the window before that second or, when nothing can come before
    it, that second (a window of it alone: read in id order when it holds more than a poll
    reads). None when no second holds most of them."""
    if not moments:
        return None
    crowded, count = Counter(_second(moment) for moment in moments).most_common(1)[0]
    if count * 2 <= len(moments):
        return None
    before = crowded - timedelta(seconds=1)
    return before if before >= start else crowded


@connector.poll_trigger(
    "new_or_updated_abandoned_checkout",
    title="New or updated abandoned checkout",
    object="checkout",
    key=lambda c: f"{c['id']}@{c.get('updated_at')}",
)
def poll_checkouts(conn: Connection, since: str, cursor: Any) -> Page:
    """Checkouts updated at or after the cursor (first: `since`), still open, oldest first.

    Pages come in id order, not in update order, so a poll returns every checkout of its
    window of updates or none: one that holds more than `MAX_PAGES_PER_POLL` pages is
    narrowed (`updated_at_max`) until it fits, and returned with `more`; the next poll
    starts at the second after its end. So the polls of a long backlog come oldest first,
    each after the one before. A window no wider than `NARROWEST` that still holds more (a
    bulk edit: a second of its own, see `_crowd`) is read across polls, from its next
    page's link, in id order.

    A window's next-page link is the shop's own, in the API version it was asked in: once
    the connection names another shop or another version (edited, or another connection
    bound to the slot; a version is changed when the old one leaves Shopify's support), the
    poll goes on from the window's start in that shop and version, and the trigger's keys
    drop what it had fired already. A cursor kept before versions were noted in it counts
    as in the current version."""
    cursor = dict(cursor or {})
    shop, version = base_url(conn), _api_version(conn)
    moved = cursor.get("shop") != shop or cursor.get("version", version) != version
    if cursor.get("next") and not moved:
        return _go_on(conn, cursor)
    start = cursor.get("updated_at") or since
    return _poll_window(conn, start, cursor, shop, version)


def _go_on(conn: Connection, cursor: dict[str, Any]) -> Page:
    """The next pages of a window read across polls (see `poll_checkouts`)."""
    read = _read(conn, cursor["next"], None)
    found = sorted(read.found, key=_order)
    if read.next is not None:
        return Page(found, {**cursor, "next": read.next}, more=True)
    served = _moment(cursor.get("started")) or read.served  # when its first page was
    start, more = _next_start(cursor["updated_at"], cursor.get("until"), found, served)
    return Page(found, {"updated_at": start}, more=more)


def _poll_window(
    conn: Connection, start: str, cursor: dict[str, Any], shop: str, version: str
) -> Page:
    """The checkouts of the window from `start`: up to now, or, while a backlog is read,
    as wide as the last that fitted (`span`; twice when it held little) and no further
    than where the last poll found too many (`crowded`); narrowed while it holds too many,
    `MAX_READS_PER_POLL` reads at most."""
    url = _checkouts_url(conn)
    start_at = _moment(start)
    end: datetime | None = None
    if start_at is not None:
        # An end past the shop's clock reads as no end: the window is up to now.
        ends = [_moment(cursor.get("crowded"))]
        if cursor.get("span"):
            ends.append(_second(start_at + timedelta(seconds=float(cursor["span"]))))
        end = min((e for e in ends if e is not None and e > start_at), default=None)
    crowded: datetime | None = None  # the narrowest end found to hold too many
    for tried in range(MAX_READS_PER_POLL):
        read = _read(conn, url, _window(start, end))
        if read.next is None:  # the whole window
            found = sorted(read.found, key=_order)
            until = end.isoformat() if end is not None else None
            next_start, more = _next_start(start, until, found, read.served)
            resume: dict[str, Any] = {"updated_at": next_start}
            if more and end is not None and start_at is not None:
                width = (end - start_at).total_seconds()
                little = len(found) < MAX_PAGES_PER_POLL * PAGE_SIZE // 2
                resume["span"] = width * 2 if little else width
                if crowded is not None:
                    resume["crowded"] = crowded.isoformat()
            return Page(found, resume, more=more)
        bound = read.served - timedelta(seconds=CLOCK_MARGIN)
        crowded = bound if end is None else min(end, bound)
        narrower = None if start_at is None else _narrower(start_at, crowded, read.found, not tried)
        if narrower is None:  # too narrow to split: read across polls, in id order
            return Page(
                sorted(read.found, key=_order),
                {
                    "updated_at": start,
                    "until": end.isoformat() if end is not None else None,
                    "next": read.next,
                    "started": read.served.isoformat(),
                    "shop": shop,
                    "version": version,
                },
                more=True,
            )
        end = narrower
    # Still too many: the next poll goes on narrowing from the last window tried.
    assert start_at is not None and end is not None
    return Page([], {"updated_at": start, "span": (end - start_at).total_seconds()}, more=True)


_CHECKOUT_IDS = {
    "type": "object",
    "required": ["checkouts"],
    "properties": {
        "checkouts": {
            "type": "array",
            "description": "the checkouts as an event holds them (id, created_at, updated_at)",
            "items": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "integer", "minimum": 1}},
            },
        }
    },
}
_RECOVERED = {
    "type": "object",
    "properties": {
        "recovered": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "completed_at": {"type": ["string", "null"]},
                },
            },
        }
    },
}


@connector.action(
    "recovered_checkouts",
    title="Recovered checkouts",
    description="Which of the given checkouts Shopify now lists as closed: their customer "
    "completed the order since the event was taken.",
    input_schema=_CHECKOUT_IDS,
    output_schema=_RECOVERED,
)
def recovered_checkouts(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    """The checkouts of `data` that Shopify lists as closed now: a job's event may be older
    than a payment (queued behind others, a rerun, a webhook's delivery), and a customer who
    paid must not be told of their cart. One read of every closed checkout that can be one
    of them (`_closed_among`), page by page. It only reads: a dry run (a Test) asks too."""
    given = data["checkouts"]
    if not given:
        return {"recovered": []}
    wanted = {checkout["id"] for checkout in given}
    found: list[dict[str, Any]] = []
    url: str | None = _checkouts_url(conn)
    params: dict[str, Any] | None = _closed_among(given)
    while url is not None:
        response = _get(conn, url, params, CHECK_AGAIN)
        found.extend(c for c in _checkouts(conn, response, CHECK_AGAIN) if c.get("id") in wanted)
        url, params = response.links.get("next", {}).get("url"), None
    return {"recovered": [{"id": c["id"], "completed_at": c.get("completed_at")} for c in found]}


def _closed_among(checkouts: list[dict[str, Any]]) -> dict[str, Any]:
    """The filters of the closed checkouts that can be among `checkouts`, however old their
    copies: ids from the lowest (`since_id`), created no later than the newest, updated no
    earlier than the oldest (completing a checkout updates it). A time a copy lacks (a
    hand-given event) leaves its filter out, never narrows it wrongly."""
    params: dict[str, Any] = {
        "status": "closed",
        "limit": PAGE_SIZE,
        "since_id": min(checkout["id"] for checkout in checkouts) - 1,
    }
    created = [_moment(checkout.get("created_at")) for checkout in checkouts]
    if created and None not in created:
        params["created_at_max"] = max(m for m in created if m is not None).isoformat()
    updated = [_moment(checkout.get("updated_at")) for checkout in checkouts]
    if updated and None not in updated:
        params["updated_at_min"] = min(m for m in updated if m is not None).isoformat()
    return params
