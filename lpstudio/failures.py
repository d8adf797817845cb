"""What follows a failed job: a retry when the recipe asks for one, else its failure contacts.

The scheduler (a job that failed in its worker), a poll run here (`lpstudio poll`, Poll now)
and the reaper (a job whose worker vanished) all come here, so a `kill -9` gets the same
retries and notifications as an exception, whoever asked for the poll.
A retry belongs to the job's chain, whose delivery ledger keeps it from sending twice.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Collection
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from .errors import FIX_SAID, LpstudioError, WorkspaceError, quoted, said_and_fix, word
from .models import Job
from .recipe import parsed
from .settings import saved_settings
from .store import CANCELLED, FAILED, QUEUED, reaped
from .workspace import CONFIG_NAME

if TYPE_CHECKING:
    from .studio import Studio

log = logging.getLogger("lpstudio.failures")

#: The triggers of jobs nobody waits on: their failures are retried (as the recipe's
#: `retries` allow) and reported to its failure contacts. A person's run (manual, test,
#: rerun) or a bot's call (callable) ends in front of its caller, who sees the failure and
#: decides: retrying a call the bot may repeat itself could act twice.
UNATTENDED = frozenset({"schedule", "poll", "webhook", "retry"})
#: 4xx answers that say "not now" rather than "never": a retry may pass.
PASSING_4XX = frozenset({408, 425, 429})
#: Ends that say nothing of the recipe, which a run at another moment may pass: a job that
#: ran out of time, whose process or kernel died. With no retry left, its report says so
#: and names the rerun, as a connector's retryable error's does.
TRANSIENT = frozenset({"Timeout", "WorkerLost", "WorkerStopped", "DeadKernelError"})


def refused_for_good(error: dict[str, Any]) -> bool:
    """Whether the app refused the job's request for good: a `ConnectorError` that is not
    retryable, with a 4xx answer that is not a "not now". A 5xx a connector could not
    safely repeat, or a failure with no answer, may still pass on a retry of the job."""
    status = error.get("status")
    return (
        error.get("retryable") is False
        and isinstance(status, int)
        and 400 <= status < 500
        and status not in PASSING_4XX
    )


def left_uncertain(error: dict[str, Any]) -> bool:
    """Whether the job ended with sends that may have been carried out, unknown to anyone:
    a connector said so (`uncertain`: a POST answered 5xx or not at all, recipients a
    campaign left in doubt), or the store found its sends unanswered when it ended (killed,
    timed out, put back in the queue mid-request: `uncertain_sends`). A person must check
    them, so its contacts hear of it at once, retried or not."""
    return error.get("uncertain") is True or bool(error.get("uncertain_sends"))


def nothing_left_to_retry(error: dict[str, Any]) -> str | None:
    """Why a retry would be in vain, or None when it may pass. A stop at an app's limit per
    day (a `ConnectorError` with `not_today`: the LivePerson connector's recipients per day
    per channel): a retry that day meets it again, whatever is left to send, and the
    next day's run sends the rest. A request in doubt that no ledger guards (the http
    connector's POST answered 500), or a campaign whose every recipient is sent, refused or
    in doubt: a retry could only send again what may have been carried out (a campaign's
    ledger keeps it from resending those, so it would only fail on them again). A campaign
    with recipients left to send (`retryable`) is retried for them, as its ledger keeps the
    ones in doubt (`uncertain_sends`); a connector's `retryable` error in doubt that no
    ledger row holds is not: its retry would run the same request again."""
    if error.get("not_today") is True:
        return (
            "it stopped at a daily limit, which a retry today would meet again: run it again "
            "tomorrow, which sends only the rest"
        )
    if error.get("uncertain") is True and error.get("retryable") is not True:
        return "its request may have been carried out, and a retry would have nothing else to send"
    if error.get("uncertain") is True and not error.get("uncertain_sends"):
        return (
            "its request may have been carried out, and no delivery ledger keeps a retry "
            "from sending it again"
        )
    return None


def describe_trigger(job: Job) -> str:
    """What started a job, as listings say it: a rerun or retry names the job it ran again,
    as Workato's rerun history does."""
    return f"{job.trigger} of job {job.rerun_of}" if job.rerun_of else job.trigger


