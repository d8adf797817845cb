"""JupyterLab's server (Jupyter's own `jupyter server`, lpstudio's extension in it) stops on
SIGTERM as `lpstudio serve` does: past `--LpstudioApp.stop_timeout` it exits without the
Run-now job still running, which the next opener of the workspace fails as its worker is
lost. It lived on until the job ended (an hour for a job with that timeout), then logged
asyncio's "Task was destroyed but it is pending!". Its log names the job the stop waits
for, and the one it leaves behind. A real server process on loopback; every wait is on
the process, an answer or the store."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import wait_for, write_recipe
from tests.servers import serving
from tests.test_serve_stop_calls import running_alone
from tests.test_serve_stop_requeues import jobs_of

#: Seconds past its stop_timeout the server may take to exit: its kernels and its other
#: extensions stop in their own turn. The job sleeps far longer.
EXITS_WITHIN = 30


def test_a_run_now_outliving_the_stop_timeout_does_not_hold_the_server(
    ws: Path, tmp_path: Path
) -> None:
    write_recipe(ws, "ops/sleep", "secs: int = 1", ("import time\ntime.sleep(secs)",))
    recipe = "ops/sleep.ipynb"
    runtime = tmp_path / "runtime"  # its kernels' folder: their signing keys
    with serving(
        ws,
        "--LpstudioApp.stop_timeout=2",
        name="lab",
        jupyter=True,
        environ={"JUPYTER_RUNTIME_DIR": str(runtime)},
    ) as served:
        run = served.api(
            "alice", "POST", f"/recipes/{recipe}/run", json={"parameters": {"secs": 600}}
        )
        assert run.status_code == 202, run.text
        job = run.json()["id"]
        wait_for(lambda: running_alone(ws, recipe), what="the Run now's job running")
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=2 + EXITS_WITHIN) == 0
    # Its exit skips exit functions: the kernels' folder, made for the job, goes all the same.
    assert not list((runtime / "lpstudio").iterdir())
    log = served.log.read_text()
    assert "Task was destroyed" not in log, log
    assert (
        f"waiting up to 2 s for 1 running job(s): job {job} ({recipe}, manual by alice)" in log
    ), log
    assert f"leaving job {job} ({recipe}, manual by alice) running" in log, log
    assert "for 0 request(s)" not in log, log
    (ended,) = jobs_of(ws, recipe)
    assert (ended.id, ended.status) == (job, "failed"), ended
    assert "worker lost" in ended.error["evalue"], ended.error
