"""Callable recipes as REST endpoints, for bots such as Conversation Builder.

A call is checked whole before any job exists: the client may call the endpoint, and its
input fits the recipe's `input_schema` and holds neither the caller's own API token nor the
server's (400 naming the field). A secret of the workspace in it, or another client's
token, is run as sent and shown masked (`Studio.kept_event`). The input is the JSON body
(`{}` when none is sent), and the query's fields besides the route's own `mode`, typed by
the input schema, as are the body's fields given as text (a query holds only text;
Conversation Builder embeds bot variables in the URL, and its bots' builders quote them in
a body); a GET's is its query alone; a number the schema types
`integer` is an int. Then one job runs the recipe with the input as its event, as sent, and
its `respond()` answer, checked against the `response_schema`, is the call's answer:

    200..599 from respond()   the recipe's own status and body (not 202, 204 or 304)
    422                       the job failed or was cancelled (with the job id)
    502                       the recipe answered nothing, or off its response schema: its
                              job failed for it (`runner.unanswered`), as its admin sees
    503                       the recipe's own settings keep it from running, or the store
                              stayed busy past the call timeout (no job; `Retry-After`)
    504                       no answer within the call timeout (15 s by default); the job
                              goes on, and `GET /calls/<job>` gives its answer later
    202                       `?mode=async`: the job id at once, to poll at `/calls/<job>`
    410                       `/calls/<job>` of a job purged after the retention period

Conversation Builder gives up after 20 s and retries up to 3 times. A request carrying an
`Idempotency-Key` is claimed once per client and key in the store: a repeat waits for the
first request's job, or reads its stored answer, and never starts a second job; the same key
with another body is refused (409). Conversation Builder sends no key, so a request without
one is claimed under the request itself (client, endpoint and body) while its job is queued
or runs and for the app's `repeat_window` after its end: an identical request then is its
retry, until the recipe answered it (its job succeeded with a status below 500, and the
caller had that answer, or in async mode the job). A bot retries only until it has an
answer, so the same request after that is a new one: a consumer who opts in, out and in
again within the window is recorded three times. A caller told 504 has no answer yet: its
next repeat gets the job's answer (as the 504 says), unless it polled it. A repeat gets its
call's answer, or its job as it is now, even once the recipe stopped or broke. The job and
the claim's record of it are written in one transaction, so a claim with no job past its
lease was left by a request that died before starting it: a repeat then takes the claim
over and runs the job (see `lpstudio.idempotency`).

The whole call keeps to its call timeout, its waits for a busy store included. A store
write cannot be stopped once it waits for its turn, so a call answered without it (503,
nothing queued) shuts its `_Gate`, and the write, once it gets its turn, rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from referencing.exceptions import Unresolvable

from ..api_clients import token_refused
from ..checks import input_fix, typed_input
from ..endpoints import UP_TO
from ..errors import ConflictError, InputError, NotFoundError, RecipeError, quoted, word
from ..executor import RECIPE_STOPPED
from ..idempotency import check_key, left_claim_wait
from ..jobviews import shown_error
from ..jsonschemas import TYPE_WORDS, first_problem, integers_as_ints
from ..models import utcnow
from ..runner import UNANSWERED, unanswered
from ..store import FAILED, FINAL_STATES, QUEUED, SUCCEEDED
from ..times import said_at
from .auth import ApiError
from .handlers import PREFIX, parse_json, recipe_not_ready

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..idempotency import IdempotentCalls
    from ..models import Job
    from ..studio import Studio
    from ..workspace import Workspace
    from .app import LpstudioApp

Answer = tuple[int, Any, dict[str, str]]
T = TypeVar("T")

#: How often a repeated request looks at the first request's job.
POLL_SECONDS = 0.1

#: A repeat window this long (or longer) never ends.
FOREVER = timedelta(days=36500).total_seconds()


def _error(status: int, code: str, message: str, fix: str, **fields: Any) -> tuple[int, Any]:
    return status, {
        "error": {"code": code, "message": message, "field": None, "fix": fix, **fields}
    }


def answer_for(
    job: Job, response_schema: dict[str, Any], workspace: Workspace | None = None
) -> tuple[int, Any]:
    """A finished job's answer to its caller; a failed job's error names the workspace's
    files by their path in it (`shown_error`), as every error answer does. A job that gave
    its caller no answer it can take (`unanswered`) is a 502 with the job's own reason (its
    end recorded it, or, for a job that ended before its end checked it, its answer now),
    and the fix a failed job's caller is given (`_failed_fix`): the author's fix (edit the
    recipe) and the response field it names stay on the job, for its admin, as the caller
    can do neither."""
    if job.status == SUCCEEDED:
        problem = unanswered(job.result, response_schema)
    elif _ended_unanswered(job):
        problem = job.error
    else:
        error = shown_error(job.error, workspace) or {}
        reason = f": {error.get('ename')}: {error.get('evalue')}" if error else ""
        return _error(
            422, "JobFailed", f"job {job.id} {job.status}{reason}", _failed_fix(job), job=job.id
        )
    if problem is not None:
        return _error(
            502,
            problem["ename"],
            f"job {job.id}: {problem['evalue']}",
            _failed_fix(job),
            job=job.id,
        )
    response = job.result["response"]
    return response["status"], response.get("body")


def _failed_fix(job: Job) -> str:
    """What a caller of a job that failed or was cancelled can do. One cancelled as its
    recipe was stopped is answered 404 by a new call until the recipe starts again: its fix
    said that a new Idempotency-Key runs the recipe."""
    repeat = (
        "a repeat of this request (its Idempotency-Key, or without one the same body soon "
        "after) answers this again"
    )
    if RECIPE_STOPPED.detail in str((job.error or {}).get("evalue", "")):
        return (
            "its recipe was stopped before the call ran: send it again with a new "
            f"Idempotency-Key once the recipe's admin starts the recipe again; {repeat}"
        )
    return (
        f"the recipe's admin finds why in job {job.id}; {repeat}, a new Idempotency-Key runs "
        "the recipe again"
    )


def _ended_unanswered(job: Job) -> bool:
    """Whether a failed job ran all its cells and failed only for its answer (`unanswered`),
    not for an error of its own (a cell's, which names its cell)."""
    error = job.error or {}
    return job.status == FAILED and error.get("ename") in UNANSWERED and error.get("cell") is None


def _purged(job: Job) -> tuple[int, Any]:
    """410: what a job answered was erased with its data (`Studio.purge`); its status and
    end are all that is left."""
    ended = f" at {said_at(job.finished_at, local=False)}" if job.finished_at else ""
    return _error(
        410,
        "AnswerPurged",
        f"job {job.id} {job.status}{ended}; its answer was purged with the job's data after "
        "the workspace's retention period",
        "the answer cannot be read any more: read a call's answer within the retention period "
        "(jobs.retention_days in lpstudio.toml); send the request again to run the recipe anew",
        job=job.id,
        field="job",
    )


async def _wait_final(app: LpstudioApp, job_id: int, timeout: float) -> Job | None:
    """The job once final, read from the store; None past the timeout. A queued job, once
    the server stops, at once: the server starts it no more (`_job_answer` hands it)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await app.blocking(app.service.job, job_id)
        if job.status in FINAL_STATES or (app.stopping and job.status == QUEUED):
            return job
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


def _timed_out(app: LpstudioApp, job: Job, timeout: float, keyed: bool) -> tuple[int, Any]:
    """504: the job goes on. What its caller may send again to get its answer is said as its
    claim holds (`_claim_key`): a keyless repeat is the job's while it runs and within the
    repeat window of its end, then a new call; and what a recipe that is slow by nature
    needs, its own `call_timeout`."""
    window = app.repeat_window
    if keyed:
        again = "send it again with the same Idempotency-Key: it gets this job's answer"
    elif not window > 0:
        again = "do not send it again: with --LpstudioApp.repeat_window 0 it runs again"
    elif window >= FOREVER:
        again = "send the same request again: it gets this job's answer"
    else:
        again = (
            "send the same request again while the job is queued or running, or within "
            f"{window:g} s of its end (--LpstudioApp.repeat_window): it gets this job's answer"
        )
    # Its caller, a bot, knows the endpoint alone: the recipe, and how its admin gives it
    # longer, are the server log's, for that admin.
    app.log.warning(
        "lpstudio: job %s of %s gave its caller no answer within %g s (504); a recipe that "
        "needs longer is given its own call timeout, %s: `lpstudio settings %s "
        "--call-timeout SECONDS`, or Call timeout in its Settings",
        job.id,
        job.recipe,
        timeout,
        UP_TO,
        word(job.recipe),
    )
    return _error(
        504,
        "Timeout",
        f"job {job.id} gave no answer within {timeout:g} s; it goes on",
        f"GET {app.api_root}/calls/{job.id} later, or {again}; a recipe that needs longer "
        f"to answer is given its own call timeout by the studio's admin, {UP_TO}",
        job=job.id,
    )


def _in_progress(
    message: str, fix: str, headers: dict[str, str], field: str, wait: int | None = None
) -> Answer:
    """409 to a repeat whose first request has no job yet: retry soon, the same request, or
    in `wait` s, once a claim its dead request left can be taken over (`left_claim_wait`)."""
    status, body = _error(409, "InProgress", message, fix, field=field)
    return status, body, {**headers, "Retry-After": str(wait or 1)}


class _TooLate(Exception):
    """A call's store write that got its turn after its caller was answered without it."""


class Late(Exception):
    """The call's store write was not done within its call timeout, and never will be."""


class _Gate:
    """Whether a call's store write may still commit: the write passes it in its own
    transaction (`enter`) and the call shuts it once its call timeout is up (`shut`).
    Whichever comes first wins, so a caller told that nothing was written is told true."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: str | None = None

    def enter(self) -> None:
        with self._lock:
            if self._state == "shut":
                raise _TooLate()
            self._state = "entered"

    def shut(self) -> bool:
        """True when no write will commit; False when one passed already (it commits)."""
        with self._lock:
            if self._state is None:
                self._state = "shut"
            return self._state == "shut"


def _consumed(task: asyncio.Future[Any]) -> None:
    """Reads the outcome of a write no caller waits for any more (its error was answered)."""
    if not task.cancelled():
        task.exception()


async def _written(deadline: float, gate: _Gate, work: Awaitable[T]) -> T:
    """What a store write (gated by `gate`) gives once done, by `deadline`; `Late` past it,
    unless the write passed its gate in time: it commits, and stands."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        if gate.shut():
            task.add_done_callback(_consumed)
            raise Late() from None
        return await task


async def within(timeout: float, work: Awaitable[T]) -> T:
    """What a store write no gate holds back gives within `timeout` seconds; `Late` past
    it, the write going on (a webhook delivery's: its redelivery is answered as a repeat
    once it is queued)."""
    return await _written(time.monotonic() + timeout, _Gate(), work)


def _store_busy(timeout: float) -> Answer:
    status, body = _error(
        503,
        "StoreBusy",
        f"the store stayed busy with other writes past this call's timeout ({timeout:g} s): "
        "nothing was queued",
        "send the same request again shortly (with its Idempotency-Key, if it had one): it "
        "runs the call once",
        field="store",
    )
    return status, body, {"Retry-After": "5"}


def _claim_key(
    app: LpstudioApp, client: dict[str, Any], key: str | None, digest: str
) -> tuple[str, str, datetime | None, Callable[[dict[str, Any]], bool] | None] | None:
    """Under which (client, key) a call is claimed, before when such a claim is over, and
    what tells whether it is over once its caller was answered: its Idempotency-Key for
    good; without one, the request itself until `repeat_window` seconds after its job's end
    (`IdempotentCalls._over`) or until the recipe answered it (`_answered`; a client name
    has no ':', so these keys are apart); None when not claimed."""
    if key:
        return client["name"], key, None, None
    window = app.repeat_window
    if not window > 0:  # 0 (or NaN): every call runs
        return None
    renew = utcnow() - timedelta(seconds=window) if window < FOREVER else None
    return f"repeat:{client['name']}", digest, renew, functools.partial(_answered, app)


def _answered(app: LpstudioApp, call: dict[str, Any]) -> bool:
    """Whether the recipe answered a claimed call's caller, below 500: its job succeeded and
    the caller had its answer, or in async mode the job that gives it. A bot retries a
    request only until it has an answer, so the same request again is a new call (a consumer
    who chooses again), while one whose job runs, failed or answered 5xx is still its retry,
    and so is one whose caller was told 504 and did not poll: its repeat gets the answer."""
    if call["job_id"] is None or call["status"] is None:
        return False
    try:
        job = app.service.store.job(call["job_id"])
    except NotFoundError:
        return False
    if job.status != SUCCEEDED:
        return False
    status = _job_answer(app, job)[0] if _handed_job(call) else call["status"]
    return bool(status < 500)


def _handed_job(claim: dict[str, Any]) -> bool:
    """Whether a claim records that its call's caller was handed the job (async mode), not
    the job's answer."""
    job_id = claim["job_id"]
    return job_id is not None and (claim["status"], claim["answer"]) == _handed(job_id)


def _job_answer(app: LpstudioApp, job: Job) -> tuple[int, Any]:
    """A finished job's answer, to its call, a repeat or a poll alike: checked against the
    response schema of the version it ran, however the notebook changed since; gone once
    the job was purged. A call's job its server put back in the queue as it stopped has
    none yet: its caller is handed the job, as in async mode, and a repeat waits for it."""
    if job.status not in FINAL_STATES:
        return _queued(app, job.id, job.status)
    if job.purged:
        return _purged(job)
    return answer_for(job, _response_schema(app.service, job), app.lpstudio_workspace)


async def _settle_answer(
    app: LpstudioApp, claim: dict[str, Any], status: int, answer: Any, deadline: float
) -> None:
    """Records a call's answer on its claim, unless a later request renewed the claim since
    (its repeat window passed): this request's answer stands all the same. Waited for until
    `deadline` at most: a busy store delays the record, not the answer (until it is written,
    a repeat reads the job's answer)."""

    def settle() -> None:
        with contextlib.suppress(ConflictError):
            app.service.calls.settle(claim, status=status, answer=answer)

    task = asyncio.ensure_future(app.blocking(settle))
    task.add_done_callback(_consumed)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - time.monotonic()))


