"""Whether a job's failure is worth a retry, told from inside its kernel.

papermill reports a failing cell by its error's text (ename, evalue, traceback), which
loses what a `ConnectorError` knows: whether trying again may help (`retryable`; not
before tomorrow: `not_today`) and the HTTP `status`, which together tell a refusal for
good (`failures.refused_for_good`). After a cell that raised one, the kernel publishes
them as display data of the MIME type `ERROR_MIME`, beside the unchanged traceback; the
runner adds them to the job's error, and a job the app refused for good is not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sdk import ConnectorError

if TYPE_CHECKING:
    from IPython.core.interactiveshell import ExecutionResult

ERROR_MIME = "application/vnd.lpstudio.error+json"


def report_connector_errors() -> None:
    """Publishes what each failing cell's `ConnectorError` says of a retry, from now on in
    this kernel: called when a job is bound, before its first cell."""
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.events.register("post_run_cell", publish_connector_error)


def publish_connector_error(result: ExecutionResult | None) -> None:
    """A `post_run_cell` hook: it runs after the error's traceback was shown, which it
    leaves as it is (the kernel's error reply and output are IPython's own)."""
    error = result.error_in_exec if result is not None else None  # None: cancelled
    if not isinstance(error, ConnectorError):
        return
    from IPython.display import publish_display_data

    status = f"HTTP {error.status}" if error.status is not None else "no HTTP status"
    verdict = "a retry may pass" if error.retryable else "not to be sent again as it was"
    if error.not_today:
        verdict = "stopped at a limit per day: not retried today"
    if error.uncertain:
        verdict = "it may have been carried out: neither sent again nor retried"
        if error.retryable:  # a campaign's: its ledger keeps the ones in doubt
            verdict = (
                "some of it may have been carried out: not sent again; a retry sends only "
                "what its delivery ledger shows unsent"
            )
    publish_display_data(
        {
            ERROR_MIME: {
                "retryable": bool(error.retryable),
                "status": error.status,
                "uncertain": bool(error.uncertain),
                "not_today": bool(error.not_today),
                "check": error.check if error.uncertain else None,
            },
            "text/plain": f"lpstudio: {verdict} ({status})",
        }
    )
