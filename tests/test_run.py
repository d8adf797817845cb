"""Running recipes on real kernels: success, failures, death, timeout, cancel, rerun, races."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from click.testing import Result
from sqlalchemy import select

from lpstudio.errors import InputError
from lpstudio.failures import describe_error
from lpstudio.metrics import dashboard_metrics
from lpstudio.models import DailyCount, Delivery, Job, utcnow
from lpstudio.server.fixes import in_rest_terms
from lpstudio.server.handlers import PREFIX
from lpstudio.store import worker_id
from lpstudio.studio import Studio
from lpstudio.widgets.dashboard import day_range

from .conftest import LPSTUDIO, job_rows, run_cli, run_json, wait_for, write_recipe
from .test_liveperson import campaigns
from .test_secrets import METADATA as CAMPAIGN_METADATA
from .test_secrets import SEND

CONTEXT_CELL = """\
import lpstudio.kernel as lp
ctx = lp.context()
lp.set_result({"job": ctx.job_id, "recipe": ctx.recipe, "x": x, "params": ctx.parameters})
"""


def test_a_run_writes_a_valid_output_notebook_and_its_result(ws: Path) -> None:
    write_recipe(ws, "p/ok", parameters="x: int = 1  # a number", cells=(CONTEXT_CELL,))
    code, job = run_json("run", "p/ok", "-p", "x", "41", "--workspace", str(ws))
    assert code == 0, job
    assert job["status"] == "succeeded" and job["error"] is None
    assert job["result"] == {
        "job": job["id"],
        "recipe": "p/ok.ipynb",
        "x": 41,
        "params": {"x": 41},
    }
    assert job["parameters"] == {"x": 41}
    assert job["progress"]["done"] == job["progress"]["total"] == 3
    output = Path(job["output_path"])
    assert output.is_relative_to(ws / "history")
    nb = nbformat.read(output, as_version=4)
    nbformat.validate(nb)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "x = 41" in injected[0].source
    assert nb.metadata.papermill["parameters"] == {"x": 41}


def test_the_job_history_frame_refuses_a_filter_no_job_could_match(ws: Path) -> None:
    """A misspelt status listed nothing (as if no job had failed) and a negative limit
    every job, where the CLI and the REST API refuse both."""
    write_recipe(ws, "p/simple")
    with Studio.open(ws, user="alice") as studio:
        studio.run("p/simple")
        refusals = (
            ({"status": "Failed"}, "status"),
            ({"limit": -5}, "limit"),
            ({"since": "yesterday"}, "since"),
            ({"since": 3}, "since"),
            ({"offset": "a"}, "offset"),
            ({"offset": -1}, "offset"),
        )
        for filters, field in refusals:
            with pytest.raises(InputError) as refused:
                studio.jobs_frame(**filters)
            assert refused.value.field == field
        assert list(studio.jobs_frame(status="succeeded", limit=1)["status"]) == ["succeeded"]
        assert len(studio.jobs_frame(limit=None)) == 1  # every job, as before
        # `since` as `lpstudio jobs --since` takes it (it was a SQLAlchemy error with SQL).
        assert len(studio.jobs_frame(since="2h")) == 1
        assert len(studio.jobs_frame(since="2999-01-01")) == 0


def test_a_failing_cell_fails_the_job_with_its_error(ws: Path) -> None:
    write_recipe(ws, "p/fail", cells=("a = 1", "raise ValueError('bad invoice')", "b = 2"))
    proc = run_cli("run", "p/fail", "--workspace", str(ws), "--json")
    assert proc.returncode == 1
    job = json.loads(proc.stdout)
    assert job["status"] == "failed"
    error = job["error"]
    assert error["ename"] == "ValueError" and error["evalue"] == "bad invoice"
    assert error["cell"] == 2 and error["traceback"]
    assert job["progress"] == {"done": 2, "total": 4}  # the failing cell is not done
    nb = nbformat.read(job["output_path"], as_version=4)
    assert "An Exception was encountered" in nb.cells[0].source  # papermill's banner
    shown = run_cli("show", str(job["id"]), "--workspace", str(ws))
    assert "ValueError in cell 3 of 4 (In [3]): bad invoice" in shown.stdout
    # and its traceback, down to the failing line of the cell (only the traceback shows it)
    assert "Traceback (most recent call last)" in shown.stdout
    assert "----> 1 raise ValueError('bad invoice')" in shown.stdout


def test_a_dying_kernel_fails_the_job_and_does_not_hang(ws: Path) -> None:
    write_recipe(ws, "p/die", cells=("import os", "os._exit(1)", "never = True"))
    code, job = run_json("run", "p/die", "--workspace", str(ws), timeout=90)
    assert code == 1
    assert job["status"] == "failed"
    assert job["error"]["evalue"].startswith("the recipe's kernel died while the cell ran")
    nb = nbformat.read(job["output_path"], as_version=4)
    assert "the recipe's kernel died" in nb.cells[0].source


def test_a_timeout_fails_the_job(ws: Path) -> None:
    write_recipe(ws, "p/slow", cells=("import time", "time.sleep(600)"))
    code, job = run_json("run", "p/slow", "--timeout", "2", "--workspace", str(ws), timeout=60)
    assert code == 1
    assert job["status"] == "failed"
    assert job["error"]["ename"] == "Timeout"
    assert job["error"]["evalue"] == "timed out after 2 s (the job's own timeout)"
    assert job["error"]["fix"] == (  # its rerun: a new run would send its recipients again
        "rerun it with a longer timeout, in seconds, which sends nothing its delivery ledger "
        f"holds again: `lpstudio rerun {job['id']} --timeout SECONDS`"
    )


def test_metadata_timeout_applies_too(ws: Path) -> None:
    write_recipe(
        ws,
        "p/slowmeta",
        cells=("import time", "time.sleep(600)"),
        metadata={"title": "slow", "timeout": 1.5},
    )
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/slowmeta")
    assert job.status == "failed" and job.error["ename"] == "Timeout"


def _start_slow_run(ws: Path) -> subprocess.Popen[str]:
    write_recipe(ws, "p/wait", cells=("import time", "time.sleep(600)"))
    return subprocess.Popen(
        [LPSTUDIO, "run", "p/wait", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _running_job(ws: Path) -> int:
    def find() -> int | None:
        with Studio.open(ws, user="alice") as studio:
            jobs = studio.jobs(status="running")
            return jobs[0].id if jobs and jobs[0].cells_done >= 1 else None

    return wait_for(find, what="a running job")


def test_ctrl_c_marks_the_job_cancelled(ws: Path) -> None:
    proc = _start_slow_run(ws)
    job_id = _running_job(ws)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    with Studio.open(ws, user="alice") as studio:
        job = studio.job(job_id)
    assert job.status == "cancelled"
    assert job.finished_at is not None


def test_keyboard_interrupt_in_the_last_cell_cancels_the_job(ws: Path, tmp_path: Path) -> None:
    """In Python (a notebook's Interrupt, a script's Ctrl-C) papermill counts the cell the
    interrupt cut off as complete: when it was the last, the job was recorded succeeded,
    while its output notebook said the cell failed (a campaign's send is the last cell)."""
    started = tmp_path / "last-cell-started"
    write_recipe(
        ws,
        "p/last",
        cells=(f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(600)",),
    )
    before = signal.signal(signal.SIGINT, signal.default_int_handler)

    def interrupt_in_the_last_cell() -> None:
        wait_for(started.exists, what="the last cell")
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: a signal, which wakes a wait

    interrupter = threading.Thread(target=interrupt_in_the_last_cell)
    try:
        with Studio.open(ws, user="alice") as studio:
            interrupter.start()
            with pytest.raises(KeyboardInterrupt):
                studio.run("p/last")
            job = studio.jobs(recipe="p/last")[0]
    finally:
        interrupter.join(60)
        signal.signal(signal.SIGINT, before)
    assert job.status == "cancelled", job.error
    assert job.error["evalue"] == "cancelled by SIGINT" and job.error["cell"] == 1, job.error
    # In [2] marks it, as an exception's, once the client had the kernel's word that the cell
    # started; a Ctrl-C may beat that word to the client (seen under CI's load): then none.
    assert job.error["execution_count"] in (2, None), job.error
    assert (job.cells_done, job.cells_total) == (1, 2)  # the parameters cell; not the last


def test_lpstudio_cancel_stops_a_job_run_by_another_process(ws: Path) -> None:
    proc = _start_slow_run(ws)
    job_id = _running_job(ws)
    code, answer = run_json("cancel", str(job_id), "--workspace", str(ws))
    assert code == 0 and (answer["status"], answer["cancel"]) == ("running", "requested")
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    with Studio.open(ws, user="alice") as studio:
        job = studio.job(job_id)
    assert job.status == "cancelled"


def test_a_killed_run_process_leaves_no_job_running(ws: Path) -> None:
    proc = _start_slow_run(ws)
    job_id = _running_job(ws)
    proc.kill()
    proc.communicate(timeout=30)
    code, job = run_json("show", str(job_id), "--workspace", str(ws))
    assert code == 0
    assert job["status"] == "failed"
    assert "worker lost" in job["error"]["evalue"]
    # Its partial output notebook says why it stops where it does, as a failed job's does.
    banner = nbformat.read(job["output_path"], as_version=4).cells[0]
    assert banner.cell_type == "markdown" and "lpstudio-error" in banner.metadata["tags"]
    assert "lpstudio: worker lost: the process running this job is gone" in banner.source


def test_a_job_queued_by_a_process_that_died_before_starting_it_fails(ws: Path) -> None:
    write_recipe(ws, "p/orphan")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id on this host that no longer runs
    with Studio.open(ws, user="alice") as studio:
        job, finished = studio.dispatch("p/orphan")
        assert job.worker == worker_id()  # queued by this process, which runs it
        assert finished.result(timeout=120).status == "succeeded"
        version = job.version_id
        orphan = studio.store.create_job(
            recipe="p/orphan.ipynb",
            version_id=version,
            trigger="manual",
            user="alice",
            worker=f"{socket.gethostname()}:{gone.pid}",
        )
        waiting = studio.store.create_job(
            recipe="p/orphan.ipynb", version_id=version, trigger="poll", user="alice"
        )
    code, shown = run_json("show", str(orphan.id), "--workspace", str(ws))  # any command reaps
    assert code == 0 and shown["status"] == "failed"
    assert shown["error"]["evalue"] == (
        "worker lost: the process that queued this job is gone before it started"
    )
    code, shown = run_json("show", str(waiting.id), "--workspace", str(ws))
    assert shown["status"] == "queued"  # a scheduler's job waits for a scheduler


def test_rerun_uses_the_same_parameters_and_event_on_the_latest_version(ws: Path) -> None:
    path = write_recipe(ws, "p/re", cells=(CONTEXT_CELL,))
    with Studio.open(ws, user="alice") as studio:
        first = studio.run("p/re", {"x": 5}, event={"order": 7})
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace('"recipe": ctx.recipe', '"recipe": "v2"')
    nbformat.write(nb, path)
    proc = run_cli("rerun", str(first.id), "--workspace", str(ws), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "runs every cell again" in proc.stderr
    second = json.loads(proc.stdout)
    assert second["rerun_of"] == first.id
    assert second["parameters"] == {"x": 5}
    assert second["event"] == {"order": 7}
    assert second["version"] != first.version_id
    assert second["result"]["recipe"] == "v2"


def test_dates_and_paths_in_a_default_list_are_checked_and_injected_as_a_plain_one_is(
    ws: Path,
) -> None:
    """README: a date default is injected as text, and a path default leading out of
    projects/ makes the parameter one a run must be given. In a list, `[date(...)]` reached
    the recipe as dates (it failed once a value was saved, as text), and
    `[Path("../../secret.key")]` was read by the job, which printed the workspace's key."""
    write_recipe(
        ws,
        "p/listed",
        parameters="from datetime import date\n\nholidays: list[date] = [date(2026, 12, 25)]",
        cells=(
            "import lpstudio.kernel as lp\n"
            "lp.set_result({'days': [str(d) for d in holidays], "
            "'types': sorted({type(d).__name__ for d in holidays})})",
        ),
    )
    write_recipe(
        ws,
        "p/escapes",
        parameters='from pathlib import Path\n\nfiles: list[Path] = [Path("../../secret.key")]',
        cells=("print([p.read_bytes() for p in files])",),
    )
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/listed")
        assert job.result == {"days": ["2026-12-25"], "types": ["str"]}, job.error
        assert job.parameters == {"holidays": ["2026-12-25"]}

        with pytest.raises(InputError) as refused:
            studio.run("p/escapes")
        assert refused.value.field.startswith("files"), refused.value
        assert studio.jobs(recipe="p/escapes.ipynb") == []


def test_a_rerun_gives_its_job_s_given_values_over_the_settings_saved_now(ws: Path) -> None:
    """A setting fixed since a job ran (a skill) is the one its rerun uses, and the values
    given by hand are given again: a rerun gave the old settings over the new ones, and its
    job named a version whose settings it had not run with. A scheduled run was given none."""
    write_recipe(
        ws,
        "p/skill",
        parameters='x: int = 1  # a number\nskill: str = "none"  # the skill',
        cells=('import lpstudio.kernel as lp\nlp.set_result({"x": x, "skill": skill})',),
    )
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/skill", {"skill": "sales-old"})
        by_hand = studio.run("p/skill", {"x": 5})
        version = studio.store.snapshot(
            "p/skill.ipynb",
            studio.recipe("p/skill").canonical_json,
            {"parameters": {"skill": "sales-old"}, "connections": {}},
            "alice",
        )
        scheduled = studio.store.create_job(
            recipe="p/skill.ipynb",
            version_id=version,
            trigger="schedule",
            parameters={"skill": "sales-old"},
            given={},
            user="alice",
        )
        studio.store.take_queued([scheduled.id])
        scheduled = studio.executor.run(scheduled.id)
        assert by_hand.result == {"x": 5, "skill": "sales-old"}
        assert scheduled.result == {"x": 1, "skill": "sales-old"}

        studio.save_settings("p/skill", {"skill": "sales-new"})
        again = studio.rerun(by_hand.id)
        once_more = studio.rerun(again.id)  # a rerun's rerun gives the same hand's values
        scheduled_again = studio.rerun(scheduled.id)

        for job in (again, once_more):
            assert job.result == {"x": 5, "skill": "sales-new"}
            assert job.parameters == {"x": 5, "skill": "sales-new"}
        assert scheduled_again.result == {"x": 1, "skill": "sales-new"}
        saved = studio.store.version_settings(again.version_id)["parameters"]
        assert saved == {"skill": "sales-new"}


def test_a_test_job_s_rerun_says_it_is_a_test_again_not_that_side_effects_repeat(
    ws: Path,
) -> None:
    """The studio reruns a Test without asking (it sends nothing); the CLI warned that its
    side effects happen again, and the REST API answered the same."""
    write_recipe(ws, "p/tried", cells=(CONTEXT_CELL,))
    code, tried = run_json("run", "p/tried", "--test", "--workspace", str(ws))
    assert code == 0, tried

    proc = run_cli("rerun", str(tried["id"]), "--workspace", str(ws), "--json")

    assert proc.returncode == 0, proc.stderr
    assert f"note: rerunning job {tried['id']} as the test run it was: nothing is sent" in (
        proc.stderr
    )
    assert "happen again" not in proc.stderr
    assert json.loads(proc.stdout)["trigger"] == "test"


@pytest.mark.parametrize("started", [False, True], ids=["queued", "running"])
def test_a_job_that_has_not_ended_is_not_rerun(ws: Path, started: bool) -> None:
    """A job queued (a stopped recipe's kept event, run at its start) or running would do
    its work twice beside its rerun: the CLI and the REST API refuse it, naming the job and
    how to end it, and queue nothing. (The studio offers Rerun on ended jobs only.)"""
    write_recipe(ws, "p/held", cells=(CONTEXT_CELL,))
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/held.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(recipe="p/held.ipynb", version_id=version, user="alice")
        if started:
            assert studio.store.start_job(job.id, 2, "out.ipynb")
        status = "running" if started else "queued"

    proc = run_cli("rerun", str(job.id), "--workspace", str(ws))

    assert proc.returncode == 2, proc.stderr
    assert f"job {job.id} is {status}: it has not ended" in proc.stderr
    assert f"`lpstudio cancel {job.id}`" in proc.stderr
    assert in_rest_terms(f"cancel it (`lpstudio cancel {job.id}`)") == (
        f"cancel it (POST {PREFIX}/jobs/{job.id}/cancel)"
    )
    with Studio.open(ws, user="alice") as studio:
        assert [j.id for j in studio.jobs(recipe="p/held.ipynb")] == [job.id]


def test_reruns_share_one_ledger_and_a_purged_job_keeps_only_its_outline(
    sandbox_ws: Path, control
) -> None:
    """Workato's job history on real kernels and the sandbox: a rerun of a rerun runs the
    cached event again and sends nobody twice (one ledger for the chain), each listed with
    the job it reran; after the retention period a job keeps its id, status and times, its
    data and output notebook are erased, the dashboard's figures stay, and it can no longer
    be rerun, which says why."""
    write_recipe(sandbox_ws, "campaign/chain", "count: int = 3", (SEND,), CAMPAIGN_METADATA)
    with Studio.open(sandbox_ws, user="alice") as studio:
        first = studio.run("campaign/chain", event={"order": 7})
        second = studio.rerun(first.id)
        third = studio.rerun(second.id)
        chain = (first, second, third)
        assert [job.status for job in chain] == ["succeeded"] * 3
        assert (third.event, third.result["accepted"]) == ({"order": 7}, 0)
        assert [entry["job_id"] for entry in third.result["already_sent"]] == [first.id]
        sent = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
        assert sorted(row["count"] for row in sent) == [1, 1, 1]
        code, listed = run_json("jobs", "--workspace", str(sandbox_ws))
        assert code == 0
        assert [(job["id"], job["trigger"], job["rerun_of"]) for job in listed] == [
            (third.id, "rerun", second.id),
            (second.id, "rerun", first.id),
            (first.id, "manual", None),
        ]
        start, end = day_range(7)
        figures = dashboard_metrics(studio.store, start, end)
        assert figures["proactive"][0]["accepted"] == 3
        outputs = [sandbox_ws / job.output_path for job in chain]
        assert all(path.is_file() for path in outputs)

        assert studio.purge(older_than_days=0) == [job.id for job in chain]

        for job in chain:
            kept = studio.job(job.id)
            assert (kept.status, kept.created_at, kept.started_at, kept.finished_at) == (
                job.status,
                job.created_at,
                job.started_at,
                job.finished_at,
            )
            assert (kept.parameters, kept.event, kept.result, kept.error) == ({}, None, None, None)
            assert kept.output_path is None and kept.rerun_of == job.rerun_of
        assert not any(path.exists() for path in outputs)
        assert dashboard_metrics(studio.store, start, end) == figures
        with pytest.raises(InputError, match="purged after the retention period") as refused:
            studio.rerun(third.id)
        assert refused.value.field == "job"
    refused_cli = run_cli("rerun", str(third.id), "--workspace", str(sandbox_ws))
    assert refused_cli.returncode == 2 and "cannot be rerun" in refused_cli.stderr
    assert len(control.get("/_sandbox/liveperson/campaigns").json()["campaigns"]) == 1


def test_show_bounds_a_large_event_as_it_bounds_a_result(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """A webhook's delivery may be a megabyte: `show` printed it as one line that flooded
    the terminal, where a large result is cut with the way to the whole of it."""
    write_recipe(ws, "p/big", cells=("print(x)",))
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/big", event={"note": "r" * 5000})
    shown = cli("show", str(job.id))
    (line,) = [line for line in shown.output.splitlines() if line.startswith("  event:")]
    assert len(line) < 500 and line.endswith(
        f"(5012 characters; `lpstudio show {job.id} --json` gives the whole event)"
    ), line
    whole = json.loads(cli("show", str(job.id), "--json").output)
    assert whole["event"] == {"note": "r" * 5000}


def test_the_cli_shows_a_job_s_history_as_workato_s_job_view_does(
    ws: Path, cli: Callable[..., Result]
) -> None:
    """`lpstudio jobs` names a rerun's origin and still filters by a recipe deleted since;
    `lpstudio show` gives the trigger data and says when a job was purged; a rerun the
    studio would refuse is refused before its warning that it repeats sends."""
    path = write_recipe(ws, "p/gone", cells=("print(x)",))
    with Studio.open(ws, user="alice") as studio:
        first = studio.run("p/gone", event={"order": 7})
        again = studio.rerun(first.id)
    path.unlink()
    listed = cli("jobs", "--recipe", "p/gone")
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert [row[0] for row in rows] == [str(again.id), str(first.id)]
    assert (" ".join(rows[0][-5:-1]), rows[1][-2]) == (f"rerun of job {first.id}", "manual")
    shown = cli("show", str(first.id))
    assert '  event:    {"order": 7}' in shown.output
    assert "purged" not in shown.output
    with Studio.open(ws, user="alice") as studio:
        assert studio.purge(older_than_days=0) == [first.id, again.id]
    shown = cli("show", str(first.id))
    assert "purged:   data and output erased" in shown.output and "event:" not in shown.output
    assert "params:" not in shown.output  # erased, not empty
    # A purged error keeps its kind and cell, not its message: nothing dangles after them.
    kept = {"ename": "KeyError", "evalue": None, "cell": 2, "execution_count": 3}
    assert describe_error(kept, 3) == "KeyError in cell 3 of 3 (In [3])"
    assert cli("show", str(first.id), "--json").output.count('"purged": true') == 1
    refused = cli("rerun", str(first.id))
    assert refused.exit_code == 2 and "purged after the retention period" in refused.output
    assert "runs every cell again" not in refused.output
    assert cli("jobs", "--recipe", "p/never").exit_code == 2


def test_two_runs_at_once_in_two_processes_take_turns_and_both_succeed(
    ws: Path, tmp_path: Path
) -> None:
    """The recipe's concurrency (1) binds `lpstudio run` across processes: one runs, the
    other waits for its turn, queued, and says so."""
    gate = tmp_path / "gate"  # the job that holds the turn runs until the other waits
    hold = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.01)"
    write_recipe(ws, "p/pair", cells=(hold, "print(x)"))
    said = [tmp_path / f"stderr-{n}" for n in range(2)]
    procs = []
    try:
        for stderr in said:
            with stderr.open("w") as err:
                procs.append(
                    subprocess.Popen(
                        [LPSTUDIO, "run", "p/pair", "--workspace", str(ws)],
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                        text=True,
                    )
                )
        wait_for(
            lambda: any("waits for the turn" in stderr.read_text() for stderr in said),
            what="one of the runs to wait for its turn",
        )
    finally:
        gate.touch()
        codes = [proc.wait(120) for proc in procs]
    assert codes == [0, 0], [stderr.read_text() for stderr in said]
    with Studio.open(ws, user="alice") as studio:
        # In queue order: two processes stamp created_at before they insert, so the newest
        # first of `jobs()` can differ from the order the turn goes by (the job's id).
        first, second = sorted(studio.jobs(), key=lambda job: job.id)
    assert [first.status, second.status] == ["succeeded", "succeeded"]
    assert second.started_at >= first.finished_at
    waited = ["waits for the turn of recipe p/pair.ipynb" in s.read_text() for s in said]
    assert sum(waited) == 1


def test_prepare_only_writes_the_parameterized_notebook_and_runs_nothing(ws: Path) -> None:
    write_recipe(ws, "p/prep")
    code, answer = run_json(
        "run", "p/prep", "-p", "x", "9", "--prepare-only", "--workspace", str(ws)
    )
    assert code == 0 and answer["status"] == "prepared" and answer["id"] is None
    nb = nbformat.read(answer["output_path"], as_version=4)
    assert any("x = 9" in cell.source for cell in nb.cells)
    # Where it was read from and written to, as papermill's --prepare-only records them.
    assert nb.metadata.papermill["input_path"] == str(ws / "projects" / "p" / "prep.ipynb")
    assert nb.metadata.papermill["output_path"] == answer["output_path"]
    assert all(cell.get("outputs", []) == [] for cell in nb.cells if cell.cell_type == "code")
    assert job_rows(ws) == 0


def test_a_prepared_notebook_writes_a_tuple_parameter_as_a_job_does(ws: Path) -> None:
    """`--prepare-only` wrote `pair = ["b", 2]` where the job injects `pair = ("b", 2)`."""
    write_recipe(ws, "p/pairs", parameters='pair: tuple[str, int] = ("a", 1)')
    code, answer = run_json(
        "run", "p/pairs", "-p", "pair", '["b", 2]', "--prepare-only", "--workspace", str(ws)
    )
    assert code == 0, answer
    nb = nbformat.read(answer["output_path"], as_version=4)
    assert any('pair = ("b", 2)' in cell.source for cell in nb.cells), nb.cells


PATHS = """\
from pathlib import Path, PurePath
src: Path = Path("leads.csv")
more: list[Path] = []
named: dict[str, PurePath | None] = {}
pair: tuple[str, Path] = ("a", Path("leads.csv"))
"""
READ_PATHS = """\
import lpstudio.kernel as lp
lp.set_result({
    "src": src.read_text(),
    "more": [p.read_text() for p in more],
    "named": {k: v and v.name for k, v in named.items()},
    "pair": [pair[0], pair[1].read_text()],
})
"""


def test_a_path_parameter_given_a_value_reaches_the_recipe_as_a_path(ws: Path) -> None:
    """`-p src other.csv` reached the recipe as a str: `src.read_text()` failed with
    AttributeError, where the notebook's own default worked."""
    write_recipe(ws, "crm/pathuse", parameters=PATHS, cells=(READ_PATHS,))
    (ws / "projects/crm/other.csv").write_text("id\n2\n")
    given = {"more": '["other.csv"]', "named": '{"a": "other.csv", "b": null}'}

    code, job = run_json(
        "run", "crm/pathuse", "-p", "src", "other.csv",
        *(arg for name, value in given.items() for arg in ("-p", name, value)),
        "-p", "pair", '["b", "other.csv"]', "--workspace", str(ws),
    )  # fmt: skip

    assert code == 0, job
    assert job["result"] == {
        "src": "id\n2\n",
        "more": ["id\n2\n"],
        "named": {"a": "other.csv", "b": None},
        "pair": ["b", "id\n2\n"],
    }
    assert job["parameters"]["src"] == "other.csv"  # kept as text, as JSON holds it


def test_a_prepared_notebook_writes_a_path_parameter_as_a_job_does(ws: Path) -> None:
    write_recipe(ws, "crm/pathuse", parameters=PATHS, cells=(READ_PATHS,))
    code, answer = run_json(
        "run", "crm/pathuse", "-p", "src", "other.csv", "-p", "more", '["a.csv"]',
        "--prepare-only", "--workspace", str(ws),
    )  # fmt: skip
    assert code == 0, answer
    nb = nbformat.read(answer["output_path"], as_version=4)
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    values: dict[str, object] = {}
    exec(injected.source, values)  # what the recipe's next cell sees
    assert values["src"] == Path("other.csv") and values["more"] == [Path("a.csv")]


def test_the_python_api_takes_a_path_object_for_a_path_parameter(ws: Path) -> None:
    """`studio.run(R, {"src": Path("other.csv")})` was refused: "holds a PosixPath, which
    JSON cannot hold", where a date object is taken for a date."""
    write_recipe(ws, "crm/pathapi", parameters=PATHS, cells=(READ_PATHS,))
    with Studio.open(ws, user="alice") as studio:
        prepared = studio.prepare("crm/pathapi", {"src": Path("other.csv")})
        with pytest.raises(InputError) as refused:
            studio.prepare("crm/pathapi", {"src": Path("../../secret.key")})
    nb = nbformat.read(prepared, as_version=4)
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    values: dict[str, object] = {}
    exec(injected.source, values)
    assert values["src"] == Path("other.csv")
    assert refused.value.field == "src"


def test_a_prepared_notebook_leaves_the_recipe_as_it_was_for_the_next_job(ws: Path) -> None:
    """A notebook prepared with x = 7 changed the recipe the process keeps parsed: the next
    job of it, given no parameters, ran with x = 7."""
    write_recipe(ws, "p/prep")
    with Studio.open(ws, user="alice") as studio:
        studio.prepare("p/prep", {"x": 7})
        job = studio.run("p/prep")
    assert job.status == "succeeded" and job.parameters == {}
    nb = nbformat.read(ws / job.output_path, as_version=4)
    assert not any("x = 7" in cell.source for cell in nb.cells)
    assert job.cells_total == len(nb.cells)


def test_a_recipe_saved_from_an_output_notebook_counts_the_cells_it_runs(ws: Path) -> None:
    """A recipe saved from a failed run's output holds that run's error marker and injected
    parameters: papermill drops the one and replaces the other. Its succeeded job showed
    3/5 cells done."""
    with Studio.open(ws, user="alice") as studio:
        write_recipe(ws, "p/saved")
        first = studio.run("p/saved", {"x": 2})
    saved = nbformat.read(ws / first.output_path, as_version=4)
    marker = nbformat.v4.new_markdown_cell("An Exception was encountered (an earlier run)")
    marker.metadata["tags"] = ["papermill-error-cell-tag"]
    saved.cells.insert(0, marker)
    nbformat.write(saved, ws / "projects" / "p" / "saved.ipynb")
    with Studio.open(ws, user="alice") as studio:
        job = studio.run("p/saved", {"x": 5})
    assert job.status == "succeeded"
    assert (job.cells_done, job.cells_total) == (len(saved.cells) - 1,) * 2


def test_history_filters_and_dataframe(ws: Path) -> None:
    write_recipe(ws, "p/a")
    write_recipe(ws, "p/b", cells=("raise RuntimeError('no')",))
    with Studio.open(ws, user="alice") as studio:
        studio.run("p/a")
        studio.run("p/b")
        studio.run("p/a", {"x": 2})
        frame = studio.jobs_frame()
        assert list(frame["status"]) == ["succeeded", "failed", "succeeded"]
        assert set(frame["recipe"]) == {"p/a.ipynb", "p/b.ipynb"}
        assert str(frame["created_at"].dtype).startswith("datetime64")
    code, failed = run_json("jobs", "--status", "failed", "--workspace", str(ws))
    assert code == 0 and [job["recipe"] for job in failed] == ["p/b.ipynb"]
    code, of_a = run_json("jobs", "--recipe", "p/a", "--limit", "1", "--workspace", str(ws))
    assert len(of_a) == 1 and of_a[0]["parameters"] == {"x": 2}
    code, none = run_json("jobs", "--since", "2999-01-01", "--workspace", str(ws))
    assert none == []
    bad = run_cli("jobs", "--since", "yesterday-ish", "--workspace", str(ws))
    assert bad.returncode == 2 and "--since" in bad.stderr
    listed = run_cli("recipes", "--workspace", str(ws))
    assert "failed" in listed.stdout


def test_the_cli_finds_the_workspace_from_the_current_folder(ws: Path) -> None:
    write_recipe(ws, "p/here")
    env = {k: v for k, v in os.environ.items() if k != "LPSTUDIO_WORKSPACE"}
    proc = subprocess.run(
        [LPSTUDIO, "run", "here.ipynb"],
        cwd=ws / "projects" / "p",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout


def test_changes_made_from_the_cli_are_audited_like_the_api_s(ws: Path) -> None:
    write_recipe(ws, "p/audited", parameters="x: int = 1  # a number")
    as_alice = {"env": {"LPSTUDIO_USER": "alice"}}
    steps = (
        ("connections", "add", "crm", "--type", "http", "--field", "base_url=http://127.0.0.1:9"),
        ("connections", "update", "crm", "--field", "retries=1"),
        ("connections", "test", "crm"),
        ("settings", "p/audited", "-p", "x", "2"),
        ("gallery", "try", "payment_reminder", "--project", "billing"),
        ("connections", "remove", "crm"),
    )
    for step in steps:
        proc = run_cli(*step, "--workspace", str(ws), **as_alice)
        tested = step[1] == "test"  # nothing listens on port 9: disconnected, exit 1
        assert proc.returncode == (1 if tested else 0), (step, proc.stderr)
    code, job = run_json("run", "p/audited", "--workspace", str(ws), **as_alice)
    assert code == 0, job
    code, again = run_json("rerun", str(job["id"]), "--workspace", str(ws), **as_alice)
    assert code == 0, again
    code, answer = run_json("cancel", str(job["id"]), "--workspace", str(ws), **as_alice)
    assert code == 0 and answer["cancel"] == "nothing"  # nothing to stop, nothing audited
    said = run_cli("cancel", str(job["id"]), "--workspace", str(ws), **as_alice)
    assert said.stdout == f"job {job['id']} had already ended (succeeded): nothing to cancel\n"

    code, entries = run_json("audit", "--workspace", str(ws))
    assert code == 0
    done = {(e["user"], e["action"], e["target"]) for e in entries}
    assert {
        ("alice", "create_connection", "crm"),
        ("alice", "update_connection", "crm"),
        ("alice", "test_connection", "crm"),
        ("alice", "settings", "p/audited.ipynb"),
        ("alice", "try_template", "billing/payment_reminder.ipynb"),
        ("alice", "delete_connection", "crm"),
        ("alice", "run", "p/audited.ipynb"),
        ("alice", "rerun", "p/audited.ipynb"),
    } <= done
    assert not [e for e in entries if e["action"] == "cancel"]


def test_a_nan_timeout_and_a_sandbox_that_is_no_url_write_nothing(ws: Path, tmp_path: Path) -> None:
    write_recipe(ws, "p/simple")
    for bad in ("nan", "inf", "-1"):  # named by the option (inf and -1 were `timeout`)
        proc = run_cli("run", "p/simple", "--timeout", bad, "--workspace", str(ws))
        assert proc.returncode == 2 and "'--timeout'" in proc.stderr, proc.stderr
    assert job_rows(ws) == 0

    fresh = tmp_path / "b6"
    proc = run_cli("init", str(fresh), "--accept-terms", "--sandbox", "notaurl")
    assert proc.returncode == 2 and "sandbox" in proc.stderr
    assert not fresh.exists()


def test_an_event_holding_nan_is_refused_before_any_job(ws: Path) -> None:
    write_recipe(ws, "p/simple")
    proc = run_cli("run", "p/simple", "--event", '{"total": NaN}', "--workspace", str(ws))
    assert proc.returncode == 2 and "event" in proc.stderr
    with Studio.open(ws, user="alice") as studio:
        try:
            studio.run("p/simple", event={"total": float("inf")})
        except InputError as exc:
            assert exc.field == "event"
        else:
            raise AssertionError("an event holding Infinity was queued")
    assert job_rows(ws) == 0


# -- a stop lpstudio makes is no crash ---------------------------------------------------------

DIED = "Kernel died"  # what nbclient logs of a kernel that died under it


def test_a_timed_out_run_says_it_timed_out_and_no_kernel_died(ws: Path) -> None:
    """lpstudio stops a job that runs out of time by killing its kernel: the user of
    `lpstudio run` reads that the job timed out, not nbclient's alarm about a dead kernel."""
    write_recipe(ws, "p/slow", cells=("import time", "time.sleep(600)"))
    proc = run_cli("run", "p/slow", "--timeout", "2", "--workspace", str(ws), timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert DIED not in proc.stderr and DIED not in proc.stdout, proc.stderr
    assert "timed out after 2 s" in proc.stdout, proc.stdout
    with Studio.open(ws, user="alice") as studio:
        (job,) = studio.jobs()
    assert job.status == "failed" and job.error["ename"] == "Timeout"


def test_a_cancelled_run_says_it_was_cancelled_and_no_kernel_died(ws: Path) -> None:
    proc = _start_slow_run(ws)
    job_id = _running_job(ws)
    code, _ = run_json("cancel", str(job_id), "--workspace", str(ws))
    assert code == 0
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert DIED not in err and DIED not in out, err
    assert "cancelled by request" in out, out


def test_a_kernel_that_dies_by_itself_is_reported_once_with_its_causes_and_fix(ws: Path) -> None:
    """nbclient's "Kernel died while waiting for execute reply." came on stderr above the
    job's "DeadKernelError ...: kernel died", which gave no cause and no fix."""
    write_recipe(ws, "p/die", cells=("import os", "os._exit(1)", "never = True"))
    proc = run_cli("run", "p/die", "--workspace", str(ws), timeout=90)
    assert proc.returncode == 1
    assert "Kernel died while waiting" not in proc.stderr, proc.stderr
    assert re.search(
        r"\n  error:    DeadKernelError in cell 3 of 4( \(In \[3\]\))?: the recipe's kernel "
        r"died while the cell ran: it may have run out of memory .*, or ended its own process "
        r"\(os\._exit, a crash in a native library\)\n  fix: find what the cell does that can "
        r"end its process",
        proc.stdout,
    ), proc.stdout


def test_a_parameter_the_recipe_marks_as_a_template_is_read_before_any_job(ws: Path) -> None:
    """`"x-template": true` in metadata.lpstudio.parameters makes any text parameter a
    message template, checked as the gallery's `body_template` is; other texts are not."""
    write_recipe(
        ws,
        "p/greet",
        parameters='greeting: str = "Hi {first_name}"  # message\nnote: str = "{"  # free text',
        cells=("print(greeting, note)",),
        metadata={"title": "Greet", "parameters": {"greeting": {"x-template": True}}},
    )
    code, answer = run_json("run", "p/greet", "-p", "greeting", "Hi {}", "--workspace", str(ws))
    assert code == 2 and answer["error"]["field"] == "greeting", answer
    assert "names no field" in answer["error"]["message"]
    assert job_rows(ws) == 0
    code, job = run_json("run", "p/greet", "-p", "note", "{x:zz", "--workspace", str(ws))
    assert code == 0 and job["status"] == "succeeded", job


SEND_WITH_A_BAD_NUMBER = """\
import lpstudio.kernel as lp
people = [{"phone": f"+1415555{n:04d}", "name": f"Person {n}"} for n in range(count)]
people.append({"phone": "555", "name": "Nobody"})  # no E.164 number: reported `unsendable`
lp.set_result(lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="Dry", skill="sales",
    recipients=people, consumer_id="phone", variables={"1": "{name}"},
))
"""


def test_a_test_run_is_no_proactive_traffic_on_the_dashboard(sandbox_ws: Path, control) -> None:
    """A recipe's Test sends nothing: the dashboard's Proactive recipients (accepted and
    failed, per day) leave its job out, whatever range is shown, while its job still counts
    among the day's jobs. A real run of the same recipe counts as before."""
    write_recipe(
        sandbox_ws, "campaign/dry", "count: int = 2", (SEND_WITH_A_BAD_NUMBER,), CAMPAIGN_METADATA
    )

    def ranges(job: Job) -> list[tuple[datetime, datetime]]:
        """The dashboard's ranges around the job (whole UTC days: read from the kept
        counts), and one ending now (its last hour read from the jobs themselves)."""
        recent = (job.created_at - timedelta(minutes=90), utcnow() + timedelta(seconds=1))
        return [day_range(7, job.created_at), day_range(1, job.created_at), recent]

    with Studio.open(sandbox_ws, user="alice") as studio:
        tested = studio.run("campaign/dry", test=True)
        assert (tested.trigger, tested.status) == ("test", "succeeded"), tested.error
        assert tested.result["dry_run"] and len(tested.result["unsendable"]) == 1
        assert control.get("/_sandbox/liveperson/campaigns").json()["campaigns"] == []
        day = tested.created_at.date().isoformat()
        for start, end in ranges(tested):
            shown = dashboard_metrics(studio.store, start, end)
            assert shown["proactive"] == [], (start, end)
            assert shown["jobs_per_day"] == [{"day": day, "status": "succeeded", "count": 1}]

        real = studio.run("campaign/dry")
        assert (real.trigger, real.result["accepted"]) == ("manual", 2), real.error
        day = real.created_at.date().isoformat()
        for start, end in ranges(real):
            shown = dashboard_metrics(studio.store, start, end)
            assert shown["proactive"] == [{"day": day, "accepted": 2, "failed": 0}], (start, end)
        week = dashboard_metrics(studio.store, *day_range(7, real.created_at))
        assert sum(row["count"] for row in week["jobs_per_day"]) == 2


SEND_WITH_A_TWIN = """\
import lpstudio.kernel as lp
invoices = [
    {"invoice_id": "INV-00129", "phone": "+14155550129", "name": "Ann"},
    {"invoice_id": "INV-00130", "phone": "+14155550129", "name": "Ann"},  # the same number
    {"invoice_id": "INV-00131", "phone": "0612345678", "name": "Bo"},  # not E.164
]
lp.set_result(lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="Reminder", skill="billing",
    recipients=invoices, consumer_id="phone", variables={"1": "{name}"},
))
"""


def test_reruns_of_a_job_that_drops_records_count_on_the_dashboard_as_the_job(
    sandbox_ws: Path, control
) -> None:
    """Each rerun read the same invoices and listed the same records the campaign dropped
    itself under `failed` again: the dashboard's Proactive failed grew with every rerun for
    messages never sent to LivePerson. Its rerun still names them (`unsendable`), and the
    day's figures stay those of the job: its reminder accepted once, nobody refused."""
    write_recipe(sandbox_ws, "billing/twin", "x: int = 0", (SEND_WITH_A_TWIN,), CAMPAIGN_METADATA)
    with Studio.open(sandbox_ws, user="alice") as studio:
        first = studio.run("billing/twin")
        assert first.status == "succeeded", first.error
        day = dashboard_metrics(studio.store, *day_range(1, first.created_at))["proactive"]
        assert [(row["accepted"], row["failed"]) for row in day] == [(1, 0)]
        again = studio.rerun(first.id)
        last = studio.rerun(again.id)

        for job in (first, again, last):
            result = studio.job(job.id).result or {}
            named = [(e["invoice_id"], e["errorMessage"][:16]) for e in result["unsendable"]]
            assert named == [("INV-00130", "DUPLICATE_NUMBER"), ("INV-00131", "INVALID_NUMBER")]
        assert studio.job(last.id).result["already_sent"][0]["recipients"] == 1
        shown = dashboard_metrics(studio.store, *day_range(1, first.created_at))["proactive"]
        assert shown == day
    assert [
        row["count"] for row in control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    ] == [1]


SEND_ONCE_PER_CHECKOUT = """\
import httpx
import lpstudio.kernel as lp
conn = lp.connection("liveperson")
if fail:  # a token in hand first: the fault hits the campaign request, left uncertain
    conn.test()
    fault = {{"error_rate": 1.0, "error_status": 500, "scope": "liveperson", "count": 1}}
    httpx.post({control!r} + "/_sandbox/faults", json=fault).raise_for_status()
lp.set_result(conn.send_campaign(
    handoff="H1000000001", campaign_name="Carts", skill="sales", consumer_id="phone",
    recipients=[{{"phone": phone, "checkout_id": phone[-3:]}} for phone in phones],
    variables={{"1": "Hi"}}, once_per="checkout_id",
))
"""


def sent_campaigns(control) -> list[tuple[str, dict]]:
    """Each campaign the sandbox took and what was sent in it, without its status, which
    turns from IN_PROGRESS to FINISHED as the sandbox's clock runs."""
    return [(c["proactiveCampaignId"], c["request"]) for c in campaigns(control)]


def test_a_test_run_leaves_out_whom_a_real_run_would_not_send_and_writes_no_ledger(
    sandbox_ws: Path, sandbox, control
) -> None:
    """A Test showed a request to checkouts a real run never sends: one left uncertain by
    a run whose answer was lost (an HTTP 500 here; a run killed mid-send alike), one sent
    already. Its requests hold only the checkout a real run sends now, and it reports the
    others as that real run does; it reads the ledger and writes nothing there, so the real
    run after it sends the new checkout."""
    write_recipe(
        sandbox_ws,
        "shop/carts",
        "phones: list = []  # one checkout per phone\nfail: bool = False  # answered 500",
        (SEND_ONCE_PER_CHECKOUT.format(control=sandbox.url),),
        CAMPAIGN_METADATA,
    )
    lost, sent, new = ["+14155550101", "+14155550102"], "+14155550103", "+14155550104"

    def ledger_rows(studio: Studio) -> list[tuple]:
        with studio.store.read() as s:
            return [
                tuple(row)
                for table in (Delivery.__table__, DailyCount.__table__)
                for row in s.execute(select(table)).all()
            ]

    with Studio.open(sandbox_ws, user="alice") as studio:
        unanswered = studio.run("shop/carts", {"phones": lost, "fail": True})
        assert unanswered.status == "failed" and unanswered.error["uncertain"], unanswered.error
        first = studio.run("shop/carts", {"phones": [sent]})
        assert (first.status, first.result["accepted"]) == ("succeeded", 1), first.error
        ledger = ledger_rows(studio)
        campaigns = sent_campaigns(control)

        everyone = {"phones": [*lost, sent, new]}
        tested = studio.run("shop/carts", everyone, test=True)
        assert (tested.trigger, tested.status) == ("test", "succeeded"), tested.error
        result = tested.result
        assert result["dry_run"] is True and result["recipients"] == 1
        [request] = result["requests"]
        assert [c["consumerContent"] for c in request["json"]["consumers"]] == [{"sms": new}]
        [already] = result["already_sent"]
        assert (already["recipients"], already["job_id"]) == (1, first.id)
        [unsure] = result["uncertain"]
        assert (unsure["addresses"], unsure["job_id"]) == (lost, unanswered.id)
        assert "HTTP 500" in unsure["reason"]
        assert ledger_rows(studio) == ledger  # nothing claimed, settled or reserved
        assert sent_campaigns(control) == campaigns  # the Test sent nothing

        real = studio.run("shop/carts", everyone)
        assert real.result["accepted"] == 1 and real.error["uncertain"], real.error
        # The Test said what the real run then did, skipping the same checkouts alike.
        for kind in ("already_sent", "uncertain"):
            assert real.result[kind] == result[kind], kind
    got = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    assert {row["address"]: row["count"] for row in got}[new] == 1