def _record_job(
    calls: IdempotentCalls,
    claim: dict[str, Any] | None,
    handed: bool,
    gate: _Gate,
    session: Session,
    job: Job,
) -> None:
    """Records the call's job on its claim, in the transaction that queues the job, and in
    async mode (`handed`) that its caller is handed the job; neither, and no job, once its
    caller was answered that nothing was queued (`_Gate`)."""
    gate.enter()
    if claim is None:
        return
    if handed:
        status, answer = _handed(job.id)
        calls.settle(claim, job_id=job.id, status=status, answer=answer, session=session)
    else:
        calls.settle(claim, job_id=job.id, session=session)


def _dispatch(
    app: LpstudioApp,
    client: dict[str, Any],
    recipe: str,
    event: Any,
    claim: dict[str, Any] | None,
    then: Callable[[Session, Job], None],
) -> tuple[Job, Future[Job]]:
    """Queues the call's job as its client; when that fails, or its write got its turn too
    late (`_TooLate`), its claim goes too, so that a repeat runs the call."""
    try:
        caller = app.studio_for(f"api:{client['name']}")
        return caller.dispatch(recipe, event=event, trigger="callable", then=then)
    except Exception:  # nothing started
        if claim is not None:
            app.service.calls.release(claim)
        raise


def _queued(app: LpstudioApp, job_id: int, status: str = "queued") -> tuple[int, Any]:
    """202 to a caller handed the call's job: where to poll it, under the server's base URL."""
    return 202, {"job": job_id, "status": status, "poll": f"{app.api_root}/calls/{job_id}"}


