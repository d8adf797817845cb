"""Numbers and fields the command line refuses before anything starts or is written."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lpstudio.errors import InputError, ParameterError, quoted
from lpstudio.sandbox.seed import make_checkout
from lpstudio.studio import Studio
from lpstudio.widgets import RecipeForm

from .conftest import finished_job, job_rows, purged, run_cli, run_json, set_job, write_recipe
from .servers import rest
from .test_forms import refused


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "1e12"])
def test_purge_refuses_a_retention_that_is_not_a_number_of_days(ws: Path, cli, days: str) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    result = cli("purge", "--older-than", days)
    assert result.exit_code == 2, result.output
    assert "--older-than" in result.output and "0<=x<=36500" in result.output
    assert "Traceback" not in result.output
    assert not purged(ws, job_id)


def test_purge_keeps_recent_jobs_and_erases_old_ones(ws: Path, cli) -> None:
    job_id = finished_job(ws, minutes_ago=5)
    assert json.loads(cli("purge", "--older-than", "1", "--json").stdout) == {
        "purged": [],
        "prepared": [],
    }
    assert json.loads(cli("purge", "--older-than", "0", "--json").stdout) == {
        "purged": [job_id],
        "prepared": [],
    }


@pytest.mark.parametrize("grace", ["-1", "nan", "1e12"])
def test_scheduler_refuses_a_bad_grace_period_before_it_starts(
    ws: Path, cli, monkeypatch: pytest.MonkeyPatch, grace: str
) -> None:
    started: list[object] = []
    monkeypatch.setattr("lpstudio.scheduler.Scheduler.run_forever", started.append)
    result = cli("scheduler", "--grace", grace)
    assert result.exit_code == 2, result.output
    assert "--grace" in result.output and "0<=x<=86400" in result.output
    assert started == []


@pytest.mark.parametrize("command", ["show", "rerun", "cancel"])
def test_a_job_id_too_large_for_the_store_is_refused(ws: Path, cli, command: str) -> None:
    # 5000: int() raised, then the refusal echoed all 5000 digits; -1: "No such option"
    for given in ("99999999999999999999", "abc", "0", "1" * 5000, "-1"):
        result = cli(command, given)
        assert result.exit_code == 2, result.output
        assert "JOB_ID" in result.output and "Traceback" not in result.output
        # click said "'abc' is not a valid integer range"
        assert "is not a job id" in result.output and "integer range" not in result.output
        shown = given if len(given) <= 20 else "1" * 20 + "\u2026"
        assert f"{shown} is not a job id" in result.output and "1" * 21 not in result.output


@pytest.mark.parametrize("given", ["-1", "-x", "--jsn"])
def test_a_negative_job_id_is_refused_as_the_job_id_and_options_stay_options(
    ws: Path, cli, given: str
) -> None:
    result = cli("show", "5", given)  # an argument already given: the token is refused
    assert result.exit_code == 2, result.output
    if given == "-1":
        assert "-1 is not a job id" in result.output
    else:
        assert f"No such option '{given}'" in result.output
    limit = cli("jobs", "--limit", "-1")  # an option's negative value is still its value
    assert limit.exit_code == 2 and "--limit" in limit.output, limit.output
    assert "No such option" not in limit.output


def test_a_missing_secret_says_it_is_required_and_how_to_give_it(ws: Path, cli) -> None:
    result = cli(
        "connections",
        "add",
        "x1",
        "--type",
        "liveperson_proactive",
        "--field",
        "account_id=1",
        "--field",
        "client_id=a",
        "--json",
        input="",
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "client_secret"
    assert "is required" in error["message"]
    assert "--secret client_secret" in error["fix"]
    assert "$LPSTUDIO_SECRET_CLIENT_SECRET" in error["fix"]
    assert json.loads(cli("connections", "list", "--json").stdout) == []


def test_a_missing_plain_field_says_which_option_gives_it(ws: Path, cli) -> None:
    result = cli(
        "connections",
        "add",
        "x1",
        "--type",
        "liveperson_proactive",
        "--field",
        "account_id=1",
        "--secret",
        "client_secret",
        "--json",
        input="s3cret\n",
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "client_id" and "is required" in error["message"]
    assert "--field client_id=" in error["fix"]
    assert "s3cret" not in result.output
    assert json.loads(cli("connections", "list", "--json").stdout) == []


def test_rerunning_a_job_that_does_not_exist_names_it_without_a_warning(ws: Path, cli) -> None:
    result = cli("rerun", "4242")
    assert result.exit_code == 2, result.output
    assert "4242" in result.output and "warning" not in result.output


# -- the trigger event of a run ------------------------------------------------------------

#: A poll trigger of a CSV file's rows: no app to ask, and its connection is added at once.
POLLED = {"kind": "poll", "connection": "rows", "trigger": "new_rows"}


def write_polled(
    ws: Path, name: str, cells: tuple[str, ...] = ("print(x)",), **trigger: Any
) -> None:
    """A poll recipe, and the connection its slot needs (a poll names one)."""
    with Studio.open(ws, user="alice") as studio:
        if not studio.connections.list():
            studio.connections.add("rows", "csv_file", {"path": "data/in.csv"}, "alice")
    metadata = {
        "title": name,
        "trigger": {**POLLED, **trigger},
        "connections": {"rows": {"type": "csv_file"}},
    }
    write_recipe(ws, name, cells=cells, metadata=metadata)


EVENT_CELL = "import lpstudio.kernel as lp\nlp.set_result({'records': len(lp.event)})"


@pytest.mark.parametrize("event", ["[1, 2]", '[{"phone": "+14155550100"}]', "5", '"text"', "true"])
def test_run_refuses_an_event_that_is_not_a_json_object(ws: Path, cli, event: str) -> None:
    write_recipe(ws, "p/one")
    result = cli("run", "p/one", "--event", event, "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "--event"  # the option typed, as every refusal of the CLI names
    assert error["message"].startswith("--event must be a JSON object"), error
    assert '{"phone": "+14155550100"}' in error["fix"]
    assert json.loads(cli("jobs", "--json").stdout) == []


@pytest.mark.parametrize(
    ("event", "fix"),
    [
        ('{"a": NaN}', "use null"),
        ('{"a": 1, "a": 2}', "give each name once"),
        ('{"phone": "+14155550100",}', "remove the comma before } at line 1, column 26"),
        ("{not json", '{"phone": "+14155550100"}'),
    ],
)
def test_an_event_that_is_no_json_is_told_the_fix_for_its_cause(
    ws: Path, cli, event: str, fix: str
) -> None:
    # A NaN or a name given twice was told to "give a JSON object such as ...", which it was.
    write_recipe(ws, "p/one")
    result = cli("run", "p/one", "--event", event, "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["message"].startswith("--event is not valid JSON"), error
    assert fix in error["fix"], error
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_an_event_file_that_holds_a_list_is_refused_by_its_name(
    ws: Path, tmp_path: Path, cli
) -> None:
    write_recipe(ws, "p/one")
    file = tmp_path / "event.json"
    file.write_text("[1, 2]")
    result = cli("run", "p/one", "--event-file", str(file))
    assert result.exit_code == 2, result.output
    assert f"--event-file {file} must be a JSON object" in result.stderr
    for content in ("[1, 2]", "{not json"):
        file.write_text(content)
        as_json = cli("run", "p/one", "--event-file", str(file), "--json")
        assert json.loads(as_json.stdout)["error"]["field"] == "--event-file", as_json.stdout
    missing = cli("run", "p/one", "--event-file", str(tmp_path / "nothing.json"), "--json")
    assert json.loads(missing.stdout)["error"]["field"] == "--event-file"
    assert json.loads(cli("jobs", "--json").stdout) == []


def test_files_not_in_utf8_are_refused_by_option_and_a_byte_order_mark_is_read(
    ws: Path, tmp_path: Path, cli
) -> None:
    """A Latin-1 file was a traceback and exit 1 (a failed job's code); one a Windows
    editor saved as UTF-8 with a byte-order mark was refused in json's words."""
    write_recipe(ws, "p/one", "n: int = 1", ("print(n)",))
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"first_name": "\xe9"}')
    params = tmp_path / "params.yaml"
    params.write_bytes(b"\xff\xfen: 2\n")
    for option, file in (("--event-file", latin), ("-f", params)):
        result = cli("run", "p/one", option, str(file), "--json")
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == option and "is not UTF-8 text" in error["message"], error
        assert "save the" in error["fix"] and "as UTF-8" in error["fix"], error
    assert json.loads(cli("jobs", "--json").stdout) == []
    params.write_bytes("\ufeffn: 2\n".encode())
    latin.write_bytes('\ufeff{"first_name": "\u00e9"}'.encode())
    result = cli("run", "p/one", "-f", str(params), "--event-file", str(latin), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"] == {"n": 2}


def test_a_schedule_recipe_s_event_given_by_hand_needs_a_due_time_it_can_read(
    ws: Path, cli
) -> None:
    """`{"due_at": "garbage"}` started a job that failed in its cell."""
    trigger = {"kind": "schedule", "cron": "0 9 * * *", "timezone": "Pacific/Auckland"}
    code = "from datetime import datetime\nimport lpstudio.kernel as lp\n"
    code += "print(datetime.fromisoformat(lp.event['due_at']).hour if lp.event else 'now')"
    write_recipe(ws, "p/tick", cells=(code,), metadata={"title": "tick", "trigger": trigger})
    for event in ('{"due_at": "garbage"}', '{"due_at": 9}', '{"when": "2027-01-11"}'):
        result = cli("run", "p/tick", "--event", event, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == "--event" and "ISO 8601 text in due_at" in error["message"], error
        assert '{"due_at": "2027-01-11T09:00:00+13:00"}' in error["fix"], error
    assert json.loads(cli("jobs", "--json").stdout) == []
    for event in ('{"due_at": "2027-01-11T09:00:00+13:00"}', None):
        args = ("--event", event) if event else ()
        assert cli("run", "p/tick", *args).exit_code == 0


def test_an_event_is_checked_against_the_formats_its_input_schema_names(ws: Path, cli) -> None:
    """`"format": "email"` and `"date-time"` were annotations only: any text was taken, and
    the recipe met `not-an-email` in its cell."""
    schema = {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email"},
            "since": {"type": "string", "format": "date-time"},
        },
    }
    trigger = {"kind": "webhook", "input_schema": schema}
    write_recipe(ws, "p/lead", metadata={"title": "lead", "trigger": trigger})
    for event, field in (
        ('{"email": "not-an-email"}', "email"),
        ('{"since": "yesterday"}', "since"),
        ('{"since": "2027-01-11 09:00"}', "since"),  # RFC 3339 needs the T and the offset
    ):
        result = cli("run", "p/lead", "--event", event, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == f"--event.{field}" or field in error["message"], error
        assert "is not a" in error["message"], error
    assert json.loads(cli("jobs", "--json").stdout) == []
    fits = '{"email": "ada@example.com", "since": "2027-01-11T09:00:00+13:00"}'
    assert cli("run", "p/lead", "--event", fits).exit_code == 0


@pytest.mark.parametrize("event", [[1, 2], 5, "text"])
def test_the_python_api_refuses_an_event_that_is_not_an_object(ws: Path, event: object) -> None:
    write_recipe(ws, "p/one")
    with Studio.open(ws, user="alice") as studio:
        for start in (studio.run, studio.dispatch):
            with pytest.raises(InputError) as refused:
                start("p/one", event=event)
            assert refused.value.field == "event"
            assert refused.value.message.startswith("event must be a JSON object")
        assert studio.jobs() == []


def test_a_batch_recipe_takes_a_list_of_records_and_refuses_a_single_one(ws: Path, cli) -> None:
    write_polled(ws, "p/batch", cells=(EVENT_CELL,), batch_size=10)
    single = cli("run", "p/batch", "--event", '{"phone": "+14155550100"}')
    assert single.exit_code == 2, single.output
    assert "--event must be a JSON list of objects" in single.stderr
    assert "batches" in single.stderr
    assert "fix: give a list of the event objects, this one as [{...}]" in single.stderr
    # The sandbox's answer as it comes (the README's): the list inside it is named.
    wrapped = cli("run", "p/batch", "--event", '{"checkouts": [{"id": 1}]}')
    assert wrapped.exit_code == 2, wrapped.output
    assert "fix: give the list under 'checkouts' inside it, not the object around it" in (
        wrapped.stderr
    )
    with (
        Studio.open(ws, user="alice") as studio,
        pytest.raises(InputError, match="list of objects"),
    ):
        studio.run("p/batch", event=[{"phone": "+14155550100"}, 7])
    batch = '[{"phone": "+14155550100"}, {"phone": "+14155550101"}]'
    code, job = run_json("run", "p/batch", "--event", batch, "--workspace", str(ws))
    assert code == 0, job
    assert job["event"] == json.loads(batch) and job["result"] == {"records": 2}


async def test_one_checkout_given_to_a_batch_recipe_is_to_be_put_in_a_list(
    ws: Path, cli, jp_fetch: Any
) -> None:
    """A checkout holds one list, its `line_items`: the fix said to give that list instead
    of the object around it, which would have made each line item an event. The REST API's
    run route says the same."""
    write_polled(ws, "p/batch", cells=(EVENT_CELL,), batch_size=10)
    checkout = make_checkout(0, random.Random(1), datetime.now(UTC))  # as Shopify lists it

    said = cli("run", "p/batch", "--event", json.dumps(checkout), "--json")

    assert said.exit_code == 2, said.output
    fix = json.loads(said.stdout)["error"]["fix"]
    assert fix == "give a list of the event objects, this one as [{...}]"
    body = {"event": checkout}
    code, answer = await rest(jp_fetch, "POST", "recipes", "p/batch.ipynb", "run", body=body)
    assert code == 400, answer
    assert answer["error"]["fix"] == fix
    assert job_rows(ws) == 0


# -- where a job failed ----------------------------------------------------------------------


def failed_job(ws: Path, error: dict[str, object], cells_total: int) -> int:
    """A job that failed with `error`, written straight to the store (no kernel)."""
    job_id = finished_job(ws, minutes_ago=1)
    with Studio.open(ws, user="alice") as studio:
        set_job(studio.store, job_id, status="failed", error=error, cells_total=cells_total)
    return job_id


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            {"cell": 3, "execution_count": 3, "ename": "KeyError", "evalue": "'phone'"},
            "KeyError in cell 4 of 5 (In [3]): 'phone'",
        ),
        (
            {"cell": 0, "execution_count": None, "ename": "Timeout", "evalue": "after 5 s"},
            "Timeout in cell 1 of 5: after 5 s",
        ),
        ({"cell": None, "ename": "WorkerLost", "evalue": "worker lost"}, "WorkerLost: worker lost"),
    ],
)
def test_show_counts_the_failed_cell_from_one_as_jupyterlab_does(
    ws: Path, cli, error: dict[str, object], shown: str
) -> None:
    job_id = failed_job(ws, error, cells_total=5)
    result = cli("show", str(job_id))
    assert result.exit_code == 0, result.output
    assert f"error:    {shown}\n" in result.output
    assert "at cell" not in result.output
    stored = json.loads(cli("show", str(job_id), "--json").stdout)["error"]
    assert stored["cell"] == error["cell"]  # papermill's 0-based index, as stored


