"""ipywidgets for recipes: the recipe forms, the gallery, job history and the dashboard.

from lpstudio.widgets import RecipeForm, JobsView, Dashboard, GalleryView
RecipeForm.here()          # in a recipe opened in JupyterLab: its settings form
JobsView(studio)           # recent jobs, filters, rerun, links to output notebooks
Dashboard(studio, days=7)  # jobs per day, per recipe, proactive volumes, connections
GalleryView(studio)        # template cards with "Try recipe"
"""

from __future__ import annotations

from .dashboard import Dashboard
from .form import RecipeForm
from .gallery import GalleryView
from .jobs import JobsView

__all__ = ["Dashboard", "GalleryView", "JobsView", "RecipeForm"]
