"""Workspaces: creation, activation, discovery, and paths that must stay inside."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from lpstudio.cli import main
from lpstudio.errors import WorkspaceError
from lpstudio.models import Base, Job, User
from lpstudio.store import SCHEMA_HEAD, Store
from lpstudio.studio import Studio
from lpstudio.workspace import Workspace, own_file

from .conftest import finished_job, purged, write_recipe


def test_init_creates_an_activated_workspace(tmp_path: Path) -> None:
    root = tmp_path / "brand"
    result = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--admin", "ada"])
    assert result.exit_code == 0, result.output
    assert "workspace ready" in result.output
    for part in ("projects", "history", "lpstudio.toml", "lpstudio.db", "secret.key"):
        assert (root / part).exists(), part
    assert stat.S_IMODE((root / "secret.key").stat().st_mode) == 0o600
    with Studio.open(root, user="ada") as studio:
        activation = studio.store.activation()
        assert activation is not None and activation.accepted_by == "ada"
        with studio.store.read() as session:
            assert session.get(User, "ada").role == "admin"


def test_init_inside_another_workspace_is_refused_and_writes_nothing(ws: Path) -> None:
    """A workspace made in another's projects/ took over every command run in its
    folders, and its secret.key was a file recipes could be given as a parameter."""
    inner = ws / "projects" / "billing"
    result = CliRunner().invoke(main, ["init", str(inner), "--accept-terms", "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "path" and f"inside the workspace {ws}" in error["message"]
    assert not inner.exists()
    # Nor around one: the outer one's recipes could be given the inner one's key.
    outer = ws.parent / "outer"
    (outer / "brands").mkdir(parents=True)
    ws.rename(outer / "brands" / "ws")
    around = CliRunner().invoke(main, ["init", str(outer), "--accept-terms", "--json"])
    assert around.exit_code == 2, around.output
    assert "holds the workspace" in json.loads(around.stdout)["error"]["message"]
    assert not (outer / "lpstudio.toml").exists()


def test_init_without_terms_and_without_terminal_refuses_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Its fix gave the path unquoted: a path with a space, pasted, was two arguments."""
    root = tmp_path / "mes marques été"
    result = CliRunner().invoke(main, ["init", str(root)])
    assert result.exit_code == 2
    assert "terms" in result.output and "--accept-terms" in result.output
    assert not root.exists()
    command = re.findall(r"`lpstudio ([^`]*)`", result.output)
    assert [shlex.split(said) for said in command] == [["init", str(root), "--accept-terms"]]
    pasted = CliRunner().invoke(main, shlex.split(command[0]))
    assert pasted.exit_code == 0, pasted.output
    assert (root / "lpstudio.toml").exists()


def test_init_asks_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lpstudio.cli.base._has_terminal", lambda: True)
    root = tmp_path / "brand"
    refused = CliRunner().invoke(main, ["init", str(root)], input="n\n")
    assert refused.exit_code == 2 and not root.exists()
    accepted = CliRunner().invoke(main, ["init", str(root)], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert (root / "lpstudio.toml").exists()


def test_workspace_is_found_from_option_env_and_parents(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ws / "projects")
    assert Workspace.find().root == ws.resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(ws))
    assert Workspace.find().root == ws.resolve()
    monkeypatch.delenv("LPSTUDIO_WORKSPACE")
    assert Workspace.find(ws).root == ws.resolve()
    result = CliRunner().invoke(main, ["jobs"])
    assert result.exit_code == 2
    assert "no lpstudio workspace" in result.output and "lpstudio init" in result.output


