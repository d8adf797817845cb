"""JSON Schemas of the REST API's requests and answers, and the one way input is checked.

The route table (`routes.py`) names these for each operation: the handlers validate bodies
and query strings against them before doing anything, and `openapi.py` publishes them, so
the document and the checks cannot disagree.
"""

from __future__ import annotations

from typing import Any

from ..api_clients import MAX_QUOTA_PER_DAY
from ..connections import NAME_PATTERN
from ..jobstates import JOB_STATES
from ..jobviews import CANCEL_OUTCOMES, LISTED_PARAMETERS, LISTED_WITHOUT
from ..jsonschemas import PATTERN_SAID
from ..recipe import BOT_CALL_TIMEOUT, MAX_CALL_TIMEOUT, MAX_TIMEOUT, METADATA_SCHEMA
from ..store import (
    JOB_TRIGGERS,
    MAX_INTEGER,
    MAX_LISTED,
    MIN_VERSION_PREFIX,
    QUEUED,
    ROLES,
    RUNNING,
)

#: A job's status, as the store keeps it.
JOB_STATUS: dict[str, Any] = {"enum": list(JOB_STATES)}


def _name(example: str) -> dict[str, Any]:
    """A connection's or API client's name (as `lpstudio.connections.NAME_PATTERN`), with
    an example of its own kind: the CLI says e.g. cb-bot for a client, e.g. lp-prod for a
    connection, and the REST API said lp-prod for both."""
    return {
        "type": "string",
        "pattern": NAME_PATTERN.pattern,
        PATTERN_SAID: "a name of lower-case ASCII letters a-z, digits, - or _ that starts with "
        "a letter or digit, at most 64 characters",
        "description": "lower-case ASCII letters a-z, digits, - or _, starting with a letter or "
        "digit "
        f"(at most 64 characters), e.g. {example}",
    }


ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "description": "e.g. InputError, NotFoundError"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"], "description": "what the error is about"},
                "fix": {"type": ["string", "null"], "description": "what to do about it"},
                "job": {"type": "integer", "description": "the job, when one was started"},
            },
        }
    },
}

#: The error answer, as the OpenAPI document refers to it.
ERROR_REF: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
#: One problem, in an error answer's shape (its `error`): a warning an answer carries.
PROBLEM_REF: dict[str, Any] = {"$ref": "#/components/schemas/Error/properties/error"}

ANY_OBJECT: dict[str, Any] = {"type": "object"}
EMPTY_BODY: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {}}


def nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """An answer's field that is `schema` or null, said in `description` (what null means):
    an `anyOf` rather than a list of types, as `schema` may be a `$ref` or an `enum`."""
    return {"anyOf": [schema, {"type": "null"}], "description": description}


JOB: dict[str, Any] = {
    "type": "object",
    "required": ["id", "recipe", "status", "trigger"],
    "properties": {
        "id": {"type": "integer"},
        "recipe": {"type": "string"},
        "version": {"type": "string"},
        "status": JOB_STATUS,
        "trigger": {
            "enum": list(JOB_TRIGGERS),
            "description": "what started the job: a person's run (manual), a Test (test: "
            "sends nothing), the recipe's schedule, poll or webhook, a bot's call (callable), "
            "a rerun (rerun; a Test's rerun is a test) or a scheduler's retry of a failed job "
            "(retry); a rerun's or retry's rerun_of names the job it ran again",
        },
        "parameters": {
            "type": "object",
            "additionalProperties": True,
            "description": "its parameter values, by name (secrets redacted)",
        },
        "event": {},
        "user": {"type": "string"},
        "rerun_of": {
            "type": ["integer", "null"],
            "description": "the job a rerun or retry ran again; followed until null, the "
            "retry chain's first job, whose trigger started it",
        },
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"]},
        "finished_at": {"type": ["string", "null"]},
        "duration": {"type": ["number", "null"]},
        "timeout": {
            "type": ["number", "null"],
            "description": "seconds the job may run, given by its run or rerun; null: its "
            "recipe's timeout, else the workspace's",
        },
        "progress": {
            "type": "object",
            "required": ["done", "total"],
            "properties": {
                "done": {"type": ["integer", "null"], "description": "cells run so far"},
                "total": {"type": ["integer", "null"], "description": "cells to run"},
            },
        },
        "error": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": "why it failed or was cancelled (null: it did not): ename and "
            "evalue, and as its failure has them the cell, traceback, field and fix",
        },
        "result": {
            "type": ["object", "null"],
            "additionalProperties": True,
            "description": "the summary its recipe gave (lpstudio.kernel.summary), if any",
        },
        "recipients": {
            "type": ["object", "null"],
            "description": "the recipients its result reports, by key, counted by the rule "
            "`lpstudio show` and the dashboard count by: accepted a whole number (5 or 5.0), "
            "failed and rejected a whole number or a list (an entry each, or its batch's "
            "recipients); a key reporting none is left out; null when the result reports none",
            "properties": {k: {"type": "integer"} for k in ("accepted", "failed", "rejected")},
            "additionalProperties": False,
        },
        "output_path": {
            "type": ["string", "null"],
            "description": "where its output notebook was written; null: none was (yet), "
            "or it was purged",
        },
        "output_missing": {
            "type": "boolean",
            "description": "it ended with its output notebook written at output_path, which "
            "is no longer there (moved or deleted from history/)",
        },
        "purged": {
            "type": "boolean",
            "description": "its data and output were erased after the retention period",
        },
        "waits": {
            "type": ["string", "null"],
            "description": "why a queued job has not started, beyond its turn: a retry not "
            "yet due, or its recipe stopped since (its notebook gone, perhaps), with the routes "
            "that start it or cancel the job",
        },
        "sends": {
            "type": ["object", "null"],
            "description": "how many recipients a running job's sends have reached so far, "
            "by their state in its delivery ledger (given where one job is asked for; null "
            "when it is not running or has claimed none: its result tells what it sent)",
            "properties": {
                k: {"type": "integer", "minimum": 0}
                for k in ("accepted", "refused", "sending", "uncertain")
            },
        },
    },
}