def test_settings_shows_each_parameter_with_its_value_type_and_help(ws: Path, cli) -> None:
    # It printed `parameters: {}` until a value was saved: an admin on the command line
    # could not see what there was to set.
    write_recipe(
        ws,
        "p/remind",
        parameters='days_ahead: int = 7  # days before the due date\nskill: str = "billing"',
    )
    assert cli("settings", "p/remind", "-p", "days_ahead", "3").exit_code == 0

    shown = cli("settings", "p/remind")

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "  days_ahead = 3  [integer, saved]  # days before the due date" in lines
    assert '  skill = "billing"  [string, default]' in lines
    assert json.loads(cli("settings", "p/remind", "--json").output)["parameters"] == {
        "days_ahead": 3
    }


def test_settings_tells_a_chosen_connection_from_the_automatic_choice(ws: Path, cli) -> None:
    # Both printed alike: which slot would follow a new connection named like it was unsaid.
    slots = {"files": {"type": "csv_file"}, "other": {"type": "csv_file"}}
    write_recipe(ws, "p/slots", metadata={"title": "slots", "connections": slots})
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("files", "csv_file", {"path": "a.csv"}, "alice")
        studio.connections.add("b", "csv_file", {"path": "b.csv"}, "alice")
    assert cli("settings", "p/slots", "--connection", "other=b").exit_code == 0

    lines = cli("settings", "p/slots").output.splitlines()

    assert "connection:  files = files  (automatic)" in lines, lines
    assert "connection:  other = b" in lines, lines


