"""Latency: one trivial recipe job end to end, on a ready kernel, against papermill.

Why it exists: kernel start-up is almost all of a short papermill run. lpstudio hands each
job a kernel that its pool started and connected beforehand (forked from a server that has
already imported ipykernel, pandas and httpx), so a job only pays for its cells and its
bookkeeping. This benchmark measures that, and the parts it is made of:

1. kernel start-up, each way, from "start" to "a connected client got kernel_info":
   - cold: `AsyncKernelManager.start_kernel` + `wait_for_ready`, what papermill does;
   - forked: the same manager through lpstudio's fork server (`ForkProvisioner`), with the
     pool's readiness check;
   - hand-out: `KernelPool.take()` of a kernel that is ready;
   and the CPU each kernel process used until it was ready (from /proc);
   - the floor: the job's four execute requests (papermill's injected parameters and the
     three cells), each waited for, on a ready kernel through a plain blocking client, with
     no papermill, no store and no notebook: what the kernel alone costs a job.
2. one job end to end, three ways, on the trivial recipe of `bench_run.py` with x = 3:
   - `lpstudio`: `Studio.run("bench/trivial", {"x": 3})`, from the call until it returns:
     job row queued, kernel taken, cells run, output notebook written to history/, job row
     final (`succeeded`); the output is then read back and checked, untimed, for every
     method alike (until the sixteenth session, in the timed region: about 1.5 ms);
   - `papermill API`: `papermill.execute_notebook(in, out, parameters={"x": 3})`;
   - `papermill CLI`: `papermill in out -p x 3` in a subprocess.
   Before each timed lpstudio run the benchmark waits (untimed) until the pool is full
   again: this is the latency of a job that arrives at a studio that is not saturated
   (a call to a callable recipe, a schedule firing). Sustained load is measured by
   `bench_throughput.py`.

Each method is warmed up once; runs are interleaved (lpstudio, API, CLI, lpstudio, ...) so
drifts in machine load hit all of them.

    .venv/bin/python bench/bench_latency.py [--runs 30] [--papermill-runs 10]
                                           [--cli-runs 5] [--kernel-runs 5] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_run import (
    LPSTUDIO,
    PM_API,
    PM_CLI,
    Bench,
    check_output,
    emit,
    machine,
    process_cpu,
    timed,
    trivial_notebook,
)
from jupyter_client import BlockingKernelClient

from lpstudio.pool import (
    KernelPool,
    PoolSettings,
    discard,
    new_kernel_manager,
    wait_until_ready,
)

TARGET_MEDIAN_MS = 30.0
TARGET_API_RATIO = 20.0


async def start_cold() -> tuple[float, float]:
    km = new_kernel_manager("python3")
    start = time.perf_counter()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    elapsed = time.perf_counter() - start
    cpu = process_cpu(km.provisioner.pid)  # type: ignore[union-attr]
    kc.stop_channels()
    discard(km)
    return elapsed * 1000, cpu


async def start_forked(pool: KernelPool) -> tuple[float, float]:
    km = new_kernel_manager("python3", pool.server)
    start = time.perf_counter()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await wait_until_ready(km, kc, 120)
    elapsed = time.perf_counter() - start
    cpu = process_cpu(km.provisioner.pid)  # type: ignore[union-attr]
    kc.stop_channels()
    discard(km)
    return elapsed * 1000, cpu


def kernel_floor(pool: KernelPool) -> float:
    """Wall ms of the trivial job's execute requests on a ready kernel, one after another."""
    sources = ["# Parameters\nx = 3\n", *(cell.source for cell in trivial_notebook().cells)]
    pool.wait_full("python3", 120)
    ready = pool.take("python3")
    assert ready is not None
    kc = BlockingKernelClient()
    kc.load_connection_info(ready.km.get_connection_info())
    kc.start_channels()
    try:
        start = time.perf_counter()
        for source in sources:
            msg_id = kc.execute(source)
            if kc.get_shell_msg(timeout=10)["content"]["status"] != "ok":
                raise RuntimeError(f"the floor's cell failed: {source!r}")
            while True:  # its outputs are all published once the kernel is idle again
                msg = kc.get_iopub_msg(timeout=10)
                if (
                    msg["parent_header"].get("msg_id") == msg_id
                    and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"
                ):
                    break
        return (time.perf_counter() - start) * 1000
    finally:
        kc.stop_channels()
        ready.kc.stop_channels()
        discard(ready.km)


def kernel_figures(runs: int) -> dict[str, Any]:
    pool = KernelPool(PoolSettings(size=1))
    try:
        assert pool.server is not None
        pool.server.start()
        asyncio.run(start_forked(pool))  # warm-up
        cold = [asyncio.run(start_cold()) for _ in range(runs)]
        forked = [asyncio.run(start_forked(pool)) for _ in range(runs)]
        handout = []
        for _ in range(runs):
            pool.wait_full("python3", 120)
            start = time.perf_counter()
            ready = pool.take("python3")
            handout.append((time.perf_counter() - start) * 1000)
            assert ready is not None
            ready.kc.stop_channels()
            discard(ready.km)
        floor = [kernel_floor(pool) for _ in range(max(runs, 10))]
    finally:
        pool.close()

    def summary(samples: list[tuple[float, float]]) -> dict[str, Any]:
        return {
            "median_ms": statistics.median(s[0] for s in samples),
            "median_cpu_s": statistics.median(s[1] for s in samples),
            "samples_ms": [s[0] for s in samples],
        }

    return {
        "cold": summary(cold),
        "forked": summary(forked),
        "handout": {"median_ms": statistics.median(handout), "samples_ms": handout},
        "floor": {"median_ms": statistics.median(floor), "samples_ms": floor},
    }


