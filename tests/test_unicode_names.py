"""One name however its accents are written.

A Mac (Finder, some input methods, a zip made there) writes `é` decomposed (NFD: `e` and a
combining accent) where lpstudio writes it composed (NFC). The two look the same on screen
and are other bytes: a name typed so was "not found" (the error showing the same name), an
import made a second recipe beside the one it was to replace, JupyterLab's file browser a
second recipe listed under the same name, and `users role` a second user.
"""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lpstudio.studio import Studio
from tests.conftest import write_recipe
from tests.servers import rest

NFC = "campañas été/rappel été"
#: The recipe's path under the workspace, its name as a Mac writes it.
LOOK_ALIKE = f"projects/campañas été/{unicodedata.normalize('NFD', 'rappel été')}.ipynb"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_a_recipe_typed_with_decomposed_accents_is_the_recipe(ws: Path, cli: Any) -> None:
    write_recipe(ws, NFC)
    write_recipe(ws, nfd("vieux/café"))  # written so before names were composed

    shown = cli("settings", nfd(NFC), "--json")
    assert shown.exit_code == 0, shown.output
    assert cli("jobs", "--recipe", nfd(NFC)).exit_code == 0
    legacy = cli("settings", nfd("vieux/café"), "--json")
    assert legacy.exit_code == 0, legacy.output  # found as it is on disk
    with Studio.open(ws, user="alice") as studio:
        assert studio.recipe(nfd(NFC)).name == f"{NFC}.ipynb"


def test_two_recipes_whose_names_look_the_same_are_listed_saying_so(ws: Path, cli: Any) -> None:
    """Two made before such a name was refused (or by a terminal): each row says so, and
    which one to rename, the names on screen being the same."""
    write_recipe(ws, NFC)
    write_recipe(ws, "campañas été/otra")
    (ws / LOOK_ALIKE).write_bytes((ws / "projects" / f"{NFC}.ipynb").read_bytes())

    listed = cli("recipes")
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("has the same name on screen as another recipe") == 2
    assert (
        "    fix: rename this one in JupyterLab's file browser, to a name of its own"
        in listed.output
    )
    assert (
        "    fix: rename the other in JupyterLab's file browser, to a name of its own"
        in listed.output
    )
    rows = {row["recipe"]: row for row in json.loads(cli("recipes", "--json").stdout)}
    assert rows["campañas été/otra.ipynb"]["name_problem"] is None
    assert (
        "this one's accents"
        in rows[LOOK_ALIKE.removeprefix("projects/")]["name_problem"]["message"]
    )


def test_a_user_named_with_decomposed_accents_is_that_user(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LPSTUDIO_USER", "alice")
    assert cli("users", "role", "josé", "operator").exit_code == 0
    assert cli("users", "role", nfd("josé"), "analyst").exit_code == 0
    monkeypatch.setenv("LPSTUDIO_USER", nfd("josé"))  # as a Mac's login passes it on
    assert cli("recipes").exit_code == 0

    monkeypatch.setenv("LPSTUDIO_USER", "alice")
    assert cli("users", "list").stdout == "alice\tadmin\njosé\tanalyst\n"


#: A recipe as a Mac's file manager (or a checkout or sync from one) wrote it: its file's
#: name decomposed, or its folder's.
WRITTEN_ON_A_MAC = [
    f"campañas été/{nfd('rappel été')}",
    f"{nfd('campañas été')}/rappel été",
]


def test_a_name_typed_composed_runs_the_recipe_written_decomposed(ws: Path, cli: Any) -> None:
    for on_disk in WRITTEN_ON_A_MAC:
        write_recipe(ws, on_disk)
        listed = [row["recipe"] for row in json.loads(cli("recipes", "--json").stdout)]
        assert listed == [f"{on_disk}.ipynb"]

        ran = cli("run", NFC, "--json")  # as a keyboard types it
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)["recipe"] == listed[0]
        assert cli("settings", f"projects/{NFC}.ipynb", "--json").exit_code == 0
        jobs = json.loads(cli("jobs", "--recipe", NFC, "--json").stdout)
        assert [job["recipe"] for job in jobs] == listed  # under the name `recipes` shows
        (ws / "projects" / f"{on_disk}.ipynb").unlink()
        (ws / "projects" / on_disk).parent.rmdir()


