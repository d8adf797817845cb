"""Names a file system takes that broke later: a very long one (every job failed unsaved),
one beginning with '-' (read as an option by the command lpstudio's own fixes gave), a
hidden one (listed and run, never opened, packed and then refused by import) and one
holding a backslash (packed by export, refused by import as altered). Each is refused where
it is made (Try recipe from the CLI and REST, JupyterLab's file browser), listed with its
`name_problem` where it is on disk already, and a long one runs.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from tests.conftest import write_recipe
from tests.servers import rest
from tests.test_unicode_names import contents, jp_root_dir  # noqa: F401 (a fixture)

#: A recipe name the file system takes, whose `<id>-<name>.ipynb` it does not.
LONG = "l" * 248


def rows(cli: Any) -> dict[str, dict[str, Any]]:
    listed = cli("recipes", "--json")
    assert listed.exit_code == 0, listed.output
    return {row["recipe"]: row for row in json.loads(listed.stdout)}


def test_a_recipe_with_a_very_long_name_runs_and_is_listed_saying_so(ws: Path, cli: Any) -> None:
    write_recipe(ws, f"long/{LONG}", metadata={"title": "long"})
    problem = rows(cli)[f"long/{LONG}.ipynb"]["name_problem"]
    assert "is 248 bytes in UTF-8, more than 100" in problem["message"], problem
    assert problem["fix"].startswith("rename it in JupyterLab's file browser"), problem

    ran = cli("run", f"long/{LONG}", "--json")
    assert ran.exit_code == 0, ran.output
    job = json.loads(ran.stdout)
    assert job["status"] == "succeeded", job
    output = Path(job["output_path"])
    assert output.is_file()
    assert output.name.startswith(f"{job['id']}-llll") and output.name.endswith("….ipynb")
    shown = cli("show", str(job["id"]))
    assert f"output:   {output}" in shown.output, shown.output


def test_try_refuses_a_name_beginning_with_dash_or_holding_a_backslash(ws: Path, cli: Any) -> None:
    """The name is said as typed: `a\\b` with one backslash (Python's repr doubled it)."""
    for option, name, cause, fix in (
        ("--project", "-z", "begins with '-', which a command reads", "remove the leading '-'"),
        ("--name", "a\\b", "holds '\\', which a package", "write '_' or '-' in its place"),
    ):
        args = ["--project", "p", "--name", "r"]
        args[args.index(option) + 1] = name
        said = cli("gallery", "try", "payment_reminder", *args)
        assert said.exit_code == 2, said.output
        assert f"'{name}': it {cause}" in said.output, said.output
        assert f"fix: {fix}" in said.output, said.output
    hidden = cli("gallery", "try", "payment_reminder", "--project", "p", "--name", "a\u200bb")
    assert "name 'a\\u200bb': it holds '\\u200b', a character" in hidden.output, hidden.output
    assert not (ws / "projects" / "p").exists()


async def test_rest_try_refuses_a_name_beginning_with_dash_or_holding_a_backslash(
    jp_fetch: Any, ws: Path
) -> None:
    for body, field, message in (
        ({"project": "-g", "name": "r"}, "project", "invalid project folder '-g': it begins"),
        ({"project": "g", "name": "a\\b"}, "name", "invalid recipe name 'a\\b': it holds '\\'"),
    ):
        code, answer = await rest(
            jp_fetch, "POST", "gallery", "try", body={"template": "payment_reminder", **body}
        )
        assert code == 400, answer
        assert answer["error"]["field"] == field, answer
        assert answer["error"]["message"].startswith(message), answer  # one backslash
    assert not (ws / "projects" / "g").exists()


def test_a_recipe_named_with_a_leading_dash_is_listed_and_its_fixes_paste(
    ws: Path, cli: Any
) -> None:
    """lpstudio's own fix, `lpstudio run -q/need.ipynb -p days VALUE`, was read as the
    option -q when pasted."""
    write_recipe(ws, "-q/need", parameters="days: int")
    problem = rows(cli)["-q/need.ipynb"]["name_problem"]
    assert "begins with '-', which a command reads as an option" in problem["message"]

    refused = cli("run", "projects/-q/need.ipynb")
    assert refused.exit_code == 2, refused.output
    command = re.search(r"`(lpstudio settings [^`]*)`", refused.output)[1]
    assert command == "lpstudio settings projects/-q/need.ipynb -p days VALUE", refused.output
    pasted = cli(*shlex.split(command.replace("VALUE", "3"))[1:])
    assert pasted.exit_code == 0, pasted.output
    assert cli("settings", "projects/-q/need.ipynb", "--json").stdout.count('"days": 3') == 1

    option = cli("run", "-q/need")
    assert option.exit_code == 2
    assert "a recipe whose name begins with '-' goes after its folder" in option.output


def test_hidden_notebooks_are_listed_saying_so_and_export_asks_their_rename(
    ws: Path, cli: Any, tmp_path: Path
) -> None:
    """Still recipes (one started keeps running, its jobs and versions found), each listed
    with the rename JupyterLab's file browser needs to show it; export refuses one before
    writing a package that import would refuse (its fix, export again, looped)."""
    write_recipe(ws, ".drafts/r")
    write_recipe(ws, "p/.hidden")
    write_recipe(ws, "p/shown")
    listed = rows(cli)
    assert sorted(listed) == [".drafts/r.ipynb", "p/.hidden.ipynb", "p/shown.ipynb"]
    for name, part in ((".drafts/r.ipynb", ".drafts"), ("p/.hidden.ipynb", ".hidden")):
        problem = listed[name]["name_problem"]
        assert f"{part!r}: it begins with '.', which hides it" in problem["message"], problem
        assert problem["fix"].endswith("remove the leading '.'"), problem
    assert listed["p/shown.ipynb"]["name_problem"] is None

    package = tmp_path / "p.zip"
    refused = cli("export", "p", "-o", str(package))
    assert refused.exit_code == 2, refused.output
    assert "'.hidden': it begins with '.'" in refused.output, refused.output
    assert "which an import of the package would refuse" in refused.output
    assert not package.exists()


async def test_rest_lists_a_hidden_notebook_with_its_rename(jp_fetch: Any, ws: Path) -> None:
    write_recipe(ws, ".drafts/r")
    write_recipe(ws, "p/shown")
    code, listed = await rest(jp_fetch, "GET", "recipes")
    assert code == 200
    problems = {row["recipe"]: row["name_problem"] for row in listed["recipes"]}
    assert "begins with '.', which hides it" in problems[".drafts/r.ipynb"]["message"]
    assert problems["p/shown.ipynb"] is None


def test_export_refuses_a_backslash_an_import_would_refuse(
    ws: Path, cli: Any, tmp_path: Path
) -> None:
    """Export packed `a\\b.ipynb`, and import then called its own package altered."""
    write_recipe(ws, "g2/a\\b")
    problem = rows(cli)["g2/a\\b.ipynb"]["name_problem"]
    assert "invalid name 'a\\b': it holds '\\'" in problem["message"], problem

    package = tmp_path / "g2.zip"
    refused = cli("export", "g2", "-o", str(package))
    assert refused.exit_code == 2, refused.output
    assert "which an import of the package would refuse" in refused.output
    assert "fix: rename it in JupyterLab's file browser" in refused.output
    assert not package.exists()


async def test_the_file_browser_makes_no_name_that_breaks_later(jp_fetch: Any, ws: Path) -> None:
    write_recipe(ws, "p/v1.2")
    for new, cause in (
        (f"{'k' * 245}.ipynb", "is 245 bytes in UTF-8, more than 100"),
        ("a\\b.ipynb", "'a\\b': it holds '\\'"),  # the name as typed: one backslash
        ("a%2Fb.ipynb", "holds '%2F', which a URL reads as '/'"),  # REST ran a/b.ipynb
    ):
        moved = await contents(
            jp_fetch, "PATCH", "projects/p/v1.2.ipynb", {"path": f"projects/p/{new}"}
        )
        assert moved.code == 409, moved.body
        assert cause in json.loads(moved.body)["message"]
    folder = await contents(jp_fetch, "PUT", "projects/-drafts", {"type": "directory"})
    assert folder.code == 409, folder.body  # a project's name starts a recipe's
    assert "begins with '-'" in json.loads(folder.body)["message"]
    top = await contents(jp_fetch, "PATCH", "projects/p/v1.2.ipynb", {"path": "projects/-x.ipynb"})
    assert top.code == 409, top.body
    # Further in, a '-' starts no command's word: a recipe or data file of a project is fine.
    inner = await contents(
        jp_fetch,
        "PUT",
        "projects/p/-raw.csv",
        {"type": "file", "format": "text", "content": "a,b\n"},
    )
    assert inner.code == 201, inner.body
    moved = await contents(  # into a new folder: each name of the path is held to it
        jp_fetch, "PATCH", "projects/p/v1.2.ipynb", {"path": "projects/p%41/v1.2.ipynb"}
    )
    assert moved.code == 409, moved.body
    assert "write it without a % before two hex digits, e.g. 'p41'" in moved.body.decode()
    fine = await contents(
        jp_fetch, "PATCH", "projects/p/v1.2.ipynb", {"path": "projects/p/v1-3.ipynb"}
    )
    assert fine.code == 200, fine.body


async def test_rest_says_a_dash_recipe_s_fix_by_its_route(jp_fetch: Any, ws: Path) -> None:
    """The CLI's fix writes the recipe after projects/; its route names it by its own."""
    write_recipe(ws, "-q/need", parameters="days: int")
    code, listed = await rest(jp_fetch, "GET", "recipes")
    assert code == 200
    assert "begins with '-'" in listed["recipes"][0]["name_problem"]["message"]
    code, refused = await rest(jp_fetch, "POST", "recipes", "-q/need.ipynb", "run", body={})
    assert code == 400, refused
    assert "/recipes/-q/need.ipynb/run" in refused["error"]["fix"], refused
    assert "projects/-q" not in refused["error"]["fix"], refused