def test_a_wrong_lpstudio_workspace_is_named_with_a_fix_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file or a missing path in $LPSTUDIO_WORKSPACE was said to be no workspace without
    naming where it came from, and the fix, `lpstudio init` of it, was refused for a file."""
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("")
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(afile))
    refused = CliRunner().invoke(main, ["jobs", "--json"])
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "LPSTUDIO_WORKSPACE", error
    assert error["message"].startswith(f"LPSTUDIO_WORKSPACE names {afile}, which is not"), error
    assert f"{afile} is a file, not a folder" in error["message"], error
    assert "unset LPSTUDIO_WORKSPACE" in error["fix"] and "lpstudio init" not in error["fix"]

    missing = tmp_path / "brand"
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(missing))
    refused = CliRunner().invoke(main, ["jobs", "--json"])
    error = json.loads(refused.stdout)["error"]
    assert error["message"].startswith(f"LPSTUDIO_WORKSPACE names {missing}, which is not")
    assert "set LPSTUDIO_WORKSPACE to a workspace's folder" in error["fix"], error
    init = error["fix"].split("`")[-2].split()  # the fix's own command works
    assert init[:3] == ["lpstudio", "init", str(missing)], error
    assert CliRunner().invoke(main, [*init[1:], "--admin", "ada"]).exit_code == 0
    assert CliRunner().invoke(main, ["jobs"], env={"LPSTUDIO_USER": "ada"}).exit_code == 0

    monkeypatch.setenv("LPSTUDIO_WORKSPACE", str(missing / "projects"))  # one of its folders
    error = json.loads(CliRunner().invoke(main, ["jobs", "--json"]).stdout)["error"]
    assert f"to the workspace's folder {missing} (" in error["fix"], error
    assert "lpstudio init" not in error["fix"], error  # refused inside a workspace


def test_a_file_given_as_the_workspace_is_not_offered_init(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(WorkspaceError) as raised:
        Studio.open(afile)
    assert raised.value.field == "workspace" and "is a file" in raised.value.message
    assert "lpstudio init" not in str(raised.value.fix)


def test_a_workspace_never_activated_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "copied"
    Workspace.write_new(root)
    result = CliRunner().invoke(main, ["recipes", "--workspace", str(root)])
    assert result.exit_code == 2
    assert "never activated" in result.output and "--accept-terms" in result.output
    assert not (root / "lpstudio.db").exists()  # a read makes no store
    assert CliRunner().invoke(main, ["init", str(root), "--accept-terms"]).exit_code == 0
    assert CliRunner().invoke(main, ["recipes", "--workspace", str(root)]).exit_code == 0


@pytest.mark.parametrize("url", ["sqlite:///lpstuido.db", "sqlite:///:memory:", "sqlite://"])
def test_a_store_url_naming_no_store_is_refused_and_makes_none(ws: Path, url: str) -> None:
    """A mistyped `[store] url` made a new, empty store at the first command (a read), which
    then said the workspace was never activated, its fix activating the empty store; one in
    memory was a file named `:memory:`."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("sqlite:///lpstudio.db", url))
    before = sorted(ws.iterdir())
    result = CliRunner().invoke(main, ["recipes", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "store.url" and "never activated" not in error["message"], error
    assert "[store] url" in error["message"] and "sqlite:///lpstudio.db" in error["fix"], error
    assert sorted(ws.iterdir()) == before


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[jobs\n", "is not valid TOML"),
        ("a = " + "[" * 3000 + "]" * 3000 + "\n", "nests arrays or tables deeper"),
        (b"[store]\nurl = '\xff'\n", "is not UTF-8 text"),
    ],
)
def test_a_config_toml_cannot_read_is_said_with_its_fix(
    ws: Path, text: str | bytes, said: str
) -> None:
    """A nested or non-UTF-8 lpstudio.toml ended every command with a Python traceback
    (RecursionError, UnicodeDecodeError); like a TOML syntax error, it is the file to mend."""
    config = ws / "lpstudio.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(main, ["recipes", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith(f"{config} {said}"), error
    assert error["field"] == "--workspace" and error["fix"] == f"correct {config}", error


def test_a_store_url_naming_its_driver_is_found_in_the_workspace(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite+pysqlite:///lpstudio.db` was read from the current folder: commands run
    elsewhere found no store, `lpstudio init` made one outside the workspace, and the
    absolute form was no file of the workspace's own to a connection."""
    config = ws / "lpstudio.toml"
    driver = config.read_text().replace("sqlite:///", "sqlite+pysqlite:///")
    config.write_text(driver)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    jobs = CliRunner().invoke(main, ["jobs", "--workspace", str(ws)])
    assert jobs.exit_code == 0, jobs.output
    new = tmp_path / "new"
    new.mkdir()
    (new / "lpstudio.toml").write_text(driver)
    made = CliRunner().invoke(main, ["init", str(new), "--accept-terms"])
    assert made.exit_code == 0, made.output
    assert (new / "lpstudio.db").is_file() and not os.listdir(elsewhere)
    workspace = Workspace.load(ws)
    assert workspace.store_url == f"sqlite+pysqlite:///{ws}/lpstudio.db"
    assert workspace.misplaced_store(make_url("sqlite+pysqlite:///projects/s.db")) is not None
    config.write_text(driver.replace("sqlite+pysqlite:///", f"sqlite+pysqlite:///{ws}/"))
    assert own_file(ws, ws / "lpstudio.db") and own_file(ws, ws / "lpstudio.db-wal")


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "../lpstudio.toml"])
def test_recipe_paths_outside_projects_are_refused(ws: Path, cli, ref: str) -> None:
    result = cli("run", ref)
    assert result.exit_code == 2
    assert "outside" in result.output


