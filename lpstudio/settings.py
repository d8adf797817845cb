"""Recipe settings: what an analyst chose (parameter values, connection bindings).

Kept in the store, never in the notebook file (JupyterLab may hold the file open and write
it back). Every job snapshots the settings it ran with into its recipe version.
"""

from __future__ import annotations

from typing import Any

from .models import RecipeSettings, utcnow
from .store import Store


def saved_settings(store: Store, recipe: str) -> dict[str, Any]:
    with store.read() as s:
        row = s.get(RecipeSettings, recipe)
    return dict(row.settings) if row is not None else {}


def save_settings(store: Store, recipe: str, settings: dict[str, Any], user: str) -> None:
    with store.write() as s:
        row = s.get(RecipeSettings, recipe)
        if row is None:
            s.add(
                RecipeSettings(
                    recipe=recipe, settings=settings, updated_by=user, updated_at=utcnow()
                )
            )
        else:
            row.settings, row.updated_by, row.updated_at = settings, user, utcnow()
