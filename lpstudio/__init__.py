"""lpstudio: LivePerson recipes as parameterized notebooks, run by papermill.

    import lpstudio
    studio = lpstudio.Studio.open("demo-workspace")
    job = studio.run("demo/payment_reminder", {"days_ahead": 7})
    studio.jobs_frame()            # the job history as a pandas DataFrame

Names are loaded on first use, so that `lpstudio.kernel` stays light inside kernels.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

# jsonschema (used by nbformat and lpstudio) imports rfc3987_syntax when it is installed,
# and that package builds a grammar at import: about 3 s on every command here. lpstudio
# checks no IRI formats, so its processes go without it (when nothing imported it first).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

#: Each public name, by the module it is loaded from on first use.
_HOMES = {
    "DaskExecutor": "executor",
    "Executor": "executor",
    "InputError": "errors",
    "LocalExecutor": "executor",
    "LpstudioError": "errors",
    "NotFoundError": "errors",
    "ParameterError": "errors",
    "Recipe": "recipe",
    "RecipeError": "errors",
    "StoreUnwritable": "errors",
    "Studio": "studio",
    "Workspace": "workspace",
    "WorkspaceError": "errors",
    "job_to_dict": "jobviews",
}
#: The public names are those with a home: one list, which cannot drift from the other.
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'lpstudio' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
