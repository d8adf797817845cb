"""Saves of a recipe's settings never overwrite a change they did not see: saves at once
take turns (each reads what the other wrote), and a save of the revision a form showed is
refused once the settings changed since."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lpstudio.errors import ConflictError, InputError
from lpstudio.settings import read_settings
from lpstudio.store import Store
from lpstudio.studio import Studio
from lpstudio.times import as_utc, local_text

from .conftest import write_recipe

TWO = "x: int = 1  # a number\ny: int = 2  # another"


def both_saves_stay(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two saves at once, of different parameters (two REST requests): the first is held
    between reading the saved settings and writing its change until the second is about
    to write; both changes are stored."""
    write_recipe(studio.workspace.root, "p/two", parameters=TWO)
    first_read, second_writes = threading.Event(), threading.Event()
    forget, write = Studio._forget, Store.write  # _forget works on the settings read

    def held(*args: Any) -> Any:
        if threading.current_thread().name == "first":
            first_read.set()
            assert second_writes.wait(120), "the second save never came to write"
        return forget(*args)

    @contextmanager
    def writing(store: Store) -> Iterator[Session]:
        if threading.current_thread().name == "second":
            second_writes.set()  # and waits for the write lock if the first holds it
        with write(store) as session:
            yield session

    monkeypatch.setattr(Studio, "_forget", staticmethod(held))
    monkeypatch.setattr(Store, "write", writing)
    errors: list[BaseException] = []

    def save(values: dict[str, int]) -> None:
        try:
            studio.save_settings("p/two", values)
        except BaseException as exc:  # said by the test, not lost in the thread
            errors.append(exc)

    first = threading.Thread(target=save, args=({"x": 10},), name="first")
    second = threading.Thread(target=save, args=({"y": 20},), name="second")
    try:
        first.start()
        assert first_read.wait(120), "the first save never read the settings"
        second.start()
        first.join(120)
        second.join(120)
    finally:
        second_writes.set()
    assert errors == []
    stored = read_settings(studio.store, "p/two.ipynb")
    assert stored.settings["parameters"] == {"x": 10, "y": 20}
    assert stored.revision == 2


