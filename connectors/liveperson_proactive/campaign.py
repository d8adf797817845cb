"""Sending a Proactive campaign: render each recipient, batch, send each one once, account
for all.

Recipients stream in: a list, any iterable of records, or a DataFrame, which is converted to
records `READ_ROWS` rows at a time (never all at once: 100,000 recipients as dicts would
take hundreds of MB).

What is sent once is a recipient, not a request: (account, handoff, address) is the key in
the job's ledger, which its retries and reruns share, so a retry whose recipients changed
(a file edited, a date rolled over) still finds each one sent before, however its batches
are cut. A recipient with an address per channel is known by its phone number (its in-app
id, else: `IDENTITY_ORDER`), so one whose in-app id changed is not messaged again. For
each batch (one create-campaign request):
- its recipients are claimed together, in one ledger transaction, at the last moment
  before the request goes out (after its waits for the rate limit and the token); those
  accepted before are reported `already_sent`, those an earlier attempt got no answer for
  (or left claimed when its process died mid-request) `uncertain`: neither is sent again.
  A batch found to have none left to send (read first: a rerun of a campaign sent whole) is
  claimed at once and asks LivePerson for nothing, not even a token;
- the rest go out, and one ledger transaction settles them: accepted, or rejected when
  LivePerson refused them one by one (`failed`) or the request whole (`rejected`), or
  uncertain when the answer was lost, or named no campaign and no recipient (a proxy's
  `{"status": "ok"}`: taken, it says, but not whom). Rejected recipients were not sent: a
  retry sends them. A request refused whole that is tried again (a 401 with a fresh token,
  a 429) releases its claim before the wait and claims again before the next try: a job
  killed while a batch waits never leaves it uncertain. A 5xx answer leaves the batch
  uncertain (LivePerson may have acted before it failed), and so does any other answer
  LivePerson does not document as a refusal (a 409, a 422: `NOT_TAKEN`); a 2xx is read
  for what it names, whatever its code.

With `once_per` (a record field, such as a checkout's id), a recipient is also claimed,
first, by (account, that field and its value) in the ledger every job of the recipe
shares: a value another job of the recipe accepted (or may have: uncertain, or claimed by a
job that died sending) is not sent again, whatever the recipient's address or the recipe's
handoff now, and is reported as above with the job that sent it. One that another job of
the recipe is sending right now (it runs, its answer is to come) is waited for once every
batch has been tried (checked every `IN_PROGRESS_POLL` s, for `IN_PROGRESS_WAIT` s at most):
reported as above once that job accounts for it, sent after all if LivePerson refused it
that job's recipient (the customer's number changed in between), and still under way at the
end of the wait, reported under `in_progress` with that job, failing the campaign to be
retried (its retry looks again). A checkout that
comes back as a new event once its customer edited it, or that Run now takes again, is
messaged once. The scope is the recipe's name: a renamed recipe starts afresh. A record
without a value for the field is not sent (`unsendable`, like one without an address).

A record the campaign cannot send (no address, a number not in E.164, an address or
`once_per` value an earlier record of the send has, a variable it cannot render) is never
claimed or sent: it is reported under `unsendable`, apart from those LivePerson refused
(`failed`), named by its address and its record's ids (`record_fields`), and a duplicate
names the earlier record its address is sent for. LivePerson never saw it, so no ledger
holds it: a rerun reading the same records reports it again, and the dashboard, which
counts LivePerson's refusals (`failed`), counts it in no run.

A dry run (a Test) reads both ledgers as a batch's claim does and claims nothing: its
requests hold only the recipients a real run would send now, and those it would not are
reported as a real run reports them (`already_sent`, `uncertain`, `in_progress`).

Once every batch has been tried, rejected or uncertain recipients raise
`CampaignIncomplete`, so the job fails: its retry can send what was not accepted and its
failure contacts hear of it. Recipients refused one by one do not fail it, unless they are
all refused for one reason that is the recipe's (`NobodySendable`). A campaign that leaves
recipients uncertain says so to its job (`uncertain`, as `ServiceTrouble` does): its failure
contacts hear of it at once, and it is retried only when some recipients are left to send
(`retryable`), never for the uncertain ones alone (the ledger keeps any run from resending
those, so such a retry could only fail on them again).

A refusal that is the request's, not its recipients' (a field LivePerson misses, the app's
credentials, every recipient refused for the handoff's fit: `RequestRefused`,
`HandoffMismatch`), would meet every later batch alike: the campaign stops there and the
recipients it never reached are counted as `not_sent`. So it does when the service is in
trouble (`ServiceTrouble`): a `Retry-After` longer than a job waits (honoured: nothing more
goes before it), a request refused for every try, a host that may answer later (its domain
lookup failing, a page where its JSON was due), or an answer after which LivePerson may
have acted (5xx, none, unreadable): sending on would leave one more batch uncertain for
good per request; a retry later sends the rest.

A campaign stops before it would pass LivePerson's recipients per day per channel
(`DailyLimit`): the recipients left are `not_sent`, and the job fails, not retried (a retry
that day meets the limit again). The limit counts every campaign of the account that day,
whichever job, recipe or process sends it: each batch reserves its recipients in the
ledger's daily count before it goes out and gives back those it did not send (found sent
before, refused by LivePerson or never reached); what was accepted, or may have been (a
send whose answer never came, the batch a killed run had out), stays counted. A run the
next day sends the rest.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from string import Template
from typing import Any
from weakref import WeakKeyDictionary

from lpstudio.errors import InputError
from lpstudio.sdk import NOT_SENT, Connection, ConnectorError, Ledger, chunks, is_e164, web_page
from lpstudio.templating import (
    channels_misfit,
    lookup,
    numbered,
    placeholders,
    render,
    variables_misfit,
)

from .client import (
    NAMES_ACCOUNT,
    LivePersonClient,
    NothingToSend,
    NotNow,
    Uncertain,
    error_message,
    setting,
    shown_url,
)

PHONE_CHANNELS = ("sms", "wa")
#: The channel whose address names a recipient (in the result, and as its key in the ledger):
#: the first it has, so that a recipient whose in-app id changed is the same phone.
IDENTITY_ORDER = ("sms", "wa", "inapp", "email")
#: The connection field of LivePerson's recipients per day per channel.
DAILY_LIMIT = "recipients_per_day_per_channel"
#: Current LivePerson documents allow 100 recipients per request, older ones 1000.
MAX_RECIPIENTS_PER_REQUEST = 1000
#: The requests a dry run's answer (and a Test's output) shows, the first ones: a 100,000
#: recipient campaign's thousand would bury the answer; `requests_total` counts them all.
DRY_RUN_REQUESTS = 20
#: Rows of a DataFrame converted to records at once: large enough that pandas' per-call
#: cost is spread thin, small enough that the records of one slice stay a few MB.
READ_ROWS = 1000
#: Campaign ids named in the message of `CampaignIncomplete` (a long fan-out has a thousand).
IDS_SHOWN = 5
UNANSWERED_BEFORE = "an earlier attempt got no answer: it may have been accepted"
#: How long the campaign waits, once every batch was tried, for `once_per` values another
#: running job of the recipe is sending (that job's request waits out a 429 up to 60 s).
IN_PROGRESS_WAIT = 120.0
IN_PROGRESS_POLL = 0.5
#: The campaigns each run of a job created, by the job's ledger (a run's own: a job put back
#: in the queue runs again in a new kernel): a recipient the job's ledger holds accepted by
#: one of them was sent by an earlier campaign of this run, not by an earlier run.
_CREATED_IN_RUN: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


class CampaignIncomplete(ConnectorError):
    """Some recipients were refused whole (rejected) or may have been sent (uncertain):
    raised after every batch was tried, with `result` accounting for every recipient. A
    retry may help the rejected ones only (`retryable`); uncertain ones (`uncertain`) are
    for a person to check."""

    def __init__(self, result: dict[str, Any], data: dict[str, Any]) -> None:
        rejected, uncertain, before, busy = (
            sum(entry["recipients"] for entry in result.get(kind, []))
            for kind in ("rejected", "uncertain", "already_sent", "in_progress")
        )
        reason = f" (first: {_reason(result['rejected'][0])})" if rejected else ""
        ids = [str(c["proactiveCampaignId"]) for c in result["campaigns"]]
        more = f" and {len(ids) - IDS_SHOWN} more" if len(ids) > IDS_SHOWN else ""
        super().__init__(
            f"LivePerson did not accept every recipient: accepted {result['accepted']}, "
            f"rejected {rejected}{reason}, uncertain {uncertain}, already sent {before}"
            + (f", still being sent by another job {busy}" if busy else "")
            + f"; campaigns: {', '.join(ids[:IDS_SHOWN]) or 'none'}{more}. "
            + _what_a_retry_does(rejected, uncertain, busy),
            retryable=rejected > 0 or busy > 0,
            result=result,
            uncertain=uncertain > 0,
            check=_check(data),
        )


def _what_a_retry_does(rejected: int, uncertain: int, busy: int) -> str:
    """The advice of `CampaignIncomplete`, of what it holds alone: a retry sends nothing
    again when nothing was rejected."""
    again = [
        *(["sends the rejected recipients again"] if rejected else []),
        *(["looks again at those another job was sending"] if busy else []),
    ]
    said = [f"A retry or rerun {' and '.join(again)}"] if again else []
    if uncertain:
        said.append("uncertain ones are never resent")
    text = "; ".join(said)
    return text[:1].upper() + text[1:]


def _check(data: dict[str, Any]) -> str:
    """How a person finds out what LivePerson did with recipients in doubt, whose campaign
    no answer named (`campaign_report` needs its id): Outbound Reporting's row per
    recipient attempted, narrowed to the campaign's handoff, read as the README reads an
    action: in a recipe's cell, run as a job (by hand, a dry run reads nothing). Their
    job's fix adds when they were sent (`ConnectorError.check`, and their claims' check,
    `Ledger.claim_many`, should the job end before they are answered)."""
    handoff = json.dumps([str(data["handoff"])])
    return (
        "find what LivePerson did with them: `lp.connection(SLOT).reporting_transactions("
        f"start=..., end=..., handoff_ids={handoff})` (SLOT: the recipe's slot of the "
        "connection that sent them), in a cell of a recipe run as a job, `lpstudio run "
        "REPORT` (REPORT: that recipe; run by hand, a cell is a dry run and reads nothing), "
        "lists each recipient it attempted"
    )


#: How a batch's send stops the campaign: raises what it returns, given the batch's number,
#: the campaign's input and its result.
Stop = Callable[[int, dict[str, Any], dict[str, Any]], ConnectorError]


def today() -> str:
    """The UTC day LivePerson's daily limits count by, as the ledger dates each send."""
    return datetime.now(UTC).date().isoformat()


