"""A LivePerson connection's test, and a dry run, reach every host a real run needs: the
campaigns' (Proactive Messaging) and the reporting host, not only the token server and the
pick lists' hosts; and a refusal of the app's credentials gives the command that gives them
again. Real HTTP on loopback against the sandbox; a host nothing listens on is a loopback
port."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpstudio.client import ConnectionClient
from lpstudio.sdk import ConnectorError
from lpstudio.server.fixes import in_rest_terms
from lpstudio.studio import Studio
from lpstudio.widgets.common import lab_text

from . import test_liveperson
from .conftest import free_port
from .test_liveperson import ACCOUNT, CAMPAIGN_PATH, SECRET, people, recipients, send

#: test_liveperson's connections to the sandbox (one fixture, not a copy of it).
connect = test_liveperson.connect

#: What the test asks each host it did not ask before.
STATUS_OF_NO_CAMPAIGN = f"{CAMPAIGN_PATH}/00000000-0000-0000-0000-000000000000/conversations"
ANALYTICS = f"/api/account/{ACCOUNT}/app/prmsg/analytics/"


@pytest.fixture
def few_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tries per request, not six: a host nothing listens on fails in a second."""
    monkeypatch.setattr(test_liveperson.client_module(), "MAX_TRIES", 2)


def test_the_test_asks_the_campaigns_and_the_reporting_host_a_harmless_read(connect, control):
    said = ConnectionClient(connect()).test()

    assert said == "3 handoffs, 3 skills"
    log = control.get("/_sandbox/requests").json()["requests"]
    asked = {(entry["method"], entry["path"]): entry["status"] for entry in log}
    # No campaign has that id: Proactive Messaging's 404 in its own shape is the answer.
    assert asked[("GET", STATUS_OF_NO_CAMPAIGN)] == 404
    assert asked[("GET", ANALYTICS)] == 200
    assert not any(method == "POST" and path == CAMPAIGN_PATH for method, path in asked)


@pytest.mark.parametrize("field", ["proactive_base_url", "reporting_base_url"])
def test_a_host_a_job_needs_that_cannot_be_reached_fails_the_test_naming_its_field(
    sandbox_ws: Path, few_tries: None, field: str
) -> None:
    """It said "connected: 3 handoffs, 3 skills" while the campaigns' host could not be
    reached; the first real run failed."""
    dead = f"http://127.0.0.1:{free_port()}"
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.connections.update("liveperson", {field: dead})
        tested = studio.connections.test("liveperson")

    assert tested.status == "disconnected"
    message = str(tested.status_message)
    assert f"could not connect to {dead}/" in message, message
    assert f"`lpstudio connections update liveperson --field {field}=...`" in message, message
    assert "`lpstudio connections test liveperson`" in message and SECRET not in message


def test_a_404_not_in_proactive_messaging_s_shape_names_the_campaigns_field(connect, sandbox):
    """A 404 from a host that is not Proactive Messaging (here the sandbox under a wrong
    path, whose 404 carries no requestTraceId) is no campaign's status: the field is wrong."""
    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(proactive_base_url=f"{sandbox.url}/elsewhere")).test()

    error = raised.value
    assert error.field == "proactive_base_url" and error.status == 404, error
    assert "`lpstudio connections update lp --field proactive_base_url=...`" in str(error.fix)


def test_a_dry_run_fails_as_the_real_run_would_when_the_campaigns_host_is_unreachable(
    connect, control, few_tries
):
    """`run --test` succeeded while the campaigns' host could not be reached: only the
    first real run failed."""
    dead = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ConnectorError) as raised:
        send(connect(dry_run=True, proactive_base_url=dead), people(3))

    error = raised.value
    assert error.message.startswith("a real run could not send this campaign"), error
    assert error.field == "proactive_base_url"
    assert "`lpstudio connections update lp --field proactive_base_url=...`" in str(error.fix)
    # What it would have sent is kept, as a dry run's other refusals keep it; nothing went.
    assert error.result is not None and error.result["dry_run"] is True
    assert len(error.result["requests"]) == 1 and recipients(control) == {}


def test_a_dry_run_only_logs_a_campaigns_host_refusal_naming_no_field(connect, control):
    """Refused in LivePerson's own words (here its token, wrong): the dry run goes on, as
    when the handoff list cannot be read, and the real send finds out."""
    conn = connect(dry_run=True, client_secret="not-the-secret")

    result = send(conn, people(2))

    assert result["dry_run"] is True and len(result["requests"]) == 1
    assert recipients(control) == {}


def test_refused_credentials_give_the_command_that_gives_them_again(connect):
    """After the secret was rotated at LivePerson, the fix said to check the client id and
    secret and to run the test, which only tries the old ones again."""
    with pytest.raises(ConnectorError) as raised:
        ConnectionClient(connect(client_secret="rotated-away-1")).test()

    fix = str(raised.value.fix)
    command = "`lpstudio connections update lp --field client_id=... --secret client_secret`"
    assert f"give them with {command}, then `lpstudio connections test lp`" in fix, fix
    rest = str(in_rest_terms(fix))
    route = (
        'PUT /lpstudio/api/v1/connections/lp {"fields": {"client_id": ..., "client_secret": ...}}'
    )
    assert f"{route}, then POST /lpstudio/api/v1/connections/lp/test" in rest, rest
    lab = (
        "give them with Edit of lp in the Connections panel, then Test lp in the Connections panel"
    )
    for said in (lab_text(fix), lab_text(rest)):
        assert lab in said and "lpstudio " not in said and "PUT " not in said, said
