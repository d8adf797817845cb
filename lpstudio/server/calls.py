"""Callable recipes as REST endpoints, for bots such as Conversation Builder.

A call is checked whole before any job exists: the client may call the endpoint, the body
is JSON that fits the recipe's `input_schema` (400 naming the field). Then one job runs the
recipe with the body as its event, and its `respond()` answer, checked against the
`response_schema`, is the call's answer:

    200..599 from respond()   the recipe's own status and body (not 204 or 304)
    422                       the job failed or was cancelled (with the job id)
    502                       the recipe answered nothing, or off its response schema
    503                       the recipe's own settings keep it from running (no job)
    504                       no answer within the call timeout (15 s by default); the job
                              goes on, and `GET /calls/<job>` gives its answer later
    202                       `?mode=async`: the job id at once, to poll at `/calls/<job>`

Conversation Builder gives up after 20 s and retries up to 3 times. A request carrying an
`Idempotency-Key` is claimed once per client and key in the store: a repeat waits for the
first request's job, or reads its stored answer, and never starts a second job; the same key
with another body is refused (409). Conversation Builder sends no key, so a request without
one is claimed under the request itself (client, endpoint and body) for the app's
`repeat_window`: an identical request within it, or while the first one's job runs, is its
retry, until the recipe answered it (its job succeeded with a status below 500). A bot
retries only until it has an answer, so the same request after that is a new one: a
consumer who opts in, out and in again within the window is recorded three times. The
job and the claim's record of it are written in one transaction, so a claim with no job
past its lease was left by a request that died before starting it: a repeat then takes the
claim over and runs the job (see `lpstudio.idempotency`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, InputError, NotFoundError
from ..jsonschemas import first_problem
from ..kernel import answer_status
from ..models import utcnow
from ..store import FINAL_STATES, SUCCEEDED
from ..studio import shown_error
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
    files by their path in it (`shown_error`), as every error answer does."""
    if job.status != SUCCEEDED:
        error = shown_error(job.error, workspace) or {}
        reason = f": {error.get('ename')}: {error.get('evalue')}" if error else ""
        return _error(
            422,
            "JobFailed",
            f"job {job.id} {job.status}{reason}",
            f"the recipe's admin finds why in job {job.id}; a repeat of this request (its "
            "Idempotency-Key, or without one the same body soon after) answers this again, "
            "a new Idempotency-Key runs the recipe again",
            job=job.id,
        )
    response = (job.result or {}).get("response")
    if not isinstance(response, dict) or "status" not in response:
        return _error(
            502,
            "NoResponse",
            f"job {job.id} succeeded without an answer",
            "the recipe must call lpstudio.kernel.respond(body, status)",
            job=job.id,
        )
    status, body = response["status"], response.get("body")
    if not answer_status(status):
        return _error(
            502,
            "InvalidResponse",
            f"job {job.id} answered with HTTP status {status!r}, which cannot carry a body",
            "respond() with a status from 200 to 599 other than 204 and 304",
            job=job.id,
        )
    if 200 <= status < 300 and response_schema:
        problem = first_problem(response_schema, body)
        if problem is not None:
            field, message = problem
            return _error(
                502,
                "InvalidResponse",
                f"job {job.id} answered off its response schema: {message}",
                "make the recipe's respond() body fit trigger.response_schema",
                job=job.id,
                field=field,
            )
    return status, body


