"""Poll triggers over real Shopify-like data: conditions checked when the recipe is read,
oldest first across the chunks of a long poll, Test and Run now on the latest events, and
a first poll that starts where a first start would.

Real HTTP to the sandbox on loopback, a real store; the page cap of a poll is lowered
(monkeypatched in this process) so that a few hundred checkouts stand for many thousands.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.errors import InputError, RecipeError
from lpstudio.models import TriggerState
from lpstudio.registry import get_connector
from lpstudio.sandbox import Sandbox
from lpstudio.store import FINAL_STATES
from lpstudio.studio import Studio

from .conftest import run_json, wait_for, write_recipe
from .servers import serving

TRIGGER = "new_or_updated_abandoned_checkout"
POLL = {"kind": "poll", "connection": "shopify", "trigger": TRIGGER}
SLOTS = {"shopify": {"type": "shopify"}}
CART = "p/cart.ipynb"
#: A checkout passes when its total is 50 or more (Shopify sends prices as text).
AT_LEAST_50 = {"match": "any", "rules": [{"field": "total_price", "op": ">=", "value": 50}]}


@pytest.fixture
def ws(sandbox_ws: Path, sandbox: Sandbox) -> Path:
    """The sandbox workspace, its shop's leaky bucket large enough never to make a test wait
    (the bucket itself is tested in test_shopify)."""
    answer = httpx.patch(f"{sandbox.url}/_sandbox/settings", json={"shopify_bucket_size": 10_000})
    assert answer.status_code == 200, answer.text
    return sandbox_ws


def cart_recipe(ws: Path, **trigger: Any) -> str:
    """p/cart: polled, its result the events it got."""
    write_recipe(
        ws,
        "p/cart",
        cells=("import lpstudio.kernel as lp\nlp.set_result({'event': lp.event})",),
        metadata={"title": "cart", "trigger": {**POLL, **trigger}, "connections": SLOTS},
    )
    return CART


def add(sandbox: Sandbox, checkouts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = httpx.post(f"{sandbox.url}/_sandbox/shopify/checkouts", json=checkouts, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["checkouts"]


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def cli(ws: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--workspace", str(ws)])


def one_page_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll reads one page of 250 at most before it must narrow its window."""
    fetch = get_connector("shopify").poll_triggers[TRIGGER].poll
    monkeypatch.setattr(sys.modules[fetch.__module__], "MAX_PAGES_PER_POLL", 1)


def checkout_reads(sandbox: Sandbox) -> int:
    """How many times the shop was asked for its checkouts."""
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", timeout=10).json()["requests"]
    return sum(entry["path"].endswith("/checkouts.json") for entry in log)


def order(events: list[dict[str, Any]]) -> list[tuple[datetime, int]]:
    return [(datetime.fromisoformat(e["updated_at"]), e["id"]) for e in events]


# -- 1. conditions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "field", "said"),
    [
        (
            {"mach": "any", "rules": AT_LEAST_50["rules"]},
            "metadata.lpstudio.trigger.conditions.mach",
            "'mach'",
        ),
        (
            {"rules": [{"field": "total_price", "op": ">=", "vaule": 50}]},
            "metadata.lpstudio.trigger.conditions.rules.0.vaule",
            "'vaule'",
        ),
        (
            {"rules": [{"field": "total_price", "op": ">="}]},
            "metadata.lpstudio.trigger.conditions.rules.0",
            "'value' is a required property",
        ),
        (
            {"rules": [{"field": "total_price", "op": ">=", "value": [50]}]},
            "metadata.lpstudio.trigger.conditions.rules.0.value",
            "[50]",
        ),
    ],
    ids=["mach", "vaule", "no value", "a list to order by"],
)
def test_a_condition_that_would_drop_every_event_is_refused_when_the_recipe_is_read(
    ws: Path, conditions: dict[str, Any], field: str, said: str
) -> None:
    """A misspelt key of the conditions was ignored: `vaule` compared every price with
    None (false), so a poll marked every matching checkout seen and queued nothing."""
    cart_recipe(ws, conditions=conditions)
    with Studio.open(ws, user="alice") as studio, pytest.raises(RecipeError) as refused:
        studio.recipe(CART)
    assert refused.value.field == field, refused.value
    assert said in refused.value.message and refused.value.fix
    # Its example is a condition's, not the trigger's cron (the outer key's).
    assert '(example: "conditions": {"match": "all", "rules"' in refused.value.fix
    assert "BROKEN" in cli(ws, "recipes").output
    polled = cli(ws, "poll", "p/cart", "--json")
    assert polled.exit_code == 2 and json.loads(polled.stdout)["error"]["field"] == field