def _handed(job_id: int) -> tuple[int, Any]:
    """What a claim records of a call whose caller was handed its job (`_handed_job`): a
    mark, as claims have always recorded it, never answered (a repeat or a poll answers the
    job as it is now, `_queued`)."""
    return 202, {"job": job_id, "status": "queued", "poll": f"{PREFIX}/calls/{job_id}"}


def _sent(body: bytes, method: str) -> Any:
    """The request's JSON body. A request with none (a GET, whose input is its query alone;
    a POST with Content-Length 0, as a bot's with its input in the URL sends) has `{}`, as a
    user's route reads an empty body (`BaseHandler.read_body`): the same request as `{}`, so
    a GET with an empty query is answered as a POST of `{}` is."""
    if not body or not body.strip():
        return {}
    if method == "GET":  # its body would be dropped unsaid
        raise ApiError(
            400,
            "InputError",
            "a GET call takes its input from the query alone, and this one has a body",
            field="body",
            fix="give the input's fields in the query, or POST the body",
        )
    return parse_json(
        body, "body", "send the input as a JSON object with Content-Type: application/json"
    )


def _as_json(value: Any) -> str:
    return json.dumps(_as_json_values(value), sort_keys=True)


def _call_input(schema: dict[str, Any], sent: Any, query: dict[str, str]) -> Any:
    """The call's input: its body's fields and its query's, typed by the input schema
    (`typed_input`): the query's text, and a body's field given as text, are read alike (a value
    inside a body's field is left as sent, as the query has none). A field given in both
    must have one value, as JSON reads it."""
    body = typed_input(schema, sent) if isinstance(sent, dict) else sent
    if not query:
        return body
    if body is not None and not isinstance(body, dict):
        raise ApiError(
            400,
            "InputError",
            "the body is no JSON object, so the query's fields cannot be added to it",
            field="body",
            fix="send the input as a JSON object, or all its fields in the query",
        )
    body = body or {}
    event = typed_input(schema, body, query)
    for name in query.keys() & body.keys():
        if _as_json(body[name]) != _as_json(event[name]):
            raise ApiError(
                400,
                "InputError",
                f"{name} is {_as_json(event[name])} in the query and {_as_json(body[name])} "
                "in the body",
                field=name,
                fix=f"give {name} once, in the query or in the body",
            )
    return event


