"""Sending a Proactive campaign: render each recipient, batch, send once, account for all.

Recipients stream in: a list, any iterable of records, or a DataFrame, which is converted to
records `READ_ROWS` rows at a time (never all at once: 100,000 recipients as dicts would
take hundreds of MB). Each batch is one create-campaign request, identified by a hash of
its content in the job's ledger:
- before sending, the batch is claimed in the ledger ("sending"), durably;
- an answer settles it as accepted (with its per-recipient results) or rejected (a whole
  request refused: it was not sent, and may be sent again);
- a lost answer settles it as uncertain; so does a claim left "sending" by a process that
  died mid-request. Uncertain and accepted batches are never sent again by a retry or a
  rerun of the job: they are reported instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from lpstudio.sdk import Connection, ConnectorError, chunks
from lpstudio.templating import lookup, render

from .client import LivePersonClient, Uncertain, error_message

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PHONE_CHANNELS = ("sms", "wa")
DRY_RUN_REQUESTS = 20
#: Rows of a DataFrame converted to records at once: large enough that pandas' per-call
#: cost is spread thin, small enough that the records of one slice stay a few MB.
READ_ROWS = 1000


def _consumers(
    records: Any, data: dict[str, Any], seen: set[str], failed: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Each record as a campaign consumer; records that cannot be sent go to `failed`."""
    channels = data.get("channels") or ["sms"]
    for record in records:
        address = lookup(record, data["consumer_id"])
        address = "" if address is None else str(address).strip()
        if not address:
            failed.append(
                {"address": None, "errorMessage": f"MISSING_CONSUMER_ID={data['consumer_id']}"}
            )
            continue
        if any(c in PHONE_CHANNELS for c in channels) and not E164.match(address):
            failed.append({"address": address, "errorMessage": "INVALID_NUMBER"})
            continue
        if address in seen:
            failed.append({"address": address, "errorMessage": "DUPLICATE_NUMBER"})
            continue
        variables, problem = render(record, data.get("variables") or {})
        if problem:
            failed.append({"address": address, "errorMessage": problem})
            continue
        seen.add(address)
        consumer: dict[str, Any] = {"consumerContent": {c: address for c in channels}}
        if variables:
            consumer["variables"] = variables
        if data.get("header_variables"):
            consumer["headerVariables"] = data["header_variables"]
        yield consumer


def _body(data: dict[str, Any], consumers: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignName": data["campaign_name"],
        "skill": data["skill"],
        "templateId": data["handoff"],
        "consent": True,
        "consumers": consumers,
    }
    if data.get("outbound_number"):
        body["outboundNumber"] = data["outbound_number"]
    return body


def batch_key(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def send_campaign(conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
    size = int(conn.config.get("recipients_per_request") or 100)
    client = LivePersonClient(conn)
    path = f"/api/v2/account/{client.account}/campaign"
    failed: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "campaigns": [],
        "accepted": 0,
        "failed": failed,
        "uncertain": [],
        "already_sent": [],
        "rejected": [],
        "batches": 0,
    }
    requests: list[dict[str, Any]] = []
    seen: set[str] = set()
    records = chunks(data["recipients"], READ_ROWS)
    consumers = (c for batch in records for c in _consumers(batch, data, seen, failed))
    for number, batch in enumerate(chunks(consumers, size), start=1):
        result["batches"] = number
        body = _body(data, batch)
        if conn.dry_run:
            if len(requests) < DRY_RUN_REQUESTS:
                url = f"{client.host('proactive')}{path}"
                requests.append(conn.would_send("POST", url, json=body))
            result["accepted"] += len(batch)
            continue
        _send_batch(conn, client, path, number, body, result)
    if conn.dry_run:
        return {
            "dry_run": True,
            "requests": requests,
            "recipients": result["accepted"],
            "failed": failed,
            "batches": result["batches"],
        }
    return result


def _send_batch(
    conn: Connection,
    client: LivePersonClient,
    path: str,
    number: int,
    body: dict[str, Any],
    result: dict[str, Any],
) -> None:
    key = batch_key(body)
    addresses = [next(iter(c["consumerContent"].values())) for c in body["consumers"]]
    earlier = conn.ledger.claim(key)
    if earlier is not None:
        entry = {
            "batch": number,
            "recipients": len(addresses),
            "job_id": earlier.get("job_id"),
            **{k: v for k, v in earlier["detail"].items() if k == "proactiveCampaignId"},
        }
        if earlier["status"] == "accepted":
            result["already_sent"].append(entry)
        else:
            result["uncertain"].append(
                {**entry, "addresses": addresses, "reason": "an earlier attempt got no answer"}
            )
        return
    try:
        response = client.request("POST", "proactive", path, json=body)
    except Uncertain as exc:
        conn.ledger.settle(key, "uncertain", {"reason": str(exc)})
        result["uncertain"].append(
            {
                "batch": number,
                "recipients": len(addresses),
                "addresses": addresses,
                "reason": str(exc),
            }
        )
        return
    except ConnectorError as exc:
        conn.ledger.settle(key, "rejected", {"reason": str(exc)})
        result["rejected"].append(
            {"batch": number, "recipients": len(addresses), "message": str(exc)}
        )
        return
    if response.status_code not in (200, 201):
        message = error_message(response)
        conn.ledger.settle(key, "rejected", {"status": response.status_code, "message": message})
        result["rejected"].append(
            {
                "batch": number,
                "recipients": len(addresses),
                "status": response.status_code,
                "message": message,
            }
        )
        return
    answer = response.json()
    accepted = answer.get("acceptedConsumers") or []
    refused = answer.get("failedConsumers") or []
    summary = {
        "proactiveCampaignId": answer.get("proactiveCampaignId"),
        "leCampaignId": answer.get("leCampaignId"),
        "requestTraceId": answer.get("requestTraceId"),
        "batch": number,
        "accepted": len(accepted),
        "failed": len(refused),
    }
    conn.ledger.settle(key, "accepted", summary)
    result["campaigns"].append(summary)
    result["accepted"] += len(accepted)
    for item in refused:
        content = item.get("consumerContent") or {}
        address = next(iter(content.values()), None) if isinstance(content, dict) else None
        result["failed"].append(
            {
                "address": address or item.get("consumer"),
                "errorMessage": item.get("errorMessage"),
                "batch": number,
            }
        )