def describe_error(error: dict[str, Any], cells_total: int = 0) -> str:
    """A job's error as people read it: `KeyError in cell 4 of 5 (In [3]): 'phone'`.

    The stored `cell` stays papermill's 0-based index into the notebook that ran (its
    injected parameters included); people and JupyterLab count cells from 1, and the output
    notebook marks the failing cell with its execution count (`In [3]`, the cell papermill's
    banner links to). Its fix follows on a line of its own, as an `LpstudioError`'s does
    (`said_and_fix`): the error keeps it apart, for an API answer's message to quote the
    error alone."""
    where = ""
    cell = error.get("cell")
    if isinstance(cell, int) and not isinstance(cell, bool):
        where = f" in cell {cell + 1}"
        if cells_total > cell:
            where += f" of {cells_total}"
        if error.get("execution_count") is not None:
            where += f" (In [{error['execution_count']}])"
    said, fix = said_and_fix(error)
    return (
        f"{error.get('ename') or 'Error'}{where}"
        + (f": {said}" if said else "")
        + (f"{FIX_SAID}{fix}" if fix else "")
    )


def _retries_of(studio: Studio, job: Job) -> dict[str, Any]:
    """The `retries` of the recipe's version that ran the job: an edit saved since (its
    retries raised, or turned off) applies to the jobs that version runs, not to the retries
    of one that ran before. A recipe deleted since, or a version that cannot be read,
    allows none."""
    try:
        if not studio.recipe_file(job.recipe)[0].is_file():
            return {}
        ran = parsed(studio.store.version_notebook(job.version_id), job.recipe)
    except LpstudioError:
        return {}
    return dict(ran.metadata.get("retries") or {})


def after_end(studio: Studio, job: Job, now: datetime | None = None) -> int | None:
    """What follows the end of a job its runner ran to its end (`after_failure` for a
    failure, or a cancel that left sends uncertain); returns the retry's id, if any. Only
    the process that ran the job calls it, once: another's would report it twice. A job
    failed as "worker lost" was followed up by the reaper that failed it."""
    error = job.error or {}
    failed = job.status == FAILED and not reaped(job)
    # A cancelled job is reported only when it may have sent what nobody knows of.
    if failed or (job.status == CANCELLED and error.get("uncertain_sends")):
        return after_failure(studio, job, now)
    return None


