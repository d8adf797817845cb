"""lpstudio: LivePerson recipes as parameterized notebooks, run by papermill.

    import lpstudio
    studio = lpstudio.Studio.open("demo-workspace")
    job = studio.run("demo/payment_reminder", {"days_ahead": 7})
    studio.jobs_frame()            # the job history as a pandas DataFrame

Names are loaded on first use, so that `lpstudio.kernel` stays light inside kernels.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


def lazy_names(
    package: str, homes: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__` and `__dir__` (PEP 562) that load each public name from its
    module in `homes` on first use, so that importing the package imports none of them."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            return getattr(import_module(f".{homes[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(homes)

    return __getattr__, __dir__


__getattr__, __dir__ = lazy_names(__name__, _HOMES)
