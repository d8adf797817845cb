"""`lpstudio.kernel` as an analyst meets it: a recipe's cells run by hand in a real kernel
of JupyterLab (no job), and the same calls inside a job."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from jupyter_client import KernelManager

from lpstudio.studio import Studio

from .conftest import run_json, write_recipe

Cell = Callable[[str], tuple[list[dict[str, Any]], dict[str, Any] | None]]

SEND = """\
sent = lp.connection("liveperson").send_campaign(
    handoff="H1000000001",
    campaign_name="By hand",
    skill="sales",
    recipients=[{"phone": "+14155550100", "name": "Ada"}],
    consumer_id="phone",
    channels=["sms"],
    variables={"1": "Hi {name}"},
)
"""


@pytest.fixture
def recipe(sandbox_ws: Path) -> Path:
    """The cart-abandonment template, copied into a project of a sandbox workspace."""
    with Studio.open(sandbox_ws, user="alice") as studio:
        return studio.try_template("cart_abandonment", "shop", "cart")


@pytest.fixture
def by_hand(recipe: Path) -> Iterator[Cell]:
    """A kernel as JupyterLab starts one for the recipe: in the notebook's folder, told the
    notebook's path, with no job bound. Each call runs one cell: (outputs, error)."""
    with kernel_for(recipe) as cell:
        yield cell


