"""HTTP to LivePerson: host discovery, AppJWT tokens, rate limits and safe retries.

What may be retried is decided by whether LivePerson can have accepted the request:
- an answer of 401 or 429 rejects the request whole, so it is sent again (with a fresh
  token once; after `Retry-After`, unless it is longer than `MAX_WAIT`: then it fails at
  once, retryable; with back-off); a 401 is "jwt expired" when the token aged, another
  message when the server no longer knows it (a revoked key, a restarted server): either way
  the cached token is dropped and a new one fetched, once;
- a 5xx answer to a request that changes something (a campaign) may come after LivePerson
  acted on it, and LivePerson defines no error as safe to resend: it raises `Uncertain`,
  like a lost answer; a read answered 5xx is asked again;
- a token request answered 429 or 5xx, or whose host lookup failed, is retried the same way
  (it is safe to repeat); `Retry-After` is read in both its forms, seconds or an HTTP date;
- a failed lookup of the request's own host raises `Unavailable` (retryable) before the
  request exists, so a caller can look it up before recording anything as being sent;
- a connection that failed before the request went out (connect error or timeout) is
  retried too;
- a request that went out and got no answer (read timeout, dropped connection) may have
  been accepted: it raises `Uncertain` and is never resent blindly; reads (GET) change
  nothing and are simply asked again.

A caller that records what it sends (a campaign's delivery ledger) gives `prepare`, called
right before each try goes out (after the waits for the rate limit and the token), and
`refused`, called when a try was certainly not accepted and another may follow: so what it
records as being sent is never left so by a process that died while waiting to send.

Requests keep to the account's requests per second as LivePerson counts them: by when
they *arrive*, in a sliding second, and when a request arrives is known only to be between
sending it and receiving its answer. So each request is counted from when its answer came
(or its failure was seen): a request goes out only when fewer than the limit were answered
in the last `1 + RATE_MARGIN` seconds or are still awaited, and then it cannot arrive
within a second of any of them, however long those waited in a socket, on a busy server or
for their ledger's write. A long campaign thus runs at the limit without drawing 429s,
which cost a whole second each. Within this process `_Pacer` keeps that count; across the
jobs of the machine a job's shared limiter keeps it (`_shared_turn`), turn by turn in the
order they were asked for.

Both count by account (`rate_key`), not by connection: two connections to one account share
one budget. Each request keeps to its own connection's `requests_per_second`, so when two
connections of an account disagree, their requests together reach the higher value: give
every connection of an account the same value.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import httpx

from lpstudio.errors import InputError
from lpstudio.sdk import Again, Connection, ConnectorError, retry_after, retrying, web_page

#: LivePerson's domain API, plain http as LivePerson documents it: what it names is checked
#: (`LIVEPERSON_HOST`) before the secret or a token goes there.
DOMAIN_API = "http://api.liveperson.net"
CSDS_URL = DOMAIN_API + "/api/account/{account}/service/{service}/baseURI.json"
#: The connection field that stands in for the domain API's host (`CSDS_URL`'s).
DOMAIN_API_FIELD = "domain_api_url"
#: The domains under which a host the domain lookup names may receive the client secret or a
#: token (LivePerson's own; a service elsewhere is set by its base URL field instead).
LIVEPERSON_DOMAINS = ("liveperson.net", "liveperson.com")
#: Such a host: a bare host name (no scheme, user, port or path) under one of those domains.
LIVEPERSON_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:"
    + "|".join(map(re.escape, LIVEPERSON_DOMAINS))
    + ")"
)
#: Each service's base URL field, overriding `base_url` and the lookup for that service only,
#: and what the service is, for the connection's form.
SERVICE_URLS = {
    "sentinel": ("sentinel_base_url", "Sentinel (tokens)"),
    "proactive": ("proactive_base_url", "Proactive Messaging (campaigns)"),
    "handoff": ("handoff_base_url", "Handoff configuration"),
    "reporting": ("reporting_base_url", "Outbound Reporting"),
    "accountConfigReadOnly": ("account_config_base_url", "Account Configuration (skills)"),
}
ZONES = {"va": "z1", "lo": "z2", "sy": "z3"}
DOMAIN_TTL = 24 * 3600
TOKEN_TTL = 3600
MAX_TRIES = 6
#: The longest `Retry-After` waited out inside a job, in seconds.
MAX_WAIT = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Seconds added to LivePerson's one-second window, for clocks that tick coarsely.
RATE_MARGIN = 0.01

_tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
_domains: dict[tuple[str, str, str], tuple[str, float]] = {}
_lock = threading.Lock()


class _Pacer:
    """This process's requests to one account in the last window: each counts from when it
    was answered, and for as long as its answer is awaited."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._answered: dict[int, float] = {}
        self._awaited: set[int] = set()
        self._next = 0

    def wait(self, limit: int, period: float) -> int:
        """Blocks until one more request keeps the window within `limit`; returns the ticket
        to pass to `answered` once the request is over."""
        with self._changed:
            while True:
                now = time.monotonic()
                for ticket, moment in list(self._answered.items()):
                    if moment <= now - period:
                        del self._answered[ticket]
                if len(self._answered) + len(self._awaited) < limit:
                    self._next += 1
                    self._awaited.add(self._next)
                    return self._next
                oldest = min(self._answered.values(), default=None)
                self._changed.wait(None if oldest is None else oldest + period - now)

    def answered(self, ticket: int) -> None:
        """The request's answer (or failure) is in: it counts from now."""
        with self._changed:
            self._awaited.discard(ticket)
            self._answered[ticket] = time.monotonic()
            self._changed.notify_all()