#: The fixes (`fix_in_words`) that ask for a list or an object, which a query cannot hold.
_STRUCTURES = tuple(f"give {TYPE_WORDS[kind]}" for kind in ("array", "object"))


def _input_fix(
    path: str,
    schema: dict[str, Any],
    field: str,
    event: Any,
    query: dict[str, str],
    api: str,
) -> str:
    """The fix of an input that breaks the input schema: what to give for the field, in the
    words an event given by hand is refused with (`input_fix`), the input schema where they
    say nothing; and the text the query gave (a + written as is in a query reads as a
    space; the message quotes a body's)."""
    where = "in the query " if field in query else ""
    fix = input_fix(schema, event, field, where, bot=True)
    fix = fix or f"see the input schema of /call/{path} in {api}/openapi.json"
    if field not in query:
        return fix
    if fix.startswith(_STRUCTURES):  # no query text spells one
        fix = f"send {field} in the JSON body, a query holding text only: {fix}"
    fix += f" (the query gave {quoted(query[field])})"
    if " " in query[field]:
        fix += "; a + in a query reads as a space: send it as %2B"
    return fix


def _checked_input(
    path: str, recipe: str, schema: dict[str, Any], sent: Any, query: dict[str, str], api: str
) -> Any:
    """The call's input (`_call_input`), each number the input schema types `integer` an
    int (`integers_as_ints`), checked against the input schema: 400 naming the field. A
    reference of the schema that leads nowhere is the recipe's fault, not the caller's
    (503, the server's log naming `recipe`): a recipe's check follows each from the root,
    not one under a nested `$id`."""
    event = _call_input(schema, sent, query)
    try:
        event = integers_as_ints(schema, event)  # 3.0 as 3, where the schema says integer
        problem = first_problem(schema, event)
    except Unresolvable:
        where = "metadata.lpstudio.trigger.input_schema"
        raise recipe_not_ready(
            RecipeError(
                f"{where} holds a reference that leads nowhere in the schema",
                field=where,
                fix=f"the recipe's admin makes each $ref and $dynamicRef of {where} lead to a "
                "part of the schema",
            ),
            recipe,
        ) from None
    if problem is not None:
        field, message = problem
        raise ApiError(
            400,
            "InputError",
            f"{field or 'body'}: {message}",
            field=field or "body",
            fix=_input_fix(path, schema, field or "body", event, query, api),
        )
    return event


