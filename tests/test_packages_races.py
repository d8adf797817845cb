"""Project packages under contention, and a poll's since as a package carries it.

Imports that run at once (two servers on one store, SQLite or PostgreSQL) are run here in
processes of their own, each on its own connection to the store; a barrier or events hold
each where the interleaving under test needs it, never a sleep. A poll recipe reads a real
SQLite table through the `sql` connector.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lpstudio import packages
from lpstudio.errors import LpstudioError
from lpstudio.settings import saved_settings
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.postgres import create_database, postgres_server

MANIFEST = "lpstudio-package.json"
RECIPE = "race4/flow.ipynb"
#: fork: each import is a process of its own (its own store connections and write turn),
#: started without importing lpstudio again.
PROCESSES = multiprocessing.get_context("fork")
WAIT = 60  # seconds at most at a barrier or event: a broken interleaving fails, not hangs


@pytest.fixture(scope="module")
def postgresql() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The workspace the packages are imported into, its store SQLite or PostgreSQL."""
    root = tmp_path / "target"
    if request.param == "postgresql":
        server = request.getfixturevalue("postgresql")
        name = request.node.name.lower()
        url = create_database(server, f"pkg_{hashlib.sha1(name.encode()).hexdigest()[:16]}")
        root.mkdir()
        (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


@pytest.fixture
def flows(tmp_path: Path) -> dict[str, Path]:
    """Two packages of one project that differ only in their recipe's title and its saved
    parameter: flow-a.zip (title "Flow A", x=2) and flow-b.zip ("Flow B", x=3)."""
    root = tmp_path / "source"
    made = {}
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        for letter, x in (("a", 2), ("b", 3)):
            write_recipe(root, "race/flow", metadata={"title": f"Flow {letter.upper()}"})
            studio.save_settings("race/flow", {"x": x})
            made[letter] = tmp_path / f"flow-{letter}.zip"
            packages.export_project(studio, "race", made[letter])
    return made


def _import(
    root: Path, package: Path, replace: bool, hold: Callable[[Studio], None], said: Any
) -> None:
    """One import in a process of its own, as a server of its own would run it: `hold`
    patches where this process waits for the others; what came of it goes to `said`."""
    try:
        with Studio.open(root, user="alice") as studio:
            hold(studio)
            done = packages.import_project(studio, package, into="race4", replace=replace)
    except LpstudioError as exc:
        said.put((package.name, "refused", type(exc).__name__, exc.field, exc.message))
    except BaseException as exc:  # reported to the test, which fails on it
        said.put((package.name, "crashed", type(exc).__name__, None, repr(exc)))
    else:
        said.put((package.name, "imported", done["recipes"][0]["replaced"], None, None))


def _run(jobs: list[tuple[Path, Path, bool, Callable[[Studio], None]]]) -> list[tuple[Any, ...]]:
    """Runs each import in its own process at once; what each said, in the order they
    ended."""
    said = PROCESSES.Queue()
    started = [PROCESSES.Process(target=_import, args=(*job, said)) for job in jobs]
    for process in started:
        process.start()
    results = [said.get(timeout=WAIT * 2) for _ in started]
    for process in started:
        process.join(timeout=WAIT)
        assert process.exitcode == 0
    return results


def _all_checked_first(barrier: Any) -> Callable[[Studio], None]:
    """Holds the import between its checks and its writes until every import has checked
    the workspace as it was before any of them wrote (the race the reviewer hit)."""

    def hold(_studio: Studio) -> None:
        write = packages._write

        def after_all_checked(*args: Any) -> None:
            barrier.wait(timeout=WAIT)
            write(*args)

        packages._write = after_all_checked

    return hold


def _whats_there(root: Path) -> tuple[str | None, Any, list[dict[str, Any]]]:
    """The imported recipe's title (from its notebook), its saved x, and the audit entries
    of its import."""
    with Studio.open(root, user="alice") as studio:
        title = studio.recipe(RECIPE).title
        x = saved_settings(studio.store, RECIPE).get("parameters", {}).get("x")
        imports = [
            e
            for e in studio.audit_entries(1000)
            if e["action"] == "import_recipe" and e["target"] == RECIPE
        ]
    return title, x, imports


WHAT = {"flow-a.zip": ("Flow A", 2), "flow-b.zip": ("Flow B", 3)}


def test_imports_at_once_without_replace_one_wins_the_others_write_nothing(
    target: Path, flows: dict[str, Path]
) -> None:
    barrier = PROCESSES.Barrier(3)
    hold = _all_checked_first(barrier)
    # Two different packages, and one of them twice: each checked before any writes.
    said = _run([(target, flows[letter], False, hold) for letter in ("a", "b", "a")])

    won = [s for s in said if s[1] == "imported"]
    lost = [s for s in said if s[1] != "imported"]
    assert len(won) == 1 and won[0][2] is False, said
    # Each refused as a sequential import is, naming the recipe, having written nothing.
    refusal = (
        "refused",
        "InputError",
        "recipes.race4/flow",
        f"the recipe projects/{RECIPE} already exists",
    )
    assert [s[1:] for s in lost] == [refusal, refusal], said
    title, x, imports = _whats_there(target)
    assert (title, x) == WHAT[won[0][0]]  # the winner's notebook and settings, whole
    assert [e["detail"]["replaced"] for e in imports] == [False]


def _committed_then_held(committed: Any, released: Any) -> Callable[[Studio], None]:
    """Holds the import once its write transaction has committed, until `released`: what
    it writes after its commit is written after the other import's."""

    def hold(studio: Studio) -> None:
        write, transaction = packages._write, studio.store.write
        importing = []

        @contextmanager
        def then_hold() -> Iterator[Any]:
            with transaction() as session:
                yield session
            if importing:
                committed.set()
                assert released.wait(timeout=WAIT)

        def marked(*args: Any) -> None:
            importing.append(True)
            write(*args)

        studio.store.write = then_hold  # type: ignore[method-assign]
        packages._write = marked

    return hold


def _after(event: Any, then: Any) -> Callable[[Studio], None]:
    """Holds the import before its writes until `event`, and sets `then` once it is done."""

    def hold(_studio: Studio) -> None:
        write = packages._write

        def once_set(*args: Any) -> None:
            assert event.wait(timeout=WAIT)
            try:
                write(*args)
            finally:
                then.set()

        packages._write = once_set

    return hold


def test_replacing_imports_at_once_leave_one_whole_package(
    target: Path, flows: dict[str, Path]
) -> None:
    with Studio.open(target, user="alice") as studio:
        packages.import_project(studio, flows["a"], into="race4")
    # A's import commits and is held; B's replaces the recipe whole; then A's goes on
    # (files moved after its commit would land over B's, beside B's settings).
    committed, released = PROCESSES.Event(), PROCESSES.Event()
    said = _run(
        [
            (target, flows["a"], True, _committed_then_held(committed, released)),
            (target, flows["b"], True, _after(committed, released)),
        ]
    )

    assert sorted(s[:3] for s in said) == [
        ("flow-a.zip", "imported", True),
        ("flow-b.zip", "imported", True),
    ]
    title, x, imports = _whats_there(target)
    assert (title, x) == ("Flow B", 3)  # the last import's notebook with its settings
    assert [e["detail"]["replaced"] for e in imports] == [True, True, False]


def test_a_replacing_import_whose_transaction_fails_puts_back_the_files_it_moved(
    tmp_path: Path, flows: dict[str, Path]
) -> None:
    root = tmp_path / "target"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        packages.import_project(studio, flows["a"], into="race4")
        before = (root / "projects" / RECIPE).read_bytes()
        transaction = studio.store.write

        @contextmanager
        def failing_at_commit() -> Iterator[Any]:
            with transaction() as session:
                yield session
                raise OSError("disk full")  # as its commit would fail: rolled back

        studio.store.write = failing_at_commit  # type: ignore[method-assign]
        with pytest.raises(OSError, match="disk full"):
            packages.import_project(studio, flows["b"], into="race4", replace=True)

    assert (root / "projects" / RECIPE).read_bytes() == before
    title, x, imports = _whats_there(root)
    assert (title, x) == ("Flow A", 2) and len(imports) == 1
    assert not list(root.glob(".lpstudio-import-*"))


# -- a poll's since --------------------------------------------------------------------------


def _orders_workspace(root: Path) -> Path:
    """A workspace whose connection `shop` reads the orders table of its `shop.db`."""
    Studio.init(root, accept_terms=True, admin="alice").close()
    with Studio.open(root, user="alice") as studio:
        values = {"url": "sqlite:///shop.db", "poll_table": "orders", "poll_column": "at"}
        studio.connections.add("shop", "sql", values, "alice")
    return root / "shop.db"


def _place(orders: Path, *placed: datetime) -> None:
    with sqlite3.connect(orders) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS orders (id integer primary key, email text, at timestamp)"
        )
        first = db.execute("SELECT count(*) FROM orders").fetchone()[0]
        db.executemany(
            "INSERT INTO orders (email, at) VALUES (?, ?)",
            [
                (f"buyer{first + n}@example.com", at.strftime("%Y-%m-%d %H:%M:%S"))
                for n, at in enumerate(placed)
            ],
        )
    db.close()