_pacers: dict[str, _Pacer] = {}


def _pacer(key: str) -> _Pacer:
    with _lock:
        return _pacers.setdefault(key, _Pacer())


class Uncertain(ConnectorError):
    """The request went out and no answer came back: it may have been accepted."""


class NothingToSend(Exception):
    """Raised by a request's `prepare` when nothing is left to send (another job sent it
    all): the request does not go out."""


class Unavailable(ConnectorError):
    """A lookup that must come before a request (its host, its token) failed or answered
    429/5xx: nothing was sent, so trying again after `wait` s is safe."""

    def __init__(
        self,
        message: str,
        *,
        wait: float,
        status: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, retryable=True, status=status, field=field, fix=fix)
        self.wait = wait


class NotNow(ConnectorError):
    """LivePerson asks for a wait longer than a job waits (`Retry-After`), or refused the
    request for every try: nothing was accepted, and a request sent now would meet the same.
    Retryable (a retry later sends it); a campaign stops at it."""


def _check_wait(wait: float, who: str, status: int | None = 429) -> None:
    """A `Retry-After` longer than `MAX_WAIT` is not waited out in a job (its timeout would
    end it mid-wait, having sent nothing more): the request is refused now (nothing was
    accepted), as retryable."""
    if wait > MAX_WAIT:
        raise NotNow(
            f"{who} asks to wait {wait:g} s, longer than the {MAX_WAIT:g} s waited in a job: "
            "nothing was accepted; the job run again (a retry or a rerun) sends it",
            retryable=True,
            status=status,
        )


def _wait_asked(response: httpx.Response, default: float) -> float:
    """Seconds to wait before asking again: `Retry-After` in either of its forms, `default`
    when it is missing or unreadable."""
    seconds = retry_after(response.headers.get("Retry-After"))
    return default if seconds is None else seconds


def error_message(response: httpx.Response, conn: Connection) -> str:
    """LivePerson's error text (`{"code", "requestTraceId", "message"}`); a web page (a web
    server's, proxy's or portal's) is said to be one, never quoted; plain text is quoted."""
    page = web_page(response)
    if page is not None:
        return conn.excerpt(f"{page}, not LivePerson's JSON", 300)
    try:
        body = response.json()
    except ValueError:  # a proxy's words
        return conn.excerpt(response.text, 300)
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    return conn.excerpt(str(body), 300)


