"""A `Path` parameter's default, the one a job runs with when no value is given or saved,
is kept under `projects/` as a given value is: `data: Path = Path('../../secret.key')` had
every run, and an operator's rerun, read the workspace's secret key.

A default that leads out makes the parameter one a run must be given (or have saved),
refused before any job naming it, as a default the recipe's refinements refuse does. One
real `lpstudio serve` on loopback and real kernels; the CLI in-process where no job runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result

from lpstudio.errors import InputError
from lpstudio.studio import Studio
from tests.conftest import job_rows, write_recipe
from tests.servers import Served, serving
from tests.test_secrets import ECHO_CONNECTOR

READ = (
    "import lpstudio.kernel as lp\n"
    "t = Path(data).read_bytes()\n"
    "lp.set_result({'n': len(t), 'head': t[:60].decode('latin1')})"
)
MANUAL = {"title": "pathy", "trigger": {"kind": "manual"}}


def _pathy(ws: Path, default: str, name: str = "lk/pathy") -> None:
    """The reviewer's recipe: it reads the file its `data` parameter names."""
    parameters = f"from pathlib import Path\ndata: Path = {default}  # a file"
    write_recipe(ws, name, parameters=parameters, cells=(READ,), metadata=MANUAL)


def _refused_naming(answer: dict[str, object], field: str) -> None:
    error = answer["error"]
    assert isinstance(error, dict), answer
    assert error["field"] == field, error
    assert "projects/" in error["message"], error
    assert "the default of the parameters cell" in error["message"], error
    assert f"give {field} a value" in error["fix"] and "under projects/" in error["fix"], error


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Served, int]]:
    """A workspace where lk/pathy ran once on a default inside projects/ (the job an
    operator reruns), served."""
    ws = tmp_path_factory.mktemp("pathdefaults") / "ws"
    with Studio.init(ws, accept_terms=True, admin="alice") as studio:
        studio.store.ensure_user("otto", "operator")
        _pathy(ws, "Path('data.csv')")
        (ws / "projects/lk/data.csv").write_text("id\n1\n")
        ran = studio.run("lk/pathy")
    with serving(ws) as server:
        yield ws, server, ran.id


def test_a_default_inside_projects_still_runs(served: tuple[Path, Served, int]) -> None:
    _, server, job = served
    shown = server.api("otto", "GET", f"/jobs/{job}").json()
    assert shown["status"] == "succeeded", shown
    assert shown["result"] == {"n": 5, "head": "id\n1\n"}, shown


def test_a_default_leading_out_of_projects_is_refused_before_any_job(
    served: tuple[Path, Served, int],
) -> None:
    """The run was accepted and its result held the workspace's key; a rerun of a job that
    ran on an earlier default too."""
    ws, server, job = served
    _pathy(ws, "Path('../../secret.key')")
    before = job_rows(ws)

    run = server.api("alice", "POST", "/recipes/lk/pathy.ipynb/run", json={})
    rerun = server.api("otto", "POST", f"/jobs/{job}/rerun")

    for answer in (run, rerun):
        assert answer.status_code == 400, answer.text
        _refused_naming(answer.json(), "data")
        assert (ws / "secret.key").read_text()[:8] not in answer.text
    assert job_rows(ws) == before


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ("data: Path = Path('/etc/passwd')", "data"),
        ("data: Path = '~/secret.key'", "data"),
        ("data = Path('file:///etc/passwd')", "data"),
        ("data: list[Path] = ['ok.csv', '../../../secret.key']", "data.1"),
        ("data: dict[str, Path] = {'a': 'x/../../../../secret.key'}", "data.a"),
    ],
)
def test_every_default_that_leads_out_is_refused_at_run_and_start(
    ws: Path, cli: Callable[..., Result], parameters: str, field: str
) -> None:
    write_recipe(ws, "lk/deep/out", parameters=f"from pathlib import Path\n{parameters}")
    for command in (("run", "--prepare-only"), ("run",), ("start",)):
        said = cli(*command[:1], "lk/deep/out", *command[1:], "--json")
        assert said.exit_code == 2, said.output
        _refused_naming(json.loads(said.stdout), field)
    assert job_rows(ws) == 0
    assert not (ws / "history/prepared").exists()


def test_a_default_that_climbs_but_stays_under_projects_runs(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """`../shared/list.csv` from projects/lk/ stays under projects/, as a given value may."""
    _pathy(ws, "Path('../shared/list.csv')")
    prepared = cli("run", "lk/pathy", "--prepare-only", "--json")
    assert prepared.exit_code == 0, prepared.output


def test_a_value_given_or_saved_stands_in_for_a_default_that_leads_out(
    ws: Path, cli: Callable[..., Result]
) -> None:
    _pathy(ws, "Path('../../secret.key')")
    given = cli("run", "lk/pathy", "-p", "data", "data.csv", "--prepare-only", "--json")
    assert given.exit_code == 0, given.output
    assert cli("settings", "lk/pathy", "-p", "data", "data.csv").exit_code == 0
    prepared = cli("run", "lk/pathy", "--prepare-only", "--json")
    assert prepared.exit_code == 0, prepared.output


def test_a_default_that_links_out_of_projects_is_refused(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """`Path('k.csv')`, k.csv a link to ../../secret.key, read the key as the text did."""
    _pathy(ws, "Path('k.csv')")
    (ws / "projects/lk/k.csv").symlink_to("../../secret.key")
    for command in (("run", "--prepare-only"), ("start",)):
        said = cli(*command[:1], "lk/pathy", *command[1:], "--json")
        assert said.exit_code == 2, said.output
        _refused_naming(json.loads(said.stdout), "data")


def test_a_poll_or_a_schedule_does_not_run_a_default_leading_out(ws: Path) -> None:
    """A recipe started before its default was changed: its poll and its schedule queued
    jobs that read ../../secret.key (only runs and Start checked the defaults)."""
    from lpstudio.scheduler import Scheduler

    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "echo.py").write_text(ECHO_CONNECTOR)
    poll = {"kind": "poll", "connection": "echo", "trigger": "rows", "interval_minutes": 1}
    echo = {"title": "Rows", "connections": {"echo": {"type": "echo"}}, "trigger": poll}
    cells = ("print(len(data.read_bytes()))",)
    leading_out = "from pathlib import Path\ndata: Path = Path('../../secret.key')  # a file"
    write_recipe(ws, "lk/polled", leading_out, cells, echo)
    schedule = {"title": "Tick", "trigger": {"kind": "schedule", "cron": "* * * * *"}}
    write_recipe(ws, "lk/ticked", leading_out, cells, schedule)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("echo", "echo", {"key": "echo-key-5f3a9c"}, "alice")
        with pytest.raises(InputError) as refused:
            studio.poll("lk/polled")
        assert refused.value.field == "data", refused.value
        studio.save_settings("lk/ticked", {"data": "ok.csv"})
        (ws / "projects" / "lk" / "ok.csv").write_text("x")
        studio.start("lk/ticked")
        studio.save_settings("lk/ticked", {}, reset=["data"])  # back to the default
        scheduler = Scheduler(studio)
        now = studio.store.now() + timedelta(minutes=2)
        assert scheduler.tick(now) == []
        assert studio.jobs() == []
