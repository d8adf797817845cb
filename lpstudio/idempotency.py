"""Idempotent calls: a callable request repeated with the same `Idempotency-Key` gets the
first request's answer and never starts a second job; a webhook delivered twice (the same
delivery id) is queued once.

The first request with a (client, key) claims it with an insert that the unique index lets
only one request make; repeats read the claim, its job and, once settled, its answer.

A claim's job (a webhook delivery's jobs and answer) is written in one transaction with the
claim's settle, so a claim still unanswered after `CLAIM_LEASE` was left by a request whose
process died before it queued anything. The next request with the same key and body takes
it over by a conditional update of its claim time, which is also the claim's holder: the
first request's late settle then finds the claim held by another, fails, and takes its
jobs' transaction down with it. An event is queued once either way.

A call without a key is claimed under a key made of its request (see
`lpstudio.server.calls`): such a claim names a new call again once its request is over (its
job ended) and its repeat window has passed since, or once its caller had the recipe's
answer (the caller decides which answer that is), so it is renewed in place, by the same
conditional update.

A claim's write may wait for the store longer than its caller may wait for an answer: given
a `check`, each write calls it in its transaction before committing, and rolls back when it
raises (its caller was answered without it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import ConflictError, InputError
from .models import IdempotentCall, Job, utcnow
from .store import BUSY_TIMEOUT, FINAL_STATES, Store

#: How long a claim may stay unanswered while its request queues its job(s): queueing takes
#: well under a second (a minute if the store is very busy), so a claim older than this with
#: no job was left by a request that died before queueing, and is taken over.
CLAIM_LEASE = timedelta(minutes=5)


def left_claim_wait(claimed_at: datetime) -> int | None:
    """The seconds until a claim that queued nothing yet can be taken over, once it is older
    than the store's `BUSY_TIMEOUT` (its request is taken for dead: its server stopped),
    else None: a younger one may be a live request waiting for the store, and is worth
    asking again in a moment. A repeat told "a few seconds" for a dead one retried in vain
    for the whole lease."""
    age = utcnow() - claimed_at
    if age <= timedelta(seconds=BUSY_TIMEOUT):
        return None
    return max(1, math.ceil((CLAIM_LEASE - age).total_seconds()))


#: Headers by which webhook senders name a delivery, so a redelivery can be recognised.
DELIVERY_ID_HEADERS = ("Idempotency-Key", "X-Shopify-Webhook-Id", "X-Webhook-Id", "X-Delivery-Id")

#: The longest key a claim keeps (its column's length).
MAX_KEY_LENGTH = 255


def check_key(header: str, key: str) -> str:
    """A request's `Idempotency-Key` (or webhook delivery id), sent in `header`: a longer
    one than a claim keeps is refused, never cut, for keys that differ only past the cut
    would name one request (a new delivery answered as a repeat, and dropped)."""
    if len(key) > MAX_KEY_LENGTH:
        raise InputError(
            f"{header} is {len(key)} characters long",
            field=header,
            fix=f"send a key of at most {MAX_KEY_LENGTH} characters",
        )
    return key


def sent_once(header: str, values: list[str]) -> str | None:
    """The value of a request's `header`, sent at most once: of two (`a1` and `b1`, which
    Tornado reads as one key `a1,b1`), a retry under either would find no claim and run
    the request again."""
    if len(values) > 1:
        raise InputError(
            f"{header} is sent {len(values)} times",
            field=header,
            fix=f"send {header} once, with the one key that names this request",
        )
    return values[0] if values else None


def delivery_id(headers: dict[str, str]) -> tuple[str, str] | None:
    """The header by which the sender named a webhook delivery, and its id (`check_key`),
    if it sent one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in DELIVERY_ID_HEADERS:
        value = str(lowered.get(name.lower()) or "").strip()
        if value:
            return name, check_key(name, value)
    return None


def _as_dict(row: IdempotentCall) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "claimed_at": row.created_at,
        "endpoint": row.endpoint,
        "request_sha256": row.request_sha256,
        "job_id": row.job_id,
        "status": row.status,
        "answer": row.answer,
    }


