"""The `lpstudio` command line: a thin client of `Studio`.

Exit codes: 0 success, 1 a job failed (or was cancelled), 2 bad input (nothing was run or
written), 130 interrupted. `--json` prints one JSON document on stdout for scripts.
Each command group lives in its own module; importing them registers their commands.
"""

from . import admin, connections, packages, recipes, runs  # noqa: F401  (registers the commands)
from .base import main

__all__ = ["main"]
