"""The connector SDK: how a connector to an outside app is written in Python.

    from lpstudio.sdk import Connector, Field, Page

    connector = Connector(
        "acme", title="Acme CRM",
        fields=[Field("base_url", "API base URL", type="url"),
                Field("api_key", "API key", secret=True)],
    )

    @connector.test
    def test(conn):
        conn.http().get(conn.config["base_url"] + "/me").raise_for_status()
        return "connected"

    @connector.action("create_lead", title="Create lead",
                      input_schema={"type": "object", "required": ["email"],
                                    "properties": {"email": {"type": "string"}}})
    def create_lead(conn, data):
        if conn.dry_run:
            return conn.would_send("POST", "/leads", json=data)
        return conn.http().post(conn.config["base_url"] + "/leads", json=data).json()

Connectors know nothing of jobs, stores or servers: everything they need from the running
job (dry-run mode, a ledger of what was sent, a shared rate limiter, a log) comes through the
`Connection` they are handed. A connector module defines one module-level `connector`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from . import strictjson
from .errors import InputError, LpstudioError
from .jsonschemas import dangling_reference, refused_value, said_in_json

# Redaction has its own module (the core uses it far more); connectors import it from here.
from .redaction import (
    MASK,
    Secrets,
    derived_secrets,
    given_text,
    scrub,
    scrub_answer,
    scrub_text,
)
from .redaction import MIN_ENCODED_CORE as MIN_ENCODED_CORE  # as the SDK offered them
from .redaction import SENSITIVE_OPTION as SENSITIVE_OPTION
from .redaction import scrubbed_keys as scrubbed_keys
from .scalars import parse_scalar, whole
from .times import aware  # a naive time is UTC: connectors read the apps' times with it
from .workspace import own_file

#: An E.164 phone number, as a JSON Schema `pattern` (read alike by ECMA and Python): ASCII
#: digits only (Python's `\d` takes any script's digits, which no carrier dials) and no
#: trailing newline (Python's `$` lets one through).
E164_PATTERN = r"^\+[1-9][0-9]{6,14}(?!\n)$"


def is_e164(text: Any) -> bool:
    """Whether `text` is a phone number in E.164 form, such as +14155550100."""
    return isinstance(text, str) and re.search(E164_PATTERN, text) is not None


def csv_problem(detail: str) -> str:
    """What a CSV reader (pandas's, or Python's csv) says of a row it cannot read, as a user
    reads it: a row with more fields than the header is named by its line in the file."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    if found:
        header, line, saw = found.groups()
        return _longer(int(line), int(saw), int(header))
    return detail.strip()


def first_row_longer(path: str | Path, delimiter: str = ",", encoding: str = "utf-8") -> str | None:
    """What `csv_problem` says of the first data row when it has more fields than the header,
    else None. pandas refuses any later such row, but reads the first as naming an index
    column: no error, and every column shifts by one. Read before pandas reads the file."""
    import csv

    with open(path, newline="", encoding=encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        rows = (row for row in reader if row)  # blank lines are no rows, as pandas reads
        header, first = next(rows, []), next(rows, None)
        if first is not None and len(first) > len(header):
            return _longer(reader.line_num, len(first), len(header))
    return None


def _longer(line: int, saw: int, header: int) -> str:
    return f"line {line} has {saw} fields, the header {header}"


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110
    allows both), also a fraction such as Shopify's `2.0`; None when it is missing or
    unreadable. A date in the past is 0."""
    import email.utils
    import math
    from datetime import UTC, datetime

    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (aware(moment) - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


#: Seconds `Again` waits when it is given no wait: an answer without `Retry-After`.
DEFAULT_WAIT = 1.0
#: A dry run's request in a job's output notebook (`Connection.would_send`): where a Test
#: finds what its actions would send, whatever the recipe keeps of their answers.
REQUEST_MIME = "application/vnd.lpstudio.request+json"
#: A credential a connector obtained in a job (`Connection.hold`), told to the runner that
#: writes the output notebook, which masks it as it masks the stored secrets and keeps no
#: output of this type.
HELD_MIME = "application/vnd.lpstudio.held+json"


class Again(Exception):
    """A failure after which the same request may simply be sent again, once `wait` seconds
    have passed (a 429's `Retry-After`, a second after a 5xx to a read): raised by a try
    that `retrying` runs. `wait` may be None, as `retry_after` reads a missing header: the
    default wait, `DEFAULT_WAIT`. `reason` says what happened, for the connector's error
    once the tries are spent; `status` is the app's HTTP status, when it answered."""

    def __init__(self, wait: float | None, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.wait = DEFAULT_WAIT if wait is None else _seconds(wait)
        self.reason = reason
        self.status = status


def _seconds(wait: Any) -> float:
    """A wait `retrying` can sleep, refused where the connector gives it: one that is none
    failed inside the tries with Python's words, after the first."""
    import math

    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait < math.inf:
        raise InputError(
            f"Again's wait {wait!r} is not a number of seconds, 0 or more",
            field="wait",
            fix="give the seconds to wait, e.g. Again(retry_after(answer.headers.get("
            '"Retry-After")), reason), or None for the default wait',
        )
    return float(wait)


Returned = TypeVar("Returned")


def retrying(attempt: Callable[[], Returned], tries: int) -> Returned:
    """What `attempt` returns, calling it up to `tries` times: after each `Again` it raises,
    the wait that carries; the last try's `Again` is raised (the connector turns it into its
    own error). Any other exception ends the tries at once: which failures may be sent again,
    after how long, is the connector's to say."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

    for tried in Retrying(
        retry=retry_if_exception_type(Again),
        wait=lambda state: state.outcome.exception().wait,
        stop=stop_after_attempt(tries),
        reraise=True,
    ):
        with tried:
            return attempt()
    raise AssertionError("unreachable")  # pragma: no cover


def inside_workspace(conn: Connection, raw_path: str, field: str, what: str, example: str) -> Path:
    """The file `raw_path` names, kept inside the workspace (`conn.config["root"]`, which
    the runtime sets) once `..` and symbolic links are followed, so that every machine
    sharing the workspace folder opens the same file and none opens another's. A relative
    path is the workspace's wherever the code runs (a job's kernel runs in its recipe's
    folder). Without a root (the SDK used outside a workspace) the working directory is the
    limit, and an absolute path is taken as given. Errors name `field` and `what` the path
    is, with `example` (a path as the field takes it) in the fix, and quote the path as given,
    never the folder it was read from: an API shows a connection's test to every role. A
    NUL, which no file name holds, is refused too: opening the file failed with a bare
    `embedded null byte`."""
    if "\0" in raw_path:
        raise InputError(
            f"{what} {raw_path!r} holds a NUL character",
            field=field,
            fix=f"give a file path without it, such as {example}",
        )
    root = conn.config.get("root")
    given = Path(raw_path)
    if given.is_absolute() and not root:
        return Path(os.path.normpath(given))
    base = Path(os.path.abspath(root or os.getcwd()))
    target = Path(os.path.normpath(base / given))
    real_base, real = Path(os.path.realpath(base)), Path(os.path.realpath(target))
    if real == real_base:
        raise InputError(
            f"{what} '{raw_path}' names a folder, not a file",
            field=field,
            fix=f"give a file inside it, such as {example}",
        )
    if not real.is_relative_to(real_base):
        where = "the workspace" if root else "the working directory"
        raise InputError(
            f"{what} '{raw_path}' leaves {where}",
            field=field,
            fix=f"give a file inside the workspace, such as {example}, without '..' that "
            "climbs out of it; copy a file from elsewhere into it (links out of it are not "
            "followed)",
        )
    if root and own_file(real_base, real):
        raise InputError(
            f"{what} '{raw_path}' is one of the workspace's own files",
            field=field,
            fix=f"give a file of your own inside the workspace, such as {example}: its "
            "settings, secret key, store, history/ and .runtime/ are lpstudio's",
        )
    return target


FIELD_TYPES = ("string", "url", "integer", "number", "boolean")
#: The fewest characters of a secret given as text: a shorter one is met in ordinary text
#: (`abc`), where output masks it, giving it away, and a person's event holding it is
#: refused. A numeric secret (a PIN) is a number field's.
MIN_SECRET_LENGTH = 8
#: One line of printable ASCII, no space at its ends: what an HTTP header carries, for a
#: secret field sent as one (a bearer token, an access token) as a `Field.pattern`. Read
#: alike by ECMA and Python, whose `$` alone lets a final line break through.
HEADER_VALUE = r"^[!-~](?:[ -~]*[!-~])?(?!\n)$"
#: Why `HEADER_VALUE` refuses a value, the first found said (never the value: a secret's).
_HEADER_FAULTS = (
    (r"[\r\n]", "holds a line break"),
    (r"^\s|\s$", "has a space at an end"),
    (r"[^ -~]", "holds a character outside printable ASCII"),
)
#: A connector's name, as connections and recipes' slots give it (`--type acme_crm`).
CONNECTOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}(?!\n)$")
#: A field's name: given as `--field NAME=VALUE`, a secret's read from
#: `$LPSTUDIO_SECRET_<NAME>` upper-cased (so two names of one connector may not differ only
#: in case); an app's own spelling (`apiKey`, `api-key`) is kept, but no space, punctuation
#: or empty name, which no option or prompt could name.
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}(?!\n)$")
#: A placeholder in a field's reason (`Field.reasons`): `{store}`, the text the rule's group
#: `(?P<store>...)` found; one naming no group of the rule is shown as written.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Fields the runtime sets on every connection (the workspace's folder): never declared.
RESERVED_FIELDS = frozenset({"root"})
#: `ConnectionClient`'s own methods: an action of one of these names would be hidden by it
#: (`lp.connection("crm").test()` runs the connection test).
RESERVED_ACTIONS = frozenset({"test", "run", "poll", "picklist"})
_JSON_TYPES = {
    "string": "string",
    "url": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}


class ConnectorError(LpstudioError):
    """An outside app refused or failed a request; `retryable` says if trying the request
    again may help, and `uncertain` that it may have been carried out (a POST answered 500
    or not at all): a job failing on such an error is not retried either, as its retry
    would send the request again (`lpstudio.kernel.errors`, `lpstudio.failures`).
    `not_today` says the app's limit per day stopped it: a retry that day meets it again.
    `check` says how a person finds out what the app did with what it left uncertain (a
    report to ask for): its job's fix adds when they were sent (`errors.uncertain_fix`).

    `result` is what an action did before it failed (a campaign's accounting of every
    recipient): in a job it becomes the job's result, so a failed job still tells what was
    sent."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        field: str | None = None,
        fix: str | None = None,
        result: dict[str, Any] | None = None,
        uncertain: bool = False,
        not_today: bool = False,
        check: str | None = None,
    ):
        super().__init__(message, field=field, fix=fix)
        self.retryable = retryable
        self.status = status
        self.result = result
        self.uncertain = uncertain
        self.not_today = not_today
        self.check = check


