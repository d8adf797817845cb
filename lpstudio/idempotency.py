"""Idempotent calls: a callable request repeated with the same `Idempotency-Key` gets the
first request's answer and never starts a second job; a webhook delivered twice (the same
delivery id) is queued once.

The first request with a (client, key) claims it with an insert that the unique index lets
only one request make; repeats read the claim, its job and, once settled, its answer.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import IdempotentCall, utcnow
from .store import Store

#: Headers by which webhook senders name a delivery, so a redelivery can be recognised.
DELIVERY_ID_HEADERS = ("Idempotency-Key", "X-Shopify-Webhook-Id", "X-Webhook-Id", "X-Delivery-Id")


def delivery_id(headers: dict[str, str]) -> str | None:
    """The sender's id of a webhook delivery, if it sent one."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in DELIVERY_ID_HEADERS:
        value = str(lowered.get(name.lower()) or "").strip()
        if value:
            return value[:255]
    return None


def _as_dict(row: IdempotentCall) -> dict[str, Any]:
    return {
        "id": row.id,
        "endpoint": row.endpoint,
        "request_sha256": row.request_sha256,
        "job_id": row.job_id,
        "status": row.status,
        "answer": row.answer,
    }


class IdempotentCalls:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _find(self, client: str, key: str) -> dict[str, Any] | None:
        with self.store.read() as s:
            row = s.scalars(
                select(IdempotentCall).where(
                    IdempotentCall.client == client, IdempotentCall.key == key
                )
            ).first()
        return None if row is None else _as_dict(row)

    def claim(
        self, client: str, key: str, endpoint: str, request_sha256: str
    ) -> tuple[dict[str, Any], bool]:
        """The call recorded under (client, key), and whether this request just made it."""
        while True:
            existing = self._find(client, key)
            if existing is not None:
                return existing, False
            try:
                with self.store.write() as s:
                    row = IdempotentCall(
                        client=client,
                        key=key,
                        endpoint=endpoint,
                        request_sha256=request_sha256,
                        created_at=utcnow(),
                    )
                    s.add(row)
                    s.flush()
                    return _as_dict(row), True
            except IntegrityError:
                continue  # another request claimed it meanwhile: read its claim (or, if
                # that request released it since, claim it again)

    def get(self, call_id: int) -> dict[str, Any]:
        with self.store.read() as s:
            return _as_dict(s.get_one(IdempotentCall, call_id))

    def settle(
        self,
        call_id: int,
        *,
        job_id: int | None = None,
        status: int | None = None,
        answer: Any = None,
        session: Session | None = None,
    ) -> None:
        """Records the call's job, then its final answer; within `session` when given (a
        transaction that also writes what the answer names)."""
        with contextlib.nullcontext(session) if session else self.store.write() as s:
            row = s.get_one(IdempotentCall, call_id)
            if job_id is not None:
                row.job_id = job_id
            if status is not None:
                row.status, row.answer = status, answer

    def release(self, call_id: int) -> None:
        """Forgets a claimed call that started no job (it failed first)."""
        with self.store.write() as s:
            row = s.get(IdempotentCall, call_id)
            if row is not None and row.job_id is None:
                s.delete(row)

    def purge(self, before: datetime) -> int:
        """Forgets the calls made before `before` (their jobs stay in the history)."""
        with self.store.write() as s:
            result = s.execute(delete(IdempotentCall).where(IdempotentCall.created_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