def test_a_symlink_leaving_the_workspace_is_refused(ws: Path, tmp_path: Path, cli) -> None:
    outside = write_recipe(tmp_path / "other", "evil")
    (ws / "projects" / "link.ipynb").symlink_to(outside)
    result = cli("run", "link")
    assert result.exit_code == 2 and "outside" in result.output


def settings_shown(*args: str) -> tuple[int, str]:
    """`lpstudio settings ARGS`, run in this process from the working folder: its exit
    code and its standard output (each parameter of the recipe found, `name = value`)."""
    result = CliRunner().invoke(main, ["settings", *args])
    return result.exit_code, result.stdout


def test_a_recipe_is_found_from_the_workspace_folder_and_from_its_own(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`projects/shop/cart.ipynb` (the path JupyterLab shows) was not found from another
    folder, and in a terminal in projects/shop `cart` named that folder's recipe even where
    projects/cart is a recipe too: the wrong one could have sent a campaign."""
    monkeypatch.delenv("LPSTUDIO_WORKSPACE", raising=False)
    write_recipe(ws, "shop/cart", parameters="in_shop: int = 1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for ref in ("projects/shop/cart.ipynb", "shop/cart", str(ws / "projects/shop/cart.ipynb")):
        code, shown = settings_shown(ref, "--workspace", str(ws))
        assert code == 0 and "in_shop = 1" in shown, (ref, shown)
    monkeypatch.chdir(ws / "projects" / "shop")  # a terminal in the recipe's folder
    for ref in ("cart.ipynb", "cart", "./cart", "projects/shop/cart", "shop/cart"):
        code, shown = settings_shown(ref)
        assert code == 0 and "in_shop = 1" in shown, (ref, shown)
    write_recipe(ws, "cart", parameters="at_top: int = 2")
    code, shown = settings_shown("cart", "--json")
    assert code == 2, shown
    error = json.loads(shown)["error"]
    here, top = ws / "projects/shop/cart.ipynb", ws / "projects/cart.ipynb"
    assert error["field"] == "recipe" and "recipe cart could be" in error["message"], error
    assert str(here) in error["fix"] and str(top) in error["fix"], error
    assert "in_shop = 1" in settings_shown("./cart")[1]  # from here, as a shell reads it
    assert "at_top = 2" in settings_shown("../cart")[1]
    assert "at_top = 2" in settings_shown(str(top))[1]
    code, shown = settings_shown("../../lpstudio.toml", "--json")
    error = json.loads(shown)["error"]
    assert code == 2 and error["field"] == "recipe", shown
    assert f"{ws / 'lpstudio.toml.ipynb'} is outside {ws / 'projects'}" in error["message"]
    assert error["fix"] == f"give a path inside {ws / 'projects'}", error


def test_a_recipe_linked_from_outside_projects_is_refused_as_a_link(ws: Path) -> None:
    """A link in projects/ to a notebook elsewhere was refused as `recipe p/link.ipynb is
    outside .../projects`, a path plainly inside it, with the fix to give one inside."""
    write_recipe(ws, "elsewhere")
    target = ws / "projects" / "elsewhere.ipynb"
    outside = target.rename(ws / "elsewhere.ipynb")
    (ws / "projects" / "p").mkdir()
    (ws / "projects" / "p" / "link.ipynb").symlink_to(outside)

    code, shown = settings_shown("p/link", "--workspace", str(ws), "--json")

    error = json.loads(shown)["error"]
    assert code == 2 and error["field"] == "recipe", shown
    assert "p/link.ipynb is a link" in error["message"] and "leading outside" in error["message"]
    assert str(outside) not in shown  # where it leads is not said
    assert error["fix"] == f"copy the file into {ws / 'projects'} in place of the link", error


def test_a_folder_given_for_a_recipe_is_refused_naming_a_recipe_in_it(ws: Path, cli) -> None:
    """`lpstudio run shop/` said `recipe shop/ not found`, as if the project were not
    there; `lpstudio run .` or `''` ended in a traceback."""
    write_recipe(ws, "shop/cart")
    write_recipe(ws, "shop/eu/cart")
    (ws / "projects" / "empty").mkdir()
    refused = {
        "shop/": "give one of its recipes, e.g. shop/cart.ipynb",
        "shop": "give one of its recipes, e.g. shop/cart.ipynb",
        "projects/shop/": "give one of its recipes, e.g. shop/cart.ipynb",
        "shop/eu/": "give one of its recipes, e.g. shop/eu/cart.ipynb",
        "empty/": "copy a recipe into it first, e.g. `lpstudio gallery try TEMPLATE --project "
        "FOLDER`",
    }
    for ref, fix in refused.items():
        result = cli("settings", ref, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "recipe", error
        assert error["message"] == f"recipe {ref} is a folder, not a recipe", error
        assert error["fix"] == fix, error
    assert cli("settings", "shop/cart/").exit_code == 0  # no folder shop/cart: the recipe
    write_recipe(ws, "shop/cart/daily")  # now shop/cart/ is a folder too
    error = json.loads(cli("settings", "shop/cart/", "--json").stdout)["error"]
    assert error["message"] == "recipe shop/cart/ is a folder, not a recipe", error
    assert error["fix"] == (
        "give one of its recipes, e.g. shop/cart/daily.ipynb or shop/cart for the recipe "
        "shop/cart.ipynb"
    )
    assert cli("settings", "shop/cart").exit_code == 0
    for ref in ("", "."):  # a traceback: `.` has no name to add .ipynb to
        result = cli("settings", ref, "--json")
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert json.loads(result.stdout)["error"]["field"] == "recipe"


def test_the_schema_is_migrated_and_matches_the_models(ws: Path) -> None:
    store = Store(Workspace.load(ws).store_url)
    assert store.schema_revision() == SCHEMA_HEAD
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    store.close()


def test_opening_an_unknown_path_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as raised:
        Studio.open(tmp_path / "nothing")
    assert raised.value.field == "workspace"
    assert "lpstudio init" in str(raised.value)


def test_a_workspace_path_may_start_with_the_home_folder(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`~` is expanded wherever a workspace path comes in, as the README's examples write it."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with Studio.open("~/ws") as studio:
        assert studio.workspace.root == ws.resolve()
    assert CliRunner().invoke(main, ["jobs", "--workspace=~/ws"]).exit_code == 0
    monkeypatch.setenv("LPSTUDIO_WORKSPACE", "~/ws")
    result = CliRunner().invoke(main, ["jobs"])
    assert result.exit_code == 0, result.output


def test_init_of_a_new_store_over_old_output_notebooks_is_refused_until_history_moves_aside(
    ws: Path,
) -> None:
    """The "no lpstudio store" fix led to `init` over a history/ of old notebooks: job ids
    started at 1 again, and new jobs' notebooks replaced old ones of the same id."""
    job_id = finished_job(ws, minutes_ago=1)
    old = ws / "history" / "p" / f"done-{job_id}.ipynb"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("sqlite:///lpstudio.db", "sqlite:///new.db"))
    absent = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert absent.exit_code == 2, absent.output
    assert "mv history history.old" in json.loads(absent.stdout)["error"]["fix"]

    init = ["init", str(ws), "--accept-terms", "--admin", "alice", "--json"]
    refused = CliRunner().invoke(main, init)
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "WorkspaceError" and error["field"] == "history", error
    assert f"{ws / 'history'} holds output notebooks" in error["message"], error
    assert "job ids start at 1 again" in error["message"], error
    assert f"`mv history history.old` in {ws}" in error["fix"], error
    assert old.is_file()
    # nothing half-made: no empty store that a later command would call never activated
    assert sorted(p.name for p in ws.glob("new.db*")) == []
    again = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert "mv history history.old" in json.loads(again.stdout)["error"]["fix"], again.output

    (ws / "history").rename(ws / "history.old")
    result = CliRunner().invoke(main, init)
    assert result.exit_code == 0, result.output
    with Studio.open(ws, user="alice") as studio:
        assert studio.store.activation() is not None


