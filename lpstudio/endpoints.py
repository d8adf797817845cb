"""Callable recipes' endpoints: which started callable recipe serves which path under
`/call/`, looked up afresh on every call, so an edit or a start takes effect without a
restart.

A path is held by one recipe. Two started recipes whose notebooks name the same path (one
edited onto the other's after both started) are settled by `_claim_order`, never by name:
the one that held the path keeps it, and the other serves nothing and says why wherever a
user looks (`serving`), once in the server's log.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .errors import InputError, LpstudioError, NotFoundError, RecipeError
from .recipe import MAX_CALL_TIMEOUT, Recipe

if TYPE_CHECKING:
    from .studio import Studio

log = logging.getLogger("lpstudio.endpoints")


def endpoint_path(recipe: Recipe) -> str:
    """A callable recipe's endpoint under /call/: `trigger.path`, else its file name."""
    return str(recipe.metadata.get("trigger", {}).get("path") or Path(recipe.name).stem)


def check_call_timeout(recipe: Recipe, seconds: float | None) -> None:
    """Refuses a call timeout for a recipe nobody calls (it was saved, shown and never
    used) or one out of (0, `MAX_CALL_TIMEOUT`]."""
    if recipe.trigger_kind != "callable":
        raise InputError(
            f"call_timeout applies to callable recipes; {recipe.name} is triggered by "
            f"{recipe.trigger_kind}",
            field="call_timeout",
            fix="save the settings without call_timeout",
        )
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds <= MAX_CALL_TIMEOUT
    ):
        raise InputError(
            f"call_timeout must be a number of seconds above 0, up to {MAX_CALL_TIMEOUT}, "
            f"not {seconds!r}",
            field="call_timeout",
            fix="give e.g. 15 (Conversation Builder gives up after 20 s)",
        )


def _path_taken(name: str, path: str, holder: str) -> RecipeError:
    """A started callable recipe edited onto the path another started recipe serves."""
    return RecipeError(
        f"the started recipe {name} is not served: its trigger.path {path!r} is the endpoint "
        f"/call/{path} of {holder}, which holds it",
        field="trigger.path",
        fix=f"change the trigger.path of {name} back to a path of its own, or stop one of "
        f"them (`lpstudio stop {holder}` hands /call/{path} to {name})",
    )


def _raw_endpoint_path(studio: Studio, name: str) -> str | None:
    """The endpoint a recipe that does not load still names, if its file is JSON that says
    it is callable, or, for a file that is not JSON at all (any more), if its last stored
    version says so: its callers are told it broke, not that it does not exist."""
    try:
        data = (studio.workspace.projects / name).read_bytes()
    except OSError:
        return None
    try:
        nb = json.loads(data)
    except ValueError:  # UnicodeDecodeError too
        nb = _last_stored(studio, name)
    try:
        trigger = nb["metadata"]["lpstudio"]["trigger"]
        if trigger.get("kind") != "callable":
            return None
        return str(trigger.get("path") or Path(name).stem)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _last_stored(studio: Studio, name: str) -> Any:
    """The parsed notebook of the recipe's newest stored version, or None."""
    from .models import RecipeVersion

    with studio.store.read() as s:
        newest = s.scalars(
            select(RecipeVersion.id)
            .where(RecipeVersion.recipe == name)
            .order_by(RecipeVersion.created_at.desc())
            .limit(1)
        ).first()
    return None if newest is None else json.loads(studio.store.version_notebook(newest))


def _callables(studio: Studio) -> list[Recipe]:
    """Every callable recipe that loads (broken ones are left out)."""
    return [
        recipe
        for _, recipe in studio._recipe_files()
        if isinstance(recipe, Recipe) and recipe.trigger_kind == "callable"
    ]


def callable_paths(studio: Studio) -> set[str]:
    """The endpoint path of every callable recipe that loads, started or not."""
    return {endpoint_path(recipe) for recipe in _callables(studio)}


