"""Callable recipes' endpoints: which started callable recipe serves which path under
`/call/`, looked up afresh on every call, so an edit or a start takes effect without a
restart.

A path is held by one recipe. Two started recipes whose notebooks name the same path (one
edited onto the other's after both started) are settled by `_claim_order`, never by name:
the one that held the path keeps it (as the store says: the version it started with, or
its last call's), even once its notebook broke (its callers are told so) until it stops,
and the other serves nothing and says why wherever a user looks (`serving`), once in the
server's log.
"""

from __future__ import annotations

import json
import logging
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select

from .errors import InputError, LpstudioError, NotFoundError, RecipeError, word
from .recipe import BOT_CALL_TIMEOUT, MAX_CALL_TIMEOUT, Recipe

if TYPE_CHECKING:
    from .studio import Studio

log = logging.getLogger("lpstudio.endpoints")

#: The endpoint conflicts each studio has logged (`_serving_told`): each once, not once per
#: call; forgotten with the studio.
_told: weakref.WeakKeyDictionary[Studio, dict[tuple[str, str], object]] = (
    weakref.WeakKeyDictionary()
)


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


#: How long a recipe may make its caller wait, where a longer call timeout is offered.
UP_TO = (
    f"up to {BOT_CALL_TIMEOUT} s for a caller that gives up at 20 s, as a Conversation "
    "Builder bot does (for longer work it calls with ?mode=async and polls), up to "
    f"{MAX_CALL_TIMEOUT} s for others"
)


def call_timeout_warning(recipe: Recipe, seconds: float | None) -> InputError | None:
    """What a call timeout past `BOT_CALL_TIMEOUT` costs a Conversation Builder bot: the
    server waits, the bot has given up, and never sees the 504 it could branch on. Said when
    one is saved (a save's warnings) and wherever the one saved is shown (`Studio.recipes`,
    `recipe_detail`); None for none (`seconds` None) and for a recipe no longer callable,
    whose left value no caller waits."""
    if recipe.trigger_kind != "callable" or not seconds or seconds <= BOT_CALL_TIMEOUT:
        return None
    return InputError(
        f"a call timeout of {seconds:g} s outlasts a Conversation Builder caller: it gives "
        f"up at 20 s, whatever the server allows, so past {BOT_CALL_TIMEOUT} s it never "
        "gets the JSON 504 it could branch on",
        field="call_timeout",
        fix="for longer work answer at once and poll: the bot calls with ?mode=async "
        "(answered 202 at once, naming the job) and polls the answer's `poll` path until it "
        f"answers other than 202; or keep the call timeout within {BOT_CALL_TIMEOUT} s: "
        f"`lpstudio settings {word(recipe.name)} --call-timeout {BOT_CALL_TIMEOUT}`",
    )


def _path_taken(name: str, path: str, holder: str) -> RecipeError:
    """A started callable recipe edited onto the path another started recipe serves."""
    return RecipeError(
        f"the started recipe {name} is not served: its trigger.path {path!r} is the endpoint "
        f"/call/{path} of {holder}, which holds it",
        field="trigger.path",
        fix=f"change the trigger.path of {name} back to a path of its own, or stop one of "
        f"them (`lpstudio stop {word(holder)}` hands /call/{path} to {name})",
    )


def _named_path(notebook: Any, name: str) -> str | None:
    """The endpoint a parsed notebook names, if it is a callable recipe's."""
    try:
        trigger = notebook["metadata"]["lpstudio"]["trigger"]
        if trigger.get("kind") != "callable":
            return None
        return str(trigger.get("path") or Path(name).stem)
    except (KeyError, TypeError, AttributeError):
        return None


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
    except (ValueError, RecursionError):  # UnicodeDecodeError too; nested too deep
        nb = _last_stored(studio, name)
    return _named_path(nb, name)


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
    """Every callable recipe that loads (broken ones are left out); no other is parsed."""
    return [
        recipe
        for _, recipe in studio.recipe_files(kind="callable")
        if isinstance(recipe, Recipe) and recipe.trigger_kind == "callable"
    ]


def callable_paths(studio: Studio) -> set[str]:
    """The endpoint path of every callable recipe that loads, started or not."""
    return {endpoint_path(recipe) for recipe in _callables(studio)}


def started_paths(studio: Studio) -> set[str]:
    """The endpoint path of every started callable recipe that loads: those of
    `callable_paths` found without reading every recipe (a new API client's are most often
    among them)."""
    return {claim.path for claim in _started_callables(studio) if isinstance(claim.recipe, Recipe)}


class _Claim(NamedTuple):
    """A started callable recipe and the path its notebook names: loaded, or the error that
    keeps it from loading since it started."""

    name: str
    path: str
    recipe: Recipe | LpstudioError
    saved: dict[str, Any]


def _started_callables(studio: Studio) -> list[_Claim]:
    """Every started callable recipe, with its saved settings (all in one read, as a call
    looks them up on its way): those that load, and those that broke since they started, by
    the path they still name (`_raw_endpoint_path`): a holder that broke keeps its path,
    answering that it broke, until it stops. Only the started recipes' files are read: a
    call costs the same in a workspace of 15 recipes or 1,500."""
    started = studio.started_settings()
    claims = []
    for name, found in studio.recipe_files(started):
        if isinstance(found, Recipe):
            if found.trigger_kind != "callable":
                continue
            path: str | None = endpoint_path(found)
        else:
            path = _raw_endpoint_path(studio, name)
        if path is not None:
            claims.append(_Claim(name, path, found, started[name]))
    return claims