#: The parameters a list's row of a job leaves out for their size (`listed_parameters`).
PARAMETERS_CUT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0},
    "description": "the parameters left out of this row for their size, each with "
    "its size in characters of JSON ({} when none): GET /jobs/{job_id} gives them",
}

#: A job as GET /jobs lists it: no trigger event and no result, which have no bound, and
#: its parameters bounded (GET /jobs/{job_id} has them all).
LISTED_JOB: dict[str, Any] = {
    **JOB,
    "properties": {
        **{k: v for k, v in JOB["properties"].items() if k not in LISTED_WITHOUT},
        "parameters": {
            **JOB["properties"]["parameters"],
            "description": f"its parameters whose values fit {LISTED_PARAMETERS} characters "
            "of JSON together, in order; the others are named in parameters_cut",
        },
        "parameters_cut": PARAMETERS_CUT,
    },
}

#: GET /jobs/{job_id}: the job whole, or with `listed=true` as GET /jobs lists it (its
#: parameters bounded, `parameters_cut` naming those left out) with its `waits` and `sends`.
SHOWN_JOB: dict[str, Any] = {
    **JOB,
    "properties": {
        **JOB["properties"],
        "parameters_cut": {
            **PARAMETERS_CUT,
            "description": "with listed=true only: " + PARAMETERS_CUT["description"],
        },
    },
}

#: A page of GET /jobs: its jobs, the limit and offset it was read with, and `next`, the
#: path of the page after it (also its `Link` header), null on the last: a page cut at
#: `limit` said nothing of the jobs past it.
JOB_PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["jobs", "limit", "offset", "next"],
    "properties": {
        "jobs": {"type": "array", "items": LISTED_JOB},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "next": {
            "type": ["string", "null"],
            "description": "the next page's path (these filters, `before` the last job "
            "listed, `since` as the moment it was read), or null when no job follows",
        },
    },
}

