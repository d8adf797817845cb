"""The SQL connector's `new_rows` poll over a column that rows may share (a time kept to the
second): a row committed after a poll with the cursor's own value is polled once, never
lost, and no row is sent twice; a strictly increasing id polls as it always did.

A real SQLite database in the workspace, a real store, the poll as the scheduler runs it
(`Studio.poll`, its jobs queued and not run: no kernel is needed to see what is sent).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lpstudio.errors import InputError
from lpstudio.models import TriggerState
from lpstudio.registry import get_connector
from lpstudio.studio import Studio

from .conftest import write_recipe

ORDERS = "p/orders"
#: Orders are kept to the second, as most applications keep their times.
TABLE = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL, "
    "status TEXT DEFAULT 'new', placed_at TIMESTAMP NOT NULL)"
)


def database(ws: Path) -> Path:
    path = ws / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute(TABLE)
    db.close()
    return path


def place(path: Path, *orders: tuple[str, str]) -> None:
    """Commits orders (email, placed_at), as the shop's application would."""
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO orders (email, placed_at) VALUES (?, ?)", orders)
    db.close()


def orders_recipe(studio: Studio, column: str) -> None:
    """p/orders: polled on new orders by `column`, from the start of 2024."""
    write_recipe(
        studio.workspace.root,
        "p/orders",
        metadata={
            "title": "orders",
            "trigger": {"kind": "poll", "connection": "shop", "trigger": "new_rows"},
            "connections": {"shop": {"type": "sql"}},
        },
    )
    table = {"url": "sqlite:///shop.db", "poll_table": "orders", "poll_column": column}
    studio.connections.add("shop", "sql", table, "alice")
    studio.start(ORDERS, reset_since="2024-01-01T00:00:00+00:00")


def polled(studio: Studio) -> list[str]:
    """The emails of the jobs one poll queues (the recipe's sends)."""
    return [job.event["email"] for job in studio.poll(ORDERS, run=False)]


def test_an_order_of_the_same_second_committed_after_a_poll_is_polled_once(ws: Path) -> None:
    """The poll read `placed_at > cursor`: bea's order, placed in the second of ada's but
    committed after the poll that took ada's, was never polled (no job, no message)."""
    path = database(ws)
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "placed_at")
        place(path, ("ada@example.com", "2024-06-01 10:00:00"))
        assert polled(studio) == ["ada@example.com"]
        place(path, ("bea@example.com", "2024-06-01 10:00:00"))
        assert polled(studio) == ["bea@example.com"]
        assert polled(studio) == []
        # A job marks its order sent: the order is the same, and nobody hears twice.
        with sqlite3.connect(path) as db:
            db.execute("UPDATE orders SET status = 'sent'")
        db.close()
        assert polled(studio) == []
        late = ("cy@example.com", "2024-06-01 10:00:00"), ("di@example.com", "2024-06-01 10:00:01")
        place(path, *late)
        assert polled(studio) == ["cy@example.com", "di@example.com"]
        assert polled(studio) == []


