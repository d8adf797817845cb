"""`lpstudio purge` removes the day folders of history/ it empties: a daily purge left one
empty folder per day for good, which admins see in JupyterLab's file browser. A folder that
still holds anything (a user's file) stays, and so does history/ itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from .conftest import write_recipe


def run_once(ws: Path, cli: Callable[..., Result]) -> Path:
    """Runs a recipe; returns its output notebook."""
    result = cli("run", "p/daily", "--json")
    assert result.exit_code == 0, result.output
    (output,) = (ws / "history").glob("*/*-daily.ipynb")
    return output


def test_purge_removes_the_day_folders_it_empties_but_not_history_itself(
    ws: Path, cli: Callable[..., Result]
) -> None:
    write_recipe(ws, "p/daily")
    day = run_once(ws, cli).parent
    assert cli("purge", "--older-than", "0").exit_code == 0
    assert not day.exists()
    assert (ws / "history").is_dir()

    # A job after the purge makes its day's folder again.
    assert run_once(ws, cli).parent == day


def test_purge_keeps_a_day_folder_that_holds_a_users_file(
    ws: Path, cli: Callable[..., Result]
) -> None:
    write_recipe(ws, "p/daily")
    output = run_once(ws, cli)
    notes = output.parent / "notes.txt"
    notes.write_text("kept")
    assert cli("purge", "--older-than", "0").exit_code == 0
    assert not output.exists()
    assert notes.read_text() == "kept"
