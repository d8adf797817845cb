"""Masking a secret's beginning (an app's answer cut short, a display's ellipsis) is no
oracle: a bot calling a recipe that passes its input on to an app, which echoes it, read the
answer masked when what it sent began the connection's token, and as sent otherwise, and so
learnt the token a character a guess at a time. What a job was given is shown as it was
given, whatever it begins; a beginning of a secret it was not given is still masked, and a
whole secret everywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import call_recipe

MASK = "****"
#: The http connection's token: its first 4 are no secret (a vendor's prefix, say).
TOKEN = "tok_Zq7LmP4kRr81vXw2"

FORWARD = (
    "import lpstudio.kernel as lp",
    """\
try:
    lp.connection("crm").request(method="POST", url="/customers", json={"q": lp.event["q"]})
    said = "found"
except Exception as exc:
    said = str(exc)
print(lp.event["q"])
lp.respond({"said": said, "echo": lp.event["q"]})""",
)


class EchoingApp(ThreadingHTTPServer):
    """An app on loopback that refuses every customer, quoting what it was sent and the
    start of the Authorization header it got (as a careless app's error does)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echoing)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Echoing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the connection's test
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers["Authorization"][:23]  # "Bearer " and 16 of the token
        data = f'no customer "{sent["q"]}" (auth "{auth}")'.encode()
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


@pytest.fixture
def bot(ws: Path, serve: Callable[[EchoingApp], EchoingApp]) -> str:
    """A started callable recipe forwarding its `q` to the app, and a bot's API token."""
    app = serve(EchoingApp())
    trigger = {"kind": "callable", "path": "lookup"}
    metadata = {"title": "lookup", "trigger": trigger, "connections": {"crm": {"type": "http"}}}
    write_recipe(ws, "p/lookup", "x: int = 1", FORWARD, metadata)
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "crm", "http", {"base_url": app.url, "auth_type": "bearer", "token": TOKEN}, "alice"
        )
        studio.start("p/lookup.ipynb")
        _, token = studio.api_clients.create("bot", ["*"], 1000)
    return token


async def test_a_bot_cannot_tell_a_beginning_of_the_token_from_a_wrong_guess(
    jp_fetch: Any, ws: Path, bot: str
) -> None:
    async def call(q: str) -> dict[str, Any]:
        code, said = await call_recipe(jp_fetch, "lookup", {"q": q}, bot)
        assert code == 200, said
        return json.loads(said)

    right, wrong = TOKEN[:7], "tok_Zq8"  # the vendor's prefix and 3 more, and a miss
    # As a display cuts a value: 12 characters at least and an ellipsis.
    right_cut, wrong_cut = f"{TOKEN[:13]}...", f"{TOKEN[:12]}Y..."
    for q in (right, wrong, right_cut, wrong_cut):
        answered = await call(q)
        assert answered["echo"] == q, answered
        # The token's start the app quoted, which the bot did not send, is still masked.
        assert answered["said"].endswith(f'no customer "{q}" (auth "Bearer {MASK}")'), answered
    with Studio.open(ws, user="alice") as studio:
        jobs = studio.jobs(recipe="p/lookup.ipynb")
        assert len(jobs) == 4
        for job in jobs:
            notebook = nbformat.writes(nbformat.read(ws / job.output_path, as_version=4))
            assert f"{job.event['q']}\\n" in notebook  # printed as it was sent
            assert TOKEN[:16] not in notebook

    # The whole token is masked, sent or not; and sent whole, it makes none of its
    # beginnings the bot's own: who reads the job learns nothing of it either.
    whole = await call(TOKEN)
    assert whole["echo"] == MASK, whole
    assert whole["said"].endswith(f'no customer "{MASK}" (auth "Bearer {MASK}")'), whole