def test_a_time_without_a_zone_is_read_in_the_zone_the_cli_prints_times_in(ws: Path) -> None:
    """`lpstudio jobs` prints local times: a `--since` copied from it (no zone) means that
    local moment, not the same digits in UTC (12 hours apart in Auckland's zone here)."""
    job_id = finished_job(ws, minutes_ago=0)
    zone = {"TZ": "Etc/GMT-12"}  # UTC+12, all year
    listed = run_cli("jobs", "--workspace", str(ws), env=zone)
    shown = listed.stdout.splitlines()[-1].split()  # id, status, recipe, date, time, ...
    assert shown[0] == str(job_id), listed.stdout
    printed = datetime.fromisoformat(f"{shown[3]}T{shown[4]}")
    minute_before = (printed - timedelta(minutes=1)).isoformat()
    minute_after = (printed + timedelta(minutes=1)).isoformat()

    code, since_before = run_json(
        "jobs", "--since", minute_before, "--workspace", str(ws), env=zone
    )
    code_after, since_after = run_json(
        "jobs", "--since", minute_after, "--workspace", str(ws), env=zone
    )
    utc = run_json("jobs", "--since", minute_before + "+00:00", "--workspace", str(ws), env=zone)

    assert code == code_after == 0
    assert [job["id"] for job in since_before] == [job_id]
    assert since_after == []
    assert utc == (0, [])  # with a zone, the zone given counts
    # At the calendar's ends, refused in words: before 1970, and past the year 9999 in UTC
    # (9999-12-31T23:00 at UTC-12 is 10000-01-01T11:00 there).
    for edge, tz in (("0001-01-01", "Etc/GMT-12"), ("9999-12-31T23:00", "Etc/GMT+12")):
        at_edge = run_cli("jobs", "--since", edge, "--workspace", str(ws), env={"TZ": tz})
        assert at_edge.returncode == 2 and "Traceback" not in at_edge.stderr, at_edge.stderr


