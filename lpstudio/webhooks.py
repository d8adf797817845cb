"""Webhook receipt: from a POST to a hook to the jobs of its events, queued once.

A hook is named by an id no one can guess from the recipe's name (`webhook_id`). A
delivery is checked before anything is queued: its signature, with the secret of the
connection its trigger names; then each of its events, against the recipe's input schema.
Its jobs are queued together or not at all, and a delivery repeated under the same delivery
id, or a signed body sent again, gets the first one's jobs instead of new ones: senders
retry, a captured delivery may be replayed, and a recipient must never get a message
twice. An unsigned delivery without a delivery id has only its body to be known by: the
same body again within the workspace's repeat window (`[webhooks] repeat_window_seconds`)
is taken as its sender's retry, and after it as a new delivery (a daily ping sends the same
body each day). The window is read from the claim's time, never from a bucket of the clock:
two retries a second apart could fall on either side of a bucket's edge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from .checks import check_event, input_problem
from .errors import (
    ConflictError,
    ConnectorFault,
    DeliveryError,
    InputError,
    LpstudioError,
    NotFoundError,
    SignatureError,
    quoted,
)
from .idempotency import CLAIM_LEASE, DELIVERY_ID_HEADERS, delivery_id, left_claim_wait
from .models import utcnow
from .recipe import Recipe
from .redaction import scrub_text

if TYPE_CHECKING:
    from pathlib import Path

    from .models import Job
    from .sdk import WebhookTrigger
    from .studio import Studio
    from .workspace import Workspace

log = logging.getLogger("lpstudio.webhooks")


def webhook_id(workspace: Workspace, recipe: str) -> str:
    """A webhook recipe's hook id: an HMAC of its name with the workspace key, so it
    cannot be guessed from the name and survives restarts."""
    return _hook_id(workspace.key_path.read_bytes().strip(), recipe)


def _hook_id(key: bytes, recipe: str) -> str:
    """`webhook_id` with the workspace key read: a delivery's lookup reads it once."""
    return hmac.new(key, f"webhook\0{recipe}".encode(), hashlib.sha256).hexdigest()[:40]


def signature_readers(
    workspace_root: Path | None = None,
) -> dict[str, list[tuple[str, WebhookTrigger]]]:
    """Each header a webhook trigger reads a delivery's signature in (its
    `signature_headers`, which `_verified` and `_signature_header` read), with the
    (connector, trigger) pairs that read it: every trigger that verifies, of the connectors
    that load for the workspace (bundled, installed and its own), as a hook's recipe may bind
    any of them. The OpenAPI document declares them."""
    from .registry import load_connectors

    readers: dict[str, list[tuple[str, WebhookTrigger]]] = {}
    spelled: dict[str, str] = {}  # a header's name in any letter case: the first spelling
    for name, connector in sorted(load_connectors(workspace_root).items()):
        for trigger in connector.webhook_triggers.values():
            if trigger.verify is not None:
                for header in trigger.signature_headers:
                    header = spelled.setdefault(header.lower(), header)
                    readers.setdefault(header, []).append((name, trigger))
    return readers


#: Headers a delivery's recipe never reads (`delivery_seen`): credentials, lpstudio's own
#: among them (`API-TOKEN`, Jupyter's `Authorization: token` and `X-XSRFToken`), and what
#: only the connection between sender and server means (hop-by-hop headers, `Host`, the
#: body's length), which a proxy may change on the way.
UNREAD_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "api-token",
        "x-api-key",
        "x-xsrftoken",
        "x-csrftoken",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)

#: A header whose name says it carries a credential or a signature (`X-Acme-Token`,
#: `Stripe-Signature`): not read either, whether or not a connector of the workspace
#: declares it, as a signature is the shared secret's work and a token is one.
CREDENTIAL_NAME = re.compile(
    r"authori[sz]|authenticat|cookie|token|secret|passw|api-?key|signature|hmac", re.I
)

#: Query parameters a recipe never reads: Jupyter's token and its XSRF token.
UNREAD_QUERY = frozenset({"token", "_xsrf"})


