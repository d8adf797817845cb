"""`RecipeForm`: a recipe's inputs as a form, so analysts never edit the parameters cell.

The fields come from the recipe's parameter schema (the one source the CLI and the REST API
use too) and are checked with the same rules as the CLI on every change. Values are saved as
the recipe's settings in the store, never written into the notebook. In a job, or any run of
papermill's (`kernel.runtime.headless`), the form renders nothing: the injected parameters win.

The buttons follow the REST API's roles (`BUTTON_RULES`): an operator sees the form
read-only and may Start (with the saved settings) and Stop, but not Save, Test or Run now.

Pick lists from an app (LivePerson handoffs and skills) load in background threads, as the
lab's form loads them after it shows: with the app slow or down, the form still shows at
once. Until its list comes, a drop-down offers only its value (saved, else the notebook's),
which is what Save, Test and Run now use meanwhile.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import nbformat
from traitlets import TraitError

from .. import roles
from ..errors import (
    ConflictError,
    InputError,
    LpstudioError,
    ParameterError,
    quoted,
    said_and_fix,
)
from ..jsonschemas import as_json
from ..parameters import FORMAT_HUMAN, NOT_GIVEN, coerce
from ..redaction import scrub_text
from ..registry import get_connector
from ..sdk import REQUEST_MIME
from ..templating import lookup, record_fields
from .common import THEME_COLOURS, asked, lab_text, notebook_link, refusal, studio_argument
from .proactive import ProactiveSection, is_proactive

if TYPE_CHECKING:  # both import the store (SQLAlchemy, about 0.3 s): the form cell of a job,
    # which shows nothing, must not pay for it (`lpstudio.widgets`); used forms import
    # them where they read the settings or the connections
    from ..recipe import Recipe
    from ..settings import Saved

#: What each button needs: the REST API's permission and action for the same request
#: (PUT .../settings, POST .../test, .../run, .../start, .../stop in `lpstudio.server.routes`).
BUTTON_RULES = {
    "test": ("build", "test recipes"),
    "save": ("build", "change recipe settings"),
    "run": ("build", "run recipes"),
    "start": ("operate", "start recipes"),
    "stop": ("operate", "stop recipes"),
}


def _said(exc: LpstudioError) -> str:
    """An error as the form shows it, on one line: what went wrong, then the fix, in the
    studio's terms (the form's fields are above where it is said: under them, or below the
    Connections)."""
    said = lab_text(exc.message, "above")
    return f"{said} (fix: {lab_text(exc.fix, 'above')})" if exc.fix else said


def _error_html(message: str) -> str:
    colour = THEME_COLOURS["error"]
    return f'<span style="color:{colour}">{html.escape(message)}</span>' if message else ""


def _loading_html(what: str) -> str:
    return f'<small style="color:{THEME_COLOURS["hint"]}">loading {html.escape(what)}…</small>'


def _json(text: str) -> Any:
    """The value a JSON field's text holds, or the text itself when it holds none."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON tells values apart: `true` is not the number 1.0, nor 1 the 1.0 of a
    float's default. Python's `==` takes them alike, so a field holding a look-alike of the
    default was taken for the default: neither checked nor saved."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


#: The picker of each date format, and the type it holds.
PICKERS: dict[str, tuple[type[w.DatePicker | w.NaiveDatetimePicker], type[date]]] = {
    "date": (w.DatePicker, date),
    "date-time": (w.NaiveDatetimePicker, datetime),
}


def _picked(value: Any, form: str) -> date | None:
    """A date (or date and time) field's saved ISO text for its picker; a value that is none
    (saved before the parameter was one) leaves the picker empty, and the field's error
    asks for one."""
    try:
        held = PICKERS[form][1].fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return held if _pickable(form, held) else None