# -- times and the REST API's names ---------------------------------------------------------


@pytest.fixture
def auckland(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process in a zone 12 hours from UTC all year (Etc/GMT-12 is UTC+12)."""
    monkeypatch.setenv("TZ", "Etc/GMT-12")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_every_time_the_cli_prints_is_in_the_zone_jobs_prints_in(ws: Path, cli, auckland) -> None:
    # `jobs` printed local times, while `show`, `versions`, `audit` and `settings` printed
    # UTC: a `--since` copied from one of them meant another moment.
    job_id = finished_job(ws, minutes_ago=0)
    write_polled(ws, "p/done")
    assert cli("settings", "p/done", "--since", "2026-11-29T09:00").exit_code == 0
    with Studio.open(ws, user="alice") as studio:
        created = studio.job(job_id).created_at
        version = studio.versions("p/done")[0]["created_at"]
        audited = studio.audit_entries(1)[0]["at"]
    local = created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert created.astimezone().utcoffset() == timedelta(hours=12)

    assert local in cli("jobs").output
    assert f"  created:  {local}\n" in cli("show", str(job_id)).output
    assert "since:       2026-11-29 09:00:00\n" in cli("settings", "p/done").output
    shown_version = cli("versions", "p/done").output.splitlines()[0]
    assert datetime.fromisoformat(version).astimezone().strftime("%Y-%m-%d %H:%M") in shown_version
    shown_audit = cli("audit", "--limit", "1").output
    assert shown_audit.startswith(datetime.fromisoformat(audited).astimezone().strftime("%Y-%m-%d"))
    assert datetime.fromisoformat(audited).strftime("%H:%M:%S") not in shown_audit  # not UTC


@pytest.mark.parametrize(
    ("recipe", "since", "field"),
    [("p/manual", "2h", "--since"), ("p/poll", "", "--since"), ("p/manual", "", "--since")],
)
def test_a_since_is_refused_for_a_recipe_that_does_not_poll_and_when_empty(
    ws: Path, cli, recipe: str, since: str, field: str
) -> None:
    """It was saved and shown for a manual recipe, which never reads it; and an empty one
    was taken for no option at all (the REST API refuses both)."""
    write_recipe(ws, "p/manual")
    write_polled(ws, "p/poll")
    result = cli("settings", recipe, "--since", since, "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["field"] == field
    assert "since" not in json.loads(cli("settings", recipe, "--json").stdout)


def test_audit_json_has_the_rest_apis_fields(ws: Path, cli) -> None:
    # It built its own entries and left out the `id` that GET /audit answers with.
    write_recipe(ws, "p/one")
    assert cli("settings", "p/one", "-p", "x", "2").exit_code == 0
    with Studio.open(ws, user="alice") as studio:
        rest = studio.audit_entries(5)  # what AuditHandler answers under "entries"
    assert json.loads(cli("audit", "--limit", "5", "--json").stdout) == rest
    assert all("id" in entry for entry in rest)


def test_the_audit_log_names_the_settings_a_save_changed_and_only_those(ws: Path, cli) -> None:
    """A new failure contact was audited as a change of parameters and connections too; a
    save of no change is no change, and is not audited."""
    write_recipe(
        ws,
        "p/tick",
        metadata={"title": "tick", "trigger": {"kind": "schedule", "cron": "0 9 * * *"}},
    )
    steps = (
        (["--notify-email", "ops@brand.example"], ["notify"]),
        (["-p", "x", "2"], ["parameters"]),
        (["-p", "x", "2"], ["parameters"]),  # saved again as it was: the entry before
        (["--reset", "x", "--notify-email", ""], ["parameters", "notify"]),
    )
    ids = []
    for args, changed in steps:
        assert cli("settings", "p/tick", *args).exit_code == 0
        (entry,) = json.loads(cli("audit", "--limit", "1", "--json").stdout)
        assert entry["action"] == "settings" and entry["detail"]["changed"] == changed, entry
        ids.append(entry["id"])
    assert ids[1] == ids[2] and len(set(ids)) == 3, ids


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["settings", "p/poll", "--since", "yesterday"], "--since"),
        (["settings", "p/poll", "--since", "99999999d"], "--since"),
        (["start", "p/poll", "--reset-since", "yesterday"], "--reset-since"),
        # A poll from 2099 found nothing until then, and said nothing.
        (["settings", "p/poll", "--since", "2099-01-01"], "--since"),
        (["start", "p/poll", "--reset-since", "2099-01-01"], "--reset-since"),
    ],
)
def test_a_bad_moment_is_refused_by_its_options_name(
    ws: Path, cli, args: list[str], option: str
) -> None:
    # The studio named it `since`, an option neither command has.
    write_polled(ws, "p/poll")
    result = cli(*args, "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == option and error["message"].startswith(f"{option} '"), error
    assert json.loads(cli("settings", "p/poll", "--json").stdout) == {
        "parameters": {},
        "connections": {"rows": "rows"},
    }


@pytest.mark.parametrize("typed", ["2099-01-01", "2099-01-01 10:00", "2099-01-01T10:00+02:00"])
def test_a_since_in_the_future_is_quoted_as_it_was_typed(ws: Path, cli, typed: str) -> None:
    """It was quoted as the ISO time the command line made of it in the machine's zone
    ('2099-01-01T00:00:00+00:00'), not as the user typed it."""
    write_polled(ws, "p/poll")
    for command, option in (("settings", "--since"), ("start", "--reset-since")):
        result = cli(command, "p/poll", option, typed, "--json")
        assert result.exit_code == 2, result.output
        message = json.loads(result.stdout)["error"]["message"]
        assert message.startswith(f"{option} {quoted(typed)} is in the future"), message


def test_a_studio_error_names_the_option_the_user_typed(ws: Path, cli) -> None:
    # The studio names its fields as the REST API does: `reset_since`, typed --reset-since.
    write_recipe(ws, "p/plain")
    result = cli("start", "p/plain", "--reset-since", "2h", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "--reset-since" and "reset_since" not in result.output
    assert error["message"].startswith("--reset-since applies to poll triggers")


def test_a_poll_trigger_its_connector_lacks_is_refused_at_start(ws: Path, cli) -> None:
    # It started, then failed in the scheduler poll after poll until it stopped itself.
    with Studio.open(ws, user="alice") as studio:
        studio.connections.add(
            "files", "csv_file", {"path": "data/in.csv"}, "alice"
        )  # a connector with no poll trigger named "orders"
    metadata = {
        "title": "poll",
        "connections": {"src": {"type": "csv_file"}},
        "trigger": {"kind": "poll", "connection": "src", "trigger": "orders"},
    }
    write_recipe(ws, "p/orders", metadata=metadata)
    result = cli("start", "p/orders", "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["field"] == "metadata.lpstudio.trigger.trigger"
    assert "started" not in cli("recipes").output


@pytest.mark.parametrize(
    ("trigger", "field", "said"),
    [
        (
            {"kind": "schedule", "cron": "0 9 * * *"},
            "metadata.lpstudio.trigger.kind",
            "p/daily.ipynb is triggered by schedule, not polled",
        ),
        ({"kind": "poll"}, "metadata.lpstudio.trigger.connection", "names no connection slot"),
        (
            {"kind": "poll", "connection": "shop"},
            "metadata.lpstudio.trigger.trigger",
            "names no trigger of its connector",
        ),
    ],
)
def test_lpstudio_poll_says_why_a_recipe_cannot_be_polled(
    ws: Path, cli, trigger: dict[str, str], field: str, said: str
) -> None:
    slots = {"shop": {"type": "shopify"}} if trigger.get("connection") else {}
    write_recipe(
        ws, "p/daily", metadata={"title": "daily", "trigger": trigger, "connections": slots}
    )
    result = cli("poll", "p/daily", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == field and said in error["message"], error
    if trigger["kind"] != "poll":  # the way to run it now instead
        assert "lpstudio run p/daily.ipynb" in error["fix"], error


# -- init on a workspace that is already active --------------------------------------------


def test_init_again_keeps_the_admin_and_refuses_another_one(ws: Path) -> None:
    # It said "workspace ready: ... (admin: alice)" and exited 0, ignoring --admin bob, whom
    # it created as an analyst on the way.
    from click.testing import CliRunner

    from lpstudio.cli import main

    again = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--admin", "bob"])
    assert again.exit_code == 2, again.output
    assert again.stderr.startswith("lpstudio: error: ") and "alice" in again.stderr
    assert "--admin" in again.stderr.split("fix:")[1]
    # The command the README gives for it, not only the REST route.
    assert "LPSTUDIO_USER=alice lpstudio users role bob admin" in again.stderr
    with Studio.open(ws, user="alice") as studio:
        assert [user["name"] for user in studio.users()] == ["alice"]
    same = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--admin", "alice"])
    assert same.exit_code == 0, same.output
    assert same.stdout.startswith(f"workspace already active: {ws} (admin: alice)")
    quiet = CliRunner().invoke(main, ["init", str(ws), "--accept-terms", "--json"])
    assert quiet.exit_code == 0 and json.loads(quiet.stdout)["admin"] == "alice"


def test_init_again_with_sandbox_asks_no_terms_and_says_which_connections_it_added(
    ws: Path,
) -> None:
    """`init . --sandbox URL` on an active workspace asked for the terms again (refused with
    no terminal); with --accept-terms it added connections and said only "already active":
    a new `liveperson` connection may fill an unbound slot, unannounced."""
    from click.testing import CliRunner

    from lpstudio.cli import main

    with Studio.open(ws, user="alice") as studio:
        studio.connections.add("shopify", "http", {"base_url": "http://127.0.0.1:9"}, "alice")
    url = "http://127.0.0.1:9"  # nothing answers: a warning on stderr, stdout as it was
    again = CliRunner().invoke(main, ["init", str(ws), "--sandbox", url])
    assert again.exit_code == 0, again.output
    assert "terms" not in again.stderr
    assert again.stdout.splitlines() == [
        f"workspace already active: {ws} (admin: alice)",
        f"added connection liveperson (liveperson_proactive) to the sandbox at {url}",
        "kept connection shopify: a connection of that name exists",
    ]
    quiet = CliRunner().invoke(main, ["init", str(ws), "--sandbox", url, "--json"])
    said = json.loads(quiet.stdout)
    assert (said["connections_added"], said["connections_kept"]) == ([], ["liveperson", "shopify"])


def test_init_with_a_sandbox_url_nothing_answers_at_warns_and_succeeds(
    tmp_path: Path, sandbox: Any
) -> None:
    """`init --sandbox http://127.0.0.1:1` said nothing: every later use of its connections
    failed, far from the typo or the sandbox never started."""
    from click.testing import CliRunner

    from lpstudio.cli import main

    nowhere = "http://127.0.0.1:1"
    started = time.monotonic()
    made = CliRunner().invoke(
        main, ["init", str(tmp_path / "a"), "--accept-terms", "--sandbox", nowhere]
    )
    assert made.exit_code == 0, made.output
    assert time.monotonic() - started < 30
    assert made.stderr == (
        f"warning: no sandbox answers at {nowhere}: start it with `lpstudio sandbox --port 1` "
        "before using its connections\n"
    )
    assert "added connection liveperson" in made.stdout
    quiet = CliRunner().invoke(main, ["init", str(tmp_path / "a"), "--sandbox", nowhere, "--json"])
    assert quiet.exit_code == 0 and json.loads(quiet.stdout)["connections_kept"], quiet.output
    assert "no sandbox answers" in quiet.stderr
    running = CliRunner().invoke(
        main, ["init", str(tmp_path / "b"), "--accept-terms", "--sandbox", sandbox.url]
    )
    assert running.exit_code == 0 and running.stderr == "", running.output


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("-y", "x: " + "[" * 3000 + "]" * 3000, "-y"),  # YAML's parser recursed
        ("-y", "x: 1" + "0" * 400, "x"),  # an int no float holds, for a float parameter
        ("--event", '{"a": ' + "[" * 5000 + "]" * 5000 + "}", "--event"),
    ],
)
def test_values_too_deep_or_too_large_are_refused_naming_the_field(
    ws: Path, cli, option: str, value: str, field: str
) -> None:
    """Each crashed with a traceback (RecursionError, OverflowError) instead of exit 2."""
    write_recipe(ws, "p/rate", "x: float = 1.0")
    result = cli("run", "p/rate", option, value, "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["field"] == field
    assert job_rows(ws) == 0


# -- values of the wrong type: the fix says how they were given ------------------------------


def test_raw_text_for_an_integer_says_that_r_passes_text_and_p_reads_it(ws: Path, cli) -> None:
    """`-r days 3` (papermill's raw string) was answered `fix: pass an integer, for example:
    7`, as if 3 were not one."""
    write_recipe(ws, "p/count", "days: int = 7  # how many days")
    result = cli("run", "p/count", "-r", "days", "3", "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"] == {
        "code": "ParameterError",
        "message": "parameter 'days' expects an integer, but -r passes its value as text: \"3\"",
        "field": "days",
        "fix": "pass it with -p, which reads it as an integer: -p days 3",
    }
    said = cli("run", "p/count", "-r", "days", "many").stderr
    assert "fix: pass it with -p, which reads it as an integer: -p days 7" in said
    assert job_rows(ws) == 0


def test_a_string_given_as_json_or_yaml_for_an_integer_says_to_give_the_number(
    ws: Path, cli
) -> None:
    """`{"parameters": {"days": "3"}}` over REST (and `-y 'days: "3"'`) was answered `fix:
    pass an integer, for example: 7` too: JSON's 3, not "3", is what it takes."""
    write_recipe(ws, "p/count", "days: int = 7  # how many days")
    fix = "give an integer, not a string: 3, without quotes"
    with (
        Studio.open(ws, user="alice") as studio,  # the REST API's run, with its JSON values
        pytest.raises(ParameterError) as refused,
    ):
        studio.run("p/count", {"days": "3"})
    assert refused.value.to_dict() == {
        "code": "ParameterError",
        "message": "parameter 'days' expects an integer, got the string \"3\"",
        "field": "days",
        "fix": fix,
    }
    # YAML's "3" is text as written: its fix is the YAML that reads as the number.
    said = cli("run", "p/count", "-y", 'days: "3"').stderr
    assert 'expects an integer, but YAML reads "3" in -y as text' in said, said
    assert "fix: write it as YAML reads an integer: -y 'days: 3'" in said, said
    assert "fix: pass an integer, for example: 7" in cli("run", "p/count", "-p", "days", "x").stderr
    assert job_rows(ws) == 0


def test_a_tuple_parameter_given_to_the_cli_reaches_the_recipe_as_a_tuple(ws: Path) -> None:
    """Values keep their declared types: `-p pair '["b", 2]'` was injected as a list."""
    write_recipe(
        ws,
        "p/pair",
        'pair: tuple[str, int] = ("a", 1)\npairs: list[tuple[str, int]] = []\nsolo = ("x",)',
        cells=("import lpstudio.kernel as lp\nlp.set_result({'seen': repr((pair, pairs, solo))})",),
    )
    code, job = run_json(
        "run",
        "p/pair",
        "-p",
        "pair",
        '["b", 2]',
        "-y",
        "{pairs: [[c, 3]], solo: [y]}",
        "--workspace",
        str(ws),
    )
    assert code == 0, job
    assert job["parameters"] == {"pair": ["b", 2], "pairs": [["c", 3]], "solo": ["y"]}  # JSON
    assert job["result"] == {"seen": "(('b', 2), [('c', 3)], ('y',))"}


def test_an_acting_user_name_too_long_to_keep_is_refused_naming_the_setting(
    ws: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`LPSTUDIO_USER` of 300 characters acted on SQLite, and was a traceback on PostgreSQL
    (and stopped a `store-copy` there), as no store keeps such a name."""
    monkeypatch.setenv("LPSTUDIO_USER", "u" * 300)
    result = cli("jobs", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "user" and "300 characters" in error["message"], error
    assert "LPSTUDIO_USER" in error["fix"] and "at most 128" in error["fix"]
    with Studio.open(ws, user="alice") as studio:
        assert "u" * 300 not in {u["name"] for u in studio.users()}
    monkeypatch.setenv("LPSTUDIO_USER", "u" * 128)
    assert cli("jobs", "--json").exit_code == 0


@pytest.mark.parametrize("option", ["--event", "--event-file"])
def test_prepare_only_refuses_an_event_it_would_leave_out(
    ws: Path, cli, tmp_path: Path, option: str
) -> None:
    """The event was parsed, then dropped from the prepared notebook without a word (and
    never checked for a connection's secret, as a run checks it)."""
    write_recipe(ws, "p/prep")
    event = tmp_path / "event.json"
    event.write_text('{"phone": "+14155550100"}')
    given = '{"phone": "+14155550100"}' if option == "--event" else str(event)
    result = cli("run", "p/prep", "--prepare-only", option, given)
    assert result.exit_code == 2, result.output
    assert f"{option} cannot be prepared" in result.output, result.output
    assert f"fix: drop {option}" in result.output
    assert not (ws / "history" / "prepared").exists()


# -- a key given twice ------------------------------------------------------------------------

TWICE = "n: int = 1\nlimits: dict[str, int] = {}"


@pytest.mark.parametrize(
    ("option", "text", "key"),
    [
        ("-y", "n: 2\nn: 3", "n"),
        ("-y", "limits: {a: 1, a: 2}", "a"),  # nested too
        ("-f", "n: 2\nn: 3\n", "n"),
        ("-f", '{"n": 2, "n": 3}', "n"),  # a JSON file is read as YAML
        ("-p", '{"a": 1, "a": 2}', "a"),
        ("-p", "{a: 1, a: 2}", "a"),
    ],
)
def test_a_key_given_twice_in_parameters_is_refused_naming_it(
    ws: Path, cli, tmp_path: Path, option: str, text: str, key: str
) -> None:
    """YAML's (and a `-p` value's) last value won unsaid, where the REST API, `--event`
    and webhooks refuse a name given twice in one object."""
    write_recipe(ws, "p/twice", TWICE, ("print(n)",))
    file = tmp_path / "given.yaml"
    file.write_text(text)
    args = {"-y": ["-y", text], "-f": ["-f", str(file)], "-p": ["-p", "limits", text]}[option]
    field = {"-y": "-y", "-f": f"-f {file}", "-p": "limits"}[option]
    commands = [["run", "p/twice"]] + ([["settings", "p/twice"]] if option == "-p" else [])
    for command in commands:
        result = cli(*command, *args, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == field, error
        assert error["message"].endswith(f"gives the key {key!r} twice in one mapping"), error
        assert error["fix"] == f"give {key!r} once: only one of its values would be used"
    assert json.loads(cli("jobs", "--json").stdout) == []
    assert json.loads(cli("settings", "p/twice", "--json").stdout)["parameters"] == {}


def test_parameters_that_do_not_parse_are_refused_alike_by_y_f_and_p(
    ws: Path, cli, tmp_path: Path
) -> None:
    """`-y` and `-f` said "is not valid YAML" as an InputError, a `-p` value "does not parse"
    as a ParameterError, and nesting too deep was "too deep" for one, "nested too deep" for
    the other: one reader says both alike now."""
    write_recipe(ws, "p/deep", TWICE, ("print(n)",))
    deep = "[" * 3000 + "]" * 3000  # PyYAML recurses as it nests
    file = tmp_path / "deep.yaml"
    file.write_text(f"limits: {deep}")
    for args, field, expected in (
        (["-y", "limits: ["], "-y", "-y expects a YAML mapping"),
        (["-y", f"limits: {deep}"], "-y", "-y expects a YAML mapping"),
        (["-f", str(file)], f"-f {file}", f"-f {file} expects a YAML mapping"),
        (["-p", "limits", deep], "limits", "parameter 'limits' expects"),
    ):
        result = cli("run", "p/deep", *args, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "ParameterError" and error["field"] == field, error
        assert error["message"].startswith(expected), error
        said = (
            " at line 1, column 10: expected the node content, but found '<stream end>' "
            "(while parsing a flow node begun at line 1, column 10)"
            if args[1] == "limits: ["
            else ": nested too deep"
        )
        assert error["message"].endswith(f", but it does not parse{said}"), error
    assert job_rows(ws) == 0


@pytest.mark.parametrize("option", ["-f", "-y"])
def test_a_mapping_that_does_not_parse_is_said_where_with_an_example_of_the_recipe(
    ws: Path, cli, tmp_path: Path, option: str
) -> None:
    """`-f` and `-y` said only what YAML was parsing ("while parsing a flow sequence"), not
    where nor what was wrong, and gave the example 'days_ahead: 7', a parameter of another
    recipe."""
    write_recipe(ws, "mine/types", "n_items: list[int] = []\nlimit: int = 3")
    file = tmp_path / "p2.yaml"
    file.write_text("n_items: [1\n")
    given = ["-f", str(file)] if option == "-f" else ["-y", "n_items: [1"]
    where = "line 2, column 1" if option == "-f" else "line 1, column 12"
    result = cli("run", "mine/types", *given)
    assert result.exit_code == 2, result.output
    said, fix = result.output.split("\n  fix: ")
    assert said.endswith(
        f"expects a YAML mapping, but it does not parse at {where}: expected ',' or ']', but "
        "got '<stream end>' (while parsing a flow sequence begun at line 1, column 10)"
    ), said
    assert fix == "give a YAML mapping such as 'n_items: [1, 2]'\n", fix
    assert job_rows(ws) == 0


def test_a_field_or_slot_given_twice_is_refused_before_anything_is_saved(ws: Path, cli) -> None:
    """`connections add c --field path=a.csv --field path=b.csv` added c on b.csv, and a
    repeated `--connection` bound the last one, unsaid."""
    slots = {"files": {"type": "csv_file"}}
    write_recipe(ws, "p/slots", metadata={"title": "slots", "connections": slots})
    cli("connections", "add", "a", "--type", "csv_file", "--field", "path=a.csv")
    cli("connections", "add", "b", "--type", "csv_file", "--field", "path=b.csv")
    for args, option, key in (
        (["connections", "add", "c", "--type", "csv_file"], "--field", "path"),
        (["connections", "update", "a"], "--field", "path"),
        (["settings", "p/slots"], "--connection", "files"),
    ):
        given = ["path=a.csv", "path=b.csv"] if option == "--field" else ["files=a", "files=b"]
        result = cli(*args, option, given[0], option, given[1], "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == option and error["message"] == f"{option} gives {key!r} twice"
        assert error["fix"] == f"give {option} {key}=VALUE once, with the value you mean"
    listed = {
        row["name"]: row["fields"]
        for row in json.loads(cli("connections", "list", "--json").stdout)
    }
    assert listed == {"a": {"path": "a.csv"}, "b": {"path": "b.csv"}}, listed
    assert json.loads(cli("settings", "p/slots", "--json").stdout)["connections"] == {}


def test_a_parameter_given_twice_is_refused_before_any_job_or_save(ws: Path, cli) -> None:
    """`run R -p n 2 -p n 3` ran with n=3, and `settings` saved it, the 2 dropped unsaid
    (papermill's last one wins); -r too. Given by -y and by -p, -p wins as the README says."""
    write_recipe(ws, "p/twice", "n: int = 1\nname: str = 'a'", ("print(n, name)",))
    for args, option, key in (
        (["run", "p/twice", "-p", "n", "2", "-p", "n", "3"], "-p", "n"),
        (["run", "p/twice", "--prepare-only", "-p", "n", "2", "--parameters", "n", "3"], "-p", "n"),
        (["run", "p/twice", "-r", "name", "b", "-r", "name", "c"], "-r", "name"),
        (["settings", "p/twice", "-p", "n", "2", "-p", "n", "3"], "-p", "n"),
    ):
        result = cli(*args, "--json")
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["field"] == option and error["message"] == f"{option} gives {key!r} twice"
        assert error["fix"] == f"give {option} {key} VALUE once, with the value you mean"
    assert json.loads(cli("jobs", "--json").stdout) == []
    assert not (ws / "history" / "prepared").exists()
    assert json.loads(cli("settings", "p/twice", "--json").stdout)["parameters"] == {}
    # Different options for one name merge in papermill's documented order: -p over -y.
    prepared = cli("run", "p/twice", "--prepare-only", "-y", "n: 2", "-p", "n", "3", "--json")
    assert prepared.exit_code == 0, prepared.output
    notebook = Path(json.loads(prepared.stdout)["output_path"]).read_text()
    assert "n = 3" in notebook and "n = 2" not in notebook


def test_a_secret_given_twice_is_refused_before_it_is_read_or_saved(ws: Path, cli) -> None:
    """`connections update crm --secret token --secret token` read two values and stored
    the second, unsaid (a retyped prompt, or the next line of standard input)."""
    http = ["--type", "http", "--field", "auth_type=bearer"]
    added = cli("connections", "add", "crm", *http, "--secret", "token", input="tok-first-1\n")
    assert added.exit_code == 0, added.output
    given = "tok-second-2\ntok-third-33\n"
    for args in (["connections", "add", "crm2", *http], ["connections", "update", "crm"]):
        result = cli(*args, "--secret", "token", "--secret", "token", "--json", input=given)
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error == {**error, "field": "--secret", "message": "--secret gives 'token' twice"}
        assert error["fix"] == "give --secret token once, with the value you mean"
        assert "tok-" not in result.output
    with Studio.open(ws, user="alice") as studio:
        assert [info.name for info in studio.connections.list()] == ["crm"]
        assert studio.connections.values("crm")[1]["token"] == "tok-first-1"


def test_a_key_given_twice_in_a_form_field_is_refused_as_by_the_cli(studio: Studio) -> None:
    write_recipe(studio.workspace.root, "p/twice", TWICE, ("print(n)",))
    form = RecipeForm("p/twice", studio)
    said = refused(form, "limits", '{"a": 1, "a": 2}')
    assert "parameter 'limits' gives the key 'a' twice in one mapping" in said, said
    form.close()


def test_sandbox_on_a_port_in_use_says_so_and_exits_2(sandbox: Any) -> None:
    """`lpstudio sandbox --port N` on a busy port printed Python's traceback (OSError:
    Address already in use): it names --port, and says whether a sandbox is there."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("sandbox", "--port", str(port), timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"lpstudio: error: port {port} on 127.0.0.1 is taken by another program" in proc.stderr
    assert "fix: give another --port" in proc.stderr
    running = sandbox.url.rsplit(":", 1)[1]
    proc = run_cli("sandbox", "--port", running, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"a sandbox is already running at {sandbox.url}" in proc.stderr


def test_a_whole_number_written_as_a_float_is_an_integer_parameter_s_value(ws: Path, cli) -> None:
    """`run -p count 3.0` and `settings -p` refused "3.0" for an `int` parameter, while a
    callable recipe's input (JSON Schema's `integer`) reads 3.0 as 3: one rule for both. A
    fraction is still refused, naming the parameter and the fix."""
    write_recipe(ws, "p/counted", parameters="count: int = 1  # how many\ncaps: list[int] = []")

    prepared = cli("run", "p/counted", "--prepare-only", "-p", "count", "3.0", "--json")
    saved = cli("settings", "p/counted", "-p", "count", "3e0", "-p", "caps", "[2.0, 4]")
    refused = cli("run", "p/counted", "--prepare-only", "-p", "count", "3.5", "--json")

    assert prepared.exit_code == 0, prepared.output
    notebook = json.loads(Path(json.loads(prepared.stdout)["output_path"]).read_text())
    injected = notebook["metadata"]["papermill"]["parameters"]
    assert injected == {"count": 3} and type(injected["count"]) is int, injected
    assert saved.exit_code == 0, saved.output
    shown = json.loads(cli("settings", "p/counted", "--json").output)["parameters"]
    assert shown == {"count": 3, "caps": [2, 4]} and type(shown["count"]) is int
    assert refused.exit_code == 2, refused.output
    error = json.loads(refused.stdout)["error"]
    assert error["field"] == "count" and 'expects an integer, got "3.5"' in error["message"]
    assert error["fix"] == "pass an integer, for example: 7", error
