"""No second name under `projects/` that differs from one there only in how its accents are
written, through Jupyter's contents API.

A Mac writes `été` decomposed (`e` and a combining accent, NFD) where lpstudio writes it
composed (NFC): uploaded, copied, renamed or made in JupyterLab's file browser beside
`rappel été.ipynb`, a decomposed `rappel été.ipynb` was a second recipe with the same name
in every listing, its jobs and audit entries named as the first's. The pre-save hook (which
a new file, a folder, an upload and a copy pass through) and a guard on `rename` refuse
such a name with a 409 naming the existing one, as `gallery try` refuses it
(`checks.distinct_name`); so is a new name Try refuses that breaks later (`_bad_name`: a
leading '-' directly under projects/, a backslash, over 100 bytes, a percent-escape),
whose jobs, commands, package or REST route failed. Case is left alone here: Jupyter
names new files itself (`Untitled.ipynb` beside a `untitled.ipynb`), and a rename may
change only a name's case.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checks import (
    check_file_name,
    check_not_option,
    check_unescaped,
    composed,
    look_alike,
    look_alike_refused,
)
from ..errors import InputError
from .readonly import Refused, guard, served_file

if TYPE_CHECKING:
    from .app import LpstudioApp


class LookAlikeNames:
    """Refuses, on one contents manager, a new file or folder under the served workspace's
    `projects/` whose name is a look-alike of one beside it."""

    def __init__(self, app: LpstudioApp) -> None:
        self.app = app

    def install(self, contents_manager: Any) -> None:
        """Registers the pre-save hook, and guards the instance's `rename` (a move), which
        saves nothing."""
        cm = contents_manager
        cm.register_pre_save_hook(self.refuse_save)

        def rename(old_path: str, new_path: str) -> None:
            if composed(old_path.strip("/")) != composed(new_path.strip("/")):  # a mend
                self.refuse(new_path, cm)

        guard(cm, "rename", rename)

    def refuse_save(
        self, model: dict[str, Any], path: str, contents_manager: Any, **_: Any
    ) -> None:
        """Jupyter's pre-save hook: a save at a look-alike's path answers 409 (Jupyter
        re-raises a hook's HTTPError), nothing written. A save of a file there, whatever
        its name, is its own."""
        self.refuse(path, contents_manager)

    def refuse(self, path: str, contents_manager: Any) -> None:
        """Raises the 409 of `path` (an API path) when a part of it under `projects/` that
        is not there yet is a look-alike of an entry beside it (`look_alike`, case aside):
        Jupyter writes the name as sent, so a save of a file there, whatever its name, is
        that file's, and a new one in a folder named before names were composed is new."""
        workspace = getattr(self.app, "lpstudio_workspace", None)
        file = served_file(contents_manager, path)
        if workspace is None or file is None:
            return
        folder = workspace.projects.resolve()
        try:
            rel = Path(file.parent.resolve(), file.name).relative_to(folder)
        except (OSError, RuntimeError, ValueError):  # outside, a loop of links, a NUL
            return
        for index, part in enumerate(rel.parts):
            if not (folder / part).exists():
                refused = _bad_name(part, index == len(rel.parts) - 1, index == 0)
                other = look_alike(folder, part, case=False) if folder.is_dir() else None
                if other is not None:
                    refused = look_alike_refused(part, other, "path", "name", case=False)
                if refused is not None:
                    raise Refused(409, f"{path.strip('/')}: {refused.message}. fix: {refused.fix}")
            folder /= part


def _bad_name(part: str, last: bool, first: bool) -> InputError | None:
    """The refusal of a new name under `projects/` that breaks later, as Try recipe refuses
    it (`check_file_name`, `check_unescaped`, `check_not_option` when `first`, directly
    under projects/; a notebook's without `.ipynb`): a leading '-'
    that a command reads as an option, a backslash no package carries, one longer than an
    import takes, a percent-escape the REST API decodes into another name. A hidden name is
    Jupyter's to refuse (`allow_hidden`), and is no recipe."""
    if part.startswith("."):
        return None
    name = part.removesuffix(".ipynb") if last else part
    try:
        check_file_name(name, "path", "name", "rename it")
        check_unescaped(name, "path", "name")
        if first:  # directly under projects/: the start of a recipe's name
            check_not_option(name, "path", "name")
    except InputError as exc:
        return exc
    return None
