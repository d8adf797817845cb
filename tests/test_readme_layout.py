"""The README's Layout names every module and folder a new engineer finds in the package: a
module added without a word there is found by nobody who reads it first."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent
LAYOUT = (ROOT / "README.md").read_text().split("## Layout\n")[1].split("\n## ")[0]
#: The words of the Layout (module names, folders with their slash).
WORDS = set(re.findall(r"[\w.-]+(?:/[\w.-]+)*/?", LAYOUT))


def test_the_layout_names_every_module_of_the_package() -> None:
    # Twenty-two modules (pool, forkserver, packages, redaction, roles...) were in no line.
    modules = {p.stem for p in (ROOT / "lpstudio").glob("*.py")} - {"__init__"}
    assert modules - WORDS == set()


def test_the_layout_names_every_folder_of_the_project_and_the_package() -> None:
    # ui/ (the lab's TypeScript), jupyter-config/ and lpstudio/sandbox/ were in no line.
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    package = {p.parent.name for p in (ROOT / "lpstudio").glob("*/__init__.py")}
    folders = {f"{t}/" for t in top} | {f"lpstudio/{p}/" for p in package}
    # A folder is named by itself or by a folder in it (notebooks/templates/).
    assert {f for f in folders if not any(w.startswith(f) for w in WORDS)} == set()
