"""A process's SQLite writers take turns on a lock before `BEGIN IMMEDIATE`. A writer that
waited for its turn behind a long write waited without end, where SQLite itself gives up
after its busy timeout with "database is locked": the turn is bounded by the same timeout
and fails with the same error."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

import lpstudio.store
from lpstudio.store import Store, audit_in

#: How long a test waits for a thread's answer: past it, the writer hangs.
ANSWER = 10.0


class WatchedTurn:
    """The store's re-entrant turn, saying when a writer has to wait for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._lock.acquire(blocking=False):
            return True
        self.waiting.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'lpstudio.db'}", create=True)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def hold(store: Store) -> Iterator[Callable[[], Callable[[], None]]]:
    """Begins a write held open in another thread; returns what ends it (once committed)."""
    ends: list[Callable[[], None]] = []

    def begin() -> Callable[[], None]:
        held, release = threading.Event(), threading.Event()

        def run() -> None:
            with store.write() as s:
                audit_in(s, "alice", "purge", "history")
                s.flush()  # BEGIN IMMEDIATE: the database's write lock too
                held.set()
                release.wait()

        def end() -> None:
            release.set()
            holder.join(ANSWER)

        holder = threading.Thread(target=run)
        holder.start()
        ends.append(end)
        assert held.wait(ANSWER), "the holder never began its write"
        return end

    yield begin
    for end in ends:
        end()


def in_thread(call: Callable[[], Any]) -> tuple[threading.Event, list[BaseException]]:
    """Runs `call` in a thread; returns the Event set when it ends and the errors it raised."""
    done, raised = threading.Event(), []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            raised.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    return done, raised


def test_a_writer_waiting_past_the_busy_timeout_fails_as_sqlite_would(
    store: Store, hold: Callable[[], Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lpstudio.store, "BUSY_TIMEOUT", 0.2)
    end = hold()

    done, raised = in_thread(lambda: store.audit("bob", "start", "p/cart"))

    ended = done.wait(ANSWER)
    end()  # lets a writer that hangs go on
    assert ended, "the second writer still waits for its turn"
    (error,) = raised
    assert isinstance(error, OperationalError), error
    said = str(error.orig)
    assert said.startswith("database is locked") and "busy" in said and "try again" in said
    assert [entry.action for entry in store.audit_log()] == ["purge"]


def test_a_writer_whose_turn_comes_within_the_busy_timeout_writes(
    store: Store, hold: Callable[[], Callable[[], None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    turn = WatchedTurn()
    monkeypatch.setattr(store, "_write_turn", turn)
    end = hold()

    done, raised = in_thread(lambda: store.audit("bob", "start", "p/cart"))
    assert turn.waiting.wait(ANSWER), "the second writer did not wait for its turn"
    end()

    assert done.wait(ANSWER) and raised == []
    assert [entry.action for entry in reversed(store.audit_log())] == ["purge", "start"]


def test_a_thread_holding_the_turn_is_not_refused_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn is re-entrant: code that holds a write may enter another `write` of the same
    store without waiting for itself (SQLite then decides, as it did before the turn)."""
    monkeypatch.setattr(lpstudio.store, "BUSY_TIMEOUT", 0.0)
    with store.write() as s:
        audit_in(s, "alice", "purge", "history")
        with store._turn():  # refused at once were it not re-entrant
            pass
    assert [entry.action for entry in store.audit_log()] == ["purge"]