class IdempotentCalls:
    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, client: str, key: str) -> dict[str, Any] | None:
        """The call recorded under (client, key), if any."""
        with self.store.read() as s:
            row = s.scalars(
                select(IdempotentCall).where(
                    IdempotentCall.client == client, IdempotentCall.key == key
                )
            ).first()
        return None if row is None else _as_dict(row)

    def claim(
        self,
        client: str,
        key: str,
        endpoint: str,
        request_sha256: str,
        renew_before: datetime | None = None,
        renew_answered: Callable[[dict[str, Any]], bool] | None = None,
        check: Callable[[], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The call recorded under (client, key), and whether this request holds it now: it
        just made it, took over one left unanswered past `CLAIM_LEASE` by the same request
        (a claim of another body is only returned, for the caller to refuse), or, given
        `renew_before`, renewed one made before then whose request is over (its job ended):
        a repeat window's key names a new call once the window has passed. Given
        `renew_answered`, also one whose caller it says had its answer. `check` runs in the
        transaction of each write, which it rolls back by raising."""
        while True:
            now = utcnow()
            existing = self.find(client, key)
            if existing is not None:
                if not self._free(existing, request_sha256, now, renew_before, renew_answered):
                    return existing, False
                if self._take_over(existing, now, check):
                    renewed = {"job_id": None, "status": None, "answer": None}
                    return {**existing, **renewed, "claimed_at": now}, True
                continue  # another request took it over or settled it meanwhile: read it
            try:
                with self.store.write() as s:
                    row = IdempotentCall(
                        client=client,
                        key=key,
                        endpoint=endpoint,
                        request_sha256=request_sha256,
                        created_at=now,
                    )
                    s.add(row)
                    s.flush()
                    if check is not None:
                        check()
                    return _as_dict(row), True
            except IntegrityError:
                continue  # another request claimed it meanwhile: read its claim (or, if
                # that request released it since, claim it again)

    def repeated(
        self,
        client: str,
        key: str,
        request_sha256: str,
        renew_before: datetime | None = None,
        renew_answered: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """The claim that `claim` would give a request as someone else's, without claiming
        anything: whether the request repeats a call, when it cannot be a new one (its
        recipe stopped or broke since)."""
        existing = self.find(client, key)
        if existing is None or self._free(
            existing, request_sha256, utcnow(), renew_before, renew_answered
        ):
            return None
        return existing

    def for_job(self, client: str, job_id: int, queued_at: datetime) -> dict[str, Any] | None:
        """The claim of `client` that recorded `job_id`, queued at `queued_at`. A claim is
        made (or taken over) within `CLAIM_LEASE` before its job, and the two times may come
        from two clocks (PostgreSQL's, and the claiming machine's): the claims of that span,
        and as long again around it, are read through their times' index (a job is one
        claim's at most; the client's index would read all its claims)."""
        with self.store.read() as s:
            row = s.scalars(
                select(IdempotentCall).where(
                    IdempotentCall.created_at.between(
                        queued_at - 2 * CLAIM_LEASE, queued_at + CLAIM_LEASE
                    ),
                    IdempotentCall.job_id == job_id,
                )
            ).first()
        return None if row is None or row.client != client else _as_dict(row)

    def _free(
        self,
        call: dict[str, Any],
        request_sha256: str,
        now: datetime,
        renew_before: datetime | None,
        renew_answered: Callable[[dict[str, Any]], bool] | None,
    ) -> bool:
        """Whether a request may claim `call` anew (see `claim`)."""
        return (
            self._abandoned(call, request_sha256, now)
            or self._over(call, renew_before)
            or (renew_answered is not None and renew_answered(call))
        )

    @staticmethod
    def _abandoned(call: dict[str, Any], request_sha256: str, now: datetime) -> bool:
        """Whether a claim of this request was left by one that died before queueing."""
        unanswered = call["status"] is None and call["job_id"] is None
        expired = call["claimed_at"] <= now - CLAIM_LEASE
        return unanswered and expired and call["request_sha256"] == request_sha256

    def _over(self, call: dict[str, Any], before: datetime | None) -> bool:
        """Whether a claim made before `before` has a job, and it ended before then too
        (what the claim records of its caller's answer does not say it ended: an async
        call's caller was only handed the job). The window counts from the job's end, not
        the claim: a caller told 504 repeats once its job ended, after a wait in the queue
        or a long run, and a claim lapsed by then ran the recipe twice."""
        if before is None or call["claimed_at"] >= before:
            return False
        if call["job_id"] is None:  # still starting its job (or dead: see `_abandoned`)
            return False
        with self.store.read() as s:
            job = s.get(Job, call["job_id"])
            if job is None:
                return True
            ended = job.finished_at
            return job.status in FINAL_STATES and (ended is None or ended < before)

    def _take_over(
        self, call: dict[str, Any], now: datetime, check: Callable[[], None] | None = None
    ) -> bool:
        """Claims `call` anew, unanswered and without a job, if it is still as it was read:
        one request wins; `check` runs in the transaction that takes it."""

        def unchanged(column: Any, value: Any) -> Any:
            return column.is_(None) if value is None else column == value

        with self.store.write() as s:
            taken = s.execute(
                update(IdempotentCall)
                .where(
                    IdempotentCall.id == call["id"],
                    IdempotentCall.created_at == call["claimed_at"],
                    unchanged(IdempotentCall.status, call["status"]),
                    unchanged(IdempotentCall.job_id, call["job_id"]),
                )
                .values(created_at=now, job_id=None, status=None, answer=None)
            ).rowcount  # type: ignore[attr-defined]
            if taken and check is not None:
                check()
        return bool(taken)

    def get(self, call_id: int) -> dict[str, Any] | None:
        """The call, or None once its first request released it (it failed before a job)."""
        with self.store.read() as s:
            row = s.get(IdempotentCall, call_id)
            return None if row is None else _as_dict(row)

    def settle(
        self,
        call: dict[str, Any],
        *,
        job_id: int | None = None,
        status: int | None = None,
        answer: Any = None,
        session: Session | None = None,
    ) -> None:
        """Records the claimed call's job, then its final answer; within `session` when given
        (a transaction that also writes what the answer names). A `ConflictError` when
        another request took the claim over (this one stalled past `CLAIM_LEASE`): what
        `session` wrote must not be committed, the other request queued it."""
        values: dict[str, Any] = {}
        if job_id is not None:
            values["job_id"] = job_id
        if status is not None:
            values.update(status=status, answer=answer)
        with contextlib.nullcontext(session) if session else self.store.write() as s:
            held = s.execute(
                update(IdempotentCall)
                .where(
                    IdempotentCall.id == call["id"],
                    IdempotentCall.created_at == call["claimed_at"],
                )
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
        if not held:
            minutes = CLAIM_LEASE.total_seconds() / 60
            raise ConflictError(
                f"the claim of {call['key'][:64]!r} was taken over by a later request: this one "
                f"left it unanswered for over {minutes:g} minutes; nothing of it was recorded",
                field="claim",
                fix="repeat the request with the same key to read the answer it got",
            )

    def release(self, call: dict[str, Any]) -> None:
        """Forgets a claimed call that started no job (it failed first), unless another
        request has taken it over since."""
        with self.store.write() as s:
            s.execute(
                delete(IdempotentCall).where(
                    IdempotentCall.id == call["id"],
                    IdempotentCall.created_at == call["claimed_at"],
                    IdempotentCall.job_id.is_(None),
                    IdempotentCall.status.is_(None),
                )
            )

    def purge(self, before: datetime) -> int:
        """Forgets the calls made before `before` (their jobs stay in the history)."""
        with self.store.write() as s:
            result = s.execute(delete(IdempotentCall).where(IdempotentCall.created_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