class DailyLimit:
    """LivePerson's recipients per day per channel, as the account's campaigns together use
    it: each recipient sent counts once on every channel it is given (accepted, or maybe:
    uncertain), in the ledger's daily count of the account's channel (`Ledger.reserve_daily`),
    which every job and process shares. A dry run reserves nothing: it counts what it would
    send on top of what the day holds."""

    def __init__(self, conn: Connection, account: str, channels: list[str]) -> None:
        self.limit = setting(conn, DAILY_LIMIT, 100_000, 1, None)
        self.channels = channels
        self.scopes = [f"liveperson:{account}:{channel}" for channel in channels]
        self.ledger = conn.ledger
        self.dry_run = conn.dry_run
        self.day = today()
        self.counted = 0  # this run's sends, accepted or maybe
        self.budget = 0  # the batch's reserved room: how many of it may be sent
        self.cut = 0  # recipients a batch found no room for: never sent, `not_sent`
        self._planned = 0  # a dry run's

    def room(self) -> int:
        """How many recipients more may be sent today, as the day's count now holds."""
        self.day = today()
        return self.limit - self.ledger.daily_used(self.scopes, self.day) - self._planned

    def reserve(self, count: int) -> int:
        """Reserves up to `count` recipients of today's room; returns how many."""
        if self.dry_run:
            granted = max(0, min(count, self.room()))
            self._planned += granted
            return granted
        self.day = today()
        return self.ledger.reserve_daily(self.scopes, self.day, count, self.limit)

    def spend(self, room: int, send: Callable[[], Stop | None]) -> Stop | None:
        """Sends a batch within the `room` reserved for it (its recipients sent before need
        none; those past it are cut, never sent), then gives back the room it did not count
        (`counted`) however it ended: what a killed process had out stays reserved. Stops the
        campaign at the daily limit when it cut any."""
        self.budget, cut, before = room, self.cut, self.counted
        try:
            stop = send()
        finally:
            unsent = room - (self.counted - before)
            if unsent > 0 and self.dry_run:
                self._planned -= unsent
            elif unsent > 0:
                self.ledger.release_daily(self.scopes, self.day, unsent)
        if stop is None and self.cut > cut:
            # With room for some of it, those went: the batch was cut short, not skipped.
            return partial(DailyLimitReached, self, cut=self.cut - cut if room else 0)
        return stop

    def fit(self, addresses: list[str]) -> list[str]:
        """Takes out of a batch's `addresses` to send those past its room (`budget`) and
        returns them: never sent, counted as `cut`."""
        over = addresses[self.budget :]
        del addresses[self.budget :]
        self.cut += len(over)
        return over


class _Queue:
    """The recipients not yet in a batch."""

    def __init__(self, consumers: Iterator[Consumer]) -> None:
        self._rest = consumers

    def take(self, count: int) -> list[Consumer]:
        return list(islice(self._rest, count))

    def count(self) -> int:
        """How many are left (read to the end: the campaign sends none of them)."""
        return sum(1 for _ in self._rest)


class DailyLimitReached(ConnectorError):
    """Batch `number` would pass the recipients per day per channel: the campaign stops
    before it, or, when the day had room for some of it, sends it `cut` short of that many
    recipients; those and the recipients left are `not_sent`. Not retryable: a retry that
    day meets the same limit; a run the next day (or with the limit raised) sends them."""

    def __init__(
        self,
        limit: DailyLimit,
        number: int,
        data: dict[str, Any],
        result: dict[str, Any],
        cut: int = 0,
    ) -> None:
        uncertain = sum(entry["recipients"] for entry in result["uncertain"])
        rejected = sum(entry["recipients"] for entry in result["rejected"])
        allowed = (
            f"{limit.limit} recipients a day on {', '.join(limit.channels)} "
            f"({DAILY_LIMIT}; {limit.day}, UTC)"
        )
        done = (
            f"A real run would send {result['recipients']} and leave {result['not_sent']} not sent"
            if result.get("dry_run")
            else _stopped(result)
        )
        left = result["not_sent"] - cut
        where = (
            f": batch {number} was cut to the day's limit of {allowed}, {cut} of its "
            "recipients" + (f" and the {left} left" if left else "") + " not sent"
            if cut
            else f" before batch {number}: sending it would pass {allowed}"
        )
        super().__init__(
            f"The campaign stopped{where}. {done}"
            + (f"; rejected {rejected}, sent by a later run" if rejected else "")
            + (f"; uncertain {uncertain} are never resent" if uncertain else ""),
            field=DAILY_LIMIT,
            fix="send the rest tomorrow (UTC): the job run again then sends only the recipients "
            "neither accepted nor uncertain; or, if your LivePerson account's daily limit is "
            "higher, raise "
            f"{DAILY_LIMIT} on the connection",
            result=result,
            uncertain=uncertain > 0,
            not_today=True,
            check=_check(data),
        )