#: What a recipe's row (GET /recipes) and the recipe itself (GET /recipes/{recipe}) both
#: say of it, as `Recipe.describe` gives it and `Studio.recipes` and `recipe_detail` add to it.
_RECIPE_SAID: dict[str, Any] = {
    "recipe": {"type": "string", "description": "its path under projects/"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "connections": METADATA_SCHEMA["properties"]["connections"],
    "parameters": {
        "type": "object",
        "additionalProperties": True,
        "description": "the JSON Schema of its parameters (types, defaults, help), as its "
        "form shows them",
    },
    "state": {"enum": ["started", "stopped"]},
    "settings_problem": nullable(
        PROBLEM_REF,
        "why a started recipe cannot run (its settings broke since, or fail a check they "
        "predate), naming the field and the fix; null when none",
    ),
    "endpoint_problem": nullable(
        PROBLEM_REF,
        "a started callable's path held by another started callable: it serves nothing, "
        "naming the fix; null when none",
    ),
    "warnings": {
        "type": "array",
        "items": PROBLEM_REF,
        "description": "what its saved settings will fail at as they stand, as their save "
        "warned (PUT /recipes/{recipe}/settings): a callable's call timeout past "
        f"{BOT_CALL_TIMEOUT} s, which a Conversation Builder bot (it gives up at 20 s) does "
        "not wait out, naming the field and the fix; empty when none",
    },
    "next_run": nullable(
        {"type": "string", "format": "date-time"},
        "when a started schedule fires next (ISO 8601, UTC); null for a stopped recipe or "
        "another trigger",
    ),
}

#: A recipe as GET /recipes/{recipe} gives it, and the start, stop and settings routes
#: answer it: its trigger whole (a webhook's `hook`, a callable's `endpoint`), its settings
#: and its last job as a list shows it (GET /jobs/{job_id} gives it whole).
RECIPE: dict[str, Any] = {
    "type": "object",
    "required": [
        *_RECIPE_SAID,
        "trigger",
        "settings",
        "since_fixed",
        "automatic",
        "call_timeout",
        "call_timeout_default",
        "revision",
        "last_job",
    ],
    "properties": {
        **_RECIPE_SAID,
        "trigger": {
            "type": "object",
            "required": ["kind"],
            "description": "its trigger as its notebook's metadata.lpstudio.trigger declares "
            "it, with where it is reached",
            "properties": {
                **METADATA_SCHEMA["properties"]["trigger"]["properties"],
                **{
                    f"{kind}_schema": {
                        "type": "object",
                        "additionalProperties": True,
                        "description": f"a callable's JSON Schema of its {kind}",
                    }
                    for kind in ("input", "response")
                },
                "hook": {
                    "type": "string",
                    "description": "a webhook recipe's URL path to POST deliveries to",
                },
                "endpoint": {
                    "type": "string",
                    "description": "a callable recipe's URL path for its callers, as they "
                    "write it (percent-encoded)",
                },
            },
        },
        "settings": {
            "type": "object",
            "required": ["parameters", "connections"],
            "description": "the values saved for it (PUT /recipes/{recipe}/settings), secrets "
            "masked",
            "properties": {
                "parameters": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "parameter values by name, in their types",
                },
                "connections": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "slot -> the connection that fills it, chosen or the "
                    "automatic choice (see automatic)",
                },
                "since": {"type": "string", "description": "a poll trigger's saved start"},
                "call_timeout": {"type": "number"},
                "notify": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "webhook": {
                            "type": "string",
                            "description": "its scheme and host only (the URL may hold a token)",
                        },
                        "email": {"type": "string"},
                    },
                    "description": "failure contacts of unattended jobs",
                },
                "started_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "when it was last started",
                },
                "started_path": {
                    "type": "string",
                    "description": "a started callable's path, which it serves while started",
                },
            },
        },
        "since_fixed": {
            "type": ["string", "null"],
            "description": "where a poll goes on from once its first start or poll fixed it "
            "(a saved since no longer moves it; a start's reset_since does); else null",
        },
        "automatic": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the slots no one chose a connection for, filled by the automatic "
            "choice",
        },
        "revision": {
            "type": "integer",
            "description": "its settings' revision, which a save sends back (PUT "
            "/recipes/{recipe}/settings)",
        },
        "call_timeout": {
            "type": ["number", "null"],
            "description": "a callable recipe's own call timeout in seconds, as saved in its "
            "settings; null: none saved (its caller waits call_timeout_default), or another "
            "trigger",
        },
        "call_timeout_default": {
            "type": ["number", "null"],
            "description": "how long this server lets a callable recipe's caller wait without "
            "a call timeout of its own, in seconds (LpstudioApp.call_timeout); null for "
            "another trigger",
        },
        "last_job": nullable(LISTED_JOB, "its newest job as GET /jobs lists it (null: none yet)"),
    },
}

