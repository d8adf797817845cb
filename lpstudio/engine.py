"""lpstudio's papermill engine: papermill's nbclient engine plus the hooks a job needs.

It is registered on papermill's `papermill.engine` entry point as `lpstudio`, so
`papermill --engine lpstudio` runs notebooks the same way. Beyond papermill's own engine it

- binds the job context (`job_context`) in the kernel before the first cell runs, so
  credentials and events never need to pass as parameters;
- reports progress after every cell that started (`on_cell`), and asks before each cell
  whether it may start (`before_cell`, given the cell, or None before the kernel is taken,
  raises to stop the run: a timeout or cancel that landed while the kernel was starting
  runs no cell);
- hands the kernel manager to its caller (`on_kernel`), who owns the kernel: it may kill it
  on a timeout or a cancel, shuts it down after the job, and refills the pool once the
  job is recorded (a refill started earlier competes with the job's last steps); a caller
  that reports a kernel's death itself (`reports_deaths`: lpstudio's runner, in the job's
  error or its stop) has nbclient's "Kernel died ..." errors left out of the log (the CLI
  printed one above the job's own error, worded otherwise);
- caps the outputs the notebook keeps (`max_output_mb`, `OutputCap`): past the cap the
  cells run on, their outputs dropped, and the cell where it was passed says so once;
- writes the output notebook through its caller (`writer`), who scrubs secrets from it,
  when papermill would save it: at most once a second, a save put off by that second
  written once it has passed, while the next cell runs (`Saves`); the caller writes the
  last one.

Run by papermill itself (`papermill --engine lpstudio`, no lpstudio job), a notebook of a
workspace is run as in JupyterLab: its kernel is told the notebook's path
(`JPY_SESSION_NAME`), so its connection slots are those its recipe's settings bind; every
write of the output notebook, papermill's last ones too, is scrubbed of the workspace's
secrets, as a job's is; and its outputs are capped by the workspace's `[jobs]
max_output_mb`. Outside any workspace, the notebook is papermill's (no cap unless one is
given). Either way its kernel is told that no person is at it
(`kernel.runtime.HEADLESS_VAR`): its recipe form shows nothing, as in a job.

Kernels come from the process's kernel pool (`lpstudio.pool`) when there is one: a kernel
that is already started and connected, used by this one notebook and then shut down. The
kernel then runs in the pool's folder, in this process's environment of the moment it
started: it is first moved to the folder papermill would have started it in (as if it had
started there), and given the environment as it is now. A kernel forked on the fork
server's prepared shell is moved and bound by the metadata of the notebook's first execute
request (`forkserver.bind_requested`); any other kernel gets a silent bootstrap request
first. A pooled kernel may have been stopped or hung since it started: it must answer the
bootstrap, or acknowledge the first cell (its `busy` status; the cell may then run as long
as it needs), within the start timeout, or the run fails before any cell. An empty
pool, or none (`papermill --engine lpstudio` in a process without a `Studio`), falls back
to a normal start. The bootstrap is Python: a kernel of another language is never pooled,
gets none, and runs the notebook as papermill's own engine runs it (no lpstudio job runs
on one: its recipe is refused).

A run that ends before its last cell, however it ends, leaves the cells it never ran
pending (`keep_pending`), never "completed". A cell cut off by papermill's execution
timeout is interrupted first, and keeps the error that raises, as papermill's does.

A kernel whose notebook ran to its end (or to a cell's error or timeout) is shut down as
papermill's is, off the run's path: its notebook's open files are flushed and its atexit
functions run (`runner.end_kernel`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

if TYPE_CHECKING:
    from .workspace import Workspace


def __getattr__(name: str) -> Any:
    """papermill loads its engines' entry points while it is first imported. Imported
    first, this module causes that import and is half made when papermill asks it for
    `StudioEngine` (a circular-import error); papermill's own engine stands in until the
    class exists and registers itself (end of this module)."""
    if name == "StudioEngine":
        from papermill.engines import NBClientEngine

        return NBClientEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402 (after __getattr__)
from papermill.clientwrap import PapermillNotebookClient  # noqa: E402 (after __getattr__)
from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402 (after __getattr__)
from papermill.log import logger  # noqa: E402 (after __getattr__)
from papermill.utils import merge_kwargs, remove_args  # noqa: E402 (after __getattr__)

from . import pool as kernel_pool  # noqa: E402 (after __getattr__)
from .errors import LpstudioError  # noqa: E402 (after __getattr__)
from .pool import QuietOnStop  # noqa: E402 (after __getattr__)

log = logging.getLogger(__name__)

SAVE_EVERY = 1.0  # seconds between two writes of a running job's output notebook
INTERRUPT_WAIT = 2.0  # seconds a cell cut off by the timeout has to raise its interrupt
#: Seconds of the slices a cell's last outputs are waited for in: a slice the event loop
#: was kept from for longer (lpstudio writing a large notebook) counts as this long.
SILENCE_SLICE = 0.25


class Saves:
    """papermill's saves of a running job's output notebook (`nb_man.save`), through the
    job's writer: the first at once (the job's output exists while it runs), then one a
    second at most, counted from the end of the last: writing and scrubbing costs more
    than a short cell, and a large notebook's save may take longer than a second (counted
    from its start, every cell would then save it again).

    A save asked for within that second is owed, not dropped: the cells that end within it
    were otherwise written only by the next save after it, and a long cell after them left
    the file without them for as long as it ran (what Open output showed, and all a
    `kill -9` left). The owed save is written once its second has passed, while the next
    cell runs (`catch_up`), on the event loop that runs it: nothing changes the notebook
    meanwhile. A job whose cells all end within the second writes no more than before.

    It is papermill's autosave during a cell too (`nb_man.autosave_cell`, asked at each of
    the cell's messages), whose 30 s left a long cell's output that long out of the file.

    A save that fails once the first was written (history/ made unwritable, a full disk)
    is logged, once, and stays owed: the run goes on, as its cells' sends do, and the
    caller's final write says whether its notebook was saved. Raised out of papermill's
    cell loop, it stopped the job at a cell that did nothing wrong, blamed for it. The
    first save's failure is raised: the job's notebook can't be written, so none runs."""

    def __init__(self, nb_man: Any, writer: Callable[[Any], None]) -> None:
        self.nb_man = nb_man
        self.writer = writer
        self.last = -SAVE_EVERY
        self.owed = False
        self.written = False  # a save was written: a later failure does not stop the run
        self.failing = False  # the last save failed (said once in the log)

    def __call__(self, **_: Any) -> None:
        if time.monotonic() - self.last >= SAVE_EVERY:
            self.write()
        else:
            self.owed = True

    def write(self) -> None:
        try:
            self.writer(self.nb_man.nb)
        except OSError as exc:
            if not self.written:
                raise
            if not self.failing:
                log.warning("a running job's output notebook could not be saved: %s", exc)
            self.failing, self.last, self.owed = True, time.monotonic(), True
            return
        self.written, self.failing = True, False
        self.last = time.monotonic()
        self.owed = False
        self.nb_man.last_save_time = self.nb_man.now()

    def due_in(self) -> float:
        """Seconds until a save may be written again."""
        return max(0.0, self.last + SAVE_EVERY - time.monotonic())

    def catch_up(self) -> None:
        """Writes the owed save, its second passed. One that fails stays owed: papermill's
        next save writes it, else the caller's final write says it was not saved."""
        if self.owed:
            self.write()


