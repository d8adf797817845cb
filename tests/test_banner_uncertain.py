"""A job cut off mid-send (its kernel dead, or cancelled) keeps its output notebook with the
reason atop it, and that reason is the job's error as stored: `show` said its sends were
uncertain ("1 send it began got no answer ... check them in the app"), while the
notebook's banner said only `lpstudio: kernel died at In [2]`, written before the job's end
found the send in doubt.

Real kernels, an http connection to a server on loopback that never answers, the real
store; waits on the server's record and the job's row, never on sleeps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from lpstudio.studio import Studio

from .conftest import wait_for, write_recipe
from .test_caught_uncertain_sends import silent  # noqa: F401  (the server that never answers)

#: A POST that never gets its answer; with `die`, the kernel kills itself once it is out.
POST = """\
import os, threading, time
import lpstudio.kernel as lp
def die_once_out():
    while not os.path.exists({gate!r}):
        time.sleep(0.01)
    os.kill(os.getpid(), 9)
if {die!r}:
    threading.Thread(target=die_once_out, daemon=True).start()
lp.connection("crm").request(method="POST", url="/orders", json={{"order": 1}})
"""


@pytest.mark.parametrize("stop", ["kernel died", "cancelled by request"])
def test_the_banner_of_a_job_cut_off_mid_send_says_its_sends_are_uncertain(
    ws: Path,
    tmp_path: Path,
    silent: Any,  # noqa: F811
    stop: str,
) -> None:
    gate = tmp_path / "out"  # created once the server has the POST
    cell = POST.format(gate=str(gate), die=stop == "kernel died")
    metadata = {"title": "Post", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/post", cells=("print('before')", cell), metadata=metadata)
    url = f"http://127.0.0.1:{silent.server_address[1]}"
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("crm", "http", {"base_url": url, "timeout_seconds": 60}, "alice")
        job, finished = studio.dispatch("p/post")
        wait_for(lambda: silent.posts, what="the POST out")
        if stop == "kernel died":
            gate.touch()
        else:
            studio.cancel(job.id)
        ended = finished.result(timeout=120)

    assert ended.status in ("failed", "cancelled") and ended.error["uncertain_sends"] == 1
    said = ended.error["evalue"]
    begins = "the recipe's kernel died" if stop == "kernel died" else stop
    assert said.startswith(begins) and "1 send it began got no answer" in said, said
    banner = nbformat.read(ws / ended.output_path, as_version=4).cells[0]
    assert "lpstudio-error" in banner.metadata["tags"]
    message, fix = said, ended.error.get("fix")  # the fix in a field of its own
    assert f"lpstudio: {message}" in banner.source, banner.source
    assert banner.source.endswith(f"<br>fix: {fix}</span>" if fix else "</span>"), banner.source