def after_failure(studio: Studio, job: Job, now: datetime | None = None) -> int | None:
    """Queues the job's retry if its recipe's `retries` allow one more (returns its id);
    else notifies the recipe's failure contacts. A cancelled job is left alone, and so is
    a person's run or a bot's call (not `UNATTENDED`): its caller sees it fail, or stopped
    it, whichever process ran or reaped it. A job an app refused for good
    (`refused_for_good`) is reported at once: a retry would be refused the same way, and
    only delay the news; so is one whose retry could only send again what may have been
    carried out, or meet the same daily limit (`nothing_left_to_retry`). A job that left
    sends uncertain (`left_uncertain`) is reported at once, whether it is retried (for what
    it did not send) or not, and so is a cancelled one."""
    error = job.error or {}
    if job.trigger not in UNATTENDED:
        return None
    if error.get("ename") == "Cancelled":
        if error.get("uncertain_sends"):
            notify(studio, job)
        return None
    retries = _retries_of(studio, job)
    allowed = job.attempt <= int(retries.get("count", 0))
    if refused_for_good(error):
        in_vain: str | None = (
            f"the app refused the request (HTTP {error['status']}), and a retry would be "
            "refused the same way"
        )
    else:
        in_vain = nothing_left_to_retry(error)
    # Its contacts hear why no retry follows, retries left or not: they would otherwise
    # wait for one that never comes, or not know that tomorrow's run sends the rest.
    next_step = f"no retry follows: {in_vain}" if in_vain else None
    if allowed and in_vain:
        log.info("job %s is not retried: %s", job.id, in_vain)
    elif allowed:
        interval = float(retries.get("interval", 60))
        with studio.store.write() as s:
            clock = studio.store.now(s)  # by the store's clock, as schedulers read it
            retry = Job(
                recipe=job.recipe,
                version_id=job.version_id,
                status=QUEUED,
                trigger="retry",
                parameters=job.parameters,
                given=job.given,
                event=job.event,
                sealed_event=job.sealed_event,
                user=job.user,
                rerun_of=job.id,
                created_at=clock,
                cells_done=0,
                cells_total=0,
                attempt=job.attempt + 1,
                timeout=job.timeout,
                not_before=(now or clock) + timedelta(seconds=interval),
            )
            s.add(retry)
            s.flush()
            # Its fix said to rerun it: followed, a second job ran beside the retry, doing
            # again what the ledger does not guard (a REST call, a row written).
            ended = s.get(Job, job.id)
            if ended is not None and ended.error:
                ended.error = {
                    **ended.error,
                    "fix": f"job {retry.id} retries it in {interval:g} s, as its recipe's "
                    "retries say: rerun it by hand only if that retry fails too",
                }
            log.info("job %s will be retried as job %s in %g s", job.id, retry.id, interval)
        if left_uncertain(error):
            notify(studio, job)
        return retry.id
    count = int(retries.get("count", 0))
    if not in_vain and (count or error.get("retryable") is True or error.get("ename") in TRANSIENT):
        # Its error may say that a retry sends what is left (a campaign's), or its recipe
        # retried it for any error: none comes.
        why = f"its {count} retries are used up" if count else "its recipe sets no retries"
        next_step = (
            f"{why}, so no retry follows: `lpstudio rerun {job.id}` runs it again once the "
            "cause is fixed"
        )
        log.info("job %s is not retried: %s", job.id, next_step)  # the webhook's `next`
    notify(studio, job, next_step)
    return None


#: A recipe's failure contacts (`settings["notify"]`), by kind.
CONTACTS = ("webhook", "email")
#: Each kind of contact as refusals name it, and the fix they give.
CONTACT_NAMES = {"webhook": "webhook URL", "email": "e-mail address"}
CONTACT_FIXES = {
    "webhook": "give the URL the report is POSTed to, e.g. https://hooks.example.com/lp",
    "email": "give one address, e.g. ops@brand.example",
}


def checked_contacts(
    given: dict[str, Any], saved: dict[str, str], hidden: Collection[str] = ()
) -> dict[str, str]:
    """`saved` with the contacts `given` set, or cleared (None or empty), each checked
    before anything is stored: a report that cannot go out is only found when a job
    fails, which is when it is needed. One holding any of the `hidden` secrets (the
    workspace's) is refused first, unquoted: listings show a contact to every role (a
    webhook by its host), and the store keeps it in clear."""
    import unicodedata
    from email.utils import parseaddr

    import httpx

    from .connections import refuse_held_secret
    from .errors import InputError

    contacts = dict(saved)
    for kind, value in given.items():
        if kind not in CONTACTS:
            raise InputError(
                f"no failure contact {kind!r}", field="notify", fix="give webhook and/or email"
            )
        if value in (None, ""):
            contacts.pop(kind, None)
            continue
        field = f"notify.{kind}"
        if not isinstance(value, str):
            raise InputError(f"{field} must be one line of text", field=field, fix="give text")
        if any(unicodedata.category(c) == "Cc" for c in value):  # a line break, NUL, tab...
            raise InputError(
                f"{field} holds a control character (a line break, tab or NUL)",
                field=field,
                fix=CONTACT_FIXES[kind],
            )
        refuse_held_secret(
            value, field, f"failure {CONTACT_NAMES[kind]}", hidden, CONTACT_FIXES[kind]
        )
        if kind == "webhook":
            try:
                url = httpx.URL(value)
            except httpx.InvalidURL:
                url = None
            if url is None or url.scheme not in ("http", "https") or not url.host:
                raise InputError(
                    f"{field} is not an http(s) URL",
                    field=field,
                    fix=CONTACT_FIXES[kind],
                )
        elif "@" not in parseaddr(value)[1] or parseaddr(value)[1] != value.strip():
            raise InputError(
                f"{field} {quoted(value)} is not an e-mail address",
                field=field,
                fix=CONTACT_FIXES[kind],
            )
        elif mail_address(value.strip()) is None:
            raise InputError(
                f"{field} {quoted(value)} has a domain with no IDNA (ASCII) form, which mail "
                "servers need",
                field=field,
                fix=CONTACT_FIXES[kind],
            )
        contacts[kind] = value.strip()
    return contacts


