"""A webhook recipe reads its delivery's headers and query (`lp.delivery`), as senders put
meaning there (Shopify's `X-Shopify-Topic`, GitHub's `X-GitHub-Event`): it saw the JSON body
alone. Never a credential: `Authorization`, cookies, API keys and signatures reach neither
the recipe, nor its job's row, nor its output notebook. A rerun sees the same headers.
Through a real server on loopback, with real kernels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

from lpstudio.sdk import WebhookTrigger
from lpstudio.studio import Studio
from lpstudio.webhooks import delivery_seen
from tests.conftest import printed, wait_for, write_recipe
from tests.servers import JUPYTER_TOKEN, Served, serving

#: The crm connection's token, which signs each delivery.
HOOK_TOKEN = "hook-token-3c9e51"
#: What the sender authenticates with besides its signature: none may reach the recipe.
SENDER_AUTH = "Bearer sender-credential-91f2"
COOKIE = "session=sender-cookie-77ab"
API_KEY = "sender-api-key-4d20"
#: Prints the delivery as its recipe reads it, and keeps what the tests compare.
CELLS = (
    "import json\nimport lpstudio.kernel as lp",
    "print(json.dumps(lp.delivery, sort_keys=True))",
    "headers = lp.delivery['headers']\n"
    "lp.set_result({'topic': headers.get('x-shopify-topic'), "
    "'source': lp.delivery['query'].get('source'), 'headers': sorted(headers), "
    "'query': lp.delivery['query'], 'event': lp.event})",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path, str]]:
    """A server on a workspace with a started webhook recipe whose deliveries are signed
    with the crm connection's token; the server, the workspace and the hook's URL."""
    root = tmp_path_factory.mktemp("delivery") / "ws"
    with Studio.init(root, accept_terms=True, admin="alice") as studio:
        studio.connections.add("crm", "http", {"token": HOOK_TOKEN}, "alice")
        trigger = {"kind": "webhook", "connection": "crm", "trigger": "webhook"}
        metadata = {"title": "Topic", "trigger": trigger, "connections": {"crm": {"type": "http"}}}
        write_recipe(root, "hooks/topic", "x: int = 1", CELLS, metadata)
        hook = f"/lpstudio/api/v1/hooks/{studio.webhook_id('hooks/topic.ipynb')}"
    with serving(root) as server:
        started = server.api("alice", "POST", "/recipes/hooks/topic.ipynb/start")
        assert started.status_code == 200, started.text
        yield server, root, hook


def _final(server: Served, job_id: int) -> dict[str, Any]:
    def ended() -> Any:
        job = server.api("alice", "GET", f"/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(ended, timeout=120, what=f"job {job_id}")


def _notebook_text(job: dict[str, Any]) -> str:
    """What the job's recipe printed of its delivery, then its output notebook whole."""
    assert job["status"] == "succeeded", job["error"]
    output = Path(job["output_path"])
    nb = nbformat.read(output, as_version=4)
    shown = next(printed(cell) for cell in nb.cells if "lp.delivery, sort_keys" in cell.source)
    return shown + "\n" + output.read_text()


def test_a_delivery_s_headers_and_query_reach_its_recipe_without_credentials(
    served: tuple[Served, Path, str],
) -> None:
    server, root, hook = served
    body = json.dumps({"id": 450789469, "email": "ana@example.com"}).encode()
    signature = hmac.new(HOOK_TOKEN.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "checkouts/create",
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-GitHub-Event": "ping",
        "X-Lpstudio-Signature": signature,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Authorization": SENDER_AUTH,
        "Cookie": COOKIE,
        "X-Api-Key": API_KEY,
    }
    query = [("source", "shop"), ("tag", "a"), ("tag", "b"), ("token", JUPYTER_TOKEN)]
    url = f"{server.url}{hook}"
    posted = httpx.post(url, params=query, content=body, headers=headers, timeout=30)
    assert posted.status_code == 202, posted.text
    (job_id,) = posted.json()["jobs"]
    job = _final(server, job_id)

    assert job["result"]["topic"] == "checkouts/create" and job["result"]["source"] == "shop"
    assert job["result"]["query"] == {"source": "shop", "tag": ["a", "b"]}
    assert job["result"]["event"] == {"id": 450789469, "email": "ana@example.com"}  # its shape
    read = set(job["result"]["headers"])
    assert {"x-shopify-shop-domain", "x-shopify-webhook-id", "x-github-event"} <= read
    dropped = {"authorization", "cookie", "x-api-key", "x-lpstudio-signature", "host"}
    assert not read & (dropped | {"x-hub-signature-256", "content-length"}), read
    assert job["event"] == {"id": 450789469, "email": "ana@example.com"}

    # Nowhere: not in the recipe's notebook, nor the job's row, nor the store.
    seen = _notebook_text(job)
    assert "checkouts/create" in seen
    row = server.api("alice", "GET", f"/jobs/{job_id}").text
    stored = b"".join(path.read_bytes() for path in root.glob("lpstudio.db*"))
    for credential in (SENDER_AUTH, COOKIE, API_KEY, signature, JUPYTER_TOKEN):
        assert credential not in seen and credential not in row
        assert credential.encode() not in stored

    # A rerun sees the delivery's headers and query as the first run did.
    rerun = server.api("alice", "POST", f"/jobs/{job_id}/rerun")
    assert rerun.status_code in (200, 202), rerun.text
    again = _final(server, rerun.json()["id"])
    assert again["result"] == job["result"]
    assert _notebook_text(again).splitlines()[0] == seen.splitlines()[0]


def test_a_signature_header_a_connector_declares_is_never_read() -> None:
    """A connector's own signature header need not say it is one (`X-Acme-Digest`)."""
    trigger = WebhookTrigger(
        "lead", "Lead", "", None, lambda headers, body: [], signature_headers=("X-Acme-Digest",)
    )
    sent = {"X-Acme-Digest": "9f2c", "X-Acme-Event": "lead.created", "Connection": "close"}
    seen = delivery_seen(trigger, sent, {"page": ["2"]})
    assert seen == {"headers": {"x-acme-event": "lead.created"}, "query": {"page": "2"}}


def test_a_recipe_run_by_hand_reads_an_empty_delivery() -> None:
    """As a job no delivery started does: the recipe's code reads it alike, not None."""
    import lpstudio.kernel as lp

    assert lp.delivery == {"headers": {}, "query": {}} and lp.context().delivery == lp.delivery
