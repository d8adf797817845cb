"""What a recipe sees inside its kernel: its job context and the way to report a result.

The engine binds the context silently before the first cell runs, so a recipe works the
same whether papermill, the CLI, a schedule or nbval runs it (outside a job the context is
empty but for `test_mode`, actions are dry runs and results are only displayed). Results
travel back as display data of the MIME type `RESULT_MIME`, which also leaves them visible
in the output notebook.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from ..scalars import from_numpy, integral

__all__ = [
    "RESPONSE_MIME",
    "RESULT_MIME",
    "JobContext",
    "answer_status",
    "connection",
    "context",
    "delivery",
    "event",
    "job_id",
    "latest_events",
    "log",
    "respond",
    "set_result",
]

RESULT_MIME = "application/vnd.lpstudio.result+json"
RESPONSE_MIME = "application/vnd.lpstudio.response+json"


@dataclass(frozen=True)
class JobContext:
    """The job a kernel is running for; `job_id` is None outside a job, where `test_mode`
    is True: run by hand, actions are dry runs, and a recipe's own guard must say so too."""

    job_id: int | None = None
    recipe: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    event: Any = None
    #: The headers and query of the webhook delivery the event came in, as its sender
    #: sent them less their credentials (`webhooks.delivery_seen`): `{"headers":
    #: {"x-shopify-topic": "checkouts/create"}, "query": {"source": "shop"}}`, header names
    #: in lower case; both empty for a job no delivery started, so a recipe reads them alike.
    delivery: dict[str, Any] = field(default_factory=lambda: {"headers": {}, "query": {}})
    test_mode: bool = False
    #: The trigger of the recipe's version the job runs (`metadata.lpstudio.trigger`).
    trigger: dict[str, Any] | None = None


_context = JobContext(test_mode=True)  # by hand until the engine binds a job
_runtime: Any = None
#: The job's result so far, as last published: a failed send's accounting goes over it.
_result: dict[str, Any] = {}


def _bind(payload: str) -> None:
    """Called by lpstudio's engine, once, before the recipe's first cell."""
    global _context, _runtime
    from .streams import keep_in_notebook

    keep_in_notebook()  # first: nothing of the job may write where the studio reads
    data = json.loads(payload)
    runtime = data.pop("runtime", None)
    _context = JobContext(**data)
    _runtime = _make_runtime(runtime)
    from .errors import report_connector_errors

    report_connector_errors()  # so a job an app refused for good is not retried


def _make_runtime(payload: dict[str, Any] | None) -> Any:
    from .runtime import Runtime

    # Outside a job (a recipe run by hand) actions are dry runs: nothing is ever sent by
    # running a cell in JupyterLab; jobs send, and test jobs do not.
    test_mode = _context.test_mode if _context.job_id is not None else True
    return Runtime(payload, test_mode, _context.job_id, log)


def connection(slot: str) -> Any:
    """A ready connection for a slot of `metadata.lpstudio.connections`.

    In a job it is the connection the recipe's settings bind to the slot; by hand, the one
    they bind now (a Save in the form counts from the next call). In test mode and by hand
    its actions return the requests they would send instead of sending them.
    """
    global _runtime
    if _runtime is None:
        _runtime = _make_runtime(None)
    from ..client import ConnectionClient

    return ConnectionClient(_runtime.connection(slot), keep_result=_keep_failed_send)


def latest_events(slot: str, trigger: str, count: int = 1) -> list[dict[str, Any]]:
    """The `count` latest events of the poll trigger `trigger` of the connection in `slot`
    that the recipe's trigger conditions pass, oldest first (`lpstudio.triggers.latest`):
    what a job no event started (Run now, a run by hand) works on, as the trigger would
    have given them. Read without the conditions, Run now messaged the customers they leave
    out. The conditions are those of the version a job runs; by hand, the notebook's when it
    is a recipe of its workspace (none for a notebook that is not)."""
    from functools import partial

    from ..triggers import latest, matches

    count = _count(count)

    spec = _context.trigger
    if _context.job_id is None:
        from .runtime import notebook_recipe

        recipe = notebook_recipe()[1]
        spec = recipe.metadata.get("trigger") if recipe is not None else None
    conditions = spec.get("conditions") if isinstance(spec, dict) else None
    poll = partial(connection(slot).poll, trigger)
    return latest(poll, count, passes=lambda event: matches(event, conditions))


def _count(count: Any) -> int:
    """`latest_events`' `count` as a whole number of events from 1 (a numpy integer too), or
    an `InputError` naming it: none (0) is no event to work on, and a text or a negative
    count failed deep in the look, naming neither."""
    whole = integral(count)
    if whole is None or whole < 1:
        from ..errors import InputError

        raise InputError(
            f"latest_events: count must be a whole number of events, at least 1, got {count!r}",
            field="count",
            fix="pass count as an integer of at least 1, e.g. lp.latest_events(slot, trigger, 3)",
        )
    return whole


def _not_stored(what: str) -> str:
    """Said under a result or answer shown by hand, which no job keeps."""
    if _context.job_id is not None:
        return ""
    return f"\n(run by hand: no job, so this {what} is only shown here, not stored)"


