"""Everything the sandbox remembers, behind one lock.

The HTTP handlers run on the sandbox's event loop while `Sandbox` is driven from another
thread, so every read and write of shared state goes through `SandboxState` methods that
hold the lock. Limits and token lifetimes use the monotonic clock (immune to clock
changes); campaign times use the wall clock because the SMS window is a time of day.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

from .campaigns import Campaign, Sending, check_request
from .faults import FaultDecision, FaultPlan, decide
from .limits import DailyQuota, LeakyBucket, PacedQueue, SlidingWindow
from .reporting import analytics_rows, transaction_rows
from .seed import (
    HANDOFFS,
    TEMPLATES,
    check_amounts,
    make_checkout,
    parse_time,
    seed_checkouts,
    timestamp,
)
from .settings import SandboxSettings

LOG_SIZE = 10_000
#: The LivePerson APIs that each count their own requests per second: "proactive" every
#: Proactive Messaging call (handoff list, campaign create and status) together, "reporting"
#: Outbound Reporting's.
RATE_LIMITED_APIS = ("proactive", "reporting")
HANDOFFS_BY_ID = {handoff["id"]: handoff for handoff in HANDOFFS}
TEMPLATES_BY_ID = {template["id"]: template for template in TEMPLATES}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SandboxState:
    """The emulated account, shop, limits and faults; `reset()` returns to the start."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._initial = settings
        self._lock = threading.RLock()
        self.reset()

    def reset(self, keep_settings: bool = False) -> None:
        """Forget everything received; restore the start-up settings unless `keep_settings`.

        Seed data follows the settings in force, so a demo can PATCH `seed_checkouts` and
        then reset with `keep_settings` to start from that many checkouts.
        """
        with self._lock:
            if not keep_settings:
                self._settings = self._initial
            settings = self._settings
            self._tokens: dict[str, float] = {}
            self._campaigns: dict[str, Campaign] = {}
            self._accepted: Counter[str] = Counter()
            self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)
            self._windows = {api: SlidingWindow() for api in RATE_LIMITED_APIS}
            self._bucket = LeakyBucket()
            self._sent_today = DailyQuota()
            self._channel_queues = PacedQueue()
            self._faults: FaultPlan | None = None
            self._fault_rng = random.Random(settings.random_seed)
            self._data_rng = random.Random(settings.random_seed)
            now = datetime.now(UTC)
            self._checkouts = seed_checkouts(settings.seed_checkouts, self._data_rng, now)

    # settings

    @property
    def settings(self) -> SandboxSettings:
        with self._lock:
            return self._settings

    def update_settings(self, changes: dict[str, Any]) -> SandboxSettings:
        """Apply a PATCH; ValueError leaves the settings unchanged."""
        with self._lock:
            self._settings = self._settings.updated(changes)
            return self._settings

    # tokens

    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        """A new AppJWT for the right credentials, else None."""
        with self._lock:
            settings = self._settings
            valid = secrets.compare_digest(
                client_id.encode(), settings.client_id.encode()
            ) and secrets.compare_digest(client_secret.encode(), settings.client_secret.encode())
            if not valid:
                return None
            ttl = settings.token_ttl_seconds
            header = {"alg": "RS256", "typ": "JWT"}
            claims = {
                "iss": "Sentinel",
                "aud": client_id,
                "acc": settings.account_id,
                "exp": int(time.time() + ttl),
                "jti": str(uuid.uuid4()),
            }
            token = ".".join(
                (
                    _b64(json.dumps(header).encode()),
                    _b64(json.dumps(claims).encode()),
                    _b64(secrets.token_bytes(32)),
                )
            )
            self._tokens[token] = time.monotonic() + ttl
            return token

    def token_error(self, token: str | None) -> str | None:
        """Why `token` is refused, in the words of LivePerson's JWT library; None if valid."""
        if not token:
            return "jwt must be provided"
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None:
            return "invalid signature"
        if time.monotonic() >= expires:
            return "jwt expired"
        return None

    def expire_tokens(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = dict.fromkeys(self._tokens, now)

    # limits

    def admit(self, api: str) -> float:
        """Count one call to `api` (one of `RATE_LIMITED_APIS`) against its own limit: 0, or
        the seconds until one would be allowed."""
        with self._lock:
            settings = self._settings
            limits = {
                "proactive": settings.requests_per_second,
                "reporting": settings.reporting_requests_per_second,
            }
            return self._windows[api].admit(time.monotonic(), limits[api])

    def admit_shopify(self) -> tuple[float, str]:
        """Count one Shopify call: (seconds to wait or 0, the call-limit header value)."""
        with self._lock:
            size = self._settings.shopify_bucket_size
            wait = self._bucket.admit(
                time.monotonic(), size, self._settings.shopify_leak_per_second
            )
            return wait, f"{self._bucket.used()}/{size}"

    # campaigns

    def create_campaign(self, body: Any) -> Campaign:
        """Check and record a campaign request; CampaignRejected records nothing."""
        with self._lock:
            handoff, accepted, failed = check_request(
                body, HANDOFFS_BY_ID, TEMPLATES_BY_ID, self._settings.recipients_per_request
            )
            now = time.time()
            campaign = Campaign(
                number=len(self._campaigns) + 1,
                handoff=handoff,
                request=body,
                accepted=accepted,
                failed=failed,
                received_at=now,
                request_trace_id=str(uuid.uuid4()),
                sending=self._sending(handoff["channels"][0]["channel"], len(accepted), now),
            )
            self._campaigns[campaign.id] = campaign
            channels = [channel["channel"] for channel in handoff["channels"]]
            for consumer in accepted:
                self._accepted.update({consumer["consumerContent"][c] for c in channels})
            return campaign

    def _sending(self, channel: str, accepted: int, now: float) -> Sending:
        """Spend today's cap of `channel` on `accepted` recipients and queue those it
        allows behind the channel's earlier messages."""
        settings = self._settings
        limit = settings.recipients_per_day_per_channel
        sendable = self._sent_today.take(channel, now, accepted, limit)
        per_second = settings.messages_per_second_per_channel
        wait = self._channel_queues.enqueue(channel, now, sendable, per_second)
        return Sending(sendable, limit, wait, 1 / per_second)

    def mark_unanswered(self, campaign: Campaign) -> None:
        with self._lock:
            campaign.answer_dropped = True

    def conversations(self, campaign_id: str) -> dict[str, Any] | None:
        with self._lock:
            campaign = self._campaigns.get(campaign_id)
            if campaign is None:
                return None
            return campaign.conversations(time.time(), self._settings)

    def analytics(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        with self._lock:
            campaigns = list(self._campaigns.values())
            return analytics_rows(campaigns, start_ms, end_ms, time.time(), self._settings)

    def transactions(
        self, start_ms: int, end_ms: int, filters: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        with self._lock:
            campaigns = list(self._campaigns.values())
            now = time.time()
            return transaction_rows(campaigns, start_ms, end_ms, now, self._settings, filters)

    def campaign_records(self) -> list[dict[str, Any]]:
        with self._lock:
            now = time.time()
            return [c.to_record(now, self._settings) for c in self._campaigns.values()]

    def recipient_records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"address": address, "count": count}
                for address, count in sorted(self._accepted.items())
            ]

    # shopify

    def checkouts(self) -> list[dict[str, Any]]:
        """All checkouts, id ascending (ids are handed out in ascending order)."""
        with self._lock:
            return list(self._checkouts)

    def add_checkouts(self, given: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add checkouts, inventing what is missing; all or none (ValueError, TypeError)."""
        with self._lock:
            now = datetime.now(UTC)
            start = len(self._checkouts)
            # Like Shopify, a checkout added now was last updated now (never in the future),
            # so a poll cursor taken earlier never skips it.
            added = [
                make_checkout(
                    start + offset, self._data_rng, now, {"updated_at": now.isoformat(), **item}
                )
                for offset, item in enumerate(given)
            ]
            self._checkouts.extend(added)
            return added

    def update_checkout(self, checkout_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a checkout in place (KeyError when there is none; ValueError, TypeError for
        a bad time or price); its `updated_at` becomes now unless `changes` gives one."""
        with self._lock:
            found = [i for i, c in enumerate(self._checkouts) if c["id"] == checkout_id]
            if not found:
                raise KeyError(checkout_id)
            index = found[0]
            changes = {k: v for k, v in changes.items() if k != "id"}
            check_amounts(changes)
            for name in ("created_at", "updated_at", "completed_at"):
                if changes.get(name) is not None:
                    changes[name] = timestamp(parse_time(changes[name]))
            updated = {
                **self._checkouts[index],
                "updated_at": timestamp(datetime.now(UTC)),
                **changes,
            }
            self._checkouts[index] = updated
            return updated

    # faults

    def set_faults(self, plan: FaultPlan, seed: int | None) -> None:
        """Install a plan, reseeding so the same plan always hits the same requests."""
        with self._lock:
            self._faults = plan
            self._fault_rng = random.Random(self._settings.random_seed if seed is None else seed)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = None

    def faults(self) -> FaultPlan | None:
        with self._lock:
            return self._faults

    def fault_for(self, scope: str) -> FaultDecision:
        """Draw the fate of one request of `scope`, spending the plan's count."""
        with self._lock:
            plan = self._faults
            if plan is None or not plan.covers(scope):
                return FaultDecision()
            if plan.count is not None:
                remaining = plan.count - 1
                self._faults = dataclasses.replace(plan, count=remaining) if remaining else None
            return decide(plan, self._fault_rng)

    # request log

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)