async def call(
    app: LpstudioApp,
    client: dict[str, Any],
    path: str,
    body: bytes,
    key: str | None,
    mode: str,
    query: dict[str, str] | None = None,
    method: str = "POST",
    delivered: Callable[[], bool] = lambda: True,
    credentials: Collection[str] = (),
) -> Answer:
    """A call of the callable recipe at `path`, its input in the JSON `body`, the `query`'s
    input fields (as sent: the recipe's input schema types them), or both; a GET's in the
    query alone. `delivered` says whether its caller is still there to be answered: one
    that hung up (a bot's own timeout) is not recorded as answered (`_had_answer`). Input
    holding one of `credentials` (the caller's API token, the server's) is refused."""
    began = time.monotonic()
    query = query or {}
    service = app.service
    # First: a client is told nothing of the endpoints it may not call (whether one exists,
    # is started, or is broken). A path outside its own is one 404, served or not: a 403
    # for the served ones would tell it which exist, and its fix (a new client for the
    # path) is refused for a path no callable recipe serves, a typo's.
    if "*" not in client["endpoints"] and path not in client["endpoints"]:
        raise ApiError(
            404,
            NotFoundError.__name__,
            f"API client {client['name']} has no endpoint {quoted(path)}",
            field="path",
            # A client cannot be changed once made: another one may call it, as for a
            # larger quota (`RateLimits.check`).
            fix=f"check the path (this client may call {', '.join(sorted(client['endpoints']))}"
            "); to call another endpoint, ask an admin for a new API client that may call it "
            f"(POST {app.api_root}/api-clients with it among its endpoints), then revoke this "
            "one",
        )
    try:
        endpoint = await app.blocking(service.endpoint, path)
    except (InputError, NotFoundError) as exc:  # a recipe broken or stopped since
        # A repeat of a call gets its answer all the same: nothing needs to run.
        repeated = await _repeat_of_gone(
            app,
            client,
            path,
            body,
            key,
            mode,
            began,
            query=query,
            method=method,
            delivered=delivered,
        )
        if repeated is not None:
            return repeated
        if isinstance(exc, NotFoundError):
            raise
        raise recipe_not_ready(exc) from None
    schema = endpoint["input_schema"]
    sent = _sent(body, method)
    _refuse_credentials(sent, query, credentials)  # before any check quotes what was sent
    event = _checked_input(path, endpoint["recipe"], schema, sent, query, app.api_root)
    timeout = float(endpoint["call_timeout"] or app.call_timeout)
    deadline = began + timeout
    if key:
        check_key("Idempotency-Key", key)
    digest = _digest(path, sent, query)
    claim: dict[str, Any] | None = None
    claim_key = _claim_key(app, client, key, digest)
    try:
        if claim_key is not None:
            owner, ident, renew_before, renew_answered = claim_key
            gate = _Gate()
            claim, made = await _written(
                deadline,
                gate,
                app.blocking(
                    service.calls.claim,
                    owner,
                    ident,
                    path,
                    digest,
                    renew_before,
                    renew_answered,
                    gate.enter,
                ),
            )
            if not made:
                return await _repeat(
                    app, claim, digest, timeout, mode, bool(key), deadline, delivered
                )
        gate = _Gate()
        then = functools.partial(_record_job, service.calls, claim, mode == "async", gate)
        job, future = await _written(
            deadline,
            gate,
            app.blocking(_dispatch, app, client, endpoint["recipe"], event, claim, then),
        )
    except Late:
        return _store_busy(timeout)
    except InputError as exc:  # nothing started; the body was checked: the recipe is at fault
        raise recipe_not_ready(exc, endpoint["recipe"]) from None
    headers = {"Lpstudio-Job": str(job.id)}
    if mode == "async":
        return (*_queued(app, job.id), headers)
    try:
        final = await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), max(0.0, deadline - time.monotonic())
        )
    except TimeoutError:
        return (*_timed_out(app, job, timeout, bool(key)), headers)
    status, answer = await app.blocking(_job_answer, app, final)
    if claim and _had_answer(bool(key), delivered):
        await _settle_answer(app, claim, status, answer, deadline)
    return status, answer, headers