#: Per-recipient errors that say the request does not fit the handoff, whoever the
#: recipient: every recipient gets the same variables, channels and header, so when one
#: fails so, all do. Error code (or its prefix, up to "=") -> the input of `send_campaign`
#: it blames, then its fix in two parts (`_misfit_fix` fills them): the handoff to choose
#: instead, which an admin changes (a recipe's parameters are not the action's inputs, and
#: the connector cannot know them), and the change to the action's argument, which the
#: recipe's author makes.
HANDOFF_MISFITS = {
    "TOO_MANY_VARIABLES": (
        "variables",
        "choose a handoff whose message has $placeholders",
        "give `send_campaign(variables=...)` only the {{n}} placeholders of the handoff's message",
    ),
    "INSUFFICIENT_VARIABLES": (
        "variables",
        "choose a handoff whose message has $placeholders",
        "give `send_campaign(variables=...)` a variable for every {{n}} placeholder of the "
        "handoff's message",
    ),
    "MISSING_VARIABLE": (
        "variables",
        "choose a handoff whose message has $placeholders",
        "number `send_campaign(variables=...)` as the handoff's {{n}} placeholders: 1, 2... "
        "with none skipped",
    ),
    "MISSING_CONSUMER_INFORMATION": (
        "channels",
        "choose a handoff $on (the handoff pick list shows each one's channels)",
        "add $missing to `send_campaign(channels=...)`, with the field of its address in "
        "`consumer_id=`",
    ),
    "INVALID_HEADER_VARIABLE": (
        "header_variables",
        "choose a handoff on wa: only WhatsApp takes a header's image, video or document",
        "give `send_campaign(header_variables=...)` only with a WhatsApp handoff (wa in "
        "`channels=`), each as an https:// URL",
    ),
}


def _fix(handoff: str, recipe: str) -> str:
    """A fix for a misfit of the campaign's input and its handoff: the handoff to choose
    first (an admin's change), then the recipe's change (its author's)."""
    return f"{handoff}; or, in the recipe, {recipe}"


def _misfit_fix(code: str, data: dict[str, Any]) -> tuple[str, str]:
    """The input a `HANDOFF_MISFITS` code blames and its fix, said of the campaign as
    given (its channels, its variables' placeholders) and of the channel the code names:
    the same for a dry run's foreseen refusal as for LivePerson's."""
    kind, _, named = code.partition("=")
    field, handoff, recipe = HANDOFF_MISFITS[kind]
    channels = list(address_fields(data))
    variables = sorted(data.get("variables") or {}, key=numbered)
    said = {
        "placeholders": f"{_braced(variables)} only" if variables else "no placeholder",
        "on": f"on {channels[0]} alone"
        if len(channels) == 1
        else f"whose channels are all among {', '.join(channels)}",
        "missing": named.lstrip("=").lower() or "every channel of the handoff",
    }
    return field, _fix(Template(handoff).substitute(said), Template(recipe).substitute(said))


def _braced(names: Iterable[Any]) -> str:
    """LivePerson's placeholders of `names`: {{1}}, {{2}}."""
    return ", ".join(f"{{{{{name}}}}}" for name in names)


def _misfit(code: Any) -> str | None:
    """The input a per-recipient error code blames, when it blames the request itself."""
    text = str(code or "")
    for prefix, (field, *_) in HANDOFF_MISFITS.items():
        if text == prefix or text.startswith(prefix + "="):
            return field
    return None


def _stopped(result: dict[str, Any]) -> str:
    """What a campaign stopped early did: for the message of the error that stopped it."""
    return (
        f"Nothing more was sent: accepted {result['accepted']} before, "
        f"{result['not_sent']} not sent"
    )


class HandoffMismatch(ConnectorError):
    """LivePerson refused every recipient of a batch for a reason that is the request's,
    not theirs (`HANDOFF_MISFITS`): every later batch would fail alike, so nothing more is
    sent and the job fails naming the input, rather than succeed having sent nobody. The
    refused recipients were not sent: a run with the input fixed sends them.

    A dry run raises it too, `foreseen` from what the handoff list says of the handoff (its
    channels, `channels_misfit`; its placeholders, `variables_misfit`): a Test that succeeded
    with them was followed by a real send refused whole."""

    def __init__(
        self,
        code: str,
        number: int,
        data: dict[str, Any],
        result: dict[str, Any],
        foreseen: str | None = None,
    ) -> None:
        field, fix = _misfit_fix(code, data)
        misfit = f"the campaign's {field} do not fit handoff {data['handoff']}"
        if foreseen is None:
            said = f"LivePerson refused every recipient of batch {number} with {code}: {misfit}"
            done = _stopped(result)
        else:
            said = f"LivePerson would refuse every recipient with {code}: {misfit}, {foreseen}"
            done = "A dry run: nothing was sent"
        super().__init__(f"{said}. {done}", field=field, fix=fix, result=result)


#: Statuses of a whole-request refusal that no batch's recipients cause -> what to check.
REQUEST_REFUSALS = {
    400: "check the handoff, skill and campaign name the campaign was given (in the recipe, "
    "`send_campaign(handoff=..., skill=..., campaign_name=...)`), and the connection's "
    "recipients_per_request (100 on current accounts): LivePerson's message names what it "
    "refused",
    401: "check the connection's client id and secret (`lpstudio connections test`)",
    403: "give the connection's app the Proactive Messaging permission in LivePerson",
    404: "check the connection's account id",
}
#: Statuses HTTP defines as a request the server did not take (moved elsewhere, a method,
#: body or header it will not take, a request not received whole): certainly not accepted,
#: whoever answered. Any other answer but 2xx and `REQUEST_REFUSALS` (a 409, a 422: none
#: that LivePerson documents for a campaign) leaves its batch uncertain, as a 5xx does: the
#: API does not say which errors are safe to send again.
NOT_TAKEN = frozenset({301, 307, 308, 405, 408, 411, 413, 414, 415, 431})
#: Fields LivePerson names missing ("Fields missing in request: ...") that the campaign's
#: input gives -> that input, and how: the connector sends every other field itself.
MISSING_FIELDS = {
    "outboundNumber": (
        "outbound_number",
        _fix(
            "choose a handoff from the handoff pick list rather than a WhatsApp or SMS "
            "template id: a handoff carries the number it is sent from",
            "give `send_campaign(outbound_number=...)` the number a template id is sent from",
        ),
    ),
}


def _missing_input(reason: str) -> tuple[str | None, str | None]:
    """The input and its fix when a refusal says a field of the campaign's input is missing
    (a template id sent without `outbound_number`), else (None, None)."""
    _, said, fields = reason.partition("Fields missing in request:")
    named = [name.strip() for name in fields.split(",")] if said else []
    return next((MISSING_FIELDS[name] for name in named if name in MISSING_FIELDS), (None, None))


class RequestRefused(ConnectorError):
    """LivePerson refused a batch's request whole for a reason every batch shares (a field
    missing or an unknown templateId, the app's credentials or rights, the account), or it
    never `reached` Proactive Messaging for one (no try went out: its token could not be
    had, the app's credentials refused or a web page where the token server's JSON was
    due; said as LivePerson's refusal, it blamed a request LivePerson never saw): the campaign
    stops rather than send the same refused request once per batch (a thousand for
    100,000 recipients). Not retryable: the same input is refused again; a run with it
    fixed sends everyone not accepted."""

    def __init__(
        self,
        status: int | None,
        reason: str,
        number: int,
        data: dict[str, Any],
        result: dict[str, Any],
        *,
        field: str | None = None,
        fix: str | None = None,
        reached: bool = True,
    ) -> None:
        missing, how = _missing_input(reason)
        said = (
            f"LivePerson refused batch {number} whole ({reason}); every batch would be "
            "refused alike."
            if reached
            else f"batch {number} never reached Proactive Messaging ({reason}); every batch "
            "would meet the same."
        )
        super().__init__(
            f"{said} {_stopped(result)}",
            status=status,
            field=field or missing,
            fix=fix or how or REQUEST_REFUSALS.get(status or 0),
            result=result,
        )


