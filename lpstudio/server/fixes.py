"""A refusal's fix in the REST API's terms.

lpstudio's errors word their fix once, for the command line (list recipes with `lpstudio
recipes`), which the CLI, the Python API and a notebook's traceback show. A REST caller has
no such command: `in_rest_terms` says each command that has a route as that route (its
method, its path, and the body that does what the command's options do: `PUT
.../connections/lp {"fields": {"token": ...}}`), and the CLI's options as the route's
fields, in every error answer (`BaseHandler.write_error`). Where a fix names both, the route
is kept. A command with no route (`lpstudio init`, `lpstudio import` on the server's
workspace, `lpstudio store-copy`) stays as it is.

What lpstudio stored in the CLI's terms and an answer carries besides errors (a connection's
test status, a recipe's problem and trigger errors, a job's error) is said the same way, in
every answer of a Jupyter user's route (`answer_in_rest_terms`, `UserHandler.answer`).

A fix whose action the caller's role may not take (an operator told to create a connection,
which answers them 403) is said as a request to the roles that may (`for_role`): what an
action needs is what its route needs, in the route table (`routes.permissions`), whether
the fix names the route or a command of the CLI's that has one. The notebook's form asks it
of its fixes too.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from types import EllipsisType
from typing import Any
from urllib.parse import quote

from .. import roles
from ..errors import FIX_SAID
from .handlers import PREFIX
from .routes import permissions

#: A command that a fix names.
COMMAND = re.compile(r"`lpstudio ([^`]*)`")

#: One word of a command as a fix shows it, a shell-quoted one (`'my shop/cart.ipynb'`) too,
#: as `errors.word` quotes it: a quote in it closes the quoting and is said in double quotes
#: (`'l'"'"'été/relance d'"'"'été'`). lab_terms.json's rules take a recipe's word alike.
WORD = r"""((?:'[^']*'|"[^"`]*"|[^\s'"`])+)"""

#: The recipe where a fix names none (`lpstudio run`, `RECIPE`) and the request names none.
SOME_RECIPE = "RECIPE"

#: Phrases said otherwise than by their command's route, with their REST words, a template
#: (`{1}`: the phrase's first group; `{recipe}`: the request's; `{api}`: the API's prefix):
#: the README's `GET .../jobs lists jobs`, fixes that name both surfaces (the route is
#: kept), and the CLI's options, said as the route's fields.
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"list jobs with `lpstudio jobs`", "GET {api}/jobs lists jobs"),
        (
            rf"run the recipe anew with `lpstudio run(?: {WORD})?`",
            "run the recipe anew with POST {api}/recipes/{recipe}/run",
        ),
        (r"`(?:\w+=\S* )*lpstudio [^`]*` \(REST: ([^)]*)\)", "{1}"),
        (
            rf"`lpstudio start {WORD} --reset-since (\S+)` \(or reset_since when starting; ",
            'POST {api}/recipes/{path}/start {{"reset_since": "{2}"}} (',
        ),
        (
            rf"`lpstudio run {WORD} --test --event-file \S+`, or `event` in the REST API's test",
            'POST {api}/recipes/{path}/test {{"event": ...}}',
        ),
        (
            r"`lpstudio run --event '\{\.\.\.\}'` or --event-file",
            'POST {api}/recipes/{recipe}/run {{"event": ...}}',
        ),
        (r"\(`--test`: ", "(POST {api}/recipes/{recipe}/test: "),
        (r"forget it with --reset (\w+)", 'forget it with {{"reset": ["{1}"]}}'),
        # A secret is read from the environment or a prompt by the CLI; over REST, it is sent.
        (r" \(each secret is read from [^)]*\)", ""),
        (r", given with `--secret FIELD`| \(`--secret FIELD` for secrets\)", ""),
        # How a field a connector declares is given (`sdk.Field`): in a connection's body.
        (
            r"\(given as --field (\w+)=VALUE, or a secret as \$LPSTUDIO_SECRET_\w+\)",
            '(given as {{"fields": {{"{1}": ...}}}})',
        ),
        (r"choose another --name or project", "choose another name or project"),
        (r"import with --replace", "post it again with replace=true"),
        (
            r"import it --into (another folder|a folder of another name)",
            "post it again with into=FOLDER ({1})",
        ),
        (r"--into another folder", "into=FOLDER (another folder)"),
        (r"a larger --quota\b", "a larger quota_per_day"),
        (r"a larger --rate\b", "a larger rate_per_minute"),
    )
)


