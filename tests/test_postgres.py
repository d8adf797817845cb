"""The store on a real PostgreSQL server: the scale-out store of several machines.

Everything the store promises on SQLite must hold here too: migrations from nothing, jobs
with their history, and atomic claims that two schedulers racing never both win.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lpstudio.leader import StoreLease
from lpstudio.metrics import dashboard_metrics
from lpstudio.models import Job, utcnow
from lpstudio.store import RUNNING, Store
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.postgres import create_database, postgres_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_ws(tmp_path: Path, server: str, request: pytest.FixtureRequest) -> Path:
    """A workspace whose store is a fresh PostgreSQL database."""
    url = create_database(server, request.node.name.lower()[:60])
    root = tmp_path / "ws"
    root.mkdir()
    (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root


def test_a_workspace_on_postgresql_runs_jobs_and_keeps_history(pg_ws: Path) -> None:
    write_recipe(pg_ws, "p/double", cells=("y = x * 2", "print(y)"))
    with Studio.open(pg_ws, user="alice") as studio:
        assert studio.store.engine.dialect.name == "postgresql"
        job = studio.run("p/double", {"x": 21})
        assert job.status == "succeeded", job.error
        assert "42" in (pg_ws / job.output_path).read_text()
        (listed,) = studio.jobs()
        assert listed.id == job.id
        now = utcnow()
        metrics = dashboard_metrics(studio.store, now - timedelta(days=1), now + timedelta(hours=1))
        assert metrics["jobs_per_day"] == [
            {"day": now.date().isoformat(), "status": "succeeded", "count": 1}
        ]
        assert metrics["recipes"][0]["succeeded"] == 1


def test_racing_claims_on_postgresql_never_exceed_a_recipe_concurrency(pg_ws: Path) -> None:
    write_recipe(pg_ws, "p/one")
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
        version = studio.store.snapshot("p/one.ipynb", "{}", {}, "alice")
    stores = [Store(url) for _ in range(8)]  # eight schedulers, each its own connections
    for _round in range(10):
        # Each scheduler claims a different queued job of the recipe at the same moment.
        ids = [
            stores[0]
            .create_job(recipe="p/one.ipynb", version_id=version, trigger="poll", user="alice")
            .id
            for _ in stores
        ]
        start = threading.Barrier(len(stores))
        won: list[int] = []

        def claim(store: Store, job_id: int, start: threading.Barrier, won: list[int]) -> None:
            start.wait()
            if store.claim_job(job_id, running_limit=1):
                won.append(job_id)

        threads = [
            threading.Thread(target=claim, args=(store, job_id, start, won))
            for store, job_id in zip(stores, ids, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won
        stores[0].finish_job(won[0], "succeeded")
    with stores[0].read() as s:
        assert s.scalar(select(func.count(Job.id)).where(Job.status == RUNNING)) == 0
    for store in stores:
        store.close()


def test_one_scheduler_lease_holder_on_postgresql(pg_ws: Path) -> None:
    with Studio.open(pg_ws, user="alice") as studio:
        url = studio.store.url
    stores = [Store(url) for _ in range(6)]
    leases = [StoreLease(store, seconds=60) for store in stores]
    start = threading.Barrier(len(leases))
    held: list[str] = []

    def take(lease: StoreLease) -> None:
        start.wait()
        if lease.acquire():
            held.append(lease.holder)

    threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(held) == 1
    assert leases[0].status()["leader"] == held[0]
    for store in stores:
        store.close()
