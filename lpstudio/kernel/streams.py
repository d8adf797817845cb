"""A job kernel's output written below Python goes to its notebook, and nowhere else.

A shell command (`os.system`, `!cmd`), a subprocess that inherits the kernel's output or a
C library writes to file descriptors 1 and 2, not to `sys.stdout`. ipykernel (>= 6,
`IPKernelApp.capture_fd_output`) pipes those descriptors into the cell's stream output,
where the job's notebook writer masks secrets as in any printed text; but its reader thread
also copies every byte to the descriptors the kernel started with, which were the studio's
own: `lpstudio run --json`'s answer on stdout, a server's log on stderr, unmasked. And the
cell's end does not wait for that thread: a command's last line could reach the notebook
after its cell ended, and be lost (JupyterLab shows it under no cell, or the next one).

`NotebookOutStream` is ipykernel's stream with a reader of its own that copies nothing
elsewhere and that each flush drains first (the kernel flushes as each execution ends):
what a cell's commands wrote before it ended is in that cell's output. Forked kernels are
built on it (`forkserver.prepare_kernel`); a kernel started the normal way takes it over
from ipykernel's stream as its job is bound (`keep_in_notebook`), before any of the job's
code runs. A descriptor nothing watches (a kernel configured without `capture_fd_output`,
or started under pytest, where ipykernel leaves descriptors alone) is pointed at
/dev/null instead: dropped, never shown unmasked.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading

from ipykernel.iostream import PIPE_BUFFER_SIZE, OutStream

#: The stream class for forked kernels, by name (`IPKernelApp.outstream_class`).
CLASS_NAME = f"{__name__}.NotebookOutStream"


class NotebookOutStream(OutStream):
    """ipykernel's output stream, whose descriptor's reader publishes what it reads in the
    cell's output only, and is drained by every flush (see the module's docstring)."""

    def _setup_stream_redirects(self, name: str) -> None:
        fd = self._original_stdstream_fd = getattr(sys, name).fileno()
        # Kept for ipykernel, which sends its own log there (`IPKernelApp.init_io`).
        self._original_stdstream_copy = os.dup(fd)
        read, write = os.pipe()
        os.dup2(write, fd)
        os.close(write)
        self._fid = read
        self._exc = None
        self._read_from(read)

    def _read_from(self, fid: int) -> None:
        """Starts this stream's reader on the pipe `fid`, whose other end is its descriptor."""
        os.set_blocking(fid, False)
        self._reading = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.watch_fd_thread = threading.Thread(
            target=self._watch_pipe_fd, name=f"lpstudio-{self.name}-fd", daemon=True
        )
        self.watch_fd_thread.start()

    def _watch_pipe_fd(self) -> None:
        poller = select.poll()
        poller.register(self._fid, select.POLLIN)
        try:
            while True:
                poller.poll()
                if not self._should_watch:  # `close()` woke it up to end
                    return
                if not self.drain():
                    return  # every writer closed its end
        except Exception:
            self._exc = sys.exc_info()

    def drain(self) -> bool:
        """Publishes what the descriptor's pipe holds now; False once it is closed."""
        with self._reading:
            while True:
                try:
                    data = os.read(self._fid, PIPE_BUFFER_SIZE)
                except BlockingIOError:
                    return True
                if not data:
                    return False
                text = self._decoder.decode(data)
                if text:
                    self.write(text)

    def flush(self) -> None:
        if self._should_watch and threading.current_thread() is not self.watch_fd_thread:
            self.drain()
        super().flush()

    def fileno(self) -> int:
        """The watched descriptor: a subprocess given `stdout=sys.stdout` writes to the
        cell too (ipykernel's stream gives its copy of the kernel's first descriptor)."""
        if self._should_watch:
            return self._original_stdstream_fd
        return super().fileno()


def keep_in_notebook() -> None:
    """Called as a job is bound, before any of its code: from now on, what the kernel
    writes to descriptors 1 and 2 goes to the cell's output, or nowhere."""
    devnull = None
    try:
        for name, fd in (("stdout", 1), ("stderr", 2)):
            stream = getattr(sys, name)
            if isinstance(stream, NotebookOutStream) and stream._should_watch:
                continue  # a forked kernel's, from its start
            if devnull is None:
                devnull = os.open(os.devnull, os.O_WRONLY)
            if isinstance(stream, OutStream) and getattr(stream, "_should_watch", False):
                take_over(stream)
                if name == "stdout":  # the kernel's own stdout: nobody reads it
                    os.dup2(devnull, stream._original_stdstream_copy)
            else:
                os.dup2(devnull, fd)
    finally:
        if devnull is not None:
            os.close(devnull)


def take_over(stream: OutStream) -> None:
    """Replaces the reader of ipykernel's stream (which copies what it reads to the
    kernel's first descriptors) by `NotebookOutStream`'s, on the same pipe: ipykernel's
    reader is woken with a byte it then drops, and ends."""
    stream._should_watch = False
    os.write(stream._original_stdstream_fd, b"\0")
    stream.watch_fd_thread.join()
    stream.__class__ = NotebookOutStream
    stream._should_watch = True
    stream._read_from(stream._fid)
