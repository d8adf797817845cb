"""The knobs of the sandbox: the real limits of API-FACTS.md as defaults, each changeable.

Limits are settings rather than constants because the public documents disagree across
versions (recipients per request: 100 or 1000) and because tests and demos need to reach a
limit quickly (a bucket of 3 instead of 40, a token that lives 0 seconds).
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass
from typing import Any, get_type_hints


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the emulated LivePerson account and Shopify shop are configured with.

    Attributes:
        requests_per_second: Proactive Messaging calls allowed per account in any 1 s
            window, across all of its APIs together (the handoff list, campaign create and
            campaign status); more are answered 429. Tokens and domain lookups do not count.
        reporting_requests_per_second: Outbound Reporting calls (analytics and
            transactions together) allowed per account in any 1 s window, counted apart
            from the Proactive calls; more are answered 429.
        recipients_per_request: consumers allowed in one campaign request; more is a 400.
        messages_per_second_per_channel: how fast each channel (sms, wa...) delivers: the
            accepted recipients of all campaigns queue per channel and stay `DRAFT` until
            their turn, so 1,000 SMS take 100 s at 10. Fixed for a campaign when it is
            accepted; the create requests themselves are never slowed by it.
        recipients_per_day_per_channel: recipients each channel sends per UTC day, counted
            as campaigns are accepted and from 0 at start and after a reset. Recipients past
            it are still accepted (the API is asynchronous) but never sent: `NOT_SENT`,
            with an `errorMessage` naming the daily limit.
        token_ttl_seconds: lifetime of an issued AppJWT (1 hour like LivePerson; 0 issues
            tokens that are already expired, which tests use instead of waiting).
        account_id: the only LivePerson account the sandbox knows; other ids get 404.
        client_id, client_secret: the only valid OAuth client credentials.
        shopify_token: the only valid `X-Shopify-Access-Token`.
        shopify_bucket_size, shopify_leak_per_second: Shopify's REST leaky bucket.
        seed_checkouts: abandoned checkouts present after start and after every reset.
        campaign_progress_seconds: time from campaign acceptance until its recipients
            leave `DRAFT` (read at query time, so lowering it moves existing campaigns on).
            0 fast-forwards: recipients leave `DRAFT` at once, without waiting for their
            turn on the channel, which tests use instead of waiting.
        reporting_lag_seconds: how far Outbound Reporting lags behind the sends (up to 20
            minutes at LivePerson): a campaign's report, the analytics and the
            transactions show only campaigns received longer ago, each recipient as it
            stood then (read at query time, like `campaign_progress_seconds`). 0, the
            default, reports at once, so that a test or demo sees what it sent.
        sms_window_start_hour, sms_window_end_hour: SMS is delivered only when the
            recipient's local hour h satisfies start <= h < end (no wrap past midnight;
            start >= end means never, which keeps SMS `SCHEDULED`).
        random_seed: seed of the generator behind seeded data and fault decisions, so a run
            with the same faults is reproducible.
    """

    requests_per_second: int = 10
    reporting_requests_per_second: int = 10
    recipients_per_request: int = 100
    messages_per_second_per_channel: int = 10
    recipients_per_day_per_channel: int = 100_000
    token_ttl_seconds: float = 3600
    account_id: str = "12345678"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    shopify_token: str = "shpat_sandbox"
    shopify_bucket_size: int = 40
    shopify_leak_per_second: float = 2
    seed_checkouts: int = 5
    campaign_progress_seconds: float = 2.0
    reporting_lag_seconds: float = 0.0
    sms_window_start_hour: int = 8
    sms_window_end_hour: int = 21
    random_seed: int = 20240601

    def __post_init__(self) -> None:
        # JSON's 1e400 and NaN reach a PATCH as Python floats (and a whole number past a
        # float's range breaks the same sums): held, they were echoed as `Infinity`, which
        # is no JSON, and every token request failed on `int(now + inf)`.
        for name, hint in get_type_hints(type(self)).items():
            if hint is float:
                require_finite(
                    name, getattr(self, name), f"its default {getattr(type(self), name)}"
                )
        for name in (
            "requests_per_second",
            "reporting_requests_per_second",
            "recipients_per_request",
            "messages_per_second_per_channel",
            "recipients_per_day_per_channel",
            "shopify_bucket_size",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in (
            "token_ttl_seconds",
            "seed_checkouts",
            "campaign_progress_seconds",
            "reporting_lag_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.shopify_leak_per_second <= 0:
            raise ValueError("shopify_leak_per_second must be positive")
        for name in ("sms_window_start_hour", "sms_window_end_hour"):
            if not 0 <= getattr(self, name) <= 24:
                raise ValueError(f"{name} must be between 0 and 24")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON, secrets included: the sandbox only ever holds test values."""
        return dataclasses.asdict(self)

    def updated(self, changes: dict[str, Any]) -> SandboxSettings:
        """A copy with `changes` applied, checked like JSON input must be.

        Raises ValueError naming the first unknown field or wrongly typed value.
        """
        hints = get_type_hints(type(self))
        for name, value in changes.items():
            if name not in hints:
                raise ValueError(f"unknown setting: {name}")
            expected = hints[name]
            numeric_ok = expected is float and isinstance(value, int)
            if isinstance(value, bool) or not (isinstance(value, expected) or numeric_ok):
                raise ValueError(f"{name} must be of type {expected.__name__}")
        return dataclasses.replace(self, **changes)


def require_finite(name: str, value: Any, example: str) -> None:
    """Refuses a value that is no finite number (`_finite`), naming `name` and, as the fix,
    an `example` of one: a setting's, or a price given to the control API."""
    if not _finite(value):
        raise ValueError(
            f"{name} must be a finite number, such as {example}, not {reprlib.repr(value)}"
        )


def _finite(value: Any) -> bool:
    """Whether `value` is a finite number, or the text of one (Shopify writes prices as
    text): an int too large for a float is not, nor "NaN" or "1e400"."""
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False