#: A recipe as a row of GET /recipes lists it: its trigger's kind, its last job's status,
#: its trigger's errors; one whose notebook does not load with its `problem` instead of
#: its description, connections and parameters.
LISTED_RECIPE: dict[str, Any] = {
    "type": "object",
    "required": [
        "recipe",
        "project",
        "title",
        "trigger",
        "problem",
        "restorable",
        "last_job",
        "state",
        "settings_problem",
        "next_run",
        "trigger_errors",
        "endpoint_problem",
        "name_problem",
        "warnings",
    ],
    "properties": {
        **_RECIPE_SAID,
        "project": {"type": "string", "description": "its project folder under projects/"},
        "title": {"type": ["string", "null"], "description": "null when problem says why"},
        "trigger": nullable(
            METADATA_SCHEMA["properties"]["trigger"]["properties"]["kind"],
            "its trigger's kind (GET /recipes/{recipe} has it whole); null when problem says why",
        ),
        "problem": {
            "type": ["string", "null"],
            "description": "why its notebook does not load as a recipe (its description, "
            "connections and parameters are left out); null when it does",
        },
        "restorable": {
            "type": "boolean",
            "description": "restoring a version of it mends its problem",
        },
        "last_job": nullable(
            {
                "type": "object",
                "required": ["id", "status", "created_at"],
                "properties": {
                    "id": {"type": "integer"},
                    "status": JOB_STATUS,
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "its newest job (GET /recipes/{recipe} gives it as GET /jobs lists it); null: none yet",
        ),
        "trigger_errors": {
            "type": "object",
            "required": ["count", "last"],
            "properties": {
                "count": {"type": "integer", "description": "its trigger's errors in a row"},
                "last": {"type": ["string", "null"], "description": "the last one's message"},
            },
        },
        "name_problem": nullable(
            {
                "type": "object",
                "required": ["message", "field", "fix"],
                "properties": {
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "fix": {"type": "string"},
                },
            },
            "what breaks on its name (in an export, an import, a command), and how to rename "
            "it; null when nothing does",
        ),
    },
}

#: A stop's answer for a recipe that cannot be read (its notebook broken or gone): stopped
#: all the same, with why it is not given whole.
STOPPED_UNREAD: dict[str, Any] = {
    "type": "object",
    "required": ["recipe", "state", "problem"],
    "properties": {
        "recipe": _RECIPE_SAID["recipe"],
        "state": _RECIPE_SAID["state"],
        "problem": nullable(
            PROBLEM_REF,
            "why its notebook does not load as a recipe; null: it is gone, only its settings "
            "were left",
        ),
    },
}

#: A version of a recipe as GET /recipes/{recipe}/versions lists it (`Studio.versions`).
VERSION: dict[str, Any] = {
    "type": "object",
    "required": ["id", "created_at", "created_by", "settings"],
    "properties": {
        "id": {
            "type": "string",
            "description": "its id, a hash of the notebook and settings it holds: POST "
            f"/recipes/{{recipe}}/restore takes it, or its first {MIN_VERSION_PREFIX} "
            "characters or more",
        },
        "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "when it was made, or last made the newest again (a restore, a "
            "save back to it)",
        },
        "created_by": {"type": "string", "description": "who made it"},
        "settings": {
            "type": "object",
            "required": ["parameters", "connections"],
            "description": "the settings it holds, which a restore writes back",
            "properties": {
                "parameters": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "parameter values by name, in their types",
                },
                "connections": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "slot -> connection name",
                },
            },
        },
    },
}

#: A restore's answer (`Studio.restore`): the version restored as the list now gives it
#: (the newest), with the recipe and the version that keeps what the restore wrote over.
RESTORED: dict[str, Any] = {
    **VERSION,
    "required": [*VERSION["required"], "recipe", "kept"],
    "properties": {
        **VERSION["properties"],
        "recipe": {"type": "string", "description": "its path under projects/"},
        "kept": {
            "type": ["string", "null"],
            "description": "the version holding the recipe as it was before the restore, to "
            "restore it back; null when its file could not be read",
        },
    },
}

#: The recipe schemas the OpenAPI document holds once, by name, and refers to.
RECIPE_REF: dict[str, Any] = {"$ref": "#/components/schemas/Recipe"}
LISTED_RECIPE_REF: dict[str, Any] = {"$ref": "#/components/schemas/ListedRecipe"}
#: The document's component schemas (`openapi.openapi_document`), by name.
COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": ERROR,
    "Recipe": RECIPE,
    "ListedRecipe": LISTED_RECIPE,
}

#: A Poll now's answer: the jobs it started, as a list shows them, and why events it read
#: started none where its conditions could not tell.
POLLED: dict[str, Any] = {
    "type": "object",
    "required": ["jobs", "warnings"],
    "properties": {
        "jobs": {
            "type": "array",
            "items": LISTED_JOB,
            "description": "a job per new event (or batch), queued or running: GET "
            "/jobs/{job_id} has its event and, once it ends, its result",
        },
        "warnings": {
            "type": "array",
            "items": PROBLEM_REF,
            "description": "a condition of the trigger that could not compare the value of "
            'some events (e.g. total_price >= 50 on "n/a"), which did not pass, naming '
            "them and the fix, as `lpstudio poll` warns; empty when none",
        },
    },
}

