"""What each role may do: Workato's roles (API-FACTS.md section 3) as four permissions.

    permission  admin  analyst  operator   what it covers
    view          x       x        x       read recipes, jobs, outputs, gallery,
                                           connections (secrets masked), dashboard, audit
    operate       x       x        x       start (with the saved settings) and stop
                                           recipes, poll now, rerun and cancel jobs
    build         x       x                edit settings (a poll trigger's since too, also
                                           when starting), restore versions, run now, try a
                                           template, create/update/test/delete connections
    admin         x                        users and roles, API clients

One table for every edge that checks roles: the REST API (each route names a permission) and
the widgets (a control a role may not use is disabled, and its handler refuses too).
"""

from __future__ import annotations

from .errors import InputError

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "view": ("admin", "analyst", "operator"),
    "operate": ("admin", "analyst", "operator"),
    "build": ("admin", "analyst"),
    "admin": ("admin",),
}


def refusal(role: str, permission: str, action: str) -> InputError | None:
    """Why `role` may not `action` (which needs `permission`), with the fix; None when it may."""
    allowed = PERMISSIONS[permission]
    if role in allowed:
        return None
    article = "an" if role[:1] in "aeiou" else "a"
    return InputError(
        f"{article} {role} cannot {action}",
        field="role",
        fix=f"ask an admin; this needs the role {' or '.join(allowed)}",
    )