@contextlib.contextmanager
def kernel_for(recipe: Path) -> Iterator[Cell]:
    env = {k: v for k, v in os.environ.items() if k != "LPSTUDIO_WORKSPACE"}
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(recipe.parent), env={**env, "JPY_SESSION_NAME": str(recipe)})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)

        def cell(code: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
            outputs: list[dict[str, Any]] = []
            reply = client.execute_interactive(code, output_hook=outputs.append, timeout=60)
            error = reply["content"] if reply["content"]["status"] == "error" else None
            return [o for o in outputs if o["msg_type"] != "status"], error

        cell("import lpstudio.kernel as lp")
        yield cell
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def shown(outputs: list[dict[str, Any]]) -> str:
    """What JupyterLab shows of the outputs when it knows none of lpstudio's MIME types."""
    parts = []
    for output in outputs:
        content = output["content"]
        parts.append(content.get("text") or content.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def campaigns(sandbox: Any) -> list[Any]:
    return httpx.get(f"{sandbox.url}/_sandbox/liveperson/campaigns").json()["campaigns"]


def test_a_cell_run_by_hand_says_it_is_a_dry_run_and_sends_nothing(by_hand: Cell, sandbox):
    """An analyst must see, before and after running an action, that nothing goes out: the
    context says test mode (a recipe's own guard reads it), the connection says dry run and
    which workspace connection fills the slot."""
    outputs, error = by_hand("lp.context().test_mode")
    assert error is None and shown(outputs) == "True"
    outputs, error = by_hand('lp.connection("liveperson")')
    assert error is None
    text = shown(outputs)
    assert "dry run" in text and "liveperson (liveperson_proactive)" in text
    assert "sandbox-secret" not in text and "client_secret': '****'" in text
    outputs, error = by_hand(SEND + "sent['dry_run'], sent['requests'][0]['json']['consumers']")
    assert error is None, error
    assert "True" in shown(outputs) and "Hi Ada" in shown(outputs)
    assert campaigns(sandbox) == []


def test_results_and_answers_by_hand_are_shown_and_say_they_are_not_stored(by_hand: Cell):
    outputs, error = by_hand('lp.set_result({"sent": 3})')
    assert error is None
    text = shown(outputs)
    assert '"sent": 3' in text and "not stored" in text and "no job" in text
    outputs, error = by_hand('lp.respond({"recorded": True}, status=201)')
    assert error is None
    text = shown(outputs)  # the body a bot would get, not only its status
    assert "201" in text and '"recorded": true' in text and "no job" in text


def test_a_large_result_is_shown_in_part_and_kept_whole(by_hand: Cell):
    """The notebook showed a result's text whole beside the result itself: a campaign's
    that lists 40,000 recipients doubled its output notebook (25 MB)."""
    outputs, error = by_hand('lp.set_result({"rows": ["x" * 60] * 2000})')
    assert error is None
    mime = "application/vnd.lpstudio.result+json"
    (data,) = [o["content"]["data"] for o in outputs if mime in o["content"].get("data", {})]
    assert len(data[mime]["rows"]) == 2000  # kept whole
    text = data["text/plain"]
    assert len(text) < 21_000 and "characters more" in text and "--json" in text, text[-300:]
    assert "not stored" in text  # and still said of a result shown by hand


def test_an_unknown_slot_by_hand_names_the_recipe_s_slots(by_hand: Cell):
    _, error = by_hand('lp.connection("lp")')
    assert error is not None and error["ename"] == "InputError"
    assert "'lp'" in error["evalue"] and "liveperson, shopify" in error["evalue"]


def test_latest_events_refuses_a_misspelt_trigger_or_a_bad_count_by_name(by_hand: Cell):
    """An analyst's slips in `lp.latest_events` surfaced as a bare KeyError, a TypeError and
    "maxlen must be non-negative": each is refused naming the argument and what to give."""
    _, error = by_hand('lp.latest_events("shopify", "abandoned_checkout", 3)')
    assert error is not None and error["ename"] == "InputError", error
    assert "no poll trigger 'abandoned_checkout'" in error["evalue"]
    assert "use one of: new_or_updated_abandoned_checkout" in error["evalue"]
    for count, said in (('"3"', "'3'"), ("-1", "-1"), ("0", "0"), ("2.5", "2.5")):
        _, error = by_hand(
            f'lp.latest_events("shopify", "new_or_updated_abandoned_checkout", {count})'
        )
        assert error is not None and error["ename"] == "InputError", (count, error)
        assert f"count must be a whole number of events, at least 1, got {said}" in error["evalue"]
        assert "fix: pass count as an integer" in error["evalue"]


def test_a_slot_bound_again_by_hand_takes_the_new_connection(by_hand: Cell, sandbox_ws: Path):
    """Save in the form (or `lpstudio settings`) binds another connection: the next cell
    must use it, not the one the kernel opened first."""
    outputs, _ = by_hand('lp.connection("liveperson")')
    assert "<Connection liveperson " in shown(outputs)
    with Studio.open(sandbox_ws, user="alice") as studio:
        values = studio.connections.values("liveperson")[1]
        studio.connections.add("lp-eu", "liveperson_proactive", values, "alice")
        studio.save_settings("shop/cart", connections={"liveperson": "lp-eu"})
    outputs, error = by_hand('lp.connection("liveperson")')
    assert error is None and "<Connection lp-eu " in shown(outputs)


def test_a_job_refuses_a_slot_its_recipe_does_not_declare(sandbox_ws: Path, sandbox):
    """In a job only the connections its settings bind may act: a slot the recipe does not
    declare was sending through the workspace connection of that name."""
    write_recipe(
        sandbox_ws,
        "p/undeclared",
        cells=("import lpstudio.kernel as lp\n" + SEND,),
        metadata={"title": "Undeclared", "connections": {"shopify": {"type": "shopify"}}},
    )
    code, job = run_json("run", "p/undeclared", "--workspace", str(sandbox_ws))
    assert code == 1, job
    assert job["status"] == "failed" and job["error"]["ename"] == "InputError"
    assert "'liveperson'" in job["error"]["evalue"] and "shopify" in job["error"]["evalue"]
    assert campaigns(sandbox) == []
    assert json.dumps(job).count("sandbox-secret") == 0


def test_outside_a_recipe_or_a_workspace_the_error_says_what_to_open(by_hand: Cell, tmp_path):
    """A scratch notebook (no recipe, so no slots) names connections directly; a notebook
    outside any workspace is told how a kernel finds one, not a CLI option it cannot pass."""
    by_hand('import os\nos.environ.pop("JPY_SESSION_NAME")')
    outputs, error = by_hand('lp.connection("shopify")')
    assert error is None and "<Connection shopify (shopify)" in shown(outputs)
    _, error = by_hand('lp.connection("lp")')
    assert error is not None and error["ename"] == "InputError"
    assert "no connection 'lp'" in error["evalue"] and "liveperson, shopify" in error["evalue"]
    _, error = by_hand(f"os.chdir({str(tmp_path)!r})\nlp.connection('liveperson')")
    assert error is not None and error["ename"] == "WorkspaceError"
    assert "LPSTUDIO_WORKSPACE" in error["evalue"] and "--workspace" not in error["evalue"]


ACME = """\
from lpstudio.sdk import Connector, Field

connector = Connector("acme", title="{title}", fields=[Field("key", "Key", secret=True)])
"""


def test_a_connector_edited_by_hand_counts_from_the_next_call(sandbox_ws: Path) -> None:
    """A developer trying their connector in JupyterLab: `lp.connection` kept the connector
    it loaded first until the kernel restarted."""
    connectors = sandbox_ws / "connectors"
    connectors.mkdir(exist_ok=True)
    (connectors / "acme.py").write_text(ACME.format(title="Acme one"))
    path = write_recipe(
        sandbox_ws, "crm/try", metadata={"title": "t", "connections": {"acme": {"type": "acme"}}}
    )
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.connections.add("acme", "acme", {"key": "k3y-of-acme"}, "alice")
    with kernel_for(path) as cell:
        outputs, error = cell('lp.connection("acme").connection.connector.title')
        assert error is None and "Acme one" in shown(outputs)
        (connectors / "acme.py").write_text(ACME.format(title="Acme two, edited"))
        outputs, error = cell('lp.connection("acme").connection.connector.title')
        assert error is None and "Acme two, edited" in shown(outputs), outputs


def test_a_template_s_missing_connection_is_told_with_its_slot_s_type(ws: Path) -> None:
    """A template opened outside projects/ names its connections by its slots: the fix to
    create one left `--type TYPE` unfilled, though the slot declares its type."""
    notebook = ws / "birthday.ipynb"
    metadata = {"title": "Birthday", "connections": {"customers": {"type": "csv_file"}}}
    nb = nbformat.v4.new_notebook(metadata={"lpstudio": metadata})
    nbformat.write(nb, notebook)
    with kernel_for(notebook) as cell:
        _, error = cell('lp.connection("customers")')
    assert error is not None and error["ename"] == "InputError"
    assert "has no connection 'customers'" in error["evalue"]
    assert "`lpstudio connections add customers --type csv_file --field ...`" in error["evalue"]
