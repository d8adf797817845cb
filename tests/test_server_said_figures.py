"""Numbers the REST API says rather than leaves to its reader, through a real `lpstudio
serve` on 127.0.0.1: a callable recipe's call timeout, its own or the serving app's (the lab
showed "the server's" for 15 s), and the recipients a job's result reports, counted by the
rule `lpstudio show` and the dashboard count by (the Jobs panel counted `2.5` its own way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lpstudio.studio import Studio
from tests.conftest import run_cli, set_job, write_recipe
from tests.servers import serving

CALLABLE = {
    "title": "bot",
    "trigger": {"kind": "callable", "path": "bot", "input_schema": {"type": "object"}},
}
BATCHES = [
    {"batch": 1, "recipients": 3, "message": "HTTP 500"},
    {"address": "+1555", "reason": "x"},
]


@pytest.fixture
def recipes(ws: Path) -> Path:
    """`p/bot` callable, `p/plain` run by hand."""
    write_recipe(ws, "p/bot", metadata=CALLABLE)
    write_recipe(ws, "p/plain")
    return ws


def detail(served: Any, recipe: str) -> dict[str, Any]:
    answer = served.api("alice", "GET", f"/recipes/{recipe}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_recipe_detail_says_the_call_timeout_its_caller_waits(recipes: Path) -> None:
    with serving(recipes, "--LpstudioApp.scheduler=False") as served:
        bot = detail(served, "p/bot.ipynb")
        assert (bot["call_timeout"], bot["call_timeout_default"]) == (None, 15)
        plain = detail(served, "p/plain.ipynb")
        assert (plain["call_timeout"], plain["call_timeout_default"]) == (None, None)

        saved = served.api(
            "alice", "PUT", "/recipes/p/bot.ipynb/settings", json={"call_timeout": 45}
        )
        assert saved.status_code == 200, saved.text
        assert (saved.json()["call_timeout"], saved.json()["call_timeout_default"]) == (45, 15)
        assert detail(served, "p/bot.ipynb")["call_timeout"] == 45

    with serving(
        recipes, "--LpstudioApp.scheduler=False", "--LpstudioApp.call_timeout=40", name="other"
    ) as other:
        bot = detail(other, "p/bot.ipynb")
        assert (bot["call_timeout"], bot["call_timeout_default"]) == (45, 40)
        reset = other.api(
            "alice", "PUT", "/recipes/p/bot.ipynb/settings", json={"call_timeout": None}
        )
        assert reset.status_code == 200, reset.text
        assert (reset.json()["call_timeout"], reset.json()["call_timeout_default"]) == (None, 40)


#: A result, the recipients its job's answer says it reports, and `lpstudio show`'s line of it.
CASES = [
    ({"accepted": 5}, {"accepted": 5}, "accepted 5"),
    ({"accepted": 5.0, "failed": 0}, {"accepted": 5, "failed": 0}, "accepted 5 · failed 0"),
    ({"accepted": 2.5}, None, '{"accepted": 2.5}'),
    (
        {"accepted": 1, "rejected": BATCHES, "skipped": 2},
        {"accepted": 1, "rejected": 4},
        "accepted 1 · rejected 4 · skipped 2",
    ),
    ({"rows": 7}, None, '{"rows": 7}'),
    (None, None, None),
]


def test_a_job_says_the_recipients_its_result_reports_as_show_counts_them(ws: Path) -> None:
    write_recipe(ws, "p/send")
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/send.ipynb", "{}", {}, "alice")
        jobs = []
        for result, _, _ in CASES:
            job = studio.store.create_job(
                recipe="p/send.ipynb", version_id=version, trigger="manual", user="alice"
            ).id
            set_job(studio.store, job, status="succeeded", result=result)
            jobs.append(job)
    with serving(ws, "--LpstudioApp.scheduler=False") as served:
        for job, (_, recipients, _) in zip(jobs, CASES, strict=True):
            one = served.api("alice", "GET", f"/jobs/{job}")
            assert one.status_code == 200, one.text
            assert one.json()["recipients"] == recipients, one.json()["result"]
        listed = served.api("alice", "GET", "/jobs").json()["jobs"][0]
        assert "recipients" not in listed and "result" not in listed  # a row has neither
    for job, (_, _, shown) in zip(jobs, CASES, strict=True):
        said = run_cli("show", str(job), "--workspace", str(ws)).stdout
        if shown is not None:
            assert f"result:   {shown}\n" in said, said
