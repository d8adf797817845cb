"""An app or a proxy that cuts its answer short (an error's message cut to 50 characters, an
echoed header to 200) may cut a secret it echoed: what lpstudio shows of the answer masks the
beginning left, as it masks a whole secret, and keeps ordinary text that merely begins like
a secret where the word goes on."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lpstudio.client import ConnectionClient
from lpstudio.redaction import MASK, derived_secrets, scrub_answer
from lpstudio.sdk import ConnectorError
from lpstudio.studio import Studio
from tests import test_connectors_generic as generic

from .test_liveperson import ACCOUNT, TOKEN_PATH

connect = generic.connect  # the same fixture: connections closed after the test

#: The LivePerson app secret of the reviewer's run: 15 characters, 9 of them shown.
APP_SECRET = "Zq7LPcsSECr3t99"
USER, PASSWORD = "bob", "p@ss:Zq7BASICpw"
#: What the app shows of `Basic base64(bob:p@ss:Zq7BASICpw)` cut after 15 characters: the
#: encoded `bob:p@` and part of the next character.
BASIC_CUT = "Basic Ym9iOnBAc"


def app_secrets() -> set[str]:
    return derived_secrets({"client_secret": APP_SECRET}, {"client_id": "cid"})


def basic_secrets() -> set[str]:
    return derived_secrets({"password": PASSWORD}, {"username": USER})


# -- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (  # the reviewer's run: the app's message cut to 50 characters
            "bad request: client_id=cid&client_secret=Zq7LPcsSE",
            "bad request: client_id=cid&client_secret=****",
        ),
        (  # the cut followed by more of the app's text
            "client_secret=Zq7LPcsSEC POST /sentinel/api",
            "client_secret=**** POST /sentinel/api",
        ),
        ('{"error": "Zq7LPcsS"}', '{"error": "****"}'),
        ("seen 'Zq7LPcsSECr3'", "seen '****'"),
        ("seen Zq7LP\nnext line", "seen ****\nnext line"),
        ("SEEN ZQ7LPCSSE", "SEEN ****"),  # upper-cased by the app
        ("the whole Zq7LPcsSECr3t99, then Zq7LPc.", "the whole ****, then ****."),
    ],
)
def test_a_secret_cut_by_the_app_is_masked_from_its_beginning(text, shown):
    assert scrub_answer(text, app_secrets()) == shown


@pytest.mark.parametrize("after", ["", "'", "'}", " ", '"', "\n", "<br>"])
def test_basic_credentials_cut_are_masked_whatever_follows(after):
    echoed = f"{{'Authorization': '{BASIC_CUT}{after}"
    assert scrub_answer(echoed, basic_secrets()) == f"{{'Authorization': 'Basic {MASK}{after}"


@pytest.mark.parametrize(
    "text",
    [
        "client_id=sandbox-client&grant_type=client_credentials",  # a client id begun alike
        "sandy beaches, sandals and sand-castles",  # words of 4 letters and more going on
        "the sandboxes answered",
        "san: too few to tell",  # under MIN_BEGUN characters
        # A whole leading word of it, then text going on (the sandbox's own answers).
        "Injected fault (sandbox)",
        "the sandbox said no; sandbox: ready, [sandbox]",
        "****",  # what was masked stays as it is
    ],
)
def test_text_that_begins_like_a_secret_and_goes_on_is_kept(text):
    assert scrub_answer(text, {"sandbox-secret"}) == text


@pytest.mark.parametrize("text", ["sandbox", '"sandbox"', "'sandbox'", "sandbox...", "sandbox-se)"])
def test_a_leading_word_of_a_secret_cut_where_an_app_cuts_is_masked(text):
    """The leading word kept above (`sandbox` of `sandbox-secret`) is a cut where the text
    ends, a quote closes or an ellipsis follows; cut past it, it is masked whatever follows."""
    assert "sandbox" not in scrub_answer(text, {"sandbox-secret"})


def test_a_short_secret_is_masked_from_half_of_it_and_kept_where_the_word_goes_on():
    """A secret of 4 characters: 2 of them, cut, are masked (as `begun_secret` does)."""
    assert scrub_answer("pin Kq9v, then Kq.", {"Kq9v"}) == "pin ****, then ****."
    assert scrub_answer("Kqx and Kq9", {"Kq9v"}) == "Kqx and ****"


# -- through a real app's answer ---------------------------------------------------------------


class CuttingApp(ThreadingHTTPServer):
    """An app on loopback that echoes what it got cut short: LivePerson's token server
    refusing the credentials with `{"message": ("bad request: " + body)[:50]}`, and an API
    echoing the Authorization header cut after `keep` characters, in a header and in its
    body (`/echo?keep=N&status=S`), a JSON one with `json=1`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Cutting)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Cutting(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == TOKEN_PATH:
            status, kind = 401, "application/json"
            body = json.dumps({"message": ("bad request: " + sent)[:50]})
            headers = {}
        else:
            seen = (self.headers["Authorization"] or "")[: int(query.get("keep", "15"))]
            status, kind = int(query.get("status", "200")), "text/plain"
            body, headers = f"you sent {seen} (cut)", {"X-Seen": seen}
            if query.get("json"):
                kind, body = "application/json", json.dumps({"you sent": [seen]})
        data = body.encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": kind}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""


def test_connections_test_never_shows_the_app_secret_the_token_server_cut(
    ws: Path, cli: Callable[..., Any], serve: Callable[[CuttingApp], CuttingApp]
):
    """It printed and stored `... client_secret=Zq7LPcsSE`: 9 of the secret's 15
    characters."""
    app = serve(CuttingApp())
    values = {"account_id": ACCOUNT, "client_id": "cid", "client_secret": APP_SECRET}
    with Studio.open(ws, user="alice") as studio:
        lp = {**values, "base_url": app.url}
        studio.connections.add("lp", "liveperson_proactive", lp, "alice")

    printed = cli("connections", "test", "lp")
    with Studio.open(ws, user="alice") as studio:
        stored = str(studio.connections.get("lp").status_message)

    for shown in (printed.output, stored):
        assert "refused the app credentials (HTTP 401)" in shown, shown
        assert f"client_secret={MASK}" in shown, shown
        assert APP_SECRET[:4] not in shown


def test_the_http_connector_hands_no_cut_credentials_to_the_recipe_or_its_errors(connect, serve):
    """The recipe got `'Authorization': 'Basic Ym9iOnBAc` in a header it printed."""
    app = serve(CuttingApp())
    api: ConnectionClient = connect(
        "http",
        {"base_url": app.url, "auth_type": "basic", "username": USER, "password": PASSWORD},
    )

    answer = api.request(method="GET", url="/echo?keep=15")
    as_json = api.request(method="GET", url="/echo?keep=15&json=1")
    with pytest.raises(ConnectorError) as refused:
        api.request(method="GET", url="/echo?keep=15&status=400")

    assert answer["headers"]["x-seen"] == f"Basic {MASK}"
    assert answer["text"] == f"you sent Basic {MASK} (cut)"
    assert as_json["json"] == {"you sent": [f"Basic {MASK}"]}  # the recipe's JSON too
    assert f"you sent Basic {MASK} (cut)" in str(refused.value)
    for shown in (json.dumps(answer), json.dumps(as_json), str(refused.value)):
        assert "Ym9i" not in shown
