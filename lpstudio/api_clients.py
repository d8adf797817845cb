"""API clients: bots and partner systems that call callable recipes with a token.

A client holds one token, of which only the SHA-256 is stored; the token itself is shown
once, when the client is made. Revoking keeps the row (the audit log names it).

Each client is held to a rate (calls per minute) and, optionally, a quota (calls in any 24
hours), as Workato's API policies hold theirs: `lpstudio.server.auth.RateLimits` counts both.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select

from .connections import NAME_PATTERN, NAME_SAID
from .errors import InputError, NotFoundError, quoted
from .models import ApiClient, utcnow
from .roles import CREATE_API_CLIENT, REVOKE_API_CLIENT
from .scalars import whole
from .store import Store

#: The largest quota a client may be given. Each call a quota counts is a row of the
#: machine's rate file for 24 hours, all counted again at each call under the file's lock
#: (about 2 ms at this quota): a larger one would slow every client's calls on the machine.
#: A client that needs more goes without a quota.
MAX_QUOTA_PER_DAY = 100_000

#: What a client's token looks like (`ApiClients.create`): only text of this shape is looked
#: up among the clients' tokens (`ApiClients.live_tokens`).
TOKEN_SHAPE = re.compile(r"lps_[A-Za-z0-9_-]{43}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_refused(what: str, field: str, use: str, fix: str) -> InputError:
    """The refusal of `what` (a value named by its `field`) holding one of lpstudio's own
    credentials, a live client's token or the Jupyter server's, as its `use`: kept as
    input, it would be shown in clear in the job, its output notebook and the answers,
    where operators (who must not hold secrets) read it and call recipes as its holder. A
    bot's call and a person's run or settings say it alike."""
    return InputError(f"{what} holds an API token, which is never {use}", field=field, fix=fix)


def _as_dict(row: ApiClient) -> dict[str, Any]:
    return {
        "name": row.name,
        "endpoints": list(row.endpoints),
        "rate_per_minute": row.rate_per_minute,
        "quota_per_day": row.quota_per_day,
        "revoked": row.revoked,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


def _check_endpoints(
    endpoints: list[str], started: Collection[str], served: Callable[[], Collection[str]]
) -> list[str]:
    """The endpoints a client is given, once each: `*`, or paths that callable recipes
    serve (started or not: a client may be made before its recipe starts). A call is
    matched to a client's endpoints by exact path, so any other path could never be called.
    Paths `started` callables serve are known without `served`, which reads every recipe."""
    if not endpoints:
        raise InputError(
            "an API client needs at least one endpoint",
            field="endpoints",
            fix="give the path of a callable recipe, or * for all",
        )
    unknown = [endpoint for endpoint in endpoints if endpoint != "*" and endpoint not in started]
    every = served() if unknown else ()
    for endpoint in unknown:
        if endpoint not in every:
            known = ", ".join(sorted(every))
            raise InputError(
                f"no callable recipe serves the endpoint {quoted(endpoint)}",
                field="endpoints",
                fix=f"give one of the callable paths ({known}), or * for all"
                if every
                else "no recipe is callable yet: give * for all, or make a recipe callable "
                "(trigger kind callable) first",
            )
    return list(dict.fromkeys(endpoints))


def _checked_quota(quota_per_day: int | None) -> int | None:
    """None (no quota) or 1 to `MAX_QUOTA_PER_DAY` calls, as an int (`whole`: JSON's 5000.0
    is 5000): a quota of 0 would refuse every call, as a revoked client's token does. One
    below the rate's per-minute count is a client's whole day, which it may take in one
    minute."""
    if quota_per_day is None:
        return None
    quota = whole(quota_per_day)
    if quota is None or not 1 <= quota <= MAX_QUOTA_PER_DAY:
        raise InputError(
            f"quota_per_day must be a whole number of calls per day, from 1 to "
            f"{MAX_QUOTA_PER_DAY}, not {quota_per_day!r}",
            field="quota_per_day",
            fix="give a quota such as 5000, or none (the default) for no quota",
        )
    return quota


class ApiClients:
    """The workspace's API clients, changed on behalf of `user` (who is audited).

    `served` gives the endpoint paths of the workspace's callable recipes, `started` those
    of its started ones (some of them, found without reading every recipe)."""

    def __init__(
        self,
        store: Store,
        user: str,
        served: Callable[[], Collection[str]],
        started: Callable[[], Collection[str]],
        refuse_held_secret: Callable[[str, str, str, str], None],
    ) -> None:
        self.store = store
        self.user = user
        self.served = served
        self.started = started
        self.refuse_held_secret = refuse_held_secret  # `Studio.refuse_held_secret`

    def create(
        self,
        name: str,
        endpoints: list[str],
        rate_per_minute: int = 60,
        quota_per_day: int | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Makes a client; returns it and its token, which is shown only this once."""
        self.refuse_held_secret(name, "name", "API client name", "name the client for its bot")
        if not NAME_PATTERN.match(name):
            raise InputError(
                f"invalid API client name {quoted(name)}",
                field="name",
                fix=f"use {NAME_SAID}, e.g. cb-bot",
            )
        rate = whole(rate_per_minute)  # JSON's 10.0 is 10, as JSON Schema's integer has it
        if rate is None or rate < 1:
            raise InputError(
                f"rate_per_minute must be a whole number of calls per minute, at least 1, "
                f"not {rate_per_minute!r}",
                field="rate_per_minute",
                fix="give a rate such as 120 (the REST API and the CLI take 1 to 100000)",
            )
        rate_per_minute, quota_per_day = rate, _checked_quota(quota_per_day)
        token = "lps_" + secrets.token_urlsafe(32)
        with self.store.write() as s:
            existing = s.get(ApiClient, name)
            if existing is not None:  # a revoked name stays taken: the audit log names it
                state = "a revoked" if existing.revoked else "an"
                raise InputError(
                    f"{state} API client named {quoted(name)} already exists",
                    field="name",
                    fix="choose another name (names are never reused, revoked or not)",
                )
            endpoints = _check_endpoints(list(endpoints), self.started(), self.served)
            row = ApiClient(
                name=name,
                token_sha256=_digest(token),
                endpoints=endpoints,
                rate_per_minute=rate_per_minute,
                quota_per_day=quota_per_day,
                revoked=False,
                created_at=utcnow(),
                created_by=self.user,
            )
            s.add(row)
        self.store.audit(
            self.user,
            CREATE_API_CLIENT,
            name,
            endpoints=endpoints,
            rate=rate_per_minute,
            quota=quota_per_day,
        )
        return _as_dict(row), token

    def list(self) -> list[dict[str, Any]]:
        with self.store.read() as s:
            rows = s.scalars(select(ApiClient).order_by(ApiClient.name)).all()
        return [_as_dict(row) for row in rows]

    def revoke(self, name: str) -> dict[str, Any]:
        """Stops the client's token from working, at once. Revoking it again changes
        nothing, and is audited once (a retried DELETE is not a second revocation)."""
        with self.store.write() as s:
            row = s.get(ApiClient, name)
            if row is None:
                raise NotFoundError(
                    f"no API client named {quoted(name)}",
                    field="name",
                    fix="`lpstudio api-clients list` names them",
                )
            done = bool(row.revoked)
            row.revoked, row.revoked_at = True, row.revoked_at or utcnow()
        if not done:
            self.store.audit(self.user, REVOKE_API_CLIENT, name)
        return _as_dict(row)

    def live_tokens(self, data: Any) -> set[str]:
        """The tokens of live clients that `data` holds (text, or JSON-like data, its keys
        too), as written: lpstudio's own credentials, masked wherever a secret of the
        workspace is. Only text of a token's shape (`TOKEN_SHAPE`) is looked up, by its
        digest, as a token is stored: the store is read only for such text, which a bot's
        call or a webhook delivery seldom holds."""
        text = data if isinstance(data, str) else json.dumps(data, default=str)
        found = {_digest(token): token for token in TOKEN_SHAPE.findall(text)}
        if not found:
            return set()
        with self.store.read() as s:
            live = s.scalars(
                select(ApiClient.token_sha256).where(
                    ApiClient.token_sha256.in_(found), ApiClient.revoked.is_(False)
                )
            ).all()
        return {found[digest] for digest in live}

    def for_token(self, token: str) -> dict[str, Any] | None:
        """The live (not revoked) client holding `token`, or None."""
        with self.store.read() as s:
            row = s.scalars(
                select(ApiClient).where(ApiClient.token_sha256 == _digest(token))
            ).first()
        return _as_dict(row) if row is not None and not row.revoked else None
