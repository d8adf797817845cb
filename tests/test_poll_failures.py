"""A poll's failed job is retried and reported as a scheduler's is, whoever asked for the poll:
a scheduler's tick, `lpstudio poll` or REST's Poll now.

Only the scheduler followed up the jobs it ran: a job of `lpstudio poll` or of a Poll now
that failed was neither retried nor reported to the recipe's failure contacts, though its
trigger ("poll") is one nobody waits on.

Real sandbox, real kernels, real store, a real Jupyter server in the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lpstudio.sandbox import Sandbox
from lpstudio.store import Store
from lpstudio.studio import Studio
from tests.conftest import wait_for
from tests.test_scheduler import (
    add_checkouts,
    cli,
    db,
    failing_recipe,
    jobs,
    notify,
    phones,
    poll_recipe,
    webhook,
    ws,
)
from tests.test_trigger_error_runs import poll_now

__all__ = ["db", "webhook", "ws"]  # fixtures of test_scheduler's, used here

BOOM = ("raise ValueError('boom')",)


def failing_without_retries(ws: Path, webhook: Any) -> str:
    recipe = poll_recipe(ws, "boom", BOOM)
    with Studio.open(ws, user="alice") as studio:
        notify(studio, recipe, webhook.url)
    return recipe


def test_a_job_of_lpstudio_poll_that_fails_is_reported_once(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    recipe = failing_without_retries(ws, webhook)
    add_checkouts(sandbox, phones(0, 1))
    result = cli(ws, "poll", "p/boom")
    assert result.exit_code == 1, result.output
    (job,) = jobs(db, recipe)
    assert (job.status, job.trigger) == ("failed", "poll")
    (post,) = webhook.posts
    assert (post["job"], post["status"], post["error"]["ename"]) == (job.id, "failed", "ValueError")


def test_a_job_of_lpstudio_poll_that_fails_is_retried_as_its_recipe_asks(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    recipe = failing_recipe(ws, "ValueError('boom')")
    with Studio.open(ws, user="alice") as studio:
        notify(studio, recipe, webhook.url)
    add_checkouts(sandbox, phones(0, 1))
    assert cli(ws, "poll", "p/flaky").exit_code == 1
    failed, retry = jobs(db, recipe)
    assert (failed.status, failed.trigger) == ("failed", "poll")
    # Queued for a scheduler (the recipe's start runs it), as a scheduler's retry is.
    assert (retry.status, retry.trigger, retry.rerun_of) == ("queued", "retry", failed.id)
    assert retry.worker is None
    assert webhook.posts == []  # its contacts hear of it once its retries are used up


async def test_a_job_of_a_poll_now_that_fails_is_reported_once(
    jp_fetch: Any, ws: Path, sandbox: Sandbox, db: Store, webhook: Any
) -> None:
    recipe = failing_without_retries(ws, webhook)
    add_checkouts(sandbox, phones(0, 1))
    code, polled = await poll_now(jp_fetch, recipe)
    assert code == 202, polled
    (job_id,) = [job["id"] for job in polled["jobs"]]
    await asyncio.to_thread(wait_for, lambda: webhook.posts, 120, "the failure notice")
    assert db.job(job_id).status == "failed"
    (post,) = webhook.posts
    assert (post["job"], post["status"]) == (job_id, "failed")


def test_a_job_a_scheduler_ran_before_lpstudio_poll_took_it_is_reported_by_it_alone(
    ws: Path, sandbox: Sandbox, db: Store, webhook: Any, monkeypatch: Any
) -> None:
    # A scheduler claimed the poll's job before this process took it, and it failed there:
    # that scheduler reports it; `lpstudio poll` shows it, and reports nothing.
    recipe = failing_without_retries(ws, webhook)
    add_checkouts(sandbox, phones(0, 1))
    take_queued = Store.take_queued

    def scheduler_first(self: Store, job_ids: Any) -> set[int]:
        for job_id in job_ids:
            self.finish_job(job_id, "failed", error={"ename": "ValueError", "evalue": "boom"})
        return take_queued(self, job_ids)

    monkeypatch.setattr(Store, "take_queued", scheduler_first)
    assert cli(ws, "poll", "p/boom").exit_code == 1
    (job,) = jobs(db, recipe)
    assert job.status == "failed"
    assert webhook.posts == []
