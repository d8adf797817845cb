"""Recipe settings: what an analyst chose (parameter values, connection bindings).

Kept in the store, never in the notebook file (JupyterLab may hold the file open and write
it back). Every job snapshots the settings it ran with into its recipe version.

Each recipe's settings have a revision, counted up by every write (0: never saved). Every
write goes through `update_settings`, which reads the settings and writes the change in one
write transaction: writers take turns, so none loses another's change (two REST requests,
a form and the scheduler). A form passes the revision it showed: a save made elsewhere since
refuses its save (`ConflictError`), where it would write the form's old values over it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from .errors import ConflictError, InputError
from .models import RecipeSettings, utcnow
from .store import Store
from .times import said_at


@dataclass(frozen=True)
class Saved:
    """A recipe's settings as stored, with their revision and who wrote it, when."""

    settings: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    updated_by: str | None = None
    updated_at: datetime | None = None


def _saved(row: RecipeSettings | None) -> Saved:
    if row is None:
        return Saved()
    return Saved(dict(row.settings), row.revision, row.updated_by, row.updated_at)


def read_settings(store: Store, recipe: str) -> Saved:
    with store.read() as s:
        return _saved(s.get(RecipeSettings, recipe))


def saved_settings(store: Store, recipe: str) -> dict[str, Any]:
    return read_settings(store, recipe).settings


@functools.cache
def _settings_of_statement() -> Any:
    """`saved_settings_of`'s query, built once: every call looks its endpoint up with it."""
    names = bindparam("recipes", expanding=True)
    return select(RecipeSettings).where(RecipeSettings.recipe.in_(names))


def saved_settings_of(store: Store, recipes: Collection[str]) -> dict[str, dict[str, Any]]:
    """The saved settings of each of `recipes` (`{}`: none saved), read in one query: a
    list of jobs asks after the recipes of its page's held jobs, not one job at a time."""
    with store.read() as s:
        rows = s.scalars(_settings_of_statement(), {"recipes": list(recipes)})
        saved = {row.recipe: dict(row.settings) for row in rows}
    return {recipe: saved.get(recipe, {}) for recipe in recipes}


def _conflict(recipe: str, expected: int, current: Saved, local: bool) -> ConflictError:
    """The refusal of a save from settings read before another one: when that one was
    saved, as its reader reads times (`said_at`: the REST API's and the notebook form's in
    ISO form in UTC, a `local` caller's in this machine's zone)."""
    by = f" by {current.updated_by}" if current.updated_by else ""
    when = f" at {said_at(current.updated_at, local)}" if current.updated_at else ""
    return ConflictError(
        f"not saved: the settings of {recipe} were changed elsewhere since revision "
        f"{expected}{by}{when} (they are at revision {current.revision})",
        field="revision",
        fix="reload them and apply your change again",
    )


def update_settings(
    store: Store,
    recipe: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | None],
    user: str,
    *,
    expected_revision: int | None = None,
    check: Callable[[Session, dict[str, Any]], None] | None = None,
    local: bool = False,
) -> Saved:
    """Writes `change(current settings)` as the recipe's settings, reading and writing in
    one write transaction (the row locked where the database locks rows), so writers take
    turns. `change` may raise to refuse (nothing is written) or return None to leave them
    as they are; it must not read or write the store itself (the write lock is held: a
    read would wait for a pool connection the writers waiting for it hold), but `check`
    may, through the transaction's own session, and refuse the new settings. Given
    `expected_revision`, settings at another revision are refused with a `ConflictError`
    (saying when they were saved in this machine's zone with `local`, else in UTC).
    Settings changed to what they were are not written (their revision stays). Returns the
    settings as stored now."""
    with store.write() as s:
        row = s.scalars(
            select(RecipeSettings).where(RecipeSettings.recipe == recipe).with_for_update()
        ).one_or_none()
        current = _saved(row)
        if expected_revision is not None and expected_revision > current.revision:
            raise InputError(  # revisions only count up: none was read at this one
                f"the settings of {recipe} have no revision {expected_revision} (they are at "
                f"revision {current.revision})",
                field="revision",
                fix="send the revision the settings were read at, as their answer gives it",
            )
        if expected_revision is not None and expected_revision != current.revision:
            raise _conflict(recipe, expected_revision, current, local)
        new = change(dict(current.settings))
        if new is None:
            return current
        if check is not None:  # what must hold as they are written, read in this turn
            check(s, new)
        if new == current.settings:  # a start of a started recipe, a stop of a stopped one:
            return current  # a form holding this revision may still save over it
        if row is None:
            row = RecipeSettings(recipe=recipe)
            s.add(row)
        row.settings, row.updated_by, row.updated_at = new, user, utcnow()
        s.flush()  # counts the revision up (the model's version_id_col)
        return _saved(row)
