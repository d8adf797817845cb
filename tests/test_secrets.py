"""Secrets end to end through real jobs: a recipe that sends a campaign to the sandbox and a
recipe that deliberately prints its connection's config and raises an error holding the
secret. Nothing a user can read afterwards (output notebooks, job rows, CLI output, the
connection list, the store) may hold the client secret or an access token the sandbox
issued. And a rerun of a partly sent job never sends anyone twice.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.sandbox import Sandbox
from lpstudio.sandbox.state import SandboxState
from lpstudio.studio import Studio

from .conftest import run_cli, write_recipe

SECRET = "sandbox-secret"
LP_TYPE = "liveperson_proactive"
CAMPAIGN_PATH = "/api/v2/account/12345678/campaign"
# Every AppJWT the sandbox issues starts with this header: {"alg": "RS256", "typ": "JWT"}.
JWT_HEADER = "eyJhbGciOiAiUlMyNTYiLCAidHlwIjogIkpXVCJ9"
METADATA = {"title": "Campaign", "connections": {"liveperson": {"type": LP_TYPE}}}

SEND = """\
import lpstudio.kernel as lp
people = [{"phone": f"+1415555{n:04d}", "name": f"Person {n}"} for n in range(count)]
result = lp.connection("liveperson").send_campaign(
    handoff="H1000000001", campaign_name="Secrets", skill="sales",
    recipients=people, consumer_id="phone", variables={"1": "{name}"},
)
print(result)
lp.set_result(result)
"""

LEAK = """\
import lpstudio.kernel as lp
client = lp.connection("liveperson")
print(client.connection.config)
print(repr(client))
lp.log("secret is " + client.connection.config["client_secret"])
lp.set_result({"config": client.connection.config})
"""

RAISE = """\
raise RuntimeError("cannot go on with " + client.connection.config["client_secret"])
"""


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access token the sandbox (running in this process) hands out."""
    tokens: list[str] = []
    original = SandboxState.issue_token

    def spy(self: SandboxState, client_id: str, client_secret: str) -> str | None:
        token = original(self, client_id, client_secret)
        if token:
            tokens.append(token)
        return token

    monkeypatch.setattr(SandboxState, "issue_token", spy)
    return tokens


@pytest.fixture
def sandbox(issued: list[str]) -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def ws(tmp_path: Path, sandbox: Sandbox) -> Path:
    root = tmp_path / "ws"
    Studio.init(root, accept_terms=True, admin="alice", sandbox=sandbox.url).close()
    return root


@pytest.fixture
def cli(ws: Path) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--workspace", str(ws)])

    return invoke


