"""nbval runs the templates by hand, against a sandbox workspace.

A template run by hand finds its connections in the workspace named by
`$LPSTUDIO_WORKSPACE` and only dry-runs its actions. nbval starts one kernel per notebook
when the notebook's first cell runs, and the kernel inherits this process's environment.
nbval's cells are not pytest functions, so fixtures never run for them: the workspace is
made in `pytest_configure` instead, before any kernel starts, and removed at the end.

By hand, a slot's connection is the workspace's of the slot's name: it has one for every
slot the notebooks nbval runs declare (`metadata.lpstudio.connections`), of the slot's type,
so a new template's nbval run needs no edit here. A LivePerson or Shopify slot points at
the sandbox, a CSV slot at the file its template ships named after it (`customers.csv` for
`customers`, listed in its `files`), else at a new one.

It sits above templates/, which the wheel installs as lpstudio/templates: a package user
has no pytest, and the gallery copies only notebooks and the files they list.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lpstudio.errors import InputError
from lpstudio.gallery import read_gallery
from lpstudio.sandbox import Sandbox, sandbox_connections
from lpstudio.studio import Studio

ENV_VAR = "LPSTUDIO_WORKSPACE"
#: The fields of a slot's connection of a type the sandbox does not serve (nor a CSV file).
FIELDS: dict[str, dict[str, Any]] = {"http": {}}


class SandboxWorkspace:
    """A sandbox on a thread, a workspace whose connections point at it, and the variable
    that makes kernels use that workspace."""

    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.folder = Path(tempfile.mkdtemp(prefix="lpstudio-nbval-"))
        self.previous = os.environ.get(ENV_VAR)

    def start(self, folders: set[Path]) -> None:
        """Makes the workspace, with a connection for each slot the notebooks in `folders`
        declare."""
        url = self.sandbox.start()
        root = self.folder / "ws"
        # Adds the connections `liveperson` and `shopify`, pointing at the sandbox.
        with Studio.init(root, accept_terms=True, admin="nbval", sandbox=url) as studio:
            for slot, (type_, fields, where) in slot_connections(folders, root, url).items():
                try:
                    studio.connections.add(slot, type_, fields, "nbval")
                except InputError as exc:
                    raise pytest.UsageError(
                        f"{where} slot {slot!r} ({type_}): no connection for nbval: {exc}\n"
                        f"  fix: give its fields in FIELDS[{type_!r}] of {__file__}"
                    ) from None
        os.environ[ENV_VAR] = str(root)

    def stop(self) -> None:
        if self.previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = self.previous
        self.sandbox.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def notebook_folders(config: pytest.Config) -> set[Path]:
    """The folders of the notebooks this run collects (`notebooks/templates`, or a notebook
    given alone, whose folder is read for its data files as the gallery reads it)."""
    folders = set()
    for arg in config.args:
        path = config.invocation_params.dir / arg.split("::")[0]
        if path.is_dir():
            found = path.rglob("*.ipynb")
            folders |= {nb.parent for nb in found if ".ipynb_checkpoints" not in nb.parts}
        else:
            folders.add(path.parent)
    return folders


def slot_connections(
    folders: set[Path], root: Path, url: str
) -> dict[str, tuple[str, dict[str, Any], str]]:
    """The connection each slot of the notebooks in `folders` gets in the workspace at `root`
    (beside those `lpstudio init --sandbox` makes): its type, fields and the template that
    declares it. A CSV file a template ships is copied to the workspace's `data/`, where a
    connection's file must be."""
    initial = sandbox_connections(url)  # made by `init --sandbox`: slot -> (type, fields)
    sandbox = dict(initial.values())
    made = {slot: type_ for slot, (type_, _) in initial.items()}
    found: dict[str, tuple[str, dict[str, Any], str]] = {}
    templates = (t for folder in sorted(folders) for t in read_gallery(folder).templates)
    for template in templates:  # a broken one fails its own cells
        meta = template.recipe.metadata
        where = f"template {template.path.name}:"
        for slot, spec in meta.get("connections", {}).items():
            type_ = spec["type"]
            if made.setdefault(slot, type_) != type_:
                raise pytest.UsageError(
                    f"{where} slot {slot!r} is {type_}, another template's {made[slot]}\n"
                    "  fix: rename one of the slots: a slot's connection is named after it"
                )
            if slot in found or slot in initial:
                continue
            if type_ == "csv_file":
                fields = {"path": f"data/{slot}.csv"}
                if f"{slot}.csv" in meta.get("files", []):
                    (root / "data").mkdir(exist_ok=True)
                    shutil.copyfile(template.path.parent / f"{slot}.csv", root / fields["path"])
            else:
                fields = sandbox.get(type_, FIELDS.get(type_, {}))
            found[slot] = (type_, fields, where)
    return found


_KEY = pytest.StashKey[SandboxWorkspace]()


def pytest_configure(config: pytest.Config) -> None:
    nbval = config.getoption("nbval", False) or config.getoption("nbval_lax", False)
    # Under xdist the controller runs no notebook: each worker makes its own workspace.
    controller = config.getoption("numprocesses", None) and not hasattr(config, "workerinput")
    if nbval and not controller:
        workspace = SandboxWorkspace()
        workspace.start(notebook_folders(config))
        config.stash[_KEY] = workspace


def pytest_unconfigure(config: pytest.Config) -> None:
    workspace = config.stash.get(_KEY, None)
    if workspace is not None:
        workspace.stop()
