"""A LivePerson connection whose URL field leads to a web server (its "Welcome" page answered
200), or to a domain API that refuses (401, 403) or fails (500): `lpstudio connections test`
fails naming the URL's field and the `lpstudio connections update NAME --field FIELD=...`
that sets it, in words that fit a test (no job to run again), not "connected" nor a
`JSONDecodeError`. A campaign sent there anyway sends nothing and names the field too.
Real HTTP on loopback: the sandbox, and fixed-answer servers standing at the URL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.errors import said_and_fix
from lpstudio.studio import Studio
from tests.servers import serving

from .test_liveperson import CART, cart_job, cart_ws, checkout, recipients
from .test_liveperson_answers import WebServerPage

__all__ = ["cart_ws"]  # a fixture of test_liveperson's, used here

#: nginx's default page: what a URL field leading to a fresh web server finds, answered 200.
WELCOME = (
    "<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n"
    "<h1>Welcome to nginx!</h1>\n<p>If you see this page, the nginx web server is "
    "successfully installed and working.</p>\n</body>\n</html>\n"
)
UPDATE = "`lpstudio connections update liveperson --field {field}=...`"


def welcome() -> WebServerPage:
    return WebServerPage(200, WELCOME)


def answering_json(status: int, body: dict[str, Any]) -> WebServerPage:
    return WebServerPage(status, json.dumps(body), "application/json")


def cli_test(ws: Path, fields: dict[str, str]) -> dict[str, Any]:
    """The `liveperson` connection, given `fields`, as `lpstudio connections test` leaves it
    (exit 1: disconnected)."""
    with Studio.open(ws, user="alice") as studio:
        studio.connections.update("liveperson", fields)
    done = CliRunner().invoke(
        main, ["connections", "test", "liveperson", "--json", "--workspace", str(ws)]
    )
    assert done.exit_code in (0, 1), done.output
    return dict(json.loads(done.stdout))


def assert_names(tested: dict[str, Any], field: str, *said: str) -> str:
    """The test failed naming `field` and the command that sets it, in a test's words."""
    message = str(tested["status_message"])
    assert tested["status"] == "disconnected", tested
    assert field in message and UPDATE.format(field=field) in message, message
    for words in said:
        assert words in message, message
    assert "JSONDecodeError" not in message and "<" not in message, message
    assert "the job run again" not in message and "a access_token" not in message, message
    return message


@pytest.mark.parametrize(
    "field",
    [
        "proactive_base_url",
        "handoff_base_url",
        "reporting_base_url",
        "account_config_base_url",
        "base_url",
    ],
)
def test_a_url_field_leading_to_a_welcome_page_fails_the_test_naming_it(
    sandbox_ws: Path, serve: Any, field: str
) -> None:
    """The campaigns' host answering a web page said "connected: 3 handoffs, 3 skills"; the
    pick lists' and reporting's said `JSONDecodeError: Expecting value: line 1 column 1`;
    the token server's, "HTTP 200 without a access_token ... the job run again"."""
    site = serve(welcome())

    tested = cli_test(sandbox_ws, {field: site.url})

    assert_names(tested, field, "HTTP 200", "titled 'Welcome to nginx!'", "not LivePerson's JSON")


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (401, {"code": 401, "message": "Unauthorized"}, "account id"),
        (403, {"code": 403, "message": "Forbidden"}, "account id"),
        (200, {"status": "ok"}, "with no baseURI in it"),
        (500, {"code": 500, "message": "Internal Server Error"}, "try again later"),
    ],
)
def test_a_domain_api_url_that_refuses_or_fails_names_it_with_the_fix(
    sandbox_ws: Path, serve: Any, status: int, body: dict[str, Any], said: str
) -> None:
    """A 404 or 301 there named domain_api_url with the command that sets it; a 401, 403,
    500 or a 200 with no host in it had no field and no fix, and one told a test to run its
    job again."""
    domain_api = serve(answering_json(status, body))

    tested = cli_test(sandbox_ws, {"base_url": "", "domain_api_url": domain_api.url})

    message = assert_names(tested, "domain_api_url", f"HTTP {status}", said)
    assert "`lpstudio connections test liveperson`" in message or status == 200, message


def test_a_domain_api_url_leading_to_a_welcome_page_names_it(sandbox_ws: Path, serve: Any) -> None:
    site = serve(welcome())

    tested = cli_test(sandbox_ws, {"base_url": "", "domain_api_url": site.url})

    assert_names(tested, "domain_api_url", "does not lead to LivePerson's domain API")


def test_rest_s_connection_test_names_the_campaigns_field_in_its_own_terms(
    sandbox_ws: Path, serve: Any
) -> None:
    site = serve(welcome())
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.connections.update("liveperson", {"proactive_base_url": site.url})

    with serving(sandbox_ws) as server:
        tested = server.api("alice", "POST", "/connections/liveperson/test")

    assert tested.status_code == 200, tested.text
    answer = tested.json()
    message = str(answer["status_message"])
    assert answer["status"] == "disconnected" and "proactive_base_url" in message, message
    route = 'PUT /lpstudio/api/v1/connections/liveperson {"fields": {"proactive_base_url": ...}}'
    assert route in message and "lpstudio connections" not in message, message


def test_a_campaigns_url_leading_to_a_welcome_page_fails_the_test_run_and_sends_nobody(
    cart_ws: Path, serve: Any, control: Any
) -> None:
    """`run --test` succeeded and the real run left every recipient uncertain ("HTTP 200
    with no campaign in it"), naming no field. The test run now fails naming the field; a
    real run sent there anyway (a proxy may have forwarded it: uncertain, never resent)
    names the field and the connection's test that finds it out."""
    site = serve(welcome())
    with Studio.open(cart_ws, user="alice") as studio:
        studio.connections.update("liveperson", {"proactive_base_url": site.url})
    cart = checkout(7101, "+14155550181")

    tested = cart_job(cart_ws, "run", CART, "--test", event=[cart])
    real = cart_job(cart_ws, "run", CART, event=[cart])

    assert tested["status"] == real["status"] == "failed", (tested, real)
    (test_said, test_fix), (said, fix) = map(said_and_fix, (tested["error"], real["error"]))
    for words in (test_said, said):
        assert "the connection's proactive_base_url" in words, words
        assert "titled 'Welcome to nginx!'" in words, words
    assert UPDATE.format(field="proactive_base_url") in str(test_fix), test_fix
    assert "`lpstudio connections test liveperson`" in str(fix), fix
    assert "uncertain 1 are never resent" in said, said
    assert recipients(control) == {}


def test_a_token_server_answering_json_without_a_token_fails_the_job_for_good(
    cart_ws: Path, serve: Any, control: Any
) -> None:
    """A portal's `{"status": "ok"}` where the token was due: the job's error was retryable,
    its fix "rerun" the job (which meets the same answer); it names the field to fix."""
    site = serve(answering_json(200, {"status": "ok"}))
    with Studio.open(cart_ws, user="alice") as studio:
        studio.connections.update("liveperson", {"sentinel_base_url": site.url})

    job = cart_job(cart_ws, "run", CART, event=[checkout(7102, "+14155550182")])

    said, fix = said_and_fix(job["error"])
    assert job["status"] == "failed" and job["error"].get("retryable") is False, job["error"]
    assert "HTTP 200 with no access_token in it" in said, said
    assert UPDATE.format(field="sentinel_base_url") in str(fix) and "rerun" not in str(fix), fix
    assert recipients(control) == {}
