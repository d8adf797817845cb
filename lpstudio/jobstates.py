"""A job's states, apart from the store that keeps them: the widgets name them (a status's
colour), and a module importing the store imports SQLAlchemy (about 0.3 s), which a job's
kernel running the form cell (`lpstudio.widgets.RecipeForm`) must not pay for."""

from __future__ import annotations

#: Job states; the last three are final.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)

#: Every job state, in the order of a job's life: the one list the REST API's schemas, the
#: CLI's `--status`, the widgets and the lab's `JOB_STATES` (ui/src/api.ts, a test checks)
#: give.
JOB_STATES = (QUEUED, RUNNING, *FINAL_STATES)
