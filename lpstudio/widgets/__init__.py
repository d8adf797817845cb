"""ipywidgets for recipes: the recipe forms, the gallery, job history and the dashboard.

from lpstudio.widgets import RecipeForm
RecipeForm.here()          # in a recipe opened in JupyterLab: its settings form
"""

from __future__ import annotations

from .form import RecipeForm

__all__ = ["RecipeForm"]
