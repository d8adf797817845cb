"""The gallery: template recipes that users copy into their projects ("Try recipe").

Templates live in `notebooks/templates/` (packaged as `lpstudio/templates`; `$LPSTUDIO_TEMPLATES`
names another folder), are read-only, and may carry data files listed in
`metadata.lpstudio.files` that travel with the copy. Each template is read on its own: one
that is broken is reported with its error, and leaves the others listed and tried.
"""

from __future__ import annotations

import copy
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import nbformat

from .errors import InputError, LpstudioError, NotFoundError, RecipeError
from .recipe import Recipe
from .workspace import Workspace, runtime_folder

DEFAULT_GROUP = "LivePerson Proactive Recipe Templates"

#: Names a templates folder in place of lpstudio's own: a template author's, checked there
#: before it is added, and a test's.
TEMPLATES_VAR = "LPSTUDIO_TEMPLATES"


def templates_dir() -> Path:
    """`$LPSTUDIO_TEMPLATES`, else the packaged templates, else the repository's when running
    from a checkout."""
    if os.environ.get(TEMPLATES_VAR):
        return Path(os.environ[TEMPLATES_VAR])
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


@dataclass(frozen=True)
class BrokenTemplate:
    """A template the gallery cannot offer, with why: its file, the field and the fix."""

    name: str
    path: Path
    error: LpstudioError

    def describe(self) -> dict[str, Any]:
        """As `GET /connectors` says a broken connector: its name and its error's fields."""
        return {"name": self.name, "file": _file(self.path), **self.error.to_dict()}


@dataclass(frozen=True)
class Gallery:
    """The templates that can be tried, and the broken ones beside them."""

    templates: list[Template]
    broken: list[BrokenTemplate]

    def describe(self) -> dict[str, Any]:
        """The shape of `GET /gallery` and `lpstudio gallery --json`."""
        return {
            "templates": [t.describe() for t in self.templates],
            "broken": [b.describe() for b in self.broken],
        }


def _file(path: Path) -> str:
    return f"templates/{path.name}"


def _load(path: Path) -> Template:
    return Template(path.stem, path, Recipe.load(path, _file(path)))


def read_gallery(folder: Path | None = None) -> Gallery:
    """Every template, each read on its own: an author's typo in one (a bad cron or time
    zone) took every card and every Try down with it."""
    gallery = Gallery([], [])
    for path in sorted((folder or templates_dir()).glob("*.ipynb")):
        try:
            gallery.templates.append(_load(path))
        except LpstudioError as exc:
            gallery.broken.append(BrokenTemplate(path.stem, path, exc))
    return gallery


def find_template(name: str, folder: Path | None = None) -> Template:
    """The template `name`, the only one read: a broken one is refused with its own error."""
    paths = sorted((folder or templates_dir()).glob("*.ipynb"))
    for path in paths:
        if name in (path.stem, path.name):
            return _load(path)
    known = ", ".join(path.stem for path in paths)
    raise NotFoundError(
        f"no template named {name!r}; templates: {known}",
        field="template",
        fix="list them with `lpstudio gallery`",
    )


@contextmanager
def trying(workspace: Workspace) -> Iterator[None]:
    """Holds the workspace's Try recipe lock, in every process: picking a callable copy's
    free endpoint (`optin-2`) and writing the copy are one step, so two tries at once never
    both pick it (the later copy's Start would be refused for it)."""
    lock = runtime_folder(workspace.runtime) / "try-recipe.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # let go when the file is closed
        yield


def _write_new(target: Path, write: Callable[[Path], None]) -> bool:
    """Writes a file that must not exist yet, whole or not at all: `write` fills a temporary
    file beside it, which is then linked at `target` only if nothing is there (another try
    may have written it since it was checked). Whether `target` was written. On a file
    system without hard links (SMB, object storage mounted as a folder), `target` is created
    only if nothing is there, then filled."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise
        except OSError:  # no hard links here
            with target.open("xb") as created:
                created.write(tmp.read_bytes())
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def copy_template(template: Template, destination: Path, endpoint: str | None = None) -> Path:
    """Copies the notebook and its data files; checks every conflict before writing, and
    writes none over a file that appeared since (a try at the same time).
    `endpoint` replaces a callable template's `trigger.path` in the copy, whose kernel
    metadata is what its kernel reports here (`reported_kernel`)."""
    folder = destination.parent
    if destination.exists():
        raise _taken(destination)
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
            raise _clash(target)
    folder.mkdir(parents=True, exist_ok=True)
    for source in files:  # one there already is the same (checked above) or new since
        target = folder / source.name
        written = _write_new(target, partial(shutil.copyfile, source))
        if not written and target.read_bytes() != source.read_bytes():
            raise _clash(target)

    def write(tmp: Path) -> None:
        shutil.copyfile(template.path, tmp)
        notebook = nbformat.read(tmp, as_version=nbformat.NO_CONVERT)
        notebook.metadata.update(reported_kernel(notebook.metadata.get("kernelspec", {})))
        if endpoint is not None:
            notebook.metadata.lpstudio.trigger.path = endpoint
        nbformat.write(notebook, tmp)

    if not _write_new(destination, write):
        raise _taken(destination)
    return destination


def reported_kernel(kernelspec: dict[str, Any]) -> dict[str, Any]:
    """The notebook metadata JupyterLab writes as it opens a notebook of this kernel here:
    the installed spec's name, display_name and language, and the kernel's language_info
    (its kernel_info reply's). A copy holding them opens clean: the template's minimal ones,
    replaced, showed unsaved changes, whose save recorded a version nobody made. The
    language_info only of ipykernel on lpstudio's own interpreter (as IPythonKernel has
    it), none of a kernel not installed here: what another would report is not guessed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from .forkserver import forkable

    name = kernelspec.get("name")
    if not isinstance(name, str):
        return {}
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except (NoSuchKernel, OSError, ValueError):  # JupyterLab asks for a kernel, as before
        return {}
    found: dict[str, Any] = {
        "kernelspec": {"name": name, "display_name": spec.display_name, "language": spec.language}
    }
    if forkable(spec.argv):  # its argv alone: a spec's environment changes no language_info
        from ipykernel.ipkernel import IPythonKernel  # imports IPython: under a second, once

        found["language_info"] = copy.deepcopy(IPythonKernel.language_info)
    return found


def _taken(destination: Path) -> InputError:
    return InputError(
        f"{destination} already exists", field="name", fix="choose another --name or project"
    )


def _clash(target: Path) -> InputError:
    return InputError(
        f"{target} already exists with other content",
        field="project",
        fix="try the template into another project folder",
    )