def _refuse_credentials(sent: Any, query: dict[str, str], credentials: Collection[str]) -> None:
    """A 400 naming the input field that holds a credential of lpstudio's (a token in the
    URL beside the one in the header, `?token=...`): taken as input, it was kept in the
    job's event and output notebook and echoed in the answer, where operators read it."""
    tokens = [token for token in credentials if token]
    if not tokens:
        return
    fields: list[tuple[str, Any]] = list(query.items())
    if isinstance(sent, dict):
        fields += list(sent.items())
    elif sent is not None:
        fields.append(("body", sent))
    for name, value in fields:
        said = json.dumps([name, value], ensure_ascii=False)
        if any(token in said for token in tokens):
            raise token_refused(
                f"{name}:",
                name,
                "a call's input",
                fix="send the token in the API-TOKEN header (or Authorization: Bearer) only, "
                "not in the URL or the body",
            )


def _had_answer(keyed: bool, delivered: Callable[[], bool]) -> bool:
    """Whether a call's answer is recorded on its claim as its caller's: always under an
    Idempotency-Key (its repeats get that answer for good); without one, only while the
    caller is there to be answered. A bot that hung up before its answer (Conversation
    Builder gives up within 20 s, retrying) sends the same request again: recorded, its
    answer would make that retry a new call, and the recipe would run twice."""
    return keyed or delivered()