def answer_field(response: httpx.Response, key: str, who: str, field: str | None, fix: str) -> str:
    """`key` of a 200 answer in LivePerson's JSON: a ConnectorError naming `who`, `field`
    (the connection field its URL came from, if any) and `fix` when it has none (a proxy's
    or portal's JSON), never a crash that leaves a batch claimed. Not retryable, as a page
    is not (`misdirected`): what answers there answers the same until a person fixes the
    URL or the network."""
    try:
        value = response.json()[key]
    except (ValueError, TypeError, KeyError, IndexError):
        value = None
    if not isinstance(value, str) or not value:
        raise ConnectorError(
            f"{who} answered HTTP 200 with no {key} in it: nothing was sent",
            status=response.status_code,
            field=field,
            fix=fix,
        )
    return value


def _liveperson_json(response: httpx.Response) -> bool:
    """Whether an answer is LivePerson's JSON (an object: its error shape, or OAuth's), not
    a page of a web server, proxy or portal standing where the connection points."""
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


#: An account named as such in an error's text, not as a segment of a path it quotes
#: ("Account 99999999 not found", not "No such endpoint: /api/account/99999999/...").
NAMES_ACCOUNT = re.compile(r"(?<![/\w])account(?![/\w])", re.IGNORECASE)


#: What an empty URL field means, for a fix that names it (a service's own field: "service").
_EMPTY = {
    "base_url": "LivePerson's own hosts, found by region",
    DOMAIN_API_FIELD: f"LivePerson's own, {DOMAIN_API}",
    "service": "base_url's, else LivePerson's own host found by region",
}


def _origin(url: str) -> tuple[str, str, int | None]:
    """A URL's scheme, host and port, to tell which field a request's URL came from."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


def shown_url(url: str) -> str:
    """A base URL for a message: scheme, host, port and path, without a user, password,
    query or fragment (a URL may carry credentials)."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path.rstrip('/')}"


def setting(conn: Connection, name: str, default: int, low: int, high: int | None) -> int:
    """An integer limit of the connection (`default` when empty), within [low, high]: an
    InputError naming it otherwise, before anything is sent (a rate below 1 would never let
    a request go)."""
    value = conn.config.get(name)
    try:
        number = default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < low or (high is not None and number > high):
        within = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InputError(
            f"connection field '{name}' must be a whole number {within}, not {value!r}",
            field=name,
            fix=f"set {name} on the connection to your account's limit (default {default})",
        )
    return number


