"""What every `lpstudio` command shares: the `main` group, options, output and errors."""

from __future__ import annotations

import functools
import math
import re
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import OperationalError

from ..errors import InputError, LpstudioError, NotFoundError, StoreUnavailable
from ..failures import describe_error
from ..jobviews import job_to_dict, plain_error
from ..models import Job
from ..proactive import REFUSED, counted, recipients
from ..store import FINAL_STATES, SUCCEEDED, job_id_in, not_a_job_id, unavailable
from ..studio import Studio
from ..times import local_text
from .output import escaping_streams, json_document, value_text


class FiniteRange(click.FloatRange):
    """A number from `low` to `high`, nan refused: nan compares false with every bound, so
    `FloatRange` alone lets it through."""

    def __init__(self, low: float, high: float, min_open: bool = False) -> None:
        super().__init__(low, high, min_open=min_open)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not in the range {self._describe_range()}.", param, ctx)
        return number


class JobId(click.ParamType):
    """A job's number as `lpstudio jobs` shows it (the store holds 64-bit integers): click's
    own integer range answered "'abc' is not a valid integer range"."""

    name = "job"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        number = job_id_in(str(value).strip())
        if number is not None:
            return number
        self.fail(
            f"{not_a_job_id(str(value))}: give a job's number, as `lpstudio jobs` shows it",
            param,
            ctx,
        )


JOB_ID = JobId()

#: The exit code of a command the store kept from acting (locked, or gone): nothing was
#: done, and it may succeed when run again (sysexits' EX_TEMPFAIL, as cron and CI know it).
STORE_BUSY = 75

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
workspace_option = click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace folder (default: $LPSTUDIO_WORKSPACE, or this folder and its parents).",
)


def _emit(data: Any) -> None:
    click.echo(json_document(data))


def _as_option(exc: LpstudioError) -> None:
    """Names the command's option where the studio named its own field for it (the REST
    API's name, `reset_since`, or `into` quoted so): the CLI's user typed `--reset-since`."""
    ctx = click.get_current_context(silent=True)
    params = {p.name: p for p in ctx.command.params} if ctx is not None else {}
    param = params.get(exc.field or "")
    if not isinstance(param, click.Option) or exc.field is None:
        return
    option = max(param.opts, key=len)
    # A name no sentence uses, or one quoted as a name: said as the option wherever it is.
    named = re.escape(exc.field)
    pattern = re.compile(rf"\b{named}\b" if "_" in exc.field else rf"(?<=`){named}(?=`)")
    exc.message = pattern.sub(option, exc.message)
    exc.fix = pattern.sub(option, exc.fix) if exc.fix else exc.fix
    exc.args = (exc.message,)
    exc.field = option


def _given_workspace(ctx: click.Context | None) -> Path | None:
    """The `--workspace` the failed command was given, by itself or by its group (`gallery
    --workspace W try`); None for the default (`$LPSTUDIO_WORKSPACE`, this folder)."""
    while ctx is not None:
        if isinstance(given := ctx.params.get("workspace"), Path):
            return given
        ctx = ctx.parent
    return None


def _typed_workspace(args: Sequence[str]) -> Path | None:
    """The `--workspace` typed in a command line that click refused before reading it."""
    for at, arg in enumerate(args):
        name, sep, value = arg.partition("=")
        if name in ("--workspace", "-w") and (sep or at + 1 < len(args)):
            return Path(value if sep else args[at + 1])
    return None


def _workspace_secrets(workspace: Path | None) -> frozenset[str]:
    """The secrets of the workspace a failed command was run in, as the REST API masks them
    in its errors. Whatever cannot be read (no workspace, one that cannot be opened, a store
    that is down) hides nothing: the error being printed says what went wrong, and must not
    be replaced by this failure."""
    from ..connections import workspace_secrets
    from ..workspace import Workspace

    try:
        return workspace_secrets(Workspace.find(workspace))
    except Exception:  # an error is printed as it is then
        return frozenset()


def _fail(exc: LpstudioError, as_json: bool, workspace: Path | None = None) -> NoReturn:
    """Prints `exc` (and exits): the command's own workspace (`workspace`, else the one it
    was given) has its secrets masked in it, read only now that it failed: an error quotes
    what was typed (a parameter's value or name, an event's key), and what the CLI prints
    ends in cron mail and CI logs."""
    _as_option(exc)
    exc.mask(
        _workspace_secrets(workspace or _given_workspace(click.get_current_context(silent=True)))
    )
    if as_json:
        _emit({"error": exc.to_dict()})
    click.echo(f"lpstudio: error: {exc}", err=True)
    if isinstance(exc, StoreUnavailable):
        sys.exit(STORE_BUSY)
    sys.exit(2 if isinstance(exc, (InputError, NotFoundError)) else 1)


def handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turns lpstudio's errors, and a store that failed to answer, into a clear message
    and the exit code a script tells apart (`_fail`): 2 for bad input or nothing found,
    `STORE_BUSY` (75) for a store to try again, 1 for any other (a conflict, an app's
    refusal)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LpstudioError as exc:
            _fail(exc, kwargs.get("as_json", False))
        except OperationalError as exc:  # a store locked past its busy timeout, or gone
            _fail(unavailable(exc), kwargs.get("as_json", False))

    return wrapper


def _has_terminal() -> bool:
    return sys.stdin.isatty()


def _studio(workspace: Path | None) -> Studio:
    return Studio.open(workspace)


def _typed_recipe(studio: Studio, recipe: str, kept: Collection[str] = ()) -> str:
    """A recipe as a person types it at a terminal: its name under projects/, the path
    JupyterLab shows, or a path from the current folder (`Workspace.recipe_path`); `kept`
    names deleted recipes that still count, as a filter of their jobs."""
    return str(studio.workspace.recipe_path(recipe, typed=True, kept=kept))


def _duration(job: Job) -> str:
    return "-" if job.duration is None else f"{job.duration:.2f} s"


def _print_job(studio: Studio, job: Job, as_json: bool, verbose: bool = False) -> None:
    # Said in the machine's time as every time printed, in ISO form in UTC for `--json`.
    waits = studio.waits(job, local=not as_json)
    data = job_to_dict(job, studio.workspace, waits, studio.sends(job))
    if as_json:
        _emit(data)
        return
    click.echo(f"job {job.id} {job.status} ({_duration(job)})")
    if data["waits"]:
        click.echo(f"  waits:    {data['waits']}")
    if data["sends"]:
        said = ", ".join(f"{key} {n}" for key, n in data["sends"].items() if n)
        click.echo(f"  sent:     {said} so far")
    click.echo(f"  recipe:   {job.recipe}  (version {job.version_id[:12]})")
    if verbose:
        click.echo(f"  trigger:  {job.trigger} by {job.user}")
        click.echo(f"  created:  {local_text(job.created_at)}")
        click.echo(f"  progress: {job.cells_done}/{job.cells_total} cells")
        if not job.purged:  # erased, not empty; a run may give megabytes: bounded too
            click.echo(f"  params:   {_line(job.id, job.parameters, 'parameters')}")
        if job.event is not None:  # a webhook's delivery may be 1 MB: bounded as a result
            click.echo(f"  event:    {_line(job.id, job.event, 'event')}")
        if job.rerun_of:
            click.echo(f"  rerun of: job {job.rerun_of}")
    if job.purged:
        click.echo("  purged:   data and output erased after the retention period (no rerun)")
    if data["output_missing"]:  # not to be taken for there
        click.echo(f"  output:   {data['output_path']} (missing: moved or deleted from history/)")
    elif data["output_path"]:
        click.echo(f"  output:   {data['output_path']}")
    elif job.status in FINAL_STATES and not job.purged:  # said, not left out unexplained
        click.echo("  output:   none written (it ended before its notebook ran)")
    if job.result is not None:
        _print_result(job.id, job.result)
    if job.error:
        click.echo(f"  error:    {describe_error(job.error, job.cells_total)}")
        if verbose:  # without its colours, with the full paths of the line above: the
            # terminal's user works on the server's files (JSON names them in the workspace)
            for line in (plain_error(job.error) or {}).get("traceback") or []:
                click.echo("    " + line.replace("\n", "\n    "))


#: A campaign's counts, led with in this order (zeros too: `uncertain 0` is news).
CAMPAIGN_COUNTS = ("accepted", "failed", "rejected", "uncertain", "not_sent", "skipped")
#: The entries needing attention printed, of a result's lists; `--json` gives them all.
PROBLEMS_SHOWN = 10
#: The characters of a result without counts printed whole on its line.
RESULT_LINE = 300
#: The fields an entry names its recipient by, the first it has (as the Jobs panel reads them).
ENTRY_CONTACTS = ("address", "phone", "email", "consumer_id", "consumerId")
#: The addresses printed of a batch's entry (as the Jobs panel shows them).
ADDRESSES_SHOWN = 5


def _line(job_id: int, value: Any, what: str) -> str:
    """A job's value on one line of `RESULT_LINE` characters at most, saying how long it is
    and where it is whole."""
    text = value_text(value)
    if len(text) <= RESULT_LINE:
        return text
    whole = f"`lpstudio show {job_id} --json` gives the whole {what}"
    return f"{text[:RESULT_LINE]}... ({len(text)} characters; {whole})"


