"""The proactive message part of a recipe form, grouped as LivePerson's product groups it:
handoff, campaign name, skill, consumer id, and the message template with placeholders, a
live preview for a sample record, character counts and SMS segments.

The template is the recipe's first message-template parameter (`x-template`, as
`lpstudio.parameters` marks them): body variables (an object: LivePerson's {{1}}, {{2}}...,
one editor each) or one text (the payment reminder's `body_template`, edited in its own
field). Both get the same preview, and the same note on a placeholder an open record's
schema does not name.

When the handoff list gives the chosen handoff's message text (`extra["messages"]` and
its `placeholders`), the body variables are checked against its {{n}} placeholders by the
rule that `lpstudio settings`, the REST API and a run given them share
(`handoff_fit.body_misfit`, on the dry run's `templating.variables_misfit`), as LivePerson
checks each recipient's: a variable it has no placeholder for, or a placeholder with no
variable, is refused on Save with LivePerson's code (a text template, which the recipe
sends as {{1}}, is warned of); and the preview counts the handoff's SMS message, filled,
as LivePerson sends it. SMS are counted by the `characters_per_sms` of the connection the
handoff list comes from (its connector's default while none is chosen), read again whenever
that list loads (Refresh lists, another connection chosen). Unknown text checks nothing.
A recipe with a `channel` sends each recipient's address on it alone: a handoff on another
channel too is warned of by the dry run's rule (`templating.channels_misfit`), and saved
(the recipe decides what it sends).
"""

from __future__ import annotations

import html
import json
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..errors import ParameterError
from ..handoff_fit import HANDOFFS, TEXT_VARIABLE, body_misfit, body_param, picklist_param
from ..parameters import template_fix
from ..redaction import scrub_text
from ..templating import (
    CHARACTERS_PER_SMS,
    HANDOFF_PLACEHOLDER,
    channels_misfit,
    fields_used,
    lookup,
    numbered,
    preview,
    record_fields,
    required_fields,
    sms_segments,
)
from .common import THEME_COLOURS

if TYPE_CHECKING:
    from ..recipe import Recipe
    from .form import FieldEditor, RecipeForm

#: How many of the sample record's fields are shown while the template uses none.
_FIRST_FIELDS = 4
#: A placeholder's field that the sample record lacks (its value may be None).
_ABSENT = object()


def is_proactive(recipe: Recipe) -> bool:
    """Recipes whose parameters pick a LivePerson handoff get the grouped message form."""
    return picklist_param(recipe.schema["properties"], HANDOFFS) is not None


