"""The proactive message part of a recipe form, grouped as LivePerson's product groups it:
handoff, campaign name, skill, consumer id, and the message template with placeholders, a
live preview for a sample record, character counts and SMS segments.

The template is the recipe's first message-template parameter (`x-template`, as
`lpstudio.parameters` marks them): body variables (an object: LivePerson's {{1}}, {{2}}...,
one editor each) or one text (the payment reminder's `body_template`, edited in its own
field). Both get the same preview, and the same note on a placeholder an open record's
schema does not name.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..redaction import scrub_text
from ..templating import preview, record_fields, required_fields, sms_segments

if TYPE_CHECKING:
    from ..recipe import Recipe
    from .form import FieldEditor, RecipeForm


def _picklist_param(recipe: Recipe, name: str) -> str | None:
    for param, spec in recipe.schema["properties"].items():
        picklist = spec.get("x-picklist")
        if isinstance(picklist, dict) and picklist.get("list") == name:
            return param
    return None


def is_proactive(recipe: Recipe) -> bool:
    """Recipes whose parameters pick a LivePerson handoff get the grouped message form."""
    return _picklist_param(recipe, "handoffs") is not None


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
            "handoff": _picklist_param(recipe, "handoffs"),
            "campaign_name": "campaign_name" if "campaign_name" in props else None,
            "skill": _picklist_param(recipe, "skills"),
            "consumer_id": next((p for p, s in props.items() if s.get("x-object-field")), None),
            "channel": "channel" if "channel" in props else None,
        }
        self.body_param = next(
            (
                p
                for p, s in props.items()
                if s.get("x-template") and fields[p].kind in ("object", "string")
            ),
            None,
        )
        self.owned = {n for n in names.values() if n} | ({self.body_param} - {None})
        self.body_editor = fields.get(self.body_param) if self.body_param else None
        #: One text (`body_template: str`), shown in its own field, not body variables.
        self.text = self.body_editor is not None and self.body_editor.kind == "string"
        self.variables: dict[str, w.Textarea] = {}
        self.target = w.Dropdown(description="Insert into", options=[], disabled=not self.editable)
        self.preview = w.HTML()
        self.issues: list[str] = []
        self.variable_box = w.VBox()
        children: list[w.Widget] = [w.HTML("<b>Proactive message</b>")]
        for key in ("handoff", "campaign_name", "skill", "consumer_id", "channel"):
            if names[key]:
                children.append(fields[names[key]].box)
        if self.body_editor is not None:
            inserts = [self._insert_button(field) for field in self.fields_available]
            sample = ", ".join(f"{k}={v!r}" for k, v in list(self.sample.items())[:4])
            children += (
                self._text_editor(self.body_editor) if self.text else self._variables_editor()
            )
            children += [
                w.HBox(inserts, layout=w.Layout(flex_flow="row wrap")),
                w.HTML(f"<small>Preview for the sample record: {html.escape(sample)}</small>"),
                self.preview,
            ]
            self.refresh()
        super().__init__(children)

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
            self.variable_box,
            add,
            w.HBox([self.target, w.HTML("<small>placeholders:</small>")]),
        ]

    def _text_editor(self, editor: FieldEditor) -> list[w.Widget]:
        """One text template: its own field (with the CLI's refusal under it), previewed as
        it changes."""
        editor.input.observe(lambda _change: self.refresh(), names="value")
        return [editor.box, w.HTML("<small>placeholders:</small>")]

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
        for area in self.variables.values():
            area.close()
        self.variables = {}
        for key in sorted(current, key=lambda k: int(k) if str(k).isdigit() else 0):
            self._add_variable(str(key), str(current[key]))
        if not current:
            self.variable_box.children = []
            self.target.options = []
            self.refresh()

    def _next_key(self) -> str:
        """The number after the highest: {{1}} and {{3}} are followed by {{4}}, never by a
        second {{3}} that would replace the first."""
        numbers = [int(key) for key in self.variables if key.isdigit()]
        return str(max(numbers, default=0) + 1)

    def _add_variable(self, key: str, text: str) -> None:
        area = w.Textarea(
            value=text,
            description=f"Variable {key}",
            disabled=not self.editable,
            layout=w.Layout(width="90%", height="70px"),
        )
        area.observe(lambda _change: self.refresh(), names="value")
        self.variables[key] = area
        self.variable_box.children = list(self.variables.values())
        self.target.options = list(self.variables)
        self.target.value = key
        self.refresh()

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

    def _masked(self, problems: list[str]) -> list[str]:
        """What is said of a template, masked as `coerce`'s refusal of it is: each quotes a
        placeholder as written, and the form's status joins them."""
        if not problems:
            return problems  # nothing said: the secrets are not read on each key typed
        hidden = self.held_secrets()
        return [scrub_text(problem, hidden) for problem in problems]

    def body(self) -> dict[str, str]:
        return {key: area.value for key, area in self.variables.items()}

    def refresh(self) -> None:
        """Writes the variables into the body parameter, and previews them (or the text)."""
        if self.body_editor is None:
            return
        if self.text:
            body = {"": str(self.body_editor.input.value or "")}
        else:
            body = self.body()
            self.body_editor.input.value = json.dumps(body, ensure_ascii=False)
        rows = []
        self.issues = []
        for key, template in body.items():
            # What `run` and `settings` refuse too; an open record's placeholder that its
            # schema does not name is said, and may be saved (the record may hold it).
            rendered, problems = preview(template, self.fields_required, self.sample)
            open_record = not self.fields_required  # a closed one's problems say it all
            named = preview(template, self.fields_available, self.sample)[1] if open_record else []
            problems, named = self._masked(problems), self._masked(named)
            segments, encoding = sms_segments(rendered)
            # Counted as the encoding counts: UCS-2 takes an emoji as two characters.
            count = (
                len(rendered.encode("utf-16-be")) // 2 if encoding != "gsm0338" else len(rendered)
            )
            note = f"{count} characters, {segments} SMS ({encoding})"
            if segments > 1:  # over 140 characters, or over 70 in UCS-2
                note += " · sent as several SMS"
            errors = ""
            if not self.text:  # a text's field shows its refusal itself, in the CLI's words
                self.issues += [f"variable {key}: {p}" for p in problems]
                errors = "".join(
                    f'<div style="color:#c62828">{html.escape(p)}</div>' for p in problems
                )
            errors += "".join(
                f'<div style="color:#8a6d00">{html.escape(p)} (not named by the record\'s '
                "schema: each record must hold it, or its recipient fails)</div>"
                for p in named
                if p not in problems
            )
            label = f"<b>{{{{{html.escape(key)}}}}}</b> " if key else ""
            rows.append(
                f"<div>{label}{html.escape(rendered)}"
                f"<br><small>{html.escape(note)}</small>{errors}</div>"
            )
        self.preview.value = "".join(rows)