def measure(runs: int, pm_runs: int, cli_runs: int) -> dict[str, Any]:
    counts = {LPSTUDIO: runs, PM_API: pm_runs, PM_CLI: cli_runs}
    times: dict[str, list[float]] = {name: [] for name in counts}
    with tempfile.TemporaryDirectory(prefix="lpstudio-bench-") as tmp:
        bench = Bench(Path(tmp))
        try:
            kernels = bench.studio.executor.kernels  # type: ignore[attr-defined]
            assert kernels is not None, "the kernel pool is off in this workspace"
            kernels.warm()
            methods: dict[str, Callable[[], Path]] = {
                LPSTUDIO: bench.run_lpstudio,
                PM_API: bench.run_papermill_api,
                PM_CLI: bench.run_papermill_cli,
            }
            for name, fn in methods.items():
                if counts[name]:
                    check_output(fn())  # warm-up
            for i in range(max(counts.values())):
                for name, fn in methods.items():
                    if i < counts[name]:
                        if name == LPSTUDIO:
                            kernels.wait_full("python3", 120)
                        times[name].append(timed(fn))
        finally:
            bench.close()
    figures: dict[str, dict[str, float]] = {}
    for name, samples in times.items():
        if samples:
            figures[name] = {
                "runs": len(samples),
                "median_ms": statistics.median(samples),
                "min_ms": min(samples),
                "max_ms": max(samples),
                "mean_ms": statistics.fmean(samples),
            }
    base = figures[LPSTUDIO]["median_ms"]
    for name in (PM_API, PM_CLI):
        if name in figures:
            figures[name]["ratio_to_lpstudio"] = figures[name]["median_ms"] / base
    return {"methods": figures, "samples_ms": times}


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    k = result["kernels"]
    lines = [
        f"machine: nproc={m['nproc']}  fork of 200 MB {m['fork_200mb_ms']} ms  "
        f"python {m['python']}  papermill {m['papermill']}  "
        f"lpstudio {m['lpstudio']}  load average at start {result['loadavg_start']}  "
        f"at end {result['loadavg_end']}",
        "",
        f"kernel start-up (median of {len(k['cold']['samples_ms'])})  wall ms   kernel CPU s",
        f"  cold (papermill's way)          {k['cold']['median_ms']:8.1f}   "
        f"{k['cold']['median_cpu_s']:8.2f}",
        f"  forked (lpstudio fork server)   {k['forked']['median_ms']:8.1f}   "
        f"{k['forked']['median_cpu_s']:8.2f}",
        f"  hand-out of a ready kernel      {k['handout']['median_ms']:8.3f}",
        f"the floor: a job's 4 execute requests on a ready kernel, no papermill: "
        f"{k['floor']['median_ms']:.1f} ms (median of {len(k['floor']['samples_ms'])})",
        "",
        f"{'one job end to end':<18} {'runs':>5} {'median ms':>10} {'min ms':>9} {'max ms':>9}",
    ]
    for name, f in result["methods"].items():
        lines.append(
            f"{name:<18} {f['runs']:>5} {f['median_ms']:>10.1f} {f['min_ms']:>9.1f} "
            f"{f['max_ms']:>9.1f}"
        )
    lines.append("")
    for name in (PM_API, PM_CLI):
        if name in result["methods"]:
            ratio = result["methods"][name]["ratio_to_lpstudio"]
            lines.append(f"{name} / lpstudio = {ratio:.1f}x")
    median = result["methods"][LPSTUDIO]["median_ms"]
    api = result["methods"].get(PM_API, {}).get("ratio_to_lpstudio", 0.0)
    lines.append(
        f"targets: median <= {TARGET_MEDIAN_MS:g} ms: "
        f"{'met' if median <= TARGET_MEDIAN_MS else 'NOT met'} ({median:.1f} ms); "
        f">= {TARGET_API_RATIO:g}x papermill API: "
        f"{'met' if api >= TARGET_API_RATIO else 'NOT met'} ({api:.1f}x)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30, help="timed lpstudio runs (30)")
    parser.add_argument("--papermill-runs", type=int, default=10, help="papermill API (10)")
    parser.add_argument("--cli-runs", type=int, default=5, help="papermill CLI runs (5)")
    parser.add_argument("--kernel-runs", type=int, default=5, help="kernel starts each way (5)")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    logging.getLogger("papermill").setLevel(logging.WARNING)
    started = time.perf_counter()
    load_start = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "bench_latency",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "kernels": kernel_figures(args.kernel_runs),
        **measure(args.runs, args.papermill_runs, args.cli_runs),
        "targets": {"median_ms_max": TARGET_MEDIAN_MS, "papermill_api_ratio_min": 20.0},
    }
    result["loadavg_start"] = " ".join(f"{v:.2f}" for v in load_start)
    result["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    return emit(result, render(result), args.json)


if __name__ == "__main__":
    sys.exit(main())
