"""The gallery: template recipes that users copy into their projects ("Try recipe").

Templates live in `notebooks/templates/` (packaged as `lpstudio/templates`), are read-only,
and may carry data files listed in `metadata.lpstudio.files` that travel with the copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .errors import InputError, NotFoundError, RecipeError
from .recipe import Recipe

DEFAULT_GROUP = "LivePerson Proactive Recipe Templates"


def templates_dir() -> Path:
    """The packaged templates, or the repository's when running from a checkout."""
    packaged = Path(__file__).parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "notebooks" / "templates"


@dataclass(frozen=True)
class Template:
    """A gallery card: the template's recipe plus where it is."""

    name: str
    path: Path
    recipe: Recipe

    def describe(self) -> dict[str, Any]:
        meta = self.recipe.metadata
        return {
            "name": self.name,
            "title": self.recipe.title,
            "description": meta.get("description", ""),
            "group": meta.get("group", DEFAULT_GROUP),
            "trigger": self.recipe.trigger_kind,
            "connectors": sorted({c["type"] for c in meta.get("connections", {}).values()}),
            "files": meta.get("files", []),
        }


def list_templates(folder: Path | None = None) -> list[Template]:
    folder = folder or templates_dir()
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        found.append(Template(path.stem, path, Recipe.load(path, f"templates/{path.name}")))
    return found


def find_template(name: str, folder: Path | None = None) -> Template:
    templates = list_templates(folder)
    for template in templates:
        if template.name == name or template.path.name == name:
            return template
    known = ", ".join(t.name for t in templates)
    raise NotFoundError(
        f"no template named {name!r}; templates: {known}",
        field="template",
        fix="list them with `lpstudio gallery`",
    )


def copy_template(template: Template, destination: Path, endpoint: str | None = None) -> Path:
    """Copies the notebook and its data files; checks every conflict before writing.
    `endpoint` replaces a callable template's `trigger.path` in the copy."""
    folder = destination.parent
    if destination.exists():
        raise InputError(
            f"{destination} already exists",
            field="name",
            fix="choose another --name or project",
        )
    files = [template.path.parent / name for name in template.recipe.metadata.get("files", [])]
    for source in files:
        if not source.is_file():
            raise RecipeError(
                f"template {template.name} lists a missing file {source.name}",
                field="metadata.lpstudio.files",
                fix="ship the file beside the template or remove it from the list",
            )
        target = folder / source.name
        if target.exists() and target.read_bytes() != source.read_bytes():
            raise InputError(
                f"{target} already exists with other content",
                field="project",
                fix="try the template into another project folder",
            )
    folder.mkdir(parents=True, exist_ok=True)
    for source in files:
        if not (folder / source.name).exists():
            shutil.copyfile(source, folder / source.name)
    tmp = destination.with_name(f".{destination.name}.tmp")
    if endpoint is None:
        shutil.copyfile(template.path, tmp)
    else:
        notebook = nbformat.read(template.path, as_version=nbformat.NO_CONVERT)
        notebook.metadata.lpstudio.trigger.path = endpoint
        nbformat.write(notebook, tmp)
    tmp.replace(destination)
    return destination
