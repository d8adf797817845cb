"""LivePerson emulation: domain lookup, Sentinel tokens, Proactive Messaging 2.0, the
handoff and skill lists, and Outbound Reporting (analytics, transactions and the
per-campaign report), at their real paths.

All services share the sandbox's one base URL. The domain API answers `agentVep` with the
real zone-`va` host, and every other known service with the sandbox's own host: a lookup to
exercise, not to follow, since lpstudio's connector sends its secret and tokens only to the
LivePerson hosts a lookup names; a connection reaches the sandbox through `base_url` (or a
service's own base URL) instead.

Rates are counted per account as LivePerson counts them: every Proactive Messaging call
(the handoff list, campaign create and campaign status) against the one
`requests_per_second`, Outbound Reporting against its own `reporting_requests_per_second`.
The domain lookup, Sentinel's tokens and the skills list (Account Configuration) are other
APIs and count against neither.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from tornado.web import RequestHandler

from .campaigns import CampaignRejected
from .handlers import ApiError, SandboxHandler
from .limits import retry_after
from .reporting import (
    ANALYTICS_FIELDS,
    MAX_TRANSACTIONS_WINDOW_MS,
    MAX_WINDOW_MS,
    TRANSACTIONS_FIELDS,
    check_filters,
    refuse_unknown,
    summarise,
)
from .seed import HANDOFFS, SKILLS
from .state import SandboxState

ACCOUNT = r"(?P<account_id>[^/]+)"
DOMAIN_SERVICES = ("agentVep", "sentinel", "accountConfigReadOnly")
MAX_HANDOFF_PAGE = 100
MAX_TRANSACTIONS_PAGE = 5000
#: A window in epoch ms that holds every campaign ever received.
ALL_TIME_MS = (0, 2**63 - 1)


class LivePersonHandler(SandboxHandler):
    """Checks the account in the path, then the API version its documented URL names
    (`version`: a client that drops it or asks another is refused, as an upgrade of
    LivePerson's would refuse it), then the bearer token unless `public`, then counts the
    call against the limit of `rate_limited` (an API of `RATE_LIMITED_APIS`), if any."""

    scope = "liveperson"
    public: ClassVar[bool] = False
    rate_limited: ClassVar[str | None] = None
    #: (query parameter, value) of the API version the route's documented URL gives.
    version: ClassVar[tuple[str, str] | None] = None

    async def prepare(self) -> None:
        await super().prepare()
        if self.path_kwargs["account_id"] != self.state.settings.account_id:
            raise ApiError(404, f"Account {self.path_kwargs['account_id']} not found")
        if self.version is not None:
            self.check_version(*self.version)
        if not self.public:
            scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
            problem = self.state.token_error(token.strip() if scheme == "Bearer" else None)
            if problem:
                raise ApiError(401, problem, body={"code": 0, "message": problem})
        if self.rate_limited:
            wait = self.state.admit(self.rate_limited)
            if wait:
                headers = {"Retry-After": str(retry_after(wait))}
                raise ApiError(429, "Too many requests", headers=headers)

    def check_version(self, name: str, expected: str) -> None:
        """A 400 naming the query parameter when the API version is missing or another
        (`v=1` and `v=1.0` are one version)."""
        given = self.get_query_argument(name, None)
        try:
            same = given is not None and float(given) == float(expected)
        except ValueError:
            same = False
        if not same:
            said = "missing" if given is None else f"unsupported: {name}={given}"
            raise ApiError(400, f"API version {said}; send {name}={expected}")

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"code": status, "requestTraceId": str(uuid.uuid4()), "message": message}

    def int_argument(self, name: str, default: int | None = None) -> int:
        """An integer query parameter; a 400 naming it when absent or not a number."""
        text = self.get_query_argument(name, None)
        if text is None and default is not None:
            return default
        try:
            return int(text or "")
        except ValueError as error:
            raise ApiError(400, f"Query parameter {name} must be an integer") from error


class DomainHandler(LivePersonHandler):
    """`GET /api/account/{id}/service/{service}/baseURI.json?version=1.0`."""

    public = True
    version = ("version", "1.0")

    def get(self, account_id: str, service: str) -> None:
        if service not in DOMAIN_SERVICES:
            raise ApiError(404, f"Unknown service: {service}")
        host = "va.agentvep.liveperson.net" if service == "agentVep" else self.request.host
        self.send_json({"service": service, "account": account_id, "baseURI": host})


class TokenHandler(LivePersonHandler):
    """Sentinel's client-credentials grant: form body in, AppJWT out."""

    public = True
    version = ("v", "1.0")

    def post(self, account_id: str) -> None:
        if self.get_query_argument("grant_type", None) != "client_credentials":
            body = {"error": "unsupported_grant_type"}
            raise ApiError(400, "unsupported_grant_type", body=body)
        token = self.state.issue_token(
            self.get_body_argument("client_id", ""), self.get_body_argument("client_secret", "")
        )
        if token is None:
            body = {"error": "invalid_client", "error_description": "Bad client credentials"}
            raise ApiError(401, "invalid_client", body=body)
        self.send_json({"access_token": token, "token_type": "Bearer"})


class ProactiveHandler(LivePersonHandler):
    """A Proactive Messaging API: each call counts against the account's one rate, whichever
    of them it is (LivePerson's limit is across all Proactive APIs together)."""

    rate_limited = "proactive"


class CampaignHandler(ProactiveHandler):
    """`POST /api/v2/account/{id}/campaign`: strict checks, then accept and record."""

    def post(self, account_id: str) -> None:
        try:
            campaign = self.state.create_campaign(self.json_body())
        except CampaignRejected as error:
            raise ApiError(400, str(error)) from error
        if self.dropping:
            self.state.mark_unanswered(campaign)
        self.send_json(campaign.answer())


class ConversationsHandler(ProactiveHandler):
    """`GET .../campaign/{proactiveCampaignId}/conversations`: status as of now."""

    def get(self, account_id: str, campaign_id: str) -> None:
        status = self.state.conversations(campaign_id)
        if status is None:
            raise ApiError(404, f"Campaign {campaign_id} not found")
        self.send_json(status)


class HandoffsHandler(ProactiveHandler):
    """The API handoffs, paged by `limit` (1-100, default 30) and `offset`.

    The real answer's field names are not public; the sandbox serves::

        {"handoffs": [{"id": "H1000000001", "title": "SMS message (your text, then the opt-out)",
                       "lookBackPeriod": 1440,            # minutes
                       "channels": [{"channel": "sms", "outboundNumber": "+14155550000",
                                     "template": "{{1}} Reply STOP ..."}]}],   # priority order
         "total": 3, "limit": 30, "offset": 0}

    A WhatsApp channel also names its approved template in `templateId`.
    """

    version = ("v", "1")

    def get(self, account_id: str) -> None:
        limit = self.int_argument("limit", 30)
        offset = self.int_argument("offset", 0)
        if not 1 <= limit <= MAX_HANDOFF_PAGE or offset < 0:
            raise ApiError(400, f"limit must be 1-{MAX_HANDOFF_PAGE} and offset at least 0")
        page = list(HANDOFFS[offset : offset + limit])
        self.send_json({"handoffs": page, "total": len(HANDOFFS), "limit": limit, "offset": offset})


class SkillsHandler(LivePersonHandler):
    """The account's skills as `[{"id": int, "name": str}]`."""

    def get(self, account_id: str) -> None:
        self.send_json(list(SKILLS))


class ReportingHandler(LivePersonHandler):
    """Outbound Reporting: its own rate limit, the window in the query and the filters in
    a JSON body, each checked strictly (a 400 naming what is wrong)."""

    rate_limited = "reporting"

    def window(self, longest_ms: int, longest: str) -> tuple[int, int]:
        """`attemptedStartTime` and `attemptedEndTime`, at most `longest` apart."""
        start = self.int_argument("attemptedStartTime")
        end = self.int_argument("attemptedEndTime")
        if end < start:
            raise ApiError(400, "attemptedEndTime must not be before attemptedStartTime")
        if end - start > longest_ms:
            raise ApiError(400, f"The time window must be at most {longest}")
        return start, end

    def body_and_filters(
        self, fields: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The JSON body (none: empty) and its checked `filters`; an unknown field or
        filter, a wrong type or an unknown source is a 400: a typo ignored would filter
        nothing, or everything, without a word."""
        body = self.json_body()
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        try:
            refuse_unknown(body, fields, "field", " in the body")
            return body, check_filters(body.get("filters"))
        except ValueError as error:
            raise ApiError(400, str(error)) from error


class AnalyticsHandler(ReportingHandler):
    """Outbound Reporting analytics over at most 60 days: `{"data": [row, ...]}`, a row
    per channel, skill and UTC day. `GET` counts every campaign; `POST` takes
    `{"filters": {"channels": [...], "skills": [...], "handoffids": [...], "source": [...]}}`,
    each optional (an absent or empty one keeps all), like the transactions' filters."""

    def get(self, account_id: str) -> None:
        start, end = self.window(MAX_WINDOW_MS, "60 days")
        self.send_json({"data": self.state.analytics(start, end)})

    def post(self, account_id: str) -> None:
        start, end = self.window(MAX_WINDOW_MS, "60 days")
        _, filters = self.body_and_filters(ANALYTICS_FIELDS)
        self.send_json({"data": summarise(self.state.transactions(start, end, filters))})


class TransactionsHandler(ReportingHandler):
    """`POST .../app/prmsg/transactions/?attemptedStartTime=&attemptedEndTime=&v=2.0`: a
    row per recipient over at most 24 hours, paged by the body's `offset` and `limit`
    (default 100, at most 5000), filtered by its `filters` (`channels`, `skills`,
    `handoffids`, `source`). The real rows' fields are not public; the sandbox serves::

        {"data": [{"proactiveCampaignId": "...", "handoffId": "H1000000001",
                   "channel": "sms", "skill": "sales", "consumerId": "...",
                   "address": "+14155550100", "status": "DELIVERED", "errorMessage": null,
                   "attemptedTime": 1764400000000}],
         "offset": 0, "limit": 100, "total": 1}

    `consumerId` is the recipient's `id` in the create answer and the conversations.
    An unknown body field or filter name is a 400 naming it and the known ones.
    """

    version = ("v", "2.0")

    def post(self, account_id: str) -> None:
        start, end = self.window(MAX_TRANSACTIONS_WINDOW_MS, "24 hours")
        body, filters = self.body_and_filters(TRANSACTIONS_FIELDS)
        offset, limit = body.get("offset", 0), body.get("limit", 100)
        if not _whole(offset) or offset < 0:
            raise ApiError(400, "offset must be an integer of at least 0")
        if not _whole(limit) or not 1 <= limit <= MAX_TRANSACTIONS_PAGE:
            raise ApiError(400, f"limit must be an integer from 1 to {MAX_TRANSACTIONS_PAGE}")
        rows = self.state.transactions(start, end, filters)
        page = rows[offset : offset + limit]
        self.send_json({"data": page, "offset": offset, "limit": limit, "total": len(rows)})


class CampaignReportHandler(ReportingHandler):
    """`GET .../app/prmsg/campaigns/{proactiveCampaignId}/`: a row per recipient of one
    campaign, whenever it was sent, in the order of the create request's answer (accepted,
    then failed). The real rows' fields are not public; the sandbox serves the
    transactions' rows::

        {"proactiveCampaignId": "...", "data": [{"consumerId": "...", "address": "...",
                                                  "channel": "sms", "status": "NOT_SENT",
                                                  "errorMessage": "DAILY_LIMIT_REACHED: ...",
                                                  "attemptedTime": 1764400000000, ...}]}

    An unknown campaign is a 404, as is one received within `reporting_lag_seconds`
    (LivePerson's reports lag up to 20 minutes).
    """

    def get(self, account_id: str, campaign_id: str) -> None:
        rows = [
            row
            for row in self.state.transactions(*ALL_TIME_MS, {})
            if row["proactiveCampaignId"] == campaign_id
        ]
        if not rows:  # a campaign has at least one recipient
            raise ApiError(404, f"Campaign {campaign_id} not found")
        self.send_json({"proactiveCampaignId": campaign_id, "data": rows})


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def routes(state: SandboxState) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    args = {"state": state}
    base = f"/api/account/{ACCOUNT}"
    return [
        (rf"{base}/service/(?P<service>[^/]+)/baseURI\.json", DomainHandler, args),
        (rf"/sentinel/api/account/{ACCOUNT}/app/token", TokenHandler, args),
        (rf"/api/v2/account/{ACCOUNT}/campaign", CampaignHandler, args),
        (
            rf"/api/v2/account/{ACCOUNT}/campaign/(?P<campaign_id>[^/]+)/conversations",
            ConversationsHandler,
            args,
        ),
        (rf"{base}/app/prmsg/handoffs/list", HandoffsHandler, args),
        (rf"{base}/configuration/le-users/skills", SkillsHandler, args),
        (rf"{base}/app/prmsg/analytics/?", AnalyticsHandler, args),
        (rf"{base}/app/prmsg/transactions/?", TransactionsHandler, args),
        (rf"{base}/app/prmsg/campaigns/(?P<campaign_id>[^/]+)/?", CampaignReportHandler, args),
    ]
