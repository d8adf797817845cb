"""nbval over a new template needs no edit of the templates' conftest.

Its workspace had four hard-coded connections: a template declaring a slot of another name
(a `customers` CSV file) failed with "workspace /tmp/... has no connection 'customers'", in
a temporary workspace the author never sees. Every declared slot now gets a connection
named after it, of its type, a CSV slot the file its template ships under that name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from .servers import REPO

CUSTOMERS = "first_name,phone\nMaria,+33612345678\nAda,+14155550100\n"
GREET = """\
import lpstudio.kernel as lp

rows = lp.connection("customers").read_rows()
print(greeting, ", ".join(rows["first_name"]))"""


def birthday(folder: Path, said: str) -> Path:
    """A template with two slots none of the shipped ones declares (`customers`, a CSV file
    it ships, and `lp`, a LivePerson account), whose checked cell was saved saying `said`."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.lpstudio = {
        "title": "Birthday greeting",
        "connections": {
            "customers": {"type": "csv_file", "label": "Customers"},
            "lp": {"type": "liveperson_proactive", "label": "LivePerson account"},
        },
        "files": ["customers.csv"],
    }
    params = nbformat.v4.new_code_cell('greeting: str = "Happy birthday"  # the greeting')
    params.metadata.tags = ["parameters"]
    greet = nbformat.v4.new_code_cell(GREET, execution_count=2)
    greet.metadata.tags = ["nbval-check-output"]
    greet.outputs = [nbformat.v4.new_output("stream", name="stdout", text=said)]
    account = nbformat.v4.new_code_cell('lp.connection("lp")')
    nb.cells = [params, greet, account]
    path = folder / "birthday.ipynb"
    nbformat.write(nb, path)
    (folder / "customers.csv").write_text(CUSTOMERS)
    return path


def nbval(folder: Path) -> subprocess.CompletedProcess[str]:
    """`make test`'s nbval line over `folder`, with the templates' conftest above it, as
    notebooks/conftest.py is above notebooks/templates."""
    shutil.copyfile(REPO / "notebooks/conftest.py", folder.parent / "conftest.py")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            folder.name,
        ],
        cwd=folder.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=240,
    )


def test_nbval_gives_a_new_template_s_slots_their_connections(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    birthday(templates, "Happy birthday Maria, Ada\n")
    run = nbval(templates)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    # The checked cell is compared with its saved output: the CSV slot read the shipped file.
    birthday(templates, "Happy birthday Nobody\n")
    wrong = nbval(templates)
    assert wrong.returncode == 1 and "1 failed, 2 passed" in wrong.stdout, wrong.stdout
    assert "Happy birthday Maria, Ada" in wrong.stdout