def in_rest_terms(fix: str | None, recipe: str | None = None, api: str = PREFIX) -> str | None:
    """`fix` with each command and option of the CLI that this API has a route or a field
    for said as that route or field. `recipe` is the one the request is about (its
    route's, or its job's), for a fix that names it `RECIPE` or not at all; `api` where
    the caller finds the API (`LpstudioApp.api_root`: under the server's base URL)."""
    if not fix:
        return fix
    about = _path(recipe) if recipe else SOME_RECIPE
    for pattern, template in PHRASES:
        fix = pattern.sub(functools.partial(_said, template, about, api), fix)
    return COMMAND.sub(lambda command: _routed(command, about, api), fix)


#: The keys of the texts in the CLI's terms (stored, most of them) that an answer carries
#: besides an error: a connection's `status_message` (its last test's outcome, and
#: an import's `fix` for a placeholder), a recipe's `problem` (a row's text) and its
#: `trigger_errors`' `last`, a job's `error` (`evalue`, `fix`) and the `fix` of each
#: problem in the error's shape (`settings_problem`, a save's `warnings`), and why a queued
#: job waits (`waits`: what starts its recipe, what drops it).
STORED_TEXTS = frozenset({"status_message", "problem", "last", "evalue", "fix", "waits"})

#: What holds those texts in an answer, and the JSON type it has there: a recipe's slots
#: (`connections` as an object), parameters, settings, a job's event and result are what a
#: notebook or a user gave, never walked.
HOLDERS: dict[str, type] = {
    "recipes": list,
    "jobs": list,
    "connections": list,
    "broken": list,
    "warnings": list,
    "last_job": dict,
    "error": dict,
    "trigger_errors": dict,
    "problem": dict,
    "settings_problem": dict,
    "endpoint_problem": dict,
    "name_problem": dict,
}


def answer_in_rest_terms(
    answer: Any, api: str = PREFIX, recipe: str | None = None, role: str | None = None
) -> Any:
    """`answer` (a route's JSON) with each text it holds that lpstudio stored in the CLI's
    terms (`STORED_TEXTS`, where `HOLDERS` nest them) said in the API's (`in_rest_terms`),
    for the recipe of the object holding it (a recipe's row, a job): a REST caller, and the
    lab (which says them in its own terms), have no command line. Its fixes (a `fix`, and
    the fix a text ends with) are said as a caller of `role` can follow them (`for_role`)."""
    if isinstance(answer, list):
        return [answer_in_rest_terms(item, api, recipe, role) for item in answer]
    if not isinstance(answer, dict):
        return answer
    recipe = answer["recipe"] if isinstance(answer.get("recipe"), str) else recipe
    return {
        key: _held_in_rest_terms(key, value, api, recipe, role) for key, value in answer.items()
    }


def _held_in_rest_terms(
    key: str, value: Any, api: str, recipe: str | None, role: str | None
) -> Any:
    """An answer's `value` under `key`, in the API's terms where it is a stored text or
    holds some."""
    if isinstance(value, str):
        if key not in STORED_TEXTS:
            return value
        said = in_rest_terms(value, recipe, api) or ""
        if key == "fix":
            return for_role(said, role, api)
        told, given, fix = said.partition(FIX_SAID)  # an error's text: its fix last
        return f"{told}{given}{for_role(fix, role, api)}"
    holder = HOLDERS.get(key)
    if holder is not None and isinstance(value, holder):
        return answer_in_rest_terms(value, api, recipe, role)
    return value


#: What leads a clause of a fix (`for_role`) before what it says to do: the connection it
#: is about where a fix names several (`crm: test it ...`), and the word joining it to the
#: clause before (`then ...`), if any.
LEAD = re.compile(r"(?:[\w-]+: )?(?:then |or )?")


