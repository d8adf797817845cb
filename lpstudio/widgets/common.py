"""What the widgets share: colours, escaping, links, charts, role rules, argument checks.

Everything shown in an HTML widget passes through `esc` (names, messages and errors come
from users). JupyterLab resolves a link in a notebook's output against the notebook's
folder, which is also its kernel's working folder; so `notebook_link` takes a notebook's
full path and links it from the working folder (`../../history/<day>/<job id>-<recipe>.ipynb`
from a recipe two folders deep), which opens it from any notebook of the workspace.

What a role may do is the REST API's rule (`lpstudio.roles`), read here, not restated:
`refusal` says why a control is disabled, and its handler refuses the same way, since a
disabled button can still be clicked from code; `asked` says a fix the role cannot carry
out as a request to a role that can.

The API's errors word their fixes for the command line; the widgets say them in the
studio's terms (Edit and Test in the Connections panel, a field of the form), as the lab
does, by the one table both read (`lab_terms.json`, `lab_text`).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
from datetime import datetime
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import roles
from ..errors import InputError
from ..jobstates import CANCELLED, FAILED, JOB_STATES, QUEUED, RUNNING, SUCCEEDED
from ..scalars import integral

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..studio import Studio

#: One colour per job status in the charts (matplotlib's names; the HTML's: `STATUS_TINTS`).
STATUS_COLOURS = {
    QUEUED: "grey",
    RUNNING: "blue",
    SUCCEEDED: "green",
    FAILED: "red",
    CANCELLED: "orange",
}


def _tint(variable: str, light: str) -> str:
    """The theme's colour `variable` mixed 70/30 with its strongest text colour (black in a
    light theme, white in a dark one): >= 4.5:1 on the output's background in both, which
    the theme's colour alone is not (the light theme's warning orange is 2.7:1 on white)."""
    return f"color-mix(in srgb, var({variable}, {light}) 70%, var(--jp-ui-font-color0, #000))"


#: The colours of the widgets' HTML (inline styles): JupyterLab's theme variables, which
#: resolve in a notebook's output, so a text stays readable on the dark themes' output
#: (#111) as on the light one, where fixed colours (#555, dark green) were not. The
#: fallbacks are the light theme's, for a page without them.
THEME_COLOURS = {
    "hint": "var(--jp-ui-font-color2, #616161)",
    "info": _tint("--jp-brand-color1", "#1976d2"),
    "success": _tint("--jp-success-color1", "#388e3c"),
    "warning": _tint("--jp-warn-color1", "#f57c00"),
    "error": _tint("--jp-error-color1", "#d32f2f"),
}

#: A job status's colour in the tables' HTML (`THEME_COLOURS`); the charts (matplotlib,
#: which reads no CSS) use `STATUS_COLOURS`.
STATUS_TINTS = {
    QUEUED: THEME_COLOURS["hint"],
    RUNNING: THEME_COLOURS["info"],
    SUCCEEDED: THEME_COLOURS["success"],
    FAILED: THEME_COLOURS["error"],
    CANCELLED: THEME_COLOURS["warning"],
}

#: The order statuses are listed and stacked in: a job's life, as the lab lists them.
STATUSES = JOB_STATES


#: A placeholder of a `lab_terms.json` rule's text: a group of its match, or `{where}`.
LAB_PLACEHOLDER = re.compile(r"\{(\d+|where)\}")


@functools.cache
def lab_terms() -> tuple[tuple[re.Pattern[str], str, str | None], ...]:
    """The rules of `lab_terms.json`, which the lab's `labText` (ui/src/fixes.ts) reads too:
    one table of the studio's terms, not a copy for each side; each with the one `where` it
    applies at, if it has one. ASCII: `\\w` and `\\b` as JavaScript reads them."""
    terms = json.loads(resources.files("lpstudio").joinpath("lab_terms.json").read_text("utf-8"))
    return tuple(
        (re.compile(rule["pattern"], re.ASCII), rule["lab"], rule.get("where"))
        for rule in terms["rules"]
    )


def lab_text(text: str, where: str = "in the recipe's Settings") -> str:
    """`text` (an error's message or fix, a connection's status) with the command lines and
    REST routes it names in the studio's terms, as the lab says them (`labText`); `where`
    the recipe's fields are from where it is shown (`above`, `below`, `in the Settings of
    shop/cart`), for a fix that is about them."""

    def filled(lab: str, match: re.Match[str]) -> str:
        return LAB_PLACEHOLDER.sub(
            lambda key: where if key[1] == "where" else match[int(key[1])] or "", lab
        )

    for pattern, lab, only in lab_terms():
        if only in (None, where):
            text = pattern.sub(functools.partial(filled, lab), text)
    return text


def esc(value: Any) -> str:
    """Text made safe for an HTML widget (None shows as empty)."""
    return "" if value is None else html.escape(str(value), quote=True)


def refusal(role: str, permission: str, action: str) -> str | None:
    """Why `role` may not `action` (which needs `permission`), in the REST API's words
    ("an operator cannot run recipes (ask an admin; ...)"); None when it may."""
    refused = roles.refusal(role, permission, action)
    return None if refused is None else f"{refused.message} ({refused.fix})"


def asked(role: str, fix: str) -> str:
    """`fix` (in the command line's terms) as a user of `role` can follow it: what it says to
    do that the role may not is asked of a role that may, by the REST API's rule for its
    own fixes (`lpstudio.server.fixes.for_role`: the route table knows what each needs)."""
    from ..server.fixes import for_role

    return for_role(fix, role) or fix


def count_argument(value: object, field: str, most: int, unit: str, example: str) -> int:
    """`value` as a whole number of `unit` from 1 to `most`, or an `InputError` naming
    `field` and the range (the REST API's bounds for the same query parameter)."""
    whole = integral(value)
    if whole is None or not 1 <= whole <= most:
        raise InputError(
            f"{field} must be a whole number of {unit} from 1 to {most}, got {value!r}",
            field=field,
            fix=f"pass {field} as an integer from 1 to {most}, e.g. {example}",
        )
    return whole


def studio_argument(value: object, made: str) -> Studio:
    """`value` as the Studio a widget shows, or an `InputError` naming `studio`: None or a
    workspace's path given instead raised AttributeError from inside the widget. `made`:
    how the widget is made with one, for the fix."""
    from ..studio import Studio

    if not isinstance(value, Studio):
        raise InputError(
            f"studio must be a Studio, got {value!r}",
            field="studio",
            fix=f"give a Studio: studio = lpstudio.Studio.open(PATH), then {made}",
        )
    return value


def status_badge(status: str) -> str:
    """A status in words, in its colour: the words say it to who cannot tell the colours."""
    colour = STATUS_TINTS.get(status, "inherit")
    return f'<span style="color:{colour};font-weight:bold">{esc(status)}</span>'


def notebook_link(path: str | Path, label: str | None = None) -> str:
    """An `<a>` to the notebook at `path` (absolute, or relative to the working folder, as
    `open` takes it) that opens it when clicked in the output of the notebook whose kernel
    works in this folder (see the module docstring). The link is quoted, so a `#` or `?` in
    a name is part of the path; the tooltip shows the path it leads to."""
    href = Path(os.path.relpath(path)).as_posix()
    return (
        f'<a href="{esc(quote(href))}" target="_blank" title="{esc(href)}">{esc(label or href)}</a>'
    )


def message(text: str, kind: str = "info") -> str:
    """A one-line note: info, success, warning or error (the text is escaped)."""
    colour = THEME_COLOURS[kind] if kind in ("success", "warning", "error") else "inherit"
    return f'<div style="color:{colour};white-space:pre-wrap">{esc(text)}</div>'


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def chart_label(text: str) -> str:
    """Matplotlib reads `$...$` as math; user text must show as typed."""
    return text.replace("$", r"\$")


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes. Figures are built with `Figure()`, never through pyplot,
    so no backend or global figure list is involved and nothing needs closing."""
    buffer = BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