class ProactiveSection(w.VBox):
    """Handoff, campaign name, skill, consumer id and the body variables editor."""

    def __init__(self, form: RecipeForm, fields: dict[str, FieldEditor]) -> None:
        recipe = form.recipe
        props = recipe.schema["properties"]
        self.editable = form.editable  # read-only for a role that may not change settings
        self.held_secrets = form.studio.held_secrets
        self.fields_available, self.sample = record_fields(recipe.metadata.get("record"))
        self.fields_required = required_fields(recipe.metadata.get("record"))
        names = {
            "handoff": picklist_param(props, HANDOFFS),
            "campaign_name": "campaign_name" if "campaign_name" in props else None,
            "skill": picklist_param(props, "skills"),
            "consumer_id": next((p for p, s in props.items() if s.get("x-object-field")), None),
            "channel": "channel" if "channel" in props else None,
        }
        self.form = form
        self.handoff_param = names["handoff"]
        #: The connection slot the handoff list comes from, whose settings the preview counts by.
        self.handoff_slot = (
            props[names["handoff"]]["x-picklist"]["connection"] if names["handoff"] else None
        )
        self.channel_param = names["channel"]
        self.body_param = body_param(props)
        self.owned = {n for n in names.values() if n} | ({self.body_param} - {None})
        self.body_editor = fields.get(self.body_param) if self.body_param else None
        #: One text (`body_template: str`), shown in its own field, not body variables.
        self.text = self.body_editor is not None and self.body_editor.kind == "string"
        self.variables: dict[str, w.Textarea] = {}
        self.removers: dict[str, w.Button] = {}  # a Remove button per variable
        self.rows: dict[str, w.HBox] = {}  # a variable's editor beside its Remove button
        #: Why the body does not fit the handoff's placeholders (None: it does, or unknown);
        #: body variables are refused for it, a text template is warned of it.
        self.misfit: ParameterError | None = None
        #: Why the Channel cannot reach the handoff (None: it can, or unknown): warned of.
        self.channel_misfit: ParameterError | None = None
        self.fit = w.HTML()
        self.target = w.Dropdown(description="Insert into", options=[], disabled=not self.editable)
        self.preview = w.HTML()
        #: The sample record's values the preview is made from, above it.
        self.sample_shown = w.HTML()
        self.issues: list[str] = []
        #: The settings of the handoff list's connection (`slot_settings`), read when the
        #: preview first needs them after the list (re)loads: None until then.
        self._connection_settings: dict[str, Any] | None = None
        #: A refresh at a time: the handoff list loads in a thread, and refreshes too.
        self._refreshing = threading.RLock()
        self.variable_box = w.VBox()
        children: list[w.Widget] = [w.HTML("<b>Proactive message</b>")]
        for key in ("handoff", "campaign_name", "skill", "consumer_id", "channel"):
            if names[key]:
                children.append(fields[names[key]].box)
        if self.body_editor is not None:
            inserts = [self._insert_button(field) for field in self.fields_available]
            children += (
                self._text_editor(self.body_editor) if self.text else self._variables_editor()
            )
            children += [
                w.HBox(inserts, layout=w.Layout(flex_flow="row wrap")),
                self.sample_shown,
                self.preview,
            ]
            # Watched once the variables' editors hold the body: the handoff list loads in a
            # thread, and a refresh from it before then wrote an empty body into the field,
            # which the editors were then built from (the variables lost).
            if self.handoff_param:
                handoff = fields[self.handoff_param].input  # chosen, or its list loaded
                handoff.observe(self._handoff_changed, names=["value", "options"])
            if self.channel_param:
                channel = fields[self.channel_param].input
                channel.observe(lambda _change: self.refresh(), names="value")
            self.refresh()
        super().__init__(children)

    def _handoff_changed(self, change: dict[str, Any]) -> None:
        """Another handoff chosen, or its list (re)loading: of the connection chosen now,
        whose settings may have changed since (Refresh lists), so they are read again."""
        if change["name"] == "options":
            self._connection_settings = None
        self.refresh()

    def characters_per_sms(self) -> int | None:
        """How many characters LivePerson sends as one SMS, as the handoff list's connection
        sets it; None when its connector sets no such limit."""
        if self._connection_settings is None:
            slot = self.handoff_slot
            self._connection_settings = self.form.slot_settings(slot) if slot else {}
        value = self._connection_settings.get(CHARACTERS_PER_SMS)
        return None if value is None else int(value)

    def _variables_editor(self) -> list[w.Widget]:
        """Body variables: one editor each, written into the body parameter's field."""
        self.show_body()
        add = w.Button(description="Add variable", icon="plus", disabled=not self.editable)
        add.on_click(lambda _: self._add_variable(self._next_key(), ""))
        return [
            w.HTML(
                "<b>Body variables</b> <small>(LivePerson fills {{1}}, {{2}}... of the "
                "handoff's message with them)</small>"
            ),
            self.fit,
            self.variable_box,
            add,
            w.HBox([self.target, w.HTML("<small>placeholders:</small>")]),
        ]

    def _text_editor(self, editor: FieldEditor) -> list[w.Widget]:
        """One text template: its own field (with the CLI's refusal under it), previewed as
        it changes."""
        editor.input.observe(lambda _change: self.refresh(), names="value")
        return [editor.box, self.fit, w.HTML("<small>placeholders:</small>")]

    def show_body(self) -> None:
        """One editor per variable of the body parameter's value (when the form opens, and
        when it shows the saved settings); kept as they are when they hold it already."""
        if self.body_editor is None or self.text:
            return  # a text is its field's own value, previewed as it changes
        try:
            current = json.loads(self.body_editor.raw or "{}")
        except json.JSONDecodeError:
            current = {}
        if not isinstance(current, dict) or current == self.body():
            return
        for key in list(self.variables):
            self._drop(key)
        for key in sorted(map(str, current), key=numbered):
            self._add_variable(key, str(current[key]))
        if not current:
            self._show_variables()
            self.refresh()

    def _next_key(self) -> str:
        """The lowest number no variable has: {{1}} and {{3}} are followed by {{2}}, so the
        fix "give {{2}} a variable with Add variable" can be followed (and never by a second
        {{3}}, which would replace the first)."""
        taken = {int(key) for key in self.variables if key.isdigit()}
        return str(next(n for n in range(1, len(taken) + 2) if n not in taken))

    def _add_variable(self, key: str, text: str) -> None:
        area = w.Textarea(
            value=text,
            description=f"Variable {key}",
            disabled=not self.editable,
            layout=w.Layout(width="90%", height="70px"),
        )
        area.observe(lambda _change: self.refresh(), names="value")
        # Its text names it for a screen reader, as "Add variable" is; a button takes Tab.
        remove = w.Button(
            description=f"Remove variable {key}",
            icon="trash",
            tooltip=f"Take {{{{{key}}}}} out of the body variables",
            disabled=not self.editable,
            layout=w.Layout(width="auto"),
        )
        remove.on_click(lambda _: self._remove_variable(key))
        self.variables[key], self.removers[key] = area, remove
        self.rows[key] = w.HBox([area, remove])
        self._show_variables()
        self.target.value = key
        self.refresh()

    def _remove_variable(self, key: str) -> None:
        """A variable taken out: no longer sent (an emptied one is not sent either)."""
        if self.editable and key in self.variables:
            self._drop(key)
            self._show_variables()
            self.refresh()

    def _drop(self, key: str) -> None:
        """Closes a variable's editor, its Remove button and their row."""
        for widget in (self.variables.pop(key), self.removers.pop(key), self.rows.pop(key)):
            widget.close()

    def _show_variables(self) -> None:
        """The variables in their placeholders' order, one added in a gap among them too."""
        order = sorted(self.variables, key=numbered)
        self.variables = {key: self.variables[key] for key in order}
        self.variable_box.children = [self.rows[key] for key in order]
        self.target.options = order

    def _insert_button(self, field: str) -> w.Button:
        button = w.Button(
            description=f"{{{field}}}", disabled=not self.editable, layout=w.Layout(width="auto")
        )

        def insert(_: Any) -> None:
            if self.text and self.body_editor is not None:
                area: w.Widget | None = self.body_editor.input
            else:
                area = self.variables.get(self.target.value or "")
            if area is not None:
                area.value = f"{area.value}{{{field}}}"

        button.on_click(insert)
        return button

    def _with_fix(self, rendered: str, problems: list[str]) -> list[str]:
        """A variable's `problems`, the first with its fix as the CLI and REST give it: the
        form said "malformed template" and left how to write one to be guessed."""
        if not problems:
            return problems
        fix = template_fix(rendered, problems, self.fields_required, self.sample)
        return [f"{problems[0]} (fix: {fix})", *problems[1:]]

    def _masked(self, problems: list[str]) -> list[str]:
        """What is said of a template, masked as `coerce`'s refusal of it is: each quotes a
        placeholder as written, and the form's status joins them."""
        if not problems:
            return problems  # nothing said: the secrets are not read on each key typed
        hidden = self.held_secrets()
        return [scrub_text(problem, hidden) for problem in problems]

    def body(self) -> dict[str, str]:
        """The body variables to send: an emptied one is none (LivePerson would count it,
        and refuse every recipient when the handoff has no placeholder for it)."""
        return {key: area.value for key, area in self.variables.items() if area.value.strip()}

    def handoff(self) -> tuple[str, dict[str, Any]] | None:
        """The handoff the form shows (its empty choice: the notebook's default), and what
        its pick list says of it; None until the list has loaded, or when it lacks it."""
        if not self.handoff_param:
            return None
        editor = self.form.fields[self.handoff_param]
        value = editor.raw or editor.schema.get("default")
        extra = self.form.choice_extra(self.handoff_param, value)
        return None if extra is None else (str(value), extra)

    def warnings(self) -> list[ParameterError]:
        """What Save says but stores anyway: a text template's misfit, and a Channel that
        cannot reach the handoff (the recipe, not the form, decides what it sends)."""
        found = [self.misfit] if self.text and self.misfit is not None else []
        return found + ([self.channel_misfit] if self.channel_misfit is not None else [])

    def _check_fit(self, names: list[str]) -> None:
        """Whether the variables `names` are the chosen handoff's placeholders, when its
        text is known, and whether the Channel reaches it: `misfit` and `channel_misfit` say
        why not, with the fix, and `fit` shows them."""
        self.misfit = None
        chosen = self.handoff()
        expected = chosen[1].get("placeholders") if chosen else None
        if chosen is not None and isinstance(expected, list):
            self.misfit = self._misfit(chosen[0], [str(p) for p in expected], names)
        self.channel_misfit = self._channel_misfit(chosen)
        colour = THEME_COLOURS["warning" if self.text else "error"]  # a text's is a warning
        said = [(self.misfit, colour), (self.channel_misfit, THEME_COLOURS["warning"])]
        self.fit.value = "".join(
            f'<div style="color:{tint}">{html.escape(error.message)}<br>'
            f"fix: {html.escape(error.fix or '')}</div>"
            for error, tint in said
            if error is not None
        )

    def _channel_misfit(self, chosen: tuple[str, dict[str, Any]] | None) -> ParameterError | None:
        """Why the Channel cannot reach the chosen handoff, by the dry run's rule: the
        recipe gives each recipient an address on that channel alone, and LivePerson
        refuses every recipient without one on each channel of the handoff. None when it
        can, or when either is unknown."""
        channels = chosen[1].get("channels") if chosen else None
        if chosen is None or not self.channel_param or not isinstance(channels, list):
            return None
        editor = self.form.fields[self.channel_param]
        given = str(editor.raw or editor.schema.get("default") or "")
        code = channels_misfit([given], [str(c) for c in channels]) if given else None
        if code is None:
            return None
        label = str(editor.input.description or self.channel_param)
        other = f", or choose {label} {channels[0]}" if len(channels) == 1 else ""
        return ParameterError(
            f"{label} {given} cannot reach handoff {chosen[0]}: it is on "
            f"{', '.join(map(str, channels))}, and the recipe gives each recipient an address "
            f"on {given} alone, so LivePerson would refuse every recipient with {code}",
            field=self.channel_param,
            fix=f"choose a handoff on {given} alone{other}: the handoff drop-down shows each "
            "one's channels",
        )

    def _misfit(self, handoff: str, expected: list[str], names: list[str]) -> ParameterError | None:
        """Why variables `names` do not fit a handoff whose message has `expected`: the
        rule and wording `lpstudio settings` and the REST API refuse them with, in the
        form's labels and buttons."""
        if self.body_param is None:
            return None
        return body_misfit(handoff, expected, names, self.body_param, text=self.text, in_form=True)

    def refresh(self) -> None:
        """Writes the variables into the body parameter, checks them against the chosen
        handoff, and previews them (or the text): with the handoff's SMS text known, the
        message as LivePerson sends it, counted whole."""
        if self.body_editor is None:
            return
        with self._refreshing:  # the handoff list's load refreshes too
            if self.text:
                body = {"": str(self.body_editor.input.value or "")}
            else:
                body = self.body()
                self.body_editor.input.value = json.dumps(body, ensure_ascii=False)
            self._check_fit([TEXT_VARIABLE] if self.text else list(body))
            chosen = self.handoff()
            sms = (chosen[1].get("messages") or {}).get("sms") if chosen else None
            characters = self.characters_per_sms()
            rows = []
            filled: dict[str, str] = {}
            self.issues = []
            for key, template in body.items():
                # What `run` and `settings` refuse too; an open record's placeholder that its
                # schema does not name is said, and may be saved (the record may hold it).
                rendered, problems = preview(template, self.fields_required, self.sample)
                filled[key or TEXT_VARIABLE] = rendered
                open_record = not self.fields_required  # a closed one's problems say it all
                named = (
                    preview(template, self.fields_available, self.sample)[1] if open_record else []
                )
                problems, named = self._masked(problems), self._masked(named)
                errors = ""
                if not self.text:  # a text's field shows its refusal itself, in the CLI's words
                    said = self._with_fix(rendered, problems)
                    self.issues += [f"variable {key}: {p}" for p in said]
                    tint = THEME_COLOURS["error"]
                    errors = "".join(
                        f'<div style="color:{tint}">{html.escape(p)}</div>' for p in said
                    )
                tint = THEME_COLOURS["warning"]
                errors += "".join(
                    f'<div style="color:{tint}">{html.escape(p)} (not named by the record\'s '
                    "schema: each record must hold it, or its recipient fails)</div>"
                    for p in named
                    if p not in problems
                )
                label = f"<b>{{{{{html.escape(key)}}}}}</b> " if key else ""
                # Counted here when the message the handoff makes of it is unknown.
                counted = _counted(rendered, characters)
                note = "" if isinstance(sms, str) else f"<br><small>{counted}</small>"
                rows.append(f"<div>{label}{html.escape(rendered)}{note}{errors}</div>")
            if chosen is not None and isinstance(sms, str):
                message = _fill(sms, filled)
                rows.append(
                    f"<div><b>SMS of handoff {html.escape(chosen[0])}</b> {html.escape(message)}"
                    f"<br><small>{_counted(message, characters)}</small></div>"
                )
            self.preview.value = "".join(rows)
            self.sample_shown.value = _sample_caption(self.sample, fields_used(body.values()))


