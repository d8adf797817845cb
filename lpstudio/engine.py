"""lpstudio's papermill engine: papermill's nbclient engine plus the hooks a job needs.

It is registered on papermill's `papermill.engine` entry point as `lpstudio`, so
`papermill --engine lpstudio` runs notebooks the same way. Beyond papermill's own engine it

- binds the job context in the kernel (silently, before the first cell), so credentials
  and events never need to pass as parameters;
- reports progress after every cell (`on_cell`);
- hands the kernel manager to its caller (`on_kernel`), who owns the kernel: it may kill it
  on a timeout or a cancel, and shuts it down after the job;
- writes the output notebook through its caller (`writer`), who scrubs secrets from it, at
  every point papermill would save it.

The pooled engine of the speed work plugs in at `_kernel_manager`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine
from papermill.log import logger
from papermill.utils import merge_kwargs, remove_args


class StudioNotebookClient(PapermillNotebookClient):
    """papermill's client, with a silent bootstrap and a per-cell callback."""

    def __init__(
        self,
        nb_man: Any,
        bootstrap: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(nb_man, **kw)
        self._bootstrap = bootstrap
        self._on_cell = on_cell

    def papermill_execute_cells(self) -> None:
        if self._bootstrap:
            assert self.kc is not None
            reply = self.wait_for_reply(
                self.kc.execute(self._bootstrap, silent=True, store_history=False)
            )
            if reply is None or reply["content"]["status"] != "ok":
                content = reply["content"] if reply else {}
                raise RuntimeError(
                    "lpstudio could not bind the job context in the kernel: "
                    f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"
                )
        if self._on_cell is None:
            return super().papermill_execute_cells()
        total = len(self.nb.cells)
        complete = self.nb_man.cell_complete

        def cell_complete(cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            complete(cell, cell_index=cell_index, **kwargs)
            if cell_index is not None and self._on_cell is not None:
                self._on_cell(cell_index + 1, total)

        self.nb_man.cell_complete = cell_complete
        try:
            super().papermill_execute_cells()
        finally:
            del self.nb_man.cell_complete


class StudioEngine(NBClientEngine):
    """The engine every lpstudio job runs through (and `papermill --engine lpstudio`)."""

    @classmethod
    def _kernel_manager(cls, kernel_name: str) -> AsyncKernelManager:
        # nbclient needs an async manager: a blocking one stalls its event loop and hides a
        # dead kernel. IPC sockets in the private runtime folder: no TCP port is opened.
        runtime = Path(jupyter_runtime_dir())
        runtime.mkdir(parents=True, exist_ok=True)
        ip = str(runtime / f"lpstudio-{uuid.uuid4().hex[:12]}")
        return AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=ip)

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        bootstrap: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
        on_kernel: Callable[[AsyncKernelManager], None] | None = None,
        writer: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        if writer is not None:

            def save(**_: Any) -> None:
                writer(nb_man.nb)
                nb_man.last_save_time = nb_man.now()

            nb_man.save = save
            save()
        km = None
        if on_kernel is not None:
            # The caller owns this kernel: it can stop it, and must shut it down.
            km = cls._kernel_manager(kernel_name)
            on_kernel(km)
        client = StudioNotebookClient(
            nb_man, km=km, bootstrap=bootstrap, on_cell=on_cell, **final_kwargs
        )
        try:
            return client.execute()
        finally:
            if km is not None and client.kc is not None:
                client.kc.stop_channels()
