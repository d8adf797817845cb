"""History benchmark: the dashboard and the jobs list over a store of a million jobs.

Why it exists: every job stays in the store as history, so a busy brand reaches millions of
rows. The dashboard and the jobs list must stay fast: dashboard metrics in at most 300 ms
and a filtered jobs page of 50 in at most 20 ms, on a 2-core machine.

One run builds one store and compares, side by side:

- before: the store at schema 0004 (its indexes) and the dashboard queries as they were
  before migration 0005 (a copy of them is kept below as `before_dashboard`);
- after: the same store upgraded to the newest schema (0005's job counts per hour and per
  day kept by triggers and its two indexes; 0006's index for the daily purge) and today's
  `lpstudio.metrics.dashboard_metrics`.

The jobs list is `Store.list_jobs` (what `Studio.jobs` and `lpstudio jobs` call) in both,
so its comparison is the same query with and without the 0005 indexes.

Seeding is one bulk `executemany` through sqlite3 into the 0004 store (no triggers there),
then a copy of the file is upgraded with Alembic (timed: it builds the job counts from the
existing jobs). Each query is run once to warm the page cache, then timed `--repeat` times;
the median is reported. `EXPLAIN QUERY PLAN` of every statement is printed for both.

    .venv/bin/python bench/bench_history.py [--jobs 1000000] [--days 60] [--repeat 5]
        [--keep DIR] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from bench_run import emit, machine
from sqlalchemy import case, event, func, select, text

import lpstudio.store
from lpstudio.metrics import dashboard_metrics, recipes_with_jobs
from lpstudio.models import Job
from lpstudio.store import FAILED, SCHEMA_HEAD, SUCCEEDED, Store

RECIPES = 40
CAMPAIGN_RECIPES = 10  # the first ten recipes send campaigns and report recipients
DASHBOARD_MS = 300.0
PAGE_MS = 20.0

# -- the store ------------------------------------------------------------------------------


def alembic_config() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(lpstudio.store.__file__).parent / "migrations")
    )
    return config


def migrate(store: Store, revision: str) -> None:
    config = alembic_config()
    with store.engine.execution_options(lpstudio_write=True).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def recipe_names() -> list[str]:
    return [f"project{i % 5}/recipe{i:02d}.ipynb" for i in range(RECIPES)]


def job_rows(versions: list[str], jobs: int, days: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """`jobs` rows spread evenly over the last `days` days, oldest first (as ids grow).

    90% succeeded, 8% failed, 2% cancelled; the newest 20 are queued or running. Campaign
    recipes store a result with `accepted` and a `failed` list, like `send_campaign`.
    """
    rng = random.Random(20261129)
    names = recipe_names()
    start = now - timedelta(days=days)
    step = days * 86400 / jobs
    for i in range(jobs):
        k = rng.randrange(RECIPES)
        draw = rng.random()
        if i >= jobs - 20:
            status = "queued" if i % 2 else "running"
        else:
            status = "succeeded" if draw < 0.90 else "failed" if draw < 0.98 else "cancelled"
        created = (start + timedelta(seconds=i * step)).strftime("%Y-%m-%d %H:%M:%S.%f")
        result = "null"
        if k < CAMPAIGN_RECIPES and status in (SUCCEEDED, FAILED):
            failed = [{"address": "+14155550100", "errorMessage": "INVALID_NUMBER"}] * (i % 3)
            result = json.dumps({"accepted": rng.randrange(100), "failed": failed})
        yield (names[k], versions[k], status, "schedule", "{}", "null", "bench", created,
               created, created, 3, 3, "null", result, 0, 1, 0)  # fmt: skip


def seed(path: Path, jobs: int, days: int, now: datetime) -> float:
    """A store at schema 0004 holding `jobs` jobs; returns the seconds the insert took."""
    store = Store(f"sqlite:///{path}", create=True)
    migrate(store, "0004")
    versions = [store.snapshot(name, "{}", {}, "bench") for name in recipe_names()]
    store.close()
    db = sqlite3.connect(path)
    started = time.perf_counter()
    db.executemany(
        "INSERT INTO jobs (recipe, version_id, status, trigger, parameters, event, user, "
        "created_at, started_at, finished_at, cells_done, cells_total, error, result, "
        "cancel_requested, attempt, purged) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        job_rows(versions, jobs, days, now),
    )
    db.commit()  # no ANALYZE: lpstudio never runs it, so its planner works without stats
    db.close()
    return time.perf_counter() - started


# -- the dashboard before migration 0005 (the baseline) -------------------------------------


def before_dashboard(store: Store, start: datetime, end: datetime) -> dict[str, Any]:
    """The dashboard queries as they were at schema 0004: aggregates over every job of the
    range, and the Proactive counts summed in Python from each finished job's result."""
    in_range = [Job.created_at >= start, Job.created_at < end]
    day = func.date(Job.created_at).label("day")
    per_day = (
        select(day, Job.status, func.count())
        .where(*in_range)
        .group_by(day, Job.status)
        .order_by(day, Job.status)
    )
    counts = (
        select(
            Job.recipe,
            func.sum(case((Job.status == SUCCEEDED, 1), else_=0)),
            func.sum(case((Job.status == FAILED, 1), else_=0)),
        )
        .where(*in_range)
        .group_by(Job.recipe)
        .order_by(Job.recipe)
    )
    ranked = (
        select(
            Job.recipe,
            Job.id,
            Job.status,
            Job.created_at,
            func.row_number()
            .over(partition_by=Job.recipe, order_by=(Job.created_at.desc(), Job.id.desc()))
            .label("rank"),
        )
        .where(*in_range)
        .subquery()
    )
    latest = select(ranked.c.recipe, ranked.c.id, ranked.c.status, ranked.c.created_at).where(
        ranked.c.rank == 1
    )
    results = select(Job.created_at, Job.result).where(
        Job.status.in_((SUCCEEDED, FAILED)), *in_range
    )
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"accepted": 0, "failed": 0})
    with store.read() as s:
        jobs = s.execute(per_day).all()
        recipes = s.execute(counts).all()
        newest = s.execute(latest).all()
        for created, result in s.execute(results):
            if not isinstance(result, dict):
                continue
            accepted, failed = result.get("accepted"), result.get("failed")
            has_accepted = isinstance(accepted, int) and not isinstance(accepted, bool)
            has_failed = isinstance(failed, list)
            if has_accepted or has_failed:
                row = totals[created.date().isoformat()]
                row["accepted"] += accepted if has_accepted else 0
                row["failed"] += len(failed) if has_failed else 0
    return {"jobs_per_day": jobs, "recipes": recipes, "latest": newest, "proactive": totals}


