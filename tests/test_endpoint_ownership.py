"""Who owns a callable endpoint and what a caller is told, through a real server: a started
recipe whose notebook broke keeps the path it held (503) until it stops; a recipe edited onto
a served path never takes it over, however both files were saved since; a retry after a 504
gets the answer of the version its job ran; a client is told nothing of the endpoints it may
not call; and an over-long delivery id is refused as an over-long Idempotency-Key is."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.studio import Studio
from tests.conftest import wait_for, write_recipe
from tests.servers import API, Served, serving

#: The callables of the workspace, by name under projects/mine/, at their first path.
CALLABLES = {
    "echo": "echo",
    "echo3": "echo3",
    "e4": "q4",
    "e5": "p5",
    "c1": "c1",
    "c2": "c2",
    "solo": "solo",
}


def _callable(root: Path, name: str, path: str) -> None:
    """A callable recipe at /call/`path` that answers which recipe it is."""
    write_recipe(
        root,
        f"mine/{name}",
        parameters="delay: float = 0",
        cells=("import lpstudio.kernel as lp", f"lp.respond({{'who': {name!r}}})"),
        metadata={"title": name, "timeout": 120, "trigger": {"kind": "callable", "path": path}},
    )


def _slow(root: Path) -> None:
    """mine/slow at /call/slow: answers {"ok": true} after the event's `sleep` seconds."""
    write_recipe(
        root,
        "mine/slow",
        parameters="delay: float = 0",
        cells=(
            "import time\nimport lpstudio.kernel as lp",
            "time.sleep(float(lp.event.get('sleep', 0)))\nlp.respond({'ok': True})",
        ),
        metadata={
            "title": "slow",
            "timeout": 120,
            "trigger": {
                "kind": "callable",
                "path": "slow",
                "response_schema": {"type": "object", "required": ["ok"]},
            },
        },
    )


def _notebook(root: Path, name: str) -> Path:
    return root / "projects" / "mine" / f"{name}.ipynb"