def mail_address(address: str) -> str | None:
    """`address` (an addr-spec, or a "Name <addr>") with its domain in its IDNA (punycode)
    form, as the failure webhook's host is shown (httpx encodes it): every relay takes
    `ops@xn--bcher-kva.de`, where `ops@bücher.de` needs SMTPUTF8, which many relays lack.
    Only a local part that is not ASCII still needs it. None for a domain with no such
    form; an ASCII domain is kept as written."""
    from email.utils import parseaddr

    import httpx

    spec = parseaddr(address)[1]
    domain = spec.rpartition("@")[2]
    if domain.isascii():
        return address
    try:
        host = httpx.URL(scheme="http", host=domain).raw_host.decode("ascii")
    except httpx.InvalidURL:
        return None
    return address.replace(spec, f"{spec.rpartition('@')[0]}@{host}")


def shown_contacts(contacts: dict[str, str]) -> dict[str, str]:
    """The contacts as answers and listings show them: a webhook URL often holds its token
    (Slack's, Teams'), so only its scheme and host are shown."""
    import httpx

    shown = dict(contacts)
    if "webhook" in shown:
        url = httpx.URL(shown["webhook"])
        shown["webhook"] = f"{url.scheme}://{url.netloc.decode()}/****"
    return shown


def notify(studio: Studio, job: Job, next_step: str | None = None) -> None:
    """Tells the recipe's failure contacts (a webhook and/or an e-mail) that it failed,
    and what to do next when lpstudio knows (`next`)."""
    error = job.error or {}
    body = {
        "job": job.id,
        "recipe": job.recipe,
        "status": job.status,
        "error": {
            "ename": error.get("ename"),
            "evalue": error.get("evalue"),
            # the fix lpstudio keeps apart (`said_and_fix`): a dead kernel's, a timeout's
            **({"fix": error["fix"]} if error.get("fix") else {}),
        },
        **({"next": next_step} if next_step else {}),
    }
    tell(studio, body, f"job {job.id}", notify_subject(job))


def notify_subject(job: Job) -> str:
    """The report's subject (and its e-mail's first line): how the job truly ended, as the
    webhook's `status` says it."""
    ended = "was cancelled" if job.status == CANCELLED else job.status
    return f"lpstudio: job {job.id} of {job.recipe} {ended}"


def restart_fix(recipe: str) -> str:
    """The fix of a recipe its trigger errors stopped: nothing polls or fires it until a
    person starts it again."""
    return f"start it again once the cause is fixed: `lpstudio start {word(recipe)}`"


def notify_stopped(studio: Studio, recipe: str, errors: int, last_error: str) -> None:
    """Tells the recipe's failure contacts that the scheduler stopped it after `errors`
    trigger errors in a row: from then on it polls and fires nothing, and no job of it
    fails to tell them so (its listing says why it stopped)."""
    body = {
        "job": None,
        "recipe": recipe,
        "status": "stopped",
        "error": {
            "ename": "AutoStopped",
            "evalue": f"stopped after {errors} trigger errors in a row; last: {last_error}",
            "fix": restart_fix(recipe),
        },
    }
    tell(studio, body, f"the stop of {recipe}", f"lpstudio: {recipe} was stopped")