def context() -> JobContext:
    """The current job's context."""
    return _context


def __getattr__(name: str) -> Any:
    # `lpstudio.kernel.event`, `.delivery` and `.job_id` read the context bound at start.
    if name in ("event", "delivery", "job_id"):
        return getattr(_context, name)
    raise AttributeError(name)


def answer_status(status: Any) -> bool:
    """Whether a callable may answer with `status`: its answer always has a JSON body, and
    202 is lpstudio's own answer to a poll of a call still running (`GET /calls/<job>`): a
    recipe's 202 would keep a bot polling for good."""
    return (
        isinstance(status, int)
        and not isinstance(status, bool)
        and 200 <= status <= 599
        and status not in (202, 204, 304)
    )


def _plain(value: Any) -> Any:
    """What JSON cannot encode, as the JSON a reader expects: numpy's scalars and arrays
    (pandas' counts and sums are `numpy.int64`, `numpy.bool_`: neither int nor bool) as
    numbers, booleans and lists, dates and times in ISO 8601, any other object as its text."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    plain = from_numpy(value)
    return str(value) if plain is value else plain


def _as_json(value: Any, what: str) -> Any:
    """`value` as JSON data (see `_plain` for other objects); NaN and Infinity are refused:
    the job's answers are read by browsers and bots, whose JSON has no such numbers."""
    try:
        return json.loads(json.dumps(value, default=_plain, allow_nan=False))
    except ValueError:
        raise ValueError(
            f"{what}: the value holds NaN or Infinity, which JSON cannot carry; replace them "
            "first (for example with None, or DataFrame.fillna)"
        ) from None


def set_result(result: dict[str, Any]) -> None:
    """Stores `result` (a JSON object) on the job; shown by `lpstudio show` and `--json`.
    Each call replaces the one before; a send that fails after it keeps it, with the
    send's accounting beside it."""
    if not isinstance(result, dict):
        raise TypeError(f"set_result expects a dict, got {type(result).__name__}")
    if "response" in result:  # the job's result stores respond()'s answer under this key
        raise ValueError(
            "set_result: the key 'response' holds a callable recipe's respond() answer; "
            "name the value otherwise (for example 'reply')"
        )
    _publish_result(_as_json(result, "set_result"))


def _keep_failed_send(accounting: dict[str, Any]) -> None:
    """A connection's `keep_result`: what a send that failed did, merged over the result
    so far (its keys winning), so that what the recipe stored before it (the checkouts it
    skipped) stays in the failed job's result, as its output notebook shows it."""
    _publish_result({**_result, **_as_json(accounting, "set_result")})


def _publish_result(body: dict[str, Any]) -> None:
    """Shows `body` as the job's result; the last one shown is the job's."""
    global _result
    _result = body
    from IPython.display import publish_display_data

    summary = _shown(json.dumps(body, indent=1, ensure_ascii=False)) + _not_stored("result")
    publish_display_data({RESULT_MIME: body, "text/plain": f"lpstudio result:\n{summary}"})


#: The most of a result's text an output notebook shows beside the result itself.
SHOWN_CHARS = 20_000


def _shown(text: str) -> str:
    """A result's text as the notebook shows it, its first `SHOWN_CHARS` characters: the
    whole result is kept beside it (`RESULT_MIME`), and a large one shown whole as well
    doubled the notebook (25 MB for a 40,000-recipient campaign)."""
    if len(text) <= SHOWN_CHARS:
        return text
    more = len(text) - SHOWN_CHARS
    return (
        f"{text[:SHOWN_CHARS]}\n... ({more} characters more: `lpstudio show JOB --json`, or "
        "the job's Details, give the whole result)"
    )


def respond(body: Any, status: int = 200) -> None:
    """The answer of a callable recipe: a JSON body and an HTTP status.

    Its caller gets it when the job ends, not when `respond` runs: the studio reads it from
    the output notebook once every cell ran, and the last `respond` of the job is the answer
    (a recipe may answer a default first, and another once it knows more). So answer last,
    after any follow-up work: work after the answer holds the caller up (past its call
    timeout it gets 504), and a failure after it turns the answer into 422 `JobFailed`.
    Work the caller should not wait for belongs to another recipe, or to a call with
    `?mode=async`."""
    if not answer_status(status):
        raise ValueError(
            "respond(status=...) must be an HTTP status from 200 to 599 that carries a body, "
            "other than 202, which a polling caller takes for a call still running (not "
            f"202, 204 or 304), got {status!r}"
        )
    data = {"status": status, "body": _as_json(body, "respond")}
    from IPython.display import publish_display_data

    shown = json.dumps(data["body"], indent=1, ensure_ascii=False) + _not_stored("answer")
    publish_display_data(
        {RESPONSE_MIME: data, "text/plain": f"lpstudio response {status}:\n{shown}"}
    )


def log(message: str) -> None:
    """A line in the job's log (the output notebook), prefixed with the job id."""
    prefix = f"[job {_context.job_id}] " if _context.job_id is not None else ""
    print(f"{prefix}{message}", flush=True)
