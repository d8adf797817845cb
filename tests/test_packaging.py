"""lpstudio installed as a package: `python -m build` makes an sdist of sources only, and a
wheel built from it, as `pip install lpstudio-X.tar.gz` builds one, has the studio built, the
licence, and no test file.

The sdist once carried 42 MB of a broken ui/node_modules and no wheel could be built from it;
a wheel built after a change to a table ui/src imports from lpstudio/ (lab_terms.json) kept
the old lab. npm is replaced here by a script that records its calls and writes the files
the build hook ensures: the real `npm install` and `npm run build:prod` take a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Far above the sources (1.8 MB), far below the 42 MB a shipped node_modules made.
SDIST_MAX_BYTES = 4_000_000

FAKE_NPM = """#!/bin/sh
echo "$*" >> "$NPM_CALLS"
if [ "$1" = run ]; then
    mkdir -p ../lpstudio/labextension/static
    echo '{"name": "lpstudio-studio"}' > ../lpstudio/labextension/package.json
    echo '/* built */' > ../lpstudio/labextension/static/style.js
fi
"""


def build(source: Path, outdir: Path, *args: str, env: dict[str, str] | None = None) -> Path:
    """The one file `python -m build` makes in `outdir` (emptied first), as a release does."""
    outdir.mkdir(exist_ok=True)
    for old in outdir.iterdir():
        old.unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "build", *args, "--outdir", str(outdir), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [made] = outdir.iterdir()
    return made


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(REPO, tmp_path_factory.mktemp("sdist"), "--sdist")


class FromSdist:
    """The sdist unpacked, with wheels built from it as pip builds one, npm faked."""

    def __init__(self, sdist: Path, folder: Path) -> None:
        with tarfile.open(sdist) as tar:
            tar.extractall(folder, filter="data")
        [self.tree] = folder.iterdir()
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        (bin_dir / "npm").write_text(FAKE_NPM)
        (bin_dir / "npm").chmod(0o755)
        self.calls = folder / "npm-calls"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "NPM_CALLS": str(self.calls),
        }
        self.outdir = folder / "dist"

    def wheel(self) -> tuple[Path, list[str]]:
        """A wheel built from the tree, with the npm commands its build ran."""
        self.calls.write_text("")
        made = build(self.tree, self.outdir, "--wheel", env=self.env)
        return made, self.calls.read_text().splitlines()


@pytest.fixture(scope="module")
def from_sdist(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> FromSdist:
    return FromSdist(sdist, tmp_path_factory.mktemp("from-sdist"))


def test_the_sdist_holds_the_sources_and_the_licence_only(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    for built in ("ui/node_modules/", "ui/lib/", "lpstudio/labextension/"):
        assert not [name for name in names if name.startswith(built)], built
    assert "ui/tsconfig.tsbuildinfo" not in names
    # What a wheel is built from: the studio's sources, the build step, the licence.
    for source in ("LICENSE", "ui/package-lock.json", "ui/src/index.ts", "ui_build.py"):
        assert source in names, source
    assert sdist.stat().st_size < SDIST_MAX_BYTES, sdist.stat().st_size


def test_a_wheel_built_from_the_sdist_has_the_lab_the_licence_and_no_test_file(
    from_sdist: FromSdist,
) -> None:
    wheel, npm = from_sdist.wheel()
    # The sdist has no lab: its wheel builds one.
    assert npm == ["install", "run build:prod"], npm
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
        metadata = zipped.read("lpstudio-0.1.0.dist-info/METADATA").decode()
    assert "lpstudio-0.1.0.dist-info/licenses/LICENSE" in names, names
    assert "License-File: LICENSE" in metadata
    lab = "lpstudio-0.1.0.data/data/share/jupyter/labextensions/lpstudio-studio/"
    assert lab + "package.json" in names and lab + "static/style.js" in names
    assert "lpstudio/templates/payment_reminder.ipynb" in names
    # nbval's conftest imports pytest, which the package does not install.
    assert not [name for name in names if name.endswith("conftest.py")], names


def test_a_change_to_a_table_the_lab_imports_rebuilds_the_lab(from_sdist: FromSdist) -> None:
    lab = from_sdist.tree / "lpstudio/labextension/package.json"
    if not lab.exists():  # run alone: the first wheel builds the lab
        from_sdist.wheel()
    assert from_sdist.wheel()[1] == [], "npm ran for a lab newer than its sources"
    # Edited after the lab was built (an mtime ahead, as no sleep can make it).
    later = time.time() + 60
    os.utime(from_sdist.tree / "lpstudio/lab_terms.json", (later, later))
    assert from_sdist.wheel()[1] == ["install", "run build:prod"]


def test_every_table_ui_src_imports_from_outside_ui_is_a_source_of_the_lab() -> None:
    """ui/src's imports of lpstudio/ files, as the build hook's staleness check needs them."""
    imported = {
        "lpstudio/" + name
        for ts in (REPO / "ui/src").glob("*.ts")
        for name in re.findall(r"from '\.\./\.\./lpstudio/([^']+)'", ts.read_text())
    }
    hatch = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]
    sources = hatch["build"]["targets"]["wheel"]["hooks"]["jupyter-builder"]["build-kwargs"][
        "sources"
    ]
    assert imported and imported <= set(sources), (imported, sources)
    assert all((REPO / source).exists() for source in sources), sources