#: A rerun's answer: the new job, and the warning the CLI prints before a rerun.
RERUN: dict[str, Any] = {
    **JOB,
    "required": [*JOB["required"], "warning"],
    "properties": {
        **JOB["properties"],
        "warning": {
            "type": "string",
            "description": "what the rerun may repeat: the recipe's sends (duplicates)",
        },
    },
}

#: A cancel's answer: the job, and what the cancel did (`lpstudio cancel --json` too).
CANCEL: dict[str, Any] = {
    **JOB,
    "required": [*JOB["required"], "cancel"],
    "properties": {
        **JOB["properties"],
        "cancel": {
            "enum": list(CANCEL_OUTCOMES),
            "description": "cancelled: it was queued and ended at once; requested: its "
            "worker was asked to stop it (it is still running, and ends cancelled within "
            "seconds); nothing: it had already ended",
        },
    },
}

#: A call's job, queued or running: `?mode=async`'s answer, and a poll's while it runs.
CALL_QUEUED: dict[str, Any] = {
    "type": "object",
    "required": ["job", "status", "poll"],
    "properties": {
        "job": {"type": "integer"},
        "status": {"enum": [QUEUED, RUNNING]},
        "poll": {"type": "string", "description": "where to GET the answer"},
    },
}

#: A health check's answer (`HealthHandler`): this, or 503 with the error body.
HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
    "additionalProperties": False,
}

#: A webhook delivery's answer: 202 when queued, 200 for a delivery seen before.
HOOK_ANSWER: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "jobs", "state", "repeated", "message"],
    "properties": {
        "accepted": {"type": "integer", "description": "events queued by this delivery"},
        "jobs": {"type": "array", "items": {"type": "integer"}},
        "state": {"enum": ["started", "stopped"]},
        "repeated": {"type": "boolean"},
        "message": {"type": "string"},
    },
}

#: Any JSON Schema a connector declares (an action's input, an object's shape).
_CONNECTOR_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": True}

#: A connector as GET /connectors lists it (`Connector.describe`).
CONNECTOR: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "title",
        "description",
        "source",
        "fields",
        "actions",
        "triggers",
        "picklists",
        "objects",
    ],
    "properties": {
        "name": {"type": "string", "description": "the connection type it gives, e.g. http"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "source": {
            "type": "string",
            "description": "where it comes from: lpstudio:connectors/NAME (bundled), "
            "connectors/NAME.py (the workspace's own) or its package's entry point",
        },
        "fields": {
            **_CONNECTOR_SCHEMA,
            "description": "the JSON Schema of a connection's fields: secret ones writeOnly, "
            "one filled from a pick list with its x-picklist",
        },
        "actions": {
            "type": "object",
            "description": "by name",
            "additionalProperties": {
                "type": "object",
                "required": ["title", "description", "input", "output"],
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": "string"},
                    "input": {**_CONNECTOR_SCHEMA, "description": "its input's JSON Schema"},
                    "output": {**_CONNECTOR_SCHEMA, "description": "its output's JSON Schema"},
                },
            },
        },
        "triggers": {
            "type": "object",
            "description": "by name, as a recipe's trigger.trigger names one",
            "additionalProperties": {
                "type": "object",
                "required": ["title", "kind", "object"],
                "properties": {
                    "title": {"type": "string"},
                    "kind": {"enum": ["poll", "webhook"]},
                    "object": {
                        "type": ["string", "null"],
                        "description": "the object its events are (one of objects); null: not said",
                    },
                },
            },
        },
        "picklists": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "name -> title of each pick list, read through a connection at "
            "GET /connections/{name}/picklists/{picklist}",
        },
        "objects": {
            "type": "object",
            "additionalProperties": _CONNECTOR_SCHEMA,
            "description": "the JSON Schema of each object its triggers and actions carry, by name",
        },
    },
}

#: One entry of a pick list, as a form's drop-down shows it (`lpstudio.sdk.Option`).
PICKLIST_OPTION: dict[str, Any] = {
    "type": "object",
    "required": ["value", "label", "extra"],
    "properties": {
        "value": {"type": "string", "description": "what a setting stores (a handoff's id)"},
        "label": {"type": "string", "description": "what the user picks by (its title)"},
        "extra": {
            "type": "object",
            "additionalProperties": True,
            "description": "the connector's own details of it (a handoff's channels, say)",
        },
    },
}

