"""A campaign of thousands of recipients: its job ends as its kernel answered, whatever
lpstudio's own handling of the last outputs costs; its result and its output notebook hold
the counts and the recipients that need attention, not every recipient sent; and `lpstudio
run` and `show` lead with those counts.

The reviewer's 40,000 invoices (an 11.5 MB result) ended `failed` on nbclient's 4 s IOPub
timeout, counted while lpstudio saved the notebook. Here the sandbox's rate is raised, so
that 3,000 recipients take about a second; a kernel that publishes after its reply, and an
output file as slow as that save, reproduce the timeout deterministically.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import papermill
import pytest
from nbclient.exceptions import CellTimeoutError

from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.studio import Studio

from .conftest import run_cli, run_json, write_recipe

PER_SECOND = 100
INVOICES = 3000
BAD_PHONES = ("0612345678", "555-0100")  # skipped: not E.164
TWICE = "+14190000007"  # a second invoice (INV-12) of INV-7's number: DUPLICATE_NUMBER


@pytest.fixture
def fast_sandbox() -> Iterator[Sandbox]:
    """The sandbox at 100 requests a second: 3,000 recipients in 30 requests."""
    with Sandbox(SandboxSettings(requests_per_second=PER_SECOND)) as running:
        yield running


@pytest.fixture
def billing(tmp_path: Path, fast_sandbox: Sandbox) -> Path:
    """A workspace with the payment reminder as billing/big and `big.csv`: 3,000 open
    invoices due in a day, two of them with phones that are not E.164 and one number twice."""
    root = tmp_path / "ws"
    with Studio.init(root, accept_terms=True, admin="alice", sandbox=fast_sandbox.url) as studio:
        studio.connections.update("liveperson", {"requests_per_second": PER_SECOND})
        studio.try_template("payment_reminder", "billing", "big")
    rows = ["invoice_id,first_name,phone,amount,currency,due_date,status"]
    for i in range(INVOICES):
        phone = BAD_PHONES[i - 10] if i in (10, 11) else f"+1419{i:07d}"
        phone = TWICE if i == 12 else phone
        rows.append(f"INV-{i},Ann,{phone},{i}.00,USD,2026-12-02,open")
    (root / "projects" / "billing" / "big.csv").write_text("\n".join(rows) + "\n")
    return root


def test_a_large_reminder_keeps_its_counts_and_problems_not_every_recipient(
    billing: Path, fast_sandbox: Sandbox
) -> None:
    """Its result held every recipient twice (the campaign's consumers, with each text):
    900 KB for 5,000 recipients, printed by `run` and `show` on one line."""
    args = ("-p", "invoices_csv", "big.csv", "-p", "today", "2026-12-01", "-p", "days_ahead", "3")
    ran = run_cli("run", "billing/big", *args, "--workspace", str(billing), timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    sent = INVOICES - len(BAD_PHONES) - 1
    answer = httpx.get(f"{fast_sandbox.url}/_sandbox/liveperson/recipients").json()
    assert len(answer["recipients"]) == sent and {r["count"] for r in answer["recipients"]} == {1}

    code, job = run_json("show", "1", "--workspace", str(billing))
    assert code == 0 and job["status"] == "succeeded", job
    result = job["result"]
    assert result["recipients"] == sent + 1 and result["accepted"] == sent
    # Never sent to LivePerson, which refused nobody: named by its record, INV-12, and the
    # earlier one, INV-7, whose reminder its number got.
    assert result["failed"] == []
    assert result["unsendable"] == [
        {
            "address": TWICE,
            "invoice_id": "INV-12",
            "errorMessage": f"DUPLICATE_NUMBER: {TWICE} is the address of an earlier record "
            "(invoice_id INV-7), which the campaign messages once",
        }
    ]
    assert result["rejected"] == [] and result["uncertain"] == [] and result["not_sent"] == 0
    assert sorted(s["phone"] for s in result["skipped"]) == sorted(BAD_PHONES)
    shown = result["campaign"]["consumers"]  # the first 10 as sent, the rest counted
    assert [c["invoice_id"] for c in shown] == [f"INV-{i}" for i in range(10)]
    assert shown[0]["variables"]["1"].startswith("Hi Ann, invoice INV-0 of 0.00 USD")
    whole = json.dumps(result)
    assert "+14190002999" not in whole, "every accepted recipient is listed"
    assert len(whole) < 30_000, len(whole)  # a few entries per batch of 100 at most
    assert Path(job["output_path"]).stat().st_size < 300_000

    for printed in (ran.stdout, run_cli("show", "1", "--workspace", str(billing)).stdout):
        lines = printed.splitlines()
        counts = f"accepted {sent} · failed 0 · rejected 0 · uncertain 0 · not sent 0 · skipped 2"
        assert any(line.strip().startswith(f"result:   {counts} · ") for line in lines), printed
        assert any("0612345678 (invoice INV-10): phone is not in E.164 form" in li for li in lines)
        assert any(f"{TWICE} (invoice INV-12): DUPLICATE_NUMBER" in li for li in lines), printed
        assert "--json" in printed and len(printed) < 4000, printed


# A Python kernel that publishes after its reply to a cell holding `# late` (as a large
# output published last reaches the client after the reply), and that never says it is
# idle after a cell holding `# mute` (a kernel that stopped publishing).
LATE_KERNEL = """\
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp


class LateKernel(IPythonKernel):
    async def execute_request(self, stream, ident, parent):
        await super().execute_request(stream, ident, parent)
        if "# late" in parent["content"]["code"]:
            for n in range(3):
                text = {"name": "stdout", "text": f"late {n}\\n"}
                self.send_response(self.iopub_socket, "stream", text, channel="shell")

    def _publish_status(self, status, channel, parent=None):
        code = (parent or self.get_parent(channel) or {}).get("content", {}).get("code", "")
        if status == "idle" and "# mute" in code:
            return
        super()._publish_status(status, channel, parent)


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=LateKernel)
"""

IOPUB_TIMEOUT = 1  # seconds: nbclient's default is 4


@pytest.fixture
def late_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Installs the `late` kernel in a Jupyter folder of its own; returns its name."""
    where = tmp_path / "jupyter"
    folder = where / "kernels" / "late"
    folder.mkdir(parents=True)
    program = where / "late_kernel.py"
    program.write_text(LATE_KERNEL)
    spec = {
        "argv": [sys.executable, str(program), "-f", "{connection_file}"],
        "display_name": "late",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(where))
    return "late"