def test_init_again_keeps_a_store_with_jobs_and_their_notebooks(ws: Path) -> None:
    job_id = finished_job(ws, minutes_ago=1)
    (ws / "history" / f"{job_id}.ipynb").write_text("{}")
    result = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--admin", "alice"])
    assert result.exit_code == 0, result.output


def test_init_where_no_folder_can_be_made_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    root = blocker / "brand"
    result = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--json"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "path" and str(root) in error["message"]
    assert "Not a directory" in error["message"] and "lpstudio init" in error["fix"]
    assert blocker.read_text() == ""


# -- settings in lpstudio.toml ---------------------------------------------------------------


def set_jobs_setting(ws: Path, key: str, value: str) -> Path:
    """Writes `key = value` into the `[jobs]` table of the workspace's lpstudio.toml."""
    config = ws / "lpstudio.toml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith(f"{key} =")]
    at = lines.index("[jobs]") + 1
    config.write_text("\n".join([*lines[:at], f"{key} = {value}", *lines[at:]]) + "\n")
    return config


@pytest.mark.parametrize("days", ["nan", "inf", "-inf", "-1", "36501", '"30"', "true"])
def test_a_retention_that_is_not_a_number_of_days_is_refused_naming_key_and_file(
    ws: Path, days: str
) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    config = set_jobs_setting(ws, "retention_days", days)
    result = CliRunner().invoke(main, ["purge", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "jobs.retention_days"
    assert str(config) in error["message"] and "retention_days" in error["message"]
    assert "from 0 to 36500" in error["message"]
    assert "retention_days = 30" in error["fix"] and str(config) in error["fix"]
    assert not purged(ws, job_id)
    with pytest.raises(WorkspaceError, match="retention_days"):
        Studio.open(ws)


def test_the_retention_of_lpstudio_toml_is_what_purge_uses(ws: Path) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    set_jobs_setting(ws, "retention_days", "1")
    assert CliRunner().invoke(main, ["purge", "--workspace", str(ws)]).exit_code == 0
    assert not purged(ws, job_id)
    set_jobs_setting(ws, "retention_days", "0")
    assert CliRunner().invoke(main, ["purge", "--workspace", str(ws)]).exit_code == 0
    assert purged(ws, job_id)


@pytest.mark.parametrize(
    ("key", "value"),
    [("stale_after_seconds", "nan"), ("stale_after_seconds", "0"), ("heartbeat_seconds", "-inf")],
)
def test_job_timings_that_are_not_positive_seconds_are_refused(
    ws: Path, key: str, value: str
) -> None:
    config = set_jobs_setting(ws, key, value)
    result = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == f"jobs.{key}" and str(config) in error["message"]


@pytest.mark.parametrize("beat", ["0.05", "0.000001", "1e-300"])
def test_a_heartbeat_too_short_to_wait_between_beats_is_refused(ws: Path, beat: str) -> None:
    """`heartbeat_seconds = 0.000001` was accepted (only 0 itself was refused): every job's
    watchdog and the executor's looker then spun, burning a core to beat the store."""
    config = set_jobs_setting(ws, "heartbeat_seconds", beat)
    result = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "jobs.heartbeat_seconds" and str(config) in error["message"]
    assert "from 0.1 to 3600" in error["message"], error
    assert "heartbeat_seconds = 2" in error["fix"] and str(config) in error["fix"], error
    set_jobs_setting(ws, "heartbeat_seconds", "0.1")  # the least: what fast tests use
    assert CliRunner().invoke(main, ["jobs", "--workspace", str(ws)]).exit_code == 0


@pytest.mark.parametrize("value", ["0", "-5", '"60"', "7200"])
def test_a_kernel_start_timeout_out_of_range_is_refused(ws: Path, value: str) -> None:
    """`kernels.start_timeout`, how long a job waits for its kernel: seconds from 1 to 3600."""
    config = ws / "lpstudio.toml"
    config.write_text(config.read_text().replace("start_timeout = 60", f"start_timeout = {value}"))
    result = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "kernels.start_timeout" and str(config) in error["message"], error
    assert "start_timeout = 60" in error["fix"], error


def test_a_job_taken_for_lost_between_two_of_its_heartbeats_is_refused(ws: Path) -> None:
    """`stale_after_seconds = 1` beside `heartbeat_seconds = 2` failed every job that ran
    longer than a second as "worker lost", while its worker ran it."""
    config = set_jobs_setting(ws, "stale_after_seconds", "3")
    result = CliRunner().invoke(main, ["jobs", "--json", "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "jobs.stale_after_seconds" and str(config) in error["message"]
    assert "two heartbeats" in error["message"] and "heartbeat_seconds" in error["fix"], error
    set_jobs_setting(ws, "stale_after_seconds", "4")  # two beats of 2 s: enough
    assert CliRunner().invoke(main, ["jobs", "--workspace", str(ws)]).exit_code == 0


@pytest.mark.parametrize(
    ("section", "key", "value", "field", "hint"),
    [
        ("kernel", "pool_size", "0", "kernel", "[kernels]"),
        ("kernels", "pool_sise", "0", "kernels.pool_sise", "pool_size"),
        ("jobs", "retention", "7", "jobs.retention", "retention_days"),
        ("users", "default_role", '"boss"', "users.default_role", "operator"),
        # Read first when a job fails: its failure e-mail was lost to a log line then.
        ("smtp", "port", '"abc"', "smtp.port", "port = 587"),
        ("smtp", "port", "99999", "smtp.port", "port = 587"),
        ("smtp", "host", "5", "smtp.host", "host = "),
        ("smtp", "from", '"not an address"', "smtp.from", "from = "),
        ("smtp", "from", '"a@brand.example\\nBcc: b@else.example"', "smtp.from", "from = "),
        ("smtp", "from", '"studio@☃.net"', "smtp.from", "from = "),  # no IDNA form
        # A URL was taken for a folder of that name inside the workspace, without a word.
        ("history", "path", '"s3://brand/history"', "history.path", "mounted as a folder"),
        ("history", "path", '"file:///mnt/history"', "history.path", "/mnt/shared/history"),
        ("history", "path", "7", "history.path", "absolute"),
        # Output notebooks listed as recipes, startable and exportable, customers' data and all.
        ("history", "path", '"projects/out"', "history.path", "outside projects/"),
        ("history", "path", '"."', "history.path", "outside projects/"),
        ("history", "path", '"connectors/out"', "history.path", "outside connectors/"),
        ("history", "path", '".runtime/out"', "history.path", "outside .runtime/"),
        # An existing file: every job failed with a raw NotADirectoryError.
        ("history", "path", '"secret.key"', "history.path", 'path = "history"'),
        ("history", "path", '"secret.key/out"', "history.path", 'path = "history"'),
        ("store", "url", '"sqlite:///history/lpstudio.db"', "store.url", "outside"),
        ("store", "url", '"sqlite:///projects/lpstudio.db"', "store.url", "outside"),
    ],
)
def test_a_misspelt_or_unknown_setting_is_refused_naming_it_and_the_fix(
    ws: Path, section: str, key: str, value: str, field: str, hint: str
) -> None:
    """`[kernel]` or `pool_sise = 0` gave the defaults without a word; a default role
    outside admin, analyst and operator was given to every new user, who could do nothing."""
    config = ws / "lpstudio.toml"
    lines = [line for line in config.read_text().splitlines() if not line.startswith(f"{key} =")]
    if f"[{section}]" in lines:
        at = lines.index(f"[{section}]") + 1
        lines[at:at] = [f"{key} = {value}"]
    else:
        lines += [f"[{section}]", f"{key} = {value}"]
    config.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        main, ["jobs", "--json", "--workspace", str(ws)], env={"LPSTUDIO_USER": "newbie"}
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field, error
    assert str(config) in error["message"] and hint in error["fix"], error


def test_a_history_folder_outside_the_workspace_holds_the_output_notebooks(
    ws: Path, tmp_path: Path
) -> None:
    """Scaled out, `[history] path` names a folder every machine shares: every job failed
    (its output path taken relative to the workspace), reported as a lost worker."""
    shared = tmp_path / "shared" / "history"
    config = ws / "lpstudio.toml"
    text = config.read_text()
    assert 'path = "history"' in text
    config.write_text(text.replace('path = "history"', f'path = "{shared}"'))
    write_recipe(ws, "p/here")

    result = CliRunner().invoke(main, ["run", "p/here", "--json", "--workspace", str(ws)])

    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded", job
    output = Path(job["output_path"])
    assert output.parent.parent == shared and output.is_file()
    assert "papermill" in json.loads(output.read_text())["metadata"]
    shown = CliRunner().invoke(main, ["show", str(job["id"]), "--json", "--workspace", str(ws)])
    assert json.loads(shown.stdout)["output_path"] == str(output)


def test_a_stored_name_is_read_under_projects_whatever_the_working_folder(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store, the REST API, the scheduler and the Python API name a recipe by its path
    under projects/. They read it as a person's typing was read, from the working folder
    too: a scheduler started in projects/a refused the started recipe `s.ipynb` as
    ambiguous with projects/a/s.ipynb (until the recipe stopped itself), and a recipe of a
    project named `projects` was ambiguous from the workspace's own folder."""
    write_recipe(ws, "s", parameters="top: int = 1")
    write_recipe(ws, "a/s", parameters="in_a: int = 1")
    write_recipe(ws, "projects/s", parameters="nested: int = 1")
    with Studio.open(ws, user="alice") as studio:
        monkeypatch.chdir(ws / "projects" / "a")
        assert "top" in studio.recipe("s.ipynb").schema["properties"]
        monkeypatch.chdir(ws)
        assert "nested" in studio.recipe("projects/s.ipynb").schema["properties"]
        assert studio.recipe("projects/s.ipynb").name == "projects/s.ipynb"


# -- .runtime, the machine's own folder ------------------------------------------------------


def test_a_runtime_link_to_a_folder_missing_on_this_machine_is_refused_before_any_job(
    ws: Path, tmp_path: Path
) -> None:
    """The README's Scaling out links `.runtime` to a folder of each machine's own disk: on
    a machine where that folder was not made, `lpstudio run` started a job that failed in
    its send cell with `FileExistsError: [Errno 17] File exists: '.../.runtime'`."""
    write_recipe(
        ws, "billing/reminder", parameters="days_ahead: int = 7", cells=("print(days_ahead)",)
    )
    target = tmp_path / "var" / "lib" / "lpstudio" / "runtime"
    (ws / ".runtime").symlink_to(target)

    result = CliRunner().invoke(
        main, ["run", "billing/reminder", "-p", "days_ahead", "2", "--json", "--workspace", str(ws)]
    )

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == ".runtime" and str(ws / ".runtime") in error["message"]
    assert "does not exist on this machine" in error["message"]
    assert 'mkdir -p "$(readlink .runtime)"' in error["fix"]
    assert str(target) not in json.dumps(error)  # a server folder a REST answer never names
    with pytest.raises(WorkspaceError, match=r"\.runtime"):
        Studio.open(ws)
    store = Store(f"sqlite:///{ws / 'lpstudio.db'}")
    try:
        with store.read() as s:
            assert s.query(Job).count() == 0  # refused before any job
    finally:
        store.close()

    target.mkdir(parents=True)  # the fix it names
    with Studio.open(ws, user="alice") as studio:
        assert studio.run("billing/reminder", {"days_ahead": 2}).status == "succeeded"


def test_a_runtime_that_broke_after_the_workspace_was_read_is_refused_where_it_is_used(
    ws: Path, tmp_path: Path
) -> None:
    """A server reads its workspace once: the machine's rate limits (a job's sends, an API
    client's calls) then met a `.runtime` gone since with `FileExistsError`."""
    from lpstudio.ratelimit import SharedBuckets

    with Studio.open(ws, user="alice") as studio:
        (ws / ".runtime").symlink_to(tmp_path / "unmounted")
        with pytest.raises(WorkspaceError) as refused:
            SharedBuckets(ws / ".runtime" / "rate-limits.sqlite").get("lp", 10, 1000)
        assert refused.value.field == ".runtime" and "readlink" in (refused.value.fix or "")
        assert studio.workspace.root == ws.resolve()
    (ws / ".runtime").unlink()
    (ws / ".runtime").write_text("")
    with pytest.raises(WorkspaceError, match="is a file, not a folder"):
        Studio.open(ws)


def test_init_again_completes_an_activation_that_failed_after_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An init whose activation failed once the schema was made (a store it did not create,
    here an empty SQLite file: its schema stays) left a store every command calls never
    activated: `lpstudio init` again, as their fix says, completes it."""
    root = tmp_path / "brand"
    root.mkdir(mode=0o700)
    (root / "app.db").touch()
    (root / "lpstudio.toml").write_text('[store]\nurl = "sqlite:///app.db"\n')
    activate = Store.activate

    def fails(store: Store, admin: str, terms_version: str) -> None:
        raise WorkspaceError("the activation's write failed", field="store", fix="try again")

    monkeypatch.setattr(Store, "activate", fails)
    failed = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--admin", "ada"])
    assert failed.exit_code == 2 and "activation's write failed" in failed.output, failed.output
    store = Store(f"sqlite:///{root / 'app.db'}")
    try:
        assert store.schema_revision() == SCHEMA_HEAD and store.activation() is None
    finally:
        store.close()
    never = CliRunner().invoke(main, ["jobs", "--workspace", str(root)])
    assert never.exit_code == 2 and "lpstudio init . --accept-terms" in never.output, never.output

    monkeypatch.setattr(Store, "activate", activate)
    again = CliRunner().invoke(main, ["init", str(root), "--accept-terms", "--admin", "ada"])
    assert again.exit_code == 0, again.output
    assert f"workspace ready: {root} (admin: ada)" in again.output
    assert (
        CliRunner()
        .invoke(main, ["jobs", "--workspace", str(root)], env={"LPSTUDIO_USER": "ada"})
        .exit_code
        == 0
    )


@pytest.mark.parametrize("given", ["str", "Path"])
def test_a_studio_made_from_a_path_names_studio_open(ws: Path, given: str) -> None:
    # It failed with AttributeError: 'str' object has no attribute 'store_url'.
    path = str(ws) if given == "str" else ws
    with pytest.raises(TypeError, match=r"takes a Workspace.*lpstudio\.Studio\.open\(path"):
        Studio(path)  # type: ignore[arg-type]