async def _wait_final(app: LpstudioApp, job_id: int, timeout: float) -> Job | None:
    """The job once final, read from the store; None past the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        job = await app.blocking(app.service.job, job_id)
        if job.status in FINAL_STATES:
            return job
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


def _timed_out(job_id: int, timeout: float) -> tuple[int, Any]:
    return _error(
        504,
        "Timeout",
        f"job {job_id} gave no answer within {timeout:g} s; it goes on",
        f"GET {PREFIX}/calls/{job_id} later, or send the same request again (with its "
        "Idempotency-Key, if it had one): it gets this job's answer",
        job=job_id,
    )


def _in_progress(message: str, fix: str, headers: dict[str, str], field: str) -> Answer:
    """409 to a repeat whose first request has no job yet: retry soon, the same request."""
    status, body = _error(409, "InProgress", message, fix, field=field)
    return status, body, {**headers, "Retry-After": "1"}


def _claim_key(
    app: LpstudioApp, client: dict[str, Any], key: str | None, digest: str
) -> tuple[str, str, datetime | None, bool] | None:
    """Under which (client, key) a call is claimed, before when such a claim is over, and
    whether it is over once its recipe answered: its Idempotency-Key for good; without
    one, the request itself for `repeat_window` seconds or until it was answered (a client
    name has no ':', so these keys are apart); None when not claimed."""
    if key:
        return client["name"], key, None, False
    window = app.repeat_window
    if not window > 0:  # 0 (or NaN): every call runs
        return None
    renew = utcnow() - timedelta(seconds=window) if window < FOREVER else None
    return f"repeat:{client['name']}", digest, renew, True


async def _settle_answer(app: LpstudioApp, claim: dict[str, Any], status: int, answer: Any) -> None:
    """Records a call's answer on its claim, unless a later request renewed the claim since
    (its repeat window passed): this request's answer stands all the same."""
    with contextlib.suppress(ConflictError):
        await app.blocking(app.service.calls.settle, claim, status=status, answer=answer)


def _record_job(calls: IdempotentCalls, claim: dict[str, Any], session: Session, job: Job) -> None:
    """Records the call's job on its claim, in the transaction that queues the job."""
    calls.settle(claim, job_id=job.id, session=session)


def _queued(job_id: int) -> tuple[int, Any]:
    return 202, {"job": job_id, "status": "queued", "poll": f"{PREFIX}/calls/{job_id}"}


def _event(body: bytes) -> Any:
    if not body or not body.strip():
        raise ApiError(
            400,
            "InputError",
            "the request has no body",
            field="body",
            fix="send the input as a JSON object",
        )
    return parse_json(
        body, "body", "send the input as a JSON object with Content-Type: application/json"
    )


async def call(
    app: LpstudioApp,
    client: dict[str, Any],
    path: str,
    body: bytes,
    key: str | None,
    mode: str,
) -> Answer:
    service = app.service
    # First: a client is told nothing of the endpoints it may not call (whether one exists,
    # is started, or is broken).
    if "*" not in client["endpoints"] and path not in client["endpoints"]:
        raise ApiError(
            403,
            "Forbidden",
            f"API client {client['name']} may not call {path}",
            field="path",
            fix="an admin allows the endpoint for this client",
        )
    try:
        endpoint = await app.blocking(service.endpoint, path)
    except (InputError, NotFoundError) as exc:  # a recipe broken or stopped since
        if key:  # a repeat of a call already answered gets that answer all the same
            replayed = await _answered(app, client, path, body, key)
            if replayed is not None:
                return replayed
        if isinstance(exc, NotFoundError):
            raise
        raise recipe_not_ready(exc) from None
    event = _event(body)
    problem = first_problem(endpoint["input_schema"], event)
    if problem is not None:
        field, message = problem
        raise ApiError(
            400,
            "InputError",
            f"{field or 'body'}: {message}",
            field=field or "body",
            fix=f"see the input schema of /call/{path} in {PREFIX}/openapi.json",
        )
    timeout = float(endpoint["call_timeout"] or app.call_timeout)
    schema = endpoint["response_schema"]
    headers: dict[str, str] = {}
    claim: dict[str, Any] | None = None
    if key and len(key) > 255:
        raise ApiError(
            400,
            "InputError",
            f"Idempotency-Key is {len(key)} characters long",
            field="Idempotency-Key",
            fix="send a key of at most 255 characters",
        )
    digest = _digest(path, event)
    claim_key = _claim_key(app, client, key, digest)
    if claim_key is not None:
        owner, ident, renew_before, renew_delivered = claim_key
        claim, made = await app.blocking(
            service.calls.claim, owner, ident, path, digest, renew_before, renew_delivered
        )
        if not made:
            return await _repeat(app, claim, digest, timeout, schema, mode, keyed=bool(key))

    caller = await app.blocking(app.studio_for, f"api:{client['name']}")
    try:
        job, future = await app.blocking(
            caller.dispatch,
            endpoint["recipe"],
            event=event,
            trigger="callable",
            then=None if claim is None else functools.partial(_record_job, service.calls, claim),
        )
    except Exception as exc:  # nothing started: a repeat may try again
        if claim:
            await app.blocking(service.calls.release, claim)
        if isinstance(exc, InputError):  # the body was checked: the recipe is at fault
            raise recipe_not_ready(exc) from None
        raise
    headers["Lpstudio-Job"] = str(job.id)
    if mode == "async":
        return (*_queued(job.id), headers)
    try:
        final = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
    except TimeoutError:
        return (*_timed_out(job.id, timeout), headers)
    status, answer = answer_for(final, schema, app.lpstudio_workspace)
    if claim:
        await _settle_answer(app, claim, status, answer)
    return status, answer, headers