def before_page(
    store: Store,
    recipe: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Any]:
    """`Store.list_jobs`'s query on the schema 0004 store: the same filters and order, of
    the columns that schema has (the model's later ones, `given` and others, are not
    there)."""
    with store.read() as s:
        there = {row[1] for row in s.execute(text("PRAGMA table_info(jobs)"))}
        query = select(*[column for column in Job.__table__.c if column.name in there])
        if recipe:
            query = query.where(Job.recipe == recipe)
        if status:
            query = query.where(Job.status == status)
        if since:
            query = query.where(Job.created_at >= since)
        query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
        return list(s.execute(query).all())


def before_recipes(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(Job.recipe).distinct().order_by(Job.recipe)))


# -- measuring ------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    fn()  # warm-up: page cache, statement cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "samples_ms": samples}


def plans(store: Store, fn: Callable[[], Any]) -> list[dict[str, Any]]:
    """`EXPLAIN QUERY PLAN` of every SELECT that `fn` runs."""
    statements: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        fn()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    found = []
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [row[-1] for row in plan]
            # A statement with many identical subqueries (one per recipe) prints once each.
            shown = [d for i, d in enumerate(details) if i < 12 or d not in details[:i]]
            found.append({"sql": " ".join(statement.split())[:100], "plan": shown})
    return found


def cases(now: datetime, store: Store, before: bool) -> dict[str, Callable[[], Any]]:
    week, month = now - timedelta(days=7), now - timedelta(days=30)
    recipe, rare = "project1/recipe01.ipynb", "project3/recipe13.ipynb"
    dashboard = before_dashboard if before else dashboard_metrics
    recipes = before_recipes if before else recipes_with_jobs
    page = functools.partial(before_page, store) if before else store.list_jobs
    return {
        "dashboard, last 7 days": lambda: dashboard(store, week, now),
        "dashboard, last 30 days": lambda: dashboard(store, month, now),
        "recipe filter list": lambda: recipes(store),
        "jobs page: no filter": lambda: page(limit=50),
        "jobs page: recipe": lambda: page(recipe=recipe, limit=50),
        "jobs page: status=failed": lambda: page(status="failed", limit=50),
        "jobs page: recipe+failed": lambda: page(recipe=recipe, status="failed", limit=50),
        "jobs page: recipe+running": lambda: page(recipe=rare, status="running", limit=50),
        "jobs page: recipe+failed+7d": lambda: page(
            recipe=recipe, status="failed", since=week, limit=50
        ),
        "jobs page: recipe, page 20": lambda: page(recipe=recipe, limit=50, offset=950),
    }