def _print_result(job_id: int, result: Any) -> None:
    """A job's result as a person reads it: its counts first (a campaign's in
    `CAMPAIGN_COUNTS` order), then a bounded sample of the entries that say what went wrong,
    as the Jobs panel shows them; one line when it counts nothing and is short. A large
    campaign's whole result (900 KB for 5,000 recipients) drowned both: `--json` has it."""
    whole = f"`lpstudio show {job_id} --json` gives the whole result"
    counts = _result_counts(result) if isinstance(result, dict) else []
    if not counts:
        click.echo(f"  result:   {_line(job_id, result, 'result')}")
        return
    click.echo(f"  result:   {' · '.join(counts)}")
    problems = [
        (key, said)
        for key, value in result.items()
        if isinstance(value, list)
        for said in map(_entry_problem, value)
        if said is not None
    ]
    if problems:
        shown = f", the first {PROBLEMS_SHOWN}" if len(problems) > PROBLEMS_SHOWN else ""
        click.echo(f"  needs attention ({len(problems)}{shown}):")
        for key, said in problems[:PROBLEMS_SHOWN]:
            click.echo(f"    {key.replace('_', ' ')}: {said}")
    click.echo(f"  {whole}")


def _result_counts(result: dict[str, Any]) -> list[str]:
    """`accepted 3`, `failed 2`...: a campaign's counts (those it has, zeros too), then the
    result's other numbers and lists, zeros left out, as the Jobs panel counts them (an
    entry standing for a batch counts its `recipients`). Its recipients are counted by
    `lpstudio.proactive`'s rule (`counted`), as the panel and the dashboard count them."""
    # A count itself (5, or 5.0 from a pandas sum) or a list's entries; the recipients by the rule.
    figures = {key: recipients(value) for key, value in result.items()}
    figures |= {key: (counted(result) or {}).get(key) for key in ("accepted", *REFUSED)}
    named = [key for key in CAMPAIGN_COUNTS if figures.get(key) is not None]
    others = [key for key in result if key not in CAMPAIGN_COUNTS]
    said = [f"{key.replace('_', ' ')} {figures[key]}" for key in named]
    said += [f"{k.replace('_', ' ')} {figures[k]}" for k in others if figures[k]]
    said += [key.replace("_", " ") for key in others if result[key] is True]  # dry run
    return said if named else []


def _entry_problem(entry: Any) -> str | None:
    """`+14155550101: DUPLICATE_NUMBER`, `0612345678 (invoice INV-10): phone is not in E.164
    form`, `+1..., +1... and 98 more (batch 3): HTTP 500`: whom an entry is about and what
    went wrong; None for an entry saying nothing went wrong (a campaign's id)."""
    if not isinstance(entry, dict):
        return None
    why = next((entry[k] for k in ("errorMessage", "message", "reason") if entry.get(k)), None)
    if why is None:
        return None
    contact = next((k for k in ENTRY_CONTACTS if _given(entry.get(k))), None)
    ids = [
        f"{key.removesuffix('_id').replace('_', ' ')} {value}"
        for key, value in entry.items()
        if key.endswith("_id") and key not in ENTRY_CONTACTS and _given(value)
    ]
    addresses = entry.get("addresses") if isinstance(entry.get("addresses"), list) else []
    batch = f"batch {entry['batch']}" if entry.get("batch") is not None else None
    if contact is not None:
        who: str | None = f"{entry[contact]} ({', '.join(ids)})" if ids else str(entry[contact])
    elif addresses:
        extra = len(addresses) - ADDRESSES_SHOWN
        more = f" and {extra} more" if extra > 0 else ""
        named = ", ".join(map(str, addresses[:ADDRESSES_SHOWN])) + more
        who = f"{named} ({batch})" if batch else named
    elif ids or batch:
        who = ", ".join(ids) or batch
    else:
        recipients = entry.get("recipients")
        who = f"{recipients} recipients" if isinstance(recipients, int) else None
    return f"{who}: {why}" if who else str(why)


