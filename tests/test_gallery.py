"""The gallery: templates listed, copied into projects, and the payment reminder run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import nbformat
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.gallery import templates_dir

from .conftest import run_cli, run_json


def test_gallery_lists_the_templates_by_group() -> None:
    listed = CliRunner().invoke(main, ["gallery", "--json"])
    assert listed.exit_code == 0, listed.output
    cards = {card["name"]: card for card in json.loads(listed.stdout)}
    card = cards["payment_reminder"]
    assert card["group"] == "LivePerson Proactive Recipe Templates"
    assert card["title"] == "Proactive payment reminder"
    assert card["trigger"] == "schedule"
    assert card["files"] == ["invoices.csv"]


def test_try_copies_the_template_and_its_data_into_a_project(ws: Path, cli) -> None:
    before = sorted(p.name for p in templates_dir().iterdir())
    result = cli(
        "gallery",
        "try",
        "payment_reminder",
        "--project",
        "billing/eu",
        "--name",
        "reminder",
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["recipe"] == "billing/eu/reminder.ipynb"
    folder = ws / "projects" / "billing" / "eu"
    assert (folder / "reminder.ipynb").is_file()
    assert (folder / "invoices.csv").read_bytes() == (templates_dir() / "invoices.csv").read_bytes()
    assert sorted(p.name for p in templates_dir().iterdir()) == before
    again = cli(
        "gallery", "try", "payment_reminder", "--project", "billing/eu", "--name", "reminder"
    )
    assert again.exit_code == 2 and "already exists" in again.output
    # A dot in the name is part of it (the name was cut at it: reminder.v2 -> reminder).
    for name in ("reminder.v2", "q4.final.ipynb"):
        dotted = cli(
            "gallery", "try", "payment_reminder", "--project", "billing/eu", "--name", name
        )
        assert dotted.exit_code == 0, dotted.output
    assert (folder / "reminder.v2.ipynb").is_file() and (folder / "q4.final.ipynb").is_file()
    named = cli("settings", "billing/eu/reminder.v2", "--json")  # named as others are
    assert named.exit_code == 0, named.output


def test_try_refuses_bad_targets_and_writes_nothing(ws: Path, cli) -> None:
    outside = cli("gallery", "try", "payment_reminder", "--project", "../../elsewhere")
    assert outside.exit_code == 2 and "outside" in outside.output
    unknown = cli("gallery", "try", "no_such_template", "--project", "x")
    assert unknown.exit_code == 2 and "payment_reminder" in unknown.output
    conflict_dir = ws / "projects" / "clash"
    conflict_dir.mkdir(parents=True)
    (conflict_dir / "invoices.csv").write_text("mine\n")
    clash = cli("gallery", "try", "payment_reminder", "--project", "clash")
    assert clash.exit_code == 2 and "other content" in clash.output
    assert sorted(p.name for p in conflict_dir.iterdir()) == ["invoices.csv"]
    assert (conflict_dir / "invoices.csv").read_text() == "mine\n"


def test_the_payment_reminder_selects_due_invoices_and_sends_each_reminder(
    sandbox_ws: Path, sandbox: Any
) -> None:
    ws = sandbox_ws
    assert (
        run_cli(
            "gallery", "try", "payment_reminder", "--project", "demo", "--workspace", str(ws)
        ).returncode
        == 0
    )
    code, job = run_json(
        "run",
        "demo/payment_reminder",
        "-p",
        "today",
        "2026-12-01",
        "-p",
        "days_ahead",
        "5",
        "--workspace",
        str(ws),
    )
    assert code == 0, job
    result = job["result"]
    campaign = result["campaign"]
    assert campaign["templateId"] == "H1000000001" and campaign["consent"] is True
    phones = [c["consumerContent"]["sms"] for c in campaign["consumers"]]
    # Open, due 2026-12-01..06, E.164: INV-1001, 1002, 1009 (1003 is paid, 1006 bad phone).
    assert phones == ["+14155550101", "+14155550102", "+61412345678"]
    assert campaign["consumers"][0]["variables"] == {
        "1": "Hi Maria, invoice INV-1001 of 120.00 USD is due on 2026-12-02. "
        "Reply PAY to settle it."
    }
    assert result["skipped"] == [
        {"invoice_id": "INV-1006", "phone": "0612345678", "reason": "phone is not in E.164 form"}
    ]
    assert result["sent"]["accepted"] == 3 and result["sent"]["failed"] == []
    received = httpx.get(f"{sandbox.url}/_sandbox/liveperson/recipients").json()["recipients"]
    assert sorted(r["address"] for r in received) == sorted(phones)
    assert all(r["count"] == 1 for r in received)
    nb = nbformat.read(job["output_path"], as_version=4)
    nbformat.validate(nb)


def test_the_payment_reminder_refuses_an_unknown_placeholder(sandbox_ws: Path) -> None:
    ws = sandbox_ws
    assert (
        run_cli(
            "gallery", "try", "payment_reminder", "--project", "demo", "--workspace", str(ws)
        ).returncode
        == 0
    )
    code, job = run_json(
        "run",
        "demo/payment_reminder",
        "-p",
        "body_template",
        "Hi {nickname}",
        "--workspace",
        str(ws),
    )
    assert code == 1
    assert job["error"]["ename"] == "ValueError"
    assert "nickname" in job["error"]["evalue"] and "first_name" in job["error"]["evalue"]


def test_the_public_api_is_sorted_and_resolves() -> None:
    import lpstudio

    assert lpstudio.__all__ == sorted(lpstudio.__all__)
    for name in lpstudio.__all__:
        assert getattr(lpstudio, name) is not None
