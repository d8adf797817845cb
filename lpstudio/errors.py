"""The exceptions lpstudio raises, as one tree.

    LpstudioError                 anything lpstudio refuses or cannot do
    ├── InputError                bad input at the edge: nothing was run or written
    │   ├── WorkspaceError        no workspace, never activated, path outside it, a store
    │   │   │                     a newer lpstudio upgraded
    │   │   └── StoreUnwritable   a SQLite store (its file, or its folder) this user may
    │   │                         not write: an admin's to mend (503 while the server opens)
    │   ├── RecipeError           broken notebook, no parameters cell, bad metadata
    │   ├── ParameterError        unknown parameter, wrong type, unparsable value
    │   ├── DeliveryError         a webhook delivery its recipe refuses (a body it cannot
    │   │   │                     read, an event no object or off its input schema, a
    │   │   │                     delivery id reused with another body): the sender's to
    │   │   │                     fix, nothing was queued
    │   │   └── SignatureError    its signature is missing or wrong
    │   └── ConnectorFault        a webhook trigger's own code failed on a delivery: its
    │                             connector's to correct (503, which senders retry)
    ├── NotFoundError             a job, recipe or template that does not exist
    ├── StoreUnavailable          the store cannot be read or written now: nothing was done,
    │                             the same request may succeed once it is back (exit 75, 503)
    └── ConflictError             the same request is being handled by another: retry later;
                                  or settings changed since the revision a form showed

Every `InputError` carries the `field` it is about and the `fix` a user can apply, so the
CLI (exit code 2), the REST API (400) and the widget forms can all show the same message.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Sequence
from typing import Any, Self

from .redaction import scrub_text

#: How an `LpstudioError`'s text sets its fix apart from its message.
FIX_SAID = "\n  fix: "


def rerun_fix(job_id: int, first: str | None = None) -> str:
    """The fix of a job that a run again may pass (its process or kernel gone, an app that
    did not answer): `first` (what to check), then the rerun of this job, by its own id
    (REST answers and the lab say it as their Rerun). Run again whole: a send its delivery
    ledger holds is not repeated."""
    rerun = f"`lpstudio rerun {job_id}`"
    if first:
        return f"{first}; then {rerun}"
    return f"{rerun} runs it again (a send its delivery ledger holds is not sent again)"


#: The key of a job's error whose fix is its rerun (`rerun_error`): what that fix asks
#: first (None: nothing). Internal (`jobviews.plain_error` gives it to no reader): whoever
#: says the fix anew (`store._doubt_fixed`) reads it, never the fix's words.
RERUN_FIRST = "rerun_first"


def rerun_error(job_id: int, first: str | None = None) -> dict[str, Any]:
    """The fields of a job's error whose fix is its rerun (`rerun_fix`): that fix, and what
    it asks first (`RERUN_FIRST`), which a fix said anew keeps as it says the rerun its own
    way (a job that left sends uncertain: what its rerun sends)."""
    return {"fix": rerun_fix(job_id, first), RERUN_FIRST: first}


#: How a person finds out what an app did with sends left uncertain, when their connector
#: says no better (`ConnectorError.check`): followed by when they were sent.
CHECK_IN_THE_APP = "check in the app they went to what it did with them"


def uncertain_fix(
    job_id: int, windows: str, checks: Sequence[str], fix: str | None, rerun: bool
) -> str:
    """The fix of a job that left sends uncertain: how to find out what the app did with
    them (`checks`, their connectors', else `CHECK_IN_THE_APP`), each in the `windows` they
    were sent, the app's own fix, then what a run again sends: when it may still send some
    (`rerun`), never an uncertain one, which the delivery ledger holds back; else nothing."""
    said = [f"{check} {windows}" for check in checks or [CHECK_IN_THE_APP]]
    said += [fix] if fix else []
    if rerun:
        said.append(
            f"then `lpstudio rerun {job_id}` sends only those it never reached, never the "
            "uncertain ones"
        )
    elif not fix:  # its connector's word: it reached every recipient
        said.append("a rerun would send nothing: none is left to send but the uncertain ones")
    return "; ".join(said)


def said_and_fix(error: dict[str, Any]) -> tuple[str, str | None]:
    """A job's error as (what happened, its fix): the fix lpstudio gives in its own field
    (a dead kernel's, a timeout's, an unsaved notebook's), else the one an `LpstudioError`
    raised in a recipe's cell ends its text with."""
    said, _, fix = str(error.get("evalue") or "").partition(FIX_SAID)
    return said, error.get("fix") or fix or None


class LpstudioError(Exception):
    """Base class: something lpstudio refused or could not do."""

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}{FIX_SAID}{self.fix}" if self.fix else self.message

    def mask(self, secrets: Collection[str]) -> Self:
        """Masks `secrets` in the message, field and fix, in place: each may quote what a
        user gave, and the CLI, the REST API and a notebook's traceback print all three."""
        if secrets:
            self.message = scrub_text(self.message, secrets)
            self.field = scrub_text(self.field, secrets) if self.field else self.field
            self.fix = scrub_text(self.fix, secrets) if self.fix else self.fix
            self.args = (self.message,)
        return self

    def to_dict(self) -> dict[str, str | None]:
        """The JSON shape of an error, shared by `--json` output and the REST API."""
        return {
            "code": type(self).__name__,
            "message": self.message,
            "field": self.field,
            "fix": self.fix,
        }


class InputError(LpstudioError):
    """Bad input caught before any job started; nothing was written."""


class WorkspaceError(InputError):
    """The workspace is missing, not activated, a path leaves it, or its store has a schema
    newer than this lpstudio's."""


class StoreUnwritable(WorkspaceError):
    """The store's SQLite file, or the folder SQLite writes its side files in, may not be
    written by the user lpstudio runs as: the workspace is there and active, its
    permissions are the admin's to mend (no wait cures it, no activation either)."""


class RecipeError(InputError):
    """The recipe notebook cannot be used as it is."""

    #: Its notebook does not read (not JSON, not a notebook): an earlier version mends it
    #: too, which its fix offers where the recipe has one (`Studio.load_recipe`).
    restorable: bool = False


class ParameterError(InputError):
    """A parameter value is unknown, of the wrong type or unparsable."""


class DeliveryError(InputError):
    """A webhook delivery its recipe refuses: the sender's to fix (a redelivery may follow)."""


class ConnectorFault(InputError):
    """A webhook trigger's own code (its connector's `parse` or `verify`) failed on a
    delivery: neither the sender's to fix nor the recipe's settings, its connector's code
    (503, which senders retry until it is corrected)."""


class SignatureError(DeliveryError):
    """A webhook delivery whose signature is missing or wrong: the sender may not post it."""


class NotFoundError(LpstudioError):
    """A job, recipe or template that does not exist."""


class StoreUnavailable(LpstudioError):
    """The store could not be written or read now (locked by another writer past the busy
    timeout, or its database server gone): nothing was done, and the same request may
    succeed once it is back."""


class ConflictError(LpstudioError):
    """The same request (an idempotency key, a webhook delivery) is in progress elsewhere,
    or a change was made on settings that changed since (their `revision`). `retry_after`:
    the seconds to wait before asking again, when known (a REST answer's `Retry-After`)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(message, field=field, fix=fix)
        self.retry_after = retry_after


def word(text: object, folder: str = "projects") -> str:
    """`text` (a recipe's path, a folder) as one word of the command a fix shows: a path
    may hold a space or a quote, and a fix is pasted into a shell as it is. One beginning
    with '-' goes after its `folder` (`projects/-q/need.ipynb`, as JupyterLab shows a
    recipe and the CLI reads it; `./-x` for a path): a command reads it as an option, and
    `--` before it would read the options after it (`-p days VALUE`) as names."""
    text = str(text)
    return shlex.quote(f"{folder}/{text}" if text.startswith("-") else text)


def quoted(name: str) -> str:
    """`name` in quotes as the user typed it, for a message (a recipe's, a connection's, an
    API client's, a user's, a value typed): `repr` doubled a backslash
    (`'a\\\\b'` for the `a\\b` typed), which the user would copy. A character that shows as
    nothing is escaped as `repr` escapes it (`\\u200b`), so it is seen; a name holding `'`
    is put in double quotes, as `repr` puts it."""
    mark = '"' if "'" in name and '"' not in name else "'"
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in name)
    return mark + shown + mark


def not_utf8(exc: UnicodeDecodeError) -> str:
    """How a file that is no UTF-8 text is said, after its name: its first byte that is not,
    by its offset and its line, for its owner to find it (Latin-1's é is 0xe9, as older
    editors and Excel's plain "CSV" on Windows write it)."""
    line = exc.object.count(b"\n", 0, exc.start) + 1
    return f"is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}, line {line})"
