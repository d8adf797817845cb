"""Throughput: many trivial isolated jobs submitted at once, against papermill.

Why it exists: a pool of ready kernels makes the first jobs fast, but under sustained load
every job still needs a fresh kernel (lpstudio never reuses one). What bounds throughput
is then the cost of each new kernel: a fork of a server that has already imported what
kernels need (about 0.1 CPU-second) instead of a cold start (about 0.55). This benchmark
measures jobs per second through the whole product path, and papermill doing the same
work the two ways a user would scale it by hand.

Methods, all on the trivial recipe of `bench_run.py` (x = 3, three cells):

- `lpstudio`: `Studio.submit("bench/trivial", {"x": 3})` called `--jobs` times at once
  (each call checks parameters and queues a job row); the time runs from the first call
  until every future has given a final job. The pool is full when it starts (one job is
  run first as a warm-up, untimed). Afterwards, untimed: every job must have succeeded and
  every output notebook must print 6.
- `papermill loop`: `papermill.execute_notebook` in a loop in this process,
  `--papermill-jobs` notebooks.
- `papermill x2`: two processes, each running `papermill.execute_notebook` in a loop over
  half of `--papermill-jobs` notebooks; the time runs from the first start to the last end
  as each process reports them (its Python start-up and imports are not counted).

Everything is written to a temporary folder that is removed at the end.

    .venv/bin/python bench/bench_throughput.py [--jobs 200] [--papermill-jobs 20]
                                              [--workers 2] [--pool-size N] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import papermill
from bench_run import PARAMETERS, RECIPE, check_output, emit, machine, trivial_notebook

from lpstudio.studio import Studio

TARGET_JOBS_PER_SECOND = 12.0

CHILD = """\
import json, sys, time
import papermill
paths = json.loads(sys.argv[1])
start = time.time()
for src, out in paths:
    papermill.execute_notebook(src, out, parameters={"x": 3}, progress_bar=False)