#: The outputs a cell may add past the cap all the same: a failing cell's error says why.
ALWAYS_KEPT = frozenset({"error"})
#: The messages whose outputs are dropped once the cap is passed: nothing of them is kept,
#: so none asks for a save of the notebook either.
DROPPED = frozenset(
    {"stream", "display_data", "execute_result", "update_display_data", "clear_output"}
)


class OutputCap:
    """The bound on the bytes of outputs a run keeps, all cells together, as JupyterLab's
    server bounds what reaches a browser (`iopub_data_rate_limit`): a cell printing in a
    loop grew the output notebook, its process's memory and each of its saves without end.

    Counted as each output arrives, from its message (the UTF-8 bytes of its text, data
    and traceback, what the notebook's JSON holds of it), never by serialising the
    notebook. A cell's outputs emptied by `clear_output` give their bytes back: a progress
    line redrawn in place keeps one line. The first output that would pass the cap is
    dropped, and so is every later one but an error; the notebook's outputs then stay as
    they were (clears and display updates ignored), with one note in the cell where it
    happened."""

    def __init__(self, limit_mb: float, whose: str = "this job's") -> None:
        self.limit_mb = limit_mb
        self.limit = int(limit_mb * 1_000_000)
        self.whose = whose
        self.total = 0  # bytes of the outputs kept
        self.by_cell: dict[int, int] = {}
        self.stopped = False

    def admits(self, cell_index: int, size: int, clears: bool, always: bool = False) -> bool:
        """Whether an output of `size` bytes is kept, counting it if so; `clears`: the
        cell's outputs are emptied first (a `clear_output(wait=True)` pending)."""
        if self.stopped and not always:
            return False
        if not always and self._room(cell_index, clears) < size:
            self.stopped = True
            return False
        self._keep(cell_index, size, clears)
        return True

    def head(self, cell_index: int, text: str, clears: bool) -> str:
        """The whole lines of a stream's `text` that fit in the room the cap left, kept:
        a loop's prints come in chunks of megabytes, each more than the room left."""
        room = max(0, self._room(cell_index, clears))
        data = text.encode("utf-8", "surrogatepass")[:room]
        head = data[: data.rfind(b"\n") + 1]
        if head:
            self._keep(cell_index, len(head), clears)
        return head.decode("utf-8", "surrogatepass")

    def _room(self, cell_index: int, clears: bool) -> int:
        freed = self.by_cell.get(cell_index, 0) if clears else 0
        return self.limit - self.total + freed

    def _keep(self, cell_index: int, size: int, clears: bool) -> None:
        if clears:
            self.cleared(cell_index)
        self.by_cell[cell_index] = self.by_cell.get(cell_index, 0) + size
        self.total += size

    def cleared(self, cell_index: int) -> None:
        """A cell's outputs were emptied."""
        self.total -= self.by_cell.pop(cell_index, 0)

    def note(self) -> Any:
        """The output that says, in the cell where the cap was passed, why nothing follows."""
        text = (
            f"lpstudio: output stopped here: {self.whose} outputs passed jobs.max_output_mb "
            f"({self.limit_mb:g} MB); the cells go on running. Write large results to a file "
            "or a connection instead, or raise max_output_mb under [jobs] in lpstudio.toml.\n"
        )
        return nbformat.v4.new_output("stream", name="stderr", text=text)