def _sample_caption(sample: dict[str, Any], used: list[str]) -> str:
    """The sample record's values that the placeholders take, so that the preview can be
    read against them; its first few fields while no placeholder takes one of its values."""
    shown = {name: lookup(sample, name, missing=_ABSENT) for name in used}
    shown = {name: value for name, value in shown.items() if value is not _ABSENT}
    if not shown:
        shown = dict(list(sample.items())[:_FIRST_FIELDS])
    text = ", ".join(f"{name}={value!r}" for name, value in shown.items())
    return f"<small>Preview for the sample record: {html.escape(text)}</small>"


def _counted(text: str, characters: int | None) -> str:
    """A text's characters and SMS, as the encoding counts them (UCS-2 takes an emoji as
    two characters), LivePerson sending up to `characters` as one, for the preview."""
    segments, encoding = sms_segments(text, characters)
    count = len(text.encode("utf-16-be")) // 2 if encoding != "gsm0338" else len(text)
    note = f"{count} characters, {segments} SMS ({encoding})"
    if segments > 1:  # over the connection's characters per SMS, or over 70 in UCS-2
        note += " · sent as several SMS"
    return html.escape(note)


def _fill(message: str, variables: dict[str, str]) -> str:
    """A handoff's message with its {{n}} filled, as LivePerson sends it; a placeholder
    with no variable stays as it is."""
    return HANDOFF_PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), message)