def _digest(path: str, event: Any) -> str:
    """What identifies a call's request under its Idempotency-Key: its endpoint and input,
    as JSON values (`_as_json_values`)."""
    return hashlib.sha256(
        json.dumps([path, _as_json_values(event)], sort_keys=True, separators=(",", ":")).encode()
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


async def _answered(
    app: LpstudioApp, client: dict[str, Any], path: str, body: bytes, key: str
) -> Answer | None:
    """The stored answer of the same request under `key`, when it was answered: a bot's
    retry after a lost answer gets it though the recipe broke since (nothing runs)."""
    claim = await app.blocking(app.service.calls.find, client["name"], key)
    if claim is None or claim["status"] is None or claim["endpoint"] != path:
        return None
    try:
        if claim["request_sha256"] != _digest(path, _event(body)):
            return None
    except ApiError:
        return None
    headers = {"Idempotent-Replayed": "true"}
    if claim["job_id"] is not None:
        headers["Lpstudio-Job"] = str(claim["job_id"])
    return claim["status"], claim["answer"], headers


async def _repeat(
    app: LpstudioApp,
    claim: dict[str, Any],
    digest: str,
    timeout: float,
    schema: dict[str, Any],
    mode: str,
    keyed: bool = True,
) -> Answer:
    """A request whose Idempotency-Key was seen (`keyed`), or a repeat of a request without
    one within its window: the first request's answer, or its job's."""
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
    deadline = time.monotonic() + timeout
    while claim["status"] is None and claim["job_id"] is None:
        if time.monotonic() >= deadline:  # the first request has not even started its job
            return _in_progress(
                f"the first request with {same} is still starting",
                f"retry {again} in a moment",
                headers,
                field,
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
    if claim["status"] is not None:
        if claim["job_id"] is not None:
            headers["Lpstudio-Job"] = str(claim["job_id"])
        return claim["status"], claim["answer"], headers
    job_id = claim["job_id"]
    headers["Lpstudio-Job"] = str(job_id)
    if mode == "async":
        return (*_queued(job_id), headers)
    final = await _wait_final(app, job_id, max(0.0, deadline - time.monotonic()))
    if final is None:
        return (*_timed_out(job_id, timeout), headers)
    status, answer = answer_for(final, schema, app.lpstudio_workspace)
    await _settle_answer(app, claim, status, answer)
    return status, answer, headers


async def poll(app: LpstudioApp, client: dict[str, Any], job_id: int) -> Answer:
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
            "NotFound",
            f"no call job {job_id} of this client",
            field="job",
            fix="poll the job of one of this client's calls: its Lpstudio-Job header",
        )
    headers = {"Lpstudio-Job": str(job.id)}
    if job.status not in FINAL_STATES:
        return (
            202,
            {"job": job.id, "status": job.status, "poll": f"{PREFIX}/calls/{job.id}"},
            headers,
        )
    schema = await app.blocking(_response_schema, service, job)
    status, answer = answer_for(job, schema, app.lpstudio_workspace)
    return status, answer, headers


def _response_schema(service: Studio, job: Job) -> dict[str, Any]:
    """The response schema of the version the job ran: the one its answer was written for,
    however the notebook changed, broke or went since."""
    notebook = json.loads(service.store.version_notebook(job.version_id))
    trigger = notebook.get("metadata", {}).get("lpstudio", {}).get("trigger", {})
    return dict(trigger.get("response_schema") or {})