def _started_callables(studio: Studio) -> list[tuple[Recipe, dict[str, Any]]]:
    """Every started callable recipe that loads, with its saved settings: their settings
    in one read, as a call looks them up on its way."""
    from .models import RecipeSettings

    recipes = _callables(studio)
    if not recipes:
        return []
    with studio.store.read() as s:
        rows = s.scalars(
            select(RecipeSettings).where(RecipeSettings.recipe.in_([r.name for r in recipes]))
        )
        saved = {row.recipe: dict(row.settings) for row in rows}
    return [
        (recipe, saved[recipe.name])
        for recipe in recipes
        if saved.get(recipe.name, {}).get("state") == "started"
    ]


def _claim_order(
    studio: Studio, recipe: Recipe, saved: dict[str, Any]
) -> tuple[bool, datetime, str]:
    """Which of the started recipes whose notebooks name one path holds it: one unchanged
    since it started was started on it (`start` refuses a path that is served), so the
    others were edited onto it; else the first started. Never the name's order, which
    would hand a served endpoint to a recipe edited onto it."""
    at = saved.get("started_at")  # none: started before starts were timed, so first
    started = datetime.fromisoformat(at) if at else datetime.min.replace(tzinfo=UTC)
    try:
        mtime = (studio.workspace.projects / recipe.name).stat().st_mtime
        edited = datetime.fromtimestamp(mtime, UTC) > started
    except OSError:
        edited = True
    return edited, started, recipe.name


def serving(studio: Studio) -> tuple[dict[str, dict[str, Any]], dict[str, RecipeError]]:
    """The started callable recipes by endpoint path, and the error of each started one
    that serves nothing, its path being another's (edited onto it after it started)."""
    claims: dict[str, list[tuple[Recipe, dict[str, Any]]]] = {}
    for recipe, saved in _started_callables(studio):
        claims.setdefault(endpoint_path(recipe), []).append((recipe, saved))
    served: dict[str, dict[str, Any]] = {}
    conflicts: dict[str, RecipeError] = {}
    for path, claimants in claims.items():
        if len(claimants) > 1:
            claimants.sort(key=lambda claim: _claim_order(studio, *claim))
            for recipe, _ in claimants[1:]:
                conflicts[recipe.name] = _path_taken(recipe.name, path, claimants[0][0].name)
        recipe, saved = claimants[0]
        trigger = recipe.metadata.get("trigger", {})
        served[path] = {
            "path": path,
            "recipe": recipe.name,
            "title": recipe.title,
            "description": recipe.metadata.get("description", ""),
            "input_schema": trigger.get("input_schema", {"type": "object"}),
            "response_schema": trigger.get("response_schema", {}),
            "call_timeout": saved.get("call_timeout"),
        }
    return served, conflicts


def _serving_told(studio: Studio) -> tuple[dict[str, dict[str, Any]], dict[str, RecipeError]]:
    """`serving`, with each conflict it finds logged the first time this studio finds it
    (`Studio._conflicts_told`): the server's log says it once, when a call first meets it."""
    served, conflicts = serving(studio)
    for name, conflict in conflicts.items():
        mark = object()
        if studio._conflicts_told.setdefault((name, conflict.message), mark) is mark:
            log.warning(
                "callable recipes in conflict: %s\n  fix: %s", conflict.message, conflict.fix
            )
    return served, conflicts


def endpoint(studio: Studio, path: str) -> dict[str, Any]:
    """The started callable recipe at `path` (`Studio.endpoint`). A recipe that no longer
    loads but still names `path` is its own error, the recipe being at fault and not the
    caller; else the `NotFoundError` names every conflict, one of which may be why."""
    served, conflicts = _serving_told(studio)
    if path in served:
        return served[path]
    for name, problem in studio._recipe_files():
        if isinstance(problem, LpstudioError) and _raw_endpoint_path(studio, name) == path:
            broken = studio._broken_started(name, problem)
            if broken is not None:
                raise broken
    raise NotFoundError(
        f"no started callable recipe at {path!r}"
        + "".join(f"; {c.message}" for c in conflicts.values()),
        field="path",
        fix="check the path, and start the recipe"
        + "".join(f"; for {name}: {c.fix}" for name, c in conflicts.items()),
    )
