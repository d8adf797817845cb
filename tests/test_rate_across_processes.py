"""Campaigns of several jobs at once, each in a process of its own, keep the account within
its requests per second as LivePerson counts them (by arrival, in a sliding second): no
429 is lpstudio's own doing, against the sandbox over loopback at a small limit.

Each process sends through what a job's kernel gives its connections (`Runtime`: the
delivery ledger in the workspace's store, the machine's shared rate limiter). One of them
writes its ledger slowly (a store far away or busy with other writers): its requests leave
later after their turn than the others', the bunching a limiter that counts a request
from its permit lets through.
"""

from __future__ import annotations

import bisect
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lpstudio.sandbox import Sandbox, SandboxSettings
from lpstudio.store import Store

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "12345678"
CAMPAIGN_PATH = f"/api/v2/account/{ACCOUNT}/campaign"
PER_SECOND = 4
REQUESTS_EACH = 8
SLOW_CLAIM = 0.4  # seconds the slow job's store takes to write a claim

#: One job's process: its campaign through a kernel's `Runtime`, one recipient a request,
#: its ledger's claims `slow` s each. It prints "ready" once set, and sends once it reads a
#: line on standard input.
JOB = """
import sys, time
from lpstudio.client import ConnectionClient
from lpstudio.kernel.runtime import Runtime

workspace, store_url, sandbox_url, per_second, job, count, slow = sys.argv[1:]
job, count, slow = int(job), int(count), float(slow)
config = {
    "account_id": "12345678",
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "base_url": sandbox_url,
    "requests_per_second": per_second,
    "recipients_per_request": 1,
}
payload = {
    "workspace": workspace,
    "store_url": store_url,
    "ledger": f"job:{job}",
    "connections": {"lp": {"name": "lp", "type": "liveperson_proactive", "config": config}},
}
conn = Runtime(payload, False, job, print).connection("lp")
claim = conn.ledger.claim_many

def slow_claim(keys, **given):
    time.sleep(slow)  # the store's write, slow: not a synchronisation
    return claim(keys, **given)

conn.ledger.claim_many = slow_claim
print("ready", flush=True)
sys.stdin.readline()
result = ConnectionClient(conn).send_campaign(
    handoff="H1000000001",
    campaign_name=f"Job {job}",
    skill="sales",
    recipients=[
        {"phone": f"+1{2_000_000_000 + job * 1000 + n}", "name": f"P{n}"} for n in range(count)
    ],
    consumer_id="phone",
    variables={"1": "{name}"},
)
assert result["accepted"] == count, result
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    limits = SandboxSettings(requests_per_second=PER_SECOND, recipients_per_request=1)
    with Sandbox(limits) as running:
        yield running


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lpstudio.db'}"
    store = Store(url, create=True)
    store.migrate()
    store.close()
    return url


def campaign_log(control: httpx.Client) -> list[dict[str, Any]]:
    log = control.get("/_sandbox/requests").json()["requests"]
    return [entry for entry in log if entry["path"] == CAMPAIGN_PATH]


def most_in_a_second(times: list[float]) -> int:
    """The most requests the sandbox logged in any one-second window."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


def job_process(workspace: Path, store_url: str, sandbox: Sandbox, job: int, slow: float) -> Any:
    """A `JOB` process, ready to send."""
    args = [workspace, store_url, sandbox.url, PER_SECOND, job, REQUESTS_EACH, slow]
    proc = subprocess.Popen(
        [sys.executable, "-c", JOB, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    said = [proc.stdout.readline()]
    while said[-1] and said[-1].strip() != "ready":  # a warning or two may come first
        said.append(proc.stdout.readline())
    assert said[-1].strip() == "ready", said
    return proc


def test_jobs_in_three_processes_together_draw_no_429(sandbox, control, store_url, tmp_path):
    """Three jobs of one account at once, one of them with a slow store: LivePerson admits
    every request at its first try, and never more than its limit in any second."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    slow = {1: SLOW_CLAIM, 2: 0.0, 3: 0.0}
    jobs = [job_process(workspace, store_url, sandbox, job, pause) for job, pause in slow.items()]
    for job in jobs:  # all at once
        assert job.stdin is not None
        job.stdin.write("go\n")
        job.stdin.flush()
    outputs = [job.communicate(timeout=120)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0, 0], outputs

    log = campaign_log(control)
    statuses = sorted(entry["status"] for entry in log)
    assert statuses == [200] * (3 * REQUESTS_EACH), outputs
    assert most_in_a_second([entry["time"] for entry in log]) <= PER_SECOND
