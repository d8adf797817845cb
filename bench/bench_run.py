"""Seed benchmark: one trivial recipe run by lpstudio, by papermill's CLI and by papermill's API.

Why it exists: for a short notebook, almost all of papermill's wall time is spent starting
a fresh Jupyter kernel (and, for the CLI, starting Python and importing papermill), not
running cells. This was the speed issue's seed: it recorded the starting point, when
lpstudio ran every job through papermill with a fresh kernel and paid the same cost. lpstudio
now hands each job a ready kernel forked in advance (`lpstudio/pool.py`,
`lpstudio/forkserver.py`), so this measures that path; `bench_latency.py` is the issue's
benchmark 1 (its target: a median of at most 30 ms, at least 20x faster than papermill's
Python API). The benchmarks share this module's harness (`emit`, `machine`, `process_cpu`).
The three figures are measured in one run on one machine, so they are comparable.

Each method runs the same three-cell notebook (`x: int = 1` tagged `parameters`,
`y = x * 2`, `print(y)`) with `x = 3`:

1. lpstudio: `Studio.run("bench/trivial", {"x": 3})`, end to end: from the call until
   the output notebook is written and the job row is final (`succeeded`).
2. papermill CLI: `python -m papermill in.ipynb out.ipynb -p x 3 --no-progress-bar` in a
   subprocess (the Python start-up and imports are part of what is measured).
3. papermill API: `papermill.execute_notebook(in, out, parameters={"x": 3},
   progress_bar=False)` in this process.

Each method is warmed up once, then the methods are timed in turn (round-robin, so a drift
in machine load affects all of them alike). Everything is written to a temporary folder
that is removed at the end.

    .venv/bin/python bench/bench_run.py [--runs 10] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import papermill

from lpstudio.studio import Studio

RECIPE = "bench/trivial"
PARAMETERS: dict[str, Any] = {"x": 3}
LPSTUDIO = "lpstudio"
PM_CLI = "papermill CLI"
PM_API = "papermill API"
METHODS = (LPSTUDIO, PM_CLI, PM_API)


def trivial_notebook() -> nbformat.NotebookNode:
    """The trivial recipe: a parameters cell, `y = x * 2`, `print(y)`."""
    params = nbformat.v4.new_code_cell("x: int = 1  # a number")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(
        cells=[
            params,
            nbformat.v4.new_code_cell("y = x * 2"),
            nbformat.v4.new_code_cell("print(y)"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    # Isolated jobs that share nothing: a scheduler may run them all at once (the default,
    # 1, runs a recipe's scheduled jobs in turn).
    nb.metadata["lpstudio"] = {"title": "Trivial", "concurrency": 64}
    return nb


def check_output(path: Path) -> None:
    """Fails loudly unless the output notebook holds the expected printed result."""
    nb = nbformat.read(path, as_version=4)
    text = "".join(
        out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
    ).strip()
    if text != str(PARAMETERS["x"] * 2):
        raise RuntimeError(f"{path}: unexpected output {text!r}")


def papermill_command() -> list[str]:
    """The `papermill` executable beside this Python, else `python -m papermill`."""
    exe = Path(sys.executable).with_name("papermill")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "papermill"]


class Bench:
    """Owns the temporary workspace and one callable per method; each call is one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.studio = Studio.init(root / "workspace", accept_terms=True, admin="bench")
        recipe = root / "workspace" / "projects" / f"{RECIPE}.ipynb"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(trivial_notebook(), recipe)
        self.input = recipe
        self.outputs = root / "papermill-out"
        self.outputs.mkdir()
        self.command = papermill_command()
        self.count = 0

    def close(self) -> None:
        self.studio.close()

    def _next_output(self, tag: str) -> Path:
        self.count += 1
        return self.outputs / f"{tag}-{self.count}.ipynb"

    def run_lpstudio(self) -> Path:
        job = self.studio.run(RECIPE, PARAMETERS)
        if job.status != "succeeded" or not job.output_path:
            raise RuntimeError(f"lpstudio job {job.id} ended {job.status}: {job.error}")
        return self.studio.workspace.root / job.output_path

    def run_papermill_cli(self) -> Path:
        out = self._next_output("cli")
        args = [str(self.input), str(out), "--no-progress-bar"]
        for name, value in PARAMETERS.items():
            args += ["-p", name, str(value)]
        proc = subprocess.run([*self.command, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"papermill CLI exited {proc.returncode}:\n{proc.stderr}")
        return out

    def run_papermill_api(self) -> Path:
        out = self._next_output("api")
        papermill.execute_notebook(
            str(self.input), str(out), parameters=PARAMETERS, progress_bar=False
        )
        return out

    def methods(self) -> dict[str, Callable[[], Path]]:
        return {
            LPSTUDIO: self.run_lpstudio,
            PM_CLI: self.run_papermill_cli,
            PM_API: self.run_papermill_api,
        }


def timed(fn: Callable[[], Path]) -> float:
    """Wall time of one run, in milliseconds, from the call until its output notebook is
    written (and, for lpstudio, its job row final). The output is then read back and
    checked, untimed: reading it is no part of the run, for any method."""
    start = time.perf_counter()
    out = fn()
    elapsed = (time.perf_counter() - start) * 1000.0
    check_output(out)
    return elapsed


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, all its threads."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy, every process and core together (user,
    nice, system, interrupts; not idle, I/O wait or time stolen by a hypervisor)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq = stat.readline().split()[1:8]
    busy = sum(int(v) for v in (user, nice, system, irq, softirq))
    return busy / os.sysconf("SC_CLK_TCK")