def delivery_seen(
    trigger: WebhookTrigger,
    headers: Mapping[str, str],
    query: Mapping[str, list[str]],
    workspace_root: Path | None = None,
) -> dict[str, Any]:
    """The delivery's headers and query as its recipe reads them (`lp.delivery`): what
    senders put their meaning in (Shopify's `X-Shopify-Topic`, GitHub's `X-GitHub-Event`, a
    delivery id), header names in lower case (HTTP's are in any case, and HTTP/2 sends
    them so), a query parameter given once as its text and one given again as the list of
    its values. Never a credential: `UNREAD_HEADERS`, names `CREDENTIAL_NAME` matches, the
    signature headers of the trigger and of every webhook trigger of the workspace's
    connectors (`signature_readers`), and `UNREAD_QUERY` are left out."""
    unread = UNREAD_HEADERS | {name.lower() for name in trigger.signature_headers}
    unread |= {name.lower() for name in signature_readers(workspace_root)}
    kept = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower() not in unread and not CREDENTIAL_NAME.search(name)
    }
    asked = {
        name: values[0] if len(values) == 1 else list(values)
        for name, values in query.items()
        if name not in UNREAD_QUERY and not CREDENTIAL_NAME.search(name)
    }
    return {"headers": kept, "query": asked}


def _signature_header(
    trigger: WebhookTrigger, headers: dict[str, str], body: bytes, secret: str
) -> str:
    """The signature header a refusal names, the one the sender can fix: of the trigger's
    `signature_headers` that the delivery carries, the first whose signature, checked
    alone, is wrong (a delivery signed in several may be right in all but one); else the
    first it carries, and with none, the first the trigger reads (else lpstudio's own)."""
    read = trigger.signature_headers
    signing = {name.lower() for name in read}
    others = {name: value for name, value in headers.items() if name.lower() not in signing}
    sent = {name.lower(): value for name, value in headers.items() if value}
    carried = [name for name in read if name.lower() in sent]
    for name in carried:
        alone = {**others, name: sent[name.lower()]}
        if not _verified(trigger, alone, body, secret):
            return name
    return next(iter(carried), read[0] if read else "X-Lpstudio-Signature")


def _verified(trigger: WebhookTrigger, headers: dict[str, str], body: bytes, secret: str) -> bool:
    """The connector's `verify`. A signature it cannot read (not hex or base64: ValueError;
    not ASCII, which `hmac.compare_digest` refuses with TypeError) is a wrong one; any other
    exception is a bug in its code, the recipe's to fix and not the sender's (503, which
    senders retry): it answered 401, and the exception was nowhere."""
    try:
        return bool(trigger.verify is not None and trigger.verify(headers, body, secret))
    except ValueError:
        return False
    except Exception as exc:
        if isinstance(exc, TypeError) and not all(value.isascii() for value in headers.values()):
            return False
        fault = _connector_fault(trigger, "verify", exc, {secret})
    raise fault  # outside the handler: no unmasked context chained to it


def _connector_fault(
    trigger: WebhookTrigger, part: str, exc: Exception, secrets: Collection[str]
) -> ConnectorFault:
    """A bug in a webhook trigger's `part` (`parse`, `verify`), logged with its traceback
    for the connector's author, `secrets` masked; the refusal quotes no code (a sender
    learns nothing of it) and answers 503, as a recipe that cannot run: senders retry."""
    from .sdk import Connector

    func = getattr(trigger, part)
    module, connector = func.__module__, func.__module__
    while module:  # the module (or package) that defines the `connector`, as README says
        found = getattr(sys.modules.get(module), "connector", None)
        if isinstance(found, Connector):
            connector = found.name
            break
        module = module.rpartition(".")[0]
    where = f"connector {connector}'s {trigger.name} trigger"
    said = "".join(traceback.format_exception(exc)).rstrip()
    log.error(
        "a webhook delivery was refused (503): the %s of %s failed: %s",
        part,
        where,
        scrub_text(said, secrets),
    )
    return ConnectorFault(
        f"the {part} of {where} failed on a delivery: its code needs correcting",
        field=f"triggers.{trigger.name}",
        fix=f"correct the {part} of connector {connector} (the server's log has its "
        "traceback): the sender's retries are taken once it works",
    )


