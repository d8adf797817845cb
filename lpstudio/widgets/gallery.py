"""`GalleryView`: the template cards, each with its "Try recipe" form.

"Try recipe" copies the template into a project folder through `Studio.try_template`,
which checks the folder and the name before writing anything; its error (with the fix)
is shown under the form. A broken template is a card that cannot be tried, showing its
error and fix; the others are offered as ever. Creating a recipe needs the REST API's
"build" permission (as `POST /gallery/try`): an operator sees the cards with Try recipe
disabled, and why.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..errors import LpstudioError
from ..studio import API_PATH, under_base_url
from .common import esc, lab_text, message, notebook_link, refusal, studio_argument

if TYPE_CHECKING:
    from ..gallery import BrokenTemplate, Template
    from ..studio import Studio

HIDDEN, SHOWN = "none", "flex"

#: Where JupyterHub tells a single-user server, which its kernels inherit, the base URL it
#: serves under (`/user/NAME/`): `JUPYTERHUB_SERVICE_PREFIX`, or `JPY_BASE_URL` from the
#: spawners of older hubs. A plain Jupyter server sets neither.
BASE_URL_VARS = ("JUPYTERHUB_SERVICE_PREFIX", "JPY_BASE_URL")

#: What "Try recipe" needs: the REST API's permission and action for `POST /gallery/try`.
TRY_RULE = ("build", "create recipes")


def reached_at(studio: Studio, link: str) -> str:
    """Where `link` (a recipe's endpoint, from `studio`) is reached from the kernel's server:
    under the studio's own `api_root` when it was given one; else under the base URL that
    JupyterHub gives the single-user server, and so its kernels (`BASE_URL_VARS`); else,
    as a plain Jupyter server tells its kernels nothing of its base URL, said to be under
    it. A bare /lpstudio/... led to 404 under JupyterHub's /user/NAME/."""
    if studio.api_root != API_PATH:
        return link
    base = next((os.environ[name] for name in BASE_URL_VARS if os.environ.get(name)), None)
    if base is not None:
        return under_base_url(link, base)
    return f"{link} (under the Jupyter server's base URL)"


def card_html(card: dict[str, Any]) -> str:
    """A template's title, description, trigger and connectors (all escaped)."""
    connectors = ", ".join(card["connectors"]) or "none"
    return (
        f'<h4 style="margin:0.2em 0">{esc(card["title"])}</h4>'
        f"<div>{esc(card['description'])}</div>"
        f"<div><b>Trigger</b>: {esc(card['trigger'])} &middot; "
        f"<b>Connectors</b>: {esc(connectors)}</div>"
    )


class TemplateCard(widgets.VBox):
    """One template: its description, the "Try recipe" button and the form it reveals."""

    def __init__(self, studio: Studio, template: Template) -> None:
        self.studio = studio
        self.template = template
        self.info = template.describe()
        self.try_button = widgets.Button(description="Try recipe", button_style="primary")
        self.project = widgets.Text(description="Project", placeholder="folder under projects/")
        # Its placeholder says what an emptied name gives, as the lab's dialog does.
        self.new_name = widgets.Text(
            value=template.name, description="Name", placeholder=template.name
        )
        self.create_button = widgets.Button(description="Create", button_style="success")
        self.result = widgets.HTML()
        self.form = widgets.VBox(
            [self.project, self.new_name, self.create_button], layout=widgets.Layout(display=HIDDEN)
        )
        self.try_button.on_click(lambda _button: self.toggle())
        self.create_button.on_click(lambda _button: self.submit())
        reason = refusal(studio.role, *TRY_RULE)
        if reason:
            for button in (self.try_button, self.create_button):
                button.disabled = True
                button.tooltip = reason
        super().__init__(
            [widgets.HTML(card_html(self.info)), self.try_button, self.form, self.result],
            layout=widgets.Layout(border="1px solid #ddd", padding="0.5em", margin="0.3em 0"),
        )

    def _refused(self) -> bool:
        """The rule checked again at the click: a disabled button can be clicked from code,
        and the role may have changed since the gallery opened."""
        reason = refusal(self.studio.role, *TRY_RULE)
        if reason:
            self.result.value = message(reason, "error")
        return reason is not None

    def toggle(self) -> None:
        shown = self.form.layout.display != HIDDEN
        if not shown and self._refused():
            return
        self.form.layout.display = HIDDEN if shown else SHOWN

    def _name(self) -> str | None:
        """The name typed, trimmed; none when emptied (the template's, as its placeholder
        says); one of spaces alone as typed, which is refused (it was taken for empty)."""
        return self.new_name.value.strip() or self.new_name.value or None

    def submit(self) -> Path | None:
        """Copies the template; returns the new recipe's path, or None after an error."""
        if self._refused():
            return None
        try:
            path = self.studio.try_template(
                self.template.name, self.project.value.strip(), self._name()
            )
        except (LpstudioError, OSError) as exc:  # its fix in the form's terms (`--name`: Name)
            self.result.value = message(lab_text(str(exc)), "error")
            return None
        relative = path.relative_to(self.studio.workspace.root)
        self.result.value = (
            f"{message('created', 'success')}{notebook_link(path, relative.as_posix())}"
        )
        # A webhook's hook, or a callable's endpoint (its own when another recipe had the
        # template's path).
        trigger = self.studio.recipe_detail(self.studio.workspace.recipe_name(path))["trigger"]
        link = trigger.get("hook") or trigger.get("endpoint")
        if link:
            self.result.value += message(f"receives: POST {reached_at(self.studio, link)}")
        return path


def broken_card(broken: BrokenTemplate) -> widgets.HTML:
    """A template that cannot be tried: its file, and its error with the fix."""
    return widgets.HTML(
        f'<h4 style="margin:0.2em 0">{esc(broken.name)}</h4>'
        + message(f"{broken.describe()['file']} cannot be tried", "warning")
        + message(lab_text(str(broken.error)), "error"),
        layout=widgets.Layout(border="1px solid #ddd", padding="0.5em", margin="0.3em 0"),
    )


class GalleryView(widgets.VBox):
    """Every gallery template as a card; `cards` maps template names to their cards,
    `broken` the names of those that cannot be tried to theirs (their errors, at the end),
    and `notice` says why Try recipe is disabled, for a role that may not create recipes."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio_argument(studio, "GalleryView(studio)")
        gallery = studio.gallery()
        self.cards = {t.name: TemplateCard(studio, t) for t in gallery.templates}
        self.broken = {b.name: broken_card(b) for b in gallery.broken}
        groups: dict[str, list[TemplateCard]] = {}
        for card in self.cards.values():
            groups.setdefault(card.info["group"], []).append(card)
        reason = refusal(studio.role, *TRY_RULE)
        self.notice = widgets.HTML(message(reason, "warning") if reason else "")
        children: list[widgets.Widget] = [self.notice]
        for group, cards in groups.items():
            children += [widgets.HTML(f"<h3>{esc(group)}</h3>"), *cards]
        if self.broken:
            children += [widgets.HTML("<h3>Cannot be tried</h3>"), *self.broken.values()]
        super().__init__(children)
