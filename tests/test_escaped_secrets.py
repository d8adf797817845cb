"""A secret as apps other than Python escape it, and as a display cuts it short.

PHP's `json_encode` writes `/` as `\\/`, Go's `encoding/json` writes `&`, `<` and `>` as
`\\u0026`, `\\u003c` and `\\u003e`, some encoders escape every character, and HTML encoders
write `/` as `&#x2F;`: an app that echoes the Authorization header in its refusal showed the
token so escaped in the job's error, its output notebook and the REST answers. A DataFrame
cell shows the first 47 characters of a long value and `...`: no whole secret, but most of
one."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lpstudio.redaction import MASK, scrub_text
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.test_secrets import files_under, holding, run_job

#: A bearer token holding `/`, `+`, `&`, `<` and `>`, as issued tokens often hold some.
TOKEN = "Tk/9+Zq&<x>Secr3tVal=="


def php(text: str) -> str:
    return text.replace("/", "\\/")


def go(text: str) -> str:
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


class _Echoing(BaseHTTPRequestHandler):
    """An app refusing the request, quoting its headers as PHP (`/php`) or Go (`/go`)
    writes JSON."""

    def do_GET(self) -> None:
        quoted = json.dumps({"error": "unauthorized", "headers": dict(self.headers)})
        body = (php(quoted) if self.path == "/php" else go(quoted)).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


CALL = """\
import lpstudio.kernel as lp
lp.connection("crm").request(method="GET", url="{path}")
"""


@pytest.mark.parametrize("path", ["/php", "/go"])
def test_a_token_an_app_echoes_escaped_as_php_or_go_write_json_is_masked(
    ws: Path, serve: Any, path: str
) -> None:
    app = serve(ThreadingHTTPServer(("127.0.0.1", 0), _Echoing))
    with Studio.open(ws, user="alice") as studio:
        values = {
            "auth_type": "bearer",
            "token": TOKEN,
            "base_url": f"http://127.0.0.1:{app.server_address[1]}",
        }
        studio.connections.add("crm", "http", values, "alice")
    metadata = {"title": "Echo", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "campaign/echo", "x: int = 1", (CALL.format(path=path),), metadata)

    code, job, output = run_job(ws, "run", "campaign/echo")

    assert code == 1 and job["status"] == "failed", job
    assert "Bearer ****" in json.dumps(job["error"]), job["error"]  # quoted, and masked
    readable = {"run": output, **files_under(ws / "history")}
    with Studio.open(ws, user="alice") as studio:
        readable["stored"] = json.dumps(studio.store.job(job["id"]).error)
    assert holding(readable, [TOKEN, php(TOKEN), go(TOKEN), "Secr3tVal"]) == []


@pytest.mark.parametrize(
    "shown",
    [
        php(json.dumps(TOKEN)),
        go(json.dumps(TOKEN)),
        go(php(json.dumps(TOKEN))),
        "".join(f"\\u{ord(c):04x}" for c in TOKEN),  # every character, in lower case
        "".join(f"\\u{ord(c):04X}" for c in TOKEN),
        json.dumps(php(json.dumps(TOKEN))),  # a JSON text holding it, quoted again
        "".join(f"&#x{ord(c):X};" if c in "/&<>" else c for c in TOKEN),  # OWASP's `/`
        "".join(f"&#{ord(c)};" for c in TOKEN),
        TOKEN.replace("&", "&amp;").replace("/", "&sol;"),
    ],
)
def test_a_secret_in_json_or_html_escapes_of_any_encoder_is_masked(shown: str) -> None:
    masked = scrub_text(f"Authorization: Bearer {shown}, retry later", {TOKEN})
    assert "Secr3t" not in masked and "Zq" not in masked, masked
    assert masked.startswith("Authorization: Bearer ") and masked.endswith(", retry later")
    assert MASK in masked


def test_ordinary_escapes_and_ellipses_are_kept() -> None:
    """Only what spells a secret is masked: other escapes, and an ellipsis after a word that
    merely begins like a secret URL (its scheme), stay as they are."""
    text = 'line\\none \\u00e9t\\u00e9 &amp; &#47;path &bogus; https://... "Tk/9+Z..."'
    assert scrub_text(text, {TOKEN, "https://user:pw@crm.example/x"}) == text


LONG = "LongSecretToken0123456789abcdefghijklmnopqrstuvwxyz0123456789"
TABLE = """\
import pandas as pd
import lpstudio.kernel as lp
token = lp.connection("crm").connection.config["token"]
frame = pd.DataFrame({"id": [1], "key": [token]})
frame
"""


def test_a_long_secret_a_table_shows_cut_short_is_masked(ws: Path) -> None:
    """pandas shows a long value's first 47 characters and `...`, in its text and its HTML
    table alike: the output notebook kept them."""
    with Studio.open(ws, user="alice") as studio:
        values = {"auth_type": "bearer", "token": LONG, "base_url": "https://crm.example"}
        studio.connections.add("crm", "http", values, "alice")
    metadata = {"title": "Table", "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "campaign/table", "x: int = 1", (TABLE,), metadata)

    code, job, output = run_job(ws, "run", "campaign/table")

    assert code == 0, job
    notebook = json.loads(Path(job["output_path"]).read_text())
    (shown,) = notebook["cells"][-1]["outputs"]
    assert f"{MASK}..." in "".join(shown["data"]["text/plain"]), shown
    assert f"<td>{MASK}...</td>" in "".join(shown["data"]["text/html"]), shown
    readable = {"run": output, **files_under(ws / "history")}
    assert holding(readable, [LONG[:12]]) == []
