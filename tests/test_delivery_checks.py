"""A claim's check (how to find out what the app did with sends in doubt) is stored once,
not on every delivery row: a campaign to 100,000 recipients wrote its ~400 characters
100,000 times. The fix of a job that ends with sends in doubt says it word for word as
before, a store upgraded from 0018 keeps the checks its rows held, and the purge drops
the checks no row names any more.

Real SQLite (PostgreSQL: tests/test_postgres.py).
"""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

from lpstudio.kernel.runtime import StoreLedger
from lpstudio.models import Delivery, DeliveryCheck, Job, utcnow
from lpstudio.store import SCHEMA_HEAD, Store, check_digest
from lpstudio.studio import Studio

from .test_liveperson import campaign_module
from .test_store_schema import migrate_to

#: The LivePerson connector's check, as a campaign claims its recipients with it.
CHECK = campaign_module()._check({"handoff": "H1000000001"})
#: Another campaign's (another handoff).
OTHER = campaign_module()._check({"handoff": "H1000000002"})


def started_job(store: Store, recipe: str = "p/send.ipynb") -> int:
    """A job of `recipe` that runs, as its ledger's claims need. Written with its columns of
    0018 alone (the ORM's insert names every column), for a store at that schema too."""
    version = store.snapshot(recipe, "{}", {}, "alice")
    row = dict(recipe=recipe, version_id=version, status="queued", user="alice")
    with store.write() as s:
        job = s.execute(insert(Job.__table__).values(row).returning(Job.id)).scalar_one()
    assert store.start_job(job, 2, "out.ipynb")
    return job


def stored_checks(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(DeliveryCheck.text).order_by(DeliveryCheck.text)))


def test_a_claim_of_many_recipients_stores_its_check_once_and_the_fix_says_it(
    ws: Path,
) -> None:
    """1,000 recipients claimed in two batches: one stored check; each row names it by a
    32-character digest. The job ends with sends unanswered and some settled uncertain:
    its fix says the check once, word for word."""
    with Studio.open(ws, user="alice") as studio:
        store = studio.store
        job = started_job(store)
        ledger = StoreLedger(store.url, f"job:{job}", job, store=store)
        keys = [f"r{n}" for n in range(1000)]
        ledger.claim_many(keys[:500], check=CHECK)
        ledger.claim_many(keys[500:], check=CHECK)
        ledger.settle_many(dict.fromkeys(keys[:400], "accepted"), {"id": 1})
        ledger.settle_many(dict.fromkeys(keys[400:450], "uncertain"), {"reason": "a 5xx"})
        assert stored_checks(store) == [CHECK]
        with store.read() as s:
            details = list(s.scalars(select(Delivery.detail).where(Delivery.job_id == job)))
        assert len(details) == 1000
        named = {d.get("check") for d in details}
        assert named == {None, check_digest(CHECK)} and len(check_digest(CHECK)) == 32
        assert max(len(json.dumps(d)) for d in details) < 100 < len(CHECK)

        ended = store.finish_job(job, "succeeded")
    assert ended is not None and ended.status == "failed"
    assert ended.error["uncertain_sends"] == 600, ended.error
    assert ended.error["fix"].count(CHECK) == 1, ended.error["fix"]


def test_each_campaign_s_check_is_said_once_in_order(ws: Path) -> None:
    """Two campaigns in one job, each with its own check: both said, once each, in the
    order of their texts, as when the rows held the texts."""
    with Studio.open(ws, user="alice") as studio:
        store = studio.store
        job = started_job(store)
        ledger = StoreLedger(store.url, f"job:{job}", job, store=store)
        ledger.claim_many(["a", "b"], check=OTHER)
        ledger.claim_many(["c"], check=CHECK)
        ledger.settle_many({"a": "uncertain"}, {"reason": "a 5xx"})
        ended = store.finish_job(job, "succeeded")
    assert ended is not None
    fix = ended.error["fix"]
    assert fix.count(CHECK) == 1 and fix.count(OTHER) == 1, fix
    assert fix.index(CHECK) < fix.index(OTHER), fix  # sorted by text: H...01 before H...02


