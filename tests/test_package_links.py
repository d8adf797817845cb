"""A package imported into a project folder that holds a link: nothing is written through
it. A link in the way of a recipe, a data file or a folder the import creates (outside the
workspace, or elsewhere under projects/, where the file would have another recipe's name) is
refused whole, naming the package's file and the fix, whether it was there when the package
was checked or appeared before the files moved.

A real workspace, the CLI in-process and a real `lpstudio serve` on loopback.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lpstudio import packages
from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import serving
from tests.test_packages import answer, invoke, refused, state
from tests.test_server import assert_error

MANIFEST = "lpstudio-package.json"


def package(tmp_path: Path, recipes: dict[str, list[str]], data: bytes = b"OVERWRITTEN") -> bytes:
    """A package as `lpstudio export` writes one: each recipe (its path in the package) with
    the data files it lists, each file holding `data`."""
    notebook = write_recipe(tmp_path / "made", "flow").read_bytes()
    members = {}
    for rel, files in recipes.items():
        members[rel] = notebook
        for name in files:
            members[str(Path(rel).parent / name)] = data
    manifest = {
        "format": 1,
        "folder": "shop",
        "recipes": {rel: {"files": files, "settings": {}} for rel, files in recipes.items()},
        "connections": {},
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        zipped.writestr(MANIFEST, json.dumps(manifest))
        for rel, content in members.items():
            zipped.writestr(f"project/{rel}", content)
    return out.getvalue()


def contents(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under `folder` (a folder as None)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A folder outside the workspace, holding data.csv, that the server may write to."""
    folder = tmp_path / "OUT"
    folder.mkdir()
    (folder / "data.csv").write_text("ORIGINAL\n")
    return folder


@pytest.fixture
def shop2(ws: Path) -> Path:
    """projects/shop2 with its recipe real.ipynb."""
    write_recipe(ws, "shop2/real")
    return ws / "projects/shop2"


def import_refused(ws: Path, zipped: bytes, *options: str) -> dict[str, Any]:
    """The error of `lpstudio import` of `zipped` into shop2, which must be refused."""
    path = ws.parent / "pkg.zip"
    path.write_bytes(zipped)
    return refused(invoke(ws, "import", str(path), "--into", "shop2", *options, "--json"))


@pytest.mark.parametrize("leads", ["outside", "projects"])
def test_a_folder_linked_in_the_project_is_refused_and_nothing_written_through_it(
    ws: Path, tmp_path: Path, out: Path, shop2: Path, leads: str
) -> None:
    if leads == "projects":  # another project's folder: the recipe would be named as its
        out = ws / "projects/other"
        out.mkdir()
        (out / "data.csv").write_text("ORIGINAL\n")
    (shop2 / "sub").symlink_to(out, target_is_directory=True)
    zipped = package(tmp_path, {"sub/deep/evil.ipynb": ["data.csv"]})
    there, before = contents(out), state(ws)

    for options in (("--replace",), ()):
        error = import_refused(ws, zipped, *options)

        assert error["field"] == "recipes.shop2/sub/deep/evil"
        assert error["message"] == (
            "projects/shop2/sub is a link, where the package writes shop2/sub/deep/evil.ipynb: "
            "nothing is written through a link"
        )
        assert error["fix"] == (
            "remove the link projects/shop2/sub, or import it --into another folder"
        )
        assert contents(out) == there  # no file, no folder deep/
        assert state(ws) == before


def test_a_file_linked_outside_is_neither_replaced_nor_written_through(
    ws: Path, tmp_path: Path, out: Path, shop2: Path
) -> None:
    (out / "real.ipynb").write_text("ORIGINAL NOTEBOOK\n")
    (shop2 / "real.ipynb").unlink()
    (shop2 / "real.ipynb").symlink_to(out / "real.ipynb")
    (shop2 / "data.csv").symlink_to(out / "data.csv")
    there, before = contents(out), state(ws)

    recipe = import_refused(ws, package(tmp_path, {"real.ipynb": []}), "--replace")
    data = import_refused(ws, package(tmp_path, {"new.ipynb": ["data.csv"]}), "--replace")
    # The same bytes as the linked file's: still not written where the link is.
    same = import_refused(ws, package(tmp_path, {"new.ipynb": ["data.csv"]}, b"ORIGINAL\n"))

    assert recipe["field"] == "recipes.shop2/real"
    assert recipe["message"].startswith("projects/shop2/real.ipynb is a link, where")
    assert data["field"] == same["field"] == "files.shop2/data.csv"
    assert "remove the link projects/shop2/data.csv" in data["fix"]
    assert contents(out) == there
    assert (shop2 / "real.ipynb").is_symlink() and (shop2 / "data.csv").is_symlink()
    assert state(ws) == before