def test_a_poll_recipe_moved_goes_on_from_where_its_polls_reached(tmp_path: Path) -> None:
    """Exported after a poll, a recipe carried no since (its importer polled from its own
    now, skipping what came between); then the since its first poll fixed, so the importer
    polled every order again, its ledger empty: each customer messaged twice. It carries
    where its polls reached: the importer takes only what came after."""
    now = datetime.now(UTC).replace(tzinfo=None)
    source, other = tmp_path / "source", tmp_path / "other"
    orders = _orders_workspace(source)
    _place(orders, now - timedelta(hours=1))
    trigger = {"kind": "poll", "connection": "shop", "trigger": "new_rows"}
    metadata = {"title": "Orders", "trigger": trigger, "connections": {"shop": {"type": "sql"}}}
    write_recipe(source, "shop3/orders", metadata=metadata)
    with Studio.open(source, user="alice") as studio:
        studio.save_settings("shop3/orders", since="3h")
        (handled,) = studio.poll("shop3/orders", run=False)  # Poll now: never started
        package = tmp_path / "shop3.zip"
        packages.export_project(studio, "shop3", package)
    assert handled.event["email"] == "buyer0@example.com"
    # The other workspace reads the same shop (its copy of the table), which then takes
    # one more order.
    shutil.copy(orders, _orders_workspace(other))
    _place(other / "shop.db", now + timedelta(minutes=1))

    with Studio.open(other, user="alice") as studio:
        packages.import_project(studio, package)
        studio.start("shop3/orders")
        jobs = studio.poll("shop3/orders", run=False)
    assert [job.event["email"] for job in jobs] == ["buyer1@example.com"]