class ServiceTrouble(ConnectorError):
    """LivePerson asked for a wait longer than a job waits, kept refusing a batch's request
    for every try, or answered it with a fault after which it may have acted (5xx, another
    status it does not document, no answer, an answer that cannot be read): a later batch
    sent now would meet the same, and each such answer leaves one more batch uncertain for
    good. The campaign stops there; the recipients it never reached are `not_sent`, and a
    retry sends them (and the batch, when it was certainly not accepted); an uncertain batch
    is never resent (`uncertain`: a person checks it), and with nothing else left its job is
    not retried. A `lasting` fault (a web page where LivePerson's JSON was due) is not
    retried either: it stays until a person fixes the URL or the network (`field`, `fix`),
    and each retry meanwhile would leave one more batch uncertain; a rerun then sends the
    rest."""

    def __init__(
        self,
        reason: str,
        number: int,
        data: dict[str, Any],
        result: dict[str, Any],
        *,
        field: str | None = None,
        fix: str | None = None,
        status: int | None = None,
        lasting: bool = False,
    ) -> None:
        uncertain = sum(entry["recipients"] for entry in result["uncertain"])
        rejected = sum(entry["recipients"] for entry in result["rejected"])
        left = result["not_sent"] > 0 or rejected > 0  # what a later run may send
        doubt = f"; uncertain {uncertain} are never resent" if uncertain else ""
        # Whether a retry follows is the recipe's and the trigger's (a person's run has
        # none): the job run again, either way, sends what is left (a lasting fault's once
        # it is fixed).
        fixed = field or "the way to LivePerson's hosts"
        run_again = (
            f"once {fixed} is fixed, a rerun"
            if lasting
            else "the job run again (a retry or a rerun)"
        )
        again = [
            *([f"the {result['not_sent']} not sent"] if result["not_sent"] else []),
            *([f"the {rejected} rejected"] if rejected else []),
        ]
        super().__init__(
            f"The campaign stopped at batch {number}, as a batch sent now would meet the "
            f"same: {reason.rstrip('.')}. {_stopped(result)}"
            + (f"; {run_again} sends {' and '.join(again)}" if left else "")
            + doubt,
            retryable=left and not lasting,
            result=result,
            uncertain=uncertain > 0,
            field=field,
            fix=fix,
            status=status,  # the answer's, which the job's output says (none: no answer)
            check=_check(data),
        )


class NobodySendable(ConnectorError):
    """Every recipient failed before sending for one and the same reason (a field the
    templates, `consumer_id` or `once_per` name that no record has, numbers not in E.164):
    the recipe's mistake, not the recipients'. The job fails naming it rather than succeed
    having sent nobody."""

    def __init__(self, code: str, data: dict[str, Any], result: dict[str, Any]) -> None:
        kind, _, name = code.partition("=")
        field, fix = {
            "MISSING_CONSUMER_ID": (
                "consumer_id",
                f"name the recipients' address field in `consumer_id` ({name!r} is in none)",
            ),
            "MISSING_FIELD": (
                "variables",
                f"name only fields the recipients have in the variables' templates ({name!r} "
                "is in none)",
            ),
            "MISSING_ONCE_PER": (
                "once_per",
                f"name in `once_per` a field every recipient has ({name!r} is in none)",
            ),
            "INVALID_NUMBER": (
                "consumer_id",
                "give phone numbers in E.164 form (+ and the country code, e.g. "
                "+14155550100), or name the right field in `consumer_id` (a field per "
                'channel for an in-app id: {"sms": "phone", "inapp": "app_user"})',
            ),
            "BAD_TEMPLATE": (
                f"variables.{name}",
                "write the placeholder as the message says, or without a format",
            ),
        }.get(kind, ("recipients", "check the recipients and the campaign's input"))
        count = len(result["unsendable"])
        first = str(result["unsendable"][0]["errorMessage"])
        detail = f" ({first.split(': ', 1)[1]})" if first != code else ""
        super().__init__(
            f"No recipient could be sent: all {count} are unsendable, with {code}{detail}",
            field=field,
            fix=fix,
            result=result,
        )


def _reason(rejected: dict[str, Any]) -> str:
    """A `rejected` entry's cause: the answer's status, when there was one, and its message."""
    status = rejected.get("status")
    return f"HTTP {status}: {rejected['message']}" if status else rejected["message"]


def _check_templates(variables: dict[str, str]) -> None:
    """A variable template that cannot be read fails every recipient alike: refused now,
    naming it, before anything is looked up, claimed or sent."""
    for name, template in variables.items():
        try:
            placeholders(template)
        except ValueError as exc:
            raise InputError(
                f"variable {name} is not a readable template: {exc}",
                field=f"variables.{name}",
                fix="write record fields as {field} or {customer.first_name}, and a literal "
                "brace as {{ or }}",
            ) from None


#: The keys an `unsendable` entry holds besides its record's ids (`_unsendable`).
ENTRY_KEYS = ("address", "errorMessage")


def _check_record_id(named: str | list[str] | None) -> None:
    """A `record_id` field named as an `unsendable` entry's own key would hide it (a record's
    `address` field in place of its recipient's address): refused now, naming it, before
    anything is claimed or sent."""
    given = [named] if isinstance(named, str) else list(named or [])
    taken = next((field for field in given if field in ENTRY_KEYS), None)
    if taken is not None:
        raise InputError(
            f"record_id names the field {taken}, which each unsendable entry holds itself "
            f"({', '.join(ENTRY_KEYS)}: the recipient's address and why it was not sent)",
            field="record_id",
            fix=f"take {taken} out of record_id; name records by fields such as invoice_id",
        )