def for_role(fix: str | None, role: str | None, api: str = PREFIX) -> str | None:
    """`fix` as a user of `role` can follow it: each of its clauses (a fix joins its steps,
    and each connection's fix, with '; ') whose action needs a permission the role lacks
    (`needs`) said as a request to the roles that have it (`roles.asked`), after what leads
    it. In the API's terms, or the command line's; as it is for no role (an API client's
    call)."""
    if not fix or role is None:
        return fix
    said: list[str] = []
    for clause in fix.split("; "):
        lead = LEAD.match(clause)
        start = lead.end() if lead else 0
        action = clause[start:]
        said.append(clause[:start] + roles.asked(role, needs(action, api), action))
    return "; ".join(said)


def needs(fix: str, api: str = PREFIX) -> set[str]:
    """The permissions the actions `fix` names need: those of the routes it names, and of
    the CLI's commands it names that have one (`in_rest_terms`), as the route table has
    them, a field of a route's body that needs more too (a start's reset_since)."""
    said = in_rest_terms(fix, None, api) or ""
    needed: set[str] = set()
    for named in _route_said(api).finditer(said):
        path = named["path"].split("?")[0].rstrip("),;.:")
        body = _body(said, named.end()) if said.startswith(" {", named.end()) else ""
        needed |= permissions(named["method"], path, re.findall(r'"([\w.]+)": ', body))
    return needed


@functools.cache
def _route_said(api: str) -> re.Pattern[str]:
    """A route as a fix names it (`POST /lpstudio/api/v1/connections`): its method and its
    path under the API's prefix."""
    return re.compile(rf"\b(?P<method>GET|POST|PUT|DELETE) {re.escape(api)}(?P<path>/\S*)")


def _body(text: str, start: int) -> str:
    """The JSON object a route's body is said as in `text`, from the space before it."""
    depth = 0
    for index in range(start + 1, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start + 1 : index + 1]
    return text[start + 1 :]


def _said(template: str, recipe: str, api: str, phrase: re.Match[str]) -> str:
    """`template` filled from `phrase`: a shell-quoted word as the word it quotes, and the
    first (a recipe's, where the template says `{path}`) as a URL's path says it."""
    groups = [_unquoted(group) for group in phrase.groups()]
    path = _path(groups[0]) if groups else ""
    return template.format(phrase[0], *groups, api=api, recipe=recipe, path=path)


def _routed(command: re.Match[str], recipe: str, api: str) -> str:
    """The route for a command a fix names, or the command as it is (no route, or words
    no shell would split)."""
    try:
        words = shlex.split(command[1])
    except ValueError:
        return command[0]
    words = [_path(name) if index == 1 else name for index, name in enumerate(words)]
    return route(words, recipe, api) or command[0]


def _unquoted(word: str | None) -> str | None:
    """A shell-quoted word (`'my shop/cart.ipynb'`) as the word it is."""
    if not word or not word.startswith("'"):
        return word
    try:
        return " ".join(shlex.split(word))
    except ValueError:
        return word


def _path(name: str) -> str:
    """A recipe's name (a path under projects/) as a URL's path says it; one a fix wrote
    after its folder (`projects/-q/need.ipynb`, `errors.word`) by its own name, which a
    route takes as a recipe (an option's word holds no '/')."""
    if name.startswith("projects/-"):
        name = name.removeprefix("projects/")
    return quote(name, safe="/")