@dataclass(frozen=True)
class Field:
    """One field of a connection's form: a plain value, or a secret stored encrypted."""

    name: str
    label: str
    type: str = "string"
    required: bool = True
    secret: bool = False
    hint: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    picklist: str | None = None
    #: Bounds of an integer or number field, checked when a connection is saved (a rate of
    #: 0 would otherwise be found only by the first job that uses it).
    minimum: float | None = None
    maximum: float | None = None
    #: True: `minimum` itself is refused (a timeout of 0 s).
    exclusive_minimum: bool = False
    #: A regular expression a string field's whole value must match (an account id of
    #: digits), checked when a connection is saved; the refusal's fix is the field's hint.
    pattern: str | None = None
    #: Why a value `pattern` refuses is refused, for a pattern of several rules: (a regular
    #: expression searched in the value, the reason) pairs, the first found said
    #: (`("\\.\\.", "leads out of the workspace through '..'")`), as written but for
    #: `{name}`, filled in with what the rule's group `(?P<name>...)` found (`reason`); else
    #: the value is said not to be of the field's form, which names none of them.
    reasons: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """Refuses, as the connector loads, a field no connection could be given or no
        value could satisfy: found later, by whoever saved a connection (or by a traceback),
        it blamed them."""
        if not isinstance(self.name, str) or not FIELD_NAME.match(self.name):
            raise InputError(
                f"field name {self.name!r} cannot be used as a connection field",
                field=f"fields.{self.name}",
                fix="rename the field to ASCII letters A-Z or a-z, digits, '_' and '-', "
                "starting with a letter, e.g. api_key (given as --field api_key=VALUE, or a "
                "secret as $LPSTUDIO_SECRET_API_KEY)",
            )
        if self.type not in FIELD_TYPES:
            raise InputError(
                f"field '{self.name}' has the unknown type {self.type!r}",
                field=f"fields.{self.name}.type",
                fix=f"use one of: {', '.join(FIELD_TYPES)}",
            )
        bounded = self.minimum is not None or self.maximum is not None
        if bounded and self.type not in ("integer", "number"):
            raise InputError(
                f"field '{self.name}' has bounds but is of type {self.type!r}",
                field=f"fields.{self.name}.type",
                fix="give minimum and maximum to integer or number fields only",
            )
        self._check_range()
        self._check_pattern()
        if self.secret and self.default is not None:
            # A default is shown to everyone (`lpstudio connectors`): a secret's never is.
            raise InputError(
                f"secret field '{self.name}' has a default, which would be shown to all",
                field=f"fields.{self.name}.default",
                fix="remove the default: each connection gives its own secret",
            )
        self._check_choices()
        if self.default is not None:
            # Checked as a given value is: a default its own field refuses failed every
            # connection saved without the field, blaming whoever saved it.
            from .jsonschemas import first_problem

            problem = first_problem(self.schema(), self.default)
            if problem is not None:
                raise InputError(
                    f"field '{self.name}' has the default {self.default!r}, which the field "
                    f"itself refuses: {problem[1]}",
                    field=f"fields.{self.name}.default",
                    fix=f"correct the default of field '{self.name}' in the connector's file "
                    "to a value the field takes, or remove it",
                )

    def _check_range(self) -> None:
        """Refuses bounds that are no numbers, or that no value is within (a minimum above
        the maximum; an integer field's range holding no integer)."""
        import math

        for bound in ("minimum", "maximum"):
            value = getattr(self, bound)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise InputError(
                    f"field '{self.name}' has the {bound} {value!r}, which is not a number",
                    field=f"fields.{self.name}.{bound}",
                    fix=f"give the {bound} as a number, e.g. {bound}=1",
                )
        low, high = self.minimum, self.maximum
        if low is None or high is None:
            return
        if low > high or (self.exclusive_minimum and low >= high):
            raise InputError(
                f"field '{self.name}' takes no value: none is {self.bounds()}",
                field=f"fields.{self.name}.minimum",
                fix="give a minimum at most the maximum (below it, with exclusive_minimum)",
            )
        if self.type == "integer" and math.isfinite(low) and math.isfinite(high):
            lowest = math.floor(low) + 1 if self.exclusive_minimum else math.ceil(low)
            if lowest > high:
                raise InputError(
                    f"field '{self.name}' takes no value: no integer is {self.bounds()}",
                    field=f"fields.{self.name}.minimum",
                    fix="give an integer field bounds with an integer between them, "
                    "e.g. minimum=1, maximum=2",
                )

    def _check_pattern(self) -> None:
        """Refuses a pattern on a field that is no text, or that is no regular expression
        (it failed the first connection saved, with `re`'s traceback)."""
        if self.pattern is None:
            return
        if self.type != "string":
            raise InputError(
                f"field '{self.name}' has a pattern but is of type {self.type!r}",
                field=f"fields.{self.name}.pattern",
                fix="give a pattern to string fields only",
            )
        rules = [("pattern", self.pattern)]
        rules += [(f"reasons.{n}", rule) for n, (rule, _) in enumerate(self.reasons)]
        for where, rule in rules:
            try:
                if not isinstance(rule, str):
                    raise TypeError(f"it is {_a(rule)}, not text")
                re.compile(rule)
            except (re.error, TypeError) as exc:
                raise InputError(
                    f"field '{self.name}' has the pattern {rule!r}, which is not a "
                    f"regular expression: {exc}",
                    field=f"fields.{self.name}.{where}",
                    fix="give a regular expression (Python's), anchored as ^...$ to match "
                    "the whole value, e.g. ^[0-9]+$",
                ) from None

    def reason(self, value: str) -> str | None:
        """Why `pattern` refuses `value`, where `reasons` says it: `{name}` filled in with
        what the rule's group of that name found (what to give instead, taken from the
        value), the rest shown as written, so that a reason's backslash or brace needs no
        escaping (`re`'s `\\1` expansion read `\\n` as a line break, `\\u` as an error)."""
        for rule, said in self.reasons:
            found = re.search(rule, value)
            if found is not None:
                return _filled(said, found)
        return None

    def _check_choices(self) -> None:
        """Refuses a choice the field itself refuses (text for an integer field, a value
        outside its bounds or pattern): a form would offer it, and saving it fail."""
        from .jsonschemas import first_problem

        takes = {k: v for k, v in self.schema().items() if k not in ("enum", "default")}
        for choice in self.choices:
            problem = first_problem(takes, choice)
            if problem is None:
                continue
            rules = [f"of the field's type ({self.type})"]
            if self.pattern is not None:
                rules.append(f"matching its pattern {self.pattern}")
            if self.minimum is not None or self.maximum is not None:
                rules.append(self.bounds())
            raise InputError(
                f"field '{self.name}' offers the choice {choice!r}, which the field itself "
                f"refuses: {problem[1]}",
                field=f"fields.{self.name}.choices",
                fix=f"give choices {', '.join(rules)}, or change the field's type",
            )

    def bounds(self) -> str:
        """The field's range in words, e.g. "from 0 to 10" or "above 0, at most 3600"."""
        low, high = self.minimum, self.maximum
        parts = []
        if low is not None:
            parts.append(f"above {low:g}" if self.exclusive_minimum else f"at least {low:g}")
        if high is not None:
            parts.append(f"at most {high:g}")
        if low is not None and high is not None and not self.exclusive_minimum:
            return f"from {low:g} to {high:g}"
        return ", ".join(parts)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": _JSON_TYPES[self.type], "title": self.label}
        if self.hint:
            schema["description"] = self.hint
        if self.default is not None:
            schema["default"] = self.default
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.type == "url":
            schema["pattern"] = "^https?://"
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.minimum is not None:
            schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.secret:
            schema["writeOnly"] = True
        if self.picklist:
            schema["x-picklist"] = self.picklist
        return schema


