"""A credential a connector obtains with the stored secrets (LivePerson's access token, got
with the app secret) is as secret as they are: the connector holds it (`Connection.hold`),
and its connection masked it in its errors, but the output notebook, the job's result and
its error are written by the runner, which knew only the stored secrets. A recipe that
printed the token, or an answer quoting it, kept it in clear in the job's history. The
kernel tells the runner what it holds, and no output notebook keeps that message. (An
action's answer is masked of it already, in the kernel.) Real kernels, real SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from lpstudio.studio import Studio
from tests.conftest import write_recipe

MASK = "****"
KEY = "vault-key-93b1d7"
#: What the vault's login answers: nothing of it is stored, nor derived from `KEY`.
TOKEN = "eyJhbGciOiJIUzI1NiJ9.obtained-7Qk2"

VAULT = f"""\
from lpstudio.sdk import Connector, Field

connector = Connector("vault", title="Vault", fields=[Field("key", "Key", secret=True)])


@connector.action("login", title="Log in")
def login(conn, data):  # what an app's login answers, held as the connection's secret
    conn.cache["token"] = conn.hold({TOKEN!r})
    return {{"logged_in": True}}
"""

RECIPE = (
    "import lpstudio.kernel as lp",
    'vault = lp.connection("vault")',
    "vault.login()",
    'token = vault.connection.cache["token"]  # a recipe reaching into its connection',
    'print("logged in with", token)',
    'lp.set_result({"token": token, "length": len(token)})',
    "if x == 2:\n    raise RuntimeError(f'the app refused {token}')",
)


def test_a_token_the_connector_obtained_is_masked_in_the_job_s_history(ws: Path) -> None:
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "vault.py").write_text(VAULT)
    metadata = {"title": "login", "connections": {"vault": {"type": "vault"}}}
    write_recipe(ws, "p/login", "x: int = 1", RECIPE, metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("vault", "vault", {"key": KEY}, "alice")
        ran = studio.submit("p/login").result(timeout=120)
        failed = studio.submit("p/login", {"x": 2}).result(timeout=120)

    assert ran.status == "succeeded", ran.error
    assert ran.result == {"token": MASK, "length": len(TOKEN)}  # the recipe got it whole
    assert failed.status == "failed" and f"the app refused {MASK}" in failed.error["evalue"]
    for job in (ran, failed):
        nb = nbformat.read(ws / job.output_path, as_version=4)
        text = nbformat.writes(nb)
        assert f"logged in with {MASK}" in text
        assert TOKEN not in text and "vnd.lpstudio.held" not in text
        assert TOKEN not in json.dumps(job.error or {})
    stored = (ws / "lpstudio.db").read_bytes().decode("latin-1")
    assert TOKEN not in stored
