"""Jobs on a Dask distributed cluster: a real `LocalCluster` on loopback, one for the module,
whose worker processes open the same workspace folder (`[executor] dask_scheduler`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from distributed import Client, LocalCluster

from lpstudio.errors import WorkspaceError
from lpstudio.executor import DaskExecutor
from lpstudio.store import FINAL_STATES, worker_id
from lpstudio.studio import Studio

from .conftest import (
    LPSTUDIO,
    alive,
    free_port,
    run_cli,
    run_json,
    scheduler_running,
    set_job,
    wait_for,
    write_recipe,
)
from .test_job_faults import (
    append,
    assert_a_waiting_job_is_kept_alive,
    configure,
    queue_webhook_job,
    wait_file,
)

PID_CELL = "import os\nimport lpstudio.kernel as lp\nlp.set_result({'x': x, 'kernel': os.getpid()})"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """One scheduler and one worker process (with its nanny, which restarts it if it dies)."""
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # its HTTP server, on a free loopback port
        ) as running,
        Client(running) as client,
    ):
        yield client


def dask_worker_pid(client: Client) -> int:
    client.wait_for_workers(1, timeout=120)  # the nanny restarts a killed one
    (pid,) = client.run(os.getpid).values()
    return int(pid)


def ran_in(pid: int) -> str:
    """The `worker` a job's row names when the process `pid` of this machine ran it."""
    return f"{worker_id().rpartition(':')[0]}:{pid}"


def task_starts(client: Client) -> dict[str, int]:
    """How many times Dask's scheduler gave each of lpstudio's tasks to a worker."""

    def count(dask_scheduler: Any) -> dict[str, int]:
        starts: dict[str, int] = {}
        for key, _, finish, *_ in dask_scheduler.transition_log:
            if str(key).startswith("lpstudio-job-") and finish == "processing":
                starts[str(key)] = starts.get(str(key), 0) + 1
        return starts

    return dict(client.run_on_scheduler(count))


def task_pending(client: Client, key: str) -> bool:
    """Whether Dask's scheduler still means to run the task: waiting, or on a worker."""

    def state(dask_scheduler: Any) -> str | None:
        task = dask_scheduler.tasks.get(key)
        return None if task is None else str(task.state)

    return client.run_on_scheduler(state) in {"released", "waiting", "no-worker", "processing"}


def use_dask(ws: Path, address: object) -> Path:
    config = ws / "lpstudio.toml"
    value = json.dumps(address) if isinstance(address, str) else str(address)
    config.write_text(config.read_text() + f"\n[executor]\ndask_scheduler = {value}\n")
    return config


@pytest.fixture
def dask_ws(ws: Path, cluster: Client) -> Path:
    use_dask(ws, cluster.scheduler.address)
    return ws


def test_lpstudio_run_runs_the_job_on_a_dask_worker(dask_ws: Path, cluster: Client) -> None:
    write_recipe(dask_ws, "p/where", cells=(PID_CELL,))
    code, job = run_json("run", "p/where", "-p", "x", "41", "--workspace", str(dask_ws))
    assert code == 0, job
    assert job["status"] == "succeeded" and job["result"]["x"] == 41
    with Studio.open(dask_ws, user="alice") as studio:
        assert isinstance(studio.executor, DaskExecutor)
        row = studio.job(job["id"])
    assert row.status == "succeeded" and row.finished_at is not None
    assert row.worker == ran_in(dask_worker_pid(cluster))  # not the command's process
    output = nbformat.read(dask_ws / row.output_path, as_version=4)
    (shown,) = output.cells[-1].outputs
    assert shown["data"]["application/vnd.lpstudio.result+json"] == job["result"]


def test_a_failing_recipe_ends_failed_with_its_error(dask_ws: Path) -> None:
    write_recipe(dask_ws, "p/bad", cells=("y = 1", "raise ValueError('no such phone')"))
    with Studio.open(dask_ws, user="alice") as studio:
        job = studio.run("p/bad")
    assert job.status == "failed"
    assert job.error["ename"] == "ValueError" and job.error["evalue"] == "no such phone"
    assert job.error["cell"] == 2 and job.finished_at is not None
    output = nbformat.read(dask_ws / job.output_path, as_version=4)
    assert "no such phone" in json.dumps(output.cells[-1].outputs)