print(json.dumps({"start": start, "end": time.time()}))
"""


def run_lpstudio(root: Path, jobs: int, workers: int, pool_size: int | None) -> dict[str, Any]:
    Studio.init(root / "workspace", accept_terms=True, admin="bench").close()
    config = root / "workspace" / "lpstudio.toml"
    text = config.read_text()
    if pool_size is not None:
        text = text.replace("pool_size = 2", f"pool_size = {pool_size}")
    config.write_text(f"{text}\n[executor]\nworkers = {workers}\n")
    studio = Studio.open(root / "workspace", user="bench")
    try:
        recipe = studio.workspace.projects / f"{RECIPE}.ipynb"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(trivial_notebook(), recipe)
        kernels = studio.executor.kernels  # type: ignore[attr-defined]
        assert kernels is not None, "the kernel pool is off in this workspace"
        studio.run(RECIPE, PARAMETERS)  # warm-up
        kernels.wait_full("python3", 120)
        start = time.perf_counter()
        futures = [studio.submit(RECIPE, PARAMETERS) for _ in range(jobs)]
        submitted = time.perf_counter() - start
        done = [future.result() for future in futures]
        elapsed = time.perf_counter() - start
        bad = [job for job in done if job.status != "succeeded"]
        if bad:
            raise RuntimeError(f"{len(bad)} jobs did not succeed, e.g. {bad[0].error}")
        for job in done:
            assert job.output_path
            check_output(studio.workspace.root / job.output_path)
        latencies = [(job.finished_at - job.created_at).total_seconds() for job in done]
        return {
            "jobs": jobs,
            "workers": workers,
            "pool_size": kernels.settings.size,
            "seconds": elapsed,
            "submit_seconds": submitted,
            "jobs_per_second": jobs / elapsed,
            "job_latency_median_s": statistics.median(latencies),
            "job_latency_max_s": max(latencies),
        }
    finally:
        studio.close()


def run_papermill_loop(root: Path, jobs: int) -> dict[str, Any]:
    src = root / "trivial.ipynb"
    nbformat.write(trivial_notebook(), src)
    papermill.execute_notebook(
        str(src), str(root / "warm.ipynb"), parameters=PARAMETERS, progress_bar=False
    )
    outs = [root / f"loop-{i}.ipynb" for i in range(jobs)]
    start = time.perf_counter()
    for out in outs:
        papermill.execute_notebook(str(src), str(out), parameters=PARAMETERS, progress_bar=False)
    elapsed = time.perf_counter() - start
    for out in outs:
        check_output(out)
    return {"jobs": jobs, "seconds": elapsed, "jobs_per_second": jobs / elapsed}


def run_papermill_parallel(root: Path, jobs: int, processes: int = 2) -> dict[str, Any]:
    src = root / "trivial.ipynb"
    nbformat.write(trivial_notebook(), src)
    outs = [root / f"par-{i}.ipynb" for i in range(jobs)]
    shares = [outs[i::processes] for i in range(processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps([(str(src), str(o)) for o in share])],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for share in shares
    ]
    spans = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"papermill child exited {proc.returncode}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = max(s["end"] for s in spans) - min(s["start"] for s in spans)
    for out in outs:
        check_output(out)
    return {
        "jobs": jobs,
        "processes": processes,
        "seconds": elapsed,
        "jobs_per_second": jobs / elapsed,
    }


def render(result: dict[str, Any]) -> str:
    m = result["machine"]
    lp = result["lpstudio"]
    lines = [
        f"machine: nproc={m['nproc']}  fork of 200 MB {m['fork_200mb_ms']} ms  "
        f"python {m['python']}  papermill {m['papermill']}  "
        f"lpstudio {m['lpstudio']}  load average at start {result['loadavg_start']}  "
        f"at end {result['loadavg_end']}",
        "",
        f"{'method':<16} {'jobs':>5} {'seconds':>8} {'jobs/s':>7}",
    ]
    for name in ("lpstudio", "papermill loop", "papermill x2"):
        f = result[name]
        lines.append(f"{name:<16} {f['jobs']:>5} {f['seconds']:>8.1f} {f['jobs_per_second']:>7.2f}")
    lines += [
        "",
        f"lpstudio: {lp['workers']} workers, pool of {lp['pool_size']}; submitting took "
        f"{lp['submit_seconds']:.1f} s; job latency (queued -> final) median "
        f"{lp['job_latency_median_s']:.2f} s, max {lp['job_latency_max_s']:.2f} s",
        f"lpstudio / papermill loop = {result['ratio_loop']:.1f}x; "
        f"lpstudio / papermill x2 = {result['ratio_parallel']:.1f}x",
        f"target >= {TARGET_JOBS_PER_SECOND:g} jobs/s: "
        f"{'met' if lp['jobs_per_second'] >= TARGET_JOBS_PER_SECOND else 'NOT met'} "
        f"({lp['jobs_per_second']:.2f})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200, help="lpstudio jobs (200)")
    parser.add_argument("--papermill-jobs", type=int, default=20, help="papermill runs (20)")
    parser.add_argument("--workers", type=int, default=2, help="[executor] workers (2)")
    parser.add_argument(
        "--pool-size", type=int, help="[kernels] pool_size (default: the workspace default)"
    )
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH")
    args = parser.parse_args(argv)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    load_start = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lpstudio-bench-") as tmp:
        root = Path(tmp)
        for sub in ("lp", "loop", "par"):
            (root / sub).mkdir()
        result: dict[str, Any] = {
            "benchmark": "bench_throughput",
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(),
            "lpstudio": run_lpstudio(root / "lp", args.jobs, args.workers, args.pool_size),
            "papermill loop": run_papermill_loop(root / "loop", args.papermill_jobs),
            "papermill x2": run_papermill_parallel(root / "par", args.papermill_jobs),
        }
    rate = result["lpstudio"]["jobs_per_second"]
    result["ratio_loop"] = rate / result["papermill loop"]["jobs_per_second"]
    result["ratio_parallel"] = rate / result["papermill x2"]["jobs_per_second"]
    result["target_jobs_per_second"] = TARGET_JOBS_PER_SECOND
    result["loadavg_start"] = " ".join(f"{v:.2f}" for v in load_start)
    result["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    return emit(result, render(result), args.json)


if __name__ == "__main__":
    sys.exit(main())
