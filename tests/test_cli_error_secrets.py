"""Secrets stay out of what the CLI says when it refuses something, and out of what
`papermill --engine lpstudio` copies of a cell's output: an error quotes what was typed (a
parameter's value or name, an event's key), and both end in cron mail and CI logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lpstudio.cli import main

from .conftest import run_cli, write_recipe
from .test_papermill_direct import papermill_cli

#: The sandbox's client secret, held by the `liveperson` connection of `sandbox_ws`.
SECRET = "sandbox-secret"
TYPES = "n: int = 1\nratio: float = 0.5\nitems: list[int] = [1]\nname: str = 'x'"

REFUSED = {
    "a value of the wrong type": ("run", "t/types", "-p", "n", SECRET),
    "in upper case": ("run", "t/types", "-p", "n", SECRET.upper()),
    "inside a list": ("run", "t/types", "-y", f'items: ["{SECRET}"]'),
    "inside an object": ("run", "t/types", "-y", f'ratio: {{"k": "{SECRET}"}}'),
    "as a parameter's name": ("run", "t/types", "-p", SECRET, "1"),
    "as an event's key": ("run", "t/types", "--event", f'{{"{SECRET}":1,"{SECRET}":2}}'),
    "to settings": ("settings", "t/types", "-p", SECRET, "1"),
    "as an option (click's refusal)": ("run", "t/types", f"--{SECRET}"),
}


@pytest.fixture
def types_ws(sandbox_ws: Path) -> Path:
    """The sandboxed workspace with a recipe `t/types` of four typed parameters."""
    write_recipe(sandbox_ws, "t/types", parameters=TYPES, cells=("print(n)",))
    return sandbox_ws


@pytest.mark.parametrize("args", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("as_json", [False, True], ids=["plain", "json"])
def test_a_refusal_masks_the_workspaces_secrets(
    types_ws: Path, args: tuple[str, ...], as_json: bool
) -> None:
    json_flag = ("--json",) if as_json else ()
    result = CliRunner().invoke(main, [*args, "--workspace", str(types_ws), *json_flag])

    assert result.exit_code == 2, result.output
    said = result.output + result.stderr
    assert "lpstudio: error:" in result.stderr and "****" in result.stderr
    assert SECRET not in said.lower()
    if as_json:
        error = json.loads(result.stdout)["error"]
        assert "****" in error["message"] and SECRET not in json.dumps(error).lower()


def test_a_named_field_and_the_fix_are_masked_too(types_ws: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", "t/types", "-p", SECRET, "1", "--workspace", str(types_ws), "--json"]
    )

    error = json.loads(result.stdout)["error"]
    assert error["field"] == "****"
    assert error["message"].startswith("unknown parameter '****' for t/types.ipynb")


def test_the_workspace_found_from_the_folder_masks_too(types_ws: Path) -> None:
    """The reviewer's case: `lpstudio run` typed in the workspace, as a cron line runs it."""
    ran = run_cli("run", "t/types", "-p", "n", SECRET, "--json", cwd=types_ws)

    assert ran.returncode == 2
    assert json.loads(ran.stdout)["error"]["message"] == (
        "parameter 'n' expects an integer, got \"****\""
    )
    assert SECRET not in ran.stdout + ran.stderr


def test_secrets_that_cannot_be_read_leave_the_error_as_it_is(types_ws: Path) -> None:
    """A key that opens none of the stored secrets: the refusal is still the one given."""
    from cryptography.fernet import Fernet

    (types_ws / "secret.key").write_bytes(Fernet.generate_key())

    result = CliRunner().invoke(main, ["run", "t/types", "-p", "n", "7x", "-w", str(types_ws)])

    assert result.exit_code == 2
    assert result.stderr == (
        "lpstudio: error: parameter 'n' expects an integer, got \"7x\"\n"
        "  fix: pass an integer, for example: 7\n"
    )


def test_a_store_that_is_down_still_masks_its_own_password(types_ws: Path) -> None:
    """The store's password is in the workspace's settings, not in the store: masked even
    when the store cannot be reached to read the connections' secrets."""
    config = types_ws / "lpstudio.toml"
    down = "postgresql+psycopg://lp:st0re-pass@127.0.0.1:1/lp"
    config.write_text(config.read_text().replace("sqlite:///lpstudio.db", down))
    event = '{"st0re-pass": 1, "st0re-pass": 2}'

    result = CliRunner().invoke(main, ["run", "t/types", "--event", event, "-w", str(types_ws)])

    assert result.exit_code == 2
    assert result.stderr.startswith(
        "lpstudio: error: --event is not valid JSON: the name '****' is given twice"
    )


def test_no_workspace_found_is_said_as_it_is(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "t/types", "-p", "n", "x", "-w", str(tmp_path)])

    assert result.exit_code == 2
    assert "lpstudio: error:" in result.stderr and "workspace" in result.stderr


def test_a_secret_printed_in_pieces_is_masked_in_papermills_copies(
    sandbox_ws: Path, tmp_path: Path
) -> None:
    """`papermill --engine lpstudio --stdout-file/--stderr-file/--log-output`: the kernel
    sends what a cell prints in chunks, a secret's two halves in two of them; each file
    gets whole lines, masked, and a cell's last partial line when the cell ends (here by
    failing), each stream in its own file in the order it was printed."""
    cells = (
        "import sys\n"
        'secret = "sandbox" + "-secret"\n'
        'print(secret[:7], end="", flush=True)\n'
        'print("a line between", file=sys.stderr, flush=True)\n'
        "print(secret[7:], flush=True)\n"
        'print(secret.upper()[:3], end="", file=sys.stderr, flush=True)\n'
        "print(secret.upper()[3:], file=sys.stderr)",
        'print("cut", secret[:4], end="", flush=True)\nraise ValueError("stop")',
    )
    notebook = write_recipe(sandbox_ws, "p/pieces", cells=cells)
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    options = ("--log-output", "--stdout-file", str(stdout), "--stderr-file", str(stderr))

    ran = papermill_cli(notebook, tmp_path / "out.ipynb", *options)

    assert "ValueError" in ran.stderr  # the last cell failed, as it was written to
    assert stdout.read_text() == "****\ncut sand"
    assert stderr.read_text() == "a line between\n****\n"
    assert "****" in ran.stderr and SECRET not in ran.stderr.lower()