#: The size of the process `fork_probe_ms` forks: about a pooled fork server's (pandas, httpx
#: and ipykernel imported), whose kernels are forked the same way.
FORK_PROBE_BYTES = 200 << 20


def fork_probe_ms(runs: int = 5) -> float:
    """Median wall ms to fork a process holding 200 MB and reap the child, which exits at
    once: how fast this machine copies page tables. Two machines of the same kind differed
    fourfold in it (a forked kernel's start-up 49 against 196 ms, at the same CPU), and
    every figure with it; printed so that runs are compared on the machines they ran on."""
    held = bytearray(FORK_PROBE_BYTES)
    held[::4096] = b"x" * len(held[::4096])  # every page touched, so every page is mapped
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        times.append((time.perf_counter() - start) * 1000)
    del held
    return statistics.median(times)


def machine(**versions: str) -> dict[str, Any]:
    """The machine and the versions a benchmark's figures depend on (papermill's and
    lpstudio's always, and `versions`), and how fast it forks (`fork_probe_ms`)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "papermill": papermill.__version__,
        "lpstudio": importlib.metadata.version("lpstudio"),
        "fork_200mb_ms": round(fork_probe_ms(), 1),
        **versions,
    }


def emit(result: dict[str, Any], table: str, json_path: str | None) -> int:
    """Prints a benchmark's table, or its JSON alone with `--json -`; `--json PATH` also
    writes the JSON there. Every benchmark of `make bench` ends with it."""
    text = json.dumps(result, indent=2, default=str)  # dates and paths as text
    if json_path == "-":
        print(text)
        return 0
    print(table)
    if json_path:
        Path(json_path).write_text(text + "\n")
    return 0


def measure(runs: int) -> dict[str, Any]:
    """Warms up each method once, then times `runs` runs of each, round-robin."""
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lpstudio-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            methods = bench.methods()
            for fn in methods.values():
                check_output(fn())  # warm-up: imports, kernelspec lookup, first sqlite writes
            for _ in range(runs):
                for name, fn in methods.items():
                    times[name].append(timed(fn))
        finally:
            bench.close()
    total = time.perf_counter() - started

    figures: dict[str, dict[str, float]] = {}
    for name, samples in times.items():
        figures[name] = {
            "median_ms": statistics.median(samples),
            "min_ms": min(samples),
            "max_ms": max(samples),
            "mean_ms": statistics.fmean(samples),
        }
    base = figures[LPSTUDIO]["median_ms"]
    for name in (PM_CLI, PM_API):
        figures[name]["ratio_to_lpstudio"] = figures[name]["median_ms"] / base
    return {
        "benchmark": "bench_run",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "runs": runs,
        "warmup": 1,
        "total_seconds": total,
        "machine": machine(),
        "methods": figures,
        "samples_ms": times,
        "targets": {"lpstudio_median_ms_max": 30.0, "papermill_api_ratio_min": 20.0},
    }


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"machine: nproc={m['nproc']}  fork of 200 MB {m['fork_200mb_ms']} ms  "
        f"python {m['python']}  papermill {m['papermill']}  "
        f"lpstudio {m['lpstudio']}  ({m['platform']})",
        f"runs: {result['runs']} per method after 1 warm-up  "
        f"(total {result['total_seconds']:.1f} s)",
        "",
        f"{'method':<15} {'median ms':>10} {'min ms':>10} {'max ms':>10}",
        f"{'-' * 15} {'-' * 10} {'-' * 10} {'-' * 10}",
    ]
    for name in METHODS:
        f = result["methods"][name]
        lines.append(
            f"{name:<15} {f['median_ms']:>10.1f} {f['min_ms']:>10.1f} {f['max_ms']:>10.1f}"
        )
    lines.append("")
    for name in (PM_CLI, PM_API):
        lines.append(f"{name} / lpstudio = {result['methods'][name]['ratio_to_lpstudio']:.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per method (default: 10)")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="write the figures as one JSON object to PATH ('-' or no PATH: stdout only, "
        "instead of the table)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    logging.getLogger("papermill").setLevel(logging.WARNING)
    result = measure(args.runs)
    return emit(result, render(result), args.json)


if __name__ == "__main__":
    sys.exit(main())
