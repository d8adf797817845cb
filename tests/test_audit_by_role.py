"""The audit log as each role reads it: users' roles and API clients' grants are an admin's.

`GET /users` and `/api-clients` answer 403 to an operator or an analyst, yet `GET /audit`
and `lpstudio audit` gave them every `set_role` entry (who, the role, the one before) and
every `create_api_client` entry (its endpoints, rate and quota). For a role without admin,
those entries keep their action, user, time and target, their detail withheld with the
fix; one rule (`roles.shown_entry`) answers the REST API and the CLI alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lpstudio.cli import main
from lpstudio.studio import Studio
from tests.conftest import write_recipe

WITHHELD = {
    "operator": {
        "withheld": "an operator cannot see the details of users and API clients",
        "fix": "ask an admin; this needs the role admin",
    },
    "analyst": {
        "withheld": "an analyst cannot see the details of users and API clients",
        "fix": "ask an admin; this needs the role admin",
    },
}
#: Who reads the log, and their role.
READERS = {"olga": "operator", "ann": "analyst"}


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """The admin alice gave roles, made and revoked an API client, and saved settings."""
    write_recipe(ws, "p/one")
    with Studio.open(ws, user="alice") as studio:
        for name, role in READERS.items():
            studio.set_role(name, role)
        studio.api_clients.create("bot", ["*"], rate_per_minute=30, quota_per_day=500)
        studio.api_clients.revoke("bot")
        studio.save_settings("p/one", {"x": 2})
    return ws


@pytest.fixture
def served_workspace(jp_root_dir: Path) -> Path:
    return jp_root_dir


async def rest_audit(jp_fetch: Any, user: str) -> list[dict[str, Any]]:
    """`GET /audit` as `user`."""
    answer = await jp_fetch(
        "lpstudio", "api", "v1", "audit", params={"limit": 1000}, headers={"X-Test-User": user}
    )
    return list(json.loads(answer.body)["entries"])


def cli_audit(ws: Path, user: str, *args: str) -> str:
    """`lpstudio audit` as `user` (`LPSTUDIO_USER`)."""
    result = CliRunner().invoke(
        main, ["audit", "--limit", "1000", *args, "-w", str(ws)], env={"LPSTUDIO_USER": user}
    )
    assert result.exit_code == 0, result.output
    return result.output


def admins_only(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries about users and API clients."""
    admin_actions = ("set_role", "create_api_client", "revoke_api_client")
    return [e for e in entries if e["action"] in admin_actions]


async def test_only_an_admin_reads_the_details_of_users_and_api_clients(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    ws = jp_root_dir
    by_alice = await rest_audit(jp_fetch, "alice")
    assert [(e["action"], e["target"], e["detail"]) for e in admins_only(by_alice)] == [
        ("revoke_api_client", "bot", {}),
        (
            "create_api_client",
            "bot",
            {"endpoints": ["*"], "rate": 30, "quota": 500},
        ),
        ("set_role", "ann", {"role": "analyst", "before": None}),
        ("set_role", "olga", {"role": "operator", "before": None}),
    ]
    for user, role in READERS.items():
        for answer in (await rest_audit(jp_fetch, user), json.loads(cli_audit(ws, user, "--json"))):
            # Every entry, each with its action, user, time and target.
            assert [(e["id"], e["at"], e["user"], e["action"], e["target"]) for e in answer] == [
                (e["id"], e["at"], e["user"], e["action"], e["target"]) for e in by_alice
            ]
            # Those about users and API clients without their detail; the others whole.
            for entry, whole in zip(answer, by_alice, strict=True):
                if entry in admins_only([entry]):
                    assert entry["detail"] == WITHHELD[role], entry
                else:
                    assert entry == whole
        said = cli_audit(ws, user)
        assert '"rate": 30' not in said and '"before"' not in said, said
        assert f"{WITHHELD[role]['withheld']}" in said


def test_the_cli_gives_the_admin_the_details(jp_root_dir: Path) -> None:
    said = cli_audit(jp_root_dir, "alice")
    assert '"rate": 30' in said and '"role": "operator"' in said
    assert "withheld" not in said