@dataclass(frozen=True)
class Option:
    """One entry of a pick list (a handoff, a skill): the value stored and what users see."""

    value: str
    label: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One poll of a trigger: events (oldest first), the cursor to resume from, and whether
    more events are waiting right now."""

    events: list[dict[str, Any]]
    cursor: Any
    more: bool = False


@dataclass(frozen=True)
class Action:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    run: Callable[[Connection, dict[str, Any]], Any]


@dataclass(frozen=True)
class PollTrigger:
    """Polled from a durable cursor; `key` de-duplicates events, which `poll` returns
    oldest first."""

    name: str
    title: str
    description: str
    object: str | None
    key: Callable[[dict[str, Any]], str]
    poll: Callable[[Connection, str, Any], Page]


@dataclass(frozen=True)
class WebhookTrigger:
    """An HTTP POST turned into events; `verify` checks a signature with a shared secret,
    the connection's `secret_field`, sent in one of `signature_headers` (named when a
    signature is refused: the one the sender used is the one it can fix, and declared in
    the OpenAPI document, with how each writes its signature where `signature_formats`
    says it)."""

    name: str
    title: str
    description: str
    object: str | None
    parse: Callable[[dict[str, str], bytes], list[dict[str, Any]]]
    verify: Callable[[dict[str, str], bytes, str], bool] | None = None
    signature_headers: tuple[str, ...] = ()
    secret_field: str | None = None
    #: What a header of `signature_headers` holds ("the HMAC-SHA256 of the raw body as
    #: base64"), by header, where the connector said it.
    signature_formats: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class PickList:
    name: str
    title: str
    fetch: Callable[[Connection], list[Option]]


#: What a poll's error that may pass ends its message with (`...; the next poll tries
#: again`): a recipe its trigger errors stopped polls no more, so its stop quotes the
#: error without it (`scheduler.count_trigger_error`).
POLL_AGAIN = "the next poll tries again"


def no_next_poll(message: str) -> str:
    """A poll error's message where no next poll follows (a stopped recipe, a Test)."""
    return message.replace(f"; {POLL_AGAIN}", "")


#: How the `reason` of a ledger's `rejected` row begins when that send never reached the
#: app (a try refused whole, to be tried again after a wait; the day's limit): a job that
#: ends without its recipe's result counts it `not_sent` (`Store.ledger_result`), as the
#: campaign's own result would have, not refused.
NOT_SENT = "not sent"


class Ledger(Protocol):
    """What a job already sent, so that a retry or rerun never sends it twice.

    A key names one send (a recipient of a campaign, say), not a request: a retry whose
    batches are cut differently still finds each recipient. Keys are claimed and settled a
    batch at a time, each call one transaction, so that a large fan-out pays per request,
    not per recipient.

    `claim_many` returns the earlier record (`status`, `detail`, `job_id`) of each key that
    was accepted or may have been (uncertain; a claim never settled, whose job ended or
    whose process died mid-request, counts as uncertain), or that another job is sending
    now (`sending`: it runs, and accounts for it; should it end unanswered, its final state
    makes the key uncertain and says so), and records every other key as being sent now,
    with its `check` (how a person finds out what the app did with it, as its
    `ConnectorError.check` says it): should its job end before it is settled, the job's
    fix says that check of it.
    `settle_many` records how the claimed keys ended: accepted, rejected (refused, or never
    reached the app, `NOT_SENT`: either may be sent again) or uncertain (sent, no answer:
    never resent blindly; it keeps its claim's `check`, `settled_detail`).
    `earlier_many` reads what `claim_many` would return and claims nothing: a dry run (a
    Test) finds what a real run would not send, and leaves the ledger as it was.

    `across_recipe` is the ledger every job of the job's recipe shares, for what is sent
    once whichever job gets it (a message per abandoned checkout, however often the
    checkout comes back as an event).
    """

    #: The job whose claims these are (None outside a job): a record of its own is of an
    #: earlier run of the same job, one put back in the queue, not of another job.
    job_id: int | None

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """Claims distinct `keys` together, with their `check`; the earlier records of
        those not claimed."""
        ...

    def earlier_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The earlier records `claim_many` would return for `keys`, read: none is claimed."""
        ...

    def settle_many(self, outcomes: Mapping[str, str], detail: dict[str, Any]) -> None:
        """Records each claimed key's status (key -> status), all with `detail`."""
        ...

    def across_recipe(self) -> Ledger:
        """The ledger of the recipe's jobs; a ledger that knows no recipe is its own."""
        ...

    def sending(self, keys: Sequence[str]) -> dict[str, Any]:
        """Those of `keys` another running job is sending now (what `claim_many` reports
        `sending`), each with that job's id, read without claiming any: for waiting until
        that job accounts for them."""
        ...

    def daily_used(self, scopes: Sequence[str], day: str) -> int:
        """The most any of `scopes` (an account's channels, say) holds reserved on `day`."""
        ...

    def reserve_daily(self, scopes: Sequence[str], day: str, count: int, limit: int) -> int:
        """Reserves up to `count` sends on every one of `scopes` for `day`, as many as keeps
        each at most `limit`, in one transaction; returns how many. An app's daily limit
        counts every job's sends, so a campaign reserves before it sends, whichever job or
        process the others run in; what it then does not send it gives back
        (`release_daily`), what may have gone out stays reserved."""
        ...

    def release_daily(self, scopes: Sequence[str], day: str, count: int) -> None:
        """Gives back `count` sends reserved on `day` and never sent."""
        ...


