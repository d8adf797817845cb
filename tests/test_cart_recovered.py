"""The cart-abandonment template never messages a customer who has paid.

A job works on checkouts as its event holds them, which may be older than Shopify's: a job
queued behind others or while the recipe was stopped, a rerun, a hand-given `--event`, a
webhook's delivery. Each test runs the template as a real job (the real `lpstudio`, real
kernels) against a fresh sandbox, and checks what a customer and the brand would notice:
who got a message, and what the job's result and output notebook say of the others.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from lpstudio.studio import Studio

from .conftest import run_cli, run_json

CART = "shop/cart_abandonment"
PAID_AT = "2026-12-02T12:01:00+00:00"


@pytest.fixture
def shop(sandbox_ws: Path) -> Path:
    """A workspace on the sandbox with the cart template tried into the project `shop`."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.try_template("cart_abandonment", "shop")
    return sandbox_ws


def recipients(control: httpx.Client) -> dict[str, int]:
    """Each address the sandbox's LivePerson accepted a message for, and how many times."""
    answer = control.get("/_sandbox/liveperson/recipients").json()
    return {item["address"]: item["count"] for item in answer["recipients"]}


def run_cart(shop: Path, checkouts: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """`lpstudio run shop/cart_abandonment --event CHECKOUTS`: its exit code and job."""
    event = json.dumps(checkouts)
    return run_json("run", CART, "--event", event, "--workspace", str(shop))


def output_text(job: dict[str, Any]) -> str:
    """Everything the job's output notebook shows (its cells' outputs)."""
    nb = nbformat.read(job["output_path"], as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


def test_a_checkout_paid_in_its_event_is_reported_recovered_and_not_messaged(
    shop: Path, control: httpx.Client
) -> None:
    """A webhook's delivery or a hand-given event may hold a checkout already completed:
    its customer paid, and must not be told they left items in their cart."""
    paid = {"id": 11, "phone": "+14155558003", "completed_at": PAID_AT}
    open_ = {"id": 12, "phone": "+14155558004", "completed_at": None}
    code, job = run_cart(shop, [paid, open_])

    assert code == 0 and job["status"] == "succeeded", job
    assert job["result"]["skipped"] == [{"checkout_id": 11, "reason": "recovered"}]
    assert job["result"]["accepted"] == 1
    assert recipients(control) == {"+14155558004": 1}
    assert "1 recovered" in output_text(job)


def test_a_queued_poll_job_leaves_out_a_checkout_paid_since_the_poll(
    shop: Path, control: httpx.Client
) -> None:
    """The reviewer's case: the poll saw two open checkouts and queued their job (the recipe
    stopped); one customer paid before the job ran. The job asks Shopify first."""
    since = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0).isoformat()
    saved = run_cli("settings", CART, "--since", since, "--workspace", str(shop))
    assert saved.returncode == 0, saved.stderr
    added = [
        {"phone": "+14155558001", "customer": {"first_name": "Ada"}},
        {"phone": "+14155558002", "customer": {"first_name": "Bo"}},
    ]
    answer = control.post("/_sandbox/shopify/checkouts", json=added)
    first, second = (checkout["id"] for checkout in answer.raise_for_status().json()["checkouts"])
    code, queued = run_json("poll", CART, "--no-run", "--workspace", str(shop))
    assert code == 0 and [job["status"] for job in queued] == ["queued"], queued
    completed = datetime.now(UTC).replace(microsecond=0).isoformat()
    control.patch(f"/_sandbox/shopify/checkouts/{first}", json={"completed_at": completed})

    with Studio.open(shop, user="alice") as studio:
        [job] = studio.run_polled([queued[0]["id"]])

    assert job.status == "succeeded", job.error
    assert job.result["checkouts"] == 2
    assert job.result["skipped"] == [{"checkout_id": first, "reason": "recovered"}]
    assert job.result["accepted"] == 1
    assert recipients(control) == {"+14155558002": 1}
    assert second not in [skip["checkout_id"] for skip in job.result["skipped"]]


def test_a_shop_that_cannot_be_read_fails_the_job_retryable_before_anything_is_sent(
    shop: Path, control: httpx.Client
) -> None:
    """Without Shopify's answer the job cannot know who paid since its event: it sends
    nothing and fails as retryable, naming Shopify; a retry or rerun asks again."""
    plan = {"error_rate": 1.0, "error_status": 503, "scope": "shopify"}
    control.post("/_sandbox/faults", json=plan).raise_for_status()
    code, job = run_cart(shop, [{"id": 21, "phone": "+14155558005", "completed_at": None}])

    assert code == 1 and job["status"] == "failed", job
    assert job["error"]["retryable"] is True, job["error"]
    assert "Shopify answered HTTP 503" in job["error"]["evalue"], job["error"]
    assert "message none of them until Shopify answers" in job["error"]["evalue"], job["error"]
    assert recipients(control) == {}


def test_a_cart_job_whose_send_fails_still_accounts_for_every_checkout(
    shop: Path, control: httpx.Client
) -> None:
    """rc's case: LivePerson answers 500 to the campaign; the failed job's result kept only
    the send's accounting, so the guest checkout it skipped (no phone) was in no bucket."""
    # Seeded: the token request passes, the campaign's is answered 500 (rc's plan).
    plan = {"scope": "liveperson", "error_rate": 0.5, "error_status": 500, "count": 2, "seed": 0}
    control.post("/_sandbox/faults", json=plan).raise_for_status()
    guest = {"id": 31, "email": "guest@example.com", "completed_at": None}
    buyer = {"id": 32, "phone": "+14155558006", "completed_at": None}
    code, job = run_cart(shop, [guest, buyer])

    assert code == 1 and job["status"] == "failed", job
    result = job["result"]
    assert result["checkouts"] == 2, result
    assert result["skipped"] == [{"checkout_id": 31, "reason": "no phone on the checkout"}]
    assert result["accepted"] == 0 and "not_sent" in result, result  # the send's, beside it