class LivePersonClient:
    """One account's APIs, for one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.account = str(conn.config["account_id"])
        self.per_second = setting(conn, "requests_per_second", 10, 1, None)
        # LivePerson counts requests per account: every connection to the account shares
        # one budget under this key, whether it found LivePerson's Proactive host by the
        # lookup or was given it; a stand-in (the sandbox) counts apart.
        proactive = self.configured("proactive")
        stand_in = proactive and not LIVEPERSON_HOST.fullmatch(httpx.URL(proactive).host)
        self.rate_key = f"liveperson:{self.account}" + (f"@{proactive}" if stand_in else "")

    # -- hosts -----------------------------------------------------------------------------

    def configured(self, service: str) -> str:
        """The base URL the connection sets for `service`: its own field, else `base_url`;
        empty when the domain lookup is to find it."""
        field = SERVICE_URLS[service][0]
        value = self.conn.config.get(field) or self.conn.config.get("base_url") or ""
        return str(value).rstrip("/")

    def url_field(self, service: str) -> str | None:
        """The connection field `service`'s base URL came from (its own, else `base_url`);
        None when LivePerson's domain API named its host."""
        own = SERVICE_URLS[service][0]
        return next((f for f in (own, "base_url") if self.conn.config.get(f)), None)

    def _update(self, field: str) -> str:
        """The command that sets a field of this connection, as a fix shows it."""
        return f"`lpstudio connections update {self.conn.name} --field {field}=...`"

    def misdirected(
        self, response: httpx.Response, who: str, base: str, field: str | None
    ) -> ConnectorError | None:
        """The error naming the connection field to fix when `who` at `base` refused a
        request for where it went, not for what it carried: a 404 naming the account, or
        from LivePerson's own host (`field` None: the account is all its path holds of the
        connection), is `account_id`; another 404, or an answer that is not LivePerson's
        JSON (a web server's, proxy's or portal's page), or a 2xx (asked what the service
        answers 404, `reach`), is `field`, the connection field the URL came from (on
        LivePerson's own host, the field that would send it elsewhere). None for a refusal
        in LivePerson's words (the credentials, the app's rights, the request's fields).
        Never retryable, a page answering 200 included: LivePerson answers JSON, so a page
        stays until a person fixes the URL or the network, and a job run again meanwhile
        would only repeat its notebook's other steps (and leave one more batch of a
        campaign uncertain)."""
        status, said = response.status_code, error_message(response, self.conn)
        ours = _liveperson_json(response) and not 200 <= status < 300
        if ours and status == 404 and (field is None or NAMES_ACCOUNT.search(said)):
            return ConnectorError(
                f"{who} does not know the account {self.account} (HTTP 404: {said})",
                status=status,
                field="account_id",
                fix="set the connection's account id to your LivePerson site id: "
                + self._update("account_id"),
            )
        if ours and status != 404:
            return None
        if field is None:  # LivePerson's own host: something stands in between
            stand_in = self.field_for(base)
            return ConnectorError(
                f"what answered at {shown_url(base)} is not {who} (HTTP {status}: {said})",
                status=status,
                field=stand_in,
                fix=self._url_fix(None, stand_in),
            )
        return ConnectorError(
            f"the connection's {field} ({shown_url(base)}) does not lead to {who}: it "
            f"answered HTTP {status}: {said}",
            status=status,
            field=field,
            fix=self._url_fix(field),
        )

    def _url_fix(self, field: str | None, stand_in: str | None = None) -> str:
        """The fix of a URL, set by `field`, that leads to something other than the service
        (None: LivePerson's own host, reached through something that stands in between;
        `stand_in` is then the field that would send it to another host)."""
        if field is None:
            test = f"`lpstudio connections test {self.conn.name}`"
            fix = "let this machine reach LivePerson's hosts (not a proxy's or portal's page)"
            if stand_in is None:
                return f"{fix}, then {test}"
            return (
                f"{fix}; if it reaches LivePerson through another host, set {stand_in} to it: "
                f"{self._update(stand_in)}; then {test}"
            )
        return (
            f"set {field} to the base URL of the service, without its path (empty: "
            f"{_EMPTY.get(field, _EMPTY['service'])}): {self._update(field)}"
        )

    def unreachable(
        self,
        exc: httpx.TransportError,
        who: str,
        base: str,
        field: str | None,
        stand_in: str = DOMAIN_API_FIELD,
    ) -> Unavailable:
        """A request to `who` at `base` that got no answer (no connection, or none in time)
        and is safe to ask again, naming `field`, the connection field its URL came from
        (None: LivePerson's own host, whose fix names `stand_in`, the field that would
        send it elsewhere), and the fix."""
        said = self.conn.excerpt(f"{type(exc).__name__}: {exc}", 200)
        test = f"`lpstudio connections test {self.conn.name}`"
        fix = (
            self._reach_fix(field, test)
            if field
            else f"check that this machine reaches {httpx.URL(base).host} (LivePerson's own); "
            f"if it reaches LivePerson through another host, set {stand_in} to it: "
            f"{self._update(stand_in)}; then {test}"
        )
        return Unavailable(
            f"{who} at {shown_url(base)} could not be reached ({said}): nothing was sent",
            wait=1.0,
            field=field,
            fix=fix,
        )

    def _reach_fix(self, field: str, test: str) -> str:
        """The fix of a host, set by `field`, that did not answer."""
        empty = _EMPTY.get(field, _EMPTY["service"])
        return (
            f"check that {field} is right and its host is up (empty: {empty}): "
            f"{self._update(field)}, then {test}"
        )

    def _later_fix(self, field: str | None) -> str:
        """The fix of the domain API answering a fault (5xx, 429): LivePerson's, to wait
        out; a stand-in that keeps failing may be the wrong URL (`field`)."""
        test = f"`lpstudio connections test {self.conn.name}`"
        fix = "LivePerson's domain API is failing or busy: try again later"
        if field is None:
            return f"{fix}, then {test}"
        return f"{fix}; if it keeps failing, {self._reach_fix(field, test)}"

    def _lookup_fix(self, field: str | None) -> str:
        """The fix of the domain API refusing a lookup in its own JSON (401, 403): it takes
        no credentials, so what it refused is the account, or where `field` sent it."""
        test = f"`lpstudio connections test {self.conn.name}`"
        account = "check the connection's account id (your LivePerson site id): " + self._update(
            "account_id"
        )
        if field is None:
            return f"{account}, then {test}"
        return (
            f"{account}; if it is right, {field} does not lead to LivePerson's domain API: "
            f"{self._url_fix(field)}; then {test}"
        )

    def field_for(self, url: str) -> str:
        """The connection field that sets where `url` (a request's) goes: a service's own
        base URL field or `base_url` when one of them names its host, `domain_api_url` for
        the domain API, else the own field of the service whose LivePerson host it is (as
        found by region), else `base_url`, which stands in for every host."""
        host = _origin(url)
        for service, (own, _) in SERVICE_URLS.items():
            if self.configured(service) and _origin(self.configured(service)) == host:
                return self.url_field(service) or own
        lookup = str(self.conn.config.get(DOMAIN_API_FIELD) or "")
        if host == _origin(lookup or DOMAIN_API):
            return DOMAIN_API_FIELD
        with _lock:
            found = {
                service: value[0]
                for (account, service, _), value in _domains.items()
                if account == self.account
            }
        prefix = found.get("agentVep", "").split(".", 1)[0]
        by_region = {
            "proactive": f"proactive-messaging.{ZONES.get(prefix, '')}.fs.liveperson.com",
            "handoff": f"{prefix}.handoff.liveperson.net",
            "reporting": f"{prefix}.cx-reporting.liveperson.net",
        }
        for service, (own, _) in SERVICE_URLS.items():
            name = found.get(service) if service not in by_region else by_region[service]
            if name and host[1] == name.lower():
                return own
        return "base_url"

    def _liveperson_host(self, service: str, host: Any) -> str:
        """`host` as the domain lookup named it, if it is LivePerson's: the lookup is plain
        http, and a tampered answer must not receive the client secret or a token."""
        if isinstance(host, str) and len(host) <= 253 and LIVEPERSON_HOST.fullmatch(host.lower()):
            return host.lower()
        field = SERVICE_URLS[service][0]
        under = " or ".join(f"*.{domain}" for domain in LIVEPERSON_DOMAINS)
        raise ConnectorError(
            f"the LivePerson domain lookup for {service} answered {str(host)[:100]!r}, not a "
            f"LivePerson host ({under}): neither the client secret nor a token was sent there",
            field=field,
            fix=f"if the account's {service} really lives elsewhere, set the connection's "
            f"{field} to it: {self._update(field)}, then `lpstudio connections test "
            f"{self.conn.name}`",
        )

    def _domain(self, service: str) -> str:
        lookup = str(self.conn.config.get(DOMAIN_API_FIELD) or "").rstrip("/")
        key = (self.account, service, lookup)
        with _lock:
            cached = _domains.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
        url = CSDS_URL.format(account=self.account, service=service)
        if lookup:  # a stand-in for the domain API (its answers are checked all the same)
            url = lookup + url.removeprefix(DOMAIN_API)
        try:
            response = self.conn.http().get(url, params={"version": "1.0"})
        except httpx.TransportError as exc:
            raise self.unreachable(
                exc,
                f"LivePerson's domain lookup for {service} failed: the domain API",
                lookup or DOMAIN_API,
                DOMAIN_API_FIELD if lookup else None,
            ) from exc
        who = f"LivePerson's domain lookup for {service}"
        where = DOMAIN_API_FIELD if lookup else None
        if response.status_code == 429 or response.status_code >= 500:
            raise Unavailable(
                f"{who} answered HTTP {response.status_code} "
                f"{error_message(response, self.conn)}: nothing was sent",
                wait=_wait_asked(response, 1.0),
                status=response.status_code,
                field=where,
                fix=self._later_fix(where),
            )
        if response.status_code != 200 or not _liveperson_json(response):
            raise self.misdirected(
                response, "LivePerson's domain API", lookup or DOMAIN_API, where
            ) or ConnectorError(
                f"{who} at {shown_url(lookup or DOMAIN_API)} was refused: HTTP "
                f"{response.status_code} {error_message(response, self.conn)}",
                status=response.status_code,
                field=where or "account_id",
                fix=self._lookup_fix(where),
            )
        domain = answer_field(response, "baseURI", who, where, self._url_fix(where))
        with _lock:
            _domains[key] = (domain, time.monotonic() + DOMAIN_TTL)
        return domain

    def host(self, service: str) -> str:
        """The base URL of a service: as configured (`configured`), else found by region."""
        configured = self.configured(service)
        if configured:
            return configured
        if service in ("sentinel", "accountConfigReadOnly"):
            return f"https://{self._liveperson_host(service, self._domain(service))}"
        prefix = self._domain("agentVep").split(".", 1)[0]
        if prefix not in ZONES:
            raise ConnectorError(f"unknown LivePerson region {prefix!r} for this account")
        return {
            "proactive": f"https://proactive-messaging.{ZONES[prefix]}.fs.liveperson.com",
            "handoff": f"https://{prefix}.handoff.liveperson.net",
            "reporting": f"https://{prefix}.cx-reporting.liveperson.net",
        }[service]

    # -- tokens ----------------------------------------------------------------------------

    def _token_key(self) -> tuple[str, str, str, str]:
        # The secret is part of the key (hashed): a connection with a wrong secret must not
        # borrow the token another connection of the same app fetched with the right one.
        secret = str(self.conn.config["client_secret"]).encode()
        return (
            self.configured("sentinel"),
            self.account,
            str(self.conn.config["client_id"]),
            hashlib.sha256(secret).hexdigest(),
        )

    def token(self, fresh: bool = False) -> str:
        """An AppJWT from Sentinel, cached for its lifetime in this process."""
        key = self._token_key()
        with _lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached[1] > time.monotonic():
                return self.conn.hold(cached[0])
        base = self.host("sentinel")
        try:
            response = self.conn.http().post(
                f"{base}/sentinel/api/account/{self.account}/app/token",
                params={"v": "1.0", "grant_type": "client_credentials"},
                data={
                    "client_id": self.conn.config["client_id"],
                    "client_secret": self.conn.config["client_secret"],
                },
            )
        except httpx.TransportError as exc:  # fetching a token is safe to repeat
            who = "LivePerson's token server"
            sentinel = SERVICE_URLS["sentinel"][0]
            raise self.unreachable(exc, who, base, self.url_field("sentinel"), sentinel) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise Unavailable(
                f"LivePerson's token server answered HTTP {response.status_code}: "
                f"{error_message(response, self.conn)}",
                wait=_wait_asked(response, 2.0),
                status=response.status_code,
            )
        sentinel = ("LivePerson's token server", base, self.url_field("sentinel"))
        if response.status_code != 200 or not _liveperson_json(response):
            raise self.misdirected(response, *sentinel) or ConnectorError(
                f"LivePerson refused the app credentials (HTTP {response.status_code}): "
                f"{error_message(response, self.conn)}",
                status=response.status_code,
                fix=self._credentials_fix(),
            )
        fix = self._url_fix(sentinel[2])
        token = answer_field(response, "access_token", sentinel[0], sentinel[2], fix)
        with _lock:
            _tokens[key] = (token, time.monotonic() + TOKEN_TTL - 60)
        return self.conn.hold(token)

    def forget_token(self, token: str) -> None:
        """Drops `token` from the cache (if no other request replaced it already), so the
        next request fetches a new one right before it is sent."""
        key = self._token_key()
        with _lock:
            if _tokens.get(key, ("",))[0] == token:
                del _tokens[key]

    # -- requests --------------------------------------------------------------------------

    def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        read: bool = False,
        prepare: Callable[[], Any] | None = None,
        refused: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Sends one request within the account's rate limit, retrying only what was not
        accepted. Raises `Uncertain` when the answer was lost, `ConnectorError` otherwise
        (`Unavailable` when the host cannot be found: nothing was sent). `read` marks a
        POST that only reads (a reporting query): a lost answer is simply asked again.
        `prepare` gives each try's JSON body right before it goes out (or raises
        `NothingToSend`); `refused` hears of each try certainly not accepted (see the module).
        """
        url = f"{self.host(service)}{path}"
        refreshed = [False]

        def attempt() -> httpx.Response:
            try:
                return one_try()
            except Again:
                if refused is not None:
                    refused()
                raise

        def one_try() -> httpx.Response:
            # This process's pacing first: it lets a request go a full second after the
            # answers of the `per_second` before it, so the shared limiter, counting the
            # same way, holds it again only for other processes' requests. The token comes
            # before the shared limiter's turn (`_send`): a token fetched on the way only
            # delays the request.
            pacer = _pacer(self.rate_key)
            ticket = pacer.wait(self.per_second, 1.0 + RATE_MARGIN)
            try:
                token, response = self._send(method, url, read=read, prepare=prepare, **kwargs)
            finally:
                pacer.answered(ticket)
            if response.status_code == 401:
                if not refreshed[0]:
                    refreshed[0] = True
                    self.forget_token(token)
                    raise Again(0.0, f"token refused: {error_message(response, self.conn)}")
                if "jwt expired" in response.text:
                    raise ConnectorError("LivePerson keeps answering 'jwt expired'", status=401)
            if response.status_code == 429:
                wait = _wait_asked(response, 1.0)
                _check_wait(wait, "LivePerson's rate limit (HTTP 429)")
                self.conn.log(f"LivePerson rate limit: waiting {wait:g} s")
                raise Again(wait, "HTTP 429")
            if response.status_code >= 500:
                said = f"HTTP {response.status_code} {error_message(response, self.conn)}"
                if not (read or method in SAFE_METHODS):  # an answer came: never resent
                    raise Uncertain(
                        f"LivePerson answered {said}: the request may have been accepted, "
                        "so it is not sent again",
                        status=response.status_code,
                    )
                raise Again(2.0, said)
            return response

        try:
            return retrying(attempt, MAX_TRIES)
        except Again as exc:
            unreached = self._unreached(exc.__cause__, service)
            test = f"`lpstudio connections test {self.conn.name}`"
            raise NotNow(
                f"LivePerson did not accept the request after {MAX_TRIES} tries: {exc.reason}",
                retryable=True,
                field=unreached.field if unreached else None,
                fix=unreached.fix if unreached else f"check that LivePerson answers ({test})",
            ) from None

    def _unreached(self, cause: BaseException | None, service: str) -> ConnectorError | None:
        """The error naming the URL's field when the last try never reached its host (its
        token's, or its own): the fix of a request that could not connect for every try."""
        if isinstance(cause, Unavailable) and (cause.field or cause.fix):
            return cause
        if isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout):
            field, (own, who) = self.url_field(service), SERVICE_URLS[service]
            return self.unreachable(cause, who, self.host(service), field, own)
        return None

    def _send(
        self,
        method: str,
        url: str,
        *,
        read: bool = False,
        prepare: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> tuple[str, httpx.Response]:
        """One request within the shared rate limit, with a token: the token and the answer.
        Raises `Again` when sending again is safe, `Uncertain` when it may have been
        accepted.

        The shared limiter's turn comes after the token (a whole request to Sentinel) and
        before `prepare`: a process that dies while it waits has recorded nothing as being
        sent. It holds its slot until the answer (`_shared_turn`), so the time `prepare`
        takes (a write to the store) cannot bunch it with other processes' requests."""
        try:
            token = self.token()
        except Unavailable as exc:  # fetching a token is safe to repeat
            _check_wait(exc.wait, "LivePerson's token server", exc.status)
            raise Again(exc.wait, exc.message) from exc
        with self._shared_turn():
            headers = {"Authorization": f"Bearer {token}"}
            if prepare is not None:  # the last moment before the request goes out
                kwargs = {**kwargs, "json": prepare()}
            return token, self._sent(method, url, read=read, headers=headers, **kwargs)

    def _shared_turn(self) -> AbstractContextManager[Any]:
        """The connection's shared limiter's turn for one request: a job's (`sending`) holds
        a slot until the answer and counts it `1 + RATE_MARGIN` s from then, as `_Pacer`
        does, across processes; another limiter (outside a job, one process) gives a permit
        alone, and `_Pacer` keeps the count."""
        sending = getattr(self.conn.limiter, "sending", None)
        if sending is None:
            self.conn.limiter.acquire(self.rate_key, self.per_second)
            return nullcontext()
        return sending(self.rate_key, self.per_second, 1.0 + RATE_MARGIN)

    def _sent(self, method: str, url: str, *, read: bool, **kwargs: Any) -> httpx.Response:
        """The answer to one request that is ready to go: `Again` when it certainly did not
        go out, `Uncertain` when it may have been accepted."""
        try:
            return self.conn.http().request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            said = f"could not connect to {shown_url(url)}: {type(exc).__name__}"
            raise Again(1.0, said) from exc
        except httpx.TransportError as exc:
            if read or method in SAFE_METHODS:  # a read changes nothing: ask again
                raise Again(1.0, f"no answer: {type(exc).__name__}") from exc
            raise Uncertain(
                f"no answer from LivePerson ({type(exc).__name__}): the request may "
                "have been accepted"
            ) from exc

    def get_json(self, service: str, path: str, **kwargs: Any) -> Any:
        return self.read_json("GET", service, path, **kwargs)

    def read_json(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request that only reads; ConnectorError unless it is 200
        and JSON (a web page answering 200 names the URL's field: `refusal`)."""
        response = self.request(method, service, path, read=True, **kwargs)
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:  # a web server's or proxy's page, not LivePerson's
                pass
        raise self.refusal(response, service)

    def refusal(self, response: httpx.Response, service: str) -> ConnectorError:
        """The error of a read `service` did not answer 200: the connection field to fix
        when it went to the wrong place (`misdirected`), else LivePerson's own words."""
        where = (SERVICE_URLS[service][1], self.host(service), self.url_field(service))
        status = response.status_code
        return self.misdirected(response, *where) or ConnectorError(
            f"LivePerson answered HTTP {status}: {error_message(response, self.conn)}",
            status=status,
            fix=self._credentials_fix() if status in (400, 401, 403) else None,
        )

    def _credentials_fix(self) -> str:
        """The fix of a refusal in LivePerson's own words (400, 401, 403): the app's
        credentials, or the rights LivePerson gave the app."""
        name = self.conn.name
        return (
            f"check the client id and secret of the connection {name}, which must be the "
            "current ones of an app allowed this API (a secret rotated at LivePerson must be "
            f"given again): give them with `lpstudio connections update {name} --field "
            f"client_id=... --secret client_secret`, then `lpstudio connections test {name}`"
        )
