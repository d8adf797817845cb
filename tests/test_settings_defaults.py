"""Settings of lpstudio.toml: the defaults a new workspace's file says are those used, a
table written as a value is refused when the file is read, and the failure e-mail's
`[smtp]` is read anew, since an operator may set it while a server or scheduler runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.sandbox import Sandbox
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace

from .conftest import free_port, scheduler_running, wait_for, write_recipe
from .test_scheduler import _Mailbox, add_checkouts, jobs, phones, poll_recipe


def e_mail_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The log lines saying a failure e-mail could not be sent."""
    return [r.getMessage() for r in caplog.records if "failure e-mail" in r.getMessage()]


def test_smtp_set_while_the_scheduler_runs_is_used_for_the_failure_e_mail(
    sandbox_ws: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """An `[smtp]` added to lpstudio.toml after the Studio opened it was ignored until a
    restart: the e-mail went to 127.0.0.1:25 and was lost to `Connection refused`."""
    caplog.set_level(logging.WARNING, logger="lpstudio.failures")
    mailbox = _Mailbox()
    smtp = mailbox.serve()
    port = smtp.port
    try:
        recipe = poll_recipe(sandbox_ws, "flaky", ("raise RuntimeError('the CRM is down')",))
        with Studio.open(sandbox_ws, user="alice") as studio:
            studio.start("p/flaky")
            studio.save_settings(recipe, notify={"email": "ops@brand.example"})
            with (sandbox_ws / "lpstudio.toml").open("a") as config:
                config.write(f'\n[smtp]\nport = {port}\nfrom = "studio@brand.example"\n')
            add_checkouts(sandbox, phones(0, 1))
            with scheduler_running(studio):
                wait_for(lambda: mailbox.messages or e_mail_failures(caplog), 120, "the e-mail")
            (job,) = jobs(studio.store, recipe)
    finally:
        smtp.stop()
    assert not e_mail_failures(caplog)
    (mail,) = mailbox.messages
    assert (mail["From"], mail["To"]) == ("studio@brand.example", "ops@brand.example")
    assert mail["Subject"] == f"lpstudio: job {job.id} of {recipe} failed"


def test_a_bad_smtp_set_while_the_scheduler_runs_is_logged_naming_it_and_the_fix(
    sandbox_ws: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The e-mail's `[smtp]` is checked as when the workspace is read: a port out of range
    is the e-mail's failure, logged with the setting and its fix, never a traceback."""
    caplog.set_level(logging.WARNING, logger="lpstudio.failures")
    recipe = poll_recipe(sandbox_ws, "flaky", ("raise RuntimeError('the CRM is down')",))
    with Studio.open(sandbox_ws, user="alice") as studio:
        studio.start("p/flaky")
        studio.save_settings(recipe, notify={"email": "ops@brand.example"})
        config = sandbox_ws / "lpstudio.toml"
        with config.open("a") as written:
            written.write("\n[smtp]\nport = 99999\n")
        add_checkouts(sandbox, phones(0, 1))
        with scheduler_running(studio):
            wait_for(lambda: e_mail_failures(caplog), 120, "the e-mail's failure")
        (job,) = jobs(studio.store, recipe)
    (record,) = [r for r in caplog.records if "failure e-mail" in r.getMessage()]
    said = record.getMessage()
    assert said.startswith(f"failure e-mail for job {job.id} failed: "), said
    assert f"{config} [smtp] port must be a whole number from 1 to 65535" in said, said
    assert "port = 587" in said and record.exc_info is None, said


def test_a_mail_server_that_refuses_is_logged_naming_it_the_setting_and_the_fix(
    ws: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator read a bare `[Errno 111] Connection refused`: no server, no setting."""
    from lpstudio.failures import tell

    caplog.set_level(logging.WARNING, logger="lpstudio.failures")
    port = free_port()  # nothing listens there
    config = ws / "lpstudio.toml"
    with config.open("a") as written:
        written.write(f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n')
    write_recipe(ws, "p/told")
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/told", notify={"email": "ops@brand.example"})
        body = {"recipe": "p/told.ipynb", "error": {"ename": "ValueError", "evalue": "boom"}}
        tell(studio, body, "job 1", "lpstudio: job 1 of p/told failed")
    (said,) = [r.getMessage() for r in caplog.records if "failure e-mail" in r.getMessage()]
    assert said.startswith(f"failure e-mail for job 1 failed: the mail server 127.0.0.1:{port}")
    assert "([smtp] host and port)" in said and "refused" in said.lower(), said
    assert f"fix: check [smtp] in {config}" in said, said


def told_by_e_mail(ws: Path, address: str, sender: str, port: int) -> None:
    """Saves `address` as p/told's failure e-mail and tells it of job 1 through the mail
    server on `port`, sending as `sender` ([smtp] from)."""
    from lpstudio.failures import tell

    with (ws / "lpstudio.toml").open("a") as written:
        written.write(f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "{sender}"\n')
    write_recipe(ws, "p/told")
    with Studio.open(ws, user="alice") as studio:
        studio.save_settings("p/told", notify={"email": address})
        body = {"recipe": "p/told.ipynb", "error": {"ename": "ValueError", "evalue": "boom"}}
        tell(studio, body, "job 1", "lpstudio: job 1 of p/told failed")


@pytest.mark.parametrize(
    ("address", "sender", "smtputf8", "sent_to", "sent_from"),
    [
        ("ops@bücher.de", "studio@brand.example", False, "ops@xn--bcher-kva.de", None),
        ("ops@brand.example", "studio@bücher.de", False, None, "studio@xn--bcher-kva.de"),
        ("josé@exemple.fr", "studio@brand.example", True, "josé@exemple.fr", None),
    ],
    ids=["idn-domain", "idn-sender-domain", "local-part-through-smtputf8"],
)
def test_a_failure_e_mail_to_an_international_address_is_sent(
    ws: Path,
    caplog: pytest.LogCaptureFixture,
    address: str,
    sender: str,
    smtputf8: bool,
    sent_to: str | None,
    sent_from: str | None,
) -> None:
    """`ops@bücher.de` was saved, then never sent: a relay without SMTPUTF8 (many) refused
    it, where its domain in IDNA form, as the webhook's host is shown, needs none; and a
    local part that is not ASCII goes through a relay that offers SMTPUTF8."""
    caplog.set_level(logging.WARNING, logger="lpstudio.failures")
    mailbox = _Mailbox()
    smtp = mailbox.serve(enable_SMTPUTF8=smtputf8)
    try:
        told_by_e_mail(ws, address, sender, smtp.port)
    finally:
        smtp.stop()
    assert not e_mail_failures(caplog)
    (envelope,) = mailbox.envelopes
    to, by = sent_to or address, sent_from or sender
    assert (envelope.rcpt_tos, envelope.mail_from) == ([to], by)
    assert f"From: {by}\r\nTo: {to}\r\n".encode() in envelope.content, envelope.content


@pytest.mark.parametrize(
    ("address", "sender", "setting", "how"),
    [
        (
            "josé@exemple.fr",
            "studio@brand.example",
            "notify.email of p/told",
            "`lpstudio settings p/told --notify-email ADDRESS`",
        ),
        ("ops@brand.example", "studio-é@brand.example", "[smtp] from in {config}", "set it there"),
    ],
    ids=["contact", "sender"],
)
def test_a_local_part_a_relay_without_smtputf8_refuses_is_logged_naming_its_setting(
    ws: Path, caplog: pytest.LogCaptureFixture, address: str, sender: str, setting: str, how: str
) -> None:
    """The log blamed `[smtp]` host and port, which send every other address: it names the
    address's own setting, and the two fixes."""
    caplog.set_level(logging.WARNING, logger="lpstudio.failures")
    mailbox = _Mailbox()
    smtp = mailbox.serve(enable_SMTPUTF8=False)  # aiosmtpd's Controller offers it unless told
    try:
        told_by_e_mail(ws, address, sender, smtp.port)
    finally:
        smtp.stop()
    assert not mailbox.envelopes
    config = ws / "lpstudio.toml"
    setting = setting.format(config=config)
    (said,) = e_mail_failures(caplog)
    assert said == (
        f"failure e-mail for job 1 failed: the mail server 127.0.0.1:{smtp.port} does not "
        f"take addresses that are not ASCII (SMTPUTF8), and {setting} is one\n  fix: give an "
        f"ASCII address for {setting} ({how}), or a relay that takes them ([smtp] in {config})"
    )


def test_an_e_mail_domain_with_no_idna_form_is_refused_when_saved(
    cli: Callable[..., Result], ws: Path
) -> None:
    """Saved, it could only fail when a job failed, the moment its e-mail was needed."""
    write_recipe(ws, "p/told")
    result = cli("settings", "p/told", "--notify-email", "ops@☃.net")
    assert result.exit_code != 0
    assert "--notify-email 'ops@☃.net' has a domain with no IDNA (ASCII) form" in result.output


@pytest.mark.parametrize("table", ["store", "users", "kernels"])
def test_a_table_written_as_a_value_is_refused_when_the_workspace_is_read(
    ws: Path, table: str
) -> None:
    """`store = 5` above the tables passed the checks, and every command then ended in a
    traceback (`'int' object has no attribute 'get'`)."""
    config = ws / "lpstudio.toml"
    before, _, after = config.read_text().partition(f"[{table}]\n")
    rest = after[after.index("\n[") :] if "\n[" in after else ""  # its keys dropped
    config.write_text(f"{table} = 5\n{before}{rest}")
    result = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == table, error
    assert f"{config} {table} must be a table, not 5" == error["message"], error
    assert f"[{table}] header" in error["fix"], error


#: The defaults the README documents, as a new workspace's lpstudio.toml must say them.
DOCUMENTED = [
    ("store", "url", 'url = "sqlite:///lpstudio.db"'),
    ("history", "path", 'path = "history"'),
    ("users", "default_role", 'default_role = "analyst"'),
    ("jobs", "stale_after_seconds", "stale_after_seconds = 60"),
    ("jobs", "heartbeat_seconds", "heartbeat_seconds = 2"),
    ("jobs", "retention_days", "retention_days = 30"),
    ("kernels", "pool_size", "pool_size = 2"),
    ("kernels", "preimport", 'preimport = ["pandas", "httpx"]'),
    ("kernels", "fork", "fork = true"),
    ("kernels", "start_timeout", "start_timeout = 60"),
]


@pytest.mark.parametrize(("table", "key", "line"), DOCUMENTED)
def test_a_new_workspace_s_settings_say_the_documented_defaults_it_is_read_with(
    ws: Path, table: str, key: str, line: str
) -> None:
    """The file `lpstudio init` writes says the values lpstudio uses when a key is left out,
    and they are the ones the README documents."""
    written = (ws / "lpstudio.toml").read_text()
    assert f"\n{line}\n" in written, written
    read, default = Workspace.load(ws).setting(table, key), Workspace(ws).setting(table, key)
    assert json.dumps(read) == json.dumps(default)  # a list read, a tuple kept: the same