def keeps_check(status: str, detail: dict[str, Any]) -> bool:
    """Whether a settle to `status` with `detail` keeps the check its claim gave
    (`Ledger.claim_many`): a send left uncertain does, unless the settle gives one of its
    own, for its job's fix says it (a recipe that caught the error and went on, a 5xx
    mid-campaign); any other outcome needs none."""
    return status == "uncertain" and "check" not in detail


def settled_detail(status: str, detail: dict[str, Any], check: str | None) -> dict[str, Any]:
    """The detail a settle records over a claim that kept `check` (`keeps_check`)."""
    return {**detail, "check": check} if check and keeps_check(status, detail) else detail


class MemoryLedger:
    """A ledger for one process: used outside jobs (notebooks run by hand, tests)."""

    job_id: int | None = None

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._daily: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def claim_many(
        self, keys: Sequence[str], check: str | None = None
    ) -> dict[str, dict[str, Any]]:
        detail = {"check": check} if check else {}
        with self._lock:
            earlier = self._earlier(keys)
            for key in keys:
                if key not in earlier:
                    self._records[key] = {"status": "sending", "detail": detail, "job_id": None}
        return earlier

    def earlier_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self._earlier(keys)

    def _earlier(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of `keys` a claim does not take (its caller holds the lock): a key
        still being sent is this process's own, unsettled, so uncertain."""
        earlier: dict[str, dict[str, Any]] = {}
        for key in keys:
            record = self._records.get(key)
            if record is not None and record["status"] == "sending":
                earlier[key] = {**record, "status": "uncertain"}
            elif record is not None and record["status"] != "rejected":
                earlier[key] = record
        return earlier

    def settle_many(self, outcomes: Mapping[str, str], detail: dict[str, Any]) -> None:
        with self._lock:
            for key, status in outcomes.items():
                check = (self._records.get(key) or {}).get("detail", {}).get("check")
                said = settled_detail(status, detail, check)
                self._records[key] = {"status": status, "detail": said, "job_id": None}

    def across_recipe(self) -> MemoryLedger:
        """Itself: one process, by hand or in a test, is all the recipe it knows of."""
        return self

    def sending(self, keys: Sequence[str]) -> dict[str, Any]:
        """None: no other job shares a process's ledger (its own unsettled keys count as
        uncertain, as `claim_many` reports them)."""
        return {}

    def daily_used(self, scopes: Sequence[str], day: str) -> int:
        with self._lock:
            return max((self._daily.get((scope, day), 0) for scope in scopes), default=0)

    def reserve_daily(self, scopes: Sequence[str], day: str, count: int, limit: int) -> int:
        with self._lock:
            used = max((self._daily.get((scope, day), 0) for scope in scopes), default=0)
            granted = max(0, min(count, limit - used))
            for scope in scopes:
                self._daily[(scope, day)] = self._daily.get((scope, day), 0) + granted
            return granted

    def release_daily(self, scopes: Sequence[str], day: str, count: int) -> None:
        with self._lock:
            for scope in scopes:
                self._daily[(scope, day)] = max(0, self._daily.get((scope, day), 0) - count)


class RateLimiter(Protocol):
    def acquire(self, key: str, per_second: int) -> None:
        """Blocks until one more request under `key` stays within `per_second`."""


class MemoryRateLimiter:
    """Rate limits within one process, through pyrate-limiter."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def _limiter(self, key: str, per_second: int) -> Any:
        from pyrate_limiter import Duration, Limiter, Rate

        with self._lock:
            limiter = self._limiters.get((key, per_second))
            if limiter is None:
                limiter = Limiter(Rate(per_second, Duration.SECOND))
                self._limiters[(key, per_second)] = limiter
            return limiter

    def acquire(self, key: str, per_second: int) -> None:
        self._limiter(key, per_second).try_acquire(key, blocking=True)


_PROCESS_LIMITER = MemoryRateLimiter()
_PROCESS_LEDGER = MemoryLedger()


def mask_error(error: BaseException, secrets: Iterable[str]) -> BaseException:
    """`error` with `secrets` masked in its message, its fix and the errors chained to it
    (a traceback shows them all), changed in place so that its type and fields stay what
    the connector raised. An error whose text is not built from its arguments (an
    `OSError`'s, a SQLAlchemy error's) and still shows a secret is replaced by a
    `ConnectorError` carrying its masked text."""
    secrets = secrets if isinstance(secrets, frozenset) else frozenset(secrets)
    if not secrets:
        return error
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.args = tuple(scrub_text(a, secrets) if isinstance(a, str) else a for a in link.args)
        if isinstance(link, LpstudioError):
            link.mask(secrets)
        cause, context = link.__cause__, link.__context__
        if _shows_secret(link, secrets):  # the masked copy keeps the error's own place
            masked = ConnectorError(
                f"{type(link).__name__}: {scrub_text(str(link), secrets)}",
                retryable=bool(getattr(link, "retryable", False)),
                status=getattr(link, "status", None),
                uncertain=bool(getattr(link, "uncertain", False)),
            )
            masked.__cause__, masked.__context__ = cause, context
            masked.__suppress_context__ = link.__suppress_context__
            masked.__traceback__ = link.__traceback__
            if link is error:
                error = masked
            else:
                _replace_link(error, link, masked)
        link = cause if cause is not None else context
    return error


def _shows_secret(error: BaseException, secrets: frozenset[str]) -> bool:
    try:
        text = str(error)
    except Exception:  # a broken __str__ shows nothing
        return False
    return scrub_text(text, secrets) != text


def _replace_link(head: BaseException, old: BaseException, new: BaseException) -> None:
    """Puts `new` where `old` is in the chain of errors that starts at `head`."""
    link: BaseException | None = head
    while link is not None:
        if link.__cause__ is old:
            link.__cause__ = new
        if link.__context__ is old:
            link.__context__ = new
        link = link.__cause__ if link.__cause__ is not None else link.__context__
        if link is new:
            return


Guarded = TypeVar("Guarded", bound=Callable[..., Any])


def _guarded(func: Guarded) -> Guarded:
    """Connector code, called with its `Connection` first, whose errors never show that
    connection's secrets: they reach the scheduler's log, a trigger's last error, the
    REST API's answers and a notebook run by hand, where no job scrubs its output."""

    @functools.wraps(func)
    def call(conn: Connection, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(conn, *args, **kwargs)
        except Exception as exc:
            masked = mask_error(exc, conn.secrets())
            if masked is exc:
                raise
        # Raised outside the handler: inside it, Python would chain the unmasked original
        # as the masked error's context (what `mask_error` set stays as it is).
        raise masked

    return call  # type: ignore[return-value]


class Connection:
    """A connection's values handed to connector code, with what the running job provides.

    `config` holds plain and secret fields alike; the repr masks secrets. In dry-run mode
    actions must not call the app: they return `would_send(...)` descriptions instead.
    """

    def __init__(
        self,
        name: str,
        connector: Connector,
        config: dict[str, Any],
        *,
        dry_run: bool = False,
        ledger: Ledger | None = None,
        limiter: RateLimiter | None = None,
        log: Callable[[str], None] | None = None,
        given: tuple[Any, ...] = (),
    ) -> None:
        self.name = name
        self.connector = connector
        self.config = {**connector.defaults(), **config}
        self.dry_run = dry_run
        self.ledger: Ledger = ledger or _PROCESS_LEDGER
        self.limiter: RateLimiter = limiter or _PROCESS_LIMITER
        self.log = log or (lambda message: None)
        self._http: Any = None
        self.cache: dict[str, Any] = {}
        self._held: set[str] = set()
        #: What the job was given (its parameters, its event): a secret's beginning in it is
        #: shown as given (`Secrets`); read as `given_text` once needed.
        self._given = given
        self._given_text: str | None = None
        #: Where the latest request of `http()`'s client went (scheme, host, port), for a
        #: test that did not end in time: the connector's `url_field` names its field.
        self.reaching: str | None = None

    def __repr__(self) -> str:
        shown = {
            k: (MASK if k in self.connector.secret_fields() else v) for k, v in self.config.items()
        }
        return f"<Connection {self.name} ({self.connector.name}) {shown}>"

    def secrets(self) -> Secrets:
        """What of this connection output must never show (see `derived_secrets`), and
        the credentials its connector obtained with them (`hold`); with what the job was
        given, whose beginnings of them are shown as given (`Secrets`)."""
        secret = self.connector.secret_fields()
        stored = derived_secrets(
            {k: v for k, v in self.config.items() if k in secret},
            {k: v for k, v in self.config.items() if k not in secret},
        )
        if self._given_text is None:
            self._given_text = given_text(*self._given, hiding=stored) if self._given else ""
        return Secrets(stored | self._held, self._given_text)

    def hold(self, credential: str) -> str:
        """Marks a credential the connector obtained (an access token for the app) as a
        secret of this connection: an app that echoes the request in its error would
        otherwise show it in messages and results, which no job can scrub (only the
        connection knows it). Returns it, for use in place.

        In a job the runner is told it too (`HELD_MIME`): a recipe that prints it, or an
        answer holding it, is masked in the output notebook, its result and its error."""
        if len(credential) >= 3 and credential not in self._held:
            self._held.add(credential)
            if self.ledger.job_id is not None:
                from IPython.display import publish_display_data

                publish_display_data({HELD_MIME: {"held": credential}})
        return credential

    def excerpt(self, text: str, limit: int) -> str:
        """The start of what an app answered, for an error message: this connection's
        secrets masked before it is cut (an app or a proxy may echo the credential it got,
        and a secret cut in two is no longer found by any later masking), and what is left
        of one the app cut itself (`scrub_answer`)."""
        return scrub_answer(text, self.secrets())[:limit].strip()

    def http(self, **kwargs: Any) -> Any:
        """One httpx client per connection, with timeouts set (never wait for ever)."""
        import httpx

        if self._http is None:
            kwargs.setdefault("timeout", httpx.Timeout(30.0, connect=10.0))
            hooks = dict(kwargs.pop("event_hooks", None) or {})
            hooks["request"] = [*hooks.get("request", ()), self._sending]
            self._http = httpx.Client(event_hooks=hooks, **kwargs)
        return self._http

    def _sending(self, request: Any) -> None:
        """Notes where a request goes (no user, path or query: they may carry secrets)."""
        url = request.url
        self.reaching = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")

    def would_send(self, method: str, url: str, **request: Any) -> dict[str, Any]:
        """What a dry run returns: the request an action would have made, with this
        connection's secrets masked (a cell run by hand shows it, and nothing scrubs it). In
        a job (a Test) it is kept in the output notebook too, as `REQUEST_MIME` display data:
        a recipe's result may keep none of the answer that holds it."""
        said = scrub({"method": method, "url": url, **request}, self.secrets())
        if self.ledger.job_id is not None:
            from IPython.display import publish_display_data

            shown = json.dumps(said, indent=1, ensure_ascii=False, default=str)
            publish_display_data(  # as JSON: what papermill writes, what a Test reads
                {
                    REQUEST_MIME: json.loads(shown),
                    "text/plain": f"lpstudio dry run, would send:\n{shown}",
                }
            )
        return said

    def close(self) -> None:
        """Closes the HTTP client and whatever the connector kept in `cache` (by its
        `close`, else its `dispose`: an engine), each whatever the others do: one that
        failed left the rest open, and kept. The first failure is raised once all are
        closed, as a close that failed alone was (a file's last rows may be lost: the
        caller's to know), with the others noted on it."""
        held, self._http = [self._http, *self.cache.values()], None
        self.cache.clear()
        failures: list[Exception] = []
        for value in held:
            method = next(
                (m for m in ("close", "dispose") if callable(getattr(value, m, None))), ""
            )
            try:
                if method:
                    getattr(value, method)()
            except Exception as exc:  # the next one is closed all the same
                failures.append(exc)
        if failures:
            first, *others = failures
            for other in others:
                first.add_note(f"closing another of the connection's objects failed too: {other!r}")
            raise first


class Connector:
    """A connector: its connection form, its test, actions, triggers, pick lists, objects."""

    def __init__(
        self,
        name: str,
        *,
        title: str,
        description: str = "",
        fields: list[Field] | tuple[Field, ...] = (),
    ) -> None:
        if not isinstance(name, str) or not CONNECTOR_NAME.match(name):
            raise InputError(
                f"connector name {name!r} cannot be used as a connection type",
                field="name",
                fix="use lower-case ASCII letters a-z, digits and '_', starting with a letter, "
                "e.g. acme_crm",
            )
        seen: set[str] = set()
        for spec in fields:
            if spec.name.upper() in seen or spec.name in RESERVED_FIELDS:
                why = (
                    "is declared twice (names that differ only in case read one "
                    "$LPSTUDIO_SECRET_ variable)"
                    if spec.name.upper() in seen
                    else "is set by lpstudio itself"
                )
                raise InputError(
                    f"connector {name}: field '{spec.name}' {why}",
                    field=f"fields.{spec.name}",
                    fix="rename the field",
                )
            seen.add(spec.name.upper())
        self.name = name
        self.title = title
        self.description = description
        self.fields = tuple(fields)
        #: Where the registry found it: its file or folder, or its entry point.
        self.source = ""
        #: Where it comes from as its listing (`source`) says it, naming none of the server's
        #: folders: `lpstudio:connectors/http` (bundled), `connectors/acme.py` (the
        #: workspace's own, relative to it), or its entry point.
        self.shown_source = ""
        self.actions: dict[str, Action] = {}
        self.poll_triggers: dict[str, PollTrigger] = {}
        self.webhook_triggers: dict[str, WebhookTrigger] = {}
        self.picklists: dict[str, PickList] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self._test: Callable[[Connection], str] | None = None
        self._url_field: Callable[[Connection, str], str | None] | None = None

    # -- declaring -------------------------------------------------------------------------

    def _declare(self, kind: str, name: str, taken: Collection[str]) -> None:
        """Refuses a second declaration under one name: it would silently replace the first."""
        if name in taken:
            raise InputError(
                f"connector {self.name} declares {kind} '{name}' twice",
                field=f"{kind}s.{name}",
                fix=f"rename one of the two {kind}s",
            )

    def _callable(self, value: Any, field: str, example: str) -> None:
        """Refuses, when the connector is declared, what it would otherwise call at its
        first use (and fail there with Python's words, far from the file)."""
        if not callable(value):
            raise InputError(
                f"connector {self.name}: {field} is {_a(value)}, not a function",
                field=field,
                fix=f"give a function, e.g. {example}",
            )

    def test(self, func: Callable[[Connection], str]) -> Callable[[Connection], str]:
        """Declares the connection test: returns a short message, raises when it fails."""
        self._callable(func, "test", "def test(conn): ...")
        self._test = _guarded(func)
        return func

    def url_field(
        self, func: Callable[[Connection, str], str | None]
    ) -> Callable[[Connection, str], str | None]:
        """Declares which connection field sets where a URL goes (`func(conn, url)`, None:
        none does), for a test that did not end in time. Without it, the plain field whose
        value names the URL's host is taken (`field_of_url`)."""
        self._callable(func, "url_field", "def url_field(conn, url): ...")
        self._url_field = func
        return func

    def field_of_url(self, conn: Connection, url: str) -> str | None:
        """The connection field that sets where `url` goes: the connector's `url_field`,
        else the first plain field whose value (a URL, or a bare host name) names its host
        and port; None when none does, or the connector's own answer fails."""
        if self._url_field is not None:
            try:
                return self._url_field(conn, url)
            except Exception:  # a broken hook only loses the field's name
                return None
        wanted = _host_port(url)
        secret = self.secret_fields()
        for spec in self.fields:
            value = conn.config.get(spec.name)
            plain = spec.name not in secret and isinstance(value, str) and value.strip()
            if plain and wanted is not None and _host_port(value.strip()) == wanted:
                return spec.name
        return None

    def action(
        self,
        name: str,
        *,
        title: str,
        description: str = "",
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
    ) -> Callable[[Callable[[Connection, dict[str, Any]], Any]], Any]:
        if name in RESERVED_ACTIONS:
            raise InputError(
                f"connector {self.name}: action '{name}' would be hidden by the connection's "
                f"own {name}() in recipes",
                field=f"actions.{name}",
                fix="give the action another name (every connection has its own "
                f"{', '.join(sorted(RESERVED_ACTIONS))})",
            )

        def register(func: Callable[[Connection, dict[str, Any]], Any]) -> Any:
            self._declare("action", name, self.actions)
            self._callable(func, f"actions.{name}", f"def {name}(conn, data): ...")
            self.actions[name] = Action(
                name,
                title,
                description or (func.__doc__ or "").strip(),
                input_schema or {"type": "object"},
                output_schema or {"type": "object"},
                _guarded(func),
            )
            return func

        return register

    def poll_trigger(
        self,
        name: str,
        *,
        title: str,
        key: Callable[[dict[str, Any]], str],
        object: str | None = None,
        description: str = "",
    ) -> Callable[[Callable[[Connection, str, Any], Page]], Any]:
        self._callable(key, f"triggers.{name}.key", "key=lambda event: str(event['id'])")

        def register(func: Callable[[Connection, str, Any], Page]) -> Any:
            self._declare("trigger", name, {**self.poll_triggers, **self.webhook_triggers})
            self._callable(func, f"triggers.{name}", f"def {name}(conn, since, cursor): ...")
            self.poll_triggers[name] = PollTrigger(
                name,
                title,
                description or (func.__doc__ or "").strip(),
                object,
                key,
                _guarded(_returning_page(f"{self.name}.{name}", name, key, func)),
            )
            return func

        return register

    def webhook_trigger(
        self,
        name: str,
        *,
        title: str,
        object: str | None = None,
        description: str = "",
        verify: Callable[[dict[str, str], bytes, str], bool] | None = None,
        signature_headers: Sequence[str] | Mapping[str, str] = (),
        secret_field: str | None = None,
    ) -> Callable[[Callable[[dict[str, str], bytes], list[dict[str, Any]]]], Any]:
        """`signature_headers` names the headers `verify` reads a signature in; a mapping
        also says what each holds (`{"X-Acme-Signature": "the HMAC-SHA256 of the raw body
        as hex"}`), as the OpenAPI document tells senders."""
        if verify is not None:
            self._callable(
                verify, f"triggers.{name}.verify", "verify(headers, body, secret) -> bool"
            )
        secret_field = self._verify_secret(name, verify, secret_field)

        def register(func: Callable[[dict[str, str], bytes], list[dict[str, Any]]]) -> Any:
            self._declare("trigger", name, {**self.poll_triggers, **self.webhook_triggers})
            self._callable(func, f"triggers.{name}", f"def {name}(headers, body): ...")
            self.webhook_triggers[name] = WebhookTrigger(
                name,
                title,
                description or (func.__doc__ or "").strip(),
                object,
                func,
                verify,
                tuple(signature_headers),
                secret_field,
                {str(k): str(v) for k, v in signature_headers.items()}
                if isinstance(signature_headers, Mapping)
                else {},
            )
            return func

        return register

    def _verify_secret(
        self, trigger: str, verify: Callable[..., bool] | None, named: str | None
    ) -> str | None:
        """The secret field a webhook trigger's `verify` is given: the one it names, else
        the connector's only secret field (of several, `token`, the webhook secret's name
        before triggers could name theirs). Refused when unclear: a delivery would
        otherwise be checked with the wrong secret, or not at all."""
        secrets = [f.name for f in self.fields if f.secret]
        where = f"triggers.{trigger}.secret_field"
        choose = " or ".join(f"secret_field={field!r}" for field in secrets)
        if verify is None and named is not None:
            raise InputError(
                f"connector {self.name}: trigger '{trigger}' names secret_field but has no verify",
                field=where,
                fix="give verify=... that checks a delivery's signature with that secret, "
                "or remove secret_field",
            )
        if verify is None or named in secrets:
            return named
        if not secrets:
            raise InputError(
                f"connector {self.name}: trigger '{trigger}' verifies deliveries, but the "
                "connector has no secret field to verify them with",
                field=where,
                fix="declare the signing secret among its fields, e.g. "
                'Field("signing_secret", "Signing secret", secret=True)',
            )
        if named is not None:
            raise InputError(
                f"connector {self.name}: trigger '{trigger}' names secret_field '{named}', "
                "which is not a secret field of the connector",
                field=where,
                fix=f"name the field that holds the webhook's signing secret: {choose}",
            )
        if len(secrets) == 1 or "token" in secrets:
            return secrets[0] if len(secrets) == 1 else "token"
        raise InputError(
            f"connector {self.name}: trigger '{trigger}' verifies deliveries, and which of "
            f"the secret fields {', '.join(secrets)} it is given is unclear",
            field=where,
            fix=f"name the field that holds the webhook's signing secret: {choose}",
        )

    def picklist(self, name: str, *, title: str) -> Callable[[Callable[..., Any]], Any]:
        def register(func: Callable[[Connection], list[Option]]) -> Any:
            self._declare("picklist", name, self.picklists)
            self._callable(func, f"picklists.{name}", f"def {name}(conn): ...")
            checked = _returning_options(f"{self.name}.{name}", name, func)
            self.picklists[name] = PickList(name, title, _guarded(checked))
            return func

        return register

    def object(self, name: str, schema: dict[str, Any]) -> None:
        """Declares the fields a trigger record has, so forms can offer placeholders."""
        self.objects[name] = schema

    def check(self) -> None:
        """Refuses a schema that is no JSON Schema, naming it, before anything uses it: an
        action's input would otherwise fail in the middle of a job with jsonschema's own
        error. Costs a few milliseconds a schema, so the registry checks the connectors it
        does not ship (the bundled ones are checked by the tests)."""
        import jsonschema

        schemas = {
            **{f"actions.{a.name}.input_schema": a.input_schema for a in self.actions.values()},
            **{f"actions.{a.name}.output_schema": a.output_schema for a in self.actions.values()},
            **{f"objects.{name}": schema for name, schema in self.objects.items()},
        }
        for where, schema in schemas.items():
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                at = "/".join(map(str, exc.absolute_path))
                raise InputError(
                    f"connector {self.name}: {where} is not a valid JSON Schema: "
                    f"{said_in_json(exc)}" + (f" (at {at})" if at else ""),
                    field=where,
                    fix="give a valid JSON Schema (draft 2020-12), "
                    'e.g. {"type": "object", "properties": {...}}',
                ) from None
            # jsonschema follows a reference only when a value is checked: one leading
            # nowhere failed every job with referencing's Unresolvable.
            reference = dangling_reference(schema)
            if reference is not None:
                at = "/".join(map(str, reference.path))
                raise InputError(
                    f"connector {self.name}: {where} has a {reference.keyword} "
                    f"{reference.ref!r} that leads nowhere in the schema"
                    + (f" (at {at})" if at else ""),
                    field=where,
                    fix=f"point the {reference.keyword} at a definition of the same schema, "
                    "such as '#/$defs/email' (other documents are not fetched)",
                )

    # -- using -----------------------------------------------------------------------------

    def secret_fields(self) -> set[str]:
        return {f.name for f in self.fields if f.secret}

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields if f.default is not None}

    def config_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {f.name: f.schema() for f in self.fields},
            "required": [f.name for f in self.fields if f.required and f.default is None],
            "additionalProperties": False,
        }

    def validate_config(self, values: dict[str, Any]) -> dict[str, Any]:
        """Coerces text values to the fields' types and checks them; errors name the field."""
        known = {f.name: f for f in self.fields}
        coerced: dict[str, Any] = {}
        for key, value in values.items():
            spec = known.get(key)
            if spec is None:
                raise InputError(
                    f"connector {self.name} has no field '{key}'",
                    field=key,
                    fix=f"use one of: {', '.join(known)}",
                )
            coerced[key] = _coerce_field(spec, value)
        import jsonschema  # here, not at import: kernels load the SDK without validating

        merged = {**self.defaults(), **coerced}

        def required(name: str) -> InputError:
            spec = known[name]
            kind = "secret" if spec.secret else "field"
            return InputError(
                f"connection field '{name}' ({spec.label}) is required",
                field=name,
                fix=f"give the {kind} {name}" + (f": {spec.hint}" if spec.hint else ""),
            )

        for name, value in merged.items():  # blank is no value (an empty line for a secret)
            if known[name].required and isinstance(value, str) and not value.strip():
                raise required(name)
        for name, value in merged.items():  # a plain field is kept and shown in clear
            problem = None if known[name].secret else plain_url_problem(value)
            if problem is not None:
                raise InputError(
                    f"connection field '{name}' ({known[name].label}) {problem}",
                    field=name,
                    fix=f"give {name} as the address alone (https://host/path), and any "
                    "credential in the connection's secret fields",
                )
        validator = jsonschema.Draft202012Validator(self.config_schema())
        for error in validator.iter_errors(merged):
            if error.validator == "required":
                raise required(error.message.split("'")[1])
            name = error.path[0] if error.path else None
            spec = known.get(name) if isinstance(name, str) else None
            label = spec.label if spec else name
            fix = spec.hint if spec and spec.hint else "give a value of the field's type"
            # A secret's value never appears in a message, not even when it is wrong.
            reason = (
                f"fails the '{error.validator}' rule" if spec and spec.secret else error.message
            )
            if spec and error.validator == "type":  # its kind, never a secret's value
                raise _not_of_kind(spec, error.instance)
            if spec and error.validator in ("minimum", "maximum", "exclusiveMinimum"):
                fix = f"give {name} {spec.bounds()}"
            if spec and error.validator == "enum":  # its choices are the fix, not its type
                fix = f"use one of: {', '.join(map(str, spec.choices))}"
            if spec and spec.type == "url" and error.validator == "pattern" and not spec.secret:
                reason = f"{error.instance!r} is not an http:// or https:// URL"
                # The field's hint is help (what it is for), not how to write a URL.
                about = f" ({spec.hint})" if spec.hint else ""
                fix = f"give {name} as a full address with http:// or https://, e.g. "
                fix += f"https://api.example.com{about}"
            elif spec and error.validator == "pattern":
                # The form in words where the field has a hint (the fix), else its pattern.
                form = "" if spec.hint else f" ({spec.pattern})"
                shown = "the value given" if spec.secret else repr(error.instance)
                why = spec.reason(str(error.instance))
                reason = f"{shown} {why}" if why else f"{shown} is not of the field's form{form}"
                if spec.pattern == HEADER_VALUE:
                    value = str(error.instance)
                    faults = (said for rule, said in _HEADER_FAULTS if re.search(rule, value))
                    reason = f"{next(faults, 'is empty')}, which no HTTP header can carry"
                    fix = f"give {name} again, on one line, without spaces at its ends"
            raise InputError(
                f"connection field '{name}' ({label}) is invalid: {reason}",
                field=str(name),
                fix=fix,
            )
        for name, value in coerced.items():
            short = isinstance(value, str) and 0 < len(value.strip()) < MIN_SECRET_LENGTH
            if known[name].secret and known[name].type == "string" and short:
                raise InputError(
                    f"secret '{name}' ({known[name].label}) is shorter than "
                    f"{MIN_SECRET_LENGTH} characters: text this short is met in ordinary "
                    "output, where it would be masked (giving it away) and refused in events",
                    field=name,
                    fix=f"give {name} whole, as the app issued it ({MIN_SECRET_LENGTH} "
                    "characters at least)",
                )
        return coerced

    def run_test(self, conn: Connection) -> str:
        if self._test is None:
            return "no test defined"
        return self._test(conn)

    def describe(self) -> dict[str, Any]:
        """The JSON shape of a connector for `lpstudio connectors --json` and the REST API."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "source": self.shown_source,
            "fields": self.config_schema(),
            "actions": {
                a.name: {
                    "title": a.title,
                    "description": a.description,
                    "input": a.input_schema,
                    "output": a.output_schema,
                }
                for a in self.actions.values()
            },
            "triggers": {
                **{
                    t.name: {"title": t.title, "kind": "poll", "object": t.object}
                    for t in self.poll_triggers.values()
                },
                **{
                    t.name: {"title": t.title, "kind": "webhook", "object": t.object}
                    for t in self.webhook_triggers.values()
                },
            },
            "picklists": {p.name: p.title for p in self.picklists.values()},
            "objects": self.objects,
        }


def _filled(said: str, found: re.Match[str]) -> str:
    """`said` with each `{name}` naming a group of `found`'s rule replaced by what that group
    found (nothing, when it took no part); any other text as written."""
    groups = found.groupdict(default="")
    return _PLACEHOLDER.sub(lambda named: groups.get(named[1], named[0]), said)


def _a(value: Any) -> str:
    """A value's type with its article, as errors say it: "a list", "an int"."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _returning_page(
    where: str, trigger: str, key: Callable[[dict[str, Any]], str], func: Guarded
) -> Guarded:
    """A poll function whose answer is checked: a Page of JSON objects, each with a key,
    with a cursor the store can keep. Anything else failed later with Python's words, after
    the app was asked, with no hint of the contract (or, an event's NaN, was stored and
    broke every answer holding it); refused here, nothing of the page is written."""

    @functools.wraps(func)
    def poll(conn: Connection, since: str, cursor: Any) -> Page:
        page = func(conn, since, cursor)
        problem = None
        if not isinstance(page, Page):
            problem = f"{where} returned {_a(page)}, not a Page"
        elif not isinstance(page.events, list | tuple):
            problem = f"{where} returned a Page whose events are {_a(page.events)}, not a list"
        else:
            odd = next((e for e in page.events if not isinstance(e, dict)), None)
            if odd is not None:
                problem = f"{where} returned an event that is {_a(odd)}, not a JSON object"
        if problem is not None:
            raise ConnectorError(
                problem,
                field=f"triggers.{trigger}",
                fix="return Page(events, cursor=...) from the poll function: the events as a "
                "list of dicts, oldest first, and the cursor the next poll resumes from",
            )
        for index, event in enumerate(page.events):
            _check_event(where, trigger, key, index, event)
        unkept = _unkept(page.cursor)
        if unkept is not None:  # a NaN too: kept, the next poll resumed from null
            path, said, fix = unkept
            raise ConnectorError(
                f"{where} returned a cursor {f'whose {path} is' if path else 'that is'} {said}",
                field=f"triggers.{trigger}",
                fix=fix,
            )
        kept = json.dumps(page.cursor, sort_keys=True)
        if page.more and kept == json.dumps(cursor, sort_keys=True, default=repr):  # same page
            raise ConnectorError(
                f"{where} returned more=True with the cursor it was given: the next poll "
                "would fetch the same page again",
                field=f"triggers.{trigger}",
                fix="return the cursor just past the page's last event with more=True",
            )
        return page

    return poll  # type: ignore[return-value]


