"""What each role may do: Workato's roles (API-FACTS.md section 3) as four permissions.

    permission  admin  analyst  operator   what it covers
    view          x       x        x       read recipes, jobs, outputs, gallery,
                                           connections (secrets masked), dashboard, audit
    operate       x       x        x       start (with the saved settings) and stop
                                           recipes, poll now, rerun and cancel jobs
    build         x       x                edit settings (a poll trigger's since too, also
                                           when starting), restore versions, run now, try a
                                           template, create/update/test/delete connections,
                                           change files under projects/ in JupyterLab
    admin         x                        users and roles, API clients

One table for every edge that checks roles: the REST API (each route names a permission), the
widgets (a control a role may not use is disabled, and its handler refuses too), the server's
contents API, JupyterLab's file browser and editor (`server.readonly`), and the lab, which
reads it from `roles.json` as this module does. A fix whose action needs a permission the
user's role lacks says who can (`asked`), in every interface.

The audit log is `view`'s, but its entries about users and API clients hold what only
`admin` lists (a user's role, an API client's endpoints and limits): `shown_entry` keeps
their action, actor, time and target, and withholds their detail, from the REST API's
`GET /audit` and `lpstudio audit` alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from .errors import InputError

#: Each permission's roles, from the most permitted to the least (`roles.json`).
PERMISSIONS: dict[str, tuple[str, ...]] = {
    permission: tuple(roles)
    for permission, roles in json.loads(
        resources.files("lpstudio").joinpath("roles.json").read_text("utf-8")
    )["permissions"].items()
}


def refusal(role: str, permission: str, action: str) -> InputError | None:
    """Why `role` may not `action` (which needs `permission`), with the fix; None when it may."""
    allowed = PERMISSIONS[permission]
    if role in allowed:
        return None
    return InputError(
        f"{_article(role)} {role} cannot {action}",
        field="role",
        fix=f"ask an admin; this needs the role {' or '.join(allowed)}",
    )


def asked(role: str, permissions: Iterable[str], fix: str) -> str:
    """`fix` as a user of `role` can follow it: as it is where the role has each of the
    `permissions` its action needs, else as a request to the roles that have them, the least
    permitted first ("ask an analyst or admin to create ..."): an operator told to create a
    connection met a 403, or found no control to do it with. The lab words it alike
    (`asked` in ui/src/fixes.ts)."""
    lacking = [PERMISSIONS[permission] for permission in permissions]
    lacking = [allowed for allowed in lacking if role not in allowed]
    if not lacking:
        return fix
    able = min(lacking, key=len)[::-1]  # the permissions nest: the fewest roles have them all
    return f"ask {_article(able[0])} {' or '.join(able)} to {fix}"


def _article(role: str) -> str:
    return "an" if role[:1] in "aeiou" else "a"


#: The audit actions of `admin`'s changes (`Studio.set_role`, `ApiClients`).
SET_ROLE, CREATE_API_CLIENT, REVOKE_API_CLIENT = (
    "set_role",
    "create_api_client",
    "revoke_api_client",
)
#: The audit actions whose detail only `admin` reads: what `GET /users` and `/api-clients`
#: answer to it alone (a role given and the one before, an API client's endpoints, rate and
#: quota).
ADMIN_DETAILS = frozenset({SET_ROLE, CREATE_API_CLIENT, REVOKE_API_CLIENT})


def shown_entry(role: str, entry: dict[str, Any]) -> dict[str, Any]:
    """An audit entry as `role` reads it: one about users or API clients keeps its action,
    user, time and target for a role without `admin`, its detail said to be withheld."""
    if entry["action"] not in ADMIN_DETAILS:
        return entry
    refused = refusal(role, "admin", "see the details of users and API clients")
    if refused is None:
        return entry
    return {**entry, "detail": {"withheld": refused.message, "fix": refused.fix}}