@pytest.mark.parametrize(
    ("after", "field"),
    [
        ("_plan", "recipes.shop2/sub/evil"),  # refused by the check under the lock
        ("_check_again", "files.shop2/sub/data.csv"),  # by the move: data files go first
    ],
)
def test_a_link_made_while_the_import_runs_is_refused_with_nothing_written(
    ws: Path,
    tmp_path: Path,
    out: Path,
    shop2: Path,
    monkeypatch: pytest.MonkeyPatch,
    after: str,
    field: str,
) -> None:
    """Someone replaces the project's folder sub/ by a link once the package was checked (or
    checked again under the store's lock): the import is refused; the data file it had
    already moved into place is taken back."""
    (shop2 / "sub").mkdir()
    before = state(ws)
    real: Callable[..., Any] = getattr(packages, after)

    def then_linked(*args: Any) -> Any:
        done = real(*args)
        (shop2 / "sub").rmdir()
        (shop2 / "sub").symlink_to(out, target_is_directory=True)
        return done

    monkeypatch.setattr(packages, after, then_linked)
    there = contents(out)
    zipped = package(tmp_path, {"top.ipynb": ["top.csv"], "sub/evil.ipynb": ["data.csv"]})

    error = import_refused(ws, zipped, "--replace")

    assert error["field"] == field
    assert error["message"].startswith("projects/shop2/sub is a link, where the package writes")
    assert contents(out) == there
    (shop2 / "sub").unlink()
    (shop2 / "sub").mkdir()
    assert state(ws) == before  # top.csv, moved first, is gone; no settings saved


def test_the_rest_api_refuses_the_reviewers_package(
    ws: Path, tmp_path: Path, out: Path, shop2: Path
) -> None:
    (shop2 / "sub").symlink_to(out, target_is_directory=True)
    zipped = package(tmp_path, {"sub/evil.ipynb": ["data.csv"]})
    there = contents(out)

    with serving(ws) as served:
        before = state(ws)
        answers = [
            served.api(
                "alice",
                "POST",
                "/packages",
                params={"into": "shop2", **replace},
                content=zipped,
                headers={"Content-Type": "application/zip"},
            )
            for replace in ({"replace": "true"}, {})
        ]

    elsewhere = "post it again with into=FOLDER (another folder)"  # the REST API's terms
    for said in answers:
        error = assert_error(said, 400, "recipes.shop2/sub/evil")
        assert error["fix"] == f"remove the link projects/shop2/sub, or {elsewhere}"
    assert contents(out) == there
    assert state(ws) == before


def test_a_workspace_whose_projects_folder_is_a_link_imports_as_before(
    tmp_path: Path, out: Path
) -> None:
    """Links above the folder imported into (projects/ on a disk of its own) are no link on
    the way: the import writes where projects/ really is."""
    root = tmp_path / "linked"
    Studio.init(root, accept_terms=True, admin="alice").close()
    (root / "projects").rmdir()
    (root / "projects").symlink_to(out, target_is_directory=True)
    path = tmp_path / "pkg.zip"
    path.write_bytes(package(tmp_path, {"sub/flow.ipynb": ["rows.csv"]}))

    imported = answer(invoke(root, "import", str(path), "--into", "shop2", "--json"))

    assert [r["recipe"] for r in imported["recipes"]] == ["shop2/sub/flow.ipynb"]
    assert (out / "shop2/sub/rows.csv").read_bytes() == b"OVERWRITTEN"


@pytest.mark.parametrize("into", ["lnk2", "lnk2/sub"])
def test_an_import_into_a_folder_linked_outside_says_to_remove_the_link(
    ws: Path, tmp_path: Path, out: Path, into: str
) -> None:
    """Its fix said to "copy the file into .../projects in place of the link": it is a
    folder, and the README says to remove the link or import into another folder."""
    (ws / "projects/lnk2").symlink_to(out, target_is_directory=True)
    path = tmp_path / "pkg.zip"
    path.write_bytes(package(tmp_path, {"flow.ipynb": ["rows.csv"]}))
    there, before = contents(out), state(ws)

    error = refused(invoke(ws, "import", str(path), "--into", into, "--json"))

    assert error["field"] == "--into", error
    assert error["message"].startswith("`--into`: projects/lnk2 is a link"), error
    assert error["fix"] == "remove the link projects/lnk2, or import it --into another folder"
    assert contents(out) == there
    assert state(ws) == before


def test_an_export_of_a_folder_linked_outside_says_to_copy_the_folder(
    ws: Path, tmp_path: Path, out: Path
) -> None:
    (ws / "projects/lnk2").symlink_to(out, target_is_directory=True)

    error = refused(invoke(ws, "export", "lnk2", "-o", str(tmp_path / "x.zip"), "--json"))

    assert error["fix"] == f"copy the folder into {ws / 'projects'} in place of the link", error