CONNECTORS: dict[str, Any] = {
    "type": "object",
    "required": ["connectors", "broken"],
    "properties": {
        "connectors": {
            "type": "array",
            "items": CONNECTOR,
            "description": "each connector that loads: fields, actions, triggers, pick lists",
        },
        "broken": {
            "type": "array",
            "description": "each connector that does not load (a brand's own with a syntax "
            "error, say), by the name a user would ask for, with the error naming its file",
            "items": {
                "type": "object",
                "required": ["name", "code", "message", "field", "fix"],
                "properties": {
                    "name": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "fix": {"type": ["string", "null"]},
                },
            },
        },
    },
}

CONNECTION: dict[str, Any] = {
    "type": "object",
    "required": ["name", "type", "fields", "status"],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string"},
        "fields": {"type": "object", "description": "secret fields show as ****"},
        "status": {"enum": ["untested", "connected", "disconnected", "placeholder"]},
        "status_message": {"type": ["string", "null"]},
        "tested_at": {"type": ["string", "null"]},
    },
}

API_CLIENT: dict[str, Any] = {
    "type": "object",
    "required": ["name", "endpoints", "rate_per_minute", "quota_per_day", "revoked"],
    "properties": {
        "name": {"type": "string"},
        "endpoints": {"type": "array", "items": {"type": "string"}},
        "rate_per_minute": {"type": "integer"},
        "quota_per_day": {
            "type": ["integer", "null"],
            "description": "calls allowed in any 24 hours; null: no quota",
        },
        "revoked": {"type": "boolean"},
        "created_at": {"type": "string"},
        "created_by": {"type": "string"},
        "revoked_at": {"type": ["string", "null"]},
        "token": {"type": "string", "description": "only in the answer that creates it"},
    },
}


ME: dict[str, Any] = {
    "type": "object",
    "required": ["name", "role", "can", "gallery_popup"],
    "properties": {
        "name": {"type": "string"},
        "role": {"enum": ["admin", "analyst", "operator"]},
        "can": {
            "type": "object",
            "description": "per permission (view, operate, build, admin): whether the role has it",
            "additionalProperties": {"type": "boolean"},
        },
        "gallery_popup": {
            "type": "boolean",
            "description": "whether the studio pops up its gallery: for an admin who has not "
            "dismissed it in this workspace (POST /me/gallery-popup)",
        },
    },
}


#: A user as GET /users lists them (`Studio.users`): people only, not API clients.
LISTED_USER: dict[str, Any] = {
    "type": "object",
    "required": ["name", "role", "created_at"],
    "properties": {
        "name": {"type": "string", "description": "the login name"},
        "role": {"enum": list(ROLES)},
        "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "when they were first seen, or given a role before that",
        },
    },
}

#: A role change's answer (`Studio.set_role`).
ROLE_SET: dict[str, Any] = {
    "type": "object",
    "required": ["name", "role", "created"],
    "properties": {
        "name": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "created": {
            "type": "boolean",
            "description": "the user was not seen yet: they come in with this role",
        },
    },
}

#: An entry of the audit log as GET /audit lists it (`Studio.audit_entries`).
AUDIT_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "at", "user", "action", "target", "detail"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "user": {
            "type": "string",
            "description": "who did it: a person, an API client (api:NAME) or one of "
            "lpstudio's own processes (lpstudio:server)",
        },
        "action": {"type": "string", "description": "what was done, e.g. settings, restore"},
        "target": {
            "type": "string",
            "description": "what it was done to: a recipe's path, a connection's or a user's name",
        },
        "detail": {
            "type": "object",
            "additionalProperties": True,
            "description": "the action's own fields (a restore's version and kept, a role's "
            "role and before); of an entry about users or API clients, a role without admin "
            "reads only withheld and fix",
            "properties": {
                "withheld": {"type": "string", "description": "why the detail is withheld"},
                "fix": {"type": "string", "description": "who may read it"},
            },
        },
    },
}


SCHEDULER: dict[str, Any] = {
    "type": "object",
    "required": ["hosted", "leader", "expires_at", "is_leader"],
    "properties": {
        "hosted": {"type": "boolean", "description": "this server hosts a scheduler"},
        "leader": {"type": ["string", "null"], "description": "host:pid:id of the leader"},
        "expires_at": {"type": ["string", "null"]},
        "is_leader": {"type": "boolean", "description": "this server is the leader"},
    },
}