def target(name: str) -> float | None:
    if name.startswith("dashboard, last 7"):
        return DASHBOARD_MS
    if name.startswith("jobs page") and "page 20" not in name and "no filter" not in name:
        return PAGE_MS
    return None


def measure(jobs: int, days: int, repeat: int, keep: Path | None) -> dict[str, Any]:
    now = datetime.now(UTC).replace(minute=37, second=12, microsecond=345678)
    with tempfile.TemporaryDirectory(prefix="lpstudio-history-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        before_path, after_path = root / "before-0004.db", root / f"after-{SCHEMA_HEAD}.db"
        for path in (before_path, after_path):
            path.unlink(missing_ok=True)
        seconds = seed(before_path, jobs, days, now)
        shutil.copyfile(before_path, after_path)
        after = Store(f"sqlite:///{after_path}")
        started = time.perf_counter()
        after.migrate()
        migration = time.perf_counter() - started
        before = Store(f"sqlite:///{before_path}")
        result: dict[str, Any] = {
            "seed_seconds": seconds,
            "migration_seconds": migration,
            "db_mb": {
                "before": before_path.stat().st_size / 2**20,
                "after": after_path.stat().st_size / 2**20,
            },
            "queries": {},
            "plans": {},
        }
        same = dashboard_metrics(after, now - timedelta(days=7), now)
        old = before_dashboard(before, now - timedelta(days=7), now)
        if sum(r["count"] for r in same["jobs_per_day"]) != sum(
            n for _, _, n in old["jobs_per_day"]
        ):
            raise RuntimeError("before and after disagree on the number of jobs in the week")
        after_cases, before_cases = cases(now, after, False), cases(now, before, True)
        for name in after_cases:  # alternate, so a change in machine load hits both
            result["queries"][name] = {
                "before": timed(before_cases[name], repeat),
                "after": timed(after_cases[name], repeat),
                "target_ms": target(name),
            }
        for label, store, chosen in (
            ("before", before, before_cases),
            ("after", after, after_cases),
        ):
            result["plans"][label] = {
                name: plans(store, chosen[name])
                for name in (
                    "dashboard, last 7 days",
                    "recipe filter list",
                    "jobs page: recipe+running",
                )
            }
        before.close()
        after.close()
    return result


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"machine: nproc={m['nproc']}  fork of 200 MB {m['fork_200mb_ms']} ms  "
        f"python {m['python']}  sqlite {m['sqlite']}  "
        f"({m['platform']})",
        f"store: {result['jobs']:,} jobs over {result['days']} days, {RECIPES} recipes; "
        f"seeded in {result['seed_seconds']:.1f} s; upgrade 0004 -> {SCHEMA_HEAD} took "
        f"{result['migration_seconds']:.1f} s; file {result['db_mb']['before']:.0f} MB -> "
        f"{result['db_mb']['after']:.0f} MB",
        f"median of {result['repeat']} runs after 1 warm-up",
        "",
        f"{'query':<30} {'before ms':>10} {'after ms':>10} {'speed-up':>9} {'target':>8}",
        f"{'-' * 30} {'-' * 10} {'-' * 10} {'-' * 9} {'-' * 8}",
    ]
    for name, q in result["queries"].items():
        b, a = q["before"]["median_ms"], q["after"]["median_ms"]
        goal = q["target_ms"]
        verdict = "" if goal is None else f"<={goal:g} {'ok' if a <= goal else 'MISS'}"
        lines.append(f"{name:<30} {b:>10.1f} {a:>10.1f} {b / a:>8.1f}x {verdict:>8}")
    for label in ("before", "after"):
        lines += ["", f"EXPLAIN QUERY PLAN ({label})"]
        for name, statements in result["plans"][label].items():
            lines.append(f"  {name}:")
            for item in statements:
                lines.append(f"    {item['sql']}")
                lines += [f"      {detail}" for detail in item["plan"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the store")
    parser.add_argument("--days", type=int, default=60, help="days the jobs are spread over")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--keep", type=Path, help="build the stores in DIR and keep them")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = {
        "benchmark": "bench_history",
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "jobs": args.jobs,
        "days": args.days,
        "repeat": args.repeat,
        "machine": machine(sqlite=sqlite3.sqlite_version),
        **measure(args.jobs, args.days, args.repeat, args.keep),
    }
    result["total_seconds"] = time.perf_counter() - started
    table = render(result) + f"\n\ntotal {result['total_seconds']:.0f} s"
    return emit(result, table, args.json)


if __name__ == "__main__":
    sys.exit(main())