def _pickable(form: str, value: Any) -> bool:
    """Whether a field of a date `form` shows `value` (ISO text, or as read) in its picker
    as it is. A date and time does only without a time zone and to the second: ipywidgets'
    naive picker refuses a zone, and its aware one shows the time in the kernel's zone, the
    offset lost (`...T09:00:00+02:00` read back as `...T07:00:00+00:00`); the browser's
    picker holds milliseconds at most, which the widget sends as a float. Such a value, or
    one that is no date and time, keeps the text box, read as `-p` reads it (as the lab's
    form keeps it). A date picker takes any value: one that is no date leaves it empty."""
    if form == "date" or value in (None, ""):
        return True
    try:
        held = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return False
    return isinstance(held, datetime) and held.tzinfo is None and held.microsecond == 0


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two versions of saved settings, by the names a form shows: its
    parameters, `connections.SLOT`, and the rest (state, since, notify...)."""
    changed = []
    for group, prefix in (("parameters", ""), ("connections", "connections.")):
        old, new = before.get(group) or {}, after.get(group) or {}
        changed += [f"{prefix}{k}" for k in sorted({*old, *new}) if _differs(old, new, k)]
    rest = {*before, *after} - {"parameters", "connections", "started_at"}
    return changed + [k for k in sorted(rest) if _differs(before, after, k)]


def _differs(before: dict[str, Any], after: dict[str, Any], key: str) -> bool:
    """Whether `key` differs between two mappings of saved settings: a value saved as None
    (a nullable parameter's) is a value, not the absence of one."""
    return (key in before) != (key in after) or before.get(key) != after.get(key)


def _parameter_changes(before: Recipe, after: Recipe) -> list[str]:
    """What changed in a recipe's parameters and connection slots from `before` to `after`,
    by the names a form shows: `added NAME`, `removed NAME`, `changed NAME` (its type,
    default, rules or whether it is required)."""

    def declared(recipe: Recipe) -> dict[str, Any]:
        required = set(recipe.schema.get("required", ()))
        params = {n: (s, n in required) for n, s in recipe.schema["properties"].items()}
        slots = recipe.metadata.get("connections", {})
        return params | {f"connections.{slot}": spec for slot, spec in slots.items()}

    old, new = declared(before), declared(after)
    return (
        [f"added {name}" for name in new if name not in old]
        + [f"removed {name}" for name in old if name not in new]
        + [f"changed {name}" for name in new if name in old and old[name] != new[name]]
    )


def _close_tree(widget: w.Widget) -> None:
    """Closes a widget, every widget in it, and their layout and style models (each a comm
    of its own: a form rebuilt by Refresh lists left about 120 open per rebuild)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    for model in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(model, w.Widget):
            model.close()
    widget.close()


def _browsed(notebook: Path, root: Path) -> str:
    """A notebook's path as JupyterLab's file browser shows it, from the workspace's folder
    it serves (`projects/billing/reminder.ipynb`)."""
    root = root.resolve()
    return str(notebook.relative_to(root) if notebook.is_relative_to(root) else notebook)


def _requests(notebook: Path) -> list[Any]:
    """The requests a Test's actions would have sent, as its output notebook keeps them
    (`sdk.REQUEST_MIME`, in the order made); none when the notebook cannot be read."""
    try:
        nb = nbformat.read(notebook, as_version=4)
    except (OSError, ValueError):
        return []
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    return [o["data"][REQUEST_MIME] for o in outputs if REQUEST_MIME in o.get("data", {})]


def _extras_key(picklist: dict[str, Any]) -> str:
    """A pick list's key in `RecipeForm.extras`: its connection slot and list."""
    return f"{picklist.get('connection')}.{picklist.get('list')}"


def _titled(label: str | None, value: str) -> str:
    """A pick list's choice as the lab's form shows it: its title with its value (`SMS
    message (H1000000001)`), so that the value the empty choice names as the default can be
    told among them."""
    return f"{label} ({value})" if label and label != value else value


#: An API fix that names the CLI's way to set a parameter: in the form, its field is the way.
SET_WITH_CLI = "`lpstudio settings "

#: A connection the API's fix says to create for a slot no connection fills
#: (`connections._no_connection`: `lpstudio connections add http --type http --secret
#: token`): its name (its slot's), its type, and the options giving what it needs.
TO_CREATE = re.compile(r"`lpstudio connections add ([\w-]+) --type ([\w-]+)([^`]*)`")

#: A field those options give (`--secret token`, `--field shop=...`).
GIVEN = re.compile(r"--(?:secret|field) ([\w-]+)")


def _listed(items: list[str]) -> str:
    """`items` said as a list: `a`, `a and b`, `a, b and c`."""
    return f"{', '.join(items[:-1])} and {items[-1]}" if len(items) > 1 else "".join(items)


def _create_fix(slot: str, kind: str | None, fix: str | None, where: str) -> str:
    """The fix for `slot` when the workspace holds no `kind` connection, as the lab words it
    (`createFix` in ui/src/fixes.ts): every connection the API's `fix` says to create (one
    for each slot no connection fills), with the fields each needs (a webhook's `token`
    too), so that one made as said is not refused again; one `kind` connection for `slot`
    where the fix names none (a slot shown without an error)."""
    wanted: dict[str, str] = {}  # each slot's connection, as said
    for name, type_, options in TO_CREATE.findall(fix or ""):
        given = GIVEN.findall(options)
        wanted[name] = f"{type_} connection" + (f" with its {_listed(given)}" if given else "")
    if slot not in wanted:
        return (
            f"create a {kind} connection in the Connections panel, then click Refresh lists, "
            f"choose it for {slot} {where} and Save"
        )
    said = list(wanted.values())
    if len(said) == 1:
        return (
            f"create a {said[0]} in the Connections panel, then click Refresh lists, "
            f"choose it for {slot} {where} and Save"
        )
    return (
        f"create a {', a '.join(said[:-1])}, and a {said[-1]}, in the Connections panel; then "
        f"click Refresh lists, choose each for its slot ({', '.join(wanted)}) under "
        f"Connections {where} and Save"
    )


Options = list[tuple[str, Any]]

#: A drop-down's value for None, a nullable `Literal`'s choice: ipywidgets takes a value of
#: None for no selection (None was never shown selected, and a None picked in the browser
#: showed as nothing picked). No text a user could give, as the lab's `NULL_CHOICE`.
NONE_CHOICE = "\u2400None"


class FieldEditor:
    """One parameter: its input widget, help text and inline error.

    `background` runs a slow `options` (a pick list from an app) off the kernel's main
    thread. Each load has a number; only the answer of the latest one is shown, so a list
    asked of a connection picked earlier cannot replace the one picked since."""

    def __init__(
        self,
        name: str,
        schema: dict[str, Any],
        value: Any,
        options: Callable[[], Options] | None = None,
        background: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self._background = background
        self._lock = threading.RLock()  # a load's answer and a newer load's start in turn
        self._generation = 0
        kind = schema.get("type")
        kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
        self.kind = kind
        self.parse = True
        label = schema.get("title", name)
        self._options = options
        self.error = w.HTML()
        self.note = w.HTML()
        #: The format of a date (or date and time) field shown as a picker (`PICKERS`).
        self.picker: str | None = None
        #: A picker's "Use default" button, and whether it was clicked since the field
        #: last changed: the one way to forget a saved date (see `blank_date`).
        self.reset: w.Button | None = None
        self.forget = False
        self._resetting = False
        style = {"description_width": "160px"}
        # A drop-down's empty choice names the notebook's default: chosen, a saved value is
        # forgotten (as an emptied text field's is), so the default stands again.
        self.empty: tuple[str, Any] | None = None
        if options is not None or "enum" in schema:
            self.input: w.Widget = w.Dropdown(description=label, style=style)
            self.parse = False
            if self.offers_empty(schema):
                default = schema.get("default")
                shown = "notebook default" if default is None else f"default: {default}"
                self.empty = (f"({shown})", "")
        elif kind == "boolean" and "null" in (schema.get("type") or []):
            # A checkbox has no "None": `flag: bool | None = None` would be sent as False
            # and could never go back to None. The text is read as `-p flag ...` is.
            self.input = w.Dropdown(
                options=[("None", "None"), ("True", "true"), ("False", "false")],
                description=label,
                style=style,
            )
        elif kind == "boolean":
            self.input = w.Checkbox(description=label, indent=False)
            self.parse = False
        elif (
            kind == "string"
            and schema.get("format") in PICKERS
            and _pickable(schema["format"], value)
        ):
            self.picker = schema["format"]
            self.input = PICKERS[self.picker][0](description=label, style=style)
            self.reset = w.Button(
                description="Use default",
                icon="undo",
                tooltip="Show the notebook's default again; Save forgets a saved date",
                layout=w.Layout(width="auto"),
            )
            self.reset.on_click(lambda _: self.use_default())
            self.input.observe(self._changed, names="value")
        elif kind in ("array", "object"):
            self.input = w.Textarea(
                description=label, style=style, layout=w.Layout(width="90%", height="80px")
            )
        else:
            widget = w.Textarea if len("" if value is None else str(value)) > 60 else w.Text
            self.input = widget(description=label, style=style, layout=w.Layout(width="90%"))
        self.show(value)
        description = html.escape(schema.get("description", ""))
        self.help = w.HTML(f'<small style="color:{THEME_COLOURS["hint"]}">{description}</small>')
        entry = self.input if self.reset is None else w.HBox([self.input, self.reset])
        self.box = w.VBox([entry, self.help, self.note, self.error])

    @staticmethod
    def offers_empty(schema: dict[str, Any]) -> bool:
        """Whether a drop-down (a pick list, an `enum`) of this parameter has the empty
        choice: unless "" or None is one of its values (`Literal["sms", "wa"] | None`: a
        saved None would show as the empty choice, and be forgotten on the next save)."""
        values = schema.get("enum", ())
        return "" not in values and None not in values

    def show(self, value: Any) -> None:
        """Shows a parameter's value: when the form opens, and when it shows the recipe's
        settings as they are stored (after a Save, or a change made elsewhere). A drop-down
        given None shows its empty choice: nothing saved, the notebook's default stands."""
        if not self.parse and isinstance(self.input, w.Dropdown):
            if value is None and self.empty is not None:
                value = ""  # nothing saved and no literal default: the notebook's stands
            elif value is None and None in self.schema.get("enum", ()):
                value = NONE_CHOICE
            with self._lock:
                if value is not None and value in [v for _, v in self.input.options]:
                    self.input.value = value  # no need to load its pick list again
                else:
                    self.refresh_options(value)
        elif isinstance(self.input, w.Checkbox):
            self.input.value = bool(value)
        elif isinstance(self.input, w.Dropdown):
            self.input.value = {None: "None", True: "true", False: "false"}.get(value, "None")
        elif self.picker is not None:
            self.input.value = _picked(value, self.picker)
            self.forget = False  # what is saved now: nothing to forget yet
        elif self.kind in ("array", "object"):
            shown = "" if value is None else json.dumps(value, indent=1, ensure_ascii=False)
            if value is None or self.raw in ("", None) or not _same(_json(self.raw), value):
                self.input.value = shown  # kept as typed when it holds the same value
        else:
            self.input.value = "" if value is None else str(value)

    def refresh_options(self, value: Any = None) -> None:
        """Fills a drop-down from its pick list (or `enum`), keeping the current value. A
        list loaded in the `background` offers the value alone, and says so, meanwhile."""
        current = value if value is not None else getattr(self.input, "value", None)
        if self._background is None:
            self._fill(current, *self._load())
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
            what = (self.schema.get("x-picklist") or {}).get("list", "the list")
            self._fill(current, [], _loading_html(what), label=str(current))

        def load() -> None:
            options, note = self._load()
            with self._lock:
                if generation == self._generation:  # else a newer load, or the form closed
                    self._fill(current, options, note)

        self._background(load)

    def forget_loads(self) -> None:
        """Drops the answers of the loads still running (the form is closing)."""
        with self._lock:
            self._generation += 1

    def _load(self) -> tuple[Options, str]:
        """The options, and the note to show: why they could not be loaded, or nothing."""
        try:
            if self._options:
                return self._options(), ""
            return [(str(v), NONE_CHOICE if v is None else v) for v in self.schema["enum"]], ""
        except LpstudioError as exc:  # a pick list that cannot load must not break the form
            return [], _error_html(f"could not load the list: {_said(exc)}")
        except Exception as exc:
            return [], _error_html(f"could not load the list: {exc}")

    def _fill(self, current: Any, options: Options, note: str, label: str = "") -> None:
        """Shows `options`, keeping `current` selected: added as `label` when not among
        them (by default marked as the saved value, which the list does not hold)."""
        if current not in (None, "") and current not in [v for _, v in options]:
            options = [(label or f"{current} (saved)", current), *options]
        if self.empty is not None:
            options = [self.empty, *options]
        self.input.options = options
        if current is not None:
            self.input.value = current
        self.note.value = note

    def use_default(self) -> None:
        """Shows the notebook's default date (or none) and marks the field, so that Save
        forgets a saved date: an empty picker alone does not (see `blank_date`)."""
        self._resetting = True
        try:
            self.forget = True
            self.input.value = _picked(self.schema.get("default"), str(self.picker))
        finally:
            self._resetting = False

    def _changed(self, _change: dict[str, Any]) -> None:
        if not self._resetting:
            self.forget = False  # a date picked or typed since "Use default"

    @property
    def blank_date(self) -> bool:
        """A date (or date and time) picker holding none. A browser reports a date typed in
        part (the day deleted) as none, exactly as it reports an emptied picker, so an empty
        picker is no choice of the user's: only "Use default" forgets a saved date."""
        return self.picker is not None and self.input.value is None

    @property
    def raw(self) -> Any:
        """What was entered; a picked date (and time) as the ISO text `-p` would give (none:
        empty)."""
        if self.picker is not None:
            return self.input.value.isoformat() if self.input.value else ""
        return None if self.input.value == NONE_CHOICE else self.input.value


class RecipeForm(w.VBox):
    """The settings form of one recipe: fields, connection pickers and Test, Save, Run now,
    Start and Stop."""

    def __init__(self, recipe: str, studio: Any = None) -> None:
        from ..studio import Studio

        # First: close() reads them, even when a broken recipe stops the form being made.
        self._threads: list[threading.Thread] = []  # Test and Run now
        self._loads: list[threading.Thread] = []  # pick lists
        self.fields: dict[str, FieldEditor] = {}
        self._built: list[w.Widget] = []  # the sections `_build` made (pickers, fields)
        #: What each pick list said of its options, by list (`_options_for`): value -> extra.
        self.extras: dict[str, dict[str, dict[str, Any]]] = {}
        made = f"RecipeForm({recipe!r}, studio), or none for this notebook's workspace"
        self.studio = Studio.open() if studio is None else studio_argument(studio, made)
        self.recipe = self.studio.recipe(recipe)
        #: The notebook this kernel runs, where it was when `here()` showed its form (None: a
        #: form of a recipe named in code, which no rename moves): `_check_path`.
        self.notebook: Path | None = None
        self.role = self.studio.role
        from ..settings import read_settings

        stored = read_settings(self.studio.store, self.recipe.name)
        self.saved = stored.settings
        self.revision = stored.revision  # of the settings shown: sent back with a save
        #: Each slot's picker: its value is the connection chosen, "" the automatic choice
        #: (none chosen: a job binds the one `automatic` names), None a chosen one gone.
        self.slots: dict[str, w.Dropdown] = {}
        #: The connection each slot's automatic choice picks now (None: none can).
        self.automatic: dict[str, str | None] = {}
        self.slot_errors: dict[str, w.HTML] = {}
        self.slot_notes: dict[str, w.HTML] = {}  # an empty picker's: how to make a connection
        self._relabelling: set[str] = set()  # slots whose options `_show_slot` is replacing
        self.editable = refusal(self.role, *BUTTON_RULES["save"]) is None
        self.notice = w.HTML()
        self.problem = w.HTML()  # why the saved settings cannot run yet, and the fix
        self.settings_problem: InputError | None = None
        self.status = w.HTML()
        self.preview = w.HTML()
        self.last_job: Any = None
        self.proactive: ProactiveSection | None = None

        self.buttons = {
            "test": w.Button(description="Test", icon="flask", tooltip="Dry run on a sample"),
            "save": w.Button(description="Save", icon="save", button_style="primary"),
            "run": w.Button(description="Run now", icon="play", button_style="success"),
            "start": w.Button(description="Start", icon="toggle-on"),
            "stop": w.Button(description="Stop", icon="toggle-off"),
            "refresh": w.Button(
                description="Refresh lists",
                icon="refresh",
                tooltip="Load the connections, handoffs and skills again, and the notebook's "
                "fields if its parameters changed",
            ),
        }
        self._tips = {key: button.tooltip for key, button in self.buttons.items()}
        self._row = w.HBox(list(self.buttons.values()))
        self.buttons["refresh"].on_click(lambda _: self.refresh())
        self.buttons["test"].on_click(lambda _: self.test())
        self.buttons["save"].on_click(lambda _: self.save())
        self.buttons["run"].on_click(lambda _: self.run_now())
        self.buttons["start"].on_click(lambda _: self._lifecycle("start"))
        self.buttons["stop"].on_click(lambda _: self._lifecycle("stop"))
        self.header = w.HTML()
        self.differences = w.HTML()
        self._build()
        super().__init__(self._sections())
        self._shown = self._entered()

    def _build(self) -> None:
        """The recipe's connection pickers and parameter fields, showing the saved settings,
        and the buttons its trigger and the user's role allow: made when the form opens, and
        again when the notebook's parameters changed (`refresh`)."""
        saved = self.saved
        values = self._values(saved)
        self.slots, self.slot_errors, self.slot_notes = {}, {}, {}
        self.fields = {}
        for slot, spec in self.recipe.metadata.get("connections", {}).items():
            self.slot_errors[slot] = w.HTML()
            self.slot_notes[slot] = w.HTML()
            self.slots[slot] = self._slot_picker(slot, spec, saved.get("connections", {}).get(slot))
        for name, spec in self.shown["parameters"]["properties"].items():
            slow = isinstance(spec.get("x-picklist"), dict)  # asked of an app, over the network
            self.fields[name] = FieldEditor(
                name,
                spec,
                values.get(name),
                self._options_for(spec),
                (lambda work: self._background(work, load=True)) if slow else None,
            )
        for key, rule in BUTTON_RULES.items():
            reason = refusal(self.role, *rule)
            if key == "run" and reason is None and self.recipe.needs_event:
                reason = (
                    f"a {self.recipe.trigger_kind} recipe runs on what is posted to it: Test "
                    "runs it on a sample event and sends nothing"
                )
            self.buttons[key].disabled = reason is not None
            self.buttons[key].tooltip = reason or self._tips[key]
        if not self.editable:
            resets = [e.reset for e in self.fields.values() if e.reset is not None]
            inputs = [e.input for e in self.fields.values()]
            for control in [*inputs, *resets, *self.slots.values()]:
                control.disabled = True
            reason = refusal(self.role, *BUTTON_RULES["save"])
            said = html.escape(f"{self.studio.user}: {reason}.")
            self.notice.value = (
                f'<span style="color:{THEME_COLOURS["hint"]}">{said} '
                "The form is read-only; Start and Stop use the saved settings.</span>"
            )
        for editor in self.fields.values():
            editor.input.observe(lambda _change, e=editor: self._check(e), names="value")
            if editor.reset is not None:  # after the editor's own: its mark is set by then
                editor.reset.on_click(lambda _, e=editor: self._check(e))
            self._check(editor)
        self._show_state()
        self._show_differences()
        self._show_problem()

    def _sections(self) -> list[w.Widget]:
        """The form's parts, top to bottom, with those `_build` made (kept in `_built`)."""
        self._built = []
        if self.slots:
            pickers = [
                c
                for s in self.slots
                for c in (self.slots[s], self.slot_notes[s], self.slot_errors[s])
            ]
            self._built.append(w.VBox([w.HTML("<b>Connections</b>"), *pickers]))
        rest = dict(self.fields)
        self.proactive = None
        if is_proactive(self.recipe):
            self.proactive = ProactiveSection(self, self.fields)
            self._built.append(self.proactive)
            rest = {k: v for k, v in rest.items() if k not in self.proactive.owned}
        if rest:
            fields = [e.box for e in rest.values()]
            self._built.append(w.VBox([w.HTML("<b>Parameters</b>"), *fields]))
        above = [self.header, self.differences, self.problem]
        return [*above, *self._built, self.notice, self._row, self.status, self.preview]

    @property
    def recipe(self) -> Recipe:
        return self._recipe

    @recipe.setter
    def recipe(self, recipe: Recipe) -> None:
        """Keeps `shown` with it: the recipe as the lab's form gets it (`Studio.described`),
        the workspace's secrets and lpstudio's tokens masked in its title, description and
        parameters' defaults and help. The notebook's parameters cell is the analyst's, and
        may hold one (refused when it runs), which a field would show to whoever reads the form."""
        self._recipe = recipe
        self.shown = self.studio.described(recipe.describe())

    def _close_built(self) -> None:
        """Closes what `_build` made: the form is closing, or shows the notebook's new
        fields. The answers of the pick lists still loading are dropped."""
        for editor in self.fields.values():
            editor.forget_loads()
            _close_tree(editor.box)  # the proactive section shows some in its own place
        for part in self._built:
            _close_tree(part)

    # -- building --------------------------------------------------------------------------

    @classmethod
    def here(cls) -> RecipeForm | None:
        """The form of the notebook this kernel runs, or None in a job or any run of
        papermill's (`kernel.runtime.headless`): its injected parameters win, nothing waits
        for input, and a form built there asked the app for its pick lists and filled the
        output notebook with its widgets. A notebook that is no recipe of a workspace (a
        template opened in the gallery's folder, an output notebook), or one the kernel was
        not told of (nbconvert, nbval), gets a line saying why and how, not a traceback:
        its other cells still run."""
        import lpstudio.kernel as lp

        from ..kernel.runtime import headless, notebook_path

        if lp.context().job_id is not None or headless():
            return None
        notebook = notebook_path()  # as it is named now: JupyterLab may have renamed it
        if not notebook:
            print(
                "No form: this kernel was not told which notebook it runs (JupyterLab and "
                "VS Code tell theirs). Open the recipe in JupyterLab to see its form."
            )
            return None
        if not Path(notebook).is_file():
            print("Open this recipe in JupyterLab, inside a workspace, to see its form.")
            return None
        from ..studio import Studio  # here: a job's kernel returned above, without its imports

        studio = None
        try:
            studio = Studio.open()
            projects = studio.workspace.projects
            if not Path(notebook).resolve().is_relative_to(projects.resolve()):
                studio.close()
                if studio.workspace.is_in_history(Path(notebook)):  # a job's output notebook
                    print(
                        f"No form: {notebook} is a job's output notebook, outside {projects}, "
                        "where a workspace's recipes are. To use it as a recipe, copy it to a "
                        "folder under projects/ with File > Save Notebook As... and open the copy."
                    )
                else:
                    print(
                        f"No form: {notebook} is outside {projects}, where a workspace's recipes "
                        "are. Copy it into a project to use it as a recipe (a template: Try "
                        "recipe in the gallery)."
                    )
                return None
            form = cls(notebook, studio)
            form.notebook = Path(notebook).resolve()
            return form
        except LpstudioError as exc:
            if studio is not None:
                studio.close()
            print(f"No form: {lab_text(str(exc))}")
            return None

    def _options_for(self, spec: dict[str, Any]) -> Callable[[], list[tuple[str, Any]]] | None:
        if spec.get("x-object-field"):
            fields, sample = record_fields(self.recipe.metadata.get("record"))
            return lambda: [
                (f"{f} (e.g. {lookup(sample, f)})" if lookup(sample, f) else f, f) for f in fields
            ]
        picklist = spec.get("x-picklist")
        if isinstance(picklist, dict):
            return lambda: self._load_picklist(picklist)
        return None

    def _load_picklist(self, picklist: dict[str, Any]) -> Options:
        """A pick list's choices, keeping what it says of each (a handoff's message text,
        which the proactive section checks the body variables against)."""
        key = _extras_key(picklist)
        try:  # what the list said before stands while it reloads: Save checks by it
            options = self.picklist(picklist["connection"], picklist["list"])
        except LpstudioError:
            self.extras.pop(key, None)  # a list that cannot load says nothing of its values
            raise
        self.extras[key] = {option.value: option.extra for option in options}
        return [(_titled(option.label, option.value), option.value) for option in options]

    def choice_extra(self, name: str, value: Any) -> dict[str, Any] | None:
        """What the pick list of parameter `name` says of its choice `value`; None until
        the list has loaded, or when it does not hold the value."""
        picklist = self.recipe.schema["properties"][name].get("x-picklist")
        if not isinstance(picklist, dict):
            return None
        return self.extras.get(_extras_key(picklist), {}).get(value)

    def picklist(self, slot: str, listed: str) -> list[Any]:
        """A pick list (handoffs, skills) of the connection filling `slot`."""
        from ..client import ConnectionClient

        name = self.slot_connection(slot)
        if name is None:
            raise LpstudioError(
                f"choose a connection for '{slot}' first",
                field=f"connections.{slot}",
                fix="pick one under Connections (or create one in the Connections panel), "
                "then click Refresh lists",
            )
        conn = self.studio.connections.open(name)
        try:
            return ConnectionClient(conn).picklist(listed)
        except Exception as exc:  # the app's or the network's: which connection, what to do
            known = isinstance(exc, LpstudioError)
            said = exc.message if known else f"{type(exc).__name__}: {exc}"
            fix = (
                exc.fix
                if known and exc.fix
                else f"test {name} in the Connections panel (and correct its fields there if "
                "the test fails)"
            )
            secrets = self.studio.held_secrets()
            raise LpstudioError(
                f"connection {quoted(name)} could not list {listed}: {scrub_text(said, secrets)}",
                field=f"connections.{slot}",
                fix=f"{scrub_text(fix, secrets)}, then click Refresh lists",
            ) from None
        finally:
            conn.close()

    def slot_settings(self, slot: str) -> dict[str, Any]:
        """The plain fields of the connection filling `slot` over its connector's
        defaults, as a run would have them (the defaults alone while none fills it, or
        the chosen one is gone): the limits it sets, which the form counts by."""
        spec = self.recipe.metadata.get("connections", {}).get(slot, {})
        name = self.slot_connection(slot)
        settings: dict[str, Any] = {}
        with contextlib.suppress(LpstudioError):  # a connector not installed: none
            settings.update(get_connector(spec.get("type"), self.studio.workspace.root).defaults())
        if name is not None:
            with contextlib.suppress(LpstudioError):  # removed since it was listed
                settings.update(self.studio.connections.get(name).fields)
        return settings

    def slot_connection(self, slot: str) -> str | None:
        """The connection the slot's picker has a job use: the one chosen, or the one its
        automatic choice names; None while none does."""
        picker = self.slots.get(slot)
        if picker is None or picker.value is None:
            return None
        return picker.value or self.automatic.get(slot)

    def _slot_options(
        self, slot: str, spec: dict[str, Any], chosen: str
    ) -> tuple[list[tuple[str, str]], str | None]:
        """A slot's choices, as the lab's form offers them (`offer` in ui/src/settings.ts):
        the automatic choice ("": none chosen, so a connection added or renamed later is
        picked at start), named by the connection it picks now (the rule a job binds by,
        `Studio.slot_connection`), then the connections of the slot's type; and the one to
        show: `chosen`, None when its connection is gone."""
        available = self.studio.connections.list()
        automatic = self.studio.slot_connection(self.recipe, slot, {}, available)
        self.automatic[slot] = automatic
        fitting = [c for c in available if c.type == spec.get("type")]
        options = [
            (f"(automatic: {automatic})" if automatic else "(automatic)", ""),
            *((f"{c.name} ({c.status})", c.name) for c in fitting),
        ]
        return options, chosen if chosen in [v for _, v in options] else None

    def _slot_picker(self, slot: str, spec: dict[str, Any], chosen: str | None) -> w.Dropdown:
        options, value = self._slot_options(slot, spec, chosen or "")
        picker = w.Dropdown(
            options=options,
            value=value,
            description=spec.get("label", slot),
            style={"description_width": "160px"},
        )
        picker.observe(lambda c: self._picked(slot, c["old"], c["new"]), names="value")
        self._show_empty(slot, spec, options)
        return picker

    def _picked(self, slot: str, old: str | None, new: str | None) -> None:
        """Another connection picked: its handoffs and skills load. Not while `_show_slot`
        relabels the options (a drop-down given new options picks their first a moment)."""
        if slot not in self._relabelling and old != new:
            self.slot_errors[slot].value = ""
            self._refresh_picklists()

    def _show_empty(self, slot: str, spec: dict[str, Any], options: Options) -> None:
        """An empty picker says why, and how to make a connection it can offer."""
        kind = spec.get("type") or "fitting"
        self.slot_notes[slot].value = (
            ""
            if any(value for _, value in options)  # a connection besides the automatic choice
            else f'<small style="color:{THEME_COLOURS["hint"]}">no {html.escape(kind)} connection '
            "in the workspace yet: create one in the Connections panel, then click Refresh lists"
            "</small>"
        )

    def _show_slot(self, slot: str, chosen: str | None) -> None:
        """Shows the slot's connections as they are now (added, removed, or tested since),
        keeping `chosen` ("": the automatic choice; None: the saved choice, shown again if
        its connection is back): a new label around the same choice (a test's state) is no
        change."""
        picker = self.slots[slot]
        spec = self.recipe.metadata["connections"][slot]
        if chosen is None:
            chosen = self.saved.get("connections", {}).get(slot, "")
        options, value = self._slot_options(slot, spec, chosen)
        before = picker.value
        self._relabelling.add(slot)
        try:
            if list(picker.options) != options:
                picker.options = options
            picker.value = value
        finally:
            self._relabelling.discard(slot)
        self._picked(slot, before, value)
        self._show_empty(slot, spec, options)

    def refresh(self) -> None:
        """Refresh lists: the connections (one added or removed since the form opened), the
        handoffs and skills, the recipe's state (started or stopped elsewhere), and its
        fields when the notebook's parameters changed since the form showed them (Save,
        Test and Run now refuse until then: `_check_notebook`)."""
        try:
            self._check_path()
        except LpstudioError as exc:
            self._refuse(exc)
            return
        try:
            recipe = self.studio.recipe(self.recipe.name)
        except LpstudioError as exc:  # saved half-edited: the fields stay as they are
            self._refuse(exc)
            recipe = self.recipe
        changes = _parameter_changes(self.recipe, recipe)
        if changes:
            self._rebuild(recipe, changes)
        else:
            self.recipe = recipe  # its title, description, record: shown as they are now
            for slot, picker in self.slots.items():
                self._show_slot(slot, picker.value)
            self._refresh_picklists()
        self._show_state()
        self._show_problem()

    def _rebuild(self, recipe: Recipe, changes: list[str]) -> None:
        """Shows the fields and pickers of `recipe` (the notebook as it is now), each
        holding what was typed in it if the form had it already; says what `changes` the
        notebook made and what was typed in fields it no longer has (not kept). Rebuilt in
        place rather than by running the form cell again, which would show the saved
        settings only: what was typed and not saved would be lost."""
        typed, forgotten = self._typed()
        self._close_built()
        self.recipe = recipe
        self._shown = None  # while the fields are made: each holds what it shows
        self._build()
        self.children = self._sections()
        self._shown = self._entered()
        lost = {name: value for name, value in typed.items() if name not in self._shown}
        kept = {name: value for name, value in typed.items() if name in self._shown}
        self._put_back(kept, [name for name in forgotten if name in self.fields])
        said = f"the notebook's parameters changed: {'; '.join(changes)}. The form shows its "
        if not lost:
            self._say(f"{said}fields now, with what you typed kept")
            return
        secrets = self.studio.held_secrets()
        dropped = ", ".join(f"{n} ({scrub_text(str(v), secrets)})" for n, v in lost.items())
        self._say(
            f"{said}fields now; what you typed in {dropped} is not kept: the notebook has no "
            "such parameter now",
            error=True,
        )

    def _values(self, saved: dict[str, Any]) -> dict[str, Any]:
        """Each parameter's value as `saved` has it, else the notebook's default (a
        drop-down's empty choice, which names it)."""
        props = self.shown["parameters"]["properties"]
        shown = {
            name: None if self._offers_empty(spec) else spec.get("default")
            for name, spec in props.items()
        }
        return shown | saved.get("parameters", {})

    def _offers_empty(self, spec: dict[str, Any]) -> bool:
        """Whether the parameter is a drop-down of values (`FieldEditor`) with an empty
        choice."""
        dropdown = "enum" in spec or self._options_for(spec) is not None  # as FieldEditor
        return dropdown and FieldEditor.offers_empty(spec)

    def show_saved(self, stored: Saved) -> None:
        """Shows the recipe's settings as they are stored: after a Save (a cleared field
        shows the notebook's default that stands again), or when they were changed
        elsewhere."""
        saved = self.saved = stored.settings
        self.revision = stored.revision
        values = self._values(saved)
        for name, editor in self.fields.items():
            editor.show(values.get(name))
        for slot in self.slots:
            self._show_slot(slot, saved.get("connections", {}).get(slot, ""))
        if self.proactive is not None:
            self.proactive.show_body()
        self._show_differences()
        self._show_state()
        self._show_problem()
        self._shown = self._entered()

    def _entered(self) -> dict[str, Any]:
        """What each field and connection picker holds (a JSON field by its value, not its
        layout): compared with what the form showed, it tells what the user changed."""
        fields = {
            name: _json(e.input.value) if e.kind in ("array", "object") else e.input.value
            for name, e in self.fields.items()
        }
        return {**fields, **{f"connections.{s}": p.value for s, p in self.slots.items()}}

    def _input(self, name: str) -> w.Widget:
        """The input of a parameter's field, or of `connections.SLOT`'s picker."""
        if name in self.fields:
            return self.fields[name].input
        return self.slots[name.removeprefix("connections.")]

    def _changed_elsewhere(self, exc: ConflictError) -> ConflictError:
        """Shows the settings as they are stored now, keeping what the user changed in the
        form, and says what changed elsewhere."""
        from ..settings import read_settings

        stored = read_settings(self.studio.store, self.recipe.name)
        changed = _changes(self.saved, stored.settings)
        typed, forgotten = self._typed()
        self.show_saved(stored)
        self._put_back(typed, forgotten)
        return ConflictError(
            f"{exc.message}: {', '.join(changed) or 'nothing the form shows'} changed",
            field=exc.field,
            fix="the form shows them as they are saved now, with your own changes kept: check "
            "them, then click again",
        )

    def _typed(self) -> tuple[dict[str, Any], list[str]]:
        """What the user changed in the form since it showed the saved settings: each
        field's or picker's input value by name, and the date fields "Use default" was
        clicked in."""
        shown = self._shown or {}
        typed = [n for n, value in self._entered().items() if not _same(value, shown.get(n))]
        forgotten = [name for name, editor in self.fields.items() if editor.forget]
        return {name: self._input(name).value for name in typed}, forgotten

    def _put_back(self, typed: dict[str, Any], forgotten: list[str]) -> None:
        """Puts what `_typed` kept back in the fields and pickers the form shows now."""
        for name, value in typed.items():
            editor = self.fields.get(name)
            if editor is not None and not editor.parse and isinstance(editor.input, w.Dropdown):
                editor.show(value)  # a pick list: any load of the stored value is dropped
                continue
            with contextlib.suppress(TraitError):  # a connection deleted, a field retyped
                self._input(name).value = value
        for name in forgotten:  # "Use default" still asked for
            self.fields[name].use_default()
        if self.proactive is not None and typed:
            self.proactive.show_body()

    def _show_state(self) -> None:
        from ..settings import saved_settings

        state = saved_settings(self.studio.store, self.recipe.name).get("state", "stopped")
        self.header.value = (
            f"<h3>{html.escape(self.shown['title'])}</h3>"
            f"<p>{html.escape(self.shown['description'])}</p>"
            f"<p><small>{html.escape(self.recipe.name)} · trigger: "
            f"{html.escape(self.recipe.trigger_kind)} · state: "
            f"{html.escape(state)}</small></p>"
        )

    def _show_problem(self) -> None:
        """Why the saved settings cannot run yet, with the fix in the studio's terms: the
        check and the words the lab's Settings panel shows (`Studio.ready_settings`, as
        `recipe_detail`'s `settings_problem`), for settings Save stores but Start and the
        triggers refuse (a parameter with no value saved or declared is one)."""
        try:
            self.studio.ready_settings(self.recipe)
            self.settings_problem = None
        except InputError as exc:
            self.settings_problem = exc
        exc = self.settings_problem
        self.problem.value = (
            ""
            if exc is None
            else f'<div style="color:{THEME_COLOURS["error"]}">incomplete: '
            f"{html.escape(lab_text(exc.message, 'below'))}</div>"
            f"<div>fix: {html.escape(self._studio_fix(exc.field, exc.fix, 'below') or '')}</div>"
        )

    def _studio_fix(self, field: str | None, fix: str | None, where: str) -> str | None:
        """The fix for an error about `field` in the studio's terms, as the lab's settings
        form words it (`labFix` in ui/src/fixes.ts): a connection is made (with what each one
        the API's fix names needs; one chosen and deleted since, made again) or tested in the
        Connections panel and chosen in this form, a parameter set (never given) or corrected
        in its field (the API's fixes name CLI commands). `where` is where the form's fields
        are from the fix shown (above, below). Other fixes say the command lines they name in
        the studio's terms (`lab_text`). Each is said as the user's role can follow it (an
        operator's form has no Save, and the Connections panel no New, Edit or Test for
        them): asked of a role that can (`asked`), as the lab and the REST API ask it."""
        role = self.studio.role
        own = self._form_fix(field, fix, where)
        if own is not None:  # a change of the settings, or of a connection: Save's permission
            return roles.asked(role, [BUTTON_RULES["save"][0]], own)
        return fix and lab_text(asked(role, fix), where)

    def _form_fix(self, field: str | None, fix: str | None, where: str) -> str | None:
        """`_studio_fix`'s own words for a slot or a field of this form; None where it says
        the API's fix."""
        slot = field.removeprefix("connections.") if field else ""
        spec = self.recipe.metadata.get("connections", {}).get(slot) if slot != field else None
        if spec is not None:
            from ..connections import PLACEHOLDER

            kind = spec.get("type")
            found = self.studio.connections.list()
            if any(c.incomplete is not None and c.incomplete.fix == fix for c in found):
                return None  # it lacks a field: the API's fix, in the lab's terms, names it
            name = self.slot_connection(slot) or self.saved.get("connections", {}).get(slot)
            if name and not any(c.name == name for c in found):  # deleted: no test mends it
                return (
                    f"create {name} in the Connections panel, or choose another {kind} "
                    f"connection for {slot} under Connections {where}, then Save"
                )
            chosen = next((c for c in found if c.name == name and c.type == kind), None)
            if chosen is not None and chosen.status == PLACEHOLDER:
                return (
                    f"give {chosen.name} its secrets with Edit in the Connections panel (it was "
                    "imported without them), Test it, then try again"
                )
            if chosen is not None and chosen.status != "connected":
                return (
                    f"test {chosen.name} in the Connections panel (and correct its fields there "
                    "if the test fails), then try again"
                )
            if any(c.type == kind for c in found):
                return f"choose a {kind} connection for {slot} under Connections {where}, then Save"
            return _create_fix(slot, kind, fix, where)
        name = (field or "").removeprefix("parameters.").split(".")[0]
        if not name or name not in self.fields or (fix and SET_WITH_CLI not in fix):
            return None
        verb = "set" if fix and fix.startswith(NOT_GIVEN) else "correct"  # never given, or wrong
        return f"{verb} {name} {where}, then Save"

    def _refresh_picklists(self) -> None:
        for editor in self.fields.values():
            if editor._options is not None:
                editor.refresh_options()

    def _show_differences(self) -> None:
        """Lists the saved values the notebook's defaults differ from, as JSON as the user
        types them in the form (`null`, `{"b": 2.0}`), not in Python's notation."""
        saved = self.saved.get("parameters", {})
        notes, props = [], self.shown["parameters"]["properties"]
        for name, value in saved.items():
            default = props.get(name, {}).get("default")
            if name in props and value != default:
                notes.append(f"{name}: saved {as_json(value)}, notebook {as_json(default)}")
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        self.differences.value = (
            f"<p>Saved settings differ from the notebook's defaults:</p><ul>{items}</ul>"
            if notes
            else ""
        )

    # -- values ----------------------------------------------------------------------------

    def _kept(self, editor: FieldEditor) -> bool:
        """Whether the field holds a saved value as the form showed it (the user left it):
        then the stored value itself is sent, not the field's text read back, which may be
        another value (a list saved for an untyped parameter shows as text, a date saved as
        text before the parameter was a date shows an empty picker, as does a date and time
        with a time zone saved elsewhere since the form showed its picker: `_pickable`)."""
        return editor.name in self.saved.get("parameters", {}) and self._as_shown(editor)

    def _given(self, editor: FieldEditor) -> tuple[Any, bool]:
        """What the field sends, and whether it is text to parse (`-p`) or a typed value. A
        kept value that no longer fits (`"5"` saved before the parameter was an int) is
        read from the field's text when that text fits, as `-p` would read it."""
        if self._kept(editor):
            stored = self.saved["parameters"][editor.name]
            typed = editor.parse and editor.raw not in (None, "")
            if (
                not typed
                or self._problem(editor, stored, False) is None
                or self._problem(editor, editor.raw, True) is not None
            ):
                return stored, False
        return editor.raw, editor.parse

    def _problem(self, editor: FieldEditor, value: Any, parse: bool) -> str | None:
        """Why the field's value is refused by the CLI's rules (text read as `-p` reads it
        when `parse`); None when it fits."""
        try:
            coerce(
                self.recipe.schema,
                {editor.name: value},
                {editor.name} if parse else set(),
                recipe=self.recipe.name,
                projects=self.studio.workspace.projects,
                hidden=self.studio.held_secrets,  # masked as the CLI says it
            )
        except LpstudioError as exc:
            return _said(exc)
        return None

    def _sent(self, editor: FieldEditor) -> bool:
        """Whether the field's value is sent: not when it was emptied, whether a value was
        saved for it (`_cleared`: it is forgotten) or not (it sent "", saved over the
        notebook's default), as the lab's form does. A saved value the field shows as it was
        shown is unchanged, and kept (a saved "" too). A date picker is emptied only by "Use
        default": one left empty otherwise is sent, to be refused."""
        saved = self.saved.get("parameters", {})
        if editor.forget:
            return False  # "Use default": the notebook's default, a saved date forgotten
        if self._kept(editor):
            return True
        if editor.blank_date and not self._as_shown(editor):
            return True  # no choice of the user's: refused by `_unreadable`, never forgotten
        if editor.empty is not None and editor.raw == "":
            return False  # the empty choice: the notebook's default, a saved value forgotten
        # None is one of the choices of a nullable Literal, not an emptied field: sent as any
        # choice is, unless it is the default left as shown (or chosen back to).
        chosen = None in editor.schema.get("enum", ()) and not editor.parse
        if editor.raw in (None, "") and not chosen:  # emptied: the notebook's default
            return editor.name in saved and saved[editor.name] in (None, "")  # a saved "" kept
        if editor.name not in saved and "default" in editor.schema and self._as_shown(editor):
            return False  # the default it shows stays the notebook's, not a saved copy of it
        return not self._holds_default(editor)  # the notebook's default: a saved one forgotten

    def _holds_default(self, editor: FieldEditor) -> bool:
        """Whether the field was set to exactly the notebook's default, read as the CLI
        reads it (`7` in a number field is the default 7): nothing is stored for it, so a
        later change of the default applies (a drop-down's default value, as its empty
        choice)."""
        if "default" not in editor.schema:
            return False
        name, schema = editor.name, self.recipe.schema
        options = {"recipe": self.recipe.name, "projects": self.studio.workspace.projects}
        try:
            given = coerce(schema, {name: editor.raw}, {name} if editor.parse else set(), **options)
            default = coerce(schema, {name: editor.schema["default"]}, set(), **options)
        except LpstudioError:
            return False  # refused (its field says why), or a default the CLI would refuse
        return _same(given[name], default[name])

    def _as_shown(self, editor: FieldEditor) -> bool:
        """Whether the field holds what the form showed (the user left it)."""
        shown = getattr(self, "_shown", None)  # None while the form is built: as shown
        return shown is None or _same(self._entered()[editor.name], shown.get(editor.name))

    def _cleared(self) -> list[str]:
        """Saved values whose fields were emptied (a date's by "Use default"): forgotten on
        save, so the notebook's default stands again (as the lab form and `lpstudio settings
        --reset` do); and the connections of slots set to the automatic choice, as
        `connections.SLOT` (as the lab's form resets them)."""
        saved, chosen = self.saved.get("parameters", {}), self.saved.get("connections", {})
        slots = [f"connections.{s}" for s, p in self.slots.items() if s in chosen and p.value == ""]
        return [n for n, e in self.fields.items() if n in saved and not self._sent(e)] + slots

    def _check(self, editor: FieldEditor) -> str | None:
        """Checks one field with the CLI's rules; shows and returns its error."""
        if not self._sent(editor):
            editor.error.value = ""
            return None
        message = self._unreadable(editor) or self._problem(editor, *self._given(editor))
        editor.error.value = _error_html(message or "")
        return message

    def _unreadable(self, editor: FieldEditor) -> str | None:
        """Why an emptied date picker is refused: the browser sends a date typed in part as
        none too, and taking it for "no date" forgot the saved one (or saved None) without a
        word. "Use default" is the way back to the notebook's default."""
        if not editor.blank_date or self._as_shown(editor):
            return None
        saved = self.saved.get("parameters", {})
        default = editor.schema.get("default") if "default" in editor.schema else "its own value"
        forgets = f"forget the saved {saved[editor.name]} and " if editor.name in saved else ""
        what, example = FORMAT_HUMAN[str(editor.picker)]  # "a date", "2026-11-29"
        return _said(
            ParameterError(
                f"parameter '{editor.name}' expects {what} like {example}; its picker holds "
                f"none ({what} typed in part is read as none)",
                field=editor.name,
                fix=f"type or pick the whole {what.removeprefix('a ')}, or click Use default to "
                f"{forgets}use the notebook's default ({default})",
            )
        )

    def values(self) -> tuple[dict[str, Any], set[str]]:
        given = {n: self._given(e) for n, e in self.fields.items() if self._sent(e)}
        values = {name: value for name, (value, _) in given.items()}
        parse = {name for name, (_, parse) in given.items() if parse}
        return values, parse

    def errors(self) -> dict[str, str]:
        found = {}
        for name, editor in self.fields.items():
            message = self._check(editor)
            if message:
                found[name] = message
        if self.proactive is not None:
            self.proactive.refresh()
            if self.proactive.issues:  # they hold the body parameter's own refusal, and more
                found.pop(self.proactive.body_param or "", None)
            for issue in self.proactive.issues:
                found[f"body:{issue}"] = issue
            misfit = self.proactive.misfit
            if misfit is not None and not self.proactive.text:  # a text's is a warning
                found["body:handoff"] = _said(misfit)
        return found

    def connections(self) -> dict[str, str]:
        return {slot: picker.value for slot, picker in self.slots.items() if picker.value}

    def _say(self, message: str, error: bool = False) -> None:
        colour = THEME_COLOURS["error" if error else "success"]
        self.status.value = (
            f'<span style="color:{colour};white-space:pre-wrap">{html.escape(message)}</span>'
        )

    def _refused(self, button: str) -> bool:
        """Checks the button's rule again when it is used: a disabled button can still be
        clicked from code, and an admin may have changed the role since the form opened."""
        reason = refusal(self.studio.role, *BUTTON_RULES[button])
        if reason:
            self._say(reason, error=True)
        return reason is not None

    def _guarded(self, action: Callable[[], None], check_fields: bool = True) -> bool:
        """Runs `action` after checking the fields (when what it does uses them); shows the
        field errors, or the error `action` raised, instead."""
        try:
            self._check_path()
            if check_fields:  # before the fields are checked by parameters that are gone
                self._check_notebook()
        except LpstudioError as exc:
            self._refuse(exc)
            return False
        errors = self.errors() if check_fields else {}
        if errors:
            self._say("fix the fields first: " + "; ".join(errors.values()), error=True)
            return False
        for error in self.slot_errors.values():
            error.value = ""
        try:
            action()
        except LpstudioError as exc:
            self._refuse(exc)
            return False
        return True

    def _check_path(self) -> None:
        """Refuses what would act on the recipe once the form's notebook is no longer at
        the path `here()` showed it at (renamed or moved in JupyterLab while its kernel runs,
        or deleted): settings are kept by path, so the form would act on no recipe, or on one
        made at the old path since. The form's cell, run again, shows the notebook's own."""
        from ..kernel.runtime import notebook_path

        if self.notebook is None:
            return
        now = notebook_path()  # as JupyterLab's server has it now
        moved = Path(now).resolve() if now else None
        if moved == self.notebook and moved.is_file():
            return
        root = self.studio.workspace.root
        shown = _browsed(self.notebook, root)
        if moved is None or moved == self.notebook:
            raise InputError(
                f"this notebook is no longer at {shown}, where the form showed it: nothing "
                "was saved or run",
                fix="run the form's cell again (a notebook deleted since: File > Save "
                "Notebook first)",
            )
        where = _browsed(moved, root)
        raise InputError(
            f"this notebook was renamed or moved to {where} since the form showed the settings "
            f"of {shown}: nothing was saved or run",
            fix=f"run the form's cell again to show the form of {where}",
        )

    def _check_notebook(self) -> None:
        """Refuses what would save or run the fields once the notebook's parameters changed
        since the form showed them: its fields were checked by the parameters it had, and
        one renamed since was refused as unknown on every click."""
        changes = _parameter_changes(self.recipe, self.studio.recipe(self.recipe.name))
        if changes:
            raise InputError(
                f"the notebook's parameters changed since the form showed them: "
                f"{'; '.join(changes)}; nothing was saved or run",
                fix="click Refresh lists to show its fields as they are now (what you typed in "
                "the others is kept), then click again",
            )

    def _refuse(self, exc: LpstudioError) -> None:
        """Says the error with its fix in the studio's terms, and marks the field or
        connection it names."""
        fix = self._studio_fix(exc.field, exc.fix, "above")  # before: it names the choice
        exc = LpstudioError(exc.message, field=exc.field, fix=fix)  # as shown: not raised
        said = lab_text(exc.message, "above")
        self._say(f"{said}\nfix: {fix}" if fix else said, error=True)  # the fix on its own line
        field = exc.field or ""
        slot = field.removeprefix("connections.")
        if field.startswith("connections.") and slot in self.slots:
            self._offer_again()  # before it is marked: a slot offered anew is unmarked
        marked = _error_html(_said(exc))
        if field in self.fields:
            self.fields[field].error.value = marked
        elif field.startswith("connections.") and slot in self.slot_errors:
            self.slot_errors[slot].value = marked

    def _offer_again(self) -> None:
        """Each slot's connections as they are now, once a slot is refused (its connection
        may have been deleted elsewhere: it stayed offered, and chosen): the one chosen is
        kept unless it is gone, and the slot then shows what is saved, as the lab's
        `offerAgain` (ui/src/settings.ts) does."""
        names = {info.name for info in self.studio.connections.list()}
        for slot, picker in self.slots.items():
            self._show_slot(slot, picker.value if picker.value in {"", *names} else None)

    # -- buttons ---------------------------------------------------------------------------

    def _store(self) -> list[LpstudioError]:
        """Saves what the form shows; raises (and so stops Test, Run now and Start, which
        save first) when the store refuses it, e.g. a picked connection deleted meanwhile,
        or when the settings were changed elsewhere since the form showed them (saving
        would write the form's old values over them): it shows them as they are now, with
        what the user changed kept. Returns the save's warnings: a value saved for a
        parameter the notebook no longer declares, forgotten."""
        values, parse = self.values()
        try:
            warnings = self.studio.save_settings(
                self.recipe.name,
                values,
                parse=parse,
                connections=self.connections(),
                reset=self._cleared(),
                expected_revision=self.revision,
                fit_checked=True,  # by `ProactiveSection`, on the list this form holds
            )["warnings"]
        except ConflictError as exc:
            raise self._changed_elsewhere(exc) from None
        from ..settings import read_settings

        self.show_saved(read_settings(self.studio.store, self.recipe.name))
        return warnings

    def save(self) -> bool:
        """Stores the values and connection choices as the recipe's settings."""
        if self._refused("save"):
            return False

        def act() -> None:
            warnings = self._store()  # a forgotten value of a parameter gone
            problem = self.settings_problem
            warnings += self.proactive.warnings() if self.proactive is not None else []
            if problem is None and warnings:  # a text template's misfit, a channel's: saved
                said = "; ".join(_said(warning) for warning in warnings)
                self._say(f"saved by {self.studio.user}, but: {said}", error=True)
            elif problem is None:
                self._say(f"saved by {self.studio.user}")
            else:  # Save stores incomplete settings: Start, Run now and triggers refuse them
                self._say(
                    f"saved by {self.studio.user}, but these settings cannot run yet: "
                    f"{lab_text(problem.message, 'above')} (the fix is above)",
                    error=True,
                )

        return self._guarded(act)

    def test(self) -> None:
        """A dry run on one sample trigger event: shows what would be sent. It runs the
        settings its save stored, given no values, as Run now does."""
        if self._refused("test"):
            return

        def act() -> None:
            self._store()
            self.preview.value = ""  # an earlier Test's, until this one's comes

            def work() -> None:
                self._test_connections()
                self._say("testing on a sample event...")
                job = self.studio.run(self.recipe.name, test=True)
                self._finish(job, preview=True)

            self._background(work)

        self._guarded(act)

    def _test_connections(self) -> None:
        """Tests the connections the saved settings bind, as the lab's Test does: each picker
        then shows the state its test left, and one that failed says why under it (the
        test run goes on: it says what fails for want of it)."""
        self._say("testing the connections...")
        outcomes: dict[str, str] = {}
        for name in sorted({n for slot in self.slots if (n := self.slot_connection(slot))}):
            try:
                info = self.studio.connections.test(name)
            except LpstudioError as exc:  # a placeholder: nothing to test before its secrets
                outcomes[name] = lab_text(exc.message, "above")
                continue
            if info.status != "connected":
                status = lab_text(info.status_message or "", "above")
                outcomes[name] = f"connection {quoted(name)} is {info.status}: {status}"
        for slot, picker in self.slots.items():
            self._show_slot(slot, picker.value)
            name = self.slot_connection(slot)
            if name in outcomes:
                fix = self._studio_fix(f"connections.{slot}", None, "above")
                said = f"{outcomes[name]} (fix: {fix})" if fix else outcomes[name]
                self.slot_errors[slot].value = _error_html(said)

    def run_now(self) -> None:
        """Submits a real job and follows it until it ends. It runs the settings its save
        stored, given no values, as the lab's Run now: a rerun then runs the settings saved
        by then, and the job's version names the settings it ran."""
        if self._refused("run"):
            return

        def act() -> None:
            self._store()  # as Test does: the job uses the connections the pickers show
            future = self.studio.submit(self.recipe.name)
            self._say("queued")
            self.preview.value = ""  # a Test's: not what this job sends
            self._background(lambda: self._follow(future))

        self._guarded(act)

    def _lifecycle(self, verb: str) -> None:
        """Start or Stop. A builder's Start saves the form first (a started trigger runs with
        what the form shows); an operator's starts the saved settings, as the REST API's
        start does. Stop needs no valid fields."""
        if self._refused(verb):
            return
        saves = verb == "start" and refusal(self.studio.role, *BUTTON_RULES["save"]) is None

        def act() -> None:
            if saves:
                self._store()
            shown = self.revision
            getattr(self.studio, verb)(self.recipe.name)
            from ..settings import read_settings

            stored = read_settings(self.studio.store, self.recipe.name)
            if verb == "start":  # the connections it started with are pinned in its settings
                self.show_saved(stored)
            elif stored.revision == shown + 1:  # its own stop alone: no change elsewhere
                self.saved, self.revision = stored.settings, stored.revision
            self._show_state()
            self._say(f"{verb}ed" if verb == "start" else "stopped")

        self._guarded(act, check_fields=saves)

    def _background(self, work: Callable[[], None], load: bool = False) -> None:
        """Runs `work` in a thread. `close()` waits for Test and Run now (no job of the form
        is left running unseen), not for a pick list's `load` (its late answer is dropped)."""

        def guarded() -> None:
            try:
                work()
            except LpstudioError as exc:  # the user's to fix: said as _guarded says it
                self._refuse(exc)
            except Exception as exc:  # shown in the form, never lost in a thread
                self._say(f"{type(exc).__name__}: {exc}", error=True)

        thread = threading.Thread(target=guarded, daemon=True)
        if load:
            self._loads = [t for t in self._loads if t.is_alive()]
            self._loads.append(thread)
        else:
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = 120) -> None:
        """Waits for Test or Run now to finish, and for the pick lists to load (for scripts
        and tests)."""
        for thread in [*self._threads, *self._loads]:
            thread.join(timeout)

    def close(self) -> None:
        """Waits for Test and Run now started here (no job of the form is left running
        unseen), then closes the form and every widget in it. Pick lists still loading are
        not waited for: their answers are dropped."""
        for thread in self._threads:
            thread.join()
        self._close_built()
        for child in self.children:
            _close_tree(child)
        self.layout.close()
        super().close()

    def _follow(self, future: Any) -> None:
        job = future.result()
        self._finish(job, preview=False)

    def _finish(self, job: Any, preview: bool) -> None:
        self.last_job = job
        link = ""
        if job.output_path:
            output = self.studio.workspace.root / job.output_path
            link = f" · {notebook_link(output, 'output notebook')}"
        colour = THEME_COLOURS["success" if job.status == "succeeded" else "error"]
        detail = ""
        if job.error:  # a command line its error names (a recipe's own may) in the form's terms
            said, fix = said_and_fix(job.error)
            detail = f": {job.error.get('ename')}: {lab_text(said, 'above')}"
            detail += f"\nfix: {lab_text(fix, 'above')}" if fix else ""
        self.status.value = (
            f'<span style="color:{colour};white-space:pre-wrap">job {job.id} '
            f"{html.escape(job.status)}{html.escape(detail)}</span>{link}"
        )
        # A Test's dry run says what would be sent; a failed one's error is said above (it
        # kept no such answer), and a real job's outcome is its status and output notebook.
        self.preview.value = ""
        if preview and job.status == "succeeded":
            self.preview.value = self._previewed(job)

    def _previewed(self, job: Any) -> str:
        """A Test's requests, as its output notebook keeps them whatever the recipe kept of
        its actions' answers, then the result it kept (a result alone is what a connector
        that builds no request says it would do, e.g. the rows it would insert)."""
        sent = _requests(self.studio.workspace.root / job.output_path) if job.output_path else []
        result = job.result
        if isinstance(result, dict) and sent and result.get("requests") == sent:
            result = {k: v for k, v in result.items() if k != "requests"}  # shown above it
        parts = [("What would be sent", sent)] if sent else []
        if result is not None:
            parts.append(("Its result" if sent else "What would be sent", result))
        return "".join(
            f"<b>{title}</b><pre style='max-height:400px;overflow:auto'>"
            f"{html.escape(json.dumps(body, indent=1, ensure_ascii=False))}</pre>"
            for title, body in parts
        )