def _events(trigger: WebhookTrigger, recipe: Recipe, headers: dict[str, str], body: bytes) -> Any:
    """The delivery's events as the connector's `parse` reads them, each a JSON object: a
    body it cannot read (invalid JSON: `json.loads`'s own error, or text not UTF-8, or an
    `InputError` of its own, given a fix to send the body the trigger takes if it has none)
    or events that are no objects are the sender's to correct (400), not the server's
    failure; any other exception in `parse` (a ValueError of its own code too) or one that
    answers no list, the connector's (503, which the sender retries)."""
    fix = f"send the body the recipe's {trigger.title} trigger takes: a JSON object per event"
    try:
        events = trigger.parse(headers, body)
    except DeliveryError as exc:
        exc.fix = exc.fix or fix
        raise
    except InputError as exc:  # the parse refusing the body, as README shows: the sender's
        raise DeliveryError(exc.message, field=exc.field or "body", fix=exc.fix or fix) from None
    except LpstudioError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a body it cannot read
        raise DeliveryError(
            f"the body cannot be read as the {trigger.title} trigger reads it: "
            f"{type(exc).__name__}: {exc}",
            field="body",
            fix=fix,
        ) from None
    except Exception as exc:  # a bug in `parse` (a NameError...): its author's to fix
        raise _connector_fault(trigger, "parse", exc, ()) from None
    if not isinstance(events, list):
        raise ConnectorFault(
            f"the {trigger.title} trigger of recipe {recipe.name} read the delivery as "
            f"{type(events).__name__}, not a list of events",
            field="trigger",
            fix="its connector's parse must return a list of events (JSON objects)",
        )
    if not all(isinstance(event, dict) for event in events):
        raise DeliveryError(
            "the delivery holds an event that is no JSON object", field="body", fix=fix
        )
    return events


def hooked_recipe(studio: Studio, hook_id: str) -> tuple[str, Recipe | LpstudioError] | None:
    """The recipe whose hook id is `hook_id`, by name, as read (or why it is not), if any.
    Looked for by name, its file read once found: among the started recipes first (a
    delivery's usual recipe), then among the names of every notebook in `projects/`, none of
    them read (a stopped recipe's deliveries are kept too): a delivery, or a junk POST, costs
    no `stat` of every recipe before its signature is checked."""
    key = studio.workspace.key_path.read_bytes().strip()
    names = chain(studio.started_settings(), studio.workspace.notebook_names())
    for name in names:
        if hmac.compare_digest(_hook_id(key, name), hook_id):
            return next(iter(studio.recipe_files([name])), None)  # a link or a folder: none
    return None


