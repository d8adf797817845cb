"""One count of Proactive recipients, whichever view reads it (reviewer X): the dashboard
counted a request LivePerson refused whole (`rejected`) nowhere, a recipe's own count of
failures (`"failed": 2`) not at all, and a whole `accepted` written as a float (`5.0`, a
pandas sum of a column with a NaN) neither there nor on `lpstudio show`'s result line.
"""

from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lpstudio.store
from lpstudio.metrics import dashboard_metrics
from lpstudio.proactive import SQLITE_FIGURES, proactive
from lpstudio.sandbox import Sandbox
from lpstudio.store import Store
from lpstudio.studio import Studio

from .conftest import run_cli, run_json, write_recipe
from .test_metrics import History, at
from .test_store_schema import migrate_to
from .test_templates import workspace  # noqa: F401 (a fixture)

#: A recipe storing counts as pandas gives them, and as a recipe may write them itself.
COUNTS = (
    "import numpy as np\nimport lpstudio.kernel as lp",
    "ok = np.array([1, 1, 1, 1, 1, 0, 0])",
    "lp.set_result({'accepted': ok.sum(), 'failed': (ok == 0).sum()} if kind == 'numpy' "
    "else {'accepted': 5.0, 'failed': [], 'rejected': [{'recipients': 2.0, 'message': 'x'}]})",
)
#: `lpstudio show`'s line of counts.
SHOWN = re.compile(r"^\s*result:\s+(.*)$", re.MULTILINE)


def shown_counts(root: Path, job_id: int) -> tuple[int, int]:
    """(accepted, failed + rejected) as `lpstudio show` says them."""
    shown = run_cli("show", str(job_id), "--workspace", str(root))
    line = SHOWN.search(shown.stdout)
    assert line is not None, shown.stdout
    said = dict(part.rsplit(" ", 1) for part in line[1].split(" · ") if " " in part)
    counts = {key: int(value) for key, value in said.items() if value.isdigit()}
    return counts.get("accepted", 0), counts.get("failed", 0) + counts.get("rejected", 0)


def test_the_dashboard_counts_the_recipients_show_counts(
    workspace: Path,  # noqa: F811 (the fixture)
    sandbox: Sandbox,
) -> None:
    """Real jobs on the sandbox: a reminder whose request LivePerson refused whole, and a
    recipe's results of numpy integers and of whole floats."""
    code, refused = run_json(
        "run", "demo/payment_reminder", "-p", "today", "2026-12-01", "-p", "days_ahead", "30",
        "-p", "handoff", "H9999999999", "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 1 and refused["status"] == "failed", refused
    assert refused["result"]["rejected"] and not refused["result"]["accepted"], refused
    write_recipe(workspace, "an/counts", parameters="kind = 'numpy'", cells=COUNTS)
    jobs = [refused["id"]]
    for kind in ("numpy", "floats"):
        code, job = run_json("run", "an/counts", "-p", "kind", kind, "--workspace", str(workspace))
        assert code == 0, job
        jobs.append(job["id"])

    shown = {job_id: shown_counts(workspace, job_id) for job_id in jobs}
    rejected = sum(entry["recipients"] for entry in refused["result"]["rejected"])
    assert shown == {jobs[0]: (0, rejected), jobs[1]: (5, 2), jobs[2]: (5, 2)}
    now = datetime.now(UTC)
    with Studio.open(workspace, user="alice") as studio:
        figures = studio.dashboard(now - timedelta(days=1), now + timedelta(hours=1))
        assert all(proactive(studio.job(j).result) == shown[j] for j in jobs)
    accepted = sum(row["accepted"] for row in figures["proactive"])
    failed = sum(row["failed"] for row in figures["proactive"])
    assert (accepted, failed) == (10, rejected + 4)


#: Results and what each counts: (accepted, refused), or None for one that reports none.
RESULTS: list[tuple[Any, tuple[int, int] | None]] = [
    ({"accepted": 3, "failed": [{}, {"recipients": 4}]}, (3, 5)),
    ({"accepted": 5.0, "failed": 2.0}, (5, 2)),
    ({"accepted": 2.5, "rejected": [{"recipients": 3, "message": "invalid template"}]}, (0, 3)),
    ({"rejected": [{"recipients": "7"}, "x"], "uncertain": [{"recipients": 9}]}, (0, 2)),
    ({"accepted": 10**15, "failed": True}, None),  # 16 digits is no count, nor a boolean
    ({"accepted": "many", "not_sent": 4}, None),
]


def figures_follow_the_rule(store: Store) -> None:
    """Each result counts on the dashboard as `proactive` counts it, read from the kept
    counts (whole days) and from the jobs (a partial hour) alike; a store of 0019 upgraded
    corrects what it kept, and a downgrade gives back 0019's figures."""
    migrate_to(store, "0019")
    history = History(store)
    for day, (result, _) in enumerate(RESULTS, start=1):
        history.job("a/one.ipynb", "succeeded", at(day, 10), result)

    def shown(start: datetime, end: datetime) -> dict[int, tuple[int, int]]:
        found = dashboard_metrics(store, start, end)["proactive"]
        return {int(row["day"][-2:]): (row["accepted"], row["failed"]) for row in found}

    before = shown(at(1), at(20))
    store.migrate()
    expected = {day: counts for day, (_, counts) in enumerate(RESULTS, 1) if counts is not None}
    assert shown(at(1), at(20)) == expected  # whole days: the kept counts
    assert shown(at(1, 9, 30), at(len(RESULTS), 10, 30)) == expected  # the jobs themselves
    assert all(proactive(result) == counts for result, counts in RESULTS)
    history.job("a/one.ipynb", "succeeded", at(1, 11), {"failed": 1, "rejected": 1})
    assert shown(at(1), at(2)) == {1: (3, 7)}  # kept by the count triggers as written
    migrate_to(store, "0019", down=True)
    assert shown(at(2), at(20)) == {d: n for d, n in before.items() if d != 1}


def test_the_kept_counts_follow_the_rule_after_an_upgrade(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    try:
        figures_follow_the_rule(store)
    finally:
        store.close()


def test_the_dashboard_s_query_reads_the_rule_the_count_triggers_keep() -> None:
    """`lpstudio.proactive` and migration 0020 (frozen, as migrations are) say one rule."""
    path = Path(lpstudio.store.__file__).parent / "migrations/versions/0020_proactive_refusals.py"
    spec = importlib.util.spec_from_file_location("proactive_refusals", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert migration.sqlite_figures("jobs.result", "json_valid(jobs.result)") == SQLITE_FIGURES