def _webhook_failed(what: str, said: str, recipe: str, url: str) -> None:
    """Logs that the failure webhook did not take the report of `what`, naming the setting
    that sent it there (its URL shown as listings show it: it often holds a token) and the
    fix, as the e-mail's failure names `[smtp]`."""
    name = recipe.removesuffix(".ipynb")
    log.warning(
        "failure webhook for %s %s (%s, notify.webhook of %s)%scheck that its server runs "
        "and takes a JSON POST from this machine, or give the right URL with "
        "`lpstudio settings %s --notify-webhook URL` ('' clears it)",
        what,
        said,
        shown_contacts({"webhook": url})["webhook"],
        name,
        FIX_SAID,
        word(name),
    )


def _not_ascii_refused(
    studio: Studio, what: str, recipe: str, smtp: dict[str, Any], sender: str
) -> None:
    """Logs that the mail server lacks SMTPUTF8, which an address whose local part is not
    ASCII (`josé@exemple.fr`) needs: naming the setting that holds it, not [smtp] host and
    port, which work for every other address."""
    name = recipe.removesuffix(".ipynb")
    config = studio.workspace.root / CONFIG_NAME
    if sender.isascii():
        setting = f"notify.email of {name}"
        how = f"`lpstudio settings {word(name)} --notify-email ADDRESS`"
    else:
        setting, how = f"[smtp] from in {config}", "set it there"
    log.warning(
        "failure e-mail for %s failed: the mail server %s:%s does not take addresses that "
        "are not ASCII (SMTPUTF8), and %s is one%sgive an ASCII address for %s (%s), or a "
        "relay that takes them ([smtp] in %s)",
        what,
        smtp["host"],
        smtp["port"],
        setting,
        FIX_SAID,
        setting,
        how,
        config,
    )


def tell(studio: Studio, body: dict[str, Any], what: str, subject: str) -> None:
    """Sends `body` to the failure contacts of its recipe: POSTed to the webhook, and
    written to the e-mail address as `subject` and one line."""
    contacts = saved_settings(studio.store, body["recipe"]).get("notify") or {}
    if contacts.get("webhook"):
        import httpx

        # Neither its whole URL (it may hold a token) nor its answer is logged: its host,
        # its setting, its status.
        try:
            answer = httpx.post(contacts["webhook"], json=body, timeout=10)
        except httpx.HTTPError as exc:
            _webhook_failed(what, f"failed: {exc}", body["recipe"], contacts["webhook"])
        else:
            if not answer.is_success:
                said = f"answered HTTP {answer.status_code}: the report was not taken"
                _webhook_failed(what, said, body["recipe"], contacts["webhook"])
    if contacts.get("email"):
        error = body["error"]
        step = f"\nNext: {body['next']}\n" if body.get("next") else ""
        try:  # `[smtp]` as the file says it now: an operator may have set it since
            smtp = studio.workspace.current_smtp()
        except WorkspaceError as exc:  # its message names the setting and the fix
            log.warning("failure e-mail for %s failed: %s", what, exc)
            return
        # Both checked to have an IDNA form, when saved and when [smtp] was read.
        sender = mail_address(smtp["from"]) or smtp["from"]
        try:
            message = EmailMessage()
            message["Subject"] = subject
            message["From"] = sender
            message["To"] = mail_address(contacts["email"]) or contacts["email"]
            fix = f"{FIX_SAID}{error['fix']}" if error.get("fix") else ""
            message.set_content(f"{subject}: {error['ename']}: {error['evalue']}{fix}\n{step}")
            with smtplib.SMTP(smtp["host"], smtp["port"], timeout=10) as client:
                # With SMTPUTF8 when an address's local part is not ASCII and the server
                # offers it; refused (SMTPNotSupportedError) when it does not.
                client.send_message(message)
        except smtplib.SMTPNotSupportedError:
            _not_ascii_refused(studio, what, body["recipe"], smtp, sender)
        except OSError as exc:  # smtplib's errors too: which server, which setting, the fix
            log.warning(
                "failure e-mail for %s failed: the mail server %s:%s ([smtp] host and port) "
                "answered: %s\n  fix: check [smtp] in %s and that the mail server runs and "
                "takes mail from this machine",
                what,
                smtp["host"],
                smtp["port"],
                exc,
                studio.workspace.root / CONFIG_NAME,
            )