def receive_webhook(
    studio: Studio,
    hook_id: str,
    headers: dict[str, str],
    body: bytes,
    credentials: Collection[str] = (),
    query: Mapping[str, list[str]] | None = None,
) -> tuple[Recipe, list[Job], bool]:
    """`Studio.receive_webhook`: the recipe, the delivery's jobs, and whether they are a
    repeated delivery's. Nothing is written until the delivery passed every check. Its
    events are kept masked of the workspace's secrets and of lpstudio's `credentials`
    (`Studio.kept_event`), each with the delivery's headers and `query` as its recipe
    reads them (`delivery_seen`)."""
    recipe = None
    hooked = hooked_recipe(studio, hook_id)
    if hooked is not None:
        name, found = hooked
        if isinstance(found, Recipe) and found.trigger_kind == "webhook":
            recipe = found
        elif isinstance(found, LpstudioError):
            raise studio.broken(name, found)  # started or stopped: its events are kept
    if recipe is None:
        raise NotFoundError(f"no webhook {hook_id[:8]}...", field="hook", fix="check the URL")
    trigger, secret = webhook_trigger(studio, recipe)
    if secret is not None and not _verified(trigger, headers, body, secret):
        slot = recipe.metadata["trigger"]["connection"]
        raise SignatureError(
            "the webhook's signature is missing or wrong",
            field=_signature_header(trigger, headers, body, secret),
            fix=f"sign the raw body with the shared secret (the {trigger.secret_field} of "
            f"the recipe's {slot} connection) as its {trigger.title} trigger reads it"
            + (f": {trigger.description}" if trigger.description else ""),
        )
    events = _events(trigger, recipe, headers, body)
    digest = hashlib.sha256(body).hexdigest()
    # The keys a delivery is queued once under: the sender's delivery id, and a signed
    # body's digest. A delivery id is not signed: one who captured a signed delivery could
    # send it again under a new id, or none, and message its recipients again. An unsigned
    # delivery without one is queued once per body within the repeat window: its claim is
    # taken over by the first delivery of that body once the window has passed (`over`).
    keys: list[tuple[str, str, str, Callable[[dict[str, Any]], bool] | None]] = []
    named = delivery_id(headers)
    if named is not None:
        keys.append((f"webhook:{recipe.name}", *named, None))  # (client, header, key, over)
    if secret is not None:
        keys.append((f"webhook-body:{recipe.name}", "body", f"sha256:{digest}", None))
    window = _window(studio, named, secret)
    if window:
        over = _window_passed(utcnow() - timedelta(seconds=window))
        keys.append((f"webhook-repeat:{recipe.name}", "body", f"sha256:{digest}", over))

    def repeated(claim: dict[str, Any] | None) -> list[Job] | None:
        """The jobs of a delivery queued before under this key with this body."""
        if claim is None or claim["request_sha256"] != digest or not claim.get("answer"):
            return None
        return [studio.store.job(i) for i in claim["answer"]["jobs"]]

    # A redelivery of one that was queued is answered as such before anything is
    # checked again: a schema tightened since must not refuse what was accepted.
    for client, _, key, over in keys:
        found = studio.calls.find(client, key)
        before = None if found is not None and over and over(found) else repeated(found)
        if before is not None:
            return recipe, before, True
    # A delivery's jobs are queued together, in one transaction, or none of them is:
    # one event off the recipe's input schema refuses it whole, before its id is
    # claimed, so the sender's corrected redelivery under the same id is queued.
    for index, event in enumerate(events):
        try:
            check_event(event)
        except InputError as exc:  # NaN in the body, as Python's `json` reads it
            where = f"event {index}: " if len(events) > 1 else ""
            raise DeliveryError(f"{where}{exc.message}", field="body", fix=exc.fix) from None
        problem = input_problem(recipe, event)
        if problem is not None:
            field, message, wanted = problem
            where = field or "body"  # `phone`; in a delivery of several, `2.phone`
            if len(events) > 1:
                where = f"{index}.{field}" if field else str(index)
            raise DeliveryError(
                f"{where}: {message}; the delivery does not fit the input schema of "
                f"recipe {recipe.name}, and nothing was queued",
                field=where,
                fix=f"send {field or 'each event'} as the recipe takes it ({wanted}), "
                "then deliver it again (under the same delivery id, if it has one)",
            )
    # One snapshot for the delivery: its jobs differ only by their event.
    secrets = studio.held_secrets()  # read once for the delivery's events and defaults
    base = studio.job_fields(recipe, {}, None, "webhook", None, hidden=lambda: secrets)
    delivery = delivery_seen(trigger, headers, query or {}, studio.workspace.root)
    rows = [
        {**base, **studio.kept_event(event, secrets, credentials, delivery)} for event in events
    ]
    claims: list[dict[str, Any]] = []
    try:
        for client, header, key, over in keys:
            claim, made = studio.calls.claim(client, key, recipe.name, digest, renew_answered=over)
            if made:
                claims.append(claim)
                continue
            before = repeated(claim)
            if before is not None:
                for held in claims:
                    studio.calls.release(held)
                return recipe, before, True
            if claim["request_sha256"] != digest:  # the sender's to fix, as an event off the schema
                raise DeliveryError(
                    f"{header} {key[:64]!r} was delivered before with another body; "
                    "nothing was queued",
                    field=header,
                    fix=f"give each new delivery its own {header}; a redelivery repeats the "
                    "first delivery's body unchanged",
                )
            raise _in_progress(header, key, claim)

        def settle(session: Any, jobs: list[Job]) -> None:  # with the jobs, or not at all
            answer = {"jobs": [job.id for job in jobs]}
            for claim in claims:
                studio.calls.settle(claim, status=202, answer=answer, session=session)

        jobs = studio.store.create_jobs(rows, then=settle if claims else None)
    except BaseException:
        for held in claims:
            studio.calls.release(held)  # nothing was queued: a redelivery queues it all
        raise
    return recipe, jobs, False


def _window(studio: Studio, named: tuple[str, str] | None, secret: str | None) -> float:
    """The seconds an unsigned delivery without a delivery id is queued once per body
    within (`[webhooks] repeat_window_seconds`); 0 for one whose repeats are known exactly
    (by its delivery id, or forever by its signed body), or with the window off."""
    if named is not None or secret is not None:
        return 0.0
    return float(studio.workspace.setting("webhooks", "repeat_window_seconds"))


def _window_passed(since: datetime) -> Callable[[dict[str, Any]], bool]:
    """Whether a repeat window's claim was made before `since` and answered: a delivery
    of its body now is a new one, and takes the claim over (in one conditional update:
    of two such deliveries at once, one queues). A claim not answered yet is its first
    request's, still queueing (or dead: taken over after `CLAIM_LEASE`), whatever its age."""

    def passed(claim: dict[str, Any]) -> bool:
        return claim["status"] is not None and claim["claimed_at"] <= since

    return passed


