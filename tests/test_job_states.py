"""One list of job states, the store's: the REST API's document, the CLI's `jobs --status`,
the widgets and the lab's TypeScript each give it, so a state added or renamed in one place
cannot be missing, unsaid, in another."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.jobstates import FINAL_STATES, JOB_STATES, QUEUED, RUNNING
from lpstudio.server.openapi import openapi_document
from lpstudio.server.routes import ROUTES
from lpstudio.widgets.common import STATUS_COLOURS, STATUS_TINTS, STATUSES

API_TS = Path(__file__).parent.parent / "ui" / "src" / "api.ts"


def enums(node: Any) -> list[list[Any]]:
    """Every `enum` in a JSON document, at any depth."""
    if isinstance(node, dict):
        own = [node["enum"]] if isinstance(node.get("enum"), list) else []
        return own + [found for value in node.values() for found in enums(value)]
    if isinstance(node, list):
        return [found for value in node for found in enums(value)]
    return []


def ts_list(name: str) -> list[str]:
    """The strings of the TypeScript constant `name` of ui/src/api.ts, read as text."""
    found = re.search(rf"export const {name}: JobStatus\[\] = \[([^\]]*)\];", API_TS.read_text())
    assert found, f"ui/src/api.ts exports no {name}"
    return re.findall(r"'(\w+)'", found.group(1))


def test_the_rest_document_lists_the_store_s_job_states() -> None:
    """A job's status and the `status` filter of GET /jobs give every state; a call still
    running (`?mode=async`, its poll) gives the unfinished ones."""
    of_jobs = [enum for enum in enums(openapi_document(ROUTES, [])) if QUEUED in enum]
    assert list(JOB_STATES) in of_jobs and [QUEUED, RUNNING] in of_jobs
    assert all(enum in (list(JOB_STATES), [QUEUED, RUNNING]) for enum in of_jobs), of_jobs


def test_the_cli_and_the_widgets_list_the_store_s_job_states_in_its_order() -> None:
    said = CliRunner().invoke(main, ["jobs", "--status", "lost"])
    assert said.exit_code == 2
    assert "'queued', 'running', 'succeeded', 'failed', 'cancelled'" in said.output, said.output
    assert STATUSES == JOB_STATES  # the History's Status choices, the dashboard's stacks
    assert set(STATUS_COLOURS) == set(STATUS_TINTS) == set(JOB_STATES)


def test_the_lab_lists_the_store_s_job_states_in_its_order() -> None:
    assert ts_list("JOB_STATES") == list(JOB_STATES)
    assert ts_list("FINAL_STATES") == list(FINAL_STATES)
    union = re.search(r"export type JobStatus = ([^;]*);", API_TS.read_text())
    assert union and set(re.findall(r"'(\w+)'", union.group(1))) == set(JOB_STATES)
