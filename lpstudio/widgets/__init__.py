"""ipywidgets for recipes: the recipe forms, the gallery, job history and the dashboard.

The forms arrive with the widgets issue; this package exists so that templates and the
layout of the repository are stable from the start.
"""
