"""The CLI's output with names and values in any script: no crash on a stdout that cannot
encode them (Latin-1, cp1252), JSON that stays JSON there, values printed as they were
written, and tables whose columns line up with CJK, emoji and decomposed accents."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import wcwidth
from click.testing import CliRunner, Result

from lpstudio.cli import main
from lpstudio.studio import Studio

from .conftest import LPSTUDIO, write_recipe

JAPANESE = "キャンペーン/オプトイン 👋"
#: `rappel été` with its accents decomposed (NFD), as macOS file names come.
DECOMPOSED = "p/rappel e\u0301te\u0301"
WORDS = "שלום 👋 été"


def recorded_job(ws: Path, name: str, parameters: dict[str, str] | None = None) -> int:
    """A job of the recipe `name`, written straight to the store (no kernel)."""
    write_recipe(ws, name)
    with Studio.open(ws, user="alice") as studio:
        version = studio.store.snapshot(f"{name}.ipynb", "{}", {}, "alice")
        job = studio.store.create_job(
            recipe=f"{name}.ipynb",
            version_id=version,
            trigger="manual",
            user="alice",
            parameters=parameters or {},
        )
        return job.id


@pytest.fixture
def latin1(ws: Path) -> Callable[..., Result]:
    """Runs the CLI with stdout and stderr in Latin-1, as a cp1252 console or a redirect on
    such a locale gives it."""

    def invoke(*args: str) -> Result:
        return CliRunner(charset="latin-1").invoke(main, [*args, "--workspace", str(ws)])

    return invoke


def test_a_job_run_on_a_latin1_stdout_exits_0_with_its_name_escaped(ws: Path) -> None:
    """Exit 1 after "succeeded" told cron and CI the job failed: a rerun, a second send."""
    write_recipe(ws, JAPANESE)
    ran = subprocess.run(
        [LPSTUDIO, "run", JAPANESE, "--workspace", str(ws)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        timeout=120,
    )
    out, err = ran.stdout.decode("latin-1"), ran.stderr.decode("latin-1")
    assert ran.returncode == 0, out + err
    assert out.startswith("job 1 succeeded")
    assert r"\u30ad\u30e3\u30f3\u30da\u30fc\u30f3/\u30aa\u30d7\u30c8\u30a4\u30f3 \U0001f44b" in out
    assert "Traceback" not in err


def test_settings_saved_on_latin1_stdout_say_so_and_exit_0(
    latin1: Callable[..., Result], ws: Path
) -> None:
    """It saved, then failed with a traceback: "nothing is half-written" broken."""
    write_recipe(ws, JAPANESE, parameters='campaign_name: str = "x"  # its name')
    saved = latin1("settings", JAPANESE, "-p", "campaign_name", "Été ✨")
    assert saved.exit_code == 0, saved.output
    assert 'campaign_name = "Été \\u2728"  [string, saved]' in saved.stdout
    shown = latin1("settings", JAPANESE, "--json")
    assert json.loads(shown.stdout)["parameters"] == {"campaign_name": "Été ✨"}


def test_lists_on_latin1_stdout_exit_0_with_names_escaped(
    latin1: Callable[..., Result], ws: Path
) -> None:
    recorded_job(ws, JAPANESE)
    for command in ("jobs", "recipes"):
        listed = latin1(command)
        assert listed.exit_code == 0, listed.output
        assert r"\u30aa\u30d7\u30c8\u30a4\u30f3 \U0001f44b.ipynb" in listed.stdout, command


def test_json_on_latin1_stdout_stays_json(latin1: Callable[..., Result], ws: Path) -> None:
    """The stream's own escapes (`\\xe9`) are no JSON: JSON's (`\\u00e9`) are written where
    the stream cannot take the text, and text it can take is written as it is."""
    write_recipe(ws, "p/été")
    readable = latin1("recipes", "--json")
    assert readable.exit_code == 0, readable.output
    assert '"recipe": "p/été.ipynb"' in readable.stdout
    write_recipe(ws, JAPANESE)
    escaped = latin1("recipes", "--json")
    assert escaped.exit_code == 0, escaped.output
    assert '"recipe": "p/\\u00e9t\\u00e9.ipynb"' in escaped.stdout
    recipes = [row["recipe"] for row in json.loads(escaped.stdout)]
    assert sorted(recipes) == sorted([f"{JAPANESE}.ipynb", "p/été.ipynb"])


def test_an_error_naming_a_recipe_on_latin1_keeps_its_exit_code(
    latin1: Callable[..., Result],
) -> None:
    missing = latin1("jobs", "--recipe", "キャンペーン/none")
    assert missing.exit_code == 2, missing.output
    assert r"lpstudio: error: recipe \u30ad\u30e3\u30f3\u30da\u30fc\u30f3/none" in missing.stderr
    as_json = latin1("jobs", "--recipe", "キャンペーン/none", "--json")
    assert as_json.exit_code == 2, as_json.output
    assert "キャンペーン/none" in json.loads(as_json.stdout)["error"]["message"]


def test_show_prints_params_as_written(cli: Callable[..., Result], ws: Path) -> None:
    """`params` printed `\\u05e9...\\ud83d\\udc4b`, where `event` and `result` read."""
    job = recorded_job(ws, "p/hello", {"body": WORDS})
    shown = cli("show", str(job))
    assert shown.exit_code == 0, shown.output
    assert f'  params:   {{"body": "{WORDS}"}}' in shown.stdout


def test_audit_prints_details_as_written(cli: Callable[..., Result], ws: Path) -> None:
    moved = {"from": f"projects/{JAPANESE}.ipynb", "to": "projects/p/été.ipynb"}
    with Studio.open(ws, user="alice") as studio:
        studio.store.audit("alice", "rename_recipe", "p/été.ipynb", **moved)
    audited = cli("audit")
    assert audited.exit_code == 0, audited.output
    assert json.dumps(moved, ensure_ascii=False) in audited.stdout


def column(line: str, at: int) -> int:
    """The terminal column where `line`'s character `at` is shown."""
    return wcwidth.width(line[:at])


def test_jobs_table_lines_up_with_wide_and_combining_characters(
    cli: Callable[..., Result], ws: Path
) -> None:
    for name in (JAPANESE, DECOMPOSED, "p/plain"):
        recorded_job(ws, name)
    listed = cli("jobs")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert len(rows) == 3
    dates = [(line, re.search(r"\d{4}-\d\d-\d\d ", line)) for line in rows]
    created = {column(line, date.start()) if date else None for line, date in dates}
    assert created == {column(header, header.index("CREATED"))}, listed.stdout
    users = {column(line, line.rindex("alice")) for line in rows}
    assert users == {column(header, header.index("USER"))}, listed.stdout


def test_recipes_table_lines_up_with_wide_and_combining_characters(
    cli: Callable[..., Result], ws: Path
) -> None:
    for name in (JAPANESE, DECOMPOSED, "p/plain"):
        write_recipe(ws, name)
    listed = cli("recipes")
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.stdout.splitlines() if line.startswith("  ")]
    assert len(rows) == 3
    triggers = {column(line, line.index(" manual ") + 1) for line in rows}
    assert triggers == {2 + 32 + 1}, listed.stdout