def _digest(path: str, sent: Any, query: dict[str, str] | None = None) -> str:
    """What identifies a call's request under its Idempotency-Key: its endpoint, its body as
    JSON values (`_as_json_values`) and its query's input fields as sent (as a request
    without them always was), known without the recipe's input schema: a repeat is
    recognised once its recipe stopped or broke too."""
    request = [path, _as_json_values(sent), *([query] if query else [])]
    return hashlib.sha256(
        json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _as_json_values(value: Any) -> Any:
    """A parsed body with each integral number in one form: JSON has one number type, so
    `7`, `7.0` and `7e0` are one value (RFC 8785 writes all three `7`), and a bot whose JSON
    library writes a float where the first request had an int repeats the same request."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _as_json_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json_values(item) for item in value]
    return value


async def _repeat_of_gone(
    app: LpstudioApp,
    client: dict[str, Any],
    path: str,
    body: bytes,
    key: str | None,
    mode: str,
    began: float,
    *,
    query: dict[str, str],
    method: str,
    delivered: Callable[[], bool],
) -> Answer | None:
    """A repeat of a call whose recipe stopped or broke since: the call's answer, or its job
    as it is now (nothing runs); None for any other request, which cannot run. The recipe's
    call timeout is not known any more: the server's applies."""
    try:
        digest = _digest(path, _sent(body, method), query)
    except ApiError:
        return None
    claim_key = _claim_key(app, client, key, digest)
    if claim_key is None:
        return None
    owner, ident, renew_before, renew_answered = claim_key
    claim = await app.blocking(
        app.service.calls.repeated, owner, ident, digest, renew_before, renew_answered
    )
    if claim is None or claim["endpoint"] != path or claim["request_sha256"] != digest:
        return None
    timeout = app.call_timeout
    return await _repeat(app, claim, digest, timeout, mode, bool(key), began + timeout, delivered)


async def _repeat(
    app: LpstudioApp,
    claim: dict[str, Any],
    digest: str,
    timeout: float,
    mode: str,
    keyed: bool = True,
    deadline: float | None = None,
    delivered: Callable[[], bool] = lambda: True,
) -> Answer:
    """A request whose Idempotency-Key was seen (`keyed`), or a repeat of a request without
    one within its window: the first request's answer, or its job's as it is now (its
    status while it runs), answered by `deadline` (`timeout` from now by default)."""
    if claim.get("request_sha256") != digest:
        raise ApiError(
            409,
            "IdempotencyConflict",
            "this Idempotency-Key was used for another request",
            field="Idempotency-Key",
            fix="use a new key for a new request",
        )
    headers = {"Idempotent-Replayed": "true"}
    same, field = ("this Idempotency-Key", "Idempotency-Key") if keyed else ("this body", "body")
    again = "with the same key" if keyed else "the same request"
    if deadline is None:
        deadline = time.monotonic() + timeout
    while claim["status"] is None and claim["job_id"] is None:
        if time.monotonic() >= deadline:  # the first request has not even started its job
            wait = left_claim_wait(claim["claimed_at"])
            return _in_progress(
                f"the first request with {same} is still starting",
                f"retry {again} in a moment"
                if wait is None
                else f"retry {again} in {wait} s: the first request started no job (its server "
                "may have stopped), and the first retry once its claim is 5 minutes old runs "
                "the call",
                headers,
                field,
                wait,
            )
        await asyncio.sleep(POLL_SECONDS)
        claim = await app.blocking(app.service.calls.get, claim["id"])
        if claim is None:  # the first request failed before its job and let the key go
            return _in_progress(
                f"the first request with {same} failed before starting its job, and started none",
                f"retry {again}: it runs the call",
                headers,
                field,
            )
    if claim["job_id"] is not None:
        headers["Lpstudio-Job"] = str(claim["job_id"])
    if claim["status"] is not None and not _handed_job(claim):
        return claim["status"], claim["answer"], headers  # the first answer, for good
    job_id = claim["job_id"]
    if mode == "async":
        final = await app.blocking(app.service.job, job_id)
        if final.status not in FINAL_STATES:
            return (*_queued(app, job_id, final.status), headers)
    else:
        final = await _wait_final(app, job_id, max(0.0, deadline - time.monotonic()))
        if final is None:
            job = await app.blocking(app.service.job, job_id)
            return (*_timed_out(app, job, timeout, keyed), headers)
    status, answer = await app.blocking(_job_answer, app, final)
    if _had_answer(keyed, delivered):
        await _settle_answer(app, claim, status, answer, deadline)
    return status, answer, headers


async def poll(
    app: LpstudioApp,
    client: dict[str, Any],
    job_id: int,
    delivered: Callable[[], bool] = lambda: True,
) -> Answer:
    """The answer of a call's job: 202 while it runs, then what a synchronous call gives.
    A job that is not one of this client's calls, or none at all, is the same 404."""
    service = app.service
    try:
        job = await app.blocking(service.job, job_id)
    except NotFoundError:
        job = None
    if job is None or job.user != f"api:{client['name']}" or job.trigger != "callable":
        raise ApiError(
            404,
            NotFoundError.__name__,
            f"no call job {job_id} of this client",
            field="job",
            fix="poll the job of one of this client's calls: its Lpstudio-Job header",
        )
    headers = {"Lpstudio-Job": str(job.id)}
    if job.status not in FINAL_STATES:
        return (*_queued(app, job.id, job.status), headers)
    status, answer = await app.blocking(_job_answer, app, job)
    if delivered():
        await _record_polled(app, client, job, status, answer)
    return status, answer, headers


async def _record_polled(
    app: LpstudioApp, client: dict[str, Any], job: Job, status: int, answer: Any
) -> None:
    """Records a call's answer, read by polling its job, on the call's claim without a key
    when it records none yet: its caller has it, so the same request again is a new call
    (`_answered`). A keyed claim needs none: its repeats read the job."""
    claim = await app.blocking(
        app.service.calls.for_job, f"repeat:{client['name']}", job.id, job.created_at
    )
    if claim is not None and (claim["status"] is None or _handed_job(claim)):
        deadline = time.monotonic() + app.call_timeout
        await _settle_answer(app, claim, status, answer, deadline)


def _response_schema(service: Studio, job: Job) -> dict[str, Any]:
    """The response schema of the version the job ran: the one its answer was written for,
    however the notebook changed, broke or went since."""
    notebook = json.loads(service.store.version_notebook(job.version_id))
    trigger = notebook.get("metadata", {}).get("lpstudio", {}).get("trigger", {})
    return dict(trigger.get("response_schema") or {})
