"""Whether a recipe's body variables fit its handoff's `{{1}}`, `{{2}}`... placeholders.

LivePerson refuses every recipient of a campaign whose body variables are not the chosen
handoff's placeholders (TOO_MANY_VARIABLES, INSUFFICIENT_VARIABLES, MISSING_VARIABLE=n):
saved as they were, every job failed at its first send. So they are refused where a person
gives them, by one rule in one wording: the form as the variables are typed, saved settings
(`lpstudio settings`, the REST API's settings route, the form's Save) and a run given its
own values (`lpstudio run -p`, the REST API's run route). Jobs started by a schedule, a poll
or a call give none, and so pay no request for the handoff list. A text template (sent as
{{1}}) that cannot fill its handoff is warned of and saved, by the form and by saved
settings alike: the recipe decides what it sends.

A recipe marks its handoff with `"x-picklist": {"connection": SLOT, "list": "handoffs"}` and
its body with `x-template` (`lpstudio.parameters`): the handoff's message is what the
connector's `handoffs` pick list says of it (the form's own source). When the list cannot be
read (an app unreachable or refusing, a connection without its secrets) or gives no message
text, nothing is refused here: the campaign's own check (`HandoffMismatch`) still stands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from .client import ConnectionClient
from .errors import LpstudioError, ParameterError
from .parameters import coerce, type_name
from .templating import variables_misfit

if TYPE_CHECKING:
    from .recipe import Recipe
    from .studio import Studio

#: The pick list that holds the handoffs, as the LivePerson connector names it.
HANDOFFS = "handoffs"
#: How long a save or a run waits for the handoff list before it goes on unchecked.
LIST_WAIT = 5.0
#: The variable a text template fills (the payment reminder sends `{"1": body_template}`).
TEXT_VARIABLE = "1"


def picklist_param(properties: dict[str, Any], name: str) -> str | None:
    """The parameter whose choices come from pick list `name` (`x-picklist`)."""
    for param, spec in properties.items():
        picklist = spec.get("x-picklist")
        if isinstance(picklist, dict) and picklist.get("list") == name:
            return param
    return None


def body_param(properties: dict[str, Any]) -> str | None:
    """The message template that fills the handoff: the first `x-template` parameter that is
    body variables (an object) or one text (a string, sent as {{1}})."""
    return next(
        (
            name
            for name, spec in properties.items()
            if spec.get("x-template") and type_name(spec)[0] in ("object", "string")
        ),
        None,
    )


def body_misfit(
    handoff: str,
    expected: Sequence[str],
    names: Sequence[str],
    body: str,
    *,
    text: bool = False,
    in_form: bool = False,
) -> ParameterError | None:
    """Why the variables `names` of parameter `body` do not fit a handoff whose message has
    the placeholders `expected`, by the dry run's rule and with LivePerson's code: which
    variable to remove, which placeholder to add. A `text` template fills {{1}} only. The
    form (`in_form`) names them by its labels and buttons, the CLI and the REST API by the
    parameter."""
    code = variables_misfit(names, expected)
    if code is None:
        return None
    has = ", ".join(map(_braced, expected)) or "no placeholder"
    if text:
        return ParameterError(
            f"the message of handoff {handoff} has {has}, and {body} fills "
            f"{_braced(TEXT_VARIABLE)} only (as the payment reminder sends it): LivePerson "
            f"would refuse every recipient with {code}",
            field=body,
            fix=f"choose a handoff whose message has {_braced(TEXT_VARIABLE)} only",
        )
    extra = [name for name in names if name not in expected]
    missing = [name for name in expected if name not in names]
    braces = ", ".join(map(_braced, missing))
    said, fixes = [], []
    if extra:
        said.append(f"{_variables(extra, in_form)} {_verb(extra, 'is', 'are')} not in it")
        fixes.append(
            "click " + ", ".join(f"Remove variable {name}" for name in extra)
            if in_form
            else f"remove {_variables(extra, False)} from {body}"
        )
    if missing:
        said.append(f"{braces} {_verb(missing, 'has', 'have')} no variable")
        fixes.append(
            f"give {braces} a variable with Add variable"
            if in_form
            else f"give {braces} a variable in {body}"
        )
    given = ", ".join(map(_braced, names)) or "no placeholder"
    return ParameterError(
        f"{'Body variables' if in_form else body} do not fit handoff {handoff}: its message "
        f"has {has}, and {' and '.join(said)}, so LivePerson would refuse every recipient "
        f"with {code}",
        field=body,
        fix=f"{' and '.join(fixes)}, or choose a handoff whose message has {given}",
    )


def check_saved_fit(
    studio: Studio,
    recipe: Recipe,
    parameters: dict[str, Any] | None,
    parse: Collection[str],
    connections: dict[str, str] | None,
    reset: Collection[str],
) -> Callable[[dict[str, Any]], ParameterError | None] | None:
    """Refuses settings about to be saved whose body variables would not fit their handoff:
    when the save gives (or resets) either, or the connection that lists the handoffs. Run
    before the store's write lock is taken: the list is asked of the app. Returns the same
    check on the list read here, for the parameters the write commits (`Studio.save_settings`
    runs it under the lock): another save between the two changed the handoff or the
    variables, and the pair it left did not fit. A text template's misfit is no refusal: the
    check returns it, the warning of what was committed."""
    marks = _marks(recipe)
    if marks is None:
        return None
    handoff, body, slot = marks
    given = {name: value for name, value in (parameters or {}).items() if name in (handoff, body)}
    touched = {handoff, body, f"connections.{slot}"}
    if not given and not touched & {*reset, *(f"connections.{s}" for s in connections or {})}:
        return None
    properties = recipe.schema["properties"]
    typed = coerce(  # the values as the save stores them: `-p` gives text
        {**recipe.schema, "properties": {name: properties[name] for name in given}},
        given,
        set(parse) & set(given),
        recipe=recipe.name,
        projects=studio.workspace.projects,
        hidden=studio.held_secrets,
    )
    from .connections import bind_connections  # here: both import the store (SQLAlchemy),
    from .settings import saved_settings  # which the form's widgets need only as it saves

    saved = saved_settings(studio.store, recipe.name)
    kept = {k: v for k, v in saved.get("parameters", {}).items() if k not in reset}
    slots = saved.get("connections", {})
    kept_slots = {s: name for s, name in slots.items() if f"connections.{s}" not in reset}
    chosen = {**kept_slots, **(connections or {})}
    spec = recipe.metadata.get("connections", {}).get(slot, {})
    try:  # the automatic choice when none is made; one that cannot bind is not checked
        bound = bind_connections({slot: spec}, chosen, studio.connections.list(), ready=False)
    except LpstudioError:
        return None
    listed, hidden = _listed(studio, bound[slot]), studio.held_secrets()

    def refit(values: dict[str, Any]) -> ParameterError | None:
        misfit = _listed_misfit(listed, recipe, values, hidden)
        if misfit is not None and not _is_text(recipe):
            raise misfit
        return misfit

    refit({**kept, **typed})  # refused before the lock; a text's is said of what is committed
    return refit


def check_run_fit(studio: Studio, recipe: Recipe, values: dict[str, Any]) -> None:
    """Refuses a run given its own handoff or body variables (`values`, checked) that would
    not fit, over the saved settings it runs with. A text template's misfit is left to the
    job (its first send fails with LivePerson's code, nothing sent)."""
    marks = _marks(recipe)
    if marks is None or _is_text(recipe) or not {marks[0], marks[1]} & set(values):
        return
    settings = studio.settings(recipe)
    binding = settings["connections"].get(marks[2])
    if binding is None:
        return
    listed = _listed(studio, binding)
    misfit = _listed_misfit(
        listed, recipe, {**settings["parameters"], **values}, studio.held_secrets()
    )
    if misfit is not None:
        raise misfit


def _marks(recipe: Recipe) -> tuple[str, str, str] | None:
    """The recipe's handoff parameter, its message template (body variables or one text) and
    the connection slot that lists the handoffs; None when it has not all of them."""
    properties = recipe.schema.get("properties", {})
    handoff, body = picklist_param(properties, HANDOFFS), body_param(properties)
    if handoff is None or body is None:
        return None
    slot = properties[handoff]["x-picklist"].get("connection")
    return (handoff, body, slot) if isinstance(slot, str) else None


def _is_text(recipe: Recipe) -> bool:
    """Whether the recipe's message template is one text, sent as {{1}} (`body_param`)."""
    properties = recipe.schema.get("properties", {})
    body = body_param(properties)
    return body is not None and type_name(properties[body])[0] == "string"


def _listed_misfit(
    listed: dict[str, dict[str, Any]],
    recipe: Recipe,
    values: dict[str, Any],
    hidden: Collection[str],
) -> ParameterError | None:
    """`body_misfit` of the job's values (the given and saved ones over the notebook's
    defaults) on a handoff list already read (`listed`), masked by the secrets `hidden`: it
    neither reads the store nor asks the app. None when they fit, or when the list does not
    say the handoff's placeholders."""
    handoff, body, _ = _marks(recipe) or ("", "", "")
    properties = recipe.schema["properties"]
    chosen = values.get(handoff, properties[handoff].get("default"))
    variables = values.get(body, properties[body].get("default"))
    text = _is_text(recipe)
    if not chosen or not (text or isinstance(variables, dict)):
        return None
    expected = listed.get(str(chosen), {}).get("placeholders")
    if not isinstance(expected, list):
        return None  # a handoff the list does not hold, or whose text it does not give
    names = [TEXT_VARIABLE] if text else list(variables)
    error = body_misfit(str(chosen), [str(p) for p in expected], names, body, text=text)
    return error.mask(hidden) if error is not None else None


def _listed(studio: Studio, connection: str) -> dict[str, dict[str, Any]]:
    """What the handoff list of `connection` says of each handoff (an option's `extra`);
    empty when it cannot be read within `LIST_WAIT` seconds. A slow LivePerson would keep a
    save waiting through the client's timeouts and retries (minutes): the list is asked in a
    thread of its own, left to end by itself when the save goes on unchecked."""
    try:
        conn = studio.connections.open(connection)
    except LpstudioError:  # a placeholder without its secrets, a field it lacks
        return {}
    listed: dict[str, dict[str, Any]] = {}
    done = threading.Event()

    def ask() -> None:
        try:
            listed.update((o.value, o.extra) for o in ConnectionClient(conn).picklist(HANDOFFS))
        except Exception:  # the app's or the network's: the campaign's own check stands
            listed.clear()
        finally:
            conn.close()
            done.set()

    threading.Thread(target=ask, name="lpstudio-handoff-list", daemon=True).start()
    return dict(listed) if done.wait(LIST_WAIT) else {}


def _braced(name: str) -> str:
    return f"{{{{{name}}}}}"


def _variables(names: list[str], in_form: bool) -> str:
    """`Variable 2`, or `Variables 2, 3`, as the form labels them (lower case elsewhere)."""
    word = f"{'V' if in_form else 'v'}ariable{'s' if len(names) > 1 else ''}"
    return f"{word} {', '.join(names)}"


def _verb(names: list[str], one: str, more: str) -> str:
    return one if len(names) == 1 else more