def run_job(ws: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Runs the real `lpstudio` executable; returns exit code, JSON job and all output."""
    proc = run_cli(*args, "--workspace", str(ws), "--json")
    return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr


def files_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def holding(texts: dict[Any, bytes | str], needles: list[str]) -> list[tuple[Any, str]]:
    found = []
    for where, text in texts.items():
        data = text.encode() if isinstance(text, str) else text
        found += [(where, needle) for needle in needles if needle.encode() in data]
    return found


def test_no_secret_or_token_survives_in_anything_a_user_can_read(ws, cli, control, issued):
    write_recipe(ws, "campaign/send", "count: int = 30", (SEND,), METADATA)
    write_recipe(ws, "campaign/leak", "x: int = 1", (LEAK, RAISE), METADATA)

    sent_code, sent, sent_output = run_job(ws, "run", "campaign/send")
    leak_code, leak, leak_output = run_job(ws, "run", "campaign/leak")

    assert sent_code == 0, sent
    assert sent["result"]["accepted"] == 30
    assert issued, "the sandbox issued no token: the campaign did not go through it"
    assert leak_code == 1
    assert leak["status"] == "failed"
    assert leak["error"]["ename"] == "RuntimeError"
    assert leak["error"]["evalue"] == "cannot go on with ****"  # scrubbed, still useful
    assert leak["result"]["config"]["client_secret"] == "****"
    assert leak["result"]["config"]["client_id"] == "sandbox-client"

    outputs: dict[Any, bytes | str] = {
        "run send": sent_output,
        "run leak": leak_output,
        "jobs": cli("jobs", "--json").output,
        "jobs text": cli("jobs").output,
        "connections": cli("connections", "list", "--json").output,
        "connections text": cli("connections", "list").output,
    }
    for job in (sent, leak):
        outputs[f"show {job['id']}"] = cli("show", str(job["id"]), "--json").output
        outputs[f"show {job['id']} text"] = cli("show", str(job["id"])).output
    history = files_under(ws / "history")
    assert len([p for p in history if p.suffix == ".ipynb"]) == 2
    leak_notebook = Path(leak["output_path"]).read_text()
    assert "'client_secret': '****'" in leak_notebook  # the print happened, masked
    assert "secret is ****" in leak_notebook
    store = {p: data for p, data in files_under(ws).items() if p.name != "secret.key"}

    needles = [SECRET, *issued, JWT_HEADER]
    assert holding(outputs, needles) == []
    assert holding(history, needles) == []
    assert holding(store, needles) == []


def test_a_rerun_of_a_partly_sent_job_sends_nothing_twice(ws, cli, control):
    write_recipe(ws, "campaign/partial", "count: int = 250", (SEND,), METADATA)
    # Seeded so that of the job's first three LivePerson requests (token, batch 1,
    # batch 2) only the third loses its answer: batch 2 is accepted, its answer dropped.
    plan = {"drop_rate": 0.5, "scope": "liveperson", "count": 3, "seed": 3}
    assert control.post("/_sandbox/faults", json=plan).status_code == 200

    first_code, first, _ = run_job(ws, "run", "campaign/partial")

    # A campaign with recipients left uncertain fails its job, which keeps the accounting;
    # it stops at the batch in doubt (each later one sent into the fault would be too).
    assert first_code == 1 and first["status"] == "failed"
    assert first["error"]["ename"] == "ServiceTrouble"
    assert "stopped at batch 2" in first["error"]["evalue"]
    log = control.get("/_sandbox/requests").json()["requests"]
    assert [e["dropped"] for e in log if e["path"] == CAMPAIGN_PATH] == [False, True]
    result = first["result"]
    assert result["accepted"] == 100 and result["not_sent"] == 50
    assert [u["batch"] for u in result["uncertain"]] == [2]

    rerun_code, rerun, rerun_output = run_job(ws, "rerun", str(first["id"]))

    assert rerun_code == 1  # the 100 recipients are still uncertain: someone must look
    assert "accepted 50, rejected 0, uncertain 100, already sent 100" in rerun["error"]["evalue"]
    assert rerun["rerun_of"] == first["id"]
    assert "runs every cell again" in rerun_output  # the warning
    again = rerun["result"]
    assert again["accepted"] == 50 and [c["batch"] for c in again["campaigns"]] == [3]
    assert [entry["batch"] for entry in again["already_sent"]] == [1]
    assert [entry["job_id"] for entry in again["already_sent"]] == [first["id"]]
    [uncertain] = again["uncertain"]
    assert uncertain["batch"] == 2 and uncertain["recipients"] == 100
    assert uncertain["addresses"][0] == "+14155550100"
    log = control.get("/_sandbox/requests").json()["requests"]
    assert len([e for e in log if e["path"] == CAMPAIGN_PATH]) == 3  # batch 3 only, once
    counts = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    assert len(counts) == 250
    assert all(row["count"] == 1 for row in counts)


def test_a_rerun_after_the_purge_of_its_chain_s_first_job_sends_nothing_twice(ws, control):
    """The purge forgot the ledger's rows by their age: a chain's first job past the
    retention took its sends with it, and a rerun of a later job of the chain (still
    within it) sent every recipient again."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from lpstudio.models import Delivery, Job

    write_recipe(ws, "campaign/chain", "count: int = 3", (SEND,), METADATA)
    with Studio.open(ws, user="alice") as studio:
        first = studio.run("campaign/chain")
        assert first.status == "succeeded", first.error
        with studio.store.write() as s:  # the first job and its sends, 40 days ago
            old = datetime.now(UTC) - timedelta(days=40)
            s.execute(update(Job).where(Job.id == first.id).values(finished_at=old))
            s.execute(update(Delivery).values(updated_at=old))
        second = studio.rerun(first.id)
        studio.purge()  # the daily purge: 30 days
        assert studio.job(first.id).purged and not studio.job(second.id).purged
        third = studio.rerun(second.id)

    assert second.result["accepted"] == third.result["accepted"] == 0
    counts = control.get("/_sandbox/liveperson/recipients").json()["recipients"]
    assert sorted(row["count"] for row in counts) == [1, 1, 1]


ESCAPED = """\
import lpstudio.kernel as lp
print(lp.connection("crm").connection.config)
"""


def run_with_crm_token(ws: Path, token: str, recipe: str, cell: str) -> tuple[int, Any, str]:
    """Runs a recipe of one `cell` whose `crm` slot is an http connection with `token`."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": token, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
    metadata = {"title": recipe, "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, recipe, "x: int = 1", (cell,), metadata)
    return run_job(ws, "run", recipe)


def test_a_secret_with_a_backslash_is_masked_in_printed_config_too(ws):
    token = "crm\\token-31337"  # one backslash: print(dict) shows it doubled
    code, job, output = run_with_crm_token(ws, token, "campaign/escaped", ESCAPED)

    assert code == 0, job
    notebook = Path(job["output_path"]).read_text()
    assert "'token': '****'" in notebook
    assert "token-31337" not in notebook + output


SPLIT = """\
import sys
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
print(token[:6], end="", flush=True)
print("[between]", file=sys.stderr, flush=True)
print(token[6:], flush=True)
"""


def test_a_secret_printed_in_pieces_is_masked_where_its_pieces_show_joined(ws):
    """Each stream output was masked alone: `crm-to` and `ken-31337` each hold no secret,
    but JupyterLab shows a stream's outputs joined, and there it was whole again."""
    code, job, output = run_with_crm_token(ws, "crm-token-31337", "campaign/split", SPLIT)

    assert code == 0, job
    notebook = json.loads(Path(job["output_path"]).read_text())
    shown = notebook["cells"][-1]["outputs"]
    out = "".join("".join(o["text"]) for o in shown if o.get("name") == "stdout")
    assert out == "****\n", shown
    assert any(o.get("name") == "stderr" for o in shown), shown  # the other stream kept
    assert "token-31337" not in out + output


def test_the_basic_credentials_a_user_name_and_password_make_are_masked_too(ws):
    """An API that echoes the Authorization header it got puts the encoded password in the
    answer a recipe prints."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "basic", "username": "ada", "password": "pa55-w0rd-77"}
        values["base_url"] = "https://crm.example"
        studio.connections.add("crm", "http", values, "alice")
    echoed = "import base64\nprint('Basic ' + base64.b64encode(b'ada:pa55-w0rd-77').decode())"
    write_recipe(ws, "campaign/echo", "x: int = 1", (echoed,), {"title": "Echo"})

    code, job, output = run_job(ws, "run", "campaign/echo")

    assert code == 0, job
    notebook = Path(job["output_path"]).read_text()
    encoded = base64.b64encode(b"ada:pa55-w0rd-77").decode()
    assert "Basic ****" in notebook and encoded not in notebook + output


ENCODED = """\
import base64, sqlalchemy
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
url = sqlalchemy.engine.make_url(lp.connection("db").connection.config["url"])
shown = {
    "b64": base64.b64encode(token.encode()).decode(),
    "b64url": base64.urlsafe_b64encode(token.encode()).decode(),
    "password": url.password,
    # An app echoing its Authorization header encoded whole: the token sits at an offset.
    "bearer_b64": base64.b64encode(f"Bearer {token}".encode()).decode(),
}
print(shown)
lp.set_result(shown)
"""
TOKEN = "crm~~T0ken??>>"  # its base64 holds '/', which URL-safe base64 writes '_'
DB_PASSWORD = "db-Pa55/word"


def test_a_secret_base64_encoded_or_decoded_from_its_url_is_masked_too(ws, cli):
    """A recipe (or an API that echoes what it got) may show a token base64-encoded, and a
    database driver the password of the URL decoded: neither may reach what users read."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": TOKEN, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
        url = "postgresql+psycopg://bob:db-Pa55%2Fword@db.example:5432/brand"
        studio.connections.add("db", "sql", {"url": url}, "alice")
    metadata = {"title": "Encoded", "connections": {"crm": {"type": "http"}, "db": {"type": "sql"}}}
    write_recipe(ws, "campaign/encoded", "x: int = 1", (ENCODED,), metadata)

    code, job, output = run_job(ws, "run", "campaign/encoded")

    assert code == 0, job
    bearer = base64.b64encode(f"Bearer {TOKEN}".encode()).decode()
    assert job["result"] == {
        "b64": "****",
        "b64url": "****",
        "password": "****",
        # Only the characters of "Bearer " and the one mixing it with the token's bits stay.
        "bearer_b64": bearer[:10] + "****",
    }
    readable: dict[Any, bytes | str] = {
        "run": output,
        "show": cli("show", str(job["id"]), "--json").output,
        **files_under(ws / "history"),
    }
    needles = [
        DB_PASSWORD,
        base64.b64encode(TOKEN.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("="),
        bearer[10:],
    ]
    assert holding(readable, needles) == []


HTML_SHOWN = """\
import pandas as pd
import lpstudio.kernel as lp
password = lp.connection("crm").connection.config["password"]
pd.DataFrame([{"field": "password", "echoed": password}])
"""
HTML_PASSWORD = 'Tr0ub4dor&3<horse>"'


def test_a_secret_in_a_table_s_html_is_masked_too(ws):
    """A DataFrame is shown as text and as an HTML table, which escapes `&`, `<` and `>`:
    the escaped password could be read back from the output notebook."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "basic", "username": "ada", "password": HTML_PASSWORD}
        studio.connections.add("crm", "http", {**values, "base_url": "https://crm.example"}, "a")
    metadata = {"title": "Table", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "campaign/table", "x: int = 1", (HTML_SHOWN,), metadata)

    code, job, output = run_job(ws, "run", "campaign/table")

    assert code == 0, job
    notebook = json.loads(Path(job["output_path"]).read_text())
    (shown,) = notebook["cells"][-1]["outputs"]
    assert "<td>****</td>" in "".join(shown["data"]["text/html"])
    escaped = [html.escape(HTML_PASSWORD), html.escape(HTML_PASSWORD, quote=False)]
    readable = {"run": output, **files_under(ws / "history")}
    assert holding(readable, ["Tr0ub4dor", *escaped]) == []


CASE_SHOWN = """\
from urllib.parse import quote
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
escaped = quote(token, safe="")
lp.set_result({
    "lower": token.lower(),
    "upper": token.upper(),
    "hex_lower": escaped.replace("%2F", "%2f").replace("%2B", "%2b"),
})
print(token.lower(), escaped.lower())
"""
CASE_TOKEN = "Tok/En+Mixed-Case9"


def test_a_secret_an_app_echoes_in_another_case_is_masked_too(ws):
    """Apps echo what they got lower-cased (a header's value, a normalised id), or
    percent-encode it with lower-case hex digits (`%2f`, as many HTTP libraries do): such
    an echo showed the secret in the job's result and its output notebook."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": CASE_TOKEN, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
    metadata = {"title": "Case", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "campaign/case", "x: int = 1", (CASE_SHOWN,), metadata)

    code, job, output = run_job(ws, "run", "campaign/case")

    assert code == 0, job
    assert job["result"] == {"lower": "****", "upper": "****", "hex_lower": "****"}
    readable = {"run": output, **files_under(ws / "history")}
    needles = [CASE_TOKEN.lower(), CASE_TOKEN.upper(), "tok%2fen%2bmixed-case9"]
    assert holding(readable, needles) == []


def test_a_number_or_an_event_given_by_hand_holding_a_secret_is_refused(ws, cli):
    """A numeric password given as an integer parameter was kept on the job in the clear
    (only text was compared), as was an event typed with a token in it."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "basic", "username": "bot", "password": "73019468"}
        studio.connections.add("api", "http", {**values, "base_url": "https://a.example"}, "a")
        studio.connections.add("crm", "http", {"token": "tok-abcdef-123456"}, "alice")
    params = "pin: int = 0\nids: list = []\nrate: float = 0.0"
    write_recipe(ws, "campaign/echo", params, ("print(pin)",))

    for args, field in (
        (("-p", "pin", "73019468"), "pin"),
        (("-p", "rate", "73019468"), "rate"),  # a float: 73019468.0
        (("-p", "ids", "[1, 73019468]"), "ids"),
        (("--event", '{"authorization": "Bearer tok-abcdef-123456"}'), "event"),
    ):
        result = cli("run", "campaign/echo", *args, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == field and "holds the secret of a connection" in error["message"]
    assert cli("run", "campaign/echo", "-p", "pin", "7301946", "--json").exit_code == 0
    shown = cli("jobs", "--json").output
    assert len(json.loads(shown)) == 1 and "73019468" not in shown


class _Echoing(BaseHTTPRequestHandler):
    """An app (or a proxy's error page) refusing a credential, which it quotes at the end
    of a long text: the part a message keeps of it must not hold the start of the secret."""

    def refuse(self, credential: str, kept: int) -> None:
        """`kept`: how much of a refusal's text the connector's messages keep."""
        body = ("x" * (kept - 40) + " rejected credential: " + credential).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # Shopify's checkouts, with the token in a header
        self.refuse(self.headers.get("X-Shopify-Access-Token", ""), 200)

    def do_POST(self) -> None:  # LivePerson's token request, with the secret in a form
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.refuse(form.get("client_secret", [""])[0], 300)

    def log_message(self, format: str, *args: Any) -> None:
        pass


ECHOED = "shh-0123456789abcdef0123456789abcdef0123456789"


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("shopify", {"access_token": ECHOED}),
        ("liveperson_proactive", {"account_id": "123", "client_id": "c", "client_secret": ECHOED}),
    ],
)
def test_an_answer_that_quotes_the_credential_shows_none_of_it_cut_short(
    ws, cli, serve, kind, fields
):
    """Messages keep the start of a refusal's text; masked after that cut, a secret the
    app quoted near its end was shown in part (its first characters) by the connection's
    test, stored, and answered by the connections list."""
    app = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Echoing))
    where = f"http://127.0.0.1:{app.server_address[1]}"
    address = {"shop": where} if kind == "shopify" else {"base_url": where}
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("echoing", kind, {**fields, **address}, "alice")

    tested = cli("connections", "test", "echoing", "--json")
    listed = cli("connections", "list", "--json")

    assert json.loads(tested.output)["status"] == "disconnected", tested.output
    assert "rejected credential: ****" in tested.output
    assert holding({"test": tested.output, "list": listed.output}, [ECHOED[:8]]) == []


LEAKY_CONNECTOR = """\
from lpstudio.sdk import Connector, ConnectorError, Field, Option

connector = Connector("leaky", title="Leaky", fields=[Field("key", "Key", secret=True)])


@connector.test
def test(conn):
    return "connected"


@connector.action("go", title="Go")
def go(conn, data):
    raise ConnectorError(f"refused key={conn.config['key']}", status=403, fix=conn.config["key"])


@connector.action("send", title="Send")
def send(conn, data):
    headers = {"Authorization": "Bearer " + conn.config["key"]}
    if conn.dry_run:
        return conn.would_send("POST", "https://app.example/send", headers=headers, json=data)
    raise AssertionError("a dry run sends nothing")


@connector.poll_trigger("rows", title="Rows", key=lambda row: str(row["id"]))
def rows(conn, since, cursor):
    try:
        raise OSError(f"cannot reach the app with {conn.config}")
    except OSError as exc:
        raise RuntimeError("poll failed with key " + conn.config["key"]) from exc


@connector.picklist("owners", title="Owners")
def owners(conn):  # an OSError shows its strerror, not its args
    raise OSError(5, "cannot list owners with " + conn.config["key"])
"""
KEY = "leaky-K3y/5ecret"


def test_a_connector_error_holding_its_secret_is_masked_where_it_is_raised(ws, cli, caplog):
    """Outside a job's output (a scheduler's poll, a form's pick list, a cell run by hand in
    JupyterLab) nothing scrubs what a connector raises or a dry run describes: its own
    secrets are masked in the error, its chained causes and its fix as it is raised, and in
    the request a dry run would have sent."""
    import traceback

    from lpstudio.client import ConnectionClient
    from lpstudio.models import TriggerState
    from lpstudio.scheduler import Scheduler
    from lpstudio.sdk import ConnectorError

    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "leaky.py").write_text(LEAKY_CONNECTOR)
    with (ws / "lpstudio.toml").open("a") as config:
        config.write("\n[triggers]\nauto_stop_after = 1\n")
    trigger = {"kind": "poll", "connection": "leaky", "trigger": "rows", "interval_minutes": 1}
    metadata = {"title": "Rows", "connections": {"leaky": {"type": "leaky"}}, "trigger": trigger}
    write_recipe(ws, "p/rows", "x: int = 1", ("print(x)",), metadata)
    readable: dict[Any, bytes | str] = {}
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("leaky", "leaky", {"key": KEY}, "alice")
        client = ConnectionClient(studio.connections.open("leaky"))
        with pytest.raises(ConnectorError) as refused:
            client.go()
        assert str(refused.value) == "refused key=****\n  fix: ****"
        assert refused.value.status == 403  # still the connector's error, as it was raised
        dry = ConnectionClient(studio.connections.open("leaky", dry_run=True)).send()
        assert dry["headers"] == {"Authorization": "Bearer ****"}  # a cell run by hand shows it
        readable["dry run"] = json.dumps(dry)
        with pytest.raises(ConnectorError) as listed:
            client.picklist("owners")
        assert str(listed.value) == "OSError: [Errno 5] cannot list owners with ****"
        chained, link = [], listed.value  # what code walking the chain of errors reads
        while link is not None and len(chained) < 10:
            chained.append(str(link))
            link = link.__cause__ or link.__context__
        assert not any(KEY in text for text in chained), chained
        with pytest.raises(ConnectorError) as polled:  # what `lpstudio poll` shows
            studio.poll("p/rows")
        assert str(polled.value).startswith(
            "the poll of p/rows.ipynb failed: RuntimeError: poll failed with key ****"
        )
        for name, error in (("go", refused), ("picklist", listed), ("poll", polled)):
            readable[name] = "".join(traceback.format_exception(error.value))
        assert "poll failed with key ****" in readable["poll"]
        assert "cannot reach the app with {'key': '****'" in readable["poll"]  # the cause

        studio.start("p/rows")
        with caplog.at_level("WARNING"):
            Scheduler(studio).tick()
        with studio.store.read() as s:
            state = s.get_one(TriggerState, "p/rows.ipynb")
        assert state.last_error == "RuntimeError: poll failed with key ****"
    readable["log"] = caplog.text
    readable["audit"] = cli("audit", "--json").output
    readable["recipes"] = cli("recipes").output
    assert "poll failed with key ****" in readable["recipes"]
    polled_cli = cli("poll", "p/rows")  # said as an error, with the fix, not a traceback
    assert polled_cli.exit_code == 1 and "Traceback" not in polled_cli.output
    assert "the poll of p/rows.ipynb failed: RuntimeError" in polled_cli.output
    assert "fix: `lpstudio connections test leaky` says whether" in polled_cli.output
    readable["poll cli"] = polled_cli.output
    tested = cli("run", "p/rows", "--test")  # its sample event: a traceback, and 500 in REST
    assert tested.exit_code == 1 and "Traceback" not in tested.output, tested.output
    assert "the sample poll of p/rows.ipynb failed: RuntimeError" in tested.output
    readable["test cli"] = tested.output
    assert holding(readable, [KEY]) == []


def test_a_parameter_holding_a_connection_s_secret_is_refused_before_any_job(ws, cli):
    """A job keeps its parameters (shown by `lpstudio show` and the API) and injects them
    into its notebook: a secret typed as one is refused, naming the parameter, by a run and
    by saved settings alike, and nothing is kept of it."""
    from lpstudio.settings import saved_settings

    from .conftest import job_rows

    write_recipe(ws, "p/echo", "token: str = ''\nn: int = 1", ("print(n)",))
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "api",
            "http",
            {"base_url": "https://api.example", "auth_type": "bearer", "token": KEY},
            "alice",
        )
    for command in (("run", "p/echo"), ("settings", "p/echo")):
        refused = cli(*command, "-p", "token", f"Bearer {KEY}")
        assert refused.exit_code == 2, refused.output
        assert "parameter 'token' holds the secret of a connection" in refused.output
        assert KEY not in refused.output
    assert job_rows(ws) == 0
    assert cli("run", "p/echo", "-p", "n", "2").exit_code == 0  # numbers are never read as one
    with Studio.open(ws, user="alice") as studio:
        saved = saved_settings(studio.store, "p/echo.ipynb")
    assert "token" not in saved.get("parameters", {})


ECHO_CONNECTOR = """\
from lpstudio.sdk import Connector, Field, Page

connector = Connector("echo", title="Echo", fields=[Field("key", "Key", secret=True)])


@connector.poll_trigger("rows", title="Rows", key=lambda row: str(row["id"]))
def rows(conn, since, cursor):  # an app that echoes the credential it was called with
    return Page([{"id": 1, "note": "called with token " + conn.config["key"]}], None, False)
"""


def test_an_event_echoing_its_connection_s_secret_is_stored_masked(ws, cli):
    """A poll's events went into the job row as the app sent them: `lpstudio show`, the
    REST API and a rerun's event showed the secret an app echoed back."""
    (ws / "connectors").mkdir(exist_ok=True)
    (ws / "connectors" / "echo.py").write_text(ECHO_CONNECTOR)
    trigger = {"kind": "poll", "connection": "echo", "trigger": "rows", "interval_minutes": 1}
    metadata = {"title": "Rows", "connections": {"echo": {"type": "echo"}}, "trigger": trigger}
    write_recipe(ws, "p/echo", "x: int = 1", ("print(x)",), metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("echo", "echo", {"key": KEY}, "alice")
        (job,) = studio.poll("p/echo", run=False)
        assert job.event == {"id": 1, "note": "called with token ****"}
    shown = cli("show", str(job.id), "--json")
    assert shown.exit_code == 0, shown.output
    assert holding({"show": shown.output}, [KEY]) == []


def test_an_echo_in_another_case_is_masked_in_place_whatever_the_text_around_it() -> None:
    """The search runs on the text lower-cased and masks the same places in the text as it
    is: what surrounds the secret keeps its case. A letter whose lower case is two letters
    ("İ") would shift those places: such a text is searched regardless of case instead."""
    from lpstudio.sdk import MASK, scrub_text

    secrets = {CASE_TOKEN}
    shown = f"Sent {CASE_TOKEN.upper()} to Ada, and {CASE_TOKEN.lower()}."
    assert scrub_text(shown, secrets) == f"Sent {MASK} to Ada, and {MASK}."
    turkish = f"İstanbul: {CASE_TOKEN.swapcase()} (İ)"
    assert scrub_text(turkish, secrets) == f"İstanbul: {MASK} (İ)"
    assert scrub_text("Nothing to hide, İ", secrets) == "Nothing to hide, İ"


def test_a_secret_put_into_a_url_path_or_escaped_by_another_html_escaper_is_masked() -> None:
    """`urllib.parse.quote(token)` keeps `/` (its default `safe`), as code does to put a
    value into a URL's path: an app's 404 quoting that URL showed the token. HTML escapers
    other than Python's write `'` as `&#39;` or `&apos;`."""
    from urllib.parse import quote

    from lpstudio.sdk import MASK, scrub_text

    token = "q8Zr/Kp+Lw3x'T9=="
    for shown in (
        f"GET https://api.example/v1/keys/{quote(token)} -> 404",
        f"<td>{token.replace(chr(39), '&#39;')}</td>",
        f"<td>{token.replace(chr(39), '&apos;')}</td>",
    ):
        masked = scrub_text(shown, {token})
        assert MASK in masked and "Lw3x" not in masked, masked


def test_a_secret_escaped_where_no_encoder_would_is_masked_too() -> None:
    """A URL may escape any character, needed or not: a query with only its `+` escaped (as
    the README tells a caller), `%2D` for `-`, `%73` for `s`; such a form was shown whole (a
    server's request log, a plain field). Each escape spelling the secret goes with it; a
    `%` of ordinary text stays."""
    from lpstudio.sdk import MASK, scrub_text

    token, key = "Zk9/q+Lp7=Wx4mN2", "supersecretTok3n-XYZ987"
    shown = (
        "400 GET /call/echo?n=x&name=Zk9/q%2BLp7=Wx4mN2 and a=supersecretTok3n%2DXYZ987"
        "&b=%73upersecretTok3n-XYZ987&c=%2dsupersecretTok3n%2DXYZ987%2D (50% off)"
    )
    assert scrub_text(shown, {token, key}) == (
        f"400 GET /call/echo?n=x&name={MASK} and a={MASK}&b={MASK}&c=%2d{MASK}%2D (50% off)"
    )
    # A letter whose lower case is two ("İ", a Turkish city's) anywhere in the text turned
    # the escapes' search off for all of it.
    city = "İstanbul: next=%73upersecretTok3n%2DXYZ987, Zk9%2Fq%252BLp7%3DWx4mN2"
    assert scrub_text(city, {token, key}) == f"İstanbul: next={MASK}, {MASK}"


def test_a_secret_in_a_json_text_quoted_again_is_masked() -> None:
    """A value holding a JSON text that holds the secret, refused and quoted (`"{\\"token\\":
    ...}"`), printed as a repr, or nested in a record's JSON, escaped the secret's quotes and
    backslashes twice: it was shown whole (rx)."""
    from lpstudio.sdk import MASK, scrub_text

    token, password = "Qz\"7\\k'<&>/+=%40tokENxyz", "pä'ss\"w\\rd\x7fQRST9"
    for secret in (token, password):
        inner = json.dumps({"token": secret})
        for shown in (
            f"phone: {json.dumps(inner)} is not a phone number",
            f"parameter 'channel' is invalid: {inner!r} is not one of",
            json.dumps({"note": inner}, ensure_ascii=False),
            json.dumps({"note": inner}),
        ):
            masked = scrub_text(shown, {secret})
            assert MASK in masked and "tokENxyz" not in masked and "QRST9" not in masked, masked


REDIRECT_SHOWN = """\
from urllib.parse import urlencode
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
callback = "https://crm.example/cb?" + urlencode({"token": token})
login = "https://sso.example/login?" + urlencode({"next": callback})
lp.set_result({"login": login})
print(login)
"""
REDIRECT_TOKEN = "Rd/r3ct@Tok+en=9 x"


def test_a_secret_in_a_url_put_into_another_url_s_query_is_masked_too(ws):
    """A URL holding a token, put into a redirect's `?next=`, is percent-encoded twice (`@`
    is `%2540`, as `urlencode`, requests and httpx write it): the job's result and its
    output notebook showed the token so encoded."""
    from urllib.parse import quote_plus

    code, job, output = run_with_crm_token(ws, REDIRECT_TOKEN, "campaign/redirect", REDIRECT_SHOWN)

    assert code == 0, job
    next_url = "https%3A%2F%2Fcrm.example%2Fcb%3Ftoken%3D****"
    assert job["result"] == {"login": f"https://sso.example/login?next={next_url}"}
    readable = {"run": output, **files_under(ws / "history")}
    assert holding(readable, [quote_plus(quote_plus(REDIRECT_TOKEN)), "r3ct"]) == []


def test_a_secret_encoded_twice_either_way_and_in_any_case_is_masked() -> None:
    """`quote` and `quote_plus`, each applied twice (`quote` keeping `/` as a path does), and
    apps that write the hex digits in lower case (`%252f`)."""
    from urllib.parse import quote, quote_plus

    from lpstudio.sdk import MASK, scrub_text

    for twice in (
        quote_plus(quote_plus(REDIRECT_TOKEN)),
        quote(quote(REDIRECT_TOKEN, safe=""), safe=""),
        quote(quote(REDIRECT_TOKEN)),
        quote_plus(quote_plus(REDIRECT_TOKEN)).lower(),
    ):
        masked = scrub_text(
            f"302 Found: /login?next=%2Fcb%3Ftoken%3D{twice}&lang=en", {REDIRECT_TOKEN}
        )
        assert masked == f"302 Found: /login?next=%2Fcb%3Ftoken%3D{MASK}&lang=en", twice


def test_a_secret_that_contains_another_is_masked_whole() -> None:
    """The forms of every secret are searched at once: where two begin alike, the longer one
    that the text holds is masked, not the shorter one with the rest of the longer shown."""
    from lpstudio.sdk import MASK, scrub_text

    secrets = {"tok-4821", "tok-4821-refresh-77", "tok-48"}
    shown = "access tok-4821, refresh tok-4821-refresh-77, old tok-48, tok-4821-refresh"
    masked = scrub_text(shown, secrets)
    assert masked == f"access {MASK}, refresh {MASK}, old {MASK}, {MASK}-refresh"


def test_a_secret_that_contains_another_is_masked_whole_in_a_text_of_any_letters() -> None:
    """A text with a letter whose lower case is two (Turkish İ) is searched case-blind,
    where `s` stands for `ſ` and `i` for `ı`: the longer secret is still masked whole."""
    from lpstudio.sdk import MASK, scrub_text

    assert scrub_text("İ abſ1xyz", {"abs1", "abſ1xyz"}) == f"İ {MASK}"
    assert scrub_text("İ abı1xyz", {"abi1", "abı1xyz"}) == f"İ {MASK}"


def test_hundreds_of_secrets_each_inside_the_next_are_all_masked() -> None:
    """Forms nested too deep for one pattern of shared beginnings still mask (the text's
    job must not fail on its secrets)."""
    from lpstudio.sdk import MASK, scrub_text

    letters = "abcdefghijklmnopqrstuvwxyz" * 40
    secrets = {letters[:size] for size in range(3, 803)}
    assert scrub_text(f"key {letters[:802]} end", secrets) == f"key {MASK} end"


def test_a_secret_with_a_letter_lower_case_changes_is_masked() -> None:
    """A Turkish password with "İ" (lower-cased to two letters) was never masked, nor a
    secret ending in "Σ" where a letter followed it (lower() writes ς there, σ in the text)."""
    from lpstudio.sdk import MASK, scrub_text

    assert scrub_text("password is İstanbul2024!", {"İstanbul2024!"}) == f"password is {MASK}"
    assert scrub_text("pwdΣ and pwdΣx", {"pwdΣ"}) == f"{MASK} and {MASK}x"