def worker_reads_store(ws: Path, url: str) -> None:
    """Gives the workers a `[store] url` other than the one the test's studio opened: as a
    worker machine whose own lpstudio.toml differs (the worker reads it at its first job)."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace('"sqlite:///lpstudio.db"', json.dumps(url)))


def test_a_worker_that_cannot_open_its_store_fails_the_job_with_the_cli_s_reason_and_fix(
    dask_ws: Path, cluster: Client
) -> None:
    """The job failed with the driver's bare error and no fix, naming no Dask worker."""
    write_recipe(dask_ws, "p/here")
    with Studio.open(dask_ws, user="alice") as studio:
        closed = free_port()
        worker_reads_store(
            dask_ws, f"postgresql+psycopg://lpstudio:Wr0ngPass@127.0.0.1:{closed}/db"
        )
        job = studio.run("p/here")
    (address,) = cluster.scheduler_info()["workers"]
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    assert said.startswith("the Dask cluster did not run the job: the Dask worker "), said
    assert address in said, said
    assert f"cannot open the store postgresql+psycopg://lpstudio:***@127.0.0.1:{closed}/db" in said
    assert "Wr0ngPass" not in json.dumps(job.error), job.error
    fix = job.error["fix"]
    assert f"in {dask_ws / 'lpstudio.toml'}" in fix and "[store] url" in fix, fix
    assert fix.endswith("then restart the Dask workers"), fix


def test_a_worker_that_reads_another_store_says_so_rather_than_no_such_job(
    dask_ws: Path, tmp_path: Path
) -> None:
    """It said "job N does not exist; fix: list jobs with lpstudio jobs": misleading, as
    the server's store holds the job."""
    write_recipe(dask_ws, "p/here")
    other = tmp_path / "old.db"
    shutil.copy(dask_ws / "lpstudio.db", other)  # a store, without the job to come
    with Studio.open(dask_ws, user="alice") as studio:
        worker_reads_store(dask_ws, f"sqlite:///{other}")
        job = studio.run("p/here")
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    assert f"job {job.id} does not exist in the store sqlite:///{other}" in said, said
    assert "reads another store than the server's" in said and "Dask worker" in said, said
    fix = job.error["fix"]
    assert "same store as the server's" in fix and fix.endswith("restart the Dask workers"), fix


def jobs_rows(database: Path) -> list[tuple[Any, ...]]:
    """Every column of every job of a SQLite store, as stored."""
    with contextlib.closing(sqlite3.connect(database)) as raw:
        return raw.execute("SELECT * FROM jobs ORDER BY id").fetchall()


def test_a_worker_that_reads_another_store_holding_the_job_s_id_runs_nothing_there(
    dask_ws: Path, tmp_path: Path, cluster: Client
) -> None:
    """Job ids start at 1 in every store: a worker whose lpstudio.toml named another store
    holding a job of the same id ran that store's job (its campaign sent), and the real job
    failed as "its task ended without starting it", naming no worker and no fix."""
    lines = tmp_path / "lines"
    other = tmp_path / "other"
    Studio.init(other, accept_terms=True, admin="alice").close()
    write_recipe(other, "p/theirs", cells=(append(lines, "theirs"),))
    with Studio.open(other, user="alice") as theirs:
        queued = queue_webhook_job(theirs, "p/theirs")  # for their scheduler to run
    before = jobs_rows(other / "lpstudio.db")
    write_recipe(dask_ws, "p/ours", cells=(append(lines, "ours"),))
    with Studio.open(dask_ws, user="alice") as studio:
        worker_reads_store(dask_ws, f"sqlite:///{other / 'lpstudio.db'}")
        job = studio.run("p/ours")
    assert job.id == queued.id  # the same id, in each store
    assert not lines.exists()  # neither job ran
    assert jobs_rows(other / "lpstudio.db") == before  # nothing claimed, started or ended it
    (address,) = cluster.scheduler_info()["workers"]
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    assert said.startswith("the Dask cluster did not run the job: the Dask worker "), said
    assert address in said, said
    assert f"it ran no job of the store sqlite:///{other / 'lpstudio.db'}" in said, said
    assert "not the store the job was sent from" in said, said
    fix = job.error["fix"]
    assert f"in {dask_ws / 'lpstudio.toml'}: make [store] url there the same store" in fix, fix
    assert fix.endswith("then restart the Dask workers"), fix