def route(words: list[str], recipe: str = SOME_RECIPE, api: str = PREFIX) -> str | None:
    """The route under `api`, with its body, that does what `lpstudio <words>` does; None for
    a command that has none, or an option that no route's body takes."""
    match words:
        case ["jobs", *_]:
            return f"GET {api}/jobs"
        case ["show", job] if job.isdigit():
            return f"GET {api}/jobs/{job}"
        case ["cancel", job] if job.isdigit():
            return f"POST {api}/jobs/{job}/cancel"
        case ["rerun", job, *options] if job.isdigit():
            return _with_body(f"POST {api}/jobs/{job}/rerun", options)
        case ["recipes", *_]:
            return f"GET {api}/recipes"
        case ["versions", name]:
            return f"GET {api}/recipes/{name}/versions"
        case ["restore", name, version]:
            body = {"version": ... if version == "VERSION" else version}
            return _with_body(f"POST {api}/recipes/{name}/restore", [], body)
        case ["run"]:
            return f"POST {api}/recipes/{recipe}/run"
        case ["run", name, *options] if (
            not name.startswith("-") or "/" in name or name.endswith(".ipynb")
        ):
            said = f"POST {api}/recipes/{name}/{'test' if '--test' in options else 'run'}"
            return _with_body(said, [o for o in options if o != "--test"]) or said
        case ["start", name, *options]:
            return _with_body(f"POST {api}/recipes/{name}/start", options)
        case ["stop", name]:
            return f"POST {api}/recipes/{name}/stop"
        case ["settings", name, *options]:
            name = recipe if name == SOME_RECIPE else name
            return _with_body(f"PUT {api}/recipes/{name}/settings", options)
        case ["connections", "list"]:
            return f"GET {api}/connections"
        case ["connections", "add"]:
            return f"POST {api}/connections"
        case ["connections", "add", name, *options]:
            return _with_body(f"POST {api}/connections", options, {"name": name})
        case ["connections", "update", name, *options]:
            return _with_body(f"PUT {api}/connections/{name}", options)
        case ["connections", "test", name]:
            return f"POST {api}/connections/{name}/test"
        case ["connections", "remove", name]:
            return f"DELETE {api}/connections/{name}"
        case ["connectors", *_]:
            return f"GET {api}/connectors"
        case ["gallery"]:
            return f"GET {api}/gallery"
        case ["gallery", "try", template, "--project", folder]:
            body = {"template": template, "project": folder}
            return _with_body(f"POST {api}/gallery/try", [], body)
        case ["export"]:
            return f"GET {api}/packages"
        case ["export", folder]:
            return f"GET {api}/packages?project={folder}"
        case ["api-clients", "create", *_]:
            return f"POST {api}/api-clients"
        case ["api-clients", "list"]:
            return f"GET {api}/api-clients"
    return None


def _with_body(said: str, options: list[str], body: dict[str, Any] | None = None) -> str | None:
    """`said` (a route) with the body that gives what the CLI's `options` give, a value the
    fix leaves open (`...`) left open; None for an option no body takes."""
    body = dict(body or {})
    words = iter(options)
    for option in words:
        value = next(words, "...")
        key, _, given = value.partition("=")
        if option == "--connection":
            body.setdefault("connections", {})[key] = given
        elif option == "-p":
            body.setdefault("parameters", {})[value] = ...
            next(words, None)  # its value, which the fix leaves open
        elif option in ("--secret", "--field"):
            fields = body.setdefault("fields", {})
            if key != "...":  # `--field ...`: fields the fix leaves open
                fields[key] = given if given not in ("", "...") else ...
        elif option in ("--type", "--reset-since"):
            body[option.removeprefix("--").replace("-", "_")] = value
        elif option == "--reset":  # a saved value to forget
            body.setdefault("reset", []).append(value)
        elif option in ("--timeout", "--call-timeout") and value == "SECONDS":  # left open
            body[option.removeprefix("--").replace("-", "_")] = ...
        elif option == "--call-timeout" and value.replace(".", "", 1).isdigit():
            body["call_timeout"] = int(value) if value.isdigit() else float(value)
        else:
            return None
    return f"{said} {_json(body)}" if body else said


def _json(value: Any) -> str:
    """`value` as JSON, but a value the fix leaves open (`...`) said as `...`, and an object
    whose members it leaves open as `{...}`."""
    if isinstance(value, EllipsisType):
        return "..."
    if isinstance(value, dict):
        members = ", ".join(f"{json.dumps(key)}: {_json(item)}" for key, item in value.items())
        return f"{{{members or '...'}}}"
    return json.dumps(value)