def test_two_saves_at_once_keep_both_changes(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    both_saves_stay(studio, monkeypatch)


def test_a_stale_save_says_when_the_settings_changed_as_its_caller_reads_times(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "at 2026-12-07 00:30:10 UTC" to all: the REST API (the lab's panel) gives
    times in ISO form in UTC, and a caller of this machine's times (the CLI's `local`) reads
    them in its zone, here 12 hours from UTC."""
    monkeypatch.setenv("TZ", "Etc/GMT-12")  # UTC+12 all year
    time.tzset()
    try:
        write_recipe(studio.workspace.root, "p/one")
        studio.save_settings("p/one", {"x": 2})
        studio.save_settings("p/one", {"x": 3})  # after a form showed revision 1
        saved = read_settings(studio.store, "p/one.ipynb").updated_at
        assert saved is not None
        for local, said in ((False, as_utc(saved).isoformat(timespec="seconds")),
                            (True, local_text(saved))):  # fmt: skip
            with pytest.raises(ConflictError) as raised:
                studio.save_settings("p/one", {"x": 4}, expected_revision=1, local=local)
            assert f"by alice at {said} (they are at revision 2)" in raised.value.message
            assert "UTC" not in raised.value.message, raised.value.message
        assert local_text(saved) != as_utc(saved).isoformat(sep=" ", timespec="seconds")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_save_of_a_stale_revision_is_refused_and_writes_nothing(studio: Studio) -> None:
    write_recipe(studio.workspace.root, "p/one")
    assert studio.recipe_detail("p/one")["revision"] == 0  # never saved
    studio.save_settings("p/one", {"x": 2})
    shown = studio.recipe_detail("p/one")["revision"]
    assert shown == 1
    studio.save_settings("p/one", {"x": 3})  # elsewhere, after the form showed revision 1
    before = read_settings(studio.store, "p/one.ipynb")
    versions, audited = studio.versions("p/one"), studio.audit_entries()

    with pytest.raises(ConflictError) as raised:
        studio.save_settings("p/one", {"x": 4}, expected_revision=shown)
    error = raised.value
    assert error.field == "revision"
    assert "changed elsewhere since revision 1 by alice" in error.message, error.message
    assert "at revision 2" in error.message, error.message
    assert error.fix == "reload them and apply your change again"
    assert read_settings(studio.store, "p/one.ipynb") == before
    assert studio.versions("p/one") == versions and studio.audit_entries() == audited

    # A revision they never had is no conflict with a change made elsewhere.
    with pytest.raises(InputError) as raised:
        studio.save_settings("p/one", {"x": 4}, expected_revision=99)
    assert raised.value.field == "revision" and not isinstance(raised.value, ConflictError)
    assert "no revision 99 (they are at revision 2)" in raised.value.message
    assert read_settings(studio.store, "p/one.ipynb") == before

    studio.save_settings("p/one", {"x": 4}, expected_revision=before.revision)
    after = read_settings(studio.store, "p/one.ipynb")
    assert after.settings["parameters"] == {"x": 4} and after.revision == 3


def test_every_write_of_the_settings_counts_the_revision_up(studio: Studio) -> None:
    """A start or stop elsewhere is a change a form did not see, as a save is."""
    write_recipe(studio.workspace.root, "p/one")
    studio.save_settings("p/one", {"x": 7})
    older = studio.versions("p/one")[0]["id"]  # its x is 7
    revisions = [studio.recipe_detail("p/one")["revision"]]
    for write in (
        lambda: studio.save_settings("p/one", {"x": 2}),
        lambda: studio.start("p/one"),
        lambda: studio.stop("p/one"),
        lambda: studio.restore("p/one", older),
    ):
        write()
        revisions.append(studio.recipe_detail("p/one")["revision"])
    assert revisions == [1, 2, 3, 4, 5]
    with pytest.raises(ConflictError):
        studio.save_settings("p/one", {"x": 3}, expected_revision=3)  # shown before the stop
    assert read_settings(studio.store, "p/one.ipynb").settings["parameters"] == {"x": 7}


def test_a_start_stop_or_restore_that_changes_nothing_keeps_the_revision(
    studio: Studio,
) -> None:
    """A deploy script's start of a started recipe (a stop of a stopped one, a restore of
    the settings in force) writes nothing: a form showing the settings saves over it."""
    write_recipe(studio.workspace.root, "p/one")
    studio.save_settings("p/one", {"x": 2})
    studio.start("p/one")
    shown = studio.recipe_detail("p/one")["revision"]
    studio.start("p/one")
    studio.restore("p/one", studio.versions("p/one")[0]["id"])  # the settings in force
    assert studio.recipe_detail("p/one")["revision"] == shown
    studio.stop("p/one")
    stopped = studio.recipe_detail("p/one")["revision"]
    assert stopped == shown + 1
    studio.stop("p/one")
    studio.save_settings("p/one", {"x": 3}, expected_revision=stopped)  # no ConflictError
    saved = read_settings(studio.store, "p/one.ipynb")
    assert saved.settings["parameters"] == {"x": 3} and saved.revision == stopped + 1


def test_a_start_never_pins_connections_other_than_those_it_checked(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slot bound to another connection between a start's checks and its write: the start
    is refused (it tested the other one), and the new binding stays."""
    root = studio.workspace.root
    write_recipe(
        root, "p/filed", metadata={"title": "Filed", "connections": {"files": {"type": "csv_file"}}}
    )
    for name in ("a", "b"):
        (root / f"{name}.csv").write_text("id\n1\n")
        studio.connections.add(name, "csv_file", {"path": f"{name}.csv"}, "alice")
    studio.save_settings("p/filed", connections={"files": "a"})
    clear = studio.store.clear_trigger_errors

    def rebound_meanwhile(recipe: str) -> None:  # after the start's checks, before its write
        studio.save_settings("p/filed", connections={"files": "b"})
        clear(recipe)

    monkeypatch.setattr(studio.store, "clear_trigger_errors", rebound_meanwhile)
    with pytest.raises(ConflictError) as raised:
        studio.start("p/filed")
    assert raised.value.field == "connections" and raised.value.fix == "start it again"
    stored = read_settings(studio.store, "p/filed.ipynb").settings
    assert stored["connections"] == {"files": "b"} and stored.get("state") != "started"
    monkeypatch.undo()
    assert studio.start("p/filed")["connections"] == {"files": "b"}


def test_as_many_saves_at_once_as_the_server_has_threads_all_land(studio: Studio) -> None:
    """Each save read connections and secrets inside the write lock, from a pool whose
    connections the saves waiting for that lock held: sixteen at once (the server's
    threads) stalled for the pool's 30 s and some failed with TimeoutError."""
    write_recipe(studio.workspace.root, "p/busy", parameters="x: int = 1\ny: str = 'a'")
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            studio.save_settings("p/busy", {"x": i, "y": f"v{i}"})
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=25)  # under the pool's 30 s: a stall fails, not hangs
    assert not [t for t in threads if t.is_alive()] and errors == []
    assert read_settings(studio.store, "p/busy.ipynb").revision == 16


def test_a_save_refuses_a_connection_deleted_after_it_was_checked(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connections a save checks are read before its write lock: one deleted in
    between was bound all the same, and the recipe pointed at nothing."""
    root = studio.workspace.root
    meta = {"title": "Filed", "connections": {"files": {"type": "csv_file"}}}
    write_recipe(root, "p/filed", metadata=meta)
    for name in ("a", "b"):
        (root / f"{name}.csv").write_text("id\n1\n")
        studio.connections.add(name, "csv_file", {"path": f"{name}.csv"}, "alice")
    read = studio.connections.secret_values

    def deleted_meanwhile() -> set[str]:  # another user deletes 'a' once the save read it
        values = read()
        studio.connections.remove("a")
        return values

    monkeypatch.setattr(studio.connections, "secret_values", deleted_meanwhile)
    with pytest.raises(InputError) as refused:
        studio.save_settings("p/filed", connections={"files": "a"})

    assert refused.value.field == "connections.files" and "just deleted" in refused.value.message
    assert read_settings(studio.store, "p/filed.ipynb").settings == {}


def test_a_call_timeout_left_from_a_callable_past_can_be_forgotten(studio: Studio) -> None:
    """A recipe saved with a call timeout and then made a webhook kept it: the reset its
    error named was refused as it was set."""
    callable_meta = {
        "title": "bot",
        "trigger": {"kind": "callable", "path": "bot", "input_schema": {"type": "object"}},
    }
    write_recipe(studio.workspace.root, "p/bot", metadata=callable_meta)
    studio.save_settings("p/bot", call_timeout=10)
    write_recipe(
        studio.workspace.root, "p/bot", metadata={"title": "bot", "trigger": {"kind": "webhook"}}
    )
    with pytest.raises(InputError) as refused:
        studio.save_settings("p/bot", call_timeout=5)
    assert refused.value.field == "call_timeout"

    studio.save_settings("p/bot", reset=["call_timeout"])

    assert "call_timeout" not in read_settings(studio.store, "p/bot.ipynb").settings
