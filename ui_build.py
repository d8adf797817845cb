"""The wheel's build step for the studio (ui/): npm, when a source is newer than the lab.

hatch-jupyter-builder's own check (`source_dir`) looks under one folder, but ui/src also
imports tables kept in lpstudio/ for the API and the widgets (lab_terms.json, roles.json,
list_examples.json): a change to one of them alone left the old lab in the wheel. pyproject
names them all in `sources`; this module is the hook's `build-function` and lives outside
the package, so that it is in the sdist and never in the wheel.
"""

from __future__ import annotations

import logging
from typing import Any

from hatch_jupyter_builder import npm_builder as build_with_npm
from hatch_jupyter_builder.utils import is_stale


def npm_builder(
    target_name: str, version: str, *, build_dir: str, sources: list[str], **kwargs: Any
) -> None:
    """Run hatch-jupyter-builder's npm build when `build_dir` is missing or older than any
    of `sources` (folders or files); the other keywords are its own."""
    log = logging.getLogger(__name__)
    stale = [source for source in sources if is_stale(build_dir, source)]
    if not stale:
        log.info("%s is newer than its sources: no build", build_dir)
        return
    log.info("%s is missing or older than %s: building", build_dir, ", ".join(stale))
    build_with_npm(target_name, version, build_dir=build_dir, force=True, **kwargs)
