"""What `lpstudio start` and `stop` say: the recipe by its name under projects/, as every
other command names it, and where a poll trigger's poll goes from."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from .conftest import write_recipe
from .test_cli_input import write_polled


def local(moment: str) -> str:
    """A stored moment as the CLI prints every time (`jobs`, `settings`): this machine's
    zone, to the second."""
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def test_start_and_stop_name_the_recipe_under_projects(ws: Path, cli) -> None:
    """They printed its absolute path (`started /home/.../projects/p/plain.ipynb`)."""
    write_recipe(ws, "p/plain")
    started = cli("start", "p/plain")
    assert started.exit_code == 0, started.output
    assert started.output == "started p/plain.ipynb\n"
    stopped = cli("stop", str(ws / "projects" / "p" / "plain.ipynb"))  # typed as a path too
    assert stopped.exit_code == 0, stopped.output
    assert stopped.output == "stopped p/plain.ipynb\n"


def test_start_says_where_a_poll_goes_from_and_where_a_reset_moved_it(ws: Path, cli) -> None:
    """`start --reset-since 2h` printed word for word what a plain start prints: nothing
    told the user where the poll now starts from."""
    write_polled(ws, "p/poll")
    first = cli("start", "p/poll", "--json")
    assert first.exit_code == 0, first.output
    since = json.loads(first.stdout)["since"]  # fixed by this first start

    again = cli("start", "p/poll")
    assert again.exit_code == 0, again.output
    assert again.output == f"started p/poll.ipynb; it polls for events since {local(since)}\n"

    moved = cli("start", "p/poll", "--reset-since", "2026-11-30 09:00")
    assert moved.exit_code == 0, moved.output
    # In this machine's zone, as typed: it can be given back to --reset-since as printed.
    said = "started p/poll.ipynb; its poll starts again from 2026-11-30 09:00:00\n"
    assert moved.output == said
    shown = json.loads(cli("settings", "p/poll", "--json").stdout)
    assert local(shown["since"]) == "2026-11-30 09:00:00"

    by_json = json.loads(cli("start", "p/poll", "--reset-since", "2h", "--json").stdout)
    assert by_json["state"] == "started" and by_json["since"] != shown["since"]


def test_a_start_after_polls_says_it_goes_on_from_its_last_poll(ws: Path, cli) -> None:
    """A plain start after polls named the since of the first (`it polls for events since`
    30 days ago), read as a replay of 30 days: it goes on from the last poll's end."""
    write_polled(ws, "p/poll")
    (ws / "data").mkdir(exist_ok=True)
    (ws / "data" / "in.csv").write_text("phone\n+14155550100\n")
    since = json.loads(cli("start", "p/poll", "--json").stdout)["since"]
    assert cli("stop", "p/poll").exit_code == 0
    polled = cli("poll", "p/poll", "--no-run")
    assert polled.exit_code == 0, polled.output

    again = cli("start", "p/poll")

    assert again.exit_code == 0, again.output
    assert again.output == (
        "started p/poll.ipynb; it polls on from where its last poll ended (its polls began at "
        f"{local(since)}; `--reset-since` starts them again)\n"
    )