def test_checkouts_polled_while_a_condition_was_misspelt_are_processed_once_it_is_fixed(
    ws: Path, sandbox: Sandbox
) -> None:
    cart_recipe(ws, conditions=AT_LEAST_50)
    with Studio.open(ws, user="alice") as studio:
        studio.start(CART)
    big = add(sandbox, [{"total_price": price} for price in ("126.00", "50.00", "75.10")])
    add(sandbox, [{"total_price": "12.00"}])
    cart_recipe(ws, conditions={"rules": [{"field": "total_price", "op": ">=", "vaule": 50}]})
    assert cli(ws, "poll", "p/cart", "--no-run").exit_code == 2  # nothing marked seen

    cart_recipe(ws, conditions=AT_LEAST_50)
    with Studio.open(ws, user="alice") as studio:
        queued = studio.poll(CART, run=False)
    assert sorted(job.event["id"] for job in queued) == sorted(c["id"] for c in big)


def test_an_event_a_condition_cannot_compare_does_not_pass_and_the_poll_says_so(
    ws: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A total that is no number (an app's object, a text like "n/a") cannot be ordered
    against 50: such an event does not pass, as an absent field does not, and is not
    dropped without a word (every event would be, were the field the wrong one)."""
    cart_recipe(ws, conditions=AT_LEAST_50)
    with Studio.open(ws, user="alice") as studio:
        studio.start(CART)
        passing, *odd = add(
            sandbox,
            [
                {"total_price": "126.00"},
                {"total_price": {"amount": "126.00", "currency": "USD"}},
                {"total_price": "n/a"},
            ],
        )
        with caplog.at_level(logging.WARNING, logger="lpstudio.triggers"):
            queued = studio.poll(CART, run=False)
    assert [job.event["id"] for job in queued] == [passing["id"]]
    [warning] = [r for r in caplog.records if r.name == "lpstudio.triggers"]
    said = warning.getMessage()
    assert "2 events" in said and "total_price >= 50" in said and CART in said
    assert all(f"{c['id']}@{c['updated_at']}" in said for c in odd), said


def test_poll_now_answers_the_events_its_condition_cannot_compare_and_lists_its_jobs(
    ws: Path, sandbox: Sandbox
) -> None:
    """REST's Poll now answered "0 jobs" for events its condition could not compare, the
    warning saying why only in the server's log: it answers the warning, in the words
    `lpstudio poll` says, and its jobs as GET /jobs lists them (no event, no result)."""
    cart_recipe(ws, conditions=AT_LEAST_50)
    with Studio.open(ws, user="alice") as studio:
        studio.start(CART)  # its since fixed before the checkouts (no scheduler polls it)
    passing, odd = add(sandbox, [{"total_price": "126.00"}, {"total_price": "n/a"}])
    key = f"{odd['id']}@{odd['updated_at']}"
    with serving(ws, "--LpstudioApp.scheduler=False") as server:
        answer = server.api("alice", "POST", f"/recipes/{CART}/poll")
        assert answer.status_code == 202, answer.text
        polled = answer.json()
        [job] = polled["jobs"]
        assert "event" not in job and "result" not in job, job
        assert job["trigger"] == "poll", job
        shown = server.api("alice", "GET", f"/jobs/{job['id']}").json()
        assert shown["event"]["id"] == passing["id"], shown
        wait_for(
            lambda: (
                server.api("alice", "GET", f"/jobs/{job['id']}").json()["status"] in FINAL_STATES
            ),
            what="the polled job's end",
        )
    assert polled["warnings"] == [
        {
            "code": "InputError",
            "message": f"poll of {CART}: its condition total_price >= 50 cannot compare the "
            "value of 1 event (not a number, nor a text that reads as one), which did not "
            f"pass: {key}",
            "field": "metadata.lpstudio.trigger.conditions",
            "fix": "compare a field that holds numbers in metadata.lpstudio.trigger.conditions",
        }
    ], polled


# -- 2. oldest first across chunks -----------------------------------------------------------


def test_a_poll_longer_than_its_page_cap_dispatches_oldest_first_across_chunks(
    ws: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages come in id order; an old checkout updated lately has a low id and a new
    `updated_at`. Each chunk was sorted on its own, and queued before the next was read:
    a chunk of newer updates went out before an older one."""
    one_page_per_read(monkeypatch)
    cart_recipe(ws, batch_size=40)
    base = datetime.now(UTC) - timedelta(hours=10)
    # Ids ascend while updated_at descends, and in clusters of one second.
    added = add(
        sandbox,
        [
            {"created_at": at(base), "updated_at": at(base + timedelta(seconds=(600 - n) // 3))}
            for n in range(600)
        ],
    )
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings(CART, since=(datetime.now(UTC) - timedelta(days=1)).isoformat())
        studio.start(CART)
        queued = studio.poll(CART, run=False)
    events = [event for job in queued for event in job.event]
    assert order(events) == sorted(order(events))  # each job's, and from job to job
    assert {c["id"] for c in added} <= {e["id"] for e in events}
    assert len(events) == len({e["id"] for e in events}) == 605


def test_a_poll_whose_events_fit_its_page_cap_reads_one_window(ws: Path, sandbox: Sandbox) -> None:
    cart_recipe(ws)
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings(CART, since=(datetime.now(UTC) - timedelta(days=1)).isoformat())
        studio.start(CART)
        add(sandbox, [{} for _ in range(300)])
        asked = checkout_reads(sandbox)
        queued = studio.poll(CART, run=False)
    assert len(queued) == 305
    assert checkout_reads(sandbox) - asked == 2  # 250 + 55: one window, no narrowing


# -- 3. Test and Run now on the latest events ------------------------------------------------


def test_test_runs_on_the_latest_checkout_its_conditions_pass(
    ws: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample came from one poll of the last 30 days: the newest of its first pages in
    id order, not the newest of the store."""
    one_page_per_read(monkeypatch)
    cart_recipe(ws, conditions={"rules": [{"field": "total_price", "op": ">=", "value": 1000}]})
    old = at(datetime.now(UTC) - timedelta(days=2))
    add(sandbox, [{"updated_at": old, "total_price": "2000.00"} for _ in range(300)])
    [recent] = add(sandbox, [{"total_price": "1500.00"}])
    add(sandbox, [{"total_price": "10.00"}])  # newer still, but it does not pass
    with Studio.open(ws, user="alice") as studio:
        assert studio.sample_event(studio.recipe(CART))["id"] == recent["id"]


def test_test_with_no_event_its_conditions_pass_is_refused_naming_the_event(
    ws: Path, sandbox: Sandbox
) -> None:
    """It ran the recipe on nothing (a batch recipe on an empty batch) and succeeded."""
    impossible = {"rules": [{"field": "total_price", "op": ">=", "value": 10**9}]}
    cart_recipe(ws, batch_size=10, conditions=impossible)
    with Studio.open(ws, user="alice") as studio:
        with pytest.raises(InputError) as refused:
            studio.run(CART, test=True)
        assert refused.value.field == "event"
        assert "--event-file" in (refused.value.fix or "")
        assert studio.jobs() == []


def test_test_with_no_passing_event_in_a_crowded_store_is_refused_after_a_few_polls(
    ws: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read every window back to 30 days through the narrowing poll before refusing:
    7 to 9 minutes and about a thousand Shopify requests in a store with thousands of
    checkouts and none passing."""
    import lpstudio.triggers as triggers

    one_page_per_read(monkeypatch)  # 250 a read: the store below needs 8 polls a window
    monkeypatch.setattr(triggers, "LOOKS", 3)
    impossible = {"rules": [{"field": "total_price", "op": ">=", "value": 10**9}]}
    cart_recipe(ws, conditions=impossible)
    add(sandbox, [{} for _ in range(2000)])
    asked = checkout_reads(sandbox)
    with Studio.open(ws, user="alice") as studio, pytest.raises(InputError) as refused:
        studio.run(CART, test=True)
    assert refused.value.field == "event" and "3 polls at most" in refused.value.message
    assert checkout_reads(sandbox) - asked <= 3 * 5  # a poll reads 4 times at most to narrow


def test_the_cart_template_run_now_takes_the_latest_checkouts(
    sandbox_ws: Path, sandbox: Sandbox
) -> None:
    """Its cell polled once from 30 days ago: with more than ten pages of checkouts it took
    the newest of the first ten in id order, days old, not the store's latest."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "shop")
    old = at(datetime.now(UTC) - timedelta(days=3))
    add(sandbox, [{"updated_at": old} for _ in range(2600)])
    latest = add(sandbox, [{"phone": f"+1202555{n:04d}"} for n in range(3)])
    code, job = run_json("run", "shop/cart_abandonment", "--json", "--workspace", str(sandbox_ws))
    assert code == 0 and job["result"]["checkouts"] == 3, job
    answer = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()
    assert {row["address"] for row in answer["recipients"]} == {c["phone"] for c in latest}


# -- 4. the first poll's since ---------------------------------------------------------------


def test_a_first_poll_starts_now_as_a_first_start_does_and_settings_show_it(
    ws: Path, sandbox: Sandbox
) -> None:
    """`lpstudio poll` of a recipe never started reached 24 hours back (a flood of old
    carts), and `lpstudio settings` showed no since afterwards, though it was fixed."""
    cart_recipe(ws)
    add(sandbox, [{"updated_at": at(datetime.now(UTC) - timedelta(hours=2))}])
    with Studio.open(ws, user="alice") as studio:
        before = studio.store.now()
        assert studio.poll(CART, run=False) == []
        with studio.store.read() as s:
            fixed = datetime.fromisoformat(s.get_one(TriggerState, CART).since)
        assert studio.recipe_detail(CART)["since_fixed"] == fixed.isoformat()
    assert before - timedelta(seconds=1) <= fixed <= datetime.now(UTC)
    shown = fixed.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert f"since:       {shown}" in cli(ws, "settings", "p/cart").output