#: A project package, the zip `lpstudio export` writes (lpstudio.packages).
PACKAGE: dict[str, Any] = {
    "type": "string",
    "contentMediaType": "application/zip",
    "description": "lpstudio-package.json and project/<path> for each notebook and data file",
}

#: What an import wrote (lpstudio.packages.import_project's summary).
PACKAGE_IMPORTED: dict[str, Any] = {
    "type": "object",
    "required": ["into", "recipes", "connections"],
    "properties": {
        "into": {"type": "string"},
        "recipes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["recipe", "replaced", "notes"],
                "properties": {
                    "recipe": {"type": "string"},
                    "replaced": {"type": "boolean"},
                    "settings": {"type": "boolean", "description": "its settings came along"},
                    "notes": {"type": "array", "items": {"type": "string"}},
                },
            },
            "description": "each recipe written, stopped",
        },
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type", "status", "created", "fix"],
                "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string"},
                    "status": {"enum": ["bound", "untested", "placeholder"]},
                    "created": {"type": "boolean"},
                    "fix": {
                        "type": ["string", "null"],
                        "description": "a placeholder's: how to give it its secrets",
                    },
                },
            },
            "description": "each connection the recipes use: this workspace's of that name "
            "(bound), or created (a placeholder when its secrets were withheld)",
        },
    },
}


#: A template as the gallery lists it (`Template.describe`).
TEMPLATE: dict[str, Any] = {
    "type": "object",
    "required": ["name", "title", "description", "group", "trigger", "connectors", "files"],
    "properties": {
        "name": {
            "type": "string",
            "description": "what a Try names it by (POST /gallery/try's template)",
        },
        "title": {"type": "string"},
        "description": {"type": "string"},
        "group": {"type": "string", "description": "the gallery's heading it is shown under"},
        "trigger": METADATA_SCHEMA["properties"]["trigger"]["properties"]["kind"],
        "connectors": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the connector types its connections need",
        },
        "files": METADATA_SCHEMA["properties"]["files"],
    },
}

#: `GET /gallery`: the templates that can be tried, and beside them each broken one with
#: its error, which a Try of it answers too (the others are listed and tried as before).
GALLERY: dict[str, Any] = {
    "type": "object",
    "required": ["templates", "broken"],
    "properties": {
        "templates": {"type": "array", "items": TEMPLATE},
        "broken": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "file", "code", "message", "field", "fix"],
                "properties": {
                    "name": {"type": "string", "description": "the template's name"},
                    "file": {"type": "string", "description": "as `templates/NAME.ipynb`"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "fix": {"type": ["string", "null"]},
                },
            },
            "description": "each template that cannot be tried (a bad cron or time zone, "
            "say), with the error a Try of it is refused with",
        },
    },
}


def list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: {"type": "array", "items": item}},
    }


# -- request bodies --------------------------------------------------------------------------

#: Marks a body's optional field whose null is taken as the field left out (`or_null`).
NULL_IS_ABSENT = "x-null-is-absent"


def or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional text field of a body that may also be null, taken as left out: JSON
    clients send null for "none" (a field they have no value for), and were refused for it.
    Not for a field whose null could mean something else (a timeout's: no limit?)."""
    said = schema.get("description")
    return {
        **schema,
        "type": [schema["type"], "null"],
        NULL_IS_ABSENT: True,
        "description": f"{said}; null: as if left out" if said else "null: as if left out",
    }


def without_nulls(schema: dict[str, Any], body: Any) -> Any:
    """`body` (checked against `schema`) without the fields whose null means left out."""
    if not isinstance(body, dict):
        return body
    fields = schema.get("properties", {})
    return {
        key: value
        for key, value in body.items()
        if value is not None or not fields.get(key, {}).get(NULL_IS_ABSENT)
    }


#: The parameters a body gives as text typed in a field, read as `lpstudio settings -p` reads
#: it: the forms' text read by one rule, the server's (papermill's for an untyped parameter).
PARSE: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "uniqueItems": True,
    "description": "names in parameters whose value is text to read as `-p` reads it: "
    "into the declared type, and for a parameter with none as papermill does "
    "(5 a number, True a boolean, None null, other text as it is)",
}

