"""Leader election by a lease in the store: one holder at a time, until the lease expires.

Several `lpstudio serve` processes (or JupyterLab servers) may share one store; each can host
the scheduler, but only the holder of the `scheduler` lease fires schedules and polls and
runs the queue. The holder renews the lease on every loop; if it dies, another server takes
over once the lease has expired. Taking and renewing are one write transaction each (SQLite
`BEGIN IMMEDIATE`, the store's write lock on PostgreSQL), so two servers never both hold
it. Expiry is judged by the store's clock (`Store.now`: PostgreSQL's own), never by the
clock of the machine asking, so servers whose clocks differ still agree on who leads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from .models import Lease
from .store import Store

SCHEDULER = "scheduler"
#: The leases that say a scheduler works on the store, one each (`present`), are named so.
PRESENCE = "scheduler at "
#: The leases that say a server hosting no scheduler serves the store (`Presence`).
SERVER_PRESENCE = "server at "
#: How long a presence lasts unless renewed: a killed process's is gone after it.
PRESENCE_SECONDS = 60.0

log = logging.getLogger(__name__)


def holder_id() -> str:
    """A name for this process that no other process, here or on another host, shares."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def present(store: Store, prefix: str = PRESENCE) -> StoreLease:
    """A lease of its own for one scheduler (or server: `Presence`), which only it takes:
    held, it says that the process works on the store (`storecopy` refuses a store one
    works on)."""
    lease = StoreLease(store, seconds=PRESENCE_SECONDS)
    lease.name = f"{prefix}{lease.holder}"[:64]
    return lease


class Presence:
    """A server's presence (`present`), renewed on a thread of its own. A server that hosts
    no scheduler still runs the calls and webhooks it takes: `storecopy` went ahead beside
    it, and its next jobs went on in the old store."""

    def __init__(self, store: Store) -> None:
        self.lease = present(store, SERVER_PRESENCE)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="lpstudio-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _renew(self) -> None:
        """Renews the lease once a third of its time has gone; a store that does not answer
        meanwhile is tried again then (the lease expires only after three misses)."""
        while True:
            try:
                self.lease.acquire()
            except Exception as exc:
                log.warning("this server's presence in the store was not renewed: %s", exc)
            if self._stopping.wait(PRESENCE_SECONDS / 3):
                return

    def stop(self) -> None:
        """Gives the presence up at once, on a clean stop (it expires anyway)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=PRESENCE_SECONDS)
        with contextlib.suppress(Exception):
            self.lease.release()


class StoreLease:
    """The lease `name` in `store`, taken and renewed by `holder` for `seconds` at a time."""

    def __init__(
        self, store: Store, name: str = SCHEDULER, seconds: float = 30, holder: str | None = None
    ) -> None:
        self.store = store
        self.name = name
        self.seconds = seconds
        self.holder = holder or holder_id()

    def acquire(self) -> bool:
        """Takes the lease if it is free or expired, renews it if this holder has it; says
        whether this holder holds it now."""
        with self.store.write() as s:
            now = self.store.now(s)
            row = s.scalars(
                select(Lease).where(Lease.name == self.name).with_for_update()
            ).one_or_none()
            if row is None:
                if self.name.startswith((PRESENCE, SERVER_PRESENCE)):  # never taken again
                    named = or_(*(Lease.name.startswith(p) for p in (PRESENCE, SERVER_PRESENCE)))
                    s.execute(delete(Lease).where(named, Lease.expires_at <= now))
                s.add(
                    Lease(
                        name=self.name,
                        holder=self.holder,
                        expires_at=now + timedelta(seconds=self.seconds),
                    )
                )
                return True
            if row.holder != self.holder and row.expires_at > now:
                return False
            row.holder = self.holder
            row.expires_at = now + timedelta(seconds=self.seconds)
            return True

    def release(self) -> None:
        """Gives the lease up at once (on a clean stop), so another takes over without waiting."""
        with self.store.write() as s:
            s.execute(delete(Lease).where(Lease.name == self.name, Lease.holder == self.holder))

    def status(self) -> dict[str, Any]:
        """Who holds the lease, until when, and whether that is this holder."""
        with self.store.read() as s:
            row = s.get(Lease, self.name)
            now = self.store.now(s)
        if row is None or row.expires_at <= now:
            return {"leader": None, "expires_at": None, "is_leader": False}
        return {
            "leader": row.holder,
            "expires_at": row.expires_at.isoformat(),
            "is_leader": row.holder == self.holder,
        }
