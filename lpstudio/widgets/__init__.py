"""ipywidgets for recipes: the recipe forms, the gallery, job history and the dashboard.

from lpstudio.widgets import RecipeForm, JobsView, Dashboard, GalleryView
RecipeForm.here()          # in a recipe opened in JupyterLab: its settings form
JobsView(studio)           # recent jobs, filters, rerun, links to output notebooks
Dashboard(studio, days=7)  # jobs per day, per recipe, proactive volumes, connections
GalleryView(studio)        # template cards with "Try recipe"

Each name is loaded on first use, as `lpstudio`'s are: every template opens with the form
cell, which in a job's fresh kernel must not pay for the dashboard's matplotlib or the
gallery's studio (about 0.5 s of imports, for a form that shows nothing there).
"""

from __future__ import annotations

from .. import lazy_names

#: Each public name, by the module it is loaded from on first use.
_HOMES = {
    "Dashboard": "dashboard",
    "GalleryView": "gallery",
    "JobsView": "jobs",
    "RecipeForm": "form",
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_names(__name__, _HOMES)