def output_bytes(value: Any) -> int:
    """The UTF-8 bytes of the strings in a message's content (the keys and JSON's
    punctuation aside; any other value as JSON): what its output adds to the notebook."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, dict):
        return sum(output_bytes(item) for item in value.values())
    if isinstance(value, list):
        return sum(output_bytes(item) for item in value)
    return len(json.dumps(value))


class StudioNotebookClient(PapermillNotebookClient):
    """papermill's client, with a silent bootstrap and callbacks around each cell.

    The bootstrap is code run silently before the first cell (binding the job context,
    moving a pooled kernel to the notebook's folder). A kernel forked from a prepared fork
    server binds them itself from the metadata of the job's first execute request
    (`first_request_metadata`, read by `lpstudio.forkserver.bind_requested`): one request
    fewer per job. Such a kernel, pooled, has answered nothing of this run before its first
    cell (`watch_first_answer`): the start timeout bounds its acknowledgement of that cell,
    which nbclient would otherwise wait for as long as a cell may run, for ever by default.
    """

    def __init__(
        self,
        nb_man: Any,
        bootstrap: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
        before_cell: Callable[[Any], None] | None = None,
        secrets: frozenset[str] = frozenset(),
        saves: Saves | None = None,
        cap: OutputCap | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(nb_man, **kw)
        self._bootstrap = bootstrap
        self._cap = cap
        self._secrets = secrets
        self._saves = saves
        self._on_cell = on_cell
        self._before_cell = before_cell
        self._held: dict[str, str] = {}  # a stream's partial last line (`log_output_message`)
        self._outputs: asyncio.Task[Any] | None = None  # the running cell's output reader
        self.kernel_info: dict[str, Any] | None = None  # a pooled kernel's, asked already
        self.first_request_metadata: dict[str, Any] | None = None
        self.watch_first_answer = False
        self._unheard: asyncio.TimerHandle | None = None  # the first cell not acknowledged yet
        self._silent = False  # nor was it within the start timeout: it never started
        self._alive_poll: asyncio.Task[Any] | None = None  # nbclient's check of the kernel
        self._started: int | None = None  # the cell papermill started last
        self._handled = 0  # messages about the running cell handled (`_outputs_end`)
        self._catch_up: asyncio.TimerHandle | None = None  # the owed save's (`Saves`)

    def execute(self, **kwargs: Any) -> Any:
        """papermill's `execute`, minus its last request (kernel_info, for the notebook's
        language_info) when the pool already has the kernel's answer: a round trip to the
        kernel is several ms of a short job."""
        if self.kernel_info is None:
            return super().execute(**kwargs)
        self.reset_execution_trackers()
        with self.setup_kernel(**kwargs):
            self.log.info(f"Executing notebook with kernel: {self.kernel_name}")
            self.papermill_execute_cells()
            self.nb.metadata["language_info"] = self.kernel_info["content"]["language_info"]
            self.set_widgets_metadata()
        return self.nb

    def _hook_first_request(self) -> None:
        """Adds `first_request_metadata` to the next execute request on the shell channel,
        and only it, and starts the start timeout for its acknowledgement when the kernel
        answered nothing yet (`watch_first_answer`; sent by a cell, in the event loop)."""
        assert self.kc is not None
        channel = self.kc.shell_channel
        send = channel.send

        def send_first(msg: dict[str, Any]) -> None:
            if msg["header"]["msg_type"] == "execute_request":
                msg["metadata"].update(self.first_request_metadata or {})
                del channel.send  # back to the channel's own method
                if self.watch_first_answer and self.startup_timeout:
                    loop = asyncio.get_running_loop()
                    self._unheard = loop.call_later(self.startup_timeout, self._not_heard)
            send(msg)

        channel.send = send_first

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        """nbclient's, for each message about the running cell: the first (its `busy`
        status) says the kernel took the cell."""
        self._heard()
        try:
            if self._cap is not None and self._cap.stopped and msg["msg_type"] in DROPPED:
                # Dropped (`output`): nbclient's alone, without papermill's save of a notebook
                # it leaves as it was, or its log of an output it returns none of.
                return super(PapermillNotebookClient, self).process_message(msg, cell, cell_index)
            return super().process_message(msg, cell, cell_index)
        finally:
            self._handled += 1
            self._owe_save()  # papermill's autosave at each message may have owed one

    def output(
        self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int
    ) -> Any:
        """nbclient's, for an output the cap admits (`OutputCap`); the first it refuses
        leaves the note in the cell instead, and freezes the notebook's outputs."""
        cap = self._cap
        if cap is None:
            return super().output(outs, msg, display_id, cell_index)
        hooked = bool(self.output_hook_stack[msg["parent_header"].get("msg_id")])
        clears = self.clear_before_next_output and not hooked  # nbclient's delayed clear
        always = msg["msg_type"] in ALWAYS_KEPT
        stopped = cap.stopped
        if cap.admits(cell_index, output_bytes(msg["content"]), clears, always):
            return super().output(outs, msg, display_id, cell_index)
        if stopped:
            return None
        out = None  # passed by this output: what of it fits, then the note
        if msg["msg_type"] == "stream":
            content = msg["content"]
            content["text"] = cap.head(cell_index, content["text"], clears)
            if content["text"]:
                out = super().output(outs, msg, display_id, cell_index)
        self.clear_before_next_output = False  # frozen: the note is never cleared
        outs.append(cap.note())
        return out

    def clear_output(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
        """nbclient's, giving a cleared cell's bytes back to the cap; none once it is
        passed (the outputs stay as they were, the note with them)."""
        if self._cap is None:
            return super().clear_output(outs, msg, cell_index)
        if self._cap.stopped:
            return None
        super().clear_output(outs, msg, cell_index)
        if not outs and not self.clear_before_next_output:
            self._cap.cleared(cell_index)
        return None

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        """nbclient's, until the cap is passed: the outputs then stay as they were."""
        if self._cap is None or not self._cap.stopped:
            super()._update_display_id(display_id, msg)

    def _owe_save(self) -> None:
        """Writes an owed save (`Saves`) once its second has passed, by a timer on the loop
        that runs the cell, cancelled when the cell ends (the next cell's start or the
        caller's final write writes what is owed then): a timer left on the loop would
        fire in whatever it runs next."""
        saves = self._saves
        if saves is None or not saves.owed or self._catch_up is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop: the cell's end writes what is owed
            return
        self._catch_up = loop.call_later(saves.due_in(), self._caught_up)

    def _caught_up(self) -> None:
        self._catch_up = None
        if self._saves is not None:
            self._saves.catch_up()

    def _heard(self) -> None:
        """The kernel answered the first cell: its start timeout no longer runs."""
        if self._unheard is not None:
            self._unheard.cancel()
            self._unheard = None

    def _not_heard(self) -> None:
        """The kernel did not acknowledge the first cell within the start timeout (stopped,
        deadlocked, starved of CPU): nbclient stops waiting for the cell, which never
        started, and the run fails with the start timeout's error (`async_execute_cell`).
        The kernel's owner kills it, as it kills any kernel of a run that did not end."""
        self._unheard = None
        self._silent = True
        for task in (self._alive_poll, self.task_poll_for_reply):
            if task is not None:
                task.cancel()

    async def _async_poll_kernel_alive(self) -> None:
        """nbclient's, whose task is kept: a kernel that never acknowledged the first cell
        is no longer watched (`_not_heard`)."""
        self._alive_poll = asyncio.current_task()
        await super()._async_poll_kernel_alive()

    def _never_started(self, cell: Any) -> None:
        """Leaves pending a cell its kernel never acknowledged, as papermill found it: the
        run failed before it (`cell_complete` then leaves it alone too)."""
        pending = self.nb_man.PENDING
        cell.metadata.papermill.update(status=pending, start_time=None, exception=None)
        self._started = None

    def execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        """nbclient's, marking a cell that was cut off (its kernel killed by a timeout or a
        cancel, or dead, or nbclient's own timeout) as papermill marks a cell whose
        execution raised: papermill marks only a cell's own error, and so reported the cell
        cut off, and every cell after it (`notebook_complete`), as completed. What the
        cell printed last without ending its line is passed on as the cell ends, however
        it ends."""
        try:
            return run_sync(self.async_execute_cell)(cell, cell_index, *args, **kwargs)
        except CellExecutionError:
            raise  # the cell's own error: papermill marks it
        except BaseException:
            if self._silent:
                self._never_started(cell)
            else:
                self.nb_man.cell_exception(cell, cell_index=cell_index)
            raise
        finally:
            self._pass_held()

    async def async_execute_cell(
        self, cell: Any, cell_index: int, *args: Any, **kwargs: Any
    ) -> Any:
        """nbclient's, writing meanwhile the save the cells before it left owed, or its own
        outputs did (`Saves`),
        and keeping the error of a cell cut off by the execution timeout (`_interrupted`)."""
        self._owe_save()  # what the cells before it left owed
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        except CellTimeoutError:
            await self._interrupted()
            raise
        except DeadKernelError:
            if self._silent:  # nbclient stopped waiting for it (`_not_heard`)
                raise self._unanswered(self.startup_timeout) from None
            raise
        finally:
            self._heard()  # a reply without any message on IOPub is an answer too
            # A timer, not a task: cancelled at once, even once an interrupted run's loop closed.
            if self._catch_up is not None:
                self._catch_up.cancel()
                self._catch_up = None

    async def _async_poll_output_msg(self, parent_msg_id: str, *args: Any) -> None:
        """nbclient's, whose task is kept: a cell cut off by the timeout gets its last
        outputs from it (`_interrupted`)."""
        self._outputs = asyncio.current_task()
        await super()._async_poll_output_msg(parent_msg_id, *args)

    async def _async_poll_for_reply(
        self,
        msg_id: str,
        cell: Any,
        timeout: int | None,
        task_poll_output_msg: asyncio.Future[Any],
        task_poll_kernel_alive: asyncio.Future[Any],
    ) -> dict[str, Any]:
        """nbclient's, the wait for the cell's last outputs after its reply left to
        `_outputs_end`: nbclient gives them the IOPub timeout (4 s) of wall time from the
        reply, on the loop where lpstudio handles them. A large output published last
        reaches it after the reply, and its handling (a save of a 25 MB notebook took 9 s)
        failed a job whose kernel had answered."""
        replied = asyncio.get_running_loop().create_future()
        replied.set_result(None)  # nbclient's own wait for the outputs returns at once
        reply = await super()._async_poll_for_reply(
            msg_id, cell, timeout, replied, task_poll_kernel_alive
        )
        await self._outputs_end(task_poll_output_msg, cell)
        return reply

    async def _outputs_end(self, outputs: asyncio.Future[Any], cell: Any) -> None:
        """Waits for the cell's outputs to end (the kernel's `idle`) once it replied, as
        long as the kernel is not silent for the IOPub timeout: each message of the cell
        handled starts that count again, and time the loop was kept from the wait (by
        lpstudio's own work) does not count (`SILENCE_SLICE`). A kernel that stops
        publishing fails the cell as nbclient's timeout does."""
        handled, silent = self._handled, 0.0
        while not outputs.done():
            if self._handled != handled:
                handled, silent = self._handled, 0.0
            if silent >= self.iopub_timeout:
                outputs.cancel()  # as nbclient's `wait_for` cancels it
                if not self.raise_on_iopub_timeout:
                    self.log.warning("Timeout waiting for IOPub output")
                    return
                raise CellTimeoutError.error_from_timeout_and_cell(
                    "Timeout waiting for IOPub output", self.iopub_timeout, cell
                ) from None
            step = min(SILENCE_SLICE, self.iopub_timeout - silent)
            began = time.monotonic()
            await asyncio.wait({outputs}, timeout=step)
            silent += min(time.monotonic() - began, step)
        outputs.result()

    async def _interrupted(self) -> None:
        """Interrupts a cell cut off by the execution timeout and records the error it then
        raises, as papermill's client does while it shuts its kernel down (it interrupts
        it first), for at most INTERRUPT_WAIT seconds: nbclient raises on the timeout and
        leaves the cell's outputs to a task that reads them until the cell ends."""
        outputs, self._outputs = self._outputs, None
        if outputs is None or outputs.done() or self.km is None:
            return
        try:
            await self.km.interrupt_kernel()
            await asyncio.wait_for(asyncio.shield(outputs), INTERRUPT_WAIT)
        except Exception:  # the kernel died or never answered: the cell keeps what it had
            pass
        finally:
            outputs.cancel()

    def log_output_message(self, output: Any) -> None:
        """papermill's (`--log-output`, `--stdout-file`, `--stderr-file`), passing each
        output on masked as the output notebook shows it.

        Stream text goes on by whole lines: the kernel sends what a cell prints in chunks,
        and a secret printed in two pieces, each masked alone, would be whole again in the
        file. A stream's partial last line is held until its line ends, or the cell does
        (`_pass_held`). A carriage return ends a line too: a progress bar keeps moving."""
        if not self._secrets:
            super().log_output_message(output)
        elif output.output_type == "stream":
            text = self._held.get(output.name, "") + "".join(output.text)
            end = max(text.rfind("\n"), text.rfind("\r")) + 1
            if end < len(text):
                self._held[output.name] = text[end:]  # a stream held already keeps its turn
            else:
                self._held.pop(output.name, None)
            if end:
                self._pass_stream(output.name, text[:end])
        else:
            from .runner import node_copy

            if output.output_type == "execute_result":
                self._pass_held()  # the cell's value comes after what it printed
            super().log_output_message(node_copy(output, self._secrets))

    def _pass_stream(self, name: str, text: str) -> None:
        from .redaction import scrub_text

        masked = scrub_text(text, self._secrets)
        super().log_output_message(nbformat.v4.new_output("stream", name=name, text=masked))

    def _pass_held(self) -> None:
        """Passes on the partial last lines held back (`log_output_message`), in the order
        their streams began them."""
        held, self._held = self._held, {}
        for name, text in held.items():
            self._pass_stream(name, text)

    def papermill_execute_cells(self) -> None:
        if self.first_request_metadata is not None or self.watch_first_answer:
            self._hook_first_request()
        if self._bootstrap:
            self._run_bootstrap()
        total = len(self.nb.cells)
        start, complete = self.nb_man.cell_start, self.nb_man.cell_complete

        def cell_start(cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            if self._before_cell is not None:
                self._before_cell(cell)  # may raise: then neither this cell nor any after runs
            self._started = cell_index
            start(cell, cell_index=cell_index, **kwargs)

        def cell_complete(cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            if cell_index is None or cell_index != self._started:
                return  # papermill's `finally` for a cell that was stopped before it started
            complete(cell, cell_index=cell_index, **kwargs)
            if self._on_cell is not None:
                self._on_cell(cell_index + 1, total)

        self.nb_man.cell_start, self.nb_man.cell_complete = cell_start, cell_complete
        try:
            super().papermill_execute_cells()
        finally:
            del self.nb_man.cell_start, self.nb_man.cell_complete

    def _run_bootstrap(self) -> None:
        """Runs the bootstrap, which is lpstudio's code, not the notebook's: its failure
        says which kernel refused it and how to fix that, and never quotes it (a job's
        bootstrap holds the job's context: its store's URL, its connections)."""
        assert self.kc is not None
        reply = self.wait_for_reply(
            self.kc.execute(self._bootstrap, silent=True, store_history=False)
        )
        assert reply is not None  # none only after a timeout, which raises here
        content = reply["content"]
        if content["status"] == "ok":
            return
        ename, evalue = content.get("ename", "error"), content.get("evalue", "")
        if quotes(evalue, self._bootstrap or ""):
            said = f"{ename}, its message left out: it quotes that code, which may hold secrets"
        else:
            said = f"{ename}: {evalue}"
        raise LpstudioError(
            f"the {self.kernel_name} kernel failed the code lpstudio runs before the first "
            f"cell, so no cell ran ({said})",
            field="metadata.kernelspec.name",
            fix="run the notebook on a Python kernel of an environment where lpstudio is "
            "installed (python3 is lpstudio's own)",
        )

    async def async_start_new_kernel_client(self) -> Any:
        """nbclient's, a kernel started for the job that does not answer within the start
        timeout said as a pooled one is (`_unanswered`, naming the setting that gives it
        longer), not as jupyter_client's bare `RuntimeError: Kernel didn't respond`."""
        try:
            return await super().async_start_new_kernel_client()
        except RuntimeError as exc:
            if not str(exc).startswith("Kernel didn't respond"):
                raise
            raise self._unanswered(self.startup_timeout) from None

    def start_new_kernel_client(self) -> Any:
        """nbclient binds its own coroutine to its sync name: this one's is run."""
        return run_sync(self.async_start_new_kernel_client)()

    def _get_timeout(self, cell: Any) -> int | None:
        """nbclient's, bounding a request outside any cell (lpstudio's bootstrap, the last
        kernel_info) by the start timeout: nbclient gives it the cells' timeout, none by
        default, and a pooled kernel that was stopped or hung since it started would never
        answer, nor be found dead."""
        if cell is None:
            return self.startup_timeout or None
        return super()._get_timeout(cell)

    async def _async_handle_timeout(self, timeout: int, cell: Any = None) -> Any:
        """nbclient's, for a request outside any cell too (nbclient asserts it has a cell)."""
        if cell is not None:
            return await super()._async_handle_timeout(timeout, cell)
        # Raised while nbclient handles its `queue.Empty`: no part of this.
        raise self._unanswered(timeout) from None

    def _unanswered(self, timeout: float) -> LpstudioError:
        """The error of a kernel that did not answer lpstudio's bootstrap, or acknowledge
        the first cell, within the start timeout, naming the kernel and its process."""
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        process = f"process {pid}" if pid else "its process"
        return LpstudioError(
            f"the {self.kernel_name} kernel ({process}) did not answer in {timeout:g} s (the "
            "start timeout): it is stopped, hung or starved of CPU",
            field="start_timeout",
            fix=f"see what {process} is doing (a kernel stopped by SIGSTOP or Ctrl-Z, a "
            "machine out of CPU or memory) and run the notebook again; on a machine this "
            "loaded, give kernels longer (`start_timeout` under [kernels] in the workspace's "
            "lpstudio.toml; papermill --start-timeout when papermill runs the notebook)",
        )


class StudioEngine(NBClientEngine):
    """The engine every lpstudio job runs through (and `papermill --engine lpstudio`)."""

    @classmethod
    def _kernel_manager(
        cls, kernel_name: str, pool: kernel_pool.KernelPool | None = None
    ) -> tuple[AsyncKernelManager, kernel_pool.ReadyKernel | None]:
        """A ready kernel from the pool (its manager, and itself with its connected
        client), else an unstarted manager (and None) for nbclient to start.

        nbclient needs an async manager: a blocking one stalls its event loop and hides a
        dead kernel. IPC sockets in the private runtime folder: no TCP port is opened.
        """
        if pool is not None:
            ready = pool.take(kernel_name)
            if ready is not None:
                return ready.km, ready
            return pool.manager(kernel_name), None
        return kernel_pool.new_kernel_manager(kernel_name), None

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
        job_context: str | None = None,
        on_cell: Callable[[int, int], None] | None = None,
        before_cell: Callable[[Any], None] | None = None,
        on_kernel: Callable[[AsyncKernelManager], None] | None = None,
        reports_deaths: bool = False,
        writer: Callable[[Any], None] | None = None,
        pool: kernel_pool.KernelPool | bool | None = None,
        max_output_mb: float | None = None,
        **kwargs: Any,
    ) -> Any:
        notebook = notebook_file(kwargs.get("input_path"))
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=QuietOnStop(logger, lambda: True, "Kernel died") if reports_deaths else logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        # Not a job: the notebook is run as in its workspace, if it is in one.
        workspace = notebook_workspace(notebook) if writer is None or job_context is None else None
        # Without lpstudio's writer papermill writes the output notebook itself: scrubbed
        # of the secrets of the notebook's workspace.
        secrets = workspace_secrets(workspace) if writer is None else frozenset()
        if max_output_mb is None and workspace is not None:  # its workspace's, as a job's
            max_output_mb = workspace.setting("jobs", "max_output_mb")
        whose = "this job's" if job_context is not None else "this notebook's"
        cap = OutputCap(max_output_mb, whose) if max_output_mb is not None else None
        saves = None
        if writer is not None:  # the caller writes the final notebook
            nb_man.save = nb_man.autosave_cell = saves = Saves(nb_man, writer)
            saves()
        elif secrets:
            scrub_saves(nb_man, secrets)
        # None: this process's pool, if any (`papermill --engine lpstudio` in a Studio's
        # process); False: no pool.
        if pool is None:
            pool = kernel_pool.active()
        try:
            if before_cell is not None:
                before_cell(None)  # a job stopped already takes no kernel (a cold start: 0.7 s)
            km, ready = cls._kernel_manager(kernel_name, pool or None)
            # lpstudio's bootstrap is Python: a kernel of another language (the pool hands
            # out none) gets none, and runs the notebook as papermill's own engine does; a
            # job, which needs it, is refused before its kernel starts.
            python = ready is not None or kernel_pool.runs_python(km.kernel_spec)
            if not python and job_context is not None:
                from .recipe import check_kernel_language

                check_kernel_language(kernel_name, km.kernel_spec, "this job's recipe")
            bootstrap = [bind_code(job_context)] if job_context is not None else []
            metadata = None
            if ready is not None:
                # papermill starts a kernel in the resources' path, else in this process's folder.
                resources = final_kwargs.get("resources") or {}
                cwd = str(resources.get("metadata", {}).get("path") or os.getcwd())
                # The environment as it is now, not as it was when the kernel started.
                environ = ready.environ_changes()
                if ready.prepared:
                    bound: dict[str, Any] = {"cwd": cwd, "context": job_context}
                    if environ:
                        bound["environ"] = environ
                    metadata, bootstrap = {"lpstudio": bound}, []
                else:
                    bootstrap[:0] = [chdir_code(cwd), *([environ_code(environ)] if environ else [])]
            if python and job_context is None:
                # Not a job: the kernel is told that no person is at it (no form), and finds
                # the recipe, its workspace and the connections its settings bind from the
                # notebook's path, as JupyterLab's kernels do. Told in the bootstrap, as a
                # pooled kernel's environment was set when it was started. Outside any
                # workspace it is told no path: the notebook is papermill's.
                in_workspace = notebook is not None and workspace is not None
                bootstrap.append(told_code(notebook if in_workspace else None))
            if on_kernel is not None:
                on_kernel(km)  # the caller owns this kernel: it can stop it, and shuts it down
            client = StudioNotebookClient(
                nb_man,
                km=km,
                bootstrap="\n".join(bootstrap) or None,
                on_cell=on_cell,
                before_cell=before_cell,
                secrets=secrets,
                saves=saves,
                cap=cap,
                **final_kwargs,
            )
            if ready is not None:
                client.kc = ready.kc
                client.kernel_info = ready.info
                client.first_request_metadata = metadata
                client.watch_first_answer = not bootstrap  # else the bootstrap is bounded
            ended = False  # the notebook ran to its end, or to a cell's error or timeout
            try:
                client.execute()
                ended = True
                if secrets:  # what papermill writes last: the notebook returned, with its banner
                    from .runner import node_copy

                    nb_man.nb = node_copy(nb_man.nb, secrets)
                return nb_man.nb
            except CellTimeoutError:
                ended = True  # its cell interrupted (`_interrupted`): shut down as papermill's
                raise
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()
                if on_kernel is None:  # nobody else will: each kernel serves one notebook
                    end_kernel(km, ended)
                    if pool:
                        pool.replenish(kernel_name)
        except BaseException:
            keep_pending(nb_man)  # the run did not end: what it never ran did not complete
            raise


def keep_pending(nb_man: Any) -> None:
    """Keeps the cells a run that did not end never ran pending: papermill's last step
    (`notebook_complete`) marks every cell still pending completed, unless a failed cell
    is before it, and a run that ended before a cell (a timeout or a cancel that landed
    while the kernel started, or between two cells; a kernel that failed lpstudio's
    bootstrap, or never answered it or the first cell) failed none. The notebook is marked
    with an exception, as for a cell cut off: the run did not end."""
    papermill_complete = nb_man.notebook_complete

    def unended_run_complete(**kwargs: Any) -> None:
        pending = [c for c in nb_man.nb.cells if c.metadata.papermill["status"] == "pending"]
        save, nb_man.save = nb_man.save, lambda **_: None  # its last save, once mended
        try:
            papermill_complete(**kwargs)
        finally:
            nb_man.save = save
            for cell in pending:
                cell.metadata.papermill["status"] = "pending"
            nb_man.nb.metadata.papermill["exception"] = True
            save()

    nb_man.notebook_complete = unended_run_complete


def quotes(text: str, code: str, run: int = 16) -> bool:
    """Whether `text` holds `run` characters in a row of `code`: a kernel's error quoting
    code it was sent, whole or in part."""
    return any(text[i : i + run] in code for i in range(len(text) - run + 1))


def end_kernel(km: AsyncKernelManager, ended: bool) -> None:
    """Ends the kernel of a notebook run by papermill itself, off its path: shut down as
    papermill's is if the notebook ran to its end (`runner.end_kernel`), else (Ctrl-C, a
    kernel that never answered) killed at once."""
    from .runner import end_kernel, kill_kernel

    if not ended:
        kill_kernel(km)
    end_kernel(km, graceful=ended)


def chdir_code(path: str) -> str:
    """Moves a pooled kernel to the notebook's folder as if it had started there (IPython's
    `starting_dir`, and `_dh`, which `%cd -` goes back through: `forkserver.started_here`,
    which a kernel of another environment cannot import), leaving no name behind."""
    return (
        f"import os as _o, pathlib as _p; _o.chdir({json.dumps(path)})\n"
        "_i = globals().get('get_ipython', lambda: None)()\n"
        "if _i is not None:\n"
        "    _i.starting_dir = _o.getcwd(); _i.history_manager.dir_hist[:] = [_p.Path.cwd()]\n"
        "del _o, _p, _i"
    )


def environ_code(changes: dict[str, str | None]) -> str:
    """Applies what the caller's environment changed since a pooled kernel started (None:
    unset; `pool.ReadyKernel.environ_changes`), leaving no name behind."""
    kept = {key: value for key, value in changes.items() if value is not None}
    unset = [key for key, value in changes.items() if value is None]
    return (
        f"import os as _o; _o.environ.update({json.dumps(kept)}); "
        f"[_o.environ.pop(_k, None) for _k in {json.dumps(unset)}]; del _o"
    )


def bind_code(context: str) -> str:
    """Binds a job's context (JSON) in the kernel, leaving no name behind."""
    return f"import lpstudio.kernel as _k; _k._bind({json.dumps(context)}); del _k"


def told_code(path: str | None) -> str:
    """Tells a kernel that papermill runs its notebook outside a job (headless: it builds no
    form, `kernel.runtime.HEADLESS_VAR`) and the notebook it runs, as JupyterLab does
    (`JPY_SESSION_NAME`), or, without `path`, none: one inherited from the kernel of a
    notebook that started papermill (`!papermill ...` in JupyterLab) names that notebook,
    whose recipe's connections this one's would take. Leaves no name behind."""
    from .kernel.runtime import HEADLESS_VAR

    changes: dict[str, str | None] = {HEADLESS_VAR: "1", "JPY_SESSION_NAME": path}
    return environ_code(changes)


def _folder_at_import() -> str | None:
    try:
        return os.getcwd()
    except FileNotFoundError:  # a folder deleted under the process
        return None


#: The folder the process was in when papermill loaded its engines (`import papermill`):
#: the papermill command's, from which it read a relative notebook before `--cwd`.
_STARTED_IN = _folder_at_import()


def notebook_file(input_path: Any) -> str | None:
    """The absolute path of the notebook papermill read, when it read a local file (not a
    URL, standard input or a notebook given as an object).

    papermill reads a relative path from the folder it was called in, then calls the engine
    from `--cwd`'s, where a namesake may lie: such a path is found from the folder its
    local file handler read it from, else (a handler that does not say) from the folder
    papermill's command started in, or the shell's (`$PWD`, which a script's
    `subprocess.run(cwd=...)` does not change).
    """
    if not isinstance(input_path, str):
        return None
    read_in = _read_in(input_path)
    for folder in (read_in,) if read_in else (_STARTED_IN, os.environ.get("PWD")):
        if folder and os.path.isfile(path := os.path.join(folder, input_path)):
            return os.path.abspath(path)
    return None


def _read_in(input_path: str) -> str | None:
    """The folder papermill's handler of `input_path` reads relative paths from: the one
    `execute_notebook` was called in (its `local_file_io_cwd`, not public otherwise)."""
    from papermill.exceptions import PapermillException
    from papermill.iorw import papermill_io

    try:
        handler = papermill_io.get_handler(input_path)
    except PapermillException:
        return None
    folder = getattr(handler, "_cwd", None)
    return folder if isinstance(folder, str) else None


def notebook_workspace(notebook: str | None) -> Workspace | None:
    """The workspace whose connections the kernel of a notebook run by papermill itself
    would read (`kernel.runtime.notebook_workspace`); None outside any."""
    from .errors import WorkspaceError
    from .kernel import runtime

    try:
        return runtime.notebook_workspace(notebook)
    except WorkspaceError:  # none, or none the kernel could read its connections from
        return None


def workspace_secrets(workspace: Workspace | None) -> frozenset[str]:
    """The secrets of a notebook's workspace, as a job's are gathered; none outside any."""
    from . import connections

    return connections.workspace_secrets(workspace) if workspace is not None else frozenset()


def scrub_saves(nb_man: Any, secrets: frozenset[str]) -> None:
    """Makes papermill's saves of the output notebook (after each cell, and as the run
    ends) write it scrubbed of `secrets`, as a job's `NotebookWriter` does; the notebook
    that runs keeps its outputs as they are."""
    from papermill.iorw import write_ipynb

    from .runner import node_copy

    def save(**_: Any) -> None:
        if nb_man.output_path:
            write_ipynb(node_copy(nb_man.nb, secrets), nb_man.output_path)
        nb_man.last_save_time = nb_man.now()

    nb_man.save = save


papermill_engines.register("lpstudio", StudioEngine)  # in place of the stand-in, if any