def _check_event(
    where: str, trigger: str, key: Callable[[dict[str, Any]], str], index: int, event: Any
) -> None:
    """Refuses a page's event (`index`) whose key the trigger's key function cannot give,
    or that the store cannot keep as JSON, naming the field: the app's own values (pandas'
    NaN, a driver's datetime) pass through connector code unseen."""
    try:
        named = f"event {index} (key {key(event)!r})"
    except Exception as exc:
        raise ConnectorError(
            f"{where}'s key function failed on event {index} of the page "
            f"(fields: {', '.join(map(str, event)) or 'none'}): {type(exc).__name__}: {exc}",
            field=f"triggers.{trigger}.key",
            fix="give key= a function that reads what every event holds, e.g. "
            "key=lambda event: str(event['id']), or return events that hold it",
        ) from exc
    unkept = _unkept(event)
    if unkept is not None:
        path, said, fix = unkept
        raise ConnectorError(
            f"{where} returned {named} whose {path} is {said}", field=f"triggers.{trigger}", fix=fix
        )


def _unkept(value: Any) -> tuple[str, str, str] | None:
    """The first part of a poll's `value` (an event, a cursor) that the store cannot keep as
    JSON: its path (empty for `value` itself), what it is and the fix; None when all of it
    can be kept. One walk finds either kind (`strictjson.not_json`)."""
    found = strictjson.not_json(value)
    if found is None:
        return None
    path, odd = found
    where = ".".join(map(str, path))
    if isinstance(odd, float):  # NaN or an infinity
        return (
            where,
            f"{json.dumps(odd)}, which JSON cannot carry",
            "give finite numbers only, or None (null) for a missing value",
        )
    return (
        where,
        f"{_a(odd)}, which the store cannot keep: it takes JSON values",
        "give text, numbers, lists or dicts: a time as its isoformat(), a Decimal or numpy "
        "number as float() or int(), an id as it is",
    )