def test_the_purge_drops_the_checks_no_send_names_any_more(ws: Path) -> None:
    purge_drops_unnamed_checks(ws)


def purge_drops_unnamed_checks(ws: Path) -> None:
    """A campaign all accepted names its check no more, and the purge drops it with its
    rows; one with a send still uncertain keeps its check for that send's fix."""
    with Studio.open(ws, user="alice") as studio:
        store = studio.store
        done, doubtful = started_job(store, "p/done.ipynb"), started_job(store, "p/doubt.ipynb")
        first = StoreLedger(store.url, f"job:{done}", done, store=store)
        first.claim_many(["a", "b"], check=OTHER)
        first.settle_many({"a": "accepted", "b": "accepted"}, {"id": 1})
        second = StoreLedger(store.url, f"job:{doubtful}", doubtful, store=store)
        second.claim_many(["c", "d"], check=CHECK)
        second.settle_many({"c": "accepted"}, {"id": 2})
        second.settle_many({"d": "uncertain"}, {"reason": "a 5xx"})
        assert stored_checks(store) == [CHECK, OTHER]

        assert store.purge_deliveries(utcnow() + timedelta(days=1)) == 3
        assert stored_checks(store) == [CHECK]
        ended = store.finish_job(doubtful, "succeeded")
    assert ended is not None and ended.error["fix"].count(CHECK) == 1, ended.error


def old_check_carried(store: Store) -> None:
    """A store at 0018 whose running job's claim holds its check's text: upgraded, the text
    is stored once and the row names it, and the job's end says it word for word; a
    downgrade puts the text back on the row."""
    migrate_to(store, "0018")
    job = started_job(store)
    with store.write() as s:
        s.execute(
            text(
                "INSERT INTO deliveries (ledger, key, status, detail, job_id, updated_at) "
                "VALUES (:ledger, 'r1', 'sending', :detail, :job, :at)"
            ),
            {
                "ledger": f"job:{job}",
                "detail": json.dumps({"day": "2026-12-06", "check": CHECK}),
                "job": job,
                "at": utcnow(),
            },
        )
    store.migrate()
    assert store.schema_revision() == SCHEMA_HEAD
    assert stored_checks(store) == [CHECK]
    with store.read() as s:
        assert s.scalar(select(Delivery.detail)) == {
            "day": "2026-12-06",
            "check": check_digest(CHECK),
        }

    migrate_to(store, "0018", down=True)
    with store.read() as s:
        assert s.scalar(select(Delivery.detail)) == {"day": "2026-12-06", "check": CHECK}
    store.migrate()
    ended = store.finish_job(job, "succeeded")
    assert ended is not None and ended.status == "failed"
    assert ended.error["fix"].count(CHECK) == 1, ended.error["fix"]


def test_a_store_at_0018_keeps_its_claims_checks_when_upgraded(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        old_check_carried(store)
    finally:
        store.close()


def test_a_job_running_when_the_store_is_upgraded_to_0021_is_never_requeued(
    tmp_path: Path,
) -> None:
    """A scheduled job left running by a version before `acted` (its worker killed, its
    cells of its own run, its sends made) is failed as worker lost once the store is
    upgraded, as that version failed it: taken for one that never acted, it was requeued
    and sent again."""
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        migrate_to(store, "0020")
        job = started_job(store)
        gone = subprocess.Popen(["true"])
        gone.wait()  # a process id on this host that no longer runs
        with store.write() as s:
            s.execute(
                text("UPDATE jobs SET trigger = 'schedule', cells_done = 3, worker = :w"),
                {"w": f"{socket.gethostname()}:{gone.pid}"},
            )
        store.migrate()
        assert store.reap_lost_jobs(timedelta(seconds=60)) == [job]
        ended = store.job(job)
        assert ended is not None and ended.status == "failed", ended
        assert ended.error["ename"] == "WorkerLost", ended.error
    finally:
        store.close()
