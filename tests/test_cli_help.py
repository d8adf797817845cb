"""The command line as the README and `--help` present it, and how it refuses what it does
not know: every bad option or value reads like lpstudio's other errors."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from lpstudio.cli import main

README = (Path(__file__).parent.parent / "README.md").read_text()
#: The README's command lines, as in its code blocks (environment variables before them).
README_LINES = [
    line.replace("\\\n", " ")
    for line in re.findall(r"^ {4,}(?:[A-Z_]+=\S+ )*lpstudio ((?:[^#\n\\]|\\\n)*)", README, re.M)
]


def test_help_lists_every_command_the_readme_names() -> None:
    named = set(re.findall(r"`lpstudio ([a-z][a-z-]*)", README))
    named |= {shlex.split(line)[0] for line in README_LINES}
    listed = CliRunner().invoke(main, ["--help"]).output
    commands = set(re.findall(r"^  ([a-z][a-z-]*)  ", listed, re.M))
    assert named and named <= commands, named - commands


#: A value a user would type for each placeholder of the README's command lines.
SAMPLES = {"JOB": "7", "R": "billing/reminder", "<site id>": "12345678", "<client id>": "abc"}


def typed(line: str) -> list[str]:
    """A README command line as a user types it: its optional `[...]` parts given, its
    placeholders replaced by sample values (an unknown one is left for click to refuse)."""
    line = re.sub(r"<[^>]+>|\b[A-Z]+\b", lambda found: SAMPLES.get(found[0], found[0]), line)
    return shlex.split(re.sub(r"[\[\]]", "", line))


def parse(args: list[str]) -> click.Context:
    """Parses `lpstudio ARGS` down to its command as running it would, running nothing: every
    value's type and choice and every command's count of arguments is checked (`--help`
    given too skips them all). Raises click's UsageError."""
    ctx = click.Group.make_context(main, "lpstudio", args)  # main's own prints it and exits
    while isinstance(ctx.command, click.Group) and ctx._protected_args:  # click 8.2 deprecated
        name, command, rest = ctx.command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert command is not None
        ctx = command.make_context(name, rest, parent=ctx)
    return ctx


@pytest.mark.parametrize("line", README_LINES)
def test_every_readme_command_line_parses_as_typed(line: str) -> None:
    # Checked with `--help` appended, a line such as `lpstudio jobs --status done`, `show 1 2`
    # or `gallery try` passed, though typed it is refused.
    try:
        parse(typed(line))
    except click.UsageError as exc:
        pytest.fail(f"lpstudio {line.strip()}: {exc.format_message()}")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("--status failed", "--status done"),  # not a status
        ("--limit 20", "--limit many"),  # not a number
        ("show JOB", "show JOB JOB"),  # one job at a time
        ("try payment_reminder --project", "try --project"),  # no template
    ],
)
def test_a_readme_command_line_typed_wrong_is_refused(old: str, new: str) -> None:
    (line,) = [line for line in README_LINES if old in line]
    with pytest.raises(click.UsageError):
        parse(typed(line.replace(old, new)))


def test_the_gallery_takes_the_workspace_option_as_the_readme_says(ws: Path) -> None:
    # "cd ~/brand  # or pass --workspace", then `lpstudio gallery`: it refused --workspace.
    listed = CliRunner().invoke(main, ["gallery", "--workspace", str(ws)])
    assert listed.exit_code == 0, listed.output
    assert "payment_reminder" in listed.output
    tried = CliRunner().invoke(
        main, ["gallery", "--workspace", str(ws), "try", "payment_reminder", "--project", "p"]
    )
    assert tried.exit_code == 0, tried.output
    assert (ws / "projects" / "p" / "payment_reminder.ipynb").is_file()