def _returning_options(where: str, picklist: str, func: Guarded) -> Guarded:
    """A pick list function whose answer is checked: a list of `Option`s (forms and the
    REST API read their value and label; the app's own rows failed there, unexplained)."""

    @functools.wraps(func)
    def fetch(conn: Connection) -> list[Option]:
        options = func(conn)
        if not isinstance(options, list | tuple):
            problem = f"{where} returned {_a(options)}, not a list of Option"
        else:
            odd = next((o for o in options if not isinstance(o, Option)), None)
            if odd is None:
                return list(options)
            problem = f"{where} returned a list holding {_a(odd)}, not an Option"
        raise ConnectorError(
            problem,
            field=f"picklists.{picklist}",
            fix="return [Option(value, label), ...]: the value stored, the label people see",
        )

    return fetch  # type: ignore[return-value]


def _host_port(url: str) -> tuple[str, int | None] | None:
    """The host and port a URL or a bare host name (`shop.example.com`) leads to, https's
    port when it names none; None when it names no host."""
    try:
        parts = urlsplit(url if "://" in url else f"https://{url}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return (host.lower(), port or default) if host else None


def web_page(response: Any) -> str | None:
    """What an app's answer is when it is a web page or nothing (an httpx response): "a web
    page (HTML) titled '403 Forbidden'" (its title, else its first heading), or "an empty
    body" (said as such: an answer with no body is no page), for an error that says so
    instead of quoting a web server's, proxy's or portal's page; None when it is JSON or
    plain text (the app's or a proxy's own words, to quote: masked and cut,
    `Connection.excerpt`)."""
    try:
        response.json()
        return None
    except ValueError:
        pass
    text = response.text
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml") or text.lstrip()[:1] == "<":
        found = re.search(r"<title[^>]*>([^<]{1,200})</title>", text, re.IGNORECASE) or re.search(
            r"<h1[^>]*>([^<]{1,200})</h1>", text, re.IGNORECASE
        )
        title = " ".join(found[1].split())[:80] if found else ""
        return "a web page (HTML)" + (f" titled {title!r}" if title else "")
    return None if text.strip() else "an empty body"


def plain_url_problem(value: Any) -> str | None:
    """What a plain field's http(s) URL holds that it may not, in words (None: nothing, or
    no such URL). A user name or password (`https://u:p@h`) is a credential kept and shown
    in clear, and so may a query string be (`?api_key=...`); a query or fragment also
    leaves no place for the path a request joins after a base address. Refused when a
    connection is saved; a connector reading a value saved before may refuse it the same."""
    if not isinstance(value, str) or not value.strip().lower().startswith(("http://", "https://")):
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # an unreadable URL: the field's own check says so
        return None
    shown = "a plain field is kept and shown as it is"
    if parts.username or parts.password:
        return f"holds a user name or password in its URL: {shown}"
    if "?" in text or "#" in text:  # even empty: a request's path would follow it
        return (
            f"has a query string or fragment in its URL: {shown} (a key in it too), and no "
            "request's path can follow it"
        )
    return None


def _json_kind(value: Any) -> str:
    """What kind of JSON value `value` is, in words (a refusal that may not quote it)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    kinds = ((int | float, "a number"), (str, "text"), (list, "a list"), (dict, "an object"))
    return next((said for kind, said in kinds if isinstance(value, kind)), type(value).__name__)


def _kind_of(spec: Field) -> str:
    """What a field's values are, in words: "text", "an integer"."""
    if spec.type in ("string", "url"):
        return "text"
    return f"{'an' if spec.type[0] in 'aeiou' else 'a'} {spec.type}"


def _coerce_field(spec: Field, value: Any) -> Any:
    """A value given as text (`--field n=5`) as its field's type, read as a recipe's
    parameter reads it (`parse_scalar`: not `1_0`, nor nan and inf, nor `2.5` for an
    integer), and a whole number given as a float (JSON's `2.0`) as an integer field's int;
    any other value is left to the field's schema. Text that is no value of the type is
    refused naming the field, never read as another value (`ture` was false), in the words
    of a JSON value of the wrong type (`_not_of_kind`): the CLI's text and the REST API's
    are one reading."""
    integral = whole(value) if isinstance(value, float) else None
    if spec.type == "integer" and integral is not None:  # JSON's 2.0 is 2 (an input's too)
        return integral
    if not isinstance(value, str) or spec.type in ("string", "url"):
        return value
    try:
        return parse_scalar(spec.type, value)
    except ValueError:
        raise _not_of_kind(spec, value) from None


def _not_of_kind(spec: Field, given: Any) -> InputError:
    """The refusal of a value (text, or JSON) that is no value of its field's type: what was
    given as the user gave it (a secret's by its kind alone), the kind the field takes, and
    the field's hint."""
    got = _json_kind(given) if spec.secret else refused_value(given)
    fix = f"give {spec.name} as {_kind_of(spec)}"
    if spec.type == "boolean":
        fix = f"give {spec.name} as true or false (yes and no, on and off, 1 and 0 are taken too)"
    return InputError(
        f"connection field '{spec.name}' ({spec.label}) is invalid: expects {_kind_of(spec)}, "
        f"got {got}",
        field=spec.name,
        fix=fix + (f": {spec.hint}" if spec.hint else ""),
    )


def chunks(items: Any, size: int) -> Iterator[list[Any]]:
    """Splits records (an iterable of dicts, or a DataFrame) into lists of `size`, lazily."""
    if hasattr(items, "iloc"):  # a pandas DataFrame: convert one slice at a time
        for start in range(0, len(items), size):
            yield items.iloc[start : start + size].to_dict("records")
        return
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