SETTINGS_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "revision": {
            "type": "integer",
            "minimum": 0,
            "description": "the settings' revision the change was made on (GET /recipes/{recipe} "
            "gives it): settings changed since are refused with 409, not written over",
        },
        "parameters": {"type": "object", "description": "parameter values, in their types"},
        "parse": PARSE,
        "connections": {
            "type": "object",
            "description": "slot -> connection name",
            "additionalProperties": {"type": "string"},
        },
        "since": {"type": "string", "description": "a poll trigger's start: ISO time or 2h"},
        "reset": {
            "type": "array",
            "items": {"type": "string"},
            "description": "saved values to forget: a parameter's name (back to the "
            "notebook's default) or connections.SLOT (back to the automatic choice)",
        },
        "call_timeout": {
            "type": ["number", "null"],
            "exclusiveMinimum": 0,
            "maximum": MAX_CALL_TIMEOUT,
            "description": "seconds a callable's caller waits for the answer (null: default); "
            f"past {BOT_CALL_TIMEOUT} a Conversation Builder bot, which gives up at 20 s, loses "
            "its 504, and the answer's warnings say so",
        },
        "notify": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "webhook": {"type": ["string", "null"], "description": "URL POSTed a report"},
                "email": {"type": ["string", "null"], "description": "address (see [smtp])"},
            },
            "description": "failure contacts of unattended jobs; null or empty clears one",
        },
    },
}

START_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reset_since": or_null(
            {
                "type": "string",
                "description": "a poll trigger's new start, ISO time or 2h (an edit: not for "
                "operators, who start with the saved settings)",
            }
        )
    },
}

RESTORE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["version"],
    "properties": {
        # No `minLength`: one too short is refused by `Studio.restore`, in the CLI's words.
        "version": {
            "type": "string",
            "maxLength": 64,
            "description": f"a version's id, or its first {MIN_VERSION_PREFIX} characters or more",
        }
    },
}

#: A job's own timeout, in seconds (`Studio.job_fields` checks the Python API's the same way).
TIMEOUT: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT}

RUN_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "parameters": {"type": "object"},
        "parse": PARSE,
        "event": {"description": "the trigger event the job works on"},
        # No null: it would read as no limit as well as the default (`or_null`).
        "timeout": TIMEOUT,
    },
}

#: A rerun's body: a longer timeout for a job that timed out (its ledger shared, where a new
#: run sends its recipients again); none keeps the job's own.
RERUN_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timeout": {
            **TIMEOUT,
            "description": "seconds the rerun may run, instead of the job's own timeout "
            "(kept without it)",
        }
    },
}

TEST_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "parameters": {"type": "object"},
        "parse": PARSE,
        "event": {"description": "the event to test on; default: a recent trigger event"},
    },
}

TRY_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["template", "project"],
    "properties": {
        "template": {
            "type": "string",
            "minLength": 1,
            "description": "a template's name, as the gallery lists it (GET /gallery)",
        },
        "project": {
            "type": "string",
            "minLength": 1,
            "description": "a project folder under projects/, e.g. shop or shop/carts",
        },
        "name": or_null(
            {
                "type": "string",
                "minLength": 1,
                "description": "the new recipe's name (default: the template's), e.g. "
                "cart_recovery",
            }
        ),
    },
}

CONNECTION_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "type"],
    "properties": {
        "name": _name("lp-prod"),
        "type": {"type": "string", "minLength": 1},
        "fields": {"type": "object", "description": "plain and secret fields (write-only)"},
    },
}

CONNECTION_UPDATE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fields"],
    "properties": {"fields": {"type": "object"}},
}

ROLE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["role"],
    "properties": {"role": {"enum": list(ROLES)}},
}

API_CLIENT_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "endpoints"],
    "properties": {
        "name": _name("cb-bot"),
        "endpoints": {
            "type": "array",
            "minItems": 1,
            # Any text: the API client's own check names the callable paths (`api_clients`).
            "items": {"type": "string"},
            "description": "endpoint paths it may call (a callable's trigger.path, such as "
            "optin); * for all",
        },
        "rate_per_minute": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 60},
        "quota_per_day": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_QUOTA_PER_DAY,
            "default": None,
            "description": f"calls allowed in any 24 hours, 1 to {MAX_QUOTA_PER_DAY}, counted "
            "besides the rate; null (the default) for no quota",
        },
    },
}

# -- query strings ---------------------------------------------------------------------------

LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LISTED}
OFFSET = {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER, "default": 0}


def field_schema(schema: dict[str, Any], field: str | None) -> dict[str, Any] | None:
    """The schema of a body's field named as errors name it (`fields.x`), if it has one of
    its own."""
    if not field:
        return None
    for part in field.split("."):
        schema = schema.get("properties", {}).get(part)
        if not isinstance(schema, dict):
            return None
    return schema