def test_orders_sharing_a_second_across_pages_are_each_polled_once(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More orders share a second than a page holds (a bulk import): each is polled once,
    in one poll, and the poll ends."""
    fetch = get_connector("sql").poll_triggers["new_rows"].poll
    monkeypatch.setattr(sys.modules[fetch.__module__], "PAGE_SIZE", 3)
    path = database(ws)
    at = ["2024-06-01 10:00:00"] * 2 + ["2024-06-01 10:00:01"] * 5 + ["2024-06-01 10:00:02"]
    place(path, *((f"u{index}@example.com", moment) for index, moment in enumerate(at)))
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "placed_at")
        assert polled(studio) == [f"u{index}@example.com" for index in range(len(at))]
        place(path, *((f"late{i}@example.com", "2024-06-01 10:00:02") for i in range(4)))
        assert polled(studio) == [f"late{i}@example.com" for i in range(4)]
        assert polled(studio) == []


def test_orders_by_an_increasing_id_are_polled_as_before(ws: Path) -> None:
    path = database(ws)
    place(
        path, ("ada@example.com", "2024-06-01 10:00:00"), ("bea@example.com", "2024-06-01 11:00:00")
    )
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "id")
        assert polled(studio) == ["ada@example.com", "bea@example.com"]
        assert polled(studio) == []
        place(path, ("cy@example.com", "2024-05-01 09:00:00"))  # an older time: by its id
        assert polled(studio) == ["cy@example.com"]
        assert cursor(studio) == 3  # the last id, as it always was


def test_a_poll_whose_cursor_was_kept_before_goes_on_without_sending_twice(ws: Path) -> None:
    """A cursor kept by an earlier version is the last value read, every row of which was
    polled then: the poll goes on after it, and from then on takes later rows of a value."""
    path = database(ws)
    place(path, ("ada@example.com", "2024-06-01 10:00:00"))
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "placed_at")
        assert polled(studio) == ["ada@example.com"]
        with studio.store.write() as s:
            state = s.get(TriggerState, "p/orders.ipynb")
            assert state is not None
            state.cursor = "2024-06-01T10:00:00"  # as the earlier version kept it
        assert polled(studio) == []
        place(path, ("bea@example.com", "2024-06-01 10:00:01"))
        assert polled(studio) == ["bea@example.com"]
        place(path, ("cy@example.com", "2024-06-01 10:00:01"))
        assert polled(studio) == ["cy@example.com"]


def cursor(studio: Studio) -> Any:
    with studio.store.read() as s:
        state = s.get(TriggerState, "p/orders.ipynb")
        assert state is not None
        return state.cursor


@pytest.mark.parametrize(
    ("first", "late"),
    [
        # Python's strftime("%Y-%m-%d %H:%M:%S%z"), which SQLite's datetime() reads as NULL
        ("2024-06-01 10:00:00", "2024-06-01 10:00:00+0000"),
        ("2024-06-01 10:00:00+0000", "2024-06-01 10:00:00"),
        ("2024-06-01 10:00:00.000000", "2024-06-01 10:00:00"),
    ],
    ids=["offset late", "offset first", "microseconds first"],
)
def test_orders_whose_time_sqlite_s_datetime_cannot_read_are_polled_once(
    ws: Path, first: str, late: str
) -> None:
    """The poll compared `datetime(placed_at)` with its cursor: an order placed at
    2024-06-01 10:00:00+0000 (NULL to datetime()) was never polled, in its second's others
    or after them, and no error said so."""
    path = database(ws)
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "placed_at")
        place(path, ("ada@example.com", first))
        assert polled(studio) == ["ada@example.com"]
        place(path, ("bea@example.com", late), ("cy@example.com", "2024-06-02 09:00:00+0000"))
        assert polled(studio) == ["bea@example.com", "cy@example.com"]
        assert polled(studio) == []


def test_an_order_whose_time_cannot_be_read_stops_the_poll_naming_it(ws: Path) -> None:
    """A time neither SQLite nor SQLAlchemy reads (an hour without its zero) is said, with
    its fix: the poll passed such an order by without a word."""
    path = database(ws)
    with Studio.open(ws, user="alice") as studio:
        orders_recipe(studio, "placed_at")
        place(path, ("ada@example.com", "2024-06-01 10:00:00"))
        assert polled(studio) == ["ada@example.com"]
        place(path, ("bea@example.com", "2024-06-02 9:00:00"))
        with pytest.raises(InputError) as refused:
            polled(studio)
    assert refused.value.field == "poll_table", refused.value
    assert "2024-06-02 9:00:00" in refused.value.message, refused.value.message
    assert refused.value.fix and "2024-06-01 10:00:00" in refused.value.fix, refused.value.fix


def test_a_poll_finds_the_new_orders_through_the_index_on_their_time(ws: Path) -> None:
    """Ordered and compared by `datetime(placed_at)`, which no index holds, each poll read
    and sorted the whole table (a million orders: 0.43 s a poll with nothing new, against
    0.007 s by the index). Every query the polls send is searched through the index, and
    sorted by it."""
    path = database(ws)
    with sqlite3.connect(path) as db:
        db.execute("CREATE INDEX orders_placed ON orders (placed_at)")
    db.close()
    place(path, *((f"u{i}@example.com", f"2024-06-01 10:00:0{i}") for i in range(3)))
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM orders" in statement:
            sent.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", keep)
    try:
        with Studio.open(ws, user="alice") as studio:
            orders_recipe(studio, "placed_at")
            assert len(polled(studio)) == 3
            place(path, ("late@example.com", "2024-06-01 10:00:02"))
            assert polled(studio) == ["late@example.com"]
            assert polled(studio) == []
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", keep)
    assert len(sent) == 3, sent
    with sqlite3.connect(path) as db:
        for statement, parameters in sent:
            plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            assert plan == ["SEARCH orders USING INDEX orders_placed (placed_at>?)"], plan
    db.close()