def _started_at(claim: _Claim) -> datetime:
    """When the recipe started; none: started before starts were timed, so first."""
    at = claim.saved.get("started_at")
    return datetime.fromisoformat(at) if at else datetime.min.replace(tzinfo=UTC)


def _held(studio: Studio, claim: _Claim) -> tuple[str | None, datetime]:
    """The path a started recipe held, and since when: the one its newest call since its
    start ran on (only a recipe that serves a path is called on it), else the one it started
    on (`started_path`, which its start saved). None when the store knows neither (started
    before starts kept their path)."""
    from .models import Job

    started = _started_at(claim)
    with studio.store.read() as s:
        called = s.execute(
            select(Job.version_id, Job.created_at)
            .where(Job.recipe == claim.name, Job.trigger == "callable", Job.created_at >= started)
            .order_by(Job.created_at.desc())
            .limit(1)
        ).first()
    if called is None:
        return claim.saved.get("started_path"), started
    version, since = called
    return _named_path(json.loads(studio.store.version_notebook(version)), claim.name), since


def _claim_order(
    held: tuple[str | None, datetime], path: str, claim: _Claim
) -> tuple[bool, float, str]:
    """Which of the started recipes whose notebooks name `path` holds it: one that held it
    (`_held`), and of several the last to (two never serve a path at once, and `start`
    refuses a path that is served, so the earlier had left it); else the first started.
    Never the files' times, which any save moves, nor the name's order: either would hand
    a served endpoint to a recipe edited onto it."""
    held_path, since = held
    if held_path == path:
        return False, -since.timestamp(), claim.name
    return True, _started_at(claim).timestamp(), claim.name


class _Served(NamedTuple):
    """Who serves what (`serving`), and what only a call needs: the broken holders' errors
    by path."""

    served: dict[str, dict[str, Any]]
    conflicts: dict[str, RecipeError]
    broken: dict[str, RecipeError]
    holders: dict[str, str]  # each path's holder, served or broken


def _settle(studio: Studio) -> _Served:
    """Each path's holder among the started recipes naming it (`_claim_order`), looked at
    only where several name one: the store is read for nothing else on a call's way."""
    claims: dict[str, list[_Claim]] = {}
    for claim in _started_callables(studio):
        claims.setdefault(claim.path, []).append(claim)
    found = _Served({}, {}, {}, {})
    for path, claimants in claims.items():
        if len(claimants) > 1:
            held = {claim.name: _held(studio, claim) for claim in claimants}
            claimants.sort(key=lambda claim: _claim_order(held[claim.name], path, claim))
            for claim in claimants[1:]:
                found.conflicts[claim.name] = _path_taken(claim.name, path, claimants[0].name)
        name, _, recipe, saved = claimants[0]
        found.holders[path] = name
        if not isinstance(recipe, Recipe):
            broken = studio.broken_started(name, recipe)
            if broken is not None:
                found.broken[path] = broken
            continue
        trigger = recipe.metadata.get("trigger", {})
        found.served[path] = {
            "path": path,
            "recipe": recipe.name,
            "title": recipe.title,
            "description": recipe.metadata.get("description", ""),
            "input_schema": trigger.get("input_schema", {"type": "object"}),
            "response_schema": trigger.get("response_schema", {}),
            "call_timeout": saved.get("call_timeout"),
        }
    return found


def holder(studio: Studio, path: str) -> str | None:
    """The started recipe that holds `path`, served or broken (a holder whose notebook broke
    keeps it until it stops): a start onto it is refused."""
    return _settle(studio).holders.get(path)


def serving(studio: Studio) -> tuple[dict[str, dict[str, Any]], dict[str, RecipeError]]:
    """The started callable recipes by endpoint path, and the error of each started one
    that serves nothing, its path being another's (edited onto it after it started). A
    holder whose notebook broke serves nothing, and keeps its path."""
    found = _settle(studio)
    return found.served, found.conflicts


def _serving_told(studio: Studio) -> _Served:
    """`_settle`, with each conflict it finds logged the first time this studio finds it
    (`_told`): the server's log says it once, when a call first meets it."""
    found = _settle(studio)
    told = _told.setdefault(studio, {})
    for name, conflict in found.conflicts.items():
        mark = object()
        if told.setdefault((name, conflict.message), mark) is mark:
            log.warning(
                "callable recipes in conflict: %s\n  fix: %s", conflict.message, conflict.fix
            )
    return found


def endpoint(studio: Studio, path: str) -> dict[str, Any]:
    """The started callable recipe at `path` (`Studio.endpoint`). One that holds `path`
    but no longer loads is its own error, the recipe being at fault and not the caller.
    Else the `NotFoundError` says nothing but that the path is not served: its caller is an
    API client (`calls.call`), which may neither read the recipes nor stop or edit one, and
    is told nothing of other paths. A recipe that moved onto another's path is said to be in
    conflict where those who can settle it look (`endpoint_problem`, the server's log)."""
    found = _serving_told(studio)
    if path in found.broken:
        raise found.broken[path]
    if path in found.served:
        return found.served[path]
    raise NotFoundError(
        f"no started callable recipe at {path!r}",
        field="path",
        fix="check the path; if it is right, ask the recipe's admin to start the recipe that "
        "serves it",
    )
