"""A poll's failed job is retried and reported as a scheduler's is, whoever asked for the poll:
a scheduler's tick, `lpstudio poll` or REST's Poll now; the jobs of a poll that this process
runs are its own from the write that queues them, never a scheduler's meanwhile.

Only the scheduler followed up the jobs it ran: a job of `lpstudio poll` or of a Poll now
that failed was neither retried nor reported to the recipe's failure contacts, though its
trigger ("poll") is one nobody waits on.

Real sandbox, real kernels, real store, a real Jupyter server in the test.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lpstudio.sandbox import Sandbox
from lpstudio.scheduler import Scheduler
from lpstudio.store import Store, worker_id
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


def polling_from_before(ws: Path, recipe: str, webhook: Any = None) -> str:
    """The recipe, its first poll reading from now (not from its own moment, which a slow
    machine may put after the test's checkouts), its failures reported to `webhook`."""
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings(recipe, since=datetime.now(UTC).isoformat())
        if webhook is not None:
            notify(studio, recipe, webhook.url)
    return recipe


def failing_without_retries(ws: Path, webhook: Any) -> str:
    return polling_from_before(ws, poll_recipe(ws, "boom", BOOM), webhook)


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
    recipe = polling_from_before(ws, failing_recipe(ws, "ValueError('boom')"), webhook)
    add_checkouts(sandbox, phones(0, 1))
    assert cli(ws, "poll", "p/flaky").exit_code == 1
    failed, retry = jobs(db, recipe)
    assert (failed.status, failed.trigger) == ("failed", "poll")
    # Queued for a scheduler (the recipe's start runs it), as a scheduler's retry is.
    assert (retry.status, retry.trigger, retry.rerun_of) == ("queued", "retry", failed.id)
    assert retry.worker is None
    # Its fix names the retry: a rerun by hand would run beside it.
    assert failed.error["fix"].startswith(f"job {retry.id} retries it in "), failed.error
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


def test_a_scheduler_never_sees_the_jobs_lpstudio_poll_is_about_to_run_as_waiting(
    ws: Path, sandbox: Sandbox, db: Store, monkeypatch: Any, caplog: Any
) -> None:
    # Queued for no process, then taken: in between, a scheduler logged "job N waits: its
    # recipe is stopped (`lpstudio start` runs its queued jobs; `lpstudio cancel N` drops
    # this one)" of a job the command was about to run.
    recipe = polling_from_before(ws, poll_recipe(ws, "quiet", ("print('hi')",)))
    add_checkouts(sandbox, phones(0, 2))
    seen: list[Any] = []
    take_queued = Store.take_queued

    def scheduler_looks_first(self: Store, job_ids: Any) -> set[int]:
        seen.extend(self.job(job_id).worker for job_id in job_ids)
        with Studio.open(ws, user="alice") as studio:
            assert Scheduler(studio).fill() == 0
        return take_queued(self, job_ids)

    monkeypatch.setattr(Store, "take_queued", scheduler_looks_first)
    caplog.set_level(logging.INFO, logger="lpstudio.scheduler")
    assert cli(ws, "poll", "p/quiet").exit_code == 0
    assert seen == [worker_id()] * 2
    assert [job.status for job in jobs(db, recipe)] == ["succeeded"] * 2
    assert not [r for r in caplog.records if "waits" in r.getMessage()]


def test_a_poll_that_only_queues_leaves_its_jobs_to_a_scheduler(
    ws: Path, sandbox: Sandbox, db: Store
) -> None:
    recipe = polling_from_before(ws, poll_recipe(ws, "later", ("print('hi')",)))
    add_checkouts(sandbox, phones(0, 1))
    assert cli(ws, "poll", "p/later", "--no-run").exit_code == 0
    (job,) = jobs(db, recipe)
    assert (job.status, job.worker) == ("queued", None)