def _given(value: Any) -> bool:
    return (isinstance(value, str) and value.strip() != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _exit_for(job: Job) -> None:
    sys.exit(0 if job.status == SUCCEEDED else 1)


def _usage_error(exc: click.UsageError) -> InputError:
    """Click's own refusal (an unknown option or command, a value out of range, a missing
    argument) as the `InputError` lpstudio gives for any other bad input: field and fix."""
    command = exc.ctx.command_path if exc.ctx else "lpstudio"
    field, fix = None, f"see `{command} --help`"
    if isinstance(exc, click.NoSuchOption):
        field, fix = (
            exc.option_name,
            f"leave out {exc.option_name}: `{command} --help` lists the options",
        )
        group = exc.ctx.command if exc.ctx is not None else None
        if (
            group is not None
            and any(param.name == "recipe" for param in group.params)
            and not exc.option_name.startswith("--")
            and not exc.possibilities
        ):
            fix += (  # `lpstudio run -z/r`: a recipe named so is read as an option
                f"; a recipe whose name begins with '-' goes after its folder, as JupyterLab "
                f"shows it: `{command} projects/{exc.option_name}...`"
            )
        if isinstance(group, click.Group) and any(
            exc.option_name in param.opts for sub in group.commands.values() for param in sub.params
        ):  # `lpstudio --workspace W recipes`: a command's own options go after it
            option = exc.option_name
            fix = f"give {option} after the command: `{command} COMMAND {option} ...`"
    elif isinstance(exc, click.BadParameter) and exc.param is not None:
        opts = exc.param.opts if isinstance(exc.param, click.Option) else []
        field = max(opts, key=len) if opts else exc.param.human_readable_name
    elif isinstance(exc, click.BadOptionUsage):
        field = exc.option_name
    if field and not isinstance(exc, click.NoSuchOption):
        fix = f"give {field} as `{command} --help` describes it"
    return InputError(exc.format_message(), field=field, fix=fix)


def _refuse(exc: click.UsageError, args: Sequence[str]) -> NoReturn:
    """A group given no command shows its help, as `--help` does (`lpstudio` alone is a new
    user's first command); any other usage error is refused like every bad input."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    _fail(_usage_error(exc), "--json" in args, _given_workspace(exc.ctx) or _typed_workspace(args))


#: A negative whole number, which click's parser takes for an unknown option (`show -1`).
_NEGATIVE = re.compile(r"-[0-9]+")


class _Parsed(click.Command):
    """Click's parser raises an option's missing value without the command it belongs to,
    so that the fix would point at `lpstudio --help`: the error is given its command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            exc.ctx = exc.ctx or ctx
            self._refuse_as_argument(ctx, exc.option_name)
            raise
        except click.UsageError as exc:
            exc.ctx = exc.ctx or ctx
            raise

    def _refuse_as_argument(self, ctx: click.Context, given: str) -> None:
        """A negative number that is no option is refused as the value of the command's
        argument when its type refuses it (`show -1` as `show 0`), where click said "No such
        option: -1"; one its type takes stays click's refusal."""
        arguments = [p for p in self.get_params(ctx) if isinstance(p, click.Argument)]
        if _NEGATIVE.fullmatch(given) and arguments:
            arguments[0].type_cast_value(ctx, given)


class _Group(_Parsed, click.Group):
    command_class = _Parsed
    group_class = type  # a group's groups are of its own class


class _Main(_Group):
    """The `lpstudio` group: every bad option or value reads `lpstudio: error:` with a fix
    (and `{"error": ...}` under `--json`), and Ctrl-C exits 130 wherever it lands."""

    group_class = _Group

    def main(self, *args: Any, **kwargs: Any) -> Any:
        escaping_streams()  # the streams the console script, or a test, runs it with
        return super().main(*args, **kwargs)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            ctx = super().make_context(info_name, list(args), parent, **extra)
        except click.UsageError as exc:
            _refuse(exc, args)
        ctx.meta["lpstudio.args"] = list(args)
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            _refuse(exc, ctx.meta.get("lpstudio.args", ()))
        except (KeyboardInterrupt, click.Abort) as exc:
            if isinstance(exc, click.Abort) and not isinstance(exc.__context__, KeyboardInterrupt):
                raise
            click.echo("\nlpstudio: interrupted", err=True)
            raise click.exceptions.Exit(130) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lpstudio")
def main() -> None:
    """lpstudio: LivePerson recipes as parameterized notebooks."""


def _once(keys: Iterable[str], option: str, usage: str = "=VALUE") -> None:
    """Refuses a key given twice to a repeated option (`--field`, `-p`, `--secret`): the last
    one would win unsaid, as a name given twice does in JSON (`strictjson` refuses it).
    `usage` is what follows the key in the fix (`=VALUE`, ` VALUE`, or nothing)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InputError(
                f"{option} gives {key!r} twice",  # not its values: one may be a secret
                field=option,
                fix=f"give {option} {key}{usage} once, with the value you mean",
            )
        seen.add(key)


def _pairs(items: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    """The KEY=VALUE pairs of a repeated option, each key once (see `_once`)."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(
                f"{option} {item!r} is not KEY=VALUE",
                field=option,
                fix=f"write {option} name=value",
            )
        pairs.append((key.strip(), value))
    _once((key for key, _ in pairs), option)
    return pairs


def _echo_or_json(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        _emit(data)
    else:
        click.echo(text)
