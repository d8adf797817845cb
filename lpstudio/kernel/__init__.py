"""What a recipe sees inside its kernel: its job context and the way to report a result.

The engine binds the context silently before the first cell runs, so a recipe works the
same whether papermill, the CLI, a schedule or nbval runs it (outside a job the context is
empty and results are only displayed). Results travel back as display data of the MIME
type `RESULT_MIME`, which also leaves them visible in the output notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RESULT_MIME", "JobContext", "context", "event", "job_id", "log", "set_result"]

RESULT_MIME = "application/vnd.lpstudio.result+json"


@dataclass(frozen=True)
class JobContext:
    """The job a kernel is running for; `job_id` is None outside a job."""

    job_id: int | None = None
    recipe: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    event: Any = None
    test_mode: bool = False


_context = JobContext()


def _bind(payload: str) -> None:
    """Called by lpstudio's engine, once, before the recipe's first cell."""
    global _context
    _context = JobContext(**json.loads(payload))


def context() -> JobContext:
    """The current job's context."""
    return _context


def __getattr__(name: str) -> Any:
    # `lpstudio.kernel.event` and `.job_id` read the context bound at start.
    if name in ("event", "job_id"):
        return getattr(_context, name)
    raise AttributeError(name)


def set_result(result: dict[str, Any]) -> None:
    """Stores `result` (a JSON object) on the job; shown by `lpstudio show` and `--json`."""
    if not isinstance(result, dict):
        raise TypeError(f"set_result expects a dict, got {type(result).__name__}")
    body = json.loads(json.dumps(result, default=str))
    from IPython.display import publish_display_data

    summary = json.dumps(body, indent=1, ensure_ascii=False)
    publish_display_data({RESULT_MIME: body, "text/plain": f"lpstudio result:\n{summary}"})


def log(message: str) -> None:
    """A line in the job's log (the output notebook), prefixed with the job id."""
    prefix = f"[job {_context.job_id}] " if _context.job_id is not None else ""
    print(f"{prefix}{message}", flush=True)