#: The lpstudio a task says its sender runs, as `executor.lpstudio_build` says it.
NEWER = "0.1.0 (build 0123456789ab)"


def test_a_worker_on_another_lpstudio_version_says_so_rather_than_blame_lpstudio_toml(
    dask_ws: Path, cluster: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker of an older lpstudio (same schema) said the shared lpstudio.toml had an
    "unknown setting" (one its version did not know) rather than that its lpstudio differed."""
    from lpstudio import executor

    ran = dask_ws / "ran.txt"
    write_recipe(dask_ws, "p/here", cells=(f"open({str(ran)!r}, 'w').write('ran')",))
    sent = executor.sender

    # The cluster's worker runs this lpstudio: the task is made to carry another one, as a
    # server upgraded before its workers sends it (each build is 0.1.0: its code tells it).
    def newer(store: object) -> dict[str, str]:
        return {**sent(store), "lpstudio": NEWER}  # type: ignore[arg-type]

    monkeypatch.setattr(executor, "sender", newer)
    with Studio.open(dask_ws, user="alice") as studio:
        config = dask_ws / "lpstudio.toml"  # a setting of the newer lpstudio, as the server has it
        config.write_text(config.read_text().replace("[jobs]\n", "[jobs]\nnewer_setting = 1\n"))
        job = studio.run("p/here")
    (address,) = cluster.scheduler_info()["workers"]
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    mine = executor.lpstudio_build()  # the worker's: the same code as this process's
    assert f"({address}) runs lpstudio {mine}, and the process that" in said, said
    assert f"sent the job runs lpstudio {NEWER}" in said and "unknown setting" not in said, said
    fix = job.error["fix"]
    assert fix.startswith(f"install lpstudio {NEWER} on the Dask worker's machine"), fix
    assert "README: Upgrading" in fix and fix.endswith("restart the Dask workers"), fix
    assert not ran.exists()


def test_a_bad_lpstudio_toml_on_a_worker_is_said_as_that_worker_s(
    dask_ws: Path, cluster: Client
) -> None:
    """The worker's own lpstudio.toml that it could not read was said as the server's."""
    write_recipe(dask_ws, "p/here")
    with Studio.open(dask_ws, user="alice") as studio:
        config = dask_ws / "lpstudio.toml"  # as the worker's machine has it
        config.write_text(config.read_text().replace("[jobs]\n", "[jobs]\nheartbeat = 1\n"))
        job = studio.run("p/here")
    (address,) = cluster.scheduler_info()["workers"]
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    assert f"({address}): {config} has an unknown setting [jobs] heartbeat" in said, said
    fix = job.error["fix"]
    assert fix.startswith(f"on the Dask worker's machine, in {config}: did you mean"), fix
    assert fix.endswith("then restart the Dask workers"), fix


def test_a_worker_on_another_lpstudio_than_the_store_s_schema_runs_no_job(
    dask_ws: Path, cluster: Client
) -> None:
    """A worker left on the old lpstudio after an upgrade (or given a newer one) ran jobs
    on a schema its code did not know."""
    write_recipe(dask_ws, "p/here", cells=("open('ran.txt', 'w').write('ran')",))
    with Studio.open(dask_ws, user="alice") as studio:
        with studio.store.engine.begin() as conn:  # as a newer lpstudio's upgrade leaves it
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0999_newer'")
        job = studio.run("p/here")
    (address,) = cluster.scheduler_info()["workers"]
    assert job.status == "failed" and job.error["ename"] == "ExecutorError", job.error
    said = job.error["evalue"]
    assert address in said and "knows the store's schema up to revision" in said, said
    assert "is at revision 0999_newer" in said and "must run the same lpstudio" in said, said
    fix = job.error["fix"]
    assert "install on the Dask worker's machine the lpstudio the server runs" in fix, fix
    assert not list(dask_ws.rglob("ran.txt"))


def test_a_worker_reads_the_store_s_schema_revision_once_for_each_job(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's first job read it twice, as the worker opened the store and again before
    the job: a round trip to a remote store for nothing. Called here as Dask calls it, on a
    job this store does not hold (it runs no kernel)."""
    from lpstudio import executor
    from lpstudio.pool import release
    from lpstudio.store import Store

    reads: list[str] = []
    read = Store.schema_revision

    def counted(store: Store) -> str | None:
        reads.append(store.url)
        return read(store)

    with Studio.open(ws, user="alice") as studio:
        sent_by = executor.sender(studio.store)
    monkeypatch.setattr(Store, "schema_revision", counted)
    monkeypatch.setattr(executor, "_opened", {})
    try:
        for jobs in (1, 2):  # the worker's first job, which opens the store, then another
            with pytest.raises(WorkspaceError, match="does not exist in the store"):
                executor.run_on_worker(str(ws), 999_999, None, sent_by)
            assert len(reads) == jobs, reads
    finally:
        for _workspace, store, kernels in executor._opened.values():
            store.close()
            if kernels is not None:
                release(kernels)


def test_a_job_fails_at_once_with_the_reason_and_fix_when_nothing_listens_at_the_scheduler(
    ws: Path,
) -> None:
    """Each job waited Dask's 30 s connect timeout on a refused connection, and failed
    naming no setting."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{unused.getsockname()[1]}"
    use_dask(ws, address)
    write_recipe(ws, "p/nowhere")
    with Studio.open(ws, user="alice") as studio:
        began = time.monotonic()
        job = studio.run("p/nowhere")
        took = time.monotonic() - began
    assert took < 10, took
    assert job.status == "failed" and job.error["ename"] == "ExecutorError"
    assert job.error["evalue"].startswith(f"cannot reach the Dask scheduler at {address}: ")
    assert "connection refused" in job.error["evalue"], job.error
    assert "[executor] dask_scheduler" in job.error["fix"] and "dask scheduler" in job.error["fix"]
    assert "remove it" in job.error["fix"] and str(ws / "lpstudio.toml") in job.error["fix"]
    assert job.output_path is None and job.finished_at is not None


def test_warming_workers_at_a_scheduler_nobody_runs_says_one_line_naming_the_setting_and_fix(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A daemon's log held a 40-line traceback of Dask's, naming no setting."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{unused.getsockname()[1]}"
    use_dask(ws, address)
    with Studio.open(ws, user="alice") as studio, caplog.at_level("INFO", "lpstudio.executor"):
        studio.executor.warm()
    (said,) = [r for r in caplog.records if r.name == "lpstudio.executor"]
    assert said.levelname == "WARNING" and said.exc_info is None
    message = said.getMessage()
    assert "\n" not in message and f"cannot reach the Dask scheduler at {address}" in message
    assert f"fix: start `dask scheduler` at {address}" in message
    assert "[executor] dask_scheduler" in message and "remove it" in message


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `dask scheduler` and one `dask worker` of the test's own (one test kills the
    scheduler): its address, and the scheduler's process."""
    dask, file = str(Path(sys.executable).parent / "dask"), tmp_path / "scheduler.json"
    on = ("--scheduler-file", str(file))
    loopback = ("--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0")
    scheduler = subprocess.Popen([dask, "scheduler", *loopback, *on], stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(
        [dask, "worker", *on, "--nthreads", "1", "--no-nanny"], stderr=subprocess.DEVNULL
    )
    try:
        address = wait_for(
            lambda: file.is_file() and json.loads(file.read_text() or "{}").get("address"),
            timeout=60,
            what="the Dask scheduler",
        )
        with Client(address, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=120)
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait()


def test_a_run_whose_dask_scheduler_goes_away_ends_with_one_line_and_no_traceback(
    ws: Path, own_cluster: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """The job succeeded (its worker ran it on, and wrote its end), then `lpstudio run`
    printed ~30 lines of Dask's chained tracebacks as its client, reconnecting, was closed."""
    address, scheduler = own_cluster
    use_dask(ws, address)
    started, gate = tmp_path / "started", tmp_path / "gate"
    write_recipe(ws, "p/slow", cells=(append(started, "started"), wait_file(gate)))
    proc = subprocess.Popen(
        [LPSTUDIO, "run", "p/slow", "--workspace", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(started.is_file, timeout=120, what="the job running on the worker")
    scheduler.kill()
    scheduler.wait()
    gate.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "succeeded" in out
    assert "Traceback" not in err and "distributed" not in err, err
    (said,) = err.splitlines()
    assert said.startswith(f"the Dask scheduler at {address} went away"), said


def test_a_dask_address_that_fails_as_it_connects_fails_the_job_and_lets_the_command_end(
    ws: Path,
) -> None:
    """A tls:// address with no TLS configured: the job failed, then `lpstudio run` waited
    60 s more and printed "Exception ignored in: <function Client.__del__ ..."."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"tls://127.0.0.1:{unused.getsockname()[1]}"
    use_dask(ws, address)
    write_recipe(ws, "p/nowhere")
    done = run_cli("run", "p/nowhere", "--workspace", str(ws), timeout=50)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"cannot reach the Dask scheduler at {address}" in said
    assert "Traceback" not in said and "Exception ignored" not in said


@pytest.mark.parametrize(
    "address",
    [
        "localhost:8786",
        "http://10.0.0.5:8786",
        "tcp://10.0.0.5",
        "",
        8786,
        # No port of TCP: each job waited 30 s to fail "cannot reach the Dask scheduler".
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:0",
    ],
)
def test_a_bad_dask_scheduler_is_refused_with_field_and_fix(ws: Path, address: object) -> None:
    config = use_dask(ws, address)
    code, answer = run_json("jobs", "--workspace", str(ws))
    assert code == 2, answer
    error = answer["error"]
    assert error["field"] == "executor.dask_scheduler"
    assert str(config) in error["message"] and repr(address) in error["message"]
    assert "a port from 1 to 65535" in error["message"]
    assert "tcp://" in error["fix"] and "remove it" in error["fix"]
    with pytest.raises(WorkspaceError, match="dask_scheduler"):
        Studio.open(ws)


def test_a_dask_scheduler_given_a_user_and_password_is_refused_without_showing_them(
    ws: Path,
) -> None:
    """It passed the check, then every job failed quoting it: "invalid address"."""
    use_dask(ws, "tcp://user:DaskPass1@127.0.0.1:8786")
    code, answer = run_json("jobs", "--workspace", str(ws))
    assert code == 2 and answer["error"]["field"] == "executor.dask_scheduler", answer
    assert "no user or password" in answer["error"]["message"]
    assert "'tcp://***@127.0.0.1:8786'" in answer["error"]["message"]
    assert "DaskPass1" not in json.dumps(answer)


def test_a_dask_scheduler_without_distributed_installed_names_the_extra(ws: Path) -> None:
    use_dask(ws, "tcp://127.0.0.1:8786")
    without = "import sys; sys.modules['distributed'] = None; from lpstudio.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", without, "jobs", "--json", "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["field"] == "executor.dask_scheduler"
    # Both ways to install the extra: from the package index and in a checkout.
    assert "pip install 'lpstudio[dask]'" in error["fix"], error
    assert "pip install -e '.[dask]'" in error["fix"], error


def test_the_scheduler_daemon_runs_its_jobs_on_the_cluster(dask_ws: Path, cluster: Client) -> None:
    write_recipe(dask_ws, "p/hook", cells=(PID_CELL,))
    with Studio.open(dask_ws, user="alice") as studio:
        studio.start("p/hook")
        job = queue_webhook_job(studio, "p/hook")
        with scheduler_running(studio):
            ended = wait_for(
                lambda: (row := studio.job(job.id)).status in FINAL_STATES and row,
                timeout=120,
                what="the job's end",
            )
    assert ended.status == "succeeded", ended.error
    assert ended.worker == ran_in(dask_worker_pid(cluster))  # taken over from the scheduler
    assert (dask_ws / ended.output_path).is_file()


def test_a_job_waiting_in_dask_s_queue_is_kept_alive_by_the_process_that_sent_it(
    dask_ws: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    write_recipe(dask_ws, "p/busy", cells=(wait_file(gate),))
    write_recipe(dask_ws, "p/next")
    configure(dask_ws, heartbeat_seconds=0.1)
    with Studio.open(dask_ws, user="alice") as studio:  # the worker has one thread
        assert_a_waiting_job_is_kept_alive(studio, gate)


def test_a_job_whose_dask_worker_dies_ends_worker_lost_and_never_runs_twice(
    dask_ws: Path, cluster: Client, tmp_path: Path
) -> None:
    lines, kernel_pid = tmp_path / "lines", tmp_path / "kernel.pid"
    write_recipe(
        dask_ws,
        "p/long",
        cells=(
            append(lines, "started"),
            f"import os\nopen({str(kernel_pid)!r}, 'w').write(str(os.getpid()))",
            wait_file(tmp_path / "never"),
        ),
    )
    worker, earlier = dask_worker_pid(cluster), task_starts(cluster)
    with Studio.open(dask_ws, user="alice") as studio:
        job, finished = studio.dispatch("p/long")
        try:
            wait_for(
                lambda: kernel_pid.is_file() and kernel_pid.read_text(),
                timeout=120,
                what="the job running its waiting cell",
            )
            assert studio.job(job.id).status == "running"
            os.kill(worker, signal.SIGKILL)
            ended = finished.result(timeout=120)
        finally:
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(kernel_pid.read_text()), signal.SIGKILL)
    assert ended.status == "failed"
    assert ended.error["ename"] == "WorkerLost" and "worker lost" in ended.error["evalue"]
    # The executor ended the job once its worker was gone; Dask may have given its task to
    # the new worker meanwhile, which ran nothing, or dropped it as nobody waits for it.
    (key,) = (key for key in task_starts(cluster) if key not in earlier)
    wait_for(lambda: not task_pending(cluster, key), timeout=120, what="Dask to be done with it")
    assert lines.read_text() == "started\n"  # the job ran once
    assert not alive(worker) and dask_worker_pid(cluster) != worker
    output = nbformat.read(dask_ws / ended.output_path, as_version=4)
    assert "worker lost" in output.cells[0].source  # the reaper's banner atop it


def test_ctrl_c_cancels_the_job_on_the_cluster(dask_ws: Path) -> None:
    """Ctrl-C reached only jobs running in the command's own process: the job went on
    on the worker and `lpstudio run` kept waiting for it."""
    from .test_run import _running_job, _start_slow_run

    proc = _start_slow_run(dask_ws)
    job_id = _running_job(dask_ws)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    with Studio.open(dask_ws, user="alice") as studio:
        job = studio.job(job_id)
    assert job.status == "cancelled" and job.finished_at is not None


def test_a_late_task_runs_nothing_once_its_scheduler_requeued_the_job(
    dask_ws: Path, cluster: Client, tmp_path: Path
) -> None:
    """A stopping scheduler requeues the jobs it claimed that no worker took; their tasks,
    still in Dask's queue, ran them anyway (the requeued job was queued, so startable)."""
    from lpstudio.executor import run_on_worker, sender

    lines = tmp_path / "lines"
    write_recipe(dask_ws, "p/late", cells=(append(lines, "ran"),))
    with Studio.open(dask_ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/late")
        assert studio.store.claim_job(job.id, 10)  # this process is the scheduler
        studio.store.requeue(job.id)  # as `release_claimed` does when it stops
        sent_by = sender(studio.store)
        late = cluster.submit(run_on_worker, str(dask_ws), job.id, worker_id(), sent_by, pure=False)
        assert late.result(timeout=120) == "queued"
        assert studio.job(job.id).status == "queued"  # for another scheduler to run
    assert not lines.exists()


def _kernel_pid_then_wait(pid_file: Path, gate: Path) -> str:
    return f"import os\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n" + wait_file(gate)


def test_a_scheduled_job_lost_with_its_worker_is_retried_once(
    dask_ws: Path, cluster: Client, tmp_path: Path
) -> None:
    """The executor's reaper retried it, and the scheduler retried it again on its end."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import select

    from lpstudio.models import Job
    from lpstudio.scheduler import Scheduler

    pid_file = tmp_path / "kernel.pid"
    write_recipe(
        dask_ws,
        "p/retried",
        cells=("x = 1", _kernel_pid_then_wait(pid_file, tmp_path / "never")),
        metadata={"title": "r", "retries": {"count": 3, "interval": 600}},
    )
    configure(dask_ws, heartbeat_seconds=0.2)
    with Studio.open(dask_ws, user="alice") as studio, ThreadPoolExecutor(1) as thread:
        job = queue_webhook_job(studio, "p/retried")
        assert studio.store.claim_job(job.id, 10)
        ran = thread.submit(Scheduler(studio, workers=1)._run, job.id)
        try:
            wait_for(lambda: studio.job(job.id).cells_done >= 1, timeout=120, what="a cell")
            wait_for(lambda: pid_file.is_file() and pid_file.read_text(), what="the kernel")
            os.kill(dask_worker_pid(cluster), signal.SIGKILL)
            ran.result(timeout=120)
        finally:
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        assert studio.job(job.id).error["ename"] == "WorkerLost"
        with studio.store.read() as s:
            retries = s.scalars(select(Job.id).where(Job.rerun_of == job.id)).all()
    assert len(retries) == 1, retries


def test_a_scheduled_job_the_reaper_requeued_is_left_queued_for_a_scheduler(
    dask_ws: Path,
) -> None:
    """Its worker died before a cell ended, so the reaper requeued it; the executor then
    failed it ("the Dask cluster did not run the job")."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_recipe(dask_ws, "p/requeued")
    configure(dask_ws, heartbeat_seconds=0.2, stale_after_seconds=0.5)
    with Studio.open(dask_ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/requeued")
        assert studio.store.claim_job(job.id, 10)
        set_job(studio.store, job.id, worker=ran_in(dead.pid))  # a worker that died
        ended = studio.executor.run_claimed(job.id)
        assert ended.status == "queued" and studio.job(job.id).error is None


def test_ctrl_c_ends_a_run_whose_job_waits_in_dask_s_queue(dask_ws: Path, tmp_path: Path) -> None:
    """The job was cancelled in the store, but the command waited for its task's turn."""
    gate = tmp_path / "gate"
    write_recipe(dask_ws, "p/busy", cells=(wait_file(gate),))
    write_recipe(dask_ws, "p/next")
    with Studio.open(dask_ws, user="alice") as studio:
        busy, busy_done = studio.dispatch("p/busy")  # holds the worker's one thread
        try:
            wait_for(lambda: studio.job(busy.id).status == "running", what="the busy job")
            proc = subprocess.Popen(
                [LPSTUDIO, "run", "p/next", "--workspace", str(dask_ws)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            waiting = wait_for(
                lambda: next(iter(studio.jobs(recipe="p/next")), None), what="the queued job"
            )
            assert waiting.status == "queued"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            assert studio.job(waiting.id).status == "cancelled"
            assert studio.job(busy.id).status == "running"  # another process's job goes on
        finally:
            gate.touch()
        assert busy_done.result(timeout=120).status == "succeeded"


def test_a_job_whose_worker_is_gone_ends_though_dask_never_ends_its_task(
    dask_ws: Path, cluster: Client, tmp_path: Path
) -> None:
    """A worker gone without Dask ending its task (rescheduled onto a worker that waits, or
    never seen dead) left its job running, and whoever waited for it, `Studio.close` too,
    waited for ever: a CI run hung 80 minutes on the retried-once test above."""
    gate = tmp_path / "gate"
    write_recipe(dask_ws, "p/held", cells=("x = 1", wait_file(gate)))
    configure(dask_ws, heartbeat_seconds=0.2)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with Studio.open(dask_ws, user="alice") as studio:
        job = queue_webhook_job(studio, "p/held")
        future = studio.executor.submit(job.id)
        worker = dask_worker_pid(cluster)
        try:
            wait_for(lambda: studio.job(job.id).cells_done >= 1, timeout=120, what="a cell")
            # The worker frozen (its task never ends), and the row naming a process gone
            # from this machine, as after a kill Dask did not see.
            os.kill(worker, signal.SIGSTOP)
            space = studio.job(job.id).worker.rsplit(":", 1)[0]
            set_job(studio.store, job.id, worker=f"{space}:{gone.stdout.strip()}")
            ended = future.result(timeout=60)
        finally:
            os.kill(worker, signal.SIGCONT)
            gate.touch()
    assert ended.status == "failed" and ended.error["ename"] == "WorkerLost", ended.error


def test_a_scheduled_job_requeued_while_its_task_waits_goes_back_to_its_scheduler(
    dask_ws: Path, cluster: Client
) -> None:
    """Its worker died before a cell ran, so the reaper requeued it, while Dask held its task
    for a worker that never took it: the scheduler waited for that task, holding one of its
    slots and its stop, instead of claiming the job again."""
    from concurrent.futures import ThreadPoolExecutor

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_recipe(dask_ws, "p/held-back")
    configure(dask_ws, heartbeat_seconds=0.2, stale_after_seconds=0.5)
    worker = dask_worker_pid(cluster)
    with Studio.open(dask_ws, user="alice") as studio, ThreadPoolExecutor(1) as thread:
        job = queue_webhook_job(studio, "p/held-back")
        assert studio.store.claim_job(job.id, 10)
        set_job(studio.store, job.id, worker=ran_in(dead.pid))  # a worker that died
        os.kill(worker, signal.SIGSTOP)  # Dask's one worker takes the task, and never runs it
        try:
            ended = thread.submit(studio.executor.run_claimed, job.id).result(timeout=60)
        finally:
            os.kill(worker, signal.SIGCONT)
    assert ended.status == "queued" and studio.job(job.id).error is None


def test_a_job_whose_dask_worker_dies_is_logged_ended_once_by_the_reaper_that_ended_it(
    dask_ws: Path, cluster: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another daemon's tick reaped it, and logged it failed; so did the daemon that ran it,
    as its run returned (in one daemon, its run and its tick did so 34 ms apart, the second
    line naming In [N], the first not)."""
    from concurrent.futures import ThreadPoolExecutor

    from lpstudio.scheduler import Scheduler

    pid_file = tmp_path / "kernel.pid"
    write_recipe(
        dask_ws, "p/lost", cells=("x = 1", _kernel_pid_then_wait(pid_file, tmp_path / "never"))
    )
    # Beats too slow to reap it first: its run ends as Dask's task ends (run again, it finds
    # the job ended and runs nothing).
    configure(dask_ws, heartbeat_seconds=60, stale_after_seconds=120)
    with (
        Studio.open(dask_ws, user="alice") as ran,
        Studio.open(dask_ws, user="alice") as other,
        ThreadPoolExecutor(1) as thread,
        caplog.at_level("INFO", "lpstudio.scheduler"),
    ):
        job = queue_webhook_job(ran, "p/lost")
        assert ran.store.claim_job(job.id, 10)
        running = thread.submit(Scheduler(ran, workers=1)._run, job.id)
        try:
            wait_for(lambda: pid_file.is_file() and pid_file.read_text(), what="the kernel")
            worker = dask_worker_pid(cluster)
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: not alive(worker), what="the worker's end")
            Scheduler(other, workers=1).tick()  # another daemon's
            running.result(timeout=120)
        finally:
            with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        assert ran.job(job.id).error["ename"] == "WorkerLost"
    ends = [r.getMessage() for r in caplog.records if f"job {job.id} failed" in r.getMessage()]
    assert len(ends) == 1, ends
    assert "WorkerLost in cell 2 of 3: worker lost" in ends[0], ends