@pytest.mark.parametrize(
    ("before", "command"),
    [
        (["--workspace", "W", "recipes"], "lpstudio"),
        (["connections", "-w", "W", "list"], "connections"),
    ],
)
def test_a_command_s_option_given_before_it_is_told_to_go_after_it(
    before: list[str], command: str
) -> None:
    """`lpstudio --workspace W recipes`, as the "pass --workspace" fix reads, was told to
    leave out --workspace."""
    result = CliRunner().invoke(main, before, prog_name="lpstudio")
    assert result.exit_code == 2, result.output
    option = before[-3]
    fix = result.stderr.split("fix: ")[1]
    prefix = "lpstudio" if command == "lpstudio" else f"lpstudio {command}"
    assert fix.strip() == f"give {option} after the command: `{prefix} COMMAND {option} ...`"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["jobs", "--status", "done"], "--status"),
        (["jobs", "--limit", "0"], "--limit"),
        (["show", "0"], "JOB_ID"),
        (["purge", "--older-than", "nan"], "--older-than"),
        (["jobs", "--jsn"], "--jsn"),
        (["gallery", "try", "payment_reminder"], "--project"),
        (["run"], "RECIPE"),
        (["--bogus"], "--bogus"),
    ],
)
def test_a_bad_option_reads_like_every_other_bad_input(
    ws: Path, args: list[str], field: str
) -> None:
    # Click's own refusals printed its usage and `Error: ...`, with no fix and no JSON.
    result = CliRunner().invoke(main, [*args, "--workspace", str(ws)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("lpstudio: error: "), result.stderr
    assert "\n  fix: " in result.stderr and field in result.stderr.split("fix:")[1]
    assert result.stdout == "" and "Traceback" not in result.output

    as_json = CliRunner().invoke(main, [*args, "--json", "--workspace", str(ws)])
    assert as_json.exit_code == 2, as_json.output
    error = json.loads(as_json.stdout)["error"]
    assert error["field"] == field and field in error["fix"], error
    assert error["code"] == "InputError" and error["message"]


def test_ctrl_c_exits_130_as_the_readme_says(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Outside a running job, Ctrl-C printed "Aborted!" and exited 1, as a failed job does.
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("lpstudio.studio.Studio.jobs", interrupted)
    result = CliRunner().invoke(main, ["jobs", "--workspace", str(ws)])
    assert result.exit_code == 130, result.output
    assert "lpstudio: interrupted" in result.stderr and "Aborted" not in result.output


@pytest.mark.parametrize(
    ("args", "field", "command"),
    [
        (["run", "p/x", "-p", "days_ahead"], "-p", "lpstudio run"),
        (["jobs", "--limit"], "--limit", "lpstudio jobs"),
        (["connections", "add", "x", "--type"], "--type", "lpstudio connections add"),
    ],
)
def test_an_option_left_without_its_value_points_at_its_own_commands_help(
    ws: Path, args: list[str], field: str, command: str
) -> None:
    # The fix said "give -p as `lpstudio --help` describes it": the top-level help, which
    # does not describe -p.
    env = {"LPSTUDIO_WORKSPACE": str(ws)}
    result = CliRunner().invoke(main, args, env=env, prog_name="lpstudio")
    assert result.exit_code == 2, result.output
    fix = result.stderr.split("\n  fix: ")[1]
    assert field in fix and f"`{command} --help`" in fix, result.stderr


@pytest.mark.parametrize("args", [[], ["connections"], ["api-clients"], ["users"]])
def test_a_command_group_alone_shows_its_help_not_an_error(args: list[str]) -> None:
    # `lpstudio` alone, a new user's first command, printed "lpstudio: error: Usage: ..."
    # with "fix: see `lpstudio --help`" and exited 2.
    result = CliRunner().invoke(main, args)
    helped = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout == helped.stdout and "lpstudio: error" not in result.output


def test_the_demo_names_lpstudio_as_this_shell_reaches_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`make demo` ended with "see the history with: lpstudio jobs ...", which a newcomer's
    shell, without the environment activated, answered with "command not found"."""
    from lpstudio.demo import lpstudio_command

    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert lpstudio_command() == str(Path(bin_dir) / "lpstudio")  # not under this folder
    monkeypatch.chdir(Path(bin_dir).parent.parent)
    assert lpstudio_command() == str(Path(bin_dir).relative_to(Path.cwd()) / "lpstudio")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert lpstudio_command() == "lpstudio"


def test_start_s_help_names_every_scheduler_that_fires_its_trigger() -> None:
    """`lpstudio start --help` said the trigger fires "in `lpstudio scheduler`", though a
    server hosting the scheduler (`lpstudio serve`, JupyterLab) fires it too."""
    said = " ".join(CliRunner().invoke(main, ["start", "--help"]).output.split())
    assert "its trigger fires wherever a scheduler runs on the workspace" in said, said
    assert "`lpstudio scheduler`" in said and "(`lpstudio serve`, JupyterLab)" in said, said