def test_a_name_typed_composed_of_two_look_alikes_is_refused_naming_both(
    ws: Path, cli: Any
) -> None:
    """Neither is the composed name typed: running either could be the wrong campaign."""
    write_recipe(ws, f"campañas été/{nfd('rappel été')}")
    write_recipe(ws, f"campañas été/{nfd('rappel é')}té")  # its second `é` composed

    refused = cli("run", NFC, "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["message"].startswith(f"recipe {NFC} could be "), error
    assert "differ only in how their accents are written" in error["message"], error
    assert "JupyterLab's file browser" in error["fix"], error
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_a_deleted_recipe_written_decomposed_lists_its_jobs_by_its_composed_name(
    ws: Path, cli: Any
) -> None:
    """Its jobs are stored under its name on disk, decomposed; they outlive it."""
    on_disk = WRITTEN_ON_A_MAC[0]
    write_recipe(ws, on_disk)
    ran = json.loads(cli("run", NFC, "--json").stdout)
    (ws / "projects" / f"{on_disk}.ipynb").unlink()

    listed = json.loads(cli("jobs", "--recipe", NFC, "--json").stdout)
    assert [job["id"] for job in listed] == [ran["id"]]
    with Studio.open(ws, user="alice") as studio:
        assert [job.id for job in studio.jobs(recipe=NFC)] == [ran["id"]]
        assert [job.id for job in studio.jobs(recipe=nfd(NFC))] == [ran["id"]]


def test_studio_runs_the_recipe_written_decomposed_by_its_composed_name(ws: Path) -> None:
    for on_disk in WRITTEN_ON_A_MAC:
        write_recipe(ws, on_disk)
        with Studio.open(ws, user="alice") as studio:
            job = studio.run(NFC)
            assert job.status == "succeeded", job.error
            assert job.recipe == f"{on_disk}.ipynb"
            assert [j.id for j in studio.jobs(recipe=NFC)] == [job.id]
        (ws / "projects" / f"{on_disk}.ipynb").unlink()
        (ws / "projects" / on_disk).parent.rmdir()


def decomposed_package(package: Path) -> Path:
    """The package as a Mac re-zips it: its members and manifest's names decomposed."""
    out = package.with_name("mac.zip")
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(out, "w") as mac:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "lpstudio.json":
                manifest = json.loads(data)
                manifest["folder"] = nfd(manifest["folder"])
                manifest["recipes"] = {nfd(k): v for k, v in manifest["recipes"].items()}
                data = json.dumps(manifest).encode()
            mac.writestr(nfd(info.filename), data)
    return out


def test_a_package_made_on_a_mac_replaces_the_recipe_of_its_name(ws: Path, cli: Any) -> None:
    write_recipe(ws, NFC)
    package = ws.parent / "p.zip"
    assert cli("export", "campañas été", "-o", str(package)).exit_code == 0
    mac = decomposed_package(package)

    replaced = cli("import", str(mac), "--into", nfd("campañas été"), "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert [r["recipe"] for r in json.loads(replaced.stdout)["recipes"]] == [f"{NFC}.ipynb"]
    assert [p.name for p in (ws / "projects" / "campañas été").iterdir()] == ["rappel été.ipynb"]
    fresh = cli("import", str(mac), "--json")  # into the folder it names, now there
    assert fresh.exit_code == 2 and "--replace" in fresh.output  # the recipe exists: it is one


def test_an_import_beside_a_look_alike_on_disk_is_refused_naming_it(ws: Path, cli: Any) -> None:
    write_recipe(ws, NFC)
    package = ws.parent / "p.zip"
    assert cli("export", "campañas été", "-o", str(package)).exit_code == 0
    (ws / "projects" / "campañas été" / "rappel été.ipynb").rename(
        ws / "projects" / "campañas été" / nfd("rappel été.ipynb")
    )

    refused = cli("import", str(package), "--replace", "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert "only in case or in how its accents are written" in error["message"], error
    assert "JupyterLab's file browser" in error["fix"], error
    assert len(list((ws / "projects" / "campañas été").iterdir())) == 1


@pytest.fixture
def jp_root_dir(ws: Path) -> Path:
    """Jupyter serves the workspace, as `lpstudio serve` does."""
    return ws


async def contents(jp_fetch: Any, method: str, path: str, body: Any = None) -> Any:
    """A request of JupyterLab's file browser (alice's) to the contents API."""
    options: dict[str, Any] = {"method": method, "headers": {"X-Test-User": "alice"}}
    if body is not None:
        options["body"] = json.dumps(body)
    return await jp_fetch("api", "contents", *path.split("/"), raise_error=False, **options)


async def test_the_rest_api_reads_a_decomposed_name_as_the_recipe(jp_fetch: Any, ws: Path) -> None:
    write_recipe(ws, NFC)
    code, answer = await rest(jp_fetch, "GET", "recipes", nfd(f"{NFC}.ipynb"))
    assert code == 200, answer
    assert answer["recipe"] == f"{NFC}.ipynb"
    jobs = await jp_fetch(
        "lpstudio",
        "api",
        "v1",
        "jobs",
        params={"recipe": nfd(NFC)},
        headers={"X-Test-User": "alice"},
    )
    assert jobs.code == 200, jobs.body


@pytest.mark.parametrize("on_disk", WRITTEN_ON_A_MAC)
async def test_the_rest_api_runs_the_recipe_written_decomposed_by_its_composed_name(
    jp_fetch: Any, ws: Path, on_disk: str
) -> None:
    write_recipe(ws, on_disk)
    code, answer = await rest(jp_fetch, "POST", "recipes", f"{NFC}.ipynb", "run", body={})
    assert code in (200, 201, 202), answer
    assert answer["recipe"] == f"{on_disk}.ipynb", answer
    code, shown = await rest(jp_fetch, "GET", "recipes", f"{NFC}.ipynb")
    assert code == 200 and shown["recipe"] == f"{on_disk}.ipynb", shown

    write_recipe(ws, f"{nfd('campañas été')}/{nfd('rappel été')}")  # a second look-alike
    code, refused = await rest(jp_fetch, "POST", "recipes", f"{NFC}.ipynb", "run", body={})
    assert code == 400, refused
    assert "differ only in how their accents" in refused["error"]["message"], refused
    assert str(ws) not in json.dumps(refused), refused  # the server's folders stay unsaid


async def test_the_file_browser_makes_no_look_alike_of_a_recipe(jp_fetch: Any, ws: Path) -> None:
    write_recipe(ws, NFC)
    model = json.loads((await contents(jp_fetch, "GET", f"projects/{NFC}.ipynb")).body)
    notebook = {"type": "notebook", "format": "json", "content": model["content"]}

    upload = await contents(jp_fetch, "PUT", LOOK_ALIKE, notebook)
    assert upload.code == 409, upload.body
    message = json.loads(upload.body)["message"]
    assert message == (
        f"{LOOK_ALIKE}: name {nfd('rappel été.ipynb')!r} differs from the existing "
        "'rappel été.ipynb' only in how its accents are written. fix: give rappel été.ipynb "
        "for that one, or a name of its own"
    )
    folder = await contents(jp_fetch, "PUT", nfd("projects/campañas été"), {"type": "directory"})
    assert folder.code == 409, folder.body
    assert "the existing 'campañas été'" in json.loads(folder.body)["message"]
    code, listed = await rest(jp_fetch, "GET", "recipes")
    assert code == 200
    assert [row["recipe"] for row in listed["recipes"]] == [f"{NFC}.ipynb"]
    other = await contents(jp_fetch, "PUT", "projects/campañas été/Rappel été.ipynb", notebook)
    assert other.code == 201, other.body  # case is a name's own in the file browser


async def test_a_look_alike_made_before_is_saved_and_renamed_to_its_composed_name(
    jp_fetch: Any, ws: Path
) -> None:
    write_recipe(ws, NFC).rename(ws / LOOK_ALIKE)
    path = LOOK_ALIKE
    model = json.loads((await contents(jp_fetch, "GET", path)).body)
    notebook = {"type": "notebook", "format": "json", "content": model["content"]}

    assert (await contents(jp_fetch, "PUT", path, notebook)).code == 200
    moved = await contents(jp_fetch, "PATCH", path, {"path": f"projects/{NFC}.ipynb"})
    assert moved.code == 200, moved.body
    assert (ws / "projects" / f"{NFC}.ipynb").is_file()


def _deleted_with_a_job(ws: Path, name: str) -> int:
    """A job of the recipe `name` (written straight to the store), its notebook deleted."""
    write_recipe(ws, name)
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe=f"{name}.ipynb", version_id=version, trigger="manual", user="alice"
        )
    (ws / "projects" / f"{name}.ipynb").unlink()
    return job.id


ALICE = {"X-Test-User": "alice"}


@pytest.fixture
def deleted_look_alikes(ws: Path) -> dict[str, int]:
    """A job each of two deleted recipes whose names differ only in how `é` is written:
    one as lpstudio writes it (NFC), one as a Mac does (NFD)."""
    return {name: _deleted_with_a_job(ws, name) for name in (NFC, nfd(NFC))}


def test_deleted_look_alikes_list_the_jobs_of_the_one_named_exactly(
    ws: Path, cli: Any, deleted_look_alikes: dict[str, int]
) -> None:
    """Both were refused as ambiguous, though the name typed was one of them byte for byte."""
    for name, job in deleted_look_alikes.items():
        listed = cli("jobs", "--recipe", name, "--json")
        assert listed.exit_code == 0, listed.output
        assert [row["id"] for row in json.loads(listed.stdout)] == [job], name
        with Studio.open(ws, user="alice") as studio:
            assert [row.id for row in studio.jobs(recipe=f"{name}.ipynb")] == [job], name


def test_deleted_look_alikes_neither_named_exactly_are_refused_naming_both(
    ws: Path, cli: Any
) -> None:
    _deleted_with_a_job(ws, f"campañas été/{nfd('rappel été')}")
    _deleted_with_a_job(ws, f"campañas été/{nfd('rappel é')}té")  # its second `é` composed

    refused = cli("jobs", "--recipe", NFC, "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["message"].startswith(f"recipe {NFC} could be "), error
    assert "differ only in how their accents are written" in error["message"], error


async def test_the_rest_api_lists_the_deleted_look_alike_named_exactly(
    jp_fetch: Any, deleted_look_alikes: dict[str, int]
) -> None:
    for name, job in deleted_look_alikes.items():
        answer = await jp_fetch(
            "lpstudio", "api", "v1", "jobs", params={"recipe": name}, headers=ALICE
        )
        assert [row["id"] for row in json.loads(answer.body)["jobs"]] == [job], name


@pytest.fixture
def both_spellings(ws: Path) -> dict[str, str]:
    """Two recipes whose names differ only in how `é` is written, both on disk (one synced
    from a Mac): each a different notebook, its title its name as written. By the name each
    is run by, its name on disk."""
    names = {NFC: f"{NFC}.ipynb", nfd(NFC): f"{nfd(NFC)}.ipynb"}
    for name in names:
        write_recipe(ws, name, metadata={"title": "composed" if name == NFC else "decomposed"})
    return names


def test_look_alikes_both_on_disk_each_run_by_its_own_name(
    ws: Path, cli: Any, both_spellings: dict[str, str]
) -> None:
    """A name typed decomposed ran the composed file: another notebook, maybe another
    campaign. The name exactly as given names one of them."""
    for name, on_disk in both_spellings.items():
        ran = cli("run", name, "--json")
        assert ran.exit_code == 0, ran.output
        assert json.loads(ran.stdout)["recipe"] == on_disk
        browsed = cli("run", f"projects/{name}.ipynb", "--json")  # the file browser's path
        assert browsed.exit_code == 0, browsed.output
        assert json.loads(browsed.stdout)["recipe"] == on_disk
        with Studio.open(ws, user="alice") as studio:
            assert studio.recipe(name).name == on_disk
            assert studio.recipe(ws / "projects" / f"{name}.ipynb").name == on_disk
    with Studio.open(ws, user="alice") as studio:
        assert studio.run(nfd(NFC)).recipe == f"{nfd(NFC)}.ipynb"
    listed = json.loads(cli("recipes", "--json").stdout)
    assert sorted(row["recipe"] for row in listed) == sorted(both_spellings.values())
    titles = {row["recipe"]: row["title"] for row in listed}
    assert titles == {f"{NFC}.ipynb": "composed", f"{nfd(NFC)}.ipynb": "decomposed"}


def test_look_alikes_both_on_disk_named_a_third_way_are_refused_naming_both(
    ws: Path, cli: Any, both_spellings: dict[str, str]
) -> None:
    """Neither is the name as given: its folder composed, its file's name decomposed."""
    mixed = f"campañas été/{nfd('rappel été')}"
    refused = cli("run", mixed, "--json")
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["message"].startswith(f"recipe {mixed} could be "), error
    assert "differ only in how their accents are written" in error["message"], error
    assert json.loads(cli("jobs", "--json").stdout) == []


async def test_the_rest_api_runs_each_look_alike_on_disk_by_its_own_name(
    jp_fetch: Any, both_spellings: dict[str, str]
) -> None:
    for name, on_disk in both_spellings.items():
        code, answer = await rest(jp_fetch, "POST", "recipes", f"{name}.ipynb", "run", body={})
        assert code in (200, 201, 202), answer
        assert answer["recipe"] == on_disk, answer
        code, shown = await rest(jp_fetch, "GET", "recipes", f"{name}.ipynb")
        assert code == 200 and shown["recipe"] == on_disk, shown