def _text(record: Any, field: str) -> str:
    """A record field's value as text, "" when missing or blank. A whole number reads the
    same whether a DataFrame held it as 1234 or, in a column with a gap, as 1234.0."""
    value = lookup(record, field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


#: A recipient as `_consumers` yields it: its address, its campaign consumer and its
#: `once_per` value (None without `once_per`).
Consumer = tuple[str, dict[str, Any], str | None]
#: A recipient whose `once_per` value another running job is sending: its batch's number,
#: itself, the value's key in the recipe's ledger, and that job's id.
Waiting = tuple[int, Consumer, str, Any]


def address_fields(data: dict[str, Any]) -> dict[str, str]:
    """Each channel of the campaign -> the record field holding its address: `consumer_id`
    names one field for every channel, or one per channel (its channels, unless `channels`
    says). Refused, naming the input, before anything is claimed or sent."""
    named = data["consumer_id"]
    if isinstance(named, str):
        return dict.fromkeys(data.get("channels") or ["sms"], named)
    channels = list(data.get("channels") or named)
    missing = [channel for channel in channels if channel not in named]
    if missing:
        raise InputError(
            f"consumer_id names no record field for the channel {missing[0]}",
            field="consumer_id",
            fix=f"add {missing[0]} to consumer_id with the record field of its address (e.g. "
            '{"sms": "phone", "inapp": "app_user"}), or give one field for every channel',
        )
    extra = [channel for channel in named if channel not in channels]
    if extra:
        raise InputError(
            f"consumer_id names a field for {extra[0]}, not one of the channels "
            f"({', '.join(channels)})",
            field="channels",
            fix=f"add {extra[0]} to channels if the handoff has it, else take it out of "
            "consumer_id",
        )
    return {channel: named[channel] for channel in channels}


def _identity(content: dict[str, Any]) -> str | None:
    """The address that names a recipient (`IDENTITY_ORDER`)."""
    return next((content[c] for c in IDENTITY_ORDER if c in content), None)


def _addresses(record: Any, fields: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """A record's address on each channel it has one, and why it cannot be sent: the first
    field it lacks, or a phone channel's number not in E.164 (an in-app id may be any text)."""
    content: dict[str, str] = {}
    problem = None
    for channel, field in fields.items():
        address = _text(record, field)
        if address:
            content[channel] = address
        if problem is None and not address:
            problem = f"MISSING_CONSUMER_ID={field}"
        elif problem is None and channel in PHONE_CHANNELS and not is_e164(address):
            problem = "INVALID_NUMBER"
    return content, problem


def record_fields(data: dict[str, Any], fields: dict[str, str]) -> Callable[[Any], list[str]]:
    """The fields that name a record in `unsendable`, given a record: `record_id` (a field
    or a list), else its fields named like `invoice_id` besides its addresses; `once_per`'s
    field first either way. How the studio names a record's entry (its contact, then its
    `_id` fields: `+14190000007 (invoice INV-12)`), as the templates name the rows they skip."""
    named = data.get("record_id")
    once_per = [data["once_per"]] if data.get("once_per") else []
    if named is not None:
        given = [named] if isinstance(named, str) else list(named)
        chosen = once_per + [f for f in given if f not in once_per]
        return lambda record: chosen
    addresses = set(fields.values())
    return lambda record: (
        once_per
        + [
            str(key)
            for key in (record if isinstance(record, dict) else {})
            if str(key).endswith("_id") and key not in addresses and key not in once_per
        ]
    )


def _unsendable(
    record: Any, names: list[str], address: str | None, problem: str | None
) -> dict[str, Any]:
    """A record the campaign does not send, as `unsendable` reports it: its address (None
    when it has none), the values of its `names` it has, and why. A `once_per` field named
    like the entry's own keys (`once_per="address"`) names no id: the entry's address stands."""
    ids = {
        name: value for name in names if name not in ENTRY_KEYS and (value := _text(record, name))
    }
    return {"address": address, **ids, "errorMessage": problem}


#: A record's ids as `record_fields` names them, (field, value) pairs: what the campaign
#: keeps of each address it sends to (`seen`), to name its record again later.
RecordIds = tuple[tuple[str, str], ...]


def _record_ids(entry: dict[str, Any]) -> RecordIds:
    """The ids of an `unsendable` entry's record (its keys but its own)."""
    return tuple((k, v) for k, v in entry.items() if k not in ENTRY_KEYS)


def _named(ids: RecordIds) -> str:
    """` (invoice_id INV-11)`: a record's ids, as a message names them."""
    return f" ({', '.join(f'{k} {v}' for k, v in ids)})" if ids else ""


def _name_failed(failed: list[dict[str, Any]], seen: dict[str, RecordIds]) -> None:
    """Each recipient LivePerson refused named, as an `unsendable` one is, by its record's
    ids besides its address (`+33612345678 (invoice_id INV-6): INVALID_NUMBER`): whom to
    mend in the records, not only which number."""
    for entry in failed:
        entry.update((k, v) for k, v in seen.get(str(entry.get("address")), ()) if k not in entry)


def _consumers(
    records: Any,
    data: dict[str, Any],
    fields: dict[str, str],
    seen: dict[str, RecordIds],
    seen_once: set[str],
    unsendable: list[dict[str, Any]],
) -> Iterator[Consumer]:
    """Each record as a `Consumer`; records that cannot be sent go to `unsendable`, named
    by the address they have and their record's ids (`record_fields`). `seen` holds each
    address sent to, with the record it is sent for: a later record sharing one names it."""
    once_per = data.get("once_per")
    names = record_fields(data, fields)
    for record in records:
        content, problem = _addresses(record, fields)
        address = _identity(content)
        drop = partial(_unsendable, record, names(record), address)
        if problem or address is None:
            unsendable.append(drop(problem))
            continue
        once = _text(record, once_per) if once_per else None
        if once == "":
            unsendable.append(drop(f"MISSING_ONCE_PER={once_per}"))
            continue
        shared = next((a for a in content.values() if a in seen), None)
        if shared is not None:  # one recipient twice, by any address
            unsendable.append(
                drop(
                    f"DUPLICATE_NUMBER: {shared} is the address of an earlier record"
                    f"{_named(seen[shared])}, which the campaign messages once"
                )
            )
            continue
        if once in seen_once:
            unsendable.append(drop(f"DUPLICATE_ONCE_PER={once_per}"))
            continue
        variables, problem = render(record, data.get("variables") or {})
        if problem:
            unsendable.append(drop(problem))
            continue
        seen.update(dict.fromkeys(content.values(), _record_ids(drop(""))))
        if once is not None:
            seen_once.add(once)
        consumer: dict[str, Any] = {"consumerContent": content}
        if variables:
            consumer["variables"] = variables
        if data.get("header_variables"):
            consumer["headerVariables"] = data["header_variables"]
        yield address, consumer, once


def _batches(queue: _Queue, size: int, limit: DailyLimit) -> Iterator[tuple[list[Consumer], int]]:
    """Batches of at most `size` recipients, each with the room reserved for it in the
    day's count (`DailyLimit.reserve`, at most its size): the campaigns of the day never
    send past the limit. A batch is taken whole though the room is short, so that those
    of its recipients sent before (who need none) are found and reported as such."""
    while batch := queue.take(size):
        yield batch, limit.reserve(len(batch))


def _body(data: dict[str, Any], consumers: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignName": data["campaign_name"],
        "skill": data["skill"],
        "templateId": data["handoff"],
        "consent": True,
        "consumers": consumers,
    }
    if data.get("outbound_number"):
        body["outboundNumber"] = data["outbound_number"]
    return body


#: A campaign id no campaign has (LivePerson's are UUIDs: this is the nil one), whose status
#: `reach` asks for.
NO_CAMPAIGN = "00000000-0000-0000-0000-000000000000"


def status_path(account: str, campaign_id: str) -> str:
    """Where a campaign's status is read (API-FACTS.md, "Campaign status")."""
    return f"/api/v2/account/{account}/campaign/{campaign_id}/conversations"


def reach(conn: Connection) -> None:
    """Proves that Proactive Messaging's host answers and takes the connection's token,
    changing nothing. Its API has no harmless GET besides a campaign's status (API-FACTS.md,
    "Campaign status"), so this asks the status of a campaign no one has (`NO_CAMPAIGN`),
    which is answered 404 in the API's own error shape (`{"code", "requestTraceId",
    "message"}`, API-FACTS.md, "Create a campaign"). Raises the error naming the connection
    field to fix otherwise: a host that cannot be reached, or is not LivePerson's (a page or
    any other 200: a campaign no one has has no status; a 404 of another shape), or an
    account it does not know."""
    client = LivePersonClient(conn)
    response = client.request("GET", "proactive", status_path(client.account, NO_CAMPAIGN))
    if not _no_such_campaign(response):
        raise client.refusal(response, "proactive")


def _no_such_campaign(response: Any) -> bool:
    """Whether an answer is Proactive Messaging's 404 for a campaign it does not have: its
    error shape, with the `requestTraceId` a web server's or another API's 404 lacks, and
    not naming the account (one it does not know is the connection's to fix)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        response.status_code == 404
        and isinstance(body, dict)
        and "requestTraceId" in body
        and not NAMES_ACCOUNT.search(str(body.get("message")))
    )


def _reach_dry(conn: Connection, result: dict[str, Any]) -> None:
    """A dry run's check that the real run would reach Proactive Messaging (`reach`): an
    error naming a connection field to fix (a host that cannot be reached or is not
    LivePerson's, an account it does not know) fails it, as it would fail the real run,
    with the `result` it would have answered; another (LivePerson's own host not reached
    from here, a refusal in LivePerson's words, a service in trouble) is logged, and the
    real send finds out, as with the handoff list."""
    try:
        reach(conn)
    except ConnectorError as exc:
        if not exc.field:
            conn.log(f"Proactive Messaging's host could not be checked: {exc}")
            return
        raise ConnectorError(
            f"a real run could not send this campaign to Proactive Messaging: {exc.message}",
            retryable=exc.retryable,
            status=exc.status,
            field=exc.field,
            fix=exc.fix,
            result=result,
        ) from None


def send_key(*parts: str) -> str:
    """A key in a ledger, hashed to its 64 characters with no phone number or id in clear:
    a recipient's is (account, handoff, address), its address as `_identity` picks it; a
    `once_per` value's (account, "once_per", field, value) — of four parts, so never an
    address's."""
    return hashlib.sha256(json.dumps(list(parts)).encode()).hexdigest()


def send_campaign(
    conn: Connection,
    data: dict[str, Any],
    handoff_facts: Callable[[str], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Every recipient accounted for once (see the module); raises `CampaignIncomplete` at
    the end rather than succeed with recipients rejected or uncertain. A dry run that would
    send someone asks `handoff_facts` what the handoff list says of the handoff (None:
    nothing) and raises `HandoffMismatch` when the campaign gives no address on one of its
    `channels`, or variables that do not fit its `placeholders`, as the real send would end;
    and it fails, as the real send would, when Proactive Messaging's host cannot be reached
    or is not LivePerson's (`_reach_dry`)."""
    _check_templates(data.get("variables") or {})
    _check_record_id(data.get("record_id"))
    fields = address_fields(data)
    size = setting(conn, "recipients_per_request", 100, 1, MAX_RECIPIENTS_PER_REQUEST)
    client = LivePersonClient(conn)
    limit = DailyLimit(conn, client.account, list(fields))
    path = f"/api/v2/account/{client.account}/campaign"
    # Found before any recipient is claimed: a failed region lookup leaves none "sending".
    url = f"{client.host('proactive')}{path}"
    unsendable: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "campaigns": [],
        "accepted": 0,
        "failed": [],
        "unsendable": unsendable,
        "uncertain": [],
        "already_sent": [],
        "rejected": [],
        "not_sent": 0,
        "batches": 0,
    }
    if conn.dry_run:  # a real run's keys (nothing accepted), and what it would send
        result.update(dry_run=True, requests=[], requests_total=0, recipients=0)
    waiting: list[Waiting] = []  # values another running job is sending
    seen: dict[str, RecordIds] = {}
    seen_once: set[str] = set()
    records = chunks(data["recipients"], READ_ROWS)
    queue = _Queue(
        c for batch in records for c in _consumers(batch, data, fields, seen, seen_once, unsendable)
    )
    try:
        for number, (batch, room) in enumerate(_batches(queue, size, limit), start=1):
            result["batches"] = number
            send = (
                partial(_plan_batch, conn, client.account, url)
                if conn.dry_run
                else partial(_send_batch, conn, client, path)
            )
            stop = limit.spend(room, partial(send, number, batch, data, result, waiting, limit))
            if stop:  # accounted for, never claimed (nor sent by this job: those waited for)
                result["not_sent"] = queue.count() + len(waiting) + limit.cut
                raise stop(number, data, result)
        codes = {str(f["errorMessage"]).split(": ", 1)[0] for f in unsendable}
        if result["batches"] == 0 and len(codes) == 1:
            raise NobodySendable(codes.pop(), data, result)
        if conn.dry_run:  # another job's sends are not waited for: said under `in_progress`
            _report_in_progress(data, result, waiting)
            if result["recipients"]:
                _reach_dry(conn, result)
            facts = (
                handoff_facts(data["handoff"]) if handoff_facts and result["recipients"] else None
            )
            foreseen = _foreseen(facts or {}, data, list(fields))
            if foreseen is not None:
                raise HandoffMismatch(foreseen[0], 1, data, result, foreseen=foreseen[1])
            return result
        _wait_for_other_jobs(conn, client, path, data, result, waiting, limit)
        if result["rejected"] or result["uncertain"] or result.get("in_progress"):
            raise CampaignIncomplete(result, data)
        return result
    finally:  # whatever ends it: its refusals name their records
        _name_failed(result["failed"], seen)


def _foreseen(
    facts: dict[str, Any], data: dict[str, Any], channels: list[str]
) -> tuple[str, str] | None:
    """The code LivePerson would refuse every recipient with, and what the handoff list says
    that shows it, checked in the order LivePerson checks a recipient (a channel's address
    before the variables); None when nothing known misfits."""
    expected = facts.get("channels")
    code = channels_misfit(channels, expected) if isinstance(expected, list) else None
    if code is not None:
        has = ", ".join(map(str, expected))
        return code, f"whose channels are {has} (channels given: {', '.join(channels)})"
    expected = facts.get("placeholders")
    variables = data.get("variables") or {}
    code = variables_misfit(variables, expected) if isinstance(expected, list) else None
    if code is not None:
        has = _braced(expected) or "no placeholder"
        given = ", ".join(sorted(variables, key=numbered)) or "none"
        return code, f"whose message has {has} (variables given: {given})"
    return None


def _wait_for_other_jobs(
    conn: Connection,
    client: LivePersonClient,
    path: str,
    data: dict[str, Any],
    result: dict[str, Any],
    waiting: list[Waiting],
    limit: DailyLimit,
) -> None:
    """Waits for the `once_per` values another running job of the recipe was sending, each
    until that job accounts for it (one read of the recipe's ledger per look, no request,
    no rate-limit permit), then tries its recipient as a batch would: reported as that job
    left it (accepted, uncertain), or claimed and sent if that job's recipient was refused
    and the daily limit leaves room. Those still under way at the end are reported under
    `in_progress`."""
    ledger = conn.ledger.across_recipe()
    deadline = time.monotonic() + IN_PROGRESS_WAIT
    while waiting and time.monotonic() < deadline:
        time.sleep(IN_PROGRESS_POLL)
        busy = ledger.sending([key for _, _, key, _ in waiting])
        ready = [w for w in waiting if w[2] not in busy]
        # Still under way, perhaps in a third job now: named as the job sending it.
        waiting[:] = [(n, c, key, busy[key]) for n, c, key, _ in waiting if key in busy]
        again: dict[int, list[Consumer]] = {}
        for number, consumer, _, _ in ready:
            again.setdefault(number, []).append(consumer)
        batches = list(again.items())
        for tried, (number, batch) in enumerate(batches, start=1):
            room = limit.reserve(len(batch))
            cut = limit.cut
            stop = limit.spend(
                room,
                partial(
                    _send_batch, conn, client, path, number, batch, data, result, waiting, limit
                ),
            )
            if stop:  # accounted for, never claimed
                result["not_sent"] += (
                    limit.cut - cut + sum(len(b) for _, b in batches[tried:]) + len(waiting)
                )
                raise stop(number, data, result)
    _report_in_progress(data, result, waiting)


def _report_in_progress(
    data: dict[str, Any], result: dict[str, Any], waiting: list[Waiting]
) -> None:
    """Reports under `in_progress` the recipients whose `once_per` value another running
    job is still sending, by batch and job."""
    groups: dict[tuple[int, Any], list[str]] = {}
    for number, (address, _, _), _, job_id in waiting:
        groups.setdefault((number, job_id), []).append(address)
    for (number, job_id), addresses in groups.items():
        result.setdefault("in_progress", []).append(
            {
                "batch": number,
                "recipients": len(addresses),
                "once_per": data["once_per"],
                "addresses": addresses,
                "job_id": job_id,
            }
        )


def _send_batch(
    conn: Connection,
    client: LivePersonClient,
    path: str,
    number: int,
    batch: list[Consumer],
    data: dict[str, Any],
    result: dict[str, Any],
    waiting: list[Waiting],
    limit: DailyLimit,
) -> Stop | None:
    """Claims the batch's recipients, sends those never sent before, settles what came of it
    (dated, for the daily limit) and counts it against `limit`; adds to `waiting` those whose
    `once_per` value another running job is sending. Returns how to raise, when LivePerson's
    refusal blames the request: every batch would meet it."""
    consumers = {address: consumer for address, consumer, _ in batch}
    keys, once = _keys(client.account, data, batch)
    recipe = conn.ledger.across_recipe() if once else None
    created = _CREATED_IN_RUN.setdefault(conn.ledger, set())
    fresh: list[str] = []  # the recipients of the last try
    held: list[str] = []  # those of them claimed now, not settled
    tried: list[bool] = []  # a try went out (its token was had): LivePerson saw the batch

    def claim() -> dict[str, Any]:
        """Right before a try goes out: claims the batch's recipients not found sent."""
        asked = {address: keys[address] for address in fresh or keys}
        fresh[:], found = _claim(conn, number, batch, asked, once, data, result, waiting)
        over = limit.fit(fresh)  # no room today: never sent, free for a later run
        held[:] = fresh
        if over:
            cut = {"reason": f"{NOT_SENT}: the day's limit"}
            conn.ledger.settle_many({keys[a]: "rejected" for a in over}, cut)
            if recipe is not None:
                recipe.settle_many({once[a]: "rejected" for a in over if a in once}, cut)
        if recipe is not None:
            # Sent (or maybe) by an attempt of this job before it said `once_per`: the
            # value, claimed just now, is recorded as that attempt left its recipient.
            # (One a rerun running beside its job finds under way there is recorded
            # uncertain: this job never sends it, and nobody else would settle the value.)
            # On the day that attempt sent it, or may have: the daily limit counts it there.
            days: dict[Any, dict[str, str]] = {}
            for a, record in found.items():
                status = "uncertain" if record["status"] == "sending" else record["status"]
                days.setdefault((record.get("detail") or {}).get("day"), {})[once[a]] = status
            for day, before in days.items():
                dated = {"day": day} if day else {}
                recipe.settle_many(
                    before, {"reason": "sent before by an attempt of the job", **dated}
                )
        if not held:
            raise NothingToSend
        return _body(data, [consumers[address] for address in fresh])

    def settle(status: str, detail: dict[str, Any], refused: Collection[str] = ()) -> None:
        outcomes = {a: "rejected" if a in refused else status for a in held}
        held.clear()
        if outcomes:
            conn.ledger.settle_many({keys[a]: s for a, s in outcomes.items()}, detail)
            if recipe is not None:
                recipe.settle_many({once[a]: s for a, s in outcomes.items()}, detail)

    def entry() -> dict[str, Any]:
        return {"batch": number, "recipients": len(fresh), "addresses": list(fresh)}

    def unsure(reason: str) -> None:
        """Sent, and what came of it is unknown: never resent, named for a person."""
        limit.counted += len(fresh)
        settle("uncertain", {"reason": reason, "day": today()})
        result["uncertain"].append({**entry(), "reason": reason})

    def release() -> None:
        """Refused whole, to be tried again after a wait: not sent until then."""
        settle("rejected", {"reason": f"{NOT_SENT}: refused whole, to be tried again"})

    if not _left_to_send(conn, number, batch, keys, once, data, limit):
        # Claimed now (the claim reports them, and keeps what they rely on): no token or turn
        # of the rate limit is asked for a request that never goes out.
        try:
            claim()
        except NothingToSend:
            return None
        # Freed since the look (another job's try refused whole): sent as any batch is.
        settle("rejected", {"reason": NOT_SENT})

    def prepare() -> dict[str, Any]:
        """The body of a try about to go out, its token had (`claim`)."""
        tried[:] = [True]
        return claim()

    try:
        response = client.request("POST", "proactive", path, prepare=prepare, refused=release)
    except NothingToSend:
        return None
    except Uncertain as exc:
        unsure(str(exc))
        return partial(ServiceTrouble, exc.message, status=exc.status)
    except ConnectorError as exc:
        # Claimed again when no try holds them: refused before any went out (the app's
        # credentials), as if sent; or released by a try refused whole, which said "to be
        # tried again": the ledger gets the final reason, as the result does.
        if not held:
            try:
                claim()
            except NothingToSend:
                return None
        settle("rejected", {"message": exc.message})
        result["rejected"].append({**entry(), "message": exc.message})
        # A long Retry-After, refused or unreached every try; or a host (named by a field)
        # that may answer later (a fault).
        if isinstance(exc, NotNow) or (exc.field and exc.retryable):
            return partial(
                ServiceTrouble, exc.message, field=exc.field, fix=exc.fix, status=exc.status
            )
        # The app's credentials, or a connection field (the account, a URL): every batch
        # alike; with no try sent (no token could be had), never seen by Proactive Messaging.
        if exc.status in REQUEST_REFUSALS or exc.field:
            return partial(
                RequestRefused,
                exc.status,
                exc.message,
                field=exc.field,
                fix=exc.fix,
                reached=bool(tried),
            )
        return None
    status = response.status_code
    if not 200 <= status < 300 and status not in REQUEST_REFUSALS and status not in NOT_TAKEN:
        reason = (
            f"LivePerson answered HTTP {status}: {error_message(response, conn)}, an answer "
            "it does not document for a campaign it refused, so the campaign may have been "
            "accepted"
        )
        unsure(reason)
        return partial(ServiceTrouble, reason, status=status)
    if not 200 <= status < 300:
        refusal = {"status": status, "message": error_message(response, conn)}
        settle("rejected", refusal)
        result["rejected"].append({**entry(), **refusal})
        misdirected = _misdirected(client, response)
        if misdirected is not None:  # the account, or the URL: a connection field to fix
            said, field, fix = misdirected.message, misdirected.field, misdirected.fix
            return partial(RequestRefused, status, said, field=field, fix=fix)
        if status in REQUEST_REFUSALS:
            return partial(RequestRefused, status, _reason(refusal))
        return None  # this request's alone (a body too large): the next batch goes
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not _names_campaign(answer):  # accepted, it says, but not whom: may have been sent
        reason, field, fix = _no_campaign_named(client, response)
        unsure(reason)
        # A page or an empty body stays till fixed: a retry adds a batch in doubt.
        page = web_page(response) is not None
        return partial(ServiceTrouble, reason, field=field, fix=fix, status=status, lasting=page)
    accepted = answer.get("acceptedConsumers") or []
    refused = answer.get("failedConsumers") or []
    summary = {
        "proactiveCampaignId": answer.get("proactiveCampaignId"),
        "leCampaignId": answer.get("leCampaignId"),
        "requestTraceId": answer.get("requestTraceId"),
        "batch": number,
        "accepted": len(accepted),
        "failed": len(refused),
    }
    failures = [_failure(item, number) for item in refused]
    # Only an address LivePerson named as refused may be sent again: any other is accepted.
    limit.counted += len(accepted)
    settle(
        "accepted",
        {"proactiveCampaignId": summary["proactiveCampaignId"], "day": today()},
        refused={f["address"] for f in failures},
    )
    if accepted and summary["proactiveCampaignId"] is not None:
        created.add(summary["proactiveCampaignId"])
    result["campaigns"].append(summary)
    result["accepted"] += len(accepted)
    result["failed"].extend(failures)
    codes = {str(f["errorMessage"]) for f in failures}
    if not accepted and len(codes) == 1 and _misfit(next(iter(codes))):
        return partial(HandoffMismatch, codes.pop())
    return None


def _keys(
    account: str, data: dict[str, Any], batch: list[Consumer]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each recipient's key in the job's ledger, and, with `once_per`, its value's key in
    the recipe's ledger (claimed first), by address."""
    keys = {address: send_key(account, data["handoff"], address) for address, _, _ in batch}
    once = {
        address: send_key(account, "once_per", data["once_per"], value)
        for address, _, value in batch
        if value is not None
    }
    return keys, once


def _claim(
    conn: Connection,
    number: int,
    batch: list[Consumer],
    asked: dict[str, str],
    once: dict[str, str],
    data: dict[str, Any],
    result: dict[str, Any],
    waiting: list[Waiting],
    *,
    read: bool = False,
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Claims the batch's recipients `asked` (address -> key in the job's ledger), by the
    recipe's other jobs first (`once`: keys of `once_per` values), then by the job's
    attempts; reports those sent before (`_report_earlier`) and adds to `waiting` those
    whose value another running job is sending. Returns the addresses claimed, to send, and
    the job's ledger's earlier records of the others, by address.

    `read` reads the same records (`earlier_many`) and claims nothing: a dry run leaves out,
    and reports, just the recipients a real run would not send now; a real run looks
    whether a batch has any left to send (`_left_to_send`)."""

    def take(ledger: Ledger) -> Callable[[list[str]], dict[str, dict[str, Any]]]:
        return ledger.earlier_many if read else partial(ledger.claim_many, check=_check(data))

    recipe = conn.ledger.across_recipe() if once else None
    created = _CREATED_IN_RUN.get(conn.ledger, set())
    if recipe is not None:
        wide = {address: once[address] for address in asked}
        found = take(recipe)(list(wide.values()))
        _report_earlier(
            number,
            wide,
            found,
            result,
            waited=True,
            own=conn.ledger.job_id,
            this_run=created,
            once_per=data["once_per"],
        )
        for item in batch:  # under way in another job: waited for at the end
            record = found.get(wide.get(item[0], ""))
            if record is not None and record["status"] == "sending":
                waiting.append((number, item, wide[item[0]], record["job_id"]))
        asked = {address: key for address, key in asked.items() if wide[address] not in found}
    try:
        earlier = take(conn.ledger)(list(asked.values())) if asked else {}
    except Exception:
        # Nothing was sent: the values claimed just now are free again, not "sending"
        # for good (every later job would take them for uncertain). A process that
        # dies here leaves them so: safe, never sent twice, and a person is told.
        if recipe is not None and asked and not read:
            recipe.settle_many({once[a]: "rejected" for a in asked}, {"reason": NOT_SENT})
        raise
    _report_earlier(number, asked, earlier, result, own=conn.ledger.job_id, this_run=created)
    fresh = [address for address, key in asked.items() if key not in earlier]
    return fresh, {address: earlier[key] for address, key in asked.items() if key in earlier}


def _left_to_send(
    conn: Connection,
    number: int,
    batch: list[Consumer],
    keys: dict[str, str],
    once: dict[str, str],
    data: dict[str, Any],
    limit: DailyLimit,
) -> bool:
    """Whether a batch has a recipient to send, as its claim would find it (read, nothing
    claimed or reported) within the day's room reserved for it: a batch with none asks
    LivePerson for nothing, not even a token (a rerun of a campaign sent whole, while the
    token server failed, tried 6 times a batch and ended failed for it)."""
    seen: dict[str, Any] = {"accepted": 0, "campaigns": [], "already_sent": [], "uncertain": []}
    fresh, _ = _claim(conn, number, batch, keys, once, data, seen, [], read=True)
    return bool(fresh) and limit.budget > 0


def _plan_batch(
    conn: Connection,
    account: str,
    url: str,
    number: int,
    batch: list[Consumer],
    data: dict[str, Any],
    result: dict[str, Any],
    waiting: list[Waiting],
    limit: DailyLimit,
) -> Stop | None:
    """A dry run's `_send_batch`: finds the batch's recipients sent before as a real run's
    claim does (`_claim`, reading the same ledgers, claiming nothing), and notes the request
    a real run would send the others, within the day's room (`limit`): the first
    `DRY_RUN_REQUESTS` in `requests`, each counted in `requests_total`."""
    keys, once = _keys(account, data, batch)
    fresh, _ = _claim(conn, number, batch, keys, once, data, result, waiting, read=True)
    limit.fit(fresh)
    limit.counted += len(fresh)
    result["recipients"] += len(fresh)
    if not fresh:
        return None
    result["requests_total"] += 1
    if len(result["requests"]) < DRY_RUN_REQUESTS:
        consumers = {address: consumer for address, consumer, _ in batch}
        body = _body(data, [consumers[address] for address in fresh])
        result["requests"].append(conn.would_send("POST", url, json=body))
    return None


def _names_campaign(answer: Any) -> bool:
    """Whether a 200 answer says what came of the request: a campaign id, or the recipients
    accepted or refused. Any other (a proxy's `{"status": "ok"}`) says it was taken, not
    whom: its recipients may have been sent, and are uncertain, never accepted (a rerun
    would take them for sent, naming no campaign)."""
    if not isinstance(answer, dict):
        return False
    named = (answer.get(key) for key in ("acceptedConsumers", "failedConsumers"))
    return bool(answer.get("proactiveCampaignId")) or any(
        isinstance(consumers, list) and consumers for consumers in named
    )


def _no_campaign_named(client: LivePersonClient, response: Any) -> tuple[str, str | None, str]:
    """Why a 2xx naming no campaign leaves its batch uncertain, the URL's field and the fix:
    a page there (a web server's), an empty body (each said as it is, `web_page`) or JSON
    that is not LivePerson's (a proxy's) may still come from something that forwarded the
    request, so its recipients are never resent; but the URL is the likelier fault, and the
    connection's test finds it out (`reach`)."""
    page = web_page(response)
    said = f"{page}, not LivePerson's JSON" if page else "no campaign in it"
    field = client.url_field("proactive")
    test = f"`lpstudio connections test {client.conn.name}`"
    where = f"the connection's {field} ({shown_url(client.host('proactive'))})"
    reason = (
        f"LivePerson answered HTTP {response.status_code} with {said}"
        if field is None
        else f"{where} answered HTTP {response.status_code} with {said}, which Proactive "
        "Messaging never answers: it may not lead there, or something on the way may have "
        "forwarded the request"
    )
    fix = (
        f"check {field} with {test}: it fails, naming the fix, when {field} does not lead "
        "to Proactive Messaging"
        if field
        else f"check with {test} that this machine reaches LivePerson's hosts, not a "
        "proxy's or portal's page"
    )
    return reason, field, fix


def _misdirected(client: LivePersonClient, response: Any) -> ConnectorError | None:
    """A campaign request refused for where it went, not what it carried (`misdirected`):
    a 404 (no such account, or no such endpoint at the URL), or a 401/403, a redirect or a
    405 that is no answer of LivePerson's (a web server's or proxy's page) name the
    connection field to fix."""
    if response.status_code not in (301, 307, 308, 401, 403, 404, 405):
        return None
    who = "LivePerson's Proactive Messaging (campaigns)"
    return client.misdirected(
        response, who, client.host("proactive"), client.url_field("proactive")
    )


def _failure(item: dict[str, Any], number: int) -> dict[str, Any]:
    """One recipient LivePerson refused (a `failedConsumers` entry), as `failed` reports it."""
    content = item.get("consumerContent") or {}
    address = (
        _identity(content) or next(iter(content.values()), None)
        if isinstance(content, dict)
        else None
    )
    return {
        "address": address or item.get("consumer"),
        "errorMessage": item.get("errorMessage"),
        "batch": number,
    }


def _earlier_doubt(record: dict[str, Any]) -> str:
    """Why a recipient an earlier attempt sent is uncertain: what that attempt got, as its
    ledger kept it (an HTTP 500, no answer, its job ended first), else `UNANSWERED_BEFORE`
    (claimed, and its process gone before it could say)."""
    why = (record.get("detail") or {}).get("reason") if record["status"] == "uncertain" else None
    return f"sent by an earlier attempt: {why}" if why else UNANSWERED_BEFORE


def _report_earlier(
    number: int,
    keys: dict[str, str],
    earlier: dict[str, dict[str, Any]],
    result: dict[str, Any],
    waited: bool = False,
    own: int | None = None,
    this_run: Collection[str] = (),
    **scope: Any,
) -> None:
    """Reports the batch's recipients that an earlier attempt accepted (`already_sent`, how
    many) or left uncertain (which, and what that attempt got: `_earlier_doubt`), one entry
    per earlier job and campaign (or reason); `scope` (the `once_per` field, for the
    recipe's ledger) is added to each entry. Those another running
    job is sending are `waited` for (`_wait_for_other_jobs`: not reported here), else (in
    the job's own ledger, which only a rerun running beside its job shares) uncertain.
    Those an earlier run of this very job (`own`: put back in the queue by a scheduler that
    stopped) accepted are its own: accepted, with their campaign (`earlier_run`); those a
    campaign of this run accepted (`this_run`) were counted there: `already_sent`."""
    groups: dict[tuple[str, Any, Any, str | None], list[str]] = {}
    for address, key in keys.items():
        record = earlier.get(key)
        if record is None or (waited and record["status"] == "sending"):
            continue
        sent = record["status"] == "accepted"
        campaign = record["detail"].get("proactiveCampaignId") if sent else None
        kind, why = ("already_sent", None) if sent else ("uncertain", _earlier_doubt(record))
        groups.setdefault((kind, record.get("job_id"), campaign, why), []).append(address)
    for (kind, job_id, campaign, why), addresses in groups.items():
        if (
            kind == "already_sent"
            and own is not None
            and job_id == own
            and campaign not in this_run
        ):
            result["accepted"] += len(addresses)
            result["campaigns"].append(
                {
                    "proactiveCampaignId": campaign,
                    "batch": number,
                    "accepted": len(addresses),
                    "failed": 0,
                    "earlier_run": True,
                }
            )
            continue
        entry: dict[str, Any] = {"batch": number, "recipients": len(addresses), **scope}
        if kind == "already_sent":  # counted, as accepted ones are (a rerun of a campaign to
            # 100,000 kept every address in its result); uncertain ones need a person: named
            entry.update(job_id=job_id, proactiveCampaignId=campaign)
        else:
            entry.update(addresses=addresses, job_id=job_id, reason=why)
        result[kind].append(entry)