class SlowFile:
    """A `--stdout-file` that takes longer than the IOPub timeout to take the last line, as
    the save of a large notebook did: lpstudio's own work on a message the kernel sent."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        if "late 2" in text:
            time.sleep(IOPUB_TIMEOUT * 2.5)  # the slowness under test, not a wait for anything
        self.text += text

    def flush(self) -> None:
        pass


def late_notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "late", "display_name": "late", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


def run_late(tmp_path: Path, source: str, **kwargs: Any) -> Any:
    return papermill.execute_notebook(
        str(late_notebook(tmp_path / "in.ipynb", source)),
        str(tmp_path / "out.ipynb"),
        engine_name="lpstudio",
        kernel_name="late",
        iopub_timeout=IOPUB_TIMEOUT,
        progress_bar=False,
        **kwargs,
    )


def test_lpstudio_slow_on_the_outputs_after_the_reply_does_not_time_the_cell_out(
    tmp_path: Path, late_kernel: str
) -> None:
    """The kernel answered and went on publishing; lpstudio took longer than the IOPub
    timeout over one of those outputs: the cell timed out ("Timeout waiting for IOPub
    output") though the kernel was never silent that long."""
    slow = SlowFile()
    nb = run_late(tmp_path, "print('in the cell')  # late", stdout_file=slow)
    assert [c.metadata.papermill["status"] for c in nb.cells] == ["completed", "completed"]
    assert slow.text == "in the cell\nlate 0\nlate 1\nlate 2\n"
    assert "".join(o.text for o in nb.cells[1].outputs) == slow.text


def test_a_kernel_that_stops_publishing_after_its_reply_still_times_the_cell_out(
    tmp_path: Path, late_kernel: str
) -> None:
    """The bound stays: a kernel silent after its reply (no idle) fails the run within the
    IOPub timeout, the cell marked failed."""
    began = time.monotonic()
    with pytest.raises(CellTimeoutError, match="Timeout waiting for IOPub output"):
        run_late(tmp_path, "y = 2  # mute")
    assert time.monotonic() - began < 60
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert [c.metadata.papermill["status"] for c in out.cells] == ["completed", "failed"]


def test_show_names_an_uncertain_batch_by_its_addresses_not_the_job_that_sent_it(
    ws: Path,
) -> None:
    """A rerun's result names the batch an earlier attempt may have sent by its addresses,
    which a manager checks in LivePerson; the earlier job's id is no id of the recipients."""
    write_recipe(ws, "p/plain")
    uncertain = {
        "batch": 1,
        "recipients": 2,
        "addresses": ["+14155550111", "+14155550112"],
        "job_id": 6,
        "reason": "sent by an earlier attempt: it may have been accepted",
    }
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot("p/plain.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe="p/plain.ipynb",
            version_id=version,
            trigger="manual",
            parameters={},
            user="alice",
        )
        result = {"accepted": 0, "uncertain": [uncertain]}
        studio.store.finish_job(job.id, "succeeded", cells_done=2, cells_total=2, result=result)

    shown = run_cli("show", str(job.id), "--workspace", str(ws))

    assert shown.returncode == 0, shown.stderr
    said = "uncertain: +14155550111, +14155550112 (batch 1): sent by an earlier attempt"
    assert said in shown.stdout, shown.stdout
