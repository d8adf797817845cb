"""The route table: every REST route, its handler, and per method what it needs.

Both the handlers (permission, body and query checks) and the OpenAPI document read this one
table, so what the server enforces and what it publishes cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ..roles import PERMISSIONS
from ..store import MAX_INTEGER
from . import handlers as h
from . import schemas as s

#: Who may call a route: a Jupyter user (with a role), an API client, a webhook's sender
#: (anyone, its signature checked), or anyone at all (a load balancer's probe).
USER, CLIENT, OPEN, ANYONE = "user", "client", "open", "anyone"

RECIPE = {
    "type": "string",
    "description": "the recipe's path under projects/, e.g. bots/optin.ipynb",
}
JOB_ID = {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER, "description": "a job id"}
CONNECTION_NAME = {"type": "string", "description": "a connection's name"}
PROJECT = {
    "type": "string",
    "description": "a project folder under projects/ (shop, shop/eu); . for every project",
}
#: A connector's failure: the app behind the connection failed or refused (`ConnectorError`).
APP_FAILED = "The app behind the connection failed or refused (AppError, naming the fix)"
#: The answer of a call in async mode, the job to poll (a callable recipe's answers are
#: any status and body it gives: see `Operation.recipe_answers`).
ASYNC_ANSWER = {"202": ("mode=async: the job, to poll at /calls/{job_id}", s.CALL_QUEUED)}
#: A callable recipe's answer where the recipe is not known: any JSON.
RECIPE_ANSWER: dict[str, Any] = {
    "description": "the recipe's answer, as its response schema (at its own /call/<path>) says"
}
#: An output notebook (nbformat 4), as its .ipynb file holds it.
NOTEBOOK: dict[str, Any] = {
    "type": "object",
    "required": ["cells", "metadata", "nbformat", "nbformat_minor"],
    "properties": {
        "cells": {"type": "array", "items": {"type": "object"}},
        "metadata": {"type": "object"},
        "nbformat": {"type": "integer"},
        "nbformat_minor": {"type": "integer"},
    },
}
#: How an output notebook's answer names its file (`JobOutputHandler`).
OUTPUT_FILE: dict[str, Any] = {
    "Content-Disposition": {
        "description": "inline, named job-<job_id>.ipynb or job-<job_id>.html: a browser "
        "shows it, and saves it under that name",
        "required": True,
        "schema": {"type": "string", "pattern": r'^inline; filename="job-[0-9]+\.(ipynb|html)"$'},
    }
}
#: A page of jobs that others follow (GET /jobs): where the next one is, as its `next`.
NEXT_PAGE: dict[str, Any] = {
    "Link": {
        "description": 'on a page that more jobs follow: `<next>; rel="next"` (RFC 8288), '
        "the path of the next page, as the answer's `next` gives it",
        "required": False,
        "schema": {"type": "string", "pattern": r'^<[^>]+>; rel="next"$'},
    }
}
#: How an exported package's answer names its file (`PackagesHandler`).
PACKAGE_FILE: dict[str, Any] = {
    "Content-Disposition": {
        "description": "an attachment named after the project folder (<folder>.zip; the "
        "workspace's folder for every project), in ASCII and, for a name that is not, also "
        "as RFC 6266's filename*",
        "required": True,
        "schema": {"type": "string", "pattern": r'^attachment; filename="[^"]*\.zip"'},
    }
}
#: A webhook delivery, as the generic webhook trigger reads it (`connectors/http`).
HOOK_BODY: dict[str, Any] = {
    "anyOf": [
        {"type": "object", "description": "one event"},
        {
            "type": "array",
            "items": {"type": "object"},
            "description": "one event per item, each an object",
        },
    ]
}


@dataclass(frozen=True)
class Operation:
    """One method of one route."""

    method: str
    operation_id: str
    summary: str
    #: What a refused user was trying to do: "an operator cannot <action>".
    action: str = ""
    permission: str = "view"
    #: Body fields that need more than `permission` when given: each one's permission and
    #: the action its refusal names (a start's reset_since moves a poll trigger's since: an
    #: edit of the recipe).
    field_permissions: dict[str, tuple[str, str]] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query: dict[str, dict[str, Any]] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=lambda: s.ANY_OBJECT)
    status: int = 200
    #: Its successful answer's schema per media type, when it is not `answer` as JSON.
    content: dict[str, dict[str, Any]] | None = None
    #: The headers its successful answer carries (OpenAPI header objects, by name).
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Other successful answers: HTTP status -> (description, JSON Schema of the body).
    more: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: The error statuses it can answer, of those its route's callers get (None: all).
    errors: tuple[str, ...] | None = None
    #: A body that is a file, not JSON: its media type and the `LpstudioApp` setting that
    #: bounds its size (a larger body is refused with 413 before the handler reads it).
    upload: tuple[str, str] | None = None
    #: The `LpstudioApp` setting that bounds its JSON body's size, and what to do instead
    #: (a larger body is refused with 413 before it is parsed): a run's parameters and event
    #: are kept on its job, which every read of it carries.
    capped: tuple[str, str] | None = None
    #: It answers a callable recipe's own status and body (`lpstudio.kernel.respond`, 200 to
    #: 599), any 2xx a success that `answer` describes, beside the server's own answers.
    recipe_answers: bool = False


@dataclass(frozen=True)
class Route:
    """A URL under /lpstudio/api/v1: `pattern` for tornado (named groups), `path` for OpenAPI."""

    pattern: str
    path: str
    handler: type[h.BaseHandler]
    operations: dict[str, Operation]
    auth: str = USER
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    tag: str = ""


def route(
    pattern: str,
    path: str,
    handler: type[h.BaseHandler],
    /,
    *operations: Operation,
    auth: str = USER,
    tag: str = "",
    **parameters: dict[str, Any],
) -> Route:
    return Route(
        pattern, path, handler, {op.method: op for op in operations}, auth, parameters, tag
    )


_RECIPE = r"(?P<recipe>[^?#]+?\.ipynb)"
#: A callable's `trigger.path` as a URL holds it: each character may come percent-encoded,
#: `/` as %2F as a client generated from the document sends a path parameter, and tornado
#: decodes it (as `{recipe}`'s) before the handler looks the path up, so every form of a
#: path reaches the same recipe. An escape of a byte past ASCII names no path (a path is
#: ASCII) and is no route, as before: tornado refused one that is no UTF-8 with an empty 400.
_ESCAPED = "%[0-7][0-9A-Fa-f]"
_CALL_PATH = rf"(?P<path>(?:[A-Za-z0-9]|{_ESCAPED})(?:[A-Za-z0-9_./-]|{_ESCAPED})*)"
#: Any whole number, so one that can be no job (0, -1, past the store's largest) is told so
#: by its handler (`handlers.job_number`), not "no route".
_JOB = r"(?P<job_id>-?[0-9]+)"
_NAME = r"(?P<name>[^/?#]+)"

ROUTES: tuple[Route, ...] = (
    # -- recipes
    route(
        "/recipes",
        "/recipes",
        h.RecipesHandler,
        Operation(
            "GET",
            "listRecipes",
            "Recipes by project, with trigger, state and last job",
            query={"project": {**PROJECT, "default": "."}},
            answer=s.list_of("recipes", s.LISTED_RECIPE_REF),
        ),
        tag="recipes",
    ),
    route(
        f"/recipes/{_RECIPE}/settings",
        "/recipes/{recipe}/settings",
        h.RecipeSettingsHandler,
        Operation(
            "PUT",
            "saveRecipeSettings",
            "Save parameter values, connection bindings, since and call timeout",
            action="change recipe settings",
            permission="build",
            body=s.SETTINGS_BODY,
            answer=s.RECIPE_REF,
            more={
                "409": (
                    "The settings were changed elsewhere since the `revision` sent (field "
                    "`revision`): nothing was saved; reload them and apply the change again",
                    s.ERROR_REF,
                )
            },
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/versions",
        "/recipes/{recipe}/versions",
        h.RecipeVersionsHandler,
        Operation(
            "GET",
            "listRecipeVersions",
            "The recipe's versions, newest first",
            answer=s.list_of("versions", s.VERSION),
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/restore",
        "/recipes/{recipe}/restore",
        h.RecipeRestoreHandler,
        Operation(
            "POST",
            "restoreRecipe",
            "Restore an earlier version (notebook and settings)",
            action="restore recipe versions",
            permission="build",
            body=s.RESTORE_BODY,
            answer=s.RESTORED,
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/start",
        "/recipes/{recipe}/start",
        h.RecipeStartHandler,
        Operation(
            "POST",
            "startRecipe",
            "Start the recipe: its trigger runs jobs",
            action="start recipes",
            permission="operate",
            field_permissions={
                "reset_since": ("build", "move a poll trigger's since (reset_since) when starting")
            },
            body=s.START_BODY,
            answer=s.RECIPE_REF,
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/stop",
        "/recipes/{recipe}/stop",
        h.RecipeStopHandler,
        Operation(
            "POST",
            "stopRecipe",
            "Stop the recipe: it processes nothing until started",
            action="stop recipes",
            permission="operate",
            body=s.EMPTY_BODY,
            answer={"anyOf": [s.RECIPE_REF, s.STOPPED_UNREAD]},
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/run",
        "/recipes/{recipe}/run",
        h.RecipeRunHandler,
        Operation(
            "POST",
            "runRecipe",
            "Run the recipe now, in the background; answers the queued job",
            action="run recipes",
            permission="build",
            body=s.RUN_BODY,
            answer=s.JOB,
            status=202,
            capped=(
                "max_body_bytes",
                "put larger data where the recipe can read it (a file in the workspace, a "
                "connection), and give its name as a parameter",
            ),
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/test",
        "/recipes/{recipe}/test",
        h.RecipeTestHandler,
        Operation(
            "POST",
            "testRecipe",
            "Test the recipe on one event (a recent trigger event if none is given): its "
            "actions answer the requests they would send, and send nothing",
            action="test recipes",
            permission="build",
            body=s.TEST_BODY,
            answer=s.JOB,
            status=202,
            capped=(
                "max_body_bytes",
                "put larger data where the recipe can read it (a file in the workspace, a "
                "connection), and give its name as a parameter",
            ),
            more={"502": (APP_FAILED, s.ERROR_REF)},
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}/poll",
        "/recipes/{recipe}/poll",
        h.RecipePollHandler,
        Operation(
            "POST",
            "pollRecipe",
            "Poll the recipe's trigger now: a job per new event (or batch), which the "
            "server runs at once, the recipe started or not (as `lpstudio poll` does)",
            action="poll recipes",
            permission="operate",
            body=s.EMPTY_BODY,
            answer=s.POLLED,
            status=202,
            more={"502": (APP_FAILED, s.ERROR_REF)},
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    route(
        f"/recipes/{_RECIPE}",
        "/recipes/{recipe}",
        h.RecipeHandler,
        Operation(
            "GET",
            "getRecipe",
            "A recipe: parameters schema, settings, trigger, state and last job",
            answer=s.RECIPE_REF,
        ),
        tag="recipes",
        recipe=RECIPE,
    ),
    # -- project packages (lpstudio export / lpstudio import)
    route(
        "/packages",
        "/packages",
        h.PackagesHandler,
        Operation(
            "GET",
            "exportPackage",
            "A project folder as a package to import into another workspace: its recipes, "
            "their data files and settings, and the connections they use without secrets",
            query={"project": {**PROJECT, "default": "."}},
            content={"application/zip": s.PACKAGE},
            headers=PACKAGE_FILE,
        ),
        Operation(
            "POST",
            "importPackage",
            "Import a package (the zip as the body): checked whole, nothing written unless "
            "all of it can be; recipes arrive stopped, connections this workspace lacks as "
            "placeholders",
            action="import project packages",
            permission="build",
            query={
                "into": PROJECT
                | {"description": "the project folder to import into (default: the exported one)"},
                "replace": {
                    "type": "boolean",
                    "default": False,
                    "description": "replace recipes that exist, and their settings",
                },
            },
            answer=s.PACKAGE_IMPORTED,
            status=201,
            upload=("application/zip", "max_package_bytes"),
        ),
        tag="recipes",
    ),
    # -- jobs
    route(
        "/jobs",
        "/jobs",
        h.JobsHandler,
        Operation(
            "GET",
            "listJobs",
            "Jobs, newest first, filtered and paged; each without its trigger event and "
            "result, which have no bound in size (GET /jobs/{job_id} has them)",
            query={
                "recipe": {
                    "type": "string",
                    "description": "a recipe under projects/ (`shop/cart.ipynb`), or as "
                    "JupyterLab's file browser names it (`projects/shop/cart.ipynb`); one "
                    "that is no recipe is refused with 400",
                },
                "project": {
                    **PROJECT,
                    "description": "a project folder under projects/ (shop, or "
                    "projects/shop as JupyterLab's file browser names it): the jobs of its "
                    "recipes and its sub-folders' (shop/eu/cart.ipynb), a deleted project's "
                    "too; . for every project. With recipe, the recipe must be in it; one "
                    "that is no folder and has no jobs is refused with 400",
                },
                "status": s.JOB_STATUS,
                "since": {"type": "string", "description": "ISO time or a duration (2h, 7d)"},
                "limit": {**s.LIMIT, "default": 50},
                "offset": s.OFFSET,
                "before": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": s.MAX_INTEGER,
                    "description": "the id of the last job of a page: the jobs after it "
                    "(the next page, which jobs queued meanwhile do not shift); a job that "
                    "does not exist is refused with 404",
                },
            },
            answer=s.JOB_PAGE,
            headers=NEXT_PAGE,
        ),
        tag="jobs",
    ),
    route(
        f"/jobs/{_JOB}/output\\.(?P<kind>ipynb|html)",
        "/jobs/{job_id}/output.{kind}",
        h.JobOutputHandler,
        Operation(
            "GET",
            "getJobOutput",
            "The job's output notebook, as .ipynb or as HTML",
            content={
                "application/x-ipynb+json": NOTEBOOK,
                "text/html": {"type": "string", "contentMediaType": "text/html"},
            },
            headers=OUTPUT_FILE,
            more={
                "413": (
                    "As HTML, an output notebook larger than the server renders "
                    "(OutputTooLarge, field `kind`, LpstudioApp.max_output_view_bytes): "
                    "nothing was rendered; fetch it as .ipynb",
                    s.ERROR_REF,
                )
            },
        ),
        tag="jobs",
        job_id=JOB_ID,
        kind={"enum": ["ipynb", "html"]},
    ),
    route(
        f"/jobs/{_JOB}/rerun",
        "/jobs/{job_id}/rerun",
        h.JobRerunHandler,
        Operation(
            "POST",
            "rerunJob",
            "Run the job again with the values given for it and its event, on the latest "
            "version and settings, and its timeout or a longer one (side effects repeat; "
            "sends its delivery ledger holds do not)",
            action="rerun jobs",
            permission="operate",
            body=s.RERUN_BODY,
            answer=s.RERUN,
            status=202,
        ),
        tag="jobs",
        job_id=JOB_ID,
    ),
    route(
        f"/jobs/{_JOB}/cancel",
        "/jobs/{job_id}/cancel",
        h.JobCancelHandler,
        Operation(
            "POST",
            "cancelJob",
            "Cancel a queued job, or ask its worker to stop it",
            action="cancel jobs",
            permission="operate",
            body=s.EMPTY_BODY,
            answer=s.CANCEL,
        ),
        tag="jobs",
        job_id=JOB_ID,
    ),
    route(
        f"/jobs/{_JOB}",
        "/jobs/{job_id}",
        h.JobHandler,
        Operation(
            "GET",
            "getJob",
            "A job",
            query={
                "listed": {
                    "type": "boolean",
                    "default": False,
                    "description": "true: the job as GET /jobs lists it (no trigger event, no "
                    "result) with its `waits` and `sends`, what moves while a view shows it",
                }
            },
            answer=s.SHOWN_JOB,
        ),
        tag="jobs",
        job_id=JOB_ID,
    ),
    # -- gallery
    route(
        "/gallery",
        "/gallery",
        h.GalleryHandler,
        Operation(
            "GET",
            "listTemplates",
            "The gallery's templates, and each broken one with its error",
            answer=s.GALLERY,
        ),
        tag="gallery",
    ),
    route(
        "/gallery/try",
        "/gallery/try",
        h.GalleryTryHandler,
        Operation(
            "POST",
            "tryTemplate",
            "Copy a template into a project folder",
            action="create recipes",
            permission="build",
            body=s.TRY_BODY,
            answer=s.RECIPE_REF,
            status=201,
        ),
        tag="gallery",
    ),
    # -- connections
    route(
        "/connectors",
        "/connectors",
        h.ConnectorsHandler,
        Operation(
            "GET",
            "listConnectors",
            "Connectors: fields, actions, triggers, pick lists; those that do not load",
            answer=s.CONNECTORS,
        ),
        tag="connections",
    ),
    route(
        "/connections",
        "/connections",
        h.ConnectionsHandler,
        Operation(
            "GET",
            "listConnections",
            "Connections (secret fields masked)",
            answer=s.list_of("connections", s.CONNECTION),
        ),
        Operation(
            "POST",
            "createConnection",
            "Create a connection (secret fields are write-only)",
            action="create connections",
            permission="build",
            body=s.CONNECTION_BODY,
            answer=s.CONNECTION,
            status=201,
        ),
        tag="connections",
    ),
    route(
        f"/connections/{_NAME}/test",
        "/connections/{name}/test",
        h.ConnectionTestHandler,
        Operation(
            "POST",
            "testConnection",
            "Test a connection and record connected or disconnected",
            action="test connections",
            permission="build",
            body=s.EMPTY_BODY,
            answer=s.CONNECTION,
        ),
        tag="connections",
        name=CONNECTION_NAME,
    ),
    route(
        f"/connections/{_NAME}/picklists/(?P<picklist>[^/?#]+)",
        "/connections/{name}/picklists/{picklist}",
        h.PicklistHandler,
        Operation(
            "GET",
            "getPicklist",
            "A pick list (handoffs, skills...) through a connection",
            answer=s.list_of("options", s.PICKLIST_OPTION),
            more={"502": (APP_FAILED, s.ERROR_REF)},
        ),
        tag="connections",
        name=CONNECTION_NAME,
        picklist={"type": "string", "description": "a pick list of the connector"},
    ),
    route(
        f"/connections/{_NAME}",
        "/connections/{name}",
        h.ConnectionHandler,
        Operation(
            "GET", "getConnection", "A connection (secret fields masked)", answer=s.CONNECTION
        ),
        Operation(
            "PUT",
            "updateConnection",
            "Change fields of a connection (it must be tested again)",
            action="edit connections",
            permission="build",
            body=s.CONNECTION_UPDATE_BODY,
            answer=s.CONNECTION,
        ),
        Operation(
            "DELETE",
            "deleteConnection",
            "Delete a connection",
            action="delete connections",
            permission="build",
            body=s.EMPTY_BODY,
        ),
        tag="connections",
        name=CONNECTION_NAME,
    ),
    # -- dashboard, users, audit, API clients
    route(
        "/dashboard",
        "/dashboard",
        h.DashboardHandler,
        Operation(
            "GET",
            "getDashboard",
            "Jobs per day by status, per recipe outcomes, connections, Proactive volumes",
            query={"days": {"type": "integer", "minimum": 1, "maximum": 366, "default": 7}},
        ),
        tag="dashboard",
    ),
    route(
        "/me",
        "/me",
        h.MeHandler,
        Operation(
            "GET",
            "getMe",
            "The calling user: name, role, what the role may do (for hiding controls), and "
            "whether the studio pops up its gallery",
            answer=s.ME,
        ),
        tag="admin",
    ),
    route(
        "/me/gallery-popup",
        "/me/gallery-popup",
        h.GalleryPopupHandler,
        Operation(
            "POST",
            "dismissGalleryPopup",
            "Dismiss the gallery pop-up for the calling user: it stays away in this workspace",
            body=s.EMPTY_BODY,
            answer=s.ME,
        ),
        tag="admin",
    ),
    route(
        "/scheduler",
        "/scheduler",
        h.SchedulerHandler,
        Operation(
            "GET",
            "getScheduler",
            "Whether this server hosts the scheduler, and which server holds its lease",
            answer=s.SCHEDULER,
        ),
        tag="admin",
    ),
    route(
        "/users",
        "/users",
        h.UsersHandler,
        Operation(
            "GET",
            "listUsers",
            "Users and their roles",
            action="list users",
            permission="admin",
            answer=s.list_of("users", s.LISTED_USER),
        ),
        tag="admin",
    ),
    route(
        f"/users/{_NAME}/role",
        "/users/{name}/role",
        h.UserRoleHandler,
        Operation(
            "PUT",
            "setUserRole",
            "Change a user's role",
            action="change roles",
            permission="admin",
            body=s.ROLE_BODY,
            answer=s.ROLE_SET,
        ),
        tag="admin",
        name={"type": "string", "description": "a user's name"},
    ),
    route(
        "/audit",
        "/audit",
        h.AuditHandler,
        Operation(
            "GET",
            "listAudit",
            "The audit log, newest first: who changed what, and when (the detail of an "
            "entry about users or API clients withheld from a role without admin)",
            query={"limit": {**s.LIMIT, "default": 100}},
            answer=s.list_of("entries", s.AUDIT_ENTRY),
        ),
        tag="admin",
    ),
    route(
        "/api-clients",
        "/api-clients",
        h.ApiClientsHandler,
        Operation(
            "GET",
            "listApiClients",
            "API clients (never their tokens)",
            action="list API clients",
            permission="admin",
            answer=s.list_of("api_clients", s.API_CLIENT),
        ),
        Operation(
            "POST",
            "createApiClient",
            "Create an API client; the answer holds its token, shown only once",
            action="create API clients",
            permission="admin",
            body=s.API_CLIENT_BODY,
            answer=s.API_CLIENT,
            status=201,
        ),
        tag="admin",
    ),
    route(
        f"/api-clients/{_NAME}",
        "/api-clients/{name}",
        h.ApiClientHandler,
        Operation(
            "DELETE",
            "revokeApiClient",
            "Revoke an API client: its token stops working",
            action="revoke API clients",
            permission="admin",
            body=s.EMPTY_BODY,
            answer=s.API_CLIENT,
        ),
        tag="admin",
        name=CONNECTION_NAME | {"description": "an API client's name"},
    ),
    route(
        "/health",
        "/health",
        h.HealthHandler,
        Operation(
            "GET",
            "getHealth",
            "Whether this server serves its workspace and its store answers, for a load "
            "balancer's health check: no credential needed, nothing else said",
            permission="",
            answer=s.HEALTH,
        ),
        auth=ANYONE,
        tag="meta",
    ),
    route(
        "/openapi.json",
        "/openapi.json",
        h.OpenApiHandler,
        Operation("GET", "getOpenApi", "This document"),
        tag="meta",
    ),
    # -- callers that are not users
    route(
        f"/call/{_CALL_PATH}",
        "/call/{path}",
        h.CallHandler,
        Operation(
            "POST",
            "callRecipe",
            "Call a started callable recipe with its input in a JSON body, the query or both "
            "(API client token)",
            permission="",
            body=s.ANY_OBJECT,
            query={"mode": {"enum": ["sync", "async"], "default": "sync"}},
            answer=RECIPE_ANSWER,
            more=ASYNC_ANSWER,
            recipe_answers=True,
        ),
        Operation(
            "GET",
            "callRecipeByQuery",
            "Call a started callable recipe with its input in the query (API client token)",
            permission="",
            query={"mode": {"enum": ["sync", "async"], "default": "sync"}},
            answer=RECIPE_ANSWER,
            more=ASYNC_ANSWER,
            recipe_answers=True,
        ),
        auth=CLIENT,
        tag="calls",
        path={
            "type": "string",
            "description": "the recipe's trigger.path; its / may be sent as %2F (bots/optin "
            "or bots%2Foptin), and any character percent-encoded",
        },
    ),
    route(
        f"/calls/{_JOB}",
        "/calls/{job_id}",
        h.CallJobHandler,
        Operation(
            "GET",
            "getCallAnswer",
            "The answer of an asynchronous call: 202 while its job runs",
            permission="",
            answer=RECIPE_ANSWER,
            more={"202": ("The job still runs: poll again", s.CALL_QUEUED)},
            errors=("400", "401", "404", "410", "422", "429", "502"),
            recipe_answers=True,
        ),
        auth=CLIENT,
        tag="calls",
        job_id=JOB_ID,
    ),
    route(
        "/hooks/(?P<hook_id>[A-Za-z0-9]{1,128})",
        "/hooks/{hook_id}",
        h.HookHandler,
        Operation(
            "POST",
            "receiveWebhook",
            "A webhook event for a webhook recipe: one job per event (kept while stopped); "
            "a delivery whose events do not all fit the recipe's input schema queues none. "
            "Its recipe reads the delivery's headers and query, credentials and signatures "
            "left out, as `lp.delivery`",
            permission="",
            body=HOOK_BODY,
            answer=s.HOOK_ANSWER,
            status=202,
            more={"200": ("A repeated delivery: queued before, nothing more", s.HOOK_ANSWER)},
        ),
        auth=OPEN,
        tag="webhooks",
        hook_id={"type": "string", "description": "the recipe's hook id (see its trigger)"},
    ),
)


def permissions(method: str, path: str, fields: Collection[str] = ()) -> set[str]:
    """What a request of `method` on `path` (under the API's prefix, a part of it maybe a
    placeholder: RECIPE, <name>) with a body giving `fields` needs: its route's permission
    and that of each field that needs more; none for a route no role is checked on, or no
    route. The route that takes the path is the first, as tornado takes it."""
    route = next((r for r in ROUTES if _path_pattern(r.path).fullmatch(path)), None)
    op = route.operations.get(method) if route is not None else None
    if op is None or op.permission not in PERMISSIONS:
        return set()
    more = [permission for name, (permission, _) in op.field_permissions.items() if name in fields]
    return {op.permission, *more}


@functools.cache
def _path_pattern(path: str) -> re.Pattern[str]:
    """A route's OpenAPI path as a pattern: a recipe's part takes its folders too."""
    escaped = re.escape(path).replace(r"\{recipe\}", ".+")
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", escaped))


def handlers(routes: tuple[Route, ...] = ROUTES) -> list[tuple[str, type, dict[str, Any]]]:
    """Tornado handlers for the routes, and a JSON 404 for any other path under the API."""
    found: list[tuple[str, type, dict[str, Any]]] = [
        (f"{h.PREFIX}{r.pattern}", r.handler, {"route": r}) for r in routes
    ]
    found.append((f"{h.PREFIX}(?:/.*)?", h.NotFoundHandler, {}))
    return found
