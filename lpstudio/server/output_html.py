"""A job's output notebook as a static HTML page that looks like the notebook and cannot act.

The page holds user data and outputs nobody reviewed, so it is served under its own policy
(`OUTPUT_HTML_CSP`) rather than the API's `default-src 'none'` (which would block the inline
styles that make it look like a notebook), and rendered without scripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

#: The policy of a job's output notebook served as HTML. The page holds user data (event
#: fields, API answers, anything a cell printed) and outputs nobody reviewed (HTML a cell
#: displayed), so it is a document that cannot act: its own (opaque) origin, which never
#: shares the user's cookies or the server's XSRF token; no script, form, frame or plugin;
#: no request anywhere (styles and images are inline, as nbconvert writes them). It keeps
#: only what nbconvert's page needs to look like the notebook: inline styles and images.
OUTPUT_HTML_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
        "sandbox",
    ]
)

#: nbconvert's JupyterLab page without its scripts: require.js, MathJax, Mermaid and the
#: widget manager come from CDNs, and none may run under `OUTPUT_HTML_CSP` (they would only
#: fail and tell the user's browser console, and the CDN, that the page was opened).
_OUTPUT_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

#: Output kinds in nbconvert's order, minus those that only a script shows (JavaScript, a
#: widget's view): such an output shows its text (a widget's `repr`) instead.
_OUTPUT_PRIORITY = [
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/vnd.mermaid",
    "text/latex",
    "image/png",
    "image/jpeg",
    "text/plain",
]


def render_output_html(notebook: NotebookNode) -> str:
    """An output notebook, as read once and checked by the route, as a static HTML page
    (see `OUTPUT_HTML_CSP`)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    exporter = HTMLExporter(
        config=Config({"NbConvertBase": {"display_data_priority": _OUTPUT_PRIORITY}}),
        extra_loaders=[DictLoader({"lpstudio-output.html.j2": _OUTPUT_TEMPLATE})],
        template_file="lpstudio-output.html.j2",
    )
    html, _ = exporter.from_notebook_node(notebook)
    return html