def _edit(root: Path, name: str, old: str, new: str) -> None:
    """Edits a started recipe's notebook as a save would, saved a minute after its start."""
    notebook = _notebook(root, name)
    text = notebook.read_text()
    assert old in text, text
    notebook.write_text(text.replace(old, new))
    later = time.time() + 60
    os.utime(notebook, (later, later))


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The callables, each started in CALLABLES' order, and mine/slow (call timeout 1 s);
    mine/hook, a webhook recipe taking unsigned deliveries."""
    root = tmp_path_factory.mktemp("ownership") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        for name, path in CALLABLES.items():
            _callable(root, name, path)
            studio.start(f"mine/{name}.ipynb")
        _slow(root)
        studio.start("mine/slow.ipynb")
        studio.save_settings("mine/slow.ipynb", call_timeout=1)
        write_recipe(root, "mine/hook", metadata={"title": "hook", "trigger": {"kind": "webhook"}})
    return root


@pytest.fixture(scope="module")
def served(ws: Path) -> Iterator[Served]:
    with serving(ws, name="ownership") as running:
        yield running


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return served.client_token()


def post(served: Served, token: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}{API}/call/{path}",
        content=json.dumps(body).encode(),
        headers={"API-TOKEN": token, **headers},
        timeout=60,
    )


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["fix"], error
    return dict(error)


def problem(served: Served, name: str) -> dict[str, Any] | None:
    """The endpoint problem a person sees for mine/`name`."""
    detail = served.api("alice", "GET", f"/recipes/mine/{name}.ipynb")
    assert detail.status_code == 200, detail.text
    return detail.json()["endpoint_problem"]  # type: ignore[no-any-return]


def jobs_of(served: Served, recipe: str) -> list[dict[str, Any]]:
    found = served.api("alice", "GET", "/jobs", params={"recipe": recipe, "limit": 1000})
    return list(found.json()["jobs"])


# -- defect 1: a broken holder keeps its path ------------------------------------------------


def test_a_holder_whose_notebook_broke_keeps_its_path_until_it_stops(
    served: Served, token: str, ws: Path
) -> None:
    # Broken, mine/echo handed /call/echo to mine/echo3, which had been refused it: the bot's
    # request ran another recipe's code.
    _edit(ws, "echo3", '"path": "echo3"', '"path": "echo"')
    answered = post(served, token, "echo", {})
    assert answered.status_code == 200 and answered.json() == {"who": "echo"}, answered.text
    _notebook(ws, "echo").write_text("garbage\n")  # a save in the middle of an edit
    for _ in range(2):
        answer = post(served, token, "echo", {})
        broken = error_of(answer, 503)
        # The bot is told to retry, not which file breaks (its admin reads that in the log).
        assert broken["code"] == "RecipeNotReady" and broken["field"] == "recipe", broken
        assert answer.headers["Retry-After"] == "60" and "mine/" not in answer.text, answer.text
    assert jobs_of(served, "mine/echo3.ipynb") == []
    shown = problem(served, "echo3")
    assert shown is not None and "mine/echo.ipynb" in shown["message"], shown
    # Nor does a start take it meanwhile: echo3 stopped, and started again onto it.
    assert served.api("alice", "POST", "/recipes/mine/echo3.ipynb/stop").status_code == 200
    refused = served.api("alice", "POST", "/recipes/mine/echo3.ipynb/start")
    assert refused.status_code == 400 and "mine/echo.ipynb" in refused.text, refused.text
    # Stopping the broken holder hands the path over, as the fix says.
    stopped = served.api("alice", "POST", "/recipes/mine/echo.ipynb/stop")
    assert stopped.status_code == 200, stopped.text
    assert served.api("alice", "POST", "/recipes/mine/echo3.ipynb/start").status_code == 200
    handed = post(served, token, "echo", {})
    assert handed.status_code == 200 and handed.json() == {"who": "echo3"}, handed.text
    assert problem(served, "echo3") is None


# -- defect 2: a holder saved since it started keeps its path --------------------------------


def test_a_recipe_moved_onto_a_served_path_never_takes_it_over(
    served: Served, token: str, ws: Path
) -> None:
    # Both files saved since their starts, the first started (e4) took /call/p5 from e5.
    _edit(ws, "e5", "lp.respond({'who': 'e5'})", "lp.respond({'who': 'e5'})  # saved")
    _edit(ws, "e4", '"path": "q4"', '"path": "p5"')
    for _ in range(2):
        answered = post(served, token, "p5", {})
        assert answered.status_code == 200 and answered.json() == {"who": "e5"}, answered.text
    assert problem(served, "e5") is None
    moved = problem(served, "e4")
    assert moved is not None and moved["field"] == "trigger.path", moved
    assert "mine/e5.ipynb" in moved["message"] and "/call/p5" in moved["message"], moved
    # Saved again and again, the holder keeps it.
    _edit(ws, "e5", "# saved", "# saved again")
    answered = post(served, token, "p5", {})
    assert answered.status_code == 200 and answered.json() == {"who": "e5"}, answered.text


# -- defect 3: a keyed retry after a 504 is the job's one answer -----------------------------


def test_a_keyed_retry_after_a_504_is_checked_against_the_version_its_job_ran(
    served: Served, token: str, ws: Path
) -> None:
    # The retry was checked against the schema edited meanwhile: 502 for good, while
    # /calls/<job> answered 200.
    late = error_of(post(served, token, "slow", {"sleep": 3}, **{"Idempotency-Key": "edit1"}), 504)
    _edit(ws, "slow", '"ok"', '"ok", "zzz"')

    def ended() -> str | None:
        status = served.api("alice", "GET", f"/jobs/{late['job']}").json()["status"]
        return status if status in ("succeeded", "failed", "cancelled") else None

    assert wait_for(ended, timeout=120, what=f"job {late['job']}") == "succeeded"
    for _ in range(2):
        again = post(served, token, "slow", {"sleep": 3}, **{"Idempotency-Key": "edit1"})
        assert again.status_code == 200 and again.json() == {"ok": True}, again.text
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Lpstudio-Job"] == str(late["job"])
        polled = httpx.get(
            f"{served.url}{API}/calls/{late['job']}", headers={"API-TOKEN": token}, timeout=60
        )
        assert polled.status_code == 200 and polled.json() == {"ok": True}, polled.text


# -- defect 4: a client is told nothing of the endpoints it may not call ---------------------


def test_a_client_is_told_only_of_the_path_it_called(served: Served, ws: Path) -> None:
    # A client for /call/solo only was told "the started recipe mine/c2.ipynb is not served:
    # its trigger.path 'c1' is the endpoint /call/c1 of mine/c1.ipynb".
    tokens = {}
    for name in ("solo", "c2"):
        made = served.api(
            "alice",
            "POST",
            "/api-clients",
            json={"name": f"only-{name}", "endpoints": [name], "rate_per_minute": 100},
        )
        assert made.status_code == 201, made.text
        tokens[name] = made.json()["token"]
    _edit(ws, "c2", '"path": "c2"', '"path": "c1"')
    stopped = served.api("alice", "POST", "/recipes/mine/solo.ipynb/stop")
    assert stopped.status_code == 200, stopped.text
    gone = error_of(post(served, tokens["solo"], "solo", {}), 404)
    said = json.dumps(gone)
    assert gone["field"] == "path" and "'solo'" in gone["message"], gone
    for other in ("mine/c1", "mine/c2", "/call/c1", "'c1'", "'c2'", "ipynb"):
        assert other not in said, gone
    # The path's own recipe, moved onto another's, is not named either: the client was told
    # of mine/c1's endpoint and to `POST .../recipes/mine/c1.ipynb/stop`, which answers a
    # token 403. It asks the recipe's admin.
    moved = error_of(post(served, tokens["c2"], "c2", {}), 404)
    assert moved == gone | {"message": "no started callable recipe at 'c2'"}, moved
    assert "ask the recipe's admin" in moved["fix"], moved
    for other in ("mine/c1", "mine/c2", "/call/c1", "'c1'", "ipynb", "stop"):
        assert other not in json.dumps(moved), moved
    # People still see every conflict.
    shown = problem(served, "c2")
    assert shown is not None and "mine/c1.ipynb" in shown["message"], shown


# -- defect 5: an over-long delivery id is refused, not cut ----------------------------------


def test_an_over_long_delivery_id_is_refused_as_an_over_long_idempotency_key(
    served: Served, token: str
) -> None:
    # Cut to 255 characters, ids that differ past it were one delivery: a new delivery was
    # answered `repeated` (dropped), another 409.
    long = "A" * 255
    refused = error_of(post(served, token, "c1", {}, **{"Idempotency-Key": f"{long}1"}), 400)
    hook = served.api("alice", "GET", "/recipes/mine/hook.ipynb").json()["trigger"]["hook"]
    for suffix, body in (("1", {"n": 1}), ("2", {"n": 1}), ("3", {"n": 2})):
        answer = httpx.post(
            f"{served.url}{hook}",
            content=json.dumps(body).encode(),
            headers={"Idempotency-Key": f"{long}{suffix}"},
            timeout=60,
        )
        error = error_of(answer, 400)
        assert error == refused, error
    assert refused["field"] == "Idempotency-Key", refused
    assert "256 characters" in refused["message"], refused
    assert jobs_of(served, "mine/hook.ipynb") == []
    accepted = httpx.post(
        f"{served.url}{hook}", json={"n": 1}, headers={"Idempotency-Key": long}, timeout=60
    )
    assert accepted.status_code == 202, accepted.text