def repeat_window(studio: Studio, recipe: Recipe, headers: dict[str, str]) -> float:
    """The seconds within which the same body again is taken as a repeat of a delivery to
    `recipe` with `headers` (see `_window`), for its answer to say: 0 when its repeats are
    known exactly or the window is off."""
    if delivery_id(headers) is not None or not _window(studio, None, None):
        return 0.0  # known exactly, or the window is off: no need to read the trigger
    return _window(studio, None, webhook_trigger(studio, recipe)[1])


def repeat_advice(window: float) -> str:
    """What an answer tells the sender of a delivery taken once per body within `window`
    seconds: how to make its repeats exact."""
    return (
        f"without a delivery id, the same body again within {window:g} s is taken as a "
        f"repeat of this delivery: send one ({', '.join(DELIVERY_ID_HEADERS)}) to make "
        "repeats exact"
    )


def _in_progress(header: str, key: str, claim: dict[str, Any]) -> ConflictError:
    """409 to a redelivery whose first request holds its claim and queued nothing yet, with
    the seconds to wait (`retry_after`, the answer's `Retry-After`): a few for a claim that
    may be a live request's, else the time left until it is taken over (`left_claim_wait`:
    told 5 s, a sender retried in vain for 5 minutes)."""
    wait = left_claim_wait(claim["claimed_at"])
    if wait is None:
        fix = "retry the delivery in a few seconds"
    else:
        fix = (
            f"retry the delivery in {wait} s: the request that took it has queued nothing (its "
            f"server may have stopped), and the first redelivery once "
            f"{int(CLAIM_LEASE.total_seconds() // 60)} minutes have passed queues it"
        )
    return ConflictError(
        f"delivery {key[:64]!r} is being queued by another request",
        field=header,
        fix=fix,
        retry_after=wait,
    )


def webhook_trigger(
    studio: Studio, recipe: Recipe, connections: Mapping[str, str] | None = None
) -> tuple[WebhookTrigger, str | None]:
    """A webhook recipe's trigger, and the secret its deliveries' signatures are checked
    with: the trigger's `secret_field` of the connection its trigger names (None: no
    check, for a trigger that names no connection or does not verify). A trigger that
    verifies and whose connection has no value for that field is refused, as is one its
    connector does not declare (an `InputError`, 503 to the sender, which retries): the
    check was skipped, and forged deliveries queued jobs. `Studio.ready_settings` runs it
    with the recipe's bound `connections` (read from its settings when not given), so
    Start refuses such a recipe and its `settings_problem` says why: started, it refused
    every delivery until someone noticed. A delivery meets it again for a recipe changed
    since its start."""
    from .registry import get_connector

    spec = recipe.metadata.get("trigger", {})
    slot, name = spec.get("connection"), spec.get("trigger", "webhook")
    if not slot:
        return get_connector("http").webhook_triggers["webhook"], None
    if connections is None:
        connections = studio.settings(recipe)["connections"]
    bound = connections.get(slot)
    if bound is None:
        raise InputError(
            f"the trigger of recipe {recipe.name} names connection slot '{slot}', which "
            "the recipe does not declare",
            field="trigger.connection",
            fix=f'declare it in the notebook\'s metadata: "connections": {{"{slot}": '
            '{"type": "TYPE"}}',
        )
    type_, config = studio.connections.values(bound)
    declared = get_connector(type_, studio.workspace.root).webhook_triggers
    trigger = declared.get(name)
    if trigger is None:
        raise InputError(
            f"connector {type_} (connection {quoted(bound)}) has no webhook trigger {quoted(name)}",
            field="trigger.trigger",
            fix=f"use one of: {', '.join(declared)}"
            if declared
            else "bind a connection whose connector receives webhooks (e.g. http)",
        )
    if trigger.verify is None:
        return trigger, None
    field = trigger.secret_field
    if not config.get(field):
        raise InputError(
            f"connection {quoted(bound)} has no {field}, the secret its {trigger.title} trigger "
            "checks each delivery's signature with: no delivery is taken until it has one",
            field=field,
            fix="give it the secret the sender signs with: "
            f"`lpstudio connections update {bound} --secret {field}`",
        )
    return trigger, config[field]
